/*
 * coropool.h -- dense pools for the Lua heap's coroutine states and stacks.
 *
 * LuaJIT's collector re-traverses every live coroutine in its atomic phase,
 * which cannot be split: it reads each lua_State and the used part of its
 * stack, and clears the rest of the stack. With tens of thousands of parked
 * tasks that walk is a cache miss per coroutine, and more when each state
 * and stack lie among the task's other objects (its handle, its closure,
 * the state the script keeps): the hardware prefetchers follow a dense
 * walk, not a scattered one. So the engine's allocator (engine.c) serves
 * the two allocation sizes LuaJIT uses for a new coroutine -- its
 * lua_State and its initial stack, found by making one coroutine at start
 * -- from pools of their own, each a run of equal blocks in one mapping,
 * reused last-freed-first. Other objects of the same sizes land there too,
 * which only makes the pools a little less dense. A stack that grows
 * leaves its pool (LuaJIT reallocates it to another size); pooling grown
 * stacks as well measured no clear gain (bench/results/gc-parked-20261207.md).
 *
 * Contract:
 *  - silk_coropool_new(state_size, stack_size) -> a pool of the two
 *    (distinct, non-zero) sizes, or NULL (bad sizes, no address space: the
 *    engine then allocates as before). It maps 64 MB of address space per size
 *    (MAP_NORESERVE, touched as used); under an address-space limit
 *    (RLIMIT_AS) it makes no pool, to leave that space to the heap.
 *  - silk_coropool_for_coroutines(L) -> a pool of the sizes L's allocator
 *    is asked for when a coroutine is made, or NULL. It makes one (which
 *    becomes garbage) through a probing allocator put in front of L's for
 *    the while: call it before installing an allocator that uses the pool.
 *  - silk_coropool_serves(pool, size) -> whether that size is pooled.
 *  - silk_coropool_alloc(pool, size) -> a block of that size, or NULL when
 *    the size is not pooled or the pool is full (allocate elsewhere).
 *  - silk_coropool_owns(pool, p) -> whether p is one of its blocks (a
 *    range check: every free and resize of the Lua heap asks).
 *  - silk_coropool_free(pool, p) returns an owned block, kept for reuse:
 *    the pages a peak of coroutines touched stay with the process until
 *    the engine closes.
 *  - silk_coropool_live(pool) -> blocks handed out and not returned.
 *  - silk_coropool_free_all(pool) unmaps it; NULL is accepted.
 * Single-threaded: the Lua state's thread only.
 */
#ifndef SILK_COROPOOL_H
#define SILK_COROPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

typedef struct {
    char *base;                   /* its span of the mapping */
    char *bump;                   /* blocks below it have been handed out once */
    void *free;                   /* returned blocks, linked through their first word */
    size_t stride;                /* the size rounded up to 16, the alignment malloc gives */
} silk_coropool_class;

/* Written by coropool.c only; the allocator's every call reads the first
 * three fields through the inline checks below. */
typedef struct silk_coropool {
    uintptr_t map;                /* the mapping: one span per size */
    size_t map_len;
    size_t sizes[2];              /* the sizes served: state, stack */
    silk_coropool_class classes[2];
    size_t live;
} silk_coropool;

silk_coropool *silk_coropool_new(size_t state_size, size_t stack_size);
silk_coropool *silk_coropool_for_coroutines(lua_State *L);
void *silk_coropool_alloc(silk_coropool *pool, size_t size);
void silk_coropool_free(silk_coropool *pool, void *p);
void silk_coropool_free_all(silk_coropool *pool);

static inline int silk_coropool_owns(const silk_coropool *pool, const void *p)
{
    return (uintptr_t)p - pool->map < pool->map_len;
}

static inline int silk_coropool_serves(const silk_coropool *pool, size_t size)
{
    return size == pool->sizes[0] || size == pool->sizes[1];
}

static inline size_t silk_coropool_live(const silk_coropool *pool)
{
    return pool->live;
}

#endif
