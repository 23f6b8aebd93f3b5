/*
 * gumbo_ceiling.c -- the parse ceiling of the bench: a plain C loop calling
 * gumbo_parse_with_options on every page of the bench site, with T threads
 * sharing the pages through an atomic counter. The pages are read into
 * memory first; only parsing is timed.
 *
 * Variants: "best" (the default) parses as silk's parse threads do and as
 * fast as gumbo goes here: max_errors = 0 and a per-thread arena (a bump
 * allocator reset after each page; no gumbo_destroy_output), linked with
 * the static libgumbo.a when bench/run finds it. "default" is
 * kGumboDefaultOptions with malloc and gumbo_destroy_output, what a
 * program gets without tuning.
 *
 * Build (bench/run does this):
 *   gcc -O2 -pthread bench/ceiling/gumbo_ceiling.c /usr/lib/x86_64-linux-gnu/libgumbo.a -o gumbo_ceiling
 * Run:   gumbo_ceiling LIST_FILE THREADS [ROUNDS [MAX_PAGES [best|default]]]
 *        LIST_FILE: one page file path a line; MAX_PAGES 0: all.
 * Prints one JSON object a round:
 *   {"variant":V,"threads":T,"pages":N,"bytes":B,"seconds":S,"cpu_s":C,
 *    "pages_per_s":..,"mb_per_s":..,"cpu_ms_per_page":..}
 * cpu_s is the process's CPU time over the round (all threads).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <gumbo.h>

typedef struct { char *data; size_t len; } page;

static page *pages;
static size_t npages;
static atomic_size_t next_page;
static volatile size_t sink;
static int best = 1;

/* A bump allocator over a list of chunks, reused page after page. gumbo
 * has no realloc hook and never frees what it still uses, so freeing is a
 * no-op and the whole arena is reset once the page's tree is dropped. */
#define CHUNK (1u << 20)
typedef struct chunk { struct chunk *next; size_t cap; char data[]; } chunk;
typedef struct arena { chunk *first, *cur; size_t used; } arena;

static void *arena_alloc(void *ud, size_t n)
{
    arena *a = ud;
    n = (n + 15) & ~(size_t)15;
    while (!a->cur || a->used + n > a->cur->cap) {
        chunk *next = a->cur ? a->cur->next : a->first;
        if (next && next->cap >= n) {
            a->cur = next;
            a->used = 0;
            continue;
        }
        size_t cap = n > CHUNK ? n : CHUNK;
        chunk *c = malloc(sizeof *c + cap);
        if (!c)
            abort();                    /* gumbo does not check its allocator */
        c->cap = cap;
        /* a chunk too small for n is skipped, not lost: insert after cur */
        c->next = next;
        if (a->cur) a->cur->next = c; else a->first = c;
        a->cur = c;
        a->used = 0;
    }
    void *p = a->cur->data + a->used;
    a->used += n;
    return p;
}

static void arena_free(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

static void arena_reset(arena *a)
{
    a->cur = NULL;
    a->used = 0;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    (void)arg;
    size_t local = 0;
    arena a = {0};
    GumboOptions opt = kGumboDefaultOptions;
    if (best) {
        opt.allocator = arena_alloc;
        opt.deallocator = arena_free;
        opt.userdata = &a;
        opt.max_errors = 0;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&next_page, 1);
        if (i >= npages)
            break;
        GumboOutput *out = gumbo_parse_with_options(&opt, pages[i].data, pages[i].len);
        local += out->root->v.element.children.length;
        if (best)
            arena_reset(&a);
        else
            gumbo_destroy_output(&opt, out);
    }
    while (a.first) {
        chunk *c = a.first;
        a.first = c->next;
        free(c);
    }
    sink += local;
    return NULL;
}

static int load(const char *list, size_t max)
{
    FILE *f = fopen(list, "r");
    if (!f) { perror(list); return -1; }
    size_t cap = 1024;
    pages = malloc(cap * sizeof *pages);
    char path[4096];
    while (npages < max && fgets(path, sizeof path, f)) {
        path[strcspn(path, "\r\n")] = 0;
        if (!*path)
            continue;
        FILE *p = fopen(path, "rb");
        if (!p) { perror(path); fclose(f); return -1; }
        fseek(p, 0, SEEK_END);
        long n = ftell(p);
        fseek(p, 0, SEEK_SET);
        char *buf = malloc((size_t)n + 1);
        if (fread(buf, 1, (size_t)n, p) != (size_t)n) { perror(path); fclose(p); fclose(f); return -1; }
        buf[n] = 0;
        fclose(p);
        if (npages == cap)
            pages = realloc(pages, (cap *= 2) * sizeof *pages);
        pages[npages].data = buf;
        pages[npages].len = (size_t)n;
        npages++;
    }
    fclose(f);
    return npages ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIST_FILE THREADS [ROUNDS [MAX_PAGES [best|default]]]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]);
    int rounds = argc > 3 ? atoi(argv[3]) : 1;
    size_t max = argc > 4 && atol(argv[4]) > 0 ? (size_t)atol(argv[4]) : (size_t)-1;
    if (argc > 5)
        best = strcmp(argv[5], "default") != 0;
    if (threads < 1 || threads > 64 || rounds < 1 || (argc > 5 && strcmp(argv[5], "best") &&
                                                      strcmp(argv[5], "default"))) {
        fprintf(stderr, "gumbo_ceiling: bad THREADS, ROUNDS or variant\n");
        return 2;
    }
    if (load(argv[1], max) != 0)
        return 1;
    size_t bytes = 0;
    for (size_t i = 0; i < npages; i++)
        bytes += pages[i].len;
    pthread_t tid[64];
    for (int r = 0; r < rounds; r++) {
        atomic_store(&next_page, 0);
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int t = 0; t < threads; t++)
            pthread_create(&tid[t], NULL, worker, NULL);
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        double s = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("{\"variant\":\"%s\",\"threads\":%d,\"pages\":%zu,\"bytes\":%zu,\"seconds\":%.4f,"
               "\"cpu_s\":%.4f,\"pages_per_s\":%.1f,\"mb_per_s\":%.2f,\"cpu_ms_per_page\":%.4f}\n",
               best ? "best" : "default", threads, npages, bytes, s, cpu, npages / s, bytes / s / 1e6,
               cpu / npages * 1e3);
        fflush(stdout);
    }
    return 0;
}
