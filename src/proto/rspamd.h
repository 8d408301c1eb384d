/*
 * NAME
 *   rspamd - rspamd's HTTP protocol: the /checkv2 request head and the
 *   JSON reply
 *
 * DESCRIPTION
 *   Request: "POST /checkv2 HTTP/1.1" with the SMTP envelope in headers
 *   (IP, Helo, From, Rcpt once per recipient, Queue-Id, User, MTA-Tag,
 *   Hostname, Settings-ID), "Connection: close" and the Content-Length of
 *   the message the caller streams after the head. Values are passed
 *   through: the only change is that control characters (which no MTA
 *   sends, and which would break the HTTP framing) become '?'.
 *
 *   Reply: the body of a 200 response (read with http.h) is a JSON object
 *   as rspamd 3.x sends it, e.g. (captured from rspamd 3.4):
 *     {"is_skipped":false,"score":-0.1,"required_score":15.0,
 *      "action":"no action","symbols":{"MIME_GOOD":{"name":"MIME_GOOD",
 *      "score":-0.1,"options":["text/plain"]},...},"messages":{},
 *      "message-id":"m1@example.org","dkim-signature":"v=1; a=...",
 *      "milter":{"add_headers":{"X-Spamd-Result":{"order":-1,
 *      "value":"default: False [-0.10 / 15.00];\r\n\tMIME_GOOD..."}},
 *      "remove_headers":{"X-Spam":0}}}
 *   rspamd_reply_parse turns it into a struct rm_rspamd_reply. Every text
 *   that can reach a header, an SMTP reply or a log is sanitized here
 *   (hdr.h), so the module cannot forget it: header values with
 *   hdr_value_sanitize, the SMTP message and names with hdr_text_oneline;
 *   headers with invalid names are dropped (and counted).
 *
 *   The older reply shape, with the verdict in a "default" metric object
 *   (rspamd < 2, /symbols), and the older "rmilter" block name are
 *   accepted too.
 *
 *   JSON is parsed with jansson (strict RFC 8259, UTF-8 validated, no NUL
 *   in strings). Pure code: no I/O, no global state; thread-safe.
 *
 * SEE ALSO
 *   research/rmilter.md section 7.6, http.h, hdr.h,
 *   https://rspamd.com/doc/developers/protocol.html
 */
#ifndef RM_PROTO_RSPAMD_H
#define RM_PROTO_RSPAMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what one reply may make us keep. */
#define RM_RSPAMD_MAX_SYMBOLS 512
#define RM_RSPAMD_MAX_OPTIONS 32 /* per symbol */
#define RM_RSPAMD_MAX_HEADERS 64 /* add or remove instructions, each */
#define RM_RSPAMD_MAX_DKIM 8
#define RM_RSPAMD_NAME_MAX 128   /* symbol names */
#define RM_RSPAMD_OPTION_MAX 256 /* one symbol option */
#define RM_RSPAMD_TEXT_MAX 512   /* smtp_message, message-id, errors */

/* ---------------------------------------------------------------------- */
/* Request */

struct rm_rspamd_env {
    const char *re_path;        /* NULL: "/checkv2" */
    const char *re_host;        /* the Host header; NULL: "localhost" */
    const char *re_ip;          /* client address; NULL: not sent */
    const char *re_helo;        /* NULL: not sent */
    const char *re_from;        /* envelope sender; NULL or "": "<>" */
    const char *const *re_rcpt; /* re_nrcpt recipients, one header each */
    size_t re_nrcpt;
    const char *re_queue_id;    /* NULL: not sent */
    const char *re_user;        /* SASL login; NULL: not sent */
    const char *re_mta_tag;     /* {daemon_name}; NULL: not sent */
    const char *re_hostname;    /* client host name; NULL or "unknown":
                                   not sent */
    const char *re_settings_id; /* NULL: not sent */
    const char *re_settings;    /* raw JSON for "Settings"; NULL: none */
    uint64_t re_content_length; /* exact size of the message sent */
};

/*
 * rspamd_request_build - the request head for env
 *
 * Returns 0 and sets *out to a new NUL-terminated string (free with
 * free(3)) of *len bytes ending with the empty line; the message follows
 * it. Returns -EINVAL if env is NULL or a path/host holds a blank or a
 * control character.
 */
int rspamd_request_build(const struct rm_rspamd_env *env, char **out,
                         size_t *len);

/* ---------------------------------------------------------------------- */
/* Reply */

enum rm_rspamd_action {
    RM_RSPAMD_NO_ACTION,
    RM_RSPAMD_GREYLIST,
    RM_RSPAMD_ADD_HEADER,
    RM_RSPAMD_REWRITE_SUBJECT,
    RM_RSPAMD_SOFT_REJECT,
    RM_RSPAMD_REJECT,
    RM_RSPAMD_OTHER, /* an action we do not know (rr_action has it) */
};

struct rm_rspamd_symbol {
    char *rs_name; /* oneline, UTF-8 kept */
    double rs_score;
    char **rs_options; /* oneline, UTF-8 kept */
    size_t rs_noptions;
};

/* An add_headers entry: add rh_name: rh_value. rh_order as rspamd sent
 * it: -1 (or absent) appends; n >= 0 inserts at position n. */
struct rm_rspamd_hdr_add {
    char *ha_name;
    char *ha_value; /* hdr_value_sanitize'd for ha_name */
    int ha_order;
};

/* A remove_headers entry: hd_index 0 removes every ha_name header, n > 0
 * the n-th (1-based), n < 0 the n-th from the end. */
struct rm_rspamd_hdr_del {
    char *hd_name;
    int hd_index;
};

struct rm_rspamd_reply {
    enum rm_rspamd_action rr_action_id;
    char *rr_action; /* the action text as sent (oneline) */
    double rr_score;
    double rr_required_score;
    bool rr_skipped;       /* is_skipped: rspamd did not really scan */
    char *rr_subject;      /* for rewrite subject: header-safe; or NULL */
    char *rr_smtp_message; /* messages.smtp_message: ASCII oneline; or
                              NULL */
    char *rr_message_id;   /* oneline; or NULL */
    struct rm_rspamd_symbol *rr_symbols;
    size_t rr_nsymbols;
    struct rm_rspamd_hdr_add *rr_add;
    size_t rr_nadd;
    struct rm_rspamd_hdr_del *rr_del;
    size_t rr_ndel;
    char **rr_dkim; /* DKIM-Signature values, header-safe, folds kept */
    size_t rr_ndkim;
    char *rr_error;    /* {"error": ...} replies: the text; or NULL */
    size_t rr_dropped; /* entries ignored: bad names, types, over caps */
};

/*
 * rspamd_reply_parse - parse a /checkv2 JSON reply
 *
 * json/len need not be NUL-terminated. On success returns 0 and fills
 * out. On failure out holds nothing but (for -EREMOTEIO) rr_error, and a
 * reason goes to err (errlen bytes, may be 0). Either way free out with
 * rspamd_reply_free. Failures:
 *   -EBADMSG    not valid JSON (jansson's message and position);
 *   -EREMOTEIO  rspamd's own error object {"error": "..."}: rr_error is
 *               set (the only field that is);
 *   -EPROTO     valid JSON of the wrong shape (not an object, no action,
 *               a field of the wrong type).
 */
int rspamd_reply_parse(const char *json, size_t len,
                       struct rm_rspamd_reply *out, char *err, size_t errlen);

/* rspamd_reply_free - free what parse allocated; out is empty afterwards */
void rspamd_reply_free(struct rm_rspamd_reply *r);

/* rspamd_action_name - "no action", "greylist", "add header", "rewrite
 * subject", "soft reject", "reject", "other" */
const char *rspamd_action_name(enum rm_rspamd_action a);

/* rspamd_action_parse - the enum for rspamd's text; RM_RSPAMD_OTHER if
 * unknown */
enum rm_rspamd_action rspamd_action_parse(const char *text);

#endif
