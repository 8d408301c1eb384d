/*
 * NAME
 *   ratelimit_key - rate-limit buckets: which apply, their keys, bounces
 *
 * DESCRIPTION
 *   See ratelimit_key.h for the key format and the bounce rule. Pure
 *   functions; the only allocation is a scratch copy of the canonical
 *   addresses, freed before return. The leaky-bucket arithmetic itself is
 *   the store's (store_bucket_apply), so that the embedded store and the
 *   Redis script share one definition.
 *
 * SEE ALSO
 *   proto/envelope.c, store/store_bucket.c, modules/ratelimit.c
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "modules/ratelimit_key.h"
#include "proto/envelope.h"

static const char *const names[RM_RL_COUNT] = {
    [RM_RL_BOUNCE_TO] = "bounce_to",
    [RM_RL_BOUNCE_TO_IP] = "bounce_to_ip",
    [RM_RL_TO_IP_FROM] = "to_ip_from",
    [RM_RL_TO_IP] = "to_ip",
    [RM_RL_TO] = "to",
};

const char *
ratelimit_bucket_name(enum rm_rl_bucket b)
{
    return (unsigned)b < RM_RL_COUNT ? names[b] : "?";
}

const struct rm_bucket *
ratelimit_bucket_cfg(const struct rm_cfg_limits *l, enum rm_rl_bucket b)
{
    switch (b) {
    case RM_RL_BOUNCE_TO:
        return &l->limit_bounce_to;
    case RM_RL_BOUNCE_TO_IP:
        return &l->limit_bounce_to_ip;
    case RM_RL_TO_IP_FROM:
        return &l->limit_to_ip_from;
    case RM_RL_TO_IP:
        return &l->limit_to_ip;
    case RM_RL_TO:
    default:
        return &l->limit_to;
    }
}

bool
ratelimit_bucket_enabled(const struct rm_bucket *b)
{
    return b->burst > 0 && b->rate > 0;
}

size_t
ratelimit_buckets(bool bounce, enum rm_rl_bucket out[RM_RL_COUNT])
{
    size_t n = 0;

    if (bounce) {
        out[n++] = RM_RL_BOUNCE_TO;
        out[n++] = RM_RL_BOUNCE_TO_IP;
    }
    out[n++] = RM_RL_TO_IP_FROM;
    out[n++] = RM_RL_TO_IP;
    out[n++] = RM_RL_TO;
    return n;
}

bool
ratelimit_is_bounce(const char *from, const struct rm_strlist *addrs)
{
    size_t n = strlen(from) + 3, llen, i;
    char *norm = xmalloc(n);
    const char *local, *entry;
    bool bounce = false;

    if (envelope_addr_norm(from, norm, n) < 0)
        goto out; /* cannot happen: n is what it needs */
    if (envelope_addr_is_null(norm)) {
        bounce = true;
        goto out;
    }
    local = envelope_local_part(norm, &llen);
    for (i = 0; addrs != NULL && i < addrs->n && !bounce; i++) {
        entry = addrs->v[i];
        if (strchr(entry, '@') != NULL)
            bounce = strcasecmp(entry, norm) == 0;
        else
            bounce =
                strlen(entry) == llen && strncasecmp(entry, local, llen) == 0;
    }
out:
    free(norm);
    return bounce;
}

/* append - add s to buf at *pos; -ENAMETOOLONG if it does not fit */
static int
append(char *buf, size_t len, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos + n + 1 > len)
        return -ENAMETOOLONG;
    memcpy(buf + *pos, s, n + 1);
    *pos += n;
    return 0;
}

static bool
needs_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '%' || c == '|';
}

/* field - the canonical address raw, encoded for a key, into out (at
 * least RM_RL_FIELD_MAX + 1 bytes) */
static int
field(const char *raw, char *out)
{
    static const char xd[] = "0123456789abcdef";
    size_t n = strlen(raw) + 3, o = 0, i;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *norm = xmalloc(n);
    int len, rc = 0;

    len = envelope_addr_norm(raw, norm, n);
    for (i = 0; i < (size_t)len; i++) {
        unsigned char c = (unsigned char)norm[i];

        if (o + (needs_escape(c) ? 3 : 1) > RM_RL_FIELD_MAX)
            break;
        if (needs_escape(c)) {
            out[o++] = '%';
            out[o++] = xd[c >> 4];
            out[o++] = xd[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    if (i < (size_t)len) {
        /* too long to spell out: its digest instead */
        if (EVP_Digest(norm, (size_t)len, md, &mdlen, EVP_sha256(), NULL) !=
                1 ||
            mdlen != 32) {
            rc = -EIO;
            goto out;
        }
        out[0] = '%';
        out[1] = '#';
        for (i = 0; i < mdlen; i++) {
            out[2 + 2 * i] = xd[md[i] >> 4];
            out[3 + 2 * i] = xd[md[i] & 15];
        }
        out[2 + 2 * mdlen] = '\0';
    }
out:
    free(norm);
    return rc;
}

int
ratelimit_key(enum rm_rl_bucket b, const char *prefix, const char *rcpt,
              const struct rm_ipaddr *ip, const char *from, char *buf,
              size_t len)
{
    char r[RM_RL_FIELD_MAX + 1], f[RM_RL_FIELD_MAX + 1];
    char net[RM_ENVELOPE_NET_MAX];
    bool with_ip =
        b == RM_RL_BOUNCE_TO_IP || b == RM_RL_TO_IP_FROM || b == RM_RL_TO_IP;
    size_t pos = 0;
    int rc;

    if ((unsigned)b >= RM_RL_COUNT)
        return -EINVAL;
    if (with_ip) {
        if (ip == NULL)
            return -EINVAL;
        rc = envelope_client_net(ip, RM_RL_V4_BITS, RM_RL_V6_BITS, net,
                                 sizeof(net));
        if (rc < 0)
            return rc;
    }
    if ((rc = field(rcpt, r)) < 0)
        return rc;
    if (len == 0)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    if ((rc = append(buf, len, &pos, prefix)) < 0 ||
        (rc = append(buf, len, &pos, names[b])) < 0 ||
        (rc = append(buf, len, &pos, "|")) < 0 ||
        (rc = append(buf, len, &pos, r)) < 0)
        return rc;
    if (with_ip && ((rc = append(buf, len, &pos, "|")) < 0 ||
                    (rc = append(buf, len, &pos, net)) < 0))
        return rc;
    if (b == RM_RL_TO_IP_FROM) {
        if ((rc = field(from, f)) < 0 ||
            (rc = append(buf, len, &pos, "|")) < 0 ||
            (rc = append(buf, len, &pos, f)) < 0)
            return rc;
    }
    return 0;
}
