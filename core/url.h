/*
 * url.h -- URL joining, canonicalisation and host keys for the crawler.
 *
 * Who calls it: lapi_url.c (silk.url in Lua), the frontier (dedupe on the
 * canonical form, per-host queues on the host key) and html.c (links).
 *
 * Parsing and relative resolution are libcurl's URL API (curl_url, CURLU);
 * this module adds what a crawler needs on top, and corrects the places where
 * curl 7.88 departs from the WHATWG URL standard that browsers (and therefore
 * the pages we crawl) follow:
 *
 *  - before curl: leading/trailing C0 controls and spaces stripped, tabs and
 *    newlines removed, other controls, spaces and non-ASCII bytes outside the
 *    host percent-encoded as UTF-8; backslashes before '?'/'#' read as '/';
 *    any number of slashes after "http:" accepted; "http:foo" relative to an
 *    http base; empty and fragment-only references keep the base's query;
 *    a relative path whose first segment holds ':' is not taken for a scheme.
 *  - after curl: host lowercased, IDN hosts to punycode (libidn2, UTS #46
 *    non-transitional; curl's own CURLU_PUNYCODE depends on the locale),
 *    IPv6 hosts re-serialised in WHATWG form, hosts ending in a number that
 *    are not IPv4 addresses refused, zone ids refused, default ports dropped,
 *    dot-segments (also "%2e") removed, per-component percent-encode sets.
 *
 * Plain inputs (a lowercase http(s) origin, paths and queries of unreserved
 * characters: most links on real pages) skip curl: url.c resolves them
 * itself, with results checked equal to the curl path's by tests/c/test_url.c.
 *
 * Only http and https URLs are accepted; everything else is SILK_URL_ESCHEME.
 * Functions are pure and thread-safe (curl_global_init must have run, as for
 * any libcurl use); no function keeps a pointer to its arguments.
 */
#ifndef SILK_URL_H
#define SILK_URL_H

#include <stddef.h>

/* Return codes: 0 or one of these (negative). silk_url_strerror names them. */
enum {
    SILK_URL_OK = 0,
    SILK_URL_ENOMEM = -1,   /* allocation failed */
    SILK_URL_EINVAL = -2,   /* malformed URL (curl refused it, bad path, ...) */
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
 * absent; path is never empty (at least "/"). */
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

/* The canonical form of an absolute URL for dedupe: silk_url_join's form plus
 * fragment dropped, percent-encoding normalised (uppercase hex, unreserved
 * characters decoded, a '%' that starts no escape written "%25") before
 * dot-segments are removed, and optionally query
 * parameters sorted. Idempotent: canonical(canonical(u)) == canonical(u).
 * Returns 0 or SILK_URL_E*; *out is malloc'd (caller free()s), NULL on error. */
int silk_url_canonical(const char *url, unsigned flags, char **out);

/* "scheme://host:port" of an absolute URL, the port always explicit
 * ("https://example.com:443"): the key for per-host politeness.
 * Returns 0 or SILK_URL_E*; *out is malloc'd (caller free()s), NULL on error. */
int silk_url_host_key(const char *url, char **out);

/* silk_url_host_key of a plain URL, written to key (keysz bytes) with no
 * allocation and no curl parse: returns 1 when url is plain and its key
 * fits, else 0 with key untouched (take the general path then). A plain URL
 * is a valid http(s) URL however it is parsed, curl's way included. */
int silk_url_plain_host_key(const char *url, char *key, size_t keysz);

/* Parses an absolute URL into *parts (zeroed first; on error every field is
 * NULL, nothing to free). Returns 0 or SILK_URL_E*. */
int silk_url_parse(const char *url, struct silk_url_parts *parts);

/* A followed link: the joined URL, its canonical form and its host. */
struct silk_url_resolved {
    char *url;        /* silk_url_join(base, href) */
    char *canonical;  /* silk_url_canonical(url, 0) */
    char *host;       /* silk_url_host(url) */
};

/* The three at once (one parse, one serialisation for plain links: a crawl
 * does this for every link of every page). Returns 0 with every field
 * malloc'd (free with silk_url_resolved_free), or SILK_URL_E* with every
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
