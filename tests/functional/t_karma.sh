#!/usr/bin/env bash
# t_karma - Karmasphere reputation through real Postfix, against the BQuery
# test server (karmasphere_server.py).
#
# Why: the karma module must send ONE query per message with the right
# identities and tags (client IP, HELO unless an address literal, MAIL FROM
# unless <>, the header From address) and credentials, turn the verdict
# into a score, reject a bad sender with 550 5.7.1 and the reason at end of
# data, and tag every other checked message with X-Karma. Whitelisted
# clients and our_networks (authenticated) are not checked at all (no
# query). A query too large for a datagram goes over TCP.
#
# Client addresses come from Postfix XCLIENT (192.0.2.x); everything runs on
# loopback.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/karma_lib.sh"
. "$FT_DIR/dns_lib.sh" # unfold

cat >"$KS_TABLE" <<'EOF'
# identity,value,data
192.0.2.66,-1000,listed in the test table
evil.example,-1000,bad helo name
good.example,800,a known good sender
EOF
start_ks --login rmilter --credential s3cret

rm_config "$RM_CONF" <<EOF
our_networks = 192.0.2.128/26;
karma {
    servers = 127.0.0.1:$KS_PORT;
    login = rmilter;
    credential = s3cret;
    timeout = 2s;
    reject_threshold = -500;
    whitelist = 192.0.2.200;
}
EOF
start_rmilter
start_sink
# the XCLIENT addresses must be allowed to relay to the sink
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = 127.0.0.0/8, 192.0.2.0/24" start_postfix "$RM_SOCK"

TOK=
# send ADDR [SWAKS ARGS] : a message from client ADDR (XCLIENT) with a fresh
# token as the subject
send() {
    local addr=$1
    shift
    TOK=$(new_token)
    send_mail --xclient "ADDR=$addr NAME=mx.client.test" --h-Subject "$TOK" \
        --body "body $TOK" "$@"
}
# karma_header : the X-Karma header(s) of the message $TOK, unfolded
karma_header() {
    sink_headers "$(sink_wait_msg "$TOK")" | unfold | grep '^X-Karma:' || true
}

# --- a listed client address: rejected at end of data with the reason
n0=$(ks_queries)
send 192.0.2.66 --helo mail.example.org
assert_reply '^550 5\.7\.1 karma scored too low: -1000 \(test\.table: 192\.0\.2\.66 => -1000 \(listed in the test table\)\)$' "listed IP"
assert_file_match '^ -> \.$' "$SMTP_OUT" "the reject came after DATA"
assert_eq $((n0 + 1)) "$(ks_queries)" "one query for the message"
q=$(ks_last)
assert_match '"transport": "udp"' "$q" "UDP by default"
assert_match '"identities": \[\["192\.0\.2\.66", "ip4", "smtp\.client-ip"\], \["mail\.example\.org", "domain", "smtp\.env\.helo"\], \["sender@example\.org", "email", "smtp\.env\.mail-from", "smtp\.header\.from\.address"\]\]' "$q" "identities and tags"
assert_match '"feedsets": \["karmasphere\.email-sender"\]' "$q" "the default feedset"
assert_match '"auth": \["rmilter", "s3cret"\]' "$q" "credentials"
assert_match '"id": "rmilter-[0-9a-f]+-[0-9]+"' "$q" "the query id"
wait_for_log "karma: score=-1000 verdict=bad karma=-1000 \\(127\\.0\\.0\\.1:$KS_PORT\\) identities=ip4:192\\.0\\.2\\.66,domain:mail\\.example\\.org,email:sender@example\\.org"
wait_for_log "msg done: .*action=reject"
pf_wait_log "milter-reject: END-OF-MESSAGE from .*5\\.7\\.1 karma scored too low"
bad=$TOK

# --- a listed HELO name from a clean address
send 192.0.2.10 --helo evil.example
assert_reply '^550 5\.7\.1 karma scored too low: -1000 \(test\.table: evil\.example => -1000 \(bad helo name\)\)$' "listed HELO"

# --- a good sender: accepted, X-Karma with the verdict
send 192.0.2.10 --helo mx.good.example --from a@good.example
assert_reply '^250 ' "good sender"
h=$(karma_header)
assert_eq 1 "$(grep -c . <<<"$h")" "one X-Karma header"
assert_eq "X-Karma: score=800 verdict=good feedset=karmasphere.email-sender identities=ip4:192.0.2.10,domain:mx.good.example,email:a@good.example comment=test.table: mx.good.example => 800 (a known good sender)" "$h" "X-Karma of a good sender"

# --- a forged X-Karma from the sender is removed, ours stays
send 192.0.2.10 --helo mx.good.example --add-header "X-Karma: score=1000 verdict=good forged" \
    --add-header "x-karma: forged too"
assert_reply '^250 ' "forged X-Karma"
h=$(karma_header)
assert_eq 1 "$(grep -ci '^X-Karma:' <<<"$h")" "only our X-Karma"
assert_match '^X-Karma: score=800 verdict=good ' "$h" "ours"
wait_for_log "karma: removing 2 X-Karma headers the message came with"

# --- no opinion: neutral, no comment; an address-literal HELO and the
# null sender are not sent as identities (nor is an unusable From header)
send 192.0.2.11 --helo '[192.0.2.11]' --from '<>' --h-From 'Mailer Daemon <>'
assert_reply '^250 ' "unknown sender"
assert_eq "X-Karma: score=0 verdict=neutral feedset=karmasphere.email-sender identities=ip4:192.0.2.11" "$(karma_header)" "X-Karma of an unknown sender"
assert_match '"identities": \[\["192\.0\.2\.11", "ip4", "smtp\.client-ip"\]\]' "$(ks_last)" "only the IP"

# --- a different header From: its own identity
send 192.0.2.12 --from a@example.net --h-From 'Someone <Boss@Good.Example>'
assert_reply '^250 ' "header From"
assert_match 'verdict=good .*identities=ip4:192\.0\.2\.12,domain:client\.test,email:a@example\.net,email:Boss@good\.example ' "$(karma_header)" "header From as its own identity"
assert_match '\["Boss@good\.example", "email", "smtp\.header\.from\.address"\]' "$(ks_last)" "header From tag"

# --- not checked: the karma whitelist and our_networks (no query at all)
n0=$(ks_queries)
send 192.0.2.200 --helo evil.example
assert_reply '^250 ' "whitelisted client"
assert_eq "" "$(karma_header)" "no X-Karma for a whitelisted client"
send 192.0.2.130 --helo evil.example
assert_reply '^250 ' "our_networks client"
assert_eq "" "$(karma_header)" "no X-Karma for an authenticated client"
assert_eq "$n0" "$(ks_queries)" "no query for skipped clients"
wait_for_log "karma=skipped\\(whitelist\\)|skipped\\(whitelist\\)" 5
wait_for_log "skipped\\(authenticated\\)" 5

# --- a query too large for a datagram (> 1024 bytes) goes over TCP
l58=$(printf 'a%.0s' {1..58})
local64=$(printf 'b%.0s' {1..64})
long_helo="$l58.$l58.$l58.$l58.good.example"
long_from="$local64@$long_helo"
long_hfrom="$local64@$l58.$l58.$l58.$l58.example.net"
send 192.0.2.13 --helo "$long_helo" --from "$long_from" --h-From "$long_hfrom"
assert_reply '^250 ' "large query"
q=$(ks_last)
assert_match '"transport": "tcp"' "$q" "over TCP"
assert_match '"bytes": (10[2-9][0-9]|1[1-9][0-9][0-9])' "$q" "more than 1024 bytes"
assert_match '^X-Karma: score=800 verdict=good ' "$(karma_header)" "the TCP answer counts"

pf_wait_queue_empty
assert_eq "" "$(sink_files "$bad")" "the rejected message must not reach the sink"
stop_rmilter
