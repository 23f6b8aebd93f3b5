/*
 * cli.h -- the engine options of the command line (--console, --gc-budget,
 * --max-fds, ...): one table that parses them, prints their help (part of
 * `silk --help`, and so of the man page scripts/manpage makes from it) and
 * names the closest option for a misspelt one.
 *
 * main.c applies them wherever they stand: before the command, and among
 * the command's arguments up to `--` (not after eval's FILE, whose
 * arguments are the script's). The Lua commands (silk run, silk test) ask
 * silk_cli_suggest, through silk.core.engine.suggest_option, for their own
 * "did you mean".
 *
 * Adding an engine option: one row in cli.c's `options` table, with a
 * setter that checks the value and stores it in silk_cli.
 */
#ifndef SILK_CLI_H
#define SILK_CLI_H

#include <stdio.h>

#include "engine.h"

/* What the engine options ask of a run. */
typedef struct silk_cli {
    silk_engine_options engine;
    const char *console_path;   /* --console: serve a REPL on this UNIX socket */
    const char *metrics_addr;   /* --metrics: serve Prometheus metrics on ADDR:PORT */
    const char *profile_svg;    /* --profile: write a flame graph here at the end */
} silk_cli;

void silk_cli_defaults(silk_cli *c);

/* If argv[i] names an engine option, applies it (with its value argv[i+1]
 * when it takes one) and returns how many arguments it used, 1 or 2; 0 when
 * argv[i] is not an engine option; -1 when its value is missing or refused
 * (message on stderr). --max-fds takes effect at once (the process limit). */
int silk_cli_option(silk_cli *c, int argc, char **argv, int i);

/* Prints the engine options' help: a heading line that says where they go,
 * then one entry per option ("  --name ARG   what it does"). */
void silk_cli_help(FILE *out);

/* The name closest (Levenshtein) to `word` among the NULL-terminated list
 * `names` and, with `engine`, the engine options. NULL only when there is
 * no candidate at all. */
const char *silk_cli_suggest(const char *word, const char *const *names, int engine);

#endif
