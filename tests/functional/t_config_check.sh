#!/usr/bin/env bash
# t_config_check - "rmilter -c FILE -t" checks a config and exits.
#
# Why: postmasters run -t before a reload, and packaging runs it on the
# shipped files. Every shipped config (rmilter.conf.sample, config/*.conf)
# must pass with exit 0 and create no socket or pidfile. A broken config
# must fail with exit 1 and say exactly where: "FILE:LINE:COLUMN: error:"
# (1-based; the column of the offending token), for errors in the main file
# and in an included file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# check_ok FILE : -t passes
check_ok() {
    local rc=0
    "$RMILTER_BIN" -c "$1" -t >"$T/t.out" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { sed 's/^/    /' "$T/t.out" >&2; fail "rmilter -t $1: exit $rc, expected 0"; }
    assert_file_match 'configuration OK' "$T/t.out" "-t $1 says OK"
}

# check_bad FILE REGEX : -t fails with exit 1 and a stderr line matching
check_bad() {
    local rc=0
    "$RMILTER_BIN" -c "$1" -t >"$T/t.out" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { sed 's/^/    /' "$T/t.out" >&2; fail "rmilter -t $1: exit $rc, expected 1"; }
    assert_file_match "$2" "$T/t.out" "diagnostic for $(basename "$1")"
}

[ -f "$FT_TOP/rmilter.conf.sample" ] || fail "rmilter.conf.sample is not in the tree"
n=0
bad_files=()
for f in "$FT_TOP/rmilter.conf.sample" "$FT_TOP"/config/*.conf; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    rc=0
    # (DKIM keys the config names under /etc exist in a private overlay)
    "$H/with-example-keys.sh" "$f" "$RMILTER_BIN" -c "$f" -t >"$T/shipped.out" 2>&1 || rc=$?
    if [ "$rc" != 0 ] || ! grep -q 'configuration OK' "$T/shipped.out"; then
        say "rmilter -t ${f#"$FT_TOP"/}: exit $rc"
        sed 's/^/    /' "$T/shipped.out" | tail -n 15 >&2
        bad_files+=("${f#"$FT_TOP"/}")
    fi
done
[ ${#bad_files[@]} -eq 0 ] || fail "shipped configs failing rmilter -t: ${bad_files[*]}"
say "$n shipped config(s) pass"

# -t does not start anything: no socket, no pidfile
rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
check_ok "$RM_CONF"
[ ! -e "$T/rmilter.sock" ] || fail "-t created the socket"
[ ! -e "$RM_PIDFILE" ] || fail "-t wrote the pidfile"

# bad FILE : a broken config from stdin, written verbatim
bad() { cat >"$1"; }

bad "$T/unknown-directive.conf" <<'EOF2'
# an unknown directive on line 3
pidfile = /tmp/rmilter-test-never.pid;
no_such_directive = 1;
EOF2
check_bad "$T/unknown-directive.conf" "^$T/unknown-directive\\.conf:3:1: error: .*no_such_directive"

bad "$T/range.conf" <<'EOF2'
# socket_mode is bounded 0..07777
socket_mode = 99999;
EOF2
check_bad "$T/range.conf" "^$T/range\\.conf:2:15: error: "

bad "$T/section.conf" <<'EOF2'
nosuchsection {
    servers = localhost;
};
EOF2
check_bad "$T/section.conf" "^$T/section\\.conf:1:1: error: .*nosuchsection"

bad "$T/regex.conf" <<'EOF2'
# an invalid regexp in a rule
rule { reject "x"; helo /(unclosed/; };
EOF2
check_bad "$T/regex.conf" "^$T/regex\\.conf:2:[0-9]+: error: "

# (at the top level a missing ';' is allowed, as in rmilter master; inside a
# section it is required)
bad "$T/semicolon.conf" <<'EOF2'
spamd {
    servers = r:localhost
    reject_message = "x";
};
EOF2
check_bad "$T/semicolon.conf" "^$T/semicolon\\.conf:3:5: error: expected ';'"

bad "$T/string.conf" <<'EOF2'
syslog_name = "unterminated;
log_level = info;
EOF2
check_bad "$T/string.conf" "^$T/string\\.conf:1:15: error: "

bad "$T/rule-action.conf" <<'EOF2'
rule { explode "x"; helo /a/; };
EOF2
check_bad "$T/rule-action.conf" "^$T/rule-action\\.conf:1:8: error: .*explode"

# an error in an included file names that file and its line
bad "$T/inc.conf" <<'EOF2'
log_level = info;
not_a_directive_either = yes;
EOF2
bad "$T/main.conf" <<EOF2
pidfile = /tmp/rmilter-test-never.pid;
.include "$T/inc.conf"
EOF2
check_bad "$T/main.conf" "^$T/inc\\.conf:2:1: error: .*not_a_directive_either"

# a problem found when the modules start (a DKIM key file that does not
# exist) names the line and column of the directive, like a syntax error
bad "$T/dkim-key.conf" <<EOF2
dkim {
    domain {
        domain = example.org;
        selector = s1;
        key = $T/no-such-dir/example.org.s1.key;
    }
}
EOF2
check_bad "$T/dkim-key.conf" "^$T/dkim-key\\.conf:5:9: error: dkim: domain example\\.org selector s1: key file $T/no-such-dir/example\\.org\\.s1\\.key: cannot open: No such file or directory\$"
# ...and in an included file, that file (a wildcard block's key directory)
bad "$T/dkim-inc.conf" <<'EOF2'
domain {
  domain = "*"; selector = mail;
  key = /nonexistent/rmilter-dkim;
}
EOF2
bad "$T/dkim-main.conf" <<EOF2
dkim {
    .include "$T/dkim-inc.conf"
}
EOF2
check_bad "$T/dkim-main.conf" "^$T/dkim-inc\\.conf:3:3: error: dkim: domain \\* selector mail: key /nonexistent/rmilter-dkim must be a directory"

# a missing file
check_bad "$T/does-not-exist.conf" "does-not-exist\\.conf"
