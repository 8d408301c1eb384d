/*
 * NAME
 *   envelope - the SMTP envelope of a stored message: sidecar, then headers
 *
 * DESCRIPTION
 *   A sidecar is a text file of "keyword value" lines ('#' starts a
 *   comment):
 *
 *     client 192.0.2.1 mx.example.net   client address [and its name]
 *     helo mx.example.net
 *     from <alice@example.net> [ESMTP args]   "<>" for the null sender
 *     rcpt <bob@example.org>                  repeat for more recipients
 *     time 2026-01-01T10:00:00Z               or an RFC 5322 date, @SECONDS
 *     auth alice                              SASL login ({auth_authen})
 *     qid 4XyZ12                              the MTA's queue id (macro i)
 *     mta mx.example.org                      the MTA's name (macro j)
 *     macro {name} value                      any other macro
 *     message 3 | message <id@host>           the lines below apply to the
 *                                             3rd message / that Message-ID
 *
 *   Lines before the first "message" line apply to every message the file
 *   covers. A message's own file X has its sidecar in X.env; the messages
 *   of an mbox M share M.env, where "message N" counts within M; the file
 *   given with --envelope covers every message, "message N" counting in
 *   replay order. A field comes from the first of: the --envelope stanza,
 *   its defaults, the own stanza, its defaults, the headers. Recipients
 *   come as a whole list from one source.
 *
 *   From the headers: the sender from Return-Path (else the From:
 *   address); the recipients from X-Original-To, else Delivered-To (the
 *   topmost), else the To: and Cc: addresses; client address, client
 *   name, HELO, queue id, MTA name, the SASL login ("Authenticated
 *   sender:") and the time from the topmost Received: line; without one,
 *   the time from Date:.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   A sidecar owns its text; rp_envelope copies what it uses, so an
 *   envelope outlives the sidecars. Invariant after rp_envelope: every
 *   string field but auth and qid is set, and there is at least one
 *   recipient. No shared state: the functions are reentrant.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"
#include "replay/replay_int.h"

struct sc_fields {
    char *client_ip, *client_host, *helo, *from, *auth, *qid, *mta;
    char **from_args;
    size_t n_from_args;
    char **rcpts;
    size_t n_rcpts;
    uint64_t time_ms;
    bool have_time;
    struct rp_macro *macros;
    size_t n_macros;
};

struct sc_stanza {
    size_t num;  /* > 0: by position */
    char *msgid; /* else by Message-ID, "<id>" */
    struct sc_fields f;
};

struct rp_sidecar {
    struct sc_fields defaults;
    struct sc_stanza *st;
    size_t n;
};

static void
strv_push(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

static void
strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
macros_free(struct rp_macro *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].value);
    }
    free(m);
}

static void
fields_free(struct sc_fields *f)
{
    free(f->client_ip);
    free(f->client_host);
    free(f->helo);
    free(f->from);
    free(f->auth);
    free(f->qid);
    free(f->mta);
    strv_free(f->from_args, f->n_from_args);
    strv_free(f->rcpts, f->n_rcpts);
    macros_free(f->macros, f->n_macros);
    memset(f, 0, sizeof(*f));
}

void
rp_sidecar_free(struct rp_sidecar *sc)
{
    size_t i;

    if (sc == NULL)
        return;
    fields_free(&sc->defaults);
    for (i = 0; i < sc->n; i++) {
        free(sc->st[i].msgid);
        fields_free(&sc->st[i].f);
    }
    free(sc->st);
    free(sc);
}

/* ------------------------------------------------------------------ */
/* sidecar files                                                      */
/* ------------------------------------------------------------------ */

/* word - the next blank-separated word of *p (advanced), or NULL */
static char *
word(const char **p)
{
    const char *s = *p, *e;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NULL;
    for (e = s; *e != '\0' && *e != ' ' && *e != '\t'; e++)
        ;
    *p = e;
    return xstrndup(s, (size_t)(e - s));
}

static void
set_str(char **dst, char *v)
{
    free(*dst);
    *dst = v;
}

/* sc_line - one line into f; 0 or -1 with why */
static int
sc_line(const char *kw, const char *rest, struct sc_fields *f, const char **why)
{
    const char *p = rest;
    char *w;

    if (strcmp(kw, "client") == 0) {
        if ((w = word(&p)) == NULL) {
            *why = "client needs an address";
            return -1;
        }
        set_str(&f->client_ip,
                xstrdup(strncasecmp(w, "IPv6:", 5) == 0 ? w + 5 : w));
        free(w);
        set_str(&f->client_host, word(&p));
        if (f->client_host == NULL)
            f->client_host = xstrdup("unknown");
    } else if (strcmp(kw, "helo") == 0) {
        set_str(&f->helo, rp_trim(rest, strlen(rest)));
    } else if (strcmp(kw, "from") == 0) {
        if ((w = word(&p)) == NULL) {
            *why = "from needs an address (<> for the null sender)";
            return -1;
        }
        set_str(&f->from, rp_addr_bracket(w));
        free(w);
        strv_free(f->from_args, f->n_from_args);
        f->from_args = NULL;
        f->n_from_args = 0;
        while ((w = word(&p)) != NULL)
            strv_push(&f->from_args, &f->n_from_args, w);
    } else if (strcmp(kw, "rcpt") == 0) {
        if ((w = word(&p)) == NULL) {
            *why = "rcpt needs an address";
            return -1;
        }
        strv_push(&f->rcpts, &f->n_rcpts, rp_addr_bracket(w));
        free(w);
    } else if (strcmp(kw, "time") == 0) {
        if (rp_parse_time(rest, &f->time_ms) < 0) {
            *why = "time: not a date (2026-01-01T10:00:00Z, an RFC 5322 "
                   "date or @SECONDS)";
            return -1;
        }
        f->have_time = true;
    } else if (strcmp(kw, "auth") == 0) {
        set_str(&f->auth, rp_trim(rest, strlen(rest)));
    } else if (strcmp(kw, "qid") == 0) {
        set_str(&f->qid, rp_trim(rest, strlen(rest)));
    } else if (strcmp(kw, "mta") == 0) {
        set_str(&f->mta, rp_trim(rest, strlen(rest)));
    } else if (strcmp(kw, "macro") == 0) {
        if ((w = word(&p)) == NULL) {
            *why = "macro needs a name";
            return -1;
        }
        f->macros = xrealloc(f->macros, (f->n_macros + 1) * sizeof(*f->macros));
        f->macros[f->n_macros].name = w;
        f->macros[f->n_macros].value = rp_trim(p, strlen(p));
        f->n_macros++;
    } else {
        *why = "unknown keyword (client, helo, from, rcpt, time, auth, qid, "
               "mta, macro, message)";
        return -1;
    }
    return 0;
}

int
rp_sidecar_load(const char *path, bool must_exist, struct rp_sidecar **out,
                struct rp_err *err)
{
    struct rp_sidecar *sc;
    struct sc_fields *cur;
    char *line = NULL, *kw, *end;
    const char *p, *why = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    FILE *f;
    int rc = 0;

    *out = NULL;
    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT && !must_exist)
            return 0;
        snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    sc = xcalloc(1, sizeof(*sc));
    cur = &sc->defaults;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        kw = word(&p);
        if (strcmp(kw, "message") == 0) {
            char *key = word(&p);
            struct sc_stanza *st;

            sc->st = xrealloc(sc->st, (sc->n + 1) * sizeof(*sc->st));
            st = &sc->st[sc->n++];
            memset(st, 0, sizeof(*st));
            if (key != NULL && key[0] == '<') {
                st->msgid = key;
            } else if (key != NULL && (st->num = strtoul(key, &end, 10)) > 0 &&
                       *end == '\0') {
                free(key);
            } else {
                free(key);
                free(kw);
                why = "message needs a number (1, 2, ...) or a <Message-ID>";
                rc = -1;
                break;
            }
            cur = &st->f;
        } else if (sc_line(kw, p, cur, &why) < 0) {
            free(kw);
            rc = -1;
            break;
        }
        free(kw);
    }
    free(line);
    fclose(f);
    if (rc < 0) {
        snprintf(err->msg, sizeof(err->msg), "%s:%zu: %s", path, lineno, why);
        rp_sidecar_free(sc);
        return -1;
    }
    *out = sc;
    return 0;
}

/* stanza - the stanza for position num or Message-ID msgid, or NULL */
static const struct sc_fields *
stanza(const struct rp_sidecar *sc, size_t num, const char *msgid)
{
    size_t i;

    for (i = 0; i < sc->n; i++) {
        if (sc->st[i].num == num && num > 0)
            return &sc->st[i].f;
        if (sc->st[i].msgid != NULL && msgid != NULL &&
            strcmp(sc->st[i].msgid, msgid) == 0)
            return &sc->st[i].f;
    }
    return NULL;
}

/* apply - copy what f sets into e; true if it set anything */
static bool
apply(struct rp_env *e, const struct sc_fields *f)
{
    bool any = false;
    size_t i, j;

    if (f == NULL)
        return false;
#define COPY(field)                                                            \
    if (f->field != NULL) {                                                    \
        set_str(&e->field, xstrdup(f->field));                                 \
        any = true;                                                            \
    }
    COPY(client_ip)
    COPY(client_host)
    COPY(helo)
    COPY(auth)
    COPY(qid)
    COPY(mta)
#undef COPY
    if (f->from != NULL) {
        set_str(&e->from, xstrdup(f->from));
        strv_free(e->from_args, e->n_from_args);
        e->from_args = NULL;
        e->n_from_args = 0;
        for (i = 0; i < f->n_from_args; i++)
            strv_push(&e->from_args, &e->n_from_args, xstrdup(f->from_args[i]));
        any = true;
    }
    if (f->n_rcpts > 0) {
        strv_free(e->rcpts, e->n_rcpts);
        e->rcpts = NULL;
        e->n_rcpts = 0;
        for (i = 0; i < f->n_rcpts; i++)
            strv_push(&e->rcpts, &e->n_rcpts, xstrdup(f->rcpts[i]));
        any = true;
    }
    if (f->have_time) {
        e->time_ms = f->time_ms;
        e->have_time = true;
        e->time_from = "sidecar";
        any = true;
    }
    for (i = 0; i < f->n_macros; i++) {
        for (j = 0; j < e->n_macros; j++)
            if (strcmp(e->macros[j].name, f->macros[i].name) == 0)
                break;
        if (j == e->n_macros) {
            e->macros =
                xrealloc(e->macros, (e->n_macros + 1) * sizeof(*e->macros));
            e->macros[j].name = xstrdup(f->macros[i].name);
            e->macros[j].value = NULL;
            e->n_macros++;
        }
        set_str(&e->macros[j].value, xstrdup(f->macros[i].value));
        any = true;
    }
    return any;
}

/* ------------------------------------------------------------------ */
/* headers                                                            */
/* ------------------------------------------------------------------ */

/* squash - a copy with every run of blanks and line ends one space */
static char *
squash(const char *s)
{
    char *out = xmalloc(strlen(s) + 1);
    size_t o = 0;
    bool blank = false;

    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            blank = o > 0;
            continue;
        }
        if (blank)
            out[o++] = ' ';
        blank = false;
        out[o++] = *s;
    }
    out[o] = '\0';
    return out;
}

/* token_after - the word following key in s (up to a blank, ';' or
 * ')'), or NULL */
static char *
token_after(const char *s, const char *key)
{
    const char *p = strstr(s, key), *e;

    if (p == NULL)
        return NULL;
    p += strlen(key);
    for (e = p; *e && *e != ' ' && *e != ';' && *e != ')' && *e != '('; e++)
        ;
    return e > p ? xstrndup(p, (size_t)(e - p)) : NULL;
}

/* received - what the topmost Received: line tells */
static void
received(const char *value, struct rp_env *e)
{
    char *r = squash(value), *clause, *semi, *by, *p, *w, *lb, *rb, *lp;

    semi = strrchr(r, ';');
    if (semi != NULL) {
        *semi = '\0';
        if (rp_parse_time(semi + 1, &e->time_ms) == 0) {
            e->have_time = true;
            e->time_from = "received";
        }
    }
    /* " by " ends the from-clause */
    by = strstr(r, " by ");
    if (by == NULL && strncmp(r, "by ", 3) == 0)
        by = r;
    if (by != NULL) {
        set_str(&e->mta, token_after(by, "by "));
        set_str(&e->qid, token_after(by, " id "));
    }
    if ((w = token_after(r, "Authenticated sender: ")) != NULL)
        set_str(&e->auth, w);
    clause = xstrndup(r, by ? (size_t)(by - r) : strlen(r));
    if (strncmp(clause, "from ", 5) == 0) {
        set_str(&e->helo, token_after(clause, "from "));
        if ((w = token_after(clause, "helo=")) != NULL)
            set_str(&e->helo, w); /* Exim: (... helo=NAME) */
        lb = strchr(clause, '[');
        rb = lb ? strchr(lb, ']') : NULL;
        if (lb != NULL && rb != NULL) {
            p = lb + 1;
            if (strncasecmp(p, "IPv6:", 5) == 0 && p + 5 <= rb)
                p += 5;
            set_str(&e->client_ip, xstrndup(p, (size_t)(rb - p)));
            /* Postfix and Sendmail: "(NAME [IP])" */
            lp = strchr(clause, '(');
            if (lp != NULL && lp < lb) {
                w = rp_trim(lp + 1, (size_t)(lb - lp - 1));
                if (*w != '\0' && strchr(w, ' ') == NULL)
                    set_str(&e->client_host, w);
                else
                    free(w);
            }
        }
    }
    free(clause);
    free(r);
}

/* first_addr - the first address of a header value: <...> or a bare
 * word with '@'; NULL if none */
static char *
first_addr(const char *v, const char **next)
{
    const char *p = v, *s, *e;
    bool quoted = false;

    /* one list element: up to a ',' outside quotes and <> */
    for (s = p; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '<' && !quoted) {
            e = strchr(p, '>');
            if (e == NULL)
                break;
            if (next != NULL) {
                const char *c = strchr(e, ',');

                *next = c ? c + 1 : e + strlen(e);
            }
            return xstrndup(p, (size_t)(e - p + 1));
        } else if (*p == ',' && !quoted)
            break;
    }
    if (next != NULL)
        *next = *p ? p + 1 : p;
    e = p;
    /* no <>: a bare address in s..e */
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if (e > s && memchr(s, '@', (size_t)(e - s)) != NULL &&
        memchr(s, ' ', (size_t)(e - s)) == NULL)
        return xasprintf("<%.*s>", (int)(e - s), s);
    return NULL;
}

/* addr_list - every address of a header value into e->rcpts */
static void
addr_list(const char *v, struct rp_env *e)
{
    const char *p = v, *next;
    char *a;

    while (p != NULL && *p) {
        a = first_addr(p, &next);
        if (a != NULL)
            strv_push(&e->rcpts, &e->n_rcpts, a);
        if (next == p)
            break;
        p = next;
    }
}

static void
from_headers(const struct rp_parsed *p, struct rp_env *e)
{
    const char *v;
    char *a;

    if ((v = rp_header(p, "Received")) != NULL)
        received(v, e);
    if ((v = rp_header(p, "Return-Path")) != NULL) {
        a = rp_trim(v, strlen(v));
        set_str(&e->from,
                strcmp(a, "<>") == 0 ? xstrdup("<>") : first_addr(a, NULL));
        free(a);
    }
    if (e->from == NULL && (v = rp_header(p, "From")) != NULL)
        e->from = first_addr(v, NULL);
    if ((v = rp_header(p, "X-Original-To")) != NULL ||
        (v = rp_header(p, "Delivered-To")) != NULL) {
        addr_list(v, e);
    } else {
        size_t i;

        for (i = 0; i < p->n_hdrs; i++)
            if (strcasecmp(p->hdrs[i].name, "To") == 0 ||
                strcasecmp(p->hdrs[i].name, "Cc") == 0)
                addr_list(p->hdrs[i].value, e);
    }
    if (!e->have_time && (v = rp_header(p, "Date")) != NULL &&
        rp_parse_time(v, &e->time_ms) == 0) {
        e->have_time = true;
        e->time_from = "date";
    }
}

int
rp_envelope(const struct rp_msg *msg, size_t n, const struct rp_parsed *p,
            const struct rp_sidecar *explicit_sc, struct rp_env *out,
            struct rp_err *err)
{
    struct rp_sidecar *own = NULL;
    const char *msgid = rp_header(p, "Message-ID");
    char *path, *id = NULL;
    bool from_sc = false;
    int rc;

    memset(out, 0, sizeof(*out));
    from_headers(p, out);
    if (msgid != NULL) {
        id = first_addr(msgid, NULL);
        if (id == NULL)
            id = rp_trim(msgid, strlen(msgid));
    }
    path = xasprintf("%s.env", msg->path ? msg->path : msg->box);
    rc = rp_sidecar_load(path, false, &own, err);
    free(path);
    if (rc < 0) {
        free(id);
        return -1;
    }
    if (own != NULL) {
        from_sc |= apply(out, &own->defaults);
        from_sc |= apply(out, stanza(own, msg->path ? 0 : msg->box_index, id));
        rp_sidecar_free(own);
    }
    if (explicit_sc != NULL) {
        from_sc |= apply(out, &explicit_sc->defaults);
        from_sc |= apply(out, stanza(explicit_sc, n, id));
    }
    free(id);

    if (out->client_ip == NULL)
        out->client_ip = xstrdup("");
    if (out->client_host == NULL)
        out->client_host = xstrdup("unknown");
    if (out->helo == NULL)
        out->helo = xstrdup(out->client_host);
    if (out->from == NULL)
        out->from = xstrdup("<>");
    if (out->n_rcpts == 0)
        strv_push(&out->rcpts, &out->n_rcpts,
                  xstrdup("<unknown-recipient@replay.invalid>"));
    if (out->mta == NULL)
        out->mta = xstrdup("localhost");
    out->env_from = from_sc ? "sidecar" : "headers";
    return 0;
}

void
rp_env_free(struct rp_env *e)
{
    free(e->client_ip);
    free(e->client_host);
    free(e->helo);
    free(e->from);
    strv_free(e->from_args, e->n_from_args);
    strv_free(e->rcpts, e->n_rcpts);
    free(e->auth);
    free(e->qid);
    free(e->mta);
    macros_free(e->macros, e->n_macros);
    memset(e, 0, sizeof(*e));
}
