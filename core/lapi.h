/*
 * lapi.h -- the registry of silk's Lua bindings.
 *
 * Each core module that Lua can reach has one binding file, lapi_<name>.c,
 * which checks and translates arguments and calls the module; it holds no
 * logic of its own. Every binding exports one opener with the lua_CFunction
 * signature that pushes the module's table. silk_lapi_preload() registers
 * them all in package.preload as "silk.core.<name>"; the user-facing Lua
 * modules under lua/silk/ require them from there.
 */
#ifndef SILK_LAPI_H
#define SILK_LAPI_H

#include <lua.h>

int silk_lapi_task(lua_State *L);     /* lapi_task.c: tasks, sleep, frames, channels */
int silk_lapi_engine(lua_State *L);   /* lapi_engine.c: clock, resource counts, options */
int silk_lapi_html(lua_State *L);     /* lapi_html.c: documents, nodes, selectors */
int silk_lapi_url(lua_State *L);      /* lapi_url.c: join, canonical, host key */
int silk_lapi_robots(lua_State *L);   /* lapi_robots.c: robots.txt parse and match */
int silk_lapi_fetch(lua_State *L);    /* lapi_fetch.c: fetch, stats, configure, decode */
int silk_lapi_console(lua_State *L);  /* lapi_console.c: console server/client, line reader */
int silk_lapi_metrics(lua_State *L);  /* lapi_metrics.c: metric registry, /metrics server */
int silk_lapi_profile(lua_State *L);  /* lapi_profile.c: sampling profiler, flame graphs */
int silk_lapi_gc(lua_State *L);       /* lapi_gc.c: GC pacer stats, step, full, configure */
int silk_lapi_frontier(lua_State *L); /* lapi_frontier.c: URL frontier (memory, sqlite jobdir) */
int silk_lapi_sitemap(lua_State *L);  /* lapi_sitemap.c: sitemap XML (and .xml.gz) parser */
int silk_lapi_jsonl(lua_State *L);    /* lapi_jsonl.c: items as exact JSON, item files */
int silk_lapi_render(lua_State *L);   /* lapi_render.c: page handles over the browser pool */
int silk_lapi_sqlite(lua_State *L);   /* lapi_sqlite.c: SQLite files (item sink, HTTP cache) */

/* Registers every opener above in package.preload. Leaves the stack as is. */
void silk_lapi_preload(lua_State *L);

/* Registers the C collector fn(ud) with metrics.c (metrics.h) until L is
 * closed; a binding calls it when it is opened. Raises when out of memory. */
void silk_lapi_collector(lua_State *L, void (*fn)(void *ud), void *ud);

/* The result of a C call that returns 0 or -1 with a message: pushes true,
 * or nil and err; returns the number of values pushed. */
int silk_lapi_result(lua_State *L, int rc, const char *err);

#endif
