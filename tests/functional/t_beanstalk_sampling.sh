#!/usr/bin/env bash
# t_beanstalk_sampling - copy_probability copies that share of mail.
#
# Why: the original normalised the probability wrongly (0.5 copied about
# 0.6% of mail, 1.0 about 2%). With copy_probability = 0.25, out of 1,000
# messages the number of copies is binomial(1000, 0.25): mean 250,
# sigma 13.7; the test accepts 250 +- 4.5 sigma (189..311), so a correct
# daemon fails it about once in 150,000 runs, while the original's 0.6%
# (or 25% of 25%) lands far outside. The headers job, which is not
# sampled, must go for every one of the 1,000 messages, and the summary
# notes must account for every message (copied or not sampled).
#
# 1,000 messages through Postfix would take minutes; milter_client.py
# plays them as 1,000 transactions on one milter connection (MAIL after
# EOM starts the next one), which takes seconds. A second connection
# checks copy_probability = 0 after a reload: no copies at all.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/beanstalk_lib.sh"

N=1000
start_beanstalkd BSH
start_beanstalkd BSC
conf() { # PROBABILITY
    rm_config "$RM_CONF" <<EOF
beanstalk {
    servers = 127.0.0.1:$BSH;
    copy_server = 127.0.0.1:$BSC;
    tube = sampled;
    send_beanstalk_headers = yes;
    send_beanstalk_copy = yes;
    copy_probability = $1;
}
EOF
}
conf 0.25
start_rmilter

# script N : N transactions on one connection
script() {
    local i
    echo "negotiate"
    echo "macro C j mta.test"
    echo "connect client.test 4 4711 192.0.2.10"
    echo "helo client.test"
    for ((i = 1; i <= $1; i++)); do
        echo "macro M i Q$i"
        echo "mail <sender@example.org>"
        echo "rcpt <rcpt@example.test>"
        echo "data"
        echo "header Subject 'sample $i'"
        echo "header Message-ID '<sample-$i@example.org>'"
        echo "eoh"
        printf '%s\n' "body 'message number $i\\r\\n'"
        echo "eom"
    done
    echo "expect continue"
    echo "quit"
}

log_mark
script "$N" >"$T/client.in"
expect_mclient -t 30 <"$T/client.in"
assert_eq "$N" "$(grep -c '^eom: continue$' "$MC_OUT")" "every message continued"
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 20 eval '[ "$(log_lines "msg done: " | wc -l)" -ge $N ]' ||
    fail "not every message was logged"

headers=$(bs_ready "$BSH" sampled)
copies=$(bs_ready "$BSC" sampled)
say "headers jobs: $headers, copies: $copies of $N (expected 250 +- 61)"
assert_eq "$N" "$headers" "headers jobs (not sampled)"
if [ "$copies" -lt 189 ] || [ "$copies" -gt 311 ]; then
    fail "copies: $copies of $N is outside 189..311 for copy_probability 0.25"
fi
notsampled=$(log_lines 'beanstalk=sent\(headers:[0-9]+ copy:not-sampled\)' | wc -l)
copied=$(log_lines 'beanstalk=sent\(headers:[0-9]+ copy:[0-9]+\)' | wc -l)
assert_eq "$copies" "$copied" "summary lines with a copy"
assert_eq "$N" "$((notsampled + copied))" "summary lines"

# copy_probability = 0 (after a reload): headers only
conf 0
log_mark
rm_signal HUP
wait_for_log 'reload|generation 2' 10
script 50 | expect_mclient -t 30
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 20 eval '[ "$(log_lines "msg done: " | wc -l)" -ge 50 ]' ||
    fail "not every message was logged"
assert_eq "$((N + 50))" "$(bs_ready "$BSH" sampled)" "headers jobs after the reload"
assert_eq "$copies" "$(bs_ready "$BSC" sampled)" "no copies with copy_probability 0"
stop_rmilter
