/*
 * frontier_mem.c -- the in-memory frontier backend: the shared scheduler
 * (frontier.c) and a key/value map, nothing persisted. The default for one
 * process without --jobdir. See frontier.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontier_int.h"

typedef struct mem_frontier {
    silk_frontier base; /* first: the handle */
    fr_sched *sched;
    fr_kv *kv;
} mem_frontier;

#define M(f) ((mem_frontier *)(f))

static int mem_push(silk_frontier *f, const silk_frontier_req *req, double now)
{
    return fr_sched_push(M(f)->sched, req, now, 0, NULL);
}

static int mem_pop_ready(silk_frontier *f, double now, const silk_frontier_req **out)
{
    return fr_sched_pop_ready(M(f)->sched, now, out);
}

static int mem_done(silk_frontier *f, uint64_t id, silk_frontier_outcome outcome, double now)
{
    return fr_sched_done(M(f)->sched, id, outcome, now);
}

static double mem_next_wakeup(silk_frontier *f, double now)
{
    return fr_sched_next_wakeup(M(f)->sched, now);
}

static int mem_set_host(silk_frontier *f, const char *host, double delay, double hold_until,
                        double now)
{
    return fr_sched_set_host(M(f)->sched, host, delay, hold_until, now);
}

static void mem_stats(silk_frontier *f, double now, silk_frontier_stats *st,
                      silk_frontier_host_stat *top, size_t ntop)
{
    fr_sched_stats(M(f)->sched, now, st, top, ntop);
}

static int mem_checkpoint(silk_frontier *f, double now, int force)
{
    return 0; /* nothing to persist */
}

static int mem_kv_get(silk_frontier *f, const char *key, const char **val, size_t *len)
{
    return fr_kv_get(M(f)->kv, key, val, len);
}

static int mem_kv_set(silk_frontier *f, const char *key, const char *val, size_t len)
{
    int rc = fr_kv_set(M(f)->kv, key, val, len);
    fr_kv_clear_dirty(M(f)->kv);
    return rc;
}

static void mem_close(silk_frontier *f)
{
    fr_sched_free(M(f)->sched);
    fr_kv_free(M(f)->kv);
    free(f);
}

static const silk_frontier_ops mem_ops = {
    .name = "memory",
    .push = mem_push,
    .pop_ready = mem_pop_ready,
    .done = mem_done,
    .next_wakeup = mem_next_wakeup,
    .set_host = mem_set_host,
    .stats = mem_stats,
    .checkpoint = mem_checkpoint,
    .kv_get = mem_kv_get,
    .kv_set = mem_kv_set,
    .close = mem_close,
};

int fr_mem_open(const silk_frontier_cfg *cfg, silk_frontier **out, char *err, size_t errlen)
{
    mem_frontier *m = calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    if (fr_sched_new(cfg, NULL, m->base.err, &m->sched) != 0 || fr_kv_new(&m->kv) != 0)
        goto nomem;
    m->base.magic = SILK_FRONTIER_MAGIC;
    m->base.ops = &mem_ops;
    *out = &m->base;
    return 0;
nomem:
    if (m) {
        fr_sched_free(m->sched);
        free(m);
    }
    snprintf(err, errlen, "not enough memory");
    return SILK_FRONTIER_ENOMEM;
}
