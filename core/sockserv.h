/*
 * sockserv.h -- a small stream-socket server on a libev loop: accept,
 * the list of connections, closing and reaping them. The console
 * (console.c, a UNIX socket) and the metrics endpoint (metrics.c, TCP) are
 * its two users; each keeps its protocol, its address rules and the bind.
 *
 * The owner binds and listens, then hands the socket to
 * silk_sockserv_start(). Each connection is the owner's record with a
 * silk_sock_conn embedded (found back with container_of); the owner's accept
 * hook makes the record, or refuses the connection. Closing a connection
 * (silk_sockserv_close_conn) stops its I/O and closes its fd at once, but
 * the record stays on the dead list until the server's check phase frees it:
 * a connection is often closed from inside its own watcher's callback, or
 * from a task serving it, and freeing there would pull the record from under
 * the caller (STYLE: never free inside your own callback).
 *
 * Loop references: a server never keeps a run alive. Every watcher it
 * starts (the listener, each connection's io, the check phase) is unref'd
 * while active; silk_sockserv_watch does the same for the owner's changes
 * of a connection's events.
 *
 * Ownership: the silk_sockserv is embedded in the owner's server record;
 * silk_sockserv_stop() closes and frees every connection and the listening
 * socket, and must run before that record is freed. All on the loop thread.
 */
#ifndef SILK_SOCKSERV_H
#define SILK_SOCKSERV_H

#include <sys/socket.h>

#include <ev.h>

typedef struct silk_sockserv silk_sockserv;

/* The part of a connection the server owns. The owner initialises io
 * (ev_io_init with its callback and fd) in its accept hook; the server
 * starts it for EV_READ once the connection is linked. */
typedef struct silk_sock_conn {
    silk_sockserv *srv;
    int fd;                            /* -1 once closed */
    ev_io io;                          /* unref'd while active */
    struct silk_sock_conn *next, *prev; /* srv->conns, or srv->dead once closed */
    unsigned closed : 1;
} silk_sock_conn;

typedef struct silk_sockserv_ops {
    /* A connection on fd from peer: returns the owner's new record (its
     * silk_sock_conn with io initialised), or NULL to refuse it (the server
     * closes fd; the hook may write a last message to it first). It may
     * close other connections to make room. */
    silk_sock_conn *(*accept)(silk_sockserv *s, int fd, const struct sockaddr_storage *peer,
                              socklen_t peerlen);
    /* c is being closed: its io is stopped and its fd closed; stop the
     * owner's own watchers and cancel its work. Must not free c. May be NULL. */
    void (*closed)(silk_sock_conn *c);
    /* Frees the record of a closed connection (from the check phase, or
     * silk_sockserv_stop). */
    void (*free)(silk_sock_conn *c);
    /* Runs in every check phase (one follows each close and each
     * silk_sockserv_wake) after the dead are freed: work to do outside the
     * callbacks and tasks that asked for it (starting pipelined requests).
     * May be NULL. */
    void (*phase)(silk_sockserv *s);
} silk_sockserv_ops;

struct silk_sockserv {
    struct ev_loop *loop;
    const silk_sockserv_ops *ops;
    int fd;                            /* the listening socket (ours once started) */
    ev_io accept_io;
    ev_check check;                    /* active only while there is work: reaping, a wake */
    silk_sock_conn *conns, *dead;
    int nconns;                        /* on conns */
};

/* Starts accepting on the listening socket fd (non-blocking; the server
 * closes it in silk_sockserv_stop). Does not call back before it returns. */
void silk_sockserv_start(silk_sockserv *s, struct ev_loop *loop, int fd,
                         const silk_sockserv_ops *ops);

/* Closes every connection (ops->closed), frees them all (ops->free), stops
 * the listener and closes its socket. Calls back synchronously. */
void silk_sockserv_stop(silk_sockserv *s);

/* Closes c: no more I/O (its fd is closed), ops->closed runs, and the record
 * is freed from the next check phase. A closed c is left as it is. */
void silk_sockserv_close_conn(silk_sock_conn *c);

/* Runs ops->phase from the next check phase. */
void silk_sockserv_wake(silk_sockserv *s);

/* Sets the events c's io waits for (0: none), keeping it unref'd. Nothing
 * on a closed connection. */
void silk_sockserv_watch(silk_sock_conn *c, int events);

#endif
