/*
 * NAME
 *   module - the interface every check (a file in src/modules/) implements
 *
 * SYNOPSIS
 *   const struct rm_module rm_rules_module = {
 *       .name = "rules",
 *       .enabled = rules_enabled,
 *       .init = rules_init, .fini = rules_fini,
 *       .on_eom = rules_eom,
 *       .stages = RM_STAGE_BIT(RM_STAGE_EOM),
 *       .actions = RM_CAN_ADDHDRS | RM_CAN_QUARANTINE,
 *   };
 *
 * DESCRIPTION
 *   A module is one const struct rm_module, listed once in the table of
 *   src/core/modules.c; the table order is the order in which the pipeline
 *   calls the modules at every stage (DESIGN.md, "Order of checks").
 *
 *   Per config generation: enabled(cfg) says whether the module runs at all;
 *   if it does, init(cfg, &mconf, diag) builds its per-generation state (it
 *   may fail only there, at start-up or reload, with a diag line) and
 *   fini(mconf) releases it when the generation is freed. The pipeline keeps
 *   mconf with the generation, never in a global.
 *
 *   Per stage: a hook returns
 *     RM_CONTINUE  no opinion (header edits in the verdict are kept);
 *     RM_FINAL     the verdict holds a decision (accept, reject, tempfail,
 *                  discard, quarantine); the first final verdict of a
 *                  message wins and no further check runs for it;
 *     RM_DECLINED  not applicable (edits in the verdict are dropped);
 *     RM_ERROR     the backend or the module failed: the pipeline applies
 *                  the module's on_failure policy (tempfail by default):
 *                  tempfail answers 451 4.7.1 with a text naming no
 *                  internals, accept accepts the message as it is and
 *                  skips the remaining checks, continue ignores the module.
 *   At the RCPT stage a reject or tempfail (or a tempfail policy) refuses
 *   only the recipient being checked (m->rcpt_cur), which is then not added
 *   to the message; the transaction goes on.
 *
 *   Header edits (verdict_add_header, verdict_mod) accumulate over all
 *   modules and stages and are sent at EOM, unless the message ends
 *   rejected, tempfailed or discarded.
 *
 *   The flags let the pipeline apply the sender classes and the size gate
 *   in one place: a module flagged RM_MOD_SKIP_EXEMPT is not called for
 *   authenticated senders unless strict_auth is set (spam scans), one
 *   flagged RM_MOD_SKIP_AUTH never for authenticated senders (greylisting),
 *   RM_MOD_SKIP_WHITELISTED not when every recipient is in the global
 *   whitelist (from DATA on), and RM_MOD_CONTENT not at EOM when the
 *   message is larger than max_size. Skips show in the summary line.
 *
 *   Per-message state: m->mstate[idx] (see msg_state) belongs to the
 *   module; the pipeline calls msg_free on it when the transaction ends
 *   (EOM, abort, the next MAIL, QUIT_NC or close), after on_abort if the
 *   message did not reach EOM.
 *
 * REPLIES
 *   The MTA waits for an answer to every command it sends, unless the
 *   milter negotiated that a stage gets none (SMFIP_NR_*): that saves a
 *   round trip per header and per body chunk. The engine asks for that at
 *   every stage that no enabled module may answer (pipeline_reply_stages):
 *   a stage at which a module has a hook, and which its reply_stages
 *   names (all its hooked stages when 0), can be answered. A module whose
 *   hook at a stage only observes (always RM_CONTINUE or RM_DECLINED, and
 *   RM_ERROR only under on_failure = continue) should leave that stage out
 *   of reply_stages; RM_STAGE_BIT(RM_STAGE_EOM) alone says "answers at end
 *   of message only" (EOM is always answered). A decision a hook makes
 *   anyway at a stage without a reply is not lost: the message stays
 *   decided, and the engine gives the answer at the next stage that is
 *   answered (EOM at the latest), logging a warning.
 *
 * THE PARALLEL EOM PHASE
 *   A module whose EOM work is a request to a backend (clamd, spamd,
 *   rspamd) implements eom_start and eom_finish instead of on_eom, so that
 *   the pipeline can run the requests of several modules at once: a
 *   message then waits for the slowest backend, not for the sum.
 *
 *   When the EOM stage reaches such a module, the pipeline takes it and
 *   every following module that also has eom_start, up to the first
 *   module with a plain on_eom (modules without an EOM hook in between do
 *   not break the run), as one phase:
 *     1. start: for each member in table order (sender classes and the
 *        size gate apply as usual), eom_start either decides at once
 *        (any status, exactly as on_eom would) or adds exchanges with
 *        eom_batch_add and returns RM_PENDING. An immediate result is
 *        merged at once when no earlier member is pending; if it decides
 *        the message, the remaining members are not started.
 *     2. run: one batch_run (net/batch.h) over every exchange added,
 *        until the latest of their deadlines (each exchange sets its own
 *        ex_deadline_ms; an unset one gets RM_EOM_TIMEOUT_MS). Each
 *        exchange reports to its upstream pool (a timeout is a failure)
 *        and to metrics_backend under ex_name. Every event is logged at
 *        debug level ("<tag>: eom: <ex_name> <event> <server> +<ms>ms").
 *     3. finish: for each member in table order, eom_finish of a pending
 *        one reads its exchanges' results (ex_res) and returns its status
 *        and verdict; results merge in table order with the usual rules
 *        (the first final verdict wins, RM_ERROR applies on_failure).
 *        Once the message is decided, the finish hooks of the remaining
 *        pending members still run, so their outcome shows in the summary
 *        line, but msg_decided(m) is true and their verdicts are ignored:
 *        they should then only note and log what the backend said.
 *   The check's time in the summary line is the module's own hook time
 *   plus the span of its exchanges, so it reads as the backend's latency.
 *   A module that adds exchanges but returns anything but RM_PENDING has
 *   its exchanges dropped unrun. on_eom is not called for a module that
 *   has eom_start.
 *
 *   The exchange slots belong to the pipeline: a module fills the one
 *   eom_batch_add returns (its fill/feed callbacks usually point into the
 *   module's per-message state) and may keep the pointer until its
 *   eom_finish returns.
 *
 * THREAD SAFETY
 *   Hooks of one session are never called concurrently; different sessions
 *   run on different threads, so mconf is read-only after init (or guarded
 *   by the module itself).
 */
#ifndef RM_MODULE_H
#define RM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "core/pipeline.h"
#include "core/reply.h"
#include "core/session.h"

/* RM_PENDING: only from eom_start (see THE PARALLEL EOM PHASE). */
enum rm_status { RM_CONTINUE, RM_FINAL, RM_DECLINED, RM_ERROR, RM_PENDING };

/* Extra bit in a module's stages mask: the module reads the spooled message
 * (core/spool.h) at EOM, so the pipeline must ask for headers and body and
 * spool them. */
#define RM_NEED_SPOOL (1u << 31)

/* Module flags (struct rm_module.flags), see DESCRIPTION. */
enum {
    RM_MOD_SKIP_EXEMPT = 1u << 0,
    RM_MOD_SKIP_AUTH = 1u << 1,
    RM_MOD_SKIP_WHITELISTED = 1u << 2,
    RM_MOD_CONTENT = 1u << 3,
};

/* What a hook answers. r.action/rcode/xcode/text (and quarantine_reason)
 * matter with RM_FINAL; r.mods are header edits kept with RM_CONTINUE and
 * RM_FINAL. note is the check's outcome in the summary line ("pass",
 * "nomatch", "reject(rule x)"); without one the pipeline derives it from
 * the status. All strings are owned by the verdict; use the helpers. */
struct rm_verdict {
    struct rm_reply r;
    char *note;
};

typedef enum rm_status (*rm_hook_fn)(struct rm_msg *m, void *mconf,
                                     struct rm_verdict *v);

struct rm_batch_ex;
/* The exchanges of one parallel EOM phase (owned by the pipeline). */
struct rm_eom_batch;

/* Most exchanges one phase runs (net/batch.h's RM_BATCH_MAX). */
#define RM_EOM_EXCHANGES 64
/* The deadline of an exchange that sets no ex_deadline_ms. */
#define RM_EOM_TIMEOUT_MS 60000

struct rm_module {
    const char *name;
    /* enabled - does this generation run the module (a section written,
     * servers set, rules present, ...) */
    bool (*enabled)(const struct rm_config *cfg);
    /* init - per-generation state into *mconf; 0, or -1 with a line added
     * to diag (module_diag). NULL: no state. */
    int (*init)(const struct rm_config *cfg, void **mconf,
                struct rm_diag *diag);
    void (*fini)(void *mconf);
    /* on_failure - the policy for RM_ERROR (its section's on_failure);
     * NULL means tempfail */
    enum rm_on_failure (*on_failure)(const struct rm_config *cfg);

    rm_hook_fn on_connect;
    rm_hook_fn on_helo;
    rm_hook_fn on_mail;
    rm_hook_fn on_rcpt; /* m->rcpt_cur is the recipient being checked */
    rm_hook_fn on_data;
    enum rm_status (*on_header)(struct rm_msg *m, void *mconf, const char *name,
                                const char *value, struct rm_verdict *v);
    rm_hook_fn on_eoh;
    enum rm_status (*on_body)(struct rm_msg *m, void *mconf, const char *chunk,
                              size_t len, struct rm_verdict *v);
    rm_hook_fn on_eom;
    /* eom_start / eom_finish - instead of on_eom, for the parallel EOM
     * phase (see DESCRIPTION): start decides at once, or adds exchanges
     * to b and returns RM_PENDING; finish is then called after they ran */
    enum rm_status (*eom_start)(struct rm_msg *m, void *mconf,
                                struct rm_eom_batch *b, struct rm_verdict *v);
    rm_hook_fn eom_finish;
    enum rm_status (*on_unknown)(struct rm_msg *m, void *mconf, const char *cmd,
                                 struct rm_verdict *v);
    /* on_abort - the transaction ended before EOM */
    void (*on_abort)(struct rm_msg *m, void *mconf);
    /* msg_free - release m->mstate[idx] (called only when non-NULL) */
    void (*msg_free)(void *mstate);

    /* RM_STAGE_BIT mask of the hooks above (| RM_NEED_SPOOL) and the
     * RM_CAN_* actions the module may use: the most it can ever need */
    uint32_t stages;
    uint32_t actions;
    /* needs - optional: narrow stages/actions for one initialised
     * generation (e.g. no body stage when no rule looks at the body) */
    void (*needs)(const void *mconf, uint32_t *stages, uint32_t *actions);
    uint32_t flags; /* RM_MOD_* */
    /* reply_stages - RM_STAGE_BIT mask of the stages at which a hook of
     * the module may answer anything but continue; 0 (the default): every
     * stage it has a hook for. See REPLIES. */
    uint32_t reply_stages;
};

/* --- helpers for hooks (core/verdict.c) --- */

/* verdict_set - decide: action with an SMTP code ("554", "5.7.1", text);
 * for RM_ACT_QUARANTINE text is the quarantine reason. Returns RM_FINAL so
 * that a hook can `return verdict_set(...)`. */
enum rm_status verdict_set(struct rm_verdict *v, enum rm_action a,
                           const char *rcode, const char *xcode,
                           const char *text);
/* verdict_add_header - append "name: value" at EOM (value with LF line
 * ends for continuation lines) */
void verdict_add_header(struct rm_verdict *v, const char *name,
                        const char *value);
/* verdict_mod - any other message change (see reply.h) */
void verdict_mod(struct rm_verdict *v, enum rm_mod_kind kind, unsigned index,
                 const char *name, const char *value, size_t value_len);
/* verdict_note - the outcome shown in the summary line (printf format) */
void verdict_note(struct rm_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* msg_state - this module's per-message slot (NULL until set); valid only
 * inside a hook */
void **msg_state(struct rm_msg *m);

/* eom_batch_add - a zeroed exchange slot in b for the caller to fill
 * (net/batch.h: at least ex_name, ex_pool or ex_server, ex_feed, and
 * ex_deadline_ms), or NULL when the phase already holds RM_EOM_EXCHANGES;
 * valid until the module's eom_finish returns */
struct rm_batch_ex *eom_batch_add(struct rm_eom_batch *b);

/* msg_decided - true when an earlier check has already decided m (then
 * an eom_finish hook's verdict is ignored; see DESCRIPTION) */
bool msg_decided(const struct rm_msg *m);

/* module_diag - add an error line to diag from a module's init */
void module_diag(struct rm_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- for tests only --- */

/* pipeline_test_set_modules - replace the module table for generations
 * initialised from now on (NULL restores the built-in table). Not
 * thread-safe; call before any session runs. */
void pipeline_test_set_modules(const struct rm_module *const *mods, size_t n);

#endif
