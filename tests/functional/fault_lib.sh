# shellcheck shell=bash disable=SC2034
# fault_lib.sh - the "no mail lost" fault driver (source it after lib.sh).
#
# DESIGN.md "Failure policy": an unreachable backend never causes a reject,
# and every message is either delivered or tempfailed back to the client.
# This driver proves it for one backend at a time, through real Postfix:
#
#   client (fault_send.py) -> Postfix -> rmilter -> bad_backend.py -> the
#                                 |                 real backend
#                                 +-> smtp-sink
#
# bad_backend.py passes everything through to the real backend (proxy)
# until the test switches it to a fault mode: down (nothing listens: a
# stopped backend), stall (accepts, never answers: a hung one), slow
# (answers after a delay below the daemon's timeout), garbage (answers
# junk), close (accepts and closes at once). For each mode a batch of
# FAULT_N messages goes through Postfix, FAULT_C at a time, and the test
# counts at both ends:
#   - at the client, each message's final SMTP reply: accepted (2xx),
#     tempfailed (4xx), rejected (5xx); accepted + tempfailed + rejected
#     == FAULT_N and no session broke without a reply;
#   - rejected == 0: a backend failure never causes a 5xx;
#   - every message gets the outcome the configured policy gives (or the
#     healthy outcome, in slow mode), and the daemon logs that policy;
#   - at the sink: the set of messages that arrived is exactly the set the
#     client saw accepted, each once (nothing lost, nothing duplicated);
#   - the daemon is alive with the same PID;
#   - a pool member that failed is marked dead (log line naming its
#     address), and with the backend healthy again it is revived (log line)
#     and really asked again (bad_backend forwarded a request), with the
#     healthy outcome. (A pool whose only member is dead still tries it, by
#     design - upstream.h - so a success revives it at once.)
# The "peer" phase puts the real backend next to the bad one in the pool
# (servers = bad, real): while the bad one stalls, the pool marks it dead
# and the mail flows through its peer (the same counting invariants); back
# to healthy, the dead member is not revived by the traffic its peer
# serves, only once dead_time has passed: the daemon's own log timestamps
# of "marked dead" and "is alive again" must be at least dead_time apart.
#
# A backend test is a few lines:
#
#   . "$FT_DIR/fault_lib.sh"
#   FAULT_MODULE=greylist                # rm_<name>_module must exist
#   FAULT_UPSTREAM=127.0.0.1:$REDIS      # the real backend, started first
#   FAULT_HEALTHY=tempfailed             # a fresh message's healthy fate
#   fault_conf() {                       # POLICY SERVERS -> config body
#       echo "redis { servers_grey = $2; on_failure = $1; ...}"
#   }
#   fault_run down:tempfail stall:accept slow:tempfail garbage:accept \
#       close:tempfail peer:tempfail
#
# SERVERS is "127.0.0.1:PORT" (the bad backend), or in the peer phase
# "127.0.0.1:PORT, FAULT_UPSTREAM".
#
# Knobs (set before fault_run):
#   FAULT_MODULE       module name; SKIP (77) when the daemon has no
#                      rm_<name>_module or `rmilter -t` rejects the config
#   FAULT_UPSTREAM     HOST:PORT of the real backend
#   FAULT_PROTO        tcp (default), udp or both (karma, DNS)
#   FAULT_POOL         1 (default): the module reports to an upstream pool,
#                      so "marked dead" / "is alive again" lines are
#                      required; 0 for DNS (c-ares has no pool of ours)
#   FAULT_DEAD_TIME    the pool's dead_time in seconds (fault_conf must use
#                      it; default 1)
#   FAULT_HEALTHY      accepted (default) or tempfailed
#   FAULT_HEALTHY_RE   optional: every healthy reply must match (ERE)
#   FAULT_FAIL_RE      the daemon's log line for a failed check under
#                      POLICY (ERE; %P is replaced by the policy word the
#                      daemon logs); default: a pipeline failure line
#                      "failed at ...; on_failure = %P"
#   FAULT_FAIL_RE_FN   optional function POLICY -> that regex, for a module
#                      whose log line differs by policy
#   FAULT_POLICY_WORD  function POLICY -> the word the log uses (default:
#                      the policy; accept may be logged as continue, the
#                      pipeline's name for "this check passes")
#   FAULT_OUTCOME      function POLICY -> accepted|tempfailed under a
#                      failure (default: tempfail -> tempfailed, else
#                      accepted)
#   FAULT_SEND_ARGS    array of extra fault_send.py arguments (--xclient,
#                      --from, --header, ...)
#   FAULT_N (8), FAULT_C (8: one wave, so a hung backend costs one
#                      timeout per batch), FAULT_SLOW_DELAY (0.15 s; every
#                      timeout here is 1 s or more per try)
#   fault_healthy_check  optional function, run after each healthy batch
#                      (the batch's token in $FAULT_TOKEN, the client's
#                      lines in $FB_OUT)
#   fault_check_outcome  optional function POLICY, run after each fault
#                      batch (same variables): the reply text or header
#                      the policy gives
#   PF_EXTRA           more Postfix main.cf lines (XCLIENT: set by default)

FAULT_N=${FAULT_N:-8}
FAULT_C=${FAULT_C:-8}
FAULT_PROTO=${FAULT_PROTO:-tcp}
FAULT_POOL=${FAULT_POOL:-1}
FAULT_DEAD_TIME=${FAULT_DEAD_TIME:-1}
FAULT_HEALTHY=${FAULT_HEALTHY:-accepted}
FAULT_HEALTHY_RE=${FAULT_HEALTHY_RE:-}
FAULT_FAIL_RE=${FAULT_FAIL_RE:-'failed at [a-z]+.*; on_failure = %P'}
FAULT_SLOW_DELAY=${FAULT_SLOW_DELAY:-0.15}
FAULT_SEND_ARGS=(${FAULT_SEND_ARGS[@]+"${FAULT_SEND_ARGS[@]}"})
FAULT_DIR=$T/bad
FAULT_PORT=
FAULT_PID=
FAULT_TOKEN=
FAULT_GEN=1
FAULT_CUR_POLICY=
FAULT_SERVERS=
# last batch: counts and per-message lines
FB_ACC=0 FB_TMP=0 FB_REJ=0 FB_ERR=0 FB_OUT=

command -v postfix >/dev/null || skip "postfix is not installed"
command -v smtp-sink >/dev/null || skip "smtp-sink is not installed"

# fault_policy_word POLICY : how the daemon's log names it
fault_policy_word() {
    if declare -F FAULT_POLICY_WORD >/dev/null; then FAULT_POLICY_WORD "$1"; return; fi
    case $1 in accept) echo '(accept|continue)' ;; *) echo "$1" ;; esac
}
# fault_outcome POLICY : what a message gets when the check fails
fault_outcome() {
    if declare -F FAULT_OUTCOME >/dev/null; then FAULT_OUTCOME "$1"; return; fi
    case $1 in tempfail) echo tempfailed ;; *) echo accepted ;; esac
}

# fault_require_module CONFIG : SKIP unless the daemon has the module and
# accepts the config
fault_require_module() {
    local out rc=0 syms
    # (nm's whole output first: grep -q would close the pipe early)
    syms=$(nm "$RMILTER_BIN" 2>/dev/null | grep -oE ' rm_[a-z_]+_module$' || true)
    if [ -n "$syms" ] && ! grep -qx " rm_${FAULT_MODULE}_module" <<<"$syms"; then
        skip "the daemon has no $FAULT_MODULE module yet (no rm_${FAULT_MODULE}_module in $RMILTER_BIN)"
    fi
    out=$("$RMILTER_BIN" -c "$1" -t 2>&1) || rc=$?
    printf '%s\n' "$out" >"$T/check.out"
    [ "$rc" = 0 ] || skip "rmilter -t rejects the $FAULT_MODULE config: $(head -n 3 <<<"$out" | tr '\n' ' ')"
}

# start_bad_backend : bad_backend.py in proxy mode in front of
# FAULT_UPSTREAM on a new port (FAULT_PORT); stopped by PID at exit
start_bad_backend() {
    local i
    [ -n "${FAULT_UPSTREAM:-}" ] || fail "start_bad_backend: FAULT_UPSTREAM is not set"
    mkdir -p "$FAULT_DIR"
    new_port FAULT_PORT
    echo proxy >"$FAULT_DIR/mode"
    : >"$FAULT_DIR/events"
    "$PY" "$FT_DIR/bad_backend.py" --port "$FAULT_PORT" --proto "$FAULT_PROTO" \
        --upstream "$FAULT_UPSTREAM" --mode-file "$FAULT_DIR/mode" --delay "$FAULT_SLOW_DELAY" \
        --log "$FAULT_DIR/events" --pidfile "$FAULT_DIR/pid" \
        </dev/null >>"$FAULT_DIR/server.log" 2>&1 &
    FAULT_PID=$!
    track "$FAULT_PID" bad_backend
    for ((i = 0; i < 200; i++)); do
        [ -s "$FAULT_DIR/pid" ] && break
        alive "$FAULT_PID" || break
        sleep 0.05
    done
    [ -s "$FAULT_DIR/pid" ] || { cat "$FAULT_DIR/server.log" >&2; fail "bad_backend.py did not start"; }
    say "bad backend on 127.0.0.1:$FAULT_PORT ($FAULT_PROTO) -> $FAULT_UPSTREAM"
}

# fault_mode MODE : switch the bad backend, wait until it applied it
fault_mode() {
    FAULT_WANT=$1
    echo "$1" >"$FAULT_DIR/mode"
    # shellcheck disable=SC2016 # expanded by eval, on every poll
    wait_until 10 eval '[ "$(cat "$FAULT_DIR/mode.ack" 2>/dev/null)" = "$FAULT_WANT" ]' ||
        fail "bad_backend did not switch to $1"
    say "backend mode: $1"
}

# fault_forwarded : requests the bad backend passed to the real backend
fault_forwarded() { grep -c '^fwd ' "$FAULT_DIR/events" || true; }

# fault_write_conf POLICY : the daemon config for POLICY and FAULT_SERVERS
fault_write_conf() {
    fault_conf "$1" "${FAULT_SERVERS:-127.0.0.1:$FAULT_PORT}" | rm_config "$RM_CONF"
}

# fault_set_policy POLICY [SERVERS] : reconfigure (SIGHUP) when POLICY or
# the servers change; the pools keep their state across the reload
fault_set_policy() {
    local servers=${2:-127.0.0.1:$FAULT_PORT}
    [ "$1" = "$FAULT_CUR_POLICY" ] && [ "$servers" = "${FAULT_SERVERS:-127.0.0.1:$FAULT_PORT}" ] && return 0
    FAULT_SERVERS=$servers
    log_mark
    fault_write_conf "$1"
    rm_signal HUP
    FAULT_GEN=$((FAULT_GEN + 1))
    wait_for_log "reloaded .*generation $FAULT_GEN" 20
    FAULT_CUR_POLICY=$1
    say "policy: $1"
}

# fault_batch N LABEL : N messages through Postfix; sets FB_* and
# FAULT_TOKEN; checks the counting invariants and the sink
fault_batch() {
    local n=$1 label=$2 line acc dlv
    FAULT_TOKEN=$(new_token)-$label
    FB_OUT=$T/batch.$label.out
    timeout 300 "$PY" "$FT_DIR/fault_send.py" --port "$PF_PORT" -n "$n" -c "$FAULT_C" \
        --token "$FAULT_TOKEN" ${FAULT_SEND_ARGS[@]+"${FAULT_SEND_ARGS[@]}"} >"$FB_OUT" 2>&1 ||
        { cat "$FB_OUT" >&2; fail "$label: fault_send.py failed"; }
    line=$(grep '^summary ' "$FB_OUT") || { cat "$FB_OUT" >&2; fail "$label: no summary from fault_send.py"; }
    FB_ACC=$(sed -E 's/.* accepted=([0-9]+).*/\1/' <<<"$line")
    FB_TMP=$(sed -E 's/.* tempfailed=([0-9]+).*/\1/' <<<"$line")
    FB_REJ=$(sed -E 's/.* rejected=([0-9]+).*/\1/' <<<"$line")
    FB_ERR=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")
    say "$label: $line"
    if [ "$FB_ERR" != 0 ]; then
        grep -E '^[^ ]+ 000 ' "$FB_OUT" | head -5 >&2
        fail "$label: $FB_ERR session(s) broke without an SMTP reply"
    fi
    assert_eq "$n" "$((FB_ACC + FB_TMP + FB_REJ))" "$label: accepted + tempfailed + rejected == sent"
    if [ "$FB_REJ" != 0 ]; then
        grep -E '^[^ ]+ 5[0-9][0-9] ' "$FB_OUT" | head -5 >&2
        fail "$label: $FB_REJ message(s) rejected (5xx)"
    fi
    # the sink: exactly the accepted messages, each once
    pf_wait_queue_empty 60
    acc=$(awk '$2 ~ /^2/ { print $1 }' "$FB_OUT" | sort)
    dlv=$(grep -h -m1 -oE "^Subject: $FAULT_TOKEN-[0-9]+" "$SINK_DIR"/mail/msg.* 2>/dev/null |
        sed 's/^Subject: //' | sort || true)
    assert_eq "$acc" "$dlv" "$label: messages at the sink == messages accepted"
    alive "$RM_PID" || fail "$label: the daemon died"
    assert_eq "$FAULT_DAEMON_PID" "$RM_PID" "$label: the daemon's PID"
}

# fault_expect_all CLASS LABEL : every message of the last batch got CLASS
fault_expect_all() {
    local n=$((FB_ACC + FB_TMP + FB_REJ)) got
    case $1 in
    accepted) got=$FB_ACC ;;
    tempfailed) got=$FB_TMP ;;
    *) fail "fault_expect_all: bad class $1" ;;
    esac
    if [ "$got" != "$n" ]; then
        sed 's/^/    /' "$FB_OUT" >&2
        fail "$2: $got of $n messages $1, expected all"
    fi
}

# fault_healthy LABEL [N] : a batch with the backend healthy: the healthy
# outcome, the backend really asked, nothing marked dead
fault_healthy() {
    local label=$1 n=${2:-2} f0
    f0=$(fault_forwarded)
    fault_batch "$n" "$label"
    fault_expect_all "$FAULT_HEALTHY" "$label"
    if [ -n "$FAULT_HEALTHY_RE" ]; then
        # "CODE TEXT" of each message (token and stage dropped)
        awk '$1 != "summary" { $1 = ""; $3 = ""; sub(/^ +/, ""); gsub(/  +/, " "); print }' "$FB_OUT" |
            grep -vE -- "$FAULT_HEALTHY_RE" >"$T/unexpected.out" || true
        if [ -s "$T/unexpected.out" ]; then
            sed 's/^/    /' "$T/unexpected.out" >&2
            fail "$label: healthy replies do not match /$FAULT_HEALTHY_RE/"
        fi
    fi
    [ "$(fault_forwarded)" -gt "$f0" ] || fail "$label: the backend was not asked (nothing forwarded)"
    if declare -F fault_healthy_check >/dev/null; then fault_healthy_check; fi
}

# fault_start [POLICY] : bad backend, daemon (config for POLICY), sink,
# Postfix; a healthy baseline batch
fault_start() {
    local pol=${1:-tempfail}
    start_bad_backend
    fault_write_conf "$pol"
    fault_require_module "$RM_CONF"
    FAULT_CUR_POLICY=$pol
    start_rmilter
    FAULT_DAEMON_PID=$RM_PID
    start_sink
    PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
${PF_EXTRA:-}" start_postfix "$RM_SOCK"
    log_mark
    fault_healthy baseline 3
    [ -z "$(log_lines 'marked dead')" ] || fail "baseline: a member was marked dead with a healthy backend"
}

# fault_phase MODE POLICY : one fault phase (see the header), then revival
fault_phase() {
    local mode=$1 pol=$2 word re f0
    fault_set_policy "$pol"
    word=$(fault_policy_word "$pol")
    if declare -F FAULT_FAIL_RE_FN >/dev/null; then
        re=$(FAULT_FAIL_RE_FN "$pol")
    else
        re=${FAULT_FAIL_RE//%P/$word}
    fi
    log_mark
    fault_mode "$mode"
    fault_batch "$FAULT_N" "$mode-$pol"
    if [ "$mode" = slow ]; then
        # below the timeout: no failure at all, mail as usual
        fault_expect_all "$FAULT_HEALTHY" "$mode-$pol"
        [ -z "$(log_lines 'marked dead')" ] || fail "slow: a member was marked dead although it answered in time"
        [ -z "$(log_lines "$re")" ] || fail "slow: failures logged although the backend answered in time: $(log_lines "$re" | head -2)"
        fault_mode proxy
        return 0
    fi
    fault_expect_all "$(fault_outcome "$pol")" "$mode-$pol"
    if declare -F fault_check_outcome >/dev/null; then fault_check_outcome "$pol"; fi
    wait_for_log "$re" 5
    if [ "$FAULT_POOL" = 1 ]; then
        wait_for_log "upstream [^ ]+: [^ ]*127\\.0\\.0\\.1:${FAULT_PORT}[^ ]* marked dead" 5
    fi
    # revival: healthy again; after dead_time the member is asked again
    fault_mode proxy
    log_mark
    if [ "$FAULT_POOL" = 1 ]; then
        sleep "$FAULT_DEAD_TIME"
        sleep 0.3
    fi
    fault_healthy "$mode-$pol-revived" 2
    if [ "$FAULT_POOL" = 1 ]; then
        wait_for_log "upstream [^ ]+: [^ ]*127\\.0\\.0\\.1:${FAULT_PORT}[^ ]* is alive again" 5
    fi
}

# log_ms LINE : the daemon log line's timestamp in ms since the epoch
log_ms() {
    local d
    d=$(cut -c1-23 <<<"$1")
    echo $(($(date -d "${d% *} ${d#* }" +%s) * 1000 + 10#${d##*.}))
}

# fault_peer_phase POLICY : the bad backend and the real one in one pool;
# the bad one stalls, then heals (see the header)
fault_peer_phase() {
    local pol=$1 dead alive t_dead t_alive i
    [ "$FAULT_POOL" = 1 ] || fail "fault_peer_phase: no pool here"
    fault_set_policy "$pol" "127.0.0.1:$FAULT_PORT, $FAULT_UPSTREAM"
    log_mark
    fault_mode stall
    # twice the usual batch: random or hashed selection must send at least
    # maxerrors of them to the bad member (P(fewer than 2 of 16) < 0.03 %)
    fault_batch $((2 * FAULT_N)) "peer-stall-$pol"
    wait_for_log "upstream [^ ]+: [^ ]*127\\.0\\.0\\.1:${FAULT_PORT}[^ ]* marked dead" 5
    dead=$(log_lines "upstream [^ ]+: [^ ]*127\\.0\\.0\\.1:${FAULT_PORT}[^ ]* marked dead" | tail -n 1)
    # healthy again; the peer serves; the dead member comes back only
    # after dead_time (the next selection after it revives it)
    fault_mode proxy
    for ((i = 0; i < 20; i++)); do
        fault_batch 2 "peer-healed-$pol-$i"
        fault_expect_all "$FAULT_HEALTHY" "peer-healed-$pol-$i"
        alive=$(log_lines "upstream [^ ]+: [^ ]*127\\.0\\.0\\.1:${FAULT_PORT}[^ ]* is alive again" | head -n 1)
        [ -n "$alive" ] && break
        sleep 0.25
    done
    [ -n "$alive" ] || fail "peer: the dead member was never revived"
    t_dead=$(log_ms "$dead")
    t_alive=$(log_ms "$alive")
    say "peer: marked dead at $t_dead, alive again at $t_alive ($((t_alive - t_dead)) ms; dead_time ${FAULT_DEAD_TIME}s)"
    [ $((t_alive - t_dead)) -ge $((FAULT_DEAD_TIME * 1000 - 5)) ] ||
        fail "peer: the member was revived $((t_alive - t_dead)) ms after it was marked dead, before dead_time (${FAULT_DEAD_TIME}s)"
    # and it is used again
    fault_set_policy "$pol"
    fault_healthy "peer-back-$pol" 2
}

# fault_run MODE:POLICY... : fault_start, one fault_phase per argument
# (MODE peer: fault_peer_phase), then a clean stop (exit status 0)
fault_run() {
    local first=${1#*:} p
    fault_start "$first"
    for p in "$@"; do
        if [ "${p%%:*}" = peer ]; then
            fault_peer_phase "${p#*:}"
        else
            fault_phase "${p%%:*}" "${p#*:}"
        fi
    done
    pf_wait_queue_empty 30
    stop_rmilter
    say "all phases: no message lost, none rejected"
}
