#!/usr/bin/env bash
# t_postfix_reject - a `reject` rule through real Postfix.
#
# Why: the rules module is the pipeline's first real verdict; a reject must
# reach the SMTP client as the documented 554 5.7.1 with the rule's text, at
# end of data, and the message must never be queued or relayed. A clean HELO
# in the same setup must pass, so the test also fails if the daemon rejects
# everything (or nothing).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

bad=$(new_token)
send_mail --helo evil.example --from "$bad@example.org" --h-Subject "$bad" --body "reject me $bad"
assert_reply '^554 5\.7\.1 No spam from this helo$' "evil HELO"
assert_file_match '^ -> \.$' "$SMTP_OUT" "the reject came after DATA (rules act at end of message)"
wait_for_log "msg done: .*from=<$bad@example\.org>.*action=reject"
pf_wait_log "milter-reject: END-OF-MESSAGE from .*5\\.7\\.1 No spam from this helo"

good=$(new_token)
send_mail --helo good.example --from "$good@example.org" --h-Subject "$good" --body "pass $good"
assert_reply '^250 ' "good HELO"
sink_wait_msg "$good" >/dev/null
wait_for_log "msg done: .*from=<$good@example\.org>.*action=(accept|continue)"

pf_wait_queue_empty
assert_eq "" "$(sink_files "$bad")" "the rejected message must not reach the sink"
stop_rmilter
