/*
 * NAME
 *   envelope - canonical forms of SMTP envelope values for keys
 *
 * DESCRIPTION
 *   Pure functions (no I/O, no state, thread-safe) that turn what the MTA
 *   sends (MAIL FROM / RCPT TO addresses as written, the client address)
 *   into the canonical text that greylisting and rate-limit keys are built
 *   from. The forms are part of the key format that several daemons
 *   sharing Redis must agree on: change them only with a new key version.
 */
#ifndef RM_PROTO_ENVELOPE_H
#define RM_PROTO_ENVELOPE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/iplist.h"

/* Buffer size that holds any envelope_client_net result. */
#define RM_ENVELOPE_NET_MAX 64

/*
 * envelope_addr_norm - the canonical form of an envelope address
 *
 * raw is the address as sent ("<User@Example.ORG>", "user@example.org",
 * "<>", "", "<@relay.example:user@example.org>"). The result: one pair
 * of angle brackets and the blanks around and inside them removed, an
 * RFC 5321 source route ("@a,@b:") removed, ASCII letters lowercased; the
 * null sender (empty after that) is "<>". out needs strlen(raw) + 3 bytes. Returns the length
 * of the result, or -ENAMETOOLONG if len is too small.
 */
int envelope_addr_norm(const char *raw, char *out, size_t len);

/* envelope_addr_is_null - true if norm (a canonical address) is "<>" */
bool envelope_addr_is_null(const char *norm);

/*
 * envelope_local_part - the local part of a canonical address: everything
 * before the last '@' (the whole address if it has none, empty for the
 * null sender). Returns a pointer into norm and its length in *len.
 */
const char *envelope_local_part(const char *norm, size_t *len);

/*
 * envelope_client_net - the client's network as text
 *
 * ip masked to v4_bits (IPv4) or v6_bits (IPv6) and printed as
 * "192.0.2.0/24" or "2001:db8:1:2::/64"; a full-length prefix (/32,
 * /128) is printed without the suffix. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) counts as IPv4. len >= RM_ENVELOPE_NET_MAX. Returns
 * the length, or -EINVAL (not AF_INET/AF_INET6, bits out of range, or
 * len too small).
 */
int envelope_client_net(const struct rm_ipaddr *ip, unsigned v4_bits,
                        unsigned v6_bits, char *out, size_t len);

#endif
