/*
 * NAME
 *   fuzz_rspamd - libFuzzer target for the HTTP response reader, the
 *   rspamd JSON reply parser and the header sanitizer
 *
 * DESCRIPTION
 *   The input is what an rspamd sends back. Input that starts with
 *   "HTTP/" goes through http_reader_feed, whole and in pieces whose
 *   sizes come from the input (both must agree), and a complete body goes
 *   to rspamd_reply_parse; any other input goes to rspamd_reply_parse
 *   directly. A parsed reply must keep the parser's promises: every
 *   header value it returns passes the sanitizer's invariants (no CR, a
 *   LF only as a fold, no control characters, no line over 998), every
 *   header name is valid, one-line texts hold no control character.
 *   Finally the raw input itself goes through hdr_value_sanitize with
 *   flags from the input, with the same invariants.
 *   A broken promise aborts, so libFuzzer reports it like a crash.
 *
 *   RM_FUZZ_LIBS: rm_proto rm_lib
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/hdr.h"
#include "proto/http.h"
#include "proto/rspamd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* value_ok - the invariants of hdr_value_sanitize's result */
static void
value_ok(const char *v, size_t name_len)
{
    size_t line = name_len + 2, i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != '\0'; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c == '\n') {
            if (v[i + 1] != ' ' && v[i + 1] != '\t')
                abort();
            if (line > RM_HDR_LINE_MAX)
                abort();
            line = 0;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            abort();
        line++;
    }
    if (line > RM_HDR_LINE_MAX)
        abort();
    if (i > 0 && (v[i - 1] == '\n' || v[i - 1] == ' ' || v[i - 1] == '\t'))
        abort();
}

/* text_ok - a one-line text: no control character */
static void
text_ok(const char *t)
{
    if (t == NULL)
        return;
    for (; *t != '\0'; t++)
        if ((unsigned char)*t < 0x20 || (unsigned char)*t == 0x7f)
            abort();
}

static void
parse_json(const char *json, size_t len)
{
    struct rm_rspamd_reply r;
    char err[128];
    size_t i, j;
    int rc;

    rc = rspamd_reply_parse(json, len, &r, err, sizeof(err));
    if (rc != 0 && rc != -EBADMSG && rc != -EPROTO && rc != -EREMOTEIO)
        abort();
    if (rc == 0 && r.rr_action == NULL)
        abort();
    text_ok(r.rr_action);
    text_ok(r.rr_smtp_message);
    text_ok(r.rr_message_id);
    text_ok(r.rr_error);
    value_ok(r.rr_subject, 7);
    for (i = 0; i < r.rr_nsymbols; i++) {
        text_ok(r.rr_symbols[i].rs_name);
        for (j = 0; j < r.rr_symbols[i].rs_noptions; j++)
            text_ok(r.rr_symbols[i].rs_options[j]);
    }
    if (r.rr_nsymbols > RM_RSPAMD_MAX_SYMBOLS ||
        r.rr_nadd > RM_RSPAMD_MAX_HEADERS ||
        r.rr_ndel > RM_RSPAMD_MAX_HEADERS || r.rr_ndkim > RM_RSPAMD_MAX_DKIM)
        abort();
    for (i = 0; i < r.rr_nadd; i++) {
        if (!hdr_name_valid(r.rr_add[i].ha_name, strlen(r.rr_add[i].ha_name)))
            abort();
        value_ok(r.rr_add[i].ha_value, strlen(r.rr_add[i].ha_name));
    }
    for (i = 0; i < r.rr_ndel; i++)
        if (!hdr_name_valid(r.rr_del[i].hd_name, strlen(r.rr_del[i].hd_name)))
            abort();
    for (i = 0; i < r.rr_ndkim; i++)
        value_ok(r.rr_dkim[i], 14);
    rspamd_reply_free(&r);
}

static int
feed_http(struct rm_http_reader *h, const uint8_t *data, size_t size,
          bool split)
{
    size_t off = 0, step;
    int rc = 0;

    http_reader_init(h, 1 << 20);
    if (!split) {
        rc = http_reader_feed(h, data, size, false);
        return rc != 0 ? rc : http_reader_feed(h, NULL, 0, true);
    }
    while (off < size && rc == 0) {
        step = 1 + data[off] % 29;
        if (step > size - off)
            step = size - off;
        rc = http_reader_feed(h, data + off, step, false);
        off += step;
    }
    return rc != 0 ? rc : http_reader_feed(h, NULL, 0, true);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rm_http_reader a, b;
    unsigned flags;
    char *v;
    int ra, rb;

    if (size >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        ra = feed_http(&a, data, size, false);
        rb = feed_http(&b, data, size, true);
        if (ra != rb)
            abort();
        if (ra == 1) {
            if (a.hr_status != b.hr_status ||
                a.hr_body.pb_len != b.hr_body.pb_len ||
                (a.hr_body.pb_len > 0 &&
                 memcmp(a.hr_body.pb_data, b.hr_body.pb_data,
                        a.hr_body.pb_len) != 0))
                abort();
            text_ok(a.hr_reason);
            parse_json(a.hr_body.pb_data ? a.hr_body.pb_data : "",
                       a.hr_body.pb_len);
        } else if (ra != -EPROTO && ra != -EMSGSIZE && ra != -EBADMSG &&
                   ra != -EPIPE) {
            abort();
        }
        http_reader_fini(&a);
        http_reader_fini(&b);
    } else {
        parse_json((const char *)data, size);
    }

    flags = size > 0 ? data[size - 1] & 3 : 0;
    v = hdr_value_sanitize((const char *)data, size, size % 50,
                           size > 0 ? data[0] : 0, flags);
    value_ok(v, size % 50);
    free(v);
    return 0;
}
