/*
 * NAME
 *   session - one MTA connection: read commands, drive the pipeline, reply
 *
 * DESCRIPTION
 *   session_main runs on the connection's own thread from accept to close.
 *   It reads with poll() and the generation's read_timeout, feeds the bytes
 *   to the codec, calls exactly one pipeline stage per command and writes
 *   each complete reply (all modifications and the final verdict) with one
 *   send(2), so Nagle never holds a reply back. On TCP it re-arms
 *   TCP_QUICKACK after every read (Linux clears it), which keeps the MTA's
 *   next command from waiting ~40 ms for our delayed ACK (see
 *   research/harness.md).
 *
 *   Anything wrong with this connection - a bad packet, an unknown command,
 *   a decode error, a command before OPTNEG, a timeout, a write error -
 *   closes this connection only, with one log line naming the connection
 *   id and the reason. Nothing here exits the process.
 *
 *   Protocol rules kept here: MACRO, ABORT, QUIT and QUIT_NC get no reply,
 *   nor do stages negotiated with SMFIP_NR_*; QUIT_NC resets the pipeline
 *   session and keeps the socket; commands out of protocol order are still
 *   passed to the pipeline, which tolerates them. A quarantine decided
 *   before end of message is remembered and sent at EOM, the only stage
 *   where the protocol allows it.
 *
 *   Stages without a reply: at OPTNEG the engine asks for SMFIP_NR_* at
 *   every stage it receives but at which the pipeline never answers
 *   anything but continue (pipeline_reply_stages: with the usual modules
 *   headers and body chunks, which saves the MTA a round trip per header).
 *   The continue the pipeline returns there is swallowed. Anything else
 *   it returns there - a check deciding against its declaration, or an
 *   internal error's tempfail - cannot be sent, since the MTA does not
 *   read it, but it must not be lost either: it is logged and kept
 *   ("carried"), and it replaces the answer of the next stage that gets
 *   one (EOM at the latest, which always does), so a failure still
 *   tempfails the message. The pipeline keeps the message decided too, so
 *   later stages answer the same. A carried answer from within a message
 *   is forgotten when the message ends (EOM, ABORT); one from connect or
 *   helo lasts until it is sent, or until QUIT_NC.
 *
 *   Graceful stop: once the engine is stopping, a session closes as soon
 *   as it is between transactions (after EOM, ABORT or before MAIL); one in
 *   the middle of a message finishes it first. The daemon shuts the socket
 *   down after shutdown_timeout, which ends the read here.
 *
 * OWNERSHIP
 *   The connection (struct rm_conn), its socket and its config reference
 *   belong to the caller (daemon.c). The pipeline session, decoder and
 *   buffers are created and freed here.
 *
 * THREAD SAFETY
 *   One thread per session; the only shared state touched is the engine's
 *   stop flag (atomic) and the once-only warning mask (atomic).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "core/pipeline.h"
#include "core/reply.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "milter/codec.h"
#include "milter/engine.h"

#define READ_CHUNK 65536

/* SMFIF_* already warned about as missing, so that one MTA without
 * QUARANTINE does not produce a warning per connection. */
static atomic_uint warned_missing;

struct sess {
    struct rm_conn *c;
    struct rm_config *cfg;
    struct rm_session *ps;
    struct milter_decoder dec;
    struct milter_buf out;
    struct milter_neg neg;
    bool negotiated;
    bool in_txn;              /* between MAIL and EOM/ABORT */
    char *pending_quarantine; /* quarantine decided before EOM */
    struct rm_reply carry;    /* an answer a no-reply stage could not send */
    bool has_carry;
    bool carry_txn; /* carried from within a transaction */
    unsigned long n_msgs;
    char reason[256]; /* why the session ended */
};

enum { H_OK = 0, H_QUIT = 1, H_ERR = -1 };

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_reason(struct sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_reason(struct sess *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
}

/* quickack - re-arm TCP_QUICKACK; Linux clears it after use */
static void
quickack(struct sess *s)
{
    int one = 1;

    if (s->c->tcp)
        (void)setsockopt(s->c->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
                         sizeof(one));
}

/* send_out - write the encoded reply: one send(2) unless the socket
 * buffer is full */
static int
send_out(struct sess *s)
{
    size_t off = 0;
    ssize_t n;

    while (off < s->out.len) {
        n = send(s->c->fd, s->out.p + off, s->out.len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                set_reason(s, "write timeout");
            else
                set_reason(s, "write error: %s", strerror(errno));
            return H_ERR;
        }
        off += (size_t)n;
    }
    milter_buf_reset(&s->out);
    return H_OK;
}

static bool
verdict_is_continue(const struct rm_reply *r)
{
    return (r->action == RM_ACT_CONTINUE || r->action == RM_ACT_NONE) &&
           r->n_mods == 0;
}

/* carry - keep r, which cmd (a stage without a reply) cannot send, for the
 * next stage that gets a reply; the first such answer is kept */
static void
carry(struct sess *s, char cmd, const struct rm_reply *r)
{
    const char *what = r->action == RM_ACT_REJECT     ? "reject"
                       : r->action == RM_ACT_TEMPFAIL ? "tempfail"
                       : r->action == RM_ACT_DISCARD  ? "discard"
                       : r->action == RM_ACT_ACCEPT   ? "accept"
                                                      : "an answer";

    if (r->n_mods > 0)
        msg_warn("conn %lu: %s: %zu message modifications dropped: only "
                 "allowed at end of message",
                 s->c->id, milter_cmd_name(cmd), r->n_mods);
    if (r->action == RM_ACT_CONTINUE || r->action == RM_ACT_NONE ||
        r->action == RM_ACT_SKIP)
        return;
    if (s->has_carry) {
        /* (usually the same decision, which the pipeline repeats at every
         * stage once the message is decided) */
        msg_debug("conn %lu: %s: %s; the answer carried from an earlier "
                  "stage goes first",
                  s->c->id, milter_cmd_name(cmd), what);
        return;
    }
    msg_warn("conn %lu: %s: %s%s%s%s%s cannot be answered here (negotiated "
             "without a reply); it answers the next stage that gets one",
             s->c->id, milter_cmd_name(cmd), what, r->rcode[0] ? " " : "",
             r->rcode, r->xcode[0] ? " " : "", r->xcode);
    reply_set(&s->carry, r->action, r->rcode[0] ? r->rcode : NULL,
              r->xcode[0] ? r->xcode : NULL, r->text);
    s->has_carry = true;
    s->carry_txn = s->in_txn;
}

/* uncarry - put the carried answer in place of r (cmd gets a reply) */
static void
uncarry(struct sess *s, char cmd, struct rm_reply *r)
{
    if (!s->has_carry)
        return;
    msg_info("conn %lu: %s: sending the answer carried from an earlier "
             "stage",
             s->c->id, milter_cmd_name(cmd));
    reply_clear(r);
    reply_set(r, s->carry.action, s->carry.rcode[0] ? s->carry.rcode : NULL,
              s->carry.xcode[0] ? s->carry.xcode : NULL, s->carry.text);
    reply_clear(&s->carry);
    s->has_carry = false;
}

/* log_report - what the encoder had to leave out */
static void
log_report(struct sess *s, char cmd, const struct rm_reply *r,
           const struct milter_enc_report *rep)
{
    unsigned long id = s->c->id;
    const char *stage = milter_cmd_name(cmd);

    if (rep->mods_not_eom)
        msg_warn("conn %lu: %s: %zu message modifications dropped: only "
                 "allowed at end of message",
                 id, stage, rep->n_dropped);
    else if (rep->n_dropped)
        msg_warn("conn %lu: %s: %zu message modifications dropped: not "
                 "negotiated with the MTA (or empty name)",
                 id, stage, rep->n_dropped);
    if (rep->bad_rcode)
        msg_warn("conn %lu: %s: invalid reply code \"%s %s\" for the "
                 "action; sent a plain %s",
                 id, stage, r->rcode, r->xcode,
                 r->action == RM_ACT_REJECT ? "reject" : "tempfail");
    if (rep->quarantine_dropped)
        msg_warn("conn %lu: %s: quarantine not negotiated with the MTA; "
                 "message continues",
                 id, stage);
    if (rep->skip_downgraded)
        msg_debug("conn %lu: %s: skip not allowed here; sent continue", id,
                  stage);
}

/* reply - answer cmd with r (unless the stage gets no reply) */
static int
reply(struct sess *s, char cmd, struct rm_reply *r)
{
    struct milter_enc_report rep;

    if (r->action == RM_ACT_QUARANTINE && cmd != SMFIC_BODYEOB) {
        /* the protocol allows quarantine at EOM only: keep it for then */
        const char *why = r->quarantine_reason ? r->quarantine_reason
                          : r->text            ? r->text
                                               : "";

        free(s->pending_quarantine);
        s->pending_quarantine = xstrdup(why);
        r->action = RM_ACT_CONTINUE;
        msg_debug("conn %lu: %s: quarantine deferred to end of message",
                  s->c->id, milter_cmd_name(cmd));
    }
    if (cmd == SMFIC_BODYEOB && s->pending_quarantine != NULL) {
        if (r->action == RM_ACT_CONTINUE || r->action == RM_ACT_ACCEPT ||
            r->action == RM_ACT_NONE) {
            r->action = RM_ACT_QUARANTINE;
            if (r->quarantine_reason == NULL || *r->quarantine_reason == '\0') {
                free(r->quarantine_reason);
                r->quarantine_reason = s->pending_quarantine;
                s->pending_quarantine = NULL;
            }
        }
        free(s->pending_quarantine);
        s->pending_quarantine = NULL;
    }

    if (milter_noreply(&s->neg, cmd)) {
        /* a continue is swallowed; anything else waits (DESCRIPTION) */
        if (!verdict_is_continue(r))
            carry(s, cmd, r);
        return H_OK;
    }
    uncarry(s, cmd, r);
    milter_enc_reply(&s->out, &s->neg, cmd, r, &rep);
    log_report(s, cmd, r, &rep);
    return send_out(s);
}

static int
do_optneg(struct sess *s, const struct milter_cmd *c)
{
    uint32_t stages = 0, actions = 0, fresh;
    char names[128];

    pipeline_needs(s->cfg, &stages, &actions);
    /* no reply (SMFIP_NR_*) where the pipeline only observes */
    if (milter_negotiate(c->version, c->actions, c->protocol, stages,
                         pipeline_reply_stages(s->cfg), actions, &s->neg) < 0) {
        set_reason(s, "MTA offers protocol version %u; 2 or later needed",
                   (unsigned)c->version);
        return H_ERR;
    }
    fresh = s->neg.missing_actions &
            ~atomic_fetch_or(&warned_missing, s->neg.missing_actions);
    if (fresh)
        msg_warn("conn %lu: the MTA does not offer %s (protocol version "
                 "%u); continuing without it",
                 s->c->id, milter_action_names(fresh, names, sizeof(names)),
                 (unsigned)c->version);
    msg_debug("conn %lu: negotiated version %u actions 0x%x protocol 0x%x "
              "(MTA offered %u 0x%x 0x%x)",
              s->c->id, (unsigned)s->neg.version, (unsigned)s->neg.actions,
              (unsigned)s->neg.protocol, (unsigned)c->version,
              (unsigned)c->actions, (unsigned)c->protocol);
    s->negotiated = true;
    milter_enc_optneg(&s->out, &s->neg);
    return send_out(s);
}

static int
family_of(char f)
{
    switch (f) {
    case SMFIA_INET:
        return AF_INET;
    case SMFIA_INET6:
        return AF_INET6;
    case SMFIA_UNIX:
        return AF_UNIX;
    default:
        return AF_UNSPEC;
    }
}

/* end_txn - forget per-message engine state */
static void
end_txn(struct sess *s)
{
    s->in_txn = false;
    free(s->pending_quarantine);
    s->pending_quarantine = NULL;
    if (s->has_carry && s->carry_txn) {
        reply_clear(&s->carry);
        s->has_carry = false;
    }
}

/* handle - one decoded command */
static int
handle(struct sess *s, const struct milter_cmd *c)
{
    struct rm_reply r;
    int rc = H_OK, prc = 0;
    size_t i;

    if (c->cmd == SMFIC_QUIT) {
        set_reason(s, "QUIT");
        return H_QUIT;
    }
    if (c->cmd == SMFIC_OPTNEG)
        return do_optneg(s, c);
    if (!s->negotiated) {
        set_reason(s, "%s before option negotiation", milter_cmd_name(c->cmd));
        return H_ERR;
    }

    reply_init(&r);
    switch (c->cmd) {
    case SMFIC_MACRO:
        for (i = 0; i + 1 < c->argc; i += 2)
            pipeline_macro(s->ps, c->macro_cmd, c->argv[i], c->argv[i + 1]);
        goto out;
    case SMFIC_CONNECT:
        prc = pipeline_connect(s->ps, c->hostname, family_of(c->family),
                               c->port, c->addr, &r);
        break;
    case SMFIC_HELO:
        prc = pipeline_helo(s->ps, c->helo, &r);
        break;
    case SMFIC_MAIL:
        s->in_txn = true;
        prc = pipeline_mail(s->ps, c->argv, c->argc, &r);
        break;
    case SMFIC_RCPT:
        prc = pipeline_rcpt(s->ps, c->argv, c->argc, &r);
        break;
    case SMFIC_DATA:
        prc = pipeline_data(s->ps, &r);
        break;
    case SMFIC_HEADER:
        /* with SMFIP_HDR_LEADSPC the value is exactly what was written
         * after the colon (codec.h) */
        if (s->neg.protocol & SMFIP_HDR_LEADSPC)
            prc = pipeline_header_raw(s->ps, c->name, c->value, &r);
        else
            prc = pipeline_header(s->ps, c->name, c->value, &r);
        break;
    case SMFIC_EOH:
        prc = pipeline_eoh(s->ps, &r);
        break;
    case SMFIC_BODY:
        prc = pipeline_body(s->ps, c->body, c->body_len, &r);
        break;
    case SMFIC_BODYEOB:
        /* data sent with EOM is a last body chunk (libmilter does the
         * same); a verdict on it ends the message like libmilter's */
        if (c->body_len > 0) {
            prc = pipeline_body(s->ps, c->body, c->body_len, &r);
            if (r.action != RM_ACT_CONTINUE && r.action != RM_ACT_NONE &&
                r.action != RM_ACT_SKIP)
                goto eom_reply;
            reply_clear(&r);
        }
        prc = pipeline_eom(s->ps, &r);
    eom_reply:
        s->n_msgs++;
        if (prc < 0)
            msg_debug("conn %lu: EOM: pipeline error, sending its failure "
                      "reply",
                      s->c->id);
        rc = reply(s, c->cmd, &r);
        end_txn(s);
        goto out;
    case SMFIC_UNKNOWN:
        prc = pipeline_unknown(s->ps, c->unknown, &r);
        break;
    case SMFIC_ABORT:
        pipeline_abort(s->ps);
        end_txn(s);
        goto out;
    case SMFIC_QUIT_NC:
        /* the MTA reuses this connection for its next SMTP session */
        pipeline_reset(s->ps);
        end_txn(s);
        reply_clear(&s->carry);
        s->has_carry = false;
        msg_debug("conn %lu: QUIT_NC: session reset", s->c->id);
        goto out;
    default:
        /* the decoder returns known commands only */
        goto out;
    }
    if (prc < 0)
        msg_debug("conn %lu: %s: pipeline error, sending its failure reply",
                  s->c->id, milter_cmd_name(c->cmd));
    rc = reply(s, c->cmd, &r);
out:
    reply_clear(&r);
    return rc;
}

/* feed - decode and handle everything in buf */
static int
feed(struct sess *s, const char *buf, size_t n)
{
    struct milter_cmd cmd;
    size_t off = 0, used;
    int rc;

    while (off < n) {
        rc = milter_decode(&s->dec, buf + off, n - off, &used, &cmd);
        off += used;
        if (rc < 0) {
            if (rc == MILTER_E_TOOBIG)
                set_reason(s, "protocol error: %s (%zu > %zu)",
                           milter_decoder_why(&s->dec), s->dec.pkt_len,
                           s->dec.max_packet);
            else if (rc == MILTER_E_COMMAND)
                set_reason(s, "protocol error: unknown command 0x%02x",
                           s->dec.pkt ? (unsigned)s->dec.pkt[0] : 0u);
            else
                set_reason(s, "protocol error: %s",
                           milter_decoder_why(&s->dec));
            return H_ERR;
        }
        if (rc == 0)
            break;
        rc = handle(s, &cmd);
        if (rc != H_OK)
            return rc;
    }
    return H_OK;
}

/* set_socket_options - TCP_NODELAY, and a send timeout so that an MTA
 * that stops reading cannot hold this thread forever */
static void
set_socket_options(struct sess *s)
{
    uint64_t ms = s->cfg->global.read_timeout;
    struct timeval tv;
    int one = 1;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    (void)setsockopt(s->c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (s->c->tcp) {
        (void)setsockopt(s->c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        quickack(s);
    }
}

void
session_main(struct rm_conn *c)
{
    struct sess s;
    struct pollfd pfd[2];
    uint64_t tmo_ms;
    int timeout, rc, nfds;
    double t0 = now_s();
    char *buf;
    ssize_t n;
    bool error = false;

    memset(&s, 0, sizeof(s));
    reply_init(&s.carry);
    s.c = c;
    s.cfg = c->cfg;
    tmo_ms = s.cfg->global.read_timeout;
    timeout = tmo_ms > INT_MAX ? INT_MAX : (int)tmo_ms;
    if (timeout <= 0)
        timeout = -1;
    milter_decoder_init(&s.dec, (size_t)s.cfg->global.max_packet);
    buf = xmalloc(READ_CHUNK);
    set_socket_options(&s);

    msg_info("conn %lu: open from %s on %s", c->id, c->peer, c->via);
    s.ps = pipeline_session_new(s.cfg, c->id);
    if (s.ps == NULL) {
        set_reason(&s, "could not create a pipeline session");
        error = true;
        goto out;
    }

    for (;;) {
        if (atomic_load(&c->eng->stopping) && !s.in_txn) {
            set_reason(&s, "daemon stopping");
            break;
        }
        pfd[0].fd = c->fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = c->eng->stop_fd;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        /* while stopping, a session in a transaction waits for the MTA
         * only (the stop fd stays readable) */
        nfds = (atomic_load(&c->eng->stopping) || c->eng->stop_fd < 0) ? 1 : 2;
        rc = poll(pfd, (nfds_t)nfds, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            set_reason(&s, "poll: %s", strerror(errno));
            error = true;
            break;
        }
        if (rc == 0) {
            set_reason(&s, "read timeout (%llu ms without data)",
                       (unsigned long long)tmo_ms);
            error = true;
            break;
        }
        if (pfd[0].revents == 0)
            continue; /* the stop fd: the loop head decides */
        n = read(c->fd, buf, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            set_reason(&s, "read error: %s", strerror(errno));
            error = true;
            break;
        }
        if (n == 0) {
            if (milter_decoder_pending(&s.dec) > 0) {
                set_reason(&s, "MTA closed the connection in the middle of "
                               "a packet");
                error = true;
            } else if (s.in_txn) {
                set_reason(&s, "MTA closed the connection in the middle of "
                               "a message");
            } else {
                set_reason(&s, "closed by the MTA");
            }
            break;
        }
        quickack(&s);
        rc = feed(&s, buf, (size_t)n);
        if (rc == H_QUIT)
            break;
        if (rc == H_ERR) {
            error = true;
            break;
        }
    }

    if (atomic_load(&c->killed)) {
        set_reason(&s, "shut down: shutdown_timeout passed");
        error = true;
    }
out:
    if (s.ps) {
        if (s.in_txn)
            pipeline_abort(s.ps);
        pipeline_session_free(s.ps);
    }
    if (error)
        msg_warn("conn %lu: closing: %s; %lu messages, %.3f s", c->id, s.reason,
                 s.n_msgs, now_s() - t0);
    else
        msg_info("conn %lu: close (%s); %lu messages, %.3f s", c->id, s.reason,
                 s.n_msgs, now_s() - t0);
    free(s.pending_quarantine);
    reply_clear(&s.carry);
    free(buf);
    milter_buf_free(&s.out);
    milter_decoder_free(&s.dec);
}
