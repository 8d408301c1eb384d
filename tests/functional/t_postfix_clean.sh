#!/usr/bin/env bash
# t_postfix_clean - clean mail passes the daemon byte for byte.
#
# Why: a milter that accepts must not touch the message. One Postfix has two
# listeners: one with rmilter as its milter, one with no milter at all. The
# same message (awkward bytes: dot-stuffed lines, trailing blanks, tabs,
# 8-bit text, a long line, an empty line in the body, a folded header) is
# sent through both; the two copies at the sink must have identical bodies
# and identical headers (apart from the Received: lines and smtp-sink's
# envelope lines, which name the recipients).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK" ""

msg=$T/message.eml
{
    printf 'From: Sender <sender@example.org>\r\n'
    printf 'To: rcpt@example.test\r\n'
    printf 'Subject: a clean message,\r\n\tfolded over two lines\r\n'
    printf 'Date: Sat, 21 Nov 2026 12:00:00 +0000\r\n'
    printf 'Message-ID: <clean-1@example.org>\r\n'
    printf 'MIME-Version: 1.0\r\n'
    printf 'Content-Type: text/plain; charset=utf-8\r\n'
    printf 'Content-Transfer-Encoding: 8bit\r\n'
    printf '\r\n'
    printf 'First line.\r\n'
    printf '.a line that starts with a dot\r\n'
    printf '..two dots\r\n'
    printf 'trailing blanks   \r\n'
    printf 'tab\there\r\n'
    printf '\r\n'
    printf 'x%.0s' $(seq 900)
    printf '\r\n'
    printf '8-bit: gr\xc3\xbc\xc3\x9fe, \xe2\x82\xac\r\n'
    printf 'QUARANTINE-ish words do not match: QUARANTINE ME\r\n'
    printf 'last line\r\n'
} >"$msg"

send_mail --to via-milter@example.test --data "@$msg"
assert_reply '^250 ' "through rmilter"
a=$(sink_wait_msg "<via-milter@example.test>")
SMTP_PORT=${PF_PORTS[1]} send_mail --to no-milter@example.test --data "@$msg"
assert_reply '^250 ' "without a milter"
b=$(sink_wait_msg "<no-milter@example.test>")
wait_for_log "msg done: .*via-milter@example\.test.*action=(accept|continue)"

# headers: drop smtp-sink's envelope lines and every Received: (with its
# continuation lines), which carry queue ids, times and recipients
strip_hdrs() { sink_headers "$1" | awk '/^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):/ { next }
    /^Received:/ { r = 1; next } r && /^[ \t]/ { next } { r = 0; print }'; }
assert_eq "$(strip_hdrs "$b")" "$(strip_hdrs "$a")" "headers via rmilter vs. without a milter"
cmp <(sink_body "$b") <(sink_body "$a") || {
    diff <(sink_body "$b" | od -c) <(sink_body "$a" | od -c) | head -20 >&2
    fail "body via rmilter differs from the body without a milter"
}
# and the body is the one we sent (CRLF -> LF), not just equally mangled
sed '1,/^\r$/d' "$msg" | tr -d '\r' >"$T/sent-body"
cmp -n "$(stat -c %s "$T/sent-body")" "$T/sent-body" <(sink_body "$a") ||
    fail "the body at the sink does not start with the body sent"
stop_rmilter
