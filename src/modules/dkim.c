/*
 * NAME
 *   dkim - DKIM signatures (RFC 6376, RFC 8463) for outbound mail, with
 *   libopendkim
 *
 * DESCRIPTION
 *   Runs when dkim { enable } is on and at least one domain { } block is
 *   written. At end of message, last of all modules (so a message another
 *   check refused is never signed), mail is signed when the sender is
 *   authenticated ({auth_authen}, our_networks or a unix-socket client),
 *   or the client is in dkim { sign_networks }, or dkim { auth_only } is
 *   off. Otherwise nothing happens.
 *
 *   The signing domain is the domain of the header From: address (not the
 *   envelope sender, which the original used), or its nearest configured
 *   parent domain; matching is exact by labels, never by substring
 *   (dkim_keys.h). Mail from a domain without a key is not signed and is
 *   logged at info. Every key of the signing domain adds one signature
 *   (RSA and Ed25519 side by side if both are configured).
 *
 *   Each signature covers the headers named in dkim { sign_headers } that
 *   the message has (libopendkim's DKIM_OPTS_SIGNHDRS) and the whole body,
 *   with dkim { header_canon; body_canon }, and is inserted at the top of
 *   the header (SMFIR_INSHEADER index 0, where verifiers and other
 *   signers expect it; the original appended it). Folded with LF line
 *   ends when dkim { fold_header } (the MTA makes them CRLF), one line
 *   otherwise; Ed25519 signatures with header_canon = simple are never
 *   folded (libopendkim 2.11 folds those unlike what it signed, see
 *   sign_one).
 *
 *   Lines over 998 bytes: Postfix wraps such lines when it relays the
 *   message (smtp_line_length_limit), which breaks the signature. A
 *   signed header or a body line that long is logged as a warning with
 *   the message tag; an unfolded signature that long is logged once per
 *   config generation, suggesting fold_header = yes.
 *
 *   What is signed: each header as it was written, "Name:" and exactly
 *   what followed the colon (struct rm_header's raw: byte for byte when
 *   the MTA speaks SMFIP_HDR_LEADSPC, else with the one space it ate put
 *   back), its line breaks made CRLF; the body from
 *   the spool (RM_NEED_SPOOL) as received. Headers that earlier modules
 *   add or change in the same pass are not covered (they are sent to the
 *   MTA together with the signature).
 *
 *   Keys are loaded and checked when the config generation is built
 *   (dkim_keys.h; then once more by libopendkim, by making a test
 *   signature context per key), so a bad key fails `rmilter -t` and a
 *   reload, naming the file, and never tempfails mail. A libopendkim
 *   failure while signing is a module failure (dkim { on_failure },
 *   default tempfail).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Per generation: one DKIM_LIB (dkim_init; its options are set at init
 *   and only read afterwards, as OpenDKIM's own filter shares one library
 *   handle between its threads) and the key set, both read-only while
 *   sessions run and freed by fini. Per message: DKIM handles made and
 *   freed inside the EOM hook; no module state survives a hook. The
 *   "long signature" flag is atomic. libopendkim allocates through
 *   mem_alloc/mem_free with a per-handle closure (struct dkim_mem), so the
 *   key material libopendkim 2.11 forgets to free for Ed25519 signatures
 *   is released here (see "libopendkim's memory").
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <opendkim/dkim.h>

#include "core/module.h"
#include "core/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/dkim_keys.h"
#include "modules/modules.h"

#define DKIM_LINE_MAX 998 /* RFC 5322 2.1.1 */
#define DKIM_MAX_SIGS 8   /* signatures per message */
#define DKIM_HDR "DKIM-Signature"
#define DKIM_FOLD_MARGIN 78

struct dkim_conf {
    DKIM_LIB *lib;
    struct rm_dkim_keys *keys;
    dkim_canon_t hcanon, bcanon;
    bool auth_only, fold;
    const struct rm_iplist *sign_networks;
    const struct rm_strlist *sign_headers;
    atomic_bool warned_long_sig;
};

/* ------------------------------------------------------------------------ */
/* libopendkim's memory                                                     */
/* ------------------------------------------------------------------------ */

/*
 * libopendkim 2.11 leaks about 1.3 KB per Ed25519 signature: dkim_free
 * releases the key material of a signature (the OpenSSL key, the BIO it
 * was read from, the signature buffer) only for RSA keys. Every handle
 * allocates through these callbacks (dkim_init) with a struct dkim_mem of
 * its own as the closure, which records the live blocks. So:
 *   - when dkim_free releases the signature's crypto block of an Ed25519
 *     handle, mem_free recognises it (crypto_fingerprint) and frees the
 *     OpenSSL objects it points to;
 *   - after dkim_free, mem_sweep frees whatever block the library left.
 * The crypto block is recognised by its layout in 2.11 (struct
 * dkim_crypto, OpenSSL build, mirrored below) and by its content: a
 * 64-byte output length, an output pointer to a live 64-byte block of
 * the same handle, and a key OpenSSL says is Ed25519. Anything else is
 * left alone, so another library version at worst leaks as before.
 */
struct odkim_crypto {
    unsigned char pad;
    int keysize;
    size_t inlen;
    size_t outlen;
    void *pkey; /* EVP_PKEY * */
    void *key;
    void *keydata; /* BIO * */
    unsigned char *in;
    unsigned char *out;
};

#define ED25519_SIGLEN 64

struct dkim_blk {
    void *p;
    size_t len;
};

struct dkim_mem {
    bool ed25519;
    size_t n, cap;
    struct dkim_blk *v;
    unsigned released; /* crypto blocks cleaned up (for the self-test) */
};

static ssize_t
mem_find(const struct dkim_mem *mm, const void *p)
{
    size_t i;

    for (i = mm->n; i-- > 0;)
        if (mm->v[i].p == p)
            return (ssize_t)i;
    return -1;
}

static void *
mem_alloc(void *closure, size_t len)
{
    struct dkim_mem *mm = closure;
    void *p = xmalloc(len ? len : 1);

    if (mm != NULL) {
        if (mm->n == mm->cap) {
            mm->cap = mm->cap ? 2 * mm->cap : 64;
            mm->v = xrealloc(mm->v, mm->cap * sizeof(*mm->v));
        }
        mm->v[mm->n].p = p;
        mm->v[mm->n].len = len;
        mm->n++;
    }
    return p;
}

/* crypto_fingerprint - release the OpenSSL objects of an Ed25519 crypto
 * block b of mm (see above); false if b does not look like one */
static bool
crypto_fingerprint(struct dkim_mem *mm, const struct dkim_blk *b)
{
    struct odkim_crypto c;
    ssize_t o;

    if (!mm->ed25519 || b->len != sizeof(c))
        return false;
    memcpy(&c, b->p, sizeof(c));
    if (c.outlen != ED25519_SIGLEN || c.out == NULL || c.pkey == NULL)
        return false;
    o = mem_find(mm, c.out);
    if (o < 0 || mm->v[o].len != ED25519_SIGLEN)
        return false;
    if (EVP_PKEY_get_base_id((EVP_PKEY *)c.pkey) != EVP_PKEY_ED25519)
        return false;
    EVP_PKEY_free((EVP_PKEY *)c.pkey);
    if (c.keydata != NULL)
        BIO_free((BIO *)c.keydata);
    /* the block itself is freed by the caller; keep it from being
     * recognised twice */
    memset(b->p, 0, sizeof(c));
    mm->released++;
    return true;
}

static void
mem_free(void *closure, void *p)
{
    struct dkim_mem *mm = closure;
    ssize_t i;

    if (p == NULL)
        return;
    if (mm != NULL && (i = mem_find(mm, p)) >= 0) {
        crypto_fingerprint(mm, &mm->v[i]);
        mm->v[i] = mm->v[--mm->n];
    }
    free(p);
}

/* mem_sweep - after dkim_free: free what the library left behind */
static void
mem_sweep(struct dkim_mem *mm)
{
    size_t i;

    for (i = 0; i < mm->n; i++)
        crypto_fingerprint(mm, &mm->v[i]);
    for (i = 0; i < mm->n; i++)
        free(mm->v[i].p);
    free(mm->v);
    mm->v = NULL;
    mm->n = mm->cap = 0;
}

/* ------------------------------------------------------------------------ */
/* generation                                                               */
/* ------------------------------------------------------------------------ */

static bool
dkim_enabled(const struct rm_config *cfg)
{
    return cfg->dkim.enable && cfg->n_dkim_domain > 0;
}

static enum rm_on_failure
dkim_on_failure(const struct rm_config *cfg)
{
    return (enum rm_on_failure)cfg->dkim.on_failure;
}

static void
dkim_fini(void *mconf)
{
    struct dkim_conf *dc = mconf;

    if (dc == NULL)
        return;
    if (dc->lib != NULL)
        dkim_close(dc->lib);
    dkim_keys_free(dc->keys);
    free(dc);
}

/* key_usable - libopendkim itself can sign with the key (its own loader,
 * a whole signature of a two-line message); 0, or -1 with why */
static int
key_usable(DKIM_LIB *lib, const struct rm_dkim_key *k, char *why, size_t len)
{
    struct dkim_mem mm = {.ed25519 = k->type == RM_DKIM_KEY_ED25519};
    char from[300];
    unsigned char *sig = NULL;
    size_t siglen = 0;
    DKIM_STAT st = DKIM_STAT_OK;
    DKIM *d;
    int rc = 0;

    d = dkim_sign(lib, (const unsigned char *)"rmilter-init", &mm,
                  (dkim_sigkey_t)k->pem, (const unsigned char *)k->selector,
                  (const unsigned char *)k->domain, DKIM_CANON_RELAXED,
                  DKIM_CANON_RELAXED, (dkim_alg_t)k->alg, -1, &st);
    if (d == NULL) {
        snprintf(why, len, "%s", dkim_getresultstr(st));
        mem_sweep(&mm);
        return -1;
    }
    snprintf(from, sizeof(from), "From: postmaster@%s", k->domain);
    st = dkim_header(d, (unsigned char *)from, strlen(from));
    if (st == DKIM_STAT_OK)
        st = dkim_eoh(d);
    if (st == DKIM_STAT_OK)
        st = dkim_body(d, (unsigned char *)"test\r\n", 6);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(d, NULL);
    if (st == DKIM_STAT_OK)
        st = dkim_getsighdr_d(d, strlen(DKIM_HDR) + 2, &sig, &siglen);
    if (st != DKIM_STAT_OK || sig == NULL) {
        snprintf(why, len, "%s",
                 dkim_geterror(d) ? dkim_geterror(d) : dkim_getresultstr(st));
        rc = -1;
    }
    dkim_free(d);
    mem_sweep(&mm);
    return rc;
}

static int
dkim_init_gen(const struct rm_config *cfg, void **mconf, struct rm_diag *diag)
{
    const char *where = cfg_where(cfg, RM_SEC_dkim, 0, NULL);
    const char *hwhere = cfg_where(cfg, RM_SEC_dkim, 0, "sign_headers");
    struct dkim_conf *dc = xcalloc(1, sizeof(*dc));
    const char **hdrs = NULL;
    char why[256];
    size_t i;
    bool has_from = false;
    DKIM_STAT st;

    dc->auth_only = cfg->dkim.auth_only;
    dc->fold = cfg->dkim.fold_header;
    dc->hcanon =
        cfg->dkim.header_canon == 0 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    dc->bcanon =
        cfg->dkim.body_canon == 0 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    dc->sign_networks = cfg->dkim.sign_networks;
    dc->sign_headers = &cfg->dkim.sign_headers;
    atomic_init(&dc->warned_long_sig, false);

    for (i = 0; i < cfg->dkim.sign_headers.n; i++)
        if (strcasecmp(cfg->dkim.sign_headers.v[i], "from") == 0)
            has_from = true;
    if (!has_from) {
        module_diag(diag,
                    "%s: error: dkim: sign_headers must include from "
                    "(RFC 6376 5.4)",
                    hwhere);
        goto fail;
    }

    if (dkim_keys_load(cfg, &dc->keys, diag) < 0)
        goto fail;

    dc->lib = dkim_init(mem_alloc, mem_free);
    if (dc->lib == NULL) {
        module_diag(diag, "%s: error: dkim: libopendkim failed to start",
                    where);
        goto fail;
    }
    hdrs = xcalloc(cfg->dkim.sign_headers.n + 1, sizeof(*hdrs));
    for (i = 0; i < cfg->dkim.sign_headers.n; i++)
        hdrs[i] = cfg->dkim.sign_headers.v[i];
    /* libopendkim copies the list */
    st = dkim_options(dc->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, hdrs,
                      sizeof(hdrs));
    free(hdrs);
    if (st != DKIM_STAT_OK) {
        module_diag(diag, "%s: error: dkim: sign_headers: %s", hwhere,
                    dkim_getresultstr(st));
        goto fail;
    }

    for (i = 0; i < dc->keys->n; i++) {
        const struct rm_dkim_key *k = &dc->keys->v[i];

        where = cfg_where(cfg, RM_SEC_dkim_domain, k->block, "key");
        if (k->type == RM_DKIM_KEY_ED25519 &&
            !dkim_libfeature(dc->lib, DKIM_FEATURE_ED25519)) {
            module_diag(diag,
                        "%s: error: dkim: domain %s selector %s: key file %s "
                        "is an Ed25519 key, which this libopendkim cannot "
                        "sign with",
                        where, k->domain, k->selector, k->path);
            goto fail;
        }
        if (key_usable(dc->lib, k, why, sizeof(why)) < 0) {
            module_diag(diag,
                        "%s: error: dkim: domain %s selector %s: key file %s: "
                        "libopendkim cannot use it: %s",
                        where, k->domain, k->selector, k->path, why);
            goto fail;
        }
    }
    *mconf = dc;
    return 0;

fail:
    dkim_fini(dc);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* signing                                                                  */
/* ------------------------------------------------------------------------ */

static bool
may_sign(const struct dkim_conf *dc, const struct rm_msg *m)
{
    const struct rm_session *s = m->sess;

    if (!dc->auth_only || m->authenticated)
        return true;
    return s->has_addr && dc->sign_networks != NULL &&
           iplist_match(dc->sign_networks, &s->addr);
}

static bool
is_signed_header(const struct dkim_conf *dc, const char *name)
{
    size_t i;

    for (i = 0; i < dc->sign_headers->n; i++)
        if (strcasecmp(dc->sign_headers->v[i], name) == 0)
            return true;
    return false;
}

/* longest_line - the longest line of s[0..len), without its line end;
 * the first line counts first_extra more bytes (the "Name: " before a
 * header value) */
static size_t
longest_line(const char *s, size_t len, size_t first_extra)
{
    size_t max = 0, start = 0, extra = first_extra, i, l;

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '\n')
            continue;
        l = i - start;
        if (l > 0 && s[i - 1] == '\r')
            l--;
        l += extra;
        extra = 0;
        if (l > max)
            max = l;
        start = i + 1;
    }
    return max;
}

/* header_text - "Name:" raw (exactly what followed the colon, struct
 * rm_header) with every line break CRLF */
static char *
header_text(const char *name, const char *value, size_t *len)
{
    size_t nl = strlen(name), vl = strlen(value), i, o;
    char *buf = xmalloc(nl + 2 * vl + 2);

    memcpy(buf, name, nl);
    o = nl;
    buf[o++] = ':';
    for (i = 0; i < vl; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
            buf[o++] = '\r';
        buf[o++] = value[i];
    }
    buf[o] = '\0';
    *len = o;
    return buf;
}

/* body_of - the spooled body (empty without a spool); -1 if unreadable */
static int
body_of(struct rm_msg *m, const char **body, size_t *len)
{
    const char *data;
    size_t all;
    uint64_t off;

    *body = "";
    *len = 0;
    if (m->spool == NULL)
        return 0;
    if (spool_map(m->spool, &data, &all) < 0)
        return -1;
    off = spool_offset(m->spool, RM_SPOOL_BODY);
    if (off > all)
        off = all;
    *body = data + off;
    *len = all - (size_t)off;
    return 0;
}

static const char *
alg_name(enum rm_dkim_alg a)
{
    switch (a) {
    case RM_DKIM_RSA_SHA1:
        return "rsa-sha1";
    case RM_DKIM_ED25519_SHA256:
        return "ed25519-sha256";
    default:
        return "rsa-sha256";
    }
}

/* sign_one - one signature with k; the header value (LF line ends), or
 * NULL with why[] set */
static char *
sign_one(struct dkim_conf *dc, struct rm_msg *m, const struct rm_dkim_key *k,
         const char *body, size_t blen, char *why, size_t whylen)
{
    unsigned char *sig = NULL;
    size_t siglen = 0, i, o, hlen;
    char *h, *out = NULL;
    DKIM_STAT st = DKIM_STAT_OK;
    struct dkim_mem mm = {.ed25519 = k->type == RM_DKIM_KEY_ED25519};
    bool fold;
    DKIM *d;

    d = dkim_sign(dc->lib, (const unsigned char *)m->tag, &mm,
                  (dkim_sigkey_t)k->pem, (const unsigned char *)k->selector,
                  (const unsigned char *)k->domain, dc->hcanon, dc->bcanon,
                  (dkim_alg_t)k->alg, -1, &st);
    if (d == NULL) {
        snprintf(why, whylen, "%s", dkim_getresultstr(st));
        mem_sweep(&mm);
        return NULL;
    }
    for (i = 0; i < m->n_hdrs; i++) {
        h = header_text(m->hdrs[i].name, m->hdrs[i].raw, &hlen);
        st = dkim_header(d, (unsigned char *)h, hlen);
        free(h);
        if (st != DKIM_STAT_OK)
            goto fail;
    }
    st = dkim_eoh(d);
    if (st != DKIM_STAT_OK)
        goto fail;
    if (blen > 0) {
        st = dkim_body(d, (unsigned char *)body, blen);
        if (st != DKIM_STAT_OK)
            goto fail;
    }
    /* libopendkim 2.11 folds an Ed25519 signature differently from the
     * header it hashed, which "simple" header canonicalization notices
     * (verifiers reject it; RSA is right). Such signatures stay on one
     * line: they are short (~300 bytes). */
    fold = dc->fold &&
           !(k->type == RM_DKIM_KEY_ED25519 && dc->hcanon == DKIM_CANON_SIMPLE);
    st = dkim_set_margin(d, fold ? DKIM_FOLD_MARGIN : 0);
    if (st != DKIM_STAT_OK)
        goto fail;
    st = dkim_eom(d, NULL);
    if (st != DKIM_STAT_OK)
        goto fail;
    st = dkim_getsighdr_d(d, strlen(DKIM_HDR) + 2, &sig, &siglen);
    if (st != DKIM_STAT_OK || sig == NULL)
        goto fail;
    /* the milter convention: LF line ends, the MTA adds the CRs */
    out = xmalloc(siglen + 1);
    for (i = 0, o = 0; i < siglen; i++)
        if (sig[i] != '\r')
            out[o++] = (char)sig[i];
    out[o] = '\0';
    dkim_free(d);
    mem_sweep(&mm);
    return out;

fail:
    /* the error text lives in d: copy it before freeing d */
    snprintf(why, whylen, "%s",
             dkim_geterror(d) ? dkim_geterror(d) : dkim_getresultstr(st));
    dkim_free(d);
    mem_sweep(&mm);
    return NULL;
}

/* warn_long_lines - signed headers and body lines Postfix would wrap */
static void
warn_long_lines(struct dkim_conf *dc, const struct rm_msg *m, const char *body,
                size_t blen)
{
    size_t i, l;

    for (i = 0; i < m->n_hdrs; i++) {
        if (!is_signed_header(dc, m->hdrs[i].name))
            continue;
        l = longest_line(m->hdrs[i].raw, strlen(m->hdrs[i].raw),
                         strlen(m->hdrs[i].name) + 1);
        if (l > DKIM_LINE_MAX)
            msg_warn("%s: dkim: signed header %s has a line of %zu bytes "
                     "(over %d): the MTA may wrap it on relay and break the "
                     "signature",
                     m->tag, m->hdrs[i].name, l, DKIM_LINE_MAX);
    }
    l = longest_line(body, blen, 0);
    if (l > DKIM_LINE_MAX)
        msg_warn("%s: dkim: the body has a line of %zu bytes (over %d): the "
                 "MTA may wrap it on relay and break the signature",
                 m->tag, l, DKIM_LINE_MAX);
}

static enum rm_status
dkim_eom_hook(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    struct dkim_conf *dc = mconf;
    const struct rm_dkim_key *keys[DKIM_MAX_SIGS];
    const char *from, *signing, *body;
    char domain[256], sels[256], why[256];
    size_t n, i, blen, used = 0, l;
    char *sig;

    if (!may_sign(dc, m)) {
        verdict_note(v, "skipped(not authenticated)");
        return RM_DECLINED;
    }
    from = msg_header(m, "From");
    if (from == NULL || dkim_from_domain(from, domain, sizeof(domain)) < 0) {
        msg_info("%s: dkim: %s; not signed", m->tag,
                 from ? "no domain in the From: header" : "no From: header");
        verdict_note(v, "unsigned(no From domain)");
        return RM_DECLINED;
    }
    n = dkim_keys_find(dc->keys, domain, keys, DKIM_MAX_SIGS, &signing);
    if (n == 0) {
        msg_info("%s: dkim: no key for %s; not signed", m->tag, domain);
        verdict_note(v, "unsigned(no key for %s)", domain);
        return RM_DECLINED;
    }
    if (body_of(m, &body, &blen) < 0) {
        verdict_note(v, "cannot read the message");
        return RM_ERROR;
    }
    warn_long_lines(dc, m, body, blen);

    sels[0] = '\0';
    for (i = 0; i < n; i++) {
        sig = sign_one(dc, m, keys[i], body, blen, why, sizeof(why));
        if (sig == NULL) {
            msg_err("%s: dkim: signing as d=%s s=%s (%s) failed: %s", m->tag,
                    keys[i]->domain, keys[i]->selector, keys[i]->path, why);
            verdict_note(v, "signing failed: %s", why);
            return RM_ERROR;
        }
        l = longest_line(sig, strlen(sig), strlen(DKIM_HDR) + 2);
        if (l > DKIM_LINE_MAX && !atomic_exchange(&dc->warned_long_sig, true))
            msg_warn("dkim: a DKIM-Signature line is %zu bytes (over %d): "
                     "the MTA may wrap it and break it; set "
                     "dkim { fold_header = yes; }",
                     l, DKIM_LINE_MAX);
        verdict_mod(v, RM_MOD_INSERT_HEADER, 0, DKIM_HDR, sig, strlen(sig));
        msg_info("%s: dkim: signed as d=%s s=%s a=%s%s%s", m->tag,
                 keys[i]->domain, keys[i]->selector, alg_name(keys[i]->alg),
                 strcmp(signing, domain) != 0 ? " for From: domain " : "",
                 strcmp(signing, domain) != 0 ? domain : "");
        if (used < sizeof(sels))
            used += (size_t)snprintf(sels + used, sizeof(sels) - used, "%s%s",
                                     i ? "," : "", keys[i]->selector);
        free(sig);
    }
    verdict_note(v, "signed(d=%s s=%s)", signing, sels);
    return RM_CONTINUE;
}

const struct rm_module rm_dkim_module = {
    .name = "dkim",
    .enabled = dkim_enabled,
    .init = dkim_init_gen,
    .fini = dkim_fini,
    .on_failure = dkim_on_failure,
    .on_eom = dkim_eom_hook,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
    .actions = RM_CAN_ADDHDRS,
};
