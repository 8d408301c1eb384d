/*
 * NAME
 *   fuzz_beanstalk - libFuzzer target for the beanstalkd reply parser
 *
 * DESCRIPTION
 *   The input is what a beanstalkd (or anything listening where one
 *   should be) sends back on a connection the client reuses. The input
 *   is parsed as a stream of replies, the way the client would read them:
 *     - whole: reply after reply from the front until garbage or "read
 *       more"; each complete reply must use between 3 and RM_BS_REPLY_MAX
 *       bytes, end in CRLF, name a known reply, and carry only what that
 *       reply carries (an id only for INSERTED/BURIED, a valid tube only
 *       for USING);
 *     - in pieces whose sizes come from the input (a client reading
 *       whatever arrived): the sequence of replies and where it stops
 *       must be the same as parsing the whole input;
 *     - "read more" must never be answered for RM_BS_REPLY_MAX bytes or
 *       more (the client's buffer would be full with no progress).
 *   The encoders get the input as a tube name: a name they accept must
 *   be valid and come out as exactly "use <name>\r\n".
 *   A broken promise aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_proto rm_lib
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/beanstalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

struct seq {
    size_t n;
    enum rm_bs_reply_kind kind[MAX_REPLIES];
    uint64_t id[MAX_REPLIES];
    size_t end; /* bytes consumed by complete replies */
    int stop;   /* -EAGAIN or -EBADMSG (or 0: MAX_REPLIES reached) */
};

static void
check_reply(const char *p, size_t used, const struct rm_bs_reply *r)
{
    size_t tl = strnlen(r->bs_tube, sizeof(r->bs_tube));

    if (used < 3 || used > RM_BS_REPLY_MAX)
        abort();
    if (p[used - 2] != '\r' || p[used - 1] != '\n')
        abort();
    if (strcmp(beanstalk_reply_name(r->bs_kind), "?") == 0)
        abort();
    if (tl >= sizeof(r->bs_tube))
        abort();
    if (r->bs_kind == RM_BS_USING) {
        if (!beanstalk_tube_valid(r->bs_tube) || r->bs_id != 0)
            abort();
    } else if (tl != 0) {
        abort();
    }
    if (r->bs_kind != RM_BS_INSERTED && r->bs_kind != RM_BS_BURIED &&
        r->bs_id != 0)
        abort();
    /* the line starts with the reply's name */
    if (strncmp(p, beanstalk_reply_name(r->bs_kind),
                strlen(beanstalk_reply_name(r->bs_kind))) != 0)
        abort();
}

/* whole - parse reply after reply from the front of the whole input */
static void
whole(const char *p, size_t len, struct seq *s)
{
    struct rm_bs_reply r;
    size_t used;
    int rc;

    memset(s, 0, sizeof(*s));
    while (s->n < MAX_REPLIES) {
        used = 0;
        rc = beanstalk_reply_parse(p + s->end, len - s->end, &r, &used);
        if (rc != 0) {
            if (rc != -EAGAIN && rc != -EBADMSG)
                abort();
            if (rc == -EAGAIN && len - s->end >= RM_BS_REPLY_MAX)
                abort();
            s->stop = rc;
            return;
        }
        check_reply(p + s->end, used, &r);
        s->kind[s->n] = r.bs_kind;
        s->id[s->n] = r.bs_id;
        s->n++;
        s->end += used;
    }
}

/* pieces - the same input arriving in chunks sized by the input */
static void
pieces(const char *p, size_t len, const struct seq *want)
{
    struct rm_bs_reply r;
    size_t have = 0, start = 0, n = 0, used, step, k = 0;
    int rc;

    while (n < MAX_REPLIES) {
        rc = beanstalk_reply_parse(p + start, have - start, &r, &used);
        if (rc == 0) {
            if (n >= want->n || r.bs_kind != want->kind[n] ||
                r.bs_id != want->id[n])
                abort();
            n++;
            start += used;
            continue;
        }
        if (rc == -EBADMSG) {
            if (want->stop != -EBADMSG || n != want->n || start != want->end)
                abort();
            return;
        }
        if (have == len)
            break;
        step = 1 + (len > 0 ? (unsigned char)p[k++ % len] % 7 : 0);
        have = have + step > len ? len : have + step;
    }
    if (n != want->n || start != want->end)
        abort();
    if (n < MAX_REPLIES && want->stop != -EAGAIN)
        abort();
}

static void
check_use(const char *p, size_t len)
{
    char name[RM_BS_TUBE_MAX + 2], buf[RM_BS_CMD_MAX];
    size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1, out = 0;

    memcpy(name, p, n);
    name[n] = '\0';
    if (beanstalk_enc_use(buf, sizeof(buf), name, &out) < 0) {
        if (beanstalk_tube_valid(name))
            abort();
        return;
    }
    if (!beanstalk_tube_valid(name) || out != strlen(name) + 6 ||
        memcmp(buf, "use ", 4) != 0 || memcmp(buf + 4, name, out - 6) != 0 ||
        memcmp(buf + out - 2, "\r\n", 2) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct seq s;

    whole(p, size, &s);
    pieces(p, size, &s);
    check_use(p, size);
    return 0;
}
