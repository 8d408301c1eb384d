/*
 * NAME
 *   bencode - bencoding encoder and validating decoder (see bencode.h)
 *
 * DESCRIPTION
 *   The decoder is a recursive descent over buf[0..len) with an explicit
 *   depth bound (RM_BENCODE_MAX_DEPTH) and a node budget
 *   (RM_BENCODE_MAX_ITEMS), so neither the stack nor the heap it uses
 *   grows with hostile input beyond a fixed bound. Every length is checked
 *   against the bytes that remain before anything is copied. Duplicate
 *   dictionary keys are found after a dictionary is complete by sorting an
 *   index of its keys (O(n log n), whatever order the peer used).
 *
 *   The encoder sorts each dictionary's keys on the way out (memcmp order,
 *   shorter first on a tie), so callers may set keys in any order.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Trees are plain heap objects owned by their root; see bencode.h. No
 *   global state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "proto/bencode.h"

/* ------------------------------------------------------------------------ */
/* building                                                                 */
/* ------------------------------------------------------------------------ */

static struct rm_bencode *
node_new(enum rm_bencode_type t)
{
    struct rm_bencode *b = xcalloc(1, sizeof(*b));

    b->type = t;
    return b;
}

struct rm_bencode *
bencode_int(int64_t v)
{
    struct rm_bencode *b = node_new(RM_BENCODE_INT);

    b->i = v;
    return b;
}

struct rm_bencode *
bencode_str(const void *s, size_t len)
{
    struct rm_bencode *b = node_new(RM_BENCODE_STR);

    b->s = xmalloc(len + 1);
    if (len > 0)
        memcpy(b->s, s, len);
    b->s[len] = '\0';
    b->len = len;
    return b;
}

struct rm_bencode *
bencode_strz(const char *s)
{
    return bencode_str(s, strlen(s));
}

struct rm_bencode *
bencode_list(void)
{
    return node_new(RM_BENCODE_LIST);
}

struct rm_bencode *
bencode_dict(void)
{
    return node_new(RM_BENCODE_DICT);
}

void
bencode_list_add(struct rm_bencode *list, struct rm_bencode *item)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 4;
        list->items = xrealloc(list->items, list->cap * sizeof(*list->items));
    }
    list->items[list->n++] = item;
}

/* dict_put - append an entry (key bytes copied), no duplicate check */
static void
dict_put(struct rm_bencode *dict, const char *key, size_t klen,
         struct rm_bencode *val)
{
    struct rm_bencode_kv *e;

    if (dict->n == dict->cap) {
        dict->cap = dict->cap ? 2 * dict->cap : 4;
        dict->kv = xrealloc(dict->kv, dict->cap * sizeof(*dict->kv));
    }
    e = &dict->kv[dict->n++];
    e->key = xmalloc(klen + 1);
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->klen = klen;
    e->val = val;
}

void
bencode_dict_set(struct rm_bencode *dict, const char *key,
                 struct rm_bencode *val)
{
    size_t i, klen = strlen(key);

    for (i = 0; i < dict->n; i++) {
        if (dict->kv[i].klen == klen &&
            memcmp(dict->kv[i].key, key, klen) == 0) {
            bencode_free(dict->kv[i].val);
            dict->kv[i].val = val;
            return;
        }
    }
    dict_put(dict, key, klen, val);
}

void
bencode_free(struct rm_bencode *b)
{
    size_t i;

    if (b == NULL)
        return;
    switch (b->type) {
    case RM_BENCODE_LIST:
        for (i = 0; i < b->n; i++)
            bencode_free(b->items[i]);
        break;
    case RM_BENCODE_DICT:
        for (i = 0; i < b->n; i++) {
            free(b->kv[i].key);
            bencode_free(b->kv[i].val);
        }
        break;
    default:
        break;
    }
    free(b->items);
    free(b->kv);
    free(b->s);
    free(b);
}

/* ------------------------------------------------------------------------ */
/* encoding                                                                 */
/* ------------------------------------------------------------------------ */

static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int
kvp_cmp(const void *pa, const void *pb)
{
    const struct rm_bencode_kv *a = *(const struct rm_bencode_kv *const *)pa;
    const struct rm_bencode_kv *b = *(const struct rm_bencode_kv *const *)pb;

    return key_cmp(a->key, a->klen, b->key, b->klen);
}

/* sorted_index - pointers to the entries of dict in key order (free it) */
static const struct rm_bencode_kv **
sorted_index(const struct rm_bencode *dict)
{
    const struct rm_bencode_kv **idx;
    size_t i;

    idx = xmalloc((dict->n ? dict->n : 1) * sizeof(*idx));
    for (i = 0; i < dict->n; i++)
        idx[i] = &dict->kv[i];
    if (dict->n > 1)
        qsort(idx, dict->n, sizeof(*idx), kvp_cmp);
    return idx;
}

static void
enc_bytes(struct pbuf *out, const char *s, size_t len)
{
    pbuf_addf(out, "%zu:", len);
    pbuf_add(out, s, len);
}

void
bencode_encode(const struct rm_bencode *b, struct pbuf *out)
{
    const struct rm_bencode_kv **idx;
    size_t i;

    switch (b->type) {
    case RM_BENCODE_INT:
        pbuf_addf(out, "i%" PRId64 "e", b->i);
        break;
    case RM_BENCODE_STR:
        enc_bytes(out, b->s, b->len);
        break;
    case RM_BENCODE_LIST:
        pbuf_addc(out, 'l');
        for (i = 0; i < b->n; i++)
            bencode_encode(b->items[i], out);
        pbuf_addc(out, 'e');
        break;
    case RM_BENCODE_DICT:
        idx = sorted_index(b);
        pbuf_addc(out, 'd');
        for (i = 0; i < b->n; i++) {
            enc_bytes(out, idx[i]->key, idx[i]->klen);
            bencode_encode(idx[i]->val, out);
        }
        pbuf_addc(out, 'e');
        free(idx);
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* decoding                                                                 */
/* ------------------------------------------------------------------------ */

struct dec {
    const unsigned char *p;
    size_t len;
    size_t pos;
    size_t nodes;
    char *err;
    size_t errlen;
};

static int dec_fail(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
dec_fail(struct dec *d, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (d->err != NULL && d->errlen > 0) {
        n = snprintf(d->err, d->errlen, "offset %zu: ", d->pos);
        if (n >= 0 && (size_t)n < d->errlen) {
            va_start(ap, fmt);
            vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* dec_uint - digits up to the terminator term: no leading zero, at most
 * max; d->pos ends on the terminator */
static int
dec_uint(struct dec *d, char term, uint64_t max, uint64_t *out)
{
    size_t start = d->pos;
    uint64_t v = 0;
    unsigned dig;

    while (d->pos < d->len && is_digit(d->p[d->pos])) {
        dig = (unsigned)(d->p[d->pos] - '0');
        if (v > (max - dig) / 10)
            return dec_fail(d, "number out of range");
        v = v * 10 + dig;
        d->pos++;
    }
    if (d->pos == start) {
        if (d->pos >= d->len)
            return dec_fail(d, "truncated: expected a digit");
        return dec_fail(d, "expected a digit, found 0x%02x", d->p[d->pos]);
    }
    if (d->p[start] == '0' && d->pos - start > 1) {
        d->pos = start;
        return dec_fail(d, "leading zero");
    }
    if (d->pos >= d->len)
        return dec_fail(d, "truncated: expected '%c'", term);
    if (d->p[d->pos] != (unsigned char)term)
        return dec_fail(d, "expected '%c', found 0x%02x", term, d->p[d->pos]);
    *out = v;
    return 0;
}

/* dec_strbytes - "<len>:<bytes>" at d->pos; *s points into the input */
static int
dec_strbytes(struct dec *d, const char **s, size_t *len)
{
    uint64_t n;
    int rc;

    rc = dec_uint(d, ':', SIZE_MAX, &n);
    if (rc < 0)
        return rc;
    d->pos++; /* ':' */
    if (n > d->len - d->pos)
        return dec_fail(d, "truncated: string of %" PRIu64 " bytes, %zu left",
                        n, d->len - d->pos);
    *s = (const char *)d->p + d->pos;
    *len = (size_t)n;
    d->pos += (size_t)n;
    return 0;
}

static int
dec_int(struct dec *d, int64_t *out)
{
    bool neg = false;
    uint64_t v;
    int rc;

    d->pos++; /* 'i' */
    if (d->pos < d->len && d->p[d->pos] == '-') {
        neg = true;
        d->pos++;
    }
    rc = dec_uint(d, 'e', neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
                  &v);
    if (rc < 0)
        return rc;
    if (neg && v == 0)
        return dec_fail(d, "negative zero");
    d->pos++; /* 'e' */
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* check_dups - -EINVAL if two keys of dict are equal */
static int
check_dups(struct dec *d, const struct rm_bencode *dict)
{
    const struct rm_bencode_kv **idx;
    size_t i;
    int rc = 0;

    if (dict->n < 2)
        return 0;
    idx = sorted_index(dict);
    for (i = 1; i < dict->n; i++) {
        if (key_cmp(idx[i - 1]->key, idx[i - 1]->klen, idx[i]->key,
                    idx[i]->klen) == 0) {
            rc = dec_fail(d, "duplicate dictionary key");
            break;
        }
    }
    free(idx);
    return rc;
}

static int dec_value(struct dec *d, unsigned depth, struct rm_bencode **out);

static int
dec_list(struct dec *d, unsigned depth, struct rm_bencode *list)
{
    struct rm_bencode *item;
    int rc;

    d->pos++; /* 'l' */
    for (;;) {
        if (d->pos >= d->len)
            return dec_fail(d, "truncated: unterminated list");
        if (d->p[d->pos] == 'e') {
            d->pos++;
            return 0;
        }
        rc = dec_value(d, depth + 1, &item);
        if (rc < 0)
            return rc;
        bencode_list_add(list, item);
    }
}

static int
dec_dict(struct dec *d, unsigned depth, struct rm_bencode *dict)
{
    struct rm_bencode *val;
    const char *key = NULL;
    size_t klen = 0;
    int rc;

    d->pos++; /* 'd' */
    for (;;) {
        if (d->pos >= d->len)
            return dec_fail(d, "truncated: unterminated dictionary");
        if (d->p[d->pos] == 'e') {
            d->pos++;
            return check_dups(d, dict);
        }
        if (!is_digit(d->p[d->pos]))
            return dec_fail(d, "dictionary key is not a string");
        rc = dec_strbytes(d, &key, &klen);
        if (rc < 0)
            return rc;
        if (d->pos >= d->len)
            return dec_fail(d, "truncated: key without a value");
        rc = dec_value(d, depth + 1, &val);
        if (rc < 0)
            return rc;
        dict_put(dict, key, klen, val);
    }
}

static int
dec_value(struct dec *d, unsigned depth, struct rm_bencode **out)
{
    struct rm_bencode *b = NULL;
    const char *s = NULL;
    size_t len = 0;
    int64_t v = 0;
    int rc;

    *out = NULL;
    if (depth > RM_BENCODE_MAX_DEPTH)
        return dec_fail(d, "nested deeper than %d", RM_BENCODE_MAX_DEPTH);
    if (++d->nodes > RM_BENCODE_MAX_ITEMS)
        return dec_fail(d, "more than %d values", RM_BENCODE_MAX_ITEMS);
    if (d->pos >= d->len)
        return dec_fail(d, "truncated: expected a value");
    switch (d->p[d->pos]) {
    case 'i':
        rc = dec_int(d, &v);
        if (rc == 0)
            b = bencode_int(v);
        break;
    case 'l':
        b = bencode_list();
        rc = dec_list(d, depth, b);
        break;
    case 'd':
        b = bencode_dict();
        rc = dec_dict(d, depth, b);
        break;
    default:
        if (!is_digit(d->p[d->pos]))
            return dec_fail(d, "unexpected byte 0x%02x", d->p[d->pos]);
        rc = dec_strbytes(d, &s, &len);
        if (rc == 0)
            b = bencode_str(s, len);
        break;
    }
    if (rc < 0) {
        bencode_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int
bencode_decode_prefix(const void *buf, size_t len, struct rm_bencode **out,
                      size_t *used, char *err, size_t errlen)
{
    struct dec d = {.p = buf,
                    .len = len,
                    .pos = 0,
                    .nodes = 0,
                    .err = err,
                    .errlen = errlen};
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    rc = dec_value(&d, 0, out);
    if (rc < 0)
        return rc;
    if (used != NULL)
        *used = d.pos;
    return 0;
}

int
bencode_decode(const void *buf, size_t len, struct rm_bencode **out, char *err,
               size_t errlen)
{
    struct dec d = {.p = buf,
                    .len = len,
                    .pos = 0,
                    .nodes = 0,
                    .err = err,
                    .errlen = errlen};
    size_t used;
    int rc;

    rc = bencode_decode_prefix(buf, len, out, &used, err, errlen);
    if (rc < 0)
        return rc;
    if (used != len) {
        d.pos = used;
        bencode_free(*out);
        *out = NULL;
        return dec_fail(&d, "%zu bytes after the value", len - used);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* reading                                                                  */
/* ------------------------------------------------------------------------ */

const struct rm_bencode *
bencode_dict_get(const struct rm_bencode *dict, const char *key)
{
    size_t i, klen;

    if (dict == NULL || dict->type != RM_BENCODE_DICT)
        return NULL;
    klen = strlen(key);
    for (i = 0; i < dict->n; i++)
        if (dict->kv[i].klen == klen && memcmp(dict->kv[i].key, key, klen) == 0)
            return dict->kv[i].val;
    return NULL;
}

const struct rm_bencode *
bencode_dict_get2(const struct rm_bencode *dict, const char *shortkey,
                  const char *longkey)
{
    const struct rm_bencode *v = bencode_dict_get(dict, shortkey);

    return v != NULL ? v : bencode_dict_get(dict, longkey);
}

int
bencode_get_int(const struct rm_bencode *b, int64_t *out)
{
    struct dec d = {0};
    uint64_t v;
    bool neg = false;

    if (b == NULL)
        return -EINVAL;
    if (b->type == RM_BENCODE_INT) {
        *out = b->i;
        return 0;
    }
    if (b->type != RM_BENCODE_STR || b->len == 0)
        return -EINVAL;
    /* the integer rules of the wire format, on the string's bytes plus an
     * implied terminator */
    d.p = (const unsigned char *)b->s;
    d.len = b->len + 1; /* the NUL after the bytes stands for 'e' */
    if (d.p[0] == '-') {
        neg = true;
        d.pos = 1;
    }
    if (dec_uint(&d, '\0', neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
                 &v) < 0 ||
        d.pos != b->len || (neg && v == 0))
        return -EINVAL;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

const char *
bencode_get_str(const struct rm_bencode *b, char *tmp, size_t *len)
{
    int n;

    if (b == NULL)
        return NULL;
    if (b->type == RM_BENCODE_STR) {
        if (len != NULL)
            *len = b->len;
        return b->s;
    }
    if (b->type != RM_BENCODE_INT)
        return NULL;
    n = snprintf(tmp, RM_BENCODE_INTBUF, "%" PRId64, b->i);
    if (len != NULL)
        *len = n > 0 ? (size_t)n : 0;
    return tmp;
}

const char *
bencode_type_name(enum rm_bencode_type t)
{
    switch (t) {
    case RM_BENCODE_INT:
        return "integer";
    case RM_BENCODE_STR:
        return "string";
    case RM_BENCODE_LIST:
        return "list";
    default:
        return "dictionary";
    }
}
