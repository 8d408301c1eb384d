/*
 * NAME
 *   spamd - spam scanning with SpamAssassin's spamd or rspamd
 *
 * DESCRIPTION
 *   spamd { servers } is one upstream pool ("spamd": round robin,
 *   error_time / maxerrors / dead_time). Each member speaks the protocol
 *   its entry names, as in the original: "r:host[:port]" or "r:/path" is
 *   rspamd (POST /checkv2 with the envelope in headers, proto/rspamd.h),
 *   anything else SpamAssassin's spamd (SYMBOLS over SPAMC/1.5,
 *   proto/spamd.h). The request is built once the member is known (in the
 *   first fill, net/batch.h), so a mixed pool works and a failover may
 *   change protocol.
 *
 *   At EOM the module takes part in the parallel EOM phase
 *   (core/module.h): one exchange streams the spooled message straight
 *   from the spool, bounded by results_timeout (each connect by
 *   connect_timeout); a member that does not connect is replaced by the
 *   next one, up to 1 + retry_count members. retry_timeout is not used:
 *   a pause would hold the whole phase, so retries go to the next member
 *   at once. SpamAssassin gets the whole spool, the trace prologue
 *   included (Return-Path and our Received line are what its relay and
 *   envelope rules read); rspamd gets the message from its first header
 *   and the envelope as request headers (IP, Helo, Hostname, From, Rcpt,
 *   Queue-Id, User, MTA-Tag, Settings-ID).
 *
 *   The verdict maps to an action as spamd_map.h describes (reject 554
 *   5.7.1 with rspamd's smtp_message or reject_message; soft reject 451
 *   4.7.1; greylist through greylist_check_message; add header;
 *   rewrite subject; discard; quarantine), and m->spam_action records it
 *   for the beanstalk module, which this module asks for a spam copy
 *   (beanstalk_spam_copy) before it returns a reject or discard, since
 *   the pipeline stops there. Tempfails (soft reject, greylisted) are
 *   not copied: the message comes back.
 *
 *   Whatever the action, a scan also brings (dropped with the message
 *   when it is refused):
 *     - the extended headers, with extended_spam_headers for senders
 *       that are not authenticated, or when every recipient is in
 *       extended_headers_rcpt: X-Spamd-Result (spamd_map.h), and
 *       X-Rspamd-Server, X-Rspamd-Scan-Time, X-Rspamd-Queue-ID from
 *       rspamd or X-Spamd-Server, X-Spamd-Scan-Time from SpamAssassin;
 *       copies of these headers that came with the message are deleted
 *       first, so a sender cannot forge them;
 *     - rspamd's milter block: remove_headers (deleted first) and
 *       add_headers (appended, or inserted at "order");
 *     - rspamd's DKIM-Signature, inserted at the top of the headers;
 *     - trace_addr as an added recipient when trace_symbol fired.
 *   Every value from a scanner reaches a header through the sanitizer
 *   (proto/rspamd.h does rspamd's; spamd_map.h the X-Spamd-Result).
 *
 *   Not scanned (RM_DECLINED, noted): replies to our own mail
 *   (m->is_reply), clients in spamd { whitelist }, messages over spamd {
 *   max_size }; the pipeline also skips authenticated senders unless
 *   strict_auth, messages over the global max_size and messages whose
 *   recipients are all in the global whitelist.
 *
 *   Failures (refused, timeout, a bad or error reply, HTTP status other
 *   than 200, rspamd's error object) are RM_ERROR: spamd { on_failure }
 *   (default continue: the message goes on unscanned; spamd_temp_fail =
 *   yes means tempfail) and a failure for the member's pool.
 *
 *   rspamd_metric: /checkv2 replies carry one verdict; a metric other
 *   than "default" is warned about at init and has no effect.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct sp_conf belongs to its config generation and is read-only
 *   after init (the pool is thread-safe). struct sp_msg is one message's
 *   exchange state in its msg_state slot, used by the session's thread
 *   only and freed by msg_free.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/module.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/beanstalk.h"
#include "modules/greylist.h"
#include "modules/modules.h"
#include "modules/spamd_map.h"
#include "net/batch.h"
#include "net/io.h"
#include "net/upstream.h"
#include "proto/hdr.h"
#include "proto/http.h"
#include "proto/rspamd.h"
#include "proto/spamd.h"

/* Cap on the log line listing the symbols (the original's 900). */
#define SP_SYMLOG_MAX 900
/* Reply text used for a soft reject without rspamd's own message. */
#define SP_SOFT_TEXT "Try again later"
/* Most SpamAssassin symbols kept for the extended header. */
#define SP_SA_SYMS 256

struct sp_conf {
    const struct rm_cfg_spamd *sc;
    struct rm_upstream_pool *pool;
    unsigned attempts;
    bool greylist; /* greylisting runs on the verdict (greylist.h) */
};

/* One message's exchange. */
struct sp_msg {
    struct rm_msg *m;
    const struct sp_conf *conf;
    struct rm_batch_ex *ex; /* the pipeline's slot, valid until finish */
    bool chosen;            /* the protocol is fixed (the member known) */
    bool rspamd;
    char *head; /* the request head */
    size_t head_len, head_off;
    struct rm_batch_range range;
    struct rm_http_reader http;
    struct rm_spamd_reader sa;
    struct rm_rspamd_reply rr;
    char err[256]; /* why a reply was refused */
};

/* ------------------------------------------------------------------------ */
/* the request                                                              */
/* ------------------------------------------------------------------------ */

static ssize_t
sp_pread(void *src, uint64_t off, void *buf, size_t len)
{
    return spool_read(src, off, buf, len);
}

/* sp_rspamd_head - the /checkv2 head for m */
static int
sp_rspamd_head(struct sp_msg *sm, uint64_t content_len)
{
    struct rm_msg *m = sm->m;
    const struct rm_session *s = m->sess;
    struct rm_rspamd_env env;
    const char **rcpt;
    const char *qid = msg_qid(m), *host = msg_client_host(m);
    size_t i;
    int rc;

    memset(&env, 0, sizeof(env));
    rcpt = xcalloc(m->n_rcpts ? m->n_rcpts : 1, sizeof(*rcpt));
    for (i = 0; i < m->n_rcpts; i++)
        rcpt[i] = m->rcpts[i].addr;
    env.re_ip = msg_client_ip(m)[0] ? msg_client_ip(m) : NULL;
    env.re_helo = s->helo && s->helo[0] ? s->helo : NULL;
    env.re_from = m->from;
    env.re_rcpt = rcpt;
    env.re_nrcpt = m->n_rcpts;
    env.re_queue_id = strcmp(qid, "NOQUEUE") != 0 ? qid : NULL;
    env.re_user = m->user;
    env.re_mta_tag = msg_macro(m, "{daemon_name}");
    env.re_hostname = host[0] != '[' ? host : NULL;
    env.re_settings_id =
        sm->conf->sc->settings_id && sm->conf->sc->settings_id[0]
            ? sm->conf->sc->settings_id
            : NULL;
    env.re_content_length = content_len;
    rc = rspamd_request_build(&env, &sm->head, &sm->head_len);
    free(rcpt);
    return rc;
}

/* sp_choose - fix the protocol by the member in use and build the head */
static int
sp_choose(struct sp_msg *sm)
{
    const struct rm_upstream *up = sm->ex->ex_res.br_up;
    const struct rm_server *srv = up ? upstream_server(up) : NULL;
    struct rm_spool *sp = sm->m->spool;
    char buf[RM_SPAMD_REQ_MAX];
    int rc;

    sm->chosen = true;
    sm->rspamd = srv != NULL && srv->rspamd;
    sm->range.rg_pread = sp_pread;
    sm->range.rg_src = sp;
    sm->range.rg_end = spool_size(sp);
    if (sm->rspamd) {
        sm->range.rg_off = spool_offset(sp, RM_SPOOL_MESSAGE);
        http_reader_init(&sm->http, 0);
        return sp_rspamd_head(sm, sm->range.rg_end - sm->range.rg_off);
    }
    sm->range.rg_off = 0;
    spamd_reader_init(&sm->sa, 0);
    rc = spamd_request_build(RM_SPAMD_SYMBOLS, sm->range.rg_end, NULL, buf,
                             sizeof(buf), &sm->head_len);
    if (rc < 0)
        return rc;
    sm->head = xmalloc(sm->head_len);
    memcpy(sm->head, buf, sm->head_len);
    return 0;
}

/* sp_fill - the head, then the message from the spool */
static int
sp_fill(void *ud, void *buf, size_t size, size_t *len)
{
    struct sp_msg *sm = ud;
    size_t n;
    int rc;

    if (!sm->chosen && (rc = sp_choose(sm)) < 0)
        return rc;
    if (sm->head_off < sm->head_len) {
        n = sm->head_len - sm->head_off;
        if (n > size)
            n = size;
        memcpy(buf, sm->head + sm->head_off, n);
        sm->head_off += n;
        *len = n;
        return 0;
    }
    return batch_fill_range(&sm->range, buf, size, len);
}

/* sp_feed_rspamd - an HTTP response carrying the JSON verdict */
static int
sp_feed_rspamd(struct sp_msg *sm, const void *data, size_t len, bool eof)
{
    int rc = http_reader_feed(&sm->http, data, len, eof);

    if (rc <= 0)
        return rc;
    if (sm->http.hr_status != 200) {
        snprintf(sm->err, sizeof(sm->err), "HTTP %d %s", sm->http.hr_status,
                 sm->http.hr_reason);
        return RM_BATCH_DONE_FAIL;
    }
    rc = rspamd_reply_parse(
        sm->http.hr_body.pb_data ? sm->http.hr_body.pb_data : "",
        sm->http.hr_body.pb_len, &sm->rr, sm->err, sizeof(sm->err));
    if (rc == -EREMOTEIO) {
        snprintf(sm->err, sizeof(sm->err), "rspamd error: %s",
                 sm->rr.rr_error ? sm->rr.rr_error : "?");
        return RM_BATCH_DONE_FAIL;
    }
    return rc < 0 ? -EPROTO : RM_BATCH_DONE;
}

/* sp_feed_sa - a SPAMD/1.x reply */
static int
sp_feed_sa(struct sp_msg *sm, const void *data, size_t len, bool eof)
{
    int rc = spamd_reader_feed(&sm->sa, data, len, eof);

    if (rc <= 0)
        return rc;
    if (sm->sa.sd_reply.sr_status != RM_SPAMD_OK) {
        snprintf(sm->err, sizeof(sm->err), "spamd error %d: %s",
                 sm->sa.sd_reply.sr_code, sm->sa.sd_reply.sr_text);
        return RM_BATCH_DONE_FAIL;
    }
    if (!sm->sa.sd_reply.sr_has_verdict) {
        snprintf(sm->err, sizeof(sm->err), "no Spam: header in the reply");
        return -EPROTO;
    }
    return RM_BATCH_DONE;
}

static int
sp_feed(void *ud, const void *data, size_t len, bool eof)
{
    struct sp_msg *sm = ud;
    int rc;

    /* A server may speak before the request is written (garbage). */
    if (!sm->chosen && (rc = sp_choose(sm)) < 0)
        return rc;
    return sm->rspamd ? sp_feed_rspamd(sm, data, len, eof)
                      : sp_feed_sa(sm, data, len, eof);
}

static void
sp_msg_free(void *p)
{
    struct sp_msg *sm = p;

    if (sm == NULL)
        return;
    if (sm->chosen && sm->rspamd)
        http_reader_fini(&sm->http);
    else if (sm->chosen)
        spamd_reader_fini(&sm->sa);
    rspamd_reply_free(&sm->rr);
    free(sm->head);
    free(sm);
}

/* ------------------------------------------------------------------------ */
/* the verdict                                                              */
/* ------------------------------------------------------------------------ */

/* A scan's result, whichever protocol. */
struct sp_result {
    enum rm_spam_verdict verdict;
    struct rm_spam_report rep;
    struct rm_spam_sym *syms; /* owned; names point into the reply */
    const char *smtp_message; /* rspamd's, or NULL */
    const char *subject;      /* rspamd's, or NULL */
};

/* sp_result_rspamd - from rspamd's parsed reply */
static void
sp_result_rspamd(struct sp_msg *sm, struct sp_result *res)
{
    const struct rm_rspamd_reply *rr = &sm->rr;
    bool known = true;
    size_t i;

    /* is_skipped only says rspamd stopped early (a pre-result such as
     * GTUBE's); the action it sends still holds. */
    if (rr->rr_action_id == RM_RSPAMD_OTHER)
        res->verdict = spamd_map_verdict_parse(rr->rr_action, &known);
    else
        res->verdict = spamd_map_verdict_parse(
            rspamd_action_name(rr->rr_action_id), &known);
    if (!known)
        msg_warn("%s: spamd: rspamd action \"%s\" is unknown; taken as no "
                 "action",
                 sm->m->tag, rr->rr_action ? rr->rr_action : "");
    res->rep.score = rr->rr_score;
    res->rep.required = rr->rr_required_score;
    res->rep.is_spam =
        res->verdict == RM_SV_REJECT ||
        (rr->rr_required_score > 0 && rr->rr_score >= rr->rr_required_score);
    res->syms =
        xcalloc(rr->rr_nsymbols ? rr->rr_nsymbols : 1, sizeof(*res->syms));
    for (i = 0; i < rr->rr_nsymbols; i++) {
        res->syms[i].name = rr->rr_symbols[i].rs_name;
        res->syms[i].score = rr->rr_symbols[i].rs_score;
        res->syms[i].has_score = true;
        res->syms[i].options =
            (const char *const *)rr->rr_symbols[i].rs_options;
        res->syms[i].n_options = rr->rr_symbols[i].rs_noptions;
    }
    res->rep.syms = res->syms;
    res->rep.n_syms = rr->rr_nsymbols;
    res->smtp_message = rr->rr_smtp_message;
    res->subject = rr->rr_subject;
}

/* sp_result_sa - from SpamAssassin's reply: the names are copied out of
 * the reader's buffer (they are not NUL-terminated there) */
static void
sp_result_sa(struct sp_msg *sm, struct sp_result *res, char ***names)
{
    const struct rm_spamd_reply *r = &sm->sa.sd_reply;
    const char *name;
    size_t pos = 0, len, n = 0;

    res->verdict = r->sr_is_spam ? RM_SV_REJECT : RM_SV_NO_ACTION;
    res->rep.is_spam = r->sr_is_spam;
    res->rep.score = r->sr_score;
    res->rep.required = r->sr_threshold;
    res->syms = xcalloc(SP_SA_SYMS, sizeof(*res->syms));
    *names = xcalloc(SP_SA_SYMS, sizeof(**names));
    while (n < SP_SA_SYMS && spamd_symbols_next(r, &pos, &name, &len)) {
        (*names)[n] = hdr_text_oneline_dup(name, len, RM_RSPAMD_NAME_MAX, 0);
        res->syms[n].name = (*names)[n];
        n++;
    }
    res->rep.syms = res->syms;
    res->rep.n_syms = n;
}

/* sp_log_symbols - one info line: verdict, score and symbols, capped */
static void
sp_log_symbols(const struct rm_msg *m, const char *server,
               const struct sp_result *res)
{
    char line[SP_SYMLOG_MAX + 8];
    size_t i, o;
    int k;

    k = snprintf(line, sizeof(line), "%s [%.2f / %.2f]",
                 spamd_map_verdict_name(res->verdict), res->rep.score,
                 res->rep.required);
    o = k > 0 ? (size_t)k : 0;
    for (i = 0; i < res->rep.n_syms && o < SP_SYMLOG_MAX; i++) {
        const struct rm_spam_sym *y = &res->rep.syms[i];

        if (y->has_score)
            k = snprintf(line + o, SP_SYMLOG_MAX - o, "%s%s(%.2f)",
                         i ? ", " : ": ", y->name, y->score);
        else
            k = snprintf(line + o, SP_SYMLOG_MAX - o, "%s%s", i ? ", " : ": ",
                         y->name);
        if (k < 0 || (size_t)k >= SP_SYMLOG_MAX - o) {
            memcpy(line + o, "...", 4);
            break;
        }
        o += (size_t)k;
    }
    msg_info("%s: spamd: %s: %s", m->tag, server, line);
}

/* sp_count_headers - how many headers of m are called name */
static size_t
sp_count_headers(const struct rm_msg *m, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            n++;
    return n;
}

/* sp_delete_headers - delete every header of m called name (idx 0), or
 * rspamd's one index */
static void
sp_delete_headers(const struct rm_msg *m, const char *name, int idx,
                  struct rm_verdict *v)
{
    unsigned ix[64];
    size_t n, k;

    n = spamd_map_del_indexes(idx, sp_count_headers(m, name), ix,
                              sizeof(ix) / sizeof(ix[0]));
    for (k = 0; k < n; k++)
        verdict_mod(v, RM_MOD_CHANGE_HEADER, ix[k], name, NULL, 0);
}

/* sp_extended_wanted - extended headers for this message? */
static bool
sp_extended_wanted(const struct rm_msg *m, const struct rm_cfg_spamd *sc)
{
    size_t i;

    if (sc->extended_spam_headers && !m->authenticated)
        return true;
    if (sc->extended_headers_rcpt.n == 0 || m->n_rcpts == 0)
        return false;
    for (i = 0; i < m->n_rcpts; i++)
        if (!rm_rcptlist_match(&sc->extended_headers_rcpt, m->rcpts[i].raw))
            return false;
    return true;
}

/* The extended headers; copies that came with the message are deleted. */
static const char *const sp_ext_names[] = {
    "X-Spamd-Result",    "X-Rspamd-Server", "X-Rspamd-Scan-Time",
    "X-Rspamd-Queue-ID", "X-Spamd-Server",  "X-Spamd-Scan-Time",
};

/*
 * sp_edits - every header change a scan brings, deletions first: the
 * indexes of a deletion count the message's own headers, so no header
 * this module adds may come before them (it would be the one deleted)
 */
static void
sp_edits(const struct sp_msg *sm, const char *server,
         const struct sp_result *res, bool extended, struct rm_verdict *v)
{
    const struct rm_rspamd_reply *rr = &sm->rr;
    const struct rm_batch_result *r = &sm->ex->ex_res;
    const struct rm_msg *m = sm->m;
    char buf[64], *val;
    size_t i;

    for (i = 0; extended && i < sizeof(sp_ext_names) / sizeof(*sp_ext_names);
         i++)
        sp_delete_headers(m, sp_ext_names[i], 0, v);
    for (i = 0; sm->rspamd && i < rr->rr_ndel; i++)
        sp_delete_headers(m, rr->rr_del[i].hd_name, rr->rr_del[i].hd_index, v);

    if (extended) {
        val = spamd_map_result_header(&res->rep);
        verdict_add_header(v, "X-Spamd-Result", val);
        free(val);
        if (strncmp(server, "r:", 2) == 0)
            server += 2;
        val = hdr_value_sanitize(server, strlen(server), 16, 256, 0);
        verdict_add_header(v, sm->rspamd ? "X-Rspamd-Server" : "X-Spamd-Server",
                           val);
        free(val);
        snprintf(buf, sizeof(buf), "%.2f",
                 (double)(r->br_end_ms - r->br_start_ms) / 1000.0);
        verdict_add_header(
            v, sm->rspamd ? "X-Rspamd-Scan-Time" : "X-Spamd-Scan-Time", buf);
        if (sm->rspamd) {
            val =
                hdr_value_sanitize(msg_qid(m), strlen(msg_qid(m)), 17, 256, 0);
            verdict_add_header(v, "X-Rspamd-Queue-ID", val);
            free(val);
        }
    }
    if (!sm->rspamd)
        return;
    /* rspamd's milter block, then its signatures at the very top */
    for (i = 0; i < rr->rr_nadd; i++) {
        const struct rm_rspamd_hdr_add *a = &rr->rr_add[i];

        if (a->ha_order < 0)
            verdict_add_header(v, a->ha_name, a->ha_value);
        else
            verdict_mod(v, RM_MOD_INSERT_HEADER, (unsigned)a->ha_order,
                        a->ha_name, a->ha_value, strlen(a->ha_value));
    }
    for (i = 0; i < rr->rr_ndkim; i++)
        verdict_mod(v, RM_MOD_INSERT_HEADER, 0, "DKIM-Signature",
                    rr->rr_dkim[i], strlen(rr->rr_dkim[i]));
}

/* sp_trace - trace_addr as a recipient when trace_symbol fired */
static void
sp_trace(const struct rm_cfg_spamd *sc, const struct sp_result *res,
         struct rm_verdict *v)
{
    size_t i;

    if (sc->trace_symbol == NULL || sc->trace_symbol[0] == '\0' ||
        sc->trace_addr == NULL || sc->trace_addr[0] == '\0')
        return;
    for (i = 0; i < res->rep.n_syms; i++) {
        if (strcmp(res->rep.syms[i].name, sc->trace_symbol) == 0) {
            verdict_mod(v, RM_MOD_ADD_RCPT, 0, sc->trace_addr, NULL, 0);
            return;
        }
    }
}

/* sp_subject - rewrite the Subject (add one if there is none) */
static void
sp_subject(const struct rm_msg *m, const struct rm_cfg_spamd *sc,
           const struct sp_result *res, struct rm_verdict *v)
{
    char *subj = spamd_map_subject(sc->spam_subject, msg_header(m, "Subject"),
                                   res->subject);

    if (sp_count_headers(m, "Subject") > 0)
        verdict_mod(v, RM_MOD_CHANGE_HEADER, 1, "Subject", subj, strlen(subj));
    else
        verdict_add_header(v, "Subject", subj);
    free(subj);
}

/* sp_reply_text - rspamd's message or the configured one, one line */
static char *
sp_reply_text(const char *theirs, const char *ours)
{
    const char *t = theirs && theirs[0] ? theirs : ours;

    return hdr_text_oneline_dup(t, strlen(t), 400, 0);
}

/* sp_act - turn the plan into the verdict */
static enum rm_status
sp_act(struct rm_msg *m, const struct sp_conf *conf,
       const struct rm_spam_plan *plan, const struct sp_result *res,
       struct rm_verdict *v)
{
    const struct rm_cfg_spamd *sc = conf->sc;
    enum rm_status st;
    char *text;

    if (plan->greylist) {
        st = greylist_check_message(m, v);
        if (st == RM_FINAL)
            return st;
    }
    switch (plan->act) {
    case RM_SPAM_DO_REJECT:
        text = sp_reply_text(res->smtp_message, sc->reject_message);
        st = verdict_set(v, RM_ACT_REJECT, "554", "5.7.1", text);
        free(text);
        beanstalk_spam_copy(m);
        return st;
    case RM_SPAM_DO_TEMPFAIL:
        text = sp_reply_text(res->smtp_message, SP_SOFT_TEXT);
        st = verdict_set(v, RM_ACT_TEMPFAIL, "451", "4.7.1", text);
        free(text);
        return st;
    case RM_SPAM_DO_DISCARD:
        beanstalk_spam_copy(m);
        return verdict_set(v, RM_ACT_DISCARD, NULL, NULL, NULL);
    case RM_SPAM_DO_QUARANTINE:
        text = sp_reply_text(res->smtp_message, "spam");
        st = verdict_set(v, RM_ACT_QUARANTINE, NULL, NULL, text);
        free(text);
        return st;
    default:
        break;
    }
    if (plan->add_header)
        verdict_add_header(v, sc->spam_header, sc->spam_header_value);
    if (plan->rewrite_subject)
        sp_subject(m, sc, res, v);
    return RM_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* module hooks                                                             */
/* ------------------------------------------------------------------------ */

static bool
sp_enabled(const struct rm_config *cfg)
{
    return cfg->spamd.servers.n > 0;
}

static void
sp_fini(void *p)
{
    struct sp_conf *conf = p;

    if (conf == NULL)
        return;
    upstream_pool_free(conf->pool);
    free(conf);
}

static int
sp_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const struct rm_cfg_spamd *sc = &cfg->spamd;
    struct sp_conf *conf;
    const char *h = sc->spam_header ? sc->spam_header : "";

    if (!hdr_name_valid(h, strlen(h))) {
        module_diag(diag,
                    "%s: error: spamd: spam_header \"%s\" is not a "
                    "valid header name",
                    cfg_where(cfg, RM_SEC_spamd, 0, "spam_header"), h);
        return -1;
    }
    conf = xcalloc(1, sizeof(*conf));
    conf->sc = sc;
    conf->pool = upstream_pool_new("spamd", &sc->servers,
                                   RM_UPSTREAM_ROUND_ROBIN, sc->error_time,
                                   (unsigned)sc->maxerrors, sc->dead_time);
    conf->attempts = 1 + (unsigned)sc->retry_count;
    conf->greylist = greylist_verdict_driven(cfg);
    if (sc->rspamd_metric != NULL && strcmp(sc->rspamd_metric, "default") != 0)
        msg_warn("spamd: rspamd_metric = %s has no effect: rspamd's "
                 "/checkv2 replies carry one verdict",
                 sc->rspamd_metric);
    if (sc->retry_timeout > 0)
        msg_warn("spamd: retry_timeout is not used: a retry goes to the next "
                 "server at once");
    *mconf = conf;
    return 0;
}

static enum rm_on_failure
sp_on_failure(const struct rm_config *cfg)
{
    return (enum rm_on_failure)cfg->spamd.on_failure;
}

static enum rm_status
sp_start(struct rm_msg *m, void *mconf, struct rm_eom_batch *b,
         struct rm_verdict *v)
{
    const struct sp_conf *conf = mconf;
    const struct rm_cfg_spamd *sc = conf->sc;
    const struct rm_session *s = m->sess;
    struct rm_batch_ex *ex;
    struct sp_msg *sm;

    if (m->is_reply) {
        verdict_note(v, "skipped(reply)");
        return RM_DECLINED;
    }
    if (sc->whitelist != NULL && s->has_addr &&
        iplist_match(sc->whitelist, &s->addr)) {
        verdict_note(v, "skipped(whitelisted client)");
        return RM_DECLINED;
    }
    if (sc->max_size > 0 && m->size > sc->max_size) {
        verdict_note(v, "skipped(oversized)");
        return RM_DECLINED;
    }
    if (m->spool == NULL) {
        verdict_note(v, "error(no spooled message)");
        return RM_ERROR;
    }
    ex = eom_batch_add(b);
    if (ex == NULL) {
        verdict_note(v, "error(too many parallel scans)");
        return RM_ERROR;
    }
    sm = xcalloc(1, sizeof(*sm));
    *msg_state(m) = sm;
    sm->m = m;
    sm->conf = conf;
    sm->ex = ex;
    ex->ex_name = "spamd";
    ex->ex_pool = conf->pool;
    ex->ex_attempts = conf->attempts;
    ex->ex_connect_ms = sc->connect_timeout;
    ex->ex_deadline_ms = io_deadline(sc->results_timeout);
    ex->ex_fill = sp_fill;
    ex->ex_fill_ud = sm;
    ex->ex_feed = sp_feed;
    ex->ex_feed_ud = sm;
    return RM_PENDING;
}

static enum rm_status
sp_finish(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct sp_conf *conf = mconf;
    const struct rm_cfg_spamd *sc = conf->sc;
    struct sp_msg *sm = *msg_state(m);
    const struct rm_batch_result *r;
    struct rm_spam_policy pol;
    struct rm_spam_plan plan;
    struct sp_result res;
    char **names = NULL;
    const char *server;
    enum rm_status st;
    size_t i;

    if (sm == NULL) {
        verdict_note(v, "error(no scan state)");
        return RM_ERROR;
    }
    r = &sm->ex->ex_res;
    server = r->br_server ? r->br_server : "-";
    if (r->br_status != RM_BATCH_OK) {
        msg_warn("%s: spamd: %s: %s%s%s", m->tag, server,
                 batch_status_name(r->br_status),
                 sm->err[0] ? ": " : (r->br_err ? ": " : ""),
                 sm->err[0]  ? sm->err
                 : r->br_err ? io_strerror(r->br_err)
                             : "");
        verdict_note(v, "error(%s: %s)", server,
                     batch_status_name(r->br_status));
        return RM_ERROR;
    }

    memset(&res, 0, sizeof(res));
    if (sm->rspamd)
        sp_result_rspamd(sm, &res);
    else
        sp_result_sa(sm, &res, &names);
    sp_log_symbols(m, server, &res);

    memset(&pol, 0, sizeof(pol));
    pol.soft_fail = sc->soft_fail;
    pol.greylist = conf->greylist && !m->authenticated;
    pol.never_reject = sc->never_reject;
    pol.spam_add_header = sc->spam_add_header;
    pol.no_edit = sc->spam_no_auth_header && m->authenticated;
    spamd_map_plan(res.verdict, &pol, &plan);
    m->spam_action = plan.spam_action;
    verdict_note(v, "%s [%.2f/%.2f]", plan.why, res.rep.score,
                 res.rep.required);

    st = RM_CONTINUE;
    if (!msg_decided(m)) {
        sp_edits(sm, server, &res, sp_extended_wanted(m, sc), v);
        sp_trace(sc, &res, v);
        st = sp_act(m, conf, &plan, &res, v);
    }
    free(res.syms);
    for (i = 0; names != NULL && i < SP_SA_SYMS; i++)
        free(names[i]);
    free(names);
    return st;
}

const struct rm_module rm_spamd_module = {
    .name = "spamd",
    .enabled = sp_enabled,
    .init = sp_init,
    .fini = sp_fini,
    .on_failure = sp_on_failure,
    .eom_start = sp_start,
    .eom_finish = sp_finish,
    .msg_free = sp_msg_free,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions =
        RM_CAN_ADDHDRS | RM_CAN_CHGHDRS | RM_CAN_ADDRCPT | RM_CAN_QUARANTINE,
    .flags = RM_MOD_CONTENT | RM_MOD_SKIP_EXEMPT | RM_MOD_SKIP_WHITELISTED,
};
