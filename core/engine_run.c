/*
 * engine_run.c -- an engine made ready to run, the run of its main task,
 * signals and grace periods, and the end of a run (leaks, deadlocks); see
 * engine_run.h.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <luajit.h>

#include "engine_int.h"
#include "engine_run.h"
#include "gcpace.h"
#include "preempt.h"
#include "task_int.h"
#include "track.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

int silk_engine_signal(silk_engine *e) { return e->signal; }
int silk_engine_hard_stopped(silk_engine *e) { return e->hard_stop; }

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

/* --- watchers -------------------------------------------------------------- */

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    silk_engine *e = container_of(w, silk_engine, sched_prepare);
    silk_gcpace_slice(e->gc);             /* no-op unless GC work is due */
    silk_engine_refill_reserve(e);        /* spent by a refusal outside tasks: take it back */
    if (silk_task_run(e, SILK_SCHED_BUDGET) > 0)
        return;                           /* the idle watcher keeps the poll from blocking */
    if (ev_is_active(&e->sched_idle))
        ev_idle_stop(loop, &e->sched_idle);
    if (e->polling)
        e->polling(e);
    /* A run ends when the main task has returned and nothing is runnable;
     * a shutdown or a drain ends when no task is left (or at its grace). */
    if (e->stopping ? e->sched->all.n == 0 : e->sched->main == NULL)
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
                name, e->sched->all.n, e->sched->all.n == 1 ? "" : "s", e->opts.grace);
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
    silk_engine *e = silk_engine_create(o);
    if (!e)
        return NULL;
    lua_State *L = e->L;
    if (silk_task_sched_new(e) != 0) {
        fprintf(stderr, "silk: out of memory\n");
        silk_engine_close_lua(e);
        free(e);
        return NULL;
    }
    e->shutdown_ref = LUA_NOREF;
    e->interrupt_ref = LUA_NOREF;
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

void silk_engine_free(silk_engine *e)
{
    if (!e)
        return;
    silk_engine_stop_services(e);
    silk_preempt_stop(e);
    silk_gcpace_free(e->gc);
    silk_engine_close_lua(e);
    silk_task_engine_free(e);
    /* Watchers were unref'd when started: restore the counts before stopping. */
    ev_ref(e->loop);
    ev_prepare_stop(e->loop, &e->sched_prepare);
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
    int n = e->sched->all.n;
    if (n == 0)
        return 0;
    fprintf(stderr, "silk: %s: %d task%s still alive\n\n", what, n, n == 1 ? "" : "s");
    silk_task_dump(e, stderr);
    return n;
}

/* Cancels what is left and lets it unwind for at most the grace period. */
static void drain(silk_engine *e, const char *reason)
{
    if (e->sched->all.n == 0)
        return;
    silk_task_cancel_all(e, reason);
    if (!e->stopping)
        start_grace(e);
    ev_run(e->loop, 0);
}

silk_outcome silk_engine_run_main(silk_engine *e, int nargs, const char *name)
{
    lua_State *L = e->L;
    e->sched->main = silk_task_spawn(e, L, nargs, name, 0);
    lua_pushvalue(L, -1);
    int main_ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* keep the handle for its result */
    silk_task *main = lua_touserdata(L, -1);
    lua_pop(L, 1);

    ev_run(e->loop, 0);
    /* A console line still running is the operator's, not a leak of the
     * script: cancel it and let it unwind (its client gets the error) before
     * looking for tasks still alive. One pass is enough: a cancelled task
     * cannot wait again, so the loop ends once nothing is runnable. */
    if (!e->hard_stop && !e->signal && !e->sched->main && silk_task_cancel_services(e, "the run ended") > 0)
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
    } else if (e->sched->main) {
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
    if (out == SILK_OK && e->sched->unobserved_failures > 0) {
        fprintf(stderr, "silk: %ld task%s failed and nobody joined %s (reported above)\n",
                e->sched->unobserved_failures, e->sched->unobserved_failures == 1 ? "" : "s",
                e->sched->unobserved_failures == 1 ? "it" : "them");
        out = SILK_FAILED;
    }
    /* What a service closed for a task (a page left open) is the script's
     * leak all the same; idle keep-alive connections, pooled handles,
     * parse workers and browsers are not. */
    if (silk_engine_report_services(e, stderr, "silk: leak: ") && out == SILK_OK && !e->opts.allow_leaks)
        out = SILK_LEAKED;
    silk_engine_stop_services(e);
    /* Unreachable documents and handles are not leaks: collect them first
     * (twice: finalisers may release more). A compiled trace keeps the
     * closures it was specialised on as constants, and with them whatever
     * their upvalues hold, until the trace is flushed: flush first, or a
     * page's document held by a spent closure passes for a leak. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
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
