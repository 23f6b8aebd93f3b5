/*
 * preempt.h -- deadlines and time slices for Lua code that never waits.
 *
 * LuaJIT checks no hooks inside compiled traces, so a plain count hook
 * cannot stop `while true do end` once it is compiled (RUNTIME-NOTES.md,
 * section 1). What does work: LuaJIT's sampling profiler in line mode makes
 * traces exit to the interpreter on every tick (its guards are the one
 * cost compiled code pays), the tick's callback decides whether the
 * running task is due, and if it is, a count hook with a count of 1 is set
 * from the next tick's signal handler, which follows at once. (A hook set
 * inside the callback loses its mask when the profiler restores the one it
 * saved; a hook set all the time, dormant with a huge count, would make
 * the interpreter count every instruction.) The hook then acts on the
 * running task and takes itself off:
 *  - frame 0 (the task's own deadline or cancellation) triggered: the task is
 *    ended where it stands (it yields from the hook and is never resumed);
 *  - an inner frame (with_timeout, scope) triggered: its error value is
 *    raised in the running code, where with_timeout or scope catches it;
 *  - the task went over the memory cap (engine.c, mem.over): it is ended
 *    where it stands like frame 0, with a `memory` error (or, where it
 *    cannot yield, "not enough memory" is raised, again at every tick);
 *  - the task has run longer than its slice: it yields from the hook and
 *    goes to the back of the run queue, so timers and other tasks keep
 *    their timing.
 * Cancellation is acted on only at a slice's end: a task that cancels
 * itself, or was cancelled before it was resumed, reaches its next wait.
 * Nothing is raised while one of silk's own Lua functions runs (the next
 * tick acts instead), so their epilogues cannot be cut in half. And a time
 * slice never pauses silk's own Lua modules (lua/silk): they keep
 * state shared between tasks and rely on not being interleaved between
 * waits. Scripts get the same promise for anything shorter than a slice;
 * a script loop that runs longer than --slice without waiting may be
 * paused between any two statements (README.md, "Tasks").
 * Where yielding is impossible (inside table.sort's comparator, a
 * string.gsub callback, a coroutine the script made) the hook raises
 * instead, or, for slicing, waits for a later tick.
 *
 * The tick is silk's own: a POSIX timer on the monotonic clock, 1 ms,
 * delivered as SIGPROF to the loop thread (the one that started the
 * engine and runs Lua), whatever the kernel's HZ. Its handler, chained in
 * front of LuaJIT's profiler handler, calls that handler, which raises the
 * profiler hook exactly as the profiler's own timer would: compiled traces
 * exit through their profiler guards and the callback runs at the next
 * safe point. (The profiler's own timer is setitimer(ITIMER_PROF): process
 * CPU time, which Linux delivers once per jiffy, 4 ms at HZ=250.) The
 * timer runs only while tasks run: it stops when the loop is about to poll
 * with no task runnable (engine_run.c's prepare watcher), or at a tick
 * that finds none running, and the next resume starts it again, so an idle
 * loop takes no wake-ups and a poll is not interrupted to find nothing to
 * do. While a task runs, a blocking system call it makes itself
 * (through the FFI) may see EINTR; the handler is SA_RESTART, so those that
 * restart do. A task that stays inside a C or system call (no safe point
 * reached since the last tick) gets a tick half as often each time, down
 * to one per 32 ms, until Lua runs again: valgrind restarts an interrupted
 * system call from its start, and a 5 MB write() never ended under a 1 ms
 * tick. When the timer cannot be created, the profiler's timer ticks
 * instead, at the kernel's resolution, and the count hook stays set,
 * dormant, for the callback to lower its count.
 *
 * This module owns LuaJIT's profiler, of which a process has one: it is
 * started once for the engine's life (start and stop flush every trace).
 * The flame-graph sampler plugs into its callback with
 * silk_preempt_sampler(); while one samples, the profiler's own itimer runs
 * at 1 ms of process CPU, and the sampler gets the samples of that timer
 * only (not silk's ticks, which count wall time).
 * It also lets long C calls, which neither the tick nor the loop can
 * interrupt, see a SIGINT/SIGTERM the loop has not handled yet (below),
 * and ends the process (exit 128 + the signal) when such a signal is
 * pending and the loop thread has reached no Lua safe point for 10 s: a
 * task blocked in C (through the FFI, os.execute). The 10 s count from the
 * last safe point, not from the signal.
 *
 * LuaJIT's dispatch table can fall out of step with its recorded mode when
 * a tick lands inside one of its rewrites, after which the profiler's hook
 * never runs and compiled loops spin in trace exits. A tick that finds no
 * callback since the tick before has the table rewritten (preempt.c), so
 * a task stuck that way is reached two or three ticks late, not never.
 */
#ifndef SILK_PREEMPT_H
#define SILK_PREEMPT_H

#include <lua.h>

typedef struct silk_engine silk_engine;

/* Arms the dormant hook, starts the profiler and creates the tick. Call
 * on the thread that will run the engine's Lua code. Returns 0, or -1 when
 * the profiler is in use by another engine. */
int silk_preempt_start(silk_engine *e);

/* Stops the profiler and removes the hook. Idempotent. */
void silk_preempt_stop(silk_engine *e);

/* Ticks the hook saw while a task ran, since the process started: a probe
 * for benchmarks (bench/tasks/tick.lua reads it to time the ticks). */
unsigned long silk_preempt_ticks(void);

/* For specs: records LuaJIT's dispatch mode as the profiler's while the
 * dispatch table is plain, as a tick landing inside a rewrite of the table
 * can leave it (preempt.c), so that the profiler's next tick finds nothing
 * to rewrite and its hook never runs until the repair rewrites the table.
 * Returns 0, or -1 when the repair is off or the table is not plain now. */
int silk_preempt_desync_dispatch(void);

/* A function called on the flame-graph sampler's ticks (from the VM, at
 * a safe point, on the loop thread) with LuaJIT's profiler arguments
 * (`samples`: the sampler's SIGPROFs since the last call); NULL removes it
 * and stops the sampler's timer. It must not raise, yield or allocate Lua
 * objects. */
typedef void (*silk_preempt_sampler_fn)(void *ud, lua_State *L, int samples, int vmstate);
void silk_preempt_sampler(silk_preempt_sampler_fn fn, void *ud);

/* --- stop signals that arrive while C code runs ---------------------------
 * libev learns of SIGINT and SIGTERM in its own handler but runs their
 * watchers only when the loop runs, which it cannot while a task is inside
 * a long C call. These make such a signal visible at once to C code that
 * polls: a handler chained in front of libev's (which still runs) counts
 * deliveries, and a watcher of the engine's loop marks them seen.
 *
 * Start after the engine's own SIGINT/SIGTERM watchers (libev installs its
 * handler when the first watcher of a signal starts), stop before them.
 * One engine at a time watches; start returns -1 when another does. */
int silk_preempt_watch_stops(silk_engine *e);
void silk_preempt_unwatch_stops(silk_engine *e);

/* The stop signal (SIGINT or SIGTERM) delivered to the process that the
 * loop has not yet seen, or 0. Async-signal-safe reads only: cheap enough
 * to poll every millisecond. Long C work (selector matching) that sees one
 * gives up and raises, so the loop gets to handle the signal. */
int silk_preempt_stop_pending(void);

#endif
