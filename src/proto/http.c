/*
 * NAME
 *   http - an incremental HTTP/1.x response reader (see http.h)
 *
 * DESCRIPTION
 *   A byte-driven state machine: the head is collected byte by byte until
 *   the empty line (it is small and bounded), then parsed at once; the
 *   body is copied in runs (Content-Length, to eof, or chunk data), with
 *   chunk-size lines, the CRLF after each chunk and the trailer read into
 *   a small line buffer. Every count is checked against its limit before
 *   memory grows, so a hostile server can make the reader hold at most
 *   RM_HTTP_HEAD_MAX + max + RM_HTTP_LINE_MAX bytes.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The reader owns hr_head and hr_body. No shared state.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "proto/hdr.h"
#include "proto/http.h"

enum {
    H_HEAD,
    H_BODY_LEN,
    H_BODY_EOF,
    H_CHUNK_SIZE,
    H_CHUNK_DATA,
    H_CHUNK_CRLF,
    H_TRAILER,
    H_DONE,
};

void
http_reader_init(struct rm_http_reader *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->hr_max = max ? max : RM_HTTP_BODY_MAX;
    r->hr_content_len = -1;
    r->hr_state = H_HEAD;
}

void
http_reader_fini(struct rm_http_reader *r)
{
    pbuf_free(&r->hr_head);
    pbuf_free(&r->hr_body);
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

/* is_tchar - RFC 9110 token characters */
static bool
is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* next_line - the line at *p (without CR LF); advances *p */
static bool
next_line(const char **p, const char *end, const char **l, size_t *len)
{
    const char *nl;

    if (*p >= end)
        return false;
    nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        nl = end;
    *l = *p;
    *len = (size_t)(nl - *p);
    if (*len > 0 && (*l)[*len - 1] == '\r')
        (*len)--;
    *p = nl < end ? nl + 1 : end;
    return true;
}

/* has_token - true if the comma-separated list v holds token tok */
static bool
has_token(const char *v, size_t len, const char *tok, bool *last)
{
    const char *end = v + len, *comma, *t;
    size_t tlen;
    bool found = false;

    *last = false;
    while (v < end) {
        comma = memchr(v, ',', (size_t)(end - v));
        if (comma == NULL)
            comma = end;
        t = v;
        tlen = (size_t)(comma - v);
        trim(&t, &tlen);
        *last = tlen == strlen(tok) && strncasecmp(t, tok, tlen) == 0;
        found = found || *last;
        v = comma < end ? comma + 1 : end;
    }
    return found;
}

static int
parse_uint(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 18)
        return -EPROTO;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EPROTO;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* parse_head - the status line and headers in hr_head */
static int
parse_head(struct rm_http_reader *r)
{
    const char *p = r->hr_head.pb_data, *end = p + r->hr_head.pb_len;
    const char *l, *colon, *v;
    size_t len, nlen, vlen, i;
    uint64_t cl;
    bool last;

    if (!next_line(&p, end, &l, &len))
        return -EPROTO;
    /* "HTTP/1.x 200 OK" */
    if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
        l[8] != ' ')
        return -EPROTO;
    r->hr_minor = l[7] - '0';
    for (i = 9; i < 12; i++)
        if (l[i] < '0' || l[i] > '9')
            return -EPROTO;
    if (len > 12 && l[12] != ' ')
        return -EPROTO;
    r->hr_status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (r->hr_status < 100)
        return -EPROTO;
    if (len > 13)
        hdr_text_oneline(l + 13, len - 13, r->hr_reason, sizeof(r->hr_reason),
                         0);
    else
        r->hr_reason[0] = '\0';
    r->hr_content_len = -1;
    r->hr_chunked = false;
    r->hr_close = false;
    while (next_line(&p, end, &l, &len)) {
        if (len == 0)
            break;
        colon = memchr(l, ':', len);
        if (colon == NULL || colon == l)
            return -EPROTO; /* also rejects obs-fold continuation lines */
        nlen = (size_t)(colon - l);
        for (i = 0; i < nlen; i++)
            if (!is_tchar((unsigned char)l[i]))
                return -EPROTO;
        v = colon + 1;
        vlen = len - nlen - 1;
        trim(&v, &vlen);
        if (nlen == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
            if (parse_uint(v, vlen, &cl) < 0)
                return -EPROTO;
            if (r->hr_content_len >= 0 && (uint64_t)r->hr_content_len != cl)
                return -EPROTO;
            r->hr_content_len = (int64_t)cl;
        } else if (nlen == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0) {
            /* Only "chunked" (last) is understood; "identity" is the
             * obsolete no-op. */
            const char *q = v, *qend = v + vlen, *comma, *t;
            size_t tlen;

            while (q < qend) {
                comma = memchr(q, ',', (size_t)(qend - q));
                if (comma == NULL)
                    comma = qend;
                t = q;
                tlen = (size_t)(comma - q);
                trim(&t, &tlen);
                if (tlen > 0 &&
                    !(tlen == 7 && strncasecmp(t, "chunked", 7) == 0) &&
                    !(tlen == 8 && strncasecmp(t, "identity", 8) == 0))
                    return -EPROTO;
                q = comma < qend ? comma + 1 : qend;
            }
            if (has_token(v, vlen, "chunked", &last)) {
                if (!last)
                    return -EPROTO;
                r->hr_chunked = true;
            }
        } else if (nlen == 10 && strncasecmp(l, "Connection", 10) == 0) {
            if (has_token(v, vlen, "close", &last))
                r->hr_close = true;
        }
    }
    return 0;
}

/* head_done - the head is in: parse it and choose the body framing */
static int
head_done(struct rm_http_reader *r)
{
    int rc = parse_head(r);

    if (rc < 0)
        return rc;
    if (r->hr_status < 200 && r->hr_status != 101) {
        /* An interim response: the real one follows. */
        pbuf_truncate(&r->hr_head, 0);
        r->hr_state = H_HEAD;
        return 0;
    }
    if (r->hr_status == 204 || r->hr_status == 304 || r->hr_status == 101) {
        r->hr_state = H_DONE;
    } else if (r->hr_chunked) {
        r->hr_state = H_CHUNK_SIZE;
    } else if (r->hr_content_len >= 0) {
        if ((uint64_t)r->hr_content_len > r->hr_max)
            return -EMSGSIZE;
        r->hr_left = (uint64_t)r->hr_content_len;
        r->hr_state = r->hr_left > 0 ? H_BODY_LEN : H_DONE;
    } else {
        r->hr_state = H_BODY_EOF;
    }
    return 0;
}

/* body_add - append body bytes within the limit */
static int
body_add(struct rm_http_reader *r, const char *p, size_t n)
{
    if (n > r->hr_max - r->hr_body.pb_len)
        return -EMSGSIZE;
    pbuf_add(&r->hr_body, p, n);
    return 0;
}

/* line_byte - collect c into hr_line; 1 when a line is complete (in
 * hr_line, hr_line_len without CR LF), 0 for more, -EPROTO if too long */
static int
line_byte(struct rm_http_reader *r, char c)
{
    if (c == '\n') {
        if (r->hr_line_len > 0 && r->hr_line[r->hr_line_len - 1] == '\r')
            r->hr_line_len--;
        return 1;
    }
    if (r->hr_line_len == sizeof(r->hr_line))
        return -EPROTO;
    r->hr_line[r->hr_line_len++] = c;
    return 0;
}

/* chunk_size - parse "hex[;ext]" in hr_line */
static int
chunk_size(struct rm_http_reader *r, uint64_t *size)
{
    uint64_t v = 0;
    size_t i, n = 0;
    int d;

    for (i = 0; i < r->hr_line_len; i++) {
        char c = r->hr_line[i];

        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (++n > 15)
            return -EPROTO;
        v = v * 16 + (uint64_t)d;
    }
    if (n == 0)
        return -EPROTO;
    while (i < r->hr_line_len && is_blank(r->hr_line[i]))
        i++;
    if (i < r->hr_line_len && r->hr_line[i] != ';')
        return -EPROTO;
    *size = v;
    return 0;
}

/* consume - run the state machine over data */
static int
consume(struct rm_http_reader *r, const char *d, size_t len)
{
    size_t i = 0, n;
    uint64_t size;
    int rc;

    while (i < len && r->hr_state != H_DONE) {
        switch (r->hr_state) {
        case H_HEAD:
            if (r->hr_head.pb_len >= RM_HTTP_HEAD_MAX)
                return -EMSGSIZE;
            pbuf_addc(&r->hr_head, d[i]);
            i++;
            n = r->hr_head.pb_len;
            if (d[i - 1] == '\n' &&
                ((n >= 2 && r->hr_head.pb_data[n - 2] == '\n') ||
                 (n >= 3 && r->hr_head.pb_data[n - 2] == '\r' &&
                  r->hr_head.pb_data[n - 3] == '\n'))) {
                rc = head_done(r);
                if (rc < 0)
                    return rc;
            }
            break;
        case H_BODY_LEN:
        case H_CHUNK_DATA:
            n = len - i;
            if (n > r->hr_left)
                n = (size_t)r->hr_left;
            rc = body_add(r, d + i, n);
            if (rc < 0)
                return rc;
            i += n;
            r->hr_left -= n;
            if (r->hr_left == 0)
                r->hr_state = r->hr_state == H_BODY_LEN ? H_DONE : H_CHUNK_CRLF;
            break;
        case H_BODY_EOF:
            rc = body_add(r, d + i, len - i);
            if (rc < 0)
                return rc;
            i = len;
            break;
        case H_CHUNK_SIZE:
        case H_CHUNK_CRLF:
        case H_TRAILER:
            rc = line_byte(r, d[i++]);
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            if (r->hr_state == H_CHUNK_SIZE) {
                if (chunk_size(r, &size) < 0)
                    return -EPROTO;
                if (size > r->hr_max - r->hr_body.pb_len)
                    return -EMSGSIZE;
                r->hr_left = size;
                r->hr_state = size > 0 ? H_CHUNK_DATA : H_TRAILER;
            } else if (r->hr_state == H_CHUNK_CRLF) {
                if (r->hr_line_len != 0)
                    return -EPROTO;
                r->hr_state = H_CHUNK_SIZE;
            } else if (r->hr_line_len == 0) {
                r->hr_state = H_DONE;
            }
            r->hr_line_len = 0;
            break;
        default:
            return -EPROTO;
        }
    }
    return r->hr_state == H_DONE ? 1 : 0;
}

int
http_reader_feed(struct rm_http_reader *r, const void *data, size_t len,
                 bool eof)
{
    int rc;

    if (r->hr_result != 0)
        return r->hr_result;
    r->hr_total += len;
    rc = consume(r, data, len);
    if (rc == 0 && eof) {
        if (r->hr_total == 0)
            rc = -EPIPE;
        else if (r->hr_state == H_BODY_EOF)
            rc = 1;
        else
            rc = -EBADMSG;
    }
    if (rc != 0)
        r->hr_result = rc;
    return rc;
}

int
http_reader_header(const struct rm_http_reader *r, const char *name, char *out,
                   size_t size)
{
    const char *p = r->hr_head.pb_data, *end, *l, *colon, *v;
    size_t len, vlen, nlen = strlen(name), n;

    if (p == NULL || size == 0)
        return -ENOENT;
    end = p + r->hr_head.pb_len;
    if (!next_line(&p, end, &l, &len)) /* the status line */
        return -ENOENT;
    while (next_line(&p, end, &l, &len) && len > 0) {
        colon = memchr(l, ':', len);
        if (colon == NULL || (size_t)(colon - l) != nlen ||
            strncasecmp(l, name, nlen) != 0)
            continue;
        v = colon + 1;
        vlen = len - nlen - 1;
        trim(&v, &vlen);
        n = vlen < size - 1 ? vlen : size - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return vlen > INT32_MAX ? INT32_MAX : (int)vlen;
    }
    return -ENOENT;
}
