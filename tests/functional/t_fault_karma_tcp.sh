#!/usr/bin/env bash
# t_fault_karma_tcp - t_fault_karma over TCP (karma { transport = tcp; }):
# connection-level faults (refused, hung, closed at once, junk on a
# stream) are a different code path from lost UDP datagrams.
FT_KARMA_TRANSPORT=tcp
# shellcheck source=t_fault_karma.sh
. "$(dirname "$0")/t_fault_karma.sh"
