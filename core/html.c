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
