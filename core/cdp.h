/*
 * cdp.h -- one headless Chromium driven over the DevTools Protocol on a pipe.
 *
 * Who calls it: the page pool (render*.c) only, one controller per browser.
 * Everything here runs on the engine's loop thread; nothing blocks except
 * the short waitpid of a browser that was just killed.
 *
 * What it owns: the browser process (started in its own process group with
 * --remote-debugging-pipe: it reads commands on its fd 3 and writes replies
 * and events on its fd 4, every message one JSON object followed by a NUL),
 * a fresh --user-data-dir removed when the browser goes, both pipe ends
 * (non-blocking, watched by the loop), the write queue, the read buffer
 * (capped: a message over the cap is a protocol failure and ends the
 * browser), the request ids and the table of pending calls.
 *
 * Sessions: page targets are attached with flatten=true; each attached
 * session is registered here with an event handler and a generation. A call
 * made on a session is stamped with the session's generation; a reply that
 * arrives after silk_cdp_session_bump() (or after the session was removed)
 * is dropped without calling back. Events carrying a sessionId go to that
 * session's handler; events without one (Target.*) go to the browser
 * handler.
 *
 * Failures: when the pipe reaches EOF or breaks, or a message cannot be
 * parsed, the browser is considered crashed: it is killed (its whole process
 * group) and reaped, every pending call completes with
 * SILK_CDP_BROWSER_CRASHED, the browser handler hears SILK_CDP_EV_CRASHED,
 * and the next silk_cdp_start() starts a new browser (counted in restarts).
 *
 * Callback rules: a reply callback fires exactly once per call that was
 * not forgotten or dropped, always from a loop callback, never from inside
 * silk_cdp_call(); calls made from inside a callback are fine. JSON passed
 * to callbacks is borrowed for the duration of the callback (json_object_get
 * to keep it).
 *
 * JSON is json-c's: a json_object is reference counted (json_object_get
 * takes a reference, json_object_put drops one) and JSON null is a NULL
 * pointer. Strings keep their length, so a NUL inside one survives. What
 * the browser sends is read with the silk_json_* helpers below, which
 * accept any shape: a member of something that is not an object is NULL,
 * the text of something that is not a string is NULL.
 */
#ifndef SILK_CDP_H
#define SILK_CDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <json-c/json.h>

typedef struct silk_cdp silk_cdp;

typedef enum silk_cdp_status {
    SILK_CDP_OK = 0,
    SILK_CDP_ERROR,            /* the browser answered with an error object */
    SILK_CDP_TARGET_CRASHED,   /* the session's renderer crashed (silk_cdp_session_fail) */
    SILK_CDP_BROWSER_CRASHED,  /* the browser died or the pipe broke */
    SILK_CDP_CLOSED,           /* silk_cdp_free() with the call still pending */
} silk_cdp_status;

/* result: the "result" object (OK) or the "error" object (ERROR), else NULL.
 * message: the error's text, or a description of the failure. */
typedef void (*silk_cdp_reply_fn)(silk_cdp_status st, json_object *result, const char *message,
                                  void *ud);

/* An event: method and params (borrowed). */
typedef void (*silk_cdp_event_fn)(const char *method, json_object *params, void *ud);

/* o's member k; NULL when o is not an object, has no member k, or k is
 * null. Borrowed from o. */
json_object *silk_json_get(json_object *o, const char *k);

/* j's text when j is a string, else NULL. Borrowed from j. */
const char *silk_json_str(json_object *j);

/* j's length when j is an array, else 0 (json_object_array_get_idx then
 * reads its items). */
size_t silk_json_len(json_object *j);

/* Sets o's member k to v (taken), to the string v (copied) or to the
 * boolean b, and returns o, so that params are built in one expression;
 * o or v NULL (out of memory), or a failure to add, gives NULL with o and
 * v released. */
json_object *silk_json_set(json_object *o, const char *k, json_object *v);
json_object *silk_json_set_str(json_object *o, const char *k, const char *v);
json_object *silk_json_set_bool(json_object *o, const char *k, int b);

/* What the browser handler hears besides sessionless events. */
#define SILK_CDP_EV_CRASHED "silk.browserCrashed"

typedef struct silk_cdp_options {
    const char *binary;        /* default $SILK_CHROMIUM, else /usr/lib/chromium/chromium-headless-shell */
    int renderer_limit;        /* --renderer-process-limit; 0: none */
    size_t max_message;        /* cap on one incoming message, bytes (default 64 MiB) */
    const char *const *extra_args;  /* more flags (NULL-terminated), or NULL */
    /* Called with 1 before and 0 after the messages of one read are
     * dispatched (the page pool opens an event batch there), or NULL. */
    void (*around)(int begin, void *ud);
    void *around_ud;
    /* 1: the pipe's watcher does not keep the loop running (ev_unref): the
     * owner refs the loop while it waits for something, so that a run with
     * nothing to wait for still ends. */
    int weak;
} silk_cdp_options;

/* A controller for loop. The browser is not started yet. NULL on ENOMEM.
 * Options are copied. `browser_ev` receives sessionless events. */
silk_cdp *silk_cdp_new(struct ev_loop *loop, const silk_cdp_options *o,
                       silk_cdp_event_fn browser_ev, void *ud);

/* Starts the browser unless it runs; 0, or -1 with a message in err.
 * Sets SIGPIPE to ignored (process-wide), so that writing to a browser
 * that just died is an error rather than the end of silk. */
int silk_cdp_start(silk_cdp *c, char *err, size_t errsz);

/* 1 while a browser runs. */
int silk_cdp_running(const silk_cdp *c);

/* Sends method(params) on session (NULL: the browser). Takes params (may
 * be NULL). cb may be NULL: the reply is then read and discarded. Returns the call id (> 0), or 0 when no browser runs or memory
 * ran out (cb will not fire). */
uint64_t silk_cdp_call(silk_cdp *c, const char *session, const char *method, json_object *params,
                       silk_cdp_reply_fn cb, void *ud);

/* Forgets a pending call: its callback never fires, its reply is dropped. */
void silk_cdp_forget(silk_cdp *c, uint64_t id);

/* Registers an attached session; its events go to ev(ud). The id is copied. */
int silk_cdp_session_add(silk_cdp *c, const char *session, silk_cdp_event_fn ev, void *ud);

/* Drops a session: its pending calls are forgotten and no more events are
 * delivered for it. */
void silk_cdp_session_remove(silk_cdp *c, const char *session);

/* Completes every pending call of session now with st and message (a
 * renderer crash: those calls would otherwise never be answered). */
void silk_cdp_session_fail(silk_cdp *c, const char *session, silk_cdp_status st,
                           const char *message);

/* Makes the replies still due on session stale: dropped on arrival,
 * their callbacks never run (the tab moved on to its next page). */
void silk_cdp_session_bump(silk_cdp *c, const char *session);

/* Ends a browser that stopped answering as if it had crashed: killed with
 * its process group, pending calls complete with SILK_CDP_BROWSER_CRASHED
 * (message "browser crashed: <why>"), the browser handler hears
 * SILK_CDP_EV_CRASHED, counted in crashes. No-op when none runs. */
void silk_cdp_kill(silk_cdp *c, const char *why);

/* Ends the browser on purpose (a memory budget's recycle): as a crash,
 * but pending calls complete with SILK_CDP_CLOSED and it is not counted in
 * crashes; the next silk_cdp_start() starts a new one (a restart). */
void silk_cdp_stop(silk_cdp *c, const char *why);

/* Bytes of proportional set size of the browser's whole process tree (its
 * process group: the browser, renderers, GPU and network services), read
 * from /proc/<pid>/smaps_rollup; 0 when no browser runs, -1 when /proc
 * cannot be read. Costs a walk over /proc: call it every few seconds, not
 * per page. */
long silk_cdp_pss(const silk_cdp *c);

typedef struct silk_cdp_stats {
    pid_t pid;                 /* the browser's, 0 when none runs */
    long restarts;             /* browsers started after the first */
    long crashes;              /* browsers lost (EOF, broken pipe, bad message) */
    long sent, received;       /* messages */
    long pending;              /* calls awaiting a reply */
    long dropped;              /* replies dropped as forgotten or stale */
} silk_cdp_stats;

void silk_cdp_get_stats(const silk_cdp *c, silk_cdp_stats *st);

/* Ends the browser (closes the pipe, TERM then KILL to its group, reaps
 * it, removes its profile directory), completes pending calls with
 * SILK_CDP_CLOSED, frees c. NULL is a no-op. */
void silk_cdp_free(silk_cdp *c);

#endif
