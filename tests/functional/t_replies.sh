#!/usr/bin/env bash
# t_replies - reply whitelisting on the embedded store and on Redis.
#
# Why: the Message-ID of mail from an authenticated sender is remembered
# (id_prefix + SHA-256 of the id, with TTL id_ttl), and a later message from
# outside whose In-Reply-To, or ANY References id (the original skipped the
# last one, the parent), names it is marked as a reply in the log and the
# summary (m->is_reply: spam scanners and verdict-driven greylisting skip
# it). Other messages are not. With a spam scanner configured and
# spamd_greylist on, greylisting does not run at DATA (it waits for the
# verdict, which is the only place a reply can be known).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"

# msg QID AUTH HEADER-LINES... : one message through milter_client; AUTH is
# the SASL login ("" for none); each header line is "Name 'value'"
msg() {
    local qid=$1 auth=$2 h
    shift 2
    {
        echo "negotiate"
        echo "connect mx.remote.example 4 4711 198.51.100.7"
        echo "helo mx.remote.example"
        if [ -n "$auth" ]; then
            echo "macro M i $qid {auth_authen} $auth"
        else
            echo "macro M i $qid"
        fi
        echo "mail <sender@example.org>"
        echo "rcpt <rcpt@example.net>"
        echo "data"
        for h in "$@"; do echo "header $h"; done
        echo "eoh"
        # shellcheck disable=SC2028 # milter_client unescapes it
        echo 'body "hello\r\n"'
        echo "eom"
        echo "expect '^(accept|continue)$'"
        echo "quit"
    } | expect_mclient
}

REPLY_ID=
flow() {
    local id="<orig-$RANDOM$RANDOM@example.org>"
    log_mark
    msg OUT1 alice "Message-ID '$id'" "Subject 'from us'"
    wait_for_log 'msg done: qid=OUT1; .*user=alice;.*replies=stored'
    msg IN1 "" "References '<root@remote.example> <mid@remote.example> $id'" "Subject 'Re: from us'"
    wait_for_log "replies: is a reply to our message $id; spam checks are skipped"
    wait_for_log 'msg done: qid=IN1; .*greylist=deferred\(spam verdict\).*replies=reply'
    msg IN2 "" "In-Reply-To '$id'"
    wait_for_log 'msg done: qid=IN2; .*replies=reply'
    msg IN3 "" "In-Reply-To '<unknown@example.org>'" "References '<other@example.org>'"
    wait_for_log 'msg done: qid=IN3; .*replies=no'
    REPLY_ID=$id
}

# the embedded store: reply_whitelist = yes
rm_config "$RM_CONF" <<'EOF'
reply_whitelist = yes;
spamd { servers = 127.0.0.1:1; spamd_greylist = yes; }
greylisting { timeout = 2s; }
EOF
start_rmilter
flow
stop_rmilter

# Redis: servers_id alone turns it on
start_redis R1
rm_config "$RM_CONF" <<EOF
redis { servers_id = 127.0.0.1:$R1; id_ttl = 1h; }
spamd { servers = 127.0.0.1:1; spamd_greylist = yes; }
greylisting { timeout = 2s; }
EOF
start_rmilter
flow
key=message_id.$(printf '%s' "$REPLY_ID" | sha256sum | cut -d' ' -f1)
assert_match '^[0-9]{13}$' "$(rcli "$R1" GET "$key")" "the id's record in Redis"
in_range "$(rcli "$R1" PTTL "$key")" 3500000 3600000 "id record TTL (ms)"
stop_rmilter
