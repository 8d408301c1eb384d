#!/usr/bin/env bash
# t_ratelimit_redis - rate limits through Postfix on a real redis-server.
#
# Why: the same behaviour as t_ratelimit_mem with the buckets in Redis,
# updated by the Lua script, stored as text with a TTL (ratelimit_flow.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/ratelimit_flow.sh"

start_redis R1
rl_flow "$R1"
