/*
 * NAME
 *   output - the replay report: a table, JSON lines, or a comparison
 *
 * DESCRIPTION
 *   Table (one config): a heading, then one row per message
 *
 *     #  time  source  client  from  rcpt  action  reply
 *
 *   where rcpt is "accepted/given", action is the action with "@stage"
 *   when the message ended before its end (tempfail@data, reject@rcpt),
 *   and reply is what the SMTP client reads ("-" for the MTA's own 250).
 *   Indented lines follow: every check that ran with its outcome, every
 *   refused recipient with its reply, every message change, the
 *   quarantine reason. Nothing in it depends on timing, so a report can
 *   be compared with an expected one (tests/replay/expected.txt).
 *
 *   Comparison (two configs): one row per message with both actions; the
 *   rows whose decisions differ (action, stage, reply, recipients,
 *   changes, quarantine) are marked and followed by both sides' details;
 *   rows where only the checks' outcomes differ are marked "(checks)".
 *
 *   JSON (--json): one object per message per line. With two configs the
 *   object holds "a" and "b" and "differs" (the decision fields that
 *   differ). Check timings (usec) appear only here.
 *
 *   Values that came from mail are printed with control characters
 *   escaped (\n, \t, \xNN), so a message cannot forge report lines.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Reads the rows it is given; every string it makes is freed before it
 *   returns. No shared state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "replay/replay_int.h"

#define W_SOURCE 30
#define W_FROM 32
#define W_CLIENT 15

/* safe - printable copy: \n, \t, \\xNN for other control bytes */
static char *
safe(const char *s)
{
    size_t n = s ? strlen(s) : 0, i, o = 0;
    char *out = xmalloc(4 * n + 1);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n') {
            memcpy(out + o, "\\n", 2);
            o += 2;
        } else if (c == '\t') {
            memcpy(out + o, "\\t", 2);
            o += 2;
        } else if (c == '\r') {
            memcpy(out + o, "\\r", 2);
            o += 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(out + o, 5, "\\x%02x", c);
            o += 4;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/* cut - s shortened to w columns: "...tail" (left) or "head..." */
static char *
cut(const char *s, size_t w, bool keep_tail)
{
    char *t = safe(s), *out;
    size_t n = strlen(t);

    if (n <= w || w < 4)
        return t;
    if (keep_tail)
        out = xasprintf("...%s", t + n - (w - 3));
    else
        out = xasprintf("%.*s...", (int)(w - 3), t);
    free(t);
    return out;
}

static char *
action_col(const struct rp_result *r)
{
    if (r->stage != NULL && strcmp(r->stage, "eom") != 0)
        return xasprintf("%s@%s", r->action, r->stage);
    return xstrdup(r->action ? r->action : "?");
}

static size_t
accepted(const struct rp_result *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->n_rcpts; i++)
        n += r->rcpts[i].accepted;
    return n;
}

/* change_text - one change as a line: "+ Name: value", ... */
static char *
change_text(const struct rp_change *c)
{
    char *n = safe(c->name), *v = safe(c->value), *out;

    if (strcmp(c->op, "add_header") == 0)
        out = xasprintf("+ %s: %s", n, v);
    else if (strcmp(c->op, "insert_header") == 0)
        out = xasprintf("+ %s: %s (inserted at %u)", n, v, c->index);
    else if (strcmp(c->op, "change_header") == 0)
        out = xasprintf("~ %s[%u]: %s", n, c->index, v);
    else if (strcmp(c->op, "delete_header") == 0)
        out = xasprintf("- %s[%u]", n, c->index);
    else if (strcmp(c->op, "add_rcpt") == 0)
        out = xasprintf("+rcpt %s%s%s", n, *v ? " " : "", v);
    else if (strcmp(c->op, "delete_rcpt") == 0)
        out = xasprintf("-rcpt %s", n);
    else if (strcmp(c->op, "change_from") == 0)
        out = xasprintf("from %s%s%s", n, *v ? " " : "", v);
    else
        out = xasprintf("body replaced (%s)", v);
    free(n);
    free(v);
    return out;
}

static void
print_checks(FILE *f, const char *indent, const struct rp_result *r)
{
    size_t i;
    char *t;

    fprintf(f, "%schecks:", indent);
    for (i = 0; i < r->n_checks; i++) {
        t = safe(r->checks[i].note);
        fprintf(f, "%s %s=%s", i ? "," : "", r->checks[i].name, t);
        free(t);
    }
    fprintf(f, "%s\n", r->n_checks ? "" : " -");
}

static void
print_details(FILE *f, const char *indent, const struct rp_result *r)
{
    size_t i;
    char *t, *u;

    print_checks(f, indent, r);
    for (i = 0; i < r->n_rcpts; i++) {
        if (r->rcpts[i].accepted)
            continue;
        t = safe(r->rcpts[i].addr);
        u = safe(r->rcpts[i].reply);
        fprintf(f, "%srefused: %s %s\n", indent, t, u);
        free(t);
        free(u);
    }
    for (i = 0; i < r->n_changes; i++) {
        t = change_text(&r->changes[i]);
        fprintf(f, "%schange: %s\n", indent, t);
        free(t);
    }
    if (r->quarantine != NULL) {
        t = safe(r->quarantine);
        fprintf(f, "%squarantine: %s\n", indent, t);
        free(t);
    }
}

/* ------------------------------------------------------------------ */
/* comparing two results                                              */
/* ------------------------------------------------------------------ */

static bool
same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* differs - the decision fields that differ, "" if none */
static void
differs(const struct rp_result *a, const struct rp_result *b, char *buf,
        size_t len)
{
    size_t i, o = 0;
    bool rc = a->n_rcpts != b->n_rcpts, ch = a->n_changes != b->n_changes;

#define ADD(w) o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", w)
    buf[0] = '\0';
    if (!same(a->action, b->action) || !same(a->stage, b->stage))
        ADD("action");
    if (!same(a->reply, b->reply))
        ADD("reply");
    for (i = 0; !rc && i < a->n_rcpts; i++)
        rc = a->rcpts[i].accepted != b->rcpts[i].accepted ||
             !same(a->rcpts[i].reply, b->rcpts[i].reply);
    if (rc)
        ADD("recipients");
    for (i = 0; !ch && i < a->n_changes; i++)
        ch = !same(a->changes[i].op, b->changes[i].op) ||
             a->changes[i].index != b->changes[i].index ||
             !same(a->changes[i].name, b->changes[i].name) ||
             !same(a->changes[i].value, b->changes[i].value);
    if (ch)
        ADD("changes");
    if (!same(a->quarantine, b->quarantine))
        ADD("quarantine");
#undef ADD
}

/* find_check - the check named name in r, or NULL */
static const struct rp_check *
find_check(const struct rp_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n_checks; i++)
        if (same(r->checks[i].name, name))
            return &r->checks[i];
    return NULL;
}

/* checks_differ - the names of the checks whose outcomes differ, or that
 * ran on one side only, comma separated into buf; false if none */
static bool
checks_differ(const struct rp_result *a, const struct rp_result *b, char *buf,
              size_t len)
{
    const struct rp_check *other;
    size_t i, o = 0;

    buf[0] = '\0';
    for (i = 0; i < a->n_checks && o < len; i++) {
        other = find_check(b, a->checks[i].name);
        if (other != NULL && same(other->note, a->checks[i].note))
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
                              a->checks[i].name);
    }
    for (i = 0; i < b->n_checks && o < len; i++) {
        if (find_check(a, b->checks[i].name) != NULL)
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "",
                              b->checks[i].name);
    }
    return buf[0] != '\0';
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */
/* ------------------------------------------------------------------ */

static void
jstr(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void
json_result(FILE *f, const struct rp_result *r)
{
    size_t i;

    fputs("{\"stage\":", f);
    jstr(f, r->stage);
    fputs(",\"action\":", f);
    jstr(f, r->action);
    fputs(",\"reply\":", f);
    jstr(f, r->reply);
    fputs(",\"quarantine\":", f);
    jstr(f, r->quarantine);
    fputs(",\"summary_action\":", f);
    jstr(f, r->summary);
    fputs(",\"rcpts\":[", f);
    for (i = 0; i < r->n_rcpts; i++) {
        fprintf(f, "%s{\"addr\":", i ? "," : "");
        jstr(f, r->rcpts[i].addr);
        fprintf(f, ",\"accepted\":%s,\"reply\":",
                r->rcpts[i].accepted ? "true" : "false");
        jstr(f, r->rcpts[i].reply);
        fputc('}', f);
    }
    fputs("],\"checks\":[", f);
    for (i = 0; i < r->n_checks; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        jstr(f, r->checks[i].name);
        fputs(",\"outcome\":", f);
        jstr(f, r->checks[i].note);
        fprintf(f, ",\"usec\":%llu}", (unsigned long long)r->checks[i].usec);
    }
    fputs("],\"changes\":[", f);
    for (i = 0; i < r->n_changes; i++) {
        fprintf(f, "%s{\"op\":", i ? "," : "");
        jstr(f, r->changes[i].op);
        fputs(",\"name\":", f);
        jstr(f, r->changes[i].name);
        fputs(",\"value\":", f);
        jstr(f, r->changes[i].value);
        fprintf(f, ",\"index\":%u}", r->changes[i].index);
    }
    fputs("]}", f);
}

static void
json_row(FILE *f, size_t n, const struct rp_row *row, size_t ncfg)
{
    const struct rp_env *e = row->env;
    char t[32], d[128];

    fprintf(f, "{\"n\":%zu,\"source\":", n);
    jstr(f, row->msg->source);
    fputs(",\"message_id\":", f);
    jstr(f, row->message_id);
    rp_format_time(e->time_ms, t, sizeof(t));
    fputs(",\"time\":", f);
    jstr(f, t);
    fputs(",\"time_from\":", f);
    jstr(f, e->time_from);
    fputs(",\"envelope_from\":", f);
    jstr(f, e->env_from);
    fputs(",\"client\":{\"ip\":", f);
    jstr(f, e->client_ip);
    fputs(",\"host\":", f);
    jstr(f, e->client_host);
    fputs("},\"helo\":", f);
    jstr(f, e->helo);
    fputs(",\"from\":", f);
    jstr(f, e->from);
    fputs(",\"auth\":", f);
    jstr(f, e->auth);
    fputs(",\"qid\":", f);
    jstr(f, e->qid);
    if (ncfg == 1) {
        fputs(",\"result\":", f);
        json_result(f, &row->res[0]);
    } else {
        differs(&row->res[0], &row->res[1], d, sizeof(d));
        fputs(",\"a\":", f);
        json_result(f, &row->res[0]);
        fputs(",\"b\":", f);
        json_result(f, &row->res[1]);
        fprintf(f, ",\"agree\":%s,\"differs\":", *d ? "false" : "true");
        jstr(f, d);
        checks_differ(&row->res[0], &row->res[1], d, sizeof(d));
        fputs(",\"checks_differ\":", f);
        jstr(f, d);
    }
    fputs("}\n", f);
}

/* ------------------------------------------------------------------ */
/* tables                                                             */
/* ------------------------------------------------------------------ */

static void
heading(FILE *f, size_t n, const struct rp_out_opts *o)
{
    if (o->n_configs == 1)
        fprintf(f, "# rmilter replay: %zu message%s, config %s\n", n,
                n == 1 ? "" : "s", o->config[0]);
    else
        fprintf(f, "# rmilter replay: %zu message%s, A = %s, B = %s\n", n,
                n == 1 ? "" : "s", o->config[0], o->config[1]);
    fprintf(f,
            "# state: embedded store, empty at start%s; clock: "
            "simulated from the messages\n",
            o->store_note ? o->store_note : "");
    if (o->offline_note != NULL)
        fprintf(f, "# %s\n", o->offline_note);
}

/* line - print a row built with printf, without trailing blanks */
static void line(FILE *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line(FILE *f, const char *fmt, ...)
{
    char *buf = NULL;
    size_t n;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&buf, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return;
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    fprintf(f, "%.*s\n", (int)n, buf);
    free(buf);
}

struct widths {
    int src, from, cli, act, act2;
};

static void
widen(int *w, const char *s)
{
    if ((int)strlen(s) > *w)
        *w = (int)strlen(s);
}

static void
measure(const struct rp_row *rows, size_t n, size_t ncfg, struct widths *w)
{
    char *t;
    size_t i;

    w->src = 6;
    w->from = 4;
    w->cli = W_CLIENT;
    w->act = ncfg == 1 ? 6 : 8;
    w->act2 = 8;
    for (i = 0; i < n; i++) {
        t = cut(rows[i].msg->source, W_SOURCE, true);
        widen(&w->src, t);
        free(t);
        t = cut(rows[i].env->from, W_FROM, false);
        widen(&w->from, t);
        free(t);
        t = safe(*rows[i].env->client_ip ? rows[i].env->client_ip : "-");
        widen(&w->cli, t);
        free(t);
        t = action_col(&rows[i].res[0]);
        widen(&w->act, t);
        free(t);
        if (ncfg == 2) {
            t = action_col(&rows[i].res[1]);
            widen(&w->act2, t);
            free(t);
        }
    }
}

/* row_one - a row of the one-config table and its details */
static void
row_one(FILE *f, size_t num, const struct rp_row *r, const struct widths *w)
{
    char t[32], *src, *from, *cli, *act, *rep, *rc;

    rp_format_time(r->env->time_ms, t, sizeof(t));
    src = cut(r->msg->source, W_SOURCE, true);
    from = cut(r->env->from, W_FROM, false);
    cli = safe(*r->env->client_ip ? r->env->client_ip : "-");
    act = action_col(&r->res[0]);
    rep = safe(r->res[0].reply);
    rc = xasprintf("%zu/%zu", accepted(&r->res[0]), r->res[0].n_rcpts);
    line(f, "%3zu  %-20s  %-*s  %-*s  %-*s  %-5s  %-*s  %s", num, t, w->src,
         src, w->cli, cli, w->from, from, rc, w->act, act, rep);
    print_details(f, "     ", &r->res[0]);
    free(src);
    free(from);
    free(cli);
    free(act);
    free(rep);
    free(rc);
}

/* row_two - a row of the comparison; true if the decisions differ */
static bool
row_two(FILE *f, size_t num, const struct rp_row *r, const struct widths *w,
        bool *checks_only)
{
    char d[128], chk[512], note[600], *src, *from, *act, *act2, *rep;
    bool chk_differ = checks_differ(&r->res[0], &r->res[1], chk, sizeof(chk));

    differs(&r->res[0], &r->res[1], d, sizeof(d));
    src = cut(r->msg->source, W_SOURCE, true);
    from = cut(r->env->from, W_FROM, false);
    act = action_col(&r->res[0]);
    act2 = action_col(&r->res[1]);
    if (*d)
        snprintf(note, sizeof(note), "DIFFERS: %s", d);
    else if (chk_differ)
        snprintf(note, sizeof(note), "same decision; checks differ: %s", chk);
    else
        note[0] = '\0';
    line(f, "%3zu  %-*s  %-*s  %-*s  %-*s  %s", num, w->src, src, w->from, from,
         w->act, act, w->act2, act2, note);
    if (*d) {
        rep = safe(r->res[0].reply);
        fprintf(f, "     A: reply %s\n", rep);
        free(rep);
        print_details(f, "        ", &r->res[0]);
        rep = safe(r->res[1].reply);
        fprintf(f, "     B: reply %s\n", rep);
        free(rep);
        print_details(f, "        ", &r->res[1]);
    }
    *checks_only = !*d && chk_differ;
    free(src);
    free(from);
    free(act);
    free(act2);
    return *d != '\0';
}

size_t
rp_output(FILE *f, const struct rp_row *rows, size_t n,
          const struct rp_out_opts *o)
{
    size_t i, ndiff = 0, nchk = 0;
    struct widths w;
    bool chk_only;
    char d[128];

    if (o->json) {
        for (i = 0; i < n; i++) {
            json_row(f, i + 1, &rows[i], o->n_configs);
            if (o->n_configs == 2) {
                differs(&rows[i].res[0], &rows[i].res[1], d, sizeof(d));
                ndiff += *d != '\0';
            }
        }
        return ndiff;
    }
    measure(rows, n, o->n_configs, &w);
    heading(f, n, o);
    if (o->n_configs == 1) {
        line(f, "%3s  %-20s  %-*s  %-*s  %-*s  %-5s  %-*s  %s", "#", "time",
             w.src, "source", w.cli, "client", w.from, "from", "rcpt", w.act,
             "action", "reply");
        for (i = 0; i < n; i++)
            row_one(f, i + 1, &rows[i], &w);
        return 0;
    }
    line(f, "%3s  %-*s  %-*s  %-*s  %-*s", "#", w.src, "source", w.from, "from",
         w.act, "action A", w.act2, "action B");
    for (i = 0; i < n; i++) {
        ndiff += row_two(f, i + 1, &rows[i], &w, &chk_only);
        nchk += chk_only;
    }
    fprintf(f,
            "# %zu of %zu message%s decided differently; %zu more with the "
            "same decision but different check outcomes\n",
            ndiff, n, n == 1 ? "" : "s", nchk);
    return ndiff;
}
