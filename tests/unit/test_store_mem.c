/*
 * NAME
 *   test_store_mem - the embedded store: TTLs on a fake clock, the byte cap
 *   and its LRU eviction, buckets, the shared table, threads
 *
 * DESCRIPTION
 *   Time is a fake clock the tests move by hand; nothing here reads or
 *   asserts the wall clock.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

#define T0 1700000000000ull

struct fake_clock {
    _Atomic uint64_t now;
};

static uint64_t
fake_now(void *arg)
{
    return atomic_load(&((struct fake_clock *)arg)->now);
}

static bool
has(struct rm_store *st, const char *key)
{
    char v[RM_STORE_VAL_MAX + 1];
    int rc = store_get(st, key, v, sizeof(v), NULL);

    assert_true(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

static void
test_get_set_del(void **state)
{
    struct fake_clock clk = {0};
    struct rm_store *st = store_mem_new(1 << 20, fake_now, &clk);
    struct rm_store_err err = {""};
    char v[RM_STORE_VAL_MAX + 1];

    (void)state;
    assert_string_equal(store_name(st), "memory");
    assert_int_equal(store_get(st, "a", v, sizeof(v), &err), -ENOENT);
    assert_int_equal(store_set(st, "a", "1700000000000", 0, &err), 0);
    assert_int_equal(store_get(st, "a", v, sizeof(v), &err), 0);
    assert_string_equal(v, "1700000000000");
    assert_int_equal(store_set(st, "a", "x", 0, &err), 0);
    assert_int_equal(store_get(st, "a", v, sizeof(v), &err), 0);
    assert_string_equal(v, "x");
    /* a buffer too small for the value is an error, not a truncation */
    assert_int_equal(store_set(st, "a", "0123456789", 0, &err), 0);
    assert_int_equal(store_get(st, "a", v, 10, &err), -EMSGSIZE);
    assert_true(store_failed(-EMSGSIZE));
    assert_non_null(strstr(err.msg, "memory"));

    assert_int_equal(store_set_nx(st, "b", "1", 0, &err), 0);
    assert_int_equal(store_set_nx(st, "b", "2", 0, &err), -EEXIST);
    assert_int_equal(store_get(st, "b", v, sizeof(v), &err), 0);
    assert_string_equal(v, "1");
    assert_int_equal(store_del(st, "b", &err), 0);
    assert_int_equal(store_del(st, "b", &err), -ENOENT);
    assert_int_equal(store_set_nx(st, "b", "3", 0, &err), 0);
    assert_false(store_failed(-ENOENT));
    assert_false(store_failed(-EEXIST));
    assert_false(store_failed(0));
    store_free(st);
    store_free(NULL);
}

static void
test_limits(void **state)
{
    struct rm_store *st = store_mem_new(1 << 20, NULL, NULL);
    char key[RM_STORE_KEY_MAX + 2], val[RM_STORE_VAL_MAX + 2];
    struct rm_bucket_req bad = {T0, 0, 1, 1, false};
    struct rm_bucket_res res;

    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    assert_int_equal(store_set(st, key, "v", 0, NULL), -EINVAL);
    assert_int_equal(store_set(st, "k", val, 0, NULL), -EINVAL);
    assert_int_equal(store_set(st, "", "v", 0, NULL), -EINVAL);
    key[RM_STORE_KEY_MAX] = '\0';
    val[RM_STORE_VAL_MAX] = '\0';
    assert_int_equal(store_set(st, key, val, 0, NULL), 0);
    assert_int_equal(store_bucket(st, "b", &bad, &res, NULL), -EINVAL);
    bad.burst = 1;
    bad.rate = 0;
    assert_int_equal(store_bucket(st, "b", &bad, &res, NULL), -EINVAL);
    store_free(st);
}

/* an entry lives exactly ttl ms on the store clock; 0 is forever */
static void
test_expiry(void **state)
{
    struct fake_clock clk = {T0};
    struct rm_store *st = store_mem_new(1 << 20, fake_now, &clk);
    struct rm_store_mem_stats s;

    (void)state;
    assert_int_equal(store_set(st, "t", "1", 1000, NULL), 0);
    assert_int_equal(store_set(st, "forever", "1", 0, NULL), 0);
    clk.now = T0 + 999;
    assert_true(has(st, "t"));
    clk.now = T0 + 1000;
    assert_false(has(st, "t"));
    assert_int_equal(store_mem_stats(st, &s), 0);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.entries, 1);
    /* set_nx over an expired entry creates it again */
    assert_int_equal(store_set_nx(st, "t", "2", 500, NULL), 0);
    clk.now = T0 + 1499;
    assert_true(has(st, "t"));
    /* set renews the TTL */
    assert_int_equal(store_set(st, "t", "3", 500, NULL), 0);
    clk.now = T0 + 1998;
    assert_true(has(st, "t"));
    clk.now = T0 + 1999;
    assert_false(has(st, "t"));
    clk.now += 365ull * 86400 * 1000;
    assert_true(has(st, "forever"));
    store_free(st);
}

/* the incremental sweep empties expired entries nobody asks for */
static void
test_sweep(void **state)
{
    struct fake_clock clk = {T0};
    struct rm_store *st = store_mem_new(1 << 20, fake_now, &clk);
    struct rm_store_mem_stats s;
    char key[32];
    int i;

    (void)state;
    for (i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "sweep-%d", i);
        assert_int_equal(store_set(st, key, "v", 10, NULL), 0);
    }
    assert_int_equal(store_set(st, "keep", "v", 0, NULL), 0);
    clk.now = T0 + 10;
    /* 256 slots, 4 per operation: 64 unrelated operations visit all */
    for (i = 0; i < 64; i++)
        assert_false(has(st, "missing"));
    assert_int_equal(store_mem_stats(st, &s), 0);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.expired, 150);
    assert_true(has(st, "keep"));
    store_free(st);
}

/* fill - keys "key-NNN" 0..n-1, value "v" */
static void
fill(struct rm_store *st, int from, int to)
{
    char key[32];
    int i;

    for (i = from; i < to; i++) {
        snprintf(key, sizeof(key), "key-%03d", i);
        assert_int_equal(store_set(st, key, "v", 0, NULL), 0);
    }
}

static bool
has_n(struct rm_store *st, int i)
{
    char key[32];

    snprintf(key, sizeof(key), "key-%03d", i);
    return has(st, key);
}

/* the cap holds; the least recently used entries go first, exactly */
static void
test_cap_lru(void **state)
{
    struct rm_store *st = store_mem_new(RM_STORE_MEM_MIN_CAP, NULL, NULL);
    size_t cost = store_mem_entry_cost(7, 1), base;
    struct rm_store_mem_stats s;
    int fit, i;

    (void)state;
    assert_int_equal(store_mem_stats(st, &s), 0);
    assert_int_equal(s.cap, RM_STORE_MEM_MIN_CAP);
    base = s.bytes; /* the empty table */
    fit = (int)((RM_STORE_MEM_MIN_CAP - base) / cost);
    assert_true(fit > 20);

    fill(st, 0, fit);
    assert_int_equal(store_mem_stats(st, &s), 0);
    assert_int_equal(s.entries, fit);
    assert_int_equal(s.bytes, base + (size_t)fit * cost);
    assert_int_equal(s.evicted, 0);

    /* one more: exactly the oldest, key-000, goes */
    fill(st, fit, fit + 1);
    assert_int_equal(store_mem_stats(st, &s), 0);
    assert_int_equal(s.evicted, 1);
    assert_true(s.bytes <= s.cap);
    assert_false(has_n(st, 0));
    for (i = 1; i <= fit; i++)
        assert_true(has_n(st, i)); /* and reading them all uses them all */

    /* now key-001 is the least recently used; touch it, and key-002 is */
    assert_true(has_n(st, 1));
    fill(st, fit + 1, fit + 2);
    assert_false(has_n(st, 2));
    assert_true(has_n(st, 1));

    /* set_nx on an existing key counts as a use */
    assert_int_equal(store_set_nx(st, "key-003", "w", 0, NULL), -EEXIST);
    fill(st, fit + 2, fit + 3);
    assert_false(has_n(st, 4));
    assert_true(has_n(st, 3));

    /* a longer value costs more and evicts as many as needed, exactly */
    {
        char big[RM_STORE_VAL_MAX + 1];
        size_t slack, need;
        uint64_t before;

        memset(big, 'x', RM_STORE_VAL_MAX);
        big[RM_STORE_VAL_MAX] = '\0';
        assert_int_equal(store_mem_stats(st, &s), 0);
        slack = s.cap - s.bytes;
        before = s.evicted;
        need = RM_STORE_VAL_MAX - 1 > slack ? RM_STORE_VAL_MAX - 1 - slack : 0;
        assert_int_equal(store_set(st, "key-001", big, 0, NULL), 0);
        assert_int_equal(store_mem_stats(st, &s), 0);
        assert_true(s.bytes <= s.cap);
        assert_int_equal(s.evicted - before, (need + cost - 1) / cost);
        assert_true(has_n(st, 1));
    }
    store_free(st);
}

/* the process-wide table: one table for all handles, cap from the last
 * opener, gone with the last handle */
static void
test_shared(void **state)
{
    struct rm_store *a = store_mem_shared(1 << 20), *b;
    struct rm_store_mem_stats s;

    (void)state;
    fill(a, 0, 300);               /* about 32 KB */
    b = store_mem_shared(1 << 20); /* the next generation opens first */
    store_free(a);                 /* then the old one goes */
    assert_true(has_n(b, 0));
    assert_true(has_n(b, 299));
    /* a smaller cap takes effect at once */
    a = store_mem_shared(RM_STORE_MEM_MIN_CAP);
    assert_int_equal(store_mem_stats(a, &s), 0);
    assert_int_equal(s.cap, RM_STORE_MEM_MIN_CAP);
    assert_true(s.bytes <= s.cap);
    assert_true(s.evicted > 0);
    assert_false(has_n(b, 1)); /* least recently used: gone */
    assert_true(has_n(b, 0));  /* read above: kept */
    assert_true(has_n(b, 299));
    store_free(a);
    store_free(b);
    a = store_mem_shared(1 << 20); /* all closed: a fresh table */
    assert_false(has_n(a, 299));
    store_free(a);
}

static bool
bucket_take(struct rm_store *st, const char *key, uint64_t now, double burst,
            double rate, double *level)
{
    struct rm_bucket_req req = {now, burst, rate, 1, false};
    struct rm_bucket_res res;

    assert_int_equal(store_bucket(st, key, &req, &res, NULL), 0);
    if (level != NULL)
        *level = res.level;
    return !res.over;
}

static void
test_bucket(void **state)
{
    struct fake_clock clk = {0};
    struct rm_store *st = store_mem_new(1 << 20, fake_now, &clk);
    struct rm_bucket_req chk = {T0, 3, 0.5, 0, false};
    struct rm_bucket_res res;
    struct rm_store_err err;
    char v[RM_STORE_VAL_MAX + 1];
    double level;
    int i;

    (void)state;
    /* a check on an absent bucket passes and creates nothing */
    assert_int_equal(store_bucket(st, "rl.to|a", &chk, &res, NULL), 0);
    assert_false(res.over);
    assert_int_equal(store_get(st, "rl.to|a", v, sizeof(v), NULL), -ENOENT);

    for (i = 0; i < 3; i++)
        assert_true(bucket_take(st, "rl.to|a", T0, 3, 0.5, NULL));
    assert_false(bucket_take(st, "rl.to|a", T0, 3, 0.5, &level));
    assert_true(level == 3);
    assert_int_equal(store_get(st, "rl.to|a", v, sizeof(v), NULL), 0);
    assert_string_equal(v, "1700000000000:3");
    assert_int_equal(store_bucket(st, "rl.to|a", &chk, &res, NULL), 0);
    assert_true(res.over);
    chk.now_ms = T0 + 1999;
    assert_int_equal(store_bucket(st, "rl.to|a", &chk, &res, NULL), 0);
    assert_true(res.over);
    chk.now_ms = T0 + 2000;
    assert_int_equal(store_bucket(st, "rl.to|a", &chk, &res, NULL), 0);
    assert_false(res.over);
    assert_true(bucket_take(st, "rl.to|a", T0 + 2000, 3, 0.5, NULL));
    assert_false(bucket_take(st, "rl.to|a", T0 + 2000, 3, 0.5, NULL));

    /* the key expires once the bucket would have leaked empty (+1 s):
     * level 3 at rate 0.5/s -> 6 s + 1 s on the store clock */
    clk.now = 6999;
    assert_int_equal(store_get(st, "rl.to|a", v, sizeof(v), NULL), 0);
    clk.now = 7000;
    assert_int_equal(store_get(st, "rl.to|a", v, sizeof(v), NULL), -ENOENT);

    /* a key holding something else is an error, never a reset */
    assert_int_equal(store_set(st, "rl.to|b", "garbage", 0, NULL), 0);
    chk.now_ms = T0;
    assert_int_equal(store_bucket(st, "rl.to|b", &chk, &res, &err), -EBADMSG);
    assert_true(store_failed(-EBADMSG));
    assert_non_null(strstr(err.msg, "not a bucket"));
    store_free(st);
}

/* ---- threads ---- */

#define THREADS 8
#define TRIES 2000
#define BURST 100

struct hammer {
    struct rm_store *st;
    _Atomic int passed;
    _Atomic int failed;
};

static void *
hammer_bucket(void *arg)
{
    struct hammer *h = arg;
    struct rm_bucket_req req = {T0, BURST, 0.001, 1, false};
    struct rm_bucket_res res;
    int i, rc;

    for (i = 0; i < TRIES; i++) {
        rc = store_bucket(h->st, "rl.to|hot@example.org", &req, &res, NULL);
        if (rc != 0)
            atomic_fetch_add(&h->failed, 1);
        else if (!res.over)
            atomic_fetch_add(&h->passed, 1);
    }
    return NULL;
}

/* many threads on one bucket at one instant: exactly burst pass */
static void
test_threads_bucket(void **state)
{
    struct fake_clock clk = {0};
    struct hammer h = {store_mem_new(1 << 20, fake_now, &clk), 0, 0};
    pthread_t t[THREADS];
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_bucket, &h), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(h.failed, 0);
    assert_int_equal(h.passed, BURST);
    store_free(h.st);
}

static void *
hammer_keys(void *arg)
{
    struct hammer *h = arg;
    char key[32], val[32], got[RM_STORE_VAL_MAX + 1];
    unsigned seed = (unsigned)(uintptr_t)&key;
    int i, rc;

    for (i = 0; i < TRIES * 5; i++) {
        unsigned k = (unsigned)rand_r(&seed) % 1000;

        snprintf(key, sizeof(key), "k%u", k);
        snprintf(val, sizeof(val), "v%u", k);
        switch (rand_r(&seed) % 4) {
        case 0:
            rc = store_set(h->st, key, val, (uint64_t)(rand_r(&seed) % 50),
                           NULL);
            break;
        case 1:
            rc = store_set_nx(h->st, key, val, 0, NULL);
            break;
        case 2:
            rc = store_del(h->st, key, NULL);
            break;
        default:
            rc = store_get(h->st, key, got, sizeof(got), NULL);
            if (rc == 0 && strcmp(got, val) != 0)
                rc = -EBADMSG; /* a value under the wrong key */
            break;
        }
        if (store_failed(rc))
            atomic_fetch_add(&h->failed, 1);
    }
    return NULL;
}

static void *
tick(void *arg)
{
    struct fake_clock *clk = arg;
    int i;

    for (i = 0; i < 20000; i++)
        atomic_fetch_add(&clk->now, 1);
    return NULL;
}

/* mixed operations from many threads under a small cap and a moving
 * clock: no failure, no wrong value, the cap and the accounts hold */
static void
test_threads_mixed(void **state)
{
    struct fake_clock clk = {0};
    struct hammer h = {store_mem_new(RM_STORE_MEM_MIN_CAP, fake_now, &clk), 0,
                       0};
    struct rm_store_mem_stats s;
    pthread_t t[THREADS + 1];
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_keys, &h), 0);
    assert_int_equal(pthread_create(&t[THREADS], NULL, tick, &clk), 0);
    for (i = 0; i <= THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(h.failed, 0);
    assert_int_equal(store_mem_stats(h.st, &s), 0);
    assert_true(s.bytes <= s.cap);
    assert_true(s.entries > 0);
    store_free(h.st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_set_del),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_cap_lru),
        cmocka_unit_test(test_shared),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_threads_bucket),
        cmocka_unit_test(test_threads_mixed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
