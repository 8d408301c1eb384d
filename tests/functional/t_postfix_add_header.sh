#!/usr/bin/env bash
# t_postfix_add_header - an `add_header` rule on a recipient, through Postfix.
#
# Why: header changes at EOM (SMFIR_ADDHEADER) must arrive at the next hop
# exactly once, with the configured name and value, and the rest of the
# message must be unchanged. The rule must match any one recipient of a
# multi-recipient message, and a message without that recipient must arrive
# without the header.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

tagged=$(new_token)
send_mail --to other@example.test,tagme@example.test --h-Subject "$tagged" --body "body $tagged"
assert_reply '^250 '
f=$(sink_wait_msg "$tagged")
hdrs=$(sink_headers "$f")
assert_eq 1 "$(grep -c '^X-Rule:' <<<"$hdrs")" "exactly one X-Rule header"
assert_match '^X-Rule: matched$' "$hdrs"
assert_match "^Subject: $tagged\$" "$hdrs"
assert_match "^body $tagged\$" "$(sink_body "$f")" "body unchanged"
wait_for_log "msg done: .*other@example\.test.*tagme@example\.test.*\(2 total"

plain=$(new_token)
send_mail --to other@example.test --h-Subject "$plain" --body "body $plain"
assert_reply '^250 '
f=$(sink_wait_msg "$plain")
assert_file_not_match '^X-Rule:' "$f" "no X-Rule without tagme@"
stop_rmilter
