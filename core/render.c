/*
 * render.c -- the page pool on top of cdp.c; see render.h.
 */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine.h"
#include "fetch.h"
#include "render.h"
#include "resolve.h"
#include "task.h"
#include "url.h"

#define ID_MAX 64

typedef enum tab_state { TAB_OPENING, TAB_IDLE, TAB_BUSY, TAB_CLOSING } tab_state;
typedef enum op_kind { OP_LEASE, OP_CALL, OP_WAIT } op_kind;

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

/* A browser context: the cookies and storage of one crawl session. Lives
 * while a tab uses it or its creation is under way; disposed (with what it
 * stored) when neither holds, since the session's cookie jar, not the
 * context, is what lasts (render.lua copies it in and out). */
typedef struct render_ctx {
    char *name;
    char id[ID_MAX];                  /* browserContextId, "" until created */
    int creating;                     /* Target.createBrowserContext sent, unanswered */
    int refs;                         /* tabs using it */
    struct silk_render *r;
    struct render_ctx *next;
} render_ctx;

struct silk_tab {
    silk_render *r;
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
    json_t *response;                 /* the main document's response... */
    char response_loader[ID_MAX];     /* ... of this loader ("" until its document commits) */
    silk_tab *next, *prev;            /* r->tabs */
};

struct silk_render {
    silk_engine *e;
    struct ev_loop *loop;
    silk_cdp *cdp;
    silk_render_config cfg;
    silk_tab *tabs;
    render_ctx *ctxs;
    op_list queue;                    /* leases waiting for max_busy */
    op_list ready;                    /* completed, their callbacks due */
    ev_idle ready_w;
    ev_timer sweep_w;                 /* closes tabs idle past page_idle_timeout */
    ev_timer mem_w;                   /* measures PSS under a memory budget (weak) */
    long busy;                        /* leased or opened for a lease */
    long holds;                       /* operations in progress: the loop is ref'd while > 0 */
    silk_render_stats st;
    silk_resolver *resolver;          /* the guard's names, made on first use */
    silk_render *next_state;
};

static silk_render *states;           /* one per engine, like fetch states */

static const char *const kind_names[SILK_RENDER_KIND_COUNT_] = {
    [SILK_RENDER_OK] = "ok",
    [SILK_RENDER_PROTOCOL] = "protocol",
    [SILK_RENDER_CRASHED] = "render_crashed",
    [SILK_RENDER_BROWSER_CRASHED] = "browser_crashed",
    [SILK_RENDER_BROWSER] = "browser",
    [SILK_RENDER_CLOSED] = "closed",
};

const char *silk_render_kind_name(silk_render_kind k)
{
    return k >= 0 && k < SILK_RENDER_KIND_COUNT_ ? kind_names[k] : "?";
}

/* Lifecycle events a wait can name; a bit each in tab->seen. */
static const char *const life_names[] = {
    "init", "DOMContentLoaded", "load", "networkAlmostIdle", "networkIdle",
    "firstContentfulPaint", "firstMeaningfulPaint", NULL,
};

static int life_bit(const char *name)
{
    for (int i = 0; life_names[i]; i++)
        if (strcmp(life_names[i], name) == 0)
            return i;
    return -1;
}

/* --- lists and the loop's reference ----------------------------------------- */

static void op_push(op_list *l, silk_tab_op *op)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
}

static void op_unlink(op_list *l, silk_tab_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->next = op->prev = NULL;
}

/* While operations are in progress the loop must not end for want of
 * active watchers (the pipe's is weak: see cdp.h). */
static void hold(silk_render *r, int d)
{
    if (d > 0 && r->holds++ == 0)
        ev_ref(r->loop);
    else if (d < 0 && --r->holds == 0)
        ev_unref(r->loop);
}

static silk_tab_op *op_new(silk_render *r, op_kind kind, silk_tab *tab, silk_tab_fn cb, void *ud)
{
    silk_tab_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->kind = kind;
    op->r = r;
    op->tab = tab;
    op->cb = cb;
    op->ud = ud;
    hold(r, 1);
    return op;
}

static void op_free(silk_tab_op *op)
{
    hold(op->r, -1);
    free(op->ctx_name);
    free(op->message);
    free(op);
}

/* Queues op's completion for the ready watcher: callbacks never run inside
 * the function that started the operation, nor inside cdp's dispatch of a
 * message that also changes the pool. op must be on no list. */
static void complete_later(silk_tab_op *op, silk_render_kind kind, const char *message)
{
    silk_render *r = op->r;
    op->kind_done = kind;
    op->message = message ? strdup(message) : NULL;
    op_push(&r->ready, op);
    if (!ev_is_active(&r->ready_w))
        ev_idle_start(r->loop, &r->ready_w);
}

static void on_ready_w(struct ev_loop *loop, ev_idle *w, int revents)
{
    silk_render *r = w->data;
    ev_idle_stop(loop, w);
    silk_task_batch_begin(r->e);
    while (r->ready.head) {
        silk_tab_op *op = r->ready.head;
        op_unlink(&r->ready, op);
        op->cb(op->kind_done, NULL, op->message ? op->message : kind_names[op->kind_done], op->ud);
        op_free(op);
    }
    silk_task_batch_end(r->e);
}

/* Fails every operation of tab now (a crash, the browser's end). */
static void fail_ops(silk_tab *tab, silk_render_kind kind, const char *message)
{
    silk_render *r = tab->r;
    while (tab->ops.head) {
        silk_tab_op *op = tab->ops.head;
        op_unlink(&tab->ops, op);
        if (op->kind == OP_CALL)
            silk_cdp_forget(r->cdp, op->id);
        complete_later(op, kind, message);
    }
}

/* --- browser contexts ---------------------------------------------------------- */

static int browser_up(const silk_render *r)
{
    return r->cdp && silk_cdp_running(r->cdp);
}

static int same_ctx(const render_ctx *x, const char *name)
{
    return x ? name && strcmp(x->name, name) == 0 : !name;
}

/* The context record of name, made if new (not yet created in the
 * browser); NULL on ENOMEM. */
static render_ctx *ctx_get(silk_render *r, const char *name)
{
    for (render_ctx *x = r->ctxs; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    render_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->name = strdup(name))) {
        free(x);
        return NULL;
    }
    x->r = r;
    x->next = r->ctxs;
    r->ctxs = x;
    return x;
}

/* Disposes of x once no tab uses it and no creation is under way. */
static void ctx_release(silk_render *r, render_ctx *x)
{
    if (x->refs > 0 || x->creating)
        return;
    if (x->id[0] && browser_up(r))
        silk_cdp_call(r->cdp, NULL, "Target.disposeBrowserContext",
                      json_pack("{s:s}", "browserContextId", x->id), NULL, NULL);
    for (render_ctx **p = &r->ctxs; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    free(x->name);
    free(x);
}

/* --- tabs ------------------------------------------------------------------- */

static int set_list(char ***dst, int *ndst, const char *const *src, int n)
{
    char **copy = n > 0 ? calloc((size_t)n, sizeof *copy) : NULL;
    if (n > 0 && !copy)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!(copy[i] = strdup(src[i]))) {
            while (i-- > 0)
                free(copy[i]);
            free(copy);
            return -1;
        }
    }
    for (int i = 0; i < *ndst; i++)
        free((*dst)[i]);
    free(*dst);
    *dst = copy;
    *ndst = n;
    return 0;
}

int silk_tab_set_guard(silk_tab *tab, int deny_private, const char *const *allow, int nallow,
                       const char *const *block, int nblock)
{
    char **a = NULL, **b = NULL;
    int na = 0, nb = 0;
    if (set_list(&a, &na, allow, nallow) != 0 || set_list(&b, &nb, block, nblock) != 0) {
        set_list(&a, &na, NULL, 0);
        return -1;
    }
    set_list(&tab->allow, &tab->nallow, NULL, 0);
    set_list(&tab->block, &tab->nblock, NULL, 0);
    tab->allow = a;
    tab->nallow = na;
    tab->block = b;
    tab->nblock = nb;
    tab->deny_private = deny_private;
    return 0;
}

static void stop_close_w(silk_tab *tab)
{
    if (ev_is_active(&tab->close_w)) {
        ev_ref(tab->r->loop);
        ev_timer_stop(tab->r->loop, &tab->close_w);
    }
}

static void tab_free(silk_tab *tab)
{
    silk_render *r = tab->r;
    stop_close_w(tab);
    fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (tab->opener) {
        tab->opener->tab = NULL;
        complete_later(tab->opener, SILK_RENDER_CLOSED, "the page was closed");
        tab->opener = NULL;
    }
    if (tab->session[0] && !tab->dead)
        silk_cdp_session_remove(r->cdp, tab->session);
    if (tab->next)
        tab->next->prev = tab->prev;
    if (tab->prev)
        tab->prev->next = tab->next;
    else
        r->tabs = tab->next;
    json_decref(tab->response);
    free(tab->settings);
    set_list(&tab->allow, &tab->nallow, NULL, 0);
    set_list(&tab->block, &tab->nblock, NULL, 0);
    r->st.closed++;
    if (tab->ctx) {
        tab->ctx->refs--;
        ctx_release(r, tab->ctx);
    }
    free(tab);
}

static void on_closed(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    tab_free(ud);
}

/* closeTarget went unanswered: the browser process is wedged (see
 * render.h); ending it completes the close (on_closed) with the rest. */
static void on_close_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_tab *tab = w->data;
    silk_render *r = tab->r;
    char why[96];
    ev_ref(loop);                     /* the timer ended: its weak reference goes */
    r->st.close_timeouts++;
    snprintf(why, sizeof why, "Target.closeTarget unanswered for %gs", r->cfg.close_timeout);
    silk_cdp_kill(r->cdp, why);
}

/* Closes a tab that is not leased (or whose lease just ended). */
static void tab_close(silk_tab *tab)
{
    silk_render *r = tab->r;
    fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (tab->session[0] && !tab->dead) {
        silk_cdp_session_remove(r->cdp, tab->session);
        tab->dead = 1;
    }
    if (tab->target[0] && browser_up(r)) {
        tab->state = TAB_CLOSING;
        if (silk_cdp_call(r->cdp, NULL, "Target.closeTarget",
                          json_pack("{s:s}", "targetId", tab->target), on_closed, tab)) {
            /* weak: a run that ends meanwhile does not wait for it */
            ev_timer_init(&tab->close_w, on_close_timeout, r->cfg.close_timeout, 0);
            tab->close_w.data = tab;
            ev_timer_start(r->loop, &tab->close_w);
            ev_unref(r->loop);
            return;
        }
    }
    tab_free(tab);
}

static void tab_crashed(silk_tab *tab, silk_render_kind kind, const char *message)
{
    silk_render *r = tab->r;
    tab->broken = 1;
    if (kind == SILK_RENDER_CRASHED && !tab->crashed) {
        tab->crashed = 1;
        r->st.renderer_crashes++;
    }
    /* commands pending on a crashed renderer are never answered */
    if (!tab->dead)
        silk_cdp_session_fail(r->cdp, tab->session, SILK_CDP_TARGET_CRASHED, message);
    fail_ops(tab, kind, message);
    if (tab->state == TAB_IDLE)
        tab_close(tab);
}

static void lifecycle(silk_tab *tab, json_t *p)
{
    const char *frame = json_string_value(json_object_get(p, "frameId"));
    const char *loader = json_string_value(json_object_get(p, "loaderId"));
    const char *name = json_string_value(json_object_get(p, "name"));
    if (!frame || !loader || !name || strcmp(frame, tab->target) != 0)
        return;                       /* the main frame's id is its target's */
    if (strcmp(name, "init") == 0) {
        snprintf(tab->loader, sizeof tab->loader, "%s", loader);
        tab->seen = 0;
        /* the response came before its document committed: it is this one's */
        if (tab->response && !tab->response_loader[0])
            snprintf(tab->response_loader, sizeof tab->response_loader, "%s", loader);
    }
    int bit = life_bit(name);
    if (bit < 0 || strcmp(loader, tab->loader) != 0)
        return;
    tab->seen |= 1u << bit;
    for (silk_tab_op *op = tab->ops.head, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_WAIT && strcmp(op->loader, tab->loader) == 0 &&
            (tab->seen & (1u << life_bit(op->name)))) {
            op_unlink(&tab->ops, op);
            complete_later(op, SILK_RENDER_OK, NULL);
        }
    }
}

typedef enum guard_verdict { GUARD_DENY, GUARD_PASS, GUARD_RESOLVE } guard_verdict;

/* What the guard does with url: pass it, deny it, or resolve its host
 * (copied to name) first. */
static guard_verdict allowed(const silk_tab *tab, const char *url, char *name, size_t namesz)
{
    if (strncmp(url, "data:", 5) == 0 || strncmp(url, "blob:", 5) == 0)
        return GUARD_PASS;
    struct silk_url_parts u;
    if (silk_url_parse(url, &u) != 0)
        return GUARD_DENY;            /* file:, ftp:, ... and what does not parse */
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", u.host, u.port);
    guard_verdict ok = GUARD_PASS;
    for (int i = 0; i < tab->nallow; i++)
        if (strcasecmp(tab->allow[i], hostport) == 0)
            goto done;
    size_t hl = strlen(u.host);
    if (strcmp(u.host, "localhost") == 0 || (hl > 10 && strcmp(u.host + hl - 10, ".localhost") == 0)) {
        ok = GUARD_DENY;
        goto done;
    }
    struct sockaddr_in a4 = { .sin_family = AF_INET };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    char bare[64];
    snprintf(bare, sizeof bare, "%.*s", hl > 2 && u.host[0] == '[' ? (int)hl - 2 : (int)hl,
             u.host + (u.host[0] == '[' ? 1 : 0));
    if (inet_pton(AF_INET, bare, &a4.sin_addr) == 1) {
        ok = silk_fetch_addr_private((struct sockaddr *)&a4) ? GUARD_DENY : GUARD_PASS;
    } else if (inet_pton(AF_INET6, bare, &a6.sin6_addr) == 1) {
        ok = silk_fetch_addr_private((struct sockaddr *)&a6) ? GUARD_DENY : GUARD_PASS;
    } else {
        ok = GUARD_RESOLVE;
        snprintf(name, namesz, "%s", u.host);
    }
done:
    silk_url_parts_free(&u);
    return ok;
}

/* A paused request whose host is being resolved. Only ids are kept: the
 * tab may be gone by the answer. */
typedef struct paused {
    silk_render *r;
    char session[ID_MAX];
    char *request;
} paused;

static silk_tab *find_session_tab(silk_render *r, const char *session)
{
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (!t->dead && strcmp(t->session, session) == 0)
            return t;
    return NULL;
}

static void finish_paused(silk_render *r, const char *session, const char *id, silk_resolve_verdict v)
{
    if (v == SILK_RESOLVE_PUBLIC) {
        silk_cdp_call(r->cdp, session, "Fetch.continueRequest", json_pack("{s:s}", "requestId", id),
                      NULL, NULL);
        return;
    }
    if (v == SILK_RESOLVE_PRIVATE)
        r->st.blocked++;
    silk_cdp_call(r->cdp, session, "Fetch.failRequest",
                  json_pack("{s:s,s:s}", "requestId", id, "errorReason",
                            v == SILK_RESOLVE_PRIVATE ? "BlockedByClient" : "NameNotResolved"),
                  NULL, NULL);
}

static void on_resolved(silk_resolve_verdict v, void *ud)
{
    paused *p = ud;
    if (v != SILK_RESOLVE_CANCELLED && find_session_tab(p->r, p->session) && browser_up(p->r))
        finish_paused(p->r, p->session, p->request, v);
    free(p->request);
    free(p);
}

/* A document's response paused at the response stage (the pattern every
 * tab has, see on_attached): the main frame's is kept as
 * {status, headers = {name: value}, url} for silk_tab_response; the
 * request goes on either way. */
static void document_response(silk_tab *tab, const char *id, json_t *p)
{
    silk_render *r = tab->r;
    const char *frame = json_string_value(json_object_get(p, "frameId"));
    json_t *status = json_object_get(p, "responseStatusCode");
    if (frame && strcmp(frame, tab->target) == 0 && json_is_integer(status)) {
        json_t *headers = json_object(), *h;
        size_t i;
        json_array_foreach(json_object_get(p, "responseHeaders"), i, h) {
            const char *k = json_string_value(json_object_get(h, "name"));
            json_t *v = json_object_get(h, "value");
            if (k && json_is_string(v))
                json_object_set(headers, k, v);  /* the browser joins repeats with \n */
        }
        json_decref(tab->response);
        tab->response = json_pack("{s:O,s:o,s:O}", "status", status, "headers", headers,
                                  "url", json_object_get(json_object_get(p, "request"), "url"));
        tab->response_loader[0] = 0;
    }
    silk_cdp_call(r->cdp, tab->session, "Fetch.continueRequest", json_pack("{s:s}", "requestId", id),
                  NULL, NULL);
}

static void request_paused(silk_tab *tab, json_t *p)
{
    silk_render *r = tab->r;
    const char *id = json_string_value(json_object_get(p, "requestId"));
    const char *url = json_string_value(json_object_get(json_object_get(p, "request"), "url"));
    if (id && (json_object_get(p, "responseStatusCode") || json_object_get(p, "responseErrorReason"))) {
        document_response(tab, id, p);
        return;
    }
    for (int i = 0; id && url && i < tab->nblock; i++) {
        if (fnmatch(tab->block[i], url, 0) == 0) {
            r->st.filtered++;
            silk_cdp_call(r->cdp, tab->session, "Fetch.failRequest",
                          json_pack("{s:s,s:s}", "requestId", id, "errorReason", "BlockedByClient"),
                          NULL, NULL);
            return;
        }
    }
    char name[256];
    if (!id)
        return;
    guard_verdict g = !tab->deny_private ? GUARD_PASS : url ? allowed(tab, url, name, sizeof name) : GUARD_DENY;
    if (g == GUARD_RESOLVE) {
        paused *w = calloc(1, sizeof *w);
        if (!r->resolver)
            r->resolver = silk_resolver_new(r->loop);
        if (w && r->resolver && (w->request = strdup(id))) {
            w->r = r;
            snprintf(w->session, sizeof w->session, "%s", tab->session);
            if (silk_resolve(r->resolver, name, on_resolved, w) == 0)
                return;
        }
        if (w)
            free(w->request);
        free(w);
        g = GUARD_DENY;               /* out of memory: refuse rather than pass unchecked */
    }
    finish_paused(r, tab->session, id, g == GUARD_PASS ? SILK_RESOLVE_PUBLIC : SILK_RESOLVE_PRIVATE);
}

static void on_tab_event(const char *method, json_t *p, void *ud)
{
    silk_tab *tab = ud;
    if (strcmp(method, "Fetch.requestPaused") == 0) {
        request_paused(tab, p);
    } else if (strcmp(method, "Page.lifecycleEvent") == 0) {
        lifecycle(tab, p);
    } else if (strcmp(method, "Inspector.targetCrashed") == 0) {
        tab_crashed(tab, SILK_RENDER_CRASHED, "the page's renderer crashed");
    }
}

static silk_tab *find_target(silk_render *r, const char *target)
{
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (target && strcmp(t->target, target) == 0)
            return t;
    return NULL;
}

static void lease_start(silk_render *r, silk_tab_op *op);
static void pump(silk_render *r);

static void on_browser_event(const char *method, json_t *p, void *ud)
{
    silk_render *r = ud;
    if (strcmp(method, SILK_CDP_EV_CRASHED) == 0) {
        /* every call already failed; the contexts went with the browser
         * (made again on next use); now the tabs: leased ones stay until
         * their handles release them, the rest go */
        for (render_ctx *x = r->ctxs; x; x = x->next)
            x->id[0] = 0;
        for (silk_tab *t = r->tabs, *next; t; t = next) {
            next = t->next;
            t->dead = 1;
            t->broken = 1;
            fail_ops(t, SILK_RENDER_BROWSER_CRASHED, "the browser crashed");
            if (t->state != TAB_BUSY && t->state != TAB_OPENING)
                tab_free(t);
        }
        return;
    }
    const char *target = json_string_value(json_object_get(p, "targetId"));
    silk_tab *tab = find_target(r, target);
    if (!tab)
        return;
    if (strcmp(method, "Target.targetCrashed") == 0) {
        tab_crashed(tab, SILK_RENDER_CRASHED, "the page's renderer crashed");
    } else if (strcmp(method, "Target.targetDestroyed") == 0 && tab->state != TAB_CLOSING) {
        tab->broken = 1;
        fail_ops(tab, SILK_RENDER_CLOSED, "the page's target was destroyed");
        if (tab->state == TAB_IDLE)
            tab_close(tab);
    }
}

/* --- opening a tab ---------------------------------------------------------- */

/* The opener gets the tab, or the failure; a tab nobody waits for any more
 * goes to the pool. */
static void opened(silk_tab *tab, silk_render_kind kind, const char *message)
{
    silk_render *r = tab->r;
    silk_tab_op *op = tab->opener;
    tab->opener = NULL;
    if (kind == SILK_RENDER_OK) {
        r->st.created++;
        tab->state = TAB_BUSY;
        if (op) {
            tab->pages++;
            r->st.leases++;
            complete_later(op, SILK_RENDER_OK, NULL);
        } else {
            silk_tab_release(tab, 0);
        }
        return;
    }
    r->busy--;
    if (op) {
        op->tab = NULL;
        complete_later(op, kind, message);
    }
    tab->broken = 1;
    tab_close(tab);
    pump(r);
}

static silk_render_kind cdp_kind(silk_cdp_status st)
{
    switch (st) {
    case SILK_CDP_OK: return SILK_RENDER_OK;
    case SILK_CDP_ERROR: return SILK_RENDER_PROTOCOL;
    case SILK_CDP_TARGET_CRASHED: return SILK_RENDER_CRASHED;
    case SILK_CDP_BROWSER_CRASHED: return SILK_RENDER_BROWSER_CRASHED;
    default: return SILK_RENDER_CLOSED;
    }
}

json_t *silk_render_fetch_patterns(int deny_private, const char *const *block, int nblock)
{
    json_t *a = json_pack("[{s:s,s:s,s:s}]", "urlPattern", "*", "resourceType", "Document",
                          "requestStage", "Response");
    if (a && deny_private)
        json_array_append_new(a, json_pack("{s:s,s:s}", "urlPattern", "*", "requestStage", "Request"));
    for (int i = 0; a && !deny_private && i < nblock; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "urlPattern", block[i], "requestStage", "Request"));
    return a;
}

static void on_enabled(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    opened(ud, cdp_kind(st), msg);
}

static void on_attached(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    silk_tab *tab = ud;
    silk_render *r = tab->r;
    const char *sid = json_string_value(json_object_get(res, "sessionId"));
    if (st != SILK_CDP_OK || !sid) {
        opened(tab, cdp_kind(st), msg ? msg : "no session");
        return;
    }
    snprintf(tab->session, sizeof tab->session, "%s", sid);
    if (silk_cdp_session_add(r->cdp, tab->session, on_tab_event, tab) != 0) {
        tab->session[0] = 0;
        opened(tab, SILK_RENDER_CLOSED, "out of memory");
        return;
    }
    /* The session's commands run in order: the last reply means all took.
     * The Network domain is not enabled: it streams half a dozen events
     * per subresource, most of the pipe's traffic, for the one response
     * silk needs, the main document's, which the Fetch pattern below
     * pauses at the response stage instead (document_response). */
    silk_cdp_call(r->cdp, tab->session, "Page.enable", NULL, NULL, NULL);
    silk_cdp_call(r->cdp, tab->session, "Page.setLifecycleEventsEnabled",
                  json_pack("{s:b}", "enabled", 1), NULL, NULL);
    if (!silk_cdp_call(r->cdp, tab->session, "Fetch.enable",
                       json_pack("{s:o}", "patterns", silk_render_fetch_patterns(0, NULL, 0)), on_enabled, tab))
        opened(tab, SILK_RENDER_CLOSED, "the browser is gone");
}

static void on_created(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    silk_tab *tab = ud;
    silk_render *r = tab->r;
    const char *target = json_string_value(json_object_get(res, "targetId"));
    if (st != SILK_CDP_OK || !target) {
        opened(tab, cdp_kind(st), msg ? msg : "no target");
        return;
    }
    snprintf(tab->target, sizeof tab->target, "%s", target);
    if (!silk_cdp_call(r->cdp, NULL, "Target.attachToTarget",
                       json_pack("{s:s,s:b}", "targetId", target, "flatten", 1), on_attached, tab))
        opened(tab, SILK_RENDER_CLOSED, "the browser is gone");
}

static int ensure_browser(silk_render *r, char *err, size_t errsz)
{
    if (silk_cdp_running(r->cdp))
        return 0;
    if (silk_cdp_start(r->cdp, err, errsz) != 0)
        return -1;
    /* Target.targetCrashed and targetDestroyed come with discovery on */
    silk_cdp_call(r->cdp, NULL, "Target.setDiscoverTargets", json_pack("{s:b}", "discover", 1), NULL, NULL);
    silk_cdp_call(r->cdp, NULL, "Browser.setDownloadBehavior", json_pack("{s:s}", "behavior", "deny"),
                  NULL, NULL);
    return 0;
}

/* Creates tab's target in its context, which exists by now; 0, or -1
 * when no browser runs. */
static int create_target(silk_tab *tab)
{
    silk_render *r = tab->r;
    json_t *params = json_pack("{s:s}", "url", "about:blank");
    if (params && tab->ctx)
        json_object_set_new(params, "browserContextId", json_string(tab->ctx->id));
    tab->requested = 1;
    return silk_cdp_call(r->cdp, NULL, "Target.createTarget", params, on_created, tab) ? 0 : -1;
}

/* The context x was made (or not): the tabs waiting for it go on. */
static void on_ctx_created(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    render_ctx *x = ud;
    silk_render *r = x->r;
    const char *id = json_string_value(json_object_get(res, "browserContextId"));
    x->creating = 0;
    if (st == SILK_CDP_OK && id)
        snprintf(x->id, sizeof x->id, "%s", id);
    x->refs++;                        /* the tabs failed below must not free x under the loop */
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->ctx != x || t->state != TAB_OPENING || t->requested)
            continue;
        if (!x->id[0])
            opened(t, st == SILK_CDP_OK ? SILK_RENDER_PROTOCOL : cdp_kind(st),
                   msg ? msg : "no browser context");
        else if (create_target(t) != 0)
            opened(t, SILK_RENDER_CLOSED, "the browser is gone");
    }
    x->refs--;
    ctx_release(r, x);
}

static void open_tab(silk_render *r, silk_tab_op *op)
{
    char err[200];
    silk_tab *tab = NULL;
    if (ensure_browser(r, err, sizeof err) != 0) {
        complete_later(op, SILK_RENDER_BROWSER, err);
        return;
    }
    render_ctx *x = op->ctx_name ? ctx_get(r, op->ctx_name) : NULL;
    if ((op->ctx_name && !x) || !(tab = calloc(1, sizeof *tab))) {
        if (x)
            ctx_release(r, x);
        complete_later(op, SILK_RENDER_CLOSED, "out of memory");
        return;
    }
    tab->r = r;
    tab->state = TAB_OPENING;
    tab->opener = op;
    tab->ctx = x;
    if (x)
        x->refs++;
    op->tab = tab;
    tab->next = r->tabs;
    if (r->tabs)
        r->tabs->prev = tab;
    r->tabs = tab;
    r->busy++;
    int sent;
    if (!x || x->id[0]) {
        sent = create_target(tab) == 0;
    } else {
        /* the session's context first: its tabs wait for it (on_ctx_created) */
        sent = x->creating || silk_cdp_call(r->cdp, NULL, "Target.createBrowserContext",
                                            json_pack("{s:b}", "disposeOnDetach", 0), on_ctx_created, x);
        if (sent)
            x->creating = 1;
    }
    if (!sent) {
        tab->opener = NULL;
        op->tab = NULL;
        r->busy--;
        tab_free(tab);
        complete_later(op, SILK_RENDER_CLOSED, "the browser is gone");
    }
}

/* --- leases ----------------------------------------------------------------- */

/* op gets a tab now: the most recently used idle one, or a new one. */
static void lease_start(silk_render *r, silk_tab_op *op)
{
    silk_tab *best = NULL;
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (t->state == TAB_IDLE && same_ctx(t->ctx, op->ctx_name) &&
            (!best || t->idle_since > best->idle_since))
            best = t;
    if (!best) {
        open_tab(r, op);
        return;
    }
    best->state = TAB_BUSY;
    best->pages++;
    r->busy++;
    r->st.leases++;
    op->tab = best;
    complete_later(op, SILK_RENDER_OK, NULL);
}

/* Over budget and nothing busy any more: the browser goes (render.h). */
static void drained(silk_render *r)
{
    if (!r->st.draining || r->busy > 0)
        return;
    r->st.draining = 0;
    r->st.budget_recycles++;
    silk_cdp_stop(r->cdp, "over its memory budget");
}

static void pump(silk_render *r)
{
    drained(r);
    while (!r->st.draining && r->queue.head && r->busy < r->cfg.max_busy) {
        silk_tab_op *op = r->queue.head;
        op_unlink(&r->queue, op);
        lease_start(r, op);
    }
}

silk_tab_op *silk_tab_lease(silk_render *r, const char *context, silk_tab_fn cb, void *ud)
{
    silk_tab_op *op = op_new(r, OP_LEASE, NULL, cb, ud);
    if (!op)
        return NULL;
    if (context && !(op->ctx_name = strdup(context))) {
        op_free(op);
        return NULL;
    }
    if (r->busy >= r->cfg.max_busy || r->queue.head || r->st.draining)
        op_push(&r->queue, op);
    else
        lease_start(r, op);
    return op;
}

silk_tab *silk_tab_op_tab(const silk_tab_op *op)
{
    return op->tab;
}

/* Idle tabs past max_pages - busy go, least recently used first. */
static void trim(silk_render *r)
{
    for (;;) {
        long open = 0;
        silk_tab *lru = NULL;
        for (silk_tab *t = r->tabs; t; t = t->next) {
            if (t->state == TAB_CLOSING)
                continue;
            open++;
            if (t->state == TAB_IDLE && (!lru || t->idle_since < lru->idle_since))
                lru = t;
        }
        if (open <= r->cfg.max_pages || !lru)
            return;
        r->st.evicted++;
        tab_close(lru);
    }
}

void silk_tab_release(silk_tab *tab, int broken)
{
    silk_render *r = tab->r;
    r->busy--;
    fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (!tab->dead)
        silk_cdp_session_bump(r->cdp, tab->session);
    if (broken || tab->broken || tab->dead || tab->pages >= r->cfg.recycle_after) {
        r->st.recycled++;
        tab_close(tab);
    } else {
        tab->state = TAB_IDLE;
        tab->idle_since = ev_now(r->loop);
        trim(r);
    }
    pump(r);
}

/* --- operations on a leased tab ------------------------------------------------ */

static void on_call_reply(silk_cdp_status st, json_t *res, const char *msg, void *ud)
{
    silk_tab_op *op = ud;
    op_unlink(&op->tab->ops, op);
    if (st != SILK_CDP_OK && st != SILK_CDP_ERROR)
        op->tab->broken = 1;
    op->cb(cdp_kind(st), res, msg, op->ud);   /* inside cdp's event batch (around) */
    op_free(op);
}

silk_tab_op *silk_tab_call(silk_tab *tab, const char *method, json_t *params, silk_tab_fn cb, void *ud)
{
    silk_render *r = tab->r;
    silk_tab_op *op = op_new(r, OP_CALL, tab, cb, ud);
    if (!op) {
        json_decref(params);
        return NULL;
    }
    if (tab->dead) {
        json_decref(params);
        complete_later(op, tab->crashed ? SILK_RENDER_CRASHED : SILK_RENDER_BROWSER_CRASHED,
                       "the page is gone");
        return op;
    }
    op_push(&tab->ops, op);
    op->id = silk_cdp_call(r->cdp, tab->session, method, params, on_call_reply, op);
    if (!op->id) {
        op_unlink(&tab->ops, op);
        complete_later(op, SILK_RENDER_BROWSER_CRASHED, "the browser is gone");
    }
    return op;
}

silk_tab_op *silk_tab_wait_lifecycle(silk_tab *tab, const char *loader, const char *name,
                                     silk_tab_fn cb, void *ud)
{
    silk_tab_op *op = op_new(tab->r, OP_WAIT, tab, cb, ud);
    if (!op)
        return NULL;
    snprintf(op->loader, sizeof op->loader, "%s", loader);
    snprintf(op->name, sizeof op->name, "%s", name);
    int bit = life_bit(name);
    if (tab->dead)
        complete_later(op, tab->crashed ? SILK_RENDER_CRASHED : SILK_RENDER_BROWSER_CRASHED,
                       "the page is gone");
    else if (bit < 0)
        complete_later(op, SILK_RENDER_PROTOCOL, "unknown lifecycle event");
    else if (strcmp(loader, tab->loader) == 0 && (tab->seen & (1u << bit)))
        complete_later(op, SILK_RENDER_OK, NULL);
    else
        op_push(&tab->ops, op);
    return op;
}

void silk_tab_cancel(silk_tab_op *op)
{
    silk_render *r = op->r;
    silk_tab *tab = op->tab;
    if (op->kind == OP_LEASE) {
        if (tab && tab->opener == op) {
            tab->opener = NULL;       /* the tab goes to the pool once open */
        } else if (tab) {
            /* on the ready list, already leased: give the tab back */
            op_unlink(&r->ready, op);
            silk_tab_release(tab, 0);
            op_free(op);
            return;
        } else {
            op_unlink(op->kind_done || op->message ? &r->ready : &r->queue, op);
        }
        op_free(op);
        return;
    }
    int ready = 1;
    for (silk_tab_op *o = tab->ops.head; o; o = o->next)
        if (o == op)
            ready = 0;
    op_unlink(ready ? &r->ready : &tab->ops, op);
    if (op->kind == OP_CALL && !ready)
        silk_cdp_forget(r->cdp, op->id);
    op_free(op);
    /* the page may hang on what the task gave up on: stop it */
    r->st.interrupted++;
    tab->broken = 1;
    if (!tab->dead) {
        silk_cdp_call(r->cdp, tab->session, "Page.stopLoading", NULL, NULL, NULL);
        silk_cdp_call(r->cdp, tab->session, "Runtime.terminateExecution", NULL, NULL, NULL);
    }
}

json_t *silk_tab_response(silk_tab *tab, const char *loader)
{
    return tab->response && strcmp(tab->response_loader, loader) == 0 ? tab->response : NULL;
}

const char *silk_tab_settings(const silk_tab *tab)
{
    return tab->settings ? tab->settings : "";
}

int silk_tab_set_settings(silk_tab *tab, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        return -1;
    free(tab->settings);
    tab->settings = copy;
    return 0;
}

const char *silk_tab_target(const silk_tab *tab) { return tab->target; }
const char *silk_tab_context(const silk_tab *tab) { return tab->ctx ? tab->ctx->id : ""; }
int silk_tab_pages(const silk_tab *tab) { return tab->pages; }
int silk_tab_broken(const silk_tab *tab) { return tab->broken; }

/* --- the pool ---------------------------------------------------------------- */

static void on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_render *r = w->data;
    double now = ev_now(loop);
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->state == TAB_IDLE && now - t->idle_since >= r->cfg.page_idle_timeout) {
            r->st.idle_closed++;
            tab_close(t);
        }
    }
}

double silk_render_measure(silk_render *r)
{
    long pss = browser_up(r) ? silk_cdp_pss(r->cdp) : 0;
    r->st.browser_pss = pss > 0 ? (double)pss : 0;
    return r->st.browser_pss;
}

static void on_mem(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_render *r = w->data;
    if (r->st.draining || !browser_up(r) || r->cfg.memory_budget <= 0)
        return;
    if (silk_render_measure(r) <= r->cfg.memory_budget)
        return;
    r->st.draining = 1;
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->state == TAB_IDLE)
            tab_close(t);
    }
    pump(r);
}

/* (Re)starts the measuring timer, weak like the sweep; stopped without a budget. */
static void arm_mem(silk_render *r)
{
    if (ev_is_active(&r->mem_w)) {
        ev_ref(r->loop);
        ev_timer_stop(r->loop, &r->mem_w);
    }
    if (r->cfg.memory_budget <= 0)
        return;
    ev_timer_set(&r->mem_w, r->cfg.memory_interval, r->cfg.memory_interval);
    ev_timer_start(r->loop, &r->mem_w);
    ev_unref(r->loop);
}

static void arm_sweep(silk_render *r)
{
    double every = r->cfg.page_idle_timeout / 4;
    if (ev_is_active(&r->sweep_w)) {
        ev_ref(r->loop);
        ev_timer_stop(r->loop, &r->sweep_w);
    }
    ev_timer_set(&r->sweep_w, every, every);
    ev_timer_start(r->loop, &r->sweep_w);
    ev_unref(r->loop);                /* idle tabs alone do not keep a run going */
}

static void around(int begin, void *ud)
{
    silk_render *r = ud;
    if (begin)
        silk_task_batch_begin(r->e);
    else
        silk_task_batch_end(r->e);
}

silk_render *silk_render_of(silk_engine *e)
{
    for (silk_render *r = states; r; r = r->next_state)
        if (r->e == e)
            return r;
    silk_render *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->e = e;
    r->loop = silk_engine_loop(e);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->cfg.max_busy = 2 * (int)(cores > 0 ? cores : 1);
    r->cfg.max_pages = 4 * r->cfg.max_busy;
    r->cfg.recycle_after = 50;
    r->cfg.page_idle_timeout = 30;
    r->cfg.close_timeout = 10;
    r->cfg.memory_interval = 2;
    silk_cdp_options o = { .renderer_limit = r->cfg.max_busy, .around = around, .around_ud = r, .weak = 1 };
    r->cdp = silk_cdp_new(r->loop, &o, on_browser_event, r);
    if (!r->cdp) {
        free(r);
        return NULL;
    }
    ev_idle_init(&r->ready_w, on_ready_w);
    r->ready_w.data = r;
    ev_timer_init(&r->sweep_w, on_sweep, 0, 0);
    r->sweep_w.data = r;
    ev_timer_init(&r->mem_w, on_mem, 0, 0);
    r->mem_w.data = r;
    arm_sweep(r);
    r->next_state = states;
    states = r;
    return r;
}

void silk_render_configure(silk_render *r, const silk_render_config *c)
{
    if (c->max_busy > 0)
        r->cfg.max_busy = c->max_busy;
    if (c->max_pages > 0)
        r->cfg.max_pages = c->max_pages;
    if (c->recycle_after > 0)
        r->cfg.recycle_after = c->recycle_after;
    if (c->close_timeout > 0)
        r->cfg.close_timeout = c->close_timeout;
    if (c->memory_interval > 0)
        r->cfg.memory_interval = c->memory_interval;
    if (c->memory_budget >= 0)
        r->cfg.memory_budget = c->memory_budget;
    if (c->memory_budget >= 0 || c->memory_interval > 0)
        arm_mem(r);
    if (c->page_idle_timeout > 0) {
        r->cfg.page_idle_timeout = c->page_idle_timeout;
        arm_sweep(r);
    }
    trim(r);
    pump(r);
}

void silk_render_get_config(silk_render *r, silk_render_config *c)
{
    *c = r->cfg;
}

void silk_render_get_stats(silk_render *r, silk_render_stats *st)
{
    *st = r->st;
    silk_cdp_get_stats(r->cdp, &st->browser);
    for (silk_tab *t = r->tabs; t; t = t->next) {
        st->opening += t->state == TAB_OPENING;
        st->idle += t->state == TAB_IDLE;
        st->busy += t->state == TAB_BUSY;
        st->closing += t->state == TAB_CLOSING;
    }
    for (silk_tab_op *op = r->queue.head; op; op = op->next)
        st->queued++;
    for (render_ctx *x = r->ctxs; x; x = x->next)
        st->contexts++;
}

void silk_render_shutdown(silk_engine *e)
{
    for (silk_render **p = &states; *p; p = &(*p)->next_state) {
        silk_render *r = *p;
        if (r->e != e)
            continue;
        *p = r->next_state;
        while (r->queue.head) {
            silk_tab_op *op = r->queue.head;
            op_unlink(&r->queue, op);
            complete_later(op, SILK_RENDER_CLOSED, "shut down");
        }
        for (silk_tab *t = r->tabs; t; t = t->next)
            t->dead = 1;              /* the browser takes its sessions along */
        silk_cdp_free(r->cdp);        /* fails pending calls: CLOSING tabs are freed */
        r->cdp = NULL;
        silk_resolver_free(r->resolver);
        while (r->tabs)
            tab_free(r->tabs);        /* and with the last tab of each, its context */
        ev_ref(r->loop);
        ev_timer_stop(r->loop, &r->sweep_w);
        r->cfg.memory_budget = 0;
        arm_mem(r);
        /* callbacks of what was pending run now, as fetch's do at shutdown */
        if (r->ready.head)
            on_ready_w(r->loop, &r->ready_w, 0);
        ev_idle_stop(r->loop, &r->ready_w);
        if (r->holds > 0)
            ev_unref(r->loop);        /* balance the ref of the holds left */
        free(r);
        return;
    }
}
