/*
 * gcpace.c -- the GC step budgeter; see gcpace.h for the model.
 *
 * Units: "steps" are LuaJIT basic steps (one lj_gc_step, about 2000 units
 * of GC work at the default stepmul); LUA_GCSTEP(k) runs k+1 of them
 * (lj_api.c: each basic step pays 1 KB of the k KB debt it was given).
 * Times are int64 nanoseconds of CLOCK_MONOTONIC.
 *
 * Invariants:
 *  - outside a slice, LuaJIT's threshold is LJ_MAX_MEM (GCSTOP) unless Lua
 *    code re-armed it (collectgarbage), which the next check undoes;
 *  - the heap only shrinks inside a slice (the collector runs nowhere
 *    else), so heap growth seen between two checks is allocation, and the
 *    heap seen at a check is the peak since the previous slice.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "gcpace.h"

#define INIT_STEP_NS 1000.0      /* first guess at a basic step (RUNTIME-NOTES 2);
                                  * the pacer measures its own from then on */
#define INIT_SWEEP_NS 20000.0    /* a sweep step frees up to 200 objects or string
                                  * chains, so it starts far dearer than a
                                  * basic step; measured from then on too */
#define CHUNK_NS 25000           /* one LUA_GCSTEP call aims at 25 us: finer is
                                  * wasted clock reads, coarser overshoots */
#define MAX_CALL_STEPS 4096
#define ASSIST_NS 100000         /* an assist waits for 100 us of owed work:
                                  * small enough for short pauses, large
                                  * enough that its fixed cost is noise */
#define MIN_RUNWAY (256u << 10)
/* LuaJIT's pause while the pacer runs. LuaJIT steps the collector outside
 * the pacer too: a trace exit while the collector is in its atomic or
 * finalizer phase runs a step. A cycle that such a step ends re-arms
 * LuaJIT's allocation trigger at live * pause / 100; at the default 200 %
 * the automatic collector then ran inside tasks until the pacer's next
 * check, and left LuaJIT a debt of megabytes that the pacer's next
 * one-step call paid in one go (100 ms CPU in bench/gc/crawl.sh). This
 * pause puts the trigger out of reach: past LJ_MAX_MEM for a heap over
 * 7 MB, 20 million times the heap under it. */
#define NO_REARM_PAUSE 2000000000
#define PROFILE_EVICT (64u << 20) /* written over before a profiled step to take
                                   * the heap out of the caches: twice the
                                   * last-level cache of the bench machine */

/* Histogram: 8 buckets per power of two (12.5 % wide), 1 ns to 2^40 ns. */
#define HIST_SUB 8
#define HIST_N 320

enum slice_kind { SLICE_PACED, SLICE_FULL, SLICE_EMERGENCY, SLICE_PROFILE };

struct silk_gcpace {
    lua_State *L;
    int body_ref;                 /* registry: slice_body, called protected */
    int lj_pause;                 /* LuaJIT's own pause, given back by silk_gcpace_free */
    silk_gcpace_config cfg;
    int64_t budget_ns;
    int64_t created_ns;

    /* pacing state */
    int in_cycle;
    size_t live, goal, trigger;
    size_t last_heap;             /* heap at the end of the last slice or check */
    double ratio;                 /* steps owed per byte allocated (the assist ratio) */
    double debt;                  /* steps owed now */
    size_t cycle_alloc;           /* bytes allocated since the current cycle began */
    double cycle_work;            /* estimated steps per cycle (from the last one) */
    double cycle_done;            /* steps run in the current cycle */
    double step_ns;               /* cost of one step while marking */
    double sweep_ns;              /* cost of one step while sweeping (and finalizing) */
    int sweeping;                 /* this cycle's mark and atomic phases are over */
    double mark_work;             /* steps the last cycle ran before it swept;
                                   * 0 before the first: every call careful */
    int64_t spike_ns, spike_prev_ns; /* largest excess of one call over its
                                   * expected time: this cycle, last cycle */
    int64_t call_max_ns, last_max_step_ns;
    size_t emergency_mark;        /* no emergency below this heap */
    size_t assist_kb;             /* heap (KB) from which an assist is due */
    int behind;                   /* heap past its goal: pace at full budget */

    /* the slice being run (read by slice_body) */
    enum slice_kind kind;
    int64_t prof_max, prof_total, prof_steps, prof_cold;
    char *prof_evict;             /* PROFILE_EVICT bytes, or NULL: no cold run */

    /* statistics */
    uint64_t slices, cycles, emergencies, over_budget, assists, fin_errors;
    uint64_t total_ns, max_ns, allocated;
    uint64_t max_cpu_ns, over_budget_cpu, total_cpu_ns;
    size_t heap_peak;
    uint64_t ring[SILK_GC_RING];
    uint64_t hist[HIST_N];
    uint64_t hist_cpu[HIST_N];    /* the same slices by thread CPU time */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The thread's CPU time: a slice's CPU time against its wall time tells
 * the collector's own work from the thread being preempted (a system call,
 * not the vDSO: read twice per slice, never per step). */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t heap_bytes(lua_State *L)
{
    return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

/* --- statistics -------------------------------------------------------------- */

static int hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (int)v;
    int oct = 63 - __builtin_clzll(v);               /* >= 3 */
    int i = (oct - 2) * HIST_SUB + (int)((v >> (oct - 3)) & (HIST_SUB - 1));
    return i < HIST_N ? i : HIST_N - 1;
}

static uint64_t hist_upper(int i)
{
    if (i < HIST_SUB)
        return (uint64_t)i + 1;
    int oct = i / HIST_SUB + 2, sub = i % HIST_SUB;
    return (uint64_t)(HIST_SUB + sub + 1) << (oct - 3);
}

static void record(silk_gcpace *g, int64_t ns, int64_t cpu)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    uint64_t c = cpu > 0 ? (uint64_t)cpu : 0;
    if (c > g->max_cpu_ns)
        g->max_cpu_ns = c;
    g->total_cpu_ns += c;
    if (c > (uint64_t)g->budget_ns)
        g->over_budget_cpu++;
    g->ring[g->slices % SILK_GC_RING] = v;
    g->slices++;
    g->hist[hist_index(v)]++;
    g->hist_cpu[hist_index(c)]++;
    g->total_ns += v;
    if (v > g->max_ns)
        g->max_ns = v;
    if (v > (uint64_t)g->budget_ns)
        g->over_budget++;
}

/* The upper edge of the bucket of `hist` holding quantile q, never above
 * `max`. */
static uint64_t hist_quantile(const uint64_t *hist, uint64_t max, double q)
{
    uint64_t n = 0, seen = 0;
    for (int i = 0; i < HIST_N; i++)
        n += hist[i];
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)n);
    if (rank >= n)
        rank = n - 1;
    for (int i = 0; i < HIST_N; i++) {
        seen += hist[i];
        if (seen > rank) {
            uint64_t u = hist_upper(i);
            return u < max ? u : max;
        }
    }
    return max;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* --- the goal ------------------------------------------------------------------ */

/* Goal and trigger from the live heap, the pause and the limit. */
static void set_goal(silk_gcpace *g)
{
    size_t live = g->live;
    size_t goal = live + live / 100 * (size_t)g->cfg.pause;
    if (goal < g->cfg.floor)
        goal = g->cfg.floor;
    size_t limit = g->cfg.heap_limit;
    if (limit) {
        size_t cap = limit - limit / 16;
        if (goal > cap)
            /* Near the limit the goal comes down to it; with the live heap
             * above it, keep a sliver of headroom: collection is then
             * continuous, and emergencies are spaced (see gcpace.h). */
            goal = cap > live + live / 16 ? cap : live + live / 16;
    }
    g->goal = goal;
    g->trigger = live + (goal - live) / 2;
}

/* Whether the next call may run the atomic phase: the cycle is marking
 * and has done three quarters of the last cycle's mark work. The API does
 * not tell the phase; the sweep's start is seen afterwards (gc_call). */
static int atomic_ahead(const silk_gcpace *g)
{
    return g->in_cycle && !g->sweeping && g->cycle_done >= g->mark_work * 3 / 4;
}

/* The cost of one step of the call to come. A sweep step costs 10-100
 * times a mark step (it frees up to 200 objects or string chains; a mark
 * step traverses about 2 KB of live objects). Calls that may run into the
 * atomic phase are sized as sweep steps too, so that the call that does
 * carries few steps into the sweep behind it. Sized as mark steps, that
 * call ran a millisecond of sweeping (bench/gc, 1 000 tasks). */
static double step_cost(const silk_gcpace *g)
{
    return g->sweeping || atomic_ahead(g) ? g->sweep_ns : g->step_ns;
}

/* Whether slices run regardless of debt: behind the goal, or marking. The
 * atomic phase re-traverses, in one piece, every object the program
 * allocated during the mark phase and stored into an already marked table
 * or a live coroutine's stack (LuaJIT's back barrier puts the table on the
 * atomic phase's list). Marked at the pace of allocation, the mark phase
 * spans most of a cycle's allocation and the atomic phase then traverses
 * most of what the program keeps (bench/gc, 1 000 tasks: 0.4-1.5 ms CPU
 * instead of 0.1-0.3). So marking runs at every check, in short slices,
 * and the sweep, which frees and so can wait, is paced. */
static int urgent(const silk_gcpace *g)
{
    return g->behind || (g->in_cycle && !g->sweeping);
}

/* Where the next assist is due, in KB of heap (see silk_gcpace_assist):
 * when the debt reaches ASSIST_NS worth of steps, at once when urgent. */
static void set_assist_mark(silk_gcpace *g)
{
    size_t at;
    if (!g->in_cycle) {
        at = g->trigger < g->goal ? g->trigger : g->goal;
    } else if (urgent(g)) {
        at = g->last_heap;
    } else {
        double need = ASSIST_NS / step_cost(g) - g->debt;
        at = g->last_heap + (need > 0 ? (size_t)(need / g->ratio) : 0);
    }
    if (g->cfg.heap_limit && at > g->cfg.heap_limit)
        at = g->cfg.heap_limit;
    g->assist_kb = at >> 10;
}

/* The assist ratio, like Go's: the work left over the room left before the
 * goal. It rises as the heap nears the goal with work outstanding, so a
 * cycle that started late or was underestimated speeds up. The work left is
 * never taken below an eighth of a cycle (the estimate may be short), the
 * room never below an eighth of the goal's headroom (past the goal the
 * slices use the whole budget anyway). */
static void set_ratio(silk_gcpace *g, size_t heap)
{
    double left = g->cycle_work - g->cycle_done;
    if (left < g->cycle_work / 8)
        left = g->cycle_work / 8;
    size_t room = g->goal > heap ? g->goal - heap : 0;
    size_t min_room = (g->goal - g->live) / 8;
    if (min_room < MIN_RUNWAY)
        min_room = MIN_RUNWAY;
    if (room < min_room)
        room = min_room;
    g->ratio = left / (double)room;
}

static void begin_cycle(silk_gcpace *g, size_t heap)
{
    g->in_cycle = 1;
    g->cycle_alloc = 0;
    g->cycle_done = 0;
    g->debt = 0;
    g->sweeping = 0;
    set_ratio(g, heap);
    g->spike_ns = 0;
    g->call_max_ns = 0;
}

/* A cycle completed: the heap now is the live heap (plus what was
 * allocated during the cycle, as in LuaJIT's own estimate). */
static void end_cycle(silk_gcpace *g, int paced)
{
    size_t heap = heap_bytes(g->L);
    g->cycles++;
    g->live = heap;
    if (paced) {
        /* What the cycle allocated survives it (objects made during the
         * sweep are not swept) but is mostly short-lived: counting it as
         * live would raise the goal, lengthen the next cycle, and feed
         * back. Take it out, floored at a quarter of the heap (a floor above
         * 1/(1 + pause/100) of it would feed back into growth). */
        size_t est = heap > g->cycle_alloc ? heap - g->cycle_alloc : 0;
        g->live = est > heap / 4 ? est : heap / 4;
        if (g->cycle_done >= 1)
            g->cycle_work = g->cycle_done;
    }
    g->in_cycle = 0;
    g->spike_prev_ns = g->spike_ns;
    g->last_max_step_ns = g->call_max_ns;
    set_goal(g);
}

/* Adds the growth since the last look to the allocation counters. */
static size_t account(silk_gcpace *g)
{
    size_t heap = heap_bytes(g->L);
    if (heap > g->last_heap) {
        size_t d = heap - g->last_heap;
        g->allocated += d;
        if (g->in_cycle) {
            g->cycle_alloc += d;
            g->debt += (double)d * g->ratio;
        }
    }
    g->last_heap = heap;
    if (heap > g->heap_peak)
        g->heap_peak = heap;
    return heap;
}

/* --- the slice ----------------------------------------------------------------- */

/* Moves a per-step cost estimate towards `per`: rise at once, fall
 * slowly, so that calls err on the short side. A rise is clipped to 4x:
 * one slow call (an atomic phase, a big table) must not make every call
 * tiny. */
static void learn(double *est, double per)
{
    if (per > *est)
        *est = per < 4 * *est ? per : 4 * *est;
    else
        *est = 0.95 * *est + 0.05 * per;
    if (*est < 20)
        *est = 20;
}

/* One LUA_GCSTEP call of `steps` steps, GCSTOP re-issued after it. Returns
 * 1 if it completed a cycle. Learns the step costs, the spikes and where
 * the sweep begins: the first call after which the heap is smaller. Before
 * the sweep the collector frees nothing but a coroutine stack it shrinks
 * now and then (a grown one, seen in the second cycle of bench/gc), which
 * could pass for the sweep's start. So a call that freed memory starts the
 * sweep only if it took longer than expected (the atomic phase is in it)
 * or the last cycle's mark work is done; and the sweep cost is learnt only
 * from calls that freed memory, which mark steps do not. */
static int gc_call(silk_gcpace *g, lua_State *L, int steps)
{
    size_t h0 = heap_bytes(L);
    double expect = step_cost(g) * steps;
    int64_t t0 = now_ns();
    int done = lua_gc(L, LUA_GCSTEP, steps - 1);
    lua_gc(L, LUA_GCSTOP, 0);
    int64_t dt = now_ns() - t0;
    if (dt > g->call_max_ns)
        g->call_max_ns = dt;
    if (dt - (int64_t)expect > g->spike_ns)
        g->spike_ns = dt - (int64_t)expect;
    g->cycle_done += steps;
    g->debt -= steps;
    if (done)
        return 1;
    int freed = heap_bytes(L) < h0;
    if (g->sweeping) {
        if (freed)
            learn(&g->sweep_ns, (double)dt / steps);
    } else if (freed && (dt > (int64_t)expect || g->cycle_done >= g->mark_work)) {
        /* This call crossed from marking into the sweep: its time is
         * neither phase's. */
        g->sweeping = 1;
        g->mark_work = g->cycle_done;
    } else {
        learn(&g->step_ns, (double)dt / steps);
    }
    return 0;
}

/* A paced slice: pay the debt (all the slice allows when urgent). Behind
 * the goal a slice may use the whole budget but one call. Otherwise it ends at a
 * quarter of it, so that most pauses stay well under the budget, and the
 * collector keeps up by running more slices (every check while urgent);
 * at half of it when the debt would not fit in a quarter (a task
 * resumption allocated a lot, and slices run no more often than between
 * resumptions: with quarter slices an allocation storm's heap peak rose
 * from 3.0 to 3.2-3.5 x its live heap). Behind, or with the atomic phase
 * ahead, the slice keeps back the largest unsplittable overhang seen
 * lately (up to 3/4 of the slice): the atomic phase then lands in a slice
 * that did little else. */
static void paced_slice(silk_gcpace *g, lua_State *L, int64_t t0)
{
    int64_t len = g->budget_ns / 4;
    if (g->behind)
        len = g->budget_ns - CHUNK_NS;   /* the last call may overrun its estimate */
    else if (g->debt * step_cost(g) > (double)len)
        len = g->budget_ns / 2;
    if (g->behind || atomic_ahead(g)) {
        int64_t reserve = g->spike_ns > g->spike_prev_ns ? g->spike_ns : g->spike_prev_ns;
        len -= reserve < len * 3 / 4 ? reserve : len * 3 / 4;
    }
    int64_t end = t0 + len;
    for (int calls = 0;; calls++) {
        if (calls > 0 && !urgent(g) && g->debt < 1)
            break;
        int64_t left = end - now_ns();
        if (left <= 0 && calls > 0)
            break;
        double n = (double)(left < CHUNK_NS ? left : CHUNK_NS) / step_cost(g);
        if (!urgent(g) && g->debt < n)
            n = g->debt;
        int steps = n < 1 ? 1 : n > MAX_CALL_STEPS ? MAX_CALL_STEPS : (int)n;
        if (gc_call(g, L, steps)) {
            end_cycle(g, 1);
            break;
        }
    }
}

/* What one profiled cycle saw. */
typedef struct {
    int64_t steps, total_ns;
    int64_t max_ns, max_at;       /* the longest step and its number (from 1) */
    int64_t at_ns;                /* the time of step number `evict_at` */
} profile;

/* Runs one whole cycle, from its start, in the smallest steps, timed with
 * `clock`. Before step number `evict_at` (0: none) it writes over
 * g->prof_evict, so that the step finds the heap in memory, not in the
 * caches, as it does when the program ran in between. */
static void profile_run(silk_gcpace *g, lua_State *L, int64_t (*clock)(void), int64_t evict_at,
                        profile *p)
{
    memset(p, 0, sizeof *p);
    int64_t t0 = clock();
    for (int done = 0; !done;) {
        if (++p->steps == evict_at)
            memset(g->prof_evict, (int)p->steps, PROFILE_EVICT);
        int64_t s = clock();
        done = lua_gc(L, LUA_GCSTEP, 0);
        lua_gc(L, LUA_GCSTOP, 0);
        int64_t dt = clock() - s;
        if (dt > p->max_ns) {
            p->max_ns = dt;
            p->max_at = p->steps;
        }
        if (p->steps == evict_at)
            p->at_ns = dt;
    }
    p->total_ns = clock() - t0;
}

static int slice_body(lua_State *L)
{
    silk_gcpace *g = lua_touserdata(L, 1);
    switch (g->kind) {
    case SLICE_PACED:
        paced_slice(g, L, now_ns());
        break;
    case SLICE_FULL:
    case SLICE_EMERGENCY:
        lua_gc(L, LUA_GCCOLLECT, 0);
        lua_gc(L, LUA_GCSTOP, 0);
        end_cycle(g, 0);
        break;
    case SLICE_PROFILE: {
        lua_gc(L, LUA_GCCOLLECT, 0);               /* from a cycle boundary */
        lua_gc(L, LUA_GCSTOP, 0);
        g->in_cycle = 1;
        /* Nothing allocates in between, so the three cycles do the same
         * work in the same steps. The first gives the cycle's time (the
         * monotonic clock is cheap to read); the second finds the longest
         * step in thread CPU time (dearer to read, but a preempted step on a
         * shared machine does not pass for the atomic phase); the third
         * runs that step again, cold. */
        profile whole, warm, cold;
        profile_run(g, L, now_ns, 0, &whole);
        profile_run(g, L, cpu_ns, 0, &warm);
        if (g->prof_evict) {
            profile_run(g, L, cpu_ns, warm.max_at, &cold);
            g->prof_cold = cold.at_ns;
        }
        g->prof_max = warm.max_ns;
        g->prof_total = whole.total_ns;
        g->prof_steps = whole.steps;
        g->call_max_ns = g->prof_max;
        end_cycle(g, 0);
        break;
    }
    }
    return 0;
}

/* Runs one slice of `kind` on thread L, protected, and records it. */
static int run_slice(silk_gcpace *g, lua_State *L, enum slice_kind kind)
{
    int64_t t0 = now_ns(), c0 = cpu_ns();
    g->kind = kind;
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->body_ref);
    lua_pushlightuserdata(L, g);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != 0) {
        /* A __gc raised (or memory ran out inside one): the collector's
         * state is consistent, the slice just ends early. */
        fprintf(stderr, "silk: gc: error in a finalizer: %s\n",
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
        lua_pop(L, 1);
        lua_gc(L, LUA_GCSTOP, 0);
        g->fin_errors++;
    }
    int64_t t1 = now_ns();
    if (kind != SLICE_PROFILE)
        record(g, t1 - t0, cpu_ns() - c0);
    g->last_heap = heap_bytes(g->L);
    if (g->debt < 0)
        g->debt = 0;
    g->behind = g->in_cycle && g->last_heap >= g->goal;
    if (g->in_cycle)
        set_ratio(g, g->last_heap);
    set_assist_mark(g);
    return rc == 0 ? 0 : -1;
}

/* Decides what is due with the heap at `heap` (already accounted) and runs
 * it. `assist`: called between task resumptions. */
static int maybe_slice(silk_gcpace *g, size_t heap, int assist)
{
    size_t limit = g->cfg.heap_limit;
    if (limit && heap > limit && heap >= g->emergency_mark) {
        g->emergencies++;
        run_slice(g, g->L, SLICE_EMERGENCY);
        /* If the live heap itself is above the limit, the next emergency
         * waits for a quarter of it (or limit/8) to be allocated. */
        g->emergency_mark = g->last_heap + (limit / 8 > g->last_heap / 4 ? limit / 8 : g->last_heap / 4);
        return 1;
    }
    if (!g->in_cycle) {
        if (heap < g->trigger)
            return 0;
        begin_cycle(g, heap);
    }
    g->behind = heap >= g->goal;
    if (!urgent(g) && g->debt < (assist ? ASSIST_NS / step_cost(g) : 1)) {
        set_assist_mark(g);
        return 0;
    }
    if (assist)
        g->assists++;
    run_slice(g, g->L, SLICE_PACED);
    return 1;
}

/* Undoes a collectgarbage("restart"/"step"/"collect") from Lua code. */
static void keep_stopped(silk_gcpace *g)
{
    if (lua_gc(g->L, LUA_GCISRUNNING, 0))
        lua_gc(g->L, LUA_GCSTOP, 0);
}

/* --- public -------------------------------------------------------------------- */

static void apply_config(silk_gcpace *g, const silk_gcpace_config *c)
{
    silk_gcpace_config d = {SILK_GC_DEFAULT_BUDGET, 0, SILK_GC_DEFAULT_PAUSE, SILK_GC_DEFAULT_FLOOR};
    if (c) {
        if (c->budget > 0)
            d.budget = c->budget;
        d.heap_limit = c->heap_limit;
        if (c->pause >= 0)
            d.pause = c->pause;
        if (c->floor > 0)
            d.floor = c->floor;
    }
    g->cfg = d;
    g->budget_ns = (int64_t)(d.budget * 1e9);
    if (g->budget_ns < 1000)
        g->budget_ns = 1000;
    set_goal(g);
    set_assist_mark(g);
}

silk_gcpace *silk_gcpace_new(lua_State *L, const silk_gcpace_config *c)
{
    silk_gcpace *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->L = L;
    lua_pushcfunction(L, slice_body);
    g->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_gc(L, LUA_GCSTOP, 0);
    g->lj_pause = lua_gc(L, LUA_GCSETPAUSE, NO_REARM_PAUSE);
    g->created_ns = now_ns();
    g->step_ns = INIT_STEP_NS;
    g->sweep_ns = INIT_SWEEP_NS;
    g->last_heap = g->heap_peak = heap_bytes(L);
    g->live = g->last_heap;
    g->cycle_work = (double)g->live / 1024 + 16;   /* refined after the first cycle */
    apply_config(g, c);
    return g;
}

void silk_gcpace_free(silk_gcpace *g)
{
    if (!g)
        return;
    luaL_unref(g->L, LUA_REGISTRYINDEX, g->body_ref);
    lua_gc(g->L, LUA_GCSETPAUSE, g->lj_pause);
    lua_gc(g->L, LUA_GCRESTART, 0);
    free(g);
}

void silk_gcpace_configure(silk_gcpace *g, const silk_gcpace_config *c)
{
    if (!g)
        return;
    apply_config(g, c);
    g->emergency_mark = 0;
}

void silk_gcpace_config_get(silk_gcpace *g, silk_gcpace_config *out)
{
    if (g)
        *out = g->cfg;
    else
        memset(out, 0, sizeof *out);
}

int silk_gcpace_slice(silk_gcpace *g)
{
    if (!g)
        return 0;
    keep_stopped(g);
    return maybe_slice(g, account(g), 0);
}

int silk_gcpace_assist(silk_gcpace *g)
{
    if (!g)
        return 0;
    keep_stopped(g);
    if ((size_t)lua_gc(g->L, LUA_GCCOUNT, 0) < g->assist_kb)
        return 0;
    return maybe_slice(g, account(g), 1);
}

int silk_gcpace_step(silk_gcpace *g, lua_State *L)
{
    if (!g)
        return 0;
    size_t heap = account(g);
    if (!g->in_cycle)
        begin_cycle(g, heap);
    g->behind = 1;                       /* use the whole budget */
    return run_slice(g, L, SLICE_PACED);
}

int silk_gcpace_full(silk_gcpace *g, lua_State *L)
{
    if (!g)
        return 0;
    account(g);
    return run_slice(g, L, SLICE_FULL);
}

void silk_gcpace_profile_cycle(silk_gcpace *g, lua_State *L, uint64_t *max_step_ns,
                               uint64_t *total_ns, uint64_t *steps, uint64_t *cold_ns)
{
    *max_step_ns = *total_ns = *steps = *cold_ns = 0;
    if (!g)
        return;
    account(g);
    g->prof_max = g->prof_total = g->prof_steps = g->prof_cold = 0;
    g->prof_evict = malloc(PROFILE_EVICT);  /* NULL: no cold figure */
    run_slice(g, L, SLICE_PROFILE);
    free(g->prof_evict);
    g->prof_evict = NULL;
    *max_step_ns = (uint64_t)g->prof_max;
    *total_ns = (uint64_t)g->prof_total;
    *steps = (uint64_t)g->prof_steps;
    *cold_ns = (uint64_t)g->prof_cold;
}

void silk_gcpace_get_stats(silk_gcpace *g, silk_gcpace_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!g)
        return;
    s->slices = g->slices;
    s->cycles = g->cycles;
    s->emergencies = g->emergencies;
    s->over_budget = g->over_budget;
    s->assists = g->assists;
    s->finalizer_errors = g->fin_errors;
    s->p50_ns = hist_quantile(g->hist, g->max_ns, 0.50);
    s->p99_ns = hist_quantile(g->hist, g->max_ns, 0.99);
    s->p999_ns = hist_quantile(g->hist, g->max_ns, 0.999);
    s->p99_cpu_ns = hist_quantile(g->hist_cpu, g->max_cpu_ns, 0.99);
    s->p999_cpu_ns = hist_quantile(g->hist_cpu, g->max_cpu_ns, 0.999);
    s->max_ns = g->max_ns;
    s->max_cpu_ns = g->max_cpu_ns;
    s->over_budget_cpu = g->over_budget_cpu;
    uint64_t r[SILK_GC_RING];
    int n = silk_gcpace_recent(g, r);
    if (n > 0) {
        qsort(r, (size_t)n, sizeof *r, cmp_u64);
        s->recent_p50_ns = r[(n - 1) / 2];
        s->recent_p99_ns = r[(n * 99 + 99) / 100 - 1];
        s->recent_max_ns = r[n - 1];
    }
    s->total_ns = g->total_ns;
    s->total_cpu_ns = g->total_cpu_ns;
    s->last_max_step_ns = (uint64_t)g->last_max_step_ns;
    int64_t wall = now_ns() - g->created_ns;
    s->cpu_share = wall > 0 ? (double)g->total_ns / (double)wall : 0;
    s->step_ns = g->step_ns;
    s->sweep_step_ns = g->sweep_ns;
    s->heap = heap_bytes(g->L);
    s->heap_peak = g->heap_peak > s->heap ? g->heap_peak : s->heap;
    s->live = g->live;
    s->goal = g->goal;
    s->trigger = g->trigger;
    s->heap_limit = g->cfg.heap_limit;
    s->allocated = g->allocated;
    s->budget = g->cfg.budget;
    s->pause = g->cfg.pause;
    s->in_cycle = g->in_cycle;
}

int silk_gcpace_recent(silk_gcpace *g, uint64_t out[SILK_GC_RING])
{
    if (!g)
        return 0;
    int n = g->slices < SILK_GC_RING ? (int)g->slices : SILK_GC_RING;
    uint64_t first = g->slices - (uint64_t)n;
    for (int i = 0; i < n; i++)
        out[i] = g->ring[(first + (uint64_t)i) % SILK_GC_RING];
    return n;
}

void silk_gcpace_histogram(silk_gcpace *g, void (*fn)(void *ud, uint64_t upper_ns, uint64_t n),
                           void *ud)
{
    if (!g)
        return;
    for (int i = 0; i < HIST_N; i++)
        if (g->hist[i])
            fn(ud, hist_upper(i), g->hist[i]);
}

void silk_gcpace_reset_stats(silk_gcpace *g)
{
    if (!g)
        return;
    g->slices = g->emergencies = g->over_budget = g->assists = g->fin_errors = 0;
    g->total_ns = g->max_ns = 0;
    g->max_cpu_ns = g->over_budget_cpu = g->total_cpu_ns = 0;
    g->cycles = 0;
    g->heap_peak = heap_bytes(g->L);
    g->created_ns = now_ns();
    memset(g->ring, 0, sizeof g->ring);
    memset(g->hist, 0, sizeof g->hist);
    memset(g->hist_cpu, 0, sizeof g->hist_cpu);
}
