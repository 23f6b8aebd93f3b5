/*
 * jsonl.c -- the bytes of item files; see jsonl.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

/* 2^53: every integer up to it (in magnitude) is a double, exactly */
#define EXACT_INT 9007199254740992.0

size_t silk_jsonl_number(double v, char out[SILK_JSONL_NUMBER_MAX])
{
    if (v == 0 && signbit(v)) {
        memcpy(out, "-0.0", 5);
        return 4;
    }
    if (fabs(v) <= EXACT_INT && v == floor(v))
        return (size_t)snprintf(out, SILK_JSONL_NUMBER_MAX, "%lld", (long long)v);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, SILK_JSONL_NUMBER_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

size_t silk_jsonl_utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return i;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
        i += len;
    }
    return n;
}

/* The escape of byte c, or NULL when it goes as is; \u00XX is "u" here. */
static const char *escape_of(unsigned char c)
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    }
    return c < 0x20 ? "u" : NULL;
}

size_t silk_jsonl_quoted_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        const char *e = escape_of((unsigned char)s[i]);
        if (e)
            len += e[0] == 'u' ? 5 : 1;
    }
    return len;
}

size_t silk_jsonl_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = escape_of(c);
        if (!e) {
            out[o++] = (char)c;
        } else if (e[0] == 'u') {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = e[0];
            out[o++] = e[1];
        }
    }
    out[o++] = '"';
    return o;
}
