/*
 * NAME
 *   ratelimit_key - rate-limit buckets: which apply, their keys, bounces
 *
 * DESCRIPTION
 *   The pure half of the ratelimit module: no store, no session.
 *
 *   Buckets, in the order they are checked (the first one over its burst
 *   stops the checks); the bounce buckets apply to bounces only, the
 *   others to every message:
 *
 *     bucket          key (after limits_prefix, e.g. "rl.")
 *     bounce_to       bounce_to|<rcpt>
 *     bounce_to_ip    bounce_to_ip|<rcpt>|<ip>
 *     to_ip_from      to_ip_from|<rcpt>|<ip>|<from>
 *     to_ip           to_ip|<rcpt>|<ip>
 *     to              to|<rcpt>
 *
 *   <rcpt> and <from> are envelope_addr_norm() forms (lowercased, no
 *   brackets, "<>" for the null sender) with '%', '|', blanks, control
 *   characters and non-ASCII bytes written as %XX, so that keys are
 *   readable in redis-cli and unambiguous; a field longer than
 *   RM_RL_FIELD_MAX once encoded becomes "%#" + the hex SHA-256 of its
 *   canonical form, so that no address can make a key fail. <ip> is the
 *   client address as text for IPv4, and its /64 for IPv6
 *   ("2001:db8:1:2::/64"): an IPv6 client picks addresses from its /64 at
 *   will, so a per-address bucket would be no limit at all.
 *   Example: "rl.to_ip|bob@example.org|192.0.2.1".
 *
 *   Bounce (fixing the original, which never detected one): the null
 *   sender, or a sender whose local part equals an entry of
 *   limit_bounce_addrs, case-insensitively ("postmaster",
 *   "MAILER-DAEMON"...). An entry "<>" matches the null sender; an entry
 *   holding '@' is compared with the whole address.
 *
 * THREAD SAFETY
 *   All functions are pure and reentrant.
 */
#ifndef RM_RATELIMIT_KEY_H
#define RM_RATELIMIT_KEY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfg/cfg.h"
#include "lib/iplist.h"

#define RM_RL_V4_BITS 32
#define RM_RL_V6_BITS 64
#define RM_RL_FIELD_MAX 320

enum rm_rl_bucket {
    RM_RL_BOUNCE_TO,
    RM_RL_BOUNCE_TO_IP,
    RM_RL_TO_IP_FROM,
    RM_RL_TO_IP,
    RM_RL_TO,
    RM_RL_COUNT
};

/* ratelimit_bucket_name - "bounce_to", ..., "to" (the directive without
 * its "limit_" prefix) */
const char *ratelimit_bucket_name(enum rm_rl_bucket b);

/* ratelimit_bucket_cfg - the limits { } value of bucket b */
const struct rm_bucket *ratelimit_bucket_cfg(const struct rm_cfg_limits *l,
                                             enum rm_rl_bucket b);

/* ratelimit_bucket_enabled - burst > 0 and rate > 0 */
bool ratelimit_bucket_enabled(const struct rm_bucket *b);

/*
 * ratelimit_buckets - the buckets that apply, in checking order, into
 * out; returns how many (5 for a bounce, 3 otherwise). Disabled buckets
 * are included; the caller skips them with ratelimit_bucket_enabled.
 */
size_t ratelimit_buckets(bool bounce, enum rm_rl_bucket out[RM_RL_COUNT]);

/* ratelimit_is_bounce - from (as sent) is a bounce per limit_bounce_addrs */
bool ratelimit_is_bounce(const char *from, const struct rm_strlist *addrs);

/*
 * ratelimit_key - the store key of bucket b into buf
 *
 * prefix: redis.limits_prefix; rcpt, from: as the MTA sent them; ip: the
 * client address (may be NULL only for RM_RL_TO and RM_RL_BOUNCE_TO).
 * Returns 0, -EINVAL (missing ip, bad family), -ENAMETOOLONG (buf too
 * small; RM_STORE_KEY_MAX + 1 always suffices for a prefix of up to 64
 * bytes) or -EIO (digest failure).
 */
int ratelimit_key(enum rm_rl_bucket b, const char *prefix, const char *rcpt,
                  const struct rm_ipaddr *ip, const char *from, char *buf,
                  size_t len);

#endif
