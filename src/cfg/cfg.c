/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   cfg - load rmilter.conf into a config generation
 *
 * DESCRIPTION
 *   cfg_load and cfg_load_string build a struct rm_config: the defaults of
 *   every row of cfg_directives.h (cfg_value_set_default), then the
 *   statements of the file in the order written ("apply"), then the
 *   semantic checks. The parse (cfg_parse.y) gives a syntax tree per file;
 *   this file walks it:
 *
 *   - name = values; / name += values; is looked up in the table of the
 *     current section (aliases resolve) and handed to cfg_value_set.
 *     Unknown names are errors that suggest the nearest known name; NOOP
 *     directives are warned about with the reason from the row.
 *   - name { } opens a section: SINGLE sections are merged if written
 *     twice, MULTI blocks (dkim domain, karma dnslist) are appended to
 *     their array, IGNORED sections get one warning, RULE sections are
 *     built by cfg_rule.c.
 *   - .include / .try_include expand a glob (sorted), relative to the
 *     directory of the including file, and apply each file in the section
 *     the include is in. An include of a file that is already being read
 *     (same realpath) is a loop; nesting is limited to
 *     CFG_MAX_INCLUDE_DEPTH.
 *
 *   A directive written twice with '=' keeps the last value. If both are in
 *   the same file that is probably a mistake and is warned about; across
 *   files (a conf.d include overriding the main file) it is silent.
 *
 *   The generation keeps where each directive, section and block was
 *   written (c->pos, "file:line:col" strings, freed with it), so that
 *   problems found after the load, when the modules start, can name the
 *   line too (cfg_where).
 *
 *   Errors do not stop the walk (all of them are collected, up to
 *   CFG_MAX_ERRORS), but a file with a syntax error is not applied at all,
 *   so one typo does not cascade into spurious "unknown directive" errors.
 *
 * INVARIANTS
 *   - A generation is immutable after cfg_load returns and is freed by the
 *     last cfg_unref. Every field of every section always holds a valid
 *     value of its type (cfg_value.c invariants), so freeing is uniform.
 *   - No globals; loads are independent of each other.
 *
 * OWNERSHIP
 *   The struct cfg_load, the syntax trees and the interned file names live
 *   for one load only. Diagnostics are copied into struct rm_diag, which
 *   the caller frees with diag_free.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cfg/cfg_internal.h"
#include "lib/xmalloc.h"

/* --- tables generated from cfg_directives.h ------------------------------ */

#define RM_SEC_none (-1)
#define SEC_OFF_SINGLE(id) offsetof(struct rm_config, id)
#define SEC_OFF_MULTI(id) offsetof(struct rm_config, id)
#define SEC_OFF_IGNORED(id) 0
#define SEC_OFF_RULE(id) 0
#define SEC_NOFF_SINGLE(id) 0
#define SEC_NOFF_MULTI(id) offsetof(struct rm_config, n_##id)
#define SEC_NOFF_IGNORED(id) 0
#define SEC_NOFF_RULE(id) 0
#define SEC_ROW(id, name, parent, kind, doc)                                   \
    {RM_SEC_##id,                                                              \
     name,                                                                     \
     RM_SEC_##parent,                                                          \
     CFG_##kind,                                                               \
     doc,                                                                      \
     SEC_OFF_##kind(id),                                                       \
     SEC_NOFF_##kind(id),                                                      \
     sizeof(struct rm_cfg_##id)},
const struct cfg_secinfo cfg__sections[RM_SEC_COUNT] = {RM_SECTIONS(SEC_ROW)};

#define DIR_ROW(sec, name, type, field, def, min, max, aux, doc)               \
    {RM_SEC_##sec, #name, RM_T_##type, offsetof(struct rm_cfg_##sec, field),   \
     def,          min,   max,         aux,                                    \
     doc},
#define SEC_DIRS(id, name, parent, kind, doc) RM_DIRS_##id(DIR_ROW)
const struct rm_dirinfo cfg__dirs[] = {RM_SECTIONS(SEC_DIRS)};
const size_t cfg__n_dirs = sizeof(cfg__dirs) / sizeof(cfg__dirs[0]);

#define ALIAS_ROW(sec, alias, name) {RM_SEC_##sec, #alias, #name},
const struct cfg_alias cfg__aliases[] = {RM_ALIASES(ALIAS_ROW)};
const size_t cfg__n_aliases = sizeof(cfg__aliases) / sizeof(cfg__aliases[0]);

/* Where a directive was last set with '=', for the "set again" warning,
 * and where it was last written at all ('=' or '+='), for cfg_where. */
struct setpos {
    const char *file;
    int line, col;
    const char *wfile;
    int wline, wcol;
};

/* One element of a MULTI section: its block position and set positions. */
struct elem {
    const char *file;
    int line, col;
    struct setpos *set; /* [cfg__n_dirs] */
};

struct apply {
    struct setpos *single;            /* [cfg__n_dirs] */
    struct setpos open[RM_SEC_COUNT]; /* first opening of a SINGLE section */
    struct elem *elems[RM_SEC_COUNT];
    size_t n_elems[RM_SEC_COUNT];
};

/* Where apply is: the section, its struct, and include resolution. */
struct actx {
    enum rm_section sec;
    void *base;
    struct setpos *set;
    struct cfg_rule_builder *rule;
    const char *dir; /* for relative includes; NULL: the current dir */
};

static void apply_list(struct cfg_load *l, const struct actx *ctx,
                       const struct cfg_node *n);

/* --- diagnostics --------------------------------------------------------- */

void
diag_free(struct rm_diag *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    memset(d, 0, sizeof(*d));
}

void
diag_print(const struct rm_diag *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(f, "%s\n", d->lines[i]);
}

static void
diag_add(struct rm_diag *d, char *line)
{
    d->lines = xrealloc(d->lines, (d->n + 1) * sizeof(*d->lines));
    d->lines[d->n++] = line;
}

static void vreport(struct cfg_load *l, bool error, const char *file, int line,
                    int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void
vreport(struct cfg_load *l, bool error, const char *file, int line, int col,
        const char *fmt, va_list ap)
{
    char msg[512];

    if (l->stopped)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (error && l->n_errors >= CFG_MAX_ERRORS) {
        diag_add(l->diag, xasprintf("%s: error: too many errors, stopping",
                                    file ? file : "rmilter.conf"));
        l->diag->n_errors++;
        l->n_errors++;
        l->stopped = true;
        return;
    }
    if (line > 0)
        diag_add(l->diag, xasprintf("%s:%d:%d: %s: %s", file, line, col,
                                    error ? "error" : "warning", msg));
    else
        diag_add(l->diag, xasprintf("%s: %s: %s", file,
                                    error ? "error" : "warning", msg));
    if (error) {
        l->diag->n_errors++;
        l->n_errors++;
    } else
        l->diag->n_warnings++;
}

void
cfg__error(struct cfg_load *l, const char *file, int line, int col,
           const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(l, true, file, line, col, fmt, ap);
    va_end(ap);
}

void
cfg__warn(struct cfg_load *l, const char *file, int line, int col,
          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(l, false, file, line, col, fmt, ap);
    va_end(ap);
}

/* cfg__intern_file - a copy of name that lives as long as the load */
const char *
cfg__intern_file(struct cfg_load *l, const char *name)
{
    for (size_t i = 0; i < l->n_files; i++)
        if (strcmp(l->files[i], name) == 0)
            return l->files[i];
    l->files = xrealloc(l->files, (l->n_files + 1) * sizeof(*l->files));
    l->files[l->n_files] = xstrdup(name);
    return l->files[l->n_files++];
}

/* --- lookups ------------------------------------------------------------- */

bool
cfg__is_list_type(enum rm_vtype t)
{
    return t == RM_T_IPLIST || t == RM_T_SOCKETS || t == RM_T_SERVERS ||
           t == RM_T_STRLIST || t == RM_T_RCPTLIST;
}

/* cfg__find_dir - the row of sec named name (or aliased to it), or NULL */
const struct rm_dirinfo *
cfg__find_dir(enum rm_section sec, const char *name)
{
    for (size_t i = 0; i < cfg__n_dirs; i++)
        if (cfg__dirs[i].sec == sec && strcmp(cfg__dirs[i].name, name) == 0)
            return &cfg__dirs[i];
    for (size_t i = 0; i < cfg__n_aliases; i++)
        if (cfg__aliases[i].sec == sec &&
            strcmp(cfg__aliases[i].alias, name) == 0)
            return cfg__find_dir(sec, cfg__aliases[i].name);
    return NULL;
}

/* find_section - the section named name whose parent is parent, or -1 */
static int
find_section(const char *name, int parent)
{
    for (int i = 0; i < RM_SEC_COUNT; i++)
        if (cfg__sections[i].parent == parent && cfg__sections[i].name[0] &&
            strcmp(cfg__sections[i].name, name) == 0)
            return i;
    return -1;
}

/* cfg__edit_distance - Damerau-Levenshtein (optimal string alignment),
 * case-insensitive; long inputs are capped, they never get a suggestion */
size_t
cfg__edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 63 };
    size_t la = strlen(a), lb = strlen(b);
    size_t d[MAXLEN + 1][MAXLEN + 1];

    if (la > MAXLEN || lb > MAXLEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            size_t cost = ca != cb;
            size_t v = d[i - 1][j] + 1;

            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* close_enough - is a distance small enough to suggest? */
static bool
close_enough(size_t dist, const char *name)
{
    size_t len = strlen(name);

    return dist <= 2 || dist <= len / 3;
}

/* suggest_dir - the directive or alias of sec nearest to name, or NULL */
static const char *
suggest_dir(enum rm_section sec, const char *name)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX;

    for (size_t i = 0; i < cfg__n_dirs; i++) {
        size_t dd;

        if (cfg__dirs[i].sec != sec)
            continue;
        dd = cfg__edit_distance(name, cfg__dirs[i].name);
        if (dd < bestd) {
            bestd = dd;
            best = cfg__dirs[i].name;
        }
    }
    for (size_t i = 0; i < cfg__n_aliases; i++) {
        size_t dd;

        if (cfg__aliases[i].sec != sec)
            continue;
        dd = cfg__edit_distance(name, cfg__aliases[i].alias);
        if (dd < bestd) {
            bestd = dd;
            best = cfg__aliases[i].alias;
        }
    }
    return best && close_enough(bestd, name) ? best : NULL;
}

/* suggest_section - the section allowed under parent nearest to name */
static const char *
suggest_section(const char *name, int parent)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX;

    for (int i = 0; i < RM_SEC_COUNT; i++) {
        size_t dd;

        if (cfg__sections[i].parent != parent || !cfg__sections[i].name[0])
            continue;
        dd = cfg__edit_distance(name, cfg__sections[i].name);
        if (dd < bestd) {
            bestd = dd;
            best = cfg__sections[i].name;
        }
    }
    return best && close_enough(bestd, name) ? best : NULL;
}

/* where - "at top level" / "in section spamd" / "in section dkim domain" */
static void
where(enum rm_section sec, char *buf, size_t len)
{
    const struct cfg_secinfo *s = &cfg__sections[sec];

    if (s->name[0] == '\0')
        snprintf(buf, len, "at top level");
    else if (s->parent >= 0)
        snprintf(buf, len, "in section %s %s", cfg__sections[s->parent].name,
                 s->name);
    else
        snprintf(buf, len, "in section %s", s->name);
}

/* unknown_dir - the error for a name that is no directive of sec */
static void
unknown_dir(struct cfg_load *l, enum rm_section sec, const struct cfg_node *n)
{
    char w[64];
    const char *s = suggest_dir(sec, n->name);

    where(sec, w, sizeof(w));
    if (s) {
        cfg__error(l, n->file, n->line, n->col,
                   "unknown directive '%s' %s; did you mean '%s'?", n->name, w,
                   s);
        return;
    }
    /* Written in the wrong section? Name every section that has it. */
    char others[200] = "";
    size_t off = 0, found = 0;

    for (size_t i = 0; i < cfg__n_dirs && off < sizeof(others); i++) {
        const struct cfg_secinfo *o = &cfg__sections[cfg__dirs[i].sec];
        char ow[64];

        if (strcmp(cfg__dirs[i].name, n->name) != 0 || o->id == sec)
            continue;
        if (o->name[0] == '\0')
            snprintf(ow, sizeof(ow), "the top level");
        else if (o->parent >= 0)
            snprintf(ow, sizeof(ow), "%s { %s { } }",
                     cfg__sections[o->parent].name, o->name);
        else
            snprintf(ow, sizeof(ow), "%s { }", o->name);
        off += (size_t)snprintf(others + off, sizeof(others) - off, "%s%s",
                                found ? ", " : "", ow);
        found++;
    }
    if (found)
        cfg__error(l, n->file, n->line, n->col,
                   "unknown directive '%s' %s; it belongs in %s", n->name, w,
                   others);
    else
        cfg__error(l, n->file, n->line, n->col, "unknown directive '%s' %s",
                   n->name, w);
}

/* --- generations --------------------------------------------------------- */

static void *
sec_base(struct rm_config *c, enum rm_section sec)
{
    return (char *)c + cfg__sections[sec].off;
}

/* set_defaults - every row of sec into base */
static void
set_defaults(enum rm_section sec, void *base)
{
    char err[256];

    for (size_t i = 0; i < cfg__n_dirs; i++) {
        const struct rm_dirinfo *d = &cfg__dirs[i];

        if (d->sec != sec)
            continue;
        if (cfg_value_set_default(d, (char *)base + d->offset, err,
                                  sizeof(err)) < 0) {
            /* A bad default is a bug in cfg_directives.h. */
            fprintf(stderr, "rmilter: default of %s: %s\n", d->name, err);
            abort();
        }
    }
}

static void
free_fields(enum rm_section sec, void *base)
{
    for (size_t i = 0; i < cfg__n_dirs; i++)
        if (cfg__dirs[i].sec == sec)
            cfg_value_free(&cfg__dirs[i], (char *)base + cfg__dirs[i].offset);
}

static struct rm_config *
config_new(void)
{
    struct rm_config *c = xcalloc(1, sizeof(*c));

    for (int s = 0; s < RM_SEC_COUNT; s++)
        if (cfg__sections[s].kind == CFG_SINGLE)
            set_defaults(s, sec_base(c, s));
    atomic_init(&c->refs, 1);
    return c;
}

static void
config_free(struct rm_config *c)
{
    /* The pipeline's per-generation module state goes first (cfg.h). */
    if (c->modules_state && c->modules_state_free)
        c->modules_state_free(c->modules_state);
    for (int s = 0; s < RM_SEC_COUNT; s++) {
        const struct cfg_secinfo *si = &cfg__sections[s];

        if (si->kind == CFG_SINGLE) {
            free_fields(s, sec_base(c, s));
        } else if (si->kind == CFG_MULTI) {
            char *arr = *(char **)((char *)c + si->off);
            size_t n = *(size_t *)((char *)c + si->n_off);

            for (size_t i = 0; i < n; i++)
                free_fields(s, arr + i * si->size);
            free(arr);
        }
    }
    for (size_t i = 0; i < c->n_rules; i++)
        cfg__rule_free(&c->rules[i]);
    free(c->rules);
    for (size_t i = 0; i < c->n_pos; i++)
        free(c->pos[i].where);
    free(c->pos);
    free(c->path);
    free(c);
}

struct rm_config *
cfg_defaults(void)
{
    return config_new();
}

struct rm_config *
cfg_ref(struct rm_config *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void
cfg_unref(struct rm_config *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        config_free(c);
}

/* --- apply --------------------------------------------------------------- */

static struct apply *
apply_of(struct cfg_load *l)
{
    return l->apply;
}

/* apply_value - name = / += words in a SINGLE or MULTI section */
static void
apply_value(struct cfg_load *l, const struct actx *ctx,
            const struct cfg_node *n)
{
    const struct rm_dirinfo *d = cfg__find_dir(ctx->sec, n->name);
    bool append = n->kind == CFG_N_APPEND;
    struct setpos *sp;
    char err[320];
    size_t bad = 0;

    if (d == NULL) {
        if (ctx->sec == RM_SEC_global && find_section(n->name, -1) >= 0)
            cfg__error(l, n->file, n->line, n->col,
                       "'%s' is a section: expected '%s {', found '%s'",
                       n->name, n->name, append ? "+=" : "=");
        else if (find_section(n->name, (int)ctx->sec) >= 0)
            cfg__error(l, n->file, n->line, n->col,
                       "'%s' is a section: expected '%s {', found '%s'",
                       n->name, n->name, append ? "+=" : "=");
        else
            unknown_dir(l, ctx->sec, n);
        return;
    }
    if (d->type == RM_T_NOOP) {
        cfg__warn(l, n->file, n->line, n->col,
                  "'%s' is accepted for compatibility and does nothing: %s",
                  n->name, d->aux ? d->aux : "unused");
        *(bool *)((char *)ctx->base + d->offset) = true;
        sp = &ctx->set[d - cfg__dirs];
        sp->wfile = n->file;
        sp->wline = n->line;
        sp->wcol = n->col;
        return;
    }
    if (append && !cfg__is_list_type(d->type)) {
        cfg__error(l, n->file, n->line, n->col,
                   "'+=' appends to lists only; '%s' takes one value: "
                   "expected '=', found '+='",
                   n->name);
        return;
    }
    sp = &ctx->set[d - cfg__dirs];
    if (!append && sp->file == n->file && sp->line > 0) {
        if (strcmp(n->name, d->name) != 0)
            cfg__warn(l, n->file, n->line, n->col,
                      "'%s' sets '%s' again (first at line %d); the last "
                      "value is used",
                      n->name, d->name, sp->line);
        else
            cfg__warn(l, n->file, n->line, n->col,
                      "'%s' is set again (first at line %d); the last value "
                      "is used",
                      n->name, sp->line);
    }
    if (cfg_value_set(d, (char *)ctx->base + d->offset, n->words, n->n_words,
                      append, err, sizeof(err), &bad) < 0) {
        if (n->n_words > 0 && bad < n->n_words)
            cfg__error(l, n->file, n->words[bad].line, n->words[bad].col, "%s",
                       err);
        else if (n->end_line > 0)
            cfg__error(l, n->file, n->end_line, n->end_col, "%s", err);
        else
            cfg__error(l, n->file, n->line, n->col, "%s", err);
        return;
    }
    if (!append) {
        sp->file = n->file;
        sp->line = n->line;
        sp->col = n->col;
    }
    sp->wfile = n->file;
    sp->wline = n->line;
    sp->wcol = n->col;
    if (n->group_line > 0) {
        if (d->type == RM_T_SERVERS)
            cfg__warn(l, n->file, n->group_line, n->group_col,
                      "{a, b} mirror pairs are not supported: both servers "
                      "become ordinary members of '%s'%s",
                      n->name,
                      ctx->sec == RM_SEC_redis
                          ? " (mirror_grey and mirror_white take copies)"
                          : "");
        else
            cfg__warn(l, n->file, n->group_line, n->group_col,
                      "the {...} group is flattened into the list of '%s'",
                      n->name);
    }
}

/* apply_words - a `name word...;` statement outside a rule */
static void
apply_words(struct cfg_load *l, const struct actx *ctx,
            const struct cfg_node *n)
{
    char what[96];
    int line = n->end_line, col = n->end_col;

    if (n->n_words > 0) {
        snprintf(what, sizeof(what), "%s%s%s", n->words[0].quoted ? "\"" : "'",
                 n->words[0].s, n->words[0].quoted ? "\"" : "'");
        line = n->words[0].line;
        col = n->words[0].col;
    } else {
        snprintf(what, sizeof(what), "';'");
    }
    if (cfg__find_dir(ctx->sec, n->name))
        cfg__error(l, n->file, line, col, "expected '=' after '%s', found %s",
                   n->name, what);
    else if (find_section(n->name,
                          ctx->sec == RM_SEC_global ? -1 : (int)ctx->sec) >= 0)
        cfg__error(l, n->file, line, col,
                   "expected '{' after section name '%s', found %s", n->name,
                   what);
    else
        unknown_dir(l, ctx->sec, n);
}

/* apply_multi - a new element of MULTI section sec, then its statements */
static void
apply_multi(struct cfg_load *l, const struct actx *ctx, enum rm_section sec,
            const struct cfg_node *n)
{
    const struct cfg_secinfo *si = &cfg__sections[sec];
    struct apply *ap = apply_of(l);
    char **arr = (char **)((char *)l->cfg + si->off);
    size_t *cnt = (size_t *)((char *)l->cfg + si->n_off);
    struct elem *e;
    struct actx sub = *ctx;
    char *base;

    *arr = xrealloc(*arr, (*cnt + 1) * si->size);
    base = *arr + *cnt * si->size;
    memset(base, 0, si->size);
    set_defaults(sec, base);
    (*cnt)++;

    ap->elems[sec] =
        xrealloc(ap->elems[sec], (ap->n_elems[sec] + 1) * sizeof(struct elem));
    e = &ap->elems[sec][ap->n_elems[sec]++];
    e->file = n->file;
    e->line = n->line;
    e->col = n->col;
    e->set = xcalloc(cfg__n_dirs, sizeof(struct setpos));

    l->cfg->present |= 1u << sec;
    sub.sec = sec;
    sub.base = base;
    sub.set = e->set;
    apply_list(l, &sub, n->children);
}

/* apply_block - name { ... } */
static void
apply_block(struct cfg_load *l, const struct actx *ctx,
            const struct cfg_node *n)
{
    int parent = ctx->sec == RM_SEC_global ? -1 : (int)ctx->sec;
    int s = find_section(n->name, parent);
    struct actx sub = *ctx;

    if (ctx->rule) {
        cfg__error(l, n->file, n->line, n->col,
                   "expected a rule action or condition, found section '%s'",
                   n->name);
        ctx->rule->failed = true;
        return;
    }
    if (s < 0) {
        char w[64];
        const char *sug;

        where(ctx->sec, w, sizeof(w));
        if (cfg__find_dir(ctx->sec, n->name)) {
            cfg__error(l, n->file, n->line, n->col,
                       "'%s' is a directive, not a section: expected '%s = "
                       "value;'",
                       n->name, n->name);
            return;
        }
        for (int i = 0; i < RM_SEC_COUNT; i++) {
            const struct cfg_secinfo *o = &cfg__sections[i];

            if (!o->name[0] || strcmp(o->name, n->name) != 0)
                continue;
            if (o->parent >= 0)
                cfg__error(l, n->file, n->line, n->col,
                           "section '%s' %s: it belongs inside %s { }", n->name,
                           w, cfg__sections[o->parent].name);
            else
                cfg__error(l, n->file, n->line, n->col,
                           "section '%s' %s: it belongs at the top level",
                           n->name, w);
            return;
        }
        sug = suggest_section(n->name, parent);
        if (sug)
            cfg__error(l, n->file, n->line, n->col,
                       "unknown section '%s' %s; did you mean '%s'?", n->name,
                       w, sug);
        else
            cfg__error(l, n->file, n->line, n->col, "unknown section '%s' %s",
                       n->name, w);
        return;
    }
    switch (cfg__sections[s].kind) {
    case CFG_SINGLE:
        l->cfg->present |= 1u << s;
        if (apply_of(l)->open[s].line == 0) {
            apply_of(l)->open[s].file = n->file;
            apply_of(l)->open[s].line = n->line;
            apply_of(l)->open[s].col = n->col;
        }
        sub.sec = s;
        sub.base = sec_base(l->cfg, s);
        sub.set = apply_of(l)->single;
        apply_list(l, &sub, n->children);
        break;
    case CFG_MULTI:
        apply_multi(l, ctx, s, n);
        break;
    case CFG_IGNORED:
        cfg__warn(l, n->file, n->line, n->col, "section '%s' is ignored: %s",
                  n->name, cfg__sections[s].doc);
        break;
    case CFG_RULE: {
        struct cfg_rule_builder b;

        memset(&b, 0, sizeof(b));
        sub.rule = &b;
        apply_list(l, &sub, n->children);
        cfg__rule_finish(l, &b, n);
        break;
    }
    }
}

/* has_magic - does a pattern use glob characters? */
static bool
has_magic(const char *p)
{
    return strpbrk(p, "*?[") != NULL;
}

/* read_all - the whole file into a new buffer; 0 or -errno */
static int
read_all(const char *path, char **out, size_t *len)
{
    FILE *f;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    struct stat stt;
    int rc = 0;

    *out = NULL;
    f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    if (fstat(fileno(f), &stt) == 0 && S_ISDIR(stt.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    for (;;) {
        size_t got;

        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = -EIO;
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* dir_of - the directory part of path ("." if none); caller frees */
static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* load_file - parse path and apply it in ctx's section. inc is the
 * .include statement (NULL for the main file). 0 or -1. */
static int
load_file(struct cfg_load *l, const struct actx *ctx, const char *path,
          const struct cfg_node *inc)
{
    const char *ifile = inc ? inc->file : path;
    int iline = inc ? inc->line : 0, icol = inc ? inc->col : 0;
    char *text = NULL, *real = NULL, *dir = NULL;
    struct cfg_node *tree = NULL;
    struct actx sub = *ctx;
    const char *name;
    size_t len = 0;
    int rc, ret = -1;

    real = realpath(path, NULL);
    if (real == NULL) {
        cfg__error(l, ifile, iline, icol, "cannot read '%s': %s", path,
                   strerror(errno));
        goto out;
    }
    for (int i = 0; i < l->depth; i++) {
        if (strcmp(l->stack[i], real) == 0) {
            cfg__error(l, ifile, iline, icol,
                       "include loop: '%s' is already being read", path);
            goto out;
        }
    }
    if (l->depth >= CFG_MAX_INCLUDE_DEPTH) {
        cfg__error(l, ifile, iline, icol,
                   "includes nested more than %d deep at '%s'",
                   CFG_MAX_INCLUDE_DEPTH, path);
        goto out;
    }
    rc = read_all(path, &text, &len);
    if (rc < 0) {
        cfg__error(l, ifile, iline, icol, "cannot read '%s': %s", path,
                   strerror(-rc));
        goto out;
    }
    name = cfg__intern_file(l, path);
    if (cfg__parse_buffer(l, name, text, len, &tree) < 0)
        goto out;
    dir = dir_of(path);
    sub.dir = dir;
    l->stack[l->depth++] = real;
    apply_list(l, &sub, tree);
    l->depth--;
    ret = 0;
out:
    cfg__node_free(tree);
    free(text);
    free(real);
    free(dir);
    return ret;
}

/* apply_include - .include / .try_include glob */
static void
apply_include(struct cfg_load *l, const struct actx *ctx,
              const struct cfg_node *n)
{
    bool try = n->kind == CFG_N_TRY_INCLUDE;
    const char *kw = try ? ".try_include" : ".include";
    const char *pat = n->n_words ? n->words[0].s : "";
    char *full;
    glob_t g;
    int rc;

    if (l->flags & CFG_LOAD_NO_INCLUDES) {
        cfg__error(l, n->file, n->line, n->col,
                   "%s is not allowed in this configuration", kw);
        return;
    }
    if (pat[0] == '\0') {
        cfg__error(l, n->file, n->words[0].line, n->words[0].col,
                   "expected a file name after '%s', found \"\"", kw);
        return;
    }
    if (pat[0] == '/' || ctx->dir == NULL)
        full = xstrdup(pat);
    else
        full = xasprintf("%s/%s", ctx->dir, pat);
    memset(&g, 0, sizeof(g));
    rc = glob(full, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        if (!try) {
            if (has_magic(pat))
                cfg__error(l, n->file, n->line, n->col,
                           "%s: no file matches '%s'", kw, full);
            else
                cfg__error(l, n->file, n->line, n->col,
                           "%s: cannot read '%s': %s", kw, full,
                           strerror(ENOENT));
        }
    } else if (rc != 0) {
        cfg__error(l, n->file, n->line, n->col, "%s: cannot expand '%s'", kw,
                   full);
    } else {
        for (size_t i = 0; i < g.gl_pathc && !l->stopped; i++)
            load_file(l, ctx, g.gl_pathv[i], n);
    }
    globfree(&g);
    free(full);
}

static void
apply_list(struct cfg_load *l, const struct actx *ctx, const struct cfg_node *n)
{
    for (; n && !l->stopped; n = n->next) {
        switch (n->kind) {
        case CFG_N_INCLUDE:
        case CFG_N_TRY_INCLUDE:
            apply_include(l, ctx, n);
            break;
        case CFG_N_BLOCK:
            apply_block(l, ctx, n);
            break;
        case CFG_N_WORDS:
            if (ctx->rule)
                cfg__rule_stmt(l, ctx->rule, n);
            else
                apply_words(l, ctx, n);
            break;
        case CFG_N_ASSIGN:
        case CFG_N_APPEND:
            if (ctx->rule) {
                cfg__error(l, n->file, n->line, n->col,
                           "expected a rule action or condition (e.g. "
                           "'reject \"text\";' or 'helo /re/;'), found '%s "
                           "%s'",
                           n->name, n->kind == CFG_N_APPEND ? "+=" : "=");
                ctx->rule->failed = true;
            } else {
                apply_value(l, ctx, n);
            }
            break;
        }
    }
}

/* --- semantic checks ----------------------------------------------------- */

/* set_word - store one word into a field through its typed setter */
static void
set_word(enum rm_section sec, const char *name, void *base, const char *w)
{
    const struct rm_dirinfo *d = cfg__find_dir(sec, name);
    struct rm_word word = {w, true, 0, 0};
    char err[256];
    size_t bad;

    if (d && cfg_value_set(d, (char *)base + d->offset, &word, 1, false, err,
                           sizeof(err), &bad) < 0) {
        fprintf(stderr, "rmilter: %s: %s\n", name, err);
        abort();
    }
}

static const struct setpos *
single_pos(struct cfg_load *l, enum rm_section sec, const char *name)
{
    const struct rm_dirinfo *d = cfg__find_dir(sec, name);

    return d ? &apply_of(l)->single[d - cfg__dirs] : NULL;
}

static void
check_multi_required(struct cfg_load *l, enum rm_section sec,
                     const char *const *required)
{
    const struct cfg_secinfo *si = &cfg__sections[sec];
    struct apply *ap = apply_of(l);
    char *arr = *(char **)((char *)l->cfg + si->off);
    size_t n = *(size_t *)((char *)l->cfg + si->n_off);

    for (size_t i = 0; i < n && i < ap->n_elems[sec]; i++) {
        const struct elem *e = &ap->elems[sec][i];

        for (const char *const *r = required; *r; r++) {
            const struct rm_dirinfo *d = cfg__find_dir(sec, *r);
            const char *v = *(char **)(arr + i * si->size + d->offset);

            if (v == NULL || v[0] == '\0')
                cfg__error(l, e->file, e->line, e->col, "%s %s { } needs '%s'",
                           cfg__sections[si->parent].name, si->name, *r);
        }
    }
}

static void
check_semantics(struct cfg_load *l)
{
    static const char *const dkim_req[] = {"domain", "selector", "key", NULL};
    static const char *const dnsl_req[] = {"zone", NULL};
    struct rm_config *c = l->cfg;
    const struct setpos *p;

    check_multi_required(l, RM_SEC_dkim_domain, dkim_req);
    check_multi_required(l, RM_SEC_karma_dnslist, dnsl_req);

    /* dkim sign_alg: the 1.x names sha256/sha1 are rsa-sha256/rsa-sha1 */
    if (c->dkim.sign_alg == 3)
        c->dkim.sign_alg = 0;
    else if (c->dkim.sign_alg == 4)
        c->dkim.sign_alg = 1;
    if (c->dkim.sign_alg == 1 && cfg_present(c, RM_SEC_dkim)) {
        p = single_pos(l, RM_SEC_dkim, "sign_alg");
        cfg__warn(l, p->file ? p->file : c->path, p->line, p->col,
                  "sign_alg rsa-sha1 is deprecated (RFC 8301): verifiers "
                  "may ignore such signatures; use rsa-sha256");
    }

    /* spamd_temp_fail = yes is on_failure = tempfail */
    if (c->spamd.temp_fail && c->spamd.on_failure != RM_ON_FAILURE_TEMPFAIL) {
        p = single_pos(l, RM_SEC_spamd, "on_failure");
        if (p->line > 0)
            cfg__warn(l, p->file, p->line, p->col,
                      "spamd_temp_fail = yes overrides this on_failure: "
                      "on_failure = tempfail");
        set_word(RM_SEC_spamd, "on_failure", &c->spamd, "tempfail");
    }

    /* the top-level spf_domains of rmilter 1.6 enables spf { } */
    if (c->global.spf_domains.n > 0 && c->spf.domains.n == 0) {
        const struct rm_dirinfo *d = cfg__find_dir(RM_SEC_spf, "domains");
        struct rm_word *w =
            xcalloc(c->global.spf_domains.n, sizeof(struct rm_word));
        char err[256];
        size_t bad;

        for (size_t i = 0; i < c->global.spf_domains.n; i++) {
            w[i].s = c->global.spf_domains.v[i];
            w[i].quoted = true;
        }
        if (cfg_value_set(d, (char *)&c->spf + d->offset, w,
                          c->global.spf_domains.n, false, err, sizeof(err),
                          &bad) < 0) {
            p = single_pos(l, RM_SEC_global, "spf_domains");
            cfg__error(l, p->file, p->line, p->col, "%s", err);
        }
        free(w);
        c->present |= 1u << RM_SEC_spf;
    }

    if (cfg_present(c, RM_SEC_greylisting) && c->greylisting.enable &&
        c->greylisting.timeout >= c->greylisting.expire) {
        p = single_pos(l, RM_SEC_greylisting, "timeout");
        cfg__warn(l, p->file ? p->file : c->path, p->line, p->col,
                  "greylisting timeout is not shorter than expire: no "
                  "retry can pass before its record expires");
    }

    if (c->karma.fail_threshold > c->karma.pass_threshold) {
        p = single_pos(l, RM_SEC_karma, "fail_threshold");
        cfg__error(l, p->file ? p->file : c->path, p->line, p->col,
                   "karma fail_threshold (%lld) is above pass_threshold "
                   "(%lld)",
                   (long long)c->karma.fail_threshold,
                   (long long)c->karma.pass_threshold);
    }
}

/* --- entry points -------------------------------------------------------- */

static void
load_begin(struct cfg_load *l, struct apply *ap, struct rm_diag *diag,
           unsigned flags)
{
    memset(l, 0, sizeof(*l));
    memset(ap, 0, sizeof(*ap));
    ap->single = xcalloc(cfg__n_dirs, sizeof(struct setpos));
    l->apply = ap;
    l->diag = diag;
    l->flags = flags;
    l->cfg = config_new();
}

/* pos_add - one position into the generation (for cfg_where) */
static void
pos_add(struct rm_config *c, int sec, size_t block, long dir, const char *file,
        int line, int col)
{
    struct rm_cfg_pos *p;

    if (file == NULL || line <= 0)
        return;
    c->pos = xrealloc(c->pos, (c->n_pos + 1) * sizeof(*c->pos));
    p = &c->pos[c->n_pos++];
    p->sec = sec;
    p->block = block;
    p->dir = dir;
    p->where = xasprintf("%s:%d:%d", file, line, col);
}

/* keep_positions - what cfg_where needs of the load's positions, copied
 * into the generation (the file names die with the load) */
static void
keep_positions(struct cfg_load *l)
{
    struct apply *ap = apply_of(l);
    struct rm_config *c = l->cfg;

    for (int s = 0; s < RM_SEC_COUNT; s++) {
        pos_add(c, s, 0, -1, ap->open[s].file, ap->open[s].line,
                ap->open[s].col);
        for (size_t i = 0; i < ap->n_elems[s]; i++) {
            const struct elem *e = &ap->elems[s][i];

            pos_add(c, s, i, -1, e->file, e->line, e->col);
            for (size_t d = 0; d < cfg__n_dirs; d++)
                pos_add(c, s, i, (long)d, e->set[d].wfile, e->set[d].wline,
                        e->set[d].wcol);
        }
    }
    for (size_t d = 0; d < cfg__n_dirs; d++)
        pos_add(c, cfg__dirs[d].sec, 0, (long)d, ap->single[d].wfile,
                ap->single[d].wline, ap->single[d].wcol);
}

const char *
cfg_where(const struct rm_config *c, enum rm_section sec, size_t block,
          const char *directive)
{
    const struct rm_dirinfo *d = NULL;
    long dir = -1;
    size_t i;

    if (directive != NULL && (d = cfg__find_dir(sec, directive)) != NULL)
        dir = (long)(d - cfg__dirs);
    if (dir >= 0)
        for (i = 0; i < c->n_pos; i++)
            if (c->pos[i].sec == (int)sec && c->pos[i].block == block &&
                c->pos[i].dir == dir)
                return c->pos[i].where;
    for (i = 0; i < c->n_pos; i++)
        if (c->pos[i].sec == (int)sec && c->pos[i].block == block &&
            c->pos[i].dir < 0)
            return c->pos[i].where;
    return c->path ? c->path : "config";
}

static int
load_end(struct cfg_load *l, struct rm_config **out)
{
    struct apply *ap = apply_of(l);

    check_semantics(l);
    keep_positions(l);
    for (int s = 0; s < RM_SEC_COUNT; s++) {
        for (size_t i = 0; i < ap->n_elems[s]; i++)
            free(ap->elems[s][i].set);
        free(ap->elems[s]);
    }
    free(ap->single);
    for (size_t i = 0; i < l->n_files; i++)
        free(l->files[i]);
    free(l->files);
    if (l->n_errors > 0) {
        cfg_unref(l->cfg);
        *out = NULL;
        return -1;
    }
    *out = l->cfg;
    return 0;
}

int
cfg_load(const char *path, struct rm_config **out, struct rm_diag *diag)
{
    struct cfg_load l;
    struct apply ap;
    struct actx ctx;

    load_begin(&l, &ap, diag, 0);
    l.cfg->path = xstrdup(path);
    memset(&ctx, 0, sizeof(ctx));
    ctx.sec = RM_SEC_global;
    ctx.base = sec_base(l.cfg, RM_SEC_global);
    ctx.set = ap.single;
    load_file(&l, &ctx, path, NULL);
    return load_end(&l, out);
}

int
cfg__load_string_flags(const char *name, const char *text, size_t len,
                       unsigned flags, struct rm_config **out,
                       struct rm_diag *diag)
{
    struct cfg_load l;
    struct apply ap;
    struct actx ctx;
    struct cfg_node *tree = NULL;

    load_begin(&l, &ap, diag, flags);
    l.cfg->path = xstrdup(name);
    memset(&ctx, 0, sizeof(ctx));
    ctx.sec = RM_SEC_global;
    ctx.base = sec_base(l.cfg, RM_SEC_global);
    ctx.set = ap.single;
    if (cfg__parse_buffer(&l, cfg__intern_file(&l, name), text, len, &tree) ==
        0)
        apply_list(&l, &ctx, tree);
    cfg__node_free(tree);
    return load_end(&l, out);
}

int
cfg_load_string(const char *name, const char *text, size_t len,
                struct rm_config **out, struct rm_diag *diag)
{
    return cfg__load_string_flags(name, text, len, 0, out, diag);
}
