#!/usr/bin/env bash
# t_greylist_redis - greylisting through Postfix on a real redis-server.
#
# Why: the same lifecycle as t_greylist_mem, with the records in Redis:
# they must be text (a time in ms), carry the TTLs expire / expire_white,
# and expire in Redis itself (greylist_flow.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/greylist_flow.sh"

start_redis R1
grey_flow "$R1"
