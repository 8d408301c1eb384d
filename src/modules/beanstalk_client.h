/*
 * NAME
 *   beanstalk_client - put one job into a tube of a pool of beanstalkd
 *   servers, over connections kept open per thread
 *
 * SYNOPSIS
 *   struct rm_bs_opts o = { .tube = "mail", .pri = 1025, .ttr = 172800,
 *                           .connect_timeout_ms = 1000, .timeout_ms = 2000 };
 *   struct rm_bs_result res;
 *   rc = bs_put(pool, &o, 0, data, len, &res);
 *
 * DESCRIPTION
 *   Connections: kept open between puts in one process-wide list of idle
 *   connections, each to one (server, tube). A put takes an idle one for
 *   its server and tube off the list (or opens one), uses it alone, and
 *   puts it back after a clean exchange, so connections are reused
 *   across messages, sessions and threads (the daemon runs a thread per
 *   milter connection, and Postfix opens one per SMTP session) and there
 *   are never more open than puts running at once plus RM_BS_IDLE_MAX
 *   idle ones. "use <tube>" is sent once right after each (re)connect,
 *   and its USING reply checked. An idle connection is closed after
 *   RM_BS_CONN_IDLE_MS. A reused connection that the server had closed
 *   (restart) shows as a closed or reset socket before any reply byte:
 *   it is reopened once for the same put before that counts as a
 *   failure.
 *
 *   One put: a live member is picked (upstream_get); if even the picked
 *   member is dead, the whole pool is dead and nothing is tried until its
 *   dead_time passes (-EHOSTDOWN): a copy is best effort, so a dead
 *   beanstalkd costs nothing per message, unlike a backend that must
 *   answer. The put line, the data and CRLF go out in one writev; the
 *   reply decides:
 *     INSERTED, BURIED  stored (0; BURIED is logged by the caller: the
 *                       server is short of memory); upstream_ok;
 *     JOB_TOO_BIG       -E2BIG, upstream_ok: the server works, its -z is
 *                       smaller than the job; no other member is tried;
 *                       the connection stays (beanstalkd reads and drops
 *                       the data before it answers);
 *     anything else     a failure of that member (upstream_fail with the
 *                       reason: "connection refused", "timeout",
 *                       "DRAINING", "OUT_OF_MEMORY", "bad reply", ...),
 *                       the connection is closed, and the next live member
 *                       not yet tried gets the put, up to RM_BS_ATTEMPTS
 *                       members, while time is left.
 *   The whole put, connects and retries included, is bounded by
 *   timeout_ms, and by the caller's deadline_ms when that comes first
 *   (several puts of one message share one budget); each connect by
 *   connect_timeout_ms as well. A put that finds no time left is not
 *   tried (-ETIMEDOUT, no attempt, nothing reported). Every attempt is
 *   reported once to the pool and to metrics_backend (pool name, member,
 *   duration, ok).
 *
 * RETURN VALUES
 *   bs_put returns 0 (stored), -E2BIG (JOB_TOO_BIG), -EHOSTDOWN (empty or
 *   dead pool: nothing was sent), -ETIMEDOUT with no attempt (no time
 *   left), or another negative code (every member tried failed; res->why
 *   says how the last one failed). res is always
 *   filled: the member used last ("" if none), the job id, buried, and
 *   why ("" on success).
 *
 * THREAD SAFETY
 *   Any thread may call bs_put and bs_close_idle concurrently: pools are
 *   thread-safe, the idle list has its own lock, and a connection in use
 *   belongs to one put.
 *
 * SEE ALSO
 *   proto/beanstalk.h, net/io.h, net/upstream.h, modules/beanstalk.h
 */
#ifndef RM_MODULES_BEANSTALK_CLIENT_H
#define RM_MODULES_BEANSTALK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/upstream.h"

/* Most members one put tries. */
#define RM_BS_ATTEMPTS 3
/* An idle connection unused this long is closed. */
#define RM_BS_CONN_IDLE_MS (10 * 60 * 1000)
/* Most idle connections kept (beyond: closed after use). */
#define RM_BS_IDLE_MAX 64

struct rm_bs_opts {
    const char *tube; /* valid (beanstalk_tube_valid) */
    uint32_t pri;
    uint32_t ttr; /* seconds */
    uint64_t connect_timeout_ms;
    uint64_t timeout_ms; /* the whole put */
};

struct rm_bs_result {
    char server[128]; /* the member used last, as written; "" none */
    uint64_t id;      /* the job id when stored */
    bool buried;      /* stored, but buried */
    unsigned attempts;
    char why[160]; /* the last failure, for logs */
};

/* bs_put - put data[0..len) as one job before deadline_ms (monotonic,
 * io_now_ms; 0 = none) and within o->timeout_ms (see DESCRIPTION) */
int bs_put(struct rm_upstream_pool *pool, const struct rm_bs_opts *o,
           uint64_t deadline_ms, const void *data, size_t len,
           struct rm_bs_result *res);

/* bs_close_idle - close every idle connection now (at exit, in tests;
 * connections in use are not touched) */
void bs_close_idle(void);

#endif
