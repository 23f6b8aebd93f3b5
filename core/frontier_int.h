/*
 * frontier_int.h -- what frontier.c and frontier_sched.c share with the
 * backends (not a public contract; see frontier.h for that).
 *
 *  - fr_sched: the in-memory scheduler (frontier_sched.c: per-host chunked
 *    queues, priority levels, ready/delayed host heaps, seen-set, in-flight
 *    map, backoff).
 *    The memory backend is a thin shell around it; the sqlite backend mirrors
 *    its changes into a journal through fr_hooks and reloads it at open.
 *  - fr_kv: the small key/value map every backend keeps.
 *  - fr_req_encode/decode: the byte form of a request (sqlite rows, later
 *    Redis stream entries).
 *  - the backend openers frontier.c dispatches to.
 */
#ifndef SILK_FRONTIER_INT_H
#define SILK_FRONTIER_INT_H

#include "frontier.h"

/* ---- scheduler ---- */

typedef struct fr_sched fr_sched;

/* Per-host state worth persisting. Times are on the caller's clock. */
typedef struct fr_host_state {
    double delay;      /* override; < 0: none (cfg delay applies) */
    double hold_until; /* no dispatch before this (backoff, Retry-After) */
    int failures;      /* consecutive failures */
} fr_host_state;

/* Notifications for a backend that mirrors the scheduler. Each may be NULL.
 * They are called synchronously from inside fr_sched_* calls, must not call
 * back into the scheduler, and cannot fail (a backend records what it must
 * write and reports write errors at its checkpoint). */
typedef struct fr_hooks {
    void *ud;
    /* a request left the frontier for good (done, or dropped with its host) */
    void (*forget)(void *ud, const silk_frontier_req *req);
    /* a request was queued again with retries + 1 (DONE_RETRY) */
    void (*retry)(void *ud, const silk_frontier_req *req);
    /* a host's persistent state changed */
    void (*host)(void *ud, const char *host, const fr_host_state *st);
} fr_hooks;

/* Push flags. */
enum {
    FR_PUSH_KEEP_ID = 1 << 0, /* req->id is given (reload); else a new one */
    FR_PUSH_NO_SEEN = 1 << 1, /* neither check nor add the seen-set (reload) */
};

/* cfg is copied; hooks may be NULL; err (256 bytes) receives messages and
 * must outlive the scheduler. Returns 0 or ENOMEM. */
int fr_sched_new(const silk_frontier_cfg *cfg, const fr_hooks *hooks, char *err, fr_sched **out);
void fr_sched_free(fr_sched *s);

/* As silk_frontier_push; *stored (may be NULL) receives the queued copy. */
int fr_sched_push(fr_sched *s, const silk_frontier_req *req, double now, unsigned flags,
                  const silk_frontier_req **stored);
int fr_sched_pop_ready(fr_sched *s, double now, const silk_frontier_req **out);
int fr_sched_done(fr_sched *s, uint64_t id, silk_frontier_outcome outcome, double now);
double fr_sched_next_wakeup(fr_sched *s, double now);
int fr_sched_set_host(fr_sched *s, const char *host, double delay, double hold_until, double now);
void fr_sched_stats(fr_sched *s, double now, silk_frontier_stats *st, silk_frontier_host_stat *top,
                    size_t ntop);

/* Reload helpers: restore a host's state; add a hash to the seen-set; the
 * next id handed out will be at least `id`. Return 0 or ENOMEM. */
int fr_sched_restore_host(fr_sched *s, const char *host, const fr_host_state *st, double now);
int fr_sched_seen_add(fr_sched *s, uint64_t hash);
void fr_sched_min_id(fr_sched *s, uint64_t id);
/* Every in-flight request, for a backend that must treat them (REQUEUE). */
size_t fr_sched_in_flight(fr_sched *s, uint64_t *ids, size_t max);

/* ---- key/value map ---- */

typedef struct fr_kv fr_kv;

int fr_kv_new(fr_kv **out);
void fr_kv_free(fr_kv *kv);
/* As silk_frontier_kv_get/kv_set. set marks the key dirty. */
int fr_kv_get(fr_kv *kv, const char *key, const char **val, size_t *len);
int fr_kv_set(fr_kv *kv, const char *key, const char *val, size_t len);
/* Calls fn for every dirty key (stopping at the first non-zero return, which
 * it returns); clear_dirty() after a successful write. */
int fr_kv_each_dirty(fr_kv *kv, int (*fn)(void *ud, const char *key, const char *val, size_t len),
                     void *ud);
void fr_kv_clear_dirty(fr_kv *kv);
size_t fr_kv_dirty_count(const fr_kv *kv);

/* ---- request bytes ---- */

/* Encodes req (every string but url may be NULL) into a malloc'd blob the
 * caller frees. Returns 0 or ENOMEM. */
int fr_req_encode(const silk_frontier_req *req, char **blob, size_t *len);
/* Decodes a blob; the strings in *req point into blob (keep it alive).
 * req->id is left 0. Returns 0 or ECORRUPT. */
int fr_req_decode(const char *blob, size_t len, silk_frontier_req *req);

/* ---- backends ---- */

int fr_mem_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen);
int fr_sqlite_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen);
int fr_redis_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen);

/* Sets f->err from a format; returns code (for "return fr_fail(...)"). */
int fr_fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
