/*
 * NAME
 *   run - one stored message through the real pipeline, as an MTA sends it
 *
 * DESCRIPTION
 *   One pipeline session per message, fed the way Postfix feeds a milter
 *   (with the macros docs/guide.md recommends): connection macros j, _,
 *   {client_addr}, {client_name} and the sidecar's extra macros; CONNECT;
 *   HELO; MAIL with i, {mail_addr} and {auth_authen}; one RCPT per
 *   recipient with {rcpt_addr}; DATA; each header; end of headers; the
 *   body in 64 KiB chunks; end of message with i.
 *
 *   What an MTA would do with each answer, replay does: a reject, tempfail
 *   or discard before the end of the message ends it there; a refused
 *   recipient is left out and the transaction goes on; with every
 *   recipient refused the transaction is aborted (Postfix never sends
 *   DATA); an accept before the end stops the checks; "skip" stops the
 *   body. The result records where it ended, the action, the SMTP reply,
 *   every recipient's fate, every check's outcome (from the pipeline's
 *   report hook, the same data as the summary log line) and the message
 *   changes asked for at the end.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The session is created and freed here. The report hook points at the
 *   result being filled only during rp_run; replay is single-threaded.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/hooks.h"
#include "core/pipeline.h"
#include "lib/xmalloc.h"
#include "replay/replay_int.h"

#define RP_BODY_CHUNK 65536

/* on_report - the pipeline's end-of-transaction report into the result */
static void
on_report(const struct rm_msg_report *r, void *arg)
{
    struct rp_result *res = arg;
    size_t i;

    if (res->summary != NULL)
        return; /* the first report is the message's */
    res->summary = xstrdup(r->action);
    res->checks = xcalloc(r->n_checks ? r->n_checks : 1, sizeof(*res->checks));
    for (i = 0; i < r->n_checks; i++) {
        res->checks[i].name = xstrdup(r->checks[i].name);
        res->checks[i].note = xstrdup(r->checks[i].note);
        res->checks[i].usec = r->checks[i].usec;
        res->checks[i].called = r->checks[i].called;
    }
    res->n_checks = r->n_checks;
}

static bool
ends(const struct rm_reply *r)
{
    return r->action == RM_ACT_REJECT || r->action == RM_ACT_TEMPFAIL ||
           r->action == RM_ACT_DISCARD || r->action == RM_ACT_ACCEPT;
}

static const char *
action_name(enum rm_action a)
{
    switch (a) {
    case RM_ACT_REJECT:
        return "reject";
    case RM_ACT_TEMPFAIL:
        return "tempfail";
    case RM_ACT_DISCARD:
        return "discard";
    case RM_ACT_QUARANTINE:
        return "quarantine";
    default:
        return "accept";
    }
}

/* smtp_reply - what the SMTP client would read, or "-" for a plain 250 */
static char *
smtp_reply(const struct rm_reply *r)
{
    const char *cls;

    if (r->action != RM_ACT_REJECT && r->action != RM_ACT_TEMPFAIL)
        return xstrdup("-");
    cls = r->action == RM_ACT_REJECT ? "5" : "4";
    if (r->rcode[0] == '\0')
        return xasprintf("%sxx (the MTA's default reply)", cls);
    return xasprintf("%s%s%s%s%s", r->rcode, r->xcode[0] ? " " : "", r->xcode,
                     r->text ? " " : "", r->text ? r->text : "");
}

/* finish - the message ended at stage with reply r */
static void
finish(struct rp_result *res, const char *stage, const struct rm_reply *r)
{
    res->stage = xstrdup(stage);
    res->action = xstrdup(action_name(r->action));
    res->reply = smtp_reply(r);
    if (r->action == RM_ACT_QUARANTINE)
        res->quarantine =
            xstrdup(r->quarantine_reason ? r->quarantine_reason : "");
}

static const char *
mod_op(const struct rm_mod *m)
{
    switch (m->kind) {
    case RM_MOD_ADD_HEADER:
        return "add_header";
    case RM_MOD_INSERT_HEADER:
        return "insert_header";
    case RM_MOD_CHANGE_HEADER:
        return m->value ? "change_header" : "delete_header";
    case RM_MOD_ADD_RCPT:
        return "add_rcpt";
    case RM_MOD_DEL_RCPT:
        return "delete_rcpt";
    case RM_MOD_CHANGE_FROM:
        return "change_from";
    default:
        return "replace_body";
    }
}

static void
take_changes(struct rp_result *res, const struct rm_reply *r)
{
    size_t i;

    res->changes = xcalloc(r->n_mods ? r->n_mods : 1, sizeof(*res->changes));
    for (i = 0; i < r->n_mods; i++) {
        struct rp_change *c = &res->changes[i];
        const struct rm_mod *m = &r->mods[i];

        c->op = mod_op(m);
        c->index = m->index;
        c->name = m->name ? xstrdup(m->name) : NULL;
        if (m->kind == RM_MOD_REPLACE_BODY)
            c->value = xasprintf("%zu bytes", m->value_len);
        else if (m->value != NULL)
            c->value = xstrndup(m->value,
                                m->value_len ? m->value_len : strlen(m->value));
    }
    res->n_changes = r->n_mods;
}

/* unbracket - "a@b" of "<a@b>" (a copy) */
static char *
unbracket(const char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
        return xstrndup(s + 1, n - 2);
    return xstrdup(s);
}

static int
family_of(const char *ip)
{
    if (ip == NULL || *ip == '\0')
        return AF_UNSPEC;
    return strchr(ip, ':') ? AF_INET6 : AF_INET;
}

/* rcpts_all - every recipient, refused or not; false if none accepted */
static bool
rcpts_all(struct rm_session *s, const struct rp_env *env, struct rp_result *res,
          struct rm_reply *out, bool *tempfailed, char **last)
{
    bool any = false;
    char *argv[1], *a;
    size_t i;

    res->rcpts = xcalloc(env->n_rcpts ? env->n_rcpts : 1, sizeof(*res->rcpts));
    res->n_rcpts = env->n_rcpts;
    for (i = 0; i < env->n_rcpts; i++) {
        a = unbracket(env->rcpts[i]);
        pipeline_macro(s, 'R', "{rcpt_addr}", a);
        free(a);
        argv[0] = env->rcpts[i];
        reply_clear(out);
        pipeline_rcpt(s, argv, 1, out);
        res->rcpts[i].addr = xstrdup(env->rcpts[i]);
        if (out->action == RM_ACT_REJECT || out->action == RM_ACT_TEMPFAIL) {
            res->rcpts[i].reply = smtp_reply(out);
            *tempfailed |= out->action == RM_ACT_TEMPFAIL;
            free(*last);
            *last = xstrdup(res->rcpts[i].reply);
        } else {
            res->rcpts[i].accepted = true;
            any = true;
        }
    }
    return any;
}

void
rp_run(struct rm_config *cfg, unsigned long id, const struct rp_env *env,
       const struct rp_parsed *p, struct rp_result *res)
{
    struct rm_session *s;
    struct rm_reply out;
    char *argv_from[64], *t, *last = NULL;
    bool tempfailed = false;
    size_t i, argc, off;

    memset(res, 0, sizeof(*res));
    reply_init(&out);
    pipeline_report_hook(on_report, res);
    s = pipeline_session_new(cfg, id);

    pipeline_macro(s, 'C', "j", env->mta);
    t = xasprintf("%s [%s]", env->client_host, env->client_ip);
    pipeline_macro(s, 'C', "_", t);
    free(t);
    pipeline_macro(s, 'C', "{client_addr}", env->client_ip);
    pipeline_macro(s, 'C', "{client_name}", env->client_host);
    for (i = 0; i < env->n_macros; i++)
        pipeline_macro(s, 'C', env->macros[i].name, env->macros[i].value);
    pipeline_connect(s, env->client_host, family_of(env->client_ip), 25,
                     env->client_ip, &out);
    if (ends(&out)) {
        finish(res, "connect", &out);
        goto done;
    }
    reply_clear(&out);
    pipeline_helo(s, env->helo, &out);
    if (ends(&out)) {
        finish(res, "helo", &out);
        goto done;
    }

    if (env->qid != NULL)
        pipeline_macro(s, 'M', "i", env->qid);
    t = unbracket(env->from);
    pipeline_macro(s, 'M', "{mail_addr}", t);
    free(t);
    if (env->auth != NULL)
        pipeline_macro(s, 'M', "{auth_authen}", env->auth);
    argv_from[0] = env->from;
    argc = 1;
    for (i = 0; i < env->n_from_args && argc < 64; i++)
        argv_from[argc++] = env->from_args[i];
    reply_clear(&out);
    pipeline_mail(s, argv_from, argc, &out);
    if (ends(&out)) {
        finish(res, "mail", &out);
        goto done;
    }

    if (!rcpts_all(s, env, res, &out, &tempfailed, &last)) {
        /* no recipient left: Postfix sends no DATA */
        pipeline_abort(s);
        res->stage = xstrdup("rcpt");
        res->action = xstrdup(tempfailed ? "tempfail" : "reject");
        res->reply = last;
        last = NULL;
        goto done;
    }
    if (out.action == RM_ACT_DISCARD) {
        finish(res, "rcpt", &out);
        goto done;
    }

    reply_clear(&out);
    pipeline_data(s, &out);
    if (ends(&out)) {
        finish(res, "data", &out);
        goto done;
    }
    for (i = 0; i < p->n_hdrs; i++) {
        reply_clear(&out);
        pipeline_header_raw(s, p->hdrs[i].name, p->hdrs[i].raw, &out);
        if (ends(&out)) {
            finish(res, "header", &out);
            goto done;
        }
    }
    reply_clear(&out);
    pipeline_eoh(s, &out);
    if (ends(&out)) {
        finish(res, "eoh", &out);
        goto done;
    }
    for (off = 0; off < p->body_len; off += RP_BODY_CHUNK) {
        size_t n = p->body_len - off;

        reply_clear(&out);
        pipeline_body(s, p->body + off, n < RP_BODY_CHUNK ? n : RP_BODY_CHUNK,
                      &out);
        if (ends(&out)) {
            finish(res, "body", &out);
            goto done;
        }
        if (out.action == RM_ACT_SKIP)
            break;
    }
    if (env->qid != NULL)
        pipeline_macro(s, 'E', "i", env->qid);
    reply_clear(&out);
    pipeline_eom(s, &out);
    finish(res, "eom", &out);
    if (out.action != RM_ACT_REJECT && out.action != RM_ACT_TEMPFAIL &&
        out.action != RM_ACT_DISCARD)
        take_changes(res, &out);

done:
    pipeline_session_free(s);
    pipeline_report_hook(NULL, NULL);
    reply_clear(&out);
    free(last);
    if (res->changes == NULL)
        res->changes = xcalloc(1, sizeof(*res->changes));
    if (res->rcpts == NULL)
        res->rcpts = xcalloc(1, sizeof(*res->rcpts));
}

void
rp_result_free(struct rp_result *r)
{
    size_t i;

    free(r->stage);
    free(r->action);
    free(r->reply);
    free(r->quarantine);
    free(r->summary);
    for (i = 0; i < r->n_rcpts; i++) {
        free(r->rcpts[i].addr);
        free(r->rcpts[i].reply);
    }
    free(r->rcpts);
    for (i = 0; i < r->n_checks; i++) {
        free(r->checks[i].name);
        free(r->checks[i].note);
    }
    free(r->checks);
    for (i = 0; i < r->n_changes; i++) {
        free(r->changes[i].name);
        free(r->changes[i].value);
    }
    free(r->changes);
    memset(r, 0, sizeof(*r));
}
