/*
 * frontier.h -- the crawl frontier: which request to fetch next, and when.
 *
 * Who calls it: lapi_frontier.c (silk.core.frontier), and through it the
 * crawl (lua/silk/crawl.lua). Everything runs on the loop thread; a
 * frontier is not thread-safe. Pure C: no Lua, no libev. Time is passed in by
 * the caller as `now` (seconds on a monotonic clock, e.g. silk_frontier_now()),
 * so that the scheduling is deterministic under test.
 *
 * What it does, for every backend:
 *  - dedupe: a request is new unless its canonical URL (silk_url_canonical)
 *    was pushed before; SILK_FRONTIER_DONT_FILTER skips the check. The
 *    seen-set holds 64-bit hashes of canonical URLs (open addressing, load
 *    <= 0.75: 10.7..21.3 bytes per URL, 8 on disk in the sqlite backend); a
 *    new URL is wrongly taken for seen with probability n / 2^64 when n URLs
 *    are in the set (5e-11 at a billion).
 *  - per-host queues (host = silk_url_host_key, "https://h:443"), chunked
 *    deques (4..512 entries per chunk), one per priority level; higher
 *    priority first, then FIFO (order "bfs") or LIFO ("dfs").
 *  - politeness per host: at most max_per_host requests in flight; after each
 *    dispatch the host waits `delay` seconds (times a random factor in
 *    [1 - jitter, 1 + jitter]) before the next one; a per-host delay override
 *    (robots crawl-delay, autothrottle) and an explicit hold (Retry-After);
 *    an error budget as Nutch's: after fail_threshold consecutive failed
 *    fetches the host is held for backoff_base * 2^(failures - threshold)
 *    seconds (capped at backoff_max), until then or until one of its
 *    requests still in flight succeeds; with host_max_failures > 0, a host that
 *    reaches that many consecutive failures has its queue dropped.
 *  - fairness: the ready hosts form one queue ordered by their best priority,
 *    then by when they became ready; a host that is dispatched goes to the
 *    back. So equal-priority hosts are served round-robin, every call to
 *    silk_frontier_pop_ready() returns a request while any host is ready, and
 *    no host exceeds max_per_host.
 *
 * What it assumes the caller does (the crawl): depth limit,
 * allowed_domains, allow/deny patterns and robots.txt checks happen before
 * push (or at pop, for robots: done(..., RELEASE)); global concurrency is the
 * caller's (it calls pop_ready while it has a free fetch slot).
 *
 * A request's life: push (copied) -> queued -> pop_ready hands out a
 * borrowed pointer, the request is in flight -> exactly one
 * silk_frontier_done(id, outcome), after which the pointer is invalid.
 *
 * Backends (silk_frontier_cfg.backend): "memory" (frontier_mem.c), "sqlite"
 * (frontier_sqlite.c, --jobdir: everything above persisted in
 * DIR/frontier.sqlite at checkpoints; after a kill -9 the reopened frontier
 * holds every request that was queued or in flight at the last checkpoint:
 * at-least-once), "redis" (frontier_redis.c: one crawl shared by many
 * processes through Redis; cfg.url and cfg.loop). They are interchangeable
 * behind silk_frontier_ops. An asynchronous backend (Redis) may answer
 * push with SILK_FRONTIER_PUSH_UNKNOWN (dedupe decided later) and pop_ready
 * with "nothing now", and calls the notify hook (silk_frontier_set_notify)
 * when it has something; the synchronous backends never call it.
 */
#ifndef SILK_FRONTIER_H
#define SILK_FRONTIER_H

#include <stddef.h>
#include <stdint.h>

/* Return codes: 0 (or a documented positive value) or one of these. */
enum {
    SILK_FRONTIER_OK = 0,
    SILK_FRONTIER_ENOMEM = -1,    /* allocation failed; the frontier is unchanged */
    SILK_FRONTIER_EINVAL = -2,    /* a bad argument or configuration */
    SILK_FRONTIER_EURL = -3,      /* the request's URL is not an absolute http(s) URL */
    SILK_FRONTIER_EIO = -4,       /* the store failed (SQLite error, disk full, ...) */
    SILK_FRONTIER_EMISMATCH = -5, /* the jobdir belongs to another spider */
    SILK_FRONTIER_ECORRUPT = -6,  /* the store holds data this code cannot read */
    SILK_FRONTIER_ENOENT = -7,    /* no such in-flight request id */
    SILK_FRONTIER_ENOTSUP = -8,   /* backend not built / operation not supported */
};

/* silk_frontier_push results (>= 0). */
enum {
    SILK_FRONTIER_PUSH_DUP = 0,     /* canonical URL already seen: dropped */
    SILK_FRONTIER_PUSH_NEW = 1,     /* queued */
    SILK_FRONTIER_PUSH_UNKNOWN = 2, /* queued if new; an async backend decides later */
};

/* Request flags. */
enum {
    SILK_FRONTIER_DONT_FILTER = 1 << 0, /* queue even when seen */
};

/* Outcomes for silk_frontier_done. */
typedef enum silk_frontier_outcome {
    SILK_FRONTIER_DONE_OK = 0,  /* the host answered (whatever the URL's own
                                   outcome: 404, too large, redirect loop):
                                   resets its failure count and ends its
                                   backoff (not a set_host hold) */
    SILK_FRONTIER_DONE_FAILED,  /* the host failed (connect, DNS, timeout, 5xx,
                                   429): counts toward backoff; request dropped */
    SILK_FRONTIER_DONE_RETRY,   /* as FAILED, but the request is queued again
                                   with retries + 1 (it keeps its id) */
    SILK_FRONTIER_DONE_RELEASE, /* not fetched (robots, cancelled): frees the
                                   slot, leaves the backoff alone; dropped */
    SILK_FRONTIER_DONE_REQUEUE, /* not fetched, put back unchanged (shutdown) */
} silk_frontier_outcome;

/* A request. For silk_frontier_push the caller fills it (every pointer
 * borrowed for the call; the frontier copies): url is required; canonical
 * and host may be NULL (computed from url); callback and meta may be NULL;
 * meta is opaque bytes (meta_len of them, NULs allowed); id is ignored.
 * From silk_frontier_pop_ready it is owned by the frontier, every field set
 * (callback and meta may still be NULL), valid until silk_frontier_done. */
typedef struct silk_frontier_req {
    const char *url;       /* the URL as given (absolute) */
    const char *canonical; /* dedupe key */
    const char *host;      /* per-host key, "scheme://host:port" */
    const char *callback;  /* the spider's callback name; NULL: the default */
    const char *meta;      /* opaque serialized meta (e.g. JSON) */
    size_t meta_len;
    int depth;
    int priority;          /* higher first */
    int retries;           /* times it was re-queued by DONE_RETRY */
    unsigned flags;        /* SILK_FRONTIER_DONT_FILTER */
    uint64_t id;           /* set by the frontier: unique, stable across reopen */
} silk_frontier_req;

/* Order within one host and priority. */
typedef enum silk_frontier_order {
    SILK_FRONTIER_BFS = 0, /* FIFO */
    SILK_FRONTIER_DFS,     /* LIFO */
} silk_frontier_order;

/* Configuration. silk_frontier_cfg_init() sets the defaults given here;
 * strings are borrowed for silk_frontier_open only. */
typedef struct silk_frontier_cfg {
    const char *backend;     /* "memory" (default) | "sqlite" | "redis" */
    const char *path;        /* sqlite: the jobdir (created if missing) */
    const char *name;        /* sqlite: the spider's name; a jobdir made by
                                another name is refused (EMISMATCH) */
    int max_per_host;        /* default 2; >= 1 */
    double delay;            /* seconds between dispatches per host; default 0 */
    double jitter;           /* 0..1; default 0 */
    silk_frontier_order order;
    unsigned canon_flags;    /* silk_url_canonical flags; default 0 */
    int fail_threshold;      /* consecutive failures before backoff; default 3 */
    double backoff_base;     /* seconds; default 5 */
    double backoff_max;      /* seconds; default 600 */
    int host_max_failures;   /* 0 (default): never drop a host's queue */
    uint64_t seed;           /* jitter PRNG; 0: seeded from the clock */
    /* sqlite only */
    double checkpoint_ms;    /* checkpoint() writes when this old; default 1000 */
    size_t checkpoint_ops;   /* ... or when this many changes wait; default 10000 */
    int sync_full;           /* PRAGMA synchronous=FULL (survives power loss);
                                default NORMAL (survives kill -9) */
    /* redis only (frontier_redis.c) */
    const char *url;         /* "redis://[[USER]:PASSWORD@]IP:PORT/NAME[?visibility=S&prefetch=N&
                                block_ms=MS&consumer=ID]" */
    void *loop;              /* the engine's struct ev_loop: replies arrive there */
} silk_frontier_cfg;

/* Statistics. host pointers in top[] are borrowed until the next call that
 * changes the frontier. */
typedef struct silk_frontier_host_stat {
    const char *host;
    size_t queued;
    int in_flight;
    int failures;      /* consecutive */
    double ready_in;   /* seconds until it may be fetched (0: now) */
} silk_frontier_host_stat;

typedef struct silk_frontier_stats {
    size_t queued;          /* waiting (not in flight) */
    size_t in_flight;
    size_t seen;            /* distinct canonical URLs */
    size_t hosts;           /* hosts known */
    size_t hosts_ready;     /* with queued work that may be fetched now */
    size_t hosts_delayed;   /* with queued work, waiting for delay or backoff */
    size_t hosts_full;      /* with queued work, max_per_host in flight */
    uint64_t pushed;        /* pushes accepted as new (or dont_filter) */
    uint64_t duplicates;    /* pushes dropped as seen */
    uint64_t popped;        /* dispatches */
    uint64_t failures;      /* FAILED + RETRY outcomes */
    uint64_t dropped;       /* requests dropped with a failing host's queue */
    size_t memory;          /* bytes of heap the frontier holds (approx.) */
    /* persisting backends */
    size_t journal;         /* changes waiting for the next checkpoint */
    uint64_t checkpoints;   /* transactions written */
    double checkpoint_last_ms; /* wall time of the last one */
    double checkpoint_max_ms;
    double checkpoint_total_ms;
    /* shared backends (redis) */
    uint64_t items;         /* items this process stored in the crawl's stream */
    uint64_t item_duplicates; /* items the store dropped: their key was stored before */
    size_t ntop;            /* filled entries of top[] */
} silk_frontier_stats;

typedef struct silk_frontier silk_frontier;

/* The answer to silk_frontier_shared_get/_set: rc 0 and, for a get, the
 * value (val NULL when the key is absent; borrowed for the call), for a set,
 * len 1 when the value was stored and 0 when `nx` found the key present; or
 * rc EIO when the store could not answer (connection lost, no reply in time,
 * frontier closed). */
typedef void (*silk_frontier_shared_fn)(void *ud, int rc, const char *val, size_t len);

/* Called by an asynchronous backend when pop_ready may now return something
 * (or next_wakeup changed). Never called from inside a silk_frontier_* call. */
typedef void (*silk_frontier_notify_fn)(silk_frontier *f, void *ud);

/* ---- The backend interface. Callers use the silk_frontier_* functions
 * below, which check the handle and then call these; a backend embeds
 * struct silk_frontier as its first member. Each op returns what its
 * silk_frontier_* wrapper documents. */
typedef struct silk_frontier_ops {
    const char *name;
    int (*push)(silk_frontier *f, const silk_frontier_req *req, double now);
    int (*pop_ready)(silk_frontier *f, double now, const silk_frontier_req **out);
    int (*done)(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now);
    double (*next_wakeup)(silk_frontier *f, double now);
    int (*set_host)(silk_frontier *f, const char *host, double delay, double hold_until, double now);
    void (*stats)(silk_frontier *f, double now, silk_frontier_stats *st,
                  silk_frontier_host_stat *top, size_t ntop);
    int (*checkpoint)(silk_frontier *f, double now, int force);
    int (*kv_get)(silk_frontier *f, const char *key, const char **val, size_t *len);
    int (*kv_set)(silk_frontier *f, const char *key, const char *val, size_t len);
    /* shared backends only; NULL elsewhere (the wrappers answer ENOTSUP) */
    int (*item)(silk_frontier *f, const char *key, size_t klen, const char *const *data,
                const size_t *len, size_t n);
    int (*shared)(silk_frontier *f, const char *key, const char *val, size_t len, double ttl,
                  int nx, silk_frontier_shared_fn cb, void *ud, uint64_t *token);
    void (*shared_forget)(silk_frontier *f, uint64_t token);
    void (*close)(silk_frontier *f);
} silk_frontier_ops;

#define SILK_FRONTIER_MAGIC 0x46524e54u /* "FRNT" */

struct silk_frontier {
    uint32_t magic;                 /* SILK_FRONTIER_MAGIC while open */
    const silk_frontier_ops *ops;
    silk_frontier_notify_fn notify; /* may be NULL */
    void *notify_ud;
    char err[256];                  /* message of the last failure */
};

/* ---- Public API ---- */

void silk_frontier_cfg_init(silk_frontier_cfg *cfg);

/* Opens a frontier. Returns 0 and *out (free with silk_frontier_close), or a
 * SILK_FRONTIER_E* code with *out NULL and a message in err (errlen bytes,
 * always terminated). Nothing leaks on failure. */
int silk_frontier_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen);

/* Frees everything; in-flight pointers die with it. It writes no last
 * checkpoint: what was not checkpointed is lost, as after a kill -9, so a
 * caller whose items could not be written closes without recording their
 * pages as done (checkpoint first to keep everything). NULL is a no-op. */
void silk_frontier_close(silk_frontier *f);

/* Queues a copy of req unless its canonical URL was seen. Returns
 * SILK_FRONTIER_PUSH_NEW / _DUP / _UNKNOWN, or EURL / ENOMEM / EINVAL
 * (message in silk_frontier_errmsg; the frontier is unchanged). */
int silk_frontier_push(silk_frontier *f, const silk_frontier_req *req, double now);

/* The next request that may be fetched at `now`. Returns 1 and *out (a
 * borrowed pointer, valid until silk_frontier_done on its id), 0 when no host
 * is ready (see next_wakeup), or a negative code. Marks the request in
 * flight and starts its host's delay. */
int silk_frontier_pop_ready(silk_frontier *f, double now, const silk_frontier_req **out);

/* Ends an in-flight request: frees its host slot and updates the backoff as
 * the outcome says. Returns 0, ENOENT (unknown id: nothing changed) or
 * ENOMEM (RETRY/REQUEUE only; the request is then dropped). */
int silk_frontier_done(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now);

/* When pop_ready will next return something without any other call:
 * `now` when a host is ready, the earliest time a delayed host becomes
 * ready, or a negative value when nothing is queued or every host with
 * work is full (wait for a done()). */
double silk_frontier_next_wakeup(silk_frontier *f, double now);

/* Per-host politeness overrides for host (a host key, or any URL of it):
 * delay >= 0 replaces the default delay (robots crawl-delay, autothrottle),
 * delay < 0 leaves it; hold_until > now holds the host until then
 * (Retry-After), else leaves the hold. Creates the host if unknown.
 * Returns 0, EURL or ENOMEM. */
int silk_frontier_set_host(silk_frontier *f, const char *host, double delay, double hold_until,
                           double now);

/* Fills *st, and top[0..ntop) with the hosts with most queued requests. */
void silk_frontier_get_stats(silk_frontier *f, double now, silk_frontier_stats *st,
                             silk_frontier_host_stat *top, size_t ntop);

/* Persists the changes since the last checkpoint in one transaction when
 * force, or when checkpoint_ms elapsed, or checkpoint_ops changes wait.
 * Returns 1 when it wrote, 0 when it had no need to (or the backend keeps
 * nothing), EIO when the write failed (changes kept; retry later). */
int silk_frontier_checkpoint(silk_frontier *f, double now, int force);

/* A small key/value store kept with the frontier (sink offsets, the spider's
 * name). kv_set keeps a copy and persists it at the next checkpoint, in the
 * same transaction as the queue. kv_get returns 1 and a pointer owned by the
 * frontier (valid until the next kv_set of that key or close), 0 when the
 * key is absent. Returns ENOMEM/EINVAL on failure. */
int silk_frontier_kv_get(silk_frontier *f, const char *key, const char **val, size_t *len);
int silk_frontier_kv_set(silk_frontier *f, const char *key, const char *val, size_t len);

void silk_frontier_set_notify(silk_frontier *f, silk_frontier_notify_fn fn, void *ud);

/* ---- What a fleet shares (the redis backend; the others answer ENOTSUP) ---- */

/* Queues a group of n >= 1 items (data[i]: one JSON text of len[i] bytes,
 * no newline) for the crawl's item stream. They are stored with the
 * acknowledgements of the next checkpoint, in the same atomic step and
 * before them, so a page is never acknowledged before its items are stored.
 * The store keeps one group per key (any bytes; hashed to 64 bits): a group
 * whose key was stored before is dropped whole, so a page fetched twice (a
 * dead worker's) yields its items once. Returns 0, EINVAL, ENOMEM or
 * ENOTSUP. */
int silk_frontier_item(silk_frontier *f, const char *key, size_t klen, const char *const *data,
                       const size_t *len, size_t n);

/* State the processes of one crawl share (robots.txt), under the crawl's
 * keys. A get asks for key; a set stores val (len bytes) for ttl seconds
 * (> 0), only if key is absent when nx. Asynchronous: cb runs later, from a
 * loop callback, exactly once, unless silk_frontier_shared_forget(f, token)
 * came first. Returns 0 and *token, or EIO (not connected now; cb will not
 * run), EINVAL, ENOMEM or ENOTSUP. */
int silk_frontier_shared_get(silk_frontier *f, const char *key, silk_frontier_shared_fn cb,
                             void *ud, uint64_t *token);
int silk_frontier_shared_set(silk_frontier *f, const char *key, const char *val, size_t len,
                             double ttl, int nx, silk_frontier_shared_fn cb, void *ud,
                             uint64_t *token);
/* The caller no longer wants the answer (its task was cancelled): cb will
 * not run. An unknown or answered token is a no-op. */
void silk_frontier_shared_forget(silk_frontier *f, uint64_t token);

/* `silk collect`: drains the item stream of the crawl at url
 * ("redis://[[USER]:PASSWORD@]IP:PORT/NAME") into the JSON Lines file at
 * path (appended; created if missing). Crash-safe: each batch is written and
 * fsync'd, then its entries are deleted and the file's new size recorded in
 * Redis in one atomic step; a rerun first cuts the file back to the recorded
 * size. So the file holds every stored item exactly once. With follow, waits
 * for more until the crawl is over (no request open) and the stream is
 * empty; else stops when the stream is empty. Progress and the total go to
 * stderr unless quiet. Returns 0 with *items (may be NULL) set, or
 * EINVAL/EIO with a message in err. Blocking: not for the engine's loop. */
int silk_frontier_collect(const char *url, const char *path, int follow, int quiet,
                          uint64_t *items, char *err, size_t errlen);

/* The last failure's message ("" when none). Owned by f. */
const char *silk_frontier_errmsg(const silk_frontier *f);

/* A short static name for a code ("not enough memory"). */
const char *silk_frontier_strerror(int code);

/* Seconds on CLOCK_MONOTONIC: the clock `now` is meant to be read from. */
double silk_frontier_now(void);

/* The versions of the libraries the backends run on, for `silk version`:
 * SQLite's (the loaded library's) and hiredis's (the one built against;
 * it has no run-time version). Static strings. */
const char *silk_frontier_sqlite_version(void);
const char *silk_frontier_hiredis_version(void);

/* The 64-bit hash the seen-set keeps for a canonical URL (never 0). */
uint64_t silk_frontier_hash(const char *s, size_t len);

#endif
