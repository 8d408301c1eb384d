#!/usr/bin/env bash
# with-example-keys.sh CONFIG CMD [ARGS...] - run CMD on a machine where the
# DKIM keys that CONFIG names under /etc exist.
#
# The shipped example configs (config/*.conf) name keys such as
# /etc/rmilter/dkim/example.org.s2024.key, which the machine that checks
# them (CI) does not have, and `rmilter -t` rightly fails on a missing key.
# This runs CMD in a private mount namespace (unshare -m) with an overlay
# over /etc in which every `key = /etc/...;` of CONFIG exists: a throwaway
# Ed25519 key (mode 0600, in a 0700 directory) for a path ending in .key,
# .pem or .private, a directory otherwise (a wildcard block's key
# directory). The machine's /etc is never changed; the overlay's upper
# layer lives in a temporary directory removed afterwards.
#
# When CONFIG names no key under /etc, or when not run as root, CMD runs as
# it is. Exit status: CMD's.
set -euo pipefail

cfg=$1
shift
paths=$(sed -nE 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*"?(\/etc\/[^";[:space:]]+)"?[[:space:]]*;.*/\1/p' "$cfg" || true)
if [ -z "$paths" ] || [ "$(id -u)" != 0 ]; then
    exec "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmilter-example-keys.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/up" "$tmp/work"
printf '%s\n' "$paths" >"$tmp/paths"

rc=0
unshare -m -- bash -c '
    set -euo pipefail
    tmp=$1
    shift
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$tmp/up,workdir=$tmp/work" /etc
    while read -r p; do
        case $p in
        *.key | *.pem | *.private)
            mkdir -p "$(dirname "$p")"
            chmod 700 "$(dirname "$p")"
            [ -e "$p" ] || openssl genpkey -algorithm ed25519 -out "$p" 2>/dev/null
            chmod 600 "$p"
            ;;
        *) mkdir -p "$p"; chmod 700 "$p" ;;
        esac
    done <"$tmp/paths"
    "$@"' with-example-keys "$tmp" "$@" || rc=$?
exit "$rc"
