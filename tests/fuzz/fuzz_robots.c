/*
 * fuzz_robots.c -- libFuzzer target for robots.c.
 *
 * Input: robots.txt bytes; the last line (after the final '\n', if short)
 * doubles as the path to match. Checks: no crash, no leak, a verdict of 0/1,
 * /robots.txt always allowed, sitemaps readable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "robots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct silk_robots *r = NULL;
    if (silk_robots_parse(text, size, &r) != 0)
        return 0;
    const char *path = "/";
    size_t plen = 1;
    const char *nl = memchr(text, '\n', size);
    if (nl) { /* the tail after the first newline, capped */
        path = nl + 1;
        plen = size - (size_t)(path - text);
        if (plen > 4096)
            plen = 4096;
    }
    static const char *agents[] = {"silkbot", "*", "Googlebot/2.1", "", "a"};
    for (size_t i = 0; i < sizeof agents / sizeof agents[0]; i++) {
        int v = silk_robots_allowed(r, agents[i], strlen(agents[i]), path, plen);
        if (v != 0 && v != 1)
            abort();
        if (silk_robots_allowed(r, agents[i], strlen(agents[i]), "/robots.txt", 11) != 1)
            abort();
        double d;
        if (silk_robots_crawl_delay(r, agents[i], strlen(agents[i]), &d) && !(d >= 0))
            abort();
    }
    size_t total = 0;
    for (size_t i = 0; i < silk_robots_sitemap_count(r); i++)
        total += strlen(silk_robots_sitemap(r, i));
    if (total > size)
        abort();
    silk_robots_free(r);
    return 0;
}
