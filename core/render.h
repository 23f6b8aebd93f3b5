/*
 * render.h -- the page pool: browser tabs leased to tasks, reused, recycled
 * and reclaimed on the C side.
 *
 * Who calls it: lapi_render.c (silk.core.render), which makes the pool as
 * the engine's render service (engine.h) on first use and frees it when the
 * engine stops its services. Everything runs on the loop thread. The pool
 * knows the engine only through the batch hook it is given (the task
 * wake-ups of one batch of browser messages are resumed together).
 *
 * What it owns: `browsers` browser processes (cdp.c; one by default), each
 * started on first use and restarted on the next use after a crash, with
 * its own pipe, crash and restart counts, memory budget and browser
 * contexts, and every tab record. A lease goes to the least busy browser
 * that is not draining (ties: one with an idle tab of the lease's context,
 * then the lowest number), so pages spread over the browsers and one
 * browser's crash fails only the pages it held. A tab is a page target
 * attached with a flattened session, with the Page domain enabled and
 * Fetch pausing its documents' responses (lifecycle events, Runtime and
 * Network are not: a dozen events a page, console output and per-request
 * events would stream over the pipe). Its states:
 *
 *   OPENING  created and attached, domains being enabled; a lease waits
 *   IDLE     in the pool, least recently used first in line for eviction
 *   BUSY     leased to one page handle (silk_tab_lease)
 *   CLOSING  Target.closeTarget sent; freed when it answers or the browser goes
 *
 * Browser contexts: a lease names a context (a crawl session) or the
 * default one; its tab is one of that context in its browser, so the pages
 * of a session share its cookies and no other session sees them. A context
 * is created with its first tab in a browser and disposed of when its last
 * tab there closes (the session's lasting state is its cookie jar, which
 * render.lua copies in and out around each page).
 *
 * Limits: at most max_busy tabs are leased at once over all browsers
 * (further leases wait in FIFO order); idle tabs beyond max_pages - busy
 * are closed least recently used first, and an idle tab is closed after
 * page_idle_timeout; a tab is closed instead of pooled after recycle_after
 * pages or when its lease ended broken (any error, interruption or
 * renderer crash), because a reused renderer grows and an errored one is
 * in an unknown state.
 *
 * Memory budget: with memory_budget set, each browser's tree PSS is
 * measured every memory_interval; a browser above the budget drains: its
 * idle tabs close, no lease gets a tab there (they go to the other
 * browsers, or queue when every one drains), and when its last busy tab is
 * released it is ended (silk_cdp_stop) and the next lease placed there
 * starts a new one.
 *
 * Closing: Target.closeTarget answers within milliseconds whatever the
 * tab's renderer does (spinning, stopped or dead: the browser process
 * closes the tab, not the renderer), so one left unanswered for
 * close_timeout means the browser process itself is wedged; the last
 * resort is then to end that browser (killed with its renderers, pending
 * operations fail as browser_crashed, counted in close_timeouts and
 * crashes) and the next lease placed there starts a new one.
 *
 * Generations: every lease bumps the tab's session generation when it ends
 * (silk_cdp_session_bump), so a reply still due to the last lease is dropped
 * and can never complete an operation of the next one.
 *
 * Callback rules: every operation's callback fires exactly once unless the
 * operation is cancelled (silk_tab_cancel), always from a loop callback and
 * never before the starting function returns. Pointers passed to callbacks
 * are borrowed for the callback's duration.
 */
#ifndef SILK_RENDER_H
#define SILK_RENDER_H

#include <stdint.h>

#include "cdp.h"

typedef struct silk_render silk_render;
typedef struct silk_tab silk_tab;
typedef struct silk_tab_op silk_tab_op;

/* Error kinds of render operations, in Lua as err.kind. */
typedef enum silk_render_kind {
    SILK_RENDER_OK = 0,
    SILK_RENDER_PROTOCOL,        /* the browser answered the command with an error */
    SILK_RENDER_CRASHED,         /* the tab's renderer crashed ("render_crashed") */
    SILK_RENDER_BROWSER_CRASHED, /* the browser died; it restarts on next use */
    SILK_RENDER_BROWSER,         /* the browser could not be started */
    SILK_RENDER_CLOSED,          /* shut down, or the tab was closed under the operation */
    SILK_RENDER_KIND_COUNT_
} silk_render_kind;

const char *silk_render_kind_name(silk_render_kind k);

typedef struct silk_render_config {
    int browsers;              /* browser processes pages are spread over (default 1) */
    int max_busy;              /* tabs leased at once (default 2 x cores) */
    int max_pages;             /* tabs open, busy or idle (default 4 x max_busy) */
    int recycle_after;         /* pages a tab serves before it is closed (default 50) */
    double page_idle_timeout;  /* seconds an idle tab stays open (default 30) */
    double close_timeout;      /* seconds Target.closeTarget may take (default 10) */
    double memory_budget;      /* bytes of one browser's tree PSS (silk_cdp_pss); 0: none */
    double memory_interval;    /* seconds between PSS measures under a budget (default 2) */
} silk_render_config;

/* batch(1, ud) before and batch(0, ud) after a burst of callbacks (the
 * replies of one read of a pipe, the completions made ready): the engine's
 * event batch (silk_task_batch_begin/end). */
typedef struct silk_render_hooks {
    void (*batch)(int begin, void *ud);
    void *ud;
} silk_render_hooks;

/* A pool on loop (no browser started yet); NULL on ENOMEM. */
silk_render *silk_render_new(struct ev_loop *loop, const silk_render_hooks *hooks);

/* Ends every browser and frees every tab: queued leases and pending
 * operations complete with CLOSED now (their callbacks run inside this
 * call, as fetch's do at its end). NULL is a no-op. */
void silk_render_free(silk_render *r);

/* Applies the fields of c that are > 0, and memory_budget when >= 0 (0
 * turns the budget off; a caller changing nothing there passes -1).
 * Fewer browsers than now are taken only while the browsers that go hold
 * no busy or opening tab: 0, or -1 (nothing changed) when they do or
 * memory ran out. */
int silk_render_configure(silk_render *r, const silk_render_config *c);
void silk_render_get_config(silk_render *r, silk_render_config *c);

/* Completion of an operation: kind, its result (a command's result object,
 * or NULL), and a message when kind != OK. */
typedef void (*silk_tab_fn)(silk_render_kind kind, json_object *result, const char *message, void *ud);

/* Leases a tab of browser context `context` (a crawl session's name;
 * NULL: the browser's default context): reuses an idle tab of that
 * context, opens a new one (starting the browser if none runs, creating
 * the context if it does not exist yet), or queues behind max_busy. cb
 * gets the tab through silk_tab_op_tab(op) (valid until
 * silk_tab_release). Returns the operation, or NULL on ENOMEM (cb will
 * not fire). */
silk_tab_op *silk_tab_lease(silk_render *r, const char *context, silk_tab_fn cb, void *ud);

/* The tab an operation is about; for a lease, the leased tab once cb ran. */
silk_tab *silk_tab_op_tab(const silk_tab_op *op);

/* Sends method(params) (params taken) on the tab's session. */
silk_tab_op *silk_tab_call(silk_tab *tab, const char *method, json_object *params,
                           silk_tab_fn cb, void *ud);

/* Waits until the main frame's document `loader` (Page.navigate's loaderId)
 * has fired lifecycle event `name`: "init" (it committed: what is
 * evaluated from then on runs in it), "DOMContentLoaded" and "load" from
 * the Page domain's events; the others ("networkIdle", ...) only arrive
 * while the tab's lifecycle events are on
 * (Page.setLifecycleEventsEnabled, off as a tab opens). Completes with CRASHED/BROWSER_CRASHED when the tab
 * dies first. No deadline of its own: the waiting task's is. */
silk_tab_op *silk_tab_wait_lifecycle(silk_tab *tab, const char *loader, const char *name,
                                     silk_tab_fn cb, void *ud);

/* Abandons an operation whose callback has not run (the waiting task was
 * cancelled or its deadline passed). The page may be hanging on it, so the
 * tab is reclaimed: Page.stopLoading and Runtime.terminateExecution are
 * sent at once (a hanging load, JS that never yields) and the tab is marked
 * broken, so its release closes the target. */
void silk_tab_cancel(silk_tab_op *op);

/* Ends a lease. broken: close the target rather than pool it. */
void silk_tab_release(silk_tab *tab, int broken);

/* The response of the main document `loader` if it arrived, else NULL:
 * {status, headers = {name: value}, url}. Borrowed until the next
 * navigation. */
json_object *silk_tab_response(silk_tab *tab, const char *loader);

/* Fetch.enable's patterns for a tab: its documents' responses (always:
 * that is how silk_tab_response learns them; every response instead when
 * `capped`, so that the size cap sees them), and the requests to check
 * before they go: every one with deny_private, else those matching a block
 * pattern (so that nothing else pauses). A new array. */
json_object *silk_render_fetch_patterns(int deny_private, const char *const *block, int nblock,
                                   int capped);

/* The tab's request guard. deny_private on: the tab pauses every request
 * it makes (Fetch.enable with silk_render_fetch_patterns(1, ...), sent by the
 * caller) and render_guard.c lets through
 * only http and https URLs (and data: and blob:) whose host is neither a
 * private, loopback or link-local address literal nor localhost, unless
 * its "host:port" is in allow; the rest fail as blocked by the client.
 * A host name is resolved off the loop first (resolve.h; verdicts cached
 * for a minute): one with any private address fails as blocked, one that
 * does not resolve as NameNotResolved. Whatever deny_private says, a URL
 * matching one of the block patterns (fnmatch: * and ?) fails as blocked
 * by the client (counted in filtered; the Network domain's
 * setBlockedURLs would need that domain's events). max_size > 0 (the tab
 * pausing every response: silk_render_fetch_patterns(.., capped = 1)): a
 * response, document or subresource, whose Content-Length is above it
 * fails as blocked by the client before its body is read (counted in
 * oversize, its declared length in oversize_bytes). A response without a
 * Content-Length (chunked, or ended by closing the connection) is not
 * capped: its size is known only once the browser has read it, and
 * counting it on the way (Fetch.takeResponseBodyAsStream + IO.read) takes
 * the body from the browser, which then needs it back whole
 * (Fetch.fulfillRequest): every such body would cross the pipe twice, be
 * held whole by silk, and reach the page only once fully read
 * (bench/render/stream_cap.py measures it). Content-Length counts the bytes as
 * sent, compressed or not. Copies the lists; 0, or -1 (ENOMEM: the guard
 * is unchanged). */
int silk_tab_set_guard(silk_tab *tab, int deny_private, const char *const *allow, int nallow,
                       const char *const *block, int nblock, double max_size);

/* An opaque string the Lua side keeps on the tab across leases (what it
 * configured the tab with); "" at first. set copies it: 0, or -1 (ENOMEM). */
const char *silk_tab_settings(const silk_tab *tab);
int silk_tab_set_settings(silk_tab *tab, const char *s);

/* A tab's identity and use count, for dumps and the Lua side;
 * silk_tab_context is its browserContextId ("" for the default context),
 * silk_tab_browser the number of its browser (from 0). */
const char *silk_tab_target(const silk_tab *tab);
int silk_tab_browser(const silk_tab *tab);
const char *silk_tab_context(const silk_tab *tab);
int silk_tab_pages(const silk_tab *tab);
int silk_tab_broken(const silk_tab *tab);

typedef struct silk_render_stats {
    silk_cdp_stats browser;    /* summed over the browsers (pid: the first's) */
    long opening, idle, busy, closing, queued;
    long leases, created, closed, recycled, evicted, idle_closed;
    long renderer_crashes;
    long interrupted;          /* operations cancelled by a deadline or cancel */
    long blocked;              /* requests the guard failed (deny_private) */
    long filtered;             /* requests failed for matching a block pattern */
    long oversize;             /* responses failed for a Content-Length over max_size */
    double oversize_bytes;     /* the lengths they declared */
    long contexts;             /* browser contexts of sessions alive */
    long close_timeouts;       /* closeTarget unanswered in time: browser ended */
    long budget_recycles;      /* browsers ended for crossing memory_budget */
    long draining;             /* browsers over budget: no new tabs there until their busy ones end */
    double browser_pss;        /* bytes, every browser tree, at the last measure (silk_render_measure) */
    int browsers;              /* browser records (cfg.browsers) */
} silk_render_stats;

void silk_render_get_stats(silk_render *r, silk_render_stats *st);

/* One browser's part: its process and counters, its tabs. */
typedef struct silk_render_browser_stats {
    silk_cdp_stats browser;
    long busy, idle, budget_recycles;
    int draining;
    double pss;                /* bytes, at the last measure */
} silk_render_browser_stats;

/* Browser i (0 .. stats.browsers - 1): 0, or -1 when there is none. */
int silk_render_get_browser_stats(silk_render *r, int i, silk_render_browser_stats *st);

/* Measures every browser tree's PSS now (a /proc walk each) into the
 * stats; returns their sum in bytes (0: no browser). */
double silk_render_measure(silk_render *r);

#endif
