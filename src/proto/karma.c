/*
 * NAME
 *   karma - Karmasphere BQuery query building and reply parsing
 *   (see karma.h)
 *
 * DESCRIPTION
 *   Queries are built as a bencode tree and encoded once, so the key
 *   order on the wire is bencode's (sorted) whatever the order of the
 *   calls. Strings from the SMTP session (HELO, senders) go into the query
 *   as they are: bencode carries any bytes, and the server only compares
 *   them.
 *
 *   Replies are read defensively: any field may be missing, a value may
 *   be an integer or a string, unknown keys are ignored, and a field of a
 *   type that makes no sense (c a list, v a dictionary) rejects the whole
 *   reply so that the caller can count it as a bad answer from that
 *   server rather than guess.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Query and reply structs own every string they hold (xmalloc); the
 *   caller owns the structs. No global state.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/iplist.h"
#include "lib/xmalloc.h"
#include "proto/bencode.h"
#include "proto/karma.h"

static const char *const idtype_names[] = {"ip4", "ip6", "domain", "email",
                                           "url"};

const char *
karma_idtype_name(enum rm_karma_idtype t)
{
    if ((unsigned)t < sizeof(idtype_names) / sizeof(idtype_names[0]))
        return idtype_names[t];
    return "domain";
}

int
karma_idtype_parse(const char *s, enum rm_karma_idtype *out)
{
    size_t i;

    for (i = 0; i < sizeof(idtype_names) / sizeof(idtype_names[0]); i++) {
        if (strcasecmp(s, idtype_names[i]) == 0) {
            *out = (enum rm_karma_idtype)i;
            return 0;
        }
    }
    if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0') {
        *out = (enum rm_karma_idtype)(s[0] - '0');
        return 0;
    }
    return -EINVAL;
}

enum rm_karma_idtype
karma_idtype_guess(const char *data)
{
    struct rm_ipaddr a;

    if (ipaddr_parse(data, &a) == 0)
        return a.family == AF_INET ? RM_KARMA_IP4 : RM_KARMA_IP6;
    if (strncasecmp(data, "http://", 7) == 0 ||
        strncasecmp(data, "https://", 8) == 0)
        return RM_KARMA_URL;
    if (strchr(data, '@') != NULL)
        return RM_KARMA_EMAIL;
    return RM_KARMA_DOMAIN;
}

/* ------------------------------------------------------------------------ */
/* queries                                                                  */
/* ------------------------------------------------------------------------ */

void
karma_query_init(struct rm_karma_query *q, const char *id)
{
    memset(q, 0, sizeof(*q));
    q->id = xstrdup(id);
}

static void
strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
strv_add(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xstrdup(s);
}

void
karma_query_free(struct rm_karma_query *q)
{
    size_t i, j;

    free(q->id);
    free(q->login);
    free(q->credential);
    for (i = 0; i < q->n_ids; i++) {
        free(q->ids[i].data);
        for (j = 0; j < q->ids[i].n_tags; j++)
            free(q->ids[i].tags[j]);
    }
    free(q->ids);
    strv_free(q->feedsets, q->n_feedsets);
    strv_free(q->feeds, q->n_feeds);
    strv_free(q->combiners, q->n_combiners);
    memset(q, 0, sizeof(*q));
}

void
karma_query_set_auth(struct rm_karma_query *q, const char *login,
                     const char *credential)
{
    free(q->login);
    free(q->credential);
    q->login = login ? xstrdup(login) : NULL;
    q->credential = login && credential ? xstrdup(credential) : NULL;
}

void
karma_query_add_feedset(struct rm_karma_query *q, const char *name)
{
    strv_add(&q->feedsets, &q->n_feedsets, name);
}

void
karma_query_add_feed(struct rm_karma_query *q, const char *name)
{
    strv_add(&q->feeds, &q->n_feeds, name);
}

void
karma_query_add_combiner(struct rm_karma_query *q, const char *name)
{
    strv_add(&q->combiners, &q->n_combiners, name);
}

static void
id_add_tag(struct rm_karma_identity *id, const char *tag)
{
    size_t i;

    if (tag == NULL || id->n_tags >= RM_KARMA_MAX_TAGS)
        return;
    for (i = 0; i < id->n_tags; i++)
        if (strcmp(id->tags[i], tag) == 0)
            return;
    id->tags[id->n_tags++] = xstrdup(tag);
}

void
karma_query_add_identity(struct rm_karma_query *q, const char *data,
                         enum rm_karma_idtype type, const char *tag)
{
    struct rm_karma_identity *id;
    size_t i;

    for (i = 0; i < q->n_ids; i++) {
        if (q->ids[i].type == type && strcmp(q->ids[i].data, data) == 0) {
            id_add_tag(&q->ids[i], tag);
            return;
        }
    }
    q->ids = xrealloc(q->ids, (q->n_ids + 1) * sizeof(*q->ids));
    id = &q->ids[q->n_ids++];
    memset(id, 0, sizeof(*id));
    id->data = xstrdup(data);
    id->type = type;
    id_add_tag(id, tag);
}

static struct rm_bencode *
strv_list(char *const *v, size_t n)
{
    struct rm_bencode *l = bencode_list();
    size_t i;

    for (i = 0; i < n; i++)
        bencode_list_add(l, bencode_strz(v[i]));
    return l;
}

void
karma_query_encode(const struct rm_karma_query *q, struct pbuf *out)
{
    struct rm_bencode *d = bencode_dict(), *ids, *one, *auth;
    size_t i, j;

    bencode_dict_set(d, "_", bencode_strz(q->id));
    if (q->login != NULL) {
        auth = bencode_list();
        bencode_list_add(auth, bencode_strz(q->login));
        bencode_list_add(auth,
                         bencode_strz(q->credential ? q->credential : ""));
        bencode_dict_set(d, "a", auth);
    }
    if (q->flags != 0)
        bencode_dict_set(d, "fl", bencode_int(q->flags));
    ids = bencode_list();
    for (i = 0; i < q->n_ids; i++) {
        one = bencode_list();
        bencode_list_add(one, bencode_strz(q->ids[i].data));
        bencode_list_add(one, bencode_strz(karma_idtype_name(q->ids[i].type)));
        for (j = 0; j < q->ids[i].n_tags; j++)
            bencode_list_add(one, bencode_strz(q->ids[i].tags[j]));
        bencode_list_add(ids, one);
    }
    bencode_dict_set(d, "i", ids);
    if (q->n_feedsets > 0)
        bencode_dict_set(d, "s", strv_list(q->feedsets, q->n_feedsets));
    if (q->n_feeds > 0)
        bencode_dict_set(d, "f", strv_list(q->feeds, q->n_feeds));
    if (q->n_combiners > 0)
        bencode_dict_set(d, "c", strv_list(q->combiners, q->n_combiners));
    bencode_encode(d, out);
    bencode_free(d);
}

/* ------------------------------------------------------------------------ */
/* identities of an SMTP transaction                                        */
/* ------------------------------------------------------------------------ */

/* address_literal - "[...]" or a bare IPv4/IPv6 address */
static bool
address_literal(const char *s)
{
    struct rm_ipaddr a;

    return s[0] == '[' || ipaddr_parse(s, &a) == 0;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void
karma_smtp_identities(struct rm_karma_query *q, const char *client_ip,
                      const char *helo, const char *mail_from,
                      const char *header_from)
{
    struct rm_ipaddr a;
    char buf[64];

    if (client_ip != NULL && *client_ip != '\0' &&
        ipaddr_parse(client_ip, &a) == 0) {
        if (a.family == AF_INET6 && memcmp(a.a, v4mapped, 12) == 0) {
            memmove(a.a, a.a + 12, 4);
            a.family = AF_INET;
        }
        /* canonical text: "::ffff:192.0.2.1" clients become 192.0.2.1 */
        ipaddr_format(&a, buf, sizeof(buf));
        karma_query_add_identity(
            q, buf, a.family == AF_INET ? RM_KARMA_IP4 : RM_KARMA_IP6,
            RM_KARMA_TAG_CLIENT_IP);
    }
    if (helo != NULL && *helo != '\0' && !address_literal(helo))
        karma_query_add_identity(q, helo, RM_KARMA_DOMAIN, RM_KARMA_TAG_HELO);
    if (mail_from != NULL && strchr(mail_from, '@') != NULL)
        karma_query_add_identity(q, mail_from, RM_KARMA_EMAIL,
                                 RM_KARMA_TAG_MAIL_FROM);
    if (header_from != NULL && strchr(header_from, '@') != NULL)
        karma_query_add_identity(q, header_from, RM_KARMA_EMAIL,
                                 RM_KARMA_TAG_HEADER_FROM);
}

/* strip_comments - copy s without (comments) (nested, with \ quoting) and
 * without "quoted strings" outside <>; at most size - 1 bytes */
static void
strip_comments(const char *s, char *out, size_t size)
{
    size_t o = 0;
    int depth = 0;
    bool quoted = false;

    for (; *s != '\0' && o + 1 < size; s++) {
        if (*s == '\\' && s[1] != '\0' && (depth > 0 || quoted)) {
            s++;
            continue;
        }
        if (quoted) {
            if (*s == '"')
                quoted = false;
            continue;
        }
        if (*s == '(') {
            depth++;
            continue;
        }
        if (*s == ')' && depth > 0) {
            depth--;
            out[o++] = ' ';
            continue;
        }
        if (depth > 0)
            continue;
        if (*s == '"') {
            quoted = true;
            out[o++] = ' ';
            continue;
        }
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* what separates the words of an address list */
#define ADDR_SEP " \t\r\n,;"

int
karma_header_from_address(const char *value, char *out, size_t size)
{
    char *buf, *b, *e = NULL, *at, *p;
    size_t len, bufsize = strlen(value) + 1;
    int rc = -EINVAL;

    buf = xmalloc(bufsize);
    strip_comments(value, buf, bufsize);
    b = strrchr(buf, '<');
    if (b != NULL && (e = strchr(b, '>')) != NULL) {
        b++;
    } else {
        /* the first blank-separated word with an '@' */
        for (b = buf; *b != '\0'; b = e) {
            while (*b != '\0' && strchr(ADDR_SEP, *b) != NULL)
                b++;
            e = b;
            while (*e != '\0' && strchr(ADDR_SEP, *e) == NULL)
                e++;
            if (memchr(b, '@', (size_t)(e - b)) != NULL)
                break;
        }
        if (*b == '\0')
            goto out;
    }
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    len = (size_t)(e - b);
    if (len == 0 || len >= size)
        goto out;
    memcpy(out, b, len);
    out[len] = '\0';
    at = strrchr(out, '@');
    if (at == NULL || at == out || at[1] == '\0')
        goto out;
    for (p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
            goto out;
    for (p = at + 1; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    rc = 0;
out:
    free(buf);
    if (rc < 0 && size > 0)
        out[0] = '\0';
    return rc;
}

/* ------------------------------------------------------------------------ */
/* replies                                                                  */
/* ------------------------------------------------------------------------ */

int
karma_clamp(int64_t v)
{
    if (v < RM_KARMA_MIN)
        return RM_KARMA_MIN;
    if (v > RM_KARMA_MAX)
        return RM_KARMA_MAX;
    return (int)v;
}

static int
reply_fail(char *err, size_t errlen, const char *what)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", what);
    return -EINVAL;
}

/* text_dup - a string or integer node as a new string; "" when absent;
 * NULL when of another type */
static char *
text_dup(const struct rm_bencode *b)
{
    char tmp[RM_BENCODE_INTBUF];
    const char *s;
    size_t len;

    if (b == NULL)
        return xstrdup("");
    s = bencode_get_str(b, tmp, &len);
    return s ? xstrndup(s, len) : NULL;
}

/* value_of - v of a combiner or fact entry: absent is 0 */
static int
value_of(const struct rm_bencode *e, int64_t *v)
{
    const struct rm_bencode *b = bencode_dict_get2(e, "v", "value");

    *v = 0;
    return b == NULL ? 0 : bencode_get_int(b, v);
}

static int
parse_verdict(const struct rm_bencode *c, const char *feedset,
              struct rm_karma_reply *r, char *err, size_t errlen)
{
    const struct rm_bencode *e = NULL;
    const char *name = NULL;
    size_t i, first = 0;

    if (c->type != RM_BENCODE_DICT)
        return reply_fail(err, errlen, "combiners (c) is not a dictionary");
    for (i = 0; i < c->n; i++)
        if (c->kv[i].val->type != RM_BENCODE_DICT)
            return reply_fail(err, errlen, "a combiner is not a dictionary");
    if (c->n == 0)
        return 0;
    if (feedset != NULL && (e = bencode_dict_get(c, feedset)) != NULL)
        name = feedset;
    else if ((e = bencode_dict_get(c, "default")) != NULL)
        name = "default";
    else {
        /* the first in key order: the order on the wire of a sorted
         * dictionary, and stable whatever order the peer used */
        for (i = 1; i < c->n; i++)
            if (strcmp(c->kv[i].key, c->kv[first].key) < 0)
                first = i;
        e = c->kv[first].val;
        name = c->kv[first].key;
    }
    if (value_of(e, &r->value) < 0)
        return reply_fail(err, errlen, "a verdict value (v) is not a number");
    r->data = text_dup(bencode_dict_get2(e, "d", "data"));
    if (r->data == NULL)
        return reply_fail(err, errlen, "a verdict's data (d) is not text");
    r->combiner = xstrdup(name);
    r->has_verdict = true;
    return 0;
}

static int
parse_facts(const struct rm_bencode *f, struct rm_karma_reply *r, char *err,
            size_t errlen)
{
    struct rm_karma_fact *x;
    const struct rm_bencode *e;
    size_t i;

    if (f->type != RM_BENCODE_LIST)
        return reply_fail(err, errlen, "facts (f) is not a list");
    r->facts = xcalloc(f->n ? f->n : 1, sizeof(*r->facts));
    for (i = 0; i < f->n; i++) {
        e = f->items[i];
        if (e->type != RM_BENCODE_DICT)
            return reply_fail(err, errlen, "a fact is not a dictionary");
        x = &r->facts[r->n_facts++];
        x->feed = text_dup(bencode_dict_get2(e, "f", "feed"));
        x->identity = text_dup(bencode_dict_get2(e, "i", "identity"));
        x->data = text_dup(bencode_dict_get2(e, "d", "data"));
        if (x->feed == NULL || x->identity == NULL || x->data == NULL)
            return reply_fail(err, errlen, "a fact field is not text");
        if (value_of(e, &x->value) < 0)
            return reply_fail(err, errlen, "a fact value (v) is not a number");
    }
    return 0;
}

int
karma_reply_parse(const void *buf, size_t len, const char *feedset,
                  struct rm_karma_reply *r, char *err, size_t errlen)
{
    const struct rm_bencode *b;
    struct rm_bencode *top = NULL;
    int64_t v;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = bencode_decode(buf, len, &top, err, errlen);
    if (rc < 0)
        goto out;
    rc = -EINVAL;
    if (top->type != RM_BENCODE_DICT) {
        reply_fail(err, errlen, "the reply is not a dictionary");
        goto out;
    }
    b = bencode_dict_get(top, "_");
    r->has_id = b != NULL;
    r->id = text_dup(b);
    if (r->id == NULL) {
        reply_fail(err, errlen, "the id (_) is not text");
        goto out;
    }
    if ((b = bencode_dict_get(top, "error")) != NULL) {
        if (bencode_get_int(b, &v) == 0)
            r->error = v != 0;
        else
            r->error = true; /* a non-numeric error value is still one */
    }
    if ((b = bencode_dict_get(top, "message")) != NULL) {
        r->message = text_dup(b);
        if (r->message == NULL) {
            reply_fail(err, errlen, "message is not text");
            goto out;
        }
    }
    if ((b = bencode_dict_get2(top, "t", "time")) != NULL &&
        bencode_get_int(b, &v) == 0) {
        r->has_time = true;
        r->time_ms = v;
    }
    if (r->error) {
        rc = 0;
        goto out;
    }
    if ((b = bencode_dict_get2(top, "c", "combiners")) != NULL &&
        parse_verdict(b, feedset, r, err, errlen) < 0)
        goto out;
    if ((b = bencode_dict_get2(top, "f", "facts")) != NULL &&
        parse_facts(b, r, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    bencode_free(top);
    if (rc < 0)
        karma_reply_free(r);
    return rc;
}

void
karma_reply_free(struct rm_karma_reply *r)
{
    size_t i;

    free(r->id);
    free(r->message);
    free(r->combiner);
    free(r->data);
    for (i = 0; i < r->n_facts; i++) {
        free(r->facts[i].feed);
        free(r->facts[i].identity);
        free(r->facts[i].data);
    }
    free(r->facts);
    memset(r, 0, sizeof(*r));
}
