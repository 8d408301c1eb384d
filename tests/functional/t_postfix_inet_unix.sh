#!/usr/bin/env bash
# t_postfix_inet_unix - one daemon listening on a unix socket, on
# inet:PORT@127.0.0.1 and (when the host has ::1) on inet6:PORT@::1:
# bind_socket takes a list. One Postfix has a listener for the unix and the
# inet socket; the inet6 one is driven by milter_client.py (this Postfix
# speaks IPv4 only).
#
# Why: the engine must serve every bind_socket, and the rules must act the
# same whichever socket a session came in on: through both Postfix
# listeners a bad HELO is rejected with the rule's text and a tagged
# recipient gets the header at the sink; over inet6 the same rule rejects.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_port RMPORT
UNIX_SOCK=unix:$T/rmilter.sock
INET_SOCK=inet:$RMPORT@127.0.0.1
RM_BIND="$UNIX_SOCK, $INET_SOCK"
INET6_SOCK=
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    new_port RMPORT6
    INET6_SOCK=inet6:$RMPORT6@::1
    RM_BIND+=", $INET6_SOCK"
else
    say "no ::1 on this host: the inet6 listener is not tested"
fi
rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$UNIX_SOCK" "$INET_SOCK"

for i in 0 1; do
    via=$([ "$i" = 0 ] && echo unix || echo inet)
    export SMTP_PORT=${PF_PORTS[$i]}
    bad=$(new_token)
    send_mail --helo evil.example --from "$bad@example.org" --body "$bad"
    assert_reply '^554 5\.7\.1 No spam from this helo$' "reject via $via"
    wait_for_log "msg done: .*from=<$bad@example\.org>.*action=reject"

    tok=$(new_token)
    send_mail --from "$tok@example.org" --to tagme@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "accept via $via"
    f=$(sink_wait_msg "$tok")
    assert_file_match '^X-Rule: matched' "$f" "header via $via"
done
assert_eq 4 "$(log_lines 'msg done:' | wc -l)" "four messages in the daemon's summary log"
assert_eq 2 "$(log_lines "conn [0-9]+: open from local socket on $UNIX_SOCK" | wc -l)" "two sessions on the unix socket"
assert_eq 2 "$(log_lines "conn [0-9]+: open from 127\\.0\\.0\\.1:[0-9]+ on $INET_SOCK" | wc -l)" "two sessions on the inet socket"

if [ -n "$INET6_SOCK" ]; then
    expect_mclient -s "$INET6_SOCK" <<'EOF2'
negotiate
connect v6.test 6 25 2001:db8::1
helo evil.example
macro M i V6Q
mail <v6@example.org>
rcpt <rcpt@example.test>
header Subject "over inet6"
eoh
body "hello\r\n"
eom
expect '^replycode 554 5\.7\.1 No spam from this helo$'
quit
EOF2
    wait_for_log "conn [0-9]+: open from \\[::1\\]:[0-9]+ on $INET6_SOCK"
    wait_for_log 'msg done: qid=V6Q; client=v6\.test\[2001:db8::1\].*action=reject'
fi
stop_rmilter
