/*
 * NAME
 *   milter-load - a load generator that plays the MTA side of the milter
 *                 protocol against any milter (rmilter, libmilter milters)
 *
 * SYNOPSIS
 *   milter-load -s SOCKET [-c SESSIONS] [-n MESSAGES | -T SECONDS]
 *               [-k PER_CONN] [-b BODY_BYTES] [-r RCPTS] [-H HEADERS]
 *               [-I CLIENT_IPS | -a CLIENT_ADDR] [-m EVERY:VALUE]... [-A AUTH_USER]
 *               [-e HELO] [-f SENDER] [-o HOLD_SECONDS] [-j THREADS] [-w TIMEOUT]
 *               [-C CHUNK] [-q]
 *
 * DESCRIPTION
 *   SESSIONS connections run at once, each like one Postfix smtpd talking
 *   to its milter: OPTNEG, CONNECT (a different client IP per message, one
 *   of CLIENT_IPS from 198.18.0.0/15, the benchmarking range: data only,
 *   nothing is ever sent there; consecutive messages come from different
 *   /24 networks; or always CLIENT_ADDR), HELO, then per message MAIL, RCPT x RCPTS, DATA, the headers,
 *   EOH, the body in chunks of CHUNK bytes, EOM; QUIT after PER_CONN
 *   messages (default 1: one milter connection per message, as Postfix
 *   does for one message per SMTP session). Every reply is read and
 *   checked. Each macro packet goes out in the same write as its command,
 *   and TCP sockets have TCP_NODELAY, so the generator itself never waits
 *   on Nagle.
 *
 *   The milter's OPTNEG answer is obeyed: stages it negotiated away
 *   (SMFIP_NO*) are not sent, stages with SMFIP_NR_* get no reply awaited,
 *   SMFIP_HDR_LEADSPC puts the space before header values, and a SKIP reply
 *   to a body chunk ends the body. A final reply before EOM ends the message
 *   (ABORT is sent; after a CONNECT or HELO verdict the connection is
 *   closed). A reject or tempfail of a recipient refuses that recipient
 *   only; the message ends when all recipients are refused.
 *
 *   The sessions are driven by non-blocking sockets in one epoll loop per
 *   thread (-j, default 1), so the generator's own CPU cost stays small.
 *
 *   -m EVERY:VALUE (repeatable, first match wins) adds the header
 *   "X-Milter-Load: VALUE" to every message whose number (1-based) is a
 *   multiple of EVERY, so that milter rules can act on a known share of the
 *   messages (tests/functional/t_bench_smoke.sh asserts the exact counts).
 *
 *   -o SECONDS holds every session just before its first EOM until all
 *   sessions are held (then it prints "milter-load: holding N sessions" on
 *   stderr) and SECONDS more, then completes them: memory of N concurrent
 *   sessions can be read from /proc meanwhile.
 *
 * OUTPUT
 *   A readable report, then one line "RESULT key=value ..." for scripts:
 *   msgs (messages that got a final reply), secs, rate (msgs/secs), latency
 *   percentiles in ms (a message's latency runs from its first command,
 *   OPTNEG for the first message of a connection, to its final reply), the
 *   final replies (accept, continue, reject, tempfail, discard, quarantine
 *   = accept/continue after a QUARANTINE action, connfail), refused
 *   recipients, message modifications by kind (mod_*), failures (errors,
 *   err_*), packets sent and replies waited for, and the generator's own
 *   CPU seconds. Exit status 0 when every message got a final reply, 1
 *   when any failed (connect error, timeout, EOF, protocol error), 2 on
 *   usage errors.
 *
 *   Only unix sockets and loopback addresses (127.0.0.0/8, ::1) are
 *   accepted as the target.
 *
 *   This file has its own small encoder and decoder on purpose: it does not
 *   share code with the daemon's codec, so it is an independent peer. The
 *   constants come from the protocol's definition, libmilter/mfdef.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#define ML_MAX_MARKS 16
#define ML_MAX_TEXTS 16
#define ML_MAX_PACKET (16u * 1024u * 1024u)
#define ML_VERSION 6

/* ------------------------------------------------------------------------ */
/* options and global state                                                 */
/* ------------------------------------------------------------------------ */

struct mark {
    uint64_t every;
    char value[64];
};

static struct opts {
    const char *spec;
    struct sockaddr_storage addr;
    socklen_t alen;
    int family;
    unsigned sessions;
    uint64_t msgs;
    double duration;
    unsigned per_conn;
    uint64_t body;
    unsigned rcpts;
    unsigned extra_hdrs;
    unsigned ips;
    uint32_t fixed_ip; /* -a: every message from this client (host order) */
    struct mark marks[ML_MAX_MARKS];
    unsigned n_marks;
    const char *auth;
    const char *sender;
    const char *helo;
    double hold;
    unsigned threads;
    double timeout;
    unsigned chunk;
    bool quiet;
} O = {
    .sessions = 1,
    .msgs = 0,
    .per_conn = 1,
    .body = 2048,
    .rcpts = 1,
    .ips = 65536,
    .sender = "sender@example.org",
    .threads = 1,
    .timeout = 30,
    .chunk = MILTER_CHUNK_SIZE,
};

static atomic_uint_fast64_t g_next; /* next message number to hand out */
static uint64_t g_limit;            /* messages to send (UINT64_MAX: -T) */
static uint64_t g_t0, g_end_ns;     /* start; when -T stops new messages */
static atomic_uint g_held;          /* sessions waiting at the hold point */
static unsigned g_hold_target;
static atomic_uint_fast64_t g_release_ns;   /* 0: not yet */
static char *g_pattern;                     /* one chunk of body text */
static atomic_uint g_neg_proto, g_neg_acts; /* the milter's OPTNEG answer */

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    fputs("milter-load: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* ------------------------------------------------------------------------ */
/* byte buffers and the encoder                                             */
/* ------------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void
buf_need(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    while (b->cap < b->len + more)
        b->cap = b->cap ? b->cap * 2 : 4096;
    b->p = xrealloc(b->p, b->cap);
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
    buf_need(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
buf_str0(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s) + 1);
}

static void
buf_u32(struct buf *b, uint32_t v)
{
    uint32_t n = htonl(v);

    buf_add(b, &n, 4);
}

static void
buf_u16(struct buf *b, uint16_t v)
{
    uint16_t n = htons(v);

    buf_add(b, &n, 2);
}

static _Thread_local uint64_t t_packets; /* packets encoded by a thread */

/* pkt_begin/pkt_end - a packet: 4-byte length (command + data), command */
static size_t
pkt_begin(struct buf *b, char cmd)
{
    size_t at = b->len;

    t_packets++;
    buf_u32(b, 0);
    buf_add(b, &cmd, 1);
    return at;
}

static void
pkt_end(struct buf *b, size_t at)
{
    uint32_t n = htonl((uint32_t)(b->len - at - 4));

    memcpy(b->p + at, &n, 4);
}

/* macros - one SMFIC_MACRO packet for stage cmd: name, value, ..., NULL
 * (cmd is an int: va_start must not follow a promoted parameter) */
static void
macros(struct buf *b, int cmd, ...)
{
    size_t at = pkt_begin(b, SMFIC_MACRO);
    char c = (char)cmd;
    const char *s;
    va_list ap;

    buf_add(b, &c, 1);
    va_start(ap, cmd);
    while ((s = va_arg(ap, const char *)) != NULL)
        buf_str0(b, s);
    va_end(ap);
    pkt_end(b, at);
}

/* ------------------------------------------------------------------------ */
/* results                                                                  */
/* ------------------------------------------------------------------------ */

enum outcome {
    R_ACCEPT,
    R_CONTINUE,
    R_REJECT,
    R_TEMPFAIL,
    R_DISCARD,
    R_QUARANTINE,
    R_CONNFAIL,
    R_N
};
static const char *const outcome_names[R_N] = {
    "accept",  "continue",   "reject",  "tempfail",
    "discard", "quarantine", "connfail"};

enum errkind { E_CONNECT, E_TIMEOUT, E_EOF, E_PROTOCOL, E_WRITE, E_N };
static const char *const err_names[E_N] = {"connect", "timeout", "eof",
                                           "protocol", "write"};

enum modkind {
    M_ADDHEADER,
    M_INSHEADER,
    M_CHGHEADER,
    M_ADDRCPT,
    M_DELRCPT,
    M_CHGFROM,
    M_REPLBODY,
    M_QUARANTINE,
    M_PROGRESS,
    M_N
};
static const char *const mod_names[M_N] = {
    "addheader", "insheader", "chgheader",  "addrcpt", "delrcpt",
    "chgfrom",   "replbody",  "quarantine", "progress"};

struct counted {
    char text[160];
    uint64_t n;
};

struct stats {
    uint64_t outcome[R_N];
    uint64_t err[E_N];
    uint64_t mod[M_N];
    uint64_t rcpt_reject, rcpt_tempfail;
    uint64_t packets, roundtrips;       /* packets sent; replies waited for */
    struct counted texts[ML_MAX_TEXTS]; /* reply-code texts */
    unsigned n_texts;
    struct counted hdrs[ML_MAX_TEXTS]; /* names of added headers */
    unsigned n_hdrs;
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
};

static void
count_text(struct counted *v, unsigned *n, const char *s, size_t len,
           uint64_t by)
{
    unsigned i;

    if (len >= sizeof(v[0].text))
        len = sizeof(v[0].text) - 1;
    for (i = 0; i < *n; i++)
        if (strncmp(v[i].text, s, len) == 0 && v[i].text[len] == '\0') {
            v[i].n += by;
            return;
        }
    if (*n == ML_MAX_TEXTS)
        return;
    memcpy(v[*n].text, s, len);
    v[*n].text[len] = '\0';
    v[*n].n = by;
    (*n)++;
}

static void
add_latency(struct stats *st, uint64_t ns)
{
    uint64_t us = ns / 1000;

    if (st->n_lat == st->cap_lat) {
        st->cap_lat = st->cap_lat ? st->cap_lat * 2 : 4096;
        st->lat_us = xrealloc(st->lat_us, st->cap_lat * sizeof(uint32_t));
    }
    st->lat_us[st->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ------------------------------------------------------------------------ */
/* sessions                                                                 */
/* ------------------------------------------------------------------------ */

enum step {
    ST_OPTNEG,
    ST_CONNECT,
    ST_HELO,
    ST_MAIL,
    ST_RCPT,
    ST_DATA,
    ST_HEADER,
    ST_EOH,
    ST_BODY,
    ST_EOM,
};

struct worker;

struct sess {
    struct worker *w;
    int fd;
    unsigned gen;   /* bumped whenever the connection is replaced */
    bool live;      /* has a message to work on */
    bool awaiting;  /* a reply is due */
    bool want_out;  /* EPOLLOUT registered */
    bool held;      /* parked at the hold point */
    bool did_hold;  /* each session holds once */
    enum step step; /* the step whose reply is awaited, or the next one */
    uint32_t proto; /* negotiated SMFIP_* */
    uint64_t msg;   /* current message number (0-based) */
    unsigned on_conn;
    unsigned rcpt_i, rcpt_refused;
    enum outcome rcpt_last; /* the last recipient refusal */
    unsigned hdr_i;
    uint64_t body_off;
    bool quarantined;
    uint64_t t_msg, deadline;
    struct buf out;
    size_t out_off;
    struct buf in;
};

struct worker {
    pthread_t tid;
    int ep;
    struct sess *s;
    unsigned n;
    unsigned open; /* sessions still live */
    struct stats st;
};

static void sess_next_message(struct sess *s);
static void advance(struct sess *s);

static void
ep_mod(struct sess *s, bool want_out)
{
    struct epoll_event ev;

    if (s->want_out == want_out)
        return;
    s->want_out = want_out;
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    ev.data.ptr = s;
    (void)epoll_ctl(s->w->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void
sess_close(struct sess *s)
{
    if (s->fd >= 0) {
        (void)epoll_ctl(s->w->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    s->fd = -1;
    s->gen++;
    s->awaiting = false;
    s->want_out = false;
    s->out.len = s->out_off = 0;
    s->in.len = 0;
}

/* take_message - the next message number, or false when all are out */
static bool
take_message(struct sess *s)
{
    uint64_t i;

    if (g_end_ns && now_ns() >= g_end_ns)
        return false;
    i = atomic_fetch_add(&g_next, 1);
    if (i >= g_limit)
        return false;
    s->msg = i;
    return true;
}

/* flush - write what is pending; false after a write error (handled) */
static bool
flush(struct sess *s)
{
    ssize_t n;

    while (s->out_off < s->out.len) {
        n = send(s->fd, s->out.p + s->out_off, s->out.len - s->out_off,
                 MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ep_mod(s, true);
                return true;
            }
            s->w->st.err[E_WRITE]++;
            sess_close(s);
            sess_next_message(s);
            return false;
        }
        s->out_off += (size_t)n;
    }
    s->out.len = s->out_off = 0;
    ep_mod(s, false);
    return true;
}

/* fail - this message failed (no final reply): count, drop the connection,
 * go on with the next message on a new one */
static void
fail(struct sess *s, enum errkind e)
{
    s->w->st.err[e]++;
    sess_close(s);
    sess_next_message(s);
}

/* quit - polite end of a connection: QUIT (best effort) and close */
static void
quit(struct sess *s)
{
    size_t at = pkt_begin(&s->out, SMFIC_QUIT);

    pkt_end(&s->out, at);
    if (s->out_off < s->out.len)
        (void)send(s->fd, s->out.p + s->out_off, s->out.len - s->out_off,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
    sess_close(s);
}

/* sess_connect - a new connection for message s->msg */
static bool
sess_connect(struct sess *s)
{
    struct epoll_event ev;
    int one = 1, fd;

    fd = socket(O.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* blocking connect: loopback or unix completes at once, or waits for
     * the daemon's accept backlog, which is what an MTA would see */
    while (connect(fd, (struct sockaddr *)&O.addr, O.alen) < 0) {
        if (errno == EINTR)
            continue;
        close(fd);
        return false;
    }
    if (O.family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    s->want_out = false;
    ev.events = EPOLLIN;
    ev.data.ptr = s;
    if (epoll_ctl(s->w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        s->fd = -1;
        return false;
    }
    s->on_conn = 0;
    s->proto = 0;
    s->step = ST_OPTNEG;
    return true;
}

/* sess_next_message - start the next message, on this connection when it
 * may carry more, else on a new one; or end the session */
static void
sess_next_message(struct sess *s)
{
    for (;;) {
        if (!take_message(s)) {
            if (s->fd >= 0)
                quit(s);
            if (s->live) {
                s->live = false;
                s->w->open--;
            }
            return;
        }
        s->t_msg = now_ns();
        s->rcpt_i = s->rcpt_refused = 0;
        s->hdr_i = 0;
        s->body_off = 0;
        s->quarantined = false;
        if (s->fd >= 0 && s->on_conn < O.per_conn) {
            s->step = ST_MAIL;
            advance(s);
            return;
        }
        if (s->fd >= 0)
            quit(s);
        if (sess_connect(s)) {
            advance(s);
            return;
        }
        s->w->st.err[E_CONNECT]++;
    }
}

/* finish - the message got its final reply */
static void
finish(struct sess *s, enum outcome r, bool conn_level)
{
    struct stats *st = &s->w->st;

    if ((r == R_ACCEPT || r == R_CONTINUE) && s->quarantined)
        r = R_QUARANTINE;
    st->outcome[r]++;
    add_latency(st, now_ns() - s->t_msg);
    s->awaiting = false;
    s->on_conn++;
    if (conn_level || r == R_CONNFAIL) {
        quit(s);
    } else if (s->step != ST_EOM) {
        size_t at = pkt_begin(&s->out, SMFIC_ABORT);

        pkt_end(&s->out, at);
    }
    sess_next_message(s);
}

/* client_ip - message msg's client: the (msg % ips)-th address of
 * 198.18.0.0/15, spread (x 257, a bijection unless ips is a multiple of
 * 257) so that consecutive messages come from different /24 networks */
static uint32_t
client_ip(uint64_t msg)
{
    uint64_t k = (msg % O.ips) * 257u % O.ips;

    if (O.fixed_ip)
        return O.fixed_ip;
    return (198u << 24 | 18u << 16) + (uint32_t)(k % 131072u);
}

/* mark_of - the X-Milter-Load value of message msg, or NULL */
static const char *
mark_of(uint64_t msg)
{
    unsigned i;

    for (i = 0; i < O.n_marks; i++)
        if ((msg + 1) % O.marks[i].every == 0)
            return O.marks[i].value;
    return NULL;
}

/* header_at - the i-th header of message msg (name, value); false past the
 * last one */
static bool
header_at(const struct sess *s, unsigned i, char *name, size_t nlen, char *val,
          size_t vlen)
{
    static const char date[] = "Sat, 21 Nov 2026 12:00:00 +0000";
    uint32_t ip = client_ip(s->msg);
    const char *mark = mark_of(s->msg);
    unsigned base = 8 + (mark ? 1 : 0);

    if (i >= base + O.extra_hdrs)
        return false;
    switch (i) {
    case 0:
        snprintf(name, nlen, "Received");
        snprintf(val, vlen,
                 "from client-%u.milter-load.test (unknown [%u.%u.%u.%u])\r\n"
                 "\tby mta.milter-load.test (milter-load) with ESMTP id "
                 "%" PRIX64 "\r\n\tfor <rcpt1@example.test>; %s",
                 ip & 0xffffu, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                 ip & 255, s->msg + 1, date);
        break;
    case 1:
        snprintf(name, nlen, "From");
        snprintf(val, vlen, "Load Sender <%s>",
                 *O.sender ? O.sender : "mailer-daemon@milter-load.test");
        break;
    case 2:
        snprintf(name, nlen, "To");
        snprintf(val, vlen, "<rcpt1@example.test>");
        break;
    case 3:
        snprintf(name, nlen, "Subject");
        snprintf(val, vlen, "milter-load message %" PRIu64, s->msg + 1);
        break;
    case 4:
        snprintf(name, nlen, "Date");
        snprintf(val, vlen, "%s", date);
        break;
    case 5:
        snprintf(name, nlen, "Message-ID");
        snprintf(val, vlen, "<%" PRIu64 ".%d@milter-load.test>", s->msg + 1,
                 (int)getpid());
        break;
    case 6:
        snprintf(name, nlen, "MIME-Version");
        snprintf(val, vlen, "1.0");
        break;
    case 7:
        snprintf(name, nlen, "Content-Type");
        snprintf(val, vlen, "text/plain; charset=us-ascii");
        break;
    default:
        if (mark && i == 8) {
            snprintf(name, nlen, "X-Milter-Load");
            snprintf(val, vlen, "%s", mark);
        } else {
            snprintf(name, nlen, "X-Filler-%u", i - base + 1);
            snprintf(val, vlen,
                     "filler header %u of the load generator, long enough to "
                     "look like a real one",
                     i - base + 1);
        }
        break;
    }
    return true;
}

/*
 * emit - append the packets of step s->step; returns true when the milter
 * answers it. Steps negotiated away append nothing and return false.
 */
static bool
emit(struct sess *s)
{
    struct buf *b = &s->out;
    uint32_t p = s->proto, ip = client_ip(s->msg);
    char qid[24], a[64], h[96], addr[96], port[16], name[64], val[512];
    size_t at;

    snprintf(qid, sizeof(qid), "%" PRIX64, s->msg + 1);
    switch (s->step) {
    case ST_OPTNEG:
        at = pkt_begin(b, SMFIC_OPTNEG);
        buf_u32(b, ML_VERSION);
        buf_u32(b, SMFI_CURR_ACTS);
        buf_u32(b, SMFI_CURR_PROT);
        pkt_end(b, at);
        return true;
    case ST_CONNECT:
        if (p & SMFIP_NOCONNECT)
            return false;
        snprintf(a, sizeof(a), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
                 (ip >> 8) & 255, ip & 255);
        snprintf(h, sizeof(h), "unknown [%s]", a);
        snprintf(port, sizeof(port), "%u", 1024u + (unsigned)(s->msg % 60000));
        macros(b, SMFIC_CONNECT, "j", "mta.milter-load.test", "{daemon_name}",
               "milter-load", "{daemon_addr}", "127.0.0.1", "v", "milter-load",
               "_", h, "{client_addr}", a, "{client_port}", port,
               "{client_name}", "unknown", (char *)NULL);
        at = pkt_begin(b, SMFIC_CONNECT);
        buf_str0(b, "unknown");
        buf_add(b, "4", 1);
        buf_u16(b, (uint16_t)(1024u + s->msg % 60000));
        buf_str0(b, a);
        pkt_end(b, at);
        return !(p & SMFIP_NR_CONN);
    case ST_HELO:
        if (p & SMFIP_NOHELO)
            return false;
        if (O.helo)
            snprintf(h, sizeof(h), "%s", O.helo);
        else
            snprintf(h, sizeof(h), "client-%u.milter-load.test", ip & 0xffffu);
        at = pkt_begin(b, SMFIC_HELO);
        buf_str0(b, h);
        pkt_end(b, at);
        return !(p & SMFIP_NR_HELO);
    case ST_MAIL:
        if (p & SMFIP_NOMAIL)
            return false;
        if (O.auth)
            macros(b, SMFIC_MAIL, "i", qid, "{mail_addr}", O.sender,
                   "{auth_type}", "PLAIN", "{auth_authen}", O.auth,
                   (char *)NULL);
        else
            macros(b, SMFIC_MAIL, "i", qid, "{mail_addr}", O.sender,
                   (char *)NULL);
        snprintf(addr, sizeof(addr), "<%s>", O.sender);
        at = pkt_begin(b, SMFIC_MAIL);
        buf_str0(b, addr);
        buf_str0(b, "SIZE=1000");
        pkt_end(b, at);
        return !(p & SMFIP_NR_MAIL);
    case ST_RCPT:
        if (p & SMFIP_NORCPT)
            return false;
        snprintf(addr, sizeof(addr), "rcpt%u@example.test", s->rcpt_i + 1);
        macros(b, SMFIC_RCPT, "i", qid, "{rcpt_addr}", addr, "{rcpt_mailer}",
               "smtp", (char *)NULL);
        snprintf(addr, sizeof(addr), "<rcpt%u@example.test>", s->rcpt_i + 1);
        at = pkt_begin(b, SMFIC_RCPT);
        buf_str0(b, addr);
        pkt_end(b, at);
        return !(p & SMFIP_NR_RCPT);
    case ST_DATA:
        if (p & SMFIP_NODATA)
            return false;
        at = pkt_begin(b, SMFIC_DATA);
        pkt_end(b, at);
        return !(p & SMFIP_NR_DATA);
    case ST_HEADER:
        if (p & SMFIP_NOHDRS)
            return false;
        if (!header_at(s, s->hdr_i, name, sizeof(name), val, sizeof(val)))
            return false;
        at = pkt_begin(b, SMFIC_HEADER);
        buf_str0(b, name);
        if (p & SMFIP_HDR_LEADSPC)
            buf_add(b, " ", 1);
        buf_str0(b, val);
        pkt_end(b, at);
        return !(p & SMFIP_NR_HDR);
    case ST_EOH:
        if (p & SMFIP_NOEOH)
            return false;
        macros(b, SMFIC_EOH, "i", qid, (char *)NULL);
        at = pkt_begin(b, SMFIC_EOH);
        pkt_end(b, at);
        return !(p & SMFIP_NR_EOH);
    case ST_BODY: {
        uint64_t left = O.body - s->body_off;
        size_t n = left < O.chunk ? (size_t)left : O.chunk;

        if ((p & SMFIP_NOBODY) || n == 0)
            return false;
        at = pkt_begin(b, SMFIC_BODY);
        buf_add(b, g_pattern, n);
        s->body_off += n;
        if (s->body_off == O.body && n >= 2)
            memcpy(b->p + b->len - 2, "\r\n", 2);
        pkt_end(b, at);
        return !(p & SMFIP_NR_BODY);
    }
    case ST_EOM:
        macros(b, SMFIC_BODYEOB, "i", qid, (char *)NULL);
        at = pkt_begin(b, SMFIC_BODYEOB);
        pkt_end(b, at);
        return true;
    }
    return false;
}

/* step_after - the step that follows s->step once it is done */
static enum step
step_after(struct sess *s)
{
    switch (s->step) {
    case ST_OPTNEG:
        return ST_CONNECT;
    case ST_CONNECT:
        return ST_HELO;
    case ST_HELO:
        return ST_MAIL;
    case ST_MAIL:
        s->rcpt_i = 0;
        return ST_RCPT;
    case ST_RCPT:
        if (++s->rcpt_i < O.rcpts && !(s->proto & SMFIP_NORCPT))
            return ST_RCPT;
        return ST_DATA;
    case ST_DATA:
        s->hdr_i = 0;
        return ST_HEADER;
    case ST_HEADER:
        if (!(s->proto & SMFIP_NOHDRS)) {
            char n[8], v[8];

            /* header_at is cheap enough to ask "is there another?" */
            if (header_at(s, ++s->hdr_i, n, 0, v, 0))
                return ST_HEADER;
        }
        return ST_EOH;
    case ST_EOH:
        return ST_BODY;
    case ST_BODY:
        if (!(s->proto & SMFIP_NOBODY) && s->body_off < O.body)
            return ST_BODY;
        return ST_EOM;
    case ST_EOM:
        return ST_EOM;
    }
    return ST_EOM;
}

/* advance - emit steps until one needs a reply; then write them all */
static void
advance(struct sess *s)
{
    for (;;) {
        if (s->step == ST_EOM && O.hold > 0 && !s->did_hold) {
            unsigned h;

            s->did_hold = s->held = true;
            (void)flush(s);
            h = atomic_fetch_add(&g_held, 1) + 1;
            if (h == g_hold_target) {
                atomic_store(&g_release_ns,
                             now_ns() + (uint64_t)(O.hold * 1e9));
                fprintf(stderr, "milter-load: holding %u sessions for %.1f s\n",
                        h, O.hold);
                fflush(stderr);
            }
            return;
        }
        if (emit(s)) {
            s->w->st.roundtrips++;
            s->awaiting = true;
            s->deadline = now_ns() + (uint64_t)(O.timeout * 1e9);
            (void)flush(s);
            return;
        }
        if (s->step == ST_EOM) /* not reached: EOM always has a reply */
            return;
        s->step = step_after(s);
    }
}

static enum outcome
code_outcome(const char *text)
{
    return text[0] == '4' ? R_TEMPFAIL : R_REJECT;
}

/* on_reply - one packet from the milter: a modification is counted and
 * the reply goes on; a final reply moves the session to its next step,
 * message or connection */
static void
on_reply(struct sess *s, char cmd, const char *d, size_t len)
{
    struct stats *st = &s->w->st;
    bool conn_level = s->step == ST_CONNECT || s->step == ST_HELO;
    enum outcome r;

    if (!s->awaiting) {
        fail(s, E_PROTOCOL);
        return;
    }
    switch (cmd) {
    case SMFIC_OPTNEG: /* 'O' */
        if (s->step != ST_OPTNEG || len < 12) {
            fail(s, E_PROTOCOL);
            return;
        }
        {
            uint32_t v[3];

            memcpy(v, d, 12);
            s->proto = ntohl(v[2]);
            atomic_store(&g_neg_acts, ntohl(v[1]));
            atomic_store(&g_neg_proto, s->proto);
        }
        s->awaiting = false;
        s->step = step_after(s);
        advance(s);
        return;
    case SMFIR_ADDHEADER:
    case SMFIR_INSHEADER: {
        size_t off = cmd == SMFIR_INSHEADER ? 4 : 0;

        st->mod[cmd == SMFIR_ADDHEADER ? M_ADDHEADER : M_INSHEADER]++;
        if (len > off)
            count_text(st->hdrs, &st->n_hdrs, d + off,
                       strnlen(d + off, len - off), 1);
        return;
    }
    case SMFIR_CHGHEADER:
        st->mod[M_CHGHEADER]++;
        return;
    case SMFIR_ADDRCPT:
    case SMFIR_ADDRCPT_PAR:
        st->mod[M_ADDRCPT]++;
        return;
    case SMFIR_DELRCPT:
        st->mod[M_DELRCPT]++;
        return;
    case SMFIR_CHGFROM:
        st->mod[M_CHGFROM]++;
        return;
    case SMFIR_REPLBODY:
        st->mod[M_REPLBODY]++;
        return;
    case SMFIR_QUARANTINE:
        st->mod[M_QUARANTINE]++;
        s->quarantined = true;
        return;
    case SMFIR_PROGRESS:
        st->mod[M_PROGRESS]++;
        s->deadline = now_ns() + (uint64_t)(O.timeout * 1e9);
        return;
    case SMFIR_CONTINUE:
        r = R_CONTINUE;
        break;
    case SMFIR_SKIP:
        if (s->step == ST_BODY)
            s->body_off = O.body; /* no more chunks */
        r = R_CONTINUE;
        break;
    case SMFIR_ACCEPT:
        r = R_ACCEPT;
        break;
    case SMFIR_REJECT:
        r = R_REJECT;
        break;
    case SMFIR_TEMPFAIL:
        r = R_TEMPFAIL;
        break;
    case SMFIR_DISCARD:
        r = R_DISCARD;
        break;
    case SMFIR_CONN_FAIL:
        r = R_CONNFAIL;
        break;
    case SMFIR_REPLYCODE:
        if (len < 4) {
            fail(s, E_PROTOCOL);
            return;
        }
        r = code_outcome(d);
        count_text(st->texts, &st->n_texts, d, strnlen(d, len), 1);
        break;
    default:
        fail(s, E_PROTOCOL);
        return;
    }

    s->awaiting = false;
    if (s->step == ST_RCPT && (r == R_REJECT || r == R_TEMPFAIL)) {
        /* refuses this recipient only */
        if (r == R_REJECT)
            st->rcpt_reject++;
        else
            st->rcpt_tempfail++;
        s->rcpt_refused++;
        s->rcpt_last = r;
        r = R_CONTINUE;
    }
    if (r != R_CONTINUE || s->step == ST_EOM) {
        finish(s, r, conn_level);
        return;
    }
    if (s->step == ST_RCPT && s->rcpt_i + 1 >= O.rcpts &&
        s->rcpt_refused == O.rcpts) {
        /* every recipient refused: the MTA ends the transaction */
        finish(s, s->rcpt_last, false);
        return;
    }
    s->step = step_after(s);
    advance(s);
    return;
}

/* on_readable - read and handle every complete packet */
static void
on_readable(struct sess *s)
{
    char tmp[65536];
    ssize_t n;
    size_t off = 0;

    n = read(s->fd, tmp, sizeof(tmp));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        fail(s, E_EOF);
        return;
    }
    if (n == 0) {
        fail(s, E_EOF);
        return;
    }
    buf_add(&s->in, tmp, (size_t)n);
    while (s->fd >= 0 && s->in.len - off >= 5) {
        uint32_t plen;
        unsigned gen = s->gen;

        memcpy(&plen, s->in.p + off, 4);
        plen = ntohl(plen);
        if (plen == 0 || plen > ML_MAX_PACKET) {
            fail(s, E_PROTOCOL);
            return;
        }
        if (s->in.len - off - 4 < plen)
            break;
        on_reply(s, s->in.p[off + 4], s->in.p + off + 5, plen - 1);
        off += 4 + plen;
        if (s->gen != gen) /* the connection was replaced: buffer gone */
            return;
    }
    if (s->fd >= 0 && off > 0) {
        memmove(s->in.p, s->in.p + off, s->in.len - off);
        s->in.len -= off;
    }
}

/* ------------------------------------------------------------------------ */
/* workers                                                                  */
/* ------------------------------------------------------------------------ */

static void
check_timers(struct worker *w, uint64_t now)
{
    uint64_t rel = atomic_load(&g_release_ns);
    unsigned i;

    /* a hold that never fills up (a session failed) is released after the
     * reply timeout */
    if (O.hold > 0 && rel == 0 &&
        now > g_t0 + (uint64_t)((O.timeout + O.hold) * 1e9)) {
        uint64_t zero = 0;

        if (atomic_compare_exchange_strong(&g_release_ns, &zero, now))
            fprintf(stderr,
                    "milter-load: only %u of %u sessions reached the hold "
                    "point; releasing\n",
                    atomic_load(&g_held), g_hold_target);
        rel = now;
    }
    for (i = 0; i < w->n; i++) {
        struct sess *s = &w->s[i];

        if (s->held && rel != 0 && now >= rel) {
            s->held = false;
            advance(s);
            continue;
        }
        if (s->fd >= 0 && s->awaiting && now > s->deadline)
            fail(s, E_TIMEOUT);
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev[256];
    uint64_t next_check = 0, now;
    unsigned i;
    int n, k;

    for (i = 0; i < w->n; i++) {
        struct sess *s = &w->s[i];

        s->w = w;
        s->fd = -1;
        s->live = true;
        w->open++;
        sess_next_message(s);
    }
    while (w->open > 0) {
        n = epoll_wait(w->ep, ev, 256, 20);
        for (k = 0; k < n; k++) {
            struct sess *s = ev[k].data.ptr;

            if (s->fd < 0)
                continue;
            if (ev[k].events & EPOLLOUT)
                if (!flush(s))
                    continue;
            if (s->fd >= 0 && (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(s);
        }
        now = now_ns();
        if (now >= next_check) {
            check_timers(w, now);
            next_check = now + 20000000u;
        }
    }
    w->st.packets = t_packets;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* set-up and report                                                        */
/* ------------------------------------------------------------------------ */

static bool
loopback4(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

/* parse_socket - unix:/p, local:/p, /p, inet:PORT@HOST, inet:HOST:PORT,
 * inet6:PORT@HOST; HOST must be a loopback address literal */
static void
parse_socket(const char *spec)
{
    char host[128], *at;
    const char *r;
    long port;

    memset(&O.addr, 0, sizeof(O.addr));
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 ||
        spec[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)&O.addr;
        const char *path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;

        if (strlen(path) >= sizeof(un->sun_path))
            die("socket path too long: %s", path);
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        O.alen = sizeof(*un);
        O.family = AF_UNIX;
        return;
    }
    if (strncmp(spec, "inet:", 5) != 0 && strncmp(spec, "inet6:", 6) != 0)
        die("bad socket '%s' (unix:/path or inet:PORT@127.0.0.1)", spec);
    r = strchr(spec, ':') + 1;
    if (strlen(r) >= sizeof(host))
        die("bad socket '%s'", spec);
    strcpy(host, r);
    if ((at = strchr(host, '@')) != NULL) {
        *at = '\0';
        port = strtol(host, NULL, 10);
        memmove(host, at + 1, strlen(at + 1) + 1);
    } else if ((at = strrchr(host, ':')) != NULL) {
        *at = '\0';
        port = strtol(at + 1, NULL, 10);
    } else {
        die("bad socket '%s': no port", spec);
    }
    if (port <= 0 || port > 65535)
        die("bad port in '%s'", spec);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        if ((at = strchr(host, ']')) != NULL)
            *at = '\0';
    }
    {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&O.addr;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&O.addr;

        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
            if (!loopback4(&in4->sin_addr))
                die("%s is not a loopback address", host);
            in4->sin_family = AF_INET;
            in4->sin_port = htons((uint16_t)port);
            O.alen = sizeof(*in4);
            O.family = AF_INET;
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
            if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
                die("%s is not a loopback address", host);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t)port);
            O.alen = sizeof(*in6);
            O.family = AF_INET6;
        } else {
            die("'%s' is not an IP address literal", host);
        }
    }
}

static uint64_t
num(const char *s, const char *what)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        die("bad %s '%s'", what, s);
    if (*end == 'k' || *end == 'K') {
        v *= 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v *= 1024 * 1024;
        end++;
    }
    if (*end != '\0')
        die("bad %s '%s'", what, s);
    return (uint64_t)v;
}

static void
usage(FILE *f)
{
    fputs(
        "usage: milter-load -s SOCKET [options]\n"
        "  -s SOCKET   unix:/path or inet:PORT@127.0.0.1 (loopback only)\n"
        "  -c N        concurrent sessions (1)\n"
        "  -n N        messages in all (1000 unless -T)\n"
        "  -T SECONDS  stop starting messages after this long\n"
        "  -k N        messages per connection (1)\n"
        "  -b BYTES    body size, k/M suffixes (2048)\n"
        "  -r N        recipients per message (1)\n"
        "  -H N        extra headers beyond the 8 standard ones (0)\n"
        "  -I N        distinct client IPs, from 198.18.0.0 (65536)\n"
        "  -a ADDR     every message from this client IPv4 address instead\n"
        "  -m E:VALUE  header X-Milter-Load: VALUE on every E-th message\n"
        "  -A USER     send {auth_authen}=USER (an authenticated sender)\n"
        "  -e NAME     HELO name of every session (client-N.milter-load.test)\n"
        "  -f ADDR     envelope and From: sender (sender@example.org;\n"
        "              \"\" for the null sender <>)\n"
        "  -o SECONDS  hold every session before its first EOM, then SECONDS\n"
        "  -j N        threads, each an epoll loop (1)\n"
        "  -w SECONDS  reply timeout (30)\n"
        "  -C BYTES    body chunk size (65535)\n"
        "  -q          print the RESULT line only\n",
        f);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double
pct(const struct stats *st, double p)
{
    size_t i;

    if (st->n_lat == 0)
        return 0;
    i = (size_t)(p / 100.0 * (double)(st->n_lat - 1) + 0.5);
    return st->lat_us[i] / 1000.0;
}

static void
merge(struct stats *to, const struct stats *from)
{
    unsigned i;

    for (i = 0; i < R_N; i++)
        to->outcome[i] += from->outcome[i];
    for (i = 0; i < E_N; i++)
        to->err[i] += from->err[i];
    for (i = 0; i < M_N; i++)
        to->mod[i] += from->mod[i];
    to->rcpt_reject += from->rcpt_reject;
    to->rcpt_tempfail += from->rcpt_tempfail;
    to->packets += from->packets;
    to->roundtrips += from->roundtrips;
    for (i = 0; i < from->n_texts; i++)
        count_text(to->texts, &to->n_texts, from->texts[i].text,
                   strlen(from->texts[i].text), from->texts[i].n);
    for (i = 0; i < from->n_hdrs; i++)
        count_text(to->hdrs, &to->n_hdrs, from->hdrs[i].text,
                   strlen(from->hdrs[i].text), from->hdrs[i].n);
    if (from->n_lat) {
        to->lat_us =
            xrealloc(to->lat_us, (to->n_lat + from->n_lat) * sizeof(uint32_t));
        memcpy(to->lat_us + to->n_lat, from->lat_us,
               from->n_lat * sizeof(uint32_t));
        to->n_lat += from->n_lat;
    }
}

static void
report(const struct stats *st, double secs, const struct rusage *ru)
{
    uint64_t done = 0, errs = 0;
    double ucpu, scpu, rate;
    unsigned i;

    for (i = 0; i < R_N; i++)
        done += st->outcome[i];
    for (i = 0; i < E_N; i++)
        errs += st->err[i];
    ucpu = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6;
    scpu = (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
    rate = secs > 0 ? (double)done / secs : 0;
    if (!O.quiet) {
        printf(
            "milter-load: %s sessions=%u threads=%u per-conn=%u body=%" PRIu64
            " rcpts=%u headers=%u\n",
            O.spec, O.sessions, O.threads, O.per_conn, O.body, O.rcpts,
            8 + O.extra_hdrs);
        printf("  %" PRIu64 " messages in %.3f s = %.1f msg/s; %" PRIu64
               " failed\n",
               done, secs, rate, errs);
        printf("  latency ms: min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 "
               "%.3f  max %.3f\n",
               pct(st, 0), pct(st, 50), pct(st, 90), pct(st, 99), pct(st, 99.9),
               pct(st, 100));
        printf("  final:");
        for (i = 0; i < R_N; i++)
            printf(" %s=%" PRIu64, outcome_names[i], st->outcome[i]);
        printf("\n  recipients refused: reject=%" PRIu64 " tempfail=%" PRIu64
               "\n  modifications:",
               st->rcpt_reject, st->rcpt_tempfail);
        for (i = 0; i < M_N; i++)
            printf(" %s=%" PRIu64, mod_names[i], st->mod[i]);
        printf("\n");
        for (i = 0; i < st->n_hdrs; i++)
            printf("  header added: %s x %" PRIu64 "\n", st->hdrs[i].text,
                   st->hdrs[i].n);
        for (i = 0; i < st->n_texts; i++)
            printf("  reply: \"%s\" x %" PRIu64 "\n", st->texts[i].text,
                   st->texts[i].n);
        printf("  milter negotiated actions 0x%x protocol 0x%x; per message "
               "%.1f packets sent, %.1f replies waited for\n",
               atomic_load(&g_neg_acts), atomic_load(&g_neg_proto),
               done + errs ? (double)st->packets / (double)(done + errs) : 0,
               done + errs ? (double)st->roundtrips / (double)(done + errs)
                           : 0);
        printf("  failures:");
        for (i = 0; i < E_N; i++)
            printf(" %s=%" PRIu64, err_names[i], st->err[i]);
        printf("\n  load generator cpu: user %.2f s, sys %.2f s\n", ucpu, scpu);
    }
    printf("RESULT msgs=%" PRIu64 " secs=%.3f rate=%.1f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
           done, secs, rate, pct(st, 50), pct(st, 90), pct(st, 99),
           pct(st, 100));
    for (i = 0; i < R_N; i++)
        printf(" %s=%" PRIu64, outcome_names[i], st->outcome[i]);
    printf(" rcpt_reject=%" PRIu64 " rcpt_tempfail=%" PRIu64, st->rcpt_reject,
           st->rcpt_tempfail);
    for (i = 0; i < M_N; i++)
        printf(" mod_%s=%" PRIu64, mod_names[i], st->mod[i]);
    printf(" errors=%" PRIu64, errs);
    for (i = 0; i < E_N; i++)
        printf(" err_%s=%" PRIu64, err_names[i], st->err[i]);
    printf(" packets=%" PRIu64 " roundtrips=%" PRIu64, st->packets,
           st->roundtrips);
    printf(" cpu_user=%.3f cpu_sys=%.3f\n", ucpu, scpu);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    struct worker *w;
    struct stats all;
    struct rusage ru;
    struct rlimit rl;
    bool have_n = false;
    unsigned i;
    int c;

    while ((c = getopt(argc, argv, "s:c:n:T:k:b:r:H:I:a:m:A:e:f:o:j:w:C:qh")) !=
           -1) {
        switch (c) {
        case 's':
            O.spec = optarg;
            break;
        case 'c':
            O.sessions = (unsigned)num(optarg, "session count");
            break;
        case 'n':
            O.msgs = num(optarg, "message count");
            have_n = true;
            break;
        case 'T':
            O.duration = strtod(optarg, NULL);
            break;
        case 'k':
            O.per_conn = (unsigned)num(optarg, "messages per connection");
            break;
        case 'b':
            O.body = num(optarg, "body size");
            break;
        case 'r':
            O.rcpts = (unsigned)num(optarg, "recipient count");
            break;
        case 'H':
            O.extra_hdrs = (unsigned)num(optarg, "header count");
            break;
        case 'I':
            O.ips = (unsigned)num(optarg, "IP count");
            break;
        case 'm': {
            char *colon = strchr(optarg, ':');

            if (colon == NULL || O.n_marks == ML_MAX_MARKS ||
                strlen(colon + 1) >= sizeof(O.marks[0].value))
                die("bad -m '%s' (EVERY:VALUE)", optarg);
            *colon = '\0';
            O.marks[O.n_marks].every = num(optarg, "-m interval");
            if (O.marks[O.n_marks].every == 0)
                die("-m interval must be at least 1");
            strcpy(O.marks[O.n_marks].value, colon + 1);
            O.n_marks++;
            break;
        }
        case 'A':
            O.auth = optarg;
            break;
        case 'e':
            O.helo = optarg;
            break;
        case 'a': {
            struct in_addr ia;

            if (inet_pton(AF_INET, optarg, &ia) != 1 || ia.s_addr == 0)
                die("-a needs an IPv4 address, not '%s'", optarg);
            O.fixed_ip = ntohl(ia.s_addr);
            break;
        }
        case 'f':
            O.sender = optarg;
            break;
        case 'o':
            O.hold = strtod(optarg, NULL);
            break;
        case 'j':
            O.threads = (unsigned)num(optarg, "thread count");
            break;
        case 'w':
            O.timeout = strtod(optarg, NULL);
            break;
        case 'C':
            O.chunk = (unsigned)num(optarg, "chunk size");
            break;
        case 'q':
            O.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (O.spec == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    parse_socket(O.spec);
    if (O.sessions == 0 || O.per_conn == 0 || O.rcpts == 0 || O.ips == 0 ||
        O.ips > 131072 || O.threads == 0 || O.chunk == 0 ||
        O.chunk > MILTER_CHUNK_SIZE || O.timeout <= 0)
        die("-c, -k, -r, -I, -j, -w must be positive; -I at most 131072; "
            "-C at most %d",
            MILTER_CHUNK_SIZE);
    if (!have_n)
        O.msgs = O.duration > 0 ? UINT64_MAX : 1000;
    g_limit = O.msgs;
    if (O.threads > O.sessions)
        O.threads = O.sessions;
    g_hold_target =
        (uint64_t)O.sessions < O.msgs ? O.sessions : (unsigned)O.msgs;

    /* an fd per session, plus epoll and stdio */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    g_pattern = xrealloc(NULL, O.chunk);
    for (i = 0; i < O.chunk; i++) {
        unsigned col = i % 78;

        g_pattern[i] = col == 76   ? '\r'
                       : col == 77 ? '\n'
                                   : (char)('a' + (i / 78 + col) % 26);
    }

    w = calloc(O.threads, sizeof(*w));
    if (w == NULL)
        die("out of memory");
    for (i = 0; i < O.threads; i++) {
        w[i].n = O.sessions / O.threads + (i < O.sessions % O.threads);
        w[i].s = calloc(w[i].n, sizeof(struct sess));
        w[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (w[i].s == NULL || w[i].ep < 0)
            die("out of memory or epoll: %s", strerror(errno));
    }
    g_t0 = now_ns();
    if (O.duration > 0)
        g_end_ns = g_t0 + (uint64_t)(O.duration * 1e9);
    for (i = 0; i < O.threads; i++)
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            die("pthread_create failed");
    memset(&all, 0, sizeof(all));
    for (i = 0; i < O.threads; i++) {
        unsigned k;

        pthread_join(w[i].tid, NULL);
        merge(&all, &w[i].st);
        for (k = 0; k < w[i].n; k++) {
            free(w[i].s[k].out.p);
            free(w[i].s[k].in.p);
        }
        free(w[i].s);
        free(w[i].st.lat_us);
        close(w[i].ep);
    }
    free(w);
    free(g_pattern);
    {
        double secs = (double)(now_ns() - g_t0) / 1e9;
        uint64_t errs = 0;

        getrusage(RUSAGE_SELF, &ru);
        if (all.n_lat > 0)
            qsort(all.lat_us, all.n_lat, sizeof(uint32_t), cmp_u32);
        report(&all, secs, &ru);
        for (i = 0; i < E_N; i++)
            errs += all.err[i];
        free(all.lat_us);
        return errs ? 1 : 0;
    }
}
