# shellcheck shell=bash disable=SC2034,SC2015
# (SC2034: the port variables are for run.sh)
# bench/lib.sh - helpers for bench/run.sh (source it, don't run it):
# services started in the background and stopped by their PID only, a private
# Postfix with one smtpd listener per milter under test, smtp-sink as the
# next hop, the peers (nullmilter, OpenDKIM, rspamd), /proc readings
# (CPU ticks, RSS) and small statistics (median, range).
#
# Modelled on the team's research harness (shared/research/harness/*.sh),
# but self-contained: everything lives under $BD (one directory per run),
# on 127.0.0.1 ports from $BENCH_PORT_BASE, and every process started here
# is recorded in $BD/pids and stopped by that PID at exit (bench_cleanup).

BD=${BD:-/tmp/rmilter-bench}
PB=${BENCH_PORT_BASE:-27250}
# ports (all on 127.0.0.1)
P_SINK=$((PB + 1))      # smtp-sink
P_PF_NONE=$((PB + 0))   # Postfix smtpd without a milter
P_PF_RMU=$((PB + 2))    # ... with rmilter over unix
P_PF_RMI=$((PB + 3))    # ... with rmilter over inet
P_PF_NMU=$((PB + 4))    # ... with nullmilter over unix
P_PF_NMI=$((PB + 5))    # ... with nullmilter over inet
P_PF_ODK=$((PB + 6))    # ... with OpenDKIM (inet)
P_PF_RSP=$((PB + 7))    # ... with the rspamd proxy (inet)
P_PF_RMD=$((PB + 8))    # ... with rmilter DKIM signing (unix)
P_PF_RMS=$((PB + 9))    # ... with rmilter + rspamd scanning (unix)
P_RM=$((PB + 20))       # rmilter inet listener
P_NM=$((PB + 21))       # nullmilter inet listener
P_ODK=$((PB + 22))      # opendkim
P_RSP_PROXY=$((PB + 23)) # rspamd milter proxy (self-scan)
P_RSP_NORMAL=$((PB + 24)) # rspamd normal worker (scans for rmilter)
P_RSP_CTL=$((PB + 25))  # rspamd controller
P_RSP_DNS=$((PB + 26))  # where rspamd's resolver asks (nothing listens)

say() { printf '%s\n' "$*"; }
note() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { note "ERROR: $*"; exit 1; }

# ------------------------------------------------------------ processes

# alive PID : running and not a zombie
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# track PID NAME : stopped by bench_cleanup
track() { echo "$1 $2" >>"$BD/pids"; }

# stop_pid PID [TIMEOUT_S] : TERM, wait, then KILL that one PID
stop_pid() {
    local pid=$1 t=${2:-15} i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 20; i++)); do
        alive "$pid" || return 0
        sleep 0.05
    done
    note "pid $pid did not stop in ${t}s; KILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# bench_cleanup : stop everything this run started, newest first, by PID
bench_cleanup() {
    local pid name
    [ -f "$BD/pids" ] || return 0
    tac "$BD/pids" | while read -r pid name; do
        if alive "$pid"; then
            stop_pid "$pid" 20
        fi
    done
    : >"$BD/pids"
}

# wait_tcp PORT [TIMEOUT_S [PID]] : something listens on 127.0.0.1:PORT
# (checked with ss, so a milter never sees a probe connection)
wait_tcp() {
    local port=$1 t=${2:-20} pid=${3:-} i
    for ((i = 0; i < t * 20; i++)); do
        ss -Hltn "src 127.0.0.1:$port" 2>/dev/null | grep -q . && return 0
        if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
        sleep 0.05
    done
    return 1
}

# wait_unix PATH [TIMEOUT_S [PID]]
wait_unix() {
    local p=$1 t=${2:-20} pid=${3:-} i
    for ((i = 0; i < t * 20; i++)); do
        [ -S "$p" ] && return 0
        if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
        sleep 0.05
    done
    return 1
}

# port_free PORT... : fail if something already listens there
port_free() {
    local p
    for p in "$@"; do
        if ss -Hltn "src 127.0.0.1:$p" 2>/dev/null | grep -q .; then
            die "127.0.0.1:$p is already in use ($(ss -Hltnp "src 127.0.0.1:$p" | grep -o 'users:.*' | head -1)); set BENCH_PORT_BASE"
        fi
    done
}

# ensure_pkgs PKG... : install missing Debian packages (no daemon starts);
# returns 1 instead of failing the run (the apt output is in $APT_LOG)
APT_LOG=${TMPDIR:-/tmp}/rmilter-bench-apt.log
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ ! -x /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    note "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
        --no-install-recommends "${missing[@]}" >"$APT_LOG" 2>&1; then
        apt-get update -qq >>"$APT_LOG" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
            --no-install-recommends "${missing[@]}" >>"$APT_LOG" 2>&1 || return 1
    fi
}

# ------------------------------------------------------------ /proc readings

# cpu_ticks PID... : utime+stime (clock ticks, all threads) of the PIDs and
# of their child processes (rspamd's workers)
cpu_ticks() {
    local pids=("$@") p kids all=()
    for p in "${pids[@]}"; do
        all+=("$p")
        kids=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
        for k in $kids; do all+=("$k"); done
    done
    for p in "${all[@]}"; do
        awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0
    done | awk '{ s += $1 } END { print s + 0 }'
}
HZ=$(getconf CLK_TCK)

# status_kb PID FIELD : a kB field of /proc/PID/status (VmRSS, VmHWM)
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
threads_of() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# peak_rss_start PID FILE / peak_rss_stop FILE : sample VmRSS every 20 ms
peak_rss_start() {
    local pid=$1 out=$2
    rm -f "$out.stop"
    (
        peak=0
        while [ ! -e "$out.stop" ] && alive "$pid"; do
            r=$(status_kb "$pid" VmRSS)
            [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
            sleep 0.02
        done
        echo "$peak" >"$out"
    ) &
    PEAK_PID=$!
}
peak_rss_stop() { # sets PEAK_KB (not in a $(...): it waits for the sampler)
    touch "$1.stop"
    wait "$PEAK_PID" 2>/dev/null || true
    PEAK_KB=$(cat "$1" 2>/dev/null || echo "?")
}

# ------------------------------------------------------------ statistics

# med VALUES... : the median; range VALUES... : "min-max"
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "-"; else printf "%s-%s\n", lo, hi }'; }
# ratio A B : B / A with 3 decimals ("-" if either is missing)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 <= 0 || b == "-" || a == "-") print "-"; else printf "%.3f\n", b / a }'; }
# pair_range "A1 A2 .." "B1 B2 .." : min-max of Bi/Ai (runs taken in turn)
pair_range() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) if (x[i] > 0 && y[i] != "") {
            r = y[i] / x[i]; if (lo == "" || r < lo) lo = r; if (hi == "" || r > hi) hi = r }
        if (lo == "") print "-"; else printf "%.2f-%.2f\n", lo, hi }'
}
# fmt1 X : one decimal
fmt1() { awk -v x="$1" 'BEGIN { if (x == "-" || x == "") print "-"; else printf "%.1f\n", x }'; }
# kv KEY LINE : the value of KEY=... in a RESULT line
kv() { sed -nE "s/.*[ ]$1=([^ ]*).*/\\1/p" <<<" $2"; }

# ------------------------------------------------------------ smtp-sink

SINK_DIR=
start_sink() {
    SINK_DIR=$BD/sink
    mkdir -p "$SINK_DIR"
    chmod 755 "$SINK_DIR"
    port_free "$P_SINK"
    : >"$SINK_DIR/counter"
    # -c: "sess=N quit=N mesg=N\r" counter on stdout; -u drops root
    setsid smtp-sink -c -u nobody "127.0.0.1:$P_SINK" 1000 \
        >"$SINK_DIR/counter" 2>"$SINK_DIR/smtp-sink.log" </dev/null &
    track $! smtp-sink
    wait_tcp "$P_SINK" 10 $! || die "smtp-sink did not start"
}

sink_count() {
    local last
    last=$(tr '\r' '\n' <"$SINK_DIR/counter" 2>/dev/null | grep mesg= | tail -1 || true)
    last=${last##*mesg=}
    last=$(tr -dc 0-9 <<<"$last")
    echo "${last:-0}"
}

# ------------------------------------------------------------ Postfix

PF_DIR=
PF_PID=
# start_postfix "PORT=MILTER" ... : one Postfix, one smtpd listener per
# argument, each with its own smtpd_milters (Postfix syntax: unix:/path or
# inet:127.0.0.1:PORT; empty: no milter), relaying to smtp-sink. Settings as
# in the research harness (postfix.sh), so the numbers compare with
# research/anchors.md.
start_postfix() {
    local l port milter
    PF_DIR=$BD/pf
    mkdir -p "$PF_DIR/etc" "$PF_DIR/queue" "$PF_DIR/data"
    chown root:root "$PF_DIR" "$PF_DIR/queue"
    chmod 755 "$PF_DIR" "$PF_DIR/queue"
    chown postfix "$PF_DIR/data"
    cat >"$PF_DIR/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
relayhost = [127.0.0.1]:$P_SINK
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
default_process_limit = 200
default_destination_concurrency_limit = 50
smtp_connection_cache_on_demand = yes
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 10s
milter_command_timeout = 30s
milter_content_timeout = 60s
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {client_addr} {client_port} {client_name}
milter_helo_macros = {tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}
milter_end_of_header_macros = i
milter_end_of_data_macros = i {msg_id}
smtpd_milters =
non_smtpd_milters =
EOF
    {
        for l in "$@"; do
            port=${l%%=*}
            milter=${l#*=}
            port_free "$port"
            echo "127.0.0.1:$port inet n - n - - smtpd -o smtpd_milters=$milter"
        done
        cat <<'EOF'
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
    } >"$PF_DIR/etc/master.cf"
    postfix -c "$PF_DIR/etc" check 2>&1 | grep -v 'symlink leaves directory' >&2 || true
    postfix -c "$PF_DIR/etc" start >/dev/null 2>&1 || die "postfix did not start (see $PF_DIR/maillog)"
    PF_PID=$(tr -dc 0-9 <"$PF_DIR/queue/pid/master.pid")
    track "$PF_PID" postfix-master
    for l in "$@"; do
        wait_tcp "${l%%=*}" 30 || die "postfix does not listen on ${l%%=*}"
    done
}

# smtp_run PORT N SESSIONS SIZE : smtp-source to PORT, wait until smtp-sink
# counted N more; prints "e2e accept delivered" (msg/s, msg/s, count).
# Bounded: BENCH_SMTP_TIMEOUT seconds (default 300).
smtp_run() {
    local port=$1 n=$2 s=$3 size=$4 t0 t1 t2 base c tmo=${BENCH_SMTP_TIMEOUT:-300}
    base=$(sink_count)
    t0=$(date +%s%N)
    timeout "$tmo" smtp-source -s "$s" -m "$n" -l "$size" -f sender@example.org \
        -t rcpt@example.test -M client.test "127.0.0.1:$port" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    while :; do
        c=$(($(sink_count) - base))
        [ "$c" -ge "$n" ] && break
        [ $((($(date +%s%N) - t0) / 1000000000)) -ge "$tmo" ] && break
        sleep 0.02
    done
    t2=$(date +%s%N)
    awk -v n="$n" -v c="$c" -v a=$((t1 - t0)) -v e=$((t2 - t0)) \
        'BEGIN { printf "%.1f %.1f %d\n", c / (e / 1e9), n / (a / 1e9), c }'
}

# ------------------------------------------------------------ milters

RM_PID=
# start_rmilter CONF LOG : the daemon in the foreground (-n), logging to
# LOG; waits for every unix/inet socket named in CONF's bind_socket
start_rmilter() {
    local conf=$1 log=$2 s
    "$RMILTER_BIN" -n -c "$conf" >>"$log" 2>&1 </dev/null &
    RM_PID=$!
    track "$RM_PID" rmilter
    for s in $(sed -nE 's/^[[:space:]]*bind_socket[[:space:]]*=[[:space:]]*([^;]*);.*/\1/p' "$conf" | tr ',' ' '); do
        case $s in
        unix:*) wait_unix "${s#unix:}" 20 "$RM_PID" || { tail -5 "$log" >&2; return 1; } ;;
        inet:*) s=${s#inet:}; wait_tcp "${s%@*}" 20 "$RM_PID" || { tail -5 "$log" >&2; return 1; } ;;
        esac
    done
}
stop_rmilter() {
    [ -n "$RM_PID" ] && stop_pid "$RM_PID" 35
    RM_PID=
}

# start_nullmilter SPEC : the libmilter peer (bench/peers/nullmilter.c);
# prints its PID
start_nullmilter() {
    local spec=$1 pid
    (umask 000 && exec setsid "$NULLMILTER_BIN" "$spec" >>"$BD/nullmilter.log" 2>&1 </dev/null) &
    pid=$!
    track "$pid" nullmilter
    case $spec in
    unix:*) wait_unix "${spec#unix:}" 10 "$pid" || return 1 ;;
    inet:*) local r=${spec#inet:}; wait_tcp "${r%@*}" 10 "$pid" || return 1 ;;
    esac
    echo "$pid"
}

# start_opendkim KEY NAME SOCKET : OpenDKIM 2.11 signing d=example.org
# s=sel1 with KEY, relaxed/simple rsa-sha256 (as the harness's
# opendkim.sh), on SOCKET (its syntax: inet:PORT@127.0.0.1 or local:/path);
# the load generator's client IPs (198.18.0.0/15) are internal hosts, so
# every message is signed. State in $BD/NAME. Prints the PID.
start_opendkim() {
    local key=$1 d=$BD/$2 sock=$3 pid
    mkdir -p "$d"
    cp "$key" "$d/sel1.private"
    chown -R opendkim:opendkim "$d"
    chmod 711 "$d" # traversable: a unix socket may live here
    chmod 600 "$d/sel1.private"
    cat >"$d/opendkim.conf" <<EOF
Syslog                  no
LogWhy                  no
Mode                    s
Domain                  example.org
Selector                sel1
KeyFile                 $d/sel1.private
Canonicalization        relaxed/simple
SignatureAlgorithm      rsa-sha256
InternalHosts           127.0.0.0/8, 198.18.0.0/15
Socket                  $sock
PidFile                 $d/opendkim.pid
UserID                  opendkim:opendkim
UMask                   000
RequireSafeKeys         false
EOF
    case $sock in inet:*) local p=${sock#inet:}; port_free "${p%@*}" ;; esac
    setsid opendkim -f -x "$d/opendkim.conf" >"$d/opendkim.log" 2>&1 </dev/null &
    pid=$!
    track "$pid" opendkim
    case $sock in
    inet:*) local r=${sock#inet:}; wait_tcp "${r%@*}" 10 "$pid" || { cat "$d/opendkim.log" >&2; return 1; } ;;
    local:*) wait_unix "${sock#local:}" 10 "$pid" || { cat "$d/opendkim.log" >&2; return 1; } ;;
    esac
    echo "$pid"
}

# start_rspamd : Debian's rspamd with its stock rules (/etc/rspamd,
# redirected with --var as the harness's rspamd.sh does): the milter proxy
# with self_scan on $P_RSP_PROXY (the peer), a normal worker on
# $P_RSP_NORMAL (the scanner rmilter's spamd module talks to), controller
# on $P_RSP_CTL. Its resolver points at 127.0.0.1:$P_RSP_DNS where nothing
# listens; fuzzy_check and rspamd_update are off. The hyperscan cache stays
# in $RSPAMD_DB between runs (the first start compiles it, ~10 s).
# Prints the main PID.
RSPAMD_DB=${RSPAMD_DB:-/var/tmp/rmilter-bench-rspamd-db}
start_rspamd() {
    local d=$BD/rspamd e pid
    e=$d/etc
    mkdir -p "$e/local.d" "$e/override.d" "$d/run" "$d/log" "$RSPAMD_DB"
    cat >"$e/local.d/options.inc" <<EOF
dns { nameserver = ["127.0.0.1:$P_RSP_DNS"]; timeout = 1s; retransmits = 1; }
local_addrs = "127.0.0.0/8, ::1";
EOF
    echo 'level = "notice";' >"$e/local.d/logging.inc"
    cat >"$e/override.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$P_RSP_NORMAL";
count = 1;
task_timeout = 8s;
EOF
    cat >"$e/override.d/worker-controller.inc" <<EOF
bind_socket = "127.0.0.1:$P_RSP_CTL";
count = 1;
EOF
    cat >"$e/override.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:$P_RSP_PROXY";
milter = yes;
timeout = 120s;
count = 1;
upstream "local" {
  default = yes;
  hosts = "127.0.0.1:$P_RSP_NORMAL";
  self_scan = yes;
}
discard_on_reject = false;
quarantine_on_reject = false;
spam_header = "X-Spam";
reject_message = "Spam message rejected";
EOF
    echo 'enabled = false;' >"$e/local.d/fuzzy_check.conf"
    echo 'enabled = false;' >"$e/local.d/rspamd_update.conf"
    chown -R _rspamd:_rspamd "$d" "$RSPAMD_DB"
    port_free "$P_RSP_PROXY" "$P_RSP_NORMAL" "$P_RSP_CTL"
    setsid rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf \
        --var="LOCAL_CONFDIR=$e" --var="DBDIR=$RSPAMD_DB" --var="RUNDIR=$d/run" \
        --var="LOGDIR=$d/log" </dev/null >"$d/rspamd.out" 2>&1 &
    pid=$!
    track "$pid" rspamd
    wait_tcp "$P_RSP_NORMAL" 180 "$pid" && wait_tcp "$P_RSP_PROXY" 30 "$pid" ||
        { tail -5 "$d/rspamd.out" "$d/log/rspamd.log" >&2 2>/dev/null; return 1; }
    echo "$pid"
}

# ------------------------------------------------------------ milter-load

# ml_run "PID..." ARGS... : milter-load with ARGS; prints its RESULT line
# plus " dcpu_us=<milter CPU per message in us> dcpu_rate=<messages per
# second of milter CPU>" measured on the PIDs (and their child processes)
ml_run() {
    local pids c0 c1 res msgs
    read -ra pids <<<"$1"
    shift
    c0=$(cpu_ticks "${pids[@]}")
    res=$("$MILTER_LOAD" -q "$@" | grep '^RESULT') || true
    c1=$(cpu_ticks "${pids[@]}")
    msgs=$(kv msgs "$res")
    awk -v r="$res" -v m="${msgs:-0}" -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN {
        s = d / hz
        printf "%s dcpu_us=%s dcpu_rate=%s\n", r,
            (m > 0 ? sprintf("%.0f", s * 1e6 / m) : "-"),
            (s > 0 ? sprintf("%.0f", m / s) : "-") }'
}
