/*
 * channel.c -- channels between tasks; see channel.h.
 */
#include <lauxlib.h>

#include "channel.h"
#include "errors.h"
#include "task_int.h"

#define CHANNEL_META "silk.channel"

typedef struct channel {
    int cap;
    int head, count;              /* the ring buffer: env[head+1 .. head+count] mod cap */
    int closed;
    silk_tlist senders, receivers;
} channel;

static channel *check_channel(lua_State *L)
{
    return luaL_checkudata(L, 1, CHANNEL_META);
}

static void buf_put(lua_State *L, channel *c, int env, int value)
{
    lua_pushvalue(L, value);
    lua_rawseti(L, env, (c->head + c->count) % c->cap + 1);
    c->count++;
}

/* Pushes the oldest buffered value and removes it from the buffer. */
static void buf_take(lua_State *L, channel *c, int env)
{
    lua_rawgeti(L, env, c->head + 1);
    lua_pushnil(L);
    lua_rawseti(L, env, c->head + 1);
    c->head = (c->head + 1) % c->cap;
    c->count--;
}

/* Pushes a blocked sender's value onto L and lets the sender go. */
static void take_from_sender(lua_State *L, silk_task *s)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->wait_ref);
    lua_pushboolean(s->co, 1);
    silk_task_wake(s, 1);                 /* releases wait_ref */
}

/*** silk.channel([capacity]) -> chan
 * A channel between tasks holding up to `capacity` values (default 0: a
 * rendezvous, each send waits for a receiver).
 * @raise a plain error for a capacity below 0 or above 2^30.
 * @usage
 *   local ch = silk.channel(16)
 *   silk.spawn(function() for i = 1, 3 do ch:send(i) end ch:close() end)
 *   for v in function() return ch:recv() end do print(v) end
 */
static int channel_new(lua_State *L)
{
    lua_Integer cap = luaL_optinteger(L, 1, 0);
    luaL_argcheck(L, cap >= 0 && cap <= (1 << 30), 1, "capacity must be between 0 and 2^30");
    channel *c = lua_newuserdata(L, sizeof *c);
    *c = (channel){.cap = (int)cap};
    luaL_getmetatable(L, CHANNEL_META);
    lua_setmetatable(L, -2);
    /* the ring's slots in the array part (a hash part would churn as the
     * indices cycle), up to a size worth preallocating */
    lua_createtable(L, cap < 4096 ? (int)cap : 4096, 0);
    lua_setfenv(L, -2);
    return 1;
}

/*** chan:send(v)
 * Sends v (not nil); waits while the channel is full (capacity 0: until a
 * receiver takes it).
 * @raise a `closed` error value on a closed channel; the task's interruption
 *   while waiting; a plain error for nil.
 * @usage
 *   local ch = silk.channel(1)
 *   ch:send("page 1")
 */
static int channel_send(lua_State *L)
{
    channel *c = luaL_testudata(L, 1, CHANNEL_META);
    if (!c)
        return silk_task_argerror(L, 1, "send", "channel expected (call it as ch:send(v))");
    if (lua_isnoneornil(L, 2))
        return silk_task_argerror(L, 2, "send", "cannot send nil (nil marks a closed channel)");
    lua_settop(L, 2);
    if (c->closed)
        return silk_task_error(L, "send on a closed channel");
    silk_task *r = silk_tlist_qpop(&c->receivers);
    if (r) {
        lua_pushvalue(L, 2);
        lua_xmove(L, r->co, 1);
        silk_task_wake(r, 1);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (c->count < c->cap) {
        lua_getfenv(L, 1);
        buf_put(L, c, 3, 2);
        lua_pushboolean(L, 1);
        return 1;
    }
    silk_task *t = silk_task_check_current(L, "send");
    lua_pushvalue(L, 2);
    t->wait_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    silk_tlist_qpush(&c->senders, t);
    return silk_task_wait(L, SILK_WAIT_SEND, "channel", NULL, c);
}

/*** chan:recv() -> v | nil
 * The next value, waiting for one; nil once the channel is closed and
 * drained.
 * @raise the task's interruption (cancelled, timeout) while waiting.
 * @usage
 *   for v in function() return ch:recv() end do print(v) end
 */
static int channel_recv(lua_State *L)
{
    channel *c = luaL_testudata(L, 1, CHANNEL_META);
    if (!c)
        return silk_task_argerror(L, 1, "recv", "channel expected (call it as ch:recv())");
    if (c->count > 0) {
        lua_getfenv(L, 1);
        int env = lua_gettop(L);
        buf_take(L, c, env);
        silk_task *s = silk_tlist_qpop(&c->senders);
        if (s) {                          /* room again: the oldest sender's value moves in */
            lua_rawgeti(L, LUA_REGISTRYINDEX, s->wait_ref);
            buf_put(L, c, env, lua_gettop(L));
            lua_pop(L, 1);
            lua_pushboolean(s->co, 1);
            silk_task_wake(s, 1);
        }
        return 1;
    }
    silk_task *s = silk_tlist_qpop(&c->senders);
    if (s) {
        take_from_sender(L, s);
        return 1;
    }
    if (c->closed) {
        lua_pushnil(L);
        return 1;
    }
    silk_task *t = silk_task_check_current(L, "recv");
    silk_tlist_qpush(&c->receivers, t);
    return silk_task_wait(L, SILK_WAIT_RECV, "channel", NULL, c);
}

/*** chan:close()
 * Closes the channel: receivers get the values still queued, then nil;
 * senders waiting get a `closed` error.
 * @raise a plain error when the channel is already closed.
 * @usage
 *   ch:close()
 */
static int channel_close(lua_State *L)
{
    channel *c = check_channel(L);
    if (c->closed)
        return luaL_error(L, "close of a closed channel");
    c->closed = 1;
    for (silk_task *r; (r = silk_tlist_qpop(&c->receivers));) {
        lua_pushnil(r->co);
        silk_task_wake(r, 1);
    }
    for (silk_task *s; (s = silk_tlist_qpop(&c->senders));) {
        lua_pushlightuserdata(s->co, silk_task_interrupt_marker());
        silk_err_push(s->co, "closed", "send on a closed channel");
        silk_task_wake(s, 2);
    }
    return 0;
}

/*** chan:len() -> n
 * Values queued now.
 * @usage
 *   print(ch:len(), ch:cap())
 */
static int channel_len(lua_State *L)
{
    lua_pushinteger(L, check_channel(L)->count);
    return 1;
}

/*** chan:cap() -> n
 * The capacity the channel was made with.
 * @usage
 *   assert(silk.channel(4):cap() == 4)
 */
static int channel_cap(lua_State *L)
{
    lua_pushinteger(L, check_channel(L)->cap);
    return 1;
}

/*** chan:is_closed() -> boolean
 * Whether close() was called.
 * @usage
 *   if not ch:is_closed() then ch:send(v) end
 */
static int channel_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_channel(L)->closed);
    return 1;
}

/* A channel that becomes garbage while tasks wait on it leaves them waiting
 * on nothing: the deadlock detector reports them. */
static int channel_gc(lua_State *L)
{
    channel *c = lua_touserdata(L, 1);
    while (silk_tlist_qpop(&c->receivers))
        ;
    while (silk_tlist_qpop(&c->senders))
        ;
    return 0;
}

static int channel_tostring(lua_State *L)
{
    channel *c = check_channel(L);
    lua_pushfstring(L, "channel (%d/%d%s)", c->count, c->cap, c->closed ? ", closed" : "");
    return 1;
}

void silk_channel_register(lua_State *L)
{
    luaL_newmetatable(L, CHANNEL_META);
    lua_pushliteral(L, CHANNEL_META);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, channel_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, channel_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, channel_len);
    lua_setfield(L, -2, "__len");
    lua_newtable(L);
    silk_task_pushwaiting(L, channel_send);
    lua_setfield(L, -2, "send");
    silk_task_pushwaiting(L, channel_recv);
    lua_setfield(L, -2, "recv");
    lua_pushcfunction(L, channel_close);
    lua_setfield(L, -2, "close");
    lua_pushcfunction(L, channel_len);
    lua_setfield(L, -2, "len");
    lua_pushcfunction(L, channel_cap);
    lua_setfield(L, -2, "cap");
    lua_pushcfunction(L, channel_is_closed);
    lua_setfield(L, -2, "is_closed");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, channel_new);
    lua_setfield(L, -2, "channel");
}
