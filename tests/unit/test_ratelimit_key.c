/*
 * NAME
 *   test_ratelimit_key - bucket order, exact keys, bounce detection
 *
 * DESCRIPTION
 *   Exact keys are pinned: daemons sharing Redis must build the same ones.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ratelimit_key.h"
#include "store/store.h"

static void
addr(const char *text, struct rm_ipaddr *a)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, text, a->a) == 1) {
        a->family = AF_INET;
        return;
    }
    assert_int_equal(inet_pton(AF_INET6, text, a->a), 1);
    a->family = AF_INET6;
}

static void
key_is(enum rm_rl_bucket b, const char *rcpt, const char *ip, const char *from,
       const char *want)
{
    char key[RM_STORE_KEY_MAX + 1];
    struct rm_ipaddr a;

    addr(ip, &a);
    assert_int_equal(ratelimit_key(b, "rl.", rcpt, &a, from, key, sizeof(key)),
                     0);
    assert_string_equal(key, want);
}

static void
test_order(void **state)
{
    enum rm_rl_bucket v[RM_RL_COUNT];

    (void)state;
    assert_int_equal(ratelimit_buckets(true, v), 5);
    assert_int_equal(v[0], RM_RL_BOUNCE_TO);
    assert_int_equal(v[1], RM_RL_BOUNCE_TO_IP);
    assert_int_equal(v[2], RM_RL_TO_IP_FROM);
    assert_int_equal(v[3], RM_RL_TO_IP);
    assert_int_equal(v[4], RM_RL_TO);
    assert_int_equal(ratelimit_buckets(false, v), 3);
    assert_int_equal(v[0], RM_RL_TO_IP_FROM);
    assert_int_equal(v[1], RM_RL_TO_IP);
    assert_int_equal(v[2], RM_RL_TO);
    assert_string_equal(ratelimit_bucket_name(RM_RL_BOUNCE_TO_IP),
                        "bounce_to_ip");
    assert_string_equal(ratelimit_bucket_name(RM_RL_TO), "to");
}

static void
test_cfg(void **state)
{
    struct rm_cfg_limits l;

    (void)state;
    memset(&l, 0, sizeof(l));
    l.limit_to.burst = 20;
    l.limit_to.rate = 0.016666667;
    l.limit_bounce_to_ip.burst = 5;
    assert_ptr_equal(ratelimit_bucket_cfg(&l, RM_RL_TO), &l.limit_to);
    assert_ptr_equal(ratelimit_bucket_cfg(&l, RM_RL_TO_IP_FROM),
                     &l.limit_to_ip_from);
    assert_true(ratelimit_bucket_enabled(ratelimit_bucket_cfg(&l, RM_RL_TO)));
    /* burst without rate, or nothing: disabled ("0:0" is the default) */
    assert_false(
        ratelimit_bucket_enabled(ratelimit_bucket_cfg(&l, RM_RL_BOUNCE_TO_IP)));
    assert_false(
        ratelimit_bucket_enabled(ratelimit_bucket_cfg(&l, RM_RL_TO_IP)));
}

static void
test_keys(void **state)
{
    (void)state;
    key_is(RM_RL_TO, "<Bob@Example.org>", "192.0.2.1", "<alice@example.com>",
           "rl.to|bob@example.org");
    key_is(RM_RL_TO_IP, "<Bob@Example.org>", "192.0.2.1", "<alice@example.com>",
           "rl.to_ip|bob@example.org|192.0.2.1");
    key_is(RM_RL_TO_IP_FROM, "<Bob@Example.org>", "192.0.2.1",
           "<Alice@Example.com>",
           "rl.to_ip_from|bob@example.org|192.0.2.1|alice@example.com");
    key_is(RM_RL_TO_IP_FROM, "<bob@example.org>", "192.0.2.1", "<>",
           "rl.to_ip_from|bob@example.org|192.0.2.1|<>");
    key_is(RM_RL_BOUNCE_TO, "<bob@example.org>", "192.0.2.1", "<>",
           "rl.bounce_to|bob@example.org");
    key_is(RM_RL_BOUNCE_TO_IP, "<bob@example.org>", "192.0.2.1", "<>",
           "rl.bounce_to_ip|bob@example.org|192.0.2.1");
    /* IPv6: the client's /64; v4-mapped: plain IPv4 */
    key_is(RM_RL_TO_IP, "<bob@example.org>", "2001:db8:1:2:3:4:5:6", "",
           "rl.to_ip|bob@example.org|2001:db8:1:2::/64");
    key_is(RM_RL_BOUNCE_TO_IP, "<bob@example.org>", "2001:db8:1:2::99", "",
           "rl.bounce_to_ip|bob@example.org|2001:db8:1:2::/64");
    key_is(RM_RL_TO_IP, "<bob@example.org>", "::ffff:192.0.2.1", "",
           "rl.to_ip|bob@example.org|192.0.2.1");
    /* separators, '%', blanks, controls and non-ASCII are %XX */
    key_is(RM_RL_TO_IP_FROM, "<\"a|b c%\"@x.org>", "192.0.2.1",
           "<J\xc3\xb6rg\x01@x.org>",
           "rl.to_ip_from|\"a%7cb%20c%25\"@x.org|192.0.2.1|j%c3%b6rg%01@x.org");
}

static void
test_long_fields(void **state)
{
    char from[600], rcpt[RM_RL_FIELD_MAX + 1], key[RM_STORE_KEY_MAX + 1];
    char want[RM_STORE_KEY_MAX + 1];
    struct rm_ipaddr a;

    (void)state;
    addr("192.0.2.1", &a);
    /* 400 x's: hashed, so no address makes a key too long */
    memset(from, 'X', 400);
    strcpy(from + 400, "@Example.org");
    assert_int_equal(ratelimit_key(RM_RL_TO_IP_FROM, "rl.", "bob@example.org",
                                   &a, from, key, sizeof(key)),
                     0);
    assert_string_equal(key, "rl.to_ip_from|bob@example.org|192.0.2.1|%#"
                             "a640eddd6bf3c0033d5e4e2b81405b1766f3b315ed6c3ad"
                             "37372d728c65ce25e");
    /* exactly RM_RL_FIELD_MAX encoded bytes: spelled out */
    memset(rcpt, 'r', RM_RL_FIELD_MAX);
    rcpt[RM_RL_FIELD_MAX] = '\0';
    assert_int_equal(
        ratelimit_key(RM_RL_TO, "rl.", rcpt, NULL, "", key, sizeof(key)), 0);
    snprintf(want, sizeof(want), "rl.to|%s", rcpt);
    assert_string_equal(key, want);
    /* one escaped byte more: hashed */
    rcpt[10] = ' '; /* (a trailing blank would be trimmed) */
    assert_int_equal(
        ratelimit_key(RM_RL_TO, "rl.", rcpt, NULL, "", key, sizeof(key)), 0);
    assert_int_equal(strlen(key), strlen("rl.to|%#") + 64);
}

static void
test_key_errors(void **state)
{
    char key[64];
    struct rm_ipaddr a;

    (void)state;
    addr("192.0.2.1", &a);
    assert_int_equal(ratelimit_key(RM_RL_TO_IP, "rl.", "bob@example.org", NULL,
                                   "", key, sizeof(key)),
                     -EINVAL);
    assert_int_equal(ratelimit_key(RM_RL_TO, "rl.", "bob@example.org", NULL, "",
                                   key, sizeof(key)),
                     0);
    assert_int_equal(
        ratelimit_key(RM_RL_TO, "rl.", "bob@example.org", NULL, "", key, 21),
        -ENAMETOOLONG);
    assert_int_equal(
        ratelimit_key(RM_RL_TO, "rl.", "bob@example.org", NULL, "", key, 22),
        0);
    assert_int_equal(
        ratelimit_key(RM_RL_COUNT, "rl.", "b", &a, "", key, sizeof(key)),
        -EINVAL);
}

static void
test_bounce(void **state)
{
    char *v[] = {"postmaster", "mailer-daemon",    "<>",
                 "null",       "fetchmail-daemon", "Bounces@Lists.Example.org"};
    struct rm_strlist l = {sizeof(v) / sizeof(v[0]), v};
    struct rm_strlist none = {0, NULL};

    (void)state;
    /* the null sender, however written, always */
    assert_true(ratelimit_is_bounce("<>", &l));
    assert_true(ratelimit_is_bounce("", &l));
    assert_true(ratelimit_is_bounce(" <> ", &none));
    assert_true(ratelimit_is_bounce("<>", NULL));
    /* listed local parts, case-insensitive, any domain */
    assert_true(ratelimit_is_bounce("<MAILER-DAEMON@mx.example.org>", &l));
    assert_true(ratelimit_is_bounce("<postmaster@example.org>", &l));
    assert_true(ratelimit_is_bounce("Postmaster", &l));
    assert_true(ratelimit_is_bounce("<null@example.org>", &l));
    assert_true(ratelimit_is_bounce("<@relay:postmaster@example.org>", &l));
    /* an entry with '@' is a whole address */
    assert_true(ratelimit_is_bounce("<bounces@lists.example.org>", &l));
    assert_false(ratelimit_is_bounce("<bounces@other.example.org>", &l));
    /* not prefixes, not suffixes (the original's off-by-one) */
    assert_false(ratelimit_is_bounce("<postmaster2@example.org>", &l));
    assert_false(ratelimit_is_bounce("<xpostmaster@example.org>", &l));
    assert_false(ratelimit_is_bounce("<postmaste@example.org>", &l));
    assert_false(ratelimit_is_bounce("<alice@postmaster.org>", &l));
    assert_false(ratelimit_is_bounce("<alice@example.org>", &l));
    assert_false(ratelimit_is_bounce("<postmaster@example.org>", &none));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),      cmocka_unit_test(test_cfg),
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_long_fields),
        cmocka_unit_test(test_key_errors), cmocka_unit_test(test_bounce),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
