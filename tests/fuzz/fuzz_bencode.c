/*
 * NAME
 *   fuzz_bencode - libFuzzer target for the bencode decoder and the
 *   Karmasphere reply parser
 *
 * DESCRIPTION
 *   The input is what a karma server (or anyone who can spoof its
 *   datagrams) sends. Each input goes through:
 *     - bencode_decode; a decoded tree is walked completely (every string
 *       read to its length, every int/str coercion tried), re-encoded,
 *       and the encoding decoded again: it must decode and re-encode to
 *       the same bytes (a canonical form is stable);
 *     - bencode_decode_prefix, which must agree with bencode_decode on
 *       whether the value is complete;
 *     - karma_reply_parse with and without a feedset name, every field of
 *       the result read.
 *   A mismatch aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_proto rm_lib
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/bencode.h"
#include "proto/karma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void
walk(const struct rm_bencode *b)
{
    char tmp[RM_BENCODE_INTBUF];
    const char *s;
    int64_t v;
    size_t i, len = 0;

    if (bencode_get_int(b, &v) == 0)
        sink += (size_t)v;
    s = bencode_get_str(b, tmp, &len);
    for (i = 0; s != NULL && i < len; i++)
        sink += (unsigned char)s[i];
    switch (b->type) {
    case RM_BENCODE_LIST:
        for (i = 0; i < b->n; i++)
            walk(b->items[i]);
        break;
    case RM_BENCODE_DICT:
        for (i = 0; i < b->n; i++) {
            sink += b->kv[i].klen;
            if (bencode_dict_get(b, b->kv[i].key) == NULL &&
                strlen(b->kv[i].key) == b->kv[i].klen)
                abort(); /* a key without a NUL must be found */
            walk(b->kv[i].val);
        }
        break;
    default:
        break;
    }
}

static void
str(const char *s)
{
    if (s != NULL)
        sink += strlen(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rm_bencode *b = NULL, *b2 = NULL;
    struct pbuf p1 = {0}, p2 = {0};
    struct rm_karma_reply r;
    char err[128];
    size_t used = 0, i;
    int rc, rc2;

    rc = bencode_decode(data, size, &b, err, sizeof(err));
    rc2 = bencode_decode_prefix(data, size, &b2, &used, NULL, 0);
    if ((rc == 0) != (rc2 == 0 && used == size))
        abort();
    bencode_free(b2);
    b2 = NULL;
    if (rc == 0) {
        walk(b);
        bencode_encode(b, &p1);
        if (bencode_decode(p1.pb_data, p1.pb_len, &b2, NULL, 0) != 0)
            abort();
        bencode_encode(b2, &p2);
        if (p1.pb_len != p2.pb_len || memcmp(p1.pb_data, p2.pb_data, p1.pb_len))
            abort();
        bencode_free(b2);
    }
    bencode_free(b);
    pbuf_free(&p1);
    pbuf_free(&p2);

    for (i = 0; i < 2; i++) {
        if (karma_reply_parse(data, size, i ? "karmasphere.email-sender" : NULL,
                              &r, err, sizeof(err)) == 0) {
            str(r.id);
            str(r.message);
            str(r.combiner);
            str(r.data);
            sink += (size_t)karma_clamp(r.value);
            for (size_t j = 0; j < r.n_facts; j++) {
                str(r.facts[j].feed);
                str(r.facts[j].identity);
                str(r.facts[j].data);
            }
            karma_reply_free(&r);
        }
    }
    return 0;
}
