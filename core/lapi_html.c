/*
 * lapi_html.c -- the Lua binding of html.c and select.c: "silk.core.html".
 *
 *   html.parse(text [, base_url [, limits]])       -> doc | nil, err
 *   html.parse_async(text [, base_url [, limits]]) -> doc | nil, err   (yieldable task)
 *       limits: { max_bytes = n, max_depth = n }; err.kind "too_large"/"nomem"
 *   html.cache_stats() -> { hits, misses, size }
 *   html.workers(n)    -> starts the worker pool with n threads (before the
 *                         first parse_async, which otherwise starts 2)
 *
 *   doc:select(css) doc:one(css) doc:root() doc:title() doc:text([opts])
 *   doc/node:text_of(css [, default | opts]) doc/node:texts(css [, opts])
 *   doc/node:attr_of(css, name [, default | opts])   (see "extraction helpers")
 *   doc:html() doc:links([opts]) doc:meta_robots() doc:canonical()
 *   doc:url() doc:base_url() doc:memory() doc:free() doc:close()
 *   node.tag node:attr(name) node:attrs() node:text([{raw=true} | {lines=true}])
 *   node:html()
 *   node:inner_html() node:parent() node:children() node:next() node:prev()
 *   node:select(css) node:one(css) node:matches(css) node:document()
 *
 * Lifetimes: a document userdata owns its silk_html_doc; free() and __gc
 * share one idempotent function. A node userdata holds a borrowed pointer
 * into the tree and keeps its document userdata alive through its
 * environment table (shared with the document: { [1] = document }); every method checks the document is still open, so a
 * node of a freed document raises "attempt to use a freed document" and
 * never touches freed memory.
 *
 * Per engine, made on first use and stopped by the engine after the run's
 * last task, in its services' order: the worker pool
 * (SILK_SERVICE_PARSE_POOL) and the selector cache (SILK_SERVICE_SELECTORS).
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
#include "lapi.h"
#include "preempt.h"
#include "select.h"
#include "task.h"

#define DOC_MT "silk.html.document"
#define NODE_MT "silk.html.node"
#define SEL_CACHE_SIZE 256
#define POOL_THREADS 2                /* parse_async's pool unless html.workers said */

typedef struct ldoc {
    silk_html_doc *doc;              /* NULL once freed */
} ldoc;

typedef struct lnode {
    const silk_node *node;
    ldoc *owner;                     /* alive as long as this node (fenv) */
} lnode;

/* --- documents and nodes -------------------------------------------------- */

/* Pushes a closed document userdata: acquire what it wraps afterwards.
 * Its environment is a table { [1] = the document userdata } that its
 * nodes share as their environment: that is what keeps the document alive
 * while a node is (userdata environments must be tables). */
static ldoc *new_doc(lua_State *L)
{
    ldoc *d = lua_newuserdata(L, sizeof *d);
    d->doc = NULL;
    luaL_getmetatable(L, DOC_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    return d;
}

/* Every method and metamethod of documents and nodes runs with the two
 * metatables as its upvalues: telling a document from a node is then a
 * pointer compare, where luaL_checkudata would intern the type's name and
 * look it up in the registry on each of the hundreds of calls a page makes. */
#define DOC_MT_UV lua_upvalueindex(1)
#define NODE_MT_UV lua_upvalueindex(2)

/* The userdata at idx if its metatable is the one at mt, else NULL. */
static void *to_typed(lua_State *L, int idx, int mt)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx))
        return NULL;
    int same = lua_rawequal(L, -1, mt);
    lua_pop(L, 1);
    return same ? p : NULL;
}

/* d itself, if its document is still open; raises otherwise. */
static ldoc *open_doc(lua_State *L, ldoc *d)
{
    if (!d->doc)
        luaL_error(L, "attempt to use a freed document");
    return d;
}

static ldoc *check_doc(lua_State *L, int idx)
{
    ldoc *d = to_typed(L, idx, DOC_MT_UV);
    if (!d)
        luaL_typerror(L, idx, DOC_MT);
    return open_doc(L, d);
}

static lnode *check_node(lua_State *L, int idx)
{
    lnode *n = to_typed(L, idx, NODE_MT_UV);
    if (!n)
        luaL_typerror(L, idx, NODE_MT);
    open_doc(L, n->owner);
    return n;
}

/* Pushes a node of the document whose userdata is at owner_idx. */
static void push_node(lua_State *L, int owner_idx, const silk_node *node)
{
    ldoc *owner = lua_touserdata(L, owner_idx);
    lnode *n = lua_newuserdata(L, sizeof *n);
    n->node = node;
    n->owner = owner;
    lua_pushvalue(L, NODE_MT_UV);
    lua_setmetatable(L, -2);
    lua_getfenv(L, owner_idx);
    lua_setfenv(L, -2);
}

/* Pushes the document userdata of the node at idx. */
static void push_owner(lua_State *L, int idx)
{
    lua_getfenv(L, idx);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
}

/* Either a document or a node at idx: the tree root to work on, and the
 * document userdata pushed on top of the stack (for push_node). The stack
 * is first cut to `nargs` values so that optional arguments keep their
 * indexes below the pushed document. Stores the document in *doc if given. */
static const silk_node *check_target(lua_State *L, int idx, int nargs, const silk_html_doc **doc)
{
    lua_settop(L, nargs);
    /* one metatable fetch for both compares: most targets are nodes */
    void *p = lua_touserdata(L, idx);
    int mt = p && lua_getmetatable(L, idx);
    int is_doc = mt && lua_rawequal(L, -1, DOC_MT_UV), is_node = mt && !is_doc && lua_rawequal(L, -1, NODE_MT_UV);
    if (mt)
        lua_pop(L, 1);
    if (is_doc) {
        ldoc *d = open_doc(L, p);
        lua_pushvalue(L, idx);
        if (doc)
            *doc = d->doc;
        return silk_html_root(d->doc);
    }
    if (!is_node)
        luaL_typerror(L, idx, NODE_MT);
    lnode *n = p;
    open_doc(L, n->owner);
    push_owner(L, idx);
    if (doc)
        *doc = n->owner->doc;
    return n->node;
}

static void push_parse_error(lua_State *L, int rc, const char *msg)
{
    lua_pushnil(L);
    silk_err_push(L, rc == SILK_HTML_ENOMEM ? "nomem" : "too_large", "%s", msg);
}

static void check_limits(lua_State *L, int idx, silk_html_limits *lim)
{
    silk_html_limits_default(lim);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "max_bytes");
    if (!lua_isnil(L, -1))
        lim->max_bytes = (size_t)luaL_checknumber(L, -1);
    lua_getfield(L, idx, "max_depth");
    if (!lua_isnil(L, -1))
        lim->max_depth = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 2);
    if (lim->max_depth < 1)
        luaL_argerror(L, idx, "max_depth must be at least 1");
}

/* html.parse(text [, base_url [, limits]]) */
static int html_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *base = luaL_optstring(L, 2, NULL);
    silk_html_limits lim;
    check_limits(L, 3, &lim);
    ldoc *d = new_doc(L);
    char err[200];
    int rc = silk_html_parse(text, len, base, &lim, &d->doc, err, sizeof err);
    if (rc != SILK_HTML_OK) {
        push_parse_error(L, rc, err);
        return 2;
    }
    return 1;
}

/* --- parsing on the worker pool ------------------------------------------- */

static void pool_stop(void *pool)
{
    silk_html_pool_free(pool);
}

/* The engine's worker pool, made on first use with `threads` workers; NULL
 * when it cannot start (the caller parses inline). */
static silk_html_pool *get_pool(lua_State *L, int threads)
{
    silk_engine *e = silk_engine_from(L);
    silk_html_pool *pool = silk_engine_service(e, SILK_SERVICE_PARSE_POOL);
    if (!pool && (pool = silk_html_pool_new(silk_engine_loop(e), threads)))
        silk_engine_set_service(e, SILK_SERVICE_PARSE_POOL, pool, pool_stop);
    return pool;
}

/* Loop thread: the worker finished; hand the result to the task. */
static void parse_done(silk_html_job *job, void *ud)
{
    silk_task *t = ud;
    lua_State *T = silk_task_thread(t);
    ldoc *d = new_doc(T);
    char err[200];
    int rc = silk_html_job_result(job, &d->doc, err, sizeof err);
    silk_html_job_free(job);
    if (rc != SILK_HTML_OK) {
        lua_pop(T, 1);
        push_parse_error(T, rc, err);
        silk_task_wake(t, 2);
        return;
    }
    silk_task_wake(t, 1);
}

static void parse_cancel(silk_task *t, void *data)
{
    silk_html_cancel(data);
}

/* html.parse_async(text [, base_url [, limits]]): small pages parse
 * inline (cheaper than the hand-off), others on a worker while the task
 * waits. */
static int html_parse_async(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *base = luaL_optstring(L, 2, NULL);
    silk_html_limits lim;
    check_limits(L, 3, &lim);
    silk_task *t = silk_task_current(L);
    if (len < SILK_HTML_INLINE_MAX || len > lim.max_bytes || !t)
        return html_parse(L);
    silk_html_pool *pool = get_pool(L, POOL_THREADS);
    if (!pool)
        return html_parse(L);
    silk_html_job *job = silk_html_submit(pool, text, len, base, &lim, parse_done, t);
    if (!job) {
        lua_pushnil(L);
        silk_err_push(L, "nomem", "out of memory queueing a parse of %zu bytes", len);
        return 2;
    }
    return silk_task_wait(L, SILK_WAIT_PARSE, "html parse", parse_cancel, job);
}

/* html.workers(n): starts parse_async's pool with n worker threads (1..8);
 * raises once a pool runs (its count is fixed). */
static int html_workers(lua_State *L)
{
    int n = (int)luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 8, 1, "between 1 and 8");
    if (silk_engine_service(silk_engine_from(L), SILK_SERVICE_PARSE_POOL))
        return luaL_error(L, "html.workers: the parse pool runs already (call it before the first parse)");
    if (!get_pool(L, n))
        return luaL_error(L, "html.workers: cannot start %d parse threads", n);
    return 0;
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
 * when collected, created before the array: whatever raises, nothing leaks. */
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

static sel_hits *push_hits(lua_State *L)
{
    sel_hits *h = lua_newuserdata(L, sizeof *h);
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
    hits_release(h);                      /* now rather than at the next collection */
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

static void buf_sink(void *ud, const char *s, size_t n)
{
    luaL_addlstring((luaL_Buffer *)ud, s, n);
}

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
    extract_opts o;
    check_extract_opts(L, 3, 1, &o);
    lua_createtable(L, (int)h->n, 0);
    int out = lua_gettop(L), k = 0;
    for (size_t i = 0; i < h->n; i++) {
        push_text(L, h->v[i], o.form);
        if (apply_match(L, &o, 1))
            lua_rawseti(L, out, ++k);
    }
    hits_release(h);
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

/* --- document methods ----------------------------------------------------- */

static void release(ldoc *d)
{
    silk_html_free(d->doc);
    d->doc = NULL;
}

/*** doc:free()
 * Frees the tree now (doc:close() too; __gc otherwise). A crawl frees each
 * page's document when its callback returns.
 * @raise nothing; using the document or its nodes afterwards raises
 *   "attempt to use a freed document".
 * @usage
 *   local doc = silk.html(text)
 *   local title = doc:title()
 *   doc:free()
 */
static int doc_free(lua_State *L)
{
    ldoc *d = to_typed(L, 1, DOC_MT_UV);
    if (!d)
        luaL_typerror(L, 1, DOC_MT);
    release(d);
    return 0;
}

/* __gc: only ever called on a document (and twice is harmless). */
static int doc_gc(lua_State *L)
{
    release(lua_touserdata(L, 1));
    return 0;
}

/*** doc:root() -> node | nil
 * The document element (<html>).
 * @usage
 *   print(doc:root():attr("lang"))
 */
static int doc_root(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    const silk_node *root = silk_html_document_element(d->doc);
    if (!root) {
        lua_pushnil(L);
        return 1;
    }
    push_node(L, 1, root);
    return 1;
}

/*** doc:title() -> text | nil
 * The <title>'s text, or nil without one.
 * @usage
 *   print(doc:title())
 */
static int doc_title(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int found = silk_html_title(d->doc, buf_sink, &b);
    luaL_pushresult(&b);
    if (!found)
        lua_pushnil(L);
    return 1;
}

/*** doc:memory() -> bytes
 * What the document holds: its input copy, tree and tag index.
 * @usage
 *   print(doc:memory())
 */
static int doc_memory(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    lua_pushnumber(L, (lua_Number)silk_html_arena_size(d->doc));
    return 1;
}

static void push_or_nil(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushnil(L);
}

/*** doc:base_url() -> url | nil
 * The document base URL: the first <base href> resolved against the URL the
 * document was parsed with, else that URL (nil when it had none).
 * @usage
 *   local doc = silk.html('<base href="/b/">', "http://shop.test/a/")
 *   print(doc:base_url())   --> http://shop.test/b/
 */
static int doc_base_url(lua_State *L)
{
    push_or_nil(L, silk_html_base(check_doc(L, 1)->doc));
    return 1;
}

/*** doc:url() -> url | nil
 * The URL the document was parsed with (silk.html's base_url, res.url for
 * res:html()), or nil.
 * @usage
 *   print(res:html():url() == res.url)   --> true
 */
static int doc_url(lua_State *L)
{
    push_or_nil(L, silk_html_url(check_doc(L, 1)->doc));
    return 1;
}

typedef struct link_ctx {
    lua_State *L;
    int table;
    int n;
    int text;
} link_ctx;

static void link_one(void *ud, const silk_html_link *l)
{
    link_ctx *c = ud;
    lua_State *L = c->L;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, l->url);
    lua_setfield(L, -2, "url");
    lua_pushboolean(L, l->nofollow);
    lua_setfield(L, -2, "nofollow");
    if (c->text) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        silk_html_text(l->node, SILK_TEXT_LINE, buf_sink, &b);
        luaL_pushresult(&b);
        lua_setfield(L, -2, "text");
    }
    lua_rawseti(L, c->table, ++c->n);
}

static int opt_flag(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/*** doc:links([{a=, link=, img=, iframe=, text=}]) -> {{url=, nofollow=, text=}...}
 * The page's links resolved against its base URL: <a href> (unless
 * a=false), and with the options <link href>, <img src>, <iframe src>;
 * text=true adds each link's text.
 * @usage
 *   for _, l in ipairs(doc:links{ text = true }) do print(l.url, l.text) end
 */
static int doc_links(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    unsigned kinds = SILK_LINKS_A;
    int text = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "a");
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
            kinds = 0;
        lua_pop(L, 1);
        if (opt_flag(L, 2, "link"))
            kinds |= SILK_LINKS_LINK;
        if (opt_flag(L, 2, "img"))
            kinds |= SILK_LINKS_IMG;
        if (opt_flag(L, 2, "iframe"))
            kinds |= SILK_LINKS_IFRAME;
        text = opt_flag(L, 2, "text");
    }
    lua_newtable(L);
    link_ctx c = {L, lua_gettop(L), 0, text};
    if (kinds)
        silk_html_links(d->doc, kinds, link_one, &c);
    return 1;
}

/*** doc:meta_robots() -> {noindex=, nofollow=}
 * The directives of <meta name="robots">.
 * @usage
 *   if doc:meta_robots().nofollow then return end
 */
static int doc_meta_robots(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    unsigned f = silk_html_meta_robots(d->doc);
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, (f & SILK_ROBOTS_NOINDEX) != 0);
    lua_setfield(L, -2, "noindex");
    lua_pushboolean(L, (f & SILK_ROBOTS_NOFOLLOW) != 0);
    lua_setfield(L, -2, "nofollow");
    return 1;
}

/*** doc:canonical() -> url | nil
 * <link rel="canonical">, resolved against the base URL.
 * @usage
 *   print(doc:canonical())
 */
static int doc_canonical(lua_State *L)
{
    ldoc *d = check_doc(L, 1);
    char buf[SILK_HTML_URL_MAX];
    if (silk_html_canonical(d->doc, buf, sizeof buf))
        lua_pushstring(L, buf);
    else
        lua_pushnil(L);
    return 1;
}

static int doc_tostring(lua_State *L)
{
    ldoc *d = lua_touserdata(L, 1);       /* __tostring: a document */
    if (d->doc)
        lua_pushfstring(L, "html document (%d bytes): %p", (int)silk_html_input_size(d->doc), d);
    else
        lua_pushfstring(L, "html document (freed): %p", d);
    return 1;
}

/* --- node methods --------------------------------------------------------- */

/* node.tag (through node_index_lua) */
static int node_tag(lua_State *L)
{
    lnode *n = check_node(L, 1);
    char buf[128];
    lua_pushstring(L, silk_node_tag(n->node, buf, sizeof buf));
    return 1;
}

/* __index of nodes: methods, and the `tag` field. In Lua, so that the JIT
 * compiles a method lookup into the caller's trace; a C __index would cost
 * a second C call per method call. Only the field needs an open document:
 * looking a method up on a node of a freed document works, and the method
 * raises. */
static const char node_index_lua[] =
    "local methods, tag = ...\n"
    "return function(node, key)\n"
    "  local m = methods[key]\n"
    "  if m ~= nil then return m end\n"
    "  if key == 'tag' then return tag(node) end\n"
    "  return nil\n"
    "end\n";

/*** node:document() -> doc
 * The document the node belongs to (and keeps alive).
 * @usage
 *   local doc = node:document()
 */
static int node_document(lua_State *L)
{
    check_node(L, 1);
    push_owner(L, 1);
    return 1;
}

/*** node:attr(name) -> value | nil
 * The attribute's value (case-insensitive name), or nil.
 * @usage
 *   crawl:follow(a:attr("href"))
 */
static int node_attr(lua_State *L)
{
    lnode *n = check_node(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *v = silk_node_attr(n->node, name);
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/*** node:attrs() -> {name = value}
 * Every attribute of the element.
 * @usage
 *   for k, v in pairs(img:attrs()) do print(k, v) end
 */
static int node_attrs(lua_State *L)
{
    lnode *n = check_node(L, 1);
    int count = silk_node_nattrs(n->node);
    lua_createtable(L, 0, count);
    for (int i = 0; i < count; i++) {
        const char *name, *value;
        silk_node_attr_at(n->node, i, &name, &value);
        lua_pushstring(L, value);
        lua_setfield(L, -2, name);
    }
    return 1;
}

static int push_rel(lua_State *L, const silk_node *rel)
{
    if (!rel) {
        lua_pushnil(L);
        return 1;
    }
    push_owner(L, 1);
    push_node(L, lua_gettop(L), rel);
    return 1;
}

/*** node:parent() -> node | nil
 * The parent element (nil for the root).
 * @usage
 *   local card = a:parent():parent()
 */
static int node_parent(lua_State *L)
{
    return push_rel(L, silk_node_parent(check_node(L, 1)->node));
}

/*** node:next() -> node | nil
 * The next sibling element.
 * @usage
 *   local value = th:next():text()     -- <tr><th>UPC</th><td>...</td></tr>
 */
static int node_next(lua_State *L)
{
    return push_rel(L, silk_node_next(check_node(L, 1)->node));
}

/*** node:prev() -> node | nil
 * The previous sibling element.
 * @usage
 *   local label = td:prev():text()
 */
static int node_prev(lua_State *L)
{
    return push_rel(L, silk_node_prev(check_node(L, 1)->node));
}

/*** node:children() -> {node...}
 * The child elements, in order.
 * @usage
 *   for _, li in ipairs(doc:one("ul"):children()) do print(li:text()) end
 */
static int node_children(lua_State *L)
{
    lnode *n = check_node(L, 1);
    push_owner(L, 1);
    int owner = lua_gettop(L);
    lua_newtable(L);
    int i = 0;
    for (const silk_node *c = silk_node_first_child(n->node); c; c = silk_node_next(c)) {
        push_node(L, owner, c);
        lua_rawseti(L, owner + 1, ++i);
    }
    return 1;
}

/*** node:matches(css) -> boolean
 * Whether the element matches the selector (as Element.matches).
 * @raise as doc:select.
 * @usage
 *   if a:matches(".next a") then crawl:follow(a:attr("href")) end
 */
static int node_matches(lua_State *L)
{
    lnode *n = check_node(L, 1);
    const silk_sel *sel = check_sel(L, 2);
    silk_sel_budget b = budget_of(L);
    int matched;
    int why = silk_sel_matches_within(sel, n->node, NULL, &b, &matched);
    if (why)
        return raise_stop(L, why, &b, sel);
    lua_pushboolean(L, matched);
    return 1;
}

static int node_eq(lua_State *L)
{
    lnode *a = to_typed(L, 1, NODE_MT_UV), *b = to_typed(L, 2, NODE_MT_UV);
    lua_pushboolean(L, a && b && a->node == b->node);
    return 1;
}

static int node_tostring(lua_State *L)
{
    lnode *n = lua_touserdata(L, 1);      /* __tostring: a node */
    if (!n->owner->doc) {
        lua_pushfstring(L, "html node (freed document): %p", (void *)n->node);
        return 1;
    }
    char buf[128];
    lua_pushfstring(L, "html node <%s>: %p", silk_node_tag(n->node, buf, sizeof buf),
                    (void *)n->node);
    return 1;
}

/* --- module --------------------------------------------------------------- */

static int html_cache_stats(lua_State *L)
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

static const luaL_Reg doc_methods[] = {
    {"select", target_select},
    {"one", target_one},
    {"text", target_text},
    {"text_of", target_text_of},
    {"texts", target_texts},
    {"attr_of", target_attr_of},
    {"html", target_html},
    {"root", doc_root},
    {"title", doc_title},
    {"base_url", doc_base_url},
    {"url", doc_url},
    {"memory", doc_memory},
    {"links", doc_links},
    {"meta_robots", doc_meta_robots},
    {"canonical", doc_canonical},
    {"free", doc_free},
    {"close", doc_free},
    {NULL, NULL},
};

static const luaL_Reg node_methods[] = {
    {"select", target_select},
    {"one", target_one},
    {"text", target_text},
    {"text_of", target_text_of},
    {"texts", target_texts},
    {"attr_of", target_attr_of},
    {"html", target_html},
    {"inner_html", node_inner_html},
    {"attr", node_attr},
    {"attrs", node_attrs},
    {"parent", node_parent},
    {"children", node_children},
    {"next", node_next},
    {"prev", node_prev},
    {"matches", node_matches},
    {"document", node_document},
    {NULL, NULL},
};

/* Pushes a table of the functions in l, each with the two metatables (at
 * doc_mt and node_mt) as upvalues. */
static void push_methods(lua_State *L, const luaL_Reg *l, int doc_mt, int node_mt)
{
    lua_newtable(L);
    lua_pushvalue(L, doc_mt);
    lua_pushvalue(L, node_mt);
    luaL_setfuncs(L, l, 2);
}

int silk_lapi_html(lua_State *L)
{
    if (luaL_newmetatable(L, DOC_MT)) {
        luaL_newmetatable(L, NODE_MT);
        int doc_mt = lua_gettop(L) - 1, node_mt = lua_gettop(L);

        lua_pushstring(L, DOC_MT);
        lua_setfield(L, doc_mt, "__name");
        push_methods(L, doc_methods, doc_mt, node_mt);
        lua_setfield(L, doc_mt, "__index");
        lua_pushcfunction(L, doc_gc);
        lua_setfield(L, doc_mt, "__gc");
        lua_pushcfunction(L, doc_tostring);
        lua_setfield(L, doc_mt, "__tostring");

        lua_pushstring(L, NODE_MT);
        lua_setfield(L, node_mt, "__name");
        if (luaL_loadbuffer(L, node_index_lua, sizeof node_index_lua - 1, "=silk.core.html"))
            return lua_error(L);
        push_methods(L, node_methods, doc_mt, node_mt);
        lua_pushvalue(L, doc_mt);
        lua_pushvalue(L, node_mt);
        lua_pushcclosure(L, node_tag, 2);
        lua_call(L, 2, 1);
        lua_setfield(L, node_mt, "__index");
        lua_pushvalue(L, doc_mt);
        lua_pushvalue(L, node_mt);
        lua_pushcclosure(L, node_eq, 2);
        lua_setfield(L, node_mt, "__eq");
        lua_pushcfunction(L, node_tostring);
        lua_setfield(L, node_mt, "__tostring");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, html_parse);
    lua_setfield(L, -2, "parse");
    silk_task_pushwaiting(L, html_parse_async);
    lua_setfield(L, -2, "parse_async");
    lua_pushcfunction(L, html_workers);
    lua_setfield(L, -2, "workers");
    lua_pushcfunction(L, html_cache_stats);
    lua_setfield(L, -2, "cache_stats");
    return 1;
}
