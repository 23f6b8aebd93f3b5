/*
 * frontier_redis.c -- the shared frontier: one crawl, many silk processes,
 * one Redis (>= 6.2). Selected with backend "redis" and url
 * "redis://[[USER]:PASSWORD@]IP:PORT/NAME[?visibility=S&prefetch=N&block_ms=M&consumer=ID]"
 * (no password in the URL: $SILK_REDIS_PASSWORD, if set, is sent).
 * Its files (frontier_redis_int.h lists them) and frontier_collect.c
 * (`silk collect`, which borrows its URL parsing and blocking connection)
 * are the only ones that talk to hiredis (0.14: async API on the engine's
 * libev loop; no async timeouts and synchronous name resolution there,
 * hence our own deadlines and IP addresses only).
 *
 * Keys, all under the hash tag {NAME} so that one crawl lives in one slot
 * (Redis Cluster runs it unchanged, on one shard):
 *   {NAME}:q        stream of requests (field r = fr_req_encode bytes),
 *                   consumer group "silk"; an entry is XDEL'd once acked
 *   {NAME}:seen     set of 8-byte canonical-URL hashes (silk_frontier_hash)
 *   {NAME}:open     entries added and not yet acknowledged: 0 = crawl over
 *   {NAME}:next     hash host -> ms (server clock) before which no dispatch
 *   {NAME}:l:HOST   zset of leases (token "CONSUMER/ID" -> expiry ms)
 *   {NAME}:items    stream of items (field i = one JSON text), --items redis
 *   {NAME}:ikeys    set of 8-byte item-key hashes: one group of items per key
 *   {NAME}:collected hash: output path -> its size after the last batch
 *                   `silk collect` appended (silk_frontier_collect)
 *   {NAME}:s:KEY    shared values with a TTL (robots.txt of a host)
 *   {NAME}:epoch    the crawl's identity, set by the first worker: every
 *                   script that writes checks it, so a Redis that lost the
 *                   crawl (restarted without persistence, flushed, failed
 *                   over to a lagging replica) is refused, not taken for a
 *                   crawl that is over
 *
 * How the synchronous frontier API sits on the asynchronous Redis:
 *  - push: a local pre-filter (hashes this process pushed) answers DUP at
 *    once; anything else is appended to the `eager` batch and answered
 *    PUSH_UNKNOWN. The dedupe itself happens server-side in APPLY (SADD,
 *    then XADD + INCR open only when the hash was new), atomically.
 *  - pop_ready: hands out entries from the local `ready` list only. Entries
 *    arrive by XREADGROUP (dedicated connection, BLOCK) or XAUTOCLAIM into
 *    `wait`; LEASE (a script on the server clock) grants each one a slot of
 *    its host (in-flight zset < max_per_host and next-allowed time passed),
 *    which moves it to `ready`. So max_per_host and delay hold for the fleet.
 *    When nothing is ready, pop_ready returns 0 and next_wakeup says "poll
 *    again in POLL seconds" while Redis may still deliver (the Lua runner
 *    sleeps until then); the notify hook is not used.
 *  - done: the lease release goes out eagerly (politeness); the XACK waits in
 *    the `durable` batch until checkpoint(), which the runner calls right
 *    after flushing its item sink: nothing is acknowledged before its items
 *    are written. Items bound for Redis (silk_frontier_item) join `durable`
 *    when the page's callback made them, so the APPLY that acknowledges a
 *    page stores its items first, in the same script. Pushes go before the ack of the page that made them (one
 *    connection, one APPLY in flight, in order), so `open` reaches 0 only
 *    when the crawl is over.
 *  - every batch stays in memory until its reply; after a lost connection it
 *    is sent again. Every op is idempotent (SADD dedupe, XACK returns 0 the
 *    second time, ZREM), so "sent twice" is harmless and "acknowledged" is
 *    never lost.
 *  - a lost connection pauses pop_ready, reconnects with backoff
 *    (RECONNECT_MIN..MAX), re-creates the group if Redis lost it, resends.
 *  - TICK (every TICK_EVERY s): reads `open`, and every visibility/3 s
 *    re-claims (XCLAIM JUSTID) this worker's entries and refreshes its
 *    leases, so a live worker's work is never taken; a dead worker's entries
 *    are idle past `visibility` and XAUTOCLAIMed by the others (reply parsed
 *    in both the 6.2 and the 7.0 shape), its leases expire.
 *  - shared get/set (robots.txt for the fleet): plain GET / SET PX [NX] on
 *    the cmd connection, each with its own deadline; a lost connection
 *    answers them EIO (hiredis calls back with no reply).
 *  - a hold (Retry-After, set_host hold=) goes to `next` for the whole fleet.
 *  - close: one synchronous connection: sends what is unsent, hands back the
 *    leases and every entry still pending for this consumer (re-added to the
 *    stream), deletes the consumer.
 * Not done here: priorities and order (the stream is FIFO), per-host backoff
 * after failures (per process).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "frontier_redis_int.h"
#include "url.h"

/* small helpers */

void fr_redis_rlog(red_frontier *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fr_redis_rlog(red_frontier *r, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "silk: redis %s:%d/%s: %s\n", r->at.ip, r->at.port, r->at.name, msg);
}

int fr_redis_ab_add(argbuf *b, const void *s, size_t n)
{
    if (b->argc == b->capargs) {
        size_t nc = b->capargs ? b->capargs * 2 : 64;
        size_t *o = realloc(b->off, nc * sizeof *o);
        if (!o)
            return -1;
        b->off = o;
        size_t *l = realloc(b->alen, nc * sizeof *l);
        if (!l)
            return -1;
        b->alen = l;
        b->capargs = nc;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->len + n)
            nc *= 2;
        char *d = realloc(b->data, nc);
        if (!d)
            return -1;
        b->data = d;
        b->cap = nc;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->off[b->argc] = b->len;
    b->alen[b->argc] = n;
    b->argc++;
    b->len += n;
    return 0;
}

int fr_redis_ab_str(argbuf *b, const char *s) { return fr_redis_ab_add(b, s, strlen(s)); }

/* Rolls b back to argc/len (an op that could not be added whole). */
void fr_redis_ab_truncate(argbuf *b, size_t argc)
{
    if (argc < b->argc) {
        b->len = b->off[argc];
        b->argc = argc;
    }
}

int fr_redis_ab_move(argbuf *dst, argbuf *src)
{
    size_t argc0 = dst->argc;
    for (size_t i = 0; i < src->argc; i++)
        if (fr_redis_ab_add(dst, src->data + src->off[i], src->alen[i]) != 0) {
            fr_redis_ab_truncate(dst, argc0);
            return -1;
        }
    dst->nops += src->nops;
    src->argc = src->len = src->nops = 0;
    return 0;
}

void fr_redis_ab_free(argbuf *b)
{
    free(b->data);
    free(b->off);
    free(b->alen);
    memset(b, 0, sizeof *b);
}

static size_t bytes_pending(const red_frontier *r)
{
    return r->eager.len + r->durable.len + r->sending.len;
}

void fr_redis_list_add(red_frontier *r, rent *e, int which)
{
    rlist *l = &r->lists[which];
    e->list = which;
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
}

void fr_redis_list_del(red_frontier *r, rent *e)
{
    rlist *l = &r->lists[e->list];
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    l->n--;
    e->prev = e->next = NULL;
}

void fr_redis_rent_free(rent *e)
{
    if (e) {
        free(e->blob);
        free(e);
    }
}

static size_t held(const red_frontier *r)
{
    return r->lists[L_WAIT].n + r->lists[L_READY].n + r->lists[L_FLY].n;
}

static int seen_has(const red_frontier *r, uint64_t h)
{
    if (!r->seen_cap)
        return 0;
    for (size_t i = h & (r->seen_cap - 1);; i = (i + 1) & (r->seen_cap - 1)) {
        if (r->seen[i] == h)
            return 1;
        if (r->seen[i] == 0)
            return 0;
    }
}

/* Best effort: a full or unallocatable table just filters less. */
static void seen_add(red_frontier *r, uint64_t h)
{
    if ((r->seen_n + 1) * 4 > r->seen_cap * 3) {
        size_t nc = r->seen_cap ? r->seen_cap * 2 : 4096;
        if (nc > SEEN_LOCAL_MAX)
            return;
        uint64_t *n = calloc(nc, sizeof *n);
        if (!n)
            return;
        for (size_t i = 0; i < r->seen_cap; i++)
            if (r->seen[i]) {
                size_t j = r->seen[i] & (nc - 1);
                while (n[j])
                    j = (j + 1) & (nc - 1);
                n[j] = r->seen[i];
            }
        free(r->seen);
        r->seen = n;
        r->seen_cap = nc;
    }
    size_t i = h & (r->seen_cap - 1);
    while (r->seen[i] && r->seen[i] != h)
        i = (i + 1) & (r->seen_cap - 1);
    if (!r->seen[i]) {
        r->seen[i] = h;
        r->seen_n++;
    }
}

host_ov *fr_redis_host_find(red_frontier *r, const char *host)
{
    for (size_t i = 0; i < r->nhosts; i++)
        if (strcmp(r->hosts[i].host, host) == 0)
            return &r->hosts[i];
    return NULL;
}

double fr_redis_rand01(red_frontier *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (double)(r->rng >> 11) * (1.0 / 9007199254740992.0);
}

/* the frontier ops */

static int red_push(silk_frontier *f, const silk_frontier_req *req, double now)
{
    red_frontier *r = R(f);
    char *canon_own = NULL, *host_own = NULL, *blob = NULL;
    size_t blen;
    int rc;
    silk_frontier_req q = *req;
    if (!q.canonical) {
        if ((rc = silk_url_canonical(q.url, r->cfg.canon_flags, &canon_own)) != 0) {
            rc = fr_fail(f->err, rc == SILK_URL_ENOMEM ? SILK_FRONTIER_ENOMEM : SILK_FRONTIER_EURL,
                         "%s: \"%.160s\"", silk_url_strerror(rc), q.url);
            goto done;
        }
        q.canonical = canon_own;
    }
    uint64_t h = silk_frontier_hash(q.canonical, strlen(q.canonical));
    int df = (q.flags & SILK_FRONTIER_DONT_FILTER) != 0;
    if (!df && seen_has(r, h)) {
        r->dups++;
        rc = SILK_FRONTIER_PUSH_DUP;
        goto done;
    }
    if (!q.host) {
        if ((rc = silk_url_host_key(q.canonical, &host_own)) != 0) {
            rc = fr_fail(f->err, rc == SILK_URL_ENOMEM ? SILK_FRONTIER_ENOMEM : SILK_FRONTIER_EURL,
                         "%s: \"%.160s\"", silk_url_strerror(rc), q.url);
            goto done;
        }
        q.host = host_own;
    }
    if (bytes_pending(r) > BYTES_MAX) {
        rc = fr_fail(f->err, SILK_FRONTIER_ENOMEM, "redis unreachable and %u MB of ops wait",
                     BYTES_MAX >> 20);
        goto done;
    }
    if ((rc = fr_req_encode(&q, &blob, &blen)) != 0) {
        rc = fr_fail(f->err, rc, "%s", rc == SILK_FRONTIER_ENOMEM ? "not enough memory" : "request too large");
        goto done;
    }
    char hb[8];
    for (int i = 0; i < 8; i++)
        hb[i] = (char)(h >> (8 * i));
    size_t argc0 = r->eager.argc;
    if (fr_redis_ab_str(&r->eager, "P") || fr_redis_ab_add(&r->eager, hb, 8) || fr_redis_ab_str(&r->eager, df ? "1" : "0") ||
        fr_redis_ab_add(&r->eager, blob, blen)) {
        fr_redis_ab_truncate(&r->eager, argc0);
        rc = fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        goto done;
    }
    r->eager.nops++;
    seen_add(r, h);
    fr_redis_pump(r);
    rc = SILK_FRONTIER_PUSH_UNKNOWN;
done:
    free(blob);
    free(host_own);
    free(canon_own);
    return rc;
}

static int red_pop_ready(silk_frontier *f, double now, const silk_frontier_req **out)
{
    red_frontier *r = R(f);
    rent *e = r->lists[L_READY].head;
    *out = NULL;
    if (r->lost)
        return fr_fail(f->err, SILK_FRONTIER_EIO, "%s", LOST_MSG);
    if (!e || !r->cmd.up) { /* paused while the connection is down */
        fr_redis_pump(r);
        return 0;
    }
    fr_redis_list_del(r, e);
    fr_redis_list_add(r, e, L_FLY);
    r->popped++;
    *out = &e->req;
    fr_redis_pump(r);
    return 1;
}

static int red_done(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now)
{
    red_frontier *r = R(f);
    rent *e = r->lists[L_FLY].head;
    while (e && e->req.id != id)
        e = e->next;
    if (!e)
        return fr_fail(f->err, SILK_FRONTIER_ENOENT, "request %llu is not in flight",
                       (unsigned long long)id);
    char *again = NULL;
    size_t alen = 0;
    if (outcome == SILK_FRONTIER_DONE_RETRY || outcome == SILK_FRONTIER_DONE_REQUEUE) {
        silk_frontier_req q = e->req;
        if (outcome == SILK_FRONTIER_DONE_RETRY)
            q.retries++;
        if (fr_req_encode(&q, &again, &alen) != 0)
            return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    }
    if (outcome == SILK_FRONTIER_DONE_FAILED || outcome == SILK_FRONTIER_DONE_RETRY)
        r->failures++;
    size_t e0 = r->eager.argc, d0 = r->durable.argc;
    char token[160];
    snprintf(token, sizeof token, "%s/%s", r->at.consumer, e->sid);
    if ((e->leased && (fr_redis_ab_str(&r->eager, "U") || fr_redis_ab_str(&r->eager, e->req.host) ||
                       fr_redis_ab_str(&r->eager, token))) ||
        fr_redis_ab_str(&r->durable, "A") || fr_redis_ab_str(&r->durable, e->sid) ||
        fr_redis_ab_add(&r->durable, again ? again : "", alen)) {
        fr_redis_ab_truncate(&r->eager, e0);
        fr_redis_ab_truncate(&r->durable, d0);
        free(again);
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    }
    if (e->leased)
        r->eager.nops++;
    r->durable.nops++;
    free(again);
    fr_redis_list_del(r, e);
    fr_redis_rent_free(e);
    fr_redis_pump(r);
    return 0;
}

static double red_next_wakeup(silk_frontier *f, double now)
{
    red_frontier *r = R(f);
    if (r->lists[L_READY].n && r->cmd.up)
        return now;
    silk_frontier_stats st;
    f->ops->stats(f, now, &st, NULL, 0);
    return st.queued || st.in_flight ? now + POLL : -1;
}

static int red_set_host(silk_frontier *f, const char *host, double delay, double hold_until,
                        double now)
{
    red_frontier *r = R(f);
    char *key = NULL;
    int rc = silk_url_host_key(host, &key);
    if (rc != 0)
        return fr_fail(f->err, rc == SILK_URL_ENOMEM ? SILK_FRONTIER_ENOMEM : SILK_FRONTIER_EURL,
                       "%s: \"%.160s\"", silk_url_strerror(rc), host);
    host_ov *ov = fr_redis_host_find(r, key);
    if (!ov) {
        host_ov *n = realloc(r->hosts, (r->nhosts + 1) * sizeof *n);
        if (!n) {
            free(key);
            return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        }
        r->hosts = n;
        ov = &r->hosts[r->nhosts++];
        ov->host = key;
        ov->delay = -1;
        ov->hold_until = 0;
        key = NULL;
    }
    free(key);
    if (delay >= 0)
        ov->delay = delay;
    if (hold_until > now) {
        ov->hold_until = hold_until;
        char ms[32];
        snprintf(ms, sizeof ms, "%.0f", (hold_until - now) * 1000);
        size_t argc0 = r->eager.argc;
        if (fr_redis_ab_str(&r->eager, "H") || fr_redis_ab_str(&r->eager, ov->host) || fr_redis_ab_str(&r->eager, ms)) {
            fr_redis_ab_truncate(&r->eager, argc0); /* the hold still holds for this process */
        } else {
            r->eager.nops++;
            fr_redis_pump(r);
        }
    }
    return 0;
}

static int red_item(silk_frontier *f, const char *key, size_t klen, const char *const *data,
                    const size_t *len, size_t n)
{
    red_frontier *r = R(f);
    uint64_t h = silk_frontier_hash(key, klen);
    char hb[8];
    for (int i = 0; i < 8; i++)
        hb[i] = (char)(h >> (8 * i));
    if (bytes_pending(r) > BYTES_MAX)
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "redis unreachable and %u MB of ops wait",
                       BYTES_MAX >> 20);
    char count[32];
    snprintf(count, sizeof count, "%zu", n);
    size_t argc0 = r->durable.argc;
    int bad = fr_redis_ab_str(&r->durable, "I") || fr_redis_ab_add(&r->durable, hb, 8) || fr_redis_ab_str(&r->durable, count);
    for (size_t i = 0; i < n && !bad; i++)
        bad = fr_redis_ab_add(&r->durable, data[i], len[i]);
    if (bad) {
        fr_redis_ab_truncate(&r->durable, argc0);
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    }
    r->durable.nops++;
    return 0;
}

static void on_shared_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    shreq *q = privdata;
    red_frontier *r = q->r;
    const redisReply *rep = reply;
    if (q->prev)
        q->prev->next = q->next;
    else
        r->shared = q->next;
    if (q->next)
        q->next->prev = q->prev;
    if (q->cb) {
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            if (rep)
                fr_redis_rlog(r, "shared %s failed: %s", q->is_set ? "SET" : "GET", rep->str);
            q->cb(q->ud, SILK_FRONTIER_EIO, NULL, 0);
        } else if (q->is_set) {
            q->cb(q->ud, 0, NULL, rep->type == REDIS_REPLY_STATUS);
        } else if (rep->type == REDIS_REPLY_STRING) {
            q->cb(q->ud, 0, rep->str, (size_t)rep->len);
        } else {
            q->cb(q->ud, 0, NULL, 0);
        }
    }
    free(q);
}

static int red_shared(silk_frontier *f, const char *key, const char *val, size_t len, double ttl,
                      int nx, silk_frontier_shared_fn cb, void *ud, uint64_t *token)
{
    red_frontier *r = R(f);
    if (!r->cmd.up || r->closing)
        return fr_fail(f->err, SILK_FRONTIER_EIO, "redis is not connected");
    size_t kl = strlen(r->at.k_shared) + strlen(key) + 1;
    char *k = malloc(kl);
    shreq *q = calloc(1, sizeof *q);
    if (!k || !q) {
        free(k);
        free(q);
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    }
    snprintf(k, kl, "%s%s", r->at.k_shared, key);
    char px[32];
    snprintf(px, sizeof px, "%.0f", ttl * 1000 < 1 ? 1 : ttl * 1000);
    const char *argv[6] = {val ? "SET" : "GET", k, val, "PX", px, "NX"};
    size_t alen[6] = {3, kl - 1, len, 2, strlen(px), 2};
    int argc = val ? (nx ? 6 : 5) : 2;
    q->r = r;
    q->cb = cb;
    q->ud = ud;
    q->is_set = val != NULL;
    q->token = ++r->next_token;
    q->deadline = silk_frontier_now() + CMD_TIMEOUT;
    int rc = redisAsyncCommandArgv(r->cmd.ac, on_shared_reply, q, argc, argv, alen);
    free(k);
    if (rc != REDIS_OK) {
        free(q);
        return fr_fail(f->err, SILK_FRONTIER_EIO, "redis is not connected");
    }
    q->next = r->shared;
    if (r->shared)
        r->shared->prev = q;
    r->shared = q;
    *token = q->token;
    return 0;
}

static void red_shared_forget(silk_frontier *f, uint64_t token)
{
    for (shreq *q = R(f)->shared; q; q = q->next)
        if (q->token == token)
            q->cb = NULL;
}

static void red_stats(silk_frontier *f, double now, silk_frontier_stats *st,
                      silk_frontier_host_stat *top, size_t ntop)
{
    red_frontier *r = R(f);
    memset(st, 0, sizeof *st);
    size_t local = r->lists[L_WAIT].n + r->lists[L_READY].n;
    size_t ops = r->eager.nops + r->durable.nops + r->sending.nops;
    /* the crawl is over for this worker when nothing is held or unsent and
     * Redis said no entry is open */
    long long remote = r->open < 0 ? 1 : r->open - (long long)held(r);
    st->queued = local + ops + (remote > 0 ? (size_t)remote : 0);
    st->in_flight = r->lists[L_FLY].n;
    st->seen = r->seen_remote > 0 ? (size_t)r->seen_remote : r->seen_n;
    st->pushed = r->pushed;
    st->duplicates = r->dups;
    st->popped = r->popped;
    st->failures = r->failures;
    st->items = r->items;
    st->item_duplicates = r->item_dups;
    st->journal = ops;
    st->hosts = r->nhosts;
    st->memory = sizeof *r + r->seen_cap * 8 + r->eager.cap + r->durable.cap + r->sending.cap +
                 held(r) * (sizeof(rent) + 256);
    st->ntop = 0;
}

/* Moves the acks held since the last call into the next APPLY: the caller
 * has flushed its items first. Returns 1 when something was queued. */
static int red_checkpoint(silk_frontier *f, double now, int force)
{
    red_frontier *r = R(f);
    if (r->lost)
        return fr_fail(f->err, SILK_FRONTIER_EIO, "%s", LOST_MSG);
    if (!r->durable.argc)
        return 0;
    if (fr_redis_ab_move(&r->eager, &r->durable) != 0)
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    fr_redis_pump(r);
    return 1;
}

static int red_kv_get(silk_frontier *f, const char *key, const char **val, size_t *len)
{
    return 0; /* per-process state has no place in a shared crawl */
}

static int red_kv_set(silk_frontier *f, const char *key, const char *val, size_t len)
{
    return 0;
}

static void red_close(silk_frontier *f)
{
    red_frontier *r = R(f);
    r->closing = 1;
    ev_timer_stop(r->loop, &r->pump_timer);
    ev_timer_stop(r->loop, &r->cmd.retry);
    ev_timer_stop(r->loop, &r->rd.retry);
    fr_redis_conn_drop(&r->rd);  /* NULL-reply callbacks run here, then nothing else can */
    fr_redis_conn_drop(&r->cmd);
    if (!r->lost)
        fr_redis_sync_giveback(r);
    for (int l = 0; l < NLIST; l++)
        while (r->lists[l].head) {
            rent *e = r->lists[l].head;
            fr_redis_list_del(r, e);
            fr_redis_rent_free(e);
        }
    fr_redis_ab_free(&r->eager);
    fr_redis_ab_free(&r->durable);
    fr_redis_ab_free(&r->sending);
    for (size_t i = 0; i < r->nhosts; i++)
        free(r->hosts[i].host);
    free(r->hosts);
    free(r->seen);
    free(r);
}

static const silk_frontier_ops red_ops = {
    .name = "redis",
    .push = red_push,
    .pop_ready = red_pop_ready,
    .done = red_done,
    .next_wakeup = red_next_wakeup,
    .set_host = red_set_host,
    .stats = red_stats,
    .checkpoint = red_checkpoint,
    .kv_get = red_kv_get,
    .kv_set = red_kv_set,
    .item = red_item,
    .shared = red_shared,
    .shared_forget = red_shared_forget,
    .close = red_close,
};

int fr_redis_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen)
{
    if (!cfg->url || !cfg->loop) {
        snprintf(err, errlen, "the redis frontier needs url= and the engine's loop");
        return SILK_FRONTIER_EINVAL;
    }
    red_frontier *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "not enough memory");
        return SILK_FRONTIER_ENOMEM;
    }
    r->at.visibility = 60;
    r->at.prefetch = 32;
    r->at.block_ms = 200;
    int rc = fr_redis_parse_url(&r->at, cfg->url, r->base.err, sizeof r->base.err);
    if (rc) {
        snprintf(err, errlen, "%s", r->base.err);
        free(r);
        return rc;
    }
    if (!r->at.consumer[0]) {
        char hn[64] = "host";
        gethostname(hn, sizeof hn);
        hn[sizeof hn - 1] = '\0';
        snprintf(r->at.consumer, sizeof r->at.consumer, "%.60s-%ld-%lx", hn, (long)getpid(),
                 (unsigned long)(silk_frontier_now() * 1e6) & 0xffffff);
    }
    fr_redis_name_keys(&r->at);
    strcpy(r->claim_cursor, "0-0");
    if ((rc = fr_redis_sync_prepare(r, err, errlen)) != 0) {
        free(r);
        return rc;
    }
    r->cfg = *cfg;
    r->cfg.backend = r->cfg.path = r->cfg.name = r->cfg.url = NULL;
    r->cfg.loop = NULL;
    r->loop = cfg->loop;
    r->open = -1;
    r->rng = cfg->seed ? cfg->seed : (uint64_t)(silk_frontier_now() * 1e9) | 1;
    for (int s = 0; s < NSLOT; s++) {
        r->slots[s].r = r;
        r->slots[s].kind = s;
    }
    r->cmd.r = r->rd.r = r;
    r->cmd.name = "cmd";
    r->rd.name = "read";
    r->cmd.backoff = r->rd.backoff = RECONNECT_MIN;
    ev_timer_init(&r->cmd.retry, fr_redis_on_retry, 0, 0);
    ev_timer_init(&r->rd.retry, fr_redis_on_retry, 0, 0);
    ev_timer_init(&r->pump_timer, fr_redis_on_pump, PUMP_EVERY, PUMP_EVERY);
    ev_timer_start(r->loop, &r->pump_timer);
    r->base.magic = SILK_FRONTIER_MAGIC;
    r->base.ops = &red_ops;
    fr_redis_conn_start(&r->cmd);
    fr_redis_conn_start(&r->rd);
    *out = &r->base;
    return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)
const char *silk_frontier_hiredis_version(void)
{
    return STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH);
}
