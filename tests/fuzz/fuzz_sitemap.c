/*
 * fuzz_sitemap.c -- libFuzzer target for sitemap.c.
 *
 * Input: sitemap bytes (XML, or gzip when they start with 1f 8b), parsed
 * with small limits so the caps are reached often. Checks: no crash, no
 * leak, a result exactly when the code is 0, entries within the cap, every
 * loc non-empty and at most max_loc bytes, priorities in 0..1 or -1.
 * Link: run.sh needs -lexpat -lz for this target (see the report).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sitemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    silk_sitemap_limits lim = {.max_bytes = 1 << 20, .max_urls = 100, .max_loc = 256};
    silk_sitemap *sm = NULL;
    char err[128];
    int rc = silk_sitemap_parse((const char *)data, size, &lim, &sm, err, sizeof err);
    if ((rc == 0) != (sm != NULL) || strlen(err) >= sizeof err)
        abort();
    if (!sm)
        return 0;
    if (sm->n > lim.max_urls || (sm->kind != SILK_SITEMAP_URLSET && sm->kind != SILK_SITEMAP_INDEX))
        abort();
    for (size_t i = 0; i < sm->n; i++) {
        size_t l = strlen(sm->entries[i].loc);
        double p = sm->entries[i].priority;
        if (l == 0 || l > lim.max_loc || !(p == -1 || (p >= 0 && p <= 1)))
            abort();
    }
    silk_sitemap_free(sm);
    return 0;
}
