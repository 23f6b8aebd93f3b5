/*
 * frontier.c -- the frontier's shared logic: the public entry points (handle
 * check, then the backend's op), the in-memory scheduler every local backend
 * runs on, the key/value map and the request byte form. See frontier.h for
 * the contract and frontier_int.h for what the backends use.
 *
 * Scheduler invariants (fr_sched):
 *  - every queued entry sits in exactly one deque: its host's level for its
 *    priority; levels are sorted by priority, descending, none empty;
 *  - a host is in the ready heap iff it has queued entries, fewer than
 *    max_per_host in flight and a ready time (max(next_allowed, hold_until))
 *    <= the `now` of the last call that examined it; in the delayed heap iff
 *    queued, not full and a later ready time; in neither otherwise (idle or
 *    full). host->heap says which; host->hidx is its position there;
 *  - every in-flight entry is in the in-flight map under its id, in no deque.
 * Costs: push O(log H) (H = hosts with work), pop O(log H), done O(log H);
 * the seen-set doubles (a brief O(n) rehash) when 3/4 full.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontier_int.h"
#include "url.h"

/* ------------------------------------------------------------------ */
/* small things */

int fr_fail(char *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof ((silk_frontier *)0)->err, fmt, ap);
    va_end(ap);
    return code;
}

double silk_frontier_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load64le(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Word-at-a-time multiply-rotate, then the splitmix64 finaliser for
 * avalanche. Stable across platforms (explicit little-endian loads), since
 * seen hashes are persisted and will be shared between machines. */
uint64_t silk_frontier_hash(const char *s, size_t len)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
    while (len >= 8) {
        h = rotl64(h ^ load64le(s), 29) * 0x9e3779b97f4a7c15ull;
        s += 8;
        len -= 8;
    }
    if (len) {
        char tail[8] = {0};
        memcpy(tail, s, len);
        h = rotl64(h ^ load64le(tail), 29) * 0x9e3779b97f4a7c15ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1; /* 0 marks an empty slot */
}

const char *silk_frontier_strerror(int code)
{
    switch (code) {
    case SILK_FRONTIER_OK: return "ok";
    case SILK_FRONTIER_ENOMEM: return "not enough memory";
    case SILK_FRONTIER_EINVAL: return "invalid argument";
    case SILK_FRONTIER_EURL: return "invalid URL";
    case SILK_FRONTIER_EIO: return "store error";
    case SILK_FRONTIER_EMISMATCH: return "jobdir belongs to another spider";
    case SILK_FRONTIER_ECORRUPT: return "store is corrupt";
    case SILK_FRONTIER_ENOENT: return "no such request in flight";
    case SILK_FRONTIER_ENOTSUP: return "not supported";
    default: return "unknown error";
    }
}

void silk_frontier_cfg_init(silk_frontier_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->backend = "memory";
    cfg->max_per_host = 2;
    cfg->order = SILK_FRONTIER_BFS;
    cfg->fail_threshold = 3;
    cfg->backoff_base = 5;
    cfg->backoff_max = 600;
    cfg->checkpoint_ms = 1000;
    cfg->checkpoint_ops = 10000;
}

/* ------------------------------------------------------------------ */
/* public entry points */

static int check_cfg(const silk_frontier_cfg *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->max_per_host < 1)
        bad = "max_per_host must be >= 1";
    else if (!(c->delay >= 0) || !isfinite(c->delay))
        bad = "delay must be a finite number >= 0";
    else if (!(c->jitter >= 0 && c->jitter <= 1))
        bad = "jitter must be in 0..1";
    else if (c->order != SILK_FRONTIER_BFS && c->order != SILK_FRONTIER_DFS)
        bad = "order must be bfs or dfs";
    else if (c->fail_threshold < 1)
        bad = "fail_threshold must be >= 1";
    else if (!(c->backoff_base >= 0) || !(c->backoff_max >= c->backoff_base))
        bad = "backoff_base must be >= 0 and <= backoff_max";
    else if (c->host_max_failures < 0)
        bad = "host_max_failures must be >= 0";
    else if (!(c->checkpoint_ms >= 0))
        bad = "checkpoint_ms must be >= 0";
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return SILK_FRONTIER_EINVAL;
    }
    return 0;
}

int silk_frontier_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    int rc = check_cfg(cfg, err, errlen);
    if (rc)
        return rc;
    const char *b = cfg->backend ? cfg->backend : "memory";
    if (strcmp(b, "memory") == 0)
        return fr_mem_open(cfg, out, err, errlen);
    if (strcmp(b, "sqlite") == 0)
        return fr_sqlite_open(cfg, out, err, errlen);
    if (strcmp(b, "redis") == 0)
        return fr_redis_open(cfg, out, err, errlen);
    snprintf(err, errlen, "unknown frontier backend \"%s\" (memory, sqlite, redis)", b);
    return SILK_FRONTIER_ENOTSUP;
}

/* A handle that fails the check is a caller bug (use after close, a stray
 * pointer): refuse rather than crash. */
#define CHECK(f, ret)                                                      \
    do {                                                                   \
        if (!(f) || (f)->magic != SILK_FRONTIER_MAGIC)                     \
            return ret;                                                    \
    } while (0)

void silk_frontier_close(silk_frontier *f)
{
    if (!f || f->magic != SILK_FRONTIER_MAGIC)
        return;
    f->ops->close(f);
}

int silk_frontier_push(silk_frontier *f, const silk_frontier_req *req, double now)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!req || !req->url)
        return fr_fail(f->err, SILK_FRONTIER_EINVAL, "push: a request needs a url");
    return f->ops->push(f, req, now);
}

int silk_frontier_pop_ready(silk_frontier *f, double now, const silk_frontier_req **out)
{
    *out = NULL;
    CHECK(f, SILK_FRONTIER_EINVAL);
    return f->ops->pop_ready(f, now, out);
}

int silk_frontier_done(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if ((unsigned)outcome > SILK_FRONTIER_DONE_REQUEUE)
        return fr_fail(f->err, SILK_FRONTIER_EINVAL, "done: unknown outcome %d", (int)outcome);
    return f->ops->done(f, id, outcome, now);
}

double silk_frontier_next_wakeup(silk_frontier *f, double now)
{
    CHECK(f, -1);
    return f->ops->next_wakeup(f, now);
}

int silk_frontier_set_host(silk_frontier *f, const char *host, double delay, double hold_until,
                           double now)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!host || isnan(delay) || isnan(hold_until) || isinf(delay))
        return fr_fail(f->err, SILK_FRONTIER_EINVAL, "set_host: bad arguments");
    return f->ops->set_host(f, host, delay, hold_until, now);
}

void silk_frontier_get_stats(silk_frontier *f, double now, silk_frontier_stats *st,
                             silk_frontier_host_stat *top, size_t ntop)
{
    memset(st, 0, sizeof *st);
    if (!f || f->magic != SILK_FRONTIER_MAGIC)
        return;
    f->ops->stats(f, now, st, top, top ? ntop : 0);
}

int silk_frontier_checkpoint(silk_frontier *f, double now, int force)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    return f->ops->checkpoint(f, now, force);
}

int silk_frontier_kv_get(silk_frontier *f, const char *key, const char **val, size_t *len)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!key)
        return SILK_FRONTIER_EINVAL;
    return f->ops->kv_get(f, key, val, len);
}

int silk_frontier_kv_set(silk_frontier *f, const char *key, const char *val, size_t len)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!key || (!val && len))
        return SILK_FRONTIER_EINVAL;
    return f->ops->kv_set(f, key, val ? val : "", len);
}

int silk_frontier_item(silk_frontier *f, const char *key, size_t klen, const char *const *data,
                       const size_t *len, size_t n)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!key || !data || !len || n == 0)
        return SILK_FRONTIER_EINVAL;
    if (!f->ops->item)
        return fr_fail(f->err, SILK_FRONTIER_ENOTSUP, "the %s frontier keeps no items", f->ops->name);
    return f->ops->item(f, key, klen, data, len, n);
}

static int shared(silk_frontier *f, const char *key, const char *val, size_t len, double ttl,
                  int nx, silk_frontier_shared_fn cb, void *ud, uint64_t *token)
{
    CHECK(f, SILK_FRONTIER_EINVAL);
    if (!key || !cb || !token || (val && !(ttl > 0)))
        return SILK_FRONTIER_EINVAL;
    if (!f->ops->shared)
        return fr_fail(f->err, SILK_FRONTIER_ENOTSUP, "the %s frontier shares nothing",
                       f->ops->name);
    return f->ops->shared(f, key, val, len, ttl, nx, cb, ud, token);
}

int silk_frontier_shared_get(silk_frontier *f, const char *key, silk_frontier_shared_fn cb,
                             void *ud, uint64_t *token)
{
    return shared(f, key, NULL, 0, 0, 0, cb, ud, token);
}

int silk_frontier_shared_set(silk_frontier *f, const char *key, const char *val, size_t len,
                             double ttl, int nx, silk_frontier_shared_fn cb, void *ud,
                             uint64_t *token)
{
    if (!val)
        return SILK_FRONTIER_EINVAL;
    return shared(f, key, val, len, ttl, nx, cb, ud, token);
}

void silk_frontier_shared_forget(silk_frontier *f, uint64_t token)
{
    if (f && f->magic == SILK_FRONTIER_MAGIC && f->ops->shared_forget)
        f->ops->shared_forget(f, token);
}

void silk_frontier_set_notify(silk_frontier *f, silk_frontier_notify_fn fn, void *ud)
{
    if (!f || f->magic != SILK_FRONTIER_MAGIC)
        return;
    f->notify = fn;
    f->notify_ud = ud;
}

const char *silk_frontier_errmsg(const silk_frontier *f)
{
    if (!f || f->magic != SILK_FRONTIER_MAGIC)
        return "closed frontier";
    return f->err;
}

/* ------------------------------------------------------------------ */
/* scheduler: types */

typedef struct fr_host fr_host;

typedef struct fr_entry {
    silk_frontier_req req; /* strings point into data[] (host: into fr_host) */
    fr_host *host;
    char data[];
} fr_entry;

/* A deque of entries in chunks that grow from 4 to 512 slots, so a host
 * with one URL costs a few bytes and a host with a million no giant array. */
#define CHUNK_MIN 4
#define CHUNK_MAX 512

typedef struct fr_chunk {
    struct fr_chunk *next, *prev;
    uint32_t cap, b, e; /* live slots are [b, e) */
    fr_entry *slot[];
} fr_chunk;

typedef struct fr_deque {
    fr_chunk *head, *tail;
    size_t n;
} fr_deque;

typedef struct fr_level {
    int priority;
    fr_deque q;
} fr_level;

enum { H_IDLE = 0, H_READY, H_DELAYED, H_FULL };

struct fr_host {
    char *key;
    fr_level *levels; /* by priority, descending; none empty */
    int nlevels, caplevels;
    size_t queued;
    int in_flight;
    int heap;           /* H_*: which heap holds it (READY, DELAYED) or none */
    size_t hidx;
    uint64_t seq;       /* ready order: lower first among equal priority */
    double next_allowed;
    fr_host_state st;
    /* The part of st.hold_until that set_host asked for (Retry-After): a
     * success ends a backoff but not this. Not persisted: after a reload the
     * whole hold counts as backoff. */
    double asked_hold;
};

typedef struct fr_heap {
    fr_host **h;
    size_t n, cap;
} fr_heap;

struct fr_sched {
    silk_frontier_cfg cfg; /* strings not kept */
    fr_hooks hooks;
    char *err;
    /* hosts by key: open addressing, power-of-two capacity */
    fr_host **hosts;
    size_t nhosts, caphosts;
    fr_heap ready, delayed;
    /* seen-set: 64-bit hashes, 0 = empty */
    uint64_t *seen;
    size_t nseen, capseen;
    /* in flight: id -> entry, open addressing with tombstones */
    fr_entry **fly;
    size_t nfly, tombs, capfly;
    uint64_t next_id, seq, rng;
    size_t queued, mem;
    uint64_t pushed, duplicates, popped, failures, dropped;
};

#define TOMB ((fr_entry *)(uintptr_t)1)

static void *s_alloc(fr_sched *s, size_t n)
{
    void *p = malloc(n);
    if (p)
        s->mem += n;
    return p;
}

static void s_free(fr_sched *s, void *p, size_t n)
{
    if (p) {
        s->mem -= n;
        free(p);
    }
}

static uint64_t rng_next(fr_sched *s)
{
    uint64_t x = s->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------------------------ */
/* deque */

static int dq_push(fr_sched *s, fr_deque *q, fr_entry *e)
{
    fr_chunk *t = q->tail;
    if (!t || t->e == t->cap) {
        uint32_t cap = t ? t->cap * 2 : CHUNK_MIN;
        if (cap > CHUNK_MAX)
            cap = CHUNK_MAX;
        fr_chunk *c = s_alloc(s, sizeof *c + cap * sizeof c->slot[0]);
        if (!c)
            return SILK_FRONTIER_ENOMEM;
        c->cap = cap;
        c->b = c->e = 0;
        c->next = NULL;
        c->prev = t;
        if (t)
            t->next = c;
        else
            q->head = c;
        q->tail = c;
        t = c;
    }
    t->slot[t->e++] = e;
    q->n++;
    return 0;
}

static void dq_unlink(fr_sched *s, fr_deque *q, fr_chunk *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        q->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->tail = c->prev;
    s_free(s, c, sizeof *c + c->cap * sizeof c->slot[0]);
}

static fr_entry *dq_pop_front(fr_sched *s, fr_deque *q)
{
    fr_chunk *c = q->head;
    fr_entry *e = c->slot[c->b++];
    if (c->b == c->e)
        dq_unlink(s, q, c);
    q->n--;
    return e;
}

static fr_entry *dq_pop_back(fr_sched *s, fr_deque *q)
{
    fr_chunk *c = q->tail;
    fr_entry *e = c->slot[--c->e];
    if (c->b == c->e)
        dq_unlink(s, q, c);
    q->n--;
    return e;
}

/* ------------------------------------------------------------------ */
/* host heaps */

static double ready_time(const fr_host *h)
{
    return h->next_allowed > h->st.hold_until ? h->next_allowed : h->st.hold_until;
}

/* 1 when a should come out of its heap before b. */
static int heap_before(int which, const fr_host *a, const fr_host *b)
{
    if (which == H_READY) {
        int pa = a->levels[0].priority, pb = b->levels[0].priority;
        if (pa != pb)
            return pa > pb;
        return a->seq < b->seq;
    }
    double ta = ready_time(a), tb = ready_time(b);
    if (ta != tb)
        return ta < tb;
    return a->seq < b->seq;
}

static void heap_set(fr_heap *hp, size_t i, fr_host *h)
{
    hp->h[i] = h;
    h->hidx = i;
}

static void heap_up(fr_heap *hp, int which, size_t i)
{
    fr_host *h = hp->h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(which, h, hp->h[p]))
            break;
        heap_set(hp, i, hp->h[p]);
        i = p;
    }
    heap_set(hp, i, h);
}

static void heap_down(fr_heap *hp, int which, size_t i)
{
    fr_host *h = hp->h[i];
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        fr_host *bh = h;
        if (l < hp->n && heap_before(which, hp->h[l], bh))
            best = l, bh = hp->h[l];
        if (l + 1 < hp->n && heap_before(which, hp->h[l + 1], bh))
            best = l + 1, bh = hp->h[l + 1];
        if (best == i)
            break;
        heap_set(hp, i, bh);
        i = best;
    }
    heap_set(hp, i, h);
}

/* Heaps are sized to the host table (every host fits), so no allocation. */
static void heap_insert(fr_heap *hp, int which, fr_host *h)
{
    hp->h[hp->n] = h;
    h->hidx = hp->n++;
    heap_up(hp, which, h->hidx);
}

static void heap_remove(fr_heap *hp, int which, fr_host *h)
{
    size_t i = h->hidx;
    fr_host *last = hp->h[--hp->n];
    if (i == hp->n)
        return;
    heap_set(hp, i, last);
    heap_up(hp, which, i);
    heap_down(hp, which, last->hidx);
}

static fr_heap *heap_of(fr_sched *s, int which)
{
    return which == H_READY ? &s->ready : &s->delayed;
}

/* Puts h where its state says. to_back: give it a new place at the end of
 * the ready order (after a dispatch, or on becoming ready). */
static void host_update(fr_sched *s, fr_host *h, double now, int to_back)
{
    int want;
    if (h->queued == 0)
        want = H_IDLE;
    else if (h->in_flight >= s->cfg.max_per_host)
        want = H_FULL;
    else if (ready_time(h) > now)
        want = H_DELAYED;
    else
        want = H_READY;
    if (want == H_READY && h->heap != H_READY)
        to_back = 1;
    if (h->heap == H_READY || h->heap == H_DELAYED)
        heap_remove(heap_of(s, h->heap), h->heap, h);
    if (to_back)
        h->seq = ++s->seq;
    h->heap = want;
    if (want == H_READY || want == H_DELAYED)
        heap_insert(heap_of(s, want), want, h);
}

/* Moves delayed hosts whose time has come to the ready heap. */
static void promote(fr_sched *s, double now)
{
    while (s->delayed.n && ready_time(s->delayed.h[0]) <= now)
        host_update(s, s->delayed.h[0], now, 1);
}

/* ------------------------------------------------------------------ */
/* hosts */

static size_t host_slot(fr_sched *s, const char *key)
{
    size_t mask = s->caphosts - 1;
    size_t i = (size_t)silk_frontier_hash(key, strlen(key)) & mask;
    while (s->hosts[i] && strcmp(s->hosts[i]->key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Grows the host table and, with it, both heaps (which then always have
 * room for every host). */
static int hosts_grow(fr_sched *s)
{
    size_t ncap = s->caphosts ? s->caphosts * 2 : 64;
    fr_host **nh = s_alloc(s, ncap * sizeof *nh);
    fr_host **r = s_alloc(s, ncap * sizeof *r);
    fr_host **d = s_alloc(s, ncap * sizeof *d);
    if (!nh || !r || !d) {
        s_free(s, nh, ncap * sizeof *nh);
        s_free(s, r, ncap * sizeof *r);
        s_free(s, d, ncap * sizeof *d);
        return SILK_FRONTIER_ENOMEM;
    }
    memset(nh, 0, ncap * sizeof *nh);
    fr_host **old = s->hosts;
    size_t oldcap = s->caphosts;
    s->hosts = nh;
    s->caphosts = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            s->hosts[host_slot(s, old[i]->key)] = old[i];
    s_free(s, old, oldcap * sizeof *old);
    if (s->ready.n)
        memcpy(r, s->ready.h, s->ready.n * sizeof *r);
    if (s->delayed.n)
        memcpy(d, s->delayed.h, s->delayed.n * sizeof *d);
    s_free(s, s->ready.h, s->ready.cap * sizeof *r);
    s_free(s, s->delayed.h, s->delayed.cap * sizeof *d);
    s->ready.h = r;
    s->delayed.h = d;
    s->ready.cap = s->delayed.cap = ncap;
    return 0;
}

static fr_host *host_find(fr_sched *s, const char *key)
{
    return s->hosts[host_slot(s, key)];
}

static fr_host *host_get(fr_sched *s, const char *key)
{
    fr_host *h = host_find(s, key);
    if (h)
        return h;
    if ((s->nhosts + 1) * 4 > s->caphosts * 3 && hosts_grow(s) != 0)
        return NULL;
    size_t klen = strlen(key);
    h = s_alloc(s, sizeof *h + klen + 1);
    if (!h)
        return NULL;
    memset(h, 0, sizeof *h);
    h->key = (char *)(h + 1);
    memcpy(h->key, key, klen + 1);
    h->st.delay = -1;
    h->heap = H_IDLE;
    s->hosts[host_slot(s, key)] = h;
    s->nhosts++;
    return h;
}

/* The level for priority p, created (kept sorted) if absent; NULL on ENOMEM. */
static fr_level *level_get(fr_sched *s, fr_host *h, int p)
{
    int lo = 0, hi = h->nlevels;
    while (lo < hi) { /* first level with priority <= p */
        int mid = (lo + hi) / 2;
        if (h->levels[mid].priority > p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->nlevels && h->levels[lo].priority == p)
        return &h->levels[lo];
    if (h->nlevels == h->caplevels) {
        int ncap = h->caplevels ? h->caplevels * 2 : 1;
        fr_level *nl = s_alloc(s, (size_t)ncap * sizeof *nl);
        if (!nl)
            return NULL;
        if (h->nlevels)
            memcpy(nl, h->levels, (size_t)h->nlevels * sizeof *nl);
        s_free(s, h->levels, (size_t)h->caplevels * sizeof *nl);
        h->levels = nl;
        h->caplevels = ncap;
    }
    memmove(&h->levels[lo + 1], &h->levels[lo], (size_t)(h->nlevels - lo) * sizeof h->levels[0]);
    h->nlevels++;
    memset(&h->levels[lo], 0, sizeof h->levels[0]);
    h->levels[lo].priority = p;
    return &h->levels[lo];
}

static void level_drop_if_empty(fr_host *h, int i)
{
    if (h->levels[i].q.n)
        return;
    memmove(&h->levels[i], &h->levels[i + 1], (size_t)(h->nlevels - i - 1) * sizeof h->levels[0]);
    h->nlevels--;
}

/* Queues e on its host; the host's heap place is the caller's to fix. */
static int enqueue(fr_sched *s, fr_entry *e)
{
    fr_host *h = e->host;
    fr_level *lv = level_get(s, h, e->req.priority);
    if (!lv)
        return SILK_FRONTIER_ENOMEM;
    if (dq_push(s, &lv->q, e) != 0) {
        level_drop_if_empty(h, (int)(lv - h->levels));
        return SILK_FRONTIER_ENOMEM;
    }
    h->queued++;
    s->queued++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* seen-set */

static size_t seen_slot(const fr_sched *s, uint64_t hash)
{
    size_t mask = s->capseen - 1;
    size_t i = (size_t)(hash ^ (hash >> 32)) & mask;
    while (s->seen[i] && s->seen[i] != hash)
        i = (i + 1) & mask;
    return i;
}

static int seen_has(const fr_sched *s, uint64_t hash)
{
    return s->capseen && s->seen[seen_slot(s, hash)] == hash;
}

/* Makes room for one more hash (so the add after it cannot fail). */
static int seen_reserve(fr_sched *s)
{
    if ((s->nseen + 1) * 4 <= s->capseen * 3)
        return 0;
    size_t ncap = s->capseen ? s->capseen * 2 : 1024;
    uint64_t *ns = s_alloc(s, ncap * sizeof *ns);
    if (!ns)
        return SILK_FRONTIER_ENOMEM;
    memset(ns, 0, ncap * sizeof *ns);
    uint64_t *old = s->seen;
    size_t oldcap = s->capseen;
    s->seen = ns;
    s->capseen = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            s->seen[seen_slot(s, old[i])] = old[i];
    s_free(s, old, oldcap * sizeof *old);
    return 0;
}

static void seen_add(fr_sched *s, uint64_t hash)
{
    size_t i = seen_slot(s, hash);
    if (!s->seen[i]) {
        s->seen[i] = hash;
        s->nseen++;
    }
}

int fr_sched_seen_add(fr_sched *s, uint64_t hash)
{
    if (!hash)
        hash = 1;
    if (seen_reserve(s) != 0)
        return SILK_FRONTIER_ENOMEM;
    seen_add(s, hash);
    return 0;
}

/* ------------------------------------------------------------------ */
/* in-flight map (id -> entry) */

static size_t fly_slot(const fr_sched *s, uint64_t id, int for_insert)
{
    size_t mask = s->capfly - 1;
    size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    size_t tomb = (size_t)-1;
    for (;;) {
        fr_entry *e = s->fly[i];
        if (!e)
            return for_insert && tomb != (size_t)-1 ? tomb : i;
        if (e == TOMB) {
            if (tomb == (size_t)-1)
                tomb = i;
        } else if (e->req.id == id) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* Makes room for one more entry: at most half full, tombstones counted. */
static int fly_reserve(fr_sched *s)
{
    if ((s->nfly + s->tombs + 1) * 2 <= s->capfly)
        return 0;
    size_t ncap = 64; /* after the rehash: at most a quarter full */
    while ((s->nfly + 1) * 4 > ncap)
        ncap *= 2;
    fr_entry **nf = s_alloc(s, ncap * sizeof *nf);
    if (!nf)
        return SILK_FRONTIER_ENOMEM;
    memset(nf, 0, ncap * sizeof *nf);
    fr_entry **old = s->fly;
    size_t oldcap = s->capfly;
    s->fly = nf;
    s->capfly = ncap;
    s->tombs = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] && old[i] != TOMB)
            s->fly[fly_slot(s, old[i]->req.id, 1)] = old[i];
    s_free(s, old, oldcap * sizeof *old);
    return 0;
}

static fr_entry *fly_take(fr_sched *s, uint64_t id)
{
    if (!s->capfly)
        return NULL;
    size_t i = fly_slot(s, id, 0);
    fr_entry *e = s->fly[i];
    if (!e)
        return NULL;
    s->fly[i] = TOMB;
    s->nfly--;
    s->tombs++;
    return e;
}

size_t fr_sched_in_flight(fr_sched *s, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->capfly && n < max; i++)
        if (s->fly[i] && s->fly[i] != TOMB)
            ids[n++] = s->fly[i]->req.id;
    return n;
}

/* ------------------------------------------------------------------ */
/* scheduler: life cycle */

static size_t entry_size(const fr_entry *e)
{
    const silk_frontier_req *r = &e->req;
    size_t n = sizeof *e + strlen(r->url) + 1;
    if (r->canonical != r->url)
        n += strlen(r->canonical) + 1;
    if (r->callback)
        n += strlen(r->callback) + 1;
    if (r->meta)
        n += r->meta_len + 1;
    return n;
}

static void entry_free(fr_sched *s, fr_entry *e)
{
    s_free(s, e, entry_size(e));
}

int fr_sched_new(const silk_frontier_cfg *cfg, const fr_hooks *hooks, char *err, fr_sched **out)
{
    fr_sched *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return SILK_FRONTIER_ENOMEM;
    s->mem = sizeof *s;
    s->cfg = *cfg;
    s->cfg.backend = s->cfg.path = s->cfg.name = NULL;
    if (hooks)
        s->hooks = *hooks;
    s->err = err;
    s->next_id = 1;
    s->rng = cfg->seed ? cfg->seed : (uint64_t)(silk_frontier_now() * 1e9) ^ (uint64_t)(uintptr_t)s;
    if (!s->rng)
        s->rng = 0x9e3779b97f4a7c15ull;
    if (hosts_grow(s) != 0) {
        fr_sched_free(s);
        return SILK_FRONTIER_ENOMEM;
    }
    *out = s;
    return 0;
}

void fr_sched_free(fr_sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->caphosts; i++) {
        fr_host *h = s->hosts[i];
        if (!h)
            continue;
        for (int l = 0; l < h->nlevels; l++)
            while (h->levels[l].q.n)
                entry_free(s, dq_pop_front(s, &h->levels[l].q));
        free(h->levels);
        free(h);
    }
    for (size_t i = 0; i < s->capfly; i++)
        if (s->fly[i] && s->fly[i] != TOMB)
            free(s->fly[i]);
    free(s->fly);
    free(s->hosts);
    free(s->ready.h);
    free(s->delayed.h);
    free(s->seen);
    free(s);
}

void fr_sched_min_id(fr_sched *s, uint64_t id)
{
    if (id > s->next_id)
        s->next_id = id;
}

/* ------------------------------------------------------------------ */
/* scheduler: operations */

static void host_changed(fr_sched *s, fr_host *h)
{
    if (s->hooks.host)
        s->hooks.host(s->hooks.ud, h->key, &h->st);
}

static int url_fail(fr_sched *s, int rc, const char *url)
{
    return fr_fail(s->err, rc == SILK_URL_ENOMEM ? SILK_FRONTIER_ENOMEM : SILK_FRONTIER_EURL,
                   "%s: \"%.160s\"", silk_url_strerror(rc), url);
}

int fr_sched_push(fr_sched *s, const silk_frontier_req *req, double now, unsigned flags,
                  const silk_frontier_req **stored)
{
    char *canon_own = NULL, *host_own = NULL;
    const char *canon = req->canonical, *hostkey = req->host;
    fr_entry *e = NULL;
    fr_host *h;
    int rc;
    if (stored)
        *stored = NULL;
    if (!canon) {
        if ((rc = silk_url_canonical(req->url, s->cfg.canon_flags, &canon_own)) != 0) {
            rc = url_fail(s, rc, req->url);
            goto done;
        }
        canon = canon_own;
    }
    size_t clen = strlen(canon);
    uint64_t hash = silk_frontier_hash(canon, clen);
    if (!(flags & FR_PUSH_NO_SEEN) && !(req->flags & SILK_FRONTIER_DONT_FILTER) &&
        seen_has(s, hash)) {
        s->duplicates++;
        rc = SILK_FRONTIER_PUSH_DUP;
        goto done;
    }
    if (!hostkey) {
        if ((rc = silk_url_host_key(canon, &host_own)) != 0) {
            rc = url_fail(s, rc, req->url);
            goto done;
        }
        hostkey = host_own;
    }
    h = host_get(s, hostkey);
    if (!h || (!(flags & FR_PUSH_NO_SEEN) && seen_reserve(s) != 0)) {
        rc = fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        goto done;
    }
    size_t ulen = strlen(req->url);
    int same = strcmp(req->url, canon) == 0;
    size_t cblen = req->callback ? strlen(req->callback) : 0;
    size_t n = sizeof *e + ulen + 1 + (same ? 0 : clen + 1) + (req->callback ? cblen + 1 : 0) +
               (req->meta ? req->meta_len + 1 : 0);
    e = s_alloc(s, n);
    if (!e) {
        rc = fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        goto done;
    }
    char *p = e->data;
    e->req = *req;
    e->host = h;
    e->req.host = h->key;
    e->req.url = memcpy(p, req->url, ulen + 1);
    p += ulen + 1;
    if (same) {
        e->req.canonical = e->req.url;
    } else {
        e->req.canonical = memcpy(p, canon, clen + 1);
        p += clen + 1;
    }
    if (req->callback) {
        e->req.callback = memcpy(p, req->callback, cblen + 1);
        p += cblen + 1;
    }
    if (req->meta) {
        memcpy(p, req->meta, req->meta_len);
        p[req->meta_len] = '\0';
        e->req.meta = p;
    } else {
        e->req.meta_len = 0;
    }
    e->req.id = (flags & FR_PUSH_KEEP_ID) ? req->id : s->next_id;
    if (enqueue(s, e) != 0) {
        entry_free(s, e);
        rc = fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        goto done;
    }
    if (e->req.id >= s->next_id)
        s->next_id = e->req.id + 1;
    if (!(flags & FR_PUSH_NO_SEEN)) {
        seen_add(s, hash);
        s->pushed++;
    }
    host_update(s, h, now, 0);
    if (stored)
        *stored = &e->req;
    rc = SILK_FRONTIER_PUSH_NEW;
done:
    free(host_own);
    free(canon_own);
    return rc;
}

static double host_delay(fr_sched *s, fr_host *h)
{
    double d = h->st.delay >= 0 ? h->st.delay : s->cfg.delay;
    if (d > 0 && s->cfg.jitter > 0) {
        double u = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); /* [0,1) */
        d *= 1.0 + s->cfg.jitter * (2.0 * u - 1.0);
    }
    return d;
}

int fr_sched_pop_ready(fr_sched *s, double now, const silk_frontier_req **out)
{
    *out = NULL;
    promote(s, now);
    if (!s->ready.n)
        return 0;
    if (fly_reserve(s) != 0)
        return fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    fr_host *h = s->ready.h[0];
    fr_level *lv = &h->levels[0];
    fr_entry *e = s->cfg.order == SILK_FRONTIER_DFS ? dq_pop_back(s, &lv->q) : dq_pop_front(s, &lv->q);
    level_drop_if_empty(h, 0);
    h->queued--;
    s->queued--;
    h->in_flight++;
    h->next_allowed = now + host_delay(s, h);
    s->fly[fly_slot(s, e->req.id, 1)] = e;
    s->nfly++;
    s->popped++;
    host_update(s, h, now, 1);
    *out = &e->req;
    return 1;
}

/* Drops every queued request of h (its error budget is spent). */
static void host_drop_queue(fr_sched *s, fr_host *h)
{
    for (int l = 0; l < h->nlevels; l++) {
        fr_deque *q = &h->levels[l].q;
        while (q->n) {
            fr_entry *e = dq_pop_front(s, q);
            if (s->hooks.forget)
                s->hooks.forget(s->hooks.ud, &e->req);
            entry_free(s, e);
            s->dropped++;
        }
    }
    s->queued -= h->queued;
    h->queued = 0;
    h->nlevels = 0;
}

int fr_sched_done(fr_sched *s, uint64_t id, silk_frontier_outcome outcome, double now)
{
    fr_entry *e = fly_take(s, id);
    if (!e)
        return fr_fail(s->err, SILK_FRONTIER_ENOENT, "no request %llu in flight",
                       (unsigned long long)id);
    fr_host *h = e->host;
    int rc = 0, keep = 0, failed_host = 0;
    h->in_flight--;
    switch (outcome) {
    case SILK_FRONTIER_DONE_OK:
        /* the host answered: its failure streak and the backoff it earned
         * are over, even if other requests are still held by it */
        if (h->st.failures) {
            h->st.failures = 0;
            h->st.hold_until = h->asked_hold > now ? h->asked_hold : 0;
            host_changed(s, h);
        }
        break;
    case SILK_FRONTIER_DONE_FAILED:
    case SILK_FRONTIER_DONE_RETRY: {
        s->failures++;
        h->st.failures++;
        int over = h->st.failures - s->cfg.fail_threshold;
        if (over >= 0) {
            double b = s->cfg.backoff_base * ldexp(1.0, over > 60 ? 60 : over);
            if (b > s->cfg.backoff_max)
                b = s->cfg.backoff_max;
            if (now + b > h->st.hold_until)
                h->st.hold_until = now + b;
        }
        failed_host = s->cfg.host_max_failures > 0 && h->st.failures >= s->cfg.host_max_failures;
        keep = outcome == SILK_FRONTIER_DONE_RETRY && !failed_host;
        host_changed(s, h);
        break;
    }
    case SILK_FRONTIER_DONE_RELEASE:
        break;
    case SILK_FRONTIER_DONE_REQUEUE:
        keep = 1;
        break;
    }
    if (failed_host)
        host_drop_queue(s, h);
    if (keep) {
        if (outcome == SILK_FRONTIER_DONE_RETRY)
            e->req.retries++;
        if (enqueue(s, e) != 0) {
            rc = fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory: request dropped");
            keep = 0;
        } else if (outcome == SILK_FRONTIER_DONE_RETRY && s->hooks.retry) {
            s->hooks.retry(s->hooks.ud, &e->req);
        }
    }
    if (!keep) {
        if (failed_host && outcome == SILK_FRONTIER_DONE_RETRY)
            s->dropped++;
        if (s->hooks.forget)
            s->hooks.forget(s->hooks.ud, &e->req);
        entry_free(s, e);
    }
    host_update(s, h, now, 0);
    return rc;
}

double fr_sched_next_wakeup(fr_sched *s, double now)
{
    promote(s, now);
    if (s->ready.n)
        return now;
    if (s->delayed.n)
        return ready_time(s->delayed.h[0]);
    return -1;
}

int fr_sched_set_host(fr_sched *s, const char *host, double delay, double hold_until, double now)
{
    char *key = NULL;
    int rc = silk_url_host_key(host, &key);
    if (rc)
        return url_fail(s, rc, host);
    fr_host *h = host_get(s, key);
    free(key);
    if (!h)
        return fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    if (delay >= 0) {
        /* a shorter delay applies from now on: pull the next slot in */
        double prev = h->st.delay >= 0 ? h->st.delay : s->cfg.delay;
        if (delay < prev && h->next_allowed > now + delay)
            h->next_allowed = now + delay;
        h->st.delay = delay;
    }
    if (hold_until > now) {
        if (hold_until > h->asked_hold)
            h->asked_hold = hold_until;
        if (hold_until > h->st.hold_until)
            h->st.hold_until = hold_until;
    }
    host_changed(s, h);
    host_update(s, h, now, 0);
    return 0;
}

int fr_sched_restore_host(fr_sched *s, const char *host, const fr_host_state *st, double now)
{
    fr_host *h = host_get(s, host);
    if (!h)
        return fr_fail(s->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    h->st = *st;
    host_update(s, h, now, 0);
    return 0;
}

void fr_sched_stats(fr_sched *s, double now, silk_frontier_stats *st, silk_frontier_host_stat *top,
                    size_t ntop)
{
    promote(s, now);
    st->queued = s->queued;
    st->in_flight = s->nfly;
    st->seen = s->nseen;
    st->hosts = s->nhosts;
    st->hosts_ready = s->ready.n;
    st->hosts_delayed = s->delayed.n;
    st->pushed = s->pushed;
    st->duplicates = s->duplicates;
    st->popped = s->popped;
    st->failures = s->failures;
    st->dropped = s->dropped;
    st->memory = s->mem;
    st->ntop = 0;
    for (size_t i = 0; i < s->caphosts; i++) {
        fr_host *h = s->hosts[i];
        if (!h)
            continue;
        if (h->heap == H_FULL)
            st->hosts_full++;
        if (!ntop || (!h->queued && !h->in_flight))
            continue;
        /* insertion into top[], kept sorted by queued, descending */
        size_t j = st->ntop;
        if (j == ntop) {
            if (top[ntop - 1].queued >= h->queued)
                continue;
            j--;
        } else {
            st->ntop++;
        }
        while (j > 0 && top[j - 1].queued < h->queued) {
            top[j] = top[j - 1];
            j--;
        }
        double rt = ready_time(h) - now;
        top[j] = (silk_frontier_host_stat){h->key, h->queued, h->in_flight, h->st.failures,
                                           rt > 0 ? rt : 0};
    }
}

/* ------------------------------------------------------------------ */
/* key/value map: a short list (a handful of keys: sink offsets, name) */

typedef struct fr_kv_item {
    struct fr_kv_item *next;
    char *key, *val;
    size_t len;
    int dirty;
} fr_kv_item;

struct fr_kv {
    fr_kv_item *head;
    size_t ndirty;
};

int fr_kv_new(fr_kv **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : SILK_FRONTIER_ENOMEM;
}

void fr_kv_free(fr_kv *kv)
{
    if (!kv)
        return;
    for (fr_kv_item *it = kv->head, *next; it; it = next) {
        next = it->next;
        free(it->key);
        free(it->val);
        free(it);
    }
    free(kv);
}

static fr_kv_item *kv_find(fr_kv *kv, const char *key)
{
    for (fr_kv_item *it = kv->head; it; it = it->next)
        if (strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

int fr_kv_get(fr_kv *kv, const char *key, const char **val, size_t *len)
{
    fr_kv_item *it = kv_find(kv, key);
    if (!it)
        return 0;
    *val = it->val;
    *len = it->len;
    return 1;
}

int fr_kv_set(fr_kv *kv, const char *key, const char *val, size_t len)
{
    char *v = malloc(len + 1);
    if (!v)
        return SILK_FRONTIER_ENOMEM;
    memcpy(v, val, len);
    v[len] = '\0';
    fr_kv_item *it = kv_find(kv, key);
    if (!it) {
        it = calloc(1, sizeof *it);
        char *k = strdup(key);
        if (!it || !k) {
            free(it);
            free(k);
            free(v);
            return SILK_FRONTIER_ENOMEM;
        }
        it->key = k;
        it->next = kv->head;
        kv->head = it;
    }
    free(it->val);
    it->val = v;
    it->len = len;
    if (!it->dirty) {
        it->dirty = 1;
        kv->ndirty++;
    }
    return 0;
}

int fr_kv_each_dirty(fr_kv *kv, int (*fn)(void *ud, const char *key, const char *val, size_t len),
                     void *ud)
{
    for (fr_kv_item *it = kv->head; it; it = it->next)
        if (it->dirty) {
            int rc = fn(ud, it->key, it->val, it->len);
            if (rc)
                return rc;
        }
    return 0;
}

void fr_kv_clear_dirty(fr_kv *kv)
{
    for (fr_kv_item *it = kv->head; it; it = it->next)
        it->dirty = 0;
    kv->ndirty = 0;
}

size_t fr_kv_dirty_count(const fr_kv *kv)
{
    return kv->ndirty;
}

/* ------------------------------------------------------------------ */
/* request bytes:
 *   "SR" version(1)  depth priority retries flags (4 x int32 LE)
 *   then five strings url, canonical, host, callback, meta, each as
 *   length (uint32 LE; 0xffffffff = absent; 0xfffffffe for canonical:
 *   same as url) + bytes + NUL. */

#define REQ_ABSENT 0xffffffffu
#define REQ_SAME_AS_URL 0xfffffffeu /* canonical: equal to url (the usual case) */
#define REQ_HDR 19

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
    p[2] = (char)((v >> 16) & 0xff);
    p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

int fr_req_encode(const silk_frontier_req *r, char **blob, size_t *len)
{
    const char *str[5] = {r->url, r->canonical, r->host, r->callback, r->meta};
    size_t slen[5];
    size_t n = REQ_HDR;
    int same = r->canonical && strcmp(r->canonical, r->url) == 0;
    for (int i = 0; i < 5; i++) {
        slen[i] = !str[i] ? 0 : i == 4 ? r->meta_len : strlen(str[i]);
        if (slen[i] >= REQ_SAME_AS_URL)
            return SILK_FRONTIER_EINVAL;
        if (i == 1 && same)
            str[i] = NULL, slen[i] = 0;
        n += 4 + (str[i] ? slen[i] + 1 : 0);
    }
    char *b = malloc(n), *p = b;
    if (!b)
        return SILK_FRONTIER_ENOMEM;
    *p++ = 'S';
    *p++ = 'R';
    *p++ = 1;
    put32(p, (uint32_t)r->depth);
    put32(p + 4, (uint32_t)r->priority);
    put32(p + 8, (uint32_t)r->retries);
    put32(p + 12, r->flags);
    p += 16;
    for (int i = 0; i < 5; i++) {
        put32(p, str[i] ? (uint32_t)slen[i] : i == 1 && same ? REQ_SAME_AS_URL : REQ_ABSENT);
        p += 4;
        if (str[i]) {
            memcpy(p, str[i], slen[i]);
            p[slen[i]] = '\0';
            p += slen[i] + 1;
        }
    }
    *blob = b;
    *len = n;
    return 0;
}

int fr_req_decode(const char *b, size_t len, silk_frontier_req *r)
{
    memset(r, 0, sizeof *r);
    if (len < REQ_HDR || b[0] != 'S' || b[1] != 'R' || b[2] != 1)
        return SILK_FRONTIER_ECORRUPT;
    r->depth = (int32_t)get32(b + 3);
    r->priority = (int32_t)get32(b + 7);
    r->retries = (int32_t)get32(b + 11);
    r->flags = get32(b + 15);
    size_t off = REQ_HDR;
    const char *str[5];
    size_t slen[5];
    for (int i = 0; i < 5; i++) {
        if (len - off < 4)
            return SILK_FRONTIER_ECORRUPT;
        uint32_t l = get32(b + off);
        off += 4;
        if (l == REQ_ABSENT || (l == REQ_SAME_AS_URL && i == 1)) {
            str[i] = l == REQ_ABSENT ? NULL : str[0];
            slen[i] = l == REQ_ABSENT ? 0 : slen[0];
            continue;
        }
        if (len - off < (size_t)l + 1 || b[off + l] != '\0')
            return SILK_FRONTIER_ECORRUPT;
        str[i] = b + off;
        slen[i] = l;
        off += (size_t)l + 1;
    }
    if (off != len || !str[0] || !str[1] || !str[2])
        return SILK_FRONTIER_ECORRUPT;
    r->url = str[0];
    r->canonical = str[1];
    r->host = str[2];
    r->callback = str[3];
    r->meta = str[4];
    r->meta_len = slen[4];
    return 0;
}
