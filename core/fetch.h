/*
 * fetch.h -- HTTP(S) transfers: libcurl's multi interface on a libev loop.
 * The only module that talks to libcurl.
 *
 * Who calls it: lapi_fetch.c (silk.fetch) makes one silk_fetch per engine
 * (the engine's SILK_SERVICE_FETCH, stopped with silk_fetch_free) and starts
 * transfers for tasks. fetch.c knows nothing of engines or tasks: it gets a
 * loop and a pair of hooks around each batch of completions (as a hiredis
 * adapter does). Everything runs on the loop thread.
 *
 * What it does: per-host concurrency slots (FIFO per host, round-robin across
 * hosts, plus a total cap); an easy-handle pool reused with curl_easy_reset;
 * connection reuse, HTTP/2 multiplexing and the DNS cache that a multi
 * handle shares among its easy handles (a name is kept 60 s, give or take
 * the second between prunes; hosts are spread over a few multi handles,
 * each host's transfers all in one, so these work per host as with one);
 * redirects followed here (not by curl)
 * so that each hop is checked (http/https only, loops, a maximum) and the
 * chain recorded; retries with exponential backoff, jitter and Retry-After;
 * a cap on the decoded body enforced in the write callback (libcurl 7.88's
 * MAXFILESIZE does not stop a chunked body or a compression bomb); cookies
 * per named session (a CURLSH sharing cookies); TLS verified unless the
 * request opts out.
 *
 * Ownership: a silk_fetch owns every transfer, easy handle, socket watcher
 * and session until silk_fetch_free. A transfer belongs to fetch.c from
 * silk_fetch_start() until its callback has returned or it was cancelled;
 * the caller holds a borrowed pointer good for exactly one
 * silk_fetch_cancel() before the callback runs.
 *
 * Callback rules: the completion callback fires exactly once per started
 * transfer that is not cancelled, always from a loop callback and never
 * before silk_fetch_start() has returned (a transfer that fails at once is
 * completed from an ev_idle watcher). The result it receives, and every
 * pointer inside, is valid only during the callback; fetch.c frees the
 * transfer when the callback returns. The callback must not call
 * silk_fetch_cancel() on its own transfer; it may start others.
 */
#ifndef SILK_FETCH_H
#define SILK_FETCH_H

#include <stddef.h>

struct ev_loop;
typedef struct silk_fetch silk_fetch;
typedef struct silk_fetch_xfer silk_fetch_xfer;

/* Error kinds, in Lua as err.kind (silk_fetch_kind_name). */
typedef enum silk_fetch_kind {
    SILK_FETCH_OK = 0,
    SILK_FETCH_TIMEOUT,        /* an attempt took longer than req.timeout */
    SILK_FETCH_CANCELLED,      /* aborted by shutdown */
    SILK_FETCH_DNS,            /* host (or proxy) name did not resolve */
    SILK_FETCH_CONNECT,        /* TCP connect refused or failed (to the server, or the proxy or
                                * through it) */
    SILK_FETCH_TLS,            /* handshake or certificate verification failed */
    SILK_FETCH_RESET,          /* connection reset or closed while sending/receiving (a body
                                * cut short too: the message gives the byte counts) */
    SILK_FETCH_TOO_LARGE,      /* body (decoded) over max_size, headers over the cap, or one
                                * header line over libcurl's */
    SILK_FETCH_REDIRECT_LOOP,  /* a URL seen twice in the chain, or more than max_redirects */
    SILK_FETCH_BLOCKED,        /* scheme not http/https (also after a redirect), or a private address */
    SILK_FETCH_PROTOCOL,       /* malformed response: bad framing or encoding, a status line
                                * that does not parse, HTTP/0.9, ... */
    SILK_FETCH_HTTP,           /* status >= 400 and the request asked raise_for_status */
    SILK_FETCH_INVALID,        /* the request itself is unusable (malformed URL) */
    SILK_FETCH_KIND_COUNT_
} silk_fetch_kind;

const char *silk_fetch_kind_name(silk_fetch_kind k);

/* Values of silk_fetch_req.http2. */
enum { SILK_HTTP2_AUTO = 0, SILK_HTTP2_OFF, SILK_HTTP2_ON, SILK_HTTP2_PRIOR };

/* A request. Every pointer is borrowed for the duration of silk_fetch_start()
 * only (it copies what it keeps). Zero-initialise and set what you need;
 * silk_fetch_req_init() sets the documented defaults. */
typedef struct silk_fetch_req {
    const char *url;           /* required */
    const char *method;        /* NULL: GET, or POST when body is set */
    const char *const *headers;/* "Name: value" lines, nheaders of them */
    int nheaders;
    const char *body;          /* request body (may contain NULs) */
    size_t body_len;
    double timeout;            /* seconds per attempt, from the first byte sent on; 0: none (default 30) */
    double connect_timeout;    /* seconds; 0: curl's default (default 10) */
    size_t max_size;           /* cap on the decoded body, bytes (default 64 MiB) */
    int follow_redirects;      /* default 1 */
    int max_redirects;         /* default 10 */
    const char *proxy;         /* http://, https://, socks5://, socks5h:// URL, checked at start
                                * (else kind invalid); NULL or "": none. http_proxy & co. in
                                * the environment are ignored. An https:// proxy is verified
                                * like the server (insecure, ca_file apply to both) */
    const char *session;       /* cookie jar name shared by requests naming it; NULL: no cookies */
    const char *cookie;        /* "name=value; name2=value2" sent with this request (merged with
                                * the jar's into one Cookie header, never stored in the jar, not
                                * sent past a redirect to another host); NULL: none */
    const char *user_agent;    /* NULL: the configured default */
    int http2;                 /* SILK_HTTP2_* (auto: HTTP/2 over TLS when offered) */
    int insecure;              /* 1: skip TLS verification (opt-in only) */
    const char *ca_file;       /* PEM bundle to verify against instead of the system's */
    int retries;               /* extra attempts on transient failures (default 0) */
    double backoff;            /* first retry delay in seconds, doubled each time, jittered (default 0.5) */
    double retry_after_max;    /* cap on an honoured Retry-After, seconds (default 60) */
    int raise_for_status;      /* 1: a final status >= 400 is an error of kind http */
    int block_private;         /* 1: refuse loopback/private/link-local addresses (kind blocked) */
} silk_fetch_req;

void silk_fetch_req_init(silk_fetch_req *r);

/* One response header, in arrival order. */
typedef struct silk_fetch_header {
    const char *name;  size_t name_len;
    const char *value; size_t value_len;
} silk_fetch_header;

/* One hop of a redirect chain: the URL that answered and its status. */
typedef struct silk_fetch_hop {
    const char *url;
    long status;
} silk_fetch_hop;

/* Per-attempt timings of the final attempt, seconds. dns/connect/tls are
 * phase durations; ttfb and total run from the attempt's start. queued is
 * the time spent waiting for a slot, over every attempt. done_at is the
 * silk_now() time at which the transfer completed (for overhead probes). */
typedef struct silk_fetch_timings {
    double dns, connect, tls, ttfb, total, queued, done_at;
} silk_fetch_timings;

/* What the callback receives. kind != OK: the transfer failed; message says
 * why; url is the URL that failed; status is the last status seen or 0. */
typedef struct silk_fetch_result {
    silk_fetch_kind kind;
    const char *message;
    long status;
    const char *url;               /* final URL */
    const char *method;            /* method of the final request */
    const silk_fetch_hop *redirects; int nredirects;
    const silk_fetch_header *headers; int nheaders;  /* of the final response */
    const char *body; size_t body_len;               /* decoded body */
    const char *http_version;      /* "1.0", "1.1", "2", "3" or "" */
    const char *remote_ip;         /* "" when unknown */
    long long wire_size;           /* bytes received for the body before decoding */
    int attempts;                  /* 1 + retries used */
    double retry_after;            /* seconds the server asked for on the final response, or -1 */
    silk_fetch_timings timings;
} silk_fetch_result;

typedef void (*silk_fetch_cb)(const silk_fetch_result *res, void *ud);

/* Engine-wide limits and defaults; silk_fetch_configure() changes them. */
typedef struct silk_fetch_config {
    int max_per_host;          /* concurrent transfers per scheme://host:port (default 16) */
    int max_total;             /* concurrent transfers overall (default 1024) */
    int pool_max;              /* idle easy handles kept for reuse (default 256) */
    long max_fds;              /* RLIMIT_NOFILE soft limit to set (process-wide); 0: raise it
                                * to the hard limit (the default, from the engine option) */
    const char *user_agent;    /* default "silk/<version>" (copied) */
} silk_fetch_config;

/* Called around each batch of completions that one loop event delivers
 * (a socket's readiness can finish many transfers): the engine's binding
 * makes its task scheduler's event batch of them. Either may be NULL. */
typedef struct silk_fetch_hooks {
    void (*batch_begin)(void *ud);
    void (*batch_end)(void *ud);
    void *ud;
} silk_fetch_hooks;

/* A fetch state on loop (hooks copied; NULL: none), setting RLIMIT_NOFILE
 * to max_fds (see silk_fetch_set_max_fds; a failure leaves the limit as it
 * was, the caller checked it). NULL only on allocation or libcurl
 * initialisation failure. */
silk_fetch *silk_fetch_new(struct ev_loop *loop, const silk_fetch_hooks *hooks, long max_fds);

/* Reads the current config into *c (user_agent borrowed). */
void silk_fetch_get_config(silk_fetch *f, silk_fetch_config *c);

/* Applies *c; fields <= 0 (NULL for strings) are left as they are. Raising
 * a limit starts queued transfers. Returns 0, SILK_FETCH_ENOMEM, or
 * SILK_FETCH_EINVAL (max_fds above the hard limit; nothing else changed)
 * with a message in err. */
int silk_fetch_configure(silk_fetch *f, const silk_fetch_config *c, char *err, size_t errsz);

/* Sets the process's RLIMIT_NOFILE soft limit to want, or to the hard limit
 * when want is 0. Returns 0, or SILK_FETCH_EINVAL with a message in err when
 * want is above the hard limit (the limit is then left as it was).
 *
 * Running out of descriptors anyway is not a failure of the transfers: a
 * transfer whose socket() fails with EMFILE/ENFILE goes back to the head of
 * its queue (the attempt does not count), and the number of transfers
 * started is capped at what was in flight at that moment, growing back by
 * one per completed attempt. Only when nothing is in flight to free a
 * descriptor does a transfer fail, with kind connect. */
int silk_fetch_set_max_fds(long want, char *err, size_t errsz);

/* The loaded libcurl's version and its TLS library ("7.88.1 OpenSSL/3.0.15"),
 * for `silk version`. A static string. */
const char *silk_fetch_curl_version(void);

#define SILK_FETCH_EINVAL (-22)
#define SILK_FETCH_ENOMEM (-12)

/* Starts a transfer; cb(res, ud) fires once later unless the transfer is
 * cancelled first. Returns the transfer, or NULL on allocation failure (cb
 * will not fire). An invalid or blocked URL is not a NULL return: it
 * completes through the loop with its kind. */
silk_fetch_xfer *silk_fetch_start(silk_fetch *f, const silk_fetch_req *req,
                                  silk_fetch_cb cb, void *ud);

/* Aborts a transfer whose callback has not fired: removes it from the multi
 * handle (or its queue, or its backoff timer) at once, returns its easy
 * handle to the pool, frees it. The callback never fires. Must not be
 * called from inside a libcurl callback nor from the transfer's own
 * completion callback. */
void silk_fetch_cancel(silk_fetch_xfer *x);

/* 1 when sa (AF_INET or AF_INET6) is an address that block_private
 * refuses: loopback, unspecified, private (10/8, 172.16/12, 192.168/16,
 * fc00::/7), shared (100.64/10), link-local (169.254/16, fe80::/10),
 * site-local (fec0::/10), multicast and broadcast, and an IPv4 address of
 * those inside IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d). fetch.c
 * checks it on every socket it opens, after DNS resolution, and on every
 * reused connection before a request goes out, redirects included. */
struct sockaddr;
int silk_fetch_addr_private(const struct sockaddr *sa);

/* The cookie jar of session `name` (see silk_fetch_req.session), for a
 * caller that keeps it across runs (a crawl's jobdir). Lines are libcurl's
 * cookie-file lines (Netscape format, "#HttpOnly_" prefix for HttpOnly
 * cookies), which silk_fetch_cookie_add takes back unchanged.
 *
 * silk_fetch_cookies calls each(ud, line) for every cookie of the jar (a
 * session never used has none); line is borrowed for the call. Returns 0,
 * or SILK_FETCH_ENOMEM.
 *
 * silk_fetch_cookie_add adds one line to the jar (created if new); a
 * cookie of the same name, domain and path is replaced. Returns 0,
 * SILK_FETCH_ENOMEM, or SILK_FETCH_EINVAL for a line libcurl cannot read. */
int silk_fetch_cookies(silk_fetch *f, const char *name, void (*each)(void *ud, const char *line),
                       void *ud);
int silk_fetch_cookie_add(silk_fetch *f, const char *name, const char *line);

/* The URL a transfer currently fetches (for task dumps); owned by x. */
const char *silk_fetch_url(const silk_fetch_xfer *x);

typedef struct silk_fetch_stats {
    long queued;               /* waiting for a slot */
    long active;               /* in a multi handle */
    long backoff;              /* waiting to retry */
    long hosts;                /* host records */
    long easy_pooled;          /* idle easy handles */
    long sockets;              /* sockets opened minus closed as libcurl reported them (upper bound) */
    long watchers;             /* sockets watched by the loop */
    long started, completed, cancelled, retried, redirected;
    long fd_waits;             /* attempts put back in their queue for want of a descriptor */
    long fd_cap;               /* transfers allowed in flight since descriptors ran out; 0: no cap */
    long errors[SILK_FETCH_KIND_COUNT_];
} silk_fetch_stats;

void silk_fetch_get_stats(silk_fetch *f, silk_fetch_stats *st);

/* Shuts f down: completes every transfer still queued, in flight or in
 * backoff with kind cancelled (callbacks run, synchronously, here), then
 * frees the multi handles, the pool, sessions, watchers and f. Call after
 * the last task has run, before the loop is closed and before the resource
 * report. NULL is a no-op. */
void silk_fetch_free(silk_fetch *f);

#endif
