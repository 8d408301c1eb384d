/*
 * NAME
 *   test_metrics - the lock-free metric registry and its Prometheus text
 *
 * DESCRIPTION
 *   Threads racing to create the same series must end up with one series
 *   holding every update; message reports must count by action and check
 *   result; histograms must be cumulative with +Inf equal to the count; the
 *   upstream pools of the registry must appear as gauges, once per member
 *   even while two generations share a pool name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_value.h"
#include "core/hooks.h"
#include "core/metrics.h"
#include "net/upstream.h"

#define THREADS 8
#define UPDATES 20000

static char *
render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    metrics_render(f);
    fclose(f);
    return buf;
}

/* value - the value of the line starting with series (exactly), or -1 */
static long long
value(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);
    long long v = -1;
    int seen = 0;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            v = atoll(p + n + 1);
            seen++;
        }
        p += n;
    }
    if (seen > 1)
        fail_msg("series %s appears %d times", series, seen);
    return v;
}

static void *
hammer(void *arg)
{
    int id = (int)(intptr_t)arg, i;
    char server[32];

    for (i = 0; i < UPDATES; i++) {
        snprintf(server, sizeof(server), "s%d", i % 4);
        metrics_backend("race", server, (uint64_t)(i % 3) * 1000u,
                        (i + id) % 2 == 0);
    }
    return NULL;
}

static void
test_concurrent_series(void **state)
{
    pthread_t t[THREADS];
    long long ok = 0, err = 0, count = 0;
    char name[128], *text;
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(
            pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)i), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    text = render();
    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof(name),
                 "rmilter_backend_requests_total{backend=\"race\",server=\"s%"
                 "d\",result=\"ok\"}",
                 i);
        ok += value(text, name);
        snprintf(name, sizeof(name),
                 "rmilter_backend_requests_total{backend=\"race\",server=\"s%"
                 "d\",result=\"error\"}",
                 i);
        err += value(text, name);
        snprintf(name, sizeof(name),
                 "rmilter_backend_duration_seconds_count{backend=\"race\","
                 "server=\"s%d\"}",
                 i);
        count += value(text, name);
    }
    assert_int_equal(ok + err, THREADS * UPDATES);
    assert_int_equal(ok, err);
    assert_int_equal(count, THREADS * UPDATES);
    free(text);
}

static void
test_message_report(void **state)
{
    struct rm_check_report checks[] = {
        {"rules", "add_header(rule 2 at x.conf:3)", 1500, true},
        {"greylist", "skipped(authenticated)", 0, false},
        {"clamav", "connect: refused -> tempfail", 2000000, true},
    };
    struct rm_msg_report r = {"tag",   "QID", "tempfail 451 4.7.1 Try later",
                              2500000, 3,     checks};
    char *text;

    (void)state;
    metrics_message(&r);
    metrics_message(&r);
    r.action = "accept";
    r.n_checks = 1;
    metrics_message(&r);
    text = render();
    assert_int_equal(value(text, "rmilter_messages_total{action=\"tempfail\"}"),
                     2);
    assert_int_equal(value(text, "rmilter_messages_total{action=\"accept\"}"),
                     1);
    assert_int_equal(value(text, "rmilter_check_results_total{check=\"rules\","
                                 "result=\"add_header\"}"),
                     3);
    assert_int_equal(value(text, "rmilter_check_results_total{check="
                                 "\"greylist\",result=\"skipped\"}"),
                     2);
    assert_int_equal(value(text, "rmilter_check_results_total{check="
                                 "\"clamav\",result=\"error\"}"),
                     2);
    /* a skipped check is counted, not timed */
    assert_int_equal(
        value(text, "rmilter_check_duration_seconds_count{check=\"greylist\"}"),
        -1);
    /* 1.5 ms is above 0.001 and within 0.0025; 2 s within 2.5 */
    assert_int_equal(value(text, "rmilter_check_duration_seconds_bucket{check="
                                 "\"rules\",le=\"0.001\"}"),
                     0);
    assert_int_equal(value(text, "rmilter_check_duration_seconds_bucket{check="
                                 "\"rules\",le=\"0.0025\"}"),
                     3);
    assert_int_equal(value(text, "rmilter_check_duration_seconds_bucket{check="
                                 "\"clamav\",le=\"1\"}"),
                     0);
    assert_int_equal(value(text, "rmilter_check_duration_seconds_bucket{check="
                                 "\"clamav\",le=\"2.5\"}"),
                     2);
    assert_int_equal(value(text, "rmilter_check_duration_seconds_bucket{check="
                                 "\"clamav\",le=\"+Inf\"}"),
                     2);
    assert_non_null(strstr(
        text, "rmilter_check_duration_seconds_sum{check=\"clamav\"} 4.000000"));
    assert_int_equal(value(text, "rmilter_message_duration_seconds_count"), 3);
    free(text);
}

static void
test_words_and_escaping(void **state)
{
    char buf[32], *text;

    (void)state;
    assert_string_equal(report_action_word("reject 554 5.7.1 x", buf, 32),
                        "reject");
    assert_string_equal(report_action_word("add_header(rule)", buf, 32),
                        "add_header");
    assert_string_equal(report_action_word("quarantine (why)", buf, 32),
                        "quarantine");
    assert_string_equal(report_action_word("", buf, 32), "other");
    assert_string_equal(report_action_word(NULL, buf, 32), "other");
    assert_string_equal(report_action_word("abcdefgh", buf, 4), "abc");
    metrics_backend("q\"b\\e", "line\nbreak", 1, true);
    text = render();
    assert_non_null(
        strstr(text, "backend=\"q\\\"b\\\\e\",server=\"line\\nbreak\""));
    free(text);
}

static void
test_sessions_and_pools(void **state)
{
    struct rm_servers sv = {0};
    struct rm_server s[2];
    struct rm_upstream_pool *a, *b;
    char err[128], *text;

    (void)state;
    metrics_session_open();
    metrics_session_open();
    metrics_session_close();
    assert_int_equal(
        cfg_parse_server("127.0.0.1:3310", 3310, &s[0], err, sizeof(err)), 0);
    assert_int_equal(
        cfg_parse_server("/run/clamd.sock", 3310, &s[1], err, sizeof(err)), 0);
    sv.n = 2;
    sv.v = s;
    /* two generations' pools of one name share their members' state */
    a = upstream_pool_new("clamav", &sv, RM_UPSTREAM_ROUND_ROBIN, 10000, 1,
                          60000);
    b = upstream_pool_new("clamav", &sv, RM_UPSTREAM_ROUND_ROBIN, 10000, 1,
                          60000);
    upstream_fail(upstream_pool_member(a, 0), upstream_now_ms(), "refused");
    upstream_ok(upstream_pool_member(b, 1), upstream_now_ms());
    text = render();
    assert_int_equal(value(text, "rmilter_sessions_open"), 1);
    assert_int_equal(value(text, "rmilter_sessions_total"), 2);
    assert_int_equal(value(text, "rmilter_upstream_alive{pool=\"clamav\","
                                 "server=\"127.0.0.1:3310\"}"),
                     0);
    assert_int_equal(value(text, "rmilter_upstream_alive{pool=\"clamav\","
                                 "server=\"/run/clamd.sock\"}"),
                     1);
    assert_int_equal(value(text, "rmilter_upstream_deaths_total{pool="
                                 "\"clamav\",server=\"127.0.0.1:3310\"}"),
                     1);
    assert_int_equal(
        value(text, "rmilter_upstream_requests_total{pool=\"clamav\",server="
                    "\"/run/clamd.sock\",result=\"ok\"}"),
        1);
    free(text);
    upstream_pool_free(a);
    upstream_pool_free(b);
    text = render();
    assert_null(strstr(text, "rmilter_upstream_alive{"));
    free(text);
    cfg_server_free(&s[0]);
    cfg_server_free(&s[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_series),
        cmocka_unit_test(test_message_report),
        cmocka_unit_test(test_words_and_escaping),
        cmocka_unit_test(test_sessions_and_pools),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
