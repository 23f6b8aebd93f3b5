/*
 * html_text.c -- a tree to strings: readable text (the innerText getter's
 * steps, silk_html_text) and HTML serialisation (silk_html_serialize). See
 * html.h for the contract; the tree walks are html_int.h's.
 */
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "html_int.h"

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
