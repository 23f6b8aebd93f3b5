/*
 * frontier_redis.c -- the shared frontier: one crawl, many silk processes,
 * one Redis (>= 6.2). Selected with backend "redis" and url
 * "redis://[[USER]:PASSWORD@]IP:PORT/NAME[?visibility=S&prefetch=N&block_ms=M&consumer=ID]"
 * (no password in the URL: $SILK_REDIS_PASSWORD, if set, is sent).
 * With frontier_collect.c (`silk collect`, which borrows its URL parsing and
 * blocking connection through frontier_redis_int.h), the only file that talks
 * to hiredis (0.14: async API on the engine's libev loop; no async timeouts
 * and synchronous name resolution there, hence our own deadlines and IP
 * addresses only).
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
#include <arpa/inet.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "frontier_redis_int.h"
#include "url.h"

#define GROUP "silk"
#define TICK_EVERY 0.1        /* seconds between TICK scripts */
#define PUMP_EVERY 0.01       /* the timer that retries leases and checks deadlines */
#define POLL 0.005            /* next_wakeup while Redis may still deliver */
#define FULL_RETRY 0.02       /* a host at max_per_host: ask again after this */
#define CMD_TIMEOUT 5.0       /* seconds a reply may take (plus block_ms for reads) */
#define RECONNECT_MIN 0.05
#define RECONNECT_MAX 2.0
#define LEASE_BATCH 64        /* entries per LEASE call */
#define BYTES_MAX (256u << 20) /* unsent ops beyond this: push fails ENOMEM */
#define SEEN_LOCAL_MAX (1u << 22) /* local pre-filter slots (32 MB) */

/* ------------------------------------------------------------------ */
/* server-side scripts (EVAL; Redis caches them by SHA) */

/* The error every writing script answers when {NAME}:epoch is not the one
 * this worker joined; it stops the worker (LOST_MSG). */
#define EPOCH_ERR "SILKEPOCH"
#define LOST_MSG "Redis no longer holds this crawl (its epoch marker is gone or another: " \
                 "restarted without persistence, flushed, or failed over to a lagging " \
                 "replica); this worker stops rather than take the crawl for finished"

/* KEYS q seen open items ikeys next epoch; ARGV group leaseprefix epoch, then ops:
 *   P hash dont_filter blob   push (dedupe, queue)
 *   U host token              release a lease
 *   A id blob                 ack id; blob ~= '': queue blob again (retry)
 *   I hash n json...          store n items unless their key hash is known
 *   H host ms                 no dispatch to host for ms (server clock)
 * -> {open, new, dup, items stored, items dropped as duplicates} */
static const char APPLY[] =
    "if redis.call('GET',KEYS[7])~=ARGV[3] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local q,seen,open=KEYS[1],KEYS[2],KEYS[3] local g,hp=ARGV[1],ARGV[2]\n"
    "local new,dup,ni,di,i,now=0,0,0,0,4,nil\n"
    "while i<=#ARGV do local op=ARGV[i]\n"
    " if op=='P' then\n"
    "  local fresh=redis.call('SADD',seen,ARGV[i+1])==1\n"
    "  if fresh or ARGV[i+2]=='1' then redis.call('XADD',q,'*','r',ARGV[i+3])"
    " redis.call('INCR',open) new=new+1 else dup=dup+1 end i=i+4\n"
    " elseif op=='U' then redis.call('ZREM',hp..ARGV[i+1],ARGV[i+2]) i=i+3\n"
    " elseif op=='A' then\n"
    "  if redis.call('XACK',q,g,ARGV[i+1])==1 then redis.call('XDEL',q,ARGV[i+1])\n"
    "   if ARGV[i+2]~='' then redis.call('XADD',q,'*','r',ARGV[i+2])"
    " else redis.call('DECR',open) end end i=i+3\n"
    " elseif op=='I' then local n=tonumber(ARGV[i+2])\n"
    "  if redis.call('SADD',KEYS[5],ARGV[i+1])==1 then\n"
    "   for k=1,n do redis.call('XADD',KEYS[4],'*','i',ARGV[i+2+k]) end ni=ni+n else di=di+n end\n"
    "  i=i+3+n\n"
    " elseif op=='H' then\n"
    "  if not now then local t=redis.call('TIME') now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000) end\n"
    "  local u=now+tonumber(ARGV[i+2]) if u>tonumber(redis.call('HGET',KEYS[6],ARGV[i+1]) or '0') then"
    " redis.call('HSET',KEYS[6],ARGV[i+1],u) end i=i+3\n"
    " else return redis.error_reply('silk: bad op') end\n"
    "end\n"
    "return {tonumber(redis.call('GET',open) or '0'),new,dup,ni,di}\n";

/* KEYS next; ARGV leaseprefix ttl_ms max, then triples host token delay_ms
 * -> per triple: 0 granted, >0 ms until the host's next slot, -1 host full */
static const char LEASE[] =
    "local nk,hp,ttl,max=KEYS[1],ARGV[1],tonumber(ARGV[2]),tonumber(ARGV[3])\n"
    "local t=redis.call('TIME') local now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000)\n"
    "local out,no={},{}\n"
    "for i=4,#ARGV,3 do local h=ARGV[i] local k=hp..h\n"
    " if no[h] then out[#out+1]=no[h] else\n"
    " redis.call('ZREMRANGEBYSCORE',k,'-inf',now)\n"
    " local nxt=tonumber(redis.call('HGET',nk,h) or '0')\n"
    " if nxt>now then no[h]=nxt-now out[#out+1]=no[h]\n"
    " elseif redis.call('ZCARD',k)>=max then no[h]=-1 out[#out+1]=-1\n"
    " else redis.call('ZADD',k,now+ttl,ARGV[i+1]) local d=tonumber(ARGV[i+2])\n"
    "  if d>0 then redis.call('HSET',nk,h,now+d) end out[#out+1]=0 end end\n"
    "end\n"
    "return out\n";

/* KEYS q open seen epoch; ARGV group consumer leaseprefix ttl_ms epoch, then
 * pairs id host (host '' = no lease) -> {open, seen, stream length} */
static const char TICK[] =
    "if redis.call('GET',KEYS[4])~=ARGV[5] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local t=redis.call('TIME') local now=tonumber(t[1])*1000+math.floor(tonumber(t[2])/1000)\n"
    "for i=6,#ARGV,2 do\n"
    " redis.call('XCLAIM',KEYS[1],ARGV[1],ARGV[2],0,ARGV[i],'JUSTID')\n"
    " if ARGV[i+1]~='' then redis.call('ZADD',ARGV[3]..ARGV[i+1],'XX',now+tonumber(ARGV[4]),"
    "ARGV[2]..'/'..ARGV[i]) end\n"
    "end\n"
    "return {tonumber(redis.call('GET',KEYS[2]) or '0'),redis.call('SCARD',KEYS[3]),"
    "redis.call('XLEN',KEYS[1])}\n";

/* KEYS q open epoch; ARGV group consumer leaseprefix epoch, then pairs host
 * token: releases the leases, queues again every entry pending for the
 * consumer, deletes the consumer -> entries handed back */
static const char GIVEBACK[] =
    "if redis.call('GET',KEYS[3])~=ARGV[4] then return redis.error_reply('" EPOCH_ERR "') end\n"
    "local q,g,c=KEYS[1],ARGV[1],ARGV[2]\n"
    "for i=5,#ARGV,2 do redis.call('ZREM',ARGV[3]..ARGV[i],ARGV[i+1]) end\n"
    "local n=0\n"
    "while true do local p=redis.call('XPENDING',q,g,'-','+',100,c)\n"
    " if #p==0 then break end\n"
    " for _,e in ipairs(p) do local r=redis.call('XRANGE',q,e[1],e[1])\n"
    "  redis.call('XACK',q,g,e[1]) redis.call('XDEL',q,e[1])\n"
    "  if r[1] then redis.call('XADD',q,'*',r[1][2][1],r[1][2][2]) else redis.call('DECR',KEYS[2]) end\n"
    "  n=n+1 end\n"
    "end\n"
    "redis.call('XGROUP','DELCONSUMER',q,g,c)\n"
    "return n\n";

/* ------------------------------------------------------------------ */
/* types */

/* A growing list of arguments (ops of a batch). Bounded by BYTES_MAX over
 * all of a frontier's lists. */
typedef struct argbuf {
    char *data;
    size_t len, cap;
    size_t *off, *alen;
    size_t argc, capargs;
    size_t nops;
} argbuf;

enum { L_WAIT, L_READY, L_FLY, NLIST };

/* An entry this worker holds (read or claimed from the stream). It is in
 * exactly one list; in L_FLY it was handed out by pop_ready. */
typedef struct rent {
    struct rent *prev, *next;
    int list;
    int leased;            /* holds a lease token in Redis */
    int leasing;           /* part of the LEASE call in flight */
    double retry_at;       /* L_WAIT: no LEASE before this */
    char sid[48];          /* stream entry id */
    char *blob;            /* the encoded request (owned) */
    size_t len;
    silk_frontier_req req; /* strings point into blob */
} rent;

typedef struct rlist {
    rent *head, *tail;
    size_t n;
} rlist;

/* Commands kept one in flight each; a reply or a failure clears busy. */
enum { S_GROUP, S_APPLY, S_LEASE, S_TICK, S_CLAIM, S_READ, NSLOT };

typedef struct red_frontier red_frontier;

/* A shared get/set awaiting its reply. hiredis holds it as privdata until
 * the reply, or the connection's end, comes back, so forget() only clears
 * cb; the reply callback unlinks and frees it. */
typedef struct shreq {
    struct shreq *prev, *next;
    red_frontier *r;
    silk_frontier_shared_fn cb; /* NULL: forgotten */
    void *ud;
    uint64_t token;
    int is_set;
    double deadline;            /* silk_frontier_now(): no reply by then drops the connection */
} shreq;

typedef struct slot {
    red_frontier *r;
    int kind;
    int busy;
    double deadline; /* the reply is due before this (silk_frontier_now()) */
} slot;

/* A connection: cmd (everything but reads) or rd (blocking XREADGROUP). */
typedef struct rconn {
    red_frontier *r;
    redisAsyncContext *ac; /* NULL while down; hiredis frees it */
    int up;                /* the connect callback said OK */
    double connect_by;     /* deadline of a connect in progress (silk_frontier_now()) */
    double backoff;
    ev_timer retry;        /* reconnect */
    const char *name;
} rconn;

typedef struct host_ov {
    char *host;
    double delay;      /* < 0: cfg delay */
    double hold_until; /* on the frontier clock */
} host_ov;

struct red_frontier {
    silk_frontier base; /* first: the handle */
    struct ev_loop *loop;
    silk_frontier_cfg cfg;
    fr_redis_crawl at;   /* the URL's parts and the crawl's keys */
    char epoch[40];      /* the value of at.k_epoch this worker joined */
    int lost;            /* Redis answered with another epoch, or none: stop */

    rconn cmd, rd;
    slot slots[NSLOT];
    ev_timer pump_timer;
    int closing;
    int was_down;        /* a loss was reported; report the recovery */

    rlist lists[NLIST];
    uint64_t next_id;

    argbuf eager;        /* ops for the next APPLY */
    argbuf durable;      /* acks waiting for checkpoint() */
    argbuf sending;      /* the APPLY in flight (or to send again) */
    int sending_out;     /* sending was sent and awaits its reply */
    double apply_hold;   /* after an error reply: no APPLY before this */
    double last_err_log; /* error replies are logged at most once a second */
    rent *leasing[LEASE_BATCH];
    size_t nleasing;

    char claim_cursor[48];
    double last_tick, last_beat, last_claim;

    uint64_t *seen;      /* local pre-filter: hashes pushed by this process */
    size_t seen_cap, seen_n;

    host_ov *hosts;
    size_t nhosts;
    uint64_t rng;

    shreq *shared;       /* gets/sets awaiting their replies */
    uint64_t next_token;

    /* what Redis said last */
    long long open;      /* -1: not known yet */
    long long seen_remote, qlen;
    /* counters */
    uint64_t pushed, dups, popped, failures, claimed, resent, items, item_dups;
};

#define R(f) ((red_frontier *)(f))

/* ------------------------------------------------------------------ */
/* small helpers */

static void rlog(red_frontier *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rlog(red_frontier *r, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "silk: redis %s:%d/%s: %s\n", r->at.ip, r->at.port, r->at.name, msg);
}

static int ab_add(argbuf *b, const void *s, size_t n)
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

static int ab_str(argbuf *b, const char *s) { return ab_add(b, s, strlen(s)); }

/* Rolls b back to argc/len (an op that could not be added whole). */
static void ab_truncate(argbuf *b, size_t argc)
{
    if (argc < b->argc) {
        b->len = b->off[argc];
        b->argc = argc;
    }
}

static int ab_move(argbuf *dst, argbuf *src)
{
    size_t argc0 = dst->argc;
    for (size_t i = 0; i < src->argc; i++)
        if (ab_add(dst, src->data + src->off[i], src->alen[i]) != 0) {
            ab_truncate(dst, argc0);
            return -1;
        }
    dst->nops += src->nops;
    src->argc = src->len = src->nops = 0;
    return 0;
}

static void ab_free(argbuf *b)
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

static void list_add(red_frontier *r, rent *e, int which)
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

static void list_del(red_frontier *r, rent *e)
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

static void rent_free(rent *e)
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

static host_ov *host_find(red_frontier *r, const char *host)
{
    for (size_t i = 0; i < r->nhosts; i++)
        if (strcmp(r->hosts[i].host, host) == 0)
            return &r->hosts[i];
    return NULL;
}

static double rand01(red_frontier *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (double)(r->rng >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------ */
/* sending */

static void pump(red_frontier *r);
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends prefix args + b's args as one command on c for slot s. Returns 0, or
 * -1 when the connection is down or hiredis refused (nothing changed). */
static int send_cmd(red_frontier *r, rconn *c, int s, const char *const *pre, int npre,
                    const argbuf *b, double timeout)
{
    if (!c->ac || !c->up || r->slots[s].busy)
        return -1;
    size_t argc = (size_t)npre + (b ? b->argc : 0);
    const char **argv = malloc(argc * sizeof *argv);
    size_t *alen = malloc(argc * sizeof *alen);
    int rc = -1;
    if (!argv || !alen)
        goto done;
    for (int i = 0; i < npre; i++) {
        argv[i] = pre[i];
        alen[i] = strlen(pre[i]);
    }
    for (size_t i = 0; b && i < b->argc; i++) {
        argv[npre + i] = b->data + b->off[i];
        alen[npre + i] = b->alen[i];
    }
    if (redisAsyncCommandArgv(c->ac, on_reply, &r->slots[s], (int)argc, argv, alen) == REDIS_OK) {
        r->slots[s].busy = 1;
        r->slots[s].deadline = silk_frontier_now() + timeout;
        rc = 0;
    }
done:
    free(argv);
    free(alen);
    return rc;
}

static void send_apply(red_frontier *r)
{
    if (r->slots[S_APPLY].busy || r->apply_hold > silk_frontier_now())
        return;
    if (!r->sending.argc) {
        if (!r->eager.argc)
            return;
        argbuf t = r->sending; /* empty: swap, keeping the eager buffer's memory */
        r->sending = r->eager;
        r->eager = t;
    }
    const char *pre[] = {"EVAL", APPLY, "7", r->at.k_q, r->at.k_seen, r->at.k_open, r->at.k_items,
                         r->at.k_ikeys, r->at.k_next, r->at.k_epoch, GROUP, r->at.k_lease, r->epoch};
    if (r->sending_out)
        r->resent++;
    if (send_cmd(r, &r->cmd, S_APPLY, pre, 13, &r->sending, CMD_TIMEOUT) == 0)
        r->sending_out = 1;
}

static void send_lease(red_frontier *r, double now)
{
    if (r->slots[S_LEASE].busy || !r->cmd.up)
        return;
    argbuf b = {0};
    char ttl[32], max[32];
    snprintf(ttl, sizeof ttl, "%.0f", r->at.visibility * 1000);
    snprintf(max, sizeof max, "%d", r->cfg.max_per_host);
    r->nleasing = 0;
    for (rent *e = r->lists[L_WAIT].head; e && r->nleasing < LEASE_BATCH; e = e->next) {
        if (e->leasing || e->retry_at > now)
            continue;
        host_ov *ov = host_find(r, e->req.host);
        if (ov && ov->hold_until > now) {
            e->retry_at = ov->hold_until;
            continue;
        }
        double d = ov && ov->delay >= 0 ? ov->delay : r->cfg.delay;
        if (d > 0 && r->cfg.jitter > 0)
            d *= 1 - r->cfg.jitter + 2 * r->cfg.jitter * rand01(r);
        char token[160], dms[32];
        snprintf(token, sizeof token, "%s/%s", r->at.consumer, e->sid);
        snprintf(dms, sizeof dms, "%.0f", d * 1000);
        size_t argc0 = b.argc;
        if (ab_str(&b, e->req.host) || ab_str(&b, token) || ab_str(&b, dms)) {
            ab_truncate(&b, argc0);
            break;
        }
        r->leasing[r->nleasing++] = e;
    }
    if (r->nleasing) {
        const char *pre[] = {"EVAL", LEASE, "1", r->at.k_next, r->at.k_lease, ttl, max};
        if (send_cmd(r, &r->cmd, S_LEASE, pre, 7, &b, CMD_TIMEOUT) == 0) {
            for (size_t i = 0; i < r->nleasing; i++)
                r->leasing[i]->leasing = 1;
        } else {
            r->nleasing = 0;
        }
    }
    ab_free(&b);
}

static void send_read(red_frontier *r)
{
    size_t have = r->lists[L_WAIT].n + r->lists[L_READY].n;
    if (r->slots[S_READ].busy || have * 2 > (size_t)r->at.prefetch)
        return;
    char count[32], block[32];
    snprintf(count, sizeof count, "%zu", (size_t)r->at.prefetch - have);
    snprintf(block, sizeof block, "%d", r->at.block_ms);
    const char *pre[] = {"XREADGROUP", "GROUP", GROUP, r->at.consumer, "COUNT", count,
                         "BLOCK", block, "STREAMS", r->at.k_q, ">"};
    send_cmd(r, &r->rd, S_READ, pre, 11, NULL, CMD_TIMEOUT + r->at.block_ms / 1000.0);
}

static void send_tick(red_frontier *r, double now)
{
    if (r->slots[S_TICK].busy)
        return;
    argbuf b = {0};
    int beat = now - r->last_beat >= r->at.visibility / 3;
    for (int l = 0; beat && l < NLIST; l++)
        for (rent *e = r->lists[l].head; e; e = e->next)
            if (ab_str(&b, e->sid) || ab_str(&b, e->leased ? e->req.host : ""))
                goto nomem;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%.0f", r->at.visibility * 1000);
    const char *pre[] = {"EVAL", TICK, "4", r->at.k_q, r->at.k_open, r->at.k_seen, r->at.k_epoch,
                         GROUP, r->at.consumer, r->at.k_lease, ttl, r->epoch};
    if (send_cmd(r, &r->cmd, S_TICK, pre, 12, &b, CMD_TIMEOUT) == 0) {
        r->last_tick = now;
        if (beat)
            r->last_beat = now;
    }
nomem:
    ab_free(&b);
}

static void send_claim(red_frontier *r, double now)
{
    size_t have = r->lists[L_WAIT].n + r->lists[L_READY].n;
    if (r->slots[S_CLAIM].busy || have >= (size_t)r->at.prefetch)
        return;
    char idle[32], count[32];
    snprintf(idle, sizeof idle, "%.0f", r->at.visibility * 1000);
    snprintf(count, sizeof count, "%zu", (size_t)r->at.prefetch - have);
    const char *pre[] = {"XAUTOCLAIM", r->at.k_q, GROUP, r->at.consumer, idle, r->claim_cursor,
                         "COUNT", count};
    if (send_cmd(r, &r->cmd, S_CLAIM, pre, 8, NULL, CMD_TIMEOUT) == 0)
        r->last_claim = now;
}

/* Sends whatever may be sent now. Never calls back into the caller. */
static void pump(red_frontier *r)
{
    if (r->closing || r->lost || !r->cmd.up)
        return;
    double now = silk_frontier_now();
    send_apply(r);
    send_lease(r, now);
    if (r->rd.up)
        send_read(r);
    if (now - r->last_tick >= TICK_EVERY)
        send_tick(r, now);
    if (now - r->last_claim >= r->at.visibility / 2)
        send_claim(r, now);
}

/* ------------------------------------------------------------------ */
/* replies */

/* An entry [id, [field, value, ...]] from XREADGROUP or XAUTOCLAIM joins
 * L_WAIT. Entries without a readable request are acknowledged and dropped. */
static void take_entry(red_frontier *r, const redisReply *en)
{
    if (!en || en->type != REDIS_REPLY_ARRAY || en->elements < 2 ||
        en->element[0]->type != REDIS_REPLY_STRING || en->element[0]->len >= sizeof ((rent *)0)->sid)
        return;
    const redisReply *id = en->element[0], *fv = en->element[1];
    const redisReply *blob = NULL;
    for (size_t i = 0; fv->type == REDIS_REPLY_ARRAY && i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && fv->element[i]->len == 1 &&
            fv->element[i]->str[0] == 'r' && fv->element[i + 1]->type == REDIS_REPLY_STRING)
            blob = fv->element[i + 1];
    for (int l = 0; l < NLIST; l++) /* a heartbeat or claim may return one we hold */
        for (rent *e = r->lists[l].head; e; e = e->next)
            if (strcmp(e->sid, id->str) == 0)
                return;
    rent *e = calloc(1, sizeof *e);
    if (e && blob && (e->blob = malloc(blob->len ? blob->len : 1))) {
        memcpy(e->blob, blob->str, blob->len);
        e->len = blob->len;
        memcpy(e->sid, id->str, id->len + 1);
        if (fr_req_decode(e->blob, e->len, &e->req) == 0) {
            e->req.id = ++r->next_id;
            list_add(r, e, L_WAIT);
            return;
        }
    }
    rent_free(e);
    rlog(r, "entry %s holds no readable request: dropped", id->str);
    size_t argc0 = r->durable.argc;
    if (ab_str(&r->durable, "A") || ab_add(&r->durable, id->str, id->len) ||
        ab_str(&r->durable, ""))
        ab_truncate(&r->durable, argc0);
    else
        r->durable.nops++;
}

static void reply_read(red_frontier *r, const redisReply *rep)
{
    /* [[stream, [entry, ...]]] or nil on timeout */
    if (rep->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t s = 0; s < rep->elements; s++) {
        const redisReply *st = rep->element[s];
        if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i < st->element[1]->elements; i++)
            take_entry(r, st->element[1]->element[i]);
    }
}

static void reply_claim(red_frontier *r, const redisReply *rep)
{
    /* 6.2: [cursor, [entry...]]; 7.0: [cursor, [entry...], [deleted id...]] */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[0]->len >= sizeof r->claim_cursor)
        return;
    memcpy(r->claim_cursor, rep->element[0]->str, rep->element[0]->len + 1);
    const redisReply *list = rep->element[1];
    for (size_t i = 0; list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        size_t before = r->lists[L_WAIT].n;
        take_entry(r, list->element[i]);
        r->claimed += r->lists[L_WAIT].n - before;
    }
    if (rep->elements >= 3 && rep->element[2]->type == REDIS_REPLY_ARRAY &&
        rep->element[2]->elements)
        rlog(r, "%zu claimed entries were deleted meanwhile", rep->element[2]->elements);
    if (strcmp(r->claim_cursor, "0-0") != 0)
        r->last_claim = 0; /* more to scan: again at the next pump */
}

static void reply_lease(red_frontier *r, const redisReply *rep, double now)
{
    for (size_t i = 0; i < r->nleasing; i++) {
        rent *e = r->leasing[i];
        e->leasing = 0;
        long long v = -2;
        if (rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements &&
            rep->element[i]->type == REDIS_REPLY_INTEGER)
            v = rep->element[i]->integer;
        if (v == 0) {
            e->leased = 1;
            list_del(r, e);
            list_add(r, e, L_READY);
        } else {
            e->retry_at = now + (v > 0 ? v / 1000.0 : v == -1 ? FULL_RETRY : 0);
        }
    }
    r->nleasing = 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    slot *s = privdata;
    red_frontier *r = s->r;
    const redisReply *rep = reply;
    double now = silk_frontier_now();
    s->busy = 0;
    if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, EPOCH_ERR)) {
        if (!r->lost)
            rlog(r, "%s", LOST_MSG);
        r->lost = 1;
        return;
    }
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        if (!(s->kind == S_GROUP && strncmp(rep->str, "BUSYGROUP", 9) == 0) &&
            now - r->last_err_log >= 1) {
            rlog(r, "command failed: %s", rep->str);
            r->last_err_log = now;
        }
        rep = s->kind == S_LEASE ? NULL : rep; /* leases: ask again */
        if (s->kind == S_APPLY) {
            r->apply_hold = now + 1; /* kept in `sending`: sent again in a second */
            return;
        }
    }
    switch (s->kind) {
    case S_APPLY:
        if (!rep)
            return; /* connection lost: kept, sent again after reconnect */
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 5) {
            r->open = rep->element[0]->integer;
            r->pushed += (uint64_t)rep->element[1]->integer;
            r->dups += (uint64_t)rep->element[2]->integer;
            r->items += (uint64_t)rep->element[3]->integer;
            r->item_dups += (uint64_t)rep->element[4]->integer;
        }
        r->sending.argc = r->sending.len = r->sending.nops = 0;
        r->sending_out = 0;
        break;
    case S_LEASE:
        reply_lease(r, rep, now);
        break;
    case S_TICK:
        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3) {
            r->open = rep->element[0]->integer;
            r->seen_remote = rep->element[1]->integer;
            r->qlen = rep->element[2]->integer;
        }
        break;
    case S_CLAIM:
        if (rep)
            reply_claim(r, rep);
        break;
    case S_READ:
        if (rep)
            reply_read(r, rep);
        break;
    default:
        break;
    }
    if (rep && rep->type != REDIS_REPLY_ERROR && !r->closing)
        pump(r); /* after an error, the pump timer tries again */
}

/* ------------------------------------------------------------------ */
/* connections */

static void conn_start(rconn *c);

static void conn_later(rconn *c)
{
    red_frontier *r = c->r;
    if (r->closing)
        return;
    if (!r->was_down) {
        rlog(r, "connection lost: taking no new work until it is back");
        r->was_down = 1;
    }
    ev_timer_stop(r->loop, &c->retry);
    ev_timer_set(&c->retry, c->backoff, 0);
    ev_timer_start(r->loop, &c->retry);
    c->backoff = c->backoff * 2 > RECONNECT_MAX ? RECONNECT_MAX : c->backoff * 2;
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    red_frontier *r = privdata;
    const redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        rlog(r, "AUTH refused: %s", rep->str);
}

/* AUTH goes first on every new connection: Redis runs what is pipelined
 * after it in order, and answers it NOAUTH if the password was wrong (the
 * replies log that, the pump retries). */
static void send_auth(red_frontier *r, rconn *c)
{
    const char *argv[3] = {"AUTH", r->at.user, r->at.pass};
    size_t alen[3] = {4, strlen(r->at.user), strlen(r->at.pass)};
    if (r->at.user[0]) {
        redisAsyncCommandArgv(c->ac, on_auth, r, 3, argv, alen);
    } else {
        argv[1] = r->at.pass;
        alen[1] = alen[2];
        redisAsyncCommandArgv(c->ac, on_auth, r, 2, argv, alen);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    red_frontier *r = c->r;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees it after this callback */
        conn_later(c);
        return;
    }
    c->up = 1;
    c->backoff = RECONNECT_MIN;
    if (r->at.pass[0])
        send_auth(r, c);
    if (c == &r->cmd) {
        const char *pre[] = {"XGROUP", "CREATE", r->at.k_q, GROUP, "0", "MKSTREAM"};
        send_cmd(r, c, S_GROUP, pre, 6, NULL, CMD_TIMEOUT);
    }
    if (r->cmd.up && r->rd.up && r->was_down) {
        rlog(r, "connection back: resuming");
        r->was_down = 0;
    }
    pump(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn *c = ac->data;
    if (!c || c->ac != ac)
        return; /* we dropped it ourselves */
    c->ac = NULL; /* hiredis frees it after this callback */
    c->up = 0;
    conn_later(c);
}

/* Drops c now: pending callbacks run with a NULL reply, then it is gone.
 * Only from our timer callbacks or close, never from a hiredis callback. */
static void conn_drop(rconn *c)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    c->up = 0;
    if (ac)
        redisAsyncFree(ac);
}

static void conn_start(rconn *c)
{
    red_frontier *r = c->r;
    redisAsyncContext *ac = redisAsyncConnect(r->at.ip, r->at.port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        conn_later(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->connect_by = silk_frontier_now() + CMD_TIMEOUT;
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    rconn *c = (rconn *)((char *)w - offsetof(rconn, retry));
    conn_start(c);
}

/* Every PUMP_EVERY: replies overdue drop their connection (our command
 * timeout; hiredis 0.14 has none), then whatever may be sent is sent. */
static void on_pump(struct ev_loop *loop, ev_timer *w, int revents)
{
    red_frontier *r = (red_frontier *)((char *)w - offsetof(red_frontier, pump_timer));
    double t = silk_frontier_now(); /* not ev_now: stale after a long callback */
    for (int s = 0; s < NSLOT; s++) {
        if (!r->slots[s].busy || r->slots[s].deadline > t)
            continue;
        rconn *c = s == S_READ ? &r->rd : &r->cmd;
        rlog(r, "no reply in time: reconnecting");
        conn_drop(c); /* clears busy through the NULL-reply callbacks */
        conn_later(c);
    }
    for (shreq *q = r->shared; q; q = q->next)
        if (q->deadline <= t) {
            rlog(r, "no reply in time: reconnecting");
            conn_drop(&r->cmd); /* answers every shared request EIO */
            conn_later(&r->cmd);
            break;
        }
    for (rconn *c = &r->cmd; c; c = c == &r->cmd ? &r->rd : NULL)
        if (c->ac && !c->up && c->connect_by < t) {
            conn_drop(c);
            conn_later(c);
        }
    pump(r);
}

/* ------------------------------------------------------------------ */
/* synchronous side: open and close */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into out (NUL-terminated). Returns 0, or -1 when
 * it does not fit or holds a bad escape or a NUL. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int fr_redis_parse_url(fr_redis_crawl *r, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return fr_fail(err, SILK_FRONTIER_EINVAL, "redis url must be redis://[[USER]:PASSWORD@]IP:PORT/NAME, got \"%.100s\"", url);
    p += 8;
    const char *slash = strchr(p, '/');
    const char *at = slash ? memchr(p, '@', (size_t)(slash - p)) : NULL;
    if (at) {
        const char *sep = memchr(p, ':', (size_t)(at - p));
        if (!sep || (size_t)(sep - p) >= sizeof r->user ||
            pct_decode(sep + 1, (size_t)(at - sep - 1), r->pass, sizeof r->pass) != 0 || !r->pass[0])
            return fr_fail(err, SILK_FRONTIER_EINVAL,
                           "redis credentials must be [USER]:PASSWORD@ (percent-encoded)");
        memcpy(r->user, p, (size_t)(sep - p));
        r->user[sep - p] = '\0';
        p = at + 1;
    } else {
        const char *env = getenv("SILK_REDIS_PASSWORD");
        if (env && strlen(env) < sizeof r->pass)
            strcpy(r->pass, env);
    }
    const char *colon = slash ? memchr(p, ':', (size_t)(slash - p)) : NULL;
    if (p[0] == '[') { /* [v6]:port */
        const char *close = strchr(p, ']');
        colon = close && close[1] == ':' ? close + 1 : NULL;
    }
    if (!slash || !colon || (size_t)(colon - p) >= sizeof r->ip)
        return fr_fail(err, SILK_FRONTIER_EINVAL, "redis url must be redis://[[USER]:PASSWORD@]IP:PORT/NAME, got \"%.100s\"", url);
    size_t hl = (size_t)(colon - p);
    if (p[0] == '[') {
        memcpy(r->ip, p + 1, hl - 2);
        r->ip[hl - 2] = '\0';
    } else {
        memcpy(r->ip, p, hl);
        r->ip[hl] = '\0';
    }
    unsigned char tmp[16];
    if (inet_pton(AF_INET, r->ip, tmp) != 1 && inet_pton(AF_INET6, r->ip, tmp) != 1)
        return fr_fail(err, SILK_FRONTIER_EINVAL,
                       "redis host must be an IP address (\"%s\" is not; names would block the loop)", r->ip);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != slash || port < 1 || port > 65535)
        return fr_fail(err, SILK_FRONTIER_EINVAL, "bad port in \"%.100s\"", url);
    r->port = (int)port;
    const char *name = slash + 1, *q = strchr(name, '?');
    size_t nl = q ? (size_t)(q - name) : strlen(name);
    if (nl == 0 || nl >= 100 || memchr(name, '{', nl) || memchr(name, '}', nl))
        return fr_fail(err, SILK_FRONTIER_EINVAL, "crawl name missing or bad in \"%.100s\"", url);
    memcpy(r->name, name, nl);
    r->name[nl] = '\0';
    while (q && *q) {
        q++;
        const char *amp = strchr(q, '&'), *eq = strchr(q, '=');
        size_t kl = eq && (!amp || eq < amp) ? (size_t)(eq - q) : 0;
        const char *v = kl ? eq + 1 : "";
        double num = strtod(v, &end);
        int ok = end != v && (*end == '\0' || *end == '&');
        if (kl == 10 && strncmp(q, "visibility", 10) == 0 && ok && num >= 0.5)
            r->visibility = num;
        else if (kl == 8 && strncmp(q, "prefetch", 8) == 0 && ok && num >= 1 && num <= 10000)
            r->prefetch = (int)num;
        else if (kl == 8 && strncmp(q, "block_ms", 8) == 0 && ok && num >= 1 && num <= 60000)
            r->block_ms = (int)num;
        else if (kl == 8 && strncmp(q, "consumer", 8) == 0) {
            size_t vl = amp ? (size_t)(amp - v) : strlen(v);
            if (vl == 0 || vl >= sizeof r->consumer || memchr(v, '/', vl))
                return fr_fail(err, SILK_FRONTIER_EINVAL, "bad consumer name in \"%.100s\"", url);
            memcpy(r->consumer, v, vl);
            r->consumer[vl] = '\0';
        } else
            return fr_fail(err, SILK_FRONTIER_EINVAL,
                           "unknown or bad frontier url parameter in \"%.100s\" "
                           "(visibility=SECONDS, prefetch=N, block_ms=MS, consumer=ID)", url);
        q = amp;
    }
    return 0;
}

/* The crawl's keys, all under the hash tag {NAME} (see the top of the file). */
void fr_redis_name_keys(fr_redis_crawl *r)
{
    snprintf(r->k_q, sizeof r->k_q, "{%s}:q", r->name);
    snprintf(r->k_seen, sizeof r->k_seen, "{%s}:seen", r->name);
    snprintf(r->k_open, sizeof r->k_open, "{%s}:open", r->name);
    snprintf(r->k_epoch, sizeof r->k_epoch, "{%s}:epoch", r->name);
    snprintf(r->k_next, sizeof r->k_next, "{%s}:next", r->name);
    snprintf(r->k_lease, sizeof r->k_lease, "{%s}:l:", r->name);
    snprintf(r->k_items, sizeof r->k_items, "{%s}:items", r->name);
    snprintf(r->k_ikeys, sizeof r->k_ikeys, "{%s}:ikeys", r->name);
    snprintf(r->k_shared, sizeof r->k_shared, "{%s}:s:", r->name);
    snprintf(r->k_collected, sizeof r->k_collected, "{%s}:collected", r->name);
}

redisContext *fr_redis_connect(const fr_redis_crawl *r, char *err, size_t errlen)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(r->ip, r->port, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to redis at %s:%d: %s", r->ip, r->port,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){5, 0});
    if (r->pass[0]) {
        const char *argv[3] = {"AUTH", r->user, r->pass};
        int argc = 3;
        if (!r->user[0]) {
            argv[1] = r->pass;
            argc = 2;
        }
        redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis at %s:%d refused AUTH: %s", r->ip, r->port,
                     rep ? rep->str : c->errstr);
            freeReplyObject(rep);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(rep);
    }
    return c;
}

/* Runs argv on c; returns the reply (caller frees) or NULL with err set. */
redisReply *fr_redis_cmd(redisContext *c, int argc, const char **argv, const size_t *alen,
                         char *err, size_t errlen)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, alen);
    if (!rep) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) != 0) {
        snprintf(err, errlen, "redis: %s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

redisReply *fr_redis_simple(redisContext *c, char *err, size_t errlen, int argc, ...)
{
    const char *argv[16];
    size_t alen[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 16; i++) {
        argv[i] = va_arg(ap, const char *);
        alen[i] = strlen(argv[i]);
    }
    va_end(ap);
    return fr_redis_cmd(c, argc, argv, alen, err, errlen);
}

/* Joins the crawl's epoch: creates {NAME}:epoch unless a worker did, then
 * reads the one that stands (another worker may have won the race). */
static int sync_epoch(red_frontier *r, redisContext *c, char *err, size_t errlen)
{
    char mine[sizeof r->epoch];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(mine, sizeof mine, "%lld.%09ld.%d", (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
    redisReply *rep = fr_redis_simple(c, err, errlen, 4, "SET", r->at.k_epoch, mine, "NX");
    if (!rep)
        return SILK_FRONTIER_EIO;
    freeReplyObject(rep);
    rep = fr_redis_simple(c, err, errlen, 2, "GET", r->at.k_epoch);
    if (!rep)
        return SILK_FRONTIER_EIO;
    int ok = rep->type == REDIS_REPLY_STRING && rep->len < sizeof r->epoch;
    if (ok)
        memcpy(r->epoch, rep->str, rep->len + 1);
    else
        snprintf(err, errlen, "redis at %s:%d: %s holds no usable epoch", r->at.ip, r->at.port, r->at.k_epoch);
    freeReplyObject(rep);
    return ok ? 0 : SILK_FRONTIER_EIO;
}

/* Checks the server (>= 6.2), creates the group and joins the epoch. */
static int sync_prepare(red_frontier *r, char *err, size_t errlen)
{
    redisContext *c = fr_redis_connect(&r->at, err, errlen);
    if (!c)
        return SILK_FRONTIER_EIO;
    int rc = SILK_FRONTIER_EIO;
    redisReply *rep = fr_redis_simple(c, err, errlen, 2, "INFO", "server");
    if (!rep) {
        if (strstr(err, "NOAUTH"))
            snprintf(err, errlen, "redis at %s:%d wants a password: redis://:PASSWORD@%s:%d/%s "
                     "or $SILK_REDIS_PASSWORD", r->at.ip, r->at.port, r->at.ip, r->at.port, r->at.name);
        goto done;
    }
    const char *v = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "redis_version:") : NULL;
    int major = 0, minor = 0;
    if (v)
        sscanf(v + 14, "%d.%d", &major, &minor);
    freeReplyObject(rep);
    if (major < 6 || (major == 6 && minor < 2)) {
        snprintf(err, errlen, "redis at %s:%d is %d.%d: 6.2 or later needed (XAUTOCLAIM)", r->at.ip,
                 r->at.port, major, minor);
        goto done;
    }
    rep = fr_redis_simple(c, err, errlen, 6, "XGROUP", "CREATE", r->at.k_q, GROUP, "0", "MKSTREAM");
    if (!rep)
        goto done;
    freeReplyObject(rep);
    rc = sync_epoch(r, c, err, errlen);
done:
    redisFree(c);
    return rc;
}

/* Runs pre[0..npre) followed by ops' arguments on c; logs a failure. */
static void sync_eval(red_frontier *r, redisContext *c, const char *const *pre, int npre,
                      const argbuf *ops)
{
    char err[256];
    size_t argc = (size_t)npre + ops->argc;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *alen = malloc(argc * sizeof *alen);
    if (!argv || !alen) {
        rlog(r, "at close: not enough memory");
        goto done;
    }
    for (int i = 0; i < npre; i++) {
        argv[i] = pre[i];
        alen[i] = strlen(pre[i]);
    }
    for (size_t i = 0; i < ops->argc; i++) {
        argv[npre + i] = ops->data + ops->off[i];
        alen[npre + i] = ops->alen[i];
    }
    redisReply *rep = fr_redis_cmd(c, (int)argc, argv, alen, err, sizeof err);
    if (rep)
        freeReplyObject(rep);
    else
        rlog(r, "at close: %s", err);
done:
    free(argv);
    free(alen);
}

/* At close: what no reply confirmed goes out now (idempotent if it was
 * applied already), then the leases and the entries this consumer still
 * holds are handed back. */
static void sync_giveback(red_frontier *r)
{
    char err[256];
    if (ab_move(&r->sending, &r->eager) != 0 || ab_move(&r->sending, &r->durable) != 0)
        rlog(r, "out of memory at close: some acks are lost (their entries will be claimed again)");
    redisContext *c = fr_redis_connect(&r->at, err, sizeof err);
    if (!c) {
        rlog(r, "at close: %s; %zu ops not sent (their entries will be claimed again after %.0f s)",
              err, r->sending.nops, r->at.visibility);
        return;
    }
    if (r->sending.argc) {
        const char *pre[] = {"EVAL", APPLY, "7", r->at.k_q, r->at.k_seen, r->at.k_open, r->at.k_items,
                             r->at.k_ikeys, r->at.k_next, r->at.k_epoch, GROUP, r->at.k_lease, r->epoch};
        sync_eval(r, c, pre, 13, &r->sending);
    }
    argbuf b = {0};
    for (int l = 0; l < NLIST; l++)
        for (rent *e = r->lists[l].head; e; e = e->next)
            if (e->leased) {
                char token[160];
                snprintf(token, sizeof token, "%s/%s", r->at.consumer, e->sid);
                if (ab_str(&b, e->req.host) || ab_str(&b, token))
                    ab_truncate(&b, b.argc & ~(size_t)1); /* leases expire by themselves */
            }
    const char *gpre[] = {"EVAL", GIVEBACK, "3", r->at.k_q, r->at.k_open, r->at.k_epoch, GROUP, r->at.consumer,
                          r->at.k_lease, r->epoch};
    sync_eval(r, c, gpre, 8, &b);
    ab_free(&b);
    redisFree(c);
}

/* ------------------------------------------------------------------ */
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
    if (ab_str(&r->eager, "P") || ab_add(&r->eager, hb, 8) || ab_str(&r->eager, df ? "1" : "0") ||
        ab_add(&r->eager, blob, blen)) {
        ab_truncate(&r->eager, argc0);
        rc = fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
        goto done;
    }
    r->eager.nops++;
    seen_add(r, h);
    pump(r);
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
        pump(r);
        return 0;
    }
    list_del(r, e);
    list_add(r, e, L_FLY);
    r->popped++;
    *out = &e->req;
    pump(r);
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
    if ((e->leased && (ab_str(&r->eager, "U") || ab_str(&r->eager, e->req.host) ||
                       ab_str(&r->eager, token))) ||
        ab_str(&r->durable, "A") || ab_str(&r->durable, e->sid) ||
        ab_add(&r->durable, again ? again : "", alen)) {
        ab_truncate(&r->eager, e0);
        ab_truncate(&r->durable, d0);
        free(again);
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    }
    if (e->leased)
        r->eager.nops++;
    r->durable.nops++;
    free(again);
    list_del(r, e);
    rent_free(e);
    pump(r);
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
    host_ov *ov = host_find(r, key);
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
        if (ab_str(&r->eager, "H") || ab_str(&r->eager, ov->host) || ab_str(&r->eager, ms)) {
            ab_truncate(&r->eager, argc0); /* the hold still holds for this process */
        } else {
            r->eager.nops++;
            pump(r);
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
    int bad = ab_str(&r->durable, "I") || ab_add(&r->durable, hb, 8) || ab_str(&r->durable, count);
    for (size_t i = 0; i < n && !bad; i++)
        bad = ab_add(&r->durable, data[i], len[i]);
    if (bad) {
        ab_truncate(&r->durable, argc0);
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
                rlog(r, "shared %s failed: %s", q->is_set ? "SET" : "GET", rep->str);
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
    if (ab_move(&r->eager, &r->durable) != 0)
        return fr_fail(f->err, SILK_FRONTIER_ENOMEM, "not enough memory");
    pump(r);
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
    conn_drop(&r->rd);  /* NULL-reply callbacks run here, then nothing else can */
    conn_drop(&r->cmd);
    if (!r->lost)
        sync_giveback(r);
    for (int l = 0; l < NLIST; l++)
        while (r->lists[l].head) {
            rent *e = r->lists[l].head;
            list_del(r, e);
            rent_free(e);
        }
    ab_free(&r->eager);
    ab_free(&r->durable);
    ab_free(&r->sending);
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
    if ((rc = sync_prepare(r, err, errlen)) != 0) {
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
    ev_timer_init(&r->cmd.retry, on_retry, 0, 0);
    ev_timer_init(&r->rd.retry, on_retry, 0, 0);
    ev_timer_init(&r->pump_timer, on_pump, PUMP_EVERY, PUMP_EVERY);
    ev_timer_start(r->loop, &r->pump_timer);
    r->base.magic = SILK_FRONTIER_MAGIC;
    r->base.ops = &red_ops;
    conn_start(&r->cmd);
    conn_start(&r->rd);
    *out = &r->base;
    return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)
const char *silk_frontier_hiredis_version(void)
{
    return STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH);
}
