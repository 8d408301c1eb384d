#!/usr/bin/env bash
# install-deps.sh - install every Debian package rmilter needs to build and test.
#
# Safe to run repeatedly; installs only what is missing. Never starts a daemon
# (a policy-rc.d that exits 101 is put in place first), never configures
# Postfix system-wide ("No configuration").
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config bison flex libmilter-dev
    libcmocka-dev libpcre2-dev libssl-dev libjansson-dev libhiredis-dev libsystemd-dev
    clang libclang-rt-14-dev clang-format valgrind
    libc-ares-dev libspf2-dev libopendkim-dev
    # clamav { engine = libclamav }
    libclamav-dev)
TEST_PKGS=(postfix miltertest swaks systemd python3 procps iproute2
    redis-server nsd bind9-dnsutils python3-dkim python3-dnspython openssl
    python3-nacl util-linux mount
    # t_beanstalk*, unit test beanstalk_live: beanstalkd on loopback
    beanstalkd
    # content scanners (t_clamav*, t_spamd*, t_rspamd, t_scan_*): clamd with a
    # test-time EICAR database (no freshclam run), SpamAssassin's spamd with
    # the rules Debian ships (GTUBE, offline), rspamd with its stock config
    clamav-daemon clamav spamassassin spamd spamc rspamd
    # t_package: dpkg-buildpackage of debian/, lintian on the .deb
    debhelper lintian
    # runtime deps of Sendmail, which tests/functional/harness/sendmail.sh
    # unpacks with apt-get download + dpkg-deb -x (it conflicts with postfix)
    m4 libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3 libwrap0)

want=("${BUILD_PKGS[@]}")
[ "${1:-}" = "--build-only" ] || want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
