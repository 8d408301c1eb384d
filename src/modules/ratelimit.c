/*
 * NAME
 *   ratelimit - per-recipient leaky buckets (limits { limit_* })
 *
 * DESCRIPTION
 *   Checked at RCPT, for the recipient being added. The buckets that
 *   apply, in order (ratelimit_key.h): for a bounce (the null sender, or
 *   a local part listed in limit_bounce_addrs) bounce_to and
 *   bounce_to_ip, then for every message to_ip_from, to_ip and to; a
 *   bucket with burst or rate 0 is off. Exempt: the client in
 *   limit_whitelist (IPv4 and IPv6; a unix-socket client counts as
 *   127.0.0.1), the recipient in limit_whitelist_rcpt or in the global
 *   whitelist. A recipient over any bucket gets 451 4.7.1 "Rate limit
 *   exceeded" (that recipient only; the transaction goes on), logged with
 *   the bucket, its key, its level and when there is room again.
 *
 *   Accounting: "a bucket counts the accepted mail", done so that
 *   concurrent sessions, on one daemon or on several sharing Redis, can
 *   never together pass more than a bucket allows:
 *     - at RCPT each enabled bucket TAKES 1 (store_bucket, incr +1: one
 *       atomic step that refuses when level + 1 > burst); a bucket that
 *       refuses stops the checks, and what the earlier buckets of this
 *       recipient took is GIVEN BACK (incr -1) at once;
 *     - what a recipient took is given back later if the recipient or
 *       the message does not end up accepted: the transaction aborted
 *       (RSET, QUIT, a tempfail at DATA such as greylisting), the message
 *       rejected, tempfailed or discarded at EOM, or the recipient
 *       refused by a later check at RCPT.
 *   The net effect is the original's "raise the buckets at EOM for
 *   accepted mail", without its race (check at RCPT, raise at EOM: N
 *   sessions at once all saw room). Leaking between the take and the
 *   give-back cancels out exactly unless the level would have reached 0,
 *   where it is clamped either way. From empty, exactly floor(burst)
 *   recipients pass at one instant (the original let burst + 1 through);
 *   then one more every 1/rate seconds.
 *
 *   The give-back at the end of the transaction runs from msg_free, which
 *   the pipeline calls before it clears the transaction: the state keeps a
 *   pointer to the message to read its final verdict and its accepted
 *   recipients there. (on_abort gives everything back first when the
 *   transaction did not reach EOM.)
 *
 *   Failures: a bucket the store cannot update is RM_ERROR under
 *   redis.on_failure: tempfail refuses the recipient with the pipeline's
 *   451 4.7.1; accept and continue let it through unlimited, every other
 *   check still running (accept never means "skip the remaining checks"
 *   here; see greylist.c). A give-back that fails is logged and the
 *   message's other give-backs are skipped (a hung server costs one
 *   read_timeout, not one per recipient); the buckets leak those units
 *   away at their rates.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct rl_conf belongs to the generation and is read-only; the store
 *   handle is thread-safe. struct rl_state is per message (msg_state),
 *   used by the session's thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/modstore.h"
#include "modules/modules.h"
#include "modules/ratelimit_key.h"

#define RL_TEXT "Rate limit exceeded"

struct rl_conf {
    const struct rm_config *cfg;
    const struct rm_cfg_limits *lc;
    const char *prefix;
    struct rm_store *st;
};

/* One unit a recipient took from one bucket. */
struct rl_hold {
    char *key;
    char *raw;  /* the recipient as sent */
    size_t idx; /* where it lands in m->rcpts if accepted */
    struct rm_bucket b;
};

struct rl_state {
    struct rm_msg *m;
    const struct rl_conf *rc;
    struct rl_hold *v;
    size_t n, cap;
    size_t n_limited, n_checked;
    size_t n_lost; /* give-backs skipped after a store failure */
    bool settled;  /* everything given back or kept for good */
    bool broken;   /* a give-back failed: don't wait on the store again */
};

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static bool
rl_enabled(const struct rm_config *cfg)
{
    size_t b;

    if (!cfg->limits.enable)
        return false;
    for (b = 0; b < RM_RL_COUNT; b++)
        if (ratelimit_bucket_enabled(
                ratelimit_bucket_cfg(&cfg->limits, (enum rm_rl_bucket)b)))
            return true;
    return false;
}

static void
rl_fini(void *mconf)
{
    struct rl_conf *rc = mconf;

    if (rc == NULL)
        return;
    store_free(rc->st);
    free(rc);
}

static int
rl_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    struct rl_conf *rc = xcalloc(1, sizeof(*rc));
    char d[64];

    rc->cfg = cfg;
    rc->lc = &cfg->limits;
    rc->prefix = cfg->redis.limits_prefix ? cfg->redis.limits_prefix : "";
    if (modstore_open(cfg, RM_ROLE_LIMITS, &rc->st, diag) < 0) {
        rl_fini(rc);
        return -1;
    }
    msg_debug("ratelimit: buckets in the %s",
              modstore_describe(cfg, RM_ROLE_LIMITS, d, sizeof(d)));
    *mconf = rc;
    return 0;
}

/* rl_on_failure - redis.on_failure; accept means "this check passes" */
static enum rm_on_failure
rl_on_failure(const struct rm_config *cfg)
{
    return cfg->redis.on_failure == RM_ON_FAILURE_TEMPFAIL
               ? RM_ON_FAILURE_TEMPFAIL
               : RM_ON_FAILURE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* holds                                                                    */
/* ------------------------------------------------------------------------ */

static void
hold_free(struct rl_hold *h)
{
    free(h->key);
    free(h->raw);
    h->key = h->raw = NULL;
}

/* give_back - return one hold's unit to its bucket; after one failure
 * the others of the message are skipped (they leak away at their rate):
 * a hung server must not cost a read_timeout per recipient */
static void
give_back(struct rl_state *s, const struct rl_hold *h, const char *why)
{
    struct rm_bucket_req req = {0};
    struct rm_bucket_res res;
    struct rm_store_err err = {{0}};
    int rc;

    if (s->broken) {
        s->n_lost++;
        return;
    }
    req.now_ms = modstore_now_ms();
    req.burst = h->b.burst;
    req.rate = h->b.rate;
    req.incr = -1;
    rc = store_bucket(s->rc->st, h->key, &req, &res, &err);
    if (rc < 0) {
        msg_warn("%s: ratelimit: cannot give back %s (%s): %s; it leaks "
                 "away at its rate, as will any other of this message",
                 s->m->tag, h->key, why, err.msg);
        s->broken = true;
    } else
        msg_debug("%s: ratelimit: gave back %s (%s), level %.3f", s->m->tag,
                  h->key, why, res.level);
}

/* give_back_from - give back holds [from, n) and forget them */
static void
give_back_from(struct rl_state *s, size_t from, const char *why)
{
    size_t i;

    for (i = from; i < s->n; i++) {
        give_back(s, &s->v[i], why);
        hold_free(&s->v[i]);
    }
    s->n = from;
}

/* accepted - did the hold's recipient make it into the message? */
static bool
accepted(const struct rm_msg *m, const struct rl_hold *h)
{
    return h->idx < m->n_rcpts && strcmp(m->rcpts[h->idx].raw, h->raw) == 0;
}

/* reconcile - give back the holds of recipients that were refused after
 * this module let them through; keep the others */
static void
reconcile(struct rl_state *s)
{
    size_t i, o = 0;

    for (i = 0; i < s->n; i++) {
        if (accepted(s->m, &s->v[i])) {
            s->v[o++] = s->v[i];
        } else {
            give_back(s, &s->v[i], "recipient refused");
            hold_free(&s->v[i]);
        }
    }
    s->n = o;
}

static void
state_free(void *p)
{
    struct rl_state *s = p;
    const struct rm_msg *m;
    size_t i;

    if (s == NULL)
        return;
    m = s->m;
    if (!s->settled) {
        /* The transaction ended at EOM (on_abort settles the others). */
        if (m->decided && (m->final.action == RM_ACT_REJECT ||
                           m->final.action == RM_ACT_TEMPFAIL ||
                           m->final.action == RM_ACT_DISCARD))
            give_back_from(s, 0, "message not accepted");
        else
            reconcile(s);
    }
    if (s->n_lost > 0)
        msg_warn("%s: ratelimit: %zu more units not given back", m->tag,
                 s->n_lost);
    for (i = 0; i < s->n; i++)
        hold_free(&s->v[i]);
    free(s->v);
    free(s);
}

static void
rl_abort(struct rm_msg *m, void *mconf)
{
    struct rl_state *s = *msg_state(m);

    (void)mconf;
    if (s == NULL || s->settled)
        return;
    give_back_from(s, 0, "transaction aborted");
    s->settled = true;
}

/* ------------------------------------------------------------------------ */
/* the RCPT check                                                           */
/* ------------------------------------------------------------------------ */

static struct rl_state *
state_get(struct rm_msg *m, const struct rl_conf *rc)
{
    void **slot = msg_state(m);
    struct rl_state *s = *slot;

    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->m = m;
        s->rc = rc;
        *slot = s;
    }
    return s;
}

static void
add_hold(struct rl_state *s, const char *key, const char *raw,
         const struct rm_bucket *b)
{
    struct rl_hold *h;

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    h = &s->v[s->n++];
    h->key = xstrdup(key);
    h->raw = xstrdup(raw);
    h->idx = s->m->n_rcpts;
    h->b = *b;
}

static void
note(struct rl_state *s, struct rm_verdict *v, const char *what)
{
    if (s->n_limited > 0)
        verdict_note(v, "%s(%zu of %zu recipients limited)", what, s->n_limited,
                     s->n_checked);
    else
        verdict_note(v, "%s", what);
}

static enum rm_status
rl_rcpt(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct rl_conf *rc = mconf;
    const struct rm_cfg_limits *lc = rc->lc;
    const struct rm_rcpt *r = m->rcpt_cur;
    const struct rm_session *ss = m->sess;
    enum rm_rl_bucket order[RM_RL_COUNT];
    struct rm_bucket_req req = {0};
    struct rm_bucket_res res;
    struct rm_store_err err = {{0}};
    char key[RM_STORE_KEY_MAX + 1];
    const struct rm_ipaddr *ip = ss->has_addr ? &ss->addr : NULL;
    struct rl_state *s;
    size_t n, i, first;
    bool bounce;
    int k;

    if (r == NULL)
        return RM_DECLINED;
    if (ip != NULL && lc->limit_whitelist != NULL &&
        iplist_match(lc->limit_whitelist, ip)) {
        verdict_note(v, "skipped(whitelisted client)");
        return RM_DECLINED;
    }
    if (r->whitelisted || rm_rcptlist_match(&lc->limit_whitelist_rcpt, r->raw))
        return RM_DECLINED;

    s = state_get(m, rc);
    /* recipients a later check refused since the last RCPT */
    reconcile(s);
    s->n_checked++;
    first = s->n;
    bounce = ratelimit_is_bounce(m->from_raw ? m->from_raw : "",
                                 &lc->limit_bounce_addrs);
    n = ratelimit_buckets(bounce, order);
    req.now_ms = modstore_now_ms();
    req.incr = 1;
    for (i = 0; i < n; i++) {
        const struct rm_bucket *b = ratelimit_bucket_cfg(lc, order[i]);
        const char *name = ratelimit_bucket_name(order[i]);

        if (!ratelimit_bucket_enabled(b))
            continue;
        k = ratelimit_key(order[i], rc->prefix, r->raw, ip,
                          m->from_raw ? m->from_raw : "", key, sizeof(key));
        if (k == -EINVAL && ip == NULL)
            continue; /* no client address: no per-IP bucket */
        if (k < 0) {
            give_back_from(s, first, "check failed");
            verdict_note(v, "error(bucket %s: key: %s)", name, strerror(-k));
            return RM_ERROR;
        }
        req.burst = b->burst;
        req.rate = b->rate;
        k = store_bucket(rc->st, key, &req, &res, &err);
        if (k < 0) {
            /* keep what was taken: if the policy lets the recipient in, it
             * counts; if not, reconcile gives it back */
            verdict_note(v, "store failure: %s", err.msg);
            return RM_ERROR;
        }
        if (res.over) {
            double room = (res.level + 1 - b->burst) / b->rate;

            give_back_from(s, first, "a later bucket is full");
            s->n_limited++;
            msg_info("%s: ratelimit: <%s> refused: bucket %s full (key %s, "
                     "level %.2f of burst %g, leaking %g/s; room again in "
                     "%.1fs)",
                     m->tag, r->addr ? r->addr : r->raw, name, key, res.level,
                     b->burst, b->rate, room > 0 ? room : 0);
            note(s, v, "limited");
            return verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1", RL_TEXT);
        }
        add_hold(s, key, r->raw, b);
        msg_debug("%s: ratelimit: %s took from %s, level %.3f of %g", m->tag,
                  r->raw, key, res.level, b->burst);
    }
    note(s, v, "pass");
    return RM_CONTINUE;
}

const struct rm_module rm_ratelimit_module = {
    .name = "ratelimit",
    .enabled = rl_enabled,
    .init = rl_init,
    .fini = rl_fini,
    .on_failure = rl_on_failure,
    .on_rcpt = rl_rcpt,
    .on_abort = rl_abort,
    .msg_free = state_free,
    .stages = RM_STAGE_BIT(RM_STAGE_RCPT),
    .actions = 0,
};
