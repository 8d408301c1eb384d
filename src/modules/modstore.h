/*
 * NAME
 *   modstore - which store greylisting, limits and reply ids use
 *
 * DESCRIPTION
 *   One place decides, per role, where a module's state lives:
 *
 *     role     Redis when                       else
 *     grey     redis.servers_grey is set        the embedded store
 *     white    servers_white, or servers_grey   the embedded store
 *     limits   servers_limits                   the embedded store
 *     id       servers_id                       the embedded store
 *
 *   The decision is per role, not per section: a redis { } section that
 *   sets only servers_limits leaves greylisting and reply ids in the
 *   embedded store (which needs no setup), it does not switch them off.
 *   The embedded store is one process-wide table (store_mem_shared) capped
 *   at greylisting.store_size, shared by every role that uses it; keys are
 *   told apart by their prefixes (grey_prefix, white_prefix, awl_prefix,
 *   limits_prefix, id_prefix).
 *
 *   Handles belong to one config generation (a module opens them in init
 *   and frees them in fini); the state behind them survives a reload: the
 *   daemon initialises the new generation before it releases the old one,
 *   so the embedded table always has a live handle, and Redis keeps its
 *   own. Redis pools are named "redis_<role>", so their health state
 *   carries over a reload too (net/upstream.h); white records kept on the
 *   grey servers use the pool name "redis_grey", so that both roles agree
 *   on which of those servers are dead.
 *
 * THREAD SAFETY
 *   modstore_open is called from module init only; the handles it returns
 *   are thread-safe (store.h).
 */
#ifndef RM_MODSTORE_H
#define RM_MODSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg/cfg.h"
#include "store/store.h"

enum rm_store_role {
    RM_ROLE_GREY,
    RM_ROLE_WHITE,
    RM_ROLE_LIMITS,
    RM_ROLE_ID,
};

/* modstore_is_redis - does role live in Redis under cfg? */
bool modstore_is_redis(const struct rm_config *cfg, enum rm_store_role role);

/*
 * modstore_open - a new store handle for role (see DESCRIPTION) into *out.
 * 0, or -1 with a line added to diag (a Redis pool that cannot be built,
 * e.g. a dbname that is not a number). The caller frees it with
 * store_free.
 */
int modstore_open(const struct rm_config *cfg, enum rm_store_role role,
                  struct rm_store **out, struct rm_diag *diag);

/*
 * modstore_now_ms - the clock greylisting, limits and reply ids go by:
 * the wall clock in ms (rm_clock_wall), so that several MTAs sharing
 * Redis agree on record times and bucket levels. Tests replace it with
 * modstore_test_set_clock (fn NULL restores the wall clock; not
 * thread-safe: call it before sessions run).
 */
uint64_t modstore_now_ms(void);
void modstore_test_set_clock(rm_clock_fn fn, void *arg);

/* modstore_embedded_only - with on, every role uses the embedded store
 * whatever redis { } says (`rmilter replay`: state starts empty and stays
 * in the process). Set before generations are initialised. */
void modstore_embedded_only(bool on);

/* modstore_describe - "redis (2 servers)" or "embedded" for logs */
const char *modstore_describe(const struct rm_config *cfg,
                              enum rm_store_role role, char *buf, size_t len);

#endif
