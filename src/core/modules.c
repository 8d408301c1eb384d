/*
 * NAME
 *   modules - the one table of check modules, in the order they run
 *
 * DESCRIPTION
 *   The pipeline calls the enabled modules in this order at every stage.
 *   The order follows DESIGN.md ("Order of checks"), whose EOM column is
 *   the one that matters most:
 *
 *     ratelimit  RCPT check, EOM bucket update      (to come)
 *     greylist   DATA, or EOM on the spam verdict   (to come)
 *     rules      EOM                                 src/modules/rules.c
 *     spf        EOM                                 (to come)
 *     karma      EOM                                 (to come)
 *     -- size gate: RM_MOD_CONTENT modules are skipped for messages over
 *        max_size (the pipeline does it, core/pipeline.c) --
 *     spamd      EOM (RM_MOD_CONTENT, RM_MOD_SKIP_EXEMPT)    (to come)
 *     clamav     EOM (RM_MOD_CONTENT)                (to come)
 *     beanstalk  EOM                                 (to come)
 *     dkim       EOM, last: signs the final headers  (to come)
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

static const struct rm_module *const builtin[] = {
    &rm_rules_module,
};

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
