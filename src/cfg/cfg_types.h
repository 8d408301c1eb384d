/*
 * NAME
 *   cfg_types - the typed values a directive can hold
 *
 * DESCRIPTION
 *   One C type per directive type (enum rm_vtype). Values are owned by the
 *   config generation that holds them and are immutable once it is loaded;
 *   cfg_value_free releases one. The parsers for these types live in
 *   cfg_value.c and are pure (string in, value or error out), so they are
 *   unit-tested and fuzzed apart from the grammar.
 */
#ifndef RM_CFG_TYPES_H
#define RM_CFG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/iplist.h"
#include "lib/regex.h"

enum rm_vtype {
    RM_T_STR,      /* char *: a bare word or a quoted string */
    RM_T_INT,      /* int64_t */
    RM_T_FLAG,     /* bool: yes/no/true/false/on/off/y/n/1/0 */
    RM_T_TIME_S,   /* uint64_t milliseconds; a bare number is seconds */
    RM_T_TIME_MS,  /* uint64_t milliseconds; a bare number is milliseconds */
    RM_T_SIZE,     /* uint64_t bytes; k, m, g suffixes (x1024) */
    RM_T_PROB,     /* double in 0.0..1.0 */
    RM_T_BUCKET,   /* struct rm_bucket: burst:rate */
    RM_T_IPLIST,   /* struct rm_iplist *: addresses and networks */
    RM_T_SOCKETS,  /* struct rm_socklist: listen sockets */
    RM_T_SERVERS,  /* struct rm_servers: host[:port[:weight]] or /path */
    RM_T_REGEX,    /* struct rm_regex *: /re/flags */
    RM_T_STRLIST,  /* struct rm_strlist */
    RM_T_RCPTLIST, /* struct rm_rcptlist: user, user@domain, @domain */
    RM_T_ENUM,     /* int: index into the directive's "a|b|c" names */
    RM_T_MODE,     /* unsigned: an octal file mode */
    RM_T_NOOP,     /* accepted for compatibility, warned about, ignored */
};

/* A leaky bucket: burst messages, refilled at rate messages per second.
 * burst == 0 or rate == 0 disables the bucket. */
struct rm_bucket {
    double burst;
    double rate;
};

enum rm_sock_kind {
    RM_SOCK_UNIX,    /* unix:/path or local:/path */
    RM_SOCK_INET,    /* inet:port@host (host may be empty: all IPv4) */
    RM_SOCK_INET6,   /* inet6:port@host */
    RM_SOCK_FD,      /* fd:N, an inherited descriptor */
    RM_SOCK_SYSTEMD, /* systemd: every fd in LISTEN_FDS */
};

struct rm_sockspec {
    enum rm_sock_kind kind;
    char *path;    /* RM_SOCK_UNIX */
    char *host;    /* RM_SOCK_INET*: NULL or "" means any address */
    uint16_t port; /* RM_SOCK_INET* */
    int fd;        /* RM_SOCK_FD */
    char *text;    /* the spec as written, for logs and --dump-config */
};

struct rm_socklist {
    size_t n;
    struct rm_sockspec *v;
};

/* One backend server. For a unix socket, path is set and host is NULL. */
struct rm_server {
    char *host;
    char *path;
    uint16_t port;
    unsigned weight; /* 1 unless written; master/slave priority */
    bool rspamd;     /* written with the "r:" prefix (spamd section) */
    char *text;      /* as written */
};

struct rm_servers {
    size_t n;
    struct rm_server *v;
};

struct rm_strlist {
    size_t n;
    char **v;
};

/* Recipient list entries are lowercased at parse time; a lookup strips <>,
 * lowercases, and tries user@domain, then user, then @domain. */
struct rm_rcptlist {
    size_t n;
    char **v;
};

/* rm_rcptlist_match - true if rcpt (raw, possibly <bracketed>) is listed */
bool rm_rcptlist_match(const struct rm_rcptlist *l, const char *rcpt);

/* --- rules: `rule { action ["text"]; [not] cond args...; ... }` --- */

enum rm_rule_action {
    RM_RULE_ACCEPT,
    RM_RULE_REJECT,
    RM_RULE_TEMPFAIL,
    RM_RULE_DISCARD,
    RM_RULE_QUARANTINE,
    RM_RULE_ADD_HEADER, /* add_header "Name" "value" */
};

enum rm_rule_cond_kind {
    RM_COND_CONNECT, /* re[0] on client host name, re[1] on client IP */
    RM_COND_HELO,    /* re[0] */
    RM_COND_ENVFROM, /* re[0] */
    RM_COND_ENVRCPT, /* re[0], any recipient */
    RM_COND_HEADER,  /* re[0] on the name, re[1] on the value */
    RM_COND_BODY,    /* re[0] on the body */
};

struct rm_rule_cond {
    enum rm_rule_cond_kind kind;
    bool negate;
    struct rm_regex *re[2]; /* re[1] NULL when the condition has one */
};

struct rm_rule {
    char *name; /* "rule N at file:line" unless named */
    enum rm_rule_action action;
    char *message;      /* reply text or quarantine reason; may be NULL */
    char *header_name;  /* RM_RULE_ADD_HEADER */
    char *header_value; /* RM_RULE_ADD_HEADER */
    size_t n_conds;
    struct rm_rule_cond *conds;
};

#endif
