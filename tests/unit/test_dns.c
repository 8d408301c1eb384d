/*
 * NAME
 *   test_dns - the resolver (src/net/dns.c) against a scripted DNS server
 *
 * DESCRIPTION
 *   The server is made here: a UDP socket on 127.0.0.1 port 0 served by a
 *   thread that answers each query by its name (see answer()): records of
 *   every type the resolver parses, NXDOMAIN, NODATA, SERVFAIL, REFUSED, a
 *   garbled answer and silence. The tests assert the result codes (the
 *   point of the API: "not found" is never "try again") and the parsed
 *   records; the silent server only checks that the deadline ends the
 *   lookup with RM_DNS_ETEMP, never how long it took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "net/dns.h"

/* ---------------------------------------------------------------------- */
/* The scripted server */

static int srv_fd = -1;
static uint16_t srv_port;
static pthread_t srv_thread;
static atomic_bool srv_stop;
static atomic_int srv_queries;

struct pkt {
    unsigned char b[1500];
    size_t n;
};

static void
put8(struct pkt *p, unsigned v)
{
    p->b[p->n++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}

static void
put_bytes(struct pkt *p, const void *d, size_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

/* put_name - a name as labels (no compression) */
static void
put_name(struct pkt *p, const char *name)
{
    const char *s = name, *dot;

    while (*s) {
        dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);

        put8(p, (unsigned)l);
        put_bytes(p, s, l);
        s += l;
        if (*s == '.')
            s++;
    }
    put8(p, 0);
}

/* rr - one answer record for the question's name (pointer to offset 12) */
static void
rr(struct pkt *p, unsigned type, const struct pkt *rdata)
{
    put16(p, 0xc00c);
    put16(p, type);
    put16(p, 1);
    put32(p, 300);
    put16(p, (unsigned)rdata->n);
    put_bytes(p, rdata->b, rdata->n);
}

static void
rd_txt(struct pkt *rd, const char *const *strs, size_t n)
{
    size_t i;

    rd->n = 0;
    for (i = 0; i < n; i++) {
        put8(rd, (unsigned)strlen(strs[i]));
        put_bytes(rd, strs[i], strlen(strs[i]));
    }
}

/* answer - the reply to a query for qname/qtype; 0 = stay silent */
static size_t
answer(const unsigned char *q, size_t qlen, const char *qname, unsigned qtype,
       size_t qend, unsigned char *out)
{
    struct pkt p = {.n = 0}, rd;
    unsigned rcode = 0, an = 0;
    struct in_addr a4;
    struct in6_addr a6;

    (void)qlen;
    if (strcmp(qname, "silent.test") == 0)
        return 0;
    if (strcmp(qname, "garbage.test") == 0) {
        /* right id and flags, an answer count with no answer behind it */
        memcpy(out, q, 2);
        memcpy(out + 2, "\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00", 10);
        memcpy(out + 12, q + 12, qend - 12);
        return qend;
    }
    p.n = 12;
    put_bytes(&p, q + 12, qend - 12); /* the question */

    if (strcmp(qname, "nx.test") == 0) {
        rcode = 3;
    } else if (strcmp(qname, "servfail.test") == 0) {
        rcode = 2;
    } else if (strcmp(qname, "refused.test") == 0) {
        rcode = 5;
    } else if (strcmp(qname, "txt.test") == 0 && qtype == 16) {
        static const char *const r1[] = {"v=spf1 ip4:192.0.2.0/24 ", "-all"};
        static const char *const r2[] = {"other record"};

        rd_txt(&rd, r1, 2);
        rr(&p, 16, &rd);
        rd_txt(&rd, r2, 1);
        rr(&p, 16, &rd);
        an = 2;
    } else if (strcmp(qname, "a.test") == 0 && qtype == 1) {
        rd.n = 0;
        inet_pton(AF_INET, "192.0.2.1", &a4);
        put_bytes(&rd, &a4, 4);
        rr(&p, 1, &rd);
        rd.n = 0;
        inet_pton(AF_INET, "192.0.2.2", &a4);
        put_bytes(&rd, &a4, 4);
        rr(&p, 1, &rd);
        an = 2;
    } else if (strcmp(qname, "a.test") == 0 && qtype == 28) {
        rd.n = 0;
        inet_pton(AF_INET6, "2001:db8::1", &a6);
        put_bytes(&rd, &a6, 16);
        rr(&p, 28, &rd);
        an = 1;
    } else if (strcmp(qname, "a.test") == 0) {
        an = 0; /* the name exists: NODATA for other types */
    } else if (strcmp(qname, "mx.test") == 0 && qtype == 15) {
        rd.n = 0;
        put16(&rd, 10);
        put_name(&rd, "mx1.mx.test");
        rr(&p, 15, &rd);
        an = 1;
    } else if (strcmp(qname, "1.2.0.192.in-addr.arpa") == 0 && qtype == 12) {
        rd.n = 0;
        put_name(&rd, "host.example.test");
        rr(&p, 12, &rd);
        rd.n = 0;
        put_name(&rd, "alias.example.test");
        rr(&p, 12, &rd);
        an = 2;
    } else if (strcmp(qname, "nodata.test") != 0) {
        rcode = 3;
    }
    memcpy(p.b, q, 2);
    p.b[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD as asked */
    p.b[3] = (unsigned char)(0x80 | rcode);
    p.b[4] = 0;
    p.b[5] = 1;
    p.b[6] = 0;
    p.b[7] = (unsigned char)an;
    memset(p.b + 8, 0, 4);
    memcpy(out, p.b, p.n);
    return p.n;
}

static void *
server(void *arg)
{
    unsigned char q[1500], out[1500];
    struct sockaddr_storage peer;
    socklen_t plen;
    struct pollfd pfd;
    char name[256];
    ssize_t n;
    size_t o, nl, len;
    unsigned qtype;

    (void)arg;
    while (!atomic_load(&srv_stop)) {
        pfd.fd = srv_fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        plen = sizeof(peer);
        n = recvfrom(srv_fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
        if (n < 17)
            continue;
        atomic_fetch_add(&srv_queries, 1);
        /* the question name */
        o = 12;
        nl = 0;
        while (o < (size_t)n && q[o] != 0 && nl < sizeof(name) - 64) {
            size_t l = q[o++];

            if (nl)
                name[nl++] = '.';
            memcpy(name + nl, q + o, l);
            nl += l;
            o += l;
        }
        name[nl] = '\0';
        o++;
        qtype = (unsigned)(q[o] << 8 | q[o + 1]);
        o += 4;
        /* EDNS0 OPT records in the query are not echoed back */
        len = answer(q, (size_t)n, name, qtype, o, out);
        if (len > 0)
            sendto(srv_fd, out, len, 0, (struct sockaddr *)&peer, plen);
    }
    return NULL;
}

static int
setup(void **state)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    (void)state;
    srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(srv_fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(srv_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(srv_fd, (struct sockaddr *)&sin, &len), 0);
    srv_port = ntohs(sin.sin_port);
    atomic_store(&srv_stop, false);
    assert_int_equal(pthread_create(&srv_thread, NULL, server, NULL), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    atomic_store(&srv_stop, true);
    pthread_join(srv_thread, NULL);
    close(srv_fd);
    return 0;
}

/* resolver - a resolver for the scripted server */
static struct rm_dns *
resolver(uint64_t timeout_ms, int64_t retries)
{
    struct rm_server sv = {
        .host = "127.0.0.1", .port = srv_port, .text = "127.0.0.1"};
    struct rm_cfg_dns c;
    struct rm_dns *d = NULL;
    char err[256] = "";

    memset(&c, 0, sizeof(c));
    c.nameserver.n = 1;
    c.nameserver.v = &sv;
    c.timeout = timeout_ms;
    c.retries = retries;
    if (dns_new(&c, &d, err, sizeof(err)) < 0)
        fail_msg("dns_new: %s", err);
    return d;
}

/* ---------------------------------------------------------------------- */
/* Tests */

static void
test_txt_joins_strings(void **state)
{
    struct rm_dns *d = resolver(2000, 1);
    struct rm_dns_answer ans;

    (void)state;
    assert_int_equal(dns_lookup(d, "txt.test", RM_DNS_TXT, &ans), 0);
    assert_int_equal(ans.n, 2);
    assert_string_equal(ans.rr[0].text, "v=spf1 ip4:192.0.2.0/24 -all");
    assert_int_equal(ans.rr[0].text_len,
                     strlen("v=spf1 ip4:192.0.2.0/24 -all"));
    assert_string_equal(ans.rr[1].text, "other record");
    assert_int_equal(ans.rr[0].ttl, 0); /* TXT parser gives no TTL */
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_a_aaaa_mx_ptr(void **state)
{
    struct rm_dns *d = resolver(2000, 1);
    struct rm_dns_answer ans;
    struct rm_ipaddr ip;
    char buf[64];

    (void)state;
    assert_int_equal(dns_lookup(d, "a.test", RM_DNS_A, &ans), 0);
    assert_int_equal(ans.n, 2);
    assert_string_equal(inet_ntop(AF_INET, &ans.rr[0].a, buf, sizeof(buf)),
                        "192.0.2.1");
    assert_string_equal(inet_ntop(AF_INET, &ans.rr[1].a, buf, sizeof(buf)),
                        "192.0.2.2");
    assert_int_equal(ans.rr[0].ttl, 300);
    dns_answer_free(&ans);

    assert_int_equal(dns_lookup(d, "a.test", RM_DNS_AAAA, &ans), 0);
    assert_int_equal(ans.n, 1);
    assert_string_equal(inet_ntop(AF_INET6, &ans.rr[0].aaaa, buf, sizeof(buf)),
                        "2001:db8::1");
    dns_answer_free(&ans);

    assert_int_equal(dns_lookup(d, "mx.test", RM_DNS_MX, &ans), 0);
    assert_int_equal(ans.n, 1);
    assert_int_equal(ans.rr[0].pref, 10);
    assert_string_equal(ans.rr[0].text, "mx1.mx.test");
    dns_answer_free(&ans);

    assert_int_equal(ipaddr_parse("192.0.2.1", &ip), 0);
    assert_int_equal(dns_lookup_ptr(d, &ip, &ans), 0);
    assert_int_equal(ans.n, 2);
    assert_string_equal(ans.rr[0].text, "host.example.test");
    assert_string_equal(ans.rr[1].text, "alias.example.test");
    dns_answer_free(&ans);

    /* PTR by name, as libspf2 asks */
    assert_int_equal(dns_lookup(d, "1.2.0.192.in-addr.arpa", RM_DNS_PTR, &ans),
                     0);
    assert_int_equal(ans.n, 2);
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_not_found_is_permanent(void **state)
{
    struct rm_dns *d = resolver(2000, 1);
    struct rm_dns_answer ans;
    int rc;

    (void)state;
    rc = dns_lookup(d, "nx.test", RM_DNS_TXT, &ans);
    assert_int_equal(rc, RM_DNS_ENXDOMAIN);
    assert_true(dns_not_found(rc));
    assert_int_equal(ans.n, 0);
    dns_answer_free(&ans);

    rc = dns_lookup(d, "nodata.test", RM_DNS_TXT, &ans);
    assert_int_equal(rc, RM_DNS_ENODATA);
    assert_true(dns_not_found(rc));
    dns_answer_free(&ans);

    /* the name exists with other types */
    rc = dns_lookup(d, "a.test", RM_DNS_MX, &ans);
    assert_int_equal(rc, RM_DNS_ENODATA);
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_failures_are_temporary(void **state)
{
    struct rm_dns *d = resolver(2000, 1);
    struct rm_dns_answer ans;
    int rc;

    (void)state;
    rc = dns_lookup(d, "servfail.test", RM_DNS_TXT, &ans);
    assert_int_equal(rc, RM_DNS_ETEMP);
    assert_false(dns_not_found(rc));
    dns_answer_free(&ans);

    rc = dns_lookup(d, "refused.test", RM_DNS_A, &ans);
    assert_int_equal(rc, RM_DNS_ETEMP);
    dns_answer_free(&ans);

    rc = dns_lookup(d, "garbage.test", RM_DNS_TXT, &ans);
    assert_int_equal(rc, RM_DNS_ETEMP);
    assert_int_equal(ans.n, 0);
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_deadline(void **state)
{
    struct rm_dns *d = resolver(300, 2);
    struct rm_dns_answer ans;
    int before = atomic_load(&srv_queries);

    (void)state;
    assert_int_equal(dns_lookup(d, "silent.test", RM_DNS_TXT, &ans),
                     RM_DNS_ETEMP);
    dns_answer_free(&ans);
    /* the retries went out within the deadline */
    assert_true(atomic_load(&srv_queries) - before >= 2);
    /* the channel went back to the pool clean: the next lookup works */
    assert_int_equal(dns_lookup(d, "a.test", RM_DNS_A, &ans), 0);
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_invalid_names(void **state)
{
    struct rm_dns *d = resolver(2000, 0);
    struct rm_dns_answer ans;
    char longname[300];

    (void)state;
    assert_int_equal(dns_lookup(d, "", RM_DNS_TXT, &ans), RM_DNS_EINVAL);
    assert_int_equal(dns_lookup(d, "a..test", RM_DNS_TXT, &ans), RM_DNS_EINVAL);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(dns_lookup(d, longname, RM_DNS_TXT, &ans), RM_DNS_EINVAL);
    dns_answer_free(&ans);
    dns_free(d);
}

static void
test_bad_nameserver(void **state)
{
    struct rm_server sv = {
        .host = "dns.example.test", .port = 53, .text = "dns.example.test"};
    struct rm_cfg_dns c;
    struct rm_dns *d = NULL;
    char err[256] = "";

    (void)state;
    memset(&c, 0, sizeof(c));
    c.nameserver.n = 1;
    c.nameserver.v = &sv;
    c.timeout = 1000;
    assert_int_equal(dns_new(&c, &d, err, sizeof(err)), -1);
    assert_null(d);
    assert_non_null(strstr(err, "dns.example.test"));
    assert_non_null(strstr(err, "not an IP address"));

    /* no nameserver: the system resolver */
    c.nameserver.n = 0;
    c.nameserver.v = NULL;
    assert_int_equal(dns_new(&c, &d, err, sizeof(err)), 0);
    assert_string_equal(dns_servers_text(d, err, sizeof(err)),
                        "system resolver");
    dns_free(d);
}

struct par {
    struct rm_dns *d;
    int failures;
};

static void *
par_worker(void *arg)
{
    struct par *p = arg;
    struct rm_dns_answer ans;
    int i;

    for (i = 0; i < 50; i++) {
        if (dns_lookup(p->d, "txt.test", RM_DNS_TXT, &ans) != 0 || ans.n != 2)
            p->failures++;
        dns_answer_free(&ans);
        if (dns_lookup(p->d, "nx.test", RM_DNS_A, &ans) != RM_DNS_ENXDOMAIN)
            p->failures++;
        dns_answer_free(&ans);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct rm_dns *d = resolver(2000, 1);
    struct par p[4];
    pthread_t t[4];
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        p[i].d = d;
        p[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, par_worker, &p[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].failures, 0);
    }
    dns_free(d);
}

static void
test_reverse_names(void **state)
{
    struct rm_ipaddr ip;
    char buf[RM_DNS_REVERSE_MAX];

    (void)state;
    assert_int_equal(ipaddr_parse("192.0.2.1", &ip), 0);
    assert_string_equal(dns_reverse_name(&ip, buf, sizeof(buf)),
                        "1.2.0.192.in-addr.arpa");
    assert_int_equal(ipaddr_parse("2001:db8::1", &ip), 0);
    assert_string_equal(dns_reverse_name(&ip, buf, sizeof(buf)),
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d."
                        "0.1.0.0.2.ip6.arpa");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_joins_strings),
        cmocka_unit_test(test_a_aaaa_mx_ptr),
        cmocka_unit_test(test_not_found_is_permanent),
        cmocka_unit_test(test_failures_are_temporary),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_bad_nameserver),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_reverse_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
