/*
 * NAME
 *   pipeline - run the enabled modules at each milter stage and merge their
 *   verdicts into the replies the engine sends (see pipeline.h, module.h)
 *
 * DESCRIPTION
 *   Per generation (pipeline_generation_init): the enabled modules of the
 *   table in core/modules.c, each initialised, with its on_failure policy
 *   and needs, in a struct rm_gen hung off the config (modules_state).
 *
 *   Per stage: every enabled module with a hook for the stage runs, in table
 *   order, unless the message is already decided or a sender class / the
 *   size gate skips it. Merge rules:
 *   - the first RM_FINAL verdict of a message wins; later checks don't run;
 *   - at RCPT a reject or tempfail refuses only that recipient, which is not
 *     added to the message; the transaction goes on;
 *   - reject, tempfail and discard before EOM are answered at once (the
 *     summary line is written then); accept and quarantine are held until
 *     EOM, so the summary and the header edits still happen;
 *   - header edits accumulate over modules and stages and are sent at EOM
 *     unless the message ends rejected, tempfailed or discarded;
 *   - RM_ERROR applies the module's policy: tempfail (451 4.7.1, a text
 *     naming no internals), accept (as is, no further checks), continue
 *     (the module's opinion, edits included, is dropped);
 *   - connect and helo decisions: reject/tempfail answer that command;
 *     accept, discard and quarantine hold for every message of the
 *     connection.
 *   Internal errors (no initialised generation, a spool write failing) are
 *   never silent: a broken spool counts as a failure of every module that
 *   reads it (so their policies decide, tempfail by default), anything else
 *   tempfails the message.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The generation state is built once and read-only afterwards; it is
 *   freed by cfg_unref through modules_state_free when the last session of
 *   the generation is gone. A session belongs to one thread at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core_int.h"
#include "core/metrics.h"
#include "core/pipeline.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/batch.h"
#include "net/io.h"

#define RM_TEMPFAIL_TEXT "Temporary service failure, try again later"

static const char *const stage_names[RM_STAGE_COUNT] = {
    "connect", "helo", "mail", "rcpt", "data",
    "header",  "eoh",  "body", "eom",  "unknown",
};

static const char *const policy_names[] = {"tempfail", "accept", "continue"};

/* ------------------------------------------------------------------------ */
/* generations                                                              */
/* ------------------------------------------------------------------------ */

/* gen_free - fini every initialised module, free the state */
static void
gen_free(void *p)
{
    struct rm_gen *g = p;
    size_t i;

    if (g == NULL)
        return;
    for (i = 0; i < g->n; i++)
        if (g->v[i].mod->fini != NULL)
            g->v[i].mod->fini(g->v[i].mconf);
    free(g->v);
    free(g);
}

/* module_needs - what a module needs; narrowed by needs() once it has its
 * per-generation state */
static void
module_needs(const struct rm_module *mod, const void *mconf, bool inited,
             uint32_t *stages, uint32_t *actions)
{
    uint32_t st = mod->stages, ac = mod->actions;

    if (inited && mod->needs != NULL) {
        mod->needs(mconf, &st, &ac);
        st &= mod->stages;
        ac &= mod->actions;
    }
    *stages = st;
    *actions = ac;
}

static uint32_t
stages_final(uint32_t stages)
{
    if (stages & RM_NEED_SPOOL)
        stages |= RM_SPOOL_STAGES;
    return (stages | RM_CORE_STAGES) & ~RM_NEED_SPOOL;
}

int
pipeline_generation_init(struct rm_config *cfg, struct rm_diag *diag)
{
    const struct rm_module *const *table;
    struct rm_gen *g;
    struct rm_modrt *rt;
    size_t n, i;
    int pol;

    if (cfg->modules_state != NULL)
        return 0;
    table = core__modules(&n);
    g = xcalloc(1, sizeof(*g));
    g->v = xcalloc(n ? n : 1, sizeof(*g->v));
    for (i = 0; i < n; i++) {
        const struct rm_module *mod = table[i];

        if (mod->enabled != NULL && !mod->enabled(cfg))
            continue;
        rt = &g->v[g->n];
        rt->mod = mod;
        if (mod->init != NULL && mod->init(cfg, &rt->mconf, diag) < 0) {
            if (diag != NULL && diag->n_errors == 0)
                module_diag(diag, "%s: error: module %s failed to start",
                            cfg->path ? cfg->path : "config", mod->name);
            goto fail;
        }
        g->n++;
        module_needs(mod, rt->mconf, true, &rt->stages, &rt->actions);
        pol = mod->on_failure ? (int)mod->on_failure(cfg)
                              : (int)RM_ON_FAILURE_TEMPFAIL;
        if (pol < RM_ON_FAILURE_TEMPFAIL || pol > RM_ON_FAILURE_CONTINUE)
            pol = RM_ON_FAILURE_TEMPFAIL;
        rt->policy = (enum rm_on_failure)pol;
        g->stages |= rt->stages;
        g->actions |= rt->actions;
        if (rt->stages & RM_NEED_SPOOL)
            g->spool = true;
        if (mod->flags & RM_MOD_CONTENT)
            g->content = true;
    }
    g->stages = stages_final(g->stages);
    cfg->modules_state = g;
    cfg->modules_state_free = gen_free;
    return 0;

fail:
    gen_free(g);
    return -1;
}

void
pipeline_needs(const struct rm_config *cfg, uint32_t *stages, uint32_t *actions)
{
    const struct rm_gen *g = cfg->modules_state;
    const struct rm_module *const *table;
    uint32_t st = 0, ac = 0, s1, a1;
    size_t n, i;

    if (g != NULL) {
        *stages = g->stages;
        *actions = g->actions;
        return;
    }
    table = core__modules(&n);
    for (i = 0; i < n; i++) {
        if (table[i]->enabled != NULL && !table[i]->enabled(cfg))
            continue;
        module_needs(table[i], NULL, false, &s1, &a1);
        st |= s1;
        ac |= a1;
    }
    *stages = stages_final(st);
    *actions = ac;
}

static bool has_hook(const struct rm_module *mod, enum rm_stage st);

uint32_t
pipeline_reply_stages(const struct rm_config *cfg)
{
    const struct rm_gen *g = cfg->modules_state;
    uint32_t r = RM_STAGE_BIT(RM_STAGE_EOM), hooked, said;
    size_t i;
    int st;

    /* Without module state every command fails (fail_internal), and each
     * such failure is best answered where it happens. */
    if (g == NULL)
        return (1u << RM_STAGE_COUNT) - 1;
    for (i = 0; i < g->n; i++) {
        const struct rm_modrt *rt = &g->v[i];

        hooked = 0;
        for (st = 0; st < RM_STAGE_COUNT; st++)
            if (has_hook(rt->mod, (enum rm_stage)st) &&
                (rt->stages & RM_STAGE_BIT(st)))
                hooked |= RM_STAGE_BIT(st);
        said = rt->mod->reply_stages ? rt->mod->reply_stages : hooked;
        r |= hooked & said;
    }
    /* A connect or helo decision that holds for the connection (discard)
     * is answered at each MAIL (txn_begin, stage_reply). */
    if (r & (RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_HELO)))
        r |= RM_STAGE_BIT(RM_STAGE_MAIL);
    return r;
}

/* ------------------------------------------------------------------------ */
/* replies                                                                  */
/* ------------------------------------------------------------------------ */

/* reply_copy - dst = src's action, codes, texts (not the changes) */
static void
reply_copy(struct rm_reply *dst, const struct rm_reply *src)
{
    reply_set(dst, src->action, src->rcode, src->xcode, src->text);
    free(dst->quarantine_reason);
    dst->quarantine_reason =
        src->quarantine_reason ? xstrdup(src->quarantine_reason) : NULL;
}

/* mods_take - move every change of src to the end of dst */
static void
mods_take(struct rm_reply *dst, struct rm_reply *src)
{
    if (src->n_mods == 0)
        return;
    dst->mods =
        xrealloc(dst->mods, (dst->n_mods + src->n_mods) * sizeof(*dst->mods));
    memcpy(dst->mods + dst->n_mods, src->mods,
           src->n_mods * sizeof(*src->mods));
    dst->n_mods += src->n_mods;
    free(src->mods);
    src->mods = NULL;
    src->n_mods = 0;
}

/* mods_copy - append copies of src's changes to dst */
static void
mods_copy(struct rm_reply *dst, const struct rm_reply *src)
{
    size_t i;

    for (i = 0; i < src->n_mods; i++)
        reply_add_mod(dst, src->mods[i].kind, src->mods[i].index,
                      src->mods[i].name, src->mods[i].value,
                      src->mods[i].value_len);
}

static void
reply_tempfail(struct rm_reply *r)
{
    reply_set(r, RM_ACT_TEMPFAIL, "451", "4.7.1", RM_TEMPFAIL_TEXT);
}

/* verdict_check - is a final verdict usable? Fills in default codes for a
 * reject or tempfail with a text but no code. */
static bool
verdict_check(struct rm_reply *r)
{
    char cls;

    switch (r->action) {
    case RM_ACT_ACCEPT:
    case RM_ACT_DISCARD:
        return true;
    case RM_ACT_QUARANTINE:
        if (r->quarantine_reason == NULL)
            r->quarantine_reason = xstrdup("quarantined");
        return true;
    case RM_ACT_REJECT:
    case RM_ACT_TEMPFAIL:
        cls = r->action == RM_ACT_REJECT ? '5' : '4';
        if (r->rcode[0] == '\0' && r->text != NULL) {
            memcpy(r->rcode, cls == '5' ? "550" : "451", 4);
            memcpy(r->xcode, cls == '5' ? "5.7.1" : "4.7.1", 6);
        }
        if (r->rcode[0] != '\0' &&
            (r->rcode[0] != cls || strlen(r->rcode) != 3))
            return false;
        if (r->xcode[0] != '\0' && r->xcode[0] != cls)
            return false;
        return true;
    default:
        return false;
    }
}

/* action_text - how an action reads in the logs */
static char *
action_text(const struct rm_reply *r)
{
    const char *what;

    switch (r->action) {
    case RM_ACT_REJECT:
        what = "reject";
        break;
    case RM_ACT_TEMPFAIL:
        what = "tempfail";
        break;
    case RM_ACT_DISCARD:
        return xstrdup("discard");
    case RM_ACT_QUARANTINE:
        return xasprintf("quarantine (%s)",
                         r->quarantine_reason ? r->quarantine_reason : "");
    default:
        return xstrdup("accept");
    }
    return xasprintf("%s%s%s%s%s%s%s", what, r->rcode[0] ? " " : "", r->rcode,
                     r->xcode[0] ? " " : "", r->xcode, r->text ? " " : "",
                     r->text ? r->text : "");
}

static const char *
action_word(enum rm_action a)
{
    switch (a) {
    case RM_ACT_ACCEPT:
        return "accept";
    case RM_ACT_REJECT:
        return "reject";
    case RM_ACT_TEMPFAIL:
        return "tempfail";
    case RM_ACT_DISCARD:
        return "discard";
    case RM_ACT_QUARANTINE:
        return "quarantine";
    default:
        return "continue";
    }
}

static bool
ends_message(enum rm_action a)
{
    return a == RM_ACT_REJECT || a == RM_ACT_TEMPFAIL || a == RM_ACT_DISCARD;
}

/* ------------------------------------------------------------------------ */
/* transactions                                                             */
/* ------------------------------------------------------------------------ */

static void
free_mstates(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;
    size_t i;

    for (i = 0; s->gen != NULL && i < s->gen->n; i++) {
        if (m->mstate[i] != NULL && s->gen->v[i].mod->msg_free != NULL)
            s->gen->v[i].mod->msg_free(m->mstate[i]);
        m->mstate[i] = NULL;
    }
}

/* txn_end - close the transaction: on_abort hooks if it did not reach EOM,
 * the summary line if not yet written, module state, then every field */
static void
txn_end(struct rm_session *s, bool aborted, const char *action)
{
    struct rm_msg *m = &s->msg;
    size_t i;

    if (!m->active) {
        free_mstates(s);
        core__macros_drop_txn(s);
        return;
    }
    for (i = 0; aborted && s->gen != NULL && i < s->gen->n; i++) {
        if (s->gen->v[i].mod->on_abort != NULL) {
            m->cur_module = i;
            s->gen->v[i].mod->on_abort(m, s->gen->v[i].mconf);
        }
    }
    core__summary(s, action);
    free_mstates(s);
    core__txn_clear(s);
    s->n_msgs++;
    core__new_tag(m);
}

/* txn_begin - open a transaction (at MAIL, or implicitly if the MTA sends
 * a message command without one) */
static void
txn_begin(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;

    if (m->active)
        txn_end(s, true, "aborted");
    /* Anything a module noted at connect/helo stays visible in the first
     * message's summary; module state from before MAIL is dropped. */
    free_mstates(s);
    m->active = true;
    m->t_start = core__now_us();
    mods_copy(&m->edits, &s->conn_final);
    if (s->conn_decided) {
        reply_copy(&m->final, &s->conn_final);
        m->decided = true;
    }
}

static void
txn_ensure(struct rm_session *s)
{
    if (!s->msg.active) {
        txn_begin(s);
        s->msg.from = xstrdup("");
        s->msg.from_raw = xstrdup("");
        core__sender_class(s);
    }
}

/* fail_internal - an error of the pipeline itself: tempfail, logged */
static int
fail_internal(struct rm_session *s, struct rm_reply *out, const char *why)
{
    struct rm_msg *m = &s->msg;
    char *act;

    msg_err("%s: internal error: %s; answering tempfail", m->tag, why);
    reply_clear(out);
    reply_tempfail(out);
    if (m->active) {
        reply_clear(&m->final);
        reply_tempfail(&m->final);
        m->decided = true;
        act = action_text(&m->final);
        core__summary(s, act);
        free(act);
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* running the modules                                                      */
/* ------------------------------------------------------------------------ */

struct stage_args {
    const char *name, *value; /* header */
    const char *chunk;        /* body */
    size_t len;
    const char *cmd; /* unknown */
};

static rm_hook_fn
plain_hook(const struct rm_module *mod, enum rm_stage st)
{
    switch (st) {
    case RM_STAGE_CONNECT:
        return mod->on_connect;
    case RM_STAGE_HELO:
        return mod->on_helo;
    case RM_STAGE_MAIL:
        return mod->on_mail;
    case RM_STAGE_RCPT:
        return mod->on_rcpt;
    case RM_STAGE_DATA:
        return mod->on_data;
    case RM_STAGE_EOH:
        return mod->on_eoh;
    case RM_STAGE_EOM:
        return mod->on_eom;
    default:
        return NULL;
    }
}

static bool
has_hook(const struct rm_module *mod, enum rm_stage st)
{
    switch (st) {
    case RM_STAGE_EOM:
        return mod->on_eom != NULL || mod->eom_start != NULL;
    case RM_STAGE_HEADER:
        return mod->on_header != NULL;
    case RM_STAGE_BODY:
        return mod->on_body != NULL;
    case RM_STAGE_UNKNOWN:
        return mod->on_unknown != NULL;
    default:
        return plain_hook(mod, st) != NULL;
    }
}

static enum rm_status
call_hook(const struct rm_modrt *rt, enum rm_stage st, struct rm_msg *m,
          const struct stage_args *a, struct rm_verdict *v)
{
    switch (st) {
    case RM_STAGE_HEADER:
        return rt->mod->on_header(m, rt->mconf, a->name, a->value, v);
    case RM_STAGE_BODY:
        return rt->mod->on_body(m, rt->mconf, a->chunk, a->len, v);
    case RM_STAGE_UNKNOWN:
        return rt->mod->on_unknown(m, rt->mconf, a->cmd, v);
    default:
        return plain_hook(rt->mod, st)(m, rt->mconf, v);
    }
}

/* skip_reason - why a sender class or the size gate keeps a module out */
static const char *
skip_reason(const struct rm_msg *m, const struct rm_modrt *rt, enum rm_stage st)
{
    uint32_t f = rt->mod->flags;

    if (!m->active)
        return NULL;
    if ((f & RM_MOD_SKIP_AUTH) && m->authenticated)
        return "skipped(authenticated)";
    if ((f & RM_MOD_SKIP_EXEMPT) && m->exempt)
        return "skipped(authenticated)";
    if ((f & RM_MOD_SKIP_WHITELISTED) && m->all_whitelisted &&
        st >= RM_STAGE_DATA && st <= RM_STAGE_EOM)
        return "skipped(whitelisted)";
    if ((f & RM_MOD_CONTENT) && m->oversized && st == RM_STAGE_EOM)
        return "skipped(oversized)";
    return NULL;
}

static void
set_note(struct rm_check *c, char *note, bool replace)
{
    if (c->note != NULL && !replace) {
        free(note);
        return;
    }
    free(c->note);
    c->note = note;
}

/* The result of one stage for the caller. */
struct stage_res {
    bool refused;          /* RCPT: this recipient only */
    struct rm_reply *rcpt; /* RCPT: the reply for the recipient */
    bool command_reply;    /* connect/helo/unknown: answer this command */
    struct rm_reply cmd;   /* ...with this */
};

/* decide - a final verdict for the message (or, before MAIL, for the
 * connection or the command) */
static void
decide(struct rm_session *s, enum rm_stage st, const struct rm_reply *r,
       struct stage_res *res)
{
    struct rm_msg *m = &s->msg;

    if (st == RM_STAGE_CONNECT || st == RM_STAGE_HELO ||
        (st == RM_STAGE_UNKNOWN && !m->active)) {
        if (ends_message(r->action) && r->action != RM_ACT_DISCARD) {
            res->command_reply = true;
            reply_copy(&res->cmd, r);
        } else if (st != RM_STAGE_UNKNOWN) {
            reply_copy(&s->conn_final, r);
            s->conn_decided = true;
        }
        return;
    }
    reply_copy(&m->final, r);
    m->decided = true;
}

static void
apply_failure(struct rm_session *s, const struct rm_modrt *rt, enum rm_stage st,
              struct stage_res *res)
{
    struct rm_reply r;

    reply_init(&r);
    switch (rt->policy) {
    case RM_ON_FAILURE_CONTINUE:
        break;
    case RM_ON_FAILURE_ACCEPT:
        r.action = RM_ACT_ACCEPT;
        decide(s, st, &r, res);
        break;
    default:
        reply_tempfail(&r);
        if (st == RM_STAGE_RCPT) {
            reply_copy(res->rcpt, &r);
            res->refused = true;
        } else {
            decide(s, st, &r, res);
        }
        break;
    }
    reply_clear(&r);
}

/* merge - fold module i's answer at stage st into the message; true if
 * the stage must stop here. Consumes v. */
static bool
merge(struct rm_session *s, size_t i, enum rm_stage st, enum rm_status status,
      struct rm_verdict *vp, struct stage_res *res)
{
    struct rm_msg *m = &s->msg;
    const struct rm_modrt *rt = &s->gen->v[i];
    struct rm_check *c = &m->checks[i];
    struct rm_verdict v = *vp;
    char *act;
    bool stop = false;

    c->ran = true;
    if (status == RM_PENDING) {
        msg_err("%s: %s: RM_PENDING outside the parallel EOM phase at %s; "
                "treated as a failure",
                m->tag, rt->mod->name, stage_names[st]);
        status = RM_ERROR;
    }
    if (status == RM_FINAL && !verdict_check(&v.r)) {
        msg_err("%s: %s: invalid verdict (action %d, code '%s') at %s; "
                "treated as a failure",
                m->tag, rt->mod->name, (int)v.r.action, v.r.rcode,
                stage_names[st]);
        status = RM_ERROR;
    }

    switch (status) {
    case RM_CONTINUE:
        set_note(c, v.note ? v.note : xstrdup("pass"), v.note != NULL);
        v.note = NULL;
        if (m->active)
            mods_take(&m->edits, &v.r);
        else
            mods_take(&s->conn_final, &v.r);
        break;
    case RM_DECLINED:
        set_note(c, v.note ? v.note : xstrdup("skipped"), v.note != NULL);
        v.note = NULL;
        break;
    case RM_FINAL:
        set_note(c, v.note ? v.note : xstrdup(action_word(v.r.action)), true);
        v.note = NULL;
        act = action_text(&v.r);
        if (st == RM_STAGE_RCPT &&
            (v.r.action == RM_ACT_REJECT || v.r.action == RM_ACT_TEMPFAIL)) {
            msg_info("%s: %s: recipient %s refused: %s", m->tag, rt->mod->name,
                     m->rcpt_cur ? m->rcpt_cur->raw : "?", act);
            reply_copy(res->rcpt, &v.r);
            res->refused = true;
        } else {
            msg_info("%s: %s: %s at %s", m->tag, rt->mod->name, act,
                     stage_names[st]);
            if (m->active)
                mods_take(&m->edits, &v.r);
            else
                mods_take(&s->conn_final, &v.r);
            decide(s, st, &v.r, res);
        }
        free(act);
        stop = true;
        break;
    default: /* RM_ERROR */
        set_note(c,
                 xasprintf("%s -> %s", v.note ? v.note : "error",
                           policy_names[rt->policy]),
                 true);
        msg_warn("%s: %s: failed at %s%s%s; on_failure = %s", m->tag,
                 rt->mod->name, stage_names[st], v.note ? ": " : "",
                 v.note ? v.note : "", policy_names[rt->policy]);
        apply_failure(s, rt, st, res);
        stop = rt->policy != RM_ON_FAILURE_CONTINUE;
        break;
    }
    free(v.note);
    reply_clear(&v.r);
    return stop;
}

/* run_one - one module at one stage; true if the stage must stop here */
static bool
run_one(struct rm_session *s, size_t i, enum rm_stage st,
        const struct stage_args *a, struct stage_res *res)
{
    struct rm_msg *m = &s->msg;
    const struct rm_modrt *rt = &s->gen->v[i];
    struct rm_check *c = &m->checks[i];
    struct rm_verdict v;
    enum rm_status status;
    uint64_t t0;

    reply_init(&v.r);
    v.note = NULL;
    m->cur_module = i;
    if (st == RM_STAGE_EOM && m->spool_failed && (rt->stages & RM_NEED_SPOOL)) {
        status = RM_ERROR;
        verdict_note(&v, "spool error");
    } else {
        t0 = core__now_us();
        status = call_hook(rt, st, m, a, &v);
        c->usec += core__now_us() - t0;
        c->called = true;
    }
    return merge(s, i, st, status, &v, res);
}

/* ------------------------------------------------------------------------ */
/* the parallel EOM phase (module.h, THE PARALLEL EOM PHASE)                */
/* ------------------------------------------------------------------------ */

struct rm_eom_batch {
    struct rm_batch_ex ex[RM_EOM_EXCHANGES];
    size_t n;
};

/* One member of a phase. */
struct phase_mod {
    size_t idx;           /* in the generation */
    enum rm_status st;    /* start's answer; RM_PENDING until finished */
    struct rm_verdict v;  /* an immediate answer, kept until its turn */
    size_t ex0, nex;      /* its exchanges in the batch */
    bool started, merged; /* merged: folded into the message */
};

struct rm_batch_ex *
eom_batch_add(struct rm_eom_batch *b)
{
    struct rm_batch_ex *ex;

    if (b == NULL || b->n >= RM_EOM_EXCHANGES)
        return NULL;
    ex = &b->ex[b->n++];
    memset(ex, 0, sizeof(*ex));
    return ex;
}

bool
msg_decided(const struct rm_msg *m)
{
    return m->decided;
}

struct phase_log {
    const struct rm_msg *m;
    uint64_t t0;
};

/* phase_event - batch_run's observer: one debug line per event, so the
 * order in which the backends were talked to can be read from the log */
static void
phase_event(void *ud, size_t idx, const struct rm_batch_ex *ex,
            enum rm_batch_event ev, uint64_t now_ms)
{
    const struct phase_log *pl = ud;

    (void)idx;
    msg_debug("%s: eom: %s %s %s +%llums%s%s", pl->m->tag,
              ex->ex_name ? ex->ex_name : "?", batch_event_name(ev),
              ex->ex_res.br_server ? ex->ex_res.br_server : "-",
              (unsigned long long)(now_ms - pl->t0),
              ev == RM_BATCH_EV_FAILED ? ": " : "",
              ev == RM_BATCH_EV_FAILED ? batch_status_name(ex->ex_res.br_status)
                                       : "");
}

/* phase_is_member - does module rt take part in a phase at EOM? */
static bool
phase_is_member(const struct rm_modrt *rt)
{
    return rt->mod->eom_start != NULL &&
           (rt->stages & RM_STAGE_BIT(RM_STAGE_EOM));
}

/* phase_span_us - from the first exchange's start to the last one's end */
static uint64_t
phase_span_us(const struct rm_eom_batch *b, size_t ex0, size_t nex)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t k;

    for (k = ex0; k < ex0 + nex; k++) {
        const struct rm_batch_result *r = &b->ex[k].ex_res;

        if (r->br_start_ms == 0)
            continue;
        if (r->br_start_ms < lo)
            lo = r->br_start_ms;
        if (r->br_end_ms > hi)
            hi = r->br_end_ms;
    }
    return hi > lo ? (hi - lo) * 1000u : 0;
}

/* phase_merge - fold member pm into the message in its turn; true if the
 * message is now decided (later verdicts are ignored) */
static bool
phase_merge(struct rm_session *s, struct phase_mod *pm, struct stage_res *res)
{
    struct rm_msg *m = &s->msg;
    bool stop;

    pm->merged = true;
    if (m->decided) {
        /* Only the outcome, for the summary line. */
        if (pm->v.note != NULL)
            set_note(&m->checks[pm->idx], pm->v.note, true);
        m->checks[pm->idx].ran = true;
        pm->v.note = NULL;
        reply_clear(&pm->v.r);
        return true;
    }
    stop = merge(s, pm->idx, RM_STAGE_EOM, pm->st, &pm->v, res);
    pm->v.note = NULL;
    reply_init(&pm->v.r);
    return stop || m->decided;
}

/*
 * eom_phase - run the phase that begins with module first; *last is set
 * to the last module it covered. True if the EOM stage must stop.
 */
static bool
eom_phase(struct rm_session *s, size_t first, size_t *last,
          struct stage_res *res)
{
    struct rm_msg *m = &s->msg;
    struct rm_eom_batch *b;
    struct phase_mod pms[RM_EOM_EXCHANGES];
    struct phase_log pl;
    size_t n = 0, j, k;
    bool pending = false, stop = false;
    uint64_t t0, deadline = 0, now;
    const char *why;

    /* The members: a run of eom_start modules (ignoring modules with no
     * EOM hook at all), ended by the first plain on_eom module. */
    for (j = first; j < s->gen->n && n < RM_EOM_EXCHANGES; j++) {
        const struct rm_modrt *rt = &s->gen->v[j];

        if (phase_is_member(rt)) {
            memset(&pms[n], 0, sizeof(pms[n]));
            pms[n].idx = j;
            reply_init(&pms[n].v.r);
            n++;
            *last = j;
        } else if (has_hook(rt->mod, RM_STAGE_EOM) &&
                   (rt->stages & RM_STAGE_BIT(RM_STAGE_EOM))) {
            break;
        }
    }

    b = xcalloc(1, sizeof(*b));
    pl.m = m;
    pl.t0 = io_now_ms();

    /* 1. start */
    for (k = 0; k < n && !stop; k++) {
        struct phase_mod *pm = &pms[k];
        const struct rm_modrt *rt = &s->gen->v[pm->idx];
        struct rm_check *c = &m->checks[pm->idx];

        why = skip_reason(m, rt, RM_STAGE_EOM);
        if (why != NULL) {
            c->ran = true;
            set_note(c, xstrdup(why), true);
            pm->merged = true;
            continue;
        }
        pm->started = true;
        m->cur_module = pm->idx;
        pm->ex0 = b->n;
        if (m->spool_failed && (rt->stages & RM_NEED_SPOOL)) {
            pm->st = RM_ERROR;
            verdict_note(&pm->v, "spool error");
        } else {
            t0 = core__now_us();
            pm->st = rt->mod->eom_start(m, rt->mconf, b, &pm->v);
            c->usec += core__now_us() - t0;
            c->called = true;
        }
        if (pm->st == RM_PENDING) {
            pm->nex = b->n - pm->ex0;
            pending = true;
            continue;
        }
        b->n = pm->ex0; /* exchanges of a module that did not wait */
        if (!pending)
            stop = phase_merge(s, pm, res);
    }

    /* 2. run */
    if (b->n > 0) {
        now = io_now_ms();
        for (k = 0; k < b->n; k++) {
            uint64_t d = b->ex[k].ex_deadline_ms;

            if (d == 0)
                d = b->ex[k].ex_deadline_ms = now + RM_EOM_TIMEOUT_MS;
            if (d > deadline)
                deadline = d;
        }
        (void)batch_run(b->ex, b->n, deadline, phase_event, &pl);
        for (k = 0; k < b->n; k++) {
            const struct rm_batch_result *r = &b->ex[k].ex_res;

            if (r->br_server != NULL && r->br_start_ms != 0)
                metrics_backend(b->ex[k].ex_name ? b->ex[k].ex_name : "?",
                                r->br_server,
                                (r->br_end_ms - r->br_start_ms) * 1000u,
                                r->br_status == RM_BATCH_OK);
        }
        msg_debug("%s: eom: %zu exchange%s in %llums", m->tag, b->n,
                  b->n == 1 ? "" : "s",
                  (unsigned long long)(io_now_ms() - pl.t0));
    }

    /* 3. finish, and merge in table order */
    for (k = 0; k < n; k++) {
        struct phase_mod *pm = &pms[k];
        const struct rm_modrt *rt = &s->gen->v[pm->idx];
        struct rm_check *c = &m->checks[pm->idx];

        if (pm->merged || !pm->started)
            continue;
        if (pm->st == RM_PENDING) {
            m->cur_module = pm->idx;
            t0 = core__now_us();
            pm->st = rt->mod->eom_finish != NULL
                         ? rt->mod->eom_finish(m, rt->mconf, &pm->v)
                         : RM_CONTINUE;
            c->usec += core__now_us() - t0 + phase_span_us(b, pm->ex0, pm->nex);
            if (pm->st == RM_PENDING) {
                msg_err("%s: %s: eom_finish answered RM_PENDING; treated as "
                        "a failure",
                        m->tag, rt->mod->name);
                pm->st = RM_ERROR;
            }
        }
        if (phase_merge(s, pm, res))
            stop = true;
    }
    for (k = 0; k < n; k++) {
        free(pms[k].v.note);
        reply_clear(&pms[k].v.r);
    }
    free(b);
    m->cur_module = 0;
    return stop;
}

/* run_stage - every module that hooks st, in order, until one decides */
static void
run_stage(struct rm_session *s, enum rm_stage st, const struct stage_args *a,
          struct stage_res *res)
{
    struct rm_msg *m = &s->msg;
    const struct rm_modrt *rt;
    const char *why;
    size_t i;

    for (i = 0; i < s->gen->n; i++) {
        if (m->decided || (!m->active && s->conn_decided))
            break;
        rt = &s->gen->v[i];
        if (!has_hook(rt->mod, st) || !(rt->stages & RM_STAGE_BIT(st)))
            continue;
        if (st == RM_STAGE_EOM && phase_is_member(rt)) {
            if (eom_phase(s, i, &i, res))
                break;
            continue;
        }
        why = skip_reason(m, rt, st);
        if (why != NULL) {
            m->checks[i].ran = true;
            set_note(&m->checks[i], xstrdup(why), true);
            continue;
        }
        if (run_one(s, i, st, a, res))
            break;
    }
    m->cur_module = 0;
}

/* stage_reply - the answer to a message stage before EOM */
static void
stage_reply(struct rm_session *s, struct rm_reply *out)
{
    struct rm_msg *m = &s->msg;
    char *act;

    if (m->decided && ends_message(m->final.action)) {
        reply_copy(out, &m->final);
        act = action_text(&m->final);
        core__summary(s, act);
        free(act);
    }
}

/* ------------------------------------------------------------------------ */
/* the spool                                                                */
/* ------------------------------------------------------------------------ */

static void
spool_fail(struct rm_session *s, const char *what)
{
    struct rm_msg *m = &s->msg;

    msg_err("%s: spool: %s: %s; the checks that read the message fail", m->tag,
            what, strerror(errno));
    spool_close(m->spool);
    m->spool = NULL;
    m->spool_failed = true;
}

/* rfc5322_date - "Tue, 3 Jun 2025 10:00:00 +0200", locale-free */
static void
rfc5322_date(char *buf, size_t len)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed",
                                   "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    long off;

    localtime_r(&now, &tm);
    off = tm.tm_gmtoff / 60;
    snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
             off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* spool_begin - open the spool and write the trace prologue */
static void
spool_begin(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;
    const struct rm_cfg_global *gc = &s->cfg->global;
    char date[64], *helo, *host, *from, *by, *qid, *pro;
    const char *j = msg_macro(m, "j");
    int rc;

    if (m->spool != NULL || m->spool_failed || !s->gen->spool)
        return;
    m->spool = spool_open(gc->tempdir, gc->tempfiles_mode, gc->spool_memory);
    rfc5322_date(date, sizeof(date));
    helo = core__safe(s->helo && *s->helo ? s->helo : msg_client_host(m), 255);
    host = core__safe(msg_client_host(m), 255);
    from = core__safe(m->from ? m->from : "", 512);
    by = core__safe(j && *j ? j : "localhost", 255);
    qid = core__safe(msg_qid(m), 64);
    pro = xasprintf("Return-Path: <%s>\r\n"
                    "Received: from %s (%s [%s])\r\n"
                    "\tby %s (rmilter) with ESMTP id %s;\r\n"
                    "\t%s\r\n",
                    from, helo, host, msg_client_ip(m), by, qid, date);
    rc = spool_write(m->spool, pro, strlen(pro));
    free(pro);
    free(helo);
    free(host);
    free(from);
    free(by);
    free(qid);
    if (rc < 0) {
        spool_fail(s, "cannot write the message");
        return;
    }
    spool_mark(m->spool, RM_SPOOL_MESSAGE);
}

/* spool_put - write to the spool if there is one */
static void
spool_put(struct rm_session *s, const char *p, size_t len)
{
    if (s->msg.spool != NULL && spool_write(s->msg.spool, p, len) < 0)
        spool_fail(s, "cannot write the message");
}

/* header_line - "Name:" raw "\r\n" with every line end made CRLF (raw is
 * what follows the colon, struct rm_header) */
static char *
header_line(const char *name, const char *value, size_t *len)
{
    size_t nl = strlen(name), vl = strlen(value), i, o = 0;
    char *buf = xmalloc(nl + 2 * vl + 5);

    memcpy(buf, name, nl);
    o = nl;
    buf[o++] = ':';
    for (i = 0; i < vl; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
            buf[o++] = '\r';
        buf[o++] = value[i];
    }
    buf[o++] = '\r';
    buf[o++] = '\n';
    buf[o] = '\0';
    *len = o;
    return buf;
}

/* end_of_headers - the empty line between headers and body (once) */
static void
end_of_headers(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;

    if (m->eoh_seen)
        return;
    m->eoh_seen = true;
    m->size += 2;
    if (m->decided)
        return;
    spool_begin(s);
    spool_put(s, "\r\n", 2);
    if (m->spool != NULL)
        spool_mark(m->spool, RM_SPOOL_BODY);
}

/* ------------------------------------------------------------------------ */
/* sessions                                                                 */
/* ------------------------------------------------------------------------ */

struct rm_session *
pipeline_session_new(struct rm_config *cfg, unsigned long conn_id)
{
    struct rm_session *s = xcalloc(1, sizeof(*s));
    size_t n;

    s->id = conn_id;
    s->cfg = cfg_ref(cfg);
    metrics_session_open();
    s->gen = cfg->modules_state;
    if (s->gen == NULL)
        msg_err("session %lu: the config generation was not initialised "
                "(pipeline_generation_init); every message is tempfailed",
                conn_id);
    n = s->gen ? s->gen->n : 0;
    s->msg.sess = s;
    s->msg.checks = xcalloc(n ? n : 1, sizeof(*s->msg.checks));
    s->msg.mstate = xcalloc(n ? n : 1, sizeof(*s->msg.mstate));
    reply_init(&s->msg.final);
    reply_init(&s->msg.edits);
    reply_init(&s->conn_final);
    core__new_tag(&s->msg);
    return s;
}

void
pipeline_reset(struct rm_session *s)
{
    txn_end(s, true, "aborted");
    core__conn_clear(s);
    core__txn_clear(s);
    s->n_msgs = 0;
}

void
pipeline_session_free(struct rm_session *s)
{
    if (s == NULL)
        return;
    pipeline_reset(s);
    free(s->macros);
    free(s->msg.checks);
    free(s->msg.mstate);
    cfg_unref(s->cfg);
    free(s);
    metrics_session_close();
}

void
pipeline_macro(struct rm_session *s, char cmd, const char *name,
               const char *value)
{
    if (name == NULL)
        return;
    /* MAIL macros open a new transaction: whatever was left of the last
     * one (no ABORT came) must not leak into it. */
    if (cmd == 'M' && s->msg.active)
        txn_end(s, true, "aborted");
    core__macro_set(s, cmd, name, value);
}

/* command_stage - connect, helo, unknown: no message decision */
static int
command_stage(struct rm_session *s, enum rm_stage st,
              const struct stage_args *a, struct rm_reply *out)
{
    struct stage_res res = {0};

    reply_init(&res.cmd);
    run_stage(s, st, a, &res);
    if (s->msg.active && st == RM_STAGE_UNKNOWN)
        stage_reply(s, out);
    if (res.command_reply)
        reply_copy(out, &res.cmd);
    reply_clear(&res.cmd);
    return 0;
}

int
pipeline_connect(struct rm_session *s, const char *hostname, int family,
                 uint16_t port, const char *addr, struct rm_reply *out)
{
    static const struct stage_args none;

    txn_end(s, true, "aborted");
    core__conn_set(s, hostname, family, port, addr);
    msg_debug("%s: connect from %s[%s]:%u", s->msg.tag, s->hostname,
              s->addr_text, (unsigned)port);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    return command_stage(s, RM_STAGE_CONNECT, &none, out);
}

int
pipeline_helo(struct rm_session *s, const char *helo, struct rm_reply *out)
{
    static const struct stage_args none;

    free(s->helo);
    s->helo = xstrdup(helo ? helo : "");
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    return command_stage(s, RM_STAGE_HELO, &none, out);
}

int
pipeline_mail(struct rm_session *s, char **argv, size_t argc,
              struct rm_reply *out)
{
    static const struct stage_args none;
    struct rm_msg *m = &s->msg;
    struct stage_res res = {0};
    size_t i;

    txn_begin(s);
    m->from_raw = xstrdup(argc > 0 && argv[0] ? argv[0] : "");
    m->from = core__addr_normalize(m->from_raw);
    if (argc > 1) {
        m->mail_args = xcalloc(argc - 1, sizeof(*m->mail_args));
        for (i = 1; i < argc; i++)
            m->mail_args[m->n_mail_args++] = xstrdup(argv[i] ? argv[i] : "");
    }
    core__sender_class(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    run_stage(s, RM_STAGE_MAIL, &none, &res);
    stage_reply(s, out);
    return 0;
}

int
pipeline_rcpt(struct rm_session *s, char **argv, size_t argc,
              struct rm_reply *out)
{
    static const struct stage_args none;
    struct rm_msg *m = &s->msg;
    struct stage_res res = {0};
    struct rm_rcpt r = {0};
    size_t i;

    txn_ensure(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    r.raw = xstrdup(argc > 0 && argv[0] ? argv[0] : "");
    r.addr = core__addr_normalize(r.raw);
    if (argc > 1) {
        r.args = xcalloc(argc - 1, sizeof(*r.args));
        for (i = 1; i < argc; i++)
            r.args[r.n_args++] = xstrdup(argv[i] ? argv[i] : "");
    }
    r.whitelisted = rm_rcptlist_match(&s->cfg->global.whitelist, r.raw);

    m->rcpt_cur = &r;
    res.rcpt = out;
    run_stage(s, RM_STAGE_RCPT, &none, &res);
    m->rcpt_cur = NULL;

    if (res.refused) {
        m->n_rcpts_refused++;
        core__rcpt_free(&r);
        return 0;
    }
    if (m->n_rcpts == m->rcpts_cap) {
        m->rcpts_cap = m->rcpts_cap ? 2 * m->rcpts_cap : 8;
        m->rcpts = xrealloc(m->rcpts, m->rcpts_cap * sizeof(*m->rcpts));
    }
    m->rcpts[m->n_rcpts++] = r;
    /* "Every recipient is whitelisted", not "the last one was". */
    m->all_whitelisted = true;
    for (i = 0; i < m->n_rcpts; i++)
        if (!m->rcpts[i].whitelisted)
            m->all_whitelisted = false;
    stage_reply(s, out);
    return 0;
}

int
pipeline_data(struct rm_session *s, struct rm_reply *out)
{
    static const struct stage_args none;
    struct stage_res res = {0};

    txn_ensure(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    run_stage(s, RM_STAGE_DATA, &none, &res);
    stage_reply(s, out);
    return 0;
}

/* header_stage - one header: value as the checks read it, raw as it was
 * written after the colon (struct rm_header) */
static int
header_stage(struct rm_session *s, const char *name, const char *value,
             const char *raw, struct rm_reply *out)
{
    struct rm_msg *m = &s->msg;
    struct stage_args a = {0};
    struct stage_res res = {0};
    size_t len;
    char *line;

    txn_ensure(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    a.name = name ? name : "";
    a.value = value;
    core__header_add(m, a.name, value, raw);
    line = header_line(a.name, raw, &len);
    m->size += len;
    if (!m->decided) {
        spool_begin(s);
        spool_put(s, line, len);
    }
    free(line);
    run_stage(s, RM_STAGE_HEADER, &a, &res);
    stage_reply(s, out);
    return 0;
}

int
pipeline_header(struct rm_session *s, const char *name, const char *value,
                struct rm_reply *out)
{
    char *raw;
    int rc;

    /* The MTA ate the space after the colon (SMFIP_HDR_LEADSPC not
     * negotiated): put one back, unless the value starts with a blank
     * already (a tab, which is never eaten). Exact only with
     * pipeline_header_raw. */
    if (value == NULL)
        value = "";
    raw = value[0] == ' ' || value[0] == '\t' ? xstrdup(value)
                                              : xasprintf(" %s", value);
    rc = header_stage(s, name, value, raw, out);
    free(raw);
    return rc;
}

int
pipeline_header_raw(struct rm_session *s, const char *name, const char *raw,
                    struct rm_reply *out)
{
    if (raw == NULL)
        raw = "";
    /* the checks read what an MTA sends by default: one space less */
    return header_stage(s, name, raw[0] == ' ' ? raw + 1 : raw, raw, out);
}

int
pipeline_eoh(struct rm_session *s, struct rm_reply *out)
{
    static const struct stage_args none;
    struct stage_res res = {0};

    txn_ensure(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    end_of_headers(s);
    run_stage(s, RM_STAGE_EOH, &none, &res);
    stage_reply(s, out);
    return 0;
}

int
pipeline_body(struct rm_session *s, const char *chunk, size_t len,
              struct rm_reply *out)
{
    struct rm_msg *m = &s->msg;
    struct stage_args a = {0};
    struct stage_res res = {0};

    txn_ensure(s);
    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    end_of_headers(s);
    m->size += len;
    if (!m->decided)
        spool_put(s, chunk, len);
    a.chunk = chunk;
    a.len = len;
    run_stage(s, RM_STAGE_BODY, &a, &res);
    stage_reply(s, out);
    return 0;
}

int
pipeline_eom(struct rm_session *s, struct rm_reply *out)
{
    static const struct stage_args none;
    struct rm_msg *m = &s->msg;
    struct stage_res res = {0};
    uint64_t max = s->cfg->global.max_size;
    enum rm_action a;
    char *act;

    txn_ensure(s);
    if (s->gen == NULL) {
        fail_internal(s, out, "no module state for this config");
        txn_end(s, false, "tempfail");
        return -1;
    }
    end_of_headers(s);
    if (max > 0 && m->size > max && !m->decided) {
        m->oversized = true;
        if (s->gen->content)
            msg_info("%s: size gate: %llu bytes over max_size %llu; content "
                     "scans skipped",
                     m->tag, (unsigned long long)m->size,
                     (unsigned long long)max);
    }
    run_stage(s, RM_STAGE_EOM, &none, &res);

    a = m->decided ? m->final.action : RM_ACT_CONTINUE;
    if (ends_message(a)) {
        reply_copy(out, &m->final);
    } else {
        mods_take(out, &m->edits);
        if (a == RM_ACT_QUARANTINE) {
            reply_copy(out, &m->final);
        } else {
            out->action = a == RM_ACT_ACCEPT ? RM_ACT_ACCEPT : RM_ACT_CONTINUE;
        }
    }
    act = m->decided ? action_text(&m->final) : xstrdup("accept");
    core__summary(s, act);
    free(act);
    txn_end(s, false, "accept");
    return 0;
}

int
pipeline_unknown(struct rm_session *s, const char *cmd, struct rm_reply *out)
{
    struct stage_args a = {0};

    if (s->gen == NULL)
        return fail_internal(s, out, "no module state for this config");
    a.cmd = cmd ? cmd : "";
    return command_stage(s, RM_STAGE_UNKNOWN, &a, out);
}

void
pipeline_abort(struct rm_session *s)
{
    txn_end(s, true, "aborted");
}
