#!/usr/bin/env bash
# t_dkim - DKIM signing through Postfix, checked by an independent verifier.
#
# Why: a signature is only worth something if another implementation
# accepts it. Mail from a client in sign_networks arrives at the sink with
# DKIM-Signature as its first header, and dkimpy (python3-dkim, not
# libopendkim), fetching the public keys from a local NSD, says every
# signature is valid: RSA and Ed25519 (RFC 8463), both on one message,
# relaxed and (after a reload) simple canonicalization, folded and not. The
# signing domain is the header From: domain or its configured parent, never
# a substring match and never the envelope sender; a wildcard key directory
# signs the domains it has files for; a domain with no key and a client
# outside sign_networks are not signed. A bad key file fails `rmilter -t`
# naming the file; a world-readable one is a warning.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"
"$PY" -c 'import dkim, dns.resolver, nacl' 2>/dev/null ||
    skip "python3-dkim, python3-dnspython or python3-nacl is not installed"

# --- keys: RSA 2048 and Ed25519, private files 0600 in a 0700 directory
K=$T/keys
mkdir -p "$K/wild"
chmod 700 "$K" "$K/wild"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.key" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$K/ed.key" 2>/dev/null
cp "$K/rsa.key" "$K/wild/wild.dkim.test.wsel.key"
chmod 600 "$K"/*.key "$K"/wild/*.key

# txt "TEXT" : TEXT as zone-file character-strings of at most 250 bytes
txt() {
    local s=$1 out=""
    while [ ${#s} -gt 250 ]; do
        out+="\"${s:0:250}\" "
        s=${s:250}
    done
    echo "$out\"$s\""
}
rsa_rec=$(txt "v=DKIM1; k=rsa; p=$(openssl pkey -in "$K/rsa.key" -pubout -outform DER 2>/dev/null | base64 -w0)")
# an Ed25519 public key record holds the raw 32-byte key (RFC 8463 4.2)
ed_rec=$(txt "v=DKIM1; k=ed25519; p=$(openssl pkey -in "$K/ed.key" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)")

zone dkim.test <<EOF
rsa._domainkey.rsa     TXT $rsa_rec
ed._domainkey.ed       TXT $ed_rec
rsa._domainkey.both    TXT $rsa_rec
ed._domainkey.both     TXT $ed_rec
wsel._domainkey.wild   TXT $rsa_rec
EOF
start_dns
assert_match '^"v=DKIM1; k=ed25519; p=' "$(dns_txt ed._domainkey.ed.dkim.test)" "the test DNS answers"

dkim_conf() { # HEADER_CANON BODY_CANON FOLD
    rm_config "$RM_CONF" <<EOF
dkim {
    header_canon = $1;
    body_canon = $2;
    fold_header = $3;
    sign_networks = 127.0.0.0/8;
    domain { domain = rsa.dkim.test; selector = rsa; key = "$K/rsa.key"; }
    domain { domain = ed.dkim.test; selector = ed; key = "$K/ed.key"; }
    domain { domain = both.dkim.test; selector = rsa; key = "$K/rsa.key"; }
    domain { domain = both.dkim.test; selector = ed; key = "$K/ed.key"; }
    domain { domain = "*"; selector = wsel; key = "$K/wild"; }
}
EOF
}
dkim_conf relaxed relaxed no
start_rmilter
start_sink
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = 127.0.0.0/8 192.0.2.0/24" start_postfix "$RM_SOCK"

TOK=
MSG=
# send FROM_HEADER [SWAKS ARGS] : a message with that From: header (the
# envelope sender stays sender@example.org) and a fresh token; waits for it
# at the sink (MSG = its file)
send() {
    local from=$1
    shift
    TOK=$(new_token)
    send_mail --h-From "$from" --h-Subject "$TOK" \
        --body "Body of $TOK
with a second line   and trailing blanks   
" "$@"
    assert_reply '^250 ' "accepted"
    MSG=$(sink_wait_msg "$TOK")
}

VOUT=
# verify : dkimpy's verdict on $MSG (VOUT = its output); fails unless valid
verify() {
    local rc=0
    VOUT=$("$PY" "$FT_DIR/dkim_verify.py" "$DNS_PORT" "$MSG" 2>&1) || rc=$?
    [ "$rc" = 0 ] || { sed 's/^/    /' "$MSG" >&2; fail "dkimpy: $VOUT"; }
    say "dkimpy: $(tr '\n' ';' <<<"$VOUT")"
}

# expect_signed FROM_HEADER LINE_REGEX... : signed, valid, one verifier line
# per regex in order, DKIM-Signature the first header
expect_signed() {
    local from=$1 re i=0
    shift
    send "$from"
    verify
    assert_eq "$#" "$(grep -c . <<<"$VOUT")" "number of signatures for $from"
    for re in "$@"; do
        assert_match "$re" "$(sed -n "$((i + 1))p" <<<"$VOUT")" "signature $i for $from"
        i=$((i + 1))
    done
    # on top: the first header after smtp-sink's own X-* and Received: lines
    assert_eq "DKIM-Signature" "$(sink_headers "$MSG" | grep -vE '^X-|^[[:blank:]]' | sed -n '2s/:.*//p')" \
        "DKIM-Signature inserted at the top"
}

expect_unsigned() { # FROM_HEADER [SWAKS ARGS]
    send "$@"
    assert_file_not_match '^DKIM-Signature:' "$MSG" "$1 is not signed"
}

# --- relaxed/relaxed, one line
expect_signed a@rsa.dkim.test '^0 d=rsa\.dkim\.test s=rsa a=rsa-sha256 c=relaxed/relaxed folded=no valid$'
expect_signed "Ed <ed@ed.dkim.test>" '^0 d=ed\.dkim\.test s=ed a=ed25519-sha256 c=relaxed/relaxed folded=no valid$'
# RSA and Ed25519 side by side (RFC 8463 4)
expect_signed "\"Both, B.\" <b@Both.DKIM.test>" \
    '^0 d=both\.dkim\.test s=ed a=ed25519-sha256 c=relaxed/relaxed folded=no valid$' \
    '^1 d=both\.dkim\.test s=rsa a=rsa-sha256 c=relaxed/relaxed folded=no valid$'
# a subdomain is signed by its configured parent
expect_signed a@mail.rsa.dkim.test '^0 d=rsa\.dkim\.test s=rsa a=rsa-sha256 c=relaxed/relaxed folded=no valid$'
wait_for_log "dkim: signed as d=rsa\\.dkim\\.test s=rsa a=rsa-sha256 for From: domain mail\\.rsa\\.dkim\\.test"
# the wildcard directory
expect_signed w@wild.dkim.test '^0 d=wild\.dkim\.test s=wsel a=rsa-sha256 c=relaxed/relaxed folded=no valid$'
# the header From:, not the envelope sender, picks the domain
send a@rsa.dkim.test --from bounce@nokey.test
verify
assert_match '^0 d=rsa\.dkim\.test s=rsa .* valid$' "$VOUT" "envelope domain without a key, From: with: signed"
send a@nokey.test --from a@rsa.dkim.test
assert_file_not_match '^DKIM-Signature:' "$MSG" "envelope domain with a key, From: without: not signed"

# not signed: no key, substrings, a client outside sign_networks
log_mark
expect_unsigned a@nokey.test
wait_for_log "dkim: no key for nokey\\.test; not signed"
expect_unsigned a@xrsa.dkim.test
expect_unsigned a@rsa.dkim.test.evil.test
expect_unsigned a@rsa.dkim.test --xclient "ADDR=192.0.2.50 NAME=outside.test"
wait_for_log "checks: .*dkim=skipped\\(not authenticated\\)"

# a signed header longer than 998 bytes is logged (Postfix would wrap it)
log_mark
long=$(printf 'x%.0s' $(seq 1 1100))
TOK=$(new_token)
send_mail --h-From a@rsa.dkim.test --h-Subject "$TOK $long" --body x
assert_reply '^250 '
wait_for_log "dkim: signed header Subject has a line of 11[0-9][0-9] bytes \\(over 998\\)"

# --- simple/simple, folded, after a reload
log_mark
dkim_conf simple simple yes
rm_signal HUP
wait_for_log "reloaded .*generation 2" 10
expect_signed a@rsa.dkim.test '^0 d=rsa\.dkim\.test s=rsa a=rsa-sha256 c=simple/simple folded=yes valid$'
# (Ed25519 with simple header canonicalization is never folded: libopendkim
# 2.11 folds it unlike what it signed; see src/modules/dkim.c)
expect_signed e@ed.dkim.test '^0 d=ed\.dkim\.test s=ed a=ed25519-sha256 c=simple/simple folded=no valid$'
expect_signed b@both.dkim.test '^0 d=both\.dkim\.test s=ed a=ed25519-sha256 c=simple/simple folded=no valid$' \
    '^1 d=both\.dkim\.test s=rsa a=rsa-sha256 c=simple/simple folded=yes valid$'

# --- relaxed headers, simple body, folded: both algorithms
log_mark
dkim_conf relaxed simple yes
rm_signal HUP
wait_for_log "reloaded .*generation 3" 10
expect_signed b@both.dkim.test '^0 d=both\.dkim\.test s=ed a=ed25519-sha256 c=relaxed/simple folded=yes valid$' \
    '^1 d=both\.dkim\.test s=rsa a=rsa-sha256 c=relaxed/simple folded=yes valid$'
stop_rmilter

# --- key files are checked by rmilter -t
check() { # EXPECTED_RC CONFIG_KEY_LINE -> $T/t.out
    local want=$1 rc=0
    RM_HEADER=0 rm_config "$T/check.conf" <<EOF
dkim { domain { domain = bad.dkim.test; selector = s; key = "$2"; } }
EOF
    "$RMILTER_BIN" -c "$T/check.conf" -t >"$T/t.out" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || { sed 's/^/    /' "$T/t.out" >&2; fail "rmilter -t with key $2: exit $rc, expected $want"; }
}
printf -- '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5Cg==\n-----END PRIVATE KEY-----\n' >"$K/garbage.key"
chmod 600 "$K/garbage.key"
check 1 "$K/garbage.key"
# (named by the position of the key directive, as config errors are)
assert_file_match "check\\.conf:2:55: error: dkim: domain bad\\.dkim\\.test selector s: key file $K/garbage\\.key: not a valid PEM private key" "$T/t.out"
check 1 "$K/missing.key"
assert_file_match "error: dkim: .*key file $K/missing\\.key: cannot open: No such file or directory" "$T/t.out"
echo "not a key at all" >"$K/text.key"
chmod 600 "$K/text.key"
check 1 "$K/text.key"
assert_file_match "key file $K/text\\.key: not a PEM private key" "$T/t.out"
cp "$K/ed.key" "$K/open.key"
chmod 644 "$K/open.key"
check 0 "$K/open.key"
assert_file_match "check\\.conf:2:55: warning: dkim: .*key file $K/open\\.key is readable by every user \\(mode 0644\\)" "$T/t.out"
assert_file_match 'configuration OK' "$T/t.out"
