/*
 * NAME
 *   test_envelope - canonical envelope addresses and client networks
 *
 * DESCRIPTION
 *   The exact strings pinned here are part of the store key format shared
 *   by daemons; a change that breaks one of these breaks shared state.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/envelope.h"

static void
norm_is(const char *raw, const char *want)
{
    char out[512];
    int n = envelope_addr_norm(raw, out, sizeof(out));

    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
}

static void
test_addr_norm(void **state)
{
    char small[8];

    (void)state;
    norm_is("<User@Example.ORG>", "user@example.org");
    norm_is("user@example.org", "user@example.org");
    norm_is("  <Bob@EXAMPLE.org>  ", "bob@example.org");
    norm_is("<>", "<>");
    norm_is("", "<>");
    norm_is("  ", "<>");
    norm_is("< >", "<>");
    norm_is("< Bob@Example.org >", "bob@example.org");
    norm_is("<<x>>", "<x>"); /* one pair of brackets only */
    norm_is("<@relay.example,@b.example:User@Example.org>", "user@example.org");
    norm_is("<\"Odd|Local\"@Example.org>", "\"odd|local\"@example.org");
    norm_is("MAILER-DAEMON", "mailer-daemon");
    norm_is("<postmaster>", "postmaster");
    /* non-ASCII bytes pass through unchanged */
    norm_is("<J\xc3\xb6rg@Example.org>", "j\xc3\xb6rg@example.org");
    /* out needs strlen(raw) + 3 at most */
    assert_int_equal(envelope_addr_norm("", small, 2), -ENAMETOOLONG);
    assert_int_equal(envelope_addr_norm("", small, 3), 2);
    assert_int_equal(envelope_addr_norm("abcdefgh", small, sizeof(small)),
                     -ENAMETOOLONG);
    assert_int_equal(envelope_addr_norm("<abcdefg>", small, sizeof(small)), 7);
}

static void
test_local_part(void **state)
{
    size_t n;
    const char *p;

    (void)state;
    p = envelope_local_part("postmaster@example.org", &n);
    assert_int_equal(n, 10);
    assert_memory_equal(p, "postmaster", 10);
    p = envelope_local_part("\"a@b\"@example.org", &n);
    assert_int_equal(n, 5);
    p = envelope_local_part("mailer-daemon", &n);
    assert_int_equal(n, 13);
    envelope_local_part("<>", &n);
    assert_int_equal(n, 0);
    assert_true(envelope_addr_is_null("<>"));
    assert_false(envelope_addr_is_null("a@b"));
}

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
net_is(const char *ip, unsigned v4, unsigned v6, const char *want)
{
    struct rm_ipaddr a;
    char out[RM_ENVELOPE_NET_MAX];
    int n;

    addr(ip, &a);
    n = envelope_client_net(&a, v4, v6, out, sizeof(out));
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
}

static void
test_client_net(void **state)
{
    struct rm_ipaddr a;
    char out[RM_ENVELOPE_NET_MAX];

    (void)state;
    net_is("192.0.2.123", 24, 64, "192.0.2.0/24");
    net_is("192.0.2.123", 19, 64, "192.0.0.0/19");
    net_is("198.51.100.255", 25, 64, "198.51.100.128/25");
    net_is("192.0.2.123", 32, 64, "192.0.2.123");
    net_is("192.0.2.123", 0, 64, "0.0.0.0/0");
    net_is("2001:db8:1:2:3:4:5:6", 24, 64, "2001:db8:1:2::/64");
    net_is("2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48");
    net_is("2001:db8:1:2:3:4:5:6", 24, 56, "2001:db8:1::/56");
    net_is("2001:db8:1:2ff:3:4:5:6", 24, 56, "2001:db8:1:200::/56");
    net_is("2001:db8::1", 24, 128, "2001:db8::1");
    /* an IPv4-mapped IPv6 client is an IPv4 client */
    net_is("::ffff:192.0.2.200", 24, 64, "192.0.2.0/24");

    addr("192.0.2.1", &a);
    assert_int_equal(envelope_client_net(&a, 33, 64, out, sizeof(out)),
                     -EINVAL);
    assert_int_equal(envelope_client_net(&a, 24, 64, out, 16), -EINVAL);
    addr("2001:db8::1", &a);
    assert_int_equal(envelope_client_net(&a, 24, 129, out, sizeof(out)),
                     -EINVAL);
    a.family = AF_UNIX;
    assert_int_equal(envelope_client_net(&a, 24, 64, out, sizeof(out)),
                     -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_norm),
        cmocka_unit_test(test_local_part),
        cmocka_unit_test(test_client_net),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
