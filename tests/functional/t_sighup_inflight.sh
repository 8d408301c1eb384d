#!/usr/bin/env bash
# t_sighup_inflight - a session that started before a reload finishes on the
# config it started with; sessions after the reload get the new one.
#
# Why: a config generation is pinned per session (DESIGN.md), so a reload in
# the middle of a transaction can neither mix two rule sets in one message
# nor skip the rules (the original rmilter skipped them when its serial
# changed mid-session). A raw-protocol client opens a session and stops after
# MAIL; the test reloads (reject -> tempfail for the same HELO), waits for
# the reload log line, checks a new session gets the new reply, then lets
# the held session finish: it must get the OLD reply.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <<'EOF2'
rule { reject "old rules"; helo /^evil\./; };
EOF2
start_rmilter

mclient_bg HELD <<EOF2
negotiate
connect held.test 4 1000 192.0.2.70
helo evil.example
macro M i HELDQ
mail <held@example.org>
touch $T/held.ready
wait_file $T/held.go 60
rcpt <rcpt@example.test>
header Subject "held across a reload"
eoh
body "old rules please\r\n"
eom
expect '^replycode 554 5\.7\.1 old rules$'
quit
EOF2
wait_until 20 test -f "$T/held.ready" || { cat "$T/client.HELD.out" >&2; fail "the held session did not get going"; }

rm_config "$RM_CONF" <<'EOF2'
rule { tempfail "new rules"; helo /^evil\./; };
EOF2
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation 2 serves new connections; 1 open connection'

expect_mclient <<'EOF2'
negotiate
connect new.test 4 1001 192.0.2.71
helo evil.example
macro M i NEWQ
mail <new@example.org>
rcpt <rcpt@example.test>
header Subject "after the reload"
eoh
body "new rules please\r\n"
eom
expect '^replycode 451 4\.7\.1 new rules$'
quit
EOF2

touch "$T/held.go"
mclient_wait HELD 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "the session opened before the reload did not finish on the old rules"; }
wait_for_log 'msg done: qid=HELDQ; .*action=reject'
assert_match 'msg done: qid=NEWQ; .*action=tempfail' "$(log_since_mark)"
stop_rmilter
