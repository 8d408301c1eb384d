/*
 * NAME
 *   test_karma_proto - Karmasphere BQuery queries and replies
 *
 * DESCRIPTION
 *   Queries are compared byte for byte with the examples of
 *   research/karmasphere.md section 6 (6.1, 6.2); replies 6.5 (bad verdict
 *   with a fact), 6.6 (no opinion) and 6.7 (error) are parsed, and so are
 *   the variants peers produced: long keys, string values, integer ids,
 *   the legacy integer identity types (6.3, 6.4), missing fields, and
 *   fields of impossible types.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/bencode.h"
#include "proto/karma.h"

#define FS "karmasphere.email-sender"

static char *
encode(const struct rm_karma_query *q, size_t *len)
{
    struct pbuf pb = {0};

    karma_query_encode(q, &pb);
    return pbuf_take(&pb, len);
}

/* the three identities of the examples */
static void
example_ids(struct rm_karma_query *q)
{
    karma_query_add_identity(q, "192.0.2.1", RM_KARMA_IP4,
                             RM_KARMA_TAG_CLIENT_IP);
    karma_query_add_identity(q, "mail.example.com", RM_KARMA_DOMAIN,
                             RM_KARMA_TAG_HELO);
    karma_query_add_identity(q, "sender@example.com", RM_KARMA_EMAIL,
                             RM_KARMA_TAG_MAIL_FROM);
}

static void
test_query_61(void **state)
{
    static const char want[] =
        "d1:_15:mkc0-12070000001:ill9:192.0.2.13:ip414:smtp.client-ipel16:"
        "mail.example.com6:domain13:smtp.env.heloel18:sender@example.com5:"
        "email18:smtp.env.mail-fromee1:sl24:karmasphere.email-senderee";
    struct rm_karma_query q;
    size_t len;
    char *s;

    (void)state;
    karma_query_init(&q, "mkc0-1207000000");
    example_ids(&q);
    karma_query_add_feedset(&q, FS);
    s = encode(&q, &len);
    assert_int_equal(len, 191);
    assert_int_equal(len, sizeof(want) - 1);
    assert_string_equal(s, want);
    free(s);

    /* the same through the SMTP helper, which also drops what must not be
     * sent: it gives the same bytes */
    karma_query_free(&q);
    karma_query_init(&q, "mkc0-1207000000");
    karma_smtp_identities(&q, "192.0.2.1", "mail.example.com",
                          "sender@example.com", NULL);
    karma_query_add_feedset(&q, FS);
    s = encode(&q, &len);
    assert_string_equal(s, want);
    free(s);
    karma_query_free(&q);
}

static void
test_query_62(void **state)
{
    static const char want[] =
        "d1:_15:mkc0-12070000001:al6:myuser10:mypassworde2:fli1e1:ill9:192.0."
        "2.13:ip414:smtp.client-ipel16:mail.example.com6:domain13:smtp.env."
        "heloel18:sender@example.com5:email18:smtp.env.mail-fromee1:sl24:"
        "karmasphere.email-senderee";
    struct rm_karma_query q;
    size_t len;
    char *s;

    (void)state;
    karma_query_init(&q, "mkc0-1207000000");
    /* the call order does not matter: keys are sorted on the wire */
    karma_query_add_feedset(&q, FS);
    q.flags = RM_KARMA_FL_FACTS;
    example_ids(&q);
    karma_query_set_auth(&q, "myuser", "mypassword");
    s = encode(&q, &len);
    assert_int_equal(len, 224);
    assert_string_equal(s, want);
    free(s);

    /* a login without a credential sends "" */
    karma_query_set_auth(&q, "myuser", NULL);
    s = encode(&q, &len);
    assert_non_null(strstr(s, "1:al6:myuser0:e"));
    free(s);
    karma_query_set_auth(&q, NULL, NULL);
    s = encode(&q, &len);
    assert_null(strstr(s, "1:al"));
    free(s);
    karma_query_free(&q);
}

static void
test_query_extras(void **state)
{
    struct rm_karma_query q;
    char *s;

    (void)state;
    karma_query_init(&q, "x");
    s = encode(&q, NULL);
    /* no identities still sends an empty list; no s, no fl */
    assert_string_equal(s, "d1:_1:x1:ilee");
    free(s);
    karma_query_add_feed(&q, "abuseat.cbl");
    karma_query_add_feed(&q, "spamcop.bl");
    karma_query_add_combiner(&q, "my.combiner");
    karma_query_add_feedset(&q, "a");
    karma_query_add_feedset(&q, "b");
    s = encode(&q, NULL);
    assert_string_equal(s, "d1:_1:x1:cl11:my.combinere1:fl11:abuseat.cbl10:"
                           "spamcop.ble1:ile1:sl1:a1:bee");
    free(s);
    karma_query_free(&q);
}

static void
test_identities(void **state)
{
    struct rm_karma_query q;
    char *s;

    (void)state;
    /* same data and type: merged, tags combined, none repeated */
    karma_query_init(&q, "i");
    karma_query_add_identity(&q, "example.com", RM_KARMA_DOMAIN,
                             RM_KARMA_TAG_HELO);
    karma_query_add_identity(&q, "example.com", RM_KARMA_DOMAIN,
                             RM_KARMA_TAG_AUTHENTIC);
    karma_query_add_identity(&q, "example.com", RM_KARMA_DOMAIN,
                             RM_KARMA_TAG_HELO);
    karma_query_add_identity(&q, "example.com", RM_KARMA_EMAIL, NULL);
    assert_int_equal(q.n_ids, 2);
    s = encode(&q, NULL);
    assert_string_equal(s, "d1:_1:i1:ill11:example.com6:domain13:smtp.env."
                           "helo1:ael11:example.com5:emaileee");
    free(s);
    karma_query_free(&q);

    /* SMTP: IPv6, v4-mapped, address-literal HELOs, null and bare
     * senders, the header From address */
    karma_query_init(&q, "i");
    karma_smtp_identities(&q, "2001:DB8::1", "[192.0.2.1]", "", NULL);
    assert_int_equal(q.n_ids, 1);
    assert_string_equal(q.ids[0].data, "2001:db8::1");
    assert_int_equal(q.ids[0].type, RM_KARMA_IP6);
    karma_query_free(&q);

    karma_query_init(&q, "i");
    karma_smtp_identities(&q, "::ffff:192.0.2.7", "192.0.2.7", "postmaster",
                          "a@example.org");
    assert_int_equal(q.n_ids, 2);
    assert_string_equal(q.ids[0].data, "192.0.2.7");
    assert_int_equal(q.ids[0].type, RM_KARMA_IP4);
    assert_string_equal(q.ids[1].data, "a@example.org");
    assert_int_equal(q.ids[1].type, RM_KARMA_EMAIL);
    assert_string_equal(q.ids[1].tags[0], RM_KARMA_TAG_HEADER_FROM);
    karma_query_free(&q);

    /* envelope and header sender equal: one identity, two tags */
    karma_query_init(&q, "i");
    karma_smtp_identities(&q, "", "h.example", "a@example.org",
                          "a@example.org");
    assert_int_equal(q.n_ids, 2);
    assert_int_equal(q.ids[1].n_tags, 2);
    karma_query_free(&q);
    karma_query_init(&q, "i");
    karma_smtp_identities(&q, NULL, NULL, NULL, NULL);
    assert_int_equal(q.n_ids, 0);
    karma_query_free(&q);
}

static void
test_idtypes(void **state)
{
    enum rm_karma_idtype t;

    (void)state;
    assert_string_equal(karma_idtype_name(RM_KARMA_IP4), "ip4");
    assert_string_equal(karma_idtype_name(RM_KARMA_URL), "url");
    assert_int_equal(karma_idtype_parse("ip6", &t), 0);
    assert_int_equal(t, RM_KARMA_IP6);
    assert_int_equal(karma_idtype_parse("EMAIL", &t), 0);
    assert_int_equal(t, RM_KARMA_EMAIL);
    /* legacy integers (Perl <= 2.10) */
    assert_int_equal(karma_idtype_parse("0", &t), 0);
    assert_int_equal(t, RM_KARMA_IP4);
    assert_int_equal(karma_idtype_parse("2", &t), 0);
    assert_int_equal(t, RM_KARMA_DOMAIN);
    assert_int_equal(karma_idtype_parse("4", &t), 0);
    assert_int_equal(t, RM_KARMA_URL);
    assert_int_equal(karma_idtype_parse("5", &t), -EINVAL);
    assert_int_equal(karma_idtype_parse("01", &t), -EINVAL);
    assert_int_equal(karma_idtype_parse("ipv4", &t), -EINVAL);
    assert_int_equal(karma_idtype_guess("192.0.2.1"), RM_KARMA_IP4);
    assert_int_equal(karma_idtype_guess("2001:db8::1"), RM_KARMA_IP6);
    assert_int_equal(karma_idtype_guess("https://x.example/"), RM_KARMA_URL);
    assert_int_equal(karma_idtype_guess("a@b.example"), RM_KARMA_EMAIL);
    assert_int_equal(karma_idtype_guess("b.example"), RM_KARMA_DOMAIN);
}

/* The legacy query of 6.4 and the official example 6.3 as a server (or a
 * fuzzer-found peer) would read them: integer types, an integer id, s as
 * a single string. */
static void
test_legacy_queries(void **state)
{
    static const char q64[] =
        "d1:_2:q01:ill9:192.0.2.1i0e14:smtp.client-ipel16:mail.example.comi2e"
        "13:smtp.env.heloel18:sender@example.comi3e18:smtp.env.mail-fromee1:"
        "sl24:karmasphere.emailcheckeree";
    static const char q63[] =
        "d1:_i12345e1:al16:exampleuser000008:examplepe2:fli1e1:ill9:127.0.0.1"
        "3:ip414:smtp.client-ipel22:antony@karmasphere.com5:email18:smtp.env."
        "mail-fromel15:karmasphere.com6:domain13:smtp.env.heloee1:s24:"
        "karmasphere.email-sendere";
    static const enum rm_karma_idtype want[] = {RM_KARMA_IP4, RM_KARMA_DOMAIN,
                                                RM_KARMA_EMAIL};
    char tmp[RM_BENCODE_INTBUF];
    struct rm_bencode *b;
    const struct rm_bencode *ids, *s;
    enum rm_karma_idtype t;
    const char *txt;
    size_t i;

    (void)state;
    assert_int_equal(sizeof(q63) - 1, 222);
    assert_int_equal(bencode_decode(q64, sizeof(q64) - 1, &b, NULL, 0), 0);
    ids = bencode_dict_get(b, "i");
    assert_int_equal(ids->n, 3);
    for (i = 0; i < 3; i++) {
        txt = bencode_get_str(ids->items[i]->items[1], tmp, NULL);
        assert_int_equal(karma_idtype_parse(txt, &t), 0);
        assert_int_equal(t, want[i]);
    }
    bencode_free(b);

    assert_int_equal(bencode_decode(q63, sizeof(q63) - 1, &b, NULL, 0), 0);
    assert_string_equal(bencode_get_str(bencode_dict_get(b, "_"), tmp, NULL),
                        "12345");
    s = bencode_dict_get(b, "s");
    assert_int_equal(s->type, RM_BENCODE_STR);
    assert_string_equal(s->s, FS);
    bencode_free(b);
}

static void
test_reply_65(void **state)
{
    static const char r65[] =
        "d1:_15:mkc0-12070000001:cd24:karmasphere.email-senderd1:d41:abuseat."
        "cbl: if-bad(0) => return-bad(1.0)1:vi-1000eee1:fld1:d52:Blocked - "
        "see http://cbl.abuseat.org/lookup.cgi?ip=$1:f11:abuseat.cbl1:i9:"
        "192.0.2.11:vi-1000eee1:ti2ee";
    struct rm_karma_reply r;
    char err[128];

    (void)state;
    assert_int_equal(sizeof(r65) - 1, 226);
    assert_int_equal(
        karma_reply_parse(r65, sizeof(r65) - 1, FS, &r, err, sizeof(err)), 0);
    assert_true(r.has_id);
    assert_string_equal(r.id, "mkc0-1207000000");
    assert_false(r.error);
    assert_null(r.message);
    assert_true(r.has_verdict);
    assert_string_equal(r.combiner, FS);
    assert_int_equal(r.value, -1000);
    assert_string_equal(r.data, "abuseat.cbl: if-bad(0) => return-bad(1.0)");
    assert_true(r.has_time);
    assert_int_equal(r.time_ms, 2);
    assert_int_equal(r.n_facts, 1);
    assert_string_equal(r.facts[0].feed, "abuseat.cbl");
    assert_string_equal(r.facts[0].identity, "192.0.2.1");
    assert_int_equal(r.facts[0].value, -1000);
    assert_string_equal(r.facts[0].data,
                        "Blocked - see http://cbl.abuseat.org/lookup.cgi?ip=$");
    karma_reply_free(&r);
}

static void
test_reply_66_67(void **state)
{
    static const char r66[] = "d1:_15:mkc0-12070000001:cd24:karmasphere.email-"
                              "senderd1:d0:1:vi0eee1:ti1ee";
    static const char r67[] = "d1:_15:mkc0-12070000005:errori1e7:message31:"
                              "Incorrect user and/or password.e";
    struct rm_karma_reply r;

    (void)state;
    assert_int_equal(sizeof(r66) - 1, 74);
    assert_int_equal(sizeof(r67) - 1, 76);
    assert_int_equal(karma_reply_parse(r66, sizeof(r66) - 1, FS, &r, NULL, 0),
                     0);
    assert_true(r.has_verdict);
    assert_int_equal(r.value, 0);
    assert_string_equal(r.data, "");
    assert_int_equal(r.n_facts, 0);
    karma_reply_free(&r);

    assert_int_equal(karma_reply_parse(r67, sizeof(r67) - 1, FS, &r, NULL, 0),
                     0);
    assert_string_equal(r.id, "mkc0-1207000000");
    assert_true(r.error);
    assert_string_equal(r.message, "Incorrect user and/or password.");
    assert_false(r.has_verdict);
    karma_reply_free(&r);
}

/* parse_ok - s must parse with the given feedset */
static void
parse_ok(const char *s, const char *feedset, struct rm_karma_reply *r)
{
    char err[128];

    if (karma_reply_parse(s, strlen(s), feedset, r, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", s, err);
}

static void
parse_bad(const char *s, const char *why)
{
    struct rm_karma_reply r;
    char err[128];

    assert_int_equal(karma_reply_parse(s, strlen(s), FS, &r, err, sizeof(err)),
                     -EINVAL);
    if (strstr(err, why) == NULL)
        fail_msg("'%s': error '%s' does not mention '%s'", s, err, why);
    assert_null(r.id);
}

static void
test_reply_variants(void **state)
{
    struct rm_karma_reply r;

    (void)state;
    /* verdict selection: the feedset, else "default", else the first */
    parse_ok("d1:cd1:ad1:vi1ee7:defaultd1:vi2ee1:zd1:vi3eeee", "z", &r);
    assert_string_equal(r.combiner, "z");
    assert_int_equal(r.value, 3);
    karma_reply_free(&r);
    parse_ok("d1:cd1:ad1:vi1ee7:defaultd1:vi2ee1:zd1:vi3eeee", "q", &r);
    assert_string_equal(r.combiner, "default");
    assert_int_equal(r.value, 2);
    karma_reply_free(&r);
    parse_ok("d1:cd1:zd1:vi3ee1:ad1:vi1eeee", NULL, &r); /* unsorted peer */
    assert_string_equal(r.combiner, "a");
    assert_int_equal(r.value, 1);
    assert_false(r.has_id);
    assert_string_equal(r.id, "");
    karma_reply_free(&r);

    /* long keys, string numbers, integer id, missing v, unknown keys */
    parse_ok("d1:_i77e9:combinersd24:karmasphere.email-senderd4:data2:ok5:"
             "value5:-1000ee5:factsld4:feed1:xee4:timei9e5:extrali1eee",
             FS, &r);
    assert_string_equal(r.id, "77");
    assert_int_equal(r.value, -1000);
    assert_string_equal(r.data, "ok");
    assert_int_equal(r.time_ms, 9);
    assert_int_equal(r.n_facts, 1);
    assert_string_equal(r.facts[0].feed, "x");
    assert_string_equal(r.facts[0].identity, "");
    assert_int_equal(r.facts[0].value, 0);
    karma_reply_free(&r);
    parse_ok("d1:cd2:fsd1:d1:xeee", "fs", &r);
    assert_true(r.has_verdict);
    assert_int_equal(r.value, 0); /* missing v is 0 */
    karma_reply_free(&r);

    /* no combiners at all: parsed, no verdict; a truncation warning */
    parse_ok("d1:_1:x7:message9:Truncated1:ti1ee", FS, &r);
    assert_false(r.has_verdict);
    assert_false(r.error);
    assert_string_equal(r.message, "Truncated");
    karma_reply_free(&r);
    /* error as a string, values out of range kept as sent */
    parse_ok("d5:error1:17:message1:xe", FS, &r);
    assert_true(r.error);
    karma_reply_free(&r);
    parse_ok("d5:errori0e1:cd1:ad1:vi5000eeee", FS, &r);
    assert_false(r.error);
    assert_int_equal(r.value, 5000);
    assert_int_equal(karma_clamp(r.value), 1000);
    assert_int_equal(karma_clamp(-5000), -1000);
    assert_int_equal(karma_clamp(-5), -5);
    karma_reply_free(&r);

    parse_bad("", "truncated");
    parse_bad("garbage", "unexpected byte");
    parse_bad("le", "not a dictionary");
    parse_bad("d1:_le1:cdee", "id");
    parse_bad("d1:clee", "not a dictionary");
    parse_bad("d1:cd1:ai1eee", "combiner is not a dictionary");
    parse_bad("d1:cd1:ad1:vleeee", "not a number");
    parse_bad("d1:cd1:ad1:v3:abceee", "not a number");
    parse_bad("d1:cd1:ad1:dleeee", "not text");
    parse_bad("d1:fdee", "not a list");
    parse_bad("d1:flleee", "fact is not a dictionary");
    parse_bad("d1:fld1:vdeeee", "not a number");
    parse_bad("d1:fld1:fleeee", "not text");
    parse_bad("d7:messagelee", "message");
}

static void
test_header_from(void **state)
{
    char out[64];

    (void)state;
#define HF(in, want)                                                           \
    do {                                                                       \
        assert_int_equal(karma_header_from_address(in, out, sizeof(out)), 0);  \
        assert_string_equal(out, want);                                        \
    } while (0)
#define HF_BAD(in)                                                             \
    assert_int_equal(karma_header_from_address(in, out, sizeof(out)), -EINVAL)
    HF("user@Example.ORG", "user@example.org");
    HF("User <User@Example.ORG>", "User@example.org");
    HF("\"Doe, John\" <jd@example.org>", "jd@example.org");
    HF("\"a@b\" <jd@example.org>", "jd@example.org");
    HF("jd@example.org (John <Doe>)", "jd@example.org");
    HF("  <jd@example.org >  ", "jd@example.org");
    HF("John (x) <x@y.example>", "x@y.example");
    HF("a@b.example, c@d.example", "a@b.example");
    HF("Group: jd@example.org;", "jd@example.org");
    HF_BAD("");
    HF_BAD("John Doe");
    HF_BAD("<>");
    HF_BAD("<@example.org>");
    HF_BAD("<user@>");
    HF_BAD("<a b@example.org>");
    HF_BAD("x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaa.example");
#undef HF
#undef HF_BAD
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_61),
        cmocka_unit_test(test_query_62),
        cmocka_unit_test(test_query_extras),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_idtypes),
        cmocka_unit_test(test_legacy_queries),
        cmocka_unit_test(test_reply_65),
        cmocka_unit_test(test_reply_66_67),
        cmocka_unit_test(test_reply_variants),
        cmocka_unit_test(test_header_from),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
