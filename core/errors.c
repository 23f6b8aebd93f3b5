/*
 * errors.c -- error values shared by every binding; see errors.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"

static const char meta_key = 0;   /* registry key: the shared metatable */

static int err_tostring(lua_State *L)
{
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    const char *kind = lua_tostring(L, -2);
    const char *msg = lua_tostring(L, -1);
    if (msg && *msg)
        lua_pushfstring(L, "%s: %s", kind ? kind : "error", msg);
    else
        lua_pushstring(L, kind ? kind : "error");
    return 1;
}

void silk_err_pushmeta(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&meta_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "silk.error");
    lua_setfield(L, -2, "__name");
    lua_pushlightuserdata(L, (void *)&meta_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

void silk_err_push(lua_State *L, const char *kind, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);  /* full printf; long messages are cut */
    va_end(ap);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, buf);
    lua_setfield(L, -2, "message");
    silk_err_pushmeta(L);
    lua_setmetatable(L, -2);
}

void silk_err_setfield(lua_State *L, int idx, const char *name, const char *value)
{
    idx = idx < 0 && idx > LUA_REGISTRYINDEX ? lua_gettop(L) + idx + 1 : idx;
    lua_pushstring(L, value);
    lua_setfield(L, idx, name);
}

int silk_err_is(lua_State *L, int idx)
{
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    silk_err_pushmeta(L);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}
