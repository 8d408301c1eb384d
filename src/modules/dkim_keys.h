/*
 * NAME
 *   dkim_keys - DKIM signing keys: loading at config time, choosing the
 *   keys for a message by its From: domain
 *
 * DESCRIPTION
 *   dkim_keys_load reads every dkim { domain { domain; selector; key } }
 *   block of a config generation, once, at start-up or reload:
 *     - key is a file: the private key for that domain and selector;
 *     - domain = "*" and key is a directory: every file named
 *       <domain>.<selector>.key in it is the key of <domain> (the file
 *       names say which domains exist; new files need a reload);
 *     - another domain and key is a directory (the original's form):
 *       the file <dir>/<domain>.<selector>.key.
 *   Keys are PEM private keys (PKCS#1 "RSA PRIVATE KEY" as written by
 *   opendkim-genkey, or PKCS#8 "PRIVATE KEY", e.g. from openssl genpkey),
 *   RSA of at least 1024 bits or Ed25519 (RFC 8463). The key's type fixes
 *   the algorithm: Ed25519 keys sign ed25519-sha256; RSA keys sign with
 *   dkim { sign_alg } (rsa-sha256, or rsa-sha1 with a warning, RFC 8301);
 *   sign_alg = ed25519-sha256 requires every key to be Ed25519.
 *
 *   Diagnostics go to diag, naming the block's domain and the file:
 *   errors (a block without domain, selector or key; a missing,
 *   unreadable, empty or unparsable key; an RSA key under 1024 bits; a
 *   key type sign_alg cannot use; the same domain and selector twice)
 *   make the load fail, so `rmilter -t` fails and a reload keeps the old
 *   generation; warnings (a key file readable or writable by others, a
 *   key directory with no key in it, rsa-sha1) do not. A broken key is
 *   never discovered per message.
 *
 *   Choosing keys (dkim_keys_find): the signing domain is the From:
 *   domain if it has keys, else its nearest parent domain that has keys
 *   (a@mail.example.org is signed as example.org when only example.org is
 *   configured); matching is by whole labels, ASCII case-insensitive,
 *   never by substring, and never stops at a single-label parent (a TLD).
 *   Every key of the chosen domain signs (an RSA and an Ed25519 key give
 *   the two signatures RFC 8463 section 4 recommends). Keys from explicit
 *   blocks hide keys for the same domain found in a wildcard directory.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The key set belongs to the config generation (dkim_keys_free) and is
 *   read-only once loaded: any thread may search it. dkim_from_domain is
 *   a pure function.
 */
#ifndef RM_MODULES_DKIM_KEYS_H
#define RM_MODULES_DKIM_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg/cfg.h"

/* Key types (the algorithm follows the type). */
enum rm_dkim_keytype { RM_DKIM_KEY_RSA, RM_DKIM_KEY_ED25519 };

/* Algorithms, numbered as libopendkim's DKIM_SIGN_* values. */
enum rm_dkim_alg {
    RM_DKIM_RSA_SHA1 = 0,
    RM_DKIM_RSA_SHA256 = 1,
    RM_DKIM_ED25519_SHA256 = 2,
};

struct rm_dkim_key {
    char *domain; /* lowercase */
    char *selector;
    char *path; /* the key file */
    char *pem;  /* the key file's contents, NUL-terminated */
    enum rm_dkim_keytype type;
    enum rm_dkim_alg alg;
    unsigned bits; /* RSA modulus size */
    bool from_dir; /* found in a wildcard directory */
    size_t block;  /* index of its dkim { domain { } } block (cfg_where) */
};

struct rm_dkim_keys {
    size_t n;
    struct rm_dkim_key *v;
};

/* dkim_keys_load - every key of cfg's dkim { } blocks; 0, or -1 when an
 * error went to diag (warnings alone return 0). *out is set on success
 * (possibly with no keys). */
int dkim_keys_load(const struct rm_config *cfg, struct rm_dkim_keys **out,
                   struct rm_diag *diag);
void dkim_keys_free(struct rm_dkim_keys *k);

/*
 * dkim_keys_find - the keys to sign mail from domain with
 *
 * Writes up to max keys to out and the signing domain (owned by the key
 * set) to *signing; returns how many (0: no key for domain or a parent).
 */
size_t dkim_keys_find(const struct rm_dkim_keys *k, const char *domain,
                      const struct rm_dkim_key **out, size_t max,
                      const char **signing);

/*
 * dkim_from_domain - the domain of the first address in a From: value
 *
 * value is the header value as the MTA sent it (display names, quoted
 * strings, comments, angle brackets, group syntax and folding allowed).
 * Writes the domain in lowercase to out; 0, or -1 when there is no usable
 * domain (no address, a domain literal, characters no host name has, or
 * longer than outlen - 1).
 */
int dkim_from_domain(const char *value, char *out, size_t outlen);

#endif
