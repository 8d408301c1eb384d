#!/usr/bin/env bash
# run.sh - run the functional tests: the real rmilter daemon against real
# Postfix, Sendmail, miltertest and raw milter clients on loopback.
#
#   tests/functional/run.sh [-k] [-v] [t_name ...]
#
# With no names, every tests/functional/t_*.sh runs, in name order. Each test
# gets its own directory (daemon config and log, MTA logs and queues, the
# messages the sink received, client transcripts) under one run directory;
# a failing test's output and log tails are printed, and its directory is
# always kept. Prints PASS/FAIL/SKIP per test and a summary; exits 1 if any
# test failed.
#
# Options and environment:
#   -k, FT_KEEP=1         keep the directories of passing tests too
#   -v, FT_VERBOSE=1      print every test's output, not only failures'
#   RMILTER_BIN           the daemon (default: build-asan/rmilter)
#   FT_TMP                where run directories go (default: $TMPDIR or /tmp)
#   FT_TEST_TIMEOUT       seconds before a test is killed (default 120)
#   FT_PORT_BASE          first TCP port tests may use (default: random in
#                         20000-29750; each test gets its own block of 20)
set -euo pipefail

FT_DIR="$(cd "$(dirname "$0")" && pwd)"
TOP="$(cd "$FT_DIR/../.." && pwd)"
export RMILTER_BIN=${RMILTER_BIN:-$TOP/build-asan/rmilter}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
KEEP=${FT_KEEP:-0}
VERBOSE=${FT_VERBOSE:-0}
TIMEOUT=${FT_TEST_TIMEOUT:-120}
# a random block per run, so that two runs on one machine rarely meet (and
# port_free makes a test fail loudly rather than talk to another run's peer)
PORT_BASE=${FT_PORT_BASE:-$((20000 + (RANDOM % 40) * 250))}

while [ $# -gt 0 ]; do
    case $1 in
    -k) KEEP=1; shift ;;
    -v) VERBOSE=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "run.sh: the functional tests need root (private Postfix/Sendmail instances)" >&2
    exit 1
fi
if [ ! -x "$RMILTER_BIN" ]; then
    echo "run.sh: RMILTER_BIN=$RMILTER_BIN is not executable; build it first" >&2
    exit 1
fi

tests=()
if [ $# -eq 0 ]; then
    for f in "$FT_DIR"/t_*.sh; do tests+=("$f"); done
else
    for n in "$@"; do
        n=${n%.sh}
        n=$(basename "$n")
        [ -f "$FT_DIR/$n.sh" ] || { echo "run.sh: no test $FT_DIR/$n.sh" >&2; exit 2; }
        tests+=("$FT_DIR/$n.sh")
    done
fi

root=$(mktemp -d "${FT_TMP:-${TMPDIR:-/tmp}}/rmilter-ft.XXXXXX")
chmod 755 "$root"
echo "functional tests: ${#tests[@]} test(s), daemon $RMILTER_BIN, logs in $root, ports from $PORT_BASE"

# show FILE TITLE : the last lines of a file, indented
show() {
    [ -s "$1" ] || return 0
    printf '    ----- %s (last %d lines) -----\n' "$2" "${3:-40}"
    tail -n "${3:-40}" "$1" | sed 's/^/    | /'
}

# kill_leftovers DIR : stop by PID whatever the test recorded and left running
kill_leftovers() {
    local pid name
    [ -f "$1/pids" ] || return 0
    while read -r pid name; do
        if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
            echo "    (killing leftover $name, pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            sleep 0.5
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$1/pids"
}

pass=0 failn=0 skipn=0 failed=()
t_start=$(date +%s)
i=0
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    dir=$root/$name
    mkdir -p "$dir"
    s=$(date +%s%3N)
    rc=0
    FT_TEST_DIR=$dir FT_PORT_BASE=$((PORT_BASE + i * 20)) \
        timeout -k 10 "$TIMEOUT" bash "$t" >"$dir/test.out" 2>&1 </dev/null || rc=$?
    i=$((i + 1))
    kill_leftovers "$dir"
    el=$(($(date +%s%3N) - s))
    dur=$(printf '%d.%01ds' $((el / 1000)) $((el % 1000 / 100)))
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        printf 'PASS  %-32s %s\n' "$name" "$dur"
        [ "$VERBOSE" = 1 ] && sed 's/^/    | /' "$dir/test.out"
        [ "$KEEP" = 1 ] || rm -rf "$dir"
    elif [ "$rc" -eq 77 ]; then
        skipn=$((skipn + 1))
        printf 'SKIP  %-32s %s  (%s)\n' "$name" "$dur" "$(grep -m1 -o 'SKIP: .*' "$dir/test.out" | cut -c7-)"
    else
        failn=$((failn + 1))
        failed+=("$name")
        [ "$rc" -eq 124 ] && why="killed after ${TIMEOUT}s" || why="exit $rc"
        printf 'FAIL  %-32s %s  (%s; directory %s)\n' "$name" "$dur" "$why" "$dir"
        show "$dir/test.out" "test output" 60
        for f in "$dir"/rmilter*.log; do show "$f" "$(basename "$f")" 40; done
        show "$dir/pf/maillog" "postfix maillog" 25
        show "$dir/sm/maillog" "sendmail maillog" 25
        show "$dir/sm/sendmail.log" "sendmail stderr" 10
        show "$dir/harness.log" "harness" 10
    fi
done

total=$(($(date +%s) - t_start))
echo "== functional: $pass passed, $failn failed, $skipn skipped (${total}s)"
if [ "$failn" -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    echo "== logs kept in $root"
    exit 1
fi
[ "$KEEP" = 1 ] || [ "$skipn" -gt 0 ] || rmdir "$root" 2>/dev/null || true
exit 0
