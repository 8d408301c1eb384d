#!/usr/bin/env bash
# t_ratelimit_mem - rate limits through Postfix on the embedded store.
#
# Why: the recipient over its burst, and only it, gets 451 4.7.1 at RCPT;
# the message goes on for the others; mail that is not accepted does not
# fill the bucket; it recovers at exactly the configured rate
# (ratelimit_flow.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/ratelimit_flow.sh"

rl_flow
