/*
 * NAME
 *   test_iplist - IPv4/IPv6 network lists: parsing, canonical text, lookup
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/iplist.h"

static struct rm_ipaddr
A(const char *s) {
    struct rm_ipaddr a;

    assert_int_equal(ipaddr_parse(s, &a), 0);
    return a;
}

static bool
M(const struct rm_iplist *l, const char *s)
{
    struct rm_ipaddr a = A(s);

    return iplist_match(l, &a);
}

/* L - a list from NULL-terminated specs that must all parse */
static struct rm_iplist *
L(const char *first, ...)
{
    struct rm_iplist *l = iplist_new();
    char err[256];
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        err[0] = '\0';
        if (iplist_add(l, s, err, sizeof(err)) != 0)
            fail_msg("iplist_add(%s): %s", s, err);
    }
    va_end(ap);
    return l;
}

static void
test_parse_addr(void **state)
{
    struct rm_ipaddr a;
    char buf[64];

    (void)state;
    a = A("192.0.2.1");
    assert_int_equal(a.family, AF_INET);
    assert_memory_equal(a.a, "\xc0\x00\x02\x01", 4);
    a = A("[::1]");
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.a[15], 1);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "::1");
    a = A("[192.0.2.1]");
    assert_int_equal(a.family, AF_INET);
    a = A("2001:DB8::1");
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "2001:db8::1");

    assert_int_equal(ipaddr_parse("", &a), -1);
    assert_int_equal(ipaddr_parse("[::1", &a), -1);
    assert_int_equal(ipaddr_parse("::1]", &a), -1);
    assert_int_equal(ipaddr_parse("[[::1]]", &a), -1);
    assert_int_equal(ipaddr_parse("[]", &a), -1);
    assert_int_equal(ipaddr_parse("256.0.0.1", &a), -1);
    assert_int_equal(ipaddr_parse("example.com", &a), -1);
    assert_int_equal(ipaddr_parse("fe80::1%eth0", &a), -1);
    assert_int_equal(ipaddr_parse("10/8", &a), -1);
}

static void
test_mask(void **state)
{
    struct rm_ipaddr a = A("192.168.255.255");
    char buf[64];

    (void)state;
    ipaddr_mask(&a, 20);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "192.168.240.0");
    ipaddr_mask(&a, 0);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "0.0.0.0");
    a = A("2001:db8:ffff:ffff::1");
    ipaddr_mask(&a, 33);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "2001:db8:8000::");
}

static void
test_from_sockaddr(void **state)
{
    struct sockaddr_in sin = {0};
    struct sockaddr_in6 sin6 = {0};
    struct sockaddr sa = {0};
    struct rm_ipaddr a;
    char buf[64];

    (void)state;
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
    assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin, &a), 0);
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "198.51.100.7");

    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:198.51.100.7", &sin6.sin6_addr);
    assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
    assert_int_equal(a.family, AF_INET);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "198.51.100.7");

    inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
    assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "2001:db8::7");

    sa.sa_family = AF_UNIX;
    assert_int_equal(ipaddr_from_sockaddr(&sa, &a), -1);
    assert_int_equal(ipaddr_from_sockaddr(NULL, &a), -1);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"x", "expected an IP address or network, found 'x'"},
        {"", "expected an IP address or network, found ''"},
        {"example.com/24",
         "expected an IP address or network, found 'example.com/24'"},
        {"[::1", "expected an IP address or network, found '[::1'"},
        {"[::1]x/128", "expected an IP address or network, found '[::1]x/128'"},
        {"1.2.3.4/33",
         "expected a prefix length between 0 and 32, found '1.2.3.4/33'"},
        {"1.2.3.4/", "expected a prefix length between 0 and 32, found "
                     "'1.2.3.4/'"},
        {"1.2.3.4/-1", "expected a prefix length between 0 and 32, found "
                       "'1.2.3.4/-1'"},
        {"1.2.3.4/8/8", "expected a prefix length between 0 and 32, found "
                        "'1.2.3.4/8/8'"},
        {"::1/129",
         "expected a prefix length between 0 and 128, found '::1/129'"},
        {"[::1]/0128",
         "expected a prefix length between 0 and 128, found '[::1]/0128'"},
    };
    struct rm_iplist *l = iplist_new();
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(iplist_add(l, cases[i].spec, err, sizeof(err)), -1);
        assert_string_equal(err, cases[i].msg);
    }
    assert_int_equal(iplist_count(l), 0);
    /* a NULL errbuf is fine */
    assert_int_equal(iplist_add(l, "bad", NULL, 0), -1);
    iplist_free(l);
}

static void
test_canonical_text(void **state)
{
    struct rm_iplist *l =
        L("192.0.2.1", "192.168.1.5/16", "[::1]", "[::1]/128", "2001:DB8::/32",
          "10.0.0.0/8", "10.0.0.0/8", "192.0.2.1/32", "::ffff:192.0.2.0/120",
          "0.0.0.0/0", NULL);

    (void)state;
    /* duplicates (also [::1] vs [::1]/128) are kept once */
    assert_int_equal(iplist_count(l), 7);
    assert_string_equal(iplist_entry(l, 0), "192.0.2.1");
    assert_string_equal(iplist_entry(l, 1), "192.168.0.0/16");
    assert_string_equal(iplist_entry(l, 2), "::1");
    assert_string_equal(iplist_entry(l, 3), "2001:db8::/32");
    assert_string_equal(iplist_entry(l, 4), "10.0.0.0/8");
    assert_string_equal(iplist_entry(l, 5), "::ffff:192.0.2.0/120");
    assert_string_equal(iplist_entry(l, 6), "0.0.0.0/0");
    assert_null(iplist_entry(l, 7));
    iplist_free(l);
}

static void
test_match_v4(void **state)
{
    struct rm_iplist *l = L("192.0.2.1", "10.0.0.0/8", "172.16.0.0/12", NULL);

    (void)state;
    assert_true(M(l, "192.0.2.1"));
    assert_false(M(l, "192.0.2.2"));
    assert_false(M(l, "192.0.2.0"));
    assert_true(M(l, "10.0.0.0"));
    assert_true(M(l, "10.255.255.255"));
    assert_false(M(l, "11.0.0.0"));
    assert_false(M(l, "9.255.255.255"));
    assert_true(M(l, "172.31.255.255"));
    assert_false(M(l, "172.32.0.0"));
    assert_false(M(l, "172.15.255.255"));
    /* IPv6 clients do not match IPv4 entries, except v4-mapped ones */
    assert_false(M(l, "::1"));
    assert_false(M(l, "::10.0.0.1")); /* v4-compatible is not v4-mapped */
    assert_true(M(l, "::ffff:10.1.2.3"));
    assert_true(M(l, "[::ffff:192.0.2.1]"));
    assert_false(M(l, "::ffff:192.0.2.2"));
    iplist_free(l);
}

static void
test_match_v6(void **state)
{
    struct rm_iplist *l = L("[::1]/128", "2001:db8::/32", "fe80::/10", NULL);

    (void)state;
    assert_true(M(l, "::1"));
    assert_false(M(l, "::2"));
    assert_false(M(l, "::"));
    assert_true(M(l, "2001:db8::"));
    assert_true(M(l, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(M(l, "2001:db9::"));
    assert_false(M(l, "2001:db7:ffff::1"));
    assert_true(M(l, "febf::1"));
    assert_false(M(l, "fec0::1"));
    assert_false(M(l, "127.0.0.1"));
    iplist_free(l);
}

static void
test_longest_prefix(void **state)
{
    /* a narrower entry added first must not hide a wider one, and the
     * other way round */
    struct rm_iplist *a = L("10.1.2.0/24", "10.0.0.0/8", NULL);
    struct rm_iplist *b = L("10.0.0.0/8", "10.1.2.0/24", NULL);
    struct rm_iplist *c = L("10.1.2.3", "10.1.2.0/25", NULL);

    (void)state;
    assert_true(M(a, "10.1.2.3"));
    assert_true(M(a, "10.200.0.1"));
    assert_false(M(a, "11.1.2.3"));
    assert_true(M(b, "10.1.2.3"));
    assert_true(M(b, "10.200.0.1"));
    assert_true(M(c, "10.1.2.3"));
    assert_true(M(c, "10.1.2.127"));
    assert_false(M(c, "10.1.2.128"));
    iplist_free(a);
    iplist_free(b);
    iplist_free(c);
}

static void
test_zero_prefix(void **state)
{
    struct rm_iplist *v4 = L("0.0.0.0/0", NULL);
    struct rm_iplist *v6 = L("::/0", NULL);

    (void)state;
    assert_true(M(v4, "0.0.0.0"));
    assert_true(M(v4, "255.255.255.255"));
    assert_true(M(v4, "::ffff:1.2.3.4"));
    assert_false(M(v4, "2001:db8::1"));
    /* ::/0 covers ::ffff:0:0/96, so IPv4 clients are inside it too */
    assert_true(M(v6, "2001:db8::1"));
    assert_true(M(v6, "::"));
    assert_true(M(v6, "192.0.2.1"));
    iplist_free(v4);
    iplist_free(v6);
}

static void
test_v4mapped_entries(void **state)
{
    struct rm_iplist *l = L("::ffff:192.0.2.0/120", NULL);
    struct rm_iplist *all = L("::ffff:0:0/96", NULL);

    (void)state;
    assert_true(M(l, "192.0.2.77"));
    assert_true(M(l, "::ffff:192.0.2.77"));
    assert_false(M(l, "192.0.3.1"));
    assert_true(M(all, "8.8.8.8"));
    assert_true(M(all, "::ffff:8.8.8.8"));
    assert_false(M(all, "2001:db8::1"));
    iplist_free(l);
    iplist_free(all);
}

static void
test_empty_and_null(void **state)
{
    struct rm_iplist *l = iplist_new();
    struct rm_ipaddr a = A("127.0.0.1");

    (void)state;
    assert_false(iplist_match(l, &a));
    assert_int_equal(iplist_count(l), 0);
    assert_null(iplist_entry(l, 0));
    assert_false(iplist_match(NULL, &a));
    assert_int_equal(iplist_count(NULL), 0);
    assert_null(iplist_entry(NULL, 0));
    iplist_free(l);
    iplist_free(NULL);
}

static void
test_many(void **state)
{
    struct rm_iplist *l = iplist_new();
    char spec[64];

    (void)state;
    for (unsigned i = 0; i < 2000; i++) {
        snprintf(spec, sizeof(spec), "10.%u.%u.0/24", i / 256, i % 256);
        assert_int_equal(iplist_add(l, spec, NULL, 0), 0);
    }
    assert_int_equal(iplist_count(l), 2000);
    /* the same networks again add nothing */
    for (unsigned i = 0; i < 2000; i++) {
        snprintf(spec, sizeof(spec), "10.%u.%u.9/24", i / 256, i % 256);
        assert_int_equal(iplist_add(l, spec, NULL, 0), 0);
    }
    assert_int_equal(iplist_count(l), 2000);
    assert_int_equal(iplist_add(l, "::ffff:10.0.0.0/120", NULL, 0), 0);
    assert_int_equal(iplist_count(l), 2000);
    assert_string_equal(iplist_entry(l, 1999), "10.7.207.0/24");
    assert_true(M(l, "10.7.207.9"));  /* i = 2000 - 1 = 7*256 + 207 */
    assert_false(M(l, "10.7.208.9")); /* i = 2000 */
    iplist_free(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_from_sockaddr),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_match_v4),
        cmocka_unit_test(test_match_v6),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_zero_prefix),
        cmocka_unit_test(test_v4mapped_entries),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
