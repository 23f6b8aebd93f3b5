/*
 * html_pool.c -- the parse worker pool: documents parsed on worker threads
 * while the loop runs, delivered back to the loop thread through an
 * ev_async. See html.h ("parsing off the loop") for the contract.
 *
 * Threads: the loop thread submits, cancels and receives; workers only take
 * a queued job, parse it (silk_html_parse_uncounted: no counters, no loop)
 * and put it on the done list. Everything a worker and the loop share is
 * guarded by pool->lock; `pending` and `cancelled` are the loop thread's.
 */
#define _GNU_SOURCE    /* pthread_setname_np */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "html_int.h"
#include "track.h"

typedef enum job_state {
    JOB_QUEUED,                /* on pool->todo */
    JOB_RUNNING,               /* a worker has it */
    JOB_DONE,                  /* on pool->done, waiting for the loop */
    JOB_DELIVERED,             /* handed to the done callback */
} job_state;

struct silk_html_job {
    silk_html_job *next;       /* in todo or done (guarded by pool->lock) */
    silk_html_pool *pool;
    job_state state;           /* guarded by pool->lock */
    int cancelled;             /* loop thread: free instead of calling back */
    const char *text;          /* what the worker parses: `own`, or borrowed */
    char *own;                 /* the job's copy of the text, or NULL */
    silk_html_release_fn release; /* a borrowed text's owner, told when the job is freed */
    void *release_ud;
    size_t len;
    char *base;
    silk_html_limits lim;
    silk_html_done_fn done;
    void *ud;
    int rc;
    silk_html_doc *doc;        /* uncounted until silk_html_job_result */
    char err[160];
};

struct silk_html_pool {
    struct ev_loop *loop;
    ev_async async;            /* workers -> loop: jobs finished */
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* todo not empty, or stopping */
    silk_html_job *todo, **todo_tail;
    silk_html_job *done, **done_tail;
    int stopping;
    int pending;               /* queued + running + done, not yet delivered
                                * (loop thread only); while > 0 the async
                                * watcher keeps the loop alive */
    int nthreads;
    pthread_t threads[8];
};

/* Loop thread: the loop must not end (or declare a deadlock) while a
 * task waits on a job, but an idle pool must not keep it running. */
static void pending_add(silk_html_pool *p, int delta)
{
    int before = p->pending;
    p->pending += delta;
    if (before == 0 && p->pending > 0)
        ev_ref(p->loop);
    else if (before > 0 && p->pending == 0)
        ev_unref(p->loop);
}

static void job_destroy(silk_html_job *j)
{
    if (j->doc)
        silk_html_free_uncounted(j->doc);
    free(j->own);
    if (j->release)
        j->release(j->release_ud);
    free(j->base);
    free(j);
    silk_track_release(SILK_RES_PARSE_JOB);
}

static void *worker_main(void *arg)
{
    silk_html_pool *p = arg;
    pthread_setname_np(pthread_self(), "silk-parse");  /* for top -H and perf */
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->todo && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        silk_html_job *j = p->todo;
        p->todo = j->next;
        if (!p->todo)
            p->todo_tail = &p->todo;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&p->lock);

        j->rc = silk_html_parse_uncounted(j->text, j->len, j->base, &j->lim, &j->doc, j->err, sizeof j->err);
        free(j->own);          /* the document holds its own copy */
        j->own = NULL;

        pthread_mutex_lock(&p->lock);
        j->state = JOB_DONE;
        j->next = NULL;
        *p->done_tail = j;
        p->done_tail = &j->next;
        ev_async_send(p->loop, &p->async);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Loop thread: deliver finished jobs. Callbacks may submit or cancel other
 * jobs, so the list is taken whole before any of them runs. */
static void pool_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    silk_html_pool *p = (silk_html_pool *)((char *)w - offsetof(silk_html_pool, async));
    pthread_mutex_lock(&p->lock);
    silk_html_job *list = p->done;
    p->done = NULL;
    p->done_tail = &p->done;
    for (silk_html_job *j = list; j; j = j->next)
        j->state = JOB_DELIVERED;
    pthread_mutex_unlock(&p->lock);
    while (list) {
        silk_html_job *j = list;
        list = j->next;
        pending_add(p, -1);
        if (j->cancelled)
            job_destroy(j);
        else
            j->done(j, j->ud);
    }
}

silk_html_pool *silk_html_pool_new(struct ev_loop *loop, int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > 8)
        nthreads = 8;
    silk_html_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->todo_tail = &p->todo;
    p->done_tail = &p->done;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    ev_async_init(&p->async, pool_async_cb);
    ev_async_start(loop, &p->async);
    ev_unref(loop);            /* a pool alone does not keep the loop running */

    /* Workers must never take a signal: SIGPROF drives the Lua preemption
     * profiler and SIGINT/SIGTERM belong to the loop. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!p->nthreads) {
        silk_html_pool_free(p);
        return NULL;
    }
    return p;
}

void silk_html_pool_free(silk_html_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    if (p->pending == 0)
        ev_ref(p->loop);       /* undo the unref of an idle pool before stopping */
    ev_async_stop(p->loop, &p->async);
    /* Workers are gone: the lists are ours. Jobs are freed without calling
     * back; their owners cancelled them when the tasks ended. */
    for (silk_html_job *lists[2] = {p->todo, p->done}, **l = lists; l < lists + 2; l++)
        while (*l) {
            silk_html_job *j = *l;
            *l = j->next;
            job_destroy(j);
        }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A job for text (not yet set) and a copy of base_url; NULL when out of memory. */
static silk_html_job *job_new(const char *base_url)
{
    silk_html_job *j = calloc(1, sizeof *j);
    if (j && base_url && !(j->base = strdup(base_url))) {
        free(j);
        return NULL;
    }
    return j;
}

/* Fills in the rest of j and hands it to the workers. */
static silk_html_job *job_queue(silk_html_pool *p, silk_html_job *j, size_t len,
                                const silk_html_limits *lim, silk_html_done_fn done, void *ud)
{
    j->len = len;
    if (lim)
        j->lim = *lim;
    else
        silk_html_limits_default(&j->lim);
    j->pool = p;
    j->done = done;
    j->ud = ud;
    silk_track_acquire(SILK_RES_PARSE_JOB);
    pthread_mutex_lock(&p->lock);
    j->state = JOB_QUEUED;
    *p->todo_tail = j;
    p->todo_tail = &j->next;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pending_add(p, 1);
    return j;
}

silk_html_job *silk_html_submit(silk_html_pool *p, const char *text, size_t len,
                                const char *base_url, const silk_html_limits *lim,
                                silk_html_done_fn done, void *ud)
{
    silk_html_job *j = job_new(base_url);
    char *own = j ? malloc(len ? len : 1) : NULL;
    if (!own) {
        if (j)
            free(j->base);
        free(j);
        return NULL;
    }
    memcpy(own, text, len);
    j->text = j->own = own;
    return job_queue(p, j, len, lim, done, ud);
}

silk_html_job *silk_html_submit_borrowed(silk_html_pool *p, const char *text, size_t len,
                                         const char *base_url, const silk_html_limits *lim,
                                         silk_html_done_fn done, void *ud,
                                         silk_html_release_fn release, void *release_ud)
{
    silk_html_job *j = job_new(base_url);
    if (!j)
        return NULL;
    j->text = text;
    j->release = release;
    j->release_ud = release_ud;
    return job_queue(p, j, len, lim, done, ud);
}

void silk_html_cancel(silk_html_job *j)
{
    silk_html_pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    if (j->state == JOB_QUEUED) {
        silk_html_job **pp = &p->todo;
        while (*pp != j)
            pp = &(*pp)->next;
        *pp = j->next;
        if (p->todo_tail == &j->next)
            p->todo_tail = pp;
        pthread_mutex_unlock(&p->lock);
        pending_add(p, -1);
        job_destroy(j);
        return;
    }
    /* Running or done: the async callback frees it. A delivered job is the
     * caller's to free (cancel after delivery is a no-op by contract). */
    if (j->state != JOB_DELIVERED)
        j->cancelled = 1;
    pthread_mutex_unlock(&p->lock);
}

int silk_html_job_result(silk_html_job *j, silk_html_doc **out, char *err, size_t errlen)
{
    *out = NULL;
    if (j->rc != SILK_HTML_OK) {
        if (err && errlen)
            snprintf(err, errlen, "%s", j->err);
        return j->rc;
    }
    *out = j->doc;
    j->doc = NULL;
    silk_track_acquire(SILK_RES_DOCUMENT);
    return SILK_HTML_OK;
}

void silk_html_job_free(silk_html_job *j)
{
    if (j)
        job_destroy(j);
}

int silk_html_pool_pending(silk_html_pool *p)
{
    return p->pending;
}
