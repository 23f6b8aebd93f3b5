/*
 * engine.h -- one engine = one libev loop + one lua_State + the options.
 *
 * The engine owns the loop, the Lua state, the scheduler's watchers and the
 * signal watchers. Exactly one thread (the one that created it) touches any
 * of them; worker threads hand results back through an ev_async.
 *
 * Life: silk_engine_new() -> silk_engine_run_main() (runs a Lua function as
 * the main task and drives the loop until it and every other task have
 * finished, or deadlock, or a signal's grace period ends) -> silk_engine_free(),
 * except after a hard stop (silk_engine_hard_stopped): then the process ends
 * without freeing the engine.
 */
#ifndef SILK_ENGINE_H
#define SILK_ENGINE_H

#include <stdio.h>

#include <ev.h>
#include <lua.h>

typedef struct silk_engine silk_engine;

typedef struct silk_engine_options {
    double grace;          /* seconds tasks get to unwind after SIGINT/SIGTERM (default 5) */
    int allow_leaks;       /* 1: tasks alive at the end are a warning, not a failure */
    int preempt;           /* 1 (default): enforce deadlines on running code, time-slice */
    double slice;          /* seconds a task may run before it is time-sliced (default 0.002) */
    int gc_pacer;          /* 1 (default): gcpace.c runs the GC in budgeted slices; 0: LuaJIT's own */
    double gc_budget;      /* seconds one GC slice may take (default 0.001) */
    double gc_heap_limit;  /* Lua heap bytes past which a full collection runs; 0 (default): none */
    int gc_pause;          /* heap goal = live * (1 + pause/100), like GOGC (default 200) */
    double max_memory;     /* Lua heap bytes no task may allocate past (it fails with
                            * a `memory` error); 0 (default): only the system's limits */
    long max_fds;          /* RLIMIT_NOFILE soft limit fetch sets; 0 (default): the hard limit */
    const char *log_level; /* --log-level, --log-format, --log-file: how silk.log writes (read by */
    const char *log_format;/* the commands that log, silk run; borrowed from argv); NULL: */
    const char *log_file;  /* its defaults (info, text, stderr) */
} silk_engine_options;

/* How a run ended; silk_engine_run_main() returns it, main.c maps it to an
 * exit status. */
typedef enum silk_outcome {
    SILK_OK = 0,           /* main task returned, nothing leaked */
    SILK_FAILED,           /* main task raised, or a task failed and nobody joined it */
    SILK_LEAKED,           /* tasks or C resources alive at the end */
    SILK_DEADLOCK,         /* every live task waits on something nothing can wake */
    SILK_SIGNALLED,        /* stopped by SIGINT/SIGTERM */
} silk_outcome;

void silk_engine_defaults(silk_engine_options *o);

/* The loaded libev's version ("4.33"), for `silk version`. A static string. */
const char *silk_engine_libev_version(void);

/* Creates the loop and the Lua state with the standard libraries, the
 * bindings preloaded and package.path set to find lua/silk. NULL on failure
 * (message on stderr). */
silk_engine *silk_engine_new(const silk_engine_options *o);

/* Closes the Lua state (finalising every userdata), then the loop. Only
 * when no task is left waiting: never after a hard stop. */
void silk_engine_free(silk_engine *e);

lua_State *silk_engine_lua(silk_engine *e);
struct ev_loop *silk_engine_loop(silk_engine *e);
const silk_engine_options *silk_engine_opts(silk_engine *e);

/* The engine that owns L (any coroutine of it). */
silk_engine *silk_engine_from(lua_State *L);

/* --- services ---------------------------------------------------------------
 *
 * The subsystems an engine owns that a binding makes on first use live in a
 * small table, one slot each (as nginx's module contexts, libuv's
 * loop->data): the binding looks its slot up, and makes and installs the
 * service when it is empty. The engine stops them in the slot order below at
 * the end of silk_engine_run_main (after the last task has run, before the
 * resource report: what a service still holds is not the script's leak; not
 * after a hard stop, which leaves everything as it is) and in
 * silk_engine_free before the Lua state is closed (for a service made after
 * the run); a later use makes the service again. So a service knows
 * its engine only through its binding, and the engine knows a service only
 * as a pointer and a stop function.
 */
typedef enum silk_service {
    SILK_SERVICE_FETCH,        /* silk_fetch (lapi_fetch.c): completes what is still in
                                * flight as cancelled, frees the multi handle */
    SILK_SERVICE_PARSE_POOL,   /* the parse worker pool (lapi_html.c): joins the workers,
                                * frees the jobs nobody waits for any more */
    SILK_SERVICE_RENDER,       /* the page pool (lapi_render.c): ends the browsers, frees
                                * the tabs; reports the pages tasks left open */
    SILK_SERVICE_SELECTORS,    /* the compiled-selector cache (lapi_html_query.c): frees it */
    SILK_SERVICE_COUNT_
} silk_service;

typedef void (*silk_service_stop_fn)(void *service);

/* The service in slot id, or NULL. */
void *silk_engine_service(silk_engine *e, silk_service id);

/* Installs p in the empty slot id; stop(p) will end it. */
void silk_engine_set_service(silk_engine *e, silk_service id, void *p, silk_service_stop_fn stop);

/* What a script left behind that a service cleaned up for it (a page its
 * task never closed): one line each to out, prefixed by prefix; returns
 * how many (each makes the run's outcome SILK_LEAKED, unless allow_leaks).
 * The engine asks every service that has one at the end of
 * silk_engine_run_main, just before stopping them. */
typedef int (*silk_service_report_fn)(void *service, FILE *out, const char *prefix);

/* Gives the service in slot id (installed) a report function. */
void silk_engine_set_service_report(silk_engine *e, silk_service id, silk_service_report_fn report);

/* Monotonic seconds, the loop's notion of now refreshed on every call. */
double silk_now(void);

/* Runs the function below the `nargs` arguments on top of L's stack as the
 * main task, then drives the loop to the end described above. Reports
 * (uncaught errors, leaks, deadlocks) go to stderr. The stack of L is
 * empty afterwards. */
silk_outcome silk_engine_run_main(silk_engine *e, int nargs, const char *name);

/* The exit status a script asked for with silk.core.engine.set_exit_code
 * (the test runner does), else 0. */
int silk_engine_exit_code(silk_engine *e);
void silk_engine_set_exit_code(silk_engine *e, int code);

/* Makes the function at idx of L the handler of the first SIGINT/SIGTERM:
 * instead of cancelling every task, the engine runs it as a task (with the
 * signal's name) and gives the run the grace period to end by itself; a
 * run that ends in time exits successfully. */
void silk_engine_on_shutdown(silk_engine *e, lua_State *L, int idx);

/* Makes the function at idx of L the handler of every SIGINT (a REPL's
 * Ctrl-C): the engine runs it as a task ("interrupt") each time, and SIGINT
 * no longer stops the run (SIGTERM still does). */
void silk_engine_on_interrupt(silk_engine *e, lua_State *L, int idx);

/* The signal that stopped the run, or 0. */
int silk_engine_signal(silk_engine *e);

/* 1 when the run was stopped at once: a second SIGINT/SIGTERM, or a
 * graceful stop (silk_engine_on_shutdown) still running at the end of its
 * grace period. Its tasks are abandoned mid-wait, their timers and I/O
 * still in the loop and their records inside the Lua state, so the caller
 * must end the process (_exit) rather than call silk_engine_free: closing
 * the Lua state would free armed watchers, and the finalisers of what the
 * tasks hold would act on a run that was told to stop now (a crawl's
 * frontier would record a last checkpoint of pages whose items were never
 * recorded). What persists is then exactly what the last checkpoint wrote,
 * as after kill -9. */
int silk_engine_hard_stopped(silk_engine *e);

#endif
