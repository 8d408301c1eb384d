-- multi_rcpt.lua - one message, three recipients (-D qid=QUEUEID).
-- The middle recipient matches the add_header rule (envrcpt /^tagme@/), so
-- the rule must look at every recipient, not the first or the last only.
dofile(mtdir .. "/common.lua")

local conn = open_conn("multi.test", "192.0.2.10")
helo(conn, "multi.test")
mt.macro(conn, SMFIC_MAIL, "i", qid)
mailfrom(conn, "<multi@example.org>")
rcptto(conn, "<one@example.test>")
rcptto(conn, "<tagme@example.test>")
rcptto(conn, "<three@example.test>")
content(conn, std_headers("multi@example.org", "three recipients"), "Hello, three of you.\r\n")
check_accepted(conn, "multi")
check(header_added(conn, "X-Rule", "matched"), "X-Rule: matched added")
mt.disconnect(conn)
mt.echo("PASS")
