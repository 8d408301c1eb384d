/*
 * NAME
 *   spamd_map - the spam verdict table and the headers a scan adds
 *
 * DESCRIPTION
 *   See spamd_map.h for the table. Everything here is a pure function of
 *   its arguments; strings it returns are new (xmalloc) and header values
 *   have been through hdr_value_sanitize, so nothing a scanner sends can
 *   start a new header line.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   No state; the caller owns what it passes in and what it gets back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "modules/spamd_map.h"
#include "proto/hdr.h"

static const char *const verdict_names[] = {
    [RM_SV_NO_ACTION] = "no action",
    [RM_SV_GREYLIST] = "greylist",
    [RM_SV_ADD_HEADER] = "add header",
    [RM_SV_REWRITE_SUBJECT] = "rewrite subject",
    [RM_SV_SOFT_REJECT] = "soft reject",
    [RM_SV_REJECT] = "reject",
    [RM_SV_DISCARD] = "discard",
    [RM_SV_QUARANTINE] = "quarantine",
};

const char *
spamd_map_verdict_name(enum rm_spam_verdict v)
{
    if ((size_t)v >= sizeof(verdict_names) / sizeof(verdict_names[0]))
        return "?";
    return verdict_names[v];
}

enum rm_spam_verdict
spamd_map_verdict_parse(const char *text, bool *known)
{
    size_t i;

    *known = true;
    for (i = 0;
         text != NULL && i < sizeof(verdict_names) / sizeof(*verdict_names);
         i++)
        if (strcasecmp(text, verdict_names[i]) == 0)
            return (enum rm_spam_verdict)i;
    /* rspamd writes "add_header" in configs and "add header" in replies */
    if (text != NULL && strcasecmp(text, "add_header") == 0)
        return RM_SV_ADD_HEADER;
    if (text != NULL && strcasecmp(text, "rewrite_subject") == 0)
        return RM_SV_REWRITE_SUBJECT;
    if (text != NULL && strcasecmp(text, "soft_reject") == 0)
        return RM_SV_SOFT_REJECT;
    *known = false;
    return RM_SV_NO_ACTION;
}

/* reject_or_header - a reject, unless never_reject turns it into the
 * spam header */
static void
reject_or_header(const struct rm_spam_policy *p, enum rm_spam_do act,
                 const char *why, struct rm_spam_plan *out)
{
    if (p->never_reject) {
        out->act = RM_SPAM_DO_NOTHING;
        out->add_header = !p->no_edit;
        out->spam_action = RM_SPAM_ADD_HEADER;
        out->why = "header (never_reject)";
        return;
    }
    out->act = act;
    out->spam_action = RM_SPAM_REJECT;
    out->why = why;
}

void
spamd_map_plan(enum rm_spam_verdict v, const struct rm_spam_policy *p,
               struct rm_spam_plan *out)
{
    memset(out, 0, sizeof(*out));
    out->act = RM_SPAM_DO_NOTHING;
    out->spam_action = RM_SPAM_NONE;
    out->why = "no action";

    switch (v) {
    case RM_SV_GREYLIST:
    case RM_SV_ADD_HEADER:
    case RM_SV_REWRITE_SUBJECT:
        if (!p->soft_fail) {
            reject_or_header(p, RM_SPAM_DO_REJECT, "reject (soft_fail = no)",
                             out);
            return;
        }
        out->greylist = p->greylist;
        if (v == RM_SV_GREYLIST) {
            out->spam_action = RM_SPAM_GREYLIST;
            out->why = p->greylist ? "greylist" : "greylist (not applied)";
        } else if (v == RM_SV_ADD_HEADER) {
            out->spam_action = RM_SPAM_ADD_HEADER;
            out->add_header = !p->no_edit;
            out->why = p->no_edit ? "add header (authenticated: no edit)"
                                  : "add header";
        } else {
            out->spam_action = RM_SPAM_REWRITE_SUBJECT;
            out->rewrite_subject = !p->no_edit;
            out->add_header = !p->no_edit && p->spam_add_header;
            out->why = p->no_edit ? "rewrite subject (authenticated: no edit)"
                                  : "rewrite subject";
        }
        return;
    case RM_SV_SOFT_REJECT:
        out->act = RM_SPAM_DO_TEMPFAIL;
        out->spam_action = RM_SPAM_SOFT_REJECT;
        out->why = "soft reject";
        return;
    case RM_SV_REJECT:
        reject_or_header(p, RM_SPAM_DO_REJECT, "reject", out);
        return;
    case RM_SV_DISCARD:
        reject_or_header(p, RM_SPAM_DO_DISCARD, "discard", out);
        return;
    case RM_SV_QUARANTINE:
        out->act = RM_SPAM_DO_QUARANTINE;
        out->spam_action = RM_SPAM_REJECT;
        out->why = "quarantine";
        return;
    default:
        return;
    }
}

/* ------------------------------------------------------------------------ */
/* X-Spamd-Result                                                           */
/* ------------------------------------------------------------------------ */

struct sb {
    char *p;
    size_t len, cap;
};

static void
sb_put(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void
sb_num(struct sb *b, double d)
{
    char num[64];

    if (!isfinite(d))
        d = 0;
    snprintf(num, sizeof(num), "%.2f", d);
    sb_str(b, num);
}

static int
sym_cmp(const void *a, const void *b)
{
    const struct rm_spam_sym *x = *(const struct rm_spam_sym *const *)a;
    const struct rm_spam_sym *y = *(const struct rm_spam_sym *const *)b;
    double ax = fabs(x->score), ay = fabs(y->score);

    if (ax > ay)
        return -1;
    if (ax < ay)
        return 1;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

char *
spamd_map_result_header(const struct rm_spam_report *r)
{
    const struct rm_spam_sym **v = NULL;
    struct sb b = {0};
    size_t i, k;
    char *out;

    sb_str(&b, "default: ");
    sb_str(&b, r->is_spam ? "True" : "False");
    sb_str(&b, " [");
    sb_num(&b, r->score);
    sb_str(&b, " / ");
    sb_num(&b, r->required);
    sb_str(&b, "]");
    if (r->n_syms > 0) {
        v = xcalloc(r->n_syms, sizeof(*v));
        for (i = 0; i < r->n_syms; i++)
            v[i] = &r->syms[i];
        qsort(v, r->n_syms, sizeof(*v), sym_cmp);
    }
    for (i = 0; i < r->n_syms && b.len < RM_SPAM_RESULT_MAX; i++) {
        if (v[i]->name == NULL || v[i]->name[0] == '\0')
            continue;
        sb_str(&b, "\n ");
        sb_str(&b, v[i]->name);
        if (v[i]->has_score) {
            sb_str(&b, "(");
            sb_num(&b, v[i]->score);
            sb_str(&b, ")");
        }
        if (v[i]->n_options > 0) {
            sb_str(&b, "[");
            for (k = 0; k < v[i]->n_options; k++) {
                if (k > 0)
                    sb_str(&b, ", ");
                sb_str(&b, v[i]->options[k] ? v[i]->options[k] : "");
            }
            sb_str(&b, "]");
        }
    }
    free(v);
    out =
        hdr_value_sanitize(b.p, b.len, strlen("X-Spamd-Result"),
                           RM_SPAM_RESULT_MAX, RM_HDR_KEEP_FOLDS | RM_HDR_RAW8);
    free(b.p);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Subject                                                                  */
/* ------------------------------------------------------------------------ */

char *
spamd_map_subject(const char *fmt, const char *orig, const char *rspamd_subject)
{
    struct sb b = {0};
    const char *p;
    char *out;

    if (rspamd_subject != NULL && rspamd_subject[0] != '\0') {
        sb_str(&b, rspamd_subject);
    } else {
        if (orig == NULL)
            orig = "";
        for (p = fmt ? fmt : "%s"; *p != '\0'; p++) {
            if (p[0] == '%' && p[1] == 's') {
                sb_str(&b, orig);
                p++;
            } else if (p[0] == '%' && p[1] == '%') {
                sb_put(&b, "%", 1);
                p++;
            } else {
                sb_put(&b, p, 1);
            }
        }
    }
    if (b.p == NULL)
        sb_put(&b, "", 0);
    out = hdr_value_sanitize(b.p, b.len, strlen("Subject"), 0, 0);
    free(b.p);
    return out;
}

size_t
spamd_map_del_indexes(int idx, size_t count, unsigned *out, size_t max)
{
    size_t n = 0, k;

    if (idx == 0) {
        for (k = count; k > 0 && n < max; k--)
            out[n++] = (unsigned)k;
    } else if (idx > 0) {
        if ((size_t)idx <= count && max > 0)
            out[n++] = (unsigned)idx;
    } else if ((size_t)(-(long)idx) <= count && max > 0) {
        out[n++] = (unsigned)(count + 1 - (size_t)(-(long)idx));
    }
    return n;
}
