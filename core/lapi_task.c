/*
 * lapi_task.c -- the Lua face of task.c and channel.c: package
 * "silk.core.task". The user-facing API (silk.spawn, silk.scope, ...) is
 * lua/silk/init.lua, which builds with_timeout and scope from the frame
 * functions here.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "channel.h"
#include "lapi.h"
#include "task_int.h"

static silk_task *check_task(lua_State *L, int idx)
{
    silk_task *t = luaL_checkudata(L, idx, SILK_TASK_META);
    if (t->magic != SILK_TASK_MAGIC)
        luaL_argerror(L, idx, "not a task");
    return t;
}

static double check_timeout(lua_State *L, int idx, const char *what)
{
    if (lua_isnoneornil(L, idx))
        return -1;
    double s = luaL_checknumber(L, idx);
    if (!(s >= 0))
        luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a non-negative number of seconds", what));
    return s;
}

/* spawn(fn, ...) or spawn{fn, ..., name=, timeout=}: the first form moves
 * the arguments as they are; the second unpacks the table's array part. */
static int spawn_from(lua_State *L, int first, silk_frame *scope)
{
    silk_engine *e = silk_engine_from(L);
    const char *name = NULL;
    char namebuf[128];
    double timeout = 0;
    int nargs;
    if (lua_istable(L, first)) {
        lua_getfield(L, first, "name");
        if (!lua_isnil(L, -1)) {
            snprintf(namebuf, sizeof namebuf, "%s", luaL_checkstring(L, -1));
            name = namebuf;
        }
        lua_pop(L, 1);
        lua_getfield(L, first, "timeout");
        double t = check_timeout(L, lua_gettop(L), "timeout");
        timeout = t > 0 ? t : (t == 0 ? 1e-9 : 0);
        lua_pop(L, 1);
        int n = (int)lua_objlen(L, first);
        luaL_checkstack(L, n, "too many arguments");
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, first, i);
        lua_remove(L, first);
        lua_settop(L, first - 1 + n);      /* drop anything after the table */
        nargs = n - 1;
    } else {
        nargs = lua_gettop(L) - first;
    }
    if (lua_type(L, first) != LUA_TFUNCTION)
        return luaL_argerror(L, first, lua_pushfstring(L, "function expected, got %s",
                                                        luaL_typename(L, first)));
    silk_task_spawn_in(e, L, nargs, name, timeout, scope);
    return 1;
}

/*** silk.spawn(fn, ...) -> task
 * Also silk.spawn{fn, ..., name=, timeout=}. Starts fn(...) in a new task,
 * which runs once the caller waits or yields; `timeout` is a deadline in
 * seconds for the task, `name` shows in dumps and silk.tasks().
 * @raise a plain error when fn is not a function or timeout is negative.
 * @usage
 *   local t = silk.spawn(function(a, b) silk.sleep(0.1) return a + b end, 1, 2)
 *   print(t:join())   --> true  3
 */
static int task_spawn(lua_State *L)
{
    if (lua_gettop(L) < 1)
        return luaL_argerror(L, 1, "function expected, got no value");
    return spawn_from(L, 1, NULL);
}

/*** silk.sleep(seconds)
 * Suspends the task for `seconds`; silk.sleep(0) yields to the back of the
 * run queue. Context: a task.
 * @raise the task's `cancelled` or `timeout` error value when it is cancelled
 *   or past a deadline while sleeping; a plain error for a negative or
 *   non-number argument.
 * @usage
 *   silk.sleep(0.5)
 */
static int task_sleep(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TNUMBER)
        return silk_task_argerror(L, 1, "sleep", lua_pushfstring(L, "number expected, got %s",
                                                                   luaL_typename(L, 1)));
    double s = lua_tonumber(L, 1);
    if (!(s >= 0))
        return silk_task_argerror(L, 1, "sleep", "sleep time must be a non-negative number of seconds");
    return silk_task_sleep(L, s);
}

/*** task:join() -> true, results... | false, err
 * Waits for the task to end. A failed task gives false and its error value
 * (`kind` "error" with `traceback`, or "cancelled", "timeout", "memory").
 * @raise the caller's own interruption (cancelled, timeout) while waiting; a
 *   plain error when a task joins itself.
 * @usage
 *   local ok, err = silk.spawn(error, "boom"):join()
 *   assert(not ok and err.kind == "error")
 */
static int task_join(lua_State *L)
{
    silk_task *target = luaL_testudata(L, 1, SILK_TASK_META);
    if (!target || target->magic != SILK_TASK_MAGIC)
        return silk_task_argerror(L, 1, "join", "task expected");
    if (target == silk_task_current(L))
        return silk_task_argerror(L, 1, "join", "a task cannot join itself");
    return silk_task_join(L, target);
}

/*** task:cancel([reason])
 * Cancels the task: its current or next wait raises a `cancelled` error
 * value with `reason` (default "cancelled"). Cancelling a task that has
 * ended does nothing.
 * @usage
 *   local t = silk.spawn(silk.sleep, 60)
 *   t:cancel("not needed")
 *   print(t:join())   --> false  cancelled: not needed
 */
static int task_cancel(lua_State *L)
{
    silk_task *t = check_task(L, 1);
    const char *reason = luaL_optstring(L, 2, "cancelled");
    silk_task_cancel(t, reason);
    return 0;
}

/*** task:status() -> state
 * The task's state: "runnable", "running", "waiting", "done", "failed" or
 * "cancelled".
 * @usage
 *   local t = silk.spawn(silk.sleep, 1)
 *   print(t:status())   --> runnable
 */
static int task_status(lua_State *L)
{
    silk_task *t = check_task(L, 1);
    lua_pushstring(L, silk_task_state_name(t->state));
    return 1;
}

/*** task:cpu_time() -> seconds
 * CPU time the task has run for so far (its slices of the loop thread).
 * @usage
 *   print(("%.3f s"):format(silk.current():cpu_time()))
 */
static int task_cpu_time(lua_State *L)
{
    silk_task *t = check_task(L, 1);
    double cpu = t->cpu;
    if (t->state == SILK_TASK_RUNNING)
        cpu += silk_now() - t->since;
    lua_pushnumber(L, cpu);
    return 1;
}

static int task_index(lua_State *L)
{
    silk_task *t = check_task(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "id") == 0)
        lua_pushnumber(L, (lua_Number)t->id);
    else if (strcmp(k, "name") == 0)
        t->name ? (void)lua_pushstring(L, t->name) : lua_pushnil(L);
    else if (strcmp(k, "site") == 0)
        lua_pushstring(L, t->site);
    else {
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, k);
    }
    return 1;
}

static int task_tostring(lua_State *L)
{
    silk_task *t = check_task(L, 1);
    if (t->name)
        lua_pushfstring(L, "task %d \"%s\" (%s)", (int)t->id, t->name, silk_task_state_name(t->state));
    else
        lua_pushfstring(L, "task %d (%s)", (int)t->id, silk_task_state_name(t->state));
    return 1;
}

/*** silk.current() -> task
 * The running task (nil outside one). Its fields: task.id, task.name.
 * @usage
 *   print(silk.current().id)
 */
static int task_current(lua_State *L)
{
    silk_task *t = silk_task_current(L);
    if (!t || t->co != L)
        return 0;
    silk_task_push_handle(t, L);
    return 1;
}

/*** silk.tasks() -> {info...}
 * A snapshot of every live task: {id=, name=, state=, reason=, what=
 * (the wait), age=, cpu=, allocated= (bytes the heap grew by while it ran),
 * site= (where it was created), parent=}.
 * @usage
 *   for _, t in ipairs(silk.tasks()) do print(t.id, t.state, t.what) end
 */
static int task_tasks(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    double now = silk_now();
    lua_createtable(L, e->sched->all.n, 0);
    int i = 0;
    for (silk_task *t = e->sched->all.head; t; t = t->all_next) {
        lua_createtable(L, 0, 10);
        lua_pushnumber(L, (lua_Number)t->id);
        lua_setfield(L, -2, "id");
        if (t->name) {
            lua_pushstring(L, t->name);
            lua_setfield(L, -2, "name");
        }
        lua_pushstring(L, silk_task_state_name(t->state));
        lua_setfield(L, -2, "state");
        if (t->state == SILK_TASK_WAITING) {
            lua_pushstring(L, silk_wait_reason_name(t->reason));
            lua_setfield(L, -2, "waiting_on");
            if (t->what) {
                lua_pushstring(L, t->what);
                lua_setfield(L, -2, "what");
            }
            lua_pushnumber(L, now - t->since);
            lua_setfield(L, -2, "waiting_for");
        }
        lua_pushnumber(L, now - t->created);
        lua_setfield(L, -2, "age");
        lua_pushnumber(L, t->cpu);
        lua_setfield(L, -2, "cpu");
        lua_pushnumber(L, (lua_Number)t->mem.allocated);
        lua_setfield(L, -2, "allocated");
        lua_pushstring(L, t->site);
        lua_setfield(L, -2, "site");
        if (t->parent) {
            lua_pushnumber(L, (lua_Number)t->parent->id);
            lua_setfield(L, -2, "parent");
        }
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

/*** silk.dump_tasks() -> text
 * A goroutine-style dump of every task: state, wait, age, CPU time,
 * creation site and traceback (what SIGUSR1 prints).
 * @usage
 *   io.stderr:write(silk.dump_tasks())
 */
static int task_dump(lua_State *L)
{
    silk_task_pushdump(silk_engine_from(L), L);
    return 1;
}

/* --- frames: the parts with_timeout and scope are made of ------------------ */

static silk_frame *check_frame(lua_State *L, silk_task *t, int idx)
{
    lua_Integer id = luaL_checkinteger(L, idx);
    silk_frame *f = id > 0 ? silk_frame_find(t, (uint32_t)id) : NULL;
    if (!f)
        luaL_argerror(L, idx, "no such frame in the current task");
    return f;
}

static int frame_push(lua_State *L)
{
    silk_task *t = silk_task_check_current(L, "with_timeout");
    double timeout = check_timeout(L, 1, "timeout");
    silk_frame *f = silk_frame_push(t, timeout);
    if (!f)
        return luaL_error(L, "out of memory");
    lua_pushinteger(L, f->id);
    return 1;
}

/* frame_pop(id) -> err or nil (the frame's interruption, if it fired), cause or nil */
static int frame_pop(lua_State *L)
{
    silk_task *t = silk_task_check_current(L, "frame_pop");
    silk_frame *f = check_frame(L, t, 1);
    if (f != t->frames)
        return luaL_error(L, "frame %d is not the innermost frame", (int)f->id);
    if (f->cause_ref != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->cause_ref);
    else
        lua_pushnil(L);
    if (!silk_frame_pop(t, f, L))
        lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int frame_cancel(lua_State *L)
{
    silk_task *t = silk_task_check_current(L, "scope");
    silk_frame *f = check_frame(L, t, 1);
    silk_frame_cancel(f, luaL_optstring(L, 2, "cancelled"), L, 0);
    return 0;
}

static int scope_spawn(lua_State *L)
{
    silk_task *t = silk_task_check_current(L, "scope:spawn");
    silk_frame *f = check_frame(L, t, 1);
    if (lua_gettop(L) < 2)
        return luaL_argerror(L, 2, "function expected, got no value");
    return spawn_from(L, 2, f);
}

/* scope_wait(id, shielded) -> true when the scope has no child left, or
 * marker, err when an outer frame interrupted the wait (never raises). */
static int scope_wait(lua_State *L)
{
    silk_task *t = silk_task_check_current(L, "scope");
    silk_frame *f = check_frame(L, t, 1);
    if (f->scope.n == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (lua_toboolean(L, 2))
        return silk_task_wait_shielded(L, SILK_WAIT_JOIN, "scope", NULL, f);
    if (!f->prev)
        return luaL_error(L, "scope frame has no outer frame");
    return silk_task_wait_upto(L, SILK_WAIT_JOIN, "scope", NULL, f, f->prev);
}

static int is_interrupted(lua_State *L)
{
    silk_task *t = silk_task_current(L);
    lua_pushboolean(L, t && silk_task_interrupted(t));
    return 1;
}

/* check([where]) -> nothing, or raises the running task's interruption (a
 * passed deadline, a cancellation), as its next wait would. The profiler
 * tick never interrupts silk's own Lua, so a script loop that spends its
 * time in a library call and never waits (`while true do crawl:follow(u)
 * end`) would outlive its deadline: such entry points call this first,
 * before they change any state. */
static int check_interrupt(lua_State *L)
{
    silk_task *t = silk_task_current(L);
    if (t && silk_task_interrupted(t))
        return silk_task_raise_interrupt(t, L, luaL_optstring(L, 1, "silk's Lua"));
    return 0;
}

/* live_ids() -> set of the ids of live tasks (silk.testing.no_leaks) */
static int live_ids(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    lua_createtable(L, 0, e->sched->all.n);
    for (silk_task *t = e->sched->all.head; t; t = t->all_next) {
        lua_pushboolean(L, 1);
        lua_rawseti(L, -2, (int)t->id);
    }
    return 1;
}

int silk_lapi_task(lua_State *L)
{
    luaL_newmetatable(L, SILK_TASK_META);
    lua_pushliteral(L, SILK_TASK_META);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, task_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_createtable(L, 0, 4);
    silk_task_pushwaiting(L, task_join);
    lua_setfield(L, -2, "join");
    lua_pushcfunction(L, task_cancel);
    lua_setfield(L, -2, "cancel");
    lua_pushcfunction(L, task_status);
    lua_setfield(L, -2, "status");
    lua_pushcfunction(L, task_cpu_time);
    lua_setfield(L, -2, "cpu_time");
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);

    static const luaL_Reg fns[] = {
        {"spawn", task_spawn},
        {"current", task_current},
        {"tasks", task_tasks},
        {"dump", task_dump},
        {"frame_push", frame_push},
        {"frame_pop", frame_pop},
        {"frame_cancel", frame_cancel},
        {"scope_spawn", scope_spawn},
        {"scope_wait", scope_wait},
        {"interrupted", is_interrupted},
        {"check", check_interrupt},
        {"live_ids", live_ids},
        {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    silk_task_pushwaiting(L, task_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushlightuserdata(L, silk_task_interrupt_marker());
    lua_setfield(L, -2, "INTERRUPTED");
    silk_channel_register(L);
    return 1;
}
