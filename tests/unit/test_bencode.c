/*
 * NAME
 *   test_bencode - the bencode encoder and validating decoder
 *
 * DESCRIPTION
 *   Every type, nesting, key order on encode, round trips, and the inputs
 *   the decoder must refuse: truncated at every byte, leading zeros,
 *   negative zero, out-of-range numbers, non-string keys, duplicate keys,
 *   trailing bytes, excessive depth. Also the int/string coercions the
 *   Karmasphere peers need (research/karmasphere.md 3.3).
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

/* enc - the encoding of b as a new string; frees b */
static char *
enc(struct rm_bencode *b)
{
    struct pbuf pb = {0};

    bencode_encode(b, &pb);
    bencode_free(b);
    return pbuf_take(&pb, NULL);
}

static void
enc_is(struct rm_bencode *b, const char *want)
{
    char *s = enc(b);

    assert_string_equal(s, want);
    free(s);
}

/* dec_ok - decode s, which must be valid, and re-encode it: the result
 * must be canon (s itself when NULL) */
static void
dec_ok(const char *s, const char *canon)
{
    struct rm_bencode *b = NULL;
    char err[128];

    if (bencode_decode(s, strlen(s), &b, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", s, err);
    enc_is(b, canon ? canon : s);
}

static void
dec_bad(const void *s, size_t len, const char *why)
{
    struct rm_bencode *b = (struct rm_bencode *)1;
    char err[128];

    assert_int_equal(bencode_decode(s, len, &b, err, sizeof(err)), -EINVAL);
    assert_null(b);
    if (why != NULL && strstr(err, why) == NULL)
        fail_msg("'%.*s': error '%s' does not mention '%s'", (int)len,
                 (const char *)s, err, why);
}

#define BAD(s, why) dec_bad(s, sizeof(s) - 1, why)

static void
test_encode_types(void **state)
{
    struct rm_bencode *l, *d, *inner;

    (void)state;
    enc_is(bencode_int(0), "i0e");
    enc_is(bencode_int(42), "i42e");
    enc_is(bencode_int(-1000), "i-1000e");
    enc_is(bencode_int(INT64_MAX), "i9223372036854775807e");
    enc_is(bencode_int(INT64_MIN), "i-9223372036854775808e");
    enc_is(bencode_strz(""), "0:");
    enc_is(bencode_strz("spam"), "4:spam");
    enc_is(bencode_str("a\0b", 3), "3:a\0b"); /* compared up to the NUL */
    enc_is(bencode_list(), "le");
    enc_is(bencode_dict(), "de");

    l = bencode_list();
    bencode_list_add(l, bencode_strz("spam"));
    bencode_list_add(l, bencode_int(-3));
    inner = bencode_list();
    bencode_list_add(inner, bencode_list());
    bencode_list_add(l, inner);
    enc_is(l, "l4:spami-3elleee");

    /* keys sorted by raw bytes whatever the insertion order; a prefix
     * sorts first; set() replaces */
    d = bencode_dict();
    bencode_dict_set(d, "s", bencode_strz("x"));
    bencode_dict_set(d, "fl", bencode_int(1));
    bencode_dict_set(d, "f", bencode_int(2));
    bencode_dict_set(d, "_", bencode_strz("id"));
    bencode_dict_set(d, "a", bencode_list());
    bencode_dict_set(d, "B", bencode_int(3)); /* 'B' < '_' < 'a' */
    bencode_dict_set(d, "f", bencode_int(5));
    enc_is(d, "d1:Bi3e1:_2:id1:ale1:fi5e2:fli1e1:s1:xe");
}

static void
test_decode_types(void **state)
{
    struct rm_bencode *b;
    const struct rm_bencode *v;
    char tmp[RM_BENCODE_INTBUF];
    const char *s;
    size_t len;

    (void)state;
    dec_ok("i0e", NULL);
    dec_ok("i-1e", NULL);
    dec_ok("i9223372036854775807e", NULL);
    dec_ok("i-9223372036854775808e", NULL);
    dec_ok("0:", NULL);
    dec_ok("5:hello", NULL);
    dec_ok("le", NULL);
    dec_ok("de", NULL);
    dec_ok("li1ei2el3:abcdeee", NULL);
    dec_ok("d1:ad1:bd1:cli1eeeee", NULL);
    /* unsorted keys are accepted and come out sorted */
    dec_ok("d1:bi2e1:ai1ee", "d1:ai1e1:bi2ee");

    assert_int_equal(bencode_decode("3:a\0b", 5, &b, NULL, 0), 0);
    assert_int_equal(b->type, RM_BENCODE_STR);
    assert_int_equal(b->len, 3);
    assert_memory_equal(b->s, "a\0b", 4); /* NUL-terminated too */
    bencode_free(b);

    assert_int_equal(
        bencode_decode("d1:xi-7e4:name3:bob4:listli1e1:2ee", 34, &b, NULL, 0),
        0);
    assert_int_equal(b->type, RM_BENCODE_DICT);
    assert_int_equal(b->n, 3);
    v = bencode_dict_get(b, "x");
    assert_non_null(v);
    assert_int_equal(v->type, RM_BENCODE_INT);
    assert_int_equal(v->i, -7);
    s = bencode_get_str(bencode_dict_get(b, "name"), tmp, &len);
    assert_string_equal(s, "bob");
    assert_int_equal(len, 3);
    v = bencode_dict_get(b, "list");
    assert_int_equal(v->type, RM_BENCODE_LIST);
    assert_int_equal(v->n, 2);
    assert_null(bencode_dict_get(b, "nope"));
    assert_null(bencode_dict_get(v, "x")); /* not a dictionary */
    assert_null(bencode_dict_get(NULL, "x"));
    assert_ptr_equal(bencode_dict_get2(b, "n", "name"),
                     bencode_dict_get(b, "name"));
    assert_ptr_equal(bencode_dict_get2(b, "x", "name"),
                     bencode_dict_get(b, "x"));
    bencode_free(b);
}

static void
test_decode_malformed(void **state)
{
    (void)state;
    dec_bad("", 0, "truncated");
    BAD("x", "unexpected byte");
    BAD("-1:a", "unexpected byte");
    BAD("e", "unexpected byte");
    /* integers */
    BAD("ie", "expected a digit");
    BAD("i-e", "expected a digit");
    BAD("i03e", "leading zero");
    BAD("i-03e", "leading zero");
    BAD("i00e", "leading zero");
    BAD("i-0e", "negative zero");
    BAD("i+1e", "expected a digit");
    BAD("i1.5e", "expected 'e'");
    BAD("i 1e", "expected a digit");
    BAD("i9223372036854775808e", "out of range");
    BAD("i-9223372036854775809e", "out of range");
    BAD("i99999999999999999999999e", "out of range");
    /* strings */
    BAD("03:abc", "leading zero");
    BAD("3abc", "expected ':'");
    BAD("4:abc", "truncated");
    BAD("18446744073709551616:x", "out of range");
    BAD("18446744073709551615:x", "truncated");
    /* containers */
    BAD("l", "truncated");
    BAD("li1e", "unterminated list");
    BAD("d", "truncated");
    BAD("d1:a", "key without a value");
    BAD("d1:ai1e", "unterminated dictionary");
    BAD("di1ei2ee", "key is not a string");
    BAD("dlei1ee", "key is not a string");
    BAD("d1:ai1e1:ai2ee", "duplicate");
    BAD("d1:bi1e1:ai2e1:bi3ee", "duplicate");
    /* exactly one value */
    BAD("i1ei2e", "3 bytes after");
    BAD("4:spam ", "after the value");
    BAD("dee", "after the value");
}

static void
test_decode_truncated_everywhere(void **state)
{
    static const char full[] =
        "d1:_15:mkc0-12070000001:cd24:karmasphere.email-senderd1:d41:abuseat."
        "cbl: if-bad(0) => return-bad(1.0)1:vi-1000eee1:fld1:d52:Blocked - "
        "see http://cbl.abuseat.org/lookup.cgi?ip=$1:f11:abuseat.cbl1:i9:"
        "192.0.2.11:vi-1000eee1:ti2ee";
    struct rm_bencode *b;
    size_t n, used;

    (void)state;
    assert_int_equal(bencode_decode(full, sizeof(full) - 1, &b, NULL, 0), 0);
    bencode_free(b);
    for (n = 0; n < sizeof(full) - 1; n++)
        dec_bad(full, n, NULL);
    /* decode_prefix stops after the value and reports its length */
    assert_int_equal(bencode_decode_prefix("i5eXYZ", 6, &b, &used, NULL, 0), 0);
    assert_int_equal(used, 3);
    assert_int_equal(b->i, 5);
    bencode_free(b);
}

static void
test_decode_limits(void **state)
{
    char buf[4 * RM_BENCODE_MAX_DEPTH + 16];
    struct rm_bencode *b;
    size_t n = 0, i, depth;
    char *many;

    (void)state;
    /* exactly the maximum depth is fine; one more level is not */
    for (depth = RM_BENCODE_MAX_DEPTH; depth <= RM_BENCODE_MAX_DEPTH + 1;
         depth++) {
        n = 0;
        for (i = 0; i <= depth; i++)
            buf[n++] = 'l';
        for (i = 0; i <= depth; i++)
            buf[n++] = 'e';
        if (depth == RM_BENCODE_MAX_DEPTH) {
            assert_int_equal(bencode_decode(buf, n, &b, NULL, 0), 0);
            bencode_free(b);
        } else {
            dec_bad(buf, n, "nested deeper");
        }
    }
    /* a huge nesting attempt fails fast (no stack overflow) */
    many = malloc(1000000);
    memset(many, 'l', 1000000);
    dec_bad(many, 1000000, "nested deeper");
    /* too many nodes */
    n = 0;
    many[n++] = 'l';
    for (i = 0; i < RM_BENCODE_MAX_ITEMS + 1; i++) {
        memcpy(many + n, "i0e", 3);
        n += 3;
    }
    many[n++] = 'e';
    dec_bad(many, n, "more than");
    free(many);
}

static void
test_coercion(void **state)
{
    struct rm_bencode *b;
    char tmp[RM_BENCODE_INTBUF];
    int64_t v;
    size_t len;

    (void)state;
    b = bencode_int(-1000);
    assert_int_equal(bencode_get_int(b, &v), 0);
    assert_int_equal(v, -1000);
    assert_string_equal(bencode_get_str(b, tmp, &len), "-1000");
    assert_int_equal(len, 5);
    bencode_free(b);

    /* the Perl encoder sends negative numbers as strings */
    b = bencode_strz("-1000");
    assert_int_equal(bencode_get_int(b, &v), 0);
    assert_int_equal(v, -1000);
    bencode_free(b);
    b = bencode_strz("12345");
    assert_int_equal(bencode_get_int(b, &v), 0);
    assert_int_equal(v, 12345);
    bencode_free(b);
    b = bencode_strz("-9223372036854775808");
    assert_int_equal(bencode_get_int(b, &v), 0);
    assert_true(v == INT64_MIN);
    bencode_free(b);

    static const char *const bad[] = {"",   "-",   "-0",  "01",
                                      "1x", " 1",  "1 ",  "9223372036854775808",
                                      "+1", "1.0", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = bencode_strz(bad[i]);
        if (bencode_get_int(b, &v) != -EINVAL)
            fail_msg("'%s' taken as a number", bad[i]);
        bencode_free(b);
    }
    b = bencode_str("1\0", 2);
    assert_int_equal(bencode_get_int(b, &v), -EINVAL);
    bencode_free(b);
    b = bencode_list();
    assert_int_equal(bencode_get_int(b, &v), -EINVAL);
    assert_null(bencode_get_str(b, tmp, &len));
    bencode_free(b);
    assert_int_equal(bencode_get_int(NULL, &v), -EINVAL);
    assert_null(bencode_get_str(NULL, tmp, NULL));
    assert_string_equal(bencode_type_name(RM_BENCODE_DICT), "dictionary");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_types),
        cmocka_unit_test(test_decode_types),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_truncated_everywhere),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_coercion),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
