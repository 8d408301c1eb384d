/*
 * NAME
 *   test_proto_spamd - the SPAMC/1.5 request header and spamd reply parser
 *
 * DESCRIPTION
 *   Request headers are checked byte for byte. The reader is fed replies
 *   captured from a real SpamAssassin 4.0.1 spamd
 *   (tests/unit/data/proto/spamd_*.bin: SYMBOLS, CHECK and REPORT for
 *   GTUBE and a ham message, and two error replies), split at every
 *   offset, then truncated, oversized and garbage input.
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

#include "proto/spamd.h"

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
/* Requests */

static void
test_request_exact(void **state)
{
    char out[RM_SPAMD_REQ_MAX];
    size_t len;

    (void)state;
    assert_int_equal(spamd_request_build(RM_SPAMD_SYMBOLS, 1234, NULL, out,
                                         sizeof(out), &len),
                     0);
    assert_int_equal(len, strlen("SYMBOLS SPAMC/1.5\r\n"
                                 "Content-length: 1234\r\n\r\n"));
    assert_memory_equal(
        out, "SYMBOLS SPAMC/1.5\r\nContent-length: 1234\r\n\r\n", len);

    assert_int_equal(
        spamd_request_build(RM_SPAMD_CHECK, 0, "", out, sizeof(out), &len), 0);
    assert_memory_equal(out, "CHECK SPAMC/1.5\r\nContent-length: 0\r\n\r\n",
                        len);

    assert_int_equal(spamd_request_build(RM_SPAMD_REPORT, 77,
                                         "alice@example.org", out, sizeof(out),
                                         &len),
                     0);
    assert_int_equal(len, strlen("REPORT SPAMC/1.5\r\nContent-length: 77\r\n"
                                 "User: alice@example.org\r\n\r\n"));
    assert_memory_equal(out,
                        "REPORT SPAMC/1.5\r\nContent-length: 77\r\n"
                        "User: alice@example.org\r\n\r\n",
                        len);
}

static void
test_request_errors(void **state)
{
    char out[RM_SPAMD_REQ_MAX], user[RM_SPAMD_USER_MAX + 2];
    size_t len = 5;

    (void)state;
    assert_int_equal(
        spamd_request_build(RM_SPAMD_SYMBOLS, 1, "a b", out, sizeof(out), &len),
        -EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(spamd_request_build(RM_SPAMD_SYMBOLS, 1, "a\r\nX: y", out,
                                         sizeof(out), &len),
                     -EINVAL);
    assert_int_equal(spamd_request_build(RM_SPAMD_SYMBOLS, 1, "\xc3\xa9", out,
                                         sizeof(out), &len),
                     -EINVAL);
    assert_int_equal(spamd_request_build((enum rm_spamd_cmd)42, 1, NULL, out,
                                         sizeof(out), &len),
                     -EINVAL);
    memset(user, 'u', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    assert_int_equal(
        spamd_request_build(RM_SPAMD_SYMBOLS, 1, user, out, sizeof(out), &len),
        -EINVAL);
    user[RM_SPAMD_USER_MAX] = '\0'; /* the longest allowed */
    assert_int_equal(spamd_request_build(RM_SPAMD_SYMBOLS, UINT64_MAX, user,
                                         out, sizeof(out), &len),
                     0);
    assert_int_equal(
        spamd_request_build(RM_SPAMD_SYMBOLS, 1, NULL, out, 20, &len), -ENOSPC);
}

/* ---------------------------------------------------------------------- */
/* Replies */

/* feed_split - feed buf in two parts at k, then eof; the final result */
static int
feed_split(struct rm_spamd_reader *r, const char *buf, size_t len, size_t k)
{
    int rc;

    rc = spamd_reader_feed(r, buf, k, false);
    if (rc != 0)
        return rc;
    rc = spamd_reader_feed(r, buf + k, len - k, false);
    if (rc != 0)
        return rc;
    return spamd_reader_feed(r, NULL, 0, true);
}

static void
test_symbols_gtube(void **state)
{
    static const char *want[] = {"GTUBE", "MSGID_SHORT", "NO_RECEIVED",
                                 "NO_RELAYS", "TVD_SPACE_RATIO"};
    struct rm_spamd_reader r;
    const struct rm_spamd_reply *rep;
    const char *name;
    size_t len, k, pos, nlen, i;
    char *buf = fixture("spamd_symbols_gtube.bin", &len);

    (void)state;
    for (k = 0; k <= len; k++) {
        spamd_reader_init(&r, 0);
        assert_int_equal(feed_split(&r, buf, len, k), 1);
        rep = &r.sd_reply;
        assert_int_equal(rep->sr_status, RM_SPAMD_OK);
        assert_int_equal(rep->sr_code, 0);
        assert_string_equal(rep->sr_text, "EX_OK");
        assert_string_equal(rep->sr_version, "1.1");
        assert_true(rep->sr_has_verdict);
        assert_true(rep->sr_is_spam);
        assert_true(rep->sr_score == 1000.0);
        assert_true(rep->sr_threshold == 5.0);
        assert_int_equal(rep->sr_body_len, 55);
        pos = 0;
        for (i = 0; i < 5; i++) {
            assert_true(spamd_symbols_next(rep, &pos, &name, &nlen));
            assert_int_equal(nlen, strlen(want[i]));
            assert_memory_equal(name, want[i], nlen);
        }
        assert_false(spamd_symbols_next(rep, &pos, &name, &nlen));
        spamd_reader_fini(&r);
    }
    free(buf);
}

static void
test_complete_before_eof(void **state)
{
    struct rm_spamd_reader r;
    size_t len;
    char *buf = fixture("spamd_symbols_ham.bin", &len);

    (void)state;
    /* With Content-length the reply is complete without waiting for the
     * close. */
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, buf, len, false), 1);
    assert_false(r.sd_reply.sr_is_spam);
    assert_true(r.sd_reply.sr_score == 0.0); /* "-0.0" */
    assert_true(r.sd_reply.sr_threshold == 5.0);
    assert_int_equal(r.sd_reply.sr_body_len, 33);
    assert_memory_equal(r.sd_reply.sr_body, "MSGID_SHORT,NO_RECEIVED,NO_RELAYS",
                        33);
    assert_int_equal(spamd_reader_feed(&r, "x", 1, true), 1);
    spamd_reader_fini(&r);
    free(buf);
}

static void
test_check_and_report(void **state)
{
    struct rm_spamd_reader r;
    size_t len;
    char *buf;

    (void)state;
    /* CHECK has no Content-length: the reply ends at the close. */
    buf = fixture("spamd_check_gtube.bin", &len);
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, buf, len, false), 0);
    assert_int_equal(spamd_reader_feed(&r, NULL, 0, true), 1);
    assert_true(r.sd_reply.sr_is_spam);
    assert_true(r.sd_reply.sr_score == 1000.0);
    assert_int_equal(r.sd_reply.sr_body_len, 0);
    spamd_reader_fini(&r);
    free(buf);

    buf = fixture("spamd_check_ham.bin", &len);
    spamd_reader_init(&r, 0);
    assert_int_equal(feed_split(&r, buf, len, 3), 1);
    assert_true(r.sd_reply.sr_has_verdict);
    assert_false(r.sd_reply.sr_is_spam);
    spamd_reader_fini(&r);
    free(buf);

    buf = fixture("spamd_report_gtube.bin", &len);
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, buf, len, false), 1);
    assert_int_equal(r.sd_reply.sr_body_len, 878);
    assert_memory_equal(r.sd_reply.sr_body, "Spam detection software", 23);
    assert_non_null(
        memmem(r.sd_reply.sr_body, r.sd_reply.sr_body_len, "1000 GTUBE", 10));
    spamd_reader_fini(&r);
    free(buf);
}

static void
test_error_replies(void **state)
{
    struct rm_spamd_reader r;
    size_t len;
    char *buf;

    (void)state;
    buf = fixture("spamd_bad_header.bin", &len);
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, buf, len, false), 1);
    assert_int_equal(r.sd_reply.sr_status, RM_SPAMD_ERROR);
    assert_int_equal(r.sd_reply.sr_code, 76);
    assert_string_equal(r.sd_reply.sr_version, "1.0");
    assert_string_equal(
        r.sd_reply.sr_text,
        "Bad header line: (Content-Length contains non-numeric bytes)");
    assert_false(r.sd_reply.sr_has_verdict);
    spamd_reader_fini(&r);
    free(buf);

    buf = fixture("spamd_bad_method.bin", &len);
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, buf, len, true), 1);
    assert_int_equal(r.sd_reply.sr_status, RM_SPAMD_ERROR);
    assert_string_equal(r.sd_reply.sr_text, "Bad header line: BOGUS SPAMC/1.5");
    spamd_reader_fini(&r);
    free(buf);

    /* An error line cut by the close is still an error reply. */
    spamd_reader_init(&r, 0);
    assert_int_equal(spamd_reader_feed(&r, "SPAMD/1.0 79 Timeout", 20, true),
                     1);
    assert_int_equal(r.sd_reply.sr_code, 79);
    assert_string_equal(r.sd_reply.sr_text, "Timeout");
    spamd_reader_fini(&r);
}

static int
feed_one(const char *s, size_t len, size_t max, bool eof)
{
    struct rm_spamd_reader r;
    int rc;

    spamd_reader_init(&r, max);
    rc = spamd_reader_feed(&r, s, len, eof);
    spamd_reader_fini(&r);
    return rc;
}

#define FEED(s, max, eof) feed_one(s, sizeof(s) - 1, max, eof)

static void
test_bad_input(void **state)
{
    size_t len, k;
    char *buf = fixture("spamd_symbols_gtube.bin", &len);

    (void)state;
    /* Truncated anywhere: never complete, an error at eof. */
    for (k = 1; k < len; k++) {
        struct rm_spamd_reader r;
        int rc;

        spamd_reader_init(&r, 0);
        rc = spamd_reader_feed(&r, buf, k, true);
        assert_true(rc == -EBADMSG || rc == -EPROTO);
        spamd_reader_fini(&r);
    }
    free(buf);
    assert_int_equal(FEED("", 0, true), -EPIPE);
    assert_int_equal(FEED("HTTP/1.1 200 OK\r\n\r\n", 0, false), -EPROTO);
    assert_int_equal(FEED("SPAMD/x 0 EX_OK\r\n", 0, false), -EPROTO);
    assert_int_equal(FEED("SPAMD/1.1 zero EX_OK\r\n", 0, false), -EPROTO);
    assert_int_equal(FEED("SPAMD/1.1 999 EX_OK\r\n", 0, false), -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 2\r\n\r\n", 0, false),
        -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e9 / 2\r\n\r\n", 0, false),
        -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nSpam: True 1 / 2\r\n\r\n", 0, false),
        -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n\r\n", 0, false),
        -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nContent-length: 99999999999999999999\r\n"
             "\r\n",
             0, false),
        -EPROTO);
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n", 0, false), -EPROTO);
    /* Over the reader's limit. */
    assert_int_equal(
        FEED("SPAMD/1.1 0 EX_OK\r\nContent-length: 100\r\n\r\n", 16, false),
        -EMSGSIZE);
    /* Unknown headers are ignored; no Spam header is not an error. */
    {
        static const char rep[] = "SPAMD/1.5 0 EX_OK\nDidSet: local\n"
                                  "Content-length: 2\n\nA,";
        struct rm_spamd_reader r;

        spamd_reader_init(&r, 0);
        assert_int_equal(spamd_reader_feed(&r, rep, sizeof(rep) - 1, false), 1);
        assert_false(r.sd_reply.sr_has_verdict);
        assert_int_equal(r.sd_reply.sr_body_len, 2);
        spamd_reader_fini(&r);
    }
}

static void
test_symbols_iteration_edges(void **state)
{
    struct rm_spamd_reply rep;
    const char *name;
    size_t pos = 0, len;

    (void)state;
    memset(&rep, 0, sizeof(rep));
    rep.sr_body = " ,A ,, B\r\n,";
    rep.sr_body_len = strlen(rep.sr_body);
    assert_true(spamd_symbols_next(&rep, &pos, &name, &len));
    assert_int_equal(len, 1);
    assert_memory_equal(name, "A", 1);
    assert_true(spamd_symbols_next(&rep, &pos, &name, &len));
    assert_int_equal(len, 1);
    assert_memory_equal(name, "B", 1);
    assert_false(spamd_symbols_next(&rep, &pos, &name, &len));

    memset(&rep, 0, sizeof(rep));
    pos = 0;
    assert_false(spamd_symbols_next(&rep, &pos, &name, &len));
}

static void
test_decimal(void **state)
{
    double v;

    (void)state;
    assert_int_equal(spamd_parse_decimal(" -0.0 ", 6, &v), 0);
    assert_true(v == 0.0);
    assert_int_equal(spamd_parse_decimal("1000.0", 6, &v), 0);
    assert_true(v == 1000.0);
    assert_int_equal(spamd_parse_decimal("+2.5", 4, &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(spamd_parse_decimal("-3", 2, &v), 0);
    assert_true(v == -3.0);
    assert_int_equal(spamd_parse_decimal(".5", 2, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(spamd_parse_decimal("", 0, &v), -EINVAL);
    assert_int_equal(spamd_parse_decimal("-", 1, &v), -EINVAL);
    assert_int_equal(spamd_parse_decimal("1e5", 3, &v), -EINVAL);
    assert_int_equal(spamd_parse_decimal("1,5", 3, &v), -EINVAL);
    assert_int_equal(spamd_parse_decimal("nan", 3, &v), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_exact),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_symbols_gtube),
        cmocka_unit_test(test_complete_before_eof),
        cmocka_unit_test(test_check_and_report),
        cmocka_unit_test(test_error_replies),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_symbols_iteration_edges),
        cmocka_unit_test(test_decimal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
