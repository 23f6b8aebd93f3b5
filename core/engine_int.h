/*
 * engine_int.h -- the engine record, shared by the modules of the runtime
 * (engine.c, task.c, channel.c, preempt.c, their bindings). Not a contract
 * for anyone else: other modules use engine.h.
 */
#ifndef SILK_ENGINE_INT_H
#define SILK_ENGINE_INT_H

#include <stdint.h>

#include "engine.h"
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

struct silk_engine {
    struct ev_loop *loop;
    lua_State *L;                 /* the main thread; tasks are its coroutines */
    silk_engine_options opts;
    char lua_dir[4096];           /* where lua/silk was found, for package.path */

    /* scheduler (task.c) */
    silk_tlist all;               /* every live task, in creation order */
    silk_tlist runq;              /* runnable tasks, FIFO */
    silk_tlist sliced;            /* runnable tasks that used up their slice: they go
                                   * behind what the next poll wakes */
    silk_tlist woken;             /* runnable tasks woken inside the event batch in
                                   * progress; empty outside one (silk_task_batch_end) */
    int batch;                    /* 1 inside an event batch (task.c) */
    unsigned batch_iteration;     /* the loop iteration of the last batch's end */
    double batch_since;           /* when that iteration's first batch ended */
    silk_task *current;           /* the task inside lua_resume, or NULL */
    silk_task *main;              /* the main task while it lives */
    uint64_t next_id;
    long ntasks[2 + SILK_WAIT_COUNT_]; /* live tasks: runnable, running, then waiting
                                   * by reason; kept by task.c at every state change */
    int anchors_ref;              /* registry sub-table anchoring live coroutines and
                                   * handles, in chunks (task.c) */
    int anchor_top;               /* highest anchor ref handed out */
    int anchor_free;              /* first free anchor ref, 0: none */
    long unobserved_failures;     /* failed tasks whose error nobody has seen yet */
    int main_status;              /* SILK_TASK_DONE or SILK_TASK_FAILED once main ended */
    silk_task_end_fn end_hook;    /* silk_task_set_end_hook (task.c) */
    void *end_hook_data;
    silk_task **wakes;            /* waiting tasks with an armed timer, a min-heap by
                                   * wake time (task.c: silk_task_wake_due) */
    int nwakes, wakes_cap;
    char **sites;                 /* interned creation sites (task.c) */
    size_t nsites, sites_cap;

    /* loop watchers (engine.c) */
    ev_prepare sched_prepare;     /* resumes runnable tasks before the loop blocks */
    ev_idle sched_idle;           /* active while tasks are runnable: the loop must not block */
    ev_signal sig_int, sig_term, sig_usr1;
    ev_timer grace_timer;
    int signal;                   /* first SIGINT/SIGTERM received, or 0 */
    int hard_stop;                /* a second one arrived: stop without draining */
    int shutdown_ref;             /* registry ref of the script's graceful-stop handler */
    int interrupt_ref;            /* registry ref of the SIGINT handler of a REPL, or LUA_NOREF */
    int stopping;                 /* shutting down: the run ends when no task is left */
    int exit_code;                /* asked for by the script (silk test) */
    struct silk_gcpace *gc;       /* the GC pacer (gcpace.c), NULL when disabled */
    void (*resuming)(silk_engine *e); /* task.c calls it before each resume, once
                                   * e->current is set: preempt.c's, while
                                   * preemption runs; else NULL */
    struct {
        void *p;                  /* NULL: not made (yet, or again) */
        silk_service_stop_fn stop;
        silk_service_report_fn report; /* or NULL */
    } services[SILK_SERVICE_COUNT_]; /* engine.h's services, in stop order */

    /* the Lua heap, as seen by the state's allocator (engine.c) */
    lua_Alloc mem_f;              /* LuaJIT's own allocator, which it wraps */
    void *mem_ud;
    size_t mem_used;              /* bytes the Lua state holds now */
    size_t mem_cap;               /* --max-memory; 0: none */
    int mem_deferred;             /* 1 while preempt.c runs: a task over the cap is
                                   * stopped at its next tick, not refused */
    void *mem_reserve;            /* address space kept back for allocations made
                                   * outside every task (see lua_alloc), or NULL
                                   * once spent */
    size_t mem_refused;           /* the last allocation refused to the running
                                   * task, bytes (task.c reports and clears it) */
    int mem_collect;              /* a task was refused memory: collect before
                                   * the next resumption (task.c) */
};

/* How long the tasks may run per loop iteration, in the prepare phase and
 * again at the ends of event batches: bounds how late a timer or an I/O
 * event is seen while tasks keep the CPU busy. */
#define SILK_SCHED_BUDGET 0.002

/* Makes sure the loop will not block while tasks are runnable (task.c calls
 * it whenever the run queue becomes non-empty). */
void silk_engine_kick(silk_engine *e);

#endif
