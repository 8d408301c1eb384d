#!/usr/bin/env bash
# t_mt_ipv6 - clients with IPv6 addresses (CONNECT family '6').
#
# Why: a `connect` rule on the address must see the IPv6 text form, and the
# engine must accept the address both plain (miltertest, Postfix:
# "2001:db8::25") and with Sendmail's "IPv6:" prefix ("IPv6:2001:db8::25",
# sent here by milter_client.py), which must be stripped before matching
# and logging.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

{
    cat "$FT_DIR/conf/rules.conf"
    echo 'rule { reject "v6 blocked"; connect /./ /^2001:db8::/; };'
} | rm_config "$RM_CONF"
start_rmilter
expect_mt ipv6.lua
wait_for_log 'msg done: .*client=h6\.test\[2001:db8::25\]; from=<v6a@example\.org>.*action=reject'
wait_for_log 'msg done: .*client=h6\.test\[2001:db9::25\]; from=<v6b@example\.org>'

for addr in IPv6:2001:db8::25 2001:db8::25; do
    expect_mclient <<EOF2
negotiate
connect sm6.test 6 4711 $addr
helo sm6.test
mail <prefix@example.org>
rcpt <rcpt@example.test>
header Subject "ipv6 prefix"
eoh
body "hello\r\n"
eom
expect '^replycode 554 5\.7\.1 v6 blocked$'
quit
EOF2
done
wait_for_log 'msg done: .*client=sm6\.test\[2001:db8::25\]; from=<prefix@example\.org>.*action=reject'
assert_eq "" "$(log_lines 'IPv6:2001')" "the IPv6: prefix never shows up in the log"
stop_rmilter
