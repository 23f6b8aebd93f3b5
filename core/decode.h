/*
 * decode.h -- HTTP content decoding: gzip (and x-gzip) and deflate, with
 * zlib, for fetch.c.
 *
 * Why silk decodes instead of libcurl: libcurl 7.88 takes a gzip stream
 * that stops before its end, but is complete as far as Content-Length
 * goes, for a whole body, and hands back what decoded (often nothing: an
 * "empty 200"). Here a stream that has not reached its end when the body
 * does is an error (silk_decode_finish), so a broken page is never taken
 * for a short one. fetch.c asks servers for "gzip, deflate" only.
 *
 * Use: silk_decode_kind() on the response's Content-Encoding; for GZIP or
 * DEFLATE, silk_decode_init(), then silk_decode_feed() for each piece of the
 * body as it arrives (decoded bytes go to the sink, which may stop it: the
 * size cap), then silk_decode_finish(), and silk_decode_free() in every case.
 * "deflate" is the zlib format by the standard; a raw deflate stream (what
 * some servers send instead) is recognised from its first bytes. Several
 * gzip members one after the other (RFC 1952 2.2) are one body; bytes after
 * the last stream's end are ignored, as browsers do.
 *
 * A decoder owns zlib's state between init and free; nothing else.
 */
#ifndef SILK_DECODE_H
#define SILK_DECODE_H

#include <stddef.h>

#include <zlib.h>

typedef enum silk_decode_kind {
    SILK_DECODE_IDENTITY = 0, /* no Content-Encoding, "identity" or "" */
    SILK_DECODE_GZIP,         /* "gzip", "x-gzip" */
    SILK_DECODE_DEFLATE,      /* "deflate" */
    SILK_DECODE_UNSUPPORTED,  /* anything else, or more than one coding */
} silk_decode_kind;

enum {
    SILK_DECODE_OK = 0,
    SILK_DECODE_ESINK = -1,   /* the sink refused a piece: decoding stopped */
    SILK_DECODE_EDATA = -2,   /* the stream is corrupt (message in the decoder) */
    SILK_DECODE_ETRUNC = -3,  /* the body ended before the stream did */
    SILK_DECODE_ENOMEM = -4,
};

typedef struct silk_decoder {
    z_stream z;
    silk_decode_kind kind;
    int started;              /* zlib's state is live */
    int ended;                /* the last stream reached its end */
    int raw;                  /* deflate read as a raw stream */
    size_t in;                /* compressed bytes fed */
    size_t out;               /* decoded bytes handed to the sink */
    const char *msg;          /* after EDATA: zlib's reason (static) */
} silk_decoder;

/* The kind named by a Content-Encoding value (NULL: identity); case and
 * surrounding white space do not matter. */
silk_decode_kind silk_decode_kind_of(const char *content_encoding);

/* Prepares d for a body of kind (GZIP or DEFLATE). Returns 0. */
int silk_decode_init(silk_decoder *d, silk_decode_kind kind);

/* Receives decoded bytes; returns 0 to go on, -1 to stop (ESINK). */
typedef int (*silk_decode_sink)(void *ud, const char *p, size_t n);

/* Decodes n more bytes of the body into sink. Returns SILK_DECODE_OK, or
 * ESINK, EDATA or ENOMEM, after which the decoder only accepts free. */
int silk_decode_feed(silk_decoder *d, const char *p, size_t n, silk_decode_sink sink, void *ud);

/* The body is over: SILK_DECODE_OK when every stream ended (or no byte was
 * fed: an empty body), else SILK_DECODE_ETRUNC. */
int silk_decode_finish(const silk_decoder *d);

/* Releases zlib's state. Idempotent; d may be zeroed memory. */
void silk_decode_free(silk_decoder *d);

#endif
