/*
 * NAME
 *   replay_int - what the files of src/replay/ share
 *
 * DESCRIPTION
 *   mailbox.c   reads mailboxes into struct rp_msg (raw bytes, in order)
 *   message.c   splits a message into headers and body; dates
 *   envelope.c  the envelope of a message: sidecar files, then headers
 *   run.c       one message through one config's pipeline -> rp_result
 *   output.c    the table, JSON lines and the two-config comparison
 *   replay.c    options and the order of work
 *
 *   Every string in these structs is owned by the struct and freed by its
 *   *_free function. Replay is single-threaded.
 */
#ifndef RM_REPLAY_INT_H
#define RM_REPLAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/reply.h"

/* ---- messages (mailbox.c, message.c) ---- */

struct rp_msg {
    char *source;     /* "tests/replay/sample.mbox:3", "Maildir/cur/1.x" */
    char *path;       /* the message's own file, or NULL (mbox) */
    char *box;        /* the mailbox it came from (an mbox file, a dir) */
    size_t box_index; /* 1-based position within box */
    char *data;       /* the raw message, line ends as stored */
    size_t len;
};

struct rp_msgs {
    size_t n, cap;
    struct rp_msg *v;
};

/* rp_mailbox_read - append every message of path to out; 0, or -1 with a
 * line on stderr */
int rp_mailbox_read(const char *path, struct rp_msgs *out);
void rp_msgs_free(struct rp_msgs *m);

struct rp_hdr {
    char *name;
    char *value; /* leading blanks of the first line dropped; folded lines
                    joined with "\n" and keep their own blanks */
    char *raw;   /* everything after the colon, exactly as written (LF
                    line ends), for pipeline_header_raw */
};

struct rp_parsed {
    struct rp_hdr *hdrs;
    size_t n_hdrs;
    char *body; /* with CRLF line ends, as DATA carries it */
    size_t body_len;
};

/* rp_parse - split raw into headers and a CRLF body */
void rp_parse(const char *raw, size_t len, struct rp_parsed *out);
void rp_parsed_free(struct rp_parsed *p);
/* rp_header - the first header named name (any case), or NULL */
const char *rp_header(const struct rp_parsed *p, const char *name);

/* rp_parse_time - RFC 5322 date, ISO 8601 (2026-01-01T10:00:00Z, with
 * an offset or a space for T) or @EPOCH seconds, into ms since the epoch;
 * 0 or -1 */
int rp_parse_time(const char *s, uint64_t *ms);
/* rp_format_time - "2026-01-01T10:00:00Z" (UTC) */
void rp_format_time(uint64_t ms, char *buf, size_t len);

/* ---- envelopes (envelope.c) ---- */

struct rp_macro {
    char *name;
    char *value;
};

struct rp_env {
    char *client_ip;   /* "" when unknown */
    char *client_host; /* "unknown" when unknown */
    char *helo;
    char *from;       /* as sent: "<a@b>" or "<>" */
    char **from_args; /* ESMTP arguments of MAIL */
    size_t n_from_args;
    char **rcpts; /* as sent: "<a@b>" */
    size_t n_rcpts;
    char *auth; /* SASL login or NULL */
    char *qid;  /* queue id (macro i) or NULL */
    char *mta;  /* the MTA's name (macro j) */
    uint64_t time_ms;
    bool have_time;
    const char *time_from;   /* "sidecar", "received", "date", "previous" */
    const char *env_from;    /* where the envelope came from: "sidecar",
                              "headers", "sidecar+headers" */
    struct rp_macro *macros; /* extra macros (sidecar "macro") */
    size_t n_macros;
};

/* A sidecar: defaults, and stanzas for single messages. */
struct rp_sidecar;

/* What went wrong, one line for stderr: "file:line: why". */
struct rp_err {
    char msg[512];
};

/* rp_sidecar_load - parse path; 0 (absent: *out = NULL) or -1 with err
 * filled. must_exist: a missing file is an error. */
int rp_sidecar_load(const char *path, bool must_exist, struct rp_sidecar **out,
                    struct rp_err *err);
void rp_sidecar_free(struct rp_sidecar *sc);

/* rp_envelope - the envelope of msg number n (1-based, in replay order):
 * the explicit sidecar (--envelope, keyed by n or Message-ID) wins, then
 * the message's own sidecar (<file>.env, or <mbox>.env keyed by the
 * position in the mbox), then the headers. 0 or -1 with err filled (the
 * own sidecar is bad); *out is always initialised for rp_env_free. */
int rp_envelope(const struct rp_msg *msg, size_t n, const struct rp_parsed *p,
                const struct rp_sidecar *explicit_sc, struct rp_env *out,
                struct rp_err *err);
void rp_env_free(struct rp_env *e);

/* ---- results (run.c) ---- */

struct rp_check {
    char *name;
    char *note;
    uint64_t usec;
    bool called;
};

struct rp_rcpt {
    char *addr;
    bool accepted;
    char *reply; /* "451 4.7.1 text" when refused */
};

struct rp_change {
    const char *op; /* add_header, insert_header, change_header,
                       delete_header, add_rcpt, delete_rcpt, change_from,
                       replace_body */
    unsigned index; /* header index (insert, change, delete) */
    char *name;     /* header name, or the address */
    char *value;    /* header value, ESMTP arguments, or NULL */
};

struct rp_result {
    char *stage;  /* where it ended: connect, helo, mail, rcpt, data,
                     header, eoh, body, eom */
    char *action; /* accept, reject, tempfail, discard, quarantine */
    char *reply;  /* "554 5.7.1 text", "-" for the MTA's own 250 */
    char *quarantine;
    char *summary; /* the summary line's action text, or NULL */
    struct rp_rcpt *rcpts;
    size_t n_rcpts;
    struct rp_check *checks;
    size_t n_checks;
    struct rp_change *changes;
    size_t n_changes;
};

struct rm_config;

/* rp_run - feed one message with its envelope through cfg's pipeline
 * (the simulated clock must already be set); fills *res */
void rp_run(struct rm_config *cfg, unsigned long id, const struct rp_env *env,
            const struct rp_parsed *p, struct rp_result *res);
void rp_result_free(struct rp_result *r);

/* ---- output (output.c) ---- */

struct rp_row {
    const struct rp_msg *msg;
    const struct rp_env *env;
    const char *message_id;
    struct rp_result res[2];
};

struct rp_out_opts {
    bool json;
    size_t n_configs;         /* 1 or 2 */
    const char *config[2];    /* paths, for the heading */
    const char *offline_note; /* or NULL */
    const char *store_note;   /* or NULL */
};

/* rp_output - print rows; returns how many rows the two configs decide
 * differently (0 with one config) */
size_t rp_output(FILE *f, const struct rp_row *rows, size_t n,
                 const struct rp_out_opts *o);

/* ---- small helpers (message.c) ---- */

/* rp_addr_bracket - "<a@b>" for "a@b", "<a@b>", " <a@b> " */
char *rp_addr_bracket(const char *s);
/* rp_trim - a copy without leading and trailing blanks */
char *rp_trim(const char *s, size_t len);

#endif
