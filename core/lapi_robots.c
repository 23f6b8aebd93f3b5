/*
 * lapi_robots.c -- silk.core.robots: the Lua face of robots.c.
 *
 *   parse(text)                   -> robots object (never fails on content)
 *   robots:allowed(ua, url_or_path) -> boolean
 *   robots:crawl_delay(ua)        -> seconds | nil
 *   robots:sitemaps()             -> { url, ... }
 *   robots:close()                   frees eagerly; __gc does the same
 *
 * The userdata is created empty before the parse, so a memory error while
 * creating it holds nothing; a method on a closed object raises "attempt to
 * use a closed robots". Wrong argument types raise (misuse).
 */
#include <lauxlib.h>

#include "lapi.h"
#include "robots.h"

#define ROBOTS_MT "silk.robots"

struct robots_ud {
    struct silk_robots *r; /* owned; NULL once closed */
};

static struct silk_robots *check_open(lua_State *L)
{
    struct robots_ud *ud = luaL_checkudata(L, 1, ROBOTS_MT);
    if (!ud->r)
        luaL_error(L, "attempt to use a closed robots");
    return ud->r;
}

static int robots_close(lua_State *L)
{
    struct robots_ud *ud = luaL_checkudata(L, 1, ROBOTS_MT);
    silk_robots_free(ud->r);
    ud->r = NULL;
    return 0;
}

/*** silk.robots.parse(text) -> robots
 * A robots.txt parsed by RFC 9309 (never fails on content).
 * @raise a plain error when text is not a string.
 * @usage
 *   local r = silk.robots.parse("User-agent: *\nDisallow: /admin/\n")
 *   print(r:allowed("silk", "/admin/x"))   --> false
 */
static int robots_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    struct robots_ud *ud = lua_newuserdata(L, sizeof *ud);
    ud->r = NULL;
    luaL_getmetatable(L, ROBOTS_MT);
    lua_setmetatable(L, -2);
    if (silk_robots_parse(text, len, &ud->r) != 0)
        return luaL_error(L, "not enough memory");
    return 1;
}

/*** robots:allowed(user_agent, url_or_path) -> boolean
 * Whether the user agent's group allows the path (longest match wins, Allow
 * on ties).
 * @raise "attempt to use a closed robots" after robots:close().
 * @usage
 *   if r:allowed("silk", "http://shop.test/books/") then ... end
 */
static int robots_allowed(lua_State *L)
{
    struct silk_robots *r = check_open(L);
    size_t ua_len, len;
    const char *ua = luaL_checklstring(L, 2, &ua_len);
    const char *url = luaL_checklstring(L, 3, &len);
    int rc = silk_robots_allowed(r, ua, ua_len, url, len);
    if (rc < 0)
        return luaL_error(L, "not enough memory");
    lua_pushboolean(L, rc);
    return 1;
}

/*** robots:crawl_delay(user_agent) -> seconds | nil
 * The group's Crawl-delay.
 * @usage
 *   print(r:crawl_delay("silk"))
 */
static int robots_crawl_delay(lua_State *L)
{
    struct silk_robots *r = check_open(L);
    size_t ua_len;
    const char *ua = luaL_checklstring(L, 2, &ua_len);
    double s;
    if (silk_robots_crawl_delay(r, ua, ua_len, &s))
        lua_pushnumber(L, s);
    else
        lua_pushnil(L);
    return 1;
}

/*** robots:sitemaps() -> {url...}
 * The Sitemap: lines.
 * @usage
 *   for _, u in ipairs(r:sitemaps()) do print(u) end
 */
static int robots_sitemaps(lua_State *L)
{
    struct silk_robots *r = check_open(L);
    size_t n = silk_robots_sitemap_count(r);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, silk_robots_sitemap(r, i));
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int robots_tostring(lua_State *L)
{
    struct robots_ud *ud = luaL_checkudata(L, 1, ROBOTS_MT);
    if (ud->r)
        lua_pushfstring(L, ROBOTS_MT " (%p)", (void *)ud->r);
    else
        lua_pushliteral(L, ROBOTS_MT " (closed)");
    return 1;
}

static const luaL_Reg robots_methods[] = {
    {"allowed", robots_allowed},
    {"crawl_delay", robots_crawl_delay},
    {"sitemaps", robots_sitemaps},
    {"close", robots_close},
    {NULL, NULL},
};

static const luaL_Reg robots_meta[] = {
    {"__gc", robots_close},
    {"__tostring", robots_tostring},
    {NULL, NULL},
};

int silk_lapi_robots(lua_State *L)
{
    if (luaL_newmetatable(L, ROBOTS_MT)) {
        luaL_setfuncs(L, robots_meta, 0);
        lua_pushliteral(L, ROBOTS_MT); /* LuaJIT's luaL_newmetatable sets no __name */
        lua_setfield(L, -2, "__name");
        lua_createtable(L, 0, 4);
        luaL_setfuncs(L, robots_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, robots_parse);
    lua_setfield(L, -2, "parse");
    return 1;
}
