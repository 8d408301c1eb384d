#!/usr/bin/env bash
# t_mt_rset - miltertest: RSET (ABORT) between transactions on one
# connection must clear the transaction.
#
# Why: the original rmilter kept recipients across RSET. Here a rule
# rejects mail to leak@; after an aborted transaction to leak@, the next
# transaction on the same connection (to y@ only) must be accepted, and its
# summary log line must list y@ alone. Header and body matches of an aborted
# message (discard, quarantine rules) must not leak into the next one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

{
    cat "$FT_DIR/conf/rules.conf"
    echo 'rule { reject "leaked rcpt"; envrcpt /^leak@/; };'
} | rm_config "$RM_CONF"
start_rmilter
expect_mt rset.lua -D qid2=RSETQ2 -D qid3=RSETQ3

wait_for_log 'msg done: qid=RSETQ2; '
l2=$(log_lines 'msg done: qid=RSETQ2; ')
assert_match 'from=<second@example\.org>; rcpt=<?y@example\.test>? \(1 total' "$l2" "2nd transaction: sender and recipients"
assert_not_match 'leak@|x2@|first@' "$l2" "nothing of the aborted transaction"
wait_for_log 'msg done: qid=RSETQ3; '
l3=$(log_lines 'msg done: qid=RSETQ3; ')
assert_match 'from=<fourth@example\.org>; rcpt=<?w@example\.test>? \(1 total' "$l3"
assert_match 'action=(accept|continue)' "$l3"
stop_rmilter
