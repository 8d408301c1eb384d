#!/usr/bin/env bash
# t_postfix_tempfail - a `tempfail` rule with two conditions, through Postfix.
#
# Why: a tempfail must reach the client as 451 4.7.1 with the rule's text and
# leave nothing queued; and a rule's conditions must ALL match (envfrom AND
# envrcpt): the same sender to another recipient, and another sender to the
# same recipient, both pass and arrive at the sink.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

t1=$(new_token)
send_mail --from slow@example.org --to b@example.test --h-Subject "$t1" --body "$t1"
assert_reply '^451 4\.7\.1 Come back later$' "slow@ -> b@"
wait_for_log "msg done: .*from=<slow@example\.org>.*b@example\.test.*action=tempfail"

t2=$(new_token)
send_mail --from slow@example.org --to c@example.test --h-Subject "$t2" --body "$t2"
assert_reply '^250 ' "slow@ -> c@ (only envfrom matches)"
t3=$(new_token)
send_mail --from fast@example.org --to b@example.test --h-Subject "$t3" --body "$t3"
assert_reply '^250 ' "fast@ -> b@ (only envrcpt matches)"
sink_wait_msg "$t2" >/dev/null
sink_wait_msg "$t3" >/dev/null

pf_wait_queue_empty
assert_eq "" "$(sink_files "$t1")" "the tempfailed message must not reach the sink"
assert_eq "" "$(pf_queue_files deferred)" "nothing deferred"
stop_rmilter
