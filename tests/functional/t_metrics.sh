#!/usr/bin/env bash
# t_metrics - the Prometheus listener (metrics_socket), scraped around real
# mail through Postfix.
#
# Why: counters that drift (a message counted twice, a check never counted,
# a histogram whose count disagrees with its buckets) make dashboards lie.
# Three messages go through Postfix (one rejected by a rule, one accepted
# with a rule's header, one accepted untouched): every per-message counter
# must move by exactly three in total and by one per outcome, the sessions
# must be counted and closed, the text must be valid exposition format, a
# reload must bump the generation and a bad reload must be counted as
# failed while the old generation keeps serving. The listener answers only
# GET /metrics, also on a unix socket.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_port MPORT
rm_config "$RM_CONF" <<EOF
metrics_socket = inet:$MPORT@127.0.0.1;
$(cat "$FT_DIR/conf/rules.conf")
EOF
start_rmilter
wait_for_log "metrics: serving Prometheus metrics on inet:$MPORT@127.0.0.1"
start_sink
start_postfix "$RM_SOCK"

# http METHOD PATH : the whole HTTP response from the metrics listener
http() {
    local r
    exec 3<>"/dev/tcp/127.0.0.1/$MPORT"
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" "$2" >&3
    r=$(timeout 10 cat <&3) || true
    exec 3<&-
    printf '%s' "$r" | tr -d '\r'
}
# scrape FILE : the body of GET /metrics into FILE (status 200 required)
scrape() {
    local r
    r=$(http GET /metrics)
    assert_match '^HTTP/1.0 200 OK' "$(head -n1 <<<"$r")" "GET /metrics status"
    sed '1,/^$/d' <<<"$r" >"$1"
}
# value FILE SERIES : the value of one series (0 when absent)
value() {
    awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}
# delta SERIES : its value in after minus before
delta() { echo $(($(value "$T/after" "$1") - $(value "$T/before" "$1"))); }

scrape "$T/before"
assert_eq 1 "$(value "$T/before" 'rmilter_config_generation')" "generation at start"

bad=$(new_token)
send_mail --helo evil.example --from "$bad@example.org" --body "$bad"
assert_reply '^554 5\.7\.1 No spam from this helo$'
tagged=$(new_token)
send_mail --to tagme@example.test --body "$tagged"
assert_reply '^250 '
plain=$(new_token)
send_mail --body "$plain"
assert_reply '^250 '
sink_wait_msg "$tagged" >/dev/null
sink_wait_msg "$plain" >/dev/null
# smtpd closes its milter connection when the client quits
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 10 eval '[ "$(scrape "$T/after"; value "$T/after" rmilter_sessions_open)" = 0 ]' ||
    fail "rmilter_sessions_open did not return to 0"
scrape "$T/after"

assert_eq 1 "$(delta 'rmilter_messages_total{action="reject"}')" "one message rejected"
assert_eq 2 "$(delta 'rmilter_messages_total{action="accept"}')" "two messages accepted"
total=$(awk '$1 ~ /^rmilter_messages_total\{/ { s += $2 } END { print s }' "$T/after")
total0=$(awk '$1 ~ /^rmilter_messages_total\{/ { s += $2 } END { print s + 0 }' "$T/before")
assert_eq 3 "$((total - total0))" "messages_total moved by exactly the messages sent"
assert_eq 1 "$(delta 'rmilter_check_results_total{check="rules",result="reject"}')" "rules: one reject"
assert_eq 1 "$(delta 'rmilter_check_results_total{check="rules",result="add_header"}')" "rules: one add_header"
assert_eq 1 "$(delta 'rmilter_check_results_total{check="rules",result="nomatch"}')" "rules: one nomatch"
assert_eq 3 "$(delta 'rmilter_check_duration_seconds_count{check="rules"}')" "rules timed three times"
assert_eq 3 "$(delta 'rmilter_check_duration_seconds_bucket{check="rules",le="+Inf"}')" "+Inf bucket = count"
assert_eq 3 "$(delta 'rmilter_message_duration_seconds_count')" "three message durations"
assert_eq 3 "$(delta 'rmilter_sessions_total')" "one milter session per SMTP session"
assert_eq 0 "$(value "$T/after" 'rmilter_sessions_open')" "no session left open"

# the exposition format: HELP/TYPE comments, then "name{labels} number";
# histogram buckets never decrease
"$PY" - "$T/after" <<'EOF' || fail "invalid exposition text"
import re, sys
line_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? -?[0-9.e+]+$')
last = {}
for l in open(sys.argv[1]).read().splitlines():
    if l.startswith("# HELP ") or l.startswith("# TYPE "):
        continue
    assert line_re.match(l), l
    if "_bucket{" in l:
        key = re.sub(r',?le="[^"]*"', "", l.split(" ")[0])
        v = float(l.split(" ")[1])
        assert v >= last.get(key, 0), l
        last[key] = v
EOF

say "only GET /metrics is served"
assert_match '^HTTP/1.0 404 ' "$(http GET /other | head -n1)" "another path"
assert_match '^HTTP/1.0 405 ' "$(http POST /metrics | head -n1)" "another method"

say "reloads: the generation moves, a failed reload is counted"
log_mark
rm_signal HUP
wait_for_log "reloaded .*: generation 2"
scrape "$T/r1"
assert_eq 2 "$(value "$T/r1" 'rmilter_config_generation')" "generation after a reload"
assert_eq 1 "$(value "$T/r1" 'rmilter_config_reloads_total{result="ok"}')" "one good reload"
cp "$RM_CONF" "$T/good.conf"
echo 'rule { reject "x"; helo /(/; };' >>"$RM_CONF"
log_mark
rm_signal HUP
wait_for_log "reload of .* failed; still serving generation 2"
scrape "$T/r2"
assert_eq 2 "$(value "$T/r2" 'rmilter_config_generation')" "the old generation serves on"
assert_eq 1 "$(value "$T/r2" 'rmilter_config_reloads_total{result="failed"}')" "one failed reload"
cp "$T/good.conf" "$RM_CONF"
stop_rmilter

say "a unix metrics socket"
RM_CONF2=$T/rmilter-unix.conf
rm_config "$RM_CONF2" <<EOF
metrics_socket = unix:$T/metrics.sock;
EOF
start_rmilter "$RM_CONF2"
wait_unix "$T/metrics.sock" 10 "$RM_PID" || fail "no unix metrics socket"
body=$("$PY" - "$T/metrics.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.decode())
EOF
)
assert_match '^rmilter_config_generation 1' "$body" "metrics over the unix socket"
stop_rmilter
[ ! -e "$T/metrics.sock" ] || fail "the unix metrics socket was not removed at exit"
