/*
 * NAME
 *   test_replay - what `rmilter replay` reads: mailboxes, headers, dates,
 *   envelopes from Received: lines and sidecars
 *
 * DESCRIPTION
 *   The functional test (t_replay) checks whole reports; these cases pin
 *   the parsers' edges: mbox separators and >From quoting, folded headers
 *   and CRLF bodies, every date form with its zone, the Received: formats
 *   of Postfix, Sendmail and Exim, IPv6 clients, and the order in which a
 *   sidecar's fields win over the headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay/replay_int.h"

static char tmpdir[] = "/tmp/test_replay.XXXXXX";

static char *
write_file(const char *name, const char *text)
{
    char *path = NULL;
    FILE *f;

    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static uint64_t
T(const char *s)
{
    uint64_t ms = 0;

    if (rp_parse_time(s, &ms) != 0)
        fail_msg("rp_parse_time(%s) failed", s);
    return ms;
}

static void
test_dates(void **state)
{
    const uint64_t t = 1767603600000ull; /* 2026-01-05T09:00:00Z */
    uint64_t ms;
    char buf[32];

    (void)state;
    assert_true(T("Mon, 5 Jan 2026 09:00:00 +0000") == t);
    assert_true(T("Mon,  5 Jan 2026 10:00:00 +0100 (CET)") == t);
    assert_true(T("5 Jan 2026 04:00:00 EST") == t);
    assert_true(T("Mon, 05 Jan 26 01:00 PST") == t);
    assert_true(T("Mon, 5 Jan 2026 09:00:00 GMT") == t);
    assert_true(T("Mon, 5 Jan 2026 09:00:00 XYZ") == t); /* unknown: UTC */
    assert_true(T("2026-01-05T09:00:00Z") == t);
    assert_true(T("2026-01-05 11:00:00+02:00") == t);
    assert_true(T("2026-01-05T08:30:00.250-0030") == t);
    assert_true(T("@1767603600") == t);
    assert_int_not_equal(rp_parse_time("yesterday", &ms), 0);
    assert_int_not_equal(rp_parse_time("2026-13-05T09:00:00Z", &ms), 0);
    assert_int_not_equal(rp_parse_time("Mon, 5 Foo 2026 09:00:00", &ms), 0);
    assert_int_not_equal(rp_parse_time("@12x", &ms), 0);
    rp_format_time(t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-05T09:00:00Z");
}

static void
test_headers_and_body(void **state)
{
    const char raw[] = "Subject: one\n"
                       "X-Folded: a\n"
                       "\tb\n"
                       "  c\n"
                       "To:  x@example.org\n"
                       "\n"
                       "body 1\n"
                       "body 2\r\n";
    const char nohdr[] = "not a header line\nSubject: x\n";
    struct rp_parsed p;

    (void)state;
    rp_parse(raw, strlen(raw), &p);
    assert_int_equal(p.n_hdrs, 3);
    assert_string_equal(rp_header(&p, "subject"), "one");
    assert_string_equal(rp_header(&p, "X-Folded"), "a\n\tb\n  c");
    assert_string_equal(rp_header(&p, "To"), "x@example.org");
    assert_null(rp_header(&p, "Cc"));
    assert_int_equal(p.body_len, 16);
    assert_memory_equal(p.body, "body 1\r\nbody 2\r\n", 16);
    rp_parsed_free(&p);

    /* a line that is no header starts the body, as in an MTA */
    rp_parse(nohdr, strlen(nohdr), &p);
    assert_int_equal(p.n_hdrs, 0);
    assert_memory_equal(p.body, "not a header line\r\n", 19);
    rp_parsed_free(&p);
}

static void
test_mbox(void **state)
{
    struct rp_msgs m = {0};
    char *path;

    (void)state;
    path = write_file("box", "From a@example.org Mon Jan  5 09:00:00 2026\n"
                             "Subject: 1\n"
                             "\n"
                             "From the start, this is body text\n"
                             ">From quoted\n"
                             ">>From twice\n"
                             "\n"
                             "From b@example.org Mon Jan  5 09:01:00 2026\n"
                             "Subject: 2\n"
                             "\n"
                             "last\n"
                             "\n");
    assert_int_equal(rp_mailbox_read(path, &m), 0);
    /* "From the start" follows an empty line, so it is a separator: mbox
     * writers quote such lines; this one was not */
    assert_int_equal(m.n, 3);
    /* the empty line before a separator belongs to the mbox format */
    assert_string_equal(m.v[0].data, "Subject: 1\n");
    assert_string_equal(m.v[1].data, "From quoted\n>From twice\n");
    assert_string_equal(m.v[2].data, "Subject: 2\n\nlast\n");
    assert_int_equal(m.v[2].box_index, 3);
    assert_non_null(strstr(m.v[2].source, "box:3"));
    assert_null(m.v[2].path);
    rp_msgs_free(&m);
    free(path);
}

static void
test_maildir_and_file(void **state)
{
    struct rp_msgs m = {0};
    char *dir = NULL, *sub = NULL, *one;

    (void)state;
    assert_true(asprintf(&dir, "%s/md", tmpdir) > 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(asprintf(&sub, "%s/new", dir) > 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    assert_true(asprintf(&sub, "%s/cur", dir) > 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    free(write_file("md/cur/2.x", "Subject: cur-2\n\nb\n"));
    free(write_file("md/cur/1.x", "Subject: cur-1\n\nb\n"));
    free(write_file("md/new/9.x", "Subject: new-9\n\nb\n"));
    free(write_file("md/cur/1.x.env", "helo x\n")); /* a sidecar: skipped */
    assert_int_equal(rp_mailbox_read(dir, &m), 0);
    assert_int_equal(m.n, 3);
    assert_non_null(strstr(m.v[0].data, "new-9"));
    assert_non_null(strstr(m.v[1].data, "cur-1"));
    assert_non_null(strstr(m.v[2].data, "cur-2"));
    assert_non_null(m.v[1].path);
    rp_msgs_free(&m);

    one = write_file("one.eml", "Subject: single\n\nFrom here\n");
    assert_int_equal(rp_mailbox_read(one, &m), 0);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0].data, "Subject: single\n\nFrom here\n");
    rp_msgs_free(&m);
    assert_int_equal(rp_mailbox_read("/nonexistent/box", &m), -1);
    free(one);
    free(dir);
}

/* env_of - the envelope of one message file with optional sidecar */
static void
env_of(const char *name, const char *text, const char *sidecar,
       struct rp_env *e)
{
    struct rp_msgs m = {0};
    struct rp_parsed p;
    struct rp_err err;
    char *path = write_file(name, text), *sc;

    if (sidecar != NULL) {
        assert_true(asprintf(&sc, "%s.env", name) > 0);
        free(write_file(sc, sidecar));
        free(sc);
    }
    assert_int_equal(rp_mailbox_read(path, &m), 0);
    rp_parse(m.v[0].data, m.v[0].len, &p);
    if (rp_envelope(&m.v[0], 1, &p, NULL, e, &err) != 0)
        fail_msg("rp_envelope: %s", err.msg);
    rp_parsed_free(&p);
    rp_msgs_free(&m);
    free(path);
}

static void
test_envelope_postfix(void **state)
{
    struct rp_env e;

    (void)state;
    env_of("pf.eml",
           "Return-Path: <alice@example.net>\n"
           "X-Original-To: bob@example.org\n"
           "Delivered-To: other@example.org\n"
           "Received: from helo.example.net (mail.example.net "
           "[198.51.100.10])\n"
           "\t(Authenticated sender: alice)\n"
           "\tby mx.example.org (Postfix) with ESMTPSA id 4R1A1\n"
           "\tfor <bob@example.org>; Mon,  5 Jan 2026 09:00:02 +0000 (UTC)\n"
           "Received: from older.example (older.example [192.0.2.1])\n"
           "\tby relay; Mon, 5 Jan 2026 08:00:00 +0000\n"
           "Date: Mon, 5 Jan 2026 12:00:00 +0000\n"
           "\n"
           "x\n",
           NULL, &e);
    assert_string_equal(e.client_ip, "198.51.100.10");
    assert_string_equal(e.client_host, "mail.example.net");
    assert_string_equal(e.helo, "helo.example.net");
    assert_string_equal(e.from, "<alice@example.net>");
    assert_int_equal(e.n_rcpts, 1);
    assert_string_equal(e.rcpts[0], "<bob@example.org>");
    assert_string_equal(e.auth, "alice");
    assert_string_equal(e.qid, "4R1A1");
    assert_string_equal(e.mta, "mx.example.org");
    assert_true(e.have_time && e.time_ms == 1767603602000ull);
    assert_string_equal(e.time_from, "received");
    assert_string_equal(e.env_from, "headers");
    rp_env_free(&e);
}

static void
test_envelope_exim_ipv6_and_fallbacks(void **state)
{
    struct rp_env e;

    (void)state;
    env_of("exim.eml",
           "Received: from [IPv6:2001:db8::7] (helo=mail.example)\n"
           "\tby mx.example.org with esmtps (Exim 4.96)\n"
           "\tid 1qAbCd-000123-Ef; Tue, 06 Jan 2026 10:00:00 +0000\n"
           "Return-Path: <>\n"
           "To: \"Doe, J\" <j@example.org>, k@example.org, group:;\n"
           "Cc: <l@example.org>\n"
           "\n",
           NULL, &e);
    assert_string_equal(e.client_ip, "2001:db8::7");
    assert_string_equal(e.client_host, "unknown");
    assert_string_equal(e.helo, "mail.example");
    assert_string_equal(e.from, "<>");
    assert_int_equal(e.n_rcpts, 3);
    assert_string_equal(e.rcpts[0], "<j@example.org>");
    assert_string_equal(e.rcpts[1], "<k@example.org>");
    assert_string_equal(e.rcpts[2], "<l@example.org>");
    assert_string_equal(e.qid, "1qAbCd-000123-Ef");
    rp_env_free(&e);

    /* nothing to go by: the From: address, Date:, a placeholder rcpt */
    env_of("bare.eml",
           "From: Someone <s@example.com>\n"
           "Date: Mon, 5 Jan 2026 09:00:00 +0000\n\n",
           NULL, &e);
    assert_string_equal(e.client_ip, "");
    assert_string_equal(e.client_host, "unknown");
    assert_string_equal(e.from, "<s@example.com>");
    assert_string_equal(e.rcpts[0], "<unknown-recipient@replay.invalid>");
    assert_string_equal(e.time_from, "date");
    rp_env_free(&e);
}

static void
test_sidecar(void **state)
{
    struct rp_sidecar *sc = NULL;
    struct rp_err err;
    struct rp_env e;
    char *path;

    (void)state;
    env_of("sc.eml",
           "Return-Path: <h@example.org>\n"
           "To: t@example.org\n"
           "Received: from a (a [192.0.2.9]) by mx; Mon, 5 Jan 2026 "
           "09:00:00 +0000\n\n",
           "# defaults\n"
           "client IPv6:2001:db8::1 c.example\n"
           "rcpt <r1@example.org>\n"
           "rcpt r2@example.org\n"
           "from <s@example.org> BODY=8BITMIME SIZE=10\n"
           "time @1767603700\n"
           "auth sasl-user\n"
           "macro {daemon_name} smtpd\n",
           &e);
    assert_string_equal(e.client_ip, "2001:db8::1");
    assert_string_equal(e.client_host, "c.example");
    assert_string_equal(e.helo, "a"); /* not in the sidecar: headers */
    assert_string_equal(e.from, "<s@example.org>");
    assert_int_equal(e.n_from_args, 2);
    assert_string_equal(e.from_args[1], "SIZE=10");
    assert_int_equal(e.n_rcpts, 2);
    assert_string_equal(e.rcpts[1], "<r2@example.org>");
    assert_true(e.time_ms == 1767603700000ull);
    assert_string_equal(e.time_from, "sidecar");
    assert_string_equal(e.auth, "sasl-user");
    assert_int_equal(e.n_macros, 1);
    assert_string_equal(e.macros[0].value, "smtpd");
    assert_string_equal(e.env_from, "sidecar");
    rp_env_free(&e);

    path = write_file("bad.env", "client 192.0.2.1\n\nmessage x\n");
    assert_int_equal(rp_sidecar_load(path, true, &sc, &err), -1);
    assert_non_null(strstr(err.msg, "bad.env:3: message needs a number"));
    free(path);
    path = write_file("bad2.env", "time tomorrow\n");
    assert_int_equal(rp_sidecar_load(path, true, &sc, &err), -1);
    assert_non_null(strstr(err.msg, "bad2.env:1: time: not a date"));
    free(path);
    assert_int_equal(rp_sidecar_load("/nonexistent.env", false, &sc, &err), 0);
    assert_null(sc);
    assert_int_equal(rp_sidecar_load("/nonexistent.env", true, &sc, &err), -1);
}

static int
setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    char *cmd = NULL;
    int rc;

    (void)state;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_headers_and_body),
        cmocka_unit_test(test_mbox),
        cmocka_unit_test(test_maildir_and_file),
        cmocka_unit_test(test_envelope_postfix),
        cmocka_unit_test(test_envelope_exim_ipv6_and_fallbacks),
        cmocka_unit_test(test_sidecar),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
