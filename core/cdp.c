/*
 * cdp.c -- the browser process and its DevTools pipe; see cdp.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdp.h"

#define NBUCKETS 256                  /* pending calls by id; a few hundred at most */
/* the binary itself: /usr/bin/chromium-headless-shell is a shell script that
 * runs it as a child, which would leave a wrapper between us and the browser */
#define DEFAULT_BINARY "/usr/lib/chromium/chromium-headless-shell"
#define DEFAULT_MAX_MESSAGE (64u << 20)
#define READ_CHUNK 65536
/* nesting a message may have: Runtime.evaluate's results come by value */
#define MAX_DEPTH 1024

typedef struct call {
    uint64_t id;
    struct session *session;          /* NULL: a browser call */
    unsigned gen;                     /* the session's generation when sent */
    silk_cdp_reply_fn cb;
    void *ud;
    struct call *next;                /* bucket chain */
} call;

/* Invariant: a session is on c->sessions until silk_cdp_session_remove or
 * the browser's end; calls point at it only while it is there. */
typedef struct session {
    char *id;
    unsigned gen;
    silk_cdp_event_fn ev;
    void *ud;
    struct session *next;
} session;

struct silk_cdp {
    struct ev_loop *loop;
    silk_cdp_options o;
    char *binary;
    char **extra;
    silk_cdp_event_fn browser_ev;
    void *ud;

    pid_t pid;                        /* 0: no browser */
    char profile[64];                 /* its --user-data-dir, "" when none */
    int wfd, rfd;                     /* our ends: commands out, messages in */
    ev_io rw, ww;

    char *wbuf; size_t wlen, woff, wcap;
    char *rbuf; size_t rlen, rcap;
    json_tokener *tok;                /* reset for each message */

    uint64_t next_id;
    call *buckets[NBUCKETS];
    session *sessions;
    int started;                      /* a browser was started before */
    silk_cdp_stats st;
};

/* --- JSON ------------------------------------------------------------------ */

json_object *silk_json_get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

const char *silk_json_str(json_object *j)
{
    return json_object_is_type(j, json_type_string) ? json_object_get_string(j) : NULL;
}

size_t silk_json_len(json_object *j)
{
    return json_object_is_type(j, json_type_array) ? json_object_array_length(j) : 0;
}

json_object *silk_json_set(json_object *o, const char *k, json_object *v)
{
    if (o && v && json_object_object_add(o, k, v) == 0)
        return o;
    json_object_put(v);
    json_object_put(o);
    return NULL;
}

json_object *silk_json_set_str(json_object *o, const char *k, const char *v)
{
    return silk_json_set(o, k, json_object_new_string(v));
}

json_object *silk_json_set_bool(json_object *o, const char *k, int b)
{
    return silk_json_set(o, k, json_object_new_boolean(b));
}

/* --- sessions and calls ---------------------------------------------------- */

static session *find_session(silk_cdp *c, const char *id)
{
    for (session *s = c->sessions; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static call *take_call(silk_cdp *c, uint64_t id)
{
    for (call **p = &c->buckets[id % NBUCKETS]; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            call *k = *p;
            *p = k->next;
            c->st.pending--;
            return k;
        }
    }
    return NULL;
}

/* Removes and returns every pending call matching s (ALL: any), as a list. */
#define ALL ((session *)1)
static call *take_calls(silk_cdp *c, session *s)
{
    call *out = NULL;
    for (int b = 0; b < NBUCKETS; b++) {
        for (call **p = &c->buckets[b]; *p;) {
            call *k = *p;
            if (s == ALL || k->session == s) {
                *p = k->next;
                k->next = out;
                out = k;
                c->st.pending--;
            } else {
                p = &k->next;
            }
        }
    }
    return out;
}

/* Completes a list from take_calls with st; callbacks may make new calls. */
static void fail_calls(call *list, silk_cdp_status st, const char *message)
{
    while (list) {
        call *k = list;
        list = k->next;
        if (k->cb)
            k->cb(st, NULL, message, k->ud);
        free(k);
    }
}

int silk_cdp_session_add(silk_cdp *c, const char *id, silk_cdp_event_fn ev, void *ud)
{
    session *s = calloc(1, sizeof *s);
    if (!s || !(s->id = strdup(id))) {
        free(s);
        return -1;
    }
    s->ev = ev;
    s->ud = ud;
    s->next = c->sessions;
    c->sessions = s;
    return 0;
}

static void free_session(silk_cdp *c, session *s)
{
    for (call *k = take_calls(c, s), *n; k; k = n) {
        n = k->next;
        free(k);
        c->st.dropped++;
    }
    free(s->id);
    free(s);
}

static void drop_sessions(silk_cdp *c)
{
    while (c->sessions) {
        session *s = c->sessions;
        c->sessions = s->next;
        free_session(c, s);
    }
}

void silk_cdp_session_remove(silk_cdp *c, const char *id)
{
    for (session **p = &c->sessions; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            session *s = *p;
            *p = s->next;
            free_session(c, s);
            return;
        }
    }
}

void silk_cdp_session_fail(silk_cdp *c, const char *id, silk_cdp_status st, const char *message)
{
    session *s = find_session(c, id);
    if (s)
        fail_calls(take_calls(c, s), st, message);
}

void silk_cdp_session_bump(silk_cdp *c, const char *id)
{
    session *s = find_session(c, id);
    if (s)
        s->gen++;
}

void silk_cdp_forget(silk_cdp *c, uint64_t id)
{
    free(take_call(c, id));
}

/* --- writing --------------------------------------------------------------- */

static void kill_browser(silk_cdp *c, const char *why);

static void flush(silk_cdp *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->wfd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            ev_io_start(c->loop, &c->ww);
            return;
        } else {
            /* the browser is gone; the read side sees EOF and reports it */
            ev_io_stop(c->loop, &c->ww);
            c->woff = c->wlen = 0;
            return;
        }
    }
    c->woff = c->wlen = 0;
    ev_io_stop(c->loop, &c->ww);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    flush(w->data);
}

static int queue(silk_cdp *c, const char *s, size_t n)
{
    if (c->wlen + n + 1 > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + n + 1)
            cap *= 2;
        char *b = realloc(c->wbuf, cap);
        if (!b)
            return -1;
        c->wbuf = b;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, s, n);
    c->wbuf[c->wlen + n] = 0;         /* the message separator */
    c->wlen += n + 1;
    return 0;
}

uint64_t silk_cdp_call(silk_cdp *c, const char *sid, const char *method, json_object *params,
                       silk_cdp_reply_fn cb, void *ud)
{
    session *s = sid ? find_session(c, sid) : NULL;
    json_object *msg = json_object_new_object();
    call *k = malloc(sizeof *k);
    uint64_t id = 0;
    if (!c->pid || (sid && !s) || !msg || !k)
        goto done;
    id = c->next_id + 1;
    msg = silk_json_set(msg, "id", json_object_new_int64((int64_t)id));
    msg = silk_json_set(msg, "method", json_object_new_string(method));
    if (params) {
        msg = silk_json_set(msg, "params", params);
        params = NULL;                /* msg has it, or set released it */
    }
    if (sid)
        msg = silk_json_set_str(msg, "sessionId", sid);
    size_t n;
    const char *text = msg ? json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE, &n)
                           : NULL;
    if (!text || queue(c, text, n) != 0) {
        id = 0;
        goto done;
    }
    c->next_id = id;
    *k = (call){ .id = id, .session = s, .gen = s ? s->gen : 0, .cb = cb, .ud = ud,
                 .next = c->buckets[id % NBUCKETS] };
    c->buckets[id % NBUCKETS] = k;
    k = NULL;
    c->st.pending++;
    c->st.sent++;
    if (!ev_is_active(&c->ww))
        flush(c);
done:
    free(k);
    json_object_put(msg);
    json_object_put(params);
    return id;
}

/* --- reading --------------------------------------------------------------- */

static void dispatch(silk_cdp *c, json_object *m)
{
    json_object *jid = silk_json_get(m, "id");
    const char *sid = silk_json_str(silk_json_get(m, "sessionId"));
    c->st.received++;
    if (json_object_is_type(jid, json_type_int)) {
        call *k = take_call(c, (uint64_t)json_object_get_int64(jid));
        if (!k || (k->session && k->gen != k->session->gen)) {
            c->st.dropped++;
            free(k);
            return;
        }
        json_object *err = silk_json_get(m, "error");
        if (err && k->cb) {
            const char *msg = silk_json_str(silk_json_get(err, "message"));
            k->cb(SILK_CDP_ERROR, err, msg ? msg : "protocol error", k->ud);
        } else if (k->cb) {
            k->cb(SILK_CDP_OK, silk_json_get(m, "result"), NULL, k->ud);
        }
        free(k);
        return;
    }
    const char *method = silk_json_str(silk_json_get(m, "method"));
    if (!method)
        return;
    json_object *params = silk_json_get(m, "params");
    if (sid) {
        session *s = find_session(c, sid);
        if (s && s->ev)
            s->ev(method, params, s->ud);
    } else if (c->browser_ev) {
        c->browser_ev(method, params, c->ud);
    }
}

/* One message, len bytes without its NUL: a JSON object, else NULL. */
static json_object *parse(silk_cdp *c, const char *text, size_t len)
{
    if (len > INT_MAX)                /* json-c takes an int */
        return NULL;
    json_tokener_reset(c->tok);
    json_object *m = json_tokener_parse_ex(c->tok, text, (int)len);
    if (json_tokener_get_error(c->tok) == json_tokener_success &&
        json_tokener_get_parse_end(c->tok) == len && json_object_is_type(m, json_type_object))
        return m;
    json_object_put(m);
    return NULL;
}

/* Reads what is there and dispatches every whole message. */
static void read_messages(silk_cdp *c)
{
    pid_t pid = c->pid;
    if (c->rcap - c->rlen < READ_CHUNK) {
        size_t cap = c->rcap ? c->rcap * 2 : 4 * READ_CHUNK;
        char *b = realloc(c->rbuf, cap);
        if (!b) {
            kill_browser(c, "out of memory reading the pipe");
            return;
        }
        c->rbuf = b;
        c->rcap = cap;
    }
    ssize_t n = read(c->rfd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        kill_browser(c, n == 0 ? "the browser closed its pipe" : strerror(errno));
        return;
    }
    size_t scan = c->rlen, start = 0;
    c->rlen += (size_t)n;
    /* Callbacks may end this browser (a crash seen through a reply): stop
     * as soon as c->pid is not the one we read for. */
    for (char *nul; c->pid == pid && (nul = memchr(c->rbuf + scan, 0, c->rlen - scan));) {
        size_t end = (size_t)(nul - c->rbuf);
        json_object *m = parse(c, c->rbuf + start, end - start);
        start = scan = end + 1;
        if (!m) {
            kill_browser(c, "the browser sent a message that is not a JSON object");
            return;
        }
        dispatch(c, m);
        json_object_put(m);
    }
    if (c->pid != pid)
        return;
    memmove(c->rbuf, c->rbuf + start, c->rlen - start);
    c->rlen -= start;
    if (c->rlen > c->o.max_message)
        kill_browser(c, "a message from the browser exceeded max_message");
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    silk_cdp *c = w->data;
    if (c->o.around)
        c->o.around(1, c->o.around_ud);
    read_messages(c);
    if (c->o.around)
        c->o.around(0, c->o.around_ud);
}

/* --- the process ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void remove_profile(silk_cdp *c)
{
    if (c->profile[0])
        nftw(c->profile, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    c->profile[0] = 0;
}

static void close_pipe(silk_cdp *c)
{
    if (c->o.weak && ev_is_active(&c->rw))
        ev_ref(c->loop);              /* give back the unref of start */
    ev_io_stop(c->loop, &c->rw);
    ev_io_stop(c->loop, &c->ww);
    if (c->rfd >= 0)
        close(c->rfd);
    if (c->wfd >= 0)
        close(c->wfd);
    c->rfd = c->wfd = -1;
    c->wlen = c->woff = c->rlen = 0;
}

/* Reaps pid, waiting at most `patience` seconds before killing its group.
 * libev's default loop reaps children too (its SIGCHLD watcher), so
 * ECHILD means the browser is already gone. */
static void reap(pid_t pid, double patience)
{
    for (double waited = 0;; waited += 0.01) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            break;
        if (waited >= patience) {
            killpg(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    }
    killpg(pid, SIGKILL);             /* renderers and helpers left in the group */
}

/* The browser is lost (or ended on purpose: crashed 0): end what is left
 * of it, fail everything pending, tell the owner. */
static void end_browser(silk_cdp *c, const char *why, int crashed)
{
    pid_t pid = c->pid;
    if (!pid)
        return;
    c->pid = 0;
    c->st.pid = 0;
    if (crashed)
        c->st.crashes++;
    killpg(pid, SIGKILL);
    close_pipe(c);
    reap(pid, 0);
    remove_profile(c);
    call *pending = take_calls(c, ALL);
    drop_sessions(c);
    char msg[160];
    snprintf(msg, sizeof msg, "browser %s: %s", crashed ? "crashed" : "ended", why);
    fail_calls(pending, crashed ? SILK_CDP_BROWSER_CRASHED : SILK_CDP_CLOSED, msg);
    if (c->browser_ev)
        c->browser_ev(SILK_CDP_EV_CRASHED, NULL, c->ud);
}

static void kill_browser(silk_cdp *c, const char *why)
{
    end_browser(c, why, 1);
}

void silk_cdp_kill(silk_cdp *c, const char *why)
{
    kill_browser(c, why);
}

void silk_cdp_stop(silk_cdp *c, const char *why)
{
    end_browser(c, why, 0);
}

/* kB of Pss in /proc/<pid>/smaps_rollup, 0 when it is gone or unreadable. */
static long pss_kb(const char *pid)
{
    char path[300], line[128];
    long kb = 0;
    snprintf(path, sizeof path, "/proc/%s/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The process group of pid, from /proc/<pid>/stat (after the command
 * name, which may hold spaces and parentheses: the last ')'), or -1. */
static long pgrp_of(const char *pid)
{
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    long ppid, pgrp;
    char state;
    if (!p || sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
        return -1;
    return pgrp;
}

long silk_cdp_pss(const silk_cdp *c)
{
    if (!c->pid)
        return 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    long kb = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || pgrp_of(e->d_name) != c->pid)
            continue;
        kb += pss_kb(e->d_name);
    }
    closedir(d);
    return kb * 1024;
}

static const char *const base_flags[] = {
    "--headless", "--remote-debugging-pipe",
    /* what puppeteer passes to keep a headless browser quiet and steady */
    "--disable-background-networking", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding",
    "--disable-extensions", "--disable-sync", "--disable-default-apps",
    "--disable-hang-monitor", "--disable-popup-blocking", "--disable-breakpad",
    "--disable-component-update", "--disable-client-side-phishing-detection",
    "--no-first-run", "--no-default-browser-check", "--mute-audio", "--disable-gpu",
    "--disable-dev-shm-usage", "--password-store=basic", "--use-mock-keychain",
    /* Chromium copies every console line to stderr otherwise */
    "--enable-logging=stderr", "--log-level=3",
    NULL,
};

/* The child side of fork: only async-signal-safe calls from here on. */
static void exec_browser(int cmd_r, int msg_w, char **argv)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* move both ends above 4 first so that the dup2s below cannot collide */
    int a = fcntl(cmd_r, F_DUPFD, 10), b = fcntl(msg_w, F_DUPFD, 10);
    if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
        _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
    }
    execv(argv[0], argv);
    _exit(127);
}

int silk_cdp_start(silk_cdp *c, char *err, size_t errsz)
{
    if (c->pid)
        return 0;
    int cmd[2] = { -1, -1 }, msg[2] = { -1, -1 }, rc = -1;
    char **argv = NULL, dirarg[96], limitarg[48];
    size_t nextra = 0;
    while (c->extra && c->extra[nextra])
        nextra++;
    snprintf(c->profile, sizeof c->profile, "/tmp/silk-chromium.XXXXXX");
    if (!mkdtemp(c->profile)) {
        c->profile[0] = 0;
        snprintf(err, errsz, "cannot create a profile directory: %s", strerror(errno));
        goto done;
    }
    argv = calloc(sizeof base_flags / sizeof *base_flags + nextra + 8, sizeof *argv);
    if (!argv || pipe2(cmd, O_CLOEXEC) != 0 || pipe2(msg, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "cannot start the browser: %s", strerror(errno ? errno : ENOMEM));
        goto done;
    }
    int n = 0;
    argv[n++] = c->binary;
    for (const char *const *f = base_flags; *f; f++)
        argv[n++] = (char *)*f;
    snprintf(dirarg, sizeof dirarg, "--user-data-dir=%s", c->profile);
    argv[n++] = dirarg;
    if (c->o.renderer_limit > 0) {
        snprintf(limitarg, sizeof limitarg, "--renderer-process-limit=%d", c->o.renderer_limit);
        argv[n++] = limitarg;
    }
    /* Chromium's sandbox refuses to run as root; as anyone else it works */
    if (geteuid() == 0)
        argv[n++] = "--no-sandbox";
    for (size_t i = 0; i < nextra; i++)
        argv[n++] = c->extra[i];
    argv[n++] = "about:blank";
    if (access(c->binary, X_OK) != 0) {
        snprintf(err, errsz, "cannot run %s: %s", c->binary, strerror(errno));
        goto done;
    }
    /* a write to a dead browser must be an error, not the end of silk */
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsz, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0)
        exec_browser(cmd[0], msg[1], argv);
    setpgid(pid, pid);                /* both sides, so killpg works at once */
    c->pid = pid;
    c->st.pid = pid;
    c->wfd = cmd[1];
    c->rfd = msg[0];
    cmd[1] = msg[0] = -1;
    fcntl(c->wfd, F_SETFL, O_NONBLOCK);
    fcntl(c->rfd, F_SETFL, O_NONBLOCK);
    ev_io_init(&c->rw, on_readable, c->rfd, EV_READ);
    ev_io_init(&c->ww, on_writable, c->wfd, EV_WRITE);
    c->rw.data = c->ww.data = c;
    ev_io_start(c->loop, &c->rw);
    if (c->o.weak)
        ev_unref(c->loop);
    if (c->started)
        c->st.restarts++;
    c->started = 1;
    rc = 0;
done:
    for (int i = 0; i < 2; i++) {
        if (cmd[i] >= 0)
            close(cmd[i]);
        if (msg[i] >= 0)
            close(msg[i]);
    }
    free(argv);
    if (rc != 0)
        remove_profile(c);
    return rc;
}

int silk_cdp_running(const silk_cdp *c)
{
    return c->pid != 0;
}

silk_cdp *silk_cdp_new(struct ev_loop *loop, const silk_cdp_options *o,
                       silk_cdp_event_fn browser_ev, void *ud)
{
    silk_cdp *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->o = *o;
    c->o.extra_args = NULL;
    if (!c->o.max_message)
        c->o.max_message = DEFAULT_MAX_MESSAGE;
    const char *bin = o->binary ? o->binary : getenv("SILK_CHROMIUM");
    c->binary = strdup(bin && *bin ? bin : DEFAULT_BINARY);
    size_t n = 0;
    while (o->extra_args && o->extra_args[n])
        n++;
    c->extra = calloc(n + 1, sizeof *c->extra);
    c->tok = json_tokener_new_ex(MAX_DEPTH);
    if (c->tok)
        json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT);
    int ok = c->binary && c->extra && c->tok;
    for (size_t i = 0; ok && i < n; i++)
        ok = (c->extra[i] = strdup(o->extra_args[i])) != NULL;
    c->browser_ev = browser_ev;
    c->ud = ud;
    c->rfd = c->wfd = -1;
    if (!ok) {
        silk_cdp_free(c);
        return NULL;
    }
    return c;
}

void silk_cdp_get_stats(const silk_cdp *c, silk_cdp_stats *st)
{
    *st = c->st;
}

void silk_cdp_free(silk_cdp *c)
{
    if (!c)
        return;
    if (c->pid) {
        pid_t pid = c->pid;
        c->pid = 0;
        close_pipe(c);                /* the browser exits when its pipe closes */
        reap(pid, 1.0);
        remove_profile(c);
    }
    call *pending = take_calls(c, ALL);
    drop_sessions(c);
    fail_calls(pending, SILK_CDP_CLOSED, "the browser was shut down");
    for (size_t i = 0; c->extra && c->extra[i]; i++)
        free(c->extra[i]);
    free(c->extra);
    free(c->binary);
    free(c->wbuf);
    free(c->rbuf);
    if (c->tok)
        json_tokener_free(c->tok);
    free(c);
}
