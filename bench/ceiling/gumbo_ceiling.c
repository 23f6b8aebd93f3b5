/*
 * gumbo_ceiling.c -- the parse ceiling of the bench: a plain C loop calling
 * gumbo_parse (default options, as a spider would without silk's tuning) on
 * every page of the bench site, with T threads sharing the pages through an
 * atomic counter. The pages are read into memory first; only parsing is timed.
 *
 * Build (bench/run does this):  gcc -O2 -pthread bench/ceiling/gumbo_ceiling.c -lgumbo -o gumbo_ceiling
 * Run:   gumbo_ceiling LIST_FILE THREADS [ROUNDS [MAX_PAGES]]
 *        LIST_FILE: one page file path a line.
 * Prints one JSON object a round:
 *   {"threads":T,"pages":N,"bytes":B,"seconds":S,"pages_per_s":..,"mb_per_s":..}
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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    (void)arg;
    size_t local = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&next_page, 1);
        if (i >= npages)
            break;
        GumboOutput *out = gumbo_parse_with_options(&kGumboDefaultOptions, pages[i].data, pages[i].len);
        local += out->root->v.element.children.length;
        gumbo_destroy_output(&kGumboDefaultOptions, out);
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
        fprintf(stderr, "usage: %s LIST_FILE THREADS [ROUNDS [MAX_PAGES]]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]);
    int rounds = argc > 3 ? atoi(argv[3]) : 1;
    size_t max = argc > 4 ? (size_t)atol(argv[4]) : (size_t)-1;
    if (threads < 1 || threads > 64 || rounds < 1) {
        fprintf(stderr, "gumbo_ceiling: bad THREADS or ROUNDS\n");
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
        double t0 = now();
        for (int t = 0; t < threads; t++)
            pthread_create(&tid[t], NULL, worker, NULL);
        for (int t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        double s = now() - t0;
        printf("{\"threads\":%d,\"pages\":%zu,\"bytes\":%zu,\"seconds\":%.4f,"
               "\"pages_per_s\":%.1f,\"mb_per_s\":%.2f}\n",
               threads, npages, bytes, s, npages / s, bytes / s / 1e6);
        fflush(stdout);
    }
    return 0;
}
