/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   cfg_value - typed setters, defaults and formatting of directive values
 *
 * DESCRIPTION
 *   cfg_value_set turns the words of one statement into the C value of the
 *   directive's type (cfg.h: RM_CTYPE_*), checking syntax and bounds; it is
 *   pure: no I/O, no globals, no logging. cfg_value_format writes a value
 *   back so that parsing that text gives the same value (the --dump-config
 *   round trip). The unit parsers (time, size, flag, socket, server) are
 *   exported for tests and other parsers.
 *
 * INVARIANTS
 *   - A failed cfg_value_set leaves the field exactly as it was: every
 *     value is built aside and stored only once all of it parsed.
 *   - After cfg_value_set_default or a successful cfg_value_set:
 *       STR is never NULL ("" means unset);
 *       IPLIST is never NULL (an empty list means none), so consumers
 *       call iplist_match without a check (iplist_match(NULL) is false
 *       too, for fields that were never set);
 *       REGEX is NULL exactly when the value is "" (no regexp).
 *   - Bounds (min, max) apply to INT, TIME_*, SIZE, MODE and PROB: none
 *     when both are 0; otherwise min applies, and max applies when it is
 *     greater than min (min 1000, max 0 is "at least 1000").
 *   - RCPTLIST entries are stored lowercased, without enclosing <>.
 *
 * OWNERSHIP
 *   Values own their memory; cfg_value_free releases it and zeroes the
 *   field. cfg_value_set on a field that holds a value replaces (or for
 *   `+=` extends) it, so the field must be zeroed or hold a valid value.
 *
 * SEE ALSO
 *   cfg_value.h, cfg_types.h, cfg_directives.h
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/un.h>

#include "cfg/cfg_value.h"
#include "lib/xmalloc.h"

/* Default port of r: (rspamd) servers written without a port. */
#define RM_RSPAMD_PORT 11333

/* ------------------------------------------------------------------ */
/* errors                                                              */
/* ------------------------------------------------------------------ */

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* seterr - format into the caller's buffer, if it has one */
static void
seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* shown - s cut to a length that fits an error message */
static const char *
shown(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s);

    if (n < len)
        return s;
    snprintf(buf, len, "%.*s...", (int)(len - 4), s);
    return buf;
}

/* ------------------------------------------------------------------ */
/* numbers and units                                                   */
/* ------------------------------------------------------------------ */

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit time_units[] = {
    {"ms", 1},          {"s", 1000},         {"m", 60000}, {"h", 3600000},
    {"d", 86400000ULL}, {"w", 604800000ULL}, {NULL, 0},
};

static const struct unit size_units[] = {
    {"b", 1},
    {"k", 1024},
    {"kb", 1024},
    {"m", 1048576},
    {"mb", 1048576},
    {"g", 1073741824ULL},
    {"gb", 1073741824ULL},
    {NULL, 0},
};

/* parse_scaled - "N[.F][unit]" into an integer count of the base unit.
 * A bare number is multiplied by bare. Fractions are rounded to the
 * nearest base unit (1.5s = 1500 ms); digits beyond the ninth decimal are
 * ignored. Exact integer arithmetic: no float rounding surprises. */
static int
parse_scaled(const char *s, const struct unit *units, uint64_t bare,
             uint64_t *out)
{
    const char *p = s;
    uint64_t ip = 0, frac = 0, scale = 1, mult = 0, v, f;
    bool digits = false;

    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');

        if (ip > (UINT64_MAX - d) / 10)
            return -1;
        ip = ip * 10 + d;
        digits = true;
        p++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (scale < 1000000000ULL) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
            digits = true;
            p++;
        }
    }
    if (!digits)
        return -1;
    if (*p == '\0') {
        mult = bare;
    } else {
        for (const struct unit *u = units; u->name; u++)
            if (strcasecmp(p, u->name) == 0) {
                mult = u->mult;
                break;
            }
        if (mult == 0)
            return -1;
    }
    if (ip > UINT64_MAX / mult)
        return -1;
    v = ip * mult;
    /* frac < 1e9 and mult < 2^30, so frac * mult < 2^60 */
    f = (frac * mult + scale / 2) / scale;
    if (v > UINT64_MAX - f)
        return -1;
    *out = v + f;
    return 0;
}

int
cfg_parse_time(const char *s, bool bare_is_seconds, uint64_t *ms)
{
    return parse_scaled(s, time_units, bare_is_seconds ? 1000 : 1, ms);
}

int
cfg_parse_size(const char *s, uint64_t *bytes)
{
    return parse_scaled(s, size_units, 1, bytes);
}

int
cfg_parse_flag(const char *s, bool *v)
{
    static const char *const yes[] = {"yes", "true", "on", "y", "1"};
    static const char *const no[] = {"no", "false", "off", "n", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v = false;
            return 0;
        }
    }
    return -1;
}

/* parse_real - a non-negative decimal (digits, one dot, an optional
 * exponent; no sign, no hex, no inf/nan) */
static int
parse_real(const char *s, double *v)
{
    const char *p = s;
    char *end;
    bool digits = false;

    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits = true;
    if (!digits)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0')
        return -1;
    errno = 0;
    *v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(*v))
        return -1;
    return 0;
}

/* parse_int - a decimal integer with an optional sign */
static int
parse_int(const char *s, int64_t *v)
{
    const char *p = s;
    char *end;
    long long x;

    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return -1;
    *v = x;
    return 0;
}

/* parse_uint_range - decimal digits only, within lo..hi */
static int
parse_uint_range(const char *s, size_t len, unsigned long lo, unsigned long hi,
                 unsigned long *v)
{
    unsigned long x = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (unsigned long)(s[i] - '0');
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* ------------------------------------------------------------------ */
/* formatting helpers                                                  */
/* ------------------------------------------------------------------ */

/* format_scaled - v in the largest unit that holds it exactly */
static void
format_scaled(char *buf, size_t len, uint64_t v, const struct unit *units,
              size_t nunits)
{
    if (v == 0) {
        snprintf(buf, len, "0");
        return;
    }
    for (size_t i = nunits; i-- > 0;) {
        if (units[i].mult > 1 && v % units[i].mult == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", v / units[i].mult,
                     units[i].name);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64 "%s", v, units[0].name);
}

static void
format_time(char *buf, size_t len, uint64_t ms)
{
    format_scaled(buf, len, ms, time_units, 6);
}

static void
format_size(char *buf, size_t len, uint64_t bytes)
{
    /* bytes are written bare: "100", not "100b" */
    static const struct unit units[] = {
        {"", 1}, {"k", 1024}, {"m", 1048576}, {"g", 1073741824ULL}};

    format_scaled(buf, len, bytes, units, 4);
}

/* format_real - the shortest %g text that reads back as exactly v;
 * whole numbers are written without an exponent (20, not 2e+01) */
static void
format_real(char *buf, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 1e17) {
        snprintf(buf, len, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* bare_ok - s can be written without quotes: not empty, only bare-word
 * characters, and not one of the lexer's keywords */
static bool
bare_ok(const char *s)
{
    if (*s == '\0' || strcmp(s, ".include") == 0 ||
        strcmp(s, ".try_include") == 0)
        return false;
    for (; *s; s++) {
        if (isalnum((unsigned char)*s) || strchr("._@:/+*<>[]%-", *s))
            continue;
        return false;
    }
    return true;
}

/* put_word - s bare when it can be (and not forced), else quoted with the
 * escapes the lexer resolves: \" \\ \n \t */
static void
put_word_q(FILE *f, const char *s, bool force_quotes)
{
    if (s == NULL)
        s = "";
    if (!force_quotes && bare_ok(s)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\t')
            fputs("\\t", f);
        else {
            if (*s == '"' || *s == '\\')
                fputc('\\', f);
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void
put_word(FILE *f, const char *s)
{
    put_word_q(f, s, false);
}

/* ------------------------------------------------------------------ */
/* bounds                                                              */
/* ------------------------------------------------------------------ */

struct bounds {
    bool has_min, has_max;
    double min, max;
};

static struct bounds
bounds_of(const struct rm_dirinfo *d)
{
    struct bounds b = {false, false, d->min, d->max};

    if (d->min == 0 && d->max == 0)
        return b;
    b.has_min = true;
    b.has_max = d->max > d->min;
    return b;
}

static bool
bounds_ok(const struct bounds *b, double v)
{
    return !(b->has_min && v < b->min) && !(b->has_max && v > b->max);
}

/* bounds_text - " between A and B" / " of at least A" / "" */
static void
bounds_text(const struct bounds *b, enum rm_vtype t, char *buf, size_t len)
{
    char lo[32], hi[32];

    if (!b->has_min) {
        buf[0] = '\0';
        return;
    }
    switch (t) {
    case RM_T_TIME_S:
    case RM_T_TIME_MS:
        format_time(lo, sizeof(lo), (uint64_t)b->min);
        format_time(hi, sizeof(hi), (uint64_t)b->max);
        break;
    case RM_T_SIZE:
        format_size(lo, sizeof(lo), (uint64_t)b->min);
        format_size(hi, sizeof(hi), (uint64_t)b->max);
        break;
    case RM_T_MODE:
        snprintf(lo, sizeof(lo), "%04o", (unsigned)b->min);
        snprintf(hi, sizeof(hi), "%04o", (unsigned)b->max);
        break;
    case RM_T_PROB:
        format_real(lo, sizeof(lo), b->min);
        format_real(hi, sizeof(hi), b->max);
        break;
    default:
        snprintf(lo, sizeof(lo), "%lld", (long long)b->min);
        snprintf(hi, sizeof(hi), "%lld", (long long)b->max);
        break;
    }
    if (b->has_max)
        snprintf(buf, len, " between %s and %s", lo, hi);
    else
        snprintf(buf, len, " of at least %s", lo);
}

/* ------------------------------------------------------------------ */
/* sockets and servers                                                 */
/* ------------------------------------------------------------------ */

void
cfg_sockspec_free(struct rm_sockspec *s)
{
    if (s == NULL)
        return;
    free(s->path);
    free(s->host);
    free(s->text);
    memset(s, 0, sizeof(*s));
}

void
cfg_server_free(struct rm_server *s)
{
    if (s == NULL)
        return;
    free(s->host);
    free(s->path);
    free(s->text);
    memset(s, 0, sizeof(*s));
}

/* is_ipv6_literal - s[0..len) is an IPv6 address */
static bool
is_ipv6_literal(const char *s, size_t len)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char a[16];

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, a) == 1;
}

/* is_hostname - letters, digits, '.', '-', '_' (an IPv4 address or a
 * DNS name; IPv6 literals are checked apart) */
static bool
is_hostname(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
            return false;
    return true;
}

static const char sock_forms[] =
    "unix:/path, inet:port@host, inet6:port@host, fd:N or systemd";

/* parse_unix_path - store p (written after prefix) as a unix socket path,
 * checking its length */
static int
parse_unix_path(const char *prefix, const char *p, struct rm_sockspec *out,
                char *err, size_t errlen)
{
    struct sockaddr_un sun;
    char sb[80];

    if (*p == '\0') {
        seterr(err, errlen, "expected a socket path after '%s', found ''",
               prefix);
        return -1;
    }
    if (strlen(p) >= sizeof(sun.sun_path)) {
        seterr(err, errlen,
               "expected a socket path shorter than %zu bytes, found '%s'",
               sizeof(sun.sun_path), shown(p, sb, sizeof(sb)));
        return -1;
    }
    out->kind = RM_SOCK_UNIX;
    out->path = xstrdup(p);
    return 0;
}

/* parse_inet - "port[@host]" for inet (v6 false) or inet6 (v6 true) */
static int
parse_inet(const char *p, bool v6, struct rm_sockspec *out, char *err,
           size_t errlen)
{
    const char *at = strchr(p, '@');
    size_t plen = at ? (size_t)(at - p) : strlen(p);
    unsigned long port;
    char sb[80];

    if (parse_uint_range(p, plen, 1, 65535, &port) < 0) {
        seterr(err, errlen, "expected a port between 1 and 65535, found '%.*s'",
               (int)(plen > 40 ? 40 : plen), p);
        return -1;
    }
    out->kind = v6 ? RM_SOCK_INET6 : RM_SOCK_INET;
    out->port = (uint16_t)port;
    if (at == NULL)
        return 0;

    const char *h = at + 1;
    size_t hlen = strlen(h);

    if (v6 && hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        if (!is_ipv6_literal(h + 1, hlen - 2))
            goto bad_host;
        out->host = xstrndup(h + 1, hlen - 2);
        return 0;
    }
    if (is_hostname(h, hlen) || (v6 && is_ipv6_literal(h, hlen))) {
        out->host = xstrdup(h);
        return 0;
    }
bad_host:
    seterr(err, errlen, "expected %s after '@', found '%s'",
           v6 ? "an IPv6 address or host name"
              : "an IPv4 address or host name (inet6: for IPv6)",
           shown(h, sb, sizeof(sb)));
    return -1;
}

int
cfg_parse_socket(const char *s, struct rm_sockspec *out, char *err,
                 size_t errlen)
{
    int rc = -1;
    char sb[80];

    memset(out, 0, sizeof(*out));
    if (strncmp(s, "unix:", 5) == 0)
        rc = parse_unix_path("unix:", s + 5, out, err, errlen);
    else if (strncmp(s, "local:", 6) == 0)
        rc = parse_unix_path("local:", s + 6, out, err, errlen);
    else if (s[0] == '/')
        rc = parse_unix_path("", s, out, err, errlen);
    else if (strncmp(s, "inet:", 5) == 0)
        rc = parse_inet(s + 5, false, out, err, errlen);
    else if (strncmp(s, "inet6:", 6) == 0)
        rc = parse_inet(s + 6, true, out, err, errlen);
    else if (strncmp(s, "fd:", 3) == 0) {
        unsigned long fd;

        if (parse_uint_range(s + 3, strlen(s + 3), 0, INT_MAX, &fd) < 0)
            seterr(err, errlen,
                   "expected a file descriptor number after 'fd:', found "
                   "'%s'",
                   shown(s + 3, sb, sizeof(sb)));
        else {
            out->kind = RM_SOCK_FD;
            out->fd = (int)fd;
            rc = 0;
        }
    } else if (strcmp(s, "systemd") == 0) {
        out->kind = RM_SOCK_SYSTEMD;
        rc = 0;
    } else
        seterr(err, errlen, "expected %s, found '%s'", sock_forms,
               shown(s, sb, sizeof(sb)));

    if (rc < 0) {
        cfg_sockspec_free(out);
        return -1;
    }
    out->text = xstrdup(s);
    return 0;
}

/* server_port_weight - ":port[:weight]" tail of a server */
static int
server_port_weight(const char *p, struct rm_server *out, char *err,
                   size_t errlen)
{
    const char *c = strchr(p, ':');
    size_t plen = c ? (size_t)(c - p) : strlen(p);
    unsigned long v;
    char sb[80];

    if (parse_uint_range(p, plen, 1, 65535, &v) < 0) {
        seterr(err, errlen, "expected a port between 1 and 65535, found '%.*s'",
               (int)(plen > 40 ? 40 : plen), p);
        return -1;
    }
    out->port = (uint16_t)v;
    if (c == NULL)
        return 0;
    if (parse_uint_range(c + 1, strlen(c + 1), 0, 65535, &v) < 0) {
        seterr(err, errlen, "expected a weight between 0 and 65535, found '%s'",
               shown(c + 1, sb, sizeof(sb)));
        return -1;
    }
    out->weight = (unsigned)v;
    return 0;
}

int
cfg_parse_server(const char *s, uint16_t default_port, struct rm_server *out,
                 char *err, size_t errlen)
{
    const char *p = s, *tail = NULL;
    size_t hlen;
    char sb[80];

    memset(out, 0, sizeof(*out));
    out->weight = 1;
    if (strncmp(p, "r:", 2) == 0) {
        out->rspamd = true;
        default_port = RM_RSPAMD_PORT;
        p += 2;
    }

    if (strncmp(p, "unix:", 5) == 0 || p[0] == '/' || p[0] == '.') {
        const char *path = strncmp(p, "unix:", 5) == 0 ? p + 5 : p;
        struct sockaddr_un sun;

        if (*path == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
            seterr(err, errlen,
                   "expected a socket path of 1 to %zu bytes, found '%s'",
                   sizeof(sun.sun_path) - 1, shown(s, sb, sizeof(sb)));
            goto fail;
        }
        out->path = xstrdup(path);
        goto ok;
    }

    if (p[0] == '[') {
        const char *rb = strchr(p, ']');

        if (rb == NULL || (!is_ipv6_literal(p + 1, (size_t)(rb - p - 1)) &&
                           !is_hostname(p + 1, (size_t)(rb - p - 1)))) {
            seterr(err, errlen,
                   "expected [IPv6 address][:port[:weight]], found '%s'",
                   shown(s, sb, sizeof(sb)));
            goto fail;
        }
        out->host = xstrndup(p + 1, (size_t)(rb - p - 1));
        if (rb[1] == ':')
            tail = rb + 2;
        else if (rb[1] != '\0') {
            seterr(err, errlen, "expected ':port' after ']', found '%s'",
                   shown(rb + 1, sb, sizeof(sb)));
            goto fail;
        }
    } else if (is_ipv6_literal(p, strlen(p))) {
        /* A bare IPv6 address cannot carry a port: [addr]:port does. */
        out->host = xstrdup(p);
    } else {
        const char *c = strchr(p, ':');

        hlen = c ? (size_t)(c - p) : strlen(p);
        if (!is_hostname(p, hlen)) {
            seterr(err, errlen,
                   "expected host[:port[:weight]], [IPv6]:port or "
                   "/path, found '%s'",
                   shown(s, sb, sizeof(sb)));
            goto fail;
        }
        out->host = xstrndup(p, hlen);
        if (c)
            tail = c + 1;
    }

    if (tail) {
        if (server_port_weight(tail, out, err, errlen) < 0)
            goto fail;
    } else if (default_port == 0) {
        seterr(err, errlen,
               "expected host:port (no default port here), "
               "found '%s'",
               shown(s, sb, sizeof(sb)));
        goto fail;
    } else
        out->port = default_port;

ok:
    out->text = xstrdup(s);
    return 0;
fail:
    cfg_server_free(out);
    return -1;
}

/* ------------------------------------------------------------------ */
/* recipients                                                          */
/* ------------------------------------------------------------------ */

/* rcpt_strip - [b, e) of the address inside <>, without a source route */
static void
rcpt_strip(const char *s, const char **b, const char **e)
{
    const char *p = s, *q = s + strlen(s);

    while (p < q && isspace((unsigned char)*p))
        p++;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    if (p < q && *p == '<') {
        p++;
        if (q > p && q[-1] == '>')
            q--;
    }
    if (p < q && *p == '@') {
        /* <@relay,@relay:user@domain>: drop the obsolete route */
        const char *colon = memchr(p, ':', (size_t)(q - p));

        if (colon)
            p = colon + 1;
    }
    *b = p;
    *e = q;
}

/* rcpt_normalize - a list entry, lowercased, or NULL if malformed */
static char *
rcpt_normalize(const char *s)
{
    const char *b, *e, *at;
    char *v;

    rcpt_strip(s, &b, &e);
    if (b == e)
        return NULL;
    at = memchr(b, '@', (size_t)(e - b));
    if (at) {
        /* user@domain or @domain: one @, a domain after it */
        if (at + 1 == e || memchr(at + 1, '@', (size_t)(e - at - 1)))
            return NULL;
    }
    v = xstrndup(b, (size_t)(e - b));
    for (char *p = v; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return v;
}

static bool
rcpt_listed(const struct rm_rcptlist *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && strncasecmp(l->v[i], s, len) == 0)
            return true;
    return false;
}

bool
rm_rcptlist_match(const struct rm_rcptlist *l, const char *rcpt)
{
    const char *b, *e, *at = NULL;

    if (l == NULL || l->n == 0 || rcpt == NULL)
        return false;
    rcpt_strip(rcpt, &b, &e);
    if (b == e)
        return false;
    for (const char *p = e; p > b; p--)
        if (p[-1] == '@') {
            at = p - 1;
            break;
        }
    if (at == NULL)
        return rcpt_listed(l, b, (size_t)(e - b));
    return rcpt_listed(l, b, (size_t)(e - b)) ||
           (at > b && rcpt_listed(l, b, (size_t)(at - b))) ||
           rcpt_listed(l, at, (size_t)(e - at));
}

/* ------------------------------------------------------------------ */
/* lists                                                               */
/* ------------------------------------------------------------------ */

/* One element of a list statement and the word it came from. */
struct item {
    char *s;
    size_t word;
};

struct items {
    size_t n, cap;
    struct item *v;
};

static void
items_free(struct items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i].s);
    free(it->v);
    memset(it, 0, sizeof(*it));
}

/* items_split - every word split at commas and blanks */
static void
items_split(struct items *it, const struct rm_word *words, size_t n)
{
    static const char seps[] = ", \t\r\n";

    for (size_t w = 0; w < n; w++) {
        const char *p = words[w].s;

        for (;;) {
            size_t len;

            p += strspn(p, seps);
            if (*p == '\0')
                break;
            len = strcspn(p, seps);
            if (it->n == it->cap) {
                it->cap = it->cap ? it->cap * 2 : 8;
                it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
            }
            it->v[it->n].s = xstrndup(p, len);
            it->v[it->n].word = w;
            it->n++;
            p += len;
        }
    }
}

/* grow - make room for add more elements of size sz in *v holding n */
static void *
grow(void *v, size_t n, size_t add, size_t sz)
{
    return xrealloc(v, (n + add) * sz);
}

static int
set_iplist(struct rm_iplist **dst, const struct items *it, bool append,
           char *err, size_t errlen, size_t *bad)
{
    struct rm_iplist *l = iplist_new();

    /* Build aside first: on any bad entry the field stays untouched. */
    for (size_t i = 0; i < it->n; i++) {
        if (iplist_add(l, it->v[i].s, err, errlen) < 0) {
            *bad = it->v[i].word;
            iplist_free(l);
            return -1;
        }
    }
    if (append && *dst) {
        for (size_t i = 0; i < it->n; i++)
            (void)iplist_add(*dst, it->v[i].s, NULL, 0);
        iplist_free(l);
    } else {
        iplist_free(*dst);
        *dst = l;
    }
    return 0;
}

static int
set_sockets(struct rm_socklist *dst, const struct items *it, bool append,
            char *err, size_t errlen, size_t *bad)
{
    struct rm_sockspec *v = xcalloc(it->n ? it->n : 1, sizeof(*v));

    for (size_t i = 0; i < it->n; i++) {
        if (cfg_parse_socket(it->v[i].s, &v[i], err, errlen) < 0) {
            *bad = it->v[i].word;
            while (i-- > 0)
                cfg_sockspec_free(&v[i]);
            free(v);
            return -1;
        }
    }
    if (!append) {
        for (size_t i = 0; i < dst->n; i++)
            cfg_sockspec_free(&dst->v[i]);
        dst->n = 0;
    }
    dst->v = grow(dst->v, dst->n, it->n, sizeof(*dst->v));
    memcpy(dst->v + dst->n, v, it->n * sizeof(*v));
    dst->n += it->n;
    free(v);
    return 0;
}

static int
set_servers(const struct rm_dirinfo *d, struct rm_servers *dst,
            const struct items *it, bool append, char *err, size_t errlen,
            size_t *bad)
{
    uint16_t defport = d->aux ? (uint16_t)strtoul(d->aux, NULL, 10) : 0;
    struct rm_server *v = xcalloc(it->n ? it->n : 1, sizeof(*v));

    for (size_t i = 0; i < it->n; i++) {
        if (cfg_parse_server(it->v[i].s, defport, &v[i], err, errlen) < 0) {
            *bad = it->v[i].word;
            while (i-- > 0)
                cfg_server_free(&v[i]);
            free(v);
            return -1;
        }
    }
    if (!append) {
        for (size_t i = 0; i < dst->n; i++)
            cfg_server_free(&dst->v[i]);
        dst->n = 0;
    }
    dst->v = grow(dst->v, dst->n, it->n, sizeof(*dst->v));
    memcpy(dst->v + dst->n, v, it->n * sizeof(*v));
    dst->n += it->n;
    free(v);
    return 0;
}

/* set_strings - STRLIST and RCPTLIST, given their n and v members */
static int
set_strings(enum rm_vtype t, size_t *dn, char ***dv, struct items *it,
            bool append, char *err, size_t errlen, size_t *bad)
{
    char **v = xcalloc(it->n ? it->n : 1, sizeof(*v));
    char sb[80];

    for (size_t i = 0; i < it->n; i++) {
        if (t == RM_T_RCPTLIST) {
            v[i] = rcpt_normalize(it->v[i].s);
            if (v[i] == NULL) {
                seterr(err, errlen,
                       "expected a recipient (user, user@domain or "
                       "@domain), found '%s'",
                       shown(it->v[i].s, sb, sizeof(sb)));
                *bad = it->v[i].word;
                while (i-- > 0)
                    free(v[i]);
                free(v);
                return -1;
            }
        } else {
            /* take the item's string */
            v[i] = it->v[i].s;
            it->v[i].s = NULL;
        }
    }
    if (!append) {
        for (size_t i = 0; i < *dn; i++)
            free((*dv)[i]);
        *dn = 0;
    }
    *dv = grow(*dv, *dn, it->n, sizeof(**dv));
    memcpy(*dv + *dn, v, it->n * sizeof(*v));
    *dn += it->n;
    free(v);
    return 0;
}

static bool
is_list(enum rm_vtype t)
{
    return t == RM_T_IPLIST || t == RM_T_SOCKETS || t == RM_T_SERVERS ||
           t == RM_T_STRLIST || t == RM_T_RCPTLIST;
}

/* ------------------------------------------------------------------ */
/* scalars                                                             */
/* ------------------------------------------------------------------ */

/* what - the phrase for "expected <what>" of a scalar type */
static const char *
what(enum rm_vtype t)
{
    switch (t) {
    case RM_T_STR:
        return "a string";
    case RM_T_INT:
        return "an integer";
    case RM_T_FLAG:
        return "yes or no";
    case RM_T_TIME_S:
    case RM_T_TIME_MS:
        return "a time";
    case RM_T_SIZE:
        return "a size";
    case RM_T_PROB:
        return "a probability";
    case RM_T_BUCKET:
        return "burst:rate";
    case RM_T_REGEX:
        return "/regexp/flags";
    case RM_T_ENUM:
        return "a name";
    case RM_T_MODE:
        return "an octal file mode";
    default:
        return "a value";
    }
}

/* enum_lookup - index of s among the '|'-separated names, or -1 */
static int
enum_lookup(const char *names, const char *s)
{
    size_t slen = strlen(s);
    int i = 0;

    for (const char *p = names; p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);

        if (len == slen && strncasecmp(p, s, len) == 0)
            return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* enum_name - the i-th name, copied into buf */
static const char *
enum_name(const char *names, int i, char *buf, size_t len)
{
    const char *p = names;

    for (; p && i > 0; i--) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (p == NULL || i < 0) {
        snprintf(buf, len, "%s", "");
        return buf;
    }
    snprintf(buf, len, "%.*s", (int)strcspn(p, "|"), p);
    return buf;
}

/* enum_choices - "a, b, c" from "a|b|c" */
static void
enum_choices(const char *names, char *buf, size_t len)
{
    size_t o = 0;

    for (const char *p = names; *p && o + 3 < len; p++) {
        if (*p == '|') {
            buf[o++] = ',';
            buf[o++] = ' ';
        } else
            buf[o++] = *p;
    }
    buf[o] = '\0';
}

static int
set_scalar(const struct rm_dirinfo *d, void *dst, const char *s, char *err,
           size_t errlen)
{
    struct bounds b = bounds_of(d);
    char sb[80], bt[96];
    const char *fs = shown(s, sb, sizeof(sb));

    bounds_text(&b, d->type, bt, sizeof(bt));
    switch (d->type) {
    case RM_T_STR: {
        char **p = dst, *v = xstrdup(s);

        free(*p);
        *p = v;
        return 0;
    }
    case RM_T_INT: {
        int64_t v;

        if (parse_int(s, &v) < 0 || !bounds_ok(&b, (double)v)) {
            seterr(err, errlen, "expected an integer%s, found '%s'", bt, fs);
            return -1;
        }
        *(int64_t *)dst = v;
        return 0;
    }
    case RM_T_FLAG:
        if (cfg_parse_flag(s, dst) < 0) {
            seterr(err, errlen, "expected yes or no, found '%s'", fs);
            return -1;
        }
        return 0;
    case RM_T_TIME_S:
    case RM_T_TIME_MS: {
        uint64_t v;

        if (cfg_parse_time(s, d->type == RM_T_TIME_S, &v) < 0) {
            seterr(err, errlen,
                   "expected a time (e.g. 30s, 100ms, 5m, 1d), found '%s'", fs);
            return -1;
        }
        if (!bounds_ok(&b, (double)v)) {
            seterr(err, errlen, "expected a time%s, found '%s'", bt, fs);
            return -1;
        }
        *(uint64_t *)dst = v;
        return 0;
    }
    case RM_T_SIZE: {
        uint64_t v;

        if (cfg_parse_size(s, &v) < 0) {
            seterr(err, errlen,
                   "expected a size (e.g. 512, 10k, 1m, 2g), found '%s'", fs);
            return -1;
        }
        if (!bounds_ok(&b, (double)v)) {
            seterr(err, errlen, "expected a size%s, found '%s'", bt, fs);
            return -1;
        }
        *(uint64_t *)dst = v;
        return 0;
    }
    case RM_T_PROB: {
        size_t len = strlen(s);
        double v;
        int rc;

        if (len > 0 && s[len - 1] == '%') {
            char *num = xstrndup(s, len - 1);

            rc = parse_real(num, &v);
            free(num);
            if (rc == 0)
                v /= 100.0;
        } else {
            /* The original rmilter read values above 1 as percentages
             * (its default copy_probability was 100); keep old files
             * working. */
            rc = parse_real(s, &v);
            if (rc == 0 && v > 1.0 && v <= 100.0)
                v /= 100.0;
        }
        if (rc < 0 || v < 0.0 || v > 1.0) {
            seterr(err, errlen,
                   "expected a probability between 0.0 and 1.0 (or a "
                   "percentage like 25%%), found '%s'",
                   fs);
            return -1;
        }
        if (!bounds_ok(&b, v)) {
            seterr(err, errlen, "expected a probability%s, found '%s'", bt, fs);
            return -1;
        }
        *(double *)dst = v;
        return 0;
    }
    case RM_T_BUCKET: {
        const char *colon = strchr(s, ':');
        struct rm_bucket v;
        char *burst;
        int rc = -1;

        if (colon) {
            burst = xstrndup(s, (size_t)(colon - s));
            rc = parse_real(burst, &v.burst);
            free(burst);
            if (rc == 0)
                rc = parse_real(colon + 1, &v.rate);
        }
        if (rc < 0) {
            seterr(err, errlen,
                   "expected burst:rate (e.g. 20:0.5, rate in messages per "
                   "second), found '%s'",
                   fs);
            return -1;
        }
        *(struct rm_bucket *)dst = v;
        return 0;
    }
    case RM_T_REGEX: {
        struct rm_regex **p = dst, *v = NULL;

        if (*s) {
            v = regex_compile(s, err, errlen);
            if (v == NULL)
                return -1;
        }
        regex_free(*p);
        *p = v;
        return 0;
    }
    case RM_T_ENUM: {
        int i = d->aux ? enum_lookup(d->aux, s) : -1;
        char choices[256];

        if (i < 0) {
            enum_choices(d->aux ? d->aux : "", choices, sizeof(choices));
            seterr(err, errlen, "expected one of %s, found '%s'", choices, fs);
            return -1;
        }
        *(int *)dst = i;
        return 0;
    }
    case RM_T_MODE: {
        unsigned long v = 0;
        size_t len = strlen(s);
        bool ok = len > 0 && len <= 6 && strspn(s, "01234567") == len;

        if (ok)
            v = strtoul(s, NULL, 8);
        if (!ok || v > 07777 || !bounds_ok(&b, (double)v)) {
            seterr(err, errlen,
                   "expected an octal file mode%s (e.g. 0660), found '%s'",
                   b.has_min ? bt : "", fs);
            return -1;
        }
        *(unsigned *)dst = (unsigned)v;
        return 0;
    }
    default:
        seterr(err, errlen, "internal error: unknown value type %d",
               (int)d->type);
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* exported                                                            */
/* ------------------------------------------------------------------ */

int
cfg_value_set(const struct rm_dirinfo *d, void *dst,
              const struct rm_word *words, size_t n, bool append, char *err,
              size_t errlen, size_t *bad)
{
    size_t badw = 0;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (d->type == RM_T_NOOP) {
        /* Anything goes: the loader warns that the directive is unused. */
        *(bool *)dst = true;
        rc = 0;
    } else if (is_list(d->type)) {
        struct items it = {0};

        items_split(&it, words, n);
        switch (d->type) {
        case RM_T_IPLIST:
            rc = set_iplist(dst, &it, append, err, errlen, &badw);
            break;
        case RM_T_SOCKETS:
            rc = set_sockets(dst, &it, append, err, errlen, &badw);
            break;
        case RM_T_SERVERS:
            rc = set_servers(d, dst, &it, append, err, errlen, &badw);
            break;
        case RM_T_STRLIST: {
            struct rm_strlist *l = dst;

            rc = set_strings(d->type, &l->n, &l->v, &it, append, err, errlen,
                             &badw);
            break;
        }
        default: {
            struct rm_rcptlist *l = dst;

            rc = set_strings(d->type, &l->n, &l->v, &it, append, err, errlen,
                             &badw);
            break;
        }
        }
        items_free(&it);
    } else if (append) {
        seterr(err, errlen,
               "expected '=' ('+=' appends to lists only), "
               "found '+='");
        rc = -1;
    } else if (n == 0) {
        char choices[256];

        if (d->type == RM_T_ENUM) {
            enum_choices(d->aux ? d->aux : "", choices, sizeof(choices));
            seterr(err, errlen, "expected one of %s, found nothing", choices);
        } else
            seterr(err, errlen, "expected %s, found nothing", what(d->type));
        rc = -1;
    } else if (n > 1) {
        char sb[80];

        seterr(err, errlen, "expected a single value, found '%s'",
               shown(words[1].s, sb, sizeof(sb)));
        badw = 1;
        rc = -1;
    } else
        rc = set_scalar(d, dst, words[0].s, err, errlen);

    if (bad)
        *bad = rc < 0 ? badw : 0;
    return rc;
}

int
cfg_value_set_default(const struct rm_dirinfo *d, void *dst, char *err,
                      size_t errlen)
{
    struct rm_word w = {d->def ? d->def : "", true, 0, 0};
    size_t bad;

    if (d->type == RM_T_NOOP) {
        *(bool *)dst = false;
        return 0;
    }
    return cfg_value_set(d, dst, &w, 1, false, err, errlen, &bad);
}

static void
strings_free(size_t n, char **v)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
cfg_value_free(const struct rm_dirinfo *d, void *dst)
{
    switch (d->type) {
    case RM_T_STR:
        free(*(char **)dst);
        *(char **)dst = NULL;
        break;
    case RM_T_IPLIST:
        iplist_free(*(struct rm_iplist **)dst);
        *(struct rm_iplist **)dst = NULL;
        break;
    case RM_T_REGEX:
        regex_free(*(struct rm_regex **)dst);
        *(struct rm_regex **)dst = NULL;
        break;
    case RM_T_SOCKETS: {
        struct rm_socklist *l = dst;

        for (size_t i = 0; i < l->n; i++)
            cfg_sockspec_free(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
        break;
    }
    case RM_T_SERVERS: {
        struct rm_servers *l = dst;

        for (size_t i = 0; i < l->n; i++)
            cfg_server_free(&l->v[i]);
        free(l->v);
        memset(l, 0, sizeof(*l));
        break;
    }
    case RM_T_STRLIST: {
        struct rm_strlist *l = dst;

        strings_free(l->n, l->v);
        memset(l, 0, sizeof(*l));
        break;
    }
    case RM_T_RCPTLIST: {
        struct rm_rcptlist *l = dst;

        strings_free(l->n, l->v);
        memset(l, 0, sizeof(*l));
        break;
    }
    case RM_T_INT:
        *(int64_t *)dst = 0;
        break;
    case RM_T_FLAG:
    case RM_T_NOOP:
        *(bool *)dst = false;
        break;
    case RM_T_TIME_S:
    case RM_T_TIME_MS:
    case RM_T_SIZE:
        *(uint64_t *)dst = 0;
        break;
    case RM_T_PROB:
        *(double *)dst = 0;
        break;
    case RM_T_BUCKET:
        memset(dst, 0, sizeof(struct rm_bucket));
        break;
    case RM_T_ENUM:
        *(int *)dst = 0;
        break;
    case RM_T_MODE:
        *(unsigned *)dst = 0;
        break;
    }
}

/* put_list - n words joined by ", "; an empty list is "" */
static void
put_list(FILE *f, size_t n, const char *(*get)(const void *, size_t),
         const void *l)
{
    if (n == 0) {
        fputs("\"\"", f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = get(l, i);
        bool force = false;

        /* The lexer reads a bare word that starts with '/' as a regexp
         * when another '/' follows on the line, so `/a, "x/"` would be
         * one word with a stray quote. Bare items merged that way split
         * back into the same items; a quoted later item would not, so a
         * '/' item before one is quoted too. */
        if (s && s[0] == '/')
            for (size_t j = i + 1; j < n && !force; j++)
                force = !bare_ok(get(l, j) ? get(l, j) : "");
        if (i)
            fputs(", ", f);
        put_word_q(f, s, force);
    }
}

static const char *
get_iplist(const void *l, size_t i)
{
    return iplist_entry(l, i);
}

static const char *
get_socket(const void *l, size_t i)
{
    return ((const struct rm_socklist *)l)->v[i].text;
}

static const char *
get_server(const void *l, size_t i)
{
    return ((const struct rm_servers *)l)->v[i].text;
}

static const char *
get_string(const void *l, size_t i)
{
    return ((const struct rm_strlist *)l)->v[i];
}

static const char *
get_rcpt(const void *l, size_t i)
{
    return ((const struct rm_rcptlist *)l)->v[i];
}

void
cfg_value_format(const struct rm_dirinfo *d, const void *src, FILE *f)
{
    char buf[128], buf2[64];

    switch (d->type) {
    case RM_T_STR:
        put_word(f, *(char *const *)src);
        break;
    case RM_T_INT:
        fprintf(f, "%" PRId64, *(const int64_t *)src);
        break;
    case RM_T_FLAG:
        fputs(*(const bool *)src ? "yes" : "no", f);
        break;
    case RM_T_TIME_S:
    case RM_T_TIME_MS:
        format_time(buf, sizeof(buf), *(const uint64_t *)src);
        fputs(buf, f);
        break;
    case RM_T_SIZE:
        format_size(buf, sizeof(buf), *(const uint64_t *)src);
        fputs(buf, f);
        break;
    case RM_T_PROB:
        format_real(buf, sizeof(buf), *(const double *)src);
        fputs(buf, f);
        break;
    case RM_T_BUCKET: {
        const struct rm_bucket *bk = src;

        format_real(buf, sizeof(buf), bk->burst);
        format_real(buf2, sizeof(buf2), bk->rate);
        fprintf(f, "%s:%s", buf, buf2);
        break;
    }
    case RM_T_IPLIST: {
        const struct rm_iplist *l = *(struct rm_iplist *const *)src;

        put_list(f, iplist_count(l), get_iplist, l);
        break;
    }
    case RM_T_SOCKETS: {
        const struct rm_socklist *l = src;

        put_list(f, l->n, get_socket, l);
        break;
    }
    case RM_T_SERVERS: {
        const struct rm_servers *l = src;

        put_list(f, l->n, get_server, l);
        break;
    }
    case RM_T_STRLIST: {
        const struct rm_strlist *l = src;

        put_list(f, l->n, get_string, l);
        break;
    }
    case RM_T_RCPTLIST: {
        const struct rm_rcptlist *l = src;

        put_list(f, l->n, get_rcpt, l);
        break;
    }
    case RM_T_REGEX:
        put_word(f, regex_source(*(struct rm_regex *const *)src));
        break;
    case RM_T_ENUM:
        put_word(f, enum_name(d->aux ? d->aux : "", *(const int *)src, buf,
                              sizeof(buf)));
        break;
    case RM_T_MODE:
        fprintf(f, "%04o", *(const unsigned *)src);
        break;
    case RM_T_NOOP:
        /* Not a value; the dump leaves unused directives out. */
        fputs("\"\"", f);
        break;
    }
}
