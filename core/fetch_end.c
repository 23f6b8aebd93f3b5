/*
 * fetch_end.c -- the end of an attempt, in drain_done (fetch.c) after curl
 * has returned: what curl's result means (classify), retries with backoff,
 * redirects, partial responses, then completion. See fetch_int.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fetch_int.h"

/* xorshift64*: jitter only, not security. */
static double rand01(silk_fetch *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

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
    fetch_enqueue(x);
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
    fetch_free_body(x);
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
            fetch_set_msg(x, "out of memory");
            fetch_complete(x, SILK_FETCH_PROTOCOL);
            return 1;
        }
        x->hops = nh;
        x->hops_cap = cap;
    }
    char *next = strdup(location);
    if (!next) {
        fetch_set_msg(x, "out of memory");
        fetch_complete(x, SILK_FETCH_PROTOCOL);
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
        fetch_set_msg(x, "redirect loop: %.200s visited %d times", next, seen + 1);
        fetch_complete(x, SILK_FETCH_REDIRECT_LOOP);
        return 1;
    }
    if (x->nhops > x->opt.max_redirects) {
        fetch_set_msg(x, "more than %d redirects", x->opt.max_redirects);
        fetch_complete(x, SILK_FETCH_REDIRECT_LOOP);
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
    fetch_free_body(x);
    fetch_enqueue(x);
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
void fetch_finish_attempt(silk_fetch_xfer *x, CURLcode rc)
{
    silk_fetch *f = x->f;
    CURL *e = x->easy;
    char *location = NULL;

    fetch_shard_remove(x);
    read_info(x, e);
    if (rc == CURLE_PARTIAL_FILE)
        note_partial(x, e);
    if (rc == CURLE_OK) {
        char *loc = NULL;
        if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
            location = strdup(loc);
    }
    fetch_easy_back(x);
    fetch_release_slot(x);

    if (rc != CURLE_OK && x->no_fd && f->active_total > 0) {
        /* out of descriptors: wait for one of the transfers in flight to
         * give its socket back, and start no more than fit meanwhile */
        f->st.fd_cap = f->active_total;
        f->st.fd_waits++;
        x->attempts--;
        x->total_attempts--;
        x->queued_since = silk_now();
        fetch_enqueue_at(x, 1);
        goto done;
    }
    if (f->st.fd_cap > 0 && !x->no_fd && ++f->st.fd_cap >= f->cfg.max_total)
        f->st.fd_cap = 0;               /* grown back: no cap */
    if (rc != CURLE_OK) {
        silk_fetch_kind k = classify(x, rc);
        if (k == SILK_FETCH_TOO_LARGE && x->hdr_too_large)
            fetch_set_msg(x, "response headers over %d bytes", HEADER_CAP);
        else if (k == SILK_FETCH_TOO_LARGE && rc == CURLE_OUT_OF_MEMORY)
            fetch_set_msg(x, "a response header line over %d bytes", CURL_MAX_HTTP_HEADER);
        else if (x->dec_why[0])
            fetch_set_msg(x, "%s", x->dec_why);
        else if (k == SILK_FETCH_TOO_LARGE)
            fetch_set_msg(x, "body over max_size (%zu bytes)", x->opt.max_size);
        else if (k == SILK_FETCH_BLOCKED && x->blocked_addr)
            fetch_set_msg(x, "address of %.200s is private or loopback (block_private)", x->url);
        else if (x->no_fd)
            fetch_set_msg(x, "out of file descriptors with no transfer in flight to free one "
                       "(raise the limit: --max-fds)");
        else
            fetch_set_msg(x, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        if (transient_kind(k) && x->attempts <= x->opt.retries)
            schedule_retry(x, -1);
        else
            fetch_complete(x, k);
        goto done;
    }
    if (x->coding > 0 && silk_decode_finish(&x->dec) != SILK_DECODE_OK) {
        fetch_set_msg(x, "the %s body ends before its stream does (%zu bytes received, %zu decoded)",
                x->coding == SILK_DECODE_GZIP ? "gzip" : "deflate", x->dec.in, x->dec.out);
        fetch_complete(x, SILK_FETCH_PROTOCOL);
        goto done;
    }
    if (follow(x, location))
        goto done;
    if (transient_status(x->status) && x->attempts <= x->opt.retries) {
        schedule_retry(x, x->retry_after);
        goto done;
    }
    if (x->opt.raise_for_status && x->status >= 400) {
        fetch_set_msg(x, "HTTP %ld from %.200s", x->status, x->url);
        fetch_complete(x, SILK_FETCH_HTTP);
        goto done;
    }
    x->msg[0] = 0;
    fetch_complete(x, SILK_FETCH_OK);
done:
    free(location);
    fetch_pump(f);                            /* the slot x held may start a queued transfer */
}
