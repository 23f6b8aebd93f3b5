/*
 * lapi_html_int.h -- what the two files of "silk.core.html" share:
 * lapi_html.c (documents, nodes and parsing) and lapi_html_query.c
 * (selection and extraction, the methods documents and nodes have in
 * common). The document userdata and the node tables, their checks, and
 * the query file's method lists; no contract for any other file.
 */
#ifndef SILK_LAPI_HTML_INT_H
#define SILK_LAPI_HTML_INT_H

#include <lauxlib.h>
#include <lua.h>

#include "html.h"

#define DOC_MT "silk.html.document"
#define NODE_MT "silk.html.node"

typedef struct ldoc {
    silk_html_doc *doc;              /* NULL once freed */
} ldoc;

/* A node is a Lua table { [1] = the silk_node (light userdata), [2] = its
 * document's userdata } with the node metatable, read into an lnode by
 * to_node. Not a userdata: LuaJIT's atomic GC phase walks every userdata
 * in the heap, dead or alive, each cycle (lj_gc_separateudata), and a page
 * makes a hundred nodes; tables cost it nothing there. [2] keeps the
 * document alive as long as the node. */
typedef struct lnode {
    const silk_node *node;
    ldoc *owner;
} lnode;

/* Every method and metamethod of documents and nodes runs with the two
 * metatables as its upvalues: telling a document from a node is then a
 * pointer compare, where luaL_checkudata would intern the type's name and
 * look it up in the registry on each of the hundreds of calls a page makes. */
#define DOC_MT_UV lua_upvalueindex(1)
#define NODE_MT_UV lua_upvalueindex(2)

/* The userdata at idx if its metatable is the one at mt, else NULL. */
static inline void *to_typed(lua_State *L, int idx, int mt)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx))
        return NULL;
    int same = lua_rawequal(L, -1, mt);
    lua_pop(L, 1);
    return same ? p : NULL;
}

/* d itself, if its document is still open; raises otherwise. */
static inline ldoc *open_doc(lua_State *L, ldoc *d)
{
    if (!d->doc)
        luaL_error(L, "attempt to use a freed document");
    return d;
}

/* Reads the node at idx into *n: 1 if it is one (its metatable is the
 * node metatable), else 0. The document may be freed. */
static inline int to_node(lua_State *L, int idx, lnode *n)
{
    n->node = NULL;
    n->owner = NULL;
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    int same = lua_rawequal(L, -1, NODE_MT_UV);
    lua_pop(L, 1);
    if (!same)
        return 0;
    lua_rawgeti(L, idx, 1);
    lua_rawgeti(L, idx, 2);
    n->node = lua_touserdata(L, -2);
    n->owner = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return n->node && n->owner;
}

/* The node at idx, whose document is open; raises otherwise. */
static inline lnode check_node(lua_State *L, int idx)
{
    lnode n;
    if (!to_node(L, idx, &n))
        luaL_typerror(L, idx, NODE_MT);
    open_doc(L, n.owner);
    return n;
}

/* Pushes a node of the document whose userdata is at owner_idx. */
static inline void push_node(lua_State *L, int owner_idx, const silk_node *node)
{
    lua_createtable(L, 2, 0);
    lua_pushlightuserdata(L, (void *)node);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, owner_idx);
    lua_rawseti(L, -2, 2);
    lua_pushvalue(L, NODE_MT_UV);
    lua_setmetatable(L, -2);
}

/* Pushes the document userdata of the node at idx. */
static inline void push_owner(lua_State *L, int idx)
{
    lua_rawgeti(L, idx, 2);
}

/* A silk_html_sink writing to the luaL_Buffer ud. */
static inline void buf_sink(void *ud, const char *s, size_t n)
{
    luaL_addlstring((luaL_Buffer *)ud, s, n);
}

/* lapi_html_query.c: the methods of documents and nodes alike (select, one,
 * text, text_of, texts, attr_of, html), those of nodes only (inner_html,
 * matches), each to be registered with the two metatables as upvalues; and
 * html.cache_stats(). */
extern const luaL_Reg silk_lhtml_target_methods[];
extern const luaL_Reg silk_lhtml_node_methods[];
int silk_lhtml_cache_stats(lua_State *L);

#endif
