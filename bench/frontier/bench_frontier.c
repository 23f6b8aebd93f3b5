/*
 * bench_frontier.c -- frontier cost per URL: bytes, ns per push / pop / done,
 * at 1 M URLs on 1 000 hosts; and the sqlite backend's checkpoint cost.
 *
 * Build (from the repository root, after building silkcore in build-front):
 *   gcc -O2 -I core bench/frontier/bench_frontier.c build-front/libsilkcore.a \
 *       -lcurl -lidn2 -lsqlite3 -lexpat -lz -lm -o /tmp/bench_frontier
 *   /tmp/bench_frontier [N [HOSTS]]        (defaults 1000000 1000)
 *
 * URLs look like crawled ones: "https://host-123.example.com/catalogue/
 * category-45/item-678901.html?page=3" (~70 bytes). Push is measured with
 * the canonical form and host key computed by the frontier (curl_url twice)
 * and with both given by the caller; memory is the frontier's own count
 * (bytes it malloc'd) and the change in heap in use (mallinfo2, which adds
 * malloc's per-block overhead).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "frontier.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void make_url(char *buf, size_t n, long i, int hosts)
{
    snprintf(buf, n, "https://host-%ld.example.com/catalogue/category-%ld/item-%ld.html?page=%ld",
             i % hosts, (i / 7) % 100, i, i % 5);
}

static silk_frontier *open_f(const char *backend, const char *path, int big)
{
    silk_frontier_cfg cfg;
    silk_frontier *f;
    char err[256];
    silk_frontier_cfg_init(&cfg);
    cfg.backend = backend;
    cfg.path = path;
    cfg.name = "bench";
    cfg.max_per_host = big ? 1000000 : 4;
    cfg.checkpoint_ops = 10000;
    cfg.checkpoint_ms = 1000;
    if (silk_frontier_open(&cfg, &f, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return f;
}

/* The seen-set's table for n hashes: a power of two, at most 3/4 full
 * (frontier_sched.c), 8 bytes a slot. */
static double seen_bytes(size_t n)
{
    size_t cap = 1024;
    while (n * 4 > cap * 3)
        cap *= 2;
    return (double)cap * 8;
}

static void run_memory(long n, int hosts, int given)
{
    char url[256], host[128];
    size_t h0 = heap_used();
    silk_frontier *f = open_f("memory", NULL, 1);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        make_url(url, sizeof url, i, hosts);
        silk_frontier_req r = {.url = url};
        if (given) { /* the URLs above are already canonical */
            snprintf(host, sizeof host, "https://host-%ld.example.com:443", i % hosts);
            r.canonical = url;
            r.host = host;
        }
        if (silk_frontier_push(f, &r, 0) != SILK_FRONTIER_PUSH_NEW)
            abort();
    }
    double t1 = now_s();
    silk_frontier_stats st;
    silk_frontier_get_stats(f, 0, &st, NULL, 0);
    size_t h1 = heap_used();
    /* duplicates: push the first 10% again */
    long nd = n / 10;
    double td0 = now_s();
    for (long i = 0; i < nd; i++) {
        make_url(url, sizeof url, i, hosts);
        silk_frontier_req r = {.url = url};
        if (given) {
            snprintf(host, sizeof host, "https://host-%ld.example.com:443", i % hosts);
            r.canonical = url;
            r.host = host;
        }
        if (silk_frontier_push(f, &r, 0) != SILK_FRONTIER_PUSH_DUP)
            abort();
    }
    double td1 = now_s();
    /* pop + done, fetch slots never the limit */
    const silk_frontier_req *r;
    long popped = 0;
    double p0 = now_s();
    while (silk_frontier_pop_ready(f, 0, &r) == 1) {
        silk_frontier_done(f, r->id, SILK_FRONTIER_DONE_OK, 0);
        popped++;
    }
    double p1 = now_s();
    if (popped != n)
        abort();
    printf("memory, canonical %s: push %.0f ns/URL, duplicate push %.0f ns, pop+done %.0f ns; "
           "frontier %.1f B/URL (seen-set %.1f B/URL), heap %.1f B/URL\n",
           given ? "given   " : "computed", (t1 - t0) * 1e9 / n, (td1 - td0) * 1e9 / nd,
           (p1 - p0) * 1e9 / n, (double)st.memory / n, seen_bytes(st.seen) / n,
           (double)(h1 - h0) / n);
    silk_frontier_close(f);
}

/* pop and done with max_per_host 4 and a realistic number in flight */
static void run_polite(long n, int hosts)
{
    char url[256];
    silk_frontier *f = open_f("memory", NULL, 0);
    for (long i = 0; i < n; i++) {
        make_url(url, sizeof url, i, hosts);
        silk_frontier_req r = {.url = url};
        silk_frontier_push(f, &r, 0);
    }
    enum { CONC = 256 };
    uint64_t ring[CONC];
    int k = 0, nr = 0;
    long done = 0;
    const silk_frontier_req *r;
    double t0 = now_s();
    while (done < n) {
        while (nr < CONC && silk_frontier_pop_ready(f, 0, &r) == 1)
            ring[(k + nr++) % CONC] = r->id;
        silk_frontier_done(f, ring[k], SILK_FRONTIER_DONE_OK, 0);
        k = (k + 1) % CONC;
        nr--;
        done++;
    }
    double t1 = now_s();
    printf("memory, max_per_host 4, 256 in flight: pop+done %.0f ns/URL\n", (t1 - t0) * 1e9 / n);
    silk_frontier_close(f);
}

static void run_sqlite(long n, int hosts)
{
    char dir[] = "/tmp/silk-bench-frontier-XXXXXX", url[256], cmd[128];
    if (!mkdtemp(dir))
        abort();
    silk_frontier *f = open_f("sqlite", dir, 1);
    silk_frontier_stats st;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        make_url(url, sizeof url, i, hosts);
        silk_frontier_req r = {.url = url, .meta = "{\"depth\":1}", .meta_len = 11};
        silk_frontier_push(f, &r, 0);
        if (silk_frontier_checkpoint(f, now_s(), 0) < 0)
            abort();
    }
    silk_frontier_checkpoint(f, now_s(), 1);
    double t1 = now_s();
    silk_frontier_get_stats(f, 0, &st, NULL, 0);
    printf("sqlite push: %.0f ns/URL incl. checkpoints; %llu checkpoints of <= 10000 changes: "
           "mean %.1f ms, max %.1f ms, %.0f ns per change\n",
           (t1 - t0) * 1e9 / n, (unsigned long long)st.checkpoints,
           st.checkpoint_total_ms / (double)st.checkpoints, st.checkpoint_max_ms,
           st.checkpoint_total_ms * 1e6 / (2.0 * n));
    const silk_frontier_req *r;
    double p0 = now_s();
    long popped = 0;
    while (silk_frontier_pop_ready(f, 0, &r) == 1 && popped < n / 2) {
        silk_frontier_done(f, r->id, SILK_FRONTIER_DONE_OK, 0);
        popped++;
        if (silk_frontier_checkpoint(f, now_s(), 0) < 0)
            abort();
    }
    double p1 = now_s();
    printf("sqlite pop+done: %.0f ns/URL incl. checkpoints\n", (p1 - p0) * 1e9 / popped);
    double c0 = now_s();
    silk_frontier_close(f);
    double c1 = now_s();
    double o0 = now_s();
    f = open_f("sqlite", dir, 1);
    double o1 = now_s();
    silk_frontier_get_stats(f, 0, &st, NULL, 0);
    snprintf(cmd, sizeof cmd, "du -k %s/frontier.sqlite", dir);
    printf("sqlite close %.0f ms; reopen with %zu pending + %zu seen: %.0f ms; file: ", (c1 - c0) * 1e3,
           st.queued, st.seen, (o1 - o0) * 1e3);
    fflush(stdout);
    if (system(cmd) != 0)
        fprintf(stderr, "du failed\n");
    silk_frontier_close(f);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "rm failed\n");
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int hosts = argc > 2 ? atoi(argv[2]) : 1000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("frontier bench: %ld URLs on %d hosts\n", n, hosts);
    run_memory(n, hosts, 0);
    run_memory(n, hosts, 1);
    run_polite(n, hosts);
    run_sqlite(n, hosts);
    curl_global_cleanup();
    return 0;
}
