/*
 * NAME
 *   bencode - the BitTorrent encoding used by Karmasphere's BQuery protocol
 *
 * SYNOPSIS
 *   struct rm_bencode *d = bencode_dict();
 *   bencode_dict_set(d, "_", bencode_strz("mkc0"));
 *   bencode_dict_set(d, "fl", bencode_int(1));
 *   struct pbuf pb = {0};
 *   bencode_encode(d, &pb);                  "d1:_4:mkc02:fli1ee"
 *   bencode_free(d);
 *
 *   struct rm_bencode *v;
 *   char err[128];
 *   if (bencode_decode(buf, len, &v, err, sizeof(err)) < 0) { ... }
 *
 * DESCRIPTION
 *   Four types: integers "i<decimal>e", byte strings "<length>:<bytes>",
 *   lists "l<items>e" and dictionaries "d<key><value>...e" whose keys are
 *   byte strings. A value is a tree of struct rm_bencode nodes; a parent
 *   owns its children.
 *
 *   Encoding writes dictionary keys sorted by their raw bytes (a shorter
 *   key before a longer one it is a prefix of), as the protocol requires,
 *   whatever order they were set in.
 *
 *   Decoding is strict where the format is exact and lenient where peers
 *   differ (research/karmasphere.md sections 3 and 8). It rejects, with a
 *   reason naming the byte offset:
 *     - truncated input, bytes after the top-level value, an unknown type
 *       byte;
 *     - integers with no digits, a leading zero ("i03e"), a negative zero
 *       ("i-0e"), or outside int64_t;
 *     - string lengths with a leading zero ("03:abc"), a sign, or longer
 *       than the rest of the input;
 *     - dictionary keys that are not strings, duplicate keys;
 *     - nesting deeper than RM_BENCODE_MAX_DEPTH, more than
 *       RM_BENCODE_MAX_ITEMS nodes in one value.
 *   It accepts dictionary keys in any order (a peer that does not sort is
 *   still understood; lookups do not depend on the order). Decoding never
 *   reads past len and allocates at most a small multiple of len.
 *
 *   Coercion: the Perl client encoded every all-digit scalar as an
 *   integer and negative numbers as strings, so where a field may come
 *   either way bencode_get_int and bencode_get_str convert.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Nodes are allocated with xmalloc (never NULL) and freed with
 *   bencode_free, which frees the children too. The *_add / *_set calls
 *   take ownership of the child. No global state; a tree belongs to one
 *   thread at a time.
 */
#ifndef RM_PROTO_BENCODE_H
#define RM_PROTO_BENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/pbuf.h"

/* Deepest nesting the decoder follows (the protocol uses 4 levels). */
#define RM_BENCODE_MAX_DEPTH 32
/* Most nodes one decoded value may hold. */
#define RM_BENCODE_MAX_ITEMS 65536

enum rm_bencode_type {
    RM_BENCODE_INT,
    RM_BENCODE_STR,
    RM_BENCODE_LIST,
    RM_BENCODE_DICT,
};

struct rm_bencode;

/* One dictionary entry: the key (bytes, NUL-terminated after klen) and
 * the value. */
struct rm_bencode_kv {
    char *key;
    size_t klen;
    struct rm_bencode *val;
};

struct rm_bencode {
    enum rm_bencode_type type;
    int64_t i; /* RM_BENCODE_INT */
    char *s;   /* RM_BENCODE_STR: the bytes, NUL-terminated after len */
    size_t len;
    struct rm_bencode **items; /* RM_BENCODE_LIST, in order */
    struct rm_bencode_kv *kv;  /* RM_BENCODE_DICT, in insertion order */
    size_t n;                  /* items or entries */
    size_t cap;
};

/* --- building ------------------------------------------------------- */

struct rm_bencode *bencode_int(int64_t v);
/* bencode_str - a byte string (copied; may hold NULs) */
struct rm_bencode *bencode_str(const void *s, size_t len);
/* bencode_strz - a byte string from a NUL-terminated string */
struct rm_bencode *bencode_strz(const char *s);
struct rm_bencode *bencode_list(void);
struct rm_bencode *bencode_dict(void);

/* bencode_list_add - append item to list (takes item) */
void bencode_list_add(struct rm_bencode *list, struct rm_bencode *item);
/* bencode_dict_set - set key to val (takes val); an existing entry with
 * that key is replaced and its old value freed */
void bencode_dict_set(struct rm_bencode *dict, const char *key,
                      struct rm_bencode *val);

/* bencode_free - free b and its children; NULL is a no-op */
void bencode_free(struct rm_bencode *b);

/* --- encoding ------------------------------------------------------- */

/* bencode_encode - append the encoding of b to out (keys sorted) */
void bencode_encode(const struct rm_bencode *b, struct pbuf *out);

/* --- decoding ------------------------------------------------------- */

/*
 * bencode_decode - decode exactly one value that fills buf[0..len)
 *
 * On success *out is the new tree (the caller frees it) and 0 is
 * returned. On malformed input (see DESCRIPTION) *out is NULL, err gets
 * "offset N: reason" (err may be NULL) and -EINVAL is returned.
 */
int bencode_decode(const void *buf, size_t len, struct rm_bencode **out,
                   char *err, size_t errlen);

/*
 * bencode_decode_prefix - decode one value at the start of buf; *used is
 * set to its length (bytes after it are left alone). Same errors.
 */
int bencode_decode_prefix(const void *buf, size_t len, struct rm_bencode **out,
                          size_t *used, char *err, size_t errlen);

/* --- reading -------------------------------------------------------- */

/* bencode_dict_get - the value of key in dict, or NULL (also when dict is
 * NULL or not a dictionary) */
const struct rm_bencode *bencode_dict_get(const struct rm_bencode *dict,
                                          const char *key);

/* bencode_dict_get2 - the value of the short key, else of the long key */
const struct rm_bencode *bencode_dict_get2(const struct rm_bencode *dict,
                                           const char *shortkey,
                                           const char *longkey);

/*
 * bencode_get_int - the value as an integer: an integer node, or a string
 * holding a decimal integer (an optional '-', digits, within int64_t).
 * 0, or -EINVAL (NULL, other types, other strings).
 */
int bencode_get_int(const struct rm_bencode *b, int64_t *out);

/*
 * bencode_get_str - the value as text: a string node's bytes, or an
 * integer formatted in tmp (at least RM_BENCODE_INTBUF bytes). Returns
 * NULL for NULL, lists and dictionaries. *len (may be NULL) gets the
 * length; the text is NUL-terminated but may hold NULs.
 */
#define RM_BENCODE_INTBUF 24
const char *bencode_get_str(const struct rm_bencode *b, char *tmp, size_t *len);

/* bencode_type_name - "integer", "string", "list", "dictionary" */
const char *bencode_type_name(enum rm_bencode_type t);

#endif
