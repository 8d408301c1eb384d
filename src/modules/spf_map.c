/*
 * NAME
 *   spf_map - SPF result -> Received-SPF header and SMTP reply (spf_map.h)
 *
 * DESCRIPTION
 *   Pure string work. Every text that came from outside (sender, HELO,
 *   host name, the problem text) is escaped for where it goes: quoted
 *   strings and comments in the header (then hdr_value_sanitize), one
 *   printable ASCII line in the reply (hdr_text_oneline).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Results are new strings owned by the caller. No state: thread-safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "modules/spf_map.h"
#include "proto/hdr.h"

#define SPF_TEXT_MAX 300 /* one value in a reply */

const char *
spf_result_name(enum rm_spf_result r)
{
    static const char *const names[] = {
        "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror",
    };

    return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

static bool
listed(const struct rm_strlist *l, const char *domain)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++)
        if (strcmp(l->v[i], "*") == 0 || strcasecmp(l->v[i], domain) == 0)
            return true;
    return false;
}

bool
spf_domain_listed(const struct rm_strlist *a, const struct rm_strlist *b,
                  const char *domain)
{
    if (domain == NULL || domain[0] == '\0')
        return false;
    return listed(a, domain) || listed(b, domain);
}

/* RFC 5322 atext */
static bool
is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_dot_atom(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!is_atext((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* kv_value - s as a dot-atom, or as a quoted string */
static char *
kv_value(const char *s)
{
    size_t i, o = 0, n = strlen(s);
    char *q;

    if (is_dot_atom(s))
        return xstrdup(s);
    q = xmalloc(2 * n + 3);
    q[o++] = '"';
    for (i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            q[o++] = '\\';
        q[o++] = s[i];
    }
    q[o++] = '"';
    q[o] = '\0';
    return q;
}

/* comment_text - s with the comment specials escaped */
static char *
comment_text(const char *s)
{
    size_t i, o = 0, n = strlen(s);
    char *c = xmalloc(2 * n + 1);

    for (i = 0; i < n; i++) {
        if (s[i] == '(' || s[i] == ')' || s[i] == '\\')
            c[o++] = '\\';
        c[o++] = s[i];
    }
    c[o] = '\0';
    return c;
}

/* explain - the comment's sentence for a result */
static char *
explain(const struct rm_spf_facts *f)
{
    const char *who = f->sender, *ip = f->ip;

    switch (f->result) {
    case RM_SPF_PASS:
        return xasprintf("domain of %s designates %s as permitted sender", who,
                         ip);
    case RM_SPF_FAIL:
        return xasprintf("domain of %s does not designate %s as permitted "
                         "sender",
                         who, ip);
    case RM_SPF_SOFTFAIL:
        return xasprintf("domain of transitioning %s does not designate %s "
                         "as permitted sender",
                         who, ip);
    case RM_SPF_NEUTRAL:
        return xasprintf("%s is neither permitted nor denied by domain of %s",
                         ip, who);
    case RM_SPF_NONE:
        return xasprintf("domain of %s does not designate permitted sender "
                         "hosts",
                         who);
    case RM_SPF_TEMPERROR:
        return xasprintf("temporary error in processing during lookup of "
                         "%s%s%s",
                         who, f->problem ? ": " : "",
                         f->problem ? f->problem : "");
    case RM_SPF_PERMERROR:
        return xasprintf("permanent error in processing domain of %s%s%s", who,
                         f->problem ? ": " : "", f->problem ? f->problem : "");
    }
    return xstrdup("unknown result");
}

char *
spf_header_value(const struct rm_spf_facts *f)
{
    char *why = explain(f), *cwhy, *crcv, *ip, *from, *helo, *rcv, *raw, *v;
    const char *receiver =
        f->receiver && *f->receiver ? f->receiver : "localhost";

    cwhy = comment_text(why);
    crcv = comment_text(receiver);
    ip = kv_value(f->ip);
    from = kv_value(f->sender);
    helo = f->helo && *f->helo ? kv_value(f->helo) : NULL;
    rcv = kv_value(receiver);
    raw = xasprintf("%s (%s: %s) client-ip=%s; envelope-from=%s;%s%s%s "
                    "receiver=%s; identity=%s;",
                    spf_result_name(f->result), crcv, cwhy, ip, from,
                    helo ? " helo=" : "", helo ? helo : "", helo ? ";" : "",
                    rcv, f->helo_identity ? "helo" : "mailfrom");
    v = hdr_value_sanitize(raw, strlen(raw), strlen("Received-SPF"), 2048,
                           RM_HDR_RAW8);
    free(raw);
    free(why);
    free(cwhy);
    free(crcv);
    free(ip);
    free(from);
    free(helo);
    free(rcv);
    return v;
}

/* oneline - s as printable ASCII for a reply */
static char *
oneline(const char *s)
{
    return hdr_text_oneline_dup(s ? s : "", strlen(s ? s : ""), SPF_TEXT_MAX,
                                0);
}

static void
act_set(struct rm_spf_action *act, enum rm_action a, bool fail_class,
        const struct rm_spf_facts *f)
{
    char *host = oneline(f->host && *f->host ? f->host : "unknown");
    char *ip = oneline(f->ip);
    char *who = oneline(f->sender);

    act->action = a;
    if (a == RM_ACT_REJECT) {
        act->rcode = "550";
        act->xcode = fail_class ? "5.7.23" : "5.7.24";
    } else {
        act->rcode = "451";
        act->xcode = fail_class ? "4.7.23" : "4.7.24";
    }
    if (fail_class && a == RM_ACT_REJECT)
        act->text = xasprintf("SPF policy violation. Host %s[%s] is not "
                              "allowed to send mail as %s.",
                              host, ip, who);
    else if (fail_class)
        act->text = xasprintf("SPF soft failure. Host %s[%s] is not allowed "
                              "to send mail as %s; try again later.",
                              host, ip, who);
    else if (f->result == RM_SPF_TEMPERROR)
        act->text = xasprintf("Temporary error checking the SPF record of "
                              "%s; try again later.",
                              who);
    else if (a == RM_ACT_REJECT)
        act->text = xasprintf("SPF permanent error: the SPF record of %s is "
                              "invalid.",
                              who);
    else
        act->text = xasprintf("SPF permanent error: the SPF record of %s is "
                              "invalid; try again later.",
                              who);
    free(host);
    free(ip);
    free(who);
}

static enum rm_action
policy_action(enum rm_spf_policy p)
{
    switch (p) {
    case RM_SPF_POLICY_TEMPFAIL:
        return RM_ACT_TEMPFAIL;
    case RM_SPF_POLICY_REJECT:
        return RM_ACT_REJECT;
    default:
        return RM_ACT_CONTINUE;
    }
}

void
spf_action(const struct rm_spf_facts *f, enum rm_spf_policy softfail,
           enum rm_spf_policy temperror, enum rm_spf_policy permerror,
           struct rm_spf_action *act)
{
    enum rm_action a = RM_ACT_CONTINUE;
    bool fail_class = false;

    memset(act, 0, sizeof(*act));
    act->action = RM_ACT_CONTINUE;
    switch (f->result) {
    case RM_SPF_FAIL:
        a = RM_ACT_REJECT;
        fail_class = true;
        break;
    case RM_SPF_SOFTFAIL:
        a = policy_action(softfail);
        fail_class = true;
        break;
    case RM_SPF_TEMPERROR:
        a = policy_action(temperror);
        break;
    case RM_SPF_PERMERROR:
        a = policy_action(permerror);
        break;
    default:
        break;
    }
    if (a != RM_ACT_CONTINUE)
        act_set(act, a, fail_class, f);
}
