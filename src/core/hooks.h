/*
 * NAME
 *   hooks - what the pipeline tells observers, and how tools narrow it
 *
 * SYNOPSIS
 *   pipeline_report_hook(fn, arg);          replay: one call per message
 *   pipeline_modules_exclude(names, n);     replay --offline
 *
 * DESCRIPTION
 *   When a transaction ends (the one "msg done" summary line is written),
 *   the pipeline fills a struct rm_msg_report and passes it to the metrics
 *   (core/metrics.h) and to the report hook if one is set. The report
 *   holds every check that ran, in pipeline order, with its outcome as the
 *   summary line shows it ("nomatch", "reject(rule x)", "skipped(...)",
 *   "error text -> tempfail") and the time its hooks took.
 *
 *   pipeline_modules_exclude leaves the named modules out of every
 *   generation initialised afterwards (it goes through the same table
 *   override as pipeline_test_set_modules, so the two do not combine).
 *
 * OWNERSHIP
 *   Everything a report points to belongs to the pipeline and is valid
 *   only during the hook call.
 *
 * THREAD SAFETY
 *   The hook is called on the session's thread; set it (and the
 *   exclusions) before any session runs: both are plain process globals.
 */
#ifndef RM_CORE_HOOKS_H
#define RM_CORE_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rm_session;

struct rm_check_report {
    const char *name; /* the module: "rules", "greylist", ... */
    const char *note; /* outcome as in the summary line */
    uint64_t usec;    /* time in the module's hooks (if called) */
    bool called;      /* a hook really ran (else skipped by a class) */
};

struct rm_msg_report {
    const char *tag;    /* the message's log tag */
    const char *qid;    /* MTA queue id or "NOQUEUE" */
    const char *action; /* as in the summary: "accept", "reject 554 ...",
                           "tempfail ...", "discard", "quarantine (why)",
                           "aborted" */
    uint64_t usec;      /* from MAIL to the end of the transaction */
    size_t n_checks;
    const struct rm_check_report *checks; /* checks that ran, in order */
};

typedef void (*rm_report_fn)(const struct rm_msg_report *r, void *arg);

/* pipeline_report_hook - call fn(report, arg) at the end of every
 * transaction (NULL removes it) */
void pipeline_report_hook(rm_report_fn fn, void *arg);

/* pipeline_modules_exclude - run generations initialised from now on
 * without the modules named in names[0..n-1] (n == 0 restores the full
 * table). Returns how many modules of the table were left out. */
size_t pipeline_modules_exclude(const char *const *names, size_t n);

/* report_action_word - the leading [a-z_] word of an action or outcome
 * text ("reject" of "reject 554 5.7.1 ...", "add_header" of
 * "add_header(rule 2)"; "other" if none), into buf; for metrics labels */
const char *report_action_word(const char *action, char *buf, size_t len);

/* core__report - summary.c: the transaction of s ended with action */
void core__report(struct rm_session *s, const char *action);

#endif
