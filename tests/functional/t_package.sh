#!/usr/bin/env bash
# t_package - the Debian package: built, checked, installed, run, purged.
#
# Why: what a postmaster installs is the .deb, not the build tree. It must
# build from a clean copy of the source without network access
# (dpkg-buildpackage -b -us -uc; our test suite is not run inside it), pass
# lintian without errors, and hold the binary, both manual pages (the
# directive list of rmilter.conf(5) generated at build time), the sample as
# the conffile /etc/rmilter/rmilter.conf and the systemd units (which
# systemd-analyze verify accepts). Installed, its postinst creates the
# _rmilter system user and /var/spool/rmilter; the installed binary, started
# socket-activated by systemd-socket-activate and dropping privileges to
# _rmilter, filters a message through Postfix. Purging removes it again.
#
# The install is real (dpkg -i), which is fine on a throwaway CI machine; a
# machine that already has an rmilter package is left alone (the install
# part is skipped there) and services are never started (policy-rc.d).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for t in dpkg-buildpackage dh lintian systemd-analyze systemd-socket-activate; do
    command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh installs it)"
done

say "dpkg-buildpackage -b -us -uc on a clean copy of the tree"
src=$T/src
mkdir -p "$src"
tar -C "$FT_TOP" --exclude='./build*' --exclude=./.git --exclude='./obj-*' \
    --exclude=./debian/rmilter --exclude=./debian/.debhelper -cf - . | tar -C "$src" -xf -
# no network: a build that tries to fetch anything fails here
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    unshare --net dpkg-buildpackage -b -us -uc) >"$T/dpkg-buildpackage.log" 2>&1 ||
    { tail -n 30 "$T/dpkg-buildpackage.log" >&2; fail "dpkg-buildpackage failed"; }
deb=$(ls "$T"/rmilter_*_*.deb)
[ -f "$deb" ] || fail "no rmilter .deb was built"

say "lintian: no errors"
lintian --fail-on error "$deb" >"$T/lintian.log" 2>&1 ||
    { cat "$T/lintian.log" >&2; fail "lintian reports errors"; }
assert_file_not_match '^E: ' "$T/lintian.log" "lintian errors"

say "contents, modes, conffile, maintainer scripts"
dpkg-deb -c "$deb" >"$T/contents"
assert_file_match '^-rwxr-xr-x root/root .* \./usr/sbin/rmilter$' "$T/contents" "the binary, 0755 root"
assert_file_match '^-rw-r--r-- root/root .* \./etc/rmilter/rmilter\.conf$' "$T/contents" "the config, 0644 root"
assert_file_match '\./usr/share/man/man8/rmilter\.8\.gz$' "$T/contents" "rmilter(8)"
assert_file_match '\./usr/share/man/man5/rmilter\.conf\.5\.gz$' "$T/contents" "rmilter.conf(5)"
assert_file_match '\./lib/systemd/system/rmilter\.service$' "$T/contents" "the service unit"
assert_file_match '\./lib/systemd/system/rmilter\.socket$' "$T/contents" "the socket unit"
dpkg-deb -e "$deb" "$T/control"
assert_eq /etc/rmilter/rmilter.conf "$(cat "$T/control/conffiles")" "the one conffile"
assert_eq 1 "$(tr -d '\\\n' <"$T/control/postinst" | grep -cE 'adduser +--quiet +--system +--group +--no-create-home +--home /nonexistent .*_rmilter')" \
    "postinst creates the system user _rmilter"
assert_file_match '^Depends: .*adduser' "$T/control/control" "depends on adduser"
root=$T/root
dpkg -x "$deb" "$root"
cmp "$root/etc/rmilter/rmilter.conf" "$FT_TOP/rmilter.conf.sample" || fail "the conffile is not rmilter.conf.sample"
zcat "$root/usr/share/man/man5/rmilter.conf.5.gz" >"$T/rmilter.conf.5"
assert_file_match '^\.SH DIRECTIVES' "$T/rmilter.conf.5" "generated directive list in rmilter.conf(5)"
assert_file_match '^\.B metrics_socket' "$T/rmilter.conf.5" "a directive of the generated list"
assert_file_match '^\.SH FAILURE POLICY' "$T/rmilter.conf.5" "the hand-written part of rmilter.conf(5)"
[ -z "$(man --warnings -l "$T/rmilter.conf.5" 2>&1 >/dev/null)" ] || fail "rmilter.conf(5) has roff warnings"
"$root/usr/sbin/rmilter" -c "$root/etc/rmilter/rmilter.conf" -t 2>>"$T/check.log" ||
    fail "the packaged binary rejects the packaged config (see check.log)"

if dpkg-query -W -f '${Status}' rmilter 2>/dev/null | grep -q installed; then
    say "SKIP of the install part: an rmilter package is installed on this machine"
    exit 0
fi

say "dpkg -i: postinst creates the user and the spool; units verify"
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    on_exit "rm -f /usr/sbin/policy-rc.d"
fi
on_exit "dpkg -P rmilter >>'$T/dpkg.log' 2>&1"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$T/dpkg.log" 2>&1 ||
    { cat "$T/dpkg.log" >&2; fail "dpkg -i failed"; }
pw=$(getent passwd _rmilter) || fail "postinst did not create user _rmilter"
uid=$(cut -d: -f3 <<<"$pw")
[ "$uid" -lt 1000 ] || fail "_rmilter is not a system user (uid $uid)"
assert_match ':/usr/sbin/nologin$' "$pw" "_rmilter has no login shell"
getent group _rmilter >/dev/null || fail "postinst did not create group _rmilter"
assert_eq "_rmilter:_rmilter 750" "$(stat -c '%U:%G %a' /var/spool/rmilter)" "the spool directory"
assert_match '/etc/rmilter/rmilter.conf [0-9a-f]{32}' "$(dpkg-query -W -f '${Conffiles}' rmilter)" "registered conffile"
systemd-analyze verify --man=no /lib/systemd/system/rmilter.service \
    /lib/systemd/system/rmilter.socket >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log" >&2; fail "systemd-analyze verify failed"; }
assert_eq "" "$(cat "$T/verify.log")" "systemd-analyze verify has nothing to say"

say "the installed binary, socket-activated, as _rmilter, through Postfix"
SA_PATH=$T/activated.sock
RM_BIND=systemd
rm_config "$RM_CONF" <<EOF
user = _rmilter;
group = _rmilter;
$(cat "$FT_DIR/conf/rules.conf")
EOF
echo "=== systemd-socket-activate -l $SA_PATH /usr/sbin/rmilter -n -c $RM_CONF" >>"$RM_LOG"
(exec systemd-socket-activate -l "$SA_PATH" /usr/sbin/rmilter -n -c "$RM_CONF" \
    >>"$RM_LOG" 2>&1 </dev/null) &
RM_PID=$!
track "$RM_PID" rmilter
wait_unix "$SA_PATH" 10 "$RM_PID" || fail "systemd-socket-activate did not open $SA_PATH"
chmod 0666 "$SA_PATH" # what SocketMode= does (smtpd runs as user postfix)
start_sink
start_postfix "unix:$SA_PATH"
bad=$(new_token)
send_mail --helo evil.example --from "$bad@example.org" --body "$bad"
assert_reply '^554 5\.7\.1 No spam from this helo$' "reject by the installed binary"
tok=$(new_token)
send_mail --to tagme@example.test --body "$tok"
assert_reply '^250 ' "accept by the installed binary"
assert_file_match '^X-Rule: matched' "$(sink_wait_msg "$tok")" "header added by the installed binary"
assert_eq "$(readlink -f /usr/sbin/rmilter)" "$(readlink -f "/proc/$RM_PID/exe")" "the activated process is the installed rmilter"
assert_eq "$uid" "$(awk '/^Uid:/ { print $2 }' "/proc/$RM_PID/status")" "running as _rmilter"
stop_rmilter

say "dpkg -P removes it"
dpkg -P rmilter >>"$T/dpkg.log" 2>&1 || fail "dpkg -P failed"
[ ! -e /usr/sbin/rmilter ] || fail "/usr/sbin/rmilter is still there after purge"
[ ! -e /etc/rmilter/rmilter.conf ] || fail "the conffile is still there after purge"
[ ! -e /var/spool/rmilter ] || fail "/var/spool/rmilter is still there after purge"
