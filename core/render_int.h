/*
 * render_int.h -- the records of the page pool, shared by its files:
 * render.c (leases and operations: the pool as callers see it),
 * render_browser.c (the browser processes and their contexts),
 * render_tab.c (a tab's life: open, events, close) and render_guard.c
 * (the requests a tab pauses: deny_private, block patterns, size caps).
 * Not a contract for anyone else: other modules use render.h.
 */
#ifndef SILK_RENDER_INT_H
#define SILK_RENDER_INT_H

#include "render.h"
#include "resolve.h"

#define ID_MAX 64

typedef enum tab_state { TAB_OPENING, TAB_IDLE, TAB_BUSY, TAB_CLOSING } tab_state;
typedef enum op_kind { OP_LEASE, OP_CALL, OP_WAIT } op_kind;

typedef struct render_browser render_browser;

/* An operation: on exactly one list at a time (the lease queue, its tab's
 * ops, or the ready list), or, for a lease whose tab is being opened, the
 * tab's opener. */
struct silk_tab_op {
    op_kind kind;
    silk_render *r;
    silk_tab *tab;
    uint64_t id;                      /* OP_CALL: the cdp call */
    char loader[ID_MAX], name[32];    /* OP_WAIT */
    char *ctx_name;                   /* OP_LEASE: the browser context wanted, NULL: default */
    silk_tab_fn cb;
    void *ud;
    silk_render_kind kind_done;       /* on the ready list: the outcome */
    char *message;
    silk_tab_op *next, *prev;
};

typedef struct op_list { silk_tab_op *head, *tail; } op_list;

/* A browser context: the cookies and storage of one crawl session in one
 * browser. Lives while a tab uses it or its creation is under way;
 * disposed (with what it stored) when neither holds, since the session's
 * cookie jar, not the context, is what lasts (render.lua copies it in and
 * out). */
typedef struct render_ctx {
    char *name;
    char id[ID_MAX];                  /* browserContextId, "" until created */
    int creating;                     /* Target.createBrowserContext sent, unanswered */
    int refs;                         /* tabs using it */
    render_browser *b;
    struct render_ctx *next;
} render_ctx;

/* One browser process and what lives in it. Tabs never move between
 * browsers: a tab's session, target and context are this browser's. */
struct render_browser {
    silk_render *r;
    int no;                           /* its index in r->browsers, from 0 */
    silk_cdp *cdp;
    render_ctx *ctxs;
    long busy;                        /* tabs leased or opened for a lease here */
    int draining;                     /* over memory_budget: no new tab here until busy is 0 */
    long budget_recycles;
    double pss;                       /* bytes, at the last measure */
};

struct silk_tab {
    silk_render *r;
    render_browser *b;                /* the browser it lives in */
    tab_state state;
    unsigned broken : 1;              /* close, do not pool, at release */
    unsigned crashed : 1;             /* its renderer crashed (counted once) */
    unsigned dead : 1;                /* its session is gone (browser crash, target destroyed) */
    unsigned requested : 1;           /* Target.createTarget sent (not waiting for its context) */
    render_ctx *ctx;                  /* its browser context, NULL: the default one */
    char target[ID_MAX], session[ID_MAX];
    int pages;                        /* leases served */
    double idle_since;
    silk_tab_op *opener;              /* OPENING: the lease waiting for it, or NULL */
    ev_timer close_w;                 /* CLOSING: close_timeout (weak: see tab_close) */
    op_list ops;                      /* calls and lifecycle waits in progress */
    char loader[ID_MAX];              /* main frame's current document */
    unsigned seen;                    /* lifecycle events of `loader` (bits of life_names) */
    char *settings;                   /* silk_tab_settings, or NULL */
    int deny_private;                 /* the guard (silk_tab_set_guard) */
    char **allow;
    int nallow;
    char **block;                     /* URL patterns failed before they go (* and ?) */
    int nblock;
    double max_size;                  /* refuse responses declaring more bytes; 0: no cap */
    json_object *response;                 /* the main document's response... */
    char response_loader[ID_MAX];     /* ... of this loader ("" until its document commits) */
    silk_tab *next, *prev;            /* r->tabs */
};

struct silk_render {
    struct ev_loop *loop;
    silk_render_hooks hooks;
    silk_render_config cfg;
    render_browser **browsers;        /* cfg.browsers of them */
    silk_tab *tabs;
    op_list queue;                    /* leases waiting for max_busy */
    op_list ready;                    /* completed, their callbacks due */
    ev_idle ready_w;
    ev_timer sweep_w;                 /* closes tabs idle past page_idle_timeout */
    ev_timer mem_w;                   /* measures PSS under a memory budget (weak) */
    long busy;                        /* leased or opened for a lease, every browser */
    long holds;                       /* operations in progress: the loop is ref'd while > 0 */
    silk_render_stats st;             /* the pool's counters (per-browser ones are summed) */
    silk_resolver *resolver;          /* the guard's names, made on first use */
};

/* render.c */
void silk_render_batch(silk_render *r, int begin);
void silk_render_complete_later(silk_tab_op *op, silk_render_kind kind, const char *message);
void silk_render_fail_ops(silk_tab *tab, silk_render_kind kind, const char *message);
void silk_render_pump(silk_render *r);
silk_render_kind silk_render_cdp_kind(silk_cdp_status st);
int silk_render_life_bit(const char *name);
void silk_render_op_unlink(op_list *l, silk_tab_op *op);

/* render_browser.c */
render_browser *silk_render_browser_new(silk_render *r, int no);
void silk_render_browser_free(render_browser *b);   /* its tabs must be gone or dead */
int silk_render_browser_up(const render_browser *b);
int silk_render_browser_ensure(render_browser *b, char *err, size_t errsz);
render_ctx *silk_render_ctx_get(render_browser *b, const char *name);
void silk_render_ctx_release(render_ctx *x);
render_browser *silk_render_browser_pick(silk_render *r, const char *ctx_name);
void silk_render_browser_drained(render_browser *b);
void silk_render_browser_measure(render_browser *b);
void silk_render_browser_check_budget(render_browser *b);

/* render_tab.c */
void silk_render_tab_open(render_browser *b, silk_tab_op *op);
void silk_render_tab_close(silk_tab *tab);
void silk_render_tab_free(silk_tab *tab);
void silk_render_tab_crashed(silk_tab *tab, silk_render_kind kind, const char *message);
silk_tab *silk_render_tab_of_target(render_browser *b, const char *target);
silk_tab *silk_render_tab_of_session(silk_render *r, const char *session);
void silk_render_tab_guard_free(silk_tab *tab);

/* render_guard.c */
void silk_render_request_paused(silk_tab *tab, json_object *params);

#endif
