/*
 * render.c -- the page pool as its callers see it: leases, the operations
 * on a leased tab, limits, configuration and counters; see render.h. The
 * browsers are render_browser.c's, a tab's life is render_tab.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render_int.h"
#include "resolve.h"

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

silk_render_kind silk_render_cdp_kind(silk_cdp_status st)
{
    switch (st) {
    case SILK_CDP_OK: return SILK_RENDER_OK;
    case SILK_CDP_ERROR: return SILK_RENDER_PROTOCOL;
    case SILK_CDP_TARGET_CRASHED: return SILK_RENDER_CRASHED;
    case SILK_CDP_BROWSER_CRASHED: return SILK_RENDER_BROWSER_CRASHED;
    default: return SILK_RENDER_CLOSED;
    }
}

/* Lifecycle events a wait can name; a bit each in tab->seen. */
static const char *const life_names[] = {
    "init", "DOMContentLoaded", "load", "networkAlmostIdle", "networkIdle",
    "firstContentfulPaint", "firstMeaningfulPaint", NULL,
};

int silk_render_life_bit(const char *name)
{
    for (int i = 0; life_names[i]; i++)
        if (strcmp(life_names[i], name) == 0)
            return i;
    return -1;
}

void silk_render_batch(silk_render *r, int begin)
{
    if (r->hooks.batch)
        r->hooks.batch(begin, r->hooks.ud);
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

void silk_render_op_unlink(op_list *l, silk_tab_op *op)
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
 * active watchers (the pipes' are weak: see cdp.h). */
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
void silk_render_complete_later(silk_tab_op *op, silk_render_kind kind, const char *message)
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
    silk_render_batch(r, 1);
    while (r->ready.head) {
        silk_tab_op *op = r->ready.head;
        silk_render_op_unlink(&r->ready, op);
        op->cb(op->kind_done, NULL, op->message ? op->message : kind_names[op->kind_done], op->ud);
        op_free(op);
    }
    silk_render_batch(r, 0);
}

/* Fails every operation of tab now (a crash, the browser's end). */
void silk_render_fail_ops(silk_tab *tab, silk_render_kind kind, const char *message)
{
    while (tab->ops.head) {
        silk_tab_op *op = tab->ops.head;
        silk_render_op_unlink(&tab->ops, op);
        if (op->kind == OP_CALL)
            silk_cdp_forget(tab->b->cdp, op->id);
        silk_render_complete_later(op, kind, message);
    }
}

/* --- leases ----------------------------------------------------------------- */

/* op gets a tab now: the most recently used idle one of its context in the
 * browser the lease goes to, or a new one there; false when every browser
 * drains (op stays where it is). */
static int lease_start(silk_render *r, silk_tab_op *op)
{
    render_browser *b = silk_render_browser_pick(r, op->ctx_name);
    if (!b)
        return 0;
    silk_tab *best = NULL;
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (t->b == b && t->state == TAB_IDLE &&
            (t->ctx ? op->ctx_name && strcmp(t->ctx->name, op->ctx_name) == 0 : !op->ctx_name) &&
            (!best || t->idle_since > best->idle_since))
            best = t;
    if (!best) {
        silk_render_tab_open(b, op);
        return 1;
    }
    best->state = TAB_BUSY;
    best->pages++;
    r->busy++;
    b->busy++;
    r->st.leases++;
    op->tab = best;
    silk_render_complete_later(op, SILK_RENDER_OK, NULL);
    return 1;
}

void silk_render_pump(silk_render *r)
{
    for (int i = 0; i < r->cfg.browsers; i++)
        silk_render_browser_drained(r->browsers[i]);
    while (r->queue.head && r->busy < r->cfg.max_busy) {
        silk_tab_op *op = r->queue.head;
        silk_render_op_unlink(&r->queue, op);
        if (!lease_start(r, op)) {
            /* every browser drains: back to the head of the line */
            op->next = r->queue.head;
            if (r->queue.head)
                r->queue.head->prev = op;
            else
                r->queue.tail = op;
            r->queue.head = op;
            return;
        }
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
    if (r->busy >= r->cfg.max_busy || r->queue.head || !lease_start(r, op))
        op_push(&r->queue, op);
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
        silk_render_tab_close(lru);
    }
}

void silk_tab_release(silk_tab *tab, int broken)
{
    silk_render *r = tab->r;
    r->busy--;
    tab->b->busy--;
    silk_render_fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (!tab->dead)
        silk_cdp_session_bump(tab->b->cdp, tab->session);
    if (broken || tab->broken || tab->dead || tab->pages >= r->cfg.recycle_after || tab->b->draining) {
        r->st.recycled++;
        silk_render_tab_close(tab);
    } else {
        tab->state = TAB_IDLE;
        tab->idle_since = ev_now(r->loop);
        trim(r);
    }
    silk_render_pump(r);
}

/* --- operations on a leased tab ------------------------------------------------ */

static void on_call_reply(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    silk_tab_op *op = ud;
    silk_render_op_unlink(&op->tab->ops, op);
    if (st != SILK_CDP_OK && st != SILK_CDP_ERROR)
        op->tab->broken = 1;
    op->cb(silk_render_cdp_kind(st), res, msg, op->ud);   /* inside cdp's event batch (around) */
    op_free(op);
}

silk_tab_op *silk_tab_call(silk_tab *tab, const char *method, json_object *params, silk_tab_fn cb, void *ud)
{
    silk_tab_op *op = op_new(tab->r, OP_CALL, tab, cb, ud);
    if (!op) {
        json_object_put(params);
        return NULL;
    }
    if (tab->dead) {
        json_object_put(params);
        silk_render_complete_later(op, tab->crashed ? SILK_RENDER_CRASHED : SILK_RENDER_BROWSER_CRASHED,
                                   "the page is gone");
        return op;
    }
    op_push(&tab->ops, op);
    op->id = silk_cdp_call(tab->b->cdp, tab->session, method, params, on_call_reply, op);
    if (!op->id) {
        silk_render_op_unlink(&tab->ops, op);
        silk_render_complete_later(op, SILK_RENDER_BROWSER_CRASHED, "the browser is gone");
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
    int bit = silk_render_life_bit(name);
    if (tab->dead)
        silk_render_complete_later(op, tab->crashed ? SILK_RENDER_CRASHED : SILK_RENDER_BROWSER_CRASHED,
                                   "the page is gone");
    else if (bit < 0)
        silk_render_complete_later(op, SILK_RENDER_PROTOCOL, "unknown lifecycle event");
    else if (strcmp(loader, tab->loader) == 0 && (tab->seen & (1u << bit)))
        silk_render_complete_later(op, SILK_RENDER_OK, NULL);
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
            silk_render_op_unlink(&r->ready, op);
            silk_tab_release(tab, 0);
            op_free(op);
            return;
        } else {
            silk_render_op_unlink(op->kind_done || op->message ? &r->ready : &r->queue, op);
        }
        op_free(op);
        return;
    }
    int ready = 1;
    for (silk_tab_op *o = tab->ops.head; o; o = o->next)
        if (o == op)
            ready = 0;
    silk_render_op_unlink(ready ? &r->ready : &tab->ops, op);
    if (op->kind == OP_CALL && !ready)
        silk_cdp_forget(tab->b->cdp, op->id);
    op_free(op);
    /* the page may hang on what the task gave up on: stop it */
    r->st.interrupted++;
    tab->broken = 1;
    if (!tab->dead) {
        silk_cdp_call(tab->b->cdp, tab->session, "Page.stopLoading", NULL, NULL, NULL);
        silk_cdp_call(tab->b->cdp, tab->session, "Runtime.terminateExecution", NULL, NULL, NULL);
    }
}

json_object *silk_tab_response(silk_tab *tab, const char *loader)
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
int silk_tab_browser(const silk_tab *tab) { return tab->b->no; }
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
            silk_render_tab_close(t);
        }
    }
}

double silk_render_measure(silk_render *r)
{
    double sum = 0;
    for (int i = 0; i < r->cfg.browsers; i++) {
        silk_render_browser_measure(r->browsers[i]);
        sum += r->browsers[i]->pss;
    }
    return sum;
}

static void on_mem(struct ev_loop *loop, ev_timer *w, int revents)
{
    silk_render *r = w->data;
    if (r->cfg.memory_budget <= 0)
        return;
    for (int i = 0; i < r->cfg.browsers; i++)
        silk_render_browser_check_budget(r->browsers[i]);
    silk_render_pump(r);
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

/* Makes browsers [from, n) (records only: started on first use); -1 on ENOMEM. */
static int add_browsers(silk_render *r, int n)
{
    render_browser **a = realloc(r->browsers, (size_t)n * sizeof *a);
    if (!a)
        return -1;
    r->browsers = a;
    for (int i = r->cfg.browsers; i < n; i++) {
        if (!(a[i] = silk_render_browser_new(r, i)))
            return -1;
        r->cfg.browsers = i + 1;
    }
    return 0;
}

/* Ends browsers [n, cfg.browsers), whose tabs are idle or closing: the
 * idle ones are freed with their sessions, the closing ones when the
 * browser's end fails their closeTarget. */
static void drop_browsers(silk_render *r, int n)
{
    while (r->cfg.browsers > n) {
        render_browser *b = r->browsers[--r->cfg.browsers];
        for (silk_tab *t = r->tabs, *next; t; t = next) {
            next = t->next;
            if (t->b != b)
                continue;
            t->dead = 1;              /* the browser takes its sessions along */
            if (t->state == TAB_IDLE)
                silk_render_tab_free(t);
        }
        silk_render_browser_free(b);
    }
}

silk_render *silk_render_new(struct ev_loop *loop, const silk_render_hooks *hooks)
{
    silk_render *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    if (hooks)
        r->hooks = *hooks;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r->cfg.max_busy = 2 * (int)(cores > 0 ? cores : 1);
    r->cfg.max_pages = 4 * r->cfg.max_busy;
    r->cfg.recycle_after = 50;
    r->cfg.page_idle_timeout = 30;
    r->cfg.close_timeout = 10;
    r->cfg.memory_interval = 2;
    if (add_browsers(r, 1) != 0) {
        free(r->browsers);
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
    return r;
}

int silk_render_configure(silk_render *r, const silk_render_config *c)
{
    if (c->browsers > 0 && c->browsers < r->cfg.browsers) {
        for (silk_tab *t = r->tabs; t; t = t->next)
            if (t->b->no >= c->browsers && (t->state == TAB_BUSY || t->state == TAB_OPENING))
                return -1;
        drop_browsers(r, c->browsers);
    } else if (c->browsers > r->cfg.browsers && add_browsers(r, c->browsers) != 0) {
        return -1;
    }
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
    silk_render_pump(r);
    return 0;
}

void silk_render_get_config(silk_render *r, silk_render_config *c)
{
    *c = r->cfg;
}

void silk_render_get_stats(silk_render *r, silk_render_stats *st)
{
    *st = r->st;
    st->browsers = r->cfg.browsers;
    for (int i = 0; i < r->cfg.browsers; i++) {
        render_browser *b = r->browsers[i];
        silk_cdp_stats cs;
        silk_cdp_get_stats(b->cdp, &cs);
        if (!st->browser.pid)
            st->browser.pid = cs.pid;
        st->browser.restarts += cs.restarts;
        st->browser.crashes += cs.crashes;
        st->browser.sent += cs.sent;
        st->browser.received += cs.received;
        st->browser.pending += cs.pending;
        st->browser.dropped += cs.dropped;
        st->budget_recycles += b->budget_recycles;
        st->draining += b->draining;
        st->browser_pss += b->pss;
        for (render_ctx *x = b->ctxs; x; x = x->next)
            st->contexts++;
    }
    for (silk_tab *t = r->tabs; t; t = t->next) {
        st->opening += t->state == TAB_OPENING;
        st->idle += t->state == TAB_IDLE;
        st->busy += t->state == TAB_BUSY;
        st->closing += t->state == TAB_CLOSING;
    }
    for (silk_tab_op *op = r->queue.head; op; op = op->next)
        st->queued++;
}

int silk_render_get_browser_stats(silk_render *r, int i, silk_render_browser_stats *st)
{
    if (i < 0 || i >= r->cfg.browsers)
        return -1;
    render_browser *b = r->browsers[i];
    memset(st, 0, sizeof *st);
    silk_cdp_get_stats(b->cdp, &st->browser);
    st->busy = b->busy;
    st->draining = b->draining;
    st->budget_recycles = b->budget_recycles;
    st->pss = b->pss;
    for (silk_tab *t = r->tabs; t; t = t->next)
        st->idle += t->b == b && t->state == TAB_IDLE;
    return 0;
}

void silk_render_free(silk_render *r)
{
    if (!r)
        return;
    while (r->queue.head) {
        silk_tab_op *op = r->queue.head;
        silk_render_op_unlink(&r->queue, op);
        silk_render_complete_later(op, SILK_RENDER_CLOSED, "shut down");
    }
    /* every tab goes: a leased one's handle is closed by its owner before
     * (lapi_render.c detaches the handles it still has) */
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (t->state != TAB_CLOSING)
            t->state = TAB_IDLE;
    silk_resolver_free(r->resolver);
    r->resolver = NULL;
    drop_browsers(r, 0);
    while (r->tabs)
        silk_render_tab_free(r->tabs);
    free(r->browsers);
    ev_ref(r->loop);
    ev_timer_stop(r->loop, &r->sweep_w);
    r->cfg.memory_budget = 0;
    arm_mem(r);
    /* callbacks of what was pending run now, as fetch's do at shutdown */
    if (r->ready.head)
        on_ready_w(r->loop, &r->ready_w, 0);
    ev_idle_stop(r->loop, &r->ready_w);
    if (r->holds > 0)
        ev_unref(r->loop);            /* balance the ref of the holds left */
    free(r);
}
