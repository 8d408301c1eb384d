/*
 * NAME
 *   reply - what the pipeline answers the MTA at one milter stage
 *
 * DESCRIPTION
 *   struct rm_reply is filled by the pipeline and encoded by the engine
 *   (src/milter/). It is the only thing that crosses from core to milter
 *   besides the stage calls in pipeline.h. At EOM it carries the message
 *   modifications in the order they must be sent, then the final action.
 *   Texts may hold several lines separated by "\n": the engine sends them as
 *   a multi-line reply (code-xcode text lines). All strings are owned by the
 *   reply and released by reply_clear.
 */
#ifndef RM_REPLY_H
#define RM_REPLY_H

#include <stddef.h>

enum rm_action {
    RM_ACT_CONTINUE,   /* SMFIR_CONTINUE */
    RM_ACT_ACCEPT,     /* SMFIR_ACCEPT: stop calling us for this message */
    RM_ACT_REJECT,     /* SMFIR_REJECT or SMFIR_REPLYCODE 5xx */
    RM_ACT_TEMPFAIL,   /* SMFIR_TEMPFAIL or SMFIR_REPLYCODE 4xx */
    RM_ACT_DISCARD,    /* SMFIR_DISCARD */
    RM_ACT_QUARANTINE, /* SMFIR_QUARANTINE(reason) then SMFIR_CONTINUE */
    RM_ACT_SKIP,       /* SMFIR_SKIP: no more body chunks needed */
    RM_ACT_NONE,       /* no reply at all (stage negotiated SMFIP_NR_*) */
};

enum rm_mod_kind {
    RM_MOD_ADD_HEADER,    /* SMFIR_ADDHEADER name value */
    RM_MOD_INSERT_HEADER, /* SMFIR_INSHEADER index name value */
    RM_MOD_CHANGE_HEADER, /* SMFIR_CHGHEADER index name value (NULL deletes) */
    RM_MOD_ADD_RCPT,      /* SMFIR_ADDRCPT / SMFIR_ADDRCPT_PAR with args */
    RM_MOD_DEL_RCPT,      /* SMFIR_DELRCPT */
    RM_MOD_CHANGE_FROM,   /* SMFIR_CHGFROM with args */
    RM_MOD_REPLACE_BODY,  /* SMFIR_REPLBODY (value holds the whole body) */
};

struct rm_mod {
    enum rm_mod_kind kind;
    unsigned index; /* header index (1-based for change; 0 = top for insert) */
    char *name;     /* header name, or the address for rcpt/from */
    char *value;    /* header value (LF line ends), ESMTP args, or body */
    size_t value_len;
};

struct rm_reply {
    enum rm_action action;
    char rcode[4];  /* "550"; empty: the MTA's default text */
    char xcode[12]; /* "5.7.1"; may be empty */
    char *text;     /* reply text, lines separated by "\n"; NULL if none */
    char *quarantine_reason;
    size_t n_mods;
    struct rm_mod *mods;
};

void reply_init(struct rm_reply *r);
void reply_clear(struct rm_reply *r);
/* reply_set - action with an SMTP code: rcode "451", xcode "4.7.1", text */
void reply_set(struct rm_reply *r, enum rm_action a, const char *rcode,
               const char *xcode, const char *text);
/* reply_add_mod - append a modification; strings are copied (NULL ok) */
void reply_add_mod(struct rm_reply *r, enum rm_mod_kind kind, unsigned index,
                   const char *name, const char *value, size_t value_len);

#endif
