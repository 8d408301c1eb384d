-- no_macros.lua - an MTA that sends no macros at all (no j, no i, no
-- {client_addr}, no {mail_addr}, ...), and a client of unknown address
-- family. Every stage must still work: the messages are accepted and the
-- recipient rule still adds its header.
dofile(mtdir .. "/common.lua")

local conn = open_conn("nomacro.test", "192.0.2.20")
helo(conn, "nomacro.test")
mailfrom(conn, "<nomacro@example.org>")
rcptto(conn, "<tagme@example.test>")
content(conn, std_headers("nomacro@example.org", "no macros"), "no macros at all\r\n")
check_accepted(conn, "no macros")
check(header_added(conn, "X-Rule", "matched"), "X-Rule: matched added without macros")
mt.disconnect(conn)

conn = open_conn(nil, "unspec")
mailfrom(conn, "<unspec@example.org>")
rcptto(conn, "<rcpt@example.test>")
content(conn, std_headers("unspec@example.org", "unknown family"), "unknown family\r\n")
check_accepted(conn, "unknown address family, no HELO")
mt.disconnect(conn)
mt.echo("PASS")
