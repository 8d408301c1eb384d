/*
 * NAME
 *   batch - parallel request/reply exchanges with backends, from one thread
 *
 * SYNOPSIS
 *   struct rm_batch_ex ex[2] = {
 *       { .ex_name = "clamav", .ex_pool = clam_pool,
 *         .ex_fill = clam_fill, .ex_fill_ud = &clam_state,
 *         .ex_feed = clam_feed, .ex_feed_ud = &clam_reader },
 *       { .ex_name = "spamd", .ex_pool = spamd_pool,
 *         .ex_head = hdr, .ex_head_len = hdr_len,
 *         .ex_fill = batch_fill_fd, .ex_fill_ud = &spool_src,
 *         .ex_shut_wr = true,
 *         .ex_feed = spamd_feed, .ex_feed_ud = &spamd_reader },
 *   };
 *   batch_run(ex, 2, io_deadline(timeout_ms), NULL, NULL);
 *   ... ex[i].ex_res.br_status, br_end_ms - br_start_ms ...
 *
 * DESCRIPTION
 *   batch_run runs N exchanges concurrently on the calling thread with one
 *   poll(2) loop and one absolute deadline, so a message waits for the
 *   slowest backend, not the sum. Each exchange is a small state machine:
 *
 *     connect -> write -> read -> done | failed
 *
 *   connect: a member is taken from ex_pool (upstream_get, then
 *     upstream_get_next for each retry) or ex_server is used as is; the
 *     socket is non-blocking and connects asynchronously (TCP to each
 *     address of the host in turn, or a unix path). A member that refuses
 *     or does not connect within ex_connect_ms is reported failed and,
 *     while ex_attempts allow and no request byte was produced yet, the
 *     next member is tried.
 *   write: ex_head (caller's memory), then what ex_fill produces into a
 *     small per-exchange buffer (the message streamed from the spool;
 *     never copied whole), then optionally shutdown(SHUT_WR).
 *   read: every byte received goes to ex_feed (a proto/ reader) as it
 *     arrives, and once more with eof when the server closes. Reading
 *     starts while the request is still being written: a server that
 *     answers early ("INSTREAM size limit exceeded") and closes is heard,
 *     not reported as a broken pipe.
 *
 *   The member in use is known to the callbacks: ex_res.br_up and
 *   br_server are set when an attempt starts (the CONNECTING or RETRY
 *   event), before the first ex_fill or ex_feed call on its connection,
 *   and a retry happens only before the first ex_fill. A client whose
 *   request depends on the member (SpamAssassin or rspamd, by the
 *   member's server) may build it in ex_fill from br_up.
 *
 *   Every exchange ends with a result: its status, the failure reason
 *   (refused, timeout, closed early, protocol error, ...) and its own
 *   timings. Its upstream member (if it came from a pool) gets exactly one
 *   upstream_ok or upstream_fail per connection attempt, with the reason
 *   text, except for local failures (the fill source failed) and no
 *   server, which are nobody's fault on the far side.
 *
 *   Memory: one RM_BATCH_BUFSIZE write buffer per exchange and one read
 *   buffer per batch, freed before batch_run returns; readers bound their
 *   own memory.
 *
 * THREAD SAFETY
 *   batch_run uses no shared state beyond the upstream pools (which are
 *   thread-safe); exchanges of one batch belong to the calling thread.
 *   Callbacks run on the calling thread, inside batch_run.
 *
 * SEE ALSO
 *   io.h, upstream.h, proto/clamd.h, proto/spamd.h, proto/http.h,
 *   research/style.md section 11.5
 */
#ifndef RM_NET_BATCH_H
#define RM_NET_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg/cfg_types.h"
#include "net/upstream.h"

/* Size of each exchange's write buffer and of the batch's read buffer. */
#define RM_BATCH_BUFSIZE (64 * 1024)
/* At most this many exchanges in one batch. */
#define RM_BATCH_MAX 64

/*
 * A request body source: put up to size bytes into buf and set *len;
 * *len == 0 means the body is complete. Returns 0, or a negative code
 * that fails the exchange with RM_BATCH_LOCAL (no upstream report).
 */
typedef int (*rm_batch_fill_fn)(void *ud, void *buf, size_t size, size_t *len);

/* Values an ex_feed callback returns (negative: a protocol error). */
#define RM_BATCH_MORE 0 /* more reply bytes needed */
#define RM_BATCH_DONE 1 /* the reply is complete; the backend worked */
#define RM_BATCH_DONE_FAIL                                                     \
    2 /* the reply is complete, but says the backend
                                failed: RM_BATCH_BACKEND, upstream_fail */

/*
 * A reply sink: data/len are the bytes just read (len may be 0); eof is
 * true when the server has closed the connection (then len == 0). Returns
 * RM_BATCH_MORE, RM_BATCH_DONE, RM_BATCH_DONE_FAIL, or a negative code (a
 * bad reply: RM_BATCH_PROTO). MORE at eof means the server closed before
 * the reply was complete (RM_BATCH_CLOSED).
 */
typedef int (*rm_batch_feed_fn)(void *ud, const void *data, size_t len,
                                bool eof);

enum rm_batch_status {
    RM_BATCH_PENDING,  /* not run (or still running) */
    RM_BATCH_OK,       /* the reply is complete */
    RM_BATCH_REFUSED,  /* no connection: refused, unreachable, no such
                         socket, name not resolved */
    RM_BATCH_TIMEOUT,  /* the deadline (or the connect timeout of the last
                         attempt) passed */
    RM_BATCH_CLOSED,   /* the server closed (or reset) the connection
                         before the reply was complete */
    RM_BATCH_PROTO,    /* ex_feed rejected the reply */
    RM_BATCH_BACKEND,  /* ex_feed said the reply reports a failure */
    RM_BATCH_IO,       /* another socket error */
    RM_BATCH_LOCAL,    /* ex_fill failed: our side's problem */
    RM_BATCH_NOSERVER, /* empty pool, or no server given */
};

enum rm_batch_phase {
    RM_BATCH_PH_CONNECT,
    RM_BATCH_PH_WRITE,
    RM_BATCH_PH_READ,
    RM_BATCH_PH_DONE,
};

struct rm_batch_result {
    enum rm_batch_status br_status;
    enum rm_batch_phase br_phase; /* where it ended (failed) */
    int br_err;                   /* negative code for the failure (errno,
                                     IO_*, or ex_feed's), 0 if OK */
    struct rm_upstream *br_up;    /* the (last) member used, or NULL */
    const char *br_server;        /* its text ("127.0.0.1:3310"); static
                                     storage of the pool or ex_server */
    unsigned br_attempts;         /* connection attempts made */
    /* Monotonic ms (io_now_ms): start of the first connect, connection
     * established, request fully written, end (done or failed); 0 when
     * the point was not reached. */
    uint64_t br_start_ms;
    uint64_t br_connected_ms;
    uint64_t br_sent_ms;
    uint64_t br_end_ms;
    uint64_t br_bytes_out;
    uint64_t br_bytes_in;
};

struct rm_batch_ex {
    /* Set by the caller. Unset fields (zero) take the defaults. */
    const char *ex_name;               /* for logs: "clamav", "spamd" */
    struct rm_upstream_pool *ex_pool;  /* pick members from this pool, */
    const struct rm_server *ex_server; /* or use this server (no health
                                          reports), when ex_pool is NULL */
    const char *ex_key;                /* for HASHED pools */
    size_t ex_keylen;
    unsigned ex_attempts;    /* connection attempts over members; 0: 1 */
    uint64_t ex_connect_ms;  /* per-attempt connect timeout; 0: none but
                                the deadline */
    uint64_t ex_deadline_ms; /* this exchange's own absolute deadline if
                                earlier than the batch's; 0: the batch's */
    const void *ex_head;     /* written first; borrowed until the end */
    size_t ex_head_len;
    rm_batch_fill_fn ex_fill; /* then the body, if not NULL */
    void *ex_fill_ud;
    bool ex_shut_wr;          /* shutdown(SHUT_WR) after the request */
    rm_batch_feed_fn ex_feed; /* required */
    void *ex_feed_ud;

    /* Set by batch_run. */
    struct rm_batch_result ex_res;
};

/* Events reported to a batch_run observer (logs, tests). */
enum rm_batch_event {
    RM_BATCH_EV_CONNECTING, /* a connection attempt started */
    RM_BATCH_EV_CONNECTED,
    RM_BATCH_EV_SENT,   /* the whole request is written */
    RM_BATCH_EV_REPLY,  /* the first reply bytes arrived */
    RM_BATCH_EV_DONE,   /* finished OK */
    RM_BATCH_EV_FAILED, /* finished with a failure (see ex_res) */
    RM_BATCH_EV_RETRY,  /* an attempt failed; another member next */
};

typedef void (*rm_batch_event_fn)(void *ud, size_t idx,
                                  const struct rm_batch_ex *ex,
                                  enum rm_batch_event ev, uint64_t now_ms);

/*
 * batch_run - run ex[0..n-1] concurrently until each is done or failed
 *
 * deadline_ms is absolute (io_deadline(timeout)); every exchange still
 * unfinished then fails with RM_BATCH_TIMEOUT. on_event (may be NULL) is
 * called with ud for each event, in the order they happen. Results are in
 * each ex[i].ex_res. Returns 0 when every exchange is RM_BATCH_OK, -EIO
 * when at least one failed, -EINVAL (nothing run) for n > RM_BATCH_MAX or
 * an exchange without ex_feed.
 */
int batch_run(struct rm_batch_ex *ex, size_t n, uint64_t deadline_ms,
              rm_batch_event_fn on_event, void *ud);

/* batch_status_name - "ok", "refused", "timeout", "closed early",
 * "protocol error", "backend error", "I/O error", "local error", "no
 * server", "pending" */
const char *batch_status_name(enum rm_batch_status st);

/* batch_event_name - "connecting", "connected", "sent", "reply", "done",
 * "failed", "retry" */
const char *batch_event_name(enum rm_batch_event ev);

/* ---------------------------------------------------------------------- */
/* Body sources for ex_fill */

/* A memory buffer: set bm_data/bm_len, bm_off = 0. */
struct rm_batch_mem {
    const void *bm_data;
    size_t bm_len;
    size_t bm_off;
};
int batch_fill_mem(void *ud, void *buf, size_t size, size_t *len);

/*
 * A byte range read with a pread-like function (the spool's spool_read
 * through a one-line adapter, or batch_pread_fd for a plain fd): bytes
 * [rg_off, rg_end) of rg_src. A source that ends before rg_end fails
 * with -EIO (the file changed under us).
 */
typedef ssize_t (*rm_batch_pread_fn)(void *src, uint64_t off, void *buf,
                                     size_t len);
struct rm_batch_range {
    rm_batch_pread_fn rg_pread;
    void *rg_src;
    uint64_t rg_off; /* advances as the body is produced */
    uint64_t rg_end;
};
int batch_fill_range(void *ud, void *buf, size_t size, size_t *len);

/* batch_pread_fd - pread(2) on the int fd that src points to; -1 with
 * errno on error */
ssize_t batch_pread_fd(void *src, uint64_t off, void *buf, size_t len);

#endif
