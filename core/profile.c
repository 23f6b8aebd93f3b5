/*
 * profile.c -- folded Lua stacks from the preemption ticks, and the SVG
 * flame graph writer; see profile.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <luajit.h>

#include "preempt.h"
#include "profile.h"

#define STACK_MAX 4096            /* bytes of one folded stack; deeper ones are cut at the root */
#define STACK_DEPTH 64            /* frames dumped */
#define TABLE_MAX (1 << 16)       /* distinct stacks kept; more count as "[other]" */

typedef struct entry {
    char *stack;                  /* malloc'd; NULL: empty slot */
    uint32_t hash;
    long count;
} entry;

struct silk_profile {
    silk_engine *e;
    entry *tab;                   /* open addressing, power-of-two size */
    size_t cap, used;
    long samples;
    long other;                   /* samples of stacks that did not fit in the table */
    int sampling;
};

static silk_profile *active;      /* the profile plugged into the sampler, or NULL */

static uint32_t hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u;     /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int grow(silk_profile *p)
{
    size_t cap = p->cap ? p->cap * 2 : 1024;
    entry *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    for (size_t i = 0; i < p->cap; i++) {
        if (!p->tab[i].stack)
            continue;
        size_t j = p->tab[i].hash & (cap - 1);
        while (tab[j].stack)
            j = (j + 1) & (cap - 1);
        tab[j] = p->tab[i];
    }
    free(p->tab);
    p->tab = tab;
    p->cap = cap;
    return 0;
}

/* Adds n samples to stack s (len bytes, not terminated). Allocates with
 * malloc only; on failure the samples count as "[other]". */
static void count_stack(silk_profile *p, const char *s, size_t len, long n)
{
    uint32_t h = hash_str(s, len);
    size_t i = h & (p->cap - 1);
    for (; p->tab[i].stack; i = (i + 1) & (p->cap - 1))
        if (p->tab[i].hash == h && strncmp(p->tab[i].stack, s, len) == 0 && p->tab[i].stack[len] == '\0') {
            p->tab[i].count += n;
            return;
        }
    if ((p->used + 1) * 2 > p->cap) {     /* keep the load under one half */
        if (p->used >= TABLE_MAX || grow(p) != 0) {
            p->other += n;
            return;
        }
        for (i = h & (p->cap - 1); p->tab[i].stack; i = (i + 1) & (p->cap - 1))
            ;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        p->other += n;
        return;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    p->tab[i].stack = copy;
    p->tab[i].hash = h;
    p->tab[i].count = n;
    p->used++;
}

/* The sampler: runs inside the VM at a safe point. No Lua allocation, no
 * raising: the dump is LuaJIT's own buffer, copied at once. */
static void on_tick(void *ud, lua_State *L, int samples, int vmstate)
{
    silk_profile *p = ud;
    char buf[STACK_MAX + 8];
    size_t len = 0;
    const char *s = luaJIT_profile_dumpstack(L, "FZ;", -STACK_DEPTH, &len);
    if (!s || len == 0) {
        s = "[no Lua frame]";
        len = strlen(s);
    }
    if (len > STACK_MAX) {                /* keep the leaf end: that is where the time is */
        s += len - STACK_MAX;
        len = STACK_MAX;
    }
    memcpy(buf, s, len);
    const char *leaf = vmstate == 'G' ? ";[gc]" : vmstate == 'J' ? ";[jit]" : "";
    size_t ll = strlen(leaf);
    memcpy(buf + len, leaf, ll);
    len += ll;
    for (size_t i = 0; i < len; i++)       /* a space would break the folded format */
        if (buf[i] == ' ' || buf[i] == '\n')
            buf[i] = '_';
    long n = samples > 0 ? samples : 1;
    p->samples += n;
    count_stack(p, buf, len, n);
}

silk_profile *silk_profile_start(silk_engine *e, char *err, size_t errlen)
{
    if (!silk_engine_opts(e)->preempt) {
        snprintf(err, errlen, "profile: preemption is off (--no-preempt): no profiler ticks");
        return NULL;
    }
    if (active) {
        snprintf(err, errlen, "profile: another profile is sampling");
        return NULL;
    }
    silk_profile *p = calloc(1, sizeof *p);
    if (!p || grow(p) != 0) {
        free(p);
        snprintf(err, errlen, "profile: out of memory");
        return NULL;
    }
    p->e = e;
    p->sampling = 1;
    active = p;
    silk_preempt_sampler(on_tick, p);
    return p;
}

void silk_profile_stop(silk_profile *p)
{
    if (!p || !p->sampling)
        return;
    p->sampling = 0;
    if (active == p) {
        silk_preempt_sampler(NULL, NULL);
        active = NULL;
    }
}

long silk_profile_samples(silk_profile *p)
{
    return p ? p->samples : 0;
}

void silk_profile_free(silk_profile *p)
{
    if (!p)
        return;
    silk_profile_stop(p);
    for (size_t i = 0; i < p->cap; i++)
        free(p->tab[i].stack);
    free(p->tab);
    free(p);
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    return strcmp(x->stack, y->stack);
}

/* The stacks sorted by name (so that a merged tree comes out in order). A
 * malloc'd array of pointers into p->tab; *n gets its length. */
static entry **sorted(silk_profile *p, size_t *n)
{
    entry **v = malloc((p->used ? p->used : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < p->cap; i++)
        if (p->tab[i].stack)
            v[k++] = &p->tab[i];
    qsort(v, k, sizeof *v, cmp_entry);
    *n = k;
    return v;
}

int silk_profile_write_folded(silk_profile *p, const char *path, char *err, size_t errlen)
{
    size_t n;
    entry **v = sorted(p, &n);
    FILE *f = v ? fopen(path, "w") : NULL;
    if (!f) {
        snprintf(err, errlen, "profile: %s: %s", path, v ? strerror(errno) : "out of memory");
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %ld\n", v[i]->stack, v[i]->count);
    if (p->other)
        fprintf(f, "[other] %ld\n", p->other);
    free(v);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "profile: %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* --- the flame graph ------------------------------------------------------------ */

typedef struct node {
    const char *name;             /* points into an entry's stack (not terminated) */
    size_t len;
    long total;
    struct node *child, *last, *next;
} node;

#define SVG_WIDTH 1200.0
#define FRAME_H 17
#define PAD_TOP 44
#define PAD_BOTTOM 24
#define MIN_WIDTH 0.3             /* px: narrower frames are not drawn */

static node *child_of(node *parent, const char *name, size_t len)
{
    /* Stacks come sorted, so a frame merges with the last child or is new. */
    node *c = parent->last;
    if (c && c->len == len && memcmp(c->name, name, len) == 0)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->name = name;
    c->len = len;
    if (parent->last)
        parent->last->next = c;
    else
        parent->child = c;
    parent->last = c;
    return c;
}

static void free_tree(node *n)
{
    for (node *c = n->child, *next; c; c = next) {
        next = c->next;
        free_tree(c);
        free(c);
    }
}

static int depth_of(const node *n)
{
    int d = 0;
    for (const node *c = n->child; c; c = c->next) {
        int cd = depth_of(c);
        if (cd > d)
            d = cd;
    }
    return d + 1;
}

static void put_escaped(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(s[i], f);
        }
    }
}

/* Warm colours by name, so a function keeps its colour between graphs;
 * synthetic frames ([gc], [jit], [C]...) in blue. */
static void colour(const char *name, size_t len, char *out, size_t outlen)
{
    uint32_t h = hash_str(name, len);
    if (len && name[0] == '[') {
        snprintf(out, outlen, "rgb(%u,%u,%u)", 80 + h % 40, 140 + (h >> 8) % 50, 220 + (h >> 16) % 30);
        return;
    }
    snprintf(out, outlen, "rgb(%u,%u,%u)", 205 + h % 50, 80 + (h >> 8) % 140, 40 + (h >> 16) % 40);
}

static void draw(FILE *f, const node *n, double x, int level, int height, double scale, long all)
{
    double w = (double)n->total * scale;
    if (w < MIN_WIDTH)
        return;
    double y = height - PAD_BOTTOM - (level + 1) * FRAME_H;
    char fill[32];
    colour(n->name, n->len, fill, sizeof fill);
    fputs("<g><title>", f);
    put_escaped(f, n->name, n->len);
    fprintf(f, " (%ld sample%s, %.2f%%)</title>", n->total, n->total == 1 ? "" : "s",
            100.0 * (double)n->total / (double)(all ? all : 1));
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
            x, y, w, FRAME_H - 1, fill);
    size_t fit = w > 10 ? (size_t)((w - 6) / 6.6) : 0;
    if (fit >= 3) {
        fprintf(f, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + FRAME_H - 5);
        if (n->len <= fit) {
            put_escaped(f, n->name, n->len);
        } else {
            put_escaped(f, n->name, fit - 2);
            fputs("..", f);
        }
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    double cx = x;
    for (const node *c = n->child; c; c = c->next) {
        draw(f, c, cx, level + 1, height, scale, all);
        cx += (double)c->total * scale;
    }
}

int silk_profile_write_svg(silk_profile *p, const char *path, const char *title, char *err, size_t errlen)
{
    size_t n;
    entry **v = sorted(p, &n);
    if (!v) {
        snprintf(err, errlen, "profile: out of memory");
        return -1;
    }
    node root = {"all", 3, 0, NULL, NULL, NULL};
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        node *at = &root;
        root.total += v[i]->count;
        for (const char *s = v[i]->stack; at;) {
            const char *semi = strchr(s, ';');
            size_t len = semi ? (size_t)(semi - s) : strlen(s);
            at = child_of(at, s, len);
            if (!at)
                break;
            at->total += v[i]->count;
            if (!semi)
                break;
            s = semi + 1;
        }
        if (!at && v[i]) {
            snprintf(err, errlen, "profile: out of memory");
            goto done;
        }
    }
    if (p->other) {
        node *o = child_of(&root, "[other]", 7);
        if (o)
            o->total += p->other;
        root.total += p->other;
    }
    int levels = depth_of(&root);
    int height = PAD_TOP + levels * FRAME_H + PAD_BOTTOM;
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "profile: %s: %s", path, strerror(errno));
        goto done;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\" "
               "viewBox=\"0 0 %.0f %d\" font-family=\"monospace\" font-size=\"11\">\n"
               "<style>g:hover rect{stroke:#000;stroke-width:1} text{pointer-events:none}</style>\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f4ec\"/>\n"
               "<text x=\"%.0f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">",
            SVG_WIDTH + 20, height, SVG_WIDTH + 20, height, (SVG_WIDTH + 20) / 2);
    put_escaped(f, title ? title : "silk flame graph", strlen(title ? title : "silk flame graph"));
    fprintf(f, "</text>\n<text x=\"%.0f\" y=\"38\" text-anchor=\"middle\" fill=\"#555\">"
               "%ld samples of Lua time (profiler ticks); hover a frame for its share</text>\n",
            (SVG_WIDTH + 20) / 2, root.total);
    if (root.total > 0)
        draw(f, &root, 10, 0, height, SVG_WIDTH / (double)root.total, root.total);
    else
        fprintf(f, "<text x=\"20\" y=\"%d\">no samples (no Lua code ran while profiling)</text>\n",
                height - PAD_BOTTOM - 4);
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "profile: %s: %s", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free_tree(&root);
    free(v);
    return rc;
}

int silk_profile_write(silk_profile *p, const char *svg_path, char *err, size_t errlen)
{
    size_t len = strlen(svg_path);
    char *folded = malloc(len + 8);
    if (!folded) {
        snprintf(err, errlen, "profile: out of memory");
        return -1;
    }
    if (len > 4 && strcmp(svg_path + len - 4, ".svg") == 0)
        snprintf(folded, len + 8, "%.*s.folded", (int)(len - 4), svg_path);
    else
        snprintf(folded, len + 8, "%s.folded", svg_path);
    int rc = silk_profile_write_folded(p, folded, err, errlen);
    if (rc == 0)
        rc = silk_profile_write_svg(p, svg_path, NULL, err, errlen);
    free(folded);
    return rc;
}
