#!/usr/bin/env bash
# t_negotiate - option negotiation with MTAs of different protocol versions.
#
# Why: the engine must answer MTAs offering protocol versions 2 to 6 (and
# newer ones with 6), never ask for an action or a protocol step the MTA did
# not offer (the MTA would drop the connection), and still apply the rules
# with an old MTA. A version-1 MTA is refused by closing the connection.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter

# neg OFFER_VERSION OFFER_ACTIONS OFFER_PROTOCOL : negotiate and check that
# the answer stays within the offer; sets NEG_VERSION NEG_ACTIONS NEG_PROTO
neg() {
    local line
    expect_mclient <<EOF2
negotiate $1 $2 $3
EOF2
    line=$(grep '^negotiate:' "$MC_OUT")
    read -r NEG_VERSION NEG_ACTIONS NEG_PROTO < <(sed -E 's/^negotiate: version ([0-9]+) actions (0x[0-9a-f]+) protocol (0x[0-9a-f]+).*/\1 \2 \3/' <<<"$line")
    say "offer $1 $2 $3 -> version $NEG_VERSION actions $NEG_ACTIONS protocol $NEG_PROTO"
    ((NEG_VERSION <= $1 || (NEG_VERSION == 6 && $1 > 6))) || fail "answered version $NEG_VERSION to an offer of $1"
    (((NEG_ACTIONS & ~$2) == 0)) || fail "asked for actions $NEG_ACTIONS beyond the offer $2"
    (((NEG_PROTO & ~$3 & 0x0fffffff) == 0)) || fail "asked for protocol steps $NEG_PROTO beyond the offer $3"
}

# Postfix / Sendmail 8.14+: everything offered
neg 6 0x1ff 0x1fffff
assert_eq 6 "$NEG_VERSION" "version with a v6 MTA"
((NEG_ACTIONS & 0x01)) || fail "SMFIF_ADDHDRS not requested though an add_header rule exists"
((NEG_ACTIONS & 0x20)) || fail "SMFIF_QUARANTINE not requested though a quarantine rule exists"
# a future MTA
neg 7 0x1ff 0x1fffff
assert_eq 6 "$NEG_VERSION" "version with a v7 MTA"
# an old MTA: version 2, the v2 actions and steps only
neg 2 0x0f 0x7f
assert_eq 2 "$NEG_VERSION" "version with a v2 MTA"

# the rules still work over version 2 (no DATA, no reply flags)
expect_mclient <<'EOF2'
negotiate 2 0x0f 0x7f
connect old.test 4 25 192.0.2.90
helo old.test
macro M i OLDQ
mail <old@example.org>
rcpt <tagme@example.test>
header Subject "version 2"
eoh
body "old MTA\r\n"
eom
expect '^addheader X-Rule: ?matched$'
expect '^(accept|continue)$'
quit
EOF2
wait_for_log 'msg done: qid=OLDQ; client=old\.test\[192\.0\.2\.90\]'

# version 1 is not spoken: the connection is closed
mclient <<'EOF2'
packet O 000000010000000f0000007f
expect_close 5
EOF2
grep -q '^expect_close: closed' "$MC_OUT" || { sed 's/^/    /' "$MC_OUT" >&2; fail "a version-1 MTA was answered"; }
alive "$RM_PID" || fail "the daemon died"
stop_rmilter
