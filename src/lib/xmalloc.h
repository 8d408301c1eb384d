/*
 * NAME
 *   xmalloc - allocation that never returns NULL
 *
 * DESCRIPTION
 *   xmalloc, xcalloc, xrealloc, xstrdup and xstrndup abort the process with a
 *   log line when memory is exhausted, so call sites carry no NULL checks. An
 *   out-of-memory daemon cannot serve mail safely; the MTA's
 *   milter_default_action covers the gap while it restarts.
 *   xasprintf formats into a new string.
 */
#ifndef RM_XMALLOC_H
#define RM_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
