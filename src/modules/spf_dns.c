/*
 * NAME
 *   spf_dns - libspf2 DNS layer over src/net/dns (see spf_dns.h)
 *
 * DESCRIPTION
 *   Each lookup is one dns_lookup; its records are copied into a new
 *   SPF_dns_rr_t that libspf2 frees (SPF_dns_rr_free) when done with it.
 *
 *   libspf2 (1.2.10) takes an answer with herrno NETDB_SUCCESS and
 *   num_rr == 0 as "no records" (its own resolv layer makes those), and
 *   tests herrno == TRY_AGAIN for a temporary failure at every mechanism:
 *   that is all this layer has to get right.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The layer's hook is the resolver (not owned). No state of its own:
 *   lookups from several threads at once are safe (dns.h).
 */
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "modules/spf_dns.h"

static void
layer_destroy(SPF_dns_server_t *srv)
{
    free(srv);
}

/* rr_new - an answer record set; never NULL to libspf2 (which would
 * dereference it): on allocation failure this aborts like xmalloc */
static SPF_dns_rr_t *
rr_new(SPF_dns_server_t *srv, const char *domain, ns_type type, int ttl,
       SPF_dns_stat_t herrno)
{
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(srv, domain, type, ttl, herrno);

    if (rr == NULL) {
        msg_err("spf: out of memory");
        abort();
    }
    return rr;
}

/* rr_fill - copy the records of ans into rr (of type) */
static void
rr_fill(SPF_dns_rr_t *rr, ns_type type, const struct rm_dns_answer *ans)
{
    size_t i;
    int n = 0;

    for (i = 0; i < ans->n; i++) {
        const struct rm_dns_rr *r = &ans->rr[i];
        size_t len;

        switch (type) {
        case ns_t_a:
            len = sizeof(struct in_addr);
            break;
        case ns_t_aaaa:
            len = sizeof(struct in6_addr);
            break;
        default:
            if (r->text == NULL)
                continue;
            len = strlen(r->text) + 1; /* C string: stops at a NUL */
            break;
        }
        if (SPF_dns_rr_buf_realloc(rr, n, len) != SPF_E_SUCCESS) {
            msg_err("spf: out of memory");
            abort();
        }
        switch (type) {
        case ns_t_a:
            memcpy(&rr->rr[n]->a, &r->a, len);
            break;
        case ns_t_aaaa:
            memcpy(&rr->rr[n]->aaaa, &r->aaaa, len);
            break;
        case ns_t_mx:
            memcpy(rr->rr[n]->mx, r->text, len);
            break;
        case ns_t_ptr:
            memcpy(rr->rr[n]->ptr, r->text, len);
            break;
        default:
            memcpy(rr->rr[n]->txt, r->text, len);
            break;
        }
        n++;
    }
    rr->num_rr = n;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
             int should_cache)
{
    struct rm_dns *dns = srv->hook;
    struct rm_dns_answer ans;
    enum rm_dns_type t;
    SPF_dns_rr_t *rr;
    uint32_t ttl;
    size_t i;
    int rc;

    (void)should_cache;
    switch ((int)type) {
    case ns_t_a:
        t = RM_DNS_A;
        break;
    case ns_t_aaaa:
        t = RM_DNS_AAAA;
        break;
    case ns_t_mx:
        t = RM_DNS_MX;
        break;
    case ns_t_ptr:
        t = RM_DNS_PTR;
        break;
    case ns_t_txt:
        t = RM_DNS_TXT;
        break;
    default:
        /* type 99 (SPF) and anything else: nothing to ask */
        return rr_new(srv, domain, type, 0, NO_DATA);
    }

    rc = dns_lookup(dns, domain, t, &ans);
    switch (rc) {
    case 0:
        ttl = ans.rr[0].ttl;
        for (i = 1; i < ans.n; i++)
            if (ans.rr[i].ttl < ttl)
                ttl = ans.rr[i].ttl;
        rr = rr_new(srv, domain, type, (int)(ttl > 86400 ? 86400 : ttl),
                    NETDB_SUCCESS);
        rr_fill(rr, type, &ans);
        if (rr->num_rr == 0)
            rr->herrno = NO_DATA;
        break;
    case RM_DNS_ENODATA:
        rr = rr_new(srv, domain, type, 0, NO_DATA);
        break;
    case RM_DNS_ENXDOMAIN:
    case RM_DNS_EINVAL:
        rr = rr_new(srv, domain, type, 0, HOST_NOT_FOUND);
        break;
    default:
        msg_debug("spf: DNS %s %d: %s", domain, (int)type, dns_strerror(rc));
        rr = rr_new(srv, domain, type, 0, TRY_AGAIN);
        break;
    }
    dns_answer_free(&ans);
    return rr;
}

SPF_dns_server_t *
spf_dns_layer_new(struct rm_dns *dns)
{
    SPF_dns_server_t *srv = calloc(1, sizeof(*srv));

    if (srv == NULL)
        return NULL;
    srv->destroy = layer_destroy;
    srv->lookup = layer_lookup;
    srv->get_spf = NULL;
    srv->get_exp = NULL;
    srv->add_cache = NULL;
    srv->layer_below = NULL;
    srv->name = "rmilter";
    srv->debug = 0;
    srv->hook = dns;
    return srv;
}
