/*
 * NAME
 *   pbuf - a growable byte buffer for the protocol encoders
 *
 * DESCRIPTION
 *   The encoders and sanitizers in src/proto/ build their output in a
 *   struct pbuf: bytes appended at the end, always NUL-terminated after
 *   pb_len bytes (the NUL is not counted), grown with xrealloc (never
 *   fails). pbuf_take hands the bytes to the caller, who frees them with
 *   free(3). A zeroed struct pbuf is an empty buffer.
 *
 *   Not shared: one buffer belongs to one caller at a time.
 */
#ifndef RM_PROTO_PBUF_H
#define RM_PROTO_PBUF_H

#include <stddef.h>

struct pbuf {
    char *pb_data; /* NULL until the first append */
    size_t pb_len;
    size_t pb_cap;
};

/* pbuf_add - append len bytes of data */
void pbuf_add(struct pbuf *pb, const void *data, size_t len);
/* pbuf_addc - append one byte */
void pbuf_addc(struct pbuf *pb, char c);
/* pbuf_adds - append a NUL-terminated string */
void pbuf_adds(struct pbuf *pb, const char *s);
/* pbuf_addf - append printf-formatted text */
void pbuf_addf(struct pbuf *pb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* pbuf_truncate - keep the first len bytes (len <= pb_len) */
void pbuf_truncate(struct pbuf *pb, size_t len);
/* pbuf_take - the bytes as a NUL-terminated string (never NULL; "" when
 * empty) owned by the caller; the buffer is empty afterwards */
char *pbuf_take(struct pbuf *pb, size_t *len);
/* pbuf_free - release the bytes; the buffer is empty afterwards */
void pbuf_free(struct pbuf *pb);

#endif
