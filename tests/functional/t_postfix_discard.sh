#!/usr/bin/env bash
# t_postfix_discard - a `discard` rule on a header, through Postfix.
#
# Why: discard means the client is told 250 (it must not retry) while the
# message silently disappears: Postfix logs milter-discard and the sink never
# sees it. A control message sent afterwards must arrive, so "nothing at the
# sink" cannot come from a broken relay.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

gone=$(new_token)
send_mail --from "$gone@example.org" --header "X-Test-Action: discard" --h-Subject "$gone" --body "$gone"
assert_reply '^250 ' "a discarded message is accepted for the client"
[ -n "$SMTP_QID" ] || fail "no queue id in '$SMTP_REPLY'"
pf_wait_log "$SMTP_QID: milter-discard: END-OF-MESSAGE"
wait_for_log "msg done: .*from=<$gone@example\.org>.*action=discard"

# the header value must match the rule exactly: "discarded" is not "discard"
kept=$(new_token)
send_mail --from "$kept@example.org" --header "X-Test-Action: discarded" --h-Subject "$kept" --body "$kept"
assert_reply '^250 '
f=$(sink_wait_msg "$kept")
assert_file_match '^X-Test-Action: discarded' "$f"

pf_wait_queue_empty
assert_eq "" "$(sink_files "$gone")" "the discarded message must not reach the sink"
stop_rmilter
