#!/usr/bin/python3
"""milter_client.py - a scriptable MTA side of the milter protocol (v6).

What it is for: the functional tests need things miltertest cannot do --
QUIT_NC (one connection reused for a second SMTP session), raw garbage on the
socket, and a session held open while the test reloads the daemon. This
client speaks the wire protocol itself (python3 standard library only) and
runs a small script of steps, one per line, read from -f FILE or stdin:

    negotiate [VERSION [ACTIONS [PROTOCOL]]]   defaults: 6 0x1ff 0x1fffff
    macro STAGE NAME VALUE [NAME VALUE ...]    STAGE: C H M R T L N B E
    connect HOST FAMILY PORT ADDR              FAMILY: 4 6 L U (U: no port/addr)
    helo NAME
    mail ADDR [ESMTP-ARG ...]
    rcpt ADDR [ESMTP-ARG ...]
    data
    header NAME VALUE                          the header "NAME: VALUE" (with
                                               SMFIP_HDR_LEADSPC sent as " VALUE")
    rawheader NAME VALUE                       VALUE exactly as given
    eoh
    body TEXT                                  \\r \\n \\t \\xNN escapes
    eom
    abort | quit | quit_nc
    unknown CMD
    raw HEX                                    send these bytes, read nothing
                                               (a peer that closed is no error)
    shutdown                                   half-close: no more data from us
    packet CMDCHAR HEX                         a well-formed packet, read nothing
    read                                       read one reply packet and print it
    expect REGEX                               the last step's replies (one per
                                               line) must match (re.search, M)
    expect_close [SECONDS]                     the daemon must close the socket
    touch PATH | wait_file PATH [SECONDS] | sleep SECONDS
    echo TEXT

Lines are split like a shell (shlex); '#' starts a comment. Every reply is
printed as "STEP: REPLY", e.g. "mail: continue", "eom: addheader X-Rule:
matched", "eom: replycode 554 5.7.1 No spam" (a header change reads as
the MTA writes it: "NAME: VALUE" without SMFIP_HDR_LEADSPC, "NAME:VALUE"
with it, where the milter sends the space). Steps the milter negotiated
away (SMFIP_NO*) print "STEP: skipped"; steps with SMFIP_NR_* print
"STEP: noreply".

Exit status: 0 ok, 2 connection/protocol error, 3 an expect failed,
4 a read timed out.

    milter_client.py -s unix:/path/sock [-t TIMEOUT] [-f SCRIPT]
    milter_client.py -s inet:PORT@127.0.0.1 ...
"""

import argparse
import os
import re
import shlex
import socket
import struct
import sys
import time

# commands (MTA -> milter)
SMFIC = {
    "abort": b"A", "body": b"B", "connect": b"C", "macro": b"D", "eom": b"E",
    "helo": b"H", "quit_nc": b"K", "header": b"L", "mail": b"M", "eoh": b"N",
    "negotiate": b"O", "quit": b"Q", "rcpt": b"R", "data": b"T",
    "unknown": b"U",
}
# SMFIP_* protocol flags
NOCONNECT, NOHELO, NOMAIL, NORCPT = 0x1, 0x2, 0x4, 0x8
NOBODY, NOHDRS, NOEOH, NR_HDR = 0x10, 0x20, 0x40, 0x80
NOUNKNOWN, NODATA = 0x100, 0x200
HDR_LEADSPC = 0x100000
NR_CONN, NR_HELO, NR_MAIL, NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
NR_DATA, NR_UNKN, NR_EOH, NR_BODY = 0x10000, 0x20000, 0x40000, 0x80000
# step -> (flag that removes the step, flag that removes its reply)
STEP_FLAGS = {
    "connect": (NOCONNECT, NR_CONN), "helo": (NOHELO, NR_HELO),
    "mail": (NOMAIL, NR_MAIL), "rcpt": (NORCPT, NR_RCPT),
    "data": (NODATA, NR_DATA), "header": (NOHDRS, NR_HDR),
    "eoh": (NOEOH, NR_EOH), "body": (NOBODY, NR_BODY),
    "unknown": (NOUNKNOWN, NR_UNKN), "eom": (0, 0),
}
FINAL = set(b"acrtdy4f")  # replies that end a stage


class Fail(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def unescape(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


def cstr(*parts):
    out = b""
    for p in parts:
        out += (p if isinstance(p, bytes) else p.encode()) + b"\0"
    return out


def split0(b):
    parts = b.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "replace") for p in parts]


def describe(cmd, data, leadspc=False):
    """one reply packet as text (leadspc: SMFIP_HDR_LEADSPC negotiated)"""
    c = chr(cmd)
    sep = "" if leadspc else " "
    if c == "a":
        return "accept"
    if c == "c":
        return "continue"
    if c == "r":
        return "reject"
    if c == "t":
        return "tempfail"
    if c == "d":
        return "discard"
    if c == "s":
        return "skip"
    if c == "p":
        return "progress"
    if c == "4":
        return "shutdown"
    if c == "f":
        return "connfail"
    if c == "y":
        return "replycode " + data.rstrip(b"\0").decode("utf-8", "replace")
    if c == "q":
        return "quarantine " + " ".join(split0(data))
    if c == "h":
        n = split0(data) + ["", ""]
        return "addheader %s:%s%s" % (n[0], sep, n[1])
    if c in "im":
        idx = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else -1
        n = split0(data[4:]) + ["", ""]
        kind = "insheader" if c == "i" else "chgheader"
        return "%s %d %s:%s%s" % (kind, idx, n[0], sep, n[1])
    if c == "+":
        return "addrcpt " + " ".join(split0(data))
    if c == "2":
        return "addrcpt_par " + " ".join(split0(data))
    if c == "-":
        return "delrcpt " + " ".join(split0(data))
    if c == "e":
        return "chgfrom " + " ".join(split0(data))
    if c == "b":
        return "replbody %d %r" % (len(data), data[:60])
    return "unknown-reply %r %r" % (c, data[:60])


class Client:
    def __init__(self, spec, timeout):
        self.timeout = timeout
        self.proto = 0  # negotiated SMFIP_* flags
        self.last = []  # replies of the last step
        self.sock = self._connect(spec)

    @staticmethod
    def _connect(spec):
        if spec.startswith(("unix:", "local:")):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = spec.split(":", 1)[1]
        elif spec.startswith(("inet:", "inet6:")):
            kind, rest = spec.split(":", 1)
            port, host = rest.split("@", 1) if "@" in rest else (rest, "127.0.0.1")
            fam = socket.AF_INET6 if kind == "inet6" else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            addr = (host.strip("[]"), int(port))
        else:
            raise Fail(2, "bad socket spec %r" % spec)
        s.settimeout(10)
        for _ in range(100):
            try:
                s.connect(addr)
                return s
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.05)
        raise Fail(2, "cannot connect to %s" % spec)

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _recvn(self, n, timeout):
        self.sock.settimeout(timeout)
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise Fail(4, "timeout after %ss waiting for a reply" % timeout)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Fail(2, "connection closed by the milter")
            buf += chunk
        return buf

    def read(self):
        n = struct.unpack(">I", self._recvn(4, self.timeout))[0]
        if n == 0 or n > 64 * 1024 * 1024:
            raise Fail(2, "bad reply length %d" % n)
        pkt = self._recvn(n, self.timeout)
        return pkt[0], pkt[1:]

    def replies(self, step):
        """read until a final reply (progress and EOM actions come first)"""
        out = []
        while True:
            cmd, data = self.read()
            text = describe(cmd, data, bool(self.proto & HDR_LEADSPC))
            print("%s: %s" % (step, text), flush=True)
            out.append(text)
            if cmd in FINAL:
                return out

    def command(self, step, data=b""):
        no, nr = STEP_FLAGS.get(step, (0, 0))
        if no and self.proto & no:
            print("%s: skipped" % step, flush=True)
            self.last = ["skipped"]
            return
        self.send(SMFIC[step], data)
        if nr and self.proto & nr:
            print("%s: noreply" % step, flush=True)
            self.last = ["noreply"]
            return
        self.last = self.replies(step)

    def negotiate(self, version=6, actions=0x1FF, protocol=0x1FFFFF):
        self.send(b"O", struct.pack(">III", version, actions, protocol))
        cmd, data = self.read()
        if chr(cmd) != "O" or len(data) < 12:
            raise Fail(2, "negotiate: unexpected reply %r" % describe(cmd, data))
        ver, act, proto = struct.unpack(">III", data[:12])
        self.proto = proto
        line = "negotiate: version %d actions 0x%x protocol 0x%x" % (ver, act, proto)
        rest = data[12:]
        while len(rest) >= 4:  # SMFIR_SETSYMLIST: (where, "macro list")
            where = struct.unpack(">I", rest[:4])[0]
            names = split0(rest[4:])
            lst = names[0] if names else ""
            line += " symlist %d=%r" % (where, lst)
            rest = rest[4 + len(lst.encode()) + 1:]
        print(line, flush=True)
        self.last = [line]

    def expect_close(self, timeout):
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                print("expect_close: closed", flush=True)
                return
            print("expect_close: got %d bytes" % len(chunk), flush=True)
        raise Fail(3, "expect_close: still open after %ss" % timeout)


def run(client, lines):
    for lineno, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        op, args = words[0], words[1:]
        try:
            if op == "negotiate":
                nums = [int(a, 0) for a in args] + [6, 0x1FF, 0x1FFFFF][len(args):]
                client.negotiate(*nums[:3])
            elif op == "macro":
                stage = args[0].encode()
                client.send(b"D", stage + cstr(*args[1:]))
            elif op == "connect":
                host, fam = args[0], args[1]
                if fam == "U":
                    data = cstr(host) + b"U"
                else:
                    data = cstr(host) + fam.encode() + struct.pack(">H", int(args[2])) + cstr(args[3])
                client.command("connect", data)
            elif op in ("helo", "unknown"):
                client.command(op, cstr(args[0]))
            elif op in ("mail", "rcpt"):
                client.command(op, cstr(*args))
            elif op == "header":
                # as an MTA sends "NAME: VALUE"
                lead = " " if client.proto & HDR_LEADSPC else ""
                client.command("header", cstr(args[0], lead + args[1]))
            elif op == "rawheader":
                client.command("header", cstr(args[0], args[1]))
            elif op in ("data", "eoh", "eom"):
                client.command(op)
            elif op == "body":
                client.command("body", unescape(args[0]))
            elif op in ("abort", "quit", "quit_nc"):
                try:
                    client.send(SMFIC[op])
                    print("%s: sent" % op, flush=True)
                except (BrokenPipeError, ConnectionResetError):
                    if op != "quit":
                        raise
                    # the milter may close first after the last message
                    print("quit: peer has closed", flush=True)
            elif op == "raw":
                try:
                    client.sock.sendall(bytes.fromhex("".join(args)))
                    print("raw: sent", flush=True)
                except (BrokenPipeError, ConnectionResetError):
                    # the milter already closed: what expect_close wants
                    print("raw: peer has closed", flush=True)
            elif op == "shutdown":
                client.sock.shutdown(socket.SHUT_WR)
                print("shutdown: sent", flush=True)
            elif op == "packet":
                client.send(args[0].encode(), bytes.fromhex("".join(args[1:])))
                print("packet: sent", flush=True)
            elif op == "read":
                cmd, data = client.read()
                client.last = [describe(cmd, data, bool(client.proto & HDR_LEADSPC))]
                print("read: %s" % client.last[0], flush=True)
            elif op == "expect":
                text = "\n".join(client.last)
                if not re.search(args[0], text, re.M):
                    raise Fail(3, "line %d: expected /%s/, got %r" % (lineno, args[0], text))
                print("expect: ok /%s/" % args[0], flush=True)
            elif op == "expect_close":
                client.expect_close(float(args[0]) if args else 10.0)
            elif op == "touch":
                with open(args[0], "a"):
                    pass
            elif op == "wait_file":
                limit = time.monotonic() + (float(args[1]) if len(args) > 1 else 30.0)
                while not os.path.exists(args[0]):
                    if time.monotonic() > limit:
                        raise Fail(4, "wait_file %s: timed out" % args[0])
                    time.sleep(0.02)
                print("wait_file: %s" % args[0], flush=True)
            elif op == "sleep":
                time.sleep(float(args[0]))
            elif op == "echo":
                print(" ".join(args), flush=True)
            else:
                raise Fail(2, "line %d: unknown step %r" % (lineno, op))
        except Fail as e:
            raise Fail(e.code, "%s (step %d: %s)" % (e, lineno, line.strip()))
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Fail(2, "line %d (%s): %s" % (lineno, op, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-s", "--socket", required=True)
    ap.add_argument("-t", "--timeout", type=float, default=10.0)
    ap.add_argument("-f", "--file")
    opt = ap.parse_args()
    lines = (open(opt.file) if opt.file else sys.stdin).read().splitlines()
    try:
        client = Client(opt.socket, opt.timeout)
        run(client, lines)
    except Fail as e:
        print("ERROR: %s" % e, flush=True)
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
