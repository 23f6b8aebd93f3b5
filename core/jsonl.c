/*
 * jsonl.c -- the bytes of item files; see jsonl.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        /* item strings are mostly ASCII: skip it 8 bytes at a time */
        uint64_t w;
        while (n - i >= 8 && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull)))
            i += 8;
        if (i == n)
            break;
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

/* How byte c is written in a JSON string: 0 as is, 'u' as \u00XX, else
 * the letter after a backslash. */
static const char escape_of[256] = {
    [0 ... 7] = 'u', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [0x0B] = 'u', ['\f'] = 'f',
    ['\r'] = 'r', [0x0E ... 0x1F] = 'u', ['"'] = '"', ['\\'] = '\\',
};

size_t silk_jsonl_quoted_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        char e = escape_of[(unsigned char)s[i]];
        if (e)
            len += e == 'u' ? 5 : 1;
    }
    return len;
}

size_t silk_jsonl_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    out[o++] = '"';
    while (i < n) {
        /* the run up to the next byte to escape goes in one copy */
        size_t run = i;
        while (run < n && !escape_of[(unsigned char)s[run]])
            run++;
        memcpy(out + o, s + i, run - i);
        o += run - i;
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char e = escape_of[c];
        if (e == 'u') {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = '\\';
            out[o++] = e;
        }
        i = run + 1;
    }
    out[o++] = '"';
    return o;
}

/* ------------------------------------------------------------------ */
/* the item file */

/* "cannot <what> <path>: <strerror(e)>" */
static int file_fail(silk_jsonl_file *f, const char *what, int e, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot %s %s: %s", what, f->path, strerror(e));
    return -1;
}

int silk_jsonl_file_open(silk_jsonl_file *f, const char *path, long long resume_at, char *err,
                         size_t errlen)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    if (!f->path) {
        snprintf(err, errlen, "not enough memory");
        return -1;
    }
    signal(SIGXFSZ, SIG_IGN);
    f->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (resume_at < 0 ? O_TRUNC : 0), 0666);
    if (f->fd < 0 || fstat(f->fd, &st) != 0) {
        file_fail(f, "write items to", errno, err, errlen);
        goto fail;
    }
    f->regular = S_ISREG(st.st_mode);
    if (resume_at >= 0 && f->regular) {
        if (st.st_size < resume_at) {
            snprintf(err, errlen,
                     "cannot resume: %s has %lld bytes, but the jobdir recorded %lld bytes of "
                     "items written to it (the file was truncated, replaced or lost data): "
                     "restore it, or start over with a new --jobdir",
                     path, (long long)st.st_size, resume_at);
            goto fail;
        }
        if (st.st_size > resume_at && ftruncate(f->fd, (off_t)resume_at) != 0) {
            file_fail(f, "cut back the items file", errno, err, errlen);
            goto fail;
        }
        f->offset = resume_at;
    }
    if (f->regular && lseek(f->fd, (off_t)f->offset, SEEK_SET) < 0) {
        file_fail(f, "write items to", errno, err, errlen);
        goto fail;
    }
    return 0;
fail:
    silk_jsonl_file_close(f, NULL, 0);
    return -1;
}

int silk_jsonl_file_append(silk_jsonl_file *f, const char *p, size_t n, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(f->fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* no torn record: cut what reached the file, which needs no
             * space (a file-size limit does not apply to shrinking) */
            if (done && f->regular &&
                (ftruncate(f->fd, (off_t)f->offset) != 0 ||
                 lseek(f->fd, (off_t)f->offset, SEEK_SET) < 0)) {
                snprintf(err, errlen,
                         "cannot write items to %s: %s; and cannot cut the partial record "
                         "after byte %lld: %s",
                         f->path, strerror(e), f->offset, strerror(errno));
                return -1;
            }
            return file_fail(f, "write items to", e, err, errlen);
        }
        done += (size_t)w;
    }
    f->offset += (long long)n;
    return 0;
}

/* fsync of the directory holding f->path: a new file's entry is durable. */
static int sync_dir(silk_jsonl_file *f)
{
    const char *slash = strrchr(f->path, '/');
    char *dir = slash ? strndup(f->path, slash == f->path ? 1 : (size_t)(slash - f->path))
                      : strdup(".");
    if (!dir)
        return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    int e = 0;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        e = errno;
    if (fd >= 0)
        close(fd);
    return e;
}

int silk_jsonl_file_sync(silk_jsonl_file *f, char *err, size_t errlen)
{
    /* EINVAL and EROFS: a device or pipe that has nothing to sync */
    if (fsync(f->fd) != 0 && errno != EINVAL && errno != EROFS)
        return file_fail(f, "fsync the items file", errno, err, errlen);
    if (f->regular && !f->dir_synced) {
        int e = sync_dir(f);
        if (e)
            return file_fail(f, "fsync the directory of", e, err, errlen);
        f->dir_synced = 1;
    }
    return 0;
}

int silk_jsonl_file_close(silk_jsonl_file *f, char *err, size_t errlen)
{
    int rc = 0;
    if (f->fd >= 0 && close(f->fd) != 0 && errno != EINTR && err)
        rc = file_fail(f, "write items to", errno, err, errlen);
    f->fd = -1;
    free(f->path);
    f->path = NULL;
    return rc;
}
