/*
 * NAME
 *   session - connection and transaction state of one milter session
 *
 * DESCRIPTION
 *   The state behind session.h: recording the client (unix-socket clients
 *   become 127.0.0.1 for real, so IP lists match them), macros (latest value
 *   per name, tagged with the command they came with so that the
 *   transaction's macros go away with the transaction), address
 *   normalisation, sender classes, the header list, and clearing a
 *   transaction so that nothing of it (recipients above all, rmilter.md
 *   12.2) leaks into the next one.
 *
 *   Invariant: when m->active is false every transaction field is zero or
 *   NULL (core__txn_clear restores that), except tag, which always holds the
 *   tag of the next (or current) message, and checks/mstate, whose arrays
 *   live as long as the session and are zeroed.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Every string is a private copy owned by the session. A session is used
 *   by one thread at a time; the only shared state is the tag generator,
 *   which is lock-free.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core_int.h"
#include "core/spool.h"
#include "lib/xmalloc.h"

uint64_t
core__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- message tags ------------------------------------------------------ */

static uint64_t tag_seed;
static atomic_ulong tag_counter;
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

static void
tag_init(void)
{
    if (getrandom(&tag_seed, sizeof(tag_seed), GRND_NONBLOCK) !=
        (ssize_t)sizeof(tag_seed))
        tag_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* splitmix64 - a bijective mix, so distinct counters give distinct tags */
static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void
core__new_tag(struct rm_msg *m)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v;
    int i;

    pthread_once(&tag_once, tag_init);
    v = splitmix64(tag_seed + atomic_fetch_add(&tag_counter, 1));
    for (i = 0; i < 10; i++, v >>= 4)
        m->tag[i] = hex[v & 15];
    m->tag[10] = '\0';
}

/* --- connection -------------------------------------------------------- */

/* conn_addr_clear - forget the client, keep the macros (those of CONNECT
 * arrive before the command itself) */
static void
conn_addr_clear(struct rm_session *s)
{
    free(s->hostname);
    free(s->addr_text);
    free(s->helo);
    s->hostname = s->addr_text = s->helo = NULL;
    memset(&s->addr, 0, sizeof(s->addr));
    s->has_addr = s->local = false;
    s->family = 0;
    s->port = 0;
}

void
core__conn_set(struct rm_session *s, const char *hostname, int family,
               uint16_t port, const char *addr)
{
    conn_addr_clear(s);
    reply_clear(&s->conn_final);
    s->conn_decided = false;
    s->family = family;
    s->port = port;
    if (family == AF_UNIX) {
        /* A unix-socket client is a local one: it is 127.0.0.1 for
         * every IP list, not only in the logs (rmilter.md 12.19). */
        s->local = true;
        s->has_addr = true;
        s->addr.family = AF_INET;
        memcpy(s->addr.a, "\x7f\x00\x00\x01", 4);
        s->addr_text = xstrdup("127.0.0.1");
    } else if ((family == AF_INET || family == AF_INET6) && addr != NULL) {
        s->has_addr = ipaddr_parse(addr, &s->addr) == 0;
        s->addr_text = xstrdup(addr);
    } else {
        s->addr_text = xstrdup("");
    }
    if (hostname != NULL && *hostname != '\0')
        s->hostname = xstrdup(hostname);
    else
        s->hostname = xstrdup(s->local ? "localhost" : "unknown");
}

void
core__conn_clear(struct rm_session *s)
{
    size_t i;

    conn_addr_clear(s);
    for (i = 0; i < s->n_macros; i++) {
        free(s->macros[i].name);
        free(s->macros[i].value);
    }
    s->n_macros = 0;
    reply_clear(&s->conn_final);
    s->conn_decided = false;
}

/* --- macros ------------------------------------------------------------ */

void
core__macro_set(struct rm_session *s, char cmd, const char *name,
                const char *value)
{
    struct rm_macro *mc;
    size_t i;

    for (i = 0; i < s->n_macros; i++) {
        mc = &s->macros[i];
        if (strcmp(mc->name, name) == 0) {
            free(mc->value);
            mc->value = xstrdup(value ? value : "");
            mc->cmd = cmd;
            return;
        }
    }
    if (s->n_macros == s->macros_cap) {
        s->macros_cap = s->macros_cap ? 2 * s->macros_cap : 16;
        s->macros = xrealloc(s->macros, s->macros_cap * sizeof(*s->macros));
    }
    mc = &s->macros[s->n_macros++];
    mc->cmd = cmd;
    mc->name = xstrdup(name);
    mc->value = xstrdup(value ? value : "");
}

void
core__macros_drop_txn(struct rm_session *s)
{
    size_t i, j = 0;

    for (i = 0; i < s->n_macros; i++) {
        if (s->macros[i].cmd == 'C' || s->macros[i].cmd == 'H') {
            s->macros[j++] = s->macros[i];
        } else {
            free(s->macros[i].name);
            free(s->macros[i].value);
        }
    }
    s->n_macros = j;
}

static const char *
macro_find(const struct rm_session *s, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < s->n_macros; i++)
        if (strlen(s->macros[i].name) == len &&
            memcmp(s->macros[i].name, name, len) == 0)
            return s->macros[i].value;
    return NULL;
}

const char *
msg_macro(const struct rm_msg *m, const char *name)
{
    const struct rm_session *s = m->sess;
    size_t len = strlen(name);
    const char *v;
    char alt[128];

    v = macro_find(s, name, len);
    if (v != NULL || len + 3 > sizeof(alt))
        return v;
    if (len >= 2 && name[0] == '{' && name[len - 1] == '}')
        return macro_find(s, name + 1, len - 2);
    alt[0] = '{';
    memcpy(alt + 1, name, len);
    alt[len + 1] = '}';
    return macro_find(s, alt, len + 2);
}

const char *
msg_qid(const struct rm_msg *m)
{
    const char *q = msg_macro(m, "i");

    return q && *q ? q : "NOQUEUE";
}

const char *
msg_client_host(const struct rm_msg *m)
{
    return m->sess->hostname ? m->sess->hostname : "unknown";
}

const char *
msg_client_ip(const struct rm_msg *m)
{
    return m->sess->addr_text ? m->sess->addr_text : "";
}

const char *
msg_header(const struct rm_msg *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            return m->hdrs[i].value;
    return NULL;
}

/* --- addresses and sender classes -------------------------------------- */

char *
core__addr_normalize(const char *raw)
{
    const char *b, *e, *colon;
    char *out, *at, *p;

    if (raw == NULL)
        return xstrdup("");
    b = raw;
    while (*b == ' ' || *b == '\t')
        b++;
    e = b + strlen(b);
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (b < e && *b == '<') {
        b++;
        if (e > b && e[-1] == '>')
            e--;
    }
    /* A source route, "@a,@b:user@domain", names relays, not the mailbox. */
    if (b < e && *b == '@') {
        colon = memchr(b, ':', (size_t)(e - b));
        if (colon != NULL)
            b = colon + 1;
    }
    out = xstrndup(b, (size_t)(e - b));
    at = strrchr(out, '@');
    if (at != NULL)
        for (p = at + 1; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return out;
}

void
core__sender_class(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;
    const struct rm_config *cfg = s->cfg;
    const char *login = msg_macro(m, "{auth_authen}");

    free(m->user);
    m->user = NULL;
    if (login != NULL && *login != '\0') {
        m->sender_class = RM_SENDER_AUTH;
        m->user = xstrdup(login);
    } else if (s->local) {
        m->sender_class = RM_SENDER_LOCAL;
    } else if (s->has_addr && cfg->global.our_networks != NULL &&
               iplist_match(cfg->global.our_networks, &s->addr)) {
        m->sender_class = RM_SENDER_NETWORK;
    } else {
        m->sender_class = RM_SENDER_REMOTE;
    }
    m->authenticated = m->sender_class != RM_SENDER_REMOTE;
    m->exempt = m->authenticated && !cfg->global.strict_auth;
}

/* --- headers and transaction ------------------------------------------- */

void
core__header_add(struct rm_msg *m, const char *name, const char *value,
                 const char *raw)
{
    struct rm_header *h;
    const char *b, *e;

    if (m->n_hdrs == m->hdrs_cap) {
        m->hdrs_cap = m->hdrs_cap ? 2 * m->hdrs_cap : 32;
        m->hdrs = xrealloc(m->hdrs, m->hdrs_cap * sizeof(*m->hdrs));
    }
    h = &m->hdrs[m->n_hdrs++];
    h->name = xstrdup(name ? name : "");
    h->value = xstrdup(value ? value : "");
    h->raw = xstrdup(raw ? raw : h->value);
    if (m->message_id == NULL && strcasecmp(h->name, "Message-Id") == 0) {
        b = h->value;
        while (*b && isspace((unsigned char)*b))
            b++;
        e = b + strlen(b);
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        m->message_id = xstrndup(b, (size_t)(e - b));
    }
}

void
core__rcpt_free(struct rm_rcpt *r)
{
    size_t i;

    free(r->raw);
    free(r->addr);
    for (i = 0; i < r->n_args; i++)
        free(r->args[i]);
    free(r->args);
    memset(r, 0, sizeof(*r));
}

void
core__txn_clear(struct rm_session *s)
{
    struct rm_msg *m = &s->msg;
    size_t i, n = s->gen ? s->gen->n : 0;

    free(m->from_raw);
    free(m->from);
    for (i = 0; i < m->n_mail_args; i++)
        free(m->mail_args[i]);
    free(m->mail_args);
    for (i = 0; i < m->n_rcpts; i++)
        core__rcpt_free(&m->rcpts[i]);
    free(m->rcpts);
    for (i = 0; i < m->n_hdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
        free(m->hdrs[i].raw);
    }
    free(m->hdrs);
    free(m->message_id);
    free(m->user);
    spool_close(m->spool);
    for (i = 0; i < n; i++)
        free(m->checks[i].note);
    if (n) {
        memset(m->checks, 0, n * sizeof(*m->checks));
        memset(m->mstate, 0, n * sizeof(*m->mstate));
    }
    reply_clear(&m->final);
    reply_clear(&m->edits);

    m->active = false;
    m->t_start = 0;
    m->from_raw = m->from = NULL;
    m->mail_args = NULL;
    m->n_mail_args = 0;
    m->rcpts = NULL;
    m->n_rcpts = m->n_rcpts_refused = m->rcpts_cap = 0;
    m->rcpt_cur = NULL;
    m->all_whitelisted = false;
    m->sender_class = RM_SENDER_REMOTE;
    m->authenticated = m->exempt = false;
    m->user = NULL;
    m->hdrs = NULL;
    m->n_hdrs = m->hdrs_cap = 0;
    m->message_id = NULL;
    m->spool = NULL;
    m->size = 0;
    m->eoh_seen = m->oversized = false;
    m->spam_action = RM_SPAM_NONE;
    m->cur_module = 0;
    m->decided = false;
    m->logged = false;
    m->spool_failed = false;
    core__macros_drop_txn(s);
}
