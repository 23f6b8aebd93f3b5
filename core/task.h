/*
 * task.h -- tasks: Lua coroutines scheduled by C on the engine's libev loop.
 *
 * A task is one coroutine plus the C record below. Only this module calls
 * lua_resume. Lua asks to wait by calling a waiting primitive, which parks the
 * task (lua_yield) after recording what it waits on; the module that owns the
 * event (a timer here, a transfer in fetch.c, a parse job in html.c) wakes it
 * with silk_task_wake(), and the scheduler resumes it from the loop's prepare
 * phase, or, when the wake happened inside an event batch, at the end of
 * that batch. Nothing is ever resumed from inside a foreign library's
 * callback.
 *
 * Cancellation and deadlines are "cancel frames" (Trio's cancel scopes): the
 * task itself is frame 0 (its timeout and task:cancel), and with_timeout and
 * scopes push inner frames. When a frame is cancelled or its deadline passes,
 * the task is interrupted: a waiting task has its wait's cancel function run
 * (which must release the operation at once) and is resumed with the
 * interruption, which the Lua side raises as an error value of kind
 * "timeout" or "cancelled". Every later wait under that frame fails at once,
 * so user code cannot swallow an interruption. A task that never waits is
 * interrupted from LuaJIT's profiler tick (see preempt.h): inner frames raise
 * in the running code, frame 0 ends the task.
 *
 * Ownership: the record is the memory of the task's Lua handle (a full
 * userdata, with the name stored after it). While the task lives, the
 * engine anchors the handle and the coroutine and owns everything the
 * record holds; when it finishes, the engine releases all of that and
 * stores the outcome as the handle's environment table, so the handle
 * holds nothing that needs releasing and has no finaliser: the collector
 * frees it like any other object. (A finaliser would cost twice per task:
 * LuaJIT resurrects a dead finalisable object in the atomic phase, marking
 * everything it references there, and frees it a cycle later.)
 */
#ifndef SILK_TASK_H
#define SILK_TASK_H

#include <stdint.h>
#include <stdio.h>

#include <lua.h>

typedef struct silk_task silk_task;
typedef struct silk_engine silk_engine;

/* A task's life. Changes only through task.c's set_state(). */
typedef enum silk_task_state {
    SILK_TASK_RUNNABLE,   /* on the run queue, to be resumed by the scheduler */
    SILK_TASK_RUNNING,    /* inside lua_resume (exactly one task at a time) */
    SILK_TASK_WAITING,    /* parked on a wait; see silk_wait_reason */
    SILK_TASK_DONE,       /* returned normally */
    SILK_TASK_FAILED,     /* raised an error, was interrupted, or was killed */
} silk_task_state;

/* What a waiting task waits on: shown in dumps, decides deadlock detection. */
typedef enum silk_wait_reason {
    SILK_WAIT_NONE,
    SILK_WAIT_SLEEP,      /* a timer: can always wake */
    SILK_WAIT_JOIN,       /* another task's end */
    SILK_WAIT_SEND,       /* a channel send */
    SILK_WAIT_RECV,       /* a channel receive */
    SILK_WAIT_FETCH,      /* a transfer in fetch.c */
    SILK_WAIT_PARSE,      /* a parse job on a worker thread */
    SILK_WAIT_IO,         /* any other event owned by a C module */
    SILK_WAIT_COUNT_
} silk_wait_reason;

/* Called when a wait is abandoned (cancel, deadline, shutdown) to release the
 * operation at once: stop the timer, remove the transfer, dequeue the waiter.
 * It must not call silk_task_wake(); the task is resumed with the
 * interruption instead. */
typedef void (*silk_wait_cancel_fn)(silk_task *t, void *data);

/* --- waiting, for bindings ------------------------------------------------ */

/* Parks the running task of L. Use as `return silk_task_wait(L, ...)` from a
 * C function registered with silk_task_pushwaiting(). If the task is already
 * interrupted, nothing is parked, `cancel` is called at once and the
 * interruption is returned. `what` (static or owned by `data`) describes the
 * wait in dumps, e.g. the URL. Raises a Lua error when called outside a task
 * or from a coroutine the script created itself. */
int silk_task_wait(lua_State *L, silk_wait_reason reason, const char *what,
                   silk_wait_cancel_fn cancel, void *data);

/* Wakes a waiting task with the `nvalues` values the caller pushed onto
 * silk_task_thread(t); those become the wait's results. Safe from any loop
 * callback; the task runs later, from the scheduler (at the end of the event
 * batch when woken inside one). */
void silk_task_wake(silk_task *t, int nvalues);

/* An event batch, for event sources (fetch.c): a loop callback brackets the
 * part of its work that wakes tasks with begin/end, and end resumes the
 * tasks woken in between, in wake order, before it returns: their latency
 * is the batch's, not a whole loop iteration's. That holds while the loop
 * iteration's batches have run for less than the run budget; after that,
 * end puts them on the run queue like any other wake. Call end only where a
 * resumed task may do anything (start or cancel the source's operations):
 * outside every foreign library's callback. Not from a task, not nested. */
void silk_task_batch_begin(silk_engine *e);
void silk_task_batch_end(silk_engine *e);

/* Pushes onto L a Lua function that calls the C function `fn` and raises the
 * interruption when the wait it made was interrupted. Every waiting
 * primitive is registered through this, so that user code sees cancellation
 * and timeouts as raised error values. */
void silk_task_pushwaiting(lua_State *L, lua_CFunction fn);

/* The coroutine of t: push wake values here. */
lua_State *silk_task_thread(silk_task *t);

/* The running task of the engine of L, or NULL outside any task. */
silk_task *silk_task_current(lua_State *L);

/* The engine's running task, checked to be the coroutine L itself: raises a
 * Lua error naming `what` when L is not a task or is a coroutine that the
 * script created inside a task (silk primitives cannot wait from there). */
silk_task *silk_task_check_current(lua_State *L, const char *what);

/* 1 if t has been asked to stop (cancelled or past a deadline). Cheap
 * enough (a clock read and a walk of t's few frames) to poll every
 * millisecond from long C work, which LuaJIT's profiler tick cannot
 * interrupt: such work polls it and gives up, then calls
 * silk_task_raise_interrupt. */
int silk_task_interrupted(silk_task *t);

/* Raises in L (t's coroutine, or one it runs) the interruption that
 * silk_task_interrupted reported, as t's waits would: the triggered frame's
 * error value (kind "timeout" or "cancelled"), the same value every time,
 * so with_timeout and scopes recognise their own. `where` names the work
 * that gave up (e.g. `selector "a:has(b)"`): when a deadline's value is
 * created here (no wait saw it before), its message says "... exceeded its
 * deadline in <where>". Does not return; hold no C resources when calling. */
int silk_task_raise_interrupt(silk_task *t, lua_State *L, const char *where);

/* --- for the engine ------------------------------------------------------- */

/* Creates a task running the function at stack index `fn` of L with the
 * `nargs` values above it, which are moved to the new coroutine (the stack of
 * L shrinks by nargs + 1). Pushes its handle onto L. `name` may be NULL,
 * `timeout` <= 0 means none. Never resumes it synchronously. */
silk_task *silk_task_spawn(silk_engine *e, lua_State *L, int nargs,
                           const char *name, double timeout);

/* Resumes runnable tasks until the run queue is empty or `budget` seconds
 * have passed. Returns the number of tasks still runnable. */
int silk_task_run(silk_engine *e, double budget);

/* Cancels t and its descendants with `reason` (a string; NULL: "cancelled").
 * No-op on a finished task. May wake tasks, never resumes one. */
void silk_task_cancel(silk_task *t, const char *reason);

/* Cancels every live task (shutdown). */
void silk_task_cancel_all(silk_engine *e, const char *reason);

/* Marks t as a service task: work for an operator (a console request)
 * rather than for the script. Tasks it spawns inherit the mark. Service
 * tasks are not the script's leaks: when the main task has returned, the
 * engine cancels them (silk_task_cancel_services) and lets them unwind
 * before it looks for tasks still alive. */
void silk_task_set_service(silk_task *t);

/* Calls fn(t, data) for every task that finishes, once its outcome is
 * final and before its joiners wake (lapi_render.c closes the pages a task left
 * open). One hook per engine; NULL removes it. fn must not resume tasks. */
typedef void (*silk_task_end_fn)(silk_task *t, void *data);
void silk_task_set_end_hook(silk_engine *e, silk_task_end_fn fn, void *data);

/* Cancels every live service task with `reason`; returns how many. */
int silk_task_cancel_services(silk_engine *e, const char *reason);

/* Live tasks runnable or running (other states: 0), and tasks waiting on
 * reason r: counts kept at every state change, free to read. */
long silk_task_count(silk_engine *e, silk_task_state s);
long silk_task_count_waiting(silk_engine *e, silk_wait_reason r);

/* Tasks created in e so far (ids are handed out from 1, in order). */
uint64_t silk_task_created(silk_engine *e);

/* The live task of e with id `id`, or NULL (finished, or never made). Walks
 * every live task: for an operator's request, not for a hot path. */
silk_task *silk_task_find(silk_engine *e, uint64_t id);

/* 1 when t is the main task of its engine (silk_engine_run_main's). */
int silk_task_is_main(const silk_task *t);

/* Number of live (unfinished) tasks, and of runnable ones. */
int silk_task_live(silk_engine *e);
int silk_task_runnable(silk_engine *e);

/* Names of states and wait reasons, as dumps and metrics show them. */
const char *silk_task_state_name(silk_task_state s);
const char *silk_wait_reason_name(silk_wait_reason r);

/* Writes the goroutine-style dump of every live task to `out`. */
void silk_task_dump(silk_engine *e, FILE *out);

/* Pushes the dump as a string onto L. */
void silk_task_pushdump(silk_engine *e, lua_State *L);

#endif
