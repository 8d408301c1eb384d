/*
 * NAME
 *   test_greylist_key - triplet keys, record values and the decision
 *
 * DESCRIPTION
 *   Exact keys are pinned (digests computed independently with
 *   `printf '192.0.2.0/24\0alice@example.com\0bob@example.org' |
 *   sha256sum`): they are shared between daemons. The decision is driven
 *   over a timeline of explicit times, never the wall clock.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modules/greylist_key.h"

#define T0 1700000000000ull
#define SEC 1000ull

#define HASH_V4                                                                \
    "cbf708b4b5f2cb3543397522de443083f2a2d11f7c403dccdad871e13a506b45"
#define HASH_V6                                                                \
    "a0b3d3d4433e3ff31b2e1123fa8e7106d8b7577a3297f1701d541bd3c1762c0a"

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
test_key_v4(void **state)
{
    struct rm_grey_triplet t, u;
    struct rm_ipaddr a;
    char key[128];

    (void)state;
    addr("192.0.2.123", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "<Alice@Example.COM>",
                                      "<Bob@Example.org>", &t),
                     0);
    assert_string_equal(t.net, "192.0.2.0/24");
    assert_string_equal(t.hash, HASH_V4);
    assert_int_equal(greylist_key(&t, "grey.", key, sizeof(key)), 0);
    assert_string_equal(key, "grey." HASH_V4);
    assert_int_equal(greylist_key(&t, "white.", key, sizeof(key)), 0);
    assert_string_equal(key, "white." HASH_V4);
    assert_int_equal(greylist_key(&t, "grey.", key, 69), -ENAMETOOLONG);
    assert_int_equal(greylist_key(&t, "grey.", key, 70), 0);

    /* same /24, other spelling of the same addresses: same key */
    addr("192.0.2.7", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "alice@example.com",
                                      " <BOB@example.ORG> ", &u),
                     0);
    assert_string_equal(u.hash, HASH_V4);
    /* another /24, sender or recipient: another key */
    addr("192.0.3.123", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "alice@example.com",
                                      "bob@example.org", &u),
                     0);
    assert_string_not_equal(u.hash, HASH_V4);
    addr("192.0.2.123", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "alice@example.com",
                                      "carol@example.org", &u),
                     0);
    assert_string_not_equal(u.hash, HASH_V4);
    assert_int_equal(greylist_triplet(&a, 24, 64, "<>", "bob@example.org", &u),
                     0);
    assert_string_not_equal(u.hash, HASH_V4);
    /* the separators are NULs: moving bytes between fields changes it */
    assert_int_equal(greylist_triplet(&a, 24, 64, "alice@example.comb",
                                      "ob@example.org", &u),
                     0);
    assert_string_not_equal(u.hash, HASH_V4);
    /* a wider mask keeps more clients together */
    addr("192.0.31.1", &a);
    assert_int_equal(greylist_triplet(&a, 19, 64, "alice@example.com",
                                      "bob@example.org", &u),
                     0);
    assert_string_equal(u.net, "192.0.0.0/19");
}

static void
test_key_v6(void **state)
{
    struct rm_grey_triplet t;
    struct rm_ipaddr a;

    (void)state;
    addr("2001:db8:1:2:3:4:5:6", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "", "<bob@example.org>", &t),
                     0);
    assert_string_equal(t.net, "2001:db8:1:2::/64");
    assert_string_equal(t.hash, HASH_V6);
    /* anywhere in the /64: the same triplet */
    addr("2001:db8:1:2:ffff:ffff:ffff:ffff", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "<>", "bob@example.org", &t),
                     0);
    assert_string_equal(t.hash, HASH_V6);
    /* an IPv4-mapped client is keyed as IPv4 */
    addr("::ffff:192.0.2.99", &a);
    assert_int_equal(greylist_triplet(&a, 24, 64, "alice@example.com",
                                      "bob@example.org", &t),
                     0);
    assert_string_equal(t.hash, HASH_V4);
    a.family = 0;
    assert_int_equal(greylist_triplet(&a, 24, 64, "a", "b", &t), -EINVAL);
}

static void
test_values(void **state)
{
    char buf[32];
    uint64_t ms;

    (void)state;
    assert_int_equal(greylist_value_format(T0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1700000000000");
    assert_int_equal(greylist_value_parse(buf, &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(greylist_value_format(T0, buf, 13), -EMSGSIZE);
    assert_int_equal(greylist_value_parse("", &ms), -EBADMSG);
    assert_int_equal(greylist_value_parse("12a", &ms), -EBADMSG);
    assert_int_equal(greylist_value_parse("-1", &ms), -EBADMSG);
    /* the original's binary struct timeval is not a value of ours */
    assert_int_equal(greylist_value_parse("\x10\x27", &ms), -EBADMSG);
    assert_int_equal(greylist_value_parse("99999999999999999999999", &ms),
                     -EBADMSG);
}

/* the timeline of one triplet: timeout 300 s, expire 1 day */
static void
test_decide_timeline(void **state)
{
    const uint64_t timeout = 300 * SEC, expire = 86400 * SEC;
    struct rm_grey_decision d;
    uint64_t first = T0;

    (void)state;
    /* first attempt: no record */
    greylist_decide(NULL, T0, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_NEW);
    assert_false(d.replace);
    assert_int_equal(d.wait_ms, timeout);
    assert_int_equal(d.pass_at_ms, T0 + timeout);
    assert_int_equal(greylist_wait_seconds(&d), 300);

    /* a retry after 60 s: still greylisted, 240 s left */
    greylist_decide(&first, T0 + 60 * SEC, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_TOO_EARLY);
    assert_int_equal(d.elapsed_ms, 60 * SEC);
    assert_int_equal(d.wait_ms, 240 * SEC);
    assert_int_equal(d.pass_at_ms, T0 + timeout);
    assert_int_equal(greylist_wait_seconds(&d), 240);

    /* 1 ms before the timeout: 1 s left (rounded up), not 0 */
    greylist_decide(&first, T0 + timeout - 1, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_TOO_EARLY);
    assert_int_equal(d.wait_ms, 1);
    assert_int_equal(greylist_wait_seconds(&d), 1);

    /* at and after the timeout: passes */
    greylist_decide(&first, T0 + timeout, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_PASS);
    assert_int_equal(d.elapsed_ms, timeout);
    greylist_decide(&first, T0 + expire - 1, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_PASS);

    /* at expire the record is stale: greylisted again, replacing it */
    greylist_decide(&first, T0 + expire, timeout, expire, &d);
    assert_int_equal(d.verdict, RM_GREY_NEW);
    assert_true(d.replace);
    assert_int_equal(d.wait_ms, timeout);
    assert_int_equal(d.pass_at_ms, T0 + expire + timeout);
}

/* a record from a clock ahead of ours never lets a triplet pass early */
static void
test_decide_future(void **state)
{
    struct rm_grey_decision d;
    uint64_t first = T0 + 30 * SEC;

    (void)state;
    greylist_decide(&first, T0, 300 * SEC, 86400 * SEC, &d);
    assert_int_equal(d.verdict, RM_GREY_TOO_EARLY);
    assert_int_equal(d.elapsed_ms, 0);
    assert_int_equal(d.wait_ms, 300 * SEC);
    /* a timeout of 0 passes any retry */
    first = T0;
    greylist_decide(&first, T0, 0, 86400 * SEC, &d);
    assert_int_equal(d.verdict, RM_GREY_PASS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_v4),
        cmocka_unit_test(test_key_v6),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_decide_timeline),
        cmocka_unit_test(test_decide_future),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
