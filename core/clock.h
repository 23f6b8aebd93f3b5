/*
 * clock.h -- the monotonic clock every module measures time with.
 *
 * A module of its own so that anyone may read the time (fetch's timeouts,
 * the scheduler's deadlines, metrics) without depending on the engine.
 */
#ifndef SILK_CLOCK_H
#define SILK_CLOCK_H

/* Monotonic seconds (CLOCK_MONOTONIC), read afresh on every call: not
 * libev's cached ev_now, which stands still while tasks run. */
double silk_now(void);

#endif
