#!/usr/bin/env bash
# t_spool - the message spool: bodies over spool_memory go to a file in
# tempdir, mode 0600, removed at the end of the message, at ABORT and when
# the MTA drops the connection; body rules see the whole body, across
# chunks.
#
# Why: spool files hold other people's mail (they must not be readable by
# others, and must never pile up in tempdir), and a body rule must match
# text that the MTA happened to split over two BODY packets or that lies far
# beyond the first chunk of a big message.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SPOOL=$T/spool
mkdir -m 700 "$SPOOL"
{
    echo "tempdir = $SPOOL;"
    echo 'spool_memory = 1k;'
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
start_rmilter

spool_files() { find "$SPOOL" -type f; }
big=$(printf 'a%.0s' $(seq 1500))

# 1. a message held after 3 KB of body: one spool file, mode 0600; the
#    pattern comes split over two chunks; the file is gone after EOM
mclient_bg HELD <<EOF2
negotiate
connect spool.test 4 1000 192.0.2.60
helo spool.test
macro M i SPOOLQ
mail <spool@example.org>
rcpt <rcpt@example.test>
header Subject "spooled"
eoh
body "$big\r\n"
body "$big\r\n"
touch $T/held.ready
wait_file $T/held.go 30
body "QUARANTINE-"
body "ME\r\n"
eom
expect '^quarantine held for review$'
quit
EOF2
wait_until 20 test -f "$T/held.ready" || { cat "$T/client.HELD.out" >&2; fail "the session did not get going"; }
wait_until 5 test -n "$(spool_files)" || fail "no spool file in tempdir for a body over spool_memory"
f=$(spool_files)
assert_eq 1 "$(wc -l <<<"$f")" "one spool file"
assert_eq "600 root" "$(stat -c '%a %U' "$f")" "spool file mode and owner"
touch "$T/held.go"
mclient_wait HELD 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "the split pattern was not matched"; }
wait_for_log 'msg done: qid=SPOOLQ; .*action=quarantine'
wait_until 5 test -z "$(spool_files)" || fail "spool file left after EOM: $(spool_files)"

# 2. ABORT removes it, 3. so does a connection dropped mid-body
for end in "abort
quit" ""; do
    mclient <<EOF2
negotiate
connect spool.test 4 1000 192.0.2.61
helo spool.test
mail <gone@example.org>
rcpt <rcpt@example.test>
header Subject "spooled then dropped"
eoh
body "$big\r\n"
body "$big\r\n"
$end
EOF2
    [ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "client failed"; }
    wait_until 5 test -z "$(spool_files)" ||
        fail "spool file left after ${end:-a dropped connection}: $(spool_files)"
done

# 4. through Postfix: a 200 KB message whose pattern sits at the very end
start_sink
start_postfix "$RM_SOCK"
{
    for _ in $(seq 2500); do printf '%s\n' "0123456789012345678901234567890123456789012345678901234567890123456789012345"; done
    echo "the end: QUARANTINE-ME"
} >"$T/big-body.txt"
tok=$(new_token)
send_mail --from "$tok@example.org" --h-Subject "$tok" --body "@$T/big-body.txt"
assert_reply '^250 '
wait_for_log "msg done: .*from=<$tok@example\\.org>.*action=quarantine"
wait_until 10 test -f "$PF_DIR/queue/hold/$SMTP_QID" || fail "the big message is not held"
wait_until 5 test -z "$(spool_files)" || fail "spool file left after the Postfix message: $(spool_files)"
stop_rmilter
