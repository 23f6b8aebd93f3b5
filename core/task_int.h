/*
 * task_int.h -- the task record and its cancel frames, shared by the runtime
 * modules (task.c, channel.c, preempt.c, lapi_task.c). Everyone else goes
 * through task.h.
 */
#ifndef SILK_TASK_INT_H
#define SILK_TASK_INT_H

#include <stdint.h>

#include <ev.h>

#include "engine_int.h"
#include "task.h"

/* An intrusive doubly linked list of tasks, FIFO; see task_int.h for the links. */
typedef struct silk_tlist {
    silk_task *head, *tail;
    int n;
} silk_tlist;

/* The same without a tail, for sets whose order does not matter (a task's
 * children, a scope's children): two of them live in every task record. */
typedef struct silk_tset {
    silk_task *head;
    int n;
} silk_tset;

/* How long the tasks may run per loop iteration, in the prepare phase and
 * again at the ends of event batches: bounds how late a timer or an I/O
 * event is seen while tasks keep the CPU busy. */
#define SILK_SCHED_BUDGET 0.002

#define SILK_TASK_MAGIC 0x7a5c0de5u
#define SILK_TASK_META "silk.task"

/* A cancel frame: the task itself (frame 0, embedded in the record), a
 * with_timeout or a scope. Frames form a stack per task, innermost on top.
 * A frame is "triggered" once it is cancelled or its deadline has passed;
 * from then on every wait under it fails with its error value. */
typedef struct silk_frame {
    struct silk_frame *prev;      /* next outer frame; NULL for frame 0 */
    silk_task *owner;
    uint32_t id;                  /* unique per task; 0 is the task itself */
    double deadline;              /* absolute silk_now() time; 0 = none */
    unsigned cancelled : 1;       /* cancelled explicitly (cancel, scope failure) */
    unsigned fired : 1;           /* its interruption was delivered at least once */
    int err_ref;                  /* registry ref of its error value once triggered, else LUA_NOREF */
    int cause_ref;                /* scopes: the first failure of a child, else LUA_NOREF */
    silk_tset scope;              /* scopes: live children spawned through it */
} silk_frame;

struct silk_task {
    /* (the 4-byte fields come first, together: no padding between them;
     * 100 000 parked tasks are a goal, and this record is most of one) */
    unsigned magic;
    silk_task_state state;
    silk_wait_reason reason;      /* the current wait (state WAITING) */
    int co_ref, self_ref;         /* anchors in e->anchors_ref while live */
    int wait_ref;                 /* a value held for the wait (a pending send), or LUA_NOREF */
    int nwake;                    /* values pushed on co for the next resume */
    int wake_pos;                 /* 1 + its index in e->wakes; 0: not there */
    uint32_t next_frame_id;
    unsigned wait_shield : 1;     /* no frame interrupts the wait (scope teardown) */
    unsigned kill : 1;            /* preempt.c: end it at its current yield */
    unsigned preempted : 1;       /* preempt.c: yielded by the time slicer */
    unsigned batched : 1;         /* RUNNABLE on e->woken (woken inside an event batch) */
    unsigned ticks : 2;           /* preempt.c: profiler ticks in this resume (saturates at 3) */
    unsigned observed : 1;        /* its failure was seen by a joiner */
    unsigned unobserved : 1;      /* counted in e->unobserved_failures */
    unsigned on_unjoined : 1;     /* FAILED, on its parent's `unjoined` set (task.c) */
    unsigned service : 1;         /* the operator's, not the script's (see
                                   * silk_task_set_service) */
    unsigned counted : 4;         /* its slot in e->ntasks (TASK_SLOT_*), kept by
                                   * set_state: where to uncount it from */

    silk_engine *e;
    uint64_t id;
    const char *name;             /* NULL, or stored right after the record, in
                                   * the same userdata */
    const char *site;             /* where it was created, "source:line" (interned, engine-owned) */
    lua_State *co;                /* the coroutine; valid while live */

    /* family: cancel propagates down; children of a finished task move up */
    silk_task *parent;
    uint64_t creator;             /* id of the task that spawned it (0: the engine) */
    silk_tset children;
    silk_tset unjoined;           /* finished children whose failure nobody has
                                   * joined yet: reported when this task ends */
    silk_task *sib_next, *sib_prev;   /* on the parent's children, then unjoined */

    /* lists: e->all, e->runq, a wait queue, a scope frame's children */
    silk_task *all_next, *all_prev;
    silk_task *run_next, *run_prev;
    silk_task *q_next, *q_prev;   /* on at most one wait queue at a time */
    silk_tlist *q;                /* the wait queue it is on, or NULL */
    silk_task *sc_next, *sc_prev;
    silk_frame *scope;            /* the scope frame that spawned it, or NULL */

    /* the current wait (state WAITING) */
    const char *what;
    silk_wait_cancel_fn cancel;
    void *cancel_data;
    silk_frame *wait_upto;        /* frames above this one do not interrupt the wait */

    silk_frame frame0;
    silk_frame *frames;           /* innermost frame (frame0 when none pushed) */
    ev_timer timer;               /* while waiting: the sleep's end or the earliest deadline */
    double timer_at;              /* when it fires (silk_now() time), while armed */
    double sleep_until;           /* silk.sleep: when it ends (0: not sleeping) */

    silk_tlist joiners;           /* tasks waiting in join() */

    double created;
    double since;                 /* RUNNING: when this resume began; WAITING: when the wait began */
    double cpu;                   /* seconds spent inside lua_resume */
    silk_mem_charge mem;          /* the Lua heap's account of it (engine.c) */
};

/* The scheduler's state, one per engine (e->sched): made by
 * silk_task_sched_new, freed by silk_task_engine_free. */
typedef struct silk_sched {
    silk_tlist all;               /* every live task, in creation order */
    silk_tlist runq;              /* runnable tasks, FIFO */
    silk_tlist sliced;            /* runnable tasks that used up their slice: they go
                                   * behind what the next poll wakes */
    silk_tlist woken;             /* runnable tasks woken inside the event batch in
                                   * progress; empty outside one (silk_task_batch_end) */
    int batch;                    /* 1 inside an event batch */
    unsigned batch_iteration;     /* the loop iteration of the last batch's end */
    double batch_since;           /* when that iteration's first batch ended */
    silk_task *main;              /* the main task while it lives */
    uint64_t next_id;
    long ntasks[2 + SILK_WAIT_COUNT_]; /* live tasks: runnable, running, then waiting
                                   * by reason; kept at every state change */
    int anchors_ref;              /* registry sub-table anchoring live coroutines and
                                   * handles, in chunks */
    int anchor_top;               /* highest anchor ref handed out */
    int anchor_free;              /* first free anchor ref, 0: none */
    long unobserved_failures;     /* failed tasks whose error nobody has seen yet */
    int main_status;              /* SILK_TASK_DONE or SILK_TASK_FAILED once main ended */
    silk_task_end_fn end_hook;    /* silk_task_set_end_hook */
    void *end_hook_data;
    silk_task **wakes;            /* waiting tasks with an armed timer, a min-heap by
                                   * wake time (silk_task_wake_due) */
    int nwakes, wakes_cap;
    char **sites;                 /* interned creation sites */
    size_t nsites, sites_cap;
} silk_sched;

/* Makes e->sched (and the anchors table in the registry of L). 0, or -1
 * when out of memory. Before the first task. */
int silk_task_sched_new(silk_engine *e);

/* Wait queues (channels, joins): a task is on at most one. */
void silk_tlist_qpush(silk_tlist *q, silk_task *t);
silk_task *silk_tlist_qpop(silk_tlist *q);
void silk_tlist_qremove(silk_task *t);

/* Frames (lapi_task.c: with_timeout, scope). push returns the new frame;
 * pop requires f to be the innermost frame of t and returns 1 when it fired,
 * leaving its error value on the stack of L (else pushes nothing). */
silk_frame *silk_frame_push(silk_task *t, double timeout);
int silk_frame_pop(silk_task *t, silk_frame *f, lua_State *L);
silk_frame *silk_frame_find(silk_task *t, uint32_t id);
/* Cancels frame f: its error value becomes {kind="cancelled", message=reason}
 * (or, when `cause_idx` is not 0, the value at that index of L is recorded as
 * the cause); wakes its owner if the owner waits under it; cancels the scope
 * children of f. */
void silk_frame_cancel(silk_frame *f, const char *reason, lua_State *L, int cause_idx);

/* Pushes the error value of the outermost triggered frame of t at or below
 * `upto` (NULL: all frames) and marks it fired; returns the frame, or NULL
 * (and pushes nothing) when no frame is triggered. Used by waits and by the
 * preemption hook. */
silk_frame *silk_task_pushinterrupt(silk_task *t, lua_State *L, silk_frame *upto);

/* Whether a waiting task's timer (a sleep's end, a deadline) is due at
 * `now`: the loop would wake it if it polled. preempt.c slices a busy task
 * early for it. */
int silk_task_wake_due(silk_engine *e, double now);

/* Earliest deadline among t's untriggered frames, or 0. */
double silk_task_next_deadline(silk_task *t);

/* Spawns with a scope: like silk_task_spawn, and attaches the child to f. */
silk_task *silk_task_spawn_in(silk_engine *e, lua_State *L, int nargs, const char *name,
                              double timeout, silk_frame *scope);

/* Parks the current task like silk_task_wait, but frames above `upto` (the
 * inner ones) do not interrupt it. */
int silk_task_wait_upto(lua_State *L, silk_wait_reason reason, const char *what,
                        silk_wait_cancel_fn cancel, void *data, silk_frame *upto);

/* Parks the current task where no frame can interrupt it: only for waits
 * that end by themselves soon (a scope waiting for its cancelled children). */
int silk_task_wait_shielded(lua_State *L, silk_wait_reason reason, const char *what,
                            silk_wait_cancel_fn cancel, void *data);

/* silk.sleep and task:join: waiting primitives (use as return values of a
 * C function registered with silk_task_pushwaiting). sleep(0) yields to the
 * back of the run queue. */
int silk_task_sleep(lua_State *L, double seconds);
int silk_task_join(lua_State *L, silk_task *target);

/* Pushes onto L the handle of t, which must still be anchored (live, or
 * inside its ending). */
void silk_task_push_handle(silk_task *t, lua_State *L);

/* Pushes the finished task's outcome onto L: true, results... or false, err.
 * `handle` is the index in L of t's handle, whose environment table holds
 * the outcome ({ n=, ... } or { err }) once t has finished. Marks a failure
 * observed. Returns the number of values pushed. */
int silk_task_pushresult(silk_task *t, lua_State *L, int handle);

/* The light userdata that a waiting primitive returns first when its wait was
 * interrupted; silk_task_pushwaiting's wrapper raises the value after it. */
void *silk_task_interrupt_marker(void);

/* Misuse errors of waiting primitives: like luaL_argerror and luaL_error,
 * but positioned at the script's line rather than at the Lua wrapper that
 * silk_task_pushwaiting puts around the primitive. */
int silk_task_argerror(lua_State *L, int narg, const char *fname, const char *msg);
int silk_task_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees e->sched and what it keeps for the engine's life (interned
 * creation sites). After lua_close. */
void silk_task_engine_free(silk_engine *e);

#endif
