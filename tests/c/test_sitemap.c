/*
 * test_sitemap.c -- sitemap.c: urlset and sitemapindex, fields, namespaces,
 * entities and CDATA, gzip (also concatenated members, cut and corrupt
 * streams), the caps (max_urls truncates, max_bytes refuses, long <loc>
 * skipped), errors on non-XML and non-sitemaps, refused entity
 * declarations, and random bytes that must never crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "sitemap.h"



static silk_sitemap *parse(const char *s, size_t len, const silk_sitemap_limits *lim, int *rc,
                           char *err)
{
    silk_sitemap *sm = NULL;
    *rc = silk_sitemap_parse(s, len, lim, &sm, err, 256);
    return sm;
}

static char *gzip(const char *s, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&zs, len) + 32;
    char *out = malloc(cap);
    zs.next_in = (unsigned char *)s;
    zs.avail_in = (uInt)len;
    zs.next_out = (unsigned char *)out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static const char urlset[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
    "  <url><loc>  https://ex.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-02</lastmod>"
    "<changefreq>daily</changefreq><priority>0.8</priority></url>\n"
    "  <url><loc><![CDATA[https://ex.com/b]]></loc><priority>high</priority></url>\n"
    "  <url><lastmod>2024-01-01</lastmod></url>\n" /* no loc: skipped */
    "  <url><loc>https://ex.com/c</loc><image:image xmlns:image=\"x\"><image:loc>"
    "https://ex.com/img.png</image:loc></image:image></url>\n"
    "</urlset>\n";

static void test_urlset(void)
{
    int rc;
    char err[256];
    silk_sitemap *sm = parse(urlset, strlen(urlset), NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->kind == SILK_SITEMAP_URLSET);
    if (!sm)
        return;
    CHECK(sm->n == 3 && sm->skipped == 1 && !sm->truncated);
    CHECK(strcmp(sm->entries[0].loc, "https://ex.com/a?x=1&y=2") == 0);
    CHECK(strcmp(sm->entries[0].lastmod, "2024-01-02") == 0);
    CHECK(strcmp(sm->entries[0].changefreq, "daily") == 0);
    CHECK(sm->entries[0].priority == 0.8);
    CHECK(strcmp(sm->entries[1].loc, "https://ex.com/b") == 0 && sm->entries[1].priority == -1);
    CHECK(sm->entries[1].lastmod == NULL);
    CHECK(strcmp(sm->entries[2].loc, "https://ex.com/c") == 0); /* image:loc ignored */
    silk_sitemap_free(sm);
}

static void test_index_and_prefix(void)
{
    const char *idx = "<sm:sitemapindex xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
                      "<sm:sitemap><sm:loc>https://ex.com/s1.xml.gz</sm:loc>"
                      "<sm:lastmod>2024-05-05T10:00:00Z</sm:lastmod></sm:sitemap>"
                      "<sm:sitemap><sm:loc>https://ex.com/s2.xml</sm:loc></sm:sitemap>"
                      "<sm:url><sm:loc>https://ex.com/not-here</sm:loc></sm:url>"
                      "</sm:sitemapindex>";
    int rc;
    char err[256];
    silk_sitemap *sm = parse(idx, strlen(idx), NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->kind == SILK_SITEMAP_INDEX && sm->n == 2);
    if (sm) {
        CHECK(strcmp(sm->entries[0].loc, "https://ex.com/s1.xml.gz") == 0);
        CHECK(strcmp(sm->entries[1].loc, "https://ex.com/s2.xml") == 0);
    }
    silk_sitemap_free(sm);
}

static void test_gzip(void)
{
    size_t glen;
    char *gz = gzip(urlset, strlen(urlset), &glen);
    int rc;
    char err[256];
    silk_sitemap *sm = parse(gz, glen, NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 3);
    silk_sitemap_free(sm);
    /* cut short, and corrupt */
    sm = parse(gz, glen / 2, NULL, &rc, err);
    CHECK(rc == SILK_SITEMAP_EGZIP && !sm && strstr(err, "cut short"));
    gz[glen / 2] ^= 0x55;
    gz[glen / 2 + 1] ^= 0x55;
    sm = parse(gz, glen, NULL, &rc, err);
    CHECK(!sm && rc != 0);
    free(gz);
    /* two members: "<urlset>...<url>" + "...</urlset>" */
    const char *a = "<urlset><url><loc>https://x/1</loc></url>", *b = "<url><loc>https://x/2</loc></url></urlset>";
    size_t la, lb;
    char *ga = gzip(a, strlen(a), &la), *gb = gzip(b, strlen(b), &lb);
    char *both = malloc(la + lb);
    memcpy(both, ga, la);
    memcpy(both + la, gb, lb);
    sm = parse(both, la + lb, NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 2);
    silk_sitemap_free(sm);
    free(ga);
    free(gb);
    free(both);
    /* a gzip bomb: 60 MB of spaces inside the root element */
    size_t big = 60u * 1000 * 1000;
    char *x = malloc(big);
    memset(x, ' ', big);
    memcpy(x, "<urlset>", 8);
    size_t bl;
    char *gbig = gzip(x, big, &bl);
    free(x);
    sm = parse(gbig, bl, NULL, &rc, err);
    CHECK(rc == SILK_SITEMAP_ETOOLARGE && !sm);
    printf("gzip bomb: %zu compressed bytes refused: %s\n", bl, err);
    free(gbig);
}

static void test_limits(void)
{
    size_t cap = 64 + 60000 * 48;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "<urlset>");
    for (int i = 0; i < 60000; i++)
        p += sprintf(p, "<url><loc>https://ex.com/%d</loc></url>", i);
    p += sprintf(p, "</urlset>");
    int rc;
    char err[256];
    silk_sitemap *sm = parse(s, (size_t)(p - s), NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 50000 && sm->truncated);
    if (sm)
        CHECK(strcmp(sm->entries[49999].loc, "https://ex.com/49999") == 0);
    silk_sitemap_free(sm);
    silk_sitemap_limits lim = {.max_urls = 10};
    sm = parse(s, (size_t)(p - s), &lim, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 10 && sm->truncated);
    silk_sitemap_free(sm);
    lim = (silk_sitemap_limits){.max_bytes = 1000};
    sm = parse(s, (size_t)(p - s), &lim, &rc, err);
    CHECK(rc == SILK_SITEMAP_ETOOLARGE && !sm);
    free(s);
    /* a <loc> over max_loc is skipped, the rest kept */
    char longloc[20000];
    memset(longloc, 'a', sizeof longloc);
    int n = snprintf(longloc, sizeof longloc, "<urlset><url><loc>https://x/");
    longloc[n] = 'a';
    longloc[n + 9000] = '\0';
    strcat(longloc, "</loc></url><url><loc>https://x/ok</loc></url></urlset>");
    sm = parse(longloc, strlen(longloc), NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 1 && sm->skipped == 1);
    silk_sitemap_free(sm);
}

static void test_errors(void)
{
    int rc;
    char err[256];
    struct { const char *in; int rc; const char *msg; } cases[] = {
        {"", SILK_SITEMAP_ENOTXML, "not XML"},
        {"hello world", SILK_SITEMAP_ENOTXML, "not XML: syntax error at line 1"},
        {"https://ex.com/a\nhttps://ex.com/b\n", SILK_SITEMAP_ENOTXML, "not XML"},
        {"<html><body>no</body></html>", SILK_SITEMAP_ENOTSITEMAP, "<html>"},
        {"<urlset><url><loc>x</loc></url>", SILK_SITEMAP_ENOTXML, "no element found"},
        {"<urlset></sitemapindex>", SILK_SITEMAP_ENOTXML, "mismatched tag"},
        {"<?xml version=\"1.0\"?><!DOCTYPE u [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]>"
         "<urlset><url><loc>&b;</loc></url></urlset>",
         SILK_SITEMAP_ENOTXML, "entity declarations"},
        {"\x1f\x8bgarbage", SILK_SITEMAP_EGZIP, "gzip"},
        {"\x1f", SILK_SITEMAP_ENOTXML, "not XML"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        silk_sitemap *sm = parse(cases[i].in, strlen(cases[i].in), NULL, &rc, err);
        CHECK(sm == NULL && rc == cases[i].rc && strstr(err, cases[i].msg));
        if (rc != cases[i].rc || !strstr(err, cases[i].msg))
            fprintf(stderr, "  case %zu: rc %d, \"%s\"\n", i, rc, err);
    }
    /* a NUL inside: refused, not read past */
    silk_sitemap *sm = parse("<urlset>\0</urlset>", 18, NULL, &rc, err);
    CHECK(!sm && rc == SILK_SITEMAP_ENOTXML);
    /* empty urlset: a result with no entries */
    sm = parse("<urlset/>", 9, NULL, &rc, err);
    CHECK(rc == 0 && sm && sm->n == 0);
    silk_sitemap_free(sm);
}

static void test_random(void)
{
    unsigned seed = 99;
    char buf[512];
    const char *frags[] = {"<urlset>", "</urlset>", "<url>", "</url>", "<loc>", "</loc>", "http://a/",
                           "<sitemapindex>", "<![CDATA[", "]]>", "&amp;", "&#0;", "<x:", "\x1f\x8b",
                           "<!DOCTYPE", "<?xml", "\xff\xfe", "<priority>0.5</priority>"};
    for (int it = 0; it < 20000; it++) {
        size_t n = 0;
        while (n < sizeof buf - 32 && rand_r(&seed) % 12) {
            if (rand_r(&seed) % 2) {
                const char *f = frags[rand_r(&seed) % (sizeof frags / sizeof frags[0])];
                memcpy(buf + n, f, strlen(f));
                n += strlen(f);
            } else {
                buf[n++] = (char)(rand_r(&seed) & 0xff);
            }
        }
        int rc;
        char err[256];
        silk_sitemap *sm = parse(buf, n, NULL, &rc, err);
        CHECK((rc == 0) == (sm != NULL));
        silk_sitemap_free(sm);
    }
}

int main(void)
{
    test_urlset();
    test_index_and_prefix();
    test_gzip();
    test_limits();
    test_errors();
    test_random();
    return check_done("test_sitemap");
}
