/*
 * engine_run.h -- the life of an engine: making it ready to run (the
 * scheduler's watchers, the signals, preemption, the GC pacer), running a
 * main task to the end, and freeing it.
 *
 * Life: silk_engine_new() -> silk_engine_run_main() (runs a Lua function as
 * the main task and drives the loop until it and every other task have
 * finished, or deadlock, or a signal's grace period ends) -> silk_engine_free(),
 * except after a hard stop (silk_engine_hard_stopped): then the process ends
 * without freeing the engine.
 *
 * A module above the engine (engine.h) and the scheduler (task.h): it
 * drives both, and neither knows it.
 */
#ifndef SILK_ENGINE_RUN_H
#define SILK_ENGINE_RUN_H

#include <lua.h>

#include "engine.h"

/* How a run ended; silk_engine_run_main() returns it, main.c maps it to an
 * exit status. */
typedef enum silk_outcome {
    SILK_OK = 0,           /* main task returned, nothing leaked */
    SILK_FAILED,           /* main task raised, or a task failed and nobody joined it */
    SILK_LEAKED,           /* tasks or C resources alive at the end */
    SILK_DEADLOCK,         /* every live task waits on something nothing can wake */
    SILK_SIGNALLED,        /* stopped by SIGINT/SIGTERM */
} silk_outcome;

/* Creates the loop and the Lua state with the standard libraries, the
 * bindings preloaded and package.path set to find lua/silk. NULL on failure
 * (message on stderr). */
silk_engine *silk_engine_new(const silk_engine_options *o);

/* Closes the Lua state (finalising every userdata), then the loop. Only
 * when no task is left waiting: never after a hard stop. */
void silk_engine_free(silk_engine *e);

/* Runs the function below the `nargs` arguments on top of L's stack as the
 * main task, then drives the loop to the end described above. Reports
 * (uncaught errors, leaks, deadlocks) go to stderr. The stack of L is
 * empty afterwards. */
silk_outcome silk_engine_run_main(silk_engine *e, int nargs, const char *name);

/* Makes the function at idx of L the handler of the first SIGINT/SIGTERM:
 * instead of cancelling every task, the engine runs it as a task (with the
 * signal's name) and gives the run the grace period to end by itself; a
 * run that ends in time exits successfully. */
void silk_engine_on_shutdown(silk_engine *e, lua_State *L, int idx);

/* Makes the function at idx of L the handler of every SIGINT (a REPL's
 * Ctrl-C): the engine runs it as a task ("interrupt") each time, and SIGINT
 * no longer stops the run (SIGTERM still does). */
void silk_engine_on_interrupt(silk_engine *e, lua_State *L, int idx);

/* The signal that stopped the run, or 0. */
int silk_engine_signal(silk_engine *e);

/* 1 when the run was stopped at once: a second SIGINT/SIGTERM, or a
 * graceful stop (silk_engine_on_shutdown) still running at the end of its
 * grace period. Its tasks are abandoned mid-wait, their timers and I/O
 * still in the loop and their records inside the Lua state, so the caller
 * must end the process (_exit) rather than call silk_engine_free: closing
 * the Lua state would free armed watchers, and the finalisers of what the
 * tasks hold would act on a run that was told to stop now (a crawl's
 * frontier would record a last checkpoint of pages whose items were never
 * recorded). What persists is then exactly what the last checkpoint wrote,
 * as after kill -9. */
int silk_engine_hard_stopped(silk_engine *e);

#endif
