/*
 * NAME
 *   codec - milter wire protocol encoder and decoder (see codec.h)
 *
 * DESCRIPTION
 *   Pure functions over caller-owned state: no I/O, no logging, no globals
 *   except constant tables, so every function is safe to call from any
 *   thread on distinct objects.
 *
 *   Decoder invariants: hdr_have < 4 while the length field is being read;
 *   once it is complete, pkt_len is in 1..max_packet and pkt has room for
 *   pkt_len + 1 bytes (a NUL after the payload, so a payload that ends in
 *   a string can be scanned safely even when it is malformed). A command
 *   returned by milter_decode points into pkt and argv, which the decoder
 *   owns; they are overwritten by the next call. Errors are sticky until
 *   milter_decoder_reset.
 *
 *   The parsers never trust a length: every string must end with a NUL
 *   inside the payload, every fixed field must fit, and anything else is
 *   MILTER_E_PAYLOAD with a static text naming the defect.
 *
 *   Encoder: each milter_enc_* appends one or more complete packets to a
 *   struct milter_buf (growing it with xrealloc; an allocation failure
 *   aborts the process, see xmalloc.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "core/pipeline.h"
#include "lib/xmalloc.h"
#include "milter/codec.h"

/* ------------------------------------------------------------------ */
/* decoder                                                            */
/* ------------------------------------------------------------------ */

void
milter_decoder_init(struct milter_decoder *d, size_t max_packet)
{
    memset(d, 0, sizeof(*d));
    d->max_packet = max_packet;
    d->why = "";
}

void
milter_decoder_free(struct milter_decoder *d)
{
    free(d->pkt);
    free(d->argv);
    milter_decoder_init(d, d->max_packet);
}

void
milter_decoder_reset(struct milter_decoder *d)
{
    d->hdr_have = 0;
    d->pkt_len = 0;
    d->pkt_have = 0;
    d->err = 0;
    d->why = "";
}

size_t
milter_decoder_pending(const struct milter_decoder *d)
{
    return d->hdr_have + d->pkt_have;
}

const char *
milter_decoder_why(const struct milter_decoder *d)
{
    return d->why ? d->why : "";
}

/* fail - record a sticky error */
static int
fail(struct milter_decoder *d, int err, const char *why)
{
    d->err = err;
    d->why = why;
    return err;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static bool
known_command(unsigned char c)
{
    switch (c) {
    case SMFIC_ABORT:
    case SMFIC_BODY:
    case SMFIC_CONNECT:
    case SMFIC_MACRO:
    case SMFIC_BODYEOB:
    case SMFIC_HELO:
    case SMFIC_QUIT_NC:
    case SMFIC_HEADER:
    case SMFIC_MAIL:
    case SMFIC_EOH:
    case SMFIC_OPTNEG:
    case SMFIC_QUIT:
    case SMFIC_RCPT:
    case SMFIC_DATA:
    case SMFIC_UNKNOWN:
        return true;
    default:
        return false;
    }
}

const char *
milter_cmd_name(char cmd)
{
    switch (cmd) {
    case SMFIC_ABORT:
        return "ABORT";
    case SMFIC_BODY:
        return "BODY";
    case SMFIC_CONNECT:
        return "CONNECT";
    case SMFIC_MACRO:
        return "MACRO";
    case SMFIC_BODYEOB:
        return "EOM";
    case SMFIC_HELO:
        return "HELO";
    case SMFIC_QUIT_NC:
        return "QUIT_NC";
    case SMFIC_HEADER:
        return "HEADER";
    case SMFIC_MAIL:
        return "MAIL";
    case SMFIC_EOH:
        return "EOH";
    case SMFIC_OPTNEG:
        return "OPTNEG";
    case SMFIC_QUIT:
        return "QUIT";
    case SMFIC_RCPT:
        return "RCPT";
    case SMFIC_DATA:
        return "DATA";
    case SMFIC_UNKNOWN:
        return "UNKNOWN";
    default:
        return "?";
    }
}

/*
 * split_strings - cut p[0..len) into NUL-terminated strings and store
 * pointers in d->argv. The payload must be non-empty and end with a NUL.
 * Returns the number of strings, or -1.
 */
static long
split_strings(struct milter_decoder *d, char *p, size_t len)
{
    size_t i, n = 0, start = 0;

    if (len == 0 || p[len - 1] != '\0')
        return -1;
    for (i = 0; i < len; i++) {
        if (p[i] != '\0')
            continue;
        if (n + 2 > d->argv_cap) {
            d->argv_cap = d->argv_cap ? d->argv_cap * 2 : 16;
            d->argv = xrealloc(d->argv, d->argv_cap * sizeof(*d->argv));
        }
        d->argv[n++] = p + start;
        start = i + 1;
    }
    d->argv[n] = NULL;
    return (long)n;
}

/* parse_connect - hostname NUL family [port(2) address NUL] */
static int
parse_connect(struct milter_decoder *d, char *p, size_t len,
              struct milter_cmd *c)
{
    const char *nul;
    size_t i;

    nul = memchr(p, '\0', len);
    if (nul == NULL)
        return fail(d, MILTER_E_PAYLOAD, "CONNECT: hostname without NUL");
    c->hostname = p;
    i = (size_t)(nul - p) + 1;
    if (i >= len)
        return fail(d, MILTER_E_PAYLOAD, "CONNECT: missing address family");
    c->family = p[i++];
    switch (c->family) {
    case SMFIA_UNKNOWN:
        /* Postfix and Sendmail send nothing after 'U'; tolerate extra */
        c->port = 0;
        c->addr = "";
        return 1;
    case SMFIA_INET:
    case SMFIA_INET6:
    case SMFIA_UNIX:
        break;
    default:
        return fail(d, MILTER_E_PAYLOAD, "CONNECT: bad address family");
    }
    if (len - i < 2)
        return fail(d, MILTER_E_PAYLOAD, "CONNECT: short port");
    c->port = (uint16_t)(((unsigned char)p[i] << 8) | (unsigned char)p[i + 1]);
    i += 2;
    if (i >= len)
        return fail(d, MILTER_E_PAYLOAD, "CONNECT: missing address");
    if (memchr(p + i, '\0', len - i) != p + len - 1)
        return fail(d, MILTER_E_PAYLOAD,
                    "CONNECT: address not NUL-terminated at the end");
    c->addr = p + i;
    if (c->family == SMFIA_INET6 && strncasecmp(c->addr, "IPv6:", 5) == 0)
        c->addr += 5;
    return 1;
}

/* parse - turn the complete packet in d->pkt into *c */
static int
parse(struct milter_decoder *d, struct milter_cmd *c)
{
    char *p = (char *)d->pkt + 1;
    size_t len = d->pkt_len - 1;
    long n;

    memset(c, 0, sizeof(*c));
    c->cmd = (char)d->pkt[0];
    switch (c->cmd) {
    case SMFIC_OPTNEG:
        if (len < 12)
            return fail(d, MILTER_E_PAYLOAD, "OPTNEG: shorter than 12 bytes");
        c->version = get_be32((unsigned char *)p);
        c->actions = get_be32((unsigned char *)p + 4);
        c->protocol = get_be32((unsigned char *)p + 8);
        return 1;
    case SMFIC_MACRO:
        if (len < 1)
            return fail(d, MILTER_E_PAYLOAD, "MACRO: missing command");
        c->macro_cmd = p[0];
        if (len == 1) {
            if (d->argv_cap == 0) {
                d->argv_cap = 16;
                d->argv = xmalloc(d->argv_cap * sizeof(*d->argv));
            }
            d->argv[0] = NULL;
            c->argv = d->argv;
            c->argc = 0;
            return 1;
        }
        n = split_strings(d, p + 1, len - 1);
        if (n < 0)
            return fail(d, MILTER_E_PAYLOAD, "MACRO: missing NUL");
        if (n % 2 != 0)
            return fail(d, MILTER_E_PAYLOAD, "MACRO: name without value");
        c->argv = d->argv;
        c->argc = (size_t)n;
        return 1;
    case SMFIC_CONNECT:
        return parse_connect(d, p, len, c);
    case SMFIC_HELO:
        n = split_strings(d, p, len);
        if (n != 1)
            return fail(d, MILTER_E_PAYLOAD,
                        "HELO: not one NUL-terminated "
                        "string");
        c->helo = p;
        return 1;
    case SMFIC_MAIL:
    case SMFIC_RCPT:
        n = split_strings(d, p, len);
        if (n < 1)
            return fail(d, MILTER_E_PAYLOAD,
                        c->cmd == SMFIC_MAIL ? "MAIL: missing NUL"
                                             : "RCPT: missing NUL");
        c->argv = d->argv;
        c->argc = (size_t)n;
        return 1;
    case SMFIC_HEADER:
        n = split_strings(d, p, len);
        if (n != 2)
            return fail(d, MILTER_E_PAYLOAD, "HEADER: not name NUL value NUL");
        if (p[0] == '\0')
            return fail(d, MILTER_E_PAYLOAD, "HEADER: empty name");
        c->name = d->argv[0];
        c->value = d->argv[1];
        return 1;
    case SMFIC_UNKNOWN:
        n = split_strings(d, p, len);
        if (n != 1)
            return fail(d, MILTER_E_PAYLOAD,
                        "UNKNOWN: not one "
                        "NUL-terminated string");
        c->unknown = p;
        return 1;
    case SMFIC_BODY:
    case SMFIC_BODYEOB:
        c->body = p;
        c->body_len = len;
        return 1;
    default:
        /* ABORT, QUIT, QUIT_NC, EOH, DATA carry no data; like libmilter
         * we ignore any that is sent */
        return 1;
    }
}

int
milter_decode(struct milter_decoder *d, const void *buf, size_t n, size_t *used,
              struct milter_cmd *out)
{
    const unsigned char *p = buf;
    size_t off = 0, take;
    uint32_t len;

    *used = 0;
    if (d->err)
        return d->err;
    while (off < n) {
        if (d->hdr_have < 4) {
            d->hdr[d->hdr_have++] = p[off++];
            if (d->hdr_have < 4)
                continue;
            len = get_be32(d->hdr);
            d->pkt_len = len;
            d->pkt_have = 0;
            if (len == 0) {
                *used = off;
                return fail(d, MILTER_E_LENGTH, "packet length 0");
            }
            if (len > d->max_packet) {
                *used = off;
                return fail(d, MILTER_E_TOOBIG,
                            "packet length over max_packet");
            }
            if (d->pkt_cap < (size_t)len + 1) {
                d->pkt_cap = (size_t)len + 1;
                if (d->pkt_cap < 256)
                    d->pkt_cap = 256;
                free(d->pkt);
                d->pkt = xmalloc(d->pkt_cap);
            }
            continue;
        }
        take = d->pkt_len - d->pkt_have;
        if (take > n - off)
            take = n - off;
        if (d->pkt_have == 0 && !known_command(p[off])) {
            d->pkt[0] = p[off];
            *used = off + 1;
            return fail(d, MILTER_E_COMMAND, "unknown command");
        }
        memcpy(d->pkt + d->pkt_have, p + off, take);
        d->pkt_have += take;
        off += take;
        if (d->pkt_have == d->pkt_len) {
            d->pkt[d->pkt_len] = '\0';
            d->hdr_have = 0;
            d->pkt_have = 0;
            *used = off;
            return parse(d, out);
        }
    }
    *used = off;
    return 0;
}

/* ------------------------------------------------------------------ */
/* negotiation                                                        */
/* ------------------------------------------------------------------ */

const char *const milter_symlists[7] = {
    [SMFIM_CONNECT] = "j {daemon_name} {client_addr} {client_name} _",
    [SMFIM_HELO] = "{tls_version} {cipher}",
    [SMFIM_ENVFROM] = "i {auth_authen} {auth_type} {mail_addr} {client_name}",
    [SMFIM_ENVRCPT] = "{rcpt_addr}",
    [SMFIM_DATA] = "i",
    [SMFIM_EOM] = "i",
    [SMFIM_EOH] = "i",
};

/* What each protocol version defines (Postfix milter8.c uses the same
 * split); flags outside these are never sent to an older MTA. */
#define PROT_V2                                                                \
    (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT |            \
     SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH)
#define PROT_V3 (PROT_V2 | SMFIP_NOUNKNOWN)
#define PROT_V4 (PROT_V3 | SMFIP_NODATA)
#define PROT_V6 ((uint32_t)SMFI_CURR_PROT)
#define ACTS_V2 ((uint32_t)SMFI_V2_ACTS)
#define ACTS_V6 ((uint32_t)SMFI_CURR_ACTS)

static const struct {
    unsigned stage;
    char cmd;
    uint32_t no;
    uint32_t nr;
} stage_flags[] = {
    {RM_STAGE_CONNECT, SMFIC_CONNECT, SMFIP_NOCONNECT, SMFIP_NR_CONN},
    {RM_STAGE_HELO, SMFIC_HELO, SMFIP_NOHELO, SMFIP_NR_HELO},
    {RM_STAGE_MAIL, SMFIC_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL},
    {RM_STAGE_RCPT, SMFIC_RCPT, SMFIP_NORCPT, SMFIP_NR_RCPT},
    {RM_STAGE_DATA, SMFIC_DATA, SMFIP_NODATA, SMFIP_NR_DATA},
    {RM_STAGE_HEADER, SMFIC_HEADER, SMFIP_NOHDRS, SMFIP_NR_HDR},
    {RM_STAGE_EOH, SMFIC_EOH, SMFIP_NOEOH, SMFIP_NR_EOH},
    {RM_STAGE_BODY, SMFIC_BODY, SMFIP_NOBODY, SMFIP_NR_BODY},
    {RM_STAGE_UNKNOWN, SMFIC_UNKNOWN, SMFIP_NOUNKNOWN, SMFIP_NR_UNKN},
};

static const struct {
    uint32_t can;
    uint32_t smfif;
} action_map[] = {
    {RM_CAN_ADDHDRS, SMFIF_ADDHDRS},
    {RM_CAN_CHGHDRS, SMFIF_CHGHDRS},
    {RM_CAN_ADDRCPT, SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR},
    {RM_CAN_DELRCPT, SMFIF_DELRCPT},
    {RM_CAN_CHGFROM, SMFIF_CHGFROM},
    {RM_CAN_CHGBODY, SMFIF_CHGBODY},
    {RM_CAN_QUARANTINE, SMFIF_QUARANTINE},
    {RM_CAN_SETSYMLIST, SMFIF_SETSYMLIST},
};

int
milter_negotiate(uint32_t mta_version, uint32_t mta_actions,
                 uint32_t mta_protocol, uint32_t stages, uint32_t reply_stages,
                 uint32_t need, struct milter_neg *out)
{
    uint32_t prot_mask, act_mask, want_p = 0, want_a = 0, avail, miss = 0;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->mta_version = mta_version;
    out->mta_actions = mta_actions;
    out->mta_protocol = mta_protocol;
    if (mta_version < MILTER_VERSION_MIN)
        return -1;
    out->version = mta_version < MILTER_VERSION ? mta_version : MILTER_VERSION;
    switch (out->version) {
    case 2:
        prot_mask = PROT_V2;
        act_mask = ACTS_V2;
        break;
    case 3:
        prot_mask = PROT_V3;
        act_mask = ACTS_V2;
        break;
    case 4:
    case 5:
        prot_mask = PROT_V4;
        act_mask = ACTS_V2;
        break;
    default:
        prot_mask = PROT_V6;
        act_mask = ACTS_V6;
        break;
    }

    for (i = 0; i < sizeof(stage_flags) / sizeof(stage_flags[0]); i++) {
        uint32_t bit = RM_STAGE_BIT(stage_flags[i].stage);

        if (!(stages & bit))
            want_p |= stage_flags[i].no;
        else if (!(reply_stages & bit))
            want_p |= stage_flags[i].nr;
    }
    /* we may answer SKIP to body chunks when the MTA understands it */
    want_p |= SMFIP_SKIP;
    /* header values exactly as written, leading blanks included (else the
     * MTA eats one space after the colon and DKIM's simple header
     * canonicalization signs "Subject: x" for a "Subject:x" it delivers);
     * the encoder then writes the space before the values we send */
    want_p |= SMFIP_HDR_LEADSPC;
    out->protocol = want_p & mta_protocol & prot_mask;

    avail = mta_actions & act_mask;
    for (i = 0; i < sizeof(action_map) / sizeof(action_map[0]); i++) {
        if (!(need & action_map[i].can))
            continue;
        want_a |= action_map[i].smfif;
        if ((avail & action_map[i].smfif) == 0)
            miss |= action_map[i].smfif;
    }
    /* either ADDRCPT or ADDRCPT_PAR will do; name only one when neither
     * is there */
    if (miss & SMFIF_ADDRCPT)
        miss &= ~(uint32_t)SMFIF_ADDRCPT_PAR;
    /* the macro lists are always worth asking for */
    want_a |= SMFIF_SETSYMLIST;
    out->actions = want_a & avail;
    out->missing_actions = miss;
    out->symlist = (out->actions & SMFIF_SETSYMLIST) != 0;
    return 0;
}

bool
milter_noreply(const struct milter_neg *neg, char cmd)
{
    size_t i;

    switch (cmd) {
    case SMFIC_MACRO:
    case SMFIC_ABORT:
    case SMFIC_QUIT:
    case SMFIC_QUIT_NC:
        return true;
    default:
        break;
    }
    for (i = 0; i < sizeof(stage_flags) / sizeof(stage_flags[0]); i++)
        if (stage_flags[i].cmd == cmd)
            return (neg->protocol & stage_flags[i].nr) != 0;
    return false;
}

char *
milter_action_names(uint32_t actions, char *buf, size_t size)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {SMFIF_ADDHDRS, "ADDHDRS"},       {SMFIF_CHGBODY, "CHGBODY"},
        {SMFIF_ADDRCPT, "ADDRCPT"},       {SMFIF_DELRCPT, "DELRCPT"},
        {SMFIF_CHGHDRS, "CHGHDRS"},       {SMFIF_QUARANTINE, "QUARANTINE"},
        {SMFIF_CHGFROM, "CHGFROM"},       {SMFIF_ADDRCPT_PAR, "ADDRCPT_PAR"},
        {SMFIF_SETSYMLIST, "SETSYMLIST"},
    };
    size_t i, off = 0;
    int w;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(actions & names[i].bit))
            continue;
        w = snprintf(buf + off, size - off, "%s%s", off ? " " : "",
                     names[i].name);
        if (w < 0 || (size_t)w >= size - off) {
            buf[off] = '\0'; /* whole names only */
            break;
        }
        off += (size_t)w;
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* encoder                                                            */
/* ------------------------------------------------------------------ */

void
milter_buf_reset(struct milter_buf *b)
{
    b->len = 0;
}

void
milter_buf_free(struct milter_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void
buf_reserve(struct milter_buf *b, size_t extra)
{
    size_t cap;

    if (b->cap - b->len >= extra)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void
put_bytes(struct milter_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void
put_byte(struct milter_buf *b, unsigned char c)
{
    put_bytes(b, &c, 1);
}

static void
put_be32(struct milter_buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    put_bytes(b, q, 4);
}

/* put_str - s and its NUL ("" for NULL) */
static void
put_str(struct milter_buf *b, const char *s)
{
    if (s == NULL)
        s = "";
    put_bytes(b, s, strlen(s) + 1);
}

/* put_hdrval - s with every CRLF turned into LF, and a NUL; lead: one
 * space before it (SMFIP_HDR_LEADSPC, see enc_header) */
static void
put_hdrval(struct milter_buf *b, const char *s, bool lead)
{
    size_t i;

    if (s == NULL)
        s = "";
    if (lead)
        put_byte(b, ' ');
    for (i = 0; s[i]; i++)
        if (!(s[i] == '\r' && s[i + 1] == '\n'))
            put_byte(b, (unsigned char)s[i]);
    put_byte(b, 0);
}

/* pkt_begin - start a packet; returns its offset for pkt_end */
static size_t
pkt_begin(struct milter_buf *b, char code)
{
    size_t at = b->len;

    put_be32(b, 0);
    put_byte(b, (unsigned char)code);
    return at;
}

/* pkt_end - fill in the length field of the packet started at at */
static void
pkt_end(struct milter_buf *b, size_t at)
{
    uint32_t len = (uint32_t)(b->len - at - 4);

    b->p[at] = (unsigned char)(len >> 24);
    b->p[at + 1] = (unsigned char)(len >> 16);
    b->p[at + 2] = (unsigned char)(len >> 8);
    b->p[at + 3] = (unsigned char)len;
}

void
milter_enc_optneg(struct milter_buf *b, const struct milter_neg *neg)
{
    size_t at = pkt_begin(b, SMFIC_OPTNEG);
    uint32_t i;

    put_be32(b, neg->version);
    put_be32(b, neg->actions);
    put_be32(b, neg->protocol);
    if (neg->symlist) {
        for (i = 0; i < 7; i++) {
            if (milter_symlists[i] == NULL)
                continue;
            put_be32(b, i);
            put_str(b, milter_symlists[i]);
        }
    }
    pkt_end(b, at);
}

void
milter_enc_simple(struct milter_buf *b, char code)
{
    pkt_end(b, pkt_begin(b, code));
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* valid_xcode - "C.d{1,3}.d{1,3}" with C the reply class */
static bool
valid_xcode(const char *x, char cls)
{
    size_t i = 2, n;
    int part;

    if (x[0] != cls || x[1] != '.')
        return false;
    for (part = 0; part < 2; part++) {
        for (n = 0; is_digit(x[i]); i++)
            n++;
        if (n < 1 || n > 3)
            return false;
        if (part == 0 && x[i++] != '.')
            return false;
    }
    return x[i] == '\0';
}

int
milter_enc_replycode(struct milter_buf *b, const char *rcode, const char *xcode,
                     const char *text)
{
    char defx[6];
    const char *line, *end, *next;
    size_t at;

    if (rcode == NULL || (rcode[0] != '4' && rcode[0] != '5') ||
        !is_digit(rcode[1]) || !is_digit(rcode[2]) || rcode[3] != '\0')
        return -1;
    if (xcode == NULL || xcode[0] == '\0') {
        snprintf(defx, sizeof(defx), "%c.0.0", rcode[0]);
        xcode = defx;
    } else if (!valid_xcode(xcode, rcode[0])) {
        return -1;
    }
    if (text == NULL)
        text = "";

    at = pkt_begin(b, SMFIR_REPLYCODE);
    line = text;
    for (;;) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        /* RFC 5321 caps a reply line at 512 octets: wrap long lines at a
         * blank (or hard, when there is none) into continuation lines */
        if (end - line > MILTER_REPLY_LINE_MAX) {
            const char *cut = line + MILTER_REPLY_LINE_MAX;

            while (cut > line && *cut != ' ')
                cut--;
            end = cut > line ? cut : line + MILTER_REPLY_LINE_MAX;
            next = *end == ' ' ? end + 1 : end;
        } else {
            next = *end ? end + 1 : end;
        }
        /* a final "\n" does not open another (empty) line */
        put_bytes(b, rcode, 3);
        put_byte(b, *next ? '-' : ' ');
        put_bytes(b, xcode, strlen(xcode));
        if (end > line)
            put_byte(b, ' ');
        for (; line < end; line++) {
            unsigned char c = (unsigned char)*line;

            if (c == '\r')
                continue;
            /* SMTP replies are ASCII: no control or 8-bit bytes */
            if (c < 0x20 || c >= 0x7f)
                c = '?';
            if (c == '%')
                put_byte(b, '%');
            put_byte(b, c);
        }
        if (*next == '\0')
            break;
        put_bytes(b, "\r\n", 2);
        line = next;
    }
    put_byte(b, 0);
    pkt_end(b, at);
    return 0;
}

void
milter_enc_quarantine(struct milter_buf *b, const char *reason)
{
    size_t at = pkt_begin(b, SMFIR_QUARANTINE);

    put_str(b, reason && *reason ? reason : "quarantined by rmilter");
    pkt_end(b, at);
}

/*
 * enc_header - ADDHEADER (index unused), INSHEADER or CHGHEADER. lead puts
 * one space before the value: with SMFIP_HDR_LEADSPC the MTA writes
 * "name:" and the value as sent (Postfix milter8.c, Sendmail milter.c),
 * without it "name: " and the value, so a value we send with a space in
 * front comes out as "Name: value" either way. An empty CHGHEADER value
 * deletes the header and stays empty.
 */
static void
enc_header(struct milter_buf *b, char code, uint32_t index, const char *name,
           const char *value, bool lead)
{
    size_t at = pkt_begin(b, code);

    if (code != SMFIR_ADDHEADER)
        put_be32(b, index);
    put_str(b, name);
    if (code == SMFIR_CHGHEADER && (value == NULL || *value == '\0'))
        lead = false;
    put_hdrval(b, value, lead);
    pkt_end(b, at);
}

void
milter_enc_addheader(struct milter_buf *b, const char *name, const char *value)
{
    enc_header(b, SMFIR_ADDHEADER, 0, name, value, false);
}

void
milter_enc_insheader(struct milter_buf *b, uint32_t index, const char *name,
                     const char *value)
{
    enc_header(b, SMFIR_INSHEADER, index, name, value, false);
}

void
milter_enc_chgheader(struct milter_buf *b, uint32_t index, const char *name,
                     const char *value)
{
    enc_header(b, SMFIR_CHGHEADER, index, name, value, false);
}

void
milter_enc_addrcpt(struct milter_buf *b, const char *rcpt)
{
    size_t at = pkt_begin(b, SMFIR_ADDRCPT);

    put_str(b, rcpt);
    pkt_end(b, at);
}

void
milter_enc_addrcpt_par(struct milter_buf *b, const char *rcpt, const char *args)
{
    size_t at = pkt_begin(b, SMFIR_ADDRCPT_PAR);

    put_str(b, rcpt);
    if (args && *args)
        put_str(b, args);
    pkt_end(b, at);
}

void
milter_enc_delrcpt(struct milter_buf *b, const char *rcpt)
{
    size_t at = pkt_begin(b, SMFIR_DELRCPT);

    put_str(b, rcpt);
    pkt_end(b, at);
}

void
milter_enc_chgfrom(struct milter_buf *b, const char *from, const char *args)
{
    size_t at = pkt_begin(b, SMFIR_CHGFROM);

    put_str(b, from);
    if (args && *args)
        put_str(b, args);
    pkt_end(b, at);
}

void
milter_enc_replbody(struct milter_buf *b, const char *body, size_t len)
{
    size_t off = 0, n, at;

    do {
        n = len - off;
        if (n > MILTER_BODY_CHUNK)
            n = MILTER_BODY_CHUNK;
        at = pkt_begin(b, SMFIR_REPLBODY);
        put_bytes(b, body ? body + off : "", n);
        pkt_end(b, at);
        off += n;
    } while (off < len);
}

/* enc_mod - one modification, or false if it cannot be sent */
static bool
enc_mod(struct milter_buf *b, const struct milter_neg *neg,
        const struct rm_mod *m)
{
    uint32_t a = neg->actions;
    bool lead = (neg->protocol & SMFIP_HDR_LEADSPC) != 0;
    bool has_args;

    switch (m->kind) {
    case RM_MOD_ADD_HEADER:
        if (!(a & SMFIF_ADDHDRS) || m->name == NULL || *m->name == '\0')
            return false;
        enc_header(b, SMFIR_ADDHEADER, 0, m->name, m->value, lead);
        return true;
    case RM_MOD_INSERT_HEADER:
        if (!(a & SMFIF_ADDHDRS) || m->name == NULL || *m->name == '\0')
            return false;
        enc_header(b, SMFIR_INSHEADER, m->index, m->name, m->value, lead);
        return true;
    case RM_MOD_CHANGE_HEADER:
        if (!(a & SMFIF_CHGHDRS) || m->name == NULL || *m->name == '\0')
            return false;
        enc_header(b, SMFIR_CHGHEADER, m->index, m->name, m->value, lead);
        return true;
    case RM_MOD_ADD_RCPT:
        if (m->name == NULL || *m->name == '\0')
            return false;
        has_args = m->value && *m->value;
        if ((has_args || !(a & SMFIF_ADDRCPT)) && (a & SMFIF_ADDRCPT_PAR))
            milter_enc_addrcpt_par(b, m->name, m->value);
        else if (a & SMFIF_ADDRCPT)
            milter_enc_addrcpt(b, m->name);
        else
            return false;
        return true;
    case RM_MOD_DEL_RCPT:
        if (!(a & SMFIF_DELRCPT) || m->name == NULL || *m->name == '\0')
            return false;
        milter_enc_delrcpt(b, m->name);
        return true;
    case RM_MOD_CHANGE_FROM:
        if (!(a & SMFIF_CHGFROM) || m->name == NULL)
            return false;
        milter_enc_chgfrom(b, m->name, m->value);
        return true;
    case RM_MOD_REPLACE_BODY:
        if (!(a & SMFIF_CHGBODY))
            return false;
        milter_enc_replbody(b, m->value, m->value ? m->value_len : 0);
        return true;
    default:
        return false;
    }
}

/* enc_refusal - reject or tempfail, with the reply code when it is valid */
static void
enc_refusal(struct milter_buf *b, const struct rm_reply *r, char cls,
            char plain, struct milter_enc_report *rep)
{
    if (r->rcode[0] != '\0') {
        if (r->rcode[0] == cls &&
            milter_enc_replycode(b, r->rcode, r->xcode, r->text) == 0)
            return;
        rep->bad_rcode = true;
    }
    milter_enc_simple(b, plain);
}

void
milter_enc_reply(struct milter_buf *b, const struct milter_neg *neg, char cmd,
                 const struct rm_reply *r, struct milter_enc_report *rep)
{
    struct milter_enc_report dummy;
    bool eom = cmd == SMFIC_BODYEOB;
    size_t i;

    if (rep == NULL)
        rep = &dummy;
    memset(rep, 0, sizeof(*rep));

    if (r->n_mods > 0 && !eom) {
        rep->mods_not_eom = true;
        rep->n_dropped = r->n_mods;
    } else {
        for (i = 0; i < r->n_mods; i++) {
            if (!enc_mod(b, neg, &r->mods[i])) {
                rep->n_dropped++;
                if ((unsigned)r->mods[i].kind < 32)
                    rep->dropped_mods |= 1u << r->mods[i].kind;
            }
        }
    }

    switch (r->action) {
    case RM_ACT_ACCEPT:
        milter_enc_simple(b, SMFIR_ACCEPT);
        break;
    case RM_ACT_REJECT:
        enc_refusal(b, r, '5', SMFIR_REJECT, rep);
        break;
    case RM_ACT_TEMPFAIL:
        enc_refusal(b, r, '4', SMFIR_TEMPFAIL, rep);
        break;
    case RM_ACT_DISCARD:
        milter_enc_simple(b, SMFIR_DISCARD);
        break;
    case RM_ACT_QUARANTINE:
        if (eom && (neg->actions & SMFIF_QUARANTINE)) {
            milter_enc_quarantine(b, r->quarantine_reason ? r->quarantine_reason
                                                          : r->text);
        } else {
            rep->quarantine_dropped = true;
        }
        milter_enc_simple(b, SMFIR_CONTINUE);
        break;
    case RM_ACT_SKIP:
        if (cmd == SMFIC_BODY && (neg->protocol & SMFIP_SKIP)) {
            milter_enc_simple(b, SMFIR_SKIP);
        } else {
            rep->skip_downgraded = true;
            milter_enc_simple(b, SMFIR_CONTINUE);
        }
        break;
    case RM_ACT_CONTINUE:
    case RM_ACT_NONE:
    default:
        milter_enc_simple(b, SMFIR_CONTINUE);
        break;
    }
}
