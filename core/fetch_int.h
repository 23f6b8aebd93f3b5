/*
 * fetch_int.h -- the records the files of fetch share: a transfer, a host,
 * a session, the per-engine state, and the few functions one file calls in
 * another. Not a contract for anyone else: fetch.h is.
 *
 * The files, one job each:
 *   fetch.c       the state on the loop: admission (per-host queues, the
 *                 ready ring, slots, the handle pool), the loop glue that
 *                 drives curl, and the state's life
 *   fetch_xfer.c  a transfer's record, sessions and their cookie jars, and
 *                 completion (through the loop, never from the starter)
 *   fetch_easy.c  an attempt as curl sees it: the easy handle's options and
 *                 the callbacks that fill the response
 *   fetch_end.c   the end of an attempt: what curl's result means, retries,
 *                 redirects
 */
#ifndef SILK_FETCH_INT_H
#define SILK_FETCH_INT_H

#include <stdint.h>

#include <curl/curl.h>
#include <ev.h>

#include "decode.h"
#include "fetch.h"

#define XFER_MAGIC 0x7366786cu          /* "sfxl" */
#define HEADER_CAP (256 * 1024)         /* total response header bytes per response */
#define HOST_BUCKETS 1024
#define FETCH_SHARDS 16                 /* multi handles; a host's transfers all use one */

typedef enum xstate { X_NEW, X_QUEUED, X_ACTIVE, X_BACKOFF, X_POSTED, X_DONE } xstate;

typedef struct host host;
typedef struct session session;

/* A response header as offsets into x->hbuf (which may move as it grows). */
typedef struct hdr_off { size_t no, nl, vo, vl; } hdr_off;

struct silk_fetch_xfer {
    uint32_t magic;
    xstate state;
    silk_fetch *f;
    silk_fetch_xfer *anext, *aprev;     /* f->all: every live transfer */
    silk_fetch_xfer *qnext, *qprev;     /* host queue, or f->posted */
    host *host;                         /* while QUEUED or ACTIVE */
    CURL *easy;                         /* while ACTIVE */
    int easy_plain;                     /* easy was set up for a plain request (plain()) */
    silk_fetch_cb cb;
    void *ud;

    /* The request, owned. url/method/body change along redirects. */
    silk_fetch_req opt;                 /* scalar options; its pointers are NULL */
    char *orig_url;                     /* as given: shown in dumps */
    char *url;
    char *method;
    char *body;
    size_t body_len;
    char **hdrs;
    int nhdrs;
    struct curl_slist *slist;           /* built per attempt from hdrs */
    char *proxy, *ua, *ca_file, *cookie;
    session *sess;
    char *orig_key;                     /* host key of the first URL */
    int cross_host;                     /* 1 once a redirect left that host */
    int body_dropped;                   /* 1 once a redirect turned it into a GET */

    /* Progress over attempts and hops. */
    int attempts;                       /* attempts started on the current hop */
    int total_attempts;
    silk_fetch_hop *hops;
    int nhops, hops_cap;
    double queued_since, queued_total;
    ev_timer backoff;

    /* The current attempt's response. */
    long status;
    long connect_code;                  /* an HTTP proxy's answer to CONNECT, or 0 */
    char *hbuf;
    size_t hlen, hcap;
    hdr_off *hoffs;
    int nh, hcap_n;
    char *bbuf;
    size_t blen, bcap;                  /* the body, decoded */
    int coding;                         /* silk_decode_kind of the body; -1 before its first byte */
    silk_decoder dec;                   /* live while coding is GZIP or DEFLATE */
    char dec_why[160];                  /* why decoding failed, else "" */
    int too_large, hdr_too_large, blocked_addr;
    int no_fd;                          /* socket() failed with EMFILE/ENFILE */
    char errbuf[CURL_ERROR_SIZE];

    /* Filled when the attempt ends. */
    char http_version[4];
    char remote_ip[48];
    long long wire_size;
    double retry_after;
    silk_fetch_timings tm;
    silk_fetch_kind kind;
    char msg[256];
};

struct host {
    char *key;                          /* scheme://host:port */
    uint32_t hash;
    host *hnext;                        /* hash chain */
    host *rnext, *rprev;                /* the ready ring */
    int in_ring;
    int active;
    silk_fetch_xfer *qhead, *qtail;
};

struct session {
    char *name;
    CURLSH *sh;
    session *next;
};

/* An idle easy handle. plain: its options are exactly those of a plain
 * request (see plain()) but for the per-transfer ones, so a plain request
 * sets only those; any other handle was curl_easy_reset. */
typedef struct pooled {
    CURL *e;
    int plain;
} pooled;

/* One multi handle and what curl keeps per multi handle: a connection
 * cache, a DNS cache, one timeout. Hosts are spread over the shards by
 * their key's hash, so a host's connections are all in one cache. Why
 * more than one: libcurl 7.88 walks the whole connection cache in every
 * curl_multi_remove_handle after a transfer that kept its connection (to
 * close a CONNECT_ONLY one), so with one cache a request costs a step per
 * open connection.
 *
 * The cache's size limit (CURLMOPT_MAXCONNECTS) counts connections in use
 * and idle ones, and curl closes the oldest idle one when a transfer ends
 * over it. One cache held max_total; a shard's limit (shard_limit) keeps
 * what that cache would keep, so a host's connections are treated as they
 * were, and the idle connections over all shards are at most FETCH_SHARDS
 * times the idle ones the one cache allowed (max_total less the transfers
 * in flight). */
typedef struct shard {
    silk_fetch *f;
    CURLM *multi;
    ev_timer timer;                     /* curl's single timeout */
    long active;                        /* easy handles in the multi handle */
    double dns_pruned_at;               /* when a transfer last got the DNS cache pruned */
} shard;

typedef struct sockw {
    ev_io io;
    shard *sh;
    struct sockw *next, *prev;
} sockw;

struct silk_fetch {
    struct ev_loop *loop;
    silk_fetch_hooks hooks;
    shard shards[FETCH_SHARDS];
    ev_idle idle;                       /* completes POSTED transfers */
    silk_fetch_xfer *posted_head, *posted_tail;
    silk_fetch_xfer *all;
    host *buckets[HOST_BUCKETS];
    long nhosts;
    host *ring;                         /* head of the ready ring */
    long active_total;
    pooled *pool;
    int npool;
    session *sessions;
    sockw *watchers;
    silk_fetch_config cfg;
    char *ua;
    silk_fetch_stats st;
    uint64_t rng;
};

/* fetch.c */
void fetch_pump(silk_fetch *f);
/* Queues x on its current URL's host, at the tail, or at the head when it
 * is put back (front). Posts its failure instead when the URL is unusable. */
void fetch_enqueue_at(silk_fetch_xfer *x, int front);
void fetch_enqueue(silk_fetch_xfer *x);
void fetch_release_slot(silk_fetch_xfer *x);
void fetch_easy_back(silk_fetch_xfer *x);
/* The shard of x's host: x must hold a host (QUEUED or ACTIVE). */
shard *fetch_shard(const silk_fetch_xfer *x);
/* Takes x's easy handle out of its shard's multi handle. */
void fetch_shard_remove(silk_fetch_xfer *x);

/* fetch_xfer.c */
void fetch_set_msg(silk_fetch_xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
silk_fetch_xfer *fetch_xfer_new(silk_fetch *f, const silk_fetch_req *r);
/* Frees a transfer that is in no queue, multi handle or timer. */
void fetch_xfer_free(silk_fetch_xfer *x);
void fetch_reset_response(silk_fetch_xfer *x);
void fetch_free_body(silk_fetch_xfer *x);
session *fetch_session_get(silk_fetch *f, const char *name);
/* Runs x's callback with its result, then frees x. */
void fetch_complete(silk_fetch_xfer *x, silk_fetch_kind kind);
/* Completes x through the loop: never from inside silk_fetch_start(). */
void fetch_post(silk_fetch_xfer *x, silk_fetch_kind kind);
void fetch_posted_unlink(silk_fetch_xfer *x);

/* fetch_easy.c */
int fetch_plain(const silk_fetch_xfer *x);
int fetch_setup_easy(silk_fetch_xfer *x, CURL *e, int e_plain);

/* fetch_end.c */
void fetch_finish_attempt(silk_fetch_xfer *x, CURLcode rc);

#endif
