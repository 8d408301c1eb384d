/*
 * NAME
 *   spf - SPF checks of the envelope sender with libspf2 (RFC 7208)
 *
 * DESCRIPTION
 *   Runs when spf { enable } is on and spf { domains } or the global
 *   spf_domains lists something. The identity checked is the MAIL FROM
 *   domain, or for the null sender the HELO name as postmaster@<helo>
 *   (RFC 7208 section 2.4; the original skipped bounces, issue #20). Only
 *   domains listed are checked: exact match, ASCII case-insensitive, "*"
 *   for every domain (never a substring).
 *
 *   Stage: DATA. By then every recipient is known, so the pipeline can
 *   skip the check when all of them are whitelisted (RM_MOD_SKIP_WHITELISTED)
 *   and a reject or tempfail answers DATA, before the message is sent.
 *   (The original ran at end of message, after the rules; MAIL FROM is
 *   too early for the recipient whitelist.) Authenticated senders and
 *   our_networks are exempt unless strict_auth (RM_MOD_SKIP_EXEMPT).
 *
 *   What a result does is spf_map.h: a Received-SPF header, inserted at
 *   the top (RFC 7208 section 9.1: trace fields are prepended), on every
 *   checked message that is not refused (spf { add_header }), fail
 *   rejects with 550 5.7.23, and softfail, temperror and permerror follow
 *   spf { softfail; temperror; permerror }. Each check is logged at info
 *   with the result, the identity, the client and the reason.
 *
 *   DNS: libspf2 resolves through spf_dns.h, a layer over src/net/dns, so
 *   dns { nameserver; timeout; retries } apply.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Per config generation, init builds one resolver (dns_new), one DNS
 *   layer and ONE SPF_server_t over it, shared by every session thread.
 *   That is safe without a lock because, in libspf2 1.2.10, a query only
 *   reads the server (its resolver, local policy, explanation macro,
 *   receiving domain and DNS limits: SPF_request_query_mailfrom,
 *   SPF_server_get_record, SPF_record_interpret), every piece of
 *   per-query state lives in the SPF_request_t and SPF_response_t made
 *   per message, and the DNS layer under it is stateless (no libspf2
 *   cache layer, whose table is not locked). The server is never changed
 *   after init. libspf2's message handlers are process-global and set
 *   once. fini frees the server, then the layer (SPF_server_new_dns
 *   leaves it to its creator), then the resolver.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spf2/spf.h>

#include "core/module.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/modules.h"
#include "modules/spf_dns.h"
#include "modules/spf_map.h"
#include "net/dns.h"

struct spf_conf {
    SPF_server_t *server;
    SPF_dns_server_t *layer;
    struct rm_dns *dns;
    const struct rm_strlist *domains, *domains_global;
    enum rm_spf_policy softfail, temperror, permerror;
    bool add_header;
    char receiver[256]; /* this host's name, when the MTA sends no j */
};

/* ------------------------------------------------------------------------ */
/* libspf2's message handlers                                               */
/* ------------------------------------------------------------------------ */

/* libspf2 calls the error handler for broken invariants only (a NULL
 * where none may be, a failed self-test); it must not return. */
__attribute__((noreturn)) static void
spf_log_error(const char *file, int line, const char *text)
{
    msg_err("spf: libspf2: %s:%d: %s", file ? file : "?", line,
            text ? text : "");
    abort();
}

static void
spf_log_warning(const char *file, int line, const char *text)
{
    (void)file;
    (void)line;
    msg_notice("spf: libspf2: %s", text ? text : "");
}

static void
spf_log_debug(const char *file, int line, const char *text)
{
    (void)file;
    (void)line;
    msg_debug("spf: libspf2: %s", text ? text : "");
}

static pthread_once_t spf_log_once = PTHREAD_ONCE_INIT;

static void
spf_log_init(void)
{
    SPF_error_handler = spf_log_error;
    SPF_warning_handler = spf_log_warning;
    SPF_info_handler = spf_log_debug;
    SPF_debug_handler = spf_log_debug;
}

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static bool
spf_enabled(const struct rm_config *cfg)
{
    return cfg->spf.enable &&
           (cfg->spf.domains.n > 0 || cfg->global.spf_domains.n > 0);
}

static void
spf_fini(void *mconf)
{
    struct spf_conf *sc = mconf;

    if (sc == NULL)
        return;
    if (sc->server != NULL) {
        /* SPF_server_new_dns leaves the layer to its creator
         * (destroy_resolver is false): free it after the server */
        bool own = sc->server->destroy_resolver;

        SPF_server_free(sc->server);
        if (own)
            sc->layer = NULL;
    }
    if (sc->layer != NULL)
        SPF_dns_free(sc->layer);
    dns_free(sc->dns);
    free(sc);
}

static int
spf_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const char *where = cfg_where(cfg, RM_SEC_spf, 0, NULL);
    struct spf_conf *sc = xcalloc(1, sizeof(*sc));
    char err[256];

    pthread_once(&spf_log_once, spf_log_init);
    if (dns_new(&cfg->dns, &sc->dns, err, sizeof(err)) < 0) {
        /* the resolver's settings are in dns { } */
        module_diag(diag, "%s: error: spf: %s",
                    cfg_where(cfg, RM_SEC_dns, 0, "nameserver"), err);
        goto fail;
    }
    sc->layer = spf_dns_layer_new(sc->dns);
    if (sc->layer == NULL) {
        module_diag(diag, "%s: error: spf: out of memory", where);
        goto fail;
    }
    sc->server = SPF_server_new_dns(sc->layer, 0);
    if (sc->server == NULL) {
        module_diag(diag, "%s: error: spf: cannot create the libspf2 server",
                    where);
        goto fail;
    }
    sc->domains = &cfg->spf.domains;
    sc->domains_global = &cfg->global.spf_domains;
    sc->softfail = (enum rm_spf_policy)cfg->spf.softfail;
    sc->temperror = (enum rm_spf_policy)cfg->spf.temperror;
    sc->permerror = (enum rm_spf_policy)cfg->spf.permerror;
    sc->add_header = cfg->spf.add_header;
    if (gethostname(sc->receiver, sizeof(sc->receiver) - 1) < 0 ||
        sc->receiver[0] == '\0')
        snprintf(sc->receiver, sizeof(sc->receiver), "localhost");
    *mconf = sc;
    return 0;

fail:
    spf_fini(sc);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* the check                                                                */
/* ------------------------------------------------------------------------ */

static enum rm_spf_result
map_result(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS:
        return RM_SPF_PASS;
    case SPF_RESULT_FAIL:
        return RM_SPF_FAIL;
    case SPF_RESULT_SOFTFAIL:
        return RM_SPF_SOFTFAIL;
    case SPF_RESULT_NEUTRAL:
        return RM_SPF_NEUTRAL;
    case SPF_RESULT_NONE:
        return RM_SPF_NONE;
    case SPF_RESULT_PERMERROR:
        return RM_SPF_PERMERROR;
    default: /* TEMPERROR (INVALID is handled by unfinished()) */
        return RM_SPF_TEMPERROR;
    }
}

/* unfinished - the result of a query libspf2 left without one
 * (SPF_RESULT_INVALID): SPF_request_query_mailfrom returns the error of
 * fetching the record without setting a result. A DNS failure is a
 * temperror; a record that does not compile (its errors are in the
 * response) a permerror; no "v=spf1" record among the TXT records none. */
static enum rm_spf_result
unfinished(SPF_response_t *resp, SPF_errcode_t ec, const char **problem)
{
    int i, n;

    switch (ec) {
    case SPF_E_DNS_ERROR:
    case SPF_E_NO_MEMORY:
    case SPF_E_INTERNAL_ERROR:
        *problem = SPF_strerror(ec);
        return RM_SPF_TEMPERROR;
    case SPF_E_NOT_SPF:
        n = SPF_response_messages(resp);
        for (i = 0; i < n; i++) {
            SPF_error_t *e = SPF_response_message(resp, i);

            if (e != NULL && SPF_error_errorp(e) &&
                SPF_error_code(e) != SPF_E_NOT_SPF) {
                *problem = SPF_strerror(SPF_error_code(e));
                return RM_SPF_PERMERROR;
            }
        }
        return RM_SPF_NONE;
    default:
        *problem = SPF_strerror(ec);
        return RM_SPF_PERMERROR;
    }
}

/* query - ask libspf2; the result and, for errors, why (static text) */
static enum rm_spf_result
query(const struct spf_conf *sc, const struct rm_session *s, const char *sender,
      const char **problem)
{
    SPF_request_t *req;
    SPF_response_t *resp = NULL;
    enum rm_spf_result res;
    struct in_addr a4;
    struct in6_addr a6;
    SPF_errcode_t ec;
    SPF_result_t r;

    *problem = NULL;
    req = SPF_request_new(sc->server);
    if (req == NULL) {
        *problem = "out of memory";
        return RM_SPF_TEMPERROR;
    }
    if (s->addr.family == AF_INET) {
        memcpy(&a4, s->addr.a, sizeof(a4));
        SPF_request_set_ipv4(req, a4);
    } else {
        memcpy(&a6, s->addr.a, sizeof(a6));
        SPF_request_set_ipv6(req, a6);
    }
    if (s->helo != NULL && s->helo[0] != '\0')
        SPF_request_set_helo_dom(req, s->helo);
    if (SPF_request_set_env_from(req, sender) != 0) {
        SPF_request_free(req);
        *problem = "invalid sender domain";
        return RM_SPF_PERMERROR;
    }
    ec = SPF_request_query_mailfrom(req, &resp);
    if (resp == NULL) {
        res = RM_SPF_TEMPERROR;
        *problem = SPF_strerror(ec);
    } else {
        r = SPF_response_result(resp);
        if (r == SPF_RESULT_INVALID) {
            res = unfinished(resp, ec, problem);
        } else {
            res = map_result(r);
            if (res == RM_SPF_TEMPERROR || res == RM_SPF_PERMERROR)
                *problem = SPF_strerror(SPF_response_errcode(resp));
        }
        SPF_response_free(resp);
    }
    SPF_request_free(req);
    return res;
}

static enum rm_status
spf_data(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct spf_conf *sc = mconf;
    const struct rm_session *s = m->sess;
    struct rm_spf_facts f;
    struct rm_spf_action act;
    const char *domain, *helo = s->helo ? s->helo : "";
    const char *j = msg_macro(m, "j");
    char *sender, *hv;
    enum rm_status st = RM_CONTINUE;

    if (!s->has_addr ||
        (s->addr.family != AF_INET && s->addr.family != AF_INET6)) {
        verdict_note(v, "skipped(no client address)");
        return RM_DECLINED;
    }
    memset(&f, 0, sizeof(f));
    if (m->from == NULL || m->from[0] == '\0') {
        /* the null sender: the HELO identity */
        if (helo[0] == '\0' || helo[0] == '[') {
            verdict_note(v, "skipped(null sender, no HELO name)");
            return RM_DECLINED;
        }
        domain = helo;
        sender = xasprintf("postmaster@%s", helo);
        f.helo_identity = true;
    } else {
        domain = strrchr(m->from, '@');
        if (domain == NULL || domain[1] == '\0') {
            verdict_note(v, "skipped(no sender domain)");
            return RM_DECLINED;
        }
        domain++;
        sender = xstrdup(m->from);
    }
    if (!spf_domain_listed(sc->domains, sc->domains_global, domain)) {
        free(sender);
        verdict_note(v, "skipped(domain not listed)");
        return RM_DECLINED;
    }

    f.result = query(sc, s, sender, &f.problem);
    f.receiver = j && *j ? j : sc->receiver;
    f.host = msg_client_host(m);
    f.ip = msg_client_ip(m);
    f.sender = sender;
    f.helo = helo;
    msg_info("%s: spf: %s for %s%s from %s[%s] helo=%s%s%s", m->tag,
             spf_result_name(f.result), sender,
             f.helo_identity ? " (HELO identity)" : "", f.host, f.ip,
             helo[0] ? helo : "(none)", f.problem ? ": " : "",
             f.problem ? f.problem : "");

    spf_action(&f, sc->softfail, sc->temperror, sc->permerror, &act);
    if (act.action != RM_ACT_CONTINUE) {
        st = verdict_set(v, act.action, act.rcode, act.xcode, act.text);
    } else if (sc->add_header) {
        hv = spf_header_value(&f);
        verdict_mod(v, RM_MOD_INSERT_HEADER, 0, "Received-SPF", hv, strlen(hv));
        free(hv);
    }
    verdict_note(v, "%s", spf_result_name(f.result));
    free(act.text);
    free(sender);
    return st;
}

const struct rm_module rm_spf_module = {
    .name = "spf",
    .enabled = spf_enabled,
    .init = spf_init,
    .fini = spf_fini,
    .on_data = spf_data,
    .stages = RM_STAGE_BIT(RM_STAGE_DATA),
    .actions = RM_CAN_ADDHDRS,
    .flags = RM_MOD_SKIP_EXEMPT | RM_MOD_SKIP_WHITELISTED,
};
