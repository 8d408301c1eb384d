#!/usr/bin/env bash
# t_mt_no_macros - an MTA that sends no macros, and a client of unknown
# address family.
#
# Why: macros are optional (an MTA may be configured with none); every code
# path that reads one must cope with its absence: no crash, no sanitizer
# report, the message accepted, rules still applied, and a summary line
# logged. The daemon must also still serve a normal session afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
expect_mt no_macros.lua
wait_for_log 'msg done: .*from=<nomacro@example\.org>'
wait_for_log 'msg done: .*from=<unspec@example\.org>'
alive "$RM_PID" || fail "the daemon died"
expect_mt multi_rcpt.lua -D qid=AFTERQ
wait_for_log 'msg done: qid=AFTERQ; '
stop_rmilter
