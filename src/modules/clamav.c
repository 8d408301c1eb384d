/*
 * NAME
 *   clamav - virus scanning with clamd (INSTREAM) or in-process libclamav
 *
 * DESCRIPTION
 *   engine = clamd (the default): clamav { servers } is an upstream pool
 *   ("clamav": round robin, error_time / maxerrors / dead_time). At EOM
 *   the module takes part in the parallel EOM phase (core/module.h): it
 *   adds one exchange that streams the spooled message (from its first
 *   header, without the trace prologue) to a member as "zINSTREAM" chunks
 *   (proto/clamd.h), straight from the spool, and reads the reply. A
 *   member that does not connect is replaced by the next one (up to
 *   RM_CLAMAV_ATTEMPTS members); a member that fails later (timeout,
 *   garbage, an ERROR reply) fails the scan. Either way every attempt is
 *   reported to the pool, so a broken clamd is marked dead and left alone
 *   for dead_time. The whole scan is bounded by results_timeout, each
 *   connect by connect_timeout.
 *
 *   engine = libclamav: the signature database (clamav { database }, a
 *   directory as freshclam keeps it) is loaded and compiled once per
 *   config generation, at init: the start or the SIGHUP reload that makes
 *   the generation, never per message, so a reload is how new signatures
 *   come in. The compiled engine is shared read-only by every session of
 *   the generation (cl_scanmap_callback is thread-safe on a compiled
 *   engine) and freed with the generation, i.e. when its last session
 *   ends; during a reload two engines exist for a while. cl_init runs
 *   once per process. A database that does not load fails init, so a
 *   start fails and a reload keeps the old generation. The scan itself
 *   runs in-process from eom_start, on the session's thread, over the
 *   mapped spool.
 *
 *   Outcomes:
 *     clean                 nothing ("clean")
 *     virus <name>          554 5.7.1 "Infected: <name>"
 *     Oversized.* and Heuristics.Limits.Exceeded.*, and the legacy
 *     Suspected.Zip         clean, logged: these say a limit stopped the
 *                           scan or an archive looked odd, not that a
 *                           virus was found (the original passed
 *                           Suspected.Zip and Oversized.Zip too);
 *                           anything else clamd's heuristics report
 *                           (Heuristics.Phishing..., enabled in clamd.conf
 *                           on purpose) is a virus
 *     clamd's "INSTREAM size limit exceeded"
 *                           not scanned, logged ("skipped(StreamMaxLength)"):
 *                           the message's size, not the server, is at
 *                           fault; keep max_size below StreamMaxLength
 *     any failure           RM_ERROR: clamav { on_failure } (tempfail by
 *                           default: 451 4.7.1)
 *   Not scanned: clients in clamav { whitelist }, messages larger than
 *   clamav { max_size } (0: only the global max_size gate, which the
 *   pipeline applies), messages all of whose recipients are in the
 *   global whitelist. Authenticated senders are scanned.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct clam_conf belongs to its config generation and is read-only
 *   after init (the pool and the engine are thread-safe). struct clam_msg
 *   is one message's exchange state in its msg_state slot, used by the
 *   session's thread only and freed by msg_free.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clamav.h>

#include "core/module.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/modules.h"
#include "net/batch.h"
#include "net/io.h"
#include "net/upstream.h"
#include "proto/clamd.h"
#include "proto/hdr.h"

/* Members one scan tries when they do not connect. */
#define RM_CLAMAV_ATTEMPTS 3

/* clamav { engine } values (their order in cfg_directives.h). */
enum { CLAM_ENGINE_CLAMD = 0, CLAM_ENGINE_LIBCLAMAV = 1 };

struct clam_conf {
    const struct rm_cfg_clamav *cc;
    struct rm_upstream_pool *pool; /* clamd */
    struct cl_engine *engine;      /* libclamav */
    unsigned attempts;
};

/* One message's clamd exchange. */
struct clam_msg {
    struct rm_batch_ex *ex; /* the pipeline's slot, valid until finish */
    struct rm_batch_range range;
    struct rm_clamd_enc enc;
    struct rm_clamd_reader rd;
};

/* ------------------------------------------------------------------------ */
/* libclamav                                                                */
/* ------------------------------------------------------------------------ */

static pthread_once_t cl_once = PTHREAD_ONCE_INIT;
static int cl_init_rc = CL_SUCCESS;

/* clam_cl_log - libclamav's messages into our log (trailing newline cut) */
static void
clam_cl_log(enum cl_msg severity, const char *fullmsg, const char *msg,
            void *context)
{
    char line[512];

    (void)fullmsg;
    (void)context;
    hdr_text_oneline(msg ? msg : "", msg ? strlen(msg) : 0, line, sizeof(line),
                     RM_HDR_TEXT_UTF8);
    if (severity == CL_MSG_ERROR)
        msg_err("clamav: libclamav: %s", line);
    else if (severity == CL_MSG_WARN)
        msg_warn("clamav: libclamav: %s", line);
    else
        msg_debug("clamav: libclamav: %s", line);
}

static void
clam_cl_init_once(void)
{
    cl_set_clcb_msg(clam_cl_log);
    cl_init_rc = cl_init(CL_INIT_DEFAULT);
}

/* clam_engine_load - load and compile the database of cc; 0 or -1 with a
 * diag line */
static int
clam_engine_load(const struct rm_config *cfg, struct clam_conf *conf,
                 struct rm_diag *diag)
{
    const char *db = conf->cc->database;
    struct cl_engine *e;
    unsigned sigs = 0;
    uint64_t t0 = io_now_ms();
    cl_error_t rc;

    pthread_once(&cl_once, clam_cl_init_once);
    if (cl_init_rc != CL_SUCCESS) {
        module_diag(diag, "%s: error: clamav: libclamav does not start: %s",
                    cfg_where(cfg, RM_SEC_clamav, 0, "engine"),
                    cl_strerror((cl_error_t)cl_init_rc));
        return -1;
    }
    if (db == NULL || db[0] == '\0') {
        module_diag(diag,
                    "%s: error: clamav: engine = libclamav needs a database "
                    "directory",
                    cfg_where(cfg, RM_SEC_clamav, 0, "database"));
        return -1;
    }
    e = cl_engine_new();
    if (e == NULL) {
        module_diag(diag, "%s: error: clamav: cl_engine_new failed",
                    cfg_where(cfg, RM_SEC_clamav, 0, "engine"));
        return -1;
    }
    if (cfg->global.tempdir != NULL && cfg->global.tempdir[0] != '\0')
        (void)cl_engine_set_str(e, CL_ENGINE_TMPDIR, cfg->global.tempdir);
    rc = cl_load(db, e, &sigs, CL_DB_STDOPT);
    if (rc == CL_SUCCESS)
        rc = cl_engine_compile(e);
    if (rc != CL_SUCCESS) {
        module_diag(diag,
                    "%s: error: clamav: cannot load the signature database "
                    "%s: %s",
                    cfg_where(cfg, RM_SEC_clamav, 0, "database"), db,
                    cl_strerror(rc));
        cl_engine_free(e);
        return -1;
    }
    if (sigs == 0) {
        module_diag(diag,
                    "%s: error: clamav: no signatures in %s (run freshclam?)",
                    cfg_where(cfg, RM_SEC_clamav, 0, "database"), db);
        cl_engine_free(e);
        return -1;
    }
    conf->engine = e;
    msg_info("clamav: libclamav %s: %u signatures from %s loaded in %" PRIu64
             " ms",
             cl_retver(), sigs, db, io_now_ms() - t0);
    return 0;
}

/* clam_is_limit - a detection that only says a limit stopped the scan */
static bool
clam_is_limit(const char *name)
{
    return strncmp(name, "Oversized.", 10) == 0 ||
           strncmp(name, "Heuristics.Limits.Exceeded", 26) == 0 ||
           strcmp(name, "Suspected.Zip") == 0;
}

/* clam_virus - the verdict for a detected name */
static enum rm_status
clam_virus(struct rm_msg *m, const char *server, const char *name,
           struct rm_verdict *v)
{
    char text[RM_CLAMD_TEXT_MAX + 16];

    if (clam_is_limit(name)) {
        msg_info("%s: clamav: %s: %s reported; passed as clean (a scan "
                 "limit, not a virus)",
                 m->tag, server, name);
        verdict_note(v, "clean(%s)", name);
        return RM_CONTINUE;
    }
    msg_info("%s: clamav: %s: virus found: %s", m->tag, server, name);
    verdict_note(v, "virus(%s)", name);
    if (msg_decided(m))
        return RM_CONTINUE;
    snprintf(text, sizeof(text), "Infected: %s", name);
    return verdict_set(v, RM_ACT_REJECT, "554", "5.7.1", text);
}

/* clam_scan_local - scan m in-process with the generation's engine */
static enum rm_status
clam_scan_local(struct rm_msg *m, const struct clam_conf *conf,
                struct rm_verdict *v)
{
    struct cl_scan_options opts;
    const char *data, *virname = NULL;
    unsigned long scanned = 0;
    char name[RM_CLAMD_TEXT_MAX];
    uint64_t off;
    cl_fmap_t *map;
    size_t len;
    cl_error_t rc;

    if (spool_map(m->spool, &data, &len) < 0) {
        verdict_note(v, "error(spool: %s)", strerror(errno));
        return RM_ERROR;
    }
    off = spool_offset(m->spool, RM_SPOOL_MESSAGE);
    if (off > len)
        off = 0;
    map = cl_fmap_open_memory(data + off, len - (size_t)off);
    if (map == NULL) {
        verdict_note(v, "error(libclamav: cannot map the message)");
        return RM_ERROR;
    }
    memset(&opts, 0, sizeof(opts));
    opts.parse = ~0u;
    opts.general = CL_SCAN_GENERAL_HEURISTICS;
    rc = cl_scanmap_callback(map, "message", &virname, &scanned, conf->engine,
                             &opts, NULL);
    cl_fmap_close(map);
    switch (rc) {
    case CL_CLEAN:
        verdict_note(v, "clean");
        return RM_CONTINUE;
    case CL_VIRUS:
        hdr_text_oneline(virname ? virname : "unknown",
                         virname ? strlen(virname) : 7, name, sizeof(name), 0);
        return clam_virus(m, "libclamav", name, v);
    default:
        verdict_note(v, "error(libclamav: %s)", cl_strerror(rc));
        return RM_ERROR;
    }
}

/* ------------------------------------------------------------------------ */
/* clamd exchange callbacks                                                 */
/* ------------------------------------------------------------------------ */

/* clam_pread - the spool as a batch_fill_range source */
static ssize_t
clam_pread(void *src, uint64_t off, void *buf, size_t len)
{
    return spool_read(src, off, buf, len);
}

/* clam_fill - the INSTREAM request, framed from the spool */
static int
clam_fill(void *ud, void *buf, size_t size, size_t *len)
{
    struct clam_msg *cm = ud;

    return clamd_enc_fill(&cm->enc, batch_fill_range, &cm->range, buf, size,
                          len);
}

/* clam_feed - the reply; an ERROR reply counts against the server unless
 * the message was too large for it */
static int
clam_feed(void *ud, const void *data, size_t len, bool eof)
{
    struct clam_msg *cm = ud;
    int rc = clamd_reader_feed(&cm->rd, data, len, eof);

    if (rc <= 0)
        return rc;
    switch (cm->rd.cd_reply.cr_status) {
    case RM_CLAMD_CLEAN:
    case RM_CLAMD_VIRUS:
        return RM_BATCH_DONE;
    case RM_CLAMD_ERROR:
        return cm->rd.cd_reply.cr_size_limit ? RM_BATCH_DONE
                                             : RM_BATCH_DONE_FAIL;
    default:
        return -EPROTO;
    }
}

static void
clam_msg_free(void *p)
{
    free(p);
}

/* ------------------------------------------------------------------------ */
/* module hooks                                                             */
/* ------------------------------------------------------------------------ */

static bool
clam_enabled(const struct rm_config *cfg)
{
    return cfg->clamav.engine == CLAM_ENGINE_LIBCLAMAV ||
           cfg->clamav.servers.n > 0;
}

static void
clam_fini(void *p)
{
    struct clam_conf *conf = p;

    if (conf == NULL)
        return;
    upstream_pool_free(conf->pool);
    if (conf->engine != NULL)
        cl_engine_free(conf->engine);
    free(conf);
}

static int
clam_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const struct rm_cfg_clamav *cc = &cfg->clamav;
    struct clam_conf *conf = xcalloc(1, sizeof(*conf));

    conf->cc = cc;
    if (cc->engine == CLAM_ENGINE_LIBCLAMAV) {
        if (clam_engine_load(cfg, conf, diag) < 0) {
            clam_fini(conf);
            return -1;
        }
    } else {
        conf->pool = upstream_pool_new("clamav", &cc->servers,
                                       RM_UPSTREAM_ROUND_ROBIN, cc->error_time,
                                       (unsigned)cc->maxerrors, cc->dead_time);
        conf->attempts = (unsigned)cc->servers.n;
        if (conf->attempts > RM_CLAMAV_ATTEMPTS)
            conf->attempts = RM_CLAMAV_ATTEMPTS;
    }
    *mconf = conf;
    return 0;
}

static enum rm_on_failure
clam_on_failure(const struct rm_config *cfg)
{
    return (enum rm_on_failure)cfg->clamav.on_failure;
}

static enum rm_status
clam_start(struct rm_msg *m, void *mconf, struct rm_eom_batch *b,
           struct rm_verdict *v)
{
    const struct clam_conf *conf = mconf;
    const struct rm_cfg_clamav *cc = conf->cc;
    const struct rm_session *s = m->sess;
    struct clam_msg *cm;
    struct rm_batch_ex *ex;

    if (cc->whitelist != NULL && s->has_addr &&
        iplist_match(cc->whitelist, &s->addr)) {
        verdict_note(v, "skipped(whitelisted client)");
        return RM_DECLINED;
    }
    if (cc->max_size > 0 && m->size > cc->max_size) {
        verdict_note(v, "skipped(oversized)");
        return RM_DECLINED;
    }
    if (m->spool == NULL) {
        verdict_note(v, "error(no spooled message)");
        return RM_ERROR;
    }
    if (conf->engine != NULL)
        return clam_scan_local(m, conf, v);

    ex = eom_batch_add(b);
    if (ex == NULL) {
        verdict_note(v, "error(too many parallel scans)");
        return RM_ERROR;
    }
    cm = xcalloc(1, sizeof(*cm));
    *msg_state(m) = cm;
    cm->ex = ex;
    cm->range.rg_pread = clam_pread;
    cm->range.rg_src = m->spool;
    cm->range.rg_off = spool_offset(m->spool, RM_SPOOL_MESSAGE);
    cm->range.rg_end = spool_size(m->spool);
    clamd_enc_init(&cm->enc);
    clamd_reader_init(&cm->rd);
    ex->ex_name = "clamav";
    ex->ex_pool = conf->pool;
    ex->ex_attempts = conf->attempts;
    ex->ex_connect_ms = cc->connect_timeout;
    ex->ex_deadline_ms = io_deadline(cc->results_timeout);
    ex->ex_fill = clam_fill;
    ex->ex_fill_ud = cm;
    ex->ex_feed = clam_feed;
    ex->ex_feed_ud = cm;
    return RM_PENDING;
}

static enum rm_status
clam_finish(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    struct clam_msg *cm = *msg_state(m);
    const struct rm_batch_result *r;
    const struct rm_clamd_reply *cr;
    const char *server;

    (void)mconf;
    if (cm == NULL) {
        verdict_note(v, "error(no scan state)");
        return RM_ERROR;
    }
    r = &cm->ex->ex_res;
    cr = &cm->rd.cd_reply;
    server = r->br_server ? r->br_server : "-";
    switch (r->br_status) {
    case RM_BATCH_OK:
        break;
    case RM_BATCH_BACKEND:
        msg_warn("%s: clamav: %s: scan failed: %s", m->tag, server,
                 cr->cr_text);
        verdict_note(v, "error(%s: %s)", server, cr->cr_text);
        return RM_ERROR;
    case RM_BATCH_PROTO:
        msg_warn("%s: clamav: %s: unexpected reply%s%s", m->tag, server,
                 cr->cr_status == RM_CLAMD_PROTOCOL ? ": " : "",
                 cr->cr_status == RM_CLAMD_PROTOCOL ? cr->cr_text : "");
        verdict_note(v, "error(%s: %s)", server,
                     batch_status_name(r->br_status));
        return RM_ERROR;
    default:
        msg_warn("%s: clamav: %s: %s%s%s", m->tag, server,
                 batch_status_name(r->br_status), r->br_err ? ": " : "",
                 r->br_err ? io_strerror(r->br_err) : "");
        verdict_note(v, "error(%s: %s)", server,
                     batch_status_name(r->br_status));
        return RM_ERROR;
    }
    switch (cr->cr_status) {
    case RM_CLAMD_CLEAN:
        verdict_note(v, "clean");
        return RM_CONTINUE;
    case RM_CLAMD_VIRUS:
        return clam_virus(m, server, cr->cr_text, v);
    default: /* the size limit (other errors failed the exchange) */
        msg_warn("%s: clamav: %s: message not scanned: %s (keep clamav "
                 "max_size below clamd's StreamMaxLength)",
                 m->tag, server, cr->cr_text);
        verdict_note(v, "skipped(StreamMaxLength)");
        return RM_DECLINED;
    }
}

const struct rm_module rm_clamav_module = {
    .name = "clamav",
    .enabled = clam_enabled,
    .init = clam_init,
    .fini = clam_fini,
    .on_failure = clam_on_failure,
    .eom_start = clam_start,
    .eom_finish = clam_finish,
    .msg_free = clam_msg_free,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions = 0,
    .flags = RM_MOD_CONTENT | RM_MOD_SKIP_WHITELISTED,
};
