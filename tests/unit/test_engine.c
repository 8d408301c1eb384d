/*
 * NAME
 *   test_engine - the milter engine's session (src/milter/session.c) over a
 *   socketpair: what it negotiates, which commands it answers, and what it
 *   does with an answer at a stage that gets no reply
 *
 * DESCRIPTION
 *   The test plays the MTA: it writes a whole SMTP session's commands
 *   (OPTNEG first, QUIT last) into one end of a socketpair, runs
 *   session_main on the other end in the same thread (it returns at QUIT)
 *   and then reads back every packet the engine wrote. A fake module,
 *   installed with pipeline_test_set_modules, hooks some stages, declares
 *   where it answers (struct rm_module.reply_stages) and answers what a
 *   test asks for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "cfg/cfg.h"
#include "core/module.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "milter/engine.h"

/* ---------------------------------------------------------------------- */
/* log capture                                                            */
/* ---------------------------------------------------------------------- */

static char logs[16384];

static void
capture(int level, const char *line, void *ud)
{
    size_t n = strlen(logs);

    (void)level;
    (void)ud;
    snprintf(logs + n, sizeof(logs) - n, "%s\n", line);
}

/* ---------------------------------------------------------------------- */
/* a fake module                                                          */
/* ---------------------------------------------------------------------- */

static int connect_answer; /* RM_ACT_* to answer at connect, 0: continue */
static int eoh_answer;     /* RM_ACT_* to answer at EOH, 0: continue */
static int eoh_calls;

static enum rm_status
answer(struct rm_verdict *v, int act)
{
    if (act == 0)
        return RM_CONTINUE;
    return verdict_set(v, (enum rm_action)act,
                       act == RM_ACT_TEMPFAIL ? "451" : "550",
                       act == RM_ACT_TEMPFAIL ? "4.7.1" : "5.7.1", "fake");
}

static enum rm_status
fake_connect(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    (void)m;
    (void)mconf;
    return answer(v, connect_answer);
}

static enum rm_status
fake_eoh(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    (void)m;
    (void)mconf;
    eoh_calls++;
    return answer(v, eoh_answer);
}

static enum rm_status
fake_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    (void)m;
    (void)mconf;
    verdict_add_header(v, "X-Fake", "yes");
    return RM_CONTINUE;
}

/* Hooks connect, EOH and EOM and wants headers and the body (the spool),
 * but says it answers at EOM only. */
static const struct rm_module fake_observer = {
    .name = "fake",
    .on_connect = fake_connect,
    .on_eoh = fake_eoh,
    .on_eom = fake_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_EOH) |
              RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions = RM_CAN_ADDHDRS,
    .reply_stages = RM_STAGE_BIT(RM_STAGE_EOM),
};
/* The same, with the default: it may answer wherever it has a hook. */
static const struct rm_module fake_answerer = {
    .name = "fake",
    .on_connect = fake_connect,
    .on_eoh = fake_eoh,
    .on_eom = fake_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_EOH) |
              RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions = RM_CAN_ADDHDRS,
};
static const struct rm_module *const table_observer[] = {&fake_observer};
static const struct rm_module *const table_answerer[] = {&fake_answerer};

/* ---------------------------------------------------------------------- */
/* the MTA side                                                           */
/* ---------------------------------------------------------------------- */

struct wire {
    unsigned char b[8192];
    size_t n;
};

static void
put(struct wire *w, char cmd, const void *data, size_t len)
{
    uint32_t l = htonl((uint32_t)len + 1);

    assert_true(w->n + 5 + len <= sizeof(w->b));
    memcpy(w->b + w->n, &l, 4);
    w->b[w->n + 4] = (unsigned char)cmd;
    memcpy(w->b + w->n + 5, data, len);
    w->n += 5 + len;
}

/* session - the commands of one message with a header written "Subject:x",
 * then QUIT; short: the MTA got a refusal at EOH, so ABORT follows it */
static void
session(struct wire *w, uint32_t offer_proto, bool short_)
{
    uint32_t opt[3] = {htonl(6), htonl(SMFI_CURR_ACTS), htonl(offer_proto)};
    static const char conn[] = "mx.example\0"
                               "4\x12\x34"
                               "192.0.2.1";

    w->n = 0;
    put(w, SMFIC_OPTNEG, opt, sizeof(opt));
    put(w, SMFIC_CONNECT, conn, sizeof(conn));
    put(w, SMFIC_HELO, "mx.example", 11);
    put(w, SMFIC_MAIL, "<a@example.org>", 16);
    put(w, SMFIC_RCPT, "<b@example.net>", 16);
    put(w, SMFIC_DATA, "", 0);
    put(w, SMFIC_HEADER, "Subject\0x", 10);
    put(w, SMFIC_HEADER, "To\0 b@example.net", 18);
    put(w, SMFIC_EOH, "", 0);
    if (short_) {
        put(w, SMFIC_ABORT, "", 0);
    } else {
        put(w, SMFIC_BODY, "hello\r\n", 7);
        put(w, SMFIC_BODYEOB, "", 0);
    }
    put(w, SMFIC_QUIT, "", 0);
}

/* One reply packet: its command and payload. */
struct pkt {
    char cmd;
    unsigned char data[512];
    size_t len;
};

/* run - play w against a session on cfg; the replies into p, their count
 * returned */
static size_t
run(struct rm_config *cfg, const struct wire *w, struct pkt *p, size_t max)
{
    struct rm_engine eng;
    struct rm_conn c;
    unsigned char buf[16384];
    size_t n = 0, off = 0, got = 0;
    ssize_t r;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], w->b, w->n), (ssize_t)w->n);

    memset(&eng, 0, sizeof(eng));
    eng.stop_fd = -1;
    atomic_init(&eng.stopping, false);
    memset(&c, 0, sizeof(c));
    c.fd = sv[1];
    c.id = 1;
    c.cfg = cfg;
    c.eng = &eng;
    atomic_init(&c.killed, false);
    snprintf(c.peer, sizeof(c.peer), "test");
    snprintf(c.via, sizeof(c.via), "socketpair");
    session_main(&c);
    close(sv[1]);

    while ((r = read(sv[0], buf + got, sizeof(buf) - got)) > 0)
        got += (size_t)r;
    close(sv[0]);
    while (off + 5 <= got && n < max) {
        uint32_t l;

        memcpy(&l, buf + off, 4);
        l = ntohl(l);
        assert_true(l >= 1 && off + 4 + l <= got);
        assert_true(l - 1 <= sizeof(p[n].data));
        p[n].cmd = (char)buf[off + 4];
        memcpy(p[n].data, buf + off + 5, l - 1);
        p[n].len = l - 1;
        n++;
        off += 4 + l;
    }
    assert_int_equal(off, got);
    return n;
}

static uint32_t
be32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return ntohl(v);
}

static struct rm_config *
load(const struct rm_module *const *table)
{
    static const char text[] = "spool_memory = 65536;\n";
    struct rm_config *c = NULL;
    struct rm_diag d = {0};

    pipeline_test_set_modules(table, 1);
    assert_int_equal(cfg_load_string("t.conf", text, strlen(text), &c, &d), 0);
    assert_int_equal(pipeline_generation_init(c, &d), 0);
    diag_free(&d);
    return c;
}

static int
setup(void **state)
{
    (void)state;
    logs[0] = '\0';
    connect_answer = eoh_answer = eoh_calls = 0;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* tests                                                                  */
/* ---------------------------------------------------------------------- */

#define NR_ALL                                                                 \
    (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |           \
     SMFIP_NR_DATA | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

/* A module that answers at EOM only: every other stage is negotiated
 * without a reply, so the only packets after OPTNEG are the EOM answer. */
static void
test_no_reply_stages(void **state)
{
    struct rm_config *cfg = load(table_observer);
    struct wire w;
    struct pkt p[16];
    size_t n;

    (void)state;
    session(&w, SMFI_CURR_PROT, false);
    n = run(cfg, &w, p, 16);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].cmd, SMFIC_OPTNEG);
    assert_int_equal(be32(p[0].data + 8) & NR_ALL, NR_ALL);
    assert_true(be32(p[0].data + 8) & SMFIP_HDR_LEADSPC);
    /* EOM: the header, with the space the MTA no longer writes */
    assert_int_equal(p[1].cmd, SMFIR_ADDHEADER);
    assert_int_equal(p[1].len, 12);
    assert_memory_equal(p[1].data, "X-Fake\0 yes\0", 12);
    assert_int_equal(p[2].cmd, SMFIR_CONTINUE);
    assert_int_equal(eoh_calls, 1);
    assert_null(strstr(logs, "answers the next stage"));

    /* an MTA that offers no SMFIP_NR_*: every command is answered */
    session(&w, SMFI_CURR_PROT & ~(uint32_t)(NR_ALL | SMFIP_HDR_LEADSPC),
            false);
    n = run(cfg, &w, p, 16);
    assert_int_equal(n, 1 + 9 + 2);
    assert_int_equal(be32(p[0].data + 8) & (NR_ALL | SMFIP_HDR_LEADSPC), 0);
    for (size_t i = 1; i < 10; i++)
        assert_int_equal(p[i].cmd, SMFIR_CONTINUE);
    assert_int_equal(p[10].cmd, SMFIR_ADDHEADER);
    assert_memory_equal(p[10].data, "X-Fake\0yes\0", 11);
    assert_int_equal(p[11].cmd, SMFIR_CONTINUE);
    cfg_unref(cfg);
}

/* The default reply_stages: the stages the module hooks are answered. */
static void
test_default_answers_hooked_stages(void **state)
{
    struct rm_config *cfg = load(table_answerer);
    struct wire w;
    struct pkt p[16];
    uint32_t proto;
    size_t n;

    (void)state;
    assert_int_equal(
        pipeline_reply_stages(cfg),
        RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_MAIL) |
            RM_STAGE_BIT(RM_STAGE_EOH) | RM_STAGE_BIT(RM_STAGE_EOM));
    eoh_answer = RM_ACT_REJECT;
    session(&w, SMFI_CURR_PROT, true);
    n = run(cfg, &w, p, 16);
    proto = be32(p[0].data + 8);
    assert_int_equal(proto & NR_ALL, SMFIP_NR_HELO | SMFIP_NR_RCPT |
                                         SMFIP_NR_DATA | SMFIP_NR_HDR |
                                         SMFIP_NR_BODY);
    /* CONNECT, MAIL, EOH (the reject) */
    assert_int_equal(n, 4);
    assert_int_equal(p[1].cmd, SMFIR_CONTINUE);
    assert_int_equal(p[2].cmd, SMFIR_CONTINUE);
    assert_int_equal(p[3].cmd, SMFIR_REPLYCODE);
    assert_string_equal((char *)p[3].data, "550 5.7.1 fake");
    assert_null(strstr(logs, "answers the next stage"));
    cfg_unref(cfg);
}

/* A module that answers where it said it would not: the answer is not
 * lost but carried to the next stage that gets a reply (here EOM). */
static void
test_answer_carried(void **state)
{
    struct rm_config *cfg = load(table_observer);
    struct wire w;
    struct pkt p[16];
    size_t n;

    (void)state;
    /* at EOH: the message stays decided; EOM answers it */
    eoh_answer = RM_ACT_TEMPFAIL;
    session(&w, SMFI_CURR_PROT, false);
    n = run(cfg, &w, p, 16);
    assert_int_equal(n, 2);
    assert_int_equal(p[1].cmd, SMFIR_REPLYCODE);
    assert_string_equal((char *)p[1].data, "451 4.7.1 fake");
    assert_non_null(strstr(logs, "conn 1: EOH: tempfail 451 4.7.1 cannot be "
                                 "answered here (negotiated without a "
                                 "reply); it answers the next stage"));

    /* at connect, a decision for that command only, which the pipeline
     * does not keep: the engine carries it to EOM */
    logs[0] = '\0';
    eoh_answer = 0;
    connect_answer = RM_ACT_TEMPFAIL;
    session(&w, SMFI_CURR_PROT, false);
    n = run(cfg, &w, p, 16);
    assert_int_equal(n, 2);
    assert_int_equal(p[1].cmd, SMFIR_REPLYCODE);
    assert_string_equal((char *)p[1].data, "451 4.7.1 fake");
    assert_non_null(strstr(logs, "conn 1: CONNECT: tempfail 451 4.7.1 cannot "
                                 "be answered here"));
    assert_non_null(strstr(logs, "conn 1: EOM: sending the answer carried "
                                 "from an earlier stage"));
    cfg_unref(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_reply_stages, setup),
        cmocka_unit_test_setup(test_default_answers_hooked_stages, setup),
        cmocka_unit_test_setup(test_answer_carried, setup),
    };
    int rc;

    log_set_level(RM_LOG_INFO);
    log_set_hook(capture, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    log_set_hook(NULL, NULL);
    pipeline_test_set_modules(NULL, 0);
    return rc;
}
