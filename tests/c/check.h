/*
 * check.h -- the assertion of the C unit tests (tests/c/test_*.c), counted
 * libuv-style: CHECK(cond[, fmt, ...]) counts a check and, when cond is
 * false, a failure, printing "file:line: FAIL cond: message" to stderr.
 * Only the first CHECK_PRINT_MAX failures are printed: a broken invariant
 * inside a loop of many thousand checks must not bury the first report.
 * check_done(name) prints the tally and returns main's exit status.
 * Included by one file per test program: the counters are that file's.
 */
#ifndef SILK_TEST_CHECK_H
#define SILK_TEST_CHECK_H

#include <stdio.h>

#define CHECK_PRINT_MAX 50

static int checks, failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond) && ++failures <= CHECK_PRINT_MAX) {                      \
            fprintf(stderr, "%s:%d: FAIL %s:", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, " " __VA_ARGS__);                                \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, checks, failures);
    return failures != 0;
}

#endif
