/*
 * render_browser.c -- the pool's browser processes: starting one, which
 * one a lease goes to, its browser contexts, its memory budget, and what
 * its crash or a target's end does to its tabs; see render.h.
 */
#include <stdlib.h>
#include <string.h>

#include "render_int.h"

int silk_render_browser_up(const render_browser *b)
{
    return b->cdp && silk_cdp_running(b->cdp);
}

/* --- browser contexts ---------------------------------------------------------- */

/* The context record of name in b, made if new (not yet created in the
 * browser); NULL on ENOMEM. */
render_ctx *silk_render_ctx_get(render_browser *b, const char *name)
{
    for (render_ctx *x = b->ctxs; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x;
    render_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->name = strdup(name))) {
        free(x);
        return NULL;
    }
    x->b = b;
    x->next = b->ctxs;
    b->ctxs = x;
    return x;
}

/* Disposes of x once no tab uses it and no creation is under way. */
void silk_render_ctx_release(render_ctx *x)
{
    render_browser *b = x->b;
    if (x->refs > 0 || x->creating)
        return;
    if (x->id[0] && silk_render_browser_up(b))
        silk_cdp_call(b->cdp, NULL, "Target.disposeBrowserContext",
                      silk_json_set_str(json_object_new_object(), "browserContextId", x->id), NULL, NULL);
    for (render_ctx **p = &b->ctxs; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    free(x->name);
    free(x);
}

/* --- events ------------------------------------------------------------------ */

static void on_browser_event(const char *method, json_object *p, void *ud)
{
    render_browser *b = ud;
    silk_render *r = b->r;
    if (strcmp(method, SILK_CDP_EV_CRASHED) == 0) {
        /* every call already failed; the contexts went with the browser
         * (made again on next use); now its tabs: leased ones stay until
         * their handles release them, the rest go. The other browsers'
         * tabs are not touched. */
        for (render_ctx *x = b->ctxs; x; x = x->next)
            x->id[0] = 0;
        b->draining = 0;              /* the browser it measured is gone */
        b->pss = 0;
        for (silk_tab *t = r->tabs, *next; t; t = next) {
            next = t->next;
            if (t->b != b)
                continue;
            t->dead = 1;
            t->broken = 1;
            silk_render_fail_ops(t, SILK_RENDER_BROWSER_CRASHED, "the browser crashed");
            if (t->state != TAB_BUSY && t->state != TAB_OPENING)
                silk_render_tab_free(t);
        }
        return;
    }
    silk_tab *tab = silk_render_tab_of_target(b, silk_json_str(silk_json_get(p, "targetId")));
    if (!tab)
        return;
    if (strcmp(method, "Target.targetCrashed") == 0) {
        silk_render_tab_crashed(tab, SILK_RENDER_CRASHED, "the page's renderer crashed");
    } else if (strcmp(method, "Target.targetDestroyed") == 0 && tab->state != TAB_CLOSING) {
        tab->broken = 1;
        silk_render_fail_ops(tab, SILK_RENDER_CLOSED, "the page's target was destroyed");
        if (tab->state == TAB_IDLE)
            silk_render_tab_close(tab);
    }
}

static void around(int begin, void *ud)
{
    silk_render_batch(ud, begin);
}

/* --- the browser ----------------------------------------------------------------- */

render_browser *silk_render_browser_new(silk_render *r, int no)
{
    render_browser *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->r = r;
    b->no = no;
    silk_cdp_options o = { .renderer_limit = r->cfg.max_busy, .around = around, .around_ud = r, .weak = 1 };
    if (!(b->cdp = silk_cdp_new(r->loop, &o, on_browser_event, b))) {
        free(b);
        return NULL;
    }
    return b;
}

void silk_render_browser_free(render_browser *b)
{
    silk_render *r = b->r;
    silk_cdp_free(b->cdp);            /* fails pending calls: CLOSING and OPENING tabs are freed */
    b->cdp = NULL;
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->b == b)
            silk_render_tab_free(t);  /* and with the last tab of each, its context */
    }
    while (b->ctxs) {                 /* their tabs are gone, their creation failed */
        b->ctxs->refs = b->ctxs->creating = 0;
        silk_render_ctx_release(b->ctxs);
    }
    free(b);
}

int silk_render_browser_ensure(render_browser *b, char *err, size_t errsz)
{
    if (silk_cdp_running(b->cdp))
        return 0;
    if (silk_cdp_start(b->cdp, err, errsz) != 0)
        return -1;
    /* Target.targetCrashed and targetDestroyed come with discovery on */
    silk_cdp_call(b->cdp, NULL, "Target.setDiscoverTargets", silk_json_set_bool(json_object_new_object(), "discover", 1), NULL, NULL);
    silk_cdp_call(b->cdp, NULL, "Browser.setDownloadBehavior", silk_json_set_str(json_object_new_object(), "behavior", "deny"),
                  NULL, NULL);
    return 0;
}

/* Whether b holds an idle tab of context ctx_name (NULL: the default). */
static int has_idle(const render_browser *b, const char *ctx_name)
{
    for (const silk_tab *t = b->r->tabs; t; t = t->next)
        if (t->b == b && t->state == TAB_IDLE &&
            (t->ctx ? ctx_name && strcmp(t->ctx->name, ctx_name) == 0 : !ctx_name))
            return 1;
    return 0;
}

/* The browser a lease goes to: the least busy that is not draining; of
 * those, one that holds an idle tab of the lease's context (reusing a tab
 * is 2-2.5x cheaper than opening one), then the first. NULL when every
 * browser drains. */
render_browser *silk_render_browser_pick(silk_render *r, const char *ctx_name)
{
    render_browser *best = NULL;
    int best_idle = 0;
    for (int i = 0; i < r->cfg.browsers; i++) {
        render_browser *b = r->browsers[i];
        if (b->draining)
            continue;
        if (best && b->busy > best->busy)
            continue;
        int idle = r->cfg.browsers > 1 && has_idle(b, ctx_name);
        if (best && b->busy == best->busy && (!idle || best_idle))
            continue;
        best = b;
        best_idle = idle;
    }
    return best;
}

/* --- memory budget --------------------------------------------------------------- */

/* Over budget and nothing busy any more: the browser goes (render.h). */
void silk_render_browser_drained(render_browser *b)
{
    if (!b->draining || b->busy > 0)
        return;
    b->draining = 0;
    b->budget_recycles++;
    silk_cdp_stop(b->cdp, "over its memory budget");
}

void silk_render_browser_measure(render_browser *b)
{
    long pss = silk_render_browser_up(b) ? silk_cdp_pss(b->cdp) : 0;
    b->pss = pss > 0 ? (double)pss : 0;
}

void silk_render_browser_check_budget(render_browser *b)
{
    silk_render *r = b->r;
    if (b->draining || !silk_render_browser_up(b))
        return;
    silk_render_browser_measure(b);
    if (b->pss <= r->cfg.memory_budget)
        return;
    b->draining = 1;
    for (silk_tab *t = r->tabs, *next; t; t = next) {
        next = t->next;
        if (t->b == b && t->state == TAB_IDLE)
            silk_render_tab_close(t);
    }
}
