/*
 * NAME
 *   store_bucket - leaky-bucket arithmetic and its text form
 *
 * DESCRIPTION
 *   Pure functions: no I/O, no clock, no state. The embedded store calls
 *   store_bucket_apply under its lock; store_redis.c carries the same
 *   arithmetic as a Lua script (written step for step like this file, with
 *   the same operation order so that both give bit-identical doubles).
 *   Change one, change the other, and the unit tests of both.
 *
 *   A bucket is "<last_ms>:<level>": the time of the last change in ms
 *   (the caller's clock, normally the wall clock) and the level in messages,
 *   printed with %.17g so that it reads back exactly.
 *
 *   Off-by-one, decided: a message fits when level + 1 <= burst. From an
 *   empty bucket exactly floor(burst) messages pass at one instant (the
 *   original rmilter tested "level > burst" after the fact and let
 *   burst + 1 through).
 *
 * SEE ALSO
 *   store.h (LEAKY BUCKETS), store_redis.c (the Lua script)
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* No bucket lives longer than this, whatever its rate. */
#define BUCKET_TTL_MAX_MS (365ull * 86400 * 1000)

bool
store_bucket_apply(struct rm_bucket_state *st, bool have,
                   const struct rm_bucket_req *req, struct rm_bucket_res *res)
{
    double level = 0;
    uint64_t last = req->now_ms;
    bool store = false, over = false;

    if (have) {
        level = st->level;
        last = st->last_ms;
        if (!isfinite(level) || level < 0)
            level = 0;
    }
    if (req->now_ms > last) {
        level = level - (double)(req->now_ms - last) / 1000.0 * req->rate;
        if (level < 0)
            level = 0;
        last = req->now_ms;
    }

    if (req->incr == 0) {
        over = level + 1 > req->burst + RM_BUCKET_EPSILON;
    } else if (req->incr > 0) {
        over = level + req->incr > req->burst + RM_BUCKET_EPSILON;
        if (!over || req->force) {
            level = level + req->incr;
            store = true;
        }
    } else {
        level = level + req->incr;
        if (level < 0)
            level = 0;
        store = true;
    }

    st->level = level;
    st->last_ms = last;
    res->level = level;
    res->over = over;
    return store;
}

int
store_bucket_format(const struct rm_bucket_state *st, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%" PRIu64 ":%.17g", st->last_ms, st->level);

    if (n < 0 || (size_t)n >= len)
        return -EMSGSIZE;
    return 0;
}

int
store_bucket_parse(const char *text, struct rm_bucket_state *st)
{
    const char *p = text;
    uint64_t last = 0;
    char *end;
    double level;

    if (*p < '0' || *p > '9')
        return -EBADMSG;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (last > (UINT64_MAX - 9) / 10)
            return -EBADMSG;
        last = last * 10 + (uint64_t)(*p - '0');
    }
    if (*p++ != ':' || *p == '\0' || *p == ' ')
        return -EBADMSG;
    errno = 0;
    level = strtod(p, &end);
    if (errno != 0 || *end != '\0' || !isfinite(level) || level < 0)
        return -EBADMSG;
    st->last_ms = last;
    st->level = level;
    return 0;
}

uint64_t
store_bucket_ttl_ms(const struct rm_bucket_state *st, double rate)
{
    double ms;

    if (!(st->level > 0) || !(rate > 0))
        return 1000;
    ms = ceil(st->level / rate * 1000) + 1000;
    if (!(ms < (double)BUCKET_TTL_MAX_MS))
        return BUCKET_TTL_MAX_MS;
    return (uint64_t)ms;
}
