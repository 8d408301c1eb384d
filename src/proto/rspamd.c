/*
 * NAME
 *   rspamd - rspamd's HTTP protocol: request head and JSON reply
 *   (see rspamd.h)
 *
 * DESCRIPTION
 *   The request head is built in a pbuf; envelope values are copied with
 *   control characters replaced, so no value can end a header line.
 *
 *   The reply is parsed with jansson into a temporary json_t tree, and
 *   everything kept is copied out of it (and sanitized) before the tree
 *   is released, so the result owns plain C strings only. Unknown members
 *   are ignored; a known member of the wrong type is a protocol error for
 *   the verdict fields (action, score) and is dropped (counted in
 *   rr_dropped) for the optional ones (symbols, headers, DKIM).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   rspamd_request_build's result and the reply's strings belong to the
 *   caller. jansson is thread-safe for separate trees (its hash seed is
 *   set up once, atomically); no state of our own.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/xmalloc.h"
#include "proto/hdr.h"
#include "proto/pbuf.h"
#include "proto/rspamd.h"

/* ---------------------------------------------------------------------- */
/* Request */

/* add_header - "Name: value\r\n", control characters in value as '?' */
static void
add_header(struct pbuf *pb, const char *name, const char *value)
{
    const unsigned char *v = (const unsigned char *)value;

    pbuf_adds(pb, name);
    pbuf_add(pb, ": ", 2);
    for (; *v != '\0'; v++)
        pbuf_addc(pb, (*v < 0x20 || *v == 0x7f) ? '?' : (char)*v);
    pbuf_add(pb, "\r\n", 2);
}

/* token_ok - non-empty, no blank or control character (path, host) */
static bool
token_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

int
rspamd_request_build(const struct rm_rspamd_env *env, char **out, size_t *len)
{
    struct pbuf pb = {0};
    const char *path, *host;
    size_t i;

    *out = NULL;
    *len = 0;
    if (env == NULL)
        return -EINVAL;
    path = env->re_path ? env->re_path : "/checkv2";
    host = env->re_host ? env->re_host : "localhost";
    if (!token_ok(path) || !token_ok(host))
        return -EINVAL;
    pbuf_addf(&pb, "POST %s HTTP/1.1\r\n", path);
    add_header(&pb, "Host", host);
    add_header(&pb, "Connection", "close");
    if (env->re_ip != NULL)
        add_header(&pb, "IP", env->re_ip);
    if (env->re_helo != NULL)
        add_header(&pb, "Helo", env->re_helo);
    add_header(&pb, "From",
               env->re_from && *env->re_from ? env->re_from : "<>");
    for (i = 0; i < env->re_nrcpt; i++)
        if (env->re_rcpt[i] != NULL)
            add_header(&pb, "Rcpt", env->re_rcpt[i]);
    if (env->re_queue_id != NULL)
        add_header(&pb, "Queue-Id", env->re_queue_id);
    if (env->re_user != NULL)
        add_header(&pb, "User", env->re_user);
    if (env->re_mta_tag != NULL)
        add_header(&pb, "MTA-Tag", env->re_mta_tag);
    if (env->re_hostname != NULL && strcmp(env->re_hostname, "unknown") != 0)
        add_header(&pb, "Hostname", env->re_hostname);
    if (env->re_settings_id != NULL)
        add_header(&pb, "Settings-ID", env->re_settings_id);
    if (env->re_settings != NULL)
        add_header(&pb, "Settings", env->re_settings);
    pbuf_addf(&pb, "Content-Length: %llu\r\n\r\n",
              (unsigned long long)env->re_content_length);
    *out = pbuf_take(&pb, len);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Reply */

static const char *const action_names[] = {
    [RM_RSPAMD_NO_ACTION] = "no action",
    [RM_RSPAMD_GREYLIST] = "greylist",
    [RM_RSPAMD_ADD_HEADER] = "add header",
    [RM_RSPAMD_REWRITE_SUBJECT] = "rewrite subject",
    [RM_RSPAMD_SOFT_REJECT] = "soft reject",
    [RM_RSPAMD_REJECT] = "reject",
    [RM_RSPAMD_OTHER] = "other",
};

const char *
rspamd_action_name(enum rm_rspamd_action a)
{
    if ((size_t)a < sizeof(action_names) / sizeof(action_names[0]))
        return action_names[a];
    return "other";
}

enum rm_rspamd_action
rspamd_action_parse(const char *text)
{
    size_t i;

    for (i = 0; i < RM_RSPAMD_OTHER; i++)
        if (strcmp(text, action_names[i]) == 0)
            return (enum rm_rspamd_action)i;
    return RM_RSPAMD_OTHER;
}

/* oneline - a sanitized copy of a JSON string (NULL if not a string) */
static char *
oneline(const json_t *s, size_t max, unsigned flags)
{
    if (!json_is_string(s))
        return NULL;
    return hdr_text_oneline_dup(json_string_value(s), json_string_length(s),
                                max, flags);
}

/* number - a JSON number as a finite double; false if it is not one */
static bool
number(const json_t *n, double *out)
{
    if (!json_is_number(n))
        return false;
    *out = json_number_value(n);
    return isfinite(*out);
}

/* parse_symbol - one member of "symbols" (or of an old "default") */
static void
parse_symbol(struct rm_rspamd_reply *r, const char *key, const json_t *sym)
{
    struct rm_rspamd_symbol *s;
    const json_t *opts, *o;
    size_t i;

    if (!json_is_object(sym) || r->rr_nsymbols >= RM_RSPAMD_MAX_SYMBOLS) {
        r->rr_dropped++;
        return;
    }
    s = &r->rr_symbols[r->rr_nsymbols++];
    memset(s, 0, sizeof(*s));
    s->rs_name = oneline(json_object_get(sym, "name"), RM_RSPAMD_NAME_MAX,
                         RM_HDR_TEXT_UTF8);
    if (s->rs_name == NULL || *s->rs_name == '\0') {
        free(s->rs_name);
        s->rs_name = hdr_text_oneline_dup(key, strlen(key), RM_RSPAMD_NAME_MAX,
                                          RM_HDR_TEXT_UTF8);
    }
    if (!number(json_object_get(sym, "score"), &s->rs_score))
        s->rs_score = 0;
    opts = json_object_get(sym, "options");
    if (!json_is_array(opts))
        return;
    s->rs_options = xcalloc(json_array_size(opts) < RM_RSPAMD_MAX_OPTIONS
                                ? json_array_size(opts) + 1
                                : RM_RSPAMD_MAX_OPTIONS,
                            sizeof(char *));
    json_array_foreach(opts, i, o)
    {
        if (!json_is_string(o) || s->rs_noptions >= RM_RSPAMD_MAX_OPTIONS) {
            r->rr_dropped++;
            continue;
        }
        s->rs_options[s->rs_noptions++] =
            oneline(o, RM_RSPAMD_OPTION_MAX, RM_HDR_TEXT_UTF8);
    }
}

static void
parse_symbols(struct rm_rspamd_reply *r, const json_t *obj, bool only_objects)
{
    const char *key;
    json_t *v;
    size_t n = json_object_size(obj);

    if (n > RM_RSPAMD_MAX_SYMBOLS)
        n = RM_RSPAMD_MAX_SYMBOLS;
    r->rr_symbols = xcalloc(n + 1, sizeof(*r->rr_symbols));
    json_object_foreach((json_t *)obj, key, v)
    {
        if (only_objects && !json_is_object(v))
            continue; /* the old "default" object mixes in verdict keys */
        parse_symbol(r, key, v);
    }
}

/* add_one - one add_headers value: a string or {value, order} */
static void
add_one(struct rm_rspamd_reply *r, const char *name, size_t nlen,
        const json_t *v)
{
    struct rm_rspamd_hdr_add *h;
    const json_t *val = v, *order = NULL;
    json_int_t ord = -1;

    if (json_is_object(v)) {
        val = json_object_get(v, "value");
        order = json_object_get(v, "order");
    }
    if (!json_is_string(val) || r->rr_nadd >= RM_RSPAMD_MAX_HEADERS ||
        (order != NULL && !json_is_integer(order))) {
        r->rr_dropped++;
        return;
    }
    if (order != NULL) {
        ord = json_integer_value(order);
        if (ord < -1 || ord > INT_MAX)
            ord = -1;
    }
    h = &r->rr_add[r->rr_nadd++];
    h->ha_name = xstrndup(name, nlen);
    h->ha_value = hdr_value_sanitize(json_string_value(val),
                                     json_string_length(val), nlen, 0, 0);
    h->ha_order = (int)ord;
}

/* parse_milter - the "milter" (or old "rmilter") block */
static void
parse_milter(struct rm_rspamd_reply *r, const json_t *m)
{
    const json_t *add = json_object_get(m, "add_headers");
    const json_t *del = json_object_get(m, "remove_headers");
    const char *key;
    json_t *v, *e;
    size_t i, nlen;
    json_int_t idx;

    if (json_is_object(add)) {
        r->rr_add = xcalloc(RM_RSPAMD_MAX_HEADERS, sizeof(*r->rr_add));
        json_object_foreach((json_t *)add, key, v)
        {
            nlen = strlen(key);
            if (!hdr_name_valid(key, nlen)) {
                r->rr_dropped++;
                continue;
            }
            if (!json_is_array(v)) {
                add_one(r, key, nlen, v);
                continue;
            }
            json_array_foreach(v, i, e) add_one(r, key, nlen, e);
        }
    } else if (add != NULL) {
        r->rr_dropped++;
    }
    if (json_is_object(del)) {
        r->rr_del = xcalloc(RM_RSPAMD_MAX_HEADERS, sizeof(*r->rr_del));
        json_object_foreach((json_t *)del, key, v)
        {
            nlen = strlen(key);
            if (!hdr_name_valid(key, nlen) || !json_is_integer(v) ||
                r->rr_ndel >= RM_RSPAMD_MAX_HEADERS) {
                r->rr_dropped++;
                continue;
            }
            idx = json_integer_value(v);
            if (idx < INT_MIN || idx > INT_MAX) {
                r->rr_dropped++;
                continue;
            }
            r->rr_del[r->rr_ndel].hd_name = xstrndup(key, nlen);
            r->rr_del[r->rr_ndel].hd_index = (int)idx;
            r->rr_ndel++;
        }
    } else if (del != NULL) {
        r->rr_dropped++;
    }
}

/* dkim_one - one DKIM-Signature value: keep its folding */
static void
dkim_one(struct rm_rspamd_reply *r, const json_t *v)
{
    if (!json_is_string(v) || r->rr_ndkim >= RM_RSPAMD_MAX_DKIM) {
        r->rr_dropped++;
        return;
    }
    r->rr_dkim[r->rr_ndkim++] =
        hdr_value_sanitize(json_string_value(v), json_string_length(v),
                           strlen("DKIM-Signature"), 0, RM_HDR_KEEP_FOLDS);
}

static void
parse_dkim(struct rm_rspamd_reply *r, const json_t *d)
{
    const json_t *e;
    size_t i;

    if (d == NULL)
        return;
    r->rr_dkim = xcalloc(RM_RSPAMD_MAX_DKIM, sizeof(char *));
    if (!json_is_array(d)) {
        dkim_one(r, d);
        return;
    }
    json_array_foreach(d, i, e) dkim_one(r, e);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int
rspamd_reply_parse(const char *json, size_t len, struct rm_rspamd_reply *out,
                   char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *verdict, *action, *v;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (errlen > 0)
        err[0] = '\0';
    root = json_loadb(json, len, 0, &jerr);
    if (root == NULL) {
        set_err(err, errlen, "bad JSON: %s at line %d column %d", jerr.text,
                jerr.line, jerr.column);
        return -EBADMSG;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "not a JSON object");
        rc = -EPROTO;
        goto out;
    }
    /* rspamd >= 2: the verdict at top level; older: in "default". */
    verdict = root;
    action = json_object_get(root, "action");
    if (action == NULL && json_is_object(json_object_get(root, "default"))) {
        verdict = json_object_get(root, "default");
        action = json_object_get(verdict, "action");
    }
    if (action == NULL) {
        v = json_object_get(root, "error");
        if (json_is_string(v)) {
            out->rr_error = oneline(v, RM_RSPAMD_TEXT_MAX, 0);
            set_err(err, errlen, "rspamd error: %s", out->rr_error);
            rc = -EREMOTEIO;
            goto out;
        }
        set_err(err, errlen, "no action in the reply");
        rc = -EPROTO;
        goto out;
    }
    if (!json_is_string(action)) {
        set_err(err, errlen, "action is not a string");
        rc = -EPROTO;
        goto out;
    }
    out->rr_action = oneline(action, RM_RSPAMD_TEXT_MAX, RM_HDR_TEXT_UTF8);
    out->rr_action_id = rspamd_action_parse(json_string_value(action));
    v = json_object_get(verdict, "score");
    if (v != NULL && !number(v, &out->rr_score)) {
        set_err(err, errlen, "score is not a number");
        rc = -EPROTO;
        goto out;
    }
    v = json_object_get(verdict, "required_score");
    if (v != NULL && !number(v, &out->rr_required_score)) {
        set_err(err, errlen, "required_score is not a number");
        rc = -EPROTO;
        goto out;
    }
    out->rr_skipped = json_is_true(json_object_get(verdict, "is_skipped"));
    v = json_object_get(verdict, "subject");
    if (json_is_string(v))
        out->rr_subject =
            hdr_value_sanitize(json_string_value(v), json_string_length(v),
                               strlen("Subject"), 0, 0);
    v = json_object_get(root, "messages");
    if (json_is_object(v))
        out->rr_smtp_message =
            oneline(json_object_get(v, "smtp_message"), RM_RSPAMD_TEXT_MAX, 0);
    out->rr_message_id = oneline(json_object_get(root, "message-id"),
                                 RM_RSPAMD_TEXT_MAX, RM_HDR_TEXT_UTF8);
    if (verdict == root) {
        v = json_object_get(root, "symbols");
        if (json_is_object(v))
            parse_symbols(out, v, false);
        else if (v != NULL)
            out->rr_dropped++;
    } else {
        parse_symbols(out, verdict, true);
    }
    v = json_object_get(root, "milter");
    if (v == NULL)
        v = json_object_get(root, "rmilter");
    if (json_is_object(v))
        parse_milter(out, v);
    else if (v != NULL)
        out->rr_dropped++;
    parse_dkim(out, json_object_get(root, "dkim-signature"));
out:
    json_decref(root);
    if (rc < 0 && rc != -EREMOTEIO)
        rspamd_reply_free(out);
    return rc;
}

void
rspamd_reply_free(struct rm_rspamd_reply *r)
{
    size_t i, j;

    free(r->rr_action);
    free(r->rr_subject);
    free(r->rr_smtp_message);
    free(r->rr_message_id);
    free(r->rr_error);
    for (i = 0; i < r->rr_nsymbols; i++) {
        free(r->rr_symbols[i].rs_name);
        for (j = 0; j < r->rr_symbols[i].rs_noptions; j++)
            free(r->rr_symbols[i].rs_options[j]);
        free(r->rr_symbols[i].rs_options);
    }
    free(r->rr_symbols);
    for (i = 0; i < r->rr_nadd; i++) {
        free(r->rr_add[i].ha_name);
        free(r->rr_add[i].ha_value);
    }
    free(r->rr_add);
    for (i = 0; i < r->rr_ndel; i++)
        free(r->rr_del[i].hd_name);
    free(r->rr_del);
    for (i = 0; i < r->rr_ndkim; i++)
        free(r->rr_dkim[i]);
    free(r->rr_dkim);
    memset(r, 0, sizeof(*r));
}
