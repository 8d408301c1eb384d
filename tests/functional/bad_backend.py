#!/usr/bin/env python3
"""bad_backend.py - a backend that misbehaves on demand, for the fault tests.

It sits in front of a real backend (redis, clamd, spamd, rspamd, beanstalkd,
a karma server, a DNS server) on its own loopback port and, in its healthy
mode, passes every byte through both ways, so the daemon under test talks to
the real thing. Switched to a fault mode, it behaves like a broken backend
of any protocol. Python 3 standard library only.

  bad_backend.py --port PORT [--proto tcp|udp|both] [--upstream HOST:PORT]
                 --mode-file FILE [--delay SECONDS] [--log FILE]
                 [--pidfile FILE]

Modes (the first word of --mode-file, polled every 50 ms; once a change is
applied, FILE.ack holds the new mode, so a test can wait for it):
  proxy     forward to --upstream (TCP: a new upstream connection per
            accepted one; UDP: each datagram, replies sent back)
  slow      like proxy, but every reply is held back --delay seconds
  stall     TCP: accept, read and discard, never answer, never close
            (until the peer does); UDP: read and drop
  garbage   TCP: answer every chunk received with junk that is no valid
            reply in any protocol here (RESP, clamd, SPAMD, HTTP,
            beanstalk, bencode), keep the connection open; UDP: a
            datagram with the query's first two bytes (a DNS id) and junk
  close     TCP: accept and close at once; UDP: same as stall
  down      the listening sockets are closed: TCP connects are refused,
            UDP datagrams get ICMP port unreachable; reopened on the next
            mode change (a stopped backend)

The mode applies to connections already open too, chunk by chunk: a
connection the daemon pooled while the backend was healthy stalls, gets
junk or is closed (close, down) as soon as the mode changes.

--log FILE gets one line per event: "tcp MODE" per accepted connection,
"udp MODE" per datagram, "fwd tcp|udp MODE" per request passed to the
upstream (the backend really was asked), "upstream-error ..." when the
upstream cannot be reached (the client connection is then closed).
"""

import argparse
import os
import select
import signal
import socket
import sys
import threading
import time

JUNK = (b"\xff\xfe\x00GARBAGE \x01\x02\r\n-\r\n+\r\n$-7\r\n*x\r\n"
        b"HTTP/9.9 999\r\n\r\nd3:xxxi-e\r\nNOT_A_REPLY 12x\r\n")


class State:
    def __init__(self, args):
        self.args = args
        self.mode = "proxy"
        self.lock = threading.Lock()
        self.logf = open(args.log, "a", buffering=1) if args.log else None
        host, port = args.upstream.rsplit(":", 1) if args.upstream else ("", "0")
        self.upstream = (host.strip("[]"), int(port))

    def log(self, line):
        if self.logf:
            with self.lock:
                self.logf.write(line + "\n")

    def read_mode(self):
        try:
            with open(self.args.mode_file) as f:
                words = f.read().split()
            return words[0] if words else "proxy"
        except OSError:
            return "proxy"


def serve_tcp(st, conn):
    """one accepted connection; what happens to each chunk, either way,
    depends on the mode at that moment (a pooled connection opened while
    healthy misbehaves as soon as the mode changes)"""
    st.log("tcp %s" % st.mode)
    up = None
    try:
        while True:
            mode = st.mode
            if mode in ("close", "down"):
                return
            socks = [conn] + ([up] if up is not None else [])
            r, _, _ = select.select(socks, [], [], 0.05)
            if conn in r:
                data = conn.recv(65536)
                if not data:
                    return
                mode = st.mode
                if mode in ("close", "down"):
                    return
                if mode == "garbage":
                    conn.sendall(JUNK)
                elif mode in ("proxy", "slow"):
                    if up is None:
                        try:
                            up = socket.create_connection(st.upstream, timeout=5)
                        except OSError as e:
                            st.log("upstream-error %s" % e)
                            return
                    up.sendall(data)
                    st.log("fwd tcp %s" % mode)
                # stall: dropped
            if up is not None and up in r:
                data = up.recv(65536)
                if not data:
                    return
                mode = st.mode
                if mode == "slow":
                    time.sleep(st.args.delay)
                if mode in ("proxy", "slow"):
                    conn.sendall(data)
                elif mode in ("close", "down"):
                    return
                # stall, garbage: the real reply is dropped
    except OSError:
        pass
    finally:
        conn.close()
        if up is not None:
            up.close()


def udp_forward(st, sock, data, peer, mode):
    delay = st.args.delay if mode == "slow" else 0
    fam = socket.AF_INET6 if ":" in st.upstream[0] else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        u.settimeout(10)
        u.sendto(data, st.upstream)
        st.log("fwd udp %s" % mode)
        reply, _ = u.recvfrom(65536)
        if delay:
            time.sleep(delay)
        sock.sendto(reply, peer)
    except OSError as e:
        st.log("upstream-error %s" % e)
    finally:
        u.close()


def make_listeners(st):
    a = st.args
    socks = []
    if a.proto in ("tcp", "both"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", a.port))
        s.listen(512)
        socks.append(s)
    if a.proto in ("udp", "both"):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind(("127.0.0.1", a.port))
        socks.append(u)
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--proto", choices=("tcp", "udp", "both"), default="tcp")
    ap.add_argument("--upstream", default="")
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--delay", type=float, default=0.3)
    ap.add_argument("--log")
    ap.add_argument("--pidfile")
    st = State(ap.parse_args())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    socks = make_listeners(st)
    if st.args.pidfile:
        with open(st.args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    last_poll = 0.0
    while True:
        now = time.monotonic()
        if now - last_poll >= 0.05:
            last_poll = now
            m = st.read_mode()
            if m != st.mode:
                if m == "down":
                    for s in socks:
                        s.close()
                    socks = []
                elif st.mode == "down":
                    socks = make_listeners(st)
                st.mode = m
                with open(st.args.mode_file + ".ack", "w") as f:
                    f.write(m + "\n")
        if not socks:
            time.sleep(0.05)
            continue
        r, _, _ = select.select(socks, [], [], 0.05)
        for s in r:
            mode = st.mode
            if s.type == socket.SOCK_STREAM:
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                threading.Thread(target=serve_tcp, args=(st, conn),
                                 daemon=True).start()
            else:
                try:
                    data, peer = s.recvfrom(65536)
                except OSError:
                    continue
                st.log("udp %s" % mode)
                if mode in ("proxy", "slow"):
                    threading.Thread(target=udp_forward,
                                     args=(st, s, data, peer, mode),
                                     daemon=True).start()
                elif mode == "garbage":
                    s.sendto(data[:2] + JUNK, peer)
                # stall / close: dropped


if __name__ == "__main__":
    sys.exit(main())
