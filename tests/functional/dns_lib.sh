# shellcheck shell=bash
# dns_lib.sh - a private authoritative DNS server for a functional test
# (source it after lib.sh). The daemon under test is pointed at it with
# dns { nameserver = 127.0.0.1:$DNS_PORT; }: the machine's resolver is never
# used or changed, and no query leaves loopback (NSD does not recurse).
#
#   zone NAME <<EOF ... EOF   write $DNS_DIR/zones/NAME.zone: the SOA, NS and
#                             ns A records, then the records from stdin
#                             (zone-file syntax, names relative to NAME)
#   start_dns                 NSD on a free port serving every zone written;
#                             sets DNS_PORT; stopped by PID at exit
#   dns_txt NAME              the TXT record of NAME, as the server has it

DNS_DIR=$T/dns
DNS_PORT=

zone() {
    local z=$1
    mkdir -p "$DNS_DIR/zones"
    {
        printf '$ORIGIN %s.\n$TTL 60\n' "$z"
        printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n' "$z" "$z"
        printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$z"
        cat
    } >"$DNS_DIR/zones/$z.zone"
}

start_dns() {
    new_port DNS_PORT
    DNS_DIR=$DNS_DIR DNS_PORT=$DNS_PORT "$H/dns.sh" start 2>>"$T/harness.log" ||
        { tail -n 20 "$T/harness.log" >&2; fail "the test DNS server did not start (see harness.log)"; }
    track "$(cat "$DNS_DIR/nsd.pid")" nsd
}

dns_txt() { dig +short +time=2 +tries=1 @127.0.0.1 -p "$DNS_PORT" TXT "$1"; }

# unfold : header continuation lines joined (a fold becomes one space)
unfold() { sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[[:blank:]]\+/ /g'; }
