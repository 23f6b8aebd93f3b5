/*
 * lapi_sqlite.c -- silk.core.sqlite: a small binding over the libsqlite3
 * that silk links for the jobdir (frontier_sqlite.c), for the Lua modules
 * that keep their own SQLite files: the SQLite item sink (sinks.lua) and
 * the HTTP cache (httpcache.lua). Values always travel as bound parameters,
 * never spliced into SQL text.
 *
 *   open(path)          -> db | nil, err   creates the file when missing;
 *                                          err "cannot open PATH: MESSAGE"
 *   db:exec(sql)        -> true | nil, err  runs every statement in sql,
 *                                          dropping any rows (DDL, PRAGMA,
 *                                          BEGIN/COMMIT)
 *   db:prepare(sql)     -> stmt | nil, err  exactly one statement (more, or
 *                                          none, raises: misuse)
 *   db:close()                             finalizes the db's live statements
 *                                          first, then closes; idempotent
 *   stmt:bind(i, v)     -> true | nil, err  parameter i (from 1) to v: a
 *                                          string binds as TEXT, nil as NULL,
 *                                          a number as INTEGER when it is
 *                                          integral and within +-2^53 (LuaJIT
 *                                          numbers are doubles: past 2^53 an
 *                                          integral value is not known to be
 *                                          an integer), else (-0.0 too) as
 *                                          REAL, exactly
 *   stmt:bind_blob(i, s) -> true | nil, err the string s as a BLOB, every byte
 *                                          kept (NULs included)
 *   stmt:step()         -> true (a row) | false (done) | nil, err
 *   stmt:row()          -> the current row's values, one result per column:
 *                          INTEGER and REAL as numbers (integers past 2^53
 *                          lose precision), TEXT and BLOB as strings, NULL
 *                          as nil
 *   stmt:reset()                           ready to step again from the start,
 *                                          every parameter back to NULL
 *   stmt:close()                           finalizes; idempotent
 *
 * err is a string naming the SQL (its first SQL_SHOWN bytes) and SQLite's
 * message: "INSERT INTO t VALUES (?): disk I/O error". A wrong argument, a
 * parameter index out of range, a bind between step and reset, or any
 * method on a closed db or statement raises (misuse): "attempt to use a closed sqlite database" / "...
 * statement". A statement is closed by its own close, its __gc, or its
 * db's close: closing a db with live statements is allowed and leaves them
 * closed rather than dangling. A statement keeps its db alive (its
 * environment table references it), so __gc never closes a db under a
 * statement still in use.
 *
 * Every call is synchronous and blocks the loop thread for its disk I/O,
 * as the jobdir's SQLite store does: for small local files only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <sqlite3.h>

#include "lapi.h"

#define DB_MT "silk.sqlite.db"
#define STMT_MT "silk.sqlite.stmt"
#define SQL_SHOWN 120 /* bytes of SQL an error message quotes */

struct stmt_ud;

struct db_ud {
    sqlite3 *db;           /* owned; NULL once closed */
    struct stmt_ud *stmts; /* the live statements, finalized by db_close */
};

struct stmt_ud {
    sqlite3_stmt *st;             /* owned; NULL once closed */
    struct db_ud *owner;          /* valid while st is: the env table anchors it */
    struct stmt_ud *prev, *next; /* in owner->stmts */
};

/* Pushes nil and "SQL: MESSAGE"; returns 2. */
static int push_fail(lua_State *L, const char *sql, const char *msg)
{
    size_t n = strlen(sql);
    lua_pushnil(L);
    lua_pushlstring(L, sql, n > SQL_SHOWN ? SQL_SHOWN : n);
    lua_pushstring(L, n > SQL_SHOWN ? "...: " : ": ");
    lua_pushstring(L, msg);
    lua_concat(L, 3);
    return 2;
}

static struct db_ud *check_db(lua_State *L)
{
    struct db_ud *d = luaL_checkudata(L, 1, DB_MT);
    if (!d->db)
        luaL_error(L, "attempt to use a closed sqlite database");
    return d;
}

static struct stmt_ud *check_stmt(lua_State *L)
{
    struct stmt_ud *s = luaL_checkudata(L, 1, STMT_MT);
    if (!s->st)
        luaL_error(L, "attempt to use a closed sqlite statement");
    return s;
}

static void stmt_finalize(struct stmt_ud *s)
{
    if (!s->st)
        return;
    sqlite3_finalize(s->st);
    s->st = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->owner->stmts = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->owner = NULL;
}

/* ---- module ---- */

static int sqlite_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    /* created closed, filled after: an error below leaves nothing to free */
    struct db_ud *d = lua_newuserdata(L, sizeof *d);
    d->db = NULL;
    d->stmts = NULL;
    luaL_getmetatable(L, DB_MT);
    lua_setmetatable(L, -2);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open %s: %s", path, msg);
        return 2;
    }
    d->db = db;
    return 1;
}

/* ---- db ---- */

static int db_exec(lua_State *L)
{
    struct db_ud *d = check_db(L);
    const char *sql = luaL_checkstring(L, 2);
    char *err = NULL;
    if (sqlite3_exec(d->db, sql, NULL, NULL, &err) == SQLITE_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%s", err ? err : sqlite3_errmsg(d->db));
    sqlite3_free(err);
    return push_fail(L, sql, msg);
}

static int db_prepare(lua_State *L)
{
    struct db_ud *d = check_db(L);
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    struct stmt_ud *s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    luaL_getmetatable(L, STMT_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0); /* the environment: keeps the db alive */
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(d->db, sql, (int)len, &st, &tail) != SQLITE_OK)
        return push_fail(L, sql, sqlite3_errmsg(d->db));
    tail += strspn(tail, " \t\r\n;");
    if (!st || *tail) {
        sqlite3_finalize(st);
        return luaL_argerror(L, 2, st ? "one SQL statement expected, got more" : "no SQL statement");
    }
    s->st = st;
    s->owner = d;
    s->next = d->stmts;
    if (d->stmts)
        d->stmts->prev = s;
    d->stmts = s;
    return 1;
}

static int db_close(lua_State *L)
{
    struct db_ud *d = luaL_checkudata(L, 1, DB_MT);
    if (!d->db)
        return 0;
    while (d->stmts)
        stmt_finalize(d->stmts);
    sqlite3_close_v2(d->db); /* no statements left: closes now */
    d->db = NULL;
    return 0;
}

/* ---- stmt ---- */

/* Binding's outcome: true, an index error raised, or nil, err. */
static int bind_result(lua_State *L, struct stmt_ud *s, int rc)
{
    if (rc == SQLITE_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc == SQLITE_RANGE)
        return luaL_argerror(L, 2, lua_pushfstring(L, "parameter index out of range (1..%d)",
                                                   sqlite3_bind_parameter_count(s->st)));
    if (rc == SQLITE_MISUSE) /* SQLite refuses to bind a statement that has stepped */
        return luaL_error(L, "bind on a running sqlite statement: reset it first");
    return push_fail(L, sqlite3_sql(s->st), sqlite3_errstr(rc));
}

static int stmt_bind(lua_State *L)
{
    struct stmt_ud *s = check_stmt(L);
    int i = luaL_checkint(L, 2);
    int rc;
    switch (lua_type(L, 3)) {
    case LUA_TNONE:
    case LUA_TNIL:
        rc = sqlite3_bind_null(s->st, i);
        break;
    case LUA_TNUMBER: {
        lua_Number v = lua_tonumber(L, 3);
        /* -0.0 stays REAL, keeping its sign, as silk's JSON writes it "-0.0" */
        if (v == floor(v) && fabs(v) <= 9007199254740992.0 && !(v == 0 && signbit(v))) /* 2^53 */
            rc = sqlite3_bind_int64(s->st, i, (sqlite3_int64)v);
        else
            rc = sqlite3_bind_double(s->st, i, v);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *v = lua_tolstring(L, 3, &len);
        rc = sqlite3_bind_text64(s->st, i, v, len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    }
    default:
        return luaL_argerror(L, 3, lua_pushfstring(L, "string, number or nil expected, got %s",
                                                   luaL_typename(L, 3)));
    }
    return bind_result(L, s, rc);
}

static int stmt_bind_blob(lua_State *L)
{
    struct stmt_ud *s = check_stmt(L);
    int i = luaL_checkint(L, 2);
    size_t len;
    const char *v = luaL_checklstring(L, 3, &len);
    return bind_result(L, s, sqlite3_bind_blob64(s->st, i, v, len, SQLITE_TRANSIENT));
}

static int stmt_step(lua_State *L)
{
    struct stmt_ud *s = check_stmt(L);
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        lua_pushboolean(L, rc == SQLITE_ROW);
        return 1;
    }
    return push_fail(L, sqlite3_sql(s->st), sqlite3_errmsg(sqlite3_db_handle(s->st)));
}

static int stmt_row(lua_State *L)
{
    struct stmt_ud *s = check_stmt(L);
    int n = sqlite3_data_count(s->st);
    luaL_checkstack(L, n, "too many columns");
    for (int i = 0; i < n; i++) {
        switch (sqlite3_column_type(s->st, i)) {
        case SQLITE_INTEGER:
            lua_pushnumber(L, (lua_Number)sqlite3_column_int64(s->st, i));
            break;
        case SQLITE_FLOAT:
            lua_pushnumber(L, sqlite3_column_double(s->st, i));
            break;
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
            /* blob first, then bytes: the order SQLite's docs prescribe */
            const void *v = sqlite3_column_blob(s->st, i);
            lua_pushlstring(L, v ? v : "", (size_t)sqlite3_column_bytes(s->st, i));
            break;
        }
        default:
            lua_pushnil(L);
        }
    }
    return n;
}

static int stmt_reset(lua_State *L)
{
    struct stmt_ud *s = check_stmt(L);
    sqlite3_reset(s->st); /* its code repeats the last step's, already reported */
    sqlite3_clear_bindings(s->st);
    return 0;
}

static int stmt_close(lua_State *L)
{
    stmt_finalize(luaL_checkudata(L, 1, STMT_MT));
    return 0;
}

static const luaL_Reg db_methods[] = {
    {"exec", db_exec},
    {"prepare", db_prepare},
    {"close", db_close},
    {NULL, NULL},
};

static const luaL_Reg stmt_methods[] = {
    {"bind", stmt_bind}, {"bind_blob", stmt_bind_blob}, {"step", stmt_step}, {"row", stmt_row},
    {"reset", stmt_reset}, {"close", stmt_close},     {NULL, NULL},
};

static void new_meta(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    if (luaL_newmetatable(L, name)) {
        lua_pushstring(L, name); /* LuaJIT's luaL_newmetatable sets no __name */
        lua_setfield(L, -2, "__name");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

int silk_lapi_sqlite(lua_State *L)
{
    new_meta(L, DB_MT, db_methods, db_close);
    new_meta(L, STMT_MT, stmt_methods, stmt_close);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, sqlite_open);
    lua_setfield(L, -2, "open");
    return 1;
}
