/*
 * NAME
 *   verdict - helpers module hooks use to fill struct rm_verdict
 *
 * DESCRIPTION
 *   Thin wrappers over reply.h so that modules never touch the reply's
 *   memory directly, plus msg_state (the current module's per-message slot,
 *   which the pipeline points at before each hook call) and module_diag
 *   (an error line for a module's init).
 *
 * THREAD SAFETY
 *   A verdict and a message are used by one thread at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "lib/xmalloc.h"

enum rm_status
verdict_set(struct rm_verdict *v, enum rm_action a, const char *rcode,
            const char *xcode, const char *text)
{
    if (a == RM_ACT_QUARANTINE) {
        reply_set(&v->r, a, NULL, NULL, NULL);
        free(v->r.quarantine_reason);
        v->r.quarantine_reason = xstrdup(text ? text : "quarantined");
    } else {
        reply_set(&v->r, a, rcode, xcode, text);
    }
    return RM_FINAL;
}

void
verdict_add_header(struct rm_verdict *v, const char *name, const char *value)
{
    reply_add_mod(&v->r, RM_MOD_ADD_HEADER, 0, name, value,
                  value ? strlen(value) : 0);
}

void
verdict_mod(struct rm_verdict *v, enum rm_mod_kind kind, unsigned index,
            const char *name, const char *value, size_t value_len)
{
    reply_add_mod(&v->r, kind, index, name, value, value_len);
}

/* vformat - a new string from a format */
static char *vformat(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *
vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    char *s;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return xstrdup("?");
    s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void
verdict_note(struct rm_verdict *v, const char *fmt, ...)
{
    va_list ap;

    free(v->note);
    va_start(ap, fmt);
    v->note = vformat(fmt, ap);
    va_end(ap);
}

void **
msg_state(struct rm_msg *m)
{
    return &m->mstate[m->cur_module];
}

void
module_diag(struct rm_diag *diag, const char *fmt, ...)
{
    va_list ap;
    char *line;

    if (diag == NULL)
        return;
    va_start(ap, fmt);
    line = vformat(fmt, ap);
    va_end(ap);
    diag->lines = xrealloc(diag->lines, (diag->n + 1) * sizeof(*diag->lines));
    diag->lines[diag->n++] = line;
    diag->n_errors++;
}
