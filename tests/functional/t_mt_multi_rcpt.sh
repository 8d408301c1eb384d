#!/usr/bin/env bash
# t_mt_multi_rcpt - miltertest: one message to three recipients.
#
# Why: recipients accumulate per transaction. The rule keyed on the middle
# recipient must fire (X-Rule added at EOM), and the daemon's one summary
# line for the message must name all three recipients, in order, with the
# queue id and client the MTA gave.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
expect_mt multi_rcpt.lua -D qid=MULTIQ1
wait_for_log 'msg done: qid=MULTIQ1; '
line=$(log_lines 'msg done: qid=MULTIQ1; ')
assert_eq 1 "$(wc -l <<<"$line")" "one summary line for the message"
assert_match 'client=multi\.test\[192\.0\.2\.10\]' "$line"
assert_match 'from=<multi@example\.org>' "$line"
assert_match 'rcpt=<?one@example\.test>?,<?tagme@example\.test>?,<?three@example\.test>? \(3 total' "$line"
stop_rmilter
