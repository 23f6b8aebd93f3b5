/*
 * render_guard.c -- what a tab's paused requests go through: the main
 * document's response kept, block patterns, deny_private (with host names
 * resolved off the loop) and the size cap; see silk_tab_set_guard in
 * render.h.
 */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
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

json_t *silk_render_fetch_patterns(int deny_private, const char *const *block, int nblock, int capped)
{
    json_t *a = capped ? json_pack("[{s:s,s:s}]", "urlPattern", "*", "requestStage", "Response")
                       : json_pack("[{s:s,s:s,s:s}]", "urlPattern", "*", "resourceType", "Document",
                                   "requestStage", "Response");
    if (a && deny_private)
        json_array_append_new(a, json_pack("{s:s,s:s}", "urlPattern", "*", "requestStage", "Request"));
    for (int i = 0; a && !deny_private && i < nblock; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "urlPattern", block[i], "requestStage", "Request"));
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
                  json_pack("{s:s,s:s}", "requestId", id, "errorReason", reason), NULL, NULL);
}

static void continue_request(silk_tab *tab, const char *id)
{
    silk_cdp_call(tab->b->cdp, tab->session, "Fetch.continueRequest", json_pack("{s:s}", "requestId", id),
                  NULL, NULL);
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
static void keep_document(silk_tab *tab, json_t *p)
{
    const char *frame = json_string_value(json_object_get(p, "frameId"));
    const char *type = json_string_value(json_object_get(p, "resourceType"));
    json_t *status = json_object_get(p, "responseStatusCode");
    if (!frame || strcmp(frame, tab->target) != 0 || !json_is_integer(status) ||
        (type && strcmp(type, "Document") != 0))
        return;
    json_t *headers = json_object(), *h;
    size_t i;
    json_array_foreach(json_object_get(p, "responseHeaders"), i, h) {
        const char *k = json_string_value(json_object_get(h, "name"));
        json_t *v = json_object_get(h, "value");
        if (k && json_is_string(v))
            json_object_set(headers, k, v);   /* the browser joins repeats with \n */
    }
    json_decref(tab->response);
    tab->response = json_pack("{s:O,s:o,s:O}", "status", status, "headers", headers,
                              "url", json_object_get(json_object_get(p, "request"), "url"));
    tab->response_loader[0] = 0;
}

/* The Content-Length a paused response declares, or -1 without one. */
static double declared_length(json_t *p)
{
    json_t *h;
    size_t i;
    json_array_foreach(json_object_get(p, "responseHeaders"), i, h) {
        const char *k = json_string_value(json_object_get(h, "name"));
        const char *v = json_string_value(json_object_get(h, "value"));
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
static void response_paused(silk_tab *tab, const char *id, json_t *p)
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

void silk_render_request_paused(silk_tab *tab, json_t *p)
{
    silk_render *r = tab->r;
    const char *id = json_string_value(json_object_get(p, "requestId"));
    const char *url = json_string_value(json_object_get(json_object_get(p, "request"), "url"));
    if (!id)
        return;
    if (json_object_get(p, "responseStatusCode") || json_object_get(p, "responseErrorReason")) {
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
