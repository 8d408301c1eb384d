/*
 * NAME
 *   spamd - SpamAssassin's spamd protocol (SPAMC/1.5): request header and
 *   reply parser
 *
 * DESCRIPTION
 *   Request: "<CMD> SPAMC/1.5\r\n", "Content-length: <n>\r\n", an optional
 *   "User: <name>\r\n", an empty line, then exactly n bytes of message.
 *   The caller streams the message after the header and may shut down its
 *   side of the connection afterwards.
 *
 *   Reply (captured from SpamAssassin 4.0.1's spamd):
 *     SPAMD/1.1 0 EX_OK\r\n
 *     Content-length: 55\r\n            (SYMBOLS and REPORT only)
 *     Spam: True ; 1000.0 / 5.0\r\n
 *     \r\n
 *     GTUBE,MSGID_SHORT,NO_RECEIVED,...  (SYMBOLS: comma-separated names;
 *                                          REPORT: the text report)
 *   An error is one line with a non-zero code, e.g.
 *     SPAMD/1.0 76 Bad header line: (Content-Length contains ...)\r\n
 *   and the connection closes. Codes are sysexits(3) values (EX_USAGE 64
 *   .. EX_CONFIG 78, EX_TIMEOUT 79).
 *
 *   A struct rm_spamd_reader collects a reply from bytes as they arrive,
 *   bounded by a maximum size, and parses it.
 *
 *   Pure code: no I/O, no global state; thread-safe. The reader owns a
 *   buffer (spamd_reader_fini frees it).
 *
 * SEE ALSO
 *   research/rmilter.md section 7.6, SpamAssassin's spamd/PROTOCOL
 */
#ifndef RM_PROTO_SPAMD_H
#define RM_PROTO_SPAMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rm_spamd_cmd {
    RM_SPAMD_CHECK,   /* verdict and score only */
    RM_SPAMD_SYMBOLS, /* verdict, score and the names of the rules hit */
    RM_SPAMD_REPORT,  /* verdict, score and a text report */
};

/* Room for any request header spamd_request_build makes. */
#define RM_SPAMD_REQ_MAX 512
/* Longest User value accepted. */
#define RM_SPAMD_USER_MAX 255
/* The reader's default cap on a whole reply. */
#define RM_SPAMD_REPLY_MAX (256 * 1024)

/*
 * spamd_request_build - the request header for cmd
 *
 * content_length is the exact byte count of the message the caller sends
 * after the header. user (NULL or "" for none) is sent as "User:"; it
 * must be 1..RM_SPAMD_USER_MAX printable ASCII characters without blanks.
 * Writes the header (not NUL-terminated) into out and its length into
 * *len. Returns 0, -EINVAL (bad cmd or user) or -ENOSPC (size too small;
 * RM_SPAMD_REQ_MAX always suffices).
 */
int spamd_request_build(enum rm_spamd_cmd cmd, uint64_t content_length,
                        const char *user, char *out, size_t size, size_t *len);

/* spamd_cmd_name - "CHECK", "SYMBOLS", "REPORT" */
const char *spamd_cmd_name(enum rm_spamd_cmd cmd);

enum rm_spamd_status {
    RM_SPAMD_OK,    /* code 0: the verdict fields are set */
    RM_SPAMD_ERROR, /* a non-zero code: sr_text says why */
};

struct rm_spamd_reply {
    enum rm_spamd_status sr_status;
    int sr_code;         /* 0 (EX_OK) or the sysexits code */
    char sr_text[128];   /* "EX_OK" or the error text, printable ASCII */
    char sr_version[16]; /* "1.1" */
    bool sr_has_verdict; /* a "Spam:" header was present */
    bool sr_is_spam;
    double sr_score;
    double sr_threshold;
    /* The body (symbol list or report): points into the reader's buffer,
     * valid until the reader is reset or freed. Not NUL-terminated. */
    const char *sr_body;
    size_t sr_body_len;
};

struct rm_spamd_reader {
    char *sd_buf; /* private */
    size_t sd_len, sd_cap, sd_max;
    size_t sd_hdr_end;      /* parsed up to here; then the body offset */
    bool sd_hdrs_done;      /* the empty line after the headers is in */
    size_t sd_scan;         /* no LF before here after sd_hdr_end */
    int64_t sd_content_len; /* -1 when absent */
    int sd_result;          /* 0 while reading, then the final result */
    struct rm_spamd_reply sd_reply; /* valid once feed returned 1 */
};

/* spamd_reader_init - an empty reader that accepts at most max bytes of
 * reply (0: RM_SPAMD_REPLY_MAX); allocates nothing yet */
void spamd_reader_init(struct rm_spamd_reader *r, size_t max);

/*
 * spamd_reader_feed - give the reader the next bytes of the reply
 *
 * data/len are the bytes read; eof is true when the server closed the
 * connection. Returns:
 *   0           more bytes are needed;
 *   1           complete: r->sd_reply holds it (look at sr_status: an
 *               error reply is complete after its first line);
 *   -EPROTO     not a spamd reply (bad status line, Spam or
 *               Content-length header);
 *   -EMSGSIZE   the reply passed the reader's maximum;
 *   -EBADMSG    eof inside the reply (truncated);
 *   -EPIPE      eof before any byte (closed early).
 * Without a Content-length header the body runs to eof. After 1 or an
 * error, further calls return the same result.
 */
int spamd_reader_feed(struct rm_spamd_reader *r, const void *data, size_t len,
                      bool eof);

/* spamd_reader_fini - free the buffer of the reader (and the body) */
void spamd_reader_fini(struct rm_spamd_reader *r);

/*
 * spamd_symbols_next - iterate over the names in a SYMBOLS body
 *
 * *pos starts at 0. Sets *name and *len to the next non-empty name (blanks
 * and line ends around it removed; not NUL-terminated) and returns true,
 * or returns false when there is none left.
 */
bool spamd_symbols_next(const struct rm_spamd_reply *r, size_t *pos,
                        const char **name, size_t *len);

/*
 * spamd_parse_decimal - a decimal number "[-+]digits[.digits]"
 *
 * Locale-independent (strtod follows LC_NUMERIC). s/len is the text;
 * leading and trailing blanks are allowed. Returns 0, or -EINVAL.
 */
int spamd_parse_decimal(const char *s, size_t len, double *out);

#endif
