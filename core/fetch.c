/*
 * fetch.c -- libcurl's multi-socket API on the engine's libev loop; see fetch.h.
 * This file: admission (hosts, the ready ring, slots, the handle pool), the
 * loop glue and the state's life; fetch_int.h lists the other files.
 *
 * The loop drives curl's multi handles (the shards, fetch_int.h):
 * CURLMOPT_SOCKETFUNCTION keeps one ev_io per socket curl wants watched,
 * CURLMOPT_TIMERFUNCTION one ev_timer per shard, and both watchers call
 * curl_multi_socket_action on their shard and then drain finished transfers
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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fetch_int.h"
#include "silk_config.h"
#include "track.h"
#include "url.h"

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

/* --- URLs and host keys -------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
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

/* --- hosts and the ready ring -------------------------------------------- */

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

/* --- the easy-handle pool ------------------------------------------------ */

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

/* --- admission: a slot, an easy handle, a start -------------------------- */

/* Returns the easy handle of x (out of the multi) to the pool. A session's
 * handle drops its list of cookie files first: libcurl 7.88 keeps the ""
 * that switched the cookie engine on (setup_easy) in a list that neither
 * the transfer nor curl_easy_reset frees, one node per request. Clearing
 * it leaves the session's jar alone: it lives in the share. */
void fetch_easy_back(silk_fetch_xfer *x)
{
    CURL *e = x->easy;
    x->easy = NULL;
    if (x->sess)
        curl_easy_setopt(e, CURLOPT_COOKIEFILE, (char *)NULL);
    pool_put(x->f, e, x->easy_plain);
}

void fetch_release_slot(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    host *h = x->host;
    x->host = NULL;
    h->active--;
    f->active_total--;
    f->st.active--;
    host_update(f, h);
}

shard *fetch_shard(const silk_fetch_xfer *x)
{
    return &x->f->shards[x->host->hash % FETCH_SHARDS];
}

/* Sets sh's cache limit (see shard in fetch_int.h) before curl may give a
 * connection back to it, which happens inside socket_action: the shard's
 * transfers plus what one cache of max_total connections would hold idle
 * now, max_total less the transfers in flight. A shard on its own thus
 * keeps what the one cache kept: a host's keep-alive connections stay
 * while its tasks are busy with their responses. (libcurl's own default,
 * 4 x the easy handles in the multi handle, would shrink the cache just
 * then, since ours leave it when their transfer ends.) */
static void shard_limit(shard *sh)
{
    silk_fetch *f = sh->f;
    long idle = f->cfg.max_total - f->active_total;
    curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, sh->active + (idle > 0 ? idle : 0) + 1);
}

void fetch_shard_remove(silk_fetch_xfer *x)
{
    shard *sh = fetch_shard(x);
    curl_multi_remove_handle(sh->multi, x->easy);
    sh->active--;
}

/* x holds a slot; hands it to curl, or posts its failure. */
static void start_attempt(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    int e_plain;
    CURL *e = pool_get(f, &e_plain);
    if (!e) {
        fetch_set_msg(x, "out of memory (curl_easy_init)");
        fetch_release_slot(x);
        fetch_post(x, SILK_FETCH_PROTOCOL);
        return;
    }
    fetch_reset_response(x);
    x->easy = e;
    shard *sh = fetch_shard(x);
    if (fetch_setup_easy(x, e, e_plain) != 0 || curl_multi_add_handle(sh->multi, e) != CURLM_OK) {
        x->easy = NULL;
        pool_put(f, e, 0);
        fetch_set_msg(x, "could not set up the transfer");
        fetch_release_slot(x);
        fetch_post(x, SILK_FETCH_PROTOCOL);
        return;
    }
    sh->active++;
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

void fetch_pump(silk_fetch *f)
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

void fetch_enqueue_at(silk_fetch_xfer *x, int front)
{
    silk_fetch *f = x->f;
    char key[512];
    silk_fetch_kind k = host_key(x->url, key, sizeof key, x->msg, sizeof x->msg);
    if (k != SILK_FETCH_OK) {
        fetch_post(x, k);
        return;
    }
    if (!x->orig_key) {
        if (!(x->orig_key = strdup(key))) {
            fetch_set_msg(x, "out of memory");
            fetch_post(x, SILK_FETCH_PROTOCOL);
            return;
        }
    } else if (strcmp(x->orig_key, key) != 0) {
        x->cross_host = 1;
    }
    host *h = host_get(f, key);
    if (!h) {
        fetch_set_msg(x, "out of memory");
        fetch_post(x, SILK_FETCH_PROTOCOL);
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
    fetch_pump(f);
}

void fetch_enqueue(silk_fetch_xfer *x)
{
    fetch_enqueue_at(x, 0);
}

silk_fetch_xfer *silk_fetch_start(silk_fetch *f, const silk_fetch_req *req,
                                  silk_fetch_cb cb, void *ud)
{
    if (!f || !req || !req->url || !cb)
        return NULL;
    silk_fetch_xfer *x = fetch_xfer_new(f, req);
    if (!x)
        return NULL;
    x->cb = cb;
    x->ud = ud;
    if (req->session && !(x->sess = fetch_session_get(f, req->session))) {
        fetch_xfer_free(x);
        return NULL;
    }
    f->st.started++;
    if (x->proxy && *x->proxy && inspect_proxy(x->proxy, x->msg, sizeof x->msg) != SILK_FETCH_OK) {
        fetch_post(x, SILK_FETCH_INVALID);
        return x;
    }
    fetch_enqueue(x);
    return x;
}

/* --- the loop glue ------------------------------------------------------- */

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
static void drain_done(shard *sh)
{
    silk_fetch *f = sh->f;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left))) {
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
        fetch_finish_attempt(x, rc);
        if (f->hooks.batch_end)
            f->hooks.batch_end(f->hooks.ud);
    }
}

/* Completes the POSTED transfers. */
static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    silk_fetch *f = w->data;
    silk_fetch_xfer *x;
    /* pop one at a time: a callback may post or cancel others */
    while ((x = f->posted_head)) {
        f->posted_head = x->qnext;
        if (f->posted_head) f->posted_head->qprev = NULL; else f->posted_tail = NULL;
        x->qnext = NULL;
        fetch_complete(x, x->kind);
    }
    ev_idle_stop(loop, w);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    /* w may be freed by the socket callback inside socket_action: read it first */
    shard *sh = ((sockw *)w)->sh;
    int fd = w->fd, running;
    int ev = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    shard_limit(sh);
    curl_multi_socket_action(sh->multi, fd, ev, &running);
    drain_done(sh);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    shard *sh = w->data;
    int running;
    shard_limit(sh);
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(sh);
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
    shard *sh = ud;
    silk_fetch *f = sh->f;
    sockw *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(sh->multi, s, NULL);
            watcher_free(f, w);
        }
        return 0;
    }
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return -1;
        w->sh = sh;
        w->next = f->watchers;
        if (f->watchers)
            f->watchers->prev = w;
        f->watchers = w;
        f->st.watchers++;
        ev_init(&w->io, on_io);
        curl_multi_assign(sh->multi, s, w);
    } else {
        ev_io_stop(f->loop, &w->io);
    }
    int ev = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_set(&w->io, s, ev);
    ev_io_start(f->loop, &w->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer a shard, replaced on every call; -1
 * deletes it. A 0 timeout fires on the next loop iteration (curl must not
 * be called from here). */
static int on_curl_timer(CURLM *m, long timeout_ms, void *ud)
{
    shard *sh = ud;
    struct ev_loop *loop = sh->f->loop;
    ev_timer_stop(loop, &sh->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&sh->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &sh->timer);
    }
    return 0;
}

/* --- the per-engine state ------------------------------------------------ */

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

/* Returns 0 when curl_multi_init fails (sh->multi stays NULL). */
static int shard_init(silk_fetch *f, shard *sh)
{
    sh->f = f;
    if (!(sh->multi = curl_multi_init()))
        return 0;
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, (void *)sh);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, (void *)sh);
    curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    ev_init(&sh->timer, on_timer);
    sh->timer.data = sh;
    return 1;
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
    int shards_ok = 1;
    for (int i = 0; i < FETCH_SHARDS; i++)
        shards_ok &= shard_init(f, &f->shards[i]);
    if (!f->ua || !f->pool || !shards_ok) {
        for (int i = 0; i < FETCH_SHARDS; i++)
            if (f->shards[i].multi)
                curl_multi_cleanup(f->shards[i].multi);
        free(f->pool);
        free(f->ua);
        free(f);
        goto fail;
    }
    f->rng = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid() ^ (uintptr_t)f;
    if (!f->rng)
        f->rng = 1;
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
    if (c->max_total > 0)
        f->cfg.max_total = c->max_total;
    fetch_pump(f);
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
        fetch_shard_remove(x);
        fetch_easy_back(x);
        fetch_release_slot(x);
        break;
    case X_BACKOFF:
        ev_timer_stop(f->loop, &x->backoff);
        f->st.backoff--;
        break;
    case X_POSTED:
        fetch_posted_unlink(x);
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
    fetch_xfer_free(x);
    if (was_active)
        fetch_pump(f);
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
        fetch_set_msg(x, "fetch shut down");
        fetch_complete(x, SILK_FETCH_CANCELLED);
    }
    ev_idle_stop(f->loop, &f->idle);
    for (int i = 0; i < FETCH_SHARDS; i++) {
        ev_timer_stop(f->loop, &f->shards[i].timer);
        curl_multi_cleanup(f->shards[i].multi);   /* closes cached connections */
    }
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
