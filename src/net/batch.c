/*
 * NAME
 *   batch - parallel request/reply exchanges from one thread (see batch.h)
 *
 * DESCRIPTION
 *   batch_run keeps a private struct bx per exchange: its state
 *   (S_CONNECTING, S_WRITING, S_READING, S_DONE), socket, deadlines, the
 *   addresses of the member being tried and the members already tried,
 *   and the write buffer. One loop polls every unfinished socket with the
 *   time left to the nearest deadline, then advances each ready exchange
 *   as far as it can go without blocking. A writer yields after
 *   RM_BATCH_WRITE_SLICE bytes so one large body does not starve the
 *   others' replies; a reader after a few reads.
 *
 *   Invariants: an exchange in S_DONE has fd -1 and a final status; every
 *   connection attempt on a pool member ends in exactly one upstream_ok
 *   or upstream_fail, except when our own fill source fails; no exchange
 *   outlives batch_run (all sockets closed, all buffers freed).
 *
 *   Connecting duplicates a few lines of io.c (numeric-first resolution,
 *   non-blocking connect) because io_connect waits for the connection;
 *   here the wait is the shared poll.
 *
 * OWNERSHIP
 *   The caller owns the exchanges, heads, sources and readers; batch_run
 *   owns sockets and buffers it makes and releases them before returning.
 *
 * THREAD SAFETY
 *   No shared state of its own; upstream calls lock their pool.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/batch.h"
#include "net/io.h"

/* Bytes one exchange may write before the loop polls again. */
#define RM_BATCH_WRITE_SLICE (256 * 1024)
/* Reads one exchange may do before the loop polls again. */
#define RM_BATCH_READ_SLICE 4
/* Addresses of one host tried in turn. */
#define RM_BATCH_ADDRS 8

enum { S_IDLE, S_CONNECTING, S_WRITING, S_READING, S_DONE };

struct bx_addr {
    struct sockaddr_storage a_sa;
    socklen_t a_len;
    int a_family;
};

struct bx {
    struct rm_batch_ex *ex;
    size_t idx;
    int state;
    int fd;
    uint64_t deadline;     /* the exchange's: min(batch, ex_deadline_ms) */
    uint64_t att_deadline; /* this connection attempt's */
    unsigned max_attempts;
    struct rm_upstream **tried; /* members tried, max_attempts of them */
    unsigned ntried;
    struct rm_upstream *up;      /* the member of this attempt, or NULL */
    const struct rm_server *srv; /* its server */
    struct bx_addr addrs[RM_BATCH_ADDRS];
    size_t naddrs, next_addr;
    int last_err; /* the last connect error, for the final result */
    size_t head_off;
    char *wbuf;
    size_t wlen, woff;
    bool fill_eof;
};

struct batch {
    struct bx *bx;
    size_t n;
    rm_batch_event_fn on_event;
    void *ud;
    char *rbuf;
};

const char *
batch_status_name(enum rm_batch_status st)
{
    switch (st) {
    case RM_BATCH_PENDING:
        return "pending";
    case RM_BATCH_OK:
        return "ok";
    case RM_BATCH_REFUSED:
        return "refused";
    case RM_BATCH_TIMEOUT:
        return "timeout";
    case RM_BATCH_CLOSED:
        return "closed early";
    case RM_BATCH_PROTO:
        return "protocol error";
    case RM_BATCH_BACKEND:
        return "backend error";
    case RM_BATCH_IO:
        return "I/O error";
    case RM_BATCH_LOCAL:
        return "local error";
    case RM_BATCH_NOSERVER:
        return "no server";
    }
    return "?";
}

const char *
batch_event_name(enum rm_batch_event ev)
{
    switch (ev) {
    case RM_BATCH_EV_CONNECTING:
        return "connecting";
    case RM_BATCH_EV_CONNECTED:
        return "connected";
    case RM_BATCH_EV_SENT:
        return "sent";
    case RM_BATCH_EV_REPLY:
        return "reply";
    case RM_BATCH_EV_DONE:
        return "done";
    case RM_BATCH_EV_FAILED:
        return "failed";
    case RM_BATCH_EV_RETRY:
        return "retry";
    }
    return "?";
}

static const char *
phase_name(enum rm_batch_phase ph)
{
    switch (ph) {
    case RM_BATCH_PH_CONNECT:
        return "connecting";
    case RM_BATCH_PH_WRITE:
        return "writing";
    case RM_BATCH_PH_READ:
        return "reading";
    case RM_BATCH_PH_DONE:
        return "done";
    }
    return "?";
}

static void
event(struct batch *b, struct bx *x, enum rm_batch_event ev, uint64_t now)
{
    if (b->on_event != NULL)
        b->on_event(b->ud, x->idx, x->ex, ev, now);
}

static const char *
ex_name(const struct bx *x)
{
    return x->ex->ex_name ? x->ex->ex_name : "backend";
}

/* report_fail - count a failed attempt against the member, if any */
static void
report_fail(struct bx *x, enum rm_batch_status st, enum rm_batch_phase ph,
            int err, uint64_t now)
{
    char reason[160];

    if (x->up == NULL)
        return;
    if (err != 0 && st != RM_BATCH_PROTO && st != RM_BATCH_BACKEND)
        snprintf(reason, sizeof(reason), "%s while %s: %s",
                 batch_status_name(st), phase_name(ph), io_strerror(err));
    else
        snprintf(reason, sizeof(reason), "%s while %s", batch_status_name(st),
                 phase_name(ph));
    upstream_fail(x->up, now, reason);
}

static void
close_fd(struct bx *x)
{
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}

/*
 * finish - end the exchange with status st; reports to the member unless
 * told not to (a connect failure was reported already)
 */
static void
finish(struct batch *b, struct bx *x, enum rm_batch_status st, int err,
       uint64_t now, bool report)
{
    struct rm_batch_result *res = &x->ex->ex_res;
    enum rm_batch_phase ph;

    switch (x->state) {
    case S_WRITING:
        ph = RM_BATCH_PH_WRITE;
        break;
    case S_READING:
        ph = RM_BATCH_PH_READ;
        break;
    default:
        ph = RM_BATCH_PH_CONNECT;
        break;
    }
    close_fd(x);
    x->state = S_DONE;
    res->br_status = st;
    res->br_phase = st == RM_BATCH_OK ? RM_BATCH_PH_DONE : ph;
    res->br_err = st == RM_BATCH_OK ? 0 : err;
    res->br_end_ms = now;
    if (st == RM_BATCH_OK) {
        if (x->up != NULL)
            upstream_ok(x->up, now);
    } else if (report && st != RM_BATCH_LOCAL && st != RM_BATCH_NOSERVER) {
        report_fail(x, st, ph, err, now);
    }
    if (st == RM_BATCH_OK) {
        msg_debug("batch: %s %s: ok in %llu ms (%llu bytes out, %llu in)",
                  ex_name(x), res->br_server ? res->br_server : "-",
                  (unsigned long long)(now - res->br_start_ms),
                  (unsigned long long)res->br_bytes_out,
                  (unsigned long long)res->br_bytes_in);
        event(b, x, RM_BATCH_EV_DONE, now);
    } else {
        msg_debug("batch: %s %s: %s while %s after %llu ms: %s", ex_name(x),
                  res->br_server ? res->br_server : "-", batch_status_name(st),
                  phase_name(ph), (unsigned long long)(now - res->br_start_ms),
                  err ? io_strerror(err) : "-");
        event(b, x, RM_BATCH_EV_FAILED, now);
    }
}

/* ---------------------------------------------------------------------- */
/* Connecting */

/* resolve - the addresses of srv into x->addrs; 0 or a negative code */
static int
resolve(struct bx *x, const struct rm_server *srv)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_un *sun;
    char portstr[8], hostbuf[256];
    const char *host = srv->host;
    size_t len;
    int rc;

    x->naddrs = x->next_addr = 0;
    if (srv->path != NULL) {
        len = strlen(srv->path);
        if (len == 0)
            return -EINVAL;
        sun = (struct sockaddr_un *)&x->addrs[0].a_sa;
        if (len >= sizeof(sun->sun_path))
            return -ENAMETOOLONG;
        memset(sun, 0, sizeof(*sun));
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, srv->path, len + 1);
        x->addrs[0].a_len = sizeof(*sun);
        x->addrs[0].a_family = AF_UNIX;
        x->naddrs = 1;
        return 0;
    }
    if (host == NULL || host[0] == '\0')
        return -EINVAL;
    len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        if (len - 2 >= sizeof(hostbuf))
            return -IO_ERESOLVE;
        memcpy(hostbuf, host + 1, len - 2);
        hostbuf[len - 2] = '\0';
        host = hostbuf;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)srv->port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc == EAI_NONAME) {
        /* A name: this lookup blocks (see io.h). */
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, portstr, &hints, &res);
    }
    if (rc != 0)
        return rc == EAI_MEMORY ? -ENOMEM : -IO_ERESOLVE;
    for (ai = res; ai != NULL && x->naddrs < RM_BATCH_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(x->addrs[0].a_sa))
            continue;
        memcpy(&x->addrs[x->naddrs].a_sa, ai->ai_addr, ai->ai_addrlen);
        x->addrs[x->naddrs].a_len = ai->ai_addrlen;
        x->addrs[x->naddrs].a_family = ai->ai_family;
        x->naddrs++;
    }
    freeaddrinfo(res);
    return x->naddrs > 0 ? 0 : -IO_ERESOLVE;
}

/* pick - the next member (or the fixed server); false if none is left */
static bool
pick(struct bx *x, uint64_t now)
{
    struct rm_batch_ex *ex = x->ex;

    if (x->ntried >= x->max_attempts)
        return false;
    if (ex->ex_pool != NULL) {
        if (x->ntried == 0)
            x->up = upstream_get(ex->ex_pool, ex->ex_key, ex->ex_keylen, now);
        else
            x->up = upstream_get_next(ex->ex_pool, ex->ex_key, ex->ex_keylen,
                                      now, x->tried, x->ntried);
        if (x->up == NULL)
            return false;
        x->srv = upstream_server(x->up);
        ex->ex_res.br_server = upstream_name(x->up);
    } else {
        if (ex->ex_server == NULL || x->ntried > 0)
            return false;
        x->up = NULL;
        x->srv = ex->ex_server;
        ex->ex_res.br_server = x->srv->text   ? x->srv->text
                               : x->srv->path ? x->srv->path
                                              : x->srv->host;
    }
    x->tried[x->ntried++] = x->up;
    ex->ex_res.br_up = x->up;
    ex->ex_res.br_attempts = x->ntried;
    return true;
}

/* connected - the socket is up: start writing */
static void
connected(struct batch *b, struct bx *x, uint64_t now)
{
    x->state = S_WRITING;
    x->ex->ex_res.br_connected_ms = now;
    event(b, x, RM_BATCH_EV_CONNECTED, now);
}

/*
 * try_connect - start connection attempts until one is in progress or
 * connected, or every member allowed has failed (then the exchange is
 * finished). err is the failure that led here (0 at the start).
 */
static void
try_connect(struct batch *b, struct bx *x, int err, uint64_t now)
{
    struct rm_batch_ex *ex = x->ex;
    const struct bx_addr *a;
    int fd, one = 1, rc;

    if (err != 0)
        x->last_err = err;
    for (;;) {
        if (x->next_addr >= x->naddrs) {
            /* The current member (if any) is exhausted: report it once. */
            if (x->srv != NULL && x->last_err != 0) {
                report_fail(x,
                            x->last_err == -ETIMEDOUT ? RM_BATCH_TIMEOUT
                                                      : RM_BATCH_REFUSED,
                            RM_BATCH_PH_CONNECT, x->last_err, now);
                x->srv = NULL;
            }
            if (now >= x->deadline) {
                /* No time for another attempt (failures reported). */
                if (x->last_err != 0 && x->last_err != -ETIMEDOUT)
                    finish(b, x, RM_BATCH_REFUSED, x->last_err, now, false);
                else
                    finish(b, x, RM_BATCH_TIMEOUT, -ETIMEDOUT, now, false);
                return;
            }
            if (!pick(x, now)) {
                if (x->ntried == 0)
                    finish(b, x, RM_BATCH_NOSERVER, -ENOENT, now, false);
                else
                    finish(b, x,
                           x->last_err == -ETIMEDOUT ? RM_BATCH_TIMEOUT
                                                     : RM_BATCH_REFUSED,
                           x->last_err, now, false);
                return;
            }
            event(b, x,
                  x->ntried > 1 ? RM_BATCH_EV_RETRY : RM_BATCH_EV_CONNECTING,
                  now);
            x->att_deadline = x->deadline;
            if (ex->ex_connect_ms > 0 && now + ex->ex_connect_ms < x->deadline)
                x->att_deadline = now + ex->ex_connect_ms;
            rc = resolve(x, x->srv);
            if (rc < 0) {
                x->last_err = rc;
                continue;
            }
        }
        a = &x->addrs[x->next_addr++];
        fd = socket(a->a_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            x->last_err = -errno;
            continue;
        }
        if (a->a_family != AF_UNIX)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        x->fd = fd;
        if (connect(fd, (const struct sockaddr *)&a->a_sa, a->a_len) == 0) {
            x->last_err = 0;
            connected(b, x, now);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            x->state = S_CONNECTING;
            return;
        }
        x->last_err = -errno;
        close_fd(x);
    }
}

/* connect_ready - the poll says the connect finished (or failed) */
static void
connect_ready(struct batch *b, struct bx *x, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        x->last_err = 0;
        connected(b, x, now);
        return;
    }
    close_fd(x);
    try_connect(b, x, -err, now);
}

/* ---------------------------------------------------------------------- */
/* Reading and writing */

/* feed_result - act on ex_feed's answer; true if the exchange ended */
static bool
feed_result(struct batch *b, struct bx *x, int rc, bool eof, uint64_t now)
{
    switch (rc) {
    case RM_BATCH_MORE:
        if (!eof)
            return false;
        finish(b, x, RM_BATCH_CLOSED, -IO_ECLOSED, now, true);
        return true;
    case RM_BATCH_DONE:
        finish(b, x, RM_BATCH_OK, 0, now, true);
        return true;
    case RM_BATCH_DONE_FAIL:
        finish(b, x, RM_BATCH_BACKEND, -EREMOTEIO, now, true);
        return true;
    default:
        finish(b, x, RM_BATCH_PROTO, rc < 0 ? rc : -EPROTO, now, true);
        return true;
    }
}

/* err_status - the status for a socket error */
static enum rm_batch_status
err_status(int err)
{
    return err == -ECONNRESET || err == -EPIPE ? RM_BATCH_CLOSED : RM_BATCH_IO;
}

/*
 * do_read - read what is there and feed it; returns true if the exchange
 * ended. werr != 0: the write side failed with werr; read what the
 * server sent before it went away, and fail with werr unless that is a
 * complete reply.
 */
static bool
do_read(struct batch *b, struct bx *x, uint64_t now, int werr)
{
    struct rm_batch_ex *ex = x->ex;
    bool drain = werr != 0;
    ssize_t n;
    int i, rc, err;

    for (i = 0; drain || i < RM_BATCH_READ_SLICE; i++) {
        n = recv(x->fd, b->rbuf, RM_BATCH_BUFSIZE, 0);
        if (n > 0) {
            if (ex->ex_res.br_bytes_in == 0)
                event(b, x, RM_BATCH_EV_REPLY, now);
            ex->ex_res.br_bytes_in += (uint64_t)n;
            rc = ex->ex_feed(ex->ex_feed_ud, b->rbuf, (size_t)n, false);
            if (feed_result(b, x, rc, false, now))
                return true;
            continue;
        }
        if (n == 0) {
            rc = ex->ex_feed(ex->ex_feed_ud, NULL, 0, true);
            if (drain && rc == RM_BATCH_MORE) {
                finish(b, x, err_status(werr), werr, now, true);
                return true;
            }
            return feed_result(b, x, rc, true, now);
        }
        if (errno == EINTR)
            continue;
        err = -errno;
        if (err == -EAGAIN || err == -EWOULDBLOCK) {
            if (!drain)
                return false;
            err = werr; /* nothing more to read: the write error stands */
        }
        finish(b, x, err_status(err), err, now, true);
        return true;
    }
    return false;
}

/* do_write - write the request as far as the socket takes it */
static void
do_write(struct batch *b, struct bx *x, uint64_t now)
{
    struct rm_batch_ex *ex = x->ex;
    const char *p;
    size_t len, got, slice = 0;
    ssize_t n;
    int rc;

    for (;;) {
        if (x->head_off < ex->ex_head_len) {
            p = (const char *)ex->ex_head + x->head_off;
            len = ex->ex_head_len - x->head_off;
        } else if (x->woff < x->wlen) {
            p = x->wbuf + x->woff;
            len = x->wlen - x->woff;
        } else if (ex->ex_fill != NULL && !x->fill_eof) {
            if (x->wbuf == NULL)
                x->wbuf = xmalloc(RM_BATCH_BUFSIZE);
            got = 0;
            rc = ex->ex_fill(ex->ex_fill_ud, x->wbuf, RM_BATCH_BUFSIZE, &got);
            if (rc == 0 && got > RM_BATCH_BUFSIZE)
                rc = -EOVERFLOW;
            if (rc < 0) {
                finish(b, x, RM_BATCH_LOCAL, rc, now, false);
                return;
            }
            x->wlen = got;
            x->woff = 0;
            x->fill_eof = got == 0;
            continue;
        } else {
            if (ex->ex_shut_wr)
                (void)shutdown(x->fd, SHUT_WR);
            x->state = S_READING;
            ex->ex_res.br_sent_ms = now;
            event(b, x, RM_BATCH_EV_SENT, now);
            return;
        }
        if (slice >= RM_BATCH_WRITE_SLICE)
            return;
        n = send(x->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* The server may have answered and gone (clamd's size
             * limit): what it said decides. */
            do_read(b, x, now, -errno);
            return;
        }
        ex->ex_res.br_bytes_out += (uint64_t)n;
        slice += (size_t)n;
        if (x->head_off < ex->ex_head_len)
            x->head_off += (size_t)n;
        else
            x->woff += (size_t)n;
    }
}

/* ---------------------------------------------------------------------- */
/* The loop */

/* expire - handle a passed deadline; true if the exchange ended */
static bool
expire(struct batch *b, struct bx *x, uint64_t now)
{
    if (x->state == S_CONNECTING) {
        if (now < x->att_deadline)
            return false;
        close_fd(x);
        /* Another member, if time and attempts remain. */
        x->next_addr = x->naddrs;
        try_connect(b, x, -ETIMEDOUT, now);
        return x->state == S_DONE;
    }
    if (now < x->deadline)
        return false;
    finish(b, x, RM_BATCH_TIMEOUT, -ETIMEDOUT, now, true);
    return true;
}

static void
step(struct batch *b, struct bx *x, short revents, uint64_t now)
{
    switch (x->state) {
    case S_CONNECTING:
        if (revents & (POLLOUT | POLLERR | POLLHUP))
            connect_ready(b, x, now);
        break;
    case S_WRITING:
        if ((revents & (POLLIN | POLLHUP | POLLERR)) && do_read(b, x, now, 0))
            break;
        if (revents & (POLLOUT | POLLERR))
            do_write(b, x, now);
        break;
    case S_READING:
        if (revents & (POLLIN | POLLHUP | POLLERR))
            do_read(b, x, now, 0);
        break;
    default:
        break;
    }
}

int
batch_run(struct rm_batch_ex *ex, size_t n, uint64_t deadline_ms,
          rm_batch_event_fn on_event, void *ud)
{
    struct batch b;
    struct pollfd *pfd = NULL;
    struct bx **map = NULL;
    struct bx *x;
    uint64_t now, wake;
    size_t i, k;
    int rc = 0, timeout;
    unsigned att;

    if (n > RM_BATCH_MAX)
        return -EINVAL;
    for (i = 0; i < n; i++)
        if (ex[i].ex_feed == NULL)
            return -EINVAL;
    if (n == 0)
        return 0;
    memset(&b, 0, sizeof(b));
    b.n = n;
    b.on_event = on_event;
    b.ud = ud;
    b.bx = xcalloc(n, sizeof(*b.bx));
    b.rbuf = xmalloc(RM_BATCH_BUFSIZE);
    pfd = xcalloc(n, sizeof(*pfd));
    map = xcalloc(n, sizeof(*map));

    /* Start every exchange before waiting for any. */
    now = io_now_ms();
    for (i = 0; i < n; i++) {
        x = &b.bx[i];
        x->ex = &ex[i];
        x->idx = i;
        x->fd = -1;
        x->state = S_IDLE;
        memset(&ex[i].ex_res, 0, sizeof(ex[i].ex_res));
        ex[i].ex_res.br_start_ms = now;
        x->deadline = deadline_ms;
        if (ex[i].ex_deadline_ms != 0 && ex[i].ex_deadline_ms < deadline_ms)
            x->deadline = ex[i].ex_deadline_ms;
        att = ex[i].ex_attempts ? ex[i].ex_attempts : 1;
        x->max_attempts = att;
        x->tried = xcalloc(att, sizeof(*x->tried));
        try_connect(&b, x, 0, now);
    }

    for (;;) {
        now = io_now_ms();
        wake = UINT64_MAX;
        k = 0;
        for (i = 0; i < n; i++) {
            x = &b.bx[i];
            if (x->state == S_DONE || expire(&b, x, now))
                continue;
            if (x->state == S_DONE)
                continue;
            pfd[k].fd = x->fd;
            pfd[k].events = x->state == S_CONNECTING ? POLLOUT
                            : x->state == S_WRITING  ? POLLOUT | POLLIN
                                                     : POLLIN;
            pfd[k].revents = 0;
            map[k++] = x;
            if (x->state == S_CONNECTING && x->att_deadline < wake)
                wake = x->att_deadline;
            if (x->deadline < wake)
                wake = x->deadline;
        }
        if (k == 0)
            break;
        timeout = wake <= now            ? 0
                  : wake - now > INT_MAX ? INT_MAX
                                         : (int)(wake - now);
        if (poll(pfd, k, timeout) < 0) {
            if (errno == EINTR)
                continue;
            /* Cannot wait: fail what is left rather than spin. */
            now = io_now_ms();
            for (i = 0; i < k; i++)
                finish(&b, map[i], RM_BATCH_IO, -errno, now, true);
            break;
        }
        now = io_now_ms();
        for (i = 0; i < k; i++)
            if (pfd[i].revents != 0)
                step(&b, map[i], pfd[i].revents, now);
    }

    for (i = 0; i < n; i++) {
        x = &b.bx[i];
        close_fd(x);
        free(x->wbuf);
        free(x->tried);
        if (ex[i].ex_res.br_status != RM_BATCH_OK)
            rc = -EIO;
    }
    free(b.rbuf);
    free(b.bx);
    free(pfd);
    free(map);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Body sources */

int
batch_fill_mem(void *ud, void *buf, size_t size, size_t *len)
{
    struct rm_batch_mem *m = ud;
    size_t n = m->bm_len - m->bm_off;

    if (n > size)
        n = size;
    if (n > 0)
        memcpy(buf, (const char *)m->bm_data + m->bm_off, n);
    m->bm_off += n;
    *len = n;
    return 0;
}

int
batch_fill_range(void *ud, void *buf, size_t size, size_t *len)
{
    struct rm_batch_range *r = ud;
    uint64_t left = r->rg_end > r->rg_off ? r->rg_end - r->rg_off : 0;
    size_t want = left < size ? (size_t)left : size;
    ssize_t n;

    *len = 0;
    if (want == 0)
        return 0;
    do
        n = r->rg_pread(r->rg_src, r->rg_off, buf, want);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno ? -errno : -EIO;
    if (n == 0 || (size_t)n > want)
        return -EIO;
    r->rg_off += (uint64_t)n;
    *len = (size_t)n;
    return 0;
}

ssize_t
batch_pread_fd(void *src, uint64_t off, void *buf, size_t len)
{
    if (off > (uint64_t)INT64_MAX) {
        errno = EINVAL;
        return -1;
    }
    return pread(*(int *)src, buf, len, (off_t)off);
}
