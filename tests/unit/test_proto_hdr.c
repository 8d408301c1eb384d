/*
 * NAME
 *   test_proto_hdr - the header-value and reply-text sanitizers
 *
 * DESCRIPTION
 *   Exact results for each rule (injection, folds, controls, trimming,
 *   cutting, UTF-8 and RFC 2047 encoding, folding of long lines), then
 *   the result's invariants over many pseudo-random inputs from a fixed
 *   seed: no header line can be started, no control character survives,
 *   no line is too long, and folding or encoding never changes the text.
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

#include "proto/hdr.h"

/* san - hdr_value_sanitize of a C string for a header called name */
static char *
san(const char *in, const char *name, size_t max, unsigned flags)
{
    return hdr_value_sanitize(in, strlen(in), strlen(name), max, flags);
}

static void
expect(const char *in, unsigned flags, const char *want)
{
    char *out = san(in, "X-Test", 0, flags);

    assert_string_equal(out, want);
    free(out);
}

/* check_invariants - the promises of hdr.h about out */
static void
check_invariants(const char *out, size_t name_len)
{
    size_t line = name_len + 2, i, n = strlen(out);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];

        assert_true(c != '\r');
        assert_true(c >= 0x20 || c == '\t' || c == '\n');
        assert_true(c != 0x7f);
        if (c == '\n') {
            assert_true(out[i + 1] == ' ' || out[i + 1] == '\t');
            assert_true(line <= RM_HDR_LINE_MAX);
            line = 0;
            continue;
        }
        line++;
    }
    assert_true(line <= RM_HDR_LINE_MAX);
    if (n > 0) {
        assert_true(out[0] != ' ' && out[0] != '\t');
        assert_true(out[n - 1] != ' ' && out[n - 1] != '\t' &&
                    out[n - 1] != '\n');
    }
    /* No continuation line holds only blanks. */
    for (i = 0; i < n; i++) {
        if (out[i] != '\n')
            continue;
        {
            size_t j = i + 1;

            while (out[j] == ' ' || out[j] == '\t')
                j++;
            assert_true(out[j] != '\n' && out[j] != '\0');
        }
    }
}

/* unfold - out with every "\n" removed (what a reader sees, RFC 5322) */
static char *
unfold(const char *out)
{
    char *u = strdup(out), *w = u;
    const char *r;

    assert_non_null(u);
    for (r = out; *r != '\0'; r++)
        if (*r != '\n')
            *w++ = *r;
    *w = '\0';
    return u;
}

static void
test_injection(void **state)
{
    (void)state;
    expect("foo\r\nBcc: evil@example.org", 0, "foo Bcc: evil@example.org");
    expect("foo\nBcc: x", 0, "foo Bcc: x");
    expect("foo\rBcc: x", 0, "foo Bcc: x");
    expect("foo\r\n\r\nbody", 0, "foo body");
    expect("foo \r\nbar", 0, "foo bar");
    expect("a\r\n", 0, "a");
    expect("\r\nX-Injected: 1", 0, "X-Injected: 1");
}

static void
test_folds_kept(void **state)
{
    (void)state;
    expect("a;\r\n\tb", 0, "a;\n\tb");
    expect("a;\n b", 0, "a;\n b");
    expect("a;\r\n\r\n b", 0, "a;\n b");
    expect("a;  \r\n\tb", 0, "a;\n\tb");   /* blanks before a fold */
    expect("a\r\n \r\n\tb", 0, "a\n \tb"); /* a blank-only line */
    expect("\r\n\tleading fold", 0, "leading fold");
    expect("trailing fold\r\n\t", 0, "trailing fold");
    expect("trailing fold\r\n\t \r\n ", 0, "trailing fold");
}

static void
test_controls_and_trim(void **state)
{
    (void)state;
    expect("a\x01"
           "b\x7f"
           "c\x1b[0m",
           0, "abc[0m");
    expect("tab\there", 0, "tab\there");
    expect("  \t x  \t", 0, "x");
    expect("", 0, "");
    expect("\x01\x02\r\n \t", 0, "");
    {
        char *out = hdr_value_sanitize("a\0b", 3, 1, 0, 0);

        assert_string_equal(out, "ab");
        free(out);
    }
}

static void
test_cut(void **state)
{
    char *in, *out;

    (void)state;
    in = malloc(5001);
    assert_non_null(in);
    memset(in, 'a', 5000);
    in[5000] = '\0';
    out = san(in, "X", 0, 0);
    {
        char *u = unfold(out);
        size_t i, n = 0;

        /* RM_HDR_VALUE_MAX letters; one space per inserted fold. */
        for (i = 0; u[i] != '\0'; i++)
            n += u[i] == 'a';
        assert_int_equal(n, RM_HDR_VALUE_MAX);
        free(u);
    }
    check_invariants(out, 1);
    free(out);
    free(in);

    /* Never inside a UTF-8 character; blanks at the cut go too. */
    out = san("aaaaaaaa \xd0\x9f", "X", 10, RM_HDR_RAW8);
    assert_string_equal(out, "aaaaaaaa");
    free(out);
    out = san("aaaaaaaaa\xd0\x9f", "X", 11, RM_HDR_RAW8);
    assert_string_equal(out, "aaaaaaaaa\xd0\x9f");
    free(out);
}

static void
test_utf8(void **state)
{
    (void)state;
    /* Encoded as RFC 2047 by default... */
    expect("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
           "\xd0\xbc\xd0\xb8\xd1\x80",
           0, "=?UTF-8?B?0J/RgNC40LLQtdGCINC80LjRgA==?=");
    /* ...kept raw on request. */
    expect("caf\xc3\xa9", RM_HDR_RAW8, "caf\xc3\xa9");
    /* Invalid sequences become '?', then there is no 8-bit left. */
    expect("a\xff"
           "b",
           0, "a?b");
    expect("a\xc3", RM_HDR_RAW8, "a?");
    expect("\xed\xa0\x80", 0, "???");      /* a surrogate */
    expect("\xc0\xaf", 0, "??");           /* overlong '/' */
    expect("\xf4\x90\x80\x80", 0, "????"); /* above U+10FFFF */

    assert_int_equal(hdr_utf8_seq((const unsigned char *)"a", 1), 1);
    assert_int_equal(hdr_utf8_seq((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(hdr_utf8_seq((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(hdr_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4),
                     4);
    assert_int_equal(hdr_utf8_seq((const unsigned char *)"\xe0\x80\x80", 3), 0);
}

/* b64_decode - decode one encoded word's base64 into out */
static size_t
b64_decode(const char *s, size_t n, unsigned char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned v = 0, bits = 0;
    size_t i, o = 0;

    for (i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(tab, s[i]);

        assert_non_null(p);
        v = (v << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    return o;
}

static void
test_long_utf8_words(void **state)
{
    char in[2048], out_text[4096];
    const char *p, *q;
    size_t i, n = 0, o = 0, line;
    char *out;

    (void)state;
    for (i = 0; i < 150; i++) {
        memcpy(in + n, i % 10 == 9 ? " " : "\xd0\x96", i % 10 == 9 ? 1 : 2);
        n += i % 10 == 9 ? 1 : 2;
    }
    in[n] = '\0';
    out = san(in, "Subject", 0, 0);
    check_invariants(out, 7);
    /* Every line is one word of at most 75 characters and the line fits
     * 78 with its prefix; the words decode back to the input. */
    p = out;
    line = 9;
    while (*p != '\0') {
        if (*p == '\n')
            p += 2, line = 1;
        q = strchr(p, '\n');
        if (q == NULL)
            q = p + strlen(p);
        assert_true((size_t)(q - p) <= 75);
        assert_true(line + (size_t)(q - p) <= RM_HDR_FOLD_AT);
        assert_memory_equal(p, "=?UTF-8?B?", 10);
        assert_memory_equal(q - 2, "?=", 2);
        o += b64_decode(p + 10, (size_t)(q - p) - 12,
                        (unsigned char *)out_text + o);
        p = q;
    }
    out_text[o] = '\0';
    /* The input ends with a blank, trimmed. */
    in[n - 1] = '\0';
    assert_string_equal(out_text, in);
    free(out);
}

static void
test_fold_long_ascii(void **state)
{
    char in[1024], *out, *u;
    size_t n = 0, i;

    (void)state;
    for (i = 0; i < 60; i++)
        n += (size_t)sprintf(in + n, "%sword%zu", i ? " " : "", i);
    out = san(in, "X-Spamd-Result", 0, 0);
    check_invariants(out, 14);
    {
        const char *p = out, *nl;
        size_t prefix = 16;

        while ((nl = strchr(p, '\n')) != NULL) {
            assert_true(prefix + (size_t)(nl - p) <= RM_HDR_FOLD_AT);
            p = nl + 1;
            prefix = 0;
        }
        assert_true(prefix + strlen(p) <= RM_HDR_FOLD_AT);
    }
    assert_non_null(strchr(out, '\n'));
    u = unfold(out);
    assert_string_equal(u, in); /* folding added nothing */
    free(u);
    free(out);
}

static void
test_fold_no_blank(void **state)
{
    char in[3001], *out, *u, *w;
    const char *r;

    (void)state;
    memset(in, 'x', 3000);
    in[3000] = '\0';
    out = san(in, "X", 0, 0);
    check_invariants(out, 1);
    /* Only hard folds ("\n "), each adding one space. */
    u = unfold(out);
    for (r = w = u; *r != '\0'; r++)
        if (*r != ' ')
            *w++ = *r;
    *w = '\0';
    assert_string_equal(u, in);
    free(u);
    free(out);

    /* Within RM_HDR_LINE_MAX, a long token is left alone. */
    memset(in, 'y', 500);
    in[500] = '\0';
    out = san(in, "X", 0, 0);
    assert_string_equal(out, in);
    free(out);
}

static void
test_keep_folds(void **state)
{
    char in[1300], *out;
    size_t i;

    (void)state;
    /* 100 characters with blanks: left unfolded. */
    for (i = 0; i < 100; i++)
        in[i] = i % 10 == 9 ? ' ' : 'b';
    in[99] = 'b';
    in[100] = '\0';
    out = san(in, "DKIM-Signature", 0, RM_HDR_KEEP_FOLDS);
    assert_string_equal(out, in);
    free(out);
    /* Over RM_HDR_LINE_MAX: folded at a blank. */
    for (i = 0; i < 1200; i++)
        in[i] = i % 10 == 9 ? ' ' : 'b';
    in[1199] = 'b';
    in[1200] = '\0';
    out = san(in, "DKIM-Signature", 0, RM_HDR_KEEP_FOLDS);
    check_invariants(out, 14);
    assert_non_null(strchr(out, '\n'));
    {
        char *u = unfold(out);

        assert_string_equal(u, in);
        free(u);
    }
    free(out);
}

static void
test_random_invariants(void **state)
{
    static const char alphabet[] = "ab \t\r\n:\x01\x7f\xd0\x9f\xff=?";
    unsigned long x = 12345;
    char in[3000];
    size_t iter, n, i;
    unsigned flags;
    char *out;

    (void)state;
    for (iter = 0; iter < 3000; iter++) {
        x = x * 6364136223846793005ul + 1442695040888963407ul;
        n = (x >> 33) % sizeof(in);
        for (i = 0; i < n; i++) {
            x = x * 6364136223846793005ul + 1442695040888963407ul;
            in[i] = alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
        }
        flags = (unsigned)(iter % 4);
        out = hdr_value_sanitize(in, n, iter % 40, iter % 7 ? 0 : 50, flags);
        check_invariants(out, iter % 40);
        free(out);
    }
}

static void
test_names(void **state)
{
    char big[RM_HDR_NAME_MAX + 2];

    (void)state;
    assert_true(hdr_name_valid("X-Spam", 6));
    assert_true(hdr_name_valid("DKIM-Signature", 14));
    assert_false(hdr_name_valid("", 0));
    assert_false(hdr_name_valid("X Spam", 6));
    assert_false(hdr_name_valid("X:Spam", 6));
    assert_false(hdr_name_valid("X-\x80", 3));
    assert_false(hdr_name_valid("X\r\n", 3));
    memset(big, 'a', sizeof(big));
    assert_true(hdr_name_valid(big, RM_HDR_NAME_MAX));
    assert_false(hdr_name_valid(big, RM_HDR_NAME_MAX + 1));
}

static void
test_oneline(void **state)
{
    char out[16];
    char *d;

    (void)state;
    assert_int_equal(
        hdr_text_oneline("  Gtube\r\npattern\t x ", 20, out, sizeof(out), 0),
        15);
    assert_string_equal(out, "Gtube pattern x");
    hdr_text_oneline("caf\xc3\xa9", 5, out, sizeof(out), 0);
    assert_string_equal(out, "caf??");
    hdr_text_oneline("caf\xc3\xa9\xff", 6, out, sizeof(out), RM_HDR_TEXT_UTF8);
    assert_string_equal(out, "caf\xc3\xa9?");
    /* Cut to the buffer, never inside a character. */
    hdr_text_oneline("abcdefghijklmn\xc3\xa9", 16, out, sizeof(out),
                     RM_HDR_TEXT_UTF8);
    assert_string_equal(out, "abcdefghijklmn");
    assert_int_equal(hdr_text_oneline("abc", 3, out, 1, 0), 0);
    assert_string_equal(out, "");
    d = hdr_text_oneline_dup("a\nb", 3, 2, 0);
    assert_string_equal(d, "a");
    free(d);
    d = hdr_text_oneline_dup("a\nb", 3, 100, 0);
    assert_string_equal(d, "a b");
    free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_folds_kept),
        cmocka_unit_test(test_controls_and_trim),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_long_utf8_words),
        cmocka_unit_test(test_fold_long_ascii),
        cmocka_unit_test(test_fold_no_blank),
        cmocka_unit_test(test_keep_folds),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_oneline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
