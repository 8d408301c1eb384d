/*
 * NAME
 *   replies - reply whitelisting: replies to our senders' mail skip checks
 *
 * DESCRIPTION
 *   Enabled by reply_whitelist = yes (ids in the embedded store) or by
 *   redis { servers_id } (ids in Redis, as in the original).
 *
 *   Remember: at EOM, the Message-ID of a message from an authenticated
 *   sender (SASL, our_networks, a local client) is stored at id_prefix +
 *   the lowercase hex SHA-256 of the id (angle brackets included, as
 *   written), with TTL redis.id_ttl; the value is the time it was stored
 *   (ms since the epoch). The original rmilter never wrote these keys and
 *   left it to "other MXes"; here the MTA that sends the mail remembers
 *   it, so a single MTA needs nothing else.
 *
 *   Recognise: at EOH, for mail from anyone else, every message id in
 *   In-Reply-To and EVERY id in References (the original skipped the last
 *   one, which is the parent, the most likely to be ours) is looked up,
 *   In-Reply-To first, then References from the newest; at most
 *   RP_MAX_IDS lookups per message. Ids are the <...> tokens of the
 *   headers (comments and folding ignored); a header without any is
 *   taken as one bare id. If any id is known, m->is_reply is set and
 *   logged; spam scanners skip such mail, and so does greylisting when it
 *   runs on the scanner's verdict. Greylisting at DATA cannot: it happens
 *   before any header arrives (greylist.h).
 *
 *   Failures never block mail: a lookup that fails counts as "not a
 *   reply" (the message gets every check; the remaining ids are not
 *   tried, so a hung server costs one read_timeout), a store that fails
 *   is logged;
 *   both are RM_ERROR with the fixed policy continue.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct rp_conf belongs to the generation, read-only; the store handle
 *   is thread-safe. No per-message state besides m->is_reply.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/module.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/modstore.h"
#include "modules/modules.h"

#define RP_MAX_IDS 32
#define RP_ID_MAX 998 /* longest id considered (an RFC 5322 line) */
#define RP_SHOWN 80   /* id characters shown in a log line */

struct rp_conf {
    const struct rm_config *cfg;
    const char *prefix;
    uint64_t ttl_ms;
    struct rm_store *st;
};

/* A list of ids found in headers, each a copy. */
struct idlist {
    char *v[RP_MAX_IDS];
    size_t n;
};

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static bool
rp_enabled(const struct rm_config *cfg)
{
    return cfg->global.reply_whitelist || cfg->redis.servers_id.n > 0;
}

static void
rp_fini(void *mconf)
{
    struct rp_conf *rc = mconf;

    if (rc == NULL)
        return;
    store_free(rc->st);
    free(rc);
}

static int
rp_init(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    struct rp_conf *rc = xcalloc(1, sizeof(*rc));
    char d[64];

    rc->cfg = cfg;
    rc->prefix = cfg->redis.id_prefix ? cfg->redis.id_prefix : "";
    rc->ttl_ms = cfg->redis.id_ttl;
    if (modstore_open(cfg, RM_ROLE_ID, &rc->st, diag) < 0) {
        rp_fini(rc);
        return -1;
    }
    msg_debug("replies: message ids in the %s",
              modstore_describe(cfg, RM_ROLE_ID, d, sizeof(d)));
    *mconf = rc;
    return 0;
}

static enum rm_on_failure
rp_on_failure(const struct rm_config *cfg)
{
    (void)cfg;
    return RM_ON_FAILURE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* ids                                                                      */
/* ------------------------------------------------------------------------ */

/* id_key - prefix + hex SHA-256 of id; 0 or -1 */
static int
id_key(const char *prefix, const char *id, char *buf, size_t len)
{
    static const char xd[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    size_t pl = strlen(prefix);
    int rc = -1;

    if (len < pl + 65 ||
        EVP_Digest(id, strlen(id), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return rc;
    memcpy(buf, prefix, pl);
    for (i = 0; i < n; i++) {
        buf[pl + 2 * i] = xd[md[i] >> 4];
        buf[pl + 2 * i + 1] = xd[md[i] & 15];
    }
    buf[pl + 2 * n] = '\0';
    rc = 0;
    return rc;
}

static void
ids_add(struct idlist *l, const char *p, size_t len)
{
    size_t i;

    if (len == 0 || len > RP_ID_MAX || l->n == RP_MAX_IDS)
        return;
    for (i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && memcmp(l->v[i], p, len) == 0)
            return;
    l->v[l->n++] = xstrndup(p, len);
}

static void
ids_free(struct idlist *l)
{
    while (l->n > 0)
        free(l->v[--l->n]);
}

/*
 * ids_parse - the ids of one header value into out[]/lens[], in order:
 * the <...> tokens outside comments, or, when there is none, the value
 * trimmed as one bare id (if it holds no blank). With more than max
 * tokens, the LAST max are kept. Returns how many (at most max >= 1).
 */
static size_t
ids_parse(const char *val, const char **out, size_t *lens, size_t max)
{
    const char *p = val, *b, *e, *rt[RP_MAX_IDS];
    size_t n = 0, i, rl[RP_MAX_IDS], first;
    int depth = 0;

    if (max > RP_MAX_IDS)
        max = RP_MAX_IDS;
    for (; *p != '\0'; p++) {
        if (*p == '(') {
            depth++;
        } else if (*p == ')' && depth > 0) {
            depth--;
        } else if (*p == '<' && depth == 0) {
            e = strchr(p, '>');
            if (e == NULL)
                break;
            rt[n % max] = p; /* a ring: the newest max stay */
            rl[n % max] = (size_t)(e - p) + 1;
            n++;
            p = e;
        }
    }
    if (n > 0) {
        first = n > max ? n % max : 0;
        n = n > max ? max : n;
        for (i = 0; i < n; i++) {
            out[i] = rt[(first + i) % max];
            lens[i] = rl[(first + i) % max];
        }
        return n;
    }
    b = val;
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    e = b + strlen(b);
    while (e > b &&
           (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    if (e == b || memchr(b, ' ', (size_t)(e - b)) != NULL ||
        memchr(b, '\t', (size_t)(e - b)) != NULL)
        return 0;
    out[0] = b;
    lens[0] = (size_t)(e - b);
    return 1;
}

/* collect - In-Reply-To ids, then References ids newest first */
static void
collect(const struct rm_msg *m, struct idlist *l)
{
    const char *tok[RP_MAX_IDS];
    size_t len[RP_MAX_IDS], n, i, h;

    for (h = 0; h < m->n_hdrs; h++) {
        if (strcasecmp(m->hdrs[h].name, "In-Reply-To") != 0)
            continue;
        n = ids_parse(m->hdrs[h].value, tok, len, RP_MAX_IDS);
        for (i = 0; i < n; i++)
            ids_add(l, tok[i], len[i]);
    }
    for (h = 0; h < m->n_hdrs; h++) {
        if (strcasecmp(m->hdrs[h].name, "References") != 0)
            continue;
        /* a long References keeps its newest ids */
        n = ids_parse(m->hdrs[h].value, tok, len, RP_MAX_IDS);
        while (n-- > 0)
            ids_add(l, tok[n], len[n]);
    }
}

/* the first id of a Message-ID value (see ids_parse) */
static char *
own_id(const struct rm_msg *m)
{
    const char *tok[1];
    size_t len[1];

    if (m->message_id == NULL)
        return NULL;
    if (ids_parse(m->message_id, tok, len, 1) != 1 || len[0] > RP_ID_MAX)
        return NULL;
    return xstrndup(tok[0], len[0]);
}

/* ------------------------------------------------------------------------ */
/* hooks                                                                    */
/* ------------------------------------------------------------------------ */

static enum rm_status
rp_mail(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    (void)mconf;
    (void)v;
    m->is_reply = false;
    return RM_DECLINED;
}

static enum rm_status
rp_eoh(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct rp_conf *rc = mconf;
    char key[RM_STORE_KEY_MAX + 1], val[RM_STORE_VAL_MAX + 1];
    struct rm_store_err err = {{0}};
    struct idlist l = {.n = 0};
    enum rm_status st = RM_CONTINUE;
    size_t i, failed = 0;
    int r;

    m->is_reply = false;
    if (m->authenticated)
        return RM_DECLINED; /* its id is stored at EOM */
    collect(m, &l);
    if (l.n == 0) {
        verdict_note(v, "no");
        goto out;
    }
    for (i = 0; i < l.n; i++) {
        if (id_key(rc->prefix, l.v[i], key, sizeof(key)) < 0)
            continue;
        r = store_get(rc->st, key, val, sizeof(val), &err);
        if (r == 0 || r == -EMSGSIZE) {
            m->is_reply = true;
            msg_info("%s: replies: is a reply to our message %.*s%s; spam "
                     "checks are skipped",
                     m->tag, RP_SHOWN, l.v[i],
                     strlen(l.v[i]) > RP_SHOWN ? "..." : "");
            verdict_note(v, "reply");
            goto out;
        }
        if (store_failed(r)) {
            failed++;
            break; /* one read_timeout per message at most */
        }
    }
    if (failed > 0) {
        verdict_note(v, "lookup failed: %s", err.msg);
        st = RM_ERROR;
    } else {
        verdict_note(v, "no");
    }
out:
    ids_free(&l);
    return st;
}

static enum rm_status
rp_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const struct rp_conf *rc = mconf;
    char key[RM_STORE_KEY_MAX + 1], val[32];
    struct rm_store_err err = {{0}};
    char *id;
    int r;

    if (!m->authenticated)
        return RM_CONTINUE; /* keep the EOH note */
    if ((id = own_id(m)) == NULL) {
        verdict_note(v, "no message-id");
        return RM_DECLINED;
    }
    if (id_key(rc->prefix, id, key, sizeof(key)) < 0) {
        free(id);
        verdict_note(v, "error(digest)");
        return RM_ERROR;
    }
    snprintf(val, sizeof(val), "%" PRIu64, modstore_now_ms());
    r = store_set(rc->st, key, val, rc->ttl_ms, &err);
    if (r < 0) {
        verdict_note(v, "store failure: %s", err.msg);
        free(id);
        return RM_ERROR;
    }
    msg_debug("%s: replies: remembered %.*s for %" PRIu64 "s", m->tag, RP_SHOWN,
              id, rc->ttl_ms / 1000);
    verdict_note(v, "stored");
    free(id);
    return RM_CONTINUE;
}

const struct rm_module rm_replies_module = {
    .name = "replies",
    .enabled = rp_enabled,
    .init = rp_init,
    .fini = rp_fini,
    .on_failure = rp_on_failure,
    .on_mail = rp_mail,
    .on_eoh = rp_eoh,
    .on_eom = rp_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_MAIL) | RM_STAGE_BIT(RM_STAGE_HEADER) |
              RM_STAGE_BIT(RM_STAGE_EOH) | RM_STAGE_BIT(RM_STAGE_EOM),
    .actions = 0,
    /* MAIL and EOH only take notes; a store failure is on_failure =
     * continue (rp_on_failure) */
    .reply_stages = RM_STAGE_BIT(RM_STAGE_EOM),
};
