/*
 * frontier_sqlite.c -- the --jobdir frontier backend: the shared in-memory
 * scheduler (frontier.c), mirrored into SQLite (WAL) in DIR/frontier.sqlite.
 *
 * How it stays crash-safe: every change the scheduler makes (a request
 * queued, retried or gone; a seen hash; a host's backoff or delay; a kv key)
 * is appended to an in-memory journal through fr_hooks. checkpoint() writes
 * the journal in one transaction, in order, and clears it only when COMMIT
 * succeeded. A request stays in `pending` from its push until its done(), so
 * requests in flight at the last checkpoint are still there after a kill -9
 * and are queued again at reopen (at-least-once). WAL with synchronous=NORMAL
 * keeps every committed transaction across a process crash (not across power
 * loss: cfg.sync_full for that).
 *
 * Tables: kv(k, v) -- "silk.spider" (the spider's name, checked at open),
 * "silk.format", and the runner's own keys; pending(id, req) -- the request
 * in fr_req_encode form; seen(h) -- 64-bit hashes as rowids (8 bytes each
 * plus b-tree overhead); hosts(k, delay, hold_wall, failures) -- hold times
 * as wall-clock seconds, so a backoff outlives a restart.
 *
 * The database is opened with locking_mode=EXCLUSIVE, so a second process on
 * the same jobdir is refused at open instead of corrupting the crawl.
 * The whole queue also lives in memory (the scheduler): RAM bounds the crawl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "frontier_int.h"

#define FORMAT "1"

enum { J_INS, J_DEL, J_HOST };

typedef struct jop {
    int kind;
    uint64_t id;    /* J_INS, J_DEL: request id */
    char *blob;     /* J_INS: encoded request; J_HOST: host key */
    size_t len;
    fr_host_state st; /* J_HOST */
} jop;

typedef struct sql_frontier {
    silk_frontier base; /* first: the handle */
    fr_sched *sched;
    fr_kv *kv;
    sqlite3 *db;
    char *file;
    jop *ops;
    size_t nops, capops;
    uint64_t *seen;     /* seen hashes to insert: order-free, sorted at write */
    size_t nseen, capseen;
    int broken;         /* a journal append failed: the store is behind */
    double last_cp;     /* `now` of the last checkpoint */
    double cp_ms;       /* cfg.checkpoint_ms */
    size_t cp_ops;      /* cfg.checkpoint_ops */
    uint64_t checkpoints;
    double cp_last_ms, cp_max_ms, cp_total_ms;
} sql_frontier;

#define Q(f) ((sql_frontier *)(f))

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* journal */

static jop *j_add(sql_frontier *q, int kind)
{
    if (q->nops == q->capops) {
        size_t ncap = q->capops ? q->capops * 2 : 256;
        jop *n = realloc(q->ops, ncap * sizeof *n);
        if (!n) {
            q->broken = 1;
            return NULL;
        }
        q->ops = n;
        q->capops = ncap;
    }
    jop *o = &q->ops[q->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    return o;
}

static void j_ins(sql_frontier *q, const silk_frontier_req *req)
{
    char *blob;
    size_t len;
    if (fr_req_encode(req, &blob, &len) != 0) {
        q->broken = 1;
        return;
    }
    jop *o = j_add(q, J_INS);
    if (!o) {
        free(blob);
        return;
    }
    o->id = req->id;
    o->blob = blob;
    o->len = len;
}

static void hook_forget(void *ud, const silk_frontier_req *req)
{
    jop *o = j_add(ud, J_DEL);
    if (o)
        o->id = req->id;
}

static void hook_retry(void *ud, const silk_frontier_req *req)
{
    j_ins(ud, req);
}

static void hook_host(void *ud, const char *host, const fr_host_state *st)
{
    sql_frontier *q = ud;
    char *k = strdup(host);
    if (!k) {
        q->broken = 1;
        return;
    }
    jop *o = j_add(q, J_HOST);
    if (!o) {
        free(k);
        return;
    }
    o->blob = k;
    o->st = *st;
}

static void j_clear(sql_frontier *q)
{
    for (size_t i = 0; i < q->nops; i++)
        free(q->ops[i].blob);
    q->nops = 0;
}

/* ------------------------------------------------------------------ */
/* SQL helpers */

static int sql_fail(sql_frontier *q, const char *what)
{
    return fr_fail(q->base.err, SILK_FRONTIER_EIO, "%s: %s: %s", q->file, what,
                   q->db ? sqlite3_errmsg(q->db) : "cannot open");
}

static int exec(sql_frontier *q, const char *sql)
{
    if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(q, sql);
    return 0;
}

static int kv_write(void *ud, const char *key, const char *val, size_t len)
{
    sqlite3_stmt *st = ud;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, (int)len, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    sqlite3_int64 x = (sqlite3_int64) * (const uint64_t *)a, y = (sqlite3_int64) * (const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Writes the journal and the dirty kv keys in one transaction. */
static int write_journal(sql_frontier *q, double now)
{
    sqlite3_stmt *ins = NULL, *del = NULL, *seen = NULL, *host = NULL, *kv = NULL;
    int rc = 0;
    double wall = wall_now();
    if ((rc = exec(q, "BEGIN IMMEDIATE")) != 0)
        return rc;
    if (sqlite3_prepare_v2(q->db, "INSERT OR REPLACE INTO pending(id, req) VALUES(?, ?)", -1, &ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "DELETE FROM pending WHERE id = ?", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "INSERT OR IGNORE INTO seen(h) VALUES(?)", -1, &seen, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(q->db,
                           "INSERT OR REPLACE INTO hosts(k, delay, hold_wall, failures) "
                           "VALUES(?, ?, ?, ?)",
                           -1, &host, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", -1, &kv, NULL) !=
            SQLITE_OK) {
        rc = sql_fail(q, "prepare");
        goto done;
    }
    for (size_t i = 0; i < q->nops; i++) {
        jop *o = &q->ops[i];
        sqlite3_stmt *st = NULL;
        switch (o->kind) {
        case J_INS:
            st = ins;
            sqlite3_bind_int64(st, 1, (sqlite3_int64)o->id);
            sqlite3_bind_blob(st, 2, o->blob, (int)o->len, SQLITE_STATIC);
            break;
        case J_DEL:
            st = del;
            sqlite3_bind_int64(st, 1, (sqlite3_int64)o->id);
            break;
        case J_HOST:
            st = host;
            sqlite3_bind_text(st, 1, o->blob, -1, SQLITE_STATIC);
            sqlite3_bind_double(st, 2, o->st.delay);
            sqlite3_bind_double(st, 3, o->st.hold_until > now ? wall + (o->st.hold_until - now) : 0);
            sqlite3_bind_int(st, 4, o->st.failures);
            break;
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = sql_fail(q, "write");
            goto done;
        }
        sqlite3_reset(st);
    }
    /* random keys go into the b-tree far faster in key order */
    if (q->nseen)
        qsort(q->seen, q->nseen, sizeof *q->seen, cmp_i64);
    for (size_t i = 0; i < q->nseen; i++) {
        sqlite3_bind_int64(seen, 1, (sqlite3_int64)q->seen[i]);
        if (sqlite3_step(seen) != SQLITE_DONE) {
            rc = sql_fail(q, "write seen");
            goto done;
        }
        sqlite3_reset(seen);
    }
    if (fr_kv_each_dirty(q->kv, kv_write, kv) != 0) {
        rc = sql_fail(q, "write kv");
        goto done;
    }
    rc = exec(q, "COMMIT");
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(seen);
    sqlite3_finalize(host);
    sqlite3_finalize(kv);
    if (rc)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* ops */

static int q_push(silk_frontier *f, const silk_frontier_req *req, double now)
{
    sql_frontier *q = Q(f);
    const silk_frontier_req *stored;
    int rc = fr_sched_push(q->sched, req, now, 0, &stored);
    if (rc == SILK_FRONTIER_PUSH_NEW) {
        j_ins(q, stored);
        if (q->nseen == q->capseen) {
            size_t ncap = q->capseen ? q->capseen * 2 : 1024;
            uint64_t *ns = realloc(q->seen, ncap * sizeof *ns);
            if (!ns) {
                q->broken = 1;
                return rc;
            }
            q->seen = ns;
            q->capseen = ncap;
        }
        q->seen[q->nseen++] = silk_frontier_hash(stored->canonical, strlen(stored->canonical));
    }
    return rc;
}

static int q_pop_ready(silk_frontier *f, double now, const silk_frontier_req **out)
{
    return fr_sched_pop_ready(Q(f)->sched, now, out);
}

static int q_done(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now)
{
    return fr_sched_done(Q(f)->sched, id, outcome, now);
}

static double q_next_wakeup(silk_frontier *f, double now)
{
    return fr_sched_next_wakeup(Q(f)->sched, now);
}

static int q_set_host(silk_frontier *f, const char *host, double delay, double hold_until,
                      double now)
{
    return fr_sched_set_host(Q(f)->sched, host, delay, hold_until, now);
}

static void q_stats(silk_frontier *f, double now, silk_frontier_stats *st,
                    silk_frontier_host_stat *top, size_t ntop)
{
    sql_frontier *q = Q(f);
    fr_sched_stats(q->sched, now, st, top, ntop);
    st->journal = q->nops + q->nseen + fr_kv_dirty_count(q->kv);
    st->checkpoints = q->checkpoints;
    st->checkpoint_last_ms = q->cp_last_ms;
    st->checkpoint_max_ms = q->cp_max_ms;
    st->checkpoint_total_ms = q->cp_total_ms;
}

static int q_checkpoint(silk_frontier *f, double now, int force)
{
    sql_frontier *q = Q(f);
    size_t n = q->nops + q->nseen + fr_kv_dirty_count(q->kv);
    if (q->broken)
        return fr_fail(f->err, SILK_FRONTIER_EIO,
                       "%s: an update was lost to an allocation failure; the jobdir is behind",
                       q->file);
    if (n == 0) {
        q->last_cp = now;
        return 0;
    }
    if (!force && n < q->cp_ops && (now - q->last_cp) * 1e3 < q->cp_ms)
        return 0;
    double t0 = silk_frontier_now();
    int rc = write_journal(q, now);
    if (rc)
        return rc;
    double ms = (silk_frontier_now() - t0) * 1e3;
    j_clear(q);
    q->nseen = 0;
    fr_kv_clear_dirty(q->kv);
    q->last_cp = now;
    q->checkpoints++;
    q->cp_last_ms = ms;
    q->cp_total_ms += ms;
    if (ms > q->cp_max_ms)
        q->cp_max_ms = ms;
    return 1;
}

static int q_kv_get(silk_frontier *f, const char *key, const char **val, size_t *len)
{
    return fr_kv_get(Q(f)->kv, key, val, len);
}

static int q_kv_set(silk_frontier *f, const char *key, const char *val, size_t len)
{
    return fr_kv_set(Q(f)->kv, key, val, len);
}

static void q_free(sql_frontier *q)
{
    if (q->db)
        sqlite3_close(q->db);
    j_clear(q);
    free(q->ops);
    free(q->seen);
    fr_sched_free(q->sched);
    fr_kv_free(q->kv);
    free(q->file);
    free(q);
}

/* No last checkpoint (frontier.h): after a failed write of the items, the
 * pages done since the last checkpoint must stay pending in the store. */
static void q_close(silk_frontier *f)
{
    q_free(Q(f));
}

static const silk_frontier_ops sqlite_ops = {
    .name = "sqlite",
    .push = q_push,
    .pop_ready = q_pop_ready,
    .done = q_done,
    .next_wakeup = q_next_wakeup,
    .set_host = q_set_host,
    .stats = q_stats,
    .checkpoint = q_checkpoint,
    .kv_get = q_kv_get,
    .kv_set = q_kv_set,
    .close = q_close,
};

/* ------------------------------------------------------------------ */
/* open */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pending(id INTEGER PRIMARY KEY, req BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seen(h INTEGER PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS hosts(k TEXT PRIMARY KEY, delay REAL, hold_wall REAL,"
    " failures INTEGER);";

/* Checks the spider's name and the format; records them in a new store. */
static int check_identity(sql_frontier *q, const char *dir, const char *name)
{
    const char *v;
    size_t len;
    if (fr_kv_get(q->kv, "silk.format", &v, &len) && strcmp(v, FORMAT) != 0)
        return fr_fail(q->base.err, SILK_FRONTIER_ECORRUPT,
                       "jobdir %s has frontier format %.32s; this silk reads format " FORMAT, dir, v);
    if (fr_kv_get(q->kv, "silk.spider", &v, &len)) {
        if (name && strcmp(v, name) != 0)
            return fr_fail(q->base.err, SILK_FRONTIER_EMISMATCH,
                           "jobdir %s belongs to spider \"%.64s\", not \"%.64s\": use another "
                           "--jobdir, or delete this one to start over",
                           dir, v, name);
        return 0;
    }
    if (fr_kv_set(q->kv, "silk.format", FORMAT, 1) != 0 ||
        fr_kv_set(q->kv, "silk.spider", name ? name : "", name ? strlen(name) : 0) != 0)
        return fr_fail(q->base.err, SILK_FRONTIER_ENOMEM, "not enough memory");
    return 0;
}

static int load(sql_frontier *q, double now)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, step;
    double wall = wall_now();
    /* kv */
    if (sqlite3_prepare_v2(q->db, "SELECT k, v FROM kv", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(q, "read kv");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (!k || fr_kv_set(q->kv, k, v ? v : "", len) != 0) {
            rc = fr_fail(q->base.err, SILK_FRONTIER_ENOMEM, "not enough memory");
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(q, "read kv");
        goto done;
    }
    fr_kv_clear_dirty(q->kv);
    sqlite3_finalize(st);
    /* hosts */
    if (sqlite3_prepare_v2(q->db, "SELECT k, delay, hold_wall, failures FROM hosts", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(q, "read hosts");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        fr_host_state hs;
        hs.delay = sqlite3_column_double(st, 1);
        double hw = sqlite3_column_double(st, 2);
        hs.hold_until = hw > wall ? now + (hw - wall) : 0;
        hs.failures = sqlite3_column_int(st, 3);
        if (!k)
            continue;
        if ((rc = fr_sched_restore_host(q->sched, k, &hs, now)) != 0)
            goto done;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(q, "read hosts");
        goto done;
    }
    sqlite3_finalize(st);
    /* seen */
    if (sqlite3_prepare_v2(q->db, "SELECT h FROM seen", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(q, "read seen");
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (fr_sched_seen_add(q->sched, (uint64_t)sqlite3_column_int64(st, 0)) != 0) {
            rc = fr_fail(q->base.err, SILK_FRONTIER_ENOMEM, "not enough memory");
            goto done;
        }
    if (step != SQLITE_DONE) {
        rc = sql_fail(q, "read seen");
        goto done;
    }
    sqlite3_finalize(st);
    /* pending, in push order (which the scheduler's FIFO/LIFO replays) */
    if (sqlite3_prepare_v2(q->db, "SELECT id, req FROM pending ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return sql_fail(q, "read pending");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        silk_frontier_req r;
        uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
        const char *blob = sqlite3_column_blob(st, 1);
        if (!blob || fr_req_decode(blob, (size_t)sqlite3_column_bytes(st, 1), &r) != 0 || !id) {
            rc = fr_fail(q->base.err, SILK_FRONTIER_ECORRUPT, "%s: pending request %llu is corrupt",
                         q->file, (unsigned long long)id);
            goto done;
        }
        r.id = id;
        rc = fr_sched_push(q->sched, &r, now, FR_PUSH_KEEP_ID | FR_PUSH_NO_SEEN, NULL);
        if (rc < 0)
            goto done;
        rc = 0;
    }
    if (step != SQLITE_DONE)
        rc = sql_fail(q, "read pending");
done:
    sqlite3_finalize(st);
    return rc;
}

int fr_sqlite_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen)
{
    static const fr_hooks proto = {NULL, hook_forget, hook_retry, hook_host};
    sql_frontier *q = NULL;
    int rc;
    char pragmas[160];
    *out = NULL;
    if (!cfg->path || !*cfg->path) {
        snprintf(err, errlen, "the sqlite frontier needs a path (the jobdir)");
        return SILK_FRONTIER_EINVAL;
    }
    if (mkdir(cfg->path, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create jobdir %s: %s", cfg->path, strerror(errno));
        return SILK_FRONTIER_EIO;
    }
    q = calloc(1, sizeof *q);
    if (!q)
        goto nomem;
    fr_hooks hooks = proto;
    hooks.ud = q;
    size_t flen = strlen(cfg->path) + sizeof "/frontier.sqlite";
    q->file = malloc(flen);
    if (!q->file || fr_sched_new(cfg, &hooks, q->base.err, &q->sched) != 0 ||
        fr_kv_new(&q->kv) != 0)
        goto nomem;
    snprintf(q->file, flen, "%s/frontier.sqlite", cfg->path);
    if (sqlite3_open_v2(q->file, &q->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = sql_fail(q, "open");
        goto fail;
    }
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             " PRAGMA cache_size=-32768;",
             cfg->sync_full ? "FULL" : "NORMAL");
    /* the exclusive lock is taken by the first write and kept until close */
    if (sqlite3_exec(q->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(q->db, "BEGIN IMMEDIATE; COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        if ((sqlite3_errcode(q->db) & 0xff) == SQLITE_BUSY)
            rc = fr_fail(q->base.err, SILK_FRONTIER_EIO,
                         "jobdir %s is in use by another process (%s)", cfg->path,
                         sqlite3_errmsg(q->db));
        else
            rc = sql_fail(q, "set up");
        goto fail;
    }
    if ((rc = exec(q, schema)) != 0)
        goto fail;
    double now = silk_frontier_now();
    if ((rc = load(q, now)) != 0 || (rc = check_identity(q, cfg->path, cfg->name)) != 0)
        goto fail;
    q->last_cp = now;
    q->cp_ms = cfg->checkpoint_ms;
    q->cp_ops = cfg->checkpoint_ops ? cfg->checkpoint_ops : 1;
    q->base.magic = SILK_FRONTIER_MAGIC;
    q->base.ops = &sqlite_ops;
    if (fr_kv_dirty_count(q->kv) && (rc = write_journal(q, now)) != 0)
        goto fail;
    fr_kv_clear_dirty(q->kv);
    *out = &q->base;
    return 0;
nomem:
    rc = SILK_FRONTIER_ENOMEM;
    if (q)
        fr_fail(q->base.err, rc, "not enough memory");
fail:
    snprintf(err, errlen, "%s", q ? q->base.err : "not enough memory");
    if (q)
        q_free(q);
    return rc;
}

const char *silk_frontier_sqlite_version(void) { return sqlite3_libversion(); }
