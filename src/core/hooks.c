/*
 * NAME
 *   hooks - the per-message report and the module exclusion (see hooks.h)
 *
 * DESCRIPTION
 *   core__report runs right after the summary line is built (summary.c):
 *   it copies the checks that ran into a report on the stack (pointers
 *   into the session, no allocation beyond the array), feeds the metrics,
 *   then the report hook. It must not change the session.
 *
 *   The exclusion builds a filtered copy of the built-in module table and
 *   installs it with pipeline_test_set_modules; the copy stays allocated
 *   until the next call (generations keep pointers into it).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The hook pointer and the filtered table are process globals written
 *   only before sessions run (replay is single-threaded); core__report
 *   reads them from any session thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "core/hooks.h"
#include "core/metrics.h"
#include "lib/xmalloc.h"

static rm_report_fn report_fn;
static void *report_arg;
static const struct rm_module **filtered;

void
pipeline_report_hook(rm_report_fn fn, void *arg)
{
    report_fn = fn;
    report_arg = arg;
}

size_t
pipeline_modules_exclude(const char *const *names, size_t n)
{
    const struct rm_module *const *table;
    size_t nt, i, j, kept = 0;
    bool drop;

    pipeline_test_set_modules(NULL, 0);
    free(filtered);
    filtered = NULL;
    if (n == 0)
        return 0;
    table = core__modules(&nt);
    filtered = xcalloc(nt ? nt : 1, sizeof(*filtered));
    for (i = 0; i < nt; i++) {
        drop = false;
        for (j = 0; j < n && !drop; j++)
            drop = strcmp(table[i]->name, names[j]) == 0;
        if (!drop)
            filtered[kept++] = table[i];
    }
    pipeline_test_set_modules(filtered, kept);
    return nt - kept;
}

const char *
report_action_word(const char *action, char *buf, size_t len)
{
    size_t n = 0;

    if (len == 0)
        return "";
    while (action != NULL &&
           ((action[n] >= 'a' && action[n] <= 'z') || action[n] == '_') &&
           n + 1 < len)
        n++;
    memcpy(buf, action ? action : "", n);
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, len, "other");
    return buf;
}

void
core__report(struct rm_session *s, const char *action)
{
    struct rm_msg *m = &s->msg;
    struct rm_check_report *cr;
    struct rm_msg_report r = {0};
    size_t i, n = s->gen ? s->gen->n : 0;

    cr = xcalloc(n ? n : 1, sizeof(*cr));
    for (i = 0; i < n; i++) {
        if (!m->checks[i].ran)
            continue;
        cr[r.n_checks].name = s->gen->v[i].mod->name;
        cr[r.n_checks].note = m->checks[i].note ? m->checks[i].note : "pass";
        cr[r.n_checks].usec = m->checks[i].usec;
        cr[r.n_checks].called = m->checks[i].called;
        r.n_checks++;
    }
    r.tag = m->tag;
    r.qid = msg_qid(m);
    r.action = action ? action : "accept";
    r.usec = core__now_us() - m->t_start;
    r.checks = cr;
    metrics_message(&r);
    if (report_fn != NULL)
        report_fn(&r, report_arg);
    free(cr);
}
