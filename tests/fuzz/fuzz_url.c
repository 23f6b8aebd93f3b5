/*
 * fuzz_url.c -- libFuzzer target for url.c.
 *
 * Input: "base\nhref" (no newline: href alone). Checks, beyond "no crash,
 * no leak": every join result joins to itself, canonical() is idempotent and
 * accepts every join result, and host_key() agrees with parse(); resolve()
 * gives what join, canonical and host give; where the plain path answers,
 * its string is the one serialised from the parser's parts; and for
 * absolute URLs in the class where libcurl's parser (a second, independent
 * implementation) is known to agree with the URL Standard, url.c's parser
 * gives curl's parts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "url.h"
#include "url_int.h"

static void check(int cond, const char *what, const char *a, const char *b)
{
    if (!cond) {
        fprintf(stderr, "fuzz_url: %s\n  input:  %s\n  output: %s\n", what, a, b ? b : "(null)");
        abort();
    }
}

static void plain_vs_parser(const char *base, const char *href)
{
    static const int modes[] = {0, SILK_URL_MODE_CANON | SILK_URL_MODE_SORT};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        for (int frag = 0; frag < 2; frag++) {
            char *s = NULL;
            int rc = -100;
            if (!silk_url_plain_string(base, href, modes[m], frag, &s, &rc))
                return;                       /* outside the plain class */
            struct silk_url_parts p;
            int crc = silk_url_whatwg_parts(base, href, modes[m], &p);
            check(rc == crc, "plain path and parser disagree on success", href, s);
            char *want = NULL;
            if (!rc && silk_url_serialise(&p, frag, &want) == 0)
                check(strcmp(s, want) == 0, "plain string differs from the parser's parts", s, want);
            free(want);
            silk_url_parts_free(&p);
            free(s);
        }
    }
}

static const char *span(const char *s, const char *set)
{
    return s + strspn(s, set);
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define PCHARS LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&()*+,;=:@"

/* Absolute URLs where libcurl 7.88 and the URL Standard agree: a lowercase
 * name whose last label starts with a letter (no IPv4 reading, no A-label),
 * a port without leading zeros, a path and a non-empty query of characters
 * neither parser encodes or decodes, no empty or dot segment (curl and the
 * Standard treat those differently), no fragment. */
static int curl_comparable(const char *s)
{
    const char *p = s, *label;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0)
        p += 8;
    else
        return 0;
    do {
        label = p + (*p == '.');
        p = span(label, LOWER "0123456789-");
        if (p == label || strncmp(label, "xn--", 4) == 0)
            return 0;
    } while (*p == '.');
    if (!strchr(LOWER, *label))
        return 0;
    if (*p == ':') {
        const char *d = ++p;
        p = span(d, "0123456789");
        if (p == d || p - d > 5 || *d == '0')
            return 0;
    }
    while (*p == '/') {
        const char *seg = ++p;
        p = span(seg, PCHARS);
        size_t n = (size_t)(p - seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    if (*p == '?') {
        const char *q = ++p;
        p = span(q, PCHARS "/?");
        if (p == q)
            return 0;
    }
    return *p == '\0';
}

/* curl's part what, NULL when it has none. */
static char *curl_part(CURLU *h, CURLUPart what, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(h, what, &v, flags) != CURLUE_OK)
        return NULL;
    return v;
}

static void parser_vs_curl(const char *href)
{
    if (!curl_comparable(href))
        return;
    struct silk_url_parts p;
    int rc = silk_url_whatwg_parts(NULL, href, 0, &p);
    CURLU *h = curl_url();
    if (!h) {
        silk_url_parts_free(&p);
        return;
    }
    CURLUcode cc = curl_url_set(h, CURLUPART_URL, href, 0);
    check((rc == 0) == (cc == CURLUE_OK), "parser and curl disagree on success", href,
          silk_url_strerror(rc));
    if (!rc && cc == CURLUE_OK) {
        char *host = curl_part(h, CURLUPART_HOST, 0), *path = curl_part(h, CURLUPART_PATH, 0);
        char *query = curl_part(h, CURLUPART_QUERY, 0);
        char *port = curl_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
        check(host && strcmp(host, p.host) == 0, "host differs from curl's", href, host);
        check(path && strcmp(path, p.path) == 0, "path differs from curl's", href, path);
        check((!query && !p.query) || (query && p.query && strcmp(query, p.query) == 0),
              "query differs from curl's", href, query);
        check(port && atoi(port) == p.port, "port differs from curl's", href, port);
        curl_free(host);
        curl_free(path);
        curl_free(query);
        curl_free(port);
    }
    curl_url_cleanup(h);
    silk_url_parts_free(&p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = strchr(in, '\n');
    const char *base = NULL, *href = in;
    if (nl) {
        *nl = '\0';
        base = in;
        href = nl + 1;
    }
    char *out = NULL, *again = NULL, *c1 = NULL, *c2 = NULL, *key = NULL;
    if (silk_url_join(base, href, &out) == 0) {
        check(silk_url_join(NULL, out, &again) == 0, "join result does not parse", href, out);
        check(strcmp(again, out) == 0, "join not idempotent", out, again);
        check(silk_url_canonical(out, 0, &c1) == 0, "canonical refuses a join result", out, NULL);
        check(silk_url_canonical(c1, 0, &c2) == 0 && strcmp(c1, c2) == 0, "canonical not idempotent", c1, c2);
        free(c2);
        c2 = NULL;
        check(silk_url_canonical(c1, SILK_URL_SORT_QUERY | SILK_URL_KEEP_FRAGMENT, &c2) == 0,
              "canonical with flags refuses a canonical URL", c1, NULL);
        check(silk_url_host_key(out, &key) == 0, "host_key refuses a join result", out, NULL);
        struct silk_url_parts p;
        check(silk_url_parse(out, &p) == 0 && p.path[0] == '/', "parse refuses a join result", out, NULL);
        silk_url_parts_free(&p);
    }
    struct silk_url_resolved r;
    if (silk_url_resolve(base, href, &r) == 0) {
        char *host = NULL;
        check(out && strcmp(r.url, out) == 0, "resolve's URL is not join's", href, r.url);
        check(c1 && strcmp(r.canonical, c1) == 0, "resolve's canonical is not canonical(join)", out,
              r.canonical);
        check(silk_url_host(out, &host) == 0 && strcmp(r.host, host) == 0,
              "resolve's host is not host(join)", out, r.host);
        free(host);
        silk_url_resolved_free(&r);
    } else {
        check(!r.url && !r.canonical && !r.host, "resolve failed and left strings", href, NULL);
    }
    plain_vs_parser(base, href);
    if (!base)
        parser_vs_curl(href);
    free(out);
    free(again);
    free(c1);
    free(c2);
    free(key);
    free(in);
    return 0;
}
