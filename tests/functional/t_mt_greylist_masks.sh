#!/usr/bin/env bash
# t_mt_greylist_masks - greylisting triplets from varying client addresses,
# driven by miltertest (Postfix would always connect from 127.0.0.1).
#
# Why: the client part of a triplet is its network, masked to ipv4_mask
# (/24) or ipv6_mask (/64): a retry from another host of the same network
# is the same triplet (senders retry from a pool of hosts), another network
# is a new one; greylisting { whitelist } clients are never greylisted.
# Each outcome is checked in the reply at DATA (mt/greylist_masks.lua) and
# in the log line naming the network.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <<'EOF2'
greylisting {
    timeout = 1s;
    whitelist = 203.0.113.0/24;
}
EOF2
start_rmilter
expect_mt greylist_masks.lua
wait_for_log 'greylist: 192\.0\.2\.0/24 <s@sender\.example> -> <r@example\.test>: new, key'
wait_for_log 'client=grey\.test\[192\.0\.2\.99\].*greylist=greylisted\(0 new, 1 early\)'
wait_for_log 'greylist: 198\.51\.100\.0/24 <s@sender\.example> -> <r@example\.test>: new, key'
wait_for_log 'greylist: 2001:db8:1:2::/64 <s@sender\.example> -> <r@example\.test>: new, key'
wait_for_log 'greylist: 2001:db8:1:2::/64 <s@sender\.example> -> <r@example\.test>: too early, key'
wait_for_log 'greylist: 2001:db8:1:3::/64 <s@sender\.example> -> <r@example\.test>: new, key'
wait_for_log 'client=grey\.test\[203\.0\.113\.5\].*greylist=skipped\(whitelisted client\)'
wait_for_log 'client=grey\.test\[192\.0\.2\.200\].*greylist=pass\(delayed 1s\)'
stop_rmilter
