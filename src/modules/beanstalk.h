/*
 * NAME
 *   beanstalk - what the beanstalk copies module offers other modules and
 *   the metrics
 *
 * DESCRIPTION
 *   The module (src/modules/beanstalk.c) runs at EOM after the scanners.
 *   It sends the spam copy itself when the scanner's verdict leaves the
 *   message undecided (m->spam_action set, e.g. add header). A verdict
 *   that ends the message (reject) stops the pipeline before the
 *   beanstalk module's turn, so the scanner module calls
 *   beanstalk_spam_copy() before it returns such a verdict. Calling it in
 *   both cases is safe: a message is copied to spam_server at most once.
 *
 * THREAD SAFETY
 *   Both functions may be called from any thread.
 */
#ifndef RM_BEANSTALK_H
#define RM_BEANSTALK_H

#include <stdint.h>

#include "core/module.h"

/*
 * beanstalk_spam_copy - put m to spam_server now, if that is configured
 *
 * For a spam scanner's EOM hook, after it set m->spam_action. Does
 * nothing when m->spam_action is RM_SPAM_NONE, when the generation of m
 * has no beanstalk { send_beanstalk_spam = yes; spam_server = ...; },
 * when the spooled message is not available, or when this message was
 * already copied. Best effort: bounded by beanstalk { timeout }, never
 * fails; the outcome is logged and counted.
 */
void beanstalk_spam_copy(struct rm_msg *m);

/* Counters since the start of the process (every generation). */
struct rm_bs_stats {
    uint64_t sent;         /* jobs stored (INSERTED or BURIED) */
    uint64_t buried;       /* ... of which BURIED */
    uint64_t failed;       /* puts that failed (every member tried) */
    uint64_t too_big;      /* ... of which JOB_TOO_BIG */
    uint64_t skipped_dead; /* not tried: every server of the pool dead */
    uint64_t skipped_size; /* not sent: larger than max_size */
    uint64_t not_sampled;  /* copies left out by copy_probability */
};

/* beanstalk_stats - a snapshot of the counters */
void beanstalk_stats(struct rm_bs_stats *out);

#endif
