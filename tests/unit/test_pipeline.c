/*
 * NAME
 *   test_pipeline - the check pipeline and the rules module, driven through
 *   pipeline.h without an MTA
 *
 * DESCRIPTION
 *   Each test builds a config generation from text (cfg_load_string +
 *   pipeline_generation_init), opens a session and plays milter stages on
 *   it the way the engine does (macros before their command, replies read
 *   back from struct rm_reply), then checks the replies, the message
 *   changes, the log lines (captured with log_set_hook) and the spool files
 *   on disk. Fake modules, installed with pipeline_test_set_modules, record
 *   what the pipeline shows them and answer what a test asks for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "core/module.h"
#include "core/pipeline.h"
#include "core/spool.h"
#include "lib/log.h"
#include "modules/modules.h"

/* ---------------------------------------------------------------------- */
/* log capture                                                            */
/* ---------------------------------------------------------------------- */

#include "log_capture.h"

/* ---------------------------------------------------------------------- */
/* fake modules                                                           */
/* ---------------------------------------------------------------------- */

struct fake {
    /* what to answer */
    int act_stage; /* stage at which to answer; -1 never */
    enum rm_status status;
    enum rm_action action;
    const char *rcode, *xcode, *text;
    const char *add_header; /* header name added at act_stage */
    const char *refuse_rcpt;
    enum rm_on_failure policy;
    /* what was seen */
    int calls[RM_STAGE_COUNT];
    enum rm_sender_class cls;
    bool authenticated, exempt, all_whitelisted;
    char user[64];
    char qid[64];
    size_t n_rcpts;
    bool spool_seen;
    char spool_path[512];
    mode_t spool_mode;
    char spool_head[4096];
};

static struct fake fa, fb;

static void
fake_reset(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    f->act_stage = -1;
}

static enum rm_status
fake_hook(struct rm_msg *m, void *mconf, struct rm_verdict *v, int st)
{
    struct fake *f = mconf;
    struct stat sb;

    f->calls[st]++;
    f->cls = m->sender_class;
    f->authenticated = m->authenticated;
    f->exempt = m->exempt;
    f->all_whitelisted = m->all_whitelisted;
    f->n_rcpts = m->n_rcpts;
    snprintf(f->user, sizeof(f->user), "%s", m->user ? m->user : "");
    snprintf(f->qid, sizeof(f->qid), "%s", msg_qid(m));
    if (st == RM_STAGE_RCPT && f->refuse_rcpt &&
        strcmp(m->rcpt_cur->raw, f->refuse_rcpt) == 0)
        return verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1",
                           "Rate limit exceeded");
    if (m->spool != NULL && spool_path(m->spool) != NULL) {
        f->spool_seen = true;
        snprintf(f->spool_path, sizeof(f->spool_path), "%s",
                 spool_path(m->spool));
        if (stat(f->spool_path, &sb) == 0)
            f->spool_mode = sb.st_mode & 07777;
    }
    if (st == RM_STAGE_EOM && m->spool != NULL) {
        ssize_t n =
            spool_read(m->spool, 0, f->spool_head, sizeof(f->spool_head) - 1);
        f->spool_head[n > 0 ? n : 0] = '\0';
    }
    if (st != f->act_stage)
        return RM_CONTINUE;
    if (f->add_header)
        verdict_add_header(v, f->add_header, "yes");
    if (f->status == RM_FINAL)
        return verdict_set(v, f->action, f->rcode, f->xcode, f->text);
    if (f->status == RM_ERROR)
        verdict_note(v, "backend down");
    return f->status;
}

#define FAKE_STAGE(fn, st)                                                     \
    static enum rm_status fn(struct rm_msg *m, void *c, struct rm_verdict *v)  \
    {                                                                          \
        return fake_hook(m, c, v, st);                                         \
    }
FAKE_STAGE(fake_connect, RM_STAGE_CONNECT)
FAKE_STAGE(fake_helo, RM_STAGE_HELO)
FAKE_STAGE(fake_mail, RM_STAGE_MAIL)
FAKE_STAGE(fake_rcpt, RM_STAGE_RCPT)
FAKE_STAGE(fake_data, RM_STAGE_DATA)
FAKE_STAGE(fake_eoh, RM_STAGE_EOH)
FAKE_STAGE(fake_eom, RM_STAGE_EOM)

static enum rm_status
fake_body(struct rm_msg *m, void *c, const char *chunk, size_t len,
          struct rm_verdict *v)
{
    (void)chunk;
    (void)len;
    return fake_hook(m, c, v, RM_STAGE_BODY);
}

static int
fake_init_a(const struct rm_config *cfg, void **mconf, struct rm_diag *d)
{
    (void)cfg;
    (void)d;
    *mconf = &fa;
    return 0;
}

static int
fake_init_b(const struct rm_config *cfg, void **mconf, struct rm_diag *d)
{
    (void)cfg;
    (void)d;
    *mconf = &fb;
    return 0;
}

static enum rm_on_failure
fake_policy_a(const struct rm_config *cfg)
{
    (void)cfg;
    return fa.policy;
}

static enum rm_on_failure
fake_policy_b(const struct rm_config *cfg)
{
    (void)cfg;
    return fb.policy;
}

#define FAKE_ALL_STAGES                                                        \
    (RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_HELO) |            \
     RM_STAGE_BIT(RM_STAGE_MAIL) | RM_STAGE_BIT(RM_STAGE_RCPT) |               \
     RM_STAGE_BIT(RM_STAGE_DATA) | RM_STAGE_BIT(RM_STAGE_EOH) |                \
     RM_STAGE_BIT(RM_STAGE_BODY) | RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL)

static struct rm_module fake_a = {
    .name = "fake_a",
    .init = fake_init_a,
    .on_failure = fake_policy_a,
    .on_connect = fake_connect,
    .on_helo = fake_helo,
    .on_mail = fake_mail,
    .on_rcpt = fake_rcpt,
    .on_data = fake_data,
    .on_eoh = fake_eoh,
    .on_body = fake_body,
    .on_eom = fake_eom,
    .stages = FAKE_ALL_STAGES,
    .actions = RM_CAN_ADDHDRS,
};

static struct rm_module fake_b = {
    .name = "fake_b",
    .init = fake_init_b,
    .on_failure = fake_policy_b,
    .on_connect = fake_connect,
    .on_helo = fake_helo,
    .on_mail = fake_mail,
    .on_rcpt = fake_rcpt,
    .on_data = fake_data,
    .on_eoh = fake_eoh,
    .on_body = fake_body,
    .on_eom = fake_eom,
    .stages = FAKE_ALL_STAGES,
    .actions = RM_CAN_ADDHDRS,
};

static const struct rm_module *const table_ab[] = {&fake_a, &fake_b};
static const struct rm_module *const table_a_rules[] = {&fake_a,
                                                        &rm_rules_module};

/* ---------------------------------------------------------------------- */
/* config and session helpers                                             */
/* ---------------------------------------------------------------------- */

static char tmpdir[64];
static struct rm_reply R;

#include "config_support.h"

static struct rm_session *
session(struct rm_config *c)
{
    struct rm_session *s = pipeline_session_new(c, 7);

    reply_clear(&R);
    assert_int_equal(
        pipeline_connect(s, "mx.example.net", AF_INET, 4711, "192.0.2.1", &R),
        0);
    assert_int_equal(R.action, RM_ACT_CONTINUE);
    reply_clear(&R);
    assert_int_equal(pipeline_helo(s, "mx.example.net", &R), 0);
    return s;
}

static enum rm_action
mail(struct rm_session *s, const char *from)
{
    char *argv[] = {(char *)from, "SIZE=100"};

    reply_clear(&R);
    pipeline_mail(s, argv, 2, &R);
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

static enum rm_action
header(struct rm_session *s, const char *name, const char *value)
{
    reply_clear(&R);
    pipeline_header(s, name, value, &R);
    return R.action;
}

static enum rm_action
eoh(struct rm_session *s)
{
    reply_clear(&R);
    pipeline_eoh(s, &R);
    return R.action;
}

static enum rm_action
body(struct rm_session *s, const char *chunk)
{
    reply_clear(&R);
    pipeline_body(s, chunk, strlen(chunk), &R);
    return R.action;
}

static enum rm_action
eom(struct rm_session *s)
{
    reply_clear(&R);
    pipeline_eom(s, &R);
    return R.action;
}

/* message - DATA, two headers, EOH, one body chunk, EOM (reply in R) */
static enum rm_action
message(struct rm_session *s, const char *subject, const char *text)
{
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    header(s, "Subject", subject);
    header(s, "Message-Id", "<1@example.net>");
    eoh(s);
    body(s, text);
    return eom(s);
}

/* txn - a whole transaction from one sender to one recipient */
static enum rm_action
txn(struct rm_session *s, const char *from, const char *to, const char *subject,
    const char *text)
{
    assert_int_equal(mail(s, from), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, to), RM_ACT_CONTINUE);
    return message(s, subject, text);
}

static size_t
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int
setup(void **state)
{
    (void)state;
    logs_reset();
    fake_reset(&fa);
    fake_reset(&fb);
    reply_init(&R);
    pipeline_test_set_modules(NULL, 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    reply_clear(&R);
    pipeline_test_set_modules(NULL, 0);
    assert_int_equal(count_files(tmpdir), 0);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* rules: actions                                                         */
/* ---------------------------------------------------------------------- */

static void
test_rule_reject(void **state)
{
    struct rm_config *c = load("rule { reject \"Go away\"; envfrom "
                               "/^spam@/; }\n");
    struct rm_session *s = session(c);
    const char *l;

    (void)state;
    assert_int_equal(
        txn(s, "<spam@evil.example>", "<a@example.org>", "hi", "hello\r\n"),
        RM_ACT_REJECT);
    assert_string_equal(R.rcode, "554");
    assert_string_equal(R.xcode, "5.7.1");
    assert_string_equal(R.text, "Go away");
    assert_int_equal(R.n_mods, 0);
    l = find_log("rules: 'rule 1 at t.conf:1' fired: reject", NULL);
    assert_non_null(l);
    assert_non_null(strstr(l, "envfrom 'spam@evil.example' ~ /^spam@/"));
    assert_non_null(find_log("msg done:", "action=reject 554 5.7.1 Go away"));
    assert_non_null(find_log("msg done:", "rules=reject(rule 1 at t.conf:1)"));

    /* another sender passes */
    assert_int_equal(
        txn(s, "<ham@good.example>", "<a@example.org>", "hi", "hello\r\n"),
        RM_ACT_CONTINUE);
    assert_non_null(find_log("from=<ham@good.example>", "rules=nomatch"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_rule_tempfail_discard_quarantine(void **state)
{
    struct rm_config *c =
        load("rule { tempfail \"Later\"; envrcpt /^t@/; }\n"
             "rule { discard; envrcpt /^d@/; }\n"
             "rule { quarantine \"Looks odd\"; envrcpt /^q@/; }\n"
             "rule { tempfail; envrcpt /^t2@/; }\n");
    struct rm_session *s = session(c);
    uint32_t stages, actions;

    (void)state;
    assert_int_equal(txn(s, "<a@x.example>", "<t@example.org>", "s", "b\r\n"),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    assert_string_equal(R.text, "Later");

    assert_int_equal(txn(s, "<a@x.example>", "<d@example.org>", "s", "b\r\n"),
                     RM_ACT_DISCARD);
    assert_non_null(find_log("msg done:", "action=discard"));

    assert_int_equal(txn(s, "<a@x.example>", "<q@example.org>", "s", "b\r\n"),
                     RM_ACT_QUARANTINE);
    assert_non_null(R.quarantine_reason);
    assert_string_equal(R.quarantine_reason, "Looks odd");
    assert_non_null(find_log("msg done:", "action=quarantine (Looks odd)"));

    /* a tempfail rule without a text gets the default */
    assert_int_equal(txn(s, "<a@x.example>", "<t2@example.org>", "s", "b\r\n"),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.text, "Try again later");

    /* quarantine is negotiated only because a rule uses it */
    pipeline_needs(c, &stages, &actions);
    assert_true(actions & RM_CAN_QUARANTINE);
    assert_false(actions & RM_CAN_ADDHDRS);
    assert_false(stages & RM_STAGE_BIT(RM_STAGE_BODY));
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_EOM));
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_RCPT));
    pipeline_session_free(s);
    unload(c);
}

static void
test_rule_add_header_and_accept(void **state)
{
    struct rm_config *c =
        load("rule { add_header \"X-Tagged\" \"from example\"; envfrom "
             "/@x\\.example$/; }\n"
             "rule { accept; helo /^mx\\./; }\n"
             "rule { reject \"never reached\"; envfrom /./; }\n");
    struct rm_session *s = session(c);
    uint32_t stages, actions;

    (void)state;
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_ACCEPT);
    assert_int_equal(R.n_mods, 1);
    assert_int_equal(R.mods[0].kind, RM_MOD_ADD_HEADER);
    assert_string_equal(R.mods[0].name, "X-Tagged");
    assert_string_equal(R.mods[0].value, "from example");
    assert_non_null(find_log("fired: add_header", NULL));
    assert_non_null(find_log("fired: accept", "helo 'mx.example.net'"));
    assert_null(find_log("never reached", NULL));

    pipeline_needs(c, &stages, &actions);
    assert_true(actions & RM_CAN_ADDHDRS);
    pipeline_session_free(s);
    unload(c);
}

/* ---------------------------------------------------------------------- */
/* rules: conditions                                                      */
/* ---------------------------------------------------------------------- */

static void
test_rule_and_semantics(void **state)
{
    struct rm_config *c = load("rule { tempfail \"both\"; helo /^bad/; "
                               "envrcpt /^victim@/; }\n");
    struct rm_session *s = pipeline_session_new(c, 1);

    (void)state;
    pipeline_connect(s, "h.example", AF_INET, 1, "192.0.2.9", &R);
    reply_clear(&R);
    pipeline_helo(s, "bad.example", &R);
    /* helo alone: no */
    assert_int_equal(
        txn(s, "<a@x.example>", "<other@example.org>", "s", "b\r\n"),
        RM_ACT_CONTINUE);
    /* helo and one of the recipients: yes */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<other@example.org>");
    rcpt(s, "<victim@example.org>");
    assert_int_equal(message(s, "s", "b\r\n"), RM_ACT_TEMPFAIL);
    assert_string_equal(R.text, "both");
    assert_non_null(find_log("fired: tempfail", "helo 'bad.example'"));
    assert_non_null(find_log("fired: tempfail", "envrcpt '<victim@"));
    /* recipient alone (good helo): no */
    reply_clear(&R);
    pipeline_helo(s, "good.example", &R);
    assert_int_equal(
        txn(s, "<a@x.example>", "<victim@example.org>", "s", "b\r\n"),
        RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

static void
test_rule_negation_and_connect(void **state)
{
    struct rm_config *c =
        load("rule { reject \"outsider\"; not envfrom /@good\\.org$/; "
             "connect /^mx\\.example\\.net$/ /^192\\.0\\.2\\./; }\n");
    struct rm_session *s = session(c);

    (void)state;
    assert_int_equal(txn(s, "<a@good.org>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    assert_int_equal(txn(s, "<a@bad.org>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_REJECT);
    assert_non_null(
        find_log("fired: reject", "not envfrom /@good\\.org$/: no match"));
    assert_non_null(
        find_log("fired: reject",
                 "connect mx.example.net[192.0.2.1] ~ /^mx\\.example\\.net$/"));
    /* the null sender is "", which is not from good.org */
    assert_int_equal(txn(s, "<>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_REJECT);
    assert_non_null(find_log("msg done:", "from=<>"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_rule_header(void **state)
{
    struct rm_config *c = load("rule { reject \"pills\"; header /^subject$/i "
                               "/viagra/i; }\n");
    struct rm_session *s = session(c);

    (void)state;
    assert_int_equal(
        txn(s, "<a@x.example>", "<b@example.org>", "Cheap VIAGRA now", "b\r\n"),
        RM_ACT_REJECT);
    assert_non_null(find_log("fired: reject", "header 'Subject: Cheap VIAGRA"));
    /* name and value must match in the same header */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    header(s, "Subject", "hello");
    header(s, "X-Note", "viagra");
    eoh(s);
    body(s, "b\r\n");
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

static void
test_rule_body_across_chunks(void **state)
{
    /* spool_memory 64: the body is read back from the spool file */
    struct rm_config *c =
        load("tempdir = \"%s\"; spool_memory = 64;\n"
             "rule { reject \"bad body\"; body /foo bar/; }\n",
             tmpdir);
    struct rm_session *s = session(c);
    uint32_t stages, actions;

    (void)state;
    pipeline_needs(c, &stages, &actions);
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_BODY));
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_HEADER));
    assert_true(stages & RM_STAGE_BIT(RM_STAGE_EOH));

    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    header(s, "Subject", "foo bar"); /* headers are not the body */
    eoh(s);
    body(s, "first line\r\nsecond foo ");
    assert_int_equal(count_files(tmpdir), 1);
    body(s, "bar third\r\n");
    assert_int_equal(eom(s), RM_ACT_REJECT);
    assert_string_equal(R.text, "bad body");
    assert_int_equal(count_files(tmpdir), 0);

    /* "foo bar" only in a header: no */
    assert_int_equal(
        txn(s, "<a@x.example>", "<b@example.org>", "foo bar", "clean\r\n"),
        RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

/* ---------------------------------------------------------------------- */
/* transactions and sessions                                              */
/* ---------------------------------------------------------------------- */

static void
test_abort_clears_transaction(void **state)
{
    struct rm_config *c = load("rule { reject \"r1\"; envrcpt /^first@/; }\n");
    struct rm_session *s = session(c);
    const char *l;

    (void)state;
    pipeline_macro(s, 'M', "i", "Q1");
    assert_int_equal(mail(s, "<one@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<first@example.org>");
    pipeline_abort(s);
    l = find_log("msg done:", "action=aborted");
    assert_non_null(l);
    assert_non_null(strstr(l, "qid=Q1;"));
    assert_non_null(strstr(l, "rcpt=<first@example.org> (1 total)"));

    /* second transaction: nothing of the first one */
    assert_int_equal(
        txn(s, "<two@x.example>", "<second@example.org>", "s", "b\r\n"),
        RM_ACT_CONTINUE);
    l = find_log("msg done:", "action=accept");
    assert_non_null(l);
    assert_null(strstr(l, "first@"));
    assert_null(strstr(l, "one@"));
    assert_non_null(strstr(l, "qid=NOQUEUE;"));
    assert_non_null(strstr(l, "from=<two@x.example>"));
    assert_non_null(strstr(l, "rcpt=<second@example.org> (1 total)"));
    assert_int_equal(count_logs("msg done:"), 2);

    /* a new MAIL without ABORT also starts afresh */
    assert_int_equal(mail(s, "<three@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<first@example.org>");
    pipeline_macro(s, 'M', "{mail_addr}", "four@x.example");
    assert_int_equal(
        txn(s, "<four@x.example>", "<fourth@example.org>", "s", "b\r\n"),
        RM_ACT_CONTINUE);
    l = find_log("msg done:", "from=<four@x.example>");
    assert_non_null(l);
    assert_null(strstr(l, "first@"));
    assert_non_null(find_log("msg done:", "from=<three@x.example>"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_quit_nc_reset(void **state)
{
    struct rm_session *s;
    struct rm_config *c;
    const char *l;

    (void)state;
    pipeline_test_set_modules(table_ab, 1);
    c = load("");
    s = session(c);
    pipeline_macro(s, 'M', "{auth_authen}", "alice");
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_true(fa.authenticated);
    rcpt(s, "<b@example.org>");
    pipeline_reset(s);
    assert_non_null(find_log("msg done:", "action=aborted"));

    /* the same object serves a new SMTP session from another client */
    reply_clear(&R);
    pipeline_connect(s, "other.example", AF_INET6, 25, "2001:db8::1", &R);
    reply_clear(&R);
    assert_int_equal(txn(s, "<c@y.example>", "<d@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    assert_false(fa.authenticated);
    assert_string_equal(fa.user, "");
    l = find_log("msg done:", "from=<c@y.example>");
    assert_non_null(l);
    assert_non_null(strstr(l, "client=other.example[2001:db8::1]"));
    assert_non_null(strstr(l, "user=-"));
    assert_null(strstr(l, "b@example.org"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_auth_classes(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    pipeline_test_set_modules(table_ab, 1);
    c = load("our_networks = 10.0.0.0/8;\n");

    /* SASL login */
    s = session(c);
    pipeline_macro(s, 'M', "{auth_authen}", "alice");
    mail(s, "<alice@x.example>");
    assert_int_equal(fa.cls, RM_SENDER_AUTH);
    assert_true(fa.authenticated);
    assert_true(fa.exempt);
    assert_string_equal(fa.user, "alice");
    rcpt(s, "<b@example.org>");
    message(s, "s", "b\r\n");
    assert_non_null(find_log("msg done:", "user=alice;"));
    /* the next transaction of the same session, without the macro */
    mail(s, "<x@x.example>");
    assert_int_equal(fa.cls, RM_SENDER_REMOTE);
    assert_false(fa.authenticated);
    pipeline_session_free(s);

    /* our_networks */
    s = pipeline_session_new(c, 2);
    pipeline_connect(s, "relay.lan", AF_INET, 25, "10.1.2.3", &R);
    mail(s, "<a@lan.example>");
    assert_int_equal(fa.cls, RM_SENDER_NETWORK);
    assert_true(fa.authenticated);
    pipeline_session_free(s);

    /* unix socket: local, authenticated */
    s = pipeline_session_new(c, 3);
    reply_clear(&R);
    pipeline_connect(s, "", AF_UNIX, 0, "/run/x.sock", &R);
    mail(s, "<a@lan.example>");
    assert_int_equal(fa.cls, RM_SENDER_LOCAL);
    assert_true(fa.authenticated);
    pipeline_session_free(s);

    /* anyone else */
    s = pipeline_session_new(c, 4);
    pipeline_connect(s, "far.example", AF_INET, 25, "198.51.100.7", &R);
    mail(s, "<a@far.example>");
    assert_int_equal(fa.cls, RM_SENDER_REMOTE);
    assert_false(fa.authenticated);
    assert_false(fa.exempt);
    pipeline_session_free(s);
    unload(c);

    /* strict_auth: authenticated, but not exempt from scans */
    c = load("strict_auth = yes;\n");
    s = session(c);
    pipeline_macro(s, 'M', "{auth_authen}", "bob");
    mail(s, "<bob@x.example>");
    assert_true(fa.authenticated);
    assert_false(fa.exempt);
    pipeline_session_free(s);
    unload(c);
}

static void
test_unix_client_is_127_0_0_1(void **state)
{
    struct rm_config *c = load("rule { reject \"local\"; connect /^localhost$/ "
                               "/^127\\.0\\.0\\.1$/; }\n");
    struct rm_session *s = pipeline_session_new(c, 1);

    (void)state;
    pipeline_connect(s, NULL, AF_UNIX, 0, "/run/postfix.sock", &R);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_REJECT);
    assert_non_null(find_log("msg done:", "client=localhost[127.0.0.1]"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_exempt_and_whitelist_skips(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    fake_a.flags = RM_MOD_SKIP_EXEMPT;
    fake_b.flags = RM_MOD_SKIP_WHITELISTED;
    pipeline_test_set_modules(table_ab, 2);
    c = load("whitelist = @white.org, postmaster@example.org;\n");
    s = session(c);

    /* authenticated, not strict: fake_a (a spam scan) is skipped */
    pipeline_macro(s, 'M', "{auth_authen}", "alice");
    mail(s, "<alice@x.example>");
    rcpt(s, "<b@example.org>");
    message(s, "s", "b\r\n");
    assert_int_equal(fa.calls[RM_STAGE_EOM], 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 1);
    assert_non_null(find_log("msg done:", "fake_a=skipped(authenticated)"));

    /* a whitelisted recipient followed by another: not all whitelisted */
    mail(s, "<x@x.example>");
    rcpt(s, "<a@WHITE.org>");
    rcpt(s, "<someone@example.org>");
    assert_int_equal(data(s), RM_ACT_CONTINUE);
    assert_false(fb.all_whitelisted);
    assert_int_equal(fb.calls[RM_STAGE_DATA], 2);
    eom(s);
    /* the other way round (the original followed the last one) */
    mail(s, "<x@x.example>");
    rcpt(s, "<someone@example.org>");
    rcpt(s, "<a@white.org>");
    data(s);
    assert_false(fb.all_whitelisted);
    eom(s);
    /* every recipient listed: fake_b is skipped from DATA on */
    fb.calls[RM_STAGE_DATA] = fb.calls[RM_STAGE_EOM] = 0;
    mail(s, "<x@x.example>");
    rcpt(s, "<a@white.org>");
    rcpt(s, "<postmaster@example.org>");
    assert_true(fb.all_whitelisted); /* seen at RCPT, after the 1st one */
    message(s, "s", "b\r\n");
    assert_int_equal(fb.calls[RM_STAGE_DATA], 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 0);
    assert_non_null(find_log("msg done:", "fake_b=skipped(whitelisted)"));
    pipeline_session_free(s);
    unload(c);
    fake_a.flags = fake_b.flags = 0;
}

/* ---------------------------------------------------------------------- */
/* verdict merge and failure policy                                       */
/* ---------------------------------------------------------------------- */

static void
test_rcpt_tempfail_one_recipient(void **state)
{
    struct rm_session *s;
    struct rm_config *c;
    const char *l;

    (void)state;
    pipeline_test_set_modules(table_a_rules, 2);
    c = load("rule { reject \"saw bad\"; envrcpt /^bad@/; }\n");
    fa.refuse_rcpt = "<bad@example.org>";
    s = session(c);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<good@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(rcpt(s, "<bad@example.org>"), RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    assert_string_equal(R.text, "Rate limit exceeded");
    assert_int_equal(rcpt(s, "<also@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(fa.n_rcpts, 1); /* the refused one was not added */
    /* the transaction goes on, and the rule never sees <bad@> */
    assert_int_equal(message(s, "s", "b\r\n"), RM_ACT_CONTINUE);
    assert_non_null(find_log("recipient <bad@example.org> refused",
                             "tempfail 451 4.7.1 Rate limit exceeded"));
    l = find_log("msg done:", NULL);
    assert_non_null(l);
    assert_non_null(
        strstr(l, "rcpt=<good@example.org>,<also@example.org> (2 total, 1 "
                  "refused)"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_first_final_wins_and_edits(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    pipeline_test_set_modules(table_ab, 2);
    c = load("");
    s = session(c);

    /* both add a header and continue: both headers, in order */
    fa.act_stage = fb.act_stage = RM_STAGE_EOM;
    fa.status = fb.status = RM_CONTINUE;
    fa.add_header = "X-A";
    fb.add_header = "X-B";
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    assert_int_equal(R.n_mods, 2);
    assert_string_equal(R.mods[0].name, "X-A");
    assert_string_equal(R.mods[1].name, "X-B");

    /* a header from DATA, then a reject at EOM: no header sent */
    fa.act_stage = RM_STAGE_DATA;
    fb.status = RM_FINAL;
    fb.action = RM_ACT_REJECT;
    fb.rcode = "550";
    fb.xcode = "5.7.1";
    fb.text = "no";
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_REJECT);
    assert_int_equal(R.n_mods, 0);
    assert_string_equal(R.rcode, "550");

    /* the first final verdict wins: a rejects at DATA, b never runs after */
    fake_reset(&fa);
    fake_reset(&fb);
    fa.act_stage = RM_STAGE_DATA;
    fa.status = RM_FINAL;
    fa.action = RM_ACT_REJECT;
    fa.rcode = "554";
    fa.xcode = "5.7.1";
    fa.text = "stop";
    fb.act_stage = RM_STAGE_DATA;
    fb.status = RM_FINAL;
    fb.action = RM_ACT_ACCEPT;
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    assert_int_equal(data(s), RM_ACT_REJECT);
    assert_string_equal(R.text, "stop");
    assert_int_equal(fb.calls[RM_STAGE_DATA], 0);
    assert_non_null(find_log("msg done:", "action=reject 554 5.7.1 stop"));
    pipeline_abort(s);
    assert_int_equal(count_logs("action=reject 554 5.7.1 stop"), 1);

    /* an accept before EOM is held: the rest is skipped, EOM accepts */
    fake_reset(&fa);
    fake_reset(&fb);
    fa.act_stage = RM_STAGE_MAIL;
    fa.status = RM_FINAL;
    fa.action = RM_ACT_ACCEPT;
    fa.add_header = "X-Accepted";
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_ACCEPT);
    assert_int_equal(fb.calls[RM_STAGE_MAIL], 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 0);
    assert_int_equal(R.n_mods, 1);
    assert_string_equal(R.mods[0].name, "X-Accepted");
    pipeline_session_free(s);
    unload(c);
}

static void
test_on_failure_policies(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    pipeline_test_set_modules(table_ab, 2);
    c = load("");
    fa.act_stage = RM_STAGE_EOM;
    fa.status = RM_ERROR;
    fa.add_header = "X-Dropped";

    /* tempfail (also the default without a getter) */
    fa.policy = RM_ON_FAILURE_TEMPFAIL;
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_string_equal(R.xcode, "4.7.1");
    assert_string_equal(R.text, "Temporary service failure, try again later");
    assert_int_equal(R.n_mods, 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 0);
    assert_non_null(find_log("fake_a: failed at eom: backend down",
                             "on_failure = tempfail"));
    assert_non_null(find_log("msg done:", "fake_a=backend down -> tempfail"));
    pipeline_session_free(s);
    unload(c);

    /* accept: as is, no further checks */
    fa.policy = RM_ON_FAILURE_ACCEPT;
    c = load("");
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_ACCEPT);
    assert_int_equal(R.n_mods, 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 0);
    pipeline_session_free(s);
    unload(c);

    /* continue: the module's opinion (and its header) is ignored */
    fa.policy = RM_ON_FAILURE_CONTINUE;
    c = load("");
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    assert_int_equal(R.n_mods, 0);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 1);
    assert_non_null(find_log("msg done:", "fake_a=backend down -> continue"));
    pipeline_session_free(s);
    unload(c);

    /* tempfail at RCPT: that recipient only */
    fa.policy = RM_ON_FAILURE_TEMPFAIL;
    fa.act_stage = RM_STAGE_RCPT;
    c = load("");
    s = session(c);
    mail(s, "<a@x.example>");
    assert_int_equal(rcpt(s, "<b@example.org>"), RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    fa.act_stage = -1;
    assert_int_equal(rcpt(s, "<c@example.org>"), RM_ACT_CONTINUE);
    assert_int_equal(message(s, "s", "b\r\n"), RM_ACT_CONTINUE);
    assert_non_null(find_log("msg done:", "(1 total, 1 refused)"));
    pipeline_session_free(s);
    unload(c);
}

static void
test_invalid_verdict_and_no_generation(void **state)
{
    struct rm_config *c;
    struct rm_session *s;
    struct rm_diag d = {0};

    (void)state;
    /* a "reject" with a 4xx code is a module bug, not a reject */
    pipeline_test_set_modules(table_ab, 1);
    c = load("");
    fa.act_stage = RM_STAGE_EOM;
    fa.status = RM_FINAL;
    fa.action = RM_ACT_REJECT;
    fa.rcode = "451";
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_TEMPFAIL);
    assert_non_null(find_log("invalid verdict", NULL));
    pipeline_session_free(s);
    unload(c);

    /* a generation nobody initialised: tempfail, never a silent pass */
    assert_int_equal(cfg_load_string("t.conf", "", 0, &c, &d), 0);
    s = pipeline_session_new(c, 9);
    reply_clear(&R);
    assert_true(pipeline_connect(s, "h", AF_INET, 1, "192.0.2.1", &R) < 0);
    assert_int_equal(R.action, RM_ACT_TEMPFAIL);
    mail(s, "<a@x.example>");
    assert_int_equal(R.action, RM_ACT_TEMPFAIL);
    assert_int_equal(eom(s), RM_ACT_TEMPFAIL);
    pipeline_session_free(s);
    cfg_unref(c);
    diag_free(&d);
}

/* ---------------------------------------------------------------------- */
/* spool and size gate                                                    */
/* ---------------------------------------------------------------------- */

/* pipeline_reply_stages: where the built-in modules may answer; the
 * engine asks for no reply (SMFIP_NR_*) at the rest */
static void
test_reply_stages(void **state)
{
    const uint32_t eom = RM_STAGE_BIT(RM_STAGE_EOM);
    struct rm_config *c;

    (void)state;
    /* rules, spool readers, karma, replies: at end of message only (karma
     * and replies hook EOH and MAIL but only observe there) */
    c = load("tempdir = \"%s\";\n"
             "rule { reject \"x\"; header /^subject$/i /x/; }\n"
             "karma { dnslist { zone = bl.example; } }\n"
             "redis { servers_id = 127.0.0.1:1; }\n",
             tmpdir);
    assert_int_equal(pipeline_reply_stages(c), eom);
    unload(c);
    /* greylisting answers at DATA, rate limits at RCPT */
    c = load("greylisting { timeout = 1s; }\nlimits { limit_to = 1:1; }\n");
    assert_int_equal(pipeline_reply_stages(c), eom |
                                                   RM_STAGE_BIT(RM_STAGE_RCPT) |
                                                   RM_STAGE_BIT(RM_STAGE_DATA));
    unload(c);
    /* fake modules with the default: every stage they have a hook for,
     * MAIL too since connect and helo are answered (a connection's discard
     * is answered at each MAIL); never headers (no on_header hook) */
    pipeline_test_set_modules(table_ab, 2);
    c = load("tempdir = \"%s\";\n", tmpdir);
    assert_int_equal(pipeline_reply_stages(c),
                     FAKE_ALL_STAGES & ~RM_NEED_SPOOL);
    unload(c);
    /* no module state (pipeline_generation_init was not run): every stage */
    c = cfg_defaults();
    assert_int_equal(pipeline_reply_stages(c), (1u << RM_STAGE_COUNT) - 1);
    cfg_unref(c);
}

/* headers as written (SMFIP_HDR_LEADSPC, pipeline_header_raw): the spool
 * holds them byte for byte, the checks see the value without its first
 * space, as with pipeline_header (where the MTA ate it) */
static void
test_header_raw(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    pipeline_test_set_modules(table_a_rules, 2);
    c = load("tempdir = \"%s\"; spool_memory = 4096;\n"
             "rule { add_header \"X-Rule\" \"x\"; header /^subject$/i /^x$/; "
             "}\n",
             tmpdir);
    s = session(c);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    reply_clear(&R);
    assert_int_equal(pipeline_header_raw(s, "Subject", "x", &R), 0);
    assert_int_equal(R.action, RM_ACT_CONTINUE);
    pipeline_header_raw(s, "To", " b@example.org", &R);
    pipeline_header_raw(s, "X-Two", "  two", &R);
    pipeline_header_raw(s, "X-Tab", "\tt", &R);
    pipeline_header_raw(s, "X-Fold", "\n\tfolded", &R);
    pipeline_header_raw(s, "X-Empty", "", &R);
    assert_string_equal(msg_header(&s->msg, "Subject"), "x");
    assert_string_equal(msg_header(&s->msg, "To"), "b@example.org");
    assert_string_equal(msg_header(&s->msg, "X-Two"), " two");
    assert_string_equal(msg_header(&s->msg, "X-Tab"), "\tt");
    assert_string_equal(s->msg.hdrs[0].raw, "x");
    assert_string_equal(s->msg.hdrs[1].raw, " b@example.org");
    eoh(s);
    body(s, "b\r\n");
    eom(s);
    assert_non_null(strstr(fa.spool_head, "Subject:x\r\n"
                                          "To: b@example.org\r\n"
                                          "X-Two:  two\r\n"
                                          "X-Tab:\tt\r\n"
                                          "X-Fold:\r\n\tfolded\r\n"
                                          "X-Empty:\r\n"
                                          "\r\nb\r\n"));
    /* "Subject:x" matches /^x$/ as "Subject: x" always did */
    assert_int_equal(R.n_mods, 1);
    assert_string_equal(R.mods[0].name, "X-Rule");

    /* the same message, as an MTA without SMFIP_HDR_LEADSPC sends it */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    header(s, "Subject", "x");
    header(s, "X-Two", " two");
    header(s, "X-Tab", "\tt");
    header(s, "X-Empty", "");
    assert_string_equal(msg_header(&s->msg, "Subject"), "x");
    assert_string_equal(s->msg.hdrs[0].raw, " x");
    eoh(s);
    body(s, "b\r\n");
    eom(s);
    assert_non_null(strstr(fa.spool_head, "Subject: x\r\n"
                                          "X-Two: two\r\n"
                                          "X-Tab:\tt\r\n"
                                          "X-Empty: \r\n"
                                          "\r\nb\r\n"));
    assert_int_equal(R.n_mods, 1);

    /* two spaces written: the value keeps one, and does not match */
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    pipeline_header_raw(s, "Subject", "  x", &R);
    eoh(s);
    body(s, "b\r\n");
    eom(s);
    assert_int_equal(R.n_mods, 0);
    pipeline_session_free(s);
    unload(c);
}

static void
test_spool_memory_then_file(void **state)
{
    struct rm_session *s;
    struct rm_config *c;
    struct stat sb;
    char big[600];

    (void)state;
    pipeline_test_set_modules(table_ab, 1);
    c = load("tempdir = \"%s\"; spool_memory = 512;\n", tmpdir);
    s = session(c);

    /* small: stays in memory, no file */
    pipeline_macro(s, 'T', "i", "QID1");
    assert_int_equal(
        txn(s, "<a@x.example>", "<b@example.org>", "small", "tiny body\r\n"),
        RM_ACT_CONTINUE);
    assert_false(fa.spool_seen);
    assert_int_equal(count_files(tmpdir), 0);
    /* CRLF everywhere: trace lines, headers (LF in a value too), body */
    assert_non_null(strstr(fa.spool_head, "Return-Path: <a@x.example>\r\n"
                                          "Received: from mx.example.net "
                                          "(mx.example.net [192.0.2.1])\r\n"));
    assert_non_null(strstr(fa.spool_head, "with ESMTP id QID1;\r\n"));
    assert_non_null(strstr(fa.spool_head,
                           "Subject: small\r\nMessage-Id: <1@example.net>\r\n"
                           "\r\ntiny body\r\n"));

    /* large: moved to a 0600 file at the threshold, removed at EOM */
    memset(big, 'x', sizeof(big) - 3);
    memcpy(big + sizeof(big) - 3, "\r\n", 3);
    assert_int_equal(mail(s, "<a@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    data(s);
    header(s, "Subject", "folded\n\tline");
    eoh(s);
    assert_int_equal(count_files(tmpdir), 0);
    body(s, big);
    assert_true(fa.spool_seen);
    assert_int_equal(count_files(tmpdir), 1);
    assert_int_equal(stat(fa.spool_path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(fa.spool_mode, 0600);
    assert_int_equal(eom(s), RM_ACT_CONTINUE);
    assert_non_null(strstr(fa.spool_head, "Subject: folded\r\n\tline\r\n\r\n"
                                          "xxxx"));
    assert_int_equal(stat(fa.spool_path, &sb), -1);
    assert_int_equal(errno, ENOENT);

    /* removed at ABORT */
    fa.spool_seen = false;
    mail(s, "<a@x.example>");
    rcpt(s, "<b@example.org>");
    data(s);
    eoh(s);
    body(s, big);
    assert_true(fa.spool_seen);
    assert_int_equal(stat(fa.spool_path, &sb), 0);
    pipeline_abort(s);
    assert_int_equal(stat(fa.spool_path, &sb), -1);

    /* removed when the session goes away mid-message */
    fa.spool_seen = false;
    mail(s, "<a@x.example>");
    rcpt(s, "<b@example.org>");
    data(s);
    body(s, big);
    assert_true(fa.spool_seen);
    assert_int_equal(stat(fa.spool_path, &sb), 0);
    pipeline_session_free(s);
    assert_int_equal(stat(fa.spool_path, &sb), -1);
    unload(c);

    /* tempfiles_mode is applied */
    c = load("tempdir = \"%s\"; spool_memory = 0; tempfiles_mode = 0640;\n",
             tmpdir);
    s = session(c);
    fa.spool_seen = false;
    mail(s, "<a@x.example>");
    rcpt(s, "<b@example.org>");
    data(s);
    header(s, "Subject", "s");
    eoh(s);
    assert_true(fa.spool_seen);
    assert_int_equal(stat(fa.spool_path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    pipeline_session_free(s);
    assert_int_equal(stat(fa.spool_path, &sb), -1);
    unload(c);
}

static void
test_spool_failure_applies_policy(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    pipeline_test_set_modules(table_ab, 1);
    /* a temp dir that does not exist: the switch to a file fails */
    c = load("tempdir = \"%s/missing\"; spool_memory = 8;\n", tmpdir);
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_TEMPFAIL);
    assert_int_equal(fa.calls[RM_STAGE_EOM], 0);
    assert_non_null(find_log("spool: cannot write the message", NULL));
    assert_non_null(find_log("msg done:", "fake_a=spool error -> tempfail"));
    pipeline_session_free(s);
    unload(c);

    fa.policy = RM_ON_FAILURE_CONTINUE;
    c = load("tempdir = \"%s/missing\"; spool_memory = 8;\n", tmpdir);
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    pipeline_session_free(s);
    unload(c);
}

static void
test_max_size_gate(void **state)
{
    struct rm_session *s;
    struct rm_config *c;

    (void)state;
    fake_a.flags = RM_MOD_CONTENT;
    pipeline_test_set_modules(table_ab, 2);
    c = load("max_size = 100;\n");
    s = session(c);
    assert_int_equal(txn(s, "<a@x.example>", "<b@example.org>", "s", "b\r\n"),
                     RM_ACT_CONTINUE);
    assert_int_equal(fa.calls[RM_STAGE_EOM], 1);
    assert_int_equal(
        txn(s, "<a@x.example>", "<b@example.org>", "s",
            "0123456789012345678901234567890123456789012345678901234567890"
            "123456789012345678901234567890123456789\r\n"),
        RM_ACT_CONTINUE);
    assert_int_equal(fa.calls[RM_STAGE_EOM], 1);
    assert_int_equal(fb.calls[RM_STAGE_EOM], 2);
    assert_non_null(find_log("size gate:", "over max_size 100"));
    assert_non_null(find_log("msg done:", "fake_a=skipped(oversized)"));
    pipeline_session_free(s);
    unload(c);
    fake_a.flags = 0;
}

/* ---------------------------------------------------------------------- */
/* summary line                                                           */
/* ---------------------------------------------------------------------- */

static void
test_summary_line(void **state)
{
    struct rm_config *c = load("rule { reject \"x\"; envfrom /^never$/; }\n");
    struct rm_session *s = session(c);
    const char *l;
    char want[256];
    int i;

    (void)state;
    pipeline_macro(s, 'M', "i", "ABC123");
    assert_int_equal(mail(s, "<Sender@Example.COM>"), RM_ACT_CONTINUE);
    for (i = 0; i < 10; i++) {
        snprintf(want, sizeof(want), "<r%d@example.org>", i);
        rcpt(s, want);
    }
    message(s, "s", "b\r\n");
    l = find_log("msg done:", NULL);
    assert_non_null(l);
    /* the tag first, then the fields in order */
    assert_true(strlen(l) > 10 && l[10] == ':');
    assert_non_null(
        strstr(l, ": msg done: qid=ABC123; client=mx.example.net[192.0.2.1]; "
                  "from=<Sender@example.com>; rcpt=<r0@example.org>,"));
    assert_non_null(strstr(l, "<r7@example.org>,... (10 total); user=-; "
                              "checks: rules=nomatch ("));
    assert_non_null(strstr(l, "ms); action=accept; time="));
    assert_null(strstr(l, "<r8@"));

    /* network text is made printable: no forged log lines */
    assert_int_equal(mail(s, "<evil\n@x.example>"), RM_ACT_CONTINUE);
    rcpt(s, "<b@example.org>");
    pipeline_abort(s);
    assert_non_null(find_log("msg done:", "from=<evil?@x.example>"));
    pipeline_session_free(s);
    unload(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_tempfail_discard_quarantine,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_add_header_and_accept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rule_and_semantics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rule_negation_and_connect, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rule_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_body_across_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_clears_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quit_nc_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_client_is_127_0_0_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exempt_and_whitelist_skips, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rcpt_tempfail_one_recipient, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_first_final_wins_and_edits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_on_failure_policies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invalid_verdict_and_no_generation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_stages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_memory_then_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spool_failure_applies_policy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_size_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_line, setup, teardown),
    };
    int rc;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rm-pipeline-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    setenv("TMPDIR", tmpdir, 1);
    log_set_hook(capture, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    log_set_hook(NULL, NULL);
    logs_reset();
    rmdir(tmpdir);
    return rc;
}
