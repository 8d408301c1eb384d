/*
 * NAME
 *   io - deadline-bounded stream sockets for backend clients (see io.h)
 *
 * DESCRIPTION
 *   Each operation first tries the system call and, when it would block,
 *   waits in poll(2) for at most the time left until the absolute
 *   monotonic deadline, then tries again. A deadline in the past still
 *   lets a call that can proceed at once do so; it fails with -ETIMEDOUT
 *   only when it would have to wait.
 *
 *   Invariants: no function consumes more bytes than it returns to the
 *   caller (io_read_line peeks, then takes up to the newline), so nothing
 *   is ever buffered here and there is no per-fd state.
 *
 * OWNERSHIP
 *   io_connect gives the caller a socket to close; nothing else allocates.
 *
 * THREAD SAFETY
 *   No shared state: any thread may call any function, one fd per thread.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/io.h"

/* At most this many iovecs go to one sendmsg(2) call. */
#define IO_IOV_BATCH 64

uint64_t
io_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
io_deadline(uint64_t timeout_ms)
{
    return io_now_ms() + timeout_ms;
}

/* io_wait - poll fd for events until deadline; 0, -ETIMEDOUT or -errno */
static int
io_wait(int fd, short events, uint64_t deadline)
{
    struct pollfd pfd;
    uint64_t now, left;
    int rc;

    for (;;) {
        now = io_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        left = deadline - now;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc > 0)
            return 0; /* ready, or an error the next call will report */
        if (rc < 0 && errno != EINTR)
            return -errno;
    }
}

/* ---------------------------------------------------------------------- */
/* Connecting */

/* connect_addr - one non-blocking connect bounded by deadline */
static int
connect_addr(int family, const struct sockaddr *sa, socklen_t salen,
             uint64_t deadline, int *fdp)
{
    int fd, rc = 0, err = 0, one = 1;
    socklen_t errlen = sizeof(err);

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (family != AF_UNIX &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        rc = -errno;
        goto out;
    }
    if (connect(fd, sa, salen) == 0)
        goto out;
    if (errno != EINPROGRESS && errno != EINTR) {
        rc = -errno;
        goto out;
    }
    rc = io_wait(fd, POLLOUT, deadline);
    if (rc < 0)
        goto out;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
        rc = -errno;
    else if (err != 0)
        rc = -err;
out:
    if (rc < 0)
        close(fd);
    else
        *fdp = fd;
    return rc;
}

static int
connect_unix(const char *path, uint64_t deadline, int *fdp)
{
    struct sockaddr_un sun;
    size_t len = strlen(path);

    if (len == 0)
        return -EINVAL;
    if (len >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, len + 1);
    return connect_addr(AF_UNIX, (const struct sockaddr *)&sun, sizeof(sun),
                        deadline, fdp);
}

/* resolve - numeric first (no lookup), then getaddrinfo proper */
static int
resolve(const char *host, uint16_t port, struct addrinfo **res)
{
    struct addrinfo hints;
    char portstr[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    rc = getaddrinfo(host, portstr, &hints, res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, portstr, &hints, res);
    }
    switch (rc) {
    case 0:
        return 0;
    case EAI_SYSTEM:
        return errno ? -errno : -IO_ERESOLVE;
    case EAI_MEMORY:
        return -ENOMEM;
    default:
        return -IO_ERESOLVE;
    }
}

static int
connect_tcp(const char *host, uint16_t port, uint64_t deadline, int *fdp)
{
    char buf[256];
    struct addrinfo *res = NULL, *ai;
    size_t len = strlen(host);
    int rc;

    /* "[::1]" -> "::1" */
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        if (len - 2 >= sizeof(buf))
            return -IO_ERESOLVE;
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        host = buf;
    }
    if (host[0] == '\0')
        return -EINVAL;
    rc = resolve(host, port, &res);
    if (rc < 0)
        return rc;
    rc = -EHOSTUNREACH;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        rc = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline,
                          fdp);
        if (rc == 0 || rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

int
io_connect(const struct rm_server *srv, uint64_t deadline_ms, int *fd)
{
    *fd = -1;
    if (srv->path != NULL)
        return connect_unix(srv->path, deadline_ms, fd);
    if (srv->host == NULL)
        return -EINVAL;
    return connect_tcp(srv->host, srv->port, deadline_ms, fd);
}

/* ---------------------------------------------------------------------- */
/* Writing */

int
io_write_all(int fd, const void *buf, size_t len, uint64_t deadline_ms)
{
    const char *p = buf;
    bool sock = true;
    ssize_t n;
    int rc;

    while (len > 0) {
        n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == ENOTSOCK && sock) {
            sock = false;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            rc = io_wait(fd, POLLOUT, deadline_ms);
            if (rc < 0)
                return rc;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

int
io_writev_all(int fd, const struct iovec *iov, int iovcnt, uint64_t deadline_ms)
{
    struct iovec batch[IO_IOV_BATCH];
    struct msghdr msg;
    size_t off = 0; /* bytes of iov[0] already sent */
    bool sock = true;
    ssize_t n;
    int i, cnt, rc;

    while (iovcnt > 0) {
        /* Skip empty and finished entries. */
        if (off == iov[0].iov_len) {
            iov++;
            iovcnt--;
            off = 0;
            continue;
        }
        cnt = iovcnt < IO_IOV_BATCH ? iovcnt : IO_IOV_BATCH;
        for (i = 0; i < cnt; i++)
            batch[i] = iov[i];
        batch[0].iov_base = (char *)iov[0].iov_base + off;
        batch[0].iov_len = iov[0].iov_len - off;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = batch;
        msg.msg_iovlen = (size_t)cnt;
        n = sock ? sendmsg(fd, &msg, MSG_NOSIGNAL) : writev(fd, batch, cnt);
        if (n < 0) {
            if (errno == ENOTSOCK && sock) {
                sock = false;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                rc = io_wait(fd, POLLOUT, deadline_ms);
                if (rc < 0)
                    return rc;
            } else if (errno != EINTR) {
                return -errno;
            }
            continue;
        }
        /* Advance over what was sent. */
        while (n > 0) {
            size_t left = iov[0].iov_len - off;

            if ((size_t)n < left) {
                off += (size_t)n;
                break;
            }
            n -= (ssize_t)left;
            iov++;
            iovcnt--;
            off = 0;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Reading */

/* recv_wait - one recv(2) with flags, waiting for data until deadline;
 * returns the count (0 at EOF) or a negative code */
static ssize_t
recv_wait(int fd, void *buf, size_t len, int flags, uint64_t deadline)
{
    ssize_t n;
    int rc;

    for (;;) {
        n = recv(fd, buf, len, flags);
        if (n >= 0)
            return n;
        if (errno == ENOTSOCK && flags == 0) {
            n = read(fd, buf, len);
            if (n >= 0)
                return n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            rc = io_wait(fd, POLLIN, deadline);
            if (rc < 0)
                return rc;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
}

int
io_read_some(int fd, void *buf, size_t len, uint64_t deadline_ms, size_t *got)
{
    ssize_t n;

    *got = 0;
    if (len == 0)
        return 0;
    n = recv_wait(fd, buf, len, 0, deadline_ms);
    if (n < 0)
        return (int)n;
    *got = (size_t)n;
    return 0;
}

int
io_read_exact(int fd, void *buf, size_t len, uint64_t deadline_ms)
{
    char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = recv_wait(fd, p, len, 0, deadline_ms);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -IO_ECLOSED;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
io_read_line(int fd, char *buf, size_t size, size_t *len, uint64_t deadline_ms)
{
    size_t have = 0, room;
    ssize_t n;
    char *nl, c;
    int rc;

    if (len != NULL)
        *len = 0;
    if (size == 0)
        return -EINVAL;
    buf[0] = '\0';
    /* Peek, then take what was seen up to and including any newline: the
     * bytes are already queued, so taking them never waits. */
    for (;;) {
        room = size - 1 - have;
        if (room == 0) {
            /* Full: only a newline may come next. */
            n = recv_wait(fd, &c, 1, MSG_PEEK, deadline_ms);
            if (n < 0)
                return (int)n;
            if (n == 0)
                return -IO_ECLOSED;
            if (c != '\n')
                return -EMSGSIZE;
            rc = io_read_exact(fd, &c, 1, deadline_ms);
            if (rc < 0)
                return rc;
            break;
        }
        n = recv_wait(fd, buf + have, room, MSG_PEEK, deadline_ms);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -IO_ECLOSED;
        nl = memchr(buf + have, '\n', (size_t)n);
        if (nl != NULL) {
            size_t take = (size_t)(nl - (buf + have)) + 1;

            rc = io_read_exact(fd, buf + have, take, deadline_ms);
            if (rc < 0)
                return rc;
            have += take - 1;
            break;
        }
        rc = io_read_exact(fd, buf + have, (size_t)n, deadline_ms);
        if (rc < 0)
            return rc;
        have += (size_t)n;
    }
    if (have > 0 && buf[have - 1] == '\r')
        have--;
    buf[have] = '\0';
    if (len != NULL)
        *len = have;
    return 0;
}

/* ---------------------------------------------------------------------- */

const char *
io_strerror(int err)
{
    const char *s;

    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
    case ETIMEDOUT:
        return "timed out";
    case IO_ECLOSED:
        return "connection closed by peer";
    case IO_ERESOLVE:
        return "host name lookup failed";
    case EMSGSIZE:
        return "line too long";
    default:
        s = strerrordesc_np(err);
        return s != NULL ? s : "unknown error";
    }
}
