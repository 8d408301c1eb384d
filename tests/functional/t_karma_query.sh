#!/usr/bin/env bash
# t_karma_query - `rmilter karma-query`, the command-line client, against the
# BQuery test server.
#
# Why: postmasters check a server and an identity by hand with it, as they
# did with karmaclient: it must print the verdict and the facts over UDP and
# TCP, send explicit types (also the legacy integers) and tags, send
# credentials, show the server's "Truncated" warning when a UDP answer lost
# its facts (TCP has them all), and say clearly (exit status) when the
# server answers with an error or not at all, within its timeout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/karma_lib.sh"

cat >"$KS_TABLE" <<'EOF'
192.0.2.66,-1000,listed in the test table
good.example,,a known good domain
198.51.100.0/24,-500,a listed network
EOF
start_ks --login u1 --credential pw

KQ=$T/kq.out
kq() { # ARGS : run the client; output in $KQ, exit status in $KQ_RC
    KQ_RC=0
    timeout 30 "$RMILTER_BIN" karma-query -h 127.0.0.1 -p "$KS_PORT" -l u1 -c pw "$@" >"$KQ" 2>"$T/kq.err" || KQ_RC=$?
}

kq -i q-1 192.0.2.66 mail.good.example a@example.org
assert_eq 0 "$KQ_RC" "answered"
assert_eq "Query 'q-1' to 127.0.0.1:$KS_PORT over udp: 142 bytes, 3 identities
Combiner 'karmasphere.email-sender': verdict -1000 (test.table: 192.0.2.66 => -1000 (listed in the test table))
Fact 'test.table' about '192.0.2.66': -1000 (listed in the test table)
Fact 'test.table' about 'mail.good.example': 1000 (a known good domain)" "$(grep -v '^Time:' "$KQ")" "UDP output"
assert_match '^Time: [0-9]+ms$' "$(tail -n 1 "$KQ")" "server time"
q=$(ks_last)
assert_match '"transport": "udp"' "$q" "UDP"
assert_match '"identities": \[\["192\.0\.2\.66", "ip4"\], \["mail\.good\.example", "domain"\], \["a@example\.org", "email"\]\]' "$q" "guessed types"
assert_match '"flags": 1' "$q" "facts asked for"
assert_match '"auth": \["u1", "pw"\]' "$q" "credentials"

kq -t -n -f my.feedset -C my.combiner 127.0.0.2,0,smtp.client-ip mail.example,2,smtp.env.helo,a
assert_eq 0 "$KQ_RC" "answered over TCP"
assert_match "over tcp" "$(head -n 1 "$KQ")" "TCP"
assert_match "^Combiner 'my\\.feedset': verdict -1000 \\(test\\.table: 127\\.0\\.0\\.2 => -1000 \\(TEST record\\)\\)$" "$(sed -n 2p "$KQ")" "the feedset's verdict"
q=$(ks_last)
assert_match '"transport": "tcp"' "$q" "TCP at the server"
assert_match '"identities": \[\["127\.0\.0\.2", "ip4", "smtp\.client-ip"\], \["mail\.example", "domain", "smtp\.env\.helo", "a"\]\]' "$q" "legacy types and tags"
assert_match '"feedsets": \["my\.feedset"\], "combiners": \["my\.combiner"\]' "$q" "feedset and combiner"
assert_match '"flags": 0' "$q" "-n: no facts"

# a reply too large for a datagram: the server drops the facts and warns;
# over TCP they all come
mapfile -t many < <(seq -f '198.51.100.%g' 1 20)
kq "${many[@]}"
assert_eq 0 "$KQ_RC" "a truncated answer is an answer"
assert_match "^Combiner 'karmasphere\\.email-sender': verdict -500 " "$(sed -n 2p "$KQ")" "verdict kept"
assert_eq 0 "$(grep -c '^Fact ' "$KQ" || true)" "facts dropped over UDP"
assert_eq "Warning: Truncated" "$(tail -n 1 "$KQ")" "the server's warning"
kq -t "${many[@]}"
assert_eq 20 "$(grep -c '^Fact ' "$KQ")" "every fact over TCP"

timeout 30 "$RMILTER_BIN" karma-query -p "$KS_PORT" -l u1 -c wrong 192.0.2.1 >"$KQ" 2>&1 && rc=0 || rc=$?
assert_eq 1 "$rc" "an error reply exits 1"
assert_match '^Error: server error: Incorrect user and/or password\.$' "$(cat "$KQ")" "the server's error"

ks_mode silent
kq -T 500 -r 1 192.0.2.1
assert_eq 3 "$KQ_RC" "no answer exits 3"
assert_match '^No answer: timeout$' "$(tail -n 1 "$KQ")" "timeout"
assert_eq 2 "$(grep -c '"mode": "silent"' "$KS_LOG")" "the query and one retransmission"
ks_mode garbage
kq 192.0.2.1
assert_eq 3 "$KQ_RC" "garbage exits 3"
assert_match '^No answer: bad reply: offset 0: unexpected byte 0x74$' "$(tail -n 1 "$KQ")" "bad reply"

kq 192.0.2.1,ipv9
assert_eq 2 "$KQ_RC" "a bad type is a usage error"
"$RMILTER_BIN" karma-query >/dev/null 2>&1 && rc=0 || rc=$?
assert_eq 2 "$rc" "no identity is a usage error"
