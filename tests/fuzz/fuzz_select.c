/*
 * fuzz_select.c -- libFuzzer target for select_parse.c and select.c (the
 * selector compiler and matcher).
 *
 * Input: a selector. Checks, beyond "no crash, no leak, no UB": a refused
 * selector leaves a NUL-terminated message and no result; a compiled one
 * keeps its source, and matching it over a fixed page that exercises every
 * kind of element, attribute and structure terminates, agrees with
 * silk_sel_matches() (absolute selection from the document node), honours
 * its limit, and yields the same matches through the cache.
 */
#define _GNU_SOURCE 1 /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gumbo.h>

#include "html.h"
#include "select.h"

static const char page[] =
    "<!DOCTYPE html><html lang=en-US><head><title>T</title>"
    "<meta charset=utf-8><link rel=stylesheet href=/s.css></head>"
    "<body id=b class='x y'><div id=d1 class=a data-k=\"v w\"><p id=p1>one</p>"
    "<p id=p2 class=A>two <a id=a1 href=/x rel=nofollow>x</a></p><!--c-->"
    "<ul id=u><li id=l1>1</li><li id=l2 class=odd>2</li><li id=l3>3</li>"
    "<li id=l4></li></ul></div><div id=d2 lang=fr-CA><span id=s1>s</span>"
    "<input id=i1 type=checkbox checked><input id=i2 type=TEXT disabled>"
    "<select id=sel><option id=o1 selected>a</option><optgroup disabled>"
    "<option id=o2>b</option></optgroup></select><fieldset disabled><legend>"
    "<button id=bt1></button></legend><button id=bt2></button></fieldset>"
    "<a id=a2>no href</a><area id=ar href=/a><table><tr><td id=td>c</td></tr>"
    "</table></div><svg id=sv viewBox='0 0 1 1'><foreignObject id=fo>"
    "<p id=p3>in svg</p></foreignObject><circle id=ci r=1 /></svg>"
    "<math id=m><mi id=mi>x</mi></math><template id=tp><p id=pt>t</p></template>"
    "<h1 id=h1></h1><h2 id=h2 hidden></h2><X-Custom id=xc Foo=Bar>z</X-Custom>"
    "</body></html>";

static silk_html_doc *doc;
static silk_sel_cache *cache;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (silk_html_parse(page, sizeof page - 1, "http://example.com/", NULL, &doc, err,
                        sizeof err) != 0) {
        fprintf(stderr, "fuzz_select: %s\n", err);
        abort();
    }
    cache = silk_sel_cache_new(4);
    return 0;
}

typedef struct collect {
    const silk_node *got[256];
    size_t n;
} collect;

static int add(void *ud, const silk_node *el)
{
    collect *c = ud;
    if (!silk_node_is_element(el))
        abort();
    if (c->n < sizeof c->got / sizeof c->got[0])
        c->got[c->n] = el;
    c->n++;
    return 0;
}

/* Elements from el on in document order, as silk_sel_select walks them. */
static size_t absolute(const silk_sel *sel, const silk_node *el, const silk_node **got, size_t n)
{
    for (; el; el = silk_node_next(el)) {
        if (silk_sel_matches(sel, el, NULL)) {
            if (n < 256)
                got[n] = el;
            n++;
        }
        if (el->type != GUMBO_NODE_TEMPLATE) /* contents are not children */
            n = absolute(sel, silk_node_first_child(el), got, n);
    }
    return n;
}

static int stop_at(void *ud)
{
    return --*(int *)ud == 0 ? 9 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    memset(err, 'x', sizeof err);
    silk_sel *sel = (silk_sel *)1;
    int rc = silk_sel_compile((const char *)data, size, &sel, err, sizeof err);
    if (rc != SILK_SEL_OK) {
        if (sel != NULL || rc != SILK_SEL_ESYNTAX || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    if (strlen(silk_sel_source(sel)) != size && !memchr(data, '\0', size))
        abort();
    if (memcmp(silk_sel_source(sel), data, size) != 0)
        abort();

    const silk_node *root = silk_html_root(doc);
    collect all = {0}, lim = {0};
    size_t n = silk_sel_select(sel, NULL, root, 0, add, &all);
    if (n != all.n)
        abort();
    if (silk_sel_select(sel, NULL, root, 2, add, &lim) != (n < 2 ? n : 2) ||
        lim.n != (n < 2 ? n : 2))
        abort();
    for (size_t i = 0; i < lim.n; i++)
        if (lim.got[i] != all.got[i])
            abort();
    /* Through the document's tag index: exactly what the walk found. */
    collect viaidx = {0};
    if (silk_sel_select(sel, doc, root, 0, add, &viaidx) != n)
        abort();
    for (size_t i = 0; i < n && i < 256; i++)
        if (viaidx.got[i] != all.got[i])
            abort();

    /* A selector without a leading combinator or :scope selects from the
     * document exactly what absolute matching finds. */
    const silk_node *abs_got[256];
    if (!memchr(data, '>', size) && !memchr(data, '+', size) && !memchr(data, '~', size) &&
        !memmem(data, size, "scope", 5)) {
        size_t m = absolute(sel, silk_html_document_element(doc), abs_got, 0);
        /* the document element itself is a candidate of both */
        if (m != n) {
            fprintf(stderr, "absolute %zu, select %zu\n", m, n);
            abort();
        }
        for (size_t i = 0; i < m && i < 256; i++)
            if (abs_got[i] != all.got[i])
                abort();
    }

    /* Relative to an element: runs, results are descendants of it. */
    const silk_node *body = silk_node_first_child(silk_html_document_element(doc));
    body = body ? silk_node_next(body) : NULL;
    if (body) {
        collect rel = {0};
        silk_sel_select(sel, doc, body, 0, add, &rel);
        for (size_t i = 0; i < rel.n && i < 256; i++) {
            const silk_node *p = rel.got[i];
            while (p && p != body)
                p = silk_node_parent(p);
            if (!p)
                abort();
        }
    }

    /* Under a budget that says stop at the k-th step (k from the input):
     * the call ends there, wherever it is (inside :has, with its memo half
     * built), with a prefix of the matches and nothing left allocated
     * (ASan's leak check); or it ends before with every match. */
    collect part = {0};
    size_t pn;
    int stop_after = (int)(size % 97) + 1;
    silk_sel_budget stop_k = {stop_at, &stop_after, 1};
    int why = silk_sel_select_within(sel, doc, root, 0, add, &part, &stop_k, &pn);
    if ((why == 0 && pn != n) || (why != 0 && (why != 9 || pn > n)) || pn != part.n)
        abort();
    for (size_t i = 0; i < pn && i < 256; i++)
        if (part.got[i] != all.got[i])
            abort();

    int crc;
    const silk_sel *cs = silk_sel_cache_get(cache, (const char *)data, size, &crc, err, sizeof err);
    if (!cs)
        abort();
    collect viac = {0};
    if (silk_sel_select(cs, doc, root, 0, add, &viac) != n)
        abort();
    silk_sel_free(sel);
    return 0;
}
