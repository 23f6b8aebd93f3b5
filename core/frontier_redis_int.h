/*
 * frontier_redis_int.h -- what frontier_redis.c (the shared frontier) lends
 * frontier_collect.c (`silk collect`): a crawl's address and keys as a
 * redis:// URL names them, and the blocking connection both use outside the
 * loop. Not a public contract; see frontier.h.
 */
#ifndef SILK_FRONTIER_REDIS_INT_H
#define SILK_FRONTIER_REDIS_INT_H

#include <stddef.h>

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

#endif
