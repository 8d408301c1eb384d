#!/usr/bin/env bash
# t_greylist_mem - greylisting through Postfix on the embedded store (no
# redis { } section: a single MTA needs no server).
#
# Why: the whole lifecycle must hold with the default store: 451 4.7.1 at
# DATA for a new triplet, again before timeout, accepted and delivered
# after it, whitelisted afterwards, greylisted anew once the record
# expired (greylist_flow.sh). Short timeouts (2 s, 4 s) keep it fast.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/greylist_flow.sh"

grey_flow
