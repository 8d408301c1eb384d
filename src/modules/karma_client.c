/*
 * NAME
 *   karma_client - one BQuery exchange over UDP or TCP (see karma_client.h)
 *
 * DESCRIPTION
 *   UDP: one connected, non-blocking socket per member used (at most
 *   RM_KARMA_X_MAX_SERVERS), all polled together so that a late reply on
 *   an earlier socket is still heard. The send schedule is kept as
 *   next_send (when the current window ends) and deadline (when the last
 *   one ends); each send moves the deadline to cover its own window and
 *   the windows after it, which is what keeps a late karma_x_finish from
 *   cutting the retransmissions short.
 *
 *   Invariants: srv[i].fd >= 0 only for a UDP member whose socket is open
 *   (sent to, not failed); every srv[i] is reported to its pool at most
 *   once (reported); x->sent counts datagrams, not members.
 *
 *   TCP uses net/io.h (deadline-bounded blocking calls) and is done
 *   entirely inside karma_x_finish.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   See karma_client.h. No global state.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/karma_client.h"
#include "net/io.h"
#include "proto/hdr.h"

#define KX_WHY 256

enum srv_fail { SF_NONE, SF_TIMEOUT, SF_REFUSED, SF_GARBAGE };

uint64_t
karma_x_window_ms(uint64_t timeout_ms, unsigned retries, unsigned k)
{
    uint64_t parts, before = 0, w;
    unsigned j;

    if (retries > 16)
        retries = 16;
    if (k > retries)
        return 0;
    parts = (1ull << (retries + 1)) - 1;
    for (j = 0; j < k; j++)
        before += timeout_ms * (1ull << j) / parts;
    if (k == retries) /* the last window takes the rounding remainder */
        return timeout_ms - before;
    w = timeout_ms * (1ull << k) / parts;
    return w ? w : 1;
}

/* windows_from - the windows k..retries together */
static uint64_t
windows_from(const struct rm_karma_x *x, unsigned k)
{
    uint64_t sum = 0;
    unsigned j;

    for (j = k; j <= x->o.retries; j++)
        sum += karma_x_window_ms(x->o.timeout_ms, x->o.retries, j);
    return sum;
}

void
karma_x_init(struct rm_karma_x *x, const struct rm_karma_x_opts *o)
{
    size_t i;

    memset(x, 0, sizeof(*x));
    x->o = *o;
    if (x->o.retries > 16)
        x->o.retries = 16;
    snprintf(x->tag, sizeof(x->tag), "%s", o->tag ? o->tag : "karma");
    for (i = 0; i < RM_KARMA_X_MAX_SERVERS; i++)
        x->srv[i].fd = -1;
}

const char *
karma_x_server(const struct rm_karma_x *x)
{
    return x->server;
}

void
karma_x_free(struct rm_karma_x *x)
{
    size_t i;

    for (i = 0; i < x->n_srv; i++) {
        if (x->srv[i].fd >= 0)
            close(x->srv[i].fd);
        x->srv[i].fd = -1;
    }
    free(x->id);
    free(x->pkt);
    x->id = x->pkt = NULL;
}

/* ------------------------------------------------------------------------ */
/* members                                                                  */
/* ------------------------------------------------------------------------ */

static const char *
srv_name(const struct rm_karma_x_srv *s)
{
    return upstream_name(s->up);
}

/* report - close the use of member s once */
static void
report(struct rm_karma_x *x, struct rm_karma_x_srv *s, const char *fail_reason)
{
    if (s->reported)
        return;
    s->reported = true;
    if (fail_reason == NULL) {
        upstream_ok(s->up, upstream_now_ms());
        return;
    }
    msg_info("%s: karma: server %s: %s", x->tag, srv_name(s), fail_reason);
    upstream_fail(s->up, upstream_now_ms(), fail_reason);
}

static void
srv_close(struct rm_karma_x_srv *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* new_member - a member not used yet by this exchange, or NULL */
static struct rm_karma_x_srv *
new_member(struct rm_karma_x *x)
{
    struct rm_upstream *tried[RM_KARMA_X_MAX_SERVERS];
    struct rm_upstream *up;
    struct rm_karma_x_srv *s;
    uint64_t now = upstream_now_ms();
    size_t i;

    if (x->o.pool == NULL || x->n_srv >= RM_KARMA_X_MAX_SERVERS)
        return NULL;
    for (i = 0; i < x->n_srv; i++)
        tried[i] = x->srv[i].up;
    up = x->n_srv == 0
             ? upstream_get(x->o.pool, NULL, 0, now)
             : upstream_get_next(x->o.pool, NULL, 0, now, tried, x->n_srv);
    if (up == NULL)
        return NULL;
    /* upstream_get prefers live members: a dead first pick means the
     * whole pool is dead. Waiting out the timeout for every message of
     * an outage would hold mail up for nothing; the pool offers the
     * members again once their dead_time has passed. */
    if (x->n_srv == 0 && !upstream_is_alive(up, now)) {
        x->all_dead = true;
        return NULL;
    }
    for (i = 0; i < x->n_srv; i++)
        if (x->srv[i].up == up)
            return NULL; /* cannot happen; be safe */
    s = &x->srv[x->n_srv++];
    memset(s, 0, sizeof(*s));
    s->up = up;
    s->fd = -1;
    return s;
}

/* no_member - the result when no member was used at all */
static int
no_member(struct rm_karma_x *x, char *why, size_t whylen)
{
    if (x->all_dead) {
        snprintf(why, whylen, "all servers are dead");
        return -RM_KARMA_X_DEAD;
    }
    snprintf(why, whylen, "no server");
    return -RM_KARMA_X_NOSERVER;
}

/* ------------------------------------------------------------------------ */
/* UDP                                                                      */
/* ------------------------------------------------------------------------ */

/* udp_open - a connected non-blocking UDP socket to the member's server;
 * 0 or a negative errno-style code */
static int
udp_open(const struct rm_server *srv, int *fd)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[8];
    int rc, s = -1, err = -IO_ERESOLVE;

    *fd = -1;
    if (srv->host == NULL || srv->path != NULL)
        return -EAFNOSUPPORT;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u",
             (unsigned)(srv->port ? srv->port : RM_KARMA_PORT));
    rc = getaddrinfo(srv->host, port, &hints, &res);
    if (rc != 0)
        return -IO_ERESOLVE;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        s = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0) {
            err = -errno;
            continue;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = -errno;
        close(s);
        s = -1;
    }
    freeaddrinfo(res);
    if (s < 0)
        return err;
    *fd = s;
    return 0;
}

/* udp_send_to - send the packet to member s (opening its socket) */
static int
udp_send_to(struct rm_karma_x *x, struct rm_karma_x_srv *s)
{
    ssize_t n;
    int rc;

    if (s->fd < 0) {
        rc = udp_open(upstream_server(s->up), &s->fd);
        if (rc < 0)
            return rc;
    }
    n = send(s->fd, x->pkt, x->len, MSG_NOSIGNAL);
    if (n < 0)
        return -errno;
    if ((size_t)n != x->len)
        return -EMSGSIZE;
    msg_debug("%s: karma: query %s sent to %s (%zu bytes, try %u)", x->tag,
              x->id, srv_name(s), x->len, x->sent + 1);
    return 0;
}

/* udp_send_next - send the next datagram: to a new member if there is
 * one, else round robin over the open sockets. -1 if nothing could be
 * sent (no member left). */
static int
udp_send_next(struct rm_karma_x *x)
{
    struct rm_karma_x_srv *s;
    size_t i, n_open = 0, pick;
    int rc;

    while ((s = new_member(x)) != NULL) {
        rc = udp_send_to(x, s);
        if (rc == 0) {
            x->sent++;
            return 0;
        }
        srv_close(s);
        report(x, s, io_strerror(rc));
    }
    for (i = 0; i < x->n_srv; i++)
        if (x->srv[i].fd >= 0)
            n_open++;
    while (n_open > 0) {
        pick = x->sent % n_open;
        for (i = 0; i < x->n_srv; i++) {
            if (x->srv[i].fd < 0)
                continue;
            if (pick-- == 0)
                break;
        }
        s = &x->srv[i];
        rc = udp_send_to(x, s);
        if (rc == 0) {
            x->sent++;
            return 0;
        }
        srv_close(s);
        report(x, s, io_strerror(rc));
        n_open--;
    }
    return -1;
}

/* send_scheduled - send when the current window is over; keeps next_send
 * and the deadline (see DESCRIPTION). -1 if nothing could be sent. */
static int
send_scheduled(struct rm_karma_x *x, uint64_t now)
{
    unsigned k = x->sent;
    uint64_t need;

    if (udp_send_next(x) < 0)
        return -1;
    x->next_send = now + karma_x_window_ms(x->o.timeout_ms, x->o.retries, k);
    need = now + windows_from(x, k);
    if (need > x->deadline)
        x->deadline = need;
    return 0;
}

/* udp_read - drain member s's socket. 1 with *r filled when our reply
 * came; 0 otherwise (strays ignored; garbage or an error fails s). */
static int
udp_read(struct rm_karma_x *x, struct rm_karma_x_srv *s, char *buf,
         struct rm_karma_reply *r, enum srv_fail *fail, char *why,
         size_t whylen)
{
    char err[160], clean[160];
    ssize_t n;

    for (;;) {
        n = recv(s->fd, buf, RM_KARMA_RECV_MAX, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            *fail = errno == ECONNREFUSED ? SF_REFUSED : SF_TIMEOUT;
            snprintf(why, whylen, "%s", io_strerror(-errno));
            srv_close(s);
            report(x, s, why);
            return 0;
        }
        if (karma_reply_parse(buf, (size_t)n, x->o.feedset, r, err,
                              sizeof(err)) < 0) {
            hdr_text_oneline(err, strlen(err), clean, sizeof(clean), 0);
            *fail = SF_GARBAGE;
            snprintf(why, whylen, "bad reply: %s", clean);
            msg_warn("%s: karma: server %s sent a bad reply (%zd bytes): %s",
                     x->tag, srv_name(s), n, clean);
            srv_close(s);
            report(x, s, why);
            return 0;
        }
        if (!r->has_id || strcmp(r->id, x->id) != 0) {
            hdr_text_oneline(r->id, strlen(r->id), clean, sizeof(clean), 0);
            msg_debug("%s: karma: ignored a reply for id '%s' from %s", x->tag,
                      clean, srv_name(s));
            karma_reply_free(r);
            continue;
        }
        s->answered = true;
        return 1;
    }
}

static size_t
n_open(const struct rm_karma_x *x)
{
    size_t i, n = 0;

    for (i = 0; i < x->n_srv; i++)
        if (x->srv[i].fd >= 0)
            n++;
    return n;
}

static int
udp_finish(struct rm_karma_x *x, struct rm_karma_reply *r, char *why,
           size_t whylen)
{
    struct pollfd pfd[RM_KARMA_X_MAX_SERVERS];
    size_t idx[RM_KARMA_X_MAX_SERVERS];
    enum srv_fail fail, last = SF_NONE;
    char *buf = xmalloc(RM_KARMA_RECV_MAX);
    uint64_t now, until;
    size_t i, n;
    int rc, got = 0;

    for (;;) {
        now = io_now_ms();
        /* the next send is due, or nothing is open any more (a member
         * refused or sent garbage): move on to the next */
        if (x->sent <= x->o.retries &&
            (now >= x->next_send || n_open(x) == 0) &&
            send_scheduled(x, now) < 0 && n_open(x) == 0)
            break;
        n = 0;
        for (i = 0; i < x->n_srv; i++) {
            if (x->srv[i].fd < 0)
                continue;
            pfd[n].fd = x->srv[i].fd;
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            idx[n++] = i;
        }
        if (n == 0)
            break;
        until = x->deadline;
        if (x->sent <= x->o.retries && x->next_send < until)
            until = x->next_send;
        rc = poll(pfd, (nfds_t)n, (int)(until > now ? until - now : 0));
        if (rc < 0 && errno != EINTR) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            break;
        }
        for (i = 0; rc > 0 && i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            fail = SF_NONE;
            got = udp_read(x, &x->srv[idx[i]], buf, r, &fail, why, whylen);
            if (fail != SF_NONE)
                last = fail;
            if (got) {
                report(x, &x->srv[idx[i]], NULL);
                snprintf(x->server, sizeof(x->server), "%s",
                         srv_name(&x->srv[idx[i]]));
                goto out;
            }
        }
        if (rc == 0 && io_now_ms() >= x->deadline)
            break;
    }
out:
    free(buf);
    /* every other member that was sent the query and stayed silent */
    for (i = 0; i < x->n_srv; i++) {
        if (x->srv[i].fd >= 0 && !x->srv[i].answered) {
            report(x, &x->srv[i], "timeout");
            last = SF_TIMEOUT;
        }
        srv_close(&x->srv[i]);
    }
    if (got)
        return 0;
    if (x->n_srv == 0)
        return no_member(x, why, whylen);
    if (last == SF_GARBAGE)
        return -RM_KARMA_X_BADREPLY;
    if (last == SF_REFUSED)
        return -RM_KARMA_X_REFUSED;
    snprintf(why, whylen, "timeout");
    return -RM_KARMA_X_TIMEOUT;
}

/* ------------------------------------------------------------------------ */
/* TCP                                                                      */
/* ------------------------------------------------------------------------ */

/* tcp_exchange - one member: 0 with *r, or a negative code with why */
static int
tcp_exchange(struct rm_karma_x *x, struct rm_karma_x_srv *s, uint64_t dl,
             struct rm_karma_reply *r, enum srv_fail *fail, char *why,
             size_t whylen)
{
    unsigned char hdr[4];
    struct iovec iov[2];
    char err[160], clean[160];
    char *buf = NULL;
    uint32_t flen;
    int fd = -1, rc;

    rc = io_connect(upstream_server(s->up), dl, &fd);
    if (rc < 0)
        goto io_fail;
    hdr[0] = (unsigned char)(x->len >> 24);
    hdr[1] = (unsigned char)(x->len >> 16);
    hdr[2] = (unsigned char)(x->len >> 8);
    hdr[3] = (unsigned char)x->len;
    iov[0].iov_base = hdr;
    iov[0].iov_len = 4;
    iov[1].iov_base = x->pkt;
    iov[1].iov_len = x->len;
    rc = io_writev_all(fd, iov, 2, dl);
    if (rc < 0)
        goto io_fail;
    msg_debug("%s: karma: query %s sent to %s over TCP (%zu bytes)", x->tag,
              x->id, srv_name(s), x->len);
    for (;;) {
        rc = io_read_exact(fd, hdr, 4, dl);
        if (rc < 0)
            goto io_fail;
        flen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
               (uint32_t)hdr[2] << 8 | hdr[3];
        if (flen >= RM_KARMA_TCP_MAX) {
            snprintf(err, sizeof(err), "frame of %u bytes", (unsigned)flen);
            rc = -EINVAL;
            goto garbage;
        }
        buf = xrealloc(buf, flen ? flen : 1);
        rc = io_read_exact(fd, buf, flen, dl);
        if (rc < 0)
            goto io_fail;
        rc = karma_reply_parse(buf, flen, x->o.feedset, r, err, sizeof(err));
        if (rc < 0)
            goto garbage;
        if (r->has_id && strcmp(r->id, x->id) == 0)
            break;
        msg_debug("%s: karma: ignored a TCP reply for another id from %s",
                  x->tag, srv_name(s));
        karma_reply_free(r);
    }
    rc = 0;
    goto out;
garbage:
    hdr_text_oneline(err, strlen(err), clean, sizeof(clean), 0);
    snprintf(why, whylen, "bad reply: %s", clean);
    msg_warn("%s: karma: server %s sent a bad reply: %s", x->tag, srv_name(s),
             clean);
    *fail = SF_GARBAGE;
    rc = -EINVAL;
    goto out;
io_fail:
    snprintf(why, whylen, "%s", rc == -ETIMEDOUT ? "timeout" : io_strerror(rc));
    *fail = rc == -ETIMEDOUT ? SF_TIMEOUT : SF_REFUSED;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int
tcp_finish(struct rm_karma_x *x, struct rm_karma_reply *r, char *why,
           size_t whylen)
{
    enum srv_fail fail = SF_NONE;
    struct rm_karma_x_srv *s;
    unsigned attempts = 0, max = x->o.retries + 1;
    uint64_t now, budget;
    size_t left;

    /* nothing happened before: the whole timeout starts now */
    x->deadline = io_now_ms() + x->o.timeout_ms;
    while (attempts < max) {
        now = io_now_ms();
        if (now >= x->deadline)
            break;
        s = new_member(x);
        if (s == NULL)
            break;
        attempts++;
        left = upstream_pool_size(x->o.pool) - (x->n_srv - 1);
        if (left > max - attempts + 1)
            left = max - attempts + 1;
        budget = (x->deadline - now) / (left ? left : 1);
        fail = SF_NONE;
        if (tcp_exchange(x, s, now + budget, r, &fail, why, whylen) == 0) {
            s->answered = true;
            report(x, s, NULL);
            snprintf(x->server, sizeof(x->server), "%s", srv_name(s));
            return 0;
        }
        report(x, s, why);
    }
    if (x->n_srv == 0)
        return no_member(x, why, whylen);
    if (fail == SF_GARBAGE)
        return -RM_KARMA_X_BADREPLY;
    if (fail == SF_REFUSED)
        return -RM_KARMA_X_REFUSED;
    snprintf(why, whylen, "timeout");
    return -RM_KARMA_X_TIMEOUT;
}

/* ------------------------------------------------------------------------ */
/* the exchange                                                             */
/* ------------------------------------------------------------------------ */

int
karma_x_start(struct rm_karma_x *x, const char *id, const void *pkt, size_t len)
{
    uint64_t now = io_now_ms();

    if (x->started)
        return 0;
    x->started = true;
    x->id = xstrdup(id);
    x->pkt = xmalloc(len ? len : 1);
    memcpy(x->pkt, pkt, len);
    x->len = len;
    x->tcp = x->o.tcp || len > RM_KARMA_UDP_MAX;
    x->t_start = now;
    x->deadline = now + x->o.timeout_ms;
    x->next_send = now;
    if (!x->tcp)
        (void)send_scheduled(x, now);
    return 0;
}

int
karma_x_finish(struct rm_karma_x *x, struct rm_karma_reply *r, char *why,
               size_t whylen)
{
    char tmp[KX_WHY];
    int rc;

    memset(r, 0, sizeof(*r));
    if (why == NULL || whylen == 0) {
        why = tmp;
        whylen = sizeof(tmp);
    }
    why[0] = '\0';
    if (!x->started)
        return -RM_KARMA_X_NOSERVER; /* karma_x_start was never called */
    if (x->o.pool == NULL || upstream_pool_size(x->o.pool) == 0) {
        snprintf(why, whylen, "no server");
        return -RM_KARMA_X_NOSERVER;
    }
    rc = x->tcp ? tcp_finish(x, r, why, whylen) : udp_finish(x, r, why, whylen);
    if (rc == 0 && r->error) {
        char clean[160];

        hdr_text_oneline(r->message ? r->message : "",
                         r->message ? strlen(r->message) : 0, clean,
                         sizeof(clean), 0);
        snprintf(why, whylen, "server error: %s",
                 clean[0] ? clean : "(no message)");
        return -RM_KARMA_X_ERRREPLY;
    }
    return rc;
}
