/*
 * gcpace.h -- the GC step budgeter: LuaJIT's collector run in timed slices
 * from the event loop, and the pause statistics.
 *
 * LuaJIT's own trigger runs the collector inside whatever allocation crosses
 * its threshold, so a pause (the atomic phase above all) lands in the middle
 * of a task and can last milliseconds. The pacer stops that trigger
 * (LUA_GCSTOP, re-issued after every LUA_GCSTEP because a step re-arms it,
 * RUNTIME-NOTES.md section 2; and LuaJIT's pause set out of reach, since a
 * trace exit steps the collector in its atomic and finalizer phases, and a
 * cycle ended there re-arms the trigger at live * pause) and drives the
 * collector itself:
 *
 *  - Heap goal, like Go's GOGC: goal = max(live * (1 + pause/100), floor),
 *    where live is the heap after the last completed cycle. A cycle starts
 *    at the trigger, halfway between live and goal (with the default pause
 *    of 200 that is 2 x live, where LuaJIT's default collector starts too),
 *    and is paced to end before the heap reaches the goal.
 *  - Pacing: the work of a cycle is estimated from the last one (in LuaJIT
 *    basic steps; LUA_GCSTEP(k) runs about k+1 of them). Every byte
 *    allocated since the cycle began puts work/runway steps in debt. A slice
 *    pays the debt with LUA_GCSTEP(k) calls, k sized from the measured cost
 *    of one basic step in the phase at hand (a sweep step costs 10-100 mark
 *    steps; the sweep's start is seen as the first call that frees memory,
 *    and calls that may run into the atomic phase are sized as sweep
 *    steps), measured with CLOCK_MONOTONIC. On pace a slice ends at a
 *    quarter of the budget (half when the debt does not fit), keeping back,
 *    when the atomic phase may be next, the longest single call seen lately
 *    (the atomic phase cannot be split).
 *  - Marking is not paced: from a cycle's start to its atomic phase, slices
 *    run at every check, because the atomic phase re-traverses in one piece
 *    what the program allocated and linked into marked objects meanwhile.
 *    It also rescans every live coroutine (about 1 KB each), which no
 *    pacing shortens: with 10 000 parked tasks that is 0.7 ms with the
 *    coroutines in cache and 2-4 ms when the program has evicted them.
 *  - Heap limit, like GOMEMLIMIT: the goal never exceeds the limit minus
 *    1/16; behind the goal, slices use the whole budget (less the reserve)
 *    and run between every task resumption (more of each loop iteration goes to the GC);
 *    only past the limit does a full collection run, counted as an
 *    emergency. Emergencies are spaced by limit/8 bytes of allocation, so a
 *    live heap above the limit degrades to continuous pacing, not to a full
 *    collection per iteration.
 *  - Idle: a slice with nothing owed costs one LUA_GCCOUNT; a blocked loop
 *    runs nothing.
 *
 * Slices run in a protected call: a __gc metamethod that raises is reported
 * on stderr and counted, and the slice ends.
 *
 * Ownership: the engine creates one pacer per lua_State (engine_run.c) and
 * frees it before closing the state; the pacer holds one registry ref.
 * Callers: the loop's prepare phase (silk_gcpace_slice), the scheduler
 * between task resumptions (silk_gcpace_assist), the Lua binding
 * (lapi_gc.c). Every function accepts NULL (pacer disabled) as a no-op.
 */
#ifndef SILK_GCPACE_H
#define SILK_GCPACE_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

typedef struct silk_gcpace silk_gcpace;

#define SILK_GC_RING 256               /* pauses kept, like Go's MemStats.PauseNs */
#define SILK_GC_DEFAULT_BUDGET 0.001   /* seconds per slice */
#define SILK_GC_DEFAULT_PAUSE 200      /* percent of live heap allowed to accumulate */
#define SILK_GC_DEFAULT_FLOOR (4u << 20) /* smallest heap goal, bytes (Go's heapMinimum) */

typedef struct silk_gcpace_config {
    double budget;         /* seconds one slice may take; <= 0: the default */
    size_t heap_limit;     /* bytes; 0: none */
    int pause;             /* percent, like GOGC; < 0: the default */
    size_t floor;          /* smallest heap goal in bytes; 0: the default */
} silk_gcpace_config;

/* Everything silk.gc_stats() shows. Durations in nanoseconds. */
typedef struct silk_gcpace_stats {
    uint64_t slices;            /* slices run (each one pause), emergencies included */
    uint64_t cycles;            /* collection cycles completed */
    uint64_t emergencies;       /* full collections forced by the heap limit */
    uint64_t over_budget;       /* slices longer than the budget */
    uint64_t assists;           /* slices run between task resumptions */
    uint64_t finalizer_errors;  /* __gc errors caught by a slice */
    uint64_t p50_ns, p99_ns, p999_ns; /* over every slice (histogram, about 10 % resolution) */
    uint64_t max_ns;            /* longest slice ever */
    uint64_t max_cpu_ns;        /* most thread CPU time one slice took: the
                                 * collector's own work, where max_ns also holds
                                 * the time the thread was preempted */
    uint64_t over_budget_cpu;   /* slices whose CPU time exceeded the budget */
    uint64_t p99_cpu_ns, p999_cpu_ns; /* quantiles of the slices' CPU time (histogram) */
    uint64_t recent_p50_ns, recent_p99_ns, recent_max_ns; /* over the ring (exact) */
    uint64_t total_ns;          /* time in slices */
    uint64_t total_cpu_ns;      /* thread CPU time in slices */
    uint64_t last_max_step_ns;  /* longest single LUA_GCSTEP call of the last cycle:
                                 * about the atomic phase */
    double cpu_share;           /* total_ns / wall time since creation */
    double step_ns;             /* measured cost of one basic step while marking */
    double sweep_step_ns;       /* ... while sweeping */
    size_t heap;                /* bytes now */
    size_t heap_peak;           /* highest heap seen by the pacer */
    size_t live;                /* heap after the last completed cycle */
    size_t goal;                /* current heap goal */
    size_t trigger;             /* heap at which the next cycle starts */
    size_t heap_limit;          /* 0: none */
    uint64_t allocated;         /* bytes allocated since creation (as seen between slices) */
    double budget;              /* seconds */
    int pause;
    int in_cycle;               /* 1 while a cycle is in progress */
} silk_gcpace_stats;

/* Creates the pacer for L (the main thread) and stops LuaJIT's automatic
 * collector. `c` may be NULL for the defaults. NULL on allocation failure
 * (L is untouched then). */
silk_gcpace *silk_gcpace_new(lua_State *L, const silk_gcpace_config *c);

/* Releases the registry ref and the record and restarts LuaJIT's automatic
 * collector. Call before lua_close. */
void silk_gcpace_free(silk_gcpace *g);

/* Changes the configuration; fields as in silk_gcpace_new. Takes effect at
 * the next slice. */
void silk_gcpace_configure(silk_gcpace *g, const silk_gcpace_config *c);
void silk_gcpace_config_get(silk_gcpace *g, silk_gcpace_config *out);

/* The prepare-phase entry: runs one slice if work is due (debt, a started
 * cycle, the heap past the trigger or the limit). Returns 1 if it ran a
 * slice. May run __gc metamethods; never raises. */
int silk_gcpace_slice(silk_gcpace *g);

/* The scheduler's entry between two task resumptions. Costs one
 * LUA_GCCOUNT when nothing is due; runs a slice when enough debt has built
 * up (or at once when the heap is behind its goal). Returns 1 if it ran. */
int silk_gcpace_assist(silk_gcpace *g);

/* The three below run on thread L (the caller's: a binding passes its own
 * coroutine, since the main thread is inside lua_resume then). */

/* Runs a slice now regardless of debt, using the whole budget (tests).
 * Returns 0, or -1 if a __gc raised. */
int silk_gcpace_step(silk_gcpace *g, lua_State *L);

/* A full collection through the pacer (recorded as a slice and a cycle,
 * not as an emergency). Returns 0, or -1 if a __gc raised. */
int silk_gcpace_full(silk_gcpace *g, lua_State *L);

/* Completes any cycle under way with a full collection, then runs whole
 * cycles in the smallest steps (LUA_GCSTEP 0) and reports the longest single
 * step, which is the atomic phase unless a larger single object dominates,
 * the cycle's total time and step count, and in *cold_ns that step again in
 * another cycle with the caches overwritten (64 MB) just before it (0 if the
 * 64 MB could not be had): a cycle run in one go finds the heap it just
 * traversed in cache, where a program's allocation between slices has
 * evicted it.
 * The steps are timed in thread CPU time (the work, not the preemptions of
 * a shared machine), the cycle in wall time. For measurement only: not
 * budgeted, not recorded as a pause. */
void silk_gcpace_profile_cycle(silk_gcpace *g, lua_State *L, uint64_t *max_step_ns,
                               uint64_t *total_ns, uint64_t *steps, uint64_t *cold_ns);

void silk_gcpace_get_stats(silk_gcpace *g, silk_gcpace_stats *out);

/* Copies the ring, oldest first; returns how many pauses (<= SILK_GC_RING). */
int silk_gcpace_recent(silk_gcpace *g, uint64_t out[SILK_GC_RING]);

/* The pause histogram since creation or the last reset: calls fn once per
 * non-empty bucket, shortest first, with the bucket's upper edge in ns (the
 * buckets are 1/8 of a power of two wide) and its count. */
void silk_gcpace_histogram(silk_gcpace *g, void (*fn)(void *ud, uint64_t upper_ns, uint64_t n),
                           void *ud);

/* Forgets pause statistics (ring, histogram, counters); the pacing state
 * stays. */
void silk_gcpace_reset_stats(silk_gcpace *g);

#endif
