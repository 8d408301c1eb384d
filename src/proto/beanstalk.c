/*
 * NAME
 *   beanstalk - beanstalkd protocol encoders and reply parser
 *
 * DESCRIPTION
 *   See beanstalk.h. The parser is strict on purpose: the client keeps
 *   connections open across messages, so a reply it does not understand
 *   byte for byte means it has lost track of the stream, and it must
 *   drop the connection rather than guess.
 *
 *   Invariants: the parser reads at most RM_BS_REPLY_MAX bytes of buf and
 *   never writes outside *out; it never reads past len.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Pure functions over caller memory; no state; thread-safe.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/beanstalk.h"

/* The replies, in the order of enum rm_bs_reply_kind, and whether each
 * carries an argument (0 none, 1 a job id, 2 a tube). */
static const struct {
    const char *word;
    int arg;
} replies[] = {
    [RM_BS_USING] = {"USING", 2},
    [RM_BS_INSERTED] = {"INSERTED", 1},
    [RM_BS_BURIED] = {"BURIED", 1},
    [RM_BS_EXPECTED_CRLF] = {"EXPECTED_CRLF", 0},
    [RM_BS_JOB_TOO_BIG] = {"JOB_TOO_BIG", 0},
    [RM_BS_DRAINING] = {"DRAINING", 0},
    [RM_BS_OUT_OF_MEMORY] = {"OUT_OF_MEMORY", 0},
    [RM_BS_INTERNAL_ERROR] = {"INTERNAL_ERROR", 0},
    [RM_BS_BAD_FORMAT] = {"BAD_FORMAT", 0},
    [RM_BS_UNKNOWN_COMMAND] = {"UNKNOWN_COMMAND", 0},
};

#define N_REPLIES (sizeof(replies) / sizeof(replies[0]))

/* tube_char - a byte beanstalkd allows in a tube name (its NAME_CHARS) */
static bool
tube_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("-+/;.$_()", c) != NULL;
}

/* tube_valid_n - the rules of beanstalk_tube_valid over p[0..n) */
static bool
tube_valid_n(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > RM_BS_TUBE_MAX || p[0] == '-')
        return false;
    for (i = 0; i < n; i++)
        if (p[i] == '\0' || !tube_char((unsigned char)p[i]))
            return false;
    return true;
}

bool
beanstalk_tube_valid(const char *name)
{
    return name != NULL &&
           tube_valid_n(name, strnlen(name, RM_BS_TUBE_MAX + 1));
}

int
beanstalk_enc_use(char *buf, size_t size, const char *tube, size_t *len)
{
    int n;

    if (size < RM_BS_CMD_MAX || !beanstalk_tube_valid(tube))
        return -EINVAL;
    n = snprintf(buf, size, "use %s\r\n", tube);
    if (n < 0 || (size_t)n >= size)
        return -EINVAL;
    *len = (size_t)n;
    return 0;
}

int
beanstalk_enc_put(char *buf, size_t size, uint32_t pri, uint32_t delay,
                  uint32_t ttr, uint64_t bytes, size_t *len)
{
    int n;

    if (size < RM_BS_CMD_MAX)
        return -EINVAL;
    n = snprintf(buf, size,
                 "put %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 "\r\n", pri,
                 delay, ttr, bytes);
    if (n < 0 || (size_t)n >= size)
        return -EINVAL;
    *len = (size_t)n;
    return 0;
}

/* parse_id - p[0..n) is 1-20 decimal digits that fit 64 bits */
static int
parse_id(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 20)
        return -EBADMSG;
    for (i = 0; i < n; i++) {
        unsigned d;

        if (p[i] < '0' || p[i] > '9')
            return -EBADMSG;
        d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int
beanstalk_reply_parse(const char *buf, size_t len, struct rm_bs_reply *out,
                      size_t *used)
{
    const char *end, *arg;
    size_t line, wl, al, k, scan;

    /* Find the line end within the reply limit. A NUL or a LF that is not
     * preceded by CR is garbage right away: beanstalkd never sends them. */
    scan = len < RM_BS_REPLY_MAX ? len : RM_BS_REPLY_MAX;
    end = NULL;
    for (k = 0; k < scan; k++) {
        if (buf[k] == '\0')
            return -EBADMSG;
        if (buf[k] == '\n') {
            if (k == 0 || buf[k - 1] != '\r')
                return -EBADMSG;
            end = buf + k - 1;
            break;
        }
    }
    if (end == NULL)
        return len >= RM_BS_REPLY_MAX ? -EBADMSG : -EAGAIN;
    line = (size_t)(end - buf);
    /* a CR anywhere else in the line is garbage too */
    if (memchr(buf, '\r', line) != NULL)
        return -EBADMSG;

    arg = memchr(buf, ' ', line);
    wl = arg ? (size_t)(arg - buf) : line;
    al = arg ? line - wl - 1 : 0;
    if (arg != NULL)
        arg++;
    for (k = 0; k < N_REPLIES; k++) {
        if (strlen(replies[k].word) != wl ||
            memcmp(replies[k].word, buf, wl) != 0)
            continue;
        switch (replies[k].arg) {
        case 0:
            if (arg != NULL)
                return -EBADMSG;
            break;
        case 1:
            if (arg == NULL || parse_id(arg, al, &out->bs_id) < 0)
                return -EBADMSG;
            break;
        default:
            if (arg == NULL || !tube_valid_n(arg, al))
                return -EBADMSG;
            memcpy(out->bs_tube, arg, al);
            out->bs_tube[al] = '\0';
            break;
        }
        out->bs_kind = (enum rm_bs_reply_kind)k;
        if (replies[k].arg != 1)
            out->bs_id = 0;
        if (replies[k].arg != 2)
            out->bs_tube[0] = '\0';
        if (used != NULL)
            *used = line + RM_BS_CRLF_LEN;
        return 0;
    }
    return -EBADMSG;
}

const char *
beanstalk_reply_name(enum rm_bs_reply_kind kind)
{
    if ((size_t)kind >= N_REPLIES)
        return "?";
    return replies[kind].word;
}
