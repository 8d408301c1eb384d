/*
 * NAME
 *   spf_map - what an SPF result means for a message: the Received-SPF
 *   header, the SMTP reply, and which sender domains are checked
 *
 * DESCRIPTION
 *   Pure functions (no I/O, no state, thread-safe) used by the SPF module
 *   (spf.c), kept apart so the mapping is unit-tested without DNS.
 *
 *   Results and what they do (policy = spf { softfail; temperror;
 *   permerror }, each header | tempfail | reject):
 *     pass, neutral, none  the header only
 *     fail                 550 5.7.23 "SPF policy violation. Host
 *                          <name>[<ip>] is not allowed to send mail as
 *                          <sender>." (RFC 7372 X.7.23)
 *     softfail             policy; default header; tempfail 451 4.7.23,
 *                          reject 550 5.7.23 as fail
 *     temperror            policy; default tempfail 451 4.7.24; reject
 *                          550 5.7.24 (RFC 7372 X.7.24)
 *     permerror            policy; default header; tempfail 451 4.7.24,
 *                          reject 550 5.7.24
 *
 *   The header is the RFC 7208 section 9.1 form:
 *     Received-SPF: fail (mta.example: domain of a@example.org does not
 *      designate 192.0.2.1 as permitted sender) client-ip=192.0.2.1;
 *      envelope-from="a@example.org"; helo=client.example;
 *      receiver=mta.example; identity=mailfrom;
 *   with values that are not dot-atoms written as quoted strings, the
 *   comment escaped, and the whole value passed through
 *   hdr_value_sanitize (folded, no control characters).
 */
#ifndef RM_MODULES_SPF_MAP_H
#define RM_MODULES_SPF_MAP_H

#include <stdbool.h>

#include "cfg/cfg.h"
#include "core/reply.h"

enum rm_spf_result {
    RM_SPF_PASS,
    RM_SPF_FAIL,
    RM_SPF_SOFTFAIL,
    RM_SPF_NEUTRAL,
    RM_SPF_NONE,
    RM_SPF_TEMPERROR,
    RM_SPF_PERMERROR,
};

/* The values of spf { softfail; temperror; permerror } (their ENUM
 * order in cfg_directives.h). */
enum rm_spf_policy {
    RM_SPF_POLICY_HEADER = 0,
    RM_SPF_POLICY_TEMPFAIL = 1,
    RM_SPF_POLICY_REJECT = 2,
};

/* What was checked, for the header and the reply. */
struct rm_spf_facts {
    enum rm_spf_result result;
    const char *receiver; /* the MTA's name */
    const char *host;     /* the client's name ("unknown") */
    const char *ip;       /* the client's address */
    const char *sender;   /* the identity checked: the MAIL FROM address,
                             or postmaster@<helo> for the null sender */
    const char *helo;     /* the HELO/EHLO argument ("" if none) */
    bool helo_identity;   /* the null sender: the HELO was checked */
    const char *problem;  /* why: temperror/permerror detail, or NULL */
};

/* What the module does with a result. */
struct rm_spf_action {
    enum rm_action action; /* RM_ACT_CONTINUE (header only), REJECT or
                              TEMPFAIL */
    const char *rcode;     /* "550" / "451" */
    const char *xcode;     /* "5.7.23" ... */
    char *text;            /* the reply text (xmalloc), NULL with CONTINUE */
};

/* spf_result_name - "pass", "fail", ... */
const char *spf_result_name(enum rm_spf_result r);

/* spf_domain_listed - is domain in a or b (exact, ASCII case-insensitive;
 * an entry "*" lists every domain)? NULL lists count as empty. */
bool spf_domain_listed(const struct rm_strlist *a, const struct rm_strlist *b,
                       const char *domain);

/* spf_header_value - the Received-SPF value (without the name) for f, a
 * new string */
char *spf_header_value(const struct rm_spf_facts *f);

/* spf_action - what result f->result does under the policies; release
 * act->text with free() */
void spf_action(const struct rm_spf_facts *f, enum rm_spf_policy softfail,
                enum rm_spf_policy temperror, enum rm_spf_policy permerror,
                struct rm_spf_action *act);

#endif
