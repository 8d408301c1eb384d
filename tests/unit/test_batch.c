/*
 * NAME
 *   test_batch - parallel exchanges against real loopback servers
 *
 * DESCRIPTION
 *   Every peer is a thread made here on 127.0.0.1 (port 0) or a unix
 *   socket in a mkdtemp directory: one that answers at once, one that
 *   answers after a delay, one that never answers, one that closes, one
 *   that speaks garbage, one that reports a failure, one that counts a
 *   streamed body, one that answers early and hangs up; a refused port is
 *   a bound socket that never listens.
 *
 *   Concurrency is asserted on the order of events and on timestamps
 *   taken by the servers (both requests had arrived before either reply
 *   left), never on how long anything took. The one timing fact asserted
 *   is a lower bound: a stalled exchange does not fail before its
 *   deadline. Upstream pools are checked for one ok or fail per use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "net/batch.h"
#include "net/io.h"
#include "net/upstream.h"

#define DELAY_MS 300
#define LONG_MS 10000 /* a deadline for things that must succeed */

static char tmpdir[64];

/* ---------------------------------------------------------------------- */
/* Servers */

enum mode {
    M_ANSWER,  /* read a line, answer "PONG" */
    M_DELAY,   /* read a line, wait DELAY_MS, answer */
    M_STALL,   /* read, never answer (until the client goes) */
    M_CLOSE,   /* read a line, close without a word */
    M_GARBAGE, /* read a line, answer "HELLO" */
    M_FAIL,    /* read a line, answer "FAIL" */
    M_COUNT,   /* read to eof, answer "PONG <bytes> <sum>" */
    M_EARLY,   /* read one byte, answer "TOOBIG", close */
};

struct server {
    enum mode mode;
    int lfd;
    uint16_t port;
    char path[PATH_MAX]; /* unix socket, or "" */
    char text[64];       /* "127.0.0.1:port" */
    pthread_t th;
    /* Recorded by the server thread, read after the join. */
    int served;
    uint64_t got_ms;   /* the first request was in */
    uint64_t reply_ms; /* the first reply was about to be written */
};

static uint64_t
read_request(int fd, enum mode mode, uint64_t *count, uint32_t *sum)
{
    unsigned char buf[65536];
    ssize_t n, i;

    *count = 0;
    *sum = 0;
    for (;;) {
        n = recv(fd, buf, mode == M_EARLY ? 1 : sizeof(buf), 0);
        if (n <= 0)
            break;
        for (i = 0; i < n; i++)
            *sum += buf[i];
        *count += (uint64_t)n;
        if (mode == M_EARLY)
            break;
        if (mode != M_COUNT && memchr(buf, '\n', (size_t)n) != NULL)
            break;
    }
    return io_now_ms();
}

static void
say(int fd, const char *s)
{
    (void)send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static void *
server_main(void *arg)
{
    struct server *s = arg;
    char reply[128], buf[512];
    uint64_t count, got, now;
    uint32_t sum;
    int fd;

    for (;;) {
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break; /* the listener was shut down */
        }
        got = read_request(fd, s->mode, &count, &sum);
        if (s->served == 0)
            s->got_ms = got;
        if (s->mode == M_DELAY)
            usleep(DELAY_MS * 1000);
        now = io_now_ms();
        if (s->served == 0)
            s->reply_ms = now;
        switch (s->mode) {
        case M_ANSWER:
        case M_DELAY:
            say(fd, "PONG\n");
            break;
        case M_STALL:
            while (recv(fd, buf, sizeof(buf), 0) > 0)
                ;
            break;
        case M_CLOSE:
            break;
        case M_GARBAGE:
            say(fd, "HELLO\n");
            break;
        case M_FAIL:
            say(fd, "FAIL\n");
            break;
        case M_COUNT:
            snprintf(reply, sizeof(reply), "PONG %llu %u\n",
                     (unsigned long long)count, sum);
            say(fd, reply);
            break;
        case M_EARLY:
            say(fd, "TOOBIG\n");
            break;
        }
        close(fd);
        s->served++;
    }
    return NULL;
}

static void
server_start(struct server *s, enum mode mode, bool unix_socket)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    if (unix_socket) {
        struct sockaddr_un sun;
        static int seq;

        snprintf(s->path, sizeof(s->path), "%s/s%d.sock", tmpdir, seq++);
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        assert_true(strlen(s->path) < sizeof(sun.sun_path));
        strcpy(sun.sun_path, s->path);
        s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(s->lfd >= 0);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        snprintf(s->text, sizeof(s->text), "unix");
    } else {
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(s->lfd >= 0);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
        s->port = ntohs(sin.sin_port);
        snprintf(s->text, sizeof(s->text), "127.0.0.1:%u", s->port);
    }
    assert_int_equal(listen(s->lfd, 16), 0);
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->th, NULL);
    close(s->lfd);
    if (s->path[0] != '\0')
        unlink(s->path);
}

/* refused_port - a port on 127.0.0.1 where nothing listens: bound, never
 * listening, kept bound (so nobody else takes it) until close(*fd) */
static uint16_t
refused_port(int *fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* blackhole - a listener whose accept queue is full (backlog 0, one
 * connection queued and never accepted): further connects hang in
 * SYN-SENT. Returns the port; close fds[0] and fds[1] afterwards. */
static uint16_t
blackhole(int fds[2])
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[0] >= 0);
    assert_int_equal(bind(fds[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fds[0], 0), 0);
    assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sin, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[1] >= 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&sin, sizeof(sin)), 0);
    return ntohs(sin.sin_port);
}

/* ---------------------------------------------------------------------- */
/* Client side: pools, a reply parser, an event log */

static struct rm_upstream_pool *
pool_of(const char *name, const uint16_t *ports, const unsigned *weights,
        size_t n, enum rm_upstream_policy policy)
{
    struct rm_server srv[4];
    struct rm_servers list = {.n = n, .v = srv};
    char text[4][32];
    size_t i;

    assert_true(n <= 4);
    for (i = 0; i < n; i++) {
        memset(&srv[i], 0, sizeof(srv[i]));
        snprintf(text[i], sizeof(text[i]), "127.0.0.1:%u", ports[i]);
        srv[i].host = (char *)"127.0.0.1";
        srv[i].port = ports[i];
        srv[i].weight = weights ? weights[i] : 1;
        srv[i].text = text[i];
    }
    return upstream_pool_new(name, &list, policy, 60000, 100, 60000);
}

static struct rm_upstream *
member(struct rm_upstream_pool *p, size_t i)
{
    return upstream_pool_member(p, i);
}

static struct rm_upstream_stats
stats(struct rm_upstream_pool *p, size_t i)
{
    struct rm_upstream_stats st;

    upstream_stats(member(p, i), upstream_now_ms(), &st);
    return st;
}

struct reply {
    char buf[256];
    size_t len;
    unsigned long long count;
    unsigned sum;
};

/* feed - a line-based test protocol: PONG / TOOBIG are replies, FAIL a
 * backend failure, anything else a protocol error */
static int
feed(void *ud, const void *data, size_t len, bool eof)
{
    struct reply *r = ud;
    char *nl;

    if (len > sizeof(r->buf) - 1 - r->len)
        return -EMSGSIZE;
    if (len > 0)
        memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->buf[r->len] = '\0';
    (void)eof; /* MORE at eof: the batch calls it closed early */
    nl = strchr(r->buf, '\n');
    if (nl == NULL)
        return RM_BATCH_MORE;
    if (strncmp(r->buf, "PONG", 4) == 0) {
        sscanf(r->buf, "PONG %llu %u", &r->count, &r->sum);
        return RM_BATCH_DONE;
    }
    if (strncmp(r->buf, "TOOBIG", 6) == 0)
        return RM_BATCH_DONE;
    if (strncmp(r->buf, "FAIL", 4) == 0)
        return RM_BATCH_DONE_FAIL;
    return -EPROTO;
}

struct evlog {
    size_t n;
    struct {
        size_t idx;
        enum rm_batch_event ev;
        uint64_t t;
    } e[128];
};

static void
on_event(void *ud, size_t idx, const struct rm_batch_ex *ex,
         enum rm_batch_event ev, uint64_t now)
{
    struct evlog *log = ud;

    (void)ex;
    assert_true(log->n < 128);
    log->e[log->n].idx = idx;
    log->e[log->n].ev = ev;
    log->e[log->n].t = now;
    log->n++;
}

/* ev_pos - the position of the first event ev of exchange idx, or -1 */
static long
ev_pos(const struct evlog *log, size_t idx, enum rm_batch_event ev)
{
    size_t i;

    for (i = 0; i < log->n; i++)
        if (log->e[i].idx == idx && log->e[i].ev == ev)
            return (long)i;
    return -1;
}

/* ex_init - an exchange sending "PING\n" to pool, answered into r */
static void
ex_init(struct rm_batch_ex *ex, const char *name, struct rm_upstream_pool *pool,
        struct reply *r)
{
    memset(ex, 0, sizeof(*ex));
    memset(r, 0, sizeof(*r));
    ex->ex_name = name;
    ex->ex_pool = pool;
    ex->ex_head = "PING\n";
    ex->ex_head_len = 5;
    ex->ex_feed = feed;
    ex->ex_feed_ud = r;
}

/* ---------------------------------------------------------------------- */
/* Tests */

static void
test_parallel_delays(void **state)
{
    struct server s[2];
    struct rm_upstream_pool *p[2];
    struct rm_batch_ex ex[2];
    struct reply r[2];
    struct evlog log = {0};
    long first_done, sent0, sent1;
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        server_start(&s[i], M_DELAY, false);
        p[i] = pool_of(i ? "t-par1" : "t-par0", &s[i].port, NULL, 1,
                       RM_UPSTREAM_RANDOM);
        ex_init(&ex[i], i ? "spamd" : "clamav", p[i], &r[i]);
    }
    assert_int_equal(batch_run(ex, 2, io_deadline(LONG_MS), on_event, &log), 0);
    for (i = 0; i < 2; i++) {
        server_stop(&s[i]);
        assert_int_equal(ex[i].ex_res.br_status, RM_BATCH_OK);
        assert_int_equal(ex[i].ex_res.br_phase, RM_BATCH_PH_DONE);
        assert_int_equal(ex[i].ex_res.br_err, 0);
        assert_string_equal(ex[i].ex_res.br_server, s[i].text);
        assert_ptr_equal(ex[i].ex_res.br_up, member(p[i], 0));
        assert_int_equal(ex[i].ex_res.br_bytes_out, 5);
        assert_int_equal(ex[i].ex_res.br_bytes_in, 5);
        assert_int_equal(s[i].served, 1);
        assert_int_equal(stats(p[i], 0).oks_total, 1);
        assert_int_equal(stats(p[i], 0).fails_total, 0);
    }
    /* Both requests were out before either reply came back... */
    first_done = ev_pos(&log, 0, RM_BATCH_EV_DONE);
    if (ev_pos(&log, 1, RM_BATCH_EV_DONE) < first_done)
        first_done = ev_pos(&log, 1, RM_BATCH_EV_DONE);
    sent0 = ev_pos(&log, 0, RM_BATCH_EV_SENT);
    sent1 = ev_pos(&log, 1, RM_BATCH_EV_SENT);
    assert_true(sent0 >= 0 && sent1 >= 0 && first_done >= 0);
    assert_true(sent0 < first_done && sent1 < first_done);
    /* ...and each server had its request before the other one replied:
     * the two waits overlapped, so the batch took one wait, not two. */
    assert_true(s[0].got_ms <= s[1].reply_ms);
    assert_true(s[1].got_ms <= s[0].reply_ms);
    /* The exchanges' own spans overlap. */
    assert_true(ex[0].ex_res.br_sent_ms <= ex[1].ex_res.br_end_ms);
    assert_true(ex[1].ex_res.br_sent_ms <= ex[0].ex_res.br_end_ms);
    for (i = 0; i < 2; i++)
        upstream_pool_free(p[i]);
}

static void
test_mixed_backends(void **state)
{
    struct server ok, slow, stall;
    int rfd;
    uint16_t rport = refused_port(&rfd);
    struct rm_upstream_pool *p[4];
    struct rm_batch_ex ex[4];
    struct reply r[4];
    struct evlog log = {0};
    uint64_t deadline;
    size_t i;

    (void)state;
    server_start(&ok, M_ANSWER, false);
    server_start(&slow, M_DELAY, false);
    server_start(&stall, M_STALL, false);
    p[0] = pool_of("t-mix-ok", &ok.port, NULL, 1, RM_UPSTREAM_RANDOM);
    p[1] = pool_of("t-mix-slow", &slow.port, NULL, 1, RM_UPSTREAM_RANDOM);
    p[2] = pool_of("t-mix-stall", &stall.port, NULL, 1, RM_UPSTREAM_RANDOM);
    p[3] = pool_of("t-mix-refused", &rport, NULL, 1, RM_UPSTREAM_RANDOM);
    for (i = 0; i < 4; i++)
        ex_init(&ex[i], "x", p[i], &r[i]);
    /* Long enough for the delayed answer, short enough to wait for. */
    deadline = io_deadline(2000);
    assert_int_equal(batch_run(ex, 4, deadline, on_event, &log), -EIO);
    server_stop(&ok);
    server_stop(&slow);
    server_stop(&stall);
    close(rfd);

    assert_int_equal(ex[0].ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(ex[1].ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(ex[2].ex_res.br_status, RM_BATCH_TIMEOUT);
    assert_int_equal(ex[2].ex_res.br_phase, RM_BATCH_PH_READ);
    assert_int_equal(ex[2].ex_res.br_err, -ETIMEDOUT);
    assert_true(ex[2].ex_res.br_end_ms >= deadline); /* not before it */
    assert_int_equal(ex[3].ex_res.br_status, RM_BATCH_REFUSED);
    assert_int_equal(ex[3].ex_res.br_phase, RM_BATCH_PH_CONNECT);
    assert_int_equal(ex[3].ex_res.br_err, -ECONNREFUSED);
    assert_int_equal(ex[3].ex_res.br_attempts, 1);

    /* Order: the refusal, the quick answer, the slow answer, then the
     * stalled one at the deadline. */
    assert_true(ev_pos(&log, 3, RM_BATCH_EV_FAILED) <
                ev_pos(&log, 0, RM_BATCH_EV_DONE));
    assert_true(ev_pos(&log, 0, RM_BATCH_EV_DONE) <
                ev_pos(&log, 1, RM_BATCH_EV_DONE));
    assert_true(ev_pos(&log, 1, RM_BATCH_EV_DONE) <
                ev_pos(&log, 2, RM_BATCH_EV_FAILED));
    /* The stalled request was in flight alongside the slow one. */
    assert_true(stall.got_ms <= slow.reply_ms);

    assert_int_equal(stats(p[0], 0).oks_total, 1);
    assert_int_equal(stats(p[1], 0).oks_total, 1);
    assert_int_equal(stats(p[2], 0).oks_total, 0);
    assert_int_equal(stats(p[2], 0).fails_total, 1);
    assert_int_equal(stats(p[3], 0).fails_total, 1);
    for (i = 0; i < 4; i++) {
        assert_int_equal(stats(p[i], 0).oks_total + stats(p[i], 0).fails_total,
                         1);
        upstream_pool_free(p[i]);
    }
}

static void
test_retry_next_member(void **state)
{
    struct server ok;
    int rfd;
    uint16_t ports[2];
    unsigned weights[2] = {10, 1}; /* the refused one is the master */
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct reply r;
    struct evlog log = {0};
    static const enum rm_batch_event want[] = {
        RM_BATCH_EV_CONNECTING, RM_BATCH_EV_RETRY, RM_BATCH_EV_CONNECTED,
        RM_BATCH_EV_SENT,       RM_BATCH_EV_REPLY, RM_BATCH_EV_DONE};
    size_t i;

    (void)state;
    ports[0] = refused_port(&rfd);
    server_start(&ok, M_ANSWER, false);
    ports[1] = ok.port;
    p = pool_of("t-retry", ports, weights, 2, RM_UPSTREAM_MASTER_SLAVE);
    ex_init(&ex, "rspamd", p, &r);
    ex.ex_attempts = 2;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), on_event, &log),
                     0);
    server_stop(&ok);
    close(rfd);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(ex.ex_res.br_attempts, 2);
    assert_ptr_equal(ex.ex_res.br_up, member(p, 1));
    assert_string_equal(ex.ex_res.br_server, ok.text);
    assert_int_equal(log.n, sizeof(want) / sizeof(want[0]));
    for (i = 0; i < log.n; i++)
        assert_int_equal(log.e[i].ev, want[i]);
    assert_int_equal(stats(p, 0).fails_total, 1);
    assert_int_equal(stats(p, 0).oks_total, 0);
    assert_int_equal(stats(p, 1).oks_total, 1);
    assert_int_equal(stats(p, 1).fails_total, 0);
    upstream_pool_free(p);

    /* With one attempt only, the refusal is final. */
    ports[0] = refused_port(&rfd);
    p = pool_of("t-retry1", ports, weights, 2, RM_UPSTREAM_MASTER_SLAVE);
    ex_init(&ex, "rspamd", p, &r);
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    close(rfd);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_REFUSED);
    assert_int_equal(stats(p, 0).fails_total, 1);
    assert_int_equal(stats(p, 1).fails_total + stats(p, 1).oks_total, 0);
    upstream_pool_free(p);
}

static void
test_connect_timeout_retry(void **state)
{
    struct server ok;
    int bh[2];
    uint16_t ports[2];
    unsigned weights[2] = {10, 1}; /* the black hole is the master */
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct reply r;
    struct evlog log = {0};

    (void)state;
    ports[0] = blackhole(bh);
    server_start(&ok, M_ANSWER, false);
    ports[1] = ok.port;
    p = pool_of("t-ctimeout", ports, weights, 2, RM_UPSTREAM_MASTER_SLAVE);
    ex_init(&ex, "clamav", p, &r);
    ex.ex_attempts = 2;
    ex.ex_connect_ms = 100;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), on_event, &log),
                     0);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(ex.ex_res.br_attempts, 2);
    assert_int_equal(log.e[0].ev, RM_BATCH_EV_CONNECTING);
    assert_int_equal(log.e[1].ev, RM_BATCH_EV_RETRY);
    assert_true(log.e[1].t >= log.e[0].t + 100); /* not before its time */
    assert_int_equal(stats(p, 0).fails_total, 1);
    assert_int_equal(stats(p, 1).oks_total, 1);
    upstream_pool_free(p);

    /* One attempt: the connect timeout is the result. */
    p = pool_of("t-ctimeout1", ports, weights, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex, "clamav", p, &r);
    ex.ex_connect_ms = 100;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_TIMEOUT);
    assert_int_equal(ex.ex_res.br_phase, RM_BATCH_PH_CONNECT);
    assert_int_equal(ex.ex_res.br_err, -ETIMEDOUT);
    assert_int_equal(stats(p, 0).fails_total, 1);
    upstream_pool_free(p);
    server_stop(&ok);
    close(bh[1]);
    close(bh[0]);
}

/* one - run a single exchange against a fresh server in mode */
static void
one(enum mode mode, const char *pool_name, enum rm_batch_status want,
    enum rm_batch_phase phase, int err, bool counts_as_fail)
{
    struct server s;
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct reply r;

    server_start(&s, mode, false);
    p = pool_of(pool_name, &s.port, NULL, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex, pool_name, p, &r);
    batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, want);
    assert_int_equal(ex.ex_res.br_phase, phase);
    assert_int_equal(ex.ex_res.br_err, err);
    assert_int_equal(stats(p, 0).fails_total, counts_as_fail ? 1 : 0);
    assert_int_equal(stats(p, 0).oks_total, counts_as_fail ? 0 : 1);
    upstream_pool_free(p);
}

static void
test_bad_backends(void **state)
{
    (void)state;
    one(M_CLOSE, "t-close", RM_BATCH_CLOSED, RM_BATCH_PH_READ, -IO_ECLOSED,
        true);
    one(M_GARBAGE, "t-garbage", RM_BATCH_PROTO, RM_BATCH_PH_READ, -EPROTO,
        true);
    one(M_FAIL, "t-fail", RM_BATCH_BACKEND, RM_BATCH_PH_READ, -EREMOTEIO, true);
    one(M_ANSWER, "t-answer", RM_BATCH_OK, RM_BATCH_PH_DONE, 0, false);
}

static void
test_unix_socket_server(void **state)
{
    struct server s;
    struct rm_server srv;
    struct rm_batch_ex ex;
    struct reply r;

    (void)state;
    server_start(&s, M_ANSWER, true);
    memset(&srv, 0, sizeof(srv));
    srv.path = s.path;
    srv.text = s.path;
    ex_init(&ex, "clamav", NULL, &r);
    ex.ex_server = &srv;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), 0);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_null(ex.ex_res.br_up);
    assert_string_equal(ex.ex_res.br_server, s.path);

    /* A missing socket file is a refusal. */
    ex_init(&ex, "clamav", NULL, &r);
    ex.ex_server = &srv;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_REFUSED);
    assert_int_equal(ex.ex_res.br_err, -ENOENT);
}

static void
test_stream_file_body(void **state)
{
    enum { SIZE = 8 * 1024 * 1024 + 123 };
    struct server s;
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct rm_batch_range range;
    struct reply r;
    char path[PATH_MAX];
    unsigned char *data;
    uint32_t sum = 'H' + 'E' + 'A' + 'D' + '\n';
    size_t i;
    int fd;

    (void)state;
    data = malloc(SIZE);
    assert_non_null(data);
    for (i = 0; i < SIZE; i++) {
        data[i] = (unsigned char)(i * 7 + (i >> 11));
        sum += data[i];
    }
    snprintf(path, sizeof(path), "%s/body.XXXXXX", tmpdir);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, SIZE), SIZE);
    free(data);

    server_start(&s, M_COUNT, false);
    p = pool_of("t-stream", &s.port, NULL, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex, "spamd", p, &r);
    ex.ex_head = "HEAD\n";
    ex.ex_head_len = 5;
    range.rg_pread = batch_pread_fd;
    range.rg_src = &fd;
    range.rg_off = 0;
    range.rg_end = SIZE;
    ex.ex_fill = batch_fill_range;
    ex.ex_fill_ud = &range;
    ex.ex_shut_wr = true; /* the server reads to eof */
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), 0);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(ex.ex_res.br_bytes_out, 5 + SIZE);
    assert_int_equal(r.count, 5 + SIZE);
    assert_int_equal(r.sum, sum);
    assert_int_equal(range.rg_off, SIZE);

    assert_int_equal(stats(p, 0).oks_total, 1);
    upstream_pool_free(p);

    /* A source that comes up short is our failure, not the server's. */
    server_start(&s, M_COUNT, false);
    p = pool_of("t-stream2", &s.port, NULL, 1, RM_UPSTREAM_RANDOM);
    range.rg_off = 0;
    range.rg_end = SIZE + 10;
    ex_init(&ex, "spamd", p, &r);
    ex.ex_fill = batch_fill_range;
    ex.ex_fill_ud = &range;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_LOCAL);
    assert_int_equal(ex.ex_res.br_phase, RM_BATCH_PH_WRITE);
    assert_int_equal(ex.ex_res.br_err, -EIO);
    assert_int_equal(stats(p, 0).oks_total, 0);
    assert_int_equal(stats(p, 0).fails_total, 0);
    upstream_pool_free(p);
    close(fd);
    unlink(path);
}

static int
fill_fail(void *ud, void *buf, size_t size, size_t *len)
{
    (void)ud;
    (void)buf;
    (void)size;
    *len = 0;
    return -ENOMEM;
}

static void
test_local_failure(void **state)
{
    struct server s;
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct reply r;

    (void)state;
    server_start(&s, M_ANSWER, false);
    p = pool_of("t-local", &s.port, NULL, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex, "spamd", p, &r);
    ex.ex_fill = fill_fail;
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_LOCAL);
    assert_int_equal(ex.ex_res.br_err, -ENOMEM);
    assert_int_equal(stats(p, 0).oks_total + stats(p, 0).fails_total, 0);
    upstream_pool_free(p);
}

static void
test_early_reply(void **state)
{
    enum { SIZE = 32 * 1024 * 1024 };
    struct server s;
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex;
    struct rm_batch_mem mem;
    struct reply r;
    char *big;

    (void)state;
    big = calloc(1, SIZE);
    assert_non_null(big);
    server_start(&s, M_EARLY, false);
    p = pool_of("t-early", &s.port, NULL, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex, "clamav", p, &r);
    mem.bm_data = big;
    mem.bm_len = SIZE;
    mem.bm_off = 0;
    ex.ex_fill = batch_fill_mem;
    ex.ex_fill_ud = &mem;
    /* The server answers after one byte and hangs up: its answer counts,
     * not the broken pipe. */
    assert_int_equal(batch_run(&ex, 1, io_deadline(LONG_MS), NULL, NULL), 0);
    server_stop(&s);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_string_equal(r.buf, "TOOBIG\n");
    assert_true(ex.ex_res.br_bytes_out < 5 + (uint64_t)SIZE);
    assert_int_equal(stats(p, 0).oks_total, 1);
    upstream_pool_free(p);
    free(big);
}

static void
test_own_deadline(void **state)
{
    struct server stall, slow;
    struct rm_upstream_pool *p[2];
    struct rm_batch_ex ex[2];
    struct reply r[2];
    struct evlog log = {0};
    uint64_t own;

    (void)state;
    server_start(&stall, M_STALL, false);
    server_start(&slow, M_DELAY, false);
    p[0] = pool_of("t-own0", &stall.port, NULL, 1, RM_UPSTREAM_RANDOM);
    p[1] = pool_of("t-own1", &slow.port, NULL, 1, RM_UPSTREAM_RANDOM);
    ex_init(&ex[0], "karma", p[0], &r[0]);
    ex_init(&ex[1], "spamd", p[1], &r[1]);
    own = io_deadline(50);
    ex[0].ex_deadline_ms = own;
    assert_int_equal(batch_run(ex, 2, io_deadline(LONG_MS), on_event, &log),
                     -EIO);
    server_stop(&stall);
    server_stop(&slow);
    assert_int_equal(ex[0].ex_res.br_status, RM_BATCH_TIMEOUT);
    assert_true(ex[0].ex_res.br_end_ms >= own);
    assert_int_equal(ex[1].ex_res.br_status, RM_BATCH_OK);
    /* The short deadline ended only its own exchange, first. */
    assert_true(ev_pos(&log, 0, RM_BATCH_EV_FAILED) <
                ev_pos(&log, 1, RM_BATCH_EV_DONE));
    upstream_pool_free(p[0]);
    upstream_pool_free(p[1]);
}

static void
test_no_server_and_args(void **state)
{
    struct rm_servers none = {0};
    struct rm_upstream_pool *p;
    struct rm_batch_ex ex[RM_BATCH_MAX + 1];
    struct reply r;

    (void)state;
    p = upstream_pool_new("t-empty", &none, RM_UPSTREAM_RANDOM, 1, 1, 1);
    ex_init(&ex[0], "x", p, &r);
    assert_int_equal(batch_run(ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    assert_int_equal(ex[0].ex_res.br_status, RM_BATCH_NOSERVER);
    assert_null(ex[0].ex_res.br_up);
    upstream_pool_free(p);

    ex_init(&ex[0], "x", NULL, &r);
    assert_int_equal(batch_run(ex, 1, io_deadline(LONG_MS), NULL, NULL), -EIO);
    assert_int_equal(ex[0].ex_res.br_status, RM_BATCH_NOSERVER);

    assert_int_equal(batch_run(ex, 0, 0, NULL, NULL), 0);
    assert_int_equal(batch_run(ex, RM_BATCH_MAX + 1, 0, NULL, NULL), -EINVAL);
    ex[0].ex_feed = NULL;
    assert_int_equal(batch_run(ex, 1, 0, NULL, NULL), -EINVAL);

    assert_string_equal(batch_status_name(RM_BATCH_TIMEOUT), "timeout");
    assert_string_equal(batch_status_name(RM_BATCH_CLOSED), "closed early");
    assert_string_equal(batch_event_name(RM_BATCH_EV_SENT), "sent");
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_batch.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_delays),
        cmocka_unit_test(test_mixed_backends),
        cmocka_unit_test(test_retry_next_member),
        cmocka_unit_test(test_connect_timeout_retry),
        cmocka_unit_test(test_bad_backends),
        cmocka_unit_test(test_unix_socket_server),
        cmocka_unit_test(test_stream_file_body),
        cmocka_unit_test(test_local_failure),
        cmocka_unit_test(test_early_reply),
        cmocka_unit_test(test_own_deadline),
        cmocka_unit_test(test_no_server_and_args),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
