/*
 * lapi_html_query.c -- selection and extraction, the half of
 * "silk.core.html" (lapi_html.c) that reads a parsed tree: the methods
 * documents and nodes share (select, one, text, text_of, texts, attr_of,
 * html), node:inner_html and node:matches, and html.cache_stats().
 *
 * A selector compiles once per engine: the cache of compiled selectors is
 * the engine's SILK_SERVICE_SELECTORS, made on first use. Matching runs
 * under a budget that gives up when the calling task is interrupted or a
 * stop signal arrived ("bounded matching").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "engine.h"
#include "errors.h"
#include "html.h"
#include "lapi_html_int.h"
#include "preempt.h"
#include "select.h"
#include "task.h"

#define SEL_CACHE_SIZE 256

/* --- targets -------------------------------------------------------------- */

/* Either a document or a node at idx: the tree root to work on, and the
 * document userdata pushed on top of the stack (for push_node). The stack
 * is first cut to `nargs` values so that optional arguments keep their
 * indexes below the pushed document. Stores the document in *doc if given. */
static const silk_node *check_target(lua_State *L, int idx, int nargs, const silk_html_doc **doc)
{
    lua_settop(L, nargs);
    void *p = lua_touserdata(L, idx);
    if (p && lua_getmetatable(L, idx)) {
        int is_doc = lua_rawequal(L, -1, DOC_MT_UV);
        lua_pop(L, 1);
        if (is_doc) {
            ldoc *d = open_doc(L, p);
            lua_pushvalue(L, idx);
            if (doc)
                *doc = d->doc;
            return silk_html_root(d->doc);
        }
    }
    lnode n = check_node(L, idx);
    push_owner(L, idx);
    if (doc)
        *doc = n.owner->doc;
    return n.node;
}

/* --- selectors ------------------------------------------------------------ */

static void cache_stop(void *cache)
{
    silk_sel_cache_free(cache);
}

/* The engine's selector cache, made on first use. */
static silk_sel_cache *get_cache(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    silk_sel_cache *c = silk_engine_service(e, SILK_SERVICE_SELECTORS);
    if (!c) {
        if (!(c = silk_sel_cache_new(SEL_CACHE_SIZE)))
            luaL_error(L, "out of memory");
        silk_engine_set_service(e, SILK_SERVICE_SELECTORS, c, cache_stop);
    }
    return c;
}

/* The compiled selector at idx; a bad one raises at the caller's line. */
static const silk_sel *check_sel(lua_State *L, int idx)
{
    size_t len;
    const char *css = luaL_checklstring(L, idx, &len);
    silk_sel_cache *c = get_cache(L);
    char err[400];
    int rc;
    const silk_sel *sel = silk_sel_cache_get(c, css, len, &rc, err, sizeof err);
    if (!sel) {
        if (rc == SILK_SEL_ENOMEM)
            luaL_error(L, "out of memory compiling a selector");
        luaL_error(L, "%s", err);
    }
    return sel;
}

/* --- bounded matching -------------------------------------------------------
 *
 * Some selectors cost a power of the page's size, and the loop cannot
 * interrupt a C call: matching runs under a budget that gives up when the
 * calling task is cancelled or past a deadline (task_timeout,
 * silk.with_timeout), or when SIGINT/SIGTERM arrived, so that the loop
 * gets to act on it. The call then raises: the task's own interruption
 * (kind "timeout" or "cancelled", naming the selector when no wait saw it
 * first), or { kind = "cancelled" } naming the signal and the selector. */

enum { STOP_TASK = 1, STOP_SIGNAL };

static int must_stop(void *ud)
{
    silk_task *t = ud;
    if (silk_preempt_stop_pending())
        return STOP_SIGNAL;
    return t && silk_task_interrupted(t) ? STOP_TASK : 0;
}

static silk_sel_budget budget_of(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    return (silk_sel_budget){must_stop, e ? silk_task_current(L) : NULL, 0};
}

/* Raises why a bounded call stopped. Call with nothing held. */
static int raise_stop(lua_State *L, int why, const silk_sel_budget *b, const silk_sel *sel)
{
    char where[300];
    snprintf(where, sizeof where, "selector \"%.250s\"", silk_sel_source(sel));
    if (why == STOP_TASK)
        return silk_task_raise_interrupt(b->ud, L, where);
    const char *sig = silk_preempt_stop_pending() == SIGTERM ? "SIGTERM" : "SIGINT";
    silk_err_push(L, "cancelled", "%s was stopped by %s", where, sig);
    lua_pushstring(L, sig);               /* err.signal: a stop, not a failure of the page */
    lua_setfield(L, -2, "signal");
    return lua_error(L);
}

/* The matches of one select, gathered in C while matching runs (which must
 * not raise) and turned into nodes after. A userdata that frees the array
 * when collected, created before the array: whatever raises, nothing leaks.
 * One is kept as the state's spare between calls (push_hits, hits_done)
 * rather than made per call: LuaJIT's atomic GC phase walks every userdata
 * in the heap each cycle, dead or alive, and one with __gc costs it more. */
typedef struct sel_hits {
    const silk_node **v;
    size_t n, cap;
    int nomem;
} sel_hits;

#define HITS_MT "silk.select_hits"

static void hits_release(sel_hits *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

static int hits_gc(lua_State *L)
{
    hits_release(lua_touserdata(L, 1));
    return 0;
}

static const char spare_key = 0;       /* registry: the spare sel_hits */
#define SPARE_CAP 4096                  /* a spare keeps an array up to this many matches */

/* Pushes the spare, taken out of the registry while in use (so that a
 * select run from a __gc metamethod meanwhile gets one of its own, and one
 * that raises is simply collected), or a new one. */
static sel_hits *push_hits(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&spare_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    sel_hits *h = lua_touserdata(L, -1);
    if (h) {
        lua_pushlightuserdata(L, (void *)&spare_key);
        lua_pushnil(L);
        lua_rawset(L, LUA_REGISTRYINDEX);
        h->n = 0;
        h->nomem = 0;
        return h;
    }
    lua_pop(L, 1);
    h = lua_newuserdata(L, sizeof *h);
    *h = (sel_hits){NULL, 0, 0, 0};
    if (luaL_newmetatable(L, HITS_MT)) {
        lua_pushcfunction(L, hits_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, HITS_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_setmetatable(L, -2);
    return h;
}

/* Makes the sel_hits at idx, done with, the spare. */
static void hits_done(lua_State *L, int idx)
{
    sel_hits *h = lua_touserdata(L, idx);
    if (h->cap > SPARE_CAP)
        hits_release(h);
    lua_pushlightuserdata(L, (void *)&spare_key);
    lua_pushvalue(L, idx);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static int collect_one(void *ud, const silk_node *el)
{
    sel_hits *h = ud;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        const silk_node **v = realloc(h->v, cap * sizeof *v);
        if (!v) {
            h->nomem = 1;
            return 1;
        }
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = el;
    return 0;
}

/* The matches of the selector at 2 under the target at 1, in document
 * order: a sel_hits userdata pushed above the document userdata that
 * check_target leaves (the stack first cut to nargs). */
static sel_hits *all_matches(lua_State *L, int nargs)
{
    const silk_html_doc *doc;
    const silk_node *root = check_target(L, 1, nargs, &doc);
    const silk_sel *sel = check_sel(L, 2);
    int owner = lua_gettop(L);
    sel_hits *h = push_hits(L);
    silk_sel_budget b = budget_of(L);
    size_t n;
    int why = silk_sel_select_within(sel, doc, root, 0, collect_one, h, &b, &n);
    if (why || h->nomem) {
        lua_settop(L, owner);             /* the array goes with its userdata */
        if (why)
            raise_stop(L, why, &b, sel);
        luaL_error(L, "out of memory collecting the matches of a selector");
    }
    return h;
}

/*** doc:select(css) -> {node...}
 * Also node:select(css): the elements matching a CSS selector (Selectors
 * Level 3, :is, :where, :not lists, :has, nth-*(An+B of S), attribute
 * flags) under the document or node, in document order.
 * @raise a plain error for a selector that does not parse (naming it; also
 *   `h1::text` and `::attr()`); the task's `timeout`/`cancelled` error when a
 *   slow selector runs past the task's deadline.
 * @usage
 *   for _, a in ipairs(doc:select("article h3 a")) do print(a:attr("href")) end
 */
static int target_select(lua_State *L)
{
    sel_hits *h = all_matches(L, 2);
    int owner = lua_gettop(L) - 1;
    lua_createtable(L, (int)h->n, 0);
    for (size_t i = 0; i < h->n; i++) {
        push_node(L, owner, h->v[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    hits_done(L, owner + 1);
    return 1;
}

static int first_one(void *ud, const silk_node *el)
{
    *(const silk_node **)ud = el;
    return 1;
}

/* The first match of the selector at 2 under the target at 1, or NULL;
 * check_target leaves the document userdata on top (the stack first cut
 * to nargs). */
static const silk_node *first_match(lua_State *L, int nargs)
{
    const silk_html_doc *doc;
    const silk_node *root = check_target(L, 1, nargs, &doc);
    const silk_sel *sel = check_sel(L, 2);
    const silk_node *found = NULL;
    silk_sel_budget b = budget_of(L);
    size_t n;
    int why = silk_sel_select_within(sel, doc, root, 1, first_one, &found, &b, &n);
    if (why)
        raise_stop(L, why, &b, sel);
    return found;
}

/*** doc:one(css) -> node | nil
 * Also node:one(css): the first element matching the selector, or nil.
 * @raise as doc:select.
 * @usage
 *   local price = doc:one("p.price_color")
 *   print(price and price:text())
 */
static int target_one(lua_State *L)
{
    const silk_node *found = first_match(L, 2);
    if (!found) {
        lua_pushnil(L);
        return 1;
    }
    push_node(L, lua_gettop(L), found);
    return 1;
}

/* --- text output ---------------------------------------------------------- */

/* The form text() asks for: {raw=true} textContent, {lines=true} innerText,
 * neither the single-line form. */
static int opt_text_form(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return SILK_TEXT_LINE;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "raw");
    int raw = lua_toboolean(L, -1);
    lua_getfield(L, idx, "lines");
    int lines = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (raw && lines)
        luaL_argerror(L, idx, "raw and lines exclude each other");
    return raw ? SILK_TEXT_RAW : lines ? SILK_TEXT_LINES : SILK_TEXT_LINE;
}

/* Pushes the text of node in the given form. */
static void push_text(lua_State *L, const silk_node *node, int form)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    silk_html_text(node, form, buf_sink, &b);
    luaL_pushresult(&b);
}

/*** node:text([{lines=true} | {raw=true}]) -> text
 * Also doc:text(): what a reader sees, on one line (innerText with white
 * space collapsed); {lines=true}: innerText itself, line breaks at block
 * boundaries; {raw=true}: textContent, every text node as written.
 * @raise "attempt to use a freed document" after the document was freed.
 * @usage
 *   print(doc:one("h1"):text())          --> A Light in the Attic
 */
static int target_text(lua_State *L)
{
    const silk_node *root = check_target(L, 1, 2, NULL);
    push_text(L, root, opt_text_form(L, 2));
    return 1;
}

/* --- extraction helpers ----------------------------------------------------
 *
 * parsel's .get()/.getall()/.re_first() in Lua terms, sparing the
 * `x:one(css) and x:one(css):text()` dance:
 *
 *   x:text_of(css [, default | opts])       -> text of the first match | default
 *   x:texts(css [, opts])                   -> { text of each match }
 *   x:attr_of(css, name [, default | opts]) -> attribute of the first match | default
 *
 * opts = { default = v, match = "lua pattern", raw = true | lines = true }
 * (raw/lines: the text form, as text(); not for attr_of). With `match`,
 * text_of and attr_of return string.match's results on the value (its
 * captures, or the whole match) and the default when it does not match;
 * texts keeps, for each text that matches, the first result, and leaves out
 * the others. A bad pattern raises, as string.match does. */

typedef struct extract_opts {
    int form;                        /* SILK_TEXT_*: the text form */
    int def;                         /* stack index of the default (nil if none) */
    int pat;                         /* stack index of the pattern, 0 if none */
} extract_opts;

/* Reads the options at idx (nothing, a default value that is not a table,
 * or an options table) and pushes the default and, with `match`, the
 * pattern. `text`: the raw/lines forms are allowed. Unknown keys raise,
 * naming the valid ones. */
static void check_extract_opts(lua_State *L, int idx, int text, extract_opts *o)
{
    const char *valid = text ? "default, match, raw, lines" : "default, match";
    o->form = SILK_TEXT_LINE;
    o->pat = 0;
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushvalue(L, idx);           /* the default itself (nil when none) */
        o->def = lua_gettop(L);
        return;
    }
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!k || !(strcmp(k, "default") == 0 || strcmp(k, "match") == 0 ||
                    (text && (strcmp(k, "raw") == 0 || strcmp(k, "lines") == 0)))) {
            luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s' (valid: %s)",
                                                  k ? k : luaL_typename(L, -2), valid));
        }
    }
    if (text)
        o->form = opt_text_form(L, idx);
    lua_getfield(L, idx, "default");
    o->def = lua_gettop(L);
    lua_getfield(L, idx, "match");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
    } else {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, idx, "option 'match' must be a string (a Lua pattern)");
        o->pat = lua_gettop(L);
    }
}

/* The value on top is a string: without a pattern, leaves it and returns
 * 1; else replaces it with string.match's results (all of them, or only
 * the first when `first`) and returns their count, 0 when it did not
 * match. */
static int apply_match(lua_State *L, const extract_opts *o, int first)
{
    if (!o->pat)
        return 1;
    int subject = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, "string");
    lua_getfield(L, -1, "match");
    lua_replace(L, subject + 1);
    lua_settop(L, subject + 1);
    lua_pushvalue(L, subject);
    lua_pushvalue(L, o->pat);
    lua_call(L, 2, first ? 1 : LUA_MULTRET);
    lua_remove(L, subject);
    int n = lua_gettop(L) - subject + 1;
    if (n == 0 || lua_isnil(L, subject)) {
        lua_settop(L, subject - 1);
        return 0;
    }
    return n;
}

/*** doc:text_of(css [, default | {default=, match=, lines=, raw=}]) -> text | default
 * Also node:text_of and res:text_of: the text of the first element matching
 * css, else `default` (nil when not given). With `match` (a Lua pattern),
 * string.match's results on that text (its captures, or the whole match),
 * else the default; `lines`/`raw` are the text forms of node:text().
 * @raise a plain error for a bad selector or an unknown option (naming it).
 * @usage
 *   local price = res:text_of("p.price_color", { match = "[%d.]+" })
 *   local day, month = res:text_of(".date", { match = "(%d+)/(%d+)" })
 */
static int target_text_of(lua_State *L)
{
    const silk_node *found = first_match(L, 3);
    extract_opts o;
    check_extract_opts(L, 3, 1, &o);
    if (found) {
        push_text(L, found, o.form);
        int n = apply_match(L, &o, 0);
        if (n)
            return n;
    }
    lua_pushvalue(L, o.def);
    return 1;
}

/*** doc:texts(css [, {match=, lines=, raw=}]) -> {text...}
 * Also node:texts and res:texts: the texts of every element matching css, in
 * document order; with `match`, the first result of each text that matches.
 * @raise as doc:text_of.
 * @usage
 *   local tags = res:texts("ul.tags li")
 */
static int target_texts(lua_State *L)
{
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    sel_hits *h = all_matches(L, 3);
    int hits = lua_gettop(L);
    extract_opts o;
    check_extract_opts(L, 3, 1, &o);
    lua_createtable(L, (int)h->n, 0);
    int out = lua_gettop(L), k = 0;
    for (size_t i = 0; i < h->n; i++) {
        push_text(L, h->v[i], o.form);
        if (apply_match(L, &o, 1))
            lua_rawseti(L, out, ++k);
    }
    hits_done(L, hits);
    return 1;
}

/*** doc:attr_of(css, name [, default | {default=, match=}]) -> value | default
 * Also node:attr_of and res:attr_of: the attribute `name` of the first
 * element matching css, else `default`; `match` as in doc:text_of.
 * @raise as doc:text_of.
 * @usage
 *   local page = res:attr_of("li.next a", "href", { match = "page=(%d+)" })
 */
static int target_attr_of(lua_State *L)
{
    const silk_node *found = first_match(L, 4);
    const char *name = luaL_checkstring(L, 3);
    extract_opts o;
    check_extract_opts(L, 4, 0, &o);
    const char *v = found ? silk_node_attr(found, name) : NULL;
    if (v) {
        lua_pushstring(L, v);
        int n = apply_match(L, &o, 0);
        if (n)
            return n;
    }
    lua_pushvalue(L, o.def);
    return 1;
}

static int serialize(lua_State *L, int outer)
{
    const silk_node *root = check_target(L, 1, 1, NULL);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    silk_html_serialize(root, outer, buf_sink, &b);
    luaL_pushresult(&b);
    return 1;
}

/*** node:html() -> text
 * Also doc:html(): the element (or document) serialised as HTML.
 * @usage
 *   print(doc:one("table"):html())
 */
static int target_html(lua_State *L)
{
    return serialize(L, 1);
}

/*** node:inner_html() -> text
 * The element's children serialised as HTML.
 * @usage
 *   print(doc:one("div.description"):inner_html())
 */
static int node_inner_html(lua_State *L)
{
    check_node(L, 1);
    return serialize(L, 0);
}

/*** node:matches(css) -> boolean
 * Whether the element matches the selector (as Element.matches).
 * @raise as doc:select.
 * @usage
 *   if a:matches(".next a") then crawl:follow(a:attr("href")) end
 */
static int node_matches(lua_State *L)
{
    lnode n = check_node(L, 1);
    const silk_sel *sel = check_sel(L, 2);
    silk_sel_budget b = budget_of(L);
    int matched;
    int why = silk_sel_matches_within(sel, n.node, NULL, &b, &matched);
    if (why)
        return raise_stop(L, why, &b, sel);
    lua_pushboolean(L, matched);
    return 1;
}

/* html.cache_stats() */
int silk_lhtml_cache_stats(lua_State *L)
{
    long hits, misses;
    int size;
    silk_sel_cache_stats(get_cache(L), &hits, &misses, &size);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, (lua_Number)hits);
    lua_setfield(L, -2, "hits");
    lua_pushnumber(L, (lua_Number)misses);
    lua_setfield(L, -2, "misses");
    lua_pushinteger(L, size);
    lua_setfield(L, -2, "size");
    return 1;
}

const luaL_Reg silk_lhtml_target_methods[] = {
    {"select", target_select},
    {"one", target_one},
    {"text", target_text},
    {"text_of", target_text_of},
    {"texts", target_texts},
    {"attr_of", target_attr_of},
    {"html", target_html},
    {NULL, NULL},
};

const luaL_Reg silk_lhtml_node_methods[] = {
    {"inner_html", node_inner_html},
    {"matches", node_matches},
    {NULL, NULL},
};
