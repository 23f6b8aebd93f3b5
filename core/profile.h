/*
 * profile.h -- flame graphs of where the Lua time goes.
 *
 * A profile samples on the ticks of LuaJIT's profiler, which preempt.c owns:
 * its own itimer, 1 ms of process CPU time (delivered once per jiffy at
 * most), runs while a profile samples; a sample is taken when Lua code runs
 * next, so the loop's idle time is not sampled. (Preemption's own 1 ms
 * tick raises the same hook but is not counted as samples.) On each tick the stack of the running
 * coroutine is dumped root first (luaJIT_profile_dumpstack), copied into a C
 * buffer and counted, weighted by the ticks it stands for, in a table of
 * folded stacks ("main;crawl;parse_page" -> samples). Ticks that land in the
 * collector or the JIT compiler get a synthetic leaf "[gc]" / "[jit]". Nothing
 * in the sampler allocates Lua objects or raises.
 *
 * Results: the folded stacks (one "frame;frame;frame count" line per stack,
 * the input format of flamegraph tools) and an SVG flame graph written here:
 * one rectangle per frame, width proportional to samples, root at the
 * bottom, and a <title> per rectangle so hovering shows the frame, its
 * samples and its share.
 *
 * One profile samples at a time per process (the sampler slot is one).
 * Needs preemption on (the engine option; with --no-preempt there are no
 * ticks). Loop thread only. Callers: main.c (--profile FILE.svg over the
 * whole run), lapi_profile.c (silk.profile, the console's profile()).
 */
#ifndef SILK_PROFILE_H
#define SILK_PROFILE_H

#include <stddef.h>

#include "engine.h"

typedef struct silk_profile silk_profile;

/* Starts sampling. NULL with a message in err when preemption is off or
 * another profile is sampling. */
silk_profile *silk_profile_start(silk_engine *e, char *err, size_t errlen);

/* Stops sampling (idempotent); the samples stay for writing. */
void silk_profile_stop(silk_profile *p);

/* Samples taken so far (ticks, including those cut by the stack table's bound). */
long silk_profile_samples(silk_profile *p);

/* Writes the folded stacks to folded_path; 0 or -1 (message in err). */
int silk_profile_write_folded(silk_profile *p, const char *folded_path, char *err, size_t errlen);

/* Writes the SVG flame graph; `title` may be NULL. 0 or -1 (message in err). */
int silk_profile_write_svg(silk_profile *p, const char *svg_path, const char *title,
                           char *err, size_t errlen);

/* Both, as --profile FILE.svg does: FILE.svg and FILE.folded (".svg"
 * replaced, else ".folded" appended). 0 or -1. */
int silk_profile_write(silk_profile *p, const char *svg_path, char *err, size_t errlen);

/* Stops and frees. NULL is a no-op. */
void silk_profile_free(silk_profile *p);

#endif
