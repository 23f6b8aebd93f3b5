/*
 * lineedit.c -- stdin lines on the loop, edited by libedit on a terminal;
 * see lineedit.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "lineedit.h"

#define PIPE_LINE_MAX (1 << 20)   /* a longer line from a pipe is cut there */
#define HISTORY_MAX 1000

static struct {
    struct ev_loop *loop;
    ev_io io;                     /* stdin, active while a read is in progress */
    silk_lineedit_fn fn;
    void *ud;
    int tty;                      /* -1 not yet known */
    int initialised;              /* libedit set up (terminals) */
    /* pipes: what was read beyond the last line handed out */
    char *pend;
    size_t plen;
    int eof;
} rd = {.tty = -1};

int silk_lineedit_tty(void)
{
    if (rd.tty < 0)
        rd.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    return rd.tty;
}

static void stop_io(void)
{
    if (rd.loop && ev_is_active(&rd.io))
        ev_io_stop(rd.loop, &rd.io);
}

/* Hands one line to the reader and ends the read (fn may start the next). */
static void deliver(const char *line, size_t len)
{
    silk_lineedit_fn fn = rd.fn;
    void *ud = rd.ud;
    rd.fn = NULL;
    stop_io();
    fn(ud, line, len);
}

/* --- terminals: libedit ------------------------------------------------------- */

static void on_edited_line(char *line)
{
    rl_callback_handler_remove();         /* back to cooked mode while the line runs */
    if (rd.fn)
        deliver(line, line ? strlen(line) : 0);
    free(line);
}

static void init_libedit(void)
{
    if (rd.initialised)
        return;
    rl_readline_name = "silk";
    rl_catch_signals = 0;                 /* libev owns SIGINT/SIGTERM */
    rl_instream = stdin;
    rl_outstream = stdout;
    rl_initialize();
    using_history();
    stifle_history(HISTORY_MAX);
    rd.initialised = 1;
}

/* --- pipes ------------------------------------------------------------------------- */

/* Delivers the first complete line of rd.pend, or the rest at EOF; returns
 * 1 when it delivered something. */
static int deliver_pending(void)
{
    char *nl = rd.plen ? memchr(rd.pend, '\n', rd.plen) : NULL;
    size_t len;
    if (nl)
        len = (size_t)(nl - rd.pend);
    else if (rd.plen >= PIPE_LINE_MAX || (rd.eof && rd.plen))
        len = rd.plen;
    else if (rd.eof) {
        deliver(NULL, 0);
        return 1;
    } else
        return 0;
    /* Copy out first: the callback may start the next read and consume. */
    char *line = malloc(len + 1);
    if (!line) {
        deliver(NULL, 0);
        return 1;
    }
    memcpy(line, rd.pend, len);
    line[len] = '\0';
    size_t used = nl ? len + 1 : len;
    memmove(rd.pend, rd.pend + used, rd.plen - used);
    rd.plen -= used;
    deliver(line, len);
    free(line);
    return 1;
}

static void on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
    if (silk_lineedit_tty()) {
        rl_callback_read_char();
        return;
    }
    if (deliver_pending())
        return;                           /* a line read earlier (EV_CUSTOM) */
    if (!rd.pend && !(rd.pend = malloc(PIPE_LINE_MAX))) {
        deliver(NULL, 0);
        return;
    }
    ssize_t n = read(STDIN_FILENO, rd.pend + rd.plen, PIPE_LINE_MAX - rd.plen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0)
        rd.eof = 1;
    else
        rd.plen += (size_t)n;
    deliver_pending();
}

/* --- the interface ------------------------------------------------------------------ */

int silk_lineedit_start(struct ev_loop *loop, const char *prompt, silk_lineedit_fn fn, void *ud)
{
    if (rd.fn)
        return -1;
    rd.loop = loop;
    rd.fn = fn;
    rd.ud = ud;
    if (!ev_is_active(&rd.io))
        ev_io_init(&rd.io, on_stdin, STDIN_FILENO, EV_READ);
    if (silk_lineedit_tty()) {
        init_libedit();
        rl_callback_handler_install(prompt ? prompt : "", on_edited_line);
    } else if (rd.pend && (memchr(rd.pend, '\n', rd.plen) || rd.eof)) {
        /* Already read: still completes from the loop, never from here. */
        ev_io_start(loop, &rd.io);
        ev_feed_event(loop, &rd.io, EV_CUSTOM);
        return 0;
    }
    ev_io_start(loop, &rd.io);
    return 0;
}

void silk_lineedit_stop(void)
{
    if (!rd.fn)
        return;
    rd.fn = NULL;
    stop_io();
    if (rd.tty == 1) {
        rl_callback_handler_remove();
        fputc('\n', stdout);
        fflush(stdout);
    }
}

int silk_lineedit_interrupt(void)
{
    if (!rd.fn)
        return 0;
    if (rd.tty == 1) {
        rl_replace_line("", 0);          /* the next prompt starts empty */
        rl_callback_handler_remove();
        fputs("^C\n", stdout);
        fflush(stdout);
    }
    deliver(NULL, SILK_LINEEDIT_INTERRUPTED);
    return 1;
}

int silk_lineedit_history_load(const char *path)
{
    if (!silk_lineedit_tty())
        return 0;
    init_libedit();
    return read_history(path) == 0 ? 0 : -1;
}

void silk_lineedit_history_add(const char *line)
{
    if (silk_lineedit_tty() && line && *line)
        add_history(line);
}

int silk_lineedit_history_save(const char *path)
{
    if (!silk_lineedit_tty() || !rd.initialised)
        return 0;
    return write_history(path) == 0 ? 0 : -1;
}
