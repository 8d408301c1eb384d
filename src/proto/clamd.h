/*
 * NAME
 *   clamd - the clamd INSTREAM request framing and reply parser
 *
 * DESCRIPTION
 *   Request: "zINSTREAM\0", then the message as chunks, each a 4-byte
 *   big-endian length followed by that many bytes, then a zero length.
 *   A struct rm_clamd_enc frames a body that the caller reads piecewise
 *   (from the spool) into buffers the caller then writes to the socket,
 *   so the message is never copied whole.
 *
 *   Reply (clamd 0.9x..1.x, as captured from clamd 1.4 with the z prefix,
 *   terminated by NUL; with the n prefix by LF):
 *     "stream: OK"                            clean
 *     "stream: <name> FOUND"                  virus
 *     "stream: <text> ERROR"                  error (e.g. a scan failure)
 *     "INSTREAM size limit exceeded. ERROR"   error (StreamMaxLength)
 *     "<n>: ..." (IDSESSION)                  the same after the prefix
 *     anything else ("UNKNOWN COMMAND")       protocol error
 *   A struct rm_clamd_reader collects the reply up to its terminator (or
 *   EOF) from bytes as they arrive and parses it.
 *
 *   Pure code: no I/O, no allocation, no global state; thread-safe.
 *
 * SEE ALSO
 *   research/rmilter.md section 7.5, clamd(8) (INSTREAM, z/n prefixes)
 */
#ifndef RM_PROTO_CLAMD_H
#define RM_PROTO_CLAMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The command, with its NUL terminator. */
#define RM_CLAMD_INSTREAM "zINSTREAM"
#define RM_CLAMD_INSTREAM_LEN 10 /* including the NUL */
#define RM_CLAMD_CHUNK_HDR 4     /* the big-endian length before a chunk */
/* Longest reply the reader keeps (clamd's are one short line). */
#define RM_CLAMD_REPLY_MAX 1024
/* Longest virus name or error text kept in a parsed reply. */
#define RM_CLAMD_TEXT_MAX 256

/* ---------------------------------------------------------------------- */
/* Request */

/*
 * A body source: put up to size bytes of the message into buf and set
 * *len; *len == 0 means the message is complete. Returns 0, or a negative
 * code that aborts the encoding (and is passed back to the caller).
 */
typedef int (*rm_clamd_read_fn)(void *ud, void *buf, size_t size, size_t *len);

struct rm_clamd_enc {
    int ce_state;           /* private: command, chunks, end, done */
    uint64_t ce_body_bytes; /* body bytes framed so far */
};

/* clamd_enc_init - start a new request */
void clamd_enc_init(struct rm_clamd_enc *enc);

/*
 * clamd_enc_fill - the next bytes of the request
 *
 * Writes into out (size >= RM_CLAMD_CHUNK_HDR + 1 and >=
 * RM_CLAMD_INSTREAM_LEN): first the command, then chunks, each with its
 * header and up to size - 4 bytes taken from read(ud, ...), then the zero
 * terminator. Sets *len to the bytes written; *len == 0 means the request
 * is complete (the terminator was already returned). Returns 0, -EINVAL
 * (size too small), or read's negative code.
 *
 * The signature fits net/batch.h's request fill callback with enc bound
 * by a small wrapper.
 */
int clamd_enc_fill(struct rm_clamd_enc *enc, rm_clamd_read_fn read, void *ud,
                   void *out, size_t size, size_t *len);

/* clamd_enc_done - true once the terminator has been returned */
bool clamd_enc_done(const struct rm_clamd_enc *enc);

/*
 * clamd_chunk_header - the 4-byte header of a chunk of len bytes
 *
 * For callers that frame chunks themselves (writev of header + data):
 * len 0 is the terminator. Returns -EFBIG if len does not fit 32 bits.
 */
int clamd_chunk_header(uint64_t len, unsigned char out[RM_CLAMD_CHUNK_HDR]);

/* ---------------------------------------------------------------------- */
/* Reply */

enum rm_clamd_status {
    RM_CLAMD_CLEAN,    /* "stream: OK" */
    RM_CLAMD_VIRUS,    /* cr_text is the (sanitized) virus name */
    RM_CLAMD_ERROR,    /* cr_text is clamd's error text */
    RM_CLAMD_PROTOCOL, /* not a reply we know; cr_text is the sanitized
                          reply, for the log */
};

struct rm_clamd_reply {
    enum rm_clamd_status cr_status;
    /* RM_CLAMD_ERROR because the stream passed clamd's StreamMaxLength:
     * the message's fault, not the server's. */
    bool cr_size_limit;
    /* The virus name: only [A-Za-z0-9] and "._-:+/!@#=,()[]{}~" kept,
     * other bytes as '_'; the error or unknown text: printable ASCII,
     * blanks collapsed. Cut to RM_CLAMD_TEXT_MAX - 1 bytes. */
    char cr_text[RM_CLAMD_TEXT_MAX];
};

/*
 * clamd_reply_parse - parse one complete reply
 *
 * buf/len is the reply with or without its terminator (NUL or LF; a CR
 * before an LF is ignored). Always fills out; returns 0, or -EPROTO when
 * out->cr_status is RM_CLAMD_PROTOCOL.
 */
int clamd_reply_parse(const char *buf, size_t len, struct rm_clamd_reply *out);

struct rm_clamd_reader {
    char cd_buf[RM_CLAMD_REPLY_MAX];
    size_t cd_len;
    int cd_result; /* private: 0 while reading, then the final result */
    struct rm_clamd_reply cd_reply; /* valid once feed returned 1 */
};

/* clamd_reader_init - an empty reader */
void clamd_reader_init(struct rm_clamd_reader *r);

/*
 * clamd_reader_feed - give the reader the next bytes of the reply
 *
 * data/len are the bytes read (len may be 0); eof is true when the server
 * closed the connection (after the last data). Returns:
 *   0           more bytes are needed;
 *   1           the reply is complete and parsed into r->cd_reply (also
 *               when it is RM_CLAMD_PROTOCOL: look at its status); bytes
 *               after the terminator are ignored;
 *   -EMSGSIZE   RM_CLAMD_REPLY_MAX bytes came without a terminator;
 *   -EPIPE      eof with no reply byte at all (closed early).
 * A reply cut by eof without its terminator is parsed as it is.
 * After 1 or an error, further calls return the same result.
 */
int clamd_reader_feed(struct rm_clamd_reader *r, const void *data, size_t len,
                      bool eof);

/* clamd_status_name - "clean", "virus", "error", "protocol error" */
const char *clamd_status_name(enum rm_clamd_status st);

#endif
