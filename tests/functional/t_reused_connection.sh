#!/usr/bin/env bash
# t_reused_connection - one milter connection reused for a second SMTP
# session (SMFIC_QUIT_NC, then a new CONNECT on the same socket).
#
# Why: an MTA may keep the milter connection open across SMTP sessions.
# Everything of the first session must be forgotten: its HELO (which a rule
# rejects), its client address, its sender and recipients. The second
# session sends no HELO at all, so a HELO left over from the first session
# would make the reject rule fire. miltertest cannot send QUIT_NC, so
# milter_client.py speaks the protocol.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
expect_mclient <<'EOF2'
negotiate
macro C j mta.test
connect first.test 4 1111 192.0.2.1
helo evil.example
macro M i REUSEQ1
mail <one@example.org>
rcpt <one-rcpt@example.test>
header Subject "first session"
eoh
body "first\r\n"
eom
expect '^replycode 554 5\.7\.1 No spam from this helo$'
quit_nc
connect second.test 4 2222 192.0.2.2
macro M i REUSEQ2
mail <two@example.org>
rcpt <tagme@example.test>
header Subject "second session"
eoh
body "second\r\n"
eom
expect '^addheader X-Rule: ?matched$'
expect '^(accept|continue)$'
quit_nc
connect third.test 4 3333 192.0.2.3
helo good.example
macro M i REUSEQ3
mail <three@example.org>
rcpt <x@example.test>
eoh
eom
expect '^(accept|continue)$'
quit
EOF2
grep -q '^expect: ok /\^(accept|continue)\$/' "$MC_OUT" || fail "the client did not get through all three sessions"

wait_for_log 'msg done: qid=REUSEQ1; client=first\.test\[192\.0\.2\.1\]; from=<one@example\.org>.*action=reject'
wait_for_log 'msg done: qid=REUSEQ2; '
l2=$(log_lines 'msg done: qid=REUSEQ2; ')
assert_match 'client=second\.test\[192\.0\.2\.2\]; from=<two@example\.org>; rcpt=<?tagme@example\.test>? \(1 total' "$l2"
assert_not_match 'first\.test|192\.0\.2\.1\]|one@|one-rcpt@' "$l2" "nothing of the first session"
wait_for_log 'msg done: qid=REUSEQ3; client=third\.test\[192\.0\.2\.3\]; from=<three@example\.org>'
stop_rmilter
