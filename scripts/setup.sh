#!/usr/bin/env bash
# setup.sh - install dependencies, build rmilter, and run the main job.
#
# The main job replays the sample mailbox (tests/replay/sample.mbox, with its
# envelope sidecar sample.mbox.env) through the checks of rmilter.conf.sample
# and prints what each message would get: no MTA and no server needed.
# --offline leaves out the checks that need a network server (clamd,
# rspamd/spamd, DNS for SPF and DNS lists, beanstalkd), which a fresh machine
# does not run; greylisting and rate limits keep their state in memory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
build/rmilter -c rmilter.conf.sample -t
build/rmilter replay --offline -c rmilter.conf.sample tests/replay/sample.mbox
