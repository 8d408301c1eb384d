/*
 * NAME
 *   beanstalk - copies of messages and headers to beanstalkd tubes
 *
 * DESCRIPTION
 *   At EOM, after the scanners and before DKIM, for every message that
 *   reaches this module undecided (as in the original, mail that an
 *   earlier check already accepted, rejected or tempfailed gets no copy),
 *   up to three jobs, each to its own pool:
 *
 *     send_beanstalk_headers  the header block to `servers`; the whole
 *                             message instead when an id in In-Reply-To
 *                             or References matches id_regexp;
 *     send_beanstalk_copy     the whole message to `copy_server`, for a
 *                             share copy_probability of messages (a fresh
 *                             uniform draw per message from a per-thread
 *                             xoshiro256** seeded from getrandom(2), so
 *                             the share is exactly that on average; the
 *                             original's normalisation copied ~0.6% for
 *                             0.5);
 *     send_beanstalk_spam     the whole message to `spam_server` when the
 *                             spam scanner's verdict (m->spam_action) is
 *                             anything but "no action" (beanstalk.h).
 *
 *   What a job holds, byte for byte: the message as the MTA passed it to
 *   the milter, from the first header to the end of the body, with CRLF
 *   line ends: each header as "Name: value" (the value as sent, folding
 *   kept), the empty line, the body. The headers job is the same up to
 *   and including the empty line. The synthetic Return-Path/Received
 *   prologue of the spool is not part of a job. Header changes that
 *   modules make at EOM (a spam header, the DKIM signature) are not in
 *   it: they reach the MTA after the copy was taken. Postfix does not
 *   show smtpd_milters the Received header it adds itself, so the next
 *   hop receives Postfix's Received header, then exactly the job (plus
 *   any header the milters added), as tests/functional/t_beanstalk.sh
 *   checks. The original's jobs began with its synthetic trace lines;
 *   these are left out so that a copy is the message.
 *
 *   id_regexp is matched against every message id of In-Reply-To and
 *   References (each <...> token outside comments, angle brackets
 *   included, so /^<special/ works; the original compiled the quotes'
 *   slashes into the pattern and never matched), and against the
 *   trimmed value of a header that holds no such token.
 *
 *   Jobs go into `tube` (selected with "use" once per connection) with
 *   `priority`, delay 0 and TTR = `lifetime` in seconds. A job larger
 *   than max_size (beanstalk { max_size }, else the global max_size; 0 =
 *   no limit) is not sent and is logged; for an id_regexp match that is
 *   too large, the headers are sent instead.
 *
 *   Best effort: all the puts of one message share one budget,
 *   `timeout` (each connect is bounded by connect_timeout too), so a
 *   hung beanstalkd delays a message by at most `timeout`; a put fails
 *   over to another live member while time is left, and a pool
 *   whose every member is dead is not tried at all until dead_time has
 *   passed (the pool logs the death once). A failed put is logged and
 *   counted (beanstalk_stats) and makes the check's outcome an error
 *   under the fixed policy on_failure = continue: mail is never delayed
 *   past the timeouts nor tempfailed because of a copy. JOB_TOO_BIG is
 *   logged with the fix: raise beanstalkd's -z.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct bs_conf belongs to its config generation and is read-only
 *   after init; its pools are thread-safe. A process-wide list (guarded
 *   by reg_lock) maps a generation's config to its bs_conf for
 *   beanstalk_spam_copy, which the scanner calls without this module's
 *   mconf. Per thread: the PRNG state and the tag of the last message
 *   spam-copied (the scanner's call and this module's hook for one
 *   message run in one pipeline_eom call on one thread). Counters are
 *   atomics. No per-message state.
 *
 * SEE ALSO
 *   beanstalk.h, beanstalk_client.h, proto/beanstalk.h,
 *   research/rmilter.md sections 2.10, 7.8 and 7.10
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/module.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/regex.h"
#include "lib/xmalloc.h"
#include "modules/beanstalk.h"
#include "modules/beanstalk_client.h"
#include "modules/modules.h"
#include "net/io.h"
#include "net/upstream.h"
#include "proto/beanstalk.h"

#define BS_NOTE 256 /* the summary note */
#define BS_SHOWN 80 /* id characters shown in a log line */
#define BS_TTR_MAX UINT32_MAX

struct bs_conf {
    const struct rm_config *cfg;
    struct rm_upstream_pool *hdr_pool;  /* NULL: no headers jobs */
    struct rm_upstream_pool *copy_pool; /* NULL: no copies */
    struct rm_upstream_pool *spam_pool; /* NULL: no spam copies */
    struct rm_bs_opts opts;
    const struct rm_regex *id_re; /* NULL: none */
    double copy_p;
    uint64_t max_size;    /* 0: no limit */
    struct bs_conf *next; /* registry */
};

/* One job of a message. */
enum bs_kind { BS_HEADERS, BS_COPY, BS_SPAM };
static const char *const kind_names[] = {"headers", "copy", "spam"};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bs_conf *registry;

static _Atomic uint64_t st_sent, st_buried, st_failed, st_too_big,
    st_skipped_dead, st_skipped_size, st_not_sampled;

static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_seeded;
static _Thread_local char spam_done_tag[sizeof(((struct rm_msg *)0)->tag)];

/* ------------------------------------------------------------------------ */
/* random sampling                                                          */
/* ------------------------------------------------------------------------ */

/* splitmix64 - expands the seed into the xoshiro state */
static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* rng_next - xoshiro256** (Blackman, Vigna), seeded once per thread */
static uint64_t
rng_next(void)
{
    uint64_t r, t, seed;
    struct timespec ts;
    int i;

    if (!rng_seeded) {
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) !=
            (ssize_t)sizeof(seed)) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                   (uint64_t)gettid() ^ (uint64_t)(uintptr_t)&seed;
        }
        for (i = 0; i < 4; i++)
            rng[i] = splitmix64(&seed);
        rng_seeded = true;
    }
    r = rotl(rng[1] * 5, 7) * 9;
    t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return r;
}

/* sampled - true with probability p: a uniform double in [0, 1) below p */
static bool
sampled(double p)
{
    if (p >= 1.0)
        return true;
    if (!(p > 0.0))
        return false;
    return (double)(rng_next() >> 11) * 0x1.0p-53 < p;
}

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static void
reg_add(struct bs_conf *bc)
{
    pthread_mutex_lock(&reg_lock);
    bc->next = registry;
    registry = bc;
    pthread_mutex_unlock(&reg_lock);
}

static void
reg_del(struct bs_conf *bc)
{
    struct bs_conf **pp;

    pthread_mutex_lock(&reg_lock);
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == bc) {
            *pp = bc->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

/* reg_find - the bs_conf of cfg's generation (NULL: the module is not
 * enabled there); valid while the caller's session holds cfg */
static struct bs_conf *
reg_find(const struct rm_config *cfg)
{
    struct bs_conf *bc;

    pthread_mutex_lock(&reg_lock);
    for (bc = registry; bc != NULL && bc->cfg != cfg; bc = bc->next)
        ;
    pthread_mutex_unlock(&reg_lock);
    return bc;
}

static bool
bs_enabled(const struct rm_config *cfg)
{
    return cfg_present(cfg, RM_SEC_beanstalk);
}

static enum rm_on_failure
bs_on_failure(const struct rm_config *cfg)
{
    (void)cfg;
    return RM_ON_FAILURE_CONTINUE; /* a copy never holds mail up */
}

/* diag_warn - a warning line (module_diag counts errors only) */
__attribute__((format(printf, 2, 3))) static void
diag_warn(struct rm_diag *diag, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (diag == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    diag->lines = xrealloc(diag->lines, (diag->n + 1) * sizeof(*diag->lines));
    diag->lines[diag->n++] = xasprintf("%s", text);
    diag->n_warnings++;
}

/* pool_for - a pool when flag is on and servers are given; warns about a
 * flag without servers (servers without the flag are a switched-off
 * feature, as the sample config has them) */
static struct rm_upstream_pool *
pool_for(const struct rm_cfg_beanstalk *c, const char *where, bool flag,
         const char *flag_name, const struct rm_servers *servers,
         const char *servers_name, const char *pool_name, struct rm_diag *diag)
{
    if (!flag)
        return NULL;
    if (servers->n == 0) {
        diag_warn(diag,
                  "%s: warning: beanstalk: %s = yes but %s is empty: "
                  "nothing is sent",
                  where, flag_name, servers_name);
        return NULL;
    }
    return upstream_pool_new(pool_name, servers, RM_UPSTREAM_RANDOM,
                             c->error_time, (unsigned)c->maxerrors,
                             c->dead_time);
}

static void
bs_fini(void *mconf)
{
    struct bs_conf *bc = mconf;

    if (bc == NULL)
        return;
    reg_del(bc);
    upstream_pool_free(bc->hdr_pool);
    upstream_pool_free(bc->copy_pool);
    upstream_pool_free(bc->spam_pool);
    free(bc);
}

static int
bs_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const struct rm_cfg_beanstalk *c = &cfg->beanstalk;
    const char *where = cfg_where(cfg, RM_SEC_beanstalk, 0, NULL);
    struct bs_conf *bc;
    uint64_t ttr;

    if (!beanstalk_tube_valid(c->tube)) {
        module_diag(diag,
                    "%s: error: beanstalk: tube \"%s\" is not a valid tube "
                    "name (1-%d of A-Z a-z 0-9 - + / ; . $ _ ( ), not "
                    "starting with -)",
                    cfg_where(cfg, RM_SEC_beanstalk, 0, "tube"),
                    c->tube ? c->tube : "", RM_BS_TUBE_MAX);
        return -1;
    }
    if (c->priority < 0 || c->priority > (int64_t)UINT32_MAX) {
        module_diag(diag,
                    "%s: error: beanstalk: priority %" PRId64
                    " is out of 0..4294967295",
                    cfg_where(cfg, RM_SEC_beanstalk, 0, "priority"),
                    c->priority);
        return -1;
    }
    bc = xcalloc(1, sizeof(*bc));
    bc->cfg = cfg;
    bc->hdr_pool = pool_for(c, where, c->send_headers, "send_beanstalk_headers",
                            &c->servers, "servers", "beanstalk", diag);
    bc->copy_pool =
        pool_for(c, where, c->send_copy, "send_beanstalk_copy", &c->copy_server,
                 "copy_server", "beanstalk_copy", diag);
    bc->spam_pool =
        pool_for(c, where, c->send_spam, "send_beanstalk_spam", &c->spam_server,
                 "spam_server", "beanstalk_spam", diag);
    if (bc->spam_pool != NULL && cfg->spamd.servers.n == 0)
        diag_warn(diag,
                  "%s: warning: beanstalk: send_beanstalk_spam = yes but "
                  "spamd { servers } is empty: no message is judged spam, "
                  "so none is copied",
                  where);
    bc->opts.tube = c->tube;
    bc->opts.pri = (uint32_t)c->priority;
    ttr = c->lifetime / 1000;
    bc->opts.ttr = (uint32_t)(ttr < 1            ? 1
                              : ttr > BS_TTR_MAX ? BS_TTR_MAX
                                                 : ttr);
    bc->opts.connect_timeout_ms = c->connect_timeout;
    bc->opts.timeout_ms = c->timeout;
    bc->id_re = c->id_regexp;
    bc->copy_p = c->copy_probability;
    bc->max_size = c->max_size ? c->max_size : cfg->global.max_size;
    reg_add(bc);
    msg_debug("beanstalk: tube %s, priority %" PRIu32 ", ttr %" PRIu32
              "s; headers %s, copies %s (p=%g), spam %s",
              bc->opts.tube, bc->opts.pri, bc->opts.ttr,
              bc->hdr_pool ? "on" : "off", bc->copy_pool ? "on" : "off",
              bc->copy_p, bc->spam_pool ? "on" : "off");
    *mconf = bc;
    return 0;
}

static void
bs_needs(const void *mconf, uint32_t *stages, uint32_t *actions)
{
    const struct bs_conf *bc = mconf;

    *actions = 0;
    if (bc->hdr_pool == NULL && bc->copy_pool == NULL &&
        bc->spam_pool == NULL) {
        *stages = 0;
        return;
    }
    *stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL;
}

/* ------------------------------------------------------------------------ */
/* messages                                                                 */
/* ------------------------------------------------------------------------ */

/* The message in the spool, as jobs take it. */
struct bs_msg {
    const char *data; /* the first header */
    size_t len;       /* to the end of the body */
    size_t hdr_len;   /* headers and the empty line */
};

/* What the jobs of one message came to: the summary note, and whether
 * any job was stored and any put failed. */
struct bs_out {
    char note[BS_NOTE];
    bool stored;
    bool failed;
};

/* note_add - append "kind:text" to the summary note */
__attribute__((format(printf, 2, 3))) static void
note_add(struct bs_out *o, const char *fmt, ...)
{
    size_t used = strlen(o->note);
    va_list ap;

    if (used + 2 >= sizeof(o->note))
        return;
    if (used > 0)
        o->note[used++] = ' ';
    va_start(ap, fmt);
    vsnprintf(o->note + used, sizeof(o->note) - used, fmt, ap);
    va_end(ap);
}

/* msg_get - map the spool; 0 or -1 (logged) */
static int
msg_get(struct rm_msg *m, struct bs_msg *out)
{
    const char *base;
    size_t total;
    uint64_t off, body;

    if (m->spool == NULL) {
        msg_warn("%s: beanstalk: the message was not spooled; no copies",
                 m->tag);
        return -1;
    }
    if (spool_map(m->spool, &base, &total) < 0) {
        msg_warn("%s: beanstalk: cannot read the spooled message: %s; "
                 "no copies",
                 m->tag, strerror(errno));
        return -1;
    }
    off = spool_offset(m->spool, RM_SPOOL_MESSAGE);
    body = spool_offset(m->spool, RM_SPOOL_BODY);
    if (off > total)
        off = total;
    if (body < off || body > total)
        body = total;
    out->data = base + off;
    out->len = total - (size_t)off;
    out->hdr_len = (size_t)(body - off);
    return 0;
}

/* ids_match - does some id of value match re; the id into shown */
static bool
ids_match(const char *value, const struct rm_regex *re, char *shown,
          size_t size)
{
    const char *p, *e, *b;
    int depth = 0;
    bool any = false;

    for (p = value; *p != '\0'; p++) {
        if (*p == '(') {
            depth++;
        } else if (*p == ')' && depth > 0) {
            depth--;
        } else if (*p == '<' && depth == 0) {
            if ((e = strchr(p, '>')) == NULL)
                break;
            any = true;
            if (regex_match(re, p, (size_t)(e - p) + 1)) {
                snprintf(shown, size, "%.*s", (int)((size_t)(e - p) + 1), p);
                return true;
            }
            p = e;
        }
    }
    if (any)
        return false;
    for (b = value; *b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'; b++)
        ;
    e = b + strlen(b);
    while (e > b &&
           (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    if (e > b && regex_match(re, b, (size_t)(e - b))) {
        snprintf(shown, size, "%.*s", (int)(e - b), b);
        return true;
    }
    return false;
}

/* id_match - an id of In-Reply-To or References matches id_regexp */
static bool
id_match(const struct rm_msg *m, const struct rm_regex *re, char *shown,
         size_t size)
{
    size_t h;

    for (h = 0; h < m->n_hdrs; h++) {
        if (strcasecmp(m->hdrs[h].name, "In-Reply-To") != 0 &&
            strcasecmp(m->hdrs[h].name, "References") != 0)
            continue;
        if (ids_match(m->hdrs[h].value, re, shown, size))
            return true;
    }
    return false;
}

/* too_big - the job exceeds max_size (logged and counted) */
static bool
too_big(const struct bs_conf *bc, const struct rm_msg *m, enum bs_kind kind,
        size_t len)
{
    if (bc->max_size == 0 || len <= bc->max_size)
        return false;
    atomic_fetch_add(&st_skipped_size, 1);
    msg_info("%s: beanstalk: %s not sent: %zu bytes over max_size %" PRIu64,
             m->tag, kind_names[kind], len, bc->max_size);
    return true;
}

/*
 * put - one job to pool, logged and counted, the outcome added to o.
 * Returns 0 when stored or skipped because the pool is dead, -1 when
 * the put failed.
 */
static int
put(const struct bs_conf *bc, struct rm_msg *m, struct rm_upstream_pool *pool,
    enum bs_kind kind, const char *data, size_t len, uint64_t deadline,
    struct bs_out *o)
{
    struct rm_bs_result res;
    const char *what = kind_names[kind];
    int rc;

    rc = bs_put(pool, &bc->opts, deadline, data, len, &res);
    if (rc == 0) {
        atomic_fetch_add(&st_sent, 1);
        if (res.buried) {
            atomic_fetch_add(&st_buried, 1);
            msg_warn("%s: beanstalk: %s to %s: stored as job %" PRIu64
                     " but BURIED: beanstalkd is short of memory",
                     m->tag, what, res.server, res.id);
        } else {
            msg_debug("%s: beanstalk: %s to %s tube %s: job %" PRIu64
                      " (%zu bytes)",
                      m->tag, what, res.server, bc->opts.tube, res.id, len);
        }
        note_add(o, "%s:%" PRIu64 "%s", what, res.id,
                 res.buried ? "(buried)" : "");
        o->stored = true;
        return 0;
    }
    if (rc == -EHOSTDOWN) {
        atomic_fetch_add(&st_skipped_dead, 1);
        msg_debug("%s: beanstalk: %s not sent: %s", m->tag, what, res.why);
        note_add(o, "%s:skipped(dead)", what);
        return 0;
    }
    atomic_fetch_add(&st_failed, 1);
    o->failed = true;
    if (rc == -E2BIG) {
        atomic_fetch_add(&st_too_big, 1);
        msg_warn("%s: beanstalk: %s to %s: JOB_TOO_BIG: beanstalkd max job "
                 "size is smaller than the message (%zu bytes): raise "
                 "beanstalkd -z",
                 m->tag, what, res.server, len);
        note_add(o, "%s:too-big", what);
        return -1;
    }
    if (res.attempts == 0)
        msg_warn("%s: beanstalk: %s not sent: %s", m->tag, what, res.why);
    else
        msg_warn("%s: beanstalk: %s to %s failed after %u attempt%s: %s",
                 m->tag, what, res.server, res.attempts,
                 res.attempts == 1 ? "" : "s", res.why);
    note_add(o, "%s:failed", what);
    return -1;
}

/* spam_copy - the spam job, once per message (as put(); 0 when there is
 * nothing to send) */
static int
spam_copy(const struct bs_conf *bc, struct rm_msg *m, const struct bs_msg *bm,
          uint64_t deadline, struct bs_out *o)
{
    if (bc->spam_pool == NULL || m->spam_action == RM_SPAM_NONE)
        return 0;
    if (strcmp(spam_done_tag, m->tag) == 0) {
        note_add(o, "spam:sent-before");
        return 0;
    }
    snprintf(spam_done_tag, sizeof(spam_done_tag), "%s", m->tag);
    if (too_big(bc, m, BS_SPAM, bm->len)) {
        note_add(o, "spam:too-large");
        return 0;
    }
    return put(bc, m, bc->spam_pool, BS_SPAM, bm->data, bm->len, deadline, o);
}

void
beanstalk_spam_copy(struct rm_msg *m)
{
    struct bs_conf *bc;
    struct bs_msg bm;
    struct bs_out o = {.note = ""};

    if (m == NULL || m->spam_action == RM_SPAM_NONE)
        return;
    bc = reg_find(m->sess->cfg);
    if (bc == NULL || bc->spam_pool == NULL)
        return;
    if (strcmp(spam_done_tag, m->tag) == 0 || msg_get(m, &bm) < 0)
        return;
    /* the scanner ends the message: this module's hook and its summary
     * note will not come, so the outcome is logged here */
    (void)spam_copy(bc, m, &bm, io_deadline(bc->opts.timeout_ms), &o);
    msg_info("%s: beanstalk: on the scanner's verdict: %s", m->tag,
             o.note[0] ? o.note : "nothing sent");
}

static enum rm_status
bs_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct bs_conf *bc = mconf;
    struct bs_msg bm;
    struct bs_out o = {.note = ""};
    char id[BS_SHOWN + 1];
    bool whole;
    /* one budget for every job of the message */
    uint64_t deadline = io_deadline(bc->opts.timeout_ms);

    if (msg_get(m, &bm) < 0) {
        verdict_note(v, "failed(no spooled message)");
        return RM_ERROR;
    }
    if (bc->hdr_pool != NULL) {
        whole = bc->id_re != NULL && id_match(m, bc->id_re, id, sizeof(id));
        if (whole) {
            msg_info("%s: beanstalk: %s matches id_regexp %s: the whole "
                     "message goes to servers",
                     m->tag, id, regex_source(bc->id_re));
            if (too_big(bc, m, BS_HEADERS, bm.len))
                whole = false;
        }
        if (!whole && too_big(bc, m, BS_HEADERS, bm.hdr_len))
            note_add(&o, "headers:too-large");
        else
            (void)put(bc, m, bc->hdr_pool, BS_HEADERS, bm.data,
                      whole ? bm.len : bm.hdr_len, deadline, &o);
    }
    if (bc->copy_pool != NULL) {
        if (!sampled(bc->copy_p)) {
            atomic_fetch_add(&st_not_sampled, 1);
            note_add(&o, "copy:not-sampled");
        } else if (too_big(bc, m, BS_COPY, bm.len)) {
            note_add(&o, "copy:too-large");
        } else {
            (void)put(bc, m, bc->copy_pool, BS_COPY, bm.data, bm.len, deadline,
                      &o);
        }
    }
    (void)spam_copy(bc, m, &bm, deadline, &o);
    /* the first word is the outcome the metrics count */
    verdict_note(v, "%s(%s)",
                 o.failed   ? "failed"
                 : o.stored ? "sent"
                            : "none",
                 o.note[0] ? o.note : "nothing to send");
    return o.failed ? RM_ERROR : RM_CONTINUE;
}

void
beanstalk_stats(struct rm_bs_stats *out)
{
    out->sent = atomic_load(&st_sent);
    out->buried = atomic_load(&st_buried);
    out->failed = atomic_load(&st_failed);
    out->too_big = atomic_load(&st_too_big);
    out->skipped_dead = atomic_load(&st_skipped_dead);
    out->skipped_size = atomic_load(&st_skipped_size);
    out->not_sampled = atomic_load(&st_not_sampled);
}

const struct rm_module rm_beanstalk_module = {
    .name = "beanstalk",
    .enabled = bs_enabled,
    .init = bs_init,
    .fini = bs_fini,
    .on_failure = bs_on_failure,
    .on_eom = bs_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions = 0,
    .needs = bs_needs,
};
