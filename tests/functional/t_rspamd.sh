#!/usr/bin/env bash
# t_rspamd - spam scanning with a real rspamd (stock rules, offline) through
# Postfix: rspamd's GTUBE variants for reject, add header and rewrite
# subject, a test rule for soft reject and for rspamd's milter block.
#
# Why: each rspamd action must become what spamd_map.h says: reject 554
# 5.7.1 with rspamd's own message, soft reject a 4xx (never a 5xx), add
# header the configured spam header exactly once, rewrite subject rspamd's
# subject; the extended headers must come only for the listed recipient,
# replacing forged copies; rspamd's add/remove header instructions must be
# applied; clean mail must arrive exactly as sent. rspamd starts cold in
# ~10 s, so it is started once and the message count kept small.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"

RSPAMD_LOCAL_LUA=$FT_DIR/conf/rspamd.local.lua start_rspamd
rm_config "$RM_CONF" <<EOF
spamd {
    servers = r:127.0.0.1:$RSPAMD_PORT;
    results_timeout = 20s;
    extended_headers_rcpt = xh@example.test;
}
EOF
start_rmilter
start_sink
start_postfix "$RM_SOCK"

# reject, with rspamd's message
gtube_body "$T/gtube.txt" X
send_mail --h-Subject "gtube" --body "$T/gtube.txt"
assert_reply '^554 5\.7\.1 Gtube pattern$' "GTUBE rejected with rspamd's message"
wait_for_log 'msg done: .*spamd=reject \[.*action=reject 554 5\.7\.1'

# add header; extended headers for xh@, forged copies removed
gtube_body "$T/addh.txt" Y
tok=$(new_token)
send_mail --to xh@example.test --h-Subject "add header $tok" \
    --add-header "X-Spamd-Result: forged" --body "$T/addh.txt"
assert_reply '^250 '
qid=$SMTP_QID
f=$(sink_wait_msg "$tok")
hdrs=$(sink_headers "$f")
assert_eq 1 "$(grep -c '^X-Spam: yes$' <<<"$hdrs")" "exactly one spam header"
assert_eq 1 "$(grep -c '^X-Spamd-Result:' <<<"$hdrs")" "one X-Spamd-Result, the forged one gone"
assert_match '^X-Spamd-Result: default: (True|False) \[[0-9.-]+ / [0-9.]+\]' "$hdrs"
assert_not_match 'forged' "$hdrs"
assert_match "^X-Rspamd-Server: 127\.0\.0\.1:$RSPAMD_PORT\$" "$hdrs"
assert_match "^X-Rspamd-Queue-ID: $qid\$" "$hdrs"
assert_match '^X-Rspamd-Scan-Time: [0-9]+\.[0-9][0-9]$' "$hdrs"
wait_for_log 'msg done: .*spamd=add header \['

# rewrite subject (rspamd's subject; no spam header without
# spamd_spam_add_header)
gtube_body "$T/subj.txt" Z
tok=$(new_token)
send_mail --h-Subject "rewrite me $tok" --body "$T/subj.txt"
assert_reply '^250 '
f=$(sink_wait_msg "$tok")
hdrs=$(sink_headers "$f")
assert_match "^Subject: \*\*\* SPAM \*\*\* rewrite me $tok\$" "$hdrs" "rspamd's subject"
assert_eq 1 "$(grep -c '^Subject:' <<<"$hdrs")" "one Subject"
assert_not_match '^X-Spam:' "$hdrs"
assert_not_match '^X-Spamd-Result:' "$hdrs" "no extended headers for other recipients"

# soft reject: a 4xx
send_mail --h-Subject "RMTEST-SOFT" --body "plain"
assert_reply '^451 4\.7\.1 Soft reject test, try later$' "soft reject is a 4xx"
wait_for_log 'msg done: .*spamd=soft reject .*action=tempfail 451 4\.7\.1'

# rspamd's milter block: one header added, every X-Remove-Me removed
tok=$(new_token)
send_mail --h-Subject "RMTEST-MILTER $tok" --add-header "X-Remove-Me: one" \
    --add-header "X-Remove-Me: two" --body "milter block $tok"
assert_reply '^250 '
f=$(sink_wait_msg "$tok")
hdrs=$(sink_headers "$f")
assert_eq 1 "$(grep -c '^X-Rmtest-Added: added by rspamd$' <<<"$hdrs")" "rspamd's header added"
assert_not_match '^X-Remove-Me:' "$hdrs" "rspamd's remove_headers applied"

# clean mail arrives untouched
tok=$(new_token)
printf 'hello, a clean message %s\n' "$tok" >"$T/clean.txt"
send_mail --h-Subject "clean $tok" --body "$T/clean.txt"
assert_reply '^250 '
f=$(sink_wait_msg "$tok")
assert_eq "$(cat "$T/clean.txt")" "$(sink_body "$f")" "body unchanged"
assert_match "^Subject: clean $tok\$" "$(sink_headers "$f")"
assert_not_match '^X-(Spam|Rspamd|Spamd)' "$(sink_headers "$f")" "no header added"
wait_for_log 'msg done: .*spamd=no action \[.*action=accept'
stop_rmilter
stop_bg rspamd
