#!/usr/bin/env bash
# t_spf - SPF results through Postfix, against a local authoritative DNS.
#
# Why: every SPF result must give the documented outcome at the right
# place: pass, neutral, none, softfail and permerror a Received-SPF header
# (RFC 7208 9.1 form) at the next hop; fail a "550 5.7.23 SPF policy
# violation" at the client; temperror "451 4.7.24". The records exercise
# what libspf2 does over our DNS layer: ip4, include, redirect, a/mx, a
# macro (exists:%{i}), a multi-string TXT, an include loop, a syntax error
# and a name the server refuses. Only listed domains are checked (exact,
# any case); whitelisted recipients and authenticated clients are exempt;
# the null sender is checked as postmaster@<HELO>. After a reload with
# other policies, softfail and permerror reject and temperror only tags.
#
# The client address comes from Postfix XCLIENT (192.0.2.x: libspf2 passes
# loopback clients unconditionally); every lookup goes to NSD on 127.0.0.1
# through dns { nameserver }, Postfix itself does no DNS.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"

zone spf.test <<'EOF'
pass        TXT "v=spf1 ip4:192.0.2.0/25 -all"
fail        TXT "v=spf1 ip4:198.51.100.0/24 -all"
soft        TXT "v=spf1 ~all"
neutral     TXT "v=spf1 ?all"
none        A   192.0.2.99
include     TXT "v=spf1 include:pass.spf.test -all"
redirect    TXT "v=spf1 redirect=pass.spf.test"
macro       TXT "v=spf1 exists:%{i}._ip.spf.test -all"
192.0.2.1._ip A 127.0.0.2
mx          TXT "v=spf1 a mx -all"
mx          A   192.0.2.10
mx          MX  10 mail.mx.spf.test.
mail.mx     A   192.0.2.11
long        TXT "v=spf1 ip4:198.51.100.7 " "ip4:192.0.2.1 -all"
loop        TXT "v=spf1 include:loop2.spf.test -all"
loop2       TXT "v=spf1 include:loop.spf.test -all"
perm        TXT "v=spf1 ip4:192.0.2.300 -all"
temp        TXT "v=spf1 include:elsewhere.invalid -all"
helo        TXT "v=spf1 ip4:192.0.2.1 -all"
unlisted    TXT "v=spf1 -all"
EOF
start_dns
assert_eq '"v=spf1 ip4:198.51.100.7 " "ip4:192.0.2.1 -all"' "$(dns_txt long.spf.test)" "the test DNS answers"

spf_conf() { # SOFTFAIL TEMPERROR PERMERROR
    rm_config "$RM_CONF" <<EOF
whitelist = postmaster@example.test;
our_networks = 192.0.2.128/25;
dns { nameserver = 127.0.0.1:$DNS_PORT; timeout = 3s; retries = 1; }
spf {
    domains = pass.spf.test, FAIL.Spf.Test, soft.spf.test, neutral.spf.test,
        none.spf.test, include.spf.test, redirect.spf.test, macro.spf.test,
        mx.spf.test, long.spf.test, loop.spf.test, perm.spf.test,
        temp.spf.test;
    softfail = $1;
    temperror = $2;
    permerror = $3;
}
spf_domains = helo.spf.test;
EOF
}
spf_conf header tempfail header
start_rmilter
start_sink
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = 127.0.0.0/8 192.0.2.0/24 203.0.113.0/24" start_postfix "$RM_SOCK"

TOK=
# send FROM ADDR [SWAKS ARGS] : a message from client ADDR (XCLIENT, named
# mx.client.test), envelope sender FROM, a fresh token as the subject
send() {
    local from=$1 addr=$2
    shift 2
    TOK=$(new_token)
    send_mail --from "$from" --xclient "ADDR=$addr NAME=mx.client.test" \
        --h-Subject "$TOK" --body "body $TOK" "$@"
}

# spf_header : the Received-SPF header(s) of the message $TOK, unfolded
spf_header() {
    local f
    f=$(sink_wait_msg "$TOK")
    sink_headers "$f" | unfold | grep '^Received-SPF:' || true
}

# expect_header RESULT COMMENT [IDENTITY [ENVFROM]] : accepted, and exactly one
# Received-SPF header of that form arrived
expect_header() {
    local res=$1 why=$2 ident=${3:-mailfrom} env=${4:-} h
    assert_reply '^250 ' "$res is accepted"
    h=$(spf_header)
    assert_eq 1 "$(grep -c . <<<"$h")" "one Received-SPF header for $res"
    assert_match "^Received-SPF: $res \\(mta\\.test: $why\\) client-ip=192\\.0\\.2\\.[0-9]+; envelope-from=\"$env\"; helo=client\\.test; receiver=mta\\.test; identity=$ident;\$" "$h" "Received-SPF for $res"
}

ip=192.0.2.1
send a@pass.spf.test $ip
expect_header pass "domain of a@pass\\.spf\\.test designates 192\\.0\\.2\\.1 as permitted sender" mailfrom a@pass.spf.test
# a trace field: above Postfix's own Received: line
f=$(sink_wait_msg "$TOK")
assert_eq "Received-SPF" "$(sink_headers "$f" | grep -vE '^X-|^[[:blank:]]' | sed -n '2s/:.*//p')" "Received-SPF comes first (after smtp-sink's own line)"

send a@fail.spf.test $ip
assert_reply '^550 5\.7\.23 SPF policy violation\. Host mx\.client\.test\[192\.0\.2\.1\] is not allowed to send mail as a@fail\.spf\.test\.$' "fail rejects"
wait_for_log "spf: fail for a@fail\\.spf\\.test from mx\\.client\\.test\\[192\\.0\\.2\\.1\\]"

send a@soft.spf.test $ip
expect_header softfail "domain of transitioning a@soft\\.spf\\.test does not designate 192\\.0\\.2\\.1 as permitted sender" mailfrom a@soft.spf.test

send a@neutral.spf.test $ip
expect_header neutral "192\\.0\\.2\\.1 is neither permitted nor denied by domain of a@neutral\\.spf\\.test" mailfrom a@neutral.spf.test

send a@none.spf.test $ip
expect_header none "domain of a@none\\.spf\\.test does not designate permitted sender hosts" mailfrom a@none.spf.test

send a@include.spf.test $ip
expect_header pass "domain of a@include\\.spf\\.test designates 192\\.0\\.2\\.1 as permitted sender" mailfrom a@include.spf.test
send a@include.spf.test 203.0.113.5 # outside pass's range
assert_reply '^550 5\.7\.23 ' "an include that does not match: fail"
send a@redirect.spf.test $ip
expect_header pass "domain of a@redirect\\.spf\\.test designates 192\\.0\\.2\\.1 as permitted sender" mailfrom a@redirect.spf.test

send a@macro.spf.test $ip
expect_header pass "domain of a@macro\\.spf\\.test designates 192\\.0\\.2\\.1 as permitted sender" mailfrom a@macro.spf.test
send a@macro.spf.test 192.0.2.2
assert_reply '^550 5\.7\.23 .*Host mx\.client\.test\[192\.0\.2\.2\]' "macro: no %{i} record for 192.0.2.2: fail"

send a@mx.spf.test 192.0.2.11
expect_header pass "domain of a@mx\\.spf\\.test designates 192\\.0\\.2\\.11 as permitted sender" mailfrom a@mx.spf.test
send a@mx.spf.test 192.0.2.10
expect_header pass "domain of a@mx\\.spf\\.test designates 192\\.0\\.2\\.10 as permitted sender" mailfrom a@mx.spf.test

send a@long.spf.test $ip
expect_header pass "domain of a@long\\.spf\\.test designates 192\\.0\\.2\\.1 as permitted sender" mailfrom a@long.spf.test

send a@loop.spf.test $ip
expect_header permerror "permanent error in processing domain of a@loop\\.spf\\.test: [^)]*" mailfrom a@loop.spf.test
send a@perm.spf.test $ip
expect_header permerror "permanent error in processing domain of a@perm\\.spf\\.test: [^)]*" mailfrom a@perm.spf.test

send a@temp.spf.test $ip
assert_reply '^451 4\.7\.24 Temporary error checking the SPF record of a@temp\.spf\.test; try again later\.$' "temperror tempfails"

# the null sender: postmaster@<HELO>, listed through the global spf_domains
TOK=$(new_token)
send_mail --from '<>' --helo helo.spf.test --xclient "ADDR=$ip NAME=mx.client.test" --h-Subject "$TOK" --body x
assert_reply '^250 ' "null sender, HELO passes"
h=$(spf_header)
assert_match '^Received-SPF: pass \(mta\.test: domain of postmaster@helo\.spf\.test designates 192\.0\.2\.1 as permitted sender\) client-ip=192\.0\.2\.1; envelope-from="postmaster@helo\.spf\.test"; helo=helo\.spf\.test; receiver=mta\.test; identity=helo;$' "$h" "HELO identity"
TOK=$(new_token)
send_mail --from '<>' --helo helo.spf.test --xclient "ADDR=192.0.2.3 NAME=mx.client.test" --h-Subject "$TOK" --body x
assert_reply '^550 5\.7\.23 .*send mail as postmaster@helo\.spf\.test\.$' "null sender, HELO fails"

# not listed: not checked
send a@unlisted.spf.test $ip
assert_reply '^250 ' "unlisted domain"
assert_eq "" "$(spf_header)" "no Received-SPF for an unlisted domain"

# exempt: a whitelisted recipient, an authenticated client (our_networks)
send a@fail.spf.test $ip --to postmaster@example.test
assert_reply '^250 ' "whitelisted recipient"
assert_eq "" "$(spf_header)" "no check for a whitelisted recipient"
send a@fail.spf.test 192.0.2.200
assert_reply '^250 ' "our_networks client"
assert_eq "" "$(spf_header)" "no check for an authenticated client"
wait_for_log "checks: spf=skipped\\(authenticated\\)" 5

# other policies, after a reload: softfail and permerror reject, temperror tags
log_mark
spf_conf reject header reject
rm_signal HUP
wait_for_log "reloaded .*generation 2" 10
send a@soft.spf.test $ip
assert_reply '^550 5\.7\.23 SPF policy violation\. Host mx\.client\.test\[192\.0\.2\.1\] is not allowed to send mail as a@soft\.spf\.test\.$' "softfail = reject"
send a@perm.spf.test $ip
assert_reply '^550 5\.7\.24 SPF permanent error: the SPF record of a@perm\.spf\.test is invalid\.$' "permerror = reject"
send a@temp.spf.test $ip
expect_header temperror "temporary error in processing during lookup of a@temp\\.spf\\.test: [^)]*" mailfrom a@temp.spf.test

stop_rmilter
