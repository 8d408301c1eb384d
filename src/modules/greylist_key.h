/*
 * NAME
 *   greylist_key - greylisting's triplet keys, record values and decision
 *
 * DESCRIPTION
 *   The pure half of the greylist module: no store, no config, no session.
 *
 *   Triplet: the client network (the client address masked to ipv4_mask /
 *   ipv6_mask bits, default /24 and /64), the envelope sender and one
 *   recipient, both in the canonical form of envelope_addr_norm()
 *   (lowercased, brackets and source route dropped, "<>" for the null
 *   sender).
 *
 *   Key: <prefix><hex> where <hex> is the lowercase hex SHA-256 of
 *
 *       <net> NUL <sender> NUL <recipient>
 *
 *   e.g. net "192.0.2.0/24" (envelope_client_net). The grey record lives
 *   at grey_prefix + hex, the white record at white_prefix + hex. Chosen
 *   over a plain "net|from|rcpt" text because addresses may hold any
 *   separator (quoted local parts) and any length; a digest is
 *   unambiguous, fixed-size (64 characters) and keeps addresses out of a
 *   shared Redis. The log line carries the triplet in clear next to the
 *   key. This format is shared by every daemon using the same Redis; do
 *   not change it.
 *
 *   Record values are text: the time in milliseconds since the epoch, in
 *   decimal ("1700000000123"): first seen for the grey record, the time
 *   the triplet passed for the white one.
 *
 * THREAD SAFETY
 *   All functions are pure and reentrant.
 */
#ifndef RM_GREYLIST_KEY_H
#define RM_GREYLIST_KEY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/iplist.h"
#include "proto/envelope.h"

#define RM_GREY_HASH_HEX 64

struct rm_grey_triplet {
    char net[RM_ENVELOPE_NET_MAX];   /* "192.0.2.0/24", for the log */
    char hash[RM_GREY_HASH_HEX + 1]; /* lowercase hex SHA-256 */
};

/*
 * greylist_triplet - canonicalise and hash one triplet
 *
 * ip: the client address; v4_bits/v6_bits: greylisting.ipv4_mask and
 * ipv6_mask; from/rcpt: the addresses as the MTA sent them. 0, or -EINVAL
 * (unknown family, bad mask) / -EIO (the digest failed).
 */
int greylist_triplet(const struct rm_ipaddr *ip, unsigned v4_bits,
                     unsigned v6_bits, const char *from, const char *rcpt,
                     struct rm_grey_triplet *out);

/* greylist_key - prefix + hash into buf; 0 or -ENAMETOOLONG */
int greylist_key(const struct rm_grey_triplet *t, const char *prefix, char *buf,
                 size_t len);

/* greylist_value_format - a time as a record value; 0 or -EMSGSIZE */
int greylist_value_format(uint64_t ms, char *buf, size_t len);
/* greylist_value_parse - a record value back; 0 or -EBADMSG (not ours:
 * the caller treats the record as absent and replaces it) */
int greylist_value_parse(const char *text, uint64_t *ms);

enum rm_grey_verdict {
    RM_GREY_NEW,       /* no live record: create one, tempfail */
    RM_GREY_TOO_EARLY, /* a retry before timeout: tempfail */
    RM_GREY_PASS,      /* a retry after timeout: whitelist it, accept */
};

struct rm_grey_decision {
    enum rm_grey_verdict verdict;
    bool replace;        /* NEW over a stale record: overwrite (set), don't
                            set_nx, or the stale record would stay */
    uint64_t elapsed_ms; /* since first seen; 0 when new */
    uint64_t wait_ms;    /* NEW, TOO_EARLY: until a retry passes */
    uint64_t pass_at_ms; /* NEW, TOO_EARLY: now + wait_ms */
};

/*
 * greylist_decide - the greylisting decision for one triplet
 *
 * first_seen_ms: the grey record's time, or NULL when there is none.
 * now_ms: the current time on the same clock (the wall clock: several
 * MTAs share records). timeout_ms: greylisting.timeout; expire_ms:
 * greylisting.expire (the grey record's lifetime). With
 * elapsed = now - first_seen:
 *   no record, or elapsed >= expire (stale: replace)   -> NEW
 *   elapsed < timeout                                  -> TOO_EARLY
 *   timeout <= elapsed < expire                        -> PASS
 * A first-seen time in the future (clocks of MTAs differ) counts as
 * elapsed = 0: the triplet waits the full timeout, never passes early.
 */
void greylist_decide(const uint64_t *first_seen_ms, uint64_t now_ms,
                     uint64_t timeout_ms, uint64_t expire_ms,
                     struct rm_grey_decision *d);

/* greylist_wait_seconds - wait_ms rounded up to whole seconds */
uint64_t greylist_wait_seconds(const struct rm_grey_decision *d);

#endif
