/*
 * NAME
 *   upstream_registry - every live upstream pool, for metrics and stats
 *
 * DESCRIPTION
 *   upstream.c registers each pool it builds (upstream_pool_new) and
 *   unregisters it first thing in upstream_pool_free. upstream_foreach
 *   visits every member of every registered pool once: while a reload
 *   overlaps two generations, two pool objects of the same name share
 *   their members' state, so a (pool name, member) pair is visited only
 *   for the first pool that has it.
 *
 * THREAD SAFETY
 *   One mutex guards the registry. upstream_foreach holds it while it
 *   takes snapshots (upstream_stats takes the pool's group lock): lock
 *   order registry, then group. upstream.c calls the add/del functions
 *   without holding any lock. fn must not create or free pools.
 */
#ifndef RM_NET_UPSTREAM_REGISTRY_H
#define RM_NET_UPSTREAM_REGISTRY_H

#include <stdint.h>

#include "net/upstream.h"

typedef void (*rm_upstream_visit_fn)(const char *pool, const char *member,
                                     const struct rm_upstream_stats *st,
                                     void *arg);

/* upstream_foreach - fn(pool name, member as written, snapshot at now_ms,
 * arg) for every member of every live pool */
void upstream_foreach(rm_upstream_visit_fn fn, void *arg, uint64_t now_ms);

/* for upstream.c only */
void upstream__registry_add(struct rm_upstream_pool *pool);
void upstream__registry_del(struct rm_upstream_pool *pool);

#endif
