#!/usr/bin/env bash
# t_karma_dnsl - DNS reputation lists (RFC 5782) in the karma module,
# through real Postfix, against a local authoritative DNS (NSD).
#
# Why: IP lists must be queried with reversed octets (IPv4) and reversed
# nibbles (IPv6), domain lists with the HELO, envelope sender and header
# From domains; only the answers a list counts are listings (the RFC 5782
# test entry 127.0.0.2 is listed, 127.0.0.1 is not; a sublist code the list
# does not count, an operator's refusal code 127.255.255.x and an answer
# outside 127/8 are not listings); the TXT record is the reason, with
# rbldnsd's "$" replaced by the address; weights add up (an allow list
# offsets a block list) into one score that rejects with 550 5.7.1 below
# reject_threshold and otherwise tags the message. A DNS server that does
# not answer is no opinion: the mail flows.
#
# Client addresses come from Postfix XCLIENT; every lookup goes to NSD on
# 127.0.0.1 through dns { nameserver }.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"

v6name=$(printf '%s' "20010db8000000000000000000000066" | rev | sed 's/./&./g; s/\.$//')
zone bl.test <<EOF
; RFC 5782 section 5 test entries: 127.0.0.2 listed, 127.0.0.1 not
2.0.0.127       A   127.0.0.2
2.0.0.127       TXT "RFC 5782 test entry"
66.2.0.192      A   127.0.0.2
66.2.0.192      TXT "Listed: see http://bl.test/lookup?ip=\$"
77.2.0.192      A   127.0.0.4
88.2.0.192      A   127.255.255.254
99.2.0.192      A   192.0.2.1
$v6name A 127.0.0.2
$v6name TXT "IPv6 listed"
EOF
zone dbl.test <<'EOF'
test            A   127.0.1.2
evil.example    A   127.0.1.2
evil.example    TXT "evil.example is a known spam source"
spam.example    A   127.0.1.2
EOF
zone wl.test <<'EOF'
2.0.0.127       A   127.0.0.2
10.2.0.192      A   127.0.0.2
EOF
start_dns
assert_eq '"RFC 5782 test entry"' "$(dns_txt 2.0.0.127.bl.test)" "the test DNS answers"

rm_config "$RM_CONF" <<EOF
dns { nameserver = 127.0.0.1:$DNS_PORT; timeout = 1s; retries = 1; }
karma {
    timeout = 1s;
    reject_threshold = -400;
    dnslist { zone = bl.test; weight = -1000; listed = 127.0.0.2; }
    dnslist { zone = dbl.test.; type = domain; identities = helo, from, header_from; weight = -600; }
    dnslist { zone = wl.test; weight = 500; }
}
EOF
start_rmilter
start_sink
# IPv6 on: Postfix refuses XCLIENT IPv6 addresses otherwise (it still
# listens on 127.0.0.1 only)
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
inet_protocols = all
mynetworks = 127.0.0.0/8, 192.0.2.0/24, [2001:db8::]/32" start_postfix "$RM_SOCK"

TOK=
send() { # ADDR [SWAKS ARGS]
    local addr=$1
    shift
    TOK=$(new_token)
    send_mail --xclient "ADDR=$addr NAME=mx.client.test" --h-Subject "$TOK" \
        --body "body $TOK" "$@"
}
karma_header() {
    sink_headers "$(sink_wait_msg "$TOK")" | unfold | grep '^X-Karma:' || true
}

# --- IPv4 list: the reason from TXT, "$" replaced by the address
send 192.0.2.66
assert_reply '^550 5\.7\.1 karma scored too low: -1000 \(bl\.test: Listed: see http://bl\.test/lookup\?ip=192\.0\.2\.66\)$' "IPv4 listed"
bad=$TOK
wait_for_log "karma: score=-1000 verdict=bad identities=ip4:192\\.0\\.2\\.66,domain:client\\.test,email:sender@example\\.org bl\\.test\\(ip\\)=127\\.0\\.0\\.2 comment="

# --- the RFC 5782 test entries
send 127.0.0.2
assert_reply '^550 5\.7\.1 karma scored too low: -500 \(bl\.test: RFC 5782 test entry; wl\.test: listed \(127\.0\.0\.2 127\.0\.0\.2\)\)$' "127.0.0.2 is listed (block -1000, allow +500)"
send 127.0.0.1
assert_reply '^250 ' "127.0.0.1 is not listed"
assert_eq "X-Karma: score=0 verdict=neutral identities=ip4:127.0.0.1,domain:client.test,email:sender@example.org" "$(karma_header)" "X-Karma, nothing listed"

# --- IPv6: nibble names
send IPV6:2001:db8::66
assert_reply '^550 5\.7\.1 karma scored too low: -1000 \(bl\.test: IPv6 listed\)$' "IPv6 listed"
send IPV6:2001:db8::67
assert_reply '^250 ' "IPv6 not listed"
assert_match '^X-Karma: score=0 verdict=neutral identities=ip6:2001:db8::67,' "$(karma_header)" "IPv6 identity"

# --- domain list: HELO (with its TXT), sender domain (no TXT), header From
send 192.0.2.20 --helo evil.example
assert_reply '^550 5\.7\.1 karma scored too low: -600 \(dbl\.test: evil\.example is a known spam source\)$' "HELO listed"
send 192.0.2.21 --from a@spam.example
assert_reply '^550 5\.7\.1 karma scored too low: -600 \(dbl\.test: listed \(spam\.example 127\.0\.1\.2\)\)$' "sender domain listed"
send 192.0.2.22 --h-From 'Boss <boss@Spam.Example>'
assert_reply '^550 5\.7\.1 karma scored too low: -600 ' "header From domain listed"
send 192.0.2.23 --helo '[192.0.2.23]'
assert_reply '^250 ' "an address-literal HELO is not queried"

# --- weights add up: allow list +500 and domain list -600 = -100, tagged
send 192.0.2.10 --helo evil.example
assert_reply '^250 ' "offset by the allow list"
assert_eq "X-Karma: score=-100 verdict=neutral identities=ip4:192.0.2.10,domain:evil.example,email:sender@example.org comment=dbl.test: evil.example is a known spam source; wl.test: listed (192.0.2.10 127.0.0.2)" \
    "$(karma_header)" "X-Karma with two lists"
send 192.0.2.10
assert_reply '^250 ' "allow-listed"
assert_match '^X-Karma: score=500 verdict=good ' "$(karma_header)" "allow list alone: good"

# --- answers that are not listings
log_mark
send 192.0.2.77
assert_reply '^250 ' "a code the list does not count (127.0.0.4)"
assert_match '^X-Karma: score=0 verdict=neutral ' "$(karma_header)" "127.0.0.4 not counted"
send 192.0.2.88
assert_reply '^250 ' "an operator's refusal code"
wait_for_log "karma: dnslist bl\\.test answered 127\\.255\\.255\\.254 for 88\\.2\\.0\\.192\\.bl\\.test \\(the operator refuses the query\\): not counted"
send 192.0.2.99
assert_reply '^250 ' "an answer outside 127/8"
wait_for_log "karma: dnslist bl\\.test answered 192\\.0\\.2\\.1 for 99\\.2\\.0\\.192\\.bl\\.test \\(not a 127\\.0\\.0\\.0/8 code\\): not counted"

# --- no DNS server: no opinion, the mail flows (within the timeout)
log_mark
DNS_DIR=$DNS_DIR DNS_PORT=$DNS_PORT "$H/dns.sh" stop 2>>"$T/harness.log"
send 192.0.2.66
assert_reply '^250 ' "DNS down: delivered"
assert_match '^X-Karma: score=0 verdict=neutral ' "$(karma_header)" "DNS down: no opinion"
wait_for_log "karma: dnslist bl\\.test: 66\\.2\\.0\\.192\\.bl\\.test: temporary DNS failure"

pf_wait_queue_empty
assert_eq "" "$(sink_files "$bad")" "the rejected message must not reach the sink"
stop_rmilter
