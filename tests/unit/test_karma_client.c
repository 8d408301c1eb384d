/*
 * NAME
 *   test_karma_client - one BQuery exchange against in-process servers
 *
 * DESCRIPTION
 *   A small UDP (and TCP) server on 127.0.0.1 runs on a thread of the test
 *   and answers each packet by a script: answer, drop, answer with another
 *   id first, garbage, an error reply. The exchange must: match replies by
 *   id and ignore strays; retransmit with the same id on its window
 *   schedule and take a reply to any of the sends; fail a member at once
 *   on garbage or an ICMP refusal; give up at the deadline; keep the
 *   retransmission windows when finish is called late; move to the next
 *   member of the pool; frame TCP with the 4-byte length and refuse
 *   frames of 64 KiB; report every member used exactly once to its pool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/karma_client.h"
#include "net/io.h"
#include "proto/bencode.h"

enum act { A_ANSWER, A_DROP, A_STRAY, A_GARBAGE, A_ERROR, A_BIGFRAME };

#define MAX_ACTS 8

struct fake {
    int fd, lfd; /* UDP socket / TCP listener */
    bool tcp;
    uint16_t port;
    enum act acts[MAX_ACTS]; /* per packet; the last repeats */
    size_t n_acts;
    atomic_int got;         /* packets received */
    char ids[MAX_ACTS][64]; /* the id of each packet */
    atomic_bool stop;
    pthread_t th;
};

static void
reply_for(const char *id, enum act a, struct pbuf *pb)
{
    struct rm_bencode *d = bencode_dict(), *c = bencode_dict(),
                      *v = bencode_dict();

    if (a == A_GARBAGE) {
        pbuf_adds(pb, "garbage!");
        bencode_free(d);
        bencode_free(c);
        bencode_free(v);
        return;
    }
    bencode_dict_set(d, "_", bencode_strz(a == A_STRAY ? "someone-else" : id));
    if (a == A_ERROR) {
        bencode_dict_set(d, "error", bencode_int(1));
        bencode_dict_set(d, "message",
                         bencode_strz("Incorrect user and/or password."));
        bencode_free(c);
        bencode_free(v);
    } else {
        bencode_dict_set(v, "v", bencode_int(a == A_STRAY ? 1000 : -1000));
        bencode_dict_set(v, "d", bencode_strz("test: bad"));
        bencode_dict_set(c, "fs", v);
        bencode_dict_set(d, "c", c);
    }
    bencode_encode(d, pb);
    bencode_free(d);
}

/* packet_id - the id of a query (the server side) */
static void
packet_id(const char *buf, size_t len, char *id, size_t size)
{
    struct rm_bencode *q = NULL;
    const struct rm_bencode *v;

    id[0] = '\0';
    if (bencode_decode(buf, len, &q, NULL, 0) == 0 &&
        (v = bencode_dict_get(q, "_")) != NULL && v->type == RM_BENCODE_STR)
        snprintf(id, size, "%s", v->s);
    bencode_free(q);
}

static enum act
next_act(struct fake *f, const char *id)
{
    int n = atomic_fetch_add(&f->got, 1);

    if (n < MAX_ACTS)
        snprintf(f->ids[n], sizeof(f->ids[n]), "%s", id);
    return f->acts[(size_t)n < f->n_acts ? (size_t)n : f->n_acts - 1];
}

static void
udp_serve(struct fake *f)
{
    struct sockaddr_storage peer;
    socklen_t plen;
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    char buf[4096], id[64];
    struct pbuf pb = {0};
    ssize_t n;
    enum act a;

    while (!atomic_load(&f->stop)) {
        if (poll(&p, 1, 20) <= 0)
            continue;
        plen = sizeof(peer);
        n = recvfrom(f->fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer,
                     &plen);
        if (n <= 0)
            continue;
        packet_id(buf, (size_t)n, id, sizeof(id));
        a = next_act(f, id);
        if (a == A_DROP)
            continue;
        if (a == A_STRAY) {
            reply_for(id, A_STRAY, &pb);
            sendto(f->fd, pb.pb_data, pb.pb_len, 0, (struct sockaddr *)&peer,
                   plen);
            pbuf_free(&pb);
            a = A_ANSWER;
        }
        reply_for(id, a, &pb);
        sendto(f->fd, pb.pb_data, pb.pb_len, 0, (struct sockaddr *)&peer, plen);
        pbuf_free(&pb);
    }
}

static void
send_frame(int fd, const void *data, size_t len, uint32_t claimed)
{
    unsigned char h[4] = {
        (unsigned char)(claimed >> 24), (unsigned char)(claimed >> 16),
        (unsigned char)(claimed >> 8), (unsigned char)claimed};

    assert_int_equal(io_write_all(fd, h, 4, io_deadline(1000)), 0);
    if (len > 0)
        assert_int_equal(io_write_all(fd, data, len, io_deadline(1000)), 0);
}

static void
tcp_serve(struct fake *f)
{
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};
    unsigned char h[4];
    char buf[4096], id[64];
    struct pbuf pb = {0};
    uint32_t len;
    enum act a;
    int c;

    while (!atomic_load(&f->stop)) {
        if (poll(&p, 1, 20) <= 0)
            continue;
        c = accept(f->lfd, NULL, NULL);
        if (c < 0)
            continue;
        if (io_read_exact(c, h, 4, io_deadline(2000)) == 0) {
            len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                  (uint32_t)h[2] << 8 | h[3];
            if (len < sizeof(buf) &&
                io_read_exact(c, buf, len, io_deadline(2000)) == 0) {
                packet_id(buf, len, id, sizeof(id));
                a = next_act(f, id);
                if (a == A_BIGFRAME) {
                    send_frame(c, NULL, 0, RM_KARMA_TCP_MAX);
                } else if (a != A_DROP) {
                    if (a == A_STRAY) {
                        reply_for(id, A_STRAY, &pb);
                        send_frame(c, pb.pb_data, pb.pb_len,
                                   (uint32_t)pb.pb_len);
                        pbuf_free(&pb);
                        a = A_ANSWER;
                    }
                    reply_for(id, a, &pb);
                    send_frame(c, pb.pb_data, pb.pb_len, (uint32_t)pb.pb_len);
                    pbuf_free(&pb);
                } else {
                    /* silent: hold the connection until the client quits */
                    struct pollfd cp = {.fd = c, .events = POLLIN};

                    while (!atomic_load(&f->stop) && poll(&cp, 1, 20) == 0)
                        ;
                }
            }
        }
        close(c);
    }
}

static void *
serve(void *arg)
{
    struct fake *f = arg;

    if (f->tcp)
        tcp_serve(f);
    else
        udp_serve(f);
    return NULL;
}

static struct fake *
fake_start(bool tcp, const enum act *acts, size_t n)
{
    struct fake *f = calloc(1, sizeof(*f));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int s;

    f->tcp = tcp;
    memcpy(f->acts, acts, n * sizeof(*acts));
    f->n_acts = n;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    if (tcp) {
        assert_int_equal(listen(s, 8), 0);
        f->lfd = s;
    } else {
        f->fd = s;
    }
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
    return f;
}

static void
fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->tcp ? f->lfd : f->fd);
    free(f);
}

/* a free UDP port: bound, then closed */
static uint16_t
closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    return ntohs(sa.sin_port);
}

/* --- the client side ----------------------------------------------------- */

struct client {
    struct rm_server srv[2];
    char text[2][32];
    struct rm_servers servers;
    struct rm_upstream_pool *pool;
    struct rm_karma_x x;
    struct rm_karma_reply r;
    char why[256];
};

static unsigned pool_seq;
static unsigned test_maxerrors = 100; /* of the pools client_init makes */
static uint64_t test_dead_ms = 60000;

static void
client_init(struct client *c, const uint16_t *ports, size_t n, bool tcp,
            uint64_t timeout, unsigned retries)
{
    struct rm_karma_x_opts o = {0};
    char name[32];
    size_t i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < n; i++) {
        snprintf(c->text[i], sizeof(c->text[i]), "127.0.0.1:%u", ports[i]);
        c->srv[i].host = "127.0.0.1";
        c->srv[i].port = ports[i];
        c->srv[i].weight = 1;
        c->srv[i].text = c->text[i];
    }
    c->servers.n = n;
    c->servers.v = c->srv;
    /* a new pool name per test: health state is shared by name */
    snprintf(name, sizeof(name), "karma-test-%u", ++pool_seq);
    c->pool = upstream_pool_new(name, &c->servers, RM_UPSTREAM_ROUND_ROBIN,
                                60000, test_maxerrors, test_dead_ms);
    o.pool = c->pool;
    o.tcp = tcp;
    o.timeout_ms = timeout;
    o.retries = retries;
    o.feedset = "fs";
    o.tag = "test";
    karma_x_init(&c->x, &o);
}

static int
client_run(struct client *c, const char *id)
{
    struct pbuf pb = {0};
    char pkt[128];

    snprintf(pkt, sizeof(pkt), "d1:_%zu:%s1:ilee", strlen(id), id);
    pbuf_adds(&pb, pkt);
    karma_x_start(&c->x, id, pb.pb_data, pb.pb_len);
    pbuf_free(&pb);
    return karma_x_finish(&c->x, &c->r, c->why, sizeof(c->why));
}

static void
client_done(struct client *c)
{
    karma_reply_free(&c->r);
    karma_x_free(&c->x);
    upstream_pool_free(c->pool);
}

/* stats of member i */
static void
member(struct client *c, size_t i, uint64_t *oks, uint64_t *fails)
{
    struct rm_upstream_stats st;

    upstream_stats(upstream_pool_member(c->pool, i), upstream_now_ms(), &st);
    *oks = st.oks_total;
    *fails = st.fails_total;
}

static void
expect_member(struct client *c, size_t i, uint64_t oks, uint64_t fails)
{
    uint64_t o, f;

    member(c, i, &o, &f);
    assert_int_equal(o, oks);
    assert_int_equal(f, fails);
}

/* --- tests --------------------------------------------------------------- */

static void
test_windows(void **state)
{
    uint64_t sum = 0;
    unsigned k;

    (void)state;
    assert_int_equal(karma_x_window_ms(2000, 2, 0), 285);
    assert_int_equal(karma_x_window_ms(2000, 2, 1), 571);
    assert_int_equal(karma_x_window_ms(2000, 2, 2), 1144);
    assert_int_equal(karma_x_window_ms(2000, 2, 3), 0);
    assert_int_equal(karma_x_window_ms(1000, 0, 0), 1000);
    for (k = 0; k <= 10; k++)
        sum += karma_x_window_ms(60000, 10, k);
    assert_int_equal(sum, 60000);
    assert_true(karma_x_window_ms(5, 10, 0) >= 1);
}

static void
test_udp_answer(void **state)
{
    static const enum act acts[] = {A_ANSWER};
    struct fake *f = fake_start(false, acts, 1);
    struct client c;

    (void)state;
    client_init(&c, &f->port, 1, false, 2000, 2);
    assert_int_equal(client_run(&c, "id-1"), 0);
    assert_true(c.r.has_verdict);
    assert_int_equal(c.r.value, -1000);
    assert_string_equal(c.r.combiner, "fs");
    assert_int_equal(atomic_load(&f->got), 1);
    assert_string_equal(f->ids[0], "id-1");
    assert_string_equal(karma_x_server(&c.x), c.text[0]);
    expect_member(&c, 0, 1, 0);
    client_done(&c);
    fake_stop(f);
}

static void
test_udp_retransmit_and_stray(void **state)
{
    static const enum act acts[] = {A_DROP, A_DROP, A_STRAY};
    struct fake *f = fake_start(false, acts, 3);
    struct client c;
    uint64_t t0 = io_now_ms(), dt;

    (void)state;
    client_init(&c, &f->port, 1, false, 700, 2); /* windows 100, 200, 400 */
    assert_int_equal(client_run(&c, "id-2"), 0);
    dt = io_now_ms() - t0;
    assert_int_equal(c.r.value, -1000); /* not the stray's +1000 */
    assert_int_equal(atomic_load(&f->got), 3);
    assert_string_equal(f->ids[1], "id-2"); /* retransmissions: same id */
    assert_string_equal(f->ids[2], "id-2");
    assert_true(dt >= 300 && dt < 700);
    expect_member(&c, 0, 1, 0);
    client_done(&c);
    fake_stop(f);
}

static void
test_udp_timeout(void **state)
{
    static const enum act acts[] = {A_DROP};
    struct fake *f = fake_start(false, acts, 1);
    struct client c;
    uint64_t t0 = io_now_ms(), dt;

    (void)state;
    client_init(&c, &f->port, 1, false, 400, 1);
    assert_int_equal(client_run(&c, "id-3"), -RM_KARMA_X_TIMEOUT);
    dt = io_now_ms() - t0;
    assert_string_equal(c.why, "timeout");
    assert_true(dt >= 400 && dt < 600);
    assert_int_equal(atomic_load(&f->got), 2);
    expect_member(&c, 0, 0, 1); /* one failure per exchange, not per send */
    client_done(&c);
    fake_stop(f);
}

static void
test_udp_garbage_refused_error(void **state)
{
    static const enum act garbage[] = {A_GARBAGE};
    static const enum act err[] = {A_ERROR};
    struct fake *f = fake_start(false, garbage, 1);
    struct client c;
    uint16_t port;
    uint64_t t0 = io_now_ms();

    (void)state;
    client_init(&c, &f->port, 1, false, 2000, 2);
    assert_int_equal(client_run(&c, "id-4"), -RM_KARMA_X_BADREPLY);
    assert_true(io_now_ms() - t0 < 1000); /* at once, not at the deadline */
    assert_non_null(strstr(c.why, "bad reply: offset 0"));
    expect_member(&c, 0, 0, 1);
    client_done(&c);
    fake_stop(f);

    port = closed_port();
    t0 = io_now_ms();
    client_init(&c, &port, 1, false, 2000, 2);
    assert_int_equal(client_run(&c, "id-5"), -RM_KARMA_X_REFUSED);
    assert_true(io_now_ms() - t0 < 1000);
    expect_member(&c, 0, 0, 1);
    client_done(&c);

    f = fake_start(false, err, 1);
    client_init(&c, &f->port, 1, false, 2000, 2);
    assert_int_equal(client_run(&c, "id-6"), -RM_KARMA_X_ERRREPLY);
    assert_string_equal(c.why, "server error: Incorrect user and/or password.");
    assert_true(c.r.error);
    expect_member(&c, 0, 1, 0); /* the server works */
    client_done(&c);
    fake_stop(f);
}

static void
test_udp_late_finish(void **state)
{
    static const enum act acts[] = {A_DROP, A_ANSWER};
    struct fake *f = fake_start(false, acts, 2);
    struct client c;
    struct pbuf pb = {0};

    (void)state;
    client_init(&c, &f->port, 1, false, 300, 2);
    pbuf_adds(&pb, "d1:_4:id-71:ilee");
    karma_x_start(&c.x, "id-7", pb.pb_data, pb.pb_len);
    pbuf_free(&pb);
    usleep(500 * 1000); /* the body takes longer than the whole timeout */
    assert_int_equal(karma_x_finish(&c.x, &c.r, c.why, sizeof(c.why)), 0);
    assert_int_equal(atomic_load(&f->got), 2);
    client_done(&c);
    fake_stop(f);
}

static void
test_udp_next_member(void **state)
{
    static const enum act drop[] = {A_DROP};
    static const enum act answer[] = {A_ANSWER};
    struct fake *f1 = fake_start(false, drop, 1);
    struct fake *f2 = fake_start(false, answer, 1);
    uint16_t ports[2] = {f1->port, f2->port};
    struct client c;

    (void)state;
    client_init(&c, ports, 2, false, 700, 2);
    assert_int_equal(client_run(&c, "id-8"), 0);
    assert_int_equal(atomic_load(&f1->got), 1);
    assert_int_equal(atomic_load(&f2->got), 1);
    assert_string_equal(karma_x_server(&c.x), c.text[1]);
    expect_member(&c, 0, 0, 1);
    expect_member(&c, 1, 1, 0);
    client_done(&c);
    fake_stop(f1);
    fake_stop(f2);
}

static void
test_udp_dead(void **state)
{
    static const enum act acts[] = {A_DROP, A_ANSWER};
    struct fake *f = fake_start(false, acts, 2);
    struct rm_karma_x_opts o = {0};
    struct client c;
    uint64_t t0;

    (void)state;
    test_maxerrors = 1;
    test_dead_ms = 300;
    client_init(&c, &f->port, 1, false, 200, 0);
    assert_int_equal(client_run(&c, "id-d1"), -RM_KARMA_X_TIMEOUT);
    assert_false(
        upstream_is_alive(upstream_pool_member(c.pool, 0), upstream_now_ms()));
    /* the only member is dead: the next exchange is not even sent */
    o.pool = c.pool;
    o.timeout_ms = 200;
    o.feedset = "fs";
    karma_x_free(&c.x);
    karma_x_init(&c.x, &o);
    t0 = io_now_ms();
    assert_int_equal(client_run(&c, "id-d2"), -RM_KARMA_X_DEAD);
    assert_true(io_now_ms() - t0 < 50);
    assert_string_equal(c.why, "all servers are dead");
    assert_int_equal(atomic_load(&f->got), 1);
    /* after dead_time it is offered again */
    usleep(350 * 1000);
    karma_x_free(&c.x);
    karma_x_init(&c.x, &o);
    assert_int_equal(client_run(&c, "id-d3"), 0);
    assert_int_equal(atomic_load(&f->got), 2);
    test_maxerrors = 100;
    test_dead_ms = 60000;
    client_done(&c);
    fake_stop(f);
}

static void
test_tcp(void **state)
{
    static const enum act stray[] = {A_STRAY};
    static const enum act big[] = {A_BIGFRAME};
    static const enum act drop[] = {A_DROP};
    struct fake *f = fake_start(true, stray, 1);
    struct client c;
    uint64_t t0;

    (void)state;
    client_init(&c, &f->port, 1, true, 2000, 0);
    assert_int_equal(client_run(&c, "id-9"), 0);
    assert_int_equal(c.r.value, -1000);
    assert_string_equal(f->ids[0], "id-9");
    expect_member(&c, 0, 1, 0);
    client_done(&c);
    fake_stop(f);

    f = fake_start(true, big, 1);
    client_init(&c, &f->port, 1, true, 2000, 0);
    assert_int_equal(client_run(&c, "id-10"), -RM_KARMA_X_BADREPLY);
    assert_non_null(strstr(c.why, "frame of 65536 bytes"));
    client_done(&c);
    fake_stop(f);

    f = fake_start(true, drop, 1);
    t0 = io_now_ms();
    client_init(&c, &f->port, 1, true, 300, 0);
    assert_int_equal(client_run(&c, "id-11"), -RM_KARMA_X_TIMEOUT);
    assert_true(io_now_ms() - t0 < 600);
    expect_member(&c, 0, 0, 1);
    client_done(&c);
    fake_stop(f);
}

static void
test_large_query_uses_tcp(void **state)
{
    static const enum act acts[] = {A_ANSWER};
    struct fake *f = fake_start(true, acts, 1);
    struct client c;
    struct pbuf pb = {0};
    size_t i;

    (void)state;
    /* a UDP exchange whose packet is too large goes to the same port over
     * TCP (this fake only speaks TCP there) */
    client_init(&c, &f->port, 1, false, 2000, 0);
    pbuf_adds(&pb, "d1:_5:id-121:ill");
    pbuf_addf(&pb, "%d:", 1100);
    for (i = 0; i < 1100; i++)
        pbuf_addc(&pb, 'x');
    pbuf_adds(&pb, "6:domaineee");
    karma_x_start(&c.x, "id-12", pb.pb_data, pb.pb_len);
    pbuf_free(&pb);
    assert_int_equal(karma_x_finish(&c.x, &c.r, c.why, sizeof(c.why)), 0);
    assert_string_equal(f->ids[0], "id-12");
    client_done(&c);
    fake_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_udp_answer),
        cmocka_unit_test(test_udp_retransmit_and_stray),
        cmocka_unit_test(test_udp_timeout),
        cmocka_unit_test(test_udp_garbage_refused_error),
        cmocka_unit_test(test_udp_late_finish),
        cmocka_unit_test(test_udp_next_member),
        cmocka_unit_test(test_udp_dead),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_large_query_uses_tcp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
