#!/usr/bin/env bash
# t_sendmail - the daemon behind real Sendmail 8.17 (INPUT_MAIL_FILTER with
# F=T, socket local:/path), relaying to smtp-sink.
#
# Why: Sendmail speaks the milter protocol differently from Postfix (other
# macros, the queue id at MAIL, its own negotiation); the same rules must
# give the same replies: a reject rule's 554 5.7.1 text reaches the SMTP
# client, a tempfail rule's 451 4.7.1, and a clean message is delivered to
# the sink with the rule's header added and its body intact.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_sendmail "$RM_SOCK"
export SMTP_PORT=$SM_PORT

bad=$(new_token)
send_mail --helo evil.example --from "$bad@example.org" --h-Subject "$bad" --body "$bad"
assert_reply '^554 5\.7\.1 No spam from this helo$' "reject through sendmail"
wait_for_log "msg done: .*from=<$bad@example\.org>.*action=reject"

slow=$(new_token)
send_mail --from slow@example.org --to b@example.test --h-Subject "$slow" --body "$slow"
assert_reply '^451 4\.7\.1 Come back later$' "tempfail through sendmail"

tok=$(new_token)
send_mail --from "$tok@example.org" --to tagme@example.test --h-Subject "$tok" \
    --body "$(printf 'hello through sendmail\n.leading dot\n%s\n' "$tok")"
assert_reply '^250 ' "clean mail through sendmail"
f=$(sink_wait_msg "$tok")
assert_eq 1 "$(sink_headers "$f" | grep -c '^X-Rule: matched$')" "X-Rule added once"
assert_match "^hello through sendmail
\.leading dot
$tok\$" "$(sink_body "$f")" "body intact"
# Sendmail sends the queue id (macro i) at MAIL: the summary names it
wait_for_log "msg done: qid=[0-9A-Za-z]{6,}; .*from=<$tok@example\.org>.*tagme@example\.test"

assert_eq "" "$(sink_files "$bad")$(sink_files "$slow")" "rejected/tempfailed mail never reaches the sink"
stop_rmilter
