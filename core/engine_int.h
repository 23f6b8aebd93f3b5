/*
 * engine_int.h -- the engine record, shared by the modules of the runtime
 * (engine.c, engine_run.c, task.c, channel.c, preempt.c, their bindings).
 * Not a contract for anyone else: other modules use engine.h.
 *
 * The engine is the bottom of the runtime: it knows a task only as the
 * pointer it charges memory to, so that the scheduler (task.c), preemption
 * (preempt.c) and the run that drives both (engine_run.c) may include this
 * header without the engine including theirs.
 */
#ifndef SILK_ENGINE_INT_H
#define SILK_ENGINE_INT_H

#include <stdint.h>

#include "engine.h"

/* The Lua heap's account of one task, kept by the allocator (engine.c)
 * while the task runs and read by the scheduler and preemption. Embedded in
 * the task record. */
typedef struct silk_mem_charge {
    uint64_t allocated;           /* bytes the Lua heap grew by while it ran */
    unsigned over : 1;            /* took the heap past --max-memory, or the system
                                   * refused it memory: it ends with a `memory`
                                   * error at its next safe point (preempt.c) or
                                   * yield, whatever it catches */
    unsigned system : 1;          /* ... because the system refused (else the cap) */
} silk_mem_charge;

struct silk_engine {
    struct ev_loop *loop;
    lua_State *L;                 /* the main thread; tasks are its coroutines */
    silk_engine_options opts;
    char lua_dir[4096];           /* where lua/silk was found, for package.path */
    struct silk_sched *sched;     /* the scheduler's state (task_int.h), made and
                                   * freed by task.c */
    struct silk_task *current;    /* the task inside lua_resume, or NULL (task.c) */
    struct silk_mem_charge *charge; /* what the allocator charges: current's
                                   * account, or NULL outside every task (task.c) */

    /* loop watchers (engine_run.c; sched_idle: engine.c) */
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
    void (*polling)(silk_engine *e);  /* the loop is about to poll, no task
                                   * runnable: preempt.c's, like resuming */
    struct {
        void *p;                  /* NULL: not made (yet, or again) */
        silk_service_stop_fn stop;
        silk_service_report_fn report; /* or NULL */
    } services[SILK_SERVICE_COUNT_]; /* engine.h's services, in stop order */

    /* the Lua heap, as seen by the state's allocator (engine.c) */
    lua_Alloc mem_f;              /* LuaJIT's own allocator, which it wraps */
    void *mem_ud;
    struct silk_coropool *mem_pool; /* coroutine states and stacks (coropool.h),
                                   * or NULL */
    int mem_closing;              /* lua_close runs with blocks still in the pool */
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

/* Makes sure the loop will not block while tasks are runnable (task.c calls
 * it whenever the run queue becomes non-empty). */
void silk_engine_kick(silk_engine *e);

/* The engine without its run (engine_run.c does the rest): the loop, the
 * Lua state with its allocator, the standard libraries, the bindings
 * preloaded and package.path set. NULL on failure (message on stderr). */
silk_engine *silk_engine_create(const silk_engine_options *o);

/* Takes back the allocator's reserve once a refusal outside every task
 * spent it (the prepare phase calls it). */
void silk_engine_refill_reserve(silk_engine *e);

/* Asks the services that have a report (engine.h) for what they cleaned
 * up after the script; the number of lines written. Before stopping them. */
int silk_engine_report_services(silk_engine *e, FILE *out, const char *prefix);

/* Stops the services in slot order (engine.h). */
void silk_engine_stop_services(silk_engine *e);

/* Closes the Lua state (finalising every userdata), gives back the reserve
 * and stops the idle watcher; the record and the loop stay. */
void silk_engine_close_lua(silk_engine *e);

#endif
