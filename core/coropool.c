/*
 * coropool.c -- dense pools for coroutine states and stacks; see coropool.h.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <lua.h>

#include "coropool.h"

/* Address space per size: room for some 170 000 initial stacks, more than
 * the heap limit a crawl of that many parked tasks would run under. */
#define CLASS_SPAN ((size_t)64 << 20)

static int address_space_limited(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

silk_coropool *silk_coropool_new(size_t state_size, size_t stack_size)
{
    if (!state_size || !stack_size || state_size == stack_size || address_space_limited())
        return NULL;
    silk_coropool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    void *m = mmap(NULL, 2 * CLASS_SPAN, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(pool);
        return NULL;
    }
    pool->map = (uintptr_t)m;
    pool->map_len = 2 * CLASS_SPAN;
    pool->sizes[0] = state_size;
    pool->sizes[1] = stack_size;
    for (int i = 0; i < 2; i++) {
        silk_coropool_class *c = &pool->classes[i];
        c->base = c->bump = (char *)m + i * CLASS_SPAN;
        c->stride = (pool->sizes[i] + 15) & ~(size_t)15;
    }
    return pool;
}

/* The sizes of the first two allocations made through it: making a
 * coroutine, LuaJIT allocates its lua_State and then its initial stack. */
typedef struct {
    lua_Alloc f;
    void *ud;
    size_t sizes[2];
    int n;
} alloc_probe;

static void *probe_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    alloc_probe *pr = ud;
    if (!p && nsize && pr->n < 2)
        pr->sizes[pr->n++] = nsize;
    return pr->f(pr->ud, p, osize, nsize);
}

silk_coropool *silk_coropool_for_coroutines(lua_State *L)
{
    alloc_probe pr = {NULL, NULL, {0, 0}, 0};
    pr.f = lua_getallocf(L, &pr.ud);
    lua_setallocf(L, probe_alloc, &pr);
    lua_newthread(L);
    lua_pop(L, 1);
    lua_setallocf(L, pr.f, pr.ud);
    return pr.n == 2 ? silk_coropool_new(pr.sizes[0], pr.sizes[1]) : NULL;
}

void *silk_coropool_alloc(silk_coropool *pool, size_t size)
{
    silk_coropool_class *c = size == pool->sizes[0] ? &pool->classes[0]
                           : size == pool->sizes[1] ? &pool->classes[1] : NULL;
    if (!c)
        return NULL;
    void *b = c->free;
    if (b) {
        c->free = *(void **)b;
    } else if (c->bump + c->stride <= c->base + CLASS_SPAN) {
        b = c->bump;
        c->bump += c->stride;
    } else {
        return NULL;
    }
    pool->live++;
    return b;
}

void silk_coropool_free(silk_coropool *pool, void *p)
{
    silk_coropool_class *c = &pool->classes[((uintptr_t)p - pool->map) / CLASS_SPAN];
    *(void **)p = c->free;
    c->free = p;
    pool->live--;
}

void silk_coropool_free_all(silk_coropool *pool)
{
    if (!pool)
        return;
    munmap((void *)pool->map, pool->map_len);
    free(pool);
}
