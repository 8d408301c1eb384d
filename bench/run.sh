#!/usr/bin/env bash
# bench/run.sh - rmilter's benchmarks, each printed as a ratio against a
# baseline measured in the same run (docs/benchmarks.md explains them and
# holds the results on the reference machine).
#
#   bench/run.sh [--quick] [--reps N] [--sections LIST] [--no-netns]
#                [--with-rspamd | --no-rspamd] [--dir DIR]
#
# Sections (LIST is comma separated; default all):
#   passthrough  smtp-source -> Postfix -> smtp-sink, no milter vs rmilter
#                (minimal config) over unix and inet vs the libmilter
#                nullmilter; 20 sessions, and serial (1 session)
#   engine       milter-load straight at the milter, 20 sessions: rmilter
#                with each local-only check (rules, greylisting, ratelimit,
#                DKIM RSA and Ed25519, all together) vs nullmilter
#   peers        OpenDKIM vs rmilter DKIM signing; rspamd's milter proxy
#                (self-scan) vs rmilter scanning with rspamd
#   memory       RSS with 1,000 sessions held open, before and after
#                200,000 messages, and with 50 MB messages in 4 sessions
#
# A scenario whose module is not built is skipped with the reason: either
# "rmilter -t" rejects its config (bench/conf/<name>.conf), or the daemon
# accepts it but the scenario's probe (a message the module must visibly act
# on) shows no effect. A peer that cannot be installed or started is
# skipped too.
#
# Everything runs on 127.0.0.1 and unix sockets, by default inside a private
# network namespace with nothing but loopback (--no-netns to use the host's
# loopback, with ports from BENCH_PORT_BASE, default 27250). Every process
# is started here and stopped by its PID. Bounded: a full run takes a few
# minutes, --quick about one.
#
# Environment: RMILTER_BIN, MILTER_LOAD, NULLMILTER_BIN (default: the
# binaries in BUILD, which is $BENCH_BUILD or build-bench/, configured and
# built as Release when missing), BD (run directory, /tmp/rmilter-bench),
# BENCH_PORT_BASE.
# shellcheck disable=SC2086,SC2001,SC2015,SC2016
# (SC2086: medians are taken over space-separated lists on purpose)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$HERE/.." && pwd)"

QUICK=0
REPS=
SECTIONS=passthrough,engine,peers,memory
RSPAMD=auto
NETNS=${BENCH_NETNS:-1}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; shift ;;
    --reps) REPS=$2; shift 2 ;;
    --sections) SECTIONS=$2; shift 2 ;;
    --no-netns) NETNS=0; shift ;;
    --with-rspamd) RSPAMD=1; shift ;;
    --no-rspamd) RSPAMD=0; shift ;;
    --dir) export BD=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (a private Postfix, peers running as their users)" >&2; exit 1; }

# shellcheck source=lib.sh
. "$HERE/lib.sh"

want() { [[ ",$SECTIONS," == *",$1,"* ]]; }

# packages first: inside the namespace there is no network at all
if [ -z "${BENCH_IN_NETNS:-}" ]; then
    command -v smtp-source >/dev/null || ensure_pkgs postfix || die "cannot install postfix (smtp-source, smtp-sink)"
    if want peers; then
        ensure_pkgs opendkim || note "opendkim could not be installed (see $APT_LOG); its benchmark will be skipped"
        if [ "$RSPAMD" = 1 ] || { [ "$RSPAMD" = auto ] && [ "$QUICK" = 0 ]; }; then
            ensure_pkgs rspamd || note "rspamd could not be installed (see $APT_LOG); its benchmark will be skipped"
        fi
    fi
fi

# a private network namespace: only loopback exists, no port can clash
if [ "$NETNS" = 1 ] && [ -z "${BENCH_IN_NETNS:-}" ] && command -v unshare >/dev/null; then
    args=(--sections "$SECTIONS")
    [ "$QUICK" = 1 ] && args+=(--quick)
    [ -n "$REPS" ] && args+=(--reps "$REPS")
    [ "$RSPAMD" = 1 ] && args+=(--with-rspamd)
    [ "$RSPAMD" = 0 ] && args+=(--no-rspamd)
    exec unshare --net -- env BENCH_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "${args[@]}"
fi

# ------------------------------------------------------------ parameters

if [ "$QUICK" = 1 ]; then
    REPS=${REPS:-1}
    PF_N=500 PF_WARM=100 PF_S=20 SER_N=100
    ENG_SECS=1
    MEM_MSGS=20000 MEM_WARM=2000 HOLD_SECS=1
    [ "$RSPAMD" = auto ] && RSPAMD=0
else
    REPS=${REPS:-3}
    PF_N=2000 PF_WARM=200 PF_S=20 SER_N=300
    ENG_SECS=2
    MEM_MSGS=200000 MEM_WARM=10000 HOLD_SECS=3
    [ "$RSPAMD" = auto ] && RSPAMD=1
fi
ENG_C=20
HOLD_N=1000
BIG=50M BIG_S=4

BUILD=${BENCH_BUILD:-$TOP/build-bench}
RMILTER_BIN=${RMILTER_BIN:-$BUILD/rmilter}
MILTER_LOAD=${MILTER_LOAD:-$BUILD/bench/milter-load}
NULLMILTER_BIN=${NULLMILTER_BIN:-$BUILD/bench/nullmilter}

# ------------------------------------------------------------ set-up

rm -rf "$BD"
mkdir -p "$BD"
chmod 755 "$BD"
: >"$BD/pids"
trap 'bench_cleanup' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ ! -x "$RMILTER_BIN" ] || [ ! -x "$MILTER_LOAD" ] || [ ! -x "$NULLMILTER_BIN" ]; then
    note "building rmilter, milter-load and nullmilter in $BUILD (Release)"
    targets=(--target rmilter milter-load nullmilter)
    if ! { cmake -S "$TOP" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BD/build.log" 2>&1 &&
        cmake --build "$BUILD" -j "$(nproc)" "${targets[@]}" >>"$BD/build.log" 2>&1; }; then
        # a new compiler warning at -O3 must not keep the benchmarks from
        # running; the test suite's builds still hold the code to -Werror
        note "the Release build failed with -Werror (see $BD/build.log); retrying with -Wno-error"
        cmake -S "$TOP" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-Wno-error >>"$BD/build.log" 2>&1 &&
            cmake --build "$BUILD" -j "$(nproc)" "${targets[@]}" >>"$BD/build.log" 2>&1 ||
            die "build failed, see $BD/build.log"
    fi
fi
for b in "$RMILTER_BIN" "$MILTER_LOAD" "$NULLMILTER_BIN"; do
    [ -x "$b" ] || die "$b is missing"
done
command -v smtp-source >/dev/null || die "postfix (smtp-source, smtp-sink) is not installed"

mkdir -p "$BD/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BD/keys/rsa.key" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$BD/keys/ed25519.key" 2>/dev/null
chmod 600 "$BD"/keys/*.key

# ------------------------------------------------------------ scenarios

# conf_meta NAME KEY : the "# bench-KEY:" line of bench/conf/NAME.conf
conf_meta() { sed -nE "s/^# bench-$2:[[:space:]]*//p" "$HERE/conf/$1.conf" | head -1; }

# render NAME IDX : bench/conf/NAME.conf with its own socket, port and
# spool; prints the path
render() {
    local name=$1 idx=$2 out=$BD/conf/$1.conf
    mkdir -p "$BD/conf" "$BD/spool-$name"
    sed -e "s#unix:@BD@/rm.sock#unix:$BD/rm-$name.sock#; s#@P_RM@@127.0.0.1#$((P_RM + 30 + idx))@127.0.0.1#" \
        -e "s#@BD@/spool#$BD/spool-$name#; s#@BD@#$BD#g; s#@P_RSP_NORMAL@#$P_RSP_NORMAL#g" \
        "$HERE/conf/$name.conf" >"$out"
    echo "$out"
}
sock_of() { echo "unix:$BD/rm-$1.sock"; }

# probe_check EXPR OUTPUT : EXPR is "a+b>=N" over RESULT keys, or
# "hdr:NAME" (a header NAME was added)
probe_check() {
    local expr=$1 out=$2 res
    if [[ $expr == hdr:* ]]; then
        grep -q "header added: ${expr#hdr:} x" <<<"$out"
        return
    fi
    res=$(grep '^RESULT' <<<"$out" || true)
    awk -v e="$expr" -v r="$res" 'BEGIN {
        n = split(r, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
        split(e, lr, ">="); m = split(lr[1], t, "+"); s = 0
        for (i = 1; i <= m; i++) s += v[t[i]]
        exit !(s >= lr[2] + 0) }'
}

# ml ARGSTRING... : milter-load with arguments written as in a conf line
# (quotes allowed: the strings come from our own bench/conf files)
ml_args() {
    [ -n "${1// /}" ] || return 0
    eval "printf '%s\n' $1"
}

declare -A SC_PID SC_WHY SC_ARGS
# scenario_start NAME IDX : start rmilter with NAME's config, probe it and
# warm it up; on success SC_PID[NAME] is set, else SC_WHY[NAME] says why.
# "# bench-args:" in the config are milter-load arguments for every run of
# the scenario (SC_ARGS[NAME])
scenario_start() {
    local name=$1 idx=$2 conf mods probe args expr out m w log=$BD/rmilter-$1.log
    conf=$(render "$name" "$idx")
    mods=$(conf_meta "$name" module)
    if ! out=$("$RMILTER_BIN" -c "$conf" -t 2>&1); then
        SC_WHY[$name]="skipped: module $mods not built (rmilter -t rejects $name.conf: $(grep -v 'configuration has errors' <<<"$out" | head -1))"
        return 1
    fi
    for m in $mods; do
        case " ${NEEDS_OK:-} " in *" $m "*) ;; *)
            if [ "$name" = local-all ]; then
                SC_WHY[$name]="skipped: module $m not built (its own scenario was skipped)"
                return 1
            fi ;;
        esac
    done
    if ! start_rmilter "$conf" "$log"; then
        SC_WHY[$name]="skipped: rmilter did not start with $name.conf (see $log)"
        stop_rmilter
        return 1
    fi
    probe=$(conf_meta "$name" probe)
    args=${probe%%:::*}
    args=${args//@RAND@/$RANDOM$RANDOM}
    expr=$(sed -E 's/^[[:space:]]+|[[:space:]]+$//g' <<<"${probe##*:::}")
    mapfile -t xargs_ < <(ml_args "$(conf_meta "$name" args)")
    SC_ARGS[$name]="$(conf_meta "$name" args)"
    mapfile -t margs < <(ml_args "$args")
    out=$("$MILTER_LOAD" -s "$(sock_of "$name")" -w 10 "${xargs_[@]}" "${margs[@]}" 2>&1 || true)
    if ! probe_check "$expr" "$out"; then
        SC_WHY[$name]="skipped: module $mods not built (rmilter -t accepts $name.conf, but the probe saw no $mods at work: wanted $expr, got: $(grep -E '^  final:|header added' <<<"$out" | tr -s ' ' | tr '\n' ';'))"
        stop_rmilter
        return 1
    fi
    for m in $mods; do NEEDS_OK="${NEEDS_OK:-} $m"; done
    w=$(conf_meta "$name" warmup)
    if [ -n "$w" ]; then
        IFS='|' read -ra steps <<<"$w"
        for st in "${steps[@]}"; do
            st=$(sed -E 's/^[[:space:]]+|[[:space:]]+$//g' <<<"$st")
            if [[ $st == sleep* ]]; then
                $st
            else
                mapfile -t margs < <(ml_args "$st")
                "$MILTER_LOAD" -q -s "$(sock_of "$name")" "${xargs_[@]}" "${margs[@]}" >/dev/null || true
            fi
        done
    fi
    "$MILTER_LOAD" -q -s "$(sock_of "$name")" -c "$ENG_C" -n 2000 "${xargs_[@]}" >/dev/null || true
    SC_PID[$name]=$RM_PID
    RM_PID=
}

# row helpers: a markdown table
hdr() { printf '\n| %s |\n|%s\n' "$(sed 's/;/ | /g' <<<"$1")" "$(sed 's/[^;]*/---|/g; s/;//g' <<<"$1")"; }
row() { printf '| %s |\n' "$(sed 's/;/ | /g' <<<"$1")"; }

cat <<EOF
# rmilter benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')

- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -r); $(
    [ -n "${BENCH_IN_NETNS:-}" ] && echo "private network namespace (loopback only)" || echo "host loopback")
- rmilter: $RMILTER_BIN ($("$RMILTER_BIN" -v 2>&1), built $(date -u -r "$RMILTER_BIN" '+%Y-%m-%d %H:%M UTC'); the tree is now at git $(
    git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TOP" diff --quiet 2>/dev/null || echo '+dirty'))
- mode: $([ "$QUICK" = 1 ] && echo quick || echo full), $REPS run(s) per point, median (min-max)
- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~0.5 is other work sharing the cores)
EOF

# ------------------------------------------------------------ 1. pass-through

section_passthrough() {
    local nm_u nm_i cfg port rep r pidv c0 c1 e a d cpu
    say ""
    say "## 1. Pass-through: smtp-source -> Postfix -> smtp-sink, ${PF_S} sessions, $PF_N msgs x 2 KiB"
    if ! scenario_start pass 0; then
        say "${SC_WHY[pass]}"
        return 0
    fi
    local rm_pid=${SC_PID[pass]}
    nm_u=$(start_nullmilter "unix:$BD/null.sock") || die "nullmilter (unix) did not start"
    nm_i=$(start_nullmilter "inet:$P_NM@127.0.0.1") || die "nullmilter (inet) did not start"
    declare -A PORT=([none]=$P_PF_NONE [rm-unix]=$P_PF_RMU [rm-inet]=$P_PF_RMI [null-unix]=$P_PF_NMU [null-inet]=$P_PF_NMI)
    declare -A MPID=([none]="" [rm-unix]=$rm_pid [rm-inet]=$rm_pid [null-unix]=$nm_u [null-inet]=$nm_i)
    declare -A E A CPU BAD
    local order=(none rm-unix rm-inet null-unix null-inet)
    for rep in $(seq 1 "$REPS"); do
        for cfg in "${order[@]}"; do
            port=${PORT[$cfg]}
            smtp_run "$port" "$PF_WARM" "$PF_S" 2048 >/dev/null
            pidv=${MPID[$cfg]}
            c0=$([ -n "$pidv" ] && cpu_ticks "$pidv" || echo 0)
            read -r e a d < <(smtp_run "$port" "$PF_N" "$PF_S" 2048)
            c1=$([ -n "$pidv" ] && cpu_ticks "$pidv" || echo 0)
            E[$cfg]+="$e "
            A[$cfg]+="$a "
            [ "$d" -lt "$PF_N" ] && BAD[$cfg]+="rep$rep:$d/$PF_N "
            cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$PF_N" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
            CPU[$cfg]+="$cpu "
            note "passthrough rep $rep $cfg: e2e $e accept $a msg/s, delivered $d, milter cpu $cpu us/msg"
        done
    done
    local base_e base_a
    base_e=$(med ${E[none]}); base_a=$(med ${A[none]})
    hdr "milter;socket;e2e msg/s;ratio e2e (per pair);accept msg/s;ratio accept;milter CPU us/msg;complete"
    for cfg in "${order[@]}"; do
        local em am
        em=$(med ${E[$cfg]}); am=$(med ${A[$cfg]})
        row "$(case $cfg in none) echo "none" ;; rm-*) echo "rmilter (pass.conf)" ;; null-*) echo "nullmilter (libmilter)" ;; esac);${cfg#*-};$(fmt1 "$em") ($(range ${E[$cfg]}));**$(ratio "$base_e" "$em")** ($(pair_range "${E[none]}" "${E[$cfg]}"));$(fmt1 "$am") ($(range ${A[$cfg]}));$(ratio "$base_a" "$am");$([ "$cfg" = none ] && echo - || med ${CPU[$cfg]});${BAD[$cfg]:-yes}"
    done
    [ "${BAD[none]:-}" ] && say "INCOMPLETE runs: some messages were not delivered"

    # serial: 1 session, added latency per message
    say ""
    say "### 1b. Serial (1 session, $SER_N msgs): added ms per message"
    declare -A SE
    local sorder=(none rm-unix rm-inet null-unix)
    [ "$QUICK" = 1 ] || sorder+=(null-inet)
    for rep in $(seq 1 "$REPS"); do
        for cfg in "${sorder[@]}"; do
            local n=$SER_N
            [ "$cfg" = null-inet ] && n=50 # ~11 msg/s: two 40 ms stalls per message
            smtp_run "${PORT[$cfg]}" 20 1 2048 >/dev/null
            read -r e a d < <(smtp_run "${PORT[$cfg]}" "$n" 1 2048)
            SE[$cfg]+="$e "
            note "serial rep $rep $cfg: $e msg/s ($d/$n)"
        done
    done
    base_e=$(med ${SE[none]})
    hdr "milter;socket;msg/s;ratio (per pair);ms/msg;added ms/msg"
    for cfg in "${sorder[@]}"; do
        local sm; sm=$(med ${SE[$cfg]})
        row "$(case $cfg in none) echo none ;; rm-*) echo rmilter ;; null-*) echo nullmilter ;; esac);${cfg#*-};$(fmt1 "$sm") ($(range ${SE[$cfg]}));**$(ratio "$base_e" "$sm")** ($(pair_range "${SE[none]}" "${SE[$cfg]}"));$(awk -v x="$sm" 'BEGIN { printf "%.2f", 1000 / x }');$(awk -v x="$sm" -v b="$base_e" 'BEGIN { printf "%+.2f", 1000 / x - 1000 / b }')"
    done
    stop_pid "$nm_u" 10
    stop_pid "$nm_i" 10
}

# ------------------------------------------------------------ 2. engine

section_engine() {
    local names=(pass rules grey ratelimit dkim-rsa dkim-ed25519 local-all) idx=1 n rep res nm
    say ""
    say "## 2. Engine: milter-load -> milter directly, $ENG_C sessions, 1 msg per connection, 2 KiB body, ${ENG_SECS}s per run"
    nm=$(start_nullmilter "unix:$BD/null-eng.sock") || die "nullmilter did not start"
    "$MILTER_LOAD" -q -s "unix:$BD/null-eng.sock" -c "$ENG_C" -n 2000 >/dev/null || true
    local avail=()
    for n in "${names[@]}"; do
        if [ -n "${SC_PID[$n]:-}" ] || scenario_start "$n" "$idx"; then
            avail+=("$n")
        fi
        idx=$((idx + 1))
    done
    declare -A R CPU RATE P50 P99 LAST
    for rep in $(seq 1 "$REPS"); do
        res=$(ml_run "$nm" -s "unix:$BD/null-eng.sock" -c "$ENG_C" -T "$ENG_SECS")
        R[null]+="$(kv rate "$res") "; CPU[null]+="$(kv dcpu_us "$res") "; RATE[null]+="$(kv dcpu_rate "$res") "
        P50[null]+="$(kv p50_ms "$res") "; P99[null]+="$(kv p99_ms "$res") "; LAST[null]=$res
        note "engine rep $rep nullmilter: $(kv rate "$res") msg/s"
        for n in "${avail[@]}" "pass-k100"; do
            local s=$n args=()
            if [ "$n" = pass-k100 ]; then
                [ -n "${SC_PID[pass]:-}" ] || continue
                s=pass args=(-k 100)
            fi
            mapfile -t sargs < <(ml_args "${SC_ARGS[$s]:-}")
            res=$(ml_run "${SC_PID[$s]}" -s "$(sock_of "$s")" -c "$ENG_C" -T "$ENG_SECS" "${args[@]}" "${sargs[@]}")
            R[$n]+="$(kv rate "$res") "; CPU[$n]+="$(kv dcpu_us "$res") "; RATE[$n]+="$(kv dcpu_rate "$res") "
            P50[$n]+="$(kv p50_ms "$res") "; P99[$n]+="$(kv p99_ms "$res") "; LAST[$n]=$res
            note "engine rep $rep $n: $(kv rate "$res") msg/s, errors $(kv errors "$res")"
        done
    done
    local base
    base=$(med ${R[null]})
    hdr "milter / checks;msg/s (wall);ratio vs nullmilter (per pair);milter CPU us/msg;msgs per milter CPU-second;p50 ms;p99 ms;final replies (last run)"
    for n in null "${avail[@]}" pass-k100; do
        [ -n "${R[$n]:-}" ] || continue
        local label=$n
        case $n in
        null) label="nullmilter (libmilter), all stages, adds a header" ;;
        pass) label="rmilter pass.conf (one HELO rule)" ;;
        pass-k100) label="rmilter pass.conf, 100 msgs per connection" ;;
        rules) label="rmilter rules.conf (7 rules, every stage, spool)" ;;
        grey) label="rmilter greylisting (embedded store, known triplets)" ;;
        ratelimit) label="rmilter ratelimit (embedded store, 3 buckets)" ;;
        dkim-rsa) label="rmilter DKIM RSA-2048" ;;
        dkim-ed25519) label="rmilter DKIM Ed25519" ;;
        local-all) label="rmilter rules+greylisting+ratelimit+DKIM RSA" ;;
        esac
        local r fin
        r=$(med ${R[$n]})
        fin=$(for k in accept continue reject tempfail discard quarantine; do v=$(kv "$k" "${LAST[$n]}"); [ "${v:-0}" != 0 ] && printf '%s=%s ' "$k" "$v"; done; v=$(kv errors "${LAST[$n]}"); [ "${v:-0}" != 0 ] && printf 'FAILED=%s' "$v"; true)
        row "$label;$(fmt1 "$r") ($(range ${R[$n]}));**$(ratio "$base" "$r")** ($(pair_range "${R[null]}" "${R[$n]}"));$(med ${CPU[$n]});$(med ${RATE[$n]});$(med ${P50[$n]});$(med ${P99[$n]});$fin"
    done
    for n in "${names[@]}"; do
        [ -n "${SC_WHY[$n]:-}" ] && say "- $n: ${SC_WHY[$n]}"
    done
    stop_pid "$nm" 10
    return 0
}

# ------------------------------------------------------------ 3. peers

section_peers() {
    local rep res odk odku rsp idx=20 k
    say ""
    say "## 3. Against peers on the same work (milter-load, $ENG_C sessions, ${ENG_SECS}s per run)"
    # --- DKIM signing
    say ""
    say "### 3a. DKIM signing, RSA-2048, relaxed/simple"
    odk='' odku=''
    if ! command -v opendkim >/dev/null; then
        say "- OpenDKIM: skipped: the opendkim package is not installed and could not be (see $APT_LOG)"
    else
        odk=$(start_opendkim "$BD/keys/rsa.key" opendkim "inet:$P_ODK@127.0.0.1") ||
            { say "- OpenDKIM (inet): skipped: it did not start (see $BD/opendkim/opendkim.log)"; odk=; }
        odku=$(start_opendkim "$BD/keys/rsa.key" opendkim-unix "local:$BD/opendkim-unix/odk.sock") ||
            { say "- OpenDKIM (unix): skipped: it did not start (see $BD/opendkim-unix/opendkim.log)"; odku=; }
    fi
    if [ -z "${SC_PID[dkim-rsa]:-}" ] && [ -z "${SC_WHY[dkim-rsa]:-}" ]; then
        scenario_start dkim-rsa 5 || true
    fi
    declare -A R CPU P50 P99 LAST
    local rm_inet="inet:$((P_RM + 30 + 5))@127.0.0.1"
    # peer_run KEY PIDS ARGS... : one measured run into R CPU P50 P99 LAST
    peer_run() {
        local key=$1 plist=$2 res
        shift 2
        res=$(ml_run "$plist" -c "$ENG_C" -T "$ENG_SECS" "$@")
        R[$key]+="$(kv rate "$res") "; CPU[$key]+="$(kv dcpu_us "$res") "
        P50[$key]+="$(kv p50_ms "$res") "; P99[$key]+="$(kv p99_ms "$res") "; LAST[$key]=$res
        note "peers $key: $(kv rate "$res") msg/s"
    }
    for rep in $(seq 1 "$REPS"); do
        [ -n "$odk" ] && peer_run odk "$odk" -s "inet:$P_ODK@127.0.0.1"
        [ -n "${SC_PID[dkim-rsa]:-}" ] && peer_run rmd "${SC_PID[dkim-rsa]}" -s "$rm_inet"
        [ -n "$odku" ] && peer_run odku "$odku" -s "unix:$BD/opendkim-unix/odk.sock"
        [ -n "${SC_PID[dkim-rsa]:-}" ] && peer_run rmdu "${SC_PID[dkim-rsa]}" -s "$(sock_of dkim-rsa)"
    done
    peers_table odk "OpenDKIM 2.11 (libmilter), inet" rmd "rmilter dkim-rsa.conf, inet" odku "OpenDKIM, unix" rmdu "rmilter, unix"
    [ -n "${SC_WHY[dkim-rsa]:-}" ] && say "- rmilter DKIM: ${SC_WHY[dkim-rsa]}"
    if [ "$QUICK" = 0 ] && { [ -n "$odk" ] || [ -n "${SC_PID[dkim-rsa]:-}" ]; }; then
        peers_postfix "$P_PF_ODK" "${odk:+OpenDKIM, inet}" "$P_PF_RMD" "${SC_PID[dkim-rsa]:+rmilter DKIM, inet}"
    fi
    for k in $odk $odku; do stop_pid "$k" 10; done

    # --- rspamd
    say ""
    say "### 3b. Spam scanning with rspamd 3.4 (stock rules, 1 worker), client 127.0.0.1"
    if [ "$RSPAMD" = 0 ]; then
        say "- skipped (--quick or --no-rspamd; its first start compiles the hyperscan cache)"
        return 0
    fi
    rsp=
    if ! command -v rspamd >/dev/null; then
        say "- rspamd proxy: skipped: the rspamd package is not installed and could not be (see $APT_LOG)"
        return 0
    fi
    if ! rsp=$(start_rspamd); then
        say "- rspamd proxy: skipped: rspamd did not start (see $BD/rspamd/)"
        return 0
    fi
    scenario_start rspamd "$idx" || true
    # -a 127.0.0.1: the client is local, as it is through Postfix here, so
    # rspamd skips its network checks (a 198.18.x.y client would wait on
    # DNS lookups that cannot be answered in this namespace)
    for rep in $(seq 1 "$REPS"); do
        peer_run rsp "$rsp" -s "inet:$P_RSP_PROXY@127.0.0.1" -a 127.0.0.1
        # rmilter's own CPU plus rspamd's, which does the scan for it
        [ -n "${SC_PID[rspamd]:-}" ] && peer_run rms "${SC_PID[rspamd]} $rsp" -s "inet:$((P_RM + 30 + idx))@127.0.0.1" -a 127.0.0.1
    done
    peers_table rsp "rspamd proxy milter, self-scan, inet (CPU: all rspamd processes)" rms "rmilter + rspamd scan, inet (CPU: rmilter + rspamd)"
    [ -n "${SC_WHY[rspamd]:-}" ] && say "- rmilter with rspamd: ${SC_WHY[rspamd]}"
    if [ "$QUICK" = 0 ]; then
        peers_postfix "$P_PF_RSP" "rspamd proxy, inet" "$P_PF_RMS" "${SC_PID[rspamd]:+rmilter + rspamd, inet}"
    fi
    stop_pid "$rsp" 30
    return 0
}

# peers_table KEY LABEL ... : rows from the caller's R CPU P50 P99 LAST;
# the first KEY is the baseline of the ratios
peers_table() {
    local b k l r base_l=$2 args=("$@") i
    hdr "milter;msg/s;ratio vs the first row (per pair);milter CPU us/msg;p50 ms;p99 ms;final replies, headers added (last run)"
    b=$(med ${R[$1]:-})
    for ((i = 0; i < ${#args[@]}; i += 2)); do
        k=${args[i]} l=${args[i + 1]}
        if [ -z "${R[$k]:-}" ]; then
            row "$l;skipped;-;-;-;-;-"
            continue
        fi
        r=$(med ${R[$k]})
        row "$l;$(fmt1 "$r") ($(range ${R[$k]}));**$(ratio "$b" "$r")** ($(pair_range "${R[$1]:-}" "${R[$k]}"));$(med ${CPU[$k]});$(med ${P50[$k]});$(med ${P99[$k]});$(for x in accept continue reject tempfail; do v=$(kv "$x" "${LAST[$k]}"); [ "${v:-0}" != 0 ] && printf '%s=%s ' "$x" "$v"; done)addheader=$(kv mod_addheader "${LAST[$k]}") insheader=$(kv mod_insheader "${LAST[$k]}")"
    done
    : "$base_l"
}

# peers_postfix PORT1 LABEL1 PORT2 LABEL2 : the same two milters through
# Postfix ($PF_S sessions), against no milter, in one run (an empty LABEL
# skips that one)
peers_postfix() {
    local rep e a d l b n=$((PF_N / 2))
    declare -A PE
    local cfgs=(none)
    [ -n "$2" ] && cfgs+=(one)
    [ -n "$4" ] && cfgs+=(two)
    declare -A PP=([none]=$P_PF_NONE [one]=$1 [two]=$3)
    declare -A PL=([none]="no milter" [one]=$2 [two]=$4)
    for rep in $(seq 1 "$REPS"); do
        for l in "${cfgs[@]}"; do
            smtp_run "${PP[$l]}" "$PF_WARM" "$PF_S" 2048 >/dev/null
            read -r e a d < <(smtp_run "${PP[$l]}" "$n" "$PF_S" 2048)
            PE[$l]+="$e "
            [ "$d" -lt "$n" ] && PE[$l-bad]+="rep$rep:$d/$n "
            note "peers via postfix $l: $e msg/s"
        done
    done
    say ""
    say "Through Postfix ($PF_S sessions, $n msgs, e2e):"
    hdr "milter;e2e msg/s;ratio vs no milter (per pair);complete"
    b=$(med ${PE[none]})
    for l in "${cfgs[@]}"; do
        row "${PL[$l]};$(fmt1 "$(med ${PE[$l]})") ($(range ${PE[$l]}));**$(ratio "$b" "$(med ${PE[$l]})")** ($(pair_range "${PE[none]}" "${PE[$l]}"));${PE[$l-bad]:-yes}"
    done
}

# mem_block LABEL PID SOCK MSGS [SPOOL] : on a freshly started milter, in
# this order (so that VmHWM still means something for the first, and the
# thousand threads of the last do not blur the second): big messages, MSGS
# messages (in four parts, RssAnon after each), sessions held open
mem_block() {
    local label=$1 pid=$2 sock=$3 msgs=$4 spool=${5:-} idle held thr_idle thr_held after res r0 r1 hw0 peak hw1 left mlp
    local idle_a held_a r0a r1a part trend="" i done_n=0 fail_n=0
    hw0=$(status_kb "$pid" VmHWM)
    peak_rss_start "$pid" "$BD/peak"
    res=$("$MILTER_LOAD" -q -s "$sock" -c "$BIG_S" -n "$BIG_S" -b "$BIG" -w 120 | grep '^RESULT' || true)
    peak_rss_stop "$BD/peak"
    peak=$PEAK_KB
    hw1=$(status_kb "$pid" VmHWM)
    left=-
    [ -n "$spool" ] && left="$(find "$spool" -type f | wc -l) files left in the spool"
    row "$label;$BIG_S x $BIG message, $BIG_S sessions at once;VmHWM $hw0 kB;peak VmRSS **$peak kB** (sampled every 20 ms), VmHWM **$hw1 kB**;$BIG_S x 50 MB = $((BIG_S * 51200)) kB;msgs=$(kv msgs "$res") failed=$(kv errors "$res") $(awk -v p="$(kv p50_ms "$res")" 'BEGIN { printf "p50 %.0f ms", p }'), $left"

    "$MILTER_LOAD" -q -s "$sock" -c 20 -n "$MEM_WARM" >/dev/null || true
    r0=$(status_kb "$pid" VmRSS)
    r0a=$(status_kb "$pid" RssAnon)
    part=$((msgs / 4))
    for i in 1 2 3 4; do
        res=$("$MILTER_LOAD" -q -s "$sock" -c 20 -n "$part" | grep '^RESULT' || true)
        done_n=$((done_n + $(kv msgs "$res")))
        fail_n=$((fail_n + $(kv errors "$res")))
        trend+="${trend:+, }$(status_kb "$pid" RssAnon)"
    done
    sleep 0.5
    r1=$(status_kb "$pid" VmRSS)
    r1a=$(status_kb "$pid" RssAnon)
    row "$label;$msgs msgs, 20 sessions, after $MEM_WARM warm-up msgs;**$r0 kB** (anon $r0a);after: **$r1 kB** ($(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%+d kB, %+.1f%%", b - a, (b - a) * 100 / a }')), anon $r1a kB ($(awk -v a="$r0a" -v b="$r1a" 'BEGIN { printf "%+d kB", b - a }'));anon after each quarter: $trend kB;msgs=$done_n failed=$fail_n at $(kv rate "$res") msg/s"

    idle=$(status_kb "$pid" VmRSS)
    idle_a=$(status_kb "$pid" RssAnon)
    thr_idle=$(threads_of "$pid")
    "$MILTER_LOAD" -q -s "$sock" -c "$HOLD_N" -n "$HOLD_N" -o "$HOLD_SECS" -w 60 >"$BD/hold.out" 2>"$BD/hold.err" &
    mlp=$!
    for _ in $(seq 1 1200); do
        grep -q 'holding\|only' "$BD/hold.err" 2>/dev/null && break
        alive "$mlp" || break
        sleep 0.05
    done
    held=$(status_kb "$pid" VmRSS)
    held_a=$(status_kb "$pid" RssAnon)
    thr_held=$(threads_of "$pid")
    wait "$mlp" || true
    res=$(grep '^RESULT' "$BD/hold.out" || true)
    sleep 0.5
    after=$(status_kb "$pid" VmRSS)
    row "$label;$HOLD_N sessions held open before EOM;$idle kB (anon $idle_a), $thr_idle threads;held: **$held kB** (anon $held_a), $thr_held threads; after: $after kB;$(awk -v a="$idle" -v b="$held" -v n="$HOLD_N" 'BEGIN { printf "%+.1f kB/session", (b - a) / n }');$(grep -q holding "$BD/hold.err" && echo "all held" || echo "NOT all held: $(cat "$BD/hold.err")"), msgs=$(kv msgs "$res") failed=$(kv errors "$res")"
}

section_memory() {
    local nm conf
    say ""
    say "## 4. Memory (VmRSS from /proc/PID/status)"
    hdr "milter;load;before;during / after;for scale;run"
    conf=$(render rules 40)
    if ! "$RMILTER_BIN" -c "$conf" -t >/dev/null 2>&1 || ! start_rmilter "$conf" "$BD/rmilter-memory.log"; then
        row "rmilter rules.conf;skipped: rmilter did not start;-;-;-;-"
    else
        sleep 0.5
        mem_block "rmilter rules.conf" "$RM_PID" "$(sock_of rules)" "$MEM_MSGS" "$BD/spool-rules"
        stop_rmilter
    fi
    if [ "$QUICK" = 1 ]; then
        say "(the nullmilter reference rows are left out in --quick)"
        return 0
    fi
    nm=$(start_nullmilter "unix:$BD/null-mem.sock") || die "nullmilter did not start"
    sleep 0.5
    mem_block "nullmilter (libmilter)" "$nm" "unix:$BD/null-mem.sock" 20000
    stop_pid "$nm" 10
}

# ------------------------------------------------------------ main

t_start=$(date +%s)
if want passthrough || want peers; then
    start_sink
    start_postfix "$P_PF_NONE=" "$P_PF_RMU=unix:$BD/rm-pass.sock" "$P_PF_RMI=inet:127.0.0.1:$((P_RM + 30))" \
        "$P_PF_NMU=unix:$BD/null.sock" "$P_PF_NMI=inet:127.0.0.1:$P_NM" "$P_PF_ODK=inet:127.0.0.1:$P_ODK" \
        "$P_PF_RSP=inet:127.0.0.1:$P_RSP_PROXY" "$P_PF_RMD=inet:127.0.0.1:$((P_RM + 30 + 5))" \
        "$P_PF_RMS=inet:127.0.0.1:$((P_RM + 30 + 20))"
fi
# timed SECTION : run section_SECTION if wanted, then say how long it took
timed() {
    local t0
    want "$1" || return 0
    t0=$(date +%s)
    "section_$1"
    say ""
    say "(section $1: $(($(date +%s) - t0)) s)"
}
timed passthrough
timed engine
timed peers
# the memory section wants the machine to itself
for n in "${!SC_PID[@]}"; do stop_pid "${SC_PID[$n]}" 35; done
timed memory
say ""
say "(run took $(($(date +%s) - t_start)) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); logs and configs in $BD)"
