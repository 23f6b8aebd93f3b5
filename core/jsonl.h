/*
 * jsonl.h -- the bytes of item files: exact numbers, checked UTF-8, JSON
 * strings.
 *
 * Items are read by people and by programs that parse them back, so what is
 * written must be exact: an integer is written as one (123456789012345, not
 * 1.2345678901234e+14), a float as the shortest text that reads back as the
 * same double, and a string only when it is valid UTF-8 (JSON text is UTF-8;
 * a raw body in another encoding is refused rather than mangled). '/' is not
 * escaped: items are full of URLs and item files are grepped.
 *
 * Pure C: no allocation, no Lua, any thread.
 */
#ifndef SILK_JSONL_H
#define SILK_JSONL_H

#include <stddef.h>

/* Room for any text silk_jsonl_number writes, with its NUL. */
#define SILK_JSONL_NUMBER_MAX 32

/* Writes the finite double v as JSON number text into out and returns its
 * length: an integer within +-2^53 as digits ("-0" as "-0.0", to keep its
 * sign), anything else in the shortest %.15g..%.17g form that strtod reads
 * back as v. v must be finite (JSON has no NaN or infinity). */
size_t silk_jsonl_number(double v, char out[SILK_JSONL_NUMBER_MAX]);

/* Returns n when the n bytes at s are valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), else the offset of the first
 * byte of the first invalid sequence. */
size_t silk_jsonl_utf8_check(const char *s, size_t n);

/* The length of the JSON string literal (quotes included) of the n bytes at
 * s, which must be valid UTF-8: '"' and '\' escaped, control characters as
 * \n, \t, ... or \u00XX, everything else as is. silk_jsonl_quote writes it to
 * out (room for that length) and returns the same length. */
size_t silk_jsonl_quoted_len(const char *s, size_t n);
size_t silk_jsonl_quote(const char *s, size_t n, char *out);

#endif
