/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   cfg_rule - the statements of rule { } sections into struct rm_rule
 *
 * DESCRIPTION
 *   The rule syntax of rmilter 1.6 (research/rmilter.md 2.9):
 *
 *     rule {
 *         reject "No localhost";          one action:
 *                                         accept | discard
 *                                         reject | tempfail | quarantine
 *                                             ["message"]
 *                                         add_header "Name" "value"
 *         helo /^localhost/;              one or more conditions:
 *         not envfrom /@example\.com$/i;    connect /host/ /ip/, helo /re/,
 *     };                                    envfrom /re/, envrcpt /re/,
 *                                           header /name/ /value/,
 *                                           body /re/; each may be
 *                                           prefixed with not
 *
 *   Unlike the original, rules are kept in the order written and the
 *   action may come anywhere in the block (it usually comes first).
 *   Regexps are compiled here (regex_compile), so a bad pattern is a
 *   config error with its position, never a runtime surprise.
 *
 * OWNERSHIP
 *   The builder owns the rule until cfg__rule_finish moves it into the
 *   generation (or frees it when the block had errors).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg/cfg_internal.h"
#include "lib/xmalloc.h"

static const struct {
    const char *name;
    enum rm_rule_action action;
    size_t min, max; /* words after the keyword */
} actions[] = {
    {"accept", RM_RULE_ACCEPT, 0, 0},
    {"reject", RM_RULE_REJECT, 0, 1},
    {"tempfail", RM_RULE_TEMPFAIL, 0, 1},
    {"discard", RM_RULE_DISCARD, 0, 0},
    {"quarantine", RM_RULE_QUARANTINE, 0, 1},
    {"add_header", RM_RULE_ADD_HEADER, 2, 2},
};

static const struct {
    const char *name;
    enum rm_rule_cond_kind kind;
    size_t n; /* regexps */
    const char *args;
} conds[] = {
    {"connect", RM_COND_CONNECT, 2, "a host name regexp and an IP regexp"},
    {"helo", RM_COND_HELO, 1, "a regexp"},
    {"envfrom", RM_COND_ENVFROM, 1, "a regexp"},
    {"envrcpt", RM_COND_ENVRCPT, 1, "a regexp"},
    {"header", RM_COND_HEADER, 2, "a header name regexp and a value regexp"},
    {"body", RM_COND_BODY, 1, "a regexp"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* suggest - the action, condition or "not" nearest to w, or NULL */
static const char *
suggest(const char *w)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, d;

    for (size_t i = 0; i < NELEM(actions); i++)
        if ((d = cfg__edit_distance(w, actions[i].name)) < bestd) {
            bestd = d;
            best = actions[i].name;
        }
    for (size_t i = 0; i < NELEM(conds); i++)
        if ((d = cfg__edit_distance(w, conds[i].name)) < bestd) {
            bestd = d;
            best = conds[i].name;
        }
    if ((d = cfg__edit_distance(w, "not")) < bestd) {
        bestd = d;
        best = "not";
    }
    return bestd <= 2 ? best : NULL;
}

/* shown - a word as a message shows it: 'word' or "string" */
static const char *
shown(const struct rm_word *w, char *buf, size_t len)
{
    snprintf(buf, len, w->quoted ? "\"%s\"" : "'%s'", w->s);
    return buf;
}

/* valid_header_name - RFC 5322 field name: printable ASCII but ':' */
static bool
valid_header_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || *s == ':')
            return false;
    return true;
}

static void
rule_action(struct cfg_load *l, struct cfg_rule_builder *b,
            const struct cfg_node *n, size_t ai)
{
    struct rm_rule *r = &b->rule;
    char sb[96];

    if (b->has_action) {
        cfg__error(l, n->file, n->line, n->col,
                   "the rule already has an action (line %d); a rule has "
                   "exactly one",
                   b->action_line);
        b->failed = true;
        return;
    }
    if (n->n_words > actions[ai].max) {
        const struct rm_word *w = &n->words[actions[ai].max];

        if (actions[ai].max == 0)
            cfg__error(l, n->file, w->line, w->col,
                       "expected ';' after '%s' (it takes no message), "
                       "found %s",
                       n->name, shown(w, sb, sizeof(sb)));
        else
            cfg__error(l, n->file, w->line, w->col,
                       "expected ';' after the %s of '%s', found %s",
                       actions[ai].max == 1 ? "message" : "header value",
                       n->name, shown(w, sb, sizeof(sb)));
        b->failed = true;
        return;
    }
    if (n->n_words < actions[ai].min) {
        cfg__error(l, n->file, n->end_line, n->end_col,
                   "expected a header name and a value after 'add_header', "
                   "found ';'");
        b->failed = true;
        return;
    }
    b->has_action = true;
    b->action_line = n->line;
    r->action = actions[ai].action;
    if (r->action == RM_RULE_ADD_HEADER) {
        if (!valid_header_name(n->words[0].s)) {
            cfg__error(l, n->file, n->words[0].line, n->words[0].col,
                       "expected a header name (printable, no blanks or "
                       "':'), found %s",
                       shown(&n->words[0], sb, sizeof(sb)));
            b->failed = true;
            return;
        }
        r->header_name = xstrdup(n->words[0].s);
        r->header_value = xstrdup(n->words[1].s);
    } else if (n->n_words == 1) {
        r->message = xstrdup(n->words[0].s);
    }
}

static void
rule_cond(struct cfg_load *l, struct cfg_rule_builder *b,
          const struct cfg_node *n, size_t ci, bool negate, size_t first)
{
    struct rm_rule *r = &b->rule;
    struct rm_rule_cond c;
    size_t have = n->n_words - first;
    char err[256];

    if (have != conds[ci].n) {
        cfg__error(l, n->file, n->line, n->col,
                   "'%s' takes %zu regexp%s (%s), found %zu", conds[ci].name,
                   conds[ci].n, conds[ci].n == 1 ? "" : "s", conds[ci].args,
                   have);
        b->failed = true;
        return;
    }
    memset(&c, 0, sizeof(c));
    c.kind = conds[ci].kind;
    c.negate = negate;
    for (size_t i = 0; i < have; i++) {
        const struct rm_word *w = &n->words[first + i];

        c.re[i] = regex_compile(w->s, err, sizeof(err));
        if (c.re[i] == NULL) {
            cfg__error(l, n->file, w->line, w->col, "%s", err);
            regex_free(c.re[0]);
            b->failed = true;
            return;
        }
    }
    if (r->n_conds == b->cap_conds) {
        b->cap_conds = b->cap_conds ? b->cap_conds * 2 : 4;
        r->conds = xrealloc(r->conds, b->cap_conds * sizeof(*r->conds));
    }
    r->conds[r->n_conds++] = c;
}

/* cfg__rule_stmt - one `word args...;` statement of a rule block */
void
cfg__rule_stmt(struct cfg_load *l, struct cfg_rule_builder *b,
               const struct cfg_node *n)
{
    const char *kw = n->name;
    bool negate = false;
    size_t first = 0;
    const char *s;

    if (strcasecmp(kw, "not") == 0) {
        if (n->n_words == 0) {
            cfg__error(l, n->file, n->end_line, n->end_col,
                       "expected a condition after 'not', found ';'");
            b->failed = true;
            return;
        }
        negate = true;
        kw = n->words[0].s;
        first = 1;
    }
    for (size_t i = 0; i < NELEM(conds); i++) {
        if (strcasecmp(kw, conds[i].name) == 0) {
            rule_cond(l, b, n, i, negate, first);
            return;
        }
    }
    for (size_t i = 0; i < NELEM(actions); i++) {
        if (strcasecmp(kw, actions[i].name) != 0)
            continue;
        if (negate) {
            cfg__error(l, n->file, n->words[0].line, n->words[0].col,
                       "'not' applies to conditions, found the action '%s'",
                       kw);
            b->failed = true;
            return;
        }
        rule_action(l, b, n, i);
        return;
    }
    s = suggest(kw);
    if (negate) {
        cfg__error(l, n->file, n->words[0].line, n->words[0].col,
                   "expected a condition after 'not' (connect, helo, "
                   "envfrom, envrcpt, header or body), found '%s'",
                   kw);
    } else if (s) {
        cfg__error(l, n->file, n->line, n->col,
                   "unknown rule statement '%s'; did you mean '%s'?", kw, s);
    } else {
        cfg__error(l, n->file, n->line, n->col,
                   "unknown rule statement '%s': expected an action (accept, "
                   "reject, tempfail, discard, quarantine, add_header) or a "
                   "condition (connect, helo, envfrom, envrcpt, header, "
                   "body)",
                   kw);
    }
    b->failed = true;
}

/* cfg__rule_finish - check the rule and move it into the generation */
void
cfg__rule_finish(struct cfg_load *l, struct cfg_rule_builder *b,
                 const struct cfg_node *blk)
{
    struct rm_config *c = l->cfg;
    struct rm_rule *r = &b->rule;

    if (!b->failed && !b->has_action) {
        cfg__error(l, blk->file, blk->line, blk->col,
                   "the rule has no action: expected one of accept, reject, "
                   "tempfail, discard, quarantine or add_header");
        b->failed = true;
    }
    if (!b->failed && r->n_conds == 0) {
        cfg__error(l, blk->file, blk->line, blk->col,
                   "the rule has no condition: expected at least one of "
                   "connect, helo, envfrom, envrcpt, header or body");
        b->failed = true;
    }
    if (b->failed) {
        cfg__rule_free(r);
        return;
    }
    r->name =
        xasprintf("rule %zu at %s:%d", c->n_rules + 1, blk->file, blk->line);
    c->rules = xrealloc(c->rules, (c->n_rules + 1) * sizeof(*c->rules));
    c->rules[c->n_rules++] = *r;
    c->present |= 1u << RM_SEC_rule;
    memset(r, 0, sizeof(*r));
}

void
cfg__rule_free(struct rm_rule *r)
{
    for (size_t i = 0; i < r->n_conds; i++) {
        regex_free(r->conds[i].re[0]);
        regex_free(r->conds[i].re[1]);
    }
    free(r->conds);
    free(r->name);
    free(r->message);
    free(r->header_name);
    free(r->header_value);
    memset(r, 0, sizeof(*r));
}

/* regex_bare - can this /re/flags be written without quotes, so that the
 * lexer reads it back as the same single word? */
static bool
regex_bare(const char *s)
{
    const char *end = strrchr(s, '/');
    const char *p;

    if (s[0] != '/' || end == s)
        return false;
    for (p = end + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    for (p = s + 1; p < end; p++) {
        if (*p == '\\') {
            if (p + 1 >= end || p[1] == '\n')
                return false;
            p++;
        } else if (*p == '/' || *p == '\n') {
            return false;
        }
    }
    return true;
}

static void
write_regex(FILE *f, const struct rm_regex *re)
{
    const char *s = regex_source(re);

    if (regex_bare(s))
        fputs(s, f);
    else
        cfg__write_quoted(f, s);
}

/* cfg__rule_dump - the rule as a rule { } block */
void
cfg__rule_dump(const struct rm_rule *r, FILE *f)
{
    fputs("rule {\n    ", f);
    for (size_t i = 0; i < NELEM(actions); i++)
        if (actions[i].action == r->action)
            fputs(actions[i].name, f);
    if (r->action == RM_RULE_ADD_HEADER) {
        fputc(' ', f);
        cfg__write_quoted(f, r->header_name);
        fputc(' ', f);
        cfg__write_quoted(f, r->header_value);
    } else if (r->message) {
        fputc(' ', f);
        cfg__write_quoted(f, r->message);
    }
    fputs(";\n", f);
    for (size_t i = 0; i < r->n_conds; i++) {
        const struct rm_rule_cond *c = &r->conds[i];

        fputs(c->negate ? "    not " : "    ", f);
        for (size_t k = 0; k < NELEM(conds); k++)
            if (conds[k].kind == c->kind)
                fputs(conds[k].name, f);
        for (size_t k = 0; k < 2 && c->re[k]; k++) {
            fputc(' ', f);
            write_regex(f, c->re[k]);
        }
        fputs(";\n", f);
    }
    fputs("}\n", f);
}
