/*
 * NAME
 *   greylist - greylisting of (client network, sender, recipient) triplets
 *
 * DESCRIPTION
 *   When: at DATA (the envelope is complete; no header has arrived), or,
 *   when spam_greylist is on and a spam scanner is configured, only on the
 *   scanner's verdict through greylist_check_message() (greylist.h).
 *
 *   Who is not greylisted: authenticated senders and our_networks
 *   (RM_MOD_SKIP_AUTH; checked again in greylist_check_message), clients
 *   in greylisting { whitelist }, clients on the auto-whitelist, and, in
 *   the verdict-driven mode only, replies to our own mail (m->is_reply).
 *   A client without a known address (the MTA sent none) is not
 *   greylisted either: there is no triplet to build.
 *
 *   Per recipient, a triplet (greylist_key.h: the client network masked
 *   to ipv4_mask / ipv6_mask, the sender, the recipient, hashed):
 *     1. the white record (white_prefix + hash) exists -> pass;
 *     2. else the grey record (grey_prefix + hash) decides
 *        (greylist_decide): none or stale -> NEW: create it (SET NX with
 *        TTL expire, or a plain SET over a stale or foreign value) and
 *        greylist; a concurrent creator (-EEXIST) -> read it again and
 *        decide on what is there; younger than timeout -> TOO_EARLY:
 *        greylist; older -> PASS: write the white record (TTL
 *        expire_white) and pass.
 *   Every recipient's triplet is checked, even after one was greylisted,
 *   so that one retry after timeout passes for all of them. The message
 *   passes only if every triplet passes; otherwise it is tempfailed with
 *   451 4.7.1 <greylisted_message> (the original answered 452; 451 is the
 *   code for "try again later" that every MTA retries, and the one the
 *   rest of rmilter uses). Each greylisted triplet is logged with its
 *   network, sender, recipient, shortened key and the time it will pass:
 *     "<tag>: greylist: 192.0.2.0/24 <a@x> -> <b@y>: new, key
 *      grey.3f9c0a17be2d41c8...: greylisted until 2026-01-02T10:05:00Z
 *      (300s)"
 *
 *   Auto-whitelist (awl_enable): a counter per client network (the same
 *   masks as the triplets) at awl_prefix + network, e.g.
 *   "awl.192.0.2.0/24", in the white store, so it is shared through Redis
 *   like the white records. Every message from the network that passes
 *   greylisting adds one and restarts its TTL awl_ttl; once it holds
 *   awl_hits, messages from the network skip greylisting (and still
 *   restart the TTL), until the network sends nothing for awl_ttl. The
 *   counter is a read then a write: two sessions passing at the same
 *   instant may count once, which only delays the whitelisting by a
 *   message. awl_pool is not used (the original's in-process pool).
 *
 *   Stores (modstore.h): grey records in the grey store, white records
 *   and AWL counters in the white store.
 *
 *   Failures: a store that fails for some triplet, when no other triplet
 *   greylists the message, is RM_ERROR with redis.on_failure: tempfail
 *   tempfails the message; accept and continue both let the message pass
 *   greylisting while every other check still runs (for this module
 *   "accept" cannot mean the pipeline's "accept and skip the remaining
 *   checks": an unreachable Redis must not switch off virus scanning).
 *   A definite "greylisted" from another triplet wins over a failure.
 *   After a failure, the remaining triplets of the message are not tried:
 *   a hung server costs one read_timeout per message, not one per
 *   recipient (Postfix's milter_command_timeout is 30 s per command). A
 *   white record that cannot be written is logged; the triplet still
 *   passes (and passes again from its grey record next time).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct grey_conf belongs to its config generation and is read-only
 *   after init; its store handles are thread-safe. A process-wide list
 *   (guarded by reg_lock) maps each generation's config to its grey_conf
 *   for greylist_check_message, which the scanner calls without access to
 *   this module's mconf. No per-message state.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/module.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/greylist.h"
#include "modules/greylist_key.h"
#include "modules/modstore.h"
#include "modules/modules.h"
#include "proto/envelope.h"

#define GREY_KEY_SHOWN 16   /* hex characters of a key shown in logs */
#define GREY_LOG_TRIPLETS 8 /* greylisted triplets logged per message */
#define GREY_FIELD 128      /* an address shown in a log line */
#define GREY_TEMPFAIL_TEXT "Temporary service failure, try again later"

struct grey_conf {
    const struct rm_config *cfg;
    const struct rm_cfg_greylisting *gc;
    struct rm_store *grey;  /* grey records */
    struct rm_store *white; /* white records and AWL counters */
    bool verdict_driven;
    struct grey_conf *next; /* registry */
};

/* One triplet's outcome. */
enum tr_result { TR_WHITE, TR_PASS, TR_NEW, TR_EARLY, TR_FAIL };

struct tr_out {
    enum tr_result r;
    struct rm_grey_decision d;
    struct rm_grey_triplet t;
    char key[RM_STORE_KEY_MAX + 1]; /* the grey key */
    struct rm_store_err err;
};

/* What the triplets of one message came to. */
struct grey_sum {
    size_t white, pass, fresh, early, failed, logged;
    uint64_t pass_at_ms, wait_ms, delayed_ms;
    struct rm_store_err err; /* the first failure */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct grey_conf *registry;

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

bool
greylist_verdict_driven(const struct rm_config *cfg)
{
    return cfg->spamd.greylist && cfg->spamd.servers.n > 0;
}

/* grey_enabled - greylisting { } written (or the original's servers_grey,
 * which meant "greylist with these servers"), and enable = yes. Never
 * because a redis { } section exists for something else (rmilter#78). */
static bool
grey_enabled(const struct rm_config *cfg)
{
    return cfg->greylisting.enable && (cfg_present(cfg, RM_SEC_greylisting) ||
                                       cfg->redis.servers_grey.n > 0);
}

static void
reg_add(struct grey_conf *gc)
{
    pthread_mutex_lock(&reg_lock);
    gc->next = registry;
    registry = gc;
    pthread_mutex_unlock(&reg_lock);
}

static void
reg_del(struct grey_conf *gc)
{
    struct grey_conf **pp;

    pthread_mutex_lock(&reg_lock);
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == gc) {
            *pp = gc->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

/* reg_find - the grey_conf of cfg's generation; it stays valid while the
 * caller's session holds its reference on cfg */
static struct grey_conf *
reg_find(const struct rm_config *cfg)
{
    struct grey_conf *gc;

    pthread_mutex_lock(&reg_lock);
    for (gc = registry; gc != NULL && gc->cfg != cfg; gc = gc->next)
        ;
    pthread_mutex_unlock(&reg_lock);
    return gc;
}

static void
grey_fini(void *mconf)
{
    struct grey_conf *gc = mconf;

    if (gc == NULL)
        return;
    reg_del(gc);
    store_free(gc->grey);
    store_free(gc->white);
    free(gc);
}

static int
grey_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    struct grey_conf *gc = xcalloc(1, sizeof(*gc));
    char d1[64], d2[64];

    gc->cfg = cfg;
    gc->gc = &cfg->greylisting;
    gc->verdict_driven = greylist_verdict_driven(cfg);
    if (modstore_open(cfg, RM_ROLE_GREY, &gc->grey, diag) < 0 ||
        modstore_open(cfg, RM_ROLE_WHITE, &gc->white, diag) < 0) {
        grey_fini(gc);
        return -1;
    }
    reg_add(gc);
    msg_debug("greylist: %s; grey records in the %s, white records in the "
              "%s; timeout %" PRIu64 "s, expire %" PRIu64 "s",
              gc->verdict_driven ? "on the spam scanner's verdict" : "at DATA",
              modstore_describe(cfg, RM_ROLE_GREY, d1, sizeof(d1)),
              modstore_describe(cfg, RM_ROLE_WHITE, d2, sizeof(d2)),
              gc->gc->timeout / 1000, gc->gc->expire / 1000);
    *mconf = gc;
    return 0;
}

/* grey_on_failure - redis.on_failure, with accept meaning "this check
 * passes", never "skip every other check" (see DESCRIPTION) */
static enum rm_on_failure
grey_on_failure(const struct rm_config *cfg)
{
    return cfg->redis.on_failure == RM_ON_FAILURE_TEMPFAIL
               ? RM_ON_FAILURE_TEMPFAIL
               : RM_ON_FAILURE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* utc - "2026-01-02T10:05:00Z" */
static const char *
utc(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "@%" PRIu64, ms / 1000);
    return buf;
}

/* short_key - a key cut to its prefix and GREY_KEY_SHOWN hex characters */
static const char *
short_key(const char *key, const char *prefix, char *buf, size_t len)
{
    size_t pl = strlen(prefix);

    snprintf(buf, len, "%.*s%.*s...", (int)pl, key, GREY_KEY_SHOWN,
             key + (strlen(key) > pl ? pl : strlen(key)));
    return buf;
}

/* printable - a bounded, single-line copy of s for a log line */
static const char *
printable(const char *s, char *buf, size_t len)
{
    size_t i, o = 0;

    for (i = 0; s[i] != '\0' && o + 4 < len; i++)
        buf[o++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i] != '\0') {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------ */
/* one triplet                                                              */
/* ------------------------------------------------------------------------ */

/* grey_read - the grey record: 0 with *have set (false if absent or not
 * ours, then *foreign says whether something was there), or a failure */
static int
grey_read(const struct grey_conf *gc, const char *key, uint64_t *first,
          bool *have, bool *foreign, struct rm_store_err *err)
{
    char val[RM_STORE_VAL_MAX + 1];
    int rc;

    *have = *foreign = false;
    rc = store_get(gc->grey, key, val, sizeof(val), err);
    if (rc == -ENOENT)
        return 0;
    if (rc == -EMSGSIZE) {
        /* something long and not ours: replace it */
        *foreign = true;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (greylist_value_parse(val, first) < 0) {
        *foreign = true;
        return 0;
    }
    *have = true;
    return 0;
}

/* check_triplet - steps 1 and 2 of DESCRIPTION for one recipient */
static void
check_triplet(const struct grey_conf *gc, const struct rm_msg *m,
              const struct rm_rcpt *rcpt, uint64_t now, struct tr_out *o)
{
    const struct rm_cfg_greylisting *g = gc->gc;
    const struct rm_cfg_redis *rc = &gc->cfg->redis;
    char wkey[RM_STORE_KEY_MAX + 1], val[RM_STORE_VAL_MAX + 1];
    uint64_t first = 0;
    bool have, foreign;
    int r;

    memset(o, 0, sizeof(*o));
    o->r = TR_FAIL;
    r = greylist_triplet(&m->sess->addr, (unsigned)g->ipv4_mask,
                         (unsigned)g->ipv6_mask, m->from_raw ? m->from_raw : "",
                         rcpt->raw, &o->t);
    if (r < 0) {
        store_err_set(&o->err, "cannot build the triplet: %s", strerror(-r));
        return;
    }
    if (greylist_key(&o->t, rc->white_prefix, wkey, sizeof(wkey)) < 0 ||
        greylist_key(&o->t, rc->grey_prefix, o->key, sizeof(o->key)) < 0) {
        store_err_set(&o->err, "key prefix too long");
        return;
    }

    r = store_get(gc->white, wkey, val, sizeof(val), &o->err);
    if (r == 0 || r == -EMSGSIZE) {
        o->r = TR_WHITE;
        return;
    }
    if (r != -ENOENT)
        return;

    if (grey_read(gc, o->key, &first, &have, &foreign, &o->err) < 0)
        return;
    greylist_decide(have ? &first : NULL, now, g->timeout, g->expire, &o->d);
    if (o->d.verdict == RM_GREY_NEW) {
        greylist_value_format(now, val, sizeof(val));
        if (o->d.replace || foreign)
            r = store_set(gc->grey, o->key, val, g->expire, &o->err);
        else
            r = store_set_nx(gc->grey, o->key, val, g->expire, &o->err);
        if (r == -EEXIST) {
            /* Another session created it just now: decide on its record.
             * A record that is gone again or unreadable by now is not
             * written a second time; the triplet is simply new. */
            if (grey_read(gc, o->key, &first, &have, &foreign, &o->err) < 0)
                return;
            greylist_decide(have ? &first : NULL, now, g->timeout, g->expire,
                            &o->d);
            if (o->d.verdict == RM_GREY_NEW) {
                o->r = TR_NEW;
                return;
            }
        } else if (r < 0) {
            return;
        } else {
            o->r = TR_NEW;
            return;
        }
    }
    if (o->d.verdict == RM_GREY_TOO_EARLY) {
        o->r = TR_EARLY;
        return;
    }
    /* PASS: whitelist the triplet */
    o->r = TR_PASS;
    greylist_value_format(now, val, sizeof(val));
    r = store_set(gc->white, wkey, val, g->expire_white, &o->err);
    if (store_failed(r))
        msg_warn("%s: greylist: %s: cannot write the white record: %s; the "
                 "triplet passes on its grey record",
                 m->tag, o->t.net, o->err.msg);
}

/* log_triplet - the line for a greylisted triplet */
static void
log_triplet(const struct grey_conf *gc, const struct rm_msg *m,
            const struct rm_rcpt *rcpt, const struct tr_out *o)
{
    char when[40], k[RM_STORE_KEY_MAX + 8], f[GREY_FIELD], r[GREY_FIELD];

    msg_info(
        "%s: greylist: %s <%s> -> <%s>: %s, key %s: greylisted until %s "
        "(%" PRIu64 "s)",
        m->tag, o->t.net, printable(m->from ? m->from : "", f, sizeof(f)),
        printable(rcpt->addr ? rcpt->addr : rcpt->raw, r, sizeof(r)),
        o->r == TR_NEW ? (o->d.replace ? "new (old record expired)" : "new")
                       : "too early",
        short_key(o->key, gc->cfg->redis.grey_prefix, k, sizeof(k)),
        utc(o->d.pass_at_ms, when, sizeof(when)), greylist_wait_seconds(&o->d));
}

/* ------------------------------------------------------------------------ */
/* the auto-whitelist                                                       */
/* ------------------------------------------------------------------------ */

static bool
awl_key(const struct grey_conf *gc, const struct rm_msg *m, char *key,
        size_t len)
{
    char net[RM_ENVELOPE_NET_MAX];
    int n;

    if (envelope_client_net(&m->sess->addr, (unsigned)gc->gc->ipv4_mask,
                            (unsigned)gc->gc->ipv6_mask, net, sizeof(net)) < 0)
        return false;
    n = snprintf(key, len, "%s%s", gc->cfg->redis.awl_prefix, net);
    return n > 0 && (size_t)n < len;
}

/* awl_hits - the counter of the client's network (0 if none or on error) */
static unsigned long
awl_hits(const struct grey_conf *gc, const struct rm_msg *m, const char *key)
{
    char val[RM_STORE_VAL_MAX + 1], *end;
    struct rm_store_err err = {{0}};
    unsigned long n;
    int rc;

    rc = store_get(gc->white, key, val, sizeof(val), &err);
    if (rc < 0) {
        if (store_failed(rc))
            msg_debug("%s: greylist: auto-whitelist lookup failed: %s", m->tag,
                      err.msg);
        return 0;
    }
    n = strtoul(val, &end, 10);
    return *end == '\0' ? n : 0;
}

/* awl_put - store the counter with a fresh TTL (errors: debug only) */
static void
awl_put(const struct grey_conf *gc, const struct rm_msg *m, const char *key,
        unsigned long n)
{
    char val[32];
    struct rm_store_err err = {{0}};

    snprintf(val, sizeof(val), "%lu", n);
    if (store_failed(store_set(gc->white, key, val, gc->gc->awl_ttl, &err)))
        msg_debug("%s: greylist: auto-whitelist update failed: %s", m->tag,
                  err.msg);
}

/* ------------------------------------------------------------------------ */
/* one message                                                              */
/* ------------------------------------------------------------------------ */

/* exempt - a reason why m is not greylisted at all, or NULL */
static const char *
exempt(const struct grey_conf *gc, const struct rm_msg *m, bool verdict)
{
    const struct rm_session *s = m->sess;

    if (m->authenticated)
        return "skipped(authenticated)";
    if (!s->has_addr)
        return "skipped(no client address)";
    if (gc->gc->whitelist != NULL && iplist_match(gc->gc->whitelist, &s->addr))
        return "skipped(whitelisted client)";
    if (verdict && m->is_reply)
        return "skipped(reply)";
    if (m->n_rcpts == 0)
        return "skipped(no recipients)";
    return NULL;
}

/* grey_message - check every triplet of m; RM_FINAL (greylisted),
 * RM_CONTINUE (passed), RM_DECLINED (exempt) or RM_ERROR (store) */
static enum rm_status
grey_message(const struct grey_conf *gc, struct rm_msg *m, bool verdict,
             struct rm_verdict *v)
{
    struct grey_sum sum = {0};
    struct tr_out o;
    char awl[RM_STORE_KEY_MAX + 1], when[40];
    const char *why;
    unsigned long hits = 0;
    bool use_awl;
    uint64_t now;
    size_t i;

    if ((why = exempt(gc, m, verdict)) != NULL) {
        verdict_note(v, "%s", why);
        return RM_DECLINED;
    }
    use_awl = gc->gc->awl_enable && awl_key(gc, m, awl, sizeof(awl));
    if (use_awl) {
        hits = awl_hits(gc, m, awl);
        if (hits >= (unsigned long)gc->gc->awl_hits) {
            awl_put(gc, m, awl, hits + 1);
            msg_info("%s: greylist: %s is auto-whitelisted (%lu messages "
                     "passed)",
                     m->tag, awl + strlen(gc->cfg->redis.awl_prefix), hits);
            verdict_note(v, "pass(auto-whitelisted)");
            return RM_CONTINUE;
        }
    }

    now = modstore_now_ms();
    /* After the first failure the store is not asked again for this
     * message: a hung server costs one read_timeout, not one per
     * recipient. */
    for (i = 0; i < m->n_rcpts && sum.failed == 0; i++) {
        check_triplet(gc, m, &m->rcpts[i], now, &o);
        switch (o.r) {
        case TR_WHITE:
            sum.white++;
            break;
        case TR_PASS:
            sum.pass++;
            if (o.d.elapsed_ms > sum.delayed_ms)
                sum.delayed_ms = o.d.elapsed_ms;
            break;
        case TR_NEW:
        case TR_EARLY:
            if (o.r == TR_NEW)
                sum.fresh++;
            else
                sum.early++;
            if (o.d.pass_at_ms > sum.pass_at_ms) {
                sum.pass_at_ms = o.d.pass_at_ms;
                sum.wait_ms = o.d.wait_ms;
            }
            if (sum.logged++ < GREY_LOG_TRIPLETS)
                log_triplet(gc, m, &m->rcpts[i], &o);
            break;
        default:
            if (sum.failed++ == 0)
                sum.err = o.err;
            msg_warn("%s: greylist: %s %s: store failure: %s%s", m->tag,
                     o.t.net[0] ? o.t.net : "?", m->rcpts[i].raw, o.err.msg,
                     i + 1 < m->n_rcpts ? "; the other triplets are not checked"
                                        : "");
            break;
        }
    }

    if (sum.fresh + sum.early > 0) {
        struct rm_grey_decision d = {.wait_ms = sum.wait_ms};

        if (sum.logged > GREY_LOG_TRIPLETS)
            msg_info("%s: greylist: %zu more triplets greylisted", m->tag,
                     sum.logged - GREY_LOG_TRIPLETS);
        verdict_note(
            v, "greylisted(%zu new, %zu early) until %s (%" PRIu64 "s)",
            sum.fresh, sum.early, utc(sum.pass_at_ms, when, sizeof(when)),
            greylist_wait_seconds(&d));
        return verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1",
                           gc->gc->greylisted_message);
    }
    if (sum.failed > 0) {
        verdict_note(v, "store failure: %s", sum.err.msg);
        return RM_ERROR;
    }
    if (use_awl)
        awl_put(gc, m, awl, hits + 1);
    if (sum.pass > 0) {
        msg_info("%s: greylist: passed after %" PRIu64 "s (%zu triplet%s "
                 "whitelisted for %" PRIu64 "s)",
                 m->tag, sum.delayed_ms / 1000, sum.pass,
                 sum.pass == 1 ? "" : "s", gc->gc->expire_white / 1000);
        verdict_note(v, "pass(delayed %" PRIu64 "s)", sum.delayed_ms / 1000);
    } else {
        verdict_note(v, "pass(whitelisted)");
    }
    return RM_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* hooks                                                                    */
/* ------------------------------------------------------------------------ */

static enum rm_status
grey_data(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct grey_conf *gc = mconf;

    if (gc->verdict_driven) {
        verdict_note(v, "deferred(spam verdict)");
        return RM_DECLINED;
    }
    return grey_message(gc, m, false, v);
}

enum rm_status
greylist_check_message(struct rm_msg *m, struct rm_verdict *v)
{
    struct grey_conf *gc = reg_find(m->sess->cfg);
    struct rm_verdict mine = {0};
    enum rm_status st;

    if (gc == NULL)
        return RM_CONTINUE;
    reply_init(&mine.r);
    st = grey_message(gc, m, true, &mine);
    switch (st) {
    case RM_FINAL:
        verdict_set(v, mine.r.action, mine.r.rcode, mine.r.xcode, mine.r.text);
        verdict_note(v, "%s", mine.note);
        msg_info("%s: greylist: greylisted on the spam verdict", m->tag);
        break;
    case RM_ERROR:
        if (grey_on_failure(gc->cfg) == RM_ON_FAILURE_TEMPFAIL) {
            msg_warn("%s: greylist: %s; redis.on_failure = tempfail", m->tag,
                     mine.note);
            verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1", GREY_TEMPFAIL_TEXT);
            verdict_note(v, "greylist %s -> tempfail", mine.note);
            st = RM_FINAL;
        } else {
            msg_warn("%s: greylist: %s; redis.on_failure = %s: not greylisted",
                     m->tag, mine.note,
                     gc->cfg->redis.on_failure == RM_ON_FAILURE_ACCEPT
                         ? "accept"
                         : "continue");
            st = RM_CONTINUE;
        }
        break;
    default:
        msg_debug("%s: greylist: on the spam verdict: %s", m->tag,
                  mine.note ? mine.note : "pass");
        st = RM_CONTINUE;
        break;
    }
    reply_clear(&mine.r);
    free(mine.note);
    return st;
}

const struct rm_module rm_greylist_module = {
    .name = "greylist",
    .enabled = grey_enabled,
    .init = grey_init,
    .fini = grey_fini,
    .on_failure = grey_on_failure,
    .on_data = grey_data,
    .stages = RM_STAGE_BIT(RM_STAGE_DATA),
    .actions = 0,
    .flags = RM_MOD_SKIP_AUTH,
};
