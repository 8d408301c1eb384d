#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS - run every libFuzzer target built in BUILD_DIR
# (cmake -DFUZZ=ON, CC=clang) for SECONDS each.
#
# Each target fuzz_<name> starts from a copy of tests/fuzz/corpus/<name>/
# (plus, for cfg, the shipped configs) in a temporary directory, so a run
# never writes into the repository. Uses tests/fuzz/<name>.dict when it
# exists. Exits non-zero if any target finds a crash, a leak or a timeout;
# the failing input is copied to tests/fuzz/ (crash-*, ignored by git) and
# shown, so it can become a unit test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS}
secs=${2:?usage: run.sh BUILD_DIR SECONDS}
bindir="$build/tests/fuzz"
work=$(mktemp -d "${TMPDIR:-/tmp}/rmilter-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail=0
found=0

for bin in "$bindir"/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] || continue
    case "$bin" in *_replay) continue ;; esac
    name=$(basename "$bin"); name=${name#fuzz_}
    found=$((found + 1))
    corpus="$work/$name/corpus"
    mkdir -p "$corpus" "$work/$name/artifacts"
    if [ -d "$here/corpus/$name" ]; then
        cp -R "$here/corpus/$name/." "$corpus/"
    fi
    if [ "$name" = cfg ]; then
        for f in "$top"/rmilter.conf.sample "$top"/config/*.conf; do
            [ -f "$f" ] && cp "$f" "$corpus/shipped-$(basename "$f")"
        done
    fi
    dict=()
    [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
    echo "=== fuzz_$name: ${secs}s, $(find "$corpus" -type f | wc -l) seeds"
    if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -max_len=16384 -print_final_stats=1 "${dict[@]}" \
            -artifact_prefix="$work/$name/artifacts/" "$corpus" \
            >"$work/$name/log" 2>&1; then
        fail=1
        echo "fuzz_$name FAILED:"
        tail -n 60 "$work/$name/log"
        for a in "$work/$name/artifacts"/*; do
            [ -f "$a" ] || continue
            cp "$a" "$here/"
            echo "--- $(basename "$a") (copied to tests/fuzz/):"
            head -c 2000 "$a" | cat -v
            echo
        done
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' \
            "$work/$name/log" || true
    fi
done

if [ "$found" -eq 0 ]; then
    echo "run.sh: no fuzz targets in $bindir (configure with CC=clang -DFUZZ=ON)" >&2
    exit 1
fi
exit "$fail"
