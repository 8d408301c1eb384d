/*
 * NAME
 *   dkim_keys - DKIM key loading and selection (see dkim_keys.h)
 *
 * DESCRIPTION
 *   Loading reads each key file whole (at most DKIM_KEY_MAX bytes), checks
 *   who may read it, parses it with OpenSSL to learn its type and size,
 *   and keeps the PEM text for libopendkim, which parses it again for each
 *   signature (dkim_sign takes the key as text). Invariant of a loaded
 *   set: every key parsed, has a type its algorithm can sign with, and no
 *   two keys share a domain and selector.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   A key set owns its strings; it is built by one thread and read-only
 *   afterwards. No global state (OpenSSL's parsers are thread-safe).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/module.h"
#include "lib/xmalloc.h"
#include "modules/dkim_keys.h"

#define DKIM_KEY_MAX (64u * 1024u) /* a 16384-bit RSA PEM is ~12 KiB */
#define DKIM_DOMAIN_MAX 253

/* sign_alg's ENUM order in cfg_directives.h */
enum { ALG_RSA_SHA256, ALG_RSA_SHA1, ALG_ED25519, ALG_SHA256, ALG_SHA1 };

struct load_ctx {
    const struct rm_config *cfg;
    struct rm_diag *diag;
    struct rm_dkim_keys *keys;
    const char *where; /* "file:line:col" the next diagnostic names */
    size_t block;      /* the domain { } block being loaded */
    int errors;
};

/* ------------------------------------------------------------------------ */
/* diagnostics                                                              */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static void
diag_line(struct load_ctx *x, bool warning, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (!warning) {
        x->errors++;
        module_diag(x->diag, "%s: error: dkim: %s", x->where, text);
        return;
    }
    /* module_diag counts errors only; a warning is added the same way */
    if (x->diag == NULL)
        return;
    x->diag->lines =
        xrealloc(x->diag->lines, (x->diag->n + 1) * sizeof(*x->diag->lines));
    x->diag->lines[x->diag->n++] =
        xasprintf("%s: warning: dkim: %s", x->where, text);
    x->diag->n_warnings++;
}

/* ------------------------------------------------------------------------ */
/* names                                                                    */
/* ------------------------------------------------------------------------ */

/* host_name_ok - letters, digits, '-', '_' and dots; no empty label */
static bool
host_name_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > DKIM_DOMAIN_MAX || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (s[i + 1] == '.')
                return false;
            continue;
        }
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

static char *
lower_dup(const char *s, size_t len)
{
    char *d = xstrndup(s, len);
    size_t i;

    for (i = 0; d[i]; i++)
        d[i] = (char)tolower((unsigned char)d[i]);
    return d;
}

/* ------------------------------------------------------------------------ */
/* one key                                                                  */
/* ------------------------------------------------------------------------ */

/* no_passphrase - encrypted keys are refused, never prompted for */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* read_key - the file's contents; NULL with a diagnostic */
static char *
read_key(struct load_ctx *x, const char *what, const char *path)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t r;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_line(x, false, "%s: key file %s: cannot open: %s", what, path,
                  strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_line(x, false, "%s: key file %s: not a regular file", what, path);
        goto out;
    }
    if (st.st_size == 0 || (uint64_t)st.st_size > DKIM_KEY_MAX) {
        diag_line(x, false,
                  "%s: key file %s: %s (a PEM private key is expected)", what,
                  path, st.st_size == 0 ? "empty" : "too large");
        goto out;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH))
        diag_line(x, true,
                  "%s: key file %s is %s by every user (mode %04o); "
                  "chmod o-rwx it",
                  what, path, (st.st_mode & S_IWOTH) ? "writable" : "readable",
                  (unsigned)(st.st_mode & 07777));
    buf = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            diag_line(x, false, "%s: key file %s: cannot read: %s", what, path,
                      r < 0 ? strerror(errno) : "short read");
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
out:
    close(fd);
    return buf;
}

/* parse_key - type and size of the PEM key; -1 with a diagnostic */
static int
parse_key(struct load_ctx *x, const char *what, struct rm_dkim_key *k)
{
    BIO *bio;
    EVP_PKEY *pk;
    int id, rc = -1;

    if (strstr(k->pem, "-----BEGIN") == NULL) {
        diag_line(x, false, "%s: key file %s: not a PEM private key", what,
                  k->path);
        return -1;
    }
    bio = BIO_new_mem_buf(k->pem, (int)strlen(k->pem));
    if (bio == NULL) {
        diag_line(x, false, "%s: key file %s: out of memory", what, k->path);
        return -1;
    }
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pk == NULL) {
        diag_line(x, false,
                  "%s: key file %s: not a valid PEM private key "
                  "(encrypted keys are not supported)",
                  what, k->path);
        return -1;
    }
    id = EVP_PKEY_get_base_id(pk);
    if (id == EVP_PKEY_RSA) {
        k->type = RM_DKIM_KEY_RSA;
        k->bits = (unsigned)EVP_PKEY_get_bits(pk);
        if (k->bits < 1024) {
            diag_line(x, false,
                      "%s: key file %s: RSA key of %u bits; DKIM needs at "
                      "least 1024 (RFC 8301), 2048 is usual",
                      what, k->path, k->bits);
            goto out;
        }
    } else if (id == EVP_PKEY_ED25519) {
        k->type = RM_DKIM_KEY_ED25519;
        k->bits = 256;
    } else {
        diag_line(x, false,
                  "%s: key file %s: neither an RSA nor an Ed25519 key", what,
                  k->path);
        goto out;
    }
    rc = 0;
out:
    EVP_PKEY_free(pk);
    return rc;
}

/* key_alg - the algorithm for k under sign_alg; -1 with a diagnostic */
static int
key_alg(struct load_ctx *x, const char *what, struct rm_dkim_key *k)
{
    int sa = x->cfg->dkim.sign_alg;

    if (k->type == RM_DKIM_KEY_ED25519) {
        k->alg = RM_DKIM_ED25519_SHA256;
        return 0;
    }
    if (sa == ALG_ED25519) {
        diag_line(x, false,
                  "%s: key file %s is an RSA key, but sign_alg = "
                  "ed25519-sha256 (an Ed25519 key signs ed25519-sha256 "
                  "whatever sign_alg says; RSA keys need rsa-sha256)",
                  what, k->path);
        return -1;
    }
    k->alg = (sa == ALG_RSA_SHA1 || sa == ALG_SHA1) ? RM_DKIM_RSA_SHA1
                                                    : RM_DKIM_RSA_SHA256;
    return 0;
}

/* add_key - load path as the key of domain/selector */
static void
add_key(struct load_ctx *x, const char *domain, size_t dlen,
        const char *selector, const char *path, bool from_dir)
{
    struct rm_dkim_keys *ks = x->keys;
    struct rm_dkim_key k;
    char what[600];
    size_t i;

    memset(&k, 0, sizeof(k));
    k.domain = lower_dup(domain, dlen);
    snprintf(what, sizeof(what), "domain %s selector %s", k.domain, selector);
    for (i = 0; i < ks->n; i++) {
        if (strcmp(ks->v[i].domain, k.domain) == 0 &&
            strcmp(ks->v[i].selector, selector) == 0 &&
            ks->v[i].from_dir == from_dir) {
            diag_line(x, false, "%s: configured twice (%s and %s)", what,
                      ks->v[i].path, path);
            free(k.domain);
            return;
        }
    }
    k.selector = xstrdup(selector);
    k.path = xstrdup(path);
    k.from_dir = from_dir;
    k.block = x->block;
    k.pem = read_key(x, what, path);
    if (k.pem == NULL || parse_key(x, what, &k) < 0 ||
        key_alg(x, what, &k) < 0) {
        free(k.domain);
        free(k.selector);
        free(k.path);
        free(k.pem);
        return;
    }
    ks->v = xrealloc(ks->v, (ks->n + 1) * sizeof(*ks->v));
    ks->v[ks->n++] = k;
}

/* scan_dir - every <domain>.<selector>.key in dir */
static void
scan_dir(struct load_ctx *x, const char *dir, const char *selector)
{
    char suffix[300], *path;
    struct dirent *de;
    size_t sl, nl, found = 0;
    struct stat st;
    DIR *d;

    snprintf(suffix, sizeof(suffix), ".%s.key", selector);
    sl = strlen(suffix);
    d = opendir(dir);
    if (d == NULL) {
        diag_line(x, false, "domain * selector %s: key directory %s: %s",
                  selector, dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || nl <= sl ||
            strcasecmp(de->d_name + nl - sl, suffix) != 0)
            continue;
        if (!host_name_ok(de->d_name, nl - sl)) {
            diag_line(x, true,
                      "domain * selector %s: %s/%s: '%.*s' is not a domain "
                      "name; file ignored",
                      selector, dir, de->d_name, (int)(nl - sl), de->d_name);
            continue;
        }
        path = xasprintf("%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            add_key(x, de->d_name, nl - sl, selector, path, true);
            found++;
        }
        free(path);
    }
    closedir(d);
    if (found == 0)
        diag_line(x, true,
                  "domain * selector %s: no <domain>.%s.key file in %s; "
                  "nothing is signed for it",
                  selector, selector, dir);
}

/* ------------------------------------------------------------------------ */
/* the set                                                                  */
/* ------------------------------------------------------------------------ */

void
dkim_keys_free(struct rm_dkim_keys *k)
{
    size_t i;

    if (k == NULL)
        return;
    for (i = 0; i < k->n; i++) {
        free(k->v[i].domain);
        free(k->v[i].selector);
        free(k->v[i].path);
        if (k->v[i].pem != NULL) {
            /* the private key does not outlive the generation in memory */
            explicit_bzero(k->v[i].pem, strlen(k->v[i].pem));
            free(k->v[i].pem);
        }
    }
    free(k->v);
    free(k);
}

int
dkim_keys_load(const struct rm_config *cfg, struct rm_dkim_keys **out,
               struct rm_diag *diag)
{
    struct load_ctx x = {.cfg = cfg, .diag = diag};
    struct stat st;
    char *path;
    size_t i;

    *out = NULL;
    x.keys = xcalloc(1, sizeof(*x.keys));
    for (i = 0; i < cfg->n_dkim_domain; i++) {
        const struct rm_cfg_dkim_domain *b = &cfg->dkim_domain[i];
        const char *dom = b->domain ? b->domain : "";
        const char *sel = b->selector ? b->selector : "";
        const char *key = b->key ? b->key : "";

        /* each problem names the line of the directive it is about */
        x.block = i;
        x.where = cfg_where(cfg, RM_SEC_dkim_domain, i, NULL);
        if (dom[0] == '\0' || sel[0] == '\0' || key[0] == '\0') {
            diag_line(&x, false,
                      "domain block %zu (%s%s%s): domain, selector and key "
                      "are all required",
                      i + 1, dom[0] ? "domain " : "no domain", dom,
                      sel[0] ? "" : ", no selector");
            continue;
        }
        if (!host_name_ok(sel, strlen(sel))) {
            x.where = cfg_where(cfg, RM_SEC_dkim_domain, i, "selector");
            diag_line(&x, false,
                      "domain %s: selector '%s' is not a valid "
                      "selector (letters, digits, '-', '_', dots)",
                      dom, sel);
            continue;
        }
        if (strcmp(dom, "*") != 0 && !host_name_ok(dom, strlen(dom))) {
            x.where = cfg_where(cfg, RM_SEC_dkim_domain, i, "domain");
            diag_line(&x, false, "domain '%s' is not a domain name (or *)",
                      dom);
            continue;
        }
        x.where = cfg_where(cfg, RM_SEC_dkim_domain, i, "key");
        if (stat(key, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (strcmp(dom, "*") == 0) {
                scan_dir(&x, key, sel);
            } else {
                path = xasprintf("%s/%s.%s.key", key, dom, sel);
                add_key(&x, dom, strlen(dom), sel, path, false);
                free(path);
            }
        } else if (strcmp(dom, "*") == 0) {
            diag_line(&x, false,
                      "domain * selector %s: key %s must be a directory "
                      "holding <domain>.%s.key files%s%s",
                      sel, key, sel, stat(key, &st) < 0 ? ": " : "",
                      stat(key, &st) < 0 ? strerror(errno) : "");
        } else {
            add_key(&x, dom, strlen(dom), sel, key, false);
        }
    }
    if (x.errors == 0 && (cfg->dkim.sign_alg == ALG_RSA_SHA1 ||
                          cfg->dkim.sign_alg == ALG_SHA1)) {
        for (i = 0; i < x.keys->n; i++)
            if (x.keys->v[i].type == RM_DKIM_KEY_RSA)
                break;
        x.where = cfg_where(cfg, RM_SEC_dkim, 0, "sign_alg");
        if (i < x.keys->n)
            diag_line(&x, true,
                      "sign_alg = rsa-sha1: verifiers may ignore SHA-1 "
                      "signatures (RFC 8301); use rsa-sha256");
    }
    if (x.errors > 0) {
        dkim_keys_free(x.keys);
        return -1;
    }
    *out = x.keys;
    return 0;
}

/* find_exact - keys of exactly domain; explicit blocks hide directory
 * keys of the same domain */
static size_t
find_exact(const struct rm_dkim_keys *k, const char *domain,
           const struct rm_dkim_key **out, size_t max)
{
    size_t i, n = 0;
    int pass;

    for (pass = 0; pass < 2 && n == 0; pass++) {
        for (i = 0; i < k->n && n < max; i++) {
            if (k->v[i].from_dir != (pass == 1))
                continue;
            if (strcasecmp(k->v[i].domain, domain) == 0)
                out[n++] = &k->v[i];
        }
    }
    return n;
}

size_t
dkim_keys_find(const struct rm_dkim_keys *k, const char *domain,
               const struct rm_dkim_key **out, size_t max, const char **signing)
{
    const char *d = domain, *dot;
    size_t n;

    *signing = NULL;
    if (k == NULL || domain == NULL || domain[0] == '\0' || max == 0)
        return 0;
    for (;;) {
        n = find_exact(k, d, out, max);
        if (n > 0) {
            *signing = out[0]->domain;
            return n;
        }
        /* the parent, by whole labels; never a single label (a TLD) */
        dot = strchr(d, '.');
        if (dot == NULL || strchr(dot + 1, '.') == NULL)
            return 0;
        d = dot + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* From: parsing                                                            */
/* ------------------------------------------------------------------------ */

int
dkim_from_domain(const char *value, char *out, size_t outlen)
{
    char addr[1024];
    size_t n = 0, i, start, end;
    int depth = 0; /* comment nesting */
    bool quoted = false, angle = false, done = false;
    long at = -1; /* last '@' of addr outside quotes */
    const char *p;

    if (value == NULL || outlen == 0)
        return -1;
    for (p = value; *p != '\0' && !done; p++) {
        char c = *p;

        if (depth > 0) {
            if (c == '\\' && p[1] != '\0')
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (quoted) {
            if (c == '\\' && p[1] != '\0') {
                p++;
                c = *p;
            } else if (c == '"') {
                quoted = false;
                continue;
            }
            if (n < sizeof(addr) - 1)
                addr[n++] = c;
            continue;
        }
        switch (c) {
        case '(':
            depth = 1;
            break;
        case '"':
            quoted = true;
            break;
        case '<':
            /* an angle address: what came before was a display name */
            n = 0;
            at = -1;
            angle = true;
            break;
        case '>':
            if (angle)
                done = true;
            break;
        case ':':
            /* a group "name: a@b, c@d;": the mailboxes follow; inside an
             * angle address it ends an obsolete route "@a,@b:" */
            n = 0;
            at = -1;
            break;
        case ',':
            if (angle)
                break; /* obsolete route list */
            /* fallthrough */
        case ';':
            if (n > 0)
                done = true;
            break;
        default:
            if (c == '@')
                at = (long)n;
            if (n < sizeof(addr) - 1)
                addr[n++] = c;
            break;
        }
    }
    if (at < 0)
        return -1;
    /* the domain: after the last '@', blanks and folding around it */
    start = (size_t)at + 1;
    end = n;
    while (start < end && isspace((unsigned char)addr[start]))
        start++;
    while (end > start && isspace((unsigned char)addr[end - 1]))
        end--;
    if (end > start && addr[end - 1] == '.') /* an absolute name */
        end--;
    if (end <= start || end - start >= outlen ||
        !host_name_ok(addr + start, end - start))
        return -1;
    for (i = start; i < end; i++)
        out[i - start] = (char)tolower((unsigned char)addr[i]);
    out[end - start] = '\0';
    return 0;
}
