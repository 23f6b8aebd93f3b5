/*
 * html_int.h -- what the files of the html module share: the tree walks
 * over gumbo's nodes (html.c, html_text.c, and select.c: one copy for both
 * modules), and the parse and release of a document without the
 * SILK_RES_DOCUMENT count for the worker pool (html_pool.c). A worker
 * parses uncounted (the counters belong to the loop thread's view of what
 * is live); the document is counted when its job hands it over
 * (silk_html_job_result), or released uncounted with an abandoned job.
 */
#ifndef SILK_HTML_INT_H
#define SILK_HTML_INT_H

#include <ctype.h>
#include <stddef.h>

#include <gumbo.h>

#include "html.h"

/* --- tree walks ----------------------------------------------------------- */

static inline int is_elem(const GumboNode *n)
{
    return n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE;
}

static inline const GumboVector *kids(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_DOCUMENT)
        return &n->v.document.children;
    if (is_elem(n))
        return &n->v.element.children;
    return NULL;
}

static inline int is_html(const GumboNode *n, GumboTag tag)
{
    return is_elem(n) && n->v.element.tag == tag && n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML;
}

/* Next node in document order within root's subtree, not descending into n
 * when skip is set. NULL at the end. The one tree walk everything uses. */
static inline const GumboNode *walk_next(const GumboNode *n, const GumboNode *root, int skip)
{
    const GumboVector *v = kids(n);
    if (!skip && v && v->length)
        return v->data[0];
    while (n != root) {
        const GumboNode *p = n->parent;
        if (!p)
            return NULL;
        const GumboVector *pv = kids(p);
        unsigned i = (unsigned)n->index_within_parent + 1;
        if (i < pv->length)
            return pv->data[i];
        n = p;
    }
    return NULL;
}

/* The walk for output that brackets each node (tags, text blocks): enter(n)
 * in document order, and for each node it entered (returned 1) its
 * children, then leave(n). root is entered first and left last. */
typedef int (*walk_enter)(void *ud, const GumboNode *n);
typedef void (*walk_leave)(void *ud, const GumboNode *n);

/* Inlined into each caller, so that enter and leave are direct calls (the
 * text walk runs on every text() of a crawl). */
static inline __attribute__((always_inline)) void
walk_tree(const GumboNode *root, walk_enter enter, walk_leave leave, void *ud)
{
    const GumboNode *n = root;
    for (;;) {
        int entered = enter(ud, n);
        const GumboVector *v = kids(n);
        if (entered && v && v->length) {
            n = v->data[0];
            continue;
        }
        /* Leave n and every ancestor whose last child is done. */
        for (;;) {
            if (entered)
                leave(ud, n);
            if (n == root)
                return;
            entered = 1;       /* n's ancestors were entered */
            const GumboNode *p = n->parent;
            unsigned i = n->index_within_parent + 1;
            if (i < kids(p)->length) {
                n = kids(p)->data[i];
                break;
            }
            n = p;
        }
    }
}

static inline int ascii_ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* --- the pool's parse ------------------------------------------------------ */

/* silk_html_parse without counting the document: any thread. */
int silk_html_parse_uncounted(const char *text, size_t len, const char *base_url,
                              const silk_html_limits *lim, silk_html_doc **out,
                              char *err, size_t errlen);
/* Frees a document parsed uncounted (never one silk_html_parse counted). */
void silk_html_free_uncounted(silk_html_doc *d);

#endif
