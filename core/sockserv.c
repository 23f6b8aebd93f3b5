/*
 * sockserv.c -- accept, connection list, close and reap for the console and
 * metrics servers; see sockserv.h for the contract.
 */
#define _GNU_SOURCE    /* accept4 */
#include <stddef.h>
#include <unistd.h>
#include <sys/socket.h>

#include "sockserv.h"

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Starts, changes or stops w keeping it unref'd while active: the loop's
 * reference count sees no server watcher. */
static void watch_io(struct ev_loop *loop, ev_io *w, int events)
{
    if (ev_is_active(w)) {
        if ((w->events & (EV_READ | EV_WRITE)) == events)
            return;
        ev_ref(loop);
        ev_io_stop(loop, w);
    }
    if (!events)
        return;
    ev_io_set(w, w->fd, events);
    ev_io_start(loop, w);
    ev_unref(loop);
}

static void list_remove(silk_sock_conn **head, silk_sock_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void list_push(silk_sock_conn **head, silk_sock_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void free_dead(silk_sockserv *s)
{
    for (silk_sock_conn *c; (c = s->dead);) {
        list_remove(&s->dead, c);
        s->ops->free(c);
    }
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    silk_sockserv *s = container_of(w, silk_sockserv, check);
    free_dead(s);
    if (s->ops->phase)
        s->ops->phase(s);
    ev_ref(loop);
    ev_check_stop(loop, w);
}

void silk_sockserv_wake(silk_sockserv *s)
{
    if (!ev_is_active(&s->check)) {
        ev_check_start(s->loop, &s->check);
        ev_unref(s->loop);
    }
}

void silk_sockserv_watch(silk_sock_conn *c, int events)
{
    if (!c->closed)
        watch_io(c->srv->loop, &c->io, events);
}

void silk_sockserv_close_conn(silk_sock_conn *c)
{
    if (c->closed)
        return;
    silk_sockserv *s = c->srv;
    watch_io(s->loop, &c->io, 0);
    close(c->fd);
    c->fd = -1;
    c->closed = 1;
    if (s->ops->closed)
        s->ops->closed(c);
    list_remove(&s->conns, c);
    s->nconns--;
    list_push(&s->dead, c);
    silk_sockserv_wake(s);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    silk_sockserv *s = container_of(w, silk_sockserv, accept_io);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peerlen = sizeof peer;
        int fd = accept4(s->fd, (struct sockaddr *)&peer, &peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;                    /* EAGAIN, or out of fds: try on the next event */
        silk_sock_conn *c = s->ops->accept(s, fd, &peer, peerlen);
        if (!c) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->closed = 0;
        list_push(&s->conns, c);
        s->nconns++;
        watch_io(loop, &c->io, EV_READ);
    }
}

void silk_sockserv_start(silk_sockserv *s, struct ev_loop *loop, int fd,
                         const silk_sockserv_ops *ops)
{
    s->loop = loop;
    s->ops = ops;
    s->fd = fd;
    s->conns = s->dead = NULL;
    s->nconns = 0;
    ev_io_init(&s->accept_io, on_accept, fd, EV_READ);
    watch_io(loop, &s->accept_io, EV_READ);
    ev_check_init(&s->check, on_check);
}

void silk_sockserv_stop(silk_sockserv *s)
{
    while (s->conns)
        silk_sockserv_close_conn(s->conns);
    free_dead(s);
    if (ev_is_active(&s->check)) {
        ev_ref(s->loop);
        ev_check_stop(s->loop, &s->check);
    }
    watch_io(s->loop, &s->accept_io, 0);
    close(s->fd);
}
