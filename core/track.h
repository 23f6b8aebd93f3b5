/*
 * track.h -- counts of live C resources, for leak reports.
 *
 * Every module that acquires a C resource on behalf of Lua (a task, a timer,
 * a channel waiter, a curl handle, a parsed document, ...) counts it here when
 * it acquires it and uncounts it when it releases it. At exit the engine
 * asks silk_track_report() for every kind whose count is not zero, which is
 * then a leak. Counts are process-wide and only touched from the loop thread
 * (worker threads count nothing; the task that asked for their work does).
 */
#ifndef SILK_TRACK_H
#define SILK_TRACK_H

#include <stdio.h>

typedef enum silk_res {
    SILK_RES_TASK,        /* a task record (task.c), from spawn until it is finished */
    SILK_RES_TIMER,       /* an armed sleep timer (task.c) */
    SILK_RES_WAITER,      /* a task parked on a channel or a join (task.c) */
    SILK_RES_FRAME,       /* a pushed cancel frame: with_timeout, scope (task.c) */
    SILK_RES_DOCUMENT,    /* a parsed HTML document (html.c) */
    SILK_RES_CURL_EASY,   /* a curl easy handle in flight (fetch.c) */
    SILK_RES_BUFFER,      /* a response buffer (fetch.c) */
    SILK_RES_PARSE_JOB,   /* a parse job handed to a worker thread (html.c) */
    SILK_RES_TRANSFER,    /* a fetch transfer: queued, in flight or in backoff (fetch.c) */
    SILK_RES_PAGE,        /* an open page handle: a browser tab leased to a task (lapi_render.c) */
    SILK_RES_COUNT_
} silk_res;

void silk_track_acquire(silk_res kind);
void silk_track_release(silk_res kind);
long silk_track_live(silk_res kind);
long silk_track_total(silk_res kind);     /* acquisitions since start */
const char *silk_track_name(silk_res kind);

/* Writes one line per kind with a non-zero live count to `out`, prefixed
 * by `prefix`; returns the number of such kinds (0: nothing leaked). */
int silk_track_report(FILE *out, const char *prefix);

#endif
