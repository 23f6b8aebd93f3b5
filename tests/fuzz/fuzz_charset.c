/*
 * fuzz_charset.c -- libFuzzer target for charset.c.
 *
 * Input: "content-type\nbody" when the first line is short (else the whole
 * input is the body, served without a header). Checks, beyond "no crash, no
 * leak, no UB": detection names an encoding iconv knows and a BOM that fits
 * the body; transcoding from it, and from a fixed set of encodings
 * (stateful, multi-byte and UTF-16 ones among them), always gives valid,
 * NUL-terminated UTF-8; valid UTF-8 passes through UTF-8 unchanged; the
 * label mapper never writes past SILK_CHARSET_NAME_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"

static void transcode(const char *cs, const char *in, size_t len)
{
    char *out = NULL;
    size_t olen = 0;
    int rc = silk_charset_to_utf8(cs, in, len, &out, &olen);
    if (rc == SILK_CHARSET_EUNKNOWN && !out)
        return;
    if (rc != 0 || !out || out[olen] != '\0' || !silk_charset_valid_utf8(out, olen))
        abort();
    if (strcmp(cs, "UTF-8") == 0 && silk_charset_valid_utf8(in, len) &&
        (olen != len || memcmp(in, out, len) != 0))
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char *ct = NULL;
    const char *body = in;
    size_t blen = size;
    const char *nl = memchr(in, '\n', size < 200 ? size : 200);
    if (nl) {
        size_t cl = (size_t)(nl - in);
        ct = malloc(cl + 1);
        if (!ct)
            return 0;
        memcpy(ct, in, cl);
        ct[cl] = '\0';
        body = nl + 1;
        blen = size - cl - 1;
    }

    static const char *dflts[] = {NULL, "utf-8", "shift_jis", "bogus//TRANSLIT"};
    char name[SILK_CHARSET_NAME_MAX + 8];
    for (size_t i = 0; i < sizeof dflts / sizeof *dflts; i++) {
        memset(name, 'x', sizeof name);
        size_t bom = 99;
        silk_charset_source src = silk_charset_detect(ct, body, blen, dflts[i], name, &bom);
        if (src > SILK_CHARSET_DEFAULT || !memchr(name, '\0', SILK_CHARSET_NAME_MAX) ||
            name[0] == '\0' || bom > blen || memcmp(name + SILK_CHARSET_NAME_MAX, "xxxxxxxx", 8))
            abort();
        if (i == 0)
            transcode(name, body + bom, blen - bom);
    }

    if (ct) {
        memset(name, 'x', sizeof name);
        if (silk_charset_canonical(ct, strlen(ct), name) &&
            (!memchr(name, '\0', SILK_CHARSET_NAME_MAX) ||
             memcmp(name + SILK_CHARSET_NAME_MAX, "xxxxxxxx", 8)))
            abort();
    }

    static const char *sets[] = {"UTF-8", "UTF-16LE", "UTF-16BE", "WINDOWS-1252", "GB18030",
                                 "CP932", "CP949", "BIG5-HKSCS", "EUC-JP", "ISO-2022-JP",
                                 "UTF-7", "UTF-32"};
    size_t cap = blen < 1024 ? blen : 1024;
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        transcode(sets[i], body, cap);
    free(ct);
    return 0;
}
