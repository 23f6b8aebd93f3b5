/*
 * fuzz_url.c -- libFuzzer target for url.c.
 *
 * Input: "base\nhref" (no newline: href alone). Checks, beyond "no crash,
 * no leak": every join result joins to itself, canonical() is idempotent and
 * accepts every join result, and host_key() agrees with parse().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "url.h"

static void check(int cond, const char *what, const char *a, const char *b)
{
    if (!cond) {
        fprintf(stderr, "fuzz_url: %s\n  input:  %s\n  output: %s\n", what, a, b ? b : "(null)");
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = strchr(in, '\n');
    const char *base = NULL, *href = in;
    if (nl) {
        *nl = '\0';
        base = in;
        href = nl + 1;
    }
    char *out = NULL, *again = NULL, *c1 = NULL, *c2 = NULL, *key = NULL;
    if (silk_url_join(base, href, &out) == 0) {
        check(silk_url_join(NULL, out, &again) == 0, "join result does not parse", href, out);
        check(strcmp(again, out) == 0, "join not idempotent", out, again);
        check(silk_url_canonical(out, 0, &c1) == 0, "canonical refuses a join result", out, NULL);
        check(silk_url_canonical(c1, 0, &c2) == 0 && strcmp(c1, c2) == 0, "canonical not idempotent", c1, c2);
        free(c2);
        c2 = NULL;
        check(silk_url_canonical(c1, SILK_URL_SORT_QUERY | SILK_URL_KEEP_FRAGMENT, &c2) == 0,
              "canonical with flags refuses a canonical URL", c1, NULL);
        check(silk_url_host_key(out, &key) == 0, "host_key refuses a join result", out, NULL);
        struct silk_url_parts p;
        check(silk_url_parse(out, &p) == 0 && p.path[0] == '/', "parse refuses a join result", out, NULL);
        silk_url_parts_free(&p);
    }
    free(out);
    free(again);
    free(c1);
    free(c2);
    free(key);
    free(in);
    return 0;
}
