/*
 * resolve.h -- host names resolved off the loop thread, for the render
 * request guard (render_guard.c), which must not pass a name that resolves to a
 * private address and must not block the loop while it finds out.
 *
 * Who calls it: render_guard.c only, on the loop thread.
 *
 * What it owns: one worker thread, started with the first name, that runs
 * getaddrinfo for queued names one at a time; an ev_async through which
 * its answers come back to the loop (weak: it does not keep a run going;
 * whoever waits on an answer holds the loop); the waiters of each name in
 * flight (a name asked for again meanwhile is resolved once); and a small
 * cache of verdicts, each kept for SILK_RESOLVE_TTL seconds.
 *
 * Verdicts: SILK_RESOLVE_PUBLIC when every address of the name is public,
 * SILK_RESOLVE_PRIVATE when any is one silk_fetch_addr_private refuses,
 * SILK_RESOLVE_FAILED when the name does not resolve, and
 * SILK_RESOLVE_CANCELLED for the waiters still pending at
 * silk_resolver_free (so that they can free what they hold).
 *
 * Callback rules: cb fires exactly once per silk_resolve that returned 0:
 * from the loop (the async watcher) for a name resolved by the worker, or
 * before silk_resolve returns for a cached verdict; with CANCELLED from
 * inside silk_resolver_free.
 *
 * The verdict is about the name when it was resolved here; the browser
 * resolves it again itself, so a name whose answers change between the two
 * (DNS rebinding) is not caught.
 */
#ifndef SILK_RESOLVE_H
#define SILK_RESOLVE_H

#include <ev.h>

#define SILK_RESOLVE_TTL 60.0

typedef enum silk_resolve_verdict {
    SILK_RESOLVE_PUBLIC = 0,
    SILK_RESOLVE_PRIVATE,
    SILK_RESOLVE_FAILED,
    SILK_RESOLVE_CANCELLED,
} silk_resolve_verdict;

typedef struct silk_resolver silk_resolver;
typedef void (*silk_resolve_fn)(silk_resolve_verdict v, void *ud);

/* NULL on ENOMEM. The worker starts on first use. */
silk_resolver *silk_resolver_new(struct ev_loop *loop);

/* Resolves host (copied); 0, or -1 when out of memory or the worker cannot
 * start (cb will not fire). */
int silk_resolve(silk_resolver *rs, const char *host, silk_resolve_fn cb, void *ud);

/* Pending waiters hear CANCELLED; the worker is told to stop and frees
 * what it shares once its current getaddrinfo returns. NULL is a no-op. */
void silk_resolver_free(silk_resolver *rs);

#endif
