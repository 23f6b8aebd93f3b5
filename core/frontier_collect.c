/*
 * frontier_collect.c -- `silk collect`: drains a shared crawl's {NAME}:items
 * stream (frontier_redis.c's --items redis) into a JSON-lines file
 * (silk_frontier_collect; see frontier.h for the contract).
 *
 * Crash safety: each batch is appended and fsynced before Redis records the
 * file's new size and deletes the batch's entries, in one script; a collect
 * killed between the two finds the file longer than recorded at its next
 * start and cuts the unrecorded tail (collect_align), whose entries are still
 * in the stream. So every item lands in the file exactly once.
 * Synchronous (blocking hiredis); runs outside any engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "frontier_redis_int.h"

/* KEYS items collected; ARGV path size, then entry ids: the file at path
 * now ends at size and holds those entries, which are deleted ->
 * entries left in the stream */
static const char COLLECTED[] =
    "redis.call('HSET',KEYS[2],ARGV[1],ARGV[2])\n"
    "if #ARGV>2 then redis.call('XDEL',KEYS[1],unpack(ARGV,3)) end\n"
    "return redis.call('XLEN',KEYS[1])\n";

#define COLLECT_BATCH "1000"
#define COLLECT_POLL_US 200000

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Brings the file to the size Redis recorded for it: a batch written but
 * not recorded (collect killed in between) is cut off, since its entries
 * are still in the stream. A file never recorded, or just created, is
 * taken as it is. */
static int collect_align(fr_redis_crawl *r, redisContext *c, int fd, const char *key, int created,
                         char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return snprintf(err, errlen, "%s", strerror(errno)), -1;
    redisReply *rep = fr_redis_simple(c, err, errlen, 3, "HGET", r->k_collected, key);
    if (!rep)
        return -1;
    long long recorded = rep->type == REDIS_REPLY_STRING && !created ? strtoll(rep->str, NULL, 10) : -1;
    freeReplyObject(rep);
    if (recorded < 0) {
        char size[32];
        snprintf(size, sizeof size, "%lld", (long long)sb.st_size);
        rep = fr_redis_simple(c, err, errlen, 4, "HSET", r->k_collected, key, size);
        if (!rep)
            return -1;
        freeReplyObject(rep);
    } else if (sb.st_size < recorded) {
        snprintf(err, errlen,
                 "%s is shorter (%lld bytes) than collect left it (%lld): changed by someone "
                 "else; move it away or collect into another file",
                 key, (long long)sb.st_size, recorded);
        return -1;
    } else if (sb.st_size > recorded) {
        if (ftruncate(fd, (off_t)recorded) != 0)
            return snprintf(err, errlen, "%s: %s", key, strerror(errno)), -1;
        fprintf(stderr, "silk: collect: cut %lld bytes an interrupted collect wrote to %s "
                "(their items are collected again)\n", (long long)(sb.st_size - recorded), key);
    }
    if (lseek(fd, 0, SEEK_END) < 0)
        return snprintf(err, errlen, "%s: %s", key, strerror(errno)), -1;
    return 0;
}

/* 1 when the crawl is over: Redis says no request is open. */
static int collect_crawl_over(fr_redis_crawl *r, redisContext *c, char *err, size_t errlen)
{
    redisReply *rep = fr_redis_simple(c, err, errlen, 2, "GET", r->k_open);
    if (!rep)
        return -1;
    int over = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "0") == 0;
    freeReplyObject(rep);
    return over;
}

/* Writes one XRANGE reply's items to fd, fsyncs, then records and deletes
 * them. Returns the number of entries, or -1. */
static long collect_batch(fr_redis_crawl *r, redisContext *c, int fd, const char *key,
                          const redisReply *rep, char *err, size_t errlen)
{
    size_t n = rep->elements, blen = 0, bcap = 0;
    char *buf = NULL;
    const char **argv = malloc((n + 7) * sizeof *argv);
    size_t *alen = malloc((n + 7) * sizeof *alen);
    long rc = -1;
    if (!argv || !alen)
        goto nomem;
    size_t argc = 7;
    for (size_t i = 0; i < n; i++) {
        const redisReply *en = rep->element[i];
        if (en->type != REDIS_REPLY_ARRAY || en->elements < 2 ||
            en->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *fv = en->element[1];
        for (size_t j = 0; fv->type == REDIS_REPLY_ARRAY && j + 1 < fv->elements; j += 2) {
            const redisReply *v = fv->element[j + 1];
            if (fv->element[j]->len != 1 || fv->element[j]->str[0] != 'i' ||
                v->type != REDIS_REPLY_STRING)
                continue;
            if (blen + v->len + 1 > bcap) {
                size_t nc = bcap ? bcap * 2 : 65536;
                while (nc < blen + v->len + 1)
                    nc *= 2;
                char *nb = realloc(buf, nc);
                if (!nb)
                    goto nomem;
                buf = nb;
                bcap = nc;
            }
            memcpy(buf + blen, v->str, v->len);
            blen += v->len;
            buf[blen++] = '\n';
        }
        argv[argc] = en->element[0]->str;
        alen[argc++] = en->element[0]->len;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || write_all(fd, buf, blen) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "writing %s: %s", key, strerror(errno));
        goto done;
    }
    char size[32];
    snprintf(size, sizeof size, "%lld", (long long)end + (long long)blen);
    const char *pre[] = {"EVAL", COLLECTED, "2", r->k_items, r->k_collected, key, size};
    for (int i = 0; i < 7; i++) {
        argv[i] = pre[i];
        alen[i] = strlen(pre[i]);
    }
    redisReply *done = fr_redis_cmd(c, (int)argc, argv, alen, err, errlen);
    if (!done)
        goto done;
    freeReplyObject(done);
    rc = (long)(argc - 7);
    goto done;
nomem:
    snprintf(err, errlen, "not enough memory");
done:
    free(buf);
    free(argv);
    free(alen);
    return rc;
}

int silk_frontier_collect(const char *url, const char *path, int follow, int quiet,
                          uint64_t *items, char *err, size_t errlen)
{
    fr_redis_crawl *r = calloc(1, sizeof *r); /* the URL's parts and the keys */
    redisContext *c = NULL;
    char *key = NULL;
    int fd = -1, rc = SILK_FRONTIER_EIO;
    uint64_t total = 0;
    if (!r) {
        snprintf(err, errlen, "not enough memory");
        return SILK_FRONTIER_ENOMEM;
    }
    if ((rc = fr_redis_parse_url(r, url, err, errlen)) != 0)
        goto done;
    rc = SILK_FRONTIER_EIO;
    fr_redis_name_keys(r);
    int created = access(path, F_OK) != 0;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || !(key = realpath(path, NULL))) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto done;
    }
    if (!(c = fr_redis_connect(r, err, errlen)) || collect_align(r, c, fd, key, created, err, errlen) != 0)
        goto done;
    double last_note = silk_frontier_now();
    for (;;) {
        int over = follow ? collect_crawl_over(r, c, err, errlen) : 1;
        if (over < 0)
            goto done;
        redisReply *rep = fr_redis_simple(c, err, errlen, 6, "XRANGE", r->k_items, "-", "+",
                                      "COUNT", COLLECT_BATCH);
        if (!rep)
            goto done;
        long n = rep->type == REDIS_REPLY_ARRAY && rep->elements
                     ? collect_batch(r, c, fd, key, rep, err, errlen) : 0;
        freeReplyObject(rep);
        if (n < 0)
            goto done;
        total += (uint64_t)n;
        if (!quiet && silk_frontier_now() - last_note >= 5) {
            fprintf(stderr, "silk: collect: %llu items so far\n", (unsigned long long)total);
            last_note = silk_frontier_now();
        }
        if (n == 0 && over)
            break;
        if (n == 0)
            usleep(COLLECT_POLL_US);
    }
    if (!quiet)
        fprintf(stderr, "silk: collected %llu items into %s\n", (unsigned long long)total, key);
    rc = 0;
done:
    if (items)
        *items = total;
    if (c)
        redisFree(c);
    if (fd >= 0)
        close(fd);
    free(key);
    free(r);
    return rc;
}
