/*
 * NAME
 *   test_proto_rspamd - the /checkv2 request head, the HTTP response
 *   reader and the JSON reply parser
 *
 * DESCRIPTION
 *   Request heads are checked byte for byte. The HTTP reader and the JSON
 *   parser get responses captured from a real rspamd 3.4
 *   (tests/unit/data/proto/rspamd_*.bin, made with
 *   research/harness/rspamd.sh plus milter_headers and dkim_signing for
 *   example.org: GTUBE reject, add header, rewrite subject with a UTF-8
 *   subject, a ham message with add/remove header instructions and a
 *   DKIM signature, rspamd's own error), fed whole and byte by byte; then
 *   hand-made chunked, interim, truncated, oversized and garbage
 *   responses, and JSON of every shape the parser accepts or refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "proto/http.h"
#include "proto/rspamd.h"

static char *
fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/tests/unit/data/proto/%s", RM_SOURCE_DIR,
             name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* crlf_to_lf - s with every CR LF as LF, in a static buffer */
static const char *
crlf_to_lf(const char *s)
{
    static char out[4096];
    size_t o = 0;

    for (; *s != '\0'; s++) {
        if (s[0] == '\r' && s[1] == '\n')
            continue;
        assert_true(o + 1 < sizeof(out));
        out[o++] = *s;
    }
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------------- */
/* Request */

static void
test_request_full(void **state)
{
    static const char want[] = "POST /checkv2 HTTP/1.1\r\n"
                               "Host: localhost\r\n"
                               "Connection: close\r\n"
                               "IP: 192.0.2.1\r\n"
                               "Helo: mx.example.org\r\n"
                               "From: a@example.org\r\n"
                               "Rcpt: b@example.test\r\n"
                               "Rcpt: <c@example.test>\r\n"
                               "Queue-Id: 4ABC123\r\n"
                               "User: alice\r\n"
                               "MTA-Tag: smtpd\r\n"
                               "Hostname: mx.example.org\r\n"
                               "Settings-ID: strict\r\n"
                               "Content-Length: 12345\r\n"
                               "\r\n";
    const char *rcpt[] = {"b@example.test", "<c@example.test>"};
    struct rm_rspamd_env env = {
        .re_ip = "192.0.2.1",
        .re_helo = "mx.example.org",
        .re_from = "a@example.org",
        .re_rcpt = rcpt,
        .re_nrcpt = 2,
        .re_queue_id = "4ABC123",
        .re_user = "alice",
        .re_mta_tag = "smtpd",
        .re_hostname = "mx.example.org",
        .re_settings_id = "strict",
        .re_content_length = 12345,
    };
    char *out;
    size_t len;

    (void)state;
    assert_int_equal(rspamd_request_build(&env, &out, &len), 0);
    assert_int_equal(len, sizeof(want) - 1);
    assert_string_equal(out, want);
    free(out);
}

static void
test_request_minimal(void **state)
{
    static const char want[] = "POST /check HTTP/1.1\r\n"
                               "Host: rspamd.example\r\n"
                               "Connection: close\r\n"
                               "Helo: evil? Injected: x\r\n"
                               "From: <>\r\n"
                               "Rcpt: a?b\r\n"
                               "Settings: {\"groups_enabled\":[\"dkim\"]}\r\n"
                               "Content-Length: 0\r\n"
                               "\r\n";
    const char *rcpt[] = {"a\x7f"
                          "b",
                          NULL};
    struct rm_rspamd_env env = {
        .re_path = "/check",
        .re_host = "rspamd.example",
        .re_helo = "evil\n Injected: x",
        .re_from = "",
        .re_rcpt = rcpt,
        .re_nrcpt = 2,
        .re_hostname = "unknown",
        .re_settings = "{\"groups_enabled\":[\"dkim\"]}",
    };
    char *out;
    size_t len;

    (void)state;
    assert_int_equal(rspamd_request_build(&env, &out, &len), 0);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);

    env.re_path = "/check v2";
    assert_int_equal(rspamd_request_build(&env, &out, &len), -EINVAL);
    assert_null(out);
    env.re_path = NULL;
    env.re_host = "a\r\nb";
    assert_int_equal(rspamd_request_build(&env, &out, &len), -EINVAL);
    assert_int_equal(rspamd_request_build(NULL, &out, &len), -EINVAL);
}

/* ---------------------------------------------------------------------- */
/* HTTP */

/* http_all - feed s whole (or byte by byte), then eof; the result */
static int
http_all(struct rm_http_reader *r, const char *s, size_t len, bool bytes,
         size_t max)
{
    size_t i;
    int rc = 0;

    http_reader_init(r, max);
    if (bytes) {
        for (i = 0; i < len && rc == 0; i++)
            rc = http_reader_feed(r, s + i, 1, false);
    } else {
        rc = http_reader_feed(r, s, len, false);
    }
    if (rc == 0)
        rc = http_reader_feed(r, NULL, 0, true);
    return rc;
}

static void
test_http_real(void **state)
{
    struct rm_http_reader r;
    char *buf, val[64];
    size_t len;
    int bytes;

    (void)state;
    for (bytes = 0; bytes < 2; bytes++) {
        buf = fixture("rspamd_gtube.bin", &len);
        assert_int_equal(http_all(&r, buf, len, bytes, 0), 1);
        assert_int_equal(r.hr_status, 200);
        assert_int_equal(r.hr_minor, 1);
        assert_string_equal(r.hr_reason, "OK");
        assert_int_equal(r.hr_content_len, 234);
        assert_true(r.hr_close);
        assert_false(r.hr_chunked);
        assert_int_equal(r.hr_body.pb_len, 234);
        assert_memory_equal(r.hr_body.pb_data, "{\"is_skipped\":true", 18);
        assert_int_equal(http_reader_header(&r, "server", val, sizeof(val)),
                         10);
        assert_string_equal(val, "rspamd/3.4");
        assert_int_equal(http_reader_header(&r, "Content-Type", val, 5), 16);
        assert_string_equal(val, "appl");
        assert_int_equal(http_reader_header(&r, "X-None", val, sizeof(val)),
                         -ENOENT);
        http_reader_fini(&r);
        free(buf);

        buf = fixture("rspamd_404.bin", &len);
        assert_int_equal(http_all(&r, buf, len, bytes, 0), 1);
        assert_int_equal(r.hr_status, 500);
        assert_string_equal(r.hr_reason, "invalid command");
        assert_int_equal(r.hr_body.pb_len, 59);
        http_reader_fini(&r);
        free(buf);
    }
}

static void
test_http_complete_without_eof(void **state)
{
    struct rm_http_reader r;
    char *buf;
    size_t len;

    (void)state;
    buf = fixture("rspamd_empty.bin", &len);
    http_reader_init(&r, 0);
    assert_int_equal(http_reader_feed(&r, buf, len - 1, false), 0);
    assert_int_equal(http_reader_feed(&r, buf + len - 1, 1, false), 1);
    /* Sticky, and bytes after the body are ignored. */
    assert_int_equal(http_reader_feed(&r, "garbage", 7, true), 1);
    assert_int_equal(r.hr_body.pb_len, 164);
    http_reader_fini(&r);
    free(buf);
}

#define HTTP_ALL(r, s, bytes, max) http_all(r, s, sizeof(s) - 1, bytes, max)

static void
test_http_framings(void **state)
{
    static const char chunked[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Content-Length: 999\r\n" /* ignored: chunked wins */
        "\r\n"
        "5;ext=1\r\nhello\r\n"
        "1\r\n \r\n"
        "A\r\n0123456789\r\n"
        "0\r\nX-Trailer: y\r\n\r\n";
    static const char to_close[] = "HTTP/1.0 200 OK\n"
                                   "Content-Type: application/json\n"
                                   "\n"
                                   "{\"a\":1}";
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                  "\r\nok";
    static const char nobody[] = "HTTP/1.1 204 No Content\r\n\r\n";
    struct rm_http_reader r;
    int bytes;

    (void)state;
    for (bytes = 0; bytes < 2; bytes++) {
        assert_int_equal(HTTP_ALL(&r, chunked, bytes, 0), 1);
        assert_true(r.hr_chunked);
        assert_string_equal(r.hr_body.pb_data, "hello 0123456789");
        http_reader_fini(&r);

        assert_int_equal(HTTP_ALL(&r, to_close, bytes, 0), 1);
        assert_int_equal(r.hr_minor, 0);
        assert_int_equal(r.hr_content_len, -1);
        assert_string_equal(r.hr_body.pb_data, "{\"a\":1}");
        http_reader_fini(&r);

        assert_int_equal(HTTP_ALL(&r, interim, bytes, 0), 1);
        assert_int_equal(r.hr_status, 200);
        assert_string_equal(r.hr_body.pb_data, "ok");
        http_reader_fini(&r);

        assert_int_equal(HTTP_ALL(&r, nobody, bytes, 0), 1);
        assert_int_equal(r.hr_status, 204);
        assert_int_equal(r.hr_body.pb_len, 0);
        http_reader_fini(&r);
    }
}

static int
http_one(const char *s, size_t len, size_t max)
{
    struct rm_http_reader r;
    int rc = http_all(&r, s, len, false, max);

    http_reader_fini(&r);
    return rc;
}

#define HTTP_ONE(s, max) http_one(s, sizeof(s) - 1, max)

static void
test_http_bad(void **state)
{
    char *buf, *big;
    size_t len, k;

    (void)state;
    /* Truncated anywhere. */
    buf = fixture("rspamd_gtube.bin", &len);
    for (k = 1; k < len; k++) {
        int rc = http_one(buf, k, 0);

        assert_true(rc == -EBADMSG || rc == -EPROTO);
    }
    free(buf);
    assert_int_equal(HTTP_ONE("", 0), -EPIPE);
    assert_int_equal(HTTP_ONE("SPAMD/1.1 0 EX_OK\r\n\r\n", 0), -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/2 200 OK\r\n\r\n", 0), -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 2x0 OK\r\n\r\n", 0), -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 099 Low\r\n\r\n", 0), -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200OK\r\n\r\n", 0), -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", 0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", 0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                              "Content-Length: 2\r\n\r\nab",
                              0),
                     -EPROTO);
    assert_int_equal(
        HTTP_ONE("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0), -EPROTO);
    assert_int_equal(
        HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0),
        -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked, identity\r\n\r\n",
                              0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\nzz\r\n",
                              0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n2\r\nabX\r\n",
                              0),
                     -EPROTO);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
                              0),
                     -EPROTO);
    /* Chunked cut before the last chunk: truncated. */
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n2\r\nab\r\n",
                              0),
                     -EBADMSG);
    /* Limits. */
    assert_int_equal(
        HTTP_ONE("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10),
        -EMSGSIZE);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\n\r\n0123456789A", 10),
                     -EMSGSIZE);
    assert_int_equal(HTTP_ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n6\r\nabcdef\r\n6\r\n",
                              10),
                     -EMSGSIZE);
    big = malloc(RM_HTTP_HEAD_MAX + 100);
    assert_non_null(big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', RM_HTTP_HEAD_MAX + 80);
    assert_int_equal(http_one(big, RM_HTTP_HEAD_MAX + 100, 0), -EMSGSIZE);
    free(big);
}

/* ---------------------------------------------------------------------- */
/* JSON replies */

/* parse_fixture - the body of a captured response, parsed */
static int
parse_fixture(const char *name, struct rm_rspamd_reply *rep)
{
    struct rm_http_reader r;
    char *buf, err[256];
    size_t len;
    int rc;

    buf = fixture(name, &len);
    assert_int_equal(http_all(&r, buf, len, false, 0), 1);
    rc = rspamd_reply_parse(r.hr_body.pb_data, r.hr_body.pb_len, rep, err,
                            sizeof(err));
    http_reader_fini(&r);
    free(buf);
    return rc;
}

static void
test_json_gtube(void **state)
{
    struct rm_rspamd_reply rep;

    (void)state;
    assert_int_equal(parse_fixture("rspamd_gtube.bin", &rep), 0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_REJECT);
    assert_string_equal(rep.rr_action, "reject");
    assert_true(rep.rr_score == 15.0);
    assert_true(rep.rr_required_score == 15.0);
    assert_true(rep.rr_skipped);
    assert_string_equal(rep.rr_smtp_message, "Gtube pattern");
    assert_string_equal(rep.rr_message_id, "g@example.org");
    assert_null(rep.rr_subject);
    assert_int_equal(rep.rr_nsymbols, 1);
    assert_string_equal(rep.rr_symbols[0].rs_name, "GTUBE");
    assert_true(rep.rr_symbols[0].rs_score == 0.0);
    assert_int_equal(rep.rr_symbols[0].rs_noptions, 0);
    assert_int_equal(rep.rr_nadd, 0);
    assert_int_equal(rep.rr_ndel, 0);
    assert_int_equal(rep.rr_ndkim, 0);
    assert_int_equal(rep.rr_dropped, 0);
    rspamd_reply_free(&rep);

    assert_int_equal(parse_fixture("rspamd_add_header.bin", &rep), 0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_ADD_HEADER);
    assert_true(rep.rr_score == 6.0);
    rspamd_reply_free(&rep);
}

static void
test_json_rewrite_subject(void **state)
{
    struct rm_rspamd_reply rep;

    (void)state;
    assert_int_equal(parse_fixture("rspamd_rewrite_subject.bin", &rep), 0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_REWRITE_SUBJECT);
    /* rspamd encoded the UTF-8 subject itself; too long for one line
     * after "Subject: ", it is folded between the encoded words. */
    assert_string_equal(rep.rr_subject,
                        "=?UTF-8?Q?=2A=2A=2A_SPAM_=2A=2A=2A_test?=\n"
                        " =?UTF-8?Q?_Z_=D0=9F=D1=80=D0=B8=D0=B2=D0=B5=D1=82?=");
    rspamd_reply_free(&rep);
}

static void
test_json_ham_milter(void **state)
{
    static const char *names[] = {"X-Rspamd-Server",        "X-Rspamd-Queue-Id",
                                  "Authentication-Results", "X-Rspamd-Action",
                                  "X-Spamd-Result",         "X-Spam-Status"};
    static const char *dels[] = {
        "X-Spam",          "X-Rspamd-Server",        "X-Rspamd-Queue-Id",
        "X-Virus",         "Authentication-Results", "X-Spamd-Result",
        "X-Rspamd-Action", "X-Spam-Status"};
    struct rm_rspamd_reply rep;
    size_t i;

    (void)state;
    assert_int_equal(parse_fixture("rspamd_ham_milter.bin", &rep), 0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_NO_ACTION);
    assert_true(rep.rr_score == -0.1);
    assert_false(rep.rr_skipped);
    assert_null(rep.rr_smtp_message);
    assert_string_equal(rep.rr_message_id, "m1@example.org");
    assert_int_equal(rep.rr_nsymbols, 11);
    assert_string_equal(rep.rr_symbols[1].rs_name, "DKIM_SIGNED");
    assert_int_equal(rep.rr_symbols[1].rs_noptions, 1);
    assert_string_equal(rep.rr_symbols[1].rs_options[0], "example.org:s=test");

    assert_int_equal(rep.rr_nadd, 6);
    for (i = 0; i < 6; i++)
        assert_string_equal(rep.rr_add[i].ha_name, names[i]);
    assert_string_equal(rep.rr_add[0].ha_value, "vm");
    assert_int_equal(rep.rr_add[0].ha_order, -1);
    assert_string_equal(rep.rr_add[1].ha_value, "4ABC123");
    assert_string_equal(
        rep.rr_add[2].ha_value,
        "smtpd;\n\tauth=pass smtp.auth=alice smtp.mailfrom=a@example.org");
    assert_int_equal(rep.rr_add[2].ha_order, 1);
    assert_string_equal(
        rep.rr_add[4].ha_value,
        crlf_to_lf("default: False [-0.10 / 15.00];\r\n"
                   "\tMIME_GOOD(-0.10)[text/plain];\r\n"
                   "\tTO_DN_NONE(0.00)[];\r\n\tARC_NA(0.00)[];\r\n"
                   "\tRCPT_COUNT_ONE(0.00)[1];\r\n"
                   "\tMID_RHS_MATCH_FROM(0.00)[];\r\n"
                   "\tFROM_EQ_ENVFROM(0.00)[];\r\n"
                   "\tTO_MATCH_ENVRCPT_ALL(0.00)[];\r\n"
                   "\tRCVD_COUNT_ZERO(0.00)[0];\r\n"
                   "\tDKIM_SIGNED(0.00)[example.org:s=test];\r\n"
                   "\tFROM_HAS_DN(0.00)[];\r\n\tMIME_TRACE(0.00)[0:+]"));
    assert_string_equal(rep.rr_add[5].ha_value, "No, score=-0.10");

    assert_int_equal(rep.rr_ndel, 8);
    for (i = 0; i < 8; i++) {
        assert_string_equal(rep.rr_del[i].hd_name, dels[i]);
        assert_int_equal(rep.rr_del[i].hd_index, 0);
    }

    /* The signature keeps rspamd's folding (CRs dropped). */
    assert_int_equal(rep.rr_ndkim, 1);
    assert_string_equal(
        rep.rr_dkim[0],
        crlf_to_lf(
            "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=test;\r\n"
            "\tt=1795296521;\r\n"
            "\th=from:from:reply-to:subject:subject:date:date:message-id:"
            "message-id:\r\n"
            "\t to:to:cc; bh=nO7cD9Wm90VQQBjg18+N7DuwVoDg8ofKBKAb5ShlMEY=;\r\n"
            "\tb=IRhScG8irgDFtCFNYPLVFyrrwlSqQiuVSDjvWYRaGmfQS8DOeZwq6+BO4IXfi"
            "ZqknUMF4X\r\n"
            "\tyrOFs6pssjA6UusMRdKCAvBHcnGZ5G50vZVqFhKkyRUVgDvnbA5uJJjX5zdHra4a"
            "ina4Oz\r\n"
            "\t67nALRbiyq7g5wLhUQE+cieRiZPmpa0="));
    assert_int_equal(rep.rr_dropped, 0);
    rspamd_reply_free(&rep);

    assert_int_equal(parse_fixture("rspamd_ham_symbols.bin", &rep), 0);
    assert_int_equal(rep.rr_nsymbols, 28);
    assert_string_equal(rep.rr_symbols[1].rs_options[0],
                        "192.0.2.1:query timed out");
    rspamd_reply_free(&rep);
}

static void
test_json_error_object(void **state)
{
    struct rm_rspamd_reply rep;
    char err[128];

    (void)state;
    assert_int_equal(parse_fixture("rspamd_404.bin", &rep), -EREMOTEIO);
    assert_string_equal(rep.rr_error, "invalid command");
    assert_null(rep.rr_action);
    rspamd_reply_free(&rep);
    assert_null(rep.rr_error);

    assert_int_equal(rspamd_reply_parse("{\"error\":\"a\\r\\nb\"}", 18, &rep,
                                        err, sizeof(err)),
                     -EREMOTEIO);
    assert_string_equal(rep.rr_error, "a b");
    assert_string_equal(err, "rspamd error: a b");
    rspamd_reply_free(&rep);
}

static int
parse(const char *json, struct rm_rspamd_reply *rep)
{
    char err[256];

    return rspamd_reply_parse(json, strlen(json), rep, err, sizeof(err));
}

static void
test_json_milter_shapes(void **state)
{
    static const char json[] =
        "{\"action\":\"add header\",\"score\":7,\"required_score\":15,"
        "\"milter\":{\"add_headers\":{"
        "\"X-A\":\"plain\","
        "\"X-B\":[\"one\",{\"value\":\"two\",\"order\":0},3,"
        "{\"value\":\"x\",\"order\":\"1\"}],"
        "\"X-Evil\":\"a\\r\\nBcc: victim@example.org\\u0001\","
        "\"Bad Name\":\"v\",\"X:Colon\":\"v\",\"X-Obj\":{\"order\":2},"
        "\"X-Num\":5},"
        "\"remove_headers\":{\"X-Spam\":1,\"X-Old\":-1,\"Bad Name\":1,"
        "\"X-Str\":\"1\",\"X-Big\":99999999999}},"
        "\"dkim-signature\":[\"v=1; a\\r\\n\\tb=c\",7,\"v=1;\\nX: y\"]}";
    struct rm_rspamd_reply rep;

    (void)state;
    assert_int_equal(parse(json, &rep), 0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_ADD_HEADER);
    assert_true(rep.rr_score == 7.0);
    assert_int_equal(rep.rr_nadd, 4);
    assert_string_equal(rep.rr_add[0].ha_name, "X-A");
    assert_string_equal(rep.rr_add[0].ha_value, "plain");
    assert_string_equal(rep.rr_add[1].ha_name, "X-B");
    assert_string_equal(rep.rr_add[1].ha_value, "one");
    assert_int_equal(rep.rr_add[1].ha_order, -1);
    assert_string_equal(rep.rr_add[2].ha_value, "two");
    assert_int_equal(rep.rr_add[2].ha_order, 0);
    /* No header line can be injected. */
    assert_string_equal(rep.rr_add[3].ha_name, "X-Evil");
    assert_string_equal(rep.rr_add[3].ha_value, "a Bcc: victim@example.org");
    /* Dropped: 3, order "1", Bad Name, X:Colon, X-Obj, X-Num; remove:
     * Bad Name, X-Str, X-Big; dkim: 7. */
    assert_int_equal(rep.rr_dropped, 10);
    assert_int_equal(rep.rr_ndel, 2);
    assert_string_equal(rep.rr_del[0].hd_name, "X-Spam");
    assert_int_equal(rep.rr_del[0].hd_index, 1);
    assert_string_equal(rep.rr_del[1].hd_name, "X-Old");
    assert_int_equal(rep.rr_del[1].hd_index, -1);
    assert_int_equal(rep.rr_ndkim, 2);
    assert_string_equal(rep.rr_dkim[0], "v=1; a\n\tb=c");
    assert_string_equal(rep.rr_dkim[1], "v=1; X: y");
    rspamd_reply_free(&rep);
}

static void
test_json_actions(void **state)
{
    static const struct {
        const char *text;
        enum rm_rspamd_action id;
    } t[] = {
        {"no action", RM_RSPAMD_NO_ACTION},
        {"greylist", RM_RSPAMD_GREYLIST},
        {"add header", RM_RSPAMD_ADD_HEADER},
        {"rewrite subject", RM_RSPAMD_REWRITE_SUBJECT},
        {"soft reject", RM_RSPAMD_SOFT_REJECT},
        {"reject", RM_RSPAMD_REJECT},
        {"discard", RM_RSPAMD_OTHER},
        {"Reject", RM_RSPAMD_OTHER},
    };
    struct rm_rspamd_reply rep;
    char json[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(json, sizeof(json), "{\"action\":\"%s\"}", t[i].text);
        assert_int_equal(parse(json, &rep), 0);
        assert_int_equal(rep.rr_action_id, t[i].id);
        assert_string_equal(rep.rr_action, t[i].text);
        assert_true(rep.rr_score == 0.0);
        rspamd_reply_free(&rep);
        assert_int_equal(rspamd_action_parse(t[i].text), t[i].id);
        if (t[i].id != RM_RSPAMD_OTHER)
            assert_string_equal(rspamd_action_name(t[i].id), t[i].text);
    }
}

static void
test_json_soft_reject_message(void **state)
{
    struct rm_rspamd_reply rep;

    (void)state;
    /* The SMTP message is ASCII only, on one line. */
    assert_int_equal(
        parse("{\"action\":\"soft reject\",\"score\":5.5,"
              "\"messages\":{\"smtp_message\":\"Try\\r\\nlater \\u00e9\"},"
              "\"subject\":\"Hi \\u041f\\r\\nBcc: x\"}",
              &rep),
        0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_SOFT_REJECT);
    assert_string_equal(rep.rr_smtp_message, "Try later ??");
    /* A UTF-8 subject becomes an encoded word, injection flattened. */
    assert_string_equal(rep.rr_subject, "=?UTF-8?B?SGkg0J8gQmNjOiB4?=");
    rspamd_reply_free(&rep);
}

static void
test_json_legacy_default(void **state)
{
    struct rm_rspamd_reply rep;

    (void)state;
    assert_int_equal(
        parse("{\"default\":{\"is_spam\":true,\"is_skipped\":false,"
              "\"score\":20.5,\"required_score\":15,\"action\":\"reject\","
              "\"GTUBE\":{\"name\":\"GTUBE\",\"score\":0,\"options\":[\"o\"]},"
              "\"R_X\":{\"score\":1.5}},"
              "\"rmilter\":{\"remove_headers\":{\"X-Spam\":0}},"
              "\"dkim-signature\":\"v=1\"}",
              &rep),
        0);
    assert_int_equal(rep.rr_action_id, RM_RSPAMD_REJECT);
    assert_true(rep.rr_score == 20.5);
    assert_int_equal(rep.rr_nsymbols, 2);
    assert_string_equal(rep.rr_symbols[0].rs_name, "GTUBE");
    assert_string_equal(rep.rr_symbols[0].rs_options[0], "o");
    assert_string_equal(rep.rr_symbols[1].rs_name, "R_X"); /* from the key */
    assert_true(rep.rr_symbols[1].rs_score == 1.5);
    assert_int_equal(rep.rr_ndel, 1);
    assert_int_equal(rep.rr_ndkim, 1);
    assert_string_equal(rep.rr_dkim[0], "v=1");
    rspamd_reply_free(&rep);
}

static void
test_json_bad(void **state)
{
    struct rm_rspamd_reply rep;
    char err[256];

    (void)state;
    assert_int_equal(
        rspamd_reply_parse("{\"action\":", 10, &rep, err, sizeof(err)),
        -EBADMSG);
    assert_non_null(strstr(err, "bad JSON"));
    assert_null(rep.rr_action);
    rspamd_reply_free(&rep);
    assert_int_equal(parse("", &rep), -EBADMSG);
    assert_int_equal(parse("{\"action\":\"reject\"} trailing", &rep), -EBADMSG);
    assert_int_equal(parse("{\"action\":\"a\\u0000b\"}", &rep), -EBADMSG);
    assert_int_equal(
        rspamd_reply_parse("{\"action\":\"\xff\"}", 14, &rep, NULL, 0),
        -EBADMSG);
    assert_int_equal(parse("[]", &rep), -EPROTO);
    assert_int_equal(parse("{}", &rep), -EPROTO);
    assert_int_equal(parse("{\"action\":1}", &rep), -EPROTO);
    assert_int_equal(parse("{\"action\":\"reject\",\"score\":\"9\"}", &rep),
                     -EPROTO);
    assert_int_equal(
        parse("{\"action\":\"reject\",\"required_score\":null}", &rep),
        -EPROTO);
    assert_null(rep.rr_action);
    /* Wrong types for optional parts are dropped, not fatal. */
    assert_int_equal(parse("{\"action\":\"reject\",\"symbols\":[],"
                           "\"milter\":7,\"dkim-signature\":{},"
                           "\"subject\":1,\"messages\":[]}",
                           &rep),
                     0);
    assert_int_equal(rep.rr_dropped, 3);
    assert_null(rep.rr_subject);
    rspamd_reply_free(&rep);
}

static void
test_json_caps(void **state)
{
    struct rm_rspamd_reply rep;
    char *json, *p;
    size_t i, size = 64 * (RM_RSPAMD_MAX_SYMBOLS + 10) + 4096;

    (void)state;
    json = malloc(size);
    assert_non_null(json);
    p = json + sprintf(json, "{\"action\":\"no action\",\"symbols\":{");
    for (i = 0; i < RM_RSPAMD_MAX_SYMBOLS + 10; i++)
        p += sprintf(p, "%s\"S%zu\":{\"score\":1}", i ? "," : "", i);
    p += sprintf(p, "},\"milter\":{\"add_headers\":{\"X-M\":[");
    for (i = 0; i < RM_RSPAMD_MAX_HEADERS + 3; i++)
        p += sprintf(p, "%s\"v\"", i ? "," : "");
    p += sprintf(p, "]}},\"x\":{\"options\":[");
    sprintf(p, "]}}");
    assert_int_equal(parse(json, &rep), 0);
    assert_int_equal(rep.rr_nsymbols, RM_RSPAMD_MAX_SYMBOLS);
    assert_int_equal(rep.rr_nadd, RM_RSPAMD_MAX_HEADERS);
    assert_int_equal(rep.rr_dropped, 13);
    rspamd_reply_free(&rep);

    /* Options per symbol. */
    p = json + sprintf(json, "{\"action\":\"no action\",\"symbols\":{\"A\":{"
                             "\"options\":[");
    for (i = 0; i < RM_RSPAMD_MAX_OPTIONS + 2; i++)
        p += sprintf(p, "%s\"o%zu\"", i ? "," : "", i);
    sprintf(p, ",1]}}}");
    assert_int_equal(parse(json, &rep), 0);
    assert_int_equal(rep.rr_symbols[0].rs_noptions, RM_RSPAMD_MAX_OPTIONS);
    assert_int_equal(rep.rr_dropped, 3);
    rspamd_reply_free(&rep);
    free(json);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_full),
        cmocka_unit_test(test_request_minimal),
        cmocka_unit_test(test_http_real),
        cmocka_unit_test(test_http_complete_without_eof),
        cmocka_unit_test(test_http_framings),
        cmocka_unit_test(test_http_bad),
        cmocka_unit_test(test_json_gtube),
        cmocka_unit_test(test_json_rewrite_subject),
        cmocka_unit_test(test_json_ham_milter),
        cmocka_unit_test(test_json_error_object),
        cmocka_unit_test(test_json_milter_shapes),
        cmocka_unit_test(test_json_actions),
        cmocka_unit_test(test_json_soft_reject_message),
        cmocka_unit_test(test_json_legacy_default),
        cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_json_caps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
