/*
 * fuzz_console.c -- libFuzzer target for the console's line protocol: the
 * frame parser and encoder of core/console.c ("<kind> <length>\n" + payload).
 *
 * The codec is static in console.c, so this file includes console.c, links
 * LuaJIT and libev for the rest of it, and stands in for the five engine and
 * task functions console.c calls with stubs that abort: the codec never
 * reaches them. (Moving the codec into its own module, e.g. core/frame.[ch],
 * would make this target a plain one.)
 *
 * Input: a byte stream as a client (or a server) would send it, split at an
 * arbitrary point taken from its first byte, so frames also arrive in two
 * reads as over a socket. Parsed the way client_dispatch() does: frame by
 * frame, consuming each, until incomplete or malformed. Checks, beyond "no
 * crash, no leak, no UB": a frame lies inside the buffer and within max; a
 * partial stream never parses to more than the whole one; re-encoding each
 * frame with append_frame() and parsing it again gives the same frame.
 */
#include "../../core/console.c"

static void unreachable(const char *fn)
{
    fprintf(stderr, "fuzz_console: %s reached\n", fn);
    abort();
}
lua_State *silk_engine_lua(silk_engine *e) { unreachable(__func__); return NULL; }
struct ev_loop *silk_engine_loop(silk_engine *e) { unreachable(__func__); return NULL; }
silk_outcome silk_engine_run_main(silk_engine *e, int nargs, const char *name)
{
    unreachable(__func__);
    return 0;
}
silk_task *silk_task_spawn(silk_engine *e, lua_State *L, int nargs, const char *name,
                           double timeout)
{
    unreachable(__func__);
    return NULL;
}
void silk_task_cancel(silk_task *t, const char *reason) { unreachable(__func__); }

static void check_roundtrip(const char *kind, const char *p, size_t n, size_t max)
{
    buf e = {0};
    if (append_frame(&e, kind, p, n, HEADER_MAX + max) != 0)
        abort();
    char k2[8];
    size_t off = 0, n2 = 0;
    if (frame_parse(&e, max, k2, &off, &n2) != 1 || strcmp(k2, kind) != 0 || n2 != n ||
        off + n2 != e.len || memcmp(e.p + off, p, n) != 0)
        abort();
    buf_free(&e);
}

/* Parses every complete frame of b; returns how many. */
static int drain(buf *b, size_t max, int *malformed)
{
    int frames = 0;
    for (;;) {
        char kind[8];
        size_t off = 0, n = 0;
        memset(kind, 'x', sizeof kind);
        int r = frame_parse(b, max, kind, &off, &n);
        if (r == 0)
            return frames;
        if (r < 0) {
            *malformed = 1;
            return frames;
        }
        if (r != 1 || !memchr(kind, '\0', 8) || n > max || off > HEADER_MAX ||
            off + n > b->len || b->p[off - 1] != '\n')
            abort();
        /* the kind is bytes up to the space, NULs included: callers strcmp it */
        if (kind[0] != '\0')
            check_roundtrip(kind, b->p + off, n, max);
        buf_consume(b, off + n);
        frames++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const size_t maxes[] = {1 << 20, 64, 0};
    size_t split = data[0] % size;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    if (split > len)
        split = len;
    for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++) {
        size_t max = maxes[m];
        size_t cap = 2 * (max + HEADER_MAX);
        buf whole = {0}, parts = {0};
        int bad_whole = 0, bad_parts = 0;
        int fw = 0, fp = 0;
        /* buf_append is only ever called with n > 0 (a recv of r > 0, a
         * header): so here too */
        if (len && buf_append(&whole, s, len, cap) == 0)
            fw = drain(&whole, max, &bad_whole);
        if (split && buf_append(&parts, s, split, cap) == 0)
            fp = drain(&parts, max, &bad_parts);
        if (len > split && !bad_parts && buf_append(&parts, s + split, len - split, cap) == 0)
            fp += drain(&parts, max, &bad_parts);
        /* a stream fed in two reads parses to no more frames than whole */
        if (fp > fw && !bad_whole && len <= cap)
            abort();
        buf_free(&whole);
        buf_free(&parts);
    }
    return 0;
}
