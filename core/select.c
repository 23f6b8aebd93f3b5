/*
 * select.c -- the CSS selector matcher and the compiled-selector cache; see
 * select.h. The parser that builds the compiled form (select_int.h) is
 * select_parse.c.
 *
 * Matching goes right to left from the subject, backtracking over ancestors
 * and siblings for the descendant and sibling combinators.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "html_int.h"
#include "select_int.h"

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */
/* ------------------------------------------------------------------------ */

/* A remembered :has() outcome: argument `s` at element `el`. */
typedef struct memo_ent {
    const void *s;
    const GumboNode *el;
    int result;
} memo_ent;

/* One silk_sel_select or silk_sel_matches call. A :has() argument is
 * relative to the element it is tried on, so its outcome depends on that
 * element alone and is remembered for the rest of the call: an ancestor or
 * sibling tried for many subjects, or a nested :has(), is searched once.
 * Without memory for the table it is simply not remembered.
 * Invariant: `memo` is the only thing a call allocates, it is freed by the
 * entry point that set up `stop`, and nothing between a step check and that
 * entry point holds a resource, so a stop can jump straight back to it. */
typedef struct mrun {
    const silk_sel_budget *budget;   /* NULL: unbounded */
    unsigned steps, every;           /* matching steps since the last check; the interval */
    int stopped;                     /* the budget's verdict that stopped the call */
    jmp_buf stop;
    memo_ent *memo;                  /* open addressing, power-of-two capacity */
    size_t memo_cap, memo_n;
    int memo_off;                    /* an allocation failed: remember nothing more */
} mrun;

typedef struct mctx {
    const GumboNode *scope;   /* :scope, and the anchor of relative selectors */
    int implicit;             /* anchor top-level selectors below scope */
    int quirks;
    mrun *run;
} mctx;

/* One unit of matching work (a compound tried at an element, a node
 * walked): every SILK_SEL_CHECK_STEPS of them the budget is asked whether to
 * go on, and a verdict to stop leaves the call at once. */
static inline void step(mrun *r)
{
    if (++r->steps < r->every)
        return;
    r->steps = 0;
    if (r->budget && (r->stopped = r->budget->check(r->budget->ud)) != 0)
        longjmp(r->stop, 1);
}

static size_t memo_slot(const mrun *r, const void *s, const GumboNode *el)
{
    uint64_t h = ((uint64_t)(uintptr_t)el ^ ((uint64_t)(uintptr_t)s << 21)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (r->memo_cap - 1);
}

/* The remembered outcome of s at el, or -1. */
static int memo_get(const mrun *r, const void *s, const GumboNode *el)
{
    if (!r->memo)
        return -1;
    for (size_t i = memo_slot(r, s, el);; i = (i + 1) & (r->memo_cap - 1)) {
        const memo_ent *x = &r->memo[i];
        if (!x->el)
            return -1;
        if (x->el == el && x->s == s)
            return x->result;
    }
}

static void memo_insert(mrun *r, const void *s, const GumboNode *el, int result)
{
    size_t i = memo_slot(r, s, el);
    while (r->memo[i].el)
        i = (i + 1) & (r->memo_cap - 1);
    r->memo[i] = (memo_ent){s, el, result};
    r->memo_n++;
}

/* Remembers an outcome, keeping the table at most half full. */
static void memo_put(mrun *r, const void *s, const GumboNode *el, int result)
{
    if (r->memo_off)
        return;
    if (2 * (r->memo_n + 1) > r->memo_cap) {
        size_t cap = r->memo_cap ? 2 * r->memo_cap : 64;
        memo_ent *old = r->memo, *tab = calloc(cap, sizeof *tab);
        if (!tab) {
            r->memo_off = 1;
            return;
        }
        size_t oldcap = r->memo_cap;
        r->memo = tab;
        r->memo_cap = cap;
        r->memo_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].el)
                memo_insert(r, old[i].s, old[i].el, old[i].result);
        free(old);
    }
    memo_insert(r, s, el, result);
}

static int is_html_el(const GumboNode *n)
{
    return n->v.element.tag_namespace == GUMBO_NAMESPACE_HTML;
}

static const GumboNode *parent_el(const GumboNode *n)
{
    return n->parent && is_elem(n->parent) ? n->parent : NULL;
}

static const GumboNode *prev_el(const GumboNode *n)
{
    if (!n->parent)
        return NULL;
    const GumboVector *v = kids(n->parent);
    for (unsigned i = n->index_within_parent; i-- > 0;)
        if (is_elem(v->data[i]))
            return v->data[i];
    return NULL;
}

static const GumboNode *next_el(const GumboNode *n)
{
    if (!n->parent)
        return NULL;
    const GumboVector *v = kids(n->parent);
    for (unsigned i = n->index_within_parent + 1; i < v->length; i++)
        if (is_elem(v->data[i]))
            return v->data[i];
    return NULL;
}

/* Next node in document order below root (html_int.h's walk), never
 * entering template contents: they are not part of the document that
 * selectors match. */
static const GumboNode *sel_next(const GumboNode *n, const GumboNode *root)
{
    return walk_next(n, root, n->type == GUMBO_NODE_TEMPLATE);
}

static int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* The element's local name for matching against non-HTML elements. */
static const char *foreign_name(const GumboNode *n, char *buf, size_t size)
{
    return silk_node_tag(n, buf, size);
}

static int same_type(const GumboNode *a, const GumboNode *b)
{
    const GumboElement *x = &a->v.element, *y = &b->v.element;
    if (x->tag != y->tag || x->tag_namespace != y->tag_namespace)
        return 0;
    if (x->tag != GUMBO_TAG_UNKNOWN)
        return 1;
    char b1[128], b2[128];
    return strcmp(silk_node_tag(a, b1, sizeof b1), silk_node_tag(b, b2, sizeof b2)) == 0;
}

static int match_type(const simple *s, const GumboNode *el)
{
    const GumboElement *e = &el->v.element;
    char buf[128];
    if (is_html_el(el)) {
        if (e->tag != GUMBO_TAG_UNKNOWN)
            return s->tag == e->tag;
        if (s->tag != GUMBO_TAG_UNKNOWN)
            return 0;
        return strcmp(s->lname, silk_node_tag(el, buf, sizeof buf)) == 0;
    }
    return strcmp(s->name, foreign_name(el, buf, sizeof buf)) == 0;
}

/* HTML attributes whose values selectors compare ASCII case-insensitively
 * on HTML elements (HTML standard, "Case-sensitivity of selectors"). */
static int value_icase_attr(const char *lname)
{
    static const char *const names[] = {
        "accept", "accept-charset", "align", "alink", "axis", "bgcolor", "charset",
        "checked", "clear", "codetype", "color", "compact", "declare", "defer", "dir",
        "direction", "disabled", "enctype", "face", "frame", "hreflang", "http-equiv",
        "lang", "language", "link", "media", "method", "multiple", "nohref", "noresize",
        "noshade", "nowrap", "readonly", "rel", "rev", "rules", "scope", "scrolling",
        "selected", "shape", "target", "text", "type", "valign", "valuetype", "vlink",
        NULL,
    };
    for (int i = 0; names[i]; i++)
        if (!strcmp(lname, names[i]))
            return 1;
    return 0;
}

static const GumboAttribute *find_attr(const GumboNode *el, const simple *s)
{
    const GumboVector *av = &el->v.element.attributes;
    int html = is_html_el(el);
    for (unsigned i = 0; i < av->length; i++) {
        const GumboAttribute *a = av->data[i];
        if (html ? !strcmp(a->name, s->lname) : !strcmp(a->name, s->name))
            return a;
    }
    return NULL;
}

static int mem_eq(const char *a, const char *b, size_t n, int icase)
{
    return icase ? strncasecmp(a, b, n) == 0 : memcmp(a, b, n) == 0;
}

static int has_word(const char *v, const char *w, size_t wn, int icase)
{
    if (!wn)
        return 0;
    for (size_t i = 0; i < wn; i++)
        if (sel_is_space((unsigned char)w[i]))
            return 0;
    const char *s = v;
    while (*s) {
        while (*s && sel_is_space((unsigned char)*s))
            s++;
        const char *start = s;
        while (*s && !sel_is_space((unsigned char)*s))
            s++;
        if ((size_t)(s - start) == wn && mem_eq(start, w, wn, icase))
            return 1;
    }
    return 0;
}

static const char *mem_find(const char *h, size_t hn, const char *n, size_t nn, int icase)
{
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (mem_eq(h + i, n, nn, icase))
            return h + i;
    return NULL;
}

static int match_attr(const simple *s, const GumboNode *el)
{
    const GumboAttribute *a = find_attr(el, s);
    if (!a)
        return 0;
    if (s->op == A_EXISTS)
        return 1;
    int icase = s->icase == CASE_I ||
                (s->icase == CASE_DEFAULT && is_html_el(el) && value_icase_attr(s->lname));
    const char *v = a->value, *w = s->value;
    size_t vn = strlen(v), wn = s->vlen;
    switch (s->op) {
    case A_EQ:
        return vn == wn && mem_eq(v, w, wn, icase);
    case A_INCLUDES:
        return has_word(v, w, wn, icase);
    case A_DASH:
        return (vn == wn && mem_eq(v, w, wn, icase)) ||
               (vn > wn && v[wn] == '-' && mem_eq(v, w, wn, icase));
    case A_PREFIX:
        return wn && vn >= wn && mem_eq(v, w, wn, icase);
    case A_SUFFIX:
        return wn && vn >= wn && mem_eq(v + vn - wn, w, wn, icase);
    case A_SUBSTR:
        return wn && mem_find(v, vn, w, wn, icase) != NULL;
    default:
        return 0;
    }
}

static const char *attr(const GumboNode *el, const char *name)
{
    GumboAttribute *a = gumbo_get_attribute(&el->v.element.attributes, name);
    return a ? a->value : NULL;
}

/* The elements :enabled and :disabled apply to. */
static int is_form_control(const GumboNode *el)
{
    if (!is_html_el(el))
        return 0;
    switch (el->v.element.tag) {
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_INPUT: case GUMBO_TAG_SELECT:
    case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_OPTGROUP: case GUMBO_TAG_OPTION:
    case GUMBO_TAG_FIELDSET:
        return 1;
    default:
        return 0;
    }
}

/* Inside a disabled fieldset and not inside its first <legend> child. */
static int in_disabled_fieldset(const GumboNode *el)
{
    const GumboNode *child = el;
    for (const GumboNode *a = parent_el(el); a; child = a, a = parent_el(a)) {
        if (!is_html(a, GUMBO_TAG_FIELDSET) || !attr(a, "disabled"))
            continue;
        /* the first legend element child of a */
        const GumboNode *legend = NULL;
        const GumboVector *v = kids(a);
        for (unsigned i = 0; i < v->length && !legend; i++)
            if (is_html(v->data[i], GUMBO_TAG_LEGEND))
                legend = v->data[i];
        if (child != legend)
            return 1;
    }
    return 0;
}

static int is_disabled(const GumboNode *el)
{
    if (!is_form_control(el))
        return 0;
    if (attr(el, "disabled"))
        return 1;
    switch (el->v.element.tag) {
    case GUMBO_TAG_OPTGROUP:
        return 0;
    case GUMBO_TAG_OPTION: {
        const GumboNode *p = parent_el(el);
        return p && is_html(p, GUMBO_TAG_OPTGROUP) && attr(p, "disabled");
    }
    default:
        return in_disabled_fieldset(el);
    }
}

/* The select whose list of options holds option el (el's parent, or its
 * optgroup parent's parent), or NULL. */
static const GumboNode *option_select(const GumboNode *el)
{
    const GumboNode *p = parent_el(el);
    if (p && is_html(p, GUMBO_TAG_OPTGROUP))
        p = parent_el(p);
    return p && is_html(p, GUMBO_TAG_SELECT) ? p : NULL;
}

/* The option after (dir 1) or before (dir -1) option o in the list of
 * options of sel (its option children and its optgroup children's option
 * children, in tree order), or NULL. */
static const GumboNode *adjacent_option(const GumboNode *sel, const GumboNode *o, int dir)
{
    const GumboNode *n = o;
    for (;;) {
        const GumboNode *par = n->parent;
        const GumboVector *v = kids(par);
        long i = (long)n->index_within_parent + dir;
        if (i < 0 || i >= (long)v->length) {
            if (par == sel)
                return NULL;
            n = par;                   /* out of the optgroup, on in sel */
            continue;
        }
        n = v->data[i];
        if (par == sel && is_html(n, GUMBO_TAG_OPTGROUP) && kids(n)->length) {
            const GumboVector *g = kids(n);
            n = g->data[dir > 0 ? 0 : g->length - 1];
        }
        if (is_html(n, GUMBO_TAG_OPTION))
            return n;
    }
}

/* Whether the HTML standard's display size of sel, which has no multiple
 * attribute, is 1: its size attribute by the rules for parsing
 * non-negative integers, 1 when that fails (so size=0 is 0, not 1). */
static int display_size_one(const GumboNode *sel)
{
    const char *v = attr(sel, "size");
    if (!v)
        return 1;
    while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\f' || *v == '\r')
        v++;
    int neg = *v == '-';
    if (*v == '-' || *v == '+')
        v++;
    if (!isdigit((unsigned char)*v))
        return 1;
    while (*v == '0')
        v++;
    if (!isdigit((unsigned char)*v))
        return 0;                      /* 0 (or -0) */
    if (neg)
        return 1;                      /* negative: not a non-negative integer */
    return *v == '1' && !isdigit((unsigned char)v[1]);
}

/* An option's selectedness on a static document: its selected attribute,
 * then the HTML standard's selectedness setting algorithm for a select
 * without multiple: of several selected options only the last counts, and
 * with none and a display size of 1 the first option that is not disabled
 * is selected. Each scan stops at the first option that decides, so
 * testing every option of a select is linear in its size. */
static int option_selected(const GumboNode *el)
{
    int selected = attr(el, "selected") != NULL;
    const GumboNode *sel = option_select(el), *o;
    if (!sel || attr(sel, "multiple"))
        return selected;
    if (selected) {
        for (o = adjacent_option(sel, el, 1); o; o = adjacent_option(sel, o, 1))
            if (attr(o, "selected"))
                return 0;
        return 1;
    }
    if (is_disabled(el) || !display_size_one(sel))
        return 0;
    for (o = adjacent_option(sel, el, -1); o; o = adjacent_option(sel, o, -1))
        if (attr(o, "selected") || !is_disabled(o))
            return 0;                  /* a selected one, or an earlier candidate */
    for (o = adjacent_option(sel, el, 1); o; o = adjacent_option(sel, o, 1))
        if (attr(o, "selected"))
            return 0;
    return 1;
}

static int is_checked(const GumboNode *el)
{
    if (is_html(el, GUMBO_TAG_INPUT)) {
        const char *type = attr(el, "type");
        return type && (ieq(type, "checkbox") || ieq(type, "radio")) && attr(el, "checked");
    }
    return is_html(el, GUMBO_TAG_OPTION) && option_selected(el);
}

static int match_lang(const simple *s, const GumboNode *el)
{
    for (const GumboNode *a = el; a && is_elem(a); a = a->parent) {
        const char *v = NULL;
        const GumboVector *av = &a->v.element.attributes;
        for (unsigned i = 0; i < av->length; i++) {
            const GumboAttribute *at = av->data[i];
            if (!strcmp(at->name, "xml:lang") ||
                (!strcmp(at->name, "lang") && at->attr_namespace == GUMBO_ATTR_NAMESPACE_XML)) {
                v = at->value;
                break;
            }
            if (!strcmp(at->name, "lang"))
                v = at->value;
        }
        if (v) {
            size_t vn = strlen(v), wn = s->vlen;
            if (!wn)
                return 0;
            return vn >= wn && strncasecmp(v, s->value, wn) == 0 && (vn == wn || v[wn] == '-');
        }
    }
    return 0;
}

/* textContent of el contains the string (jQuery's :contains). */
static int match_contains(const simple *s, const GumboNode *el)
{
    /* Text can straddle text nodes: keep the last vlen-1 bytes of the
     * previous ones in a window. */
    size_t wn = s->vlen;
    if (!wn)
        return 1;
    char tail[512];
    if (wn > sizeof tail / 2)
        wn = sizeof tail / 2;             /* longer needles: per node only */
    size_t keep = 0;
    for (const GumboNode *n = el; n; n = sel_next(n, el)) {
        if (n->type != GUMBO_NODE_TEXT && n->type != GUMBO_NODE_WHITESPACE &&
            n->type != GUMBO_NODE_CDATA)
            continue;
        const char *t = n->v.text.text;
        size_t tn = strlen(t);
        if (mem_find(t, tn, s->value, s->vlen, 0))
            return 1;
        if (keep) {
            char win[512];
            size_t take = tn < wn - 1 ? tn : wn - 1;
            memcpy(win, tail, keep);
            memcpy(win + keep, t, take);
            if (mem_find(win, keep + take, s->value, s->vlen, 0))
                return 1;
        }
        /* new tail: last wn-1 bytes of (tail + t) */
        if (tn >= wn - 1) {
            keep = wn - 1;
            memcpy(tail, t + tn - keep, keep);
        } else {
            size_t total = keep + tn, drop = total > wn - 1 ? total - (wn - 1) : 0;
            memmove(tail, tail + drop, keep - drop);
            memcpy(tail + keep - drop, t, tn);
            keep = total - drop;
        }
    }
    return 0;
}

static int match_list(const list *l, const GumboNode *el, const mctx *m);
static int match_complex(const complex *cx, const GumboNode *el, const mctx *m, int implicit);

static int nth_ok(int a, int b, int pos)
{
    if (a == 0)
        return pos == b;
    int d = pos - b;
    return d / a >= 0 && d % a == 0;
}

static int match_nth(const simple *s, const GumboNode *el, const mctx *m)
{
    if (!el->parent)
        return 0;
    mctx sub = {m->scope, 0, m->quirks, m->run};
    if (s->sub && !match_list(s->sub, el, &sub))
        return 0;
    int last = s->flags & NTH_LAST, type = s->flags & NTH_TYPE;
    if (s->flags & NTH_ONLY) {
        for (const GumboNode *x = prev_el(el); x; x = prev_el(x))
            if (!type || same_type(x, el))
                return 0;
        for (const GumboNode *x = next_el(el); x; x = next_el(x))
            if (!type || same_type(x, el))
                return 0;
        return 1;
    }
    int pos = 1;
    for (const GumboNode *x = last ? next_el(el) : prev_el(el); x;
         x = last ? next_el(x) : prev_el(x)) {
        step(m->run);
        if (type && !same_type(x, el))
            continue;
        if (s->sub && !match_list(s->sub, x, &sub))
            continue;
        pos++;
        /* past every position An+B can name with a <= 0: stop counting */
        if (s->a <= 0 && pos > s->b)
            return 0;
    }
    return nth_ok(s->a, s->b, pos);
}

/* Whether some element matches relative selector cx anchored at el. */
static int has_one(const complex *cx, const GumboNode *el, const mctx *sub)
{
    char comb = cx->c[0].comb;
    if (comb == ' ' || comb == '>') {
        for (const GumboNode *n = sel_next(el, el); n; n = sel_next(n, el)) {
            step(sub->run);
            if (is_elem(n) && match_complex(cx, n, sub, 0))
                return 1;
        }
        return 0;
    }
    /* Only sibling combinators: the subject is one of el's following
     * siblings, never inside one. */
    int deep = cx->sib_prefix < cx->n;
    for (const GumboNode *sib = next_el(el); sib; sib = next_el(sib)) {
        for (const GumboNode *n = sib; n; n = deep ? sel_next(n, sib) : NULL) {
            step(sub->run);
            if (is_elem(n) && match_complex(cx, n, sub, 0))
                return 1;
        }
        if (comb == '+' && cx->n == 1)
            break;
    }
    return 0;
}

static int match_has(const simple *s, const GumboNode *el, const mctx *m)
{
    int known = memo_get(m->run, s, el);
    if (known >= 0)
        return known;
    mctx sub = {el, 0, m->quirks, m->run};
    int found = 0;
    for (int i = 0; i < s->sub->n && !found; i++)
        found = has_one(&s->sub->c[i], el, &sub);
    memo_put(m->run, s, el, found);
    return found;
}

static int match_simple(const simple *s, const GumboNode *el, const mctx *m)
{
    switch (s->kind) {
    case S_TYPE:
        return match_type(s, el);
    case S_UNIVERSAL:
        return 1;
    case S_NONE:
        return 0;
    case S_ID: {
        const char *id = attr(el, "id");
        return id && strlen(id) == s->vlen && mem_eq(id, s->value, s->vlen, m->quirks);
    }
    case S_CLASS: {
        const char *cls = attr(el, "class");
        return cls && has_word(cls, s->value, s->vlen, m->quirks);
    }
    case S_ATTR:
        return match_attr(s, el);
    case S_NOT: {
        mctx sub = {m->scope, 0, m->quirks, m->run};
        return !match_list(s->sub, el, &sub);
    }
    case S_IS: {
        mctx sub = {m->scope, 0, m->quirks, m->run};
        return match_list(s->sub, el, &sub);
    }
    case S_HAS:
        return match_has(s, el, m);
    case S_NTH:
        return match_nth(s, el, m);
    case S_ROOT:
        return el->parent && el->parent->type == GUMBO_NODE_DOCUMENT;
    case S_EMPTY: {
        if (el->type == GUMBO_NODE_TEMPLATE)
            return 1;                     /* its contents are not children */
        const GumboVector *v = kids(el);
        for (unsigned i = 0; i < v->length; i++) {
            const GumboNode *c = v->data[i];
            if (c->type != GUMBO_NODE_COMMENT)
                return 0;
        }
        return 1;
    }
    case S_SCOPE:
        if (m->scope && m->scope->type != GUMBO_NODE_DOCUMENT)
            return el == m->scope;
        return el->parent && el->parent->type == GUMBO_NODE_DOCUMENT;
    case S_CHECKED:
        return is_checked(el);
    case S_DISABLED:
        return is_disabled(el);
    case S_ENABLED:
        return is_form_control(el) && !is_disabled(el);
    case S_LINK:
        return (is_html(el, GUMBO_TAG_A) || is_html(el, GUMBO_TAG_AREA)) &&
               attr(el, "href");
    case S_LANG:
        return match_lang(s, el);
    case S_CONTAINS:
        return match_contains(s, el);
    }
    return 0;
}

static int match_compound(const compound *c, const GumboNode *el, const mctx *m)
{
    step(m->run);
    for (int i = 0; i < c->n; i++)
        if (!match_simple(&c->s[i], el, m))
            return 0;
    return 1;
}

/* The leftmost compound matched at el: check its relation to the scope. */
static int anchored(char comb, const GumboNode *el, const GumboNode *scope)
{
    switch (comb) {
    case ' ':
        for (const GumboNode *a = el->parent; a; a = a->parent)
            if (a == scope)
                return 1;
        return 0;
    case '>':
        return el->parent == scope;
    case '+': {
        if (!el->parent || el->parent != scope->parent)
            return 0;
        return prev_el(el) == scope;
    }
    case '~':
        /* same parent, and after it: the index says it */
        return el->parent && el->parent == scope->parent &&
               el->index_within_parent > scope->index_within_parent;
    default:
        return 1;
    }
}

/* Matches compounds i..0 of cx with compound i at el. The backward walks
 * for ' ' and '~' stop at the anchor when compound i-1 lies in a prefix that
 * must be below it or after it (complex's sib_prefix, desc_prefix): past the
 * anchor nothing can match, and without the stop `a:has(~ a ~ a)` costs the
 * cube of the number of siblings. */
static int match_from(const complex *cx, int i, const GumboNode *el, const mctx *m, int implicit)
{
    if (!match_compound(&cx->c[i], el, m))
        return 0;
    char comb = cx->c[i].comb;
    if (i == 0) {
        if (!comb && implicit)
            comb = ' ';
        return !comb || anchored(comb, el, m->scope);
    }
    switch (comb) {
    case '>': {
        const GumboNode *p = parent_el(el);
        return p && match_from(cx, i - 1, p, m, implicit);
    }
    case ' ': {
        const GumboNode *stop = i - 1 < cx->desc_prefix ? m->scope : NULL;
        for (const GumboNode *p = parent_el(el); p && p != stop; p = parent_el(p))
            if (match_from(cx, i - 1, p, m, implicit))
                return 1;
        return 0;
    }
    case '+': {
        const GumboNode *x = prev_el(el);
        return x && match_from(cx, i - 1, x, m, implicit);
    }
    case '~': {
        const GumboNode *stop = i - 1 < cx->sib_prefix ? m->scope : NULL;
        for (const GumboNode *x = prev_el(el); x && x != stop; x = prev_el(x))
            if (match_from(cx, i - 1, x, m, implicit))
                return 1;
        return 0;
    }
    }
    return 0;
}

static int match_complex(const complex *cx, const GumboNode *el, const mctx *m, int implicit)
{
    return match_from(cx, cx->n - 1, el, m, implicit && !cx->has_scope);
}

static int match_list(const list *l, const GumboNode *el, const mctx *m)
{
    for (int i = 0; i < l->n; i++)
        if (match_complex(&l->c[i], el, m, m->implicit))
            return 1;
    return 0;
}

static const GumboNode *document_of(const GumboNode *n)
{
    while (n->parent)
        n = n->parent;
    return n;
}

static int quirks_of(const GumboNode *n)
{
    const GumboNode *d = document_of(n);
    return d->type == GUMBO_NODE_DOCUMENT &&
           d->v.document.doc_type_quirks_mode == GUMBO_DOCTYPE_QUIRKS;
}

/* What one call does between setting up its run and releasing it. */
typedef struct job {
    const silk_sel *sel;
    const silk_html_doc *doc;
    const GumboNode *root, *el;   /* select: root; matches: el (root is the scope) */
    size_t limit;
    silk_sel_fn fn;
    void *ud;
    size_t count;                 /* select: matches so far; matches: the outcome */
} job;

static void select_body(job *j, mrun *r)
{
    mctx m = {j->root, j->root->type != GUMBO_NODE_DOCUMENT, quirks_of(j->root), r};
    if (j->root->type == GUMBO_NODE_TEMPLATE)
        return;                           /* contents are not children */
    if (j->doc && j->sel->subject_tag != GUMBO_TAG_UNKNOWN && j->root == silk_html_root(j->doc)) {
        size_t n;
        const silk_node *const *el = silk_html_tagged(j->doc, j->sel->subject_tag, &n);
        for (size_t i = 0; i < n; i++) {
            if (!match_list(j->sel->top, el[i], &m))
                continue;
            j->count++;
            if (j->fn(j->ud, el[i]) || (j->limit && j->count >= j->limit))
                break;
        }
        return;
    }
    for (const GumboNode *n = sel_next(j->root, j->root); n; n = sel_next(n, j->root)) {
        step(r);
        if (!is_elem(n) || !match_list(j->sel->top, n, &m))
            continue;
        j->count++;
        if (j->fn(j->ud, n) || (j->limit && j->count >= j->limit))
            break;
    }
}

static void matches_body(job *j, mrun *r)
{
    mctx m = {j->root, 0, quirks_of(j->el), r};
    j->count = (size_t)match_list(j->sel->top, j->el, &m);
}

/* Runs body under the budget: the landing point of a stop. The run and the
 * job live in the caller's frame, so nothing here changes between setjmp
 * and longjmp. Returns the budget's verdict, or 0. */
static int run_job(void (*body)(job *, mrun *), job *j, mrun *r)
{
    if (setjmp(r->stop) == 0)
        body(j, r);
    free(r->memo);
    r->memo = NULL;
    return r->stopped;
}

int silk_sel_matches_within(const silk_sel *sel, const silk_node *el, const silk_node *scope,
                            const silk_sel_budget *budget, int *matched)
{
    *matched = 0;
    if (!is_elem(el))
        return 0;
    job j = {sel, NULL, scope ? scope : document_of(el), el, 0, NULL, NULL, 0};
    mrun r = {.budget = budget, .every = budget && budget->every ? budget->every : SILK_SEL_CHECK_STEPS};
    int stopped = run_job(matches_body, &j, &r);
    *matched = !stopped && j.count;
    return stopped;
}

int silk_sel_matches(const silk_sel *sel, const silk_node *el, const silk_node *scope)
{
    int matched;
    silk_sel_matches_within(sel, el, scope, NULL, &matched);
    return matched;
}

int silk_sel_select_within(const silk_sel *sel, const silk_html_doc *doc, const silk_node *root,
                           size_t limit, silk_sel_fn fn, void *ud,
                           const silk_sel_budget *budget, size_t *count)
{
    job j = {sel, doc, root, NULL, limit, fn, ud, 0};
    mrun r = {.budget = budget, .every = budget && budget->every ? budget->every : SILK_SEL_CHECK_STEPS};
    int stopped = run_job(select_body, &j, &r);
    *count = j.count;
    return stopped;
}

size_t silk_sel_select(const silk_sel *sel, const silk_html_doc *doc, const silk_node *root,
                       size_t limit, silk_sel_fn fn, void *ud)
{
    size_t count;
    silk_sel_select_within(sel, doc, root, limit, fn, ud, NULL, &count);
    return count;
}

/* ------------------------------------------------------------------------ */
/* LRU cache                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct entry {
    struct entry *hnext;          /* hash chain */
    struct entry *prev, *next;    /* LRU list, most recent first */
    uint32_t hash;
    silk_sel *sel;
} entry;

struct silk_sel_cache {
    entry **buckets;
    unsigned nbuckets;            /* power of two */
    entry *head, *tail;
    int size, capacity;
    long hits, misses;
};

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

silk_sel_cache *silk_sel_cache_new(int capacity)
{
    if (capacity < 1)
        capacity = 1;
    silk_sel_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = 16;
    while (c->nbuckets < (unsigned)capacity * 2)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(entry *));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->capacity = capacity;
    return c;
}

void silk_sel_cache_free(silk_sel_cache *c)
{
    if (!c)
        return;
    entry *e = c->head;
    while (e) {
        entry *next = e->next;
        silk_sel_free(e->sel);
        free(e);
        e = next;
    }
    free(c->buckets);
    free(c);
}

static void lru_unlink(silk_sel_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(silk_sel_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void evict(silk_sel_cache *c, entry *e)
{
    lru_unlink(c, e);
    entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    silk_sel_free(e->sel);
    free(e);
    c->size--;
}

const silk_sel *silk_sel_cache_get(silk_sel_cache *c, const char *src, size_t len,
                                   int *rc, char *err, size_t errlen)
{
    uint32_t h = hash_bytes(src, len);
    entry **slot = &c->buckets[h & (c->nbuckets - 1)];
    for (entry *e = *slot; e; e = e->hnext) {
        if (e->hash == h && strlen(e->sel->source) == len && !memcmp(e->sel->source, src, len)) {
            c->hits++;
            if (c->head != e) {
                lru_unlink(c, e);
                lru_push(c, e);
            }
            *rc = SILK_SEL_OK;
            return e->sel;
        }
    }
    c->misses++;
    silk_sel *sel;
    *rc = silk_sel_compile(src, len, &sel, err, errlen);
    if (*rc != SILK_SEL_OK)
        return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        silk_sel_free(sel);
        *rc = SILK_SEL_ENOMEM;
        return NULL;
    }
    e->hash = h;
    e->sel = sel;
    e->hnext = *slot;
    *slot = e;
    lru_push(c, e);
    c->size++;
    if (c->size > c->capacity)
        evict(c, c->tail);
    return sel;
}

void silk_sel_cache_stats(const silk_sel_cache *c, long *hits, long *misses, int *size)
{
    *hits = c->hits;
    *misses = c->misses;
    *size = c->size;
}
