-- greylist_masks.lua - greylisting triplets from varying client addresses.
-- The config has greylisting { timeout = 1s; whitelist = 203.0.113.0/24; }
-- with the default masks (IPv4 /24, IPv6 /64). Each step is one message
-- from <s@sender.example> to <r@example.test>, answered at DATA:
--   192.0.2.10       tempfail (new)
--   192.0.2.99       tempfail (the same /24: too early)
--   198.51.100.10    tempfail (another network: new)
--   2001:db8:1:2::1  tempfail (new), 2001:db8:1:2::ffff tempfail (the
--                    same /64: too early), 2001:db8:1:3::1 tempfail (new)
--   203.0.113.5      continue (greylisting { whitelist })
--   after 1.3 s: 192.0.2.200 continue (the /24's triplet passed)
dofile(mtdir .. "/common.lua")

local function at_data(ip, want)
  local conn = open_conn("grey.test", ip)
  helo(conn, "grey.test")
  mailfrom(conn, "<s@sender.example>")
  rcptto(conn, "<r@example.test>")
  check(mt.data(conn) == nil, "data from " .. ip)
  local r = mt.getreply(conn)
  if want == "tempfail" then
    check(r == SMFIR_REPLYCODE or r == SMFIR_TEMPFAIL,
          ip .. " -> tempfail at DATA (got " .. replyname(r) .. ")")
  else
    check(r == SMFIR_CONTINUE, ip .. " -> continue at DATA (got " .. replyname(r) .. ")")
  end
  mt.disconnect(conn)
end

at_data("192.0.2.10", "tempfail")
at_data("192.0.2.99", "tempfail")
at_data("198.51.100.10", "tempfail")
at_data("2001:db8:1:2::1", "tempfail")
at_data("2001:db8:1:2::ffff", "tempfail")
at_data("2001:db8:1:3::1", "tempfail")
at_data("203.0.113.5", "continue")
mt.sleep(1.3)
at_data("192.0.2.200", "continue")
mt.echo("PASS")
