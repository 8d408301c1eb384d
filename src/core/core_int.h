/*
 * NAME
 *   core_int - internals shared by the files of src/core/ (not for modules)
 *
 * DESCRIPTION
 *   struct rm_gen is the per-generation module state that
 *   pipeline_generation_init hangs off struct rm_config (modules_state):
 *   the enabled modules in table order, each with its mconf, its on_failure
 *   policy and its needs. It is immutable once built and freed with the
 *   generation (cfg_unref calls modules_state_free).
 *
 *   core__* functions are cross-file internals of the core unit.
 */
#ifndef RM_CORE_INT_H
#define RM_CORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/module.h"
#include "core/session.h"

struct rm_modrt {
    const struct rm_module *mod;
    void *mconf;
    uint32_t stages; /* RM_STAGE_BIT mask, | RM_NEED_SPOOL */
    uint32_t actions;
    enum rm_on_failure policy;
};

struct rm_gen {
    size_t n;
    struct rm_modrt *v;
    uint32_t stages;
    uint32_t actions;
    bool spool;   /* some module reads the spooled message */
    bool content; /* some module is a content scan (size gate) */
};

/* The stages the pipeline itself always needs (session state, summary). */
#define RM_CORE_STAGES                                                         \
    (RM_STAGE_BIT(RM_STAGE_CONNECT) | RM_STAGE_BIT(RM_STAGE_HELO) |            \
     RM_STAGE_BIT(RM_STAGE_MAIL) | RM_STAGE_BIT(RM_STAGE_RCPT) |               \
     RM_STAGE_BIT(RM_STAGE_DATA) | RM_STAGE_BIT(RM_STAGE_EOM))
/* What RM_NEED_SPOOL turns into. */
#define RM_SPOOL_STAGES                                                        \
    (RM_STAGE_BIT(RM_STAGE_HEADER) | RM_STAGE_BIT(RM_STAGE_EOH) |              \
     RM_STAGE_BIT(RM_STAGE_BODY))

/* modules.c: the table in force (built-in, or the test override) */
const struct rm_module *const *core__modules(size_t *n);

/* session.c */
uint64_t core__now_us(void);
void core__new_tag(struct rm_msg *m);
void core__conn_set(struct rm_session *s, const char *hostname, int family,
                    uint16_t port, const char *addr);
void core__conn_clear(struct rm_session *s);
void core__macro_set(struct rm_session *s, char cmd, const char *name,
                     const char *value);
/* drop the macros that came with transaction commands (not C or H) */
void core__macros_drop_txn(struct rm_session *s);
/* normalised copy of an address as sent (see session.h) */
char *core__addr_normalize(const char *raw);
/* fix m->sender_class, authenticated, exempt, user from the macros and
 * the client address */
void core__sender_class(struct rm_session *s);
/* add a header to m->hdrs (and m->message_id); see struct rm_header */
void core__header_add(struct rm_msg *m, const char *name, const char *value,
                      const char *raw);
/* free every transaction field of m and return it to the idle state */
void core__txn_clear(struct rm_session *s);
void core__rcpt_free(struct rm_rcpt *r);

/* summary.c: the one "msg done" line; action as it should read */
void core__summary(struct rm_session *s, const char *action);
/* a printable, single-line copy of s (control bytes become '?'), cut at
 * max bytes with "..." */
char *core__safe(const char *s, size_t max);

#endif
