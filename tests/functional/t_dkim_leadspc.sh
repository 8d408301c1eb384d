#!/usr/bin/env bash
# t_dkim_leadspc - headers reach the checks exactly as written, and headers
# we add arrive formatted normally (SMFIP_HDR_LEADSPC through Postfix).
#
# Why: without SMFIP_HDR_LEADSPC the MTA eats the space after a header's
# colon before the milter sees the header, so a message with "Subject:x"
# (no space) was signed as "Subject: x" while Postfix delivered
# "Subject:x", and a verifier using header_canon = simple rejected the
# signature. With it negotiated, the signer gets every header byte for
# byte (also "Name:<TAB>value" and two spaces), dkimpy (not libopendkim)
# says the simple/simple signature of such a message is valid, and the
# headers rmilter adds (a rule's X-Rule, the DKIM-Signature) still arrive
# as "Name: value", with exactly one space, because the MTA no longer puts
# one in for us.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"
"$PY" -c 'import dkim, dns.resolver' 2>/dev/null ||
    skip "python3-dkim or python3-dnspython is not installed"

K=$T/keys
mkdir -p "$K"
chmod 700 "$K"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.key" 2>/dev/null
chmod 600 "$K/rsa.key"
pub=$(openssl pkey -in "$K/rsa.key" -pubout -outform DER 2>/dev/null | base64 -w0)
rec="v=DKIM1; k=rsa; p=$pub"
zone dkim.test <<EOF
rsa._domainkey.rsa     TXT "${rec:0:250}" "${rec:250}"
EOF
start_dns

rm_config "$RM_CONF" <<EOF
dkim {
    header_canon = simple;
    body_canon = simple;
    sign_networks = 127.0.0.0/8;
    domain { domain = rsa.dkim.test; selector = rsa; key = "$K/rsa.key"; }
}
rule { add_header "X-Rule" "matched"; envrcpt /^tagme@/; };
EOF
start_rmilter
start_sink
PF_EXTRA="mynetworks = 127.0.0.0/8" start_postfix "$RM_SOCK"

# The message as written: no space after "Subject:", a tab after "X-Tab:",
# two spaces after "Content-Type:" (signed headers, all of them, and none
# that Postfix rewrites, as it does address headers)
TOK=$(new_token)
printf '%s\r\n' \
    "From: a@rsa.dkim.test" \
    "To: tagme@example.test" \
    "Subject:x $TOK" \
    "Date: Sat, 21 Nov 2026 12:00:00 +0000" \
    "Message-ID: <$TOK@rsa.dkim.test>" \
    "MIME-Version: 1.0" \
    "Content-Type:  text/plain;" \
    "	charset=us-ascii" \
    "X-Tab:	tab" \
    "" \
    "Body of $TOK" \
    "" >"$T/msg.eml"
send_mail --to tagme@example.test --data "$T/msg.eml"
assert_reply '^250 ' "accepted"
MSG=$(sink_wait_msg "$TOK")

# delivered as written...
H=$(sink_headers "$MSG")
assert_match "^Subject:x $TOK\$" "$(grep '^Subject:' <<<"$H")" "Subject:x delivered as written"
assert_match "^Content-Type:  text/plain;\$" "$(grep '^Content-Type:' <<<"$H")" "two spaces delivered as written"
assert_eq "$(printf 'X-Tab:\ttab')" "$(grep '^X-Tab:' <<<"$H")" "a tab delivered as written"
# ...and signed as written: simple/simple verifies
VOUT=$("$PY" "$FT_DIR/dkim_verify.py" "$DNS_PORT" "$MSG" 2>&1) || {
    sed 's/^/    /' "$MSG" >&2
    fail "dkimpy: $VOUT"
}
say "dkimpy: $VOUT"
assert_match '^0 d=rsa\.dkim\.test s=rsa a=rsa-sha256 c=simple/simple folded=no valid$' "$VOUT" \
    "the simple/simple signature of Subject:x is valid"

# what rmilter added reads "Name: value", exactly one space
assert_eq "X-Rule: matched" "$(grep '^X-Rule:' <<<"$H")" "the rule's header, one space"
assert_match '^DKIM-Signature: v=1; ' "$(grep '^DKIM-Signature:' <<<"$H")" "the signature, one space"

# the checks still see the value without the space: a rule on the header
rm_config "$RM_CONF" <<EOF
rule { add_header "X-Subject-Rule" "hit"; header /^subject\$/i /^x ft-/; };
rule { add_header "X-Spaced-Rule" "hit"; header /^x-two\$/i /^ two\$/; };
EOF
log_mark
rm_signal HUP
wait_for_log "reloaded .*generation 2" 10
TOK=$(new_token)
printf '%s\r\n' \
    "From: a@example.org" \
    "Subject:x $TOK" \
    "X-Two:  two" \
    "" \
    "Body" "" >"$T/msg2.eml"
send_mail --data "$T/msg2.eml"
assert_reply '^250 ' "accepted"
H=$(sink_headers "$(sink_wait_msg "$TOK")")
assert_eq "X-Subject-Rule: hit" "$(grep '^X-Subject-Rule:' <<<"$H")" \
    "header /^x ft-/ matches Subject:x (the value without a space)"
assert_eq "X-Spaced-Rule: hit" "$(grep '^X-Spaced-Rule:' <<<"$H")" \
    "header /^ two\$/ matches X-Two:<2 spaces>two (one space eaten, as before)"
stop_rmilter
