-- common.lua - helpers for the miltertest scripts of the functional tests.
-- Loaded with dofile(mtdir .. "/common.lua"); run_mt (lib.sh) passes
-- -D sock=<the daemon's socket> and -D mtdir=<this directory>.
--
-- Every check prints "ok   <what>" or raises "FAIL: <what>", which makes
-- miltertest exit 1 (and run_mt report the output). Steps the milter
-- negotiated away (SMFIP_NO*) are skipped, and replies it said it won't
-- send (SMFIP_NR_*) are not waited for: miltertest raises a silent Lua
-- error for both otherwise.
--
-- SMFIP_HDR_LEADSPC: when the milter negotiated it, header values travel
-- exactly as written after the colon, both ways. These helpers then act as
-- an MTA does for "Name: value": content() sends " value", and
-- header_added() expects the milter to send " value" (the MTA writes
-- "Name:" and the value with nothing in between).

local names = {}
for _, n in ipairs({ "SMFIR_ACCEPT", "SMFIR_CONTINUE", "SMFIR_DISCARD",
    "SMFIR_REJECT", "SMFIR_TEMPFAIL", "SMFIR_REPLYCODE", "SMFIR_QUARANTINE",
    "SMFIR_SKIP", "SMFIR_PROGRESS" }) do
  if _G[n] ~= nil then names[_G[n]] = n end
end

function replyname(r)
  return names[r] or ("reply " .. tostring(r))
end

function check(cond, what)
  if not cond then
    -- miltertest does not always print a script's error message: say it
    mt.echo("FAIL " .. what)
    error("FAIL: " .. what)
  end
  mt.echo("ok   " .. what)
end

-- step(conn, NOFLAG, NRFLAG, what, fn, args...): one SMTP stage
function step(conn, noflag, nrflag, what, fn, ...)
  if noflag and mt.test_option(conn, noflag) then
    mt.echo("skip " .. what .. " (negotiated away)")
    return
  end
  local err = fn(conn, ...)
  check(err == nil, what .. (err and (": " .. tostring(err)) or ""))
  if nrflag and not mt.test_option(conn, nrflag) then
    local r = mt.getreply(conn)
    check(r == SMFIR_CONTINUE, what .. " -> continue (got " .. replyname(r) .. ")")
  end
end

-- open_conn(host, ip): connect to the daemon and send the connection info
-- (ip "unspec" = an unknown protocol family)
function open_conn(host, ip)
  local conn = mt.connect(sock, 50, 0.1)
  check(conn ~= nil, "connect to " .. sock)
  step(conn, SMFIP_NOCONNECT, SMFIP_NR_CONN, "conninfo " .. tostring(host) .. " " .. ip,
       mt.conninfo, host, ip)
  return conn
end

function helo(conn, name) step(conn, SMFIP_NOHELO, SMFIP_NR_HELO, "helo " .. name, mt.helo, name) end
function mailfrom(conn, addr) step(conn, SMFIP_NOMAIL, SMFIP_NR_MAIL, "mail " .. addr, mt.mailfrom, addr) end
function rcptto(conn, addr) step(conn, SMFIP_NORCPT, SMFIP_NR_RCPT, "rcpt " .. addr, mt.rcptto, addr) end

-- leadspc(conn): header values carry their leading space (see above)
function leadspc(conn)
  return SMFIP_HDR_LEADSPC ~= nil and mt.test_option(conn, SMFIP_HDR_LEADSPC)
end

-- content(conn, headers, body): headers = { {name, value}, ... }, each
-- sent as the header "name: value" is
function content(conn, headers, body)
  for _, h in ipairs(headers) do
    local v = leadspc(conn) and (" " .. h[2]) or h[2]
    step(conn, SMFIP_NOHDRS, SMFIP_NR_HDR, "header " .. h[1], mt.header, h[1], v)
  end
  step(conn, SMFIP_NOEOH, SMFIP_NR_EOH, "eoh", mt.eoh)
  step(conn, SMFIP_NOBODY, SMFIP_NR_BODY, "body", mt.bodystring, body)
end

function std_headers(from, subject)
  return {
    { "From", from }, { "To", "rcpt@example.test" }, { "Subject", subject },
    { "Date", "Sat, 21 Nov 2026 12:00:00 +0000" },
    { "Message-ID", "<" .. subject:gsub("%W", "") .. "@example.org>" },
  }
end

-- eom(conn): end of message; returns the final reply
function eom(conn)
  check(mt.eom(conn) == nil, "eom")
  return mt.getreply(conn)
end

function check_accepted(conn, what)
  local r = eom(conn)
  check(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, what .. ": eom -> accept/continue (got " .. replyname(r) .. ")")
end

-- header_added(conn, name, value): the milter added "name: value"
function header_added(conn, name, value)
  if leadspc(conn) then value = " " .. value end
  return mt.eom_check(conn, MT_HDRADD, name, value) or mt.eom_check(conn, MT_HDRINSERT, name, value)
end
