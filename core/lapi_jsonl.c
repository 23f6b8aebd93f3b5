/*
 * lapi_jsonl.c -- silk.core.jsonl: items as JSON, and the files they go to.
 *
 *   jsonl.encode(value [, name [, order]]) -> text | nil, err
 *   jsonl.line(value [, name [, order]])   -> text .. "\n" | nil, err  (one JSON Lines record)
 *   jsonl.check(value [, name])  -> true | nil, err             (what encode would refuse)
 *   jsonl.number(n)              -> text                        (n finite; the same digits)
 *   jsonl.open(path [, resume_at]) -> file | nil, err           (jsonl.h: silk_jsonl_file_open)
 *   file:write(s) -> true | nil, err   file:sync() -> true | nil, err
 *   file:offset() -> bytes of whole records   file:close() -> true | nil, err   (__gc too)
 *
 * What a value may hold: strings (valid UTF-8), finite numbers (integers
 * exact, floats round-trip: jsonl.h), booleans, cjson.null, and tables: an
 * empty table is [] (items hold empty lists far more often than empty maps;
 * a metatable with __jsontype = "object", dkjson's convention, makes it {}),
 * one whose keys are all positive integers an array (holes are null; as
 * lua-cjson, one sparser than half full past index 10 is an object with the
 * indexes as keys), one whose keys are all strings an object.
 *
 * Object keys are written in an order that does not depend on the process:
 * Lua's table order follows string hashes, which LuaJIT seeds afresh in every
 * process. `order`, an array of strings, gives the top-level keys' order (the
 * sinks' field order: it must list every key of the value, and keys it lists
 * that the value lacks are skipped; an empty value is then the object {});
 * every other object has its keys in byte order.
 * Anything else is refused with an error naming the field by its path from
 * `name` (default "item") and saying what it holds: "item.price: function",
 * "item.tags[2]: nan", "item.meta: a boolean key", a cycle, nesting past
 * MAX_DEPTH, invalid UTF-8 with its byte offset. Refused, not raised: a bad
 * value is the page's data, and the caller decides (crawl.lua refuses the
 * item and keeps the page's others).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "jsonl.h"
#include "lapi.h"

#define FILE_MT "silk.jsonl.file"
#define MAX_DEPTH 100
#define EXACT_INT 9007199254740992.0
#define QUOTE_ONE_PASS 4096   /* strings up to this long are quoted in one pass */
#define LINE_ON_STACK 2048    /* a line up to this long is built without malloc */

/* The text being written: in the caller's storage until it outgrows it,
 * then malloc'd (heap). */
typedef struct buf {
    char *p;
    size_t n, cap;
    int heap;
} buf;

/* One step of the path from the root to the value being encoded. */
typedef struct step {
    const char *key; /* a string key (anchored on the Lua stack), or NULL */
    size_t len;
    double index;    /* with key == NULL */
} step;

typedef struct enc {
    lua_State *L;
    buf *out;        /* NULL: check only */
    const char *name;
    int depth;       /* tables entered */
    int order;       /* stack index of the top-level key order, or 0 */
    const void *tables[MAX_DEPTH];
    step path[MAX_DEPTH];
    char err[384];
} enc;

/* ------------------------------------------------------------------ */
/* output */

static char *reserve(buf *b, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n)
            cap *= 2;
        char *p = b->heap ? realloc(b->p, cap) : malloc(cap);
        if (!p)
            return NULL;
        if (!b->heap)
            memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
        b->heap = 1;
    }
    char *at = b->p + b->n;
    b->n += n;
    return at;
}

/* Writes the path so far and ": " + msg into e->err; returns -1. */
static int fail(enc *e, const char *msg)
{
    size_t o = (size_t)snprintf(e->err, sizeof e->err, "%s", e->name);
    for (int i = 0; i < e->depth && o < sizeof e->err; i++) {
        const step *s = &e->path[i];
        size_t room = sizeof e->err - o;
        int ident = s->key && s->len > 0 && s->len <= 64 && !(s->key[0] >= '0' && s->key[0] <= '9');
        for (size_t k = 0; ident && k < s->len; k++) {
            char c = s->key[k];
            ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
        }
        if (!s->key)
            o += (size_t)snprintf(e->err + o, room, "[%.0f]", s->index);
        else if (ident)
            o += (size_t)snprintf(e->err + o, room, ".%.*s", (int)s->len, s->key);
        else
            o += (size_t)snprintf(e->err + o, room, "[\"%.*s%s\"]", (int)(s->len > 40 ? 40 : s->len),
                                  s->key, s->len > 40 ? "..." : "");
    }
    if (o < sizeof e->err)
        snprintf(e->err + o, sizeof e->err - o, ": %s", msg);
    return -1;
}

static int put(enc *e, const char *s, size_t n)
{
    if (!e->out)
        return 0;
    char *d = reserve(e->out, n);
    if (!d)
        return fail(e, "not enough memory");
    memcpy(d, s, n);
    return 0;
}

static int put_string(enc *e, const char *s, size_t n, const char *what)
{
    size_t bad = silk_jsonl_utf8_check(s, n);
    if (bad < n) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s is not valid UTF-8 (byte %zu of %zu; transcode it, e.g. "
                 "with res:text())", what, bad + 1, n);
        return fail(e, msg);
    }
    if (!e->out)
        return 0;
    /* a short string gets room for its longest quoting (each byte \u00XX)
     * and gives back what it did not use: one pass instead of two */
    size_t room = n <= QUOTE_ONE_PASS ? 6 * n + 2 : silk_jsonl_quoted_len(s, n);
    char *d = reserve(e->out, room);
    if (!d)
        return fail(e, "not enough memory");
    e->out->n -= room - silk_jsonl_quote(s, n, d);
    return 0;
}

static int put_number(enc *e, double v, int quoted)
{
    char text[SILK_JSONL_NUMBER_MAX + 2];
    if (!isfinite(v))
        return fail(e, isnan(v) ? "nan (JSON has no NaN or infinity)"
                                : v > 0 ? "inf (JSON has no NaN or infinity)"
                                        : "-inf (JSON has no NaN or infinity)");
    size_t n = silk_jsonl_number(v, text + quoted);
    if (quoted) {
        text[0] = text[n + 1] = '"';
        n += 2;
    }
    return put(e, text, n);
}

/* ------------------------------------------------------------------ */
/* values */

static int enc_value(enc *e, int idx);

/* Whether the empty table at idx is marked an object (__jsontype). */
static int empty_object(lua_State *L, int idx)
{
    if (!luaL_getmetafield(L, idx, "__jsontype"))
        return 0;
    const char *t = lua_tostring(L, -1);
    int object = t && strcmp(t, "object") == 0;
    lua_pop(L, 1);
    return object;
}

/* Classifies the keys of the table at idx: 'a' array (*max: its length),
 * 's' a sparse array written as an object, 'o' object (*count: its keys), or
 * 0 after fail(). */
static int table_kind(enc *e, int idx, double *max, size_t *nkeys)
{
    lua_State *L = e->L;
    size_t count = 0, strings = 0;
    *max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int kt = lua_type(L, -1);
        count++;
        if (kt == LUA_TSTRING) {
            strings++;
            continue;
        }
        char msg[160];
        if (kt != LUA_TNUMBER) {
            snprintf(msg, sizeof msg, "a %s key (JSON object keys are strings)", lua_typename(L, kt));
            return fail(e, msg), 0;
        }
        double k = lua_tonumber(L, -1);
        if (!(k >= 1 && k <= EXACT_INT && k == floor(k))) {
            snprintf(msg, sizeof msg, "the number key %.17g (array indexes are 1, 2, ...; "
                     "object keys are strings)", k);
            return fail(e, msg), 0;
        }
        if (k > *max)
            *max = k;
    }
    *nkeys = count;
    if (count == 0)
        return (e->order && e->depth == 0) || empty_object(L, idx) ? 'o' : 'a';
    if (strings == count)
        return 'o';
    if (strings) {
        return fail(e, "a table with both string keys and array indexes (JSON has arrays or "
                       "objects, not both)"), 0;
    }
    return *max > 10 && *max > 2.0 * (double)count ? 's' : 'a';
}

/* A key of an object, as its table holds it (so anchored while the table is). */
typedef struct key {
    const char *s;
    size_t len;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Writes the member whose key (a string) is below its value on top of the
 * stack, and pops the value; `first`: no comma before it. 0 or -1. */
static int put_pair(enc *e, step *s, int first)
{
    lua_State *L = e->L;
    s->key = lua_tolstring(L, -2, &s->len);
    int rc = first ? 0 : put(e, ",", 1);
    e->depth--; /* a bad key is named by its table's path, not by itself */
    if (rc == 0)
        rc = put_string(e, s->key, s->len, "a key");
    e->depth++;
    if (rc == 0)
        rc = put(e, ":", 1);
    if (rc == 0)
        rc = enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
    return rc;
}

/* Writes the member of the object at idx whose key (a string) is on top of
 * the stack, and pops the key; `first`: no comma before it. Returns 1
 * written, 0 the object has no such key, -1 after fail(). */
static int put_member(enc *e, int idx, step *s, int first)
{
    lua_State *L = e->L;
    lua_pushvalue(L, -1);
    lua_rawget(L, idx);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 2);
        return 0;
    }
    int rc = put_pair(e, s, first);
    lua_pop(L, 1);
    return rc < 0 ? -1 : 1;
}

/* The members of the object at idx (nkeys string keys): the top level in
 * e->order, any other object in byte order of its keys. 0 or -1. */
static int put_members(enc *e, int idx, step *s, size_t nkeys)
{
    lua_State *L = e->L;
    size_t written = 0;
    int rc = 0;
    if (e->order && e->depth == 1) {
        size_t n = lua_objlen(L, e->order);
        for (size_t i = 1; rc >= 0 && i <= n && written < nkeys; i++) {
            lua_rawgeti(L, e->order, (int)i);
            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_pop(L, 1);
                continue;
            }
            rc = put_member(e, idx, s, written == 0);
            written += rc > 0;
        }
        if (rc >= 0 && written < nkeys) {
            e->depth--; /* named by the object's path */
            rc = fail(e, "a key that the field order does not list");
            e->depth++;
        }
        return rc < 0 ? -1 : 0;
    }
    if (!e->out) { /* a check needs no order: each member where lua_next finds it */
        lua_pushnil(L);
        while (rc >= 0 && lua_next(L, idx))
            rc = put_pair(e, s, 1);
        if (rc < 0)
            lua_pop(L, 1); /* the key lua_next left */
        return rc < 0 ? -1 : 0;
    }
    /* a userdata, not malloc: a memory error raised below leaks nothing */
    key *keys = lua_newuserdata(L, nkeys * sizeof *keys);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[n].s = lua_tolstring(L, -1, &keys[n].len);
        n++;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        lua_pushlstring(L, keys[i].s, keys[i].len);
        rc = put_member(e, idx, s, i == 0);
    }
    lua_pop(L, 1);
    return rc < 0 ? -1 : 0;
}

static int enc_table(enc *e, int idx)
{
    lua_State *L = e->L;
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < e->depth; i++)
        if (e->tables[i] == t)
            return fail(e, "a table that contains itself (a cycle)");
    if (e->depth == MAX_DEPTH)
        return fail(e, "tables nested too deep (over 100)");
    if (!lua_checkstack(L, 6))
        return fail(e, "not enough memory");
    double max;
    size_t nkeys;
    int kind = table_kind(e, idx, &max, &nkeys);
    if (!kind)
        return -1;
    step *s = &e->path[e->depth];
    e->tables[e->depth++] = t;
    int rc = put(e, kind == 'a' ? "[" : "{", 1);
    if (kind == 'a') {
        for (double i = 1; rc == 0 && i <= max; i++) {
            s->key = NULL;
            s->index = i;
            lua_rawgeti(L, idx, (int)i);
            rc = i > 1 ? put(e, ",", 1) : 0;
            if (rc == 0)
                rc = lua_isnil(L, -1) ? put(e, "null", 4) : enc_value(e, lua_gettop(L));
            lua_pop(L, 1);
        }
    } else if (kind == 'o') {
        if (rc == 0)
            rc = put_members(e, idx, s, nkeys);
    } else {
        int first = 1;
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, idx)) {
            rc = first ? 0 : put(e, ",", 1);
            first = 0;
            s->key = NULL;
            s->index = lua_tonumber(L, -2);
            if (rc == 0)
                rc = put_number(e, s->index, 1);
            if (rc == 0)
                rc = put(e, ":", 1);
            if (rc == 0)
                rc = enc_value(e, lua_gettop(L));
            lua_pop(L, 1);
        }
    }
    if (rc == 0)
        rc = put(e, kind == 'a' ? "]" : "}", 1);
    if (rc == 0)
        e->depth--;
    return rc;
}

static int enc_value(enc *e, int idx)
{
    lua_State *L = e->L;
    int t = lua_type(L, idx);
    char msg[200];
    switch (t) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return put_string(e, s, n, "the string");
    }
    case LUA_TNUMBER:
        return put_number(e, lua_tonumber(L, idx), 0);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? put(e, "true", 4) : put(e, "false", 5);
    case LUA_TTABLE:
        /* a silk object made as a table (a node): named, as a userdata is */
        if (luaL_getmetafield(L, idx, "__name")) {
            snprintf(msg, sizeof msg, "%.60s (an item holds strings, numbers, booleans and tables: "
                     "keep a node's text or attributes, not the node)", lua_tostring(L, -1));
            lua_pop(L, 1);
            return fail(e, msg);
        }
        return enc_table(e, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) /* cjson.null */
            return put(e, "null", 4);
        break;
    case LUA_TUSERDATA:
        if (luaL_getmetafield(L, idx, "__name")) {
            snprintf(msg, sizeof msg, "userdata %.60s (an item holds strings, numbers, booleans "
                     "and tables: keep a node's text or attributes, not the node)",
                     lua_tostring(L, -1));
            lua_pop(L, 1);
            return fail(e, msg);
        }
        break;
    }
    snprintf(msg, sizeof msg, "%s (an item holds strings, numbers, booleans and tables)",
             lua_typename(L, t));
    return fail(e, msg);
}

/* Encodes (out != NULL) or checks argument 1; on failure pushes nil, err and
 * returns 2, else 0. */
static int run(lua_State *L, buf *out)
{
    enc e_, *e = &e_;
    e->L = L;
    e->out = out;
    e->name = luaL_optstring(L, 2, "item");
    e->order = lua_istable(L, 3) ? 3 : 0;
    e->depth = 0;
    if (enc_value(e, 1) == 0)
        return 0;
    lua_pushnil(L);
    lua_pushstring(L, e->err);
    return 2;
}

static int push_text(lua_State *L, int newline)
{
    char first[LINE_ON_STACK];
    buf b = {first, 0, sizeof first, 0};
    lua_settop(L, 3);
    int n = run(L, &b);
    if (n == 0 && newline && !reserve(&b, 1)) {
        lua_pushnil(L);
        lua_pushliteral(L, "not enough memory");
        n = 2;
    }
    if (n) {
        if (b.heap)
            free(b.p);
        return n;
    }
    if (newline)
        b.p[b.n - 1] = '\n';
    lua_pushlstring(L, b.p, b.n); /* raises only on a memory error: b.p would leak, nothing worse */
    if (b.heap)
        free(b.p);
    return 1;
}

static int jsonl_encode(lua_State *L)
{
    return push_text(L, 0);
}

static int jsonl_line(lua_State *L)
{
    return push_text(L, 1);
}

static int jsonl_check(lua_State *L)
{
    lua_settop(L, 3);
    int n = run(L, NULL);
    if (n)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}

static int jsonl_number(lua_State *L)
{
    double v = luaL_checknumber(L, 1);
    luaL_argcheck(L, isfinite(v), 1, "a finite number expected");
    char text[SILK_JSONL_NUMBER_MAX];
    lua_pushlstring(L, text, silk_jsonl_number(v, text));
    return 1;
}

/* ------------------------------------------------------------------ */
/* the item file */

static silk_jsonl_file *check_file(lua_State *L)
{
    silk_jsonl_file *f = luaL_checkudata(L, 1, FILE_MT);
    if (f->fd < 0)
        luaL_error(L, "attempt to use a closed item file");
    return f;
}

static int jsonl_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double resume_at = luaL_optnumber(L, 2, -1);
    luaL_argcheck(L, resume_at == -1 || (resume_at >= 0 && resume_at == floor(resume_at)), 2,
                  "a byte offset expected");
    silk_jsonl_file *f = lua_newuserdata(L, sizeof *f);
    f->fd = -1;
    f->path = NULL;
    luaL_getmetatable(L, FILE_MT);
    lua_setmetatable(L, -2);
    char err[512];
    if (silk_jsonl_file_open(f, path, (long long)resume_at, err, sizeof err) != 0)
        return silk_lapi_result(L, -1, err);
    return 1;
}

static int file_write(lua_State *L)
{
    silk_jsonl_file *f = check_file(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    char err[512];
    return silk_lapi_result(L, silk_jsonl_file_append(f, s, n, err, sizeof err), err);
}

static int file_sync(lua_State *L)
{
    silk_jsonl_file *f = check_file(L);
    char err[512];
    return silk_lapi_result(L, silk_jsonl_file_sync(f, err, sizeof err), err);
}

static int file_offset(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)check_file(L)->offset);
    return 1;
}

static int file_close(lua_State *L)
{
    silk_jsonl_file *f = luaL_checkudata(L, 1, FILE_MT);
    char err[512];
    return silk_lapi_result(L, silk_jsonl_file_close(f, err, sizeof err), err);
}

int silk_lapi_jsonl(lua_State *L)
{
    static const luaL_Reg file_methods[] = {
        {"write", file_write}, {"sync", file_sync}, {"offset", file_offset},
        {"close", file_close}, {NULL, NULL},
    };
    static const luaL_Reg funcs[] = {
        {"encode", jsonl_encode}, {"line", jsonl_line}, {"check", jsonl_check},
        {"number", jsonl_number}, {"open", jsonl_open}, {NULL, NULL},
    };
    if (luaL_newmetatable(L, FILE_MT)) {
        lua_pushliteral(L, FILE_MT);
        lua_setfield(L, -2, "__name");
        lua_newtable(L);
        luaL_setfuncs(L, file_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, file_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    return 1;
}
