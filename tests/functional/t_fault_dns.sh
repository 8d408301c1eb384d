#!/usr/bin/env bash
# t_fault_dns - no mail is lost while the DNS server is stopped, hung,
# slow or answering garbage (SPF's lookups go to it).
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): a lookup that
# gets no answer is a temporary error, never a reason to reject: SPF turns
# it into temperror, which spf { temperror } maps to a 451 (tempfail) or a
# "Received-SPF: temperror" header (header). The real backend is NSD
# (dns_lib.sh) serving an SPF record that passes the client; bad_backend
# sits between the daemon's resolver (c-ares, dns { nameserver }) and NSD,
# on UDP and TCP. There is no upstream pool here (c-ares keeps its own
# server state), so no dead/alive lines are expected; after each fault
# the healthy answer must come back at once. Counting: fault_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/dns_lib.sh"
. "$FT_DIR/fault_lib.sh"

command -v nsd >/dev/null || skip "nsd is not installed (scripts/install-deps.sh)"
zone spf.test <<'EOZ'
pass        TXT "v=spf1 ip4:192.0.2.0/25 -all"
EOZ
start_dns

FAULT_MODULE=spf
FAULT_UPSTREAM=127.0.0.1:$DNS_PORT
FAULT_PROTO=both
FAULT_POOL=0
FAULT_HEALTHY=accepted
FAULT_SEND_ARGS=(--from a@pass.spf.test --xclient "ADDR=192.0.2.10 NAME=mx.client.test")
PF_EXTRA="mynetworks = 127.0.0.0/8, 192.0.2.0/24"
fault_conf() { # POLICY (spf temperror: tempfail|header) SERVERS
    cat <<EOC
dns { nameserver = $2; timeout = 2s; retries = 1; }
spf {
    domains = pass.spf.test;
    temperror = $1;
}
EOC
}
FAULT_OUTCOME() { case $1 in tempfail) echo tempfailed ;; *) echo accepted ;; esac; }
FAULT_FAIL_RE_FN() { echo 'spf: temperror for <?a@pass\.spf\.test'; }
fault_healthy_check() {
    local f
    for f in $(sink_files "$FAULT_TOKEN-"); do
        assert_match '^Received-SPF: pass ' "$(sink_headers "$f" | grep '^Received-SPF:')" "healthy SPF result"
    done
}
fault_check_outcome() { # after a fault batch: the reply or header says temperror
    local f
    case $1 in
    tempfail)
        awk '$1 != "summary" && $2 != "451" { bad = 1 } END { exit bad }' "$FB_OUT" || fail "a temperror did not give 451"
        grep -q ' 4\.7\.24 ' "$FB_OUT" || fail "no 4.7.24 reply for a temperror"
        ;;
    header)
        for f in $(sink_files "$FAULT_TOKEN-"); do
            assert_match '^Received-SPF: temperror ' "$(sink_headers "$f" | grep '^Received-SPF:')" "temperror header"
        done
        ;;
    esac
}
fault_run down:tempfail stall:header slow:tempfail garbage:header close:tempfail
