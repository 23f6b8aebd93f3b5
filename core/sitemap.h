/*
 * sitemap.h -- sitemap parser (sitemaps.org protocol 0.9) on expat.
 *
 * Who calls it: lapi_sitemap.c (silk.core.sitemap), for the crawl's
 * sitemap_urls= and robots.txt Sitemap: lines. Pure C, no I/O, no Lua;
 * thread-safe (no shared state), so it may run on a worker thread.
 *
 * What it reads: a <urlset> (pages) or a <sitemapindex> (more sitemaps),
 * namespace prefixes ignored; per <url>/<sitemap>: <loc> (required: entries
 * without one are skipped), <lastmod>, <changefreq>, <priority>. Text is
 * whitespace-trimmed; entities decoded by expat. Input that starts with the
 * gzip magic (1f 8b) is inflated on the fly (zlib; concatenated members too).
 *
 * Limits (the protocol's): at most max_bytes of XML after decompression
 * (50 MB) -- more is an error (SILK_SITEMAP_ETOOLARGE); at most max_urls
 * entries (50 000) -- parsing stops there and the result says truncated;
 * a <loc> longer than max_loc bytes (8 KiB) is skipped and counted.
 * DTD entity declarations are refused (no entity-expansion bombs), external
 * entities are never fetched. Any byte sequence gives a result or an error
 * code with a message; none crashes (fuzzed: tests/fuzz/fuzz_sitemap.c).
 */
#ifndef SILK_SITEMAP_H
#define SILK_SITEMAP_H

#include <stddef.h>

enum {
    SILK_SITEMAP_OK = 0,
    SILK_SITEMAP_ENOMEM = -1,
    SILK_SITEMAP_ENOTXML = -2,     /* not well-formed XML (expat's message, line, column) */
    SILK_SITEMAP_ENOTSITEMAP = -3, /* XML, but the root is not urlset/sitemapindex */
    SILK_SITEMAP_ETOOLARGE = -4,   /* more than max_bytes (after decompression) */
    SILK_SITEMAP_EGZIP = -5,       /* gzip magic, but a corrupt or cut stream */
};

typedef enum silk_sitemap_kind {
    SILK_SITEMAP_URLSET = 1,
    SILK_SITEMAP_INDEX = 2,
} silk_sitemap_kind;

typedef struct silk_sitemap_entry {
    char *loc;        /* never NULL */
    char *lastmod;    /* NULL when absent (as written: W3C datetime, unchecked) */
    char *changefreq; /* NULL when absent */
    double priority;  /* 0..1 as written, or -1 when absent or not a number */
} silk_sitemap_entry;

typedef struct silk_sitemap {
    silk_sitemap_kind kind;
    silk_sitemap_entry *entries; /* in document order; pages or sitemaps per kind */
    size_t n;
    int truncated;               /* stopped at max_urls */
    size_t skipped;              /* entries without <loc>, or with one too long */
} silk_sitemap;

typedef struct silk_sitemap_limits {
    size_t max_bytes; /* default 50 * 1000 * 1000 */
    size_t max_urls;  /* default 50 000 */
    size_t max_loc;   /* default 8192 */
} silk_sitemap_limits;

#define SILK_SITEMAP_MAX_BYTES (50u * 1000u * 1000u)
#define SILK_SITEMAP_MAX_URLS 50000u
#define SILK_SITEMAP_MAX_LOC 8192u

/* Parses len bytes (XML or gzip'd XML). lim may be NULL (defaults; a zero
 * field also means its default). On success returns 0 and *out, which the
 * caller frees with silk_sitemap_free. On failure returns a SILK_SITEMAP_E*
 * code, *out NULL, and a message in err (errlen bytes, always terminated
 * when errlen > 0); nothing leaks. */
int silk_sitemap_parse(const char *data, size_t len, const silk_sitemap_limits *lim,
                       silk_sitemap **out, char *err, size_t errlen);

void silk_sitemap_free(silk_sitemap *sm);

#endif
