#!/usr/bin/env bash
# t_security_inject - no client or backend data can add a header line, an
# SMTP reply line or a log line.
#
# Why (issue 10 "Security"): the daemon puts text it did not write into
# headers it adds (X-Karma: the client's HELO, sender and a DNS list's TXT
# reason; Received-SPF: HELO, sender, host name and receiver macros), into
# SMTP replies (karma's 550 with the list's reason, SPF's 451/550 with the
# sender) and into its log. A CR or LF in any of them must never start a
# new line there: at most a folded continuation (LF + space/tab) in a
# header value, nothing in a reply or a log line.
#
# Part 1, through real Postfix and NSD: a DNS list whose TXT records hold
# CR LF + "X-Injected: ..." (and a fake "250" reply line); the tagged
# message must reach the sink with no X-Injected header, and the rejected
# one must get a one-line 550 with no fake reply line.
# Part 2, with the raw milter client (an SMTP client cannot send a CR or LF
# inside HELO or MAIL FROM, but anything that can write to the milter
# socket can): HELO, MAIL FROM, RCPT TO and the j/{client_name} macros
# hold CR/LF + "X-Injected: ..."; every header value the daemon sends back
# may contain a line feed only as a fold (followed by a space or tab) and
# no CR at all, reply texts no CR or LF, and every line of the daemon's log
# is one of its own (timestamp first). (rspamd's header instructions with
# CR/LF are t_scan_parallel's.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"

# \013 = CR, \010 = LF inside a zone file string (decimal escapes)
zone bl.test <<'EOF'
60.2.0.192      A   127.0.0.2
60.2.0.192      TXT "tagged\013\010X-Injected: dnsl-header"
62.2.0.192      A   127.0.0.2
62.2.0.192      TXT "lf only\010X-Injected: dnsl-lf\010\009folded"
EOF
zone bad.test <<'EOF'
61.2.0.192      A   127.0.0.2
61.2.0.192      TXT "rejected\013\010X-Injected: dnsl-reply\013\010250 2.0.0 fake accept"
EOF
zone dbl.test <<'EOF'
evil.example    A   127.0.1.2
evil.example    TXT "helo listed\013\010X-Injected: helo-dnsl"
EOF
zone spf.test <<'EOF'
pass        TXT "v=spf1 ip4:192.0.2.0/24 -all"
EOF
start_dns
dns_txt 60.2.0.192.bl.test | grep -q 'X-Injected' || fail "the test DNS does not serve the TXT record"

rm_config "$RM_CONF" <<EOF
dns { nameserver = 127.0.0.1:$DNS_PORT; timeout = 2s; retries = 1; }
spf { domains = pass.spf.test, nowhere.invalid; }
karma {
    timeout = 2s;
    reject_threshold = -500;
    dnslist { zone = bl.test; weight = -100; }
    dnslist { zone = bad.test; weight = -1000; }
    dnslist { zone = dbl.test; type = domain; identities = helo, from; weight = -50; }
}
EOF
start_rmilter
start_sink
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = 127.0.0.0/8, 192.0.2.0/24" start_postfix "$RM_SOCK"

# --- part 1: backend (DNS) data through Postfix
for addr in 192.0.2.60 192.0.2.62; do
    tok=$(new_token)
    send_mail --xclient "ADDR=$addr NAME=mx.client.test" --helo evil.example \
        --from a@pass.spf.test --h-Subject "$tok" --body "body $tok"
    assert_reply '^250 ' "$addr: tagged, delivered"
    f=$(sink_wait_msg "$tok")
    hdrs=$(sink_headers "$f")
    assert_not_match '^X-Injected' "$hdrs" "$addr: no injected header at the sink"
    assert_not_match $'\r' "$(sink_headers "$f" | cat)" "$addr: no bare CR"
    assert_match '^X-Karma: score=-150 ' "$hdrs" "$addr: X-Karma (bl.test and dbl.test)"
    assert_match '^Received-SPF: pass ' "$hdrs" "$addr: Received-SPF"
    # the reason is still there, on the header's own (folded) lines
    assert_match 'X-Injected: (dnsl-header|dnsl-lf)' "$(unfold <<<"$hdrs" | grep '^X-Karma:')" "$addr: the reason kept inline"
done
send_mail --xclient "ADDR=192.0.2.61 NAME=mx.client.test" --from a@pass.spf.test
assert_reply '^550 5\.7\.1 karma scored too low' "listed: rejected"
replies=$(awk '/^ -> \.$/ { dot = 1; next } /^ -> QUIT/ { dot = 0 } dot && /^(<-|<\*\*) / { print }' "$SMTP_OUT")
say "reply lines after the dot: $replies"
assert_eq 1 "$(grep -c . <<<"$replies")" "a one-line 550"
assert_not_match 'fake accept' "$(grep -v 'X-Injected' <<<"$replies" || true)" "no fake reply line"
assert_not_match '^(<-|<\*\*) +250 2\.0\.0 fake' "$(cat "$SMTP_OUT")" "no fake reply line"

# --- part 2: client data through the raw milter protocol
cat >"$T/inject.py" <<'PYEOF'
import os, re, struct, sys
sys.path.insert(0, os.environ["FT_DIR"])
import milter_client as mc

EVIL = "\r\nX-Injected: %s\r\n\r\n250 2.0.0 fake"
bad = []

class Client(mc.Client):
    def read(self):
        cmd, data = super().read()
        c = chr(cmd)
        if c in "him":  # add / insert / change header: name NUL value NUL
            body = data[4:] if c in "im" else data
            parts = body.split(b"\0")
            name, value = parts[0], parts[1] if len(parts) > 1 else b""
            if re.search(rb"[\r\n:\s\x00-\x1f\x7f]", name):
                bad.append("header name %r" % name)
            if b"\r" in value or re.search(rb"\n(?![ \t])", value):
                bad.append("%s: value with a line break that is no fold: %r" % (name.decode(), value))
            print("HEADER %s: %r" % (name.decode(), value), flush=True)
        elif c == "y":
            text = data.rstrip(b"\0")
            # multi-line replies are "code-..." lines joined by CRLF; each
            # line must start with the code
            for i, line in enumerate(text.split(b"\r\n")):
                if not re.match(rb"^[245][0-9][0-9][ -]", line) or re.search(rb"[\r\n]", line):
                    bad.append("reply line %d: %r" % (i, line))
            print("REPLY %r" % text, flush=True)
        return cmd, data

def session(addr, helo, frm, rcpt, name):
    c = Client("unix:" + os.environ["SOCK"], 10)
    c.negotiate()
    c.send(b"D", b"C" + mc.cstr("j", "mta" + EVIL % "j-macro", "{client_name}",
                                 "host" + EVIL % "client-name", "_", "x" + EVIL % "underscore"))
    c.command("connect", mc.cstr("mx" + EVIL % "connect-host") + b"4" + struct.pack(">H", 25) + mc.cstr(addr))
    c.command("helo", mc.cstr(helo))
    c.send(b"D", b"M" + mc.cstr("i", "INJ-" + name))
    c.command("mail", mc.cstr(frm))
    c.command("rcpt", mc.cstr(rcpt))
    c.command("data")
    c.command("header", mc.cstr("From", "<a@pass.spf.test>\r\nX-Injected: header-from"))
    c.command("header", mc.cstr("Subject", "inject " + name))
    c.command("eoh")
    c.command("body", b"body\r\n")
    c.command("eom")
    print("%s: eom -> %r" % (name, c.last), flush=True)
    c.send(b"Q")

# tagged (X-Karma with the client's identities, Received-SPF with the sender)
session("192.0.2.60", "evil.example" + EVIL % "helo", "<a" + EVIL % "mail-from" + "@pass.spf.test>",
        "<r@example.test" + EVIL % "rcpt" + ">", "tag")
# the sender's domain itself carries the line break
session("192.0.2.60", "helo.test", "<a@pass.spf.test\r\nX-Injected: domain>", "<r@example.test>", "domain")
# rejected: the reply text with the list's reason
session("192.0.2.61", "evil.example\nX-Injected: lf", "<a@pass.spf.test>", "<r@example.test>", "reject")
# an SPF temperror reply quotes the sender
# (NSD refuses nowhere.invalid: temperror)
session("192.0.2.60", "helo.test", "<a" + EVIL % "spf" + "@nowhere.invalid>", "<r@example.test>", "spf")
if bad:
    print("INJECTION:\n  " + "\n  ".join(bad), flush=True)
    sys.exit(3)
print("no injection", flush=True)
PYEOF
log_mark
SOCK=${RM_SOCK#unix:} FT_DIR=$FT_DIR timeout 120 "$PY" "$T/inject.py" >"$T/inject.out" 2>&1 ||
    { cat "$T/inject.out" >&2; fail "a header value or reply line from the daemon carries an injected line"; }
cat "$T/inject.out" >&2
grep -q '^HEADER X-Karma:' "$T/inject.out" || fail "no X-Karma header came back (the check did not run)"
grep -q '^REPLY .*karma scored too low' "$T/inject.out" || fail "no karma reject reply came back"
grep -q '^HEADER Received-SPF:' "$T/inject.out" || fail "no Received-SPF header came back"
grep -q "^REPLY b'451 4.7.24 Temporary error checking the SPF record" "$T/inject.out" || fail "no SPF temperror reply came back"
wait_for_log 'msg done: qid=INJ-spf;'

# every line of the daemon's log is its own: a timestamp (or the test's
# === markers) first, never text that a CR/LF pushed to a line start
forged=$(grep -nvE '^(=== |[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ rmilter\[[0-9]+\]: )' "$RM_LOG" || true)
[ -z "$forged" ] || { printf '%s\n' "$forged" | head -10 >&2; fail "log lines that the daemon did not start (injected by client or backend data)"; }
assert_file_not_match $'\r' "$RM_LOG" "no CR in the log"
alive "$RM_PID" || fail "the daemon died"
pf_wait_queue_empty
stop_rmilter
