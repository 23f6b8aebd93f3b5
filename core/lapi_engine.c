/*
 * lapi_engine.c -- the engine's Lua face: package "silk.core.engine".
 * Clocks (now() for durations, wall() for timestamps), error values,
 * live-resource counts (for leak checks in specs), options, and where the
 * running binary and its Lua modules are; the command line's engine
 * options (their help, "did you mean") for the Lua commands; three probes
 * for benchmarks: the loop's iteration count, when the running task's
 * current resume began, and how many preemption ticks reached tasks; and
 * one for specs, which puts LuaJIT's dispatch table out of step (preempt.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include <ev.h>

#include "cli.h"
#include "engine_int.h"
#include "engine_run.h"
#include "errors.h"
#include "lapi.h"
#include "preempt.h"
#include "task_int.h"
#include "track.h"

/*** silk.now() -> seconds
 * The monotonic clock, in seconds (the clock of deadlines and timings).
 * @usage
 *   local t0 = silk.now()
 *   silk.fetch(u)
 *   print(silk.now() - t0)
 */
static int engine_now(lua_State *L)
{
    lua_pushnumber(L, silk_now());
    return 1;
}

/* wall() -> seconds since the Unix epoch (CLOCK_REALTIME, fractional): for
 * timestamps that people read, such as log lines; now() is monotonic and
 * is the clock for durations */
static int engine_wall(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 1;
}

/* resources() -> { tasks = n, timers = n, ... } live counts of C resources */
static int engine_resources(lua_State *L)
{
    lua_createtable(L, 0, SILK_RES_COUNT_);
    for (int k = 0; k < SILK_RES_COUNT_; k++) {
        lua_pushinteger(L, silk_track_live((silk_res)k));
        lua_setfield(L, -2, silk_track_name((silk_res)k));
    }
    return 1;
}

static int engine_options(lua_State *L)
{
    const silk_engine_options *o = silk_engine_opts(silk_engine_from(L));
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, o->grace);
    lua_setfield(L, -2, "grace");
    lua_pushboolean(L, o->preempt);
    lua_setfield(L, -2, "preempt");
    lua_pushnumber(L, o->slice);
    lua_setfield(L, -2, "slice");
    lua_pushboolean(L, o->allow_leaks);
    lua_setfield(L, -2, "allow_leaks");
    lua_pushinteger(L, o->max_fds);
    lua_setfield(L, -2, "max_fds");
    lua_pushstring(L, o->log_level);      /* nil when not given */
    lua_setfield(L, -2, "log_level");
    lua_pushstring(L, o->log_format);
    lua_setfield(L, -2, "log_format");
    lua_pushstring(L, o->log_file);
    lua_setfield(L, -2, "log_file");
    return 1;
}

/* cli_help() -> the engine options' help, as `silk --help` prints it */
static int engine_cli_help(lua_State *L)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return luaL_error(L, "cli_help: out of memory");
    silk_cli_help(f);
    int ok = fclose(f) == 0;
    if (ok)
        lua_pushlstring(L, text, len);
    free(text);
    if (!ok)
        return luaL_error(L, "cli_help: out of memory");
    return 1;
}

/* suggest_option(word, names) -> the name closest to word among the list
 * names and the engine options */
static int engine_suggest_option(lua_State *L)
{
    const char *word = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)lua_objlen(L, 2);
    /* the strings stay anchored in the table while the array points at them */
    const char **names = lua_newuserdata(L, sizeof *names * ((size_t)n + 1));
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, 2, k + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 2, "a list of strings expected");
        names[k] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    names[n] = NULL;
    lua_pushstring(L, silk_cli_suggest(word, names, 1));
    return 1;
}

/* iteration() -> how many times the event loop has polled so far */
static int engine_iteration(lua_State *L)
{
    lua_pushnumber(L, (double)ev_iteration(silk_engine_loop(silk_engine_from(L))));
    return 1;
}

/* resumed_at() -> the now() at which the scheduler resumed the running task
 * this time (so now() - resumed_at() is the resume's own cost so far), or
 * nil outside a task */
static int engine_resumed_at(lua_State *L)
{
    silk_task *t = silk_engine_from(L)->current;
    if (!t)
        return 0;
    lua_pushnumber(L, t->since);
    return 1;
}

/* ticks() -> how many preemption ticks have reached running tasks so far */
static int engine_ticks(lua_State *L)
{
    lua_pushnumber(L, (double)silk_preempt_ticks());
    return 1;
}

/* desync_dispatch() -> true, or false when it cannot (preempt.h): puts
 * LuaJIT's dispatch table out of step with its recorded mode, for specs */
static int engine_desync_dispatch(lua_State *L)
{
    lua_pushboolean(L, silk_preempt_desync_dispatch() == 0);
    return 1;
}

static int engine_set_exit_code(lua_State *L)
{
    silk_engine_set_exit_code(silk_engine_from(L), (int)luaL_checkinteger(L, 1));
    return 0;
}

static int engine_exe(lua_State *L)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return 0;
    lua_pushlstring(L, path, (size_t)n);
    return 1;
}

static int engine_on_shutdown(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    silk_engine_on_shutdown(silk_engine_from(L), L, 1);
    return 0;
}

static int engine_on_interrupt(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    silk_engine_on_interrupt(silk_engine_from(L), L, 1);
    return 0;
}

/*** silk.error(kind, message) -> err
 * An error value (errors.h) made in Lua: {kind=, message=} whose tostring is
 * "kind: message", so that a spider's own failures look like the core's
 * and callers branch on err.kind alike.
 * @raise a plain error when kind is not a string.
 * @usage
 *   if not price then return nil, silk.error("parse", "no price on " .. res.url) end
 */
static int engine_error(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *msg = luaL_optstring(L, 2, "");
    silk_err_push(L, kind, "%s", msg);
    return 1;
}

static int engine_lua_dir(lua_State *L)
{
    lua_pushstring(L, silk_engine_from(L)->lua_dir);
    return 1;
}

int silk_lapi_engine(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"now", engine_now},
        {"wall", engine_wall},
        {"error", engine_error},
        {"resources", engine_resources},
        {"options", engine_options},
        {"lua_dir", engine_lua_dir},
        {"cli_help", engine_cli_help},
        {"suggest_option", engine_suggest_option},
        {"exe", engine_exe},
        {"on_shutdown", engine_on_shutdown},
        {"on_interrupt", engine_on_interrupt},
        {"set_exit_code", engine_set_exit_code},
        {"iteration", engine_iteration},
        {"resumed_at", engine_resumed_at},
        {"ticks", engine_ticks},
        {"desync_dispatch", engine_desync_dispatch},
        {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}
