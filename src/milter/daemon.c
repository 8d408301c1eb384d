/*
 * NAME
 *   daemon - the milter service's lifecycle (see daemon.h)
 *
 * DESCRIPTION
 *   Start-up, in this order: signals blocked (so that every thread created
 *   later inherits the mask and only the main thread, in sigwait, sees
 *   them) and SIGPIPE ignored; the pidfile opened and locked with flock
 *   (a second instance stops here with the holder's pid; flock, unlike
 *   fcntl locks, survives the daemonizing forks); every listener bound
 *   (listen.c); fork/setsid/fork unless foreground, after which the
 *   pidfile gets the final pid and logging moves to syslog (unless
 *   log_target = stderr); privileges dropped to user/group (initgroups,
 *   setgid, setuid, and a check that setuid(0) now fails); the accept
 *   thread started; sd_notify READY=1. The parent of a daemonizing start
 *   waits for the child to report success through a pipe, so its exit
 *   status tells whether the daemon came up.
 *
 *   The main thread then waits for signals: SIGHUP (and SIGUSR1, the
 *   original rmilter's reload signal) reloads - the new file is parsed and
 *   its modules initialised first, every diagnostic line is logged, and on
 *   any error the old generation keeps serving; on success the current
 *   pointer is swapped under the lock and the old generation is released
 *   (sessions hold their own references, so it lives until the last one
 *   that uses it closes). SIGTERM and SIGINT stop gracefully: STOPPING=1,
 *   the listeners are closed (and unix sockets removed), idle sessions
 *   close at once, sessions in the middle of a message get up to
 *   shutdown_timeout to finish it, the rest are shut down, the pidfile is
 *   removed, and daemon_run returns 0.
 *
 *   The accept thread polls every listener and the stop eventfd; when
 *   max_sessions connections are open it stops accepting (new ones wait in
 *   the kernel's listen queue) until one closes. Each connection runs on a
 *   detached session thread (session.c). Session threads are reused: when
 *   a session ends, its thread waits up to RM_WORKER_IDLE_MS for the next
 *   connection (at most RM_WORKER_IDLE_MAX threads wait; the others exit),
 *   and the accept thread hands a new connection to a waiting thread if
 *   there is one, else starts a new thread. Creating and tearing down a
 *   thread per connection was most of the engine's per-message cost
 *   (docs/benchmarks.md). A stop wakes the waiting threads, which exit at
 *   once; the stop waits for every session thread to be gone.
 *
 * OWNERSHIP
 *   daemon_run owns the reference to the current generation it was given
 *   (and every later one); each connection owns one reference of its own.
 *
 * THREAD SAFETY
 *   struct rm_engine's lock guards the current generation pointer, the
 *   connection registry and its count. The stop flag is atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "cfg/cfg.h"
#include "core/metrics.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "milter/daemon.h"
#include "milter/engine.h"

struct daemon {
    struct rm_engine eng;
    struct rm_config *cur; /* current generation, under eng.lock */
    struct rm_listeners ls;
    char *config_path; /* absolute */
    bool foreground;
    char *pidfile; /* absolute, or NULL */
    int pid_fd;
    pthread_t acceptor;
    bool acceptor_started;
    unsigned long next_id;
    uint64_t full_logged; /* mono_ms of the last "max_sessions" warning */
};

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *
absolute_path(const char *p)
{
    char cwd[PATH_MAX];

    if (p == NULL || *p == '\0')
        return NULL;
    if (p[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return xstrdup(p);
    return xasprintf("%s/%s", cwd, p);
}

/* apply_logging - target, ident, facility and level from a generation */
static void
apply_logging(const struct rm_config *cfg, bool to_syslog)
{
    const struct rm_cfg_global *g = &cfg->global;
    int lvl = RM_LOG_ERR + g->log_level;

    if (lvl < RM_LOG_ERR)
        lvl = RM_LOG_ERR;
    if (lvl > RM_LOG_DEBUG)
        lvl = RM_LOG_DEBUG;
    log_open(to_syslog ? RM_LOG_SYSLOG : RM_LOG_STDERR, g->syslog_name,
             g->log_facility);
    log_set_level((enum rm_log_level)lvl);
}

/* wants_syslog - log_target is "syslog" (index 0) and we detach */
static bool
wants_syslog(const struct daemon *d, const struct rm_config *cfg)
{
    return !d->foreground && cfg->global.log_target == 0;
}

/* ------------------------------------------------------------------ */
/* pidfile                                                            */
/* ------------------------------------------------------------------ */

static int
pidfile_open(struct daemon *d)
{
    char buf[32] = "";
    ssize_t n;

    if (d->pidfile == NULL)
        return 0;
    d->pid_fd =
        open(d->pidfile, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (d->pid_fd < 0) {
        msg_err("pidfile %s: %s", d->pidfile, strerror(errno));
        return -1;
    }
    if (flock(d->pid_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            n = pread(d->pid_fd, buf, sizeof(buf) - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            msg_err("pidfile %s is locked: rmilter is already running%s%s%s",
                    d->pidfile, *buf ? " (pid " : "", buf, *buf ? ")" : "");
        } else {
            msg_err("pidfile %s: flock: %s", d->pidfile, strerror(errno));
        }
        close(d->pid_fd);
        d->pid_fd = -1;
        return -1;
    }
    return 0;
}

static int
pidfile_write(struct daemon *d)
{
    char buf[32];
    int n;

    if (d->pid_fd < 0)
        return 0;
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(d->pid_fd, 0) < 0 ||
        pwrite(d->pid_fd, buf, (size_t)n, 0) != n) {
        msg_err("pidfile %s: write: %s", d->pidfile, strerror(errno));
        return -1;
    }
    return 0;
}

/* pidfile_remove - unlink it if it is still ours; if the directory no
 * longer lets us (privileges dropped), at least empty it */
static void
pidfile_remove(struct daemon *d)
{
    struct stat a, b;

    if (d->pid_fd < 0)
        return;
    if (fstat(d->pid_fd, &a) == 0 && stat(d->pidfile, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
        unlink(d->pidfile) < 0) {
        msg_debug("cannot remove pidfile %s: %s; emptying it", d->pidfile,
                  strerror(errno));
        if (ftruncate(d->pid_fd, 0) < 0)
            msg_debug("cannot empty pidfile %s: %s", d->pidfile,
                      strerror(errno));
    }
    close(d->pid_fd);
    d->pid_fd = -1;
}

/* ------------------------------------------------------------------ */
/* daemonizing and privileges                                         */
/* ------------------------------------------------------------------ */

/*
 * daemonize - fork, setsid, fork. The original process waits on a pipe
 * for the daemon's verdict (one byte: 0 = up) and exits with it; the
 * daemon gets the write end in *ready_fd.
 */
static int
daemonize(int *ready_fd)
{
    sigset_t all;
    int p[2], null;
    pid_t pid;
    char st = 1;

    if (pipe2(p, O_CLOEXEC) < 0) {
        msg_err("daemonize: pipe: %s", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        msg_err("daemonize: fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        /* the original process: report the daemon's start-up result */
        close(p[1]);
        sigemptyset(&all);
        pthread_sigmask(SIG_SETMASK, &all, NULL);
        while (read(p[0], &st, 1) < 0 && errno == EINTR)
            ;
        if (st != 0)
            fprintf(stderr, "rmilter: start-up failed; see the log\n");
        _exit(st == 0 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0) {
        msg_err("daemonize: setsid: %s", strerror(errno));
        _exit(1);
    }
    pid = fork();
    if (pid < 0) {
        msg_err("daemonize: fork: %s", strerror(errno));
        _exit(1);
    }
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        msg_warn("daemonize: chdir /: %s", strerror(errno));
    null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        (void)dup2(null, STDIN_FILENO);
        (void)dup2(null, STDOUT_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    *ready_fd = p[1];
    return 0;
}

/* detach_stderr - stderr to /dev/null once logging no longer uses it */
static void
detach_stderr(void)
{
    int null = open("/dev/null", O_RDWR);

    if (null >= 0) {
        (void)dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
}

static int
drop_privileges(const struct rm_cfg_global *g)
{
    const char *user = g->user && *g->user ? g->user : NULL;
    const char *group = g->group && *g->group ? g->group : NULL;
    struct passwd pw, *pwr = NULL;
    struct group gr, *grr = NULL;
    char pbuf[4096], gbuf[4096];
    uid_t uid = geteuid();
    gid_t gid = getegid();

    if (user == NULL && group == NULL)
        return 0;
    if (user) {
        if (getpwnam_r(user, &pw, pbuf, sizeof(pbuf), &pwr) != 0 ||
            pwr == NULL) {
            msg_err("user \"%s\" does not exist", user);
            return -1;
        }
        uid = pwr->pw_uid;
        gid = pwr->pw_gid;
    }
    if (group) {
        if (getgrnam_r(group, &gr, gbuf, sizeof(gbuf), &grr) != 0 ||
            grr == NULL) {
            msg_err("group \"%s\" does not exist", group);
            return -1;
        }
        gid = grr->gr_gid;
    }
    if (geteuid() != 0) {
        if (uid == geteuid() && gid == getegid())
            return 0;
        msg_err("cannot switch to user %s group %s: not running as root",
                user ? user : "(unchanged)", group ? group : "(unchanged)");
        return -1;
    }
    if (user ? initgroups(user, gid) < 0 : setgroups(1, &gid) < 0) {
        msg_err("cannot set supplementary groups: %s", strerror(errno));
        return -1;
    }
    if (setgid(gid) < 0) {
        msg_err("setgid(%ld): %s", (long)gid, strerror(errno));
        return -1;
    }
    if (user && setuid(uid) < 0) {
        msg_err("setuid(%ld): %s", (long)uid, strerror(errno));
        return -1;
    }
    if (user && uid != 0 && setuid(0) == 0) {
        msg_err("privileges not dropped: setuid(0) still succeeds");
        return -1;
    }
    msg_info("running as uid %ld gid %ld", (long)geteuid(), (long)getegid());
    return 0;
}

/* ------------------------------------------------------------------ */
/* connections                                                        */
/* ------------------------------------------------------------------ */

static void
registry_add(struct rm_engine *e, struct rm_conn *c)
{
    c->prev = NULL;
    c->next = e->conns;
    if (e->conns)
        e->conns->prev = c;
    e->conns = c;
    e->n_conns++;
}

static void
registry_del(struct rm_engine *e, struct rm_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        e->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->n_conns--;
    pthread_cond_broadcast(&e->idle);
}

/*
 * worker_idle - called with e->lock held by a session thread whose session
 * has just been unregistered: whether it stays for another connection. If
 * so it counts itself idle at once (in the same critical section that made
 * room under max_sessions), so that the accept thread, woken by that room,
 * hands the next connection to it rather than starting a thread.
 */
static bool
worker_idle(struct rm_engine *e)
{
    if (atomic_load(&e->stopping) || e->n_idle >= RM_WORKER_IDLE_MAX)
        return false;
    e->n_idle++;
    return true;
}

/*
 * worker_next - called with e->lock held by a thread that worker_idle
 * kept: wait (bounded) for the accept thread to hand it the next
 * connection. NULL: the thread is to exit (stopping, or none came within
 * RM_WORKER_IDLE_MS).
 *
 * Invariant (under the lock): the threads kept by worker_idle and not yet
 * back from here number n_idle plus the connections in the queue. The
 * accept thread queues a connection only when n_idle > 0 and then
 * decrements it, so every queued connection has a thread that will take
 * it, even during a stop.
 */
static struct rm_conn *
worker_next(struct rm_engine *e)
{
    struct rm_conn *c = NULL;
    struct timespec ts;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(RM_WORKER_IDLE_MS / 1000u);
    ts.tv_nsec += (long)(RM_WORKER_IDLE_MS % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (e->queue == NULL && !atomic_load(&e->stopping) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&e->work, &e->lock, &ts);
    if (e->queue != NULL) {
        /* promised to us (or to a waiter that left): n_idle already
         * counts it out */
        c = e->queue;
        e->queue = c->qnext;
        if (e->queue == NULL)
            e->queue_tail = NULL;
        c->qnext = NULL;
    } else {
        e->n_idle--;
    }
    return c;
}

static void *
conn_thread(void *arg)
{
    struct rm_conn *c = arg;
    struct rm_engine *e = c->eng;

    while (c != NULL) {
        bool stay;

        session_main(c);
        pthread_mutex_lock(&e->lock);
        registry_del(e, c);
        close(c->fd); /* under the lock: a hard stop never sees a stale fd */
        stay = worker_idle(e);
        pthread_mutex_unlock(&e->lock);
        cfg_unref(c->cfg);
        free(c);

        pthread_mutex_lock(&e->lock);
        c = stay ? worker_next(e) : NULL;
        if (c == NULL) {
            /* the last touch of the engine: a stop waits for this */
            e->n_threads--;
            pthread_cond_broadcast(&e->idle);
        }
        pthread_mutex_unlock(&e->lock);
    }
    return NULL;
}

static void
peer_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
        snprintf(buf, size, "%s:%u", a, ntohs(s->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
        snprintf(buf, size, "[%s]:%u", a, ntohs(s->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        snprintf(buf, size, "local socket");
    } else {
        snprintf(buf, size, "unknown (family %d)", (int)ss->ss_family);
    }
}

static void
start_conn(struct daemon *d, int fd, const struct rm_listener *l,
           const struct sockaddr_storage *ss)
{
    struct rm_conn *c = xcalloc(1, sizeof(*c));
    pthread_attr_t attr;
    int err;

    c->fd = fd;
    c->tcp = ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
    c->id = ++d->next_id;
    c->eng = &d->eng;
    peer_text(ss, c->peer, sizeof(c->peer));
    snprintf(c->via, sizeof(c->via), "%s", l->name);

    pthread_mutex_lock(&d->eng.lock);
    c->cfg = cfg_ref(d->cur);
    registry_add(&d->eng, c);
    if (d->eng.n_idle > 0) {
        /* an idle session thread takes it (worker_next) */
        d->eng.n_idle--;
        c->qnext = NULL;
        if (d->eng.queue_tail)
            d->eng.queue_tail->qnext = c;
        else
            d->eng.queue = c;
        d->eng.queue_tail = c;
        pthread_cond_signal(&d->eng.work);
        pthread_mutex_unlock(&d->eng.lock);
        return;
    }
    d->eng.n_threads++;
    pthread_mutex_unlock(&d->eng.lock);

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&(pthread_t){0}, &attr, conn_thread, c);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        msg_err("conn %lu: from %s: cannot start a thread: %s; closing", c->id,
                c->peer, strerror(err));
        pthread_mutex_lock(&d->eng.lock);
        registry_del(&d->eng, c);
        d->eng.n_threads--;
        close(fd);
        pthread_mutex_unlock(&d->eng.lock);
        cfg_unref(c->cfg);
        free(c);
    }
}

/* wait_for_room - block while max_sessions connections are open */
static void
wait_for_room(struct daemon *d)
{
    bool said = false;
    int64_t max;

    pthread_mutex_lock(&d->eng.lock);
    for (;;) {
        max = d->cur->global.max_sessions;
        if (max < 1)
            max = 1;
        if (atomic_load(&d->eng.stopping) ||
            d->eng.n_conns < (unsigned long)max)
            break;
        if (!said &&
            (d->full_logged == 0 || mono_ms() - d->full_logged >= 60000)) {
            msg_warn("max_sessions (%lld) reached; new connections wait "
                     "(logged at most once a minute)",
                     (long long)max);
            d->full_logged = mono_ms();
        }
        said = true;
        pthread_cond_wait(&d->eng.idle, &d->eng.lock);
    }
    pthread_mutex_unlock(&d->eng.lock);
}

static void *
accept_main(void *arg)
{
    struct daemon *d = arg;
    size_t n = d->ls.n, i;
    struct pollfd *pfd = xcalloc(n + 1, sizeof(*pfd));
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, rc;

    for (i = 0; i < n; i++) {
        pfd[i].fd = d->ls.v[i].fd;
        pfd[i].events = POLLIN;
    }
    pfd[n].fd = d->eng.stop_fd;
    pfd[n].events = POLLIN;

    while (!atomic_load(&d->eng.stopping)) {
        wait_for_room(d);
        if (atomic_load(&d->eng.stopping))
            break;
        rc = poll(pfd, (nfds_t)(n + 1), -1);
        if (rc < 0) {
            if (errno != EINTR) {
                msg_err("accept: poll: %s", strerror(errno));
                usleep(100000);
            }
            continue;
        }
        if (pfd[n].revents)
            break;
        for (i = 0; i < n; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            len = sizeof(ss);
            fd = accept4(pfd[i].fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                    errno == ECONNABORTED || errno == EPROTO)
                    continue;
                msg_err("accept on %s: %s", d->ls.v[i].name, strerror(errno));
                /* EMFILE and friends: do not spin */
                usleep(100000);
                continue;
            }
            start_conn(d, fd, &d->ls.v[i], &ss);
        }
    }
    free(pfd);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* reload and stop                                                    */
/* ------------------------------------------------------------------ */

static bool
same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
same_sockets(const struct rm_socklist *a, const struct rm_socklist *b)
{
    size_t i;

    if (a->n != b->n)
        return false;
    for (i = 0; i < a->n; i++)
        if (!same_str(a->v[i].text, b->v[i].text))
            return false;
    return true;
}

static void
reload(struct daemon *d)
{
    struct rm_config *n = NULL, *old;
    struct rm_diag diag = {0};
    unsigned long sessions;
    size_t i;
    int rc;

    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)mono_ms() * 1000u);
    msg_info("reloading %s", d->config_path);
    rc = cfg_load(d->config_path, &n, &diag);
    if (rc == 0) {
        /* number generations for the logs; n is not shared yet */
        if (n->generation <= d->cur->generation)
            n->generation = d->cur->generation + 1;
        rc = pipeline_generation_init(n, &diag);
    }
    for (i = 0; i < diag.n; i++) {
        if (strstr(diag.lines[i], ": warning:"))
            msg_warn("reload: %s", diag.lines[i]);
        else
            msg_err("reload: %s", diag.lines[i]);
    }
    diag_free(&diag);
    if (rc < 0) {
        if (n)
            cfg_unref(n);
        msg_err("reload of %s failed; still serving generation %u",
                d->config_path, d->cur->generation);
        metrics_reload_failed();
        sd_notify(0, "READY=1\nSTATUS=reload failed; old configuration "
                     "kept");
        return;
    }

    pthread_mutex_lock(&d->eng.lock);
    old = d->cur;
    d->cur = n;
    sessions = d->eng.n_conns;
    /* max_sessions may have grown */
    pthread_cond_broadcast(&d->eng.idle);
    pthread_mutex_unlock(&d->eng.lock);

    apply_logging(n, wants_syslog(d, n));
    metrics_config(n);
    if (!same_sockets(&old->global.bind_socket, &n->global.bind_socket))
        msg_warn("reload: bind_socket changed; it takes effect at restart");
    if (!same_str(old->global.user, n->global.user) ||
        !same_str(old->global.group, n->global.group) ||
        !same_str(old->global.pidfile, n->global.pidfile))
        msg_warn("reload: user, group or pidfile changed; they take "
                 "effect at restart");
    msg_info("reloaded %s: generation %u serves new connections; %lu open "
             "connections finish on the generation they started with",
             d->config_path, n->generation, sessions);
    cfg_unref(old);
    sd_notify(0, "READY=1\nSTATUS=serving");
}

/* wait_sessions - until no connection (threads: no session thread) is
 * left or deadline (monotonic ms); returns how many are left */
static unsigned long
wait_sessions(struct daemon *d, uint64_t deadline, bool threads)
{
    const unsigned long *count = threads ? &d->eng.n_threads : &d->eng.n_conns;
    struct timespec ts;
    unsigned long left;
    uint64_t now;

    pthread_mutex_lock(&d->eng.lock);
    while (*count > 0 && (now = mono_ms()) < deadline) {
        uint64_t ms = deadline - now;

        if (ms > 200)
            ms = 200; /* re-check the clock; idle is on CLOCK_MONOTONIC */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(ms / 1000);
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->eng.idle, &d->eng.lock, &ts);
    }
    left = *count;
    pthread_mutex_unlock(&d->eng.lock);
    return left;
}

/* stop - the graceful stop; returns sessions still running at the end */
static unsigned long
stop(struct daemon *d)
{
    struct rm_conn *c;
    uint64_t one = 1, tmo;
    unsigned long left;

    sd_notify(0, "STOPPING=1");
    atomic_store(&d->eng.stopping, true);
    if (d->eng.stop_fd >= 0 &&
        write(d->eng.stop_fd, &one, sizeof(one)) != sizeof(one))
        msg_warn("stop: eventfd write: %s", strerror(errno));
    pthread_mutex_lock(&d->eng.lock);
    pthread_cond_broadcast(&d->eng.idle);
    pthread_cond_broadcast(&d->eng.work); /* idle session threads exit */
    tmo = d->cur->global.shutdown_timeout;
    pthread_mutex_unlock(&d->eng.lock);
    if (d->acceptor_started)
        pthread_join(d->acceptor, NULL);
    listen_close(&d->ls);

    left = wait_sessions(d, mono_ms() + tmo, false);
    if (left > 0) {
        msg_warn("shutdown_timeout (%llu ms) passed; closing %lu connections",
                 (unsigned long long)tmo, left);
        pthread_mutex_lock(&d->eng.lock);
        for (c = d->eng.conns; c; c = c->next) {
            atomic_store(&c->killed, true);
            (void)shutdown(c->fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&d->eng.lock);
        left = wait_sessions(d, mono_ms() + 5000, false);
        if (left) {
            msg_warn("%lu connections still busy in the pipeline; exiting "
                     "anyway",
                     left);
            return left;
        }
    }
    /* every session has ended; their threads (and the idle ones, woken
     * above) are on their way out and no longer wait for anything */
    left = wait_sessions(d, mono_ms() + 5000, true);
    if (left)
        msg_warn("%lu session threads have not exited; exiting anyway", left);
    return left;
}

static int
engine_init(struct rm_engine *e)
{
    pthread_condattr_t ca;

    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->idle, &ca);
    pthread_cond_init(&e->work, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->stopping, false);
    e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->stop_fd < 0) {
        msg_err("eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static const char *
sig_name(int sig)
{
    switch (sig) {
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    default:
        return "signal";
    }
}

int
daemon_run(struct rm_config *cfg, const char *config_path, bool foreground)
{
    struct daemon d;
    struct sigaction sa;
    sigset_t set;
    unsigned long left = 0;
    int ready_fd = -1, sig, status = 1, err;
    char st;

    memset(&d, 0, sizeof(d));
    if (cfg->generation == 0)
        cfg->generation = 1; /* not shared yet; numbered for the logs */
    d.cur = cfg;
    d.pid_fd = -1;
    d.foreground = foreground;
    d.config_path = absolute_path(config_path);
    d.pidfile = absolute_path(cfg->global.pidfile);
    d.eng.stop_fd = -1;

    /* before any thread exists: the signal thread is this one */
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* until detached, log where the admin is looking */
    apply_logging(cfg, false);
    if (engine_init(&d.eng) < 0 || pidfile_open(&d) < 0)
        goto out;
    if (listen_open(&cfg->global, &d.ls) < 0)
        goto out;
    if (!foreground) {
        if (daemonize(&ready_fd) < 0)
            goto out;
        apply_logging(cfg, wants_syslog(&d, cfg));
        if (wants_syslog(&d, cfg))
            detach_stderr();
    }
    if (pidfile_write(&d) < 0 || drop_privileges(&cfg->global) < 0)
        goto out;

    metrics_start(cfg); /* optional: mail flows even if it fails */
    err = pthread_create(&d.acceptor, NULL, accept_main, &d);
    if (err != 0) {
        msg_err("cannot start the accept thread: %s", strerror(err));
        goto out;
    }
    d.acceptor_started = true;
    msg_info("rmilter %s started (pid %ld, generation %u, %zu listeners)",
             RM_VERSION, (long)getpid(), cfg->generation, d.ls.n);
    sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=serving",
               (unsigned long)getpid());
    if (ready_fd >= 0) {
        st = 0;
        if (write(ready_fd, &st, 1) != 1)
            msg_debug("cannot report start-up to the parent: %s",
                      strerror(errno));
        close(ready_fd);
        ready_fd = -1;
    }

    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP || sig == SIGUSR1) {
            msg_info("%s received", sig_name(sig));
            reload(&d);
            continue;
        }
        msg_info("%s received; stopping", sig_name(sig));
        break;
    }
    left = stop(&d);
    status = 0;

out:
    if (status != 0) {
        if (d.acceptor_started) {
            left = stop(&d);
        } else {
            listen_close(&d.ls);
        }
        msg_err("rmilter not started");
    }
    if (ready_fd >= 0) {
        st = 1;
        (void)!write(ready_fd, &st, 1);
        close(ready_fd);
    }
    metrics_stop();
    pidfile_remove(&d);
    if (status == 0)
        msg_info("rmilter stopped");
    /* sessions that outlived the stop still use their generations and the
     * engine; the process exit reclaims them */
    if (left == 0) {
        if (d.eng.stop_fd >= 0)
            close(d.eng.stop_fd);
        cfg_unref(d.cur);
    }
    free(d.config_path);
    free(d.pidfile);
    return status;
}
