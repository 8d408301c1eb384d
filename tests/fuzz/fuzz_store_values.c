/*
 * NAME
 *   fuzz_store_values - libFuzzer target for the state values read back
 *   from Redis (rate-limit buckets, greylisting records) and the envelope
 *   forms the keys are built from
 *
 * DESCRIPTION
 *   Redis is shared by several daemons (and writable by anyone who can
 *   reach it), so a stored value may be anything: what one daemon reads
 *   back must never crash it or turn into nonsense arithmetic. The input
 *   is split at NUL bytes into up to four strings:
 *     1. a bucket value "<last_ms>:<level>": store_bucket_parse either
 *        refuses it or gives a finite level >= 0; a parsed state formats
 *        and parses back to the same bits; store_bucket_apply on it (with
 *        burst, rate, increment and time taken from the input) keeps the
 *        level finite and >= 0, and store_bucket_ttl_ms stays bounded
 *        (UBSan reports any overflowing conversion);
 *     2. a greylisting record value: greylist_value_parse refuses it or
 *        round-trips; greylist_decide on it gives a verdict whose times
 *        are consistent (pass_at = now + wait for NEW/TOO_EARLY);
 *     3. an envelope address as an MTA sends it: envelope_addr_norm is
 *        lowercase, within its documented size, never longer when
 *        normalised again, refuses a buffer too small, and its local part
 *        lies inside it;
 *     4. 17 bytes: an address family bit and 16 address bytes, masked by
 *        envelope_client_net with prefix lengths from the input.
 *   A broken promise aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_modules rm_core rm_store rm_cfg rm_net rm_proto rm_lib
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/greylist_key.h"
#include "proto/envelope.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double
pick(const uint8_t *p, size_t n, double scale)
{
    uint32_t v = 0;
    size_t i;

    for (i = 0; i < n && i < 4; i++)
        v = v << 8 | p[i];
    return (double)v / 65536.0 * scale;
}

static void
bucket(const char *text, const uint8_t *data, size_t size)
{
    struct rm_bucket_state st, st2;
    struct rm_bucket_req req;
    struct rm_bucket_res res;
    char buf[128];
    uint64_t ttl;

    if (store_bucket_parse(text, &st) < 0)
        return;
    if (!isfinite(st.level) || st.level < 0)
        abort();
    if (store_bucket_format(&st, buf, sizeof(buf)) < 0)
        abort();
    if (store_bucket_parse(buf, &st2) < 0 || st2.last_ms != st.last_ms ||
        memcmp(&st2.level, &st.level, sizeof(st.level)) != 0)
        abort();
    memset(&req, 0, sizeof(req));
    req.now_ms = st.last_ms + (uint64_t)pick(data, size, 1e6);
    req.burst =
        pick(data + (size > 4 ? 4 : size), size > 4 ? size - 4 : 0, 100);
    req.rate = pick(data + (size > 8 ? 8 : size), size > 8 ? size - 8 : 0, 10);
    req.incr = size > 12 ? (double)(int8_t)data[12] : 1;
    req.force = size > 13 && (data[13] & 1);
    (void)store_bucket_apply(&st, true, &req, &res);
    if (!isfinite(res.level) || res.level < 0 || !isfinite(st.level) ||
        st.level < 0)
        abort();
    ttl = store_bucket_ttl_ms(&st, req.rate);
    if (ttl < 1000)
        abort();
}

static void
grey(const char *text, const uint8_t *data, size_t size)
{
    struct rm_grey_decision d;
    uint64_t ms, ms2, now;
    char buf[32];

    if (greylist_value_parse(text, &ms) < 0)
        return;
    if (greylist_value_format(ms, buf, sizeof(buf)) < 0 ||
        greylist_value_parse(buf, &ms2) < 0 || ms2 != ms)
        abort();
    now = ms + (uint64_t)pick(data, size, 1e7) - 1000000;
    greylist_decide(&ms, now, 300000, 86400000, &d);
    if (d.verdict != RM_GREY_NEW && d.verdict != RM_GREY_TOO_EARLY &&
        d.verdict != RM_GREY_PASS)
        abort();
    if (d.verdict != RM_GREY_PASS && d.pass_at_ms != now + d.wait_ms)
        abort();
    (void)greylist_wait_seconds(&d);
}

static void
addr(const char *raw)
{
    size_t n = strlen(raw) + 3, i, llen;
    char *a = malloc(n), *b = malloc(n);
    const char *lp;
    int r1, r2;

    if (a == NULL || b == NULL)
        abort();
    r1 = envelope_addr_norm(raw, a, n);
    if (r1 < 0 || (size_t)r1 >= n || strlen(a) != (size_t)r1)
        abort();
    for (i = 0; a[i]; i++)
        if (a[i] >= 'A' && a[i] <= 'Z')
            abort();
    /* (not a fixed point in general: malformed input such as "<<a@b>>"
     * or "@route: b" keeps what is outside the one pair of brackets and
     * the route it removes; a well-formed address is canonical at once) */
    r2 = envelope_addr_norm(a, b, n);
    if (r2 < 0 || r2 > r1)
        abort();
    lp = envelope_local_part(a, &llen);
    if (lp < a || lp + llen > a + r1)
        abort();
    if (envelope_addr_is_null(a) != (strcmp(a, "<>") == 0))
        abort();
    /* too small a buffer is refused, never overrun */
    if (r1 > 0 && envelope_addr_norm(raw, b, (size_t)r1) != -ENAMETOOLONG)
        abort();
    free(a);
    free(b);
}

static void
net(const uint8_t *p, size_t n)
{
    struct rm_ipaddr ip;
    char out[RM_ENVELOPE_NET_MAX];
    int r;

    if (n < 17)
        return;
    memset(&ip, 0, sizeof(ip));
    ip.family = (p[0] & 1) ? AF_INET6 : AF_INET;
    memcpy(ip.a, p + 1, 16);
    r = envelope_client_net(&ip, p[0] >> 1 & 63, (unsigned)p[0] * 3 % 140, out,
                            sizeof(out));
    if (r >= 0 && (size_t)r != strlen(out))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *part[4] = {0};
    size_t i, k = 0, start = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    for (i = 0; i <= size && k < 4; i++) {
        if (i == size || s[i] == '\0') {
            part[k++] = s + start;
            start = i + 1;
        }
    }
    if (part[0])
        bucket(part[0], data, size);
    if (part[1])
        grey(part[1], data, size);
    if (part[2])
        addr(part[2]);
    if (part[3])
        net((const uint8_t *)part[3], size - (size_t)(part[3] - s));
    free(s);
    return 0;
}
