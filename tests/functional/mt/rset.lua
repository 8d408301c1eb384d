-- rset.lua - RSET (ABORT) between transactions on one connection
-- (-D qid2=Q2 -D qid3=Q3).
-- 1st transaction: recipients leak@ and x2@, then ABORT before DATA.
-- 2nd transaction: recipient y@ only; must be accepted (the config rejects
--   mail to leak@, so a recipient leaked from the 1st transaction would
--   reject it).
-- 3rd attempt: headers (X-Test-Action: discard) and a body (QUARANTINE-ME)
--   that match rules, then ABORT; 4th: a clean message, which must be
--   accepted with no quarantine: header and body state must not leak either.
dofile(mtdir .. "/common.lua")

local conn = open_conn("rset.test", "192.0.2.11")
helo(conn, "rset.test")
mailfrom(conn, "<first@example.org>")
rcptto(conn, "<leak@example.test>")
rcptto(conn, "<x2@example.test>")
check(mt.abort(conn) == nil, "abort after RCPT")

mt.macro(conn, SMFIC_MAIL, "i", qid2)
mailfrom(conn, "<second@example.org>")
rcptto(conn, "<y@example.test>")
content(conn, std_headers("second@example.org", "after rset"), "second transaction\r\n")
check_accepted(conn, "2nd transaction")

mailfrom(conn, "<third@example.org>")
rcptto(conn, "<z@example.test>")
local h = std_headers("third@example.org", "aborted content")
table.insert(h, { "X-Test-Action", "discard" })
content(conn, h, "QUARANTINE-ME\r\n")
check(mt.abort(conn) == nil, "abort after BODY")

mt.macro(conn, SMFIC_MAIL, "i", qid3)
mailfrom(conn, "<fourth@example.org>")
rcptto(conn, "<w@example.test>")
content(conn, std_headers("fourth@example.org", "clean after abort"), "clean\r\n")
check_accepted(conn, "4th transaction")
check(not mt.eom_check(conn, MT_QUARANTINE), "4th transaction not quarantined")
mt.disconnect(conn)
mt.echo("PASS")
