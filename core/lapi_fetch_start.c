/*
 * lapi_fetch_start.c -- transfers that spawn a task when they end: the
 * start(request, fn [, name [, timeout [, gate]]]) and gate(limit) of
 * "silk.core.fetch" (lapi_fetch.c opens them with the module).
 *
 * silk.fetch parks its task until the transfer ends. A crawl with
 * thousands of requests in flight would hold a coroutine for each, and the
 * collector's atomic phase rescans every live coroutine; a started
 * transfer holds only the function to run, and its task exists from the
 * moment the response is there. Internal to silk's own Lua (the crawl).
 *
 * A gate bounds the tasks so made: while `limit` of its tasks run, the
 * results of its transfers that end are copied out of fetch.c's buffers
 * into one malloc'd block each and held, oldest first, until gate:done()
 * frees a place. Held results are no Lua objects: when responses arrive
 * faster than their functions run, the Lua heap holds the `limit` being
 * processed, not every one waiting (the collector's atomic phase
 * re-traverses whatever a coroutine references that was made during the
 * mark phase, so that backlog set its length).
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include <ev.h>

#include "engine.h"
#include "fetch.h"
#include "lapi_fetch_int.h"
#include "task.h"


typedef struct started started;

typedef struct gate {
    silk_engine *e;
    int limit;                   /* tasks of this gate at once */
    int running;                 /* spawned and not yet done() */
    int held;                    /* results waiting for a place */
    started *head, *tail;        /* the held ones, oldest first */
    ev_timer wake;               /* spawns held ones at the loop's next turn, outside any task */
} gate;

/* A started transfer, malloc'd and freed by started_release. Its Lua
 * handle is a table { [1] = s (light userdata), [2] = the function,
 * [3] = the gate or nil }, anchored in the registry until s is released,
 * which empties it: a handle kept after the end refers to nothing. Lua
 * objects per request in flight are what LuaJIT's atomic GC phase pays
 * for: no userdata (it walks every one in the heap each cycle), and one
 * registry slot, not three (the registry is written all the time, so the
 * atomic phase re-traverses all of it). */
struct started {
    silk_fetch_xfer *x;          /* NULL once it ended or was cancelled */
    silk_engine *e;
    int self_ref;                /* registry: the handle */
    gate *g;                     /* NULL: no gate */
    silk_fetch_result *held;     /* its result while it waits for the gate (result_copy) */
    started *next;               /* in g's held list */
    double timeout;              /* of the task it spawns; <= 0: none */
    char name[32];
};

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies the n bytes at s to *p, NUL-terminated, and moves *p past them;
 * NULL stays NULL. */
static const char *put_bytes(char **p, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = *p;
    memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

static const char *put_str(char **p, const char *s)
{
    return s ? put_bytes(p, s, strlen(s)) : NULL;
}

/* r in one block, its arrays and strings after the record. NULL when
 * memory is short. Free with free(). */
static silk_fetch_result *result_copy(const silk_fetch_result *r)
{
    size_t hops = (size_t)r->nredirects * sizeof *r->redirects;
    size_t hdrs = (size_t)r->nheaders * sizeof *r->headers;
    size_t n = sizeof *r + hops + hdrs + str_size(r->message) + str_size(r->url) +
               str_size(r->method) + str_size(r->http_version) + str_size(r->remote_ip) +
               (r->body ? r->body_len + 1 : 0);
    for (int i = 0; i < r->nredirects; i++)
        n += str_size(r->redirects[i].url);
    for (int i = 0; i < r->nheaders; i++)
        n += r->headers[i].name_len + r->headers[i].value_len + 2;
    silk_fetch_result *c = malloc(n);
    if (!c)
        return NULL;
    *c = *r;
    silk_fetch_hop *hop = (silk_fetch_hop *)(c + 1);
    silk_fetch_header *hdr = (silk_fetch_header *)((char *)hop + hops);
    char *p = (char *)hdr + hdrs;
    for (int i = 0; i < r->nredirects; i++) {
        hop[i].status = r->redirects[i].status;
        hop[i].url = put_str(&p, r->redirects[i].url);
    }
    for (int i = 0; i < r->nheaders; i++) {
        hdr[i] = r->headers[i];
        hdr[i].name = put_bytes(&p, r->headers[i].name, r->headers[i].name_len);
        hdr[i].value = put_bytes(&p, r->headers[i].value, r->headers[i].value_len);
    }
    c->redirects = r->nredirects ? hop : NULL;
    c->headers = r->nheaders ? hdr : NULL;
    c->message = put_str(&p, r->message);
    c->url = put_str(&p, r->url);
    c->method = put_str(&p, r->method);
    c->http_version = put_str(&p, r->http_version);
    c->remote_ip = put_str(&p, r->remote_ip);
    c->body = put_bytes(&p, r->body, r->body_len);
    return c;
}

/* Frees s and empties its handle. */
static void started_release(lua_State *L, started *s)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->self_ref);
    for (int i = 1; i <= 3; i++) {
        lua_pushnil(L);
        lua_rawseti(L, -2, i);
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
    free(s->held);
    free(s);
}

/* Runs s's function in a task of its own with res, then releases s. From
 * a loop callback, outside every task: the task has no parent. */
static void started_spawn(lua_State *L, started *s, const silk_fetch_result *res)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->self_ref);
    lua_rawgeti(L, -1, 2);
    lua_remove(L, -2);
    int n = silk_lapi_fetch_result(L, res);
    silk_task_spawn(s->e, L, n, s->name, s->timeout);
    lua_pop(L, 1);                         /* the task's handle */
    if (s->g)
        s->g->running++;
    started_release(L, s);
}

static void gate_unlink(gate *g, started *s)
{
    started **p = &g->head, *prev = NULL;
    while (*p != s) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = s->next;
    if (g->tail == s)
        g->tail = prev;
    s->next = NULL;
    g->held--;
}

static void on_gate_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    gate *g = (gate *)((char *)w - offsetof(gate, wake));
    lua_State *L = silk_engine_lua(g->e);
    while (g->head && g->running < g->limit) {
        started *s = g->head;
        silk_fetch_result *r = s->held;
        gate_unlink(g, s);
        s->held = NULL;
        started_spawn(L, s, r);
        free(r);
    }
}

/* A transfer ended. Its task starts now, unless its gate is full or
 * already holds older results (completion order is kept); a result that
 * cannot be copied starts at once, over the limit. A transfer ends as
 * cancelled only when fetch shuts down with the engine, and nothing is to
 * run then. */
static void on_done_spawn(const silk_fetch_result *res, void *ud)
{
    started *s = ud;
    lua_State *L = silk_engine_lua(s->e);
    gate *g = s->g;
    s->x = NULL;
    if (res->kind == SILK_FETCH_CANCELLED) {
        started_release(L, s);
    } else if (g && (g->running >= g->limit || g->head) && (s->held = result_copy(res))) {
        if (g->tail)
            g->tail->next = s;
        else
            g->head = s;
        g->tail = s;
        g->held++;
    } else {
        started_spawn(L, s, res);
    }
}

static gate *check_gate(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, "silk.fetch_gate");
}

/* fetch_core.start(request, fn [, name [, timeout [, gate]]]) -> handle
 * Starts `request` (as silk.fetch takes it) and returns at once. When the
 * transfer ends, a new task named `name` (default "fetch") runs fn(res) or
 * fn(nil, err) under `timeout` seconds; with a gate, once the gate has a
 * place (fetch_core.gate). handle:cancel() aborts a transfer whose function
 * has not started (fn never runs); later it does nothing. Raises for a
 * malformed request, as silk.fetch does. */
static int fetch_start(lua_State *L)
{
    const char *hdrs[MAX_REQ_HEADERS];
    silk_fetch_req r;
    silk_fetch *f = silk_lapi_fetch_state(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    const char *name = luaL_optstring(L, 3, "fetch");
    double timeout = luaL_optnumber(L, 4, 0);
    gate *g = lua_isnoneornil(L, 5) ? NULL : check_gate(L, 5);
    lua_settop(L, 5);
    lua_createtable(L, 3, 0);              /* 6: the handle */
    luaL_getmetatable(L, "silk.started_fetch");
    lua_setmetatable(L, 6);
    lua_pushvalue(L, 2);
    lua_replace(L, 3);                     /* 3: fn; 2 becomes the request's anchors */
    lua_newtable(L);
    lua_replace(L, 2);
    lua_settop(L, 6);
    silk_lapi_fetch_request(L, &r, hdrs);  /* may raise; nothing acquired yet */
    started *s = calloc(1, sizeof *s);
    if (!s || !(s->x = silk_fetch_start(f, &r, on_done_spawn, s))) {
        free(s);
        return luaL_error(L, "fetch: out of memory");
    }
    s->e = silk_engine_from(L);
    s->timeout = timeout;
    s->g = g;
    snprintf(s->name, sizeof s->name, "%s", name);
    lua_pushlightuserdata(L, s);
    lua_rawseti(L, 6, 1);
    lua_pushvalue(L, 3);
    lua_rawseti(L, 6, 2);
    lua_pushvalue(L, 5);
    lua_rawseti(L, 6, 3);
    lua_pushvalue(L, 6);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 6);
    return 1;
}

static int started_cancel(lua_State *L)
{
    int ok = lua_istable(L, 1) && lua_getmetatable(L, 1);
    if (ok) {
        luaL_getmetatable(L, "silk.started_fetch");
        ok = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!ok)
        return luaL_typerror(L, 1, "silk.started_fetch");
    lua_rawgeti(L, 1, 1);
    started *s = lua_touserdata(L, -1);
    if (!s)
        return 0;                          /* its function ran, or it was cancelled */
    if (s->x)
        silk_fetch_cancel(s->x);
    else
        gate_unlink(s->g, s);
    started_release(L, s);
    return 0;
}

/* fetch_core.gate(limit) -> gate
 * At most `limit` (an integer >= 1) tasks of the transfers started with
 * this gate run at once; each must call gate:done() when it ends, which
 * lets the oldest held result have its task at the loop's next turn.
 * gate:counts() -> running, held. */
static int fetch_gate(lua_State *L)
{
    lua_Number n = luaL_checknumber(L, 1);
    if (!(n >= 1 && n <= 1e9 && n == (lua_Number)(long)n))
        return luaL_argerror(L, 1, "limit: a whole number >= 1 expected");
    gate *g = lua_newuserdata(L, sizeof *g);
    memset(g, 0, sizeof *g);
    g->e = silk_engine_from(L);
    g->limit = (int)n;
    ev_timer_init(&g->wake, on_gate_wake, 0, 0);
    luaL_getmetatable(L, "silk.fetch_gate");
    lua_setmetatable(L, -2);
    return 1;
}

static int gate_done(lua_State *L)
{
    gate *g = check_gate(L, 1);
    if (g->running == 0)
        return luaL_error(L, "gate:done(): none of its tasks is running");
    g->running--;
    if (g->head && !ev_is_active(&g->wake))
        ev_timer_start(silk_engine_loop(g->e), &g->wake);
    return 0;
}

static int gate_counts(lua_State *L)
{
    gate *g = check_gate(L, 1);
    lua_pushinteger(L, g->running);
    lua_pushinteger(L, g->held);
    return 2;
}

/* Reached only once no transfer refers to the gate (each holds it), or
 * when the state closes: what is still held then never runs. */
static int gate_gc(lua_State *L)
{
    gate *g = check_gate(L, 1);
    ev_timer_stop(silk_engine_loop(g->e), &g->wake);
    while (g->head) {
        started *s = g->head;
        gate_unlink(g, s);
        started_release(L, s);
    }
    return 0;
}

void silk_lapi_fetch_start_open(lua_State *L)
{
    luaL_newmetatable(L, "silk.started_fetch");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, started_cancel);
    lua_setfield(L, -2, "cancel");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, "silk.fetch_gate");
    lua_pushliteral(L, "silk.fetch_gate");
    lua_setfield(L, -2, "__name");
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, gate_done);
    lua_setfield(L, -2, "done");
    lua_pushcfunction(L, gate_counts);
    lua_setfield(L, -2, "counts");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gate_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_pushcfunction(L, fetch_start);
    lua_setfield(L, -2, "start");
    lua_pushcfunction(L, fetch_gate);
    lua_setfield(L, -2, "gate");
}
