/*
 * decode.c -- HTTP content decoding with zlib; see decode.h.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "decode.h"

#define OUT_CHUNK 16384

silk_decode_kind silk_decode_kind_of(const char *v)
{
    if (!v)
        return SILK_DECODE_IDENTITY;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || (n == 8 && !strncasecmp(v, "identity", 8)))
        return SILK_DECODE_IDENTITY;
    if ((n == 4 && !strncasecmp(v, "gzip", 4)) || (n == 6 && !strncasecmp(v, "x-gzip", 6)))
        return SILK_DECODE_GZIP;
    if (n == 7 && !strncasecmp(v, "deflate", 7))
        return SILK_DECODE_DEFLATE;
    return SILK_DECODE_UNSUPPORTED;       /* br, zstd, or a list of codings */
}

int silk_decode_init(silk_decoder *d, silk_decode_kind kind)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    return SILK_DECODE_OK;
}

/* zlib's state, made at the first byte: a "deflate" body is read as raw
 * deflate unless it opens with a zlib header (RFC 1950: CM 8, and the
 * 16-bit check value a multiple of 31). */
static int start(silk_decoder *d, const unsigned char *p, size_t n)
{
    int bits = 16 + MAX_WBITS;
    if (d->kind == SILK_DECODE_DEFLATE) {
        d->raw = n >= 2 && !((p[0] & 0x0f) == 8 && ((p[0] << 8) | p[1]) % 31 == 0);
        bits = d->raw ? -MAX_WBITS : MAX_WBITS;
    }
    memset(&d->z, 0, sizeof d->z);
    if (inflateInit2(&d->z, bits) != Z_OK)
        return SILK_DECODE_ENOMEM;
    d->started = 1;
    return SILK_DECODE_OK;
}

/* After a gzip member's end: 1 when another member follows. */
static int next_member(silk_decoder *d)
{
    return d->kind == SILK_DECODE_GZIP && d->z.avail_in > 0 && d->z.next_in[0] == 0x1f &&
           inflateReset(&d->z) == Z_OK;
}

int silk_decode_feed(silk_decoder *d, const char *p, size_t n, silk_decode_sink sink, void *ud)
{
    const unsigned char *in = (const unsigned char *)p;
    if (!d->started && n > 0) {
        int rc = start(d, in, n);
        if (rc)
            return rc;
    }
    d->in += n;
    unsigned char out[OUT_CHUNK];
    while (n > 0) {
        uInt piece = n > UINT_MAX ? UINT_MAX : (uInt)n;
        d->z.next_in = (Bytef *)in;
        d->z.avail_in = piece;
        while (d->z.avail_in > 0) {
            if (d->ended) {
                if (!next_member(d))
                    return SILK_DECODE_OK;    /* what follows the last stream is ignored */
                d->ended = 0;
            }
            d->z.next_out = out;
            d->z.avail_out = sizeof out;
            int zr = inflate(&d->z, Z_NO_FLUSH);
            size_t got = sizeof out - d->z.avail_out;
            if (got) {
                d->out += got;
                if (sink(ud, (const char *)out, got) != 0)
                    return SILK_DECODE_ESINK;
            }
            if (zr == Z_STREAM_END)
                d->ended = 1;
            else if (zr == Z_MEM_ERROR)
                return SILK_DECODE_ENOMEM;
            else if (zr != Z_OK && !(zr == Z_BUF_ERROR && got)) {
                d->msg = d->z.msg ? d->z.msg : "corrupt stream";
                return SILK_DECODE_EDATA;
            }
        }
        in += piece;
        n -= piece;
    }
    return SILK_DECODE_OK;
}

int silk_decode_finish(const silk_decoder *d)
{
    return !d->started || d->ended ? SILK_DECODE_OK : SILK_DECODE_ETRUNC;
}

void silk_decode_free(silk_decoder *d)
{
    if (d->started)
        inflateEnd(&d->z);
    d->started = 0;
}
