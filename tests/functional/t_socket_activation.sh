#!/usr/bin/env bash
# t_socket_activation - systemd socket activation: systemd-socket-activate
# opens a unix socket and 127.0.0.1:PORT, passes both (LISTEN_FDS) and
# starts the daemon with "bind_socket = systemd;" on the first connection.
#
# Why: libmilter cannot adopt sockets systemd opened (the original's fd:3
# never worked), which is why the engine is our own. Postfix talks to the
# daemon through each passed socket (one smtpd listener per socket) and the
# rules apply through both; the daemon binds nothing itself.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate is not installed (package systemd)"
new_port SAPORT
SA_PATH=$T/activated.sock
RM_BIND=systemd
rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"

echo "=== systemd-socket-activate -l $SA_PATH -l 127.0.0.1:$SAPORT $RMILTER_BIN -n -c $RM_CONF" >>"$RM_LOG"
# exec: the PID is systemd-socket-activate's, which execs the daemon
(exec systemd-socket-activate -l "$SA_PATH" -l "127.0.0.1:$SAPORT" \
    "$RMILTER_BIN" -n -c "$RM_CONF" >>"$RM_LOG" 2>&1 </dev/null) &
RM_PID=$!
track "$RM_PID" rmilter
wait_unix "$SA_PATH" 10 "$RM_PID" || fail "systemd-socket-activate did not open $SA_PATH"
wait_tcp "$SAPORT" 127.0.0.1 10 "$RM_PID" || fail "systemd-socket-activate did not open port $SAPORT"
# what SocketMode=0666 does in a .socket unit (smtpd runs as user postfix)
chmod 0666 "$SA_PATH"

start_sink
start_postfix "unix:$SA_PATH" "inet:$SAPORT@127.0.0.1"

for i in 0 1; do
    via=$([ "$i" = 0 ] && echo "unix fd" || echo "inet fd")
    export SMTP_PORT=${PF_PORTS[$i]}
    bad=$(new_token)
    send_mail --helo evil.example --from "$bad@example.org" --body "$bad"
    assert_reply '^554 5\.7\.1 No spam from this helo$' "reject via the $via"
    tok=$(new_token)
    send_mail --to tagme@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "accept via the $via"
    f=$(sink_wait_msg "$tok")
    assert_file_match '^X-Rule: matched' "$f" "header via the $via"
done

assert_eq "$(readlink -f "$RMILTER_BIN")" "$(readlink -f "/proc/$RM_PID/exe")" "the activated process is rmilter"
assert_eq 4 "$(grep -c 'msg done:' "$RM_LOG")" "four messages in the summary log"
# the daemon listened on exactly the two sockets it was given
assert_eq 2 "$(grep -c 'listening on' "$RM_LOG" | tr -d ' ')" "two listeners (the passed fds)"
assert_eq "" "$(ss -Hxlp 2>/dev/null | grep "pid=$RM_PID," | grep -v "$SA_PATH" || true)" "no unix socket of its own"
stop_rmilter
