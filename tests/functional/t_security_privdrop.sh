#!/usr/bin/env bash
# t_security_privdrop - started as root with user/group, the daemon binds
# first and then runs with no privilege left; its socket is usable by its
# group and by nobody else.
#
# Why (issue 10 "Security"): a milter parses text from the whole Internet;
# it must not do that as root. With user = nobody and group = postfix the
# daemon must bind its sockets as root (a TCP port below 1024 proves the
# bind came before the drop), then run with every uid and gid of every
# thread switched (/proc/PID/task/*/status: Uid, Gid, no supplementary
# root group, no capabilities). Its unix socket (default mode 0660) must
# belong to nobody:postfix, so that Postfix's smtpd (user postfix) can use
# it - a message goes through real Postfix - while a user outside the
# group (daemon) gets "permission denied". A reload must work after the
# drop (the config is re-read as nobody), spooling a large message must
# work (the spool is written as nobody), and at SIGTERM the daemon, now
# nobody, must still remove its socket and pidfile (their directory
# belongs to it, as a RuntimeDirectory would) and exit 0.
# (The default 0660 mode and socket_group are t_daemon_hygiene's.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
id nobody >/dev/null 2>&1 || skip "no user nobody"
getent group postfix >/dev/null || skip "no group postfix"
id daemon >/dev/null 2>&1 || skip "no user daemon"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
NOBODY_UID=$(id -u nobody)
POSTFIX_GID=$(getent group postfix | cut -d: -f3)

# a free port below 1024: only root can bind it
LOW=$("$PY" - <<'EOF'
import socket, random
ports = list(range(600, 1000))
random.shuffle(ports)
for p in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
EOF
)
[ -n "$LOW" ] || skip "no free port below 1024"

RUN=$T/run
mkdir -p "$RUN" "$T/spool"
chown nobody:postfix "$RUN"
chmod 0750 "$RUN"
chown nobody:nogroup "$T/spool" 2>/dev/null || chown nobody "$T/spool"
chmod 0700 "$T/spool"
RM_SOCK=unix:$RUN/rmilter.sock
RM_PIDFILE=$RUN/rmilter.pid
write_conf() {
    RM_HEADER=0 rm_config "$RM_CONF" <<EOF
bind_socket = $RM_SOCK, inet:$LOW@127.0.0.1;
pidfile = $RM_PIDFILE;
user = nobody;
group = postfix;
tempdir = $T/spool;
spool_memory = 64k;
$1
rule { add_header "X-Rule" "matched"; envrcpt /^tagme@/; };
rule { add_header "X-Body" "seen"; body /BODYMARK-AT-THE-END/; };
EOF
}
write_conf ""
chmod 644 "$RM_CONF"
start_rmilter
wait_for_log 'running as uid '"$NOBODY_UID"' gid '"$POSTFIX_GID"

# every thread: no root id, no capability
for st in /proc/"$RM_PID"/task/*/status; do
    assert_eq "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")" "Uid (real, effective, saved, fs) of $st"
    assert_eq "$POSTFIX_GID $POSTFIX_GID $POSTFIX_GID $POSTFIX_GID" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st")" "Gid of $st"
    groups=$(awk '/^Groups:/ { $1 = ""; print }' "$st")
    assert_not_match '(^| )0( |$)' "$groups" "no supplementary root group in $st"
    for cap in CapPrm CapEff CapAmb; do
        v=$(awk -v c="$cap:" '$1 == c { print $2 }' "$st")
        [ -z "$v" ] || assert_eq 0000000000000000 "$v" "$cap of $st"
    done
done
assert_eq "660 nobody postfix" "$(stat -c '%a %U %G' "${RM_SOCK#unix:}")" "socket mode and owner"

# the port below 1024 was bound before the drop and serves
mclient -s "inet:$LOW@127.0.0.1" <<'EOF2'
negotiate
connect low.test 4 25 192.0.2.70
helo low.test
quit
EOF2
[ "$MC_RC" = 0 ] || { cat "$MC_OUT" >&2; fail "the low port does not serve"; }

# a user outside the group cannot connect to the unix socket
if setpriv --reuid=daemon --regid=daemon --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    sys.exit(0)
sys.exit(1)' "${RM_SOCK#unix:}"; then
    say "user daemon: permission denied, as it should"
else
    fail "a user outside the socket's group could connect"
fi

# Postfix's smtpd (user postfix, in the socket's group) uses it
start_sink
start_postfix "$RM_SOCK"
tok=$(new_token)
send_mail --to tagme@example.test --h-Subject "$tok" --body "$tok"
assert_reply '^250 ' "mail through the 0660 socket"
f=$(sink_wait_msg "$tok")
assert_match '^X-Rule: matched$' "$(sink_headers "$f")" "the milter ran"

# a large message is spooled (as nobody: over spool_memory, into a 0700
# directory of nobody's), read back by the body rule, and removed
{ head -c 300000 /dev/urandom | base64; echo BODYMARK-AT-THE-END; } >"$T/big.txt"
tok=$(new_token)
log_mark
send_mail --to tagme@example.test --h-Subject "$tok" --body "$T/big.txt"
assert_reply '^250 ' "a spooled message"
f=$(sink_wait_msg "$tok")
assert_match '^X-Body: seen$' "$(sink_headers "$f")" "the body rule read the spooled body"
assert_eq "" "$(ls -A "$T/spool")" "spool file removed"

# reload after the drop: the config is re-read as nobody
write_conf "log_level = info;"
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation 2'
tok=$(new_token)
send_mail --to tagme@example.test --h-Subject "$tok" --body "$tok"
assert_reply '^250 ' "after the reload"
sink_wait_msg "$tok" >/dev/null

pf_wait_queue_empty
stop_rmilter
[ ! -e "${RM_SOCK#unix:}" ] || fail "the socket was not removed at exit"
[ ! -e "$RM_PIDFILE" ] || fail "the pidfile was not removed at exit"
