/*
 * NAME
 *   dnsl - DNS list query names and answer classes (see dnsl.h)
 *
 * DESCRIPTION
 *   Names are built into the caller's buffer with explicit length checks;
 *   nothing here allocates except dnsl_txt_expand. Domains from the SMTP
 *   session (HELO, senders) are untrusted: only bytes valid in a host
 *   name (plus '_', which some zones use) may reach a query.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   No state; see dnsl.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "proto/dnsl.h"
#include "proto/hdr.h"
#include "proto/pbuf.h"

/* zone_len - the zone's length without a final dot; 0 if unusable */
static size_t
zone_len(const char *zone)
{
    size_t n = strlen(zone);

    if (n > 0 && zone[n - 1] == '.')
        n--;
    if (n > 0 && zone[0] == '.')
        return 0;
    return n;
}

/* put_zone - append ".<zone>" at buf[o]; the final length or -1 */
static int
put_zone(char *buf, size_t size, size_t o, const char *zone, size_t zlen)
{
    if (o + 1 + zlen > RM_DNSL_NAME_MAX || o + 1 + zlen + 1 > size)
        return -ENAMETOOLONG;
    buf[o++] = '.';
    memcpy(buf + o, zone, zlen);
    buf[o + zlen] = '\0';
    return 0;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
dnsl_ip_name(const struct rm_ipaddr *addr, const char *zone, char *buf,
             size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t zlen = zone_len(zone), o = 0;
    const uint8_t *a = addr->a;
    char tmp[80];
    int i;

    if (size > 0)
        buf[0] = '\0';
    if (zlen == 0)
        return -EINVAL;
    if (addr->family == AF_INET6 && memcmp(a, v4mapped, 12) == 0) {
        a += 12;
        goto v4;
    }
    if (addr->family == AF_INET) {
    v4:
        o = (size_t)snprintf(tmp, sizeof(tmp), "%u.%u.%u.%u", a[3], a[2], a[1],
                             a[0]);
    } else if (addr->family == AF_INET6) {
        for (i = 15; i >= 0; i--) {
            tmp[o++] = hex[a[i] & 0xf];
            tmp[o++] = '.';
            tmp[o++] = hex[a[i] >> 4];
            tmp[o++] = '.';
        }
        o--; /* the last dot */
        tmp[o] = '\0';
    } else {
        return -EINVAL;
    }
    if (o + 1 > size)
        return -ENAMETOOLONG;
    memcpy(buf, tmp, o);
    return put_zone(buf, size, o, zone, zlen);
}

int
dnsl_domain_name(const char *domain, const char *zone, char *buf, size_t size)
{
    size_t zlen = zone_len(zone), dlen = strlen(domain), i, label = 0;
    unsigned char c;

    if (size > 0)
        buf[0] = '\0';
    if (zlen == 0)
        return -EINVAL;
    if (dlen > 0 && domain[dlen - 1] == '.')
        dlen--;
    if (dlen == 0 || domain[0] == '.')
        return -EINVAL;
    /* validate everything before writing anything */
    for (i = 0; i < dlen; i++) {
        c = (unsigned char)domain[i];
        if (c == '.') {
            if (label == 0)
                return -EINVAL;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return -EINVAL;
        } else {
            return -EINVAL;
        }
    }
    if (label == 0)
        return -EINVAL;
    if (dlen + 1 + zlen > RM_DNSL_NAME_MAX || dlen + 1 + zlen + 1 > size)
        return -ENAMETOOLONG;
    for (i = 0; i < dlen; i++)
        buf[i] = (char)tolower((unsigned char)domain[i]);
    return put_zone(buf, size, dlen, zone, zlen);
}

enum rm_dnsl_class
dnsl_classify(struct in_addr a, const struct rm_iplist *listed)
{
    uint32_t v = ntohl(a.s_addr);
    struct rm_ipaddr ip;

    if ((v >> 24) != 127)
        return RM_DNSL_INVALID;
    if ((v >> 8) == 0x7fffffu)
        return RM_DNSL_REFUSED;
    if (listed == NULL || iplist_count(listed) == 0)
        return RM_DNSL_LISTED;
    memset(&ip, 0, sizeof(ip));
    ip.family = AF_INET;
    memcpy(ip.a, &a.s_addr, 4);
    return iplist_match(listed, &ip) ? RM_DNSL_LISTED : RM_DNSL_OTHER;
}

const char *
dnsl_class_name(enum rm_dnsl_class c)
{
    switch (c) {
    case RM_DNSL_LISTED:
        return "listed";
    case RM_DNSL_OTHER:
        return "other";
    case RM_DNSL_REFUSED:
        return "refused";
    default:
        return "invalid";
    }
}

char *
dnsl_txt_expand(const char *txt, size_t len, const char *identity, size_t max)
{
    struct pbuf pb = {0};
    char *raw, *out;
    size_t i, rlen;

    for (i = 0; i < len; i++) {
        if (txt[i] == '$')
            pbuf_adds(&pb, identity);
        else
            pbuf_addc(&pb, txt[i]);
    }
    raw = pbuf_take(&pb, &rlen);
    out = hdr_text_oneline_dup(raw, rlen, max, 0);
    free(raw);
    return out;
}
