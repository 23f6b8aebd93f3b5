/*
 * charset.h -- which character encoding a fetched body is in, and turning it
 * into UTF-8 before Lua or gumbo see it as text.
 *
 * Who calls it: lapi_fetch.c (res:text()) and whoever hands a body to the
 * HTML parser. Pure functions over byte strings: no loop, no Lua, no state
 * but iconv descriptors opened and closed inside each call.
 *
 * Detection order (silk_charset_detect), first match wins:
 *   1. a byte-order mark (UTF-8, UTF-16LE/BE): browsers let a BOM override
 *      even the header (WHATWG Encoding, "decode"), because a BOM cannot
 *      appear by accident while a server-wide header often lies;
 *   2. the charset parameter of the Content-Type header;
 *   3. <meta charset=...> or <meta http-equiv="content-type" content="...;
 *      charset=..."> within the first 1024 bytes (a simplified WHATWG prescan:
 *      comments and other tags skipped, quoted attribute values honoured);
 *   4. sniffing: a body with non-ASCII bytes that is entirely valid UTF-8;
 *   5. the caller's default (windows-1252 when none is given, as browsers).
 * Labels are mapped as the WHATWG Encoding standard does (latin1/us-ascii to
 * windows-1252, gb2312/gbk to gb18030, shift_jis to windows-31j, a utf-16
 * <meta> to utf-8); a label iconv does not know is ignored, not trusted.
 *
 * Transcoding never passes an invalid sequence through: every byte sequence
 * that does not decode becomes U+FFFD, so the output is always valid UTF-8.
 */
#ifndef SILK_CHARSET_H
#define SILK_CHARSET_H

#include <stddef.h>

typedef enum silk_charset_source {
    SILK_CHARSET_BOM,
    SILK_CHARSET_HEADER,
    SILK_CHARSET_META,
    SILK_CHARSET_SNIFF,
    SILK_CHARSET_DEFAULT,
} silk_charset_source;

#define SILK_CHARSET_NAME_MAX 32
#define SILK_CHARSET_ENOMEM (-12)
#define SILK_CHARSET_EUNKNOWN (-22)

/* "bom", "header", "meta", "sniff", "default". */
const char *silk_charset_source_name(silk_charset_source s);

/* Maps an encoding label (any case, surrounding spaces and quotes allowed)
 * to the iconv name used here, written into buf (SILK_CHARSET_NAME_MAX
 * bytes). Returns buf, or NULL when the label is unknown to iconv. */
const char *silk_charset_canonical(const char *label, size_t len, char *buf);

/* Detects the encoding of body (len bytes) served with content_type (may be
 * NULL). dflt (may be NULL) is a label used as step 5. Writes the iconv name
 * into name (SILK_CHARSET_NAME_MAX bytes) and the length of a BOM to skip
 * into *bom_len (may be NULL). Never fails. */
silk_charset_source silk_charset_detect(const char *content_type, const char *body,
                                        size_t len, const char *dflt,
                                        char *name, size_t *bom_len);

/* Transcodes len bytes of `in` from the encoding named `charset` (an iconv
 * name from the functions above) to UTF-8, replacing invalid sequences with
 * U+FFFD. On success returns 0 and a malloc'd, NUL-terminated *out of
 * *out_len bytes (the caller frees it). Returns SILK_CHARSET_EUNKNOWN when
 * iconv cannot open the encoding, SILK_CHARSET_ENOMEM on allocation failure;
 * *out is then NULL. */
int silk_charset_to_utf8(const char *charset, const char *in, size_t len,
                         char **out, size_t *out_len);

/* 1 when s (len bytes) is entirely valid UTF-8. */
int silk_charset_valid_utf8(const char *s, size_t len);

#endif
