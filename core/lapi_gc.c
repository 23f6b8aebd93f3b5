/*
 * lapi_gc.c -- the GC pacer's Lua face: package "silk.core.gc".
 *
 *   gc.stats() -> table      pause statistics and heap (see below); nil when
 *                            the pacer is disabled (LuaJIT's own collector)
 *   gc.recent() -> {ns...}   the last <= 256 pauses in ns, oldest first
 *   gc.histogram() -> {{le_ns, n}...}
 *                            every pause since the last reset, as the
 *                            non-empty buckets (12.5 % wide) of the
 *                            histogram, shortest first: n pauses <= le_ns
 *                            and above the previous bucket's edge
 *   gc.step()                one slice now, using the whole budget (tests)
 *   gc.full()                a full collection through the pacer
 *   gc.configure{budget=s, heap_limit=bytes, pause=percent}
 *                            changes what is given; returns the config
 *   gc.reset()               forgets pause statistics
 *   gc.profile_cycle() -> max_step_ms, total_ms, steps, cold_ms
 *                            one whole cycle in LUA_GCSTEP(0) steps; the
 *                            longest step is about the atomic phase;
 *                            cold_ms: that step again in a later cycle,
 *                            with the caches overwritten just before it
 *   gc.enabled() -> boolean
 *
 * Opening the module registers the pacer's collector with metrics.c
 * (silk_gc_*: pause quantiles, slices, cycles, emergencies, slices over
 * budget, seconds, heap, CPU share).
 *
 * Context: any task. step/full/profile_cycle may run __gc metamethods.
 * stats() times are in milliseconds, sizes in bytes.
 */
#include <stdio.h>

#include <lauxlib.h>

#include "engine_int.h"
#include "gcpace.h"
#include "lapi.h"
#include "metrics.h"

static silk_gcpace *pacer(lua_State *L)
{
    return silk_engine_from(L)->gc;
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/*** silk.gc_stats() -> stats | nil
 * The GC pacer's figures: slices, cycles, pause p50_ms/p99_ms/p999_ms/max_ms
 * (wall and CPU), over_budget, heap, heap peak...; nil under --no-gc-pacer.
 * @usage
 *   local g = silk.gc_stats()
 *   if g then print(g.p99_ms) end
 */
static int gc_stats(lua_State *L)
{
    silk_gcpace *g = pacer(L);
    if (!g)
        return 0;
    silk_gcpace_stats s;
    silk_gcpace_get_stats(g, &s);
    lua_createtable(L, 0, 32);
    set_num(L, "slices", (double)s.slices);
    set_num(L, "cycles", (double)s.cycles);
    set_num(L, "emergencies", (double)s.emergencies);
    set_num(L, "over_budget", (double)s.over_budget);
    set_num(L, "assists", (double)s.assists);
    set_num(L, "finalizer_errors", (double)s.finalizer_errors);
    set_num(L, "p50_ms", (double)s.p50_ns / 1e6);
    set_num(L, "p99_ms", (double)s.p99_ns / 1e6);
    set_num(L, "p999_ms", (double)s.p999_ns / 1e6);
    set_num(L, "max_ms", (double)s.max_ns / 1e6);
    set_num(L, "max_cpu_ms", (double)s.max_cpu_ns / 1e6);
    set_num(L, "over_budget_cpu", (double)s.over_budget_cpu);
    set_num(L, "p99_cpu_ms", (double)s.p99_cpu_ns / 1e6);
    set_num(L, "p999_cpu_ms", (double)s.p999_cpu_ns / 1e6);
    set_num(L, "recent_p50_ms", (double)s.recent_p50_ns / 1e6);
    set_num(L, "recent_p99_ms", (double)s.recent_p99_ns / 1e6);
    set_num(L, "recent_max_ms", (double)s.recent_max_ns / 1e6);
    set_num(L, "total_ms", (double)s.total_ns / 1e6);
    set_num(L, "total_cpu_ms", (double)s.total_cpu_ns / 1e6);
    set_num(L, "last_max_step_ms", (double)s.last_max_step_ns / 1e6);
    set_num(L, "cpu_share", s.cpu_share);
    set_num(L, "step_us", s.step_ns / 1e3);
    set_num(L, "sweep_step_us", s.sweep_step_ns / 1e3);
    set_num(L, "heap", (double)s.heap);
    set_num(L, "heap_peak", (double)s.heap_peak);
    set_num(L, "live", (double)s.live);
    set_num(L, "goal", (double)s.goal);
    set_num(L, "trigger", (double)s.trigger);
    set_num(L, "heap_limit", (double)s.heap_limit);
    set_num(L, "allocated", (double)s.allocated);
    set_num(L, "budget_ms", s.budget * 1e3);
    set_num(L, "pause", s.pause);
    lua_pushboolean(L, s.in_cycle);
    lua_setfield(L, -2, "in_cycle");
    return 1;
}

static int gc_recent(lua_State *L)
{
    uint64_t r[SILK_GC_RING];
    int n = silk_gcpace_recent(pacer(L), r);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, (double)r[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void add_bucket(void *ud, uint64_t upper_ns, uint64_t n)
{
    lua_State *L = ud;
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, (double)upper_ns);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, (double)n);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
}

static int gc_histogram(lua_State *L)
{
    lua_newtable(L);
    silk_gcpace_histogram(pacer(L), add_bucket, L);
    return 1;
}

static int gc_step(lua_State *L)
{
    lua_pushboolean(L, silk_gcpace_step(pacer(L), L) == 0);
    return 1;
}

static int gc_full(lua_State *L)
{
    silk_gcpace *g = pacer(L);
    if (!g) {
        lua_gc(L, LUA_GCCOLLECT, 0);
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, silk_gcpace_full(g, L) == 0);
    return 1;
}

static int gc_configure(lua_State *L)
{
    silk_gcpace *g = pacer(L);
    if (!g)
        return 0;
    silk_gcpace_config c;
    silk_gcpace_config_get(g, &c);
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "budget");
        if (!lua_isnil(L, -1)) {
            c.budget = luaL_checknumber(L, -1);
            luaL_argcheck(L, c.budget > 0, 1, "budget must be a positive number of seconds");
        }
        lua_getfield(L, 1, "heap_limit");
        if (!lua_isnil(L, -1)) {
            lua_Number v = luaL_checknumber(L, -1);
            luaL_argcheck(L, v >= 0, 1, "heap_limit must be >= 0 bytes");
            c.heap_limit = (size_t)v;
        }
        lua_getfield(L, 1, "pause");
        if (!lua_isnil(L, -1)) {
            lua_Integer v = luaL_checkinteger(L, -1);
            luaL_argcheck(L, v >= 0 && v <= 100000, 1, "pause must be between 0 and 100000");
            c.pause = (int)v;
        }
        lua_pop(L, 3);
        silk_gcpace_configure(g, &c);
    }
    lua_createtable(L, 0, 3);
    set_num(L, "budget", c.budget);
    set_num(L, "heap_limit", (double)c.heap_limit);
    set_num(L, "pause", c.pause);
    return 1;
}

static int gc_reset(lua_State *L)
{
    silk_gcpace_reset_stats(pacer(L));
    return 0;
}

static int gc_profile_cycle(lua_State *L)
{
    silk_gcpace *g = pacer(L);
    if (!g)
        return luaL_error(L, "the GC pacer is disabled");
    uint64_t max_ns, total_ns, steps, cold_ns;
    silk_gcpace_profile_cycle(g, L, &max_ns, &total_ns, &steps, &cold_ns);
    lua_pushnumber(L, (double)max_ns / 1e6);
    lua_pushnumber(L, (double)total_ns / 1e6);
    lua_pushnumber(L, (double)steps);
    lua_pushnumber(L, (double)cold_ns / 1e6);
    return 4;
}

static int gc_enabled(lua_State *L)
{
    lua_pushboolean(L, pacer(L) != NULL);
    return 1;
}

/* metrics.h's collector of the pacer's figures (times in seconds, kept
 * in the units gc.stats() gives them first); nothing under --no-gc-pacer. */
static void gc_collect(void *e)
{
    silk_gcpace *g = ((silk_engine *)e)->gc;
    if (!g)
        return;
    silk_gcpace_stats s;
    silk_gcpace_get_stats(g, &s);
    const struct { const char *q; uint64_t ns; } pauses[] = {
        {"0.5", s.p50_ns}, {"0.99", s.p99_ns}, {"0.999", s.p999_ns}, {"1", s.max_ns},
    };
    char l[32];
    for (size_t i = 0; i < sizeof pauses / sizeof *pauses; i++) {
        snprintf(l, sizeof l, "quantile=\"%s\"", pauses[i].q);
        silk_metrics_set("silk_gc_pause_seconds", l, (double)pauses[i].ns / 1e6 / 1e3);
    }
    silk_metrics_set("silk_gc_slices_total", NULL, (double)s.slices);
    silk_metrics_set("silk_gc_cycles_total", NULL, (double)s.cycles);
    silk_metrics_set("silk_gc_emergencies_total", NULL, (double)s.emergencies);
    silk_metrics_set("silk_gc_over_budget_total", NULL, (double)s.over_budget);
    silk_metrics_set("silk_gc_seconds_total", NULL, (double)s.total_ns / 1e6 / 1e3);
    silk_metrics_set("silk_gc_heap_bytes", NULL, (double)s.heap);
    silk_metrics_set("silk_gc_cpu_share", NULL, s.cpu_share);
}

static void describe_gc_families(void)
{
    static const struct { const char *name; silk_metric_type type; const char *help; } fams[] = {
        {"silk_gc_pause_seconds", SILK_METRIC_GAUGE, "GC slice pause quantiles (quantile=1 is the max ever)."},
        {"silk_gc_slices_total", SILK_METRIC_COUNTER, "GC slices run."},
        {"silk_gc_cycles_total", SILK_METRIC_COUNTER, "GC cycles completed."},
        {"silk_gc_emergencies_total", SILK_METRIC_COUNTER, "Full collections forced by the heap limit."},
        {"silk_gc_over_budget_total", SILK_METRIC_COUNTER, "GC slices longer than the budget."},
        {"silk_gc_seconds_total", SILK_METRIC_COUNTER, "Time spent in GC slices."},
        {"silk_gc_heap_bytes", SILK_METRIC_GAUGE, "Lua heap as the GC pacer sees it."},
        {"silk_gc_cpu_share", SILK_METRIC_GAUGE, "Share of wall time spent in GC slices."},
    };
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++)
        silk_metrics_describe(fams[i].name, fams[i].type, fams[i].help, NULL, 0);
}

int silk_lapi_gc(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"stats", gc_stats},
        {"recent", gc_recent},
        {"histogram", gc_histogram},
        {"step", gc_step},
        {"full", gc_full},
        {"configure", gc_configure},
        {"reset", gc_reset},
        {"profile_cycle", gc_profile_cycle},
        {"enabled", gc_enabled},
        {NULL, NULL},
    };
    describe_gc_families();
    silk_lapi_collector(L, gc_collect, silk_engine_from(L));
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}
