/*
 * robots.c -- RFC 9309 robots.txt parser and matcher; see robots.h.
 *
 * Representation (built once, then read-only):
 *   pool     one byte array holding every normalised pattern, agent token and
 *            sitemap URL; everything else refers to it by offset
 *   rules    32 bytes each; the rules of a group are contiguous and sorted by
 *            priority (pattern length, '$' counted) descending, allow first
 *   groups   a rule range and the group's crawl-delay
 *   agents   (token, group) pairs sorted by token then group, so the groups
 *            of one agent are a contiguous run found by binary search
 * A match normalises the path once, finds the agent's run, and walks each
 * group's rules from the longest until the first that matches (later rules
 * are shorter, so cannot win). Most rules are rejected by one 64-bit compare
 * of their first literal bytes; then the literal prefix is one memcmp and
 * only the part from the first '*' on needs the wildcard matcher.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "robots.h"

enum { RULE_WILD = 1, RULE_ANCHOR = 2 };

struct rule {
    uint64_t head, mask; /* the first (up to 8) literal bytes, for a one-compare reject */
    uint32_t off;        /* pattern in pool, normalised, without the final '$' */
    uint16_t len;        /* <= SILK_ROBOTS_MAX_PATTERN */
    uint16_t lit;        /* bytes before the first '*' (len when none) */
    uint8_t allow;       /* 1 allow, 0 disallow */
    uint8_t flags;       /* RULE_* */
};

struct group {
    uint32_t first, count; /* rules[first .. first+count) */
    double delay;          /* seconds, valid when has_delay */
    int has_delay;
};

struct agent {
    uint32_t off, len; /* lowercase product token in pool, or "*" */
    uint32_t group;
};

struct silk_robots {
    char *pool;
    size_t pool_len, pool_cap;
    struct rule *rules;
    size_t nrules, rules_cap;
    struct group *groups;
    size_t ngroups, groups_cap;
    struct agent *agents;
    size_t nagents, agents_cap;
    uint32_t *sitemaps; /* offsets of NUL-terminated URLs in pool */
    size_t nsitemaps, sitemaps_cap;
};

/* ---- helpers ------------------------------------------------------------- */

static int to_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_space(int c) { return c == ' ' || c == '\t'; }
static int is_token(int c) { return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '-' || c == '_'; }

static int hex_val(int c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int is_unreserved(int c)
{
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || is_digit(c) || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* Makes room for n more elements of size elem in *p (capacity *cap). */
static int grow(void **p, size_t *cap, size_t used, size_t n, size_t elem)
{
    if (used + n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < used + n)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return SILK_ROBOTS_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Writes the normalised form of s[0..n) to out, which has room for 3n bytes:
 * %XX of unreserved characters decoded, other %XX uppercased, controls,
 * space, DEL, non-ASCII bytes and '$' percent-encoded, and '*' too unless
 * `wild` (a pattern, where '*' is the wildcard). So a pattern's %2A and %24
 * stay escapes and match a path's literal '*' and '$' (RFC 9309 2.2.3),
 * which the path side encodes the same way. Returns the length. */
static size_t normalise(const char *s, size_t n, int wild, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = hex_val(s[i + 1])) >= 0 && (lo = hex_val(s[i + 2])) >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (is_unreserved(c)) {
                *o++ = (char)c;
                continue;
            }
        } else if (c > 0x20 && c < 0x7f && c != '$' && (c != '*' || wild)) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '%';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
    return (size_t)(o - out);
}

/* Length of the product token at s (the leading run of [A-Za-z_-]). */
static size_t token_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_token((unsigned char)s[i]))
        i++;
    return i;
}

/* ---- parsing ------------------------------------------------------------- */

enum key { K_OTHER, K_AGENT, K_ALLOW, K_DISALLOW, K_DELAY, K_SITEMAP };

struct parser {
    struct silk_robots *r;
    long group;    /* current group, -1 before the first user-agent */
    int in_agents; /* the previous group line was a user-agent line */
    int err;
};

static enum key classify(const char *k, size_t n)
{
    static const struct {
        const char *name;
        enum key key;
    } keys[] = {
        {"user-agent", K_AGENT}, {"useragent", K_AGENT}, {"user agent", K_AGENT},
        {"allow", K_ALLOW},      {"disallow", K_DISALLOW}, {"crawl-delay", K_DELAY},
        {"crawldelay", K_DELAY}, {"sitemap", K_SITEMAP}, {"site-map", K_SITEMAP},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].name) == n && strncasecmp(keys[i].name, k, n) == 0)
            return keys[i].key;
    return K_OTHER;
}

static uint32_t pool_put(struct parser *ps, const char *s, size_t n)
{
    struct silk_robots *r = ps->r;
    if (ps->err || (ps->err = grow((void **)&r->pool, &r->pool_cap, r->pool_len, n + 1, 1)))
        return 0;
    uint32_t off = (uint32_t)r->pool_len;
    memcpy(r->pool + off, s, n);
    r->pool[off + n] = '\0';
    r->pool_len += n + 1;
    return off;
}

static void on_agent(struct parser *ps, const char *v, size_t n)
{
    struct silk_robots *r = ps->r;
    if (ps->group < 0 || !ps->in_agents) {
        if ((ps->err = grow((void **)&r->groups, &r->groups_cap, r->ngroups, 1, sizeof *r->groups)))
            return;
        r->groups[r->ngroups] = (struct group){(uint32_t)r->nrules, 0, 0, 0};
        ps->group = (long)r->ngroups++;
        ps->in_agents = 1;
    }
    size_t tl = n && v[0] == '*' ? 1 : token_len(v, n);
    if (!tl)
        return; /* "User-agent: /x": a group line naming no agent */
    char tok[256];
    if (tl > sizeof tok)
        tl = sizeof tok;
    for (size_t i = 0; i < tl; i++)
        tok[i] = (char)to_lower((unsigned char)v[i]);
    uint32_t off = pool_put(ps, tok, tl);
    if (ps->err || (ps->err = grow((void **)&r->agents, &r->agents_cap, r->nagents, 1, sizeof *r->agents)))
        return;
    r->agents[r->nagents++] = (struct agent){off, (uint32_t)tl, (uint32_t)ps->group};
}

static void on_rule(struct parser *ps, int allow, const char *v, size_t n)
{
    struct silk_robots *r = ps->r;
    uint8_t flags = 0;
    if (ps->group < 0)
        return; /* rules before any user-agent belong to no group */
    ps->in_agents = 0;
    if (!n)
        return; /* "Disallow:" with nothing: no rule */
    if (v[n - 1] == '$') {
        flags |= RULE_ANCHOR;
        n--;
    }
    int slash = !n || (v[0] != '/' && v[0] != '*');
    if ((ps->err = grow((void **)&r->pool, &r->pool_cap, r->pool_len, 3 * n + 2, 1)))
        return;
    char *out = r->pool + r->pool_len;
    size_t len = slash;
    if (slash)
        out[0] = '/';
    len += normalise(v, n, 1, out + slash);
    size_t w = 0; /* collapse runs of '*': same language, less backtracking */
    for (size_t i = 0; i < len; i++)
        if (!(out[i] == '*' && w && out[w - 1] == '*'))
            out[w++] = out[i];
    len = w;
    if (len > SILK_ROBOTS_MAX_PATTERN) {
        len = SILK_ROBOTS_MAX_PATTERN; /* a shorter prefix matches more */
        if (out[len - 1] == '%')
            len -= 1;
        else if (out[len - 2] == '%')
            len -= 2;
        flags &= (uint8_t)~RULE_ANCHOR;
    }
    const char *star = memchr(out, '*', len);
    size_t lit = star ? (size_t)(star - out) : len;
    if (star)
        flags |= RULE_WILD;
    out[len] = '\0';
    if ((ps->err = grow((void **)&r->rules, &r->rules_cap, r->nrules, 1, sizeof *r->rules)))
        return;
    struct rule *rule = &r->rules[r->nrules++];
    *rule = (struct rule){0, 0, (uint32_t)r->pool_len, (uint16_t)len, (uint16_t)lit, (uint8_t)allow, flags};
    memcpy(&rule->head, out, lit < 8 ? lit : 8);
    memset(&rule->mask, 0xff, lit < 8 ? lit : 8);
    r->pool_len += len + 1;
    r->groups[ps->group].count++;
}

/* Non-negative decimal seconds ("5", "0.5", "2."); 0 when not one. */
static int parse_delay(const char *v, size_t n, double *out)
{
    double d = 0, scale = 1;
    size_t i = 0;
    int digits = 0;
    for (; i < n && is_digit(v[i]); i++, digits++)
        d = d * 10 + (v[i] - '0');
    if (i < n && v[i] == '.')
        for (i++; i < n && is_digit(v[i]); i++, digits++)
            d += (v[i] - '0') * (scale /= 10);
    if (!digits || i != n || d > 1e9)
        return 0;
    *out = d;
    return 1;
}

static void on_delay(struct parser *ps, const char *v, size_t n)
{
    double d;
    if (ps->group < 0)
        return;
    /* Not a rule in RFC 9309's grammar: like any other record it neither
     * ends the run of user-agent lines nor starts the rules, so
     * "User-agent: a / Crawl-delay: 1 / User-agent: b" is one group. */
    struct group *g = &ps->r->groups[ps->group];
    if (!g->has_delay && parse_delay(v, n, &d)) {
        g->delay = d;
        g->has_delay = 1;
    }
}

static void on_sitemap(struct parser *ps, const char *v, size_t n)
{
    struct silk_robots *r = ps->r;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return; /* not a URL */
    if (!n)
        return;
    uint32_t off = pool_put(ps, v, n);
    if (ps->err || (ps->err = grow((void **)&r->sitemaps, &r->sitemaps_cap, r->nsitemaps, 1, sizeof *r->sitemaps)))
        return;
    r->sitemaps[r->nsitemaps++] = off;
}

/* One line without its terminator. */
static void on_line(struct parser *ps, const char *s, size_t n)
{
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    while (n && is_space((unsigned char)*s))
        s++, n--;
    while (n && is_space((unsigned char)s[n - 1]))
        n--;
    if (!n)
        return;
    const char *colon = memchr(s, ':', n);
    size_t kn;
    const char *v;
    enum key key;
    if (colon) {
        kn = (size_t)(colon - s);
        v = colon + 1;
    } else { /* "Disallow /x": accepted, as Google's parser does */
        for (kn = 0; kn < n && !is_space((unsigned char)s[kn]); kn++)
            ;
        v = s + kn;
    }
    size_t vn = n - (size_t)(v - s);
    while (kn && is_space((unsigned char)s[kn - 1]))
        kn--;
    while (vn && is_space((unsigned char)*v))
        v++, vn--;
    key = classify(s, kn);
    if (!colon && (key == K_OTHER || !vn))
        return;
    switch (key) {
    case K_AGENT: on_agent(ps, v, vn); break;
    case K_ALLOW: on_rule(ps, 1, v, vn); break;
    case K_DISALLOW: on_rule(ps, 0, v, vn); break;
    case K_DELAY: on_delay(ps, v, vn); break;
    case K_SITEMAP: on_sitemap(ps, v, vn); break;
    case K_OTHER: break; /* unknown lines neither join nor end a group */
    }
}

/* qsort has no context argument; per thread, as parsing may run off the loop. */
static _Thread_local const struct silk_robots *sort_ctx;

static int agent_cmp(const void *a, const void *b)
{
    const struct agent *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(sort_ctx->pool + x->off, sort_ctx->pool + y->off, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

static int prio(const struct rule *r) { return r->len + !!(r->flags & RULE_ANCHOR); }

static int rule_cmp(const void *a, const void *b)
{
    const struct rule *x = a, *y = b;
    if (prio(x) != prio(y))
        return prio(x) > prio(y) ? -1 : 1;
    if (x->allow != y->allow)
        return x->allow ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

int silk_robots_parse(const char *text, size_t len, struct silk_robots **out)
{
    struct parser ps = {.group = -1};
    *out = NULL;
    if (!(ps.r = calloc(1, sizeof *ps.r)))
        return SILK_ROBOTS_ENOMEM;
    if (len > SILK_ROBOTS_MAX_BYTES) {
        /* Past the limit nothing is read, and a line cut by it is dropped. */
        len = SILK_ROBOTS_MAX_BYTES;
        while (len && text[len] != '\n' && text[len] != '\r')
            len--;
    }
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && !ps.err) {
        size_t j = i;
        while (j < len && text[j] != '\n' && text[j] != '\r')
            j++;
        on_line(&ps, text + i, j - i);
        if (j < len && text[j] == '\r' && j + 1 < len && text[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    if (ps.err) {
        silk_robots_free(ps.r);
        return ps.err;
    }
    struct silk_robots *r = ps.r;
    sort_ctx = r;
    if (r->nagents > 1)
        qsort(r->agents, r->nagents, sizeof *r->agents, agent_cmp);
    sort_ctx = NULL;
    for (size_t g = 0; g < r->ngroups; g++)
        if (r->groups[g].count > 1)
            qsort(r->rules + r->groups[g].first, r->groups[g].count, sizeof *r->rules, rule_cmp);
    *out = r;
    return 0;
}

void silk_robots_free(struct silk_robots *r)
{
    if (!r)
        return;
    free(r->pool);
    free(r->rules);
    free(r->groups);
    free(r->agents);
    free(r->sitemaps);
    free(r);
}

/* ---- matching ------------------------------------------------------------ */

/* The run [*first, *end) of agents entries for token t (lowercased here). */
static void find_agent(const struct silk_robots *r, const char *t, size_t tn, size_t *first, size_t *end)
{
    size_t lo = 0, hi = r->nagents;
    char tok[256];
    if (tn > sizeof tok)
        tn = sizeof tok;
    for (size_t i = 0; i < tn; i++)
        tok[i] = (char)to_lower((unsigned char)t[i]);
    while (lo < hi) { /* lower bound */
        size_t mid = lo + (hi - lo) / 2;
        const struct agent *a = &r->agents[mid];
        size_t n = a->len < tn ? a->len : tn;
        int c = memcmp(r->pool + a->off, tok, n);
        if (c < 0 || (c == 0 && a->len < tn))
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    while (lo < r->nagents && r->agents[lo].len == tn && memcmp(r->pool + r->agents[lo].off, tok, tn) == 0)
        lo++;
    *end = lo;
}

/* The agents run that applies to user_agent: its own groups, else "*". */
static void groups_for(const struct silk_robots *r, const char *ua, size_t ua_len, size_t *first, size_t *end)
{
    while (ua_len && is_space((unsigned char)*ua))
        ua++, ua_len--;
    size_t tn = token_len(ua, ua_len);
    *first = *end = 0;
    if (tn)
        find_agent(r, ua, tn, first, end);
    if (*first == *end)
        find_agent(r, "*", 1, first, end);
}

/* '*' matches any run of bytes; anchored patterns must consume the path.
 * Greedy with one backtrack point (the last '*'): O(len * n) at worst. */
static int wild_match(const char *p, size_t pn, int anchored, const char *s, size_t n)
{
    size_t i = 0, j = 0, star = (size_t)-1, star_j = 0;
    while (j < n) {
        if (i < pn && p[i] == '*') {
            star = ++i;
            star_j = j;
        } else if (i == pn && !anchored) {
            return 1;
        } else if (i < pn && p[i] == s[j]) {
            i++, j++;
        } else if (star != (size_t)-1) {
            i = star;
            j = ++star_j;
        } else {
            return 0;
        }
    }
    while (i < pn && p[i] == '*')
        i++;
    return i == pn;
}

/* head: the first 8 bytes of s (zero-padded), as rule heads are built. */
static int rule_match(const struct silk_robots *r, const struct rule *rule, uint64_t head, const char *s,
                      size_t n)
{
    if ((head ^ rule->head) & rule->mask)
        return 0;
    const char *p = r->pool + rule->off;
    int anchored = rule->flags & RULE_ANCHOR;
    if (rule->lit > n || (rule->lit > 8 && memcmp(p + 8, s + 8, rule->lit - 8u) != 0))
        return 0;
    if (rule->flags & RULE_WILD)
        return wild_match(p + rule->lit, rule->len - rule->lit, anchored, s + rule->lit, n - rule->lit);
    return !anchored || n == rule->len;
}

/* The path (and query) of url_or_path: *p, *pn; *slash when a '/' must be
 * put in front (a bare query or a relative path). */
static void split_path(const char *s, size_t n, const char **p, size_t *pn, int *slash)
{
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    size_t i = 0;
    *slash = 0;
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        i = 2;
    } else if (n && s[0] != '/') {
        while (i < n && (is_token((unsigned char)s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '.'))
            i++;
        if (i + 2 < n && s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            i += 3;
        } else {
            *p = s, *pn = n, *slash = 1;
            return;
        }
    } else {
        *p = s, *pn = n;
        return;
    }
    while (i < n && s[i] != '/' && s[i] != '?')
        i++;
    *p = s + i, *pn = n - i;
    *slash = i == n || s[i] == '?';
}

int silk_robots_allowed(const struct silk_robots *r, const char *user_agent, size_t ua_len,
                        const char *url_or_path, size_t len)
{
    const char *p;
    size_t pn, first, end;
    int slash, rc = 1;
    char stack[2048], *buf = stack;
    split_path(url_or_path, len, &p, &pn, &slash);
    if (3 * pn + 1 > sizeof stack && !(buf = malloc(3 * pn + 1)))
        return SILK_ROBOTS_ENOMEM;
    buf[0] = '/';
    size_t n = slash + normalise(p, pn, 0, buf + slash);
    size_t path_only = 0;
    while (path_only < n && buf[path_only] != '?')
        path_only++;
    if (path_only == 11 && memcmp(buf, "/robots.txt", 11) == 0)
        goto done; /* RFC 9309 2.5: always allowed */
    groups_for(r, user_agent, ua_len, &first, &end);
    uint64_t head = 0;
    memcpy(&head, buf, n < 8 ? n : 8);
    int best = -1;
    for (size_t a = first; a < end; a++) {
        const struct group *g = &r->groups[r->agents[a].group];
        for (uint32_t k = 0; k < g->count; k++) {
            const struct rule *rule = &r->rules[g->first + k];
            int pr = prio(rule);
            if (pr < best || (pr == best && rc))
                break; /* sorted: nothing later can win */
            if (rule_match(r, rule, head, buf, n)) {
                best = pr;
                rc = rule->allow;
                break;
            }
        }
    }
done:
    if (buf != stack)
        free(buf);
    return rc;
}

int silk_robots_crawl_delay(const struct silk_robots *r, const char *user_agent, size_t ua_len,
                            double *seconds)
{
    size_t first, end;
    groups_for(r, user_agent, ua_len, &first, &end);
    for (size_t a = first; a < end; a++) { /* groups in file order */
        const struct group *g = &r->groups[r->agents[a].group];
        if (g->has_delay) {
            *seconds = g->delay;
            return 1;
        }
    }
    return 0;
}

size_t silk_robots_sitemap_count(const struct silk_robots *r) { return r->nsitemaps; }

const char *silk_robots_sitemap(const struct silk_robots *r, size_t i)
{
    return i < r->nsitemaps ? r->pool + r->sitemaps[i] : NULL;
}

size_t silk_robots_memory(const struct silk_robots *r)
{
    return sizeof *r + r->pool_cap + r->rules_cap * sizeof *r->rules +
           r->groups_cap * sizeof *r->groups + r->agents_cap * sizeof *r->agents +
           r->sitemaps_cap * sizeof *r->sitemaps;
}
