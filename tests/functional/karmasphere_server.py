#!/usr/bin/env python3
"""karmasphere_server.py - a Karmasphere-compatible BQuery test server.

Written from the protocol description (research/karmasphere.md sections 2
to 6 and 8), not from any server code: Karmasphere shut down around 2009
and its server was never published. Python 3 standard library only.

  karmasphere_server.py --port 8666 [--addr 127.0.0.1] [--table FILE]
                        [--feedset NAME ...] [--login U --credential P]
                        [--mode MODE | --mode-file FILE] [--delay-ms N]
                        [--udp-max 1024] [--log FILE] [--pidfile FILE]

Transport: UDP and TCP on the same port. UDP: one bare bencoded dictionary
per datagram, the reply goes back to the sender's address. TCP: every
message is a 4-byte big-endian length and that many bytes; connections are
persistent (several queries per connection; replies matched by id); a
frame of 64 KiB or more closes the connection.

Queries: short or long keys (_ / a auth / i ids / s composites / f feeds /
c combiners / fl flags), integer or string ids and identity types (the
legacy integers 0..4), s and c as a string or a list; unknown keys are
ignored. The id (_) is echoed with its type.

Verdicts come from a table (CSV, one "identity,value,data" per line, the
Perl "score" feed format: value defaults to 1000, data to ""; '#' starts a
comment). An identity is an IP address or CIDR network
("192.0.2.0/24", "127/8"), a domain (matches itself and its subdomains,
and the domain of an email identity), or an exact email address. Built in,
as every real list had them: 127.0.0.2 -> -1000 "TEST record", and
127.0.0.1 -> 0 (never listed). The combiner of every requested feedset
(and of "default" when none is named) takes the most negative value among
the identities that match, else the most positive, else 0 with an empty
explanation. Facts are returned only with fl & 1. A UDP reply longer than
--udp-max loses its facts and gets message=Truncated.

Credentials (optional): with --login, a query must carry a = [login,
credential]; otherwise the reply is error=1 message="Incorrect user and/or
password.".

Modes (--mode, or the first word of --mode-file, re-read on every query so
a test can switch without a restart):
  normal    answer as above
  silent    read queries, never answer (a server that died behind a
            firewall; the client must time out)
  garbage   answer with bytes that are not bencode
  badtype   answer with a dictionary whose c is a list
  wrongid   answer with another id (the client must ignore it)
  error     answer error=1 message="Service unavailable"
  slow      answer after --delay-ms (default 300)

--log FILE gets one JSON line per query received: transport, peer, id,
identities, feedsets, auth, flags, and the mode it was answered in.
"""

import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

# --------------------------------------------------------------- bencode


class BencodeError(ValueError):
    pass


def bdecode(data):
    """Decode exactly one value filling data (bytes)."""
    val, pos = _bdec(data, 0, 0)
    if pos != len(data):
        raise BencodeError("trailing bytes at %d" % pos)
    return val


def _bdec(d, i, depth):
    if depth > 32:
        raise BencodeError("too deep")
    if i >= len(d):
        raise BencodeError("truncated")
    c = d[i:i + 1]
    if c == b"i":
        j = d.index(b"e", i)
        s = d[i + 1:j]
        if not s or s in (b"-", b"-0") or (s.lstrip(b"-")[:1] == b"0" and len(s.lstrip(b"-")) > 1):
            raise BencodeError("bad integer %r" % s)
        return int(s), j + 1
    if c == b"l":
        out, i = [], i + 1
        while d[i:i + 1] != b"e":
            v, i = _bdec(d, i, depth + 1)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while d[i:i + 1] != b"e":
            k, i = _bdec(d, i, depth + 1)
            if not isinstance(k, bytes):
                raise BencodeError("key not a string")
            v, i = _bdec(d, i, depth + 1)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = d.index(b":", i)
        n = int(d[i:j])
        if d[i:i + 1] == b"0" and j - i > 1:
            raise BencodeError("leading zero")
        if j + 1 + n > len(d):
            raise BencodeError("truncated string")
        return d[j + 1:j + 1 + n], j + 1 + n
    raise BencodeError("unexpected byte %r at %d" % (c, i))


def bencode(v):
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def text(v):
    """An int or a string, as str (the Perl encoder sent digits as ints)."""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    raise BencodeError("expected text, got %s" % type(v).__name__)


def get(q, short, long):
    return q[short] if short in q else q.get(long)


def strlist(v):
    if v is None:
        return []
    if isinstance(v, list):
        return [text(x) for x in v]
    return [text(v)]


ID_TYPES = {"0": "ip4", "1": "ip6", "2": "domain", "3": "email", "4": "url"}

# ----------------------------------------------------------------- table


class Table:
    def __init__(self, path):
        self.rows = [("127.0.0.2", -1000, "TEST record"), ("127.0.0.1", 0, "")]
        self.path = path
        if path:
            with open(path) as f:
                for line in f:
                    line = line.split("#", 1)[0].strip()
                    if not line:
                        continue
                    parts = [p.strip() for p in line.split(",", 2)]
                    ident = parts[0]
                    value = int(parts[1]) if len(parts) > 1 and parts[1] else 1000
                    data = parts[2] if len(parts) > 2 else ""
                    self.rows.insert(0, (ident, value, data))

    @staticmethod
    def _net(s):
        if "/" in s and s.split("/")[0].isdigit() and "." not in s.split("/")[0]:
            s = s.split("/")[0] + ".0.0.0/" + s.split("/")[1]  # 127/8
        return ipaddress.ip_network(s, strict=False)

    def lookup(self, data, typ):
        """(value, data) of the first row that matches, or None."""
        d = data.lower()
        for ident, value, why in self.rows:
            il = ident.lower()
            if typ in ("ip4", "ip6"):
                try:
                    if ipaddress.ip_address(d) in self._net(il):
                        return value, why
                except ValueError:
                    continue
            elif typ == "domain":
                if d == il or d.endswith("." + il):
                    return value, why
            elif typ == "email":
                dom = d.rsplit("@", 1)[-1]
                if d == il or dom == il or dom.endswith("." + il):
                    return value, why
            elif d == il:
                return value, why
        return None


# ---------------------------------------------------------------- server


class Server:
    def __init__(self, a):
        self.a = a
        self.table = Table(a.table)
        self.lock = threading.Lock()
        self.started = time.monotonic()

    def mode(self):
        if self.a.mode_file:
            try:
                with open(self.a.mode_file) as f:
                    w = f.read().split()
                    if w:
                        return w[0]
            except OSError:
                pass
        return self.a.mode

    def log(self, rec):
        if not self.a.log:
            return
        with self.lock, open(self.a.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def answer(self, raw, transport, peer):
        """The reply bytes for one query, or None for no reply."""
        t0 = time.monotonic()
        mode = self.mode()
        rec = {"transport": transport, "peer": peer, "bytes": len(raw), "mode": mode}
        try:
            q = bdecode(raw)
            if not isinstance(q, dict):
                raise BencodeError("query is not a dictionary")
        except (BencodeError, ValueError) as e:
            rec["error"] = str(e)
            self.log(rec)
            return bencode({"error": 1, "message": "Malformed packet: %s" % e})
        qid = q.get(b"_", b"")
        rec["id"] = text(qid) if isinstance(qid, (int, bytes)) else None
        ids = []
        for ent in get(q, b"i", b"ids") or []:
            if not isinstance(ent, list) or len(ent) < 2:
                continue
            typ = text(ent[1])
            typ = ID_TYPES.get(typ, typ)
            ids.append((text(ent[0]), typ, [text(x) for x in ent[2:]]))
        feedsets = strlist(get(q, b"s", b"composites"))
        combiners = strlist(get(q, b"c", b"combiners"))
        feeds = strlist(get(q, b"f", b"feeds"))
        flags = get(q, b"fl", b"flags") or 0
        flags = int(text(flags)) if not isinstance(flags, int) else flags
        auth = get(q, b"a", b"auth")
        rec.update(identities=[[d, t] + tags for d, t, tags in ids], feedsets=feedsets,
                   combiners=combiners, feeds=feeds, flags=flags,
                   auth=[text(x) for x in auth] if isinstance(auth, list) else None)
        self.log(rec)

        if mode == "silent":
            return None
        if mode == "slow":
            time.sleep(self.a.delay_ms / 1000.0)
        if mode == "garbage":
            return b"this is not bencode \x00\xff"
        if mode == "badtype":
            return bencode({"_": qid, "c": [1, 2, 3]})
        if mode == "wrongid":
            return bencode({"_": b"not-" + (qid if isinstance(qid, bytes) else str(qid).encode()),
                            "c": {"default": {"v": 1000, "d": "wrong id"}}})
        if mode == "error":
            return bencode({"_": qid, "error": 1, "message": "Service unavailable"})
        if self.a.login is not None:
            ok = (isinstance(auth, list) and len(auth) == 2 and text(auth[0]) == self.a.login
                  and text(auth[1]) == (self.a.credential or ""))
            if not ok:
                return bencode({"_": qid, "error": 1,
                                "message": "Incorrect user and/or password."})

        facts, worst, best = [], None, None
        for data, typ, _tags in ids:
            hit = self.table.lookup(data, typ)
            if hit is None:
                continue
            value, why = hit
            facts.append({"f": "test.table", "i": data, "v": value,
                          "d": why or "listed in the test table"})
            if value < 0 and (worst is None or value < worst[0]):
                worst = (value, "test.table: %s => %d%s" % (data, value, " (%s)" % why if why else ""))
            if value > 0 and (best is None or value > best[0]):
                best = (value, "test.table: %s => %d%s" % (data, value, " (%s)" % why if why else ""))
        verdict = worst or best or (0, "")
        names = feedsets + combiners or ["default"]
        reply = {"_": qid,
                 "c": {n: {"v": verdict[0], "d": verdict[1]} for n in names},
                 "t": int((time.monotonic() - t0) * 1000)}
        if flags & 1:
            reply["f"] = facts
        out = bencode(reply)
        if transport == "udp" and len(out) > self.a.udp_max:
            reply.pop("f", None)
            reply["message"] = "Truncated"
            out = bencode(reply)
        return out

    # --- UDP
    def serve_udp(self, sock):
        while True:
            try:
                raw, peer = sock.recvfrom(65535)
            except OSError:
                return
            out = self.answer(raw, "udp", "%s:%d" % peer[:2])
            if out is not None:
                try:
                    sock.sendto(out, peer)
                except OSError:
                    pass

    # --- TCP
    def serve_tcp_conn(self, conn, peer):
        conn.settimeout(60)
        try:
            while True:
                hdr = self._read(conn, 4)
                if hdr is None:
                    return
                (n,) = struct.unpack(">I", hdr)
                if n >= 65536:
                    return  # the top two bytes must be 0: not a BQuery client
                raw = self._read(conn, n)
                if raw is None:
                    return
                out = self.answer(raw, "tcp", "%s:%d" % peer[:2])
                if out is not None:
                    conn.sendall(struct.pack(">I", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def serve_tcp(self, ls):
        while True:
            try:
                conn, peer = ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve_tcp_conn, args=(conn, peer), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8666)
    p.add_argument("--table")
    p.add_argument("--login")
    p.add_argument("--credential")
    p.add_argument("--mode", default="normal",
                   choices=["normal", "silent", "garbage", "badtype", "wrongid", "error", "slow"])
    p.add_argument("--mode-file")
    p.add_argument("--delay-ms", type=int, default=300)
    p.add_argument("--udp-max", type=int, default=1024)
    p.add_argument("--log")
    p.add_argument("--pidfile")
    a = p.parse_args()

    srv = Server(a)
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    us = socket.socket(fam, socket.SOCK_DGRAM)
    us.bind((a.addr, a.port))
    ts = socket.socket(fam, socket.SOCK_STREAM)
    ts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ts.bind((a.addr, a.port))
    ts.listen(64)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=srv.serve_tcp, args=(ts,), daemon=True).start()
    sys.stderr.write("karmasphere_server: udp+tcp %s:%d, %d table rows, mode %s\n"
                     % (a.addr, a.port, len(srv.table.rows), srv.mode()))
    sys.stderr.flush()
    srv.serve_udp(us)


if __name__ == "__main__":
    main()
