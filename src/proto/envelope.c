/*
 * NAME
 *   envelope - canonical forms of SMTP envelope values for keys
 *
 * DESCRIPTION
 *   See envelope.h. Pure: no I/O, no allocation, no state; every function
 *   writes only into the caller's buffer, so all are thread-safe. The
 *   canonical forms feed store keys shared between daemons, so they are
 *   fixed: the unit tests pin exact strings.
 *
 * SEE ALSO
 *   modules/greylist_key.c, modules/ratelimit_key.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/envelope.h"

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
envelope_addr_norm(const char *raw, char *out, size_t len)
{
    const char *b = raw, *e = raw + strlen(raw), *colon;
    size_t n, i;

    while (b < e && is_blank(*b))
        b++;
    while (e > b && is_blank(e[-1]))
        e--;
    if (e - b >= 2 && *b == '<' && e[-1] == '>') {
        b++;
        e--;
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
    }
    /* "@a,@b:user@d": the source route is to be ignored (RFC 5321 4.1.2) */
    if (b < e && *b == '@' && (colon = memchr(b, ':', (size_t)(e - b))) != NULL)
        b = colon + 1;
    n = (size_t)(e - b);
    if (n == 0) {
        if (len < 3)
            return -ENAMETOOLONG;
        memcpy(out, "<>", 3);
        return 2;
    }
    if (n + 1 > len)
        return -ENAMETOOLONG;
    for (i = 0; i < n; i++) {
        char c = b[i];

        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return (int)n;
}

bool
envelope_addr_is_null(const char *norm)
{
    return strcmp(norm, "<>") == 0;
}

const char *
envelope_local_part(const char *norm, size_t *len)
{
    const char *at;

    if (envelope_addr_is_null(norm)) {
        *len = 0;
        return norm;
    }
    at = strrchr(norm, '@');
    *len = at != NULL ? (size_t)(at - norm) : strlen(norm);
    return norm;
}

int
envelope_client_net(const struct rm_ipaddr *ip, unsigned v4_bits,
                    unsigned v6_bits, char *out, size_t len)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    struct rm_ipaddr a;
    unsigned bits, full;
    size_t n;

    if (len < RM_ENVELOPE_NET_MAX)
        return -EINVAL;
    memset(&a, 0, sizeof(a));
    if (ip->family == AF_INET) {
        a.family = AF_INET;
        memcpy(a.a, ip->a, 4);
    } else if (ip->family == AF_INET6 && memcmp(ip->a, mapped, 12) == 0) {
        a.family = AF_INET;
        memcpy(a.a, ip->a + 12, 4);
    } else if (ip->family == AF_INET6) {
        a.family = AF_INET6;
        memcpy(a.a, ip->a, 16);
    } else {
        return -EINVAL;
    }
    full = a.family == AF_INET ? 32 : 128;
    bits = a.family == AF_INET ? v4_bits : v6_bits;
    if (bits > full)
        return -EINVAL;
    ipaddr_mask(&a, bits);
    if (inet_ntop(a.family, a.a, out, (socklen_t)len) == NULL)
        return -EINVAL;
    n = strlen(out);
    if (bits < full)
        n += (size_t)snprintf(out + n, len - n, "/%u", bits);
    return (int)n;
}
