/*
 * fetch.c -- libcurl's multi-socket API on the engine's libev loop; see fetch.h.
 *
 * The loop drives curl: CURLMOPT_SOCKETFUNCTION keeps one ev_io per socket
 * curl wants watched, CURLMOPT_TIMERFUNCTION one ev_timer, and both watchers
 * call curl_multi_socket_action and then drain finished transfers
 * (drain_done). Nothing is removed from the multi handle inside a curl
 * callback: curl callbacks here only copy bytes or set flags; removal,
 * redirects, retries and completion all happen in drain_done, which runs
 * from an ev callback after curl has returned.
 *
 * A transfer moves through these states (set_state):
 *
 *   QUEUED  -> on its host's FIFO, waiting for a per-host and a total slot
 *   ACTIVE  -> its easy handle is in the multi handle
 *   BACKOFF -> waiting on its ev_timer before a retry
 *   POSTED  -> failed before reaching curl; completed from the ev_idle
 *   DONE    -> its callback is running; freed when the callback returns
 *
 * A redirect or a retry goes back to QUEUED (on the new URL's host), so
 * every hop counts against the per-host limits.
 *
 * Fairness: hosts that have queued transfers and a spare slot sit on a ring;
 * pump() takes one transfer from the head host and rotates, so one host with
 * thousands of queued URLs cannot starve another with one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "decode.h"
#include "clock.h"
#include "fetch.h"
#include "silk_config.h"
#include "track.h"
#include "url.h"

#define XFER_MAGIC 0x7366786cu          /* "sfxl" */
#define HEADER_CAP (256 * 1024)         /* total response header bytes per response */
#define HOST_BUCKETS 1024
#define DNS_TTL 60L                     /* seconds a resolved name is kept (libcurl's default) */

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

typedef struct sockw {
    ev_io io;
    silk_fetch *f;
    struct sockw *next, *prev;
} sockw;

struct silk_fetch {
    struct ev_loop *loop;
    silk_fetch_hooks hooks;
    CURLM *multi;
    ev_timer timer;                     /* curl's single timeout */
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
    double dns_pruned_at;               /* when a transfer last got the DNS cache pruned */
    uint64_t rng;
};

static int nstates;                     /* live fetch states: libcurl's global init is theirs */

static const char *const kind_names[SILK_FETCH_KIND_COUNT_] = {
    [SILK_FETCH_OK] = "ok",
    [SILK_FETCH_TIMEOUT] = "timeout",
    [SILK_FETCH_CANCELLED] = "cancelled",
    [SILK_FETCH_DNS] = "dns",
    [SILK_FETCH_CONNECT] = "connect",
    [SILK_FETCH_TLS] = "tls",
    [SILK_FETCH_RESET] = "reset",
    [SILK_FETCH_TOO_LARGE] = "too_large",
    [SILK_FETCH_REDIRECT_LOOP] = "redirect_loop",
    [SILK_FETCH_BLOCKED] = "blocked",
    [SILK_FETCH_PROTOCOL] = "protocol",
    [SILK_FETCH_HTTP] = "http",
    [SILK_FETCH_INVALID] = "invalid",
};

const char *silk_fetch_kind_name(silk_fetch_kind k)
{
    return k >= 0 && k < SILK_FETCH_KIND_COUNT_ ? kind_names[k] : "unknown";
}

void silk_fetch_req_init(silk_fetch_req *r)
{
    memset(r, 0, sizeof *r);
    r->timeout = 30;
    r->connect_timeout = 10;
    r->max_size = 64u << 20;
    r->follow_redirects = 1;
    r->max_redirects = 10;
    r->backoff = 0.5;
    r->retry_after_max = 60;
}

/* --- small helpers -------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* xorshift64*: jitter only, not security. */
static double rand01(silk_fetch *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void set_msg(silk_fetch_xfer *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_msg(silk_fetch_xfer *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
}

/* Checks url the way libcurl, which fetches it, parses it: its scheme and
 * host. Returns SILK_FETCH_OK, INVALID (with a message) or BLOCKED. */
static silk_fetch_kind inspect_url(const char *url, char *why, size_t whysz)
{
    silk_fetch_kind kind = SILK_FETCH_OK;
    char *scheme = NULL, *hostname = NULL;
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, whysz, "out of memory");
        return SILK_FETCH_INVALID;
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        snprintf(why, whysz, "invalid URL '%.160s': %s", url, curl_url_strerror(uc));
        kind = SILK_FETCH_INVALID;
        goto done;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!scheme || (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
        snprintf(why, whysz, "scheme '%s' is not allowed (http and https only)",
                 scheme ? scheme : "");
        kind = SILK_FETCH_BLOCKED;
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &hostname, 0) != CURLUE_OK || !*hostname) {
        snprintf(why, whysz, "invalid URL '%.160s': no host", url);
        kind = SILK_FETCH_INVALID;
    }
done:
    curl_free(scheme);
    curl_free(hostname);
    curl_url_cleanup(u);
    return kind;
}

/* Checks a proxy URL: scheme://host[:port] with a scheme libcurl speaks to a
 * proxy and silk tests. Without a scheme libcurl would guess http; here that
 * is an error, like an unknown scheme, rather than a surprise. Returns
 * SILK_FETCH_OK or INVALID with a message in why. */
static silk_fetch_kind inspect_proxy(const char *proxy, char *why, size_t whysz)
{
    static const char *const schemes[] = { "http", "https", "socks5", "socks5h" };
    silk_fetch_kind kind = SILK_FETCH_INVALID;
    char *scheme = NULL, *hostname = NULL;
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, whysz, "out of memory");
        return kind;
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, proxy, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        snprintf(why, whysz, "invalid proxy '%.160s': %s (want scheme://host:port)",
                 proxy, curl_url_strerror(uc));
        goto done;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    for (size_t i = 0; scheme && i < sizeof schemes / sizeof *schemes; i++)
        if (strcasecmp(scheme, schemes[i]) == 0)
            kind = SILK_FETCH_OK;
    if (kind != SILK_FETCH_OK) {
        snprintf(why, whysz, "proxy scheme '%s' is not supported (http, https, socks5, socks5h)",
                 scheme ? scheme : "");
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &hostname, 0) != CURLUE_OK || !*hostname) {
        snprintf(why, whysz, "invalid proxy '%.160s': no host", proxy);
        kind = SILK_FETCH_INVALID;
    }
done:
    curl_free(scheme);
    curl_free(hostname);
    curl_url_cleanup(u);
    return kind;
}

/* Writes url's host key, url.c's "scheme://host:port" (the frontier's
 * politeness key too), into key. A plain URL (most of a crawl's) takes
 * url.c's path without a parse; any other is first checked by
 * inspect_url, since libcurl's verdict is the one that counts for a
 * fetch. Returns SILK_FETCH_OK, INVALID (with a message) or BLOCKED. */
static silk_fetch_kind host_key(const char *url, char *key, size_t keysz, char *why, size_t whysz)
{
    if (silk_url_plain_host_key(url, key, keysz))
        return SILK_FETCH_OK;
    silk_fetch_kind kind = inspect_url(url, why, whysz);
    if (kind != SILK_FETCH_OK)
        return kind;
    char *hk = NULL;
    int rc = silk_url_host_key(url, &hk);
    if (rc != 0 || strlen(hk) >= keysz) {
        snprintf(why, whysz, "invalid URL '%.160s': %s", url,
                 rc != 0 ? silk_url_strerror(rc) : "host too long");
        free(hk);
        return SILK_FETCH_INVALID;
    }
    strcpy(key, hk);
    free(hk);
    return SILK_FETCH_OK;
}

/* --- hosts and the ready ring --------------------------------------------- */

static host *host_get(silk_fetch *f, const char *key)
{
    uint32_t h = hash_str(key);
    host **b = &f->buckets[h % HOST_BUCKETS];
    for (host *it = *b; it; it = it->hnext)
        if (it->hash == h && strcmp(it->key, key) == 0)
            return it;
    host *n = calloc(1, sizeof *n);
    if (!n || !(n->key = strdup(key))) {
        free(n);
        return NULL;
    }
    n->hash = h;
    n->hnext = *b;
    *b = n;
    f->nhosts++;
    return n;
}

static void ring_add(silk_fetch *f, host *h)
{
    if (h->in_ring)
        return;
    h->in_ring = 1;
    if (!f->ring) {
        h->rnext = h->rprev = h;
        f->ring = h;
        return;
    }
    /* append at the tail, i.e. just before the head */
    h->rnext = f->ring;
    h->rprev = f->ring->rprev;
    h->rprev->rnext = h;
    f->ring->rprev = h;
}

static void ring_remove(silk_fetch *f, host *h)
{
    if (!h->in_ring)
        return;
    h->in_ring = 0;
    if (h->rnext == h) {
        f->ring = NULL;
    } else {
        h->rprev->rnext = h->rnext;
        h->rnext->rprev = h->rprev;
        if (f->ring == h)
            f->ring = h->rnext;
    }
    h->rnext = h->rprev = NULL;
}

/* Puts h on the ring iff it has queued work and a spare slot; frees it when
 * it has neither work nor transfers. */
static void host_update(silk_fetch *f, host *h)
{
    if (h->qhead && h->active < f->cfg.max_per_host) {
        ring_add(f, h);
        return;
    }
    ring_remove(f, h);
    if (h->qhead || h->active)
        return;
    host **b = &f->buckets[h->hash % HOST_BUCKETS];
    while (*b != h)
        b = &(*b)->hnext;
    *b = h->hnext;
    f->nhosts--;
    free(h->key);
    free(h);
}

static void queue_unlink(silk_fetch_xfer *x)
{
    host *h = x->host;
    if (x->qprev) x->qprev->qnext = x->qnext; else h->qhead = x->qnext;
    if (x->qnext) x->qnext->qprev = x->qprev; else h->qtail = x->qprev;
    x->qnext = x->qprev = NULL;
    x->f->st.queued--;
}

/* --- the easy-handle pool ------------------------------------------------- */

/* A handle and, in *plain, whether it is set up for plain requests. */
static CURL *pool_get(silk_fetch *f, int *plain)
{
    CURL *e = NULL;
    *plain = 0;
    if (f->npool) {
        f->npool--;
        e = f->pool[f->npool].e;
        *plain = f->pool[f->npool].plain;
    } else {
        e = curl_easy_init();
    }
    if (e)
        silk_track_acquire(SILK_RES_CURL_EASY);
    return e;
}

/* Takes back a handle that is not in the multi handle; plain: it was set
 * up for a plain request, so it keeps its options (curl keeps options
 * across transfers of a handle: that is what makes reuse without a reset
 * legal), else it is reset. */
static void pool_put(silk_fetch *f, CURL *e, int plain)
{
    silk_track_release(SILK_RES_CURL_EASY);
    if (f->npool < f->cfg.pool_max) {
        if (!plain)
            curl_easy_reset(e);
        f->pool[f->npool].e = e;
        f->pool[f->npool].plain = plain;
        f->npool++;
    } else {
        curl_easy_cleanup(e);
    }
}

/* --- transfer records ----------------------------------------------------- */

static void reset_response(silk_fetch_xfer *x)
{
    x->status = 0;
    x->connect_code = 0;
    x->hlen = 0;
    x->nh = 0;
    x->blen = 0;
    silk_decode_free(&x->dec);
    x->coding = -1;
    x->dec_why[0] = 0;
    x->too_large = x->hdr_too_large = x->blocked_addr = x->no_fd = 0;
    x->errbuf[0] = 0;
}

static void free_body(silk_fetch_xfer *x)
{
    if (x->bbuf) {
        free(x->bbuf);
        silk_track_release(SILK_RES_BUFFER);
    }
    x->bbuf = NULL;
    x->blen = x->bcap = 0;
}

/* Frees a transfer that is in no queue, multi handle or timer. */
static void xfer_free(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    if (x->aprev) x->aprev->anext = x->anext; else f->all = x->anext;
    if (x->anext) x->anext->aprev = x->aprev;
    silk_decode_free(&x->dec);
    free(x->orig_url);
    free(x->url);
    free(x->method);
    free(x->body);
    for (int i = 0; i < x->nhdrs; i++)
        free(x->hdrs[i]);
    free(x->hdrs);
    curl_slist_free_all(x->slist);
    free(x->proxy);
    free(x->cookie);
    free(x->ua);
    free(x->ca_file);
    free(x->orig_key);
    for (int i = 0; i < x->nhops; i++)
        free((char *)x->hops[i].url);
    free(x->hops);
    free(x->hbuf);
    free(x->hoffs);
    free_body(x);
    x->magic = 0;
    free(x);
    silk_track_release(SILK_RES_TRANSFER);
}

static silk_fetch_xfer *xfer_new(silk_fetch *f, const silk_fetch_req *r)
{
    silk_fetch_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    silk_track_acquire(SILK_RES_TRANSFER);
    x->magic = XFER_MAGIC;
    x->f = f;
    x->anext = f->all;
    if (f->all)
        f->all->aprev = x;
    f->all = x;
    x->opt = *r;
    x->opt.url = x->opt.method = x->opt.body = NULL;
    x->opt.headers = NULL;
    x->opt.proxy = x->opt.session = x->opt.user_agent = x->opt.ca_file = x->opt.cookie = NULL;
    if (x->opt.max_redirects < 0)
        x->opt.max_redirects = 0;
    if (x->opt.retries < 0)
        x->opt.retries = 0;
    x->retry_after = -1;

    const char *m = r->method ? r->method : (r->body ? "POST" : "GET");
    int ok = (x->orig_url = strdup(r->url)) && (x->url = strdup(r->url)) &&
             (x->method = strdup(m));
    for (char *p = ok ? x->method : NULL; p && *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    if (ok && r->body) {
        x->body = malloc(r->body_len ? r->body_len : 1);
        ok = x->body != NULL;
        if (ok) {
            memcpy(x->body, r->body, r->body_len);
            x->body_len = r->body_len;
        }
    }
    if (ok && r->nheaders > 0) {
        x->hdrs = calloc((size_t)r->nheaders, sizeof *x->hdrs);
        ok = x->hdrs != NULL;
        for (int i = 0; ok && i < r->nheaders; i++, x->nhdrs++)
            ok = (x->hdrs[i] = strdup(r->headers[i])) != NULL;
    }
    if (ok && r->proxy) ok = (x->proxy = strdup(r->proxy)) != NULL;
    if (ok && r->cookie) ok = (x->cookie = strdup(r->cookie)) != NULL;
    if (ok && r->ca_file) ok = (x->ca_file = strdup(r->ca_file)) != NULL;
    if (ok) ok = (x->ua = xstrdup(r->user_agent ? r->user_agent : f->ua)) != NULL;
    if (!ok) {
        xfer_free(x);
        return NULL;
    }
    return x;
}

static session *session_find(silk_fetch *f, const char *name)
{
    for (session *s = f->sessions; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static session *session_get(silk_fetch *f, const char *name)
{
    session *s = session_find(f, name);
    if (s)
        return s;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->sh = curl_share_init();
    if (!s->name || !s->sh ||
        curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK) {
        if (s->sh)
            curl_share_cleanup(s->sh);
        free(s->name);
        free(s);
        return NULL;
    }
    s->next = f->sessions;
    f->sessions = s;
    return s;
}

/* A handle that sees the jar of s and nothing else: the cookie list
 * getters and setters of libcurl work on a handle, not on a share. */
static CURL *jar_handle(session *s)
{
    CURL *e = curl_easy_init();
    if (e && curl_easy_setopt(e, CURLOPT_SHARE, s->sh) != CURLE_OK) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

int silk_fetch_cookies(silk_fetch *f, const char *name, void (*each)(void *ud, const char *line),
                       void *ud)
{
    session *s = session_find(f, name);
    if (!s)
        return 0;
    CURL *e = jar_handle(s);
    struct curl_slist *list = NULL;
    if (!e || curl_easy_getinfo(e, CURLINFO_COOKIELIST, &list) != CURLE_OK) {
        if (e)
            curl_easy_cleanup(e);
        return SILK_FETCH_ENOMEM;
    }
    for (struct curl_slist *n = list; n; n = n->next)
        each(ud, n->data);
    curl_slist_free_all(list);
    curl_easy_cleanup(e);
    return 0;
}

int silk_fetch_cookie_add(silk_fetch *f, const char *name, const char *line)
{
    /* libcurl reads a line without tabs as a Set-Cookie header and would
     * take one for a command (ALL, FLUSH, ...): only cookie-file lines */
    if (!strchr(line, '\t'))
        return SILK_FETCH_EINVAL;
    session *s = session_get(f, name);
    CURL *e = s ? jar_handle(s) : NULL;
    if (!e)
        return SILK_FETCH_ENOMEM;
    CURLcode rc = curl_easy_setopt(e, CURLOPT_COOKIELIST, line);
    curl_easy_cleanup(e);
    return rc == CURLE_OK ? 0 : rc == CURLE_OUT_OF_MEMORY ? SILK_FETCH_ENOMEM : SILK_FETCH_EINVAL;
}

/* --- completion ----------------------------------------------------------- */

static void complete(silk_fetch_xfer *x, silk_fetch_kind kind)
{
    silk_fetch *f = x->f;
    silk_fetch_header *hv = NULL;
    silk_fetch_result r;

    memset(&r, 0, sizeof r);
    x->state = X_DONE;
    x->kind = kind;
    x->tm.done_at = silk_now();
    x->tm.queued = x->queued_total;
    if (kind == SILK_FETCH_OK && x->nh > 0 && (hv = calloc((size_t)x->nh, sizeof *hv))) {
        for (int i = 0; i < x->nh; i++) {
            hv[i].name = x->hbuf + x->hoffs[i].no;
            hv[i].name_len = x->hoffs[i].nl;
            hv[i].value = x->hbuf + x->hoffs[i].vo;
            hv[i].value_len = x->hoffs[i].vl;
        }
        r.headers = hv;
        r.nheaders = x->nh;
    }
    r.kind = kind;
    r.message = x->msg;
    r.status = x->status;
    r.url = x->url;
    r.method = x->method;
    r.redirects = x->hops;
    r.nredirects = x->nhops;
    if (kind == SILK_FETCH_OK || kind == SILK_FETCH_HTTP) {
        r.body = x->bbuf ? x->bbuf : "";
        r.body_len = x->blen;
    } else {
        r.body = "";
    }
    r.http_version = x->http_version;
    r.remote_ip = x->remote_ip;
    r.wire_size = x->wire_size;
    r.attempts = x->total_attempts;
    r.retry_after = x->retry_after;
    r.timings = x->tm;

    f->st.completed++;
    f->st.errors[kind]++;
    x->cb(&r, x->ud);
    free(hv);
    xfer_free(x);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    silk_fetch *f = w->data;
    silk_fetch_xfer *x;
    /* pop one at a time: a callback may post or cancel others */
    while ((x = f->posted_head)) {
        f->posted_head = x->qnext;
        if (f->posted_head) f->posted_head->qprev = NULL; else f->posted_tail = NULL;
        x->qnext = NULL;
        complete(x, x->kind);
    }
    ev_idle_stop(loop, w);
}

/* Completes x through the loop: never from inside silk_fetch_start(). */
static void post(silk_fetch_xfer *x, silk_fetch_kind kind)
{
    silk_fetch *f = x->f;
    x->state = X_POSTED;
    x->kind = kind;
    x->qnext = NULL;
    x->qprev = f->posted_tail;
    if (f->posted_tail) f->posted_tail->qnext = x; else f->posted_head = x;
    f->posted_tail = x;
    ev_idle_start(f->loop, &f->idle);
}

static void posted_unlink(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    if (x->qprev) x->qprev->qnext = x->qnext; else f->posted_head = x->qnext;
    if (x->qnext) x->qnext->qprev = x->qprev; else f->posted_tail = x->qprev;
    x->qnext = x->qprev = NULL;
}

/* --- curl callbacks: copy bytes and set flags, nothing else --------------- */

/* Appends len decoded bytes to the body, within max_size: 0, or -1 (with
 * too_large set when over the cap). */
static int body_append(void *ud, const char *p, size_t len)
{
    silk_fetch_xfer *x = ud;
    if (len > x->opt.max_size - x->blen) {
        x->too_large = 1;
        return -1;
    }
    if (x->blen + len > x->bcap) {
        size_t cap = x->bcap ? x->bcap : 16384;
        curl_off_t cl = -1;
        if (!x->bcap && curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (curl_off_t)cap < cl)
            cap = (size_t)cl;
        while (cap < x->blen + len)
            cap *= 2;
        if (cap > x->opt.max_size)
            cap = x->opt.max_size;
        char *nb = realloc(x->bbuf, cap);
        if (!nb)
            return -1;
        if (!x->bbuf)
            silk_track_acquire(SILK_RES_BUFFER);
        x->bbuf = nb;
        x->bcap = cap;
    }
    memcpy(x->bbuf + x->blen, p, len);
    x->blen += len;
    return 0;
}

/* The current response's Content-Encoding, decided at its first body
 * byte; a coding silk cannot decode is refused there (dec_why). */
static int body_coding(silk_fetch_xfer *x)
{
    const char *value = NULL;
    for (int i = 0; i < x->nh; i++)
        if (x->hoffs[i].nl == 16 && !strncasecmp(x->hbuf + x->hoffs[i].no, "content-encoding", 16))
            value = x->hbuf + x->hoffs[i].vo;
    silk_decode_kind k = silk_decode_kind_of(value);
    if (k == SILK_DECODE_UNSUPPORTED)
        snprintf(x->dec_why, sizeof x->dec_why, "Content-Encoding '%.60s' is not gzip or deflate, "
                 "which are what silk asks for", value);
    else if (k != SILK_DECODE_IDENTITY)
        silk_decode_init(&x->dec, k);
    return k;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    silk_fetch_xfer *x = ud;
    size_t len = size * n;
    if (x->coding < 0)
        x->coding = body_coding(x);
    if (x->coding == SILK_DECODE_IDENTITY)
        return body_append(x, p, len) == 0 ? len : CURL_WRITEFUNC_ERROR;
    if (x->coding == SILK_DECODE_UNSUPPORTED)
        return CURL_WRITEFUNC_ERROR;
    int rc = silk_decode_feed(&x->dec, p, len, body_append, x);
    if (rc == SILK_DECODE_EDATA)
        snprintf(x->dec_why, sizeof x->dec_why, "corrupt %s body: %s",
                 x->coding == SILK_DECODE_GZIP ? "gzip" : "deflate", x->dec.msg);
    return rc == SILK_DECODE_OK ? len : CURL_WRITEFUNC_ERROR;
}

static int hbuf_put(silk_fetch_xfer *x, const char *s, size_t n, size_t *off)
{
    if (x->hlen + n + 1 > x->hcap) {
        size_t cap = x->hcap ? x->hcap * 2 : 1024;
        while (cap < x->hlen + n + 1)
            cap *= 2;
        char *nb = realloc(x->hbuf, cap);
        if (!nb)
            return -1;
        x->hbuf = nb;
        x->hcap = cap;
    }
    *off = x->hlen;
    memcpy(x->hbuf + x->hlen, s, n);
    x->hbuf[x->hlen + n] = 0;
    x->hlen += n + 1;
    return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    silk_fetch_xfer *x = ud;
    size_t len = size * n, end = len;
    while (end > 0 && (p[end - 1] == '\r' || p[end - 1] == '\n'))
        end--;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new response (interim 1xx, proxy CONNECT): start over */
        x->hlen = 0;
        x->nh = 0;
        const char *sp = memchr(p, ' ', end);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    if (end == 0)
        return len;
    if (x->hlen + end > HEADER_CAP) {
        x->hdr_too_large = 1;
        return 0;
    }
    if ((p[0] == ' ' || p[0] == '\t') && x->nh > 0) {
        /* obsolete line folding: append to the previous value */
        hdr_off *last = &x->hoffs[x->nh - 1];
        size_t s = 0;
        while (s < end && (p[s] == ' ' || p[s] == '\t'))
            s++;
        if (last->vo + last->vl + 1 == x->hlen && x->hlen + end - s + 1 <= x->hcap) {
            x->hbuf[x->hlen - 1] = ' ';
            memcpy(x->hbuf + x->hlen, p + s, end - s);
            x->hbuf[x->hlen + end - s] = 0;
            x->hlen += end - s + 1;
            last->vl += 1 + end - s;
        }
        return len;
    }
    const char *colon = memchr(p, ':', end);
    if (!colon || colon == p)
        return len;                     /* not a header line: ignore */
    size_t nl = (size_t)(colon - p);
    while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
        nl--;
    const char *v = colon + 1, *ve = p + end;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (x->nh == x->hcap_n) {
        int cap = x->hcap_n ? x->hcap_n * 2 : 16;
        hdr_off *no = realloc(x->hoffs, (size_t)cap * sizeof *no);
        if (!no)
            return 0;
        x->hoffs = no;
        x->hcap_n = cap;
    }
    hdr_off *o = &x->hoffs[x->nh];
    if (hbuf_put(x, p, nl, &o->no) || hbuf_put(x, v, (size_t)(ve - v), &o->vo))
        return 0;
    o->nl = nl;
    o->vl = (size_t)(ve - v);
    x->nh++;
    return len;
}

/* The address classes block_private refuses, on raw addresses: callers that
 * build a sockaddr themselves pass the bytes, not a cast struct (GCC, seeing
 * both the store to sin_family and the load of sa_family through another
 * struct type, may reorder them under strict aliasing: it did, here). */
static int v4_private(uint32_t a)
{
    return (a >> 24) == 127 || (a >> 24) == 10 || (a >> 24) == 0 ||
           (a >> 20) == 0xac1 ||               /* 172.16/12 */
           (a >> 16) == 0xc0a8 ||              /* 192.168/16 */
           (a >> 16) == 0xa9fe ||              /* 169.254/16 */
           (a >> 22) == 0x191 ||               /* 100.64/10 */
           (a >> 28) == 0xe || a == 0xffffffffu;
}

static int v6_private(const unsigned char *b)
{
    static const unsigned char zero[15];
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 1 || b[15] == 0))
        return 1;                                   /* ::1, :: */
    if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0x80) == 0x80) || b[0] == 0xff)
        return 1;                                   /* fc00::/7, fe80::/10, fec0::/10, multicast */
    /* IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) and
     * the NAT64 prefix (64:ff9b::a.b.c.d) reach the IPv4 address */
    if ((memcmp(b, zero, 10) == 0 && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0))) ||
        memcmp(b, nat64, 12) == 0)
        return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    return 0;
}

int silk_fetch_addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return v6_private(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return 0;
}

static curl_socket_t on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    silk_fetch_xfer *x = ud;
    if (x->opt.block_private && silk_fetch_addr_private(&a->addr)) {
        x->blocked_addr = 1;
        return CURL_SOCKET_BAD;
    }
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0) {
        x->no_fd = errno == EMFILE || errno == ENFILE;
        return CURL_SOCKET_BAD;
    }
    x->f->st.sockets++;
    return fd;
}

/* CURLOPT_PREREQFUNCTION: runs once the connection (new or reused) is up
 * and before the request goes out; a reused connection was opened by some
 * other request, so the address guard is checked here too. */
static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    silk_fetch_xfer *x = ud;
    struct in_addr a4;
    unsigned char a6[16];
    int priv = 1;                       /* an address we cannot read is refused */
    if (inet_pton(AF_INET, ip, &a4) == 1)
        priv = v4_private(ntohl(a4.s_addr));
    else if (inet_pton(AF_INET6, ip, a6) == 1)
        priv = v6_private(a6);
    if (!priv)
        return CURL_PREREQFUNC_OK;
    x->blocked_addr = 1;
    return CURL_PREREQFUNC_ABORT;
}

/* Connections outlive transfers, so this one gets the fetch state. libcurl
 * 7.88 closes a few sockets without this callback (seen after timeouts in
 * the connect phase), so st.sockets is an upper bound, not a resource count:
 * the leak tests count real descriptors instead (lapi_fetch.c, stats). */
static int on_closesocket(void *ud, curl_socket_t fd)
{
    silk_fetch *f = ud;
    f->st.sockets--;
    return close(fd);
}

/* --- starting an attempt -------------------------------------------------- */

static int skip_header(silk_fetch_xfer *x, const char *line)
{
    if (x->cross_host && (!strncasecmp(line, "authorization:", 14) ||
                          !strncasecmp(line, "cookie:", 7)))
        return 1;
    if (x->body_dropped && (!strncasecmp(line, "content-type:", 13) ||
                            !strncasecmp(line, "content-length:", 15)))
        return 1;
    return 0;
}

/* A plain request (most of a crawl's): a GET without body, proxy,
 * session, cookie, CA file, TLS or HTTP/2 override or address guard. A handle set
 * up for one needs only the per-transfer options for the next one, which
 * saves curl_easy_reset and some thirty setopts per request. */
static int plain(const silk_fetch_xfer *x)
{
    const silk_fetch_req *o = &x->opt;
    return strcmp(x->method, "GET") == 0 && !x->body && !(x->proxy && *x->proxy) && !x->sess && !x->cookie &&
           !x->ca_file && !o->insecure && o->http2 == SILK_HTTP2_AUTO && !o->block_private;
}

/* The DNS cache lifetime for the next transfer. libcurl 7.88 prunes its
 * DNS cache at the end of every transfer whose lifetime is not -1 ("keep
 * forever"), walking every entry: one per host seen in the last minute, so
 * over many hosts each request paid a walk over all of them. Here one
 * transfer a second carries the lifetime and prunes; the others keep
 * entries as they are, and since a -1 transfer also skips the staleness
 * check on lookup, an entry may be used up to about a second (or as long
 * as the pruning transfer lasts) past its lifetime. */
static long dns_timeout(silk_fetch *f)
{
    double now = silk_now();
    if (now - f->dns_pruned_at < 1.0)
        return -1L;
    f->dns_pruned_at = now;
    return DNS_TTL;
}

/* Sets e up for x; e_plain: e is already set up for a plain request. A
 * handle that is not, is fresh or reset, or set up for a plain request:
 * every option set below for a plain request is set again for any other,
 * so no option of a previous request survives. */
static int setup_easy(silk_fetch_xfer *x, CURL *e, int e_plain)
{
    silk_fetch *f = x->f;
    const silk_fetch_req *o = &x->opt;
    CURLcode rc = CURLE_OK;

    curl_slist_free_all(x->slist);
    x->slist = NULL;
    for (int i = 0; i < x->nhdrs; i++) {
        if (skip_header(x, x->hdrs[i]))
            continue;
        struct curl_slist *n = curl_slist_append(x->slist, x->hdrs[i]);
        if (!n)
            return -1;
        x->slist = n;
    }

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    /* per transfer */
    SET(CURLOPT_URL, x->url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_HEADERDATA, (void *)x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_OPENSOCKETDATA, (void *)x);
    SET(CURLOPT_TIMEOUT_MS, (long)(o->timeout > 0 ? o->timeout * 1000 : 0));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout > 0 ? o->connect_timeout * 1000 : 0));
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_size);  /* early no on a long Content-Length */
    SET(CURLOPT_DNS_CACHE_TIMEOUT, dns_timeout(f));
    SET(CURLOPT_USERAGENT, x->ua);
    SET(CURLOPT_HTTPHEADER, x->slist);
    /* Waiting for a connection that may multiplex pays only where one can:
     * over https (HTTP/2 by ALPN) or with HTTP/2 prior knowledge. Over plain
     * http it would hold every transfer to a new host until the first
     * response's headers arrive: 63 of 64 requests idle behind a slow page. */
    SET(CURLOPT_PIPEWAIT, (long)(o->http2 == SILK_HTTP2_PRIOR || !strncasecmp(x->url, "https:", 6)));
    x->easy_plain = plain(x);
    if (e_plain && x->easy_plain)
        goto done;

    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* decode.c decodes these two, so that a stream cut short is an error */
    SET(CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
    SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
    if (o->block_private) {
        SET(CURLOPT_PREREQFUNCTION, on_prereq);
        SET(CURLOPT_PREREQDATA, (void *)x);
    }
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    SET(CURLOPT_CLOSESOCKETDATA, (void *)f);
    SET(CURLOPT_PROXY, x->proxy ? x->proxy : "");
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_SHARE, x->sess ? x->sess->sh : NULL);
    if (x->sess)
        SET(CURLOPT_COOKIEFILE, "");    /* switches the cookie engine on; see easy_back */
    /* the request's own cookies are for the host it named, as its headers */
    SET(CURLOPT_COOKIE, x->cross_host ? NULL : x->cookie);
    switch (o->http2) {
    case SILK_HTTP2_OFF: SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1); break;
    case SILK_HTTP2_PRIOR: SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); break;
    default: SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS); break;
    }
    SET(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
    /* an https:// proxy is verified like the server, against the same CAs */
    SET(CURLOPT_PROXY_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
    SET(CURLOPT_PROXY_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
    if (x->ca_file) {
        SET(CURLOPT_CAINFO, x->ca_file);
        SET(CURLOPT_PROXY_CAINFO, x->ca_file);
    }

    if (strcmp(x->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(x->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(x->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body || strcmp(x->method, "POST") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
            SET(CURLOPT_POSTFIELDS, x->body ? x->body : "");
        }
    }
done:
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

/* Returns the easy handle of x (out of the multi) to the pool. A session's
 * handle drops its list of cookie files first: libcurl 7.88 keeps the ""
 * that switched the cookie engine on (setup_easy) in a list that neither
 * the transfer nor curl_easy_reset frees, one node per request. Clearing
 * it leaves the session's jar alone: it lives in the share. */
static void easy_back(silk_fetch_xfer *x)
{
    CURL *e = x->easy;
    x->easy = NULL;
    if (x->sess)
        curl_easy_setopt(e, CURLOPT_COOKIEFILE, (char *)NULL);
    pool_put(x->f, e, x->easy_plain);
}

static void release_slot(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    host *h = x->host;
    x->host = NULL;
    h->active--;
    f->active_total--;
    f->st.active--;
    host_update(f, h);
}

static void pump(silk_fetch *f);

/* x holds a slot; hands it to curl, or posts its failure. */
static void start_attempt(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    int e_plain;
    CURL *e = pool_get(f, &e_plain);
    if (!e) {
        set_msg(x, "out of memory (curl_easy_init)");
        release_slot(x);
        post(x, SILK_FETCH_PROTOCOL);
        return;
    }
    reset_response(x);
    x->easy = e;
    if (setup_easy(x, e, e_plain) != 0 || curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        x->easy = NULL;
        pool_put(f, e, 0);
        set_msg(x, "could not set up the transfer");
        release_slot(x);
        post(x, SILK_FETCH_PROTOCOL);
        return;
    }
    x->state = X_ACTIVE;
    x->attempts++;
    x->total_attempts++;
    x->queued_total += silk_now() - x->queued_since;
}

/* Transfers that may be in flight now: the configured total, lowered while
 * descriptors are short (st.fd_cap). */
static long slots(const silk_fetch *f)
{
    long cap = f->cfg.max_total;
    return f->st.fd_cap > 0 && f->st.fd_cap < cap ? f->st.fd_cap : cap;
}

static void pump(silk_fetch *f)
{
    while (f->ring && f->active_total < slots(f)) {
        host *h = f->ring;
        silk_fetch_xfer *x = h->qhead;
        queue_unlink(x);
        h->active++;
        f->active_total++;
        f->st.active++;
        /* rotate, so the next slot goes to the next host */
        f->ring = h->rnext;
        host_update(f, h);
        start_attempt(x);
    }
}

/* Queues x on its current URL's host, at the tail, or at the head when it
 * is put back (front). Posts its failure instead when the URL is unusable. */
static void enqueue_at(silk_fetch_xfer *x, int front)
{
    silk_fetch *f = x->f;
    char key[512];
    silk_fetch_kind k = host_key(x->url, key, sizeof key, x->msg, sizeof x->msg);
    if (k != SILK_FETCH_OK) {
        post(x, k);
        return;
    }
    if (!x->orig_key) {
        if (!(x->orig_key = strdup(key))) {
            set_msg(x, "out of memory");
            post(x, SILK_FETCH_PROTOCOL);
            return;
        }
    } else if (strcmp(x->orig_key, key) != 0) {
        x->cross_host = 1;
    }
    host *h = host_get(f, key);
    if (!h) {
        set_msg(x, "out of memory");
        post(x, SILK_FETCH_PROTOCOL);
        return;
    }
    x->host = h;
    x->state = X_QUEUED;
    x->queued_since = silk_now();
    if (front) {
        x->qprev = NULL;
        x->qnext = h->qhead;
        if (h->qhead) h->qhead->qprev = x; else h->qtail = x;
        h->qhead = x;
    } else {
        x->qnext = NULL;
        x->qprev = h->qtail;
        if (h->qtail) h->qtail->qnext = x; else h->qhead = x;
        h->qtail = x;
    }
    f->st.queued++;
    host_update(f, h);
    pump(f);
}

static void enqueue(silk_fetch_xfer *x)
{
    enqueue_at(x, 0);
}

silk_fetch_xfer *silk_fetch_start(silk_fetch *f, const silk_fetch_req *req,
                                  silk_fetch_cb cb, void *ud)
{
    if (!f || !req || !req->url || !cb)
        return NULL;
    silk_fetch_xfer *x = xfer_new(f, req);
    if (!x)
        return NULL;
    x->cb = cb;
    x->ud = ud;
    if (req->session && !(x->sess = session_get(f, req->session))) {
        xfer_free(x);
        return NULL;
    }
    f->st.started++;
    if (x->proxy && *x->proxy && inspect_proxy(x->proxy, x->msg, sizeof x->msg) != SILK_FETCH_OK) {
        post(x, SILK_FETCH_INVALID);
        return x;
    }
    enqueue(x);
    return x;
}

/* --- ending an attempt ---------------------------------------------------- */

static silk_fetch_kind classify(silk_fetch_xfer *x, CURLcode rc)
{
    /* an HTTP proxy that would not open the tunnel (curl 7.88 reports it as
     * a receive error): the target is unreachable through it */
    if (x->connect_code >= 300)
        return SILK_FETCH_CONNECT;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return SILK_FETCH_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return SILK_FETCH_DNS;
    case CURLE_PROXY:
        /* a SOCKS proxy that refused the handshake or could not reach the
         * target (curl's message says which): the target is unreachable */
        return SILK_FETCH_CONNECT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_ABORTED_BY_CALLBACK:
        return x->blocked_addr ? SILK_FETCH_BLOCKED :
               rc == CURLE_COULDNT_CONNECT ? SILK_FETCH_CONNECT : SILK_FETCH_PROTOCOL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return SILK_FETCH_TLS;
    case CURLE_RECV_ERROR:
        /* curl reports broken chunked framing as a receive error too */
        return strstr(x->errbuf, "chunk") ? SILK_FETCH_PROTOCOL : SILK_FETCH_RESET;
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        /* a body cut short is a connection that went away (a server
         * restarting closes it just so): as retryable as a reset */
        return SILK_FETCH_RESET;
    case CURLE_OUT_OF_MEMORY:
        /* curl 7.88 reports a header line over CURL_MAX_HTTP_HEADER as out
         * of memory; with no body yet that is what it is */
        return x->blen == 0 ? SILK_FETCH_TOO_LARGE : SILK_FETCH_PROTOCOL;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return x->too_large || x->hdr_too_large || rc == CURLE_FILESIZE_EXCEEDED
                   ? SILK_FETCH_TOO_LARGE : SILK_FETCH_PROTOCOL;
    case CURLE_TOO_MANY_REDIRECTS:
        return SILK_FETCH_REDIRECT_LOOP;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* also how curl reports a status line it cannot read and an
         * HTTP/0.9 reply ("Unsupported HTTP version", "Received HTTP/0.9"):
         * the server's answer is broken, no scheme was refused */
        return strstr(x->errbuf, "HTTP") ? SILK_FETCH_PROTOCOL : SILK_FETCH_BLOCKED;
    case CURLE_URL_MALFORMAT:
        return SILK_FETCH_INVALID;
    default:
        return SILK_FETCH_PROTOCOL;     /* PARTIAL_FILE, WEIRD_SERVER_REPLY, HTTP2, ... */
    }
}

static int transient_status(long s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

static int transient_kind(silk_fetch_kind k)
{
    return k == SILK_FETCH_TIMEOUT || k == SILK_FETCH_CONNECT || k == SILK_FETCH_RESET;
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_fetch_xfer *x = w->data;
    x->f->st.backoff--;
    enqueue(x);
}

static void schedule_retry(silk_fetch_xfer *x, double retry_after)
{
    silk_fetch *f = x->f;
    double d = x->opt.backoff > 0 ? x->opt.backoff : 0;
    d = ldexp(d, x->attempts - 1);                  /* backoff * 2^(n-1) */
    d = d * (0.5 + 0.5 * rand01(f));                /* jitter: [d/2, d) */
    if (retry_after > 0) {
        double cap = x->opt.retry_after_max > 0 ? x->opt.retry_after_max : 60;
        if (retry_after > cap)
            retry_after = cap;
        if (d < retry_after)
            d = retry_after;
    }
    free_body(x);
    x->state = X_BACKOFF;
    f->st.retried++;
    f->st.backoff++;
    ev_timer_init(&x->backoff, on_backoff, d, 0.);
    x->backoff.data = x;
    ev_timer_start(f->loop, &x->backoff);
}

static void read_info(silk_fetch_xfer *x, CURL *e)
{
    long v = 0;
    char *ip = NULL;
    curl_off_t t_dns = 0, t_conn = 0, t_app = 0, t_start = 0, t_total = 0, ra = -1, dl = 0;

    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &v);
    if (v)
        x->status = v;
    curl_easy_getinfo(e, CURLINFO_HTTP_CONNECTCODE, &x->connect_code);
    v = 0;
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v);
    snprintf(x->http_version, sizeof x->http_version, "%s",
             v == CURL_HTTP_VERSION_1_0 ? "1.0" : v == CURL_HTTP_VERSION_1_1 ? "1.1" :
             v == CURL_HTTP_VERSION_2_0 ? "2" : v == CURL_HTTP_VERSION_3 ? "3" : "");
    curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
    snprintf(x->remote_ip, sizeof x->remote_ip, "%s", ip ? ip : "");
    curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t_dns);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t_conn);
    curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t_app);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t_start);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t_total);
    curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &dl);
    x->tm.dns = t_dns / 1e6;
    x->tm.connect = t_conn > t_dns ? (t_conn - t_dns) / 1e6 : 0;
    x->tm.tls = t_app > t_conn ? (t_app - t_conn) / 1e6 : 0;
    x->tm.ttfb = t_start / 1e6;
    x->tm.total = t_total / 1e6;
    x->retry_after = ra > 0 ? (double)ra : -1;
    x->wire_size = (long long)dl;
}

/* Follows the redirect x just got, or ends it. Returns 1 when x was
 * re-queued or completed, 0 when it is not a redirect to follow. */
static int follow(silk_fetch_xfer *x, const char *location)
{
    silk_fetch *f = x->f;
    long s = x->status;
    if (!x->opt.follow_redirects || !location || !*location ||
        !(s == 301 || s == 302 || s == 303 || s == 307 || s == 308))
        return 0;
    if (x->nhops == x->hops_cap) {
        int cap = x->hops_cap ? x->hops_cap * 2 : 4;
        silk_fetch_hop *nh = realloc(x->hops, (size_t)cap * sizeof *nh);
        if (!nh) {
            set_msg(x, "out of memory");
            complete(x, SILK_FETCH_PROTOCOL);
            return 1;
        }
        x->hops = nh;
        x->hops_cap = cap;
    }
    char *next = strdup(location);
    if (!next) {
        set_msg(x, "out of memory");
        complete(x, SILK_FETCH_PROTOCOL);
        return 1;
    }
    x->hops[x->nhops].url = x->url;                 /* the hop takes the old URL */
    x->hops[x->nhops].status = s;
    x->nhops++;
    x->url = next;
    f->st.redirected++;

    int seen = 0;
    for (int i = 0; i < x->nhops; i++)
        seen += strcmp(x->hops[i].url, next) == 0;
    if (seen >= 2) {
        set_msg(x, "redirect loop: %.200s visited %d times", next, seen + 1);
        complete(x, SILK_FETCH_REDIRECT_LOOP);
        return 1;
    }
    if (x->nhops > x->opt.max_redirects) {
        set_msg(x, "more than %d redirects", x->opt.max_redirects);
        complete(x, SILK_FETCH_REDIRECT_LOOP);
        return 1;
    }
    /* browsers' rules: 303 turns anything but HEAD into GET, 301/302 turn POST into GET */
    if ((s == 303 && strcmp(x->method, "HEAD") != 0) ||
        ((s == 301 || s == 302) && strcmp(x->method, "POST") == 0)) {
        char *get = strdup("GET");
        if (get) {
            free(x->method);
            x->method = get;
            free(x->body);
            x->body = NULL;
            x->body_len = 0;
            x->body_dropped = 1;
        }
    }
    x->attempts = 0;
    free_body(x);
    enqueue(x);
    return 1;
}

/* curl's "transfer closed with N bytes remaining to read" names neither
 * what came nor what was announced: the message says both (bytes on the
 * wire, before any decoding). */
static void note_partial(silk_fetch_xfer *x, CURL *e)
{
    curl_off_t got = 0, want = -1;
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &got);
    curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &want);
    if (want >= 0)
        snprintf(x->errbuf, sizeof x->errbuf, "connection closed after %lld of %lld body bytes",
                 (long long)got, (long long)want);
    else
        snprintf(x->errbuf, sizeof x->errbuf, "connection closed after %lld body bytes, "
                 "before the body's end", (long long)got);
}

/* The attempt of x ended with rc; x is still in the multi handle. */
static void finish_attempt(silk_fetch_xfer *x, CURLcode rc)
{
    silk_fetch *f = x->f;
    CURL *e = x->easy;
    char *location = NULL;

    curl_multi_remove_handle(f->multi, e);
    read_info(x, e);
    if (rc == CURLE_PARTIAL_FILE)
        note_partial(x, e);
    if (rc == CURLE_OK) {
        char *loc = NULL;
        if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
            location = strdup(loc);
    }
    easy_back(x);
    release_slot(x);

    if (rc != CURLE_OK && x->no_fd && f->active_total > 0) {
        /* out of descriptors: wait for one of the transfers in flight to
         * give its socket back, and start no more than fit meanwhile */
        f->st.fd_cap = f->active_total;
        f->st.fd_waits++;
        x->attempts--;
        x->total_attempts--;
        x->queued_since = silk_now();
        enqueue_at(x, 1);
        goto done;
    }
    if (f->st.fd_cap > 0 && !x->no_fd && ++f->st.fd_cap >= f->cfg.max_total)
        f->st.fd_cap = 0;               /* grown back: no cap */
    if (rc != CURLE_OK) {
        silk_fetch_kind k = classify(x, rc);
        if (k == SILK_FETCH_TOO_LARGE && x->hdr_too_large)
            set_msg(x, "response headers over %d bytes", HEADER_CAP);
        else if (k == SILK_FETCH_TOO_LARGE && rc == CURLE_OUT_OF_MEMORY)
            set_msg(x, "a response header line over %d bytes", CURL_MAX_HTTP_HEADER);
        else if (x->dec_why[0])
            set_msg(x, "%s", x->dec_why);
        else if (k == SILK_FETCH_TOO_LARGE)
            set_msg(x, "body over max_size (%zu bytes)", x->opt.max_size);
        else if (k == SILK_FETCH_BLOCKED && x->blocked_addr)
            set_msg(x, "address of %.200s is private or loopback (block_private)", x->url);
        else if (x->no_fd)
            set_msg(x, "out of file descriptors with no transfer in flight to free one "
                       "(raise the limit: --max-fds)");
        else
            set_msg(x, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        if (transient_kind(k) && x->attempts <= x->opt.retries)
            schedule_retry(x, -1);
        else
            complete(x, k);
        goto done;
    }
    if (x->coding > 0 && silk_decode_finish(&x->dec) != SILK_DECODE_OK) {
        set_msg(x, "the %s body ends before its stream does (%zu bytes received, %zu decoded)",
                x->coding == SILK_DECODE_GZIP ? "gzip" : "deflate", x->dec.in, x->dec.out);
        complete(x, SILK_FETCH_PROTOCOL);
        goto done;
    }
    if (follow(x, location))
        goto done;
    if (transient_status(x->status) && x->attempts <= x->opt.retries) {
        schedule_retry(x, x->retry_after);
        goto done;
    }
    if (x->opt.raise_for_status && x->status >= 400) {
        set_msg(x, "HTTP %ld from %.200s", x->status, x->url);
        complete(x, SILK_FETCH_HTTP);
        goto done;
    }
    x->msg[0] = 0;
    complete(x, SILK_FETCH_OK);
done:
    free(location);
    pump(f);                            /* the slot x held may start a queued transfer */
}

/* Completes the transfers curl has finished, one message at a time, each
 * an event batch of its own: the task of a completed transfer runs before
 * the next message is read (a single socket_action may finish dozens of
 * transfers at ten thousand in flight, and their tasks would otherwise wait
 * for all the others' responses and resumes). That is safe here: curl has
 * returned, so no curl callback is on the stack; the finished handle is out
 * of the multi handle and pooled before its task runs; a task that cancels
 * a transfer whose message is still queued removes that message with the
 * handle (curl_multi_remove_handle does), so it is never read; and a
 * transfer is completed only while X_ACTIVE. */
static void drain_done(silk_fetch *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;          /* m dies with remove_handle: copy first */
        CURLcode rc = m->data.result;
        silk_fetch_xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        if (!x || x->magic != XFER_MAGIC || x->state != X_ACTIVE)
            continue;
        if (f->hooks.batch_begin)
            f->hooks.batch_begin(f->hooks.ud);
        finish_attempt(x, rc);
        if (f->hooks.batch_end)
            f->hooks.batch_end(f->hooks.ud);
    }
}

/* --- the loop glue -------------------------------------------------------- */

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    /* w may be freed by the socket callback inside socket_action: read it first */
    silk_fetch *f = ((sockw *)w)->f;
    int fd = w->fd, running;
    int ev = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(f->multi, fd, ev, &running);
    drain_done(f);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_fetch *f = w->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(f);
}

static void watcher_free(silk_fetch *f, sockw *w)
{
    ev_io_stop(f->loop, &w->io);
    if (w->prev) w->prev->next = w->next; else f->watchers = w->next;
    if (w->next) w->next->prev = w->prev;
    f->st.watchers--;
    free(w);
}

/* CURLMOPT_SOCKETFUNCTION. libev treats every ev_io_set as a possibly new fd,
 * so the watcher is stopped, set and started on each change. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    silk_fetch *f = ud;
    sockw *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(f->multi, s, NULL);
            watcher_free(f, w);
        }
        return 0;
    }
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return -1;
        w->f = f;
        w->next = f->watchers;
        if (f->watchers)
            f->watchers->prev = w;
        f->watchers = w;
        f->st.watchers++;
        ev_init(&w->io, on_io);
        curl_multi_assign(f->multi, s, w);
    } else {
        ev_io_stop(f->loop, &w->io);
    }
    int ev = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_set(&w->io, s, ev);
    ev_io_start(f->loop, &w->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer, replaced on every call; -1 deletes it.
 * A 0 timeout fires on the next loop iteration (curl must not be called
 * from here). */
static int on_curl_timer(CURLM *m, long timeout_ms, void *ud)
{
    silk_fetch *f = ud;
    ev_timer_stop(f->loop, &f->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&f->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(f->loop, &f->timer);
    }
    return 0;
}

/* --- the per-engine state ------------------------------------------------- */

const char *silk_fetch_curl_version(void)
{
    static char v[128];
    const curl_version_info_data *d = curl_version_info(CURLVERSION_NOW);
    snprintf(v, sizeof v, "%s%s%s", d->version, d->ssl_version ? " " : "", d->ssl_version ? d->ssl_version : "");
    return v;
}


int silk_fetch_set_max_fds(long want, char *err, size_t errsz)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, errsz, "cannot read the limit of open files: %s", strerror(errno));
        return SILK_FETCH_EINVAL;
    }
    if (want < 0 || (want > 0 && rl.rlim_max != RLIM_INFINITY && (rlim_t)want > rl.rlim_max)) {
        snprintf(err, errsz, "%ld is above the hard limit of open files (%llu; `ulimit -Hn`)",
                 want, (unsigned long long)rl.rlim_max);
        return SILK_FETCH_EINVAL;
    }
    rl.rlim_cur = want > 0 ? (rlim_t)want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, errsz, "cannot set the limit of open files to %ld: %s", want, strerror(errno));
        return SILK_FETCH_EINVAL;
    }
    return 0;
}

silk_fetch *silk_fetch_new(struct ev_loop *loop, const silk_fetch_hooks *hooks, long max_fds)
{
    if (!nstates && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;                    /* nothing to clean up: init undoes itself */
    silk_fetch *f = calloc(1, sizeof *f);
    if (!f)
        goto fail;
    f->loop = loop;
    if (hooks)
        f->hooks = *hooks;
    f->cfg.max_per_host = 16;
    f->cfg.max_total = 1024;
    f->cfg.pool_max = 256;
    f->ua = strdup("silk/" SILK_VERSION);
    f->pool = calloc((size_t)f->cfg.pool_max, sizeof *f->pool);
    f->multi = curl_multi_init();
    if (!f->ua || !f->pool || !f->multi) {
        if (f->multi)
            curl_multi_cleanup(f->multi);
        free(f->pool);
        free(f->ua);
        free(f);
        goto fail;
    }
    f->rng = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid() ^ (uintptr_t)f;
    if (!f->rng)
        f->rng = 1;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, (void *)f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, (void *)f);
    curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* libcurl's default cache size is 4 x the easy handles in the multi
     * handle *now*; ours leave it when their transfer ends, so while tasks
     * are busy with their responses the cache shrinks and closes idle
     * keep-alive connections that the next requests must open again
     * (measured: one connect per 9 requests at 64 in flight). Size it by
     * the transfers we allow instead. */
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->cfg.max_total);
    ev_init(&f->timer, on_timer);
    f->timer.data = f;
    ev_idle_init(&f->idle, on_idle);
    f->idle.data = f;
    /* the limit was checked where the option was parsed (main.c); here it
     * is only applied, and a failure leaves the limit as it was */
    char why[128];
    f->cfg.max_fds = max_fds;
    silk_fetch_set_max_fds(f->cfg.max_fds, why, sizeof why);
    nstates++;
    return f;
fail:
    if (!nstates)
        curl_global_cleanup();
    return NULL;
}

void silk_fetch_get_config(silk_fetch *f, silk_fetch_config *c)
{
    *c = f->cfg;
    c->user_agent = f->ua;
}

int silk_fetch_configure(silk_fetch *f, const silk_fetch_config *c, char *err, size_t errsz)
{
    if (c->max_fds > 0) {
        if (silk_fetch_set_max_fds(c->max_fds, err, errsz) != 0)
            return SILK_FETCH_EINVAL;
        f->cfg.max_fds = c->max_fds;
    }
    if (c->user_agent) {
        char *ua = strdup(c->user_agent);
        if (!ua) {
            snprintf(err, errsz, "out of memory");
            return SILK_FETCH_ENOMEM;
        }
        free(f->ua);
        f->ua = ua;
    }
    if (c->pool_max > 0 && c->pool_max != f->cfg.pool_max) {
        while (f->npool > c->pool_max)
            curl_easy_cleanup(f->pool[--f->npool].e);
        pooled *np = realloc(f->pool, (size_t)c->pool_max * sizeof *np);
        if (!np) {
            snprintf(err, errsz, "out of memory");
            return SILK_FETCH_ENOMEM;
        }
        f->pool = np;
        f->cfg.pool_max = c->pool_max;
    }
    if (c->max_per_host > 0) {
        f->cfg.max_per_host = c->max_per_host;
        /* every host with a queue may now have room (or none): re-rank them */
        for (int i = 0; i < HOST_BUCKETS; i++)
            for (host *h = f->buckets[i]; h; h = h->hnext)
                if (h->qhead)
                    h->active < f->cfg.max_per_host ? ring_add(f, h) : ring_remove(f, h);
    }
    if (c->max_total > 0) {
        f->cfg.max_total = c->max_total;
        curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)c->max_total);
    }
    pump(f);
    return 0;
}

const char *silk_fetch_url(const silk_fetch_xfer *x)
{
    return x && x->magic == XFER_MAGIC ? x->orig_url : "";
}

void silk_fetch_get_stats(silk_fetch *f, silk_fetch_stats *st)
{
    *st = f->st;
    st->hosts = f->nhosts;
    st->easy_pooled = f->npool;
}

/* Takes x out of whatever holds it (queue, multi, timer, posted list). */
static void detach(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    switch (x->state) {
    case X_QUEUED: {
        host *h = x->host;
        queue_unlink(x);
        x->host = NULL;
        host_update(f, h);
        break;
    }
    case X_ACTIVE:
        curl_multi_remove_handle(f->multi, x->easy);
        easy_back(x);
        release_slot(x);
        break;
    case X_BACKOFF:
        ev_timer_stop(f->loop, &x->backoff);
        f->st.backoff--;
        break;
    case X_POSTED:
        posted_unlink(x);
        break;
    default:
        break;
    }
}

void silk_fetch_cancel(silk_fetch_xfer *x)
{
    if (!x || x->magic != XFER_MAGIC || x->state == X_DONE)
        return;
    silk_fetch *f = x->f;
    int was_active = x->state == X_ACTIVE;
    detach(x);
    f->st.cancelled++;
    xfer_free(x);
    if (was_active)
        pump(f);
}

void silk_fetch_free(silk_fetch *f)
{
    if (!f)
        return;

    /* no new slots while we drain: a callback that starts a transfer gets
     * it queued, and this loop completes it as cancelled too */
    f->cfg.max_total = 0;
    while (f->all) {
        silk_fetch_xfer *x = f->all;
        if (x->state == X_DONE)          /* shutdown from inside a callback: not allowed */
            break;
        detach(x);
        set_msg(x, "fetch shut down");
        complete(x, SILK_FETCH_CANCELLED);
    }
    ev_timer_stop(f->loop, &f->timer);
    ev_idle_stop(f->loop, &f->idle);
    curl_multi_cleanup(f->multi);       /* closes cached connections */
    while (f->watchers)
        watcher_free(f, f->watchers);
    while (f->npool)
        curl_easy_cleanup(f->pool[--f->npool].e);
    free(f->pool);
    while (f->sessions) {
        session *s = f->sessions;
        f->sessions = s->next;
        curl_share_cleanup(s->sh);
        free(s->name);
        free(s);
    }
    for (int i = 0; i < HOST_BUCKETS; i++)
        while (f->buckets[i]) {
            host *h = f->buckets[i];
            f->buckets[i] = h->hnext;
            free(h->key);
            free(h);
        }
    free(f->ua);
    free(f);
    if (--nstates == 0)
        curl_global_cleanup();
}
