#!/usr/bin/env bash
# t_postfix_quarantine - a `quarantine` rule on the body, through Postfix.
#
# Why: quarantine (SMFIR_QUARANTINE) must hold the message in the MTA, not
# discard it (the original rmilter implemented quarantine as a discard): the
# client sees 250, Postfix puts the message in its hold queue, and it never
# reaches the sink until a postmaster releases it. A body rule must see body
# text that arrives after the headers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

held=$(new_token)
send_mail --from "$held@example.org" --h-Subject "$held" \
    --body "$(printf 'first line\nsecond line QUARANTINE-ME\nthird line %s\n' "$held")"
assert_reply '^250 ' "a quarantined message is accepted for the client"
qid=$SMTP_QID
[ -n "$qid" ] || fail "no queue id in '$SMTP_REPLY'"
pf_wait_log "$qid: milter-hold: END-OF-MESSAGE"
wait_for_log "msg done: .*from=<$held@example\.org>.*action=quarantine"
wait_until 10 test -f "$PF_DIR/queue/hold/$qid" ||
    fail "message $qid is not in the hold queue: $(pf_queue_files hold) / $(pf_queue_files deferred)"
assert_match "^$qid!" "$(postqueue -c "$PF_DIR/etc" -p)" "postqueue lists $qid as held (!)"

ok=$(new_token)
send_mail --from "$ok@example.org" --h-Subject "$ok" --body "nothing to see $ok"
assert_reply '^250 '
sink_wait_msg "$ok" >/dev/null
pf_wait_queue_empty
assert_eq "" "$(sink_files "$held")" "the quarantined message must not reach the sink"
assert_eq "$PF_DIR/queue/hold/$qid" "$(pf_queue_files hold)" "exactly the quarantined message is held"
stop_rmilter
