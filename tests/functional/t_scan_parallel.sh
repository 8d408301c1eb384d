#!/usr/bin/env bash
# t_scan_parallel - clamav and spamd talk to their backends at the same
# time (the parallel EOM phase), through Postfix, with fake scanners that
# each take 1 s to answer; then a hung and a garbage-speaking spam scanner
# beside a working clamd.
#
# Why: a message must wait for the slowest backend, not the sum. That is
# asserted on the order of events, never on durations: in the daemon's
# log both requests are sent before either reply is done, and each fake
# server (same monotonic clock) received its request before the other
# one answered. Verdicts still merge in table order (spamd's reject wins
# over clamav's virus, and clamav's finding still shows in the summary).
# A spam scanner that hangs past results_timeout or speaks garbage is a
# failure for its pool (marked dead) and, with spamd's default on_failure
# = continue, the message goes on, still virus-scanned.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"

start_fake fclamd clamd P_CLAM --delay 1
start_fake frspamd rspamd P_RSP --delay 1
scan_conf() { # SPAMD_SERVER [RESULTS_TIMEOUT [MORE CONFIG]]
    rm_config "$RM_CONF" <<EOF
log_level = debug;
${3:-}
clamav { servers = 127.0.0.1:$P_CLAM; results_timeout = 10s; }
spamd {
    servers = $1;
    results_timeout = ${2:-10s};
    maxerrors = 1;
    dead_time = 60s;
    trace_symbol = TRACE_ME;
    trace_addr = trace@example.test;
}
EOF
}
scan_conf "r:127.0.0.1:$P_RSP"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

# 1. one clean message, two slow scanners
tok=$(new_token)
log_mark
send_mail --h-Subject "parallel $tok" --body "parallel $tok"
assert_reply '^250 '
sink_wait_msg "$tok" >/dev/null
wait_for_log 'msg done: .*spamd=no action \[0\.50/15\.00\] \([0-9]+ms\), clamav=clean \([0-9]+ms\)'
ev=$(log_lines ': eom: (spamd|clamav) (connecting|sent|done|failed) ')
say "events:"$'\n'"$ev"
line_of() { grep -nE -- "$1" <<<"$ev" | head -1 | cut -d: -f1; }
for e in "spamd connecting" "clamav connecting" "spamd sent" "clamav sent" "spamd done" "clamav done"; do
    [ -n "$(line_of "eom: $e ")" ] || fail "no '$e' event in the daemon log"
done
last_sent=$(( $(line_of 'eom: spamd sent ') > $(line_of 'eom: clamav sent ') ? $(line_of 'eom: spamd sent ') : $(line_of 'eom: clamav sent ') ))
first_done=$(( $(line_of 'eom: spamd done ') < $(line_of 'eom: clamav done ') ? $(line_of 'eom: spamd done ') : $(line_of 'eom: clamav done ') ))
[ "$last_sent" -lt "$first_done" ] || fail "a backend finished before the other one had its request (events above)"
# the fakes' own clocks (CLOCK_MONOTONIC, shared): each got its request
# before the other answered
req_c=$(awk '/ request /{print $1; exit}' "$T/fclamd.log")
req_r=$(awk '/ request /{print $1; exit}' "$T/frspamd.log")
rep_c=$(awk '/ reply$/{print $1; exit}' "$T/fclamd.log")
rep_r=$(awk '/ reply$/{print $1; exit}' "$T/frspamd.log")
if [ "$req_c" -ge "$rep_r" ] || [ "$req_r" -ge "$rep_c" ]; then
    fail "the scanners were not asked at the same time (clamd request $req_c reply $rep_c, rspamd request $req_r reply $rep_r)"
fi

# 2. spam and virus in one message: spamd's reject wins (table order);
# clamav's finding is still in the summary
printf 'GTUBE and EICAR:\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n%s\n' "$EICAR" >"$T/both.txt"
log_mark
send_mail --h-Subject "both" --body "$T/both.txt"
assert_reply '^554 5\.7\.1 Fake rspamd says spam$' "the first verdict in table order"
wait_for_log 'msg done: .*spamd=reject \[20\.00/15\.00\] \([0-9]+ms\), clamav=virus\(Fake\.EICAR\) \([0-9]+ms\); action=reject 554 5\.7\.1 Fake rspamd says spam'

# a scan-limit "detection" is not a virus (clamav.c)
send_mail --h-Subject "limit" --body "FAKE-LIMIT"
assert_reply '^250 ' "a scan limit passes"
wait_for_log 'msg done: .*clamav=clean\(Heuristics\.Limits\.Exceeded\.MaxScanSize\)'

# 3. everything a reply asks of the milter: rspamd's DKIM-Signature at the
# top, its milter block (insert at the top, append, remove), the trace
# recipient, the spam header; values sanitized (no injected header)
tok=$(new_token)
send_mail --h-Subject "rich $tok" --add-header "X-Strip: me" --body "FAKE-RICH $tok"
assert_reply '^250 '
f=$(sink_wait_msg "$tok")
hdrs=$(sink_headers "$f")
assert_match '^X-Rcpt-Args: <trace@example\.test>' "$hdrs" "trace_addr added as a recipient"
assert_match '^DKIM-Signature: v=1; a=rsa-sha256; d=example\.org; s=test;$' "$hdrs"
assert_match $'^\tbh=abc=; b=def X-Injected: evil$' "$hdrs" "the signature's fold kept, the bare line break neutralised"
assert_not_match '^X-(Injected|Evil):' "$hdrs" "no injected header"
assert_not_match '^X-Strip:' "$hdrs" "rspamd's remove_headers"
assert_match '^X-Fake-Bottom: bottom X-Injected: evil2$' "$hdrs"
assert_eq 1 "$(grep -c '^X-Spam: yes$' <<<"$hdrs")" "add header"
# the signature and the inserted header sit above the message's own headers
dk=$(grep -n '^DKIM-Signature:' <<<"$hdrs" | cut -d: -f1)
top=$(grep -n '^X-Fake-Top: top$' <<<"$hdrs" | cut -d: -f1)
from=$(grep -n '^From:' <<<"$hdrs" | cut -d: -f1)
if [ -z "$dk" ] || [ -z "$top" ] || [ "$dk" -ge "$from" ] || [ "$top" -ge "$from" ]; then
    fail "DKIM-Signature ($dk) and X-Fake-Top ($top) not above From ($from)"
fi

# 4. greylisting on the verdict (spamd_greylist, the default): rspamd's
# greylist action, and add header too (kept on purpose: spamd_map.h),
# tempfail the first attempt; after the greylisting timeout the retry
# passes, the add-header message with its header
scan_conf "r:127.0.0.1:$P_RSP" 10s "greylisting { timeout = 1s; }"
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation'
send_mail --from grey@example.org --h-Subject "grey" --body "FAKE-GREY"
assert_reply '^451 4\.7\.1 ' "greylist action greylists"
tok=$(new_token)
send_mail --from addh@example.org --h-Subject "addh $tok" --body "FAKE-ADDH $tok"
assert_reply '^451 4\.7\.1 ' "add header greylists too"
wait_for_log 'msg done: .*spamd=.*action=tempfail 451 4\.7\.1'
sleep 1.2 # the greylisting timeout
send_mail --from grey@example.org --h-Subject "grey again" --body "FAKE-GREY"
assert_reply '^250 ' "greylist passed on the retry"
send_mail --from addh@example.org --h-Subject "addh $tok" --body "FAKE-ADDH $tok"
assert_reply '^250 ' "add header passed on the retry"
f=$(sink_wait_msg "addh $tok")
assert_eq 1 "$(sink_headers "$f" | grep -c '^X-Spam: yes$')" "the header after greylisting"

# 5. a hung spam scanner: a failure for its pool after results_timeout;
# on_failure = continue lets the message on, clamav still scans it
start_fake hung hang P_HUNG
scan_conf "r:127.0.0.1:$P_HUNG" 1s
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation'
tok=$(new_token)
send_mail --h-Subject "hung $tok" --body "hung $tok"
assert_reply '^250 ' "spamd on_failure = continue"
sink_wait_msg "$tok" >/dev/null
wait_for_log "upstream spamd: r:127\.0\.0\.1:$P_HUNG marked dead after 1 errors in .*: timeout"
wait_for_log "msg done: .*spamd=error\(r:127\.0\.0\.1:$P_HUNG: timeout\) -> continue \([0-9]+ms\), clamav=clean"

# 6. SpamAssassin's protocol answered with garbage: the same
start_fake garbage garbage P_GARB
scan_conf "127.0.0.1:$P_GARB" 5s
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation'
tok=$(new_token)
send_mail --h-Subject "garbage $tok" --body "garbage $tok"
assert_reply '^250 ' "spamd on_failure = continue"
sink_wait_msg "$tok" >/dev/null
wait_for_log "upstream spamd: 127\.0\.0\.1:$P_GARB marked dead after 1 errors in .*: protocol error"
wait_for_log "msg done: .*spamd=error\(127\.0\.0\.1:$P_GARB: protocol error\) -> continue"
stop_rmilter
