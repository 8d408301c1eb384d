/*
 * NAME
 *   karma_dnsl - DNS list lookups of one message on a helper thread
 *   (see karma_dnsl.h)
 *
 * DESCRIPTION
 *   The set is reference-counted (caller + thread); the last to let go
 *   frees it and, for the thread, drops its config reference after
 *   everything else, because that may free the generation (and with it
 *   the resolver the thread used).
 *
 *   Invariants: jobs are written only by the thread (or inline in start)
 *   before done is set under the mutex; done is never cleared.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   See karma_dnsl.h. No global state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/karma_dnsl.h"
#include "net/io.h"

#define DNSL_REASON_MAX 200

struct rm_karma_dnsl {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    bool done;
    struct rm_config *cfg; /* the thread's reference, or NULL */
    struct rm_dns *dns;
    const struct rm_karma_dnsl_list *lists;
    uint64_t deadline;
    char tag[32];
    struct rm_karma_dnsl_job jobs[RM_KARMA_DNSL_MAX_JOBS];
    size_t n;
};

const char *
karma_dnsl_ids_text(unsigned ids, char *buf, size_t len)
{
    static const char *const names[] = {"ip", "helo", "from", "header_from"};
    size_t i, o = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (i = 0; i < 4; i++) {
        if (!(ids & (1u << i)))
            continue;
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s",
                              o ? "+" : "", names[i]);
        if (o >= len)
            break;
    }
    return buf;
}

/* add_job - one job for list li and identity ident (an IP as text, or a
 * domain); merges with an equal name of the same list */
static void
add_job(struct rm_karma_dnsl *s, size_t li, unsigned id, const char *ident,
        const char *name)
{
    struct rm_karma_dnsl_job *j;
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (s->jobs[i].list == li && strcmp(s->jobs[i].name, name) == 0) {
            s->jobs[i].ids |= id;
            return;
        }
    }
    if (s->n >= RM_KARMA_DNSL_MAX_JOBS)
        return;
    j = &s->jobs[s->n++];
    memset(j, 0, sizeof(*j));
    j->list = li;
    j->ids = id;
    snprintf(j->ident, sizeof(j->ident), "%s", ident);
    snprintf(j->name, sizeof(j->name), "%s", name);
    j->rc = RM_KARMA_DNSL_NOTRUN;
}

static void
add_domain(struct rm_karma_dnsl *s, size_t li, unsigned id, const char *dom)
{
    char name[RM_DNSL_NAMEBUF];
    struct rm_ipaddr a;

    if (dom == NULL || *dom == '\0' || ipaddr_parse(dom, &a) == 0)
        return; /* none, or an address literal */
    if (dnsl_domain_name(dom, s->lists[li].zone, name, sizeof(name)) < 0)
        return;
    add_job(s, li, id, dom, name);
}

/* ask_a - the A lookup of one job */
static void
ask_a(struct rm_karma_dnsl *s, struct rm_karma_dnsl_job *j)
{
    const struct rm_karma_dnsl_list *l = &s->lists[j->list];
    struct rm_dns_answer ans;
    enum rm_dnsl_class c, worst = RM_DNSL_OTHER;
    char txt[INET_ADDRSTRLEN];
    size_t i;

    j->rc = dns_lookup(s->dns, j->name, RM_DNS_A, &ans);
    if (j->rc == 0) {
        for (i = 0; i < ans.n; i++) {
            c = dnsl_classify(ans.rr[i].a, l->listed);
            inet_ntop(AF_INET, &ans.rr[i].a, txt, sizeof(txt));
            if (c == RM_DNSL_LISTED) {
                j->listed = true;
                j->cls = c;
                snprintf(j->code, sizeof(j->code), "%s", txt);
                break;
            }
            if (i == 0 || c > worst) {
                worst = c;
                j->cls = c;
                snprintf(j->code, sizeof(j->code), "%s", txt);
            }
        }
        if (!j->listed && j->cls != RM_DNSL_OTHER)
            msg_warn("%s: karma: dnslist %s answered %s for %s (%s): "
                     "not counted",
                     s->tag, l->zone, j->code, j->name,
                     j->cls == RM_DNSL_REFUSED ? "the operator refuses "
                                                 "the query"
                                               : "not a 127.0.0.0/8 code");
    } else if (!dns_not_found(j->rc)) {
        msg_info("%s: karma: dnslist %s: %s: %s", s->tag, l->zone, j->name,
                 dns_strerror(j->rc));
    }
    dns_answer_free(&ans);
}

/* ask_txt - the reason of a listed job */
static void
ask_txt(struct rm_karma_dnsl *s, struct rm_karma_dnsl_job *j)
{
    struct rm_dns_answer ans;

    if (dns_lookup(s->dns, j->name, RM_DNS_TXT, &ans) == 0 && ans.n > 0 &&
        ans.rr[0].text != NULL)
        j->reason = dnsl_txt_expand(ans.rr[0].text, ans.rr[0].text_len,
                                    j->ident, DNSL_REASON_MAX);
    dns_answer_free(&ans);
}

/* publish - make job j's results (done_flag) visible to the caller */
static void
publish(struct rm_karma_dnsl *s, bool *done_flag)
{
    pthread_mutex_lock(&s->lock);
    *done_flag = true;
    pthread_mutex_unlock(&s->lock);
}

static void
run_jobs(struct rm_karma_dnsl *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (io_now_ms() >= s->deadline)
            break;
        ask_a(s, &s->jobs[i]);
        publish(s, &s->jobs[i].a_done);
    }
    for (i = 0; i < s->n; i++) {
        if (!s->jobs[i].a_done || !s->jobs[i].listed)
            continue;
        if (io_now_ms() >= s->deadline)
            break;
        ask_txt(s, &s->jobs[i]);
        publish(s, &s->jobs[i].txt_done);
    }
}

static void
set_free(struct rm_karma_dnsl *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->jobs[i].reason);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

/* unref - drop one reference; the last frees (and drops cfg) */
static void
unref(struct rm_karma_dnsl *s, bool thread)
{
    struct rm_config *cfg = NULL;
    int left;

    pthread_mutex_lock(&s->lock);
    left = --s->refs;
    if (thread) {
        cfg = s->cfg;
        s->cfg = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (left == 0)
        set_free(s);
    /* last: this may free the generation, resolver included */
    if (cfg != NULL)
        cfg_unref(cfg);
}

static void *
worker(void *arg)
{
    struct rm_karma_dnsl *s = arg;

    run_jobs(s);
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    unref(s, true);
    return NULL;
}

void
karma_dnsl_start(struct rm_karma_dnsl **out, struct rm_config *cfg,
                 struct rm_dns *dns, const struct rm_karma_dnsl_list *lists,
                 size_t n_lists, const struct rm_karma_dnsl_ids *ids,
                 uint64_t deadline, const char *tag)
{
    struct rm_karma_dnsl *s;
    char name[RM_DNSL_NAMEBUF], ipt[64];
    pthread_attr_t attr;
    pthread_t th;
    size_t i;
    int rc;

    *out = NULL;
    if (dns == NULL || n_lists == 0)
        return;
    s = xcalloc(1, sizeof(*s));
    s->dns = dns;
    s->lists = lists;
    s->deadline = deadline;
    snprintf(s->tag, sizeof(s->tag), "%s", tag ? tag : "karma");
    for (i = 0; i < n_lists; i++) {
        if (lists[i].ip) {
            if (ids->has_ip &&
                dnsl_ip_name(&ids->ip, lists[i].zone, name, sizeof(name)) == 0)
                add_job(s, i, RM_KARMA_ID_IP,
                        ipaddr_format(&ids->ip, ipt, sizeof(ipt)), name);
            continue;
        }
        if (lists[i].ids & RM_KARMA_ID_HELO)
            add_domain(s, i, RM_KARMA_ID_HELO, ids->helo);
        if (lists[i].ids & RM_KARMA_ID_FROM)
            add_domain(s, i, RM_KARMA_ID_FROM, ids->from_domain);
        if (lists[i].ids & RM_KARMA_ID_HFROM)
            add_domain(s, i, RM_KARMA_ID_HFROM, ids->hfrom_domain);
    }
    if (s->n == 0) {
        free(s);
        return;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->refs = 2;
    s->cfg = cfg_ref(cfg);
    *out = s;
    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, worker, s);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        msg_warn("%s: karma: cannot start the DNS list thread (%s); "
                 "looking up inline",
                 s->tag, strerror(rc));
        worker(s);
    }
}

int
karma_dnsl_wait(struct rm_karma_dnsl *s, uint64_t deadline_ms)
{
    struct timespec ts;
    uint64_t now, left;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    while (!s->done) {
        now = io_now_ms();
        if (now >= deadline_ms) {
            rc = -ETIMEDOUT;
            break;
        }
        /* the condition variable waits on CLOCK_REALTIME; recompute from
         * the monotonic clock after every wake-up */
        left = deadline_ms - now;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

size_t
karma_dnsl_snapshot(struct rm_karma_dnsl *s, struct rm_karma_dnsl_job *out,
                    size_t max)
{
    size_t i, n = 0;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->n && n < max; i++) {
        const struct rm_karma_dnsl_job *j = &s->jobs[i];
        struct rm_karma_dnsl_job *o = &out[n++];

        /* the identity fields were written before the thread started;
         * the results only once published (the thread may be writing the
         * results of an unpublished job right now) */
        memset(o, 0, sizeof(*o));
        o->list = j->list;
        o->ids = j->ids;
        memcpy(o->ident, j->ident, sizeof(o->ident));
        memcpy(o->name, j->name, sizeof(o->name));
        o->rc = RM_KARMA_DNSL_NOTRUN;
        if (!j->a_done)
            continue;
        o->a_done = true;
        o->rc = j->rc;
        o->listed = j->listed;
        o->cls = j->cls;
        memcpy(o->code, j->code, sizeof(o->code));
        if (j->txt_done) {
            o->txt_done = true;
            o->reason = j->reason ? xstrdup(j->reason) : NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void
karma_dnsl_release(struct rm_karma_dnsl *s)
{
    if (s != NULL)
        unref(s, false);
}
