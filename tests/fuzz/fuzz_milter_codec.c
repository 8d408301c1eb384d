/*
 * NAME
 *   fuzz_milter_codec - libFuzzer target for the milter command decoder
 *
 * DESCRIPTION
 *   The input is what an MTA (or anyone who can reach the milter socket)
 *   sends. The first byte chooses how the rest is split into reads (whole,
 *   one byte at a time, or pseudo-random chunk sizes), because the decoder
 *   must give the same result for any split. Every decoded command is
 *   walked completely (each string read to its NUL, each argv entry,
 *   the body bytes), and its strings are fed back through the encoder and
 *   the negotiation, so that ASan/UBSan see every pointer the codec hands
 *   out. The decoder's maximum packet is small (64 KiB + 1) so oversized
 *   packets are reachable.
 *
 *   Needs: src/milter/codec.c (rm_milter, or the file itself) and rm_lib
 *   (xmalloc, log).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "core/pipeline.h"
#include "core/reply.h"
#include "milter/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void
touch(const char *s)
{
    if (s)
        sink += strlen(s);
}

static void
walk(const struct milter_cmd *c, struct milter_buf *out)
{
    struct milter_neg neg;
    struct rm_reply r;
    struct rm_mod m;
    size_t i;

    touch(c->hostname);
    touch(c->addr);
    touch(c->helo);
    touch(c->name);
    touch(c->value);
    touch(c->unknown);
    for (i = 0; c->argv && i < c->argc; i++)
        touch(c->argv[i]);
    if (c->argv)
        sink += c->argv[c->argc] == NULL;
    for (i = 0; i < c->body_len; i++)
        sink += (unsigned char)c->body[i];

    (void)milter_negotiate(c->version, c->actions, c->protocol,
                           c->protocol & 0x3ff, c->actions & 0x3ff,
                           c->actions & 0xff, &neg);
    milter_enc_optneg(out, &neg);
    if (c->name) {
        milter_enc_addheader(out, c->name, c->value);
        milter_enc_chgheader(out, 1, c->name, c->value);
        (void)milter_enc_replycode(out, "550", "5.7.1", c->value);
    }
    if (c->argc > 0) {
        milter_enc_chgfrom(out, c->argv[0], c->argc > 1 ? c->argv[1] : NULL);
        (void)milter_enc_replycode(out, "451", NULL, c->argv[0]);
    }
    if (c->body)
        milter_enc_replbody(out, c->body, c->body_len);

    memset(&r, 0, sizeof(r));
    r.action = (enum rm_action)(c->body_len % 8);
    if (c->name) {
        m.kind = RM_MOD_INSERT_HEADER;
        m.index = 0;
        m.name = (char *)c->name;
        m.value = (char *)c->value;
        m.value_len = strlen(c->value);
        r.mods = &m;
        r.n_mods = 1;
        r.text = (char *)c->value;
        memcpy(r.rcode, "554", 4);
    }
    milter_enc_reply(out, &neg, SMFIC_BODYEOB, &r, NULL);
    milter_buf_reset(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct milter_decoder d;
    struct milter_buf out = {0};
    struct milter_cmd c;
    size_t off = 1, used, chunk;
    unsigned mode, seed;
    int rc = 0;

    if (size < 1)
        return 0;
    mode = data[0] % 3;
    seed = data[0];
    milter_decoder_init(&d, 65536 + 1);
    while (off < size) {
        if (mode == 0) {
            chunk = size - off;
        } else if (mode == 1) {
            chunk = 1;
        } else {
            seed = seed * 1103515245u + 12345u;
            chunk = 1 + (seed >> 16) % 97;
            if (chunk > size - off)
                chunk = size - off;
        }
        rc = milter_decode(&d, data + off, chunk, &used, &c);
        if (used > chunk)
            __builtin_trap();
        off += used;
        if (rc < 0)
            break;
        if (rc == 1)
            walk(&c, &out);
        else if (used != chunk)
            __builtin_trap(); /* 0 means everything was consumed */
    }
    sink += milter_decoder_pending(&d) + strlen(milter_decoder_why(&d));
    milter_decoder_free(&d);
    milter_buf_free(&out);
    return 0;
}
