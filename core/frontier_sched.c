/*
 * frontier_sched.c -- the in-memory scheduler every local backend runs on
 * (fr_sched in frontier_int.h): per-host chunked queues, priority levels,
 * ready/delayed host heaps, the seen-set, the in-flight map and backoff.
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontier_int.h"
#include "url.h"

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
