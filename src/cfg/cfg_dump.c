/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   cfg_dump - --dump-config and the directive reference
 *
 * DESCRIPTION
 *   cfg_dump writes a generation as a config file: every directive of every
 *   section with its effective value (cfg_value_format), the directive's
 *   doc line as a comment above it. Sections that were not written are
 *   shown commented out with their defaults, so that parsing the dump
 *   gives the same generation (a section's presence switches its module
 *   on). dkim domain and karma dnslist blocks are written inside their
 *   section, rules after all sections. NOOP directives are left out.
 *
 *   The dump holds nothing that depends on where the config came from (no
 *   file names, no dates): dump -> parse -> dump is byte-identical, which
 *   the unit tests and the fuzzer check.
 *
 *   cfg_reference writes the directive reference, in Markdown
 *   (docs/directives.md) or roff (rmilter.conf(5)), from the same rows.
 *
 * OWNERSHIP
 *   Nothing is allocated except a scratch buffer per value.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg_internal.h"
#include "lib/xmalloc.h"

/* cfg__write_quoted - s in double quotes with " \ newline tab escaped */
void
cfg__write_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        switch (*s) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            fputc(*s, f);
            break;
        }
    }
    fputc('"', f);
}

/* --- dump ---------------------------------------------------------------- */

static void
dump_fields(FILE *f, enum rm_section sec, const void *base, int indent,
            const char *prefix)
{
    for (size_t i = 0; i < cfg__n_dirs; i++) {
        const struct rm_dirinfo *d = &cfg__dirs[i];

        if (d->sec != sec || d->type == RM_T_NOOP)
            continue;
        fprintf(f, "%s%*s# %s\n", prefix, indent, "", d->doc);
        fprintf(f, "%s%*s%s = ", prefix, indent, "", d->name);
        cfg_value_format(d, (const char *)base + d->offset, f);
        fputs(";\n", f);
    }
}

/* dump_children - the MULTI blocks that live inside section parent */
static void
dump_children(FILE *f, const struct rm_config *c, enum rm_section parent,
              int indent)
{
    for (int s = 0; s < RM_SEC_COUNT; s++) {
        const struct cfg_secinfo *si = &cfg__sections[s];
        const char *arr;
        size_t n;

        if (si->kind != CFG_MULTI || si->parent != (int)parent)
            continue;
        arr = *(char *const *)((const char *)c + si->off);
        n = *(const size_t *)((const char *)c + si->n_off);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "\n%*s# %s\n", indent, "", si->doc);
            fprintf(f, "%*s%s {\n", indent, "", si->name);
            dump_fields(f, s, arr + i * si->size, indent + 4, "");
            fprintf(f, "%*s}\n", indent, "");
        }
    }
}

void
cfg_dump(const struct rm_config *c, FILE *f)
{
    fputs("# rmilter --dump-config: every directive with its effective "
          "value.\n"
          "# Sections that are not configured are commented out and show "
          "their\n"
          "# defaults; uncomment one to switch its checks on.\n\n",
          f);
    fprintf(f, "# %s\n\n", cfg__sections[RM_SEC_global].doc);
    dump_fields(f, RM_SEC_global, &c->global, 0, "");
    for (int s = 0; s < RM_SEC_COUNT; s++) {
        const struct cfg_secinfo *si = &cfg__sections[s];
        const void *base = (const char *)c + si->off;

        if (si->kind != CFG_SINGLE || si->parent >= 0 || s == RM_SEC_global)
            continue;
        fprintf(f, "\n# %s\n", si->doc);
        if (cfg_present(c, s)) {
            fprintf(f, "%s {\n", si->name);
            dump_fields(f, s, base, 4, "");
            dump_children(f, c, s, 4);
            fputs("}\n", f);
        } else {
            fputs("# (not configured)\n", f);
            fprintf(f, "# %s {\n", si->name);
            dump_fields(f, s, base, 4, "# ");
            fputs("# }\n", f);
        }
    }
    for (size_t i = 0; i < c->n_rules; i++) {
        fprintf(f, "\n# %s\n", cfg__sections[RM_SEC_rule].doc);
        cfg__rule_dump(&c->rules[i], f);
    }
}

/* --- reference ----------------------------------------------------------- */

static const char *
type_name(enum rm_vtype t)
{
    switch (t) {
    case RM_T_STR:
        return "string";
    case RM_T_INT:
        return "integer";
    case RM_T_FLAG:
        return "flag (yes/no)";
    case RM_T_TIME_S:
        return "time (bare number: seconds)";
    case RM_T_TIME_MS:
        return "time (bare number: milliseconds)";
    case RM_T_SIZE:
        return "size (k, m, g)";
    case RM_T_PROB:
        return "probability (0.0 to 1.0)";
    case RM_T_BUCKET:
        return "burst:rate";
    case RM_T_IPLIST:
        return "list of IP addresses and networks";
    case RM_T_SOCKETS:
        return "list of sockets";
    case RM_T_SERVERS:
        return "list of servers";
    case RM_T_REGEX:
        return "/regexp/flags";
    case RM_T_STRLIST:
        return "list of strings";
    case RM_T_RCPTLIST:
        return "list of recipients";
    case RM_T_ENUM:
        return "one of";
    case RM_T_MODE:
        return "octal mode";
    case RM_T_NOOP:
        return "ignored";
    }
    return "?";
}

/* type_text - the type column: "one of a, b, c", "list of servers (default
 * port 3310)" */
static void
type_text(const struct rm_dirinfo *d, char *buf, size_t len, bool md)
{
    if (d->type == RM_T_ENUM && d->aux) {
        size_t off = (size_t)snprintf(buf, len, "one of ");
        const char *p = d->aux;

        while (*p && off < len) {
            size_t n = strcspn(p, "|");

            off += (size_t)snprintf(buf + off, len - off, "%s%.*s%s%s",
                                    md ? "`" : "", (int)n, p, md ? "`" : "",
                                    p[n] ? ", " : "");
            p += n + (p[n] != '\0');
        }
    } else if (d->type == RM_T_SERVERS && d->aux) {
        snprintf(buf, len, "list of servers (default port %s)", d->aux);
    } else {
        snprintf(buf, len, "%s", type_name(d->type));
    }
}

/* bound_text - one bound in the directive's own unit */
static void
bound_text(const struct rm_dirinfo *d, double v, char *buf, size_t len)
{
    char *mem = NULL;
    size_t mlen = 0;
    FILE *m;

    switch (d->type) {
    case RM_T_TIME_S:
    case RM_T_TIME_MS:
    case RM_T_SIZE: {
        uint64_t u = (uint64_t)v;

        m = open_memstream(&mem, &mlen);
        cfg_value_format(d, &u, m);
        fclose(m);
        snprintf(buf, len, "%s", mem);
        free(mem);
        break;
    }
    case RM_T_MODE:
        snprintf(buf, len, "%04o", (unsigned)v);
        break;
    default:
        snprintf(buf, len, "%.15g", v);
        break;
    }
}

static void
bounds_text(const struct rm_dirinfo *d, char *buf, size_t len)
{
    char lo[48], hi[48];

    buf[0] = '\0';
    if (d->min == 0 && d->max == 0)
        return;
    bound_text(d, d->min, lo, sizeof(lo));
    if (d->max > d->min) {
        bound_text(d, d->max, hi, sizeof(hi));
        snprintf(buf, len, "%s to %s", lo, hi);
    } else {
        snprintf(buf, len, "at least %s", lo);
    }
}

static void
default_text(const struct rm_dirinfo *d, char *buf, size_t len, bool md)
{
    if (d->def == NULL || d->def[0] == '\0')
        snprintf(buf, len, "%s", cfg__is_list_type(d->type) ? "empty" : "none");
    else
        snprintf(buf, len, md ? "`%s`" : "%s", d->def);
}

/* md_cell - text with | escaped for a Markdown table cell */
static void
md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* roff_text - text with \ escaped and a leading . or ' neutralized */
static void
roff_text(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
    }
}

static const char *
sec_title(const struct cfg_secinfo *si, char *buf, size_t len)
{
    if (si->name[0] == '\0')
        snprintf(buf, len, "Top level");
    else if (si->parent >= 0)
        snprintf(buf, len, "%s { %s { } }", cfg__sections[si->parent].name,
                 si->name);
    else
        snprintf(buf, len, "%s { }", si->name);
    return buf;
}

static const char *const intro_text =
    "A statement is `name = value;` (a list: `name = a, b, c;`; append "
    "with `name += d;`), a section is `name { statements }` (a `;` after "
    "`}` is allowed), `#` starts a comment. `.include glob` and "
    "`.try_include glob` read other files (relative to the including "
    "file; `.try_include` skips missing ones). Words may be written bare "
    "(`user@x11.example.org`, `[::1]/128`, `inet:11332@127.0.0.1`) or in "
    "double quotes with `\\\"`, `\\\\`, `\\n`, `\\t` escapes. Times take "
    "`ms`, `s`, `m`, `h`, `d`, `w`; sizes `k`, `m`, `g` (x1024). A "
    "directive written twice keeps the last value (a warning if both are "
    "in one file).";

static const char *const rule_text =
    "Each `rule { }` has one action and one or more conditions, each "
    "ending in `;`. Actions: `accept`, `discard`, `reject [\"text\"]`, "
    "`tempfail [\"text\"]`, `quarantine [\"reason\"]`, `add_header \"Name\" "
    "\"value\"`. Conditions: `connect /host/ /ip/`, `helo /re/`, "
    "`envfrom /re/`, `envrcpt /re/`, `header /name/ /value/`, `body /re/`, "
    "each optionally prefixed with `not`. Regexps are `/pattern/flags` "
    "(flags `i`, `m`, `s`, `x`, `u`). Rules are checked in the order "
    "written.";

static void
ref_md_section(FILE *f, const struct cfg_secinfo *si)
{
    char title[96], type[256], def[512], bnd[160];
    bool any_noop = false, any_alias = false;

    fprintf(f, "\n## %s\n\n%c%s.\n", sec_title(si, title, sizeof(title)),
            toupper((unsigned char)si->doc[0]), si->doc + 1);
    if (si->kind == CFG_MULTI)
        fputs("\nThis block may be repeated.\n", f);
    if (si->kind == CFG_IGNORED) {
        fputs("\nThe section is read and ignored, with a warning.\n", f);
        return;
    }
    if (si->kind == CFG_RULE) {
        fprintf(f, "\n%s\n", rule_text);
        return;
    }
    fputs("\n| directive | type | default | bounds | description |\n"
          "|---|---|---|---|---|\n",
          f);
    for (size_t i = 0; i < cfg__n_dirs; i++) {
        const struct rm_dirinfo *d = &cfg__dirs[i];

        if (d->sec != si->id)
            continue;
        if (d->type == RM_T_NOOP) {
            any_noop = true;
            continue;
        }
        type_text(d, type, sizeof(type), true);
        default_text(d, def, sizeof(def), true);
        bounds_text(d, bnd, sizeof(bnd));
        fprintf(f, "| `%s` | ", d->name);
        md_cell(f, type);
        fputs(" | ", f);
        md_cell(f, def);
        fputs(" | ", f);
        md_cell(f, bnd);
        fputs(" | ", f);
        md_cell(f, d->doc);
        fputs(" |\n", f);
    }
    for (size_t i = 0; i < cfg__n_aliases; i++) {
        if (cfg__aliases[i].sec != si->id)
            continue;
        fprintf(f, "%s`%s` = `%s`",
                any_alias ? ", " : "\nAliases: ", cfg__aliases[i].alias,
                cfg__aliases[i].name);
        any_alias = true;
    }
    if (any_alias)
        fputs(".\n", f);
    if (!any_noop)
        return;
    fputs("\nAccepted for compatibility with rmilter 1.x and ignored, with "
          "a warning:\n\n",
          f);
    for (size_t i = 0; i < cfg__n_dirs; i++) {
        const struct rm_dirinfo *d = &cfg__dirs[i];

        if (d->sec == si->id && d->type == RM_T_NOOP)
            fprintf(f, "- `%s`: %s\n", d->name, d->aux ? d->aux : "");
    }
}

static void
ref_roff_section(FILE *f, const struct cfg_secinfo *si)
{
    char title[96], type[256], def[512], bnd[160];

    fputs(".SS \"", f);
    roff_text(f, sec_title(si, title, sizeof(title)));
    fputs("\"\n", f);
    roff_text(f, si->doc);
    fputs(".\n", f);
    if (si->kind == CFG_MULTI)
        fputs("This block may be repeated.\n", f);
    if (si->kind == CFG_IGNORED) {
        fputs("The section is read and ignored, with a warning.\n", f);
        return;
    }
    if (si->kind == CFG_RULE) {
        fputs(".PP\n", f);
        for (const char *p = rule_text; *p; p++) {
            if (*p == '`')
                continue;
            if (*p == '\\')
                fputs("\\e", f);
            else
                fputc(*p, f);
        }
        fputc('\n', f);
        return;
    }
    for (size_t i = 0; i < cfg__n_dirs; i++) {
        const struct rm_dirinfo *d = &cfg__dirs[i];

        if (d->sec != si->id)
            continue;
        fputs(".TP\n.B ", f);
        roff_text(f, d->name);
        fputc('\n', f);
        if (d->type == RM_T_NOOP) {
            fputs("Accepted for compatibility and ignored, with a warning: ",
                  f);
            roff_text(f, d->aux ? d->aux : "");
            fputs(".\n", f);
            continue;
        }
        type_text(d, type, sizeof(type), false);
        default_text(d, def, sizeof(def), false);
        bounds_text(d, bnd, sizeof(bnd));
        roff_text(f, d->doc);
        fputs(".\n.br\nType: ", f);
        roff_text(f, type);
        fputs("; default: ", f);
        roff_text(f, def);
        if (bnd[0]) {
            fputs("; ", f);
            roff_text(f, bnd);
        }
        fputs(".\n", f);
    }
    for (size_t i = 0; i < cfg__n_aliases; i++) {
        if (cfg__aliases[i].sec != si->id)
            continue;
        fputs(".TP\n.B ", f);
        roff_text(f, cfg__aliases[i].alias);
        fputs("\nThe same as\n.BR ", f);
        roff_text(f, cfg__aliases[i].name);
        fputs(" .\n", f);
    }
}

void
cfg_reference(FILE *f, enum rm_ref_format fmt)
{
    if (fmt == RM_REF_MARKDOWN) {
        fputs("# rmilter.conf directives\n\n"
              "<!-- Generated by `rmilter --reference md` from "
              "src/cfg/cfg_directives.h; do not edit. -->\n\n",
              f);
        fprintf(f, "%s\n", intro_text);
        for (int s = 0; s < RM_SEC_COUNT; s++)
            ref_md_section(f, &cfg__sections[s]);
        return;
    }
    fputs(".\\\" Generated by rmilter --reference roff from "
          "src/cfg/cfg_directives.h.\n"
          ".TH RMILTER.CONF 5 \"\" \"rmilter " RM_VERSION
          "\" \"File Formats\"\n"
          ".SH NAME\nrmilter.conf \\- configuration of the rmilter mail "
          "filter\n.SH SYNTAX\n",
          f);
    for (const char *p = intro_text; *p; p++) {
        if (*p == '`')
            continue;
        if (*p == '\\')
            fputs("\\e", f);
        else
            fputc(*p, f);
    }
    fputs("\n.SH DIRECTIVES\n", f);
    for (int s = 0; s < RM_SEC_COUNT; s++)
        ref_roff_section(f, &cfg__sections[s]);
}
