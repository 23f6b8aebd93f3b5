/*
 * resolve.c -- host names resolved off the loop thread; see resolve.h.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fetch.h"
#include "resolve.h"

#define CACHE_MAX 256                 /* verdicts kept; the oldest goes first */

/* A name handed to the worker, and back with its verdict. */
typedef struct job {
    char *host;
    silk_resolve_verdict v;
    struct job *next;
} job;

/* What the loop and the worker share. Invariants: the worker sends on
 * `async` only with the lock held and `alive` set; the last of the two to
 * let go (refs) frees it. */
typedef struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *todo, *todo_tail, *done;
    int alive, refs;
    struct ev_loop *loop;
    ev_async *async;
} shared;

typedef struct waiter {
    silk_resolve_fn cb;
    void *ud;
    struct waiter *next;
} waiter;

/* A name in flight (waiters) or in the cache (verdict until `until`). */
typedef struct entry {
    char *host;
    waiter *waiters;
    silk_resolve_verdict v;
    double until;
    struct entry *next;
} entry;

struct silk_resolver {
    struct ev_loop *loop;
    ev_async async;
    shared *sh;
    int started;
    entry *flight, *cache;
    int ncache;
};

static void free_jobs(job *j)
{
    while (j) {
        job *next = j->next;
        free(j->host);
        free(j);
        j = next;
    }
}

static void shared_unref(shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    int last = --sh->refs == 0;
    pthread_mutex_unlock(&sh->mu);
    if (!last)
        return;
    free_jobs(sh->todo);
    free_jobs(sh->done);
    pthread_cond_destroy(&sh->cv);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

static silk_resolve_verdict verdict_of(const char *host)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return SILK_RESOLVE_FAILED;
    silk_resolve_verdict v = SILK_RESOLVE_PUBLIC;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (silk_fetch_addr_private(a->ai_addr))
            v = SILK_RESOLVE_PRIVATE;
    freeaddrinfo(res);
    return v;
}

static void *worker(void *arg)
{
    shared *sh = arg;
    pthread_mutex_lock(&sh->mu);
    for (;;) {
        while (sh->alive && !sh->todo)
            pthread_cond_wait(&sh->cv, &sh->mu);
        if (!sh->alive)
            break;
        job *j = sh->todo;
        sh->todo = j->next;
        if (!sh->todo)
            sh->todo_tail = NULL;
        pthread_mutex_unlock(&sh->mu);
        j->v = verdict_of(j->host);
        pthread_mutex_lock(&sh->mu);
        j->next = sh->done;
        sh->done = j;                 /* freed with sh if nobody takes it */
        if (sh->alive)
            ev_async_send(sh->loop, sh->async);
    }
    pthread_mutex_unlock(&sh->mu);
    shared_unref(sh);
    return NULL;
}

static entry *find(entry *list, const char *host)
{
    for (entry *e = list; e; e = e->next)
        if (strcmp(e->host, host) == 0)
            return e;
    return NULL;
}

static void unlink_entry(entry **list, entry *e)
{
    for (entry **p = list; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            return;
        }
    }
}

static void free_entry(entry *e)
{
    free(e->host);
    free(e);
}

/* Keeps e's verdict (e leaves the flight list); the oldest goes past CACHE_MAX. */
static void cache_put(silk_resolver *rs, entry *e)
{
    entry *old = find(rs->cache, e->host);
    if (old) {
        unlink_entry(&rs->cache, old);
        free_entry(old);
        rs->ncache--;
    }
    e->until = ev_now(rs->loop) + SILK_RESOLVE_TTL;
    e->next = rs->cache;
    rs->cache = e;
    if (++rs->ncache > CACHE_MAX) {
        entry **p = &rs->cache;
        while ((*p)->next)
            p = &(*p)->next;
        free_entry(*p);
        *p = NULL;
        rs->ncache--;
    }
}

static void fire(entry *e, silk_resolve_verdict v)
{
    waiter *w = e->waiters;
    e->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->cb(v, w->ud);
        free(w);
        w = next;
    }
}

static void on_async(struct ev_loop *loop, ev_async *a, int revents)
{
    silk_resolver *rs = a->data;
    pthread_mutex_lock(&rs->sh->mu);
    job *done = rs->sh->done;
    rs->sh->done = NULL;
    pthread_mutex_unlock(&rs->sh->mu);
    while (done) {
        job *j = done;
        done = j->next;
        entry *e = find(rs->flight, j->host);
        if (e) {
            unlink_entry(&rs->flight, e);
            e->v = j->v;
            cache_put(rs, e);
            fire(e, j->v);            /* e stays cached: no callback frees it */
        }
        free(j->host);
        free(j);
    }
}

silk_resolver *silk_resolver_new(struct ev_loop *loop)
{
    silk_resolver *rs = calloc(1, sizeof *rs);
    shared *sh = calloc(1, sizeof *sh);
    if (!rs || !sh) {
        free(rs);
        free(sh);
        return NULL;
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    sh->alive = 1;
    sh->refs = 1;
    sh->loop = loop;
    sh->async = &rs->async;
    rs->loop = loop;
    rs->sh = sh;
    ev_async_init(&rs->async, on_async);
    rs->async.data = rs;
    ev_async_start(loop, &rs->async);
    ev_unref(loop);                   /* weak: see resolve.h */
    return rs;
}

static int start_worker(silk_resolver *rs)
{
    if (rs->started)
        return 0;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rs->sh->refs++;
    int rc = pthread_create(&th, &attr, worker, rs->sh);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        rs->sh->refs--;
        return -1;
    }
    rs->started = 1;
    return 0;
}

int silk_resolve(silk_resolver *rs, const char *host, silk_resolve_fn cb, void *ud)
{
    entry *e = find(rs->cache, host);
    if (e && e->until > ev_now(rs->loop)) {
        cb(e->v, ud);
        return 0;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w || start_worker(rs) != 0) {
        free(w);
        return -1;
    }
    w->cb = cb;
    w->ud = ud;
    e = find(rs->flight, host);
    if (!e) {
        job *j = calloc(1, sizeof *j);
        e = calloc(1, sizeof *e);
        if (!j || !e || !(j->host = strdup(host)) || !(e->host = strdup(host))) {
            if (j)
                free(j->host);
            if (e)
                free(e->host);
            free(j);
            free(e);
            free(w);
            return -1;
        }
        e->next = rs->flight;
        rs->flight = e;
        pthread_mutex_lock(&rs->sh->mu);
        if (rs->sh->todo_tail)
            rs->sh->todo_tail->next = j;
        else
            rs->sh->todo = j;
        rs->sh->todo_tail = j;
        pthread_cond_signal(&rs->sh->cv);
        pthread_mutex_unlock(&rs->sh->mu);
    }
    w->next = e->waiters;
    e->waiters = w;
    return 0;
}

void silk_resolver_free(silk_resolver *rs)
{
    if (!rs)
        return;
    pthread_mutex_lock(&rs->sh->mu);
    rs->sh->alive = 0;
    pthread_cond_broadcast(&rs->sh->cv);
    pthread_mutex_unlock(&rs->sh->mu);
    ev_ref(rs->loop);
    ev_async_stop(rs->loop, &rs->async);
    shared_unref(rs->sh);
    while (rs->flight) {
        entry *e = rs->flight;
        rs->flight = e->next;
        fire(e, SILK_RESOLVE_CANCELLED);
        free_entry(e);
    }
    while (rs->cache) {
        entry *e = rs->cache;
        rs->cache = e->next;
        free_entry(e);
    }
    free(rs);
}
