#!/usr/bin/env bash
# t_spamd - spam scanning with a real SpamAssassin spamd (Debian's shipped
# rules, offline) through Postfix.
#
# Why: "Spam: True" (GTUBE) must be refused with 554 5.7.1 and the
# configured reject_message, ham must arrive exactly as sent, and with
# spamd_never_reject the spam must arrive instead, tagged with the
# configured spam header and, with extended_spam_headers, an
# X-Spamd-Result listing SpamAssassin's verdict and rules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"

start_spamd
gtube_body "$T/gtube.txt"
rm_config "$RM_CONF" <<EOF
spamd {
    servers = 127.0.0.1:$SPAMD_PORT;
    results_timeout = 20s;
    reject_message = "Spam, go away";
}
EOF
start_rmilter
start_sink
start_postfix "$RM_SOCK"

send_mail --h-Subject "gtube" --body "$T/gtube.txt"
assert_reply '^554 5\.7\.1 Spam, go away$' "GTUBE refused with reject_message"
wait_for_log "spamd: 127\.0\.0\.1:$SPAMD_PORT: reject \[[0-9]{3,4}\.[0-9]+ / 5\.00\]: .*GTUBE"
wait_for_log 'msg done: .*spamd=reject \[.*action=reject 554 5\.7\.1 Spam, go away'

tok=$(new_token)
printf 'Hello Bob,\n\nthe meeting moved to Thursday. %s\n\nAlice\n' "$tok" >"$T/ham.txt"
send_mail --h-Subject "meeting $tok" --body "$T/ham.txt"
assert_reply '^250 ' "ham passes"
f=$(sink_wait_msg "$tok")
assert_eq "$(cat "$T/ham.txt")" "$(sink_body "$f")" "body unchanged"
assert_not_match '^X-(Spam|Spamd)' "$(sink_headers "$f")" "no header added to ham"
wait_for_log 'msg done: .*spamd=no action \['

# spamd_never_reject: the spam header instead, with the extended headers
rm_config "$RM_CONF" <<EOF
spamd {
    servers = 127.0.0.1:$SPAMD_PORT;
    results_timeout = 20s;
    spamd_never_reject = yes;
    spam_header = "X-Spam-Flag";
    spam_header_value = "YES";
    extended_spam_headers = yes;
}
EOF
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation'
tok=$(new_token)
gtube_body "$T/gtube2.txt"
echo "$tok" >>"$T/gtube2.txt"
send_mail --h-Subject "tagged $tok" --body "$T/gtube2.txt"
assert_reply '^250 ' "never_reject lets spam through"
f=$(sink_wait_msg "$tok")
hdrs=$(sink_headers "$f")
assert_eq 1 "$(grep -c '^X-Spam-Flag: YES$' <<<"$hdrs")" "tagged once"
assert_match '^X-Spamd-Result: default: True \[[0-9]{3,4}\.[0-9]+ / 5\.00\]' "$hdrs"
assert_match '^ GTUBE$' "$hdrs" "rule names folded under X-Spamd-Result"
assert_match "^X-Spamd-Server: 127\.0\.0\.1:$SPAMD_PORT\$" "$hdrs"
wait_for_log 'msg done: .*spamd=header \(never_reject\)'
stop_rmilter
stop_bg spamd
