/*
 * NAME
 *   test_beanstalk_live - the beanstalk client and module against a real
 *   beanstalkd, and against a scripted fake for the replies a real one
 *   cannot be made to send
 *
 * DESCRIPTION
 *   If beanstalkd(1) is installed, starts two in the foreground on unix
 *   sockets in a mkdtemp directory (bs0 with the default job size limit,
 *   bs1 with -z 100) and checks, reading back with a raw client:
 *     - a put lands in the configured tube with its priority and TTR;
 *     - connections are reused: beanstalkd's total-connections grows by
 *       one for any number of puts to one server and tube, also when the
 *       puts come from different threads one after the other;
 *     - JOB_TOO_BIG is -E2BIG, the member stays healthy and the
 *       connection stays usable (no reconnect);
 *     - after beanstalkd restarts, the next put reconnects transparently
 *       (no failure counted) and selects the tube again;
 *     - a server that is not there fails each put until maxerrors, then
 *       the pool is dead and puts are skipped without a connect;
 *     - a draining member is failed over to the next one.
 *   The fake server (a thread on another unix socket) answers puts with
 *   a scripted reply: BURIED, OUT_OF_MEMORY, INTERNAL_ERROR,
 *   EXPECTED_CRLF, BAD_FORMAT, UNKNOWN_COMMAND, garbage, a reply followed
 *   by stray bytes, a truncated reply, silence (the put ends at the
 *   deadline) and a wrong USING; after every reply but the good ones the
 *   client opens a new connection.
 *   Last, the pipeline with a fake spam scanner in front of the beanstalk
 *   module: spam copies go to spam_server only for spam, exactly once per
 *   message (also when the scanner rejects and calls
 *   beanstalk_spam_copy itself), and a ham message after a spam one in the
 *   same session is not copied (the verdict is cleared per transaction);
 *   and which In-Reply-To/References values make id_regexp send the
 *   whole message instead of the headers.
 *   Skipped when beanstalkd is missing. Children are stopped by PID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg/cfg.h"
#include "core/module.h"
#include "core/pipeline.h"
#include "modules/beanstalk.h"
#include "modules/beanstalk_client.h"
#include "modules/modules.h"
#include "net/io.h"
#include "net/upstream.h"

static char dir[64];
static char sock[3][96]; /* bs0, bs1, fake */
static pid_t pids[2] = {-1, -1};
static const char *bin;

/* ---------------------------------------------------------------------- */
/* beanstalkd children                                                    */
/* ---------------------------------------------------------------------- */

static const char *
beanstalkd_path(void)
{
    static const char *const paths[] = {"/usr/bin/beanstalkd",
                                        "/usr/sbin/beanstalkd",
                                        "/usr/local/bin/beanstalkd"};
    size_t i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int
bs_start(int i, const char *maxjob)
{
    char listen[160];
    struct rm_server srv = {.path = sock[i]};
    int fd = -1, k;

    unlink(sock[i]);
    snprintf(listen, sizeof(listen), "unix:%s", sock[i]);
    pids[i] = fork();
    if (pids[i] < 0)
        return -1;
    if (pids[i] == 0) {
        execl(bin, "beanstalkd", "-l", listen, "-z", maxjob, (char *)NULL);
        _exit(127);
    }
    for (k = 0; k < 200; k++) {
        if (io_connect(&srv, io_deadline(100), &fd) == 0) {
            close(fd);
            return 0;
        }
        usleep(25000);
    }
    return -1;
}

static void
bs_stop(int i)
{
    if (pids[i] <= 0)
        return;
    kill(pids[i], SIGTERM);
    waitpid(pids[i], NULL, 0);
    pids[i] = -1;
    unlink(sock[i]);
}

/* ---------------------------------------------------------------------- */
/* a raw client to read back what was put                                 */
/* ---------------------------------------------------------------------- */

static int
raw_open(int i)
{
    struct rm_server srv = {.path = sock[i]};
    int fd = -1;

    assert_int_equal(io_connect(&srv, io_deadline(2000), &fd), 0);
    return fd;
}

/* raw_cmd - send line (CRLF added), read the reply line into buf */
static void
raw_cmd(int fd, const char *line, char *buf, size_t size)
{
    char out[512];

    snprintf(out, sizeof(out), "%s\r\n", line);
    assert_int_equal(io_write_all(fd, out, strlen(out), io_deadline(2000)), 0);
    assert_int_equal(io_read_line(fd, buf, size, NULL, io_deadline(2000)), 0);
}

/* raw_body - after "OK <n>" or "RESERVED <id> <n>": the n bytes + CRLF */
static char *
raw_body(int fd, size_t n)
{
    char *b = malloc(n + 3);

    assert_non_null(b);
    assert_int_equal(io_read_exact(fd, b, n + 2, io_deadline(2000)), 0);
    assert_memory_equal(b + n, "\r\n", 2);
    b[n] = '\0';
    return b;
}

/* yaml_num - the number after "key: " in a stats body, or -1 */
static long long
yaml_num(const char *yaml, const char *key)
{
    char k[64];
    const char *p;

    snprintf(k, sizeof(k), "\n%s: ", key);
    p = strstr(yaml, k);
    return p ? atoll(p + strlen(k)) : -1;
}

static char *
raw_stats(int fd, const char *cmd)
{
    char line[256];
    size_t n;

    raw_cmd(fd, cmd, line, sizeof(line));
    assert_int_equal(sscanf(line, "OK %zu", &n), 1);
    return raw_body(fd, n);
}

/* total_conns - beanstalkd's total-connections on server i (this query's
 * own connection included) */
static long long
total_conns(int i)
{
    int fd = raw_open(i);
    char *y = raw_stats(fd, "stats");
    long long v = yaml_num(y, "total-connections");

    free(y);
    close(fd);
    return v;
}

struct job {
    char *data;
    size_t len;
    long long pri, ttr;
    char tube[64];
};

/* reserve - take the next ready job of tube on server i (deleted);
 * false if there is none */
static bool
reserve(int i, const char *tube, struct job *j)
{
    char line[256], cmd[128], *y;
    unsigned long long id;
    const char *t;
    int fd = raw_open(i);

    memset(j, 0, sizeof(*j));
    snprintf(cmd, sizeof(cmd), "watch %s", tube);
    raw_cmd(fd, cmd, line, sizeof(line));
    if (strcmp(tube, "default") != 0) {
        raw_cmd(fd, "ignore default", line, sizeof(line));
        assert_string_equal(line, "WATCHING 1");
    }
    raw_cmd(fd, "reserve-with-timeout 0", line, sizeof(line));
    if (strcmp(line, "TIMED_OUT") == 0) {
        close(fd);
        return false;
    }
    assert_int_equal(sscanf(line, "RESERVED %llu %zu", &id, &j->len), 2);
    j->data = raw_body(fd, j->len);
    snprintf(cmd, sizeof(cmd), "stats-job %llu", id);
    y = raw_stats(fd, cmd);
    j->pri = yaml_num(y, "pri");
    j->ttr = yaml_num(y, "ttr");
    t = strstr(y, "\ntube: ");
    assert_non_null(t);
    sscanf(t + 7, "%63[^\n]", j->tube);
    free(y);
    snprintf(cmd, sizeof(cmd), "delete %llu", id);
    raw_cmd(fd, cmd, line, sizeof(line));
    assert_string_equal(line, "DELETED");
    close(fd);
    return true;
}

static size_t
count_jobs(int i, const char *tube)
{
    struct job j;
    size_t n = 0;

    while (reserve(i, tube, &j)) {
        free(j.data);
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* the fake server                                                        */
/* ---------------------------------------------------------------------- */

static struct {
    pthread_t th;
    int lfd;
    atomic_bool stop;
    atomic_int conns;
    atomic_int puts;
    const char *reply;     /* to a put; NULL: say nothing */
    const char *use_reply; /* to use; NULL: USING <tube> */
    bool close_after;      /* close the connection after the reply */
} fake;

/* fake_line - read one line (CRLF stripped) while polling for stop */
static int
fake_line(int fd, char *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (!atomic_load(&fake.stop)) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        return io_read_line(fd, buf, size, NULL, io_deadline(2000));
    }
    return -1;
}

static void
fake_conn(int fd)
{
    char line[512], *body;
    size_t n;

    while (fake_line(fd, line, sizeof(line)) == 0) {
        if (strncmp(line, "use ", 4) == 0) {
            char out[300];

            snprintf(out, sizeof(out), "USING %.250s\r\n", line + 4);
            if (fake.use_reply != NULL)
                snprintf(out, sizeof(out), "%s", fake.use_reply);
            (void)io_write_all(fd, out, strlen(out), io_deadline(2000));
            continue;
        }
        if (sscanf(line, "put %*u %*u %*u %zu", &n) != 1)
            break;
        body = malloc(n + 2);
        if (body == NULL ||
            io_read_exact(fd, body, n + 2, io_deadline(2000)) < 0) {
            free(body);
            break;
        }
        free(body);
        atomic_fetch_add(&fake.puts, 1);
        if (fake.reply != NULL)
            (void)io_write_all(fd, fake.reply, strlen(fake.reply),
                               io_deadline(2000));
        if (fake.close_after)
            break;
    }
    close(fd);
}

static void *
fake_main(void *arg)
{
    struct pollfd p;
    int fd;

    (void)arg;
    p.fd = fake.lfd;
    p.events = POLLIN;
    while (!atomic_load(&fake.stop)) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(fake.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&fake.conns, 1);
        fake_conn(fd); /* one client at a time is all the tests need */
    }
    return NULL;
}

static int
fake_start(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock[2]);
    fake.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fake.lfd < 0 ||
        bind(fake.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fake.lfd, 16) < 0)
        return -1;
    atomic_store(&fake.stop, false);
    return pthread_create(&fake.th, NULL, fake_main, NULL) == 0 ? 0 : -1;
}

static void
fake_stop(void)
{
    atomic_store(&fake.stop, true);
    pthread_join(fake.th, NULL);
    close(fake.lfd);
    unlink(sock[2]);
}

/* ---------------------------------------------------------------------- */
/* fixtures                                                               */
/* ---------------------------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    bin = beanstalkd_path();
    if (bin == NULL)
        return 0;
    snprintf(dir, sizeof(dir), "/tmp/test_beanstalk_live.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sock[0], sizeof(sock[0]), "%s/bs0.sock", dir);
    snprintf(sock[1], sizeof(sock[1]), "%s/bs1.sock", dir);
    snprintf(sock[2], sizeof(sock[2]), "%s/fake.sock", dir);
    if (bs_start(0, "1048576") < 0 || bs_start(1, "100") < 0 ||
        fake_start() < 0)
        return -1;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (bin == NULL)
        return 0;
    bs_close_idle();
    fake_stop();
    bs_stop(0);
    bs_stop(1);
    rmdir(dir);
    return 0;
}

#define NEED_BEANSTALKD()                                                      \
    do {                                                                       \
        if (bin == NULL)                                                       \
            skip();                                                            \
    } while (0)

/* pool - a pool named name over the given sockets (weights for
 * MASTER_SLAVE: the first is the master) */
static struct rm_upstream_pool *
pool(const char *name, enum rm_upstream_policy pol, unsigned maxerrors, int a,
     int b)
{
    struct rm_server v[2];
    struct rm_servers s = {.n = b < 0 ? 1 : 2, .v = v};

    memset(v, 0, sizeof(v));
    v[0].path = v[0].text = sock[a];
    v[0].weight = 2;
    if (b >= 0) {
        v[1].path = v[1].text = sock[b];
        v[1].weight = 1;
    }
    return upstream_pool_new(name, &s, pol, 60000, maxerrors, 60000);
}

static const struct rm_bs_opts opts = {
    .tube = "t-put",
    .pri = 77,
    .ttr = 3600,
    .connect_timeout_ms = 1000,
    .timeout_ms = 2000,
};

/* ---------------------------------------------------------------------- */
/* the client against beanstalkd                                          */
/* ---------------------------------------------------------------------- */

static void
test_put_and_reserve(void **state)
{
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    struct job j;
    const char msg[] = "Subject: x\r\n\r\nbody\r\n\0with a NUL\r\n";

    (void)state;
    NEED_BEANSTALKD();
    p = pool("bs_put", RM_UPSTREAM_RANDOM, 3, 0, -1);
    assert_int_equal(bs_put(p, &opts, 0, msg, sizeof(msg) - 1, &res), 0);
    assert_true(res.id > 0);
    assert_false(res.buried);
    assert_int_equal(res.attempts, 1);
    assert_string_equal(res.server, sock[0]);
    assert_true(reserve(0, "t-put", &j));
    assert_int_equal(j.len, sizeof(msg) - 1);
    assert_memory_equal(j.data, msg, j.len);
    assert_int_equal(j.pri, 77);
    assert_int_equal(j.ttr, 3600);
    assert_string_equal(j.tube, "t-put");
    free(j.data);
    assert_int_equal(count_jobs(0, "default"), 0);
    upstream_pool_free(p);
}

static void
test_reuse(void **state)
{
    struct rm_bs_opts o = opts;
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    long long before, after;
    int i;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-reuse";
    p = pool("bs_reuse", RM_UPSTREAM_RANDOM, 3, 0, -1);
    before = total_conns(0);
    for (i = 0; i < 20; i++)
        assert_int_equal(bs_put(p, &o, 0, "x", 1, &res), 0);
    after = total_conns(0);
    /* one connection for the 20 puts, one for the second stats query */
    assert_int_equal(after - before, 2);
    assert_int_equal(count_jobs(0, "t-reuse"), 20);
    upstream_pool_free(p);
}

struct put_arg {
    struct rm_upstream_pool *pool;
    const struct rm_bs_opts *o;
    int rc;
};

static void *
put_thread(void *p)
{
    struct put_arg *a = p;
    struct rm_bs_result res;

    a->rc = bs_put(a->pool, a->o, 0, "from a thread", 13, &res);
    return NULL;
}

/* A connection opened by one thread (a milter session that ended) serves
 * the next put of another thread. */
static void
test_reuse_across_threads(void **state)
{
    struct rm_bs_opts o = opts;
    struct put_arg a = {.o = &o, .rc = -1};
    struct rm_bs_result res;
    long long before, after;
    pthread_t th;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-threads";
    a.pool = pool("bs_threads", RM_UPSTREAM_RANDOM, 3, 0, -1);
    before = total_conns(0);
    assert_int_equal(pthread_create(&th, NULL, put_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(bs_put(a.pool, &o, 0, "from main", 9, &res), 0);
    after = total_conns(0);
    assert_int_equal(after - before, 2); /* one for both puts, one stats */
    assert_int_equal(count_jobs(0, "t-threads"), 2);
    upstream_pool_free(a.pool);
}

static void
test_job_too_big(void **state)
{
    struct rm_bs_opts o = opts;
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    struct rm_upstream_stats st;
    char big[200];
    long long before, after;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-big";
    memset(big, 'b', sizeof(big));
    p = pool("bs_big", RM_UPSTREAM_RANDOM, 1, 1, -1);
    assert_int_equal(bs_put(p, &o, 0, "small", 5, &res), 0);
    before = total_conns(1);
    assert_int_equal(bs_put(p, &o, 0, big, sizeof(big), &res), -E2BIG);
    assert_string_equal(res.why, "put: JOB_TOO_BIG");
    assert_int_equal(bs_put(p, &o, 0, "small", 5, &res), 0);
    after = total_conns(1);
    assert_int_equal(after - before, 1); /* the stats query only */
    upstream_stats(upstream_pool_member(p, 0), io_now_ms(), &st);
    assert_true(st.alive);
    assert_true(st.fails_total == 0);
    assert_int_equal(count_jobs(1, "t-big"), 2);
    upstream_pool_free(p);
}

static void
test_restart(void **state)
{
    struct rm_bs_opts o = opts;
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    struct rm_upstream_stats st;
    struct job j;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-restart";
    p = pool("bs_restart", RM_UPSTREAM_RANDOM, 3, 0, -1);
    assert_int_equal(bs_put(p, &o, 0, "one", 3, &res), 0);
    assert_int_equal(count_jobs(0, "t-restart"), 1);
    bs_stop(0);
    assert_int_equal(bs_start(0, "1048576"), 0);
    assert_int_equal(bs_put(p, &o, 0, "two", 3, &res), 0);
    assert_int_equal(res.attempts, 1);
    upstream_stats(upstream_pool_member(p, 0), io_now_ms(), &st);
    assert_true(st.fails_total == 0);
    /* the tube was selected again on the new connection */
    assert_true(reserve(0, "t-restart", &j));
    assert_memory_equal(j.data, "two", 3);
    free(j.data);
    assert_int_equal(count_jobs(0, "default"), 0);
    upstream_pool_free(p);
}

static void
test_dead_pool(void **state)
{
    struct rm_server v = {.host = "127.0.0.1", .port = 1, .text = "dead:1"};
    struct rm_servers s = {.n = 1, .v = &v};
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    int rc;

    (void)state;
    NEED_BEANSTALKD();
    p = upstream_pool_new("bs_dead", &s, RM_UPSTREAM_RANDOM, 60000, 2, 60000);
    rc = bs_put(p, &opts, 0, "x", 1, &res);
    assert_true(rc < 0 && rc != -EHOSTDOWN && rc != -E2BIG);
    assert_int_equal(res.attempts, 1);
    assert_non_null(strstr(res.why, "connect"));
    rc = bs_put(p, &opts, 0, "x", 1, &res);
    assert_true(rc < 0 && rc != -EHOSTDOWN);
    /* maxerrors reached: dead; nothing is tried any more */
    assert_int_equal(bs_put(p, &opts, 0, "x", 1, &res), -EHOSTDOWN);
    assert_int_equal(res.attempts, 0);
    assert_string_equal(res.why, "every server is dead");
    upstream_pool_free(p);
    /* no time left: not tried, not reported */
    p = pool("bs_late", RM_UPSTREAM_RANDOM, 1, 0, -1);
    assert_int_equal(bs_put(p, &opts, io_now_ms() - 1, "x", 1, &res),
                     -ETIMEDOUT);
    assert_int_equal(res.attempts, 0);
    assert_true(upstream_is_alive(upstream_pool_member(p, 0), io_now_ms()));
    upstream_pool_free(p);
    /* an empty pool */
    assert_int_equal(bs_put(NULL, &opts, 0, "x", 1, &res), -EHOSTDOWN);
}

static void
test_failover_draining(void **state)
{
    struct rm_bs_opts o = opts;
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    struct rm_upstream_stats st;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-drain";
    fake.reply = "DRAINING\r\n";
    fake.use_reply = NULL;
    fake.close_after = false;
    /* the fake is the master, bs0 the slave */
    p = pool("bs_drain", RM_UPSTREAM_MASTER_SLAVE, 5, 2, 0);
    assert_int_equal(bs_put(p, &o, 0, "x", 1, &res), 0);
    assert_int_equal(res.attempts, 2);
    assert_string_equal(res.server, sock[0]);
    upstream_stats(upstream_pool_member(p, 0), io_now_ms(), &st);
    assert_true(st.fails_total == 1);
    assert_int_equal(count_jobs(0, "t-drain"), 1);
    upstream_pool_free(p);
}

/* ---------------------------------------------------------------------- */
/* the client against the fake                                            */
/* ---------------------------------------------------------------------- */

static void
test_fake_replies(void **state)
{
    static const struct {
        const char *reply;
        int rc;
        const char *why;
        bool keeps; /* the connection is reused for the next put */
    } cases[] = {
        {"INSERTED 5\r\n", 0, "", true},
        {"BURIED 7\r\n", 0, "", true},
        {"OUT_OF_MEMORY\r\n", -EPROTO, "put: OUT_OF_MEMORY", false},
        {"INTERNAL_ERROR\r\n", -EPROTO, "put: INTERNAL_ERROR", false},
        {"EXPECTED_CRLF\r\n", -EPROTO, "put: EXPECTED_CRLF", false},
        {"BAD_FORMAT\r\n", -EPROTO, "put: BAD_FORMAT", false},
        {"UNKNOWN_COMMAND\r\n", -EPROTO, "put: UNKNOWN_COMMAND", false},
        {"DRAINING\r\n", -EPROTO, "put: DRAINING", false},
        {"USING default\r\n", -EPROTO, "put: USING", false},
        {"+OK\r\n", -EBADMSG, "put: bad reply", false},
        {"INSERTED 5\n", -EBADMSG, "put: bad reply", false},
        {"INSERTED 5\r\nINSERTED 6\r\n", 0, "", false}, /* stray bytes */
    };
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    int conns, i, n = (int)(sizeof(cases) / sizeof(cases[0]));

    (void)state;
    NEED_BEANSTALKD();
    bs_close_idle(); /* the fake serves one connection at a time */
    fake.use_reply = NULL;
    fake.close_after = false;
    p = pool("bs_fake", RM_UPSTREAM_RANDOM, 1000, 2, -1);
    for (i = 0; i < n; i++) {
        fake.reply = cases[i].reply;
        conns = atomic_load(&fake.conns);
        assert_int_equal(bs_put(p, &opts, 0, "job", 3, &res), cases[i].rc);
        assert_string_equal(res.why, cases[i].why);
        assert_int_equal(res.attempts, 1);
        if (i == 1)
            assert_true(res.buried && res.id == 7);
        if (i == 0)
            assert_true(!res.buried && res.id == 5);
        /* one more put: a kept connection serves it, a dropped one is
         * replaced by a new one */
        fake.reply = "INSERTED 9\r\n";
        assert_int_equal(bs_put(p, &opts, 0, "job", 3, &res), 0);
        assert_true(res.id == 9);
        assert_int_equal(atomic_load(&fake.conns) - conns,
                         (i == 0 ? 1 : 0) + (cases[i].keeps ? 0 : 1));
    }
    upstream_pool_free(p);
}

static void
test_fake_truncated_silent_badusing(void **state)
{
    struct rm_bs_opts o = opts;
    struct rm_upstream_pool *p;
    struct rm_bs_result res;
    uint64_t t0;

    (void)state;
    NEED_BEANSTALKD();
    o.tube = "t-fake2";
    o.timeout_ms = 300;
    bs_close_idle(); /* the fake serves one connection at a time */
    p = pool("bs_fake2", RM_UPSTREAM_RANDOM, 1000, 2, -1);

    /* a reply cut short by the server closing */
    fake.use_reply = NULL;
    fake.reply = "INSER";
    fake.close_after = true;
    assert_int_equal(bs_put(p, &o, 0, "job", 3, &res), -IO_ECLOSED);
    assert_string_equal(res.why, "put: connection closed by peer");

    /* silence: the put ends at its deadline */
    fake.reply = NULL;
    fake.close_after = false;
    t0 = io_now_ms();
    assert_int_equal(bs_put(p, &o, 0, "job", 3, &res), -ETIMEDOUT);
    assert_true(io_now_ms() - t0 < 2000);
    assert_non_null(strstr(res.why, "put: "));

    /* use answered with another tube: nothing is put */
    fake.use_reply = "USING default\r\n";
    fake.reply = "INSERTED 1\r\n";
    assert_int_equal(bs_put(p, &o, 0, "job", 3, &res), -EPROTO);
    assert_string_equal(res.why, "use: unexpected reply USING");
    fake.use_reply = NULL;
    upstream_pool_free(p);
}

/* ---------------------------------------------------------------------- */
/* spam copies through the pipeline                                       */
/* ---------------------------------------------------------------------- */

/* The fake scanner: Subject "spam-tag" is spam it only tags (the
 * beanstalk module copies it), "spam-reject" spam it rejects (it copies
 * it with beanstalk_spam_copy first), "spam-both" spam it tags after
 * calling beanstalk_spam_copy (one copy, not two); anything else ham. */
static enum rm_status
scan_eom(struct rm_msg *m, void *mconf, struct rm_verdict *v)
{
    const char *subj = msg_header(m, "Subject");

    (void)mconf;
    if (subj == NULL)
        return RM_CONTINUE;
    if (strcmp(subj, "spam-tag") == 0) {
        m->spam_action = RM_SPAM_ADD_HEADER;
        return RM_CONTINUE;
    }
    if (strcmp(subj, "spam-both") == 0) {
        m->spam_action = RM_SPAM_ADD_HEADER;
        beanstalk_spam_copy(m);
        return RM_CONTINUE;
    }
    if (strcmp(subj, "spam-reject") == 0) {
        m->spam_action = RM_SPAM_REJECT;
        beanstalk_spam_copy(m);
        return verdict_set(v, RM_ACT_REJECT, "554", "5.7.1", "spam");
    }
    return RM_CONTINUE;
}

static const struct rm_module scanner = {
    .name = "fakescan",
    .on_eom = scan_eom,
    .stages = RM_STAGE_BIT(RM_STAGE_EOM) | RM_NEED_SPOOL,
};

static const struct rm_module *const table[] = {&scanner, &rm_beanstalk_module};

static enum rm_action
txn(struct rm_session *s, const char *subject, const char *body)
{
    char *from[] = {"<a@example.org>"}, *to[] = {"<b@example.test>"};
    struct rm_reply r;
    enum rm_action a;

    reply_init(&r);
    pipeline_mail(s, from, 1, &r);
    pipeline_rcpt(s, to, 1, &r);
    pipeline_data(s, &r);
    pipeline_header(s, "Subject", subject, &r);
    pipeline_header(s, "X-Folded", "a\r\n\tb", &r);
    pipeline_eoh(s, &r);
    pipeline_body(s, body, strlen(body), &r);
    reply_clear(&r);
    reply_init(&r);
    pipeline_eom(s, &r);
    a = r.action;
    reply_clear(&r);
    return a;
}

static void
test_spam_copies(void **state)
{
    struct rm_config *c = NULL;
    struct rm_diag d = {0};
    struct rm_session *s;
    struct rm_reply r;
    struct rm_bs_stats st0, st1;
    struct job j;
    char text[1024];
    const char *want = "Subject: spam-tag\r\nX-Folded: a\r\n\tb\r\n\r\nbody "
                       "one\r\n";

    (void)state;
    NEED_BEANSTALKD();
    snprintf(text, sizeof(text),
             "beanstalk { spam_server = \"%s\"; send_beanstalk_spam = yes; "
             "tube = spamtube; priority = 5; lifetime = 90s; }\n",
             sock[0]);
    pipeline_test_set_modules(table, 2);
    assert_int_equal(cfg_load_string("t.conf", text, strlen(text), &c, &d), 0);
    assert_int_equal(pipeline_generation_init(c, &d), 0);
    diag_free(&d);
    beanstalk_stats(&st0);

    s = pipeline_session_new(c, 1);
    reply_init(&r);
    pipeline_connect(s, "mx.example.net", AF_INET, 25, "192.0.2.1", &r);
    pipeline_helo(s, "mx.example.net", &r);
    reply_clear(&r);

    /* spam the scanner only tags: copied by the module, exactly */
    assert_int_equal(txn(s, "spam-tag", "body one\r\n"), RM_ACT_CONTINUE);
    assert_true(reserve(0, "spamtube", &j));
    assert_int_equal(j.len, strlen(want));
    assert_memory_equal(j.data, want, j.len);
    assert_int_equal(j.pri, 5);
    assert_int_equal(j.ttr, 90);
    free(j.data);
    assert_int_equal(count_jobs(0, "spamtube"), 0);

    /* ham right after spam in the same session: no copy */
    assert_int_equal(txn(s, "hello", "ham\r\n"), RM_ACT_CONTINUE);
    assert_int_equal(count_jobs(0, "spamtube"), 0);

    /* rejected spam: the scanner's call copies it */
    assert_int_equal(txn(s, "spam-reject", "bad\r\n"), RM_ACT_REJECT);
    assert_true(reserve(0, "spamtube", &j));
    assert_non_null(strstr(j.data, "Subject: spam-reject\r\n"));
    free(j.data);
    assert_int_equal(count_jobs(0, "spamtube"), 0);

    /* both the scanner and the module: one copy */
    assert_int_equal(txn(s, "spam-both", "twice?\r\n"), RM_ACT_CONTINUE);
    assert_int_equal(count_jobs(0, "spamtube"), 1);

    beanstalk_stats(&st1);
    assert_true(st1.sent - st0.sent == 3);
    assert_true(st1.failed == st0.failed);
    assert_int_equal(count_jobs(0, "default"), 0);

    pipeline_session_free(s);
    pipeline_test_set_modules(NULL, 0);
    cfg_unref(c);
}

/* msg_hdr - one transaction with one extra header; the EOM action */
static enum rm_action
msg_hdr(struct rm_session *s, const char *name, const char *value)
{
    char *from[] = {"<a@example.org>"}, *to[] = {"<b@example.test>"};
    struct rm_reply r;
    enum rm_action a;

    reply_init(&r);
    pipeline_mail(s, from, 1, &r);
    pipeline_rcpt(s, to, 1, &r);
    pipeline_data(s, &r);
    pipeline_header(s, "Subject", "ids", &r);
    if (name != NULL)
        pipeline_header(s, name, value, &r);
    pipeline_eoh(s, &r);
    pipeline_body(s, "the body\r\n", 10, &r);
    reply_clear(&r);
    reply_init(&r);
    pipeline_eom(s, &r);
    a = r.action;
    reply_clear(&r);
    return a;
}

/* expect_job - the next job in tube "ids" of bs0 holds the body or not */
static void
expect_job(bool whole)
{
    struct job j;

    assert_true(reserve(0, "ids", &j));
    assert_int_equal(strstr(j.data, "the body") != NULL, whole);
    assert_int_equal(memcmp(j.data, "Subject: ids\r\n", 14), 0);
    free(j.data);
}

/* id_regexp: each <id> token of In-Reply-To and References (outside
 * comments), or a token-less value as a whole; no slashes inside the
 * pattern (the original's bug) */
static void
test_id_regexp(void **state)
{
    struct rm_config *c = NULL;
    struct rm_diag d = {0};
    struct rm_session *s;
    struct rm_reply r;
    char text[1024];

    (void)state;
    NEED_BEANSTALKD();
    snprintf(text, sizeof(text),
             "beanstalk { servers = \"%s\"; send_beanstalk_headers = yes; "
             "tube = ids; id_regexp = \"/^(<special-|bare-id$)/i\"; }\n",
             sock[0]);
    pipeline_test_set_modules(table + 1, 1); /* beanstalk only */
    assert_int_equal(cfg_load_string("t.conf", text, strlen(text), &c, &d), 0);
    assert_int_equal(pipeline_generation_init(c, &d), 0);
    diag_free(&d);
    s = pipeline_session_new(c, 1);
    reply_init(&r);
    pipeline_connect(s, "mx.example.net", AF_INET, 25, "192.0.2.1", &r);
    reply_clear(&r);

    msg_hdr(s, NULL, NULL);
    expect_job(false);
    msg_hdr(s, "In-Reply-To", "<SPECIAL-1@example.org>");
    expect_job(true);
    msg_hdr(s, "In-Reply-To", " bare-id ");
    expect_job(true);
    /* the last References id counts (the original skipped it) */
    msg_hdr(s, "References", "<a@x>\r\n\t<b@x> <special-2@x>");
    expect_job(true);
    /* a token in a comment is not an id; with ids present the value is
     * not matched whole */
    msg_hdr(s, "References", "<a@x> (<special-3@x>) bare-id");
    expect_job(false);
    msg_hdr(s, "Message-ID", "<special-4@x>");
    expect_job(false);
    assert_int_equal(count_jobs(0, "ids"), 0);

    pipeline_session_free(s);
    pipeline_test_set_modules(NULL, 0);
    cfg_unref(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_and_reserve),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_reuse_across_threads),
        cmocka_unit_test(test_job_too_big),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_dead_pool),
        cmocka_unit_test(test_failover_draining),
        cmocka_unit_test(test_fake_replies),
        cmocka_unit_test(test_fake_truncated_silent_badusing),
        cmocka_unit_test(test_spam_copies),
        cmocka_unit_test(test_id_regexp),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
