/*
 * lapi_fetch.c -- the "silk.core.fetch" Lua module: silk.fetch and friends.
 *
 * Translates Lua requests into silk_fetch_req, waits through the task
 * runtime, and turns results into response tables. No fetching logic here.
 *
 * fetch(url_or_request) -> res | nil, err
 *   Context: a task (yields). Interruptions (cancel, deadline) are raised.
 *   request: { url, method, headers = {name = value | {values...}} or
 *   {"Name: value", ...}, body | form = {k = v} | json = value, timeout,
 *   connect_timeout, max_size, follow_redirects, max_redirects, proxy,
 *   session, cookies = {name = value} (sent with this request only),
 *   user_agent, http2 = true | false | "prior_knowledge",
 *   insecure, ca_file, retries, backoff, retry_after_max, raise_for_status,
 *   block_private }.
 *   res: { status, url, method, redirects = {{url=, status=}...}, headers
 *   (case-insensitive keys, multiple values joined by ", "), body,
 *   http_version, remote_ip, size, wire_size, attempts, timings = {dns,
 *   connect, tls, ttfb, total, queued, done_at} } with methods
 *   res:header(name) -> string | nil, res:headers_all(name) -> {values}
 *   (from res._header_list = {name, value, ...}: lowercase names in
 *   arrival order; silk.httpcache stores and rebuilds it); silk.response
 *   (lua/silk/response.lua) adds the others, res:text through decode below.
 *   err.kind: timeout cancelled dns connect tls reset too_large
 *   redirect_loop blocked protocol http invalid; err.url, err.status,
 *   err.attempts (attempts made, retries included); kind http also
 *   carries err.response.
 * stats() -> table of counters (fetch state and resource tracker; fd_waits:
 *   attempts put back for want of a descriptor, fd_cap: the cap since).
 *   Opening the module registers their collector with metrics.c
 *   (silk_fetch_transfers, silk_fetch_requests_total, silk_fetch_errors_total).
 * configure{max_per_host, max_total, pool_max, max_fds, user_agent}.
 * decode(body, content_type [, default]) -> utf8_string, charset, source.
 * encode_form{k = v} -> the urlencoded body fetch sends for `form`.
 * cookies(session) -> {line...}: the session's jar as cookie-file lines;
 *   add_cookie(session, line) -> true | nil, message: puts one back.
 * response_meta: the metatable of responses (other modules add methods).
 * headers_meta: the metatable of res.headers (case-insensitive reads), for
 *   responses built in Lua (silk.testing).
 * error_meta: the metatable of silk's error values (errors.h), for the
 *   errors Lua code makes (res:json's "json" errors in lua/silk/response.lua).
 * now() -> silk_now(), the clock of timings.done_at.
 * start(request, fn [, name [, timeout [, gate]]]) -> handle and
 *   gate(limit) -> gate: transfers with no task until they end, the
 *   crawl's (lapi_fetch_start.c).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include <ev.h>

#include "charset.h"
#include "engine.h"
#include "errors.h"
#include "fetch.h"
#include "lapi.h"
#include "lapi_fetch_int.h"
#include "metrics.h"
#include "task.h"
#include "track.h"

static const char response_key = 0;   /* registry: the response metatable */
static const char headers_key = 0;    /* registry: the metatable of res.headers */

/* The completions of one loop event are one event batch of the scheduler. */
static void batch_begin(void *e)
{
    silk_task_batch_begin(e);
}

static void batch_end(void *e)
{
    silk_task_batch_end(e);
}

static void fetch_stop(void *f)
{
    silk_fetch_free(f);
}

silk_fetch *silk_lapi_fetch_state(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    silk_fetch *f = silk_engine_service(e, SILK_SERVICE_FETCH);
    if (f)
        return f;
    silk_fetch_hooks hooks = {batch_begin, batch_end, e};
    f = silk_fetch_new(silk_engine_loop(e), &hooks, silk_engine_opts(e)->max_fds);
    if (!f)
        luaL_error(L, "fetch: cannot initialise libcurl");
    silk_engine_set_service(e, SILK_SERVICE_FETCH, f, fetch_stop);
    return f;
}

/* --- request translation (may raise: holds no C resources) --------------- */

static const char *opt_string(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "fetch: request field '%s' must be a string", name);
        s = lua_tostring(L, -1);   /* anchored by the request table */
    }
    lua_pop(L, 1);
    return s;
}

static double opt_number(lua_State *L, int t, const char *name, double dflt, double min)
{
    lua_getfield(L, t, name);
    double v = dflt;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "fetch: request field '%s' must be a number", name);
        v = lua_tonumber(L, -1);
        if (v < min || v != v)
            luaL_error(L, "fetch: request field '%s' must be >= %g", name, min);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *name, int dflt)
{
    lua_getfield(L, t, name);
    int v = dflt;
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "fetch: request field '%s' must be a boolean", name);
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static void check_header_text(lua_State *L, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
            luaL_error(L, "fetch: header contains CR, LF or NUL");
}

/* Keeps the string on top of the stack alive in the anchor table at `a`
 * (strings owned by a live table never move) and pops it. */
static const char *anchor(lua_State *L, int a, size_t *len)
{
    const char *s = lua_tolstring(L, -1, len);
    lua_rawseti(L, a, (int)lua_objlen(L, a) + 1);
    return s;
}

static void add_header(lua_State *L, int a, const char **out, int *n, int name_idx, int val_idx)
{
    size_t nl, vl;
    const char *name = lua_tolstring(L, name_idx, &nl);
    const char *val = lua_tolstring(L, val_idx, &vl);
    if (!val)
        luaL_error(L, "fetch: header '%s' must be a string", name);
    check_header_text(L, name, nl);
    check_header_text(L, val, vl);
    if (*n >= MAX_REQ_HEADERS)
        luaL_error(L, "fetch: more than %d request headers", MAX_REQ_HEADERS);
    /* "Name;" is curl's way to send a header with an empty value */
    if (vl)
        lua_pushfstring(L, "%s: %s", name, val);
    else
        lua_pushfstring(L, "%s;", name);
    out[(*n)++] = anchor(L, a, NULL);
}

static int has_header(const char **h, int n, const char *name)
{
    size_t l = strlen(name);
    for (int i = 0; i < n; i++)
        if (strncasecmp(h[i], name, l) == 0 && (h[i][l] == ':' || h[i][l] == ';'))
            return 1;
    return 0;
}

static void url_encode(luaL_Buffer *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            luaL_addchar(b, (char)c);
        } else if (c == ' ') {
            luaL_addchar(b, '+');
        } else {
            luaL_addchar(b, '%');
            luaL_addchar(b, hex[c >> 4]);
            luaL_addchar(b, hex[c & 15]);
        }
    }
}

/* Pushes the list of the string keys of the table at t, sorted, and
 * returns how many there are; `what` names the table in errors. */
static int push_sorted_keys(lua_State *L, int t, const char *what)
{
    lua_newtable(L);
    int keys = lua_gettop(L), nk = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "fetch: %s keys must be strings", what);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++nk);
    }
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, keys);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    return nk;
}

/* Pushes the Cookie header value ("a=1; b=2") of the table of name = value
 * at t, names sorted. A name or value that would end the cookie early or
 * split the header is an error naming it. */
static void push_cookie_line(lua_State *L, int t)
{
    int nk = push_sorted_keys(L, t, "cookie");
    int keys = lua_gettop(L);
    luaL_Buffer b;
    for (int i = 1; i <= nk; i++) {            /* checked first: the buffer owns the top */
        size_t kl, vl;
        lua_rawgeti(L, keys, i);
        const char *k = lua_tolstring(L, -1, &kl);
        lua_gettable(L, t);
        const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, &vl) : NULL;
        if (!v)
            luaL_error(L, "fetch: cookie '%s' must be a string or number", k);
        if (kl == 0 || strcspn(k, "=;, \t\r\n") != kl || strcspn(v, ";\r\n") != vl ||
            strlen(k) != kl || strlen(v) != vl)
            luaL_error(L, "fetch: bad cookie '%s' (names without =;, or blanks, values without ; or line breaks)", k);
        lua_pop(L, 1);
    }
    luaL_buffinit(L, &b);
    for (int i = 1; i <= nk; i++) {
        lua_rawgeti(L, keys, i);
        const char *k = lua_tostring(L, -1);     /* anchored by keys */
        lua_gettable(L, t);
        const char *v = lua_tostring(L, -1);     /* anchored by t */
        lua_pop(L, 1);
        if (i > 1)
            luaL_addstring(&b, "; ");
        luaL_addstring(&b, k);
        luaL_addchar(&b, '=');
        luaL_addstring(&b, v);
    }
    luaL_pushresult(&b);
    lua_remove(L, keys);
}

/* Pushes the application/x-www-form-urlencoded form of the table at t,
 * keys sorted so that requests are reproducible. */
static void push_form(lua_State *L, int t)
{
    int nk = push_sorted_keys(L, t, "form");
    int keys = lua_gettop(L);
    /* values are checked first: the buffer below owns the stack top */
    for (int i = 1; i <= nk; i++) {
        lua_rawgeti(L, keys, i);
        lua_gettable(L, t);
        if (!lua_isstring(L, -1))
            luaL_error(L, "fetch: form values must be strings or numbers");
        lua_pop(L, 1);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= nk; i++) {
        size_t kl, vl;
        lua_rawgeti(L, keys, i);
        const char *k = lua_tolstring(L, -1, &kl);     /* anchored by keys */
        lua_gettable(L, t);
        const char *v = lua_tolstring(L, -1, &vl);     /* anchored by t */
        lua_pop(L, 1);
        if (i > 1)
            luaL_addchar(&b, '&');
        lua_rawgeti(L, keys, i);
        lua_pop(L, 1);
        url_encode(&b, k, kl);
        luaL_addchar(&b, '=');
        url_encode(&b, v, vl);
    }
    luaL_pushresult(&b);
    lua_remove(L, keys);
}

void silk_lapi_fetch_request(lua_State *L, silk_fetch_req *r, const char **hdrs)
{
    const int t = 1, a = 2;
    silk_fetch_req_init(r);
    r->headers = hdrs;
    if (lua_type(L, t) == LUA_TSTRING) {
        r->url = lua_tostring(L, t);
        return;
    }
    if (!lua_istable(L, t))
        luaL_error(L, "fetch: bad argument #1 (URL string or request table expected, got %s)",
                   luaL_typename(L, t));
    r->url = opt_string(L, t, "url");
    if (!r->url)
        luaL_error(L, "fetch: request.url is required");
    r->method = opt_string(L, t, "method");
    r->proxy = opt_string(L, t, "proxy");
    r->session = opt_string(L, t, "session");
    lua_getfield(L, t, "cookies");
    if (lua_istable(L, -1)) {
        push_cookie_line(L, lua_gettop(L));
        r->cookie = anchor(L, a, NULL);
    } else if (!lua_isnil(L, -1) && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
        luaL_error(L, "fetch: request field 'cookies' must be a table of name = value");
    }
    lua_pop(L, 1);
    r->user_agent = opt_string(L, t, "user_agent");
    r->ca_file = opt_string(L, t, "ca_file");
    r->timeout = opt_number(L, t, "timeout", r->timeout, 0);
    r->connect_timeout = opt_number(L, t, "connect_timeout", r->connect_timeout, 0);
    r->max_size = (size_t)opt_number(L, t, "max_size", (double)r->max_size, 0);
    r->max_redirects = (int)opt_number(L, t, "max_redirects", r->max_redirects, 0);
    r->retries = (int)opt_number(L, t, "retries", 0, 0);
    r->backoff = opt_number(L, t, "backoff", r->backoff, 0);
    r->retry_after_max = opt_number(L, t, "retry_after_max", r->retry_after_max, 0);
    r->follow_redirects = opt_bool(L, t, "follow_redirects", 1);
    r->insecure = opt_bool(L, t, "insecure", 0);
    r->raise_for_status = opt_bool(L, t, "raise_for_status", 0);
    r->block_private = opt_bool(L, t, "block_private", 0);

    lua_getfield(L, t, "http2");
    if (lua_isboolean(L, -1))
        r->http2 = lua_toboolean(L, -1) ? SILK_HTTP2_ON : SILK_HTTP2_OFF;
    else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "prior_knowledge") == 0)
        r->http2 = SILK_HTTP2_PRIOR;
    else if (!lua_isnil(L, -1))
        luaL_error(L, "fetch: request field 'http2' must be a boolean or \"prior_knowledge\"");
    lua_pop(L, 1);

    int n = 0;
    lua_getfield(L, t, "headers");
    int h = lua_gettop(L);
    if (lua_istable(L, h)) {
        lua_pushnil(L);
        while (lua_next(L, h)) {                     /* key at -2, value at -1 */
            if (lua_type(L, -2) == LUA_TNUMBER) {    /* "Name: value" */
                size_t l;
                const char *line = lua_tolstring(L, -1, &l);
                if (!line || !memchr(line, ':', l))
                    luaL_error(L, "fetch: header lines must look like 'Name: value'");
                check_header_text(L, line, l);
                if (n >= MAX_REQ_HEADERS)
                    luaL_error(L, "fetch: more than %d request headers", MAX_REQ_HEADERS);
                lua_pushvalue(L, -1);
                hdrs[n++] = anchor(L, a, NULL);
            } else if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
                int vals = lua_gettop(L);
                for (int i = 1;; i++) {
                    lua_rawgeti(L, vals, i);
                    if (lua_isnil(L, -1)) {
                        lua_pop(L, 1);
                        break;
                    }
                    add_header(L, a, hdrs, &n, vals - 1, -1);
                    lua_pop(L, 1);
                }
            } else if (lua_type(L, -2) == LUA_TSTRING) {
                add_header(L, a, hdrs, &n, -2, -1);
            } else {
                luaL_error(L, "fetch: header names must be strings");
            }
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, h)) {
        luaL_error(L, "fetch: request field 'headers' must be a table");
    }
    lua_pop(L, 1);

    /* body, or the form / json conveniences */
    const char *ctype = NULL;
    lua_getfield(L, t, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "fetch: request field 'body' must be a string");
        r->body = lua_tolstring(L, -1, &r->body_len);  /* anchored by the request */
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
        lua_getfield(L, t, "form");
        if (lua_istable(L, -1)) {
            push_form(L, lua_gettop(L));
            r->body = anchor(L, a, &r->body_len);
            ctype = "Content-Type: application/x-www-form-urlencoded";
        } else if (!lua_isnil(L, -1)) {
            luaL_error(L, "fetch: request field 'form' must be a table");
        }
        lua_pop(L, 1);
        lua_getfield(L, t, "json");
        if (!ctype && !lua_isnil(L, -1)) {
            lua_getglobal(L, "require");
            lua_pushliteral(L, "cjson");
            lua_call(L, 1, 1);
            lua_getfield(L, -1, "encode");
            lua_pushvalue(L, -3);
            lua_call(L, 1, 1);
            r->body = anchor(L, a, &r->body_len);
            lua_pop(L, 1);                           /* cjson */
            ctype = "Content-Type: application/json";
        }
        lua_pop(L, 1);
    }
    if (ctype && !has_header(hdrs, n, "content-type") && n < MAX_REQ_HEADERS)
        hdrs[n++] = ctype;
    r->nheaders = n;
}

/* --- results --------------------------------------------------------------- */

/* Pushes the header list { name1, value1, name2, value2, ... } (lowercase
 * names, in arrival order: res:headers_all() reads it) and above it
 * res.headers (lowercase name -> value, repeated names joined by ", "). Two
 * tables per response whatever the headers; a table per name was a third of
 * the cost of a response. */
static void push_headers(lua_State *L, const silk_fetch_result *res)
{
    char name[256];
    lua_createtable(L, 2 * res->nheaders, 0);
    lua_createtable(L, 0, res->nheaders);
    int list = lua_gettop(L) - 1, map = list + 1;
    for (int i = 0; i < res->nheaders; i++) {
        const silk_fetch_header *h = &res->headers[i];
        size_t nl = h->name_len < sizeof name ? h->name_len : sizeof name - 1;
        for (size_t k = 0; k < nl; k++) {
            char c = h->name[k];
            name[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        lua_pushlstring(L, name, nl);                       /* name */
        lua_pushvalue(L, -1);
        lua_rawseti(L, list, 2 * i + 1);
        lua_pushlstring(L, h->value, h->value_len);         /* name value */
        lua_pushvalue(L, -1);
        lua_rawseti(L, list, 2 * i + 2);
        lua_pushvalue(L, -2);
        lua_rawget(L, map);                                 /* name value seen */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushvalue(L, -3);
            lua_concat(L, 3);                               /* name value joined */
            lua_replace(L, -2);
        }
        lua_rawset(L, map);
    }
    lua_pushlightuserdata(L, (void *)&headers_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setmetatable(L, map);
}

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void setstr(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void push_response(lua_State *L, const silk_fetch_result *res)
{
    lua_createtable(L, 0, 16);
    setnum(L, "status", res->status);
    setstr(L, "url", res->url);
    setstr(L, "method", res->method);
    lua_createtable(L, res->nredirects, 0);
    for (int i = 0; i < res->nredirects; i++) {
        lua_createtable(L, 0, 2);
        setstr(L, "url", res->redirects[i].url);
        setnum(L, "status", res->redirects[i].status);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "redirects");
    push_headers(L, res);
    lua_setfield(L, -3, "headers");
    lua_setfield(L, -2, "_header_list");
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
    setstr(L, "http_version", res->http_version);
    setstr(L, "remote_ip", res->remote_ip);
    setnum(L, "size", (double)res->body_len);
    setnum(L, "wire_size", (double)res->wire_size);
    setnum(L, "attempts", res->attempts);
    if (res->retry_after >= 0)
        setnum(L, "retry_after", res->retry_after);
    lua_createtable(L, 0, 7);
    setnum(L, "dns", res->timings.dns);
    setnum(L, "connect", res->timings.connect);
    setnum(L, "tls", res->timings.tls);
    setnum(L, "ttfb", res->timings.ttfb);
    setnum(L, "total", res->timings.total);
    setnum(L, "queued", res->timings.queued);
    setnum(L, "done_at", res->timings.done_at);
    lua_setfield(L, -2, "timings");
    lua_pushlightuserdata(L, (void *)&response_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setmetatable(L, -2);
}

int silk_lapi_fetch_result(lua_State *L, const silk_fetch_result *res)
{
    if (res->kind == SILK_FETCH_OK) {
        push_response(L, res);
        return 1;
    }
    lua_pushnil(L);
    silk_err_push(L, silk_fetch_kind_name(res->kind), "%s", res->message);
    silk_err_setfield(L, -1, "url", res->url);
    lua_pushinteger(L, res->attempts);
    lua_setfield(L, -2, "attempts");
    if (res->status) {
        lua_pushnumber(L, res->status);
        lua_setfield(L, -2, "status");
    }
    if (res->kind == SILK_FETCH_HTTP) {
        push_response(L, res);
        lua_setfield(L, -2, "response");
    }
    return 2;
}

static void on_done(const silk_fetch_result *res, void *ud)
{
    silk_task *t = ud;
    lua_State *co = silk_task_thread(t);
    silk_task_wake(t, silk_lapi_fetch_result(co, res));
}

static void on_cancel(silk_task *t, void *data)
{
    silk_fetch_cancel(data);
}

/*** silk.fetch(url_or_request) -> res | nil, err
 * Fetches a URL (http or https) on the loop: keep-alive, HTTP/2, retries
 * with backoff and Retry-After, redirects checked hop by hop. The request
 * table: url, method, headers, body | form | json, timeout, connect_timeout,
 * max_size, follow_redirects, max_redirects, proxy, session, user_agent,
 * http2, insecure, ca_file, retries, backoff, retry_after_max,
 * raise_for_status, block_private. The response: status, url (after
 * redirects), method, redirects, headers (case-insensitive), body,
 * http_version, remote_ip, size, wire_size, attempts, timings. A 404 is a
 * response, not an error. Context: a task.
 * @return res, or nil and an error value of kind dns, connect, tls, reset,
 *   timeout, too_large, redirect_loop, blocked, protocol, http (only with
 *   raise_for_status: err.response), invalid; err.url, err.status.
 * @raise the task's `cancelled`/`timeout` error value when interrupted; a
 *   plain error for a malformed request (a header with CR/LF, a bad field).
 * @usage
 *   local res, err = silk.fetch{ url = "http://127.0.0.1:8080/", timeout = 10 }
 *   if not res then print(err.kind, err.message) return end
 *   print(res.status, #res.body, res.headers["content-type"])
 */
static int fetch_fetch(lua_State *L)
{
    const char *hdrs[MAX_REQ_HEADERS];
    silk_fetch_req r;
    silk_fetch *f = silk_lapi_fetch_state(L);
    silk_task *t = silk_task_current(L);
    if (!t || silk_task_thread(t) != L)
        return luaL_error(L, "fetch: must be called from a task (not from a coroutine of your own)");
    lua_settop(L, 1);
    lua_newtable(L);                       /* 2: anchors strings made for the request */
    silk_lapi_fetch_request(L, &r, hdrs);            /* may raise; nothing acquired yet */
    silk_fetch_xfer *x = silk_fetch_start(f, &r, on_done, t);
    if (!x)
        return luaL_error(L, "fetch: out of memory");
    return silk_task_wait(L, SILK_WAIT_FETCH, silk_fetch_url(x), on_cancel, x);
}

/* --- response methods -------------------------------------------------------- */

static void push_lower(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++)
        luaL_addchar(&b, s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i]);
    luaL_pushresult(&b);
}

/*** res:header(name) -> value | nil
 * The header's value (case-insensitive name; repeated headers joined by
 * ", "); the same as res.headers[name].
 * @usage
 *   local ctype = res:header("Content-Type")
 */
static int res_header(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "headers");
    push_lower(L, 2);
    lua_rawget(L, -2);
    return 1;
}

/*** res:headers_all(name) -> {values...}
 * Every value of a header, in arrival order (Set-Cookie, Link).
 * @usage
 *   for _, c in ipairs(res:headers_all("set-cookie")) do print(c) end
 */
static int res_headers_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "_header_list");
    int list = lua_gettop(L), n = lua_istable(L, list) ? (int)lua_objlen(L, list) : 0;
    push_lower(L, 2);
    int name = lua_gettop(L), k = 0;
    lua_newtable(L);
    for (int i = 1; i < n; i += 2) {
        lua_rawgeti(L, list, i);
        if (lua_rawequal(L, -1, name)) {
            lua_rawgeti(L, list, i + 1);
            lua_rawseti(L, -3, ++k);
        }
        lua_pop(L, 1);
    }
    return 1;
}

/* Transcodes body (index b) with content type (index ct, may be nil) and
 * pushes text, charset, source. */
static int push_decoded(lua_State *L, int b, int ct, const char *dflt)
{
    size_t len, bom = 0, outl = 0;
    char name[SILK_CHARSET_NAME_MAX], *out = NULL;
    const char *body = luaL_checklstring(L, b, &len);
    const char *ctype = lua_isstring(L, ct) ? lua_tostring(L, ct) : NULL;
    silk_charset_source src = silk_charset_detect(ctype, body, len, dflt, name, &bom);
    int rc = 0, same = strcasecmp(name, "UTF-8") == 0 && silk_charset_valid_utf8(body + bom, len - bom);
    if (same) {
        /* the common case: already clean UTF-8, so the text is the body itself */
        if (bom)
            lua_pushlstring(L, body + bom, len - bom);
        else
            lua_pushvalue(L, b);
    } else {
        rc = silk_charset_to_utf8(name, body + bom, len - bom, &out, &outl);
    }
    if (rc == SILK_CHARSET_EUNKNOWN) {           /* cannot happen for detected names */
        strcpy(name, "UTF-8");
        rc = silk_charset_to_utf8(name, body + bom, len - bom, &out, &outl);
    }
    if (rc != 0)
        return luaL_error(L, "fetch: out of memory decoding the body");
    if (!same) {
        /* on OOM this raises with `out` unfreed: the only raise here, and only then */
        lua_pushlstring(L, out, outl);
        free(out);
    }
    for (char *p = name; *p; p++)
        *p = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
    lua_pushstring(L, name);
    lua_pushstring(L, silk_charset_source_name(src));
    return 3;
}

static int headers_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    push_lower(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/* --- module functions ------------------------------------------------------ */

static int fetch_decode(lua_State *L)
{
    luaL_checkstring(L, 1);
    const char *dflt = luaL_optstring(L, 3, NULL);
    return push_decoded(L, 1, 2, dflt);
}

/* Socket descriptors this process has open, all owners (Linux /proc), or -1. */
static long socket_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t l = readlink(path, target, sizeof target - 1);
        n += l > 7 && strncmp(target, "socket:", 7) == 0;
    }
    closedir(d);
    return n;
}

static int fetch_stats(lua_State *L)
{
    silk_fetch_stats st;
    silk_fetch_get_stats(silk_lapi_fetch_state(L), &st);
    lua_createtable(L, 0, 24);
    setnum(L, "queued", st.queued);
    setnum(L, "active", st.active);
    setnum(L, "backoff", st.backoff);
    setnum(L, "in_flight", st.queued + st.active + st.backoff);
    setnum(L, "hosts", st.hosts);
    setnum(L, "easy_pooled", st.easy_pooled);
    setnum(L, "sockets", st.sockets);
    setnum(L, "watchers", st.watchers);
    setnum(L, "started", st.started);
    setnum(L, "completed", st.completed);
    setnum(L, "cancelled", st.cancelled);
    setnum(L, "retried", st.retried);
    setnum(L, "redirected", st.redirected);
    setnum(L, "fd_waits", st.fd_waits);
    setnum(L, "fd_cap", st.fd_cap);
    /* the resource tracker's view (process-wide) */
    setnum(L, "easy_live", silk_track_live(SILK_RES_CURL_EASY));
    setnum(L, "easy_total", silk_track_total(SILK_RES_CURL_EASY));
    setnum(L, "buffers", silk_track_live(SILK_RES_BUFFER));
    setnum(L, "transfers", silk_track_live(SILK_RES_TRANSFER));
    setnum(L, "socket_fds", socket_fds());
    setnum(L, "tasks", silk_track_live(SILK_RES_TASK));
    lua_createtable(L, 0, SILK_FETCH_KIND_COUNT_);
    for (int k = 0; k < SILK_FETCH_KIND_COUNT_; k++) {
        lua_pushnumber(L, st.errors[k]);
        lua_setfield(L, -2, silk_fetch_kind_name(k));
    }
    lua_setfield(L, -2, "by_kind");
    return 1;
}

/* metrics.h's collector of the fetch layer: its transfers by state, and
 * by outcome and error kind since it was made; zeros before that (a
 * scrape does not make the service). */
static void fetch_collect(void *e)
{
    silk_fetch *f = silk_engine_service(e, SILK_SERVICE_FETCH);
    silk_fetch_stats st = {0};
    if (f)
        silk_fetch_get_stats(f, &st);
    const struct { const char *name; long n; } states[] = {
        {"queued", st.queued}, {"active", st.active}, {"backoff", st.backoff},
    }, outcomes[] = {
        {"started", st.started}, {"completed", st.completed}, {"cancelled", st.cancelled},
        {"retried", st.retried}, {"redirected", st.redirected},
    };
    char l[64];
    for (size_t i = 0; i < sizeof states / sizeof *states; i++) {
        snprintf(l, sizeof l, "state=\"%s\"", states[i].name);
        silk_metrics_set("silk_fetch_transfers", l, (double)states[i].n);
    }
    for (size_t i = 0; i < sizeof outcomes / sizeof *outcomes; i++) {
        snprintf(l, sizeof l, "outcome=\"%s\"", outcomes[i].name);
        silk_metrics_set("silk_fetch_requests_total", l, (double)outcomes[i].n);
    }
    for (int k = SILK_FETCH_OK + 1; k < SILK_FETCH_KIND_COUNT_; k++) {
        snprintf(l, sizeof l, "kind=\"%s\"", silk_fetch_kind_name(k));
        silk_metrics_set("silk_fetch_errors_total", l, (double)st.errors[k]);
    }
}

static int fetch_configure(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    silk_fetch *f = silk_lapi_fetch_state(L);
    silk_fetch_config c = {0};
    c.max_per_host = (int)opt_number(L, 1, "max_per_host", 0, 1);
    c.max_total = (int)opt_number(L, 1, "max_total", 0, 1);
    c.pool_max = (int)opt_number(L, 1, "pool_max", 0, 1);
    c.max_fds = (long)opt_number(L, 1, "max_fds", 0, 1);
    c.user_agent = opt_string(L, 1, "user_agent");
    char err[160];
    if (silk_fetch_configure(f, &c, err, sizeof err) != 0)
        return luaL_error(L, "fetch.configure: %s", err);
    silk_fetch_get_config(f, &c);
    lua_createtable(L, 0, 5);
    setnum(L, "max_per_host", c.max_per_host);
    setnum(L, "max_total", c.max_total);
    setnum(L, "pool_max", c.pool_max);
    setnum(L, "max_fds", (double)c.max_fds);
    setstr(L, "user_agent", c.user_agent);
    return 1;
}

static int fetch_encode_form(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    push_form(L, 1);
    return 1;
}

static void cookie_line(void *ud, const char *line)
{
    lua_State *L = ud;
    lua_pushstring(L, line);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
}

static int fetch_cookies(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    silk_fetch *f = silk_lapi_fetch_state(L);
    lua_newtable(L);
    if (silk_fetch_cookies(f, name, cookie_line, L) != 0)
        return luaL_error(L, "fetch.cookies: out of memory");
    return 1;
}

static int fetch_add_cookie(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *line = luaL_checkstring(L, 2);
    int rc = silk_fetch_cookie_add(silk_lapi_fetch_state(L), name, line);
    if (rc == SILK_FETCH_ENOMEM)
        return luaL_error(L, "fetch.add_cookie: out of memory");
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "not a cookie-file line: %s", line);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int fetch_now(lua_State *L)
{
    lua_pushnumber(L, silk_now());
    return 1;
}

int silk_lapi_fetch(lua_State *L)
{
    static const luaL_Reg res_methods[] = {
        {"header", res_header},
        {"headers_all", res_headers_all},
        {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"stats", fetch_stats},
        {"configure", fetch_configure},
        {"decode", fetch_decode},
        {"encode_form", fetch_encode_form},
        {"cookies", fetch_cookies},
        {"add_cookie", fetch_add_cookie},
        {"now", fetch_now},
        {NULL, NULL},
    };

    silk_metrics_describe("silk_fetch_transfers", SILK_METRIC_GAUGE, "Fetch transfers by state.", NULL, 0);
    silk_metrics_describe("silk_fetch_requests_total", SILK_METRIC_COUNTER, "Fetch transfers by outcome.", NULL, 0);
    silk_metrics_describe("silk_fetch_errors_total", SILK_METRIC_COUNTER, "Fetch failures by kind.", NULL, 0);
    silk_lapi_collector(L, fetch_collect, silk_engine_from(L));

    /* the metatable of res.headers: case-insensitive reads */
    lua_pushlightuserdata(L, (void *)&headers_key);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "silk.headers");
    lua_setfield(L, -2, "__name");
    lua_rawset(L, LUA_REGISTRYINDEX);

    /* the response metatable; methods in __index, open to other modules */
    lua_pushlightuserdata(L, (void *)&response_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 2);
        lua_newtable(L);
        luaL_setfuncs(L, res_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "silk.response");
        lua_setfield(L, -2, "__name");
        lua_pushlightuserdata(L, (void *)&response_key);
        lua_pushvalue(L, -2);
        lua_rawset(L, LUA_REGISTRYINDEX);
    }

    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    silk_lapi_fetch_start_open(L);
    silk_task_pushwaiting(L, fetch_fetch);
    lua_setfield(L, -2, "fetch");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "response_meta");
    silk_err_pushmeta(L);
    lua_setfield(L, -2, "error_meta");
    lua_pushlightuserdata(L, (void *)&headers_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_setfield(L, -2, "headers_meta");
    lua_createtable(L, SILK_FETCH_KIND_COUNT_ - 1, 0);
    for (int k = 1; k < SILK_FETCH_KIND_COUNT_; k++) {
        lua_pushstring(L, silk_fetch_kind_name(k));
        lua_rawseti(L, -2, k);
    }
    lua_setfield(L, -2, "kinds");
    lua_remove(L, -2);
    return 1;
}
