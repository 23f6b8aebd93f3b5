/*
 * jsonl.h -- JSON Lines records as people read them.
 *
 * lua-cjson (the encoder items go through) escapes every '/' as "\/": valid
 * JSON, but items are full of URLs and item files are read by people and
 * grepped. This module undoes that escape. It is pure byte work: no
 * allocation, no Lua, any thread.
 */
#ifndef SILK_JSONL_H
#define SILK_JSONL_H

#include <stddef.h>

/* Copies the n bytes of JSON text `in` to `out` (room for n bytes; may not
 * overlap) with every "\/" written "/"; returns the length written. Exact
 * for an encoder that escapes every '/': then the backslash right before a
 * '/' is always that slash's escape, never the end of an escaped backslash. */
size_t silk_jsonl_unescape_slashes(const char *in, size_t n, char *out);

#endif
