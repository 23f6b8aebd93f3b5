/*
 * jsonl.h -- the bytes of item files: exact numbers, checked UTF-8, JSON
 * strings, and the append-only file every file sink writes through.
 *
 * Items are read by people and by programs that parse them back, so what is
 * written must be exact: an integer is written as one (123456789012345, not
 * 1.2345678901234e+14), a float as the shortest text that reads back as the
 * same double, and a string only when it is valid UTF-8 (JSON text is UTF-8;
 * a raw body in another encoding is refused rather than mangled). '/' is not
 * escaped: items are full of URLs and item files are grepped.
 *
 * The item file is the sinks' (lua/silk/sinks.lua) way to the disk: every
 * write is checked, a failed write leaves no torn record behind, sync() is
 * fsync, and a resume truncates with ftruncate (no copy, so no space needed)
 * and refuses a file shorter than the jobdir recorded.
 *
 * Pure C: no allocation except the file's path copy, no Lua, any thread.
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

/* An item file: the byte offset after its last whole record, and the
 * descriptor. Owned by the caller (embedded, e.g. in a Lua userdata). */
typedef struct silk_jsonl_file {
    int fd;              /* -1 once closed */
    int regular;         /* a regular file (not a device or a pipe): it can be truncated */
    int dir_synced;      /* the directory entry was fsync'd */
    long long offset;    /* bytes of whole records in the file */
    char *path;          /* owned */
} silk_jsonl_file;

/* Opens path for items. resume_at < 0: a new file (an old one is emptied).
 * resume_at >= 0: the jobdir's recorded offset: a longer file is cut back to
 * it (the records after it belong to pages that will be fetched again), a
 * shorter one is refused (records the jobdir counts as written are gone).
 * Ignores SIGXFSZ for the process: a file-size limit (ulimit -f) then fails
 * a write with EFBIG, reported like a full disk, instead of killing silk
 * without a word. Returns 0, or -1 with a message naming path in err (f is
 * then closed, nothing to free). */
int silk_jsonl_file_open(silk_jsonl_file *f, const char *path, long long resume_at, char *err,
                         size_t errlen);

/* Appends the n bytes at p, which end on a record boundary. On failure
 * (ENOSPC, EFBIG, EIO, ...) the bytes that did reach the file are cut off
 * again (regular files), so the file still ends with a whole record and
 * f->offset is unchanged; returns -1 with the message in err. */
int silk_jsonl_file_append(silk_jsonl_file *f, const char *p, size_t n, char *err, size_t errlen);

/* fsync: the records so far are on the disk, and so is the file's directory
 * entry (once). A device or pipe that cannot sync counts as synced. Returns
 * 0, or -1 with the message in err. */
int silk_jsonl_file_sync(silk_jsonl_file *f, char *err, size_t errlen);

/* Closes the descriptor and frees the path; idempotent. Returns 0, or -1
 * with the message in err (close itself failed: an NFS write error). */
int silk_jsonl_file_close(silk_jsonl_file *f, char *err, size_t errlen);

#endif
