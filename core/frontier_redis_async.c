/*
 * frontier_redis_async.c -- the shared frontier's conversation with Redis on
 * the engine's loop: one command of each kind in flight (slots), replies,
 * the two connections and their reconnects, the pump timer. See the design
 * at the top of frontier_redis.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "frontier_redis_int.h"

/* sending */

void fr_redis_pump(red_frontier *r);
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
    const char *pre[] = {"EVAL", FR_REDIS_APPLY, "7", r->at.k_q, r->at.k_seen, r->at.k_open, r->at.k_items,
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
        host_ov *ov = fr_redis_host_find(r, e->req.host);
        if (ov && ov->hold_until > now) {
            e->retry_at = ov->hold_until;
            continue;
        }
        double d = ov && ov->delay >= 0 ? ov->delay : r->cfg.delay;
        if (d > 0 && r->cfg.jitter > 0)
            d *= 1 - r->cfg.jitter + 2 * r->cfg.jitter * fr_redis_rand01(r);
        char token[160], dms[32];
        snprintf(token, sizeof token, "%s/%s", r->at.consumer, e->sid);
        snprintf(dms, sizeof dms, "%.0f", d * 1000);
        size_t argc0 = b.argc;
        if (fr_redis_ab_str(&b, e->req.host) || fr_redis_ab_str(&b, token) || fr_redis_ab_str(&b, dms)) {
            fr_redis_ab_truncate(&b, argc0);
            break;
        }
        r->leasing[r->nleasing++] = e;
    }
    if (r->nleasing) {
        const char *pre[] = {"EVAL", FR_REDIS_LEASE, "1", r->at.k_next, r->at.k_lease, ttl, max};
        if (send_cmd(r, &r->cmd, S_LEASE, pre, 7, &b, CMD_TIMEOUT) == 0) {
            for (size_t i = 0; i < r->nleasing; i++)
                r->leasing[i]->leasing = 1;
        } else {
            r->nleasing = 0;
        }
    }
    fr_redis_ab_free(&b);
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
            if (fr_redis_ab_str(&b, e->sid) || fr_redis_ab_str(&b, e->leased ? e->req.host : ""))
                goto nomem;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%.0f", r->at.visibility * 1000);
    const char *pre[] = {"EVAL", FR_REDIS_TICK, "4", r->at.k_q, r->at.k_open, r->at.k_seen, r->at.k_epoch,
                         GROUP, r->at.consumer, r->at.k_lease, ttl, r->epoch};
    if (send_cmd(r, &r->cmd, S_TICK, pre, 12, &b, CMD_TIMEOUT) == 0) {
        r->last_tick = now;
        if (beat)
            r->last_beat = now;
    }
nomem:
    fr_redis_ab_free(&b);
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
void fr_redis_pump(red_frontier *r)
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
            fr_redis_list_add(r, e, L_WAIT);
            return;
        }
    }
    fr_redis_rent_free(e);
    fr_redis_rlog(r, "entry %s holds no readable request: dropped", id->str);
    size_t argc0 = r->durable.argc;
    if (fr_redis_ab_str(&r->durable, "A") || fr_redis_ab_add(&r->durable, id->str, id->len) ||
        fr_redis_ab_str(&r->durable, ""))
        fr_redis_ab_truncate(&r->durable, argc0);
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
        fr_redis_rlog(r, "%zu claimed entries were deleted meanwhile", rep->element[2]->elements);
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
            fr_redis_list_del(r, e);
            fr_redis_list_add(r, e, L_READY);
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
            fr_redis_rlog(r, "%s", LOST_MSG);
        r->lost = 1;
        return;
    }
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        if (!(s->kind == S_GROUP && strncmp(rep->str, "BUSYGROUP", 9) == 0) &&
            now - r->last_err_log >= 1) {
            fr_redis_rlog(r, "command failed: %s", rep->str);
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
        fr_redis_pump(r); /* after an error, the pump timer tries again */
}

/* connections */

void fr_redis_conn_start(rconn *c);

static void conn_later(rconn *c)
{
    red_frontier *r = c->r;
    if (r->closing)
        return;
    if (!r->was_down) {
        fr_redis_rlog(r, "connection lost: taking no new work until it is back");
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
        fr_redis_rlog(r, "AUTH refused: %s", rep->str);
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
        fr_redis_rlog(r, "connection back: resuming");
        r->was_down = 0;
    }
    fr_redis_pump(r);
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
void fr_redis_conn_drop(rconn *c)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    c->up = 0;
    if (ac)
        redisAsyncFree(ac);
}

void fr_redis_conn_start(rconn *c)
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

void fr_redis_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    rconn *c = (rconn *)((char *)w - offsetof(rconn, retry));
    fr_redis_conn_start(c);
}

/* Every PUMP_EVERY: replies overdue drop their connection (our command
 * timeout; hiredis 0.14 has none), then whatever may be sent is sent. */
void fr_redis_on_pump(struct ev_loop *loop, ev_timer *w, int revents)
{
    red_frontier *r = (red_frontier *)((char *)w - offsetof(red_frontier, pump_timer));
    double t = silk_frontier_now(); /* not ev_now: stale after a long callback */
    for (int s = 0; s < NSLOT; s++) {
        if (!r->slots[s].busy || r->slots[s].deadline > t)
            continue;
        rconn *c = s == S_READ ? &r->rd : &r->cmd;
        fr_redis_rlog(r, "no reply in time: reconnecting");
        fr_redis_conn_drop(c); /* clears busy through the NULL-reply callbacks */
        conn_later(c);
    }
    for (shreq *q = r->shared; q; q = q->next)
        if (q->deadline <= t) {
            fr_redis_rlog(r, "no reply in time: reconnecting");
            fr_redis_conn_drop(&r->cmd); /* answers every shared request EIO */
            conn_later(&r->cmd);
            break;
        }
    for (rconn *c = &r->cmd; c; c = c == &r->cmd ? &r->rd : NULL)
        if (c->ac && !c->up && c->connect_by < t) {
            fr_redis_conn_drop(c);
            conn_later(c);
        }
    fr_redis_pump(r);
}
