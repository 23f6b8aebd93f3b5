/*
 * console.c -- the console server on the engine's loop (its connections:
 * sockserv.c), its client connection, and the REPL entry points; see
 * console.h for the protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ev.h>
#include <lauxlib.h>

#include "console.h"
#include "sockserv.h"
#include "task.h"

#define CONSOLE_MAGIC 0xc0501e5au
#define HEADER_MAX 32                  /* "<kind> <length>\n" */
#define READ_CHUNK 16384
#define OUT_MAX ((size_t)64 << 20)     /* replies queued for a client that does not read */
#define REPLY_MAX ((size_t)256 << 20)  /* the largest reply a client accepts */
/* A frame begun must be whole within this: clients send each frame at once,
 * so one stuck half-way is broken or hostile, and must not keep its slot
 * (max_clients). An idle client, between frames, has no deadline: a person
 * at a REPL takes the time they take. */
#define FRAME_TIMEOUT 10.0

/* --- bounded byte buffers --------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

/* Appends n bytes; -1 (buffer unchanged) when it would exceed max or memory
 * runs out. */
static int buf_append(buf *b, const char *s, size_t n, size_t max)
{
    if (b->len + n > max)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static void buf_consume(buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int append_frame(buf *b, const char *kind, const char *s, size_t n, size_t max)
{
    char head[HEADER_MAX];
    int h = snprintf(head, sizeof head, "%s %zu\n", kind, n);
    if (b->len + (size_t)h + n > max)
        return -1;
    if (buf_append(b, head, (size_t)h, max) != 0)
        return -1;
    if (buf_append(b, s, n, max) != 0) {
        b->len -= (size_t)h;
        return -1;
    }
    return 0;
}

/* Parses the frame at the start of b. Returns 1 with its kind, payload
 * offset and length; 0 when incomplete; -1 when malformed or longer than max. */
static int frame_parse(const buf *b, size_t max, char kind[8], size_t *off, size_t *plen)
{
    if (b->len == 0)
        return 0;
    const char *nl = memchr(b->p, '\n', b->len < HEADER_MAX ? b->len : HEADER_MAX);
    if (!nl)
        return b->len < HEADER_MAX ? 0 : -1;
    size_t k = 0;
    const char *s = b->p;
    while (s < nl && *s != ' ' && k < 7)
        kind[k++] = *s++;
    kind[k] = '\0';
    if (k == 0 || s >= nl || *s != ' ')
        return -1;
    size_t n = 0;
    const char *d = s + 1;
    if (d == nl)
        return -1;
    for (; d < nl; d++) {
        if (*d < '0' || *d > '9' || n > max)
            return -1;
        n = n * 10 + (size_t)(*d - '0');
    }
    if (n > max)
        return -1;
    size_t hlen = (size_t)(nl - b->p) + 1;
    if (b->len < hlen + n)
        return 0;
    *off = hlen;
    *plen = n;
    return 1;
}

/* --- server records ------------------------------------------------------------ */

typedef struct client {
    silk_sock_conn conn;          /* fd, io (EV_READ always, EV_WRITE while out is not
                                   * empty), closed: on the dead list, waiting for the reaper */
    silk_console *srv;
    uint64_t id;                  /* unique in the process; the serve task names it */
    ev_timer frame;               /* FRAME_TIMEOUT, while in holds part of a frame */
    buf in, out;
    int env_ref;                  /* the client's global table */
    int eval_ref, serve_ref;      /* task handles of the request in flight, else LUA_NOREF */
    unsigned close_after_write : 1;
} client;

struct silk_console {
    unsigned magic;
    silk_engine *e;
    silk_console_options o;
    silk_sockserv ss;             /* listener, clients; its phase starts pipelined requests */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    int mod_ref;                  /* lua/silk/console.lua */
    silk_console *next;           /* every live server, for silk_console_reply */
};

static silk_console *servers;
static uint64_t next_client_id;

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define CLIENT(k) container_of(k, client, conn)

void silk_console_defaults(silk_console_options *o)
{
    o->timeout = 10.0;
    o->max_clients = 16;
    o->max_request = (size_t)1 << 20;
}

/* Cancels the task whose handle `*ref` anchors and drops the anchor. A task
 * that has finished is left as it is (silk_task_cancel is a no-op then). */
static void cancel_ref(lua_State *L, int *ref, const char *reason)
{
    if (*ref == LUA_NOREF)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
    silk_task *t = lua_touserdata(L, -1);
    if (t && reason)
        silk_task_cancel(t, reason);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    *ref = LUA_NOREF;
}

/* Arms (on) or disarms c's frame deadline; the timer is unref'd while
 * active, as every console watcher is. */
static void watch_frame(client *c, int on)
{
    struct ev_loop *loop = silk_engine_loop(c->srv->e);
    if (on == ev_is_active(&c->frame))
        return;
    if (on) {
        ev_timer_set(&c->frame, FRAME_TIMEOUT, 0);
        ev_timer_start(loop, &c->frame);
        ev_unref(loop);
    } else {
        ev_ref(loop);
        ev_timer_stop(loop, &c->frame);
    }
}

/* sockserv's closed hook: the client's work ends with its connection. */
static void client_closed(silk_sock_conn *k)
{
    client *c = CLIENT(k);
    lua_State *L = silk_engine_lua(c->srv->e);
    watch_frame(c, 0);
    cancel_ref(L, &c->eval_ref, "console client disconnected");
    cancel_ref(L, &c->serve_ref, "console client disconnected");
    luaL_unref(L, LUA_REGISTRYINDEX, c->env_ref);
    c->env_ref = LUA_NOREF;
}

/* Disconnects c: no more I/O, its request tasks are cancelled. The record
 * stays on the dead list until the check phase frees it (we may be inside
 * its own watcher's callback, or inside its serve task). */
static void client_close(client *c)
{
    silk_sockserv_close_conn(&c->conn);
}

static void client_free(silk_sock_conn *k)
{
    client *c = CLIENT(k);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void client_update_io(client *c)
{
    silk_sockserv_watch(&c->conn, EV_READ | (c->out.len ? EV_WRITE : 0));
}

static void client_send(client *c, const char *kind, const char *s, size_t n)
{
    if (append_frame(&c->out, kind, s, n, OUT_MAX) != 0) {
        client_close(c);                  /* it does not read its replies */
        return;
    }
    client_update_io(c);
}

/* Spawns the tasks of one request: `serve` first, so that it is joining by
 * the time `evaluate` (spawned second, under the deadline) can fail; it
 * finds the evaluation's handle in the box table both share, and replies
 * through silk_console_reply. Never called from inside a task (the tasks
 * would become its children). */
static void start_request(client *c, const char *chunk, size_t len)
{
    silk_console *s = c->srv;
    lua_State *L = silk_engine_lua(s->e);
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->mod_ref);
    int mod = lua_gettop(L);
    lua_createtable(L, 0, 1);
    int box = lua_gettop(L);
    lua_getfield(L, mod, "serve");
    lua_pushnumber(L, (lua_Number)c->id);
    lua_pushvalue(L, box);
    lua_pushnumber(L, s->o.timeout);
    silk_task_set_service(silk_task_spawn(s->e, L, 3, "console reply", 0));
    c->serve_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, mod, "evaluate");
    lua_pushlstring(L, chunk, len);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->env_ref);
    silk_task_set_service(silk_task_spawn(s->e, L, 2, "console", s->o.timeout));
    lua_pushvalue(L, -1);
    lua_setfield(L, box, "task");
    c->eval_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
}

/* Starts the next complete request of c if none is in flight. */
static void client_dispatch(client *c)
{
    if (c->conn.closed || c->eval_ref != LUA_NOREF || c->close_after_write)
        return;
    char kind[8];
    size_t off, n;
    int r = frame_parse(&c->in, c->srv->o.max_request, kind, &off, &n);
    if (r == 0)
        return;
    if (r < 0 || strcmp(kind, "eval") != 0) {
        static const char msg[] = "protocol error: expected \"eval <length>\\n<chunk>\" "
                                  "with a chunk within the size limit";
        c->in.len = 0;
        c->close_after_write = 1;
        client_send(c, "err", msg, sizeof msg - 1);
        return;
    }
    start_request(c, c->in.p + off, n);
    buf_consume(&c->in, off + n);
}

static void client_flush(client *c)
{
    while (c->out.len) {
        ssize_t w = send(c->conn.fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            client_close(c);
            return;
        }
        buf_consume(&c->out, (size_t)w);
    }
    if (!c->out.len && c->close_after_write) {
        client_close(c);
        return;
    }
    client_update_io(c);
}

static void on_client(struct ev_loop *loop, ev_io *w, int revents)
{
    client *c = CLIENT(container_of(w, silk_sock_conn, io));
    if (revents & EV_WRITE) {
        client_flush(c);
        if (c->conn.closed)
            return;
    }
    if (!(revents & EV_READ))
        return;
    /* Pipelined input is kept up to twice the largest request. */
    size_t max = 2 * (c->srv->o.max_request + HEADER_MAX);
    char tmp[READ_CHUNK];
    for (;;) {
        ssize_t r = recv(c->conn.fd, tmp, sizeof tmp, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            client_close(c);              /* gone: whatever it was running is cancelled */
            return;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (c->close_after_write)
            continue;                     /* discard: it is being dropped */
        if (buf_append(&c->in, tmp, (size_t)r, max) != 0) {
            static const char msg[] = "protocol error: request too large";
            c->in.len = 0;
            c->close_after_write = 1;
            client_send(c, "err", msg, sizeof msg - 1);
            return;
        }
    }
    client_dispatch(c);
    if (!c->conn.closed) {
        char kind[8];
        size_t off, n;
        watch_frame(c, c->in.len > 0 &&
                           frame_parse(&c->in, c->srv->o.max_request, kind, &off, &n) == 0);
    }
}

static void on_frame_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_ref(loop);                         /* libev stopped it: give back its unref */
    client_close(container_of(w, client, frame));
}

/* sockserv's phase hook: requests that arrived while one was in flight. */
static void on_phase(silk_sockserv *ss)
{
    for (silk_sock_conn *k = ss->conns; k; k = k->next)
        client_dispatch(CLIENT(k));
}

static int peer_is_owner(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == geteuid();
}

/* Creates the client's environment (console.lua new_env); -1 on error. */
static int new_env(silk_console *s)
{
    lua_State *L = silk_engine_lua(s->e);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->mod_ref);
    lua_getfield(L, -1, "new_env");
    lua_remove(L, -2);
    if (lua_pcall(L, 0, 1, 0) != 0 || !lua_istable(L, -1)) {
        fprintf(stderr, "silk: console: new_env: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* sockserv's accept hook: the socket owner's processes, up to max_clients. */
static silk_sock_conn *on_accept(silk_sockserv *ss, int fd, const struct sockaddr_storage *peer,
                                 socklen_t peerlen)
{
    silk_console *s = container_of(ss, silk_console, ss);
    static const char busy[] = "err 34\nconsole: too many clients attached";
    static const char denied[] = "err 44\nconsole: only the socket's owner may attach";
    if (!peer_is_owner(fd) || ss->nconns >= s->o.max_clients) {
        const char *m = ss->nconns >= s->o.max_clients ? busy : denied;
        ssize_t ignored = send(fd, m, strlen(m), MSG_NOSIGNAL);
        (void)ignored;
        return NULL;
    }
    client *c = calloc(1, sizeof *c);
    int env = c ? new_env(s) : -1;
    if (env < 0) {
        free(c);
        return NULL;
    }
    c->srv = s;
    c->id = ++next_client_id;
    c->env_ref = env;
    c->eval_ref = c->serve_ref = LUA_NOREF;
    ev_io_init(&c->conn.io, on_client, fd, EV_READ);
    ev_init(&c->frame, on_frame_timeout);
    return &c->conn;
}

static const silk_sockserv_ops console_ops = {
    .accept = on_accept,
    .closed = client_closed,
    .free = client_free,
    .phase = on_phase,
};

int silk_console_reply(uint64_t client_id, int ok, const char *text, size_t len)
{
    for (silk_console *s = servers; s; s = s->next)
        for (silk_sock_conn *k = s->ss.conns; k; k = k->next) {
            client *c = CLIENT(k);
            if (c->id != client_id)
                continue;
            lua_State *L = silk_engine_lua(s->e);
            cancel_ref(L, &c->eval_ref, NULL);
            cancel_ref(L, &c->serve_ref, NULL);
            client_send(c, ok ? "ok" : "err", text, len);
            if (!c->conn.closed && c->in.len)
                silk_sockserv_wake(&s->ss); /* the next request starts outside this task */
            return 0;
        }
    return -1;
}

int silk_console_clients(silk_console *c)
{
    return c ? c->ss.nconns : 0;
}

/* --- listening ------------------------------------------------------------------ */

/* 1 when something accepts connections on the socket at path. */
static int socket_in_use(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int stale = r != 0 && (errno == ECONNREFUSED || errno == ENOENT);
    close(fd);
    return !stale;
}

static int check_dir(const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "console: %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, errlen, "console: refusing %s: its directory %s is world-writable "
                 "without the sticky bit", path, dir);
        return -1;
    }
    return 0;
}

static int load_module(silk_console *s, char *err, size_t errlen)
{
    lua_State *L = silk_engine_lua(s->e);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "silk.console");
    if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        snprintf(err, errlen, "console: cannot load silk.console: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    s->mod_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

silk_console *silk_console_listen(silk_engine *e, const char *path,
                                  const silk_console_options *o, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    silk_console *s = NULL;
    int fd = -1;
    struct stat st;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (!path || !*path || strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "console: socket path empty or longer than %zu bytes",
                 sizeof sa.sun_path - 1);
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path));
    if (check_dir(path, err, errlen) != 0)
        goto fail;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "console: refusing %s: it exists and is not a socket", path);
            goto fail;
        }
        if (socket_in_use(&sa)) {
            snprintf(err, errlen, "console: refusing %s: a live socket (another console?)", path);
            goto fail;
        }
        if (unlink(path) != 0) {
            snprintf(err, errlen, "console: cannot remove the stale socket %s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "console: %s: %s", path, strerror(errno));
        goto fail;
    }

    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "console: out of memory");
        goto fail;
    }
    s->e = e;
    s->mod_ref = LUA_NOREF;
    silk_console_defaults(&s->o);
    if (o) {
        if (o->timeout > 0)
            s->o.timeout = o->timeout;
        if (o->max_clients > 0)
            s->o.max_clients = o->max_clients;
        if (o->max_request > 0)
            s->o.max_request = o->max_request;
    }
    if (load_module(s, err, errlen) != 0)
        goto fail;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "console: socket: %s", strerror(errno));
        goto fail;
    }
    /* The umask makes the socket 0600 from its creation; chmod says it again
     * for umask-ignoring filesystems. The loop thread is the only one that
     * creates files, so the process-wide umask change is not seen elsewhere. */
    mode_t old = umask(0177);
    int br = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (br != 0 || chmod(path, 0600) != 0 || listen(fd, 32) != 0 || stat(path, &st) != 0) {
        snprintf(err, errlen, "console: %s: %s", path, strerror(errno));
        if (br == 0)
            unlink(path);
        goto fail;
    }
    s->magic = CONSOLE_MAGIC;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    snprintf(s->path, sizeof s->path, "%s", path);
    silk_sockserv_start(&s->ss, silk_engine_loop(e), fd, &console_ops);
    s->next = servers;
    servers = s;
    return s;

fail:
    if (fd >= 0)
        close(fd);
    if (s && s->mod_ref != LUA_NOREF)
        luaL_unref(silk_engine_lua(e), LUA_REGISTRYINDEX, s->mod_ref);
    free(s);
    return NULL;
}

void silk_console_close(silk_console *s)
{
    if (!s || s->magic != CONSOLE_MAGIC)
        return;
    for (silk_console **p = &servers; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    /* Replies already made (a line cancelled because the run ended) go out
     * if the socket takes them now; nothing waits for a slow reader. */
    for (silk_sock_conn *k = s->ss.conns, *next; k; k = next) {
        next = k->next;
        client_flush(CLIENT(k));
    }
    silk_sockserv_stop(&s->ss);
    struct stat st;
    if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    luaL_unref(silk_engine_lua(s->e), LUA_REGISTRYINDEX, s->mod_ref);
    s->magic = 0;
    free(s);
}

/* --- the client connection ------------------------------------------------------ */

struct silk_console_conn {
    struct ev_loop *loop;
    int fd;
    ev_io io;                     /* active while replies are awaited or bytes wait to go */
    buf in, out;
    int pending;                  /* requests sent and not answered */
    silk_console_reply_fn fn;
    void *ud;
    unsigned in_callback : 1;
    unsigned closed : 1;          /* no more callbacks */
    unsigned free_asap : 1;       /* closed from inside the callback: freed on the way out */
};

static void conn_update(silk_console_conn *c)
{
    int events = c->closed ? 0 : (c->pending || c->out.len ? EV_READ : 0) | (c->out.len ? EV_WRITE : 0);
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    if (ev_is_active(&c->io))
        ev_io_stop(c->loop, &c->io);
    if (events) {
        ev_io_set(&c->io, c->fd, events);
        ev_io_start(c->loop, &c->io);
    }
}

/* The connection is over: one last callback with ok = -1. */
static void conn_end(silk_console_conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    conn_update(c);
    c->fn(c->ud, -1, NULL, 0);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    silk_console_conn *c = container_of(w, silk_console_conn, io);
    c->in_callback = 1;
    if (revents & EV_WRITE) {
        while (c->out.len) {
            ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0) {
                conn_end(c);
                goto out;
            }
            buf_consume(&c->out, (size_t)n);
        }
    }
    if (revents & EV_READ) {
        char tmp[READ_CHUNK];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_end(c);
            goto out;
        }
        if (n > 0 && buf_append(&c->in, tmp, (size_t)n, REPLY_MAX + HEADER_MAX) != 0) {
            conn_end(c);
            goto out;
        }
        char kind[8];
        size_t off, len;
        int r;
        while (!c->closed && (r = frame_parse(&c->in, REPLY_MAX, kind, &off, &len)) != 0) {
            if (r < 0) {
                conn_end(c);
                goto out;
            }
            if (c->pending > 0)
                c->pending--;
            c->fn(c->ud, strcmp(kind, "ok") == 0, c->in.p + off, len);
            if (!c->closed)
                buf_consume(&c->in, off + len);
        }
    }
out:
    c->in_callback = 0;
    if (c->free_asap) {
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
        return;
    }
    conn_update(c);
}

silk_console_conn *silk_console_connect(struct ev_loop *loop, const char *path,
                                        silk_console_reply_fn fn, void *ud,
                                        char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "console path too long: %s", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "no console at %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    silk_console_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->fd = fd;
    c->fn = fn;
    c->ud = ud;
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    return c;
}

int silk_console_conn_send(silk_console_conn *c, const char *chunk, size_t len)
{
    if (c->closed || append_frame(&c->out, "eval", chunk, len, OUT_MAX) != 0)
        return -1;
    c->pending++;
    if (!c->in_callback)
        conn_update(c);
    return 0;
}

void silk_console_conn_close(silk_console_conn *c)
{
    if (!c)
        return;
    c->closed = 1;
    if (ev_is_active(&c->io))
        ev_io_stop(c->loop, &c->io);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->in_callback) {
        c->free_asap = 1;
        return;
    }
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

/* --- REPL entry points ------------------------------------------------------------ */

static silk_outcome run_repl(silk_engine *e, const char *fn, const char *arg)
{
    lua_State *L = silk_engine_lua(e);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "silk.repl");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "silk: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return SILK_FAILED;
    }
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    if (arg)
        lua_pushstring(L, arg);
    else
        lua_pushnil(L);
    return silk_engine_run_main(e, 1, fn);
}

silk_outcome silk_console_client_run(silk_engine *e, const char *path)
{
    return run_repl(e, "client", path);
}

silk_outcome silk_shell_run(silk_engine *e, const char *url)
{
    return run_repl(e, "shell", url);
}
