/*
 * NAME
 *   upstream - backend pools with error counting and dead-time tracking
 *
 * DESCRIPTION
 *   See upstream.h for the rules and the policies. Layout:
 *
 *   - struct up_state: the health of one member (error times, dead mark,
 *     counters). Shared by refcount between every pool object of the same
 *     name whose list holds the same member text, so that a config reload
 *     keeps it.
 *   - struct up_group: the registry entry for one pool name. It owns the
 *     states of that name and the mutex that guards them. Groups live in a
 *     process-wide list guarded by registry_lock and are refcounted by the
 *     pool objects that use them.
 *   - struct rm_upstream_pool: one config generation's view: a copy of the
 *     server list, the limits, and the selection state (round-robin
 *     weights, random generator, the hash ring).
 *
 *   Invariants: a state's err_t holds at most max(maxerrors, 1) error times,
 *   oldest first, all within the window of the newest at the time they
 *   were counted; a dead state holds no error times. The hash ring is
 *   sorted by (hash, member text, written index) and never changes after
 *   the pool is built.
 *
 * OWNERSHIP
 *   A pool owns its members and its copy of the servers; members point at
 *   shared states owned by the group. upstream_pool_free drops the pool's
 *   references; the last reference frees a state or a group.
 *
 * THREAD SAFETY
 *   Lock order: registry_lock, then a group's lock; neither is held while
 *   taking the other in the opposite order. Everything a selection or an
 *   ok/fail touches (states, and the selection state of every pool object
 *   of that name) is under the group's lock. Log lines for transitions are
 *   written with that lock held; they are rare by construction.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "net/upstream.h"
#include "net/upstream_registry.h"

struct up_state {
    struct up_state *next;
    char *text;
    unsigned refs;
    bool dead;
    uint64_t dead_until;
    uint64_t *err_t; /* error times, oldest first */
    unsigned err_n;
    unsigned err_cap;
    uint64_t oks;
    uint64_t fails;
    uint64_t deaths;
};

struct up_group {
    struct up_group *next;
    char *name;
    unsigned refs;
    pthread_mutex_t lock;
    struct up_state *states;
};

struct rm_upstream {
    struct rm_upstream_pool *pool;
    struct up_state *st;
    struct rm_server srv;
    size_t index;
    int64_t rr_current; /* smooth weighted round robin */
    bool rr_live;       /* in the live set of the last ROUND_ROBIN pick */
    bool live;          /* scratch for one selection: may be picked */
    bool eligible;      /* scratch: live and not tried */
};

struct ring_point {
    uint64_t hash;
    size_t member;
};

struct rm_upstream_pool {
    char *name;
    struct up_group *grp;
    enum rm_upstream_policy policy;
    uint64_t error_time;
    uint64_t dead_time;
    unsigned maxerrors;
    size_t n;
    struct rm_upstream *members;
    size_t *ms_order; /* MASTER_SLAVE: member indexes by priority */
    struct ring_point *ring;
    size_t nring;
    uint64_t rng;
    bool all_dead_logged;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct up_group *registry;

/* ---------------------------------------------------------------------- */
/* Hashing */

/* fmix64 - the MurmurHash3 64-bit finaliser: a bijective avalanche step */
static uint64_t
fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/*
 * upstream_hash64 - FNV-1a over the bytes, then fmix64
 *
 * Byte-wise, so the same on every platform; fixed forever, since daemons
 * sharing a sharded store must agree on it.
 */
uint64_t
upstream_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return fmix64(h);
}

/* ---------------------------------------------------------------------- */
/* Small helpers */

/* since - now - t, or 0 if t is later (callers sample the clock before
 * taking the lock, so another thread may have stored a later time) */
static uint64_t
since(uint64_t now, uint64_t t)
{
    return now > t ? now - t : 0;
}

/* fmt_secs - milliseconds as "12s" or "1.5s" */
static void
fmt_secs(char *buf, size_t size, uint64_t ms)
{
    size_t len;

    if (ms % 1000 == 0) {
        snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
        return;
    }
    snprintf(buf, size, "%" PRIu64 ".%03" PRIu64, ms / 1000, ms % 1000);
    len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0')
        buf[--len] = '\0';
    if (len + 1 < size) {
        buf[len] = 's';
        buf[len + 1] = '\0';
    }
}

/* server_text - the member's name: its text as written, or one made up */
static char *
server_text(const struct rm_server *srv)
{
    if (srv->text != NULL && srv->text[0] != '\0')
        return xstrdup(srv->text);
    if (srv->path != NULL)
        return xstrdup(srv->path);
    return xasprintf("%s:%u", srv->host ? srv->host : "", srv->port);
}

/* effective_weight - weights below 1 count as 1 */
static int64_t
effective_weight(const struct rm_upstream *up)
{
    return up->srv.weight > 0 ? (int64_t)up->srv.weight : 1;
}

/* ---------------------------------------------------------------------- */
/* Registry */

/* group_ref - find or create the group for name and take a reference */
static struct up_group *
group_ref(const char *name)
{
    struct up_group *g;

    pthread_mutex_lock(&registry_lock);
    for (g = registry; g != NULL; g = g->next)
        if (strcmp(g->name, name) == 0)
            break;
    if (g == NULL) {
        g = xcalloc(1, sizeof(*g));
        g->name = xstrdup(name);
        pthread_mutex_init(&g->lock, NULL);
        g->next = registry;
        registry = g;
    }
    g->refs++;
    pthread_mutex_unlock(&registry_lock);
    return g;
}

/* group_unref - drop a reference; the last one frees the group */
static void
group_unref(struct up_group *g)
{
    struct up_group **pp;

    pthread_mutex_lock(&registry_lock);
    if (--g->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    pthread_mutex_destroy(&g->lock);
    free(g->name);
    free(g);
}

/* state_ref - find or create the state of text in g; g->lock held */
static struct up_state *
state_ref(struct up_group *g, const char *text)
{
    struct up_state *st;

    for (st = g->states; st != NULL; st = st->next)
        if (strcmp(st->text, text) == 0)
            break;
    if (st == NULL) {
        st = xcalloc(1, sizeof(*st));
        st->text = xstrdup(text);
        st->next = g->states;
        g->states = st;
    }
    st->refs++;
    return st;
}

/* state_unref - drop a reference; the last one frees it; g->lock held */
static void
state_unref(struct up_group *g, struct up_state *st)
{
    struct up_state **pp;

    if (--st->refs > 0)
        return;
    for (pp = &g->states; *pp != NULL; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    free(st->err_t);
    free(st->text);
    free(st);
}

/* ---------------------------------------------------------------------- */
/* Pool construction */

static int
ring_cmp(const void *a, const void *b, void *arg)
{
    const struct ring_point *pa = a, *pb = b;
    const struct rm_upstream *members = arg;
    int c;

    if (pa->hash != pb->hash)
        return pa->hash < pb->hash ? -1 : 1;
    c = strcmp(members[pa->member].st->text, members[pb->member].st->text);
    if (c != 0)
        return c;
    return pa->member < pb->member ? -1 : pa->member > pb->member;
}

/*
 * ring_build - RM_UPSTREAM_VNODES points per member from its text only
 *
 * Point j of a member is fmix64(hash(text) + (j + 1) * golden ratio):
 * distinct for distinct j since fmix64 is a bijection.
 */
static void
ring_build(struct rm_upstream_pool *pool)
{
    size_t i, j, k = 0;
    uint64_t base;

    pool->nring = pool->n * RM_UPSTREAM_VNODES;
    pool->ring = xcalloc(pool->nring, sizeof(*pool->ring));
    for (i = 0; i < pool->n; i++) {
        const char *text = pool->members[i].st->text;

        base = upstream_hash64(text, strlen(text));
        for (j = 0; j < RM_UPSTREAM_VNODES; j++) {
            pool->ring[k].hash =
                fmix64(base + (uint64_t)(j + 1) * UINT64_C(0x9e3779b97f4a7c15));
            pool->ring[k].member = i;
            k++;
        }
    }
    qsort_r(pool->ring, pool->nring, sizeof(*pool->ring), ring_cmp,
            pool->members);
}

/* ms_order_build - member indexes by weight, highest first, stable */
static void
ms_order_build(struct rm_upstream_pool *pool)
{
    size_t i, j, t;

    pool->ms_order = xcalloc(pool->n ? pool->n : 1, sizeof(size_t));
    for (i = 0; i < pool->n; i++)
        pool->ms_order[i] = i;
    /* Insertion sort: stable, and lists are short. */
    for (i = 1; i < pool->n; i++) {
        t = pool->ms_order[i];
        for (j = i; j > 0 && pool->members[pool->ms_order[j - 1]].srv.weight <
                                 pool->members[t].srv.weight;
             j--)
            pool->ms_order[j] = pool->ms_order[j - 1];
        pool->ms_order[j] = t;
    }
}

static uint64_t
rng_seed(const struct rm_upstream_pool *pool)
{
    struct timespec ts;
    uint64_t s;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
        ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)pool;
    s = fmix64(s);
    return s ? s : 1;
}

struct rm_upstream_pool *
upstream_pool_new(const char *name, const struct rm_servers *servers,
                  enum rm_upstream_policy policy, uint64_t error_time_ms,
                  unsigned maxerrors, uint64_t dead_time_ms)
{
    struct rm_upstream_pool *pool = xcalloc(1, sizeof(*pool));
    size_t i;

    pool->name = xstrdup(name ? name : "");
    pool->policy = policy;
    pool->error_time = error_time_ms;
    pool->maxerrors = maxerrors;
    pool->dead_time = dead_time_ms;
    pool->n = servers ? servers->n : 0;
    pool->members = xcalloc(pool->n ? pool->n : 1, sizeof(*pool->members));
    for (i = 0; i < pool->n; i++)
        pool->members[i].rr_live = true;
    pool->rng = rng_seed(pool);
    pool->grp = group_ref(pool->name);

    pthread_mutex_lock(&pool->grp->lock);
    for (i = 0; i < pool->n; i++) {
        const struct rm_server *s = &servers->v[i];
        struct rm_upstream *up = &pool->members[i];
        char *text = server_text(s);

        up->pool = pool;
        up->index = i;
        up->srv.host = s->host ? xstrdup(s->host) : NULL;
        up->srv.path = s->path ? xstrdup(s->path) : NULL;
        up->srv.port = s->port;
        up->srv.weight = s->weight;
        up->srv.rspamd = s->rspamd;
        up->srv.text = text;
        up->st = state_ref(pool->grp, text);
    }
    pthread_mutex_unlock(&pool->grp->lock);

    ms_order_build(pool);
    if (policy == RM_UPSTREAM_HASHED)
        ring_build(pool);
    upstream__registry_add(pool);
    return pool;
}

void
upstream_pool_free(struct rm_upstream_pool *pool)
{
    size_t i;

    if (pool == NULL)
        return;
    upstream__registry_del(pool);
    pthread_mutex_lock(&pool->grp->lock);
    for (i = 0; i < pool->n; i++)
        state_unref(pool->grp, pool->members[i].st);
    pthread_mutex_unlock(&pool->grp->lock);
    group_unref(pool->grp);
    for (i = 0; i < pool->n; i++) {
        free(pool->members[i].srv.host);
        free(pool->members[i].srv.path);
        free(pool->members[i].srv.text);
    }
    free(pool->members);
    free(pool->ms_order);
    free(pool->ring);
    free(pool->name);
    free(pool);
}

const char *
upstream_pool_name(const struct rm_upstream_pool *pool)
{
    return pool->name;
}

size_t
upstream_pool_size(const struct rm_upstream_pool *pool)
{
    return pool->n;
}

enum rm_upstream_policy
upstream_pool_policy(const struct rm_upstream_pool *pool)
{
    return pool->policy;
}

struct rm_upstream *
upstream_pool_member(struct rm_upstream_pool *pool, size_t i)
{
    return i < pool->n ? &pool->members[i] : NULL;
}

/* ---------------------------------------------------------------------- */
/* State transitions (group lock held) */

/* state_revive - mark a dead member alive and say so */
static void
state_revive(struct rm_upstream *up)
{
    up->st->dead = false;
    up->st->err_n = 0;
    msg_notice("upstream %s: %s is alive again", up->pool->name, up->st->text);
}

/* state_window - drop error times that fell out of the window at now */
static void
state_window(struct up_state *st, uint64_t error_time, uint64_t now)
{
    unsigned drop = 0;

    if (error_time == 0)
        return;
    while (drop < st->err_n && since(now, st->err_t[drop]) >= error_time)
        drop++;
    if (drop > 0) {
        memmove(st->err_t, st->err_t + drop,
                (st->err_n - drop) * sizeof(*st->err_t));
        st->err_n -= drop;
    }
}

/* state_fail - count one error; mark dead when the window is full */
static void
state_fail(struct rm_upstream *up, uint64_t now, const char *reason)
{
    struct rm_upstream_pool *pool = up->pool;
    struct up_state *st = up->st;
    unsigned keep = pool->maxerrors ? pool->maxerrors : 1;
    char span[32];
    unsigned n;

    st->fails++;
    if (st->dead)
        return;
    if (st->err_cap < keep) {
        st->err_t = xrealloc(st->err_t, keep * sizeof(*st->err_t));
        st->err_cap = keep;
    }
    state_window(st, pool->error_time, now);
    if (st->err_n >= keep) {
        /* Keep only the newest keep - 1 to make room. */
        memmove(st->err_t, st->err_t + (st->err_n - keep + 1),
                (keep - 1) * sizeof(*st->err_t));
        st->err_n = keep - 1;
    }
    st->err_t[st->err_n++] = now;
    if (pool->maxerrors == 0 || st->err_n < pool->maxerrors)
        return;

    n = st->err_n;
    fmt_secs(span, sizeof(span), since(now, st->err_t[0]));
    st->dead = true;
    st->dead_until = now + pool->dead_time;
    st->deaths++;
    st->err_n = 0;
    msg_warn("upstream %s: %s marked dead after %u errors in %s: %s",
             pool->name, st->text, n, span,
             reason && reason[0] ? reason : "unknown error");
}

/* pool_refresh - revive members whose dead_time passed; count live ones */
static size_t
pool_refresh(struct rm_upstream_pool *pool, uint64_t now)
{
    size_t i, live = 0;

    for (i = 0; i < pool->n; i++) {
        struct rm_upstream *up = &pool->members[i];

        if (up->st->dead && now >= up->st->dead_until)
            state_revive(up);
        if (!up->st->dead)
            live++;
    }
    return live;
}

/* ---------------------------------------------------------------------- */
/* Selection (group lock held) */

static bool
was_tried(const struct rm_upstream *up, struct rm_upstream *const *tried,
          size_t ntried)
{
    size_t i;

    for (i = 0; i < ntried; i++)
        if (tried[i] == up)
            return true;
    return false;
}

/* xorshift64* - the per-pool generator for RANDOM */
static uint64_t
pool_rand(struct rm_upstream_pool *pool)
{
    uint64_t x = pool->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pool->rng = x;
    return x * UINT64_C(0x2545f4914f6cdd1d);
}

static struct rm_upstream *
pick_random(struct rm_upstream_pool *pool, size_t neligible)
{
    size_t i, r = (size_t)(pool_rand(pool) % neligible);

    for (i = 0; i < pool->n; i++)
        if (pool->members[i].eligible && r-- == 0)
            return &pool->members[i];
    return NULL;
}

/*
 * pick_round_robin - smooth weighted round robin (nginx)
 *
 * Each eligible member's current weight grows by its weight; the largest
 * is picked and loses the total. From all-zero currents and a stable set,
 * every run of sum(weights) picks holds each member exactly weight times.
 * When the live set changes (a death, a revival) the currents restart from
 * zero so that this holds again at once. Retries (tried members left out)
 * do not count as a change, or every first attempt would go to the same
 * member.
 */
static struct rm_upstream *
pick_round_robin(struct rm_upstream_pool *pool)
{
    struct rm_upstream *best = NULL;
    int64_t total = 0;
    bool changed = false;
    size_t i;

    for (i = 0; i < pool->n; i++)
        if (pool->members[i].live != pool->members[i].rr_live)
            changed = true;
    for (i = 0; changed && i < pool->n; i++) {
        pool->members[i].rr_live = pool->members[i].live;
        pool->members[i].rr_current = 0;
    }
    for (i = 0; i < pool->n; i++) {
        struct rm_upstream *up = &pool->members[i];

        if (!up->eligible)
            continue;
        up->rr_current += effective_weight(up);
        total += effective_weight(up);
        if (best == NULL || up->rr_current > best->rr_current)
            best = up;
    }
    if (best != NULL)
        best->rr_current -= total;
    return best;
}

static struct rm_upstream *
pick_master_slave(struct rm_upstream_pool *pool)
{
    size_t i;

    for (i = 0; i < pool->n; i++)
        if (pool->members[pool->ms_order[i]].eligible)
            return &pool->members[pool->ms_order[i]];
    return NULL;
}

/* pick_hashed - the first eligible member clockwise from the key's hash */
static struct rm_upstream *
pick_hashed(struct rm_upstream_pool *pool, const char *key, size_t keylen)
{
    uint64_t h = upstream_hash64(key ? key : "", key ? keylen : 0);
    size_t lo = 0, hi = pool->nring, i;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (pool->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (i = 0; i < pool->nring; i++) {
        const struct ring_point *p = &pool->ring[(lo + i) % pool->nring];

        if (pool->members[p->member].eligible)
            return &pool->members[p->member];
    }
    return NULL;
}

/* select_locked - mark the eligible members and apply the policy */
static struct rm_upstream *
select_locked(struct rm_upstream_pool *pool, const char *key, size_t keylen,
              uint64_t now, struct rm_upstream *const *tried, size_t ntried)
{
    size_t i, live, neligible = 0;
    bool all_dead;

    live = pool_refresh(pool, now);
    all_dead = live == 0;
    if (!all_dead) {
        pool->all_dead_logged = false;
    } else if (!pool->all_dead_logged) {
        pool->all_dead_logged = true;
        msg_warn("upstream %s: all %zu members are dead, trying all",
                 pool->name, pool->n);
    }
    for (i = 0; i < pool->n; i++) {
        struct rm_upstream *up = &pool->members[i];

        up->live = all_dead || !up->st->dead;
        up->eligible = up->live && !was_tried(up, tried, ntried);
        if (up->eligible)
            neligible++;
    }
    if (neligible == 0)
        return NULL;

    switch (pool->policy) {
    case RM_UPSTREAM_ROUND_ROBIN:
        return pick_round_robin(pool);
    case RM_UPSTREAM_HASHED:
        return pick_hashed(pool, key, keylen);
    case RM_UPSTREAM_MASTER_SLAVE:
        return pick_master_slave(pool);
    case RM_UPSTREAM_RANDOM:
    default:
        return pick_random(pool, neligible);
    }
}

struct rm_upstream *
upstream_get_next(struct rm_upstream_pool *pool, const char *key, size_t keylen,
                  uint64_t now_ms, struct rm_upstream *const *tried,
                  size_t ntried)
{
    struct rm_upstream *up;

    if (pool == NULL || pool->n == 0)
        return NULL;
    pthread_mutex_lock(&pool->grp->lock);
    up = select_locked(pool, key, keylen, now_ms, tried, ntried);
    pthread_mutex_unlock(&pool->grp->lock);
    return up;
}

struct rm_upstream *
upstream_get(struct rm_upstream_pool *pool, const char *key, size_t keylen,
             uint64_t now_ms)
{
    return upstream_get_next(pool, key, keylen, now_ms, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* Reporting results */

void
upstream_ok(struct rm_upstream *up, uint64_t now_ms)
{
    (void)now_ms;
    pthread_mutex_lock(&up->pool->grp->lock);
    up->st->oks++;
    up->st->err_n = 0;
    if (up->st->dead)
        state_revive(up);
    pthread_mutex_unlock(&up->pool->grp->lock);
}

void
upstream_fail(struct rm_upstream *up, uint64_t now_ms, const char *reason)
{
    pthread_mutex_lock(&up->pool->grp->lock);
    state_fail(up, now_ms, reason);
    pthread_mutex_unlock(&up->pool->grp->lock);
}

/* ---------------------------------------------------------------------- */
/* Accessors */

const struct rm_server *
upstream_server(const struct rm_upstream *up)
{
    return &up->srv;
}

const char *
upstream_name(const struct rm_upstream *up)
{
    return up->srv.text;
}

struct rm_upstream_pool *
upstream_pool_of(const struct rm_upstream *up)
{
    return up->pool;
}

void
upstream_stats(const struct rm_upstream *up, uint64_t now_ms,
               struct rm_upstream_stats *out)
{
    const struct rm_upstream_pool *pool = up->pool;
    const struct up_state *st = up->st;
    unsigned i;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&pool->grp->lock);
    out->alive = !st->dead || now_ms >= st->dead_until;
    out->dead_until_ms = st->dead ? st->dead_until : 0;
    for (i = 0; i < st->err_n; i++)
        if (pool->error_time == 0 ||
            since(now_ms, st->err_t[i]) < pool->error_time)
            out->errors++;
    out->oks_total = st->oks;
    out->fails_total = st->fails;
    out->deaths_total = st->deaths;
    pthread_mutex_unlock(&pool->grp->lock);
}

bool
upstream_is_alive(const struct rm_upstream *up, uint64_t now_ms)
{
    struct rm_upstream_stats s;

    upstream_stats(up, now_ms, &s);
    return s.alive;
}

uint64_t
upstream_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *const policy_names[] = {
    [RM_UPSTREAM_RANDOM] = "random",
    [RM_UPSTREAM_ROUND_ROBIN] = "round-robin",
    [RM_UPSTREAM_HASHED] = "hashed",
    [RM_UPSTREAM_MASTER_SLAVE] = "master-slave",
};

const char *
upstream_policy_name(enum rm_upstream_policy policy)
{
    if ((size_t)policy < sizeof(policy_names) / sizeof(policy_names[0]))
        return policy_names[policy];
    return "unknown";
}

int
upstream_policy_parse(const char *text, enum rm_upstream_policy *out)
{
    static const struct {
        const char *name;
        enum rm_upstream_policy policy;
    } names[] = {
        {"random", RM_UPSTREAM_RANDOM},
        {"round-robin", RM_UPSTREAM_ROUND_ROBIN},
        {"round_robin", RM_UPSTREAM_ROUND_ROBIN},
        {"hashed", RM_UPSTREAM_HASHED},
        {"hash", RM_UPSTREAM_HASHED},
        {"master-slave", RM_UPSTREAM_MASTER_SLAVE},
        {"master_slave", RM_UPSTREAM_MASTER_SLAVE},
    };
    size_t i;

    for (i = 0; text != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].policy;
            return 0;
        }
    return -EINVAL;
}
