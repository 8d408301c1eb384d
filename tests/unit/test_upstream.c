/*
 * NAME
 *   test_upstream - upstream pools through every transition, on a fake clock
 *
 * DESCRIPTION
 *   Pools are built from hand-made struct rm_servers (no config parser).
 *   Health state is shared process-wide by pool name, so every test uses
 *   its own pool name unless it tests that sharing. Log lines are captured
 *   with log_set_hook and compared exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <cmocka.h>

#include "lib/log.h"
#include "net/upstream.h"

/* ---------------------------------------------------------------------- */
/* Fixtures */

#define MAXLINES 64

static char lines[MAXLINES][512];
static size_t nlines;

static void
capture(int level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    if (nlines < MAXLINES)
        snprintf(lines[nlines++], sizeof(lines[0]), "%s", line);
}

static int
setup(void **state)
{
    (void)state;
    nlines = 0;
    return 0;
}

/* servers - "name:weight" specs -> struct rm_servers (texts are names) */
static struct rm_servers *
servers_new(size_t n, const char *const *texts, const unsigned *weights)
{
    struct rm_servers *s = calloc(1, sizeof(*s));
    size_t i;

    assert_non_null(s);
    s->n = n;
    s->v = calloc(n ? n : 1, sizeof(*s->v));
    assert_non_null(s->v);
    for (i = 0; i < n; i++) {
        s->v[i].host = strdup("127.0.0.1");
        s->v[i].port = (uint16_t)(10000 + i);
        s->v[i].weight = weights ? weights[i] : 1;
        s->v[i].text = strdup(texts[i]);
    }
    return s;
}

static void
servers_free(struct rm_servers *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->v[i].host);
        free(s->v[i].text);
    }
    free(s->v);
    free(s);
}

static struct rm_upstream_pool *
pool_make(const char *name, size_t n, const char *const *texts,
          const unsigned *weights, enum rm_upstream_policy policy,
          uint64_t error_time, unsigned maxerrors, uint64_t dead_time)
{
    struct rm_servers *s = servers_new(n, texts, weights);
    struct rm_upstream_pool *p =
        upstream_pool_new(name, s, policy, error_time, maxerrors, dead_time);

    servers_free(s); /* the pool keeps its own copy */
    return p;
}

static struct rm_upstream *
member(struct rm_upstream_pool *p, size_t i)
{
    struct rm_upstream *up = upstream_pool_member(p, i);

    assert_non_null(up);
    return up;
}

static size_t
index_of(struct rm_upstream_pool *p, const struct rm_upstream *up)
{
    size_t i;

    assert_non_null(up);
    for (i = 0; i < upstream_pool_size(p); i++)
        if (upstream_pool_member(p, i) == up)
            return i;
    fail_msg("member not in pool");
    return 0;
}

static const char *const abc[] = {"a:1", "b:2", "c:3", "d:4", "e:5"};

/* ---------------------------------------------------------------------- */
/* Error window and dead marking */

static void
test_errors_below_max_keep_alive(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("below", 2, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    struct rm_upstream *a = member(p, 0);
    struct rm_upstream_stats st;

    (void)state;
    upstream_fail(a, 1000, "x");
    upstream_fail(a, 1001, "x");
    upstream_stats(a, 1001, &st);
    assert_true(st.alive);
    assert_int_equal(st.errors, 2);
    assert_int_equal(st.fails_total, 2);
    assert_int_equal(st.deaths_total, 0);
    assert_true(upstream_is_alive(a, 1001));
    /* The window empties by itself. */
    upstream_stats(a, 11001, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(nlines, 0);
    upstream_pool_free(p);
}

static void
test_maxerrors_within_window_kill(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("kill", 2, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    struct rm_upstream *a = member(p, 0), *b = member(p, 1);
    struct rm_upstream_stats st;
    int i;

    (void)state;
    upstream_fail(a, 1000, "connection refused");
    upstream_fail(a, 2000, "connection refused");
    assert_true(upstream_is_alive(a, 2000));
    upstream_fail(a, 3000, "connection refused");
    assert_false(upstream_is_alive(a, 3000));
    upstream_stats(a, 3000, &st);
    assert_false(st.alive);
    assert_int_equal(st.dead_until_ms, 63000);
    assert_int_equal(st.deaths_total, 1);
    assert_int_equal(st.errors, 0);
    assert_int_equal(nlines, 1);
    assert_string_equal(lines[0], "upstream kill: a:1 marked dead after 3 "
                                  "errors in 2s: connection refused");

    /* Dead is not picked. */
    for (i = 0; i < 200; i++)
        assert_ptr_equal(upstream_get(p, NULL, 0, 4000 + i), b);

    /* More failures of a dead member are counted, not logged again. */
    upstream_fail(a, 5000, "timed out");
    upstream_stats(a, 5000, &st);
    assert_int_equal(st.fails_total, 4);
    assert_int_equal(st.deaths_total, 1);
    assert_int_equal(nlines, 1);

    /* Fractional spans and a missing reason. */
    upstream_fail(b, 10000, NULL);
    upstream_fail(b, 10500, NULL);
    upstream_fail(b, 11500, NULL);
    assert_int_equal(nlines, 2);
    assert_string_equal(lines[1], "upstream kill: b:2 marked dead after 3 "
                                  "errors in 1.5s: unknown error");
    upstream_pool_free(p);
}

static void
test_spread_errors_never_kill(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("spread", 1, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    struct rm_upstream *a = member(p, 0);
    uint64_t t;

    (void)state;
    /* Two errors per window, forever. */
    for (t = 0; t < 1000000; t += 6000)
        upstream_fail(a, t, "x");
    assert_true(upstream_is_alive(a, t));

    /* The edge: the first error is exactly error_time old -> out. */
    t += 100000;
    upstream_fail(a, t, "x");
    upstream_fail(a, t + 5000, "x");
    upstream_fail(a, t + 10000, "x");
    assert_true(upstream_is_alive(a, t + 10000));
    assert_int_equal(nlines, 0);
    upstream_pool_free(p);
}

static void
test_window_slides(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("slide", 1, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    struct rm_upstream *a = member(p, 0);

    (void)state;
    /* 0 falls out at 11000, but 9000, 11000, 12000 are within 10 s:
     * a fixed window opened at 0 would miss this. */
    upstream_fail(a, 0, "x");
    upstream_fail(a, 9000, "x");
    upstream_fail(a, 11000, "x");
    assert_true(upstream_is_alive(a, 11000));
    upstream_fail(a, 12000, "x");
    assert_false(upstream_is_alive(a, 12000));
    assert_int_equal(nlines, 1);
    assert_string_equal(lines[0], "upstream slide: a:1 marked dead after 3 "
                                  "errors in 3s: x");

    /* And the edge from the other side: 9999 ms apart is within. */
    upstream_pool_free(p);
    p = pool_make("slide2", 1, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    a = member(p, 0);
    upstream_fail(a, 0, "x");
    upstream_fail(a, 5000, "x");
    upstream_fail(a, 9999, "x");
    assert_false(upstream_is_alive(a, 9999));
    upstream_pool_free(p);
}

static void
test_success_resets(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("reset", 1, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 3, 60000);
    struct rm_upstream *a = member(p, 0);
    struct rm_upstream_stats st;

    (void)state;
    upstream_fail(a, 1000, "x");
    upstream_fail(a, 1100, "x");
    upstream_ok(a, 1200);
    upstream_stats(a, 1200, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.oks_total, 1);
    upstream_fail(a, 1300, "x");
    upstream_fail(a, 1400, "x");
    assert_true(upstream_is_alive(a, 1400));
    assert_int_equal(nlines, 0);
    upstream_fail(a, 1500, "x");
    assert_false(upstream_is_alive(a, 1500));
    assert_int_equal(nlines, 1);
    upstream_pool_free(p);
}

static void
test_limits_zero(void **state)
{
    struct rm_upstream_pool *p;
    struct rm_upstream *a;
    uint64_t t;

    (void)state;
    /* maxerrors 0: never dead. */
    p = pool_make("zero1", 1, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 0, 60000);
    a = member(p, 0);
    for (t = 0; t < 100; t++)
        upstream_fail(a, 1000, "x");
    assert_true(upstream_is_alive(a, 1000));
    upstream_pool_free(p);

    /* error_time 0: maxerrors in a row, however far apart. */
    p = pool_make("zero2", 1, abc, NULL, RM_UPSTREAM_RANDOM, 0, 3, 60000);
    a = member(p, 0);
    upstream_fail(a, 0, "x");
    upstream_fail(a, 1000000, "x");
    upstream_ok(a, 1000001);
    upstream_fail(a, 2000000, "x");
    upstream_fail(a, 3000000, "x");
    assert_true(upstream_is_alive(a, 3000000));
    upstream_fail(a, 4000000, "x");
    assert_false(upstream_is_alive(a, 4000000));
    assert_int_equal(nlines, 1);
    assert_string_equal(lines[0], "upstream zero2: a:1 marked dead after 3 "
                                  "errors in 2000s: x");
    upstream_pool_free(p);
}

/* ---------------------------------------------------------------------- */
/* Revival */

static void
test_revive_after_dead_time(void **state)
{
    static const unsigned w[] = {10, 1};
    struct rm_upstream_pool *p = pool_make(
        "revive", 2, abc, w, RM_UPSTREAM_MASTER_SLAVE, 10000, 2, 30000);
    struct rm_upstream *a = member(p, 0), *b = member(p, 1);

    (void)state;
    assert_ptr_equal(upstream_get(p, NULL, 0, 0), a);
    upstream_fail(a, 1000, "x");
    upstream_fail(a, 2000, "x");
    assert_int_equal(nlines, 1);
    assert_ptr_equal(upstream_get(p, NULL, 0, 2000), b);
    assert_ptr_equal(upstream_get(p, NULL, 0, 31999), b);
    assert_false(upstream_is_alive(a, 31999));
    assert_true(upstream_is_alive(a, 32000));
    assert_ptr_equal(upstream_get(p, NULL, 0, 32000), a);
    assert_int_equal(nlines, 2);
    assert_string_equal(lines[1], "upstream revive: a:1 is alive again");
    /* Revived with a clean slate: one error does not kill it again. */
    upstream_fail(a, 32001, "x");
    assert_ptr_equal(upstream_get(p, NULL, 0, 32002), a);
    assert_ptr_equal(upstream_get(p, NULL, 0, 32003), a);
    assert_int_equal(nlines, 2);
    upstream_pool_free(p);
}

static void
test_ok_revives_dead(void **state)
{
    struct rm_upstream_pool *p = pool_make("okrevive", 2, abc, NULL,
                                           RM_UPSTREAM_RANDOM, 10000, 1, 30000);
    struct rm_upstream *a = member(p, 0);

    (void)state;
    upstream_fail(a, 1000, "x");
    assert_false(upstream_is_alive(a, 1000));
    /* A request that was in flight when it died comes back fine. */
    upstream_ok(a, 1500);
    assert_true(upstream_is_alive(a, 1500));
    assert_int_equal(nlines, 2);
    assert_string_equal(lines[1], "upstream okrevive: a:1 is alive again");
    /* ok on a live member logs nothing. */
    upstream_ok(a, 1600);
    assert_int_equal(nlines, 2);
    upstream_pool_free(p);
}

static void
test_all_dead_tries_all(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("alldead", 3, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 1, 30000);
    struct rm_upstream *seen[3] = {0}, *up, *tried[3];
    size_t i, nseen = 0;

    (void)state;
    for (i = 0; i < 3; i++)
        upstream_fail(member(p, i), 1000, "x");
    assert_int_equal(nlines, 3);
    for (i = 0; i < 300; i++) {
        up = upstream_get(p, NULL, 0, 2000);
        assert_non_null(up);
        seen[index_of(p, up)] = up;
    }
    for (i = 0; i < 3; i++)
        nseen += seen[i] != NULL;
    assert_int_equal(nseen, 3);
    /* Logged once, and the members stay marked dead. */
    assert_int_equal(nlines, 4);
    assert_string_equal(lines[3],
                        "upstream alldead: all 3 members are dead, trying all");
    for (i = 0; i < 3; i++)
        assert_false(upstream_is_alive(member(p, i), 2000));

    /* A retry walks through all of them, then gives up. */
    for (i = 0; i < 3; i++) {
        tried[i] = upstream_get_next(p, NULL, 0, 2000, tried, i);
        assert_non_null(tried[i]);
    }
    assert_null(upstream_get_next(p, NULL, 0, 2000, tried, 3));

    /* The first success brings that one back; it alone is picked. */
    upstream_ok(member(p, 1), 2500);
    assert_int_equal(nlines, 5);
    assert_string_equal(lines[4], "upstream alldead: b:2 is alive again");
    for (i = 0; i < 100; i++)
        assert_ptr_equal(upstream_get(p, NULL, 0, 2600), member(p, 1));

    /* Dying again is a new all-dead episode: logged once more. */
    upstream_fail(member(p, 1), 2700, "x");
    assert_non_null(upstream_get(p, NULL, 0, 2800));
    assert_non_null(upstream_get(p, NULL, 0, 2900));
    assert_int_equal(nlines, 7);
    assert_string_equal(lines[6],
                        "upstream alldead: all 3 members are dead, trying all");

    /* dead_time brings all back. */
    assert_non_null(upstream_get(p, NULL, 0, 40000));
    assert_int_equal(nlines, 10);
    for (i = 0; i < 3; i++)
        assert_true(upstream_is_alive(member(p, i), 40000));
    upstream_pool_free(p);
}

/* ---------------------------------------------------------------------- */
/* Policies */

static void
test_round_robin_weights(void **state)
{
    static const unsigned w[] = {1, 2, 3, 0};
    struct rm_upstream_pool *p =
        pool_make("rr", 4, abc, w, RM_UPSTREAM_ROUND_ROBIN, 10000, 1, 30000);
    size_t count[4] = {0}, i, prev = 99, run = 0, maxrun = 0;

    (void)state;
    /* Weight 0 counts as 1: total 7 per cycle. Exact on every cycle. */
    for (i = 0; i < 7; i++)
        count[index_of(p, upstream_get(p, NULL, 0, 0))]++;
    assert_int_equal(count[0], 1);
    assert_int_equal(count[1], 2);
    assert_int_equal(count[2], 3);
    assert_int_equal(count[3], 1);
    memset(count, 0, sizeof(count));
    for (i = 0; i < 700; i++) {
        size_t k = index_of(p, upstream_get(p, NULL, 0, 0));

        count[k]++;
        run = k == prev ? run + 1 : 1;
        prev = k;
        if (run > maxrun)
            maxrun = run;
    }
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 200);
    assert_int_equal(count[2], 300);
    assert_int_equal(count[3], 100);
    /* Smooth: the heaviest is never picked more than twice running. */
    assert_true(maxrun <= 2);

    /* Without c (weight 3): 1, 2, 1 per cycle of 4. */
    upstream_fail(member(p, 2), 1, "x");
    memset(count, 0, sizeof(count));
    for (i = 0; i < 400; i++)
        count[index_of(p, upstream_get(p, NULL, 0, 2))]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 200);
    assert_int_equal(count[2], 0);
    assert_int_equal(count[3], 100);
    upstream_pool_free(p);
}

static void
test_random_live_only(void **state)
{
    struct rm_upstream_pool *p =
        pool_make("random", 4, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 1, 30000);
    size_t count[4] = {0}, i;

    (void)state;
    for (i = 0; i < 4000; i++)
        count[index_of(p, upstream_get(p, NULL, 0, 0))]++;
    for (i = 0; i < 4; i++)
        assert_true(count[i] > 700 && count[i] < 1300);
    upstream_fail(member(p, 0), 1, "x");
    upstream_fail(member(p, 2), 1, "x");
    memset(count, 0, sizeof(count));
    for (i = 0; i < 1000; i++)
        count[index_of(p, upstream_get(p, NULL, 0, 2))]++;
    assert_int_equal(count[0], 0);
    assert_int_equal(count[2], 0);
    assert_true(count[1] > 0);
    assert_true(count[3] > 0);
    assert_int_equal(count[1] + count[3], 1000);
    upstream_pool_free(p);
}

static void
test_master_slave(void **state)
{
    static const unsigned w[] = {1, 5, 5, 3};
    struct rm_upstream_pool *p =
        pool_make("ms", 4, abc, w, RM_UPSTREAM_MASTER_SLAVE, 10000, 1, 30000);
    struct rm_upstream *a = member(p, 0), *b = member(p, 1), *c = member(p, 2),
                       *d = member(p, 3);
    struct rm_upstream *tried[4];

    (void)state;
    /* Highest weight first, ties in written order: b, c, d, a. */
    assert_ptr_equal(upstream_get(p, NULL, 0, 0), b);
    assert_ptr_equal(upstream_get(p, NULL, 0, 0), b);
    tried[0] = b;
    assert_ptr_equal(upstream_get_next(p, NULL, 0, 0, tried, 1), c);
    tried[1] = c;
    assert_ptr_equal(upstream_get_next(p, NULL, 0, 0, tried, 2), d);
    tried[2] = d;
    assert_ptr_equal(upstream_get_next(p, NULL, 0, 0, tried, 3), a);
    tried[3] = a;
    assert_null(upstream_get_next(p, NULL, 0, 0, tried, 4));

    /* Failover as members die; the master returns after dead_time. */
    upstream_fail(b, 100, "x");
    assert_ptr_equal(upstream_get(p, NULL, 0, 100), c);
    upstream_fail(c, 200, "x");
    assert_ptr_equal(upstream_get(p, NULL, 0, 200), d);
    upstream_fail(d, 300, "x");
    assert_ptr_equal(upstream_get(p, NULL, 0, 300), a);
    /* A retry after a failed a finds no other live member. */
    tried[0] = a;
    assert_null(upstream_get_next(p, NULL, 0, 300, tried, 1));
    assert_ptr_equal(upstream_get(p, NULL, 0, 30100), b);
    upstream_pool_free(p);
}

static void
test_retry_round_robin(void **state)
{
    struct rm_upstream_pool *p = pool_make(
        "retry", 3, abc, NULL, RM_UPSTREAM_ROUND_ROBIN, 10000, 1, 30000);
    struct rm_upstream *tried[3];
    size_t i, j;

    (void)state;
    for (i = 0; i < 3; i++) {
        tried[i] = upstream_get_next(p, NULL, 0, 0, tried, i);
        assert_non_null(tried[i]);
        for (j = 0; j < i; j++)
            assert_ptr_not_equal(tried[i], tried[j]);
    }
    assert_null(upstream_get_next(p, NULL, 0, 0, tried, 3));
    upstream_pool_free(p);
}

#define NKEYS 10000

static void
map_keys(struct rm_upstream_pool *p, size_t *out, uint64_t now)
{
    char key[32];
    size_t i;
    int n;

    for (i = 0; i < NKEYS; i++) {
        n = snprintf(key, sizeof(key), "grey:key:%zu", i);
        out[i] = index_of(p, upstream_get(p, key, (size_t)n, now));
    }
}

static void
test_hashed(void **state)
{
    static const char *const rev[] = {"e:5", "d:4", "c:3", "b:2", "a:1"};
    static size_t m1[NKEYS], m2[NKEYS], m3[NKEYS], m4[NKEYS];
    struct rm_upstream_pool *p, *q;
    size_t count[5] = {0}, i, moved = 0;
    struct rm_upstream *tried[1];
    const char *n1, *n2;

    (void)state;
    /* Two "daemons": separate pools, the list written in another order. */
    p = pool_make("hash-d1", 5, abc, NULL, RM_UPSTREAM_HASHED, 10000, 1, 30000);
    q = pool_make("hash-d2", 5, rev, NULL, RM_UPSTREAM_HASHED, 10000, 1, 30000);
    map_keys(p, m1, 0);
    map_keys(q, m2, 0);
    for (i = 0; i < NKEYS; i++) {
        n1 = upstream_name(member(p, m1[i]));
        n2 = upstream_name(member(q, m2[i]));
        assert_string_equal(n1, n2);
        count[m1[i]]++;
    }
    /* Same key, same member, every time. */
    map_keys(p, m3, 0);
    assert_memory_equal(m1, m3, sizeof(m1));
    /* Spread: each of 5 gets 20 % give or take. */
    for (i = 0; i < 5; i++)
        assert_true(count[i] > NKEYS / 10 && count[i] < NKEYS * 3 / 10);

    /* c dies: only c's keys move, all to live members. */
    upstream_fail(member(p, 2), 100, "x");
    map_keys(p, m3, 200);
    for (i = 0; i < NKEYS; i++) {
        assert_int_not_equal(m3[i], 2);
        if (m1[i] != 2)
            assert_int_equal(m3[i], m1[i]);
        else
            moved++;
    }
    assert_int_equal(moved, count[2]);

    /* The retry target of a key is the same member a death moves it to. */
    for (i = 0; i < NKEYS; i += 97) {
        char key[32];
        int n = snprintf(key, sizeof(key), "grey:key:%zu", i);

        if (m1[i] != 2)
            continue;
        tried[0] = member(p, 2);
        assert_int_equal(
            index_of(p, upstream_get_next(p, key, (size_t)n, 200, tried, 1)),
            m3[i]);
    }

    /* c comes back: the original mapping returns exactly. */
    upstream_ok(member(p, 2), 300);
    map_keys(p, m4, 300);
    assert_memory_equal(m1, m4, sizeof(m1));

    /* All dead: keys still go to their home member. */
    for (i = 0; i < 5; i++)
        upstream_fail(member(p, i), 400, "x");
    map_keys(p, m4, 500);
    assert_memory_equal(m1, m4, sizeof(m1));
    upstream_pool_free(p);
    upstream_pool_free(q);
}

/*
 * test_hashed_golden - the hash and the ring are pinned
 *
 * Daemons of different versions sharing a Redis pool must agree on where a
 * key lives, so these values may never change. If this test fails, the
 * change moves every sharded key: don't.
 */
static void
test_hashed_golden(void **state)
{
    static const char *const srv[] = {"10.0.0.1:6379", "10.0.0.2:6379",
                                      "10.0.0.3:6379"};
    static const struct {
        const char *key;
        size_t member;
    } golden[] = {
        {"alpha", 2}, {"beta", 2},    {"gamma", 1},
        {"delta", 0}, {"epsilon", 2}, {"zeta", 1},
    };
    struct rm_upstream_pool *p;
    size_t i;

    (void)state;
    assert_true(upstream_hash64("", 0) == UINT64_C(0xefd01f60ba992926));
    assert_true(upstream_hash64("a:1", 3) == UINT64_C(0x0edfd5e70ff866bc));
    assert_true(upstream_hash64("127.0.0.1:6379", 14) ==
                UINT64_C(0x7ddf2f8b7cb1e00d));
    p = pool_make("hash-golden", 3, srv, NULL, RM_UPSTREAM_HASHED, 1, 1, 1);
    for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++)
        assert_int_equal(index_of(p, upstream_get(p, golden[i].key,
                                                  strlen(golden[i].key), 0)),
                         golden[i].member);
    upstream_pool_free(p);
}

/* ---------------------------------------------------------------------- */
/* Reload and the shared registry */

static void
test_state_survives_reload(void **state)
{
    static const char *const bd[] = {"b:2", "d:4"};
    struct rm_upstream_pool *p, *q, *r;
    struct rm_upstream_stats st;
    size_t i;

    (void)state;
    p = pool_make("reload", 3, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 2, 30000);
    upstream_fail(member(p, 1), 1000, "x");
    upstream_fail(member(p, 1), 1001, "x");
    upstream_fail(member(p, 2), 1002, "x"); /* c: one error */
    assert_false(upstream_is_alive(member(p, 1), 1001));

    /* Reload: the new generation is built while the old one still runs. */
    q = pool_make("reload", 3, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 2, 30000);
    upstream_pool_free(p);
    assert_false(upstream_is_alive(member(q, 1), 2000));
    upstream_stats(member(q, 1), 2000, &st);
    assert_int_equal(st.deaths_total, 1);
    assert_int_equal(st.fails_total, 2);
    upstream_stats(member(q, 2), 2000, &st);
    assert_int_equal(st.errors, 1);
    for (i = 0; i < 100; i++)
        assert_ptr_not_equal(upstream_get(q, NULL, 0, 2000), member(q, 1));

    /* Next reload drops a and c, adds d: b is still dead, d is new. */
    r = pool_make("reload", 2, bd, NULL, RM_UPSTREAM_RANDOM, 10000, 2, 30000);
    upstream_pool_free(q);
    assert_false(upstream_is_alive(member(r, 0), 2000));
    assert_true(upstream_is_alive(member(r, 1), 2000));
    for (i = 0; i < 100; i++)
        assert_ptr_equal(upstream_get(r, NULL, 0, 2000), member(r, 1));
    upstream_pool_free(r);

    /* c was dropped with its last pool: it comes back with no history. */
    p = pool_make("reload", 3, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 2, 30000);
    upstream_stats(member(p, 2), 2000, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.fails_total, 0);
    /* ... and so was b, once nothing referenced it. */
    assert_true(upstream_is_alive(member(p, 1), 2000));

    /* Another pool name never shares state. */
    q = pool_make("reload-other", 3, abc, NULL, RM_UPSTREAM_RANDOM, 10000, 2,
                  30000);
    upstream_fail(member(p, 0), 3000, "x");
    upstream_fail(member(p, 0), 3001, "x");
    assert_false(upstream_is_alive(member(p, 0), 3001));
    assert_true(upstream_is_alive(member(q, 0), 3001));
    upstream_pool_free(p);
    upstream_pool_free(q);
}

/* ---------------------------------------------------------------------- */
/* Odds and ends */

static void
test_empty_and_names(void **state)
{
    struct rm_servers none = {0, NULL};
    struct rm_upstream_pool *p;
    enum rm_upstream_policy pol;
    struct rm_server s = {.path = (char *)"/run/clamd.sock"};
    struct rm_servers one = {1, &s};

    (void)state;
    p = upstream_pool_new("empty", &none, RM_UPSTREAM_HASHED, 1, 1, 1);
    assert_null(upstream_get(p, "k", 1, 0));
    assert_int_equal(upstream_pool_size(p), 0);
    assert_null(upstream_pool_member(p, 0));
    upstream_pool_free(p);
    upstream_pool_free(NULL);

    /* No text: the name is made up from the address; server is copied. */
    p = upstream_pool_new("unnamed", &one, RM_UPSTREAM_MASTER_SLAVE, 1, 1, 1);
    assert_string_equal(upstream_name(member(p, 0)), "/run/clamd.sock");
    assert_string_equal(upstream_server(member(p, 0))->path, "/run/clamd.sock");
    assert_ptr_not_equal(upstream_server(member(p, 0))->path, s.path);
    assert_ptr_equal(upstream_pool_of(member(p, 0)), p);
    assert_string_equal(upstream_pool_name(p), "unnamed");
    assert_int_equal(upstream_pool_policy(p), RM_UPSTREAM_MASTER_SLAVE);
    upstream_pool_free(p);

    assert_int_equal(upstream_policy_parse("round-robin", &pol), 0);
    assert_int_equal(pol, RM_UPSTREAM_ROUND_ROBIN);
    assert_int_equal(upstream_policy_parse("master_slave", &pol), 0);
    assert_int_equal(pol, RM_UPSTREAM_MASTER_SLAVE);
    assert_int_equal(upstream_policy_parse("hash", &pol), 0);
    assert_int_equal(pol, RM_UPSTREAM_HASHED);
    assert_int_equal(upstream_policy_parse("bogus", &pol), -EINVAL);
    assert_string_equal(upstream_policy_name(RM_UPSTREAM_HASHED), "hashed");
    assert_true(upstream_now_ms() > 0);
}

#define NTHREADS 8
#define NITER 20000

static void *
hammer(void *arg)
{
    struct rm_upstream_pool *p = arg;
    struct rm_upstream *up;
    char key[16];
    int i, n;

    for (i = 0; i < NITER; i++) {
        n = snprintf(key, sizeof(key), "%d", i);
        up = upstream_get(p, key, (size_t)n, (uint64_t)i);
        if (i % 7 == 0)
            upstream_fail(up, (uint64_t)i, "x");
        else
            upstream_ok(up, (uint64_t)i);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    enum rm_upstream_policy pols[] = {
        RM_UPSTREAM_RANDOM, RM_UPSTREAM_ROUND_ROBIN, RM_UPSTREAM_HASHED};
    pthread_t th[NTHREADS];
    struct rm_upstream_pool *p;
    struct rm_upstream_stats st;
    uint64_t total = 0;
    size_t k, i;
    char name[32];

    (void)state;
    log_set_level(RM_LOG_ERR); /* the hammer's transitions are noise */
    for (k = 0; k < 3; k++) {
        snprintf(name, sizeof(name), "threads-%zu", k);
        p = pool_make(name, 5, abc, NULL, pols[k], 10, 3, 5);
        for (i = 0; i < NTHREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, hammer, p), 0);
        for (i = 0; i < NTHREADS; i++)
            pthread_join(th[i], NULL);
        total = 0;
        for (i = 0; i < 5; i++) {
            upstream_stats(member(p, i), NITER, &st);
            total += st.oks_total + st.fails_total;
        }
        assert_int_equal(total, (uint64_t)NTHREADS * NITER);
        upstream_pool_free(p);
    }
    log_set_level(RM_LOG_INFO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_errors_below_max_keep_alive, setup),
        cmocka_unit_test_setup(test_maxerrors_within_window_kill, setup),
        cmocka_unit_test_setup(test_spread_errors_never_kill, setup),
        cmocka_unit_test_setup(test_window_slides, setup),
        cmocka_unit_test_setup(test_success_resets, setup),
        cmocka_unit_test_setup(test_limits_zero, setup),
        cmocka_unit_test_setup(test_revive_after_dead_time, setup),
        cmocka_unit_test_setup(test_ok_revives_dead, setup),
        cmocka_unit_test_setup(test_all_dead_tries_all, setup),
        cmocka_unit_test_setup(test_round_robin_weights, setup),
        cmocka_unit_test_setup(test_random_live_only, setup),
        cmocka_unit_test_setup(test_master_slave, setup),
        cmocka_unit_test_setup(test_retry_round_robin, setup),
        cmocka_unit_test_setup(test_hashed, setup),
        cmocka_unit_test_setup(test_hashed_golden, setup),
        cmocka_unit_test_setup(test_state_survives_reload, setup),
        cmocka_unit_test_setup(test_empty_and_names, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };

    log_set_hook(capture, NULL);
    log_set_level(RM_LOG_INFO);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
