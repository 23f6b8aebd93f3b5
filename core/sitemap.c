/*
 * sitemap.c -- sitemap parser on expat (and zlib for .xml.gz); see sitemap.h.
 *
 * One pass, streaming: the bytes (or the inflated bytes, 64 KiB at a time)
 * go to an expat parser whose handlers keep a small state machine: the
 * element depth, whether we are inside an entry (<url>/<sitemap> at depth 2)
 * and which field (<loc>, ... at depth 3) collects text into a bounded
 * buffer. Any failure inside a handler records a code and stops the parser;
 * the caller then reports that code rather than expat's "aborted".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <zlib.h>

#include "sitemap.h"

enum { F_NONE = 0, F_LOC, F_LASTMOD, F_CHANGEFREQ, F_PRIORITY, F_COUNT_ };

typedef struct ps {
    XML_Parser xp;
    silk_sitemap_limits lim;
    silk_sitemap *sm;
    size_t cap;
    int depth;
    int in_entry;   /* inside <url>/<sitemap> */
    int field;      /* F_* collecting text */
    char *text[F_COUNT_]; /* collected fields of the current entry */
    char *buf;      /* text of the current field, max_loc + 1 bytes */
    size_t blen;
    int overflow;   /* the current field outgrew buf */
    int loc_too_long;
    int rc;         /* our reason for stopping the parser (0: none) */
    char msg[160];
} ps;

static void stop(ps *p, int rc, const char *msg)
{
    if (p->rc)
        return;
    p->rc = rc;
    snprintf(p->msg, sizeof p->msg, "%s", msg);
    XML_StopParser(p->xp, XML_FALSE);
}

/* The local part of a possibly prefixed name ("sm:loc" -> "loc"). */
static const char *local(const XML_Char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static int field_of(const char *n)
{
    if (strcmp(n, "loc") == 0)
        return F_LOC;
    if (strcmp(n, "lastmod") == 0)
        return F_LASTMOD;
    if (strcmp(n, "changefreq") == 0)
        return F_CHANGEFREQ;
    if (strcmp(n, "priority") == 0)
        return F_PRIORITY;
    return F_NONE;
}

static void clear_entry(ps *p)
{
    for (int i = 0; i < F_COUNT_; i++) {
        free(p->text[i]);
        p->text[i] = NULL;
    }
    p->loc_too_long = 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    ps *p = ud;
    const char *n = local(name);
    p->depth++;
    if (p->depth == 1) {
        if (strcmp(n, "urlset") == 0)
            p->sm->kind = SILK_SITEMAP_URLSET;
        else if (strcmp(n, "sitemapindex") == 0)
            p->sm->kind = SILK_SITEMAP_INDEX;
        else {
            char m[160];
            snprintf(m, sizeof m, "not a sitemap: the root element is <%.64s>, not <urlset> or "
                                  "<sitemapindex>", name);
            stop(p, SILK_SITEMAP_ENOTSITEMAP, m);
        }
    } else if (p->depth == 2) {
        const char *want = p->sm->kind == SILK_SITEMAP_INDEX ? "sitemap" : "url";
        p->in_entry = strcmp(n, want) == 0;
    } else if (p->depth == 3 && p->in_entry) {
        p->field = field_of(n);
        p->blen = 0;
        p->overflow = 0;
    }
}

static char *trimmed_copy(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

static void add_entry(ps *p)
{
    char *loc = p->text[F_LOC];
    if (!loc || !*loc || p->loc_too_long) {
        p->sm->skipped++;
        return;
    }
    if (p->sm->n == p->lim.max_urls) {
        p->sm->truncated = 1;
        XML_StopParser(p->xp, XML_FALSE); /* not an error: rc stays 0 */
        return;
    }
    if (p->sm->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        silk_sitemap_entry *ne = realloc(p->sm->entries, ncap * sizeof *ne);
        if (!ne) {
            stop(p, SILK_SITEMAP_ENOMEM, "not enough memory");
            return;
        }
        p->sm->entries = ne;
        p->cap = ncap;
    }
    silk_sitemap_entry *e = &p->sm->entries[p->sm->n++];
    e->loc = loc;
    e->lastmod = p->text[F_LASTMOD];
    e->changefreq = p->text[F_CHANGEFREQ];
    e->priority = -1;
    if (p->text[F_PRIORITY]) {
        char *end;
        double v = strtod(p->text[F_PRIORITY], &end);
        if (end != p->text[F_PRIORITY] && !*end && v >= 0 && v <= 1)
            e->priority = v;
        free(p->text[F_PRIORITY]);
    }
    for (int i = 0; i < F_COUNT_; i++)
        p->text[i] = NULL; /* moved into e */
}

static void on_end(void *ud, const XML_Char *name)
{
    ps *p = ud;
    if (p->depth == 3 && p->in_entry && p->field) {
        int f = p->field;
        p->field = F_NONE;
        if (p->overflow) {
            if (f == F_LOC)
                p->loc_too_long = 1;
        } else if (!p->text[f]) { /* the first occurrence counts */
            p->text[f] = trimmed_copy(p->buf, p->blen);
            if (!p->text[f])
                stop(p, SILK_SITEMAP_ENOMEM, "not enough memory");
        }
    } else if (p->depth == 2 && p->in_entry) {
        add_entry(p);
        clear_entry(p);
        p->in_entry = 0;
    }
    p->depth--;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    ps *p = ud;
    if (!p->field || p->overflow || p->depth != 3)
        return;
    if (p->blen + (size_t)len > p->lim.max_loc) {
        p->overflow = 1;
        return;
    }
    memcpy(p->buf + p->blen, s, (size_t)len);
    p->blen += (size_t)len;
}

static void on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                           int vlen, const XML_Char *base, const XML_Char *sys,
                           const XML_Char *pub, const XML_Char *notation)
{
    stop(ud, SILK_SITEMAP_ENOTXML, "entity declarations are not allowed in a sitemap");
}

/* Feeds one piece to expat. Returns 0 to go on, 1 when the parser stopped
 * without error (truncated), or a SILK_SITEMAP_E* code (message in p). */
static int feed(ps *p, const char *data, size_t len, int final)
{
    while (len || final) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        int last = final && (size_t)n == len;
        if (XML_Parse(p->xp, data, n, last) == XML_STATUS_ERROR) {
            if (p->rc)
                return p->rc;
            if (XML_GetErrorCode(p->xp) == XML_ERROR_ABORTED && p->sm->truncated)
                return 1;
            snprintf(p->msg, sizeof p->msg, "not XML: %s at line %lu, column %lu",
                     XML_ErrorString(XML_GetErrorCode(p->xp)),
                     (unsigned long)XML_GetCurrentLineNumber(p->xp),
                     (unsigned long)XML_GetCurrentColumnNumber(p->xp));
            return SILK_SITEMAP_ENOTXML;
        }
        if (last)
            break;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int parse_gzip(ps *p, const unsigned char *in, size_t len)
{
    z_stream zs;
    unsigned char out[65536];
    size_t total = 0;
    int rc = 0, zrc;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        snprintf(p->msg, sizeof p->msg, "not enough memory");
        return SILK_SITEMAP_ENOMEM;
    }
    zs.next_in = (unsigned char *)in;
    for (;;) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        zs.avail_in = (uInt)chunk;
        len -= chunk;
        do {
            zs.next_out = out;
            zs.avail_out = sizeof out;
            zrc = inflate(&zs, Z_NO_FLUSH);
            size_t got = sizeof out - zs.avail_out;
            if (zrc == Z_NEED_DICT || zrc == Z_DATA_ERROR || zrc == Z_MEM_ERROR ||
                zrc == Z_STREAM_ERROR) {
                snprintf(p->msg, sizeof p->msg, "bad gzip data: %s", zs.msg ? zs.msg : "error");
                rc = zrc == Z_MEM_ERROR ? SILK_SITEMAP_ENOMEM : SILK_SITEMAP_EGZIP;
                goto done;
            }
            total += got;
            if (total > p->lim.max_bytes) {
                snprintf(p->msg, sizeof p->msg, "sitemap larger than %zu bytes decompressed",
                         p->lim.max_bytes);
                rc = SILK_SITEMAP_ETOOLARGE;
                goto done;
            }
            if (got && (rc = feed(p, (const char *)out, got, 0)) != 0)
                goto done;
            if (zrc == Z_STREAM_END) {
                /* another gzip member may follow (concatenated .gz files) */
                if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
                    inflateReset(&zs);
                    zrc = Z_OK;
                    continue;
                }
                goto end;
            }
        } while (zs.avail_out == 0 || zs.avail_in > 0);
        if (!len)
            break;
    }
    if (zrc != Z_STREAM_END) {
        snprintf(p->msg, sizeof p->msg, "bad gzip data: the stream is cut short");
        rc = SILK_SITEMAP_EGZIP;
        goto done;
    }
end:
    rc = feed(p, NULL, 0, 1);
done:
    inflateEnd(&zs);
    return rc;
}

void silk_sitemap_free(silk_sitemap *sm)
{
    if (!sm)
        return;
    for (size_t i = 0; i < sm->n; i++) {
        free(sm->entries[i].loc);
        free(sm->entries[i].lastmod);
        free(sm->entries[i].changefreq);
    }
    free(sm->entries);
    free(sm);
}

int silk_sitemap_parse(const char *data, size_t len, const silk_sitemap_limits *lim,
                       silk_sitemap **out, char *err, size_t errlen)
{
    ps p;
    int rc;
    memset(&p, 0, sizeof p);
    *out = NULL;
    p.lim.max_bytes = lim && lim->max_bytes ? lim->max_bytes : SILK_SITEMAP_MAX_BYTES;
    p.lim.max_urls = lim && lim->max_urls ? lim->max_urls : SILK_SITEMAP_MAX_URLS;
    p.lim.max_loc = lim && lim->max_loc ? lim->max_loc : SILK_SITEMAP_MAX_LOC;
    p.sm = calloc(1, sizeof *p.sm);
    p.buf = malloc(p.lim.max_loc + 1);
    p.xp = XML_ParserCreate(NULL);
    if (!p.sm || !p.buf || !p.xp) {
        rc = SILK_SITEMAP_ENOMEM;
        snprintf(p.msg, sizeof p.msg, "not enough memory");
        goto done;
    }
    XML_SetUserData(p.xp, &p);
    XML_SetElementHandler(p.xp, on_start, on_end);
    XML_SetCharacterDataHandler(p.xp, on_text);
    XML_SetEntityDeclHandler(p.xp, on_entity_decl);
    if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
        rc = parse_gzip(&p, (const unsigned char *)data, len);
    } else if (len > p.lim.max_bytes) {
        snprintf(p.msg, sizeof p.msg, "sitemap larger than %zu bytes", p.lim.max_bytes);
        rc = SILK_SITEMAP_ETOOLARGE;
    } else {
        rc = feed(&p, data, len, 1);
    }
    if (rc == 1)
        rc = 0; /* truncated at max_urls: a result */
    if (rc == 0 && !p.sm->kind) {
        snprintf(p.msg, sizeof p.msg, "not a sitemap: no root element");
        rc = SILK_SITEMAP_ENOTSITEMAP;
    }
done:
    clear_entry(&p);
    free(p.buf);
    if (p.xp)
        XML_ParserFree(p.xp);
    if (rc) {
        silk_sitemap_free(p.sm);
        if (errlen)
            snprintf(err, errlen, "%s", p.msg);
        return rc;
    }
    *out = p.sm;
    if (errlen)
        err[0] = '\0';
    return 0;
}
