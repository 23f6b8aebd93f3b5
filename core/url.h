/*
 * url.h -- URL joining, canonicalisation and host keys for the crawler.
 *
 * Who calls it: lapi_url.c (silk.url in Lua), the frontier (dedupe on the
 * canonical form, per-host queues on the host key) and html.c (links).
 *
 * Parsing and relative resolution follow the URL Standard's basic URL
 * parser (https://url.spec.whatwg.org/, as whatwg-url 16 implements it),
 * written in url.c for the special schemes silk crawls:
 *
 *  - leading/trailing C0 controls and spaces stripped, tabs and newlines
 *    removed; '\' read as '/' before the query; any number of slashes after
 *    "http:"; "http:foo" relative to an http base;
 *  - userinfo up to the last '@' (earlier ones written "%40");
 *  - hosts percent-decoded, then domain to ASCII (UTS #46 non-transitional
 *    through libidn2, on every non-ASCII host and every "xn--" label, so an
 *    invalid A-label is refused), lowercased, forbidden code points refused,
 *    a host ending in a number read by the IPv4 parser (hex, octal, short
 *    forms, a trailing dot) or refused, IPv6 by the IPv6 parser and
 *    serialised compressed; no zone ids;
 *  - default and empty ports dropped;
 *  - dot-segments ("." ".." and their "%2e" forms) removed, empty segments
 *    kept; an empty query or fragment kept ("?" and "#" stay);
 *  - each component percent-encoded with its Standard set (the path set
 *    includes '^'), existing escapes left as they are.
 *
 * tests/spec/url_diff_spec.lua replays thousands of whatwg-url answers
 * (tests/diff/url/) against join, resolve, host and canonical.
 *
 * Plain inputs (a lowercase http(s) origin, paths and queries of unreserved
 * characters: most links on real pages) skip the parser: url.c resolves them
 * straight into the result, checked equal to the parser's by
 * tests/c/test_url.c and tests/fuzz/fuzz_url.c.
 *
 * Only http and https URLs are accepted; everything else is SILK_URL_ESCHEME.
 * Functions are pure and thread-safe; no function keeps a pointer to their
 * arguments.
 */
#ifndef SILK_URL_H
#define SILK_URL_H

#include <stddef.h>

/* Return codes: 0 or one of these (negative). silk_url_strerror names them. */
enum {
    SILK_URL_OK = 0,
    SILK_URL_ENOMEM = -1,   /* allocation failed */
    SILK_URL_EINVAL = -2,   /* malformed URL */
    SILK_URL_ESCHEME = -3,  /* a scheme other than http/https */
    SILK_URL_ENOBASE = -4,  /* relative reference and no (usable) base */
    SILK_URL_EHOST = -5,    /* missing or invalid host */
    SILK_URL_EPORT = -6,    /* port not a number in 0..65535 */
    SILK_URL_ETOOLONG = -7, /* an input longer than SILK_URL_MAX */
};

/* Longest input (base, href or url), in bytes. A result can be up to three
 * times longer (percent-encoding of non-ASCII bytes). */
#define SILK_URL_MAX 16384

/* Flags for silk_url_canonical. */
enum {
    SILK_URL_SORT_QUERY = 1 << 0,    /* sort query parameters by name (stable) */
    SILK_URL_KEEP_FRAGMENT = 1 << 1, /* keep "#fragment" (dropped by default) */
};

/* The parts of an absolute http(s) URL, normalised as by silk_url_join.
 * Every string is malloc'd and owned by the struct (free with
 * silk_url_parts_free); user, password, query and fragment are NULL when
 * absent (an empty query or fragment is ""); path is never empty (at least
 * "/"). */
struct silk_url_parts {
    char *scheme;   /* "http" or "https" */
    char *user;
    char *password;
    char *host;     /* lowercase, punycode; IPv6 in brackets: "[::1]" */
    int port;       /* effective port: the explicit one or the default */
    char *path;
    char *query;    /* without '?' */
    char *fragment; /* without '#' */
};

/* Resolves href against base (base may be NULL: href must then be absolute)
 * and stores the absolute, WHATWG-serialised URL in *out (fragment kept,
 * percent-escapes left as they were except that needed ones are added).
 * Returns 0, or a SILK_URL_E* code with *out set to NULL.
 * *out is malloc'd; the caller frees it with free(). */
int silk_url_join(const char *base, const char *href, char **out);

/* The canonical form of an absolute URL for dedupe: silk_url_join's form
 * (whatwg-url's href) plus fragment dropped, percent-encoding normalised
 * (uppercase hex, unreserved characters decoded, a '%' that starts no
 * escape written "%25"; "%2e" segments are dot-segments already), and
 * optionally query parameters sorted. Nothing else: an empty query ("?")
 * is kept, as in the href. Idempotent: canonical(canonical(u)) == canonical(u).
 * Returns 0 or SILK_URL_E*; *out is malloc'd (caller free()s), NULL on error. */
int silk_url_canonical(const char *url, unsigned flags, char **out);

/* "scheme://host:port" of an absolute URL, the port always explicit
 * ("https://example.com:443"): the key for per-host politeness.
 * Returns 0 or SILK_URL_E*; *out is malloc'd (caller free()s), NULL on error. */
int silk_url_host_key(const char *url, char **out);

/* silk_url_host_key of a plain URL, written to key (keysz bytes) with no
 * allocation and no parse: returns 1 when url is plain and its key
 * fits, else 0 with key untouched (take the general path then). A plain URL
 * is a valid http(s) URL however it is parsed, curl's way included. */
int silk_url_plain_host_key(const char *url, char *key, size_t keysz);

/* Parses an absolute URL into *parts (zeroed first; on error every field is
 * NULL, nothing to free). Returns 0 or SILK_URL_E*. */
int silk_url_parse(const char *url, struct silk_url_parts *parts);

/* A followed link: the joined URL, its canonical form and its host, and
 * their lengths. */
struct silk_url_resolved {
    char *url;        /* silk_url_join(base, href) */
    char *canonical;  /* silk_url_canonical(url, 0) */
    char *host;       /* silk_url_host(url) */
    size_t url_len, canonical_len, host_len;
    char *block;      /* the one allocation holding the three, or NULL */
};

/* The three at once (one parse; one serialisation and one allocation for
 * plain links: a crawl does this for every link of every page). Returns 0
 * with every string malloc'd, alone or in one block (free them with
 * silk_url_resolved_free, never one by one), or SILK_URL_E* with every
 * field NULL. */
int silk_url_resolve(const char *base, const char *href, struct silk_url_resolved *out);
void silk_url_resolved_free(struct silk_url_resolved *r);

/* The host of absolute URL `url` as canonical() writes it: lowercase,
 * punycode, an IPv6 address in brackets ("[::1]").
 * Returns 0 or SILK_URL_E*; *out is malloc'd (caller free()s), NULL on error. */
int silk_url_host(const char *url, char **out);

/* Frees the strings of parts and zeroes it. Safe on a zeroed struct. */
void silk_url_parts_free(struct silk_url_parts *parts);

/* 1 when url is an absolute http(s) URL that parses, else 0. */
int silk_url_is_http(const char *url);

/* A short static message for a SILK_URL_E* code ("unsupported scheme"). */
const char *silk_url_strerror(int code);

#endif
