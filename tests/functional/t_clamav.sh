#!/usr/bin/env bash
# t_clamav - virus scanning with a real clamd (a database written at test
# time: the EICAR test string) through Postfix, then with the in-process
# libclamav engine on the same database, switched by SIGHUP.
#
# Why: a virus must be refused with 554 5.7.1 "Infected: <name>" over both
# a unix socket and TCP (the pool alternates between the two), clean mail
# must arrive exactly as sent, the whitelist and max_size must skip the
# scan, and libclamav must load the database once per generation (a reload
# picks up a new signature) and find the same virus.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"

start_clamd
eicar_body "$T/eicar.txt"
clamd_conf() {
    rm_config "$RM_CONF" <<EOF
clamav {
    servers = $CLAMD_SOCK, 127.0.0.1:$CLAMD_PORT;
    $1
}
EOF
}
reload() {
    log_mark
    rm_signal HUP
    wait_for_log 'reloaded .*generation'
}

clamd_conf ""
start_rmilter
start_sink
start_postfix "$RM_SOCK"

# a virus, twice: round robin sends one to each member
for i in 1 2; do
    log_mark
    send_mail --h-Subject "virus $i" --body "$T/eicar.txt"
    assert_reply '^554 5\.7\.1 Infected: Test\.EICAR\.NDB\.UNOFFICIAL$' "virus $i refused"
    wait_for_log 'msg done: .*clamav=virus\(Test\.EICAR\.NDB\.UNOFFICIAL\).*action=reject 554 5\.7\.1'
done
assert_match "clamav: $CLAMD_SOCK: virus found" "$(cat "$RM_LOG")" "scanned over the unix socket"
assert_match "clamav: 127\.0\.0\.1:$CLAMD_PORT: virus found" "$(cat "$RM_LOG")" "scanned over TCP"

# clean mail arrives untouched
tok=$(new_token)
printf 'clean body %s\nsecond line\n' "$tok" >"$T/clean.txt"
log_mark
send_mail --h-Subject "clean $tok" --body "$T/clean.txt"
assert_reply '^250 '
f=$(sink_wait_msg "$tok")
assert_eq "$(cat "$T/clean.txt")" "$(sink_body "$f")" "body unchanged"
assert_file_not_match '^X-(Virus|Spam)' "$f" "no header added"
wait_for_log 'msg done: .*clamav=clean \([0-9]+ms\).*action=accept'

# the client whitelist and max_size skip the scan
clamd_conf "whitelist = 127.0.0.1;"
reload
send_mail --h-Subject "whitelisted" --body "$T/eicar.txt"
assert_reply '^250 ' "whitelisted client not scanned"
wait_for_log 'msg done: .*clamav=skipped\(whitelisted client\)'
clamd_conf "max_size = 200;"
reload
send_mail --h-Subject "big" --body "$T/eicar.txt"
assert_reply '^250 ' "message over max_size not scanned"
wait_for_log 'msg done: .*clamav=skipped\(oversized\)'

# libclamav: the database loads once, at the reload
rm_config "$RM_CONF" <<EOF
clamav { engine = libclamav; database = $CLAMD_DB; }
EOF
reload
wait_for_log 'clamav: libclamav .*: [0-9]+ signatures from .* loaded'
log_mark
send_mail --h-Subject "virus libclamav" --body "$T/eicar.txt"
assert_reply '^554 5\.7\.1 Infected: Test\.EICAR\.(NDB|HDB)(\.UNOFFICIAL)?$' "libclamav finds EICAR"
wait_for_log 'msg done: .*clamav=virus\(Test\.EICAR.*action=reject'
assert_eq 0 "$(log_lines 'signatures from' | wc -l)" "no database load per message"

# a new signature counts after the next reload only
sig=RMILTER-RELOAD-TEST-SIGNATURE
printf 'reload test %s\n' "$sig" >"$T/newsig.txt"
send_mail --h-Subject "before" --body "$T/newsig.txt"
assert_reply '^250 ' "unknown before the reload"
printf 'Test.Reload.NDB:0:*:%s\n' "$(printf '%s' "$sig" | od -An -tx1 | tr -d ' \n')" >"$CLAMD_DB/reload.ndb"
reload
wait_for_log 'clamav: libclamav .*signatures from .* loaded'
send_mail --h-Subject "after" --body "$T/newsig.txt"
assert_reply '^554 5\.7\.1 Infected: Test\.Reload\.NDB' "found after the reload"
send_mail --h-Subject "clean libclamav" --body "$T/clean.txt"
assert_reply '^250 ' "clean mail passes libclamav"
stop_rmilter
