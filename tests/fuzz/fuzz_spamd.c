/*
 * NAME
 *   fuzz_spamd - libFuzzer target for the spamd (SPAMC/1.5) reply reader
 *
 * DESCRIPTION
 *   The input is what a spamd sends back. It is fed to one reader whole
 *   and to another in pieces whose sizes come from the input, each
 *   followed by eof; both must give the same result and the same reply.
 *   A complete reply must keep its promises: the body inside what was
 *   read, a printable status text, symbol names non-empty and trimmed.
 *   A small reader maximum (from the input) exercises the size limit.
 *   A broken promise aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_proto rm_lib
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/spamd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static int
run(struct rm_spamd_reader *r, const uint8_t *data, size_t size, bool split)
{
    size_t off = 0, step;
    int rc = 0;

    if (!split) {
        rc = spamd_reader_feed(r, data, size, false);
        return rc != 0 ? rc : spamd_reader_feed(r, NULL, 0, true);
    }
    while (off < size && rc == 0) {
        step = 1 + data[off] % 17;
        if (step > size - off)
            step = size - off;
        rc = spamd_reader_feed(r, data + off, step, false);
        off += step;
    }
    return rc != 0 ? rc : spamd_reader_feed(r, NULL, 0, true);
}

static void
check(const struct rm_spamd_reader *r)
{
    const struct rm_spamd_reply *rep = &r->sd_reply;
    const char *name;
    size_t i, pos = 0, len;

    for (i = 0; rep->sr_text[i] != '\0'; i++)
        if ((unsigned char)rep->sr_text[i] < 0x20 ||
            (unsigned char)rep->sr_text[i] >= 0x7f)
            abort();
    if (rep->sr_status == RM_SPAMD_ERROR)
        return;
    if (rep->sr_body == NULL || rep->sr_body < r->sd_buf ||
        rep->sr_body + rep->sr_body_len > r->sd_buf + r->sd_len)
        abort();
    while (spamd_symbols_next(rep, &pos, &name, &len)) {
        if (len == 0 || name[0] == ' ' || name[0] == ',' ||
            name[len - 1] == ' ' || name[len - 1] == '\n')
            abort();
        sink += len;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rm_spamd_reader a, b, c;
    int ra, rb;

    spamd_reader_init(&a, 0);
    spamd_reader_init(&b, 0);
    ra = run(&a, data, size, false);
    rb = run(&b, data, size, true);
    if (ra != rb)
        abort();
    if (ra == 1) {
        check(&a);
        check(&b);
        if (a.sd_reply.sr_status != b.sd_reply.sr_status ||
            a.sd_reply.sr_code != b.sd_reply.sr_code ||
            a.sd_reply.sr_is_spam != b.sd_reply.sr_is_spam ||
            a.sd_reply.sr_body_len != b.sd_reply.sr_body_len ||
            strcmp(a.sd_reply.sr_text, b.sd_reply.sr_text) != 0 ||
            (a.sd_reply.sr_body_len > 0 &&
             memcmp(a.sd_reply.sr_body, b.sd_reply.sr_body,
                    a.sd_reply.sr_body_len) != 0))
            abort();
    } else if (ra != -EPROTO && ra != -EMSGSIZE && ra != -EBADMSG &&
               ra != -EPIPE) {
        abort();
    }
    spamd_reader_fini(&a);
    spamd_reader_fini(&b);

    /* A tiny maximum: never more than that is kept. */
    spamd_reader_init(&c, 1 + (size ? data[0] : 0));
    run(&c, data, size, true);
    if (c.sd_len > c.sd_max)
        abort();
    spamd_reader_fini(&c);
    return 0;
}
