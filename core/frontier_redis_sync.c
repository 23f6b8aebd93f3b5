/*
 * frontier_redis_sync.c -- the shared frontier outside the loop: a crawl's
 * redis:// URL and keys, the blocking connection (`silk collect` uses both),
 * and the synchronous steps of open (epoch, group) and close (hand back
 * what this worker holds). See frontier_redis_int.h.
 */
#include <arpa/inet.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "frontier_redis_int.h"

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
int fr_redis_sync_prepare(red_frontier *r, char *err, size_t errlen)
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
        fr_redis_rlog(r, "at close: not enough memory");
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
        fr_redis_rlog(r, "at close: %s", err);
done:
    free(argv);
    free(alen);
}

/* At close: what no reply confirmed goes out now (idempotent if it was
 * applied already), then the leases and the entries this consumer still
 * holds are handed back. */
void fr_redis_sync_giveback(red_frontier *r)
{
    char err[256];
    if (fr_redis_ab_move(&r->sending, &r->eager) != 0 || fr_redis_ab_move(&r->sending, &r->durable) != 0)
        fr_redis_rlog(r, "out of memory at close: some acks are lost (their entries will be claimed again)");
    redisContext *c = fr_redis_connect(&r->at, err, sizeof err);
    if (!c) {
        fr_redis_rlog(r, "at close: %s; %zu ops not sent (their entries will be claimed again after %.0f s)",
              err, r->sending.nops, r->at.visibility);
        return;
    }
    if (r->sending.argc) {
        const char *pre[] = {"EVAL", FR_REDIS_APPLY, "7", r->at.k_q, r->at.k_seen, r->at.k_open, r->at.k_items,
                             r->at.k_ikeys, r->at.k_next, r->at.k_epoch, GROUP, r->at.k_lease, r->epoch};
        sync_eval(r, c, pre, 13, &r->sending);
    }
    argbuf b = {0};
    for (int l = 0; l < NLIST; l++)
        for (rent *e = r->lists[l].head; e; e = e->next)
            if (e->leased) {
                char token[160];
                snprintf(token, sizeof token, "%s/%s", r->at.consumer, e->sid);
                if (fr_redis_ab_str(&b, e->req.host) || fr_redis_ab_str(&b, token))
                    fr_redis_ab_truncate(&b, b.argc & ~(size_t)1); /* leases expire by themselves */
            }
    const char *gpre[] = {"EVAL", FR_REDIS_GIVEBACK, "3", r->at.k_q, r->at.k_open, r->at.k_epoch, GROUP, r->at.consumer,
                          r->at.k_lease, r->epoch};
    sync_eval(r, c, gpre, 8, &b);
    fr_redis_ab_free(&b);
    redisFree(c);
}
