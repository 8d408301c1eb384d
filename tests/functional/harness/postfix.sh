#!/usr/bin/env bash
# A private Postfix instance for one functional test: config in $PF_DIR/etc,
# queue in $PF_DIR/queue, log in $PF_DIR/maillog, every message relayed to
# smtp-sink on 127.0.0.1:$SINK_PORT. No chroot, no systemd, no syslog, no DNS
# (smtp_dns_support_level = disabled, smtpd_peername_lookup = no): nothing
# leaves the machine, and /etc/postfix is never touched.
#
# Adapted from research/harness/postfix.sh: the directory and ports come from
# the caller, and one instance can have several smtpd listeners, each with its
# own smtpd_milters (so one test can talk to the milter over a unix socket
# and over inet through the same Postfix).
#
#   postfix.sh start|stop|status|reload|milter SPEC|queue|log
# Env: PF_DIR (required), SINK_PORT (required),
#      PF_LISTENERS  "PORT=MILTERS PORT=MILTERS ..." (MILTERS in Postfix
#                    syntax, comma separated without spaces, e.g.
#                    unix:/t/rm.sock or inet:127.0.0.1:24001; empty = none)
#      PF_MILTER_DEFAULT_ACTION (tempfail), PF_EXTRA  extra main.cf lines
set -euo pipefail
export SVC=postfix
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

DIR=${PF_DIR:?PF_DIR is required}
SINK=${SINK_PORT:?SINK_PORT is required}
CONF=$DIR/etc
PIDF=$DIR/queue/pid/master.pid

write_config() {
    local l port milters
    mkdir -p "$CONF" "$DIR/queue" "$DIR/data"
    chown root:root "$DIR" "$DIR/queue"
    chmod 755 "$DIR" "$DIR/queue"
    chown postfix "$DIR/data"
    cat >"$CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $DIR/queue
data_directory = $DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# logging without syslog: postlogd writes here (needs "postlog" in master.cf)
maillog_file = $DIR/maillog
maillog_file_prefixes = $DIR
# everything goes to smtp-sink; no DNS at all
relayhost = [127.0.0.1]:$SINK
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
in_flow_delay = 0
# milter (Sendmail 8.14+ protocol 6); a dead milter must tempfail, never pass
milter_protocol = 6
milter_default_action = ${PF_MILTER_DEFAULT_ACTION:-tempfail}
milter_connect_timeout = 10s
milter_command_timeout = 20s
milter_content_timeout = 30s
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {client_addr} {client_port} {client_name}
milter_helo_macros = {tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}
milter_end_of_header_macros = i
milter_end_of_data_macros = i {msg_id}
smtpd_milters =
non_smtpd_milters =
${PF_EXTRA:-}
EOF
    : >"$CONF/master.cf"
    for l in ${PF_LISTENERS:?PF_LISTENERS is required}; do
        port=${l%%=*}
        milters=${l#*=}
        # No chroot (column 5 = n) so unix:/path milter sockets resolve.
        echo "127.0.0.1:$port inet n - n - - smtpd -o { smtpd_milters = ${milters//,/, } }" >>"$CONF/master.cf"
    done
    cat >>"$CONF/master.cf" <<EOF
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
    backdate
}

# Postfix sleeps ~1 s per config file whose mtime is "now" (a guard against
# reading a file that is still being written): backdate ours.
backdate() { touch -d '-1 min' "$CONF/main.cf" "$CONF/master.cf"; }

start() {
    ensure_pkgs postfix
    if pid_alive "$PIDF"; then hlog "already running (master pid $(tr -dc 0-9 <"$PIDF"))"; return 0; fi
    local l
    for l in $PF_LISTENERS; do port_free "${l%%=*}"; done
    write_config
    # "postfix start" runs the integrity check, which creates the queue
    # subdirectories with the right owners, then daemonises master(8)
    postfix -c "$CONF" start >>"$DIR/postfix.out" 2>&1 || { cat "$DIR/postfix.out" >&2; hdie "postfix start failed"; }
    for l in $PF_LISTENERS; do
        wait_tcp "${l%%=*}" 127.0.0.1 30 || { tail -20 "$DIR/maillog" >&2; hdie "smtpd not listening on ${l%%=*}"; }
    done
    hlog "listening: $PF_LISTENERS (master pid $(tr -dc 0-9 <"$PIDF"))"
}

stop() {
    # "postfix stop" is SIGTERM to the master pid; do it by PID ourselves.
    # The master takes its children down with it.
    stop_pidfile "$PIDF" 20
}

set_milter() { # change smtpd_milters of every listener (no restart)
    local l out=""
    for l in $PF_LISTENERS; do out+="${l%%=*}=$1 "; done
    PF_LISTENERS=$out
    write_config
    postfix -c "$CONF" reload >>"$DIR/postfix.out" 2>&1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if pid_alive "$PIDF"; then echo "running master pid $(tr -dc 0-9 <"$PIDF")"; else echo stopped; exit 1; fi ;;
reload) backdate; postfix -c "$CONF" reload ;;
milter) set_milter "${2:-}" ;;
queue) postqueue -c "$CONF" -p ;;
log) tail -n "${2:-30}" "$DIR/maillog" ;;
*) echo "usage: $0 start|stop|status|reload|milter SPEC|queue|log [N]" >&2; exit 2 ;;
esac
