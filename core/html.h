/*
 * html.h -- HTML documents: parsing with gumbo, the tree, text, links.
 *
 * This module (html.c, html_text.c, html_pool.c) and select.c are the only
 * code that talks to gumbo. A document owns everything it points to: a copy
 * of the input (gumbo's tree points into it), the gumbo tree, and every byte
 * gumbo allocated, all in one per-document arena that is released whole by
 * silk_html_free() (gumbo_destroy_output is never called). Arena chunks are
 * recycled through a bounded process-wide cache (8 MiB), so memory a worker
 * allocated and the loop freed is reused rather than trimmed and faulted in
 * again; past its first 8 MiB a document takes mappings of its own, returned
 * to the system when it is freed. Nodes (silk_node) are borrowed pointers
 * into a document and die with it.
 *
 * Who calls it: lapi_html.c (the Lua binding) on the loop thread, and this
 * module's own worker threads (parse jobs, below). Parsing touches no global
 * state but the chunk cache (behind a mutex), so any thread may parse; everything else (tree access, freeing,
 * resource counts) happens on the loop thread.
 *
 * Hostile input: the input size is capped, nesting depth is checked with a
 * cheap pre-scan before gumbo runs (deep nesting is superlinear in gumbo) and
 * again on the finished tree, and the arena has a byte ceiling that it leaves
 * with longjmp (gumbo does not check its allocator's result). Every limit
 * gives SILK_HTML_ETOOLARGE with a message, never a crash.
 *
 * Walks are iterative (parent pointers), and text/serialisation/link output
 * goes through caller-supplied sinks, so nothing here allocates while a sink
 * runs: a sink may raise a Lua error without leaking.
 */
#ifndef SILK_HTML_H
#define SILK_HTML_H

#include <stddef.h>

struct ev_loop;

/* A node of a document's tree (gumbo's GumboNode; opaque outside html.c and
 * select.c). Borrowed: valid until its document is freed. */
typedef struct GumboInternalNode silk_node;
typedef struct silk_html_doc silk_html_doc;

/* Error codes (0 = success). */
enum {
    SILK_HTML_OK = 0,
    SILK_HTML_ETOOLARGE = -1,  /* input, nesting or memory over a limit */
    SILK_HTML_ENOMEM = -2,     /* malloc failed */
    SILK_HTML_ECANCELLED = -3, /* a parse job abandoned (shutdown) */
};

typedef struct silk_html_limits {
    size_t max_bytes;      /* input larger than this is refused (default 32 MiB) */
    int max_depth;         /* deeper element nesting is refused (default 1024) */
    size_t max_arena;      /* memory ceiling per document (0: 32 x input + 16 MiB),
                            * counted in whole arena chunks (64 KiB, 1 MiB
                            * mappings past 8 MiB) */
} silk_html_limits;

void silk_html_limits_default(silk_html_limits *lim);

/* Parses `len` bytes of UTF-8 `text` (copied; the caller keeps its buffer).
 * `base_url` (may be NULL) is the document's URL; a <base href> in the page
 * is resolved against it to give the base for links. On success stores a new
 * document in *out (the caller owns it: silk_html_free) and returns 0; on
 * failure returns a SILK_HTML_E* code and writes a message to err. Counts a
 * SILK_RES_DOCUMENT. Loop thread only (because of the count). */
int silk_html_parse(const char *text, size_t len, const char *base_url,
                    const silk_html_limits *lim, silk_html_doc **out,
                    char *err, size_t errlen);

/* Releases the document and everything in it. NULL is ignored. */
void silk_html_free(silk_html_doc *doc);

/* The document node (root of doc:select), and the <html> element. */
const silk_node *silk_html_root(const silk_html_doc *doc);
const silk_node *silk_html_document_element(const silk_html_doc *doc);
/* The elements of tag `tag` (a GumboTag; for SVG and MathML elements, the
 * tag their name spells), in document order, template contents left out:
 * what a selector whose subject names that tag can match when it searches
 * from the document node. Sets *n to their number; none for
 * GUMBO_TAG_UNKNOWN or out of range. Owned by the document. */
const silk_node *const *silk_html_tagged(const silk_html_doc *doc, int tag, size_t *n);
/* 1 when the document is in quirks mode (selectors match class/id
 * case-insensitively then). */
int silk_html_quirks(const silk_html_doc *doc);
/* The base URL for links: <base href> resolved against the document URL,
 * else the document URL, else NULL. Owned by the document. */
const char *silk_html_base(const silk_html_doc *doc);
/* The document URL given to the parse (its base_url), or NULL. Owned by
 * the document. */
const char *silk_html_url(const silk_html_doc *doc);
/* Size of the input in bytes, and bytes the arena holds. */
size_t silk_html_input_size(const silk_html_doc *doc);
size_t silk_html_arena_size(const silk_html_doc *doc);

/* --- nodes ---------------------------------------------------------------- */

/* 1 for elements (including <template>), 0 for the document, text, etc. */
int silk_node_is_element(const silk_node *n);
/* The element's tag name as a NUL-terminated string: lowercase for HTML,
 * adjusted case for SVG (foreignObject). Written to buf (size >= 64 is
 * enough for known tags; longer custom names are truncated). */
const char *silk_node_tag(const silk_node *n, char *buf, size_t size);
/* The value of attribute `name` (matched ASCII case-insensitively) or NULL.
 * Owned by the document. */
const char *silk_node_attr(const silk_node *n, const char *name);
/* Number of attributes, and the i-th (0-based) name/value. */
int silk_node_nattrs(const silk_node *n);
void silk_node_attr_at(const silk_node *n, int i, const char **name, const char **value);
/* Element relatives; NULL when there is none. The parent of <html> is NULL
 * (the document node is not an element). */
const silk_node *silk_node_parent(const silk_node *n);
const silk_node *silk_node_first_child(const silk_node *n);  /* first element child */
const silk_node *silk_node_next(const silk_node *n);         /* next element sibling */
const silk_node *silk_node_prev(const silk_node *n);         /* previous element sibling */

/* A sink receives output in pieces. It may raise (longjmp): callers of the
 * functions below hold no heap memory while it runs. */
typedef void (*silk_html_sink)(void *ud, const char *s, size_t n);

/* The text of n's descendants (n itself if it is a text node), in one of
 * three forms:
 * SILK_TEXT_RAW: every text node as is, in order (the DOM's textContent:
 *   template contents are not children, a template's own included).
 * SILK_TEXT_LINES: the HTML Standard's innerText getter (rendered text
 *   collection steps), with the default style sheet's `display` values
 *   standing in for layout (author CSS is not read): inline elements add
 *   nothing ("Hel<b>lo</b>" is "Hello"), block-level boundaries give one
 *   required line break, <p> two, <br> a line break, table cells a tab and
 *   rows a line break between them; white space collapses as CSS
 *   `white-space: normal` (dropped at line starts and ends), kept in <pre>,
 *   <listing>, <xmp> and <plaintext>; what does not render is left out
 *   (script, style, template, noscript, head, [hidden], input[type=hidden],
 *   the content of a closed <details> but its summary, the children of
 *   images, controls and other replaced elements). An element without a
 *   box (title, script, anything under display: none) gives its
 *   textContent, as innerText does, and so does a <textarea> (its value);
 *   hidden content of a closed <details> and other replaced elements and
 *   controls give "", as in Chromium.
 * SILK_TEXT_LINE: the lines form on one line: every run of white space,
 *   line breaks and tabs is one space, and none leads or trails.
 * The walk is iterative and allocates nothing. */
enum { SILK_TEXT_LINE = 0, SILK_TEXT_RAW = 1, SILK_TEXT_LINES = 2 };
void silk_html_text(const silk_node *n, int form, silk_html_sink sink, void *ud);
/* HTML serialisation (the HTML standard's fragment serialisation
 * algorithm): outer = 1 includes n's own tags. */
void silk_html_serialize(const silk_node *n, int outer, silk_html_sink sink, void *ud);

/* --- page facts ----------------------------------------------------------- */

/* The text of the first <title> (collapsed and trimmed) through the sink;
 * returns 0 if there is no <title>. */
int silk_html_title(const silk_html_doc *doc, silk_html_sink sink, void *ud);

/* Link extraction. */
enum {
    SILK_LINKS_A = 1,          /* a[href], area[href] (the default) */
    SILK_LINKS_LINK = 2,       /* link[href] */
    SILK_LINKS_IMG = 4,        /* img[src] and srcset candidates (img, source) */
    SILK_LINKS_IFRAME = 8,     /* iframe[src], frame[src] */
};
#define SILK_HTML_URL_MAX 16384 /* longer resolved URLs are skipped */

typedef struct silk_html_link {
    const char *url;           /* absolute canonical http(s) URL (silk_url_canonical) */
    int nofollow;              /* rel contains nofollow (or meta robots nofollow) */
    const silk_node *node;     /* the element it came from */
} silk_html_link;

/* Calls `fn` for each link in document order (duplicates kept). Only links
 * resolving to http or https are reported: javascript:, mailto:, data:,
 * tel: and anything unresolvable are skipped. `link->url` lives in a stack
 * buffer valid during the call only; fn may raise (nothing is held). */
typedef void (*silk_html_link_fn)(void *ud, const silk_html_link *link);
void silk_html_links(const silk_html_doc *doc, unsigned kinds,
                     silk_html_link_fn fn, void *ud);

/* Every <meta name="robots" content> (name ASCII case-insensitive; "none"
 * means both): a mask of these flags, 0 when absent. */
enum { SILK_ROBOTS_NOINDEX = 1, SILK_ROBOTS_NOFOLLOW = 2 };
unsigned silk_html_meta_robots(const silk_html_doc *doc);

/* <link rel="canonical" href> resolved against the base, into buf.
 * Returns 1 if found and resolved, 0 otherwise. */
int silk_html_canonical(const silk_html_doc *doc, char *buf, size_t size);

/* Resolves href against base (may be NULL) into buf with url.c's
 * silk_url_join, then silk_url_canonical (fragment dropped). Returns 1 when
 * the result is an http(s) URL that fits in size, else 0. Thread-safe. */
int silk_html_resolve(const char *base, const char *href, char *buf, size_t size);

/* --- parsing off the loop ------------------------------------------------- */

/*
 * A pool of worker threads parses documents while the loop runs. The loop
 * thread creates jobs and submits them; a worker parses; the finished job
 * comes back through an ev_async and its `done` callback runs on the loop
 * thread, exactly once, never before silk_html_submit() returned. A job the
 * caller cancels never calls back. Workers run with every signal blocked
 * (SIGPROF of the preemption profiler in particular).
 */
typedef struct silk_html_pool silk_html_pool;
typedef struct silk_html_job silk_html_job;
typedef void (*silk_html_done_fn)(silk_html_job *job, void *ud);

/* Starts `nthreads` (1..8) workers reporting to `loop`. The pool keeps the
 * loop alive while jobs are pending, not when idle. NULL on failure. */
silk_html_pool *silk_html_pool_new(struct ev_loop *loop, int nthreads);
/* Stops and joins the workers, then frees every job still in the pool
 * without calling back. */
void silk_html_pool_free(silk_html_pool *pool);

/* Creates a job (copies text and base_url) and queues it. Counts a
 * SILK_RES_PARSE_JOB until the job is freed. NULL on allocation failure. */
silk_html_job *silk_html_submit(silk_html_pool *pool, const char *text, size_t len,
                                const char *base_url, const silk_html_limits *lim,
                                silk_html_done_fn done, void *ud);
/* As silk_html_submit, but the worker reads text in place (a page's
 * bytes, not copied once more): text must stay valid and unchanged until
 * the job calls release(release_ud), once, on the loop thread, when the job
 * is freed (by silk_html_job_free, by silk_html_cancel or after it, or by
 * silk_html_pool_free). NULL on allocation failure, release not called. */
typedef void (*silk_html_release_fn)(void *release_ud);
silk_html_job *silk_html_submit_borrowed(silk_html_pool *pool, const char *text, size_t len,
                                         const char *base_url, const silk_html_limits *lim,
                                         silk_html_done_fn done, void *ud,
                                         silk_html_release_fn release, void *release_ud);
/* Abandons a job that has not called back: a queued job is freed now, a
 * running one is freed when its worker finishes. */
void silk_html_cancel(silk_html_job *job);
/* In the done callback: the result. Returns 0 and moves the document to
 * *out (counted from now on, the caller owns it), or the error code with the
 * message in err. Then call silk_html_job_free(). */
int silk_html_job_result(silk_html_job *job, silk_html_doc **out, char *err, size_t errlen);
void silk_html_job_free(silk_html_job *job);

/* Jobs queued or running right now (for stats). */
int silk_html_pool_pending(silk_html_pool *pool);

/* Inputs smaller than this parse inline even when a pool is available:
 * below it the hand-off to a worker is a large share of the work, and the
 * inline parse holds the loop for less than a GC slice (figures in
 * bench/parse's results). */
#define SILK_HTML_INLINE_MAX 2048

#endif
