/*
 * NAME
 *   metrics - lock-free counters, Prometheus text, and the HTTP listener
 *
 * DESCRIPTION
 *   A family (one metric name, one type) holds a singly linked list of
 *   series, one per label set. The label set is rendered once, when the
 *   series is created ('check="rules",result="pass"'), and is its key.
 *   Lookups walk the list; a new series is pushed with compare-and-swap,
 *   re-checking the nodes other threads pushed meanwhile so that a label
 *   set never gets two series. Series are never freed: their number is
 *   bounded by the modules, results, actions and backend servers that
 *   exist, and capped at RM_METRICS_MAX_SERIES per family (beyond that an
 *   update is dropped and counted in rmilter_metrics_dropped_total).
 *
 *   Histograms keep one counter per bucket (not cumulative: an update
 *   touches one bucket), the count and the sum in microseconds; the
 *   renderer accumulates. A scrape is not an atomic snapshot across
 *   series (Prometheus does not need one), but every value it prints was
 *   true at some instant.
 *
 *   Upstream pool state is not pushed: the scrape asks the upstream
 *   registry (net/upstream_registry.h) for a snapshot of every live pool.
 *
 *   The listener thread (see metrics.h) polls its socket and an eventfd
 *   that metrics_stop signals; each accepted connection is served to the
 *   end (one request, a 2 s deadline for reading and writing) before the
 *   next.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Families are static; series are owned by their family for the life of
 *   the process. Updates are lock-free from any thread. metrics_start,
 *   metrics_stop and metrics_config are called by the daemon's main thread
 *   only; the listener state is theirs (and the listener thread's, which
 *   only reads it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cfg/cfg_value.h"
#include "core/hooks.h"
#include "core/metrics.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/upstream.h"
#include "net/upstream_registry.h"

#define RM_METRICS_MAX_SERIES 512
#define RM_METRICS_LABELS 512
#define RM_METRICS_WORD 32
#define RM_METRICS_IO_MS 2000
#define RM_METRICS_REQ_MAX 8192

/* ------------------------------------------------------------------ */
/* families and series                                                */
/* ------------------------------------------------------------------ */

/* Bucket upper bounds in seconds: sub-millisecond rules up to backend
 * scans near their deadlines. */
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                   5,      10,    30,     60};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct series {
    struct series *next;
    char *labels;
    atomic_uint_fast64_t value; /* counter */
    atomic_uint_fast64_t count; /* histogram */
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t bucket[NBUCKETS];
};

struct family {
    const char *name;
    const char *help;
    enum mtype type;
    _Atomic(struct series *) head;
    atomic_uint n;
};

#define FAMILY(var, n, h, t)                                                   \
    static struct family var = {.name = n, .help = h, .type = t}
FAMILY(f_messages, "rmilter_messages_total",
       "Messages (transactions) by the action taken.", M_COUNTER);
FAMILY(f_checks, "rmilter_check_results_total",
       "Check outcomes by check and result (error: on_failure applied).",
       M_COUNTER);
FAMILY(f_check_time, "rmilter_check_duration_seconds",
       "Time spent in each check's hooks, per message.", M_HISTOGRAM);
FAMILY(f_msg_time, "rmilter_message_duration_seconds",
       "Time from MAIL FROM to the end of the transaction.", M_HISTOGRAM);
FAMILY(f_backend, "rmilter_backend_requests_total",
       "Requests to backend servers by result.", M_COUNTER);
FAMILY(f_backend_time, "rmilter_backend_duration_seconds",
       "Duration of requests to backend servers.", M_HISTOGRAM);
FAMILY(f_reloads, "rmilter_config_reloads_total",
       "Configuration reloads by result.", M_COUNTER);
#undef FAMILY

static atomic_int_fast64_t sessions_open;
static atomic_uint_fast64_t sessions_total;
static atomic_uint config_generation;
static atomic_uint_fast64_t dropped;

/* esc - append v to the label buffer with Prometheus escaping */
static size_t
esc(char *buf, size_t len, size_t o, const char *v)
{
    for (; v != NULL && *v != '\0' && o + 3 < len; v++) {
        if (*v == '\\' || *v == '"') {
            buf[o++] = '\\';
            buf[o++] = *v;
        } else if (*v == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *v;
        }
    }
    buf[o] = '\0';
    return o;
}

/* labels - 'k1="v1",k2="v2"' from NULL-terminated name/value pairs */
static void
labels(char *buf, size_t len, ...)
{
    const char *k, *v;
    size_t o = 0;
    va_list ap;
    int n;

    buf[0] = '\0';
    va_start(ap, len);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        n = snprintf(buf + o, len - o, "%s%s=\"", o ? "," : "", k);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o = esc(buf, len, o + (size_t)n, v);
        if (o + 2 >= len)
            break;
        buf[o++] = '"';
        buf[o] = '\0';
    }
    va_end(ap);
}

/* series_get - the series of fam with this label set, created on first
 * use; NULL when the family is full */
static struct series *
series_get(struct family *fam, const char *lbl)
{
    struct series *head, *p, *stop, *s;

    head = atomic_load_explicit(&fam->head, memory_order_acquire);
    for (p = head; p != NULL; p = p->next)
        if (strcmp(p->labels, lbl) == 0)
            return p;
    if (atomic_fetch_add(&fam->n, 1) >= RM_METRICS_MAX_SERIES) {
        atomic_fetch_sub(&fam->n, 1);
        atomic_fetch_add(&dropped, 1);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->labels = xstrdup(lbl);
    s->next = head;
    while (!atomic_compare_exchange_weak_explicit(
        &fam->head, &head, s, memory_order_acq_rel, memory_order_acquire)) {
        /* head is the new head: look at what was pushed since */
        stop = s->next;
        for (p = head; p != stop; p = p->next) {
            if (strcmp(p->labels, lbl) == 0) {
                atomic_fetch_sub(&fam->n, 1);
                free(s->labels);
                free(s);
                return p;
            }
        }
        s->next = head;
    }
    return s;
}

static void
counter_add(struct family *fam, const char *lbl, uint64_t n)
{
    struct series *s = series_get(fam, lbl);

    if (s != NULL)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

static void
observe(struct family *fam, const char *lbl, uint64_t usec)
{
    struct series *s = series_get(fam, lbl);
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < NBUCKETS; i++)
        if ((double)usec <= bucket_le[i] * 1e6)
            break;
    if (i < NBUCKETS)
        atomic_fetch_add_explicit(&s->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, usec, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* what the pipeline, the modules and the daemon report               */
/* ------------------------------------------------------------------ */

/* result_word - a check's outcome as a bounded label value */
static const char *
result_word(const char *note, char *buf, size_t len)
{
    if (note != NULL && strstr(note, " -> ") != NULL) {
        snprintf(buf, len, "error");
        return buf;
    }
    return report_action_word(note, buf, len);
}

void
metrics_message(const struct rm_msg_report *r)
{
    char lbl[RM_METRICS_LABELS], word[RM_METRICS_WORD];
    size_t i;

    labels(lbl, sizeof(lbl), "action",
           report_action_word(r->action, word, sizeof(word)), NULL);
    counter_add(&f_messages, lbl, 1);
    observe(&f_msg_time, "", r->usec);
    for (i = 0; i < r->n_checks; i++) {
        const struct rm_check_report *c = &r->checks[i];

        labels(lbl, sizeof(lbl), "check", c->name, "result",
               result_word(c->note, word, sizeof(word)), NULL);
        counter_add(&f_checks, lbl, 1);
        if (c->called) {
            labels(lbl, sizeof(lbl), "check", c->name, NULL);
            observe(&f_check_time, lbl, c->usec);
        }
    }
}

void
metrics_session_open(void)
{
    atomic_fetch_add_explicit(&sessions_open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sessions_total, 1, memory_order_relaxed);
}

void
metrics_session_close(void)
{
    atomic_fetch_sub_explicit(&sessions_open, 1, memory_order_relaxed);
}

void
metrics_backend(const char *backend, const char *server, uint64_t usec, bool ok)
{
    char lbl[RM_METRICS_LABELS];

    labels(lbl, sizeof(lbl), "backend", backend, "server", server, "result",
           ok ? "ok" : "error", NULL);
    counter_add(&f_backend, lbl, 1);
    labels(lbl, sizeof(lbl), "backend", backend, "server", server, NULL);
    observe(&f_backend_time, lbl, usec);
}

void
metrics_reload_failed(void)
{
    counter_add(&f_reloads, "result=\"failed\"", 1);
}

/* ------------------------------------------------------------------ */
/* rendering                                                          */
/* ------------------------------------------------------------------ */

static void
header(FILE *f, const char *name, const char *help, const char *type)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* print_name - name, suffix and "{labels,extra}" (either may be empty) */
static void
print_name(FILE *f, const char *name, const char *suffix, const char *lbl,
           const char *extra)
{
    bool a = lbl != NULL && *lbl != '\0', b = extra != NULL;

    fprintf(f, "%s%s", name, suffix);
    if (a || b)
        fprintf(f, "{%s%s%s}", a ? lbl : "", a && b ? "," : "", b ? extra : "");
}

static void
render_family(FILE *f, struct family *fam)
{
    struct series *s;
    uint64_t cum, count;
    char le[48];
    size_t i;

    header(f, fam->name, fam->help,
           fam->type == M_HISTOGRAM ? "histogram"
           : fam->type == M_GAUGE   ? "gauge"
                                    : "counter");
    for (s = atomic_load_explicit(&fam->head, memory_order_acquire); s != NULL;
         s = s->next) {
        if (fam->type != M_HISTOGRAM) {
            print_name(f, fam->name, "", s->labels, NULL);
            fprintf(f, " %" PRIu64 "\n", (uint64_t)atomic_load(&s->value));
            continue;
        }
        /* Buckets are read before the count, and +Inf is the larger of
         * the two, so the exposition stays monotonic under updates. */
        cum = 0;
        for (i = 0; i < NBUCKETS; i++) {
            cum += atomic_load(&s->bucket[i]);
            snprintf(le, sizeof(le), "le=\"%g\"", bucket_le[i]);
            print_name(f, fam->name, "_bucket", s->labels, le);
            fprintf(f, " %" PRIu64 "\n", cum);
        }
        count = atomic_load(&s->count);
        if (count < cum)
            count = cum;
        print_name(f, fam->name, "_bucket", s->labels, "le=\"+Inf\"");
        fprintf(f, " %" PRIu64 "\n", count);
        print_name(f, fam->name, "_sum", s->labels, NULL);
        fprintf(f, " %.6f\n", (double)atomic_load(&s->sum_us) / 1e6);
        print_name(f, fam->name, "_count", s->labels, NULL);
        fprintf(f, " %" PRIu64 "\n", count);
    }
}

struct up_row {
    char *pool, *server;
    struct rm_upstream_stats st;
};

struct up_rows {
    size_t n, cap;
    struct up_row *v;
};

static void
up_collect(const char *pool, const char *server,
           const struct rm_upstream_stats *st, void *arg)
{
    struct up_rows *r = arg;

    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n].pool = xstrdup(pool);
    r->v[r->n].server = xstrdup(server);
    r->v[r->n].st = *st;
    r->n++;
}

static void
render_upstreams(FILE *f)
{
    struct up_rows r = {0};
    char lbl[RM_METRICS_LABELS];
    size_t i;

    upstream_foreach(up_collect, &r, upstream_now_ms());
    header(f, "rmilter_upstream_alive",
           "1 if the backend server may be picked, 0 while marked dead.",
           "gauge");
    for (i = 0; i < r.n; i++) {
        labels(lbl, sizeof(lbl), "pool", r.v[i].pool, "server", r.v[i].server,
               NULL);
        fprintf(f, "rmilter_upstream_alive{%s} %d\n", lbl,
                r.v[i].st.alive ? 1 : 0);
    }
    header(f, "rmilter_upstream_errors",
           "Errors of the server within its error_time window.", "gauge");
    for (i = 0; i < r.n; i++) {
        labels(lbl, sizeof(lbl), "pool", r.v[i].pool, "server", r.v[i].server,
               NULL);
        fprintf(f, "rmilter_upstream_errors{%s} %u\n", lbl, r.v[i].st.errors);
    }
    header(f, "rmilter_upstream_requests_total",
           "Uses of the server reported to its pool, by result.", "counter");
    for (i = 0; i < r.n; i++) {
        labels(lbl, sizeof(lbl), "pool", r.v[i].pool, "server", r.v[i].server,
               NULL);
        fprintf(f,
                "rmilter_upstream_requests_total{%s,result=\"ok\"} %" PRIu64
                "\n",
                lbl, r.v[i].st.oks_total);
        fprintf(f,
                "rmilter_upstream_requests_total{%s,result=\"error\"} %" PRIu64
                "\n",
                lbl, r.v[i].st.fails_total);
    }
    header(f, "rmilter_upstream_deaths_total",
           "Times the server was marked dead.", "counter");
    for (i = 0; i < r.n; i++) {
        labels(lbl, sizeof(lbl), "pool", r.v[i].pool, "server", r.v[i].server,
               NULL);
        fprintf(f, "rmilter_upstream_deaths_total{%s} %" PRIu64 "\n", lbl,
                r.v[i].st.deaths_total);
        free(r.v[i].pool);
        free(r.v[i].server);
    }
    free(r.v);
}

void
metrics_render(FILE *f)
{
    header(f, "rmilter_build_info", "The running version.", "gauge");
    fprintf(f, "rmilter_build_info{version=\"%s\"} 1\n", RM_VERSION);
    render_family(f, &f_messages);
    render_family(f, &f_checks);
    render_family(f, &f_check_time);
    render_family(f, &f_msg_time);
    render_family(f, &f_backend);
    render_family(f, &f_backend_time);
    render_upstreams(f);
    header(f, "rmilter_sessions_open", "MTA sessions open now.", "gauge");
    fprintf(f, "rmilter_sessions_open %" PRIdFAST64 "\n",
            atomic_load(&sessions_open));
    header(f, "rmilter_sessions_total", "MTA sessions opened.", "counter");
    fprintf(f, "rmilter_sessions_total %" PRIu64 "\n",
            (uint64_t)atomic_load(&sessions_total));
    header(f, "rmilter_config_generation",
           "The configuration generation serving new sessions.", "gauge");
    fprintf(f, "rmilter_config_generation %u\n",
            atomic_load(&config_generation));
    render_family(f, &f_reloads);
    header(f, "rmilter_metrics_dropped_total",
           "Updates dropped because a family had too many series.", "counter");
    fprintf(f, "rmilter_metrics_dropped_total %" PRIu64 "\n",
            (uint64_t)atomic_load(&dropped));
}

/* ------------------------------------------------------------------ */
/* the HTTP listener                                                  */
/* ------------------------------------------------------------------ */

static struct {
    int fd;
    int stop_fd;
    pthread_t thread;
    bool running;
    char *text;   /* metrics_socket as configured */
    char *unlink; /* unix socket path we created */
} srv = {.fd = -1, .stop_fd = -1};

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* wait_fd - poll fd for events until deadline; 0, or -ETIMEDOUT/-errno */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    uint64_t now;
    int rc;

    for (;;) {
        now = mono_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        rc = poll(&p, 1, (int)(deadline - now));
        if (rc > 0)
            return 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int
send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
    ssize_t n;
    int rc;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0)
            return rc;
    }
    return 0;
}

static int
respond(int fd, const char *status, const char *type, const char *body,
        size_t len, uint64_t deadline)
{
    char head[256];
    int n, rc;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, len);
    rc = send_all(fd, head, (size_t)n, deadline);
    if (rc == 0)
        rc = send_all(fd, body, len, deadline);
    return rc;
}

/* serve - one request on fd: GET /metrics, or an error status */
static void
serve(int fd)
{
    uint64_t deadline = mono_ms() + RM_METRICS_IO_MS;
    char req[RM_METRICS_REQ_MAX + 1], *path, *sp;
    size_t got = 0, len = 0;
    char *body = NULL;
    FILE *f;
    ssize_t n;
    static const char text_type[] = "text/plain; charset=utf-8";

    while (got < RM_METRICS_REQ_MAX) {
        n = recv(fd, req + got, RM_METRICS_REQ_MAX - got, 0);
        if (n == 0)
            return;
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return;
            if (wait_fd(fd, POLLIN, deadline) < 0)
                return;
            continue;
        }
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
    }
    req[got] = '\0';
    if (strncmp(req, "GET ", 4) != 0 && strncmp(req, "HEAD ", 5) != 0) {
        respond(fd, "405 Method Not Allowed", text_type, "only GET /metrics\n",
                18, deadline);
        return;
    }
    path = strchr(req, ' ') + 1;
    sp = path + strcspn(path, " ?\r\n");
    if ((size_t)(sp - path) != 8 || strncmp(path, "/metrics", 8) != 0) {
        respond(fd, "404 Not Found", text_type, "try /metrics\n", 13, deadline);
        return;
    }
    f = open_memstream(&body, &len);
    if (f == NULL) {
        respond(fd, "500 Internal Server Error", text_type, "", 0, deadline);
        return;
    }
    metrics_render(f);
    fclose(f);
    respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
            req[0] == 'H' ? 0 : len, deadline);
    free(body);
}

static void *
listener_main(void *arg)
{
    struct pollfd p[2];
    int fd;

    (void)arg;
    p[0].fd = srv.fd;
    p[0].events = POLLIN;
    p[1].fd = srv.stop_fd;
    p[1].events = POLLIN;
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            msg_err("metrics: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        fd = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                usleep(100000);
            continue;
        }
        serve(fd);
        close(fd);
    }
    return NULL;
}

/* open_inet - bind host:port (any address when host is empty) */
static int
open_inet(const struct rm_sockspec *sp, int family)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    int fd = -1, one = 1, rc;

    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", (unsigned)sp->port);
    rc = getaddrinfo(sp->host && *sp->host ? sp->host : NULL, port, &hints,
                     &res);
    if (rc != 0) {
        msg_err("metrics_socket %s: %s", sp->text, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0)
        goto fail;
    freeaddrinfo(res);
    return fd;

fail:
    msg_err("metrics_socket %s: %s", sp->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

/* open_unix - bind path, replacing a stale socket (never another file) */
static int
open_unix(const struct rm_sockspec *sp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (strlen(sp->path) >= sizeof(sun.sun_path)) {
        msg_err("metrics_socket %s: path too long", sp->text);
        return -1;
    }
    memcpy(sun.sun_path, sp->path, strlen(sp->path) + 1);
    if (lstat(sp->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(sp->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 16) < 0) {
        msg_err("metrics_socket %s: %s", sp->text, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    srv.unlink = xstrdup(sp->path);
    return fd;
}

void
metrics_config(const struct rm_config *cfg)
{
    const char *text = cfg->global.metrics_socket;

    atomic_store(&config_generation, cfg->generation);
    counter_add(&f_reloads, "result=\"ok\"", 1);
    if (srv.text != NULL && strcmp(text ? text : "", srv.text) != 0)
        msg_warn("reload: metrics_socket changed; it takes effect at "
                 "restart");
}

int
metrics_start(const struct rm_config *cfg)
{
    const char *text = cfg->global.metrics_socket;
    struct rm_sockspec sp = {0};
    char err[256];
    int rc = -1;

    atomic_store(&config_generation, cfg->generation);
    /* both reload series exist from the start, so rate() works at once */
    counter_add(&f_reloads, "result=\"ok\"", 0);
    counter_add(&f_reloads, "result=\"failed\"", 0);
    if (srv.running)
        return 0;
    free(srv.text);
    srv.text = xstrdup(text ? text : "");
    if (text == NULL || *text == '\0')
        return 0;
    if (cfg_parse_socket(text, &sp, err, sizeof(err)) < 0) {
        msg_err("metrics_socket %s: %s; metrics are not served", text, err);
        return -1;
    }
    switch (sp.kind) {
    case RM_SOCK_INET:
        srv.fd = open_inet(&sp, AF_INET);
        break;
    case RM_SOCK_INET6:
        srv.fd = open_inet(&sp, AF_INET6);
        break;
    case RM_SOCK_UNIX:
        srv.fd = open_unix(&sp);
        break;
    default:
        msg_err("metrics_socket %s: use inet:PORT@HOST, inet6:PORT@HOST or "
                "unix:/path; metrics are not served",
                text);
        goto out;
    }
    if (srv.fd < 0)
        goto out;
    srv.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv.stop_fd < 0) {
        msg_err("metrics: eventfd: %s", strerror(errno));
        goto out;
    }
    rc = pthread_create(&srv.thread, NULL, listener_main, NULL);
    if (rc != 0) {
        msg_err("metrics: cannot start the listener: %s", strerror(rc));
        rc = -1;
        goto out;
    }
    srv.running = true;
    msg_info("metrics: serving Prometheus metrics on %s (GET /metrics)", text);
    rc = 0;

out:
    if (rc < 0) {
        if (srv.fd >= 0)
            close(srv.fd);
        if (srv.stop_fd >= 0)
            close(srv.stop_fd);
        srv.fd = srv.stop_fd = -1;
        msg_err("metrics are not served");
    }
    cfg_sockspec_free(&sp);
    return rc;
}

void
metrics_stop(void)
{
    uint64_t one = 1;

    if (srv.running) {
        if (write(srv.stop_fd, &one, sizeof(one)) != sizeof(one))
            msg_warn("metrics: eventfd write: %s", strerror(errno));
        pthread_join(srv.thread, NULL);
        srv.running = false;
    }
    if (srv.fd >= 0)
        close(srv.fd);
    if (srv.stop_fd >= 0)
        close(srv.stop_fd);
    srv.fd = srv.stop_fd = -1;
    if (srv.unlink != NULL)
        unlink(srv.unlink);
    free(srv.unlink);
    free(srv.text);
    srv.unlink = srv.text = NULL;
}
