/*
 * url.c -- join, canonicalise, host key; see url.h.
 *
 * The pipeline of every entry point:
 *
 *   clean (trim, drop tab/newline)   -- the basic URL parser's prelude
 *   parse (the base first, if needed) -- the basic URL parser's states for
 *                                        http(s): scheme, authority, host,
 *                                        port, relative, path, query, fragment
 *   normalise (canonical only)        -- escapes, sorted query
 *   serialise
 *
 * Plain inputs skip the pipeline (silk_url_plain_parts, "the plain path").
 * Earlier versions handed the parsing to libcurl's curl_url, which departs
 * from the URL Standard (relative references collapsed, hosts, userinfo):
 * the parser here follows the Standard's states, so each rule has its place.
 * No function here raises or keeps state; all memory is released on every path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "url.h"
#include "url_int.h"

/* ---- a small growable byte buffer; the first error sticks ---------------- */

struct buf {
    char *p;
    size_t len, cap;
    int err; /* 0 or SILK_URL_ENOMEM */
};

/* Room for n more bytes and the NUL; 0, or -1 with b->err set. */
static int buf_grow(struct buf *b, size_t n)
{
    if (b->err)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = SILK_URL_ENOMEM;
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    return 0;
}

static inline __attribute__((always_inline)) void buf_put(struct buf *b, const char *s, size_t n)
{
    /* inline: a URL is written a few bytes at a time, mostly into room
     * reserved up front */
    if ((b->err || n >= b->cap - b->len) && buf_grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_putc(struct buf *b, char c) { buf_put(b, &c, 1); }
static void buf_puts(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Hands the string over to the caller (who free()s it); the buffer is reset.
 * Returns the buffer's error, or 0 with *out set (never NULL on success). */
static int buf_take(struct buf *b, char **out)
{
    *out = NULL;
    if (!b->err && !b->p)
        buf_put(b, "", 0);
    if (b->err) {
        int rc = b->err;
        buf_free(b);
        return rc;
    }
    *out = b->p;
    memset(b, 0, sizeof *b);
    return 0;
}

/* ---- ASCII helpers (never the locale-dependent <ctype.h>) --------------- */

static int is_alpha(int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int to_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int hex_val(int c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int is_unreserved(int c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void put_pct(struct buf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    buf_put(b, e, 3);
}

/* ---- WHATWG percent-encode sets ------------------------------------------ */

enum { SET_FRAGMENT, SET_QUERY, SET_PATH, SET_USERINFO };

static int must_encode(unsigned char c, int set)
{
    if (c <= 0x20 || c >= 0x7f) /* C0 controls, space, DEL, non-ASCII */
        return 1;
    switch (set) {
    case SET_FRAGMENT:
        return c == '"' || c == '<' || c == '>' || c == '`';
    case SET_QUERY: /* the special-query set: http(s) are special */
        return c == '"' || c == '#' || c == '<' || c == '>' || c == '\'';
    case SET_USERINFO: /* the path set and more */
        if (strchr("/:;=@[\\]^|", c))
            return 1;
        return must_encode(c, SET_PATH);
    default: /* SET_PATH ('^' since the 2025 Standard, whatwg-url 15) */
        return c == '"' || c == '#' || c == '<' || c == '>' || c == '?' || c == '^' ||
               c == '`' || c == '{' || c == '}';
    }
}

static void put_encoded(struct buf *b, const char *s, int set)
{
    const char *run = s;
    for (; *s; s++) {
        if (must_encode((unsigned char)*s, set)) {
            buf_put(b, run, (size_t)(s - run));
            put_pct(b, (unsigned char)*s);
            run = s + 1;
        }
    }
    buf_put(b, run, (size_t)(s - run));
}

/* Canonical escapes: %XX of an unreserved character decoded, the others
 * uppercased; a '%' not followed by two hex digits becomes "%25" (left alone,
 * "%7%41" would decode to "%7A" and change again on the next pass). */
static void put_pct_normalised(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_val(s[i + 1])) >= 0 &&
            (lo = hex_val(s[i + 2])) >= 0) {
            int c = hi * 16 + lo;
            if (is_unreserved(c))
                buf_putc(b, (char)c);
            else
                put_pct(b, (unsigned char)c);
            i += 2;
        } else if (s[i] == '%') {
            buf_puts(b, "%25");
        } else {
            buf_putc(b, s[i]);
        }
    }
}

/* ---- input clean-up and classification ---------------------------------- */

/* WHATWG: strip leading and trailing C0 controls and spaces, remove every
 * tab, LF and CR. The result is in *t. */
static int clean(const char *s, struct buf *t)
{
    size_t n = strlen(s);
    if (n > SILK_URL_MAX)
        return SILK_URL_ETOOLONG;
    while (n && (unsigned char)*s <= 0x20)
        s++, n--;
    while (n && (unsigned char)s[n - 1] <= 0x20)
        n--;
    const char *run = s, *end = s + n;
    for (; s < end; s++) {
        if (*s == '\t' || *s == '\n' || *s == '\r') {
            buf_put(t, run, (size_t)(s - run));
            run = s + 1;
        }
    }
    buf_put(t, run, (size_t)(s - run));
    if (!t->p)
        buf_put(t, "", 0);
    return t->err;
}

/* Length of the scheme at s (without ':'), 0 when s has none. */
static size_t scheme_len(const char *s)
{
    if (!is_alpha(s[0]))
        return 0;
    size_t i = 1;
    while (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

static int scheme_is_http(const char *s, size_t n)
{
    return (n == 4 && strncasecmp(s, "http", 4) == 0) ||
           (n == 5 && strncasecmp(s, "https", 5) == 0);
}

static size_t count_slashes(const char *s)
{
    size_t n = 0;
    while (s[n] == '/' || s[n] == '\\')
        n++;
    return n;
}

static int default_port(const char *scheme) { return scheme[4] == 's' ? 443 : 80; }

/* ---- hosts --------------------------------------------------------------- */

/* WHATWG IPv6 serialisation: lowercase hex, no leading zeros, the first
 * longest run of two or more zero pieces as "::". */
static void put_ipv6(struct buf *b, const unsigned piece[8])
{
    int best = -1, bestlen = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && piece[j] == 0)
            j++;
        if (j - i > bestlen)
            best = i, bestlen = j - i;
        i = j > i ? j : i + 1;
    }
    buf_putc(b, '[');
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            buf_puts(b, i == 0 ? "::" : ":");
            i += bestlen - 1;
            continue;
        }
        char hex[8];
        int n = snprintf(hex, sizeof hex, "%x", piece[i]);
        buf_put(b, hex, (size_t)n);
        if (i != 7)
            buf_putc(b, ':');
    }
    buf_putc(b, ']');
}

/* The URL Standard's IPv6 parser over s[0..n) (between the brackets).
 * inet_pton is not it: it takes "::1.2.3" forms and zone ids differently. */
static int parse_ipv6(const char *s, size_t n, unsigned piece[8])
{
    size_t i = 0;
    int at = 0, compress = -1;
    memset(piece, 0, 8 * sizeof *piece);
    if (i < n && s[i] == ':') {
        if (i + 1 >= n || s[i + 1] != ':')
            return 0;
        i += 2;
        compress = ++at;
    }
    while (i < n) {
        if (at == 8)
            return 0;
        if (s[i] == ':') {
            if (compress >= 0)
                return 0;
            i++;
            compress = ++at;
            continue;
        }
        unsigned v = 0;
        size_t len = 0;
        while (len < 4 && i < n && hex_val(s[i]) >= 0)
            v = v * 16 + (unsigned)hex_val(s[i++]), len++;
        if (i < n && s[i] == '.') { /* an IPv4 address in the last two pieces */
            if (len == 0 || at > 6)
                return 0;
            i -= len;
            int seen = 0;
            while (i < n) {
                int value = -1;
                if (seen > 0) {
                    if (s[i] != '.' || seen >= 4)
                        return 0;
                    i++;
                }
                if (i >= n || !is_digit(s[i]))
                    return 0;
                while (i < n && is_digit(s[i])) {
                    int d = s[i++] - '0';
                    if (value == 0)
                        return 0; /* a leading zero */
                    value = value < 0 ? d : value * 10 + d;
                    if (value > 255)
                        return 0;
                }
                piece[at] = piece[at] * 0x100 + (unsigned)value;
                if (++seen % 2 == 0)
                    at++;
            }
            if (seen != 4)
                return 0;
            break;
        }
        if (i < n && s[i] == ':') {
            if (++i >= n)
                return 0;
        } else if (i < n) {
            return 0;
        }
        piece[at++] = v;
    }
    if (compress >= 0) {
        int swaps = at - compress;
        for (int k = 7; k != 0 && swaps > 0; k--, swaps--) {
            unsigned t = piece[k];
            piece[k] = piece[compress + swaps - 1];
            piece[compress + swaps - 1] = t;
        }
    } else if (at != 8) {
        return 0;
    }
    return 1;
}

/* One IPv4 part as the URL Standard reads it: "0x" hex (bare "0x" is 0),
 * a leading '0' octal, else decimal. Values past 2^32 saturate (they fail
 * anyway). Returns 0 for a character outside the radix. */
static int ipv4_number(const char *s, size_t n, uint64_t *v)
{
    unsigned radix = 10;
    if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
        radix = 16, s += 2, n -= 2;
    else if (n >= 2 && s[0] == '0')
        radix = 8, s++, n--;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hex_val(s[i]);
        if (d < 0 || (unsigned)d >= radix)
            return 0;
        *v = *v > UINT32_MAX ? *v : *v * radix + (unsigned)d;
    }
    return 1;
}

/* The last label of h[0..n) (a trailing dot dropped): "ends in a number". */
static int ends_in_number(const char *h, size_t n)
{
    if (n && h[n - 1] == '.') {
        if (n == 1)
            return 0;
        n--;
    }
    size_t s = n;
    while (s && h[s - 1] != '.')
        s--;
    const char *l = h + s;
    size_t ln = n - s, i = 0;
    uint64_t v;
    while (i < ln && is_digit(l[i]))
        i++;
    if (ln && i == ln)
        return 1;
    return ln >= 2 && l[0] == '0' && (l[1] | 0x20) == 'x' && ipv4_number(l, ln, &v);
}

/* The URL Standard's IPv4 parser: one to four parts, the last filling what
 * the others leave; a trailing dot allowed. Writes dotted decimal. */
static int put_ipv4(struct buf *b, const char *h, size_t n)
{
    uint64_t part[4];
    int count = 0;
    if (n && h[n - 1] == '.')
        n--;
    for (size_t i = 0;; i++) {
        size_t j = i;
        while (j < n && h[j] != '.')
            j++;
        if (count == 4 || j == i || !ipv4_number(h + i, j - i, &part[count]))
            return SILK_URL_EHOST;
        count++;
        if (j == n)
            break;
        i = j;
    }
    uint64_t addr = part[count - 1];
    if (addr >= (uint64_t)1 << (8 * (5 - count)))
        return SILK_URL_EHOST;
    for (int i = 0; i < count - 1; i++) {
        if (part[i] > 255)
            return SILK_URL_EHOST;
        addr += part[i] << (8 * (3 - i));
    }
    char d[16];
    int len = snprintf(d, sizeof d, "%u.%u.%u.%u", (unsigned)(addr >> 24) & 255,
                       (unsigned)(addr >> 16) & 255, (unsigned)(addr >> 8) & 255,
                       (unsigned)addr & 255);
    buf_put(b, d, (size_t)len);
    return b->err;
}

/* Whether h[0..n) has a label starting "xn--" (any case): such a label
 * must be valid Punycode of a valid label (UTS #46 4.1), which only the
 * IDNA library can tell. */
static int has_alabel(const char *h, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if ((i == 0 || h[i - 1] == '.') && strncasecmp(h + i, "xn--", 4) == 0)
            return 1;
    return 0;
}

/* 1 when s[0..n) is well-formed UTF-8 (the host's bytes after
 * percent-decoding must be: the URL Standard decodes them as UTF-8, and a
 * replacement character is never a valid domain code point). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
        if (k == 4 || n - i <= k)
            return 0;
        unsigned cp = k ? c & (0x3f >> k) : c;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Domain to ASCII (UTS #46, non-transitional, CheckHyphens and
 * VerifyDnsLength off) of the percent-decoded host d, appended to b. */
static int put_domain(struct buf *b, const char *d, size_t n)
{
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        ascii &= (unsigned char)d[i] < 0x80;
    if (ascii && !has_alabel(d, n)) {
        for (size_t i = 0; i < n; i++)
            buf_putc(b, (char)to_lower(d[i]));
        return b->err;
    }
    if (!valid_utf8((const unsigned char *)d, n))
        return SILK_URL_EHOST;
    /* libidn2 on the UTF-8 bytes (idn2_lookup_ul would read the locale's
     * charset), ASCII lowercased first as UTS #46 maps it. libidn2 adds
     * IDNA2008's DISALLOWED to UTS #46 (symbols, emoji): those get its
     * transitional lookup, which differs only on the four deviation
     * characters (a host with both is mapped the transitional way). */
    struct buf in = {0};
    for (size_t i = 0; i < n; i++)
        buf_putc(&in, (char)to_lower(d[i]));
    if (in.err)
        return in.err;
    char *res = NULL;
    int irc = idn2_lookup_u8((const uint8_t *)in.p, (uint8_t **)&res, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (irc == IDN2_DISALLOWED)
        irc = idn2_lookup_u8((const uint8_t *)in.p, (uint8_t **)&res, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
    buf_free(&in);
    if (irc == IDN2_MALLOC)
        return SILK_URL_ENOMEM;
    if (irc != IDN2_OK)
        return SILK_URL_EHOST;
    for (const char *p = res; *p; p++)
        buf_putc(b, (char)to_lower(*p));
    idn2_free(res);
    return b->err;
}

/* The URL Standard's host parser for special URLs over h[0..n): IPv6 in
 * brackets, else percent-decoded, domain to ASCII, forbidden domain code
 * points refused, and a domain ending in a number read as IPv4. */
static int put_host(struct buf *b, const char *h, size_t n)
{
    if (!n)
        return SILK_URL_EHOST;
    if (h[0] == '[') {
        unsigned piece[8];
        if (n < 2 || h[n - 1] != ']' || !parse_ipv6(h + 1, n - 2, piece))
            return SILK_URL_EHOST;
        put_ipv6(b, piece);
        return b->err;
    }
    struct buf d = {0}, a = {0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (h[i] == '%' && i + 2 < n && (hi = hex_val(h[i + 1])) >= 0 && (lo = hex_val(h[i + 2])) >= 0) {
            buf_putc(&d, (char)(hi * 16 + lo));
            i += 2;
        } else {
            buf_putc(&d, h[i]);
        }
    }
    if ((rc = d.err) || (rc = put_domain(&a, d.p, d.len)))
        goto done;
    if (!a.len) {
        rc = SILK_URL_EHOST;
        goto done;
    }
    for (size_t i = 0; i < a.len; i++) {
        unsigned char c = (unsigned char)a.p[i];
        if (c <= 0x20 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c)) {
            rc = SILK_URL_EHOST;
            goto done;
        }
    }
    if (ends_in_number(a.p, a.len))
        rc = put_ipv4(b, a.p, a.len);
    else
        buf_put(b, a.p, a.len);
    if (!rc)
        rc = b->err;
done:
    buf_free(&d);
    buf_free(&a);
    return rc;
}

/* ---- paths and queries --------------------------------------------------- */

static int is_dot(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 3 && strncasecmp(s, "%2e", 3) == 0);
}

static int is_dotdot(const char *s, size_t n)
{
    if (n == 2)
        return s[0] == '.' && s[1] == '.';
    if (n == 4)
        return (s[0] == '.' && strncasecmp(s + 1, "%2e", 3) == 0) ||
               (strncasecmp(s, "%2e", 3) == 0 && s[3] == '.');
    return n == 6 && strncasecmp(s, "%2e%2e", 6) == 0;
}

/* Appends path (which starts with '/') with its dot-segments removed, the
 * WHATWG way: "%2e" counts as '.', a final "." or ".." leaves a '/' (the
 * plain path's dedotting; the parser does the same segment by segment). */
static void put_path_dedotted(struct buf *b, const char *p)
{
    size_t base = b->len;
    if (*p == '/')
        p++;
    for (;;) {
        size_t n = strcspn(p, "/");
        int last = p[n] == '\0';
        if (is_dotdot(p, n)) {
            size_t l = b->len;
            while (l > base && b->p[l - 1] != '/')
                l--;
            if (l > base)
                l--; /* drop "/segment" */
            b->len = l;
            if (b->p)
                b->p[l] = '\0';
            if (last)
                buf_putc(b, '/');
        } else if (is_dot(p, n)) {
            if (last)
                buf_putc(b, '/');
        } else {
            buf_putc(b, '/');
            buf_put(b, p, n);
        }
        if (last)
            break;
        p += n + 1;
    }
    if (b->len == base)
        buf_putc(b, '/');
}

struct param {
    const char *s;
    size_t n, keylen, index;
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    if (x->keylen != y->keylen)
        return x->keylen < y->keylen ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Appends the '&'-separated parameters of q sorted by name; parameters of
 * the same name keep their order. */
static void put_query_sorted(struct buf *b, const char *q)
{
    size_t count = 1;
    for (const char *s = q; *s; s++)
        count += *s == '&';
    struct param *v = malloc(count * sizeof *v);
    if (!v) {
        b->err = SILK_URL_ENOMEM;
        return;
    }
    const char *s = q;
    for (size_t i = 0; i < count; i++) {
        size_t n = strcspn(s, "&");
        size_t k = strcspn(s, "=&");
        v[i] = (struct param){s, n, k < n ? k : n, i};
        s += n + (s[n] == '&');
    }
    qsort(v, count, sizeof *v, param_cmp);
    for (size_t i = 0; i < count; i++) {
        if (i)
            buf_putc(b, '&');
        buf_put(b, v[i].s, v[i].n);
    }
    free(v);
}

/* ---- the parser: the URL Standard's basic URL parser for http(s) -------- */

/*
 * The states of the basic URL parser that an http(s) URL goes through
 * (special schemes only: any other scheme is SILK_URL_ESCHEME before a state
 * runs), over input already cleaned (clean()): scheme, special authority
 * (ignore) slashes, authority, host, port, relative and relative slash,
 * path start, path, query, fragment. The path is kept serialised ("/a/b",
 * an empty segment as "/"), which makes "shorten" a cut at the last '/'.
 */

static void path_shorten(struct buf *path)
{
    size_t l = path->len;
    while (l && path->p[l - 1] != '/')
        l--;
    if (l)
        l--;
    path->len = l;
    if (path->p)
        path->p[l] = '\0';
}

static int is_slash(char c) { return c == '/' || c == '\\'; }

/* The query and fragment states at s ('?', '#' or the end). */
static void parse_tail(const char *s, struct buf *query, struct buf *frag, int *has_query,
                       int *has_frag)
{
    if (*s == '?') {
        size_t n = strcspn(++s, "#");
        *has_query = 1;
        for (size_t i = 0; i < n; i++) {
            if (must_encode((unsigned char)s[i], SET_QUERY))
                put_pct(query, (unsigned char)s[i]);
            else
                buf_putc(query, s[i]);
        }
        s += n;
    }
    if (*s == '#') {
        *has_frag = 1;
        put_encoded(frag, s + 1, SET_FRAGMENT);
    }
}

/* The path state from s (just after a separator, or the first segment of a
 * relative path) appending to path, then the query and fragment states. */
static void parse_path(const char *s, struct buf *path, struct buf *query, struct buf *frag,
                       int *has_query, int *has_frag)
{
    for (;;) {
        size_t n = strcspn(s, "/\\?#");
        int sep = is_slash(s[n]);
        if (is_dotdot(s, n)) {
            path_shorten(path);
            if (!sep)
                buf_putc(path, '/');
        } else if (is_dot(s, n)) {
            if (!sep)
                buf_putc(path, '/');
        } else {
            buf_putc(path, '/');
            const char *end = s + n, *run = s;
            for (const char *p = s; p < end; p++) {
                if (must_encode((unsigned char)*p, SET_PATH)) {
                    buf_put(path, run, (size_t)(p - run));
                    put_pct(path, (unsigned char)*p);
                    run = p + 1;
                }
            }
            buf_put(path, run, (size_t)(end - run));
        }
        s += n;
        if (!sep)
            break;
        s++;
    }
    parse_tail(s, query, frag, has_query, has_frag);
}

/* The authority state and what follows it at s (the slashes skipped):
 * userinfo up to the last '@' (every earlier '@' encoded), host, port,
 * then path start. */
static int parse_authority(const char *s, struct silk_url_parts *u, struct buf *path,
                           struct buf *query, struct buf *frag, int *has_query, int *has_frag)
{
    size_t end = strcspn(s, "/\\?#"), at = end;
    while (at && s[at - 1] != '@')
        at--;
    const char *h = s;
    if (at) {
        struct buf user = {0}, pass = {0};
        size_t colon = strcspn(s, ":");
        for (size_t i = 0; i < at - 1; i++) {
            if (i == colon)
                continue;
            struct buf *t = i < colon ? &user : &pass;
            if (must_encode((unsigned char)s[i], SET_USERINFO))
                put_pct(t, (unsigned char)s[i]);
            else
                buf_putc(t, s[i]);
        }
        int rc = user.err ? user.err : pass.err;
        if (!rc && user.len)
            rc = buf_take(&user, &u->user);
        if (!rc && pass.len)
            rc = buf_take(&pass, &u->password);
        buf_free(&user);
        buf_free(&pass);
        if (rc)
            return rc;
        h = s + at;
    }
    size_t hn = (size_t)(s + end - h), colon = hn;
    for (size_t i = 0, brackets = 0; i < hn; i++) {
        if (h[i] == '[')
            brackets = 1;
        else if (h[i] == ']')
            brackets = 0;
        else if (h[i] == ':' && !brackets) {
            colon = i;
            break;
        }
    }
    if (colon < hn) {
        long port = 0;
        for (size_t i = colon + 1; i < hn; i++) {
            if (!is_digit(h[i]))
                return SILK_URL_EPORT;
            port = port * 10 + (h[i] - '0');
            if (port > 65535)
                return SILK_URL_EPORT;
        }
        if (colon + 1 < hn)
            u->port = (int)port;
    }
    struct buf b = {0};
    int rc = put_host(&b, h, colon);
    if (!rc)
        rc = buf_take(&b, &u->host);
    buf_free(&b);
    if (rc)
        return rc;
    s += end;
    parse_path(s + is_slash(*s), path, query, frag, has_query, has_frag);
    return 0;
}

static int dup_into(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : SILK_URL_ENOMEM;
}

/* Parses the cleaned input s against base (NULL: none, else an http(s) URL
 * this function made) into u (zeroed; freed on error). */
static int parse_url(const char *s, const struct silk_url_parts *base, struct silk_url_parts *u)
{
    struct buf path = {0}, query = {0}, frag = {0};
    int has_query = 0, has_frag = 0, rc = 0;
    size_t sl = scheme_len(s);
    memset(u, 0, sizeof *u);
    if (sl) {
        if (!scheme_is_http(s, sl)) {
            rc = SILK_URL_ESCHEME;
            goto done;
        }
        u->scheme = strdup(sl == 5 ? "https" : "http");
        if (!u->scheme) {
            rc = SILK_URL_ENOMEM;
            goto done;
        }
        s += sl + 1;
        /* "http:x" against an http base is relative to it (special relative
         * or authority state); any other way slashes lead to the authority */
        if (!base || strcmp(base->scheme, u->scheme) != 0 || count_slashes(s) >= 2) {
            u->port = default_port(u->scheme);
            rc = parse_authority(s + count_slashes(s), u, &path, &query, &frag, &has_query, &has_frag);
            goto done;
        }
    } else if (!base) {
        rc = SILK_URL_ENOBASE;
        goto done;
    } else if ((rc = dup_into(base->scheme, &u->scheme))) {
        goto done;
    }
    /* relative state */
    u->port = base->port;
    if (is_slash(s[0]) && is_slash(s[1])) {
        u->port = default_port(u->scheme);
        rc = parse_authority(s + count_slashes(s), u, &path, &query, &frag, &has_query, &has_frag);
        goto done;
    }
    if ((rc = dup_into(base->user, &u->user)) || (rc = dup_into(base->password, &u->password)) ||
        (rc = dup_into(base->host, &u->host)))
        goto done;
    if (is_slash(s[0])) {
        parse_path(s + 1, &path, &query, &frag, &has_query, &has_frag);
        goto done;
    }
    buf_puts(&path, base->path);
    if (*s == '\0' || *s == '#') {
        /* the base without its fragment, with s's */
        if (base->query) {
            has_query = 1;
            buf_puts(&query, base->query);
        }
        parse_tail(s, &query, &frag, &has_query, &has_frag);
        goto done;
    }
    if (*s == '?') {
        parse_tail(s, &query, &frag, &has_query, &has_frag);
        goto done;
    }
    path_shorten(&path);
    parse_path(s, &path, &query, &frag, &has_query, &has_frag);
done:
    if (!rc && !path.len)
        buf_putc(&path, '/');
    if (!rc)
        rc = path.err ? path.err : query.err ? query.err : frag.err;
    if (!rc)
        rc = buf_take(&path, &u->path);
    if (!rc && has_query)
        rc = buf_take(&query, &u->query);
    if (!rc && has_frag)
        rc = buf_take(&frag, &u->fragment);
    buf_free(&path);
    buf_free(&query);
    buf_free(&frag);
    if (rc)
        silk_url_parts_free(u);
    return rc;
}

/* ---- serialisation ------------------------------------------------------ */

static void put_authority(struct buf *b, const struct silk_url_parts *p, int always_port)
{
    buf_puts(b, p->scheme);
    buf_puts(b, "://");
    if ((p->user && *p->user) || (p->password && *p->password)) {
        buf_puts(b, p->user ? p->user : "");
        if (p->password && *p->password) {
            buf_putc(b, ':');
            buf_puts(b, p->password);
        }
        buf_putc(b, '@');
    }
    buf_puts(b, p->host);
    if (always_port || p->port != default_port(p->scheme)) {
        char port[16];
        int n = snprintf(port, sizeof port, ":%d", p->port);
        buf_put(b, port, (size_t)n);
    }
}

static int serialise(const struct silk_url_parts *p, int fragment, char **out)
{
    struct buf b = {0};
    put_authority(&b, p, 0);
    buf_puts(&b, p->path);
    if (p->query) {
        buf_putc(&b, '?');
        buf_puts(&b, p->query);
    }
    if (fragment && p->fragment) {
        buf_putc(&b, '#');
        buf_puts(&b, p->fragment);
    }
    return buf_take(&b, out);
}

/* ---- the plain path: links that need no URL parser ---------------------- */

/*
 * Most links on real pages are plain: a lowercase http(s) origin and a path of
 * unreserved characters, or such a path alone ("../c19/p2879.html"). For them
 * every step of the parser is the identity (nothing to clean, encode,
 * decode, lowercase or punycode) except splitting, merging and dot-segment
 * removal, which are done here with put_path_dedotted, straight from the
 * input into one string. A crawl resolves tens of links a page, each through
 * join, canonical and host key.
 *
 * The class is deliberately narrow; anything outside it (uppercase host,
 * userinfo, '%', ';', IDN or A-labels, IPv6, scheme-relative, "?q"-only,
 * empty, empty segments) takes the parser. tests/c/test_url.c and fuzz_url
 * check both agree. Invariant: plain_parts returns 1 only when
 * silk_url_whatwg_parts would return 0 with the same parts.
 */

/* Path characters: unreserved and '/'. Query and fragment also allow '=',
 * '&', '+' and ','. Neither set contains anything a step of the parser
 * would encode, decode or reinterpret. A table: every link is scanned
 * several times (join, canonical, host), one lookup a character. */
enum { PLAIN_PATH = 1, PLAIN_QUERY = 2 };
#define PLAIN_BOTH (PLAIN_PATH | PLAIN_QUERY)
static const unsigned char plain_class[256] = {
    ['a' ... 'z'] = PLAIN_BOTH, ['A' ... 'Z'] = PLAIN_BOTH, ['0' ... '9'] = PLAIN_BOTH,
    ['-'] = PLAIN_BOTH, ['.'] = PLAIN_BOTH, ['_'] = PLAIN_BOTH, ['~'] = PLAIN_BOTH,
    ['/'] = PLAIN_BOTH,
    ['='] = PLAIN_QUERY, ['&'] = PLAIN_QUERY, ['+'] = PLAIN_QUERY, [','] = PLAIN_QUERY,
};

static int plain_path_char(unsigned char c)
{
    return plain_class[c] & PLAIN_PATH;
}

static int plain_query_char(unsigned char c)
{
    return plain_class[c] & PLAIN_QUERY;
}

struct plain {
    const char *scheme;         /* "http" or "https" (static) */
    const char *host;
    size_t host_n;
    int port;
    const char *path;           /* may be empty (then "/") */
    size_t path_n;
    const char *query, *frag;   /* after '?' / '#', NULL when absent */
    size_t query_n, frag_n;
};

/* Splits "path?query#fragment" at s; 0 when a character is outside the
 * sets. */
static int plain_tail(const char *s, struct plain *u)
{
    const char *p = s;
    while (plain_path_char((unsigned char)*p))
        p++;
    u->path = s;
    u->path_n = (size_t)(p - s);
    u->query = u->frag = NULL;
    u->query_n = u->frag_n = 0;
    if (*p == '?') {
        u->query = ++p;
        while (plain_query_char((unsigned char)*p))
            p++;
        u->query_n = (size_t)(p - u->query);
    }
    if (*p == '#') {
        u->frag = ++p;
        while (plain_query_char((unsigned char)*p))
            p++;
        u->frag_n = (size_t)(p - u->frag);
    }
    return *p == '\0';
}

/* A dotted-decimal IPv4 address as WHATWG serialises it: four numbers
 * 0-255 without leading zeros. */
static int plain_ipv4(const char *h, size_t n)
{
    int parts = 0;
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        unsigned v = 0;
        while (i < n && is_digit(h[i]) && i - s < 3)
            v = v * 10 + (unsigned)(h[i++] - '0');
        if (i == s || v > 255 || (h[s] == '0' && i - s > 1))
            return 0;
        parts++;
        if (i < n && (h[i] != '.' || i + 1 == n))
            return 0;
        i += i < n;
    }
    return parts == 4;
}

/* Host: dot-separated labels of lowercase letters, digits and '-', each
 * starting and ending with a letter or digit and none starting "xn--"; a
 * last label starting with a digit only as a plain IPv4 address. */
static int plain_host(const char *h, size_t n)
{
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (i == label || h[i - 1] == '-')
                return 0;
            if (i - label >= 4 && memcmp(h + label, "xn--", 4) == 0)
                return 0; /* an A-label: only IDNA can tell whether it is valid */
            if (i == n && is_digit(h[label]))
                return plain_ipv4(h, n);
            label = i + 1;
        } else if (!((h[i] >= 'a' && h[i] <= 'z') || is_digit(h[i]) ||
                     (h[i] == '-' && i > label))) {
            return 0;
        }
    }
    return 1;
}

/* "http(s)://host[:port][/path][?query][#fragment]", all plain. */
static int plain_absolute(const char *s, struct plain *u)
{
    if (strncmp(s, "http://", 7) == 0) {
        u->scheme = "http";
        s += 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        u->scheme = "https";
        s += 8;
    } else {
        return 0;
    }
    const char *h = s;
    while (*s && *s != ':' && *s != '/')
        s++;
    u->host = h;
    u->host_n = (size_t)(s - h);
    if (!plain_host(h, u->host_n))
        return 0;
    u->port = u->scheme[4] ? 443 : 80;
    if (*s == ':') {
        const char *d = ++s;
        long v = 0;
        while (is_digit(*s) && s - d < 5)
            v = v * 10 + (*s++ - '0');
        if (s == d || (*d == '0' && s - d > 1) || v > 65535)
            return 0;
        u->port = (int)v;
    }
    if (*s != '/' && *s != '\0')
        return 0;
    return plain_tail(s, u);
}

/* 1 when path[0..n) has an empty segment ("//"): memmem's setup costs
 * more than a look at a link's few bytes. */
static int plain_has_empty(const char *path, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (path[i] == '/' && path[i - 1] == '/')
            return 1;
    return 0;
}

/* 1 when path[0..n) has a "." or ".." segment. */
static int plain_has_dots(const char *path, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        if ((j - i == 1 && path[i] == '.') || (j - i == 2 && path[i] == '.' && path[i + 1] == '.'))
            return 1;
        i = j + 1;
    }
    return 0;
}

static char *plain_dup(const char *s, size_t n, struct buf *b)
{
    struct buf t = {0};
    char *out = NULL;
    if (!s)                     /* absent; an empty query or fragment is "" */
        return NULL;
    buf_put(&t, s, n);
    if (!t.err)
        buf_take(&t, &out);
    else
        b->err = t.err;
    return out;
}

/* Fills parts the way the parser would for the plain URL u whose path is
 * the concatenation of dir (may be empty) and u->path. */
static int plain_fill(const struct plain *u, const char *dir, size_t dir_n, int mode,
                      struct silk_url_parts *parts)
{
    struct buf path = {0}, b = {0};
    memset(parts, 0, sizeof *parts);
    parts->port = u->port;
    parts->scheme = plain_dup(u->scheme, strlen(u->scheme), &b);
    parts->host = plain_dup(u->host, u->host_n, &b);
    buf_put(&path, dir, dir_n);
    buf_put(&path, u->path, u->path_n);
    if (!path.err && path.len == 0)
        buf_putc(&path, '/');
    if (!path.err)
        put_path_dedotted(&b, path.p);
    buf_free(&path);
    if (!b.err)
        buf_take(&b, &parts->path);
    if (u->query && (mode & SILK_URL_MODE_SORT)) {
        struct buf q = {0};
        char *raw = plain_dup(u->query, u->query_n, &q);
        if (raw)
            put_query_sorted(&q, raw);
        free(raw);
        if (!q.err)
            buf_take(&q, &parts->query);
        else
            b.err = q.err;
    } else {
        parts->query = plain_dup(u->query, u->query_n, &b);
    }
    parts->fragment = plain_dup(u->frag, u->frag_n, &b);
    int rc = b.err ? b.err : path.err;
    if (!rc && (!parts->scheme || !parts->host || !parts->path))
        rc = SILK_URL_ENOMEM;
    if (rc)
        silk_url_parts_free(parts);
    return rc;
}

/* Whether (base, href) is in the plain class: 1 with u the reference
 * (its scheme and authority taken from the base when href is relative)
 * whose path is to be prefixed with dir[0..dir_n). */
static int plain_classify(const char *base, const char *href, struct plain *u, const char **dir,
                          size_t *dir_n)
{
    struct plain b;
    *dir = "";
    *dir_n = 0;
    if (strlen(href) > SILK_URL_MAX || (base && strlen(base) > SILK_URL_MAX))
        return 0;
    if (scheme_len(href))
        return plain_absolute(href, u);
    if (!base || !plain_absolute(base, &b))
        return 0;
    if (href[0] == '#') {
        /* the base minus its fragment, with href's */
        if (!plain_tail(href, u))
            return 0;
        const char *frag = u->frag;
        size_t frag_n = u->frag_n;
        *u = b;
        u->frag = frag;
        u->frag_n = frag_n;
        return 1;
    }
    if (href[0] == '\0' || href[0] == '?' || (href[0] == '/' && href[1] == '/'))
        return 0;
    /* empty segments next to ".." are kept (WHATWG): left to the parser */
    if (!plain_tail(href, u) || !u->path_n || plain_has_empty(u->path, u->path_n))
        return 0;
    u->scheme = b.scheme;
    u->host = b.host;
    u->host_n = b.host_n;
    u->port = b.port;
    if (u->path[0] == '/')
        return 1;
    /* merge: the base's path up to its last '/' ("/" when it has none);
     * a base with dot-segments or empty segments is left to the parser */
    if (plain_has_dots(b.path, b.path_n) || plain_has_empty(b.path, b.path_n))
        return 0;
    size_t n = b.path_n;
    while (n && b.path[n - 1] != '/')
        n--;
    *dir = n ? b.path : "/";
    *dir_n = n ? n : 1;
    return 1;
}

int silk_url_plain_parts(const char *base, const char *href, int mode,
                         struct silk_url_parts *parts, int *rc)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    if (!plain_classify(base, href, &u, &dir, &dir_n))
        return 0;
    *rc = plain_fill(&u, dir, dir_n, mode, parts);
    return 1;
}

static void put_port(struct buf *b, int port)
{
    char d[8];
    int n = (int)sizeof d;
    do
        d[--n] = (char)('0' + port % 10);
    while ((port /= 10) && n > 1);
    d[--n] = ':';
    buf_put(b, d + n, sizeof d - (size_t)n);
}

/* Room for what plain_put writes of u (dedotting only shortens). */
static size_t plain_len_max(const struct plain *u, size_t dir_n)
{
    return strlen(u->scheme) + 3 + u->host_n + 6 + dir_n + u->path_n + 1 + u->query_n + 1 +
           u->frag_n + 1;
}

/* Appends what serialise() gives for the parts plain_fill() would make,
 * written straight from the input. */
static void plain_put(struct buf *b, const struct plain *u, const char *dir, size_t dir_n,
                      int mode, int fragment)
{
    buf_puts(b, u->scheme);
    buf_put(b, "://", 3);
    buf_put(b, u->host, u->host_n);
    if (u->port != default_port(u->scheme))
        put_port(b, u->port);
    if (!dir_n && !u->path_n) {
        buf_putc(b, '/');
    } else if (!plain_has_dots(dir, dir_n) && !plain_has_dots(u->path, u->path_n)) {
        buf_put(b, dir, dir_n);        /* dedotting a dot-free path is the identity */
        buf_put(b, u->path, u->path_n);
    } else {
        struct buf path = {0};
        buf_put(&path, dir, dir_n);
        buf_put(&path, u->path, u->path_n);
        if (!path.err)
            put_path_dedotted(b, path.p);
        else
            b->err = path.err;
        buf_free(&path);
    }
    if (u->query) {
        buf_putc(b, '?');
        if (mode & SILK_URL_MODE_SORT) {
            struct buf raw = {0};
            buf_put(&raw, u->query, u->query_n);
            if (!raw.err)
                put_query_sorted(b, raw.p);
            else
                b->err = raw.err;
            buf_free(&raw);
        } else {
            buf_put(b, u->query, u->query_n);
        }
    }
    if (fragment && u->frag) {
        buf_putc(b, '#');
        buf_put(b, u->frag, u->frag_n);
    }
}

/* plain_put's string on its own: one allocation instead of seven. */
static int plain_serialise(const struct plain *u, const char *dir, size_t dir_n, int mode,
                           int fragment, char **out)
{
    struct buf b = {0};
    buf_grow(&b, plain_len_max(u, dir_n));
    plain_put(&b, u, dir, dir_n, mode, fragment);
    return buf_take(&b, out);
}

int silk_url_plain_string(const char *base, const char *href, int mode, int fragment,
                          char **out, int *rc)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    if (!plain_classify(base, href, &u, &dir, &dir_n))
        return 0;
    *rc = plain_serialise(&u, dir, dir_n, mode, fragment, out);
    return 1;
}

/* ---- public entry points ------------------------------------------------- */

/* Canonical escapes in every component that has them (the host has none
 * left), then the query sorted: silk_url_canonical's extras. */
static int normalise(struct silk_url_parts *p, int mode)
{
    char **part[] = {&p->user, &p->password, &p->path, &p->query, &p->fragment};
    int rc = 0;
    for (size_t i = 0; i < sizeof part / sizeof *part && !rc; i++) {
        struct buf b = {0};
        char *s;
        if (!*part[i])
            continue;
        if (mode & SILK_URL_MODE_CANON)
            put_pct_normalised(&b, *part[i], strlen(*part[i]));
        else
            buf_puts(&b, *part[i]);
        if (part[i] == &p->query && (mode & SILK_URL_MODE_SORT) && !b.err) {
            struct buf q = {0};
            put_query_sorted(&q, b.p ? b.p : "");
            buf_free(&b);
            b = q;
        }
        if (!(rc = buf_take(&b, &s))) {
            free(*part[i]);
            *part[i] = s;
        }
    }
    return rc;
}

int silk_url_whatwg_parts(const char *base, const char *href, int mode, struct silk_url_parts *parts)
{
    struct buf t = {0}, tb = {0};
    struct silk_url_parts bp = {0};
    int rc = clean(href, &t);
    memset(parts, 0, sizeof *parts);
    if (rc)
        goto done;
    /* A base that does not parse as http(s) is none: a relative href fails,
     * an absolute one needs no base. */
    size_t sl = scheme_len(t.p);
    if (base && !(sl && count_slashes(t.p + sl + 1) >= 2)) {
        if ((rc = clean(base, &tb)) == 0)
            rc = parse_url(tb.p, NULL, &bp);
        if (rc == SILK_URL_ENOMEM)
            goto done;
    }
    rc = parse_url(t.p, bp.scheme ? &bp : NULL, parts);
    if (!rc && mode)
        rc = normalise(parts, mode);
    if (rc)
        silk_url_parts_free(parts);
done:
    silk_url_parts_free(&bp);
    buf_free(&t);
    buf_free(&tb);
    return rc;
}

static int parse_mode(const char *base, const char *href, int mode, struct silk_url_parts *parts)
{
    int rc;
    if (silk_url_plain_parts(base, href, mode, parts, &rc))
        return rc;
    return silk_url_whatwg_parts(base, href, mode, parts);
}

int silk_url_join(const char *base, const char *href, char **out)
{
    struct silk_url_parts p;
    int rc;
    *out = NULL;
    if (silk_url_plain_string(base, href, 0, 1, out, &rc))
        return rc;
    rc = parse_mode(base, href, 0, &p);
    if (!rc)
        rc = serialise(&p, 1, out);
    silk_url_parts_free(&p);
    return rc;
}

int silk_url_canonical(const char *url, unsigned flags, char **out)
{
    struct silk_url_parts p;
    *out = NULL;
    int mode = SILK_URL_MODE_CANON | (flags & SILK_URL_SORT_QUERY ? SILK_URL_MODE_SORT : 0);
    int rc;
    if (silk_url_plain_string(NULL, url, mode, !!(flags & SILK_URL_KEEP_FRAGMENT), out, &rc))
        return rc;
    rc = parse_mode(NULL, url, mode, &p);
    if (!rc)
        rc = serialise(&p, flags & SILK_URL_KEEP_FRAGMENT, out);
    silk_url_parts_free(&p);
    return rc;
}

int silk_url_plain_host_key(const char *url, char *key, size_t keysz)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    if (!plain_classify(NULL, url, &u, &dir, &dir_n))
        return 0;
    int n = snprintf(key, keysz, "%s://%.*s:%d", u.scheme, (int)u.host_n, u.host, u.port);
    return n > 0 && (size_t)n < keysz;
}

int silk_url_host_key(const char *url, char **out)
{
    struct silk_url_parts p;
    struct buf b = {0};
    char key[512];
    *out = NULL;
    if (silk_url_plain_host_key(url, key, sizeof key)) {
        buf_puts(&b, key);
        return buf_take(&b, out);
    }
    int rc = parse_mode(NULL, url, 0, &p);
    if (!rc) {
        struct silk_url_parts hp = {.scheme = p.scheme, .host = p.host, .port = p.port};
        put_authority(&b, &hp, 1);
        rc = buf_take(&b, out);
    }
    silk_url_parts_free(&p);
    return rc;
}

int silk_url_host(const char *url, char **out)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    struct buf b = {0};
    *out = NULL;
    if (plain_classify(NULL, url, &u, &dir, &dir_n)) {
        buf_put(&b, u.host, u.host_n);
        return buf_take(&b, out);
    }
    struct silk_url_parts p;
    int rc = parse_mode(NULL, url, 0, &p);
    if (!rc) {
        buf_puts(&b, p.host);
        rc = buf_take(&b, out);
    }
    silk_url_parts_free(&p);
    return rc;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void silk_url_resolved_free(struct silk_url_resolved *r)
{
    if (r->block) {
        free(r->block);
    } else {
        free(r->url);
        free(r->canonical);
        free(r->host);
    }
    memset(r, 0, sizeof *r);
}

int silk_url_resolve(const char *base, const char *href, struct silk_url_resolved *out)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    int rc;
    memset(out, 0, sizeof *out);
    if (plain_classify(base, href, &u, &dir, &dir_n)) {
        /* The canonical form of a plain URL is the URL without its fragment
         * (nothing to escape, sort or dedot again; '#' occurs nowhere else).
         * The three go into one allocation, "url\0canonical\0host\0",
         * sized before the first byte is written. */
        size_t max = plain_len_max(&u, dir_n);
        struct buf b = {0};
        buf_grow(&b, 2 * max + u.host_n + 2);
        plain_put(&b, &u, dir, dir_n, 0, 1);
        size_t url_n = b.len, canon_n = b.len;
        const char *hash = b.err ? NULL : memchr(b.p, '#', url_n);
        if (hash)
            canon_n = (size_t)(hash - b.p);
        buf_put(&b, "", 1);
        if (!buf_grow(&b, canon_n + 1)) /* b's own bytes: copied after any move */
            buf_put(&b, b.p, canon_n);
        buf_put(&b, "", 1);
        buf_put(&b, u.host, u.host_n);
        rc = b.err;
        if (!rc) {
            out->block = out->url = b.p;
            out->canonical = b.p + url_n + 1;
            out->host = out->canonical + canon_n + 1;
            out->url_len = url_n;
            out->canonical_len = canon_n;
            out->host_len = u.host_n;
        } else {
            buf_free(&b);
        }
    } else {
        /* One parse: a serialised URL parses back to the same parts (the
         * Standard's idempotence; fuzz_url checks it), so canonical() of
         * the URL is the URL's own parts normalised. */
        struct silk_url_parts p;
        rc = silk_url_whatwg_parts(base, href, 0, &p);
        if (!rc)
            rc = serialise(&p, 1, &out->url);
        if (!rc && !(out->host = dup_n(p.host, strlen(p.host))))
            rc = SILK_URL_ENOMEM;
        if (!rc)
            rc = normalise(&p, SILK_URL_MODE_CANON);
        if (!rc)
            rc = serialise(&p, 0, &out->canonical);
        silk_url_parts_free(&p);
        if (!rc) {
            out->url_len = strlen(out->url);
            out->canonical_len = strlen(out->canonical);
            out->host_len = strlen(out->host);
        }
    }
    if (rc)
        silk_url_resolved_free(out);
    return rc;
}

int silk_url_serialise(const struct silk_url_parts *parts, int fragment, char **out)
{
    return serialise(parts, fragment, out);
}

int silk_url_parse(const char *url, struct silk_url_parts *parts)
{
    return parse_mode(NULL, url, 0, parts);
}

void silk_url_parts_free(struct silk_url_parts *p)
{
    free(p->scheme);
    free(p->user);
    free(p->password);
    free(p->host);
    free(p->path);
    free(p->query);
    free(p->fragment);
    memset(p, 0, sizeof *p);
}

int silk_url_is_http(const char *url)
{
    struct plain u;
    const char *dir;
    size_t dir_n;
    if (plain_classify(NULL, url, &u, &dir, &dir_n))
        return 1;
    struct silk_url_parts p;
    int rc = parse_mode(NULL, url, 0, &p);
    silk_url_parts_free(&p);
    return rc == 0;
}

const char *silk_url_strerror(int code)
{
    switch (code) {
    case SILK_URL_OK: return "ok";
    case SILK_URL_ENOMEM: return "out of memory";
    case SILK_URL_EINVAL: return "malformed URL";
    case SILK_URL_ESCHEME: return "unsupported scheme (only http and https)";
    case SILK_URL_ENOBASE: return "relative URL without a usable base";
    case SILK_URL_EHOST: return "invalid host";
    case SILK_URL_EPORT: return "invalid port";
    case SILK_URL_ETOOLONG: return "URL too long";
    default: return "unknown URL error";
    }
}
