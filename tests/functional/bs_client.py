#!/usr/bin/python3
"""bs_client.py - read back what rmilter put into a beanstalkd tube.

The functional tests compare the jobs byte for byte with what arrived at
the sink, so this speaks the beanstalkd protocol itself (python3 stdlib)
and writes each job's data to a file untouched.

    bs_client.py drain PORT TUBE DIR   reserve and delete every ready job of
                                       TUBE, in id order: DIR/<n>.job (the
                                       data), DIR/<n>.meta ("id=.. pri=..
                                       ttr=.. tube=.."); prints the count
    bs_client.py ready PORT TUBE       current-jobs-ready of TUBE (0 when
                                       the tube does not exist)
    bs_client.py tubes PORT            every tube name, one a line

Always 127.0.0.1. Exit status 0, or 2 on a protocol or connection error.
"""

import os
import socket
import sys


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.f = self.s.makefile("rwb")

    def cmd(self, line):
        self.f.write(line.encode() + b"\r\n")
        self.f.flush()
        reply = self.f.readline()
        if not reply.endswith(b"\r\n"):
            raise SystemExit("bs_client: truncated reply to %r: %r" % (line, reply))
        return reply[:-2].decode()

    def body(self, n):
        data = self.f.read(n + 2)
        if len(data) != n + 2 or data[-2:] != b"\r\n":
            raise SystemExit("bs_client: bad job body")
        return data[:-2]

    def yaml(self, line):
        r = self.cmd(line)
        if r.startswith("NOT_FOUND"):
            return None
        if not r.startswith("OK "):
            raise SystemExit("bs_client: %s: %s" % (line, r))
        out = {}
        for ln in self.body(int(r.split()[1])).decode().splitlines():
            if ": " in ln:
                k, v = ln.split(": ", 1)
                out[k.strip()] = v.strip()
        return out


def drain(port, tube, outdir):
    c = Conn(port)
    c.cmd("watch " + tube)
    if tube != "default":
        c.cmd("ignore default")
    jobs = []
    while True:
        r = c.cmd("reserve-with-timeout 0")
        if r in ("TIMED_OUT", "DEADLINE_SOON"):
            break
        parts = r.split()
        if parts[0] != "RESERVED":
            raise SystemExit("bs_client: reserve: " + r)
        jid, n = int(parts[1]), int(parts[2])
        data = c.body(n)
        st = c.yaml("stats-job %d" % jid)
        jobs.append((jid, data, st))
        if c.cmd("delete %d" % jid) != "DELETED":
            raise SystemExit("bs_client: delete failed")
    os.makedirs(outdir, exist_ok=True)
    jobs.sort(key=lambda j: j[0])
    for i, (jid, data, st) in enumerate(jobs, 1):
        with open(os.path.join(outdir, "%d.job" % i), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, "%d.meta" % i), "w") as f:
            f.write("id=%d pri=%s ttr=%s tube=%s\n" % (jid, st["pri"], st["ttr"], st["tube"]))
    print(len(jobs))


def ready(port, tube):
    st = Conn(port).yaml("stats-tube " + tube)
    print(st["current-jobs-ready"] if st else 0)


def tubes(port):
    c = Conn(port)
    r = c.cmd("list-tubes")
    for ln in c.body(int(r.split()[1])).decode().splitlines():
        if ln.startswith("- "):
            print(ln[2:])


def main():
    a = sys.argv[1:]
    try:
        if len(a) == 4 and a[0] == "drain":
            drain(a[1], a[2], a[3])
        elif len(a) == 3 and a[0] == "ready":
            ready(a[1], a[2])
        elif len(a) == 2 and a[0] == "tubes":
            tubes(a[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except OSError as e:
        print("bs_client: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
