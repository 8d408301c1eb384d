/*
 * NAME
 *   test_regex - /re/flags with PCRE2: flags, errors, limits, threads
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/regex.h"

static struct rm_regex *
C(const char *spec)
{
    char err[256] = "";
    struct rm_regex *re = regex_compile(spec, err, sizeof(err));

    if (re == NULL)
        fail_msg("regex_compile(%s): %s", spec, err);
    return re;
}

static bool
S(const struct rm_regex *re, const char *s)
{
    return regex_match(re, s, strlen(s));
}

static void
test_plain(void **state)
{
    struct rm_regex *re = C("/abc/");

    (void)state;
    assert_string_equal(regex_source(re), "/abc/");
    assert_true(S(re, "xxabcxx"));
    assert_false(S(re, "xxABCxx"));
    assert_false(S(re, "ab"));
    assert_false(S(re, ""));
    /* the length is honoured: "abc" past len does not count */
    assert_false(regex_match(re, "xxabc", 4));
    /* a NUL inside the subject is just a byte */
    assert_true(regex_match(re, "\0abc", 4));
    assert_false(regex_match(NULL, "abc", 3));
    assert_false(regex_match(re, NULL, 0));
    regex_free(re);
    regex_free(NULL);
    assert_null(regex_source(NULL));
}

static void
test_flags(void **state)
{
    struct rm_regex *i = C("/abc/i"), *m = C("/^b$/m"), *nm = C("/^b$/");
    struct rm_regex *s = C("/a.b/s"), *ns = C("/a.b/");
    struct rm_regex *x = C("/a b  c # comment\n/x");
    struct rm_regex *u = C("/^.$/u"), *nu = C("/^.$/");
    struct rm_regex *all = C("/^A.B$/imsxu");

    (void)state;
    assert_true(S(i, "xABCx"));
    assert_true(S(m, "a\nb\nc"));
    assert_false(S(nm, "a\nb\nc"));
    assert_true(S(s, "a\nb"));
    assert_false(S(ns, "a\nb"));
    assert_true(S(x, "abc"));
    assert_false(S(x, "a b c"));
    assert_true(S(u, "\xc3\xa9")); /* é: one character, two bytes */
    assert_false(S(nu, "\xc3\xa9"));
    /* with u, invalid UTF-8 is no match, not an error */
    assert_false(S(u, "\xff"));
    assert_true(S(all, "x\na\nb\ny"));
    assert_string_equal(regex_source(all), "/^A.B$/imsxu");
    regex_free(i);
    regex_free(m);
    regex_free(nm);
    regex_free(s);
    regex_free(ns);
    regex_free(x);
    regex_free(u);
    regex_free(nu);
    regex_free(all);
}

static void
test_slashes(void **state)
{
    struct rm_regex *esc = C("/a\\/b/");
    struct rm_regex *mid = C("/<[^/]+@example\\.com>/i");
    struct rm_regex *empty = C("//");

    (void)state;
    assert_true(S(esc, "xa/bx"));
    assert_false(S(esc, "ab"));
    assert_true(S(mid, "<JOE@EXAMPLE.COM>"));
    assert_false(S(mid, "<joe@example.org>"));
    assert_true(S(empty, "anything"));
    assert_true(S(empty, ""));
    regex_free(esc);
    regex_free(mid);
    regex_free(empty);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"abc", "expected /regexp/flags, found 'abc'"},
        {"", "expected /regexp/flags, found ''"},
        {"/", "expected /regexp/flags, found '/'"},
        {"/abc", "expected /regexp/flags, found '/abc'"},
        {"abc/i", "expected /regexp/flags, found 'abc/i'"},
        {"/abc/g",
         "expected regexp flags among i, m, s, x, u, found 'g' in '/abc/g'"},
        {"/abc/iq",
         "expected regexp flags among i, m, s, x, u, found 'q' in '/abc/iq'"},
        {"/(/", "invalid regexp '/(/': missing closing parenthesis at "
                "offset 1"},
        {"/a[b/", "invalid regexp '/a[b/': missing terminating ] for "
                  "character class at offset 3"},
        {"/x**/", "invalid regexp '/x**/': quantifier does not follow a "
                  "repeatable item at offset 2"},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_null(regex_compile(cases[i].spec, err, sizeof(err)));
        assert_string_equal(err, cases[i].msg);
    }
    assert_null(regex_compile(NULL, err, sizeof(err)));
    assert_null(regex_compile("(", NULL, 0));
}

static void
test_match_limit(void **state)
{
    /* catastrophic backtracking: bounded by the match limit */
    struct rm_regex *re = C("/^(a+)+$/");
    char subject[64];
    struct timespec t0, t1;
    double secs;

    (void)state;
    memset(subject, 'a', 40);
    subject[40] = 'b';
    subject[41] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_false(S(re, subject));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 5.0);
    subject[40] = '\0';
    assert_true(S(re, subject));
    regex_free(re);
}

static void
test_long_subject(void **state)
{
    /* a subject far beyond the default JIT stack still matches */
    struct rm_regex *re = C("/^(?:a|b)*c$/");
    size_t n = 1 << 20;
    char *s = malloc(n + 2);

    (void)state;
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = 'c';
    s[n + 1] = '\0';
    assert_true(regex_match(re, s, n + 1));
    s[n] = 'd';
    assert_false(regex_match(re, s, n + 1));
    free(s);
    regex_free(re);
}

struct thread_arg {
    const struct rm_regex *re;
    int hits;
};

static void *
matcher(void *p)
{
    struct thread_arg *a = p;
    char buf[64];

    for (int i = 0; i < 2000; i++) {
        snprintf(buf, sizeof(buf), "<id-%d@example.com>", i);
        if (regex_match(a->re, buf, strlen(buf)))
            a->hits++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct rm_regex *re = C("/^<id-\\d*7@example\\.com>$/");
    struct thread_arg args[4];
    pthread_t th[4];

    (void)state;
    for (int i = 0; i < 4; i++) {
        args[i].re = re;
        args[i].hits = 0;
        assert_int_equal(pthread_create(&th[i], NULL, matcher, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].hits, 200); /* 7, 17, ..., 1997 */
    }
    regex_free(re);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),       cmocka_unit_test(test_flags),
        cmocka_unit_test(test_slashes),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_match_limit), cmocka_unit_test(test_long_subject),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
