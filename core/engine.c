/*
 * engine.c -- the loop, the Lua state and its allocator, the services; see
 * engine.h. Running an engine is engine_run.c's.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

#include "silk_config.h"
#include "coropool.h"
#include "engine_int.h"
#include "gcpace.h"
#include "lapi.h"

static const char engine_key = 0;   /* registry: light userdata -> the engine */

void silk_engine_defaults(silk_engine_options *o)
{
    memset(o, 0, sizeof *o);
    o->grace = 5.0;
    o->preempt = 1;
    o->slice = 0.002;
    o->gc_pacer = 1;
    o->gc_budget = SILK_GC_DEFAULT_BUDGET;
    o->gc_pause = SILK_GC_DEFAULT_PAUSE;
}

const char *silk_engine_libev_version(void)
{
    static char v[32];
    snprintf(v, sizeof v, "%d.%d", ev_version_major(), ev_version_minor());
    return v;
}

static void *lua_alloc(void *ud, void *p, size_t osize, size_t nsize);

silk_engine *silk_engine_from(lua_State *L)
{
    /* While lua_alloc is the state's allocator its ud is the engine: one
     * load where the registry lookup costs a hash probe, on the hundreds of
     * C entries a crawled page makes. The registry answers before lua_alloc
     * is installed and after the close hands LuaJIT its own back. */
    void *ud;
    if (lua_getallocf(L, &ud) == lua_alloc)
        return ud;
    lua_pushlightuserdata(L, (void *)&engine_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    silk_engine *e = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return e;
}

lua_State *silk_engine_lua(silk_engine *e) { return e->L; }
struct ev_loop *silk_engine_loop(silk_engine *e) { return e->loop; }
const silk_engine_options *silk_engine_opts(silk_engine *e) { return &e->opts; }
int silk_engine_exit_code(silk_engine *e) { return e->exit_code; }
void silk_engine_set_exit_code(silk_engine *e, int code) { e->exit_code = code; }

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    /* Only here to keep the loop from blocking; the prepare phase runs tasks. */
}

void silk_engine_kick(silk_engine *e)
{
    if (!ev_is_active(&e->sched_idle))
        ev_idle_start(e->loop, &e->sched_idle);
}

/* --- the Lua heap ---------------------------------------------------------- */

/* Address space held back (mapped, never touched: no memory) for the
 * allocations the engine makes outside every task when the system refuses
 * one (an address-space limit, ulimit -v). */
#define MEM_RESERVE (64u << 20)

static void mem_reserve(silk_engine *e)
{
    void *p = mmap(NULL, MEM_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    e->mem_reserve = p == MAP_FAILED ? NULL : p;
}

/* A pooled size allocated, or a pooled block freed or resized (it moves
 * out of the pool). Closing with blocks in the pool, the last one's
 * release hands LuaJIT its own allocator back, so that lua_close still
 * frees its memory whole. Out of line: the common path below then saves
 * no registers. */
static __attribute__((noinline)) void *pool_realloc(silk_engine *e, void *p, size_t osize, size_t nsize)
{
    silk_coropool *pool = e->mem_pool;
    if (!p) {
        void *b = silk_coropool_alloc(pool, nsize);
        return b ? b : e->mem_f(e->mem_ud, NULL, 0, nsize);
    }
    if (nsize == osize)
        return p;
    void *q = NULL;
    if (nsize) {
        q = e->mem_f(e->mem_ud, NULL, 0, nsize);
        if (!q)
            return NULL;
        memcpy(q, p, osize < nsize ? osize : nsize);
    }
    silk_coropool_free(pool, p);
    if (e->mem_closing && !silk_coropool_live(pool))
        lua_setallocf(e->L, e->mem_f, e->mem_ud);
    return q;
}

/* LuaJIT's allocator, with coroutine states and initial stacks from the
 * pool (coropool.h). */
static inline __attribute__((always_inline)) void *heap_realloc(silk_engine *e, void *p, size_t osize, size_t nsize)
{
    silk_coropool *pool = e->mem_pool;
    if (pool && (p ? silk_coropool_owns(pool, p) : silk_coropool_serves(pool, nsize)))
        return pool_realloc(e, p, osize, nsize);
    return e->mem_f(e->mem_ud, p, osize, nsize);
}

/* The state's lua_Alloc, around LuaJIT's own (much faster than malloc for
 * the small objects the GC's sweep frees by the thousand) and the
 * coroutine pool (heap_realloc), with per-task accounting: the bytes the
 * heap grows by while a task runs are its own (e->charge, its account).
 *
 * A task that takes the heap past --max-memory, or whose allocation the
 * system refuses, is marked (mem_over) and ends with a `memory` error at
 * its next safe point: preempt.c's tick stops it within about a millisecond
 * of CPU, like a deadline, and task.c fails it when it yields or returns
 * first (whatever it caught meanwhile). The allocation itself is granted
 * rather than refused because LuaJIT cannot raise "not enough memory"
 * safely from every point of compiled code: with the line-mode profiler
 * that preemption needs, a refusal inside a trace (tostring in a loop)
 * crashes the VM. So a refusal is kept for what the margin cannot absorb:
 * one allocation bigger than a quarter of the cap that would cross it
 * (string.rep, table.concat, a huge resize), made from a C function, where
 * LuaJIT raises the error cleanly, and a system refusal once the reserve is
 * spent. Without preemption (--no-preempt: no profiler, and nothing would
 * stop the task) every allocation past the cap is refused.
 *
 * Outside every task the engine's own C code calls the Lua API unprotected
 * (loop callbacks pushing wake values, ending tasks, spawning signal
 * handlers), where a failure would reach LuaJIT's panic handler: the cap
 * does not apply there. A system refusal, inside a task or not, first gives
 * back the reserve and tries again; the loop takes the reserve back once
 * it can. */
static void *lua_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    silk_engine *e = ud;
    if (!p)
        osize = 0;
    if (nsize == 0) {
        heap_realloc(e, p, osize, 0);
        e->mem_used -= osize;
        return NULL;
    }
    silk_mem_charge *c = e->charge;
    size_t grow = nsize > osize ? nsize - osize : 0;
    int over = c && grow && e->mem_cap && e->mem_used + grow > e->mem_cap;
    if (over && (!e->mem_deferred || grow > e->mem_cap / 4))
        goto refuse;
    void *q = heap_realloc(e, p, osize, nsize);
    if (!q && e->mem_reserve) {
        munmap(e->mem_reserve, MEM_RESERVE);
        e->mem_reserve = NULL;
        q = heap_realloc(e, p, osize, nsize);
        if (c) {
            over = 1;
            c->system = 1;
        }
    }
    if (!q)
        goto refuse;
    e->mem_used = e->mem_used - osize + nsize;
    if (c) {
        c->allocated += grow;
        if (over && !c->over) {
            c->over = 1;
            e->mem_collect = 1;
        }
    }
    return q;
refuse:
    if (c) {
        e->mem_refused = nsize;
        c->system |= !over;
        c->over = 1;
        e->mem_collect = 1;
    }
    return NULL;
}

/* Outside every task a failure can still happen once the reserve is spent:
 * say what it was rather than LuaJIT's "unprotected error". */
static int on_panic(lua_State *L)
{
    silk_engine *e = silk_engine_from(L);
    fprintf(stderr, "silk: fatal: %s outside any task (Lua heap %.1f MB); stopping\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "error",
            e ? (double)e->mem_used / (1 << 20) : 0.0);
    fflush(stderr);
    _exit(1);
}

void silk_engine_refill_reserve(silk_engine *e)
{
    if (!e->mem_reserve)
        mem_reserve(e);
}

/* --- finding lua/silk ------------------------------------------------------ */

static int has_silk_init(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/silk/init.lua", dir);
    return stat(path, &st) == 0;
}

/* SILK_LUA_DIR, else <exe's directory>/SILK_LUA_FROM_BIN (an installed
 * binary, whatever the prefix: ../share/silk/lua), else the source tree the
 * binary was built from, else the configured install directory. */
static void find_lua_dir(char *out, size_t len)
{
    const char *env = getenv("SILK_LUA_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%s/%s", exe, SILK_LUA_FROM_BIN);
            char real[PATH_MAX];
            if (has_silk_init(out) && realpath(out, real)) {
                snprintf(out, len, "%s", real);
                return;
            }
        }
    }
    if (has_silk_init(SILK_SOURCE_LUA_DIR)) {
        snprintf(out, len, "%s", SILK_SOURCE_LUA_DIR);
        return;
    }
    snprintf(out, len, "%s", SILK_LUA_INSTALL_DIR);
}

static void set_package_path(silk_engine *e)
{
    lua_State *L = e->L;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", e->lua_dir, e->lua_dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* --- life ------------------------------------------------------------------ */

silk_engine *silk_engine_create(const silk_engine_options *o)
{
    silk_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->opts = *o;
    e->loop = ev_default_loop(EVFLAG_AUTO);
    if (!e->loop) {
        fprintf(stderr, "silk: cannot create the event loop\n");
        free(e);
        return NULL;
    }
    e->mem_cap = (size_t)o->max_memory;
    e->L = luaL_newstate();
    if (!e->L) {
        fprintf(stderr, "silk: cannot create the Lua state\n");
        free(e);
        return NULL;
    }
    lua_State *L = e->L;
    e->mem_f = lua_getallocf(L, &e->mem_ud);
    /* Before lua_alloc (coropool.h) and before the heap is counted: the
     * coroutine it probes with is garbage in the heap, freed through us. */
    e->mem_pool = silk_coropool_for_coroutines(L);
    e->mem_used = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
    lua_setallocf(L, lua_alloc, e);
    lua_atpanic(L, on_panic);
    mem_reserve(e);
    luaL_openlibs(L);
    lua_pushlightuserdata(L, (void *)&engine_key);
    lua_pushlightuserdata(L, e);
    lua_rawset(L, LUA_REGISTRYINDEX);
    find_lua_dir(e->lua_dir, sizeof e->lua_dir);
    set_package_path(e);
    silk_lapi_preload(L);
    ev_idle_init(&e->sched_idle, on_idle);
    return e;
}

void *silk_engine_service(silk_engine *e, silk_service id)
{
    return e->services[id].p;
}

void silk_engine_set_service(silk_engine *e, silk_service id, void *p, silk_service_stop_fn stop)
{
    e->services[id].p = p;
    e->services[id].stop = stop;
    e->services[id].report = NULL;
}

void silk_engine_set_service_report(silk_engine *e, silk_service id, silk_service_report_fn report)
{
    e->services[id].report = report;
}

int silk_engine_report_services(silk_engine *e, FILE *out, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < SILK_SERVICE_COUNT_; i++)
        if (e->services[i].p && e->services[i].report)
            n += e->services[i].report(e->services[i].p, out, prefix);
    return n;
}

/* Stops the services in slot order. A slot is emptied after its stop
 * returns: a callback the stop runs (a transfer completed as cancelled)
 * that looks its service up finds the one being stopped, not a new one. */
void silk_engine_stop_services(silk_engine *e)
{
    for (int i = 0; i < SILK_SERVICE_COUNT_; i++) {
        if (!e->services[i].p)
            continue;
        e->services[i].stop(e->services[i].p);
        e->services[i].p = NULL;
    }
}

void silk_engine_close_lua(silk_engine *e)
{
    /* LuaJIT releases its own allocator's memory whole only when it is
     * still the state's allocator at the close. */
    if (!e->mem_pool || !silk_coropool_live(e->mem_pool))
        lua_setallocf(e->L, e->mem_f, e->mem_ud);
    else
        e->mem_closing = 1;               /* pool_realloc hands it back */
    lua_close(e->L);
    e->L = NULL;
    silk_coropool_free_all(e->mem_pool);
    e->mem_pool = NULL;
    if (e->mem_reserve)
        munmap(e->mem_reserve, MEM_RESERVE);
    e->mem_reserve = NULL;
    ev_idle_stop(e->loop, &e->sched_idle);
}
