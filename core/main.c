/*
 * main.c -- the silk command line: run | eval | test | shell | console | version.
 *
 * Exit statuses: 0 success; 1 an uncaught error (or failing specs);
 * 2 usage or a script that does not load; 3 tasks or resources leaked;
 * 4 deadlock; 5 `silk run` could not write its items or jobdir, or its
 * Redis frontier lost the crawl (run.lua); 6 `silk run`: a start URL could
 * not be fetched at all (run.lua);
 * 128+N stopped by signal N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <luajit.h>

#include "silk_config.h"
#include "console.h"
#include "engine.h"
#include "fetch.h"
#include "frontier.h"
#include "lineedit.h"
#include "metrics.h"
#include "profile.h"

enum { EXIT_USAGE = 2, EXIT_LEAK = 3, EXIT_DEADLOCK = 4 };

static void usage(FILE *out)
{
    fputs("usage: silk <command> [options] [args]\n"
          "\n"
          "commands:\n"
          "  run SPIDER.lua [-o ITEMS] [-s key=value] [--jobdir DIR] [--stats FILE]\n"
          "                            crawl with a spider (see README.md)\n"
          "  eval FILE.lua [args...]   run FILE as the main task; fail on errors, leaks, deadlocks\n"
          "  test [busted args] [paths]  run busted specs inside silk (default: tests/spec)\n"
          "  shell [URL]               a REPL inside a fresh engine; with URL, res and doc bound\n"
          "  console PATH              attach a REPL to a running engine's --console socket\n"
          "  collect REDIS_URL -o FILE [--follow] [--quiet]\n"
          "                            drain the items a crawl run with --items redis stored\n"
          "                            (each item once; --follow: until the crawl is over)\n"
          "  version                   print the version\n"
          "\n"
          "options (before the command's arguments):\n"
          "  --grace SECONDS     time tasks get to unwind after SIGINT/SIGTERM (default 5)\n"
          "  --allow-leaks       tasks alive at the end are a warning, not a failure\n"
          "  --no-preempt        do not interrupt running Lua code (deadlines apply at waits only)\n"
          "  --slice SECONDS     run time after which a busy task is time-sliced (default 0.002)\n"
          "  --gc-budget SECONDS   longest garbage-collection slice (default 0.001)\n"
          "  --gc-heap-limit SIZE  Lua heap limit, bytes with optional K/M/G (default none)\n"
          "  --gc-pause PERCENT    heap growth between cycles (default 200)\n"
          "  --max-memory SIZE     Lua heap cap, bytes with optional K/M/G (default none): the\n"
          "                        task that allocates past it fails with a `memory` error\n"
          "  --no-gc-pacer         let LuaJIT collect on allocation instead\n"
          "  --console PATH        serve a REPL on a UNIX socket (mode 0600) for `silk console`\n"
          "  --metrics ADDR:PORT   serve Prometheus metrics (loopback unless an address is given)\n"
          "  --profile FILE.svg    sample Lua stacks; write a flame graph and FILE.folded\n"
          "  --max-fds N           limit of open files (RLIMIT_NOFILE soft limit); at most the\n"
          "                        hard limit (`ulimit -Hn`); default: raised to the hard limit\n",
          out);
}

/* A positive number; with `sized`, optionally followed by K, M or G. */
static int parse_amount(const char *s, int sized, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    if (sized && *end) {
        const char *units = "KMG";
        const char *u = strchr(units, *end & ~0x20);
        if (!u)
            return -1;
        for (int k = 0; k <= u - units; k++)
            v *= 1024.0;
        end++;
    }
    if (*end || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

/* What a run serves and records besides the engine itself. */
typedef struct observers {
    const char *console_path;
    const char *metrics_addr;
    const char *profile_svg;
} observers;

/* Parses the options that precede the command's own arguments; returns the
 * index of the first argument that is not one, or -1. */
static int parse_options(int argc, char **argv, int i, silk_engine_options *o, observers *obs)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--console") == 0 || strcmp(a, "--metrics") == 0 || strcmp(a, "--profile") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "silk: %s needs a value\n", a);
                return -1;
            }
            const char *v = argv[++i];
            if (a[2] == 'c')
                obs->console_path = v;
            else if (a[2] == 'm')
                obs->metrics_addr = v;
            else
                obs->profile_svg = v;
        } else if (strcmp(a, "--allow-leaks") == 0) {
            o->allow_leaks = 1;
        } else if (strcmp(a, "--no-preempt") == 0) {
            o->preempt = 0;
        } else if (strcmp(a, "--no-gc-pacer") == 0) {
            o->gc_pacer = 0;
        } else if (strcmp(a, "--gc-budget") == 0 || strcmp(a, "--gc-heap-limit") == 0 ||
                   strcmp(a, "--gc-pause") == 0) {
            double v;
            if (i + 1 >= argc || parse_amount(argv[i + 1], a[5] == 'h', &v) != 0) {
                fprintf(stderr, "silk: %s needs a positive number%s\n", a,
                        a[5] == 'h' ? " (bytes, or with K, M or G)" : "");
                return -1;
            }
            if (a[5] == 'b')
                o->gc_budget = v;
            else if (a[5] == 'h')
                o->gc_heap_limit = v;
            else
                o->gc_pause = (int)v;
            i++;
        } else if (strcmp(a, "--max-memory") == 0) {
            double v;
            if (i + 1 >= argc || parse_amount(argv[i + 1], 1, &v) != 0 || v < (1 << 20)) {
                fprintf(stderr, "silk: --max-memory needs a size of at least 1M (bytes, or with K, M or G)\n");
                return -1;
            }
            o->max_memory = v;
            i++;
        } else if (strcmp(a, "--grace") == 0 || strcmp(a, "--slice") == 0) {
            char *end;
            double v = i + 1 < argc ? strtod(argv[i + 1], &end) : -1;
            if (i + 1 >= argc || *end || v < 0) {
                fprintf(stderr, "silk: %s needs a non-negative number of seconds\n", a);
                return -1;
            }
            if (a[2] == 'g')
                o->grace = v;
            else
                o->slice = v > 0 ? v : 0.002;
            i++;
        } else if (strcmp(a, "--max-fds") == 0) {
            char *end, err[160];
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || *end || v < 1) {
                fprintf(stderr, "silk: --max-fds needs a number of files >= 1\n");
                return -1;
            }
            /* set it now: a limit the machine refuses is a usage error, and
             * the engine's own descriptors are then under it too */
            if (silk_fetch_set_max_fds(v, err, sizeof err) != 0) {
                fprintf(stderr, "silk: --max-fds %ld: %s\n", v, err);
                return -1;
            }
            o->max_fds = v;
            i++;
        } else if (strcmp(a, "--") == 0) {
            return i + 1;
        } else {
            return i;
        }
    }
    return i;
}

static int exit_status(silk_engine *e, silk_outcome out, int script_status)
{
    switch (out) {
    case SILK_OK:
        return script_status;
    case SILK_FAILED:
        return 1;
    case SILK_LEAKED:
        return EXIT_LEAK;
    case SILK_DEADLOCK:
        return EXIT_DEADLOCK;
    case SILK_SIGNALLED:
        return 128 + silk_engine_signal(e);
    }
    return 1;
}

/* After a hard stop the engine must not be torn down (engine.h): leave now
 * with the run's status, as kill -9 would but with the report printed. */
static void leave_if_hard_stopped(silk_engine *e, int status)
{
    if (!silk_engine_hard_stopped(e))
        return;
    silk_lineedit_stop();                 /* a REPL's terminal gets its normal mode back */
    fprintf(stderr, "silk: exiting without teardown: no finaliser ran (files left open are not flushed); "
                    "a crawl's --jobdir is as its last checkpoint left it\n");
    fflush(stdout);
    _exit(status);
}

/* Loads the chunk to run as the main task with its arguments; sets the
 * global `arg` as the standalone Lua interpreter does. Returns the number of
 * arguments pushed above the chunk, or -1 (message printed). */
static int load_main(lua_State *L, const char *loader, const char *file, int argc, char **argv)
{
    lua_createtable(L, argc, 1);
    lua_pushstring(L, file ? file : "silk");
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");

    int rc;
    if (loader) {
        lua_getglobal(L, "require");
        lua_pushstring(L, loader);
        rc = lua_pcall(L, 1, 1, 0);
        if (rc == 0 && !lua_isfunction(L, -1)) {
            lua_pushfstring(L, "module %s does not return a function", loader);
            rc = 1;
        }
    } else {
        rc = luaL_loadfile(L, file);
    }
    if (rc != 0) {
        fprintf(stderr, "silk: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    for (int i = 0; i < argc; i++)
        lua_pushstring(L, argv[i]);
    return argc;
}

/* run, eval and test: one main task, the loop, the end-of-run checks, and
 * whatever observers were asked for around them. */
static int run_chunk(const silk_engine_options *o, const observers *obs, const char *loader,
                     const char *file, int argc, char **argv)
{
    char err[512];
    int status = EXIT_USAGE;
    silk_console *console = NULL;
    silk_metrics_server *metrics = NULL;
    silk_profile *profile = NULL;
    silk_engine *e = silk_engine_new(o);
    if (!e)
        return 1;
    if (obs->console_path && !(console = silk_console_listen(e, obs->console_path, NULL, err, sizeof err))) {
        fprintf(stderr, "silk: --console %s: %s\n", obs->console_path, err);
        goto done;
    }
    if (obs->metrics_addr && !(metrics = silk_metrics_serve(e, obs->metrics_addr, err, sizeof err))) {
        fprintf(stderr, "silk: --metrics %s: %s\n", obs->metrics_addr, err);
        goto done;
    }
    if (obs->profile_svg && !(profile = silk_profile_start(e, err, sizeof err))) {
        fprintf(stderr, "silk: --profile: %s\n", err);
        goto done;
    }
    lua_State *L = silk_engine_lua(e);
    int nargs = load_main(L, loader, file, argc, argv);
    if (nargs < 0)
        goto done;
    silk_outcome out = silk_engine_run_main(e, nargs, "main");
    status = exit_status(e, out, silk_engine_exit_code(e));
    leave_if_hard_stopped(e, status);
    if (profile) {
        silk_profile_stop(profile);
        if (silk_profile_write(profile, obs->profile_svg, err, sizeof err) != 0)
            fprintf(stderr, "silk: --profile %s: %s\n", obs->profile_svg, err);
        else
            fprintf(stderr, "silk: flame graph in %s (%ld samples)\n", obs->profile_svg,
                    silk_profile_samples(profile));
    }
done:
    silk_profile_free(profile);
    silk_metrics_close(metrics);
    silk_console_close(console);
    silk_engine_free(e);
    return status;
}

/* collect: no engine; blocking Redis calls, and SIGINT may end it anywhere
 * (silk_frontier_collect is safe to rerun). */
static int run_collect(int argc, char **argv)
{
    const char *url = NULL, *out = NULL;
    int follow = 0, quiet = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--follow") == 0)
            follow = 1;
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = 1;
        else if (!url && argv[i][0] != '-')
            url = argv[i];
        else {
            fprintf(stderr, "silk: collect: unexpected argument '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!url || !out) {
        fprintf(stderr, "silk: usage: silk collect redis://[[USER]:PASSWORD@]IP:PORT/NAME -o FILE.jsonl "
                        "[--follow] [--quiet]\n");
        return EXIT_USAGE;
    }
    char err[512];
    if (silk_frontier_collect(url, out, follow, quiet, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "silk: collect: %s\n", err);
        return 1;
    }
    return 0;
}

/* shell and console: a REPL in the loop of a fresh engine. */
static int run_repl(const silk_engine_options *o, const char *console_path, const char *url)
{
    silk_engine *e = silk_engine_new(o);
    if (!e)
        return 1;
    silk_outcome out = console_path ? silk_console_client_run(e, console_path) : silk_shell_run(e, url);
    int status = exit_status(e, out, 0);
    leave_if_hard_stopped(e, status);
    silk_engine_free(e);
    return status;
}

int main(int argc, char **argv)
{
    silk_engine_options o;
    silk_engine_defaults(&o);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("silk %s (%s)\n", SILK_VERSION, LUAJIT_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "collect") == 0)
        return run_collect(argc - 2, argv + 2);
    observers obs = {0};
    int i = parse_options(argc, argv, 2, &o, &obs);
    if (i < 0)
        return EXIT_USAGE;
    if (strcmp(cmd, "eval") == 0) {
        if (i >= argc) {
            fprintf(stderr, "silk: eval needs a file\n");
            return EXIT_USAGE;
        }
        return run_chunk(&o, &obs, NULL, argv[i], argc - i - 1, argv + i + 1);
    }
    if (strcmp(cmd, "run") == 0)
        return run_chunk(&o, &obs, "silk.run", NULL, argc - i, argv + i);
    if (strcmp(cmd, "test") == 0)
        return run_chunk(&o, &obs, "silk.test", NULL, argc - i, argv + i);
    if (strcmp(cmd, "shell") == 0)
        return run_repl(&o, NULL, i < argc ? argv[i] : NULL);
    if (strcmp(cmd, "console") == 0) {
        if (i >= argc) {
            fprintf(stderr, "silk: console needs the socket path of a running silk (--console PATH)\n");
            return EXIT_USAGE;
        }
        return run_repl(&o, argv[i], NULL);
    }
    fprintf(stderr, "silk: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
