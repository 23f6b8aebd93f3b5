/*
 * lapi_frontier.c -- silk.core.frontier: the Lua face of frontier.h.
 *
 *   new{backend="memory"|"sqlite", path=, name=, max_per_host=, delay=,
 *       jitter=, order="bfs"|"dfs", sort_query=, fail_threshold=,
 *       backoff_base=, backoff_max=, host_max_failures=, seed=,
 *       checkpoint_ms=, checkpoint_ops=, sync="normal"|"full",
 *       url="redis://IP:PORT/NAME[?visibility=S&prefetch=N]" (backend "redis")}
 *                                -> frontier | nil, err (kind "jobdir": the
 *                                   store cannot be opened or belongs to
 *                                   another spider). Unknown keys and bad
 *                                   values raise (misuse).
 *   now()                        -> seconds on the frontier's clock
 *   fr:push(url | {url=, canonical=, host=, depth=, priority=, callback=, meta=,
 *           dont_filter=, retries=} [, now])
 *                                   canonical: the dedupe key (default: the
 *                                   URL's canonical form); host: the per-host
 *                                   key (default: from canonical, so a key
 *                                   that is not a URL needs it)
 *                                -> true (new) | false (seen) | nil, err (kind "url")
 *   fr:push_link(url, canonical, depth [, callback [, now]])
 *                                -> as fr:push{url=, canonical=, depth=, callback=}
 *   fr:pop_ready([now])          -> req | nil, wake_at (nil: nothing queued
 *                                   or every host full; redis: wake_at is a
 *                                   short poll while Redis may deliver more). req = {id, url,
 *                                   canonical, host, depth, priority,
 *                                   callback, meta, retries, dont_filter}
 *   fr:done(id, "ok"|"failed"|"retry"|"release"|"requeue" [, now]) -> true
 *                                   (an id not in flight raises: misuse)
 *   fr:next_wakeup([now])        -> time | nil
 *   fr:set_host(host_or_url, {delay=, hold=seconds} [, now]) -> true | nil, err
 *   fr:stats([top_n])            -> {queued, in_flight, seen, hosts, ...,
 *                                    top={{host, queued, in_flight, failures, ready_in}}}
 *   fr:checkpoint([force [, now]]) -> wrote (boolean) | nil, err (kind "store")
 *   fr:kv_get(key) -> string | nil;  fr:kv_set(key, value) -> true
 *   What a fleet shares (redis; elsewhere these raise "not supported"):
 *   fr:item(key, {json, ...}) -> true | nil, err   (a group, stored with the next
 *                                          checkpoint, dropped whole if key was seen)
 *   fr:shared_get(key) -> value | false (absent) | nil, err      (waits)
 *   fr:shared_set(key, value, ttl [, nx]) -> true | false (nx: present) | nil, err
 *                                            (waits; inside a task only)
 *   fr:close()                      (no last checkpoint: call checkpoint(true) first; __gc too)
 *
 * `now` defaults to now(); pass it explicitly for deterministic tests.
 * Methods on a closed frontier raise "attempt to use a closed frontier".
 */
#include <string.h>

#include <lauxlib.h>

#include <stdlib.h>

#include "engine.h"
#include "errors.h"
#include "frontier.h"
#include "lapi.h"
#include "task.h"
#include "url.h"

#define FRONTIER_MT "silk.frontier"

struct frontier_ud {
    silk_frontier *f; /* owned; NULL once closed */
};

static silk_frontier *check_open(lua_State *L)
{
    struct frontier_ud *ud = luaL_checkudata(L, 1, FRONTIER_MT);
    if (!ud->f)
        luaL_error(L, "attempt to use a closed frontier");
    return ud->f;
}

static double opt_now(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? silk_frontier_now() : luaL_checknumber(L, idx);
}

static int push_fail(lua_State *L, silk_frontier *f, int rc, const char *kind)
{
    lua_pushnil(L);
    silk_err_push(L, kind, "%s", rc == SILK_FRONTIER_ENOMEM ? "not enough memory"
                                                           : silk_frontier_errmsg(f));
    return 2;
}

/* ---- new ---- */

static const char *const cfg_keys[] = {
    "backend", "path", "name", "max_per_host", "delay", "jitter", "order", "sort_query",
    "fail_threshold", "backoff_base", "backoff_max", "host_max_failures", "seed",
    "checkpoint_ms", "checkpoint_ops", "sync", "url", NULL,
};

static double opt_num_field(lua_State *L, const char *k, double def)
{
    lua_getfield(L, 1, k);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "frontier option %s: number expected, got %s", k, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Strings stay valid: the config table (argument 1) anchors them. */
static const char *opt_str_field(lua_State *L, const char *k, const char *def)
{
    lua_getfield(L, 1, k);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "frontier option %s: string expected, got %s", k, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int frontier_new(lua_State *L)
{
    silk_frontier_cfg cfg;
    char err[256];
    silk_frontier_cfg_init(&cfg);
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
        int known = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (const char *const *k = cfg_keys; *k; k++)
                if (strcmp(*k, lua_tostring(L, -2)) == 0)
                    known = 1;
        if (!known)
            return luaL_error(L, "unknown frontier option %s",
                              lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                             : luaL_typename(L, -2));
    }
    cfg.backend = opt_str_field(L, "backend", "memory");
    cfg.path = opt_str_field(L, "path", NULL);
    cfg.name = opt_str_field(L, "name", NULL);
    cfg.max_per_host = (int)opt_num_field(L, "max_per_host", cfg.max_per_host);
    cfg.delay = opt_num_field(L, "delay", cfg.delay);
    cfg.jitter = opt_num_field(L, "jitter", cfg.jitter);
    const char *order = opt_str_field(L, "order", "bfs");
    if (strcmp(order, "bfs") == 0)
        cfg.order = SILK_FRONTIER_BFS;
    else if (strcmp(order, "dfs") == 0)
        cfg.order = SILK_FRONTIER_DFS;
    else
        return luaL_error(L, "frontier option order: \"bfs\" or \"dfs\" expected, got \"%s\"", order);
    lua_getfield(L, 1, "sort_query");
    if (lua_toboolean(L, -1))
        cfg.canon_flags |= SILK_URL_SORT_QUERY;
    lua_pop(L, 1);
    cfg.fail_threshold = (int)opt_num_field(L, "fail_threshold", cfg.fail_threshold);
    cfg.backoff_base = opt_num_field(L, "backoff_base", cfg.backoff_base);
    cfg.backoff_max = opt_num_field(L, "backoff_max", cfg.backoff_max);
    cfg.host_max_failures = (int)opt_num_field(L, "host_max_failures", cfg.host_max_failures);
    cfg.seed = (uint64_t)opt_num_field(L, "seed", 0);
    cfg.checkpoint_ms = opt_num_field(L, "checkpoint_ms", cfg.checkpoint_ms);
    double ops = opt_num_field(L, "checkpoint_ops", (double)cfg.checkpoint_ops);
    if (ops < 1)
        return luaL_error(L, "frontier option checkpoint_ops must be >= 1");
    cfg.checkpoint_ops = (size_t)ops;
    const char *sync = opt_str_field(L, "sync", "normal");
    if (strcmp(sync, "full") == 0)
        cfg.sync_full = 1;
    else if (strcmp(sync, "normal") != 0)
        return luaL_error(L, "frontier option sync: \"normal\" or \"full\" expected");
    cfg.url = opt_str_field(L, "url", NULL);
    silk_engine *eng = silk_engine_from(L);
    cfg.loop = eng ? silk_engine_loop(eng) : NULL; /* redis: replies arrive on the loop */

    struct frontier_ud *ud = lua_newuserdata(L, sizeof *ud);
    ud->f = NULL;
    luaL_getmetatable(L, FRONTIER_MT);
    lua_setmetatable(L, -2);
    int rc = silk_frontier_open(&cfg, &ud->f, err, sizeof err);
    if (rc == SILK_FRONTIER_EINVAL)
        return luaL_error(L, "frontier: %s", err);
    if (rc == SILK_FRONTIER_ENOTSUP)
        return luaL_error(L, "frontier: %s", err);
    if (rc) {
        lua_pushnil(L);
        silk_err_push(L, rc == SILK_FRONTIER_ENOMEM ? "nomem" : "jobdir", "%s", err);
        return 2;
    }
    return 1;
}

static int frontier_now(lua_State *L)
{
    lua_pushnumber(L, silk_frontier_now());
    return 1;
}

/* ---- methods ---- */

/* The request fields push reads, in upvalue order: a crawl pushes tens of
 * requests a page, and lua_getfield would intern each name every time. */
static const char *const push_fields[] = {
    "url", "canonical", "host", "callback", "meta", "depth", "priority", "retries", "dont_filter",
};
enum { F_URL = 1, F_CANONICAL, F_HOST, F_CALLBACK, F_META, F_DEPTH, F_PRIORITY, F_RETRIES, F_DONT_FILTER };

static void push_field(lua_State *L, int t, int field)
{
    lua_pushvalue(L, lua_upvalueindex(field));
    lua_gettable(L, t);
}

/* Pushes req (its url len bytes long) and its outcome: true (new), false
 * (seen), or nil, err. */
static int push_req(lua_State *L, silk_frontier *f, const silk_frontier_req *req, size_t len,
                    double now)
{
    if (memchr(req->url, '\0', len))
        return push_fail(L, f, SILK_FRONTIER_EURL, "url");
    int rc = silk_frontier_push(f, req, now);
    if (rc < 0)
        return push_fail(L, f, rc, "url");
    lua_pushboolean(L, rc != SILK_FRONTIER_PUSH_DUP);
    return 1;
}

static int frontier_push(lua_State *L)
{
    silk_frontier *f = check_open(L);
    silk_frontier_req req;
    memset(&req, 0, sizeof req);
    double now = opt_now(L, 3);
    lua_settop(L, 3); /* the table's fields go to 4.. */
    if (lua_type(L, 2) == LUA_TSTRING) {
        req.url = lua_tostring(L, 2);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        push_field(L, 2, F_URL);
        req.url = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 2, "url (a string) expected");
        push_field(L, 2, F_CANONICAL);
        req.canonical = lua_tostring(L, -1);
        push_field(L, 2, F_HOST);
        req.host = lua_tostring(L, -1);
        push_field(L, 2, F_CALLBACK);
        req.callback = lua_tostring(L, -1);
        push_field(L, 2, F_META);
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_argerror(L, 2, "meta must be a string (serialize it first)");
            req.meta = lua_tolstring(L, -1, &req.meta_len);
        }
        push_field(L, 2, F_DEPTH);
        req.depth = (int)lua_tointeger(L, -1);
        push_field(L, 2, F_PRIORITY);
        req.priority = (int)lua_tointeger(L, -1);
        push_field(L, 2, F_RETRIES);
        req.retries = (int)lua_tointeger(L, -1);
        push_field(L, 2, F_DONT_FILTER);
        if (lua_toboolean(L, -1))
            req.flags |= SILK_FRONTIER_DONT_FILTER;
        /* the values stay on the stack: they anchor the strings */
    }
    return push_req(L, f, &req, lua_objlen(L, lua_type(L, 2) == LUA_TSTRING ? 2 : 4), now);
}

/* fr:push_link(url, canonical, depth [, callback [, now]]): fr:push of a
 * plain GET (no meta, priority 0, host from canonical) without a request
 * table: a crawl pushes every link of every page, most of them seen
 * already, and reading nine fields of a table costs several times the
 * dedupe itself. */
static int frontier_push_link(lua_State *L)
{
    silk_frontier *f = check_open(L);
    silk_frontier_req req;
    memset(&req, 0, sizeof req);
    size_t len;
    req.url = luaL_checklstring(L, 2, &len);
    req.canonical = luaL_checkstring(L, 3);
    req.depth = (int)luaL_checkinteger(L, 4);
    req.callback = luaL_optstring(L, 5, NULL);
    return push_req(L, f, &req, len, opt_now(L, 6));
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static int frontier_pop_ready(lua_State *L)
{
    silk_frontier *f = check_open(L);
    double now = opt_now(L, 2);
    const silk_frontier_req *r;
    lua_createtable(L, 0, 10); /* before the pop: no raise between pop and return */
    int rc = silk_frontier_pop_ready(f, now, &r);
    if (rc < 0)
        return push_fail(L, f, rc, "nomem");
    if (rc == 0) {
        double w = silk_frontier_next_wakeup(f, now);
        lua_pushnil(L);
        if (w >= 0)
            lua_pushnumber(L, w);
        else
            lua_pushnil(L);
        return 2;
    }
    set_num(L, "id", (double)r->id);
    set_str(L, "url", r->url);
    set_str(L, "canonical", r->canonical);
    set_str(L, "host", r->host);
    set_num(L, "depth", r->depth);
    set_num(L, "priority", r->priority);
    set_num(L, "retries", r->retries);
    set_str(L, "callback", r->callback);
    if (r->meta) {
        lua_pushlstring(L, r->meta, r->meta_len);
        lua_setfield(L, -2, "meta");
    }
    lua_pushboolean(L, (r->flags & SILK_FRONTIER_DONT_FILTER) != 0);
    lua_setfield(L, -2, "dont_filter");
    return 1;
}

static int frontier_done(lua_State *L)
{
    static const char *const names[] = {"ok", "failed", "retry", "release", "requeue", NULL};
    static const silk_frontier_outcome vals[] = {
        SILK_FRONTIER_DONE_OK, SILK_FRONTIER_DONE_FAILED, SILK_FRONTIER_DONE_RETRY,
        SILK_FRONTIER_DONE_RELEASE, SILK_FRONTIER_DONE_REQUEUE,
    };
    silk_frontier *f = check_open(L);
    double id = luaL_checknumber(L, 2);
    int o = luaL_checkoption(L, 3, "ok", names);
    double now = opt_now(L, 4);
    if (!(id >= 1))
        return luaL_argerror(L, 2, "request id expected");
    int rc = silk_frontier_done(f, (uint64_t)id, vals[o], now);
    if (rc == SILK_FRONTIER_ENOENT)
        return luaL_error(L, "%s", silk_frontier_errmsg(f));
    if (rc < 0)
        return push_fail(L, f, rc, "nomem");
    lua_pushboolean(L, 1);
    return 1;
}

static int frontier_next_wakeup(lua_State *L)
{
    silk_frontier *f = check_open(L);
    double w = silk_frontier_next_wakeup(f, opt_now(L, 2));
    if (w >= 0)
        lua_pushnumber(L, w);
    else
        lua_pushnil(L);
    return 1;
}

static int frontier_set_host(lua_State *L)
{
    silk_frontier *f = check_open(L);
    const char *host = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    double now = opt_now(L, 4);
    double delay = -1, hold_until = 0;
    lua_getfield(L, 3, "delay");
    if (!lua_isnil(L, -1)) {
        delay = luaL_checknumber(L, -1);
        if (!(delay >= 0))
            return luaL_argerror(L, 3, "delay must be >= 0");
    }
    lua_getfield(L, 3, "hold");
    if (!lua_isnil(L, -1))
        hold_until = now + luaL_checknumber(L, -1);
    int rc = silk_frontier_set_host(f, host, delay, hold_until, now);
    if (rc < 0)
        return push_fail(L, f, rc, "url");
    lua_pushboolean(L, 1);
    return 1;
}

static int frontier_stats(lua_State *L)
{
    silk_frontier *f = check_open(L);
    silk_frontier_host_stat top[100];
    lua_Integer ntop = luaL_optinteger(L, 2, 10);
    if (ntop < 0 || ntop > 100)
        return luaL_argerror(L, 2, "0..100 expected");
    silk_frontier_stats st;
    double now = silk_frontier_now();
    lua_createtable(L, 0, 20);
    lua_createtable(L, (int)ntop, 0);
    silk_frontier_get_stats(f, now, &st, top, (size_t)ntop);
    /* top[] points into the frontier: copy out before anything else runs */
    for (size_t i = 0; i < st.ntop; i++) {
        lua_createtable(L, 0, 5);
        set_str(L, "host", top[i].host);
        set_num(L, "queued", (double)top[i].queued);
        set_num(L, "in_flight", top[i].in_flight);
        set_num(L, "failures", top[i].failures);
        set_num(L, "ready_in", top[i].ready_in);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "top");
    set_num(L, "queued", (double)st.queued);
    set_num(L, "in_flight", (double)st.in_flight);
    set_num(L, "seen", (double)st.seen);
    set_num(L, "hosts", (double)st.hosts);
    set_num(L, "hosts_ready", (double)st.hosts_ready);
    set_num(L, "hosts_delayed", (double)st.hosts_delayed);
    set_num(L, "hosts_full", (double)st.hosts_full);
    set_num(L, "pushed", (double)st.pushed);
    set_num(L, "duplicates", (double)st.duplicates);
    set_num(L, "popped", (double)st.popped);
    set_num(L, "failures", (double)st.failures);
    set_num(L, "dropped", (double)st.dropped);
    set_num(L, "memory", (double)st.memory);
    set_num(L, "journal", (double)st.journal);
    set_num(L, "checkpoints", (double)st.checkpoints);
    set_num(L, "checkpoint_last_ms", st.checkpoint_last_ms);
    set_num(L, "checkpoint_max_ms", st.checkpoint_max_ms);
    set_num(L, "checkpoint_total_ms", st.checkpoint_total_ms);
    set_num(L, "items", (double)st.items);
    set_num(L, "item_duplicates", (double)st.item_duplicates);
    return 1;
}

static int frontier_checkpoint(lua_State *L)
{
    silk_frontier *f = check_open(L);
    int force = lua_toboolean(L, 2);
    int rc = silk_frontier_checkpoint(f, opt_now(L, 3), force);
    if (rc < 0)
        return push_fail(L, f, rc, "store");
    lua_pushboolean(L, rc == 1);
    return 1;
}

static int frontier_kv_get(lua_State *L)
{
    silk_frontier *f = check_open(L);
    const char *key = luaL_checkstring(L, 2);
    const char *val;
    size_t len;
    int rc = silk_frontier_kv_get(f, key, &val, &len);
    if (rc == 1)
        lua_pushlstring(L, val, len);
    else
        lua_pushnil(L);
    return 1;
}

static int frontier_kv_set(lua_State *L)
{
    silk_frontier *f = check_open(L);
    const char *key = luaL_checkstring(L, 2);
    size_t len;
    const char *val = luaL_checklstring(L, 3, &len);
    int rc = silk_frontier_kv_set(f, key, val, len);
    if (rc < 0)
        return push_fail(L, f, rc, "nomem");
    lua_pushboolean(L, 1);
    return 1;
}

static int frontier_item(lua_State *L)
{
    silk_frontier *f = check_open(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 2, &klen);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)lua_objlen(L, 3);
    luaL_argcheck(L, n >= 1, 3, "a list of items (JSON texts) expected");
    /* the strings stay anchored by the table while the frontier copies them */
    const char **data = lua_newuserdata(L, (size_t)n * (sizeof *data + sizeof(size_t)));
    size_t *len = (size_t *)(data + n);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 3, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 3, "a list of items (JSON texts) expected");
        data[i] = lua_tolstring(L, -1, &len[i]);
        lua_pop(L, 1);
    }
    int rc = silk_frontier_item(f, key, klen, data, len, (size_t)n);
    if (rc == SILK_FRONTIER_ENOTSUP)
        return luaL_error(L, "%s", silk_frontier_errmsg(f));
    if (rc < 0)
        return push_fail(L, f, rc, "nomem");
    lua_pushboolean(L, 1);
    return 1;
}

/* A task waiting for a shared get/set. Freed by whichever comes first: the
 * answer (on_shared) or the task's interruption (shared_cancel, which makes
 * the frontier forget the token so the answer never comes). */
typedef struct shared_wait {
    silk_task *task;
    silk_frontier *f;
    uint64_t token;
    int is_set;
} shared_wait;

static void on_shared(void *ud, int rc, const char *val, size_t len)
{
    shared_wait *w = ud;
    lua_State *co = silk_task_thread(w->task);
    int n = 1;
    if (rc != 0) {
        lua_pushnil(co);
        silk_err_push(co, "redis", "no answer from redis (connection lost, timed out or closed)");
        n = 2;
    } else if (w->is_set) {
        lua_pushboolean(co, len == 1);
    } else if (val) {
        lua_pushlstring(co, val, len);
    } else {
        lua_pushboolean(co, 0);
    }
    silk_task *t = w->task;
    free(w);
    silk_task_wake(t, n);
}

static void shared_cancel(silk_task *t, void *data)
{
    shared_wait *w = data;
    silk_frontier_shared_forget(w->f, w->token);
    free(w);
}

static int shared_wait_for(lua_State *L, silk_frontier *f, const char *key, const char *val,
                           size_t len, double ttl, int nx)
{
    if (!silk_task_current(L))
        return luaL_error(L, "frontier shared_get/shared_set: only inside a task");
    shared_wait *w = calloc(1, sizeof *w);
    if (!w)
        return luaL_error(L, "not enough memory");
    w->task = silk_task_current(L);
    w->f = f;
    w->is_set = val != NULL;
    int rc = val ? silk_frontier_shared_set(f, key, val, len, ttl, nx, on_shared, w, &w->token)
                 : silk_frontier_shared_get(f, key, on_shared, w, &w->token);
    if (rc != 0) {
        free(w);
        if (rc == SILK_FRONTIER_ENOTSUP || rc == SILK_FRONTIER_EINVAL)
            return luaL_error(L, "%s", rc == SILK_FRONTIER_EINVAL ? "bad shared key or ttl"
                                                                  : silk_frontier_errmsg(f));
        lua_pushnil(L);
        silk_err_push(L, "redis", "%s", silk_frontier_errmsg(f));
        return 2;
    }
    return silk_task_wait(L, SILK_WAIT_IO, "redis", shared_cancel, w);
}

static int frontier_shared_get(lua_State *L)
{
    silk_frontier *f = check_open(L);
    return shared_wait_for(L, f, luaL_checkstring(L, 2), NULL, 0, 0, 0);
}

static int frontier_shared_set(lua_State *L)
{
    silk_frontier *f = check_open(L);
    const char *key = luaL_checkstring(L, 2);
    size_t len;
    const char *val = luaL_checklstring(L, 3, &len);
    double ttl = luaL_checknumber(L, 4);
    if (!(ttl > 0))
        return luaL_argerror(L, 4, "a ttl > 0 expected");
    return shared_wait_for(L, f, key, val, len, ttl, lua_toboolean(L, 5));
}

static int frontier_close(lua_State *L)
{
    struct frontier_ud *ud = luaL_checkudata(L, 1, FRONTIER_MT);
    silk_frontier *f = ud->f;
    ud->f = NULL;
    silk_frontier_close(f);
    return 0;
}

static int frontier_tostring(lua_State *L)
{
    struct frontier_ud *ud = luaL_checkudata(L, 1, FRONTIER_MT);
    if (ud->f)
        lua_pushfstring(L, FRONTIER_MT " (%s, %p)", ud->f->ops->name, (void *)ud->f);
    else
        lua_pushliteral(L, FRONTIER_MT " (closed)");
    return 1;
}

static const luaL_Reg frontier_methods[] = {
    {"push_link", frontier_push_link},
    {"pop_ready", frontier_pop_ready},
    {"done", frontier_done},
    {"next_wakeup", frontier_next_wakeup},
    {"set_host", frontier_set_host},
    {"stats", frontier_stats},
    {"checkpoint", frontier_checkpoint},
    {"kv_get", frontier_kv_get},
    {"kv_set", frontier_kv_set},
    {"item", frontier_item},
    {"close", frontier_close},
    {NULL, NULL},
};

static const luaL_Reg frontier_meta[] = {
    {"__gc", frontier_close},
    {"__tostring", frontier_tostring},
    {NULL, NULL},
};

int silk_lapi_frontier(lua_State *L)
{
    if (luaL_newmetatable(L, FRONTIER_MT)) {
        luaL_setfuncs(L, frontier_meta, 0);
        lua_pushliteral(L, FRONTIER_MT); /* LuaJIT's luaL_newmetatable sets no __name */
        lua_setfield(L, -2, "__name");
        lua_createtable(L, 0, 10);
        luaL_setfuncs(L, frontier_methods, 0);
        for (size_t i = 0; i < sizeof push_fields / sizeof *push_fields; i++)
            lua_pushstring(L, push_fields[i]);
        lua_pushcclosure(L, frontier_push, (int)(sizeof push_fields / sizeof *push_fields));
        lua_setfield(L, -2, "push");
        silk_task_pushwaiting(L, frontier_shared_get);
        lua_setfield(L, -2, "shared_get");
        silk_task_pushwaiting(L, frontier_shared_set);
        lua_setfield(L, -2, "shared_set");
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, frontier_new);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, frontier_now);
    lua_setfield(L, -2, "now");
    return 1;
}
