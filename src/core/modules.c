/*
 * NAME
 *   modules - the one table of check modules, in the order they run
 *
 * DESCRIPTION
 *   The pipeline calls the enabled modules in this order at every stage.
 *   The order follows DESIGN.md ("Order of checks"), whose EOM column is
 *   the one that matters most:
 *
 *     ratelimit  RCPT: take from the buckets; the   src/modules/ratelimit.c
 *                take is given back when the recipient or message is
 *                not accepted (abort, EOM reject/tempfail/discard)
 *     greylist   DATA, or on the spam verdict       src/modules/greylist.c
 *                (the scanner calls greylist_check_message, greylist.h)
 *     replies    MAIL/EOH: is this a reply to our   src/modules/replies.c
 *                mail (m->is_reply); EOM: remember authenticated ids
 *     rules      EOM                                 src/modules/rules.c
 *     spf        DATA (all recipients known; a     src/modules/spf.c
 *                reply refuses DATA, not the body)
 *     karma      EOH: send; EOM: collect and score   src/modules/karma.c
 *     -- size gate: RM_MOD_CONTENT modules are skipped for messages over
 *        max_size (the pipeline does it, core/pipeline.c) --
 *     spamd      EOM, parallel phase (RM_MOD_CONTENT, src/modules/spamd.c
 *                RM_MOD_SKIP_EXEMPT, RM_MOD_SKIP_WHITELISTED)
 *     clamav     EOM, parallel phase (RM_MOD_CONTENT, src/modules/clamav.c
 *                RM_MOD_SKIP_WHITELISTED); spamd and clamav run
 *                their backend requests at once (core/module.h, THE
 *                PARALLEL EOM PHASE); their verdicts merge in this order
 *     beanstalk  EOM: copies to beanstalkd; after   src/modules/beanstalk.c
 *                the scanners (spam copies read
 *                m->spam_action), before DKIM
 *     dkim       EOM, last: signs the final headers  src/modules/dkim.c
 *
 *   A new module is a file in src/modules/ exporting one
 *   `const struct rm_module rm_<name>_module` plus one line below.
 *
 *   Tests may swap the table (pipeline_test_set_modules); generations keep
 *   the table they were initialised with, so a swap never changes a
 *   running generation.
 *
 * THREAD SAFETY
 *   The built-in table is constant. The test override is a plain global,
 *   set before sessions run.
 */
#include <stddef.h>

#include "core/core_int.h"
#include "modules/modules.h"

/* one module a line, in stage order */
/* clang-format off */
static const struct rm_module *const builtin[] = {
    &rm_ratelimit_module,
    &rm_greylist_module,
    &rm_replies_module,
    &rm_rules_module,
    &rm_spf_module,
    &rm_karma_module,
    &rm_spamd_module,
    &rm_clamav_module,
    &rm_beanstalk_module,
    &rm_dkim_module, /* last: signs the final headers */
};
/* clang-format on */

static const struct rm_module *const *override;
static size_t n_override;

const struct rm_module *const *
core__modules(size_t *n)
{
    if (override != NULL) {
        *n = n_override;
        return override;
    }
    *n = sizeof(builtin) / sizeof(builtin[0]);
    return builtin;
}

void
pipeline_test_set_modules(const struct rm_module *const *mods, size_t n)
{
    override = mods;
    n_override = mods ? n : 0;
}
