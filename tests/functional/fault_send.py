#!/usr/bin/env python3
"""fault_send.py - send N messages over SMTP and record each one's fate.

For the fault tests (fault_lib.sh): every message is one SMTP session to
127.0.0.1:PORT (a private Postfix), with a unique token TOKEN-i in its
Subject and body so it can be found at the sink. The final reply of each
transaction is what the client would act on: the reply to the final dot,
or the reply that ended the transaction earlier (a 4xx/5xx to MAIL, RCPT
or DATA, a 421 at connect). Python 3 standard library only.

  fault_send.py --port PORT -n N [-c CONCURRENCY] --token TOKEN
                [--from ADDR] [--to ADDR[,ADDR...]] [--helo NAME]
                [--xclient "ADDR=192.0.2.1 NAME=x.test"] [--header "N: v"]
                [--body TEXT] [--timeout SECONDS]

Output, one line per message, in the order they finished:
    TOKEN-i CODE STAGE TEXT
(CODE 000 and STAGE "error" when the session broke without an SMTP reply:
that counts as neither accepted, tempfailed nor rejected). Last line:
    summary sent=N accepted=A tempfailed=T rejected=R errors=E
Exit status 0 unless an argument is wrong.
"""

import argparse
import smtplib
import sys
import threading


def one(opt, i):
    tok = "%s-%d" % (opt.token, i)
    stage = "connect"
    try:
        s = smtplib.SMTP(timeout=opt.timeout)
        code, msg = s.connect("127.0.0.1", opt.port)
        if code != 220:
            return tok, code, stage, msg
        try:
            stage = "helo"
            code, msg = s.ehlo(opt.helo)
            if code != 250:
                return tok, code, stage, msg
            if opt.xclient:
                stage = "xclient"
                code, msg = s.docmd("XCLIENT", opt.xclient)
                if code != 220:
                    return tok, code, stage, msg
                stage = "helo"
                code, msg = s.ehlo(opt.helo)
                if code != 250:
                    return tok, code, stage, msg
            stage = "mail"
            code, msg = s.mail(opt.sender)
            if code != 250:
                return tok, code, stage, msg
            stage = "rcpt"
            ok = 0
            last = (0, b"")
            for r in opt.to.split(","):
                code, msg = s.rcpt(r.replace("{i}", str(i)))
                last = (code, msg)
                if code in (250, 251):
                    ok += 1
            if ok == 0:
                return tok, last[0], stage, last[1]
            stage = "data"
            hdrs = "".join(h + "\r\n" for h in opt.header)
            body = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n%s"
                    "Message-ID: <%s@fault.test>\r\n\r\n%s\r\n%s\r\n"
                    % (opt.sender, opt.to.split(",")[0], tok, hdrs, tok,
                       tok, opt.body))
            try:
                code, msg = s.data(body.encode())
                stage = "dot"
            except smtplib.SMTPDataError as e:
                return tok, e.smtp_code, stage, e.smtp_error
            return tok, code, stage, msg
        finally:
            try:
                s.quit()
            except Exception:
                s.close()
    except smtplib.SMTPServerDisconnected as e:
        return tok, 0, "error", str(e).encode()
    except smtplib.SMTPResponseException as e:
        return tok, e.smtp_code, stage, e.smtp_error
    except OSError as e:
        return tok, 0, "error", str(e).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("-c", type=int, default=4)
    ap.add_argument("--token", required=True)
    ap.add_argument("--from", dest="sender", default="sender@example.org")
    ap.add_argument("--to", default="rcpt@example.test")
    ap.add_argument("--helo", default="client.test")
    ap.add_argument("--xclient", default="")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--body", default="fault test body")
    ap.add_argument("--timeout", type=float, default=120)
    opt = ap.parse_args()

    lock = threading.Lock()
    counts = {"accepted": 0, "tempfailed": 0, "rejected": 0, "errors": 0}
    todo = list(range(1, opt.n + 1))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            tok, code, stage, msg = one(opt, i)
            if isinstance(msg, bytes):
                msg = msg.decode("utf-8", "replace")
            text = " ".join(str(msg).split())
            kind = {2: "accepted", 4: "tempfailed", 5: "rejected"}.get(
                code // 100 if stage != "error" else 0, "errors")
            if code == 0:
                kind = "errors"
            with lock:
                counts[kind] += 1
                print("%s %03d %s %s" % (tok, code, stage, text), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, opt.c))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("summary sent=%d accepted=%d tempfailed=%d rejected=%d errors=%d"
          % (opt.n, counts["accepted"], counts["tempfailed"],
             counts["rejected"], counts["errors"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
