/*
 * preempt.c -- silk's tick, LuaJIT's profiler hook and the count hook that
 * interrupt running Lua code; see preempt.h for the mechanism and why it is
 * this one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <luajit.h>
#include <lauxlib.h>

#include "preempt.h"
#include "task_int.h"

#define DORMANT_COUNT 0x7fffffff
#define TICK_NS 1000000                   /* silk's tick: 1 ms of the monotonic clock */
#define TICK_SLOWEST 5                    /* backed off to at most 32 ms (see on_sigprof) */
#define WEDGED_NS 10000000000LL           /* stuck this long after a stop signal: exit (wedged_exit) */
#define SAMPLE_US 1000                    /* the flame-graph sampler: 1 ms of CPU */

static silk_engine *owner;                /* the engine holding the profiler */
static silk_preempt_sampler_fn sampler;
static void *sampler_ud;
static unsigned long ticks_seen;

/* The tick. Only the loop thread and its signal handler touch these. */
static timer_t tick_timer;
static int own_tick;                      /* 0: timer_create failed, the itimer ticks */
static volatile sig_atomic_t tick_armed;
static volatile sig_atomic_t tick_slow;   /* the period is TICK_NS << tick_slow */
static volatile sig_atomic_t callbacks;   /* profiler callbacks run (tick()) */
static volatile sig_atomic_t hook_wanted; /* tick() found the task due: arm the hook */
static sig_atomic_t callbacks_at_tick;    /* ... when the last tick was raised */
static long long stuck_ns;                /* tick periods since a callback last ran */
static unsigned stuck_ticks;              /* ticks since a callback last ran */
static void (*luajit_sigprof)(int);       /* the profiler's handler we run after ours */
static struct sigaction luajit_action;
/* SIGPROFs of the itimer since the last profiler callback: the flame
 * graph's samples. Any thread may take one: atomic. */
static int cpu_samples;
static const char pcall_key = 0, xpcall_key = 0;   /* registry: yieldable C functions */

unsigned long silk_preempt_ticks(void)
{
    return ticks_seen;
}

/* The profiler's own interval timer counts process CPU time; it runs only
 * while a flame graph samples (or when it is the tick, see own_tick). */
static void set_itimer(int on)
{
    struct itimerval tv = {{0, on ? SAMPLE_US : 0}, {0, on ? SAMPLE_US : 0}};
    setitimer(ITIMER_PROF, &tv, NULL);
}

void silk_preempt_sampler(silk_preempt_sampler_fn fn, void *ud)
{
    sampler = fn;
    sampler_ud = ud;
    __atomic_store_n(&cpu_samples, 0, __ATOMIC_RELAXED);
    if (owner && own_tick)
        set_itimer(fn != NULL);
}

static int is_key_fn(lua_State *L, int idx, const char *key)
{
    lua_pushlightuserdata(L, (void *)key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    int same = lua_rawequal(L, idx < 0 ? idx - 1 : idx, -1);
    lua_pop(L, 1);
    return same;
}

/* Whether the running code may be paused here. LuaJIT can yield across
 * pcall and xpcall but not across any other C function that calls back
 * into Lua. And for a time slice (`slicing`), silk's own Lua modules must
 * not be paused half-way: their state is shared between tasks (a sink's
 * buffer, the crawl's counters) and is written as if no other task ran in
 * between, which is the cooperative promise they are written against. A
 * deadline still ends a task anywhere. Walks the frames to see. */
static int can_yield_here(lua_State *L, silk_engine *e, int slicing)
{
    lua_Debug ar;
    size_t dirlen = strlen(e->lua_dir);
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sf", &ar))
            return 0;
        int ok = ar.what[0] != 'C' || is_key_fn(L, -1, &pcall_key) || is_key_fn(L, -1, &xpcall_key);
        lua_pop(L, 1);
        if (ok && slicing && ar.source[0] == '@' && strncmp(ar.source + 1, e->lua_dir, dirlen) == 0)
            ok = 0;
        if (!ok)
            return 0;
    }
    return 1;
}

/* Whether the running task has used up its slice: at least two ticks
 * within this resume, and either the slice's wall time has passed or a
 * waiting task's timer is due (so a sleeper wakes within a tick or two of
 * its time, not a slice). The ticks guarantee progress: when resuming
 * itself costs more wall time than a slice (under valgrind, or on a
 * machine that descheduled us), or timers are due all the time, a test of
 * the clock alone would pause the task again before its first
 * instruction, forever; a tick reaches the task only while it runs. */
static int slice_over(silk_task *t, silk_engine *e, double now)
{
    return t->ticks >= 2 && (now - t->since >= e->opts.slice || silk_task_wake_due(e, now));
}

/* The outermost frame that a running task must be interrupted for now:
 * any passed deadline, or a cancellation once the slice is used up. */
static silk_frame *due_frame(silk_task *t, double now, int slice_used)
{
    silk_frame *hit = NULL;
    for (silk_frame *f = t->frames; f; f = f->prev)
        if ((f->deadline > 0 && now >= f->deadline) || (f->cancelled && slice_used))
            hit = f;
    return hit;
}

/* Whether the function running at level 0 is one of silk's own Lua
 * modules. An interruption raised there could land between two steps that
 * must go together: with_timeout's own epilogue, between the protected call
 * returning and the frame being popped, would let its own timeout escape. */
static int in_library(lua_State *L, silk_engine *e)
{
    lua_Debug ar;
    if (!lua_getstack(L, 0, &ar) || !lua_getinfo(L, "S", &ar))
        return 0;
    return ar.source[0] == '@' && strncmp(ar.source + 1, e->lua_dir, strlen(e->lua_dir)) == 0;
}

static void hook(lua_State *L, lua_Debug *ar);

/* The count hook is set only while the running task is due (see tick()):
 * while one is set, the interpreter counts every instruction it runs.
 * Without a tick of our own it stays set, dormant, and tick() lowers its
 * count, because a hook set inside the profiler's callback loses its mask. */
static void arm_hook(lua_State *L)
{
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
}

static void disarm_hook(lua_State *L)
{
    if (own_tick)
        lua_sethook(L, NULL, 0, 0);
    else
        lua_sethook(L, hook, LUA_MASKCOUNT, DORMANT_COUNT);
}

/* Acts on the running task (preempt.h). Where it cannot act yet (silk's
 * own Lua is running, or no yield is possible here) it leaves hook_wanted
 * set, and every tick arms it again until it can. */
static void hook(lua_State *L, lua_Debug *ar)
{
    disarm_hook(L);
    silk_engine *e = owner;
    silk_task *t = e ? e->current : NULL;
    if (!t) {
        hook_wanted = 0;
        return;
    }
    if (in_library(L, e))
        return;                           /* the next tick will find user code */
    double now = silk_now();
    int slice_used = slice_over(t, e, now);
    int in_task = L == t->co;
    silk_frame *f = due_frame(t, now, slice_used);
    if (!t->mem.over && !f && !slice_used) {
        hook_wanted = 0;                  /* armed for a moment that has passed */
        return;
    }
    if (t->mem.over) {                    /* over the memory cap (engine.c): end it */
        if (in_task && can_yield_here(L, e, 0))
            lua_yield(L, 0);              /* task.c fails it with a `memory` error */
        lua_pushliteral(L, "not enough memory");
        lua_error(L);
    }
    if (f == &t->frame0 && in_task && can_yield_here(L, e, 0)) {
        hook_wanted = 0;
        t->kill = 1;
        lua_yield(L, 0);                  /* does not return */
    }
    if (f) {
        hook_wanted = 0;
        silk_task_pushinterrupt(t, L, NULL);
        lua_error(L);                     /* does not return */
    }
    if (slice_used && in_task && can_yield_here(L, e, 1)) {
        hook_wanted = 0;
        t->preempted = 1;
        lua_yield(L, 0);
    }
}

/* --- LuaJIT's dispatch table, kept in step -----------------------------------
 *
 * LuaJIT's interpreter runs each bytecode through a dispatch table that
 * lj_dispatch_update rewrites whenever the hooks it must honour change:
 * plain handlers, or hook handlers everywhere. The profiler's SIGPROF
 * handler calls it (to raise the profiler hook), and so does lua_sethook
 * from our own handler, while the loop thread calls it for itself (a trace
 * compiled, a hook taken off). The rewrite is not atomic: it records the
 * new mode first and then stores the table entry by entry, so a signal
 * landing in between leaves the table half one mode and half the other,
 * while the recorded mode says the rewrite is done. When the half that
 * stays plain holds every bytecode a loop uses, the profiler's pending hook
 * never runs: compiled code exits at each of its guards, the interpreter
 * enters the trace again, and the task spins with its deadline unenforced
 * (found in a wedged process: a table hooked for its first 21 bytecodes
 * and plain after, the mode recorded as hooked). LuaJIT rewrites only
 * when the recorded mode differs from the one its hook mask calls for, and
 * nothing else ever rewrites it: once wedged, always wedged.
 *
 * So the second tick in a row without a profiler callback rewrites the
 * table, and so do the 4th, 8th, 16th... (a task inside a long C call has
 * no callbacks either, and each rewrite aborts a trace being recorded):
 * the tick records a mode that differs from the right one in every part of
 * the table, first with every part's bit set and then with none, asking
 * for an update each time, so that each part is rewritten once for what
 * it should be. The profiler's handler rewrites the table from a signal on
 * every tick anyway; while the loop thread is inside a C call, rewriting
 * an intact table changes nothing.
 * The recorded mode is a byte of LuaJIT's global state that no API
 * exposes: find_dispatch_mode locates it at start by setting hooks through
 * the API and seeing which byte follows them; where none does exactly,
 * the repair is off and the wedge stays possible. */

#define MODE_PARTS 0x67                   /* LuaJIT's DISPMODE_{CALL,RET,INS,REC,PROF} */
#define MODE_INS 0x04                     /* DISPMODE_INS: hook handlers everywhere */
#define MODE_HOOKED 0x44                  /* DISPMODE_PROF | DISPMODE_INS: the profiler's */
#define HOOK_PROFILE 0x80                 /* LuaJIT's hook mask: the profiler hook is due */
#define PROBE_SPAN 256                    /* bytes of the global state searched */

static unsigned char *dispatch_mode;      /* LuaJIT's recorded dispatch mode, or NULL */

static void probe_hook(lua_State *L, lua_Debug *ar)
{
    (void)L, (void)ar;
}

/* The main thread's global state: the main lua_State and the global state
 * are allocated together, the second right after the first, and the state
 * points to it; checked against the allocator the API reports before it
 * is read further. */
static unsigned char *global_state(lua_State *L)
{
    const size_t glref = 2 * sizeof(void *);   /* after the GC header, 64-bit refs */
    uintptr_t g;
    memcpy(&g, (char *)L + glref, sizeof g);
    if (g <= (uintptr_t)L || g - (uintptr_t)L > PROBE_SPAN)
        return NULL;
    void *ud, *head[2];
    lua_Alloc f = lua_getallocf(L, &ud);
    memcpy(head, (void *)g, sizeof head);
    lua_Alloc g_f;
    memcpy(&g_f, &head[0], sizeof g_f);
    return g_f == f && head[1] == ud ? (unsigned char *)g : NULL;
}

/* The byte after the hook mask, where the three probes below find the
 * hook mask following lua_sethook and the mode byte gaining and losing
 * DISPMODE_INS with it, every other bit of both unchanged. Must run on the
 * main state before any hook or the profiler is set. */
static unsigned char *find_dispatch_mode(lua_State *L)
{
    static const int masks[] = {0, LUA_MASKCOUNT, LUA_MASKLINE};
    unsigned char seen[3][PROBE_SPAN + 1];
    unsigned char *g = global_state(L);
    if (!g)
        return NULL;
    for (int i = 0; i < 3; i++) {
        lua_sethook(L, masks[i] ? probe_hook : NULL, masks[i], DORMANT_COUNT);
        memcpy(seen[i], g, sizeof seen[i]);
    }
    lua_sethook(L, NULL, 0, 0);
    unsigned char *found = NULL;
    for (int off = 0; off < PROBE_SPAN; off++) {
        int fits = 1;
        for (int i = 0; i < 3 && fits; i++) {
            unsigned char hook = seen[i][off], mode = seen[i][off + 1];
            fits = (hook & 0x0f) == masks[i] && (hook & 0xf0) == (seen[0][off] & 0xf0) &&
                   (mode & MODE_INS) == (masks[i] ? MODE_INS : 0) &&
                   (mode & ~MODE_INS) == (seen[0][off + 1] & ~MODE_INS);
        }
        if (fits) {
            if (found)
                return NULL;              /* not one answer: trust none */
            found = g + off + 1;
        }
    }
    return found;
}

/* Rewrites LuaJIT's dispatch table for the hooks as they are. Runs in the
 * tick's handler. */
static void rebuild_dispatch(lua_State *L)
{
    lua_Hook f = lua_gethook(L);
    int mask = lua_gethookmask(L), count = lua_gethookcount(L);
    *dispatch_mode |= MODE_PARTS;
    lua_sethook(L, f, mask, count);
    *dispatch_mode &= (unsigned char)~MODE_PARTS;
    lua_sethook(L, f, mask, count);
}

int silk_preempt_desync_dispatch(void)
{
    if (!dispatch_mode || !own_tick)
        return -1;
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    unsigned char hookmask = dispatch_mode[-1];
    int plain = !(hookmask & HOOK_PROFILE) && !(hookmask & 0x0f) && !(*dispatch_mode & MODE_INS);
    if (plain)
        *dispatch_mode |= MODE_HOOKED;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return plain ? 0 : -1;
}

/* Starts the tick with period TICK_NS << slow, or stops it (on = 0). */
static void arm_tick(int on, int slow)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    long ns = on ? (long)TICK_NS << slow : 0;
    its.it_value.tv_sec = its.it_interval.tv_sec = ns / 1000000000;
    its.it_value.tv_nsec = its.it_interval.tv_nsec = ns % 1000000000;
    timer_settime(tick_timer, 0, &its, NULL);
    tick_armed = on;
    tick_slow = slow;
}

/* The next tick comes `ns` from now, then every period. */
static void hurry_tick(long ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = ns;
    its.it_interval.tv_nsec = TICK_NS;
    timer_settime(tick_timer, 0, &its, NULL);
    tick_slow = 0;
}

/* Runs at a VM safe point after a tick or a sampler's SIGPROF. It must not
 * raise: an error here leaves LuaJIT's hook mask broken for good
 * (RUNTIME-NOTES 1). */
static void tick(void *data, lua_State *L, int samples, int vmstate)
{
    silk_engine *e = data;
    callbacks++;
    int cpu = own_tick ? __atomic_exchange_n(&cpu_samples, 0, __ATOMIC_RELAXED) : samples;
    if (sampler && cpu > 0)
        sampler(sampler_ud, L, cpu, vmstate);
    silk_task *t = e->current;
    if (!t)
        return;
    ticks_seen++;
    double now = silk_now();
    if (t->ticks < 3)
        t->ticks++;
    int due = t->mem.over || slice_over(t, e, now);
    for (silk_frame *f = t->frames; f && !due; f = f->prev)
        due = f->deadline > 0 && now >= f->deadline;
    if (due && own_tick) {
        /* The hook can only be set from outside this callback: the tick
         * that follows at once sets it (on_sigprof), once the profiler
         * has restored its mask. Already wanted, the tick that raised this
         * callback has set it, or the next one will. */
        if (!hook_wanted) {
            hook_wanted = 1;
            hurry_tick(TICK_NS / 20);
        }
    } else if (due) {
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    } else if (t->ticks == 1 && own_tick && silk_task_wake_due(e, now)) {
        /* A sleeper is due while the running task has had one tick in
         * this resume: the second tick comes in a tenth of the period, so
         * the task is sliced after running that long at least, not a
         * whole period more (slice_over). */
        hurry_tick(TICK_NS / 10);
    }
}

/* A stop signal is pending and the loop thread has reached no safe point
 * for WEDGED_NS: the running task is blocked inside C (a call through the
 * FFI, os.execute). Nothing else can end the process then, short of
 * SIGKILL: it ends here, as a second stop signal would, and a --jobdir
 * resumes from its last checkpoint as after a kill. Async-signal-safe
 * calls only. */
static void wedged_exit(int stop)
{
    static const char msg[] = "silk: a stop signal, and the loop thread reaches no Lua safe point "
                              "(blocked in C, or the VM is stuck): exiting now\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(128 + stop);
}

/* SIGPROF, from silk's timer (thread-directed to the loop thread, si_code
 * SI_TIMER) or from the sampler's itimer (any thread). Both end in
 * LuaJIT's handler, which raises the profiler hook. A tick that finds no
 * task running stops the timer: an idle loop takes no wake-ups, and the
 * next resume starts it again (resuming).
 * A tick that finds the last one still unserved (no profiler callback ran
 * since: the task is inside a C call or a system call) doubles the period,
 * up to 32 ms; the next callback brings it back to 1 ms. A long system
 * call then takes few signals; under valgrind, which restarts an
 * interrupted system call from its start (a 5 MB write() took longer than
 * a 1 ms tick there, and never finished), that is what lets it end. */
static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (si->si_code == SI_TIMER && si->si_value.sival_ptr == &tick_timer) {
        silk_engine *e = owner;
        if (!e || !e->current) {
            if (e)
                arm_tick(0, 0);
            errno = saved;
            return;
        }
        int stuck = callbacks == callbacks_at_tick;
        stuck_ticks = stuck ? stuck_ticks + 1 : 0;
        if (stuck_ticks >= 2 && (stuck_ticks & (stuck_ticks - 1)) == 0 && dispatch_mode)
            rebuild_dispatch(e->L);       /* see above */
        stuck_ns = stuck ? stuck_ns + (TICK_NS << tick_slow) : 0;
        int stop = stuck_ns >= WEDGED_NS ? silk_preempt_stop_pending() : 0;
        if (stop)
            wedged_exit(stop);
        /* Armed again at every tick until the hook runs: an arm that lands
         * inside the profiler's callback is undone when it restores the
         * mask it saved. */
        if (hook_wanted)
            arm_hook(e->L);
        if (stuck && tick_slow < TICK_SLOWEST)
            arm_tick(1, tick_slow + 1);
        else if (!stuck && tick_slow)
            arm_tick(1, 0);
        callbacks_at_tick = callbacks;
    } else {
        __atomic_add_fetch(&cpu_samples, 1, __ATOMIC_RELAXED);
    }
    if (luajit_sigprof)
        luajit_sigprof(sig);
    errno = saved;
}

/* e->resuming while preemption runs: task.c calls it before each
 * lua_resume, with e->current already set. Starts the tick if an idle
 * moment stopped it. */
static void resuming(silk_engine *e)
{
    hook_wanted = 0;                      /* that was for the task that ran last */
    if (owner == e && own_tick && !tick_armed) {
        callbacks_at_tick = callbacks - 1;   /* the first tick finds no backlog */
        arm_tick(1, 0);
    }
}

/* e->polling while preemption runs: the loop is about to poll with no
 * task runnable. The tick is for running tasks: stopped here, it does not
 * interrupt the poll (a signal, its return and a poll again) to find
 * none; the next resume starts it again. */
static void polling(silk_engine *e)
{
    if (owner == e && own_tick && tick_armed)
        arm_tick(0, 0);
}

/* Takes SIGPROF over from LuaJIT's handler (which it then calls) and
 * creates the tick's timer; returns 0, or -1 when either cannot be had
 * (the profiler's own itimer then ticks, at the kernel's resolution). */
static int own_the_tick(void)
{
    struct sigaction a;
    if (sigaction(SIGPROF, NULL, &luajit_action) != 0 || (luajit_action.sa_flags & SA_SIGINFO) ||
        luajit_action.sa_handler == SIG_DFL || luajit_action.sa_handler == SIG_IGN)
        return -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_ptr = &tick_timer;
    sev._sigev_un._tid = gettid();        /* the loop thread: the one running Lua */
    if (timer_create(CLOCK_MONOTONIC, &sev, &tick_timer) != 0)
        return -1;
    luajit_sigprof = luajit_action.sa_handler;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_sigprof;
    a.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&a.sa_mask);
    sigaction(SIGPROF, &a, NULL);
    return 0;
}

int silk_preempt_start(silk_engine *e)
{
    if (owner)
        return owner == e ? 0 : -1;
    lua_State *L = e->L;
    lua_getglobal(L, "pcall");
    lua_pushlightuserdata(L, (void *)&pcall_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_getglobal(L, "xpcall");
    lua_pushlightuserdata(L, (void *)&xpcall_key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);

    owner = e;
    e->resuming = resuming;
    e->polling = polling;
    dispatch_mode = find_dispatch_mode(L);
    /* The profiler restores the SIGPROF disposition it found when it stops;
     * a tick already in flight then meets that disposition. Make it
     * "ignore" rather than the default, which kills the process. */
    signal(SIGPROF, SIG_IGN);
    luaJIT_profile_start(L, "li1", tick, e);
    own_tick = own_the_tick() == 0;
    if (own_tick)
        set_itimer(sampler != NULL);
    else
        disarm_hook(L);                   /* dormant until tick() lowers its count */
    return 0;
}

/* --- stop signals ------------------------------------------------------------ */

static const int stop_signals[] = {SIGINT, SIGTERM};
#define NSTOP (sizeof stop_signals / sizeof *stop_signals)

static silk_engine *stops_owner;
static struct sigaction libev_action[NSTOP];   /* what we chained in front of */
static ev_signal seen_watcher[NSTOP];
/* Written by the handler only (it runs with every signal blocked, so it
 * never interleaves with itself); read by the loop thread. */
static volatile sig_atomic_t stops_received, last_stop;
static volatile sig_atomic_t stops_seen;       /* the loop thread's copy of received */

static void count_stop(int signum, siginfo_t *info, void *ctx)
{
    stops_received++;
    last_stop = signum;
    for (size_t i = 0; i < NSTOP; i++) {
        const struct sigaction *a = &libev_action[i];
        if (stop_signals[i] != signum)
            continue;
        if (a->sa_flags & SA_SIGINFO)
            a->sa_sigaction(signum, info, ctx);
        else if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN)
            a->sa_handler(signum);
    }
}

/* The loop has dispatched the signal: the engine's watcher runs in the same
 * dispatch, so nothing is pending any more. */
static void stop_seen(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    stops_seen = stops_received;
}

int silk_preempt_stop_pending(void)
{
    return stops_received != stops_seen ? last_stop : 0;
}

int silk_preempt_watch_stops(silk_engine *e)
{
    if (stops_owner)
        return stops_owner == e ? 0 : -1;
    for (size_t i = 0; i < NSTOP; i++) {
        struct sigaction a;
        memset(&a, 0, sizeof a);
        sigaction(stop_signals[i], NULL, &libev_action[i]);
        a.sa_sigaction = count_stop;
        sigfillset(&a.sa_mask);
        a.sa_flags = SA_SIGINFO | SA_RESTART;
        sigaction(stop_signals[i], &a, NULL);
        ev_signal_init(&seen_watcher[i], stop_seen, stop_signals[i]);
        ev_signal_start(e->loop, &seen_watcher[i]);
        ev_unref(e->loop);                 /* it must not keep a run going */
    }
    stops_seen = stops_received;
    stops_owner = e;
    return 0;
}

void silk_preempt_unwatch_stops(silk_engine *e)
{
    if (stops_owner != e)
        return;
    for (size_t i = 0; i < NSTOP; i++) {
        struct sigaction cur;
        sigaction(stop_signals[i], NULL, &cur);
        if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == count_stop)
            sigaction(stop_signals[i], &libev_action[i], NULL);
        ev_ref(e->loop);
        ev_signal_stop(e->loop, &seen_watcher[i]);
    }
    stops_owner = NULL;
}

void silk_preempt_stop(silk_engine *e)
{
    if (owner != e)
        return;
    e->resuming = NULL;
    e->polling = NULL;
    if (own_tick) {
        timer_delete(tick_timer);
        tick_armed = 0;
        own_tick = 0;
        sigaction(SIGPROF, &luajit_action, NULL);
        luajit_sigprof = NULL;
    }
    luaJIT_profile_stop(e->L);
    dispatch_mode = NULL;
    lua_sethook(e->L, NULL, 0, 0);
    owner = NULL;
}
