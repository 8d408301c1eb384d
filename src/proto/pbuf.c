/*
 * NAME
 *   pbuf - a growable byte buffer for the protocol encoders (see pbuf.h)
 *
 * DESCRIPTION
 *   Invariant: pb_data is NULL (and pb_len == pb_cap == 0), or it holds
 *   pb_cap bytes with pb_len < pb_cap and pb_data[pb_len] == '\0'.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The buffer owns pb_data until pbuf_take gives it away. No shared
 *   state; a buffer is used by one thread at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "proto/pbuf.h"

/* pbuf_reserve - make room for extra more bytes plus the NUL */
static void
pbuf_reserve(struct pbuf *pb, size_t extra)
{
    size_t need = pb->pb_len + extra + 1, cap;

    if (need <= pb->pb_cap)
        return;
    cap = pb->pb_cap ? pb->pb_cap : 64;
    while (cap < need)
        cap *= 2;
    pb->pb_data = xrealloc(pb->pb_data, cap);
    pb->pb_cap = cap;
}

void
pbuf_add(struct pbuf *pb, const void *data, size_t len)
{
    pbuf_reserve(pb, len);
    if (len > 0)
        memcpy(pb->pb_data + pb->pb_len, data, len);
    pb->pb_len += len;
    pb->pb_data[pb->pb_len] = '\0';
}

void
pbuf_addc(struct pbuf *pb, char c)
{
    pbuf_add(pb, &c, 1);
}

void
pbuf_adds(struct pbuf *pb, const char *s)
{
    pbuf_add(pb, s, strlen(s));
}

void
pbuf_addf(struct pbuf *pb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    pbuf_reserve(pb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(pb->pb_data + pb->pb_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    pb->pb_len += (size_t)n;
}

void
pbuf_truncate(struct pbuf *pb, size_t len)
{
    if (pb->pb_data == NULL || len >= pb->pb_len)
        return;
    pb->pb_len = len;
    pb->pb_data[len] = '\0';
}

char *
pbuf_take(struct pbuf *pb, size_t *len)
{
    char *p;

    if (pb->pb_data == NULL) {
        pbuf_reserve(pb, 0);
        pb->pb_data[0] = '\0';
    }
    p = pb->pb_data;
    if (len != NULL)
        *len = pb->pb_len;
    pb->pb_data = NULL;
    pb->pb_len = pb->pb_cap = 0;
    return p;
}

void
pbuf_free(struct pbuf *pb)
{
    free(pb->pb_data);
    pb->pb_data = NULL;
    pb->pb_len = pb->pb_cap = 0;
}
