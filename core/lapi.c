/*
 * lapi.c -- registers every binding opener in package.preload; see lapi.h.
 */
#include <lauxlib.h>

#include "lapi.h"

static const luaL_Reg openers[] = {
    {"silk.core.task", silk_lapi_task},
    {"silk.core.engine", silk_lapi_engine},
    {"silk.core.html", silk_lapi_html},
    {"silk.core.url", silk_lapi_url},
    {"silk.core.robots", silk_lapi_robots},
    {"silk.core.fetch", silk_lapi_fetch},
    {"silk.core.console", silk_lapi_console},
    {"silk.core.metrics", silk_lapi_metrics},
    {"silk.core.profile", silk_lapi_profile},
    {"silk.core.gc", silk_lapi_gc},
    {"silk.core.frontier", silk_lapi_frontier},
    {"silk.core.sitemap", silk_lapi_sitemap},
    {"silk.core.jsonl", silk_lapi_jsonl},
    {"silk.core.render", silk_lapi_render},
    {"silk.core.sqlite", silk_lapi_sqlite},
    {NULL, NULL},
};

void silk_lapi_preload(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const luaL_Reg *r = openers; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_pop(L, 2);
}

int silk_lapi_result(lua_State *L, int rc, const char *err)
{
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}
