# shellcheck shell=bash disable=SC2034,SC2154,SC2016
# (SC2034: globals for the tests; SC2154: BG_PID_* are set by start_bg;
# SC2016: EICAR is literal on purpose)
# scan_lib.sh - real content scanners (clamd, SpamAssassin's spamd, rspamd)
# and fake ones for the content-scanning tests. Source it after lib.sh.
# Everything runs on 127.0.0.1 (or a unix socket in $T) on ports from the
# test's block, in the test's directory, and is stopped by PID at exit.
#
#   start_clamd          clamd with a signature database written here: the
#                        EICAR test string as an .ndb body pattern
#                        (Test.EICAR.NDB.UNOFFICIAL, found inside mail) and
#                        the 68-byte EICAR file by MD5; sets CLAMD_SOCK
#                        (unix path), CLAMD_PORT (TCP), CLAMD_DB (the
#                        database directory, also for engine = libclamav)
#   start_spamd          SpamAssassin's spamd with the rules Debian ships,
#                        offline (no DNS, no bayes); sets SPAMD_PORT
#   start_rspamd         rspamd (one normal worker) with the stock config,
#                        redirected to $T/rspamd with --var, DNS pointed at a
#                        closed port; its local.d/override.d and the
#                        rspamd.local.lua test rule come from
#                        RSPAMD_LOCAL_LUA if set; sets RSPAMD_PORT
#   start_fake NAME MODE VAR [--delay S]
#                        fake_scanner.py (hang | garbage | clamd | rspamd |
#                        spamd) on a new port stored in VAR; its log is
#                        $T/NAME.log (one line per accept/request/reply);
#                        stop it with stop_bg NAME
#   fake_count NAME WHAT the number of WHAT lines (accept, request, ...)
#   eicar_body FILE      a message body holding the EICAR test string
#   gtube_body FILE [VARIANT]  a body holding GTUBE (VARIANT: the first
#                        letter, X reject; rspamd also knows Y add header,
#                        Z rewrite subject, A no action)

EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
GTUBE_TAIL='JS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

eicar_body() {
    printf 'This message carries the EICAR test string:\n\n%s\n\nend\n' "$EICAR" >"$1"
}

gtube_body() {
    printf 'This message carries the GTUBE test string:\n\n%s%s\n\nend\n' "${2:-X}" "$GTUBE_TAIL" >"$1"
}

CLAMD_SOCK=
CLAMD_PORT=
CLAMD_DB=
start_clamd() {
    command -v clamd >/dev/null || skip "clamd is not installed (clamav-daemon)"
    local d=$T/clamd hex
    mkdir -p "$d/db"
    chmod 755 "$d" "$d/db"
    CLAMD_DB=$d/db
    hex=$(printf '%s' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' | od -An -tx1 | tr -d ' \n')
    printf 'Test.EICAR.NDB:0:*:%s\n' "$hex" >"$d/db/test.ndb"
    printf '%s' "$EICAR" >"$d/eicar.com"
    printf '%s:%s:Test.EICAR.HDB\n' "$(md5sum <"$d/eicar.com" | cut -d' ' -f1)" \
        "$(stat -c %s "$d/eicar.com")" >"$d/db/test.hdb"
    new_port CLAMD_PORT
    CLAMD_SOCK=$d/clamd.sock
    cat >"$d/clamd.conf" <<EOF
Foreground yes
LocalSocket $CLAMD_SOCK
LocalSocketMode 666
FixStaleSocket yes
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
DatabaseDirectory $d/db
LogFile $d/clamd.log
LogTime yes
PidFile $d/clamd-own.pid
MaxThreads 4
StreamMaxLength 10M
ScanMail yes
Bytecode no
SelfCheck 3600
EOF
    start_bg clamd clamd --config-file="$d/clamd.conf"
    wait_unix "$CLAMD_SOCK" 60 "$BG_PID_clamd" || fail "clamd did not start (see $T/clamd.log, $d/clamd.log)"
    wait_tcp "$CLAMD_PORT" 127.0.0.1 20 "$BG_PID_clamd" || fail "clamd does not listen on $CLAMD_PORT"
    say "clamd on $CLAMD_SOCK and 127.0.0.1:$CLAMD_PORT (pid $BG_PID_clamd)"
}

SPAMD_PORT=
start_spamd() {
    command -v spamd >/dev/null || skip "spamd is not installed"
    id debian-spamd >/dev/null 2>&1 || skip "no debian-spamd user (spamd package)"
    local d=$T/spamd
    mkdir -p "$d/home"
    chown debian-spamd:debian-spamd "$d/home"
    new_port SPAMD_PORT
    start_bg spamd spamd --listen="127.0.0.1:$SPAMD_PORT" --allowed-ips=127.0.0.1 \
        --local --nouser-config --username=debian-spamd --groupname=debian-spamd \
        --helper-home-dir="$d/home" --pidfile="$d/spamd.pid" \
        --syslog="$d/spamd.log" --syslog-socket=file \
        --max-children=2 --min-children=1 \
        --cf='dns_available no' --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
        --cf='use_razor2 0' --cf='use_pyzor 0' --cf='skip_rbl_checks 1'
    wait_tcp "$SPAMD_PORT" 127.0.0.1 120 "$BG_PID_spamd" || fail "spamd did not start (see $T/spamd.log)"
    say "spamd on 127.0.0.1:$SPAMD_PORT (pid $BG_PID_spamd)"
}

RSPAMD_PORT=
start_rspamd() {
    command -v rspamd >/dev/null || skip "rspamd is not installed"
    id _rspamd >/dev/null 2>&1 || skip "no _rspamd user (rspamd package)"
    local d=$T/rspamd dns
    mkdir -p "$d/etc/local.d" "$d/etc/override.d" "$d/db" "$d/run" "$d/log"
    new_port RSPAMD_PORT
    new_port dns # nothing listens there: lookups fail at once, locally
    cat >"$d/etc/local.d/options.inc" <<EOF
dns { nameserver = ["127.0.0.1:$dns"]; timeout = 1s; retransmits = 1; }
local_addrs = "127.0.0.0/8, ::1";
enable_test_patterns = true; # the GTUBE variants: Y add header, Z rewrite subject
EOF
    echo 'level = "notice";' >"$d/etc/local.d/logging.inc"
    cat >"$d/etc/override.d/worker-normal.inc" <<EOF
bind_socket = "127.0.0.1:$RSPAMD_PORT";
count = 1;
task_timeout = 8s;
EOF
    echo 'enabled = false;' >"$d/etc/override.d/worker-controller.inc"
    echo 'enabled = false;' >"$d/etc/override.d/worker-proxy.inc"
    echo 'enabled = false;' >"$d/etc/local.d/fuzzy_check.conf"
    echo 'enabled = false;' >"$d/etc/local.d/rspamd_update.conf"
    [ -n "${RSPAMD_LOCAL_LUA:-}" ] && cp "$RSPAMD_LOCAL_LUA" "$d/etc/rspamd.local.lua"
    chown -R _rspamd:_rspamd "$d"
    start_bg rspamd rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf \
        --var="LOCAL_CONFDIR=$d/etc" --var="DBDIR=$d/db" --var="RUNDIR=$d/run" \
        --var="LOGDIR=$d/log"
    wait_tcp "$RSPAMD_PORT" 127.0.0.1 90 "$BG_PID_rspamd" ||
        fail "rspamd did not start (see $T/rspamd.log, $d/log/rspamd.log)"
    say "rspamd on 127.0.0.1:$RSPAMD_PORT (pid $BG_PID_rspamd)"
}

start_fake() {
    local name=$1 mode=$2 var=$3 port
    shift 3
    new_port port
    start_bg "$name" "$PY" "$FT_DIR/fake_scanner.py" "$mode" --port "$port" "$@"
    local pv="BG_PID_$name"
    wait_tcp "$port" 127.0.0.1 20 "${!pv}" || fail "fake scanner $name ($mode) did not start"
    printf -v "$var" '%s' "$port"
}

fake_count() { grep -c " $2" "$T/$1.log" 2>/dev/null || true; }
