/*
 * NAME
 *   modules - the module structs src/modules/ exports
 *
 * DESCRIPTION
 *   One declaration per check; src/core/modules.c lists them in run order.
 *   See core/module.h for the interface.
 */
#ifndef RM_MODULES_H
#define RM_MODULES_H

#include "core/module.h"

extern const struct rm_module rm_ratelimit_module;
extern const struct rm_module rm_greylist_module;
extern const struct rm_module rm_replies_module;
extern const struct rm_module rm_rules_module;
extern const struct rm_module rm_spf_module;
extern const struct rm_module rm_karma_module;
extern const struct rm_module rm_spamd_module;
extern const struct rm_module rm_clamav_module;
extern const struct rm_module rm_beanstalk_module;
extern const struct rm_module rm_dkim_module;

#endif
