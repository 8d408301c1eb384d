/*
 * NAME
 *   fuzz_clamd - libFuzzer target for the clamd reply parser and the
 *   INSTREAM encoder
 *
 * DESCRIPTION
 *   The input is what a clamd (or anything listening where clamd should
 *   be) sends back. Each input goes through:
 *     - clamd_reply_parse on the whole input: the result's text must be
 *       NUL-terminated and short, a virus name only in the safe character
 *       set, any text free of control characters;
 *     - clamd_reader_feed in pieces whose sizes come from the input, then
 *       eof: it must agree with feeding the input whole;
 *     - the encoder with the input as the message body and a buffer size
 *       taken from the input: decoding the framing must give back the
 *       command and exactly the input.
 *   A broken promise aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_proto rm_lib
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/clamd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const struct rm_clamd_reply *r)
{
    static const char safe[] = "._-:+/!@#=,()[]{}~";
    size_t i, n = strnlen(r->cr_text, sizeof(r->cr_text));

    if (n >= sizeof(r->cr_text))
        abort();
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r->cr_text[i];

        if (c < 0x20 || c >= 0x7f)
            abort();
        if (r->cr_status == RM_CLAMD_VIRUS &&
            !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z') || c == '_' || strchr(safe, c)))
            abort();
    }
    if (r->cr_status == RM_CLAMD_VIRUS && n == 0)
        abort();
    if (r->cr_size_limit && r->cr_status != RM_CLAMD_ERROR)
        abort();
}

struct src {
    const uint8_t *p;
    size_t len, off;
};

static int
src_read(void *ud, void *buf, size_t size, size_t *len)
{
    struct src *s = ud;
    size_t n = s->len - s->off;

    /* Short reads too: at most 7 bytes when the offset is odd. */
    if (n > size)
        n = size;
    if ((s->off & 1) && n > 7)
        n = 7;
    memcpy(buf, s->p + s->off, n);
    s->off += n;
    *len = n;
    return 0;
}

static void
roundtrip(const uint8_t *data, size_t size)
{
    struct rm_clamd_enc enc;
    struct src s = {data, size, 0};
    unsigned char buf[300], *out;
    size_t bufsize, len, total = 0, cap = size * 5 + 64, pos, got = 0;
    uint32_t chunk;

    bufsize = RM_CLAMD_INSTREAM_LEN + (size > 0 ? data[0] % 200 : 0);
    out = malloc(cap);
    if (out == NULL)
        abort();
    clamd_enc_init(&enc);
    for (;;) {
        if (clamd_enc_fill(&enc, src_read, &s, buf, bufsize, &len) != 0)
            abort();
        if (len == 0)
            break;
        if (len > bufsize || total + len > cap)
            abort();
        memcpy(out + total, buf, len);
        total += len;
    }
    if (!clamd_enc_done(&enc) || total < RM_CLAMD_INSTREAM_LEN + 4 ||
        memcmp(out, RM_CLAMD_INSTREAM, RM_CLAMD_INSTREAM_LEN) != 0)
        abort();
    pos = RM_CLAMD_INSTREAM_LEN;
    for (;;) {
        if (pos + 4 > total)
            abort();
        chunk = (uint32_t)out[pos] << 24 | (uint32_t)out[pos + 1] << 16 |
                (uint32_t)out[pos + 2] << 8 | out[pos + 3];
        pos += 4;
        if (chunk == 0)
            break;
        if (pos + chunk > total || got + chunk > size ||
            memcmp(out + pos, data + got, chunk) != 0)
            abort();
        pos += chunk;
        got += chunk;
    }
    if (pos != total || got != size)
        abort();
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rm_clamd_reply rep;
    struct rm_clamd_reader whole, parts;
    size_t off = 0, step;
    int rc, rc_whole;

    rc = clamd_reply_parse((const char *)data, size, &rep);
    if ((rc == -EPROTO) != (rep.cr_status == RM_CLAMD_PROTOCOL))
        abort();
    check_reply(&rep);

    clamd_reader_init(&whole);
    rc_whole = clamd_reader_feed(&whole, data, size, true);
    clamd_reader_init(&parts);
    rc = 0;
    while (off < size && rc == 0) {
        step = 1 + data[off] % 13;
        if (step > size - off)
            step = size - off;
        rc = clamd_reader_feed(&parts, data + off, step, false);
        off += step;
    }
    if (rc == 0)
        rc = clamd_reader_feed(&parts, NULL, 0, true);
    if (rc != rc_whole)
        abort();
    if (rc == 1) {
        check_reply(&parts.cd_reply);
        if (parts.cd_reply.cr_status != whole.cd_reply.cr_status ||
            strcmp(parts.cd_reply.cr_text, whole.cd_reply.cr_text) != 0)
            abort();
    } else if (rc != -EMSGSIZE && rc != -EPIPE) {
        abort();
    }

    if (size <= 65536)
        roundtrip(data, size);
    return 0;
}
