/*
 * cli.c -- the engine options' table, parser, help and suggestions; see cli.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fetch.h"

typedef struct option {
    const char *name;
    const char *arg;     /* placeholder of its value; NULL: a flag */
    const char *help;    /* '\n' starts a continuation line */
    /* Checks and stores the value (NULL for a flag); 0, or -1 with the
     * message printed. */
    int (*set)(silk_cli *c, const char *name, const char *value);
} option;

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

static int set_observer(silk_cli *c, const char *name, const char *v)
{
    if (strcmp(name, "--console") == 0)
        c->console_path = v;
    else if (strcmp(name, "--metrics") == 0)
        c->metrics_addr = v;
    else
        c->profile_svg = v;
    return 0;
}

/* One of the NULL-terminated `allowed` values, else a message naming them. */
static int one_of(const char *name, const char *v, const char *const *allowed)
{
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(v, *a) == 0)
            return 0;
    fprintf(stderr, "silk: %s: expected ", name);
    for (const char *const *a = allowed; *a; a++)
        fprintf(stderr, "%s%s", *a, a[1] ? (a[2] ? ", " : " or ") : "");
    fprintf(stderr, ", got '%s'\n", v);
    return -1;
}

static int set_log(silk_cli *c, const char *name, const char *v)
{
    static const char *const levels[] = {"debug", "info", "warning", "error", NULL};
    static const char *const formats[] = {"text", "json", NULL};
    if (strcmp(name, "--log-level") == 0) {
        if (one_of(name, v, levels) != 0)
            return -1;
        c->engine.log_level = v;
    } else if (strcmp(name, "--log-format") == 0) {
        if (one_of(name, v, formats) != 0)
            return -1;
        c->engine.log_format = v;
    } else {
        c->engine.log_file = v;
    }
    return 0;
}

static int set_flag(silk_cli *c, const char *name, const char *v)
{
    if (strcmp(name, "--allow-leaks") == 0)
        c->engine.allow_leaks = 1;
    else if (strcmp(name, "--no-preempt") == 0)
        c->engine.preempt = 0;
    else
        c->engine.gc_pacer = 0;
    return 0;
}

static int set_gc(silk_cli *c, const char *name, const char *v)
{
    int sized = strcmp(name, "--gc-heap-limit") == 0;
    double x;
    if (parse_amount(v, sized, &x) != 0) {
        fprintf(stderr, "silk: %s needs a positive number%s\n", name, sized ? " (bytes, or with K, M or G)" : "");
        return -1;
    }
    if (sized)
        c->engine.gc_heap_limit = x;
    else if (strcmp(name, "--gc-budget") == 0)
        c->engine.gc_budget = x;
    else
        c->engine.gc_pause = (int)x;
    return 0;
}

static int set_max_memory(silk_cli *c, const char *name, const char *v)
{
    double x;
    if (parse_amount(v, 1, &x) != 0 || x < (1 << 20)) {
        fprintf(stderr, "silk: --max-memory needs a size of at least 1M (bytes, or with K, M or G)\n");
        return -1;
    }
    c->engine.max_memory = x;
    return 0;
}

static int set_seconds(silk_cli *c, const char *name, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0)) {
        fprintf(stderr, "silk: %s needs a non-negative number of seconds\n", name);
        return -1;
    }
    if (strcmp(name, "--grace") == 0)
        c->engine.grace = x;
    else
        c->engine.slice = x > 0 ? x : 0.002;
    return 0;
}

static int set_max_fds(silk_cli *c, const char *name, const char *v)
{
    char *end, err[160];
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 1) {
        fprintf(stderr, "silk: --max-fds needs a number of files >= 1\n");
        return -1;
    }
    /* set it now: a limit the machine refuses is a usage error, and the
     * engine's own descriptors are then under it too */
    if (silk_fetch_set_max_fds(n, err, sizeof err) != 0) {
        fprintf(stderr, "silk: --max-fds %ld: %s\n", n, err);
        return -1;
    }
    c->engine.max_fds = n;
    return 0;
}

static const option options[] = {
    {"--grace", "SECONDS", "time tasks get to unwind after SIGINT/SIGTERM (default 5)", set_seconds},
    {"--allow-leaks", NULL, "tasks alive at the end are a warning, not a failure", set_flag},
    {"--no-preempt", NULL, "do not interrupt running Lua code (deadlines apply at waits only)", set_flag},
    {"--slice", "SECONDS", "run time after which a busy task is time-sliced (default 0.002)", set_seconds},
    {"--gc-budget", "SECONDS", "longest garbage-collection slice (default 0.001)", set_gc},
    {"--gc-heap-limit", "SIZE", "Lua heap limit, bytes with optional K/M/G (default none)", set_gc},
    {"--gc-pause", "PERCENT", "heap growth between cycles (default 200)", set_gc},
    {"--max-memory", "SIZE",
     "Lua heap cap, bytes with optional K/M/G (default none): the\n"
     "task that allocates past it fails with a `memory` error",
     set_max_memory},
    {"--no-gc-pacer", NULL, "let LuaJIT collect on allocation instead", set_flag},
    {"--console", "PATH", "serve a REPL on a UNIX socket (mode 0600) for `silk console`", set_observer},
    {"--metrics", "ADDR:PORT", "serve Prometheus metrics (loopback unless an address is given)", set_observer},
    {"--profile", "FILE.svg", "sample Lua stacks; write a flame graph and FILE.folded", set_observer},
    {"--max-fds", "N",
     "limit of open files (RLIMIT_NOFILE soft limit); at most the\n"
     "hard limit (`ulimit -Hn`); default: raised to the hard limit",
     set_max_fds},
    {"--log-level", "LEVEL",
     "debug (a line per response), info (default: a line per failed\n"
     "request), warning (retries exhausted, hosts backed off, robots.txt\n"
     "unreachable, items refused) or error (callbacks, pipelines, output)",
     set_log},
    {"--log-file", "FILE", "log lines to FILE (appended) instead of stderr; the progress\n"
     "line stays on the terminal", set_log},
    {"--log-format", "FORMAT", "text (default: `2026-12-07T14:03:11.123Z INFO silk: ...`) or\n"
     "json (one object per line: ts, level, msg, and url, kind,\n"
     "attempt, status, ms, bytes where they apply)", set_log},
};
enum { N_OPTIONS = sizeof options / sizeof options[0] };

void silk_cli_defaults(silk_cli *c)
{
    memset(c, 0, sizeof *c);
    silk_engine_defaults(&c->engine);
}

int silk_cli_option(silk_cli *c, int argc, char **argv, int i)
{
    for (int k = 0; k < N_OPTIONS; k++) {
        const option *o = &options[k];
        if (strcmp(argv[i], o->name) != 0)
            continue;
        if (!o->arg)
            return o->set(c, o->name, NULL) == 0 ? 1 : -1;
        if (i + 1 >= argc) {
            fprintf(stderr, "silk: %s needs a value (%s)\n", o->name, o->arg);
            return -1;
        }
        return o->set(c, o->name, argv[i + 1]) == 0 ? 2 : -1;
    }
    return 0;
}

void silk_cli_help(FILE *out)
{
    fputs("engine options (before or after the command, up to `--`; not after eval's FILE):\n", out);
    for (int k = 0; k < N_OPTIONS; k++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", options[k].name, options[k].arg ? " " : "",
                 options[k].arg ? options[k].arg : "");
        fprintf(out, "  %-22s", left);
        for (const char *p = options[k].help; *p; p++) {
            fputc(*p, out);
            if (*p == '\n')
                fprintf(out, "%24s", "");
        }
        fputc('\n', out);
    }
}

static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)     /* no option is that long: any other name is as good */
        return la > lb ? la : lb;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
        memcpy(prev, cur, sizeof cur);
    }
    return prev[lb];
}

const char *silk_cli_suggest(const char *word, const char *const *names, int engine)
{
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (int k = 0; engine && k < N_OPTIONS; k++) {
        size_t d = distance(word, options[k].name);
        if (d < bd)
            best = options[k].name, bd = d;
    }
    for (; names && *names; names++) {
        size_t d = distance(word, *names);
        if (d < bd)
            best = *names, bd = d;
    }
    return best;
}
