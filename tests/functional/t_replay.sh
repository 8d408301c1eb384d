#!/usr/bin/env bash
# t_replay - `rmilter replay`: stored mail through the real pipeline.
#
# Why: replay is how a postmaster asks "what would this configuration do to
# this mail" (and "what would change"), so its report must be exactly what
# the pipeline decides, on the clock the mail carried. The sample mailbox
# (tests/replay/sample.mbox + sample.mbox.env) holds one message per kind of
# decision; expected.txt was generated once and reviewed line by line:
#   1 greylisted on first sight (09:00:02, until 09:05:02)
#   2 rejected by a rule (HELO localhost from a remote client)
#   3 accepted with a header (Precedence: bulk)
#   4 an authenticated sender (Received: "Authenticated sender:") skips
#     greylisting
#   5 the retry of 1 twelve minutes later passes ("delayed 718s"): the
#     simulated clock, not the wall clock, decides
#   6 a bounce from an IPv6 client, greylisted
#   7 envelope from the sidecar (three recipients), quarantined by the body
#   8 discarded by a header rule
#   9 two recipients from a Message-ID sidecar stanza, one refused by the
#     per-recipient-and-client rate limit (1/2 accepted)
# Also: the two-config comparison (expected-diff.txt, exit 1), JSON lines,
# a Maildir with --envelope giving the same decisions, the README's main job,
# and errors (exit 2, file:line).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

R=$FT_TOP/tests/replay
RLOG=$T/rmilter-replay.log # sanitizer reports here fail the test (lib.sh)
cd "$FT_TOP"

# replay ARGS... : run replay; stdout in $T/out, exit status in REPLAY_RC
replay() {
    REPLAY_RC=0
    echo "=== replay $*" >>"$RLOG"
    timeout 60 "$RMILTER_BIN" replay "$@" >"$T/out" 2>>"$RLOG" || REPLAY_RC=$?
}

say "one configuration: the report matches the reviewed expected.txt"
replay -c tests/replay/replay.conf tests/replay/sample.mbox
assert_eq 0 "$REPLAY_RC" "exit status of a replay"
diff -u "$R/expected.txt" "$T/out" >&2 || fail "report differs from tests/replay/expected.txt (tests/replay/update-expected.sh regenerates it after a deliberate change)"

say "two configurations: only the decisions that differ are marked"
replay -c tests/replay/replay.conf -c tests/replay/replay-strict.conf tests/replay/sample.mbox
assert_eq 1 "$REPLAY_RC" "exit status when two configs disagree"
diff -u "$R/expected-diff.txt" "$T/out" >&2 || fail "comparison differs from tests/replay/expected-diff.txt"
replay -c tests/replay/replay.conf -c tests/replay/replay.conf tests/replay/sample.mbox
assert_eq 0 "$REPLAY_RC" "a config compared with itself agrees (each run starts from empty state)"
assert_match '^# 0 of 9 messages decided differently; 0 more' "$(tail -n1 "$T/out")"

say "JSON lines carry the same decisions"
replay --json -c tests/replay/replay.conf tests/replay/sample.mbox
assert_eq 0 "$REPLAY_RC" "exit status with --json"
"$PY" - "$T/out" "$R/expected.txt" <<'EOF' || fail "JSON report does not match the table"
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["n"] for r in rows] == list(range(1, 10)), "nine objects, in order"
table = [l.split() for l in open(sys.argv[2]) if re.match(r"^\s+\d+\s+20", l)]
for r, t in zip(rows, table):
    res = r["result"]
    act = res["action"] + ("" if res["stage"] == "eom" else "@" + res["stage"])
    assert act == t[6], (r["n"], act, t[6])
    acc = sum(1 for x in res["rcpts"] if x["accepted"])
    assert "%d/%d" % (acc, len(res["rcpts"])) == t[5], r["n"]
    assert all(isinstance(c["usec"], int) for c in res["checks"])
assert rows[4]["time"] == "2026-01-05T09:12:00Z" and rows[4]["time_from"] == "received"
assert rows[6]["envelope_from"] == "sidecar" and rows[6]["time_from"] == "sidecar"
assert rows[3]["auth"] == "carol"
assert rows[5]["client"]["ip"] == "2001:db8::25" and rows[5]["from"] == "<>"
assert rows[2]["result"]["changes"] == [{"op": "add_header", "name": "X-Bulk", "value": "yes", "index": 0}]
assert rows[6]["result"]["quarantine"] == "offer held for review"
EOF

say "a Maildir with --envelope decides as the mbox does"
md=$T/Maildir
mkdir -p "$md/cur" "$md/new" "$md/tmp"
# split the mbox (undoing its >From quoting) into one file per message
"$PY" - "$R/sample.mbox" "$md/cur" <<'EOF'
import re, sys
msgs, cur = [], None
prev_blank = True
for line in open(sys.argv[1]).read().split("\n"):
    if prev_blank and line.startswith("From "):
        cur = []; msgs.append(cur)
    elif cur is not None:
        cur.append(re.sub(r"^>(>*From )", r"\1", line))
    prev_blank = line == ""
for i, m in enumerate(msgs, 1):
    while m and m[-1] == "":
        m.pop()
    open("%s/%03d.replay:2,S" % (sys.argv[2], i), "w").write("\n".join(m) + "\n")
EOF
replay -c tests/replay/replay.conf --envelope tests/replay/sample.mbox.env "$md"
assert_eq 0 "$REPLAY_RC" "exit status for a Maildir"
# the same report but for the source column (and so the column widths)
strip() { sed -E 's/^( +[0-9]+  \S+  )\S+/\1SOURCE/' "$1" | tr -s ' '; }
diff -u <(strip "$R/expected.txt") <(strip "$T/out") >&2 || fail "the Maildir with --envelope decides differently from the mbox"

say "the README's main job runs on the shipped sample"
replay --offline -c rmilter.conf.sample tests/replay/sample.mbox
assert_eq 0 "$REPLAY_RC" "exit status of the main job"
assert_eq 9 "$(grep -cE '^ +[0-9]+  2026-' "$T/out")" "nine messages in the main job's report"
assert_match 'HELO localhost from a remote client' "$(cat "$T/out")"
assert_match 'X-Rmilter-Bulk: yes' "$(cat "$T/out")"
assert_match '^# offline: ' "$(cat "$T/out")"

say "errors: exit 2 and a precise message"
replay -c tests/replay/replay.conf "$T/no-such-mailbox"
assert_eq 2 "$REPLAY_RC" "a missing mailbox"
assert_match "no-such-mailbox: No such file or directory" "$(tail -n1 "$RLOG")"
printf 'client 192.0.2.1\nfrom\n' >"$T/bad.env"
replay -c tests/replay/replay.conf --envelope "$T/bad.env" tests/replay/sample.mbox
assert_eq 2 "$REPLAY_RC" "a bad sidecar"
assert_match "bad.env:2: from needs an address" "$(tail -n1 "$RLOG")"
printf 'rule { reject "x"; helo /(/; }\n' >"$T/bad.conf"
replay -c "$T/bad.conf" tests/replay/sample.mbox
assert_eq 2 "$REPLAY_RC" "a configuration with errors"
replay tests/replay/sample.mbox
assert_eq 2 "$REPLAY_RC" "no -c"
