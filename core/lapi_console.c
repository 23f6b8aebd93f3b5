/*
 * lapi_console.c -- "silk.core.console": console.c and lineedit.c for Lua.
 *
 *   listen(path [, {timeout=, max_clients=, max_request=}]) -> server | nil, err
 *       server:close()   server:clients() -> n
 *       Context: any. The console of this engine; see console.h.
 *   connect(path) -> conn | nil, err
 *       conn:send(chunk) -> true | nil, "closed"            queue one request
 *       conn:recv() -> ok, text | nil, "closed"              (yieldable task)
 *       conn:request(chunk) -> ok, text | nil, "closed"      send + recv
 *       conn:close()                                          idempotent, also __gc
 *       ok is true for an "ok" reply, false for "err".
 *   reply(client_id, ok, text) -> boolean     (console.lua's serve task only)
 *   readline(prompt) -> line | nil at end of input | false when interrupted
 *                                                         (yieldable task)
 *   interrupt_input() -> boolean   ends the readline in progress as interrupted
 *   tty() -> boolean; history_load(path); history_add(line); history_save(path)
 *   cancel(id [, reason]) -> true | false when no live task has that id |
 *       false, why for the main task: cancelling it would end the run without
 *       the main task's own ending, a crawl's last checkpoint above all
 *       (console.lua's stop() is the clean way)
 */
#include <string.h>

#include <lauxlib.h>

#include "console.h"
#include "lapi.h"
#include "lineedit.h"
#include "task.h"

#define SERVER_MT "silk.console.server"
#define CONN_MT "silk.console.conn"

typedef struct lserver {
    silk_console *c;              /* NULL once closed */
} lserver;

typedef struct lconn {
    silk_console_conn *c;         /* NULL once closed */
    lua_State *L;                 /* the main thread: replies queue there */
    silk_task *waiter;            /* the task in recv, or NULL */
    int queue_ref;                /* table of replies nobody waited for: {ok, text, ...} */
    int ended;                    /* the server went away */
} lconn;

/* --- server ------------------------------------------------------------------ */

static int opt_num(lua_State *L, int t, const char *k)
{
    if (lua_isnoneornil(L, t))
        return 0;
    lua_getfield(L, t, k);
    double v = lua_isnil(L, -1) ? 0 : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v > 0 ? (int)v : 0;
}

static int console_listen(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    silk_console_options o;
    silk_console_defaults(&o);
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "timeout");
        if (!lua_isnil(L, -1))
            o.timeout = luaL_checknumber(L, -1);
        lua_pop(L, 1);
        if (opt_num(L, 2, "max_clients"))
            o.max_clients = opt_num(L, 2, "max_clients");
        if (opt_num(L, 2, "max_request"))
            o.max_request = (size_t)opt_num(L, 2, "max_request");
    }
    lserver *s = lua_newuserdata(L, sizeof *s);
    s->c = NULL;
    luaL_getmetatable(L, SERVER_MT);
    lua_setmetatable(L, -2);
    char err[512];
    s->c = silk_console_listen(silk_engine_from(L), path, &o, err, sizeof err);
    if (!s->c) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static int server_close(lua_State *L)
{
    lserver *s = luaL_checkudata(L, 1, SERVER_MT);
    silk_console_close(s->c);
    s->c = NULL;
    return 0;
}

static int server_clients(lua_State *L)
{
    lserver *s = luaL_checkudata(L, 1, SERVER_MT);
    if (!s->c)
        return luaL_error(L, "attempt to use a closed console server");
    lua_pushinteger(L, silk_console_clients(s->c));
    return 1;
}

static int console_reply(lua_State *L)
{
    lua_Number id = luaL_checknumber(L, 1);
    int ok = lua_toboolean(L, 2);
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    lua_pushboolean(L, silk_console_reply((uint64_t)id, ok, text, len) == 0);
    return 1;
}

/* --- client ------------------------------------------------------------------ */

static void conn_on_reply(void *ud, int ok, const char *text, size_t len)
{
    lconn *lc = ud;
    if (ok < 0)
        lc->ended = 1;
    if (lc->waiter) {
        silk_task *t = lc->waiter;
        lua_State *co = silk_task_thread(t);
        lc->waiter = NULL;
        if (ok < 0) {
            lua_pushnil(co);
            lua_pushliteral(co, "closed");
        } else {
            lua_pushboolean(co, ok);
            lua_pushlstring(co, text, len);
        }
        silk_task_wake(t, 2);
        return;
    }
    if (ok < 0)
        return;
    lua_State *L = lc->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->queue_ref);
    int n = (int)lua_objlen(L, -1);
    lua_pushboolean(L, ok);
    lua_rawseti(L, -2, n + 1);
    lua_pushlstring(L, text, len);
    lua_rawseti(L, -2, n + 2);
    lua_pop(L, 1);
}

static lconn *check_conn(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    if (!lc->c)
        luaL_error(L, "attempt to use a closed console connection");
    return lc;
}

static int console_connect(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lconn *lc = lua_newuserdata(L, sizeof *lc);
    memset(lc, 0, sizeof *lc);
    lc->queue_ref = LUA_NOREF;
    luaL_getmetatable(L, CONN_MT);
    lua_setmetatable(L, -2);
    silk_engine *e = silk_engine_from(L);
    lc->L = silk_engine_lua(e);
    char err[512];
    lc->c = silk_console_connect(silk_engine_loop(e), path, conn_on_reply, lc, err, sizeof err);
    if (!lc->c) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_newtable(L);
    lc->queue_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static int conn_close(lua_State *L)
{
    lconn *lc = luaL_checkudata(L, 1, CONN_MT);
    silk_console_conn_close(lc->c);
    lc->c = NULL;
    lc->ended = 1;
    if (lc->waiter) {                     /* another task closed it under a recv */
        silk_task *t = lc->waiter;
        lc->waiter = NULL;
        lua_pushnil(silk_task_thread(t));
        lua_pushliteral(silk_task_thread(t), "closed");
        silk_task_wake(t, 2);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, lc->queue_ref);
    lc->queue_ref = LUA_NOREF;
    return 0;
}

static int conn_send(lua_State *L)
{
    lconn *lc = check_conn(L);
    size_t len;
    const char *chunk = luaL_checklstring(L, 2, &len);
    if (lc->ended || silk_console_conn_send(lc->c, chunk, len) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static void recv_cancel(silk_task *t, void *data)
{
    lconn *lc = data;
    lc->waiter = NULL;
}

/* Returns a queued reply, or the end, or parks until one comes. */
static int recv_next(lua_State *L, lconn *lc)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, lc->queue_ref);
    int n = (int)lua_objlen(L, -1);
    if (n > 0) {
        int q = lua_gettop(L);
        lua_rawgeti(L, q, 1);
        lua_rawgeti(L, q, 2);
        for (int i = 3; i <= n; i++) {   /* shift down by two: queues are short */
            lua_rawgeti(L, q, i);
            lua_rawseti(L, q, i - 2);
        }
        lua_pushnil(L);
        lua_rawseti(L, q, n);
        lua_pushnil(L);
        lua_rawseti(L, q, n - 1);
        return 2;
    }
    lua_pop(L, 1);
    if (lc->ended) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    if (lc->waiter)
        return luaL_error(L, "console connection: another task is already receiving");
    silk_task *t = silk_task_check_current(L, "conn:recv");
    lc->waiter = t;
    return silk_task_wait(L, SILK_WAIT_IO, "console reply", recv_cancel, lc);
}

static int conn_recv(lua_State *L)
{
    return recv_next(L, check_conn(L));
}

static int conn_request(lua_State *L)
{
    lconn *lc = check_conn(L);
    size_t len;
    const char *chunk = luaL_checklstring(L, 2, &len);
    if (lc->ended || silk_console_conn_send(lc->c, chunk, len) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        return 2;
    }
    return recv_next(L, lc);
}

/* --- line reader ---------------------------------------------------------------- */

static void on_line(void *ud, const char *line, size_t len)
{
    silk_task *t = ud;
    lua_State *co = silk_task_thread(t);
    if (line)
        lua_pushlstring(co, line, len);
    else if (len == SILK_LINEEDIT_INTERRUPTED)
        lua_pushboolean(co, 0);
    else
        lua_pushnil(co);
    silk_task_wake(t, 1);
}

static void readline_cancel(silk_task *t, void *data)
{
    silk_lineedit_stop();
}

static int console_readline(lua_State *L)
{
    const char *prompt = luaL_optstring(L, 1, "> ");
    silk_task *t = silk_task_check_current(L, "readline");
    if (silk_lineedit_start(silk_engine_loop(silk_engine_from(L)), prompt, on_line, t) != 0)
        return luaL_error(L, "readline: another task is already reading stdin");
    return silk_task_wait(L, SILK_WAIT_IO, "stdin", readline_cancel, NULL);
}

static int console_interrupt_input(lua_State *L)
{
    lua_pushboolean(L, silk_lineedit_interrupt());
    return 1;
}

static int console_tty(lua_State *L)
{
    lua_pushboolean(L, silk_lineedit_tty());
    return 1;
}

static int console_history_load(lua_State *L)
{
    lua_pushboolean(L, silk_lineedit_history_load(luaL_checkstring(L, 1)) == 0);
    return 1;
}

static int console_history_add(lua_State *L)
{
    silk_lineedit_history_add(luaL_checkstring(L, 1));
    return 0;
}

static int console_history_save(lua_State *L)
{
    lua_pushboolean(L, silk_lineedit_history_save(luaL_checkstring(L, 1)) == 0);
    return 1;
}

/* --- tasks by id ------------------------------------------------------------------ */

static int console_cancel(lua_State *L)
{
    uint64_t id = (uint64_t)luaL_checknumber(L, 1);
    const char *reason = luaL_optstring(L, 2, "cancelled from the console");
    silk_task *t = silk_task_find(silk_engine_from(L), id);
    if (t && silk_task_is_main(t)) {
        lua_pushboolean(L, 0);
        lua_pushfstring(L, "task %d is the main task: cancelling it would end the run "
                           "without its checkpoint; stop() stops a crawl cleanly",
                        (int)id);
        return 2;
    }
    if (t)
        silk_task_cancel(t, reason);
    lua_pushboolean(L, t != NULL);
    return 1;
}

int silk_lapi_console(lua_State *L)
{
    static const luaL_Reg server_methods[] = {
        {"close", server_close},
        {"clients", server_clients},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"listen", console_listen},
        {"connect", console_connect},
        {"reply", console_reply},
        {"tty", console_tty},
        {"interrupt_input", console_interrupt_input},
        {"history_load", console_history_load},
        {"history_add", console_history_add},
        {"history_save", console_history_save},
        {"cancel", console_cancel},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, SERVER_MT)) {
        lua_pushliteral(L, SERVER_MT);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        luaL_setfuncs(L, server_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, server_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, CONN_MT)) {
        lua_pushliteral(L, CONN_MT);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        lua_pushcfunction(L, conn_send);
        lua_setfield(L, -2, "send");
        lua_pushcfunction(L, conn_close);
        lua_setfield(L, -2, "close");
        silk_task_pushwaiting(L, conn_recv);
        lua_setfield(L, -2, "recv");
        silk_task_pushwaiting(L, conn_request);
        lua_setfield(L, -2, "request");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, conn_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    silk_task_pushwaiting(L, console_readline);
    lua_setfield(L, -2, "readline");
    return 1;
}
