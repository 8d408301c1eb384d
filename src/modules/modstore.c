/*
 * NAME
 *   modstore - open the store of a role: Redis or the embedded table
 *
 * DESCRIPTION
 *   See modstore.h for the rules. This file only maps a role to its
 *   servers, mirrors and pool name and calls the store constructors.
 *
 *   It also holds the clock the three modules share (modstore_now_ms), so
 *   that unit tests can drive greylisting and buckets with a fake one.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The returned handle belongs to the caller (its module's generation).
 *   modstore_open is called from module init only. The clock pointer is
 *   set by tests before any session runs and only read afterwards.
 */
#include <stdio.h>

#include "core/module.h"
#include "modules/modstore.h"

/* `rmilter replay` keeps every role in the embedded store */
static bool embedded_only;

void
modstore_embedded_only(bool on)
{
    embedded_only = on;
}

/* role_servers - the servers and mirrors of role, NULL when none */
static const struct rm_servers *
role_servers(const struct rm_config *cfg, enum rm_store_role role,
             const struct rm_servers **mirrors)
{
    const struct rm_cfg_redis *r = &cfg->redis;
    const struct rm_servers *s = NULL;

    *mirrors = NULL;
    if (embedded_only)
        return NULL;
    switch (role) {
    case RM_ROLE_GREY:
        s = &r->servers_grey;
        *mirrors = &r->mirror_grey;
        break;
    case RM_ROLE_WHITE:
        s = r->servers_white.n > 0 ? &r->servers_white : &r->servers_grey;
        *mirrors = &r->mirror_white;
        break;
    case RM_ROLE_LIMITS:
        s = &r->servers_limits;
        break;
    case RM_ROLE_ID:
        s = &r->servers_id;
        break;
    }
    if (s == NULL || s->n == 0)
        return NULL;
    if (*mirrors != NULL && (*mirrors)->n == 0)
        *mirrors = NULL;
    return s;
}

static rm_clock_fn clock_fn = rm_clock_wall;
static void *clock_arg;

uint64_t
modstore_now_ms(void)
{
    return clock_fn(clock_arg);
}

void
modstore_test_set_clock(rm_clock_fn fn, void *arg)
{
    clock_fn = fn != NULL ? fn : rm_clock_wall;
    clock_arg = fn != NULL ? arg : NULL;
}

/* pool_name - the upstream pool of a role; white records on the grey
 * servers (no servers_white) share the grey pool's name, hence its health
 * state: one server, one verdict on whether it is dead */
static const char *
pool_name(const struct rm_config *cfg, enum rm_store_role role)
{
    switch (role) {
    case RM_ROLE_GREY:
        return "redis_grey";
    case RM_ROLE_WHITE:
        return cfg->redis.servers_white.n > 0 ? "redis_white" : "redis_grey";
    case RM_ROLE_LIMITS:
        return "redis_limits";
    default:
        return "redis_id";
    }
}

bool
modstore_is_redis(const struct rm_config *cfg, enum rm_store_role role)
{
    const struct rm_servers *mirrors;

    return role_servers(cfg, role, &mirrors) != NULL;
}

int
modstore_open(const struct rm_config *cfg, enum rm_store_role role,
              struct rm_store **out, struct rm_diag *diag)
{
    struct rm_store_redis_opts o = {0};
    struct rm_store_err err = {{0}};
    const struct rm_servers *servers, *mirrors;

    *out = NULL;
    servers = role_servers(cfg, role, &mirrors);
    if (servers == NULL) {
        *out = store_mem_shared(cfg->greylisting.store_size);
        return 0;
    }
    store_redis_opts_from_cfg(&o, &cfg->redis);
    o.name = pool_name(cfg, role);
    o.servers = servers;
    o.mirrors = mirrors;
    if (store_redis_new(&o, out, &err) < 0) {
        module_diag(diag, "%s: error: redis: %s",
                    cfg_where(cfg, RM_SEC_redis, 0, NULL), err.msg);
        return -1;
    }
    return 0;
}

const char *
modstore_describe(const struct rm_config *cfg, enum rm_store_role role,
                  char *buf, size_t len)
{
    const struct rm_servers *servers, *mirrors;

    servers = role_servers(cfg, role, &mirrors);
    if (servers == NULL)
        snprintf(buf, len, "embedded store");
    else
        snprintf(buf, len, "redis (%zu server%s%s)", servers->n,
                 servers->n == 1 ? "" : "s", mirrors ? ", mirrored" : "");
    return buf;
}
