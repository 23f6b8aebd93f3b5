/*
 * lapi_profile.c -- "silk.core.profile": profile.c for Lua.
 *
 *   start() -> profile | nil, err          sampling starts now (one at a time)
 *   profile:stop()                         idempotent
 *   profile:samples() -> n
 *   profile:write(svg_path) -> true | nil, err        FILE.svg and FILE.folded
 *   profile:write_folded(path) -> true | nil, err
 *   profile:close()                        stop and free (also __gc)
 * Context: any. The user-facing wrapper is lua/silk/profile.lua.
 */
#include <lauxlib.h>

#include "lapi.h"
#include "profile.h"

#define PROFILE_MT "silk.profile"

typedef struct lprofile {
    silk_profile *p;              /* NULL once closed */
} lprofile;

static silk_profile *check_profile(lua_State *L)
{
    lprofile *lp = luaL_checkudata(L, 1, PROFILE_MT);
    if (!lp->p)
        luaL_error(L, "attempt to use a closed profile");
    return lp->p;
}

static int profile_start(lua_State *L)
{
    lprofile *lp = lua_newuserdata(L, sizeof *lp);
    lp->p = NULL;
    luaL_getmetatable(L, PROFILE_MT);
    lua_setmetatable(L, -2);
    char err[256];
    lp->p = silk_profile_start(silk_engine_from(L), err, sizeof err);
    if (!lp->p) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static int profile_stop(lua_State *L)
{
    silk_profile_stop(check_profile(L));
    return 0;
}

static int profile_samples(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)silk_profile_samples(check_profile(L)));
    return 1;
}

static int profile_write(lua_State *L)
{
    silk_profile *p = check_profile(L);
    char err[512];
    int rc = silk_profile_write(p, luaL_checkstring(L, 2), err, sizeof err);
    return silk_lapi_result(L, rc, err);
}

static int profile_write_folded(lua_State *L)
{
    silk_profile *p = check_profile(L);
    char err[512];
    int rc = silk_profile_write_folded(p, luaL_checkstring(L, 2), err, sizeof err);
    return silk_lapi_result(L, rc, err);
}

static int profile_close(lua_State *L)
{
    lprofile *lp = luaL_checkudata(L, 1, PROFILE_MT);
    silk_profile_free(lp->p);
    lp->p = NULL;
    return 0;
}

int silk_lapi_profile(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"stop", profile_stop},
        {"samples", profile_samples},
        {"write", profile_write},
        {"write_folded", profile_write_folded},
        {"close", profile_close},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, PROFILE_MT)) {
        lua_pushliteral(L, PROFILE_MT);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, profile_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, profile_start);
    lua_setfield(L, -2, "start");
    return 1;
}
