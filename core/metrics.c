/*
 * metrics.c -- the metric registry, the engine's collector and the
 * registered ones, the exposition writer and the /metrics HTTP server (its
 * connections: sockserv.c); see metrics.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <ev.h>
#include <lauxlib.h>

#include "metrics.h"
#include "sockserv.h"
#include "task.h"
#include "track.h"

#define MAX_BUCKETS 32
#define REQ_MAX 8192                  /* one request's head */
#define CONN_MAX 64
#define PEER_MAX 16                   /* connections from one peer address */
/* One request's whole cycle, from the moment the connection waits for it
 * to the last byte of the answer. Not extended by partial reads: a client
 * sending a byte at a time (slowloris) or reading the answer that way gets
 * no more time than one that sends nothing. */
#define REQUEST_TIMEOUT 10.0

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* --- registry --------------------------------------------------------------- */

typedef struct series {
    struct series *next;
    char *labels;                 /* "" for none */
    double value;                 /* counter, gauge */
    double sum;                   /* histogram */
    double count;
    double *buckets;              /* histogram: nbounds counts (non-cumulative) */
} series;

typedef struct family {
    struct family *next;
    char *name;
    char *help;                   /* NULL: none */
    silk_metric_type type;
    int nbounds;
    double bounds[MAX_BUCKETS];
    series *series, *tail;        /* in creation order */
} family;

static family *families, *families_tail;

static const double default_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

static int valid_name(const char *n)
{
    if (!n || !*n)
        return 0;
    for (const char *p = n; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        if (!alpha && !(p > n && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

static family *find_family(const char *name)
{
    for (family *f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static family *get_family(const char *name, silk_metric_type type)
{
    family *f = find_family(name);
    if (f)
        return f->type == type ? f : NULL;
    if (!valid_name(name))
        return NULL;
    f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name))) {
        free(f);
        return NULL;
    }
    f->type = type;
    if (type == SILK_METRIC_HISTOGRAM) {
        f->nbounds = (int)(sizeof default_bounds / sizeof *default_bounds);
        memcpy(f->bounds, default_bounds, sizeof default_bounds);
    }
    if (families_tail)
        families_tail->next = f;
    else
        families = f;
    families_tail = f;
    return f;
}

static series *get_series(family *f, const char *labels)
{
    if (!labels)
        labels = "";
    for (series *s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    series *s = calloc(1, sizeof *s);
    if (!s || !(s->labels = strdup(labels)))
        goto fail;
    if (f->type == SILK_METRIC_HISTOGRAM && !(s->buckets = calloc((size_t)f->nbounds, sizeof *s->buckets)))
        goto fail;
    if (f->tail)
        f->tail->next = s;
    else
        f->series = s;
    f->tail = s;
    return s;
fail:
    if (s)
        free(s->labels);
    free(s);
    return NULL;
}

int silk_metrics_describe(const char *name, silk_metric_type type, const char *help,
                          const double *bounds, int nbounds)
{
    if (nbounds > MAX_BUCKETS || nbounds < 0)
        return -1;
    family *f = get_family(name, type);
    if (!f)
        return -1;
    if (help) {
        char *h = strdup(help);
        if (!h)
            return -1;
        free(f->help);
        f->help = h;
    }
    if (type == SILK_METRIC_HISTOGRAM && bounds && nbounds > 0 && !f->series) {
        for (int i = 1; i < nbounds; i++)
            if (!(bounds[i] > bounds[i - 1]))
                return -1;
        f->nbounds = nbounds;
        memcpy(f->bounds, bounds, (size_t)nbounds * sizeof *bounds);
    }
    return 0;
}

/* The family of name for add/set: an existing counter or gauge, or a new one
 * of type `dflt`. */
static family *scalar_family(const char *name, silk_metric_type dflt)
{
    family *f = find_family(name);
    if (f)
        return f->type == SILK_METRIC_HISTOGRAM ? NULL : f;
    return get_family(name, dflt);
}

int silk_metrics_add(const char *name, const char *labels, double v)
{
    family *f = scalar_family(name, SILK_METRIC_COUNTER);
    if (!f || (f->type == SILK_METRIC_COUNTER && !(v >= 0)))
        return -1;
    series *s = get_series(f, labels);
    if (!s)
        return -1;
    s->value += v;
    return 0;
}

int silk_metrics_set(const char *name, const char *labels, double v)
{
    family *f = scalar_family(name, SILK_METRIC_GAUGE);
    series *s = f ? get_series(f, labels) : NULL;
    if (!s)
        return -1;
    s->value = v;
    return 0;
}

int silk_metrics_observe(const char *name, const char *labels, double v)
{
    family *f = get_family(name, SILK_METRIC_HISTOGRAM);
    series *s = f ? get_series(f, labels) : NULL;
    if (!s || v != v)
        return -1;
    for (int i = 0; i < f->nbounds; i++)
        if (v <= f->bounds[i]) {
            s->buckets[i] += 1;
            break;
        }
    s->sum += v;
    s->count += 1;
    return 0;
}

double silk_metrics_get(const char *name, const char *labels)
{
    family *f = find_family(name);
    if (!f)
        return 0;
    for (series *s = f->series; s; s = s->next)
        if (strcmp(s->labels, labels ? labels : "") == 0)
            return f->type == SILK_METRIC_HISTOGRAM ? s->count : s->value;
    return 0;
}

void silk_metrics_reset(void)
{
    for (family *f; (f = families);) {
        families = f->next;
        for (series *s; (s = f->series);) {
            f->series = s->next;
            free(s->labels);
            free(s->buckets);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    families_tail = NULL;
}

/* --- exposition ------------------------------------------------------------------ */

typedef struct out {
    char *p;
    size_t len, cap;
    int failed;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

static const char *num(char *buf, size_t len, double v)
{
    if (v != v)
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else {
        snprintf(buf, len, "%.15g", v);   /* the shortest of these that reads back */
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
    }
    return buf;
}

static void put_help(out *o, const char *help)
{
    put(o, " ");
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            put(o, "\\\\");
        else if (*p == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *p);
    }
}

static const char *type_name(silk_metric_type t)
{
    return t == SILK_METRIC_COUNTER ? "counter" : t == SILK_METRIC_GAUGE ? "gauge" : "histogram";
}

char *silk_metrics_render(size_t *len)
{
    out o = {malloc(16384), 0, 16384, 0};
    if (!o.p)
        return NULL;
    o.p[0] = '\0';
    char a[64], b[64];
    for (family *f = families; f; f = f->next) {
        if (!f->series)
            continue;
        if (f->help) {
            put(&o, "# HELP %s", f->name);
            put_help(&o, f->help);
            put(&o, "\n");
        }
        put(&o, "# TYPE %s %s\n", f->name, type_name(f->type));
        for (series *s = f->series; s; s = s->next) {
            const char *l = s->labels;
            if (f->type != SILK_METRIC_HISTOGRAM) {
                put(&o, "%s%s%s%s %s\n", f->name, *l ? "{" : "", l, *l ? "}" : "", num(a, sizeof a, s->value));
                continue;
            }
            double cum = 0;
            for (int i = 0; i <= f->nbounds; i++) {
                cum += i < f->nbounds ? s->buckets[i] : 0;
                double le = i < f->nbounds ? f->bounds[i] : INFINITY;
                put(&o, "%s_bucket{%s%sle=\"%s\"} %s\n", f->name, l, *l ? "," : "",
                    num(a, sizeof a, le), num(b, sizeof b, i < f->nbounds ? cum : s->count));
            }
            put(&o, "%s_sum%s%s%s %s\n", f->name, *l ? "{" : "", l, *l ? "}" : "", num(a, sizeof a, s->sum));
            put(&o, "%s_count%s%s%s %s\n", f->name, *l ? "{" : "", l, *l ? "}" : "", num(a, sizeof a, s->count));
        }
    }
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}

/* --- the engine's own families ------------------------------------------------------ */

static void describe_engine_families(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    silk_metrics_describe("silk_tasks", SILK_METRIC_GAUGE, "Live tasks by state (and what waiting ones wait on).", NULL, 0);
    silk_metrics_describe("silk_tasks_created_total", SILK_METRIC_COUNTER, "Tasks spawned since start.", NULL, 0);
    silk_metrics_describe("silk_resources", SILK_METRIC_GAUGE, "Live C resources by kind.", NULL, 0);
    silk_metrics_describe("silk_resources_acquired_total", SILK_METRIC_COUNTER, "C resources acquired since start, by kind.", NULL, 0);
    silk_metrics_describe("silk_lua_heap_bytes", SILK_METRIC_GAUGE, "Bytes in the Lua heap.", NULL, 0);
    silk_metrics_describe("silk_loop_iterations_total", SILK_METRIC_COUNTER, "Event loop iterations.", NULL, 0);
    silk_metrics_describe("process_cpu_seconds_total", SILK_METRIC_COUNTER, "User and system CPU time.", NULL, 0);
    silk_metrics_describe("process_resident_memory_bytes", SILK_METRIC_GAUGE, "Resident set size.", NULL, 0);
    silk_metrics_describe("silk_metrics_scrapes_total", SILK_METRIC_COUNTER, "Expositions served.", NULL, 0);
    silk_metrics_describe("silk_metrics_render_seconds", SILK_METRIC_GAUGE, "Time the last exposition took to collect and render.", NULL, 0);
}

/* Label values here are C identifiers and fixed names: nothing to escape
 * beyond what the names hold (spaces are fine inside quotes). */
static void collect_engine(silk_engine *e)
{
    describe_engine_families();
    /* The task module keeps these counts at every state change: a scrape
     * walks no task records. */
    char labels[96];
    silk_metrics_set("silk_tasks", "state=\"runnable\"", (double)silk_task_count(e, SILK_TASK_RUNNABLE));
    silk_metrics_set("silk_tasks", "state=\"running\"", (double)silk_task_count(e, SILK_TASK_RUNNING));
    for (int r = SILK_WAIT_NONE + 1; r < SILK_WAIT_COUNT_; r++) {
        snprintf(labels, sizeof labels, "state=\"waiting\",on=\"%s\"", silk_wait_reason_name((silk_wait_reason)r));
        silk_metrics_set("silk_tasks", labels, (double)silk_task_count_waiting(e, (silk_wait_reason)r));
    }
    silk_metrics_set("silk_tasks_created_total", NULL, (double)silk_task_created(e));
    for (int k = 0; k < SILK_RES_COUNT_; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", silk_track_name((silk_res)k));
        silk_metrics_set("silk_resources", labels, (double)silk_track_live((silk_res)k));
        silk_metrics_set("silk_resources_acquired_total", labels, (double)silk_track_total((silk_res)k));
    }
    lua_State *L = silk_engine_lua(e);
    silk_metrics_set("silk_lua_heap_bytes", NULL, (double)lua_gc(L, LUA_GCCOUNT, 0) * 1024.0 + lua_gc(L, LUA_GCCOUNTB, 0));
    silk_metrics_set("silk_loop_iterations_total", NULL, (double)ev_iteration(silk_engine_loop(e)));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        silk_metrics_set("process_cpu_seconds_total", NULL,
                         (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6);
    FILE *f = fopen("/proc/self/statm", "r");
    long pages, rss;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) == 2)
            silk_metrics_set("process_resident_memory_bytes", NULL, (double)rss * (double)sysconf(_SC_PAGESIZE));
        fclose(f);
    }
}

/* --- collectors ------------------------------------------------------------------- */

typedef struct collector {
    struct collector *next;
    silk_metrics_collector_fn fn;
    void *ud;
} collector;

static collector *collectors;     /* in registration order */

int silk_metrics_collector_add(silk_metrics_collector_fn fn, void *ud)
{
    collector **p = &collectors;
    for (; *p; p = &(*p)->next)
        if ((*p)->fn == fn && (*p)->ud == ud)
            return 0;
    collector *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->fn = fn;
    c->ud = ud;
    *p = c;
    return 0;
}

void silk_metrics_collector_remove(silk_metrics_collector_fn fn, void *ud)
{
    for (collector **p = &collectors; *p; p = &(*p)->next)
        if ((*p)->fn == fn && (*p)->ud == ud) {
            collector *c = *p;
            *p = c->next;
            free(c);
            return;
        }
}

void silk_metrics_collect(silk_engine *e)
{
    lua_State *L = silk_engine_lua(e);
    int top = lua_gettop(L);
    /* loaded first: opening silk.metrics opens the bindings whose
     * collectors belong in every exposition */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "silk.metrics");
    int loaded = lua_pcall(L, 1, 1, 0) == 0;
    if (!loaded)
        fprintf(stderr, "silk: metrics: %s\n", lua_tostring(L, -1));
    collect_engine(e);
    for (collector *c = collectors; c; c = c->next)
        c->fn(c->ud);
    if (loaded) {
        lua_getfield(L, -1, "collect");
        if (lua_pcall(L, 0, 0, 0) != 0)
            fprintf(stderr, "silk: metrics: a collector failed: %s\n", lua_tostring(L, -1));
    }
    lua_settop(L, top);
}

/* --- HTTP server ------------------------------------------------------------------------ */

typedef struct hconn {
    silk_sock_conn conn;          /* fd, io, closed: on the dead list */
    silk_metrics_server *srv;
    ev_timer deadline;            /* REQUEST_TIMEOUT of the current request */
    double waiting_since;         /* when it began to wait for that request */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    char in[REQ_MAX];
    size_t inlen;
    out o;                        /* response bytes not yet written */
    size_t sent;
    unsigned keep_alive : 1;
    unsigned close_after : 1;     /* close once o is written */
} hconn;

struct silk_metrics_server {
    silk_engine *e;
    int port;
    silk_sockserv ss;             /* listener, connections */
};

#define HCONN(k) container_of(k, hconn, conn)

/* sockserv's closed hook. */
static void hconn_closed(silk_sock_conn *k)
{
    hconn *c = HCONN(k);
    struct ev_loop *loop = silk_engine_loop(c->srv->e);
    if (ev_is_active(&c->deadline)) {
        ev_ref(loop);
        ev_timer_stop(loop, &c->deadline);
    }
}

static void hconn_close(hconn *c)
{
    silk_sockserv_close_conn(&c->conn);
}

static void hconn_free(silk_sock_conn *k)
{
    hconn *c = HCONN(k);
    free(c->o.p);
    free(c);
}

static void respond(hconn *c, int status, const char *reason, const char *ctype,
                    const char *body, size_t len, const char *extra)
{
    put(&c->o, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
        status, reason, ctype, len, extra ? extra : "", c->keep_alive ? "" : "Connection: close\r\n");
    if (c->o.failed)
        return;
    size_t need = c->o.len + len;
    if (need > c->o.cap) {
        char *p = realloc(c->o.p, need);
        if (!p) {
            c->o.failed = 1;
            return;
        }
        c->o.p = p;
        c->o.cap = need;
    }
    memcpy(c->o.p + c->o.len, body, len);
    c->o.len += len;
    if (!c->keep_alive)
        c->close_after = 1;
}

static void respond_text(hconn *c, int status, const char *reason, const char *extra)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    respond(c, status, reason, "text/plain; charset=utf-8", body, (size_t)n, extra);
}

/* 1 when the request head has header `name` whose value contains `value`
 * (case-insensitive; "" matches any value). */
static int header_has(const char *head, size_t len, const char *name, const char *value)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', len);   /* skip the request line */
    while (p && p < head + len) {
        p++;
        const char *end = memchr(p, '\n', (size_t)(head + len - p));
        size_t ll = end ? (size_t)(end - p) : (size_t)(head + len - p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            char v[256];
            size_t vl = ll - nl - 1 < sizeof v - 1 ? ll - nl - 1 : sizeof v - 1;
            memcpy(v, p + nl + 1, vl);
            v[vl] = '\0';
            return strcasestr(v, value) != NULL;
        }
        p = end;
    }
    return 0;
}

/* Handles the complete requests in c->in; responses go to c->o. */
static void handle_requests(hconn *c)
{
    while (!c->close_after) {
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        size_t hlen = end ? (size_t)(end - c->in) + 4 : 0;
        if (!end) {
            if (c->inlen >= sizeof c->in) {
                c->keep_alive = 0;
                respond_text(c, 431, "Request Header Fields Too Large", NULL);
            }
            return;
        }
        char method[16], target[256], version[16];
        int ok = sscanf(c->in, "%15s %255s %15s", method, target, version) == 3 &&
                 strncmp(version, "HTTP/1.", 7) == 0;
        c->keep_alive = ok && version[7] == '1' && !header_has(c->in, hlen, "Connection", "close");
        if (ok && (header_has(c->in, hlen, "Content-Length", "") || header_has(c->in, hlen, "Transfer-Encoding", "")))
            ok = 0;                       /* no request bodies here */
        if (!ok) {
            c->keep_alive = 0;
            respond_text(c, 400, "Bad Request", NULL);
            return;
        }
        char *q = strchr(target, '?');
        if (q)
            *q = '\0';
        if (strcmp(method, "GET") != 0) {
            respond_text(c, 405, "Method Not Allowed", "Allow: GET\r\n");
        } else if (strcmp(target, "/metrics") != 0) {
            respond_text(c, 404, "Not Found", NULL);
        } else {
            silk_engine *e = c->srv->e;
            double t0 = silk_now();
            silk_metrics_add("silk_metrics_scrapes_total", NULL, 1);
            silk_metrics_collect(e);
            size_t len = 0;
            char *body = silk_metrics_render(&len);
            if (body)
                respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, NULL);
            else
                respond_text(c, 500, "Internal Server Error", NULL);
            free(body);
            silk_metrics_set("silk_metrics_render_seconds", NULL, silk_now() - t0);
        }
        memmove(c->in, c->in + hlen, c->inlen - hlen);
        c->inlen -= hlen;
    }
}

static void await_request(struct ev_loop *loop, hconn *c);

static void hconn_flush(hconn *c)
{
    while (c->sent < c->o.len) {
        ssize_t n = send(c->conn.fd, c->o.p + c->sent, c->o.len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            hconn_close(c);
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->o.len && c->sent == c->o.len) {
        /* answered: the next request gets its own REQUEST_TIMEOUT */
        c->o.len = c->sent = 0;
        if (c->close_after) {
            hconn_close(c);
            return;
        }
        await_request(silk_engine_loop(c->srv->e), c);
    }
    silk_sockserv_watch(&c->conn, EV_READ | (c->o.len ? EV_WRITE : 0));
}

static void on_hconn(struct ev_loop *loop, ev_io *w, int revents)
{
    hconn *c = HCONN(container_of(w, silk_sock_conn, io));
    if (revents & EV_READ) {
        for (;;) {
            if (c->inlen == sizeof c->in)
                break;
            ssize_t n = recv(c->conn.fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                hconn_close(c);
                return;
            }
            c->inlen += (size_t)n;
        }
        if (!c->close_after)
            handle_requests(c);
        if (c->o.failed) {
            hconn_close(c);
            return;
        }
    }
    hconn_flush(c);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    hconn_close(container_of(w, hconn, deadline));
}

/* The connection starts to wait for a request: its REQUEST_TIMEOUT starts. */
static void await_request(struct ev_loop *loop, hconn *c)
{
    c->waiting_since = ev_now(loop);
    ev_timer_again(loop, &c->deadline);
}

static int same_peer(const hconn *c, const struct sockaddr_storage *a, socklen_t alen)
{
    if (c->peer.ss_family != a->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)&c->peer)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)a)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&c->peer)->sin6_addr,
                      &((const struct sockaddr_in6 *)a)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return c->peerlen == alen && memcmp(&c->peer, a, alen) == 0;
}

/* Makes room for a newcomer from peer a: NULL when there is room already;
 * else the connection to close for it, the one of the crowded set (the
 * peer's own when the peer is at PEER_MAX, else all) that has waited
 * longest for a request; also NULL when every candidate is being answered
 * (the newcomer is refused then). *full says whether room is needed. */
static hconn *room_for(silk_metrics_server *s, const struct sockaddr_storage *a, socklen_t alen,
                       int *full)
{
    int from_peer = 0;
    for (silk_sock_conn *k = s->ss.conns; k; k = k->next)
        from_peer += same_peer(HCONN(k), a, alen);
    int peer_full = from_peer >= PEER_MAX;
    *full = peer_full || s->ss.nconns >= CONN_MAX;
    if (!*full)
        return NULL;
    hconn *oldest = NULL;
    for (silk_sock_conn *k = s->ss.conns; k; k = k->next) {
        hconn *c = HCONN(k);
        if (c->o.len == 0 && (!peer_full || same_peer(c, a, alen)) &&
            (!oldest || c->waiting_since < oldest->waiting_since))
            oldest = c;
    }
    return oldest;
}

/* sockserv's accept hook: room is made by closing the longest-waiting
 * idle connection (room_for); none to close refuses the newcomer. */
static silk_sock_conn *on_haccept(silk_sockserv *ss, int fd, const struct sockaddr_storage *peer,
                                  socklen_t peerlen)
{
    silk_metrics_server *s = container_of(ss, silk_metrics_server, ss);
    int full;
    hconn *victim = room_for(s, peer, peerlen, &full);
    if (victim)
        hconn_close(victim);
    hconn *c = !full || victim ? calloc(1, sizeof *c) : NULL;
    if (!c)
        return NULL;
    c->srv = s;
    c->peer = *peer;
    c->peerlen = peerlen;
    ev_io_init(&c->conn.io, on_hconn, fd, EV_READ);
    ev_init(&c->deadline, on_deadline);
    c->deadline.repeat = REQUEST_TIMEOUT;
    await_request(ss->loop, c);
    ev_unref(ss->loop);
    return &c->conn;
}

static const silk_sockserv_ops metrics_ops = {
    .accept = on_haccept,
    .closed = hconn_closed,
    .free = hconn_free,
};

/* Splits "HOST:PORT", ":PORT", "PORT", "[V6]:PORT" into host and port. */
static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(addr, ':');
    const char *h = "127.0.0.1";
    size_t hl = strlen(h);
    const char *p = addr;
    if (colon) {
        p = colon + 1;
        if (colon > addr) {
            h = addr;
            hl = (size_t)(colon - addr);
            if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
                h++;
                hl -= 2;
            }
        }
    }
    if (!*p || strspn(p, "0123456789") != strlen(p) || hl >= hlen || strlen(p) >= plen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, plen, "%s", p);
    return 0;
}

silk_metrics_server *silk_metrics_serve(silk_engine *e, const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints, *ai = NULL;
    silk_metrics_server *s = NULL;
    int fd = -1;
    if (!addr || split_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "metrics: bad address '%s' (HOST:PORT, :PORT or PORT)", addr ? addr : "");
        goto fail;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "metrics: %s: %s", host, gai_strerror(gr));
        goto fail;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "metrics: %s: %s", addr, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(err, errlen, "metrics: getsockname: %s", strerror(errno));
        goto fail;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "metrics: out of memory");
        goto fail;
    }
    s->e = e;
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    silk_sockserv_start(&s->ss, silk_engine_loop(e), fd, &metrics_ops);
    freeaddrinfo(ai);
    describe_engine_families();
    return s;
fail:
    if (fd >= 0)
        close(fd);
    if (ai)
        freeaddrinfo(ai);
    return NULL;
}

int silk_metrics_port(silk_metrics_server *s)
{
    return s ? s->port : 0;
}

void silk_metrics_close(silk_metrics_server *s)
{
    if (!s)
        return;
    silk_sockserv_stop(&s->ss);
    free(s);
}
