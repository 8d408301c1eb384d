#!/usr/bin/env bash
# update-expected.sh [RMILTER] - regenerate expected.txt and expected-diff.txt
# after a deliberate change of behaviour (a new check, a new outcome text).
# Review `git diff tests/replay/` line by line before committing: these files
# are what t_replay asserts.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/rmilter}
"$bin" replay -c tests/replay/replay.conf tests/replay/sample.mbox \
    >tests/replay/expected.txt
rc=0
"$bin" replay -c tests/replay/replay.conf -c tests/replay/replay-strict.conf \
    tests/replay/sample.mbox >tests/replay/expected-diff.txt || rc=$?
[ "$rc" = 1 ] || { echo "expected exit 1 from the comparison, got $rc" >&2; exit 1; }
git diff --stat -- tests/replay/ || true
