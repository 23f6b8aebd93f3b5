/*
 * track.c -- live-resource counters; see track.h.
 */
#include "track.h"

static long live[SILK_RES_COUNT_];
static long total[SILK_RES_COUNT_];

static const char *const names[SILK_RES_COUNT_] = {
    [SILK_RES_TASK] = "tasks",
    [SILK_RES_TIMER] = "timers",
    [SILK_RES_WAITER] = "waiters",
    [SILK_RES_FRAME] = "cancel frames",
    [SILK_RES_DOCUMENT] = "documents",
    [SILK_RES_CURL_EASY] = "curl handles",
    [SILK_RES_BUFFER] = "buffers",
    [SILK_RES_PARSE_JOB] = "parse jobs",
    [SILK_RES_TRANSFER] = "fetch transfers",
    [SILK_RES_PAGE] = "page handles",
};

void silk_track_acquire(silk_res kind) { live[kind]++; total[kind]++; }
void silk_track_release(silk_res kind) { live[kind]--; }
long silk_track_live(silk_res kind) { return live[kind]; }
long silk_track_total(silk_res kind) { return total[kind]; }
const char *silk_track_name(silk_res kind) { return names[kind]; }

int silk_track_report(FILE *out, const char *prefix)
{
    int n = 0;
    for (int k = 0; k < SILK_RES_COUNT_; k++) {
        if (live[k] == 0)
            continue;
        fprintf(out, "%s%ld %s still live\n", prefix, live[k], names[k]);
        n++;
    }
    return n;
}
