/*
 * lapi_sitemap.c -- silk.core.sitemap: the Lua face of sitemap.c.
 *
 *   parse(bytes [, {max_urls=, max_bytes=, max_loc=}])
 *     -> { kind = "urlset" | "sitemapindex",
 *          urls = { loc, ... },        -- pages (urlset)
 *          sitemaps = { loc, ... },    -- more sitemaps (sitemapindex)
 *          entries = { {loc=, lastmod=, changefreq=, priority=}, ... },
 *          truncated = boolean,        -- stopped at max_urls (50 000)
 *          skipped = n }               -- entries without a usable <loc>
 *     | nil, err   (err.kind: "sitemap" for non-XML, not a sitemap or bad
 *                   gzip; "too_large" past max_bytes (50 MB decompressed);
 *                   "nomem")
 *
 * Bytes may be gzip'd (detected by magic). The C result is converted and
 * freed before anything can raise, so no C memory is held across a Lua
 * error other than out-of-memory while building the table; for that case
 * the result hangs off a userdata whose __gc frees it.
 */
#include <lauxlib.h>

#include "errors.h"
#include "lapi.h"
#include "sitemap.h"

#define HOLDER_MT "silk.sitemap.holder"

struct holder {
    silk_sitemap *sm;
};

static int holder_gc(lua_State *L)
{
    struct holder *h = luaL_checkudata(L, 1, HOLDER_MT);
    silk_sitemap_free(h->sm);
    h->sm = NULL;
    return 0;
}

static size_t opt_limit(lua_State *L, const char *k)
{
    if (!lua_istable(L, 2))
        return 0;
    lua_getfield(L, 2, k);
    double v = lua_isnil(L, -1) ? 0 : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    if (v < 0)
        luaL_error(L, "sitemap option %s must be >= 0", k);
    return (size_t)v;
}

static int sitemap_parse(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    silk_sitemap_limits lim = {opt_limit(L, "max_bytes"), opt_limit(L, "max_urls"),
                               opt_limit(L, "max_loc")};
    char err[256];
    /* the holder exists before the parse: it owns the result from then on */
    struct holder *h = lua_newuserdata(L, sizeof *h);
    h->sm = NULL;
    luaL_getmetatable(L, HOLDER_MT);
    lua_setmetatable(L, -2);
    int rc = silk_sitemap_parse(data, len, &lim, &h->sm, err, sizeof err);
    if (rc) {
        lua_pushnil(L);
        silk_err_push(L, rc == SILK_SITEMAP_ENOMEM      ? "nomem"
                         : rc == SILK_SITEMAP_ETOOLARGE ? "too_large"
                                                        : "sitemap",
                      "%s", err);
        return 2;
    }
    silk_sitemap *sm = h->sm;
    int index = sm->kind == SILK_SITEMAP_INDEX;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, index ? "sitemapindex" : "urlset");
    lua_setfield(L, -2, "kind");
    lua_createtable(L, index ? 0 : (int)sm->n, 0);
    lua_createtable(L, index ? (int)sm->n : 0, 0);
    lua_createtable(L, (int)sm->n, 0);
    for (size_t i = 0; i < sm->n; i++) {
        silk_sitemap_entry *e = &sm->entries[i];
        lua_pushstring(L, e->loc);
        lua_rawseti(L, index ? -3 : -4, (int)i + 1);
        lua_createtable(L, 0, 4);
        lua_pushstring(L, e->loc);
        lua_setfield(L, -2, "loc");
        if (e->lastmod) {
            lua_pushstring(L, e->lastmod);
            lua_setfield(L, -2, "lastmod");
        }
        if (e->changefreq) {
            lua_pushstring(L, e->changefreq);
            lua_setfield(L, -2, "changefreq");
        }
        if (e->priority >= 0) {
            lua_pushnumber(L, e->priority);
            lua_setfield(L, -2, "priority");
        }
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -4, "entries");
    lua_setfield(L, -3, "sitemaps");
    lua_setfield(L, -2, "urls");
    lua_pushboolean(L, sm->truncated);
    lua_setfield(L, -2, "truncated");
    lua_pushnumber(L, (double)sm->skipped);
    lua_setfield(L, -2, "skipped");
    silk_sitemap_free(sm);
    h->sm = NULL;
    return 1;
}

int silk_lapi_sitemap(lua_State *L)
{
    if (luaL_newmetatable(L, HOLDER_MT)) {
        lua_pushcfunction(L, holder_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, HOLDER_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sitemap_parse);
    lua_setfield(L, -2, "parse");
    return 1;
}
