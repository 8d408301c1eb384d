/*
 * NAME
 *   beanstalk_client - put jobs to beanstalkd over cached connections
 *
 * DESCRIPTION
 *   See beanstalk_client.h for what a put does and returns. Wire format
 *   and reply parsing are proto/beanstalk.c; the bytes travel through
 *   net/io.c, so every connect, write and read is bounded by the put's
 *   deadline and writes never raise SIGPIPE.
 *
 *   Invariants: a connection on the idle list has had its "use <tube>"
 *   answered with USING <tube>, and has no command outstanding (every
 *   put on it was answered). Any error, timeout or reply other than
 *   INSERTED, BURIED and JOB_TOO_BIG closes it, because the stream
 *   position is then unknown.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The idle list is process-wide, guarded by idle_lock, which is held
 *   only to take a connection off the list or put one back, never
 *   across I/O; a connection taken off belongs to its thread until it
 *   is put back or closed. Pools are borrowed and thread-safe. The data
 *   of a put is borrowed for the call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "lib/xmalloc.h"
#include "modules/beanstalk_client.h"
#include "net/io.h"
#include "proto/beanstalk.h"

/* One connection to a server with a tube selected. */
struct conn {
    struct conn *next;
    char *id; /* server and tube: what the connection is */
    int fd;
    uint64_t used_ms;
};

/* The idle connections of the process, newest first. A connection in use
 * is not on the list: its thread owns it until conn_release. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *idle_head;
static size_t n_idle;

/* ---- the idle pool ---- */

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->id);
    free(c);
}

void
bs_close_idle(void)
{
    struct conn *c, *next;

    pthread_mutex_lock(&idle_lock);
    c = idle_head;
    idle_head = NULL;
    n_idle = 0;
    pthread_mutex_unlock(&idle_lock);
    for (; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}

/* conn_id - what a connection to srv using tube is; a new string */
static char *
conn_id(const struct rm_server *srv, const char *tube)
{
    if (srv->path != NULL)
        return xasprintf("unix:%s\x1f%s", srv->path, tube);
    return xasprintf("%s:%u\x1f%s", srv->host ? srv->host : "",
                     (unsigned)srv->port, tube);
}

/* conn_take - check out the newest idle connection with id (NULL: none);
 * idle connections past RM_BS_CONN_IDLE_MS are closed on the way */
static struct conn *
conn_take(const char *id, uint64_t now)
{
    struct conn **pp, *c, *found = NULL, *stale_list = NULL;

    pthread_mutex_lock(&idle_lock);
    pp = &idle_head;
    while ((c = *pp) != NULL) {
        /* (used_ms may be newer than now: put back meanwhile) */
        bool expired =
            c->used_ms < now && now - c->used_ms > RM_BS_CONN_IDLE_MS;
        bool match = !expired && found == NULL && strcmp(c->id, id) == 0;

        if (!expired && !match) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        n_idle--;
        if (match) {
            found = c;
        } else {
            c->next = stale_list;
            stale_list = c;
        }
    }
    pthread_mutex_unlock(&idle_lock);
    while ((c = stale_list) != NULL) {
        stale_list = c->next;
        conn_close(c);
    }
    if (found != NULL)
        found->next = NULL;
    return found;
}

/* conn_release - check c back in after a clean exchange (closed instead
 * when RM_BS_IDLE_MAX connections are idle already) */
static void
conn_release(struct conn *c)
{
    c->used_ms = io_now_ms();
    pthread_mutex_lock(&idle_lock);
    if (n_idle < RM_BS_IDLE_MAX) {
        c->next = idle_head;
        idle_head = c;
        n_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&idle_lock);
    if (c != NULL)
        conn_close(c);
}

/* ---- one exchange ---- */

/*
 * read_reply - read and parse one reply before deadline
 *
 * 0 with *r set; *extra is set when bytes followed the reply (nothing
 * was outstanding, so the stream is out of step: drop the connection
 * after using the reply). *any tells whether any byte arrived. Negative:
 * an io code, -IO_ECLOSED at EOF, -EBADMSG for garbage.
 */
static int
read_reply(int fd, uint64_t deadline, struct rm_bs_reply *r, bool *any,
           bool *extra)
{
    char buf[RM_BS_REPLY_MAX];
    size_t have = 0, got, used = 0;
    int rc;

    *any = false;
    *extra = false;
    for (;;) {
        rc = beanstalk_reply_parse(buf, have, r, &used);
        if (rc == 0) {
            *extra = used != have;
            return 0;
        }
        if (rc != -EAGAIN)
            return rc;
        rc = io_read_some(fd, buf + have, sizeof(buf) - have, deadline, &got);
        if (rc < 0)
            return rc;
        if (got == 0)
            return -IO_ECLOSED;
        *any = true;
        have += got;
    }
}

/* why_set - the reason text of a failed step */
static void
why_set(struct rm_bs_result *res, const char *step, int rc)
{
    if (rc == -EBADMSG)
        snprintf(res->why, sizeof(res->why), "%s: bad reply", step);
    else
        snprintf(res->why, sizeof(res->why), "%s: %s", step, io_strerror(rc));
}

/* conn_open - connect to srv and select the tube; a connection owned by
 * the caller */
static int
conn_open(const struct rm_server *srv, const struct rm_bs_opts *o,
          uint64_t deadline, char *id, struct conn **out,
          struct rm_bs_result *res)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    struct rm_bs_reply r;
    char cmd[RM_BS_CMD_MAX];
    uint64_t cdl = io_deadline(o->connect_timeout_ms);
    size_t len;
    bool any, extra;
    int rc;

    c->id = id;
    c->fd = -1;
    if ((rc = io_connect(srv, cdl < deadline ? cdl : deadline, &c->fd)) < 0) {
        why_set(res, "connect", rc);
        goto out;
    }
    if ((rc = beanstalk_enc_use(cmd, sizeof(cmd), o->tube, &len)) < 0) {
        snprintf(res->why, sizeof(res->why), "use: invalid tube name");
        goto out;
    }
    if ((rc = io_write_all(c->fd, cmd, len, deadline)) < 0) {
        why_set(res, "use", rc);
        goto out;
    }
    if ((rc = read_reply(c->fd, deadline, &r, &any, &extra)) < 0) {
        why_set(res, "use", rc);
        goto out;
    }
    if (r.bs_kind != RM_BS_USING || strcmp(r.bs_tube, o->tube) != 0 || extra) {
        snprintf(res->why, sizeof(res->why), "use: unexpected reply %s",
                 beanstalk_reply_name(r.bs_kind));
        rc = -EPROTO;
        goto out;
    }
    c->used_ms = io_now_ms();
    *out = c;
    return 0;
out:
    conn_close(c);
    return rc;
}

/* stale - the error a reused connection shows when the server closed it */
static bool
stale(int rc)
{
    return rc == -IO_ECLOSED || rc == -ECONNRESET || rc == -EPIPE;
}

/*
 * attempt - one put to member srv before deadline
 *
 * 0 stored (res->id, res->buried), -E2BIG (JOB_TOO_BIG), or a negative
 * failure with res->why set.
 */
static int
attempt(const struct rm_server *srv, const struct rm_bs_opts *o,
        const char *line, size_t line_len, const void *data, size_t len,
        uint64_t deadline, struct rm_bs_result *res)
{
    struct iovec iov[3];
    struct rm_bs_reply r;
    struct conn *c;
    char *id = conn_id(srv, o->tube);
    bool reused, any = false, extra = false;
    int rc, round;

    c = conn_take(id, io_now_ms());
    if (c != NULL) {
        free(id);
        id = NULL;
    }
    for (round = 0;; round++) {
        reused = c != NULL;
        if (c == NULL) {
            if (id == NULL)
                id = conn_id(srv, o->tube);
            rc = conn_open(srv, o, deadline, id, &c, res);
            id = NULL; /* owned (and freed) by the connection */
            if (rc < 0)
                return rc;
        }
        iov[0].iov_base = (void *)line;
        iov[0].iov_len = line_len;
        iov[1].iov_base = (void *)data;
        iov[1].iov_len = len;
        iov[2].iov_base = (void *)RM_BS_CRLF;
        iov[2].iov_len = RM_BS_CRLF_LEN;
        rc = io_writev_all(c->fd, iov, 3, deadline);
        any = false;
        if (rc == 0)
            rc = read_reply(c->fd, deadline, &r, &any, &extra);
        if (rc == 0)
            break;
        conn_close(c);
        c = NULL;
        if (reused && round == 0 && !any && stale(rc))
            continue; /* the server closed it while idle: reopen once */
        why_set(res, "put", rc);
        return rc;
    }
    switch (r.bs_kind) {
    case RM_BS_INSERTED:
    case RM_BS_BURIED:
        res->id = r.bs_id;
        res->buried = r.bs_kind == RM_BS_BURIED;
        rc = 0;
        break;
    case RM_BS_JOB_TOO_BIG:
        snprintf(res->why, sizeof(res->why), "put: JOB_TOO_BIG");
        rc = -E2BIG;
        break;
    default:
        snprintf(res->why, sizeof(res->why), "put: %s",
                 beanstalk_reply_name(r.bs_kind));
        rc = -EPROTO;
        break;
    }
    if (extra || (rc != 0 && rc != -E2BIG))
        conn_close(c);
    else
        conn_release(c);
    return rc;
}

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
bs_put(struct rm_upstream_pool *pool, const struct rm_bs_opts *o,
       uint64_t deadline_ms, const void *data, size_t len,
       struct rm_bs_result *res)
{
    struct rm_upstream *tried[RM_BS_ATTEMPTS], *up;
    char line[RM_BS_CMD_MAX];
    size_t line_len, n = 0;
    uint64_t now = io_now_ms(), deadline = now + o->timeout_ms, t0;
    int rc;

    memset(res, 0, sizeof(*res));
    if (pool == NULL || upstream_pool_size(pool) == 0) {
        snprintf(res->why, sizeof(res->why), "no servers");
        return -EHOSTDOWN;
    }
    if (deadline_ms != 0 && deadline_ms < deadline)
        deadline = deadline_ms;
    if (now >= deadline) {
        snprintf(res->why, sizeof(res->why),
                 "no time left (timeout spent on earlier jobs)");
        return -ETIMEDOUT;
    }
    rc = beanstalk_enc_put(line, sizeof(line), o->pri, 0, o->ttr, (uint64_t)len,
                           &line_len);
    if (rc < 0) {
        snprintf(res->why, sizeof(res->why), "cannot encode the put");
        return rc;
    }
    up = upstream_get(pool, NULL, 0, now);
    if (up == NULL || !upstream_is_alive(up, now)) {
        if (up != NULL)
            snprintf(res->server, sizeof(res->server), "%s", upstream_name(up));
        snprintf(res->why, sizeof(res->why), "every server is dead");
        return -EHOSTDOWN;
    }
    for (;;) {
        tried[n++] = up;
        res->attempts++;
        snprintf(res->server, sizeof(res->server), "%s", upstream_name(up));
        res->why[0] = '\0';
        t0 = now_us();
        rc = attempt(upstream_server(up), o, line, line_len, data, len,
                     deadline, res);
        now = io_now_ms();
        if (rc == 0 || rc == -E2BIG)
            upstream_ok(up, now);
        else
            upstream_fail(up, now, res->why);
        metrics_backend(upstream_pool_name(pool), upstream_name(up),
                        now_us() - t0, rc == 0);
        if (rc == 0 || rc == -E2BIG)
            return rc;
        if (n >= RM_BS_ATTEMPTS || now >= deadline)
            return rc;
        up = upstream_get_next(pool, NULL, 0, now, tried, n);
        if (up == NULL || !upstream_is_alive(up, now))
            return rc;
    }
}
