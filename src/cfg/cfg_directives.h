/*
 * NAME
 *   cfg_directives - every section and directive of rmilter.conf, declared once
 *
 * DESCRIPTION
 *   X-macro tables. Each row of a section's list is
 *
 *     X(section, name, type, field, default, min, max, aux, doc)
 *
 *   section  the section id (RM_SECTIONS below)
 *   name     the directive as written in rmilter.conf
 *   type     enum rm_vtype without its RM_T_ prefix (cfg_types.h)
 *   field    the member of struct rm_cfg_<section> that holds the value
 *   default  the default, written as it would be in the config file and
 *            parsed by the same setter ("" = empty / unset)
 *   min,max  bounds for INT, TIME_* (in ms), SIZE and PROB; 0,0 = none
 *   aux      ENUM: the names, "a|b|c" (the value is the index);
 *            SERVERS: the default port ("3310"); NOOP: why it does nothing;
 *            otherwise NULL
 *   doc      one line for --dump-config, docs/directives.md and the manual
 *
 *   From these rows cfg.h generates the section structs, and cfg.c the
 *   lookup tables, the defaults, --dump-config and the directive reference.
 *   Adding a directive is one row here and nothing else. Aliases (old
 *   names that still parse) are listed in RM_ALIASES.
 */
#ifndef RM_CFG_DIRECTIVES_H
#define RM_CFG_DIRECTIVES_H

/* one directive a line, whatever its length */
/* clang-format off */

#define RM_ON_FAILURE "tempfail|accept|continue"

/* X(id, name, parent, kind, doc); kind: SINGLE, MULTI (repeatable block,
 * kept as an array), IGNORED (old section: parsed, warned, dropped),
 * RULE (the rule { } statement syntax) */
#define RM_SECTIONS(X)                                                         \
    X(global, "", none, SINGLE, "top-level settings")                          \
    X(clamav, "clamav", none, SINGLE, "virus scanning with ClamAV")            \
    X(spamd, "spamd", none, SINGLE, "spam scanning with spamd or rspamd")      \
    X(redis, "redis", none, SINGLE, "shared state for greylisting, limits, reply ids") \
    X(beanstalk, "beanstalk", none, SINGLE, "copies of messages to beanstalkd") \
    X(greylisting, "greylisting", none, SINGLE, "greylisting of unknown triplets") \
    X(limits, "limits", none, SINGLE, "per-recipient rate limits")             \
    X(dkim, "dkim", none, SINGLE, "DKIM signing of outbound mail")             \
    X(dkim_domain, "domain", dkim, MULTI, "a signing domain, its key and selector") \
    X(spf, "spf", none, SINGLE, "SPF checks of the envelope sender")           \
    X(karma, "karma", none, SINGLE, "reputation from Karmasphere servers and DNS lists") \
    X(karma_dnslist, "dnslist", karma, MULTI, "a DNS block or allow list (RFC 5782)") \
    X(dns, "dns", none, SINGLE, "the resolver every lookup uses")              \
    X(rule, "rule", none, RULE, "a regexp rule with an action")                \
    X(memcached, "memcached", none, IGNORED, "memcached is not supported; use redis { }")

#define RM_DIRS_global(X)                                                      \
    X(global, pidfile, STR, pidfile, "", 0, 0, NULL, "write the daemon's pid to this file (locked; removed at exit)") \
    X(global, bind_socket, SOCKETS, bind_socket, "unix:/run/rmilter/rmilter.sock", 0, 0, NULL, "where to listen: unix:/path, inet:port@host, inet6:port@host, fd:N or systemd") \
    X(global, socket_mode, MODE, socket_mode, "0660", 0, 07777, NULL, "permissions of unix listen sockets") \
    X(global, socket_owner, STR, socket_owner, "", 0, 0, NULL, "owner of unix listen sockets (default: the daemon's user)") \
    X(global, socket_group, STR, socket_group, "", 0, 0, NULL, "group of unix listen sockets (default: the daemon's group)") \
    X(global, user, STR, user, "", 0, 0, NULL, "drop privileges to this user after binding") \
    X(global, group, STR, group, "", 0, 0, NULL, "drop privileges to this group after binding") \
    X(global, tempdir, STR, tempdir, "", 0, 0, NULL, "directory for spooled messages (default: $TMPDIR, else /tmp)") \
    X(global, tempfiles_mode, MODE, tempfiles_mode, "0600", 0, 0777, NULL, "permissions of spool files") \
    X(global, spool_memory, SIZE, spool_memory, "1m", 0, 1073741824.0, NULL, "messages up to this size stay in memory; larger ones go to tempdir") \
    X(global, max_size, SIZE, max_size, "0", 0, 0, NULL, "skip content scans for larger messages (0 = no limit)") \
    X(global, strict_auth, FLAG, strict_auth, "no", 0, 0, NULL, "scan mail from authenticated senders and our_networks too") \
    X(global, whitelist, RCPTLIST, whitelist, "", 0, 0, NULL, "recipients (user, user@domain, @domain) whose mail skips content checks") \
    X(global, our_networks, IPLIST, our_networks, "", 0, 0, NULL, "clients in these networks count as authenticated") \
    X(global, spf_domains, STRLIST, spf_domains, "", 0, 0, NULL, "sender domains to check SPF for (* for all); same as spf { domains }") \
    X(global, syslog_name, STR, syslog_name, "rmilter", 0, 0, NULL, "syslog ident") \
    X(global, log_facility, STR, log_facility, "mail", 0, 0, NULL, "syslog facility") \
    X(global, log_level, ENUM, log_level, "info", 0, 0, "error|warning|notice|info|debug", "lowest level that is logged") \
    X(global, log_target, ENUM, log_target, "syslog", 0, 0, "syslog|stderr", "where log lines go (-n forces stderr)") \
    X(global, read_timeout, TIME_S, read_timeout, "7m", 1000, 86400000, NULL, "close an MTA connection that sends nothing for this long") \
    X(global, max_sessions, INT, max_sessions, "1024", 1, 1000000, NULL, "most MTA connections served at once; more wait in the listen queue") \
    X(global, shutdown_timeout, TIME_S, shutdown_timeout, "30s", 0, 3600000, NULL, "on SIGTERM, wait this long for sessions to finish") \
    X(global, max_packet, SIZE, max_packet, "1m", 65536, 67108864, NULL, "largest milter packet accepted from the MTA") \
    X(global, metrics_socket, STR, metrics_socket, "", 0, 0, NULL, "serve Prometheus metrics over HTTP here (inet:port@host)") \
    X(global, reply_whitelist, FLAG, reply_whitelist, "no", 0, 0, NULL, "replies to mail of our authenticated senders skip spam checks (ids in the embedded store; redis servers_id alone also turns this on)") \
    X(global, use_redis, NOOP, use_redis, "", 0, 0, "a redis { } section selects Redis by itself", "accepted for compatibility") \
    X(global, use_dcc, NOOP, use_dcc, "", 0, 0, "DCC is not supported", "accepted for compatibility")

#define RM_DIRS_clamav(X)                                                      \
    X(clamav, engine, ENUM, engine, "clamd", 0, 0, "clamd|libclamav", "scan with clamd servers or in-process with libclamav") \
    X(clamav, servers, SERVERS, servers, "", 0, 0, "3310", "clamd servers: host[:port[:weight]] or /path/to/socket") \
    X(clamav, database, STR, database, "/var/lib/clamav", 0, 0, NULL, "signature directory for engine = libclamav") \
    X(clamav, connect_timeout, TIME_S, connect_timeout, "1s", 1, 600000, NULL, "connect timeout") \
    X(clamav, results_timeout, TIME_S, results_timeout, "20s", 1, 3600000, NULL, "deadline for the whole scan") \
    X(clamav, error_time, TIME_S, error_time, "10s", 0, 0, NULL, "window in which maxerrors errors mark a server dead") \
    X(clamav, dead_time, TIME_S, dead_time, "300s", 0, 0, NULL, "how long a dead server is left alone") \
    X(clamav, maxerrors, INT, maxerrors, "10", 1, 1000000, NULL, "errors within error_time that mark a server dead") \
    X(clamav, whitelist, IPLIST, whitelist, "", 0, 0, NULL, "clients whose mail is not scanned") \
    X(clamav, max_size, SIZE, max_size, "0", 0, 0, NULL, "skip larger messages (0 = the global max_size)") \
    X(clamav, on_failure, ENUM, on_failure, "tempfail", 0, 0, RM_ON_FAILURE, "what to do when no scan result can be had") \
    X(clamav, port_timeout, NOOP, port_timeout, "", 0, 0, "the STREAM/PORT protocol is not used", "accepted for compatibility")

#define RM_DIRS_spamd(X)                                                       \
    X(spamd, servers, SERVERS, servers, "", 0, 0, "783", "spamd servers; r:host[:port] or r:/path for rspamd (port 11333)") \
    X(spamd, connect_timeout, TIME_S, connect_timeout, "1s", 1, 600000, NULL, "connect timeout") \
    X(spamd, results_timeout, TIME_S, results_timeout, "20s", 1, 3600000, NULL, "deadline for the whole scan") \
    X(spamd, error_time, TIME_S, error_time, "10s", 0, 0, NULL, "window in which maxerrors errors mark a server dead") \
    X(spamd, dead_time, TIME_S, dead_time, "300s", 0, 0, NULL, "how long a dead server is left alone") \
    X(spamd, maxerrors, INT, maxerrors, "10", 1, 1000000, NULL, "errors within error_time that mark a server dead") \
    X(spamd, retry_count, INT, retry_count, "1", 0, 10, NULL, "further servers tried when one does not connect") \
    X(spamd, retry_timeout, TIME_S, retry_timeout, "0", 0, 60000, NULL, "not used: the next server is tried at once (a pause would hold every scan of the message)") \
    X(spamd, on_failure, ENUM, on_failure, "continue", 0, 0, RM_ON_FAILURE, "what to do when no scan result can be had") \
    X(spamd, spamd_temp_fail, FLAG, temp_fail, "no", 0, 0, NULL, "tempfail when the scan fails (same as on_failure = tempfail)") \
    X(spamd, reject_message, STR, reject_message, "Spam message rejected; If this is not spam contact abuse team", 0, 0, NULL, "reply text for rejected spam") \
    X(spamd, whitelist, IPLIST, whitelist, "", 0, 0, NULL, "clients whose mail is not scanned") \
    X(spamd, rspamd_metric, STR, rspamd_metric, "default", 0, 0, NULL, "the rspamd metric; /checkv2 replies carry one verdict, so anything but default is warned about and ignored") \
    X(spamd, spamd_soft_fail, FLAG, soft_fail, "yes", 0, 0, NULL, "actions below reject tag or greylist instead of rejecting") \
    X(spamd, spamd_greylist, FLAG, greylist, "yes", 0, 0, NULL, "greylist on the scanner's verdict instead of at DATA") \
    X(spamd, spamd_never_reject, FLAG, never_reject, "no", 0, 0, NULL, "add the spam header instead of rejecting") \
    X(spamd, spamd_spam_add_header, FLAG, spam_add_header, "no", 0, 0, NULL, "add the spam header when the subject is rewritten too") \
    X(spamd, spam_header, STR, spam_header, "X-Spam", 0, 0, NULL, "header added to spam") \
    X(spamd, spam_header_value, STR, spam_header_value, "yes", 0, 0, NULL, "value of spam_header") \
    X(spamd, spam_subject, STR, spam_subject, "***SPAM*** %s", 0, 0, NULL, "subject for rewrite subject; %s is the original") \
    X(spamd, spam_no_auth_header, FLAG, spam_no_auth_header, "no", 0, 0, NULL, "no spam header or subject change for authenticated senders") \
    X(spamd, extended_spam_headers, FLAG, extended_spam_headers, "no", 0, 0, NULL, "add X-Spamd-Result and friends for unauthenticated senders") \
    X(spamd, extended_headers_rcpt, RCPTLIST, extended_headers_rcpt, "", 0, 0, NULL, "add extended headers when every recipient is listed") \
    X(spamd, spamd_settings_id, STR, settings_id, "", 0, 0, NULL, "rspamd Settings-ID") \
    X(spamd, trace_symbol, STR, trace_symbol, "", 0, 0, NULL, "when this symbol fires, add trace_addr as a recipient") \
    X(spamd, trace_addr, STR, trace_addr, "", 0, 0, NULL, "recipient added for trace_symbol") \
    X(spamd, max_size, SIZE, max_size, "0", 0, 0, NULL, "skip larger messages (0 = the global max_size)") \
    X(spamd, also_check, NOOP, also_check, "", 0, 0, "second scans are not supported", "accepted for compatibility") \
    X(spamd, compression, NOOP, compression, "", 0, 0, "zstd to rspamd is not supported", "accepted for compatibility") \
    X(spamd, diff_dir, NOOP, diff_dir, "", 0, 0, "unused since rmilter 1.9", "accepted for compatibility") \
    X(spamd, symbols_dir, NOOP, symbols_dir, "", 0, 0, "unused since rmilter 1.9", "accepted for compatibility") \
    X(spamd, check_symbols, NOOP, check_symbols, "", 0, 0, "unused since rmilter 1.9", "accepted for compatibility") \
    X(spamd, spam_bar_char, NOOP, spam_bar_char, "", 0, 0, "unused since rmilter 1.9", "accepted for compatibility")

#define RM_DIRS_redis(X)                                                       \
    X(redis, servers_grey, SERVERS, servers_grey, "", 0, 0, "6379", "greylisting servers (keys sharded by consistent hashing); empty: the embedded store") \
    X(redis, servers_white, SERVERS, servers_white, "", 0, 0, "6379", "greylisting whitelist servers (default: servers_grey)") \
    X(redis, servers_limits, SERVERS, servers_limits, "", 0, 0, "6379", "rate limit servers; empty: the embedded store") \
    X(redis, servers_id, SERVERS, servers_id, "", 0, 0, "6379", "reply message-id servers (setting them turns reply whitelisting on); empty: the embedded store") \
    X(redis, mirror_grey, SERVERS, mirror_grey, "", 0, 0, "6379", "servers that receive a copy of every greylisting write") \
    X(redis, mirror_white, SERVERS, mirror_white, "", 0, 0, "6379", "servers that receive a copy of every whitelist write") \
    X(redis, connect_timeout, TIME_S, connect_timeout, "1s", 1, 600000, NULL, "connect timeout") \
    X(redis, read_timeout, TIME_S, read_timeout, "1s", 1, 600000, NULL, "reply timeout") \
    X(redis, error_time, TIME_S, error_time, "10s", 0, 0, NULL, "window in which maxerrors errors mark a server dead") \
    X(redis, dead_time, TIME_S, dead_time, "300s", 0, 0, NULL, "how long a dead server is left alone") \
    X(redis, maxerrors, INT, maxerrors, "10", 1, 1000000, NULL, "errors within error_time that mark a server dead") \
    X(redis, password, STR, password, "", 0, 0, NULL, "AUTH password, sent after every connect") \
    X(redis, dbname, STR, dbname, "", 0, 0, NULL, "database number, SELECTed after every connect") \
    X(redis, grey_prefix, STR, grey_prefix, "grey.", 0, 0, NULL, "key prefix of greylist records") \
    X(redis, white_prefix, STR, white_prefix, "white.", 0, 0, NULL, "key prefix of whitelist records") \
    X(redis, id_prefix, STR, id_prefix, "message_id.", 0, 0, NULL, "key prefix of reply message-ids") \
    X(redis, limits_prefix, STR, limits_prefix, "rl.", 0, 0, NULL, "key prefix of rate limit buckets") \
    X(redis, awl_prefix, STR, awl_prefix, "awl.", 0, 0, NULL, "key prefix of greylisting auto-whitelist counters (kept with the whitelist records)") \
    X(redis, id_ttl, TIME_S, id_ttl, "30d", 1000, 0, NULL, "how long the Message-ID of mail from an authenticated sender is remembered for reply whitelisting") \
    X(redis, on_failure, ENUM, on_failure, "accept", 0, 0, RM_ON_FAILURE, "what greylisting and limits do when the store fails (accept: that check passes, the others still run)") \
    X(redis, protocol, NOOP, protocol, "", 0, 0, "Redis is always TCP or a unix socket", "accepted for compatibility") \
    X(redis, servers_spam, NOOP, servers_spam, "", 0, 0, "use beanstalk { spam_server } for spam copies", "accepted for compatibility") \
    X(redis, servers_copy, NOOP, servers_copy, "", 0, 0, "use beanstalk { copy_server } for copies", "accepted for compatibility") \
    X(redis, spam_channel, NOOP, spam_channel, "", 0, 0, "Redis PUBLISH copies are not supported", "accepted for compatibility") \
    X(redis, copy_channel, NOOP, copy_channel, "", 0, 0, "Redis PUBLISH copies are not supported", "accepted for compatibility") \
    X(redis, copy_probability, NOOP, copy_probability, "", 0, 0, "use beanstalk { copy_probability }", "accepted for compatibility")

#define RM_DIRS_beanstalk(X)                                                   \
    X(beanstalk, servers, SERVERS, servers, "", 0, 0, "11300", "servers that receive message headers") \
    X(beanstalk, copy_server, SERVERS, copy_server, "", 0, 0, "11300", "servers that receive whole-message copies") \
    X(beanstalk, spam_server, SERVERS, spam_server, "", 0, 0, "11300", "servers that receive copies of spam") \
    X(beanstalk, tube, STR, tube, "default", 0, 0, NULL, "tube jobs are put into") \
    X(beanstalk, priority, INT, priority, "1025", 0, 4294967295.0, NULL, "job priority") \
    X(beanstalk, lifetime, TIME_S, lifetime, "172800s", 1000, 0, NULL, "job time-to-run (TTR)") \
    X(beanstalk, id_regexp, REGEX, id_regexp, "", 0, 0, NULL, "send the whole message when In-Reply-To or References matches") \
    X(beanstalk, send_beanstalk_headers, FLAG, send_headers, "no", 0, 0, NULL, "put the headers of every message to servers") \
    X(beanstalk, send_beanstalk_copy, FLAG, send_copy, "no", 0, 0, NULL, "put whole messages to copy_server") \
    X(beanstalk, send_beanstalk_spam, FLAG, send_spam, "no", 0, 0, NULL, "put spam to spam_server") \
    X(beanstalk, copy_probability, PROB, copy_probability, "1.0", 0, 1, NULL, "share of messages copied to copy_server (0.0-1.0; above 1 means percent)") \
    X(beanstalk, connect_timeout, TIME_S, connect_timeout, "1s", 1, 600000, NULL, "connect timeout") \
    X(beanstalk, timeout, TIME_S, timeout, "2s", 1, 600000, NULL, "deadline for all the puts of one message, connects included") \
    X(beanstalk, error_time, TIME_S, error_time, "10s", 0, 0, NULL, "window in which maxerrors errors mark a server dead") \
    X(beanstalk, dead_time, TIME_S, dead_time, "300s", 0, 0, NULL, "how long a dead server is left alone") \
    X(beanstalk, maxerrors, INT, maxerrors, "10", 1, 1000000, NULL, "errors within error_time that mark a server dead") \
    X(beanstalk, max_size, SIZE, max_size, "0", 0, 0, NULL, "copy no larger messages (0 = the global max_size)") \
    X(beanstalk, protocol, NOOP, protocol, "", 0, 0, "beanstalkd speaks TCP only", "accepted for compatibility") \
    X(beanstalk, send_beanstalk_spam_extra_diff, NOOP, send_spam_extra_diff, "", 0, 0, "second scans are not supported", "accepted for compatibility")

#define RM_DIRS_greylisting(X)                                                 \
    X(greylisting, enable, FLAG, enable, "yes", 0, 0, NULL, "greylist unknown triplets (when this section or redis servers_grey is written)") \
    X(greylisting, timeout, TIME_S, timeout, "300s", 0, 0, NULL, "a retry is accepted after this long") \
    X(greylisting, expire, TIME_S, expire, "1d", 1000, 0, NULL, "a greylist record lives this long") \
    X(greylisting, expire_white, TIME_S, expire_white, "3d", 1000, 0, NULL, "a passed triplet is whitelisted this long") \
    X(greylisting, whitelist, IPLIST, whitelist, "", 0, 0, NULL, "clients that are never greylisted") \
    X(greylisting, greylisted_message, STR, greylisted_message, "Try again later", 0, 0, NULL, "reply text (451 4.7.1)") \
    X(greylisting, ipv4_mask, INT, ipv4_mask, "24", 0, 32, NULL, "prefix of the client IPv4 address in the triplet") \
    X(greylisting, ipv6_mask, INT, ipv6_mask, "64", 0, 128, NULL, "prefix of the client IPv6 address in the triplet") \
    X(greylisting, awl_enable, FLAG, awl_enable, "no", 0, 0, NULL, "auto-whitelist clients that passed greylisting awl_hits times") \
    X(greylisting, awl_hits, INT, awl_hits, "10", 1, 1000000, NULL, "passes before a client is auto-whitelisted") \
    X(greylisting, awl_ttl, TIME_S, awl_ttl, "3600s", 1000, 0, NULL, "how long an auto-whitelist entry lives") \
    X(greylisting, awl_pool, SIZE, awl_pool, "10m", 0, 0, NULL, "not used: the auto-whitelist is kept with the whitelist records (store_size or Redis)") \
    X(greylisting, store_size, SIZE, store_size, "64m", 65536, 0, NULL, "memory cap of the embedded store; oldest entries go first")

#define RM_DIRS_limits(X)                                                      \
    X(limits, enable, FLAG, enable, "yes", 0, 0, NULL, "apply the rate limits") \
    X(limits, limit_to, BUCKET, limit_to, "0:0", 0, 0, NULL, "per recipient, burst:rate (messages per second)") \
    X(limits, limit_to_ip, BUCKET, limit_to_ip, "0:0", 0, 0, NULL, "per recipient and client IP") \
    X(limits, limit_to_ip_from, BUCKET, limit_to_ip_from, "0:0", 0, 0, NULL, "per recipient, client IP and sender") \
    X(limits, limit_bounce_to, BUCKET, limit_bounce_to, "0:0", 0, 0, NULL, "bounces per recipient") \
    X(limits, limit_bounce_to_ip, BUCKET, limit_bounce_to_ip, "0:0", 0, 0, NULL, "bounces per recipient and client IP") \
    X(limits, limit_whitelist, IPLIST, limit_whitelist, "", 0, 0, NULL, "clients that are never limited") \
    X(limits, limit_whitelist_rcpt, RCPTLIST, limit_whitelist_rcpt, "postmaster, mailer-daemon", 0, 0, NULL, "recipients that are never limited") \
    X(limits, limit_bounce_addrs, STRLIST, limit_bounce_addrs, "postmaster, mailer-daemon, symantec_antivirus_for_smtp_gateways, <>, null, fetchmail-daemon", 0, 0, NULL, "sender local parts that mark a bounce (the null sender always does)")

#define RM_DIRS_dkim(X)                                                        \
    X(dkim, enable, FLAG, enable, "yes", 0, 0, NULL, "sign outbound mail") \
    X(dkim, header_canon, ENUM, header_canon, "relaxed", 0, 0, "simple|relaxed", "header canonicalization") \
    X(dkim, body_canon, ENUM, body_canon, "relaxed", 0, 0, "simple|relaxed", "body canonicalization") \
    X(dkim, sign_alg, ENUM, sign_alg, "rsa-sha256", 0, 0, "rsa-sha256|rsa-sha1|ed25519-sha256|sha256|sha1", "signing algorithm (rsa-sha1 is accepted with a warning)") \
    X(dkim, auth_only, FLAG, auth_only, "yes", 0, 0, NULL, "sign only for authenticated senders and sign_networks") \
    X(dkim, sign_networks, IPLIST, sign_networks, "", 0, 0, NULL, "clients whose mail is signed without authentication") \
    X(dkim, sign_headers, STRLIST, sign_headers, "from, sender, reply-to, subject, date, message-id, to, cc, mime-version, content-type, content-transfer-encoding, resent-to, resent-cc, resent-from, resent-sender, resent-message-id, in-reply-to, references, list-id, list-owner, list-unsubscribe, list-subscribe, list-post", 0, 0, NULL, "headers covered by the signature") \
    X(dkim, fold_header, FLAG, fold_header, "no", 0, 0, NULL, "fold the DKIM-Signature header") \
    X(dkim, on_failure, ENUM, on_failure, "tempfail", 0, 0, RM_ON_FAILURE, "what to do when signing fails") \
    X(dkim, rspamd_sign, NOOP, rspamd_sign, "", 0, 0, "rspamd does not sign here; domain { } blocks do", "accepted for compatibility")

#define RM_DIRS_dkim_domain(X)                                                 \
    X(dkim_domain, domain, STR, domain, "", 0, 0, NULL, "the domain, or * for every domain (key is then a directory)") \
    X(dkim_domain, selector, STR, selector, "", 0, 0, NULL, "the selector") \
    X(dkim_domain, key, STR, key, "", 0, 0, NULL, "private key file, or a directory of <domain>.<selector>.key files")

#define RM_DIRS_spf(X)                                                         \
    X(spf, enable, FLAG, enable, "yes", 0, 0, NULL, "check SPF for spf_domains") \
    X(spf, domains, STRLIST, domains, "", 0, 0, NULL, "sender domains to check (* for all)") \
    X(spf, softfail, ENUM, softfail, "header", 0, 0, "header|tempfail|reject", "what a softfail result does") \
    X(spf, temperror, ENUM, temperror, "tempfail", 0, 0, "header|tempfail|reject", "what a temperror result does") \
    X(spf, permerror, ENUM, permerror, "header", 0, 0, "header|tempfail|reject", "what a permerror result does") \
    X(spf, add_header, FLAG, add_header, "yes", 0, 0, NULL, "add Received-SPF to checked messages")

#define RM_DIRS_karma(X)                                                       \
    X(karma, enable, FLAG, enable, "yes", 0, 0, NULL, "query reputation") \
    X(karma, servers, SERVERS, servers, "", 0, 0, "8666", "Karmasphere query servers") \
    X(karma, transport, ENUM, transport, "udp", 0, 0, "udp|tcp", "UDP (TCP when a query is too large) or always TCP") \
    X(karma, feedset, STR, feedset, "karmasphere.email-sender", 0, 0, NULL, "feedset (composite) to evaluate") \
    X(karma, feeds, STRLIST, feeds, "", 0, 0, NULL, "extra feeds to query") \
    X(karma, combiner, STR, combiner, "", 0, 0, NULL, "combiner to run") \
    X(karma, login, STR, login, "", 0, 0, NULL, "query credentials: user name") \
    X(karma, credential, STR, credential, "", 0, 0, NULL, "query credentials: password") \
    X(karma, timeout, TIME_S, timeout, "2s", 1, 60000, NULL, "deadline for the whole query") \
    X(karma, retries, INT, retries, "2", 0, 10, NULL, "UDP retransmissions within the deadline") \
    X(karma, error_time, TIME_S, error_time, "10s", 0, 0, NULL, "window in which maxerrors errors mark a server dead") \
    X(karma, dead_time, TIME_S, dead_time, "300s", 0, 0, NULL, "how long a dead server is left alone") \
    X(karma, maxerrors, INT, maxerrors, "10", 1, 1000000, NULL, "errors within error_time that mark a server dead") \
    X(karma, on_failure, ENUM, on_failure, "continue", 0, 0, RM_ON_FAILURE, "what to do when no server answers") \
    X(karma, pass_threshold, INT, pass_threshold, "300", -1000, 1000, NULL, "scores above this are good") \
    X(karma, fail_threshold, INT, fail_threshold, "-300", -1000, 1000, NULL, "scores below this are bad") \
    X(karma, reject_threshold, INT, reject_threshold, "-1001", -1001, 1000, NULL, "reject (550 5.7.1) below this score (-1001 = never)") \
    X(karma, tempfail_threshold, INT, tempfail_threshold, "-1001", -1001, 1000, NULL, "tempfail below this score (-1001 = never)") \
    X(karma, header, STR, header, "X-Karma", 0, 0, NULL, "header carrying the score and verdict") \
    X(karma, use_header_from, FLAG, use_header_from, "yes", 0, 0, NULL, "also query the header From domain") \
    X(karma, whitelist, IPLIST, whitelist, "", 0, 0, NULL, "clients that are not checked")

#define RM_DIRS_karma_dnslist(X)                                               \
    X(karma_dnslist, zone, STR, zone, "", 0, 0, NULL, "the list's DNS zone") \
    X(karma_dnslist, type, ENUM, type, "ip", 0, 0, "ip|domain", "ip: the client address; domain: HELO and sender domains") \
    X(karma_dnslist, weight, INT, weight, "-1000", -1000, 1000, NULL, "score a listing contributes") \
    X(karma_dnslist, listed, IPLIST, listed, "127.0.0.0/8", 0, 0, NULL, "answers that count as listed") \
    X(karma_dnslist, identities, STRLIST, identities, "helo, from", 0, 0, NULL, "for domain lists: which of helo, from, header_from")

#define RM_DIRS_dns(X)                                                         \
    X(dns, nameserver, SERVERS, nameserver, "", 0, 0, "53", "resolvers to ask (default: the system resolver)") \
    X(dns, timeout, TIME_S, timeout, "2s", 1, 60000, NULL, "deadline for one lookup") \
    X(dns, retries, INT, retries, "2", 0, 10, NULL, "retransmissions within the deadline")

#define RM_DIRS_dkim_domain_none(X)
#define RM_DIRS_rule(X)
#define RM_DIRS_memcached(X)

/* Old or alternative names: X(section, alias, directive) */
#define RM_ALIASES(X)                                                          \
    X(global, check_auth, strict_auth)                                         \
    X(spamd, tempfail_on_error, spamd_temp_fail)                               \
    X(limits, limit_whitelist_ip, limit_whitelist)                             \
    X(spf, spf_domains, domains)

/* clang-format on */

#endif
