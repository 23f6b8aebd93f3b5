/*
 * lineedit.h -- reading lines from stdin on the loop, for the REPLs.
 *
 * When stdin is a terminal, libedit's readline emulation edits the line
 * (callback interface: one character per readable event, so the loop keeps
 * running while the user types) and keeps the history; otherwise lines are
 * read as they come (pipes, files), without a prompt. One reader per process:
 * stdin is one. Loop thread only.
 */
#ifndef SILK_LINEEDIT_H
#define SILK_LINEEDIT_H

#include <stddef.h>

#include <ev.h>

/* Gets one line without its newline, or NULL at end of input (len 0) or
 * when the read was interrupted (len SILK_LINEEDIT_INTERRUPTED). `line` is
 * valid during the call only. Called from the loop, never from inside
 * silk_lineedit_start. */
#define SILK_LINEEDIT_INTERRUPTED ((size_t)-1)
typedef void (*silk_lineedit_fn)(void *ud, const char *line, size_t len);

/* Shows `prompt` (terminals only) and starts reading one line; `fn` is
 * called once. Returns 0, or -1 when a read is already in progress. */
int silk_lineedit_start(struct ev_loop *loop, const char *prompt, silk_lineedit_fn fn, void *ud);

/* Abandons the read in progress (fn is not called) and gives the terminal
 * back its normal mode. Idempotent. */
void silk_lineedit_stop(void);

/* Ends the read in progress as interrupted (a REPL's Ctrl-C): what was
 * typed on the line is dropped and fn gets SILK_LINEEDIT_INTERRUPTED.
 * Returns 1, or 0 when no read is in progress. */
int silk_lineedit_interrupt(void);

/* 1 when stdin is a terminal (line editing and history are on). */
int silk_lineedit_tty(void);

/* History (terminals only; no-ops otherwise). load/save return 0 or -1. */
int silk_lineedit_history_load(const char *path);
void silk_lineedit_history_add(const char *line);
int silk_lineedit_history_save(const char *path);

#endif
