/*
 * test_coropool.c -- coropool.c's contract: the sizes it serves, dense
 * blocks handed out in order, ownership by range, last-freed-first reuse,
 * the live count, bad sizes refused; and, through a Lua state, that the
 * pool made for its coroutines takes a coroutine's lua_State and initial
 * stack when the allocator asks it first (as engine.c's does).
 */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "check.h"
#include "coropool.h"

static void test_blocks(void)
{
    silk_coropool *pool = silk_coropool_new(96, 376);
    CHECK(pool != NULL, "no pool");
    if (!pool)
        return;
    CHECK(silk_coropool_serves(pool, 96) && silk_coropool_serves(pool, 376));
    CHECK(!silk_coropool_serves(pool, 64) && !silk_coropool_serves(pool, 0));
    CHECK(silk_coropool_alloc(pool, 64) == NULL, "an unpooled size");

    char *a = silk_coropool_alloc(pool, 96), *b = silk_coropool_alloc(pool, 96);
    char *s = silk_coropool_alloc(pool, 376), *t = silk_coropool_alloc(pool, 376);
    CHECK(a && b && s && t);
    CHECK(b - a == 96, "states 96 bytes apart, got %td", b - a);
    CHECK(t - s == 384, "stacks rounded up to 16, got %td", t - s);
    CHECK((uintptr_t)a % 16 == 0 && (uintptr_t)s % 16 == 0 && (uintptr_t)t % 16 == 0);
    CHECK(s - a >= 96 * 1000, "the sizes have spans of their own");
    CHECK(silk_coropool_owns(pool, a) && silk_coropool_owns(pool, t + 375));
    int on_stack;
    CHECK(!silk_coropool_owns(pool, &on_stack) && !silk_coropool_owns(pool, NULL));
    CHECK(silk_coropool_live(pool) == 4);

    memset(a, 0xab, 96);                  /* the blocks are writable whole */
    memset(t, 0xcd, 376);
    silk_coropool_free(pool, a);
    silk_coropool_free(pool, b);
    CHECK(silk_coropool_live(pool) == 2);
    CHECK(silk_coropool_alloc(pool, 96) == b, "last freed, first reused");
    CHECK(silk_coropool_alloc(pool, 96) == a);
    CHECK(silk_coropool_alloc(pool, 96) == b + 96, "then the next new block");
    silk_coropool_free(pool, s);
    CHECK(silk_coropool_alloc(pool, 376) == s, "a stack block goes back to the stacks");
    silk_coropool_free_all(pool);
    silk_coropool_free_all(NULL);
}

static void test_bad_sizes(void)
{
    CHECK(silk_coropool_new(0, 376) == NULL);
    CHECK(silk_coropool_new(96, 0) == NULL);
    CHECK(silk_coropool_new(96, 96) == NULL);
}

/* A lua_Alloc that asks the pool first, as engine.c's heap_realloc does
 * (without its accounting). */
typedef struct {
    silk_coropool *pool;
    lua_Alloc f;
    void *ud;
} pooled_heap;

static void *pooled_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    pooled_heap *h = ud;
    if (p && silk_coropool_owns(h->pool, p)) {
        void *q = nsize ? h->f(h->ud, NULL, 0, nsize) : NULL;
        if (q)
            memcpy(q, p, osize < nsize ? osize : nsize);
        if (!nsize || q)
            silk_coropool_free(h->pool, p);
        return q;
    }
    if (!p && nsize) {
        void *b = silk_coropool_alloc(h->pool, nsize);
        if (b)
            return b;
    }
    return h->f(h->ud, p, osize, nsize);
}

static void test_coroutines(void)
{
    lua_State *L = luaL_newstate();
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    pooled_heap h = {silk_coropool_for_coroutines(L), f, ud};
    CHECK(h.pool != NULL, "a coroutine is two allocations of distinct sizes");
    CHECK(lua_getallocf(L, NULL) == f, "the probe put the allocator back");
    if (!h.pool) {
        lua_setallocf(L, f, ud);
        lua_close(L);
        return;
    }
    lua_setallocf(L, pooled_alloc, &h);
    lua_State *cos[100];
    for (int i = 0; i < 100; i++)
        cos[i] = lua_newthread(L);
    int pooled = 0;
    for (int i = 0; i < 100; i++)
        pooled += silk_coropool_owns(h.pool, cos[i]);
    CHECK(pooled == 100, "%d of 100 states pooled", pooled);
    CHECK(silk_coropool_live(h.pool) == 200, "a state and a stack each, live %zu",
          silk_coropool_live(h.pool));
    CHECK((char *)cos[99] - (char *)cos[0] == 99 * (ptrdiff_t)h.pool->classes[0].stride,
          "states packed in order");
    lua_checkstack(cos[0], 200);          /* grown: the stack leaves its pool */
    CHECK(silk_coropool_live(h.pool) == 199);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    CHECK(silk_coropool_live(h.pool) == 0, "collected coroutines give their blocks back, live %zu",
          silk_coropool_live(h.pool));
    lua_setallocf(L, f, ud);              /* the pool is empty: LuaJIT frees its heap whole */
    lua_close(L);
    silk_coropool_free_all(h.pool);
}

int main(void)
{
    test_blocks();
    test_bad_sizes();
    test_coroutines();
    return check_done("test_coropool");
}
