/*
 * errors.h -- silk's error values.
 *
 * Runtime outcomes (a timeout, a cancellation, a network failure, a broken
 * page) reach Lua as error values: tables { kind = "...", message = "..." }
 * plus optional fields (traceback, url, status, ...), sharing one metatable
 * whose __tostring prints "kind: message". `kind` is a short stable string
 * from a small documented set (README.md, "Errors"); programs branch on it,
 * people read the message.
 *
 * Misuse of an API (a wrong argument type, a negative timeout) is not an
 * error value: it raises a plain Lua error at the caller's line
 * (luaL_argerror, luaL_error).
 */
#ifndef SILK_ERRORS_H
#define SILK_ERRORS_H

#include <lua.h>

/* Pushes a new error value { kind = kind, message = <formatted> } onto L.
 * The format is printf's (messages past 1 KiB are cut). Never raises
 * except on memory exhaustion. */
void silk_err_push(lua_State *L, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets field `name` of the error value at `idx` to the string `value`. */
void silk_err_setfield(lua_State *L, int idx, const char *name, const char *value);

/* 1 when the value at idx is a silk error value (carries the shared metatable). */
int silk_err_is(lua_State *L, int idx);

/* Pushes the shared metatable of error values (creating it on first use). */
void silk_err_pushmeta(lua_State *L);

#endif
