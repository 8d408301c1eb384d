/*
 * NAME
 *   test_dkim_keys - DKIM key loading, key choice by domain, From: parsing
 *
 * DESCRIPTION
 *   Keys are generated here with OpenSSL (RSA 1024 in PKCS#1 and PKCS#8,
 *   RSA 512, Ed25519) into a mkdtemp directory, and configs are parsed
 *   from text (cfg_load_string) naming them. The tests assert what a
 *   postmaster sees: which configs load, and the diagnostic naming the
 *   file for those that do not; which domain signs a given From: (exact,
 *   parent, never a substring or a TLD); and the From: domain of the
 *   header forms mail really has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "modules/dkim_keys.h"

#define P 512 /* path buffers; dir is at most 200 bytes */
static char dir[200];
static char rsa1[P], rsa8[P], ed[P], weak[P], garbage[P], open_key[P];
static char wild[300];

/* ---------------------------------------------------------------------- */
/* Fixtures */

static void
write_key(const char *path, EVP_PKEY *k, bool traditional, mode_t mode)
{
    BIO *b = BIO_new_file(path, "w");

    assert_non_null(b);
    if (traditional)
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL,
                                                              0, NULL, NULL),
                         1);
    else
        assert_int_equal(
            PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(b);
    assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
    EVP_PKEY *rsa, *rsa512, *edk;
    char p[P];
    FILE *f;

    (void)state;
    const char *tmp = getenv("TMPDIR");

    if (tmp == NULL || strlen(tmp) > 150)
        tmp = "/tmp";
    snprintf(dir, sizeof(dir), "%s/test_dkim_keys.XXXXXX", tmp);
    assert_non_null(mkdtemp(dir));
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    rsa512 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
    edk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(rsa);
    assert_non_null(rsa512);
    assert_non_null(edk);

    snprintf(rsa1, sizeof(rsa1), "%s/rsa-pkcs1.pem", dir);
    write_key(rsa1, rsa, true, 0600);
    snprintf(rsa8, sizeof(rsa8), "%s/rsa-pkcs8.pem", dir);
    write_key(rsa8, rsa, false, 0640);
    snprintf(ed, sizeof(ed), "%s/ed25519.pem", dir);
    write_key(ed, edk, false, 0600);
    snprintf(weak, sizeof(weak), "%s/rsa512.pem", dir);
    write_key(weak, rsa512, false, 0600);
    snprintf(open_key, sizeof(open_key), "%s/world.pem", dir);
    write_key(open_key, rsa, false, 0644);
    snprintf(garbage, sizeof(garbage), "%s/garbage.pem", dir);
    f = fopen(garbage, "w");
    assert_non_null(f);
    fputs("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
          "-----END PRIVATE KEY-----\n",
          f);
    fclose(f);
    chmod(garbage, 0600);

    /* a wildcard directory: two domains for s1, one for s2, noise */
    snprintf(wild, sizeof(wild), "%s/wild", dir);
    assert_int_equal(mkdir(wild, 0700), 0);
    snprintf(p, sizeof(p), "%s/wild.test.s1.key", wild);
    write_key(p, rsa, false, 0600);
    snprintf(p, sizeof(p), "%s/Other.Test.s1.key", wild);
    write_key(p, edk, false, 0600);
    snprintf(p, sizeof(p), "%s/wild.test.s2.key", wild);
    write_key(p, rsa, false, 0600);
    snprintf(p, sizeof(p), "%s/README", wild);
    f = fopen(p, "w");
    fclose(f);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa512);
    EVP_PKEY_free(edk);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[sizeof(dir) + 16];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct loaded {
    struct rm_config *cfg;
    struct rm_diag diag;
    struct rm_dkim_keys *keys;
    int rc;
};

/* load - a config from printf-style text, then its keys */
__attribute__((format(printf, 2, 3))) static void
load(struct loaded *l, const char *fmt, ...)
{
    char text[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memset(l, 0, sizeof(*l));
    if (cfg_load_string("t.conf", text, strlen(text), &l->cfg, &l->diag) < 0) {
        size_t i;

        for (i = 0; i < l->diag.n; i++)
            print_error("%s\n", l->diag.lines[i]);
        fail_msg("config does not parse");
    }
    l->rc = dkim_keys_load(l->cfg, &l->keys, &l->diag);
}

static void
unload(struct loaded *l)
{
    dkim_keys_free(l->keys);
    cfg_unref(l->cfg);
    diag_free(&l->diag);
}

/* diag_has - some diagnostic line holds all of a and b */
static bool
diag_has(const struct loaded *l, const char *a, const char *b)
{
    size_t i;

    for (i = 0; i < l->diag.n; i++)
        if (strstr(l->diag.lines[i], a) && (!b || strstr(l->diag.lines[i], b)))
            return true;
    for (i = 0; i < l->diag.n; i++)
        print_error("diag: %s\n", l->diag.lines[i]);
    return false;
}

/* ---------------------------------------------------------------------- */
/* Loading */

static void
test_load_ok(void **state)
{
    struct loaded l;

    (void)state;
    load(&l,
         "dkim {\n"
         " domain { domain = Example.ORG; selector = rsa; key = \"%s\"; }\n"
         " domain { domain = example.org; selector = ed; key = \"%s\"; }\n"
         " domain { domain = other.test; selector = s8; key = \"%s\"; }\n"
         "}\n",
         rsa1, ed, rsa8);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.diag.n_errors, 0);
    assert_int_equal(l.diag.n_warnings, 0);
    assert_int_equal(l.keys->n, 3);
    assert_string_equal(l.keys->v[0].domain, "example.org");
    assert_int_equal(l.keys->v[0].type, RM_DKIM_KEY_RSA);
    assert_int_equal(l.keys->v[0].alg, RM_DKIM_RSA_SHA256);
    assert_int_equal(l.keys->v[0].bits, 1024);
    assert_int_equal(l.keys->v[1].type, RM_DKIM_KEY_ED25519);
    assert_int_equal(l.keys->v[1].alg, RM_DKIM_ED25519_SHA256);
    assert_non_null(strstr(l.keys->v[2].pem, "-----BEGIN PRIVATE KEY-----"));
    unload(&l);
}

static void
test_load_errors_name_the_line(void **state)
{
    struct loaded l;
    char missing[P];

    (void)state;
    snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
    load(&l, "dkim { domain { domain = a.test; selector = s; key = \"%s\"; } }",
         missing);
    assert_int_equal(l.rc, -1);
    assert_null(l.keys);
    assert_true(diag_has(&l,
                         "t.conf:1:48: error: dkim: domain a.test selector "
                         "s: key file ",
                         "nope.pem: cannot open: No such file or directory"));
    unload(&l);

    load(&l, "dkim { domain { domain = a.test; selector = s; key = \"%s\"; } }",
         garbage);
    assert_int_equal(l.rc, -1);
    assert_true(diag_has(&l, "garbage.pem: not a valid PEM private key", NULL));
    unload(&l);

    load(&l, "dkim { domain { domain = a.test; selector = s; key = \"%s\"; } }",
         weak);
    assert_int_equal(l.rc, -1);
    assert_true(diag_has(&l, "rsa512.pem: RSA key of 512 bits", NULL));
    unload(&l);

    /* a PEM file that is not there as a key: the config file itself */
    load(&l, "dkim { domain { domain = a.test; selector = s; key = \"%s\"; } }",
         wild);
    assert_int_equal(l.rc, -1); /* wild/a.test.s.key does not exist */
    assert_true(diag_has(&l, "wild/a.test.s.key: cannot open", NULL));
    unload(&l);

    /* (a block without domain, selector or key does not parse: cfg) */

    /* the same domain and selector twice */
    load(&l,
         "dkim { domain { domain = a.test; selector = s; key = \"%s\"; }\n"
         "       domain { domain = A.test; selector = s; key = \"%s\"; } }",
         rsa1, ed);
    assert_int_equal(l.rc, -1);
    /* (the position is the second block's key) */
    assert_true(diag_has(&l, "t.conf:2:48: error: dkim: ", "configured twice"));
    unload(&l);
}

static void
test_load_warnings(void **state)
{
    struct loaded l;

    (void)state;
    load(&l, "dkim { domain { domain = a.test; selector = s; key = \"%s\"; } }",
         open_key);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.diag.n_errors, 0);
    assert_int_equal(l.diag.n_warnings, 1);
    assert_true(diag_has(&l, "t.conf:1:48: warning: dkim: ",
                         "world.pem is readable by every user (mode 0644)"));
    assert_int_equal(l.keys->n, 1);
    unload(&l);

    /* rsa-sha1: accepted, warned, used for RSA keys only */
    load(&l,
         "dkim { sign_alg = rsa-sha1;\n"
         " domain { domain = a.test; selector = r; key = \"%s\"; }\n"
         " domain { domain = a.test; selector = e; key = \"%s\"; } }",
         rsa1, ed);
    assert_int_equal(l.rc, 0);
    assert_true(
        diag_has(&l, "t.conf:1:8: warning: dkim: sign_alg = rsa-sha1", NULL));
    assert_int_equal(l.keys->v[0].alg, RM_DKIM_RSA_SHA1);
    assert_int_equal(l.keys->v[1].alg, RM_DKIM_ED25519_SHA256);
    unload(&l);

    /* sign_alg = ed25519-sha256 wants Ed25519 keys */
    load(&l,
         "dkim { sign_alg = ed25519-sha256;\n"
         " domain { domain = a.test; selector = r; key = \"%s\"; } }",
         rsa1);
    assert_int_equal(l.rc, -1);
    assert_true(diag_has(&l,
                         "rsa-pkcs1.pem is an RSA key, but sign_alg = "
                         "ed25519-sha256",
                         NULL));
    unload(&l);
}

static void
test_wildcard_directory(void **state)
{
    struct loaded l;
    const struct rm_dkim_key *k[4];
    const char *d;

    (void)state;
    load(&l, "dkim { domain { domain = \"*\"; selector = s1; key = \"%s\"; } }",
         wild);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.keys->n, 2); /* wild.test and other.test for s1 */
    assert_int_equal(dkim_keys_find(l.keys, "wild.test", k, 4, &d), 1);
    assert_string_equal(d, "wild.test");
    assert_string_equal(k[0]->selector, "s1");
    assert_int_equal(k[0]->type, RM_DKIM_KEY_RSA);
    assert_int_equal(dkim_keys_find(l.keys, "other.test", k, 4, &d), 1);
    assert_int_equal(k[0]->type, RM_DKIM_KEY_ED25519);
    assert_int_equal(dkim_keys_find(l.keys, "nokey.test", k, 4, &d), 0);
    unload(&l);

    /* a wildcard that is not a directory */
    load(&l, "dkim { domain { domain = \"*\"; selector = s1; key = \"%s\"; } }",
         rsa1);
    assert_int_equal(l.rc, -1);
    assert_true(diag_has(&l, "must be a directory", NULL));
    unload(&l);

    /* an empty selector match: a warning only */
    load(&l, "dkim { domain { domain = \"*\"; selector = zz; key = \"%s\"; } }",
         wild);
    assert_int_equal(l.rc, 0);
    assert_true(diag_has(&l, "warning: dkim: ", "no <domain>.zz.key file"));
    unload(&l);

    /* explicit blocks hide the directory's keys of the same domain */
    load(&l,
         "dkim { domain { domain = \"*\"; selector = s1; key = \"%s\"; }\n"
         "       domain { domain = wild.test; selector = ex; key = \"%s\"; } }",
         wild, ed);
    assert_int_equal(l.rc, 0);
    assert_int_equal(dkim_keys_find(l.keys, "wild.test", k, 4, &d), 1);
    assert_string_equal(k[0]->selector, "ex");
    unload(&l);
}

/* ---------------------------------------------------------------------- */
/* Choosing keys */

static void
test_find_exact_parent_never_substring(void **state)
{
    struct loaded l;
    const struct rm_dkim_key *k[4];
    const char *d;

    (void)state;
    load(&l,
         "dkim {\n"
         " domain { domain = example.org; selector = rsa; key = \"%s\"; }\n"
         " domain { domain = example.org; selector = ed; key = \"%s\"; }\n"
         " domain { domain = sub.example.org; selector = s; key = \"%s\"; }\n"
         " domain { domain = test; selector = tld; key = \"%s\"; }\n"
         "}\n",
         rsa1, ed, rsa8, rsa8);
    assert_int_equal(l.rc, 0);

    /* exact, any case: both keys (RSA and Ed25519) */
    assert_int_equal(dkim_keys_find(l.keys, "EXAMPLE.org", k, 4, &d), 2);
    assert_string_equal(d, "example.org");
    assert_string_equal(k[0]->selector, "rsa");
    assert_string_equal(k[1]->selector, "ed");
    /* max bounds the count */
    assert_int_equal(dkim_keys_find(l.keys, "example.org", k, 1, &d), 1);

    /* a parent */
    assert_int_equal(dkim_keys_find(l.keys, "mail.example.org", k, 4, &d), 2);
    assert_string_equal(d, "example.org");
    assert_int_equal(dkim_keys_find(l.keys, "a.b.c.example.org", k, 4, &d), 2);
    assert_string_equal(d, "example.org");
    /* the nearest parent wins */
    assert_int_equal(dkim_keys_find(l.keys, "x.sub.example.org", k, 4, &d), 1);
    assert_string_equal(d, "sub.example.org");
    assert_int_equal(dkim_keys_find(l.keys, "sub.example.org", k, 4, &d), 1);

    /* never a substring, never a child of the From: domain */
    assert_int_equal(dkim_keys_find(l.keys, "badexample.org", k, 4, &d), 0);
    assert_null(d);
    assert_int_equal(dkim_keys_find(l.keys, "example.org.evil.test", k, 4, &d),
                     0);
    assert_int_equal(dkim_keys_find(l.keys, "xample.org", k, 4, &d), 0);
    assert_int_equal(dkim_keys_find(l.keys, "org", k, 4, &d), 0);
    /* a configured single label signs itself, never as a parent (TLD) */
    assert_int_equal(dkim_keys_find(l.keys, "test", k, 4, &d), 1);
    assert_int_equal(dkim_keys_find(l.keys, "other.test", k, 4, &d), 0);
    assert_int_equal(dkim_keys_find(l.keys, "", k, 4, &d), 0);
    assert_int_equal(dkim_keys_find(NULL, "example.org", k, 4, &d), 0);
    unload(&l);
}

/* ---------------------------------------------------------------------- */
/* From: */

static void
assert_from(const char *value, const char *want)
{
    char out[256];
    int rc = dkim_from_domain(value, out, sizeof(out));

    if (want == NULL) {
        if (rc == 0)
            fail_msg("'%s' gave '%s', expected no domain", value, out);
        return;
    }
    if (rc != 0)
        fail_msg("'%s' gave no domain, expected '%s'", value, want);
    assert_string_equal(out, want);
}

static void
test_from_domain(void **state)
{
    char small[8];

    (void)state;
    assert_from("a@example.org", "example.org");
    assert_from("  A@Example.ORG  ", "example.org");
    assert_from("Alice <alice@Mail.Example.org>", "mail.example.org");
    assert_from("\"Smith, Alice\" <alice@example.org>", "example.org");
    assert_from("\"a@evil.test\" <alice@example.org>", "example.org");
    assert_from("a@evil.test <alice@example.org>", "example.org");
    assert_from("=?UTF-8?B?w6lsaXNl?= <e@example.org>", "example.org");
    assert_from("alice@example.org (Alice (the boss) A.)", "example.org");
    assert_from("(comment @ evil.test) alice@example.org", "example.org");
    assert_from("\"quoted@local\"@example.org", "example.org");
    assert_from("Alice\n\t<alice@example.org>", "example.org");
    assert_from("a@example.org, b@other.test", "example.org");
    assert_from("Team: a@example.org, b@other.test;", "example.org");
    assert_from("<@relay.test,@r2.test:alice@example.org>", "example.org");
    assert_from("alice@example.org.", "example.org");
    /* no usable domain */
    assert_from("", NULL);
    assert_from("alice", NULL);
    assert_from("Alice <alice>", NULL);
    assert_from("undisclosed-recipients:;", NULL);
    assert_from("alice@[192.0.2.1]", NULL);
    assert_from("alice@exa mple.org", NULL);
    assert_from("alice@", NULL);
    assert_from("alice@example..org", NULL);
    assert_int_equal(dkim_from_domain("a@example.org", small, sizeof(small)),
                     -1);
    assert_int_equal(dkim_from_domain(NULL, small, sizeof(small)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_errors_name_the_line),
        cmocka_unit_test(test_load_warnings),
        cmocka_unit_test(test_wildcard_directory),
        cmocka_unit_test(test_find_exact_parent_never_substring),
        cmocka_unit_test(test_from_domain),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
