/*
 * NAME
 *   test_spf_map - SPF results to Received-SPF headers and SMTP replies
 *
 * DESCRIPTION
 *   The mapping of spf_map.h, without DNS: which domains are checked
 *   (exact, case-insensitive, "*", never a substring), the RFC 7208 9.1
 *   header text for every result (pinned strings), quoting of values that
 *   are not dot-atoms, escaping in the comment, and the reply and codes of
 *   each result under each policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/spf_map.h"

static struct rm_spf_facts
facts(enum rm_spf_result r)
{
    struct rm_spf_facts f = {
        .result = r,
        .receiver = "mta.test",
        .host = "mx.client.test",
        .ip = "192.0.2.1",
        .sender = "a@fail.spf.test",
        .helo = "client.test",
    };

    return f;
}

static void
test_domain_listed(void **state)
{
    char *v1[] = {"Example.ORG", "spf.test"};
    char *v2[] = {"*"};
    struct rm_strlist l1 = {.n = 2, .v = v1}, l2 = {.n = 1, .v = v2};
    struct rm_strlist empty = {0};

    (void)state;
    assert_true(spf_domain_listed(&l1, NULL, "example.org"));
    assert_true(spf_domain_listed(NULL, &l1, "EXAMPLE.org"));
    assert_true(spf_domain_listed(&empty, &l1, "spf.test"));
    /* never a substring, a parent or a child */
    assert_false(spf_domain_listed(&l1, NULL, "mail.example.org"));
    assert_false(spf_domain_listed(&l1, NULL, "badexample.org"));
    assert_false(spf_domain_listed(&l1, NULL, "example.org.evil.test"));
    assert_false(spf_domain_listed(&l1, NULL, "org"));
    assert_false(spf_domain_listed(&empty, NULL, "example.org"));
    /* "*" lists everything, but not nothing */
    assert_true(spf_domain_listed(&empty, &l2, "anything.test"));
    assert_false(spf_domain_listed(&l2, NULL, ""));
    assert_false(spf_domain_listed(&l2, NULL, NULL));
}

static void
assert_header(enum rm_spf_result r, const char *want)
{
    struct rm_spf_facts f = facts(r);
    char *h = spf_header_value(&f);

    assert_string_equal(h, want);
    free(h);
}

static void
test_header_per_result(void **state)
{
    (void)state;
    /* folded before a blank so that no line, "Received-SPF: " included,
     * passes 78 characters */
    assert_header(RM_SPF_PASS,
                  "pass (mta.test: domain of a@fail.spf.test designates "
                  "192.0.2.1\n"
                  " as permitted sender) client-ip=192.0.2.1; "
                  "envelope-from=\"a@fail.spf.test\";\n"
                  " helo=client.test; receiver=mta.test; identity=mailfrom;");
    assert_header(RM_SPF_FAIL,
                  "fail (mta.test: domain of a@fail.spf.test does not "
                  "designate\n"
                  " 192.0.2.1 as permitted sender) client-ip=192.0.2.1;\n"
                  " envelope-from=\"a@fail.spf.test\"; helo=client.test;"
                  " receiver=mta.test;\n"
                  " identity=mailfrom;");
}

/* unfold - the header value as one line (folds removed) */
static char *
unfold(char *h)
{
    size_t i, o = 0;

    for (i = 0; h[i]; i++) {
        if (h[i] == '\n' && (h[i + 1] == '\t' || h[i + 1] == ' ')) {
            h[o++] = ' ';
            i++;
            continue;
        }
        h[o++] = h[i];
    }
    h[o] = '\0';
    return h;
}

static void
assert_header_flat(const struct rm_spf_facts *f, const char *want)
{
    char *h = spf_header_value(f);
    size_t i;

    /* no line over 78 characters, no control characters but folds */
    for (i = 0; h[i]; i++)
        if ((unsigned char)h[i] < 0x20)
            assert_true(h[i] == '\n' ? h[i + 1] == '\t' || h[i + 1] == ' '
                                     : h[i] == '\t');
    assert_string_equal(unfold(h), want);
    free(h);
}

static void
test_header_texts(void **state)
{
    struct rm_spf_facts f;

    (void)state;
    f = facts(RM_SPF_SOFTFAIL);
    assert_header_flat(&f, "softfail (mta.test: domain of transitioning "
                           "a@fail.spf.test does not designate 192.0.2.1 as "
                           "permitted sender) client-ip=192.0.2.1; "
                           "envelope-from=\"a@fail.spf.test\"; "
                           "helo=client.test; receiver=mta.test; "
                           "identity=mailfrom;");
    f = facts(RM_SPF_NEUTRAL);
    assert_header_flat(&f, "neutral (mta.test: 192.0.2.1 is neither "
                           "permitted nor denied by domain of "
                           "a@fail.spf.test) client-ip=192.0.2.1; "
                           "envelope-from=\"a@fail.spf.test\"; "
                           "helo=client.test; receiver=mta.test; "
                           "identity=mailfrom;");
    f = facts(RM_SPF_NONE);
    assert_header_flat(&f, "none (mta.test: domain of a@fail.spf.test does "
                           "not designate permitted sender hosts) "
                           "client-ip=192.0.2.1; "
                           "envelope-from=\"a@fail.spf.test\"; "
                           "helo=client.test; receiver=mta.test; "
                           "identity=mailfrom;");
    f = facts(RM_SPF_TEMPERROR);
    f.problem = "DNS lookup failure";
    assert_header_flat(&f, "temperror (mta.test: temporary error in "
                           "processing during lookup of a@fail.spf.test: DNS "
                           "lookup failure) client-ip=192.0.2.1; "
                           "envelope-from=\"a@fail.spf.test\"; "
                           "helo=client.test; receiver=mta.test; "
                           "identity=mailfrom;");
    f = facts(RM_SPF_PERMERROR);
    f.problem = "Invalid IPv4 address literal";
    assert_header_flat(&f, "permerror (mta.test: permanent error in "
                           "processing domain of a@fail.spf.test: Invalid "
                           "IPv4 address literal) client-ip=192.0.2.1; "
                           "envelope-from=\"a@fail.spf.test\"; "
                           "helo=client.test; receiver=mta.test; "
                           "identity=mailfrom;");

    /* the null sender: the HELO identity; an IPv6 client is quoted */
    f = facts(RM_SPF_PASS);
    f.sender = "postmaster@helo.spf.test";
    f.helo = "helo.spf.test";
    f.helo_identity = true;
    f.ip = "2001:db8::1";
    assert_header_flat(&f, "pass (mta.test: domain of "
                           "postmaster@helo.spf.test designates 2001:db8::1 "
                           "as permitted sender) client-ip=\"2001:db8::1\"; "
                           "envelope-from=\"postmaster@helo.spf.test\"; "
                           "helo=helo.spf.test; receiver=mta.test; "
                           "identity=helo;");

    /* specials are escaped; no HELO, no helo= */
    f = facts(RM_SPF_FAIL);
    f.sender = "\"x)(\\y\"@fail.spf.test";
    f.helo = "";
    f.receiver = NULL;
    assert_header_flat(&f, "fail (localhost: domain of "
                           "\"x\\)\\(\\\\y\"@fail.spf.test does not "
                           "designate 192.0.2.1 as permitted sender) "
                           "client-ip=192.0.2.1; "
                           "envelope-from=\"\\\"x)(\\\\y\\\"@fail.spf.test\"; "
                           "receiver=localhost; identity=mailfrom;");
}

static void
test_header_no_injection(void **state)
{
    struct rm_spf_facts f = facts(RM_SPF_FAIL);
    char *h;

    (void)state;
    f.helo = "evil\r\nX-Injected: yes";
    f.sender = "a\n@fail.spf.test";
    h = spf_header_value(&f);
    assert_null(strstr(h, "\nX-Injected"));
    assert_null(strchr(h, '\r'));
    free(h);
}

struct want {
    enum rm_action action;
    const char *rcode, *xcode, *text;
};

static void
assert_action(enum rm_spf_result r, enum rm_spf_policy soft,
              enum rm_spf_policy temp, enum rm_spf_policy perm, struct want w)
{
    struct rm_spf_facts f = facts(r);
    struct rm_spf_action a;

    spf_action(&f, soft, temp, perm, &a);
    assert_int_equal(a.action, w.action);
    if (w.action == RM_ACT_CONTINUE) {
        assert_null(a.text);
        return;
    }
    assert_string_equal(a.rcode, w.rcode);
    assert_string_equal(a.xcode, w.xcode);
    assert_string_equal(a.text, w.text);
    free(a.text);
}

#define H RM_SPF_POLICY_HEADER
#define T RM_SPF_POLICY_TEMPFAIL
#define R RM_SPF_POLICY_REJECT

static void
test_actions(void **state)
{
    const struct want cont = {.action = RM_ACT_CONTINUE};
    const struct want fail = {
        RM_ACT_REJECT, "550", "5.7.23",
        "SPF policy violation. Host mx.client.test[192.0.2.1] is not "
        "allowed to send mail as a@fail.spf.test."};
    const struct want soft_temp = {
        RM_ACT_TEMPFAIL, "451", "4.7.23",
        "SPF soft failure. Host mx.client.test[192.0.2.1] is not allowed "
        "to send mail as a@fail.spf.test; try again later."};
    const struct want temp_temp = {
        RM_ACT_TEMPFAIL, "451", "4.7.24",
        "Temporary error checking the SPF record of a@fail.spf.test; try "
        "again later."};
    const struct want temp_rej = {
        RM_ACT_REJECT, "550", "5.7.24",
        "Temporary error checking the SPF record of a@fail.spf.test; try "
        "again later."};
    const struct want perm_rej = {
        RM_ACT_REJECT, "550", "5.7.24",
        "SPF permanent error: the SPF record of a@fail.spf.test is "
        "invalid."};
    const struct want perm_temp = {
        RM_ACT_TEMPFAIL, "451", "4.7.24",
        "SPF permanent error: the SPF record of a@fail.spf.test is "
        "invalid; try again later."};

    (void)state;
    /* the defaults: softfail header, temperror tempfail, permerror header */
    assert_action(RM_SPF_PASS, H, T, H, cont);
    assert_action(RM_SPF_NEUTRAL, H, T, H, cont);
    assert_action(RM_SPF_NONE, H, T, H, cont);
    assert_action(RM_SPF_FAIL, H, T, H, fail);
    assert_action(RM_SPF_SOFTFAIL, H, T, H, cont);
    assert_action(RM_SPF_TEMPERROR, H, T, H, temp_temp);
    assert_action(RM_SPF_PERMERROR, H, T, H, cont);
    /* the policies */
    assert_action(RM_SPF_SOFTFAIL, T, H, H, soft_temp);
    assert_action(RM_SPF_SOFTFAIL, R, H, H, fail);
    assert_action(RM_SPF_TEMPERROR, H, H, H, cont);
    assert_action(RM_SPF_TEMPERROR, H, R, H, temp_rej);
    assert_action(RM_SPF_PERMERROR, H, H, R, perm_rej);
    assert_action(RM_SPF_PERMERROR, H, H, T, perm_temp);
    /* fail always rejects; pass never does */
    assert_action(RM_SPF_FAIL, R, R, R, fail);
    assert_action(RM_SPF_PASS, R, R, R, cont);
}

static void
test_reply_is_one_ascii_line(void **state)
{
    struct rm_spf_facts f = facts(RM_SPF_FAIL);
    struct rm_spf_action a;
    size_t i;

    (void)state;
    f.host = "bad\r\nhost\x01\xc3\xa9";
    f.sender = "a\tb@fail.spf.test";
    spf_action(&f, H, T, H, &a);
    for (i = 0; a.text[i]; i++)
        assert_true((unsigned char)a.text[i] >= 0x20 &&
                    (unsigned char)a.text[i] < 0x7f);
    assert_non_null(strstr(a.text, "SPF policy violation. Host bad host"));
    assert_non_null(strstr(a.text, "[192.0.2.1] is not allowed to send mail "
                                   "as a b@fail.spf.test."));
    free(a.text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_listed),
        cmocka_unit_test(test_header_per_result),
        cmocka_unit_test(test_header_texts),
        cmocka_unit_test(test_header_no_injection),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_reply_is_one_ascii_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
