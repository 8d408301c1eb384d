/*
 * NAME
 *   upstream - backend pools with error counting and dead-time tracking
 *
 * DESCRIPTION
 *   A pool is the list of servers of one backend (clamav, spamd, redis...)
 *   and a selection policy. Every use of a member returned by upstream_get
 *   is closed exactly once with upstream_ok or upstream_fail.
 *
 *   Health rules (the rmilter documentation's meaning, done right):
 *   - maxerrors errors within error_time mark a member dead for dead_time.
 *     The window slides: the member dies when its last maxerrors errors
 *     all fall within error_time of the newest one. Errors spread wider
 *     than error_time never kill. A success clears the error count.
 *     error_time == 0 means no window: maxerrors errors in a row (no
 *     success between them) kill. maxerrors == 0 disables dead marking.
 *   - A dead member is not picked. It becomes alive again when dead_time
 *     has passed (noticed at the next selection) or at once when a use of
 *     it succeeds (a request that was in flight, or one sent while the
 *     whole pool was dead).
 *   - When every member is dead, selection ignores the dead marks and
 *     picks among all members by the pool's policy, so all are tried
 *     again. The members keep their dead marks (stats stay truthful and a
 *     total outage does not log a dead/revive cycle every maxerrors
 *     messages); "upstream <pool>: all N members are dead, trying all" is
 *     logged once when the pool enters that state, and the first success
 *     or expired dead_time brings members back one by one.
 *   - Only transitions are logged: msg_warn "upstream <pool>: <member>
 *     marked dead after N errors in Ts: <reason>" and msg_notice
 *     "upstream <pool>: <member> is alive again".
 *
 *   Policies:
 *   - RANDOM: uniform over the live members.
 *   - ROUND_ROBIN: smooth weighted round robin (nginx): over any run of
 *     sum(weights) picks with a stable live set, each member is picked
 *     exactly weight times, interleaved.
 *   - HASHED: a consistent-hash ring with RM_UPSTREAM_VNODES points per
 *     member, computed from the member's text only with a fixed hash, so
 *     every daemon given the same server list maps a key to the same
 *     member, whatever the order of the list. A key goes to the first live
 *     member clockwise from its hash: when a member dies only its keys
 *     move, and they come back when it revives. Weights are ignored.
 *   - MASTER_SLAVE: the live member with the highest weight; ties go to
 *     the one written first.
 *   Weights below 1 count as 1 (ROUND_ROBIN).
 *
 *   Health state survives a configuration reload: it lives in a
 *   process-wide registry keyed by (pool name, member text), shared by
 *   refcount between every pool object built with that name. A new config
 *   generation that re-creates a pool with the same members finds their
 *   errors and dead marks; a member dropped from the config loses its
 *   state when the last pool naming it is freed. The member text is the
 *   server as written ("host:port:weight"), so a changed weight is a new
 *   member. Selection state (round-robin position, random generator) is
 *   per pool object.
 *
 *   Times are monotonic milliseconds passed in by the caller
 *   (upstream_now_ms in the daemon, a fake clock in tests).
 *
 * THREAD SAFETY
 *   Every function may be called from any thread. One mutex per pool name
 *   guards the member states and the selection state of all pool objects
 *   of that name; a process-wide mutex guards the registry.
 *
 * SEE ALSO
 *   io.h, research/rmilter.md section 8 (the original's bugs)
 */
#ifndef RM_NET_UPSTREAM_H
#define RM_NET_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg_types.h"

enum rm_upstream_policy {
    RM_UPSTREAM_RANDOM,
    RM_UPSTREAM_ROUND_ROBIN,
    RM_UPSTREAM_HASHED,
    RM_UPSTREAM_MASTER_SLAVE,
};

/* Points per member on the HASHED ring. Part of the on-the-wire contract
 * between daemons sharing a Redis pool: changing it (or the hash) moves
 * keys. */
#define RM_UPSTREAM_VNODES 160

struct rm_upstream_pool;
struct rm_upstream;

/* A snapshot of one member's health, for logs and metrics. */
struct rm_upstream_stats {
    bool alive;             /* not dead, or dead_time has passed */
    unsigned errors;        /* errors in the current window */
    uint64_t dead_until_ms; /* when dead: when it may be picked again */
    uint64_t oks_total;     /* upstream_ok calls since the state was made */
    uint64_t fails_total;   /* upstream_fail calls since then */
    uint64_t deaths_total;  /* alive -> dead transitions since then */
};

/*
 * upstream_pool_new - build a pool over servers
 *
 * name names the pool in logs and keys its shared health state (use one
 * name per backend role: "clamav", "spamd", "redis"...). servers is
 * copied; the caller keeps ownership. error_time_ms, maxerrors and
 * dead_time_ms are the limits described above. An empty server list gives
 * a pool from which upstream_get returns NULL. Never fails (aborts on
 * OOM). Free with upstream_pool_free.
 */
struct rm_upstream_pool *
upstream_pool_new(const char *name, const struct rm_servers *servers,
                  enum rm_upstream_policy policy, uint64_t error_time_ms,
                  unsigned maxerrors, uint64_t dead_time_ms);

/* upstream_pool_free - free a pool and its members; NULL is a no-op. No
 * member of the pool may be used afterwards. */
void upstream_pool_free(struct rm_upstream_pool *pool);

const char *upstream_pool_name(const struct rm_upstream_pool *pool);
size_t upstream_pool_size(const struct rm_upstream_pool *pool);
enum rm_upstream_policy
upstream_pool_policy(const struct rm_upstream_pool *pool);

/* upstream_pool_member - the i-th member in written order (i < size) */
struct rm_upstream *upstream_pool_member(struct rm_upstream_pool *pool,
                                         size_t i);

/*
 * upstream_get - pick a member for a new request
 *
 * key/keylen are used by HASHED only (key may be NULL when keylen is 0)
 * and ignored otherwise. now_ms is the monotonic time. Returns NULL only
 * for an empty pool. The member belongs to the pool.
 */
struct rm_upstream *upstream_get(struct rm_upstream_pool *pool, const char *key,
                                 size_t keylen, uint64_t now_ms);

/*
 * upstream_get_next - pick a member for a retry of the same request
 *
 * Like upstream_get, but never returns one of tried[0..ntried-1] (the
 * members already used by this request, in any order). For HASHED this is
 * the next member clockwise on the ring; for MASTER_SLAVE the next by
 * priority. Returns NULL when every live member has been tried (when the
 * whole pool is dead: when every member has been tried).
 */
struct rm_upstream *upstream_get_next(struct rm_upstream_pool *pool,
                                      const char *key, size_t keylen,
                                      uint64_t now_ms,
                                      struct rm_upstream *const *tried,
                                      size_t ntried);

/* upstream_ok - the use of up succeeded: clear its errors; a dead member
 * becomes alive again (logged). */
void upstream_ok(struct rm_upstream *up, uint64_t now_ms);

/*
 * upstream_fail - the use of up failed
 *
 * reason (may be NULL) is a short text for the log, such as
 * io_strerror(rc) or "bad reply". Counts the error in the window and marks
 * the member dead when maxerrors is reached (logged once).
 */
void upstream_fail(struct rm_upstream *up, uint64_t now_ms, const char *reason);

/* upstream_server - the member's server (host/port or path, weight) */
const struct rm_server *upstream_server(const struct rm_upstream *up);

/* upstream_name - the member as written in the config */
const char *upstream_name(const struct rm_upstream *up);

/* upstream_pool_of - the pool a member belongs to */
struct rm_upstream_pool *upstream_pool_of(const struct rm_upstream *up);

/* upstream_is_alive - true unless the member is dead at now_ms */
bool upstream_is_alive(const struct rm_upstream *up, uint64_t now_ms);

/* upstream_stats - fill out with a consistent snapshot at now_ms */
void upstream_stats(const struct rm_upstream *up, uint64_t now_ms,
                    struct rm_upstream_stats *out);

/* upstream_now_ms - CLOCK_MONOTONIC in milliseconds */
uint64_t upstream_now_ms(void);

/* upstream_policy_name - "random", "round-robin", "hashed", "master-slave"
 */
const char *upstream_policy_name(enum rm_upstream_policy policy);

/* upstream_policy_parse - the reverse (also accepts "round_robin",
 * "master_slave", "hash"); 0 or -EINVAL */
int upstream_policy_parse(const char *text, enum rm_upstream_policy *out);

/* upstream_hash64 - the fixed 64-bit hash of the HASHED ring (exported for
 * tests and for callers that shard by it) */
uint64_t upstream_hash64(const void *data, size_t len);

#endif
