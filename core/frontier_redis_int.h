/*
 * frontier_redis_int.h -- the shared frontier's private records, for its
 * files and for frontier_collect.c (`silk collect`). Not a public contract;
 * see frontier.h.
 *
 * The files, one job each (the design is at the top of frontier_redis.c):
 *   frontier_redis.c          the frontier ops and the state they keep
 *                             locally (entries, the pre-filter, batches)
 *   frontier_redis_async.c    the conversation with Redis on the loop:
 *                             sending, replies, connections
 *   frontier_redis_sync.c     a crawl's redis:// URL and keys, the blocking
 *                             connection (collect uses both), and the
 *                             synchronous steps of open and close
 *   frontier_redis_scripts.c  the scripts that run inside Redis
 */
#ifndef SILK_FRONTIER_REDIS_INT_H
#define SILK_FRONTIER_REDIS_INT_H

#include <stddef.h>

#include <stdint.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "frontier_int.h"

/* A crawl in Redis: the parts of its redis:// URL and its keys, all under
 * the hash tag {NAME} (the list is at the top of frontier_redis.c). */
typedef struct fr_redis_crawl {
    char ip[64];
    int port;
    char name[128];
    char consumer[96];
    char user[64], pass[256]; /* AUTH; pass "" = none */
    double visibility;        /* seconds */
    int prefetch;
    int block_ms;
    char k_q[160], k_seen[160], k_open[160], k_next[160], k_lease[160];
    char k_items[160], k_ikeys[160], k_shared[160], k_collected[160], k_epoch[160];
} fr_redis_crawl;

/* Fills r's URL parts from url; the parameters it does not give keep their
 * values in r (the caller's defaults). The password comes from the URL or
 * $SILK_REDIS_PASSWORD. Returns 0, or SILK_FRONTIER_EINVAL with a message
 * naming the bad part in err. */
int fr_redis_parse_url(fr_redis_crawl *r, const char *url, char *err, size_t errlen);
/* Names r's keys after r->name. */
void fr_redis_name_keys(fr_redis_crawl *r);

/* A blocking connection to r (2 s to connect, 5 s a reply), authenticated
 * when r has a password. NULL with err set on failure; the caller frees it
 * with redisFree. */
redisContext *fr_redis_connect(const fr_redis_crawl *r, char *err, size_t errlen);
/* Runs argv on c; returns the reply (caller frees) or NULL with err set. An
 * error reply is a failure, except BUSYGROUP (the group exists). */
redisReply *fr_redis_cmd(redisContext *c, int argc, const char **argv, const size_t *alen,
                         char *err, size_t errlen);
/* fr_redis_cmd over `argc` (at most 16) NUL-terminated strings. */
redisReply *fr_redis_simple(redisContext *c, char *err, size_t errlen, int argc, ...);

/* --- the frontier on the loop (frontier_redis*.c) ------------------------- */

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


/* The error every writing script answers when {NAME}:epoch is not the one
 * this worker joined; it stops the worker (LOST_MSG). */
#define EPOCH_ERR "SILKEPOCH"
#define LOST_MSG "Redis no longer holds this crawl (its epoch marker is gone or another: " \
                 "restarted without persistence, flushed, or failed over to a lagging " \
                 "replica); this worker stops rather than take the crawl for finished"

/* The scripts (frontier_redis_scripts.c: their KEYS and ARGV). */
extern const char FR_REDIS_APPLY[], FR_REDIS_LEASE[], FR_REDIS_TICK[], FR_REDIS_GIVEBACK[];

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

/* frontier_redis.c */
void fr_redis_rlog(red_frontier *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fr_redis_ab_add(argbuf *b, const void *s, size_t n);
int fr_redis_ab_str(argbuf *b, const char *s);
/* Drops the arguments past the first argc. */
void fr_redis_ab_truncate(argbuf *b, size_t argc);
/* Appends src's ops to dst and empties src: 0, or -1 (out of memory). */
int fr_redis_ab_move(argbuf *dst, argbuf *src);
void fr_redis_ab_free(argbuf *b);
void fr_redis_list_add(red_frontier *r, rent *e, int which);
void fr_redis_list_del(red_frontier *r, rent *e);
void fr_redis_rent_free(rent *e);
host_ov *fr_redis_host_find(red_frontier *r, const char *host);
double fr_redis_rand01(red_frontier *r);

/* frontier_redis_async.c */
/* Sends what is due: the next APPLY, LEASE, read, TICK or claim. */
void fr_redis_pump(red_frontier *r);
void fr_redis_conn_start(rconn *c);
void fr_redis_conn_drop(rconn *c);
void fr_redis_on_retry(struct ev_loop *loop, ev_timer *w, int revents);
void fr_redis_on_pump(struct ev_loop *loop, ev_timer *w, int revents);

/* frontier_redis_sync.c */
int fr_redis_sync_prepare(red_frontier *r, char *err, size_t errlen);
void fr_redis_sync_giveback(red_frontier *r);

#endif
