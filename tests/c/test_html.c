/*
 * test_html.c -- documents (html.c): parse limits, the <form> fix-up, text,
 * serialisation, page facts, links, and the parse worker pool on a libev
 * loop. Ends with "nothing left open": no document or job counted live.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <gumbo.h>

#include "check.h"
#include "html.h"
#include "select.h"
#include "track.h"



#define CHECK_STR(got, want) \
    CHECK(!strcmp((got), (want)), "got [%s], want [%s]", (got), (want))

typedef struct out {
    char buf[8192];
    size_t n;
} out;

static void sink(void *ud, const char *s, size_t n)
{
    out *o = ud;
    if (o->n + n >= sizeof o->buf)
        n = sizeof o->buf - 1 - o->n;
    memcpy(o->buf + o->n, s, n);
    o->n += n;
    o->buf[o->n] = '\0';
}

static silk_html_doc *parse_base(const char *html, const char *base)
{
    silk_html_doc *d = NULL;
    char err[200];
    int rc = silk_html_parse(html, strlen(html), base, NULL, &d, err, sizeof err);
    if (rc) {
        fprintf(stderr, "parse failed: %s\n", err);
        exit(2);
    }
    return d;
}

static silk_html_doc *parse(const char *html)
{
    return parse_base(html, "http://example.com/dir/page.html");
}

static int first_cb(void *ud, const silk_node *el)
{
    *(const silk_node **)ud = el;
    return 1;
}

static const silk_node *one(silk_html_doc *d, const char *css)
{
    silk_sel *sel;
    char err[200];
    if (silk_sel_compile(css, strlen(css), &sel, err, sizeof err)) {
        fprintf(stderr, "bad selector %s: %s\n", css, err);
        exit(2);
    }
    const silk_node *found = NULL;
    silk_sel_select(sel, d, silk_html_root(d), 1, first_cb, &found);
    silk_sel_free(sel);
    return found;
}

static const char *text_of(const silk_node *n, int form)
{
    static out o;
    o.n = 0;
    o.buf[0] = '\0';
    silk_html_text(n, form, sink, &o);
    return o.buf;
}

static const char *html_of(const silk_node *n, int outer)
{
    static out o;
    o.n = 0;
    o.buf[0] = '\0';
    silk_html_serialize(n, outer, sink, &o);
    return o.buf;
}

/* gumbo 0.10.1 puts the text before </form> after the form. */
static void test_form_text(void)
{
    silk_html_doc *d = parse("<body><form id=f>text</form><p>after</p>");
    const silk_node *f = one(d, "#f");
    CHECK_STR(text_of(f, SILK_TEXT_RAW), "text");
    CHECK_STR(html_of(silk_node_parent(f), 0), "<form id=\"f\">text</form><p>after</p>");
    silk_html_free(d);

    d = parse("<body><div><form id=f>a <input> c</form></div>");
    CHECK_STR(html_of(one(d, "#f"), 1), "<form id=\"f\">a <input> c</form>");
    silk_html_free(d);

    d = parse("<body><form id=f>a<b>x</b>c &amp; d</FORM ><p>z");
    CHECK_STR(html_of(one(d, "#f"), 1), "<form id=\"f\">a<b>x</b>c &amp; d</form>");
    silk_html_free(d);

    /* text that really follows a closed form stays outside */
    d = parse("<body><form id=f></form>outside</form>");
    CHECK_STR(html_of(one(d, "body"), 0), "<form id=\"f\"></form>outside");
    silk_html_free(d);
}

static void test_limits(void)
{
    silk_html_doc *d = NULL;
    char err[200];
    silk_html_limits lim;
    silk_html_limits_default(&lim);
    lim.max_bytes = 10;
    int rc = silk_html_parse("<p>hello world</p>", 18, NULL, &lim, &d, err, sizeof err);
    CHECK(rc == SILK_HTML_ETOOLARGE && !d, "size limit: rc=%d", rc);
    CHECK(strstr(err, "exceeds the limit"), "message: %s", err);

    /* 100k nested divs would take gumbo half a minute: refused up front */
    size_t n = 100000;
    char *deep = malloc(n * 5 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(deep + i * 5, "<div>", 5);
    deep[n * 5] = '\0';
    clock_t t0 = clock();
    rc = silk_html_parse(deep, n * 5, NULL, NULL, &d, err, sizeof err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(rc == SILK_HTML_ETOOLARGE && strstr(err, "nested deeper"), "depth: rc=%d %s", rc, err);
    CHECK(secs < 0.5, "the depth check is cheap: %.3fs", secs);

    /* just under the prescan ceiling, over the tree limit: parsed, then refused */
    silk_html_limits_default(&lim);
    lim.max_depth = 100;
    rc = silk_html_parse(deep, 300 * 5, NULL, &lim, &d, err, sizeof err);
    CHECK(rc == SILK_HTML_ETOOLARGE && strstr(err, "deeper than 100"), "tree depth: %d %s", rc, err);
    /* many siblings are fine: unclosed <p>/<li> do not nest */
    for (size_t i = 0; i < 20000; i++)
        memcpy(deep + i * 4, "<li>", 4);
    deep[20000 * 4] = '\0';
    rc = silk_html_parse(deep, 20000 * 4, NULL, NULL, &d, err, sizeof err);
    CHECK(rc == 0 && d, "unclosed li: rc=%d %s", rc, err);
    silk_html_free(d);
    /* <span> closed by its parent's end tag does not drift the estimate */
    size_t k = 0;
    for (size_t i = 0; i < 10000; i++)
        k += (size_t)sprintf(deep + k, "<div><span>x</div>");
    rc = silk_html_parse(deep, k, NULL, NULL, &d, err, sizeof err);
    CHECK(rc == 0, "span soup: rc=%d %s", rc, err);
    silk_html_free(d);
    free(deep);

    /* the arena ceiling leaves gumbo through longjmp, cleanly */
    silk_html_limits_default(&lim);
    lim.max_arena = 64 << 10;
    char big[40000];
    k = 0;
    while (k + 20 < sizeof big)
        k += (size_t)sprintf(big + k, "<p class=x>a</p>");
    rc = silk_html_parse(big, k, NULL, &lim, &d, err, sizeof err);
    CHECK(rc == SILK_HTML_ETOOLARGE && !d && strstr(err, "memory"), "arena: rc=%d %s", rc, err);
    /* ... and so does running out after gumbo, in the fix-ups and the tag
     * index (an index of 12 000 elements is a chunk of its own): at every
     * ceiling, a document or a clean error, never success without one */
    size_t plen = 12000 * 4;
    char *ps = malloc(plen + 1);
    for (size_t i = 0; i < 12000; i++)
        memcpy(ps + i * 4, "<p>x", 4);
    ps[plen] = '\0';
    int ok = 0, failed = 0;
    for (size_t ceiling = 64 << 10; ceiling < (8u << 20) && !ok; ceiling += 32 << 10) {
        silk_html_limits_default(&lim);
        lim.max_arena = ceiling;
        d = NULL;
        rc = silk_html_parse(ps, plen, NULL, &lim, &d, err, sizeof err);
        if (rc == SILK_HTML_OK) {
            ok = 1;
            size_t np = 0;
            if (d)
                silk_html_tagged(d, GUMBO_TAG_P, &np);
            CHECK(d && np == 12000, "ceiling %zu: a document with %zu <p>", ceiling, np);
            silk_html_free(d);
        } else {
            failed++;
            CHECK(rc == SILK_HTML_ETOOLARGE && !d && strstr(err, "memory"),
                  "ceiling %zu: rc=%d %s", ceiling, rc, err);
        }
    }
    CHECK(ok && failed > 0, "the sweep crosses the ceiling: ok=%d failed=%d", ok, failed);
    free(ps);

    /* invalid UTF-8 and NUL bytes are not a problem */
    rc = silk_html_parse("caf\xe9 \xff\xfe ok\0x", 12, NULL, NULL, &d, err, sizeof err);
    CHECK(rc == 0, "bad utf-8: %d", rc);
    CHECK_STR(text_of(silk_html_root(d), SILK_TEXT_LINE), "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd okx");
    silk_html_free(d);
}

static void test_text(void)
{
    silk_html_doc *d = parse(
        "<body><div id=x>  Hello,\n\t <b>big</b>   world!<script>var s = 1;</script>"
        "<style>p{}</style><!-- no --><p>para</p>tail<br>next &amp; &lt;done&gt;"
        "&nbsp;</div>");
    const silk_node *x = one(d, "#x");
    CHECK_STR(text_of(x, SILK_TEXT_LINE), "Hello, big world! para tail next & <done>\xc2\xa0");
    CHECK_STR(text_of(x, SILK_TEXT_LINES), "Hello, big world!\n\npara\n\ntail\nnext & <done>\xc2\xa0");
    CHECK_STR(text_of(x, SILK_TEXT_RAW),
              "  Hello,\n\t big   world!var s = 1;p{}paratailnext & <done>\xc2\xa0");
    out o = {{0}, 0};
    CHECK(silk_html_title(d, sink, &o) == 0, "no title");
    silk_html_free(d);

    d = parse("<title>  The\n  Title </title><title>second</title>");
    o.n = 0;
    CHECK(silk_html_title(d, sink, &o) == 1, "title found");
    CHECK_STR(o.buf, "The Title");
    silk_html_free(d);

    /* Inline elements and comments add nothing (innerText). */
    d = parse("<p id=a>Hel<b>lo</b> world</p><p id=b><span>$</span><span>268.36</span></p>"
              "<div id=c>x<!-- c -->y</div>");
    CHECK_STR(text_of(one(d, "#a"), SILK_TEXT_LINE), "Hello world");
    CHECK_STR(text_of(one(d, "#b"), SILK_TEXT_LINE), "$268.36");
    CHECK_STR(text_of(one(d, "#c"), SILK_TEXT_LINE), "xy");
    silk_html_free(d);

    /* Cells and rows; the last of each adds nothing, a hidden one is not
     * the last; a trailing <br> stays. */
    d = parse("<table id=t><tr><td>1<td>2<td hidden>h<tr><td>3<tr hidden><td>4</table>"
              "<div id=r>a <br></div>");
    CHECK_STR(text_of(one(d, "#t"), SILK_TEXT_LINES), "1\t2\n3");
    CHECK_STR(text_of(one(d, "#r"), SILK_TEXT_LINES), "a\n");
    CHECK_STR(text_of(one(d, "#r"), SILK_TEXT_LINE), "a");
    silk_html_free(d);

    /* A space at an inline root's end stays where its line goes on; a
     * closed details shows its summary only. */
    d = parse("<p>x<span id=s> a </span>b</p><p><i id=i> a </i></p>"
              "<details id=d><summary>S</summary><b id=h>more</b></details>");
    CHECK_STR(text_of(one(d, "#s"), SILK_TEXT_LINES), " a ");
    CHECK_STR(text_of(one(d, "#i"), SILK_TEXT_LINES), "a");
    CHECK_STR(text_of(one(d, "#d"), SILK_TEXT_LINES), "S");
    CHECK_STR(text_of(one(d, "#h"), SILK_TEXT_LINES), "");
    silk_html_free(d);
}

static void test_serialize(void)
{
    silk_html_doc *d = parse(
        "<!DOCTYPE html><body><p id=a title='x \"q\" &amp; y'>1 &lt; 2 &amp;&nbsp;3<br>"
        "<img src=i.png></p><script>if (a < b && c) {}</script><!--c-->"
        "<svg viewBox='0 0 1 1'><foreignObject></foreignObject></svg>"
        "<template id=t><i>in</i></template>");
    CHECK_STR(html_of(one(d, "#a"), 1),
              "<p id=\"a\" title=\"x &quot;q&quot; &amp; y\">1 &lt; 2 &amp;&nbsp;3<br>"
              "<img src=\"i.png\"></p>");
    CHECK_STR(html_of(one(d, "#a"), 0), "1 &lt; 2 &amp;&nbsp;3<br><img src=\"i.png\">");
    CHECK_STR(html_of(one(d, "script"), 0), "if (a < b && c) {}");
    CHECK_STR(html_of(one(d, "svg"), 1),
              "<svg viewBox=\"0 0 1 1\"><foreignObject></foreignObject></svg>");
    CHECK_STR(html_of(one(d, "#t"), 1), "<template id=\"t\"><i>in</i></template>");
    const char *whole = html_of(silk_html_root(d), 1);
    CHECK(!strncmp(whole, "<!DOCTYPE html><html><head></head><body><p", 42), "document: %s", whole);
    silk_html_free(d);
}

static void test_tree(void)
{
    silk_html_doc *d = parse("<ul id=u><li id=a>1</li> text <li id=b>2</li><!--c--><li id=c>3</ul>");
    const silk_node *u = one(d, "#u"), *a = one(d, "#a"), *b = one(d, "#b"), *c = one(d, "#c");
    CHECK(silk_node_first_child(u) == a, "first child");
    CHECK(silk_node_next(a) == b && silk_node_next(b) == c && !silk_node_next(c), "next");
    CHECK(silk_node_prev(c) == b && silk_node_prev(b) == a && !silk_node_prev(a), "prev");
    CHECK(silk_node_parent(a) == u, "parent");
    CHECK(!silk_node_parent(silk_html_document_element(d)), "<html> has no parent");
    char buf[64];
    CHECK_STR(silk_node_tag(u, buf, sizeof buf), "ul");
    CHECK(silk_node_nattrs(u) == 1, "attrs");
    CHECK(!silk_node_attr(u, "nope") && !strcmp(silk_node_attr(u, "ID"), "u"), "attr lookup");
    silk_html_free(d);

    d = parse("<body><my-Widget id=w></my-widget>");
    CHECK_STR(silk_node_tag(one(d, "#w"), buf, sizeof buf), "my-widget");
    CHECK(one(d, "my-widget") == one(d, "#w"), "custom element by type");
    silk_html_free(d);
}

typedef struct links {
    char buf[4096];
    size_t n;
} links;

static void link_cb(void *ud, const silk_html_link *l)
{
    links *ls = ud;
    ls->n += (size_t)snprintf(ls->buf + ls->n, sizeof ls->buf - ls->n, "%s%s%s",
                              ls->n ? " " : "", l->url, l->nofollow ? "(nf)" : "");
}

static void test_links(void)
{
    silk_html_doc *d = parse(
        "<a href='a.html'>1</a><a href='../up?q=1#frag'>2</a><a href='//other.org/x'>3</a>"
        "<a href='javascript:void(0)'>js</a><a href='mailto:x@y'>m</a><a href='tel:1'>t</a>"
        "<a href='data:text/html,hi'>d</a><a href=' \t/sp ace \n'>sp</a>"
        "<a href='HTTP://Example.COM:80/%7euser'>case</a><a rel='NoFollow ugc' href=/nf>nf</a>"
        "<a>no href</a><area href=/area><a href='#top'>frag</a><a href='?q'>query</a>"
        "<a href='\\back\\slash'>bs</a>"
        "<link rel=stylesheet href=/s.css><img src=/i.png srcset='/a.png 1x, /b.png 2x'>"
        "<iframe src=/f></iframe>");
    links ls = {{0}, 0};
    silk_html_links(d, SILK_LINKS_A, link_cb, &ls);
    CHECK_STR(ls.buf,
              "http://example.com/dir/a.html http://example.com/up?q=1 http://other.org/x "
              "http://example.com/sp%20ace http://example.com/~user http://example.com/nf(nf) "
              "http://example.com/area http://example.com/dir/page.html "
              "http://example.com/dir/page.html?q http://example.com/back/slash");
    ls.n = 0;
    ls.buf[0] = 0;
    silk_html_links(d, SILK_LINKS_LINK | SILK_LINKS_IMG | SILK_LINKS_IFRAME, link_cb, &ls);
    CHECK_STR(ls.buf, "http://example.com/s.css http://example.com/i.png http://example.com/a.png "
                      "http://example.com/b.png http://example.com/f");
    CHECK(silk_html_meta_robots(d) == 0, "no meta robots");
    char buf[256];
    CHECK(!silk_html_canonical(d, buf, sizeof buf), "no canonical");
    silk_html_free(d);

    /* <base href>, meta robots, canonical */
    d = parse("<head><base href='/base/'><base href='/ignored/'>"
              "<meta name=ROBOTS content='NOINDEX, nofollow'>"
              "<link rel='Canonical' href='canon?x#y'></head><a href=rel>r</a>");
    CHECK_STR(silk_html_base(d), "http://example.com/base/");
    ls.n = 0;
    ls.buf[0] = 0;
    silk_html_links(d, 0, link_cb, &ls);
    CHECK_STR(ls.buf, "http://example.com/base/rel(nf)");
    CHECK(silk_html_meta_robots(d) == (SILK_ROBOTS_NOINDEX | SILK_ROBOTS_NOFOLLOW), "meta robots");
    CHECK(silk_html_canonical(d, buf, sizeof buf), "canonical found");
    CHECK_STR(buf, "http://example.com/base/canon?x");
    silk_html_free(d);

    d = parse("<meta name=robots content=none>");
    CHECK(silk_html_meta_robots(d) == 3, "none = noindex,nofollow");
    silk_html_free(d);

    /* no document URL: relative links cannot be resolved and are skipped */
    d = parse_base("<a href=rel>r</a><a href='https://abs.example/'>a</a>", NULL);
    ls.n = 0;
    ls.buf[0] = 0;
    silk_html_links(d, 0, link_cb, &ls);
    CHECK_STR(ls.buf, "https://abs.example/");
    silk_html_free(d);
}

/* --- the pool ------------------------------------------------------------- */

typedef struct pool_test {
    int done, ok, failed;
    silk_html_doc *docs[64];
} pool_test;

static void on_done(silk_html_job *job, void *ud)
{
    pool_test *pt = ud;
    silk_html_doc *d;
    char err[200];
    int rc = silk_html_job_result(job, &d, err, sizeof err);
    silk_html_job_free(job);
    pt->done++;
    if (rc == 0)
        pt->docs[pt->ok++] = d;
    else
        pt->failed++;
}

static void on_never(silk_html_job *job, void *ud)
{
    (void)job;
    *(int *)ud += 1;
}

/* A loop, a pool of two workers on it, and a ~20 KB page of items to parse. */
typedef struct pool_fixture {
    struct ev_loop *loop;
    silk_html_pool *pool;
    char page[20000];
    size_t len;
} pool_fixture;

static void pool_setup(pool_fixture *f)
{
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->pool = silk_html_pool_new(f->loop, 2);
    CHECK(f->pool != NULL, "pool");
    f->len = 0;
    while (f->len + 60 < sizeof f->page)
        f->len += (size_t)sprintf(f->page + f->len, "<div class=item><a href='/p%zu'>x</a> text</div>",
                                  f->len);
}

static void test_pool(void)
{
    static pool_fixture f;
    pool_setup(&f);
    pool_test pt = {0};
    int njobs = 20;
    for (int i = 0; i < njobs; i++)
        CHECK(silk_html_submit(f.pool, f.page, f.len, "http://h/", NULL, on_done, &pt) != NULL, "submit");
    silk_html_limits lim;
    silk_html_limits_default(&lim);
    lim.max_bytes = 100;
    silk_html_submit(f.pool, f.page, f.len, NULL, &lim, on_done, &pt);   /* fails: too large */
    int never = 0;
    /* cancelled jobs never call back, whether queued or already running */
    for (int i = 0; i < 5; i++)
        silk_html_cancel(silk_html_submit(f.pool, f.page, f.len, NULL, NULL, on_never, &never));
    CHECK(silk_track_live(SILK_RES_PARSE_JOB) >= njobs, "jobs counted");
    /* the async watcher alone does not keep the loop alive */
    while (pt.done < njobs + 1)
        ev_run(f.loop, EVRUN_ONCE);
    CHECK(pt.ok == njobs && pt.failed == 1, "ok=%d failed=%d", pt.ok, pt.failed);
    CHECK(silk_track_live(SILK_RES_DOCUMENT) == njobs, "docs counted: %ld",
          silk_track_live(SILK_RES_DOCUMENT));
    CHECK(one(pt.docs[0], "a") != NULL, "parsed on a worker");
    for (int i = 0; i < pt.ok; i++)
        silk_html_free(pt.docs[i]);
    /* jobs still queued at shutdown are freed without calling back */
    for (int i = 0; i < 8; i++)
        silk_html_submit(f.pool, f.page, f.len, NULL, NULL, on_never, &never);
    silk_html_pool_free(f.pool);
    CHECK(never == 0, "no callback after cancel or shutdown");
    CHECK(silk_track_live(SILK_RES_PARSE_JOB) == 0, "jobs released: %ld",
          silk_track_live(SILK_RES_PARSE_JOB));
    ev_loop_destroy(f.loop);
}

/* A borrowed text: its own malloc'd bytes, freed by its release, so that
 * a worker reading it after the release is a use after free (ASan,
 * valgrind). */
static int released;

static void release_page(void *ud)
{
    free(ud);
    released++;
}

static char *page_copy(const pool_fixture *f)
{
    char *p = malloc(f->len);
    memcpy(p, f->page, f->len);
    return p;
}

static void test_pool_borrowed(void)
{
    static pool_fixture f;
    pool_setup(&f);
    pool_test pt = {0};
    released = 0;
    int njobs = 10, never = 0, nsubmitted = 0;
    for (int i = 0; i < njobs; i++, nsubmitted++) {
        char *text = page_copy(&f);
        CHECK(silk_html_submit_borrowed(f.pool, text, f.len, "http://h/", NULL, on_done, &pt,
                                        release_page, text) != NULL, "submit");
    }
    /* cancelled, queued or already running: released once the worker is done with it */
    for (int i = 0; i < 5; i++, nsubmitted++) {
        char *text = page_copy(&f);
        silk_html_cancel(silk_html_submit_borrowed(f.pool, text, f.len, NULL, NULL, on_never, &never,
                                                   release_page, text));
    }
    CHECK(released < nsubmitted, "a job in the pool holds its text");
    while (pt.done < njobs)
        ev_run(f.loop, EVRUN_ONCE);
    CHECK(pt.ok == njobs, "ok=%d", pt.ok);
    CHECK(one(pt.docs[0], "a") != NULL, "parsed from the borrowed text");
    for (int i = 0; i < pt.ok; i++)
        silk_html_free(pt.docs[i]);
    /* still queued or done at shutdown: released by the pool's end */
    for (int i = 0; i < 6; i++, nsubmitted++) {
        char *text = page_copy(&f);
        silk_html_submit_borrowed(f.pool, text, f.len, NULL, NULL, on_never, &never, release_page, text);
    }
    silk_html_pool_free(f.pool);
    CHECK(never == 0, "no callback after cancel or shutdown");
    CHECK(released == nsubmitted, "every text released once: %d of %d", released, nsubmitted);
    CHECK(silk_track_live(SILK_RES_PARSE_JOB) == 0, "jobs released: %ld",
          silk_track_live(SILK_RES_PARSE_JOB));
    ev_loop_destroy(f.loop);
}

int main(void)
{
    test_form_text();
    test_limits();
    test_text();
    test_serialize();
    test_tree();
    test_links();
    test_pool();
    test_pool_borrowed();
    CHECK(silk_track_live(SILK_RES_DOCUMENT) == 0, "documents leaked: %ld",
          silk_track_live(SILK_RES_DOCUMENT));
    return check_done("test_html");
}
