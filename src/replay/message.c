/*
 * NAME
 *   message - split a stored message into what an MTA gives a milter
 *
 * DESCRIPTION
 *   Headers: lines up to the first empty line. "Name: value" starts a
 *   header; a line starting with a blank continues the previous one; the
 *   first line that is neither ends the headers (an MTA treats it as the
 *   start of the body, so does replay). Values are passed as Postfix passes
 *   them to a milter: leading blanks of the first line dropped, folded
 *   lines joined with "\n" (the pipeline turns that into CRLF where it
 *   spools).
 *
 *   Body: everything after the empty line, every line end made CRLF, as
 *   SMTP DATA carries it (without the dot-stuffing, which the MTA undoes).
 *
 *   Dates: RFC 5322 (with the obsolete zone names, two-digit years and
 *   comments after the zone), ISO 8601 in UTC or with an offset, and
 *   "@SECONDS". Times are ms since the epoch; output is always UTC.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct rp_parsed owns its headers and body (rp_parsed_free). Every
 *   function is reentrant (timegm, gmtime_r; no static buffers).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xmalloc.h"
#include "replay/replay_int.h"

char *
rp_trim(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return xstrndup(s, len);
}

char *
rp_addr_bracket(const char *s)
{
    char *t = rp_trim(s, strlen(s)), *out;
    size_t n = strlen(t);

    if (n >= 2 && t[0] == '<' && t[n - 1] == '>')
        return t;
    out = xasprintf("<%s>", t);
    free(t);
    return out;
}

/* line_end - length of the line at p (without its line end) and where
 * the next line starts */
static size_t
line_at(const char *p, size_t left, size_t *next)
{
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) : left;

    *next = nl ? n + 1 : n;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n;
}

static void
hdr_push(struct rp_parsed *out, size_t *cap, char *name, char *value, char *raw)
{
    if (out->n_hdrs == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        out->hdrs = xrealloc(out->hdrs, *cap * sizeof(*out->hdrs));
    }
    out->hdrs[out->n_hdrs].name = name;
    out->hdrs[out->n_hdrs].value = value;
    out->hdrs[out->n_hdrs].raw = raw;
    out->n_hdrs++;
}

/* is_header_line - "Name:" with a printable name and no blanks */
static bool
is_header_line(const char *p, size_t n, size_t *colon)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == ':') {
            *colon = i;
            return i > 0;
        }
        if (c <= ' ' || c >= 127)
            return false;
    }
    return false;
}

/* crlf_body - the body with every line end CRLF */
static void
crlf_body(const char *p, size_t len, struct rp_parsed *out)
{
    char *b = xmalloc(2 * len + 1);
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            b[o++] = '\r';
        b[o++] = p[i];
    }
    b[o] = '\0';
    out->body = b;
    out->body_len = o;
}

void
rp_parse(const char *raw, size_t len, struct rp_parsed *out)
{
    size_t pos = 0, n, next, colon, cap = 0;
    const char *p;
    char *v;

    memset(out, 0, sizeof(*out));
    while (pos < len) {
        p = raw + pos;
        n = line_at(p, len - pos, &next);
        if (n == 0) {
            pos += next; /* the empty line ends the headers */
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && out->n_hdrs > 0) {
            struct rp_hdr *h = &out->hdrs[out->n_hdrs - 1];

            v = xasprintf("%s\n%.*s", h->value, (int)n, p);
            free(h->value);
            h->value = v;
            v = xasprintf("%s\n%.*s", h->raw, (int)n, p);
            free(h->raw);
            h->raw = v;
            pos += next;
            continue;
        }
        if (!is_header_line(p, n, &colon))
            break; /* not a header: the body starts here */
        v = (char *)p + colon + 1;
        {
            char *raw_v = xstrndup(v, (size_t)(p + n - v));

            while (v < p + n && (*v == ' ' || *v == '\t'))
                v++;
            hdr_push(out, &cap, xstrndup(p, colon),
                     xstrndup(v, (size_t)(p + n - v)), raw_v);
        }
        pos += next;
    }
    crlf_body(raw + pos, len - pos, out);
}

void
rp_parsed_free(struct rp_parsed *p)
{
    size_t i;

    for (i = 0; i < p->n_hdrs; i++) {
        free(p->hdrs[i].name);
        free(p->hdrs[i].value);
        free(p->hdrs[i].raw);
    }
    free(p->hdrs);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

const char *
rp_header(const struct rp_parsed *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->n_hdrs; i++)
        if (strcasecmp(p->hdrs[i].name, name) == 0)
            return p->hdrs[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* dates                                                              */
/* ------------------------------------------------------------------ */

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};

/* zone_minutes - an RFC 5322 zone: +HHMM, or an obsolete name */
static int
zone_minutes(const char *z, long *off)
{
    static const struct {
        const char *name;
        int hours;
    } names[] = {{"UT", 0},   {"UTC", 0},  {"GMT", 0},  {"Z", 0},
                 {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
                 {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
    size_t i;

    if ((z[0] == '+' || z[0] == '-') && isdigit((unsigned char)z[1]) &&
        isdigit((unsigned char)z[2]) && isdigit((unsigned char)z[3]) &&
        isdigit((unsigned char)z[4])) {
        *off = ((z[1] - '0') * 10 + (z[2] - '0')) * 60 + (z[3] - '0') * 10 +
               (z[4] - '0');
        if (z[0] == '-')
            *off = -*off;
        return 0;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t l = strlen(names[i].name);

        if (strncasecmp(z, names[i].name, l) == 0 &&
            !isalpha((unsigned char)z[l])) {
            *off = names[i].hours * 60;
            return 0;
        }
    }
    *off = 0; /* unknown zones count as UTC (RFC 5322 4.3) */
    return 0;
}

static int
to_ms(struct tm *tm, long off_min, uint64_t *ms)
{
    time_t t;

    if (tm->tm_mon < 0 || tm->tm_mon > 11 || tm->tm_mday < 1 ||
        tm->tm_mday > 31 || tm->tm_hour > 23 || tm->tm_min > 59 ||
        tm->tm_sec > 60 || tm->tm_year < 70)
        return -1;
    t = timegm(tm);
    if (t == (time_t)-1)
        return -1;
    t -= (time_t)off_min * 60;
    if (t < 0)
        return -1;
    *ms = (uint64_t)t * 1000u;
    return 0;
}

/* parse_rfc5322 - "[Day,] DD Mon YYYY HH:MM[:SS] zone" */
static int
parse_rfc5322(const char *s, uint64_t *ms)
{
    struct tm tm = {0};
    char mon[4] = "";
    int day, year, hh, mm, ss = 0, n = 0, i;
    long off = 0;
    const char *p = s, *comma = strchr(s, ',');

    if (comma != NULL && comma - s < 12)
        p = comma + 1;
    while (isspace((unsigned char)*p))
        p++;
    if (sscanf(p, "%d %3s %d %d:%d%n", &day, mon, &year, &hh, &mm, &n) != 5)
        return -1;
    p += n;
    if (*p == ':') {
        if (sscanf(p, ":%d%n", &ss, &n) != 1)
            return -1;
        p += n;
    }
    while (isspace((unsigned char)*p))
        p++;
    zone_minutes(p, &off);
    for (i = 0; i < 12; i++)
        if (strncasecmp(mon, months[i], 3) == 0)
            break;
    if (i == 12)
        return -1;
    if (year < 50)
        year += 2000;
    else if (year < 1000)
        year += 1900;
    tm.tm_year = year - 1900;
    tm.tm_mon = i;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return to_ms(&tm, off, ms);
}

/* parse_iso - "YYYY-MM-DD[T ]HH:MM[:SS[.fff]][Z|+HH:MM|+HHMM]" */
static int
parse_iso(const char *s, uint64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, hh, mm, ss = 0, n = 0, oh, om;
    long off = 0;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
        (s[n] != 'T' && s[n] != ' '))
        return -1;
    p = s + n + 1;
    if (sscanf(p, "%2d:%2d%n", &hh, &mm, &n) != 2)
        return -1;
    p += n;
    if (*p == ':') {
        if (sscanf(p, ":%2d%n", &ss, &n) != 1)
            return -1;
        p += n;
        if (*p == '.')
            for (p++; isdigit((unsigned char)*p); p++)
                ;
    }
    while (*p == ' ')
        p++;
    if (*p == '+' || *p == '-') {
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 &&
            sscanf(p + 1, "%2d%2d", &oh, &om) != 2)
            return -1;
        off = oh * 60 + om;
        if (*p == '-')
            off = -off;
    } else if (*p != '\0' && *p != 'Z' && *p != 'z') {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return to_ms(&tm, off, ms);
}

int
rp_parse_time(const char *s, uint64_t *ms)
{
    char *end;
    unsigned long long v;

    if (s == NULL)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '@') {
        v = strtoull(s + 1, &end, 10);
        if (end == s + 1 || *end != '\0')
            return -1;
        *ms = (uint64_t)v * 1000u;
        return 0;
    }
    if (parse_iso(s, ms) == 0)
        return 0;
    return parse_rfc5322(s, ms);
}

void
rp_format_time(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
