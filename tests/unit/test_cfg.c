/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   test_cfg - unit tests of the config language: lexer, grammar, loader,
 *   includes, rules, semantic checks, --dump-config and the reference
 *
 * DESCRIPTION
 *   Every test asserts exact values or exact diagnostics ("file:line:col:
 *   error: ..."), never only a return code. Include tests build their files
 *   in a fresh mkdtemp directory. The shipped configs are read from
 *   RM_SOURCE_DIR. The typed setters themselves are tested in
 *   test_cfg_value.c; here they are only seen through whole statements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg/cfg.h"
#include "cfg/cfg_internal.h"

/* --- helpers ------------------------------------------------------------- */

/* A load's outcome: rc, the generation and every diagnostic line joined. */
struct res {
    int rc;
    struct rm_config *cfg;
    struct rm_diag diag;
    char text[8192];
};

static void
res_join(struct res *r)
{
    size_t off = 0;

    r->text[0] = '\0';
    for (size_t i = 0; i < r->diag.n && off < sizeof(r->text); i++)
        off += (size_t)snprintf(r->text + off, sizeof(r->text) - off, "%s\n",
                                r->diag.lines[i]);
}

static void
load_str(struct res *r, const char *text)
{
    memset(r, 0, sizeof(*r));
    r->rc = cfg_load_string("t.conf", text, strlen(text), &r->cfg, &r->diag);
    res_join(r);
}

static void
load_path(struct res *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->rc = cfg_load(path, &r->cfg, &r->diag);
    res_join(r);
}

static void
res_free(struct res *r)
{
    if (r->cfg)
        cfg_unref(r->cfg);
    diag_free(&r->diag);
}

/* expect - load text; assert rc and the exact diagnostics */
static void
expect(const char *text, int rc, const char *diag)
{
    struct res r;

    load_str(&r, text);
    assert_string_equal(r.text, diag);
    assert_int_equal(r.rc, rc);
    if (rc == 0)
        assert_non_null(r.cfg);
    else
        assert_null(r.cfg);
    res_free(&r);
}

static char *
dump_str(const struct rm_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    cfg_dump(c, f);
    fclose(f);
    return buf;
}

static char tmpdir[256];

static void
write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown_tmp(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* --- defaults ------------------------------------------------------------ */

static void
test_defaults(void **state)
{
    struct rm_config *c = cfg_defaults();

    (void)state;
    assert_int_equal(c->present, 0);
    assert_int_equal(c->n_rules, 0);
    assert_int_equal(c->n_dkim_domain, 0);
    assert_int_equal(c->global.bind_socket.n, 1);
    assert_string_equal(c->global.bind_socket.v[0].text,
                        "unix:/run/rmilter/rmilter.sock");
    assert_int_equal(c->global.bind_socket.v[0].kind, RM_SOCK_UNIX);
    assert_string_equal(c->global.pidfile, "");
    assert_string_equal(c->global.syslog_name, "rmilter");
    assert_int_equal(c->global.socket_mode, 0660);
    assert_int_equal(c->global.read_timeout, 7 * 60 * 1000);
    assert_false(c->global.strict_auth);
    assert_int_equal(c->clamav.connect_timeout, 1000);
    assert_int_equal(c->clamav.dead_time, 300000);
    assert_int_equal(c->clamav.on_failure, RM_ON_FAILURE_TEMPFAIL);
    assert_int_equal(c->spamd.on_failure, RM_ON_FAILURE_CONTINUE);
    assert_int_equal(c->redis.on_failure, RM_ON_FAILURE_ACCEPT);
    assert_string_equal(c->spamd.spam_header, "X-Spam");
    assert_int_equal(c->greylisting.timeout, 300000);
    assert_int_equal(c->greylisting.expire, 86400000);
    assert_int_equal(c->greylisting.expire_white, 3 * 86400000ull);
    assert_true(c->greylisting.enable);
    assert_int_equal(c->limits.limit_whitelist_rcpt.n, 2);
    assert_string_equal(c->limits.limit_whitelist_rcpt.v[0], "postmaster");
    assert_string_equal(c->limits.limit_whitelist_rcpt.v[1], "mailer-daemon");
    assert_int_equal(c->limits.limit_bounce_addrs.n, 6);
    assert_true(c->limits.limit_to.burst == 0 && c->limits.limit_to.rate == 0);
    assert_int_equal(c->dkim.sign_alg, 0); /* rsa-sha256 */
    assert_int_equal(c->karma.reject_threshold, -1001);
    assert_true(c->beanstalk.copy_probability == 1.0);
    assert_null(c->beanstalk.id_regexp);
    assert_int_equal(iplist_count(c->clamav.whitelist), 0);
    cfg_unref(c);
}

/* An empty file is the defaults, with no diagnostics. */
static void
test_empty_file(void **state)
{
    struct res r;
    char *a, *b;
    struct rm_config *d = cfg_defaults();

    (void)state;
    load_str(&r, "# nothing but a comment\n\n");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.text, "");
    a = dump_str(r.cfg);
    b = dump_str(d);
    assert_string_equal(a, b);
    free(a);
    free(b);
    cfg_unref(d);
    res_free(&r);
}

/* --- lexer and grammar --------------------------------------------------- */

static void
test_words(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "whitelist = user@x11.domain.ltd, @example.org; # trailing\n"
                 "our_networks = [::1]/128, 192.168.0.0/16, 2001:db8::/32\n"
                 "bind_socket = inet:11332@127.0.0.1, \"unix:/run/a;b.sock\"\n"
                 "syslog_name = \"a \\\"q\\\" # not a comment\\\\\";\n"
                 "spamd { servers = r:host:11333; retry_timeout = 100ms; }\n"
                 "limits { limit_to = 20:0.016; }\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.cfg->global.whitelist.n, 2);
    assert_string_equal(r.cfg->global.whitelist.v[0], "user@x11.domain.ltd");
    assert_string_equal(r.cfg->global.whitelist.v[1], "@example.org");
    assert_int_equal(iplist_count(r.cfg->global.our_networks), 3);
    assert_int_equal(r.cfg->global.bind_socket.n, 2);
    assert_int_equal(r.cfg->global.bind_socket.v[0].kind, RM_SOCK_INET);
    assert_int_equal(r.cfg->global.bind_socket.v[0].port, 11332);
    assert_string_equal(r.cfg->global.bind_socket.v[1].path, "/run/a;b.sock");
    assert_string_equal(r.cfg->global.syslog_name, "a \"q\" # not a comment\\");
    assert_int_equal(r.cfg->spamd.servers.n, 1);
    assert_true(r.cfg->spamd.servers.v[0].rspamd);
    assert_int_equal(r.cfg->spamd.servers.v[0].port, 11333);
    assert_int_equal(r.cfg->spamd.retry_timeout, 100);
    assert_true(r.cfg->limits.limit_to.burst == 20);
    assert_true(r.cfg->limits.limit_to.rate == 0.016);
    res_free(&r);
}

/* Top-level ';' is optional; sections may be empty and may end in '};';
 * empty lists are allowed everywhere. */
static void
test_optional_semicolons_and_empty(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "pidfile = /run/x.pid\n"
                 "max_size = 10M\n"
                 "clamav { };\n"
                 "greylisting { whitelist = ; }\n"
                 "spamd {\n}\n"
                 ";;\n"
                 "redis { servers_grey = \"\"; };\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.cfg->global.pidfile, "/run/x.pid");
    assert_int_equal(r.cfg->global.max_size, 10 * 1048576);
    assert_true(cfg_present(r.cfg, RM_SEC_clamav));
    assert_true(cfg_present(r.cfg, RM_SEC_greylisting));
    assert_true(cfg_present(r.cfg, RM_SEC_spamd));
    assert_true(cfg_present(r.cfg, RM_SEC_redis));
    assert_false(cfg_present(r.cfg, RM_SEC_limits));
    assert_int_equal(iplist_count(r.cfg->greylisting.whitelist), 0);
    assert_int_equal(r.cfg->redis.servers_grey.n, 0);
    res_free(&r);
}

static void
test_append(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "whitelist = a@x.org;\n"
                 "whitelist += b@x.org, @y.org;\n"
                 "clamav { servers = 127.0.0.1; servers += /run/c.sock; }\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.cfg->global.whitelist.n, 3);
    assert_string_equal(r.cfg->global.whitelist.v[2], "@y.org");
    assert_int_equal(r.cfg->clamav.servers.n, 2);
    assert_int_equal(r.cfg->clamav.servers.v[0].port, 3310);
    assert_string_equal(r.cfg->clamav.servers.v[1].path, "/run/c.sock");
    res_free(&r);

    /* name+=value without blanks */
    load_str(&r, "whitelist=a;whitelist+=b;\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.cfg->global.whitelist.n, 2);
    res_free(&r);

    expect("clamav {\n  connect_timeout += 1s;\n}\n", -1,
           "t.conf:2:3: error: '+=' appends to lists only; "
           "'connect_timeout' takes one value: expected '=', found '+='\n");
}

static void
test_syntax_errors(void **state)
{
    (void)state;
    expect("clamav {\n    connect_timeout = 5\n}\n", -1,
           "t.conf:3:1: error: expected ';' after the value of "
           "'connect_timeout', found '}'\n");
    expect("clamav { servers }", -1,
           "t.conf:1:18: error: expected '=' after 'servers', found '}'\n");
    expect("clamav { servers = a b; }", -1,
           "t.conf:1:22: error: expected ';' after the value of 'servers', "
           "found 'b'\n");
    expect("clamav { servers = ; connect_timeout = 1s", -1,
           "t.conf:1:42: error: expected ';' after the value of "
           "'connect_timeout', found end of file\n");
    expect("whitelist = a, ;", -1,
           "t.conf:1:16: error: expected a value after ',' in 'whitelist', "
           "found ';'\n");
    expect("\n  }\n", -1,
           "t.conf:2:3: error: found '}' but no section is open\n");
    expect("clamav { = 5; }", -1,
           "t.conf:1:10: error: expected a directive name or '}', found "
           "'='\n");
    expect("syslog_name = \"abc\nx = 1;\n", -1,
           "t.conf:1:15: error: unterminated string: expected '\"' before "
           "the end of the line\n");
    expect(".include ;", -1,
           "t.conf:1:10: error: expected a file name after '.include', found "
           "';'\n");
    expect("redis { servers_grey = {a b}; }", -1,
           "t.conf:1:27: error: expected ',' or '}' in the {...} group of "
           "'servers_grey', found 'b'\n");
    expect("rule { reject \"x\" }", -1,
           "t.conf:1:19: error: expected ';' after 'reject ...', found "
           "'}'\n");
    expect("pidfile = a = b", -1,
           "t.conf:1:13: error: expected ';' after the value of 'pidfile', "
           "found '='\n");
    expect("pidfile = \x01;", -1,
           "t.conf:1:11: error: unexpected character '\\x01'\n");
    expect("\"pidfile\" = x;", -1,
           "t.conf:1:1: error: expected a directive or section name, found "
           "\"pidfile\"\n");
    expect("a = b; c {\n d = e;\n f { g = h; }\n", -1,
           "t.conf:4:1: error: expected '}' to close 'c' (opened at line "
           "1), found end of file\n");
    expect("spamd { servers = x\n", -1,
           "t.conf:2:1: error: expected ';' after the value of 'servers', "
           "found end of file\n");
    /* several errors in one run: recovery at ';' and at a section's '}' */
    expect("clamav { servers }\n"
           "spamd { x = 1 }\n"
           "redis { y }\n"
           "limits { limit_to = 1:1; c d }\n",
           -1,
           "t.conf:1:18: error: expected '=' after 'servers', found '}'\n"
           "t.conf:2:15: error: expected ';' after the value of 'x', found "
           "'}'\n"
           "t.conf:3:11: error: expected '=' after 'y', found '}'\n"
           "t.conf:4:30: error: expected ';' after 'c ...', found '}'\n");
}

static void
test_unknown_names(void **state)
{
    (void)state;
    expect("spamd {\n\tspamd_tmp_fail = yes;\n}\n", -1,
           "t.conf:2:2: error: unknown directive 'spamd_tmp_fail' in section "
           "spamd; did you mean 'spamd_temp_fail'?\n");
    expect("pidfle = /x;", -1,
           "t.conf:1:1: error: unknown directive 'pidfle' at top level; did "
           "you mean 'pidfile'?\n");
    expect("spamd { timeout = 5; }", -1,
           "t.conf:1:9: error: unknown directive 'timeout' in section spamd; "
           "it belongs in beanstalk { }, greylisting { }, karma { }, dns "
           "{ }\n");
    expect("dkim { domain { zone = x; } }", -1,
           "t.conf:1:17: error: unknown directive 'zone' in section dkim "
           "domain; it belongs in karma { dnslist { } }\n"
           "t.conf:1:8: error: dkim domain { } needs 'domain'\n"
           "t.conf:1:8: error: dkim domain { } needs 'selector'\n"
           "t.conf:1:8: error: dkim domain { } needs 'key'\n");
    expect("frobnicate = 1;", -1,
           "t.conf:1:1: error: unknown directive 'frobnicate' at top level\n");
    expect("clamd { }", -1,
           "t.conf:1:1: error: unknown section 'clamd' at top level; did you "
           "mean 'clamav'?\n");
    expect("domain { }", -1,
           "t.conf:1:1: error: section 'domain' at top level: it belongs "
           "inside dkim { }\n");
    expect("spamd { clamav { } }", -1,
           "t.conf:1:9: error: section 'clamav' in section spamd: it belongs "
           "at the top level\n");
    expect("clamav { servers { } }", -1,
           "t.conf:1:10: error: 'servers' is a directive, not a section: "
           "expected 'servers = value;'\n");
    /* the oldest rmilter syntax: clamav = sockets; */
    expect("clamav = inet:3310@localhost;", -1,
           "t.conf:1:1: error: 'clamav' is a section: expected 'clamav {', "
           "found '='\n");
    expect("spamd servers;", -1,
           "t.conf:1:7: error: expected '{' after section name 'spamd', "
           "found 'servers'\n");
    expect("clamav { servers 127.0.0.1; }", -1,
           "t.conf:1:18: error: expected '=' after 'servers', found "
           "'127.0.0.1'\n");
}

static void
test_type_errors_collected(void **state)
{
    (void)state;
    /* every bad value is reported, each at its word */
    expect(
        "clamav {\n"
        "    connect_timeout = soon;\n"
        "    maxerrors = 0;\n"
        "    whitelist = 10.0.0.0/8, bogus;\n"
        "}\n"
        "strict_auth = maybe;\n",
        -1,
        "t.conf:2:23: error: expected a time (e.g. 30s, 100ms, 5m, 1d), "
        "found 'soon'\n"
        "t.conf:3:17: error: expected an integer between 1 and 1000000, found "
        "'0'\n"
        "t.conf:4:29: error: expected an IP address or network, found "
        "'bogus'\n"
        "t.conf:6:15: error: expected yes or no, found 'maybe'\n");
}

static void
test_error_cap(void **state)
{
    char text[4096] = "";
    struct res r;
    size_t off = 0;

    (void)state;
    for (int i = 0; i < 60; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "zzzz%d = 1;\n",
                                i);
    load_str(&r, text);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.diag.n, 51);
    assert_string_equal(r.diag.lines[0],
                        "t.conf:1:1: error: unknown directive 'zzzz0' at top "
                        "level");
    assert_string_equal(r.diag.lines[50],
                        "t.conf: error: too many errors, stopping");
    res_free(&r);
}

/* --- aliases, no-ops, overrides ------------------------------------------ */

static void
test_aliases(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "check_auth = yes;\n"
                 "spamd { tempfail_on_error = yes; }\n"
                 "limits { limit_whitelist_ip = 192.0.2.4/32; }\n"
                 "spf { spf_domains = example.org; }\n");
    assert_string_equal(r.text, "");
    assert_true(r.cfg->global.strict_auth);
    assert_true(r.cfg->spamd.temp_fail);
    /* spamd_temp_fail = yes is on_failure = tempfail */
    assert_int_equal(r.cfg->spamd.on_failure, RM_ON_FAILURE_TEMPFAIL);
    assert_int_equal(iplist_count(r.cfg->limits.limit_whitelist), 1);
    assert_int_equal(r.cfg->spf.domains.n, 1);
    assert_string_equal(r.cfg->spf.domains.v[0], "example.org");
    res_free(&r);
}

static void
test_noop_and_ignored(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "use_dcc = yes;\n"
                 "clamav { port_timeout = 4s; }\n"
                 "memcached {\n servers_grey = localhost;\n};\n"
                 "dkim { rspamd_sign = no; }\n");
    assert_string_equal(
        r.text,
        "t.conf:1:1: warning: 'use_dcc' is accepted for compatibility and "
        "does nothing: DCC is not supported\n"
        "t.conf:2:10: warning: 'port_timeout' is accepted for compatibility "
        "and does nothing: the STREAM/PORT protocol is not used\n"
        "t.conf:3:1: warning: section 'memcached' is ignored: memcached is "
        "not supported; use redis { }\n"
        "t.conf:6:8: warning: 'rspamd_sign' is accepted for compatibility "
        "and does nothing: rspamd does not sign here; domain { } blocks "
        "do\n");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.diag.n_warnings, 4);
    assert_int_equal(r.diag.n_errors, 0);
    assert_true(r.cfg->global.use_dcc);
    assert_true(r.cfg->clamav.port_timeout);
    assert_false(cfg_present(r.cfg, RM_SEC_memcached));
    res_free(&r);
}

static void
test_override(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "clamav {\n connect_timeout = 1s;\n connect_timeout = 2s;\n}\n"
                 "clamav { connect_timeout = 3s; }\n"
                 "strict_auth = no;\ncheck_auth = yes;\n");
    assert_string_equal(
        r.text,
        "t.conf:3:2: warning: 'connect_timeout' is set again (first at line "
        "2); the last value is used\n"
        "t.conf:5:10: warning: 'connect_timeout' is set again (first at "
        "line 3); the last value is used\n"
        "t.conf:7:1: warning: 'check_auth' sets 'strict_auth' again (first "
        "at line 6); the last value is used\n");
    assert_int_equal(r.cfg->clamav.connect_timeout, 3000);
    assert_true(r.cfg->global.strict_auth);
    res_free(&r);
}

static void
test_mirror_group(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "redis { servers_grey = {127.0.0.1, 127.0.0.2:6380}, "
                 "127.0.0.3; }\n"
                 "whitelist = {a, b};\n");
    assert_string_equal(
        r.text,
        "t.conf:1:24: warning: {a, b} mirror pairs are not supported: both "
        "servers become ordinary members of 'servers_grey' (mirror_grey and "
        "mirror_white take copies)\n"
        "t.conf:2:13: warning: the {...} group is flattened into the list "
        "of 'whitelist'\n");
    assert_int_equal(r.cfg->redis.servers_grey.n, 3);
    assert_int_equal(r.cfg->redis.servers_grey.v[1].port, 6380);
    assert_int_equal(r.cfg->redis.servers_grey.v[2].port, 6379);
    assert_int_equal(r.cfg->global.whitelist.n, 2);
    res_free(&r);
}

/* --- blocks and semantic checks ------------------------------------------ */

static void
test_multi_blocks(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "dkim {\n"
                 "  domain { domain = example.org; selector = s1; key = "
                 "/k/a.key; }\n"
                 "  domain { domain = \"*\"; selector = s2; key = /k; }\n"
                 "}\n"
                 "karma { dnslist { zone = bl.example.net; weight = -500; }\n"
                 "  dnslist { zone = dbl.example.net; type = domain; } }\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.cfg->n_dkim_domain, 2);
    assert_string_equal(r.cfg->dkim_domain[0].domain, "example.org");
    assert_string_equal(r.cfg->dkim_domain[1].domain, "*");
    assert_string_equal(r.cfg->dkim_domain[1].key, "/k");
    assert_int_equal(r.cfg->n_karma_dnslist, 2);
    assert_int_equal(r.cfg->karma_dnslist[0].weight, -500);
    assert_int_equal(r.cfg->karma_dnslist[0].type, 0);
    assert_int_equal(r.cfg->karma_dnslist[1].weight, -1000);
    assert_int_equal(r.cfg->karma_dnslist[1].type, 1);
    assert_int_equal(iplist_count(r.cfg->karma_dnslist[1].listed), 1);
    assert_true(cfg_present(r.cfg, RM_SEC_dkim));
    assert_true(cfg_present(r.cfg, RM_SEC_dkim_domain));
    assert_true(cfg_present(r.cfg, RM_SEC_karma_dnslist));
    res_free(&r);

    expect("dkim {\n  domain { selector = s1; }\n}\n"
           "karma {\n dnslist { weight = 1; }\n}\n",
           -1,
           "t.conf:2:3: error: dkim domain { } needs 'domain'\n"
           "t.conf:2:3: error: dkim domain { } needs 'key'\n"
           "t.conf:5:2: error: karma dnslist { } needs 'zone'\n");
}

static void
test_semantic_checks(void **state)
{
    struct res r;

    (void)state;
    load_str(&r, "dkim {\n  sign_alg = sha1;\n}\n");
    assert_string_equal(r.text,
                        "t.conf:2:3: warning: sign_alg rsa-sha1 is deprecated "
                        "(RFC 8301): verifiers may ignore such signatures; "
                        "use rsa-sha256\n");
    assert_int_equal(r.cfg->dkim.sign_alg, 1); /* sha1 -> rsa-sha1 */
    res_free(&r);

    load_str(&r, "dkim { sign_alg = sha256; }");
    assert_string_equal(r.text, "");
    assert_int_equal(r.cfg->dkim.sign_alg, 0); /* sha256 -> rsa-sha256 */
    res_free(&r);

    load_str(&r, "greylisting {\n timeout = 2d;\n}\n");
    assert_string_equal(r.text,
                        "t.conf:2:2: warning: greylisting timeout is not "
                        "shorter than expire: no retry can pass before its "
                        "record expires\n");
    res_free(&r);

    expect("karma {\n pass_threshold = -500;\n fail_threshold = 0;\n}\n", -1,
           "t.conf:3:2: error: karma fail_threshold (0) is above "
           "pass_threshold (-500)\n");

    load_str(&r,
             "spamd {\n on_failure = accept;\n spamd_temp_fail = yes;\n}\n");
    assert_string_equal(r.text,
                        "t.conf:2:2: warning: spamd_temp_fail = yes "
                        "overrides this on_failure: on_failure = tempfail\n");
    assert_int_equal(r.cfg->spamd.on_failure, RM_ON_FAILURE_TEMPFAIL);
    res_free(&r);

    /* the 1.6 top-level spf_domains switches spf { } on */
    load_str(&r, "spf_domains = example.com, example.net;\n");
    assert_string_equal(r.text, "");
    assert_true(cfg_present(r.cfg, RM_SEC_spf));
    assert_int_equal(r.cfg->spf.domains.n, 2);
    assert_string_equal(r.cfg->spf.domains.v[1], "example.net");
    res_free(&r);
}

/* --- rules --------------------------------------------------------------- */

static void
test_rules(void **state)
{
    struct res r;
    const struct rm_rule *x;

    (void)state;
    load_str(&r, "rule {\n"
                 "    reject \"No localhost\";\n"
                 "    helo /^localhost\\.localdomain$/;\n"
                 "};\n"
                 "rule {\n"
                 "    not connect /^mx\\./ /^192\\.0\\.2\\./;\n"
                 "    header /^Subject$/i \"/buy now/i\";\n"
                 "    TEMPFAIL;\n"
                 "}\n"
                 "rule { add_header \"X-Tag\" \"a b\"; envrcpt /@x\\.org$/; "
                 "not body /unsubscribe/; envfrom /^<>$/; }\n"
                 "rule { quarantine \"held\"; envfrom /x/; }\n"
                 "rule { accept; helo /./; }\n"
                 "rule { discard; helo /./; }\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.cfg->n_rules, 6);
    assert_true(cfg_present(r.cfg, RM_SEC_rule));

    x = &r.cfg->rules[0];
    assert_string_equal(x->name, "rule 1 at t.conf:1");
    assert_int_equal(x->action, RM_RULE_REJECT);
    assert_string_equal(x->message, "No localhost");
    assert_int_equal(x->n_conds, 1);
    assert_int_equal(x->conds[0].kind, RM_COND_HELO);
    assert_false(x->conds[0].negate);
    assert_string_equal(regex_source(x->conds[0].re[0]),
                        "/^localhost\\.localdomain$/");
    assert_null(x->conds[0].re[1]);
    assert_true(regex_match(x->conds[0].re[0], "localhost.localdomain", 21));
    assert_false(regex_match(x->conds[0].re[0], "localhostxlocaldomain", 21));

    x = &r.cfg->rules[1];
    assert_string_equal(x->name, "rule 2 at t.conf:5");
    assert_int_equal(x->action, RM_RULE_TEMPFAIL);
    assert_null(x->message);
    assert_int_equal(x->n_conds, 2);
    assert_int_equal(x->conds[0].kind, RM_COND_CONNECT);
    assert_true(x->conds[0].negate);
    assert_string_equal(regex_source(x->conds[0].re[1]), "/^192\\.0\\.2\\./");
    assert_int_equal(x->conds[1].kind, RM_COND_HEADER);
    assert_true(regex_match(x->conds[1].re[0], "subject", 7));
    assert_true(regex_match(x->conds[1].re[1], "BUY NOW", 7));

    x = &r.cfg->rules[2];
    assert_int_equal(x->action, RM_RULE_ADD_HEADER);
    assert_string_equal(x->header_name, "X-Tag");
    assert_string_equal(x->header_value, "a b");
    assert_int_equal(x->n_conds, 3);
    assert_int_equal(x->conds[0].kind, RM_COND_ENVRCPT);
    assert_int_equal(x->conds[1].kind, RM_COND_BODY);
    assert_true(x->conds[1].negate);
    assert_int_equal(x->conds[2].kind, RM_COND_ENVFROM);

    assert_int_equal(r.cfg->rules[3].action, RM_RULE_QUARANTINE);
    assert_string_equal(r.cfg->rules[3].message, "held");
    assert_int_equal(r.cfg->rules[4].action, RM_RULE_ACCEPT);
    assert_int_equal(r.cfg->rules[5].action, RM_RULE_DISCARD);
    res_free(&r);
}

static void
test_rule_errors(void **state)
{
    (void)state;
    expect("rule {\n rejct \"x\";\n helo /a/;\n}\n", -1,
           "t.conf:2:2: error: unknown rule statement 'rejct'; did you mean "
           "'reject'?\n");
    expect("rule { reject; }", -1,
           "t.conf:1:1: error: the rule has no condition: expected at least "
           "one of connect, helo, envfrom, envrcpt, header or body\n");
    expect("rule { helo /a/; }", -1,
           "t.conf:1:1: error: the rule has no action: expected one of "
           "accept, reject, tempfail, discard, quarantine or add_header\n");
    expect("rule { reject; tempfail; helo /a/; }", -1,
           "t.conf:1:16: error: the rule already has an action (line 1); a "
           "rule has exactly one\n");
    expect("rule { accept \"why\"; helo /a/; }", -1,
           "t.conf:1:15: error: expected ';' after 'accept' (it takes no "
           "message), found \"why\"\n");
    expect("rule { reject \"a\" \"b\"; helo /a/; }", -1,
           "t.conf:1:19: error: expected ';' after the message of 'reject', "
           "found \"b\"\n");
    expect("rule { reject; header /a/; }", -1,
           "t.conf:1:16: error: 'header' takes 2 regexps (a header name "
           "regexp and a value regexp), found 1\n");
    expect("rule { reject; helo /a(/; }", -1,
           "t.conf:1:21: error: invalid regexp '/a(/': missing closing "
           "parenthesis at offset 2\n");
    expect("rule { reject; helo abc; }", -1,
           "t.conf:1:21: error: expected /regexp/flags, found 'abc'\n");
    expect("rule { not reject; helo /a/; }", -1,
           "t.conf:1:12: error: 'not' applies to conditions, found the action "
           "'reject'\n");
    expect("rule { not; helo /a/; }", -1,
           "t.conf:1:11: error: expected a condition after 'not', found "
           "';'\n");
    expect("rule { add_header \"Bad Name\" \"v\"; helo /a/; }", -1,
           "t.conf:1:19: error: expected a header name (printable, no blanks "
           "or ':'), found \"Bad Name\"\n");
    expect("rule { reject = \"x\"; helo /a/; }", -1,
           "t.conf:1:8: error: expected a rule action or condition (e.g. "
           "'reject \"text\";' or 'helo /re/;'), found 'reject ='\n");
}

/* --- includes ------------------------------------------------------------ */

static void
test_includes(void **state)
{
    char path[512];
    struct res r;

    (void)state;
    assert_int_equal(mkdir(strcat(strcpy(path, tmpdir), "/conf.d"), 0700), 0);
    write_file("main.conf", "pidfile = /run/x.pid;\n"
                            ".include conf.d/*.conf\n"
                            "clamav {\n"
                            "    .try_include clamav-missing.conf\n"
                            "    .include clamav.inc\n"
                            "}\n"
                            ".try_include nothing/*.conf;\n");
    /* sorted: 10 before 20; 20 overrides 10 silently (another file) */
    write_file("conf.d/20-b.conf",
               "greylisting { timeout = 60s; }\n.include ../deep.conf\n");
    write_file("conf.d/10-a.conf", "greylisting { timeout = 30s; }\n");
    write_file("conf.d/README", "this is not read\n");
    write_file("deep.conf", "whitelist += @deep.example;\n");
    write_file("clamav.inc", "servers = 127.0.0.1;\n");
    snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
    load_path(&r, path);
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.cfg->global.pidfile, "/run/x.pid");
    assert_int_equal(r.cfg->greylisting.timeout, 60000);
    assert_int_equal(r.cfg->global.whitelist.n, 1);
    assert_string_equal(r.cfg->global.whitelist.v[0], "@deep.example");
    assert_int_equal(r.cfg->clamav.servers.n, 1);
    assert_string_equal(r.cfg->path, path);
    res_free(&r);
}

/* --- positions (cfg_where) ---------------------------------------------- */

static void
test_where(void **state)
{
    char path[512], want[600];
    struct res r;

    (void)state;
    /* a nested block, an included file, aliases and unwritten directives */
    write_file("where.conf", "pidfile = /run/x.pid;\n"
                             "dkim {\n"
                             "    domain {\n"
                             "        domain = a.example;\n"
                             "        selector = s1;\n"
                             "          key = /k/a.key;\n"
                             "    }\n"
                             "  domain { domain = b.example; selector = s2;\n"
                             "           .include where-key.inc\n"
                             "  }\n"
                             "}\n"
                             "spamd { servers = localhost; }\n"
                             "spamd {\n"
                             "  servers += r:127.0.0.1;\n"
                             "  spamd_greylist = no; }\n");
    write_file("where-key.inc", "\n   key = /k/b.key;\n");
    snprintf(path, sizeof(path), "%s/where.conf", tmpdir);
    load_path(&r, path);
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.cfg->n_dkim_domain, 2);

    /* the directive in a nested block: its name's line and column */
    snprintf(want, sizeof(want), "%s:6:11", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 0, "key"), want);
    snprintf(want, sizeof(want), "%s:5:9", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 0, "selector"),
                        want);
    /* one line, several statements */
    snprintf(want, sizeof(want), "%s:8:32", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 1, "selector"),
                        want);
    /* written in an included file: that file */
    snprintf(want, sizeof(want), "%s/where-key.inc:2:4", tmpdir);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 1, "key"), want);
    /* NULL: the block itself */
    snprintf(want, sizeof(want), "%s:3:5", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 0, NULL), want);
    snprintf(want, sizeof(want), "%s:8:3", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 1, NULL), want);
    /* a SINGLE section: not written -> its first opening */
    snprintf(want, sizeof(want), "%s:2:1", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim, 0, "sign_headers"), want);
    snprintf(want, sizeof(want), "%s:12:1", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spamd, 0, "spam_header"), want);
    /* written twice ('=' then '+='): the last statement */
    snprintf(want, sizeof(want), "%s:14:3", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spamd, 0, "servers"), want);
    snprintf(want, sizeof(want), "%s:15:3", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spamd, 0, "spamd_greylist"),
                        want);
    /* the top level */
    snprintf(want, sizeof(want), "%s:1:1", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_global, 0, "pidfile"), want);
    /* nothing known: the main file */
    assert_string_equal(cfg_where(r.cfg, RM_SEC_global, 0, "tempdir"), path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_clamav, 0, "servers"), path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim_domain, 7, "key"), path);
    /* a name that is no directive of the section: as if not written */
    snprintf(want, sizeof(want), "%s:12:1", path);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spamd, 0, "no_such_thing"),
                        want);
    res_free(&r);

    /* an alias names the same directive; cfg_load_string and defaults */
    load_str(&r, "spf {\n  spf_domains = example.org;\n}\n");
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spf, 0, "domains"),
                        "t.conf:2:3");
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spf, 0, "spf_domains"),
                        "t.conf:2:3");
    assert_string_equal(cfg_where(r.cfg, RM_SEC_spf, 0, "softfail"),
                        "t.conf:1:1");
    res_free(&r);
    r.cfg = cfg_defaults();
    assert_string_equal(cfg_where(r.cfg, RM_SEC_dkim, 0, "key"), "config");
    cfg_unref(r.cfg);
}

static void
test_include_errors(void **state)
{
    char path[512], want[2048];
    struct res r;

    (void)state;
    write_file("loop-a.conf", "pidfile = /x;\n.include loop-b.conf\n");
    write_file("loop-b.conf", "\n  .include loop-a.conf\n");
    snprintf(path, sizeof(path), "%s/loop-a.conf", tmpdir);
    load_path(&r, path);
    snprintf(want, sizeof(want),
             "%s/loop-b.conf:2:3: error: include loop: '%s/loop-a.conf' is "
             "already being read\n",
             tmpdir, tmpdir);
    assert_string_equal(r.text, want);
    assert_int_equal(r.rc, -1);
    res_free(&r);

    write_file("missing.conf", "# header\n.include nope.conf\n"
                               ".include none/*.conf\n"
                               ".try_include nope2.conf\n"
                               ".include bad.conf\n");
    write_file("bad.conf", "clamav { servers }\n");
    snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
    load_path(&r, path);
    snprintf(want, sizeof(want),
             "%s/missing.conf:2:1: error: .include: cannot read "
             "'%s/nope.conf': No such file or directory\n"
             "%s/missing.conf:3:1: error: .include: no file matches "
             "'%s/none/*.conf'\n"
             "%s/bad.conf:1:18: error: expected '=' after 'servers', found "
             "'}'\n",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
    assert_string_equal(r.text, want);
    res_free(&r);

    /* a chain deeper than CFG_MAX_INCLUDE_DEPTH */
    for (int i = 0; i <= CFG_MAX_INCLUDE_DEPTH + 1; i++) {
        char name[64], text[128];

        snprintf(name, sizeof(name), "deep%d.conf", i);
        snprintf(text, sizeof(text), ".include deep%d.conf\n", i + 1);
        write_file(name, text);
    }
    snprintf(path, sizeof(path), "%s/deep0.conf", tmpdir);
    load_path(&r, path);
    snprintf(want, sizeof(want),
             "%s/deep31.conf:1:1: error: includes nested more than 32 deep "
             "at '%s/deep32.conf'\n",
             tmpdir, tmpdir);
    assert_string_equal(r.text, want);
    res_free(&r);

    load_path(&r, "/nonexistent/rmilter.conf");
    assert_string_equal(r.text, "/nonexistent/rmilter.conf: error: cannot "
                                "read '/nonexistent/rmilter.conf': No such "
                                "file or directory\n");
    assert_int_equal(r.rc, -1);
    res_free(&r);
}

static void
test_no_includes_flag(void **state)
{
    const char *text = "clamav { .include /etc/passwd }\n";
    struct rm_config *c = NULL;
    struct rm_diag d = {0};

    (void)state;
    assert_int_equal(cfg__load_string_flags("fuzz", text, strlen(text),
                                            CFG_LOAD_NO_INCLUDES, &c, &d),
                     -1);
    assert_null(c);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines[0], "fuzz:1:10: error: .include is not "
                                    "allowed in this configuration");
    diag_free(&d);
}

/* config/legacy-1.6.conf: the rmilter 1.6 - 1.8 style parses, with a
 * warning for every directive that does nothing here */
static void
test_legacy_config(void **state)
{
    char path[512], want[16384];
    struct res r;

    (void)state;
    snprintf(path, sizeof(path), "%s/config/legacy-1.6.conf", RM_SOURCE_DIR);
    load_path(&r, path);
    snprintf(
        want, sizeof(want),
        "%1$s:16:2: warning: 'port_timeout' is accepted for compatibility and "
        "does nothing: the STREAM/PORT protocol is not used\n"
        "%1$s:27:2: warning: 'also_check' is accepted for compatibility and "
        "does nothing: second scans are not supported\n"
        "%1$s:28:2: warning: 'diff_dir' is accepted for compatibility and "
        "does nothing: unused since rmilter 1.9\n"
        "%1$s:46:17: warning: {a, b} mirror pairs are not supported: both "
        "servers become ordinary members of 'servers_grey' (mirror_grey and "
        "mirror_white take copies)\n"
        "%1$s:60:1: warning: section 'memcached' is ignored: memcached is not "
        "supported; use redis { }\n"
        "%1$s:69:1: warning: 'check_auth' sets 'strict_auth' again (first at "
        "line 68); the last value is used\n"
        "%1$s:71:1: warning: 'use_dcc' is accepted for compatibility and does "
        "nothing: DCC is not supported\n"
        "%1$s:72:1: warning: 'use_redis' is accepted for compatibility and "
        "does nothing: a redis { } section selects Redis by itself\n"
        "%1$s:88:2: warning: 'protocol' is accepted for compatibility and "
        "does nothing: beanstalkd speaks TCP only\n"
        "%1$s:94:2: warning: 'send_beanstalk_spam_extra_diff' is accepted for "
        "compatibility and does nothing: second scans are not supported\n"
        "%1$s:119:2: warning: 'rspamd_sign' is accepted for compatibility and "
        "does nothing: rspamd does not sign here; domain { } blocks do\n",
        path);
    assert_string_equal(r.text, want);
    assert_int_equal(r.rc, 0);
    /* bare numbers are seconds; 00600 is octal; 10M is 10 MiB */
    assert_int_equal(r.cfg->clamav.error_time, 10000);
    assert_int_equal(r.cfg->clamav.dead_time, 300000);
    assert_int_equal(r.cfg->beanstalk.lifetime, 172800000ull);
    assert_int_equal(r.cfg->global.tempfiles_mode, 0600);
    assert_int_equal(r.cfg->global.max_size, 10 * 1048576);
    assert_string_equal(r.cfg->spamd.servers.v[0].host, "localhost");
    assert_int_equal(r.cfg->spamd.servers.v[0].port, 11333);
    assert_true(r.cfg->spamd.servers.v[0].rspamd);
    assert_string_equal(r.cfg->redis.dbname, "0");
    assert_int_equal(r.cfg->redis.servers_grey.n, 2);
    assert_int_equal(iplist_count(r.cfg->greylisting.whitelist), 3);
    assert_true(r.cfg->greylisting.awl_enable);
    assert_int_equal(r.cfg->greylisting.awl_pool, 10 * 1048576);
    assert_non_null(r.cfg->beanstalk.id_regexp);
    assert_string_equal(regex_source(r.cfg->beanstalk.id_regexp),
                        "/^SomeID.*$/");
    assert_int_equal(r.cfg->n_dkim_domain, 1);
    assert_string_equal(r.cfg->dkim_domain[0].domain, "*");
    assert_string_equal(r.cfg->dkim_domain[0].key, "/etc/dkim");
    assert_int_equal(r.cfg->dkim.sign_alg, 0);
    assert_true(cfg_present(r.cfg, RM_SEC_spf));
    assert_int_equal(r.cfg->spf.domains.n, 2);
    assert_false(r.cfg->global.strict_auth);
    assert_int_equal(iplist_count(r.cfg->limits.limit_whitelist), 1);
    assert_int_equal(r.cfg->n_rules, 2);
    assert_int_equal(r.cfg->rules[1].action, RM_RULE_TEMPFAIL);
    assert_int_equal(r.cfg->rules[1].n_conds, 2);
    assert_false(cfg_present(r.cfg, RM_SEC_memcached));
    res_free(&r);
}

/* --- dump ---------------------------------------------------------------- */

/* roundtrip - dump -> parse -> dump is byte-identical and clean */
static void
roundtrip(const struct rm_config *c)
{
    char *d1 = dump_str(c), *d2;
    struct res r;

    load_str(&r, d1);
    assert_string_equal(r.text, "");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.cfg->present, c->present);
    assert_int_equal(r.cfg->n_rules, c->n_rules);
    d2 = dump_str(r.cfg);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
    res_free(&r);
}

static void
test_dump_shipped(void **state)
{
    static const char *const files[] = {
        "rmilter.conf.sample",          "config/postfix-inbound.conf",
        "config/outbound-signing.conf", "config/greylist-only.conf",
        "config/legacy-1.6.conf",
    };
    struct rm_config *d = cfg_defaults();

    (void)state;
    roundtrip(d);
    cfg_unref(d);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        struct res r;

        snprintf(path, sizeof(path), "%s/%s", RM_SOURCE_DIR, files[i]);
        load_path(&r, path);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.diag.n_errors, 0);
        /* every shipped config but the legacy one is warning-free */
        if (strstr(files[i], "legacy") == NULL)
            assert_string_equal(r.text, "");
        else
            assert_int_equal(r.diag.n_warnings, 11);
        roundtrip(r.cfg);
        res_free(&r);
    }
}

static void
test_dump_format(void **state)
{
    struct res r;
    char *d;

    (void)state;
    load_str(&r, "clamav { servers = 127.0.0.1:3310; port_timeout = 1s; }\n"
                 "dkim { domain { domain = a.example; selector = s; key = "
                 "/k; } }\n"
                 "rule { reject \"say \\\"no\\\"\"; header /^X-A$/ \"/a b;c/\";"
                 " not helo \"/\\n/\"; }\n");
    d = dump_str(r.cfg);
    /* a configured section, the doc line above each directive */
    assert_non_null(strstr(d, "\nclamav {\n    # scan with clamd servers or "
                              "in-process with libclamav\n    engine = "
                              "clamd;\n"));
    assert_non_null(strstr(d, "    servers = 127.0.0.1:3310;\n"));
    /* NOOP directives are left out */
    assert_null(strstr(d, "port_timeout"));
    /* a section not written is commented out */
    assert_non_null(strstr(d, "\n# (not configured)\n# spamd {\n#     # "
                              "spamd servers;"));
    /* repeated blocks inside their section */
    assert_non_null(strstr(d, "    domain {\n        # the domain, or * for "
                              "every domain (key is then a directory)\n"
                              "        domain = a.example;\n"));
    /* rules last, regexps bare when they can be, quoted when not */
    assert_non_null(strstr(d, "rule {\n    reject \"say \\\"no\\\"\";\n"
                              "    header /^X-A$/ /a b;c/;\n"
                              "    not helo \"/\\n/\";\n}\n"));
    free(d);
    roundtrip(r.cfg);
    res_free(&r);
}

/* --- reference ----------------------------------------------------------- */

static void
test_reference(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    cfg_reference(f, RM_REF_MARKDOWN);
    fclose(f);
    assert_non_null(strstr(buf, "# rmilter.conf directives\n"));
    assert_non_null(strstr(buf, "\n## clamav { }\n\nVirus scanning with "
                                "ClamAV.\n"));
    assert_non_null(strstr(buf, "| `connect_timeout` | time (bare number: "
                                "seconds) | `1s` | 1ms to 10m | connect "
                                "timeout |\n"));
    assert_non_null(strstr(buf, "| `on_failure` | one of `tempfail`, "
                                "`accept`, `continue` | `tempfail` |  | what "
                                "to do when no scan result can be had |\n"));
    assert_non_null(strstr(buf, "| `servers` | list of servers (default port "
                                "3310) | empty |  |"));
    assert_non_null(strstr(buf, "- `port_timeout`: the STREAM/PORT protocol "
                                "is not used\n"));
    assert_non_null(strstr(buf, "\nAliases: `tempfail_on_error` = "
                                "`spamd_temp_fail`.\n"));
    assert_non_null(strstr(buf, "\n## dkim { domain { } }\n"));
    assert_non_null(strstr(buf, "\n## memcached { }\n\nMemcached is not "
                                "supported; use redis { }.\n\nThe section is "
                                "read and ignored, with a warning.\n"));
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    cfg_reference(f, RM_REF_ROFF);
    fclose(f);
    assert_non_null(strstr(buf, ".TH RMILTER.CONF 5 "));
    assert_non_null(strstr(buf, ".SS \"clamav { }\"\n"));
    assert_non_null(strstr(buf, ".TP\n.B connect_timeout\nconnect "
                                "timeout.\n.br\nType: time (bare number: "
                                "seconds); default: 1s; 1ms to 10m.\n"));
    free(buf);
}

/* --- reference counting -------------------------------------------------- */

static int state_freed;

static void
free_state(void *p)
{
    assert_ptr_equal(p, &state_freed);
    state_freed++;
}

static void
test_refcount(void **state)
{
    struct rm_config *c = cfg_defaults();

    (void)state;
    state_freed = 0;
    c->modules_state = &state_freed;
    c->modules_state_free = free_state;
    assert_ptr_equal(cfg_ref(c), c);
    assert_int_equal(atomic_load(&c->refs), 2);
    cfg_unref(c);
    assert_int_equal(state_freed, 0);
    cfg_unref(c);
    assert_int_equal(state_freed, 1);
    cfg_unref(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_optional_semicolons_and_empty),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_type_errors_collected),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_noop_and_ignored),
        cmocka_unit_test(test_override),
        cmocka_unit_test(test_mirror_group),
        cmocka_unit_test(test_multi_blocks),
        cmocka_unit_test(test_semantic_checks),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_include_errors),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_no_includes_flag),
        cmocka_unit_test(test_legacy_config),
        cmocka_unit_test(test_dump_shipped),
        cmocka_unit_test(test_dump_format),
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_refcount),
    };

    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
