/*
 * lapi_fetch_int.h -- what lapi_fetch.c (silk.fetch and the module) and
 * lapi_fetch_start.c (transfers that spawn a task when they end) share.
 */
#ifndef SILK_LAPI_FETCH_INT_H
#define SILK_LAPI_FETCH_INT_H

#include <lua.h>

#include "fetch.h"

#define MAX_REQ_HEADERS 256

/* The engine's fetch state (its SILK_SERVICE_FETCH), made on first use.
 * Raises when libcurl cannot be initialised. */
silk_fetch *silk_lapi_fetch_state(lua_State *L);

/* Fills r from the URL or request table at index 1, its headers into
 * hdrs (MAX_REQ_HEADERS). Strings it points to live in that table or in
 * the anchor table at index 2. Raises for a malformed request before
 * anything is acquired. */
void silk_lapi_fetch_request(lua_State *L, silk_fetch_req *r, const char **hdrs);

/* Pushes the response of res, or nil, err; returns the number of values. */
int silk_lapi_fetch_result(lua_State *L, const silk_fetch_result *res);

/* Creates the metatables of started transfers and gates and sets start
 * and gate in the module table at the top of L's stack. */
void silk_lapi_fetch_start_open(lua_State *L);

#endif
