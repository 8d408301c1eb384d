# shellcheck shell=bash
# greylist_flow.sh - the greylisting lifecycle through Postfix and swaks,
# shared by t_greylist_mem.sh (the embedded store) and t_greylist_redis.sh
# (a real redis-server). Source it after lib.sh (and redis_lib.sh).
#
# grey_flow [REDIS_PORT] runs, with timeout = 2s and expire = 4s:
#   triplet A: the first attempt is tempfailed at DATA with 451 4.7.1 and
#     the configured text, and logged with its network, addresses, key and
#     release time; a retry before timeout, after a reload (SIGHUP), is
#     tempfailed again ("too early", not "new"); after timeout it is accepted and delivered, and the next
#     message passes on the white record;
#   triplet B: first seen, then not retried until its record expired: it
#     is greylisted again as new, not passed;
#   with Redis, the records are in Redis as text with their TTLs.

# now_s : wall clock, seconds with fractions
now_s() { date +%s.%N; }
# sleep_until T : sleep until the wall clock reaches T (seconds)
sleep_until() {
    sleep "$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')"
}
# plus T SECONDS
plus() { awk -v t="$1" -v d="$2" 'BEGIN { printf "%.3f", t + d }'; }

grey_flow() {
    local rport=${1:-} tok t0 tb ka kb
    {
        [ -n "$rport" ] && echo "redis { servers_grey = 127.0.0.1:$rport; }"
        cat <<'EOF'
greylisting {
    timeout = 2s;
    expire = 4s;
    expire_white = 60s;
    greylisted_message = "Greylisted, please try again later";
}
EOF
    } | rm_config "$RM_CONF"
    start_rmilter
    start_sink
    start_postfix "$RM_SOCK"
    ka=$(grey_key grey. 127.0.0.0/24 a@sender.example alice@example.test)
    kb=$(grey_key grey. 127.0.0.0/24 b@sender.example bob@example.test)

    # A: new
    log_mark
    tok=$(new_token)
    send_mail --from a@sender.example --to alice@example.test --h-Subject "$tok" --body "$tok"
    t0=$(now_s)
    assert_reply '^451 4\.7\.1 Greylisted, please try again later$' "first attempt"
    wait_for_log "greylist: 127\.0\.0\.0/24 <a@sender\.example> -> <alice@example\.test>: new, key ${ka:0:21}\.\.\.: greylisted until 20[0-9-]+T[0-9:]+Z \(2s\)"
    wait_for_log 'msg done: .*from=<a@sender\.example>.*greylist=greylisted\(1 new, 0 early\).*action=tempfail 451 4\.7\.1'
    if [ -n "$rport" ]; then
        assert_match '^[0-9]{13}$' "$(rcli "$rport" GET "$ka")" "grey record: a time in ms, as text"
        in_range "$(rcli "$rport" PTTL "$ka")" 1 4000 "grey record TTL (ms)"
    fi

    # A: a retry before timeout, after a reload (the state survives it:
    # the new generation opens its store before the old one lets go)
    log_mark
    rm_signal HUP
    wait_for_log 'reloaded .*: generation 2 serves new connections'
    send_mail --from a@sender.example --to alice@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^451 4\.7\.1 Greylisted' "retry before timeout"
    wait_for_log '<alice@example\.test>: too early, key'

    # B: first seen now
    log_mark
    send_mail --from b@sender.example --to bob@example.test --body "b-first"
    tb=$(now_s)
    assert_reply '^451 4\.7\.1 ' "B, first attempt"
    wait_for_log '<bob@example\.test>: new, key'

    # A: after timeout it passes and is delivered
    sleep_until "$(plus "$t0" 2.3)"
    log_mark
    send_mail --from a@sender.example --to alice@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "retry after timeout"
    sink_wait_msg "$tok" >/dev/null
    wait_for_log 'greylist: passed after 2s \(1 triplet whitelisted for 60s\)'
    if [ -n "$rport" ]; then
        local kw=white.${ka#grey.}
        assert_match '^[0-9]{13}$' "$(rcli "$rport" GET "$kw")" "white record"
        in_range "$(rcli "$rport" PTTL "$kw")" 55000 60000 "white record TTL (ms)"
    fi
    log_mark
    tok=$(new_token)
    send_mail --from a@sender.example --to alice@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "A, whitelisted"
    wait_for_log 'msg done: .*greylist=pass\(whitelisted\)'

    # B: after expire its record is gone: new again, never "passed"
    sleep_until "$(plus "$tb" 4.3)"
    if [ -n "$rport" ]; then
        assert_eq 0 "$(rcli "$rport" EXISTS "$kb")" "B's grey record expired in Redis"
    fi
    log_mark
    send_mail --from b@sender.example --to bob@example.test --body "b-late"
    assert_reply '^451 4\.7\.1 ' "B after expire"
    wait_for_log '<bob@example\.test>: new'
    assert_not_match 'greylist: passed' "$(log_since_mark)" "B must not pass"
    pf_wait_queue_empty
    stop_rmilter
}
