/*
 * engine.h -- one engine = one libev loop + one lua_State + the options.
 *
 * The engine owns the loop, the Lua state, the options and the services.
 * Exactly one thread (the one that created it) touches any of them; worker
 * threads hand results back through an ev_async. This is what the bindings
 * need of it; making, running and freeing an engine is engine_run.h's.
 */
#ifndef SILK_ENGINE_H
#define SILK_ENGINE_H

#include <stdio.h>

#include <ev.h>
#include <lua.h>

#include "clock.h"                     /* silk_now, for the bindings */

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

void silk_engine_defaults(silk_engine_options *o);

/* The loaded libev's version ("4.33"), for `silk version`. A static string. */
const char *silk_engine_libev_version(void);

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

/* The exit status a script asked for with silk.core.engine.set_exit_code
 * (the test runner does), else 0. */
int silk_engine_exit_code(silk_engine *e);
void silk_engine_set_exit_code(silk_engine *e, int code);

#endif
