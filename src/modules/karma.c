/*
 * NAME
 *   karma - reputation from Karmasphere (BQuery) servers and DNS lists
 *
 * DESCRIPTION
 *   Runs when a karma { } section is written, enable is on, and it names
 *   servers or at least one dnslist { }. Authenticated senders, clients
 *   in our_networks and unix-socket clients are skipped by the pipeline
 *   (RM_MOD_SKIP_AUTH: a roaming user's dial-up address says nothing
 *   about the mail), and clients in karma { whitelist } by the module.
 *
 *   Identities (proto/karma.h): the client address (ip4/ip6,
 *   smtp.client-ip), the HELO name (smtp.env.helo; not an address
 *   literal), the envelope sender (smtp.env.mail-from; not <>) and, with
 *   use_header_from, the From: header address (smtp.header.from.address).
 *
 *   Sources, one score:
 *     - ONE BQuery per message to the servers pool (feedset, feeds,
 *       combiner, login/credential; UDP, or TCP when transport = tcp or
 *       the query is too large; modules/karma_client.h): its verdict value;
 *     - each dnslist { } (modules/karma_dnsl.h): IP lists query the client
 *       address (RFC 5782 2.1/2.4), domain lists the HELO, envelope sender
 *       and header From domains its identities select (RFC 5782 3); a list
 *       that lists any of them adds its weight once; the TXT record of a
 *       listed name is kept as the reason.
 *   score = clamp(karma value + sum of the weights of the lists that
 *   list the message, -1000, 1000). verdict = good when score >
 *   pass_threshold, bad when score < fail_threshold, else neutral.
 *
 *   What the score does: below reject_threshold the message is rejected
 *   with "550 5.7.1 karma scored too low: <score> (<reasons>)"; else below
 *   tempfail_threshold it gets "451 4.7.1 ..."; otherwise it is only
 *   tagged. Every checked message that is not refused gets the header
 *   (karma { header }, "X-Karma" by default):
 *     X-Karma: score=-1000 verdict=bad feedset=karmasphere.email-sender
 *      identities=ip4:192.0.2.1,domain:mail.example,email:a@example.org
 *      comment=abuseat.cbl: if-bad(0) => return-bad(1.0)
 *   (feedset only when servers are used; error=<timeout|refused|
 *   bad-reply|server-error|dead|no-server> when the server failed; comment,
 *   last because it holds spaces, only when some source gave a reason).
 *   Copies of that header the message arrived with are removed, so a
 *   sender cannot hand a verdict of its own to the filters downstream.
 *   One info line per message logs the same.
 *
 *   Failures: a BQuery that gets no usable answer (timeout, refusal,
 *   garbage, an error reply such as bad credentials) is a failure for
 *   the member(s) involved, reported to the pool, and for the message
 *   on_failure applies: continue (the default) goes on without a
 *   Karmasphere value: the DNS lists still count and the header says
 *   error=...; tempfail and accept are the pipeline's (RM_ERROR). A
 *   DNS list that does not answer (timeout, SERVFAIL) is no opinion and
 *   never a reason to refuse mail. Reputation never holds mail up longer
 *   than timeout, and while every server of the pool is dead no query is
 *   sent at all (error=dead) until the pool offers a server again.
 *
 *   Where the network time goes: the work starts at end of headers (the
 *   header From is known then): the UDP query is sent and the DNS list
 *   lookups start on a helper thread, and the module returns at once. At
 *   end of message the reply is collected (usually already waiting in the
 *   socket) and the DNS results are read. So the round trips overlap the
 *   body transfer and the checks that run before karma, instead of adding
 *   to them; at EOM karma waits at most what is left of timeout (see
 *   karma_client.h for the retransmission schedule). A TCP query runs
 *   whole at EOM. If end of headers was not seen, everything runs at EOM.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Per generation (init): the pool, the resolver and the list table,
 *   read-only afterwards and freed by fini. Per message (msg_state): the
 *   exchange, the DNS set and the identities text, freed by msg_free,
 *   also when the message is aborted after end of headers. The DNS
 *   helper thread holds its own reference on the generation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/module.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/karma_client.h"
#include "modules/karma_dnsl.h"
#include "modules/modules.h"
#include "net/dns.h"
#include "net/io.h"
#include "proto/hdr.h"
#include "proto/karma.h"

#define KARMA_ADDR_MAX 320 /* a header From address */
#define KARMA_COMMENT_MAX 600
#define KARMA_REPLY_TEXT_MAX 400
#define KARMA_IDS_MAX 2048

struct karma_conf {
    const struct rm_cfg_karma *c;
    struct rm_upstream_pool *pool; /* NULL: no servers */
    struct rm_dns *dns;            /* NULL: no lists */
    struct rm_karma_dnsl_list *lists;
    size_t n_lists;
    bool tcp;
    bool hfrom;         /* some source reads the header From */
    const char *header; /* NULL: none */
    uint32_t stages, actions;
};

struct karma_msg {
    bool started;
    bool whitelisted;
    bool queried; /* a BQuery was started */
    struct rm_karma_x x;
    struct rm_karma_dnsl *dnsl;
    uint64_t deadline; /* for the DNS lists */
    char *ids;         /* "ip4:192.0.2.1,domain:..." */
};

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static bool
karma_enabled(const struct rm_config *cfg)
{
    return cfg_present(cfg, RM_SEC_karma) && cfg->karma.enable &&
           (cfg->karma.servers.n > 0 || cfg->n_karma_dnslist > 0);
}

static enum rm_on_failure
karma_on_failure(const struct rm_config *cfg)
{
    return (enum rm_on_failure)cfg->karma.on_failure;
}

static void
karma_fini(void *mconf)
{
    struct karma_conf *kc = mconf;
    size_t i;

    if (kc == NULL)
        return;
    upstream_pool_free(kc->pool);
    dns_free(kc->dns);
    for (i = 0; i < kc->n_lists; i++)
        free(kc->lists[i].zone);
    free(kc->lists);
    free(kc);
}

/* list_init - one dnslist { } into l; -1 with a diag line */
static int
list_init(const struct rm_cfg_karma_dnslist *d, size_t i,
          struct rm_karma_dnsl_list *l, bool *hfrom,
          const struct rm_config *cfg, struct rm_diag *diag)
{
    const char *z = d->zone ? d->zone : "";
    size_t j, n;

    while (*z == '.')
        z++;
    n = strlen(z);
    while (n > 0 && z[n - 1] == '.')
        n--;
    if (n == 0) {
        module_diag(diag, "%s: error: karma: dnslist %zu has no zone",
                    cfg_where(cfg, RM_SEC_karma_dnslist, i, "zone"), i + 1);
        return -1;
    }
    l->zone = xstrndup(z, n);
    l->ip = d->type == 0;
    l->weight = (int)d->weight;
    l->listed = d->listed;
    for (j = 0; !l->ip && j < d->identities.n; j++) {
        const char *id = d->identities.v[j];

        if (strcmp(id, "helo") == 0) {
            l->ids |= RM_KARMA_ID_HELO;
        } else if (strcmp(id, "from") == 0) {
            l->ids |= RM_KARMA_ID_FROM;
        } else if (strcmp(id, "header_from") == 0) {
            l->ids |= RM_KARMA_ID_HFROM;
            *hfrom = true;
        } else {
            module_diag(diag,
                        "%s: error: karma: dnslist %s: unknown identity "
                        "'%s' (expected helo, from or header_from)",
                        cfg_where(cfg, RM_SEC_karma_dnslist, i, "identities"),
                        l->zone, id);
            return -1;
        }
    }
    if (!l->ip && l->ids == 0) {
        module_diag(
            diag, "%s: error: karma: dnslist %s: no identities to query",
            cfg_where(cfg, RM_SEC_karma_dnslist, i, "identities"), l->zone);
        return -1;
    }
    return 0;
}

static int
karma_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const struct rm_cfg_karma *c = &cfg->karma;
    struct karma_conf *kc = xcalloc(1, sizeof(*kc));
    struct rm_cfg_dns dc;
    char err[256];
    size_t i;

    kc->c = c;
    kc->tcp = c->transport == 1;
    if (c->header != NULL && c->header[0] != '\0') {
        if (!hdr_name_valid(c->header, strlen(c->header))) {
            module_diag(diag,
                        "%s: error: karma: header '%s' is not a valid "
                        "header name",
                        cfg_where(cfg, RM_SEC_karma, 0, "header"), c->header);
            goto fail;
        }
        kc->header = c->header;
    }
    if (c->pass_threshold < c->fail_threshold) {
        module_diag(diag,
                    "%s: error: karma: pass_threshold (%lld) is below "
                    "fail_threshold (%lld)",
                    cfg_where(cfg, RM_SEC_karma, 0, "pass_threshold"),
                    (long long)c->pass_threshold, (long long)c->fail_threshold);
        goto fail;
    }
    for (i = 0; i < c->servers.n; i++) {
        if (c->servers.v[i].path != NULL || c->servers.v[i].host == NULL) {
            module_diag(diag,
                        "%s: error: karma: server '%s': karma servers are "
                        "host[:port]",
                        cfg_where(cfg, RM_SEC_karma, 0, "servers"),
                        c->servers.v[i].text ? c->servers.v[i].text : "?");
            goto fail;
        }
    }
    if (c->servers.n > 0) {
        kc->pool = upstream_pool_new("karma", &c->servers,
                                     RM_UPSTREAM_ROUND_ROBIN, c->error_time,
                                     (unsigned)c->maxerrors, c->dead_time);
        kc->hfrom = c->use_header_from;
    }
    if (cfg->n_karma_dnslist > 0) {
        kc->lists = xcalloc(cfg->n_karma_dnslist, sizeof(*kc->lists));
        for (i = 0; i < cfg->n_karma_dnslist; i++) {
            kc->n_lists++; /* fini frees what list_init got to */
            if (list_init(&cfg->karma_dnslist[i], i, &kc->lists[i], &kc->hfrom,
                          cfg, diag) < 0)
                goto fail;
        }
        /* a lookup may never outlast the module's own deadline */
        dc = cfg->dns;
        if (dc.timeout == 0 || dc.timeout > c->timeout)
            dc.timeout = c->timeout;
        if (dns_new(&dc, &kc->dns, err, sizeof(err)) < 0) {
            module_diag(diag, "%s: error: karma: %s",
                        cfg_where(cfg, RM_SEC_dns, 0, "nameserver"), err);
            goto fail;
        }
    }
    kc->stages = RM_STAGE_BIT(RM_STAGE_EOH) | RM_STAGE_BIT(RM_STAGE_EOM);
    /* headers: the From address, and copies of our header to remove */
    if (kc->hfrom || kc->header)
        kc->stages |= RM_STAGE_BIT(RM_STAGE_HEADER);
    kc->actions = kc->header ? RM_CAN_ADDHDRS | RM_CAN_CHGHDRS : 0;
    *mconf = kc;
    return 0;
fail:
    karma_fini(kc);
    return -1;
}

static void
karma_needs(const void *mconf, uint32_t *stages, uint32_t *actions)
{
    const struct karma_conf *kc = mconf;

    *stages = kc->stages;
    *actions = kc->actions;
}

/* ------------------------------------------------------------------------ */
/* per message                                                              */
/* ------------------------------------------------------------------------ */

static void
karma_msg_free(void *p)
{
    struct karma_msg *st = p;

    karma_x_free(&st->x);
    karma_dnsl_release(st->dnsl);
    free(st->ids);
    free(st);
}

/* ids_text - "type:data,..." of the query's identities, as one clean line
 * for the log and the header (the HELO and the senders are the client's
 * words) */
static char *
ids_text(const struct rm_karma_query *q)
{
    struct pbuf pb = {0};
    char *raw, *clean;
    size_t i, len;

    for (i = 0; i < q->n_ids; i++)
        pbuf_addf(&pb, "%s%s:%s", i ? "," : "",
                  karma_idtype_name(q->ids[i].type), q->ids[i].data);
    if (q->n_ids == 0)
        pbuf_adds(&pb, "none");
    raw = pbuf_take(&pb, &len);
    clean = hdr_text_oneline_dup(raw, len, KARMA_IDS_MAX, RM_HDR_TEXT_UTF8);
    free(raw);
    return clean;
}

static const char *
domain_of(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;

    return at && at[1] ? at + 1 : NULL;
}

/* start - collect the identities, send the query, start the lookups */
static void
start(struct rm_msg *m, struct karma_conf *kc, struct karma_msg *st)
{
    const struct rm_cfg_karma *c = kc->c;
    struct rm_session *s = m->sess;
    struct rm_karma_query q;
    struct rm_karma_dnsl_ids di;
    struct rm_karma_x_opts xo;
    struct pbuf pb = {0};
    char hfrom[KARMA_ADDR_MAX], id[96];
    const char *v;
    size_t i;

    st->started = true;
    if (c->whitelist != NULL && s->has_addr &&
        iplist_match(c->whitelist, &s->addr)) {
        st->whitelisted = true;
        return;
    }
    hfrom[0] = '\0';
    if (kc->hfrom && (v = msg_header(m, "From")) != NULL)
        (void)karma_header_from_address(v, hfrom, sizeof(hfrom));

    /* the id: unique per message (the tag is), readable in server logs */
    snprintf(id, sizeof(id), "rmilter-%s-%lld", m->tag, (long long)time(NULL));
    karma_query_init(&q, id);
    karma_smtp_identities(&q, msg_client_ip(m), s->helo, m->from,
                          c->use_header_from && hfrom[0] ? hfrom : NULL);
    st->ids = ids_text(&q);
    st->deadline = io_now_ms() + c->timeout;

    if (kc->pool != NULL) {
        if (c->feedset != NULL && c->feedset[0] != '\0')
            karma_query_add_feedset(&q, c->feedset);
        for (i = 0; i < c->feeds.n; i++)
            karma_query_add_feed(&q, c->feeds.v[i]);
        if (c->combiner != NULL && c->combiner[0] != '\0')
            karma_query_add_combiner(&q, c->combiner);
        if (c->login != NULL && c->login[0] != '\0')
            karma_query_set_auth(&q, c->login, c->credential);
        if (c->feeds.n > 0)
            q.flags |= RM_KARMA_FL_FACTS; /* extra feeds answer as facts */
        karma_query_encode(&q, &pb);
        memset(&xo, 0, sizeof(xo));
        xo.pool = kc->pool;
        xo.tcp = kc->tcp;
        xo.timeout_ms = c->timeout;
        xo.retries = (unsigned)c->retries;
        xo.feedset = c->feedset;
        xo.tag = m->tag;
        karma_x_init(&st->x, &xo);
        karma_x_start(&st->x, id, pb.pb_data, pb.pb_len);
        st->queried = true;
        pbuf_free(&pb);
    }
    karma_query_free(&q);

    if (kc->n_lists > 0) {
        memset(&di, 0, sizeof(di));
        di.has_ip = s->has_addr && !s->local;
        di.ip = s->addr;
        di.helo = s->helo;
        di.from_domain = domain_of(m->from);
        di.hfrom_domain = domain_of(hfrom);
        karma_dnsl_start(&st->dnsl, s->cfg, kc->dns, kc->lists, kc->n_lists,
                         &di, st->deadline, m->tag);
    }
}

static struct karma_msg *
state(struct rm_msg *m)
{
    void **slot = msg_state(m);

    if (*slot == NULL)
        *slot = xcalloc(1, sizeof(struct karma_msg));
    return *slot;
}

static enum rm_status
karma_eoh(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    struct karma_msg *st = state(m);

    (void)v;
    if (!st->started)
        start(m, mconf, st);
    return RM_CONTINUE;
}

/* The outcome of the sources, for the score, the header and the log. */
struct outcome {
    bool karma_ok;
    int karma_value;
    const char *error; /* header token, or NULL */
    char why[256];     /* the failure for the log */
    struct pbuf comment;
    struct pbuf lists; /* log: " zone(ip)=127.0.0.2" ... */
    struct pbuf kpart; /* log: " karma=-1000 (server)" */
    int score;
};

static const char *
error_token(int rc)
{
    switch (-rc) {
    case RM_KARMA_X_TIMEOUT:
        return "timeout";
    case RM_KARMA_X_REFUSED:
        return "refused";
    case RM_KARMA_X_BADREPLY:
        return "bad-reply";
    case RM_KARMA_X_ERRREPLY:
        return "server-error";
    case RM_KARMA_X_DEAD:
        return "dead";
    default:
        return "no-server";
    }
}

static void
comment_add(struct outcome *o, const char *text)
{
    if (text == NULL || *text == '\0')
        return;
    if (o->comment.pb_len > 0)
        pbuf_adds(&o->comment, "; ");
    pbuf_adds(&o->comment, text);
}

/* collect_karma - the BQuery's answer into o; -1 if it failed */
static int
collect_karma(struct karma_msg *st, const char *tag, struct outcome *o)
{
    struct rm_karma_reply r;
    char msg[160];
    int rc;

    rc = karma_x_finish(&st->x, &r, o->why, sizeof(o->why));
    if (rc == 0) {
        o->karma_ok = true;
        o->karma_value = r.has_verdict ? karma_clamp(r.value) : 0;
        if (r.has_verdict && r.data != NULL && r.data[0] != '\0')
            comment_add(o, r.data);
        if (r.message != NULL && r.message[0] != '\0') {
            hdr_text_oneline(r.message, strlen(r.message), msg, sizeof(msg), 0);
            msg_info("%s: karma: server %s: %s", tag, karma_x_server(&st->x),
                     msg);
        }
    } else {
        o->error = error_token(rc);
        if (rc == -RM_KARMA_X_ERRREPLY)
            msg_warn("%s: karma: server %s answered with an error: %s", tag,
                     karma_x_server(&st->x), o->why);
    }
    karma_reply_free(&r);
    return rc == 0 ? 0 : -1;
}

/* collect_lists - the DNS list results into o; returns the sum of the
 * weights of the lists that list the message (each list once) */
static int
collect_lists(const struct karma_conf *kc, struct karma_msg *st,
              const char *tag, struct outcome *o)
{
    struct rm_karma_dnsl_job jobs[RM_KARMA_DNSL_MAX_JOBS];
    bool *counted;
    char what[48], text[320];
    uint64_t now = io_now_ms();
    size_t n, i;
    int sum = 0;

    if (st->dnsl == NULL)
        return 0;
    if (karma_dnsl_wait(st->dnsl, st->deadline > now ? st->deadline : now) < 0)
        msg_info("%s: karma: DNS lists did not all answer in time", tag);
    n = karma_dnsl_snapshot(st->dnsl, jobs, RM_KARMA_DNSL_MAX_JOBS);
    counted = xcalloc(kc->n_lists ? kc->n_lists : 1, sizeof(*counted));
    for (i = 0; i < n; i++) {
        const struct rm_karma_dnsl_job *j = &jobs[i];
        const struct rm_karma_dnsl_list *l = &kc->lists[j->list];

        karma_dnsl_ids_text(j->ids, what, sizeof(what));
        if (!j->listed) {
            if (j->rc != 0 && !dns_not_found(j->rc))
                pbuf_addf(&o->lists, " %s(%s)=%s", l->zone, what,
                          j->rc == RM_KARMA_DNSL_NOTRUN ? "no-answer"
                                                        : "error");
            continue;
        }
        pbuf_addf(&o->lists, " %s(%s)=%s", l->zone, what, j->code);
        if (counted[j->list])
            continue;
        counted[j->list] = true;
        sum += l->weight;
        if (j->reason != NULL)
            snprintf(text, sizeof(text), "%s: %s", l->zone, j->reason);
        else
            snprintf(text, sizeof(text), "%s: listed (%s %s)", l->zone,
                     j->ident, j->code);
        comment_add(o, text);
    }
    for (i = 0; i < n; i++)
        free(jobs[i].reason);
    free(counted);
    return sum;
}

/* remove_forged - delete every copy of our header the message came with
 * (a sender must not be able to hand downstream filters a verdict), last
 * first so that the occurrence indexes stay valid */
static void
remove_forged(struct rm_msg *m, const char *name, struct rm_verdict *v)
{
    unsigned n = 0;
    size_t i;

    for (i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            n++;
    if (n > 0)
        msg_info("%s: karma: removing %u %s header%s the message came with",
                 m->tag, n, name, n > 1 ? "s" : "");
    for (; n > 0; n--)
        verdict_mod(v, RM_MOD_CHANGE_HEADER, n, name, NULL, 0);
}

static const char *
verdict_word(const struct rm_cfg_karma *c, int score)
{
    if (score > c->pass_threshold)
        return "good";
    if (score < c->fail_threshold)
        return "bad";
    return "neutral";
}

static enum rm_status
karma_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    struct karma_conf *kc = mconf;
    const struct rm_cfg_karma *c = kc->c;
    struct karma_msg *st = state(m);
    struct outcome o;
    struct pbuf hv = {0};
    char *comment, *value, *text;
    const char *word;
    long sum = 0;
    enum rm_status rs = RM_CONTINUE;

    if (!st->started)
        start(m, kc, st);
    if (st->whitelisted) {
        verdict_note(v, "skipped(whitelist)");
        return RM_DECLINED;
    }
    memset(&o, 0, sizeof(o));
    if (st->queried && collect_karma(st, m->tag, &o) < 0 &&
        c->on_failure != RM_ON_FAILURE_CONTINUE) {
        verdict_note(v, "server %s", o.why);
        rs = RM_ERROR;
        goto out;
    }
    if (o.karma_ok)
        sum = o.karma_value;
    sum += collect_lists(kc, st, m->tag, &o);
    o.score = karma_clamp(sum);
    word = verdict_word(c, o.score);
    comment = hdr_text_oneline_dup(o.comment.pb_data ? o.comment.pb_data : "",
                                   o.comment.pb_len, KARMA_COMMENT_MAX,
                                   RM_HDR_TEXT_UTF8);

    if (st->queried && o.karma_ok)
        pbuf_addf(&o.kpart, " karma=%d (%s)", o.karma_value,
                  karma_x_server(&st->x));
    else if (st->queried)
        pbuf_addf(&o.kpart, " karma=failed (%s)", o.why);
    msg_info("%s: karma: score=%d verdict=%s%s identities=%s%s%s%s", m->tag,
             o.score, word, o.kpart.pb_data ? o.kpart.pb_data : "", st->ids,
             o.lists.pb_data ? o.lists.pb_data : "",
             comment[0] ? " comment=" : "", comment);

    if (kc->header != NULL) {
        pbuf_addf(&hv, "score=%d verdict=%s", o.score, word);
        if (st->queried && c->feedset && c->feedset[0])
            pbuf_addf(&hv, " feedset=%s", c->feedset);
        pbuf_addf(&hv, " identities=%s", st->ids);
        if (o.error != NULL)
            pbuf_addf(&hv, " error=%s", o.error);
        if (comment[0] != '\0')
            pbuf_addf(&hv, " comment=%s", comment);
        remove_forged(m, kc->header, v);
        value =
            hdr_value_sanitize(hv.pb_data, hv.pb_len, strlen(kc->header), 0, 0);
        verdict_add_header(v, kc->header, value);
        free(value);
        pbuf_free(&hv);
    }

    if (o.score < c->reject_threshold || o.score < c->tempfail_threshold) {
        bool reject = o.score < c->reject_threshold;

        text = comment[0] ? xasprintf("karma scored too low: %d (%s)", o.score,
                                      comment)
                          : xasprintf("karma scored too low: %d", o.score);
        value =
            hdr_text_oneline_dup(text, strlen(text), KARMA_REPLY_TEXT_MAX, 0);
        rs = verdict_set(v, reject ? RM_ACT_REJECT : RM_ACT_TEMPFAIL,
                         reject ? "550" : "451", reject ? "5.7.1" : "4.7.1",
                         value);
        verdict_note(v, "%s(score %d)", reject ? "reject" : "tempfail",
                     o.score);
        free(value);
        free(text);
    } else {
        verdict_note(v, "score=%d %s%s%s", o.score, word,
                     o.error ? " error=" : "", o.error ? o.error : "");
    }
    free(comment);
out:
    pbuf_free(&o.comment);
    pbuf_free(&o.lists);
    pbuf_free(&o.kpart);
    return rs;
}

const struct rm_module rm_karma_module = {
    .name = "karma",
    .enabled = karma_enabled,
    .init = karma_init,
    .fini = karma_fini,
    .on_failure = karma_on_failure,
    .on_eoh = karma_eoh,
    .on_eom = karma_eom,
    .msg_free = karma_msg_free,
    .stages = RM_STAGE_BIT(RM_STAGE_HEADER) | RM_STAGE_BIT(RM_STAGE_EOH) |
              RM_STAGE_BIT(RM_STAGE_EOM),
    .actions = RM_CAN_ADDHDRS | RM_CAN_CHGHDRS,
    .needs = karma_needs,
    .flags = RM_MOD_SKIP_AUTH,
    /* the EOH hook only starts the queries */
    .reply_stages = RM_STAGE_BIT(RM_STAGE_EOM),
};
