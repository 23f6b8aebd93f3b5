/*
 * select_parse.c -- the CSS selector parser: source text to the compiled form
 * of select_int.h (silk_sel_compile, silk_sel_free, silk_sel_source; see
 * select.h for the contract).
 *
 * A selector compiles to a small tree allocated in one block list owned by
 * the silk_sel: a list of complex selectors, each an array of compound
 * selectors joined by combinators, each compound an array of simple
 * selectors; :not/:is/:where/:has/:nth-*(of S) hold a nested list. Errors
 * name the selector and the position (fail); running out of memory while
 * building is reported as SILK_SEL_ENOMEM, never as a syntax error.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "select_int.h"

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

#define MAX_NEST 32          /* :not(:is(:not(...))) depth */
#define MAX_ITEMS 64         /* simple selectors per compound, selectors per list */

typedef struct parser {
    silk_sel *sel;
    const char *s;
    size_t len, pos;
    int nest;
    int failed;
    char *err;
    size_t errlen;
    int nomem;
} parser;

static void *p_alloc(parser *p, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    block *b = p->sel->mem;
    if (!b || b->size - b->used < n) {
        size_t size = n > 4096 ? n : 4096;
        block *nb = malloc(sizeof(block) + size);
        if (!nb) {
            p->nomem = 1;
            p->failed = 1;
            return NULL;
        }
        nb->size = size;
        nb->used = 0;
        nb->next = b;
        p->sel->mem = nb;
        b = nb;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

static int fail(parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return 0;
    p->failed = 1;
    if (!p->err || !p->errlen)
        return 0;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "invalid selector \"%.*s\" at position %zu: %s",
             p->len > 200 ? 200 : (int)p->len, p->s, at + 1, what);
    return 0;
}

static int peek(const parser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->s[p->pos + k] : -1;
}

/* Skips whitespace and comments; returns 1 if any whitespace was seen. */
static int skip_ws(parser *p)
{
    int seen = 0;
    for (;;) {
        if (sel_is_space(peek(p, 0))) {
            p->pos++;
            seen = 1;
        } else if (peek(p, 0) == '/' && peek(p, 1) == '*') {
            size_t start = p->pos;
            p->pos += 2;
            while (p->pos < p->len && !(peek(p, 0) == '*' && peek(p, 1) == '/'))
                p->pos++;
            if (p->pos >= p->len)
                return fail(p, start, "unterminated comment");
            p->pos += 2;
        } else {
            return seen;
        }
    }
}

static int is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static int is_hex(int c)
{
    return isxdigit(c) != 0;
}

/* A valid escape starts here: '\' not followed by a newline or the end. */
static int escape_at(const parser *p, size_t k)
{
    return peek(p, k) == '\\' && peek(p, k + 1) != -1 && peek(p, k + 1) != '\n' &&
           peek(p, k + 1) != '\r' && peek(p, k + 1) != '\f';
}

static int ident_start_at(const parser *p)
{
    int c = peek(p, 0);
    if (c == '-') {
        int d = peek(p, 1);
        return is_name_start(d) || d == '-' || escape_at(p, 1);
    }
    return is_name_start(c) || escape_at(p, 0);
}

/* Output buffer for decoded names and strings, copied into the selector's
 * memory when complete. */
typedef struct sbuf {
    char small[256];
    char *p;
    size_t n, cap;
} sbuf;

static void sb_init(sbuf *b)
{
    b->p = b->small;
    b->n = 0;
    b->cap = sizeof b->small;
}

static int sb_put(parser *pr, sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = malloc(cap);
        if (!np) {
            pr->nomem = 1;
            pr->failed = 1;
            return 0;
        }
        memcpy(np, b->p, b->n);
        if (b->p != b->small)
            free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

static const char *sb_finish(parser *p, sbuf *b, size_t *len)
{
    char *r = p_alloc(p, b->n + 1);
    if (r) {
        memcpy(r, b->p, b->n);
        r[b->n] = '\0';
    }
    if (len)
        *len = b->n;
    if (b->p != b->small)
        free(b->p);
    sb_init(b);
    return r;
}

static void sb_drop(sbuf *b)
{
    if (b->p != b->small)
        free(b->p);
    sb_init(b);
}

static int put_utf8(parser *p, sbuf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sb_put(p, b, u, n);
}

/* Consumes an escape (the '\' is at pos) into b. */
static int read_escape(parser *p, sbuf *b)
{
    p->pos++;
    if (is_hex(peek(p, 0))) {
        unsigned long cp = 0;
        for (int i = 0; i < 6 && is_hex(peek(p, 0)); i++) {
            int c = peek(p, 0);
            cp = cp * 16 + (unsigned long)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
            p->pos++;
        }
        if (peek(p, 0) == '\r' && peek(p, 1) == '\n')
            p->pos += 2;
        else if (sel_is_space(peek(p, 0)))
            p->pos++;
        return put_utf8(p, b, cp);
    }
    if (p->pos >= p->len)             /* "\" at the end: U+FFFD */
        return put_utf8(p, b, 0xFFFD);
    /* Any other character stands for itself (whole UTF-8 sequence). */
    size_t start = p->pos++;
    while (p->pos < p->len && ((unsigned char)p->s[p->pos] & 0xC0) == 0x80)
        p->pos++;
    return sb_put(p, b, p->s + start, p->pos - start);
}

/* An identifier at pos (the caller checked ident_start_at). */
static const char *read_ident(parser *p)
{
    sbuf b;
    sb_init(&b);
    while (p->pos < p->len && !p->failed) {
        int c = peek(p, 0);
        if (is_name_char(c)) {
            size_t start = p->pos;
            while (p->pos < p->len && is_name_char(peek(p, 0)))
                p->pos++;
            sb_put(p, &b, p->s + start, p->pos - start);
        } else if (escape_at(p, 0)) {
            read_escape(p, &b);
        } else {
            break;
        }
    }
    if (p->failed) {
        sb_drop(&b);
        return NULL;
    }
    return sb_finish(p, &b, NULL);
}

static const char *read_string(parser *p, size_t *len)
{
    int q = peek(p, 0);
    size_t start = p->pos++;
    sbuf b;
    sb_init(&b);
    for (;;) {
        int c = peek(p, 0);
        if (c == -1) {
            sb_drop(&b);
            fail(p, start, "unterminated string");
            return NULL;
        }
        if (c == q) {
            p->pos++;
            break;
        }
        if (c == '\n' || c == '\r' || c == '\f') {
            sb_drop(&b);
            fail(p, p->pos, "newline in a string");
            return NULL;
        }
        if (c == '\\') {
            int d = peek(p, 1);
            if (d == '\n' || d == '\f') {
                p->pos += 2;
                continue;
            }
            if (d == '\r') {
                p->pos += peek(p, 2) == '\n' ? 3 : 2;
                continue;
            }
            read_escape(p, &b);
        } else {
            sb_put(p, &b, p->s + p->pos, 1);
            p->pos++;
        }
        if (p->failed) {
            sb_drop(&b);
            return NULL;
        }
    }
    return sb_finish(p, &b, len);
}

static char *lower_copy(parser *p, const char *s)
{
    size_t n = strlen(s);
    char *r = p_alloc(p, n + 1);
    if (!r)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        r[i] = (char)tolower((unsigned char)s[i]);
    return r;
}

enum { REL_NO, REL_HAS, REL_TOP };

static list *parse_list(parser *p, int relative, int close);

/* Growable arrays on the parser's stack frames, copied out when complete. */
#define GROW_CHECK(p, n, what) \
    ((n) >= MAX_ITEMS ? fail((p), (p)->pos, "too many %s", (what)) : 1)

static int parse_int(parser *p, long *out)
{
    if (!isdigit(peek(p, 0)))
        return 0;
    long v = 0;
    while (isdigit(peek(p, 0))) {
        v = v * 10 + (peek(p, 0) - '0');
        if (v > 100000000L)
            return fail(p, p->pos, "number too large");
        p->pos++;
    }
    *out = v;
    return 1;
}

static int word_at(const parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->pos + n > p->len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p->s[p->pos + i]) != w[i])
            return 0;
    return !is_name_char(peek(p, n));
}

/* An+B (css-syntax-3 "anb"), after the '(' and whitespace. */
static int parse_anb(parser *p, simple *s)
{
    size_t start = p->pos;
    if (word_at(p, "odd")) {
        s->a = 2, s->b = 1;
        p->pos += 3;
        return 1;
    }
    if (word_at(p, "even")) {
        s->a = 2, s->b = 0;
        p->pos += 4;
        return 1;
    }
    int sign = 1;
    if (peek(p, 0) == '+' || peek(p, 0) == '-') {
        sign = peek(p, 0) == '-' ? -1 : 1;
        p->pos++;
    }
    long a = 0, b = 0;
    int have_a = parse_int(p, &a);
    if (p->failed)
        return 0;
    if (tolower(peek(p, 0)) == 'n') {
        p->pos++;
        s->a = (int)(sign * (have_a ? a : 1));
        size_t save = p->pos;
        skip_ws(p);
        int c = peek(p, 0);
        if (c == '+' || c == '-') {
            p->pos++;
            skip_ws(p);
            if (!parse_int(p, &b))
                return fail(p, p->pos, "expected a number in An+B");
            s->b = (int)(c == '-' ? -b : b);
        } else if (isdigit(c)) {
            return fail(p, p->pos, "expected + or - before B in An+B");
        } else {
            p->pos = save;
            s->b = 0;
        }
        return 1;
    }
    if (!have_a)
        return fail(p, start, "expected An+B, odd or even");
    s->a = 0;
    s->b = (int)(sign * a);
    return 1;
}

/* Pseudo-elements (CSS Pseudo-Elements 4 and the HTML standard's), all
 * without arguments: valid selectors that match nothing, since
 * querySelectorAll returns elements only. */
static const char *const pseudo_elements[] = {
    "after", "backdrop", "before", "checkmark", "column", "cue", "cue-region",
    "details-content", "file-selector-button", "first-letter", "first-line",
    "grammar-error", "marker", "picker-icon", "placeholder", "scroll-marker",
    "scroll-marker-group", "selection", "spelling-error", "target-text",
    "view-transition", NULL,
};

/* jQuery's non-CSS pseudo-classes that cheerio users type, with what to use
 * instead: an unknown pseudo-class with one of these names raises the hint. */
static const struct { const char *name, *instead; } foreign_pc[] = {
    {"first", "use doc:one(css)"},
    {"last", "take the last element of doc:select(css)"},
    {"eq", "index the list doc:select(css) returns (from 1)"},
    {"nth", "index the list doc:select(css) returns (from 1)"},
    {"gt", "index the list doc:select(css) returns (from 1)"},
    {"lt", "index the list doc:select(css) returns (from 1)"},
    {"even", "pick from the list doc:select(css) returns"},
    {"odd", "pick from the list doc:select(css) returns"},
    {"selected", "use :checked"},
    {"text", "use input[type=text], or node:text() for an element's text"},
    {NULL, NULL},
};

/* Raises "unknown pseudo-class", or the hint for a jQuery one; fn: it had
 * arguments. */
static int unknown_pseudo_class(parser *p, size_t at, const char *name, int fn)
{
    for (int i = 0; foreign_pc[i].name; i++)
        if (!strcmp(name, foreign_pc[i].name))
            return fail(p, at, ":%s%s is jQuery syntax, not CSS: %s", name, fn ? "()" : "",
                        foreign_pc[i].instead);
    return fail(p, at, "unknown pseudo-class :%s%s", name, fn ? "()" : "");
}

/* A functional pseudo-class's argument and ')', after the '('. */
static int parse_pseudo_fn(parser *p, simple *s, const char *name, size_t at)
{
    skip_ws(p);
    if (!strcmp(name, "not") || !strcmp(name, "is") || !strcmp(name, "where") ||
        !strcmp(name, "matches") || !strcmp(name, "any") || !strcmp(name, "-webkit-any")) {
        s->kind = !strcmp(name, "not") ? S_NOT : S_IS;
        s->sub = parse_list(p, REL_NO, 1);
        return s->sub != NULL;
    }
    if (!strcmp(name, "has")) {
        s->kind = S_HAS;
        s->sub = parse_list(p, REL_HAS, 1);
        return s->sub != NULL;
    }
    if (!strncmp(name, "nth-", 4)) {
        s->kind = S_NTH;
        if (!strcmp(name, "nth-child"))
            s->flags = 0;
        else if (!strcmp(name, "nth-last-child"))
            s->flags = NTH_LAST;
        else if (!strcmp(name, "nth-of-type"))
            s->flags = NTH_TYPE;
        else if (!strcmp(name, "nth-last-of-type"))
            s->flags = NTH_LAST | NTH_TYPE;
        else
            return unknown_pseudo_class(p, at, name, 1);
        if (!parse_anb(p, s))
            return 0;
        int ws = skip_ws(p);
        if (!(s->flags & NTH_TYPE) && ws && word_at(p, "of")) {
            p->pos += 2;
            if (!skip_ws(p))
                return fail(p, p->pos, "expected whitespace after \"of\"");
            s->sub = parse_list(p, REL_NO, 1);
            return s->sub != NULL;
        }
        if (peek(p, 0) != ')')
            return fail(p, p->pos, "expected ) after An+B");
        p->pos++;
        return 1;
    }
    if (!strcmp(name, "lang") || !strcmp(name, "contains")) {
        s->kind = !strcmp(name, "lang") ? S_LANG : S_CONTAINS;
        int c = peek(p, 0);
        if (c == '"' || c == '\'')
            s->value = read_string(p, &s->vlen);
        else if (ident_start_at(p)) {
            s->value = read_ident(p);
            s->vlen = s->value ? strlen(s->value) : 0;
        } else
            return fail(p, p->pos, "expected an identifier or a string in :%s()", name);
        if (!s->value)
            return 0;
        skip_ws(p);
        if (peek(p, 0) != ')')
            return fail(p, p->pos, "expected ) to close :%s(", name);
        p->pos++;
        return 1;
    }
    return unknown_pseudo_class(p, at, name, 1);
}

/* After "::" and the (lowercased) name: a known pseudo-element; the
 * parsel/Scrapy extensions ::text and ::attr(name), refused with what to
 * use instead; or an error, as in querySelectorAll. The Compat standard
 * makes every ::-webkit- name valid (and matching nothing). */
static int parse_pseudo_element(parser *p, simple *s, const char *name, size_t at, int *is_element)
{
    if (!strcmp(name, "text"))
        return fail(p, at, "::text is Scrapy/parsel syntax, not CSS: select the element, "
                           "then node:text() (or node:text{raw=true})");
    if (!strcmp(name, "attr")) {
        /* the argument as written, quotes and blanks left out, for the hint */
        const char *arg = "name";
        size_t n = 4;
        if (peek(p, 0) == '(') {
            size_t i = p->pos + 1, end = i;
            while (end < p->len && p->s[end] != ')')
                end++;
            while (i < end && strchr(" \t\n\"'", p->s[i]))
                i++;
            while (end > i && strchr(" \t\n\"'", p->s[end - 1]))
                end--;
            if (end > i)
                arg = p->s + i, n = end - i;
        }
        return fail(p, at, "::attr() is Scrapy/parsel syntax, not CSS: select the element, "
                           "then node:attr(\"%.*s\")", n > 40 ? 40 : (int)n, arg);
    }
    if (peek(p, 0) == '(')
        return fail(p, at, "functional pseudo-elements are not supported");
    int known = !strncmp(name, "-webkit-", 8);
    for (int i = 0; !known && pseudo_elements[i]; i++)
        known = !strcmp(name, pseudo_elements[i]);
    if (!known)
        return fail(p, at, "unknown pseudo-element ::%s", name);
    s->kind = S_NONE;
    *is_element = 1;
    return 1;
}

static int parse_pseudo(parser *p, simple *s, int *is_element)
{
    size_t at = p->pos;
    p->pos++;                          /* ':' */
    int element = 0;
    if (peek(p, 0) == ':') {
        element = 1;
        p->pos++;
    }
    if (!ident_start_at(p))
        return fail(p, p->pos, "expected a name after \"%s\"", element ? "::" : ":");
    const char *raw = read_ident(p);
    char *name = raw ? lower_copy(p, raw) : NULL;
    if (!name)
        return 0;
    if (element)
        return parse_pseudo_element(p, s, name, at, is_element);
    if (peek(p, 0) == '(') {
        p->pos++;
        if (++p->nest > MAX_NEST)
            return fail(p, at, "selector nested too deeply");
        int ok = parse_pseudo_fn(p, s, name, at);
        p->nest--;
        return ok;
    }
    static const struct { const char *name; skind kind; int a, b, flags; } simple_pc[] = {
        {"root", S_ROOT, 0, 0, 0},
        {"empty", S_EMPTY, 0, 0, 0},
        {"scope", S_SCOPE, 0, 0, 0},
        {"checked", S_CHECKED, 0, 0, 0},
        {"disabled", S_DISABLED, 0, 0, 0},
        {"enabled", S_ENABLED, 0, 0, 0},
        {"link", S_LINK, 0, 0, 0},
        {"any-link", S_LINK, 0, 0, 0},
        {"first-child", S_NTH, 0, 1, 0},
        {"last-child", S_NTH, 0, 1, NTH_LAST},
        {"first-of-type", S_NTH, 0, 1, NTH_TYPE},
        {"last-of-type", S_NTH, 0, 1, NTH_TYPE | NTH_LAST},
        /* dynamic or never true on a parsed page */
        {"visited", S_NONE, 0, 0, 0}, {"hover", S_NONE, 0, 0, 0},
        {"active", S_NONE, 0, 0, 0}, {"focus", S_NONE, 0, 0, 0},
        {"focus-within", S_NONE, 0, 0, 0}, {"focus-visible", S_NONE, 0, 0, 0},
        {"target", S_NONE, 0, 0, 0}, {"target-within", S_NONE, 0, 0, 0},
        {NULL, 0, 0, 0, 0},
    };
    for (int i = 0; simple_pc[i].name; i++)
        if (!strcmp(name, simple_pc[i].name)) {
            s->kind = simple_pc[i].kind;
            s->a = simple_pc[i].a;
            s->b = simple_pc[i].b;
            s->flags = simple_pc[i].flags;
            return 1;
        }
    if (!strcmp(name, "only-child") || !strcmp(name, "only-of-type")) {
        s->kind = S_NTH;
        s->flags = NTH_ONLY | (name[5] == 'o' ? NTH_TYPE : 0);
        return 1;
    }
    if (!strcmp(name, "before") || !strcmp(name, "after") || !strcmp(name, "first-line") ||
        !strcmp(name, "first-letter")) {
        s->kind = S_NONE;          /* CSS2 single-colon pseudo-elements */
        *is_element = 1;
        return 1;
    }
    return unknown_pseudo_class(p, at, name, 0);
}

static int parse_attr(parser *p, simple *s)
{
    size_t at = p->pos;
    p->pos++;                          /* '[' */
    skip_ws(p);
    s->kind = S_ATTR;
    /* [*|name] any namespace, [|name] no namespace (what HTML attributes
     * have); other prefixes need @namespace, which selectors here cannot
     * declare. */
    if (peek(p, 0) == '*' && peek(p, 1) == '|') {
        p->pos += 2;
    } else if (peek(p, 0) == '|') {
        p->pos++;
    }
    if (!ident_start_at(p))
        return fail(p, p->pos, "expected an attribute name");
    s->name = read_ident(p);
    if (!s->name)
        return 0;
    if (peek(p, 0) == '|' && peek(p, 1) != '=')
        return fail(p, p->pos, "namespace prefixes need @namespace, which is not supported");
    s->lname = lower_copy(p, s->name);
    skip_ws(p);
    int c = peek(p, 0);
    if (c == ']') {
        p->pos++;
        s->op = A_EXISTS;
        return 1;
    }
    if (c == '=') {
        s->op = A_EQ;
        p->pos++;
    } else if (c != -1 && strchr("~|^$*", c) && peek(p, 1) == '=') {
        s->op = c == '~' ? A_INCLUDES : c == '|' ? A_DASH : c == '^' ? A_PREFIX
              : c == '$' ? A_SUFFIX : A_SUBSTR;
        p->pos += 2;
    } else {
        return fail(p, p->pos, "expected an attribute operator or ]");
    }
    skip_ws(p);
    c = peek(p, 0);
    if (c == '"' || c == '\'') {
        s->value = read_string(p, &s->vlen);
    } else if (ident_start_at(p)) {
        s->value = read_ident(p);
        s->vlen = s->value ? strlen(s->value) : 0;
    } else {
        return fail(p, p->pos, "expected an attribute value (identifier or string)");
    }
    if (!s->value)
        return 0;
    skip_ws(p);
    c = peek(p, 0);
    if ((c == 'i' || c == 'I' || c == 's' || c == 'S') && !is_name_char(peek(p, 1))) {
        s->icase = tolower(c) == 'i' ? CASE_I : CASE_S;
        p->pos++;
        skip_ws(p);
    }
    if (peek(p, 0) != ']')
        return fail(p, p->pos, "expected ] to close the attribute selector started at %zu",
                    at + 1);
    p->pos++;
    return 1;
}

/* One compound selector. Returns 0 on error; *n == 0 when nothing was
 * there (the caller decides whether that is an error). */
static compound *parse_compound(parser *p, compound *out)
{
    simple items[MAX_ITEMS];
    int n = 0, pseudo_element = 0;
    memset(items, 0, sizeof items[0]);
    /* type or universal, with an optional namespace prefix */
    int c = peek(p, 0);
    int ns_none = 0;
    if (c == '*' && peek(p, 1) == '|') {
        p->pos += 2;                       /* any namespace */
    } else if (c == '|') {
        p->pos++;
        ns_none = 1;                       /* no namespace: no HTML element */
    }
    c = peek(p, 0);
    if (c == '*' || ident_start_at(p)) {
        simple *s = &items[n++];
        memset(s, 0, sizeof *s);
        if (c == '*') {
            p->pos++;
            s->kind = S_UNIVERSAL;
        } else {
            size_t at = p->pos;
            s->kind = S_TYPE;
            s->name = read_ident(p);
            if (!s->name)
                return NULL;
            if (peek(p, 0) == '|' && peek(p, 1) != '=')
                return fail(p, at, "namespace prefixes need @namespace, which is not supported"),
                       NULL;
            s->lname = lower_copy(p, s->name);
            if (!s->lname)
                return NULL;
            s->tag = gumbo_tag_enum(s->lname);
        }
        if (ns_none)
            s->kind = S_NONE;
    } else if (ns_none) {
        return fail(p, p->pos, "expected a type or * after \"|\""), NULL;
    }
    for (;;) {
        c = peek(p, 0);
        if (c != '#' && c != '.' && c != '[' && c != ':')
            break;
        if (pseudo_element)
            return fail(p, p->pos, "nothing may follow a pseudo-element"), NULL;
        if (!GROW_CHECK(p, n, "simple selectors"))
            return NULL;
        simple *s = &items[n++];
        memset(s, 0, sizeof *s);
        if (c == '#') {
            p->pos++;
            /* an id is a CSS <hash-token> of type id... or any name: "#1a"
             * is not a valid ID selector (it must be an identifier). */
            if (!ident_start_at(p))
                return fail(p, p->pos, "expected an identifier after \"#\""), NULL;
            s->kind = S_ID;
            s->value = read_ident(p);
        } else if (c == '.') {
            p->pos++;
            if (!ident_start_at(p))
                return fail(p, p->pos, "expected a class name after \".\""), NULL;
            s->kind = S_CLASS;
            s->value = read_ident(p);
        } else if (c == '[') {
            if (!parse_attr(p, s))
                return NULL;
        } else {
            if (!parse_pseudo(p, s, &pseudo_element))
                return NULL;
        }
        if (p->failed)
            return NULL;
        if (s->value && !s->vlen)
            s->vlen = strlen(s->value);
    }
    out->n = n;
    out->s = NULL;
    if (n) {
        out->s = p_alloc(p, sizeof(simple) * (size_t)n);
        if (!out->s)
            return NULL;
        memcpy(out->s, items, sizeof(simple) * (size_t)n);
    }
    return out;
}

static int names_scope(const compound *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->s[i].kind == S_SCOPE)
            return 1;
    return 0;
}

/* A combinator at pos (after whitespace was skipped): '>', '+', '~' or 0. */
static int read_combinator(parser *p)
{
    int c = peek(p, 0);
    if (c == '>' || c == '+' || c == '~') {
        p->pos++;
        skip_ws(p);
        return c;
    }
    return 0;
}

/* One complex selector. `relative`: REL_NO, no leading combinator
 * (inside :is/:not/...); REL_HAS, optional, descendant when absent
 * (:has); REL_TOP, optional, none when absent (the top level, where
 * silk_sel_select anchors at the node searched from). Stops before ',' or
 * ')' or the end. */
static int parse_complex(parser *p, complex *out, int relative)
{
    compound parts[MAX_ITEMS];
    int n = 0;
    char comb = 0;
    size_t at = p->pos;
    if (relative != REL_NO) {
        comb = (char)read_combinator(p);
        if (!comb && relative == REL_HAS)
            comb = ' ';
    } else if (peek(p, 0) == '>' || peek(p, 0) == '+' || peek(p, 0) == '~') {
        return fail(p, p->pos, "a selector cannot start with \"%c\" here", peek(p, 0));
    }
    for (;;) {
        if (n >= MAX_ITEMS)
            return fail(p, p->pos, "too many compound selectors");
        size_t cat = p->pos;
        if (!parse_compound(p, &parts[n]))
            return 0;
        if (!parts[n].n) {
            if (comb && comb != ' ')
                return fail(p, cat, "expected a selector after \"%c\"", comb);
            if (p->pos >= p->len || peek(p, 0) == ')' || peek(p, 0) == ',')
                return fail(p, cat, "expected a selector");
            return fail(p, cat, "unexpected character '%c'", peek(p, 0));
        }
        parts[n].comb = comb;
        n++;
        int ws = skip_ws(p);
        if (p->failed)
            return 0;
        int c = peek(p, 0);
        if (c == -1 || c == ',' || c == ')')
            break;
        comb = (char)read_combinator(p);
        if (!comb) {
            if (!ws)
                return fail(p, p->pos, "unexpected character '%c'", c);
            comb = ' ';
        }
    }
    (void)at;
    out->n = n;
    out->c = p_alloc(p, sizeof(compound) * (size_t)n);
    if (!out->c)
        return 0;
    memcpy(out->c, parts, sizeof(compound) * (size_t)n);
    out->has_scope = 0;
    for (int i = 0; i < n; i++)
        if (names_scope(&parts[i]))
            out->has_scope = 1;
    out->sib_prefix = out->desc_prefix = 0;
    while (out->sib_prefix < n && strchr("+~", parts[out->sib_prefix].comb) &&
           parts[out->sib_prefix].comb)
        out->sib_prefix++;
    while (out->desc_prefix < n && strchr(" >", parts[out->desc_prefix].comb) &&
           parts[out->desc_prefix].comb)
        out->desc_prefix++;
    return 1;
}

/* A comma-separated list; `close`: it ends with ')' (consumed). */
static list *parse_list(parser *p, int relative, int close)
{
    complex items[MAX_ITEMS];
    int n = 0;
    skip_ws(p);
    for (;;) {
        if (n >= MAX_ITEMS)
            return fail(p, p->pos, "too many selectors in a list"), NULL;
        if (!parse_complex(p, &items[n], relative))
            return NULL;
        n++;
        skip_ws(p);
        int c = peek(p, 0);
        if (c == ',') {
            p->pos++;
            skip_ws(p);
            if (peek(p, 0) == -1 || peek(p, 0) == ')' || peek(p, 0) == ',')
                return fail(p, p->pos, "expected a selector after \",\""), NULL;
            continue;
        }
        if (close) {
            if (c != ')')
                return fail(p, p->pos, c == -1 ? "missing )" : "unexpected character '%c'", c),
                       NULL;
            p->pos++;
        } else if (c != -1) {
            return fail(p, p->pos, "unexpected character '%c'", c), NULL;
        }
        break;
    }
    list *l = p_alloc(p, sizeof *l);
    if (!l)
        return NULL;
    l->n = n;
    l->c = p_alloc(p, sizeof(complex) * (size_t)n);
    if (!l->c)
        return NULL;
    memcpy(l->c, items, sizeof(complex) * (size_t)n);
    return l;
}

void silk_sel_free(silk_sel *sel)
{
    if (!sel)
        return;
    block *b = sel->mem;
    while (b) {
        block *next = b->next;
        free(b);
        b = next;
    }
    free(sel->source);
    free(sel);
}

static GumboTag subject_tag(const list *top)
{
    if (top->n != 1)
        return GUMBO_TAG_UNKNOWN;
    const compound *subject = &top->c[0].c[top->c[0].n - 1];
    for (int i = 0; i < subject->n; i++)
        if (subject->s[i].kind == S_TYPE && subject->s[i].tag != GUMBO_TAG_UNKNOWN)
            return subject->s[i].tag;
    return GUMBO_TAG_UNKNOWN;
}

int silk_sel_compile(const char *src, size_t len, silk_sel **out, char *err, size_t errlen)
{
    *out = NULL;
    silk_sel *sel = calloc(1, sizeof *sel);
    if (!sel)
        return SILK_SEL_ENOMEM;
    sel->source = malloc(len + 1);
    if (!sel->source) {
        free(sel);
        return SILK_SEL_ENOMEM;
    }
    memcpy(sel->source, src, len);
    sel->source[len] = '\0';
    parser p = {sel, sel->source, len, 0, 0, 0, err, errlen, 0};
    if (memchr(src, '\0', len)) {
        fail(&p, (size_t)((const char *)memchr(src, '\0', len) - src), "NUL character");
        silk_sel_free(sel);
        return SILK_SEL_ESYNTAX;
    }
    skip_ws(&p);
    if (!p.failed && p.pos >= len)
        fail(&p, p.pos, "empty selector");
    if (!p.failed)
        sel->top = parse_list(&p, REL_TOP, 0);
    if (p.failed || !sel->top) {
        int rc = p.nomem ? SILK_SEL_ENOMEM : SILK_SEL_ESYNTAX;
        silk_sel_free(sel);
        return rc;
    }
    sel->subject_tag = subject_tag(sel->top);
    *out = sel;
    return SILK_SEL_OK;
}

const char *silk_sel_source(const silk_sel *sel)
{
    return sel->source;
}
