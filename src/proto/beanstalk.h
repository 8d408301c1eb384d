/*
 * NAME
 *   beanstalk - beanstalkd protocol: the use and put commands, and replies
 *
 * DESCRIPTION
 *   The two producer commands rmilter sends (beanstalkd's protocol.txt):
 *
 *     use <tube>\r\n                          -> USING <tube>\r\n
 *     put <pri> <delay> <ttr> <bytes>\r\n
 *     <data>\r\n                              -> INSERTED <id>\r\n
 *                                                BURIED <id>\r\n
 *                                                EXPECTED_CRLF\r\n
 *                                                JOB_TOO_BIG\r\n
 *                                                DRAINING\r\n
 *   and, to any command, OUT_OF_MEMORY, INTERNAL_ERROR, BAD_FORMAT or
 *   UNKNOWN_COMMAND.
 *
 *   The encoders write the command lines; the job data itself is never
 *   copied: a caller writes the put line, the data (from the spool) and
 *   RM_BS_CRLF with one writev.
 *
 *   The reply parser reads one reply from the front of a buffer as bytes
 *   arrive: it answers "complete" with the bytes it used, "need more", or
 *   "garbage". A reply must be one of the words above, each argument in
 *   exactly the form beanstalkd writes it (an id is 1 to 20 decimal
 *   digits and fits 64 bits; USING names a valid tube), terminated by
 *   CRLF. Anything else (a bare LF, a NUL, an unknown word, a missing or
 *   extra argument, a line longer than RM_BS_REPLY_MAX) is garbage: the
 *   caller must drop the connection, since it no longer knows where the
 *   next reply starts.
 *
 *   Pure code: no I/O, no allocation, no global state; thread-safe.
 *
 * SEE ALSO
 *   https://github.com/beanstalkd/beanstalkd/blob/master/doc/protocol.txt,
 *   research/rmilter.md section 7.10, modules/beanstalk_client.h
 */
#ifndef RM_PROTO_BEANSTALK_H
#define RM_PROTO_BEANSTALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default port and tube of beanstalkd. */
#define RM_BS_PORT 11300
#define RM_BS_DEFAULT_TUBE "default"
/* Longest tube name beanstalkd accepts (MAX_TUBE_NAME_LEN - 1). */
#define RM_BS_TUBE_MAX 200
/* Longest reply line, CRLF included ("USING " + 200 + CRLF fits). */
#define RM_BS_REPLY_MAX 256
/* Room for any command line the encoders write, CRLF and NUL included. */
#define RM_BS_CMD_MAX 256
/* What follows the data of a put. */
#define RM_BS_CRLF "\r\n"
#define RM_BS_CRLF_LEN 2

enum rm_bs_reply_kind {
    RM_BS_USING,           /* use: the tube is now in use (bs_tube) */
    RM_BS_INSERTED,        /* put: stored as job bs_id */
    RM_BS_BURIED,          /* put: stored as job bs_id, but buried (the
                              server could not grow its ready queue) */
    RM_BS_EXPECTED_CRLF,   /* put: the data was not followed by CRLF */
    RM_BS_JOB_TOO_BIG,     /* put: more bytes than the server's -z */
    RM_BS_DRAINING,        /* put: the server takes no new jobs */
    RM_BS_OUT_OF_MEMORY,   /* any: the server is out of memory */
    RM_BS_INTERNAL_ERROR,  /* any: a server bug */
    RM_BS_BAD_FORMAT,      /* any: the command line was malformed */
    RM_BS_UNKNOWN_COMMAND, /* any: the server does not know the command */
};

struct rm_bs_reply {
    enum rm_bs_reply_kind bs_kind;
    uint64_t bs_id;                   /* INSERTED, BURIED */
    char bs_tube[RM_BS_TUBE_MAX + 1]; /* USING, NUL-terminated */
};

/* beanstalk_tube_valid - true if name is a tube name beanstalkd accepts:
 * 1 to RM_BS_TUBE_MAX bytes of A-Z a-z 0-9 - + / ; . $ _ ( ), not starting
 * with '-' */
bool beanstalk_tube_valid(const char *name);

/*
 * beanstalk_enc_use - "use <tube>\r\n" into buf (NUL-terminated)
 *
 * Sets *len to the length without the NUL. Returns 0, or -EINVAL when the
 * tube name is not valid (beanstalk_tube_valid) or buf is smaller than
 * RM_BS_CMD_MAX.
 */
int beanstalk_enc_use(char *buf, size_t size, const char *tube, size_t *len);

/*
 * beanstalk_enc_put - "put <pri> <delay> <ttr> <bytes>\r\n" into buf
 *
 * The command line only; the caller sends the bytes of data after it and
 * then RM_BS_CRLF. pri: 0 is the most urgent; delay and ttr in seconds
 * (beanstalkd makes a ttr of 0 one second). Sets *len (without the NUL).
 * Returns 0, or -EINVAL when buf is smaller than RM_BS_CMD_MAX.
 */
int beanstalk_enc_put(char *buf, size_t size, uint32_t pri, uint32_t delay,
                      uint32_t ttr, uint64_t bytes, size_t *len);

/*
 * beanstalk_reply_parse - the reply at the front of buf[0..len)
 *
 * Returns
 *   0           a complete reply: *out is filled and *used is its length,
 *               CRLF included (bytes after it belong to the next reply);
 *   -EAGAIN     no CRLF yet and nothing wrong so far: read more;
 *   -EBADMSG    garbage (see DESCRIPTION); *out is untouched.
 * A truncated reply (the peer closed during it) is -EAGAIN here; the
 * caller decides that it is an error when the stream ends. used may be
 * NULL.
 */
int beanstalk_reply_parse(const char *buf, size_t len, struct rm_bs_reply *out,
                          size_t *used);

/* beanstalk_reply_name - "INSERTED", "JOB_TOO_BIG", ... (static) */
const char *beanstalk_reply_name(enum rm_bs_reply_kind kind);

#endif
