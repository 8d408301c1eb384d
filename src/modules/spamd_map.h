/*
 * NAME
 *   spamd_map - what a spam scanner's verdict means for a message: the
 *   action, the spam header, the subject, the extended headers
 *
 * DESCRIPTION
 *   Pure functions (no I/O, no state, thread-safe) used by the spamd
 *   module (spamd.c), kept apart so the mapping is unit-tested without a
 *   scanner.
 *
 *   Verdicts: rspamd's action as it says it; SpamAssassin's "Spam: True"
 *   is RM_SV_REJECT and "Spam: False" RM_SV_NO_ACTION (spamd has no graded
 *   actions, so spamd_soft_fail has nothing to soften there; the original
 *   rejected on "True" too). What each verdict does, given the policy
 *   (spamd { spamd_soft_fail; spamd_greylist; spamd_never_reject;
 *   spamd_spam_add_header; spam_no_auth_header }):
 *
 *     no action        nothing
 *     greylist         greylist (when greylisting runs on the verdict and
 *                      the sender is not authenticated), else nothing
 *     add header       greylist first (as above), then spam_header
 *     rewrite subject  greylist first (as above), then the subject, and
 *                      spam_header too with spamd_spam_add_header
 *     soft reject      451 4.7.1, always a 4xx (never_reject and soft_fail
 *                      do not touch it): rspamd asks for a retry
 *     reject           554 5.7.1; with never_reject: spam_header instead
 *     discard          accept and drop; with never_reject: spam_header
 *     quarantine       the MTA holds the message (rspamd >= 3)
 *   With spamd_soft_fail = no, greylist, add header and rewrite subject
 *   reject as well (the rmilter 1.6 meaning: "soft fail" is what lets
 *   verdicts below reject do something milder); never_reject still turns
 *   such a reject into the header. spam_no_auth_header drops the header
 *   and subject changes for authenticated senders (scanned only with
 *   strict_auth).
 *
 *   Greylisting add header and rewrite subject (rmilter.md 12.8): kept on
 *   purpose. Under verdict-driven greylisting only the verdict picks what
 *   is delayed; if verdicts above "greylist" were not greylisted, likelier
 *   spam would get through sooner than borderline mail.
 *
 *   Extended headers (extended_spam_headers):
 *     X-Spamd-Result: default: True [16.10 / 15.00]
 *      GTUBE(16.00)[pattern]
 *      MIME_GOOD(-0.10)[text/plain]
 *   the first line True when the score reached the required score or the
 *   verdict is a reject, then one folded line per symbol, sorted by
 *   |score| descending (ties by name), options in brackets; SpamAssassin
 *   symbols have no score and show as bare names. The value passes
 *   through hdr_value_sanitize (folds kept, UTF-8 kept).
 */
#ifndef RM_MODULES_SPAMD_MAP_H
#define RM_MODULES_SPAMD_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/session.h"

/* A scanner's verdict, protocol-neutral. */
enum rm_spam_verdict {
    RM_SV_NO_ACTION,
    RM_SV_GREYLIST,
    RM_SV_ADD_HEADER,
    RM_SV_REWRITE_SUBJECT,
    RM_SV_SOFT_REJECT,
    RM_SV_REJECT,
    RM_SV_DISCARD,
    RM_SV_QUARANTINE,
};

/* What the message's sender and the config allow. */
struct rm_spam_policy {
    bool soft_fail;       /* spamd_soft_fail */
    bool greylist;        /* greylisting on the verdict applies to this
                             message (spamd_greylist, greylisting on, the
                             sender not authenticated) */
    bool never_reject;    /* spamd_never_reject */
    bool spam_add_header; /* spamd_spam_add_header */
    bool no_edit;         /* spam_no_auth_header and authenticated */
};

enum rm_spam_do {
    RM_SPAM_DO_NOTHING,  /* accept as far as this scan goes (edits below) */
    RM_SPAM_DO_REJECT,   /* 554 5.7.1 */
    RM_SPAM_DO_TEMPFAIL, /* 451 4.7.1 */
    RM_SPAM_DO_DISCARD,
    RM_SPAM_DO_QUARANTINE,
};

struct rm_spam_plan {
    enum rm_spam_do act;
    bool greylist;                   /* call greylist_check_message first: if it
                             greylists, that is the answer */
    bool add_header;                 /* spam_header: spam_header_value */
    bool rewrite_subject;            /* the subject */
    enum rm_spam_action spam_action; /* for m->spam_action */
    const char *why; /* a few words for the note: "reject", "header
                        (never_reject)", ... (static) */
};

/* spamd_map_plan - what verdict v does under policy p */
void spamd_map_plan(enum rm_spam_verdict v, const struct rm_spam_policy *p,
                    struct rm_spam_plan *out);

/* spamd_map_verdict_name - "no action", "greylist", "add header",
 * "rewrite subject", "soft reject", "reject", "discard", "quarantine" */
const char *spamd_map_verdict_name(enum rm_spam_verdict v);

/* spamd_map_verdict_parse - rspamd's action text to a verdict; unknown
 * texts are RM_SV_NO_ACTION and *known is set false */
enum rm_spam_verdict spamd_map_verdict_parse(const char *text, bool *known);

/* One symbol for the extended header. */
struct rm_spam_sym {
    const char *name;
    double score;
    bool has_score; /* false for SpamAssassin */
    const char *const *options;
    size_t n_options;
};

struct rm_spam_report {
    bool is_spam;
    double score, required;
    const struct rm_spam_sym *syms;
    size_t n_syms;
};

/* Cap on the X-Spamd-Result value (content before folding). */
#define RM_SPAM_RESULT_MAX 8192

/* spamd_map_result_header - the X-Spamd-Result value for r (new string,
 * sanitized; the caller frees it) */
char *spamd_map_result_header(const struct rm_spam_report *r);

/*
 * spamd_map_subject - the rewritten subject
 *
 * rspamd_subject (rspamd's own, may be NULL) wins; otherwise fmt with
 * every "%s" replaced by orig (NULL: "") and "%%" by "%"; other bytes
 * are kept. The result is sanitized for a Subject header (new string).
 */
char *spamd_map_subject(const char *fmt, const char *orig,
                        const char *rspamd_subject);

/*
 * spamd_map_del_indexes - the 1-based indexes to delete for rspamd's
 * remove_headers entry "name: idx" when count headers of that name
 * exist: idx 0 all of them, idx > 0 that one, idx < 0 the -idx-th from
 * the end. Highest first (so deleting one does not renumber the next),
 * at most max into out. Returns how many.
 */
size_t spamd_map_del_indexes(int idx, size_t count, unsigned *out, size_t max);

#endif
