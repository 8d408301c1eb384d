#!/usr/bin/env bash
# test.sh - the whole rmilter test suite, as CI runs it.
#
#   1. install what is missing (scripts/install-deps.sh)
#   2. a normal build and the unit tests
#   3. an ASan+UBSan build, its unit tests and the functional tests
#      (the real daemon against real Postfix, Sendmail, miltertest, ...)
#   4. a subset of the functional tests with the normal build's daemon
#      under valgrind (memcheck, full leak check): any report fails
#   5. a clang libFuzzer build, each target run for a bounded time
#   6. the generated directive reference must match docs/directives.md
#
# Environment: JOBS (parallel builds), FUZZ_BUDGET (seconds for all fuzz
# targets together, default 210, split evenly) or FUZZ_SECONDS (per
# target), VALGRIND_TESTS (the valgrind subset), SKIP_FUNCTIONAL=1,
# SKIP_VALGRIND=1, SKIP_FUZZ=1 (for quick local runs only).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_BUDGET=${FUZZ_BUDGET:-210}
# The valgrind subset: every check module and backend kind, the protocol
# abuse and injection cases, reload; ~2.5 min on 2 cores (the daemon runs
# ~20x slower under memcheck).
VALGRIND_TESTS=${VALGRIND_TESTS:-t_postfix_reject t_postfix_add_header
    t_postfix_quarantine t_mt_rset t_mt_ipv6 t_garbage t_abuse_protocol
    t_greylist_redis t_ratelimit_redis t_replies t_karma t_spf t_dkim
    t_beanstalk t_clamav t_scan_parallel t_sighup_reload t_security_inject}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh

step "layout (.clang-format)"
find src tests bench -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run --Werror

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

if [ "${SKIP_FUNCTIONAL:-0}" != 1 ] && [ "${SKIP_VALGRIND:-0}" != 1 ]; then
    step "functional tests under valgrind (a subset, build/rmilter)"
    # shellcheck disable=SC2086 # VALGRIND_TESTS is a list of names
    RMILTER_VALGRIND=1 RMILTER_BIN="$top/build/rmilter" FT_TEST_TIMEOUT=300 \
        tests/functional/run.sh $VALGRIND_TESTS
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-fuzz -j "$JOBS"
    # the budget split over the targets (at least 5 s each)
    n_fuzz=$(find build-fuzz/tests/fuzz -maxdepth 1 -type f -name 'fuzz_*' ! -name '*_replay' -perm -u+x | wc -l)
    FUZZ_SECONDS=${FUZZ_SECONDS:-$((n_fuzz > 0 && FUZZ_BUDGET / n_fuzz > 5 ? FUZZ_BUDGET / n_fuzz : 5))}
    step "fuzzing ($n_fuzz targets, ${FUZZ_SECONDS}s each)"
    tests/fuzz/run.sh build-fuzz "$FUZZ_SECONDS"
fi

step "all tests passed"
