/*
 * select.h -- CSS selectors over gumbo's tree: compile once, match often.
 *
 * Supports Selectors Level 3 and, from Level 4, :is() :where() :not() with
 * selector lists, :has() with relative selectors, :nth-child(An+B of S),
 * the i/s attribute flags, :scope and :any-link, plus jQuery's :contains().
 * Matching follows the HTML standard's rules for HTML documents: tag and
 * attribute names are ASCII case-insensitive on HTML elements and exact on
 * SVG/MathML ones; the attribute values the HTML standard lists (type, rel,
 * lang, ...) compare case-insensitively on HTML elements; class and id
 * compare case-insensitively in quirks-mode documents only; :checked,
 * :disabled, :enabled and :link follow the standard's definitions on a
 * static document (no :hover, :focus, :visited, :target: they match
 * nothing); :checked on an option is its selectedness (a select without
 * multiple keeps only its last selected option, and with none and display
 * size 1 its first enabled option is selected). Known pseudo-elements
 * (::before, ::marker, ::-webkit-*, ...) are valid and match nothing, an
 * unknown one is a syntax error, as in querySelectorAll; Scrapy's ::text
 * and ::attr() and jQuery's :first, :eq() etc. are errors that say what to
 * use instead. Template contents are not searched (they are not the
 * template's children in the DOM).
 *
 * Searching from a node rather than the document makes a selector relative
 * to that node, as in jQuery and cheerio: node:select("div p") finds p
 * inside a div inside node, and a leading combinator ("> li", "+ p") anchors
 * at the node. A selector that names :scope is taken as written.
 *
 * Who calls it: lapi_html.c on the loop thread. Compiled selectors are
 * immutable, so any thread may match them.
 */
#ifndef SILK_SELECT_H
#define SILK_SELECT_H

#include <stddef.h>

#include "html.h"

typedef struct silk_sel silk_sel;

enum {
    SILK_SEL_OK = 0,
    SILK_SEL_ESYNTAX = -1,     /* invalid selector; message names it and the position */
    SILK_SEL_ENOMEM = -2,
};

/* Compiles `len` bytes of `src`. On success stores the selector in *out
 * (caller frees it with silk_sel_free) and returns 0; else returns an error
 * code and writes e.g. `invalid selector "div >" at position 6: expected a
 * selector after ">"` to err. Does not call back. */
int silk_sel_compile(const char *src, size_t len, silk_sel **out, char *err, size_t errlen);
void silk_sel_free(silk_sel *sel);
/* The source text it was compiled from (NUL-terminated). */
const char *silk_sel_source(const silk_sel *sel);

/* 1 when element `el` matches, with `scope` as the :scope element (NULL:
 * the document element). Absolute matching: no implicit anchoring. */
int silk_sel_matches(const silk_sel *sel, const silk_node *el, const silk_node *scope);

/* Called for each match in document order; return non-zero to stop. It
 * must not raise or longjmp: a call holds memory while it runs (its :has
 * memo). Collect the matches and act on them after the call returns. */
typedef int (*silk_sel_fn)(void *ud, const silk_node *el);

/* Calls fn for each element below `root` (the document node or an element;
 * root itself is never a result) that matches, in document order, at most
 * `limit` times (0: no limit). Returns the number of calls. `doc` is root's
 * document, or NULL: given it, a search from the document node tries only
 * the elements of the tag the selector's subject names (its tag index).
 * Unbounded: some selectors cost a power of the document's size (nested
 * sibling combinators inside :has); see silk_sel_select_within. */
size_t silk_sel_select(const silk_sel *sel, const silk_html_doc *doc, const silk_node *root,
                       size_t limit, silk_sel_fn fn, void *ud);

/* --- bounded matching ------------------------------------------------------ */

/* A bound on one call: `check` is called every `every` matching steps (a
 * compound tried at an element, a node walked; each step costs well under a
 * microsecond; 0: SILK_SEL_CHECK_STEPS, about a millisecond of work) and
 * never otherwise. It returns 0 to go on, or a non-zero verdict (the
 * caller's code: deadline passed, stop asked) that ends the call at once.
 * It must not raise or longjmp. */
typedef struct silk_sel_budget {
    int (*check)(void *ud);
    void *ud;
    unsigned every;
} silk_sel_budget;

#define SILK_SEL_CHECK_STEPS 4096u

/* silk_sel_select and silk_sel_matches under a budget (NULL: none). They
 * return 0 when the call ran to its end, with the number of fn calls in
 * *count or the outcome in *matched; or the check's verdict when it stopped
 * the call, with *count the fn calls made so far (*matched is 0). Either way
 * the call has released everything it allocated. Matching remembers each
 * :has() outcome for the rest of the call, which keeps the common shapes
 * near linear. */
int silk_sel_select_within(const silk_sel *sel, const silk_html_doc *doc, const silk_node *root,
                           size_t limit, silk_sel_fn fn, void *ud,
                           const silk_sel_budget *budget, size_t *count);
int silk_sel_matches_within(const silk_sel *sel, const silk_node *el, const silk_node *scope,
                            const silk_sel_budget *budget, int *matched);

/* --- an LRU cache of compiled selectors, keyed by their source text ------- */

typedef struct silk_sel_cache silk_sel_cache;

silk_sel_cache *silk_sel_cache_new(int capacity);
void silk_sel_cache_free(silk_sel_cache *c);

/* The compiled form of src, compiling and caching it on a miss (the least
 * recently used entry is evicted past capacity). The selector is owned by
 * the cache and stays valid until the next silk_sel_cache_get or free.
 * NULL on error, with *rc and err set as by silk_sel_compile (errors are
 * not cached). */
const silk_sel *silk_sel_cache_get(silk_sel_cache *c, const char *src, size_t len,
                                   int *rc, char *err, size_t errlen);

/* Hits and misses since creation. */
void silk_sel_cache_stats(const silk_sel_cache *c, long *hits, long *misses, int *size);

#endif
