/*
 * html_int.h -- what html.c lends the parse worker pool (html_pool.c): the
 * parse and the release of a document without the SILK_RES_DOCUMENT count.
 * A worker parses uncounted (the counters belong to the loop thread's view
 * of what is live); the document is counted when its job hands it over
 * (silk_html_job_result), or released uncounted with an abandoned job.
 */
#ifndef SILK_HTML_INT_H
#define SILK_HTML_INT_H

#include "html.h"

/* silk_html_parse without counting the document: any thread. */
int silk_html_parse_uncounted(const char *text, size_t len, const char *base_url,
                              const silk_html_limits *lim, silk_html_doc **out,
                              char *err, size_t errlen);
/* Frees a document parsed uncounted (never one silk_html_parse counted). */
void silk_html_free_uncounted(silk_html_doc *d);

#endif
