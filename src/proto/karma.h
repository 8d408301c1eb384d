/*
 * NAME
 *   karma - Karmasphere BQuery packets: query building and reply parsing
 *
 * SYNOPSIS
 *   struct rm_karma_query q;
 *   karma_query_init(&q, "rmk1-1700000000");
 *   karma_query_add_feedset(&q, "karmasphere.email-sender");
 *   karma_query_add_identity(&q, "192.0.2.1", RM_KARMA_IP4,
 *                            RM_KARMA_TAG_CLIENT_IP);
 *   karma_query_encode(&q, &pb);   bytes for one datagram or TCP frame
 *   karma_query_free(&q);
 *
 *   struct rm_karma_reply r;
 *   if (karma_reply_parse(buf, len, "karmasphere.email-sender", &r, err,
 *                         sizeof(err)) == 0) { r.value, r.data ... }
 *   karma_reply_free(&r);
 *
 * DESCRIPTION
 *   The wire format of research/karmasphere.md sections 4 to 6. A query is
 *   a bencoded dictionary with the short keys
 *     _   the query id (a string; the server echoes it)
 *     a   [login, credential] when a login is set (credential "" if none)
 *     fl  flags, only when non-zero (RM_KARMA_FL_FACTS = 1)
 *     i   identities: [data, type, tag...] each
 *     s   the feedsets, always a list
 *     f   extra feeds (a list), c extra combiners (a list), when set.
 *   Identity types go out as strings ("ip4", "ip6", "domain", "email",
 *   "url"); karma_idtype_parse also reads the legacy integers 0..4 that
 *   clients before Perl 2.11 sent. Identities with the same data and type
 *   are merged and their tags combined (as Perl 2.15+ did).
 *
 *   A reply is a dictionary (short or long keys are both read):
 *     _ echoed id; t/time ms; c/combiners {name: {v, d}}; f/facts
 *     [{f, i, v, d}]; error (true when set); message.
 *   The verdict is the combiner named like the feedset, else "default",
 *   else the first combiner (in key order); a missing v is 0 and a
 *   missing d is "". Values and ids may arrive as integers or strings
 *   (the Perl encoder's habit); both are accepted.
 *
 *   Pure code: no I/O and no global state; thread-safe.
 *
 * SEE ALSO
 *   bencode.h, research/karmasphere.md
 */
#ifndef RM_PROTO_KARMA_H
#define RM_PROTO_KARMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/pbuf.h"

#define RM_KARMA_PORT 8666
/* Largest query sent over UDP; larger ones go over TCP (the server's
 * UDP_MAX, research/karmasphere.md 2.2). */
#define RM_KARMA_UDP_MAX 1024
/* TCP frames must be shorter than this (the top two length bytes are 0). */
#define RM_KARMA_TCP_MAX 65536
/* Receive buffer for one reply datagram. */
#define RM_KARMA_RECV_MAX 65536
/* Value scale. */
#define RM_KARMA_MIN (-1000)
#define RM_KARMA_MAX 1000

/* Flags (fl). */
#define RM_KARMA_FL_FACTS 1
#define RM_KARMA_FL_DATA 2
#define RM_KARMA_FL_TRACE 4
#define RM_KARMA_FL_MODELTRACE 8

/* Tags (research/karmasphere.md 4.2). */
#define RM_KARMA_TAG_CLIENT_IP "smtp.client-ip"
#define RM_KARMA_TAG_HELO "smtp.env.helo"
#define RM_KARMA_TAG_MAIL_FROM "smtp.env.mail-from"
#define RM_KARMA_TAG_RCPT_TO "smtp.env.rcpt-to"
#define RM_KARMA_TAG_HEADER_FROM "smtp.header.from.address"
#define RM_KARMA_TAG_AUTHENTIC "a"

/* Identity types; the values are the legacy integer codes. */
enum rm_karma_idtype {
    RM_KARMA_IP4 = 0,
    RM_KARMA_IP6 = 1,
    RM_KARMA_DOMAIN = 2,
    RM_KARMA_EMAIL = 3,
    RM_KARMA_URL = 4,
};

#define RM_KARMA_MAX_TAGS 8

struct rm_karma_identity {
    char *data;
    enum rm_karma_idtype type;
    char *tags[RM_KARMA_MAX_TAGS];
    size_t n_tags;
};

struct rm_karma_query {
    char *id;
    char *login;      /* NULL: no a */
    char *credential; /* NULL: "" */
    int64_t flags;
    struct rm_karma_identity *ids;
    size_t n_ids;
    char **feedsets, **feeds, **combiners;
    size_t n_feedsets, n_feeds, n_combiners;
};

/* karma_idtype_name - "ip4", "ip6", "domain", "email", "url" */
const char *karma_idtype_name(enum rm_karma_idtype t);
/* karma_idtype_parse - a type string, or a legacy integer 0..4 given as
 * text ("0".."4"); 0 or -EINVAL */
int karma_idtype_parse(const char *s, enum rm_karma_idtype *out);
/* karma_idtype_guess - Perl's guess from the data (ip4, ip6, url, email,
 * else domain) */
enum rm_karma_idtype karma_idtype_guess(const char *data);

/* karma_query_init - an empty query with this id (copied) */
void karma_query_init(struct rm_karma_query *q, const char *id);
void karma_query_free(struct rm_karma_query *q);
/* karma_query_set_auth - credentials (copied); login NULL removes them */
void karma_query_set_auth(struct rm_karma_query *q, const char *login,
                          const char *credential);
void karma_query_add_feedset(struct rm_karma_query *q, const char *name);
void karma_query_add_feed(struct rm_karma_query *q, const char *name);
void karma_query_add_combiner(struct rm_karma_query *q, const char *name);
/* karma_query_add_identity - add data/type with one tag (tag may be NULL);
 * an identity with the same data and type gets the tag added instead (a
 * tag it already has, or one past RM_KARMA_MAX_TAGS, is not repeated) */
void karma_query_add_identity(struct rm_karma_query *q, const char *data,
                              enum rm_karma_idtype type, const char *tag);
/* karma_query_encode - append the bencoded query to out */
void karma_query_encode(const struct rm_karma_query *q, struct pbuf *out);

/* --- identities from an SMTP transaction ----------------------------- */

/*
 * karma_smtp_identities - the identities of one message
 *
 * client_ip: the client address as text ("" or NULL: none), ip4 or ip6
 * tagged smtp.client-ip. helo: the HELO argument, a domain tagged
 * smtp.env.helo unless it is empty or an address literal ("[192.0.2.1]",
 * or a bare address, which some clients send). mail_from: the normalised
 * envelope sender, an email tagged smtp.env.mail-from unless null ("")
 * or without '@'. header_from: the address of the From: header (see
 * karma_header_from_address), an email tagged smtp.header.from.address,
 * when non-NULL and not empty.
 */
void karma_smtp_identities(struct rm_karma_query *q, const char *client_ip,
                           const char *helo, const char *mail_from,
                           const char *header_from);

/*
 * karma_header_from_address - the address in a From: header value
 *
 * Takes the last <...> if there is one, else the first word holding '@'
 * once (comments) are removed; the domain is lowercased. Writes it to out
 * (size bytes) and returns 0, or -EINVAL when there is no usable address
 * (none, no '@', or longer than size - 1).
 */
int karma_header_from_address(const char *value, char *out, size_t size);

/* --- replies --------------------------------------------------------- */

struct rm_karma_fact {
    char *feed;
    char *identity; /* may be "" */
    int64_t value;
    char *data; /* may be "" */
};

struct rm_karma_reply {
    char *id; /* the echoed id as text ("" if absent) */
    bool has_id;
    bool error;    /* the server set error */
    char *message; /* error text or a warning ("Truncated"), or NULL */
    bool has_verdict;
    char *combiner; /* the combiner the verdict came from */
    int64_t value;  /* as sent (not clamped) */
    char *data;     /* the verdict's explanation, may be "" */
    bool has_time;
    int64_t time_ms;
    struct rm_karma_fact *facts;
    size_t n_facts;
};

/*
 * karma_reply_parse - parse one reply packet (a datagram or a TCP frame's
 * payload)
 *
 * feedset (may be NULL) is the name to take the verdict from, see
 * DESCRIPTION. Returns 0 with *r filled (free it with karma_reply_free),
 * or -EINVAL with err (may be NULL) saying why: not bencode, not a
 * dictionary, or a field of the wrong type (c not a dictionary, a
 * combiner entry not a dictionary, v not an integer, f not a list...).
 * A reply with no combiners and no error parses (has_verdict false: the
 * caller decides what "no verdict" means).
 */
int karma_reply_parse(const void *buf, size_t len, const char *feedset,
                      struct rm_karma_reply *r, char *err, size_t errlen);
void karma_reply_free(struct rm_karma_reply *r);

/* karma_clamp - v limited to RM_KARMA_MIN..RM_KARMA_MAX */
int karma_clamp(int64_t v);

#endif
