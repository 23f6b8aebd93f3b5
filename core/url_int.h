/*
 * url_int.h -- url.c's two ways to the parts of a URL (the parser and the
 * plain path), for its own use and for tests/c/test_url.c and
 * tests/fuzz/fuzz_url.c, which check that they agree.
 */
#ifndef SILK_URL_INT_H
#define SILK_URL_INT_H

#include "url.h"

/* Modes of the parts functions (a mask). */
enum {
    SILK_URL_MODE_CANON = 1, /* canonical escapes (silk_url_canonical) */
    SILK_URL_MODE_SORT = 2,  /* query parameters sorted by name */
};

/* Resolves href against base (may be NULL) with url.c's URL Standard
 * parser and fills parts (zeroed on error). Returns 0 or SILK_URL_E*. Any
 * input. */
int silk_url_whatwg_parts(const char *base, const char *href, int mode, struct silk_url_parts *parts);

/* The same without the parser, for plain inputs only (see url.c). Returns
 * 0 when (base, href) is outside the plain class (nothing is touched), else
 * 1 with *rc set as silk_url_whatwg_parts would return it (0, or
 * SILK_URL_ENOMEM) and parts filled the same way. */
int silk_url_plain_parts(const char *base, const char *href, int mode,
                         struct silk_url_parts *parts, int *rc);

/* The URL that parts serialise to, as join (fragment 1) or canonical
 * (fragment 0) write it. Returns 0 or SILK_URL_ENOMEM; *out malloc'd. */
int silk_url_serialise(const struct silk_url_parts *parts, int fragment, char **out);

/* What silk_url_plain_parts gives, made straight into the string that
 * silk_url_serialise would make of those parts (mode 0 and fragment 1 for
 * join, canonical's mode and fragment 0 for canonical): returns 0 outside
 * the plain class, else 1 with *rc as above and *out malloc'd (NULL on
 * error). */
int silk_url_plain_string(const char *base, const char *href, int mode, int fragment,
                          char **out, int *rc);

#endif
