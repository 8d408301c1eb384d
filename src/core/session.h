/*
 * NAME
 *   session - what the pipeline knows about one SMTP session and message
 *
 * DESCRIPTION
 *   struct rm_session is one milter connection (created by
 *   pipeline_session_new); struct rm_msg, embedded in it, is the current
 *   transaction and is what module hooks receive. Modules read these fields
 *   and never write them (their own state goes in msg_state()).
 *
 *   Connection state (client, helo, connection macros) lives from CONNECT
 *   to close or QUIT_NC. Transaction state (envelope, recipients, headers,
 *   spool, module state, transaction macros) lives from MAIL to EOM or
 *   ABORT, and is also cleared if a new MAIL arrives without either.
 *
 *   Addresses: from/addr are normalised (surrounding <> and a source route
 *   removed, the domain lowercased, the local part kept as sent; the null
 *   sender is ""); raw is exactly what the MTA sent.
 *
 *   Sender classes, fixed at MAIL:
 *     RM_SENDER_AUTH     the {auth_authen} macro was set (user = the login)
 *     RM_SENDER_NETWORK  the client address is in our_networks
 *     RM_SENDER_LOCAL    the client came over a unix socket: it counts as
 *                        127.0.0.1 (it also matches our_networks and IP
 *                        lists as such) and as authenticated
 *     RM_SENDER_REMOTE   everything else
 *   exempt = authenticated && !strict_auth: such mail skips greylisting and
 *   spam scans (rmilter.md 7.1).
 *
 * THREAD SAFETY
 *   A session is used by one thread at a time.
 */
#ifndef RM_SESSION_H
#define RM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "core/reply.h"
#include "lib/iplist.h"

struct rm_spool;
struct rm_gen;

enum rm_sender_class {
    RM_SENDER_REMOTE,
    RM_SENDER_AUTH,
    RM_SENDER_NETWORK,
    RM_SENDER_LOCAL,
};

/* A spam scanner's verdict, worst last (rspamd's actions; SpamAssassin's
 * "Spam: True" is RM_SPAM_REJECT; whatever spamd_never_reject turns from
 * a reject into the spam header is RM_SPAM_ADD_HEADER; the whole table is
 * in modules/spamd_map.h). See rm_msg.spam_action. */
enum rm_spam_action {
    RM_SPAM_NONE = 0, /* not scanned, or "no action" */
    RM_SPAM_GREYLIST,
    RM_SPAM_ADD_HEADER,
    RM_SPAM_REWRITE_SUBJECT,
    RM_SPAM_SOFT_REJECT,
    RM_SPAM_REJECT,
};

struct rm_rcpt {
    char *raw;   /* as sent: "<User@Example.COM>" */
    char *addr;  /* normalised: "User@example.com" */
    char **args; /* ESMTP arguments */
    size_t n_args;
    bool whitelisted; /* in the global whitelist */
};

struct rm_header {
    char *name;
    /* value: after the colon, without the one space that usually follows
     * it ("x" for "Subject: x" and for "Subject:x"): what every check
     * reads, as MTAs send it to milters by default. raw: exactly what
     * follows the colon ("Subject:x" gives "x", "Subject: x" " x"), for
     * what must reproduce the header byte for byte (the spool, DKIM).
     * Both with LF (or CRLF) line ends between continuation lines. */
    char *value;
    char *raw;
};

struct rm_macro {
    char cmd; /* the milter command it came with ('C', 'H', 'M', ...) */
    char *name;
    char *value;
};

/* One check's outcome for the summary line. */
struct rm_check {
    char *note;
    uint64_t usec;
    bool ran;    /* shown in the summary */
    bool called; /* a hook really ran (the duration means something) */
};

struct rm_msg {
    struct rm_session *sess;
    char tag[16]; /* log tag: unique per message, "3f9c0a17be" */

    bool active;      /* a transaction is open (MAIL seen) */
    uint64_t t_start; /* monotonic microseconds at MAIL */

    /* envelope */
    char *from_raw;
    char *from;
    char **mail_args;
    size_t n_mail_args;
    struct rm_rcpt *rcpts; /* accepted recipients, in order */
    size_t n_rcpts;
    size_t n_rcpts_refused;
    const struct rm_rcpt *rcpt_cur; /* RCPT stage only: being checked */
    bool all_whitelisted;           /* n_rcpts > 0 and every one listed */

    /* sender class */
    enum rm_sender_class sender_class;
    bool authenticated;
    bool exempt;
    char *user; /* the SASL login, or NULL */

    /* content */
    struct rm_header *hdrs;
    size_t n_hdrs;
    char *message_id;
    struct rm_spool *spool; /* NULL unless a module needs the message, or
                               after a spool error */
    uint64_t size;          /* header lines + empty line + body, bytes */
    bool eoh_seen;
    bool oversized; /* size > max_size: content scans skipped */
    /* In-Reply-To or References names a message one of our authenticated
     * senders sent (src/modules/replies.c). The one field a module writes:
     * the replies module sets it at MAIL (false) and at EOH (the lookup's
     * answer), so it is valid from EOH on. Spam scanners skip such mail;
     * so does greylisting on the scanner's verdict (greylist.h). */
    bool is_reply;
    /* The spam scanner's verdict (src/modules/spamd.c): the scanner sets
     * it at EOM before it returns, whatever it then decides; RM_SPAM_NONE
     * when the message was not scanned (skipped, scanner failed) or is
     * not spam. Cleared with the transaction (core__txn_clear). Read by
     * modules after the scanner: beanstalk sends spam copies for any
     * value but RM_SPAM_NONE (see modules/beanstalk.h for a verdict that
     * ends the message, after which later modules do not run). */
    enum rm_spam_action spam_action;

    /* pipeline bookkeeping (not for modules) */
    size_t cur_module;
    void **mstate;
    struct rm_check *checks;
    struct rm_reply final; /* valid when decided */
    bool decided;
    struct rm_reply edits; /* accumulated message changes */
    bool logged;
    bool spool_failed;
    size_t hdrs_cap, rcpts_cap;
};

struct rm_session {
    unsigned long id;
    struct rm_config *cfg;
    const struct rm_gen *gen;

    /* connection */
    char *hostname;
    char *addr_text; /* "192.0.2.1", "127.0.0.1" for unix, "" unknown */
    int family;      /* as the MTA sent it (AF_UNIX for unix sockets) */
    uint16_t port;
    struct rm_ipaddr addr; /* valid if has_addr (127.0.0.1 for unix) */
    bool has_addr;
    bool local; /* unix socket client */
    char *helo;

    struct rm_macro *macros;
    size_t n_macros, macros_cap;

    struct rm_reply conn_final; /* a connect/helo decision for every msg */
    bool conn_decided;
    unsigned n_msgs;

    struct rm_msg msg;
};

/* msg_macro - the latest value of a macro ("i", "{auth_authen}"; a name
 * without braces also finds the braced one and vice versa), or NULL */
const char *msg_macro(const struct rm_msg *m, const char *name);
/* msg_qid - the MTA's queue id (macro i), or "NOQUEUE" */
const char *msg_qid(const struct rm_msg *m);
/* msg_client_host / msg_client_ip - never NULL ("unknown", "") */
const char *msg_client_host(const struct rm_msg *m);
const char *msg_client_ip(const struct rm_msg *m);
/* msg_header - the value of the first header named name (any case) */
const char *msg_header(const struct rm_msg *m, const char *name);

#endif
