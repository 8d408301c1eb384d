/*
 * NAME
 *   pipeline - the per-session check pipeline the milter engine drives
 *
 * DESCRIPTION
 *   The engine (src/milter/) decodes the MTA's commands and calls exactly
 *   one of the pipeline_* stage functions per command, in protocol order;
 *   the pipeline runs the enabled modules' hooks for that stage in the order
 *   of DESIGN.md, merges their verdicts and fills *out. The engine then
 *   encodes *out (reply.h) and calls reply_clear.
 *
 *   A session belongs to one thread at a time. It holds a reference to the
 *   config generation it was created with (cfg_ref) for its whole life, so a
 *   reload never changes the config under it; pipeline_session_free drops it.
 *
 *   Macros: the engine passes every SMFIC_MACRO packet to pipeline_macros
 *   before the command it belongs to; the pipeline keeps the latest value of
 *   each macro name ("i", "{auth_authen}", "j", ...; braces kept as sent).
 *
 *   Transaction state (sender, recipients, headers, spooled body, per-module
 *   message state) is cleared at pipeline_abort and at the next MAIL;
 *   connection state at pipeline_session_free or pipeline_reset (QUIT_NC:
 *   the MTA reuses the connection for a new SMTP session).
 *
 *   All functions return 0, or a negative value on an internal error, in
 *   which case *out already holds the failure reply (tempfail per policy):
 *   the engine sends it and goes on; it never closes the connection for it.
 */
#ifndef RM_PIPELINE_H
#define RM_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cfg/cfg.h"
#include "core/reply.h"

struct rm_session;

/* Stages a module can hook; the union over enabled modules tells the
 * engine which stages to ask the MTA for (the rest get SMFIP_NO*). */
enum rm_stage {
    RM_STAGE_CONNECT,
    RM_STAGE_HELO,
    RM_STAGE_MAIL,
    RM_STAGE_RCPT,
    RM_STAGE_DATA,
    RM_STAGE_HEADER,
    RM_STAGE_EOH,
    RM_STAGE_BODY,
    RM_STAGE_EOM,
    RM_STAGE_UNKNOWN,
    RM_STAGE_COUNT
};
#define RM_STAGE_BIT(s) (1u << (s))

/* Modifications the enabled modules may make at EOM (mapped by the engine
 * to SMFIF_ADDHDRS, SMFIF_CHGHDRS, ...). */
enum {
    RM_CAN_ADDHDRS = 1u << 0,
    RM_CAN_CHGHDRS = 1u << 1,
    RM_CAN_ADDRCPT = 1u << 2,
    RM_CAN_DELRCPT = 1u << 3,
    RM_CAN_CHGFROM = 1u << 4,
    RM_CAN_CHGBODY = 1u << 5,
    RM_CAN_QUARANTINE = 1u << 6,
    RM_CAN_SETSYMLIST = 1u << 7,
};

/* pipeline_needs - stages (RM_STAGE_BIT mask) and RM_CAN_* the enabled
 * modules of cfg need; the summary log and the session state always need
 * connect, helo, mail, rcpt and EOM. */
void pipeline_needs(const struct rm_config *cfg, uint32_t *stages,
                    uint32_t *actions);

/* pipeline_reply_stages - the stages (RM_STAGE_BIT mask) at which the
 * pipeline may answer anything but continue for cfg (an initialised
 * generation): EOM always; a stage where an enabled module has a hook and
 * may answer (struct rm_module.reply_stages, module.h REPLIES); MAIL when
 * connect or helo may be answered. At the other stages it receives, the
 * engine asks the MTA for no reply (SMFIP_NR_*). Without module state:
 * every stage. */
uint32_t pipeline_reply_stages(const struct rm_config *cfg);

/* pipeline_generation_init - per-generation module setup (compiling, key
 * loading, pools); called once after cfg_load succeeds and before the
 * generation serves sessions. 0, or -1 with diag filled. */
int pipeline_generation_init(struct rm_config *cfg, struct rm_diag *diag);

struct rm_session *pipeline_session_new(struct rm_config *cfg,
                                        unsigned long conn_id);
void pipeline_session_free(struct rm_session *s);
/* pipeline_reset - QUIT_NC: forget the SMTP session, keep the object */
void pipeline_reset(struct rm_session *s);

/* stage entry points (see DESCRIPTION) */
void pipeline_macro(struct rm_session *s, char cmd, const char *name,
                    const char *value);
/* family: AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC (unknown); addr is the
 * text address ("IPv6:" prefix already stripped) or the unix path */
int pipeline_connect(struct rm_session *s, const char *hostname, int family,
                     uint16_t port, const char *addr, struct rm_reply *out);
int pipeline_helo(struct rm_session *s, const char *helo, struct rm_reply *out);
/* argv[0] is the address as sent (<...>), argv[1..] the ESMTP arguments */
int pipeline_mail(struct rm_session *s, char **argv, size_t argc,
                  struct rm_reply *out);
int pipeline_rcpt(struct rm_session *s, char **argv, size_t argc,
                  struct rm_reply *out);
int pipeline_data(struct rm_session *s, struct rm_reply *out);
/* pipeline_header - a header as MTAs send it by default, with the space
 * after the colon eaten ("Subject: x" -> "x"); the spool and DKIM put one
 * back. pipeline_header_raw - with SMFIP_HDR_LEADSPC: raw is exactly what
 * follows the colon ("Subject:x" -> "x", "Subject: x" -> " x"), which the
 * spool and DKIM reproduce byte for byte; the checks see it without its
 * first space, as with pipeline_header. Values have LF line ends. */
int pipeline_header(struct rm_session *s, const char *name, const char *value,
                    struct rm_reply *out);
int pipeline_header_raw(struct rm_session *s, const char *name, const char *raw,
                        struct rm_reply *out);
int pipeline_eoh(struct rm_session *s, struct rm_reply *out);
int pipeline_body(struct rm_session *s, const char *chunk, size_t len,
                  struct rm_reply *out);
int pipeline_eom(struct rm_session *s, struct rm_reply *out);
int pipeline_unknown(struct rm_session *s, const char *cmd,
                     struct rm_reply *out);
void pipeline_abort(struct rm_session *s);

#endif
