/*
 * NAME
 *   test_eom_phase - the parallel EOM phase of the pipeline (core/module.h)
 *   with fake scanner modules and a fake backend
 *
 * DESCRIPTION
 *   The backend is a unix socket served by a thread per connection: a
 *   request line "<delay_ms> <reply>\n" is answered with "<reply>\n" after
 *   delay_ms, and the server records when each request arrived and each
 *   reply left (CLOCK_MONOTONIC). Fake modules (pa, pb, and a plain
 *   on_eom module) are installed with pipeline_test_set_modules; each
 *   phase module adds one exchange to that backend in eom_start, or
 *   answers at once, and turns the reply into the status a test asks for
 *   in eom_finish. Tests check the order of events (the debug lines of
 *   the phase, captured with log_set_hook, and the server's timestamps),
 *   which verdict wins, which hooks ran and what the summary line says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "core/module.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "net/batch.h"
#include "net/io.h"

/* ---------------------------------------------------------------------- */
/* log capture                                                            */
/* ---------------------------------------------------------------------- */

#define MAX_LINES 1024
static char *lines[MAX_LINES];
static size_t n_lines;
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;

static void
capture(int level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    pthread_mutex_lock(&lines_lock);
    if (n_lines < MAX_LINES)
        lines[n_lines++] = strdup(line);
    pthread_mutex_unlock(&lines_lock);
}

static void
logs_reset(void)
{
    while (n_lines > 0)
        free(lines[--n_lines]);
}

/* log_index - the index of the first line holding needle, or -1 */
static long
log_index(const char *needle)
{
    size_t i;

    for (i = 0; i < n_lines; i++)
        if (strstr(lines[i], needle))
            return (long)i;
    return -1;
}

static const char *
find_log(const char *needle)
{
    long i = log_index(needle);

    return i < 0 ? NULL : lines[i];
}

/* ---------------------------------------------------------------------- */
/* the fake backend                                                       */
/* ---------------------------------------------------------------------- */

static char dir[64];
static char sockpath[96];
static struct rm_server srv;
static int lfd = -1;
static pthread_t acceptor;

#define MAX_CONN 64
static struct {
    uint64_t req_ms, rep_ms;
    char reply[32];
} conns[MAX_CONN];
static size_t n_conns;
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[128], reply[32];
    size_t len = 0, k;
    unsigned delay = 0;
    ssize_t n;

    while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            goto out;
        len += (size_t)n;
    }
    buf[len] = '\0';
    pthread_mutex_lock(&conn_lock);
    k = n_conns < MAX_CONN ? n_conns++ : MAX_CONN - 1;
    conns[k].req_ms = now_ms();
    pthread_mutex_unlock(&conn_lock);
    if (sscanf(buf, "%u %30s", &delay, reply) != 2)
        goto out;
    snprintf(conns[k].reply, sizeof(conns[k].reply), "%s", reply);
    usleep(delay * 1000u);
    conns[k].rep_ms = now_ms();
    strcat(reply, "\n");
    if (send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0) {
        /* the client went away (it timed out) */
    }
out:
    close(fd);
    return NULL;
}

static void *
accept_loop(void *arg)
{
    pthread_t t;
    int fd;

    (void)arg;
    for (;;) {
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

static int
group_setup(void **state)
{
    struct sockaddr_un sun;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_eom_phase.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sockpath, sizeof(sockpath), "%s/backend.sock", dir);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(lfd, 64) < 0)
        return -1;
    if (pthread_create(&acceptor, NULL, accept_loop, NULL) != 0)
        return -1;
    srv.path = sockpath;
    srv.text = sockpath;
    srv.weight = 1;
    log_set_level(RM_LOG_DEBUG);
    log_set_hook(capture, NULL);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    log_set_hook(NULL, NULL);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    pthread_join(acceptor, NULL);
    unlink(sockpath);
    rmdir(dir);
    logs_reset();
    return 0;
}

/* ---------------------------------------------------------------------- */
/* fake phase modules                                                     */
/* ---------------------------------------------------------------------- */

struct pfake {
    /* what to do */
    enum rm_status start_status; /* RM_PENDING: add an exchange */
    bool add_anyway;             /* add an exchange, answer start_status */
    unsigned delay_ms;
    const char *reply;
    uint64_t timeout_ms;          /* ex_deadline from now; 0: none */
    enum rm_status finish_status; /* RM_FINAL: action/text below */
    enum rm_action action;
    const char *text;
    enum rm_on_failure policy;
    /* what happened */
    int starts, finishes;
    bool decided_at_finish;
    enum rm_batch_status status;
    char got[64];
    /* the exchange */
    struct rm_batch_ex *ex;
    struct rm_batch_mem src;
    char req[64];
    char rbuf[64];
    size_t rlen;
};

static struct pfake pa, pb;

static void
pfake_reset(struct pfake *f, const char *reply)
{
    memset(f, 0, sizeof(*f));
    f->start_status = RM_PENDING;
    f->finish_status = RM_CONTINUE;
    f->delay_ms = 200;
    f->reply = reply;
}

static int
pfake_feed(void *ud, const void *data, size_t len, bool eof)
{
    struct pfake *f = ud;

    if (len > sizeof(f->rbuf) - 1 - f->rlen)
        return -EMSGSIZE;
    memcpy(f->rbuf + f->rlen, data, len);
    f->rlen += len;
    f->rbuf[f->rlen] = '\0';
    if (memchr(f->rbuf, '\n', f->rlen) != NULL)
        return RM_BATCH_DONE;
    return eof ? -EPIPE : RM_BATCH_MORE;
}

static enum rm_status
pfake_start(struct rm_msg *m, void *mconf, struct rm_eom_batch *b,
            struct rm_verdict *v)
{
    struct pfake *f = mconf;

    (void)m;
    f->starts++;
    if (f->start_status == RM_PENDING || f->add_anyway) {
        f->ex = eom_batch_add(b);
        assert_non_null(f->ex);
        snprintf(f->req, sizeof(f->req), "%u %s\n", f->delay_ms, f->reply);
        f->src.bm_data = f->req;
        f->src.bm_len = strlen(f->req);
        f->ex->ex_name = f == &pa ? "pa" : "pb";
        f->ex->ex_server = &srv;
        f->ex->ex_fill = batch_fill_mem;
        f->ex->ex_fill_ud = &f->src;
        f->ex->ex_feed = pfake_feed;
        f->ex->ex_feed_ud = f;
        if (f->timeout_ms)
            f->ex->ex_deadline_ms = io_deadline(f->timeout_ms);
    }
    if (f->start_status == RM_FINAL)
        return verdict_set(
            v, f->action, f->action == RM_ACT_REJECT ? "554" : "451",
            f->action == RM_ACT_REJECT ? "5.7.1" : "4.7.1", f->text);
    if (f->start_status == RM_PENDING)
        return RM_PENDING;
    verdict_note(v, "immediate");
    return f->start_status;
}

static enum rm_status
pfake_finish(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    struct pfake *f = mconf;
    char *nl;

    f->finishes++;
    f->decided_at_finish = msg_decided(m);
    f->status = f->ex->ex_res.br_status;
    snprintf(f->got, sizeof(f->got), "%s", f->rbuf);
    if ((nl = strchr(f->got, '\n')) != NULL)
        *nl = '\0';
    verdict_note(v, "%s", f->status == RM_BATCH_OK ? f->got : "failed");
    if (f->finish_status == RM_FINAL)
        return verdict_set(
            v, f->action, f->action == RM_ACT_REJECT ? "554" : "451",
            f->action == RM_ACT_REJECT ? "5.7.1" : "4.7.1", f->text);
    return f->finish_status;
}

static int
pinit_a(const struct rm_config *c, void **mconf, struct rm_diag *d)
{
    (void)c;
    (void)d;
    *mconf = &pa;
    return 0;
}

static int
pinit_b(const struct rm_config *c, void **mconf, struct rm_diag *d)
{
    (void)c;
    (void)d;
    *mconf = &pb;
    return 0;
}

static enum rm_on_failure
ppol_a(const struct rm_config *c)
{
    (void)c;
    return pa.policy;
}

static enum rm_on_failure
ppol_b(const struct rm_config *c)
{
    (void)c;
    return pb.policy;
}

static const struct rm_module mod_a = {
    .name = "pa",
    .init = pinit_a,
    .on_failure = ppol_a,
    .eom_start = pfake_start,
    .eom_finish = pfake_finish,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM),
};

static const struct rm_module mod_b = {
    .name = "pb",
    .init = pinit_b,
    .on_failure = ppol_b,
    .eom_start = pfake_start,
    .eom_finish = pfake_finish,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM),
};

/* A plain EOM module between phase modules; answers plain_status. */
static enum rm_status plain_status;
static int plain_calls;

static enum rm_status
plain_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    (void)m;
    (void)mconf;
    plain_calls++;
    if (plain_status == RM_FINAL)
        return verdict_set(v, RM_ACT_REJECT, "554", "5.7.1", "plain");
    return plain_status;
}

static const struct rm_module mod_plain = {
    .name = "plain",
    .on_eom = plain_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM),
};

static const struct rm_module *const table_ab[] = {&mod_a, &mod_b};
static const struct rm_module *const table_apb[] = {&mod_a, &mod_plain, &mod_b};
static const struct rm_module *const table_plain[] = {&mod_plain};

/* ---------------------------------------------------------------------- */
/* sessions                                                               */
/* ---------------------------------------------------------------------- */

static struct rm_reply R;

/* run_message - a generation over table, one message through EOM; the
 * reply is left in R */
static void
run_message(const struct rm_module *const *table, size_t n)
{
    struct rm_config *c = NULL;
    struct rm_diag d = {0};
    struct rm_session *s;
    char *from[] = {"<a@example.org>"}, *to[] = {"<b@example.net>"};

    reply_clear(&R);
    pipeline_test_set_modules(table, n);
    assert_int_equal(cfg_load_string("t.conf", "", 0, &c, &d), 0);
    assert_int_equal(pipeline_generation_init(c, &d), 0);
    s = pipeline_session_new(c, 1);
    reply_init(&R);
    pipeline_connect(s, "mx.example.org", AF_INET, 25, "192.0.2.1", &R);
    reply_clear(&R);
    pipeline_helo(s, "mx.example.org", &R);
    reply_clear(&R);
    pipeline_mail(s, from, 1, &R);
    reply_clear(&R);
    pipeline_rcpt(s, to, 1, &R);
    reply_clear(&R);
    pipeline_data(s, &R);
    reply_clear(&R);
    pipeline_header(s, "Subject", "test", &R);
    reply_clear(&R);
    pipeline_eoh(s, &R);
    reply_clear(&R);
    pipeline_body(s, "hello\r\n", 7, &R);
    reply_clear(&R);
    pipeline_eom(s, &R);
    pipeline_session_free(s);
    cfg_unref(c);
    diag_free(&d);
    pipeline_test_set_modules(NULL, 0);
}

static int
setup(void **state)
{
    (void)state;
    logs_reset();
    pfake_reset(&pa, "ok-a");
    pfake_reset(&pb, "ok-b");
    plain_status = RM_CONTINUE;
    plain_calls = 0;
    pthread_mutex_lock(&conn_lock);
    memset(conns, 0, sizeof(conns));
    n_conns = 0;
    pthread_mutex_unlock(&conn_lock);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    reply_clear(&R);
    return 0;
}

/* conn_of - the server's record of the request answered with reply */
static size_t
conn_of(const char *reply)
{
    size_t i;

    for (i = 0; i < n_conns; i++)
        if (strcmp(conns[i].reply, reply) == 0)
            return i;
    fail_msg("no request for %s reached the backend", reply);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* tests                                                                  */
/* ---------------------------------------------------------------------- */

/* Both requests are out before either reply: the daemon's events and the
 * server's clock agree. */
static void
test_overlap(void **state)
{
    long sent_a, sent_b, done_a, done_b;
    size_t ia, ib;
    const char *sum;

    (void)state;
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_CONTINUE);
    assert_int_equal(pa.finishes, 1);
    assert_int_equal(pb.finishes, 1);
    assert_int_equal(pa.status, RM_BATCH_OK);
    assert_string_equal(pa.got, "ok-a");
    assert_string_equal(pb.got, "ok-b");
    sent_a = log_index("eom: pa sent ");
    sent_b = log_index("eom: pb sent ");
    done_a = log_index("eom: pa done ");
    done_b = log_index("eom: pb done ");
    assert_true(sent_a >= 0 && sent_b >= 0 && done_a >= 0 && done_b >= 0);
    assert_true(sent_a < done_a && sent_a < done_b);
    assert_true(sent_b < done_a && sent_b < done_b);
    assert_int_equal(n_conns, 2);
    ia = conn_of("ok-a");
    ib = conn_of("ok-b");
    assert_true(conns[ia].req_ms <= conns[ib].rep_ms);
    assert_true(conns[ib].req_ms <= conns[ia].rep_ms);
    sum = find_log("msg done:");
    assert_non_null(sum);
    assert_non_null(strstr(sum, "pa=ok-a ("));
    assert_non_null(strstr(sum, "pb=ok-b ("));
    assert_non_null(find_log("eom: 2 exchanges in "));
}

/* The first final verdict in table order wins; the later module's finish
 * still runs (it sees the message decided) and its note is kept. */
static void
test_first_final_wins(void **state)
{
    (void)state;
    pa.finish_status = pb.finish_status = RM_FINAL;
    pa.action = pb.action = RM_ACT_REJECT;
    pa.text = "from a";
    pb.text = "from b";
    pb.delay_ms = 50; /* b answers first: order of replies does not matter */
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_REJECT);
    assert_string_equal(R.text, "from a");
    assert_int_equal(pb.finishes, 1);
    assert_false(pa.decided_at_finish);
    assert_true(pb.decided_at_finish);
    assert_non_null(strstr(find_log("msg done:"), "pb=ok-b"));
}

/* A module that decides at once, with nothing pending before it, ends the
 * phase: later modules are not started, nothing is sent. */
static void
test_immediate_final(void **state)
{
    (void)state;
    pa.start_status = RM_FINAL;
    pa.action = RM_ACT_REJECT;
    pa.text = "at once";
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_REJECT);
    assert_string_equal(R.text, "at once");
    assert_int_equal(pb.starts, 0);
    assert_int_equal(n_conns, 0);
    assert_null(find_log("exchanges in"));
}

/* An immediate answer after a pending module waits for its turn. */
static void
test_immediate_after_pending(void **state)
{
    (void)state;
    pb.start_status = RM_FINAL;
    pb.action = RM_ACT_REJECT;
    pb.text = "b at once";
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_REJECT);
    assert_string_equal(R.text, "b at once");
    assert_int_equal(pa.finishes, 1);
    assert_int_equal(n_conns, 1);

    setup(NULL);
    pa.finish_status = RM_FINAL;
    pa.action = RM_ACT_REJECT;
    pa.text = "a after its scan";
    pb.start_status = RM_FINAL;
    pb.action = RM_ACT_REJECT;
    pb.text = "b at once";
    run_message(table_ab, 2);
    assert_string_equal(R.text, "a after its scan");
}

/* RM_ERROR from a finish applies the module's policy. */
static void
test_error_policy(void **state)
{
    (void)state;
    pa.finish_status = RM_ERROR;
    pa.policy = RM_ON_FAILURE_TEMPFAIL;
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_TEMPFAIL);
    assert_string_equal(R.rcode, "451");
    assert_int_equal(pb.finishes, 1);

    setup(NULL);
    pa.finish_status = RM_ERROR;
    pa.policy = RM_ON_FAILURE_CONTINUE;
    pb.finish_status = RM_FINAL;
    pb.action = RM_ACT_REJECT;
    pb.text = "b";
    run_message(table_ab, 2);
    assert_int_equal(R.action, RM_ACT_REJECT);
    assert_string_equal(R.text, "b");
    assert_non_null(strstr(find_log("msg done:"), "pa=ok-a -> continue"));
}

/* A backend past its own deadline fails its exchange; the other one is
 * not held up by it. */
static void
test_deadline(void **state)
{
    (void)state;
    pa.delay_ms = 3000;
    pa.timeout_ms = 150;
    pb.delay_ms = 20;
    run_message(table_ab, 2);
    assert_int_equal(pa.status, RM_BATCH_TIMEOUT);
    assert_int_equal(pb.status, RM_BATCH_OK);
    assert_true(log_index("eom: pb done ") < log_index("eom: pa failed "));
    assert_non_null(find_log("eom: pa failed"));
}

/* Exchanges of a module that does not wait are dropped unsent. */
static void
test_dropped_exchange(void **state)
{
    (void)state;
    pa.start_status = RM_CONTINUE;
    pa.add_anyway = true;
    run_message(table_ab, 2);
    assert_int_equal(pa.finishes, 0);
    assert_int_equal(pb.finishes, 1);
    assert_int_equal(n_conns, 1);
    assert_string_equal(conns[0].reply, "ok-b");
}

/* A plain on_eom module splits the run into two phases, in order. */
static void
test_split_by_plain(void **state)
{
    (void)state;
    plain_status = RM_FINAL;
    run_message(table_apb, 3);
    assert_int_equal(R.action, RM_ACT_REJECT);
    assert_string_equal(R.text, "plain");
    assert_int_equal(pa.finishes, 1);
    assert_int_equal(plain_calls, 1);
    assert_int_equal(pb.starts, 0);

    setup(NULL);
    run_message(table_apb, 3);
    assert_int_equal(R.action, RM_ACT_CONTINUE);
    assert_int_equal(pa.finishes, 1);
    assert_int_equal(pb.finishes, 1);
    assert_true(log_index("eom: pa done ") < log_index("eom: pb connecting "));
}

/* RM_PENDING from a plain hook is a module failure. */
static void
test_pending_outside_phase(void **state)
{
    (void)state;
    plain_status = RM_PENDING;
    run_message(table_plain, 1);
    assert_int_equal(R.action, RM_ACT_TEMPFAIL);
    assert_non_null(find_log("RM_PENDING outside the parallel EOM phase"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_final_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immediate_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immediate_after_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_by_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_outside_phase, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
