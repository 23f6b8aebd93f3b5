/*
 * test_fetch.c -- core/fetch.c against tests/lib/badserver.py on 127.0.0.1,
 * without Lua or an engine: fetch takes a bare libev loop, and its batch
 * hooks (the engine's binding makes them the scheduler's event batches)
 * only count here.
 *
 * libuv-style: every case counts its callbacks, and the file ends by
 * asserting that nothing is open (transfers, easy handles, buffers, sockets).
 */
#include <signal.h>
#include <stdarg.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "check.h"
#include "engine.h"                 /* silk_now */
#include "fetch.h"
#include "track.h"

static struct ev_loop *loop;

/* The batch hooks: batches begun and ended, and whether one is open. */
static long batches_begun, batches_ended;
static int in_batch, batch_nested;

static void batch_begin(void *ud)
{
    batch_nested |= in_batch;
    in_batch = 1;
    batches_begun++;
}

static void batch_end(void *ud)
{
    in_batch = 0;
    batches_ended++;
}

static silk_fetch *F;
static char base[64];
static pid_t server_pid;

static long sockets_open(void)
{
    silk_fetch_stats st;
    silk_fetch_get_stats(F, &st);
    return st.sockets;
}

/* Sockets this process really has open, whoever opened them. */
static long socket_fds(void)
{
    long n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0 && strncmp(target, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}


/* --- the server ------------------------------------------------------------ */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static void start_server(void)
{
    int port = free_port(), p[2];
    char ports[16], script[4200];
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(script, sizeof script, "%s/../tests/lib/badserver.py", SILK_SOURCE_LUA_DIR);
    if (pipe(p) != 0)
        abort();
    server_pid = fork();
    if (server_pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execlp("python3", "python3", script, "--port", ports, "--ttl", "300", "--hosts", "40", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    /* read the whole "ready\n" line and keep the pipe open: python writes
     * the newline separately and would die of SIGPIPE */
    char buf[16] = {0};
    size_t n = 0;
    while (n < sizeof buf - 1 && read(p[0], buf + n, 1) == 1 && buf[n] != '\n')
        n++;
    if (strncmp(buf, "ready", 5) != 0) {
        fprintf(stderr, "test_fetch: badserver did not start\n");
        exit(1);
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
}

/* --- running requests ------------------------------------------------------ */

/* What a callback saw, copied out (the result dies with the callback). */
typedef struct outcome {
    int calls;
    silk_fetch_kind kind;
    long status;
    char url[256];
    char msg[256];
    char *body;
    size_t body_len;
    int nredirects, attempts;
    char http_version[8], remote_ip[48];
    char content_type[128];
} outcome;

static void on_done(const silk_fetch_result *r, void *ud)
{
    outcome *o = ud;
    o->calls++;
    o->kind = r->kind;
    o->status = r->status;
    snprintf(o->url, sizeof o->url, "%s", r->url);
    snprintf(o->msg, sizeof o->msg, "%s", r->message);
    o->body = malloc(r->body_len + 1);
    memcpy(o->body, r->body, r->body_len);
    o->body[r->body_len] = 0;
    o->body_len = r->body_len;
    o->nredirects = r->nredirects;
    o->attempts = r->attempts;
    snprintf(o->http_version, sizeof o->http_version, "%s", r->http_version);
    snprintf(o->remote_ip, sizeof o->remote_ip, "%s", r->remote_ip);
    for (int i = 0; i < r->nheaders; i++)
        if (r->headers[i].name_len == 12 && !strncasecmp(r->headers[i].name, "content-type", 12))
            snprintf(o->content_type, sizeof o->content_type, "%.*s",
                     (int)r->headers[i].value_len, r->headers[i].value);
}

static int pending;
static void on_count(const silk_fetch_result *r, void *ud)
{
    outcome *o = ud;
    o->calls++;
    o->kind = r->kind;
    pending--;
}

static void run_until(int *flag_or_counter, int want, double limit)
{
    double end = silk_now() + limit;
    while (*flag_or_counter != want && silk_now() < end)
        ev_run(loop, EVRUN_ONCE);
}

static void spin(double secs)
{
    double end = silk_now() + secs;
    while (silk_now() < end)
        ev_run(loop, EVRUN_NOWAIT), usleep(1000);
}

static const char *U(const char *fmt, ...)
{
    static char buf[4][512];
    static int n;
    char path[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char *b = buf[n++ % 4];
    snprintf(b, 512, "%s%s", strncmp(path, "/", 1) ? "" : base, path);
    return b;
}

static outcome fetch(silk_fetch_req *r)
{
    outcome o = {0};
    silk_fetch_xfer *x = silk_fetch_start(F, r, on_done, &o);
    CHECK(x != NULL, "start %s", r->url);
    CHECK(o.calls == 0, "callback fired before start returned: %s", r->url);
    run_until(&o.calls, 1, 30);
    CHECK(o.calls == 1, "%s: %d callbacks", r->url, o.calls);
    return o;
}

static outcome get(const char *url)
{
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = url;
    return fetch(&r);
}

#define EXPECT_KIND(o, k) \
    CHECK((o).kind == (k), "%s: kind %s, want %s (%s)", (o).url, silk_fetch_kind_name((o).kind), \
          silk_fetch_kind_name(k), (o).msg)

/* --- cases ----------------------------------------------------------------- */

static void test_basic(void)
{
    outcome o = get(U("/status?code=200"));
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.status == 200 && !strcmp(o.body, "status 200\n"), "status %ld body '%s'", o.status, o.body);
    CHECK(!strcmp(o.http_version, "1.1") && !strcmp(o.remote_ip, "127.0.0.1"), "%s %s",
          o.http_version, o.remote_ip);
    CHECK(!strcmp(o.content_type, "text/plain; charset=utf-8"), "content type '%s'", o.content_type);
    free(o.body);

    o = get(U("/status?code=404"));
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.status == 404, "404 is a response: %ld", o.status);
    free(o.body);

    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = U("/status?code=500");
    r.raise_for_status = 1;
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_HTTP);
    CHECK(o.status == 500, "status %ld", o.status);
    free(o.body);

    const char *hdrs[] = {"X-Silk: yes", "Content-Type: text/x-test"};
    silk_fetch_req_init(&r);
    r.url = U("/echo");
    r.method = "put";
    r.body = "a\0b";
    r.body_len = 3;
    r.headers = hdrs;
    r.nheaders = 2;
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(strstr(o.body, "\"method\": \"PUT\"") && strstr(o.body, "\"body_len\": 3") &&
          strstr(o.body, "[\"X-Silk\", \"yes\"]"), "echo: %s", o.body);
    free(o.body);
}

static void test_redirects(void)
{
    outcome o = get(U("/redirect-chain?n=3"));
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.nredirects == 3 && !strcmp(o.body, "end of chain") && strstr(o.url, "n=0"),
          "chain: %d hops, url %s", o.nredirects, o.url);
    free(o.body);

    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = U("/redirect-chain?n=3");
    r.max_redirects = 2;
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_REDIRECT_LOOP);
    free(o.body);

    r.url = U("/redirect-chain?n=3");
    r.follow_redirects = 0;
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.status == 302 && o.nredirects == 0, "not followed: %ld", o.status);
    free(o.body);

    o = get(U("/redirect-loop"));
    EXPECT_KIND(o, SILK_FETCH_REDIRECT_LOOP);
    free(o.body);
    o = get(U("/redirect-file"));
    EXPECT_KIND(o, SILK_FETCH_BLOCKED);
    CHECK(strstr(o.msg, "file") != NULL, "msg %s", o.msg);
    free(o.body);
    o = get(U("/redirect-ftp"));
    EXPECT_KIND(o, SILK_FETCH_BLOCKED);
    free(o.body);
    o = get("file:///etc/passwd");
    EXPECT_KIND(o, SILK_FETCH_BLOCKED);
    CHECK(o.body_len == 0, "file read: %zu bytes", o.body_len);
    free(o.body);
    o = get("http://");
    EXPECT_KIND(o, SILK_FETCH_INVALID);
    free(o.body);
}

static void test_faults(void)
{
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = U("/gzip-bomb");
    r.max_size = 1 << 20;
    outcome o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_TOO_LARGE);
    free(o.body);
    r.url = U("/endless");
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_TOO_LARGE);
    free(o.body);

    o = get(U("/reset-mid-body"));
    EXPECT_KIND(o, SILK_FETCH_RESET);
    free(o.body);
    o = get(U("/cl-short"));            /* cut short: as retryable as a reset */
    EXPECT_KIND(o, SILK_FETCH_RESET);
    free(o.body);
    o = get(U("/bad-status"));
    EXPECT_KIND(o, SILK_FETCH_PROTOCOL);
    free(o.body);
    o = get(U("/cl-long"));
    EXPECT_KIND(o, SILK_FETCH_OK);      /* the body is what Content-Length announced */
    CHECK(o.body_len == 10, "cl-long body %zu", o.body_len);
    free(o.body);
    o = get(U("/bad-chunked"));
    EXPECT_KIND(o, SILK_FETCH_PROTOCOL);
    free(o.body);

    silk_fetch_req_init(&r);
    r.url = U("/sleep?ms=3000");
    r.timeout = 0.2;
    double t0 = silk_now();
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_TIMEOUT);
    CHECK(silk_now() - t0 < 1.5, "timeout took %.2fs", silk_now() - t0);
    free(o.body);

    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", free_port());
    o = get(refused);
    EXPECT_KIND(o, SILK_FETCH_CONNECT);
    free(o.body);

    /* a 70-byte label: glibc refuses it without sending a query */
    o = get("http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.invalid/");
    EXPECT_KIND(o, SILK_FETCH_DNS);
    free(o.body);

    silk_fetch_req_init(&r);
    r.url = U("/status?code=200");
    r.block_private = 1;
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_BLOCKED);
    free(o.body);
}

static void test_retries(void)
{
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    char key[64];
    snprintf(key, sizeof key, "c%ld", (long)getpid());
    r.url = U("/flaky-503?key=%s", key);
    r.retries = 3;
    r.backoff = 0.05;
    outcome o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.status == 200 && o.attempts == 3, "flaky: status %ld after %d attempts", o.status, o.attempts);
    free(o.body);

    r.url = U("/flaky-503?key=%s-noretry", key);
    r.retries = 0;
    o = fetch(&r);
    CHECK(o.kind == SILK_FETCH_OK && o.status == 503, "no retries: %ld", o.status);
    free(o.body);

    r.url = U("/retry-after?key=%s", key);
    r.retries = 1;
    double t0 = silk_now();
    o = fetch(&r);
    EXPECT_KIND(o, SILK_FETCH_OK);
    CHECK(o.status == 200 && silk_now() - t0 >= 0.95, "retry-after: %ld after %.2fs", o.status,
          silk_now() - t0);
    free(o.body);
}

static void test_per_host_limit(void)
{
    silk_fetch_config c = {.max_per_host = 3};
    silk_fetch_configure(F, &c, NULL, 0);
    enum { N = 12 };
    outcome os[N] = {{0}};
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    char key[64];
    snprintf(key, sizeof key, "limit%ld", (long)getpid());
    r.url = U("/concurrency?key=%s&ms=100", key);
    pending = N;
    for (int i = 0; i < N; i++)
        silk_fetch_start(F, &r, on_count, &os[i]);
    silk_fetch_stats st;
    silk_fetch_get_stats(F, &st);
    CHECK(st.active == 3 && st.queued == N - 3, "active %ld queued %ld", st.active, st.queued);
    run_until(&pending, 0, 10);
    CHECK(pending == 0, "%d transfers did not complete", pending);
    outcome o = get(U("/concurrency/stats?key=%s", key));
    CHECK(strstr(o.body, "\"max\": 3,") != NULL, "server saw %s", o.body);
    free(o.body);
    c.max_per_host = 2000;
    c.max_total = 4000;
    silk_fetch_configure(F, &c, NULL, 0);
}

/* Forty hosts (127.1.H.1, the server listens on each), spread over fetch's
 * shards: a host's later requests reuse its connections, in whichever
 * shard its key puts it, and a shard's cache keeps the connections of a
 * round for the next (its limit is its transfers plus a spare). */
static long connects;
static void on_connect_count(const silk_fetch_result *r, void *ud)
{
    on_count(r, ud);
    connects += r->timings.connect > 0;
}

static void test_many_hosts(void)
{
    enum { HOSTS = 40, PER = 2, ROUNDS = 3 };
    static outcome os[HOSTS * PER];
    static char urls[HOSTS][64];
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    for (int h = 0; h < HOSTS; h++)
        snprintf(urls[h], sizeof urls[h], "http://127.1.%d.1%s/sleep?ms=20", h, strrchr(base, ':'));
    silk_fetch_stats before, st;
    silk_fetch_get_stats(F, &before);
    connects = 0;
    for (int round = 0; round < ROUNDS; round++) {
        memset(os, 0, sizeof os);
        pending = HOSTS * PER;
        for (int i = 0; i < HOSTS * PER; i++) {
            r.url = urls[i % HOSTS];
            silk_fetch_start(F, &r, on_connect_count, &os[i]);
        }
        run_until(&pending, 0, 20);
        CHECK(pending == 0, "round %d: %d transfers did not complete", round, pending);
        for (int i = 0; i < HOSTS * PER; i++)
            EXPECT_KIND(os[i], SILK_FETCH_OK);
    }
    silk_fetch_get_stats(F, &st);
    CHECK(connects <= HOSTS * PER, "%ld connections opened for %d requests to %d hosts, %d at a time each",
          connects, HOSTS * PER * ROUNDS, HOSTS, PER);
    CHECK(st.sockets - before.sockets <= HOSTS * PER, "%ld more sockets open after the rounds",
          st.sockets - before.sockets);
}

/* The host key of a URL that is not plain is url.c's (silk_url_host_key),
 * the key the frontier's politeness uses: "127.0.0.1." is the IPv4 address
 * 127.0.0.1 there, so it shares the host record (and the slots) of the
 * plain URL. libcurl's own parse kept the dot, which made it another host. */
static void test_host_key(void)
{
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    outcome os[2] = {{0}};
    silk_fetch_stats before, st;
    silk_fetch_get_stats(F, &before);
    r.url = U("/sleep?ms=50");
    silk_fetch_xfer *a = silk_fetch_start(F, &r, on_count, &os[0]);
    char dotted[128];
    snprintf(dotted, sizeof dotted, "http://127.0.0.1.%s/sleep?ms=50", strrchr(base, ':'));
    r.url = dotted;
    silk_fetch_xfer *b = silk_fetch_start(F, &r, on_count, &os[1]);
    silk_fetch_get_stats(F, &st);
    CHECK(a && b && st.hosts == before.hosts + 1, "host records: %ld more for %s and %s",
          st.hosts - before.hosts, U("/"), dotted);
    silk_fetch_cancel(a);
    silk_fetch_cancel(b);
    silk_fetch_get_stats(F, &st);
    CHECK(st.hosts == before.hosts && !os[0].calls && !os[1].calls,
          "after cancel: %ld host records more, callbacks %d %d", st.hosts - before.hosts,
          os[0].calls, os[1].calls);
}

/* 1000 transfers in flight, all cancelled; 1000 more, all timing out. */
static void test_cancel_and_timeout_storm(void)
{
    enum { N = 1000 };
    static outcome os[N];
    static silk_fetch_xfer *xs[N];
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = U("/sleep?ms=10000");
    long sockets_before = sockets_open();
    memset(os, 0, sizeof os);
    for (int i = 0; i < N; i++)
        xs[i] = silk_fetch_start(F, &r, on_count, &os[i]);
    spin(1.0);
    silk_fetch_stats st;
    silk_fetch_get_stats(F, &st);
    CHECK(st.active == N, "active %ld", st.active);
    CHECK(sockets_open() >= sockets_before + N / 2, "sockets open %ld",
          sockets_open());
    double t0 = silk_now();
    for (int i = 0; i < N; i++)
        silk_fetch_cancel(xs[i]);
    double dt = silk_now() - t0;
    int calls = 0;
    for (int i = 0; i < N; i++)
        calls += os[i].calls;
    CHECK(calls == 0, "%d callbacks after cancel", calls);
    CHECK(silk_track_live(SILK_RES_CURL_EASY) == 0 && silk_track_live(SILK_RES_TRANSFER) == 0 &&
          silk_track_live(SILK_RES_BUFFER) == 0, "after cancel: easy %ld transfers %ld buffers %ld",
          silk_track_live(SILK_RES_CURL_EASY), silk_track_live(SILK_RES_TRANSFER),
          silk_track_live(SILK_RES_BUFFER));
    CHECK(sockets_open() <= sockets_before, "sockets %ld (before %ld)",
          sockets_open(), sockets_before);
    silk_fetch_get_stats(F, &st);
    CHECK(st.watchers == 0 || st.watchers <= sockets_before, "watchers %ld", st.watchers);
    printf("test_fetch: cancelled %d in-flight transfers in %.1f ms\n", N, dt * 1e3);

    r.timeout = 0.3;
    memset(os, 0, sizeof os);
    pending = N;
    for (int i = 0; i < N; i++)
        silk_fetch_start(F, &r, on_count, &os[i]);
    run_until(&pending, 0, 20);
    int timeouts = 0;
    for (int i = 0; i < N; i++)
        timeouts += os[i].calls == 1 && os[i].kind == SILK_FETCH_TIMEOUT;
    CHECK(timeouts == N, "%d of %d timed out", timeouts, N);
    /* libcurl closes the sockets of timed-out connections as its timers and
     * callbacks come round, not all inside the last completion: give it a
     * moment of loop before counting. Under ASan a handful (seen: 4 of
     * 1000) stay in libcurl's connection cache until shutdown, which
     * test_shutdown checks; what must not happen is one per transfer. On
     * a loaded machine the closing takes seconds: the wait is long, the
     * count exact. */
    for (double until = silk_now() + 15; sockets_open() > sockets_before + 8 && silk_now() < until;)
        spin(0.01);
    CHECK(silk_track_live(SILK_RES_CURL_EASY) == 0 && silk_track_live(SILK_RES_TRANSFER) == 0 &&
          silk_track_live(SILK_RES_BUFFER) == 0 && sockets_open() <= sockets_before + 8,
          "after timeouts: easy %ld transfers %ld buffers %ld sockets %ld",
          silk_track_live(SILK_RES_CURL_EASY), silk_track_live(SILK_RES_TRANSFER),
          silk_track_live(SILK_RES_BUFFER), sockets_open());
}

static void test_shutdown(void)
{
    enum { N = 50 };
    static outcome os[N];
    long fds_before = socket_fds();
    silk_fetch_req r;
    silk_fetch_req_init(&r);
    r.url = U("/sleep?ms=5000");
    for (int i = 0; i < N; i++)
        silk_fetch_start(F, &r, on_count, &os[i]);
    r.url = "gopher://x/";                       /* posted, not yet delivered */
    silk_fetch_start(F, &r, on_count, &os[0]);
    spin(0.2);
    silk_fetch_free(F);
    int cancelled = 0;
    for (int i = 0; i < N; i++)
        cancelled += os[i].kind == SILK_FETCH_CANCELLED;
    CHECK(cancelled == N, "%d cancelled by shutdown", cancelled);
    /* every socket is closed, those in libcurl's connection cache included */
    CHECK(socket_fds() < fds_before || socket_fds() == 0, "socket fds after shutdown: %ld (before %ld)",
          socket_fds(), fds_before);
    F = NULL;
}

/* block_private's address classes, without traffic (tests/spec/security_spec
 * checks the guard on live loopback connections and redirects). */
static int priv(const char *ip)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1)
        return silk_fetch_addr_private((const struct sockaddr *)&a4);
    if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1)
        return silk_fetch_addr_private((const struct sockaddr *)&a6);
    return -1;
}

static void test_addr_private(void)
{
    static const char *refused[] = {
        "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
        "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "100.127.255.255", "224.0.0.1", "239.255.255.250", "255.255.255.255",
        "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1",
        "::10.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b::192.168.0.1",
    };
    static const char *allowed[] = {
        "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "192.167.255.255", "192.169.0.1",
        "100.63.255.255", "100.128.0.1", "169.253.0.1", "11.0.0.1", "126.255.255.255",
        "192.0.2.1", "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8", "fbff::1", "fe7f::1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK(priv(refused[i]) == 1, "%s should be refused by block_private", refused[i]);
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        CHECK(priv(allowed[i]) == 0, "%s should be allowed by block_private", allowed[i]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    loop = ev_default_loop(0);
    start_server();
    silk_fetch_hooks hooks = {batch_begin, batch_end, NULL};
    F = silk_fetch_new(loop, &hooks, 0);           /* max_fds 0: raise to the hard limit */
    if (!F) {
        fprintf(stderr, "test_fetch: no fetch state\n");
        return 1;
    }
    test_addr_private();
    test_basic();
    test_redirects();
    test_faults();
    test_retries();
    test_per_host_limit();
    test_host_key();
    test_many_hosts();
    test_cancel_and_timeout_storm();
    test_shutdown();
    /* completions off the sockets came in batches, each closed, none nested */
    CHECK(batches_begun > 0 && batches_begun == batches_ended && !in_batch && !batch_nested,
          "batches begun %ld, ended %ld", batches_begun, batches_ended);

    /* the loop closes with nothing open */
    for (int k = 0; k < SILK_RES_COUNT_; k++)
        CHECK(silk_track_live(k) == 0, "%ld %s still live", silk_track_live(k), silk_track_name(k));
    stop_server();
    ev_loop_destroy(loop);
    return check_done("test_fetch");
}
