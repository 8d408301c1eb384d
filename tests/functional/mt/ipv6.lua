-- ipv6.lua - clients with IPv6 addresses. The config has
--   rule { reject "v6 blocked"; connect /./ /^2001:db8::/; };
-- A client at 2001:db8::25 must get 554 5.7.1 v6 blocked at EOM; one at
-- 2001:db9::25 must pass.
dofile(mtdir .. "/common.lua")

local function message(conn, from)
  helo(conn, "v6.client")
  mailfrom(conn, "<" .. from .. ">")
  rcptto(conn, "<rcpt@example.test>")
  content(conn, std_headers(from, "ipv6 " .. from), "over IPv6\r\n")
end

local conn = open_conn("h6.test", "2001:db8::25")
message(conn, "v6a@example.org")
local r = eom(conn)
check(r == SMFIR_REPLYCODE or r == SMFIR_REJECT, "2001:db8::25 -> reject (got " .. replyname(r) .. ")")
check(mt.eom_check(conn, MT_SMTPREPLY, "554", "5.7.1", "v6 blocked"), "reply 554 5.7.1 v6 blocked")
mt.disconnect(conn)

conn = open_conn("h6.test", "2001:db9::25")
message(conn, "v6b@example.org")
check_accepted(conn, "2001:db9::25")
mt.disconnect(conn)
mt.echo("PASS")
