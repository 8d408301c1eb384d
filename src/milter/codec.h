/*
 * NAME
 *   codec - the milter wire protocol: decode MTA commands, encode replies
 *
 * SYNOPSIS
 *   struct milter_decoder d;
 *   struct milter_cmd c;
 *   milter_decoder_init(&d, max_packet);
 *   while (n > 0) {
 *       size_t used;
 *       int rc = milter_decode(&d, p, n, &used, &c);
 *       p += used, n -= used;
 *       if (rc < 0) { log milter_decoder_why(&d); close; }
 *       if (rc == 1) handle(&c);
 *   }
 *
 * DESCRIPTION
 *   Pure protocol code: bytes in, structs out, structs in, bytes out. No
 *   I/O, no logging, no global state; everything here is unit-tested and
 *   fuzzed on its own (tests/unit/test_codec.c,
 *   tests/fuzz/fuzz_milter_codec.c). Constants are libmilter's
 *   (<libmilter/mfdef.h>, SMFIF_* and SMFIM_* from <libmilter/mfapi.h>).
 *
 *   A packet is a 4-byte big-endian length, then that many bytes: a
 *   one-byte command and its payload. The decoder is byte-driven: feed it
 *   any split of the stream (one byte at a time works) and it yields one
 *   complete, parsed command at a time. A length of 0, a length over the
 *   configured maximum, an unknown command or a malformed payload is an
 *   error; errors are sticky (the connection is unusable afterwards).
 *
 *   The encoder appends packets to a growable buffer so that a complete
 *   reply (every modification plus the final verdict) leaves in one write.
 *
 *   Negotiation (milter_negotiate) turns what the MTA offers and what the
 *   pipeline needs into the OPTNEG answer: version min(offered, 6), the
 *   SMFIP_NO* flags for stages nobody hooks, SMFIP_NR_* for stages that are
 *   received but never answered, SMFIP_SKIP and SMFIP_HDR_LEADSPC, and
 *   the SMFIF_* actions, all masked by what the MTA offered and by what
 *   its protocol version defines.
 *
 *   SMFIP_HDR_LEADSPC (v6): header values come exactly as written after
 *   the colon ("Subject:x" gives "x", "Subject:  x" gives "  x"); without
 *   it the MTA eats one space. It also makes the MTA write "name:" and a
 *   value we send with nothing in between, so milter_enc_reply puts one
 *   space in front of every header value it sends when it is negotiated:
 *   either way an added header reads "Name: value".
 */
#ifndef RM_MILTER_CODEC_H
#define RM_MILTER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reply.h"

/* Highest protocol version we speak, lowest we accept from an MTA. */
#define MILTER_VERSION 6u
#define MILTER_VERSION_MIN 2u
/* REPLBODY chunk size (libmilter's MILTER_CHUNK_SIZE). */
#define MILTER_BODY_CHUNK 65535u
/* longest text per reply line; with "550-5.7.1 " and CRLF it stays well
 * under the 512 octets RFC 5321 allows */
#define MILTER_REPLY_LINE_MAX 400

/* Decoder errors (milter_decode return values). */
enum milter_err {
    MILTER_E_LENGTH = -1,  /* length field is 0: no command byte */
    MILTER_E_TOOBIG = -2,  /* length over the configured maximum */
    MILTER_E_COMMAND = -3, /* unknown command byte */
    MILTER_E_PAYLOAD = -4, /* malformed payload (see milter_decoder_why) */
};

/*
 * One decoded command. Which fields are set depends on cmd (an SMFIC_*
 * character); the others are zero/NULL. Strings point into the decoder's
 * packet buffer and stay valid until the next milter_decode call.
 */
struct milter_cmd {
    char cmd;
    /* SMFIC_OPTNEG */
    uint32_t version;
    uint32_t actions;
    uint32_t protocol;
    /* SMFIC_MACRO: the SMFIC_* the macros belong to; argv holds name,
     * value pairs (argc is even, may be 0) */
    char macro_cmd;
    /* SMFIC_MACRO, SMFIC_MAIL, SMFIC_RCPT (argc >= 1 for MAIL/RCPT);
     * argv[argc] is NULL */
    char **argv;
    size_t argc;
    /* SMFIC_CONNECT: family is SMFIA_INET, _INET6, _UNIX or _UNKNOWN; for
     * _UNKNOWN port is 0 and addr is "" */
    const char *hostname;
    char family;
    uint16_t port;
    const char *addr; /* "IPv6:" prefix stripped */
    /* SMFIC_HELO */
    const char *helo;
    /* SMFIC_HEADER (value may be "") */
    const char *name;
    const char *value;
    /* SMFIC_UNKNOWN: the SMTP command line as the MTA sent it */
    const char *unknown;
    /* SMFIC_BODY, SMFIC_BODYEOB (a final chunk; usually empty) */
    const char *body;
    size_t body_len;
};

struct milter_decoder {
    size_t max_packet;    /* largest length field accepted */
    unsigned char hdr[4]; /* length field being assembled */
    size_t hdr_have;
    unsigned char *pkt; /* command byte, payload, and a spare NUL */
    size_t pkt_len;     /* from the length field */
    size_t pkt_have;
    size_t pkt_cap;
    char **argv; /* parsed argument vector, reused */
    size_t argv_cap;
    int err;         /* sticky error, 0 if none */
    const char *why; /* static text naming the error */
};

/* milter_decoder_init - an empty decoder; max_packet bounds the length
 * field (command byte + payload) */
void milter_decoder_init(struct milter_decoder *d, size_t max_packet);
/* milter_decoder_free - release buffers; the decoder may be re-inited */
void milter_decoder_free(struct milter_decoder *d);
/* milter_decoder_reset - forget a partial packet and any error */
void milter_decoder_reset(struct milter_decoder *d);
/* milter_decoder_pending - bytes of an incomplete packet held (for "EOF
 * in the middle of a packet" diagnostics) */
size_t milter_decoder_pending(const struct milter_decoder *d);
/* milter_decoder_why - text of the last error ("" if none) */
const char *milter_decoder_why(const struct milter_decoder *d);

/*
 * milter_decode - consume bytes from buf[0..n); *used tells how many.
 * Returns 1 when a command completed (*out filled; *used covers up to the
 * end of its packet, so call again with the rest), 0 when all n bytes were
 * consumed without completing one, or a negative enum milter_err.
 */
int milter_decode(struct milter_decoder *d, const void *buf, size_t n,
                  size_t *used, struct milter_cmd *out);

/* milter_cmd_name - "OPTNEG", "CONNECT", ... for logs ("?" if unknown) */
const char *milter_cmd_name(char cmd);

/* --- negotiation ------------------------------------------------------ */

struct milter_neg {
    uint32_t version;  /* answered: min(MTA's, 6) */
    uint32_t actions;  /* answered SMFIF_* */
    uint32_t protocol; /* answered SMFIP_* */
    uint32_t mta_version;
    uint32_t mta_actions;
    uint32_t mta_protocol;
    /* SMFIF_* the pipeline needs but the MTA did not offer (or its
     * version does not define); the engine logs them by name */
    uint32_t missing_actions;
    bool symlist; /* SMFIF_SETSYMLIST negotiated: lists go in the answer */
};

/*
 * milter_negotiate - the answer to an MTA's OPTNEG.
 *   stages: RM_STAGE_BIT mask of stages the pipeline hooks;
 *   reply_stages: the subset on which it may answer anything but
 *     continue (the rest get SMFIP_NR_* where the MTA offers it);
 *   need: RM_CAN_* the pipeline may use.
 * Returns 0, or -1 if the MTA's version is below 2.
 */
int milter_negotiate(uint32_t mta_version, uint32_t mta_actions,
                     uint32_t mta_protocol, uint32_t stages,
                     uint32_t reply_stages, uint32_t need,
                     struct milter_neg *out);

/* milter_noreply - true if cmd was negotiated with SMFIP_NR_* (or is a
 * command that never gets a reply: MACRO, ABORT, QUIT, QUIT_NC) */
bool milter_noreply(const struct milter_neg *neg, char cmd);

/* milter_action_names - "CHGBODY QUARANTINE" for an SMFIF_* mask; returns
 * buf */
char *milter_action_names(uint32_t actions, char *buf, size_t size);

/* The SETSYMLIST macro lists we ask for, by SMFIM_* index (NULL: none). */
extern const char *const milter_symlists[7];

/* --- encoder ---------------------------------------------------------- */

struct milter_buf {
    unsigned char *p;
    size_t len;
    size_t cap;
};

void milter_buf_reset(struct milter_buf *b);
void milter_buf_free(struct milter_buf *b);

/* milter_enc_optneg - the OPTNEG answer, with the SETSYMLIST lists when
 * neg->symlist */
void milter_enc_optneg(struct milter_buf *b, const struct milter_neg *neg);
/* milter_enc_simple - a reply without data: SMFIR_CONTINUE, ACCEPT,
 * REJECT, TEMPFAIL, DISCARD, PROGRESS, SKIP */
void milter_enc_simple(struct milter_buf *b, char code);
/* milter_enc_replycode - SMFIR_REPLYCODE "rcode xcode text"; text lines
 * are separated by "\n" (a "\r" before it is dropped) and sent as a
 * multi-line reply; '%' is doubled. xcode may be NULL/"" (then
 * "<class>.0.0", as libmilter does); text may be NULL. Returns 0, or -1 if
 * rcode is not 4xx/5xx or xcode's class differs (nothing appended). */
int milter_enc_replycode(struct milter_buf *b, const char *rcode,
                         const char *xcode, const char *text);
/* milter_enc_quarantine - SMFIR_QUARANTINE reason (NULL/"": a default) */
void milter_enc_quarantine(struct milter_buf *b, const char *reason);
/* header values are sent with LF line ends (CRLF becomes LF), as given
 * (no space is added: see SMFIP_HDR_LEADSPC above and milter_enc_reply) */
void milter_enc_addheader(struct milter_buf *b, const char *name,
                          const char *value);
void milter_enc_insheader(struct milter_buf *b, uint32_t index,
                          const char *name, const char *value);
/* value NULL or "" deletes the index-th header of that name */
void milter_enc_chgheader(struct milter_buf *b, uint32_t index,
                          const char *name, const char *value);
void milter_enc_addrcpt(struct milter_buf *b, const char *rcpt);
/* args NULL or "": no argument string is sent */
void milter_enc_addrcpt_par(struct milter_buf *b, const char *rcpt,
                            const char *args);
void milter_enc_delrcpt(struct milter_buf *b, const char *rcpt);
void milter_enc_chgfrom(struct milter_buf *b, const char *from,
                        const char *args);
/* milter_enc_replbody - SMFIR_REPLBODY packets of at most 65535 bytes (one
 * empty packet for an empty body) */
void milter_enc_replbody(struct milter_buf *b, const char *body, size_t len);

/* What milter_enc_reply had to leave out or change; the engine logs it. */
struct milter_enc_report {
    uint32_t dropped_mods; /* bit (1u << rm_mod_kind): not negotiated */
    size_t n_dropped;
    bool mods_not_eom;       /* modifications outside EOM were dropped */
    bool bad_rcode;          /* invalid reply code: plain reject/tempfail */
    bool quarantine_dropped; /* not negotiated, or not at EOM */
    bool skip_downgraded;    /* SKIP not allowed here: continue sent */
};

/*
 * milter_enc_reply - the complete answer to command cmd: at EOM (cmd ==
 * SMFIC_BODYEOB) the modifications in order, then the final action; at
 * other stages the action only. Header values get one space in front when
 * neg has SMFIP_HDR_LEADSPC (not an empty CHGHEADER value, which deletes).
 * Actions: CONTINUE/NONE -> 'c'; ACCEPT ->
 * 'a'; REJECT/TEMPFAIL -> REPLYCODE when rcode is set, else 'r'/'t';
 * DISCARD -> 'd'; QUARANTINE -> 'q' + 'c' (EOM only, if negotiated);
 * SKIP -> 's' (BODY only, if SMFIP_SKIP was negotiated). rep may be NULL.
 */
void milter_enc_reply(struct milter_buf *b, const struct milter_neg *neg,
                      char cmd, const struct rm_reply *r,
                      struct milter_enc_report *rep);

#endif
