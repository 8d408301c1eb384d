/*
 * NAME
 *   test_dnsl - DNS list query names and answer classes (RFC 5782)
 *
 * DESCRIPTION
 *   The names of RFC 5782 sections 2.1, 2.4 and 3 (its own examples and
 *   test entries), what may not become a query (address literals, bad
 *   labels, overlong names), how answers are classified, and the TXT
 *   template expansion.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/dnsl.h"

static void
ip_is(const char *ip, const char *zone, const char *want)
{
    struct rm_ipaddr a;
    char buf[RM_DNSL_NAMEBUF];

    assert_int_equal(ipaddr_parse(ip, &a), 0);
    assert_int_equal(dnsl_ip_name(&a, zone, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void
test_ip_names(void **state)
{
    struct rm_ipaddr a;
    char small[16], buf[RM_DNSL_NAMEBUF];

    (void)state;
    /* RFC 5782 2.1 */
    ip_is("192.0.2.99", "bad.example.com", "99.2.0.192.bad.example.com");
    ip_is("127.0.0.2", "bl.test.", "2.0.0.127.bl.test");
    /* RFC 5782 2.4: 2001:db8:1:2:3:4:567:89ab */
    ip_is("2001:DB8:1:2:3:4:567:89AB", "ugly.example.com",
          "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2."
          "ugly.example.com");
    /* a v4-mapped client is an IPv4 client */
    ip_is("::ffff:192.0.2.99", "bl.test", "99.2.0.192.bl.test");

    assert_int_equal(ipaddr_parse("192.0.2.1", &a), 0);
    assert_int_equal(dnsl_ip_name(&a, "", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(dnsl_ip_name(&a, ".", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(dnsl_ip_name(&a, ".bl.test", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(dnsl_ip_name(&a, "bl.test", small, sizeof(small)),
                     -ENAMETOOLONG);
    a.family = AF_UNIX;
    assert_int_equal(dnsl_ip_name(&a, "bl.test", buf, sizeof(buf)), -EINVAL);
}

static void
test_domain_names(void **state)
{
    char buf[RM_DNSL_NAMEBUF], big[400];

    (void)state;
    assert_int_equal(
        dnsl_domain_name("Mail.Example.COM.", "dbl.test", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "mail.example.com.dbl.test");
    /* RFC 5782 5: TEST listed, INVALID not */
    assert_int_equal(dnsl_domain_name("TEST", "dbl.test", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "test.dbl.test");
    assert_int_equal(
        dnsl_domain_name("_dmarc.x-y.example", "dbl.test", buf, sizeof(buf)),
        0);

    static const char *const bad[] = {
        "",
        ".",
        ".example",
        "a..example",
        "[192.0.2.1]",
        "a b.example",
        "a/b.example",
        "a@b.example",
        "\xc3\xa9.example",
        "a.example..",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dnsl_domain_name(bad[i], "dbl.test", buf, sizeof(buf)) != -EINVAL)
            fail_msg("'%s' accepted as a domain", bad[i]);
        assert_string_equal(buf, "");
    }
    /* a label of 64 bytes */
    memset(big, 'a', 64);
    strcpy(big + 64, ".example");
    assert_int_equal(dnsl_domain_name(big, "dbl.test", buf, sizeof(buf)),
                     -EINVAL);
    /* too long once the zone is added */
    for (size_t i = 0; i < 4; i++) {
        memset(big + i * 61, 'a', 60);
        big[i * 61 + 60] = '.';
    }
    strcpy(big + 4 * 61, "example");
    assert_int_equal(strlen(big), 251);
    assert_int_equal(dnsl_domain_name(big, "dbl.test", buf, sizeof(buf)),
                     -ENAMETOOLONG);
    assert_int_equal(dnsl_domain_name("a.example", "", buf, sizeof(buf)),
                     -EINVAL);
}

static struct in_addr
in4(const char *s)
{
    struct in_addr a;

    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a;
}

static void
test_classify(void **state)
{
    struct rm_iplist *only2 = iplist_new(), *all = iplist_new();
    char err[128];

    (void)state;
    assert_int_equal(iplist_add(only2, "127.0.0.2", err, sizeof(err)), 0);
    assert_int_equal(iplist_add(all, "127.0.0.0/8", err, sizeof(err)), 0);
    assert_int_equal(dnsl_classify(in4("127.0.0.2"), only2), RM_DNSL_LISTED);
    assert_int_equal(dnsl_classify(in4("127.0.0.4"), only2), RM_DNSL_OTHER);
    assert_int_equal(dnsl_classify(in4("127.0.0.4"), all), RM_DNSL_LISTED);
    assert_int_equal(dnsl_classify(in4("127.0.0.4"), NULL), RM_DNSL_LISTED);
    /* refusals and answers outside 127/8 never count, whatever listed */
    assert_int_equal(dnsl_classify(in4("127.255.255.254"), all),
                     RM_DNSL_REFUSED);
    assert_int_equal(dnsl_classify(in4("127.255.255.252"), NULL),
                     RM_DNSL_REFUSED);
    assert_int_equal(dnsl_classify(in4("192.0.2.1"), NULL), RM_DNSL_INVALID);
    assert_int_equal(dnsl_classify(in4("128.0.0.2"), all), RM_DNSL_INVALID);
    assert_string_equal(dnsl_class_name(RM_DNSL_REFUSED), "refused");
    iplist_free(only2);
    iplist_free(all);
}

static void
test_txt(void **state)
{
    char *s;

    (void)state;
    s = dnsl_txt_expand("Blocked - see http://x.example/?ip=$", 36, "192.0.2.1",
                        200);
    assert_string_equal(s, "Blocked - see http://x.example/?ip=192.0.2.1");
    free(s);
    /* control characters, line breaks and 8-bit bytes cannot escape */
    s = dnsl_txt_expand("a\r\nX-Evil: 1\0b\xff", 16, "$", 200);
    assert_string_equal(s, "a X-Evil: 1 b?");
    free(s);
    s = dnsl_txt_expand("$$$$", 4, "0123456789", 25);
    assert_int_equal(strlen(s), 25);
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_names),
        cmocka_unit_test(test_domain_names),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_txt),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
