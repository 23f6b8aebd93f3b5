/*
 * robots.h -- robots.txt (RFC 9309) parser and matcher.
 *
 * Who calls it: lapi_robots.c (silk.core.robots) and, through it, the crawl's
 * per-host robots cache. Pure C, no I/O, no Lua; a parsed object is immutable
 * and may be shared between threads for reading.
 *
 * Parsing (silk_robots_parse) never fails on content: lines it does not
 * understand, binary garbage, a missing trailing newline or a BOM are all
 * tolerated; only allocation can fail. What it reads:
 *
 *  - lines end in LF, CR or CRLF; '#' starts a comment; a UTF-8 BOM is skipped;
 *    keys are case-insensitive, a missing ':' between key and value is accepted;
 *  - a group is one or more user-agent lines followed by allow and disallow
 *    lines; rules before any user-agent are ignored. Lines that are not
 *    rules are read as RFC 9309's grammar reads them (it has no place for
 *    them, so they are skipped): crawl-delay, sitemap and unknown lines
 *    neither end a run of user-agent lines nor start the rules, so
 *    "User-agent: a / Crawl-delay: 1 / User-agent: b / Disallow: /x" is one
 *    group for a and b (reading choice 1; Google's parser reads it so too);
 *  - user-agent values and the caller's user agent are reduced to their
 *    product token (the leading run of [A-Za-z_-]), compared case-insensitively;
 *    every group naming the agent applies (their rules merged); when none
 *    does, the "*" groups apply; when there are none, everything is allowed;
 *  - allow/disallow patterns: '*' matches any run of bytes, a final '$'
 *    anchors at the end; a pattern not starting with '/' or '*' gets a '/'
 *    (lenient: "Disallow: private" blocks /private); an empty pattern is no
 *    rule; patterns longer than SILK_ROBOTS_MAX_PATTERN are cut there (and
 *    lose '$'), which only ever makes them match more;
 *  - the longest pattern (in octets, after normalisation, '*' and '$'
 *    counted) that matches decides; on a tie allow wins; /robots.txt is
 *    always allowed;
 *  - patterns and paths are compared after the same normalisation: %XX of an
 *    unreserved character decoded, other %XX uppercased, controls, spaces and
 *    non-ASCII bytes percent-encoded (so "/ツ" matches "/%E3%83%84");
 *  - a pattern's %2A and %24 are a literal '*' and '$' (RFC 9309 2.2.3: they
 *    are reserved, so stay encoded), matching a URL's '*' or %2A and '$' or
 *    %24; only an unencoded '*' is a wildcard and only an unencoded final
 *    '$' an anchor ("Disallow: /a%2A" forbids /a* but not /ab), and a '$'
 *    elsewhere in a pattern is literal (reading choice 2);
 *  - crawl-delay (non-standard) belongs to the group it appears in (after
 *    all or some of its user-agent lines): a non-negative decimal number of
 *    seconds, the first one in the group counts; sitemap lines are global,
 *    wherever they appear;
 *  - only the first SILK_ROBOTS_MAX_BYTES bytes are read (RFC 9309: at least
 *    500 KiB); a line cut by that limit is dropped.
 */
#ifndef SILK_ROBOTS_H
#define SILK_ROBOTS_H

#include <stddef.h>

#define SILK_ROBOTS_MAX_BYTES (500 * 1024)
#define SILK_ROBOTS_MAX_PATTERN 2048

/* Return codes. */
enum {
    SILK_ROBOTS_OK = 0,
    SILK_ROBOTS_ENOMEM = -1,
};

struct silk_robots; /* opaque, immutable once parsed */

/* Parses len bytes of text (need not be NUL-terminated; may contain NULs).
 * On success *out is a new object the caller frees with silk_robots_free.
 * Returns 0 or SILK_ROBOTS_ENOMEM (then *out is NULL and nothing leaks). */
int silk_robots_parse(const char *text, size_t len, struct silk_robots **out);

/* Frees r and everything it owns. NULL is a no-op. */
void silk_robots_free(struct silk_robots *r);

/* Whether user_agent may fetch url_or_path: an absolute URL
 * ("https://host/p?q"), a scheme-relative one ("//host/p") or a path with
 * optional query ("/p?q"); a fragment is ignored. user_agent is a product
 * token ("silkbot") or a User-Agent header that starts with one.
 * Returns 1 (allowed), 0 (disallowed) or SILK_ROBOTS_ENOMEM (a path longer
 * than the stack buffer needed memory that was not there). */
int silk_robots_allowed(const struct silk_robots *r, const char *user_agent, size_t ua_len,
                        const char *url_or_path, size_t len);

/* The crawl-delay in seconds for user_agent (its groups, else "*"'s).
 * Returns 1 and sets *seconds when one is given, else 0. */
int silk_robots_crawl_delay(const struct silk_robots *r, const char *user_agent, size_t ua_len,
                            double *seconds);

/* Sitemap URLs in file order; the strings are owned by r (valid until
 * silk_robots_free). */
size_t silk_robots_sitemap_count(const struct silk_robots *r);
const char *silk_robots_sitemap(const struct silk_robots *r, size_t i);

/* Bytes of heap r holds (for the per-host cache's accounting). */
size_t silk_robots_memory(const struct silk_robots *r);

#endif
