/*
 * lapi_jsonl.c -- silk.core.jsonl: the item sinks' JSON text.
 *
 *   jsonl.wrap(encode) -> text, line
 *       encode: a lua-cjson encode function (an instance configured by the
 *       caller); text(value) is its JSON text with "\/" written "/", and
 *       line(value) the same plus "\n": one JSON Lines record.
 *
 * encode's errors (a function in the item, a cycle, ...) propagate
 * unchanged. Undoing the escape in Lua (string.gsub) ran the pattern matcher
 * over every byte of every item: 7 000 instructions an item, 7 % of the loop
 * thread's work in the bench crawl.
 */
#include <stdlib.h>

#include <lauxlib.h>

#include "jsonl.h"
#include "lapi.h"

/* Encodes the value at 1 with the wrapped encode (upvalue 1) and pushes the
 * readable text, with a newline when `newline`. */
static int push_text(lua_State *L, int newline)
{
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    size_t n;
    const char *json = lua_tolstring(L, -1, &n);
    char *out = malloc(n + 1);
    if (!out)
        return luaL_error(L, "not enough memory");
    size_t len = silk_jsonl_unescape_slashes(json, n, out);
    if (newline)
        out[len++] = '\n';
    /* pushing raises only on a memory error: `out` would leak, nothing worse */
    lua_pushlstring(L, out, len);
    free(out);
    return 1;
}

static int jsonl_text(lua_State *L)
{
    return push_text(L, 0);
}

static int jsonl_line(lua_State *L)
{
    return push_text(L, 1);
}

static int jsonl_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, jsonl_text, 1);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, jsonl_line, 1);
    return 2;
}

int silk_lapi_jsonl(lua_State *L)
{
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, jsonl_wrap);
    lua_setfield(L, -2, "wrap");
    return 1;
}
