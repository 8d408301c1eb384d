/*
 * NAME
 *   store_mem - the embedded key/value store: an in-process hash table with
 *   expiring entries and a byte cap
 *
 * DESCRIPTION
 *   The default backend when rmilter.conf has no redis { } section, so that
 *   a single MTA needs no server for greylisting and limits.
 *
 *   Layout: a chained hash table (power-of-two slots, doubled when the load
 *   passes 3/4, never shrunk) keyed by SipHash-2-4 with a per-table random
 *   key, so that senders cannot pile their keys into one chain; and a
 *   doubly-linked LRU list through the same entries.
 *
 *   Expiry: an entry with a TTL expires when clock() >= its deadline. It is
 *   dropped lazily when an operation meets it, and by an incremental sweep:
 *   every operation also scans the next SWEEP_SLOTS slots of the table for
 *   expired entries, so an idle key space empties within
 *   nslots / SWEEP_SLOTS operations.
 *
 *   Memory: every entry is charged store_mem_entry_cost(key, value) bytes
 *   (the entry header, key and value with their NULs, and two allocator
 *   headers), and the slot array is charged too. When the total would
 *   exceed the cap, entries are evicted least recently used first: get
 *   (hit), set, set_nx (created or found) and every bucket operation make
 *   an entry the most recently used (a del or a refused set does not
 *   count). Eviction goes by use only, not by how long an entry has left
 *   to live. An entry that alone exceeds the cap is refused with -ENOSPC
 *   (impossible with the key and value limits and RM_STORE_MEM_MIN_CAP).
 *
 *   Invariants (under the table lock): every entry is in exactly one chain
 *   and in the LRU list once; bytes == slot array + sum of entry costs;
 *   after each operation bytes <= cap.
 *
 *   Ownership: a handle (struct mem_store) references a table. Private
 *   tables (store_mem_new) die with their handle; the process-wide table
 *   (store_mem_shared) is reference-counted and dies with its last handle.
 *   Values returned by get are copied into the caller's buffer.
 *
 *   Thread-safety: one mutex per table guards everything; every operation
 *   is O(1) expected plus the bounded sweep, and does no I/O under the
 *   lock. The shared-table pointer is guarded by its own mutex.
 *
 * SEE ALSO
 *   store.h, store_bucket.c
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/xmalloc.h"
#include "store/store.h"

#define INITIAL_SLOTS 256
#define SWEEP_SLOTS 4
#define ALLOC_OVERHEAD 16 /* charged per malloc'd block */

struct mem_entry {
    struct mem_entry *hnext;       /* hash chain */
    struct mem_entry *prev, *next; /* LRU: head = least recently used */
    uint64_t hash;
    uint64_t expires; /* store clock ms; 0 = never */
    char *val;
    size_t vlen;
    size_t klen;
    char key[]; /* klen + 1 bytes */
};

struct mem_table {
    pthread_mutex_t lock;
    struct mem_entry **slots;
    size_t nslots; /* a power of two */
    size_t count;
    size_t bytes;
    size_t cap;
    size_t sweep; /* next slot the sweep looks at */
    struct mem_entry *head, *tail;
    uint64_t sipkey[2];
    rm_clock_fn clock;
    void *clock_arg;
    uint64_t evicted, expired;
    unsigned refs;
    bool shared;
};

struct mem_store {
    struct rm_store base;
    struct mem_table *t;
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_table *shared_table;

/* ---- hashing ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
    do {                                                                       \
        v0 += v1;                                                              \
        v1 = ROTL(v1, 13);                                                     \
        v1 ^= v0;                                                              \
        v0 = ROTL(v0, 32);                                                     \
        v2 += v3;                                                              \
        v3 = ROTL(v3, 16);                                                     \
        v3 ^= v2;                                                              \
        v0 += v3;                                                              \
        v3 = ROTL(v3, 21);                                                     \
        v3 ^= v0;                                                              \
        v2 += v1;                                                              \
        v1 = ROTL(v1, 17);                                                     \
        v1 ^= v2;                                                              \
        v2 = ROTL(v2, 32);                                                     \
    } while (0)

/* siphash - SipHash-2-4 of s[0..n) under key k (Aumasson & Bernstein) */
static uint64_t
siphash(const uint64_t k[2], const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t v0 = 0x736f6d6570736575ull ^ k[0];
    uint64_t v1 = 0x646f72616e646f6dull ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ k[0];
    uint64_t v3 = 0x7465646279746573ull ^ k[1];
    uint64_t b = (uint64_t)n << 56, m;
    size_t i, left = n & 7;

    for (; n >= 8; n -= 8, p += 8) {
        m = 0;
        for (i = 0; i < 8; i++)
            m |= (uint64_t)p[i] << (8 * i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < left; i++)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- table internals (all called with t->lock held) ---- */

size_t
store_mem_entry_cost(size_t key_len, size_t val_len)
{
    return sizeof(struct mem_entry) + key_len + 1 + val_len + 1 +
           2 * ALLOC_OVERHEAD;
}

/* entry_cost - what e is charged */
static size_t
entry_cost(const struct mem_entry *e)
{
    return store_mem_entry_cost(e->klen, e->vlen);
}

/* lru_unlink - take e out of the LRU list */
static void
lru_unlink(struct mem_table *t, struct mem_entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

/* lru_append - make e the most recently used */
static void
lru_append(struct mem_table *t, struct mem_entry *e)
{
    e->prev = t->tail;
    e->next = NULL;
    if (t->tail != NULL)
        t->tail->next = e;
    else
        t->head = e;
    t->tail = e;
}

/* touch - e was used: move it to the tail */
static void
touch(struct mem_table *t, struct mem_entry *e)
{
    if (t->tail != e) {
        lru_unlink(t, e);
        lru_append(t, e);
    }
}

/* entry_remove - unlink e from its chain and the LRU list, free it */
static void
entry_remove(struct mem_table *t, struct mem_entry *e)
{
    struct mem_entry **pp = &t->slots[e->hash & (t->nslots - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(t, e);
    t->count--;
    t->bytes -= entry_cost(e);
    free(e->val);
    free(e);
}

static bool
expired(const struct mem_entry *e, uint64_t now)
{
    return e->expires != 0 && now >= e->expires;
}

/* sweep_step - drop expired entries from the next SWEEP_SLOTS slots */
static void
sweep_step(struct mem_table *t, uint64_t now)
{
    struct mem_entry *e, *next;
    size_t i;

    for (i = 0; i < SWEEP_SLOTS; i++) {
        t->sweep = (t->sweep + 1) & (t->nslots - 1);
        for (e = t->slots[t->sweep]; e != NULL; e = next) {
            next = e->hnext;
            if (expired(e, now)) {
                entry_remove(t, e);
                t->expired++;
            }
        }
    }
}

/* lookup - the live entry for key, or NULL; an expired one is dropped */
static struct mem_entry *
lookup(struct mem_table *t, const char *key, size_t klen, uint64_t h,
       uint64_t now)
{
    struct mem_entry *e;

    for (e = t->slots[h & (t->nslots - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            break;
    }
    if (e != NULL && expired(e, now)) {
        entry_remove(t, e);
        t->expired++;
        e = NULL;
    }
    return e;
}

/* make_room - evict least recently used entries other than keep until
 * bytes <= cap; -ENOSPC if keep alone does not fit */
static int
make_room(struct mem_table *t, const struct mem_entry *keep)
{
    struct mem_entry *e;

    while (t->bytes > t->cap) {
        e = t->head;
        if (e != NULL && e == keep)
            e = e->next;
        if (e == NULL)
            return -ENOSPC;
        entry_remove(t, e);
        t->evicted++;
    }
    return 0;
}

/* grow - double the slot array when the load passes 3/4 */
static void
grow(struct mem_table *t)
{
    size_t n = t->nslots * 2, i;
    struct mem_entry **slots, *e, *next;

    if (t->count * 4 <= t->nslots * 3)
        return;
    slots = xcalloc(n, sizeof(*slots));
    for (i = 0; i < t->nslots; i++) {
        for (e = t->slots[i]; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    free(t->slots);
    t->bytes += (n - t->nslots) * sizeof(*slots);
    t->slots = slots;
    t->nslots = n;
    t->sweep &= n - 1;
}

static uint64_t
deadline(uint64_t now, uint64_t ttl_ms)
{
    return ttl_ms == 0 ? 0 : now + ttl_ms;
}

/* entry_set_val - replace e's value and deadline, keeping the accounts */
static int
entry_set_val(struct mem_table *t, struct mem_entry *e, const char *val,
              uint64_t expires)
{
    size_t vlen = strlen(val);

    t->bytes -= entry_cost(e);
    free(e->val);
    e->val = xstrndup(val, vlen);
    e->vlen = vlen;
    e->expires = expires;
    t->bytes += entry_cost(e);
    touch(t, e);
    return make_room(t, e);
}

/* insert - add a new entry (key known absent); -ENOSPC if it cannot fit */
static int
insert(struct mem_table *t, const char *key, size_t klen, uint64_t h,
       const char *val, uint64_t expires)
{
    struct mem_entry *e = xmalloc(sizeof(*e) + klen + 1);
    size_t slot;
    int rc;

    memcpy(e->key, key, klen + 1);
    e->klen = klen;
    e->hash = h;
    e->vlen = strlen(val);
    e->val = xstrndup(val, e->vlen);
    e->expires = expires;
    slot = h & (t->nslots - 1);
    e->hnext = t->slots[slot];
    t->slots[slot] = e;
    lru_append(t, e);
    t->count++;
    t->bytes += entry_cost(e);
    if ((rc = make_room(t, e)) < 0) {
        entry_remove(t, e);
        return rc;
    }
    grow(t);
    /* growing charged the larger slot array: evict to pay for it */
    return make_room(t, e);
}

/* ---- operations ---- */

/* begin - lock, sweep a little, and return the store clock's now */
static uint64_t
begin(struct mem_table *t)
{
    uint64_t now = t->clock(t->clock_arg);

    pthread_mutex_lock(&t->lock);
    sweep_step(t, now);
    return now;
}

static struct mem_table *
table_of(struct rm_store *st)
{
    return ((struct mem_store *)st)->t;
}

static int
mem_get(struct rm_store *st, const char *key, char *val, size_t len,
        struct rm_store_err *err)
{
    struct mem_table *t = table_of(st);
    size_t klen = strlen(key);
    uint64_t h = siphash(t->sipkey, key, klen);
    uint64_t now = begin(t);
    struct mem_entry *e;
    int rc = -ENOENT;

    if ((e = lookup(t, key, klen, h, now)) == NULL)
        goto out;
    touch(t, e);
    if (e->vlen >= len) {
        store_err_set(err, "memory: value of %zu bytes for a %zu-byte buffer",
                      e->vlen, len);
        rc = -EMSGSIZE;
        goto out;
    }
    memcpy(val, e->val, e->vlen + 1);
    rc = 0;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* mem_put - set (nx = false) or set-if-absent (nx = true) */
static int
mem_put(struct rm_store *st, const char *key, const char *val, uint64_t ttl_ms,
        bool nx, struct rm_store_err *err)
{
    struct mem_table *t = table_of(st);
    size_t klen = strlen(key);
    uint64_t h = siphash(t->sipkey, key, klen);
    uint64_t now = begin(t);
    struct mem_entry *e;
    int rc;

    if ((e = lookup(t, key, klen, h, now)) != NULL) {
        if (nx) {
            touch(t, e);
            rc = -EEXIST;
        } else {
            rc = entry_set_val(t, e, val, deadline(now, ttl_ms));
            if (rc < 0)
                entry_remove(t, e);
        }
    } else {
        rc = insert(t, key, klen, h, val, deadline(now, ttl_ms));
    }
    pthread_mutex_unlock(&t->lock);
    if (rc == -ENOSPC)
        store_err_set(err, "memory: an entry of %zu bytes exceeds the cap",
                      store_mem_entry_cost(klen, strlen(val)));
    return rc;
}

static int
mem_set(struct rm_store *st, const char *key, const char *val, uint64_t ttl_ms,
        struct rm_store_err *err)
{
    return mem_put(st, key, val, ttl_ms, false, err);
}

static int
mem_set_nx(struct rm_store *st, const char *key, const char *val,
           uint64_t ttl_ms, struct rm_store_err *err)
{
    return mem_put(st, key, val, ttl_ms, true, err);
}

static int
mem_del(struct rm_store *st, const char *key, struct rm_store_err *err)
{
    struct mem_table *t = table_of(st);
    size_t klen = strlen(key);
    uint64_t h = siphash(t->sipkey, key, klen);
    uint64_t now = begin(t);
    struct mem_entry *e;
    int rc = -ENOENT;

    (void)err;
    if ((e = lookup(t, key, klen, h, now)) != NULL) {
        entry_remove(t, e);
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int
mem_bucket(struct rm_store *st, const char *key,
           const struct rm_bucket_req *req, struct rm_bucket_res *res,
           struct rm_store_err *err)
{
    struct mem_table *t = table_of(st);
    size_t klen = strlen(key);
    uint64_t h = siphash(t->sipkey, key, klen);
    uint64_t now = begin(t);
    struct rm_bucket_state bs = {0, 0};
    char text[64];
    struct mem_entry *e;
    int rc = 0;

    if ((e = lookup(t, key, klen, h, now)) != NULL &&
        store_bucket_parse(e->val, &bs) < 0) {
        store_err_set(err, "memory: %s holds '%.40s', not a bucket", key,
                      e->val);
        rc = -EBADMSG;
        goto out;
    }
    if (!store_bucket_apply(&bs, e != NULL, req, res)) {
        if (e != NULL)
            touch(t, e);
        goto out;
    }
    if ((rc = store_bucket_format(&bs, text, sizeof(text))) < 0)
        goto out;
    if (e != NULL) {
        rc = entry_set_val(t, e, text,
                           deadline(now, store_bucket_ttl_ms(&bs, req->rate)));
        if (rc < 0)
            entry_remove(t, e);
    } else {
        rc = insert(t, key, klen, h, text,
                    deadline(now, store_bucket_ttl_ms(&bs, req->rate)));
    }
    if (rc == -ENOSPC)
        store_err_set(err, "memory: a bucket does not fit the cap");
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- tables and handles ---- */

static struct mem_table *
table_new(size_t cap, rm_clock_fn clock, void *clock_arg)
{
    struct mem_table *t = xcalloc(1, sizeof(*t));

    pthread_mutex_init(&t->lock, NULL);
    t->nslots = INITIAL_SLOTS;
    t->slots = xcalloc(t->nslots, sizeof(*t->slots));
    t->bytes = t->nslots * sizeof(*t->slots);
    t->cap = cap < RM_STORE_MEM_MIN_CAP ? RM_STORE_MEM_MIN_CAP : cap;
    t->clock = clock != NULL ? clock : rm_clock_mono;
    t->clock_arg = clock_arg;
    if (getrandom(t->sipkey, sizeof(t->sipkey), 0) != sizeof(t->sipkey)) {
        /* no entropy: a weaker key is better than no table */
        t->sipkey[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
        t->sipkey[1] = rm_clock_mono(NULL) * 0x9e3779b97f4a7c15ull;
    }
    t->refs = 1;
    return t;
}

static void
table_free(struct mem_table *t)
{
    struct mem_entry *e, *next;

    for (e = t->head; e != NULL; e = next) {
        next = e->next;
        free(e->val);
        free(e);
    }
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static void
mem_free(struct rm_store *st)
{
    struct mem_store *ms = (struct mem_store *)st;
    struct mem_table *t = ms->t;

    if (t->shared) {
        pthread_mutex_lock(&shared_lock);
        if (--t->refs == 0) {
            shared_table = NULL;
            table_free(t);
        }
        pthread_mutex_unlock(&shared_lock);
    } else {
        table_free(t);
    }
    free(ms);
}

static const struct rm_store_ops mem_ops = {
    .name = "memory",
    .get = mem_get,
    .set = mem_set,
    .set_nx = mem_set_nx,
    .del = mem_del,
    .bucket = mem_bucket,
    .free = mem_free,
};

static struct rm_store *
handle_new(struct mem_table *t)
{
    struct mem_store *ms = xcalloc(1, sizeof(*ms));

    ms->base.ops = &mem_ops;
    ms->t = t;
    return &ms->base;
}

struct rm_store *
store_mem_new(size_t cap_bytes, rm_clock_fn clock, void *clock_arg)
{
    return handle_new(table_new(cap_bytes, clock, clock_arg));
}

struct rm_store *
store_mem_shared(size_t cap_bytes)
{
    struct mem_table *t;

    pthread_mutex_lock(&shared_lock);
    if ((t = shared_table) == NULL) {
        t = shared_table = table_new(cap_bytes, NULL, NULL);
        t->shared = true;
    } else {
        t->refs++;
        pthread_mutex_lock(&t->lock);
        t->cap =
            cap_bytes < RM_STORE_MEM_MIN_CAP ? RM_STORE_MEM_MIN_CAP : cap_bytes;
        (void)make_room(t, NULL);
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&shared_lock);
    return handle_new(t);
}

int
store_mem_stats(struct rm_store *st, struct rm_store_mem_stats *out)
{
    struct mem_table *t;

    if (st == NULL || st->ops != &mem_ops)
        return -EINVAL;
    t = table_of(st);
    pthread_mutex_lock(&t->lock);
    out->entries = t->count;
    out->bytes = t->bytes;
    out->cap = t->cap;
    out->evicted = t->evicted;
    out->expired = t->expired;
    pthread_mutex_unlock(&t->lock);
    return 0;
}
