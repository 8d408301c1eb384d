#!/usr/bin/env bash
# t_sighup_reload - SIGHUP re-reads the config: a broken file is refused and
# the old rules keep serving; a good file takes effect for new sessions.
#
# Why: a typo in rmilter.conf followed by "systemctl reload" must never take
# mail down or silently drop the rules. Through Postfix: the old reject
# rule's text keeps coming back after a broken reload (and the daemon logs
# the file:line:column of the error), then a good config that turns the
# reject into a tempfail and changes an added header's value takes effect
# without a restart (same PID).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

write_v1() {
    rm_config "$RM_CONF" <<'EOF2'
rule { reject "old rules"; helo /^evil\./; };
rule { add_header "X-Gen" "one"; envrcpt /^tagme@/; };
EOF2
}
write_v1
start_rmilter
pid=$RM_PID
start_sink
start_postfix "$RM_SOCK"

check_gen() { # check_gen REPLY-REGEX X-GEN-VALUE
    local tok
    send_mail --helo evil.example --body "evil"
    assert_reply "$1" "evil HELO"
    tok=$(new_token)
    send_mail --to tagme@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 '
    f=$(sink_wait_msg "$tok")
    assert_eq "X-Gen: $2" "$(sink_headers "$f" | grep '^X-Gen:')" "header of the current rules"
}
check_gen '^554 5\.7\.1 old rules$' one

# a broken config: the reload fails, the old generation keeps serving
write_v1
echo 'rule { reject "unterminated; helo /x/; };' >>"$RM_CONF"
echo 'bogus_directive_xyz = 1;' >>"$RM_CONF"
log_mark
rm_signal HUP
wait_for_log 'reload of .* failed; still serving generation'
# line 7 is the rule with the unterminated string (4 header lines + 2 rules)
assert_match "reload: $RM_CONF:7:15: error: unterminated string" "$(log_since_mark)" "the error names file:line:column"
check_gen '^554 5\.7\.1 old rules$' one
alive "$pid" || fail "the daemon died on a broken reload"

# a good config: new sessions get the new rules
rm_config "$RM_CONF" <<'EOF2'
rule { tempfail "new rules"; helo /^evil\./; };
rule { add_header "X-Gen" "two"; envrcpt /^tagme@/; };
EOF2
log_mark
rm_signal HUP
wait_for_log 'reloaded .*generation'
check_gen '^451 4\.7\.1 new rules$' two
assert_eq "$pid" "$RM_PID" "same process"
alive "$pid" || fail "the daemon died on a good reload"
stop_rmilter
