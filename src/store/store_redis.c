/*
 * NAME
 *   store_redis - the Redis backend of the key/value store
 *
 * DESCRIPTION
 *   Keys are sharded over the servers of an upstream pool with the HASHED
 *   policy (consistent hashing on the key, the same on every daemon given
 *   the same server list); every result is reported to the pool
 *   (upstream_ok / upstream_fail), so a dead server's keys move to the
 *   next member until it comes back.
 *
 *   Wire: commands are formatted and replies parsed by hiredis
 *   (redisFormatCommandArgv, redisReader); the bytes travel through
 *   net/io.c. Two reasons not to use hiredis' blocking context: its
 *   writes use write(2), so a server that went away raises SIGPIPE in
 *   the milter thread; and its SO_RCVTIMEO bounds each read(2), not the
 *   exchange. Here a command and its whole reply share one deadline
 *   (read_timeout), connect has its own (connect_timeout), and writes use
 *   MSG_NOSIGNAL.
 *
 *   Connections: one per (thread, server, password, db), cached in a
 *   thread-local list and reused by every handle of every generation; an
 *   idle one is closed after CONN_IDLE_MS, and all of a thread's at its
 *   exit. After every (re)connect AUTH (if a password is set) and SELECT
 *   (if a dbname is set) are sent before anything else. An I/O error, a
 *   timeout, a protocol error or an error reply closes the connection
 *   and is a failure for the pool. Exceptions that are not the server's
 *   fault: NOSCRIPT (EVALSHA is retried as EVAL on the same connection)
 *   and a bucket key holding a foreign value (-EBADMSG). A reused
 *   connection that the server had closed (restart, idle timeout) is
 *   reopened once for the same command before that counts as a failure.
 *
 *   Buckets: one Lua script (EVALSHA, falling back to EVAL) loads, leaks,
 *   adds and stores a bucket in one step, so that two MTAs can never
 *   overwrite each other's update. It is store_bucket_apply() step for
 *   step, with the same operation order, so that both backends give the
 *   same doubles and the same text form.
 *
 *   Values are text; set_nx is SET NX PX; mirrors (mirror_grey,
 *   mirror_white) get every set, created set_nx and del, best effort: a
 *   failure is reported to the mirror pool and logged at debug level only.
 *
 *   Ownership and thread-safety: a handle owns its upstream pools and is
 *   immutable; any thread may use it concurrently. The connection cache is
 *   per thread and needs no lock.
 *
 * SEE ALSO
 *   store.h, store_bucket.c, net/upstream.h, net/io.h
 */
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/io.h"
#include "net/upstream.h"
#include "store/store.h"

#define CONN_IDLE_MS (10 * 60 * 1000)
#define MAX_ARGS 10 /* the most a command here has (EVALSHA: 9) */

struct redis_store {
    struct rm_store base;
    struct rm_upstream_pool *pool;
    struct rm_upstream_pool *mirrors; /* NULL: none */
    char *password;                   /* NULL: none */
    char *dbname;                     /* NULL: none */
    uint64_t connect_timeout_ms;
    uint64_t read_timeout_ms;
};

/* One cached connection of this thread. */
struct conn {
    struct conn *next;
    char *id; /* server, password and db: what the connection is */
    int fd;
    redisReader *rd;
    uint64_t used_ms;
    unsigned long uses; /* commands answered on it */
};

struct conn_cache {
    struct conn *head;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local struct conn_cache *tl_cache;

/* ---- the bucket script ---- */

/* Keep in step with store_bucket_apply() and store_bucket_ttl_ms(). */
static const char bucket_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local rate = tonumber(ARGV[3])\n"
    "local incr = tonumber(ARGV[4])\n"
    "local force = ARGV[5] == '1'\n"
    "local eps = 1e-9\n"
    "local level, last = 0, now\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local t, l = string.match(v, '^(%d+):([-+.%deE]+)$')\n"
    "  t = tonumber(t)\n"
    "  l = tonumber(l)\n"
    "  if not t or not l or l ~= l or l < 0 or l == math.huge then\n"
    "    return redis.error_reply('EBADMSG not a bucket')\n"
    "  end\n"
    "  level, last = l, t\n"
    "end\n"
    "if now > last then\n"
    "  level = level - (now - last) / 1000 * rate\n"
    "  if level < 0 then level = 0 end\n"
    "  last = now\n"
    "end\n"
    "local over, store = 0, false\n"
    "if incr == 0 then\n"
    "  if level + 1 > burst + eps then over = 1 end\n"
    "elseif incr > 0 then\n"
    "  if level + incr > burst + eps then over = 1 end\n"
    "  if over == 0 or force then\n"
    "    level = level + incr\n"
    "    store = true\n"
    "  end\n"
    "else\n"
    "  level = level + incr\n"
    "  if level < 0 then level = 0 end\n"
    "  store = true\n"
    "end\n"
    "if store then\n"
    "  local ttl = 1000\n"
    "  if level > 0 then\n"
    "    ttl = math.ceil(level / rate * 1000) + 1000\n"
    "    if not (ttl < 31536000000) then ttl = 31536000000 end\n"
    "  end\n"
    "  redis.call('SET', KEYS[1], string.format('%d:%.17g', last, level),\n"
    "             'PX', ttl)\n"
    "end\n"
    "return {over, string.format('%.17g', level)}\n";

static char bucket_sha[41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

/* bucket_sha_init - the SHA-1 EVALSHA names the script by */
static void
bucket_sha_init(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    if (EVP_Digest(bucket_lua, strlen(bucket_lua), md, &n, EVP_sha1(), NULL) !=
            1 ||
        n != 20) {
        /* EVALSHA of a wrong name gets NOSCRIPT and falls back to EVAL */
        memset(bucket_sha, '0', 40);
        return;
    }
    for (i = 0; i < n; i++)
        snprintf(bucket_sha + 2 * i, 3, "%02x", md[i]);
}

/* ---- the per-thread connection cache ---- */

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->rd != NULL)
        redisReaderFree(c->rd);
    free(c->id);
    free(c);
}

static void
cache_destroy(void *p)
{
    struct conn_cache *cc = p;
    struct conn *c, *next;

    if (cc == NULL)
        return;
    for (c = cc->head; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    free(cc);
}

static void
cache_key_init(void)
{
    (void)pthread_key_create(&cache_key, cache_destroy);
}

static struct conn_cache *
cache_get(void)
{
    if (tl_cache == NULL) {
        pthread_once(&cache_once, cache_key_init);
        tl_cache = xcalloc(1, sizeof(*tl_cache));
        (void)pthread_setspecific(cache_key, tl_cache);
    }
    return tl_cache;
}

void
store_redis_thread_cleanup(void)
{
    if (tl_cache == NULL)
        return;
    pthread_once(&cache_once, cache_key_init);
    (void)pthread_setspecific(cache_key, NULL);
    cache_destroy(tl_cache);
    tl_cache = NULL;
}

/* conn_drop - take c out of this thread's cache and close it */
static void
conn_drop(struct conn *c)
{
    struct conn **pp;

    for (pp = &cache_get()->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    conn_close(c);
}

/* conn_id - what a connection to srv for rs is; a new string */
static char *
conn_id(const struct redis_store *rs, const struct rm_server *srv)
{
    if (srv->path != NULL)
        return xasprintf("unix:%s\x1f%s\x1f%s", srv->path,
                         rs->dbname ? rs->dbname : "",
                         rs->password ? rs->password : "");
    return xasprintf("%s:%u\x1f%s\x1f%s", srv->host, (unsigned)srv->port,
                     rs->dbname ? rs->dbname : "",
                     rs->password ? rs->password : "");
}

/* conn_lookup - this thread's connection with id, closing idle ones */
static struct conn *
conn_lookup(const char *id, uint64_t now)
{
    struct conn_cache *cc = cache_get();
    struct conn **pp = &cc->head, *c, *found = NULL;

    while ((c = *pp) != NULL) {
        if (found == NULL && strcmp(c->id, id) == 0) {
            found = c;
        } else if (now - c->used_ms > CONN_IDLE_MS) {
            *pp = c->next;
            conn_close(c);
            continue;
        }
        pp = &c->next;
    }
    return found;
}

/* ---- one exchange on one connection ---- */

/* norm_rc - io codes as the store reports them */
static int
norm_rc(int rc)
{
    if (rc == -IO_ECLOSED)
        return -ECONNRESET;
    if (rc == -IO_ERESOLVE)
        return -EHOSTUNREACH;
    return rc;
}

/* exchange - send one command on c and read its reply before deadline.
 * 0 with *out set (any reply type, errors included), or negative (I/O,
 * timeout, protocol): the caller must drop c. */
static int
exchange(struct conn *c, int argc, const char **argv, const size_t *lens,
         uint64_t deadline, redisReply **out, const char **why)
{
    char *cmd = NULL, buf[4096];
    void *reply = NULL;
    size_t got;
    int len, rc;

    *out = NULL;
    if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0) {
        *why = "cannot format the command";
        return -ENOMEM;
    }
    rc = io_write_all(c->fd, cmd, (size_t)len, deadline);
    redisFreeCommand(cmd);
    if (rc < 0) {
        *why = "write";
        return rc;
    }
    for (;;) {
        if (redisReaderGetReply(c->rd, &reply) != REDIS_OK) {
            *why = c->rd->errstr[0] ? c->rd->errstr : "protocol error";
            return -EPROTO;
        }
        if (reply != NULL)
            break;
        if ((rc = io_read_some(c->fd, buf, sizeof(buf), deadline, &got)) < 0) {
            *why = "read";
            return rc;
        }
        if (got == 0) {
            *why = "read";
            return -IO_ECLOSED;
        }
        if (redisReaderFeed(c->rd, buf, got) != REDIS_OK) {
            *why = "protocol error";
            return -EPROTO;
        }
    }
    *out = reply;
    c->uses++;
    return 0;
}

/* expect_ok - send a command whose answer must be +OK (AUTH, SELECT) */
static int
expect_ok(struct conn *c, int argc, const char **argv, uint64_t timeout_ms,
          const char *what, const char *server, struct rm_store_err *err)
{
    size_t lens[MAX_ARGS];
    redisReply *r;
    const char *why = NULL;
    int i, rc;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = exchange(c, argc, argv, lens, io_deadline(timeout_ms), &r, &why);
    if (rc < 0) {
        store_err_set(err, "redis %s: %s: %s: %s", server, what, why,
                      io_strerror(rc));
        return norm_rc(rc);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        store_err_set(err, "redis %s: %s: %.100s", server, what, r->str);
        rc = -EPROTO;
        if (strncmp(r->str, "WRONGPASS", 9) == 0 ||
            strncmp(r->str, "NOAUTH", 6) == 0 ||
            strstr(r->str, "invalid password") != NULL)
            rc = -EACCES;
    } else if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) {
        store_err_set(err, "redis %s: %s: unexpected reply", server, what);
        rc = -EPROTO;
    }
    freeReplyObject(r);
    return rc;
}

/* conn_open - connect to srv, AUTH and SELECT; a cached connection */
static int
conn_open(struct redis_store *rs, const struct rm_server *srv, const char *name,
          char *id, struct conn **out, struct rm_store_err *err)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    const char *argv[2];
    int rc;

    c->id = id;
    c->fd = -1;
    rc = io_connect(srv, io_deadline(rs->connect_timeout_ms), &c->fd);
    if (rc < 0) {
        store_err_set(err, "redis %s: connect: %s", name, io_strerror(rc));
        rc = norm_rc(rc);
        goto out;
    }
    if ((c->rd = redisReaderCreate()) == NULL) {
        store_err_set(err, "redis %s: out of memory", name);
        rc = -ENOMEM;
        goto out;
    }
    if (rs->password != NULL) {
        argv[0] = "AUTH";
        argv[1] = rs->password;
        if ((rc = expect_ok(c, 2, argv, rs->read_timeout_ms, "AUTH", name,
                            err)) < 0)
            goto out;
    }
    if (rs->dbname != NULL) {
        argv[0] = "SELECT";
        argv[1] = rs->dbname;
        if ((rc = expect_ok(c, 2, argv, rs->read_timeout_ms, "SELECT", name,
                            err)) < 0)
            goto out;
    }
    c->uses = 0;
    c->used_ms = io_now_ms();
    c->next = cache_get()->head;
    cache_get()->head = c;
    *out = c;
    return 0;
out:
    conn_close(c);
    return rc;
}

/* stale - the error a reused connection shows when the server closed it */
static bool
stale(int rc)
{
    return rc == -IO_ECLOSED || rc == -ECONNRESET || rc == -EPIPE;
}

/*
 * member_exec - run one command on up's server through this thread's
 * connection: 0 with *out (any reply type), or a failure (connection
 * already dropped, err filled). *conn_out is the connection that answered,
 * valid until the next call on this thread.
 */
static int
member_exec(struct redis_store *rs, struct rm_upstream *up, int argc,
            const char **argv, const size_t *lens, redisReply **out,
            struct conn **conn_out, struct rm_store_err *err)
{
    const struct rm_server *srv = upstream_server(up);
    const char *name = upstream_name(up), *why = NULL;
    char *id = conn_id(rs, srv);
    struct conn *c;
    int rc = 0, attempt;
    bool retry;

    for (attempt = 0; attempt < 2; attempt++) {
        c = conn_lookup(id, io_now_ms());
        if (c == NULL) {
            rc = conn_open(rs, srv, name, xstrdup(id), &c, err);
            if (rc < 0)
                break;
        }
        rc = exchange(c, argc, argv, lens, io_deadline(rs->read_timeout_ms),
                      out, &why);
        if (rc == 0) {
            c->used_ms = io_now_ms();
            *conn_out = c;
            break;
        }
        store_err_set(err, "redis %s: %s %s: %s", name, argv[0], why,
                      io_strerror(rc));
        /* a connection the server closed while it sat in the cache
         * (restart, its idle timeout): one more try on a fresh one. The
         * command almost never reached the server then; in the rare case
         * it ran and the server died before answering, a bucket take may
         * count twice, which errs on the side of limiting. */
        retry = c->uses > 0 && stale(rc);
        rc = norm_rc(rc);
        conn_drop(c);
        if (!retry)
            break;
    }
    free(id);
    return rc;
}

/* ---- operations ---- */

/*
 * run - pick the member for key, run the command, apply the reply policy
 * (see DESCRIPTION) and report to the pool. 0 with *out, or negative.
 */
static int
run(struct redis_store *rs, struct rm_upstream *up, int argc, const char **argv,
    size_t *lens, redisReply **out, struct rm_store_err *err)
{
    const char *name = upstream_name(up);
    struct rm_store_err local = {""};
    struct conn *c = NULL;
    redisReply *r = NULL;
    int rc;

    if (err == NULL)
        err = &local; /* the pool wants the reason even if the caller not */
    rc = member_exec(rs, up, argc, argv, lens, &r, &c, err);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        strcmp(argv[0], "EVALSHA") == 0) {
        freeReplyObject(r);
        r = NULL;
        argv[0] = "EVAL";
        argv[1] = bucket_lua;
        lens[0] = 4;
        lens[1] = strlen(bucket_lua);
        rc = member_exec(rs, up, argc, argv, lens, &r, &c, err);
    }
    if (rc == 0 && r->type == REDIS_REPLY_ERROR) {
        store_err_set(err, "redis %s: %s: %.120s", name, argv[0], r->str);
        if (strstr(r->str, "EBADMSG") != NULL) {
            rc = -EBADMSG; /* our script found foreign data: not the server */
        } else {
            rc = strncmp(r->str, "NOAUTH", 6) == 0 ? -EACCES : -EPROTO;
            conn_drop(c);
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (store_failed(rc) && rc != -EBADMSG)
        upstream_fail(up, upstream_now_ms(), err->msg);
    else
        upstream_ok(up, upstream_now_ms());
    *out = r;
    return rc;
}

/* run_key - run on the member the pool's hash picks for key */
static int
run_key(struct redis_store *rs, const char *key, int argc, const char **argv,
        size_t *lens, redisReply **out, struct rm_store_err *err)
{
    struct rm_upstream *up;

    up = upstream_get(rs->pool, key, strlen(key), upstream_now_ms());
    if (up == NULL) {
        store_err_set(err, "redis: no servers");
        return -EHOSTUNREACH;
    }
    return run(rs, up, argc, argv, lens, out, err);
}

/* mirror - send a write to every live mirror, best effort */
static void
mirror(struct redis_store *rs, int argc, const char **argv)
{
    size_t i, n, lens[MAX_ARGS];
    struct rm_store_err merr;
    struct rm_upstream *up;
    redisReply *r;
    int j;

    if (rs->mirrors == NULL)
        return;
    n = upstream_pool_size(rs->mirrors);
    for (i = 0; i < n; i++) {
        up = upstream_pool_member(rs->mirrors, i);
        if (!upstream_is_alive(up, upstream_now_ms()))
            continue;
        for (j = 0; j < argc; j++)
            lens[j] = strlen(argv[j]);
        merr.msg[0] = '\0';
        if (run(rs, up, argc, argv, lens, &r, &merr) < 0)
            msg_debug("store: mirror write failed: %s", merr.msg);
        if (r != NULL)
            freeReplyObject(r);
    }
}

static void
set_lens(int argc, const char **argv, size_t *lens)
{
    int i;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
}

/* unexpected - a reply of a type the command cannot give */
static int
unexpected(const char *cmd, redisReply *r, struct rm_store_err *err)
{
    store_err_set(err, "redis: %s: unexpected reply type %d", cmd, r->type);
    return -EPROTO;
}

static int
redis_get(struct rm_store *st, const char *key, char *val, size_t len,
          struct rm_store_err *err)
{
    struct redis_store *rs = (struct redis_store *)st;
    const char *argv[2] = {"GET", key};
    size_t lens[2];
    redisReply *r;
    int rc;

    set_lens(2, argv, lens);
    if ((rc = run_key(rs, key, 2, argv, lens, &r, err)) < 0)
        return rc;
    if (r->type == REDIS_REPLY_NIL) {
        rc = -ENOENT;
    } else if (r->type != REDIS_REPLY_STRING) {
        rc = unexpected("GET", r, err);
    } else if ((size_t)r->len >= len || memchr(r->str, '\0', r->len)) {
        store_err_set(err, "redis: %s holds %zu bytes, not our value", key,
                      (size_t)r->len);
        rc = -EMSGSIZE;
    } else {
        memcpy(val, r->str, r->len);
        val[r->len] = '\0';
    }
    freeReplyObject(r);
    return rc;
}

/* redis_put - SET key val [PX ttl] [NX] */
static int
redis_put(struct rm_store *st, const char *key, const char *val,
          uint64_t ttl_ms, bool nx, struct rm_store_err *err)
{
    struct redis_store *rs = (struct redis_store *)st;
    const char *argv[6] = {"SET", key, val, "PX", NULL, "NX"};
    char ttl[24];
    size_t lens[6];
    int argc = 3, rc;
    redisReply *r;

    if (ttl_ms != 0) {
        snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
        argv[4] = ttl;
        argc = 5;
    }
    if (nx)
        argv[argc++] = "NX";
    set_lens(argc, argv, lens);
    if ((rc = run_key(rs, key, argc, argv, lens, &r, err)) < 0)
        return rc;
    if (nx && r->type == REDIS_REPLY_NIL)
        rc = -EEXIST;
    else if (r->type != REDIS_REPLY_STATUS)
        rc = unexpected("SET", r, err);
    freeReplyObject(r);
    if (rc == 0)
        mirror(rs, nx ? argc - 1 : argc, argv);
    return rc;
}

static int
redis_set(struct rm_store *st, const char *key, const char *val,
          uint64_t ttl_ms, struct rm_store_err *err)
{
    return redis_put(st, key, val, ttl_ms, false, err);
}

static int
redis_set_nx(struct rm_store *st, const char *key, const char *val,
             uint64_t ttl_ms, struct rm_store_err *err)
{
    return redis_put(st, key, val, ttl_ms, true, err);
}

static int
redis_del(struct rm_store *st, const char *key, struct rm_store_err *err)
{
    struct redis_store *rs = (struct redis_store *)st;
    const char *argv[2] = {"DEL", key};
    size_t lens[2];
    redisReply *r;
    int rc;

    set_lens(2, argv, lens);
    if ((rc = run_key(rs, key, 2, argv, lens, &r, err)) < 0)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = unexpected("DEL", r, err);
    else if (r->integer == 0)
        rc = -ENOENT;
    freeReplyObject(r);
    if (rc == 0 || rc == -ENOENT)
        mirror(rs, 2, argv);
    return rc;
}

static int
redis_bucket(struct rm_store *st, const char *key,
             const struct rm_bucket_req *req, struct rm_bucket_res *res,
             struct rm_store_err *err)
{
    struct redis_store *rs = (struct redis_store *)st;
    char now[24], burst[32], rate[32], incr[32];
    const char *argv[9] = {"EVALSHA", bucket_sha, "1",
                           key,       now,        burst,
                           rate,      incr,       req->force ? "1" : "0"};
    size_t lens[9];
    redisReply *r;
    char *end;
    int rc;

    pthread_once(&sha_once, bucket_sha_init);
    snprintf(now, sizeof(now), "%" PRIu64, req->now_ms);
    snprintf(burst, sizeof(burst), "%.17g", req->burst);
    snprintf(rate, sizeof(rate), "%.17g", req->rate);
    snprintf(incr, sizeof(incr), "%.17g", req->incr);
    set_lens(9, argv, lens);
    if ((rc = run_key(rs, key, 9, argv, lens, &r, err)) < 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        rc = unexpected("EVALSHA", r, err);
        goto out;
    }
    res->over = r->element[0]->integer != 0;
    res->level = strtod(r->element[1]->str, &end);
    if (*end != '\0') {
        store_err_set(err, "redis: bucket script returned '%.40s'",
                      r->element[1]->str);
        rc = -EPROTO;
    }
out:
    freeReplyObject(r);
    return rc;
}

static void
redis_free(struct rm_store *st)
{
    struct redis_store *rs = (struct redis_store *)st;

    upstream_pool_free(rs->pool);
    upstream_pool_free(rs->mirrors);
    free(rs->password);
    free(rs->dbname);
    free(rs);
}

static const struct rm_store_ops redis_ops = {
    .name = "redis",
    .get = redis_get,
    .set = redis_set,
    .set_nx = redis_set_nx,
    .del = redis_del,
    .bucket = redis_bucket,
    .free = redis_free,
};

void
store_redis_opts_from_cfg(struct rm_store_redis_opts *o,
                          const struct rm_cfg_redis *rc)
{
    o->password = rc->password;
    o->dbname = rc->dbname;
    o->connect_timeout_ms = rc->connect_timeout;
    o->read_timeout_ms = rc->read_timeout;
    o->error_time_ms = rc->error_time;
    o->maxerrors = (unsigned)rc->maxerrors;
    o->dead_time_ms = rc->dead_time;
}

int
store_redis_new(const struct rm_store_redis_opts *o, struct rm_store **out,
                struct rm_store_err *err)
{
    struct redis_store *rs;
    char *mname;
    const char *p;

    *out = NULL;
    if (o->servers == NULL || o->servers->n == 0) {
        store_err_set(err, "redis %s: no servers", o->name);
        return -EINVAL;
    }
    if (o->dbname != NULL && o->dbname[0] != '\0') {
        for (p = o->dbname; *p != '\0'; p++) {
            if (!isdigit((unsigned char)*p)) {
                store_err_set(err, "redis: dbname '%s' is not a number",
                              o->dbname);
                return -EINVAL;
            }
        }
    }
    pthread_once(&sha_once, bucket_sha_init);
    rs = xcalloc(1, sizeof(*rs));
    rs->base.ops = &redis_ops;
    rs->pool =
        upstream_pool_new(o->name, o->servers, RM_UPSTREAM_HASHED,
                          o->error_time_ms, o->maxerrors, o->dead_time_ms);
    if (o->mirrors != NULL && o->mirrors->n > 0) {
        mname = xasprintf("%s_mirror", o->name);
        rs->mirrors =
            upstream_pool_new(mname, o->mirrors, RM_UPSTREAM_RANDOM,
                              o->error_time_ms, o->maxerrors, o->dead_time_ms);
        free(mname);
    }
    if (o->password != NULL && o->password[0] != '\0')
        rs->password = xstrdup(o->password);
    if (o->dbname != NULL && o->dbname[0] != '\0')
        rs->dbname = xstrdup(o->dbname);
    rs->connect_timeout_ms =
        o->connect_timeout_ms ? o->connect_timeout_ms : 1000;
    rs->read_timeout_ms = o->read_timeout_ms ? o->read_timeout_ms : 1000;
    *out = &rs->base;
    return 0;
}

struct rm_upstream_pool *
store_redis_pool(struct rm_store *st)
{
    if (st == NULL || st->ops != &redis_ops)
        return NULL;
    return ((struct redis_store *)st)->pool;
}
