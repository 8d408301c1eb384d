/*
 * NAME
 *   test_io - deadline-bounded socket I/O against real loopback sockets
 *
 * DESCRIPTION
 *   Every peer is made here: TCP listeners on 127.0.0.1 and ::1 (port 0),
 *   unix sockets in a mkdtemp directory. Timeouts use short deadlines and
 *   assert the error code only, never the elapsed time. SIGPIPE keeps its
 *   default action, so a write that raised it would kill the test.
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
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "net/io.h"

#define SHORT 200 /* ms: the deadline for "never answers" */
#define LONG 5000 /* ms: the deadline for things that must succeed */

static char tmpdir[PATH_MAX];

/* ---------------------------------------------------------------------- */
/* Peers */

/* listen_inet - a listener on addr port 0 (or bound only when !do_listen);
 * returns the fd and the port, or -1 when the family is unavailable */
static int
listen_inet(int family, const char *addr, int do_listen, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
        len = sizeof(*sin6);
    }
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        (do_listen && listen(fd, 16) < 0)) {
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int
listen_unix(const char *path, int do_listen)
{
    struct sockaddr_un sun;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 16), 0);
    return fd;
}

static struct rm_server
tcp_server(const char *host, uint16_t port)
{
    struct rm_server s;

    memset(&s, 0, sizeof(s));
    s.host = (char *)host;
    s.port = port;
    s.weight = 1;
    return s;
}

static struct rm_server
unix_server(const char *path)
{
    struct rm_server s;

    memset(&s, 0, sizeof(s));
    s.path = (char *)path;
    s.weight = 1;
    return s;
}

/* pair - a connected (client via io_connect, accepted server) pair */
struct pair {
    int lfd;
    int cfd;
    int sfd;
};

static void
pair_tcp4(struct pair *p)
{
    struct rm_server s;
    uint16_t port;

    p->lfd = listen_inet(AF_INET, "127.0.0.1", 1, &port);
    assert_true(p->lfd >= 0);
    s = tcp_server("127.0.0.1", port);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &p->cfd), 0);
    p->sfd = accept(p->lfd, NULL, NULL);
    assert_true(p->sfd >= 0);
}

static void
pair_close(struct pair *p)
{
    if (p->cfd >= 0)
        close(p->cfd);
    if (p->sfd >= 0)
        close(p->sfd);
    if (p->lfd >= 0)
        close(p->lfd);
}

/* echo_once - read one chunk from the server side and send it back */
static void
echo_once(int sfd)
{
    char buf[256];
    ssize_t n = read(sfd, buf, sizeof(buf));

    assert_true(n > 0);
    assert_int_equal(write(sfd, buf, (size_t)n), n);
}

/* ---------------------------------------------------------------------- */
/* Connecting */

static void
roundtrip(int cfd, int sfd)
{
    char line[64];
    size_t len;

    assert_int_equal(io_write_all(cfd, "PING\r\n", 6, io_deadline(LONG)), 0);
    echo_once(sfd);
    assert_int_equal(
        io_read_line(cfd, line, sizeof(line), &len, io_deadline(LONG)), 0);
    assert_string_equal(line, "PING");
    assert_int_equal(len, 4);
}

static void
test_connect_tcp4(void **state)
{
    struct pair p;

    (void)state;
    pair_tcp4(&p);
    roundtrip(p.cfd, p.sfd);
    pair_close(&p);
}

static void
test_connect_tcp6(void **state)
{
    const char *hosts[] = {"::1", "[::1]"};
    struct rm_server s;
    uint16_t port;
    int lfd, cfd, sfd;
    size_t i;

    (void)state;
    lfd = listen_inet(AF_INET6, "::1", 1, &port);
    if (lfd < 0)
        skip(); /* no IPv6 loopback in this sandbox */
    for (i = 0; i < 2; i++) {
        s = tcp_server(hosts[i], port);
        assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), 0);
        sfd = accept(lfd, NULL, NULL);
        assert_true(sfd >= 0);
        roundtrip(cfd, sfd);
        close(cfd);
        close(sfd);
    }
    close(lfd);
}

static void
test_connect_name(void **state)
{
    struct rm_server s;
    uint16_t port;
    int lfd, cfd, sfd;

    (void)state;
    /* "localhost" may resolve to ::1 first, where nobody listens: the
     * next address is tried. */
    lfd = listen_inet(AF_INET, "127.0.0.1", 1, &port);
    assert_true(lfd >= 0);
    s = tcp_server("localhost", port);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), 0);
    sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);
    roundtrip(cfd, sfd);
    close(cfd);
    close(sfd);
    close(lfd);
}

static void
test_connect_unix(void **state)
{
    char path[PATH_MAX + 16];
    struct rm_server s;
    int lfd, cfd, sfd;

    (void)state;
    snprintf(path, sizeof(path), "%s/ok.sock", tmpdir);
    lfd = listen_unix(path, 1);
    s = unix_server(path);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), 0);
    sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);
    roundtrip(cfd, sfd);
    close(cfd);
    close(sfd);
    close(lfd);
    unlink(path);
}

static void
test_connect_refused(void **state)
{
    char path[PATH_MAX + 16], longpath[200];
    struct rm_server s;
    uint16_t port;
    int fd, cfd = 0;

    (void)state;
    /* Bound but not listening: nobody can take the port meanwhile. */
    fd = listen_inet(AF_INET, "127.0.0.1", 0, &port);
    assert_true(fd >= 0);
    s = tcp_server("127.0.0.1", port);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -ECONNREFUSED);
    assert_int_equal(cfd, -1);
    close(fd);

    snprintf(path, sizeof(path), "%s/dead.sock", tmpdir);
    fd = listen_unix(path, 0);
    s = unix_server(path);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -ECONNREFUSED);
    close(fd);
    unlink(path);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -ENOENT);

    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    s = unix_server(longpath);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -ENAMETOOLONG);

    s = tcp_server("", 25);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -EINVAL);
    /* No lookup is made for a bracketed name that cannot be an address. */
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '[';
    longpath[sizeof(longpath) - 2] = ']';
    s = tcp_server(longpath, 25);
    assert_int_equal(io_connect(&s, io_deadline(LONG), &cfd), -IO_ERESOLVE);
}

static void
test_connect_timeout(void **state)
{
    struct rm_server s;
    uint16_t port;
    int lfd, fds[16], i, n = 0, rc = 0;

    (void)state;
    /* A full accept queue: Linux drops further SYNs, so the connect
     * hangs until the deadline. */
    lfd = listen_inet(AF_INET, "127.0.0.1", 0, &port);
    assert_true(lfd >= 0);
    assert_int_equal(listen(lfd, 0), 0);
    s = tcp_server("127.0.0.1", port);
    for (i = 0; i < 16 && rc == 0; i++) {
        rc = io_connect(&s, io_deadline(SHORT), &fds[n]);
        if (rc == 0)
            n++;
    }
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(n >= 1);
    while (n > 0)
        close(fds[--n]);
    close(lfd);
}

/* ---------------------------------------------------------------------- */
/* Reading */

static void
test_read_timeout(void **state)
{
    struct pair p;
    char buf[64];
    size_t got = 99, len = 99;

    (void)state;
    pair_tcp4(&p);
    /* The peer accepted and never answers. */
    assert_int_equal(
        io_read_some(p.cfd, buf, sizeof(buf), io_deadline(SHORT), &got),
        -ETIMEDOUT);
    assert_int_equal(got, 0);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(SHORT)),
        -ETIMEDOUT);
    assert_int_equal(len, 0);
    assert_int_equal(io_read_exact(p.cfd, buf, 4, io_deadline(SHORT)),
                     -ETIMEDOUT);
    /* Half a line, then silence. */
    assert_int_equal(write(p.sfd, "partial", 7), 7);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(SHORT)),
        -ETIMEDOUT);
    /* A deadline already past still fails at once, not never. */
    assert_int_equal(io_read_exact(p.cfd, buf, 4, io_now_ms() - 1), -ETIMEDOUT);
    pair_close(&p);
}

struct script {
    int fd;
    const char *const *parts;
    size_t nparts;
    unsigned delay_us;
    int close_after;
};

static void *
writer(void *arg)
{
    struct script *s = arg;
    size_t i, len;

    for (i = 0; i < s->nparts; i++) {
        usleep(s->delay_us);
        len = strlen(s->parts[i]);
        if (write(s->fd, s->parts[i], len) != (ssize_t)len)
            break;
    }
    if (s->close_after)
        shutdown(s->fd, SHUT_WR);
    return NULL;
}

static void
test_read_line_split(void **state)
{
    static const char *const parts[] = {
        "HEL", "LO\r", "\nWOR", "LD\n\nrest", "-of-body", "last line no nl"};
    struct script sc = {0, parts, 6, 20000, 1};
    struct pair p;
    pthread_t th;
    char buf[64];
    size_t len, got;

    (void)state;
    pair_tcp4(&p);
    sc.fd = p.sfd;
    assert_int_equal(pthread_create(&th, NULL, writer, &sc), 0);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)), 0);
    assert_string_equal(buf, "HELLO");
    assert_int_equal(len, 5);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)), 0);
    assert_string_equal(buf, "WORLD");
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(len, 0);
    /* Nothing past the newline was taken. */
    assert_int_equal(io_read_exact(p.cfd, buf, 12, io_deadline(LONG)), 0);
    assert_memory_equal(buf, "rest-of-body", 12);
    /* EOF in the middle of a line. */
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)),
        -IO_ECLOSED);
    pthread_join(th, NULL);
    /* Then a clean EOF for read_some, and early EOF for read_exact. */
    assert_int_equal(
        io_read_some(p.cfd, buf, sizeof(buf), io_deadline(LONG), &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(io_read_exact(p.cfd, buf, 1, io_deadline(LONG)),
                     -IO_ECLOSED);
    pair_close(&p);
}

static void
test_read_line_limits(void **state)
{
    struct pair p;
    char buf[8];
    size_t len;

    (void)state;
    pair_tcp4(&p);
    /* Exactly size - 1 bytes fit. */
    assert_int_equal(write(p.sfd, "1234567\nabcdefghij\nok\n", 22), 22);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)), 0);
    assert_string_equal(buf, "1234567");
    assert_int_equal(len, 7);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)),
        -EMSGSIZE);
    /* The rest of the long line is still there; skip it. */
    assert_int_equal(io_read_exact(p.cfd, buf, 4, io_deadline(LONG)), 0);
    assert_memory_equal(buf, "hij\n", 4);
    assert_int_equal(
        io_read_line(p.cfd, buf, sizeof(buf), &len, io_deadline(LONG)), 0);
    assert_string_equal(buf, "ok");
    assert_int_equal(io_read_line(p.cfd, buf, 0, &len, io_deadline(LONG)),
                     -EINVAL);
    pair_close(&p);
}

/* ---------------------------------------------------------------------- */
/* Writing */

struct sink {
    int fd;
    unsigned char *data;
    size_t cap;
    size_t len;
};

static void *
drain(void *arg)
{
    struct sink *s = arg;
    ssize_t n;

    for (;;) {
        usleep(s->len < 65536 ? 30000 : 0); /* make the writer wait */
        n = read(s->fd, s->data + s->len, s->cap - s->len);
        if (n <= 0)
            break;
        s->len += (size_t)n;
    }
    return NULL;
}

static void
test_write_large_and_writev(void **state)
{
    enum { BIG = 8 * 1024 * 1024, NIOV = 300 };
    struct iovec iov[NIOV], copy[NIOV];
    struct sink sk;
    struct pair p;
    pthread_t th;
    unsigned char *src;
    size_t i, off = 0, total;

    (void)state;
    src = malloc(BIG);
    assert_non_null(src);
    for (i = 0; i < BIG; i++)
        src[i] = (unsigned char)(i * 31 + (i >> 13));

    /* One big write: the peer's buffers fill, io_write_all waits. */
    pair_tcp4(&p);
    sk.fd = p.sfd;
    sk.cap = BIG + 1;
    sk.len = 0;
    sk.data = malloc(sk.cap);
    assert_non_null(sk.data);
    assert_int_equal(pthread_create(&th, NULL, drain, &sk), 0);
    assert_int_equal(io_write_all(p.cfd, src, BIG, io_deadline(30000)), 0);
    shutdown(p.cfd, SHUT_WR);
    pthread_join(th, NULL);
    assert_int_equal(sk.len, BIG);
    assert_memory_equal(sk.data, src, BIG);
    pair_close(&p);

    /* Many iovecs of odd sizes, some empty: more than one sendmsg batch
     * and partial writes in the middle of an entry. */
    for (i = 0; i < NIOV; i++) {
        size_t n = (i % 7 == 3) ? 0 : (i * 7919) % 60000 + 1;

        if (off + n > BIG)
            n = BIG - off;
        iov[i].iov_base = src + off;
        iov[i].iov_len = n;
        off += n;
    }
    total = off;
    memcpy(copy, iov, sizeof(iov));
    pair_tcp4(&p);
    sk.fd = p.sfd;
    sk.len = 0;
    assert_int_equal(pthread_create(&th, NULL, drain, &sk), 0);
    assert_int_equal(io_writev_all(p.cfd, iov, NIOV, io_deadline(30000)), 0);
    shutdown(p.cfd, SHUT_WR);
    pthread_join(th, NULL);
    assert_int_equal(sk.len, total);
    assert_memory_equal(sk.data, src, total);
    assert_memory_equal(copy, iov, sizeof(iov)); /* caller's array intact */
    pair_close(&p);
    free(sk.data);
    free(src);
}

static void
test_write_timeout(void **state)
{
    enum { CHUNK = 1024 * 1024 };
    struct pair p;
    char *buf;
    int i, rc = 0;

    (void)state;
    pair_tcp4(&p);
    buf = calloc(1, CHUNK);
    assert_non_null(buf);
    /* The peer never reads: the buffers fill and the deadline passes. */
    for (i = 0; i < 512 && rc == 0; i++)
        rc = io_write_all(p.cfd, buf, CHUNK, io_deadline(SHORT));
    assert_int_equal(rc, -ETIMEDOUT);
    free(buf);
    pair_close(&p);
}

static void
test_write_closed_peer(void **state)
{
    enum { CHUNK = 64 * 1024 };
    struct iovec iov[2];
    struct pair p;
    char *buf;
    int i, rc = 0;

    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill us */
    buf = calloc(1, CHUNK);
    assert_non_null(buf);

    pair_tcp4(&p);
    close(p.sfd);
    p.sfd = -1;
    for (i = 0; i < 1000 && rc == 0; i++)
        rc = io_write_all(p.cfd, buf, CHUNK, io_deadline(LONG));
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    pair_close(&p);

    pair_tcp4(&p);
    close(p.sfd);
    p.sfd = -1;
    iov[0].iov_base = buf;
    iov[0].iov_len = CHUNK;
    iov[1].iov_base = buf;
    iov[1].iov_len = 10;
    rc = 0;
    for (i = 0; i < 1000 && rc == 0; i++)
        rc = io_writev_all(p.cfd, iov, 2, io_deadline(LONG));
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    pair_close(&p);
    free(buf);
}

static void
test_pipe_fallback(void **state)
{
    int fds[2];
    char buf[16];
    size_t got;

    (void)state;
    /* Not a socket: plain read/write (read_line needs a socket). */
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(io_write_all(fds[1], "abc", 3, io_deadline(LONG)), 0);
    assert_int_equal(
        io_read_some(fds[0], buf, sizeof(buf), io_deadline(LONG), &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "abc", 3);
    close(fds[0]);
    close(fds[1]);
}

static void
test_strerror(void **state)
{
    (void)state;
    assert_string_equal(io_strerror(-ETIMEDOUT), "timed out");
    assert_string_equal(io_strerror(-IO_ECLOSED), "connection closed by peer");
    assert_string_equal(io_strerror(-IO_ERESOLVE), "host name lookup failed");
    assert_string_equal(io_strerror(-EMSGSIZE), "line too long");
    assert_string_equal(io_strerror(-ECONNREFUSED), "Connection refused");
    assert_string_equal(io_strerror(ECONNREFUSED), "Connection refused");
    assert_string_equal(io_strerror(-99999), "unknown error");
    assert_string_equal(io_strerror(0), "success");
}

static int
group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_io.XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_tcp4),
        cmocka_unit_test(test_connect_tcp6),
        cmocka_unit_test(test_connect_name),
        cmocka_unit_test(test_connect_unix),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_read_line_split),
        cmocka_unit_test(test_read_line_limits),
        cmocka_unit_test(test_write_large_and_writev),
        cmocka_unit_test(test_write_timeout),
        cmocka_unit_test(test_write_closed_peer),
        cmocka_unit_test(test_pipe_fallback),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
