#!/usr/bin/env bash
# setup.sh - install dependencies, build rmilter, and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
build/rmilter -c rmilter.conf.sample -t
