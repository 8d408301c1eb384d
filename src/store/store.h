/*
 * NAME
 *   store - key/value state with TTLs for greylisting, limits and reply ids
 *
 * SYNOPSIS
 *   struct rm_store *st = store_mem_shared(cfg->greylisting.store_size);
 *   char v[RM_STORE_VAL_MAX + 1];
 *   int rc = store_get(st, key, v, sizeof(v), &err);
 *   if (rc == 0)              ... found, v holds the text value
 *   else if (rc == -ENOENT)   ... not found
 *   else                      ... backend failure: the module's on_failure
 *   store_free(st);
 *
 * DESCRIPTION
 *   One interface, two backends: the embedded in-process table
 *   (store_mem.c, the default when there is no redis { } section) and
 *   Redis (store_redis.c). A backend fills a struct rm_store_ops; a handle
 *   is created per config generation and per role (grey, white, limits,
 *   id) and freed by that generation. Handles are immutable once created
 *   and every operation is thread-safe.
 *
 *   Keys and values are TEXT: keys at most RM_STORE_KEY_MAX bytes, values
 *   at most RM_STORE_VAL_MAX bytes, neither containing NUL. Values are
 *   never binary structs (the original rmilter's host-endian structs were
 *   non-portable, and a short foreign value corrupted memory).
 *
 *   Times: TTLs are relative milliseconds, counted by the backend (the
 *   embedded store's clock, or Redis' own). A TTL of 0 means "no expiry".
 *   Bucket times (now_ms) are absolute milliseconds supplied by the caller,
 *   normally the wall clock (rm_clock_wall), so that several MTAs sharing
 *   Redis agree; tests and `rmilter replay` pass a simulated clock.
 *
 * RETURN VALUES
 *   Every operation returns 0 on success, or a negative errno-style code:
 *     -ENOENT        get/del: no such key (not a failure)
 *     -EEXIST        set_nx: the key already exists (not a failure)
 *     anything else  a failure; the caller applies the module's
 *                    on_failure: -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET,
 *                    -EACCES (AUTH refused), -EPROTO (an error reply),
 *                    -EBADMSG / -EMSGSIZE (the key holds a value that is
 *                    not ours), -ENOSPC, and -EINVAL (bad arguments: an
 *                    empty or too long key or value, burst or rate <= 0).
 *   store_failed() tells failures from the two answers above. When err is
 *   not NULL it receives one line naming the backend and server, for the
 *   log.
 *
 * LEAKY BUCKETS
 *   store_bucket() atomically (one Lua script on Redis; one critical
 *   section in the embedded store) loads the bucket, leaks it, applies the
 *   increment, stores it and reports the level. See store_bucket_apply()
 *   below for the exact arithmetic; both backends implement exactly it.
 *
 * SEE ALSO
 *   store_mem.c, store_redis.c, store_bucket.c
 */
#ifndef RM_STORE_H
#define RM_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RM_STORE_KEY_MAX 1024
#define RM_STORE_VAL_MAX 256

/* A clock: milliseconds, from any fixed origin the caller chooses. */
typedef uint64_t (*rm_clock_fn)(void *arg);

/* rm_clock_wall - CLOCK_REALTIME in ms since the epoch (arg unused) */
uint64_t rm_clock_wall(void *arg);
/* rm_clock_mono - CLOCK_MONOTONIC in ms (arg unused) */
uint64_t rm_clock_mono(void *arg);

/* One line of detail for the log when an operation fails. */
struct rm_store_err {
    char msg[192];
};

/*
 * A bucket operation. incr is what the operation adds:
 *   0     check: "would one more message fit?"; nothing is stored
 *   > 0   take: add incr if level + incr <= burst; otherwise refuse (over)
 *         and leave the bucket as it is. With force, add it anyway (the
 *         message was already accepted) and report over if above burst.
 *   < 0   give back (e.g. a reserved message was not delivered); the
 *         level never goes below 0
 * burst > 0 and rate > 0 (messages per second), else -EINVAL.
 */
struct rm_bucket_req {
    uint64_t now_ms;
    double burst;
    double rate;
    double incr;
    bool force;
};

struct rm_bucket_res {
    double level; /* after the operation (leaked, plus what was added) */
    bool over;    /* check/take: refused; force: the level exceeds burst */
};

struct rm_store;

struct rm_store_ops {
    const char *name; /* "memory", "redis" */
    int (*get)(struct rm_store *st, const char *key, char *val, size_t len,
               struct rm_store_err *err);
    int (*set)(struct rm_store *st, const char *key, const char *val,
               uint64_t ttl_ms, struct rm_store_err *err);
    int (*set_nx)(struct rm_store *st, const char *key, const char *val,
                  uint64_t ttl_ms, struct rm_store_err *err);
    int (*del)(struct rm_store *st, const char *key, struct rm_store_err *err);
    int (*bucket)(struct rm_store *st, const char *key,
                  const struct rm_bucket_req *req, struct rm_bucket_res *res,
                  struct rm_store_err *err);
    void (*free)(struct rm_store *st);
};

/* Backends embed this as their first member. */
struct rm_store {
    const struct rm_store_ops *ops;
};

/*
 * store_get - copy the value of key into val (len bytes, NUL-terminated).
 * 0, -ENOENT, or a failure; a stored value longer than len - 1 is
 * -EMSGSIZE (a failure: the key space holds something that is not ours).
 */
int store_get(struct rm_store *st, const char *key, char *val, size_t len,
              struct rm_store_err *err);
/* store_set - create or replace key with val, expiring after ttl_ms */
int store_set(struct rm_store *st, const char *key, const char *val,
              uint64_t ttl_ms, struct rm_store_err *err);
/* store_set_nx - create key only if absent: 0 created, -EEXIST present */
int store_set_nx(struct rm_store *st, const char *key, const char *val,
                 uint64_t ttl_ms, struct rm_store_err *err);
/* store_del - remove key: 0 removed, -ENOENT absent */
int store_del(struct rm_store *st, const char *key, struct rm_store_err *err);
/* store_bucket - the atomic leaky-bucket operation (see rm_bucket_req) */
int store_bucket(struct rm_store *st, const char *key,
                 const struct rm_bucket_req *req, struct rm_bucket_res *res,
                 struct rm_store_err *err);
/* store_free - release the handle (NULL is a no-op) */
void store_free(struct rm_store *st);
/* store_name - the backend's name, for logs */
const char *store_name(const struct rm_store *st);

/* store_failed - true if rc is a backend failure (not 0/-ENOENT/-EEXIST) */
static inline bool
store_failed(int rc)
{
    return rc < 0 && rc != -ENOENT && rc != -EEXIST;
}

/* store_err_set - format one line into err (NULL is a no-op) */
void store_err_set(struct rm_store_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the embedded backend (store_mem.c) ---- */

struct rm_store_mem_stats {
    size_t entries;
    size_t bytes;     /* accounted: entries, keys, values, the hash table */
    size_t cap;       /* the byte cap */
    uint64_t evicted; /* entries dropped to stay under the cap */
    uint64_t expired; /* entries dropped because their TTL passed */
};

/*
 * store_mem_new - a private in-process table capped at cap_bytes (at least
 * RM_STORE_MEM_MIN_CAP), timing TTLs with clock(clock_arg) (NULL: the
 * monotonic clock). For tests and `rmilter replay`.
 */
#define RM_STORE_MEM_MIN_CAP 16384
struct rm_store *store_mem_new(size_t cap_bytes, rm_clock_fn clock,
                               void *clock_arg);
/*
 * store_mem_shared - a handle on the process-wide table, created on first
 * use. Each call sets the cap to cap_bytes (evicting at once if smaller).
 * The table lives while any handle does, so a reload that opens the new
 * generation's handle before freeing the old one keeps all state.
 */
struct rm_store *store_mem_shared(size_t cap_bytes);
/* store_mem_stats - counters of an embedded store; -EINVAL for others */
int store_mem_stats(struct rm_store *st, struct rm_store_mem_stats *out);
/* store_mem_entry_cost - bytes charged for one entry (for tests, docs) */
size_t store_mem_entry_cost(size_t key_len, size_t val_len);

/* ---- the Redis backend (store_redis.c) ---- */

struct rm_servers;
struct rm_cfg_redis;

struct rm_store_redis_opts {
    const char *name;                 /* pool name in logs: "redis_grey" */
    const struct rm_servers *servers; /* keys sharded over these (HASHED) */
    const struct rm_servers *mirrors; /* NULL/empty: none; see below */
    const char *password;             /* NULL/"": no AUTH */
    const char *dbname;               /* NULL/"": no SELECT; else digits */
    uint64_t connect_timeout_ms;      /* per connect */
    uint64_t read_timeout_ms;         /* per command: send + whole reply */
    uint64_t error_time_ms;           /* upstream health limits */
    unsigned maxerrors;
    uint64_t dead_time_ms;
};

/*
 * store_redis_opts_from_cfg - fill *o from a redis { } section: password,
 * dbname, timeouts and health limits; name, servers and mirrors are left
 * to the caller (grey: servers_grey + mirror_grey; white: servers_white,
 * or servers_grey when empty, + mirror_white; limits; id).
 */
void store_redis_opts_from_cfg(struct rm_store_redis_opts *o,
                               const struct rm_cfg_redis *rc);
/*
 * store_redis_new - a Redis-backed store over o->servers (copied; the
 * handle owns its upstream pools). Every key goes to the member the
 * pool's consistent hash picks; every set, set_nx (when it created the
 * key) and del is also sent, best effort, to every live mirror (bucket
 * operations are not mirrored). 0, or -EINVAL with
 * err filled (no servers, dbname not a number).
 */
int store_redis_new(const struct rm_store_redis_opts *o, struct rm_store **out,
                    struct rm_store_err *err);
/* store_redis_pool - the handle's server pool, for stats and metrics;
 * NULL if st is not a Redis store */
struct rm_upstream_pool;
struct rm_upstream_pool *store_redis_pool(struct rm_store *st);
/* store_redis_thread_cleanup - close the calling thread's cached Redis
 * connections (threads that exit do this by themselves) */
void store_redis_thread_cleanup(void);

/* ---- leaky-bucket arithmetic (store_bucket.c), shared by backends ---- */

/* The stored state of a bucket; its text form is "<last_ms>:<level>". */
struct rm_bucket_state {
    uint64_t last_ms;
    double level;
};

/* Tolerance for floating-point noise when comparing with burst. */
#define RM_BUCKET_EPSILON 1e-9

/*
 * store_bucket_apply - the bucket arithmetic, pure. st holds the loaded
 * state (have = false: none, i.e. empty). Then:
 *   1. leak: level -= (now - last) / 1000 * rate, clamped at 0; a "now"
 *      earlier than last (clock skew between MTAs) leaks nothing, and
 *      last = max(last, now);
 *   2. check (incr == 0): over = level + 1 > burst;
 *      take (incr > 0): over = level + incr > burst; if !over or force,
 *      level += incr (with force, over is still reported);
 *      give back (incr < 0): level += incr, clamped at 0;
 *   (comparisons tolerate RM_BUCKET_EPSILON).
 * So from empty, exactly floor(burst) messages of incr 1 pass at one
 * instant; the next one passes once the level has leaked by 1, i.e.
 * 1/rate seconds later.
 * Returns true if the new state must be stored (a take or give back that
 * changed it), false for a check or a refused take.
 */
bool store_bucket_apply(struct rm_bucket_state *st, bool have,
                        const struct rm_bucket_req *req,
                        struct rm_bucket_res *res);
/* store_bucket_format - "<last_ms>:<level>" (%.17g); 0 or -EMSGSIZE */
int store_bucket_format(const struct rm_bucket_state *st, char *buf,
                        size_t len);
/* store_bucket_parse - the text form back; 0 or -EBADMSG */
int store_bucket_parse(const char *text, struct rm_bucket_state *st);
/* store_bucket_ttl_ms - how long until the level has leaked to 0, plus a
 * second: past that an absent key and the stored one mean the same */
uint64_t store_bucket_ttl_ms(const struct rm_bucket_state *st, double rate);

#endif
