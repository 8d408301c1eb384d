/*
 * NAME
 *   dns - blocking, deadline-bounded DNS lookups over c-ares (see dns.h)
 *
 * DESCRIPTION
 *   A resolver holds one configured c-ares channel (the template: servers,
 *   per-try timeout, tries, EDNS) that is never used for a query, and a
 *   pool of idle channels duplicated from it. A lookup takes a channel,
 *   sends one query, and drives c-ares with poll() until the answer, or
 *   the deadline (dns { timeout }) cancels it. Answers are parsed by
 *   c-ares' own parsers inside the query callback.
 *
 *   Invariants: a channel in the pool has no query in flight (a lookup
 *   always ends with its callback run: answered, failed or cancelled); the
 *   template is only read (ares_dup) under the pool mutex.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The resolver owns its channels. A channel is used by one thread at a
 *   time: the pool hands it out and takes it back under a mutex. Answers
 *   belong to the caller. ares_library_init runs once (pthread_once).
 */
#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/dns.h"
#include "net/io.h"

#define DNS_POOL_MAX 32    /* idle channels kept */
#define DNS_EDNS_SIZE 1232 /* the DNS flag day 2020 payload size */
#define DNS_MAX_RR 64      /* records kept of one A/AAAA answer */
#define DNS_NAME_MAX 253

struct rm_dns {
    ares_channel tmpl;
    pthread_mutex_t lock;
    ares_channel idle[DNS_POOL_MAX];
    size_t n_idle;
    uint64_t timeout_ms;
    char *servers; /* "" = the system resolver */
};

/* The state of one lookup, shared with its callback. */
struct dns_query {
    struct rm_dns_answer *ans;
    const struct rm_ipaddr *ptr_addr; /* PTR lookups */
    int rc;
    bool done;
};

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static int dns_lib_rc;

static void
dns_lib_init(void)
{
    dns_lib_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

const char *
dns_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case RM_DNS_ENXDOMAIN:
        return "no such domain";
    case RM_DNS_ENODATA:
        return "no such record";
    case RM_DNS_ETEMP:
        return "temporary DNS failure";
    case RM_DNS_EINVAL:
        return "invalid name";
    default:
        return "unknown DNS error";
    }
}

/* servers_csv - "a:p,[b]:p" for ares_set_servers_ports_csv; -1 with err if
 * a server is not an IP address */
static int
servers_csv(const struct rm_servers *sv, char **out, char *err, size_t errlen)
{
    struct rm_ipaddr ip;
    char *csv = xstrdup(""), *n;
    size_t i;

    for (i = 0; i < sv->n; i++) {
        const struct rm_server *s = &sv->v[i];

        if (s->host == NULL || ipaddr_parse(s->host, &ip) < 0) {
            snprintf(err, errlen,
                     "dns: nameserver '%s' is not an IP address "
                     "(expected 192.0.2.53[:port] or [2001:db8::53]:port)",
                     s->text ? s->text : "?");
            free(csv);
            return -1;
        }
        n = xasprintf("%s%s%s%s%s:%u", csv, i ? "," : "",
                      ip.family == AF_INET6 ? "[" : "", s->host,
                      ip.family == AF_INET6 ? "]" : "",
                      s->port ? (unsigned)s->port : 53u);
        free(csv);
        csv = n;
    }
    *out = csv;
    return 0;
}

int
dns_new(const struct rm_cfg_dns *c, struct rm_dns **out, char *err,
        size_t errlen)
{
    struct ares_options o;
    struct rm_dns *d;
    int mask, rc, tries;
    char *csv = NULL;

    *out = NULL;
    pthread_once(&dns_once, dns_lib_init);
    if (dns_lib_rc != ARES_SUCCESS) {
        snprintf(err, errlen, "dns: c-ares: %s", ares_strerror(dns_lib_rc));
        return -1;
    }
    if (servers_csv(&c->nameserver, &csv, err, errlen) < 0)
        return -1;

    d = xcalloc(1, sizeof(*d));
    d->servers = csv;
    d->timeout_ms = c->timeout ? c->timeout : 2000;
    tries = (int)(c->retries < 0 ? 0 : c->retries) + 1;

    memset(&o, 0, sizeof(o));
    o.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.timeout = (int)(d->timeout_ms / (uint64_t)tries);
    if (o.timeout < 50)
        o.timeout = 50;
    o.tries = tries;
    o.ednspsz = DNS_EDNS_SIZE;
    mask =
        ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ;
    rc = ares_init_options(&d->tmpl, &o, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "dns: cannot set up the resolver: %s",
                 ares_strerror(rc));
        goto fail;
    }
    if (csv[0] != '\0') {
        rc = ares_set_servers_ports_csv(d->tmpl, csv);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "dns: nameserver %s: %s", csv,
                     ares_strerror(rc));
            goto fail;
        }
    }
    pthread_mutex_init(&d->lock, NULL);
    *out = d;
    return 0;

fail:
    if (d->tmpl != NULL)
        ares_destroy(d->tmpl);
    free(d->servers);
    free(d);
    return -1;
}

void
dns_free(struct rm_dns *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->n_idle; i++)
        ares_destroy(d->idle[i]);
    ares_destroy(d->tmpl);
    pthread_mutex_destroy(&d->lock);
    free(d->servers);
    free(d);
}

const char *
dns_servers_text(const struct rm_dns *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s", d->servers[0] ? d->servers : "system resolver");
    return buf;
}

/* chan_take / chan_put - exclusive use of a channel from the pool */
static ares_channel
chan_take(struct rm_dns *d)
{
    ares_channel ch = NULL;
    int rc;

    pthread_mutex_lock(&d->lock);
    if (d->n_idle > 0) {
        ch = d->idle[--d->n_idle];
    } else {
        rc = ares_dup(&ch, d->tmpl);
        if (rc != ARES_SUCCESS) {
            msg_err("dns: cannot make a resolver channel: %s",
                    ares_strerror(rc));
            ch = NULL;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return ch;
}

static void
chan_put(struct rm_dns *d, ares_channel ch)
{
    pthread_mutex_lock(&d->lock);
    if (d->n_idle < DNS_POOL_MAX) {
        d->idle[d->n_idle++] = ch;
        ch = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (ch != NULL)
        ares_destroy(ch);
}

void
dns_answer_free(struct rm_dns_answer *ans)
{
    size_t i;

    if (ans == NULL)
        return;
    for (i = 0; i < ans->n; i++)
        free(ans->rr[i].text);
    free(ans->rr);
    ans->rr = NULL;
    ans->n = 0;
}

static struct rm_dns_rr *
ans_add(struct rm_dns_answer *ans)
{
    ans->rr = xrealloc(ans->rr, (ans->n + 1) * sizeof(*ans->rr));
    memset(&ans->rr[ans->n], 0, sizeof(*ans->rr));
    return &ans->rr[ans->n++];
}

/* parse_* - the records of abuf into ans; an ARES_* status */
static int
parse_a(const unsigned char *abuf, int alen, struct rm_dns_answer *ans)
{
    struct ares_addrttl t[DNS_MAX_RR];
    int n = DNS_MAX_RR, i, rc;

    rc = ares_parse_a_reply(abuf, alen, NULL, t, &n);
    if (rc != ARES_SUCCESS)
        return rc;
    for (i = 0; i < n; i++) {
        struct rm_dns_rr *r = ans_add(ans);

        r->a = t[i].ipaddr;
        r->ttl = t[i].ttl < 0 ? 0 : (uint32_t)t[i].ttl;
    }
    return n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

static int
parse_aaaa(const unsigned char *abuf, int alen, struct rm_dns_answer *ans)
{
    struct ares_addr6ttl t[DNS_MAX_RR];
    int n = DNS_MAX_RR, i, rc;

    rc = ares_parse_aaaa_reply(abuf, alen, NULL, t, &n);
    if (rc != ARES_SUCCESS)
        return rc;
    for (i = 0; i < n; i++) {
        struct rm_dns_rr *r = ans_add(ans);

        memcpy(&r->aaaa, &t[i].ip6addr, sizeof(r->aaaa));
        r->ttl = t[i].ttl < 0 ? 0 : (uint32_t)t[i].ttl;
    }
    return n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

static int
parse_mx(const unsigned char *abuf, int alen, struct rm_dns_answer *ans)
{
    struct ares_mx_reply *mx = NULL, *p;
    int rc;

    rc = ares_parse_mx_reply(abuf, alen, &mx);
    if (rc != ARES_SUCCESS)
        return rc;
    for (p = mx; p != NULL; p = p->next) {
        struct rm_dns_rr *r = ans_add(ans);

        r->pref = p->priority;
        r->text = xstrdup(p->host);
        r->text_len = strlen(r->text);
    }
    ares_free_data(mx);
    return ans->n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

static int
parse_txt(const unsigned char *abuf, int alen, struct rm_dns_answer *ans)
{
    struct ares_txt_ext *txt = NULL, *p;
    struct rm_dns_rr *r = NULL;
    int rc;

    rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
    if (rc != ARES_SUCCESS)
        return rc;
    /* One record is one or more character-strings; a record_start chunk
     * opens the next record. RFC 7208 3.3 / RFC 6376 3.6.2.2: join them
     * with nothing in between. */
    for (p = txt; p != NULL; p = p->next) {
        if (p->record_start || r == NULL) {
            r = ans_add(ans);
            r->text = xstrdup("");
        }
        r->text = xrealloc(r->text, r->text_len + p->length + 1);
        memcpy(r->text + r->text_len, p->txt, p->length);
        r->text_len += p->length;
        r->text[r->text_len] = '\0';
    }
    ares_free_data(txt);
    return ans->n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

static int
parse_ptr(const unsigned char *abuf, int alen, const struct rm_ipaddr *ip,
          struct rm_dns_answer *ans)
{
    struct hostent *h = NULL;
    int rc, i;

    rc = ares_parse_ptr_reply(abuf, alen, ip->a, ip->family == AF_INET ? 4 : 16,
                              ip->family, &h);
    if (rc != ARES_SUCCESS)
        return rc;
    /* c-ares puts every PTR name among the aliases (h_name is one of
     * them); older versions only set h_name. */
    for (i = 0; h->h_aliases != NULL && h->h_aliases[i] != NULL; i++) {
        struct rm_dns_rr *r = ans_add(ans);

        r->text = xstrdup(h->h_aliases[i]);
        r->text_len = strlen(r->text);
    }
    if (ans->n == 0 && h->h_name != NULL && h->h_name[0] != '\0') {
        struct rm_dns_rr *r = ans_add(ans);

        r->text = xstrdup(h->h_name);
        r->text_len = strlen(r->text);
    }
    ares_free_hostent(h);
    return ans->n > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

/* map_status - an ARES_* status as a dns_lookup result */
static int
map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
        return RM_DNS_ENXDOMAIN;
    case ARES_ENODATA:
        return RM_DNS_ENODATA;
    case ARES_EBADNAME:
        return RM_DNS_EINVAL;
    default:
        /* SERVFAIL, REFUSED, FORMERR, NOTIMP, timeouts, refused
         * connections, cancellation at the deadline, malformed answers */
        return RM_DNS_ETEMP;
    }
}

static void
query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_query *q = arg;
    struct rm_dns_answer *ans = q->ans;
    int st = status;

    (void)timeouts;
    q->done = true;
    if (st == ARES_SUCCESS && abuf != NULL) {
        switch (ans->type) {
        case RM_DNS_A:
            st = parse_a(abuf, alen, ans);
            break;
        case RM_DNS_AAAA:
            st = parse_aaaa(abuf, alen, ans);
            break;
        case RM_DNS_MX:
            st = parse_mx(abuf, alen, ans);
            break;
        case RM_DNS_TXT:
            st = parse_txt(abuf, alen, ans);
            break;
        case RM_DNS_PTR:
            st = parse_ptr(abuf, alen, q->ptr_addr, ans);
            break;
        }
        /* A parse failure of a NOERROR answer is a broken answer, not a
         * missing record; ENODATA stays ENODATA. */
        if (st != ARES_SUCCESS && st != ARES_ENODATA)
            st = ARES_EBADRESP;
        if (st != ARES_SUCCESS)
            dns_answer_free(ans);
    } else if (st == ARES_SUCCESS) {
        st = ARES_EBADRESP;
    }
    q->rc = map_status(st);
}

/* run - drive c-ares until the query is done or the deadline passes */
static void
run(ares_channel ch, struct dns_query *q, uint64_t deadline)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    struct timeval maxtv, tv, *tvp;
    uint64_t now, left;
    int bits, i, n, rc, ms;

    while (!q->done) {
        now = io_now_ms();
        if (now >= deadline) {
            /* runs the callback with ARES_ECANCELLED: a timeout */
            ares_cancel(ch);
            break;
        }
        left = deadline - now;
        bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        for (i = 0, n = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            bool r = ARES_GETSOCK_READABLE(bits, i);
            /* not ARES_GETSOCK_WRITABLE: its 1 << (i + 16) overflows int
             * for i = 15 (UBSan aborts) */
            bool w = ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;

            if (!r && !w)
                continue;
            pfd[n].fd = socks[i];
            pfd[n].events = (short)((r ? POLLIN : 0) | (w ? POLLOUT : 0));
            pfd[n].revents = 0;
            n++;
        }
        maxtv.tv_sec = (time_t)(left / 1000);
        maxtv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        tvp = ares_timeout(ch, &maxtv, &tv);
        ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
        rc = poll(pfd, (nfds_t)n, ms);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            msg_warn("dns: poll: %s", strerror(errno));
            ares_cancel(ch);
            break;
        }
        if (rc == 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (i = 0; i < n; i++) {
            short re = pfd[i].revents;

            if (re == 0)
                continue;
            ares_process_fd(ch,
                            (re & (POLLIN | POLLERR | POLLHUP))
                                ? pfd[i].fd
                                : ARES_SOCKET_BAD,
                            (re & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
        }
    }
    if (!q->done) {
        /* cannot happen (ares_cancel runs the callback); be safe */
        q->done = true;
        q->rc = RM_DNS_ETEMP;
    }
}

/* name_ok - something worth sending: 1..253 bytes, no empty label */
static bool
name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX || name[0] == '.' ||
        strstr(name, "..") != NULL)
        return false;
    return true;
}

static int
lookup(struct rm_dns *d, const char *name, enum rm_dns_type type,
       const struct rm_ipaddr *ptr_addr, struct rm_dns_answer *ans)
{
    struct dns_query q = {.ans = ans, .ptr_addr = ptr_addr};
    ares_channel ch;
    uint64_t deadline = io_now_ms() + d->timeout_ms;

    memset(ans, 0, sizeof(*ans));
    ans->type = type;
    if (!name_ok(name))
        return RM_DNS_EINVAL;
    ch = chan_take(d);
    if (ch == NULL)
        return RM_DNS_ETEMP;
    ares_query(ch, name, ns_c_in, (int)type, query_cb, &q);
    run(ch, &q, deadline);
    chan_put(d, ch);
    return q.rc;
}

int
dns_lookup(struct rm_dns *d, const char *name, enum rm_dns_type type,
           struct rm_dns_answer *ans)
{
    /* c-ares' PTR parser wants the address the name stands for, only to
     * copy it into a hostent: any address does. */
    static const struct rm_ipaddr any = {.family = AF_INET};

    return lookup(d, name, type, type == RM_DNS_PTR ? &any : NULL, ans);
}

int
dns_lookup_ptr(struct rm_dns *d, const struct rm_ipaddr *addr,
               struct rm_dns_answer *ans)
{
    char name[RM_DNS_REVERSE_MAX];

    return lookup(d, dns_reverse_name(addr, name, sizeof(name)), RM_DNS_PTR,
                  addr, ans);
}

const char *
dns_reverse_name(const struct rm_ipaddr *addr, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    int i;

    if (len < RM_DNS_REVERSE_MAX) {
        if (len > 0)
            buf[0] = '\0';
        return buf;
    }
    if (addr->family == AF_INET) {
        snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", addr->a[3], addr->a[2],
                 addr->a[1], addr->a[0]);
        return buf;
    }
    for (i = 15; i >= 0; i--) {
        buf[o++] = hex[addr->a[i] & 0xf];
        buf[o++] = '.';
        buf[o++] = hex[addr->a[i] >> 4];
        buf[o++] = '.';
    }
    memcpy(buf + o, "ip6.arpa", 9);
    return buf;
}
