/*
 * lapi_html.c -- the Lua binding of html.c and select.c: "silk.core.html".
 * This file: documents, nodes, parsing (inline and on the worker pool) and
 * the module; selection and extraction (select, one, text, text_of, texts,
 * attr_of, html, inner_html, matches, cache_stats) are lapi_html_query.c's.
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
 *   doc/node:attr_of(css, name [, default | opts])   (lapi_html_query.c: "extraction helpers")
 *   doc:html() doc:links([opts]) doc:meta_robots() doc:canonical()
 *   doc:url() doc:base_url() doc:memory() doc:free() doc:close()
 *   node.tag node:attr(name) node:attrs() node:text([{raw=true} | {lines=true}])
 *   node:html()
 *   node:inner_html() node:parent() node:children() node:next() node:prev()
 *   node:select(css) node:one(css) node:matches(css) node:document()
 *
 * Lifetimes: a document userdata owns its silk_html_doc; free() and __gc
 * share one idempotent function. A node (a table, lapi_html_int.h) holds a
 * borrowed pointer into the tree and its document userdata, which it keeps
 * alive; every method checks the document is still open, so a
 * node of a freed document raises "attempt to use a freed document" and
 * never touches freed memory.
 *
 * Per engine, made on first use and stopped by the engine after the run's
 * last task, in its services' order: the worker pool
 * (SILK_SERVICE_PARSE_POOL, here) and the selector cache
 * (SILK_SERVICE_SELECTORS, lapi_html_query.c).
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "engine.h"
#include "errors.h"
#include "html.h"
#include "lapi.h"
#include "lapi_html_int.h"
#include "task.h"

#define POOL_THREADS 2                /* parse_async's pool unless html.workers said */

/* --- documents and nodes -------------------------------------------------- */

/* Pushes a closed document userdata: acquire what it wraps afterwards. */
static ldoc *new_doc(lua_State *L)
{
    ldoc *d = lua_newuserdata(L, sizeof *d);
    d->doc = NULL;
    luaL_getmetatable(L, DOC_MT);
    lua_setmetatable(L, -2);
    return d;
}

static ldoc *check_doc(lua_State *L, int idx)
{
    ldoc *d = to_typed(L, idx, DOC_MT_UV);
    if (!d)
        luaL_typerror(L, idx, DOC_MT);
    return open_doc(L, d);
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

/* The text a parse job reads in place, kept from the collector by a
 * registry ref in the state's main thread until the pool frees the job
 * (which may be after the waiting task is gone: a cancelled running job). */
typedef struct kept_text {
    lua_State *L;
    int ref;
} kept_text;

static void release_text(void *ud)
{
    kept_text *k = ud;
    luaL_unref(k->L, LUA_REGISTRYINDEX, k->ref);
    free(k);
}

/* Queues the parse of the string at index 1 (text, len) without copying
 * it; NULL when out of memory. */
static silk_html_job *submit_kept(lua_State *L, silk_html_pool *pool, const char *text, size_t len,
                                  const char *base, const silk_html_limits *lim, silk_task *t)
{
    lua_pushvalue(L, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX); /* raises only on a memory error, nothing held */
    kept_text *k = malloc(sizeof *k);
    silk_html_job *job = NULL;
    if (k) {
        k->L = silk_engine_lua(silk_engine_from(L));
        k->ref = ref;
        job = silk_html_submit_borrowed(pool, text, len, base, lim, parse_done, t, release_text, k);
    }
    if (!job) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        free(k);
    }
    return job;
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
    silk_html_job *job = submit_kept(L, pool, text, len, base, &lim, t);
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
    lnode n = check_node(L, 1);
    char buf[128];
    lua_pushstring(L, silk_node_tag(n.node, buf, sizeof buf));
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
    lnode n = check_node(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *v = silk_node_attr(n.node, name);
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
    lnode n = check_node(L, 1);
    int count = silk_node_nattrs(n.node);
    lua_createtable(L, 0, count);
    for (int i = 0; i < count; i++) {
        const char *name, *value;
        silk_node_attr_at(n.node, i, &name, &value);
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
    return push_rel(L, silk_node_parent(check_node(L, 1).node));
}

/*** node:next() -> node | nil
 * The next sibling element.
 * @usage
 *   local value = th:next():text()     -- <tr><th>UPC</th><td>...</td></tr>
 */
static int node_next(lua_State *L)
{
    return push_rel(L, silk_node_next(check_node(L, 1).node));
}

/*** node:prev() -> node | nil
 * The previous sibling element.
 * @usage
 *   local label = td:prev():text()
 */
static int node_prev(lua_State *L)
{
    return push_rel(L, silk_node_prev(check_node(L, 1).node));
}

/*** node:children() -> {node...}
 * The child elements, in order.
 * @usage
 *   for _, li in ipairs(doc:one("ul"):children()) do print(li:text()) end
 */
static int node_children(lua_State *L)
{
    lnode n = check_node(L, 1);
    push_owner(L, 1);
    int owner = lua_gettop(L);
    lua_newtable(L);
    int i = 0;
    for (const silk_node *c = silk_node_first_child(n.node); c; c = silk_node_next(c)) {
        push_node(L, owner, c);
        lua_rawseti(L, owner + 1, ++i);
    }
    return 1;
}

static int node_eq(lua_State *L)
{
    lnode a, b;
    lua_pushboolean(L, to_node(L, 1, &a) && to_node(L, 2, &b) && a.node == b.node);
    return 1;
}

static int node_tostring(lua_State *L)
{
    lnode n;
    if (!to_node(L, 1, &n))
        return luaL_typerror(L, 1, NODE_MT);
    if (!n.owner->doc) {
        lua_pushfstring(L, "html node (freed document): %p", (void *)n.node);
        return 1;
    }
    char buf[128];
    lua_pushfstring(L, "html node <%s>: %p", silk_node_tag(n.node, buf, sizeof buf),
                    (void *)n.node);
    return 1;
}

/* --- module --------------------------------------------------------------- */

static const luaL_Reg doc_methods[] = {
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
    {"attr", node_attr},
    {"attrs", node_attrs},
    {"parent", node_parent},
    {"children", node_children},
    {"next", node_next},
    {"prev", node_prev},
    {"document", node_document},
    {NULL, NULL},
};

/* Pushes a table of the functions in the lists (NULL-terminated), each with
 * the two metatables (at doc_mt and node_mt) as upvalues. */
static void push_methods(lua_State *L, const luaL_Reg *const *lists, int doc_mt, int node_mt)
{
    lua_newtable(L);
    for (; *lists; lists++) {
        lua_pushvalue(L, doc_mt);
        lua_pushvalue(L, node_mt);
        luaL_setfuncs(L, *lists, 2);
    }
}

static const luaL_Reg *const doc_lists[] = {silk_lhtml_target_methods, doc_methods, NULL};
static const luaL_Reg *const node_lists[] = {silk_lhtml_target_methods, silk_lhtml_node_methods,
                                             node_methods, NULL};

int silk_lapi_html(lua_State *L)
{
    if (luaL_newmetatable(L, DOC_MT)) {
        luaL_newmetatable(L, NODE_MT);
        int doc_mt = lua_gettop(L) - 1, node_mt = lua_gettop(L);

        lua_pushstring(L, DOC_MT);
        lua_setfield(L, doc_mt, "__name");
        push_methods(L, doc_lists, doc_mt, node_mt);
        lua_setfield(L, doc_mt, "__index");
        lua_pushcfunction(L, doc_gc);
        lua_setfield(L, doc_mt, "__gc");
        lua_pushcfunction(L, doc_tostring);
        lua_setfield(L, doc_mt, "__tostring");

        lua_pushstring(L, NODE_MT);
        lua_setfield(L, node_mt, "__name");
        if (luaL_loadbuffer(L, node_index_lua, sizeof node_index_lua - 1, "=silk.core.html"))
            return lua_error(L);
        push_methods(L, node_lists, doc_mt, node_mt);
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
    lua_pushcfunction(L, silk_lhtml_cache_stats);
    lua_setfield(L, -2, "cache_stats");
    return 1;
}
