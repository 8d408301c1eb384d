#!/usr/bin/env bash
# t_beanstalk - copies of messages and headers in real beanstalkd tubes,
# through Postfix, compared byte for byte with what arrived at the sink.
#
# Why: a copy is only useful if it is the message. The jobs must hold
# exactly the bytes the next hop got, in the configured tube (not
# "default": the original never sent "use"), with the configured priority
# and TTR; the headers job must be the header block, or the whole message
# when In-Reply-To or References matches id_regexp (the original compiled
# the slashes into the pattern and never matched, and skipped the last
# References id); a job over max_size is not sent, and says so.
#
# The exact relation checked (bs_check_sink): the sink file, after
# smtp-sink's own envelope lines and Received line, holds Postfix's
# Received header (Postfix does not show it to smtpd_milters), then the
# whole-message job with every CRLF turned into LF (smtp-sink -d stores
# lines with LF), then one LF (smtp-sink ends the dump with an empty
# line). The headers job is the same bytes up to and including the
# empty line after the headers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/beanstalk_lib.sh"

start_beanstalkd BSH # servers: headers
start_beanstalkd BSC # copy_server: whole messages
rm_config "$RM_CONF" <<EOF
beanstalk {
    servers = 127.0.0.1:$BSH;
    copy_server = 127.0.0.1:$BSC;
    tube = rm.copies;
    priority = 4242;
    lifetime = 1h;
    id_regexp = "/^<special-/";
    send_beanstalk_headers = yes;
    send_beanstalk_copy = yes;
    copy_probability = 1.0;
    max_size = 20k;
}
EOF
start_rmilter
start_sink
start_postfix "$RM_SOCK"

# msg_file NAME HEADER... : a message (DATA part) with the given extra
# headers, a folded header, a dot-stuffed line and a long body
msg_file() {
    local name=$1 tok=$2 h
    shift 2
    {
        printf 'From: Sender <sender@example.org>\r\n'
        printf 'To: rcpt@example.test\r\n'
        printf 'Subject: %s\r\n' "$tok"
        printf 'Message-ID: <%s@example.org>\r\n' "$tok"
        for h in "$@"; do printf '%s\r\n' "$h"; done
        printf 'X-Folded: first part\r\n\tsecond part\r\n  third\r\n'
        printf '\r\n'
        printf 'body %s\r\n' "$tok"
        printf '..a line that starts with a dot\r\n'
        printf 'tab\there, trailing space \r\n'
        for h in $(seq 1 40); do printf 'line %02d %s\r\n' "$h" "$(printf '%0100d' 0)"; done
        printf '\r\n-- \r\nend\r\n'
    } >"$T/$name.eml"
}

declare -A QID FILE
send_file() { # NAME TOKEN
    send_mail --data "$T/$1.eml"
    assert_reply '^250 ' "$1 accepted"
    QID[$1]=$SMTP_QID
    FILE[$1]=$(sink_wait_msg "$2")
}

log_mark
TA=$(new_token)
msg_file plain "$TA"
send_file plain "$TA"
TB=$(new_token)
msg_file irt "$TB" "In-Reply-To: <special-$TB@example.org>"
send_file irt "$TB"
TC=$(new_token)
# the matching id is the LAST one of References (the original skipped it)
msg_file refs "$TC" "References: <a-$TC@example.org> (a comment <special-no>)" \
    " <b-$TC@example.org>  <special-$TC@example.org>"
send_file refs "$TC"
TD=$(new_token)
msg_file big "$TD" "In-Reply-To: <special-big-$TD@example.org>"
for i in $(seq 1 300); do printf 'filler %04d %s\r\n' "$i" "$(printf '%080d' 0)"; done >>"$T/big.eml"
send_file big "$TD"
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 10 eval '[ "$(log_lines "msg done: " | wc -l)" -ge 4 ]' || fail "not every message was logged"

# servers got: plain's headers, irt whole, refs whole, big's headers (its
# whole message is over max_size: the headers go instead)
assert_eq 4 "$(bs_drain "$BSH" rm.copies "$T/hdr")" "jobs at servers"
bs_check_sink "${FILE[plain]}" "$T/hdr/1.job" "${QID[plain]}" headers
bs_check_sink "${FILE[irt]}" "$T/hdr/2.job" "${QID[irt]}" whole
bs_check_sink "${FILE[refs]}" "$T/hdr/3.job" "${QID[refs]}" whole
bs_check_sink "${FILE[big]}" "$T/hdr/4.job" "${QID[big]}" headers
# copy_server got every whole message except the one over max_size
assert_eq 3 "$(bs_drain "$BSC" rm.copies "$T/copy")" "jobs at copy_server"
bs_check_sink "${FILE[plain]}" "$T/copy/1.job" "${QID[plain]}" whole
bs_check_sink "${FILE[irt]}" "$T/copy/2.job" "${QID[irt]}" whole
bs_check_sink "${FILE[refs]}" "$T/copy/3.job" "${QID[refs]}" whole

# the tube, priority and TTR of every job; nothing in "default"
for f in "$T"/hdr/*.meta "$T"/copy/*.meta; do
    assert_match '^id=[0-9]+ pri=4242 ttr=3600 tube=rm\.copies$' "$(cat "$f")" "$f"
done
assert_eq 0 "$(bs_ready "$BSH" default)" "jobs in default at servers"
assert_eq 0 "$(bs_ready "$BSC" default)" "jobs in default at copy_server"

# the log: the id_regexp matches, the size skips, the summary notes
assert_match "<special-$TB@example\.org> matches id_regexp /\^<special-/" "$(log_lines 'matches id_regexp')"
assert_match "<special-$TC@example\.org> matches id_regexp" "$(log_lines 'matches id_regexp')"
assert_match 'beanstalk: headers not sent: [0-9]+ bytes over max_size 20480' "$(log_lines 'not sent')"
assert_match 'beanstalk: copy not sent: [0-9]+ bytes over max_size 20480' "$(log_lines 'not sent')"
assert_eq 4 "$(log_lines 'checks: .*beanstalk=sent\(headers:[0-9]+ copy:' | wc -l)" "summary notes"
assert_match 'beanstalk=sent\(headers:[0-9]+ copy:too-large\)' "$(log_lines 'msg done: ')"
assert_eq "" "$(log_lines 'warning|error')" "no warnings"
stop_rmilter
