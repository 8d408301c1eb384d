/*
 * NAME
 *   karma_dnsl - the DNS list lookups of one message, run beside the
 *   message
 *
 * SYNOPSIS
 *   karma_dnsl_start(&set, cfg, dns, lists, n, &ids, deadline, tag);
 *   ... the body arrives, the Karmasphere query is answered ...
 *   karma_dnsl_wait(set, deadline);         0: all done; else some not
 *   n = karma_dnsl_snapshot(set, jobs, max); the results so far
 *   karma_dnsl_release(set);
 *
 * DESCRIPTION
 *   The resolver (net/dns.h) is blocking, so the lookups of a message run
 *   on a thread of their own, started at end of headers: they overlap
 *   the body transfer, the other checks and the Karmasphere exchange.
 *   One job per (list, query name): IP lists query the client address,
 *   domain lists the HELO name (unless an address literal), the envelope
 *   sender's domain and the header From domain, each as the list's
 *   identities select; a name two identities share is queried once. The
 *   thread first asks every A record, then the TXT record of each name
 *   that is listed (the reason), and stops asking once the deadline has
 *   passed (jobs not asked keep rc RM_KARMA_DNSL_NOTRUN). Every lookup
 *   is bounded by the resolver's own timeout, which the caller keeps at
 *   or below the deadline's budget. The lookups of one message run one
 *   after the other (net/dns.h has no call that waits for several at
 *   once); with a caching resolver nearby that costs little, and a list
 *   that does not answer costs the ones after it, never the message.
 *
 *   A temporary failure (timeout, SERVFAIL, REFUSED) is no opinion, never
 *   a listing; answers the list does not count, refusal codes
 *   (127.255.255.x) and answers outside 127/8 are logged and ignored (see
 *   proto/dnsl.h).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The set is shared by the caller and the thread and freed by whichever
 *   drops the last reference (karma_dnsl_release, or the thread when it
 *   ends after the caller gave up waiting). The thread holds a reference
 *   on the config generation (cfg_ref) for its whole life, so the
 *   resolver and the lists it reads stay alive even when the message ends
 *   first. The thread writes a job's results, then publishes them under
 *   the set's mutex (a_done, txt_done); the caller reads a job's results
 *   only once published (karma_dnsl_snapshot copies them under the
 *   mutex), so a list that is slow to answer costs only its own opinion,
 *   not those already in. If the thread cannot be created the lookups run
 *   inline in karma_dnsl_start.
 */
#ifndef RM_MODULES_KARMA_DNSL_H
#define RM_MODULES_KARMA_DNSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "lib/iplist.h"
#include "net/dns.h"
#include "proto/dnsl.h"

/* Most jobs of one message. */
#define RM_KARMA_DNSL_MAX_JOBS 64

/* A job's rc before its lookup ran (or when the deadline stopped it). */
#define RM_KARMA_DNSL_NOTRUN (-100)

/* Which identity a domain job is for (bits). */
enum {
    RM_KARMA_ID_IP = 1u << 0,
    RM_KARMA_ID_HELO = 1u << 1,
    RM_KARMA_ID_FROM = 1u << 2,
    RM_KARMA_ID_HFROM = 1u << 3,
};

/* One configured list (per generation, read-only). */
struct rm_karma_dnsl_list {
    char *zone;   /* without a final dot */
    bool ip;      /* an IP list; else a domain list */
    unsigned ids; /* domain lists: RM_KARMA_ID_HELO | _FROM | _HFROM */
    int weight;
    const struct rm_iplist *listed; /* codes that count */
};

/* The identities of one message. */
struct rm_karma_dnsl_ids {
    struct rm_ipaddr ip;
    bool has_ip;
    const char *helo;        /* NULL or "": none */
    const char *from_domain; /* NULL or "": none */
    const char *hfrom_domain;
};

struct rm_karma_dnsl_job {
    size_t list;     /* index into the lists */
    unsigned ids;    /* RM_KARMA_ID_* this name stands for */
    char ident[256]; /* the identity as queried ("192.0.2.1", a domain) */
    char name[RM_DNSL_NAMEBUF];
    /* results */
    int rc;        /* 0: an A answer; RM_DNS_E*; RM_KARMA_DNSL_NOTRUN */
    bool listed;   /* some A record counts */
    char code[16]; /* the (first) A record that counts, or the first */
    enum rm_dnsl_class cls;
    char *reason;  /* the TXT reason of a listed name, or NULL */
    bool a_done;   /* the A lookup ran (the results above are final) */
    bool txt_done; /* the TXT lookup ran (reason is final) */
};

struct rm_karma_dnsl;

/*
 * karma_dnsl_start - build the jobs and start the lookups
 *
 * cfg is the generation the lists and dns belong to (a reference is taken
 * for the thread). deadline is absolute (io_now_ms clock). tag prefixes
 * log lines. *out is NULL when there is nothing to look up; otherwise the
 * caller must karma_dnsl_release it. Never fails.
 */
void karma_dnsl_start(struct rm_karma_dnsl **out, struct rm_config *cfg,
                      struct rm_dns *dns,
                      const struct rm_karma_dnsl_list *lists, size_t n_lists,
                      const struct rm_karma_dnsl_ids *ids, uint64_t deadline,
                      const char *tag);

/* karma_dnsl_wait - wait until the lookups are done or deadline_ms passes;
 * 0 (done) or -ETIMEDOUT */
int karma_dnsl_wait(struct rm_karma_dnsl *s, uint64_t deadline_ms);

/*
 * karma_dnsl_snapshot - copy the results so far into out[0..max), also
 * while lookups still run (after karma_dnsl_wait gave up): a job whose A
 * lookup has not finished has rc RM_KARMA_DNSL_NOTRUN and is not listed;
 * a reason is only copied once its TXT lookup finished. Returns the
 * number of jobs copied; the caller frees each out[i].reason.
 */
size_t karma_dnsl_snapshot(struct rm_karma_dnsl *s,
                           struct rm_karma_dnsl_job *out, size_t max);

/* karma_dnsl_release - the caller is done with s (NULL is a no-op) */
void karma_dnsl_release(struct rm_karma_dnsl *s);

/* karma_dnsl_ids_text - "helo", "from+header_from", ... into buf */
const char *karma_dnsl_ids_text(unsigned ids, char *buf, size_t len);

#endif
