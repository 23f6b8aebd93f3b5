/*
 * charset.c -- encoding detection and transcoding to UTF-8; see charset.h.
 */
#define _GNU_SOURCE 1                  /* memmem */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"

#define PRESCAN_BYTES 1024

/* WHATWG label groups that differ from iconv's spelling. The other labels
 * (koi8-r, iso-8859-5, euc-jp, windows-1251, ...) are passed to iconv
 * upper-cased and kept if it knows them. */
static const struct alias { const char *label, *name; } aliases[] = {
    {"utf-8", "UTF-8"}, {"utf8", "UTF-8"}, {"unicode-1-1-utf-8", "UTF-8"},
    {"x-unicode20utf8", "UTF-8"}, {"unicode11utf8", "UTF-8"}, {"unicode20utf8", "UTF-8"},
    {"us-ascii", "WINDOWS-1252"}, {"ascii", "WINDOWS-1252"}, {"ansi_x3.4-1968", "WINDOWS-1252"},
    {"iso-8859-1", "WINDOWS-1252"}, {"iso8859-1", "WINDOWS-1252"}, {"iso_8859-1", "WINDOWS-1252"},
    {"iso88591", "WINDOWS-1252"}, {"latin1", "WINDOWS-1252"}, {"l1", "WINDOWS-1252"},
    {"cp1252", "WINDOWS-1252"}, {"windows-1252", "WINDOWS-1252"}, {"x-cp1252", "WINDOWS-1252"},
    {"cp819", "WINDOWS-1252"}, {"ibm819", "WINDOWS-1252"}, {"csisolatin1", "WINDOWS-1252"},
    {"iso-ir-100", "WINDOWS-1252"}, {"x-user-defined", "WINDOWS-1252"},
    {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"sjis", "CP932"}, {"x-sjis", "CP932"},
    {"ms_kanji", "CP932"}, {"ms932", "CP932"}, {"windows-31j", "CP932"}, {"csshiftjis", "CP932"},
    {"gbk", "GB18030"}, {"gb2312", "GB18030"}, {"gb_2312", "GB18030"}, {"gb_2312-80", "GB18030"},
    {"x-gbk", "GB18030"}, {"chinese", "GB18030"}, {"csgb2312", "GB18030"}, {"iso-ir-58", "GB18030"},
    {"cp936", "GB18030"}, {"ms936", "GB18030"}, {"windows-936", "GB18030"}, {"gb18030", "GB18030"},
    {"cp1251", "WINDOWS-1251"}, {"x-cp1251", "WINDOWS-1251"}, {"windows-1251", "WINDOWS-1251"},
    {"euc-kr", "CP949"}, {"ks_c_5601-1987", "CP949"}, {"windows-949", "CP949"}, {"cp949", "CP949"},
    {"big5", "BIG5-HKSCS"}, {"big5-hkscs", "BIG5-HKSCS"}, {"x-x-big5", "BIG5-HKSCS"},
    {"utf-16", "UTF-16LE"}, {"utf-16le", "UTF-16LE"}, {"utf-16be", "UTF-16BE"},
    {"latin2", "ISO-8859-2"}, {"tis-620", "WINDOWS-874"}, {"iso-8859-11", "WINDOWS-874"},
};

static const char *const source_names[] = {
    [SILK_CHARSET_BOM] = "bom", [SILK_CHARSET_HEADER] = "header",
    [SILK_CHARSET_META] = "meta", [SILK_CHARSET_SNIFF] = "sniff",
    [SILK_CHARSET_DEFAULT] = "default",
};

const char *silk_charset_source_name(silk_charset_source s)
{
    return s <= SILK_CHARSET_DEFAULT ? source_names[s] : "default";
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int iconv_knows(const char *name)
{
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1)
        return 0;
    iconv_close(cd);
    return 1;
}

const char *silk_charset_canonical(const char *label, size_t len, char *buf)
{
    char lab[SILK_CHARSET_NAME_MAX];
    size_t n = 0;

    while (len > 0 && (is_space((unsigned char)*label) || *label == '"' || *label == '\'')) {
        label++;
        len--;
    }
    while (len > 0 && (is_space((unsigned char)label[len - 1]) || label[len - 1] == '"' ||
                       label[len - 1] == '\''))
        len--;
    if (len == 0 || len >= sizeof lab)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int c = lower((unsigned char)label[i]);
        /* only label characters: keeps iconv suffixes such as //TRANSLIT out */
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':'))
            return NULL;
        lab[n++] = (char)c;
    }
    lab[n] = 0;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        if (strcmp(lab, aliases[i].label) == 0) {
            strcpy(buf, aliases[i].name);
            /* an old iconv without CP932/GB18030: fall back to the base set */
            if (!iconv_knows(buf)) {
                const char *alt = !strcmp(buf, "CP932") ? "SHIFT_JIS" :
                                  !strcmp(buf, "GB18030") ? "GBK" : NULL;
                if (!alt || !iconv_knows(alt))
                    return NULL;
                strcpy(buf, alt);
            }
            return buf;
        }
    }
    for (size_t i = 0; i <= n; i++)
        buf[i] = (char)(lab[i] >= 'a' && lab[i] <= 'z' ? lab[i] - 'a' + 'A' : lab[i]);
    return iconv_knows(buf) ? buf : NULL;
}

/* Finds "charset" [ws] "=" [ws] value in s (the rule of WHATWG "extracting
 * a character encoding from a meta element", also fine for Content-Type).
 * Sets *v and *vl to the value; returns 1 if found. */
static int find_charset_param(const char *s, size_t len, const char **v, size_t *vl)
{
    size_t i = 0;
    for (;;) {
        for (; i + 7 <= len; i++)
            if (strncasecmp(s + i, "charset", 7) == 0)
                break;
        if (i + 7 > len)
            return 0;
        i += 7;
        while (i < len && is_space((unsigned char)s[i]))
            i++;
        if (i < len && s[i] == '=')
            break;
    }
    i++;
    while (i < len && is_space((unsigned char)s[i]))
        i++;
    if (i >= len)
        return 0;
    if (s[i] == '"' || s[i] == '\'') {
        char q = s[i++];
        size_t j = i;
        while (j < len && s[j] != q)
            j++;
        if (j >= len)
            return 0;
        *v = s + i;
        *vl = j - i;
        return 1;
    }
    size_t j = i;
    while (j < len && !is_space((unsigned char)s[j]) && s[j] != ';')
        j++;
    *v = s + i;
    *vl = j - i;
    return j > i;
}

/* Reads one attribute of a tag at s[*i]; returns 0 at '>' or the end. */
static int next_attr(const char *s, size_t n, size_t *i, const char **name, size_t *nl,
                     const char **val, size_t *vl)
{
    size_t p = *i;
    while (p < n && (is_space((unsigned char)s[p]) || s[p] == '/'))
        p++;
    if (p >= n || s[p] == '>') {
        *i = p;
        return 0;
    }
    size_t ns = p;
    while (p < n && s[p] != '=' && s[p] != '>' && s[p] != '/' && !is_space((unsigned char)s[p]))
        p++;
    *name = s + ns;
    *nl = p - ns;
    *val = s + p;
    *vl = 0;
    while (p < n && is_space((unsigned char)s[p]))
        p++;
    if (p < n && s[p] == '=') {
        p++;
        while (p < n && is_space((unsigned char)s[p]))
            p++;
        if (p < n && (s[p] == '"' || s[p] == '\'')) {
            char q = s[p++];
            size_t vs = p;
            while (p < n && s[p] != q)
                p++;
            *val = s + vs;
            *vl = p - vs;
            if (p < n)
                p++;
        } else {
            size_t vs = p;
            while (p < n && !is_space((unsigned char)s[p]) && s[p] != '>')
                p++;
            *val = s + vs;
            *vl = p - vs;
        }
    }
    *i = p;
    return 1;
}

static int attr_is(const char *name, size_t nl, const char *want)
{
    return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

/* The <meta> prescan over the first PRESCAN_BYTES bytes. */
static const char *prescan(const char *s, size_t n, char *buf)
{
    size_t i = 0;
    if (n > PRESCAN_BYTES)
        n = PRESCAN_BYTES;
    while (i < n) {
        if (s[i] != '<') {
            i++;
            continue;
        }
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            const char *end = memmem(s + i + 4, n - i - 4, "-->", 3);
            if (!end)
                return NULL;
            i = (size_t)(end - s) + 3;
            continue;
        }
        if (n - i >= 6 && strncasecmp(s + i, "<meta", 5) == 0 &&
            (is_space((unsigned char)s[i + 5]) || s[i + 5] == '/')) {
            const char *name, *val, *charset = NULL, *content = NULL;
            size_t nl, vl, charset_l = 0, content_l = 0;
            int http_equiv = 0;
            i += 5;
            while (next_attr(s, n, &i, &name, &nl, &val, &vl)) {
                if (attr_is(name, nl, "charset") && !charset) {
                    charset = val;
                    charset_l = vl;
                } else if (attr_is(name, nl, "content") && !content) {
                    content = val;
                    content_l = vl;
                } else if (attr_is(name, nl, "http-equiv")) {
                    http_equiv = vl == 12 && strncasecmp(val, "content-type", 12) == 0;
                }
            }
            if (!charset && http_equiv && content)
                find_charset_param(content, content_l, &charset, &charset_l);
            const char *name_out = charset ? silk_charset_canonical(charset, charset_l, buf) : NULL;
            if (name_out) {
                /* a page cannot declare itself UTF-16 from inside: WHATWG says utf-8 */
                if (!strncmp(name_out, "UTF-16", 6))
                    strcpy(buf, "UTF-8");
                return buf;
            }
            continue;
        }
        /* any other tag, end tag, <! or <?: skip to its '>' */
        i++;
        while (i < n && s[i] != '>') {
            if (s[i] == '"' || s[i] == '\'') {
                const char *q = memchr(s + i + 1, s[i], n - i - 1);
                if (!q)
                    return NULL;
                i = (size_t)(q - s);
            }
            i++;
        }
    }
    return NULL;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is invalid;
 * *bad gets the length of the maximal invalid subpart to replace. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    *bad = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else return 0;
    for (size_t k = 1; k <= need; k++) {
        if (k >= n)
            return 0;
        unsigned b = s[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
            return 0;
        *bad = k + 1;
    }
    return need + 1;
}

int silk_charset_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < len) {
        /* pages are mostly ASCII: skip it 8 bytes at a time */
        uint64_t w;
        while (i + 8 <= len && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull)))
            i += 8;
        while (i < len && p[i] < 0x80)
            i++;
        if (i == len)
            break;
        size_t k = utf8_seq(p + i, len - i, &bad);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

silk_charset_source silk_charset_detect(const char *content_type, const char *body,
                                        size_t len, const char *dflt,
                                        char *name, size_t *bom_len)
{
    const unsigned char *b = (const unsigned char *)body;
    const char *v;
    size_t vl;

    if (bom_len)
        *bom_len = 0;
    if (len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
        strcpy(name, "UTF-8");
        if (bom_len) *bom_len = 3;
        return SILK_CHARSET_BOM;
    }
    if (len >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))) {
        strcpy(name, b[0] == 0xFF ? "UTF-16LE" : "UTF-16BE");
        if (bom_len) *bom_len = 2;
        return SILK_CHARSET_BOM;
    }
    if (content_type) {
        const char *semi = strchr(content_type, ';');
        if (semi && find_charset_param(semi, strlen(semi), &v, &vl) &&
            silk_charset_canonical(v, vl, name))
            return SILK_CHARSET_HEADER;
    }
    if (prescan(body, len, name))
        return SILK_CHARSET_META;
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = b[i] < 0x80;
    if (!ascii && silk_charset_valid_utf8(body, len)) {
        strcpy(name, "UTF-8");
        return SILK_CHARSET_SNIFF;
    }
    if (!dflt || !silk_charset_canonical(dflt, strlen(dflt), name))
        strcpy(name, "WINDOWS-1252");
    return SILK_CHARSET_DEFAULT;
}

/* A growable output buffer: the one place that allocates here. */
typedef struct obuf { char *p; size_t len, cap; } obuf;

static int ob_reserve(obuf *o, size_t more)
{
    if (o->len + more + 1 <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *np = realloc(o->p, cap);
    if (!np)
        return -1;
    o->p = np;
    o->cap = cap;
    return 0;
}

static int ob_put(obuf *o, const char *s, size_t n)
{
    if (ob_reserve(o, n))
        return -1;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */

static int utf8_clean(const char *in, size_t len, obuf *o)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, run = 0, bad;
    if (ob_reserve(o, len))
        return -1;
    while (i < len) {
        size_t k = utf8_seq(s + i, len - i, &bad);
        if (k) {
            i += k;
            run += k;
            continue;
        }
        if (ob_put(o, in + i - run, run) || ob_put(o, replacement, 3))
            return -1;
        run = 0;
        i += bad;
    }
    return ob_put(o, in + i - run, run);
}

/* unit: bytes to skip past an undecodable sequence (a UTF-16 code unit is 2) */
static int iconv_all(iconv_t cd, const char *in, size_t len, size_t unit, obuf *o)
{
    char *ip = (char *)in;
    size_t il = len;
    if (ob_reserve(o, len + len / 2 + 16))
        return -1;
    while (il > 0) {
        char *op = o->p + o->len;
        size_t ol = o->cap - o->len - 1, before = ol;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        o->len += before - ol;
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG) {
            if (ob_reserve(o, o->cap))
                return -1;
        } else if (errno == EILSEQ || errno == EINVAL) {
            /* an undecodable byte, or a sequence cut off at the end */
            if (ob_put(o, replacement, 3))
                return -1;
            if (errno == EINVAL) {
                il = 0;
                break;
            }
            size_t skip = unit < il ? unit : il;
            ip += skip;
            il -= skip;
            iconv(cd, NULL, NULL, NULL, NULL);
        } else {
            return -1;
        }
    }
    /* flush a stateful encoding's pending shift sequence */
    for (;;) {
        if (ob_reserve(o, 16))
            return -1;
        char *op = o->p + o->len;
        size_t ol = o->cap - o->len - 1, before = ol;
        size_t r = iconv(cd, NULL, NULL, &op, &ol);
        o->len += before - ol;
        if (r != (size_t)-1 || errno != E2BIG)
            break;
    }
    return 0;
}

int silk_charset_to_utf8(const char *charset, const char *in, size_t len,
                         char **out, size_t *out_len)
{
    obuf o = {0};
    int rc = 0;
    iconv_t cd = (iconv_t)-1;

    *out = NULL;
    *out_len = 0;
    if (strcasecmp(charset, "UTF-8") == 0) {
        if (utf8_clean(in, len, &o))
            rc = SILK_CHARSET_ENOMEM;
        goto done;
    }
    cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) {
        rc = SILK_CHARSET_EUNKNOWN;
        goto done;
    }
    if (iconv_all(cd, in, len, strncasecmp(charset, "UTF-16", 6) == 0 ? 2 : 1, &o))
        rc = SILK_CHARSET_ENOMEM;
done:
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    if (rc == 0 && ob_reserve(&o, 0))
        rc = SILK_CHARSET_ENOMEM;
    if (rc != 0) {
        free(o.p);
        return rc;
    }
    o.p[o.len] = 0;
    *out = o.p;
    *out_len = o.len;
    return 0;
}
