/*
 * url.c -- join, canonicalise, host key over curl_url; see url.h.
 *
 * The pipeline of every entry point:
 *
 *   clean (trim, drop tab/newline)          -- WHATWG "basic URL parser" prelude
 *   classify (scheme? slashes? relative?)   -- decide what curl is given
 *   emit (percent-encode, '\' -> '/')       -- bytes curl 7.88 refuses or mangles
 *   curl_url_set (parse, resolve, dedot)    -- libcurl does the URL parsing
 *   extract (host, port, path, ...)         -- normalise each part
 *   serialise
 *
 * Plain inputs skip the pipeline (silk_url_plain_parts, "the plain path").
 * Where curl 7.88 and WHATWG disagree the fix is named at the fix ("curl:").
 * No function here raises or keeps state; all memory is released on every path.
 */
#define _GNU_SOURCE    /* memmem */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <idn2.h>

#include "url.h"
#include "url_int.h"

/* ---- a small growable byte buffer; the first error sticks ---------------- */

struct buf {
    char *p;
    size_t len, cap;
    int err; /* 0 or SILK_URL_ENOMEM */
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = SILK_URL_ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
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
    default: /* SET_PATH */
        return c == '"' || c == '#' || c == '<' || c == '>' || c == '?' || c == '`' ||
               c == '{' || c == '}';
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

/* Appends s for curl: when authority is set, the bytes up to the first
 * '/', '\', '?' or '#' are the host part and keep non-ASCII (for IDN);
 * elsewhere controls, spaces and non-ASCII bytes are percent-encoded (curl
 * refuses raw spaces and controls, and in relative references encodes a
 * space in the query as '+'). A '\' before the first '?' or '#' is a '/'
 * (curl keeps it, WHATWG reads it as a separator in special URLs). */
static void emit(struct buf *b, const char *s, int authority)
{
    int in_query = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (authority && (c == '/' || c == '\\' || c == '?' || c == '#'))
            authority = 0;
        if (c == '?' || c == '#')
            in_query = 1;
        if (c == '\\' && !in_query)
            buf_putc(b, '/');
        else if (c <= 0x20 || c == 0x7f || (c >= 0x80 && !authority))
            put_pct(b, c);
        else
            buf_putc(b, (char)c);
    }
}

static int curl_rc(CURLUcode rc)
{
    switch (rc) {
    case CURLUE_OK: return 0;
    case CURLUE_OUT_OF_MEMORY: return SILK_URL_ENOMEM;
    case CURLUE_UNSUPPORTED_SCHEME: case CURLUE_BAD_SCHEME: return SILK_URL_ESCHEME;
    case CURLUE_BAD_PORT_NUMBER: return SILK_URL_EPORT;
    case CURLUE_NO_HOST: case CURLUE_BAD_HOSTNAME: case CURLUE_BAD_IPV6:
    case CURLUE_LACKS_IDN: return SILK_URL_EHOST;
    default: return SILK_URL_EINVAL;
    }
}

/* Parses the absolute http(s) URL `url` into a new handle *hp. */
static int parse_absolute(const char *url, CURLU **hp)
{
    struct buf t = {0}, r = {0};
    CURLU *h = NULL;
    int rc = clean(url, &t);
    if (rc)
        goto done;
    size_t sl = scheme_len(t.p);
    if (!sl) {
        rc = SILK_URL_ENOBASE;
        goto done;
    }
    if (!scheme_is_http(t.p, sl)) {
        rc = SILK_URL_ESCHEME;
        goto done;
    }
    /* curl: wants one to three slashes; WHATWG skips any number of '/' '\'. */
    const char *rest = t.p + sl + 1;
    rest += count_slashes(rest);
    if (!*rest) {
        rc = SILK_URL_EHOST;
        goto done;
    }
    for (size_t i = 0; i < sl; i++)
        buf_putc(&r, (char)to_lower(t.p[i]));
    buf_puts(&r, "://");
    emit(&r, rest, 1);
    if ((rc = r.err))
        goto done;
    if (!(h = curl_url())) {
        rc = SILK_URL_ENOMEM;
        goto done;
    }
    rc = curl_rc(curl_url_set(h, CURLUPART_URL, r.p, 0));
done:
    if (rc) {
        curl_url_cleanup(h);
        h = NULL;
    }
    *hp = h;
    buf_free(&t);
    buf_free(&r);
    return rc;
}

/* Applies the relative reference `ref` (cleaned) to the handle h that holds
 * an absolute http(s) URL. */
static int apply_relative(CURLU *h, const char *ref)
{
    struct buf r = {0};
    int rc = 0;
    if (!*ref) {
        /* curl: an empty reference yields the base's directory; WHATWG
         * (and RFC 3986) keep the base minus its fragment. */
        rc = curl_rc(curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0));
        goto done;
    }
    if (*ref == '#') {
        /* curl: "#frag" loses the base's last segment and query. */
        emit(&r, ref + 1, 0);
        if (!(rc = r.err))
            rc = curl_rc(curl_url_set(h, CURLUPART_FRAGMENT, r.len ? r.p : NULL, 0));
        goto done;
    }
    /* curl: a '/' in the base's fragment passes for a path separator
     * ("http://h/b#./" + "g" gave "http://h/b#./g"); no reference but the
     * two above ever uses the base's fragment (WHATWG; RFC 3986 5.2.2). */
    if ((rc = curl_rc(curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0))))
        goto done;
    size_t ns = count_slashes(ref);
    if (ns >= 2) {
        buf_puts(&r, "//"); /* WHATWG skips any further slashes */
        emit(&r, ref + ns, 1);
    } else {
        /* curl: "1a:b" would be taken for a scheme; WHATWG needs a letter
         * first (and we only get here without a scheme). */
        size_t seg = strcspn(ref, "/\\?#");
        if (memchr(ref, ':', seg))
            buf_puts(&r, "./");
        emit(&r, ref, 0);
    }
    if (!(rc = r.err))
        rc = curl_rc(curl_url_set(h, CURLUPART_URL, r.p, 0));
done:
    buf_free(&r);
    return rc;
}

/* Resolves href against base into a new handle *hp (base may be NULL). */
static int resolve(const char *base, const char *href, CURLU **hp)
{
    struct buf t = {0};
    CURLU *h = NULL;
    char *bscheme = NULL;
    int rc = clean(href, &t);
    *hp = NULL;
    if (rc)
        goto done;
    const char *ref = t.p;
    size_t sl = scheme_len(ref);
    if (sl) {
        if (!scheme_is_http(ref, sl)) {
            rc = SILK_URL_ESCHEME;
            goto done;
        }
        if (!base || count_slashes(ref + sl + 1) >= 2) {
            rc = parse_absolute(ref, &h);
            goto done;
        }
    } else if (!base) {
        rc = SILK_URL_ENOBASE;
        goto done;
    }
    rc = parse_absolute(base, &h);
    if (rc) {
        rc = rc == SILK_URL_ENOMEM ? rc : SILK_URL_ENOBASE;
        goto done;
    }
    if (sl) {
        /* WHATWG: "http:foo" against an http base is relative; against
         * another scheme it is "http://foo". curl: refuses both. */
        if ((rc = curl_rc(curl_url_get(h, CURLUPART_SCHEME, &bscheme, 0))))
            goto done;
        if (strlen(bscheme) == sl && strncasecmp(bscheme, ref, sl) == 0) {
            ref += sl + 1;
        } else {
            curl_url_cleanup(h);
            h = NULL;
            rc = parse_absolute(ref, &h);
            goto done;
        }
    }
    rc = apply_relative(h, ref);
done:
    if (rc) {
        curl_url_cleanup(h);
        h = NULL;
    }
    *hp = h;
    curl_free(bscheme);
    buf_free(&t);
    return rc;
}

/* ---- hosts --------------------------------------------------------------- */

/* WHATWG IPv6 serialisation: lowercase hex, no leading zeros, the first
 * longest run of two or more zero pieces as "::". curl keeps the case and
 * form it was given; inet_ntop writes "::ffff:1.2.3.4" where WHATWG writes
 * "::ffff:102:304". */
static void put_ipv6(struct buf *b, const unsigned char a[16])
{
    unsigned piece[8];
    int best = -1, bestlen = 1;
    for (int i = 0; i < 8; i++)
        piece[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
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

/* WHATWG: a host whose last label is a number must be an IPv4 address (curl
 * has already rewritten every valid IPv4 form to dotted decimal). curl:
 * accepts "999.1.1.1" and "1.2.3.4.5" as names. */
static int ends_in_number(const char *h, size_t n)
{
    if (n && h[n - 1] == '.')
        n--;
    size_t s = n;
    while (s && h[s - 1] != '.')
        s--;
    const char *l = h + s;
    size_t ln = n - s;
    if (!ln)
        return 0;
    size_t i = 0;
    if (ln >= 2 && l[0] == '0' && (l[1] | 0x20) == 'x')
        for (i = 2; i < ln && hex_val(l[i]) >= 0; i++)
            ;
    else
        for (; i < ln && is_digit(l[i]); i++)
            ;
    return i == ln;
}

static int put_host(struct buf *b, const char *h)
{
    size_t n = strlen(h);
    if (!n)
        return SILK_URL_EHOST;
    if (h[0] == '[') {
        char tmp[64];
        unsigned char a[16];
        if (n < 3 || n - 2 >= sizeof tmp || h[n - 1] != ']')
            return SILK_URL_EHOST;
        memcpy(tmp, h + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, a) != 1)
            return SILK_URL_EHOST;
        put_ipv6(b, a);
        return b->err;
    }
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        ascii &= (unsigned char)h[i] < 0x80;
    size_t start = b->len;
    if (ascii) {
        for (size_t i = 0; i < n; i++)
            buf_putc(b, (char)to_lower(h[i]));
    } else {
        /* curl: CURLU_PUNYCODE (7.88) goes through idn2_lookup_ul, which reads
         * the locale's charset and fails with "out of memory" in the C
         * locale; we call libidn2 on the UTF-8 bytes ourselves. */
        char *res = NULL;
        int flags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;
        int irc = idn2_lookup_u8((const uint8_t *)h, (uint8_t **)&res, flags);
        if (irc == IDN2_DISALLOWED)
            irc = idn2_lookup_u8((const uint8_t *)h, (uint8_t **)&res, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
        if (irc == IDN2_MALLOC)
            return SILK_URL_ENOMEM;
        if (irc != IDN2_OK)
            return SILK_URL_EHOST;
        for (const char *p = res; *p; p++)
            buf_putc(b, (char)to_lower(*p));
        idn2_free(res);
    }
    if (b->err)
        return b->err;
    const char *out = b->p + start;
    size_t on = b->len - start;
    if (!on)
        return SILK_URL_EHOST;
    /* WHATWG forbidden domain code points. curl: percent-decodes the host
     * and accepts "%25" as '%', so "http://%25%25/" had a host of "%%". */
    for (size_t i = 0; i < on; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c <= 0x20 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c))
            return SILK_URL_EHOST;
    }
    if (ends_in_number(out, on)) {
        unsigned char a[4];
        if (inet_pton(AF_INET, out, a) != 1)
            return SILK_URL_EHOST;
    }
    return 0;
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
 * WHATWG way: "%2e" counts as '.', a final "." or ".." leaves a '/'.
 * curl: resolves "." and ".." but not their escaped forms. */
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

/* ---- extraction and serialisation -------------------------------------- */

/* Gets one part of h; absent parts (and empty query or fragment) are NULL. */
static int get_part(CURLU *h, CURLUPart what, char **out)
{
    *out = NULL;
    CURLUcode c = curl_url_get(h, what, out, 0);
    switch (c) {
    case CURLUE_OK:
        if ((what == CURLUPART_QUERY || what == CURLUPART_FRAGMENT) && !**out) {
            curl_free(*out);
            *out = NULL;
        }
        return 0;
    case CURLUE_NO_USER: case CURLUE_NO_PASSWORD: case CURLUE_NO_PORT:
    case CURLUE_NO_QUERY: case CURLUE_NO_FRAGMENT: case CURLUE_NO_ZONEID:
        return 0;
    default:
        return curl_rc(c);
    }
}

/* Copies component s (curl's raw text) into a new malloc'd *out, with the
 * set's percent-encoding; canon also normalises escapes. */
static int component(const char *s, int set, int canon, char **out)
{
    struct buf a = {0}, b = {0};
    *out = NULL;
    if (!s)
        return 0;
    put_encoded(&a, s, set);
    if (!a.err && canon) {
        put_pct_normalised(&b, a.p ? a.p : "", a.len);
        buf_free(&a);
        a = b;
    }
    return buf_take(&a, out);
}

/* Fills parts from h, normalised; mode is a mask of SILK_URL_MODE_*. */
static int extract(CURLU *h, int mode, struct silk_url_parts *parts)
{
    enum { SCHEME, USER, PASSWORD, HOST, ZONE, PORT, PATH, QUERY, FRAGMENT, NPARTS };
    static const CURLUPart which[NPARTS] = {
        CURLUPART_SCHEME, CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_HOST,
        CURLUPART_ZONEID, CURLUPART_PORT, CURLUPART_PATH, CURLUPART_QUERY,
        CURLUPART_FRAGMENT,
    };
    char *raw[NPARTS] = {0};
    struct buf b = {0};
    char *tmp = NULL;
    int rc = 0, canon = mode & SILK_URL_MODE_CANON;
    memset(parts, 0, sizeof *parts);
    for (int i = 0; i < NPARTS && !rc; i++)
        rc = get_part(h, which[i], &raw[i]);
    if (rc)
        goto done;
    if (!raw[SCHEME] || !scheme_is_http(raw[SCHEME], strlen(raw[SCHEME]))) {
        rc = SILK_URL_ESCHEME;
        goto done;
    }
    if (raw[ZONE] || !raw[HOST]) { /* WHATWG has no zone ids */
        rc = SILK_URL_EHOST;
        goto done;
    }
    int https = raw[SCHEME][4] == 's';
    parts->port = https ? 443 : 80;
    if (raw[PORT]) {
        char *end;
        long p = strtol(raw[PORT], &end, 10);
        if (*end || p < 0 || p > 65535) {
            rc = SILK_URL_EPORT;
            goto done;
        }
        parts->port = (int)p;
    }
    if ((rc = component(raw[SCHEME], SET_PATH, 0, &parts->scheme)) ||
        (rc = component(raw[USER], SET_USERINFO, canon, &parts->user)) ||
        (rc = component(raw[PASSWORD], SET_USERINFO, canon, &parts->password)) ||
        (rc = component(raw[FRAGMENT], SET_FRAGMENT, canon, &parts->fragment)))
        goto done;
    if ((rc = put_host(&b, raw[HOST])) || (rc = buf_take(&b, &parts->host)))
        goto done;
    /* path: escapes normalised before dot-segments, so "%2E%2E" is "..". */
    if ((rc = component(raw[PATH] && *raw[PATH] ? raw[PATH] : "/", SET_PATH, canon, &tmp)))
        goto done;
    put_path_dedotted(&b, tmp);
    if ((rc = buf_take(&b, &parts->path)))
        goto done;
    free(tmp);
    tmp = NULL;
    if ((rc = component(raw[QUERY], SET_QUERY, canon, &tmp)))
        goto done;
    if (tmp && (mode & SILK_URL_MODE_SORT)) {
        put_query_sorted(&b, tmp);
        rc = buf_take(&b, &parts->query);
    } else {
        parts->query = tmp;
        tmp = NULL;
    }
done:
    for (int i = 0; i < NPARTS; i++)
        curl_free(raw[i]);
    free(tmp);
    buf_free(&b);
    if (rc)
        silk_url_parts_free(parts);
    return rc;
}

static int default_port(const char *scheme) { return scheme[4] == 's' ? 443 : 80; }

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
 * every step of the curl path is the identity (nothing to clean, encode,
 * decode, lowercase or punycode) except splitting, merging and dot-segment
 * removal, which are done here with the same put_path_dedotted. A crawl
 * resolves tens of links a page, each through join, canonical and host key;
 * through curl that was a third of the loop thread's CPU.
 *
 * The class is deliberately narrow; anything outside it (uppercase host,
 * userinfo, '%', ';', IDN, IPv6, scheme-relative, "?q"-only, empty) takes the
 * curl path. tests/c/test_url.c checks both paths agree over a generated
 * corpus. Invariant: plain_parts returns 1 only when silk_url_curl_parts
 * would return 0 with the same parts.
 */

/* Path characters: unreserved and '/'. Query and fragment also allow '=',
 * '&', '+' and ','. Neither set contains anything a step of the curl path
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
 * starting and ending with a letter or digit; a last label starting with
 * a digit only as a plain IPv4 address. */
static int plain_host(const char *h, size_t n)
{
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (i == label || h[i - 1] == '-')
                return 0;
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
    if (!s || !n)               /* absent or empty: NULL, as get_part */
        return NULL;
    buf_put(&t, s, n);
    if (!t.err)
        buf_take(&t, &out);
    else
        b->err = t.err;
    return out;
}

/* Fills parts the way extract() would for the plain URL u whose path is
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
    if (u->query_n && (mode & SILK_URL_MODE_SORT)) {
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
    /* curl drops empty segments next to "..", WHATWG keeps them: neither
     * way is plain */
    if (!plain_tail(href, u) || !u->path_n || memmem(u->path, u->path_n, "//", 2))
        return 0;
    u->scheme = b.scheme;
    u->host = b.host;
    u->host_n = b.host_n;
    u->port = b.port;
    if (u->path[0] == '/')
        return 1;
    /* merge: the base's path up to its last '/' ("/" when it has none);
     * a base with dot-segments is resolved first by curl, and curl drops the
     * empty segments of "//" where WHATWG keeps them: take curl's way */
    if (plain_has_dots(b.path, b.path_n) || memmem(b.path, b.path_n, "//", 2))
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
    int n = 0;
    do
        d[n++] = (char)('0' + port % 10);
    while ((port /= 10) && n < (int)sizeof d);
    buf_putc(b, ':');
    while (n)
        buf_putc(b, d[--n]);
}

/* What serialise() gives for the parts plain_fill() would make, written
 * straight from the input: one allocation instead of seven. */
static int plain_serialise(const struct plain *u, const char *dir, size_t dir_n, int mode,
                           int fragment, char **out)
{
    struct buf b = {0};
    buf_puts(&b, u->scheme);
    buf_put(&b, "://", 3);
    buf_put(&b, u->host, u->host_n);
    if (u->port != default_port(u->scheme))
        put_port(&b, u->port);
    if (!dir_n && !u->path_n) {
        buf_putc(&b, '/');
    } else if (!plain_has_dots(dir, dir_n) && !plain_has_dots(u->path, u->path_n)) {
        buf_put(&b, dir, dir_n);        /* dedotting a dot-free path is the identity */
        buf_put(&b, u->path, u->path_n);
    } else {
        struct buf path = {0};
        buf_put(&path, dir, dir_n);
        buf_put(&path, u->path, u->path_n);
        if (!path.err)
            put_path_dedotted(&b, path.p);
        else
            b.err = path.err;
        buf_free(&path);
    }
    if (u->query_n) {
        buf_putc(&b, '?');
        if (mode & SILK_URL_MODE_SORT) {
            struct buf raw = {0};
            buf_put(&raw, u->query, u->query_n);
            if (!raw.err)
                put_query_sorted(&b, raw.p);
            else
                b.err = raw.err;
            buf_free(&raw);
        } else {
            buf_put(&b, u->query, u->query_n);
        }
    }
    if (fragment && u->frag_n) {
        buf_putc(&b, '#');
        buf_put(&b, u->frag, u->frag_n);
    }
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

int silk_url_curl_parts(const char *base, const char *href, int mode, struct silk_url_parts *parts)
{
    CURLU *h = NULL;
    int rc = resolve(base, href, &h);
    if (!rc)
        rc = extract(h, mode, parts);
    else
        memset(parts, 0, sizeof *parts);
    curl_url_cleanup(h);
    return rc;
}

static int parse_mode(const char *base, const char *href, int mode, struct silk_url_parts *parts)
{
    int rc;
    if (silk_url_plain_parts(base, href, mode, parts, &rc))
        return rc;
    return silk_url_curl_parts(base, href, mode, parts);
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
    free(r->url);
    free(r->canonical);
    free(r->host);
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
         * (nothing to escape, sort or dedot again; '#' occurs nowhere else). */
        rc = plain_serialise(&u, dir, dir_n, 0, 1, &out->url);
        if (!rc) {
            out->canonical = dup_n(out->url, strcspn(out->url, "#"));
            out->host = dup_n(u.host, u.host_n);
            if (!out->canonical || !out->host)
                rc = SILK_URL_ENOMEM;
        }
    } else {
        rc = silk_url_join(base, href, &out->url);
        if (!rc)
            rc = silk_url_canonical(out->url, 0, &out->canonical);
        if (!rc)
            rc = silk_url_host(out->canonical, &out->host);
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
