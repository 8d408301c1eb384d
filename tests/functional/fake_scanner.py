#!/usr/bin/env python3
"""fake_scanner.py - a stand-in content scanner for the failure and timing
tests: it listens on 127.0.0.1:PORT (or a unix socket) and behaves in one of
these modes, one thread per connection:

  hang     accept, read whatever comes, never answer (until the client
           goes away)
  garbage  accept and answer at once with bytes no scanner sends, then
           close
  clamd    read a zINSTREAM request to its zero chunk, wait DELAY seconds,
           answer "stream: OK" (or "stream: Fake.EICAR FOUND" if the
           message holds the EICAR test string, or a scan-limit
           detection for FAKE-LIMIT)
  rspamd   read an HTTP request (head + Content-Length body), wait DELAY
           seconds, answer 200 with a /checkv2 JSON verdict: "no action",
           or "reject" if the message holds GTUBE, "greylist" for FAKE-GREY,
           "add header" for FAKE-ADDH, or for FAKE-RICH "add
           header" with a DKIM signature, a milter block (add at the top,
           append, remove X-Strip) and the symbol TRACE_ME, with header
           injection attempts in the values
  spamd    read a SPAMC request (head + Content-length body), wait DELAY
           seconds, answer a SPAMD/1.1 reply: Spam: False, or True for GTUBE

Every connection is logged to stdout with a monotonic timestamp in ms
("accept", "request", "reply"), so a test can count what reached it.

usage: fake_scanner.py MODE (--port N | --unix PATH) [--delay SECONDS]
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

EICAR = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
GTUBE = b"GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
lock = threading.Lock()
seq = [0]


def log(n, what):
    with lock:
        print("%d conn=%d %s" % (int(time.monotonic() * 1000), n, what), flush=True)


def read_exact(c, n):
    buf = b""
    while len(buf) < n:
        d = c.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def read_until(c, sep, buf=b""):
    while sep not in buf:
        d = c.recv(65536)
        if not d:
            raise EOFError
        buf += d
    i = buf.index(sep) + len(sep)
    return buf[:i], buf[i:]


def clamd(c, n, delay):
    cmd, rest = read_until(c, b"\0")
    if cmd != b"zINSTREAM\0":
        c.sendall(b"UNKNOWN COMMAND\0")
        return
    data = b""
    buf = rest
    while True:
        while len(buf) < 4:
            buf += read_exact(c, 4 - len(buf))
        size = struct.unpack("!I", buf[:4])[0]
        buf = buf[4:]
        if size == 0:
            break
        if len(buf) < size:
            buf += read_exact(c, size - len(buf))
        data += buf[:size]
        buf = buf[size:]
    log(n, "request %d bytes" % len(data))
    time.sleep(delay)
    if EICAR in data:
        c.sendall(b"stream: Fake.EICAR FOUND\0")
    elif b"FAKE-LIMIT" in data:
        c.sendall(b"stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND\0")
    else:
        c.sendall(b"stream: OK\0")
    log(n, "reply")


def head_body(c, lenkey):
    head, rest = read_until(c, b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.strip().lower() == lenkey:
            length = int(v.strip())
    body = rest
    if len(body) < length:
        body += read_exact(c, length - len(body))
    return head, body


def rspamd(c, n, delay):
    head, body = head_body(c, b"content-length")
    log(n, "request %s %d bytes" % (head.split(b"\r\n")[0].decode(), len(body)))
    time.sleep(delay)
    spam = GTUBE in body
    reply = {
        "is_skipped": False,
        "score": 20.0 if spam else 0.5,
        "required_score": 15.0,
        "action": "reject" if spam else "no action",
        "symbols": {"FAKE_SCANNER": {"name": "FAKE_SCANNER", "score": 0.5}},
        "messages": {"smtp_message": "Fake rspamd says spam"} if spam else {},
    }
    for token, action in ((b"FAKE-GREY", "greylist"), (b"FAKE-ADDH", "add header")):
        if token in body:
            reply.update({"action": action, "score": 5.0})
    if b"FAKE-RICH" in body:
        # everything a reply can ask of the milter, with an injection try
        reply.update({
            "action": "add header",
            "score": 7.0,
            "symbols": {"TRACE_ME": {"name": "TRACE_ME", "score": 7.0,
                                     "options": ["opt\r\nX-Evil: 1"]}},
            "dkim-signature": "v=1; a=rsa-sha256; d=example.org; s=test;\r\n\tbh=abc=; b=def\r\nX-Injected: evil",
            "milter": {"add_headers": {"X-Fake-Top": {"value": "top", "order": 0},
                                       "X-Fake-Bottom": "bottom\r\nX-Injected: evil2"},
                       "remove_headers": {"X-Strip": 0}},
        })
    js = json.dumps(reply).encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(js) + js)
    log(n, "reply")


def spamd(c, n, delay):
    head, body = head_body(c, b"content-length")
    log(n, "request %s %d bytes" % (head.split(b"\r\n")[0].decode(), len(body)))
    time.sleep(delay)
    spam = GTUBE in body
    syms = b"GTUBE" if spam else b"FAKE_HAM"
    c.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: %s ; %s / 5.0\r\n\r\n%s"
              % (len(syms), b"True" if spam else b"False", b"1000.0" if spam else b"0.1", syms))
    log(n, "reply")


def serve(c, mode, delay):
    with lock:
        seq[0] += 1
        n = seq[0]
    log(n, "accept")
    try:
        if mode == "hang":
            while c.recv(65536):
                pass
        elif mode == "garbage":
            c.sendall(b"\x16\x03\x01 this is not a scanner \xff\xfe\r\n\r\n\0")
            log(n, "garbage sent")
        elif mode == "clamd":
            clamd(c, n, delay)
        elif mode == "rspamd":
            rspamd(c, n, delay)
        elif mode == "spamd":
            spamd(c, n, delay)
    except (EOFError, OSError) as e:
        log(n, "error %s" % e)
    finally:
        log(n, "close")
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hang", "garbage", "clamd", "rspamd", "spamd"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--unix")
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()
    if a.unix:
        if os.path.exists(a.unix):
            os.unlink(a.unix)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(a.unix)
        os.chmod(a.unix, 0o666)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", a.port))
    s.listen(64)
    print("listening mode=%s" % a.mode, flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, a.mode, a.delay), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
