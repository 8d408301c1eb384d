#!/usr/bin/env bash
# t_beanstalk_spam - spam copies go to spam_server for spam only, with a
# real SpamAssassin spamd deciding, through Postfix.
#
# Why: send_beanstalk_spam is for collecting spam (traps, training). A
# ham message must not be copied; GTUBE must be copied exactly once
# whether the scanner rejects it (the pipeline stops at the reject, so
# the scanner asks for the copy itself: beanstalk_spam_copy) or only
# tags it (spamd_never_reject: the beanstalk module sends the copy after
# the scanner). The copy is the message as the MTA passed it, so for the
# tagged one it equals what arrived at the sink minus the spam header the
# milter added.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/beanstalk_lib.sh"
command -v spamd >/dev/null || skip "spamd is not installed"

GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
start_beanstalkd BSS
new_port SPAMD_PORT
mkdir -p "$T/spamd/home"
chown debian-spamd:debian-spamd "$T/spamd/home"
# offline, as research/harness/spamd.sh: local tests only, no bayes/DNS
start_bg spamd spamd --listen="127.0.0.1:$SPAMD_PORT" --allowed-ips=127.0.0.1 \
    --local --nouser-config --username=debian-spamd --groupname=debian-spamd \
    --helper-home-dir="$T/spamd/home" --syslog="$T/spamd/spamd.log" \
    --syslog-socket=file --max-children=2 --min-children=1 \
    --cf='dns_available no' --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
    --cf='use_razor2 0' --cf='use_pyzor 0' --cf='skip_rbl_checks 1'
# shellcheck disable=SC2154 # BG_PID_spamd is set by start_bg
wait_tcp "$SPAMD_PORT" 127.0.0.1 60 "$BG_PID_spamd" || fail "spamd did not start"

conf() { # NEVER_REJECT
    rm_config "$RM_CONF" <<EOF
spamd {
    servers = 127.0.0.1:$SPAMD_PORT;
    results_timeout = 30s;
    spamd_never_reject = $1;
}
beanstalk {
    spam_server = 127.0.0.1:$BSS;
    send_beanstalk_spam = yes;
    tube = spam;
}
EOF
}
conf no
start_rmilter
start_sink
start_postfix "$RM_SOCK"

# ham: delivered, not copied
log_mark
HAM=$(new_token)
send_mail --h-Subject "$HAM" --body "Hello, this is an ordinary note. $HAM"
assert_reply '^250 '
sink_wait_msg "$HAM" >/dev/null
wait_for_log "msg done: qid=$SMTP_QID;.*beanstalk=none" 30
assert_eq 0 "$(bs_ready "$BSS" spam)" "ham is not copied"

# GTUBE, rejected: one copy, asked for by the scanner
log_mark
REJ=$(new_token)
send_mail --h-Subject "$REJ" --body "$GTUBE $REJ"
assert_reply '^554 5\.7\.1 '
wait_for_log "beanstalk: on the scanner's verdict: spam:[0-9]+" 30
wait_for_log "msg done: .*action=reject" 10
assert_eq 1 "$(bs_drain "$BSS" spam "$T/rej")" "one copy of the rejected spam"
assert_file_match "^Subject: $REJ"$'\r'"\$" "$T/rej/1.job"
assert_file_match "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL.*$REJ" "$T/rej/1.job"
assert_match '^id=[0-9]+ pri=1025 ttr=172800 tube=spam$' "$(cat "$T/rej/1.meta")"
[ -z "$(sink_files "$REJ")" ] || fail "the rejected message reached the sink"

# GTUBE, only tagged: one copy, sent by the beanstalk module; it is the
# message that arrived at the sink, without the spam header
conf yes
log_mark
rm_signal HUP
wait_for_log 'reload|generation 2' 10
TAG=$(new_token)
send_mail --h-Subject "$TAG" --body "$GTUBE $TAG"
assert_reply '^250 '
f=$(sink_wait_msg "$TAG")
assert_match '^X-Spam: yes$' "$(sink_headers "$f")" "tagged as spam"
wait_for_log "msg done: qid=$SMTP_QID;.*beanstalk=sent\(spam:[0-9]+\)" 30
assert_eq 1 "$(bs_drain "$BSS" spam "$T/tag")" "one copy of the tagged spam"
bs_check_sink "$f" "$T/tag/1.job" "$SMTP_QID" whole X-Spam

# ham again after spam: still no copy
HAM2=$(new_token)
send_mail --h-Subject "$HAM2" --body "Another ordinary note. $HAM2"
assert_reply '^250 '
sink_wait_msg "$HAM2" >/dev/null
wait_for_log "msg done: qid=$SMTP_QID;.*beanstalk=none" 30
assert_eq 0 "$(bs_ready "$BSS" spam)" "ham after spam is not copied"
stop_rmilter
