/*
 * fetch_xfer.c -- a transfer's record (made from the request, freed once
 * complete), sessions and their cookie jars, and completion: the callback
 * runs from the loop, never from inside silk_fetch_start(). See fetch_int.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fetch_int.h"
#include "track.h"

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void fetch_set_msg(silk_fetch_xfer *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
}

void fetch_reset_response(silk_fetch_xfer *x)
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

void fetch_free_body(silk_fetch_xfer *x)
{
    if (x->bbuf) {
        free(x->bbuf);
        silk_track_release(SILK_RES_BUFFER);
    }
    x->bbuf = NULL;
    x->blen = x->bcap = 0;
}

void fetch_xfer_free(silk_fetch_xfer *x)
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
    fetch_free_body(x);
    x->magic = 0;
    free(x);
    silk_track_release(SILK_RES_TRANSFER);
}

silk_fetch_xfer *fetch_xfer_new(silk_fetch *f, const silk_fetch_req *r)
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
        fetch_xfer_free(x);
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

session *fetch_session_get(silk_fetch *f, const char *name)
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
    session *s = fetch_session_get(f, name);
    CURL *e = s ? jar_handle(s) : NULL;
    if (!e)
        return SILK_FETCH_ENOMEM;
    CURLcode rc = curl_easy_setopt(e, CURLOPT_COOKIELIST, line);
    curl_easy_cleanup(e);
    return rc == CURLE_OK ? 0 : rc == CURLE_OUT_OF_MEMORY ? SILK_FETCH_ENOMEM : SILK_FETCH_EINVAL;
}

void fetch_complete(silk_fetch_xfer *x, silk_fetch_kind kind)
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
    fetch_xfer_free(x);
}

void fetch_post(silk_fetch_xfer *x, silk_fetch_kind kind)
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

void fetch_posted_unlink(silk_fetch_xfer *x)
{
    silk_fetch *f = x->f;
    if (x->qprev) x->qprev->qnext = x->qnext; else f->posted_head = x->qnext;
    if (x->qnext) x->qnext->qprev = x->qprev; else f->posted_tail = x->qprev;
    x->qnext = x->qprev = NULL;
}
