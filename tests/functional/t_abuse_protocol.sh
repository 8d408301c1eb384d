#!/usr/bin/env bash
# t_abuse_protocol - out-of-order, malformed, truncated and oversized milter
# packets: each one costs the abusive connection at most, never the daemon,
# and never leaks state into the next transaction.
#
# Why (issue 10 "MTA-side abuse"): anyone who can write to the milter
# socket is an MTA to us. A confused or hostile one sends commands in the
# wrong order (BODY before MAIL, EOM without DATA, RCPT before MAIL, HEADER
# after EOM, OPTNEG twice, QUIT_NC in the middle of a message), packets
# whose strings lack their NUL, bad CONNECT families and addresses, macro
# packets with odd contents, and very large but legal traffic (thousands
# of recipients, a 10 MB body). For every case, on its own connection, the
# daemon must either close that connection with a log line saying why, or
# answer and then run a normal transaction on the same connection exactly
# as if nothing had happened: the probe transaction (from slow@, to
# tagme@) must get the add_header rule's X-Rule header and be accepted -
# a recipient left over from the abuse (b@...) would make the tempfail
# rule (slow@ -> b@) fire - and the daemon's summary line must show the
# probe's envelope only. A session held open across all of it completes
# normally, the daemon never dies, and it stops cleanly (exit 0, which
# under ASan means no leak).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

{
    echo 'read_timeout = 120s;' # session A stays open across every case
    echo 'max_packet = 65536;'
    echo 'spool_memory = 64k;' # the 10 MB body goes to a spool file
    echo "tempdir = $T/spool;"
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
mkdir -p "$T/spool"
start_rmilter

# session A: mid-transaction while the abuse goes on
mclient_bg A <<EOF2
negotiate
connect held.test 4 1234 192.0.2.50
helo held.test
macro M i HELDQ
mail <held@example.org>
rcpt <tagme@example.test>
touch $T/a.ready
wait_file $T/a.go 60
header Subject "held across abuse"
eoh
body "still here\r\n"
eom
expect '^addheader X-Rule: ?matched$'
expect '^(accept|continue)$'
quit
EOF2
wait_until 20 test -f "$T/a.ready" || { cat "$T/client.A.out" >&2; fail "session A did not get going"; }

# The driver: one connection per case. A case is a list of raw packets,
# sent in order; after each, whatever the daemon answers within 0.3 s is
# read (a packet may legitimately get no answer). If the daemon closed the
# connection, the case is "closed"; otherwise the probe transaction runs
# on the same connection (after an ABORT, as an MTA would send after
# losing track) and must give the expected replies: "probe-ok".
cat >"$T/abuse.py" <<'PYEOF'
import os, select, socket, struct, sys, threading, time
sys.path.insert(0, os.environ["FT_DIR"])
from milter_client import Client, Fail, cstr, describe, STEP_FLAGS

SOCK = os.environ["SOCK"]

def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data

def conninfo(host=b"abuse.test", fam=b"4", port=25, addr=b"192.0.2.60"):
    return cstr(host) + fam + struct.pack(">H", port) + cstr(addr)

OPTNEG = pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
START = [OPTNEG, pkt(b"C", conninfo()), pkt(b"H", cstr("abuse.test"))]
TXN = [pkt(b"M", cstr("<x@example.org>")), pkt(b"R", cstr("<b@example.test>"))]
HDRS = [pkt(b"L", cstr("Subject", "abuse")), pkt(b"N")]
BODY = [pkt(b"B", b"abuse body\r\n")]
BIG = 65535 - 1  # the largest body chunk under max_packet = 65536
VG = os.environ.get("RMILTER_VALGRIND") == "1"

CASES = {
    # out of order
    "body-before-mail": START + BODY,
    "eom-without-data": START + [pkt(b"E")],
    "eom-before-helo": [OPTNEG, pkt(b"C", conninfo()), pkt(b"E")],
    "rcpt-before-mail": START + [pkt(b"R", cstr("<b@example.test>"))],
    "header-before-mail": START + HDRS,
    "data-before-rcpt": START + [pkt(b"M", cstr("<x@example.org>")), pkt(b"T")],
    "header-after-eom": START + TXN + HDRS + BODY + [pkt(b"E")] + HDRS,
    "body-after-eom": START + TXN + HDRS + BODY + [pkt(b"E")] + BODY + [pkt(b"E")],
    "duplicate-optneg": START + [OPTNEG],
    "optneg-mid-message": START + TXN + HDRS + [OPTNEG],
    "duplicate-connect": START + [pkt(b"C", conninfo(b"second.test"))],
    "helo-mid-message": START + TXN + [pkt(b"H", cstr("again.test"))],
    "mail-twice": START + TXN + [pkt(b"M", cstr("<y@example.org>"))],
    "eoh-twice": START + TXN + HDRS + [pkt(b"N")],
    "abort-first": [OPTNEG, pkt(b"A"), pkt(b"C", conninfo()), pkt(b"A")],
    "quit-nc-mid-message": START + TXN + HDRS + BODY + [pkt(b"K"), pkt(b"C", conninfo()),
                                                        pkt(b"H", cstr("abuse.test"))],
    "quit-nc-twice": START + [pkt(b"K"), pkt(b"K"), pkt(b"C", conninfo())],
    # malformed
    "optneg-short": [pkt(b"O", b"\x00\x00\x00\x06")],
    "optneg-version-1": [pkt(b"O", struct.pack(">III", 1, 0, 0))],
    "optneg-version-huge": [pkt(b"O", struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))],
    "connect-no-nul": [OPTNEG, pkt(b"C", b"abuse.test")],
    "connect-bad-family": [OPTNEG, pkt(b"C", cstr("abuse.test") + b"X" + struct.pack(">H", 25) + cstr("1.2.3.4"))],
    "connect-bad-address": [OPTNEG, pkt(b"C", conninfo(addr=b"999.1.2.3"))],
    "connect-ipv6-garbage": [OPTNEG, pkt(b"C", conninfo(fam=b"6", addr=b"IPv6:zz::1::2"))],
    "connect-truncated-port": [OPTNEG, pkt(b"C", cstr("abuse.test") + b"4\x00")],
    "connect-empty": [OPTNEG, pkt(b"C")],
    "helo-empty": [OPTNEG, pkt(b"C", conninfo()), pkt(b"H")],
    "mail-no-nul": START + [pkt(b"M", b"<x@example.org>")],
    "mail-empty": START + [pkt(b"M")],
    "mail-only-nuls": START + [pkt(b"M", b"\0\0\0\0")],
    "rcpt-empty": START + [pkt(b"M", cstr("<x@example.org>")), pkt(b"R")],
    "header-no-value": START + TXN + [pkt(b"L", b"Subject\0")],
    "header-no-nul": START + TXN + [pkt(b"L", b"Subject")],
    "header-empty-name": START + TXN + [pkt(b"L", cstr("", "value"))],
    "header-crlf-name": START + TXN + [pkt(b"L", cstr("X-A\r\nX-Injected", "1"))],
    "macro-odd": START + [pkt(b"D", b"M" + cstr("i")), pkt(b"M", cstr("<x@example.org>"))],
    "macro-unknown-stage": START + [pkt(b"D", b"Z" + cstr("i", "Q")), pkt(b"D")],
    "macro-no-nul": START + [pkt(b"D", b"Mi\0QQQ")],
    "macro-many": START + [pkt(b"D", b"M" + b"".join(cstr("m%d" % i, "v") for i in range(4000)))],
    "unknown-empty": START + [pkt(b"U")],
    "body-empty": START + TXN + HDRS + [pkt(b"B")],
    # large but legal
    "many-recipients": START + [pkt(b"M", cstr("<x@example.org>"))]
        + [pkt(b"R", cstr("<r%d@example.test>" % i)) for i in range(5000)],
    "many-headers": START + TXN + [pkt(b"L", cstr("X-H%d" % i, "v" * 200)) for i in range(3000)],
    "big-header": START + TXN + [pkt(b"L", cstr("X-Big", "v" * (65536 - 20)))],
    # 10 MB (1 MB under valgrind, where the rules' regexps take ~3 s/MB)
    "big-body": START + TXN + HDRS + [pkt(b"B", b"x" * BIG)] * (16 if VG else 160) + [pkt(b"E")],
}

# how long a connection must stay quiet before a case is taken to have
# been answered (longer under valgrind, where the daemon is ~20x slower)
QUIET = 1.0 if VG else 0.3
FINAL = ("accept", "continue", "reject", "tempfail", "discard", "replycode", "skip",
         "shutdown", "connfail")

NO_REPLY = {b"D", b"A", b"K", b"Q", b"O"}
STEP_OF = {b"C": "connect", b"H": "helo", b"M": "mail", b"R": "rcpt", b"T": "data",
           b"L": "header", b"N": "eoh", b"B": "body", b"U": "unknown", b"E": "eom"}

def expected_replies(packets, proto):
    """how many final replies the daemon owes for these packets at least
    (steps negotiated away or without a reply owe none)"""
    n = 0
    for p in packets:
        cmd = p[4:5]
        if cmd in NO_REPLY or cmd not in STEP_OF:
            continue
        no, nr = STEP_FLAGS.get(STEP_OF[cmd], (0, 0))
        if (no and proto & no) or (nr and proto & nr):
            continue
        n += 1
    return n

def drain(s, wait, busy=lambda: False, c=None, owed=0):
    """read reply packets until wait seconds pass without any (and busy()
    is false, and at least owed final replies came, waiting up to 120 s
    for those); None if the daemon closed the connection. An OPTNEG
    answer sets c.proto, so the probe knows which replies not to wait
    for."""
    got = []
    buf = b""
    last = time.monotonic()
    start = last
    while True:
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            if time.monotonic() - start < 120 and \
                    sum(g.split(" ")[0] in FINAL for g in got) < owed:
                continue
            if not busy() and time.monotonic() - last >= wait:
                return got
            continue
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        last = time.monotonic()
        buf += chunk
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            got.append(describe(buf[4], buf[5:4 + n]))
            if c is not None and buf[4:5] == b"O" and n >= 13:
                c.proto = struct.unpack(">I", buf[13:17])[0]
            buf = buf[4 + n:]

def send_all(s, data):
    """send data from a thread while the caller reads the replies (a daemon
    answering thousands of packets would otherwise block on a full socket
    while we block on ours); returns a function: still sending?"""
    state = {"done": False, "error": None}
    def w():
        try:
            s.sendall(data)
        except OSError as e:
            state["error"] = e
        state["done"] = True
    t = threading.Thread(target=w, daemon=True)
    t.start()
    return lambda: not state["done"]

def probe(c, name):
    c.last = []
    c.send(b"A")  # what an MTA sends after losing track: abort the transaction
    c.command("connect", conninfo(b"probe.test", addr=b"192.0.2.61"))
    c.command("helo", cstr("probe.test"))
    c.send(b"D", b"M" + cstr("i", "PROBE-" + name))
    c.command("mail", cstr("<slow@example.org>"))
    c.command("rcpt", cstr("<tagme@example.test>"))
    c.command("header", cstr("Subject", "probe"))
    c.command("eoh")
    c.command("body", b"probe body\r\n")
    c.command("eom")
    out = "\n".join(c.last)
    if "addheader X-Rule: matched" not in out or not (c.last[-1] in ("accept", "continue")):
        raise Fail(3, "probe after %s: eom replies %r" % (name, c.last))

def run(name, packets):
    c = Client("unix:" + SOCK, 5)
    s = c.sock
    closed = False
    s.settimeout(60)
    segment = []
    for p in packets + [None]:
        if p is not None and p != OPTNEG:
            segment.append(p)
            continue
        if segment:
            busy = send_all(s, b"".join(segment))
            # wait for the replies owed (a 10 MB body's verdict takes a
            # while under valgrind), then for quiet
            owed = expected_replies(segment, c.proto)
            segment = []
            if drain(s, QUIET, busy, c, owed) is None:
                closed = True
                break
        if p is None:
            break
        try:
            # the well-formed negotiation: parse the reply, so that the
            # probe knows which steps and replies were negotiated away
            c.negotiate()
        except (Fail, OSError):
            closed = True
            break
    if closed:
        print("%s: closed" % name, flush=True)
        return
    try:
        probe(c, name)
    except Fail as e:
        # a close during the probe counts as closed, not as a wrong answer
        if e.code == 2:
            print("%s: closed" % name, flush=True)
            return
        print("%s: FAIL %s" % (name, e), flush=True)
        sys.exit(3)
    except (BrokenPipeError, ConnectionResetError):
        print("%s: closed" % name, flush=True)
        return
    print("%s: probe-ok" % name, flush=True)
    s.close()

names = sys.argv[1:] or list(CASES)
for n in names:
    run(n, CASES[n])
PYEOF

log_mark
SOCK=${RM_SOCK#unix:} FT_DIR=$FT_DIR timeout 300 "$PY" "$T/abuse.py" >"$T/abuse.out" 2>&1 ||
    { cat "$T/abuse.out" >&2; fail "the abuse driver failed"; }
cat "$T/abuse.out" >&2
alive "$RM_PID" || fail "the daemon died"
n_cases=$(grep -c ': \(closed\|probe-ok\)$' "$T/abuse.out")
[ "$n_cases" -ge 40 ] || fail "only $n_cases cases ran"

# every closed case has a log line with the reason; every probe-ok case's
# probe transaction has a summary with exactly its envelope
n_closed=$(grep -c ': closed$' "$T/abuse.out" || true)
n_closing=$(log_lines 'conn [0-9]+: closing: ' | wc -l)
[ "$n_closing" -ge "$n_closed" ] ||
    fail "$n_closed connections closed by the daemon but only $n_closing 'closing:' log lines"
while read -r c; do
    l=$(log_lines "msg done: qid=PROBE-$c;")
    assert_match "from=<slow@example\\.org>; rcpt=<tagme@example\\.test> \\(1 total\\);.*action=accept" "$l" "$c: the probe's summary"
done < <(sed -n 's/: probe-ok$//p' "$T/abuse.out")
# the tempfail rule (slow@ -> b@) never fired for a probe
assert_eq "" "$(log_lines 'msg done: qid=PROBE-.*action=tempfail')" "no recipient leaked into a probe"

# session A finishes normally, on its unchanged connection
touch "$T/a.go"
mclient_wait A 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "session A failed after the abuse"; }
wait_for_log 'msg done: qid=HELDQ; client=held\.test\[192\.0\.2\.50\]'
expect_mt multi_rcpt.lua -D qid=AFTERABUSE
wait_for_log 'msg done: qid=AFTERABUSE; '
assert_eq "" "$(ls -A "$T/spool")" "no spool file left"
stop_rmilter
