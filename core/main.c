/*
 * main.c -- the silk command line: run | eval | test | new | shell | console |
 * collect | version | help. One table of commands: what each does, its
 * help (`silk CMD --help`, which scripts/manpage turns into silk.1) and the
 * function that runs it; the engine options are cli.c's.
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
#include "cli.h"
#include "console.h"
#include "engine_run.h"
#include "fetch.h"
#include "frontier.h"
#include "lineedit.h"
#include "metrics.h"
#include "profile.h"

enum { EXIT_USAGE = 2, EXIT_LEAK = 3, EXIT_DEADLOCK = 4 };

typedef struct command command;

/* One command. A Lua command (`module` set) parses its own arguments and
 * prints its own help, with silk.cli; the others are C functions given the
 * command's arguments once the engine options are out of them. */
struct command {
    const char *name;
    const char *summary;    /* its line in `silk --help` */
    const char *module;     /* the Lua module whose function is the command, or NULL */
    int engine;             /* 1: runs an engine, so takes engine options */
    int script_args;        /* 1: arguments after the first non-option are a script's */
    const char *usage;      /* after "usage: silk NAME " */
    const char *about;
    const char *options;    /* its own options' help lines, -h excepted */
    const char *const *names; /* its own options, for "did you mean" (NULL-terminated) */
    const char *example;
    int (*run)(const command *cmd, const silk_cli *c, int argc, char **argv);
};

static int run_eval(const command *cmd, const silk_cli *c, int argc, char **argv);
static int run_shell(const command *cmd, const silk_cli *c, int argc, char **argv);
static int run_console(const command *cmd, const silk_cli *c, int argc, char **argv);
static int run_collect(const command *cmd, const silk_cli *c, int argc, char **argv);
static int run_version(const command *cmd, const silk_cli *c, int argc, char **argv);
static int run_help(const command *cmd, const silk_cli *c, int argc, char **argv);

static const char *const collect_names[] = {"-o", "--output", "--follow", "--quiet", "-h", "--help", NULL};
static const char *const help_names[] = {"-h", "--help", NULL};

static const command commands[] = {
    {"run", "crawl with a spider", "silk.run", 1, 0, NULL, NULL, NULL, NULL, NULL, NULL},
    {"eval", "run a Lua file as the main task; fail on errors, leaks, deadlocks", NULL, 1, 1,
     "[options] FILE.lua [args...]",
     "Runs FILE.lua as the main task of a fresh engine, with its arguments in `arg`\n"
     "(as the lua interpreter does). The run fails (exit 1) when a task raises and nobody\n"
     "joins it, and reports tasks or C resources left alive (exit 3) or a deadlock (exit 4).\n"
     "Options after FILE.lua are the script's.",
     NULL, help_names, "silk eval --max-memory 512M script.lua input.txt", run_eval},
    {"test", "run busted specs inside silk (default: tests/spec, else spec)", "silk.test", 1, 0, NULL, NULL, NULL,
     NULL, NULL, NULL},
    {"new", "write a spider project NAME/: spider, spec, fixtures, editor types", "silk.new", 1, 0, NULL, NULL,
     NULL, NULL, NULL, NULL},
    {"shell", "a REPL inside a fresh engine; with URL, res and doc bound", NULL, 1, 0, "[options] [URL]",
     "Starts a REPL in a fresh engine: every silk function works, and a line that waits\n"
     "(silk.fetch) runs as a task. With URL, fetches it first and binds `res` (the\n"
     "response) and `doc` (its parsed document) to try selectors on.",
     NULL, help_names, "silk shell http://127.0.0.1:8080/", run_shell},
    {"console", "attach a REPL to a running engine's --console socket", NULL, 1, 0, "[options] PATH",
     "Attaches a REPL to the engine of a running silk started with --console PATH: the\n"
     "crawl's state is in reach (stats(), stop(), its tasks), and lines run inside it.",
     NULL, help_names, "silk console /tmp/silk.sock", run_console},
    {"collect", "drain the items a crawl run with --items redis stored", NULL, 0, 0,
     "redis://[[USER]:PASSWORD@]IP:PORT/NAME -o FILE.jsonl [--follow] [--quiet]",
     "Moves the items a crawl run with --frontier redis://IP:PORT/NAME --items redis\n"
     "stored into FILE.jsonl: each item once, even when interrupted and run again.",
     "  -o, --output FILE     the JSON Lines file to append the items to\n"
     "  --follow              keep draining until the crawl is over (no request open)\n"
     "  --quiet               no progress on stderr\n",
     collect_names, "silk collect redis://127.0.0.1:6379/shop -o items.jsonl --follow", run_collect},
    {"version", "print the versions of silk and of the libraries it runs on", NULL, 0, 0, "",
     "Prints silk's version, then LuaJIT's, libcurl's (with its TLS library), gumbo's,\n"
     "libev's, SQLite's and hiredis's, one per line.",
     NULL, help_names, "silk version", run_version},
    {"help", "this text, or a command's help (silk help COMMAND)", NULL, 0, 0, "[COMMAND]",
     "Prints the list of commands and the engine options, or COMMAND's help.", NULL, help_names,
     "silk help run", run_help},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static const command *find_command(const char *name)
{
    for (int k = 0; k < N_COMMANDS; k++)
        if (strcmp(commands[k].name, name) == 0)
            return &commands[k];
    return NULL;
}

static void usage(FILE *out)
{
    fputs("usage: silk [engine options] COMMAND [options] [args]\n"
          "\n"
          "silk is a crawler engine: a C core runs spider scripts written in Lua (LuaJIT).\n"
          "\n"
          "commands:\n",
          out);
    for (int k = 0; k < N_COMMANDS; k++)
        fprintf(out, "  %-10s%s\n", commands[k].name, commands[k].summary);
    fputc('\n', out);
    silk_cli_help(out);
    fputs("\n"
          "`silk COMMAND --help` (or -h) shows a command's options and an example.\n"
          "\n"
          "exit status:\n"
          "  0         success\n"
          "  1         an uncaught error, or failing specs\n"
          "  2         bad usage, or a script that does not load\n"
          "  3         tasks or resources leaked\n"
          "  4         deadlock\n"
          "  5         silk run could not write its items or jobdir, or its Redis frontier lost\n"
          "            the crawl\n"
          "  128+N     stopped by signal N\n"
          "\n"
          "environment:\n"
          "  SILK_LUA_DIR          where silk's Lua modules are; default: ../share/silk/lua\n"
          "                        from the binary's directory, else the source tree it\n"
          "                        was built from\n"
          "\n"
          "example:\n"
          "  silk --console /tmp/silk.sock run spiders/bookshop.lua -o books.jsonl\n",
          out);
}

static void command_help(const command *cmd, FILE *out)
{
    fprintf(out, "usage: silk %s %s\n\n%s\n\noptions:\n%s", cmd->name, cmd->usage, cmd->about,
            cmd->options ? cmd->options : "");
    fputs("  -h, --help            this text\n", out);
    if (cmd->engine) {
        fputc('\n', out);
        silk_cli_help(out);
    }
    fprintf(out, "\nexample:\n  %s\n", cmd->example);
}

/* A C command's option it does not take: name the closest one it does. */
static int unknown_option(const command *cmd, const char *arg)
{
    if (!cmd->engine && strcmp(silk_cli_suggest(arg, NULL, 1), arg) == 0) {
        fprintf(stderr, "silk: %s takes no engine options\n", cmd->name);
        return EXIT_USAGE;
    }
    fprintf(stderr, "silk %s: unknown option %s (did you mean %s?); see silk %s --help\n", cmd->name, arg,
            silk_cli_suggest(arg, cmd->names, cmd->engine), cmd->name);
    return EXIT_USAGE;
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
static int run_chunk(const silk_cli *obs, const char *loader, const char *file, int argc, char **argv)
{
    char err[512];
    int status = EXIT_USAGE;
    silk_console *console = NULL;
    silk_metrics_server *metrics = NULL;
    silk_profile *profile = NULL;
    silk_engine *e = silk_engine_new(&obs->engine);
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
static int run_collect(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    const char *url = NULL, *out = NULL;
    int follow = 0, quiet = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "silk collect: %s needs a file\n", argv[i]);
                return EXIT_USAGE;
            }
            out = argv[++i];
        } else if (strcmp(argv[i], "--follow") == 0) {
            follow = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-') {
            return unknown_option(cmd, argv[i]);
        } else if (!url) {
            url = argv[i];
        } else {
            fprintf(stderr, "silk collect: unexpected argument '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!url || !out) {
        fprintf(stderr, "silk collect: usage: silk collect %s\n", cmd->usage);
        return EXIT_USAGE;
    }
    char err[512];
    if (silk_frontier_collect(url, out, follow, quiet, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "silk collect: %s\n", err);
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

/* The one positional argument of shell, console and help (`what` names it
 * when it is required); NULL when there is none. Sets *status when the
 * arguments are wrong. */
static const char *one_argument(const command *cmd, int argc, char **argv, const char *what, int *status)
{
    *status = 0;
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-') {
            *status = unknown_option(cmd, argv[i]);
            return NULL;
        }
    if (argc > 1 || (argc == 0 && what)) {
        fprintf(stderr, "silk %s: %s; usage: silk %s %s\n", cmd->name,
                argc > 1 ? "too many arguments" : what, cmd->name, cmd->usage);
        *status = EXIT_USAGE;
        return NULL;
    }
    return argc ? argv[0] : NULL;
}

static int run_shell(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    int status;
    const char *url = one_argument(cmd, argc, argv, NULL, &status);
    return status ? status : run_repl(&c->engine, NULL, url);
}

static int run_console(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    int status;
    const char *path = one_argument(cmd, argc, argv,
                                    "needs the socket path of a running silk (--console PATH)", &status);
    return status ? status : run_repl(&c->engine, path, NULL);
}

static int run_eval(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    if (argc == 0) {
        fprintf(stderr, "silk eval: needs a file; usage: silk eval %s\n", cmd->usage);
        return EXIT_USAGE;
    }
    if (argv[0][0] == '-')
        return unknown_option(cmd, argv[0]);
    return run_chunk(c, NULL, argv[0], argc - 1, argv + 1);
}

static int run_version(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    if (argc > 0)
        return argv[0][0] == '-' ? unknown_option(cmd, argv[0])
                                 : (fprintf(stderr, "silk version: takes no arguments\n"), EXIT_USAGE);
    printf("silk %s\n"
           "%s\n"
           "libcurl %s\n"
           "gumbo %s\n"
           "libev %s\n"
           "SQLite %s\n"
           "hiredis %s\n",
           SILK_VERSION, LUAJIT_VERSION, silk_fetch_curl_version(), SILK_GUMBO_VERSION,
           silk_engine_libev_version(), silk_frontier_sqlite_version(), silk_frontier_hiredis_version());
    return 0;
}

static int print_command_help(const command *cmd, const silk_cli *c);

static int run_help(const command *cmd, const silk_cli *c, int argc, char **argv)
{
    int status;
    const char *name = one_argument(cmd, argc, argv, NULL, &status);
    if (status)
        return status;
    if (!name) {
        usage(stdout);
        return 0;
    }
    const command *about = find_command(name);
    if (!about) {
        fprintf(stderr, "silk help: no command '%s'; see silk --help\n", name);
        return EXIT_USAGE;
    }
    return print_command_help(about, c);
}

/* A Lua command prints its own help, from its option table. */
static int print_command_help(const command *cmd, const silk_cli *c)
{
    if (cmd->module) {
        char *help[] = {"--help"};
        return run_chunk(c, cmd->module, NULL, 1, help);
    }
    command_help(cmd, stdout);
    return 0;
}

static int is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Takes the engine options out of a command's arguments (up to `--`, which
 * goes too, and for eval up to FILE) and leaves the rest, in order, in
 * rest; returns their number, or -1 (message printed). Sets *help when -h
 * or --help is among the command's own options. */
static int split_arguments(const command *cmd, silk_cli *c, int argc, char **argv, char **rest, int *help)
{
    int n = 0, own = 1;     /* still among options silk reads (not a script's) */
    for (int i = 0; i < argc; i++) {
        if (own && cmd->engine && strcmp(argv[i], "--") == 0) {
            own = 0;
            continue;
        }
        int used = own && cmd->engine ? silk_cli_option(c, argc, argv, i) : 0;
        if (used < 0)
            return -1;
        if (used > 0) {
            i += used - 1;
            continue;
        }
        if (cmd->script_args && argv[i][0] != '-')
            own = 0;
        if (own && is_help(argv[i]))
            *help = 1;
        rest[n++] = argv[i];
    }
    return n;
}

int main(int argc, char **argv)
{
    silk_cli c;
    silk_cli_defaults(&c);
    int i = 1, engine_options = 0;
    /* engine options before the command */
    for (; i < argc && argv[i][0] == '-'; engine_options = 1) {
        if (is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0)
            return run_version(find_command("version"), &c, 0, NULL);
        int used = silk_cli_option(&c, argc, argv, i);
        if (used < 0)
            return EXIT_USAGE;
        if (used == 0) {
            static const char *const top[] = {"--help", "--version", NULL};
            fprintf(stderr, "silk: unknown option %s (did you mean %s?); see silk --help\n", argv[i],
                    silk_cli_suggest(argv[i], top, 1));
            return EXIT_USAGE;
        }
        i += used;
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const command *cmd = find_command(argv[i]);
    if (!cmd) {
        const char *names[N_COMMANDS + 1];
        for (int k = 0; k < N_COMMANDS; k++)
            names[k] = commands[k].name;
        names[N_COMMANDS] = NULL;
        fprintf(stderr, "silk: unknown command '%s' (did you mean %s?)\n", argv[i], silk_cli_suggest(argv[i], names, 0));
        usage(stderr);
        return EXIT_USAGE;
    }
    if (engine_options && !cmd->engine) {
        fprintf(stderr, "silk: %s takes no engine options\n", cmd->name);
        return EXIT_USAGE;
    }
    char **rest = malloc(sizeof *rest * (size_t)(argc - i));
    if (!rest)
        return 1;
    int help = 0, status;
    int n = split_arguments(cmd, &c, argc - i - 1, argv + i + 1, rest, &help);
    if (n < 0)
        status = EXIT_USAGE;
    else if (cmd->module)
        status = run_chunk(&c, cmd->module, NULL, n, rest);
    else if (help)
        status = print_command_help(cmd, &c);
    else
        status = cmd->run(cmd, &c, n, rest);
    free(rest);
    return status;
}
