/*
 * NAME
 *   iplist - a set of IPv4 and IPv6 networks with longest-prefix lookup
 *
 * DESCRIPTION
 *   Holds addresses and networks written as `192.0.2.1`, `192.168.0.0/16`,
 *   `::1`, `[::1]`, `[::1]/128`, `2001:db8::/32`. IPv4-mapped IPv6 clients
 *   (::ffff:a.b.c.d) match IPv4 entries. Lookups are thread-safe once the
 *   list is built; the list is immutable after construction in practice
 *   (it belongs to a config generation).
 */
#ifndef RM_IPLIST_H
#define RM_IPLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address in network byte order; family is AF_INET or AF_INET6. */
struct rm_ipaddr {
    int family;
    uint8_t a[16];
};

struct rm_iplist;

struct rm_iplist *iplist_new(void);
void iplist_free(struct rm_iplist *l);

/* iplist_add - add one entry; returns 0, or -1 with errbuf describing what
 * was expected (e.g. "expected an IP address or network, found 'x'") */
int iplist_add(struct rm_iplist *l, const char *spec, char *errbuf,
               size_t errlen);

/* iplist_match - true if addr falls into any entry */
bool iplist_match(const struct rm_iplist *l, const struct rm_ipaddr *addr);
size_t iplist_count(const struct rm_iplist *l);
/* iplist_entry - the i-th entry as written in canonical form (for dumps) */
const char *iplist_entry(const struct rm_iplist *l, size_t i);

/* ipaddr_parse - parse an address (no prefix; brackets allowed) */
int ipaddr_parse(const char *s, struct rm_ipaddr *out);
/* ipaddr_from_sockaddr - 0 on AF_INET/AF_INET6, -1 otherwise; v4-mapped v6
 * addresses become AF_INET */
int ipaddr_from_sockaddr(const struct sockaddr *sa, struct rm_ipaddr *out);
/* ipaddr_format - text form into buf (at least 46 bytes) */
const char *ipaddr_format(const struct rm_ipaddr *a, char *buf, size_t len);
/* ipaddr_mask - keep the first bits of the address, zero the rest */
void ipaddr_mask(struct rm_ipaddr *a, unsigned bits);

#endif
