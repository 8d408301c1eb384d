/*
 * NAME
 *   test_proto_clamd - the INSTREAM framing and the clamd reply parser
 *
 * DESCRIPTION
 *   The encoder is checked byte for byte. The parser is fed replies
 *   captured from a real clamd 1.4.6 (tests/unit/data/proto/clamd_*.bin,
 *   made with research/harness/clamd.sh and a raw zINSTREAM client), then
 *   hand-made variants, truncated and garbage input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "proto/clamd.h"

/* fixture - a captured reply, whole */
static char *
fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/tests/unit/data/proto/%s", RM_SOURCE_DIR,
             name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---------------------------------------------------------------------- */
/* Encoder */

struct src {
    const char *data;
    size_t len, off;
    int fail_at; /* fail on this call (1-based), 0: never */
    int calls;
};

static int
src_read(void *ud, void *buf, size_t size, size_t *len)
{
    struct src *s = ud;
    size_t n = s->len - s->off;

    if (++s->calls == s->fail_at)
        return -EIO;
    if (n > size)
        n = size;
    memcpy(buf, s->data + s->off, n);
    s->off += n;
    *len = n;
    return 0;
}

/* encode_all - run the encoder to the end with an out buffer of size */
static size_t
encode_all(struct src *s, size_t size, unsigned char *out, size_t outsize)
{
    struct rm_clamd_enc enc;
    unsigned char buf[256];
    size_t len, total = 0;

    assert_true(size <= sizeof(buf));
    clamd_enc_init(&enc);
    for (;;) {
        assert_int_equal(clamd_enc_fill(&enc, src_read, s, buf, size, &len), 0);
        if (len == 0)
            break;
        assert_true(total + len <= outsize);
        memcpy(out + total, buf, len);
        total += len;
    }
    assert_true(clamd_enc_done(&enc));
    return total;
}

static void
test_enc_one_chunk(void **state)
{
    static const unsigned char want[] = "zINSTREAM\0"
                                        "\x00\x00\x00\x0bhello world"
                                        "\x00\x00\x00\x00";
    struct src s = {.data = "hello world", .len = 11};
    unsigned char out[128];
    size_t n;

    (void)state;
    n = encode_all(&s, 64, out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
}

static void
test_enc_small_chunks(void **state)
{
    /* A buffer of 10 bytes holds 6 body bytes per chunk. */
    static const unsigned char want[] = "zINSTREAM\0"
                                        "\x00\x00\x00\x06hello "
                                        "\x00\x00\x00\x05world"
                                        "\x00\x00\x00\x00";
    struct src s = {.data = "hello world", .len = 11};
    unsigned char out[128];
    size_t n;

    (void)state;
    n = encode_all(&s, 10, out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
}

static void
test_enc_empty_body(void **state)
{
    static const unsigned char want[] = "zINSTREAM\0\x00\x00\x00\x00";
    struct src s = {.data = "", .len = 0};
    unsigned char out[64];
    size_t n;

    (void)state;
    n = encode_all(&s, 32, out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
}

static void
test_enc_errors(void **state)
{
    struct rm_clamd_enc enc;
    struct src s = {.data = "abc", .len = 3, .fail_at = 1};
    unsigned char buf[64], hdr[4];
    size_t len = 99;

    (void)state;
    clamd_enc_init(&enc);
    /* Too small for the command. */
    assert_int_equal(clamd_enc_fill(&enc, src_read, &s, buf, 9, &len), -EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(clamd_enc_fill(&enc, src_read, &s, buf, 64, &len), 0);
    assert_int_equal(len, RM_CLAMD_INSTREAM_LEN);
    /* The source's error comes back as is. */
    assert_int_equal(clamd_enc_fill(&enc, src_read, &s, buf, 64, &len), -EIO);
    assert_false(clamd_enc_done(&enc));

    assert_int_equal(clamd_chunk_header(0x01020304, hdr), 0);
    assert_memory_equal(hdr, "\x01\x02\x03\x04", 4);
    assert_int_equal(clamd_chunk_header(0x100000000ull, hdr), -EFBIG);
}

/* ---------------------------------------------------------------------- */
/* Replies */

static void
parse_fixture(const char *name, struct rm_clamd_reply *rep)
{
    struct rm_clamd_reader r;
    size_t len, i;
    char *buf = fixture(name, &len);
    int rc = 0;

    /* Byte by byte, as a slow socket would deliver it. */
    clamd_reader_init(&r);
    for (i = 0; i < len; i++) {
        rc = clamd_reader_feed(&r, buf + i, 1, false);
        if (i + 1 < len)
            assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 1);
    *rep = r.cd_reply;
    free(buf);
}

static void
test_real_replies(void **state)
{
    struct rm_clamd_reply rep;

    (void)state;
    parse_fixture("clamd_ok.bin", &rep);
    assert_int_equal(rep.cr_status, RM_CLAMD_CLEAN);
    assert_string_equal(rep.cr_text, "");

    parse_fixture("clamd_found.bin", &rep);
    assert_int_equal(rep.cr_status, RM_CLAMD_VIRUS);
    assert_string_equal(rep.cr_text, "Harness.EICAR.NDB.UNOFFICIAL");

    parse_fixture("clamd_nINSTREAM_found.bin", &rep);
    assert_int_equal(rep.cr_status, RM_CLAMD_VIRUS);
    assert_string_equal(rep.cr_text, "Harness.EICAR.NDB.UNOFFICIAL");

    parse_fixture("clamd_sizelimit.bin", &rep);
    assert_int_equal(rep.cr_status, RM_CLAMD_ERROR);
    assert_true(rep.cr_size_limit);
    assert_string_equal(rep.cr_text, "INSTREAM size limit exceeded.");

    parse_fixture("clamd_unknown.bin", &rep);
    assert_int_equal(rep.cr_status, RM_CLAMD_PROTOCOL);
    assert_string_equal(rep.cr_text, "UNKNOWN COMMAND");
}

static void
expect(const char *reply, size_t len, int rc, enum rm_clamd_status st,
       const char *text)
{
    struct rm_clamd_reply rep;

    assert_int_equal(clamd_reply_parse(reply, len, &rep), rc);
    assert_int_equal(rep.cr_status, st);
    assert_string_equal(rep.cr_text, text);
}

#define EXPECT(s, rc, st, text) expect(s, sizeof(s) - 1, rc, st, text)

static void
test_variants(void **state)
{
    (void)state;
    EXPECT("stream: OK\n", 0, RM_CLAMD_CLEAN, "");
    EXPECT("stream: OK\r\n", 0, RM_CLAMD_CLEAN, "");
    EXPECT("stream: OK", 0, RM_CLAMD_CLEAN, "");
    EXPECT("1: stream: OK", 0, RM_CLAMD_CLEAN, "");
    EXPECT("12: stream: Eicar-Signature FOUND", 0, RM_CLAMD_VIRUS,
           "Eicar-Signature");
    EXPECT("stream: Heuristics.Phishing.Email.SpoofedDomain FOUND\0", 0,
           RM_CLAMD_VIRUS, "Heuristics.Phishing.Email.SpoofedDomain");
    EXPECT("stream: Can't allocate memory ERROR\0", 0, RM_CLAMD_ERROR,
           "Can't allocate memory");
    {
        struct rm_clamd_reply rep;

        assert_int_equal(clamd_reply_parse("stream: x ERROR", 15, &rep), 0);
        assert_false(rep.cr_size_limit);
    }
    /* A hostile name keeps only the safe set; '%' and '<' never pass. */
    EXPECT("stream: Evil<script>%s\"'\x01\xff FOUND", 0, RM_CLAMD_VIRUS,
           "Evil_script__s____");
    /* Not replies. */
    EXPECT("stream:  FOUND", -EPROTO, RM_CLAMD_PROTOCOL, "stream: FOUND");
    EXPECT("stream: OK but more", -EPROTO, RM_CLAMD_PROTOCOL,
           "stream: OK but more");
    EXPECT("", -EPROTO, RM_CLAMD_PROTOCOL, "");
    EXPECT("\x01\x02garbage\x7f", -EPROTO, RM_CLAMD_PROTOCOL, "garbage");
    EXPECT("PONG", -EPROTO, RM_CLAMD_PROTOCOL, "PONG");
    EXPECT(": stream: OK", -EPROTO, RM_CLAMD_PROTOCOL, ": stream: OK");
}

static void
test_long_name_cut(void **state)
{
    char reply[600];
    struct rm_clamd_reply rep;
    int n;

    (void)state;
    n = snprintf(reply, sizeof(reply), "stream: %0500d FOUND", 7);
    assert_int_equal(clamd_reply_parse(reply, (size_t)n, &rep), 0);
    assert_int_equal(rep.cr_status, RM_CLAMD_VIRUS);
    assert_int_equal(strlen(rep.cr_text), RM_CLAMD_TEXT_MAX - 1);
}

static void
test_reader_framing(void **state)
{
    struct rm_clamd_reader r;
    char big[RM_CLAMD_REPLY_MAX + 10];

    (void)state;
    /* Bytes after the terminator are ignored; the result sticks. */
    clamd_reader_init(&r);
    assert_int_equal(clamd_reader_feed(&r, "stream: ", 8, false), 0);
    assert_int_equal(clamd_reader_feed(&r, "OK\0junk", 7, false), 1);
    assert_int_equal(r.cd_reply.cr_status, RM_CLAMD_CLEAN);
    assert_int_equal(clamd_reader_feed(&r, "more", 4, true), 1);

    /* Cut by eof without a terminator: parsed as it is. */
    clamd_reader_init(&r);
    assert_int_equal(clamd_reader_feed(&r, "stream: X FOUND", 15, false), 0);
    assert_int_equal(clamd_reader_feed(&r, NULL, 0, true), 1);
    assert_int_equal(r.cd_reply.cr_status, RM_CLAMD_VIRUS);
    assert_string_equal(r.cd_reply.cr_text, "X");

    /* Truncated mid-word: a protocol error, still a complete reply. */
    clamd_reader_init(&r);
    assert_int_equal(clamd_reader_feed(&r, "stream: X FOU", 13, true), 1);
    assert_int_equal(r.cd_reply.cr_status, RM_CLAMD_PROTOCOL);

    /* Closed before a byte. */
    clamd_reader_init(&r);
    assert_int_equal(clamd_reader_feed(&r, NULL, 0, true), -EPIPE);
    assert_int_equal(clamd_reader_feed(&r, "stream: OK\0", 11, false), -EPIPE);

    /* No terminator within the limit. */
    clamd_reader_init(&r);
    memset(big, 'A', sizeof(big));
    assert_int_equal(clamd_reader_feed(&r, big, sizeof(big), false), -EMSGSIZE);
    assert_int_equal(clamd_reader_feed(&r, "\0", 1, false), -EMSGSIZE);
}

static void
test_status_names(void **state)
{
    (void)state;
    assert_string_equal(clamd_status_name(RM_CLAMD_CLEAN), "clean");
    assert_string_equal(clamd_status_name(RM_CLAMD_VIRUS), "virus");
    assert_string_equal(clamd_status_name(RM_CLAMD_ERROR), "error");
    assert_string_equal(clamd_status_name(RM_CLAMD_PROTOCOL), "protocol error");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_one_chunk),
        cmocka_unit_test(test_enc_small_chunks),
        cmocka_unit_test(test_enc_empty_body),
        cmocka_unit_test(test_enc_errors),
        cmocka_unit_test(test_real_replies),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_long_name_cut),
        cmocka_unit_test(test_reader_framing),
        cmocka_unit_test(test_status_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
