/*
 * engine.c -- the loop, the Lua state, the scheduler's watchers, signals,
 * and the end of a run (leaks, deadlocks, grace periods); see engine.h.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "silk_config.h"
#include "engine_int.h"
#include "gcpace.h"
#include "lapi.h"
#include "preempt.h"
#include "task_int.h"
#include "track.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static const char engine_key = 0;   /* registry: light userdata -> the engine */


double silk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void silk_engine_defaults(silk_engine_options *o)
{
    memset(o, 0, sizeof *o);
    o->grace = 5.0;
    o->preempt = 1;
    o->slice = 0.002;
    o->gc_pacer = 1;
    o->gc_budget = SILK_GC_DEFAULT_BUDGET;
    o->gc_pause = SILK_GC_DEFAULT_PAUSE;
}

const char *silk_engine_libev_version(void)
{
    static char v[32];
    snprintf(v, sizeof v, "%d.%d", ev_version_major(), ev_version_minor());
    return v;
}

silk_engine *silk_engine_from(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&engine_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    silk_engine *e = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return e;
}

lua_State *silk_engine_lua(silk_engine *e) { return e->L; }
struct ev_loop *silk_engine_loop(silk_engine *e) { return e->loop; }
const silk_engine_options *silk_engine_opts(silk_engine *e) { return &e->opts; }
int silk_engine_signal(silk_engine *e) { return e->signal; }
int silk_engine_hard_stopped(silk_engine *e) { return e->hard_stop; }
int silk_engine_exit_code(silk_engine *e) { return e->exit_code; }
void silk_engine_set_exit_code(silk_engine *e, int code) { e->exit_code = code; }

void silk_engine_on_shutdown(silk_engine *e, lua_State *L, int idx)
{
    luaL_unref(L, LUA_REGISTRYINDEX, e->shutdown_ref);
    lua_pushvalue(L, idx);
    e->shutdown_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void silk_engine_on_interrupt(silk_engine *e, lua_State *L, int idx)
{
    luaL_unref(L, LUA_REGISTRYINDEX, e->interrupt_ref);
    lua_pushvalue(L, idx);
    e->interrupt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void silk_engine_kick(silk_engine *e)
{
    if (!ev_is_active(&e->sched_idle))
        ev_idle_start(e->loop, &e->sched_idle);
}

/* --- the Lua heap ---------------------------------------------------------- */

/* Address space held back (mapped, never touched: no memory) for the
 * allocations the engine makes outside every task when the system refuses
 * one (an address-space limit, ulimit -v). */
#define MEM_RESERVE (64u << 20)

static void mem_reserve(silk_engine *e)
{
    void *p = mmap(NULL, MEM_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    e->mem_reserve = p == MAP_FAILED ? NULL : p;
}

/* The state's lua_Alloc, around LuaJIT's own (much faster than malloc for
 * its small objects: the GC's sweep took 2-5x longer on glibc's free), with
 * per-task accounting: the bytes the heap grows by while a task runs
 * (e->current) are its own.
 *
 * A task that takes the heap past --max-memory, or whose allocation the
 * system refuses, is marked (mem_over) and ends with a `memory` error at
 * its next safe point: preempt.c's tick stops it within about a millisecond
 * of CPU, like a deadline, and task.c fails it when it yields or returns
 * first (whatever it caught meanwhile). The allocation itself is granted
 * rather than refused because LuaJIT cannot raise "not enough memory"
 * safely from every point of compiled code: with the line-mode profiler
 * that preemption needs, a refusal inside a trace (tostring in a loop)
 * crashes the VM. So a refusal is kept for what the margin cannot absorb:
 * one allocation bigger than a quarter of the cap that would cross it
 * (string.rep, table.concat, a huge resize), made from a C function, where
 * LuaJIT raises the error cleanly, and a system refusal once the reserve is
 * spent. Without preemption (--no-preempt: no profiler, and nothing would
 * stop the task) every allocation past the cap is refused.
 *
 * Outside every task the engine's own C code calls the Lua API unprotected
 * (loop callbacks pushing wake values, ending tasks, spawning signal
 * handlers), where a failure would reach LuaJIT's panic handler: the cap
 * does not apply there. A system refusal, inside a task or not, first gives
 * back the reserve and tries again; the loop takes the reserve back once
 * it can. */
static void *lua_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    silk_engine *e = ud;
    if (!p)
        osize = 0;
    if (nsize == 0) {
        e->mem_f(e->mem_ud, p, osize, 0);
        e->mem_used -= osize;
        return NULL;
    }
    silk_task *t = e->current;
    size_t grow = nsize > osize ? nsize - osize : 0;
    int over = t && grow && e->mem_cap && e->mem_used + grow > e->mem_cap;
    if (over && (!e->mem_deferred || grow > e->mem_cap / 4))
        goto refuse;
    void *q = e->mem_f(e->mem_ud, p, osize, nsize);
    if (!q && e->mem_reserve) {
        munmap(e->mem_reserve, MEM_RESERVE);
        e->mem_reserve = NULL;
        q = e->mem_f(e->mem_ud, p, osize, nsize);
        if (t) {
            over = 1;
            t->mem_system = 1;
        }
    }
    if (!q)
        goto refuse;
    e->mem_used = e->mem_used - osize + nsize;
    if (t) {
        t->allocated += grow;
        if (over && !t->mem_over) {
            t->mem_over = 1;
            e->mem_collect = 1;
        }
    }
    return q;
refuse:
    if (t) {
        e->mem_refused = nsize;
        t->mem_system |= !over;
        t->mem_over = 1;
        e->mem_collect = 1;
    }
    return NULL;
}

/* Outside every task a failure can still happen once the reserve is spent:
 * say what it was rather than LuaJIT's "unprotected error". */
static int on_panic(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    fprintf(stderr, "silk: fatal: %s outside any task (Lua heap %.1f MB); stopping\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "error",
            e ? (double)e->mem_used / (1 << 20) : 0.0);
    fflush(stderr);
    _exit(1);
}

/* --- finding lua/silk ------------------------------------------------------ */

static int has_silk_init(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/silk/init.lua", dir);
    return stat(path, &st) == 0;
}

/* SILK_LUA_DIR, else <exe's directory>/SILK_LUA_FROM_BIN (an installed
 * binary, whatever the prefix: ../share/silk/lua), else the source tree the
 * binary was built from, else the configured install directory. */
static void find_lua_dir(char *out, size_t len)
{
    const char *env = getenv("SILK_LUA_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%s/%s", exe, SILK_LUA_FROM_BIN);
            char real[PATH_MAX];
            if (has_silk_init(out) && realpath(out, real)) {
                snprintf(out, len, "%s", real);
                return;
            }
        }
    }
    if (has_silk_init(SILK_SOURCE_LUA_DIR)) {
        snprintf(out, len, "%s", SILK_SOURCE_LUA_DIR);
        return;
    }
    snprintf(out, len, "%s", SILK_LUA_INSTALL_DIR);
}

static void set_package_path(silk_engine *e)
{
    lua_State *L = e->L;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", e->lua_dir, e->lua_dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* --- watchers -------------------------------------------------------------- */

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    /* Only here to keep the loop from blocking; the prepare phase runs tasks. */
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    silk_engine *e = container_of(w, silk_engine, sched_prepare);
    silk_gcpace_slice(e->gc);             /* no-op unless GC work is due */
    if (!e->mem_reserve)
        mem_reserve(e);                   /* spent by a refusal outside tasks: take it back */
    if (silk_task_run(e, SILK_SCHED_BUDGET) > 0)
        return;                           /* the idle watcher keeps the poll from blocking */
    if (ev_is_active(&e->sched_idle))
        ev_idle_stop(loop, &e->sched_idle);
    /* A run ends when the main task has returned and nothing is runnable;
     * a shutdown or a drain ends when no task is left (or at its grace). */
    if (e->stopping ? e->all.n == 0 : e->main == NULL)
        ev_break(loop, EVBREAK_ALL);
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_engine *e = container_of(w, silk_engine, grace_timer);
    /* A script that winds down by itself (silk run) was given the grace
     * period to reach its checkpoint; past it, cancelling its tasks would
     * only make them record half-finished work: stop at once instead, as a
     * second signal does. Tasks cancelled at the signal (no handler), and
     * the drains of silk_engine_run_main, carry on there. */
    if (e->signal && e->shutdown_ref != LUA_NOREF) {
        fprintf(stderr, "silk: the graceful stop did not end within the grace period (%.1fs): stopping at once\n",
                e->opts.grace);
        e->hard_stop = 1;
    }
    ev_break(loop, EVBREAK_ALL);
}

static void start_grace(silk_engine *e)
{
    e->stopping = 1;
    ev_timer_set(&e->grace_timer, e->opts.grace, 0);
    ev_timer_start(e->loop, &e->grace_timer);
    ev_unref(e->loop);                     /* it must not keep the loop alive */
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    silk_engine *e = w->data;
    const char *name = w->signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (w->signum == SIGINT && e->interrupt_ref != LUA_NOREF && !e->signal) {
        lua_State *L = e->L;             /* a REPL's Ctrl-C: its handler decides */
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->interrupt_ref);
        silk_task_spawn(e, L, 0, "interrupt", 0);
        lua_pop(L, 1);
        return;
    }
    if (e->signal) {                       /* a second one: stop now */
        e->hard_stop = 1;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    e->signal = w->signum;
    if (e->shutdown_ref != LUA_NOREF) {
        /* The script asked to wind down by itself (silk run drains its
         * crawl): run its handler as a task; cancel nothing yet. */
        fprintf(stderr, "silk: %s: stopping gracefully (grace %.1fs; again to stop now)\n",
                name, e->opts.grace);
        lua_State *L = e->L;
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->shutdown_ref);
        lua_pushstring(L, name);
        silk_task_spawn(e, L, 1, "shutdown", 0);
        lua_pop(L, 1);
    } else {
        fprintf(stderr, "silk: %s: cancelling %d task%s (grace %.1fs; again to stop now)\n",
                name, e->all.n, e->all.n == 1 ? "" : "s", e->opts.grace);
        silk_task_cancel_all(e, "shutdown");
    }
    start_grace(e);
}

static void on_dump_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    silk_engine *e = w->data;
    fprintf(stderr, "silk: SIGUSR1: task dump\n");
    silk_task_dump(e, stderr);
}

static void signal_watch(silk_engine *e, ev_signal *w, int signum, void (*cb)(struct ev_loop *, ev_signal *, int))
{
    ev_signal_init(w, cb, signum);
    w->data = e;
    ev_signal_start(e->loop, w);
    ev_unref(e->loop);                     /* signals alone do not keep a run going */
}

/* --- life ------------------------------------------------------------------ */

silk_engine *silk_engine_new(const silk_engine_options *o)
{
    silk_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->opts = *o;
    e->loop = ev_default_loop(EVFLAG_AUTO);
    if (!e->loop) {
        fprintf(stderr, "silk: cannot create the event loop\n");
        free(e);
        return NULL;
    }
    e->mem_cap = (size_t)o->max_memory;
    e->L = luaL_newstate();
    if (!e->L) {
        fprintf(stderr, "silk: cannot create the Lua state\n");
        free(e);
        return NULL;
    }
    lua_State *L = e->L;
    e->mem_f = lua_getallocf(L, &e->mem_ud);
    e->mem_used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
    lua_setallocf(L, lua_alloc, e);
    lua_atpanic(L, on_panic);
    mem_reserve(e);
    luaL_openlibs(L);
    lua_pushlightuserdata(L, (void *)&engine_key);
    lua_pushlightuserdata(L, e);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    e->anchors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    e->shutdown_ref = LUA_NOREF;
    e->interrupt_ref = LUA_NOREF;
    find_lua_dir(e->lua_dir, sizeof e->lua_dir);
    set_package_path(e);
    silk_lapi_preload(L);
    /* The task binding owns the handles' metatable; load it before the
     * first task exists. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "silk.core.task");
    lua_call(L, 1, 0);
    if (e->opts.gc_pacer) {
        /* Under a cap the collector must keep garbage well below it: a
         * refusal fails whichever task allocates, live data or not. */
        size_t limit = (size_t)e->opts.gc_heap_limit;
        if (e->mem_cap && (!limit || limit > e->mem_cap / 4 * 3))
            limit = e->mem_cap / 4 * 3;
        silk_gcpace_config gc = {e->opts.gc_budget, limit, e->opts.gc_pause, 0};
        e->gc = silk_gcpace_new(L, &gc);  /* NULL: LuaJIT's own collector carries on */
    }

    ev_prepare_init(&e->sched_prepare, on_prepare);
    ev_prepare_start(e->loop, &e->sched_prepare);
    ev_unref(e->loop);
    ev_idle_init(&e->sched_idle, on_idle);
    ev_init(&e->grace_timer, on_grace);
    signal_watch(e, &e->sig_int, SIGINT, on_stop_signal);
    signal_watch(e, &e->sig_term, SIGTERM, on_stop_signal);
    signal_watch(e, &e->sig_usr1, SIGUSR1, on_dump_signal);
    silk_preempt_watch_stops(e);          /* long C calls see a signal at once */

    if (e->opts.preempt && silk_preempt_start(e) != 0)
        fprintf(stderr, "silk: LuaJIT's profiler is in use: deadlines of running code are not enforced\n");
    else
        e->mem_deferred = e->opts.preempt;
    return e;
}

void *silk_engine_service(silk_engine *e, silk_service id)
{
    return e->services[id].p;
}

void silk_engine_set_service(silk_engine *e, silk_service id, void *p, silk_service_stop_fn stop)
{
    e->services[id].p = p;
    e->services[id].stop = stop;
    e->services[id].report = NULL;
}

void silk_engine_set_service_report(silk_engine *e, silk_service id, silk_service_report_fn report)
{
    e->services[id].report = report;
}

/* Asks the services for what they cleaned up after the script; the
 * number of lines written. */
static int report_services(silk_engine *e, FILE *out, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < SILK_SERVICE_COUNT_; i++)
        if (e->services[i].p && e->services[i].report)
            n += e->services[i].report(e->services[i].p, out, prefix);
    return n;
}

/* Stops the services in slot order. A slot is emptied after its stop
 * returns: a callback the stop runs (a transfer completed as cancelled)
 * that looks its service up finds the one being stopped, not a new one. */
static void stop_services(silk_engine *e)
{
    for (int i = 0; i < SILK_SERVICE_COUNT_; i++) {
        if (!e->services[i].p)
            continue;
        e->services[i].stop(e->services[i].p);
        e->services[i].p = NULL;
    }
}

void silk_engine_free(silk_engine *e)
{
    if (!e)
        return;
    stop_services(e);
    silk_preempt_stop(e);
    silk_gcpace_free(e->gc);
    /* LuaJIT releases its own allocator's memory whole only when it is
     * still the state's allocator at the close. */
    lua_setallocf(e->L, e->mem_f, e->mem_ud);
    lua_close(e->L);
    if (e->mem_reserve)
        munmap(e->mem_reserve, MEM_RESERVE);
    silk_task_engine_free(e);
    /* Watchers were unref'd when started: restore the counts before stopping. */
    ev_ref(e->loop);
    ev_prepare_stop(e->loop, &e->sched_prepare);
    ev_idle_stop(e->loop, &e->sched_idle);
    if (ev_is_active(&e->grace_timer)) {
        ev_ref(e->loop);
        ev_timer_stop(e->loop, &e->grace_timer);
    }
    silk_preempt_unwatch_stops(e);
    ev_signal *sigs[] = {&e->sig_int, &e->sig_term, &e->sig_usr1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        ev_ref(e->loop);
        ev_signal_stop(e->loop, sigs[i]);
    }
    free(e);
}

/* Tells what is left after the loop stopped; returns how many tasks. */
static int report_tasks(silk_engine *e, const char *what)
{
    int n = e->all.n;
    if (n == 0)
        return 0;
    fprintf(stderr, "silk: %s: %d task%s still alive\n\n", what, n, n == 1 ? "" : "s");
    silk_task_dump(e, stderr);
    return n;
}

/* Cancels what is left and lets it unwind for at most the grace period. */
static void drain(silk_engine *e, const char *reason)
{
    if (e->all.n == 0)
        return;
    silk_task_cancel_all(e, reason);
    if (!e->stopping)
        start_grace(e);
    ev_run(e->loop, 0);
}

silk_outcome silk_engine_run_main(silk_engine *e, int nargs, const char *name)
{
    lua_State *L = e->L;
    e->main = silk_task_spawn(e, L, nargs, name, 0);
    lua_pushvalue(L, -1);
    int main_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* keep the handle for its result */
    silk_task *main = lua_touserdata(L, -1);
    lua_pop(L, 1);

    ev_run(e->loop, 0);
    /* A console line still running is the operator's, not a leak of the
     * script: cancel it and let it unwind (its client gets the error) before
     * looking for tasks still alive. One pass is enough: a cancelled task
     * cannot wait again, so the loop ends once nothing is runnable. */
    if (!e->hard_stop && !e->signal && !e->main && silk_task_cancel_services(e, "the run ended") > 0)
        ev_run(e->loop, 0);

    silk_outcome out = SILK_OK;
    if (e->hard_stop) {
        report_tasks(e, "stopped at once");
        return SILK_SIGNALLED;            /* abandoned mid-wait: see silk_engine_hard_stopped */
    } else if (e->signal) {
        int left = report_tasks(e, "after the grace period");
        if (left)
            drain(e, "shutdown");
        /* A graceful stop that finished in time is a success (silk run: resumable). */
        out = e->shutdown_ref != LUA_NOREF && !left && main->state == SILK_TASK_DONE ? SILK_OK
                                                                                    : SILK_SIGNALLED;
    } else if (e->main) {
        fprintf(stderr, "silk: deadlock: every task waits on something that nothing can wake\n\n");
        silk_task_dump(e, stderr);
        drain(e, "deadlock");
        out = SILK_DEADLOCK;
    } else if (report_tasks(e, "leak: the main task returned")) {
        drain(e, "leaked");
        out = e->opts.allow_leaks ? SILK_OK : SILK_LEAKED;
    }

    if (main->state == SILK_TASK_FAILED) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, main_ref);
        silk_task_pushresult(main, L, lua_gettop(L));
        lua_getfield(L, -1, "kind");
        int ours = out != SILK_OK && lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "cancelled") == 0;
        lua_pop(L, 1);
        if (ours) {                       /* cancelled by the shutdown or drain reported above */
            lua_settop(L, 0);
            goto reported;
        }
        lua_getfield(L, -1, "traceback");
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, -3);
        lua_call(L, 1, 1);
        fprintf(stderr, "silk: %s\n%s\n", lua_tostring(L, -1),
                lua_isstring(L, -2) ? lua_tostring(L, -2) : "");
        lua_settop(L, 0);
        if (out == SILK_OK || out == SILK_LEAKED)
            out = SILK_FAILED;
    }
reported:
    luaL_unref(L, LUA_REGISTRYINDEX, main_ref);
    if (out == SILK_OK && e->unobserved_failures > 0) {
        fprintf(stderr, "silk: %ld task%s failed and nobody joined %s (reported above)\n",
                e->unobserved_failures, e->unobserved_failures == 1 ? "" : "s",
                e->unobserved_failures == 1 ? "it" : "them");
        out = SILK_FAILED;
    }
    /* What a service closed for a task (a page left open) is the script's
     * leak all the same; idle keep-alive connections, pooled handles,
     * parse workers and browsers are not. */
    if (report_services(e, stderr, "silk: leak: ") && out == SILK_OK && !e->opts.allow_leaks)
        out = SILK_LEAKED;
    stop_services(e);
    /* Unreachable documents and handles are not leaks: collect them first
     * (twice: finalisers may release more). */
    for (int i = 0; i < 2; i++) {
        if (e->gc)
            silk_gcpace_full(e->gc, L);   /* protected: a raising __gc is counted, not fatal */
        else
            lua_gc(L, LUA_GCCOLLECT, 0);
    }
    if (silk_track_report(stderr, "silk: leak: ") && out == SILK_OK && !e->opts.allow_leaks)
        out = SILK_LEAKED;
    return out;
}
