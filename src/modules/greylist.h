/*
 * NAME
 *   greylist - what the greylisting module offers other modules
 *
 * DESCRIPTION
 *   Greylisting runs in one of two modes per config generation:
 *
 *   - at DATA (the envelope), the default, and always when no spam
 *     scanner is configured: the greylist module's own DATA hook;
 *   - on the scanner's verdict, when spamd { spamd_greylist = yes } AND
 *     spamd { servers } is set: the DATA hook stands aside and the
 *     scanner module calls greylist_check_message() at EOM for the
 *     verdicts it greylists (greylist_verdict_driven() tells which mode a
 *     generation is in). Only in this mode can a reply (replies module,
 *     m->is_reply, known at EOH) skip greylisting: at DATA no header has
 *     arrived yet. The original rmilter's documentation glossed over that.
 *
 *   Both modes check the same triplets, with the same records and the
 *   same exemptions (authenticated senders and our_networks, the
 *   greylisting { whitelist } networks, the auto-whitelist) and answer
 *   the same 451 4.7.1 <greylisted_message>.
 *
 * THREAD SAFETY
 *   Both functions may be called from any session thread.
 */
#ifndef RM_GREYLIST_H
#define RM_GREYLIST_H

#include <stdbool.h>

#include "core/module.h"

/*
 * greylist_verdict_driven - true if cfg greylists on the spam scanner's
 * verdict (spamd_greylist = yes and spamd servers set) instead of at DATA
 */
bool greylist_verdict_driven(const struct rm_config *cfg);

/*
 * greylist_check_message - greylist m now, on a spam scanner's verdict
 *
 * For the scanner module's EOM hook, when greylist_verdict_driven() and
 * its verdict is one that greylists (rspamd's "greylist" action, or what
 * the scanner maps to it). m and v are the hook's own arguments.
 * Returns
 *   RM_FINAL     greylisted, or a store failure under redis.on_failure =
 *                tempfail: v holds the 451 4.7.1 tempfail and a note; the
 *                hook returns RM_FINAL as it is;
 *   RM_CONTINUE  not greylisted: every triplet passed, or the message is
 *                exempt (authenticated or our_networks, a whitelisted
 *                client, a reply to our mail, the auto-whitelist), or the
 *                generation has no greylisting, or a store failure under
 *                on_failure = accept | continue (logged); v is untouched
 *                and the scanner goes on with its own verdict.
 * It never returns RM_ERROR: redis.on_failure applies here, not the
 * scanner's on_failure. Every outcome is logged by the greylist module.
 */
enum rm_status greylist_check_message(struct rm_msg *m, struct rm_verdict *v);

#endif
