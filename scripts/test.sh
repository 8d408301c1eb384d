#!/usr/bin/env bash
# test.sh - the whole rmilter test suite, as CI runs it.
#
#   1. install what is missing (scripts/install-deps.sh)
#   2. a normal build and the unit tests
#   3. an ASan+UBSan build, its unit tests and the functional tests
#      (the real daemon against real Postfix, Sendmail, miltertest, ...)
#   4. a clang libFuzzer build, each target run for a bounded time
#   5. the generated directive reference must match docs/directives.md
#
# Environment: JOBS (parallel builds), FUZZ_SECONDS (per target, default 20),
# SKIP_FUNCTIONAL=1, SKIP_FUZZ=1 (for quick local runs only).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"

step "unit tests"
ctest --test-dir build -L unit --output-on-failure -j "$JOBS"

step "directive reference is current"
build/rmilter --reference md | diff -u docs/directives.md - ||
    { echo "docs/directives.md is stale: run build/rmilter --reference md > docs/directives.md"; exit 1; }

step "shipped configs pass rmilter -t"
for f in rmilter.conf.sample config/*.conf; do
    # (the DKIM examples name keys under /etc: made in a private overlay)
    tests/functional/harness/with-example-keys.sh "$f" build/rmilter -c "$f" -t
done

step "build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan -L unit --output-on-failure -j "$JOBS"

if [ "${SKIP_FUNCTIONAL:-0}" != 1 ]; then
    step "functional tests (ASan+UBSan daemon)"
    RMILTER_BIN="$top/build-asan/rmilter" tests/functional/run.sh
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    step "fuzzing (${FUZZ_SECONDS}s per target)"
    CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-fuzz -j "$JOBS"
    tests/fuzz/run.sh build-fuzz "$FUZZ_SECONDS"
fi

step "all tests passed"
