/*
 * NAME
 *   http - an incremental HTTP/1.x response reader for backend clients
 *
 * DESCRIPTION
 *   Fed the bytes of one response as they arrive, it parses the status
 *   line and headers, then collects the body delimited by Content-Length,
 *   by chunked transfer coding, or by the end of the connection, and
 *   reports when the response is complete. Interim 1xx responses are
 *   skipped. 204 and 304 responses have no body.
 *
 *   Limits: the head (status line and headers) at most RM_HTTP_HEAD_MAX
 *   bytes, the body at most the reader's max; chunk-size lines at most
 *   RM_HTTP_LINE_MAX. Only the "chunked" transfer coding is understood;
 *   any other is a protocol error. Content codings (Content-Encoding) are
 *   left to the caller (see http_reader_header).
 *
 *   Pure code: no I/O, no global state; thread-safe. The reader owns its
 *   buffers (http_reader_fini frees them).
 *
 * SEE ALSO
 *   rspamd.h, RFC 9112
 */
#ifndef RM_PROTO_HTTP_H
#define RM_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/pbuf.h"

#define RM_HTTP_HEAD_MAX (16 * 1024)
#define RM_HTTP_LINE_MAX 1024
/* The reader's default cap on a body. */
#define RM_HTTP_BODY_MAX (4 * 1024 * 1024)

struct rm_http_reader {
    /* Parsed, valid once feed returned 1 (status and headers as soon as
     * the head is in). */
    int hr_status;          /* 200, 500, ... */
    int hr_minor;           /* HTTP/1.<minor> */
    char hr_reason[128];    /* the reason phrase, printable ASCII */
    int64_t hr_content_len; /* -1 when absent */
    bool hr_chunked;
    bool hr_close;       /* "Connection: close" */
    struct pbuf hr_body; /* the body (de-chunked), NUL-terminated */
    /* Private. */
    struct pbuf hr_head; /* the head as received */
    char hr_line[RM_HTTP_LINE_MAX];
    size_t hr_line_len;
    uint64_t hr_left; /* body or chunk bytes still expected */
    size_t hr_max;
    int hr_state;
    int hr_result;
    uint64_t hr_total; /* bytes fed */
};

/* http_reader_init - an empty reader whose body may hold at most max bytes
 * (0: RM_HTTP_BODY_MAX) */
void http_reader_init(struct rm_http_reader *r, size_t max);

/*
 * http_reader_feed - give the reader the next bytes of the response
 *
 * eof is true when the server closed the connection. Returns:
 *   0           more bytes are needed;
 *   1           the response is complete (bytes after it are ignored);
 *   -EPROTO     not a valid HTTP/1.x response (status line, header
 *               syntax, conflicting Content-Length, bad chunk framing, an
 *               unknown transfer coding);
 *   -EMSGSIZE   the head or the body passed its limit;
 *   -EBADMSG    eof before the response was complete (truncated);
 *   -EPIPE      eof before any byte (closed early).
 * After 1 or an error, further calls return the same result.
 */
int http_reader_feed(struct rm_http_reader *r, const void *data, size_t len,
                     bool eof);

/*
 * http_reader_header - the value of the first header called name
 * (case-insensitive), blanks trimmed, into out (NUL-terminated, cut to
 * size - 1). Returns its full length, or -ENOENT. Valid once the head has
 * been parsed.
 */
int http_reader_header(const struct rm_http_reader *r, const char *name,
                       char *out, size_t size);

/* http_reader_fini - free the buffers; the reader may be initialised
 * again */
void http_reader_fini(struct rm_http_reader *r);

#endif
