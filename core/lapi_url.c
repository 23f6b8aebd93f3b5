/*
 * lapi_url.c -- silk.core.url: the Lua face of url.c.
 *
 *   join(base, href)            -> url | nil, err   (base may be nil: href absolute)
 *   canonical(url [, opts])     -> url | nil, err   (opts: sort_query, keep_fragment)
 *   host_key(url)               -> "scheme://host:port" | nil, err
 *   host(url)                   -> host as canonical() writes it | nil, err
 *   resolve(base, href)         -> join(base, href), its canonical(), its host()
 *                                  | nil, err  (one pass: the crawl's per-link call)
 *   parse(url)                  -> {scheme, user, password, host, port, path,
 *                                   query, fragment} | nil, err
 *   is_http(url)                -> boolean
 *
 * A bad URL is a runtime outcome: nil plus an error value of kind "url"
 * (errors.h) with the input in err.url. A non-string argument is misuse and
 * raises. Strings returned by url.c are malloc'd: each is pushed and freed
 * at once, so nothing is held across a raise other than lua_pushstring's own
 * memory error.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "errors.h"
#include "lapi.h"
#include "url.h"

#define URL_IN_MESSAGE 200 /* bytes of a bad URL quoted in err.message */

/* The string argument at arg; *ok is 0 when it holds a NUL byte (a URL never
 * does: WHATWG would strip or escape it, we refuse it as data, not misuse). */
static const char *check_url(lua_State *L, int arg, int *ok)
{
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    *ok = strlen(s) == len;
    return s;
}

/* Pushes nil, err for code rc about input s (rc 0: s holds a NUL byte);
 * returns 2. Out of memory raises instead (nothing is held here). */
static int push_fail(lua_State *L, int rc, const char *s)
{
    if (rc == SILK_URL_ENOMEM) {
        lua_pushliteral(L, "not enough memory");
        return lua_error(L);
    }
    char quoted[URL_IN_MESSAGE + 4];
    size_t n = strlen(s);
    if (n > URL_IN_MESSAGE) {
        memcpy(quoted, s, URL_IN_MESSAGE);
        memcpy(quoted + URL_IN_MESSAGE, "...", 4);
    } else {
        memcpy(quoted, s, n + 1);
    }
    lua_pushnil(L);
    silk_err_push(L, "url", "%s: \"%s\"", rc ? silk_url_strerror(rc) : "URL contains a NUL byte",
                  quoted);
    silk_err_setfield(L, -1, "url", s);
    return 2;
}

/* Pushes the malloc'd string out (and frees it) or the failure. */
static int push_result(lua_State *L, int rc, char *out, const char *input)
{
    if (rc)
        return push_fail(L, rc, input);
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* The (base, href) arguments: base may be nil. Returns 0 with both set, or
 * the count of nil, err pushed for one holding a NUL byte. */
static int check_pair(lua_State *L, const char **base, const char **href)
{
    int ok_base = 1, ok_href;
    *base = lua_isnoneornil(L, 1) ? NULL : check_url(L, 1, &ok_base);
    *href = check_url(L, 2, &ok_href);
    if (!ok_base)
        return push_fail(L, 0, *base);
    if (!ok_href)
        return push_fail(L, 0, *href);
    return 0;
}

/*** silk.url.join(base, href) -> url | nil, err
 * href resolved against base by the URL Standard (http and https only).
 * @return the absolute URL, or nil and an error value of kind "url".
 * @usage
 *   print(silk.url.join("http://shop.test/a/b", "../c?x=1"))   --> http://shop.test/c?x=1
 */
static int url_join(lua_State *L)
{
    const char *base, *href;
    int nret = check_pair(L, &base, &href);
    if (nret)
        return nret;
    char *out;
    int rc = silk_url_join(base, href, &out);
    return push_result(L, rc, out, href);
}

static int opt_flag(lua_State *L, int opts, const char *name, unsigned flag)
{
    lua_getfield(L, opts, name);
    int on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on ? (int)flag : 0;
}

/*** silk.url.canonical(url [, {sort_query=, keep_fragment=}]) -> url | nil, err
 * The URL parsed and serialised without its fragment, escapes normalised:
 * what the crawl deduplicates on.
 * @return the canonical URL, or nil and an error value of kind "url".
 * @usage
 *   print(silk.url.canonical("HTTP://Shop.test:80/a/../b#top"))   --> http://shop.test/b
 */
static int url_canonical(lua_State *L)
{
    int ok;
    const char *url = check_url(L, 1, &ok);
    unsigned flags = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        flags |= opt_flag(L, 2, "sort_query", SILK_URL_SORT_QUERY);
        flags |= opt_flag(L, 2, "keep_fragment", SILK_URL_KEEP_FRAGMENT);
    }
    if (!ok)
        return push_fail(L, 0, url);
    char *out;
    int rc = silk_url_canonical(url, flags, &out);
    return push_result(L, rc, out, url);
}

/* A string derived from the URL argument by fn (host_key, host). */
static int derived(lua_State *L, int (*fn)(const char *url, char **out))
{
    int ok;
    const char *url = check_url(L, 1, &ok);
    if (!ok)
        return push_fail(L, 0, url);
    char *out;
    int rc = fn(url, &out);
    return push_result(L, rc, out, url);
}

/*** silk.url.host_key(url) -> key | nil, err
 * scheme://host:port, what per-host politeness counts by.
 * @usage
 *   print(silk.url.host_key("https://shop.test/a"))   --> https://shop.test:443
 */
static int url_host_key(lua_State *L)
{
    return derived(L, silk_url_host_key);
}

/*** silk.url.host(url) -> host | nil, err
 * The URL's host (IDNA names in their ASCII form).
 * @usage
 *   print(silk.url.host("http://Shop.test:8080/"))   --> shop.test
 */
static int url_host(lua_State *L)
{
    return derived(L, silk_url_host);
}

/*** silk.url.resolve(base, href) -> url, canonical, host | nil, err
 * join, canonical and host in one parse (what crawl:follow uses).
 * @usage
 *   local u, canon, host = silk.url.resolve(res.url, href)
 */
static int url_resolve(lua_State *L)
{
    const char *base, *href;
    int nret = check_pair(L, &base, &href);
    if (nret)
        return nret;
    struct silk_url_resolved r;
    int rc = silk_url_resolve(base, href, &r);
    if (rc)
        return push_fail(L, rc, href);
    /* pushing raises only on a memory error: r would leak, nothing worse */
    lua_pushlstring(L, r.url, r.url_len);
    if (r.canonical_len == r.url_len && memcmp(r.canonical, r.url, r.url_len) == 0)
        lua_pushvalue(L, -1);
    else
        lua_pushlstring(L, r.canonical, r.canonical_len);
    lua_pushlstring(L, r.host, r.host_len);
    silk_url_resolved_free(&r);
    return 3;
}

static void set_str(lua_State *L, const char *name, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, name);
}

/*** silk.url.parse(url) -> {scheme=, username=, password=, host=, port=, path=, query=, fragment=} | nil, err
 * The URL's parts, as the URL Standard parses them.
 * @usage
 *   print(silk.url.parse("http://shop.test:8080/p?q=1").port)   --> 8080
 */
static int url_parse(lua_State *L)
{
    int ok;
    const char *url = check_url(L, 1, &ok);
    if (!ok)
        return push_fail(L, 0, url);
    struct silk_url_parts p;
    int rc = silk_url_parse(url, &p);
    if (rc)
        return push_fail(L, rc, url);
    /* Copy into Lua first, free after: a memory error in between would leak
     * p's strings, never corrupt. */
    lua_createtable(L, 0, 8);
    set_str(L, "scheme", p.scheme);
    set_str(L, "user", p.user);
    set_str(L, "password", p.password);
    set_str(L, "host", p.host);
    lua_pushinteger(L, p.port);
    lua_setfield(L, -2, "port");
    set_str(L, "path", p.path);
    set_str(L, "query", p.query);
    set_str(L, "fragment", p.fragment);
    silk_url_parts_free(&p);
    return 1;
}

/*** silk.url.is_http(url) -> boolean
 * Whether url is an absolute http or https URL that parses.
 * @usage
 *   assert(silk.url.is_http("https://shop.test/"))
 */
static int url_is_http(lua_State *L)
{
    int ok;
    const char *url = check_url(L, 1, &ok);
    lua_pushboolean(L, ok && silk_url_is_http(url));
    return 1;
}

static const luaL_Reg url_funcs[] = {
    {"join", url_join},
    {"canonical", url_canonical},
    {"host_key", url_host_key},
    {"host", url_host},
    {"resolve", url_resolve},
    {"parse", url_parse},
    {"is_http", url_is_http},
    {NULL, NULL},
};

int silk_lapi_url(lua_State *L)
{
    lua_createtable(L, 0, sizeof url_funcs / sizeof url_funcs[0] - 1);
    luaL_setfuncs(L, url_funcs, 0);
    return 1;
}
