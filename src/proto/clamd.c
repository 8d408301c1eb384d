/*
 * NAME
 *   clamd - the clamd INSTREAM request framing and reply parser
 *   (see clamd.h)
 *
 * DESCRIPTION
 *   The encoder is a three-state machine (command, chunks, terminator)
 *   writing into the caller's buffer; it holds no data of its own, so its
 *   memory is constant whatever the message size. The reader keeps at
 *   most RM_CLAMD_REPLY_MAX bytes: clamd's replies are one short line.
 *
 *   The parser never trusts the reply: the virus name goes into an SMTP
 *   reply ("Infected: <name>") and into headers and logs, so it keeps a
 *   conservative character set; error texts are printable ASCII.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The caller owns the encoder and reader structs; nothing is allocated.
 *   No shared state.
 */
#include <errno.h>
#include <string.h>

#include "proto/clamd.h"
#include "proto/hdr.h"

enum { ENC_CMD, ENC_CHUNKS, ENC_END, ENC_DONE };

void
clamd_enc_init(struct rm_clamd_enc *enc)
{
    enc->ce_state = ENC_CMD;
    enc->ce_body_bytes = 0;
}

bool
clamd_enc_done(const struct rm_clamd_enc *enc)
{
    return enc->ce_state == ENC_DONE;
}

int
clamd_chunk_header(uint64_t len, unsigned char out[RM_CLAMD_CHUNK_HDR])
{
    if (len > UINT32_MAX)
        return -EFBIG;
    out[0] = (unsigned char)(len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    return 0;
}

int
clamd_enc_fill(struct rm_clamd_enc *enc, rm_clamd_read_fn read, void *ud,
               void *out, size_t size, size_t *len)
{
    unsigned char *o = out;
    size_t got = 0, room;
    int rc;

    *len = 0;
    if (size < RM_CLAMD_INSTREAM_LEN || size < RM_CLAMD_CHUNK_HDR + 1)
        return -EINVAL;
    switch (enc->ce_state) {
    case ENC_CMD:
        memcpy(o, RM_CLAMD_INSTREAM, RM_CLAMD_INSTREAM_LEN);
        *len = RM_CLAMD_INSTREAM_LEN;
        enc->ce_state = ENC_CHUNKS;
        return 0;
    case ENC_CHUNKS:
        room = size - RM_CLAMD_CHUNK_HDR;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        /* A source may return short reads; an empty one ends the body. */
        rc = read(ud, o + RM_CLAMD_CHUNK_HDR, room, &got);
        if (rc < 0)
            return rc;
        if (got > room)
            return -EOVERFLOW;
        if (got > 0) {
            clamd_chunk_header(got, o);
            *len = RM_CLAMD_CHUNK_HDR + got;
            enc->ce_body_bytes += got;
            return 0;
        }
        enc->ce_state = ENC_END;
        /* fall through */
    case ENC_END:
        clamd_chunk_header(0, o);
        *len = RM_CLAMD_CHUNK_HDR;
        enc->ce_state = ENC_DONE;
        return 0;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------- */
/* Reply */

const char *
clamd_status_name(enum rm_clamd_status st)
{
    switch (st) {
    case RM_CLAMD_CLEAN:
        return "clean";
    case RM_CLAMD_VIRUS:
        return "virus";
    case RM_CLAMD_ERROR:
        return "error";
    case RM_CLAMD_PROTOCOL:
        return "protocol error";
    }
    return "?";
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool
starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

/* name_copy - a virus name, restricted to a safe character set */
static void
name_copy(const char *s, size_t len, char *out, size_t size)
{
    static const char extra[] = "._-:+/!@#=,()[]{}~";
    size_t i, o = 0;

    for (i = 0; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
            (c >= 'a' && c <= 'z') || (c != '\0' && strchr(extra, c)))
            out[o++] = (char)c;
        else
            out[o++] = '_';
    }
    out[o] = '\0';
}

int
clamd_reply_parse(const char *buf, size_t len, struct rm_clamd_reply *out)
{
    const char *p;
    size_t n, i;

    memset(out, 0, sizeof(*out));
    /* The terminator, and a CR or blanks before it. */
    n = len;
    if (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == '\n'))
        n--;
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    p = buf;
    /* An IDSESSION request id: "<digits>: ". */
    for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        ;
    if (i > 0 && i + 1 < n && p[i] == ':' && p[i + 1] == ' ') {
        p += i + 2;
        n -= i + 2;
    }
    if (n == 10 && memcmp(p, "stream: OK", 10) == 0) {
        out->cr_status = RM_CLAMD_CLEAN;
        return 0;
    }
    if (starts_with(p, n, "stream: ") && ends_with(p, n, " FOUND") &&
        n > 8 + 6 && memchr(p, '\0', n) == NULL) {
        const char *name = p + 8;
        size_t nlen = n - 8 - 6;

        while (nlen > 0 && *name == ' ') {
            name++;
            nlen--;
        }
        while (nlen > 0 && name[nlen - 1] == ' ')
            nlen--;
        if (nlen > 0) {
            out->cr_status = RM_CLAMD_VIRUS;
            name_copy(name, nlen, out->cr_text, sizeof(out->cr_text));
            return 0;
        }
    }
    if (ends_with(p, n, " ERROR") || (n == 5 && memcmp(p, "ERROR", 5) == 0)) {
        size_t tlen = n >= 6 ? n - 6 : 0;
        const char *t = p;

        if (starts_with(t, tlen, "stream: ")) {
            t += 8;
            tlen -= 8;
        }
        out->cr_status = RM_CLAMD_ERROR;
        out->cr_size_limit = starts_with(t, tlen, "INSTREAM size limit");
        hdr_text_oneline(t, tlen, out->cr_text, sizeof(out->cr_text), 0);
        return 0;
    }
    out->cr_status = RM_CLAMD_PROTOCOL;
    hdr_text_oneline(p, n, out->cr_text, sizeof(out->cr_text), 0);
    return -EPROTO;
}

void
clamd_reader_init(struct rm_clamd_reader *r)
{
    r->cd_len = 0;
    r->cd_result = 0;
    memset(&r->cd_reply, 0, sizeof(r->cd_reply));
}

int
clamd_reader_feed(struct rm_clamd_reader *r, const void *data, size_t len,
                  bool eof)
{
    const char *d = data;
    size_t i;

    if (r->cd_result != 0)
        return r->cd_result;
    for (i = 0; i < len; i++) {
        if (r->cd_len == sizeof(r->cd_buf))
            return r->cd_result = -EMSGSIZE;
        r->cd_buf[r->cd_len++] = d[i];
        if (d[i] == '\0' || d[i] == '\n') {
            clamd_reply_parse(r->cd_buf, r->cd_len, &r->cd_reply);
            return r->cd_result = 1;
        }
    }
    if (!eof)
        return 0;
    if (r->cd_len == 0)
        return r->cd_result = -EPIPE;
    clamd_reply_parse(r->cd_buf, r->cd_len, &r->cd_reply);
    return r->cd_result = 1;
}
