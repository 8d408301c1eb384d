-- basic.lua - one plain message that every config must accept
-- (-D qid=QUEUEID). Used to prove a daemon is (still) serving.
dofile(mtdir .. "/common.lua")

local conn = open_conn("basic.test", "192.0.2.30")
helo(conn, "basic.test")
mt.macro(conn, SMFIC_MAIL, "i", qid or "BASICQ")
mailfrom(conn, "<basic@example.org>")
rcptto(conn, "<rcpt@example.test>")
content(conn, std_headers("basic@example.org", "basic"), "Hello.\r\n")
check_accepted(conn, "basic")
mt.disconnect(conn)
mt.echo("PASS")
