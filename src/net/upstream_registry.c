/*
 * NAME
 *   upstream_registry - the list of live upstream pools (see the header)
 *
 * DESCRIPTION
 *   A growable array of pool pointers under one mutex. Registration order
 *   is kept (a removal shifts the tail), so a scrape lists pools in the
 *   order the configuration built them, and the older of two generations'
 *   pools first.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The registry does not own the pools; upstream_pool_free unregisters a
 *   pool before freeing it, so a pointer in the array is always valid
 *   while the mutex is held.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "net/upstream_registry.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rm_upstream_pool **pools;
static size_t n_pools, cap_pools;

void
upstream__registry_add(struct rm_upstream_pool *pool)
{
    pthread_mutex_lock(&reg_lock);
    if (n_pools == cap_pools) {
        cap_pools = cap_pools ? 2 * cap_pools : 16;
        pools = xrealloc(pools, cap_pools * sizeof(*pools));
    }
    pools[n_pools++] = pool;
    pthread_mutex_unlock(&reg_lock);
}

void
upstream__registry_del(struct rm_upstream_pool *pool)
{
    size_t i;

    pthread_mutex_lock(&reg_lock);
    for (i = 0; i < n_pools; i++) {
        if (pools[i] == pool) {
            memmove(&pools[i], &pools[i + 1],
                    (n_pools - i - 1) * sizeof(*pools));
            n_pools--;
            break;
        }
    }
    if (n_pools == 0) {
        free(pools);
        pools = NULL;
        cap_pools = 0;
    }
    pthread_mutex_unlock(&reg_lock);
}

/* seen_before - does an earlier pool of the same name hold this member? */
static bool
seen_before(size_t upto, const char *name, const char *member)
{
    size_t i, j, n;

    for (i = 0; i < upto; i++) {
        if (strcmp(upstream_pool_name(pools[i]), name) != 0)
            continue;
        n = upstream_pool_size(pools[i]);
        for (j = 0; j < n; j++)
            if (strcmp(upstream_name(upstream_pool_member(pools[i], j)),
                       member) == 0)
                return true;
    }
    return false;
}

void
upstream_foreach(rm_upstream_visit_fn fn, void *arg, uint64_t now_ms)
{
    struct rm_upstream_stats st;
    struct rm_upstream *up;
    const char *name;
    size_t i, j, n;

    pthread_mutex_lock(&reg_lock);
    for (i = 0; i < n_pools; i++) {
        name = upstream_pool_name(pools[i]);
        n = upstream_pool_size(pools[i]);
        for (j = 0; j < n; j++) {
            up = upstream_pool_member(pools[i], j);
            if (seen_before(i, name, upstream_name(up)))
                continue;
            upstream_stats(up, now_ms, &st);
            fn(name, upstream_name(up), &st, arg);
        }
    }
    pthread_mutex_unlock(&reg_lock);
}
