/*
 * NAME
 *   test_cfg_value - the typed setters of rmilter.conf values
 *
 * DESCRIPTION
 *   Every value type, valid and invalid (with the exact error text), the
 *   bounds, lists (= and +=, empty lists, split words), recipients and
 *   their matching order, sockets and servers, format -> parse round trips,
 *   and every directive default of cfg_directives.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_value.h"

union val {
    char *s;
    int64_t i;
    bool b;
    uint64_t u;
    double p;
    struct rm_bucket bk;
    struct rm_iplist *ip;
    struct rm_socklist so;
    struct rm_servers sv;
    struct rm_regex *re;
    struct rm_strlist sl;
    struct rm_rcptlist rl;
    int e;
    unsigned m;
};

static const union val zero;

static struct rm_dirinfo
DI(enum rm_vtype t, double min, double max, const char *aux) {
    struct rm_dirinfo d = {RM_SEC_global, "test", t,   0,    "",
                           min,           max,    aux, "doc"};

    return d;
}

/* set - words given as NULL-terminated strings; err gets the message */
static int
setv(const struct rm_dirinfo *d, union val *v, bool append, char *err,
     size_t *bad, const char *first, ...)
{
    struct rm_word w[16];
    size_t n = 0, b = 12345;
    va_list ap;
    int rc;

    va_start(ap, first);
    for (const char *s = first; s && n < 16; s = va_arg(ap, const char *)) {
        w[n].s = s;
        w[n].quoted = false;
        w[n].line = 1;
        w[n].col = (int)n * 10 + 1;
        n++;
    }
    va_end(ap);
    err[0] = '\0';
    rc = cfg_value_set(d, v, w, n, append, err, 256, &b);
    if (bad)
        *bad = b;
    return rc;
}

/* ok1 - d = s must succeed */
static void
ok1(const struct rm_dirinfo *d, union val *v, const char *s)
{
    char err[256];

    if (setv(d, v, false, err, NULL, s, NULL) != 0)
        fail_msg("'%s' rejected: %s", s, err);
}

/* bad1 - d = s must fail with msg, leaving a zeroed field zeroed */
static void
bad1(const struct rm_dirinfo *d, const char *s, const char *msg)
{
    union val v = zero;
    char err[256];
    size_t bad;

    if (setv(d, &v, false, err, &bad, s, NULL) == 0)
        fail_msg("'%s' accepted", s);
    assert_string_equal(err, msg);
    assert_int_equal(bad, 0);
    assert_memory_equal(&v, &zero, sizeof(v));
}

/* fmt - the formatted value, to be freed */
static char *
fmt(const struct rm_dirinfo *d, const void *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    cfg_value_format(d, v, f);
    fclose(f);
    return buf;
}

static void
assert_fmt(const struct rm_dirinfo *d, const void *v, const char *want)
{
    char *got = fmt(d, v);

    assert_string_equal(got, want);
    free(got);
}

/* tokenize - words of a formatted value, as the lexer would see them:
 * quoted strings with \" \\ \n \t, bare words, separated by , and blanks */
static size_t
tokenize(const char *t, struct rm_word *w, size_t max)
{
    size_t n = 0;

    while (*t && n < max) {
        char *o;

        if (strchr(", \t", *t)) {
            t++;
            continue;
        }
        o = malloc(strlen(t) + 1);
        assert_non_null(o);
        w[n].s = o;
        w[n].line = 1;
        w[n].col = 1;
        if (*t == '"') {
            w[n].quoted = true;
            for (t++; *t && *t != '"'; t++) {
                if (*t == '\\' && t[1]) {
                    t++;
                    if (*t == 'n')
                        *o++ = '\n';
                    else if (*t == 't')
                        *o++ = '\t';
                    else if (*t == '"' || *t == '\\')
                        *o++ = *t;
                    else {
                        *o++ = '\\';
                        *o++ = *t;
                    }
                } else
                    *o++ = *t;
            }
            assert_int_equal(*t, '"');
            t++;
        } else {
            w[n].quoted = false;
            while (*t && !strchr(", \t", *t))
                *o++ = *t++;
        }
        *o = '\0';
        n++;
    }
    return n;
}

/* roundtrip - format v, parse the text back, format again: same text */
static void
roundtrip(const struct rm_dirinfo *d, const void *v)
{
    char *t1 = fmt(d, v), *t2, err[256] = "";
    struct rm_word w[128];
    size_t n = tokenize(t1, w, 128), bad;
    union val v2 = zero;

    if (cfg_value_set(d, &v2, w, n, false, err, sizeof(err), &bad) != 0)
        fail_msg("formatted '%s' does not parse back: %s", t1, err);
    t2 = fmt(d, &v2);
    assert_string_equal(t1, t2);
    for (size_t i = 0; i < n; i++)
        free((char *)w[i].s);
    cfg_value_free(d, &v2);
    free(t1);
    free(t2);
}

/* ------------------------------------------------------------------ */

static void
test_str(void **state)
{
    struct rm_dirinfo d = DI(RM_T_STR, 0, 0, NULL);
    union val v = zero;
    char err[256];
    size_t bad;

    (void)state;
    ok1(&d, &v, "hello");
    assert_string_equal(v.s, "hello");
    ok1(&d, &v, "3"); /* digits are a string (issue 137: dbname = 3) */
    assert_string_equal(v.s, "3");
    ok1(&d, &v, "user@x11.domain.ltd");
    assert_string_equal(v.s, "user@x11.domain.ltd");
    ok1(&d, &v, "***SPAM*** %s");
    assert_string_equal(v.s, "***SPAM*** %s");
    ok1(&d, &v, "");
    assert_non_null(v.s);
    assert_string_equal(v.s, "");

    assert_int_equal(setv(&d, &v, false, err, &bad, "a", "b", NULL), -1);
    assert_string_equal(err, "expected a single value, found 'b'");
    assert_int_equal(bad, 1);
    assert_int_equal(setv(&d, &v, false, err, &bad, NULL), -1);
    assert_string_equal(err, "expected a string, found nothing");
    assert_int_equal(bad, 0);
    assert_int_equal(setv(&d, &v, true, err, &bad, "x", NULL), -1);
    assert_string_equal(
        err, "expected '=' ('+=' appends to lists only), found '+='");
    assert_string_equal(v.s, ""); /* unchanged by the failures */
    cfg_value_free(&d, &v);
    assert_memory_equal(&v, &zero, sizeof(v));
}

static void
test_int(void **state)
{
    struct rm_dirinfo d = DI(RM_T_INT, 0, 0, NULL);
    struct rm_dirinfo b = DI(RM_T_INT, 1, 1000000, NULL);
    struct rm_dirinfo lo = DI(RM_T_INT, 1000, 0, NULL);
    struct rm_dirinfo neg = DI(RM_T_INT, -1001, 1000, NULL);
    struct rm_dirinfo big = DI(RM_T_INT, 0, 4294967295.0, NULL);
    union val v = zero;

    (void)state;
    ok1(&d, &v, "42");
    assert_int_equal(v.i, 42);
    ok1(&d, &v, "-300");
    assert_int_equal(v.i, -300);
    ok1(&d, &v, "+7");
    assert_int_equal(v.i, 7);
    ok1(&d, &v, "9223372036854775807");
    assert_true(v.i == INT64_MAX);
    ok1(&b, &v, "1");
    assert_int_equal(v.i, 1);
    ok1(&b, &v, "1000000");
    assert_int_equal(v.i, 1000000);
    ok1(&neg, &v, "-1001");
    assert_int_equal(v.i, -1001);
    ok1(&big, &v, "4294967295");
    assert_true(v.i == 4294967295LL);
    ok1(&lo, &v, "123456789");
    assert_int_equal(v.i, 123456789);

    bad1(&b, "0", "expected an integer between 1 and 1000000, found '0'");
    bad1(&b, "1000001",
         "expected an integer between 1 and 1000000, found '1000001'");
    bad1(&b, "abc", "expected an integer between 1 and 1000000, found 'abc'");
    bad1(&neg, "-1002",
         "expected an integer between -1001 and 1000, found '-1002'");
    bad1(&big, "4294967296",
         "expected an integer between 0 and 4294967295, found '4294967296'");
    bad1(&lo, "999", "expected an integer of at least 1000, found '999'");
    bad1(&d, "x", "expected an integer, found 'x'");
    bad1(&d, "", "expected an integer, found ''");
    bad1(&d, "12abc", "expected an integer, found '12abc'");
    bad1(&d, "1.5", "expected an integer, found '1.5'");
    bad1(&d, "-", "expected an integer, found '-'");
    bad1(&d, " 1", "expected an integer, found ' 1'");
    bad1(&d, "0x10", "expected an integer, found '0x10'");
    bad1(&d, "99999999999999999999",
         "expected an integer, found '99999999999999999999'");
}

static void
test_flag(void **state)
{
    static const char *const yes[] = {"yes", "YES", "true", "True", "on",
                                      "ON",  "y",   "Y",    "1"};
    static const char *const no[] = {"no",  "No", "false", "FALSE", "off",
                                     "Off", "n",  "N",     "0"};
    struct rm_dirinfo d = DI(RM_T_FLAG, 0, 0, NULL);
    union val v = zero;
    bool f;

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        v.b = false;
        ok1(&d, &v, yes[i]);
        assert_true(v.b);
        /* and back off: the original could only switch flags on */
        ok1(&d, &v, no[i]);
        assert_false(v.b);
    }
    assert_int_equal(cfg_parse_flag("oN", &f), 0);
    assert_true(f);
    assert_int_equal(cfg_parse_flag("oFf", &f), 0);
    assert_false(f);
    assert_int_equal(cfg_parse_flag("maybe", &f), -1);
    assert_int_equal(cfg_parse_flag("", &f), -1);
    assert_int_equal(cfg_parse_flag("yes ", &f), -1);
    assert_int_equal(cfg_parse_flag("2", &f), -1);
    bad1(&d, "maybe", "expected yes or no, found 'maybe'");
    bad1(&d, "enable", "expected yes or no, found 'enable'");
}

static void
test_parse_time(void **state)
{
    static const struct {
        const char *s;
        bool secs;
        uint64_t ms;
    } ok[] = {
        {"100ms", true, 100}, /* the original read 100 minutes */
        {"5m", true, 300000},
        {"1.5s", true, 1500},
        {"2h", true, 7200000},
        {"1d", true, 86400000},
        {"1w", true, 604800000},
        {"0", true, 0},
        {"30", true, 30000},
        {"30", false, 30},
        {"0.5", true, 500},
        {"0.5", false, 1},
        {".5s", true, 500},
        {"1.", true, 1000},
        {"5M", true, 300000},
        {"10MS", false, 10},
        {"3D", true, 259200000},
        {"1.25h", true, 4500000},
        {"0.001s", true, 1},
        {"1.0005s", true, 1001},
        {"0.0001s", true, 0},
        {"172800s", true, 172800000},
        {"0ms", true, 0},
        {"7m", true, 420000},
        {"18446744073709551615ms", true, UINT64_MAX},
    };
    static const char *const bad[] = {
        "",
        "s",
        "5x",
        "-5s",
        "5 s",
        "1.5.5s",
        "5sec",
        "5mn",
        "m5",
        "1e3",
        "+5s",
        ".s",
        ".",
        "5s ",
        "0x10",
        "5ss",
        "99999999999999999999",
        "18446744073709551616ms",
        "40000000000w",
    };
    uint64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ms = 12345;
        if (cfg_parse_time(ok[i].s, ok[i].secs, &ms) != 0)
            fail_msg("'%s' rejected", ok[i].s);
        if (ms != ok[i].ms)
            fail_msg("'%s' = %llu ms, want %llu", ok[i].s,
                     (unsigned long long)ms, (unsigned long long)ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 12345;
        if (cfg_parse_time(bad[i], true, &ms) == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(ms, 12345);
    }
}

static void
test_time_value(void **state)
{
    struct rm_dirinfo s = DI(RM_T_TIME_S, 1, 600000, NULL);
    struct rm_dirinfo ms = DI(RM_T_TIME_MS, 0, 0, NULL);
    struct rm_dirinfo lo = DI(RM_T_TIME_S, 1000, 0, NULL);
    union val v = zero;

    (void)state;
    ok1(&s, &v, "100ms");
    assert_int_equal(v.u, 100);
    ok1(&s, &v, "5m");
    assert_int_equal(v.u, 300000);
    ok1(&s, &v, "10m");
    assert_int_equal(v.u, 600000);
    ok1(&s, &v, "1.5");
    assert_int_equal(v.u, 1500);
    ok1(&ms, &v, "250");
    assert_int_equal(v.u, 250);
    ok1(&ms, &v, "2s");
    assert_int_equal(v.u, 2000);
    ok1(&lo, &v, "1s");
    assert_int_equal(v.u, 1000);
    ok1(&lo, &v, "52w");
    assert_int_equal(v.u, 52ULL * 604800000ULL);

    bad1(&s, "0", "expected a time between 1ms and 10m, found '0'");
    bad1(&s, "600001ms",
         "expected a time between 1ms and 10m, found '600001ms'");
    bad1(&s, "5x", "expected a time (e.g. 30s, 100ms, 5m, 1d), found '5x'");
    bad1(&s, "-1s", "expected a time (e.g. 30s, 100ms, 5m, 1d), found '-1s'");
    bad1(&lo, "0.5s", "expected a time of at least 1s, found '0.5s'");
    bad1(&ms, "", "expected a time (e.g. 30s, 100ms, 5m, 1d), found ''");
}

static void
test_size(void **state)
{
    static const struct {
        const char *s;
        uint64_t b;
    } ok[] = {
        {"0", 0},           {"512", 512},        {"100b", 100},
        {"1k", 1024},       {"10kb", 10240},     {"10KB", 10240},
        {"1m", 1048576},    {"1MB", 1048576},    {"64M", 67108864},
        {"2g", 2147483648}, {"2GB", 2147483648}, {"1.5k", 1536},
        {"0.5m", 524288},   {"1Gb", 1073741824},
    };
    static const char *const bad[] = {"",    "k",   "1t",  "-1",  "1kk",
                                      "1 k", "1bk", "1e3", "+1k", "0x10"};
    struct rm_dirinfo d = DI(RM_T_SIZE, 65536, 67108864, NULL);
    struct rm_dirinfo any = DI(RM_T_SIZE, 0, 0, NULL);
    union val v = zero;
    uint64_t b;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        b = 1;
        if (cfg_parse_size(ok[i].s, &b) != 0)
            fail_msg("'%s' rejected", ok[i].s);
        if (b != ok[i].b)
            fail_msg("'%s' = %llu", ok[i].s, (unsigned long long)b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cfg_parse_size(bad[i], &b) == 0)
            fail_msg("'%s' accepted", bad[i]);

    ok1(&d, &v, "64k");
    assert_int_equal(v.u, 65536);
    ok1(&d, &v, "64m");
    assert_int_equal(v.u, 67108864);
    ok1(&any, &v, "0");
    assert_int_equal(v.u, 0);
    bad1(&d, "1k", "expected a size between 64k and 64m, found '1k'");
    bad1(&d, "65m", "expected a size between 64k and 64m, found '65m'");
    bad1(&d, "1t", "expected a size (e.g. 512, 10k, 1m, 2g), found '1t'");
}

static void
test_prob(void **state)
{
    static const struct {
        const char *s;
        double p;
    } ok[] = {
        {"0", 0.0},
        {"1", 1.0},
        {"0.25", 0.25},
        {"1.0", 1.0},
        {".5", 0.5},
        {"25%", 0.25},
        {"100%", 1.0},
        {"0%", 0.0},
        {"12.5%", 0.125},
        {"0.1", 0.1},
        {"1e-3", 0.001},
        /* above 1: a percentage, as the original rmilter read it */
        {"2", 0.02},
        {"50", 0.5},
        {"100", 1.0},
        {"1.5", 0.015},
        {"1e1", 0.1},
    };
    static const char *const bad[] = {
        "101", "101%", "-0.1", "abc", "nan", "inf",   "0x1p-2",
        "%",   "",     "25 %", "150", "1e3", "0.5%%",
    };
    struct rm_dirinfo d = DI(RM_T_PROB, 0, 1, NULL);
    struct rm_dirinfo half = DI(RM_T_PROB, 0, 0.5, NULL);
    union val v = zero;
    char msg[256];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v.p = -1;
        ok1(&d, &v, ok[i].s);
        if (v.p != ok[i].p)
            fail_msg("'%s' = %.17g", ok[i].s, v.p);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "expected a probability between 0.0 and 1.0 (or a "
                 "percentage like 25%%), found '%s'",
                 bad[i]);
        bad1(&d, bad[i], msg);
    }
    ok1(&half, &v, "50%");
    assert_true(v.p == 0.5);
    bad1(&half, "0.6", "expected a probability between 0 and 0.5, found '0.6'");
}

static void
test_bucket(void **state)
{
    static const char *const bad[] = {"20",   "20:",   ":1", "a:b", "-1:1",
                                      "1:-1", "1:2:3", "",   "1;2", "inf:1"};
    struct rm_dirinfo d = DI(RM_T_BUCKET, 0, 0, NULL);
    union val v = zero;
    char msg[256];

    (void)state;
    ok1(&d, &v, "20:0.016666667");
    assert_true(v.bk.burst == 20.0);
    assert_true(v.bk.rate == 0.016666667);
    ok1(&d, &v, "0:0");
    assert_true(v.bk.burst == 0.0 && v.bk.rate == 0.0);
    ok1(&d, &v, "5:1e-05");
    assert_true(v.bk.burst == 5.0 && v.bk.rate == 1e-05);
    ok1(&d, &v, "1.5:2");
    assert_true(v.bk.burst == 1.5 && v.bk.rate == 2.0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "expected burst:rate (e.g. 20:0.5, rate in messages per "
                 "second), found '%s'",
                 bad[i]);
        bad1(&d, bad[i], msg);
    }
}

static void
test_mode(void **state)
{
    struct rm_dirinfo d = DI(RM_T_MODE, 0, 07777, NULL);
    struct rm_dirinfo f = DI(RM_T_MODE, 0, 0777, NULL);
    union val v = zero;

    (void)state;
    ok1(&d, &v, "0660");
    assert_int_equal(v.m, 0660);
    ok1(&d, &v, "660");
    assert_int_equal(v.m, 0660);
    ok1(&d, &v, "00600");
    assert_int_equal(v.m, 0600);
    ok1(&d, &v, "7777");
    assert_int_equal(v.m, 07777);
    ok1(&d, &v, "0");
    assert_int_equal(v.m, 0);
    bad1(&f, "1777",
         "expected an octal file mode between 0000 and 0777 "
         "(e.g. 0660), found '1777'");
    bad1(&d, "0980",
         "expected an octal file mode between 0000 and 7777 "
         "(e.g. 0660), found '0980'");
    bad1(&d, "17777",
         "expected an octal file mode between 0000 and 7777 "
         "(e.g. 0660), found '17777'");
    bad1(&d, "rw-",
         "expected an octal file mode between 0000 and 7777 "
         "(e.g. 0660), found 'rw-'");
    bad1(&d, "",
         "expected an octal file mode between 0000 and 7777 "
         "(e.g. 0660), found ''");
}

static void
test_enum(void **state)
{
    struct rm_dirinfo d =
        DI(RM_T_ENUM, 0, 0, "error|warning|notice|info|debug");
    union val v = zero;
    char err[256];
    size_t bad;

    (void)state;
    ok1(&d, &v, "info");
    assert_int_equal(v.e, 3);
    ok1(&d, &v, "DEBUG");
    assert_int_equal(v.e, 4);
    ok1(&d, &v, "error");
    assert_int_equal(v.e, 0);
    bad1(&d, "verbose",
         "expected one of error, warning, notice, info, "
         "debug, found 'verbose'");
    bad1(&d, "inf",
         "expected one of error, warning, notice, info, debug, "
         "found 'inf'");
    bad1(&d, "infos",
         "expected one of error, warning, notice, info, debug, "
         "found 'infos'");
    assert_int_equal(setv(&d, &v, false, err, &bad, NULL), -1);
    assert_string_equal(err, "expected one of error, warning, notice, info, "
                             "debug, found nothing");
    assert_int_equal(v.e, 0);
}

static void
test_noop(void **state)
{
    struct rm_dirinfo d = DI(RM_T_NOOP, 0, 0, "unused");
    union val v = zero;
    char err[256];

    (void)state;
    assert_int_equal(cfg_value_set_default(&d, &v, err, sizeof(err)), 0);
    assert_false(v.b);
    assert_int_equal(
        setv(&d, &v, false, err, NULL, "anything", "at all", "1:2:3", NULL), 0);
    assert_true(v.b);
    v.b = false;
    assert_int_equal(setv(&d, &v, false, err, NULL, NULL), 0);
    assert_true(v.b);
    v.b = false;
    assert_int_equal(setv(&d, &v, true, err, NULL, "x", NULL), 0);
    assert_true(v.b);
}

static void
test_regex_value(void **state)
{
    struct rm_dirinfo d = DI(RM_T_REGEX, 0, 0, NULL);
    union val v = zero;
    struct rm_word qw = {"/^<.*@example\\.com>$/i", true, 1, 1};
    char err[256];
    size_t bad;

    (void)state;
    ok1(&d, &v, "/abc/i");
    assert_non_null(v.re);
    assert_true(regex_match(v.re, "xABC", 4));
    assert_string_equal(regex_source(v.re), "/abc/i");
    /* the original's quoted id_regexp form */
    assert_int_equal(
        cfg_value_set(&d, &v, &qw, 1, false, err, sizeof(err), &bad), 0);
    assert_true(regex_match(v.re, "<ID@EXAMPLE.COM>", 16));
    assert_false(regex_match(v.re, "<id@example.org>", 16));
    /* a failure keeps the old value */
    assert_int_equal(setv(&d, &v, false, err, &bad, "/(/", NULL), -1);
    assert_string_equal(
        err, "invalid regexp '/(/': missing closing parenthesis at offset 1");
    assert_string_equal(regex_source(v.re), "/^<.*@example\\.com>$/i");
    ok1(&d, &v, "");
    assert_null(v.re);
    bad1(&d, "abc", "expected /regexp/flags, found 'abc'");
    bad1(&d, "/abc/z",
         "expected regexp flags among i, m, s, x, u, found 'z' in '/abc/z'");
    cfg_value_free(&d, &v);
}

static bool
ipm(const struct rm_iplist *l, const char *s)
{
    struct rm_ipaddr a;

    assert_int_equal(ipaddr_parse(s, &a), 0);
    return iplist_match(l, &a);
}

static void
test_iplist_value(void **state)
{
    struct rm_dirinfo d = DI(RM_T_IPLIST, 0, 0, NULL);
    union val v = zero;
    char err[256];
    size_t bad;

    (void)state;
    /* one quoted word holding a list, and several words */
    assert_int_equal(setv(&d, &v, false, err, NULL, "127.0.0.1, ::1",
                          "[2001:db8::]/32", "10.0.0.0/8", NULL),
                     0);
    assert_int_equal(iplist_count(v.ip), 4);
    assert_string_equal(iplist_entry(v.ip, 0), "127.0.0.1");
    assert_string_equal(iplist_entry(v.ip, 1), "::1");
    assert_string_equal(iplist_entry(v.ip, 2), "2001:db8::/32");
    assert_string_equal(iplist_entry(v.ip, 3), "10.0.0.0/8");
    assert_true(ipm(v.ip, "10.9.8.7"));
    assert_true(ipm(v.ip, "::ffff:127.0.0.1"));
    assert_false(ipm(v.ip, "127.0.0.2"));

    /* += appends */
    assert_int_equal(setv(&d, &v, true, err, NULL, "192.0.2.0/24", NULL), 0);
    assert_int_equal(iplist_count(v.ip), 5);
    assert_true(ipm(v.ip, "192.0.2.200"));
    assert_true(ipm(v.ip, "10.0.0.1"));

    /* a bad word: message, index, and the list untouched */
    assert_int_equal(
        setv(&d, &v, true, err, &bad, "192.0.3.1", "::2", "1.2.3.4/40", NULL),
        -1);
    assert_string_equal(
        err, "expected a prefix length between 0 and 32, found '1.2.3.4/40'");
    assert_int_equal(bad, 2);
    assert_int_equal(iplist_count(v.ip), 5);
    assert_false(ipm(v.ip, "192.0.3.1"));
    assert_int_equal(setv(&d, &v, false, err, &bad, "::1", "x, y", NULL), -1);
    assert_string_equal(err, "expected an IP address or network, found 'x'");
    assert_int_equal(bad, 1);
    assert_int_equal(iplist_count(v.ip), 5);

    /* = replaces */
    ok1(&d, &v, "[::1]");
    assert_int_equal(iplist_count(v.ip), 1);
    assert_false(ipm(v.ip, "10.0.0.1"));
    assert_true(ipm(v.ip, "::1"));

    /* empty lists: no words, or "" -- never NULL */
    assert_int_equal(setv(&d, &v, false, err, NULL, NULL), 0);
    assert_non_null(v.ip);
    assert_int_equal(iplist_count(v.ip), 0);
    ok1(&d, &v, "::1");
    ok1(&d, &v, "");
    assert_non_null(v.ip);
    assert_int_equal(iplist_count(v.ip), 0);
    assert_fmt(&d, &v, "\"\"");
    cfg_value_free(&d, &v);
    assert_null(v.ip);

    /* += on a field never set */
    assert_int_equal(setv(&d, &v, true, err, NULL, "10.0.0.0/8", NULL), 0);
    assert_int_equal(iplist_count(v.ip), 1);
    cfg_value_free(&d, &v);
}

static void
test_sockets(void **state)
{
    static const struct {
        const char *s;
        enum rm_sock_kind kind;
        const char *path, *host;
        uint16_t port;
        int fd;
    } ok[] = {
        {"unix:/run/rmilter/rmilter.sock", RM_SOCK_UNIX,
         "/run/rmilter/rmilter.sock", NULL, 0, 0},
        {"local:/var/run/r.sock", RM_SOCK_UNIX, "/var/run/r.sock", NULL, 0, 0},
        {"/tmp/r.sock", RM_SOCK_UNIX, "/tmp/r.sock", NULL, 0, 0},
        {"inet:11339@127.0.0.1", RM_SOCK_INET, NULL, "127.0.0.1", 11339, 0},
        {"inet:11339@localhost", RM_SOCK_INET, NULL, "localhost", 11339, 0},
        {"inet:1", RM_SOCK_INET, NULL, NULL, 1, 0},
        {"inet:65535", RM_SOCK_INET, NULL, NULL, 65535, 0},
        {"inet6:11339@[::1]", RM_SOCK_INET6, NULL, "::1", 11339, 0},
        {"inet6:11339@::1", RM_SOCK_INET6, NULL, "::1", 11339, 0},
        {"inet6:25@mx.example.org", RM_SOCK_INET6, NULL, "mx.example.org", 25,
         0},
        {"inet6:11339", RM_SOCK_INET6, NULL, NULL, 11339, 0},
        {"fd:3", RM_SOCK_FD, NULL, NULL, 0, 3},
        {"fd:0", RM_SOCK_FD, NULL, NULL, 0, 0},
        {"systemd", RM_SOCK_SYSTEMD, NULL, NULL, 0, 0},
    };
    static const struct {
        const char *s, *msg;
    } bad[] = {
        {"inet:0", "expected a port between 1 and 65535, found '0'"},
        {"inet:65536@h", "expected a port between 1 and 65535, found '65536'"},
        {"inet:x@h", "expected a port between 1 and 65535, found 'x'"},
        {"inet:@h", "expected a port between 1 and 65535, found ''"},
        {"inet6:", "expected a port between 1 and 65535, found ''"},
        {"inet:25@", "expected an IPv4 address or host name (inet6: for "
                     "IPv6) after '@', found ''"},
        {"inet:25@[::1]", "expected an IPv4 address or host name (inet6: "
                          "for IPv6) after '@', found '[::1]'"},
        {"inet6:25@[zz]", "expected an IPv6 address or host name after '@', "
                          "found '[zz]'"},
        {"inet6:25@[127.0.0.1]", "expected an IPv6 address or host name "
                                 "after '@', found '[127.0.0.1]'"},
        {"unix:", "expected a socket path after 'unix:', found ''"},
        {"local:", "expected a socket path after 'local:', found ''"},
        {"fd:", "expected a file descriptor number after 'fd:', found ''"},
        {"fd:-1", "expected a file descriptor number after 'fd:', found "
                  "'-1'"},
        {"fd:x", "expected a file descriptor number after 'fd:', found 'x'"},
        {"tcp:25", "expected unix:/path, inet:port@host, inet6:port@host, "
                   "fd:N or systemd, found 'tcp:25'"},
        {"run/r.sock", "expected unix:/path, inet:port@host, "
                       "inet6:port@host, fd:N or systemd, found 'run/r.sock'"},
        {"SYSTEMD", "expected unix:/path, inet:port@host, inet6:port@host, "
                    "fd:N or systemd, found 'SYSTEMD'"},
    };
    struct rm_dirinfo d = DI(RM_T_SOCKETS, 0, 0, NULL);
    union val v = zero;
    struct rm_sockspec s;
    char err[256], longpath[200];
    size_t bad_i;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        err[0] = '\0';
        if (cfg_parse_socket(ok[i].s, &s, err, sizeof(err)) != 0)
            fail_msg("'%s' rejected: %s", ok[i].s, err);
        assert_int_equal(s.kind, ok[i].kind);
        if (ok[i].path)
            assert_string_equal(s.path, ok[i].path);
        else
            assert_null(s.path);
        if (ok[i].host)
            assert_string_equal(s.host, ok[i].host);
        else
            assert_null(s.host);
        assert_int_equal(s.port, ok[i].port);
        assert_int_equal(s.fd, ok[i].fd);
        assert_string_equal(s.text, ok[i].s);
        cfg_sockspec_free(&s);
        assert_null(s.text);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (cfg_parse_socket(bad[i].s, &s, err, sizeof(err)) == 0)
            fail_msg("'%s' accepted", bad[i].s);
        assert_string_equal(err, bad[i].msg);
        assert_null(s.text);
        assert_null(s.path);
        assert_null(s.host);
    }
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(cfg_parse_socket(longpath, &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected a socket path shorter than 108 "
                                "bytes, found '/aaaa"));

    /* as a list: several, appended, replaced */
    assert_int_equal(setv(&d, &v, false, err, NULL, "systemd",
                          "unix:/a.sock, inet:25@127.0.0.1", NULL),
                     0);
    assert_int_equal(v.so.n, 3);
    assert_int_equal(v.so.v[0].kind, RM_SOCK_SYSTEMD);
    assert_string_equal(v.so.v[1].path, "/a.sock");
    assert_int_equal(v.so.v[2].port, 25);
    assert_int_equal(setv(&d, &v, true, err, NULL, "fd:3", NULL), 0);
    assert_int_equal(v.so.n, 4);
    assert_int_equal(v.so.v[3].fd, 3);
    assert_int_equal(setv(&d, &v, true, err, &bad_i, "fd:4", "inet:0", NULL),
                     -1);
    assert_int_equal(bad_i, 1);
    assert_string_equal(err, "expected a port between 1 and 65535, found '0'");
    assert_int_equal(v.so.n, 4);
    assert_fmt(&d, &v, "systemd, unix:/a.sock, inet:25@127.0.0.1, fd:3");
    ok1(&d, &v, "inet6:11332@[::1]");
    assert_int_equal(v.so.n, 1);
    assert_string_equal(v.so.v[0].host, "::1");
    assert_fmt(&d, &v, "inet6:11332@[::1]");
    cfg_value_free(&d, &v);
    assert_memory_equal(&v, &zero, sizeof(v));
}

static void
test_servers(void **state)
{
    static const struct {
        const char *s;
        uint16_t defport;
        const char *host, *path;
        uint16_t port;
        unsigned weight;
        bool rspamd;
    } ok[] = {
        {"localhost", 3310, "localhost", NULL, 3310, 1, false},
        {"clamd.example.org:3311", 3310, "clamd.example.org", NULL, 3311, 1,
         false},
        {"10.0.0.1:3311:5", 3310, "10.0.0.1", NULL, 3311, 5, false},
        {"h:1:0", 3310, "h", NULL, 1, 0, false},
        {"[::1]:783", 783, "::1", NULL, 783, 1, false},
        {"[::1]:783:3", 783, "::1", NULL, 783, 3, false},
        {"[::1]", 6379, "::1", NULL, 6379, 1, false},
        {"::1", 6379, "::1", NULL, 6379, 1, false},
        {"2001:db8::1", 53, "2001:db8::1", NULL, 53, 1, false},
        {"/var/run/clamav/clamd.ctl", 3310, NULL, "/var/run/clamav/clamd.ctl",
         0, 1, false},
        {"unix:/run/redis.sock", 6379, NULL, "/run/redis.sock", 0, 1, false},
        {"./clamd.sock", 3310, NULL, "./clamd.sock", 0, 1, false},
        {"r:localhost", 783, "localhost", NULL, 11333, 1, true},
        {"r:localhost:11334", 783, "localhost", NULL, 11334, 1, true},
        {"r:[::1]", 783, "::1", NULL, 11333, 1, true},
        {"r:/run/rspamd/normal.sock", 783, NULL, "/run/rspamd/normal.sock", 0,
         1, true},
        {"r:127.0.0.1", 0, "127.0.0.1", NULL, 11333, 1, true},
        {"host_name-1.example", 1, "host_name-1.example", NULL, 1, 1, false},
    };
    static const struct {
        const char *s;
        uint16_t defport;
        const char *msg;
    } bad[] = {
        {"h:0", 1, "expected a port between 1 and 65535, found '0'"},
        {"h:70000", 1, "expected a port between 1 and 65535, found '70000'"},
        {"h:", 1, "expected a port between 1 and 65535, found ''"},
        {"h:x", 1, "expected a port between 1 and 65535, found 'x'"},
        {"h:1:x", 1, "expected a weight between 0 and 65535, found 'x'"},
        {"h:1:", 1, "expected a weight between 0 and 65535, found ''"},
        {"h:1:2:3", 1, "expected a weight between 0 and 65535, found '2:3'"},
        {"h:1:70000", 1,
         "expected a weight between 0 and 65535, found '70000'"},
        {"[::1]:", 1, "expected a port between 1 and 65535, found ''"},
        {"[::1]x", 1, "expected ':port' after ']', found 'x'"},
        {"[::1", 1, "expected [IPv6 address][:port[:weight]], found '[::1'"},
        {"[zz::1]:1", 1,
         "expected [IPv6 address][:port[:weight]], found '[zz::1]:1'"},
        {"bad!host", 1,
         "expected host[:port[:weight]], [IPv6]:port or "
         "/path, found 'bad!host'"},
        {":25", 1,
         "expected host[:port[:weight]], [IPv6]:port or /path, "
         "found ':25'"},
        {"r:", 1,
         "expected host[:port[:weight]], [IPv6]:port or /path, "
         "found 'r:'"},
        {"unix:", 1,
         "expected a socket path of 1 to 107 bytes, found "
         "'unix:'"},
        {"localhost", 0,
         "expected host:port (no default port here), found "
         "'localhost'"},
        {"::1", 0, "expected host:port (no default port here), found '::1'"},
    };
    struct rm_dirinfo clam = DI(RM_T_SERVERS, 0, 0, "3310");
    struct rm_dirinfo spamd = DI(RM_T_SERVERS, 0, 0, "783");
    struct rm_dirinfo noport = DI(RM_T_SERVERS, 0, 0, NULL);
    union val v = zero;
    struct rm_server s;
    char err[256];
    size_t bad_i;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        err[0] = '\0';
        if (cfg_parse_server(ok[i].s, ok[i].defport, &s, err, sizeof(err)))
            fail_msg("'%s' rejected: %s", ok[i].s, err);
        if (ok[i].host)
            assert_string_equal(s.host, ok[i].host);
        else
            assert_null(s.host);
        if (ok[i].path)
            assert_string_equal(s.path, ok[i].path);
        else
            assert_null(s.path);
        assert_int_equal(s.port, ok[i].port);
        assert_int_equal(s.weight, ok[i].weight);
        assert_int_equal(s.rspamd, ok[i].rspamd);
        assert_string_equal(s.text, ok[i].s);
        cfg_server_free(&s);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (cfg_parse_server(bad[i].s, bad[i].defport, &s, err, sizeof(err)) ==
            0)
            fail_msg("'%s' accepted", bad[i].s);
        assert_string_equal(err, bad[i].msg);
        assert_null(s.host);
        assert_null(s.text);
    }

    /* the directive's aux gives the default port */
    ok1(&clam, &v, "a, b:1");
    assert_int_equal(v.sv.n, 2);
    assert_int_equal(v.sv.v[0].port, 3310);
    assert_int_equal(v.sv.v[1].port, 1);
    assert_int_equal(
        setv(&spamd, &v, false, err, NULL, "spamd1", "r:rspamd1", NULL), 0);
    assert_int_equal(v.sv.n, 2);
    assert_int_equal(v.sv.v[0].port, 783);
    assert_false(v.sv.v[0].rspamd);
    assert_int_equal(v.sv.v[1].port, 11333);
    assert_true(v.sv.v[1].rspamd);
    assert_int_equal(setv(&spamd, &v, true, err, NULL, "[::1]:11335", NULL), 0);
    assert_int_equal(v.sv.n, 3);
    assert_string_equal(v.sv.v[2].host, "::1");
    assert_fmt(&spamd, &v, "spamd1, r:rspamd1, [::1]:11335");
    assert_int_equal(setv(&spamd, &v, true, err, &bad_i, "a", "b", "c:0", NULL),
                     -1);
    assert_int_equal(bad_i, 2);
    assert_int_equal(v.sv.n, 3);
    cfg_value_free(&spamd, &v);
    bad1(&noport, "localhost",
         "expected host:port (no default port here), found 'localhost'");
    ok1(&noport, &v, "localhost:53");
    assert_int_equal(v.sv.v[0].port, 53);
    ok1(&noport, &v, "");
    assert_int_equal(v.sv.n, 0);
    assert_fmt(&noport, &v, "\"\"");
    cfg_value_free(&noport, &v);
}

static void
test_strlist(void **state)
{
    struct rm_dirinfo d = DI(RM_T_STRLIST, 0, 0, NULL);
    union val v = zero;
    char err[256];

    (void)state;
    assert_int_equal(setv(&d, &v, false, err, NULL, "a, b c", "d", "7", NULL),
                     0);
    assert_int_equal(v.sl.n, 5);
    assert_string_equal(v.sl.v[0], "a");
    assert_string_equal(v.sl.v[1], "b");
    assert_string_equal(v.sl.v[2], "c");
    assert_string_equal(v.sl.v[3], "d");
    assert_string_equal(v.sl.v[4], "7");
    assert_int_equal(setv(&d, &v, true, err, NULL, "<>", NULL), 0);
    assert_int_equal(v.sl.n, 6);
    assert_string_equal(v.sl.v[5], "<>");
    assert_fmt(&d, &v, "a, b, c, d, 7, <>");
    ok1(&d, &v, "x");
    assert_int_equal(v.sl.n, 1);
    assert_string_equal(v.sl.v[0], "x");
    ok1(&d, &v, " , ");
    assert_int_equal(v.sl.n, 0);
    assert_fmt(&d, &v, "\"\"");
    cfg_value_free(&d, &v);
    assert_memory_equal(&v, &zero, sizeof(v));
}

static void
test_rcptlist(void **state)
{
    struct rm_dirinfo d = DI(RM_T_RCPTLIST, 0, 0, NULL);
    union val v = zero;
    char err[256];
    size_t bad;

    (void)state;
    assert_int_equal(setv(&d, &v, false, err, NULL, "Postmaster, @Example.COM",
                          "Joe@X.org", "<abuse@y.org>", NULL),
                     0);
    assert_int_equal(v.rl.n, 4);
    assert_string_equal(v.rl.v[0], "postmaster");
    assert_string_equal(v.rl.v[1], "@example.com");
    assert_string_equal(v.rl.v[2], "joe@x.org");
    assert_string_equal(v.rl.v[3], "abuse@y.org");

    /* user@domain, then the local part, then @domain */
    assert_true(rm_rcptlist_match(&v.rl, "<postmaster@any.org>"));
    assert_true(rm_rcptlist_match(&v.rl, "POSTMASTER"));
    assert_true(rm_rcptlist_match(&v.rl, "<someone@EXAMPLE.com>"));
    assert_true(rm_rcptlist_match(&v.rl, "joe@x.org"));
    assert_true(rm_rcptlist_match(&v.rl, "<JOE@X.ORG>"));
    assert_true(rm_rcptlist_match(&v.rl, " <Abuse@Y.Org> "));
    assert_true(rm_rcptlist_match(&v.rl, "<@relay.net,@r2.net:joe@x.org>"));
    assert_false(rm_rcptlist_match(&v.rl, "joe@y.org"));
    assert_false(rm_rcptlist_match(&v.rl, "abuse@x.org"));
    assert_false(rm_rcptlist_match(&v.rl, "joe"));
    assert_false(rm_rcptlist_match(&v.rl, "x.org"));
    assert_false(rm_rcptlist_match(&v.rl, "<>"));
    assert_false(rm_rcptlist_match(&v.rl, ""));
    assert_false(rm_rcptlist_match(&v.rl, "bob@sub.example.com"));
    assert_false(rm_rcptlist_match(&v.rl, "postmaster.x@any.org"));
    assert_false(rm_rcptlist_match(NULL, "postmaster"));
    assert_false(rm_rcptlist_match(&v.rl, NULL));

    /* a bare user matches that local part at any domain */
    ok1(&d, &v, "joe");
    assert_true(rm_rcptlist_match(&v.rl, "<joe@a.example>"));
    assert_true(rm_rcptlist_match(&v.rl, "<JOE@b.example>"));
    assert_true(rm_rcptlist_match(&v.rl, "joe"));
    assert_false(rm_rcptlist_match(&v.rl, "joey@a.example"));
    /* a full address does not match the local part alone */
    ok1(&d, &v, "joe@x.org");
    assert_false(rm_rcptlist_match(&v.rl, "joe"));
    assert_false(rm_rcptlist_match(&v.rl, "joe@x.org.evil"));

    assert_int_equal(setv(&d, &v, true, err, &bad, "ok@x", "user@", NULL), -1);
    assert_string_equal(err, "expected a recipient (user, user@domain or "
                             "@domain), found 'user@'");
    assert_int_equal(bad, 1);
    assert_int_equal(v.rl.n, 1);
    bad1(&d, "@",
         "expected a recipient (user, user@domain or @domain), "
         "found '@'");
    bad1(&d, "a@b@c",
         "expected a recipient (user, user@domain or @domain), "
         "found 'a@b@c'");
    bad1(&d, "<>",
         "expected a recipient (user, user@domain or @domain), "
         "found '<>'");
    assert_int_equal(setv(&d, &v, false, err, NULL, NULL), 0);
    assert_int_equal(v.rl.n, 0);
    assert_false(rm_rcptlist_match(&v.rl, "joe@x.org"));
    cfg_value_free(&d, &v);
}

static void
test_format(void **state)
{
    struct rm_dirinfo str = DI(RM_T_STR, 0, 0, NULL);
    struct rm_dirinfo ts = DI(RM_T_TIME_S, 0, 0, NULL);
    struct rm_dirinfo sz = DI(RM_T_SIZE, 0, 0, NULL);
    struct rm_dirinfo pr = DI(RM_T_PROB, 0, 1, NULL);
    struct rm_dirinfo bk = DI(RM_T_BUCKET, 0, 0, NULL);
    struct rm_dirinfo md = DI(RM_T_MODE, 0, 07777, NULL);
    struct rm_dirinfo fl = DI(RM_T_FLAG, 0, 0, NULL);
    struct rm_dirinfo in = DI(RM_T_INT, 0, 0, NULL);
    struct rm_dirinfo en = DI(RM_T_ENUM, 0, 0, "tempfail|accept|continue");
    struct rm_dirinfo sl = DI(RM_T_STRLIST, 0, 0, NULL);
    struct rm_dirinfo ip = DI(RM_T_IPLIST, 0, 0, NULL);
    struct rm_dirinfo re = DI(RM_T_REGEX, 0, 0, NULL);
    char *strs[] = {"hello",           "a b", "",    "say \"hi\"\\",
                    "line\nnext\ttab", "x#y", "a;b", "user@x11.domain.ltd",
                    "/p/a-t_h.sock"};
    const char *want[] = {"hello",
                          "\"a b\"",
                          "\"\"",
                          "\"say \\\"hi\\\"\\\\\"",
                          "\"line\\nnext\\ttab\"",
                          "\"x#y\"",
                          "\"a;b\"",
                          "user@x11.domain.ltd",
                          "/p/a-t_h.sock"};
    static const struct {
        uint64_t v;
        const char *t;
    } times[] = {{300000, "5m"},     {1500, "1500ms"},
                 {86400000, "1d"},   {0, "0"},
                 {604800000, "1w"},  {3600000, "1h"},
                 {90000, "90s"},     {1, "1ms"},
                 {1209600000, "2w"}, {90061001, "90061001ms"}},
      sizes[] = {{1048576, "1m"},   {10240, "10k"}, {1000, "1000"},
                 {1536, "1536"},    {0, "0"},       {2147483648ULL, "2g"},
                 {1572864, "1536k"}};
    union val v = zero;

    (void)state;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        v.s = strs[i];
        assert_fmt(&str, &v, want[i]);
        roundtrip(&str, &v);
    }
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        v.u = times[i].v;
        assert_fmt(&ts, &v, times[i].t);
        roundtrip(&ts, &v);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        v.u = sizes[i].v;
        assert_fmt(&sz, &v, sizes[i].t);
        roundtrip(&sz, &v);
    }
    v.p = 0.25;
    assert_fmt(&pr, &v, "0.25");
    v.p = 1.0;
    assert_fmt(&pr, &v, "1");
    v.p = 0.0;
    assert_fmt(&pr, &v, "0");
    v.p = 1.0 / 3.0;
    assert_fmt(&pr, &v, "0.3333333333333333");
    roundtrip(&pr, &v);
    v.p = 0.1;
    assert_fmt(&pr, &v, "0.1");
    v.p = 1e-7;
    assert_fmt(&pr, &v, "1e-07");
    roundtrip(&pr, &v);

    v.bk.burst = 20;
    v.bk.rate = 0.016666667;
    assert_fmt(&bk, &v, "20:0.016666667");
    v.bk.burst = 5;
    v.bk.rate = 1.0 / 3600;
    assert_fmt(&bk, &v, "5:0.0002777777777777778");
    roundtrip(&bk, &v);
    v.bk.burst = 0;
    v.bk.rate = 0;
    assert_fmt(&bk, &v, "0:0");
    v.bk.burst = 1e20;
    v.bk.rate = 1234.5;
    assert_fmt(&bk, &v, "1e+20:1234.5");
    roundtrip(&bk, &v);
    v.bk.burst = 1e16;
    v.bk.rate = 1e-5;
    assert_fmt(&bk, &v, "10000000000000000:1e-05");
    roundtrip(&bk, &v);

    v.m = 0660;
    assert_fmt(&md, &v, "0660");
    v.m = 0;
    assert_fmt(&md, &v, "0000");
    v.m = 04755;
    assert_fmt(&md, &v, "4755");
    roundtrip(&md, &v);

    v.b = true;
    assert_fmt(&fl, &v, "yes");
    v.b = false;
    assert_fmt(&fl, &v, "no");
    v.i = -300;
    assert_fmt(&in, &v, "-300");
    roundtrip(&in, &v);
    v.e = 2;
    assert_fmt(&en, &v, "continue");
    roundtrip(&en, &v);

    memset(&v, 0, sizeof(v));
    ok1(&sl, &v, "from, sender, reply-to");
    assert_fmt(&sl, &v, "from, sender, reply-to");
    cfg_value_free(&sl, &v);
    /* the lexer's keywords and '/'-words before a quoted item are quoted */
    {
        struct rm_word w[4] = {{"/a", true, 1, 1},
                               {"/b", true, 1, 1},
                               {"x\"y/", true, 1, 1},
                               {".include", true, 1, 1}};
        char err[256];
        size_t bad;

        assert_int_equal(
            cfg_value_set(&sl, &v, w, 4, false, err, sizeof(err), &bad), 0);
        assert_fmt(&sl, &v, "\"/a\", \"/b\", \"x\\\"y/\", \".include\"");
        roundtrip(&sl, &v);
        cfg_value_free(&sl, &v);
        assert_int_equal(
            cfg_value_set(&sl, &v, w, 2, false, err, sizeof(err), &bad), 0);
        assert_fmt(&sl, &v, "/a, /b");
        cfg_value_free(&sl, &v);
    }

    ok1(&ip, &v, "127.0.0.0/8, [::1]");
    assert_fmt(&ip, &v, "127.0.0.0/8, ::1");
    roundtrip(&ip, &v);
    cfg_value_free(&ip, &v);
    assert_fmt(&ip, &v, "\"\""); /* a NULL list */

    ok1(&re, &v, "/a b\\.c/i");
    assert_fmt(&re, &v, "\"/a b\\\\.c/i\"");
    roundtrip(&re, &v);
    ok1(&re, &v, "/<id-[0-9]+@x>/");
    assert_fmt(&re, &v, "/<id-[0-9]+@x>/");
    ok1(&re, &v, "/^x$/");
    assert_fmt(&re, &v, "\"/^x$/\"");
    cfg_value_free(&re, &v);
    assert_fmt(&re, &v, "\"\"");
}

/* rt - d = each word (one statement) parses, and round-trips */
static void
rt(enum rm_vtype t, const char *aux, const char *first, ...)
{
    struct rm_dirinfo d = DI(t, 0, 0, aux);
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        union val v = zero;

        ok1(&d, &v, s);
        roundtrip(&d, &v);
        cfg_value_free(&d, &v);
        assert_memory_equal(&v, &zero, sizeof(v));
    }
    va_end(ap);
}

static void
test_roundtrip_types(void **state)
{
    (void)state;
    rt(RM_T_STR, NULL, "x", "3", "a \"b\" \\c", "tab\there", "", "é", NULL);
    rt(RM_T_INT, NULL, "0", "-1", "+12", "9223372036854775807",
       "-9223372036854775808", NULL);
    rt(RM_T_FLAG, NULL, "on", "off", NULL);
    rt(RM_T_TIME_S, NULL, "100ms", "5m", "1.5s", "7", "0.001", "3w", "25h",
       "18446744073709551615ms", NULL);
    rt(RM_T_TIME_MS, NULL, "100", "5m", "1.5s", "0", NULL);
    rt(RM_T_SIZE, NULL, "1k", "1.5m", "7", "3g", "1023", NULL);
    rt(RM_T_PROB, NULL, "0.1", "33%", "33.3%", "0.7", "1e-9", "1", NULL);
    rt(RM_T_BUCKET, NULL, "20:0.016666667", "100:0.033333333", "5:0.000277778",
       "1e-7:3.5", "0:1", NULL);
    rt(RM_T_MODE, NULL, "660", "0", "7777", NULL);
    rt(RM_T_ENUM, "udp|tcp", "TCP", "udp", NULL);
    rt(RM_T_REGEX, NULL, "/x/", "/a\\/b/imsxu", "/\"q\"/", "/a b;c#d/", "",
       NULL);
    rt(RM_T_IPLIST, NULL, "10.0.0.1, 10.0.0.0/8, [::1]/128, ::ffff:1.2.3.4", "",
       NULL);
    rt(RM_T_SOCKETS, NULL, "unix:/x, inet:1@h, inet6:2@[::1], fd:3, systemd",
       "", NULL);
    rt(RM_T_SERVERS, "3310",
       "h, h:1, h:1:2, [::1]:3, ::1, /p, unix:/q, r:x, r:[::2]:4:5", "", NULL);
    rt(RM_T_STRLIST, NULL, "a, b, <>, *, x%y", "", NULL);
    rt(RM_T_RCPTLIST, NULL, "u, u@d, @d, <MiXeD@Case>", "", NULL);
}

/* ------------------------------------------------------------------ */
/* every directive of cfg_directives.h                                 */
/* ------------------------------------------------------------------ */

struct row {
    struct rm_dirinfo d;
    size_t size; /* of the section struct */
};

#define ROW(sec, dname, type, field, def, min, max, aux, doc)                  \
    {{RM_SEC_##sec, #dname, RM_T_##type, offsetof(struct rm_cfg_##sec, field), \
      def, min, max, aux, doc},                                                \
     sizeof(struct rm_cfg_##sec)},
#define SEC(id, sname, parent, kind, doc) RM_DIRS_##id(ROW)
static const struct row rows[] = {RM_SECTIONS(SEC)};
#undef SEC
#undef ROW

static void
test_directive_defaults(void **state)
{
    (void)state;
    assert_true(sizeof(rows) / sizeof(rows[0]) > 150);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct rm_dirinfo *d = &rows[i].d;
        unsigned char *sec = calloc(1, rows[i].size);
        unsigned char *zeroed = calloc(1, rows[i].size);
        void *field;
        char err[256] = "";

        assert_non_null(sec);
        assert_non_null(zeroed);
        field = sec + d->offset;
        if (cfg_value_set_default(d, field, err, sizeof(err)) != 0)
            fail_msg("default of %s = \"%s\" does not parse: %s", d->name,
                     d->def, err);
        if (d->type != RM_T_NOOP)
            roundtrip(d, field);
        /* no default may be refused when written back by its setter */
        switch (d->type) {
        case RM_T_STR:
            assert_non_null(*(char **)field);
            break;
        case RM_T_IPLIST:
            assert_non_null(*(struct rm_iplist **)field);
            break;
        case RM_T_REGEX:
            assert_true((*(struct rm_regex **)field == NULL) ==
                        (d->def[0] == '\0'));
            break;
        case RM_T_NOOP:
            assert_false(*(bool *)field);
            break;
        default:
            break;
        }
        cfg_value_free(d, field);
        assert_memory_equal(sec, zeroed, rows[i].size);
        free(sec);
        free(zeroed);
    }
}

/* dflt - the default of one directive into dst */
static void
dflt(struct rm_config *c, enum rm_section s, const char *name)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct rm_dirinfo *d = &rows[i].d;
        char err[256];
        size_t off;

        if (d->sec != s || strcmp(d->name, name) != 0)
            continue;
        switch (s) {
        case RM_SEC_global:
            off = offsetof(struct rm_config, global);
            break;
        case RM_SEC_limits:
            off = offsetof(struct rm_config, limits);
            break;
        case RM_SEC_beanstalk:
            off = offsetof(struct rm_config, beanstalk);
            break;
        case RM_SEC_dkim:
            off = offsetof(struct rm_config, dkim);
            break;
        case RM_SEC_spamd:
            off = offsetof(struct rm_config, spamd);
            break;
        case RM_SEC_spf:
            off = offsetof(struct rm_config, spf);
            break;
        default:
            fail_msg("section %d not handled", (int)s);
            return;
        }
        assert_int_equal(cfg_value_set_default(d, (char *)c + off + d->offset,
                                               err, sizeof(err)),
                         0);
        return;
    }
    fail_msg("no directive %s", name);
}

static void
test_default_values(void **state)
{
    struct rm_config *c = calloc(1, sizeof(*c));
    struct rm_cfg_karma_dnslist dl = {0};
    char err[256];

    (void)state;
    assert_non_null(c);
    dflt(c, RM_SEC_global, "bind_socket");
    assert_int_equal(c->global.bind_socket.n, 1);
    assert_int_equal(c->global.bind_socket.v[0].kind, RM_SOCK_UNIX);
    assert_string_equal(c->global.bind_socket.v[0].path,
                        "/run/rmilter/rmilter.sock");
    dflt(c, RM_SEC_global, "socket_mode");
    assert_int_equal(c->global.socket_mode, 0660);
    dflt(c, RM_SEC_global, "read_timeout");
    assert_int_equal(c->global.read_timeout, 420000);
    dflt(c, RM_SEC_global, "spool_memory");
    assert_int_equal(c->global.spool_memory, 1048576);
    dflt(c, RM_SEC_global, "log_level");
    assert_int_equal(c->global.log_level, 3);
    dflt(c, RM_SEC_global, "pidfile");
    assert_string_equal(c->global.pidfile, "");
    dflt(c, RM_SEC_global, "our_networks");
    assert_int_equal(iplist_count(c->global.our_networks), 0);
    dflt(c, RM_SEC_limits, "limit_whitelist_rcpt");
    assert_int_equal(c->limits.limit_whitelist_rcpt.n, 2);
    assert_true(
        rm_rcptlist_match(&c->limits.limit_whitelist_rcpt, "<Postmaster@x>"));
    dflt(c, RM_SEC_limits, "limit_bounce_addrs");
    assert_int_equal(c->limits.limit_bounce_addrs.n, 6);
    assert_string_equal(c->limits.limit_bounce_addrs.v[3], "<>");
    dflt(c, RM_SEC_limits, "limit_to");
    assert_true(c->limits.limit_to.burst == 0 && c->limits.limit_to.rate == 0);
    dflt(c, RM_SEC_beanstalk, "lifetime");
    assert_int_equal(c->beanstalk.lifetime, 172800000);
    dflt(c, RM_SEC_beanstalk, "copy_probability");
    assert_true(c->beanstalk.copy_probability == 1.0);
    dflt(c, RM_SEC_beanstalk, "id_regexp");
    assert_null(c->beanstalk.id_regexp);
    dflt(c, RM_SEC_beanstalk, "priority");
    assert_int_equal(c->beanstalk.priority, 1025);
    dflt(c, RM_SEC_dkim, "sign_headers");
    assert_int_equal(c->dkim.sign_headers.n, 23);
    assert_string_equal(c->dkim.sign_headers.v[0], "from");
    dflt(c, RM_SEC_spamd, "spam_subject");
    assert_string_equal(c->spamd.spam_subject, "***SPAM*** %s");
    dflt(c, RM_SEC_spamd, "servers");
    assert_int_equal(c->spamd.servers.n, 0);
    dflt(c, RM_SEC_spf, "temperror");
    assert_int_equal(c->spf.temperror, 1);

    /* karma dnslist: listed = 127.0.0.0/8 */
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].d.sec == RM_SEC_karma_dnslist)
            assert_int_equal(cfg_value_set_default(
                                 &rows[i].d, (char *)&dl + rows[i].d.offset,
                                 err, sizeof(err)),
                             0);
    assert_true(ipm(dl.listed, "127.0.0.2"));
    assert_false(ipm(dl.listed, "128.0.0.2"));
    assert_int_equal(dl.weight, -1000);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct rm_dirinfo *d = &rows[i].d;

        if (d->sec == RM_SEC_karma_dnslist)
            cfg_value_free(d, (char *)&dl + d->offset);
    }

    /* release what dflt set */
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct rm_dirinfo *d = &rows[i].d;
        char *base = NULL;

        switch (d->sec) {
        case RM_SEC_global:
            base = (char *)&c->global;
            break;
        case RM_SEC_limits:
            base = (char *)&c->limits;
            break;
        case RM_SEC_beanstalk:
            base = (char *)&c->beanstalk;
            break;
        case RM_SEC_dkim:
            base = (char *)&c->dkim;
            break;
        case RM_SEC_spamd:
            base = (char *)&c->spamd;
            break;
        case RM_SEC_spf:
            base = (char *)&c->spf;
            break;
        default:
            break;
        }
        if (base)
            cfg_value_free(d, base + d->offset);
    }
    free(c);
}

static void
test_err_buffer(void **state)
{
    struct rm_dirinfo d = DI(RM_T_INT, 0, 0, NULL);
    struct rm_word w = {"x", false, 1, 1};
    union val v = zero;
    char small[8];
    char longw[300];

    (void)state;
    /* a NULL or short buffer and a NULL bad are all fine */
    assert_int_equal(cfg_value_set(&d, &v, &w, 1, false, NULL, 0, NULL), -1);
    assert_int_equal(
        cfg_value_set(&d, &v, &w, 1, false, small, sizeof(small), NULL), -1);
    assert_string_equal(small, "expecte");
    /* a long word is cut in the message */
    memset(longw, 'z', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    w.s = longw;
    {
        char err[256];

        assert_int_equal(
            cfg_value_set(&d, &v, &w, 1, false, err, sizeof(err), NULL), -1);
        assert_true(strlen(err) < 120);
        assert_non_null(strstr(err, "zzz...'"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_flag),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_time_value),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_prob),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_regex_value),
        cmocka_unit_test(test_iplist_value),
        cmocka_unit_test(test_sockets),
        cmocka_unit_test(test_servers),
        cmocka_unit_test(test_strlist),
        cmocka_unit_test(test_rcptlist),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_roundtrip_types),
        cmocka_unit_test(test_directive_defaults),
        cmocka_unit_test(test_default_values),
        cmocka_unit_test(test_err_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
