/*
 * NAME
 *   spamd - SpamAssassin's spamd protocol (see spamd.h)
 *
 * DESCRIPTION
 *   The reader appends bytes to one buffer, grown up to its maximum, and
 *   parses in steps: the status line once its LF is in (an error reply is
 *   complete there), the headers once the empty line is in, then waits
 *   for Content-length body bytes (or eof when there is no length).
 *   Nothing is parsed twice: sd_hdr_end records how far headers got.
 *
 *   Numbers are parsed by hand, not with strtod, so the result does not
 *   depend on the locale.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The reader owns sd_buf; the parsed reply points into it. No shared
 *   state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "proto/hdr.h"
#include "proto/spamd.h"

const char *
spamd_cmd_name(enum rm_spamd_cmd cmd)
{
    switch (cmd) {
    case RM_SPAMD_CHECK:
        return "CHECK";
    case RM_SPAMD_SYMBOLS:
        return "SYMBOLS";
    case RM_SPAMD_REPORT:
        return "REPORT";
    }
    return NULL;
}

/* user_valid - 1..RM_SPAMD_USER_MAX printable ASCII without blanks */
static bool
user_valid(const char *user)
{
    size_t i, n = strlen(user);

    if (n == 0 || n > RM_SPAMD_USER_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)user[i] <= 0x20 || (unsigned char)user[i] >= 0x7f)
            return false;
    return true;
}

int
spamd_request_build(enum rm_spamd_cmd cmd, uint64_t content_length,
                    const char *user, char *out, size_t size, size_t *len)
{
    const char *name = spamd_cmd_name(cmd);
    int n;

    *len = 0;
    if (name == NULL)
        return -EINVAL;
    if (user != NULL && *user == '\0')
        user = NULL;
    if (user != NULL && !user_valid(user))
        return -EINVAL;
    if (user != NULL)
        n = snprintf(out, size,
                     "%s SPAMC/1.5\r\nContent-length: %llu\r\nUser: %s\r\n\r\n",
                     name, (unsigned long long)content_length, user);
    else
        n = snprintf(out, size, "%s SPAMC/1.5\r\nContent-length: %llu\r\n\r\n",
                     name, (unsigned long long)content_length);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    *len = (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Reply */

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* trim - strip blanks (and a CR) from both ends of s/len */
static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && (is_blank((*s)[*len - 1]) || (*s)[*len - 1] == '\r'))
        (*len)--;
}

int
spamd_parse_decimal(const char *s, size_t len, double *out)
{
    double v = 0, scale = 1;
    bool neg = false, digits = false;
    size_t i = 0;

    trim(&s, &len);
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        digits = true;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            scale /= 10;
            v += (s[i] - '0') * scale;
            digits = true;
        }
    }
    if (!digits || i != len)
        return -EINVAL;
    *out = neg ? -v : v;
    return 0;
}

/* parse_uint - decimal digits only, no overflow; 0 or -EINVAL */
static int
parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    trim(&s, &len);
    if (len == 0)
        return -EINVAL;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        if (v > (max - (uint64_t)(s[i] - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* parse_status - "SPAMD/<ver> <code> <text>" (line without its LF) */
static int
parse_status(const char *l, size_t len, struct rm_spamd_reply *rep)
{
    const char *p, *end, *sp;
    uint64_t code;
    size_t vlen;

    trim(&l, &len);
    end = l + len;
    if (len < 6 || memcmp(l, "SPAMD/", 6) != 0)
        return -EPROTO;
    p = l + 6;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL)
        return -EPROTO;
    vlen = (size_t)(sp - p);
    if (vlen == 0 || vlen >= sizeof(rep->sr_version) ||
        strspn(p, "0123456789.") < vlen)
        return -EPROTO;
    memcpy(rep->sr_version, p, vlen);
    rep->sr_version[vlen] = '\0';
    p = sp + 1;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL)
        sp = end;
    if (parse_uint(p, (size_t)(sp - p), 255, &code) < 0)
        return -EPROTO;
    rep->sr_code = (int)code;
    rep->sr_status = code == 0 ? RM_SPAMD_OK : RM_SPAMD_ERROR;
    p = sp < end ? sp + 1 : end;
    hdr_text_oneline(p, (size_t)(end - p), rep->sr_text, sizeof(rep->sr_text),
                     0);
    return 0;
}

/* parse_spam - "True ; 1000.0 / 5.0" */
static int
parse_spam(const char *v, size_t len, struct rm_spamd_reply *rep)
{
    const char *end = v + len, *semi, *slash, *w;
    size_t wlen;

    semi = memchr(v, ';', len);
    if (semi == NULL)
        return -EPROTO;
    w = v;
    wlen = (size_t)(semi - v);
    trim(&w, &wlen);
    if ((wlen == 4 && strncasecmp(w, "true", 4) == 0) ||
        (wlen == 3 && strncasecmp(w, "yes", 3) == 0))
        rep->sr_is_spam = true;
    else if ((wlen == 5 && strncasecmp(w, "false", 5) == 0) ||
             (wlen == 2 && strncasecmp(w, "no", 2) == 0))
        rep->sr_is_spam = false;
    else
        return -EPROTO;
    slash = memchr(semi + 1, '/', (size_t)(end - semi - 1));
    if (slash == NULL ||
        spamd_parse_decimal(semi + 1, (size_t)(slash - semi - 1),
                            &rep->sr_score) < 0 ||
        spamd_parse_decimal(slash + 1, (size_t)(end - slash - 1),
                            &rep->sr_threshold) < 0)
        return -EPROTO;
    rep->sr_has_verdict = true;
    return 0;
}

/* parse_header - one "Name: value" line (without its LF) */
static int
parse_header(struct rm_spamd_reader *r, const char *l, size_t len)
{
    const char *colon = memchr(l, ':', len), *v;
    size_t nlen, vlen;
    uint64_t cl;

    if (colon == NULL)
        return -EPROTO;
    nlen = (size_t)(colon - l);
    v = colon + 1;
    vlen = len - nlen - 1;
    trim(&v, &vlen);
    if (nlen == 14 && strncasecmp(l, "Content-length", 14) == 0) {
        if (parse_uint(v, vlen, INT64_MAX, &cl) < 0)
            return -EPROTO;
        r->sd_content_len = (int64_t)cl;
    } else if (nlen == 4 && strncasecmp(l, "Spam", 4) == 0) {
        return parse_spam(v, vlen, &r->sd_reply);
    }
    return 0; /* other headers are ignored */
}

/* next_line - the line starting at off (without LF); false if its LF has
 * not arrived. Remembers how far it searched, so a line that arrives a
 * byte at a time is not searched from its start every time. */
static bool
next_line(struct rm_spamd_reader *r, size_t off, const char **l, size_t *len,
          size_t *next)
{
    size_t from = r->sd_scan > off ? r->sd_scan : off;
    const char *nl = memchr(r->sd_buf + from, '\n', r->sd_len - from);

    if (nl == NULL) {
        r->sd_scan = r->sd_len;
        return false;
    }
    *l = r->sd_buf + off;
    *len = (size_t)(nl - *l);
    if (*len > 0 && (*l)[*len - 1] == '\r')
        (*len)--;
    *next = (size_t)(nl - r->sd_buf) + 1;
    return true;
}

void
spamd_reader_init(struct rm_spamd_reader *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->sd_max = max ? max : RM_SPAMD_REPLY_MAX;
    r->sd_content_len = -1;
}

void
spamd_reader_fini(struct rm_spamd_reader *r)
{
    free(r->sd_buf);
    r->sd_buf = NULL;
    r->sd_len = r->sd_cap = 0;
    r->sd_reply.sr_body = NULL;
    r->sd_reply.sr_body_len = 0;
}

/* append - add bytes within the maximum; 0 or -EMSGSIZE */
static int
append(struct rm_spamd_reader *r, const void *data, size_t len)
{
    size_t cap;

    if (len == 0)
        return 0;
    if (len > r->sd_max - r->sd_len)
        return -EMSGSIZE;
    if (r->sd_len + len > r->sd_cap) {
        cap = r->sd_cap ? r->sd_cap : 512;
        while (cap < r->sd_len + len)
            cap *= 2;
        if (cap > r->sd_max)
            cap = r->sd_max;
        r->sd_buf = xrealloc(r->sd_buf, cap);
        r->sd_cap = cap;
    }
    memcpy(r->sd_buf + r->sd_len, data, len);
    r->sd_len += len;
    return 0;
}

/* step - parse what has arrived; the feed result (0 = need more) */
static int
step(struct rm_spamd_reader *r, bool eof)
{
    struct rm_spamd_reply *rep = &r->sd_reply;
    const char *l;
    size_t len, off, next;
    int rc;

    if (r->sd_len == 0)
        return eof ? -EPIPE : 0;
    if (rep->sr_version[0] == '\0') {
        if (!next_line(r, 0, &l, &len, &next)) {
            if (!eof)
                return 0;
            /* An error line cut by the close still says what it is. */
            l = r->sd_buf;
            len = r->sd_len;
            next = r->sd_len;
        }
        if (parse_status(l, len, rep) < 0)
            return -EPROTO;
        if (rep->sr_status == RM_SPAMD_ERROR)
            return 1;
        r->sd_hdr_end = next; /* headers start here */
    }
    if (!r->sd_hdrs_done) {
        off = r->sd_hdr_end;
        while (next_line(r, off, &l, &len, &next)) {
            off = next;
            if (len == 0) {
                r->sd_hdrs_done = true;
                break;
            }
            rc = parse_header(r, l, len);
            if (rc < 0)
                return rc;
        }
        r->sd_hdr_end = off;
        if (!r->sd_hdrs_done)
            return eof ? -EBADMSG : 0;
    }
    if (r->sd_content_len >= 0) {
        if (r->sd_len - r->sd_hdr_end < (uint64_t)r->sd_content_len)
            return eof ? -EBADMSG : 0;
        rep->sr_body_len = (size_t)r->sd_content_len;
    } else {
        if (!eof)
            return 0;
        rep->sr_body_len = r->sd_len - r->sd_hdr_end;
    }
    rep->sr_body = r->sd_buf + r->sd_hdr_end;
    return 1;
}

int
spamd_reader_feed(struct rm_spamd_reader *r, const void *data, size_t len,
                  bool eof)
{
    int rc;

    if (r->sd_result != 0)
        return r->sd_result;
    rc = append(r, data, len);
    if (rc == 0)
        rc = step(r, eof);
    if (rc != 0)
        r->sd_result = rc;
    return rc;
}

bool
spamd_symbols_next(const struct rm_spamd_reply *r, size_t *pos,
                   const char **name, size_t *len)
{
    const char *s = r->sr_body, *comma;
    size_t n = r->sr_body_len, l;

    while (s != NULL && *pos < n) {
        const char *p = s + *pos;

        comma = memchr(p, ',', n - *pos);
        l = comma ? (size_t)(comma - p) : n - *pos;
        *pos += l + (comma ? 1 : 0);
        while (l > 0 && (is_blank(*p) || *p == '\r' || *p == '\n')) {
            p++;
            l--;
        }
        while (l > 0 &&
               (is_blank(p[l - 1]) || p[l - 1] == '\r' || p[l - 1] == '\n'))
            l--;
        if (l > 0) {
            *name = p;
            *len = l;
            return true;
        }
    }
    return false;
}
