/*
 * bench_parse.c -- parse and select throughput of html.c/select.c against a
 * plain gumbo_parse loop (the ceiling), on generated ~20 KB shop-like pages,
 * plus the worker pool's throughput and the hand-off cost that sets
 * SILK_HTML_INLINE_MAX.
 *
 * Build (from the repository root; links what it measures directly):
 *   gcc -O2 -I core bench/parse/bench_parse.c core/html*.c core/select*.c \
 *       core/url.c core/track.c -lgumbo -lcurl -lidn2 -lev -lpthread \
 *       -o /tmp/bench_parse
 * Run: /tmp/bench_parse [pages] [rounds]
 * Prints one line per measurement; the median of `rounds` runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <gumbo.h>

#include "html.h"
#include "select.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A deterministic shop-like page of about 20 KB. */
static size_t make_page(char *buf, size_t cap, unsigned seed)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Shop page %u</title>"
        "<link rel=canonical href=/p/%u><link rel=stylesheet href=/s.css></head><body>"
        "<header class=top><nav><ul class=menu>", seed, seed);
    for (int i = 0; i < 8; i++)
        n += (size_t)snprintf(buf + n, cap - n, "<li><a href=/c/%d>Category %d</a></li>", i, i);
    n += (size_t)snprintf(buf + n, cap - n, "</ul></nav></header><main id=content><div class=grid>");
    for (unsigned i = 0; n + 700 < cap - 400 && n < 19500; i++) {
        unsigned id = seed * 100 + i;
        n += (size_t)snprintf(buf + n, cap - n,
            "<div class=\"product card\" data-id=%u><a class=thumb href=/item/%u>"
            "<img src=/img/%u.jpg alt=\"Item %u\"></a><h3 class=title><a href=/item/%u>"
            "Product number %u with a longer name</a></h3><p class=desc>A short description of "
            "product %u &amp; its features<br>second line</p><span class=price>%u.%02u &euro;"
            "</span><form action=/cart method=post><input type=hidden name=id value=%u>"
            "<button type=submit>Add</button></form></div>\n",
            id, id, id, id, id, id, id, id % 500, id % 100, id);
    }
    n += (size_t)snprintf(buf + n, cap - n,
        "</div><div class=pager><a rel=prev href=?p=1>prev</a> <a rel=next href=?p=3>next</a>"
        "</div></main><footer><p>&copy; shop</p></footer></body></html>");
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int count_cb(void *ud, const silk_node *el)
{
    (void)el;
    (*(long *)ud)++;
    return 0;
}

typedef struct pool_run {
    int done;
    long bytes;
} pool_run;

static void pool_done(silk_html_job *job, void *ud)
{
    pool_run *r = ud;
    silk_html_doc *d;
    char err[160];
    if (silk_html_job_result(job, &d, err, sizeof err) == 0)
        silk_html_free(d);
    silk_html_job_free(job);
    r->done++;
}

int main(int argc, char **argv)
{
    int npages = argc > 1 ? atoi(argv[1]) : 500;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    char **pages = malloc(sizeof(char *) * (size_t)npages);
    size_t *lens = malloc(sizeof(size_t) * (size_t)npages);
    double total = 0;
    for (int i = 0; i < npages; i++) {
        pages[i] = malloc(24000);
        lens[i] = make_page(pages[i], 24000, (unsigned)i);
        total += (double)lens[i];
    }
    printf("%d pages, %.1f KB average, %.1f MB total, median of %d rounds\n", npages,
           total / npages / 1024, total / 1e6, rounds);

    double t[32];
    /* 1. the ceiling: gumbo with its defaults */
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (int i = 0; i < npages; i++) {
            GumboOutput *o = gumbo_parse_with_options(&kGumboDefaultOptions, pages[i], lens[i]);
            gumbo_destroy_output(&kGumboDefaultOptions, o);
        }
        t[r] = now() - t0;
    }
    double raw = median(t, rounds);
    printf("raw gumbo_parse (defaults):   %6.1f MB/s  %6.0f pages/s\n", total / raw / 1e6,
           npages / raw);

    /* 2. silk_html_parse: arena, max_errors 0, prescan, form fix, base */
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (int i = 0; i < npages; i++) {
            silk_html_doc *d;
            char err[160];
            if (silk_html_parse(pages[i], lens[i], "http://shop.example/p/", NULL, &d, err,
                                sizeof err) == 0)
                silk_html_free(d);
        }
        t[r] = now() - t0;
    }
    double ours = median(t, rounds);
    printf("silk_html_parse:              %6.1f MB/s  %6.0f pages/s  (%.2f x raw)\n",
           total / ours / 1e6, npages / ours, raw / ours);

    /* 3. select: ten typical selectors per page, compiled once (cached) */
    static const char *const sels[] = {
        "div.product", "h3.title > a", "span.price", "a[href^='/item/']", "img[src]",
        ".pager a[rel=next]", "title", "main#content .card:nth-child(odd) .desc",
        "form input[name=id]", "nav ul.menu > li:first-child a",
    };
    int nsel = (int)(sizeof sels / sizeof sels[0]);
    silk_sel_cache *cache = silk_sel_cache_new(64);
    silk_html_doc **docs = malloc(sizeof *docs * (size_t)npages);
    for (int i = 0; i < npages; i++) {
        char err[160];
        silk_html_parse(pages[i], lens[i], NULL, NULL, &docs[i], err, sizeof err);
    }
    long matches = 0;
    for (int r = 0; r < rounds; r++) {
        matches = 0;
        double t0 = now();
        for (int i = 0; i < npages; i++)
            for (int k = 0; k < nsel; k++) {
                int rc;
                char err[160];
                const silk_sel *s = silk_sel_cache_get(cache, sels[k], strlen(sels[k]), &rc, err,
                                                       sizeof err);
                silk_sel_select(s, docs[i], silk_html_root(docs[i]), 0, count_cb, &matches);
            }
        t[r] = now() - t0;
    }
    double sel_t = median(t, rounds);
    printf("select (10 selectors/page):   %6.0f pages/s  %6.0f selects/s  %.3f ms/page "
           "(%ld matches)\n", npages / sel_t, npages * nsel / sel_t, sel_t / npages * 1e3,
           matches);
    for (int i = 0; i < npages; i++)
        silk_html_free(docs[i]);
    free(docs);
    silk_sel_cache_free(cache);

    /* 4. the worker pool: 1 and 2 threads, all pages submitted at once */
    for (int threads = 1; threads <= 2; threads++) {
        for (int r = 0; r < rounds; r++) {
            struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
            silk_html_pool *pool = silk_html_pool_new(loop, threads);
            pool_run pr = {0, 0};
            double t0 = now();
            for (int i = 0; i < npages; i++)
                silk_html_submit(pool, pages[i], lens[i], NULL, NULL, pool_done, &pr);
            while (pr.done < npages)
                ev_run(loop, EVRUN_ONCE);
            t[r] = now() - t0;
            silk_html_pool_free(pool);
            ev_loop_destroy(loop);
        }
        double pt = median(t, rounds);
        printf("pool, %d worker%s:               %6.1f MB/s  %6.0f pages/s\n", threads,
               threads > 1 ? "s" : " ", total / pt / 1e6, npages / pt);
    }

    /* 5. the hand-off: one small page at a time, inline vs worker round trip */
    static const size_t sizes[] = {256, 1024, 4096, 16384};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t len = sizes[si] < lens[0] ? sizes[si] : lens[0];
        int reps = 400;
        double t0 = now();
        for (int i = 0; i < reps; i++) {
            silk_html_doc *d;
            char err[160];
            if (silk_html_parse(pages[0], len, NULL, NULL, &d, err, sizeof err) == 0)
                silk_html_free(d);
        }
        double inl = (now() - t0) / reps;
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        silk_html_pool *pool = silk_html_pool_new(loop, 1);
        t0 = now();
        for (int i = 0; i < reps; i++) {
            pool_run pr = {0, 0};
            silk_html_submit(pool, pages[0], len, NULL, NULL, pool_done, &pr);
            while (!pr.done)
                ev_run(loop, EVRUN_ONCE);
        }
        double rt = (now() - t0) / reps;
        silk_html_pool_free(pool);
        ev_loop_destroy(loop);
        printf("%6zu bytes: inline %7.1f us, worker round trip %7.1f us\n", len, inl * 1e6,
               rt * 1e6);
    }
    for (int i = 0; i < npages; i++)
        free(pages[i]);
    free(pages);
    free(lens);
    return 0;
}
