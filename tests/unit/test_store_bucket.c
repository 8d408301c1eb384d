/*
 * NAME
 *   test_store_bucket - the leaky-bucket arithmetic, with a fake clock
 *
 * DESCRIPTION
 *   Drives store_bucket_apply through bursts and recovery with explicit
 *   times (no wall clock), and checks the text form and the TTL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

#define T0 1700000000000ull

/* take - one incr-1 take at now on st; returns true if it passed */
static bool
take(struct rm_bucket_state *st, bool *have, uint64_t now, double burst,
     double rate)
{
    struct rm_bucket_req req = {now, burst, rate, 1, false};
    struct rm_bucket_res res;
    bool stored = store_bucket_apply(st, *have, &req, &res);

    assert_int_equal(stored, !res.over);
    if (stored)
        *have = true;
    return !res.over;
}

/* check - an incr-0 check: would one more fit? */
static bool
check(struct rm_bucket_state *st, bool have, uint64_t now, double burst,
      double rate)
{
    struct rm_bucket_req req = {now, burst, rate, 0, false};
    struct rm_bucket_res res;
    struct rm_bucket_state copy = *st;

    assert_false(store_bucket_apply(&copy, have, &req, &res));
    return !res.over;
}

/* exactly burst messages pass at one instant; the next is refused */
static void
test_exact_burst(void **state)
{
    struct rm_bucket_state st = {0, 0};
    bool have = false;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        assert_true(check(&st, have, T0, 5, 0.5));
        assert_true(take(&st, &have, T0, 5, 0.5));
    }
    assert_true(st.level == 5);
    assert_false(check(&st, have, T0, 5, 0.5));
    assert_false(take(&st, &have, T0, 5, 0.5));
    assert_true(st.level == 5); /* a refused take adds nothing */
}

/* after the burst, one message per 1/rate seconds, to the millisecond */
static void
test_recovery_rate(void **state)
{
    struct rm_bucket_state st = {0, 0};
    bool have = false;
    uint64_t t;
    int i;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_true(take(&st, &have, T0, 3, 0.5));
    /* rate 0.5/s: one more message every 2000 ms */
    t = T0;
    for (i = 0; i < 4; i++) {
        assert_false(check(&st, have, t + 1999, 3, 0.5));
        assert_true(check(&st, have, t + 2000, 3, 0.5));
        assert_true(take(&st, &have, t + 2000, 3, 0.5));
        assert_false(take(&st, &have, t + 2000, 3, 0.5));
        t += 2000;
    }
    /* a long pause drains it completely, and no further */
    assert_true(take(&st, &have, t + 3600000, 3, 0.5));
    assert_true(st.level == 1);
}

/* rates that are not exact in binary still recover on time */
static void
test_inexact_rate(void **state)
{
    struct rm_bucket_state st = {0, 0};
    bool have = false;
    double rate = 1.0 / 60; /* 1 per minute, as "20:0.016666667" */
    int i;

    (void)state;
    for (i = 0; i < 20; i++)
        assert_true(take(&st, &have, T0, 20, rate));
    assert_false(take(&st, &have, T0 + 59999, 20, rate));
    assert_true(take(&st, &have, T0 + 60000, 20, rate));
    assert_false(take(&st, &have, T0 + 60000, 20, rate));
    assert_true(take(&st, &have, T0 + 120000, 20, rate));
}

/* a clock behind the stored one leaks nothing and keeps last */
static void
test_clock_skew(void **state)
{
    struct rm_bucket_state st = {T0 + 5000, 2};
    struct rm_bucket_req req = {T0, 2, 1, 0, false};
    struct rm_bucket_res res;

    (void)state;
    store_bucket_apply(&st, true, &req, &res);
    assert_true(res.level == 2);
    assert_true(res.over);
    assert_int_equal(st.last_ms, T0 + 5000);
}

/* force adds past burst and reports over; give back never goes below 0 */
static void
test_force_and_give_back(void **state)
{
    struct rm_bucket_state st = {T0, 2};
    struct rm_bucket_req req = {T0, 2, 1, 1, true};
    struct rm_bucket_res res;

    (void)state;
    assert_true(store_bucket_apply(&st, true, &req, &res));
    assert_true(res.over);
    assert_true(res.level == 3);
    req.force = false;
    req.incr = -1;
    assert_true(store_bucket_apply(&st, true, &req, &res));
    assert_false(res.over);
    assert_true(res.level == 2);
    req.incr = -5;
    assert_true(store_bucket_apply(&st, true, &req, &res));
    assert_true(res.level == 0);
}

/* a fractional burst: floor(burst) pass */
static void
test_fractional_burst(void **state)
{
    struct rm_bucket_state st = {0, 0};
    bool have = false;

    (void)state;
    assert_true(take(&st, &have, T0, 2.5, 1));
    assert_true(take(&st, &have, T0, 2.5, 1));
    assert_false(take(&st, &have, T0, 2.5, 1));
}

static void
test_text_form(void **state)
{
    struct rm_bucket_state st = {T0, 1.0 / 3}, back;
    char buf[64];

    (void)state;
    assert_int_equal(store_bucket_format(&st, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1700000000000:0.33333333333333331");
    assert_int_equal(store_bucket_parse(buf, &back), 0);
    assert_int_equal(back.last_ms, T0);
    assert_true(back.level == st.level); /* exact round trip */
    assert_int_equal(store_bucket_format(&st, buf, 10), -EMSGSIZE);

    assert_int_equal(store_bucket_parse("12:3", &back), 0);
    assert_int_equal(back.last_ms, 12);
    assert_true(back.level == 3);
    assert_int_equal(store_bucket_parse("", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12:", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse(":3", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12:-1", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12:nan", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12:inf", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("12:3x", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("\x01\x02binary", &back), -EBADMSG);
    assert_int_equal(store_bucket_parse("99999999999999999999999:1", &back),
                     -EBADMSG);
}

static void
test_ttl(void **state)
{
    struct rm_bucket_state st = {T0, 0};

    (void)state;
    assert_int_equal(store_bucket_ttl_ms(&st, 0.5), 1000);
    st.level = 3;
    assert_int_equal(store_bucket_ttl_ms(&st, 0.5), 7000);
    st.level = 1;
    assert_int_equal(store_bucket_ttl_ms(&st, 1.0 / 3), 4000);
    st.level = 1e12;
    assert_int_equal(store_bucket_ttl_ms(&st, 1e-9), 365ull * 86400 * 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_burst),
        cmocka_unit_test(test_recovery_rate),
        cmocka_unit_test(test_inexact_rate),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_force_and_give_back),
        cmocka_unit_test(test_fractional_burst),
        cmocka_unit_test(test_text_form),
        cmocka_unit_test(test_ttl),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
