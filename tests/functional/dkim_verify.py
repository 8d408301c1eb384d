#!/usr/bin/python3
"""dkim_verify.py PORT FILE - verify every DKIM signature of a message.

An independent verifier for the functional tests: dkimpy (Debian's
python3-dkim), not libopendkim, with its key lookups sent to the test DNS
server on 127.0.0.1:PORT (never the system resolver). FILE is a message as
smtp-sink stored it (its own X-* and Received: lines on top are not signed
and do not matter).

Prints one line per DKIM-Signature header, in order, top first:
    <index> d=<domain> s=<selector> a=<alg> c=<canon> folded=<yes|no> <valid|INVALID>
and exits 0 if there is at least one signature and all are valid, 1 if one
is not, 2 if there is none.
"""
import sys

import dkim
import dkim.util
import dns.exception
import dns.resolver


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "rb") as f:
        msg = f.read()

    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port
    res.lifetime = 5

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        try:
            ans = res.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(ans[0].strings)

    d = dkim.DKIM(msg)
    sigs = [v for (n, v) in d.headers if n.lower() == b"dkim-signature"]
    if not sigs:
        print("no DKIM-Signature header")
        return 2
    ok = True
    for i, raw in enumerate(sigs):
        tags = dkim.util.parse_tag_value(raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\t", b""))
        folded = b"\n" in raw.rstrip(b"\r\n")
        try:
            valid = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            print("  (%s)" % e)
            valid = False
        ok = ok and valid
        print("%d d=%s s=%s a=%s c=%s folded=%s %s" % (
            i, tags.get(b"d", b"?").decode(), tags.get(b"s", b"?").decode(),
            tags.get(b"a", b"?").decode(), tags.get(b"c", b"simple/simple").decode(),
            "yes" if folded else "no", "valid" if valid else "INVALID"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
