/*
 * NAME
 *   summary - the one "msg done" log line per message
 *
 * DESCRIPTION
 *   Written once per transaction (at EOM, at a final verdict before EOM,
 *   at ABORT, or when the transaction is dropped by the next MAIL, QUIT_NC
 *   or close):
 *
 *     <tag>: msg done: qid=<Q>; client=<host>[<ip>]; from=<F>;
 *     rcpt=<a>,<b> (2 total[, 1 refused]); user=<login|->;
 *     checks: rules=<outcome> (<ms>ms), ...; action=<action>; time=<ms>ms
 *
 *   Recipients are listed up to RM_SUMMARY_RCPTS, then "...". Every value
 *   that came from the network is made printable and bounded (core__safe),
 *   so a client cannot forge or split log lines.
 *
 * THREAD SAFETY
 *   Works on one session; log_msg is thread-safe.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "core/hooks.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define RM_SUMMARY_RCPTS 8
#define RM_SUMMARY_FIELD 256

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

char *
core__safe(const char *s, size_t max)
{
    size_t n, i;
    char *out;

    if (s == NULL)
        return xstrdup("");
    n = strlen(s);
    if (n > max)
        n = max;
    out = xmalloc(n + 4);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < strlen(s)) {
        memcpy(out + n, "...", 4);
    } else {
        out[n] = '\0';
    }
    return out;
}

/* sb_safe - append a safe copy of s */
static void
sb_safe(struct sb *b, const char *s)
{
    char *t = core__safe(s, RM_SUMMARY_FIELD);

    sb_add(b, "%s", t);
    free(t);
}

void
core__summary(struct rm_session *s, const char *action)
{
    struct rm_msg *m = &s->msg;
    struct sb b = {0};
    size_t i, shown = 0;
    bool any = false;

    if (m->logged || !m->active)
        return;
    m->logged = true;

    sb_add(&b, "qid=");
    sb_safe(&b, msg_qid(m));
    sb_add(&b, "; client=");
    /* Postfix sends "[ip]" as the name when it did no lookup: say so once */
    sb_safe(&b, msg_client_host(m)[0] == '[' ? "unknown" : msg_client_host(m));
    sb_add(&b, "[");
    sb_safe(&b, msg_client_ip(m));
    sb_add(&b, "]; from=<");
    sb_safe(&b, m->from ? m->from : "");
    sb_add(&b, ">; rcpt=");
    for (i = 0; i < m->n_rcpts && shown < RM_SUMMARY_RCPTS; i++, shown++) {
        if (shown)
            sb_add(&b, ",");
        sb_safe(&b, m->rcpts[i].raw);
    }
    if (m->n_rcpts > shown)
        sb_add(&b, ",...");
    if (m->n_rcpts == 0)
        sb_add(&b, "-");
    sb_add(&b, " (%zu total", m->n_rcpts);
    if (m->n_rcpts_refused)
        sb_add(&b, ", %zu refused", m->n_rcpts_refused);
    sb_add(&b, "); user=");
    sb_safe(&b, m->user ? m->user : "-");
    sb_add(&b, "; checks:");
    for (i = 0; s->gen && i < s->gen->n; i++) {
        if (!m->checks[i].ran)
            continue;
        sb_add(&b, "%s %s=", any ? "," : "", s->gen->v[i].mod->name);
        sb_safe(&b, m->checks[i].note ? m->checks[i].note : "pass");
        if (m->checks[i].called)
            sb_add(&b, " (%llums)",
                   (unsigned long long)(m->checks[i].usec / 1000u));
        any = true;
    }
    if (!any)
        sb_add(&b, " none");
    sb_add(&b, "; action=");
    sb_safe(&b, action);
    sb_add(&b, "; time=%llums",
           (unsigned long long)((core__now_us() - m->t_start) / 1000u));
    msg_info("%s: msg done: %s", m->tag, b.p);
    free(b.p);
    core__report(s, action);
}
