/*
 * metrics.h -- counters, gauges and histograms, and a minimal HTTP/1.1
 * server exposing them in Prometheus' text format (GET /metrics).
 *
 * Registry. Process-wide and touched from the loop thread only (like
 * track.c). A family is a name ([a-zA-Z_:][a-zA-Z0-9_:]*), a type, a help
 * line and, for histograms, bucket bounds; it is created by
 * silk_metrics_describe() or on first use (then with no help, and histograms
 * with the default buckets). A series is a family plus a label set, given as
 * the text that goes between the braces, already escaped:
 * `kind="dns",host="example.com"` (NULL or "" for none; lapi_metrics.c
 * renders Lua tables so). Other modules fill it directly in C, or from Lua
 * through silk.metrics (lua/silk/metrics.lua).
 *
 * Collectors. A module whose counters it keeps itself (fetch, the GC pacer)
 * does not copy them into the registry as they move: it registers a
 * collector, a function that writes their current values, and
 * silk_metrics_collect() runs every collector before an exposition. Each
 * module registers its own, when its binding is opened (lapi.h's
 * silk_lapi_collector ties the registration to the Lua state), so this
 * file knows none of them; Lua code registers its collectors through
 * silk.metrics (the crawl runner's: its stats, counted once in Lua).
 *
 * What an exposition holds (silk_metrics_collect() refreshes it first):
 *   silk_tasks{state=,on=}          gauge: live tasks by state and wait reason
 *                                   (exact at every scrape: task.c keeps the counts)
 *   silk_tasks_created_total        counter
 *   silk_resources{kind=}           gauge: live C resources (track.h)
 *   silk_resources_acquired_total{kind=}  counter
 *   silk_lua_heap_bytes, silk_loop_iterations_total, process_cpu_seconds_total,
 *   process_resident_memory_bytes, silk_metrics_scrapes_total,
 *   silk_metrics_render_seconds (the last render's cost)
 *   + the collectors' families: silk_fetch_* (lapi_fetch.c), silk_gc_*
 *   (lapi_gc.c), silk_render_* (lua/silk/render.lua) and the crawl's
 *   (lua/silk/crawl.lua).
 *
 * Server. silk_metrics_serve() listens on ADDR:PORT (host defaults to
 * 127.0.0.1: loopback unless an address is given) on the engine's loop,
 * non-blocking, keep-alive, requests of at most 8 KiB (else 431). Slow or
 * idle clients cannot hold it: each request, from the moment the connection
 * waits for it to the last byte of its answer, has 10 s (bytes trickling in
 * do not extend that); at most 64 connections, 16 from one peer address,
 * and when a newcomer finds no room the connection that has waited longest
 * for its request is closed to make it. GET /metrics answers 200; other
 * paths 404, other methods 405. Its watchers do not keep a run alive.
 */
#ifndef SILK_METRICS_H
#define SILK_METRICS_H

#include <stddef.h>

#include "engine.h"

typedef enum silk_metric_type {
    SILK_METRIC_COUNTER,     /* only grows (add), or is set from a monotonic source */
    SILK_METRIC_GAUGE,       /* set to a value */
    SILK_METRIC_HISTOGRAM,   /* observe: cumulative buckets, _sum, _count */
} silk_metric_type;

/* Declares a family. bounds (ascending, +Inf implied) only for histograms;
 * NULL: the default latency buckets (1 ms .. 60 s). Redescribing with the
 * same type updates the help; another type is an error. Returns 0, or -1
 * (bad name, type clash, too many buckets, out of memory). */
int silk_metrics_describe(const char *name, silk_metric_type type, const char *help,
                          const double *bounds, int nbounds);

/* counter += v (v >= 0), or gauge += v. 0 or -1 (bad name, type clash, v < 0 on a counter). */
int silk_metrics_add(const char *name, const char *labels, double v);
/* counter or gauge = v. */
int silk_metrics_set(const char *name, const char *labels, double v);
/* one observation into a histogram. */
int silk_metrics_observe(const char *name, const char *labels, double v);

/* The value of a counter or gauge series (the count of a histogram's), or
 * 0 when it does not exist. */
double silk_metrics_get(const char *name, const char *labels);

/* A collector: writes its module's current values (silk_metrics_set) for
 * the exposition about to be rendered. Runs on the loop thread; must not
 * wait or call into Lua. */
typedef void (*silk_metrics_collector_fn)(void *ud);

/* Registers fn(ud); the same pair twice is registered once. 0 or -1 (out
 * of memory). */
int silk_metrics_collector_add(silk_metrics_collector_fn fn, void *ud);
/* Unregisters fn(ud); a pair not registered is a no-op. */
void silk_metrics_collector_remove(silk_metrics_collector_fn fn, void *ud);

/* Refreshes the engine's own families (tasks, resources, heap, process),
 * runs the C collectors in registration order, then the Lua ones
 * (silk.metrics.collect, in a protected call that must not wait; an error
 * is reported on stderr). Not from a task's inner C call: call it from the
 * loop or from a task's own Lua code. */
void silk_metrics_collect(silk_engine *e);

/* The exposition text, malloc'd (the caller frees), length in *len; NULL
 * when out of memory. Does not collect. */
char *silk_metrics_render(size_t *len);

/* Drops every family (tests). */
void silk_metrics_reset(void);

typedef struct silk_metrics_server silk_metrics_server;

/* Serves GET /metrics on addr: "PORT", ":PORT", "HOST:PORT" or
 * "[V6]:PORT" (PORT 0: any free port). NULL with a message in err. */
silk_metrics_server *silk_metrics_serve(silk_engine *e, const char *addr, char *err, size_t errlen);

/* The port actually bound. */
int silk_metrics_port(silk_metrics_server *s);

/* Closes the listener and every connection, frees. NULL is a no-op. */
void silk_metrics_close(silk_metrics_server *s);

#endif
