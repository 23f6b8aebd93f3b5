/*
 * test_robots.c -- robots.c against RFC 9309's examples and edge cases.
 *
 * A table of (robots.txt, user agent, URL or path, expected verdict) rows,
 * then crawl-delay and sitemap checks, the 500 KiB limit, binary garbage,
 * and a timing line for one match (printed, never asserted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "robots.h"

/* RFC 9309 section 5.1 */
static const char rfc_simple[] =
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

/* RFC 9309 section 5.2 */
static const char rfc_longest[] =
    "User-Agent: foobot\n"
    "Allow: /example/page/\n"
    "Disallow: /example/page/disallowed.gif\n";

/* RFC 9309 section 2.2.3 */
static const char rfc_special[] =
    "User-agent: *\n"
    "# This is a comment.\n"
    "allow: /this/*/exactly   \n"
    "disallow: /this/path/exactly$\n"
    "disallow: /this/\n";

static const char ties[] =
    "user-agent: *\n"
    "disallow: /a\n"
    "allow: /a\n"
    "disallow: /page\n"
    "allow: /pag*\n"   /* same length: allow wins */
    "disallow: /x$\n"
    "allow: /x\n";     /* '$' counts: /x$ is longer */

static const char pct[] =
    "User-agent: *\n"
    "Disallow: /foo/bar/\xe3\x83\x84\n"
    "Disallow: /a%2fb\n"
    "Disallow: /%62%61%7A\n"
    "Disallow: /q?x=%7E\n"
    "Disallow: /sp ace\n";

static const char merge[] =
    "User-agent: FooBot/2.1\n"
    "Disallow: /one\n"
    "\n"
    "User-agent: *\n"
    "Disallow: /\n"
    "\n"
    "user-agent: foobot\n"
    "disallow: /two\n"
    "crawl-delay: 3.5\n"
    "Sitemap: https://x.com/s1.xml\n"
    "\n"
    "User-agent: foobot-news\n"
    "Disallow: /three\n";

static const char bom_crlf[] = "\xEF\xBB\xBFUser-agent: *\r\nDisallow: /crlf\r\nAllow: /crlf/ok\r\n";
static const char cr_only[] = "User-agent: *\rDisallow: /cr\rSitemap: http://x.com/cr.xml";
static const char garbage[] =
    "<html><body>Not a robots file</body></html>\n"
    "Disallow: /before-any-agent\n"
    "\x00\x01\xff\xfe binary\n"
    "User-agent: *\n"
    "Foo: bar\n"
    "this line is garbage\n"
    "Disallow /nocolon\n"
    "Disallow: /x # a comment\n"
    "Crawl-delay: soon\n"
    "Crawl-delay: 2\n"
    "DISALLOW: /upper\n"
    "Disallow: relative\n"
    "Allow: \n"
    "Disallow: /*/deep/**/x$\n";
static const char empty_group[] = "User-agent: quxbot\n\nUser-agent: *\nDisallow: /\n";
static const char no_star[] = "User-agent: onlybot\nDisallow: /\n";
static const char agents_split[] =
    "User-agent: a\n"
    "Crawl-delay: 1\n"         /* not a rule: a and b stay one group */
    "User-agent: b\n"
    "Disallow: /b\n"
    "User-agent: c\n"
    "Sitemap: http://x.com/s.xml\n" /* sitemap lines do not end a group */
    "User-agent: d\n"
    "Disallow: /cd\n";
/* RFC 9309 2.2.3's table: %2A and %24 in a rule are a literal '*' and '$' */
static const char rfc_escaped[] =
    "User-agent: *\n"
    "Disallow: /path/file-with-a-%2A.html\n"
    "Disallow: /path/foo-%24\n"
    "Disallow: /mid$dle\n"
    "Disallow: /foo/bar?baz=https://foo.bar\n"
    "Disallow: /foo/bar/%E3%83%84\n";

/* Google's published matching examples (developers.google.com, "How Google
 * interprets the robots.txt specification"), one group per pattern. */
static const char g_fish[] = "User-agent: *\nDisallow: /fish\n";
static const char g_fish_star[] = "User-agent: *\nDisallow: /fish*\n";
static const char g_fish_dir[] = "User-agent: *\nDisallow: /fish/\n";
static const char g_php[] = "User-agent: *\nDisallow: /*.php\n";
static const char g_php_end[] = "User-agent: *\nDisallow: /*.php$\n";
static const char g_fish_php[] = "User-agent: *\nDisallow: /fish*.php\n";
static const char g_star[] = "User-agent: *\nDisallow: /*\n";
/* ... and its order-of-precedence table */
static const char g_p[] = "User-agent: *\nAllow: /p\nDisallow: /\n";
static const char g_folder[] = "User-agent: *\nAllow: /folder\nDisallow: /folder\n";
static const char g_htm[] = "User-agent: *\nAllow: /page\nDisallow: /*.htm\n";
static const char g_ph[] = "User-agent: *\nAllow: /page\nDisallow: /*.ph\n";
static const char g_root[] = "User-agent: *\nAllow: /$\nDisallow: /\n";

static const char root_rules[] = "User-agent: *\nDisallow: /\nAllow: /$\n";

struct rcase {
    const char *text;
    size_t len; /* 0: strlen */
    const char *ua;
    const char *url;
    int want; /* 1 allowed, 0 disallowed */
};

#define T(text, ua, url, want) {text, sizeof text - 1, ua, url, want}

static const struct rcase cases[] = {
    /* 5.1: "*" */
    T(rfc_simple, "otherbot", "/example/page.html", 0),
    T(rfc_simple, "otherbot", "/publications/a.html", 1),
    T(rfc_simple, "otherbot", "/publications/a.gif", 1), /* /publications/ is longer */
    T(rfc_simple, "otherbot", "/a.gif", 0),
    T(rfc_simple, "otherbot", "/a.gif?x", 1),
    T(rfc_simple, "otherbot", "/other", 1),
    /* 5.1: foobot */
    T(rfc_simple, "foobot", "/example/page.html", 1),
    T(rfc_simple, "foobot", "/example/allowed.gif", 1),
    T(rfc_simple, "foobot", "/example/other.html", 0),
    T(rfc_simple, "foobot", "/", 0),
    T(rfc_simple, "FooBot", "http://x.com/example/page.html", 1),
    T(rfc_simple, "foobot/1.0 (+https://foo.example)", "/publications/", 0),
    /* 5.1: barbot and bazbot share a group */
    T(rfc_simple, "barbot", "/example/page.html", 0),
    T(rfc_simple, "bazbot", "/example/page.html", 0),
    T(rfc_simple, "barbot", "/example/allowed.gif", 1),
    T(rfc_simple, "bazbot", "/a.gif", 1),
    /* 5.1: quxbot has an empty group: all allowed */
    T(rfc_simple, "quxbot", "/example/page.html", 1),
    T(rfc_simple, "quxbot", "/a.gif", 1),
    /* 5.2: longest match */
    T(rfc_longest, "foobot", "/example/page/", 1),
    T(rfc_longest, "foobot", "/example/page/disallowed.gif", 0),
    T(rfc_longest, "foobot", "/example/page/other.gif", 1),
    /* 2.2.3: special characters */
    T(rfc_special, "bot", "/this/path/exactly", 0), /* the "$" rule is longer (19 > 15) */
    T(rfc_special, "bot", "/this/path/exactly/more", 1),
    T(rfc_special, "bot", "/this/other", 0),
    T(rfc_special, "bot", "/this/x/exactly", 1),
    /* ties: allow wins; '$' counts in length */
    T(ties, "bot", "/a", 1),
    T(ties, "bot", "/page", 1),
    T(ties, "bot", "/pagex", 1),
    T(ties, "bot", "/x", 0),
    T(ties, "bot", "/xy", 1),
    /* percent-encoding */
    T(pct, "bot", "/foo/bar/\xe3\x83\x84", 0),
    T(pct, "bot", "/foo/bar/%E3%83%84", 0),
    T(pct, "bot", "/foo/bar/%e3%83%84", 0),
    T(pct, "bot", "/a%2Fb", 0),
    T(pct, "bot", "/a/b", 1),
    T(pct, "bot", "/baz", 0),
    T(pct, "bot", "/%62az", 0),
    T(pct, "bot", "/q?x=~", 0),
    T(pct, "bot", "/sp%20ace", 0),
    /* user-agent groups: merged, case-insensitive, product tokens, "*" fallback */
    T(merge, "foobot", "/one", 0),
    T(merge, "FOOBOT", "/two", 0),
    T(merge, "foobot", "/three", 1),
    T(merge, "foobot", "/elsewhere", 1),
    T(merge, "foobot-news", "/three", 0),
    T(merge, "foobot-news", "/one", 1),
    T(merge, "otherbot", "/elsewhere", 0),
    T(merge, "", "/elsewhere", 0),
    /* BOM, CRLF, CR */
    T(bom_crlf, "bot", "/crlf", 0),
    T(bom_crlf, "bot", "/crlf/ok", 1),
    T(cr_only, "bot", "/cr", 0),
    T(cr_only, "bot", "/ok", 1),
    /* garbage tolerated, rules before any agent ignored, no-colon lines */
    T(garbage, "bot", "/before-any-agent", 1),
    T(garbage, "bot", "/nocolon", 0),
    T(garbage, "bot", "/x", 0),
    T(garbage, "bot", "/upper", 0),
    T(garbage, "bot", "/relative", 0),
    T(garbage, "bot", "/a/deep/b/x", 0),
    T(garbage, "bot", "/a/deep/b/x/y", 1),
    T(garbage, "bot", "/fine", 1),
    /* an empty group allows; no matching group and no "*" allows */
    /* RFC 9309's grammar allows empty lines between user-agent lines, so
     * quxbot and "*" share one group here (as in Google's parser) */
    T(empty_group, "quxbot", "/", 0),
    T(empty_group, "bot", "/", 0),
    T(no_star, "otherbot", "/", 1),
    T(no_star, "onlybot", "/x", 0),
    /* groups end at a rule line, not at a crawl-delay or sitemap line */
    T(agents_split, "a", "/b", 0),
    T(agents_split, "b", "/b", 0),
    T(agents_split, "c", "/cd", 0),
    T(agents_split, "d", "/cd", 0),
    /* /robots.txt always allowed; URLs reduced to path and query */
    T(root_rules, "bot", "/robots.txt", 1),
    T(root_rules, "bot", "/", 1),
    T(root_rules, "bot", "/index.html", 0),
    T(root_rules, "bot", "http://x.com", 1),
    T(root_rules, "bot", "https://x.com:8080/?q", 0),
    T(root_rules, "bot", "//x.com/", 1),
    T(root_rules, "bot", "https://x.com/#frag", 1),
    T(root_rules, "bot", "", 1),
    T(root_rules, "bot", "?q", 0),
    /* RFC 9309 2.2.3: escaped '*' and '$' are literal, encoded or not in the URL */
    T(rfc_escaped, "bot", "/path/file-with-a-*.html", 0),
    T(rfc_escaped, "bot", "/path/file-with-a-%2A.html", 0),
    T(rfc_escaped, "bot", "/path/file-with-a-%2a.html", 0),
    T(rfc_escaped, "bot", "/path/file-with-a-x.html", 1),
    T(rfc_escaped, "bot", "/path/file-with-a-.html", 1),
    T(rfc_escaped, "bot", "/path/foo-$", 0),
    T(rfc_escaped, "bot", "/path/foo-%24", 0),
    T(rfc_escaped, "bot", "/path/foo-$/more", 0),
    T(rfc_escaped, "bot", "/path/foo-", 1),
    T(rfc_escaped, "bot", "/path/foo-x", 1),
    T(rfc_escaped, "bot", "/mid$dle", 0),
    T(rfc_escaped, "bot", "/mid%24dle", 0),
    T(rfc_escaped, "bot", "/mid", 1),
    T(rfc_escaped, "bot", "/foo/bar?baz=https://foo.bar", 0),
    T(rfc_escaped, "bot", "/foo/bar/\xe3\x83\x84", 0),
    /* Google: /fish */
    T(g_fish, "bot", "/fish", 0),
    T(g_fish, "bot", "/fish.html", 0),
    T(g_fish, "bot", "/fish/salmon.html", 0),
    T(g_fish, "bot", "/fishheads", 0),
    T(g_fish, "bot", "/fishheads/yummy.html", 0),
    T(g_fish, "bot", "/fish.php?id=anything", 0),
    T(g_fish, "bot", "/Fish.asp", 1),
    T(g_fish, "bot", "/catfish", 1),
    T(g_fish, "bot", "/?id=fish", 1),
    T(g_fish, "bot", "/desert/fish", 1),
    /* /fish* is /fish */
    T(g_fish_star, "bot", "/fish", 0),
    T(g_fish_star, "bot", "/fishheads/yummy.html", 0),
    T(g_fish_star, "bot", "/fish.php?id=anything", 0),
    T(g_fish_star, "bot", "/Fish.asp", 1),
    T(g_fish_star, "bot", "/catfish", 1),
    T(g_fish_star, "bot", "/?id=fish", 1),
    /* /fish/ */
    T(g_fish_dir, "bot", "/fish/", 0),
    T(g_fish_dir, "bot", "/fish/?id=anything", 0),
    T(g_fish_dir, "bot", "/fish/salmon.htm", 0),
    T(g_fish_dir, "bot", "/fish", 1),
    T(g_fish_dir, "bot", "/fish.html", 1),
    T(g_fish_dir, "bot", "/animals/fish/", 1),
    T(g_fish_dir, "bot", "/Fish/Salmon.asp", 1),
    /* Google: g_php, ".php" anywhere */
    T(g_php, "bot", "/index.php", 0),
    T(g_php, "bot", "/filename.php", 0),
    T(g_php, "bot", "/folder/filename.php", 0),
    T(g_php, "bot", "/folder/filename.php?parameters", 0),
    T(g_php, "bot", "/folder/any.php.file.html", 0),
    T(g_php, "bot", "/filename.php/", 0),
    T(g_php, "bot", "/", 1),
    T(g_php, "bot", "/windows.PHP", 1),
    /* Google: g_php_end, ".php" at the end */
    T(g_php_end, "bot", "/filename.php", 0),
    T(g_php_end, "bot", "/folder/filename.php", 0),
    T(g_php_end, "bot", "/filename.php?parameters", 1),
    T(g_php_end, "bot", "/filename.php/", 1),
    T(g_php_end, "bot", "/filename.php5", 1),
    T(g_php_end, "bot", "/windows.PHP", 1),
    /* /fish*.php */
    T(g_fish_php, "bot", "/fish.php", 0),
    T(g_fish_php, "bot", "/fishheads/catfish.php?parameters", 0),
    T(g_fish_php, "bot", "/Fish.PHP", 1),
    /* Google: g_star, a lone wildcard, is "/" */
    T(g_star, "bot", "/", 0),
    T(g_star, "bot", "/anything/at/all?x", 0),
    /* precedence: the most specific (longest) rule, allow on a tie */
    T(g_p, "bot", "/page", 1),
    T(g_p, "bot", "/other", 0),
    T(g_folder, "bot", "/folder/page", 1),
    T(g_htm, "bot", "/page.htm", 0),
    T(g_ph, "bot", "/page.php5", 1),
    T(g_root, "bot", "/", 1),
    T(g_root, "bot", "/page.htm", 0),
    /* no rules at all */
    {"", 0, "bot", "/anything", 1},
};



static struct silk_robots *parse(const char *text, size_t len)
{
    struct silk_robots *r = NULL;
    int rc = silk_robots_parse(text, len, &r);
    CHECK(rc == 0 && r, "parse rc %d", rc);
    return r;
}

static int allowed(const struct silk_robots *r, const char *ua, const char *url)
{
    return silk_robots_allowed(r, ua, strlen(ua), url, strlen(url));
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rcase *c = &cases[i];
        struct silk_robots *r = parse(c->text, c->len);
        if (!r)
            continue;
        int got = allowed(r, c->ua, c->url);
        CHECK(got == c->want, "case %zu: %s %s: want %s, got %d", i, c->ua, c->url,
              c->want ? "allowed" : "disallowed", got);
        silk_robots_free(r);
    }
}

static void test_delay_and_sitemaps(void)
{
    double d = -1;
    struct silk_robots *r = parse(merge, sizeof merge - 1);
    CHECK(silk_robots_crawl_delay(r, "FooBot", 6, &d) == 1 && d == 3.5, "crawl-delay of merged groups: %g", d);
    CHECK(silk_robots_crawl_delay(r, "other", 5, &d) == 0, "no crawl-delay for *");
    CHECK(silk_robots_sitemap_count(r) == 1 && strcmp(silk_robots_sitemap(r, 0), "https://x.com/s1.xml") == 0,
          "sitemap inside a group is global");
    CHECK(silk_robots_sitemap(r, 1) == NULL, "sitemap out of range");
    silk_robots_free(r);

    r = parse(garbage, sizeof garbage - 1);
    CHECK(silk_robots_crawl_delay(r, "x", 1, &d) == 1 && d == 2, "bad crawl-delay skipped, next one taken: %g", d);
    silk_robots_free(r);

    r = parse(agents_split, sizeof agents_split - 1);
    CHECK(silk_robots_crawl_delay(r, "a", 1, &d) == 1 && d == 1, "crawl-delay of a");
    d = -1;
    CHECK(silk_robots_crawl_delay(r, "b", 1, &d) == 1 && d == 1,
          "crawl-delay between user-agent lines is the group's, b's too: %g", d);
    CHECK(silk_robots_crawl_delay(r, "c", 1, &d) == 0, "no crawl-delay for c");
    CHECK(silk_robots_sitemap_count(r) == 1, "sitemap between agents");
    silk_robots_free(r);

    r = parse(cr_only, sizeof cr_only - 1);
    CHECK(silk_robots_sitemap_count(r) == 1 && strcmp(silk_robots_sitemap(r, 0), "http://x.com/cr.xml") == 0,
          "sitemap on a last line without newline");
    silk_robots_free(r);
}

static void test_limit(void)
{
    /* 500 KiB of comments, then a rule: the rule is past the limit */
    size_t n = SILK_ROBOTS_MAX_BYTES + 100;
    char *text = malloc(n + 64);
    const char head[] = "User-agent: *\nDisallow: /early\n";
    memcpy(text, head, sizeof head - 1);
    for (size_t i = sizeof head - 1; i < n; i++)
        text[i] = (i % 64 == 63) ? '\n' : '#';
    size_t len = n;
    len += (size_t)sprintf(text + len, "\nDisallow: /late\n");
    struct silk_robots *r = parse(text, len);
    CHECK(allowed(r, "bot", "/early") == 0, "rule before the limit applies");
    CHECK(allowed(r, "bot", "/late") == 1, "rule past the limit is ignored");
    silk_robots_free(r);

    /* a line cut by the limit is dropped, not read as a shorter pattern */
    size_t cut = SILK_ROBOTS_MAX_BYTES - 5;
    memset(text, '\n', n);
    memcpy(text, head, sizeof head - 1);
    memcpy(text + cut, "Disallow: /cutoff\n", 18);
    r = parse(text, n);
    CHECK(allowed(r, "bot", "/cut") == 1, "cut line dropped");
    silk_robots_free(r);

    /* a long pattern is cut to SILK_ROBOTS_MAX_PATTERN and matches more */
    char *pat = malloc(SILK_ROBOTS_MAX_PATTERN * 2 + 64);
    len = (size_t)sprintf(pat, "User-agent: *\nDisallow: /");
    memset(pat + len, 'a', SILK_ROBOTS_MAX_PATTERN * 2);
    len += SILK_ROBOTS_MAX_PATTERN * 2;
    memcpy(pat + len, "$\n", 2);
    r = parse(pat, len + 2);
    pat[len] = '\0';
    CHECK(allowed(r, "bot", pat + 24) == 0, "long pattern: itself");
    CHECK(allowed(r, "bot", "/aaa") == 1, "long pattern: short path");
    silk_robots_free(r);
    free(pat);
    free(text);
}

static void test_garbage(void)
{
    /* random bytes never crash and leave a usable object */
    unsigned s = 12345;
    char buf[4096];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 20);
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            buf[i] = (char)(s >> 16);
            if ((s >> 8) % 13 == 0)
                buf[i] = "\n:*$/#%"[(s >> 4) % 7];
        }
        struct silk_robots *r = parse(buf, n);
        if (r) {
            int a = allowed(r, "bot", "/x");
            CHECK(a == 0 || a == 1, "verdict on garbage");
            silk_robots_free(r);
        }
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ns per allowed() over paths, for a robots.txt of text */
static double time_matches(const char *text, size_t len, const char *label)
{
    static const char *paths[] = {
        "/section7/private/open-3.html",
        "/catalogue/page-12.html",
        "/search?q=shoes&sessionid=42",
        "https://example.com/books/a-light-in-the-attic_1000/index.html",
    };
    struct silk_robots *r = parse(text, len);
    int n = getenv("SILK_QUICK") ? 2000 : 400000, sum = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        const char *p = paths[i & 3];
        sum += silk_robots_allowed(r, "silkbot/0.1", 11, p, strlen(p));
    }
    double ns = (now() - t0) / n * 1e9;
    printf("timing: allowed() %.0f ns/match on %s (%zu bytes of heap; %d allowed)\n", ns, label,
           silk_robots_memory(r), sum);
    silk_robots_free(r);
    return ns;
}

static void timing(void)
{
    char text[8192];
    size_t len = 0;
    len += (size_t)sprintf(text + len, "User-agent: googlebot\nDisallow: /nogoogle/\n\nUser-agent: *\n");
    for (int i = 0; i < 50; i++)
        len += (size_t)sprintf(text + len, "Disallow: /section%d/private/\nAllow: /section%d/private/open*.html$\n",
                               i, i);
    len += (size_t)sprintf(text + len, "Disallow: /*?sessionid=\nDisallow: /*.pdf$\nCrawl-delay: 1\n");
    time_matches(text, len, "103 rules");
    time_matches(rfc_simple, sizeof rfc_simple - 1, "RFC 9309 5.1 (9 rules)");
    static const char typical[] =
        "User-agent: *\nDisallow: /admin/\nDisallow: /cart\nDisallow: /checkout\nDisallow: /search\n"
        "Disallow: /*?sort=\nDisallow: /*?sessionid=\nAllow: /search/about\nDisallow: /tmp/\n"
        "Disallow: /private/\nDisallow: /*.pdf$\nDisallow: /login\nDisallow: /account/\n"
        "Sitemap: https://example.com/sitemap.xml\n";
    time_matches(typical, sizeof typical - 1, "typical (12 rules)");
}

int main(void)
{
    test_table();
    test_delay_and_sitemaps();
    test_limit();
    test_garbage();
    timing();
    printf("test_robots: %zu table cases\n", sizeof cases / sizeof cases[0]);
    return check_done("test_robots");
}
