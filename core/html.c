/*
 * html.c -- gumbo documents: parse with limits, fix-ups, text, serialisation,
 * links. See html.h for the contract; the parse worker pool that runs the
 * same parse on other threads is html_pool.c.
 */
#define _GNU_SOURCE    /* memrchr */
#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <gumbo.h>

#include "html_int.h"
#include "track.h"
#include "url.h"

/* ------------------------------------------------------------------------ */
/* The arena: every byte of a document (input copy, gumbo's tree, fix-ups)   */
/* comes from here and is released whole. gumbo frees as it goes (vector     */
/* growth, temporary buffers) but a bump allocator ignores that: the waste   */
/* is bounded by what gumbo allocated, and it buys parse speed and a free() */
/* per node (bench/parse).                                                   */
/* ------------------------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    int mapped;                /* 1: its own mapping (a big document's), munmap'd */
    max_align_t data[];        /* aligned for anything gumbo stores */
} chunk;

typedef struct arena {
    chunk *head;               /* the chunk allocations bump into */
    size_t total;              /* bytes held by every chunk */
    size_t limit;              /* ceiling on total */
    jmp_buf *escape;           /* where to go when over the limit (during parse only) */
    int failed;                /* SILK_HTML_ETOOLARGE or _ENOMEM, set before escaping */
} arena;

/* Blocks are rounded to what gumbo's structures need, pointer alignment
 * (nodes, vectors, strings: no long double, no vector types), not to
 * max_align_t: its 32 bytes, on millions of small blocks (a link costs
 * about 28 of them), made the arena 1.6x what gumbo asked for. */
#define ARENA_ALIGN _Alignof(union { void *p; size_t z; double d; long long l; })
#define ALIGN_UP(n) (((n) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))

/*
 * Chunks come in one standard size (blocks over a quarter of it get a chunk
 * of their own), so that any document's chunks can serve the next one: a
 * released standard chunk waits in a process-wide cache, up to a bound,
 * instead of going back to malloc. Why: a document parsed on a worker is
 * freed on the loop thread, glibc hands its memory back to the worker's
 * malloc arena, trims it (madvise), and the next parse faults it in again:
 * 25 page faults a page, more CPU than the hand-off saved. The cache is the
 * one global state of this module; its lock is taken once per chunk.
 */
#define CHUNK_DATA (64u << 10)
#define CACHE_MAX 128          /* standard chunks kept: 8 MiB */

/*
 * A document past BIG_DOC takes the rest of its memory in mappings of its
 * own, MAPPED_CHUNK at least, unmapped when it is freed. Why: malloc'd
 * chunks go back to the malloc arena of the worker that parsed, which
 * keeps them: after one 16 MB link-heavy page the process held its 300 MB
 * for good, and a crawl of such pages added up the peaks of every worker.
 * A mapping per megabyte costs nothing next to parsing that megabyte.
 */
#define BIG_DOC (8u << 20)
#define MAPPED_CHUNK (1u << 20)

static struct {
    pthread_mutex_t lock;
    chunk *free;               /* singly linked through next */
    int n;
} cache = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static void arena_fail(arena *a, int code)
{
    a->failed = code;
    if (a->escape)
        longjmp(*a->escape, 1);
    abort();                   /* an allocation after parsing: a bug here */
}

/* A chunk of at least `size` bytes of its own mapping. */
static chunk *mapped_chunk(arena *a, size_t size)
{
    size_t len = (sizeof(chunk) + (size > MAPPED_CHUNK ? size : MAPPED_CHUNK) + 4095) & ~(size_t)4095;
    if (a->total + len > a->limit)
        arena_fail(a, SILK_HTML_ETOOLARGE);
    chunk *c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        arena_fail(a, SILK_HTML_ENOMEM);
    c->size = len - sizeof(chunk);
    c->used = 0;
    c->mapped = 1;
    a->total += len;
    return c;
}

static chunk *arena_chunk(arena *a, size_t size)
{
    if (a->total >= BIG_DOC)
        return mapped_chunk(a, size);
    if (a->total + sizeof(chunk) + size > a->limit)
        arena_fail(a, SILK_HTML_ETOOLARGE);
    chunk *c = NULL;
    if (size == CHUNK_DATA) {
        pthread_mutex_lock(&cache.lock);
        if ((c = cache.free)) {
            cache.free = c->next;
            cache.n--;
        }
        pthread_mutex_unlock(&cache.lock);
    }
    if (!c && !(c = malloc(sizeof(chunk) + size)))
        arena_fail(a, SILK_HTML_ENOMEM);
    c->size = size;
    c->used = 0;
    c->mapped = 0;
    a->total += sizeof(chunk) + size;
    return c;
}

static void *arena_alloc(void *ud, size_t n)
{
    arena *a = ud;
    n = ALIGN_UP(n ? n : 1);
    chunk *h = a->head;
    if (h && h->size - h->used >= n) {
        void *p = (char *)h->data + h->used;
        h->used += n;
        return p;
    }
    if (n > CHUNK_DATA / 4 && (a->total < BIG_DOC || n > MAPPED_CHUNK / 4)) {
        /* A big block gets a chunk of its own behind the head, so that the
         * head's free space stays usable. */
        chunk *c = arena_chunk(a, n);
        c->used = n;
        if (h) {
            c->next = h->next;
            h->next = c;
        } else {
            c->next = NULL;
            a->head = c;
        }
        return c->data;
    }
    chunk *c = arena_chunk(a, CHUNK_DATA);
    c->next = h;
    a->head = c;
    c->used = n;
    return c->data;
}

/* A copy of the string s in the arena (which then owns it). */
static const char *arena_strdup(arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(arena_alloc(a, n), s, n);
}

static void arena_dealloc(void *ud, void *p)
{
    (void)ud;
    (void)p;                   /* released with the arena */
}

/* Standard chunks go to the cache while it has room, the rest to free(). */
static void arena_release(arena *a)
{
    chunk *c = a->head, *spill = NULL;
    pthread_mutex_lock(&cache.lock);
    while (c) {
        chunk *next = c->next;
        if (c->mapped) {
            c->next = spill;   /* unmapped below, outside the lock */
            spill = c;
        } else if (c->size == CHUNK_DATA && cache.n < CACHE_MAX) {
            c->next = cache.free;
            cache.free = c;
            cache.n++;
        } else {
            c->next = spill;
            spill = c;
        }
        c = next;
    }
    pthread_mutex_unlock(&cache.lock);
    while (spill) {
        chunk *next = spill->next;
        if (spill->mapped)
            munmap(spill, sizeof(chunk) + spill->size);
        else
            free(spill);
        spill = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ------------------------------------------------------------------------ */
/* Documents                                                                 */
/* ------------------------------------------------------------------------ */

#define DOC_MAGIC 0x68746d6cu  /* "html" */

/* The elements grouped by tag, each group in document order: a selector
 * whose subject names a tag then visits that group instead of the whole
 * tree. Built by the thread that parsed, while the tree is in its cache; the
 * loop thread then touches a few dozen nodes of a tree it did not build,
 * not all of them. Template contents are left out: selectors never search
 * them. Elements whose tag is GUMBO_TAG_UNKNOWN are not indexed. */
typedef struct tag_index {
    uint32_t start[GUMBO_TAG_LAST + 1];   /* group t: el[start[t] .. start[t + 1]) */
    const GumboNode **el;
} tag_index;

struct silk_html_doc {
    uint32_t magic;
    arena mem;                 /* owns this struct too: copy before releasing */
    GumboOutput *out;
    const char *src;           /* input copy; gumbo's original_text points here */
    size_t len;
    const char *url;           /* the document's URL (parse's base_url), or NULL */
    const char *base;          /* base URL for links: <base href> resolved, else url */
    tag_index tags;
};

void silk_html_limits_default(silk_html_limits *lim)
{
    lim->max_bytes = 32u << 20;
    lim->max_depth = 1024;
    lim->max_arena = 0;
}

static int is_elem(const GumboNode *n)
{
    return n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE;
}

static const GumboVector *kids(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_DOCUMENT)
        return &n->v.document.children;
    if (is_elem(n))
        return &n->v.element.children;
    return NULL;
}

static int is_html(const GumboNode *n, GumboTag tag)
{
    return is_elem(n) && n->v.element.tag == tag && n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML;
}

/* Next node in document order within root's subtree, not descending into n
 * when skip is set. NULL at the end. The one tree walk everything uses. */
static const GumboNode *walk_next(const GumboNode *n, const GumboNode *root, int skip)
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

static int ascii_ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Finds "</form" (any case) in s[0..n). */
static const char *find_form_end(const char *s, size_t n)
{
    const char *end = s + n;
    while (s + 6 <= end) {
        const char *p = memchr(s, '<', (size_t)(end - s));
        if (!p || p + 6 > end)
            return NULL;
        if (ascii_ieq_n(p, "</form", 6))
            return p;
        s = p + 1;
    }
    return NULL;
}

/*
 * gumbo 0.10.1 pops <form> before flushing the character tokens pending in
 * front of its end tag, so `<form>text</form>` puts "text" after the form
 * (browsers and parse5 put it inside). Such a text node is the form's next
 * sibling, its source text runs up to and includes the "</form" tag, and no
 * "</form" lies between the form's start tag and the text (else the form was
 * closed earlier and the text really follows it). Move it back in.
 */
static void fix_form_text(silk_html_doc *d, GumboNode *form)
{
    GumboNode *parent = form->parent;
    GumboVector *pv = (GumboVector *)kids(parent);
    unsigned i = form->index_within_parent + 1;
    if (i >= pv->length)
        return;
    GumboNode *t = pv->data[i];
    if (t->type != GUMBO_NODE_TEXT && t->type != GUMBO_NODE_WHITESPACE)
        return;
    GumboStringPiece o = t->v.text.original_text;
    const char *lt = o.length ? memrchr(o.data, '<', o.length) : NULL;
    if (!lt || (size_t)(o.data + o.length - lt) < 6 || !ascii_ieq_n(lt, "</form", 6))
        return;
    size_t from = form->v.element.start_pos.offset, to = t->v.text.start_pos.offset;
    if (to <= from || to > d->len || find_form_end(d->src + from, to - from))
        return;
    /* Unlink from the parent. */
    for (unsigned k = i; k + 1 < pv->length; k++) {
        pv->data[k] = pv->data[k + 1];
        ((GumboNode *)pv->data[k])->index_within_parent = k;
    }
    pv->length--;
    /* Append to the form (the arena does not grow in place: copy). */
    GumboVector *fv = &form->v.element.children;
    if (fv->length == fv->capacity) {
        unsigned cap = fv->capacity * 2 + 2;
        void **data = arena_alloc(&d->mem, cap * sizeof(void *));
        if (fv->length)
            memcpy(data, fv->data, fv->length * sizeof(void *));
        fv->data = data;
        fv->capacity = cap;
    }
    fv->data[fv->length] = t;
    t->parent = form;
    t->index_within_parent = fv->length;
    fv->length++;
}

/* One pass over the finished tree: form fix-up, depth check, <base>.
 * Returns the tree depth (elements), stopping early past `limit`. */
static int post_pass(silk_html_doc *d, int limit, const char **base_href)
{
    GumboNode *root = d->out->document;
    int depth = 0, max = 0;
    *base_href = NULL;
    for (const GumboNode *n = root; n;) {
        if (is_elem(n)) {
            if (n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML) {
                if (n->v.element.tag == GUMBO_TAG_FORM)
                    fix_form_text(d, (GumboNode *)n);
                else if (n->v.element.tag == GUMBO_TAG_BASE && !*base_href) {
                    GumboAttribute *a = gumbo_get_attribute(&n->v.element.attributes, "href");
                    if (a)
                        *base_href = a->value;
                }
            }
        }
        /* Depth = number of element ancestors-or-self, computed by walking
         * up from leaves only (cheap: leaves are where depth peaks). */
        const GumboVector *v = kids(n);
        if (is_elem(n) && (!v || !v->length)) {
            depth = 0;
            for (const GumboNode *p = n; p && p->type != GUMBO_NODE_DOCUMENT; p = p->parent)
                if (++depth > limit)
                    return depth;
            if (depth > max)
                max = depth;
        }
        n = walk_next(n, root, 0);
    }
    return max;
}

/* The group an element belongs to: its tag for HTML elements; for SVG and
 * MathML ones the tag their name spells, since selectors match those by
 * name (gumbo_tag_enum ignores case, as a selector's tag lookup does). */
static GumboTag index_key(const GumboNode *n)
{
    if (n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML)
        return n->v.element.tag;
    char buf[64];
    return gumbo_tag_enum(silk_node_tag(n, buf, sizeof buf));
}

/* Next node for the index: document order, not entering template contents. */
static const GumboNode *index_next(const GumboNode *n, const GumboNode *root)
{
    return walk_next(n, root, n->type == GUMBO_NODE_TEMPLATE);
}

/* Two walks (count, then place) keep the index one exact-sized array. */
static void index_tags(silk_html_doc *d)
{
    const GumboNode *root = d->out->document;
    uint32_t *start = d->tags.start;
    memset(start, 0, sizeof d->tags.start);
    for (const GumboNode *n = index_next(root, root); n; n = index_next(n, root))
        if (is_elem(n))
            start[index_key(n) + 1]++;
    start[GUMBO_TAG_UNKNOWN + 1] = 0;
    for (int t = 0; t < GUMBO_TAG_LAST; t++)
        start[t + 1] += start[t];
    d->tags.el = arena_alloc(&d->mem, (start[GUMBO_TAG_LAST] + 1) * sizeof *d->tags.el);
    uint32_t fill[GUMBO_TAG_LAST];
    memcpy(fill, start, sizeof fill);
    for (const GumboNode *n = index_next(root, root); n; n = index_next(n, root)) {
        if (!is_elem(n))
            continue;
        GumboTag t = index_key(n);
        if (t != GUMBO_TAG_UNKNOWN)
            d->tags.el[fill[t]++] = n;
    }
}

/*
 * A cheap nesting estimate before gumbo runs: gumbo's time grows with depth
 * times elements (every start tag scans the stack of open elements), so
 * 100k nested <div>s take half a minute. Tracks a stack of open tag names
 * (hashed), pops to a matching end tag, skips void and implicitly closed
 * elements, comments and raw text. It can only overestimate where a page
 * leaves elements open that HTML closes implicitly; the exact depth is
 * checked again on the tree.
 */
static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)tolower((unsigned char)s[i])) * 16777619u;
    return h;
}

static int prescan_skip_tag(const char *name, size_t n)
{
    static const char *const skip[] = {
        /* void */
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "param", "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame", "image",
        /* closed implicitly by a sibling or a parent's end tag */
        "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
        "tfoot", "colgroup", "caption", "rb", "rt", "rp", "rtc", "html", "head", "body",
        /* a second one closes (or drops) the first: <a><a>, <h1><h2>, <form><form> */
        "a", "nobr", "button", "form", "select", "h1", "h2", "h3", "h4", "h5", "h6",
        NULL,
    };
    int c = tolower((unsigned char)name[0]);
    for (int i = 0; skip[i]; i++)      /* first letters differ for most: test that first */
        if (skip[i][0] == c && strlen(skip[i]) == n && ascii_ieq_n(name, skip[i], n))
            return 1;
    return 0;
}

static int prescan_rawtext(const char *name, size_t n)
{
    static const char *const raw[] = {
        "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
        "plaintext", NULL,
    };
    int c = tolower((unsigned char)name[0]);
    for (int i = 0; raw[i]; i++)
        if (raw[i][0] == c && strlen(raw[i]) == n && ascii_ieq_n(name, raw[i], n))
            return 1;
    return 0;
}

static const char *find_ci(const char *s, const char *end, const char *pat, size_t pn)
{
    while (s + pn <= end) {
        const char *p = memchr(s, pat[0], (size_t)(end - s));
        if (!p || p + pn > end)
            return NULL;
        if (ascii_ieq_n(p, pat, pn))
            return p;
        s = p + 1;
    }
    return NULL;
}

#define PRESCAN_MAX 8192

/* Returns 1 if the estimated nesting exceeds limit. */
static int prescan_too_deep(const char *s, size_t len, int limit)
{
    uint32_t stack[PRESCAN_MAX + 1];
    int depth = 0;
    if (limit > PRESCAN_MAX)
        limit = PRESCAN_MAX;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            break;
        p = lt + 1;
        if (p >= end)
            break;
        if (*p == '!') {
            if (end - p >= 3 && p[1] == '-' && p[2] == '-') {
                const char *c = find_ci(p + 3, end, "-->", 3);
                p = c ? c + 3 : end;
                continue;
            }
            const char *gt = memchr(p, '>', (size_t)(end - p));
            p = gt ? gt + 1 : end;
            continue;
        }
        int closing = 0;
        if (*p == '/') {
            closing = 1;
            p++;
        }
        if (p >= end || !isalpha((unsigned char)*p))
            continue;
        const char *name = p;
        while (p < end && !strchr(" \t\n\f\r/>", *p))
            p++;
        size_t n = (size_t)(p - name);
        /* Skip attributes, honouring quotes ("<a title='<b>'>"). */
        char q = 0;
        while (p < end && (q || *p != '>')) {
            if (q && *p == q)
                q = 0;
            else if (!q && (*p == '"' || *p == '\''))
                q = *p;
            p++;
        }
        if (p < end)
            p++;
        uint32_t h = name_hash(name, n);
        if (closing) {
            for (int k = depth - 1; k >= 0; k--)
                if (stack[k] == h) {
                    depth = k;
                    break;
                }
            continue;
        }
        if (prescan_rawtext(name, n)) {
            char pat[16] = "</";
            if (n < sizeof pat - 2) {
                memcpy(pat + 2, name, n);
                const char *c = find_ci(p, end, pat, n + 2);
                p = c ? c : end;
            }
            continue;
        }
        if (prescan_skip_tag(name, n))
            continue;
        stack[depth++] = h;
        if (depth > limit)
            return 1;
    }
    return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int silk_html_parse_uncounted(const char *text, size_t len, const char *base_url,
                              const silk_html_limits *lim_in, silk_html_doc **out,
                              char *err, size_t errlen)
{
    silk_html_limits lim;
    if (lim_in)
        lim = *lim_in;
    else
        silk_html_limits_default(&lim);
    *out = NULL;
    if (len > lim.max_bytes || len >= UINT32_MAX) {
        set_err(err, errlen, "document of %zu bytes exceeds the limit of %zu", len, lim.max_bytes);
        return SILK_HTML_ETOOLARGE;
    }
    /* Prescan ceiling: generous (it may overestimate), but low enough that
     * gumbo's superlinear cost stays in tens of milliseconds. */
    if (prescan_too_deep(text, len, lim.max_depth * 4)) {
        set_err(err, errlen, "elements nested deeper than %d", lim.max_depth);
        return SILK_HTML_ETOOLARGE;
    }
    jmp_buf escape;
    arena a = {0};
    /* The default ceiling, 32x the input plus 16 MiB: real pages take
     * 5-18x their size (text 5x, tables 6x, a shop's product grid 17x, a
     * list of links 18x, bare short links 30x); gumbo spends some 250
     * bytes on every element, so only floods of tiny tags (<p><p>..., 65x;
     * <br>, <li>, 47x) go past it. */
    a.limit = lim.max_arena ? lim.max_arena : 32 * len + (16u << 20);
    a.escape = &escape;
    silk_html_doc *volatile d = NULL;
    if (setjmp(escape)) {
        /* The arena is `a` until the document holds it, then d->mem. */
        arena tmp = d ? d->mem : a;
        int code = tmp.failed;
        arena_release(&tmp);
        if (code == SILK_HTML_ENOMEM)
            set_err(err, errlen, "out of memory parsing %zu bytes", len);
        else
            set_err(err, errlen, "document of %zu bytes needs more than %zu bytes of memory", len, tmp.limit);
        return code;
    }
    d = arena_alloc(&a, sizeof *d);
    d->mem = a;                /* from here on every byte comes from d->mem */
    char *src = arena_alloc(&d->mem, len + 1);
    memcpy(src, text, len);
    src[len] = '\0';
    d->magic = DOC_MAGIC;
    d->src = src;
    d->len = len;
    d->url = NULL;
    d->base = NULL;

    GumboOptions opt = kGumboDefaultOptions;
    opt.allocator = arena_alloc;
    opt.deallocator = arena_dealloc;
    opt.userdata = &d->mem;
    /* Each recorded error copies the stack of open elements (O(n^2) memory
     * on deep pages) and nobody reads them: record none. */
    opt.max_errors = 0;
    d->out = gumbo_parse_with_options(&opt, src, len);

    const char *base_href;
    int depth = post_pass(d, lim.max_depth, &base_href);
    if (depth > lim.max_depth) {
        arena tmp = d->mem;
        arena_release(&tmp);
        set_err(err, errlen, "elements nested deeper than %d", lim.max_depth);
        return SILK_HTML_ETOOLARGE;
    }
    index_tags(d);
    if (base_url)
        d->url = arena_strdup(&d->mem, base_url);
    char buf[SILK_HTML_URL_MAX];
    if (base_href && silk_html_resolve(base_url, base_href, buf, sizeof buf))
        d->base = arena_strdup(&d->mem, buf);
    else
        d->base = d->url;
    d->mem.escape = NULL;      /* no allocation may happen after this */
    *out = d;
    return SILK_HTML_OK;
}

int silk_html_parse(const char *text, size_t len, const char *base_url,
                    const silk_html_limits *lim, silk_html_doc **out,
                    char *err, size_t errlen)
{
    int rc = silk_html_parse_uncounted(text, len, base_url, lim, out, err, errlen);
    if (rc == SILK_HTML_OK)
        silk_track_acquire(SILK_RES_DOCUMENT);
    return rc;
}

void silk_html_free_uncounted(silk_html_doc *d)
{
    arena a = d->mem;          /* d lives in the arena */
    d->magic = 0;
    arena_release(&a);
}

void silk_html_free(silk_html_doc *d)
{
    if (!d)
        return;
    if (d->magic != DOC_MAGIC)
        abort();               /* double free or a stray pointer */
    silk_html_free_uncounted(d);
    silk_track_release(SILK_RES_DOCUMENT);
}

const silk_node *silk_html_root(const silk_html_doc *d)
{
    return d->out->document;
}

const silk_node *silk_html_document_element(const silk_html_doc *d)
{
    return d->out->root;
}

const silk_node *const *silk_html_tagged(const silk_html_doc *d, int tag, size_t *n)
{
    if (tag < 0 || tag >= GUMBO_TAG_UNKNOWN) {
        *n = 0;
        return NULL;
    }
    *n = d->tags.start[tag + 1] - d->tags.start[tag];
    return d->tags.el + d->tags.start[tag];
}

int silk_html_quirks(const silk_html_doc *d)
{
    return d->out->document->v.document.doc_type_quirks_mode == GUMBO_DOCTYPE_QUIRKS;
}

const char *silk_html_base(const silk_html_doc *d)
{
    return d->base;
}

const char *silk_html_url(const silk_html_doc *d)
{
    return d->url;
}

size_t silk_html_input_size(const silk_html_doc *d)
{
    return d->len;
}

size_t silk_html_arena_size(const silk_html_doc *d)
{
    return d->mem.total;
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                     */
/* ------------------------------------------------------------------------ */

int silk_node_is_element(const silk_node *n)
{
    return is_elem(n);
}

const char *silk_node_tag(const silk_node *n, char *buf, size_t size)
{
    if (!is_elem(n) || !size)
        return "";
    const GumboElement *e = &n->v.element;
    if (e->tag != GUMBO_TAG_UNKNOWN && e->tag_namespace != GUMBO_NAMESPACE_SVG)
        return gumbo_normalized_tagname(e->tag);
    GumboStringPiece name = e->original_tag;
    gumbo_tag_from_original_text(&name);
    if (e->tag_namespace == GUMBO_NAMESPACE_SVG) {
        const char *svg = gumbo_normalize_svg_tagname(&name);
        if (svg)
            return svg;
        if (e->tag != GUMBO_TAG_UNKNOWN)
            return gumbo_normalized_tagname(e->tag);
    }
    size_t k = name.length < size - 1 ? name.length : size - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = (char)tolower((unsigned char)name.data[i]);
    buf[k] = '\0';
    return buf;
}

const char *silk_node_attr(const silk_node *n, const char *name)
{
    if (!is_elem(n))
        return NULL;
    GumboAttribute *a = gumbo_get_attribute(&n->v.element.attributes, name);
    return a ? a->value : NULL;
}

int silk_node_nattrs(const silk_node *n)
{
    return is_elem(n) ? (int)n->v.element.attributes.length : 0;
}

void silk_node_attr_at(const silk_node *n, int i, const char **name, const char **value)
{
    const GumboAttribute *a = n->v.element.attributes.data[i];
    *name = a->name;
    *value = a->value;
}

const silk_node *silk_node_parent(const silk_node *n)
{
    const GumboNode *p = n->parent;
    return p && is_elem(p) ? p : NULL;
}

static const silk_node *elem_from(const GumboVector *v, unsigned i, int step)
{
    for (; i < v->length; i += (unsigned)step) {
        const GumboNode *c = v->data[i];
        if (is_elem(c))
            return c;
        if (step < 0 && i == 0)
            break;
    }
    return NULL;
}

const silk_node *silk_node_first_child(const silk_node *n)
{
    const GumboVector *v = kids(n);
    return v ? elem_from(v, 0, 1) : NULL;
}

const silk_node *silk_node_next(const silk_node *n)
{
    if (!n->parent)
        return NULL;
    return elem_from(kids(n->parent), n->index_within_parent + 1, 1);
}

const silk_node *silk_node_prev(const silk_node *n)
{
    if (!n->parent || n->index_within_parent == 0)
        return NULL;
    return elem_from(kids(n->parent), n->index_within_parent - 1, -1);
}

/* ------------------------------------------------------------------------ */
/* Text (HTML Standard: the innerText getter)                                */
/* ------------------------------------------------------------------------ */

/*
 * Readable text is the innerText getter's "rendered text collection steps"
 * with the default style sheet's `display` values (as Chromium ships them)
 * standing in for layout: author CSS is never read. Each element plays one
 * role in the text.
 */
typedef enum text_role {
    ROLE_INLINE,    /* adds nothing: "Hel<b>lo</b>" reads "Hello" */
    ROLE_BLOCK,     /* block-level: a required line break before and after */
    ROLE_PARA,      /* <p>: two required line breaks */
    ROLE_PRE,       /* block-level, white space kept inside (pre, listing, xmp) */
    ROLE_BR,        /* a line break */
    ROLE_CELL,      /* a tab after it unless it is its row's last cell */
    ROLE_ROW,       /* a line break after it unless it is its table's last row */
    ROLE_ATOMIC,    /* takes room on its line; its children are not rendered */
    ROLE_IBLOCK,    /* inline-block: a line of its own inside its line (button) */
    ROLE_QUOTE,     /* <q>: its quotation marks are content (generated, not text) */
    ROLE_NONE,      /* display: none, so neither it nor its descendants show */
} text_role;

/* White space that CSS `white-space: normal` collapses (a form feed is not).
 * A table: the text walk asks for every byte of a page. */
static const unsigned char collapsible[256] = {['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1};

static int is_collapsible(char c)
{
    return collapsible[(unsigned char)c];
}

/* The value of an HTML element's attribute `name` (lowercase), or NULL.
 * The tokenizer lowercases attribute names, so this compares bytes: the
 * text walk asks on every element, where gumbo_get_attribute's
 * case-insensitive compare would dominate. */
static const char *html_attr(const GumboNode *n, const char *name)
{
    const GumboVector *v = &n->v.element.attributes;
    for (unsigned i = 0; i < v->length; i++) {
        const GumboAttribute *a = v->data[i];
        if (a->name[0] == name[0] && !strcmp(a->name, name))
            return a->value;
    }
    return NULL;
}

/* dialog and search are unknown to gumbo 0.10.1: read their names. */
static text_role role_unknown(const GumboNode *n)
{
    GumboStringPiece name = n->v.element.original_tag;
    gumbo_tag_from_original_text(&name);
    if (name.length == 6 && ascii_ieq_n(name.data, "dialog", 6))
        return html_attr(n, "open") ? ROLE_BLOCK : ROLE_NONE;
    if (name.length == 6 && ascii_ieq_n(name.data, "search", 6))
        return ROLE_BLOCK;
    return ROLE_INLINE;
}

static text_role role_by_tag(const GumboNode *n)
{
    switch (n->v.element.tag) {
    case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE: case GUMBO_TAG_BASE: case GUMBO_TAG_LINK:
    case GUMBO_TAG_META: case GUMBO_TAG_STYLE: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_AREA: case GUMBO_TAG_DATALIST:
    case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_PARAM: case GUMBO_TAG_RP:
    case GUMBO_TAG_BASEFONT: case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK:
        return ROLE_NONE;      /* noscript: scripting is on, as in a browser */
    case GUMBO_TAG_HTML: case GUMBO_TAG_BODY: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_CENTER: case GUMBO_TAG_DD: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV: case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_H1: case GUMBO_TAG_H2:
    case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER: case GUMBO_TAG_HGROUP: case GUMBO_TAG_HR: case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_LI: case GUMBO_TAG_MAIN: case GUMBO_TAG_MENU: case GUMBO_TAG_NAV:
    case GUMBO_TAG_OL: case GUMBO_TAG_OPTGROUP: case GUMBO_TAG_OPTION:
    case GUMBO_TAG_SECTION: case GUMBO_TAG_SELECT: case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE: case GUMBO_TAG_UL:
        return ROLE_BLOCK;     /* select: Chromium reads its options as blocks */
    case GUMBO_TAG_P:
        return ROLE_PARA;
    case GUMBO_TAG_PRE: case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
        return ROLE_PRE;
    case GUMBO_TAG_BR:
        return ROLE_BR;
    case GUMBO_TAG_TD: case GUMBO_TAG_TH:
        return ROLE_CELL;
    case GUMBO_TAG_TR:
        return ROLE_ROW;
    case GUMBO_TAG_IMG: case GUMBO_TAG_IFRAME: case GUMBO_TAG_EMBED: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_VIDEO: case GUMBO_TAG_CANVAS: case GUMBO_TAG_INPUT: case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_METER: case GUMBO_TAG_PROGRESS: case GUMBO_TAG_KEYGEN: case GUMBO_TAG_APPLET:
        return ROLE_ATOMIC;
    case GUMBO_TAG_AUDIO:      /* display: none without controls */
        return html_attr(n, "controls") ? ROLE_ATOMIC : ROLE_NONE;
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_MARQUEE:
        return ROLE_IBLOCK;
    case GUMBO_TAG_Q:
        return ROLE_QUOTE;
    case GUMBO_TAG_UNKNOWN:
        return role_unknown(n);
    default:
        return ROLE_INLINE;
    }
}

/* An element's role by its tag; foreign (SVG, MathML) elements are
 * inline. */
static text_role role_tag(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_TEMPLATE)
        return ROLE_NONE;
    if (n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
        return ROLE_INLINE;
    return role_by_tag(n);
}

/* An element's role, with the UA style sheet's attribute rules: [hidden]
 * and input[type=hidden] are display: none. */
static text_role role_of(const GumboNode *n)
{
    text_role r = role_tag(n);
    if (r == ROLE_NONE || n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML ||
        !n->v.element.attributes.length)
        return r;
    if (html_attr(n, "hidden"))
        return ROLE_NONE;
    if (n->v.element.tag == GUMBO_TAG_INPUT) {
        const char *type = html_attr(n, "type");
        if (type && !strcasecmp(type, "hidden"))
            return ROLE_NONE;
    }
    return r;
}

/* 1 when n (element or text) is content of a closed <details> that is not
 * its summary: only the first summary child of a closed details renders. */
static inline int in_closed_details(const GumboNode *n)
{
    const GumboNode *p = n->parent;
    if (!p || p->type != GUMBO_NODE_ELEMENT || p->v.element.tag != GUMBO_TAG_DETAILS ||
        p->v.element.tag_namespace != GUMBO_NAMESPACE_HTML || html_attr(p, "open"))
        return 0;
    if (!is_html(n, GUMBO_TAG_SUMMARY))
        return 1;
    const GumboVector *v = kids(p);
    for (unsigned i = 0; i < n->index_within_parent; i++)
        if (is_html(v->data[i], GUMBO_TAG_SUMMARY))
            return 1;
    return 0;
}

/* The role of an element where it stands in the tree. */
static text_role role_here(const GumboNode *n)
{
    return in_closed_details(n) ? ROLE_NONE : role_of(n);
}

/* 1 when a sibling after n renders with role r. */
static int role_follows(const GumboNode *n, text_role r)
{
    const GumboVector *v = kids(n->parent);
    for (unsigned i = n->index_within_parent + 1; i < v->length; i++)
        if (is_elem(v->data[i]) && role_here(v->data[i]) == r)
            return 1;
    return 0;
}

static int is_row_group(const GumboNode *n)
{
    return is_html(n, GUMBO_TAG_TBODY) || is_html(n, GUMBO_TAG_THEAD) ||
           is_html(n, GUMBO_TAG_TFOOT);
}

/* 1 when a rendered row follows row n in its table, in a later row group
 * too. */
static int row_follows(const GumboNode *n)
{
    if (role_follows(n, ROLE_ROW))
        return 1;
    const GumboNode *g = n->parent;
    if (!is_row_group(g))
        return 0;
    const GumboVector *v = kids(g->parent);
    for (unsigned i = g->index_within_parent + 1; i < v->length; i++) {
        const GumboNode *s = v->data[i];
        if (!is_row_group(s) || role_of(s) == ROLE_NONE)
            continue;
        const GumboVector *rows = kids(s);
        for (unsigned k = 0; k < rows->length; k++)
            if (is_elem(rows->data[k]) && role_of(rows->data[k]) == ROLE_ROW)
                return 1;
    }
    return 0;
}

static int is_textual(const GumboNode *n)
{
    return n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE ||
           n->type == GUMBO_NODE_CDATA;
}

/*
 * The output side builds innerText: collapsible spaces wait in `space` and
 * are written only when content follows on the same line; required line
 * breaks wait in `breaks` (a run of them gives the largest count) and are
 * written only between pieces of content, never at the ends.
 *
 * The single-line form is that output with every run of white space made
 * one space and none at the ends: whatever waits before a word becomes one
 * pending separator (`line`), and kept white space (pre, a <br>, a tab) is
 * scanned into words and separators.
 */
typedef struct text_line {
    int any;        /* a word was written */
    int sep;        /* a separator waits for the next word */
} text_line;

typedef struct text_out {
    silk_html_sink sink;
    void *ud;
    const GumboNode *root;
    text_line *line;   /* the single-line form, else NULL */
    int pre;        /* > 0: white space is kept (inside pre, or textContent) */
    int started;    /* something was written */
    int breaks;     /* required line breaks pending */
    int space;      /* a collapsible space is pending */
    int inline_;    /* the current line has content: white space is a space */
} text_out;

/* Content follows: write what waits before it. */
static void out_pending(text_out *t)
{
    if (t->line) {
        if (t->breaks || t->space)
            t->line->sep = 1;
    } else {
        if (t->breaks && t->started)
            t->sink(t->ud, "\n\n", (size_t)t->breaks);
        if (t->space) {
            t->sink(t->ud, " ", 1);
            t->started = 1;
        }
    }
    t->breaks = t->space = 0;
}

/* Writes s[0..n), which holds no collapsible white space. */
static void out_word(text_out *t, const char *s, size_t n)
{
    text_line *l = t->line;
    if (l) {
        if (l->sep && l->any)
            t->sink(t->ud, " ", 1);
        l->sep = 0;
        l->any = 1;
    }
    t->sink(t->ud, s, n);
}

/* Writes kept white space and what it separates. */
static void out_kept(text_out *t, const char *s, size_t n)
{
    if (!t->line) {
        t->sink(t->ud, s, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        if (is_collapsible(s[i])) {
            t->line->sep = 1;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_collapsible(s[j]))
            j++;
        out_word(t, s + i, j - i);
        i = j;
    }
}

static void out_text(text_out *t, const char *s, size_t n)
{
    if (t->pre) {
        if (n) {
            out_pending(t);
            out_kept(t, s, n);
            t->started = t->inline_ = 1;
        }
        return;
    }
    size_t i = 0;
    while (i < n) {
        if (is_collapsible(s[i])) {
            t->space = t->inline_;
            while (i < n && is_collapsible(s[i]))
                i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_collapsible(s[j]))
            j++;
        out_pending(t);
        out_word(t, s + i, j - i);
        t->started = t->inline_ = 1;
        i = j;
    }
}

/* A block boundary: `count` required line breaks; the line ends. */
static void out_break(text_out *t, int count)
{
    if (count > t->breaks)
        t->breaks = count;
    t->space = t->inline_ = 0;
}

/* A line break or tab of its own (<br>, between cells and rows): kept even
 * at the ends; the line ends before it. */
static void out_char(text_out *t, const char *c)
{
    t->space = 0;
    out_pending(t);
    out_kept(t, c, 1);
    t->started = 1;
    t->inline_ = 0;
}

/* Content without text (an image, a control): a space before it stays. */
static void out_atomic(text_out *t)
{
    if (t->space)
        out_pending(t);
    t->inline_ = 1;
}

/* A line inside the current one starts or ends (a cell, an inline-block):
 * white space at its ends is dropped. */
static void out_new_context(text_out *t)
{
    t->space = t->inline_ = 0;
}

/* Entering node n: returns 1 to walk its children. */
static int text_enter(void *ud, const GumboNode *n)
{
    text_out *t = ud;
    if (n == t->root)
        return 1;
    if (!is_elem(n)) {
        if (is_textual(n) && !in_closed_details(n))
            out_text(t, n->v.text.text, strlen(n->v.text.text));
        return 0;
    }
    switch (role_here(n)) {
    case ROLE_NONE:
        return 0;
    case ROLE_ATOMIC:
        out_atomic(t);
        return 0;
    case ROLE_BR:
        out_char(t, "\n");
        return 0;
    case ROLE_PRE:
        t->pre++;
        out_break(t, 1);
        return 1;
    case ROLE_BLOCK:
        out_break(t, 1);
        return 1;
    case ROLE_PARA:
        out_break(t, 2);
        return 1;
    case ROLE_IBLOCK:
        out_atomic(t);
        out_new_context(t);
        return 1;
    case ROLE_QUOTE:
        out_atomic(t);
        return 1;
    case ROLE_CELL:
        out_new_context(t);
        return 1;
    default:
        return 1;
    }
}

/* Leaving element n, which text_enter entered. */
static void text_leave(void *ud, const GumboNode *n)
{
    text_out *t = ud;
    if (n == t->root)
        return;
    switch (role_tag(n)) {     /* entered, so not hidden by an attribute */
    case ROLE_PRE:
        t->pre--;
        out_break(t, 1);
        break;
    case ROLE_BLOCK:
        out_break(t, 1);
        break;
    case ROLE_PARA:
        out_break(t, 2);
        break;
    case ROLE_IBLOCK:
        out_new_context(t);
        t->inline_ = 1;
        break;
    case ROLE_QUOTE:
        out_atomic(t);
        break;
    case ROLE_CELL:
        out_new_context(t);
        if (role_follows(n, ROLE_CELL))
            out_char(t, "\t");
        break;
    case ROLE_ROW:
        if (row_follows(n))
            out_char(t, "\n");
        break;
    default:
        break;
    }
}

/* How root renders. The outermost reason decides:
 * TEXT_CONTENT when an ancestor-or-self is display: none or the child of a
 *   replaced element or control (it has no box: innerText is textContent);
 * TEXT_EMPTY when it is (inside) the hidden content of a closed <details>
 *   that renders (Chromium gives it a box whose content is skipped), or a
 *   replaced element or control itself (its children do not render), but
 *   a <textarea>, whose text is its value and given as textContent;
 * TEXT_SHOWN otherwise. Sets *pre when its content keeps white space. */
enum { TEXT_SHOWN, TEXT_CONTENT, TEXT_EMPTY };

static int text_rendered(const GumboNode *root, int *pre)
{
    int how = TEXT_SHOWN;
    *pre = 0;
    if (!is_elem(root))
        return root->type == GUMBO_NODE_DOCUMENT ? TEXT_SHOWN : TEXT_CONTENT;
    if (role_of(root) == ROLE_ATOMIC)
        how = is_html(root, GUMBO_TAG_TEXTAREA) ? TEXT_CONTENT : TEXT_EMPTY;
    for (const GumboNode *n = root; n->type != GUMBO_NODE_DOCUMENT; n = n->parent) {
        text_role r = role_of(n);
        if (r == ROLE_NONE || (r == ROLE_ATOMIC && n != root))
            how = TEXT_CONTENT;
        else if (in_closed_details(n))
            how = TEXT_EMPTY;
        else if (r == ROLE_PRE)
            *pre = 1;
    }
    return how;
}

/* Whether a text node has content (more than collapsible white space),
 * and whether its first (dir > 0) or last (dir < 0) character is white
 * space. */
static int text_has_content(const GumboNode *n, int dir, int *space_at_edge)
{
    const char *s = n->v.text.text;
    size_t len = strlen(s), i;
    for (i = 0; i < len && is_collapsible(s[i]); i++)
        ;
    *space_at_edge = len && is_collapsible(dir > 0 ? s[0] : s[len - 1]);
    return i < len;
}

/*
 * Whether the white space at one end of an inline root survives: innerText
 * keeps a space between the root and content on the same line outside it
 * (`<p><span>a </span>b</p>`: the span reads "a "), and drops it at a line's
 * start or end, and at the start after another collapsible space (the later
 * of two collapses). Scans from the root outwards (dir -1 backwards, +1
 * forwards) to the first content or line boundary, descending into inline
 * elements.
 */
static int space_kept(const GumboNode *root, int dir)
{
    const GumboNode *n = root, *anc = root;  /* the root's ancestor-or-self reached */
    int spaced = 0;            /* white space lies between (dir < 0) */
    for (;;) {
        const GumboNode *p = n->parent;
        const GumboVector *v = p ? kids(p) : NULL;
        long i = p ? (long)n->index_within_parent + dir : -1;
        if (!p || i < 0 || i >= (long)v->length) {
            if (!p || p->type == GUMBO_NODE_DOCUMENT)
                return 0;
            if (p == anc->parent) { /* leaving one of the root's ancestors */
                text_role r = role_of(p);
                if (r == ROLE_QUOTE)   /* its quotation mark is content */
                    return dir > 0 || !spaced;
                if (r != ROLE_INLINE)
                    return 0;
                anc = p;
            }
            n = p;
            continue;
        }
        n = v->data[i];
        while (is_elem(n)) {       /* into inline elements, nearest end first */
            text_role r = role_here(n);
            if (r == ROLE_ATOMIC || r == ROLE_IBLOCK || r == ROLE_QUOTE)
                return dir > 0 || !spaced;
            if (r != ROLE_INLINE) {
                if (r == ROLE_NONE)
                    break;
                return 0;
            }
            const GumboVector *c = kids(n);
            if (!c->length)
                break;
            n = c->data[dir < 0 ? c->length - 1 : 0];
        }
        if (is_textual(n) && !in_closed_details(n)) {
            int edge;
            if (text_has_content(n, dir, &edge))
                return dir > 0 || !(spaced || edge);
            spaced |= edge;
        }
    }
}

/* textContent: every text node in order, template contents left out (they
 * are not children in the DOM, a template's own included). */
static void text_content(const GumboNode *root, text_out *t)
{
    for (const GumboNode *n = root; n;) {
        if (is_textual(n))
            out_text(t, n->v.text.text, strlen(n->v.text.text));
        n = walk_next(n, root, n->type == GUMBO_NODE_TEMPLATE);
    }
}

void silk_html_text(const silk_node *root, int form, silk_html_sink sink, void *ud)
{
    text_line line = {0, 0};
    text_out t = {sink, ud, root, form == SILK_TEXT_LINE ? &line : NULL, 0, 0, 0, 0, 0};
    int pre = 0, how = form == SILK_TEXT_RAW ? TEXT_CONTENT : text_rendered(root, &pre);
    if (how == TEXT_EMPTY)
        return;
    if (how == TEXT_CONTENT) {
        t.pre = 1;             /* innerText of what has no box is textContent */
        text_content(root, &t);
        return;
    }
    t.pre = pre;
    /* The spaces at an inline root's ends depend on its line; the single
     * line form trims them anyway. */
    text_role root_role = is_elem(root) ? role_of(root) : ROLE_BLOCK;
    int inline_root = form == SILK_TEXT_LINES && root_role == ROLE_INLINE && !pre;
    if (inline_root)
        t.inline_ = space_kept(root, -1);
    else if (root_role == ROLE_QUOTE)
        t.inline_ = 1;         /* its own quotation marks surround it */
    walk_tree(root, text_enter, text_leave, &t);
    if (t.space && (root_role == ROLE_QUOTE || (inline_root && space_kept(root, 1))))
        out_pending(&t);
}

/* ------------------------------------------------------------------------ */
/* Serialisation (HTML standard, "serializing HTML fragments")              */
/* ------------------------------------------------------------------------ */

static int is_void(const GumboNode *n)
{
    if (n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
        return 0;
    switch (n->v.element.tag) {
    case GUMBO_TAG_AREA: case GUMBO_TAG_BASE: case GUMBO_TAG_BASEFONT:
    case GUMBO_TAG_BGSOUND: case GUMBO_TAG_BR: case GUMBO_TAG_COL: case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FRAME: case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_KEYGEN: case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK: case GUMBO_TAG_WBR:
        return 1;
    default:
        return 0;
    }
}

static int is_rawtext_parent(const GumboNode *p)
{
    if (!p || !is_elem(p) || p->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
        return 0;
    switch (p->v.element.tag) {
    case GUMBO_TAG_STYLE: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_XMP: case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_NOSCRIPT:
        return 1;
    default:
        return 0;
    }
}

static void escape_put(silk_html_sink sink, void *ud, const char *s, int attr)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        size_t skip = 1;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '"': if (attr) rep = "&quot;"; break;
        case '<': if (!attr) rep = "&lt;"; break;
        case '>': if (!attr) rep = "&gt;"; break;
        case '\xc2': if ((unsigned char)s[1] == 0xa0) { rep = "&nbsp;"; skip = 2; } break;
        default: break;
        }
        if (rep) {
            if (s > run)
                sink(ud, run, (size_t)(s - run));
            sink(ud, rep, strlen(rep));
            s += skip - 1;
            run = s + 1;
        }
    }
    if (s > run)
        sink(ud, run, (size_t)(s - run));
}

static void put_str(silk_html_sink sink, void *ud, const char *s)
{
    sink(ud, s, strlen(s));
}

static void open_tag(const GumboNode *n, silk_html_sink sink, void *ud)
{
    char buf[128];
    sink(ud, "<", 1);
    put_str(sink, ud, silk_node_tag(n, buf, sizeof buf));
    const GumboVector *av = &n->v.element.attributes;
    for (unsigned i = 0; i < av->length; i++) {
        const GumboAttribute *a = av->data[i];
        sink(ud, " ", 1);
        switch (a->attr_namespace) {
        case GUMBO_ATTR_NAMESPACE_XLINK: put_str(sink, ud, "xlink:"); break;
        case GUMBO_ATTR_NAMESPACE_XML: put_str(sink, ud, "xml:"); break;
        case GUMBO_ATTR_NAMESPACE_XMLNS:
            if (strcmp(a->name, "xmlns"))
                put_str(sink, ud, "xmlns:");
            break;
        default: break;
        }
        const char *name = a->name;
        const char *colon = a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE ? strchr(name, ':') : NULL;
        put_str(sink, ud, colon ? colon + 1 : name);
        sink(ud, "=\"", 2);
        escape_put(sink, ud, a->value, 1);
        sink(ud, "\"", 1);
    }
    sink(ud, ">", 1);
}

static void close_tag(const GumboNode *n, silk_html_sink sink, void *ud)
{
    char buf[128];
    sink(ud, "</", 2);
    put_str(sink, ud, silk_node_tag(n, buf, sizeof buf));
    sink(ud, ">", 1);
}

static void leaf_put(const GumboNode *n, silk_html_sink sink, void *ud)
{
    switch (n->type) {
    case GUMBO_NODE_TEXT: case GUMBO_NODE_WHITESPACE:
        if (is_rawtext_parent(n->parent))
            put_str(sink, ud, n->v.text.text);
        else
            escape_put(sink, ud, n->v.text.text, 0);
        break;
    case GUMBO_NODE_CDATA:
        put_str(sink, ud, "<![CDATA[");
        put_str(sink, ud, n->v.text.text);
        put_str(sink, ud, "]]>");
        break;
    case GUMBO_NODE_COMMENT:
        put_str(sink, ud, "<!--");
        put_str(sink, ud, n->v.text.text);
        put_str(sink, ud, "-->");
        break;
    default:
        break;
    }
}

typedef struct serial {
    silk_html_sink sink;
    void *ud;
    const GumboNode *root;
    int outer;                 /* the root's own tags too */
} serial;

static int serial_enter(void *ud, const GumboNode *n)
{
    serial *c = ud;
    if (is_elem(n)) {
        if (n != c->root || c->outer)
            open_tag(n, c->sink, c->ud);
        return !is_void(n);    /* a void element has no end tag */
    }
    if (n != c->root)
        leaf_put(n, c->sink, c->ud);
    return n == c->root;       /* the document */
}

static void serial_leave(void *ud, const GumboNode *n)
{
    serial *c = ud;
    if (is_elem(n) && (n != c->root || c->outer))
        close_tag(n, c->sink, c->ud);
}

void silk_html_serialize(const silk_node *root, int outer, silk_html_sink sink, void *ud)
{
    if (!is_elem(root) && root->type != GUMBO_NODE_DOCUMENT) {
        leaf_put(root, sink, ud);
        return;
    }
    if (root->type == GUMBO_NODE_DOCUMENT && root->v.document.has_doctype) {
        put_str(sink, ud, "<!DOCTYPE ");
        put_str(sink, ud, root->v.document.name);
        sink(ud, ">", 1);
    }
    serial c = {sink, ud, root, outer};
    walk_tree(root, serial_enter, serial_leave, &c);
}

/* ------------------------------------------------------------------------ */
/* Page facts                                                                */
/* ------------------------------------------------------------------------ */

static const GumboNode *find_first(const silk_html_doc *d, GumboTag tag)
{
    const GumboNode *root = d->out->document;
    for (const GumboNode *n = root; n; n = walk_next(n, root, 0))
        if (is_html(n, tag))
            return n;
    return NULL;
}

int silk_html_title(const silk_html_doc *d, silk_html_sink sink, void *ud)
{
    const GumboNode *t = find_first(d, GUMBO_TAG_TITLE);
    if (!t)
        return 0;
    silk_html_text(t, SILK_TEXT_LINE, sink, ud);
    return 1;
}

/* ASCII whitespace (HTML's definition, for attribute values). */
static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* 1 when the whitespace/comma separated list `s` holds `tok` (ASCII
 * case-insensitive). */
static int has_token(const char *s, const char *tok)
{
    size_t tn = strlen(tok);
    while (s && *s) {
        while (*s && (is_ws(*s) || *s == ','))
            s++;
        const char *w = s;
        while (*s && !is_ws(*s) && *s != ',')
            s++;
        if ((size_t)(s - w) == tn && ascii_ieq_n(w, tok, tn))
            return 1;
    }
    return 0;
}

unsigned silk_html_meta_robots(const silk_html_doc *d)
{
    unsigned flags = 0;
    const GumboNode *root = d->out->document;
    for (const GumboNode *n = root; n; n = walk_next(n, root, 0)) {
        if (!is_html(n, GUMBO_TAG_META))
            continue;
        const char *name = silk_node_attr(n, "name");
        const char *content = silk_node_attr(n, "content");
        if (!name || !content || strcasecmp(name, "robots"))
            continue;
        if (has_token(content, "noindex") || has_token(content, "none"))
            flags |= SILK_ROBOTS_NOINDEX;
        if (has_token(content, "nofollow") || has_token(content, "none"))
            flags |= SILK_ROBOTS_NOFOLLOW;
    }
    return flags;
}

int silk_html_canonical(const silk_html_doc *d, char *buf, size_t size)
{
    const GumboNode *root = d->out->document;
    for (const GumboNode *n = root; n; n = walk_next(n, root, 0)) {
        if (!is_html(n, GUMBO_TAG_LINK))
            continue;
        const char *rel = silk_node_attr(n, "rel");
        const char *href = silk_node_attr(n, "href");
        if (rel && href && has_token(rel, "canonical"))
            return silk_html_resolve(d->base, href, buf, size);
    }
    return 0;
}

/* Links are joined and canonicalised by url.c (WHATWG rules over curl_url);
 * the result is copied to the caller's buffer so that nothing malloc'd is
 * held when a sink runs. */
int silk_html_resolve(const char *base, const char *href, char *buf, size_t size)
{
    char *joined = NULL, *canon = NULL;
    int ok = 0;
    if (silk_url_join(base, href, &joined) == SILK_URL_OK &&
        silk_url_canonical(joined, 0, &canon) == SILK_URL_OK) {
        size_t n = strlen(canon);
        if (n < size) {
            memcpy(buf, canon, n + 1);
            ok = 1;
        }
    }
    free(joined);
    free(canon);
    return ok;
}

static void emit_link(const silk_html_doc *d, const GumboNode *n, const char *href,
                      int nofollow, silk_html_link_fn fn, void *ud)
{
    char buf[SILK_HTML_URL_MAX];
    if (!silk_html_resolve(d->base, href, buf, sizeof buf))
        return;
    silk_html_link l = {buf, nofollow, n};
    fn(ud, &l);
}

/* srcset: "url [descriptor], url [descriptor]" (HTML "parse a srcset
 * attribute", without validating descriptors). */
static void emit_srcset(const silk_html_doc *d, const GumboNode *node, const char *s,
                        int nofollow, silk_html_link_fn fn, void *ud)
{
    char url[SILK_HTML_URL_MAX];
    while (*s) {
        while (*s && (is_ws(*s) || *s == ','))
            s++;
        const char *u = s;
        while (*s && !is_ws(*s))
            s++;
        size_t n = (size_t)(s - u);
        int had_comma = 0;
        while (n && u[n - 1] == ',') {
            n--;
            had_comma = 1;
        }
        if (n && n < sizeof url) {
            memcpy(url, u, n);
            url[n] = '\0';
            emit_link(d, node, url, nofollow, fn, ud);
        }
        if (had_comma)
            continue;
        /* Skip descriptors up to a comma outside parentheses. */
        int paren = 0;
        while (*s && (paren || *s != ',')) {
            if (*s == '(')
                paren = 1;
            else if (*s == ')')
                paren = 0;
            s++;
        }
    }
}

void silk_html_links(const silk_html_doc *d, unsigned kinds, silk_html_link_fn fn, void *ud)
{
    if (!kinds)
        kinds = SILK_LINKS_A;
    int all_nofollow = (silk_html_meta_robots(d) & SILK_ROBOTS_NOFOLLOW) != 0;
    const GumboNode *root = d->out->document;
    for (const GumboNode *n = root; n; n = walk_next(n, root, 0)) {
        if (!is_elem(n) || n->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
            continue;
        const char *attr = NULL, *srcset = NULL;
        switch (n->v.element.tag) {
        case GUMBO_TAG_A: case GUMBO_TAG_AREA:
            if (kinds & SILK_LINKS_A)
                attr = "href";
            break;
        case GUMBO_TAG_LINK:
            if (kinds & SILK_LINKS_LINK)
                attr = "href";
            break;
        case GUMBO_TAG_IMG:
            if (kinds & SILK_LINKS_IMG) {
                attr = "src";
                srcset = silk_node_attr(n, "srcset");
            }
            break;
        case GUMBO_TAG_SOURCE:
            if (kinds & SILK_LINKS_IMG)
                srcset = silk_node_attr(n, "srcset");
            break;
        case GUMBO_TAG_IFRAME: case GUMBO_TAG_FRAME:
            if (kinds & SILK_LINKS_IFRAME)
                attr = "src";
            break;
        default:
            break;
        }
        const char *href = attr ? silk_node_attr(n, attr) : NULL;
        if (!href && !srcset)
            continue;
        const char *rel = silk_node_attr(n, "rel");
        int nofollow = all_nofollow || (rel && has_token(rel, "nofollow"));
        if (href)
            emit_link(d, n, href, nofollow, fn, ud);
        if (srcset)
            emit_srcset(d, n, srcset, nofollow, fn, ud);
    }
}
