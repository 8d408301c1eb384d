/*
 * NAME
 *   spf_dns - a libspf2 DNS layer that resolves through src/net/dns
 *
 * DESCRIPTION
 *   libspf2's own layers resolve with libc's res_query (port 53 of the
 *   servers in /etc/resolv.conf only, timeouts from there too), so the
 *   dns { } section could not apply to SPF. This layer is a
 *   SPF_dns_server_t (spf_dns.h of libspf2, whose struct is public) whose
 *   lookup answers every query libspf2 makes (A, AAAA, MX, PTR, TXT)
 *   with dns_lookup, mapping the result codes to the h_errno values the
 *   library expects:
 *     0                 NETDB_SUCCESS with the records
 *     RM_DNS_ENXDOMAIN  HOST_NOT_FOUND   ("none", or no match)
 *     RM_DNS_ENODATA    NO_DATA
 *     RM_DNS_EINVAL     HOST_NOT_FOUND   (a name that cannot exist)
 *     RM_DNS_ETEMP      TRY_AGAIN        (temperror)
 *   Queries for the obsolete SPF RR type (99, RFC 7208 section 3.1: not
 *   to be used) are answered NO_DATA without asking, so libspf2 goes on
 *   to TXT at once.
 *
 *   The layer has no cache and no state besides the resolver, so one
 *   layer (and the SPF_server_t over it) serves every thread at once.
 *
 * OWNERSHIP
 *   The layer does not own the resolver. SPF_dns_free frees the layer
 *   (SPF_server_free does not free a layer given to SPF_server_new_dns);
 *   free the resolver after that.
 */
#ifndef RM_MODULES_SPF_DNS_H
#define RM_MODULES_SPF_DNS_H

#include <spf2/spf.h>

#include "net/dns.h"

/* spf_dns_layer_new - a layer over dns; NULL only if out of memory */
SPF_dns_server_t *spf_dns_layer_new(struct rm_dns *dns);

#endif
