/*
 * console.h -- a Lua console inside a running engine, over a UNIX socket;
 * the client side of it; and the entry points of `silk console` and
 * `silk shell`.
 *
 * Server. silk_console_listen() binds PATH (mode 0600) on the engine's loop.
 * Any number of clients (up to max_clients) attach at once; each request runs
 * as a task spawned with a deadline (silk_task_spawn's timeout: a runaway line
 * is ended by the core's preemption, the crawl keeps going). A client that
 * disconnects leaves nothing behind: the tasks of its request in flight are
 * cancelled and its record is reaped from the loop's check phase. Only
 * connections from the socket owner's uid are served (SO_PEERCRED), and a
 * client that stops half-way through a frame is closed after 10 s (one
 * idle between frames is not: a REPL waits for its user).
 *
 * Protocol (both directions): a stream of frames, each a header line
 * "<kind> <length>\n" followed by exactly <length> bytes of payload:
 *   client -> server   "eval N\n" + a Lua chunk (an expression or statements)
 *   server -> client   "ok N\n"  + the pretty-printed results and print() output
 *                      "err N\n" + the error ("timeout: ...", "cancelled: ...", or
 *                                  the message of what the chunk raised)
 * One reply per request, in order; a client may pipeline. Headers are at most
 * 32 bytes; a request payload at most max_request bytes, else the server sends
 * "err" and closes. What a chunk sees (its environment, the built-ins stats,
 * tasks, task, cancel, gc, pause, resume, frontier, profile, help) is
 * lua/silk/console.lua; the crawl runner plugs into it through
 * silk.console_hooks (documented there).
 *
 * Client. silk_console_conn_* (used through lapi_console.c by the REPL of
 * `silk console` and by the specs) is a non-blocking connection on a loop.
 *
 * Ownership: the server record belongs to whoever listened (main.c, or a Lua
 * userdata from silk.core.console.listen); silk_console_close() stops every
 * watcher, cancels the client tasks and frees, and must be called before the
 * engine's Lua state is closed. All of this runs on the loop thread.
 */
#ifndef SILK_CONSOLE_H
#define SILK_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "engine_run.h"

typedef struct silk_console silk_console;

typedef struct silk_console_options {
    double timeout;        /* seconds a request may run (default 10) */
    int max_clients;       /* simultaneous clients (default 16); more are refused */
    size_t max_request;    /* bytes of one chunk (default 1 MiB) */
} silk_console_options;

void silk_console_defaults(silk_console_options *o);

/* Starts serving the console of e on the UNIX socket PATH. Refuses (returns
 * NULL, message in err) when PATH exists and is not a stale socket (a socket
 * nobody accepts on is removed and replaced), when the directory of PATH is
 * world-writable without the sticky bit, or when PATH is too long. `o` may be
 * NULL for the defaults. Requires lua/silk/console.lua (loaded here). The
 * listener does not keep the loop alive: the run ends when its tasks do. */
silk_console *silk_console_listen(silk_engine *e, const char *path,
                                  const silk_console_options *o, char *err, size_t errlen);

/* Stops listening, unlinks PATH (if it is still our socket), disconnects
 * every client (their request tasks are cancelled) and frees. NULL is a no-op. */
void silk_console_close(silk_console *c);

/* Number of clients connected to c now. */
int silk_console_clients(silk_console *c);

/* Completes the request in flight of client `client_id` with the reply
 * (ok: 1 for "ok", 0 for "err"). Called by lua/silk/console.lua's serve task
 * through lapi_console.c. Returns 0, or -1 when that client is gone (the
 * reply is dropped). */
int silk_console_reply(uint64_t client_id, int ok, const char *text, size_t len);

/* --- client ---------------------------------------------------------------- */

typedef struct silk_console_conn silk_console_conn;

/* Called from the loop when a reply frame is complete or the connection
 * ended (then ok = -1, text NULL). `text` is valid during the call only. The
 * callback may call silk_console_conn_close() on conn (it is freed later). */
typedef void (*silk_console_reply_fn)(void *ud, int ok, const char *text, size_t len);

/* Connects to the console at PATH (a local connect completes at once).
 * Returns NULL with a message in err ("no console at PATH: ..."). */
silk_console_conn *silk_console_connect(struct ev_loop *loop, const char *path,
                                        silk_console_reply_fn fn, void *ud,
                                        char *err, size_t errlen);

/* Queues one request; written as the socket accepts it. -1 once closed. */
int silk_console_conn_send(silk_console_conn *c, const char *chunk, size_t len);

/* Closes the connection and stops calling back. The record is freed now,
 * or after the callback returns when called from inside it. */
void silk_console_conn_close(silk_console_conn *c);

/* --- `silk console PATH` and `silk shell [URL]` --------------------------- */

/* Runs the REPL attached to the console at PATH as the main task of e (line
 * editing and history in ~/.silk_history when stdin is a terminal, plain
 * lines otherwise), until end of input. */
silk_outcome silk_console_client_run(silk_engine *e, const char *path);

/* Runs the same REPL evaluating in e itself, with fetch(url) and view(node);
 * when url is not NULL, fetches it first and binds res and doc. */
silk_outcome silk_shell_run(silk_engine *e, const char *url);

#endif
