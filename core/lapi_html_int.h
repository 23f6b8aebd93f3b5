/*
 * lapi_html_int.h -- what the two files of "silk.core.html" share:
 * lapi_html.c (documents, nodes and parsing) and lapi_html_query.c
 * (selection and extraction, the methods documents and nodes have in
 * common). The userdata types, their checks, and the query file's method
 * lists; no contract for any other file.
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

typedef struct lnode {
    const silk_node *node;
    ldoc *owner;                     /* alive as long as this node (fenv) */
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

static inline lnode *check_node(lua_State *L, int idx)
{
    lnode *n = to_typed(L, idx, NODE_MT_UV);
    if (!n)
        luaL_typerror(L, idx, NODE_MT);
    open_doc(L, n->owner);
    return n;
}

/* Pushes a node of the document whose userdata is at owner_idx. */
static inline void push_node(lua_State *L, int owner_idx, const silk_node *node)
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
static inline void push_owner(lua_State *L, int idx)
{
    lua_getfenv(L, idx);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
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
