/*
 * NAME
 *   test_proto_beanstalk - the use/put encoders and the reply parser
 *
 * DESCRIPTION
 *   The encoders are checked byte for byte. The parser is fed every reply
 *   beanstalkd can send to use and put, as captured from beanstalkd 1.12
 *   on loopback (USING, INSERTED, JOB_TOO_BIG followed by the next reply,
 *   EXPECTED_CRLF, BAD_FORMAT, UNKNOWN_COMMAND, DRAINING after SIGUSR1),
 *   the ones that cannot be provoked there by hand (BURIED,
 *   OUT_OF_MEMORY, INTERNAL_ERROR), then every prefix of each (truncated:
 *   "read more"), byte-at-a-time streaming, and garbage.
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

#include "proto/beanstalk.h"

static void
test_enc_use(void **state)
{
    char buf[RM_BS_CMD_MAX];
    size_t len = 0;

    (void)state;
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "default", &len), 0);
    assert_int_equal(len, 13);
    assert_memory_equal(buf, "use default\r\n", 14); /* NUL included */
    assert_int_equal(
        beanstalk_enc_use(buf, sizeof(buf), "mail.copies-1+(x);$_/", &len), 0);
    assert_string_equal(buf, "use mail.copies-1+(x);$_/\r\n");
    assert_int_equal(len, strlen(buf));
}

static void
test_enc_use_invalid(void **state)
{
    char buf[RM_BS_CMD_MAX], tube[RM_BS_TUBE_MAX + 2];
    size_t len = 99;

    (void)state;
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "", &len), -EINVAL);
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "-x", &len), -EINVAL);
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "a b", &len), -EINVAL);
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "a\r\nput", &len),
                     -EINVAL);
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), "t\xc3\xa9", &len),
                     -EINVAL);
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), NULL, &len), -EINVAL);
    memset(tube, 'a', RM_BS_TUBE_MAX);
    tube[RM_BS_TUBE_MAX] = '\0';
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), tube, &len), 0);
    assert_int_equal(len, 4 + RM_BS_TUBE_MAX + 2);
    tube[RM_BS_TUBE_MAX] = 'a';
    tube[RM_BS_TUBE_MAX + 1] = '\0';
    assert_int_equal(beanstalk_enc_use(buf, sizeof(buf), tube, &len), -EINVAL);
    /* too small a buffer */
    assert_int_equal(beanstalk_enc_use(buf, 16, "default", &len), -EINVAL);
    assert_int_equal(len, 4 + RM_BS_TUBE_MAX + 2); /* untouched */
}

static void
test_tube_valid(void **state)
{
    (void)state;
    assert_true(beanstalk_tube_valid("default"));
    assert_true(beanstalk_tube_valid("a-"));
    assert_true(beanstalk_tube_valid("0"));
    assert_false(beanstalk_tube_valid("-a"));
    assert_false(beanstalk_tube_valid(""));
    assert_false(beanstalk_tube_valid("tab\there"));
    assert_false(beanstalk_tube_valid("star*"));
    assert_false(beanstalk_tube_valid(NULL));
}

static void
test_enc_put(void **state)
{
    char buf[RM_BS_CMD_MAX];
    size_t len = 0;

    (void)state;
    assert_int_equal(
        beanstalk_enc_put(buf, sizeof(buf), 1025, 0, 172800, 5, &len), 0);
    assert_int_equal(len, 21);
    assert_memory_equal(buf, "put 1025 0 172800 5\r\n\0", 22);
    assert_int_equal(beanstalk_enc_put(buf, sizeof(buf), UINT32_MAX, UINT32_MAX,
                                       UINT32_MAX, UINT64_MAX, &len),
                     0);
    assert_string_equal(
        buf, "put 4294967295 4294967295 4294967295 18446744073709551615\r\n");
    assert_int_equal(len, strlen(buf));
    assert_int_equal(beanstalk_enc_put(buf, sizeof(buf), 0, 0, 1, 0, &len), 0);
    assert_string_equal(buf, "put 0 0 1 0\r\n");
    assert_int_equal(beanstalk_enc_put(buf, 32, 0, 0, 1, 0, &len), -EINVAL);
}

/* parse_all - a whole reply parses and uses every byte */
static struct rm_bs_reply
parse_all(const char *text)
{
    struct rm_bs_reply r;
    size_t used = 0;

    memset(&r, 0x5a, sizeof(r));
    assert_int_equal(beanstalk_reply_parse(text, strlen(text), &r, &used), 0);
    assert_int_equal(used, strlen(text));
    return r;
}

static void
test_every_reply(void **state)
{
    static const struct {
        const char *text;
        enum rm_bs_reply_kind kind;
        uint64_t id;
    } cases[] = {
        /* captured from beanstalkd 1.12 */
        {"INSERTED 1\r\n", RM_BS_INSERTED, 1},
        {"JOB_TOO_BIG\r\n", RM_BS_JOB_TOO_BIG, 0},
        {"EXPECTED_CRLF\r\n", RM_BS_EXPECTED_CRLF, 0},
        {"BAD_FORMAT\r\n", RM_BS_BAD_FORMAT, 0},
        {"UNKNOWN_COMMAND\r\n", RM_BS_UNKNOWN_COMMAND, 0},
        {"DRAINING\r\n", RM_BS_DRAINING, 0},
        /* by hand, from protocol.txt */
        {"BURIED 42\r\n", RM_BS_BURIED, 42},
        {"OUT_OF_MEMORY\r\n", RM_BS_OUT_OF_MEMORY, 0},
        {"INTERNAL_ERROR\r\n", RM_BS_INTERNAL_ERROR, 0},
        {"INSERTED 18446744073709551615\r\n", RM_BS_INSERTED, UINT64_MAX},
        {"INSERTED 007\r\n", RM_BS_INSERTED, 7},
    };
    struct rm_bs_reply r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = parse_all(cases[i].text);
        assert_int_equal(r.bs_kind, cases[i].kind);
        assert_true(r.bs_id == cases[i].id);
        assert_string_equal(r.bs_tube, "");
    }
    r = parse_all("USING mail.copies\r\n");
    assert_int_equal(r.bs_kind, RM_BS_USING);
    assert_string_equal(r.bs_tube, "mail.copies");
    assert_true(r.bs_id == 0);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(beanstalk_reply_name(RM_BS_USING), "USING");
    assert_string_equal(beanstalk_reply_name(RM_BS_JOB_TOO_BIG), "JOB_TOO_BIG");
    assert_string_equal(beanstalk_reply_name(RM_BS_UNKNOWN_COMMAND),
                        "UNKNOWN_COMMAND");
    assert_string_equal(beanstalk_reply_name((enum rm_bs_reply_kind)99), "?");
}

/* Two replies in one read, as beanstalkd sent them when a put of 200
 * bytes to a -z 100 server was followed by a small one: the first reply
 * uses only its own bytes. */
static void
test_back_to_back(void **state)
{
    const char *in = "JOB_TOO_BIG\r\nINSERTED 2\r\n";
    struct rm_bs_reply r;
    size_t used = 0;

    (void)state;
    assert_int_equal(beanstalk_reply_parse(in, strlen(in), &r, &used), 0);
    assert_int_equal(r.bs_kind, RM_BS_JOB_TOO_BIG);
    assert_int_equal(used, 13);
    assert_int_equal(
        beanstalk_reply_parse(in + used, strlen(in) - used, &r, &used), 0);
    assert_int_equal(r.bs_kind, RM_BS_INSERTED);
    assert_true(r.bs_id == 2);
    assert_int_equal(used, 12);
    /* used may be NULL */
    assert_int_equal(beanstalk_reply_parse(in, strlen(in), &r, NULL), 0);
}

/* Every proper prefix of a valid reply asks for more; feeding it one
 * byte more at a time ends with the complete reply. */
static void
test_truncated(void **state)
{
    static const char *const replies[] = {
        "INSERTED 123\r\n",    "BURIED 9\r\n",       "USING default\r\n",
        "JOB_TOO_BIG\r\n",     "EXPECTED_CRLF\r\n",  "DRAINING\r\n",
        "OUT_OF_MEMORY\r\n",   "INTERNAL_ERROR\r\n", "BAD_FORMAT\r\n",
        "UNKNOWN_COMMAND\r\n",
    };
    struct rm_bs_reply r;
    size_t i, n, used;

    (void)state;
    for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        size_t len = strlen(replies[i]);

        for (n = 0; n < len; n++)
            assert_int_equal(beanstalk_reply_parse(replies[i], n, &r, &used),
                             -EAGAIN);
        assert_int_equal(beanstalk_reply_parse(replies[i], len, &r, &used), 0);
        assert_int_equal(used, len);
    }
}

static void
test_garbage(void **state)
{
    static const char *const bad[] = {
        "INSERTED\r\n",                       /* no id */
        "INSERTED \r\n",                      /* empty id */
        "INSERTED x1\r\n",                    /* not digits */
        "INSERTED 1 2\r\n",                   /* extra argument */
        "INSERTED -1\r\n",                    /* sign */
        "INSERTED  1\r\n",                    /* two spaces */
        "INSERTED 18446744073709551616\r\n",  /* 2^64 */
        "INSERTED 000000000000000000001\r\n", /* 21 digits */
        "BURIED\r\n",
        "USING\r\n",
        "USING -x\r\n", /* not a tube name */
        "USING a b\r\n",
        "JOB_TOO_BIG 5\r\n", /* argument where none belongs */
        "DRAINING \r\n",
        "inserted 1\r\n", /* case matters */
        "NOT_FOUND\r\n",  /* a reply, but never to use/put */
        "OK\r\n",
        "\r\n", /* empty line */
        " INSERTED 1\r\n",
        "INSERTED 1\n", /* bare LF */
        "\n",
        "INSERTED 1\r\r\n", /* CR inside the line */
        "INS\rERTED 1\r\n",
        "+OK\r\n", /* another protocol (redis) */
        "HTTP/1.1 400 Bad Request\r\n",
    };
    struct rm_bs_reply r, keep;
    size_t i, used = 77;

    (void)state;
    memset(&keep, 0x33, sizeof(keep));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = keep;
        assert_int_equal(
            beanstalk_reply_parse(bad[i], strlen(bad[i]), &r, &used), -EBADMSG);
        assert_memory_equal(&r, &keep, sizeof(r)); /* untouched */
        assert_int_equal(used, 77);
    }
}

static void
test_garbage_binary(void **state)
{
    char buf[RM_BS_REPLY_MAX + 10];
    struct rm_bs_reply r;
    size_t used;

    (void)state;
    /* a NUL is garbage even before the line ends */
    assert_int_equal(beanstalk_reply_parse("INSE\0RTED", 9, &r, &used),
                     -EBADMSG);
    /* no line end within RM_BS_REPLY_MAX bytes: garbage, not "read more" */
    memset(buf, 'A', sizeof(buf));
    assert_int_equal(beanstalk_reply_parse(buf, RM_BS_REPLY_MAX - 1, &r, &used),
                     -EAGAIN);
    assert_int_equal(beanstalk_reply_parse(buf, RM_BS_REPLY_MAX, &r, &used),
                     -EBADMSG);
    assert_int_equal(beanstalk_reply_parse(buf, sizeof(buf), &r, &used),
                     -EBADMSG);
    /* the longest valid reply fits: USING + a 200-byte tube + CRLF */
    memcpy(buf, "USING ", 6);
    memset(buf + 6, 't', RM_BS_TUBE_MAX);
    memcpy(buf + 6 + RM_BS_TUBE_MAX, "\r\n", 2);
    assert_int_equal(
        beanstalk_reply_parse(buf, 6 + RM_BS_TUBE_MAX + 2, &r, &used), 0);
    assert_int_equal(used, 6 + RM_BS_TUBE_MAX + 2);
    assert_int_equal(strlen(r.bs_tube), RM_BS_TUBE_MAX);
    /* a 201-byte tube is not a tube */
    memcpy(buf, "USING ", 6);
    memset(buf + 6, 't', RM_BS_TUBE_MAX + 1);
    memcpy(buf + 6 + RM_BS_TUBE_MAX + 1, "\r\n", 2);
    assert_int_equal(
        beanstalk_reply_parse(buf, 6 + RM_BS_TUBE_MAX + 3, &r, &used),
        -EBADMSG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_use),
        cmocka_unit_test(test_enc_use_invalid),
        cmocka_unit_test(test_tube_valid),
        cmocka_unit_test(test_enc_put),
        cmocka_unit_test(test_every_reply),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_garbage_binary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
