# shellcheck shell=bash
# beanstalk_lib.sh - real beanstalkd instances for the beanstalk tests.
# Source it after lib.sh.
#
#   start_beanstalkd VAR [MAXJOB [PORT]]
#                          beanstalkd -l 127.0.0.1 on a free port (or
#                          PORT, e.g. to restart one) with -z MAXJOB
#                          (default 10485760: the default 65535 is too
#                          small for whole mails), no binlog; VAR gets the
#                          port, BS_PID_<port> its pid (tracked: stopped by
#                          PID at exit), output in $T/beanstalkd-<port>.log
#   stop_beanstalkd PORT   TERM it by PID, wait until the port is closed
#   bs_drain PORT TUBE DIR reserve and delete every ready job of TUBE into
#                          DIR/<n>.job (the data, byte for byte) and
#                          DIR/<n>.meta ("id=.. pri=.. ttr=.. tube=.."),
#                          n = 1, 2, ... in job id order; prints the count
#   bs_ready PORT TUBE     jobs ready in TUBE (0 if the tube does not exist)
#   bs_tubes PORT          the tubes that exist
#   bs_check_sink SINK JOB QID whole|headers [ADDED...]
#                          the job holds exactly what arrived at the sink
#                          (fails the test otherwise). The relation, byte
#                          for byte: the sink file holds smtp-sink's
#                          envelope lines (X-Client-Addr, X-Client-Proto,
#                          X-Helo-Args, X-Mail-Args, X-Rcpt-Args) and its
#                          own Received line, then Postfix's Received line
#                          for QID (Postfix does not show it to
#                          smtpd_milters), then the message, stored with
#                          LF line ends and followed by one more LF
#                          (smtp-sink -d ends the dump with an empty
#                          line). A whole job is that message with CRLF
#                          line ends; a headers job is the message up to
#                          and including the empty line after the headers.
#                          ADDED: names of headers the milter added at EOM
#                          (they reach the MTA after the copy was taken),
#                          removed from the sink's message first.
command -v beanstalkd >/dev/null || skip "beanstalkd is not installed (scripts/install-deps.sh)"

start_beanstalkd() {
    local var=$1 max=${2:-10485760} port=${3:-} pid
    [ -n "$port" ] || new_port port
    beanstalkd -l 127.0.0.1 -p "$port" -z "$max" \
        </dev/null >>"$T/beanstalkd-$port.log" 2>&1 &
    pid=$!
    track "$pid" "beanstalkd-$port"
    wait_tcp "$port" 127.0.0.1 20 "$pid" || fail "beanstalkd on $port did not start"
    printf -v "BS_PID_$port" '%s' "$pid"
    printf -v "$var" '%s' "$port"
    say "beanstalkd on 127.0.0.1:$port -z $max (pid $pid)"
}

stop_beanstalkd() {
    local v="BS_PID_$1"
    stop_pid "${!v}" 10
    wait "${!v}" 2>/dev/null || true
    wait_until 10 eval "! tcp_listening $1" || fail "beanstalkd on $1 still listens"
    say "beanstalkd on $1 stopped"
}

bs_drain() { timeout 30 "$PY" "$FT_DIR/bs_client.py" drain "$@"; }
bs_ready() { timeout 30 "$PY" "$FT_DIR/bs_client.py" ready "$@"; }
bs_tubes() { timeout 30 "$PY" "$FT_DIR/bs_client.py" tubes "$@"; }

bs_check_sink() {
    "$PY" - "$@" <<'PYEOF' || fail "job $2 is not what arrived at the sink ($1)"
import re, sys
sink, job, qid, kind = sys.argv[1:5]
added = [a.lower().encode() for a in sys.argv[5:]]
data = open(sink, "rb").read()
job = open(job, "rb").read()
pos = 0
env = re.compile(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): [^\n]*\n")
while (m := env.match(data, pos)):
    pos = m.end()
hdr = re.compile(rb"Received: [^\n]*\n([ \t][^\n]*\n)*")
m = hdr.match(data, pos)
assert m and b"(smtp-sink)" in m.group(0), "no smtp-sink Received line"
m = hdr.match(data, m.end())
assert m and b"(Postfix) with ESMTP id " + qid.encode() in m.group(0), \
    "no Postfix Received line for " + qid
msg = data[m.end():]
if added:
    head, body = msg.split(b"\n\n", 1)
    keep, skip = [], False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                keep.append(line)
            continue
        skip = line.split(b":", 1)[0].lower() in added
        if not skip:
            keep.append(line)
    msg = b"\n".join(keep) + b"\n\n" + body
# every line of the job ends with CRLF, as on the wire
assert b"\n" not in job.replace(b"\r\n", b""), "bare LF in the job"
if kind == "whole":
    want = job.replace(b"\r\n", b"\n") + b"\n"
    if msg != want:
        sys.exit("differ:\n sink %r\n job  %r" % (msg[:400], want[:400]))
else:
    cut = msg.index(b"\n\n") + 2
    if msg[:cut] != job.replace(b"\r\n", b"\n"):
        sys.exit("headers differ:\n sink %r\n job  %r" % (msg[:cut], job))
    assert job.endswith(b"\r\n\r\n") and job.count(b"\r\n\r\n") == 1, \
        "not a header block"
PYEOF
}
