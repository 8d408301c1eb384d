#!/usr/bin/env bash
# t_daemon_hygiene - process and socket hygiene of the daemon.
#
# Why (issue 3 "Process", issue 10 "Security"): the milter socket must not
# be open to every local user by default (mode 0660), socket_group must be
# applied, the pidfile must hold the daemon's PID, be locked so that a
# second instance refuses to start, and be removed with the socket at
# SIGTERM (exit 0). A second instance must not steal or delete the first
# one's live socket; a stale socket left by a crash is replaced; a path
# that is not a socket is never deleted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SOCK_PATH=$T/hyg.sock
RM_SOCK=unix:$SOCK_PATH
RM_HEADER=0 rm_config "$RM_CONF" <<EOF2
bind_socket = unix:$SOCK_PATH;
pidfile = $RM_PIDFILE;
EOF2
start_rmilter
assert_eq 660 "$(stat -c %a "$SOCK_PATH")" "default socket mode"
assert_eq "$RM_PID" "$(tr -dc 0-9 <"$RM_PIDFILE")" "pidfile holds the daemon's PID"

# second instance, same pidfile, its own socket: refuses (pidfile locked)
RM_HEADER=0 rm_config "$T/second.conf" <<EOF2
bind_socket = unix:$T/second.sock;
pidfile = $RM_PIDFILE;
EOF2
"$RMILTER_BIN" -n -c "$T/second.conf" >"$T/rmilter-second.log" 2>&1 </dev/null &
p2=$!
track "$p2" rmilter-second
wait_exit "$p2" 15 || fail "a second instance with the same pidfile is still running"
[ "$WAIT_RC" != 0 ] || fail "the second instance exited 0"
assert_file_match 'pidfile .* locked|already running' "$T/rmilter-second.log"
assert_eq "$RM_PID" "$(tr -dc 0-9 <"$RM_PIDFILE")" "the pidfile still names the first instance"
[ ! -S "$T/second.sock" ] || fail "the refused instance left its socket behind"

# third instance, same socket, its own pidfile: must not take the socket
RM_HEADER=0 rm_config "$T/third.conf" <<EOF2
bind_socket = unix:$SOCK_PATH;
pidfile = $T/third.pid;
EOF2
"$RMILTER_BIN" -n -c "$T/third.conf" >"$T/rmilter-third.log" 2>&1 </dev/null &
p3=$!
track "$p3" rmilter-third
wait_exit "$p3" 15 || fail "a second instance on a live socket is still running"
[ "$WAIT_RC" != 0 ] || fail "the instance on a live socket exited 0"
assert_file_match 'another process is listening' "$T/rmilter-third.log"
[ -S "$SOCK_PATH" ] || fail "the socket of the running instance was removed"
expect_mt basic.lua -D qid=STILLSERVING
wait_for_log 'msg done: qid=STILLSERVING; '

# SIGTERM: exit 0, pidfile and socket gone
stop_rmilter 0
[ ! -e "$RM_PIDFILE" ] || fail "pidfile left behind after SIGTERM"
[ ! -e "$SOCK_PATH" ] || fail "socket left behind after SIGTERM"

# a stale socket (bound, nobody listening) is replaced
"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK_PATH"
[ -S "$SOCK_PATH" ] || fail "could not create the stale socket"
log_mark
start_rmilter
wait_for_log 'removed stale socket'
expect_mt basic.lua -D qid=AFTERSTALE
stop_rmilter 0

# a regular file at the socket path is never deleted: start fails
echo "precious" >"$SOCK_PATH"
"$RMILTER_BIN" -n -c "$RM_CONF" >"$T/rmilter-file.log" 2>&1 </dev/null &
p4=$!
track "$p4" rmilter-file
wait_exit "$p4" 15 || fail "the daemon runs although its socket path is a regular file"
[ "$WAIT_RC" != 0 ] || fail "exit 0 although the socket path is a regular file"
assert_eq precious "$(cat "$SOCK_PATH")" "the regular file is untouched"
assert_file_match 'not a socket' "$T/rmilter-file.log"
rm -f "$SOCK_PATH"

# socket_group and socket_mode are applied
RM_HEADER=0 rm_config "$RM_CONF" <<EOF2
bind_socket = unix:$SOCK_PATH;
pidfile = $RM_PIDFILE;
socket_group = postfix;
socket_mode = 0620;
EOF2
start_rmilter
assert_eq "620 root postfix" "$(stat -c '%a %U %G' "$SOCK_PATH")" "socket_mode/socket_group applied"
stop_rmilter 0
