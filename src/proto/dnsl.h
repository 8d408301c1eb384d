/*
 * NAME
 *   dnsl - DNS list (DNSBL, DNSWL, RHSBL) query names and answers, RFC 5782
 *
 * DESCRIPTION
 *   Query names (RFC 5782 sections 2.1, 2.4 and 3):
 *     IPv4 192.0.2.99      -> 99.2.0.192.<zone>
 *     IPv6 2001:db8::1     -> 1.0.0.0. ... .8.b.d.0.1.0.0.2.<zone>
 *                             (32 nibbles, least significant first)
 *     domain mail.example  -> mail.example.<zone>
 *   An IPv4-mapped IPv6 address is queried as the IPv4 address.
 *
 *   Answers: a name is listed when an A record exists; the record is a
 *   code, never an address. dnsl_classify sorts one A record into
 *     RM_DNSL_LISTED   in 127.0.0.0/8 and in the list's `listed` set;
 *     RM_DNSL_OTHER    in 127.0.0.0/8 but not a code the list counts
 *                      (another sublist);
 *     RM_DNSL_REFUSED  127.255.255.0/24: the operator refuses the query
 *                      (Spamhaus' convention for public resolvers and
 *                      over-quota users): no answer, never a listing;
 *     RM_DNSL_INVALID  outside 127.0.0.0/8: a broken or hijacked zone
 *                      (a wildcard, an NXDOMAIN-rewriting resolver).
 *
 *   Reasons: the TXT record of a listed name is its explanation; lists
 *   served by rbldnsd may still hold its "$" placeholder, which
 *   dnsl_txt_expand replaces with the queried identity.
 *
 *   Pure code: no I/O, no global state; thread-safe.
 *
 * SEE ALSO
 *   RFC 5782, research/karmasphere.md section 10, net/dns.h
 */
#ifndef RM_PROTO_DNSL_H
#define RM_PROTO_DNSL_H

#include <netinet/in.h>
#include <stddef.h>

#include "lib/iplist.h"

/* Longest DNS name (without the final dot) and its buffer. */
#define RM_DNSL_NAME_MAX 253
#define RM_DNSL_NAMEBUF (RM_DNSL_NAME_MAX + 1)

enum rm_dnsl_class {
    RM_DNSL_LISTED,
    RM_DNSL_OTHER,
    RM_DNSL_REFUSED,
    RM_DNSL_INVALID,
};

/*
 * dnsl_ip_name - the query name of addr in zone into buf (size bytes)
 *
 * zone may end with a dot (dropped). 0, or -ENAMETOOLONG when the name
 * would pass RM_DNSL_NAME_MAX or size, -EINVAL for an empty zone or an
 * address that is neither IPv4 nor IPv6.
 */
int dnsl_ip_name(const struct rm_ipaddr *addr, const char *zone, char *buf,
                 size_t size);

/*
 * dnsl_domain_name - "<domain>.<zone>" into buf (size bytes)
 *
 * The domain is lowercased, a final dot dropped. -EINVAL for a domain
 * that cannot be a DNS name (empty, an empty label, a label over 63
 * bytes, bytes outside letters, digits, '-', '_' and '.', or an address
 * literal "[...]"), -ENAMETOOLONG as for dnsl_ip_name.
 */
int dnsl_domain_name(const char *domain, const char *zone, char *buf,
                     size_t size);

/* dnsl_classify - what one A record of an answer means (see DESCRIPTION);
 * listed is the list's set of codes (NULL: any 127.0.0.0/8 code) */
enum rm_dnsl_class dnsl_classify(struct in_addr a,
                                 const struct rm_iplist *listed);

/* dnsl_class_name - "listed", "other", "refused", "invalid" */
const char *dnsl_class_name(enum rm_dnsl_class c);

/*
 * dnsl_txt_expand - the TXT template txt (len bytes) with every "$"
 * replaced by identity, as one line of printable ASCII (controls and
 * 8-bit bytes cleaned as hdr_text_oneline does), at most max bytes.
 * Returns a new string (free it).
 */
char *dnsl_txt_expand(const char *txt, size_t len, const char *identity,
                      size_t max);

#endif
