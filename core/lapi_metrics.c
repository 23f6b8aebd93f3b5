/*
 * lapi_metrics.c -- "silk.core.metrics": metrics.c for Lua.
 *
 *   describe(name, "counter"|"gauge"|"histogram", help [, {bounds...}])
 *   add(name, v [, labels])       counter (created on first use) or gauge += v
 *   set(name, v [, labels])       gauge (created on first use) or counter = v
 *   observe(name, v [, labels])   histogram (default buckets unless described)
 *   get(name [, labels]) -> number
 *   labels(t) -> the escaped label text of a table ({kind = "dns"} -> kind="dns")
 *   render() -> text              collects (engine + silk.metrics collectors), then renders
 *   serve(addr) -> server | nil, err     server:port(), server:close() (also __gc)
 *   reset()                       forget every family (tests)
 * labels: nil, a table of name = value (at most 16, sorted by name), or
 * text already in exposition form. Context: any (none of these waits).
 * Misuse (bad metric or label name, type clash, negative counter
 * increment) raises at the caller's line.
 *
 * For the other bindings, silk_lapi_collector (lapi.h) registers a C
 * collector with metrics.c for the life of the Lua state.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lapi.h"
#include "metrics.h"

#define SERVER_MT "silk.metrics.server"
#define COLLECTOR_MT "silk.metrics.collector"
#define LABELS_MAX 1024
#define LABEL_KEYS_MAX 16

typedef struct lserver {
    silk_metrics_server *s;
} lserver;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int valid_label(const char *k)
{
    if (!*k || (*k >= '0' && *k <= '9'))
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_'))
            return 0;
    return 1;
}

/* Renders the labels at idx into out (LABELS_MAX bytes); raises on misuse.
 * Returns out, or NULL for none. No Lua allocation while out is written. */
static const char *check_labels(lua_State *L, int idx, char *out)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_tostring(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    const char *keys[LABEL_KEYS_MAX];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || !valid_label(lua_tostring(L, -1)) || n == LABEL_KEYS_MAX) {
            lua_pop(L, 1);
            luaL_argerror(L, idx, "label names must match [a-zA-Z_][a-zA-Z0-9_]* (at most 16)");
        }
        keys[n++] = lua_tostring(L, -1);   /* anchored by the table */
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        const char *v = lua_tostring(L, -1);
        if (!v)
            luaL_argerror(L, idx, "label values must be strings or numbers");
        len += (size_t)snprintf(out + len, len < LABELS_MAX ? LABELS_MAX - len : 0, "%s%s=\"", i ? "," : "", keys[i]);
        for (; *v && len < LABELS_MAX - 4; v++) {
            if (*v == '\\' || *v == '"') {
                out[len++] = '\\';
                out[len++] = *v;
            } else if (*v == '\n') {
                out[len++] = '\\';
                out[len++] = 'n';
            } else {
                out[len++] = *v;
            }
        }
        if (len >= LABELS_MAX - 2)
            luaL_argerror(L, idx, "labels too long");
        out[len++] = '"';
        out[len] = '\0';
        lua_pop(L, 1);
    }
    return out;
}

static int metrics_describe(lua_State *L)
{
    static const char *const types[] = {"counter", "gauge", "histogram", NULL};
    const char *name = luaL_checkstring(L, 1);
    int type = luaL_checkoption(L, 2, NULL, types);
    const char *help = luaL_optstring(L, 3, NULL);
    double bounds[32];
    int nb = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        nb = (int)lua_objlen(L, 4);
        if (nb > 32)
            return luaL_argerror(L, 4, "at most 32 buckets");
        for (int i = 0; i < nb; i++) {
            lua_rawgeti(L, 4, i + 1);
            bounds[i] = luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    }
    if (silk_metrics_describe(name, (silk_metric_type)type, help, nb ? bounds : NULL, nb) != 0)
        return luaL_error(L, "metrics.describe: bad name, type clash or unsorted buckets for '%s'", name);
    return 0;
}

static int update(lua_State *L, int (*fn)(const char *, const char *, double), const char *what)
{
    const char *name = luaL_checkstring(L, 1);
    double v = luaL_checknumber(L, 2);
    char buf[LABELS_MAX];
    const char *labels = check_labels(L, 3, buf);
    if (fn(name, labels, v) != 0)
        return luaL_error(L, "metrics.%s: bad name '%s', a type clash, or a bad value", what, name);
    return 0;
}

static int metrics_add(lua_State *L) { return update(L, silk_metrics_add, "add"); }
static int metrics_set(lua_State *L) { return update(L, silk_metrics_set, "set"); }
static int metrics_observe(lua_State *L) { return update(L, silk_metrics_observe, "observe"); }

static int metrics_get(lua_State *L)
{
    char buf[LABELS_MAX];
    const char *name = luaL_checkstring(L, 1);
    lua_pushnumber(L, silk_metrics_get(name, check_labels(L, 2, buf)));
    return 1;
}

static int metrics_labels(lua_State *L)
{
    char buf[LABELS_MAX];
    const char *l = check_labels(L, 1, buf);
    lua_pushstring(L, l ? l : "");
    return 1;
}

static int metrics_render(lua_State *L)
{
    silk_metrics_collect(silk_engine_from(L));
    size_t len;
    char *text = silk_metrics_render(&len);
    if (!text)
        return luaL_error(L, "metrics.render: out of memory");
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

static int metrics_reset(lua_State *L)
{
    silk_metrics_reset();
    return 0;
}

static int metrics_serve(lua_State *L)
{
    const char *addr = luaL_checkstring(L, 1);
    lserver *ls = lua_newuserdata(L, sizeof *ls);
    ls->s = NULL;
    luaL_getmetatable(L, SERVER_MT);
    lua_setmetatable(L, -2);
    char err[512];
    ls->s = silk_metrics_serve(silk_engine_from(L), addr, err, sizeof err);
    if (!ls->s) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

typedef struct lcollector {
    silk_metrics_collector_fn fn;
    void *ud;
} lcollector;

static int collector_gc(lua_State *L)
{
    lcollector *c = lua_touserdata(L, 1);
    silk_metrics_collector_remove(c->fn, c->ud);
    return 0;
}

/* The registration lives as long as L: its anchor, kept in the registry,
 * is finalised by lua_close. It is anchored before it is registered, so
 * that an allocation error between the two cannot leave a collector whose
 * ud outlives the state. */
void silk_lapi_collector(lua_State *L, void (*fn)(void *ud), void *ud)
{
    lcollector *c = lua_newuserdata(L, sizeof *c);
    c->fn = fn;
    c->ud = ud;
    if (luaL_newmetatable(L, COLLECTOR_MT)) {
        lua_pushliteral(L, COLLECTOR_MT);
        lua_setfield(L, -2, "__name");
        lua_pushcfunction(L, collector_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    luaL_ref(L, LUA_REGISTRYINDEX);
    if (silk_metrics_collector_add(fn, ud) != 0)
        luaL_error(L, "metrics: out of memory");
}

static int server_close(lua_State *L)
{
    lserver *ls = luaL_checkudata(L, 1, SERVER_MT);
    silk_metrics_close(ls->s);
    ls->s = NULL;
    return 0;
}

static int server_port(lua_State *L)
{
    lserver *ls = luaL_checkudata(L, 1, SERVER_MT);
    if (!ls->s)
        return luaL_error(L, "attempt to use a closed metrics server");
    lua_pushinteger(L, silk_metrics_port(ls->s));
    return 1;
}

int silk_lapi_metrics(lua_State *L)
{
    static const luaL_Reg server_methods[] = {
        {"close", server_close},
        {"port", server_port},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"describe", metrics_describe},
        {"add", metrics_add},
        {"set", metrics_set},
        {"observe", metrics_observe},
        {"get", metrics_get},
        {"labels", metrics_labels},
        {"render", metrics_render},
        {"serve", metrics_serve},
        {"reset", metrics_reset},
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
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    return 1;
}
