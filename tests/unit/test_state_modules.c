/*
 * NAME
 *   test_state_modules - the greylist, ratelimit and replies modules,
 *   driven through the pipeline without an MTA
 *
 * DESCRIPTION
 *   Each test builds a config generation from text, plays milter stages
 *   on sessions the way the engine does and checks the replies, the
 *   summary notes and the log lines. Time is a fake clock
 *   (modstore_test_set_clock), so greylisting timeouts and bucket leaks
 *   are exact and instant. The state lives in the embedded store, which
 *   is freed with each test's generation, so tests don't see each other's
 *   records; the failure tests point Redis at a closed port. Timing
 *   against the real clock, Redis and the MTAs is in tests/functional/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg/cfg.h"
#include "core/module.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "modules/greylist.h"
#include "modules/modstore.h"
#include "modules/modules.h"
#include "store/store.h"

/* ---------------------------------------------------------------------- */
/* log capture, clock                                                     */
/* ---------------------------------------------------------------------- */

#include "log_capture.h"

static uint64_t now_ms;

static uint64_t
fake_clock(void *arg)
{
    (void)arg;
    return now_ms;
}

/* ---------------------------------------------------------------------- */
/* config and session helpers                                             */
/* ---------------------------------------------------------------------- */

static struct rm_reply R;

#include "config_support.h"

static struct rm_session *
session_from(struct rm_config *c, int family, const char *ip)
{
    struct rm_session *s = pipeline_session_new(c, 7);

    reply_clear(&R);
    assert_int_equal(
        pipeline_connect(s, "mx.example.net", family, 4711, ip, &R), 0);
    assert_int_equal(R.action, RM_ACT_CONTINUE);
    reply_clear(&R);
    assert_int_equal(pipeline_helo(s, "mx.example.net", &R), 0);
    return s;
}

static struct rm_session *
session(struct rm_config *c)
{
    return session_from(c, AF_INET, "192.0.2.1");
}

static enum rm_action
mail(struct rm_session *s, const char *from)
{
    char *argv[] = {(char *)from};

    reply_clear(&R);
    pipeline_mail(s, argv, 1, &R);
    return R.action;
}

static enum rm_action
rcpt(struct rm_session *s, const char *to)
{
    char *argv[] = {(char *)to};

    reply_clear(&R);
    pipeline_rcpt(s, argv, 1, &R);
    return R.action;
}

static enum rm_action
data(struct rm_session *s)
{
    reply_clear(&R);
    pipeline_data(s, &R);
    return R.action;
}

static void
header(struct rm_session *s, const char *name, const char *value)
{
    reply_clear(&R);
    pipeline_header(s, name, value, &R);
}

static enum rm_action
eoh(struct rm_session *s)
{
    reply_clear(&R);
    pipeline_eoh(s, &R);
    return R.action;
}

static enum rm_action
eom(struct rm_session *s)
{
    reply_clear(&R);
    pipeline_eom(s, &R);
    return R.action;
}

/* grey_txn - MAIL, the recipients (NULL-terminated), DATA; returns the
 * DATA reply; a message that passed DATA is finished with EOH and EOM */
static enum rm_action
grey_txn(struct rm_session *s, const char *from, ...)
{
    const char *to;
    enum rm_action a;
    va_list ap;

    assert_int_equal(mail(s, from), RM_ACT_CONTINUE);
    va_start(ap, from);
    while ((to = va_arg(ap, const char *)) != NULL)
        assert_int_equal(rcpt(s, to), RM_ACT_CONTINUE);
    va_end(ap);
    a = data(s);
    if (a == RM_ACT_CONTINUE) {
        eoh(s);
        assert_int_equal(eom(s), RM_ACT_CONTINUE);
        return RM_ACT_CONTINUE;
    }
    pipeline_abort(s);
    return a;
}

static int
setup(void **state)
{
    (void)state;
    logs_reset();
    reply_init(&R);
    now_ms = 1700000000000ULL;
    modstore_test_set_clock(fake_clock, NULL);
    pipeline_test_set_modules(NULL, 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    reply_clear(&R);
    modstore_test_set_clock(NULL, NULL);
    pipeline_test_set_modules(NULL, 0);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* greylisting at DATA                                                    */
/* ---------------------------------------------------------------------- */

static void
test_grey_lifecycle(void **state)
{
    struct rm_config *c =
        load("greylisting { timeout = 300s; expire = 1d; expire_white = 3d; "
             "greylisted_message = \"Greylisted, come back\"; }\n");
    struct rm_session *s = session(c);
    const char *l;

    (void)state;
    /* first attempt: new -> 451 4.7.1 with the configured text */
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    assert_string_equal(R.text, "Greylisted, come back");
    l = find_log("greylist: 192.0.2.0/24 <a@sender.example> -> "
                 "<b@example.org>: new, key grey.",
                 "greylisted until 2023-11-14T22:18:20Z (300s)");
    assert_non_null(l);
    assert_non_null(find_log("msg done:", "greylist=greylisted(1 new, 0 "
                                          "early) until 2023-11-14T22:18:20Z"));

    /* a retry before timeout, from another host of the same /24 */
    pipeline_session_free(s);
    s = session_from(c, AF_INET, "192.0.2.77");
    now_ms += 120 * 1000;
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_non_null(find_log("<b@example.org>: too early", "(180s)"));

    /* after timeout: passes and is whitelisted */
    now_ms += 181 * 1000;
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("greylist: passed after 301s", NULL));
    assert_non_null(find_log("msg done:", "greylist=pass(delayed 301s)"));
    now_ms += 1000;
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "greylist=pass(whitelisted)"));

    /* another network is another triplet */
    pipeline_session_free(s);
    s = session_from(c, AF_INET, "198.51.100.1");
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    /* ... and after expire it is new again, not "passed" */
    now_ms += 86400 * 1000ULL + 1000;
    assert_int_equal(grey_txn(s, "<a@sender.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_non_null(find_log("198.51.100.0/24", "new (old record expired)"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_grey_every_recipient(void **state)
{
    struct rm_config *c = load("greylisting { timeout = 60s; }\n");
    struct rm_session *s = session(c);

    (void)state;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<one@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    now_ms += 61 * 1000;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<one@example.org>", NULL),
                     RM_ACT_CONTINUE);
    /* one known and two new recipients: tempfailed, both new ones logged */
    logs_reset();
    assert_int_equal(grey_txn(s, "<a@x.example>", "<one@example.org>",
                              "<two@example.org>", "<three@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_int_equal(count_logs(": new, key grey."), 2);
    assert_non_null(find_log("msg done:", "greylisted(2 new, 0 early)"));
    /* one retry after timeout passes all three */
    now_ms += 61 * 1000;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<one@example.org>",
                              "<two@example.org>", "<three@example.org>", NULL),
                     RM_ACT_CONTINUE);
    /* the null sender is a sender like any other */
    assert_int_equal(grey_txn(s, "<>", "<one@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_non_null(find_log("<> -> <one@example.org>: new", NULL));
    pipeline_session_free(s);
    unload(c);
}

static void
test_grey_exemptions(void **state)
{
    struct rm_config *c = load("our_networks = 203.0.113.0/24;\n"
                               "greylisting { whitelist = 198.51.100.0/24, "
                               "2001:db8:1::/48; }\n");
    struct rm_session *s;

    (void)state;
    /* SASL */
    s = session(c);
    pipeline_macro(s, 'M', "{auth_authen}", "alice");
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "greylist=skipped(authenticated)"));
    pipeline_session_free(s);
    /* our_networks */
    s = session_from(c, AF_INET, "203.0.113.9");
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    pipeline_session_free(s);
    /* greylisting { whitelist }, IPv4 and IPv6 */
    s = session_from(c, AF_INET, "198.51.100.20");
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(
        find_log("msg done:", "greylist=skipped(whitelisted client)"));
    pipeline_session_free(s);
    s = session_from(c, AF_INET6, "2001:db8:1:2::5");
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    pipeline_session_free(s);
    /* any other IPv6 client is greylisted per /64 */
    s = session_from(c, AF_INET6, "2001:db8:2:3::5");
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_non_null(
        find_log("greylist: 2001:db8:2:3::/64 <a@x.example>", NULL));
    pipeline_session_free(s);
    unload(c);
}

static void
test_grey_not_enabled_by_redis(void **state)
{
    struct rm_config *c = load("redis { servers_limits = 127.0.0.1:1; }\n"
                               "greylisting { enable = yes; }\n");
    struct rm_config *c2 = load("redis { servers_limits = 127.0.0.1:1; }\n");
    struct rm_session *s;

    (void)state;
    /* servers_limits only: greylisting { } is on, in the embedded store */
    s = session(c);
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    pipeline_session_free(s);
    /* no greylisting { } and no servers_grey: no greylisting at all */
    logs_reset();
    s = session(c2);
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_null(find_log("msg done:", "greylist="));
    pipeline_session_free(s);
    unload(c);
    unload(c2);
}

static void
test_grey_awl(void **state)
{
    struct rm_config *c = load("greylisting { timeout = 10s; awl_enable = yes; "
                               "awl_hits = 2; awl_ttl = 1h; }\n");
    struct rm_session *s = session(c);

    (void)state;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<r1@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    now_ms += 11000;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<r1@example.org>", NULL),
                     RM_ACT_CONTINUE); /* 1 */
    assert_int_equal(grey_txn(s, "<b@x.example>", "<r2@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    now_ms += 11000;
    assert_int_equal(grey_txn(s, "<b@x.example>", "<r2@example.org>", NULL),
                     RM_ACT_CONTINUE); /* 2 */
    /* a triplet never seen passes at once: the network is whitelisted */
    assert_int_equal(grey_txn(s, "<c@x.example>", "<r3@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("192.0.2.0/24 is auto-whitelisted", NULL));
    assert_non_null(find_log("msg done:", "greylist=pass(auto-whitelisted)"));
    pipeline_session_free(s);
    /* another network is not */
    s = session_from(c, AF_INET, "198.51.100.1");
    assert_int_equal(grey_txn(s, "<c@x.example>", "<r3@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    pipeline_session_free(s);
    unload(c);
}

static void
test_grey_store_failure(void **state)
{
    struct rm_config *c = load("redis { servers_grey = 127.0.0.1:1; "
                               "connect_timeout = 200ms; }\n"
                               "greylisting { }\n");
    struct rm_config *c2 = load("redis { servers_grey = 127.0.0.1:1; "
                                "connect_timeout = 200ms; on_failure = "
                                "tempfail; }\n");
    struct rm_session *s;

    (void)state;
    /* default on_failure = accept: the message passes greylisting and the
     * other checks still run */
    s = session(c);
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("greylist: failed at data: store failure",
                             "on_failure = continue"));
    pipeline_session_free(s);
    /* on_failure = tempfail: the pipeline's 451 4.7.1 */
    s = session(c2);
    assert_int_equal(grey_txn(s, "<a@x.example>", "<b@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    pipeline_session_free(s);
    unload(c);
    unload(c2);
}

/* ---------------------------------------------------------------------- */
/* greylisting on a scanner's verdict, and replies                        */
/* ---------------------------------------------------------------------- */

/* A stand-in for the spam scanner: every message is "greylist". */
static enum rm_status
scanner_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    enum rm_status st;

    (void)mconf;
    if (m->is_reply) {
        verdict_note(v, "skipped(reply)");
        return RM_DECLINED;
    }
    st = greylist_check_message(m, v);
    if (st == RM_CONTINUE)
        verdict_note(v, "greylist action, passed");
    return st;
}

static const struct rm_module fake_scanner = {
    .name = "scanner",
    .on_eom = scanner_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM),
    .flags = RM_MOD_SKIP_EXEMPT,
};

static const struct rm_module *const table_scan[] = {
    &rm_ratelimit_module, &rm_greylist_module, &rm_replies_module,
    &fake_scanner};

/* full_txn - a whole message; headers as name, value pairs, NULL ends */
static enum rm_action
full_txn(struct rm_session *s, const char *from, const char *to, ...)
{
    const char *n, *val;
    va_list ap;

    assert_int_equal(mail(s, from), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, to), RM_ACT_CONTINUE);
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    va_start(ap, to);
    while ((n = va_arg(ap, const char *)) != NULL) {
        val = va_arg(ap, const char *);
        header(s, n, val);
    }
    va_end(ap);
    eoh(s);
    return eom(s);
}

static void
test_grey_verdict_driven_and_replies(void **state)
{
    struct rm_config *c;
    struct rm_session *s;
    uint32_t stages, actions;

    (void)state;
    pipeline_test_set_modules(table_scan, 4);
    c = load("reply_whitelist = yes;\n"
             "spamd { servers = 127.0.0.1:1; spamd_greylist = yes; }\n"
             "greylisting { timeout = 30s; }\n");
    /* replies need the headers */
    pipeline_needs(c, &stages, &actions);
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_HEADER));
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_EOH));

    /* our user sends a message: its id is remembered */
    s = session(c);
    pipeline_macro(s, 'M', "{auth_authen}", "alice");
    assert_int_equal(full_txn(s, "<alice@example.org>", "<bob@remote.example>",
                              "Message-Id", " <orig-1@example.org> ", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=stored"));
    pipeline_session_free(s);

    /* a stranger: DATA does not greylist, the verdict does */
    s = session_from(c, AF_INET, "198.51.100.7");
    assert_int_equal(full_txn(s, "<x@remote.example>", "<alice@example.org>",
                              "Message-Id", "<other@remote.example>",
                              "In-Reply-To", "<unknown@example.org>", NULL),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_non_null(find_log("msg done:", "greylist=deferred(spam verdict)"));
    assert_non_null(find_log("msg done:", "replies=no"));
    assert_non_null(find_log("greylisted on the spam verdict", NULL));

    /* a reply (our id LAST in References, as a parent is): not greylisted */
    assert_int_equal(full_txn(s, "<bob@remote.example>", "<alice@example.org>",
                              "References",
                              "<root@remote.example>\r\n\t(comment <no@x>) "
                              "<orig-1@example.org>",
                              NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log(
        "replies: is a reply to our message <orig-1@example.org>", NULL));
    assert_non_null(find_log("msg done:", "replies=reply"));
    assert_non_null(find_log("msg done:", "scanner=skipped(reply)"));
    /* In-Reply-To too, and greylist_check_message itself honours it */
    assert_int_equal(full_txn(s, "<carol@remote.example>",
                              "<alice@example.org>", "In-Reply-To",
                              "Re: your mail <orig-1@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "from=<carol@remote.example>"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_grey_check_message_exempt(void **state)
{
    struct rm_config *c;
    struct rm_session *s;

    (void)state;
    pipeline_test_set_modules(table_scan, 4);
    c = load("spamd { servers = 127.0.0.1:1; }\n"
             "greylisting { whitelist = 198.51.100.0/24; }\n");
    s = session_from(c, AF_INET, "198.51.100.7");
    assert_int_equal(full_txn(s, "<x@remote.example>", "<a@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "scanner=greylist action, passed"));
    pipeline_session_free(s);
    unload(c);

    /* without greylisting in the generation the call is a no-op */
    c = load("spamd { servers = 127.0.0.1:1; }\n");
    s = session(c);
    assert_int_equal(full_txn(s, "<x@remote.example>", "<a@example.org>", NULL),
                     RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

/* ---------------------------------------------------------------------- */
/* ratelimit                                                              */
/* ---------------------------------------------------------------------- */

static void
test_rl_burst_and_rate(void **state)
{
    struct rm_config *c = load("limits { limit_to = 2:1; }\n");
    struct rm_session *s = session(c);

    (void)state;
    /* the same recipient three times: the third is over the burst */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<U@Example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<v@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    assert_string_equal(R.text, "Rate limit exceeded");
    assert_non_null(find_log("ratelimit: <u@example.org> refused: bucket to "
                             "full (key rl.to|u@example.org",
                             "room again in 1.0s"));
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    eoh(s);
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "1 refused"));
    assert_non_null(
        find_log("msg done:", "ratelimit=limited(1 of 4 recipients limited)"));

    /* still full at the same instant; one more after 1/rate seconds */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    now_ms += 1000;
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    eoh(s);
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

static void
test_rl_give_back(void **state)
{
    struct rm_config *c = load("limits { limit_to = 2:0.001; }\n"
                               "rule { tempfail; envfrom /^spam@/; }\n");
    struct rm_session *s = session(c);
    int i;

    (void)state;
    /* aborted transactions don't count, however many */
    for (i = 0; i < 5; i++) {
        assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
        assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
        assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
        pipeline_abort(s);
    }
    /* nor do messages tempfailed at EOM */
    for (i = 0; i < 3; i++) {
        assert_int_equal(mail(s, "<spam@x.example>"), RM_ACT_CONTINUE);
        assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
        assert_int_equal(data(s), RM_ACT_CONTINUE);
        eoh(s);
        assert_int_equal(eom(s), RM_ACT_TEMPFAIL);
    }
    /* nor a new MAIL without RSET */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    /* accepted mail does: two pass, the third is refused */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    eoh(s);
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    eoh(s);
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    /* closing the session mid-transaction gives back too */
    pipeline_session_free(s);
    unload(c);
}

static void
test_rl_greylisted_mail_does_not_count(void **state)
{
    struct rm_config *c = load("limits { limit_to = 1:0.001; }\n"
                               "greylisting { timeout = 10s; }\n");
    struct rm_session *s = session(c);
    int i;

    (void)state;
    /* greylisted at DATA three times: the bucket of 1 never fills */
    for (i = 0; i < 3; i++)
        assert_int_equal(grey_txn(s, "<a@x.example>", "<u@example.org>", NULL),
                         RM_ACT_TEMPFAIL);
    now_ms += 11000;
    assert_int_equal(grey_txn(s, "<a@x.example>", "<u@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    pipeline_session_free(s);
    unload(c);
}

static void
test_rl_buckets_bounces_exemptions(void **state)
{
    struct rm_config *c =
        load("whitelist = vip@example.org;\n"
             "limits { limit_to_ip = 1:0.001; limit_bounce_to = 1:0.001; "
             "limit_whitelist = 2001:db8::/32, 198.51.100.0/24; "
             "limit_whitelist_rcpt = postmaster; }\n");
    struct rm_session *s = session(c);

    (void)state;
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    assert_non_null(find_log("bucket to_ip full", "rl.to_ip|u@example.org|"
                                                  "192.0.2.1"));
    /* exempt recipients */
    assert_int_equal(rcpt(s, "<postmaster@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<postmaster@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<vip@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<vip@example.org>"), RM_ACT_CONTINUE);
    /* bounces (null sender, MAILER-DAEMON) go through bounce_to first */
    assert_int_equal(mail(s, "<>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<w@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(mail(s, "<MAILER-DAEMON@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<w@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<w@example.org>"), RM_ACT_TEMPFAIL);
    assert_non_null(find_log("bucket bounce_to full", "rl.bounce_to|w@"));
    pipeline_session_free(s);
    /* limit_whitelist: IPv6 and IPv4 clients */
    s = session_from(c, AF_INET6, "2001:db8:5::1");
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_CONTINUE);
    pipeline_session_free(s);
    s = session_from(c, AF_INET, "198.51.100.3");
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_CONTINUE);
    pipeline_session_free(s);
    /* an IPv6 client that is not listed is limited per /64 */
    s = session_from(c, AF_INET6, "2001:dbf:1:2::1");
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    eoh(s);
    assert_int_equal(eom(s), RM_ACT_CONTINUE); /* accepted: it counts */
    pipeline_session_free(s);
    s = session_from(c, AF_INET6, "2001:dbf:1:2::99");
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<z@example.org>"), RM_ACT_TEMPFAIL);
    assert_non_null(find_log("bucket to_ip full", "2001:dbf:1:2::/64"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_rl_store_failure(void **state)
{
    struct rm_config *c = load("redis { servers_limits = 127.0.0.1:1; "
                               "connect_timeout = 200ms; }\n"
                               "limits { limit_to = 1:1; }\n");
    struct rm_config *c2 = load("redis { servers_limits = 127.0.0.1:1; "
                                "connect_timeout = 200ms; on_failure = "
                                "tempfail; }\n"
                                "limits { limit_to = 1:1; }\n");
    struct rm_session *s;

    (void)state;
    s = session(c);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_CONTINUE);
    assert_non_null(find_log("ratelimit: failed at rcpt: store failure",
                             "on_failure = continue"));
    pipeline_session_free(s);
    s = session(c2);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<u@example.org>"), RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    pipeline_session_free(s);
    unload(c);
    unload(c2);
}

/* ---------------------------------------------------------------------- */
/* replies                                                                */
/* ---------------------------------------------------------------------- */

static void
test_replies_keys(void **state)
{
    struct rm_config *c =
        load("reply_whitelist = yes;\nour_networks = 10.0.0.0/8;\n");
    struct rm_session *s;
    struct rm_store *st;
    char v[RM_STORE_VAL_MAX + 1];
    /* printf '<orig-2@example.org>' | sha256sum */
    const char *key = "message_id."
                      "5da8145bdbc3695bc6c27467e0b4c50e"
                      "51d74d2f5e1317412d74f27aae6856d5";

    (void)state;
    /* our_networks counts as authenticated: stored */
    s = session_from(c, AF_INET, "10.1.2.3");
    assert_int_equal(full_txn(s, "<me@example.org>", "<you@remote.example>",
                              "Message-ID", "<orig-2@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=stored"));
    /* no Message-ID: nothing to store */
    assert_int_equal(
        full_txn(s, "<me@example.org>", "<you@remote.example>", NULL),
        RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=no message-id"));
    pipeline_session_free(s);

    /* the shared embedded table holds it under id_prefix + sha256, the
     * value being the time it was stored */
    st = store_mem_shared(c->greylisting.store_size);
    assert_int_equal(store_get(st, key, v, sizeof(v), NULL), 0);
    assert_string_equal(v, "1700000000000");
    store_free(st);

    /* a remote message with no reference headers, and a bare id */
    s = session(c);
    assert_int_equal(
        full_txn(s, "<x@remote.example>", "<me@example.org>", NULL),
        RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=no"));
    assert_int_equal(full_txn(s, "<x@remote.example>", "<me@example.org>",
                              "In-Reply-To", "orig-2@example.org", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=no"));
    assert_int_equal(full_txn(s, "<x@remote.example>", "<me@example.org>",
                              "References", "<orig-2@example.org>", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=reply"));
    /* a long References keeps its newest ids: ours last of 40 */
    {
        char refs[2048];
        size_t o = 0;
        int i;

        for (i = 0; i < 39; i++)
            o += (size_t)snprintf(refs + o, sizeof(refs) - o,
                                  "<r%d@remote.example> ", i);
        snprintf(refs + o, sizeof(refs) - o, "<orig-2@example.org>");
        assert_int_equal(full_txn(s, "<x@remote.example>", "<me@example.org>",
                                  "References", refs, NULL),
                         RM_ACT_CONTINUE);
        assert_non_null(find_log("msg done:", "replies=reply"));
        /* ... and ours first of 40 is beyond the lookups made */
        o = (size_t)snprintf(refs, sizeof(refs), "<orig-2@example.org>");
        for (i = 0; i < 39; i++)
            o += (size_t)snprintf(refs + o, sizeof(refs) - o,
                                  " <r%d@remote.example>", i);
        assert_int_equal(full_txn(s, "<x@remote.example>", "<me@example.org>",
                                  "References", refs, NULL),
                         RM_ACT_CONTINUE);
        assert_non_null(find_log("msg done:", "replies=no"));
    }
    /* the flag does not leak into the next message */
    assert_int_equal(full_txn(s, "<x@remote.example>", "<me@example.org>",
                              "Subject", "new", NULL),
                     RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "replies=no"));
    pipeline_session_free(s);
    unload(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grey_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grey_every_recipient, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grey_exemptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grey_not_enabled_by_redis, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grey_awl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grey_store_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grey_verdict_driven_and_replies,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_grey_check_message_exempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rl_burst_and_rate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rl_give_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_greylisted_mail_does_not_count,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_buckets_bounces_exemptions,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_store_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replies_keys, setup, teardown),
    };

    log_set_hook(capture, NULL);
    log_set_level(RM_LOG_DEBUG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
