/*
 * NAME
 *   rules - rule { } sections: regexp conditions with an action
 *
 * DESCRIPTION
 *   Each rule (cfg->rules, in the order written) has one action and any
 *   number of conditions, each optionally negated:
 *
 *     connect /host/ /ip/  the client host name AND the client IP match
 *                          (127.0.0.1 for unix-socket clients)
 *     helo /re/            the HELO/EHLO argument ("" if none)
 *     envfrom /re/         the normalised sender ("" for the null sender)
 *     envrcpt /re/         some accepted recipient, normalised
 *                          ("user@example.com") or as sent
 *                          ("<user@example.com>"), so old rules written for
 *                          either form keep working
 *     header /name/ /val/  some one header whose name and value both match
 *     body /re/            the body as received (CRLF line ends, not
 *                          decoded), its first RULES_BODY_MAX bytes
 *
 *   A rule fires when ALL of its conditions hold (the original's AND across
 *   stages was loose, rmilter.md 12.21). Rules are evaluated at EOM, the
 *   only stage where every condition's data exists: one place, one order,
 *   and envrcpt sees the complete recipient list. The cost is that a
 *   message an envelope-only rule rejects is received whole first.
 *
 *   Evaluation goes in written order. add_header rules add their header
 *   and evaluation goes on (so a header rule never hides a later reject);
 *   the first rule with any other action wins and ends it:
 *     accept      accept the message as is, skip the remaining checks
 *     reject      554 5.7.1 <message | "Message rejected">
 *     tempfail    451 4.7.1 <message | "Try again later">
 *     discard     accept and drop
 *     quarantine  SMFIR_QUARANTINE with the message as the reason (the MTA
 *                 holds the mail; the original only discarded)
 *   Each firing is logged with the evidence of every condition.
 *
 *   Body conditions read the spooled message once, after every cheaper
 *   condition of the rule held.
 *
 * THREAD SAFETY
 *   The rules belong to the config generation and are read-only; regex
 *   matching is thread-safe (lib/regex.h). No per-message state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/modules.h"

#define RULES_BODY_MAX (1024u * 1024u)
#define RULES_WHY 1024 /* evidence text in a log line */
#define RULES_CLIP 80  /* one subject in the evidence */

struct rules_conf {
    const struct rm_rule *rules;
    size_t n;
    uint32_t stages, actions;
};

/* What the conditions look at, gathered once per message. */
struct rules_ctx {
    struct rm_msg *m;
    const char *body;
    size_t body_len;
    bool body_mapped;
    bool body_failed;
};

static bool
rules_enabled(const struct rm_config *cfg)
{
    return cfg->n_rules > 0;
}

static int
rules_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    struct rules_conf *rc = xcalloc(1, sizeof(*rc));
    size_t i, j;

    (void)diag;
    rc->rules = cfg->rules;
    rc->n = cfg->n_rules;
    rc->stages = RM_STAGE_BIT(RM_STAGE_EOM);
    for (i = 0; i < rc->n; i++) {
        const struct rm_rule *r = &rc->rules[i];

        if (r->action == RM_RULE_ADD_HEADER)
            rc->actions |= RM_CAN_ADDHDRS;
        if (r->action == RM_RULE_QUARANTINE)
            rc->actions |= RM_CAN_QUARANTINE;
        for (j = 0; j < r->n_conds; j++) {
            if (r->conds[j].kind == RM_COND_HEADER)
                rc->stages |= RM_STAGE_BIT(RM_STAGE_HEADER);
            if (r->conds[j].kind == RM_COND_BODY)
                rc->stages |= RM_NEED_SPOOL;
        }
    }
    *mconf = rc;
    return 0;
}

static void
rules_fini(void *mconf)
{
    free(mconf);
}

static void
rules_needs(const void *mconf, uint32_t *stages, uint32_t *actions)
{
    const struct rules_conf *rc = mconf;

    *stages = rc->stages;
    *actions = rc->actions;
}

/* clip - a printable, bounded copy of s[0..len) for the evidence */
static const char *
clip(char *dst, size_t size, const char *s, size_t len)
{
    size_t i, n = len < size - 4 ? len : size - 4;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len)
        memcpy(dst + n, "...", 4);
    else
        dst[n] = '\0';
    return dst;
}

static bool
re_match(const struct rm_regex *re, const char *s, size_t len)
{
    /* An absent regexp constrains nothing. */
    return re == NULL || regex_match(re, s, len);
}

static const char *
re_src(const struct rm_regex *re)
{
    return re ? regex_source(re) : "//";
}

/* body - the body, mapped from the spool once; NULL if it cannot be read */
static bool
body(struct rules_ctx *x)
{
    const char *data;
    size_t len;
    uint64_t off;

    if (x->body_mapped)
        return !x->body_failed;
    x->body_mapped = true;
    x->body = "";
    x->body_len = 0;
    if (x->m->spool == NULL)
        return true;
    if (spool_map(x->m->spool, &data, &len) < 0) {
        x->body_failed = true;
        return false;
    }
    off = spool_offset(x->m->spool, RM_SPOOL_BODY);
    if (off > len)
        off = len;
    x->body = data + off;
    x->body_len = len - (size_t)off;
    if (x->body_len > RULES_BODY_MAX)
        x->body_len = RULES_BODY_MAX;
    return true;
}

/* cond_match - does the condition's subject match (before negation)?
 * ev gets the evidence of a match. -1 if the body cannot be read. */
static int
cond_match(const struct rm_rule_cond *c, struct rules_ctx *x, char *ev,
           size_t evlen)
{
    struct rm_msg *m = x->m;
    char a[RULES_CLIP], b[RULES_CLIP];
    const char *host, *ip, *s;
    size_t i;

    ev[0] = '\0';
    switch (c->kind) {
    case RM_COND_CONNECT:
        host = msg_client_host(m);
        ip = msg_client_ip(m);
        if (!re_match(c->re[0], host, strlen(host)) ||
            !re_match(c->re[1], ip, strlen(ip)))
            return 0;
        snprintf(ev, evlen, "connect %s[%s] ~ %s %s",
                 clip(a, sizeof(a), host, strlen(host)),
                 clip(b, sizeof(b), ip, strlen(ip)), re_src(c->re[0]),
                 re_src(c->re[1]));
        return 1;
    case RM_COND_HELO:
        s = m->sess->helo ? m->sess->helo : "";
        if (!re_match(c->re[0], s, strlen(s)))
            return 0;
        snprintf(ev, evlen, "helo '%s' ~ %s", clip(a, sizeof(a), s, strlen(s)),
                 re_src(c->re[0]));
        return 1;
    case RM_COND_ENVFROM:
        s = m->from ? m->from : "";
        if (!re_match(c->re[0], s, strlen(s)))
            return 0;
        snprintf(ev, evlen, "envfrom '%s' ~ %s",
                 clip(a, sizeof(a), s, strlen(s)), re_src(c->re[0]));
        return 1;
    case RM_COND_ENVRCPT:
        for (i = 0; i < m->n_rcpts; i++) {
            const struct rm_rcpt *r = &m->rcpts[i];

            if (re_match(c->re[0], r->addr, strlen(r->addr)) ||
                re_match(c->re[0], r->raw, strlen(r->raw))) {
                snprintf(ev, evlen, "envrcpt '%s' ~ %s",
                         clip(a, sizeof(a), r->raw, strlen(r->raw)),
                         re_src(c->re[0]));
                return 1;
            }
        }
        return 0;
    case RM_COND_HEADER:
        for (i = 0; i < m->n_hdrs; i++) {
            const struct rm_header *h = &m->hdrs[i];

            if (re_match(c->re[0], h->name, strlen(h->name)) &&
                re_match(c->re[1], h->value, strlen(h->value))) {
                snprintf(ev, evlen, "header '%s: %s' ~ %s %s",
                         clip(a, sizeof(a), h->name, strlen(h->name)),
                         clip(b, sizeof(b), h->value, strlen(h->value)),
                         re_src(c->re[0]), re_src(c->re[1]));
                return 1;
            }
        }
        return 0;
    case RM_COND_BODY:
        if (!body(x))
            return -1;
        if (!re_match(c->re[0], x->body, x->body_len))
            return 0;
        snprintf(ev, evlen, "body ~ %s", re_src(c->re[0]));
        return 1;
    }
    return 0;
}

static const char *
cond_name(enum rm_rule_cond_kind k)
{
    static const char *const names[] = {"connect", "helo",   "envfrom",
                                        "envrcpt", "header", "body"};

    return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* rule_holds - every condition holds (body ones last, they cost most);
 * why collects the evidence. -1 if the body cannot be read. */
static int
rule_holds(const struct rm_rule *r, struct rules_ctx *x, char *why,
           size_t whylen)
{
    char ev[RULES_WHY / 2];
    size_t i, used = 0;
    int pass, hit;

    why[0] = '\0';
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < r->n_conds; i++) {
            const struct rm_rule_cond *c = &r->conds[i];

            if ((c->kind == RM_COND_BODY) != (pass == 1))
                continue;
            hit = cond_match(c, x, ev, sizeof(ev));
            if (hit < 0)
                return -1;
            if (hit == c->negate)
                return 0;
            if (c->negate)
                snprintf(ev, sizeof(ev), "not %s %s%s%s: no match",
                         cond_name(c->kind), re_src(c->re[0]),
                         c->re[1] ? " " : "", c->re[1] ? re_src(c->re[1]) : "");
            if (used < whylen)
                used += (size_t)snprintf(why + used, whylen - used, "%s%s",
                                         used ? ", " : "", ev);
        }
    }
    if (r->n_conds == 0)
        snprintf(why, whylen, "no conditions");
    return 1;
}

static const char *
action_name(enum rm_rule_action a)
{
    switch (a) {
    case RM_RULE_ACCEPT:
        return "accept";
    case RM_RULE_REJECT:
        return "reject";
    case RM_RULE_TEMPFAIL:
        return "tempfail";
    case RM_RULE_DISCARD:
        return "discard";
    case RM_RULE_QUARANTINE:
        return "quarantine";
    default:
        return "add_header";
    }
}

/* act - the verdict of a fired rule; RM_CONTINUE for add_header */
static enum rm_status
act(const struct rm_rule *r, struct rm_verdict *v)
{
    char reason[512];

    switch (r->action) {
    case RM_RULE_ACCEPT:
        return verdict_set(v, RM_ACT_ACCEPT, NULL, NULL, NULL);
    case RM_RULE_REJECT:
        return verdict_set(v, RM_ACT_REJECT, "554", "5.7.1",
                           r->message ? r->message : "Message rejected");
    case RM_RULE_TEMPFAIL:
        return verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1",
                           r->message ? r->message : "Try again later");
    case RM_RULE_DISCARD:
        return verdict_set(v, RM_ACT_DISCARD, NULL, NULL, NULL);
    case RM_RULE_QUARANTINE:
        if (r->message == NULL)
            snprintf(reason, sizeof(reason), "%s", r->name ? r->name : "rule");
        return verdict_set(v, RM_ACT_QUARANTINE, NULL, NULL,
                           r->message ? r->message : reason);
    case RM_RULE_ADD_HEADER:
        verdict_add_header(v, r->header_name ? r->header_name : "X-Rule",
                           r->header_value ? r->header_value : "");
        return RM_CONTINUE;
    }
    return RM_CONTINUE;
}

static enum rm_status
rules_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct rules_conf *rc = mconf;
    struct rules_ctx x = {.m = m};
    char why[RULES_WHY];
    size_t i, n_headers = 0;
    const char *first_header = NULL;
    enum rm_status st;
    int holds;

    for (i = 0; i < rc->n; i++) {
        const struct rm_rule *r = &rc->rules[i];
        const char *name = r->name ? r->name : "rule";

        holds = rule_holds(r, &x, why, sizeof(why));
        if (holds < 0) {
            verdict_note(v, "cannot read the body");
            return RM_ERROR;
        }
        if (!holds)
            continue;
        msg_info("%s: rules: '%s' fired: %s: %s", m->tag, name,
                 action_name(r->action), why);
        st = act(r, v);
        if (st == RM_CONTINUE) {
            if (n_headers++ == 0)
                first_header = name;
            continue;
        }
        verdict_note(v, "%s(%s)", action_name(r->action), name);
        return st;
    }
    if (n_headers == 1)
        verdict_note(v, "add_header(%s)", first_header);
    else if (n_headers > 1)
        verdict_note(v, "add_header(%zu rules)", n_headers);
    else
        verdict_note(v, "nomatch");
    return RM_CONTINUE;
}

const struct rm_module rm_rules_module = {
    .name = "rules",
    .enabled = rules_enabled,
    .init = rules_init,
    .fini = rules_fini,
    .on_eom = rules_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_STAGE_BIT(RM_STAGE_HEADER) |
              RM_NEED_SPOOL,
    .actions = RM_CAN_ADDHDRS | RM_CAN_QUARANTINE,
    .needs = rules_needs,
};
