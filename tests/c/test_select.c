/*
 * test_select.c -- the CSS selector engine (select.c) over parsed pages.
 *
 * Each check parses a small page, selects, and compares the matches, named
 * by their id attribute (or tag when there is none) and joined by spaces,
 * with the expected list in document order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "html.h"
#include "select.h"
#include "track.h"



typedef struct names {
    char buf[4096];
    size_t n;
} names;

static int add_name(void *ud, const silk_node *el)
{
    names *nm = ud;
    char tb[64];
    const char *id = silk_node_attr(el, "id");
    const char *s = id ? id : silk_node_tag(el, tb, sizeof tb);
    nm->n += (size_t)snprintf(nm->buf + nm->n, sizeof nm->buf - nm->n, "%s%s",
                              nm->n ? " " : "", s);
    return 0;
}

static silk_html_doc *parse(const char *html)
{
    silk_html_doc *d = NULL;
    char err[200];
    int rc = silk_html_parse(html, strlen(html), "http://example.com/", NULL, &d, err, sizeof err);
    if (rc) {
        fprintf(stderr, "parse failed: %s\n", err);
        exit(2);
    }
    return d;
}

/* Selects css under root and compares with want, walking the tree and
 * again through the document's tag index (doc non-NULL). */
static void expect_at(int line, const silk_html_doc *doc, const silk_node *root, const char *css,
                      const char *want)
{
    silk_sel *sel;
    char err[300];
    checks++;
    if (silk_sel_compile(css, strlen(css), &sel, err, sizeof err)) {
        failures++;
        fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, line, css, err);
        return;
    }
    for (int indexed = 0; indexed < 2; indexed++) {
        names nm = {{0}, 0};
        silk_sel_select(sel, indexed ? doc : NULL, root, 0, add_name, &nm);
        if (strcmp(nm.buf, want)) {
            failures++;
            fprintf(stderr, "%s:%d: select(\"%s\")%s\n   got: [%s]\n  want: [%s]\n", __FILE__,
                    line, css, indexed ? " with the tag index" : "", nm.buf, want);
        }
    }
    silk_sel_free(sel);
}

#define EXPECT(doc, css, want) expect_at(__LINE__, doc, silk_html_root(doc), css, want)

static void expect_error_at(int line, const char *css, const char *fragment)
{
    silk_sel *sel = NULL;
    char err[300] = "";
    checks++;
    int rc = silk_sel_compile(css, strlen(css), &sel, err, sizeof err);
    if (rc != SILK_SEL_ESYNTAX || !strstr(err, fragment)) {
        failures++;
        fprintf(stderr, "%s:%d: compile(\"%s\") rc=%d err=[%s], want error with [%s]\n",
                __FILE__, line, css, rc, err, fragment);
    }
    silk_sel_free(sel);
}

#define EXPECT_ERROR(css, fragment) expect_error_at(__LINE__, css, fragment)

static const char page[] =
    "<!DOCTYPE html><html lang=en><head><title>T</title></head><body>"
    "<div id=d1 class='a b'>"
    "  <p id=p1 class=x>one <a id=a1 href='/x'>link</a></p>"
    "  <p id=p2 title='hello world' data-v='en-US'>two</p>"
    "  <ul id=u1><li id=l1>1<li id=l2 class=odd>2<li id=l3>3<li id=l4>4</ul>"
    "  <span id=s1></span><span id=s2><!-- c --></span><span id=s3> </span>"
    "</div>"
    "<div id=d2 class=B lang=fr-CA><section id=sec><h2 id=h2>h</h2><p id=p3>three</p>"
    "<p id=p4>four</p></section><a id=a2>noh</a><area id=ar1 href=x></div>"
    "<form id=f1><fieldset id=fs1 disabled><legend id=lg><input id=i1></legend>"
    "<input id=i2><button id=b1>b</button></fieldset>"
    "<input id=i3 type=CHECKBOX checked><input id=i4 type=radio><select id=sel1>"
    "<optgroup id=og1 disabled><option id=o1>x</optgroup><option id=o2 selected>y"
    "</select><textarea id=ta disabled></textarea></form>"
    "</body></html>";

static void test_basic(void)
{
    silk_html_doc *d = parse(page);
    EXPECT(d, "p", "p1 p2 p3 p4");
    EXPECT(d, "P", "p1 p2 p3 p4");
    EXPECT(d, "#p2", "p2");
    EXPECT(d, "#P2", "");
    EXPECT(d, ".a.b", "d1");
    EXPECT(d, ".b", "d1");
    EXPECT(d, ".B", "d2");               /* no-quirks: class is case-sensitive */
    EXPECT(d, "div > p", "p1 p2");
    EXPECT(d, "div p", "p1 p2 p3 p4");
    EXPECT(d, "h2 + p", "p3");
    EXPECT(d, "h2 ~ p", "p3 p4");
    EXPECT(d, "p, h2", "p1 p2 h2 p3 p4");   /* document order, no duplicates */
    EXPECT(d, "div#d2 > *", "sec a2 ar1");
    EXPECT(d, "*|p#p1", "p1");
    EXPECT(d, "|p", "");
    EXPECT(d, "body > div:first-child", "d1");
    EXPECT(d, "a /* comment */ ", "a1 a2");
    silk_html_free(d);
}

static void test_attributes(void)
{
    silk_html_doc *d = parse(page);
    EXPECT(d, "[title]", "p2");
    EXPECT(d, "[TITLE]", "p2");
    EXPECT(d, "[title='hello world']", "p2");
    EXPECT(d, "[title=\"hello world\"]", "p2");
    EXPECT(d, "[title~=world]", "p2");
    EXPECT(d, "[title~='hello world']", "");   /* a word with whitespace never matches */
    EXPECT(d, "[title^=hell]", "p2");
    EXPECT(d, "[title$=rld]", "p2");
    EXPECT(d, "[title*='o w']", "p2");
    EXPECT(d, "[title^='']", "");
    EXPECT(d, "[title*='']", "");
    EXPECT(d, "[data-v|=en]", "p2");
    EXPECT(d, "[data-v|=EN]", "");
    EXPECT(d, "[data-v|=EN i]", "p2");
    EXPECT(d, "[title='HELLO WORLD' i]", "p2");
    EXPECT(d, "[title='HELLO WORLD']", "");
    /* type is compared case-insensitively on HTML elements, unless s */
    EXPECT(d, "input[type=checkbox]", "i3");
    EXPECT(d, "input[type=checkbox s]", "");
    EXPECT(d, "input[type=CHECKBOX s]", "i3");
    EXPECT(d, "[id=\\70 1]", "p1");      /* hex escape with its space */
    EXPECT(d, "#\\70 1", "p1");
    EXPECT(d, "[*|title]", "p2");
    silk_html_free(d);
}

static void test_structural(void)
{
    silk_html_doc *d = parse(page);
    EXPECT(d, "li:first-child", "l1");
    EXPECT(d, "li:last-child", "l4");
    EXPECT(d, "li:nth-child(2)", "l2");
    EXPECT(d, "li:nth-child(odd)", "l1 l3");
    EXPECT(d, "li:nth-child(EVEN)", "l2 l4");
    EXPECT(d, "li:nth-child(2n+1)", "l1 l3");
    EXPECT(d, "li:nth-child( 2n + 1 )", "l1 l3");
    EXPECT(d, "li:nth-child(-n+2)", "l1 l2");
    EXPECT(d, "li:nth-child(n+3)", "l3 l4");
    EXPECT(d, "li:nth-child(0n+3)", "l3");
    EXPECT(d, "li:nth-child(-2n+3)", "l1 l3");
    EXPECT(d, "li:nth-last-child(1)", "l4");
    EXPECT(d, "li:nth-last-child(-n+2)", "l3 l4");
    EXPECT(d, "li:nth-child(n of .odd)", "l2");
    EXPECT(d, "li:nth-child(1 of :not(.odd))", "l1");
    EXPECT(d, "li:nth-child(2 of :not(.odd))", "l3");
    EXPECT(d, "li:nth-last-child(1 of :not(#l4))", "l3");
    EXPECT(d, "li:only-child", "");
    EXPECT(d, "h2:only-of-type", "h2");
    EXPECT(d, "section > p:first-of-type", "p3");
    EXPECT(d, "section > p:last-of-type", "p4");
    EXPECT(d, "section > :nth-of-type(2)", "p4");
    EXPECT(d, "section > :nth-last-of-type(2)", "p3");
    EXPECT(d, "span:empty", "s1 s2");      /* a comment is empty, a space is not */
    EXPECT(d, ":root", "html");
    EXPECT(d, "title:only-child", "title");
    silk_html_free(d);
}

static void test_logical(void)
{
    silk_html_doc *d = parse(page);
    EXPECT(d, "p:not(.x)", "p2 p3 p4");
    EXPECT(d, "p:not(.x, #p2)", "p3 p4");
    EXPECT(d, "p:not(div > p)", "p3 p4");
    EXPECT(d, ":is(h2, #p4)", "h2 p4");
    EXPECT(d, ":where(section) p", "p3 p4");
    EXPECT(d, ":is(#d1, #d2) > p", "p1 p2");
    EXPECT(d, "div:has(> p)", "d1");
    EXPECT(d, "div:has(p)", "d1 d2");
    EXPECT(d, "div:has(a[href])", "d1");
    EXPECT(d, "h2:has(+ p)", "h2");
    EXPECT(d, "p:has(~ p)", "p1 p3");
    EXPECT(d, "p:has(+ ul)", "p2");
    EXPECT(d, "section:has(> h2 + p)", "sec");
    EXPECT(d, "div:not(:has(ul))", "d2");
    EXPECT(d, "li:is(:first-child, :last-child)", "l1 l4");
    EXPECT(d, "p:contains(thr)", "p3");
    silk_html_free(d);
}

static void test_forms_and_links(void)
{
    silk_html_doc *d = parse(page);
    EXPECT(d, ":checked", "i3 o2");
    EXPECT(d, ":disabled", "fs1 i2 b1 og1 o1 ta");
    EXPECT(d, ":enabled", "i1 i3 i4 sel1 o2");
    EXPECT(d, ":link", "a1 ar1");
    EXPECT(d, ":any-link", "a1 ar1");
    EXPECT(d, "a:visited, a:hover, a:focus", "");
    EXPECT(d, "p::before", "");
    EXPECT(d, "p::Marker, ::selection, ::placeholder, input::-webkit-inner-spin-button", "");
    EXPECT(d, "p:after", "");
    EXPECT(d, "p:lang(en)", "p1 p2");
    EXPECT(d, ":lang(fr)", "d2 sec h2 p3 p4 a2 ar1");
    EXPECT(d, "p:lang(fr-ca)", "p3 p4");
    silk_html_free(d);
}

/* :checked on options follows the HTML standard's selectedness: a select
 * without multiple keeps only its last selected option, and with none (and
 * a display size of 1) selects its first option that is not disabled. */
static const char selects[] =
    "<!DOCTYPE html>"
    "<select><option id=a>1<option id=b>2</select>"
    "<select><option id=c disabled>1<option id=d>2</select>"
    "<select><option id=e selected>1<option id=f selected>2</select>"
    "<select multiple><option id=g selected>1<option id=h selected>2<option id=i></select>"
    "<select><optgroup><option id=j>1</optgroup><option id=k>2</select>"
    "<select size=3><option id=l>1<option id=m>2</select>"
    "<select><optgroup disabled><option id=n></optgroup><optgroup></optgroup>"
    "<optgroup><option id=o disabled><option id=p></optgroup></select>"
    "<select size=0><option id=q></select><select size=' +1x'><option id=r></select>"
    "<select size=01><option id=s></select><select size=-1><option id=t></select>"
    "<select><option id=u selected disabled><option id=v></select>"
    "<select><optgroup><option id=w selected></optgroup><option id=x selected>"
    "<optgroup><option id=y></optgroup></select>"
    "<select><option id=z disabled></select>"
    "<datalist><option id=da selected><option id=db></datalist>";

static void test_option_selectedness(void)
{
    silk_html_doc *d = parse(selects);
    EXPECT(d, ":checked", "a d f g h j p r s t u x da");
    EXPECT(d, "option:not(:checked)", "b c e i k l m n o q v w y z db");
    silk_html_free(d);
}

static void test_tree_builder_shapes(void)
{
    /* unclosed <p> and <li>, a table without tbody, template, misnesting */
    silk_html_doc *d = parse(
        "<!DOCTYPE html><body><p id=a>one<p id=b>two<div id=c>x</div>"
        "<table id=t><tr id=r1><td id=c1>1<td id=c2>2</table>"
        "<template id=tp><p id=in>inside</p></template>"
        "<b id=b1>bold<i id=i1>both</b>italic</i>");
    EXPECT(d, "p", "a b");
    EXPECT(d, "p + p", "b");
    EXPECT(d, "table > tbody > tr > td", "c1 c2");
    EXPECT(d, "table > tr", "");
    EXPECT(d, "#in", "");                    /* template contents are not children */
    EXPECT(d, "template", "tp");
    EXPECT(d, "i", "i1 i1");                 /* adoption agency clones <i>, id and all */
    EXPECT(d, "b > i", "i1");
    EXPECT(d, "body > i", "i1");
    silk_html_free(d);
}

static void test_quirks(void)
{
    silk_html_doc *d = parse("<html><body><p id=Foo class=Bar>q</p></body></html>");
    EXPECT(d, ".bar", "Foo");               /* quirks: class and id case-insensitive */
    EXPECT(d, "#foo", "Foo");
    silk_html_free(d);
}

static void test_foreign(void)
{
    silk_html_doc *d = parse("<!DOCTYPE html><body><svg id=s viewBox='0 0 1 1'>"
                             "<foreignObject id=fo></foreignObject><a id=sa></a></svg>");
    EXPECT(d, "foreignObject", "fo");
    EXPECT(d, "foreignobject", "");          /* SVG names are case-sensitive */
    EXPECT(d, "svg a", "sa");
    EXPECT(d, "[viewBox]", "s");
    EXPECT(d, "[viewbox]", "");
    silk_html_free(d);
    /* a tag shared by HTML and SVG: both, in document order; and mixed case */
    d = parse("<body><a id=h1></a><svg><a id=sa></a><clipPath id=cp><rect id=r></rect></clipPath>"
              "</svg><A id=h2></A><template><a id=ta></a></template>");
    EXPECT(d, "a", "h1 sa h2");
    EXPECT(d, "clipPath", "cp");
    EXPECT(d, "clippath", "");
    EXPECT(d, "svg rect", "r");
    EXPECT(d, "template", "template");    /* itself, never its contents */
    EXPECT(d, "a, rect", "h1 sa r h2");
    silk_html_free(d);
}

static void test_scoped(void)
{
    silk_html_doc *d = parse(page);
    /* #d1 is the first element child of body */
    const silk_node *html = silk_html_document_element(d);
    const silk_node *body = silk_node_next(silk_node_first_child(html));
    const silk_node *d1 = silk_node_first_child(body);
    CHECK(d1 && !strcmp(silk_node_attr(d1, "id"), "d1"), "d1 not found");
    expect_at(__LINE__, d, d1, "p", "p1 p2");
    expect_at(__LINE__, d, d1, "div p", "");     /* relative: the div must be inside d1 */
    expect_at(__LINE__, d, d1, "> p", "p1 p2");
    expect_at(__LINE__, d, d1, "> ul > li", "l1 l2 l3 l4");
    expect_at(__LINE__, d, d1, ":scope > span", "s1 s2 s3");
    expect_at(__LINE__, d, d1, ":scope", "");
    expect_at(__LINE__, d, d1, "body p", "");
    expect_at(__LINE__, d, d1, ":is(body p)", "p1 p2");  /* inside :is it is absolute */
    silk_html_free(d);
}

static void test_errors(void)
{
    EXPECT_ERROR("", "empty selector");
    EXPECT_ERROR("div >", "position 6");
    EXPECT_ERROR("div >", "expected a selector after \">\"");
    EXPECT_ERROR("#1a", "position 2");
    EXPECT_ERROR("p,", "position 3");
    EXPECT_ERROR(",p", "position 1");
    EXPECT_ERROR("[x", "position 3");
    EXPECT_ERROR("[x=]", "attribute value");
    EXPECT_ERROR("a:nope", "unknown pseudo-class :nope");
    EXPECT_ERROR("a:nth-child(x)", "An+B");
    EXPECT_ERROR("a:not(", "position 7");
    EXPECT_ERROR("a:not()", "expected a selector");
    EXPECT_ERROR(":is(> a)", "cannot start");
    EXPECT_ERROR("'a'", "unexpected character");
    EXPECT_ERROR("a[x='y", "unterminated string");
    EXPECT_ERROR("ns|a", "namespace");
    EXPECT_ERROR("p::before.x", "pseudo-element");
    EXPECT_ERROR("p::bogus", "unknown pseudo-element ::bogus");
    EXPECT_ERROR("p::BEFORE(x)", "functional pseudo-elements");
    EXPECT_ERROR("h1::text", "::text is Scrapy/parsel syntax, not CSS: select the element, then node:text()");
    EXPECT_ERROR("div ::text", "position 5");
    EXPECT_ERROR("a::attr(href)", "::attr() is Scrapy/parsel syntax, not CSS: select the element, then "
                                  "node:attr(\"href\")");
    EXPECT_ERROR("a::attr( 'data-x' )", "node:attr(\"data-x\")");
    EXPECT_ERROR("a::attr(", "node:attr(\"name\")");
    EXPECT_ERROR("li:first", ":first is jQuery syntax, not CSS: use doc:one(css)");
    EXPECT_ERROR("li:eq(1)", ":eq() is jQuery syntax");
    EXPECT_ERROR("option:selected", "use :checked");
    EXPECT_ERROR("a!", "unexpected character '!'");
    EXPECT_ERROR("a:nth-child(2n 1)", "expected + or -");
    /* deep nesting is refused, not a stack overflow */
    char deep[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, ":not(");
    strcat(deep, "a");
    for (int i = 0; i < 40; i++)
        strcat(deep, ")");
    EXPECT_ERROR(deep, "nested too deeply");
}

static void test_cache(void)
{
    silk_sel_cache *c = silk_sel_cache_new(2);
    int rc;
    char err[200];
    const silk_sel *a = silk_sel_cache_get(c, "a", 1, &rc, err, sizeof err);
    const silk_sel *a2 = silk_sel_cache_get(c, "a", 1, &rc, err, sizeof err);
    CHECK(a && a == a2, "cache hit returns the same selector");
    silk_sel_cache_get(c, "b", 1, &rc, err, sizeof err);
    silk_sel_cache_get(c, "a", 1, &rc, err, sizeof err);     /* a is now most recent */
    silk_sel_cache_get(c, "c", 1, &rc, err, sizeof err);     /* evicts b */
    long hits, misses;
    int size;
    silk_sel_cache_stats(c, &hits, &misses, &size);
    CHECK(hits == 2 && misses == 3 && size == 2, "stats %ld %ld %d", hits, misses, size);
    silk_sel_cache_get(c, "a", 1, &rc, err, sizeof err);
    silk_sel_cache_stats(c, &hits, &misses, &size);
    CHECK(hits == 3, "a survived eviction");
    silk_sel_cache_get(c, "b", 1, &rc, err, sizeof err);
    silk_sel_cache_stats(c, &hits, &misses, &size);
    CHECK(misses == 4, "b was evicted");
    CHECK(!silk_sel_cache_get(c, "a >", 3, &rc, err, sizeof err) && rc == SILK_SEL_ESYNTAX,
          "errors come back through the cache");
    silk_sel_cache_free(c);
}

/* :has() with sibling and descendant chains: the matcher cuts its backward
 * walks at the anchor and remembers outcomes; the answers must not change. */
static void test_has_chains(void)
{
    silk_html_doc *d = parse("<div id=r><b id=b1></b><a id=a1></a><b id=b2><a id=in1></a></b>"
                             "<a id=a2></a><a id=a3></a></div><div id=r2><a id=x1></a></div>");
    EXPECT(d, "a:has(~ a ~ a)", "a1");
    EXPECT(d, "b:has(~ a ~ a)", "b1 b2");
    EXPECT(d, "b:has(+ a ~ a ~ a)", "b1");
    EXPECT(d, "b:has(~ b a)", "b1");
    EXPECT(d, "b:has(~ b > a)", "b1");
    EXPECT(d, "div:has(b a)", "r");
    EXPECT(d, "div:has(> b > a)", "r");
    EXPECT(d, "div:has(div a)", "");
    EXPECT(d, "b:has(> a):has(~ a)", "b2");
    EXPECT(d, "a:has(~ a:has(~ a))", "a1");
    EXPECT(d, "div:has(a) a", "a1 in1 a2 a3 x1");
    EXPECT(d, ":is(b, a):has(~ a) ~ a", "a1 a2 a3");
    EXPECT(d, "a:nth-child(even of :has(~ a))", "a1 a2");
    silk_html_free(d);
}

typedef struct checks_seen {
    int calls;
    int stop_at;                  /* the call that says stop (0: never) */
} checks_seen;

static int count_check(void *ud)
{
    checks_seen *c = ud;
    return ++c->calls == c->stop_at ? 7 : 0;
}

static int count_match(void *ud, const silk_node *el)
{
    (void)el;
    ++*(size_t *)ud;
    return 0;
}

static int keep_first(void *ud, const silk_node *el)
{
    *(const silk_node **)ud = el;
    return 1;
}

/* A page of `n` copies of `item` inside `open` ... `close`. */
static silk_html_doc *repeated(const char *open, const char *item, const char *close, int n)
{
    size_t il = strlen(item);
    char *h = malloc(strlen(open) + il * (size_t)n + strlen(close) + 1);
    char *p = h + strlen(strcpy(h, open));
    for (int i = 0; i < n; i++, p += il)
        memcpy(p, item, il);
    strcpy(p, close);
    silk_html_doc *d = parse(h);
    free(h);
    return d;
}

/* Budget checks made by one select of css: its work in units of
 * SILK_SEL_CHECK_STEPS steps. */
static int work_of(const silk_html_doc *d, const char *css, size_t *matches)
{
    silk_sel *sel;
    char err[300];
    if (silk_sel_compile(css, strlen(css), &sel, err, sizeof err))
        return -1;
    checks_seen c = {0, 0};
    silk_sel_budget b = {count_check, &c, 0};
    *matches = 0;
    int rc = silk_sel_select_within(sel, d, silk_html_root(d), 0, count_match, matches, &b, matches);
    silk_sel_free(sel);
    return rc ? -1 : c.calls;
}

/* Shapes that used to cost the square or the cube of the page stay near
 * linear: 20 000 siblings take a few hundred thousand steps, not 10^12. */
static void test_has_cost(void)
{
    size_t n;
    silk_html_doc *d = repeated("<div>", "<a href=x>l</a>", "</div>", 20000);
    int w = work_of(d, "a:has(~ a ~ a)", &n);
    CHECK(n == 19998 && w >= 0 && w < 100, "a:has(~ a ~ a): %zu matches, %d checks", n, w);
    w = work_of(d, "a:has(~ a:has(~ a))", &n);
    CHECK(n == 19998 && w >= 0 && w < 100, "a:has(~ a:has(~ a)): %zu matches, %d checks", n, w);
    silk_html_free(d);
    /* each span asks its p whether it has a b: the p's subtree is searched once */
    d = repeated("<p>", "<span>s</span>", "</p>", 20000);
    w = work_of(d, "p:has(b) span", &n);
    CHECK(n == 0 && w >= 0 && w < 100, "p:has(b) span: %zu matches, %d checks", n, w);
    silk_html_free(d);
}

/* A budget that says stop ends the call at once with its verdict, whatever
 * the call was doing, and leaves nothing allocated (ASan, valgrind). */
static void test_budget_stop(void)
{
    silk_html_doc *d = repeated("<div>", "<a href=x>l</a>", "</div>", 2000);
    silk_sel *sel;
    char err[300];
    const char *css = "a:has(~ b ~ a ~ a)";     /* quartic: no b, every chain is tried */
    if (silk_sel_compile(css, strlen(css), &sel, err, sizeof err)) {
        CHECK(0, "%s", err);
        return;
    }
    checks_seen c = {0, 3};
    silk_sel_budget b = {count_check, &c, 0};
    size_t n = 99;
    int rc = silk_sel_select_within(sel, d, silk_html_root(d), 0, count_match, &n, &b, &n);
    CHECK(rc == 7 && c.calls == 3 && n == 0, "select stopped: rc %d, %d checks, %zu calls", rc,
          c.calls, n);
    silk_sel *any_a;
    silk_sel_compile("a", 1, &any_a, err, sizeof err);
    const silk_node *first = NULL;
    silk_sel_select(any_a, d, silk_html_root(d), 1, keep_first, &first);
    silk_sel_free(any_a);
    c = (checks_seen){0, 2};
    int matched = 1;
    rc = silk_sel_matches_within(sel, first, NULL, &b, &matched);
    CHECK(rc == 7 && c.calls == 2 && !matched, "matches stopped: rc %d, %d checks", rc, c.calls);
    silk_sel_free(sel);
    /* a budget that never says stop changes nothing */
    css = "a:has(~ a ~ a)";
    silk_sel_compile(css, strlen(css), &sel, err, sizeof err);
    c = (checks_seen){0, 0};
    rc = silk_sel_select_within(sel, d, silk_html_root(d), 5, count_match, &n, &b, &n);
    CHECK(rc == 0 && n == 5, "limit under a budget: rc %d, %zu", rc, n);
    silk_sel_free(sel);
    silk_html_free(d);
}

int main(void)
{
    test_basic();
    test_attributes();
    test_structural();
    test_logical();
    test_forms_and_links();
    test_option_selectedness();
    test_tree_builder_shapes();
    test_quirks();
    test_foreign();
    test_scoped();
    test_errors();
    test_cache();
    test_has_chains();
    test_has_cost();
    test_budget_stop();
    CHECK(silk_track_live(SILK_RES_DOCUMENT) == 0, "documents leaked: %ld",
          silk_track_live(SILK_RES_DOCUMENT));
    return check_done("test_select");
}
