/*
 * NAME
 *   test_codec - unit tests of the milter wire codec (src/milter/codec.c)
 *
 * DESCRIPTION
 *   Decoding: every command from hand-built packets, fed whole, one byte at
 *   a time and back to back; every malformed payload gives MILTER_E_PAYLOAD
 *   with the exact reason; length 0, oversized and unknown commands give
 *   their own errors, which are sticky. Encoding: every reply compared byte
 *   for byte (multi-line reply codes, %-escaping, CRLF -> LF in headers,
 *   REPLBODY chunking, the OPTNEG answer with its macro lists), and
 *   negotiation results for MTA versions 2, 4 and 6 with various offers.
 *   The codec is pure, so no sockets, threads or config are involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "core/pipeline.h"
#include "milter/codec.h"

#define MAXPKT (1024 * 1024)

/* A packet under construction: length, command, payload. */
struct pk {
    unsigned char b[200000];
    size_t n;
};

static void
pk_make(struct pk *p, char cmd, const void *payload, size_t len)
{
    uint32_t l = (uint32_t)len + 1;

    p->b[0] = (unsigned char)(l >> 24);
    p->b[1] = (unsigned char)(l >> 16);
    p->b[2] = (unsigned char)(l >> 8);
    p->b[3] = (unsigned char)l;
    p->b[4] = (unsigned char)cmd;
    if (len)
        memcpy(p->b + 5, payload, len);
    p->n = len + 5;
}

/* decode_one - feed p whole (bytewise = false) or one byte at a time;
 * returns the final rc, checks that the packet was used exactly */
static int
decode_one(struct milter_decoder *d, const struct pk *p, bool bytewise,
           struct milter_cmd *c)
{
    size_t off = 0, used;
    int rc = 0;

    while (off < p->n) {
        size_t n = bytewise ? 1 : p->n - off;

        rc = milter_decode(d, p->b + off, n, &used, c);
        off += used;
        if (rc != 0)
            break;
        assert_int_equal(used, n);
    }
    return rc;
}

/* decode_both - decode p whole and bytewise; both must give rc; the
 * bytewise result is left in *c (with its decoder in *d) */
static int
decode_both(struct milter_decoder *d, const struct pk *p, struct milter_cmd *c)
{
    struct milter_decoder d1;
    struct milter_cmd c1;
    int rc1, rc2;

    milter_decoder_init(&d1, MAXPKT);
    rc1 = decode_one(&d1, p, false, &c1);
    milter_decoder_init(d, MAXPKT);
    rc2 = decode_one(d, p, true, c);
    assert_int_equal(rc1, rc2);
    if (rc1 < 0)
        assert_string_equal(milter_decoder_why(&d1), milter_decoder_why(d));
    milter_decoder_free(&d1);
    return rc2;
}

#define P(s) s, sizeof(s) - 1

/* expect_payload_error - packet cmd+payload fails with exactly why */
static void
expect_payload_error(char cmd, const void *payload, size_t len, const char *why)
{
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    pk_make(&p, cmd, payload, len);
    assert_int_equal(decode_both(&d, &p, &c), MILTER_E_PAYLOAD);
    assert_string_equal(milter_decoder_why(&d), why);
    milter_decoder_free(&d);
}

/* ------------------------------------------------------------------ */
/* decoding                                                           */
/* ------------------------------------------------------------------ */

static void
test_decode_optneg(void **state)
{
    static const unsigned char pl[] = {0, 0,    0, 6,    0,    0,
                                       1, 0xff, 0, 0x1f, 0xff, 0xff};
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    (void)state;
    pk_make(&p, SMFIC_OPTNEG, pl, sizeof(pl));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_OPTNEG);
    assert_int_equal(c.version, 6);
    assert_int_equal(c.actions, 0x1ff);
    assert_int_equal(c.protocol, 0x1fffff);
    milter_decoder_free(&d);

    /* libmilter accepts longer OPTNEG packets; so do we */
    {
        unsigned char more[16] = {0, 0, 0, 2, 0, 0, 0, 0x3f, 0, 0, 0, 0x7f};

        pk_make(&p, SMFIC_OPTNEG, more, sizeof(more));
        assert_int_equal(decode_both(&d, &p, &c), 1);
        assert_int_equal(c.version, 2);
        milter_decoder_free(&d);
    }
    expect_payload_error(SMFIC_OPTNEG, pl, 11, "OPTNEG: shorter than 12 bytes");
    expect_payload_error(SMFIC_OPTNEG, NULL, 0,
                         "OPTNEG: shorter than 12 bytes");
}

static void
test_decode_macro(void **state)
{
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    (void)state;
    pk_make(&p, SMFIC_MACRO, P("Cj\0mta.test\0{daemon_name}\0smtpd\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_MACRO);
    assert_int_equal(c.macro_cmd, SMFIC_CONNECT);
    assert_int_equal(c.argc, 4);
    assert_string_equal(c.argv[0], "j");
    assert_string_equal(c.argv[1], "mta.test");
    assert_string_equal(c.argv[2], "{daemon_name}");
    assert_string_equal(c.argv[3], "smtpd");
    assert_null(c.argv[4]);
    milter_decoder_free(&d);

    /* an empty value is a value */
    pk_make(&p, SMFIC_MACRO, P("Mi\0\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.argc, 2);
    assert_string_equal(c.argv[1], "");
    milter_decoder_free(&d);

    /* Postfix sends the command byte alone when no macro is defined */
    pk_make(&p, SMFIC_MACRO, P("T"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.macro_cmd, SMFIC_DATA);
    assert_int_equal(c.argc, 0);
    assert_null(c.argv[0]);
    milter_decoder_free(&d);

    expect_payload_error(SMFIC_MACRO, NULL, 0, "MACRO: missing command");
    expect_payload_error(SMFIC_MACRO, P("Cj\0"), "MACRO: name without value");
    expect_payload_error(SMFIC_MACRO, P("Cj\0mta"), "MACRO: missing NUL");
}

static void
test_decode_connect(void **state)
{
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    (void)state;
    pk_make(&p, SMFIC_CONNECT,
            P("mx.example.org\0"
              "4\x30\x39"
              "192.0.2.1\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_CONNECT);
    assert_string_equal(c.hostname, "mx.example.org");
    assert_int_equal(c.family, SMFIA_INET);
    assert_int_equal(c.port, 12345);
    assert_string_equal(c.addr, "192.0.2.1");
    milter_decoder_free(&d);

    /* Sendmail's IPv6 form: the prefix is stripped */
    pk_make(&p, SMFIC_CONNECT,
            P("[IPv6:2001:db8::1]\0"
              "6\x00\x19"
              "IPv6:2001:db8::1\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.family, SMFIA_INET6);
    assert_int_equal(c.port, 25);
    assert_string_equal(c.addr, "2001:db8::1");
    milter_decoder_free(&d);

    /* Postfix's IPv6 form has no prefix */
    pk_make(&p, SMFIC_CONNECT,
            P("h\0"
              "6\xff\xff"
              "::1\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.port, 65535);
    assert_string_equal(c.addr, "::1");
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_CONNECT,
            P("localhost\0"
              "L\0\0"
              "/run/x.sock\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.family, SMFIA_UNIX);
    assert_int_equal(c.port, 0);
    assert_string_equal(c.addr, "/run/x.sock");
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_CONNECT, P("unknown\0U"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.family, SMFIA_UNKNOWN);
    assert_string_equal(c.hostname, "unknown");
    assert_string_equal(c.addr, "");
    milter_decoder_free(&d);

    /* empty hostname is fine */
    pk_make(&p, SMFIC_CONNECT, P("\0U"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    milter_decoder_free(&d);

    expect_payload_error(SMFIC_CONNECT, NULL, 0,
                         "CONNECT: hostname without NUL");
    expect_payload_error(SMFIC_CONNECT, P("host"),
                         "CONNECT: hostname without NUL");
    expect_payload_error(SMFIC_CONNECT, P("host\0"),
                         "CONNECT: missing address family");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0X\0\x19"
                           "1.2.3.4\0"),
                         "CONNECT: bad address family");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0"
                           "4"),
                         "CONNECT: short port");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0"
                           "4\x01"),
                         "CONNECT: short port");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0"
                           "4\0\x19"),
                         "CONNECT: missing address");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0"
                           "4\0\x19"
                           "1.2.3.4"),
                         "CONNECT: address not NUL-terminated at the end");
    expect_payload_error(SMFIC_CONNECT,
                         P("host\0"
                           "4\0\x19"
                           "1.2\0junk"),
                         "CONNECT: address not NUL-terminated at the end");
}

static void
test_decode_helo_mail_rcpt(void **state)
{
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    (void)state;
    pk_make(&p, SMFIC_HELO, P("client.example\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_string_equal(c.helo, "client.example");
    milter_decoder_free(&d);
    expect_payload_error(SMFIC_HELO, P("client"),
                         "HELO: not one NUL-terminated string");
    expect_payload_error(SMFIC_HELO, NULL, 0,
                         "HELO: not one NUL-terminated string");
    expect_payload_error(SMFIC_HELO, P("a\0b\0"),
                         "HELO: not one NUL-terminated string");

    pk_make(&p, SMFIC_MAIL, P("<a@example.org>\0SIZE=100\0BODY=8BITMIME\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_MAIL);
    assert_int_equal(c.argc, 3);
    assert_string_equal(c.argv[0], "<a@example.org>");
    assert_string_equal(c.argv[1], "SIZE=100");
    assert_string_equal(c.argv[2], "BODY=8BITMIME");
    assert_null(c.argv[3]);
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_MAIL, P("<>\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.argc, 1);
    assert_string_equal(c.argv[0], "<>");
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_RCPT, P("<b@example.test>\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_RCPT);
    assert_int_equal(c.argc, 1);
    assert_string_equal(c.argv[0], "<b@example.test>");
    milter_decoder_free(&d);

    expect_payload_error(SMFIC_MAIL, NULL, 0, "MAIL: missing NUL");
    expect_payload_error(SMFIC_MAIL, P("<a@b>"), "MAIL: missing NUL");
    expect_payload_error(SMFIC_RCPT, P("<a@b>\0SIZE"), "RCPT: missing NUL");
}

static void
test_decode_header_body(void **state)
{
    static const char body[] = "line 1\r\n\0binary\xff\r\n";
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;

    (void)state;
    pk_make(&p, SMFIC_HEADER, P("Subject\0hello\n\tworld\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_string_equal(c.name, "Subject");
    assert_string_equal(c.value, "hello\n\tworld");
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_HEADER, P("X-Empty\0\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_string_equal(c.name, "X-Empty");
    assert_string_equal(c.value, "");
    milter_decoder_free(&d);

    expect_payload_error(SMFIC_HEADER, P("Subject\0"),
                         "HEADER: not name NUL value NUL");
    expect_payload_error(SMFIC_HEADER, P("Subject\0x"),
                         "HEADER: not name NUL value NUL");
    expect_payload_error(SMFIC_HEADER, P("a\0b\0c\0"),
                         "HEADER: not name NUL value NUL");
    expect_payload_error(SMFIC_HEADER, NULL, 0,
                         "HEADER: not name NUL value NUL");
    expect_payload_error(SMFIC_HEADER, P("\0value\0"), "HEADER: empty name");

    pk_make(&p, SMFIC_BODY, body, sizeof(body) - 1);
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_BODY);
    assert_int_equal(c.body_len, sizeof(body) - 1);
    assert_memory_equal(c.body, body, sizeof(body) - 1);
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_BODY, NULL, 0);
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.body_len, 0);
    milter_decoder_free(&d);

    pk_make(&p, SMFIC_BODYEOB, NULL, 0);
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.cmd, SMFIC_BODYEOB);
    assert_int_equal(c.body_len, 0);
    milter_decoder_free(&d);

    /* libmilter passes data sent with EOM as a last body chunk */
    pk_make(&p, SMFIC_BODYEOB, P("tail\r\n"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_int_equal(c.body_len, 6);
    assert_memory_equal(c.body, "tail\r\n", 6);
    milter_decoder_free(&d);
}

static void
test_decode_simple_commands(void **state)
{
    static const char cmds[] = {SMFIC_EOH,  SMFIC_DATA,    SMFIC_ABORT,
                                SMFIC_QUIT, SMFIC_QUIT_NC, 0};
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;
    size_t i;

    (void)state;
    for (i = 0; cmds[i]; i++) {
        pk_make(&p, cmds[i], NULL, 0);
        assert_int_equal(decode_both(&d, &p, &c), 1);
        assert_int_equal(c.cmd, cmds[i]);
        milter_decoder_free(&d);
    }
    pk_make(&p, SMFIC_UNKNOWN, P("HELP me\0"));
    assert_int_equal(decode_both(&d, &p, &c), 1);
    assert_string_equal(c.unknown, "HELP me");
    milter_decoder_free(&d);
    expect_payload_error(SMFIC_UNKNOWN, P("HELP"),
                         "UNKNOWN: not one NUL-terminated string");

    assert_string_equal(milter_cmd_name(SMFIC_BODYEOB), "EOM");
    assert_string_equal(milter_cmd_name(SMFIC_QUIT_NC), "QUIT_NC");
    assert_string_equal(milter_cmd_name('Z'), "?");
}

/* Several packets in one buffer come out one by one. */
static void
test_decode_stream(void **state)
{
    unsigned char buf[512];
    struct milter_decoder d;
    struct milter_cmd c;
    struct pk p;
    size_t n = 0, off = 0, used;
    int rc;

    (void)state;
    pk_make(&p, SMFIC_MACRO, P("Hx\0y\0"));
    memcpy(buf + n, p.b, p.n), n += p.n;
    pk_make(&p, SMFIC_HELO, P("h\0"));
    memcpy(buf + n, p.b, p.n), n += p.n;
    pk_make(&p, SMFIC_QUIT, NULL, 0);
    memcpy(buf + n, p.b, p.n), n += p.n;

    milter_decoder_init(&d, MAXPKT);
    rc = milter_decode(&d, buf, n, &used, &c);
    assert_int_equal(rc, 1);
    assert_int_equal(c.cmd, SMFIC_MACRO);
    assert_int_equal(used, 10);
    off += used;
    rc = milter_decode(&d, buf + off, n - off, &used, &c);
    assert_int_equal(rc, 1);
    assert_int_equal(c.cmd, SMFIC_HELO);
    assert_string_equal(c.helo, "h");
    off += used;
    /* a partial packet: consumed, nothing yet, and counted as pending */
    rc = milter_decode(&d, buf + off, 3, &used, &c);
    assert_int_equal(rc, 0);
    assert_int_equal(used, 3);
    assert_int_equal(milter_decoder_pending(&d), 3);
    off += used;
    rc = milter_decode(&d, buf + off, n - off, &used, &c);
    assert_int_equal(rc, 1);
    assert_int_equal(c.cmd, SMFIC_QUIT);
    assert_int_equal(milter_decoder_pending(&d), 0);
    off += used;
    assert_int_equal(off, n);
    rc = milter_decode(&d, buf, 0, &used, &c);
    assert_int_equal(rc, 0);
    milter_decoder_free(&d);
}

static void
test_decode_framing_errors(void **state)
{
    static const unsigned char zero[] = {0, 0, 0, 0, 'O'};
    static const unsigned char big[] = {0, 0x10, 0, 1, 'B'};
    static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff};
    static const unsigned char unk[] = {0, 0, 0, 1, 'Z'};
    static const unsigned char lower[] = {0, 0, 0, 1, 'c'};
    struct milter_decoder d;
    struct milter_cmd c;
    size_t used, i;
    int rc;

    (void)state;
    milter_decoder_init(&d, MAXPKT);
    rc = milter_decode(&d, zero, sizeof(zero), &used, &c);
    assert_int_equal(rc, MILTER_E_LENGTH);
    assert_int_equal(used, 4);
    assert_string_equal(milter_decoder_why(&d), "packet length 0");
    /* sticky */
    rc = milter_decode(&d, unk, sizeof(unk), &used, &c);
    assert_int_equal(rc, MILTER_E_LENGTH);
    assert_int_equal(used, 0);
    /* until reset */
    milter_decoder_reset(&d);
    assert_string_equal(milter_decoder_why(&d), "");
    rc = milter_decode(&d, unk, sizeof(unk), &used, &c);
    assert_int_equal(rc, MILTER_E_COMMAND);
    assert_int_equal(used, 5);
    assert_string_equal(milter_decoder_why(&d), "unknown command");
    milter_decoder_free(&d);

    /* reply codes are not commands */
    milter_decoder_init(&d, MAXPKT);
    rc = milter_decode(&d, lower, sizeof(lower), &used, &c);
    assert_int_equal(rc, MILTER_E_COMMAND);
    milter_decoder_free(&d);

    /* 1 MiB + 1 is over a 1 MiB limit, detected from the length alone */
    milter_decoder_init(&d, MAXPKT);
    for (i = 0; i < sizeof(big); i++) {
        rc = milter_decode(&d, big + i, 1, &used, &c);
        if (i < 3)
            assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, MILTER_E_TOOBIG);
    assert_string_equal(milter_decoder_why(&d),
                        "packet length over max_packet");
    assert_int_equal(d.pkt_len, 0x100001);
    milter_decoder_free(&d);

    milter_decoder_init(&d, MAXPKT);
    rc = milter_decode(&d, huge, sizeof(huge), &used, &c);
    assert_int_equal(rc, MILTER_E_TOOBIG);
    milter_decoder_free(&d);

    /* exactly the limit is fine */
    {
        struct pk *p = malloc(sizeof(*p));
        static char payload[99];

        memset(payload, 'x', sizeof(payload));
        pk_make(p, SMFIC_BODY, payload, sizeof(payload));
        milter_decoder_init(&d, 100);
        assert_int_equal(decode_one(&d, p, false, &c), 1);
        assert_int_equal(c.body_len, 99);
        milter_decoder_free(&d);
        pk_make(p, SMFIC_BODY, payload, sizeof(payload));
        p->b[3] = 101;
        milter_decoder_init(&d, 100);
        assert_int_equal(decode_one(&d, p, false, &c), MILTER_E_TOOBIG);
        milter_decoder_free(&d);
        free(p);
    }
}

/* Garbage never crashes and always ends in an error or a command. */
static void
test_decode_garbage(void **state)
{
    struct milter_decoder d;
    struct milter_cmd c;
    unsigned char buf[4096];
    unsigned seed = 12345;
    size_t i, off, used;
    int round, rc;

    (void)state;
    for (round = 0; round < 2000; round++) {
        size_t n = 5 + (size_t)(round % 60);

        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (unsigned char)(seed >> 16);
        }
        /* plausible lengths and commands half of the time */
        if (round % 2) {
            buf[0] = buf[1] = buf[2] = 0;
            buf[3] = (unsigned char)(n - 4);
            buf[4] = "ABCDEHKLMNOQRTU"[round % 15];
        }
        milter_decoder_init(&d, 4096);
        off = 0;
        while (off < n) {
            rc = milter_decode(&d, buf + off, n - off, &used, &c);
            off += used;
            if (rc < 0)
                break;
            if (rc == 0)
                assert_int_equal(off, n);
        }
        milter_decoder_free(&d);
    }
}

/* ------------------------------------------------------------------ */
/* encoding                                                           */
/* ------------------------------------------------------------------ */

/* expect - b holds exactly the packets in want (length-prefixed) */
static void
expect(struct milter_buf *b, const void *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->p, want, n);
    milter_buf_reset(b);
}

static void
test_encode_simple(void **state)
{
    static const char codes[] = {
        SMFIR_CONTINUE, SMFIR_ACCEPT,   SMFIR_REJECT, SMFIR_TEMPFAIL,
        SMFIR_DISCARD,  SMFIR_PROGRESS, SMFIR_SKIP,   0};
    struct milter_buf b = {0};
    unsigned char want[5] = {0, 0, 0, 1, 0};
    size_t i;

    (void)state;
    for (i = 0; codes[i]; i++) {
        milter_enc_simple(&b, codes[i]);
        want[4] = (unsigned char)codes[i];
        expect(&b, want, 5);
    }
    milter_buf_free(&b);
}

static void
test_encode_replycode(void **state)
{
    struct milter_buf b = {0};

    (void)state;
    assert_int_equal(milter_enc_replycode(&b, "550", "5.7.1", "go away"), 0);
    expect(&b, P("\0\0\0\x13y550 5.7.1 go away\0"));

    /* multi-line, with % doubled and a trailing newline ignored */
    assert_int_equal(
        milter_enc_replycode(&b, "550", "5.7.1", "line1\r\nline2 at 100%\n"),
        0);
    expect(&b, P("\0\0\0\x2by550-5.7.1 line1\r\n550 5.7.1 line2 at 100%%\0"));

    assert_int_equal(
        milter_enc_replycode(&b, "451", "4.7.1", "one\ntwo\nthree"), 0);
    expect(&b, P("\0\0\0\x2fy451-4.7.1 one\r\n451-4.7.1 two\r\n"
                 "451 4.7.1 three\0"));

    /* no enhanced code: the class default, as libmilter sends it */
    assert_int_equal(milter_enc_replycode(&b, "451", "", "later"), 0);
    expect(&b, P("\0\0\0\x11y451 4.0.0 later\0"));
    assert_int_equal(milter_enc_replycode(&b, "554", NULL, NULL), 0);
    expect(&b, P("\0\0\0\x0by554 5.0.0\0"));

    /* 8-bit and control bytes become '?' (SMTP replies are ASCII) */
    assert_int_equal(
        milter_enc_replycode(&b, "451", "4.7.1", "Gr\xc3\xbc\xc3\x9f\te"), 0);
    expect(&b, P("\0\0\0\x14y451 4.7.1 Gr?????"
                 "e\0"));

    {
        /* a long line wraps at a blank into continuation lines, each at
         * most MILTER_REPLY_LINE_MAX text bytes; no blank: a hard cut */
        char text[1100], want[1200];
        size_t n;

        memset(text, 'a', 300);
        text[300] = ' ';
        memset(text + 301, 'b', 300);
        text[601] = '\0';
        assert_int_equal(milter_enc_replycode(&b, "554", "5.7.1", text), 0);
        n = (size_t)snprintf(want, sizeof(want),
                             "554-5.7.1 %.300s\r\n"
                             "554 5.7.1 %.300s",
                             text, text + 301);
        assert_int_equal(b.len, 5 + n + 1);
        assert_memory_equal(b.p + 5, want, n);

        memset(text, 'c', 1000);
        text[1000] = '\0';
        milter_buf_reset(&b);
        assert_int_equal(milter_enc_replycode(&b, "554", "5.7.1", text), 0);
        n = (size_t)snprintf(want, sizeof(want),
                             "554-5.7.1 %.400s\r\n554-5.7.1 %.400s\r\n"
                             "554 5.7.1 %.200s",
                             text, text, text);
        assert_int_equal(b.len, 5 + n + 1);
        assert_memory_equal(b.p + 5, want, n);
        milter_buf_reset(&b);
    }

    /* invalid codes append nothing */
    assert_int_equal(milter_enc_replycode(&b, "250", "2.0.0", "ok"), -1);
    assert_int_equal(milter_enc_replycode(&b, "55", "5.7.1", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "5500", "5.7.1", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "5x0", "5.7.1", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "550", "4.7.1", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "550", "5.7", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "550", "5.7.1x", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, "550", "5.1000.1", "x"), -1);
    assert_int_equal(milter_enc_replycode(&b, NULL, "5.7.1", "x"), -1);
    assert_int_equal(b.len, 0);
    milter_buf_free(&b);
}

static void
test_encode_headers(void **state)
{
    struct milter_buf b = {0};

    (void)state;
    milter_enc_addheader(&b, "X-Spam", "yes\r\n\tscore=5");
    expect(&b, P("\0\0\0\x15hX-Spam\0yes\n\tscore=5\0"));

    milter_enc_insheader(&b, 0, "DKIM-Signature", "v=1;\r\n b=x");
    expect(&b, P("\0\0\0\x1ei\0\0\0\0DKIM-Signature\0v=1;\n b=x\0"));

    milter_enc_chgheader(&b, 2, "Subject", "***SPAM*** hi");
    expect(&b, P("\0\0\0\x1bm\0\0\0\x02Subject\0***SPAM*** hi\0"));

    /* empty value deletes */
    milter_enc_chgheader(&b, 1, "X-Old", NULL);
    expect(&b, P("\0\0\0\x0cm\0\0\0\x01X-Old\0\0"));
    milter_enc_chgheader(&b, 1, "X-Old", "");
    expect(&b, P("\0\0\0\x0cm\0\0\0\x01X-Old\0\0"));

    /* a lone CR is kept; only CRLF pairs lose the CR */
    milter_enc_addheader(&b, "X", "a\rb\r\r\n");
    expect(&b, P("\0\0\0\x09hX\0a\rb\r\n\0"));
    milter_buf_free(&b);
}

static void
test_encode_envelope(void **state)
{
    struct milter_buf b = {0};

    (void)state;
    milter_enc_addrcpt(&b, "<x@example.org>");
    expect(&b, P("\0\0\0\x11+<x@example.org>\0"));
    milter_enc_addrcpt_par(&b, "<x@example.org>", "NOTIFY=NEVER");
    expect(&b, P("\0\0\0\x1e"
                 "2<x@example.org>\0NOTIFY=NEVER\0"));
    milter_enc_addrcpt_par(&b, "<x@example.org>", NULL);
    expect(&b, P("\0\0\0\x11"
                 "2<x@example.org>\0"));
    milter_enc_delrcpt(&b, "<y@example.org>");
    expect(&b, P("\0\0\0\x11-<y@example.org>\0"));
    milter_enc_chgfrom(&b, "<>", NULL);
    expect(&b, P("\0\0\0\x04"
                 "e<>\0"));
    milter_enc_chgfrom(&b, "<a@b>", "SIZE=10");
    expect(&b, P("\0\0\0\x0f"
                 "e<a@b>\0SIZE=10\0"));
    milter_enc_quarantine(&b, "held");
    expect(&b, P("\0\0\0\x06qheld\0"));
    milter_enc_quarantine(&b, NULL);
    expect(&b, P("\0\0\0\x18qquarantined by rmilter\0"));
    milter_buf_free(&b);
}

static void
test_encode_replbody(void **state)
{
    struct milter_buf b = {0};
    size_t len = 2 * 65535 + 10, i;
    char *body = malloc(len);
    const unsigned char *q;

    (void)state;
    for (i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    milter_enc_replbody(&b, body, len);
    assert_int_equal(b.len, 3 * 5 + len);
    q = b.p;
    /* 65535 + 1 = 0x10000 */
    assert_memory_equal(q, "\0\x01\0\0b", 5);
    assert_memory_equal(q + 5, body, 65535);
    q += 5 + 65535;
    assert_memory_equal(q, "\0\x01\0\0b", 5);
    assert_memory_equal(q + 5, body + 65535, 65535);
    q += 5 + 65535;
    assert_memory_equal(q,
                        "\0\0\0\x0b"
                        "b",
                        5);
    assert_memory_equal(q + 5, body + 2 * 65535, 10);
    milter_buf_reset(&b);

    /* exactly one chunk */
    milter_enc_replbody(&b, body, 65535);
    assert_int_equal(b.len, 5 + 65535);
    milter_buf_reset(&b);

    /* an empty body is one empty packet */
    milter_enc_replbody(&b, "", 0);
    expect(&b, P("\0\0\0\x01"
                 "b"));
    free(body);
    milter_buf_free(&b);
}

static void
test_encode_optneg(void **state)
{
    struct milter_buf b = {0};
    struct milter_neg neg = {0};
    const unsigned char *q;

    (void)state;
    neg.version = 6;
    neg.actions = SMFIF_ADDHDRS | SMFIF_SETSYMLIST;
    neg.protocol = SMFIP_NOBODY;
    milter_enc_optneg(&b, &neg);
    expect(&b, P("\0\0\0\x0dO\0\0\0\x06\0\0\x01\x01\0\0\0\x10"));

    neg.symlist = true;
    milter_enc_optneg(&b, &neg);
    q = b.p;
    assert_memory_equal(q + 4, "O\0\0\0\x06\0\0\x01\x01\0\0\0\x10", 13);
    /* then, per stage, its SMFIM_* index (BE32) and its list (NUL) */
    {
        const char expect_lists[] =
            "\0\0\0\0j {daemon_name} {client_addr} {client_name} _\0"
            "\0\0\0\x01{tls_version} {cipher}\0"
            "\0\0\0\x02i {auth_authen} {auth_type} {mail_addr} "
            "{client_name}\0"
            "\0\0\0\x03{rcpt_addr}\0"
            "\0\0\0\x04i\0"
            "\0\0\0\x05i\0"
            "\0\0\0\x06i\0";
        size_t n = sizeof(expect_lists) - 1;
        uint32_t len = (uint32_t)(13 + n);

        assert_int_equal(b.len, 4 + 13 + n);
        assert_int_equal(q[0], len >> 24);
        assert_int_equal(q[1], (len >> 16) & 0xff);
        assert_int_equal(q[2], (len >> 8) & 0xff);
        assert_int_equal(q[3], len & 0xff);
        assert_memory_equal(q + 17, expect_lists, n);
    }
    milter_buf_free(&b);
}

/* mod - helper to build a modification without reply.c */
static struct rm_mod
mod(enum rm_mod_kind kind, unsigned index, const char *name, const char *value)
{
    struct rm_mod m;

    m.kind = kind;
    m.index = index;
    m.name = (char *)name;
    m.value = (char *)value;
    m.value_len = value ? strlen(value) : 0;
    return m;
}

static void
test_encode_reply(void **state)
{
    struct milter_buf b = {0};
    struct milter_neg neg;
    struct milter_enc_report rep;
    struct rm_reply r;
    struct rm_mod mods[4];

    (void)state;
    assert_int_equal(
        milter_negotiate(6, SMFI_CURR_ACTS, SMFI_CURR_PROT, 0x3ff, 0x3ff,
                         RM_CAN_ADDHDRS | RM_CAN_QUARANTINE | RM_CAN_ADDRCPT,
                         &neg),
        0);

    /* EOM: modifications in order, then the final reply code */
    memset(&r, 0, sizeof(r));
    mods[0] = mod(RM_MOD_ADD_HEADER, 0, "X-A", "1");
    mods[1] = mod(RM_MOD_INSERT_HEADER, 1, "X-B", "2");
    mods[2] = mod(RM_MOD_ADD_RCPT, 0, "<c@d>", "");
    mods[3] = mod(RM_MOD_REPLACE_BODY, 0, "new", NULL);
    mods[3].value = (char *)"new";
    mods[3].value_len = 3;
    r.mods = mods;
    r.n_mods = 4;
    r.action = RM_ACT_REJECT;
    strcpy(r.rcode, "554");
    strcpy(r.xcode, "5.7.1");
    r.text = (char *)"spam";
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, &rep);
    /* (SMFIP_HDR_LEADSPC negotiated: header values get their space) */
    expect(&b, P("\0\0\0\x08hX-A\0"
                 " 1\0"
                 "\0\0\0\x0ci\0\0\0\x01X-B\0"
                 " 2\0"
                 "\0\0\0\x07+<c@d>\0"
                 "\0\0\0\x10y554 5.7.1 spam\0"));
    /* CHGBODY was not negotiated */
    assert_int_equal(rep.n_dropped, 1);
    assert_int_equal(rep.dropped_mods, 1u << RM_MOD_REPLACE_BODY);
    assert_false(rep.mods_not_eom);

    /* modifications outside EOM are dropped */
    r.n_mods = 1;
    r.action = RM_ACT_CONTINUE;
    milter_enc_reply(&b, &neg, SMFIC_RCPT, &r, &rep);
    expect(&b, P("\0\0\0\x01"
                 "c"));
    assert_true(rep.mods_not_eom);
    assert_int_equal(rep.n_dropped, 1);
    r.n_mods = 0;

    /* reject/tempfail without a code, or with one of the wrong class */
    r.action = RM_ACT_TEMPFAIL;
    r.rcode[0] = '\0';
    milter_enc_reply(&b, &neg, SMFIC_RCPT, &r, &rep);
    expect(&b, P("\0\0\0\x01t"));
    assert_false(rep.bad_rcode);
    strcpy(r.rcode, "550");
    milter_enc_reply(&b, &neg, SMFIC_RCPT, &r, &rep);
    expect(&b, P("\0\0\0\x01t"));
    assert_true(rep.bad_rcode);
    strcpy(r.rcode, "451");
    strcpy(r.xcode, "4.7.1");
    r.text = (char *)"Rate limit exceeded";
    milter_enc_reply(&b, &neg, SMFIC_RCPT, &r, &rep);
    expect(&b, P("\0\0\0\x1fy451 4.7.1 Rate limit exceeded\0"));
    r.action = RM_ACT_REJECT;
    r.rcode[0] = '\0';
    milter_enc_reply(&b, &neg, SMFIC_MAIL, &r, &rep);
    expect(&b, P("\0\0\0\x01r"));

    r.action = RM_ACT_ACCEPT;
    milter_enc_reply(&b, &neg, SMFIC_CONNECT, &r, NULL);
    expect(&b, P("\0\0\0\x01"
                 "a"));
    r.action = RM_ACT_DISCARD;
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, NULL);
    expect(&b, P("\0\0\0\x01"
                 "d"));
    r.action = RM_ACT_NONE;
    milter_enc_reply(&b, &neg, SMFIC_HEADER, &r, NULL);
    expect(&b, P("\0\0\0\x01"
                 "c"));

    /* quarantine at EOM: reason, then continue */
    r.action = RM_ACT_QUARANTINE;
    r.quarantine_reason = (char *)"virus";
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, &rep);
    expect(&b, P("\0\0\0\x07qvirus\0\0\0\0\x01"
                 "c"));
    assert_false(rep.quarantine_dropped);
    /* not at EOM: dropped */
    milter_enc_reply(&b, &neg, SMFIC_RCPT, &r, &rep);
    expect(&b, P("\0\0\0\x01"
                 "c"));
    assert_true(rep.quarantine_dropped);

    /* skip: only for body chunks, only if the MTA offered SMFIP_SKIP */
    r.action = RM_ACT_SKIP;
    milter_enc_reply(&b, &neg, SMFIC_BODY, &r, &rep);
    expect(&b, P("\0\0\0\x01s"));
    assert_false(rep.skip_downgraded);
    milter_enc_reply(&b, &neg, SMFIC_HEADER, &r, &rep);
    expect(&b, P("\0\0\0\x01"
                 "c"));
    assert_true(rep.skip_downgraded);

    /* an MTA without QUARANTINE, SKIP or ADDRCPT_PAR */
    assert_int_equal(
        milter_negotiate(
            6, SMFIF_ADDHDRS | SMFIF_ADDRCPT, SMFI_V2_PROT, 0x3ff, 0x3ff,
            RM_CAN_ADDHDRS | RM_CAN_QUARANTINE | RM_CAN_ADDRCPT, &neg),
        0);
    r.action = RM_ACT_QUARANTINE;
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, &rep);
    expect(&b, P("\0\0\0\x01"
                 "c"));
    assert_true(rep.quarantine_dropped);
    r.action = RM_ACT_SKIP;
    milter_enc_reply(&b, &neg, SMFIC_BODY, &r, &rep);
    expect(&b, P("\0\0\0\x01"
                 "c"));
    assert_true(rep.skip_downgraded);
    /* ADDRCPT with arguments falls back to plain ADDRCPT */
    mods[0] = mod(RM_MOD_ADD_RCPT, 0, "<c@d>", "NOTIFY=NEVER");
    mods[1] = mod(RM_MOD_CHANGE_HEADER, 1, "Subject", "x");
    r.n_mods = 2;
    r.action = RM_ACT_CONTINUE;
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, &rep);
    expect(&b, P("\0\0\0\x07+<c@d>\0\0\0\0\x01"
                 "c"));
    assert_int_equal(rep.dropped_mods, 1u << RM_MOD_CHANGE_HEADER);
    milter_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* negotiation                                                        */
/* ------------------------------------------------------------------ */

#define BASE_STAGES                                                            \
    (RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_HELO) |            \
     RM_STAGE_BIT(RM_STAGE_MAIL) | RM_STAGE_BIT(RM_STAGE_RCPT) |               \
     RM_STAGE_BIT(RM_STAGE_EOM))
#define ALL_STAGES ((1u << RM_STAGE_COUNT) - 1)

static void
test_negotiate_v6(void **state)
{
    struct milter_neg n;
    char names[128];

    (void)state;
    /* only the base stages: everything else is switched off */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS, SMFI_CURR_PROT,
                                      BASE_STAGES, BASE_STAGES, RM_CAN_ADDHDRS,
                                      &n),
                     0);
    assert_int_equal(n.version, 6);
    assert_int_equal(n.protocol, SMFIP_NODATA | SMFIP_NOHDRS | SMFIP_NOEOH |
                                     SMFIP_NOBODY | SMFIP_NOUNKNOWN |
                                     SMFIP_SKIP | SMFIP_HDR_LEADSPC);
    assert_int_equal(n.actions, SMFIF_ADDHDRS | SMFIF_SETSYMLIST);
    assert_true(n.symlist);
    assert_int_equal(n.missing_actions, 0);

    /* stages received but never answered get SMFIP_NR_* */
    assert_int_equal(
        milter_negotiate(
            6, SMFI_CURR_ACTS, SMFI_CURR_PROT, ALL_STAGES,
            RM_STAGE_BIT(RM_STAGE_RCPT) | RM_STAGE_BIT(RM_STAGE_EOM), 0, &n),
        0);
    assert_int_equal(n.protocol, SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                                     SMFIP_NR_DATA | SMFIP_NR_HDR |
                                     SMFIP_NR_EOH | SMFIP_NR_BODY |
                                     SMFIP_NR_UNKN | SMFIP_SKIP |
                                     SMFIP_HDR_LEADSPC);
    assert_true(milter_noreply(&n, SMFIC_HEADER));
    assert_true(milter_noreply(&n, SMFIC_CONNECT));
    assert_false(milter_noreply(&n, SMFIC_RCPT));
    assert_false(milter_noreply(&n, SMFIC_BODYEOB));
    assert_false(milter_noreply(&n, SMFIC_OPTNEG));
    assert_true(milter_noreply(&n, SMFIC_MACRO));
    assert_true(milter_noreply(&n, SMFIC_ABORT));
    assert_true(milter_noreply(&n, SMFIC_QUIT));
    assert_true(milter_noreply(&n, SMFIC_QUIT_NC));
    assert_int_equal(n.actions, SMFIF_SETSYMLIST);

    /* every action, all offered */
    assert_int_equal(milter_negotiate(7, SMFI_CURR_ACTS, SMFI_CURR_PROT,
                                      ALL_STAGES, ALL_STAGES, 0xff, &n),
                     0);
    assert_int_equal(n.version, 6);
    assert_int_equal(n.actions, SMFI_CURR_ACTS);
    assert_int_equal(n.protocol, SMFIP_SKIP | SMFIP_HDR_LEADSPC);

    /* the MTA lacks some: named, masked */
    assert_int_equal(milter_negotiate(6, SMFIF_ADDHDRS | SMFIF_CHGHDRS,
                                      SMFI_CURR_PROT, ALL_STAGES, ALL_STAGES,
                                      RM_CAN_ADDHDRS | RM_CAN_CHGBODY |
                                          RM_CAN_QUARANTINE | RM_CAN_ADDRCPT,
                                      &n),
                     0);
    assert_int_equal(n.actions, SMFIF_ADDHDRS);
    assert_int_equal(n.missing_actions,
                     SMFIF_CHGBODY | SMFIF_QUARANTINE | SMFIF_ADDRCPT);
    assert_false(n.symlist);
    assert_string_equal(
        milter_action_names(n.missing_actions, names, sizeof(names)),
        "CHGBODY ADDRCPT QUARANTINE");

    /* ADDRCPT_PAR alone covers ADDRCPT (and the other way round) */
    assert_int_equal(milter_negotiate(6, SMFIF_ADDRCPT_PAR, SMFI_CURR_PROT,
                                      ALL_STAGES, ALL_STAGES, RM_CAN_ADDRCPT,
                                      &n),
                     0);
    assert_int_equal(n.actions, SMFIF_ADDRCPT_PAR);
    assert_int_equal(n.missing_actions, 0);
    assert_int_equal(milter_negotiate(6, SMFIF_ADDRCPT, SMFI_CURR_PROT,
                                      ALL_STAGES, ALL_STAGES, RM_CAN_ADDRCPT,
                                      &n),
                     0);
    assert_int_equal(n.actions, SMFIF_ADDRCPT);
    assert_int_equal(n.missing_actions, 0);

    /* we only ask for NO* flags the MTA offers */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS,
                                      SMFIP_NOBODY | SMFIP_NOHDRS, BASE_STAGES,
                                      BASE_STAGES, 0, &n),
                     0);
    assert_int_equal(n.protocol, SMFIP_NOBODY | SMFIP_NOHDRS);

    assert_string_equal(milter_action_names(0, names, sizeof(names)), "");
    assert_string_equal(milter_action_names(SMFI_CURR_ACTS, names, 20),
                        "ADDHDRS CHGBODY");
}

/* SMFIP_HDR_LEADSPC: asked for whenever a v6 MTA offers it; header
 * values we send then carry the space the MTA no longer writes */
static void
test_leadspc(void **state)
{
    struct milter_buf b = {0};
    struct milter_neg neg;
    struct rm_reply r;
    struct rm_mod mods[5];

    (void)state;
    /* offered (Postfix with milter_protocol = 6): asked for, even with no
     * header stage (it also decides how added headers are written) */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS, SMFI_CURR_PROT,
                                      BASE_STAGES, BASE_STAGES, 0, &neg),
                     0);
    assert_true(neg.protocol & SMFIP_HDR_LEADSPC);
    /* not offered: not asked for */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS,
                                      SMFI_CURR_PROT & ~SMFIP_HDR_LEADSPC,
                                      ALL_STAGES, ALL_STAGES, 0, &neg),
                     0);
    assert_false(neg.protocol & SMFIP_HDR_LEADSPC);
    /* a version 4 MTA does not define it, whatever bits it sends */
    assert_int_equal(milter_negotiate(4, SMFI_CURR_ACTS, 0xffffffffu,
                                      ALL_STAGES, ALL_STAGES, 0, &neg),
                     0);
    assert_false(neg.protocol & SMFIP_HDR_LEADSPC);

    /* with it: one space before every value sent, none before the empty
     * value of a CHGHEADER (a delete); line ends LF */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS, SMFI_CURR_PROT,
                                      ALL_STAGES, ALL_STAGES,
                                      RM_CAN_ADDHDRS | RM_CAN_CHGHDRS, &neg),
                     0);
    memset(&r, 0, sizeof(r));
    mods[0] = mod(RM_MOD_ADD_HEADER, 0, "X-Rule", "matched");
    mods[1] = mod(RM_MOD_INSERT_HEADER, 0, "X-F", "a\r\n\tb");
    mods[2] = mod(RM_MOD_CHANGE_HEADER, 2, "Subject", "new");
    mods[3] = mod(RM_MOD_CHANGE_HEADER, 1, "X-Old", "");
    mods[4] = mod(RM_MOD_ADD_HEADER, 0, "X-Empty", "");
    r.mods = mods;
    r.n_mods = 5;
    r.action = RM_ACT_CONTINUE;
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, NULL);
    expect(&b, P("\0\0\0\x11hX-Rule\0 matched\0"
                 "\0\0\0\x0fi\0\0\0\0X-F\0 a\n\tb\0"
                 "\0\0\0\x12m\0\0\0\x02Subject\0 new\0"
                 "\0\0\0\x0cm\0\0\0\x01X-Old\0\0"
                 "\0\0\0\x0bhX-Empty\0 \0"
                 "\0\0\0\x01"
                 "c"));
    /* without it: as given (the MTA writes "name: value") */
    assert_int_equal(milter_negotiate(6, SMFI_CURR_ACTS,
                                      SMFI_CURR_PROT & ~SMFIP_HDR_LEADSPC,
                                      ALL_STAGES, ALL_STAGES,
                                      RM_CAN_ADDHDRS | RM_CAN_CHGHDRS, &neg),
                     0);
    r.n_mods = 1;
    milter_enc_reply(&b, &neg, SMFIC_BODYEOB, &r, NULL);
    expect(&b, P("\0\0\0\x10hX-Rule\0matched\0"
                 "\0\0\0\x01"
                 "c"));
    /* the plain encoders never add it */
    milter_enc_addheader(&b, "X-A", "1");
    expect(&b, P("\0\0\0\x07hX-A\0"
                 "1\0"));
    milter_buf_free(&b);
}

static void
test_negotiate_old_versions(void **state)
{
    struct milter_neg n;

    (void)state;
    /* version 4 (Sendmail 8.13): no NR_*, SKIP or v6 actions, even when
     * offered */
    assert_int_equal(milter_negotiate(4, SMFI_CURR_ACTS, SMFI_CURR_PROT,
                                      BASE_STAGES, RM_STAGE_BIT(RM_STAGE_EOM),
                                      RM_CAN_ADDHDRS | RM_CAN_CHGFROM, &n),
                     0);
    assert_int_equal(n.version, 4);
    assert_int_equal(n.protocol, SMFIP_NODATA | SMFIP_NOHDRS | SMFIP_NOEOH |
                                     SMFIP_NOBODY | SMFIP_NOUNKNOWN);
    assert_int_equal(n.actions, SMFIF_ADDHDRS);
    assert_int_equal(n.missing_actions, SMFIF_CHGFROM);
    assert_false(n.symlist);
    assert_false(milter_noreply(&n, SMFIC_CONNECT));

    /* version 3: NOUNKNOWN but no NODATA */
    assert_int_equal(milter_negotiate(3, SMFI_V2_ACTS, 0x3ff, BASE_STAGES,
                                      BASE_STAGES, 0, &n),
                     0);
    assert_int_equal(n.version, 3);
    assert_int_equal(n.protocol, SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY |
                                     SMFIP_NOUNKNOWN);

    /* version 2: the seven original NO* flags only */
    assert_int_equal(milter_negotiate(2, SMFI_V2_ACTS, SMFI_V2_PROT,
                                      BASE_STAGES, BASE_STAGES,
                                      RM_CAN_ADDHDRS | RM_CAN_QUARANTINE, &n),
                     0);
    assert_int_equal(n.version, 2);
    assert_int_equal(n.protocol, SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY);
    assert_int_equal(n.actions, SMFIF_ADDHDRS | SMFIF_QUARANTINE);
    assert_int_equal(n.missing_actions, 0);

    /* a v2 MTA claiming v6 bits still gets none */
    assert_int_equal(
        milter_negotiate(2, 0xffffffffu, 0xffffffffu, 0, 0, 0xff, &n), 0);
    assert_int_equal(n.protocol, SMFI_V2_PROT);
    assert_int_equal(n.actions, SMFI_V2_ACTS);
    assert_int_equal(n.missing_actions, SMFIF_CHGFROM | SMFIF_SETSYMLIST);

    /* version 1 and 0 are refused */
    assert_int_equal(
        milter_negotiate(1, SMFI_V1_ACTS, SMFI_V1_PROT, 0, 0, 0, &n), -1);
    assert_int_equal(milter_negotiate(0, 0, 0, 0, 0, 0, &n), -1);
    assert_int_equal(n.mta_version, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_optneg),
        cmocka_unit_test(test_decode_macro),
        cmocka_unit_test(test_decode_connect),
        cmocka_unit_test(test_decode_helo_mail_rcpt),
        cmocka_unit_test(test_decode_header_body),
        cmocka_unit_test(test_decode_simple_commands),
        cmocka_unit_test(test_decode_stream),
        cmocka_unit_test(test_decode_framing_errors),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_encode_simple),
        cmocka_unit_test(test_encode_replycode),
        cmocka_unit_test(test_encode_headers),
        cmocka_unit_test(test_encode_envelope),
        cmocka_unit_test(test_encode_replbody),
        cmocka_unit_test(test_encode_optneg),
        cmocka_unit_test(test_encode_reply),
        cmocka_unit_test(test_negotiate_v6),
        cmocka_unit_test(test_leadspc),
        cmocka_unit_test(test_negotiate_old_versions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
