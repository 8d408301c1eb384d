/*
 * NAME
 *   test_store_redis - the Redis backend against real redis-server
 *
 * DESCRIPTION
 *   Starts its own redis-server processes on 127.0.0.1 (ports from
 *   RM_TEST_REDIS_PORT, default 6391, skipping ports in use), without
 *   persistence, and stops them by PID. Covers: get/set/TTL/del/set_nx,
 *   foreign values, the bucket script (same results and text as the
 *   embedded store; atomic under threads; NOSCRIPT fallback), one
 *   connection per thread, reconnect after a restart, AUTH + SELECT after
 *   every reconnect, errors as pool failures, timeouts, mirrors, sharding
 *   and unix sockets. Skipped when redis-server is not installed
 *   (scripts/install-deps.sh installs it).
 *
 *   No assertion depends on the wall clock: TTLs are checked with PTTL
 *   bounds, buckets get explicit times.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg/cfg_types.h"
#include "net/upstream.h"
#include "store/store.h"

#define T0 1700000000000ull

struct redis_proc {
    pid_t pid;
    int port;
    char pass[32];  /* requirepass, or "" */
    char sock[128]; /* unixsocket, or "" */
};

static char redis_bin[256];
static char tmpdir[64];
static int next_port;

static void
pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static bool
port_in_use(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    return rc == 0;
}

static int
free_port(void)
{
    while (port_in_use(next_port))
        next_port++;
    return next_port++;
}

/* raw - a plain hiredis connection for looking behind the store's back */
static redisContext *
raw(const struct redis_proc *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *rep;

    assert_non_null(c);
    assert_int_equal(c->err, 0);
    if (r->pass[0] != '\0') {
        rep = redisCommand(c, "AUTH %s", r->pass);
        assert_non_null(rep);
        assert_int_equal(rep->type, REDIS_REPLY_STATUS);
        freeReplyObject(rep);
    }
    return c;
}

/* raw_cmd - run a command on a fresh raw connection; the reply */
static redisReply *
raw_cmd(const struct redis_proc *r, const char *fmt, ...)
{
    redisContext *c = raw(r);
    redisReply *rep;
    va_list ap;

    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(rep);
    redisFree(c);
    return rep;
}

static long long
raw_int(const struct redis_proc *r, const char *fmt, const char *arg)
{
    redisReply *rep = raw_cmd(r, fmt, arg);
    long long v;

    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* raw_info_long - a number field of INFO <section>, 0 if absent */
static long
raw_info_long(const struct redis_proc *r, const char *section,
              const char *field)
{
    redisReply *rep = raw_cmd(r, "INFO %s", section);
    const char *p;
    long v = 0;

    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    if ((p = strstr(rep->str, field)) != NULL)
        v = atol(p + strlen(field));
    freeReplyObject(rep);
    return v;
}

/* raw_connections - total_connections_received from INFO stats */
static long
raw_connections(const struct redis_proc *r)
{
    redisReply *rep = raw_cmd(r, "INFO stats");
    const char *p;
    long v;

    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    p = strstr(rep->str, "total_connections_received:");
    assert_non_null(p);
    v = atol(p + strlen("total_connections_received:"));
    freeReplyObject(rep);
    return v;
}

static void
redis_start(struct redis_proc *r)
{
    char port[16];
    const char *argv[24];
    int n = 0, i, fd;

    snprintf(port, sizeof(port), "%d", r->port);
    argv[n++] = redis_bin;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = tmpdir;
    if (r->pass[0] != '\0') {
        argv[n++] = "--requirepass";
        argv[n++] = r->pass;
    }
    if (r->sock[0] != '\0') {
        argv[n++] = "--unixsocket";
        argv[n++] = r->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    argv[n] = NULL;
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(redis_bin, (char *const *)argv);
        _exit(127);
    }
    for (i = 0; i < 500 && !port_in_use(r->port); i++)
        pause_ms(10);
    assert_true(port_in_use(r->port));
}

static void
redis_stop(struct redis_proc *r)
{
    int status, i;

    if (r->pid <= 0)
        return;
    kill(r->pid, SIGTERM);
    waitpid(r->pid, &status, 0);
    r->pid = 0;
    for (i = 0; i < 500 && port_in_use(r->port); i++)
        pause_ms(10);
}

static struct redis_proc main_redis, auth_redis, second_redis;

/* servers - a one- or two-server list on loopback */
struct srvlist {
    struct rm_server v[2];
    char text[2][64];
    struct rm_servers l;
};

static void
srvlist(struct srvlist *s, int port1, int port2)
{
    int i, ports[2] = {port1, port2};

    memset(s, 0, sizeof(*s));
    for (i = 0; i < 2 && ports[i] != 0; i++) {
        snprintf(s->text[i], sizeof(s->text[i]), "127.0.0.1:%d", ports[i]);
        s->v[i].host = "127.0.0.1";
        s->v[i].port = (uint16_t)ports[i];
        s->v[i].weight = 1;
        s->v[i].text = s->text[i];
    }
    s->l.n = (size_t)i;
    s->l.v = s->v;
}

static struct rm_store *
open_store(const char *name, const struct rm_servers *servers,
           const struct rm_servers *mirrors, const char *pass, const char *db)
{
    struct rm_store_redis_opts o = {
        .name = name,
        .servers = servers,
        .mirrors = mirrors,
        .password = pass,
        .dbname = db,
        .connect_timeout_ms = 1000,
        .read_timeout_ms = 2000,
        .error_time_ms = 10000,
        .maxerrors = 1000,
        .dead_time_ms = 1000,
    };
    struct rm_store_err err = {""};
    struct rm_store *st = NULL;

    assert_int_equal(store_redis_new(&o, &st, &err), 0);
    assert_non_null(st);
    return st;
}

static int
setup(void **state)
{
    const char *dirs[] = {"/usr/bin", "/usr/local/bin", "/usr/sbin"};
    const char *env = getenv("RM_TEST_REDIS_PORT");
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", dirs[i]);
        if (access(redis_bin, X_OK) == 0)
            break;
        redis_bin[0] = '\0';
    }
    if (redis_bin[0] == '\0')
        return 0;
    strcpy(tmpdir, "/tmp/rm_store_redis.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    next_port = env != NULL ? atoi(env) : 6391;
    main_redis.port = free_port();
    snprintf(main_redis.sock, sizeof(main_redis.sock), "%s/redis.sock", tmpdir);
    redis_start(&main_redis);
    second_redis.port = free_port();
    redis_start(&second_redis);
    auth_redis.port = free_port();
    strcpy(auth_redis.pass, "s3cret");
    redis_start(&auth_redis);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    redis_stop(&main_redis);
    redis_stop(&second_redis);
    redis_stop(&auth_redis);
    store_redis_thread_cleanup();
    if (tmpdir[0] != '\0') {
        unlink(main_redis.sock);
        rmdir(tmpdir);
    }
    return 0;
}

#define NEED_REDIS()                                                           \
    do {                                                                       \
        if (redis_bin[0] == '\0') {                                            \
            fprintf(stderr, "redis-server not installed: skipped\n");          \
            skip();                                                            \
        }                                                                      \
    } while (0)

static void
test_basic(void **state)
{
    struct srvlist s;
    struct rm_store *st;
    struct rm_store_err err = {""};
    char v[RM_STORE_VAL_MAX + 1], big[300];
    long long pttl;
    redisReply *rep;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    st = open_store("redis_basic", &s.l, NULL, NULL, NULL);
    assert_string_equal(store_name(st), "redis");
    assert_int_equal(store_del(st, "t.basic", &err), -ENOENT);
    assert_int_equal(store_get(st, "t.basic", v, sizeof(v), &err), -ENOENT);
    assert_int_equal(store_set(st, "t.basic", "1700000000000", 60000, &err), 0);
    assert_int_equal(store_get(st, "t.basic", v, sizeof(v), &err), 0);
    assert_string_equal(v, "1700000000000");
    pttl = raw_int(&main_redis, "PTTL %s", "t.basic");
    assert_true(pttl > 0 && pttl <= 60000);
    /* TTL 0: no expiry */
    assert_int_equal(store_set(st, "t.basic", "x", 0, &err), 0);
    assert_int_equal(raw_int(&main_redis, "PTTL %s", "t.basic"), -1);
    assert_int_equal(store_del(st, "t.basic", &err), 0);
    assert_int_equal(store_get(st, "t.basic", v, sizeof(v), &err), -ENOENT);

    /* set_nx: SET NX PX */
    assert_int_equal(store_set_nx(st, "t.nx", "first", 5000, &err), 0);
    assert_int_equal(store_set_nx(st, "t.nx", "second", 5000, &err), -EEXIST);
    assert_int_equal(store_get(st, "t.nx", v, sizeof(v), &err), 0);
    assert_string_equal(v, "first");
    pttl = raw_int(&main_redis, "PTTL %s", "t.nx");
    assert_true(pttl > 0 && pttl <= 5000);

    /* values that are not ours: too long, or binary */
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    freeReplyObject(raw_cmd(&main_redis, "SET t.big %s", big));
    assert_int_equal(store_get(st, "t.big", v, sizeof(v), &err), -EMSGSIZE);
    rep = raw_cmd(&main_redis, "SET t.bin %b", "a\0b", (size_t)3);
    freeReplyObject(rep);
    assert_int_equal(store_get(st, "t.bin", v, sizeof(v), &err), -EMSGSIZE);
    /* the connection stays usable */
    assert_int_equal(store_get(st, "t.nx", v, sizeof(v), &err), 0);
    store_free(st);
}

/* a key of the wrong type: an error reply, a failure for the pool */
static void
test_error_reply(void **state)
{
    struct srvlist s;
    struct rm_store *st;
    struct rm_store_err err = {""};
    struct rm_upstream_stats us;
    struct rm_upstream *up;
    char v[64];
    int rc;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    st = open_store("redis_err", &s.l, NULL, NULL, NULL);
    freeReplyObject(raw_cmd(&main_redis, "DEL t.list"));
    freeReplyObject(raw_cmd(&main_redis, "LPUSH t.list a"));
    rc = store_get(st, "t.list", v, sizeof(v), &err);
    assert_int_equal(rc, -EPROTO);
    assert_true(store_failed(rc));
    assert_non_null(strstr(err.msg, "WRONGTYPE"));
    assert_non_null(strstr(err.msg, s.text[0]));
    up = upstream_pool_member(store_redis_pool(st), 0);
    upstream_stats(up, upstream_now_ms(), &us);
    assert_int_equal(us.fails_total, 1);
    assert_int_equal(store_get(st, "t.nolist", v, sizeof(v), &err), -ENOENT);
    upstream_stats(up, upstream_now_ms(), &us);
    assert_int_equal(us.oks_total, 1);
    assert_null(store_redis_pool(NULL));
    store_free(st);
}

/* one connection per thread, reused for every operation */
static void
test_connection_reuse(void **state)
{
    struct srvlist s;
    struct rm_store *a, *b;
    char v[64];
    long before, after;
    int i;

    (void)state;
    NEED_REDIS();
    store_redis_thread_cleanup();
    srvlist(&s, main_redis.port, 0);
    a = open_store("redis_reuse_a", &s.l, NULL, NULL, NULL);
    b = open_store("redis_reuse_b", &s.l, NULL, NULL, NULL);
    before = raw_connections(&main_redis);
    for (i = 0; i < 100; i++) {
        assert_int_equal(store_set(a, "t.reuse", "1", 1000, NULL), 0);
        assert_int_equal(store_get(b, "t.reuse", v, sizeof(v), NULL), 0);
    }
    after = raw_connections(&main_redis);
    /* ours plus the raw one INFO itself used */
    assert_int_equal(after - before, 2);
    store_free(a);
    store_free(b);
}

/* both backends give the same answers and store the same text */
static void
test_bucket_matches_memory(void **state)
{
    struct srvlist s;
    struct rm_store *r, *m;
    struct rm_bucket_req req;
    struct rm_bucket_res rr, mr;
    char rv[128], mv[128];
    unsigned seed = 42;
    uint64_t now = T0;
    long long pttl;
    int i, passed = 0;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    r = open_store("redis_bucket", &s.l, NULL, NULL, NULL);
    m = store_mem_new(1 << 20, NULL, NULL);
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.b"));

    /* exactly burst pass at one instant */
    req = (struct rm_bucket_req){T0, 3, 0.5, 1, false};
    for (i = 0; i < 5; i++) {
        assert_int_equal(store_bucket(r, "rl.t.b", &req, &rr, NULL), 0);
        passed += !rr.over;
    }
    assert_int_equal(passed, 3);
    assert_int_equal(store_get(r, "rl.t.b", rv, sizeof(rv), NULL), 0);
    assert_string_equal(rv, "1700000000000:3");
    pttl = raw_int(&main_redis, "PTTL %s", "rl.t.b");
    assert_true(pttl > 0 && pttl <= 7000);
    /* recovery: one more after 2000 ms, not after 1999 */
    req.incr = 0;
    req.now_ms = T0 + 1999;
    assert_int_equal(store_bucket(r, "rl.t.b", &req, &rr, NULL), 0);
    assert_true(rr.over);
    req.now_ms = T0 + 2000;
    assert_int_equal(store_bucket(r, "rl.t.b", &req, &rr, NULL), 0);
    assert_false(rr.over);
    assert_true(rr.level == 2);
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.b"));

    /* a random walk: identical levels, flags and stored text */
    for (i = 0; i < 300; i++) {
        now += (uint64_t)(rand_r(&seed) % 1500);
        req.now_ms = now;
        req.burst = 4.5;
        req.rate = 1.0 / 3;
        req.incr = (double)(rand_r(&seed) % 4) - 1; /* -1, 0, 1, 2 */
        req.force = rand_r(&seed) % 5 == 0;
        assert_int_equal(store_bucket(r, "rl.t.walk", &req, &rr, NULL), 0);
        assert_int_equal(store_bucket(m, "rl.t.walk", &req, &mr, NULL), 0);
        assert_int_equal(rr.over, mr.over);
        assert_true(rr.level == mr.level);
        if (store_get(m, "rl.t.walk", mv, sizeof(mv), NULL) == 0) {
            assert_int_equal(store_get(r, "rl.t.walk", rv, sizeof(rv), NULL),
                             0);
            assert_string_equal(rv, mv);
        }
    }
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.walk"));
    store_free(r);
    store_free(m);
}

/* a flushed script cache: EVALSHA gets NOSCRIPT, EVAL runs it */
static void
test_bucket_noscript(void **state)
{
    struct srvlist s;
    struct rm_store *r;
    struct rm_bucket_req req = {T0, 2, 1, 1, false};
    struct rm_bucket_res res;
    struct rm_upstream_stats us;
    long evals;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    r = open_store("redis_noscript", &s.l, NULL, NULL, NULL);

    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.ns"));
    freeReplyObject(raw_cmd(&main_redis, "SCRIPT FLUSH"));
    evals = raw_info_long(&main_redis, "commandstats", "cmdstat_eval:calls=");
    assert_int_equal(store_bucket(r, "rl.t.ns", &req, &res, NULL), 0);
    assert_false(res.over);
    /* one EVAL loaded it; from then on EVALSHA finds it */
    assert_int_equal(
        raw_info_long(&main_redis, "commandstats", "cmdstat_eval:calls="),
        evals + 1);
    assert_int_equal(store_bucket(r, "rl.t.ns", &req, &res, NULL), 0);
    assert_false(res.over);
    assert_int_equal(
        raw_info_long(&main_redis, "commandstats", "cmdstat_eval:calls="),
        evals + 1);
    assert_int_equal(store_bucket(r, "rl.t.ns", &req, &res, NULL), 0);
    assert_true(res.over);
    upstream_stats(upstream_pool_member(store_redis_pool(r), 0),
                   upstream_now_ms(), &us);
    assert_int_equal(us.fails_total, 0);
    /* a foreign value: -EBADMSG, and not the server's fault */
    freeReplyObject(raw_cmd(&main_redis, "SET rl.t.ns garbage"));
    assert_int_equal(store_bucket(r, "rl.t.ns", &req, &res, NULL), -EBADMSG);
    upstream_stats(upstream_pool_member(store_redis_pool(r), 0),
                   upstream_now_ms(), &us);
    assert_int_equal(us.fails_total, 0);
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.ns"));
    store_free(r);
}

#define THREADS 8
#define TRIES 100
#define BURST 50

struct hammer {
    struct rm_store *st;
    _Atomic int passed;
    _Atomic int failed;
};

static void *
hammer(void *arg)
{
    struct hammer *h = arg;
    struct rm_bucket_req req = {T0, BURST, 0.001, 1, false};
    struct rm_bucket_res res;
    int i;

    for (i = 0; i < TRIES; i++) {
        if (store_bucket(h->st, "rl.t.hot", &req, &res, NULL) != 0)
            atomic_fetch_add(&h->failed, 1);
        else if (!res.over)
            atomic_fetch_add(&h->passed, 1);
    }
    return NULL; /* the thread's connection closes as it exits */
}

/* two "MTAs" (two handles), many threads, one bucket: exactly burst */
static void
test_bucket_threads(void **state)
{
    struct srvlist s;
    struct hammer h1 = {0}, h2 = {0};
    pthread_t t[THREADS];
    int i;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    h1.st = open_store("redis_mta1", &s.l, NULL, NULL, NULL);
    h2.st = open_store("redis_mta2", &s.l, NULL, NULL, NULL);
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.hot"));
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, i % 2 ? &h1 : &h2),
                         0);
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(h1.failed + h2.failed, 0);
    assert_int_equal(h1.passed + h2.passed, BURST);
    freeReplyObject(raw_cmd(&main_redis, "DEL rl.t.hot"));
    store_free(h1.st);
    store_free(h2.st);
}

/* the server goes away and comes back: failures while it is down, and
 * the cached connection is replaced by itself afterwards */
static void
test_restart(void **state)
{
    struct srvlist s;
    struct rm_store *st;
    struct rm_store_err err = {""};
    char v[64];
    int rc;

    (void)state;
    NEED_REDIS();
    srvlist(&s, second_redis.port, 0);
    st = open_store("redis_restart", &s.l, NULL, NULL, NULL);
    assert_int_equal(store_set(st, "t.r", "1", 0, &err), 0);
    redis_stop(&second_redis);
    rc = store_get(st, "t.r", v, sizeof(v), &err);
    assert_true(store_failed(rc));
    assert_int_equal(rc, -ECONNREFUSED);
    assert_non_null(strstr(err.msg, s.text[0]));
    redis_start(&second_redis);
    assert_int_equal(store_get(st, "t.r", v, sizeof(v), &err), -ENOENT);
    assert_int_equal(store_set(st, "t.r", "2", 0, &err), 0);
    /* restart under a live cached connection: no failure at all */
    redis_stop(&second_redis);
    redis_start(&second_redis);
    assert_int_equal(store_set(st, "t.r", "3", 0, &err), 0);
    assert_int_equal(store_get(st, "t.r", v, sizeof(v), &err), 0);
    assert_string_equal(v, "3");
    /* the server closing an idle client (its "timeout") is the same */
    freeReplyObject(raw_cmd(&second_redis, "CLIENT KILL TYPE normal"));
    assert_int_equal(store_get(st, "t.r", v, sizeof(v), &err), 0);
    store_free(st);
}

/* AUTH and SELECT on every connection, also after a restart */
static void
test_auth_select(void **state)
{
    struct srvlist s;
    struct rm_store *st, *bad, *none;
    struct rm_store_err err = {""};
    char v[64];
    redisContext *c;
    redisReply *rep;

    (void)state;
    NEED_REDIS();
    srvlist(&s, auth_redis.port, 0);
    st = open_store("redis_auth", &s.l, NULL, "s3cret", "3");
    assert_int_equal(store_set(st, "t.db", "in3", 0, &err), 0);
    redis_stop(&auth_redis);
    redis_start(&auth_redis); /* no persistence: db 3 is empty again */
    assert_int_equal(store_get(st, "t.db", v, sizeof(v), &err), -ENOENT);
    assert_int_equal(store_set(st, "t.db", "again", 0, &err), 0);
    /* it landed in db 3, not in db 0 */
    c = raw(&auth_redis);
    rep = redisCommand(c, "GET t.db");
    assert_int_equal(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    rep = redisCommand(c, "GET t.db");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "again");
    freeReplyObject(rep);
    redisFree(c);

    /* a wrong password, or none: -EACCES, a failure */
    bad = open_store("redis_auth_bad", &s.l, NULL, "wrong", NULL);
    assert_int_equal(store_get(bad, "t.db", v, sizeof(v), &err), -EACCES);
    assert_non_null(strstr(err.msg, "AUTH"));
    none = open_store("redis_auth_none", &s.l, NULL, NULL, NULL);
    assert_int_equal(store_get(none, "t.db", v, sizeof(v), &err), -EACCES);
    assert_true(store_failed(-EACCES));
    store_free(st);
    store_free(bad);
    store_free(none);
}

static void
test_bad_options(void **state)
{
    struct rm_store_redis_opts o = {.name = "redis_bad"};
    struct rm_servers empty = {0, NULL};
    struct rm_store_err err = {""};
    struct rm_store *st = (struct rm_store *)&o;
    struct srvlist s;

    (void)state;
    o.servers = &empty;
    assert_int_equal(store_redis_new(&o, &st, &err), -EINVAL);
    assert_null(st);
    srvlist(&s, 6379, 0);
    o.servers = &s.l;
    o.dbname = "three";
    assert_int_equal(store_redis_new(&o, &st, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "three"));
}

/* a server that accepts and never answers: -ETIMEDOUT */
static void
test_timeout(void **state)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    struct rm_store_redis_opts o = {.name = "redis_silent",
                                    .connect_timeout_ms = 500,
                                    .read_timeout_ms = 200,
                                    .maxerrors = 10};
    struct rm_store_err err = {""};
    struct rm_store *st;
    struct srvlist s;
    char v[64];
    int fd;

    (void)state;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    srvlist(&s, ntohs(sin.sin_port), 0);
    o.servers = &s.l;
    assert_int_equal(store_redis_new(&o, &st, &err), 0);
    assert_int_equal(store_get(st, "t.x", v, sizeof(v), &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, s.text[0]));
    store_free(st);
    close(fd);
}

/* writes go to the live mirrors too; a dead mirror costs nothing */
static void
test_mirrors(void **state)
{
    struct srvlist s, m;
    struct rm_store *st;
    struct rm_store_err err = {""};
    redisReply *rep;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, 0);
    srvlist(&m, second_redis.port, 0);
    st = open_store("redis_mirrored", &s.l, &m.l, NULL, NULL);
    freeReplyObject(raw_cmd(&second_redis, "DEL t.m t.mnx"));
    assert_int_equal(store_set(st, "t.m", "v1", 60000, &err), 0);
    rep = raw_cmd(&second_redis, "GET t.m");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "v1");
    freeReplyObject(rep);
    assert_true(raw_int(&second_redis, "PTTL %s", "t.m") > 0);
    assert_int_equal(store_set_nx(st, "t.mnx", "n1", 60000, &err), 0);
    assert_int_equal(store_set_nx(st, "t.mnx", "n2", 60000, &err), -EEXIST);
    rep = raw_cmd(&second_redis, "GET t.mnx");
    assert_string_equal(rep->str, "n1");
    freeReplyObject(rep);
    assert_int_equal(store_del(st, "t.m", &err), 0);
    assert_int_equal(raw_int(&second_redis, "EXISTS %s", "t.m"), 0);

    redis_stop(&second_redis);
    assert_int_equal(store_set(st, "t.m", "v2", 60000, &err), 0);
    redis_start(&second_redis);
    freeReplyObject(raw_cmd(&main_redis, "DEL t.m t.mnx"));
    store_free(st);
}

/* keys spread over two servers, each key on exactly one */
static void
test_sharding(void **state)
{
    struct srvlist s;
    struct rm_store *st;
    char key[32], v[64];
    int i, on1 = 0, on2 = 0;

    (void)state;
    NEED_REDIS();
    srvlist(&s, main_redis.port, second_redis.port);
    st = open_store("redis_sharded", &s.l, NULL, NULL, NULL);
    for (i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "t.shard.%d", i);
        assert_int_equal(store_set(st, key, "1", 60000, NULL), 0);
        assert_int_equal(store_get(st, key, v, sizeof(v), NULL), 0);
        on1 += raw_int(&main_redis, "EXISTS %s", key) == 1;
        on2 += raw_int(&second_redis, "EXISTS %s", key) == 1;
        assert_int_equal(store_del(st, key, NULL), 0);
    }
    assert_int_equal(on1 + on2, 64);
    assert_true(on1 > 0 && on2 > 0);
    store_free(st);
}

static void
test_unix_socket(void **state)
{
    struct rm_server srv = {
        .path = main_redis.sock, .weight = 1, .text = main_redis.sock};
    struct rm_servers l = {1, &srv};
    struct rm_store *st;
    char v[64];

    (void)state;
    NEED_REDIS();
    st = open_store("redis_unix", &l, NULL, NULL, NULL);
    assert_int_equal(store_set(st, "t.unix", "u", 60000, NULL), 0);
    assert_int_equal(store_get(st, "t.unix", v, sizeof(v), NULL), 0);
    assert_string_equal(v, "u");
    assert_int_equal(raw_int(&main_redis, "EXISTS %s", "t.unix"), 1);
    assert_int_equal(store_del(st, "t.unix", NULL), 0);
    store_free(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_bucket_matches_memory),
        cmocka_unit_test(test_bucket_noscript),
        cmocka_unit_test(test_bucket_threads),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_auth_select),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_mirrors),
        cmocka_unit_test(test_sharding),
        cmocka_unit_test(test_unix_socket),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
