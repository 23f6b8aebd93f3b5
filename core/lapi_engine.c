/*
 * lapi_engine.c -- the engine's Lua face: package "silk.core.engine".
 * Clock, live-resource counts (for leak checks in specs), options, and
 * where the running binary and its Lua modules are; three probes for
 * benchmarks: the loop's iteration count, when the running task's
 * current resume began, and how many preemption ticks reached tasks.
 */
#include <unistd.h>

#include <lauxlib.h>

#include <ev.h>

#include "engine_int.h"
#include "preempt.h"
#include "task_int.h"
#include "track.h"

static int engine_now(lua_State *L)
{
    lua_pushnumber(L, silk_now());
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

static int engine_lua_dir(lua_State *L)
{
    lua_pushstring(L, silk_engine_from(L)->lua_dir);
    return 1;
}

int silk_lapi_engine(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"now", engine_now},
        {"resources", engine_resources},
        {"options", engine_options},
        {"lua_dir", engine_lua_dir},
        {"exe", engine_exe},
        {"on_shutdown", engine_on_shutdown},
        {"on_interrupt", engine_on_interrupt},
        {"set_exit_code", engine_set_exit_code},
        {"iteration", engine_iteration},
        {"resumed_at", engine_resumed_at},
        {"ticks", engine_ticks},
        {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}
