/*
 * select_int.h -- the compiled form of a selector, shared by the parser
 * (select_parse.c, which builds it) and the matcher (select.c, which walks
 * it). Not a public interface: callers see only select.h's silk_sel.
 *
 * Invariants: every list, complex, compound and string of a silk_sel lives in
 * its `mem` block list and is freed with it (silk_sel_free); a compiled
 * selector is never changed after silk_sel_compile returns, so any thread may
 * match it.
 */
#ifndef SILK_SELECT_INT_H
#define SILK_SELECT_INT_H

#include <stddef.h>

#include <gumbo.h>

#include "select.h"

/* ------------------------------------------------------------------------ */
/* The compiled form                                                         */
/* ------------------------------------------------------------------------ */

typedef enum skind {
    S_TYPE,          /* name / lname / tag */
    S_UNIVERSAL,     /* '*' (matches any element) */
    S_NONE,          /* matches nothing: |E, pseudo-elements, :hover, ... */
    S_ID,            /* value */
    S_CLASS,         /* value */
    S_ATTR,          /* name, lname, op, value, icase */
    S_NOT,           /* sub */
    S_IS,            /* sub (also :where, :matches, :any) */
    S_HAS,           /* sub: relative selectors */
    S_NTH,           /* a, b, nth flags, optional sub (of S) */
    S_ROOT, S_EMPTY, S_SCOPE, S_CHECKED, S_DISABLED, S_ENABLED, S_LINK,
    S_LANG,          /* value */
    S_CONTAINS,      /* value */
} skind;

typedef enum aop {
    A_EXISTS, A_EQ, A_INCLUDES, A_DASH, A_PREFIX, A_SUFFIX, A_SUBSTR,
} aop;

/* S_NTH flags */
#define NTH_LAST 1   /* count from the end */
#define NTH_TYPE 2   /* count siblings of the same type */
#define NTH_ONLY 4   /* :only-child, :only-of-type: no other (typed) sibling */

/* attribute case: default (per HTML), forced insensitive, forced sensitive */
enum { CASE_DEFAULT, CASE_I, CASE_S };

struct list;

typedef struct simple {
    skind kind;
    aop op;
    int icase;              /* CASE_* */
    int flags;              /* NTH_* */
    int a, b;               /* An+B */
    GumboTag tag;           /* S_TYPE: the known tag, or GUMBO_TAG_UNKNOWN */
    const char *name;       /* S_TYPE/S_ATTR: as written (decoded) */
    const char *lname;      /* the same, ASCII-lowercased */
    const char *value;      /* S_ID, S_CLASS, S_ATTR, S_LANG, S_CONTAINS */
    size_t vlen;
    struct list *sub;
} simple;

typedef struct compound {
    simple *s;
    int n;
    /* The combinator joining this compound to the previous one: ' ', '>',
     * '+', '~'. For the first compound: the leading combinator of a
     * relative selector, or 0. */
    char comb;
} compound;

typedef struct complex {
    compound *c;
    int n;
    int has_scope;          /* names :scope: never anchored implicitly */
    /* Of a selector with a leading combinator (relative), how many leading
     * compounds are joined only by sibling combinators (so each must match a
     * following sibling of the anchor), and how many only by child and
     * descendant ones (each must match a descendant of the anchor): the
     * matcher stops its backward walks at the anchor for those. */
    int sib_prefix, desc_prefix;
} complex;

typedef struct list {
    complex *c;
    int n;
} list;

typedef struct block {
    struct block *next;
    size_t used, size;
    max_align_t data[];
} block;

struct silk_sel {
    list *top;
    block *mem;
    char *source;
    /* The tag every match has (one selector whose subject names a known
     * tag), else GUMBO_TAG_UNKNOWN: from the document, only the elements of
     * that tag need to be tried (silk_html_tagged). */
    GumboTag subject_tag;
};

/* CSS whitespace (Syntax Level 3: space, tab, newline; CR and FF are
 * newlines after preprocessing). */
static inline int sel_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

#endif
