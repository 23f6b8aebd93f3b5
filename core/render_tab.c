/*
 * render_tab.c -- a tab's life in its browser: opening it (its context,
 * target, session and domains), the events of its session, its renderer's
 * crash, closing it; see render.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_int.h"

silk_tab *silk_render_tab_of_target(render_browser *b, const char *target)
{
    for (silk_tab *t = b->r->tabs; t; t = t->next)
        if (t->b == b && target && strcmp(t->target, target) == 0)
            return t;
    return NULL;
}

silk_tab *silk_render_tab_of_session(silk_render *r, const char *session)
{
    for (silk_tab *t = r->tabs; t; t = t->next)
        if (!t->dead && strcmp(t->session, session) == 0)
            return t;
    return NULL;
}

/* --- closing ---------------------------------------------------------------- */

static void stop_close_w(silk_tab *tab)
{
    if (ev_is_active(&tab->close_w)) {
        ev_ref(tab->r->loop);
        ev_timer_stop(tab->r->loop, &tab->close_w);
    }
}

void silk_render_tab_free(silk_tab *tab)
{
    silk_render *r = tab->r;
    stop_close_w(tab);
    silk_render_fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (tab->opener) {
        tab->opener->tab = NULL;
        silk_render_complete_later(tab->opener, SILK_RENDER_CLOSED, "the page was closed");
        tab->opener = NULL;
    }
    if (tab->session[0] && !tab->dead)
        silk_cdp_session_remove(tab->b->cdp, tab->session);
    if (tab->next)
        tab->next->prev = tab->prev;
    if (tab->prev)
        tab->prev->next = tab->next;
    else
        r->tabs = tab->next;
    json_object_put(tab->response);
    free(tab->settings);
    silk_render_tab_guard_free(tab);
    r->st.closed++;
    if (tab->ctx) {
        tab->ctx->refs--;
        silk_render_ctx_release(tab->ctx);
    }
    free(tab);
}

static void on_closed(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    silk_render_tab_free(ud);
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
    silk_cdp_kill(tab->b->cdp, why);
}

/* Closes a tab that is not leased (or whose lease just ended). */
void silk_render_tab_close(silk_tab *tab)
{
    silk_render *r = tab->r;
    silk_render_fail_ops(tab, SILK_RENDER_CLOSED, "the page was closed");
    if (tab->session[0] && !tab->dead) {
        silk_cdp_session_remove(tab->b->cdp, tab->session);
        tab->dead = 1;
    }
    if (tab->target[0] && silk_render_browser_up(tab->b)) {
        tab->state = TAB_CLOSING;
        if (silk_cdp_call(tab->b->cdp, NULL, "Target.closeTarget",
                          silk_json_set_str(json_object_new_object(), "targetId", tab->target), on_closed, tab)) {
            /* weak: a run that ends meanwhile does not wait for it */
            ev_timer_init(&tab->close_w, on_close_timeout, r->cfg.close_timeout, 0);
            tab->close_w.data = tab;
            ev_timer_start(r->loop, &tab->close_w);
            ev_unref(r->loop);
            return;
        }
    }
    silk_render_tab_free(tab);
}

/* --- events ------------------------------------------------------------------ */

void silk_render_tab_crashed(silk_tab *tab, silk_render_kind kind, const char *message)
{
    silk_render *r = tab->r;
    tab->broken = 1;
    if (kind == SILK_RENDER_CRASHED && !tab->crashed) {
        tab->crashed = 1;
        r->st.renderer_crashes++;
    }
    /* commands pending on a crashed renderer are never answered */
    if (!tab->dead)
        silk_cdp_session_fail(tab->b->cdp, tab->session, SILK_CDP_TARGET_CRASHED, message);
    silk_render_fail_ops(tab, kind, message);
    if (tab->state == TAB_IDLE)
        silk_render_tab_close(tab);
}

/* The main frame's document `loader` reached lifecycle event `name`;
 * "init" is a new document (its commit). Completes the waits it meets. */
static void life_event(silk_tab *tab, const char *loader, const char *name)
{
    if (strcmp(name, "init") == 0 && strcmp(loader, tab->loader) != 0) {
        snprintf(tab->loader, sizeof tab->loader, "%s", loader);
        tab->seen = 0;
        /* the response came before its document committed: it is this one's */
        if (tab->response && !tab->response_loader[0])
            snprintf(tab->response_loader, sizeof tab->response_loader, "%s", loader);
    }
    int bit = silk_render_life_bit(name);
    if (bit < 0 || strcmp(loader, tab->loader) != 0)
        return;
    tab->seen |= 1u << bit;
    for (silk_tab_op *op = tab->ops.head, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_WAIT && strcmp(op->loader, tab->loader) == 0 &&
            (tab->seen & (1u << silk_render_life_bit(op->name)))) {
            silk_render_op_unlink(&tab->ops, op);
            silk_render_complete_later(op, SILK_RENDER_OK, NULL);
        }
    }
}

/* Page.lifecycleEvent: every event, when the tab's lifecycle events are on. */
static void lifecycle(silk_tab *tab, json_object *p)
{
    const char *frame = silk_json_str(silk_json_get(p, "frameId"));
    const char *loader = silk_json_str(silk_json_get(p, "loaderId"));
    const char *name = silk_json_str(silk_json_get(p, "name"));
    if (frame && loader && name && strcmp(frame, tab->target) == 0)
        life_event(tab, loader, name);   /* the main frame's id is its target's */
}

/* The Page domain's own events give init (the main frame's document
 * committed), DOMContentLoaded and load (sent for the main frame only,
 * after its commit) with lifecycle events off. */
static void frame_navigated(silk_tab *tab, json_object *p)
{
    json_object *frame = silk_json_get(p, "frame");
    const char *id = silk_json_str(silk_json_get(frame, "id"));
    const char *loader = silk_json_str(silk_json_get(frame, "loaderId"));
    if (id && loader && strcmp(id, tab->target) == 0 && !silk_json_get(frame, "parentId"))
        life_event(tab, loader, "init");
}

static void on_tab_event(const char *method, json_object *p, void *ud)
{
    silk_tab *tab = ud;
    if (strcmp(method, "Fetch.requestPaused") == 0) {
        silk_render_request_paused(tab, p);
    } else if (strcmp(method, "Page.frameNavigated") == 0) {
        frame_navigated(tab, p);
    } else if (strcmp(method, "Page.domContentEventFired") == 0 && tab->loader[0]) {
        life_event(tab, tab->loader, "DOMContentLoaded");
    } else if (strcmp(method, "Page.loadEventFired") == 0 && tab->loader[0]) {
        life_event(tab, tab->loader, "load");
    } else if (strcmp(method, "Page.lifecycleEvent") == 0) {
        lifecycle(tab, p);
    } else if (strcmp(method, "Inspector.targetCrashed") == 0) {
        silk_render_tab_crashed(tab, SILK_RENDER_CRASHED, "the page's renderer crashed");
    }
}

/* --- opening ------------------------------------------------------------------ */

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
            silk_render_complete_later(op, SILK_RENDER_OK, NULL);
        } else {
            silk_tab_release(tab, 0);
        }
        return;
    }
    r->busy--;
    tab->b->busy--;
    if (op) {
        op->tab = NULL;
        silk_render_complete_later(op, kind, message);
    }
    tab->broken = 1;
    silk_render_tab_close(tab);
    silk_render_pump(r);
}

static void on_enabled(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    opened(ud, silk_render_cdp_kind(st), msg);
}

/* Fetch pauses the tab's documents; now the Page domain. The browser
 * process answered Fetch.enable at once, but Page.enable waits for the
 * tab's renderer, which may still be starting: the tab is open only once
 * it took, since a page navigated before may never tell its document's
 * commit (render.lua waits for it before it evaluates anything).
 * Lifecycle events stay off (a dozen a page; the Page domain's own
 * events give commit, DOMContentLoaded and load): render.lua turns them
 * on for a page that waits for networkidle. */
static void on_fetch_enabled(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    silk_tab *tab = ud;
    if (st != SILK_CDP_OK) {
        opened(tab, silk_render_cdp_kind(st), msg);
        return;
    }
    if (!silk_cdp_call(tab->b->cdp, tab->session, "Page.enable", NULL, on_enabled, tab))
        opened(tab, SILK_RENDER_CLOSED, "the browser is gone");
}

static void on_attached(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    silk_tab *tab = ud;
    silk_cdp *c = tab->b->cdp;
    const char *sid = silk_json_str(silk_json_get(res, "sessionId"));
    if (st != SILK_CDP_OK || !sid) {
        opened(tab, silk_render_cdp_kind(st), msg ? msg : "no session");
        return;
    }
    snprintf(tab->session, sizeof tab->session, "%s", sid);
    if (silk_cdp_session_add(c, tab->session, on_tab_event, tab) != 0) {
        tab->session[0] = 0;
        opened(tab, SILK_RENDER_CLOSED, "out of memory");
        return;
    }
    /* The Network domain is not enabled: it streams half a dozen events
     * per subresource, most of the pipe's traffic, for the one response
     * silk needs, the main document's, which this Fetch pattern pauses at
     * the response stage instead (render_guard.c). */
    if (!silk_cdp_call(c, tab->session, "Fetch.enable",
                       silk_json_set(json_object_new_object(), "patterns",
                                     silk_render_fetch_patterns(0, NULL, 0, 0)),
                       on_fetch_enabled, tab))
        opened(tab, SILK_RENDER_CLOSED, "the browser is gone");
}

static void on_created(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    silk_tab *tab = ud;
    const char *target = silk_json_str(silk_json_get(res, "targetId"));
    if (st != SILK_CDP_OK || !target) {
        opened(tab, silk_render_cdp_kind(st), msg ? msg : "no target");
        return;
    }
    snprintf(tab->target, sizeof tab->target, "%s", target);
    if (!silk_cdp_call(tab->b->cdp, NULL, "Target.attachToTarget",
                       silk_json_set_bool(silk_json_set_str(json_object_new_object(), "targetId", target), "flatten", 1), on_attached, tab))
        opened(tab, SILK_RENDER_CLOSED, "the browser is gone");
}

/* Creates tab's target in its context, which exists by now; 0, or -1
 * when no browser runs. */
static int create_target(silk_tab *tab)
{
    json_object *params = silk_json_set_str(json_object_new_object(), "url", "about:blank");
    if (tab->ctx)
        params = silk_json_set_str(params, "browserContextId", tab->ctx->id);
    tab->requested = 1;
    return silk_cdp_call(tab->b->cdp, NULL, "Target.createTarget", params, on_created, tab) ? 0 : -1;
}

/* The context x was made (or not): the tabs waiting for it go on. */
static void on_ctx_created(silk_cdp_status st, json_object *res, const char *msg, void *ud)
{
    render_ctx *x = ud;
    silk_render *r = x->b->r;
    const char *id = silk_json_str(silk_json_get(res, "browserContextId"));
    x->creating = 0;
    if (st == SILK_CDP_OK && id)
        snprintf(x->id, sizeof x->id, "%s", id);
    x->refs++;                        /* the tabs failed below must not free x under the loop */
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->ctx != x || t->state != TAB_OPENING || t->requested)
            continue;
        if (!x->id[0])
            opened(t, st == SILK_CDP_OK ? SILK_RENDER_PROTOCOL : silk_render_cdp_kind(st),
                   msg ? msg : "no browser context");
        else if (create_target(t) != 0)
            opened(t, SILK_RENDER_CLOSED, "the browser is gone");
    }
    x->refs--;
    silk_render_ctx_release(x);
}

void silk_render_tab_open(render_browser *b, silk_tab_op *op)
{
    silk_render *r = b->r;
    char err[200];
    silk_tab *tab = NULL;
    if (silk_render_browser_ensure(b, err, sizeof err) != 0) {
        silk_render_complete_later(op, SILK_RENDER_BROWSER, err);
        return;
    }
    render_ctx *x = op->ctx_name ? silk_render_ctx_get(b, op->ctx_name) : NULL;
    if ((op->ctx_name && !x) || !(tab = calloc(1, sizeof *tab))) {
        if (x)
            silk_render_ctx_release(x);
        silk_render_complete_later(op, SILK_RENDER_CLOSED, "out of memory");
        return;
    }
    tab->r = r;
    tab->b = b;
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
    b->busy++;
    int sent;
    if (!x || x->id[0]) {
        sent = create_target(tab) == 0;
    } else {
        /* the session's context first: its tabs wait for it (on_ctx_created) */
        sent = x->creating || silk_cdp_call(b->cdp, NULL, "Target.createBrowserContext",
                                            silk_json_set_bool(json_object_new_object(), "disposeOnDetach", 0), on_ctx_created, x);
        if (sent)
            x->creating = 1;
    }
    if (!sent) {
        tab->opener = NULL;
        op->tab = NULL;
        r->busy--;
        b->busy--;
        silk_render_tab_free(tab);
        silk_render_complete_later(op, SILK_RENDER_CLOSED, "the browser is gone");
    }
}
