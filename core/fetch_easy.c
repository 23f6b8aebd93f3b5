/*
 * fetch_easy.c -- an attempt as curl sees it: the options of its easy
 * handle, and the curl callbacks, which copy bytes and set flags and
 * nothing else (body, headers, sockets and the private-address guard).
 * See fetch_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "fetch_int.h"
#include "track.h"

#define DNS_TTL 60L                     /* seconds a resolved name is kept (libcurl's default) */

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
int fetch_plain(const silk_fetch_xfer *x)
{
    const silk_fetch_req *o = &x->opt;
    return strcmp(x->method, "GET") == 0 && !x->body && !(x->proxy && *x->proxy) && !x->sess && !x->cookie &&
           !x->ca_file && !o->insecure && o->http2 == SILK_HTTP2_AUTO && !o->block_private;
}

/* The DNS cache lifetime for the next transfer. libcurl 7.88 prunes its
 * DNS cache at the end of every transfer whose lifetime is not -1 ("keep
 * forever"), walking every entry: one per host seen in the last minute, so
 * over many hosts each request paid a walk over all of them. Here one
 * transfer a second in each shard (each multi handle has a DNS cache of
 * its own) carries the lifetime and prunes; the others keep
 * entries as they are, and since a -1 transfer also skips the staleness
 * check on lookup, an entry may be used up to about a second (or as long
 * as the pruning transfer lasts) past its lifetime. */
static long dns_timeout(shard *sh)
{
    double now = silk_now();
    if (now - sh->dns_pruned_at < 1.0)
        return -1L;
    sh->dns_pruned_at = now;
    return DNS_TTL;
}

/* Sets e up for x; e_plain: e is already set up for a plain request. A
 * handle that is not, is fresh or reset, or set up for a plain request:
 * every option set below for a plain request is set again for any other,
 * so no option of a previous request survives. */
int fetch_setup_easy(silk_fetch_xfer *x, CURL *e, int e_plain)
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
    SET(CURLOPT_DNS_CACHE_TIMEOUT, dns_timeout(fetch_shard(x)));
    SET(CURLOPT_USERAGENT, x->ua);
    SET(CURLOPT_HTTPHEADER, x->slist);
    /* Waiting for a connection that may multiplex pays only where one can:
     * over https (HTTP/2 by ALPN) or with HTTP/2 prior knowledge. Over plain
     * http it would hold every transfer to a new host until the first
     * response's headers arrive: 63 of 64 requests idle behind a slow page. */
    SET(CURLOPT_PIPEWAIT, (long)(o->http2 == SILK_HTTP2_PRIOR || !strncasecmp(x->url, "https:", 6)));
    x->easy_plain = fetch_plain(x);
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
