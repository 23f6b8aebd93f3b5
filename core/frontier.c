/*
 * frontier.c -- the frontier's shared logic: the public entry points (handle
 * check, then the backend's op), the key/value map and the request byte
 * form. See frontier.h for the contract and frontier_int.h for what the
 * backends use; the in-memory scheduler every local backend runs on is
 * frontier_sched.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontier_int.h"

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
