/*
 * jsonl.c -- JSON Lines records as people read them; see jsonl.h.
 */
#include <string.h>

#include "jsonl.h"

size_t silk_jsonl_unescape_slashes(const char *in, size_t n, char *out)
{
    size_t o = 0;
    const char *end = in + n;
    while (in < end) {
        const char *bs = memchr(in, '\\', (size_t)(end - in));
        size_t run = bs ? (size_t)(bs - in) : (size_t)(end - in);
        memcpy(out + o, in, run);
        o += run;
        if (!bs)
            break;
        if (bs + 1 < end && bs[1] == '/') {
            out[o++] = '/';
            in = bs + 2;
        } else {
            /* any other escape: copy it whole, so its second byte is never
             * taken for the start of another ("\\" then "/" stays apart) */
            size_t k = bs + 1 < end ? 2 : 1;
            memcpy(out + o, bs, k);
            o += k;
            in = bs + k;
        }
    }
    return o;
}
