/*
 * NAME
 *   store - the backend-independent half of the key/value interface
 *
 * DESCRIPTION
 *   The store_* wrappers check what every backend would have to check
 *   (key and value lengths, bucket parameters) and dispatch through the
 *   handle's rm_store_ops, so a backend only sees valid requests. Also the
 *   two clocks and the error-line helper.
 *
 *   Ownership: the handle belongs to whoever created it (a config
 *   generation); store_free releases it through the backend.
 *   Thread-safety: nothing here has state; backends are thread-safe.
 *
 * SEE ALSO
 *   store.h
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/now.h"
#include "store/store.h"

uint64_t
rm_clock_wall(void *arg)
{
    (void)arg;
    return now_wall_ms(); /* simulated under `rmilter replay` (lib/now.h) */
}

uint64_t
rm_clock_mono(void *arg)
{
    (void)arg;
    return now_mono_ms(); /* simulated under `rmilter replay` (lib/now.h) */
}

void
store_err_set(struct rm_store_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* check_key - non-empty and at most RM_STORE_KEY_MAX bytes */
static int
check_key(const char *key, struct rm_store_err *err)
{
    size_t n;

    if (key == NULL || (n = strlen(key)) == 0) {
        store_err_set(err, "store: empty key");
        return -EINVAL;
    }
    if (n > RM_STORE_KEY_MAX) {
        store_err_set(err, "store: key of %zu bytes (at most %d)", n,
                      RM_STORE_KEY_MAX);
        return -EINVAL;
    }
    return 0;
}

/* check_val - at most RM_STORE_VAL_MAX bytes */
static int
check_val(const char *val, struct rm_store_err *err)
{
    size_t n;

    if (val == NULL) {
        store_err_set(err, "store: no value");
        return -EINVAL;
    }
    n = strlen(val);
    if (n > RM_STORE_VAL_MAX) {
        store_err_set(err, "store: value of %zu bytes (at most %d)", n,
                      RM_STORE_VAL_MAX);
        return -EINVAL;
    }
    return 0;
}

int
store_get(struct rm_store *st, const char *key, char *val, size_t len,
          struct rm_store_err *err)
{
    int rc;

    if ((rc = check_key(key, err)) < 0)
        return rc;
    if (val == NULL || len == 0) {
        store_err_set(err, "store: no buffer");
        return -EINVAL;
    }
    return st->ops->get(st, key, val, len, err);
}

int
store_set(struct rm_store *st, const char *key, const char *val,
          uint64_t ttl_ms, struct rm_store_err *err)
{
    int rc;

    if ((rc = check_key(key, err)) < 0 || (rc = check_val(val, err)) < 0)
        return rc;
    return st->ops->set(st, key, val, ttl_ms, err);
}

int
store_set_nx(struct rm_store *st, const char *key, const char *val,
             uint64_t ttl_ms, struct rm_store_err *err)
{
    int rc;

    if ((rc = check_key(key, err)) < 0 || (rc = check_val(val, err)) < 0)
        return rc;
    return st->ops->set_nx(st, key, val, ttl_ms, err);
}

int
store_del(struct rm_store *st, const char *key, struct rm_store_err *err)
{
    int rc;

    if ((rc = check_key(key, err)) < 0)
        return rc;
    return st->ops->del(st, key, err);
}

int
store_bucket(struct rm_store *st, const char *key,
             const struct rm_bucket_req *req, struct rm_bucket_res *res,
             struct rm_store_err *err)
{
    int rc;

    if ((rc = check_key(key, err)) < 0)
        return rc;
    if (!(req->burst > 0) || !(req->rate > 0) || !isfinite(req->burst) ||
        !isfinite(req->rate) || !isfinite(req->incr)) {
        store_err_set(err, "store: bad bucket %g:%g (incr %g)", req->burst,
                      req->rate, req->incr);
        return -EINVAL;
    }
    return st->ops->bucket(st, key, req, res, err);
}

void
store_free(struct rm_store *st)
{
    if (st != NULL)
        st->ops->free(st);
}

const char *
store_name(const struct rm_store *st)
{
    return st->ops->name;
}
