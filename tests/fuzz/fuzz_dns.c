/*
 * NAME
 *   fuzz_dns - libFuzzer target for what the daemon makes of a DNS answer:
 *   src/net/dns.c's answer-to-result mapping (over c-ares' parsers), the
 *   libspf2 record copy (src/modules/spf_dns.c) and the DNS list answer
 *   handling (src/proto/dnsl.c)
 *
 * DESCRIPTION
 *   The input is one DNS answer packet as a resolver (or anyone who can
 *   spoof its datagrams) sends it, after one selector byte: its low 3 bits
 *   pick the query type (A, AAAA, MX, TXT, PTR for an IPv4 and for an IPv6
 *   address), bit 3 the c-ares status the callback gets. c-ares parses the
 *   packet; this target checks the code of ours around it, which is where
 *   answers become data the modules trust. dns.c's parse and mapping
 *   functions are static, so this file includes dns.c (and spf_dns.c)
 *   itself; the copies in the layer libraries are never linked in (every
 *   symbol they define is defined here first).
 *
 *   Promises checked (a broken one aborts, which libFuzzer reports):
 *     - query_cb's result is 0 or one RM_DNS_E* code; on 0 the answer has
 *       at least one record, on an error none (and nothing is leaked);
 *     - every A/AAAA record's text is NULL; every TXT/MX/PTR record has a
 *       text with a NUL at text_len (TXT may hold NUL bytes before it,
 *       MX and PTR texts are C strings of exactly text_len bytes);
 *     - dnsl_classify gives one of its four classes for every A record,
 *       with and without a `listed` set;
 *     - dnsl_txt_expand of every TXT record (with "$" in the identity
 *       too) is one line of printable ASCII no longer than its cap;
 *     - spf_dns's rr_fill copies the records into a libspf2 record set
 *       whose count and strings match (libspf2 frees it cleanly).
 *
 *   Seeds: tests/fuzz/corpus/dns/ (real NSD answers and hand-made ones:
 *   multi-string and multi-record TXT, TXT with NUL, CR and LF bytes,
 *   compression loops, truncated records, NXDOMAIN, empty NOERROR).
 *
 *   RM_FUZZ_LIBS: rm_modules rm_core rm_store rm_cfg rm_net rm_proto rm_lib
 */
#include "net/dns.c"
#include "modules/spf_dns.c"

#include "proto/dnsl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_oneline(const char *s, size_t max)
{
    size_t i, n;

    if (s == NULL)
        abort();
    n = strlen(s);
    if (n > max)
        abort();
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            abort();
}

static void
check_answer(enum rm_dns_type type, int rc, const struct rm_dns_answer *ans,
             const struct rm_iplist *listed)
{
    size_t i;

    if (rc != 0 && rc != RM_DNS_ENXDOMAIN && rc != RM_DNS_ENODATA &&
        rc != RM_DNS_ETEMP && rc != RM_DNS_EINVAL)
        abort();
    if ((rc == 0) != (ans->n > 0))
        abort();
    for (i = 0; i < ans->n; i++) {
        const struct rm_dns_rr *r = &ans->rr[i];

        switch (type) {
        case RM_DNS_A:
            if (r->text != NULL)
                abort();
            if ((unsigned)dnsl_classify(r->a, NULL) > RM_DNSL_INVALID ||
                (unsigned)dnsl_classify(r->a, listed) > RM_DNSL_INVALID)
                abort();
            check_oneline(dnsl_class_name(dnsl_classify(r->a, listed)), 16);
            break;
        case RM_DNS_AAAA:
            if (r->text != NULL)
                abort();
            break;
        case RM_DNS_TXT: {
            char *e;

            if (r->text == NULL || r->text[r->text_len] != '\0')
                abort();
            e = dnsl_txt_expand(r->text, r->text_len, "192.0.2.1", 300);
            check_oneline(e, 300);
            free(e);
            e = dnsl_txt_expand(r->text, r->text_len, "$$\r\nX: y", 64);
            check_oneline(e, 64);
            free(e);
            break;
        }
        default: /* MX, PTR */
            if (r->text == NULL || strlen(r->text) != r->text_len)
                abort();
            break;
        }
    }
}

static void
check_spf_copy(enum rm_dns_type type, const struct rm_dns_answer *ans)
{
    static const ns_type ns_of[] = {
        [RM_DNS_A] = ns_t_a,     [RM_DNS_AAAA] = ns_t_aaaa,
        [RM_DNS_MX] = ns_t_mx,   [RM_DNS_TXT] = ns_t_txt,
        [RM_DNS_PTR] = ns_t_ptr,
    };
    ns_type t = ns_of[type];
    SPF_dns_rr_t *rr = rr_new(NULL, "fuzz.test", t, 60, NETDB_SUCCESS);
    size_t i;
    int n = 0;

    rr_fill(rr, t, ans);
    for (i = 0; i < ans->n; i++) {
        const struct rm_dns_rr *r = &ans->rr[i];

        if (t != ns_t_a && t != ns_t_aaaa) {
            if (r->text == NULL)
                continue;
            /* a C string copy: stops at the first NUL */
            if (strcmp(t == ns_t_txt  ? rr->rr[n]->txt
                       : t == ns_t_mx ? rr->rr[n]->mx
                                      : rr->rr[n]->ptr,
                       r->text) != 0)
                abort();
        } else if (t == ns_t_a &&
                   memcmp(&rr->rr[n]->a, &r->a, sizeof(r->a)) != 0) {
            abort();
        }
        n++;
    }
    if (rr->num_rr != n)
        abort();
    SPF_dns_rr_free(rr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum rm_dns_type types[8] = {
        RM_DNS_A,   RM_DNS_AAAA, RM_DNS_MX,  RM_DNS_TXT,
        RM_DNS_PTR, RM_DNS_PTR,  RM_DNS_TXT, RM_DNS_A,
    };
    static struct rm_iplist *listed;
    struct rm_ipaddr ip4 = {0}, ip6 = {0};
    struct rm_dns_answer ans = {0};
    struct dns_query q = {0};
    enum rm_dns_type type;
    unsigned char *abuf;
    int status;

    if (size < 1)
        return 0;
    if (listed == NULL) {
        char err[128];

        listed = iplist_new();
        if (iplist_add(listed, "127.0.0.2", err, sizeof(err)) < 0 ||
            iplist_add(listed, "127.0.0.10/31", err, sizeof(err)) < 0)
            abort();
    }
    type = types[data[0] & 7];
    status = (data[0] & 8) ? ARES_ENODATA : ARES_SUCCESS;
    ip4.family = AF_INET;
    ip4.a[0] = 192;
    ip4.a[2] = 2;
    ip4.a[3] = 1;
    ip6.family = AF_INET6;
    ip6.a[0] = 0x20;
    ip6.a[1] = 0x01;
    ip6.a[2] = 0x0d;
    ip6.a[3] = 0xb8;
    ip6.a[15] = 1;

    /* c-ares reads the packet in place: give it an exact-size copy so
     * that ASan sees any read past its end */
    abuf = malloc(size - 1 ? size - 1 : 1);
    if (abuf == NULL)
        return 0;
    memcpy(abuf, data + 1, size - 1);
    ans.type = type;
    q.ans = &ans;
    q.ptr_addr = (data[0] & 7) == 5 ? &ip6 : &ip4;
    query_cb(&q, status, 0, abuf, (int)(size - 1));
    if (!q.done)
        abort();
    check_answer(type, q.rc, &ans, listed);
    if (q.rc == 0)
        check_spf_copy(type, &ans);
    dns_answer_free(&ans);
    if (ans.n != 0 || ans.rr != NULL)
        abort();
    free(abuf);
    return 0;
}
