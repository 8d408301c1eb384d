/*
 * NAME
 *   greylist_key - greylisting's triplet keys, record values and decision
 *
 * DESCRIPTION
 *   See greylist_key.h for the key format and the decision table. The
 *   digest is OpenSSL's SHA-256 (libcrypto). Pure functions; the only
 *   allocation is a scratch copy of the canonical addresses, freed before
 *   return.
 *
 * SEE ALSO
 *   proto/envelope.c, modules/greylist.c (the module)
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "modules/greylist_key.h"

/* digest - SHA-256 over the NUL-separated parts, as lowercase hex */
static int
digest(const char *net, const char *from, const char *rcpt, char *hex)
{
    static const char xd[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -EIO;

    if (ctx == NULL)
        return -EIO;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, net, strlen(net) + 1) != 1 ||
        EVP_DigestUpdate(ctx, from, strlen(from) + 1) != 1 ||
        EVP_DigestUpdate(ctx, rcpt, strlen(rcpt)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32)
        goto out;
    for (i = 0; i < n; i++) {
        hex[2 * i] = xd[md[i] >> 4];
        hex[2 * i + 1] = xd[md[i] & 15];
    }
    hex[2 * n] = '\0';
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
greylist_triplet(const struct rm_ipaddr *ip, unsigned v4_bits, unsigned v6_bits,
                 const char *from, const char *rcpt,
                 struct rm_grey_triplet *out)
{
    size_t flen = strlen(from) + 3, rlen = strlen(rcpt) + 3;
    char *f = NULL, *r = NULL;
    int rc;

    rc = envelope_client_net(ip, v4_bits, v6_bits, out->net, sizeof(out->net));
    if (rc < 0)
        return rc;
    f = xmalloc(flen);
    r = xmalloc(rlen);
    if ((rc = envelope_addr_norm(from, f, flen)) < 0 ||
        (rc = envelope_addr_norm(rcpt, r, rlen)) < 0)
        goto out;
    rc = digest(out->net, f, r, out->hash);
out:
    free(f);
    free(r);
    return rc;
}

int
greylist_key(const struct rm_grey_triplet *t, const char *prefix, char *buf,
             size_t len)
{
    int n = snprintf(buf, len, "%s%s", prefix, t->hash);

    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

int
greylist_value_format(uint64_t ms, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%" PRIu64, ms);

    if (n < 0 || (size_t)n >= len)
        return -EMSGSIZE;
    return 0;
}

int
greylist_value_parse(const char *text, uint64_t *ms)
{
    uint64_t v = 0;
    const char *p = text;

    if (*p == '\0')
        return -EBADMSG;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -EBADMSG;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *ms = v;
    return 0;
}

void
greylist_decide(const uint64_t *first_seen_ms, uint64_t now_ms,
                uint64_t timeout_ms, uint64_t expire_ms,
                struct rm_grey_decision *d)
{
    uint64_t first, elapsed;

    memset(d, 0, sizeof(*d));
    if (first_seen_ms == NULL)
        goto new;
    first = *first_seen_ms;
    elapsed = now_ms > first ? now_ms - first : 0;
    if (elapsed >= expire_ms) {
        d->replace = true;
        goto new;
    }
    d->elapsed_ms = elapsed;
    if (elapsed < timeout_ms) {
        d->verdict = RM_GREY_TOO_EARLY;
        d->wait_ms = timeout_ms - elapsed;
        d->pass_at_ms = now_ms + d->wait_ms;
        return;
    }
    d->verdict = RM_GREY_PASS;
    return;
    new : d->verdict = RM_GREY_NEW;
    d->wait_ms = timeout_ms;
    d->pass_at_ms = now_ms + timeout_ms;
}

uint64_t
greylist_wait_seconds(const struct rm_grey_decision *d)
{
    return (d->wait_ms + 999) / 1000;
}
