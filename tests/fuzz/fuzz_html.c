/*
 * fuzz_html.c -- libFuzzer target for html.c with select.c/select_parse.c:
 * parse, select, text, serialisation, page facts and links on random HTML.
 *
 * Input: "selector\nHTML" when the input starts with "@" (the selector is
 * the rest of the first line), else HTML alone; a fixed list of selectors
 * runs too. Checks, beyond "no crash, no leak, no UB": a refused page gives
 * a known code and a message; the tree walk agrees with parent pointers;
 * readable text has no leading, trailing or doubled whitespace and is the
 * lines form (innerText) collapsed; raw text is the textContent that a
 * separate recursive walk of gumbo's tree gives; every link
 * is an absolute http(s) URL within SILK_HTML_URL_MAX; the canonical link
 * and the base are http(s); every document is released (live count 0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gumbo.h>

#include "html.h"
#include "select.h"
#include "track.h"

static silk_sel *fixed[32];
static size_t nfixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static const char *css[] = {
        "*", "a[href]", "p:nth-child(2n+1)", "div > p + p", ":has(> a, img)",
        "li:not(:first-child):nth-last-of-type(odd)", "[class~=a i]", ":is(h1,h2) ~ *",
        ":contains(x)", "table td:empty", "form :checked, :disabled", "svg|*, foreignObject *",
        "html body *:only-child", ":root > head > title",
        /* subjects naming a tag: searched through the tag index */
        "a", "svg a", "title", "clipPath", "math mi", "template", "td:first-child", "FORM",
    };
    for (size_t i = 0; i < sizeof css / sizeof *css; i++) {
        char err[200];
        if (silk_sel_compile(css[i], strlen(css[i]), &fixed[nfixed], err, sizeof err) == 0)
            nfixed++;
    }
    return 0;
}

typedef struct textck {
    size_t n;
    int last_space;
    int first;
} textck;

static void collapsed_sink(void *ud, const char *s, size_t n)
{
    textck *t = ud;
    for (size_t i = 0; i < n; i++) {
        /* the white space CSS collapses (a form feed is text) */
        int sp = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        if (sp && (t->n == 0 || t->last_space))
            abort(); /* leading or doubled whitespace */
        if (sp && s[i] != ' ')
            abort(); /* collapsed to a space */
        t->last_space = sp;
        t->n++;
    }
}

static void count_sink(void *ud, const char *s, size_t n)
{
    if (n && !s)
        abort();
    *(size_t *)ud += n;
}

/* A growing buffer (inputs are small; a failed malloc aborts). */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_sink(void *ud, const char *s, size_t n)
{
    buf *b = ud;
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* textContent, independently of html.c: a recursive walk of gumbo's tree;
 * a template's contents are not its children in the DOM. */
static void text_content(const GumboNode *n, buf *b)
{
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE ||
        n->type == GUMBO_NODE_CDATA) {
        buf_sink(b, n->v.text.text, strlen(n->v.text.text));
        return;
    }
    const GumboVector *v = n->type == GUMBO_NODE_ELEMENT ? &n->v.element.children :
                           n->type == GUMBO_NODE_DOCUMENT ? &n->v.document.children : NULL;
    for (unsigned i = 0; v && i < v->length; i++)
        text_content(v->data[i], b);
}

/* s with every run of CSS collapsible white space one space, trimmed, in
 * place. */
static void collapse(buf *b)
{
    size_t k = 0;
    int sep = 0;
    for (size_t i = 0; i < b->n; i++) {
        char c = b->p[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            sep = 1;
            continue;
        }
        if (sep && k)
            b->p[k++] = ' ';
        sep = 0;
        b->p[k++] = c;
    }
    b->n = k;
    if (b->p)
        b->p[k] = '\0';
}

/* The three text forms of n agree: raw is textContent, the single line is
 * the lines form collapsed. */
static void text_forms(const silk_node *n)
{
    buf raw = {0}, want = {0}, lines = {0}, line = {0};
    silk_html_text(n, SILK_TEXT_RAW, buf_sink, &raw);
    text_content(n, &want);
    if (raw.n != want.n || (raw.n && memcmp(raw.p, want.p, raw.n)))
        abort();
    silk_html_text(n, SILK_TEXT_LINES, buf_sink, &lines);
    silk_html_text(n, SILK_TEXT_LINE, buf_sink, &line);
    collapse(&lines);
    if (line.n != lines.n || (line.n && memcmp(line.p, lines.p, line.n)))
        abort();
    free(raw.p);
    free(want.p);
    free(lines.p);
    free(line.p);
}

typedef struct matches {
    const silk_node *el[512];
    size_t n;
} matches;

static int record(void *ud, const silk_node *el)
{
    matches *m = ud;
    if (m->n < sizeof m->el / sizeof *m->el)
        m->el[m->n] = el;
    m->n++;
    return 0;
}

/* The tag index must find exactly what the tree walk finds. */
static void same_with_index(const silk_sel *sel, const silk_html_doc *doc)
{
    static matches walked, indexed;
    walked.n = indexed.n = 0;
    silk_sel_select(sel, NULL, silk_html_root(doc), 0, record, &walked);
    silk_sel_select(sel, doc, silk_html_root(doc), 0, record, &indexed);
    if (walked.n != indexed.n)
        abort();
    for (size_t i = 0; i < walked.n && i < sizeof walked.el / sizeof *walked.el; i++)
        if (walked.el[i] != indexed.el[i])
            abort();
}

static int sel_cb(void *ud, const silk_node *el)
{
    size_t *n = ud;
    textck t = {0};
    silk_html_text(el, SILK_TEXT_LINE, collapsed_sink, &t);
    if (t.last_space)
        abort(); /* trailing whitespace */
    text_forms(el);
    (*n)++;
    return *n >= 64;
}

static void link_cb(void *ud, const silk_html_link *l)
{
    size_t len = strlen(l->url);
    if (len >= SILK_HTML_URL_MAX ||
        (strncmp(l->url, "http://", 7) != 0 && strncmp(l->url, "https://", 8) != 0) ||
        !l->node || !silk_node_is_element(l->node) || (l->nofollow & ~1))
        abort();
    (*(size_t *)ud)++;
}

static void walk(const silk_node *el, int depth)
{
    char tag[64];
    for (; el; el = silk_node_next(el)) {
        if (!silk_node_is_element(el) || depth > 2048)
            abort();
        const char *t = silk_node_tag(el, tag, sizeof tag);
        if (!t || strlen(t) >= sizeof tag)
            abort();
        int na = silk_node_nattrs(el);
        for (int i = 0; i < na; i++) {
            const char *name, *value;
            silk_node_attr_at(el, i, &name, &value);
            if (!name || !value || !silk_node_attr(el, name))
                abort();
        }
        const silk_node *c = silk_node_first_child(el);
        if (c && (silk_node_parent(c) != el || silk_node_prev(c) != NULL))
            abort();
        const silk_node *nx = silk_node_next(el);
        if (nx && silk_node_prev(nx) != el)
            abort();
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *html = (const char *)data;
    size_t hlen = size;
    silk_sel *own = NULL;
    char err[256];
    if (size && html[0] == '@') {
        const char *nl = memchr(html, '\n', size);
        size_t sl = nl ? (size_t)(nl - html) - 1 : size - 1;
        silk_sel_compile(html + 1, sl, &own, err, sizeof err);
        html = nl ? nl + 1 : html + size;
        hlen = size - (size_t)(html - (const char *)data);
    }

    silk_html_limits lim;
    silk_html_limits_default(&lim);
    lim.max_depth = 200; /* small enough for the fuzzer to reach */
    silk_html_doc *doc = NULL;
    err[0] = '\0';
    int rc = silk_html_parse(html, hlen, "http://example.com/dir/page.html?q=1", &lim, &doc,
                             err, sizeof err);
    if (rc != 0) {
        if (doc || (rc != SILK_HTML_ETOOLARGE && rc != SILK_HTML_ENOMEM) || !err[0] ||
            !memchr(err, '\0', sizeof err))
            abort();
        silk_sel_free(own);
        return 0;
    }

    const silk_node *root = silk_html_root(doc);
    const silk_node *de = silk_html_document_element(doc);
    if (!root || !de || silk_node_parent(de) != NULL)
        abort();
    walk(de, 0);

    size_t n = 0;
    for (size_t i = 0; i < nfixed; i++) {
        n = 0;
        silk_sel_select(fixed[i], doc, root, 0, sel_cb, &n);
        n = 0;
        silk_sel_select(fixed[i], doc, de, 0, sel_cb, &n);
        same_with_index(fixed[i], doc);
    }
    if (own) {
        n = 0;
        silk_sel_select(own, doc, root, 0, sel_cb, &n);
        same_with_index(own, doc);
    }

    textck t = {0};
    silk_html_text(root, SILK_TEXT_LINE, collapsed_sink, &t);
    if (t.last_space)
        abort();
    text_forms(root);
    size_t bytes = 0;
    silk_html_serialize(de, 1, count_sink, &bytes);
    silk_html_serialize(root, 0, count_sink, &bytes);
    t = (textck){0};
    if (silk_html_title(doc, collapsed_sink, &t) && t.last_space)
        abort();

    size_t links = 0;
    silk_html_links(doc, SILK_LINKS_A | SILK_LINKS_LINK | SILK_LINKS_IMG | SILK_LINKS_IFRAME,
                    link_cb, &links);
    if (silk_html_meta_robots(doc) & ~3u)
        abort();
    char canon[SILK_HTML_URL_MAX];
    if (silk_html_canonical(doc, canon, sizeof canon) && strncmp(canon, "http", 4) != 0)
        abort();
    const char *base = silk_html_base(doc);
    if (base && strncmp(base, "http", 4) != 0)
        abort();
    silk_html_quirks(doc);

    silk_html_free(doc);
    silk_sel_free(own);
    if (silk_track_live(SILK_RES_DOCUMENT) != 0)
        abort();
    return 0;
}
