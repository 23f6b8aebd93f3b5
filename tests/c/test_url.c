/*
 * test_url.c -- url.c against a table of WHATWG-style cases.
 *
 * Each row: an operation (join, canonical, canonical with sorted query or
 * kept fragment, host key), a base, an input and either the expected URL or
 * the expected error code. Then: parse() parts, is_http(), idempotence of
 * canonical() over every join result, the plain path against the parser
 * over a generated corpus, and a timing line (printed, never asserted:
 * numbers belong to bench/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "url.h"
#include "url_int.h"

enum op { JOIN, CANON, CANON_SORT, CANON_FRAG, HOSTKEY };

struct ucase {
    enum op op;
    const char *base;
    const char *in;
    const char *want; /* NULL: expect error rc */
    int rc;
};

#define B "http://a.com/b/c/d;p?q"
#define J(base, in, want) {JOIN, base, in, want, 0}
#define JE(base, in, rc) {JOIN, base, in, NULL, rc}
#define C(in, want) {CANON, NULL, in, want, 0}
#define CE(in, rc) {CANON, NULL, in, NULL, rc}

static const struct ucase cases[] = {
    /* RFC 3986 5.4 reference resolution, which WHATWG agrees with for http */
    J(B, "g", "http://a.com/b/c/g"),
    J(B, "./g", "http://a.com/b/c/g"),
    J(B, "g/", "http://a.com/b/c/g/"),
    J(B, "/g", "http://a.com/g"),
    J(B, "//g", "http://g/"),
    J(B, "?y", "http://a.com/b/c/d;p?y"),
    J(B, "g?y", "http://a.com/b/c/g?y"),
    J(B, "#s", "http://a.com/b/c/d;p?q#s"),
    J(B, "g#s", "http://a.com/b/c/g#s"),
    J(B, "g?y#s", "http://a.com/b/c/g?y#s"),
    J(B, ";x", "http://a.com/b/c/;x"),
    J(B, "g;x", "http://a.com/b/c/g;x"),
    J(B, "", "http://a.com/b/c/d;p?q"),
    J(B, ".", "http://a.com/b/c/"),
    J(B, "./", "http://a.com/b/c/"),
    J(B, "..", "http://a.com/b/"),
    J(B, "../", "http://a.com/b/"),
    J(B, "../g", "http://a.com/b/g"),
    J(B, "../..", "http://a.com/"),
    J(B, "../../g", "http://a.com/g"),
    J(B, "../../../g", "http://a.com/g"),
    J(B, "../../../../g", "http://a.com/g"),
    J(B, "/./g", "http://a.com/g"),
    J(B, "/../g", "http://a.com/g"),
    J(B, "g.", "http://a.com/b/c/g."),
    J(B, ".g", "http://a.com/b/c/.g"),
    J(B, "g..", "http://a.com/b/c/g.."),
    J(B, "..g", "http://a.com/b/c/..g"),
    J(B, "./../g", "http://a.com/b/g"),
    J(B, "./g/.", "http://a.com/b/c/g/"),
    J(B, "g/./h", "http://a.com/b/c/g/h"),
    J(B, "g/../h", "http://a.com/b/c/h"),
    J(B, "g;x=1/./y", "http://a.com/b/c/g;x=1/y"),
    J(B, "g;x=1/../y", "http://a.com/b/c/y"),
    J(B, "g?y/./x", "http://a.com/b/c/g?y/./x"),
    J(B, "g#s/../x", "http://a.com/b/c/g#s/../x"),
    /* issue 14: where libcurl 7.88, which url.c parsed with before, departs
     * from the URL Standard (each fails on the curl-based url.c) */
    J("http://h.test/d/p", ".//x", "http://h.test/d//x"),
    J("http://h.test/d/p", "..//x", "http://h.test//x"),
    J("http://h.test/d/p", "x//../y", "http://h.test/d/x/y"),
    J("http://h.test/d/p", "?", "http://h.test/d/p?"),
    J("http://h.test/d/p", "#", "http://h.test/d/p#"),
    J("http://h.test/d/p", "x?#", "http://h.test/d/x?#"),
    J("http://A.test/d/p?q", "#%AB", "http://a.test/d/p?q#%AB"),
    J("http://h.test/d/p?q", "#%AB", "http://h.test/d/p?q#%AB"),
    J("http://h.test/d/p", "#x\\y", "http://h.test/d/p#x\\y"),
    J(NULL, "http://10.0.0.1./", "http://10.0.0.1/"),
    J(NULL, "http://0x/", "http://0.0.0.0/"),
    J(NULL, "http://0x.0X.0x1/", "http://0.0.0.1/"),
    J(NULL, "http://0x7F.00.1./x", "http://127.0.0.1/x"),
    J(NULL, "http://1.2.3.4../", "http://1.2.3.4../"), /* ends in an empty label: a domain */
    JE(NULL, "http://0x100000000/", SILK_URL_EHOST),
    JE(NULL, "http://1.2.3.09/", SILK_URL_EHOST),
    J(NULL, "http://a@b@c/", "http://a%40b@c/"),
    J(NULL, "http://a:b@c@d:81/", "http://a:b%40c@d:81/"),
    JE(NULL, "http://a@b@/", SILK_URL_EHOST),
    JE(NULL, "http://xn--a.com/", SILK_URL_EHOST),
    JE(NULL, "http://XN--A.com/", SILK_URL_EHOST),
    JE(NULL, "http://xn--abc-.com/", SILK_URL_EHOST),
    J(NULL, "http://XN--ZCA.de/", "http://xn--zca.de/"),
    J(NULL, "http://h.test/a^b", "http://h.test/a%5Eb"),
    J(NULL, "http://[::1.2.3.4]/", "http://[::102:304]/"),
    JE(NULL, "http://[::1.2.3]/", SILK_URL_EHOST),
    /* where curl 7.88 departs from WHATWG (fixed earlier) */
    J("http://a.com/b/c/d;p?q#f", "#s", "http://a.com/b/c/d;p?q#s"),
    J("http://a.com/b/c/d;p?q#f", "", "http://a.com/b/c/d;p?q"),
    J(B, "http:g", "http://a.com/b/c/g"),
    J(B, "http:/g", "http://a.com/g"),
    J("https://a.com/b", "http:g", "http://g/"),
    J(B, "%2e%2e/x", "http://a.com/b/x"),
    J(B, ".%2E/x", "http://a.com/b/x"),
    J(B, "%2e/x", "http://a.com/b/c/x"),
    J(B, "\\\\g\\h", "http://g/h"),
    J(B, "/a\\b?c\\d", "http://a.com/a/b?c\\d"),
    J(B, "///x.com/y", "http://x.com/y"),
    J(B, "1a:b", "http://a.com/b/c/1a:b"),
    J(NULL, "http:\\\\x.com\\a\\b?c\\d#e\\f", "http://x.com/a/b?c\\d#e\\f"),
    J(NULL, "http:x.com/y", "http://x.com/y"),
    J(NULL, "http:////x.com/y", "http://x.com/y"),
    /* whitespace and control characters */
    J(B, "  /x y  ", "http://a.com/x%20y"),
    J(B, "\t\n/a\tb\nc\r\n", "http://a.com/abc"),
    J(B, "\x01/p\x7f", "http://a.com/p%7F"),
    J(B, "/p\x02q", "http://a.com/p%02q"),
    J(NULL, " \f http://x.com/ \x1f", "http://x.com/"),
    J(NULL, "http://x.com/a?b c#d e", "http://x.com/a?b%20c#d%20e"),
    /* non-ASCII paths, queries, fragments: UTF-8, percent-encoded */
    J(B, "/\xc3\xa4?\xc3\xbc=1#\xc3\xb6", "http://a.com/%C3%A4?%C3%BC=1#%C3%B6"),
    J(NULL, "http://x.com/\xe3\x83\x84", "http://x.com/%E3%83%84"),
    J(NULL, "http://x.com/%c3%a4", "http://x.com/%c3%a4"),
    /* percent-encode sets */
    J(NULL, "http://x.com/{}\"<>`|", "http://x.com/%7B%7D%22%3C%3E%60|"),
    J(NULL, "http://x.com/?'\"<>`", "http://x.com/?%27%22%3C%3E`"),
    J(NULL, "http://x.com/a%zz", "http://x.com/a%zz"),
    J(NULL, "http://u:p:q@x.com/", "http://u:p%3Aq@x.com/"),
    /* hosts */
    J(NULL, "http://Example.COM/A", "http://example.com/A"),
    J(NULL, "HTTP://EXAMPLE.com", "http://example.com/"),
    J(NULL, "http://%41.com/", "http://a.com/"),
    J(NULL, "http://x.com./", "http://x.com./"),
    J(NULL, "http://b\xc3\xbc" "cher.de/", "http://xn--bcher-kva.de/"),
    J(NULL, "http://B\xc3\x9c" "CHER.de/x", "http://xn--bcher-kva.de/x"),
    J(NULL, "http://\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c\xef\xbd\x85.com/",
      "http://example.com/"),
    J(NULL, "http://xn--bcher-kva.DE/", "http://xn--bcher-kva.de/"),
    J(NULL, "http://0x7f.1/", "http://127.0.0.1/"),
    J(NULL, "http://127.1/", "http://127.0.0.1/"),
    J(NULL, "http://[2001:DB8:0:0:0:0:0:1]/", "http://[2001:db8::1]/"),
    J(NULL, "http://[::FFFF:1.2.3.4]/", "http://[::ffff:102:304]/"),
    J(NULL, "http://[1:0:0:2:0:0:0:3]:8080/", "http://[1:0:0:2::3]:8080/"),
    J(NULL, "http://[0:0:0:0:0:0:0:0]/", "http://[::]/"),
    J(B, "//[::1]:8080/x", "http://[::1]:8080/x"),
    JE(NULL, "http://[fe80::1%25eth0]/", SILK_URL_EHOST),
    JE(NULL, "http://999.1.1.1/", SILK_URL_EHOST),
    J(NULL, "http://1.2.3.4../", "http://1.2.3.4../"), /* ends in an empty label: a domain */
    JE(NULL, "http://a.1/", SILK_URL_EHOST),
    JE(NULL, "http://exa mple.com/", SILK_URL_EHOST),
    JE(NULL, "http://", SILK_URL_EHOST),
    JE(NULL, "http:///", SILK_URL_EHOST),
    JE(NULL, "http://x<y.com/", SILK_URL_EHOST),
    JE(NULL, "http://%25%25e0/", SILK_URL_EHOST), /* found by fuzz_url: curl decodes to "%%e0" */
    JE(NULL, "http://a%7Cb/", SILK_URL_EHOST),
    /* ports */
    J(NULL, "http://x.com:80/", "http://x.com/"),
    J(NULL, "http://x.com:0080/", "http://x.com/"),
    J(NULL, "https://x.com:443/a", "https://x.com/a"),
    J(NULL, "https://x.com:80/a", "https://x.com:80/a"),
    J(NULL, "http://x.com:/", "http://x.com/"),
    JE(NULL, "http://x.com:65536/", SILK_URL_EPORT),
    JE(NULL, "http://x.com:8a/", SILK_URL_EPORT),
    /* userinfo, paths */
    J(NULL, "http://u:p@x.com/", "http://u:p@x.com/"),
    J(NULL, "http://@x.com/", "http://x.com/"),
    J(NULL, "http://x.com", "http://x.com/"),
    J(NULL, "http://x.com/a/./b/../c/.", "http://x.com/a/c/"),
    J(NULL, "http://x.com/a/..", "http://x.com/"),
    J(NULL, "http://x.com/a//../b", "http://x.com/a/b"),
    /* schemes and bases */
    J(B, "https://x.com/", "https://x.com/"),
    JE(B, "mailto:x@y.com", SILK_URL_ESCHEME),
    JE(B, "javascript:alert(1)", SILK_URL_ESCHEME),
    JE(B, "data:text/html,x", SILK_URL_ESCHEME),
    JE(B, "ftp://x.com/", SILK_URL_ESCHEME),
    JE(B, "a:b", SILK_URL_ESCHEME),
    JE(NULL, "/x", SILK_URL_ENOBASE),
    JE("not a url", "x", SILK_URL_ENOBASE),
    JE("mailto:x@y", "y", SILK_URL_ENOBASE),
    /* canonical */
    C("http://x.com/%7euser/%41%2f", "http://x.com/~user/A%2F"),
    C("http://x.com/%c3%a4", "http://x.com/%C3%A4"),
    C("HTTP://X.COM:80/a/../b/./c#frag", "http://x.com/b/c"),
    C("http://x.com/a?b=%7e%2b&c=%2a", "http://x.com/a?b=~%2B&c=%2A"),
    C("http://x.com/%2E%2E/a", "http://x.com/a"),
    C("http://x.com/a%2e/", "http://x.com/a./"),
    C("http://x.com/%61/%2E%2e/b", "http://x.com/b"),
    C("http://x.com/?b=2&a=1&a=0&c", "http://x.com/?b=2&a=1&a=0&c"),
    {CANON_SORT, NULL, "http://x.com/?b=2&a=1&a=0&c", "http://x.com/?a=1&a=0&b=2&c", 0},
    {CANON_SORT, NULL, "http://x.com/?z&y=1#f", "http://x.com/?y=1&z", 0},
    {CANON_FRAG, NULL, "http://x.com/a#%7e", "http://x.com/a#~", 0},
    C("https://x.com:443", "https://x.com/"),
    C("http://x.com/a%zz", "http://x.com/a%25zz"),
    C("http://x.com/e%7%41%4f", "http://x.com/e%257AO"), /* found by fuzz_url: was not idempotent */
    C("http://b\xc3\xbc" "cher.de/\xc3\xa4", "http://xn--bcher-kva.de/%C3%A4"),
    C("http://x.com/?", "http://x.com/?"), /* an empty query is kept, as whatwg-url keeps it */
    C("http://x.com/a^b?^", "http://x.com/a%5Eb?^"),
    C("http://x.com/a?q=a+b", "http://x.com/a?q=a+b"),
    C("http://U%73er:p@x.com/", "http://User:p@x.com/"),
    CE("relative/path", SILK_URL_ENOBASE),
    CE("ftp://x.com/", SILK_URL_ESCHEME),
    /* host keys */
    {HOSTKEY, NULL, "http://Example.com/a?b", "http://example.com:80", 0},
    {HOSTKEY, NULL, "https://x.com/", "https://x.com:443", 0},
    {HOSTKEY, NULL, "http://x.com:8080/", "http://x.com:8080", 0},
    {HOSTKEY, NULL, "http://[::1]/", "http://[::1]:80", 0},
    {HOSTKEY, NULL, "http://u:p@x.com/", "http://x.com:80", 0},
    {HOSTKEY, NULL, "ftp://x.com/", NULL, SILK_URL_ESCHEME},
};



static int run_op(const struct ucase *c, char **out)
{
    switch (c->op) {
    case JOIN: return silk_url_join(c->base, c->in, out);
    case CANON: return silk_url_canonical(c->in, 0, out);
    case CANON_SORT: return silk_url_canonical(c->in, SILK_URL_SORT_QUERY, out);
    case CANON_FRAG: return silk_url_canonical(c->in, SILK_URL_KEEP_FRAGMENT, out);
    case HOSTKEY: return silk_url_host_key(c->in, out);
    }
    return -100;
}

static void test_table(void)
{
    static const char *names[] = {"join", "canonical", "canonical/sort", "canonical/frag", "host_key"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ucase *c = &cases[i];
        char *out = NULL;
        int rc = run_op(c, &out);
        if (c->want)
            CHECK(rc == 0 && out && strcmp(out, c->want) == 0, "case %zu %s(%s, %s): want %s, got %s (%s)", i,
                  names[c->op], c->base ? c->base : "nil", c->in, c->want, out ? out : "NULL",
                  silk_url_strerror(rc));
        else
            CHECK(rc == c->rc && !out, "case %zu %s(%s, %s): want error %s, got %s (%s)", i, names[c->op],
                  c->base ? c->base : "nil", c->in, silk_url_strerror(c->rc), out ? out : "NULL",
                  silk_url_strerror(rc));
        /* every join result is a fixed point of join and canonical is idempotent */
        if (c->op == JOIN && out) {
            char *again = NULL, *c1 = NULL, *c2 = NULL;
            int r1 = silk_url_join(NULL, out, &again);
            CHECK(r1 == 0 && strcmp(again, out) == 0, "join not idempotent on %s: %s", out, again ? again : "NULL");
            int r2 = silk_url_canonical(out, 0, &c1);
            int r3 = r2 ? r2 : silk_url_canonical(c1, 0, &c2);
            CHECK(r2 == 0 && r3 == 0 && strcmp(c1, c2) == 0, "canonical not idempotent on %s: %s vs %s", out,
                  c1 ? c1 : "NULL", c2 ? c2 : "NULL");
            free(again);
            free(c1);
            free(c2);
        }
        free(out);
    }
}

static void test_parse(void)
{
    struct silk_url_parts p;
    int rc = silk_url_parse("HTTPS://u:p%40@B\xc3\xbc" "cher.DE:8443/a/../b%7e?x=1#frag", &p);
    CHECK(rc == 0, "parse rc %d", rc);
    if (rc == 0) {
        CHECK(strcmp(p.scheme, "https") == 0, "scheme %s", p.scheme);
        CHECK(strcmp(p.user, "u") == 0, "user %s", p.user);
        CHECK(strcmp(p.password, "p%40") == 0, "password %s", p.password);
        CHECK(strcmp(p.host, "xn--bcher-kva.de") == 0, "host %s", p.host);
        CHECK(p.port == 8443, "port %d", p.port);
        CHECK(strcmp(p.path, "/b%7e") == 0, "path %s", p.path);
        CHECK(p.query && strcmp(p.query, "x=1") == 0, "query %s", p.query);
        CHECK(p.fragment && strcmp(p.fragment, "frag") == 0, "fragment %s", p.fragment);
    }
    silk_url_parts_free(&p);
    rc = silk_url_parse("http://x.com", &p);
    CHECK(rc == 0 && p.port == 80 && strcmp(p.path, "/") == 0 && !p.query && !p.fragment && !p.user,
          "parse of a bare host");
    silk_url_parts_free(&p);
    rc = silk_url_parse("nope", &p);
    CHECK(rc == SILK_URL_ENOBASE && !p.host, "parse of a relative URL fails clean");
    silk_url_parts_free(&p);

    CHECK(silk_url_is_http("https://x.com/") == 1, "is_http https");
    CHECK(silk_url_is_http("  http://x.com/a b ") == 1, "is_http with spaces");
    CHECK(silk_url_is_http("mailto:a@b") == 0, "is_http mailto");
    CHECK(silk_url_is_http("/relative") == 0, "is_http relative");
    CHECK(silk_url_is_http("http://999.999.0.1/") == 0, "is_http bad ipv4");

    char *big = malloc(SILK_URL_MAX + 32), *out = (char *)1;
    strcpy(big, "http://x.com/");
    memset(big + 13, 'a', SILK_URL_MAX);
    big[SILK_URL_MAX + 13] = '\0';
    CHECK(silk_url_join(NULL, big, &out) == SILK_URL_ETOOLONG && !out, "too long");
    big[SILK_URL_MAX - 1] = '\0';
    CHECK(silk_url_canonical(big, 0, &out) == 0 && strlen(out) == SILK_URL_MAX - 1, "at the limit");
    free(out);
    free(big);
    CHECK(strcmp(silk_url_strerror(SILK_URL_ESCHEME), "unsupported scheme (only http and https)") == 0,
          "strerror");
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Every (base, href) of a corpus built from plain pieces and near misses of
 * the plain class, in every mode: where the plain path answers, it answers
 * what the parser does. Near misses must be left to the parser (or agree). */
static void test_plain_vs_parser(void)
{
    static const char *bases[] = {
        "http://127.0.0.1:18731/c09/p2789.html", "http://a.com", "http://a.com/", "https://a.com/b/c",
        "https://a.com:443/b/c/", "http://a.com:80/x?q=1#f", "http://a-b.c0m/x/y/z.html?a=b&c",
        "http://a.com:8080/", "http://10.0.0.255/a/", "http://a.com/a/b/..", "http://a.com/a/./b",
        "http://A.com/x", "http://a.com/%7e/", "http://a..com/", "http://-a.com/", "http://a.com:0/",
        "http://a.com:065/", "http://a.com:65536/", "http://1.2.3/", "http://1.2.3.04/", "http://a.1/",
        "http://256.1.1.1/", "http://a.com:/", "http://a.com?x", "http://a.com#x", "http://u@a.com/",
        "https://xn--bcher-kva.de/p", "http://a.com/b;c/d", "ftp://a.com/", "http://a.com/x?q=1",
        "http://a.com/x/", "http://1.2.3.4:65535/a", "http://a.com/b#./", "http://a.com/b?x=/y#/z",
        "http://a.com//x/y",
        NULL,
    };
    static const char *hrefs[] = {
        "p4909.html", "/c04/p1604.html", "../index.html", "../c13/p2873.html#reviews", "#top", "#",
        "./", ".", "..", "../../../../x", "a/./b/../c", "/", "/a//b", "x?", "x?#", "x?b=2&a=1&b=1",
        "x?q=a+b,c#f=1&g", "x#", "http://a.com/y", "https://b.org", "http://partner.example.org/deals",
        "HTTP://a.com/", "http:x", "//a.com/x", "?q", "", "a b", "a%20b", "a;b", "a:b", "a\\b", "%2e%2e/x",
        "mailto:x@y", "javascript:void(0)", "http://a.com:99999/", "http://a.com:8080", "~u/-._",
        "http://10.1.1.1", "x#a?b", "a/b/", "..//x", "./../x", "/..", "/./", "x/..", "...", "a..b", "-",
        "http://a.com:80/", "https://a.com:443", "http://a.com:8080/../x", "http://0.0.0.0/",
        "http://a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s."
        "t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o."
        "p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.com/",
        "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/",
        NULL,
    };
    static const int modes[] = {0, SILK_URL_MODE_CANON, SILK_URL_MODE_CANON | SILK_URL_MODE_SORT};
    int plain = 0, compared = 0;
    for (const char **b = bases;; b++) {
        for (const char **h = hrefs; *h; h++) {
            for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
                struct silk_url_parts fast, slow;
                int frc = -100;
                if (!silk_url_plain_parts(*b, *h, modes[m], &fast, &frc))
                    continue;
                plain++;
                int src = silk_url_whatwg_parts(*b, *h, modes[m], &slow);
                compared++;
                CHECK(frc == src && same_str(fast.scheme, slow.scheme) && same_str(fast.user, slow.user) &&
                          same_str(fast.password, slow.password) && same_str(fast.host, slow.host) &&
                          fast.port == slow.port && same_str(fast.path, slow.path) &&
                          same_str(fast.query, slow.query) && same_str(fast.fragment, slow.fragment),
                      "plain vs parser, mode %d, base %s, href %s: %d %s %s %d %s ?%s #%s vs %d %s %s %d %s ?%s #%s",
                      modes[m], *b ? *b : "nil", *h, frc, fast.scheme, fast.host, fast.port, fast.path,
                      fast.query ? fast.query : "-", fast.fragment ? fast.fragment : "-", src,
                      slow.scheme ? slow.scheme : "-", slow.host ? slow.host : "-", slow.port,
                      slow.path ? slow.path : "-", slow.query ? slow.query : "-",
                      slow.fragment ? slow.fragment : "-");
                /* the host key read straight from a plain URL is the parser's */
                char key[600], want_key[600];
                if (!src && !*b && silk_url_plain_host_key(*h, key, sizeof key)) {
                    snprintf(want_key, sizeof want_key, "%s://%s:%d", slow.scheme, slow.host, slow.port);
                    CHECK(strcmp(key, want_key) == 0, "plain host key of %s: %s vs %s", *h, key, want_key);
                }
                /* and the string made straight from the input is the one
                 * serialised from the parser's parts */
                for (int frag = 0; frag < 2; frag++) {
                    char *str = NULL, *want = NULL;
                    int strc = -100;
                    CHECK(silk_url_plain_string(*b, *h, modes[m], frag, &str, &strc),
                          "plain_string refused what plain_parts took: %s %s", *b ? *b : "nil", *h);
                    if (!src)
                        silk_url_serialise(&slow, frag, &want);
                    CHECK(strc == src && (src || same_str(str, want)),
                          "plain string, mode %d fragment %d, base %s, href %s: %d %s vs %d %s",
                          modes[m], frag, *b ? *b : "nil", *h, strc, str ? str : "-", src,
                          want ? want : "-");
                    free(str);
                    free(want);
                }
                silk_url_parts_free(&fast);
                silk_url_parts_free(&slow);
            }
        }
        if (!*b)
            break;
    }
    /* the class must cover the bench site's links, or the fast path is dead */
    CHECK(plain > 300, "plain path answered only %d of the corpus", plain);
    printf("plain vs parser: %d answers compared\n", compared);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timing(void)
{
    static const char *urls[] = {
        "http://example.com/catalogue/page-2.html",
        "https://www.example.org/a/b/../c/product?id=123&ref=home#top",
        "http://shop.example.com:80/search?q=red+shoes&page=3",
        "https://Example.com/%7Euser/%E3%83%84/index.html",
    };
    int n = getenv("SILK_QUICK") ? 2000 : 50000;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        char *out;
        if (silk_url_canonical(urls[i & 3], 0, &out) == 0)
            free(out);
    }
    double t1 = now();
    for (int i = 0; i < n; i++) {
        char *out;
        if (silk_url_join(urls[i & 3], "../next/page.html?x=1", &out) == 0)
            free(out);
    }
    double t2 = now();
    printf("timing: canonical %.0f ns/URL, join %.0f ns/URL\n", (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9);
}

int main(void)
{
    test_table();
    test_parse();
    test_plain_vs_parser();
    timing();
    printf("test_url: %zu table cases\n", sizeof cases / sizeof cases[0]);
    return check_done("test_url");
}
