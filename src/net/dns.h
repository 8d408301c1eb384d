/*
 * NAME
 *   dns - the resolver every DNS lookup of the daemon goes through
 *
 * SYNOPSIS
 *   struct rm_dns *dns;
 *   struct rm_dns_answer ans;
 *   if (dns_new(&cfg->dns, &dns, err, sizeof(err)) < 0) { ... }
 *   rc = dns_lookup(dns, "example.org", RM_DNS_TXT, &ans);
 *   if (rc == 0) { ... ans.rr[i].text ... }
 *   else if (dns_not_found(rc)) { ... permanent: no such record ... }
 *   else { ... temporary: try again later ... }
 *   dns_answer_free(&ans);
 *   dns_free(dns);
 *
 * DESCRIPTION
 *   A thin, blocking, deadline-bounded front end to c-ares. The servers,
 *   the deadline and the retransmissions come from the dns { } section:
 *   nameserver (IP addresses with optional ports, "127.0.0.1:5353",
 *   "[::1]:53"; none = the system resolver, read from /etc/resolv.conf
 *   once, when the resolver is built), timeout (the deadline of one whole
 *   lookup, retransmissions included) and retries (retransmissions within
 *   that deadline; each try gets timeout / (retries + 1)).
 *
 *   Lookups are plain queries (no search list, no /etc/hosts) with EDNS0,
 *   falling back to TCP when an answer is truncated. Results keep "the
 *   record does not exist" apart from "no answer could be had":
 *     0                 answers in *ans (at least one of the type asked)
 *     RM_DNS_ENXDOMAIN  the name does not exist (NXDOMAIN)     permanent
 *     RM_DNS_ENODATA    the name exists, no record of the type permanent
 *     RM_DNS_ETEMP      timeout, SERVFAIL, REFUSED, network or
 *                       malformed answer                        temporary
 *     RM_DNS_EINVAL     the name cannot be queried (empty, too
 *                       long, a bad label)                      permanent
 *
 *   Why c-ares: it is packaged everywhere (Debian libc-ares2), takes
 *   servers with ports (ares_set_servers_ports_csv, which libc's resolver
 *   cannot: res_query only ever talks to port 53 of resolv.conf's
 *   servers), has per-channel state with no globals (safe in threads),
 *   parses every record type we need, and is small. libunbound would be
 *   a full validating recursor (more than a milter needs, and it recurses
 *   from the root unless told to forward); ldns has no resolver loop with
 *   retries and TCP fallback of its own.
 *
 * OWNERSHIP
 *   dns_new copies what it needs from the config; the resolver belongs to
 *   the caller (one per config generation and module) and is freed with
 *   dns_free once no lookup runs on it. Answers belong to the caller
 *   (dns_answer_free).
 *
 * THREAD SAFETY
 *   Every function may be called from any thread at once. A c-ares
 *   channel is not thread-safe, so each lookup takes a channel of its own
 *   from the resolver's pool (a mutex guards the pool; a new channel is
 *   duplicated from a configured template with ares_dup when the pool is
 *   empty) and gives it back when done. Nothing blocks another thread
 *   while a lookup waits for the network.
 */
#ifndef RM_NET_DNS_H
#define RM_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "cfg/cfg.h"
#include "lib/iplist.h"

struct rm_dns;

enum rm_dns_type {
    RM_DNS_A = 1,
    RM_DNS_PTR = 12,
    RM_DNS_MX = 15,
    RM_DNS_TXT = 16,
    RM_DNS_AAAA = 28,
};

#define RM_DNS_ENXDOMAIN (-1)
#define RM_DNS_ENODATA (-2)
#define RM_DNS_ETEMP (-3)
#define RM_DNS_EINVAL (-4)

/* One record of an answer. */
struct rm_dns_rr {
    uint32_t ttl;
    uint16_t pref;        /* MX preference */
    struct in_addr a;     /* A */
    struct in6_addr aaaa; /* AAAA */
    char *text;           /* TXT: the strings of one record joined (may
                              hold NUL bytes: use text_len); MX: the
                              exchange; PTR: the name; NULL otherwise */
    size_t text_len;
};

struct rm_dns_answer {
    enum rm_dns_type type;
    size_t n;
    struct rm_dns_rr *rr;
};

/*
 * dns_new - a resolver for the dns { } section c
 *
 * 0, or -1 with err set (a nameserver that is not an IP address, a unix
 * path, c-ares failing to initialise). *out belongs to the caller.
 */
int dns_new(const struct rm_cfg_dns *c, struct rm_dns **out, char *err,
            size_t errlen);
/* dns_free - free a resolver and its channels; NULL is a no-op */
void dns_free(struct rm_dns *d);

/*
 * dns_lookup - query name for records of type; blocks up to the deadline
 *
 * Returns 0 with *ans filled (ans->n >= 1), or a RM_DNS_E* code with
 * *ans empty. Either way call dns_answer_free(ans) afterwards.
 */
int dns_lookup(struct rm_dns *d, const char *name, enum rm_dns_type type,
               struct rm_dns_answer *ans);
/* dns_lookup_ptr - the PTR records of an address (in-addr.arpa/ip6.arpa) */
int dns_lookup_ptr(struct rm_dns *d, const struct rm_ipaddr *addr,
                   struct rm_dns_answer *ans);
void dns_answer_free(struct rm_dns_answer *ans);

/* dns_not_found - rc says the record does not exist (a permanent answer) */
static inline bool
dns_not_found(int rc)
{
    return rc == RM_DNS_ENXDOMAIN || rc == RM_DNS_ENODATA;
}

/* dns_strerror - a short text for a dns_lookup result */
const char *dns_strerror(int rc);

/* dns_reverse_name - "1.2.0.192.in-addr.arpa" or the nibble ip6.arpa
 * name of addr into buf (at least RM_DNS_REVERSE_MAX bytes) */
#define RM_DNS_REVERSE_MAX 74
const char *dns_reverse_name(const struct rm_ipaddr *addr, char *buf,
                             size_t len);

/* dns_servers_text - the servers in use, "127.0.0.1:5353,[::1]:53", for
 * logs (buf of len bytes) */
const char *dns_servers_text(const struct rm_dns *d, char *buf, size_t len);

#endif
