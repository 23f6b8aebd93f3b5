/*
 * lapi_render.c -- the "silk.core.render" Lua module: page handles over the
 * pool of render.h. The user-facing API (silk.render, page:click, ...) is
 * lua/silk/render.lua, built on these primitives.
 *
 * open([context]) -> page | nil, err leases a tab of browser context `context`
 *                                    (a session name; nil: the default context)
 *                                    (waits: max_busy, opening)
 * page:call(method [, params]) -> result | nil, err
 *                                    one DevTools command on the page's session;
 *                                    params and result are Lua tables (JSON)
 * page:wait_lifecycle(loader, name) -> true | nil, err
 * page:response(loader) -> Network.Response table | nil
 * page:set_url(url)                  what dumps and leak reports show
 * page:settings() / page:set_settings(s)  what the tab was configured with
 * page:set_guard(deny_private, allow, block [, max_size])  see silk_tab_set_guard
 * page:close([broken])               idempotent; also __gc
 * page:info() -> {no, target, context (browserContextId, "" for the
 *                 default), browser (its number, from 1), pages, broken,
 *                 closed, url, task}
 * configure{browsers, max_busy, max_pages, recycle_after, page_idle_timeout,
 *           close_timeout, memory_budget, memory_interval} -> config
 * stats([measure]) -> table (measure: the browser trees' PSS read now),
 *                 with browsers = {{pid, restarts, crashes, busy, idle,
 *                 draining, budget_recycles, pss}...}
 * stats() -> table; pages() -> {info...} of open pages; dump() -> text
 * b64decode(s) -> bytes | nil; error(kind, message [, url]) -> error value
 * fetch_patterns(deny_private, block, capped) -> the Fetch.enable patterns a tab needs
 * Tables sent as JSON: a non-empty sequence is an array, anything else an
 * object, except that a table whose metatable has __jsonarray is an array.
 *
 * err.kind: render_crashed browser_crashed browser protocol closed.
 * Every wait runs under the task's deadline and cancellation: an
 * interrupted wait cancels its operation, which stops the page (see
 * silk_tab_cancel), and the handle is then broken: closing it closes the
 * target instead of pooling it.
 *
 * A page handle belongs to the task that opened it: when that task ends
 * with the handle still open, the handle is closed (the tab recycled) and
 * the page is reported as a leak at exit, naming the task.
 *
 * The pool, the open pages and the leaks are the engine's render service
 * (engine.h), made on first use: its report names the pages left open,
 * its stop ends the browsers.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "charset.h"
#include "engine.h"
#include "errors.h"
#include "lapi.h"
#include "render.h"
#include "task_int.h"
#include "track.h"

#define PAGE_META "silk.page"
#define MAX_DEPTH 64
#define MAX_LEAKS 32                  /* leak lines kept; the rest are counted */

typedef struct render_svc render_svc;

typedef struct page {
    render_svc *svc;                  /* NULL once the service stopped */
    silk_tab *tab;                    /* leased tab, NULL before the lease and once closed */
    int closed;
    int ref;                          /* registry anchor while open */
    unsigned long no;                 /* page number, for people */
    silk_task *owner;
    uint64_t owner_id;
    char owner_name[64];
    char url[256];
    struct page *next, *prev;         /* open pages */
} page;

typedef struct waiter {
    silk_task *t;
    silk_tab_op *op;
    page *p;                          /* a lease: the page being opened */
} waiter;

/* The engine's render service. */
struct render_svc {
    silk_engine *e;
    silk_render *pool;
    page *open_pages;
    unsigned long page_count;
    char leaks[MAX_LEAKS][400];       /* pages closed when their task ended */
    int nleaks, leaks_dropped;
};

/* --- JSON <-> Lua ------------------------------------------------------------ */

static int table_to_json(lua_State *L, int idx, int depth, json_object **out, char *err, size_t errsz);

/* Converts the value at idx into *out (nil: JSON null, a NULL pointer);
 * 0, or -1 with a message in err when it cannot. */
static int to_json(lua_State *L, int idx, int depth, json_object **out, char *err, size_t errsz)
{
    *out = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return 0;
    case LUA_TBOOLEAN: *out = json_object_new_boolean(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d)) {
            snprintf(err, errsz, "a number that is not finite");
            return -1;
        }
        if (d == (double)(int64_t)d && d > -9007199254740992.0 && d < 9007199254740992.0)
            *out = json_object_new_int64((int64_t)d);
        else
            *out = json_object_new_double(d);
        break;
    }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        if (n > INT_MAX || !silk_charset_valid_utf8(s, n)) {
            snprintf(err, errsz, "a string that is not UTF-8");
            return -1;
        }
        *out = json_object_new_string_len(s, (int)n);
        break;
    }
    case LUA_TTABLE: return table_to_json(L, idx, depth, out, err, errsz);
    default:
        snprintf(err, errsz, "a %s cannot be sent", luaL_typename(L, idx));
        return -1;
    }
    if (*out)
        return 0;
    snprintf(err, errsz, "out of memory");
    return -1;
}

/* Adds the value on top of the stack to j: appended when j is an array,
 * else under the key below it, which must be a string. 0, or -1 with a
 * message in err. */
static int add_item(lua_State *L, json_object *j, int depth, char *err, size_t errsz)
{
    const char *k = NULL;
    if (json_object_is_type(j, json_type_object)) {
        size_t kn = 0;
        k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kn) : NULL;
        if (!k || strlen(k) != kn || !silk_charset_valid_utf8(k, kn)) {
            snprintf(err, errsz, "object keys must be UTF-8 strings without NUL");
            return -1;
        }
    }
    json_object *v;
    if (to_json(L, -1, depth + 1, &v, err, errsz) != 0)
        return -1;
    if ((k ? json_object_object_add(j, k, v) : json_object_array_add(j, v)) != 0) {
        json_object_put(v);
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    return 0;
}

/* to_json for a table: an array when it is a non-empty sequence or marked
 * as one (render.array(): [] even when empty), else an object. */
static int table_to_json(lua_State *L, int idx, int depth, json_object **out, char *err, size_t errsz)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, errsz, "tables nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    size_t n = lua_objlen(L, idx);
    int array = n > 0;
    if (!array && lua_getmetatable(L, idx)) {
        lua_getfield(L, -1, "__jsonarray");
        array = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    json_object *j = array ? json_object_new_array_ext((int)n) : json_object_new_object();
    if (!j) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    int rc = 0;
    if (array) {
        for (size_t i = 1; rc == 0 && i <= n; i++) {
            lua_rawgeti(L, idx, (int)i);
            rc = add_item(L, j, depth, err, errsz);
            lua_pop(L, 1);
        }
    } else {
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, idx)) {
            rc = add_item(L, j, depth, err, errsz);
            lua_pop(L, rc == 0 ? 1 : 2);  /* the value; on failure the key too */
        }
    }
    if (rc != 0) {
        json_object_put(j);
        return -1;
    }
    *out = j;
    return 0;
}

/* Pushes j as a Lua value (null: nil). */
static void push_json(lua_State *L, json_object *j, int depth)
{
    luaL_checkstack(L, 4, "JSON nested too deep");
    switch (json_object_get_type(j)) {
    case json_type_object:
        lua_createtable(L, 0, json_object_object_length(j));
        json_object_object_foreach(j, k, v) {
            push_json(L, v, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    case json_type_array: {
        size_t n = json_object_array_length(j);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, json_object_array_get_idx(j, i), depth + 1);
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    }
    case json_type_string: lua_pushlstring(L, json_object_get_string(j), (size_t)json_object_get_string_len(j)); break;
    case json_type_int:
    case json_type_double: lua_pushnumber(L, json_object_get_double(j)); break;
    case json_type_boolean: lua_pushboolean(L, json_object_get_boolean(j)); break;
    default: lua_pushnil(L); break;
    }
}

/* --- pages -------------------------------------------------------------------- */

static void svc_batch(int begin, void *ud)
{
    if (begin)
        silk_task_batch_begin(ud);
    else
        silk_task_batch_end(ud);
}

static int svc_report(void *service, FILE *out, const char *prefix);
static void svc_stop(void *service);

/* The engine's render service, made on first use. */
static render_svc *check_svc(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    render_svc *svc = silk_engine_service(e, SILK_SERVICE_RENDER);
    if (svc)
        return svc;
    silk_render_hooks hooks = { svc_batch, e };
    if (!(svc = calloc(1, sizeof *svc)) || !(svc->pool = silk_render_new(silk_engine_loop(e), &hooks))) {
        free(svc);
        luaL_error(L, "render: out of memory");
    }
    svc->e = e;
    silk_engine_set_service(e, SILK_SERVICE_RENDER, svc, svc_stop);
    silk_engine_set_service_report(e, SILK_SERVICE_RENDER, svc_report);
    return svc;
}

static silk_render *check_render(lua_State *L)
{
    return check_svc(L)->pool;
}

static page *check_page(lua_State *L, int idx)
{
    page *p = luaL_checkudata(L, idx, PAGE_META);
    if (p->closed)
        luaL_error(L, "attempt to use a closed page");
    return p;
}

static void unlink_page(page *p)
{
    if (p->next)
        p->next->prev = p->prev;
    if (p->prev)
        p->prev->next = p->next;
    else if (p->svc && p->svc->open_pages == p)
        p->svc->open_pages = p->next;
    p->next = p->prev = NULL;
}

/* Closes p: returns its tab, drops the anchor. Idempotent. */
static void page_close_(lua_State *L, page *p, int broken)
{
    if (p->closed)
        return;
    p->closed = 1;
    if (p->tab)
        silk_tab_release(p->tab, broken);
    p->tab = NULL;
    unlink_page(p);
    luaL_unref(L, LUA_REGISTRYINDEX, p->ref);
    p->ref = LUA_NOREF;
    silk_track_release(SILK_RES_PAGE);
}

static void push_err(lua_State *L, silk_render_kind kind, const char *message)
{
    lua_pushnil(L);
    silk_err_push(L, silk_render_kind_name(kind), "%s", message ? message : silk_render_kind_name(kind));
}

static void on_leased(silk_render_kind kind, json_object *res, const char *message, void *ud)
{
    waiter *w = ud;
    lua_State *co = silk_task_thread(w->t);
    page *p = w->p;
    int n = 1;
    if (kind == SILK_RENDER_OK) {
        p->tab = silk_tab_op_tab(w->op);
        lua_rawgeti(co, LUA_REGISTRYINDEX, p->ref);
    } else {
        page_close_(co, p, 1);
        push_err(co, kind, message);
        n = 2;
    }
    silk_task *t = w->t;
    free(w);
    silk_task_wake(t, n);
}

static void on_cancel(silk_task *t, void *data)
{
    waiter *w = data;
    silk_tab_cancel(w->op);
    if (w->p)                         /* a lease given up: the handle never opened */
        page_close_(silk_task_thread(t), w->p, 1);
    free(w);
}

static waiter *new_waiter(lua_State *L, silk_task *t)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w)
        luaL_error(L, "render: out of memory");
    w->t = t;
    return w;
}

static int render_open(lua_State *L)
{
    render_svc *svc = check_svc(L);
    const char *context = luaL_optstring(L, 1, NULL);
    silk_task *t = silk_task_check_current(L, "render.open");
    page *p = lua_newuserdata(L, sizeof *p);
    memset(p, 0, sizeof *p);
    p->svc = svc;
    p->closed = 1;                    /* until it is anchored and listed */
    luaL_getmetatable(L, PAGE_META);
    lua_setmetatable(L, -2);
    waiter *w = new_waiter(L, t);     /* may raise: nothing acquired yet */
    lua_pushvalue(L, -1);
    p->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    p->closed = 0;
    p->no = ++svc->page_count;
    p->owner = t;
    p->owner_id = t->id;
    snprintf(p->owner_name, sizeof p->owner_name, "%s", t->name ? t->name : "");
    p->next = svc->open_pages;
    if (svc->open_pages)
        svc->open_pages->prev = p;
    svc->open_pages = p;
    silk_track_acquire(SILK_RES_PAGE);
    w->p = p;
    w->op = silk_tab_lease(svc->pool, context, on_leased, w);
    if (!w->op) {
        free(w);
        page_close_(L, p, 1);
        return luaL_error(L, "render: out of memory");
    }
    return silk_task_wait(L, SILK_WAIT_IO, "render: a page", on_cancel, w);
}

static void on_reply(silk_render_kind kind, json_object *res, const char *message, void *ud)
{
    waiter *w = ud;
    lua_State *co = silk_task_thread(w->t);
    silk_task *t = w->t;
    free(w);
    if (kind == SILK_RENDER_OK) {
        if (res)
            push_json(co, res, 0);
        else
            lua_pushboolean(co, 1);
        silk_task_wake(t, 1);
        return;
    }
    push_err(co, kind, message);
    if (kind == SILK_RENDER_PROTOCOL && res) {
        push_json(co, res, 0);
        lua_setfield(co, -2, "protocol");
    }
    silk_task_wake(t, 2);
}

static int page_call(lua_State *L)
{
    page *p = check_page(L, 1);
    const char *method = luaL_checkstring(L, 2);
    silk_task *t = silk_task_check_current(L, "page:call");
    char err[160];
    json_object *params = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (to_json(L, 3, 0, &params, err, sizeof err) != 0)
            return luaL_error(L, "page:cdp: params of %s: %s", method, err);
    }
    if (!p->tab) {
        json_object_put(params);
        return luaL_error(L, "page:call: the page is not open yet");
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) {
        json_object_put(params);
        return luaL_error(L, "render: out of memory");
    }
    w->t = t;
    w->op = silk_tab_call(p->tab, method, params, on_reply, w);
    if (!w->op) {
        free(w);
        return luaL_error(L, "render: out of memory");
    }
    return silk_task_wait(L, SILK_WAIT_IO, p->url[0] ? p->url : "render", on_cancel, w);
}

static int page_wait_lifecycle(lua_State *L)
{
    page *p = check_page(L, 1);
    const char *loader = luaL_checkstring(L, 2), *name = luaL_checkstring(L, 3);
    silk_task *t = silk_task_check_current(L, "page:wait_lifecycle");
    if (!p->tab)
        return luaL_error(L, "page:wait_lifecycle: the page is not open yet");
    waiter *w = new_waiter(L, t);
    w->op = silk_tab_wait_lifecycle(p->tab, loader, name, on_reply, w);
    if (!w->op) {
        free(w);
        return luaL_error(L, "render: out of memory");
    }
    return silk_task_wait(L, SILK_WAIT_IO, p->url[0] ? p->url : "render", on_cancel, w);
}

static int page_response(lua_State *L)
{
    page *p = check_page(L, 1);
    json_object *j = p->tab ? silk_tab_response(p->tab, luaL_checkstring(L, 2)) : NULL;
    if (!j)
        return 0;
    push_json(L, j, 0);
    return 1;
}

static int page_set_url(lua_State *L)
{
    page *p = check_page(L, 1);
    snprintf(p->url, sizeof p->url, "%s", luaL_checkstring(L, 2));
    return 0;
}

/* What the last lease left set on the tab (user agent, headers, ...), as
 * a string render.lua composes, so that a reused tab is reconfigured only
 * when the next page wants something else. */
static int page_settings(lua_State *L)
{
    page *p = check_page(L, 1);
    const char *s = p->tab ? silk_tab_settings(p->tab) : NULL;
    lua_pushstring(L, s ? s : "");
    return 1;
}

static int page_set_settings(lua_State *L)
{
    page *p = check_page(L, 1);
    const char *s = luaL_checkstring(L, 2);
    if (p->tab && silk_tab_set_settings(p->tab, s) != 0)
        return luaL_error(L, "render: out of memory");
    return 0;
}

#define LIST_MAX 64

/* The strings of the list at idx (nil: none) into out; their count. */
static int string_list(lua_State *L, int idx, const char **out, const char *what)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)lua_objlen(L, idx);
    if (n > LIST_MAX)
        luaL_error(L, "render: at most %d %s", LIST_MAX, what);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "render: %s must be strings", what);
        out[i] = lua_tostring(L, -1);     /* anchored by the table */
        lua_pop(L, 1);
    }
    return n;
}

/* page:set_guard(deny_private, {"host:port", ...}, {url pattern, ...} [, max_size]) */
static int page_set_guard(lua_State *L)
{
    page *p = check_page(L, 1);
    int deny = lua_toboolean(L, 2);
    const char *allow[LIST_MAX], *block[LIST_MAX];
    int n = string_list(L, 3, allow, "allowed hosts (\"host:port\")");
    int nb = string_list(L, 4, block, "block patterns");
    double max_size = luaL_optnumber(L, 5, 0);
    if (p->tab && silk_tab_set_guard(p->tab, deny, allow, n, block, nb, max_size) != 0)
        return luaL_error(L, "render: out of memory");
    return 0;
}

static int page_close(lua_State *L)
{
    page *p = luaL_checkudata(L, 1, PAGE_META);
    page_close_(L, p, lua_toboolean(L, 2));
    return 0;
}

static void push_info(lua_State *L, page *p)
{
    lua_createtable(L, 0, 10);
    lua_pushnumber(L, (double)p->no);
    lua_setfield(L, -2, "no");
    lua_pushstring(L, p->tab ? silk_tab_target(p->tab) : "");
    lua_setfield(L, -2, "target");
    lua_pushstring(L, p->tab ? silk_tab_context(p->tab) : "");
    lua_setfield(L, -2, "context");
    lua_pushinteger(L, p->tab ? silk_tab_browser(p->tab) + 1 : 0);
    lua_setfield(L, -2, "browser");
    lua_pushinteger(L, p->tab ? silk_tab_pages(p->tab) : 0);
    lua_setfield(L, -2, "pages");
    lua_pushboolean(L, p->tab && silk_tab_broken(p->tab));
    lua_setfield(L, -2, "broken");
    lua_pushboolean(L, p->closed);
    lua_setfield(L, -2, "closed");
    lua_pushstring(L, p->url);
    lua_setfield(L, -2, "url");
    lua_pushfstring(L, "task %d%s%s", (int)p->owner_id, p->owner_name[0] ? " " : "", p->owner_name);
    lua_setfield(L, -2, "task");
    lua_pushstring(L, p->closed ? "closed" : p->tab ? "open" : "opening");
    lua_setfield(L, -2, "state");
}

static int page_info(lua_State *L)
{
    push_info(L, luaL_checkudata(L, 1, PAGE_META));
    return 1;
}

static int page_tostring(lua_State *L)
{
    page *p = luaL_checkudata(L, 1, PAGE_META);
    lua_pushfstring(L, "page %d (%s)", (int)p->no, p->closed ? "closed" : p->url[0] ? p->url : "blank");
    return 1;
}

/* The engine's task-end hook: pages a task leaves open are closed and
 * remembered as leaks. */
static void on_task_end(silk_task *t, void *data)
{
    silk_engine *e = data;
    render_svc *svc = silk_engine_service(e, SILK_SERVICE_RENDER);
    for (page *p = svc ? svc->open_pages : NULL, *next; p; p = next) {
        next = p->next;
        if (p->owner != t || !p->tab)
            continue;
        if (svc->nleaks < MAX_LEAKS)
            snprintf(svc->leaks[svc->nleaks++], sizeof svc->leaks[0],
                     "page %lu (%s) opened by task %llu%s%s was never closed (closed when its task ended)",
                     p->no, p->url[0] ? p->url : "blank", (unsigned long long)p->owner_id,
                     p->owner_name[0] ? " " : "", p->owner_name);
        else
            svc->leaks_dropped++;
        page_close_(silk_engine_lua(e), p, 1);
    }
}

/* The service's report (engine.h): the pages tasks left open, then those
 * still open; forgets them. */
static int svc_report(void *service, FILE *out, const char *prefix)
{
    render_svc *svc = service;
    int n = 0;
    for (int i = 0; i < svc->nleaks; i++, n++)
        fprintf(out, "%s%s\n", prefix, svc->leaks[i]);
    if (svc->leaks_dropped)
        fprintf(out, "%s%d more pages were never closed\n", prefix, svc->leaks_dropped);
    for (page *p = svc->open_pages; p; p = p->next, n++)
        fprintf(out, "%spage %lu (%s) opened by task %llu%s%s is still open\n", prefix, p->no,
                p->url[0] ? p->url : "blank", (unsigned long long)p->owner_id,
                p->owner_name[0] ? " " : "", p->owner_name);
    n += svc->leaks_dropped > 0;
    svc->nleaks = svc->leaks_dropped = 0;
    return n;
}

/* The service's stop (engine.h): handles still open lose their tab (every
 * task has ended: nothing waits on them), then the browsers go. */
static void svc_stop(void *service)
{
    render_svc *svc = service;
    lua_State *L = silk_engine_lua(svc->e);
    while (svc->open_pages) {
        page *p = svc->open_pages;
        p->tab = NULL;
        page_close_(L, p, 1);
        p->svc = NULL;
    }
    silk_render_free(svc->pool);
    free(svc);
}

/* --- module functions ----------------------------------------------------------- */

static int opt_int(lua_State *L, const char *name)
{
    lua_getfield(L, 1, name);
    int v = 0;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 1)
            luaL_error(L, "render.configure: '%s' must be a number >= 1", name);
        v = (int)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Field `name` of the table at 1: a number > 0, or 0 when absent (unchanged). */
static double opt_positive(lua_State *L, const char *name)
{
    lua_getfield(L, 1, name);
    if (!lua_isnil(L, -1) && !(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0))
        luaL_error(L, "render.configure: '%s' must be a number > 0", name);
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static int render_configure(lua_State *L)
{
    silk_render *r = check_render(L);
    silk_render_config c = { .memory_budget = -1 };
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        c.browsers = opt_int(L, "browsers");
        c.max_busy = opt_int(L, "max_busy");
        c.max_pages = opt_int(L, "max_pages");
        c.recycle_after = opt_int(L, "recycle_after");
        c.page_idle_timeout = opt_positive(L, "page_idle_timeout");
        lua_getfield(L, 1, "memory_budget");
        if (!lua_isnil(L, -1) && !(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0))
            luaL_error(L, "render.configure: 'memory_budget' must be a number of bytes >= 0 (0: none)");
        c.memory_budget = lua_isnil(L, -1) ? -1 : lua_tonumber(L, -1);
        lua_pop(L, 1);
        c.memory_interval = opt_positive(L, "memory_interval");
        c.close_timeout = opt_positive(L, "close_timeout");
        if (silk_render_configure(r, &c) != 0)
            return luaL_error(L, "render.configure: 'browsers' cannot drop browsers that hold open "
                              "pages (or memory ran out)");
    }
    silk_render_get_config(r, &c);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, c.browsers);
    lua_setfield(L, -2, "browsers");
    lua_pushinteger(L, c.max_busy);
    lua_setfield(L, -2, "max_busy");
    lua_pushinteger(L, c.max_pages);
    lua_setfield(L, -2, "max_pages");
    lua_pushinteger(L, c.recycle_after);
    lua_setfield(L, -2, "recycle_after");
    lua_pushnumber(L, c.page_idle_timeout);
    lua_setfield(L, -2, "page_idle_timeout");
    lua_pushnumber(L, c.close_timeout);
    lua_setfield(L, -2, "close_timeout");
    lua_pushnumber(L, c.memory_budget);
    lua_setfield(L, -2, "memory_budget");
    lua_pushnumber(L, c.memory_interval);
    lua_setfield(L, -2, "memory_interval");
    return 1;
}

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static int render_stats(lua_State *L)
{
    silk_render_stats st;
    silk_render *r = check_render(L);
    if (lua_toboolean(L, 1))
        silk_render_measure(r);
    silk_render_get_stats(r, &st);
    lua_createtable(L, 0, 34);
    setnum(L, "browser_pid", st.browser.pid);
    setnum(L, "browser_restarts", st.browser.restarts);
    setnum(L, "browser_crashes", st.browser.crashes);
    setnum(L, "messages_sent", st.browser.sent);
    setnum(L, "messages_received", st.browser.received);
    setnum(L, "calls_pending", st.browser.pending);
    setnum(L, "replies_dropped", st.browser.dropped);
    setnum(L, "opening", st.opening);
    setnum(L, "idle", st.idle);
    setnum(L, "busy", st.busy);
    setnum(L, "closing", st.closing);
    setnum(L, "queued", st.queued);
    setnum(L, "leases", st.leases);
    setnum(L, "created", st.created);
    setnum(L, "closed", st.closed);
    setnum(L, "recycled", st.recycled);
    setnum(L, "evicted", st.evicted);
    setnum(L, "idle_closed", st.idle_closed);
    setnum(L, "renderer_crashes", st.renderer_crashes);
    setnum(L, "interrupted", st.interrupted);
    setnum(L, "blocked", st.blocked);
    setnum(L, "filtered", st.filtered);
    setnum(L, "contexts", st.contexts);
    setnum(L, "close_timeouts", st.close_timeouts);
    setnum(L, "budget_recycles", st.budget_recycles);
    setnum(L, "draining", st.draining);
    setnum(L, "oversize", st.oversize);
    setnum(L, "oversize_bytes", st.oversize_bytes);
    setnum(L, "browser_pss", st.browser_pss);
    setnum(L, "pages_open", silk_track_live(SILK_RES_PAGE));
    lua_createtable(L, st.browsers, 0);
    for (int i = 0; i < st.browsers; i++) {
        silk_render_browser_stats b;
        silk_render_get_browser_stats(r, i, &b);
        lua_createtable(L, 0, 8);
        setnum(L, "pid", b.browser.pid);
        setnum(L, "restarts", b.browser.restarts);
        setnum(L, "crashes", b.browser.crashes);
        setnum(L, "busy", b.busy);
        setnum(L, "idle", b.idle);
        setnum(L, "draining", b.draining);
        setnum(L, "budget_recycles", b.budget_recycles);
        setnum(L, "pss", b.pss);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "browsers");
    return 1;
}

static int render_pages(lua_State *L)
{
    render_svc *svc = silk_engine_service(silk_engine_from(L), SILK_SERVICE_RENDER);
    lua_newtable(L);
    int i = 0;
    for (page *p = svc ? svc->open_pages : NULL; p; p = p->next) {
        push_info(L, p);
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

/* error(kind, message [, url]) -> a silk error value (render.lua's kinds) */
static int render_error(lua_State *L)
{
    silk_err_push(L, luaL_checkstring(L, 1), "%s", luaL_checkstring(L, 2));
    if (lua_isstring(L, 3))
        silk_err_setfield(L, -1, "url", lua_tostring(L, 3));
    return 1;
}

static int render_fetch_patterns(lua_State *L)
{
    const char *block[LIST_MAX];
    int nb = string_list(L, 2, block, "block patterns");
    json_object *a = silk_render_fetch_patterns(lua_toboolean(L, 1), block, nb, lua_toboolean(L, 3));
    if (!a)
        return luaL_error(L, "render: out of memory");
    push_json(L, a, 0);
    json_object_put(a);
    return 1;
}

static int render_b64decode(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (c == '=')
            break;
        if (v < 0)
            return 0;                 /* not base64: nil */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            luaL_addchar(&b, (char)((acc >> bits) & 0xff));
        }
    }
    luaL_pushresult(&b);
    return 1;
}

int silk_lapi_render(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"response", page_response},
        {"set_url", page_set_url},
        {"settings", page_settings},
        {"set_guard", page_set_guard},
        {"set_settings", page_set_settings},
        {"close", page_close},
        {"info", page_info},
        {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"configure", render_configure},
        {"stats", render_stats},
        {"pages", render_pages},
        {"b64decode", render_b64decode},
        {"fetch_patterns", render_fetch_patterns},
        {"error", render_error},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, PAGE_META)) {
        lua_pushliteral(L, PAGE_META);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        silk_task_pushwaiting(L, page_call);
        lua_setfield(L, -2, "call");
        silk_task_pushwaiting(L, page_wait_lifecycle);
        lua_setfield(L, -2, "wait_lifecycle");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, page_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, page_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    silk_task_set_end_hook(silk_engine_from(L), on_task_end, silk_engine_from(L));
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    silk_task_pushwaiting(L, render_open);
    lua_setfield(L, -2, "open");
    lua_createtable(L, SILK_RENDER_KIND_COUNT_ - 1, 0);
    for (int k = 1; k < SILK_RENDER_KIND_COUNT_; k++) {
        lua_pushstring(L, silk_render_kind_name(k));
        lua_rawseti(L, -2, k);
    }
    lua_setfield(L, -2, "kinds");
    return 1;
}
