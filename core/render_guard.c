/*
 * render_guard.c -- what a tab's paused requests go through: the main
 * document's response kept, block patterns, deny_private (with host names
 * resolved off the loop) and the size cap; see silk_tab_set_guard in
 * render.h.
 */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch.h"
#include "render_int.h"
#include "resolve.h"
#include "url.h"

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
                       const char *const *block, int nblock, double max_size)
{
    char **a = NULL, **b = NULL;
    int na = 0, nb = 0;
    if (set_list(&a, &na, allow, nallow) != 0 || set_list(&b, &nb, block, nblock) != 0) {
        set_list(&a, &na, NULL, 0);
        return -1;
    }
    silk_render_tab_guard_free(tab);
    tab->allow = a;
    tab->nallow = na;
    tab->block = b;
    tab->nblock = nb;
    tab->deny_private = deny_private;
    tab->max_size = max_size > 0 ? max_size : 0;
    return 0;
}

void silk_render_tab_guard_free(silk_tab *tab)
{
    set_list(&tab->allow, &tab->nallow, NULL, 0);
    set_list(&tab->block, &tab->nblock, NULL, 0);
}

/* Appends {urlPattern, resourceType (unless NULL), requestStage} to the
 * array a and returns it; NULL, with a released, when memory runs out. */
static json_object *add_pattern(json_object *a, const char *url, const char *type, const char *stage)
{
    json_object *o = silk_json_set_str(json_object_new_object(), "urlPattern", url);
    if (type)
        o = silk_json_set_str(o, "resourceType", type);
    o = silk_json_set_str(o, "requestStage", stage);
    if (a && o && json_object_array_add(a, o) == 0)
        return a;
    json_object_put(o);
    json_object_put(a);
    return NULL;
}

json_object *silk_render_fetch_patterns(int deny_private, const char *const *block, int nblock, int capped)
{
    json_object *a = add_pattern(json_object_new_array(), "*", capped ? NULL : "Document", "Response");
    if (deny_private)
        a = add_pattern(a, "*", NULL, "Request");
    for (int i = 0; !deny_private && i < nblock; i++)
        a = add_pattern(a, block[i], NULL, "Request");
    return a;
}

/* --- deny_private ------------------------------------------------------------- */

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

static void fail_request(silk_tab *tab, const char *id, const char *reason)
{
    silk_cdp_call(tab->b->cdp, tab->session, "Fetch.failRequest",
                  silk_json_set_str(silk_json_set_str(json_object_new_object(), "requestId", id),
                                    "errorReason", reason),
                  NULL, NULL);
}

static void continue_request(silk_tab *tab, const char *id)
{
    silk_cdp_call(tab->b->cdp, tab->session, "Fetch.continueRequest",
                  silk_json_set_str(json_object_new_object(), "requestId", id), NULL, NULL);
}

static void finish_paused(silk_tab *tab, const char *id, silk_resolve_verdict v)
{
    if (v == SILK_RESOLVE_PUBLIC) {
        continue_request(tab, id);
        return;
    }
    if (v == SILK_RESOLVE_PRIVATE)
        tab->r->st.blocked++;
    fail_request(tab, id, v == SILK_RESOLVE_PRIVATE ? "BlockedByClient" : "NameNotResolved");
}

static void on_resolved(silk_resolve_verdict v, void *ud)
{
    paused *p = ud;
    silk_tab *tab = v != SILK_RESOLVE_CANCELLED ? silk_render_tab_of_session(p->r, p->session) : NULL;
    if (tab && silk_render_browser_up(tab->b))
        finish_paused(tab, p->request, v);
    free(p->request);
    free(p);
}

/* --- the response stage ----------------------------------------------------------- */

/* The main frame's document response, kept as {status, headers = {name:
 * value}, url} for silk_tab_response. */
static void keep_document(silk_tab *tab, json_object *p)
{
    const char *frame = silk_json_str(silk_json_get(p, "frameId"));
    const char *type = silk_json_str(silk_json_get(p, "resourceType"));
    json_object *status = silk_json_get(p, "responseStatusCode");
    const char *url = silk_json_str(silk_json_get(silk_json_get(p, "request"), "url"));
    if (!frame || strcmp(frame, tab->target) != 0 || !json_object_is_type(status, json_type_int) ||
        (type && strcmp(type, "Document") != 0) || !url)
        return;
    json_object *headers = json_object_new_object();
    json_object *hs = silk_json_get(p, "responseHeaders");
    for (size_t i = 0, n = silk_json_len(hs); headers && i < n; i++) {
        json_object *h = json_object_array_get_idx(hs, i);
        const char *k = silk_json_str(silk_json_get(h, "name"));
        const char *v = silk_json_str(silk_json_get(h, "value"));
        if (k && v)                   /* the browser joins repeats with \n */
            headers = silk_json_set_str(headers, k, v);
    }
    json_object *res = silk_json_set(json_object_new_object(), "status", json_object_get(status));
    res = silk_json_set(res, "headers", headers);
    json_object_put(tab->response);
    tab->response = silk_json_set_str(res, "url", url);
    tab->response_loader[0] = 0;
}

/* The Content-Length a paused response declares, or -1 without one. */
static double declared_length(json_object *p)
{
    json_object *hs = silk_json_get(p, "responseHeaders");
    for (size_t i = 0, count = silk_json_len(hs); i < count; i++) {
        json_object *h = json_object_array_get_idx(hs, i);
        const char *k = silk_json_str(silk_json_get(h, "name"));
        const char *v = silk_json_str(silk_json_get(h, "value"));
        if (k && v && strcasecmp(k, "content-length") == 0) {
            char *end;
            double n = strtod(v, &end);
            return end != v && n >= 0 ? n : -1;
        }
    }
    return -1;
}

/* A response paused at the response stage: documents' always (the
 * pattern every tab has), every one under a size cap. Over the cap it
 * fails before its body is read; else it goes on. */
static void response_paused(silk_tab *tab, const char *id, json_object *p)
{
    keep_document(tab, p);
    double len = tab->max_size > 0 ? declared_length(p) : -1;
    if (len > tab->max_size) {
        tab->r->st.oversize++;
        tab->r->st.oversize_bytes += len;
        fail_request(tab, id, "BlockedByClient");
        return;
    }
    continue_request(tab, id);
}

void silk_render_request_paused(silk_tab *tab, json_object *p)
{
    silk_render *r = tab->r;
    const char *id = silk_json_str(silk_json_get(p, "requestId"));
    const char *url = silk_json_str(silk_json_get(silk_json_get(p, "request"), "url"));
    if (!id)
        return;
    if (silk_json_get(p, "responseStatusCode") || silk_json_get(p, "responseErrorReason")) {
        response_paused(tab, id, p);
        return;
    }
    for (int i = 0; url && i < tab->nblock; i++) {
        if (fnmatch(tab->block[i], url, 0) == 0) {
            r->st.filtered++;
            fail_request(tab, id, "BlockedByClient");
            return;
        }
    }
    char name[256];
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
    finish_paused(tab, id, g == GUARD_PASS ? SILK_RESOLVE_PUBLIC : SILK_RESOLVE_PRIVATE);
}
