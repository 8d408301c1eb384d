/*
 * NAME
 *   cfg - load, check, dump and reference-count rmilter.conf generations
 *
 * SYNOPSIS
 *   struct rm_config *cfg = NULL;
 *   struct rm_diag diag = {0};
 *   if (cfg_load(path, &cfg, &diag) < 0) { print diag; }
 *   ... cfg->clamav.servers, cfg->global.bind_socket ...
 *   cfg_unref(cfg);
 *
 * DESCRIPTION
 *   A config generation is built by cfg_load (or cfg_load_string for tests
 *   and the fuzzer): defaults from cfg_directives.h, then the file and its
 *   .include / .try_include files. A loaded generation is immutable and
 *   reference-counted: the daemon holds one reference for "current", every
 *   session takes one at connect and drops it at close, so a reload never
 *   changes the config under a running session. The last cfg_unref frees it.
 *
 *   Every section struct (struct rm_cfg_<id>) is generated from the
 *   RM_DIRS_<id> rows. Repeatable blocks (dkim domain, karma dnslist) and
 *   rules are arrays. cfg->present has bit (1u << RM_SEC_<id>) set for every
 *   section written in the file, so a module can tell "clamav { }" from
 *   "no clamav section".
 *
 * DIAGNOSTICS
 *   Errors and warnings go to struct rm_diag as "file:line:column: text"
 *   lines. cfg_load returns 0 (warnings allowed) or -1 (at least one error;
 *   *out stays NULL). Problems found later, when the modules start on a
 *   generation (a missing key file), name the directive's position with
 *   cfg_where, in the same form.
 */
#ifndef RM_CFG_H
#define RM_CFG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cfg/cfg_directives.h"
#include "cfg/cfg_types.h"

/* C type of each directive type */
#define RM_CTYPE_STR char *
#define RM_CTYPE_INT int64_t
#define RM_CTYPE_FLAG bool
#define RM_CTYPE_TIME_S uint64_t
#define RM_CTYPE_TIME_MS uint64_t
#define RM_CTYPE_SIZE uint64_t
#define RM_CTYPE_PROB double
#define RM_CTYPE_BUCKET struct rm_bucket
#define RM_CTYPE_IPLIST struct rm_iplist *
#define RM_CTYPE_SOCKETS struct rm_socklist
#define RM_CTYPE_SERVERS struct rm_servers
#define RM_CTYPE_REGEX struct rm_regex *
#define RM_CTYPE_STRLIST struct rm_strlist
#define RM_CTYPE_RCPTLIST struct rm_rcptlist
#define RM_CTYPE_ENUM int
#define RM_CTYPE_MODE unsigned
#define RM_CTYPE_NOOP bool /* true if the directive was written */

enum rm_on_failure {
    RM_ON_FAILURE_TEMPFAIL = 0,
    RM_ON_FAILURE_ACCEPT = 1,
    RM_ON_FAILURE_CONTINUE = 2,
};

/* Section ids: RM_SEC_global, RM_SEC_clamav, ... */
#define RM_SEC_ENUM(id, name, parent, kind, doc) RM_SEC_##id,
enum rm_section { RM_SECTIONS(RM_SEC_ENUM) RM_SEC_COUNT };
#undef RM_SEC_ENUM

#define RM_CFG_FIELD(sec, name, type, field, def, min, max, aux, doc)          \
    RM_CTYPE_##type field;
#define RM_SEC_STRUCT(id, name, parent, kind, doc)                             \
    struct rm_cfg_##id {                                                       \
        int _unused_##id;                                                      \
        RM_DIRS_##id(RM_CFG_FIELD)                                             \
    };
RM_SECTIONS(RM_SEC_STRUCT)
#undef RM_SEC_STRUCT
#undef RM_CFG_FIELD

struct rm_config {
    struct rm_cfg_global global;
    struct rm_cfg_clamav clamav;
    struct rm_cfg_spamd spamd;
    struct rm_cfg_redis redis;
    struct rm_cfg_beanstalk beanstalk;
    struct rm_cfg_greylisting greylisting;
    struct rm_cfg_limits limits;
    struct rm_cfg_dkim dkim;
    struct rm_cfg_spf spf;
    struct rm_cfg_karma karma;
    struct rm_cfg_dns dns;

    struct rm_cfg_dkim_domain *dkim_domain; /* dkim { domain { } ... } */
    size_t n_dkim_domain;
    struct rm_cfg_karma_dnslist *karma_dnslist; /* karma { dnslist { } } */
    size_t n_karma_dnslist;
    struct rm_rule *rules; /* in the order written */
    size_t n_rules;

    uint32_t present;       /* bit (1u << RM_SEC_x): section x was written */
    char *path;             /* the main file */
    struct rm_cfg_pos *pos; /* where things were written (cfg_where) */
    size_t n_pos;
    unsigned generation;
    atomic_int refs;

    /* Owned by the pipeline (src/core/): the modules' per-generation state,
     * set once by pipeline_generation_init. When the last reference goes,
     * cfg_unref calls modules_state_free(modules_state) if it is set,
     * before freeing anything else of the generation. */
    void *modules_state;
    void (*modules_state_free)(void *modules_state);
};

/* One position for cfg_where: a directive (dir >= 0, the index of its row)
 * or a section / block opening (dir = -1) of section sec, block block
 * (MULTI sections; 0 otherwise), written at "file:line:col". */
struct rm_cfg_pos {
    int sec;
    size_t block;
    long dir;
    char *where;
};

struct rm_diag {
    size_t n_errors;
    size_t n_warnings;
    size_t n;
    char **lines; /* "file:line:col: error: ..." / "...: warning: ..." */
};

void diag_free(struct rm_diag *d);
/* diag_print - every line to f */
void diag_print(const struct rm_diag *d, FILE *f);

/* cfg_load - parse path with its includes; 0 or -1 (see DIAGNOSTICS) */
int cfg_load(const char *path, struct rm_config **out, struct rm_diag *diag);
/* cfg_load_string - parse text (name is used in messages; includes are
 * resolved relative to the current directory) */
int cfg_load_string(const char *name, const char *text, size_t len,
                    struct rm_config **out, struct rm_diag *diag);
/* cfg_defaults - a generation holding only the defaults */
struct rm_config *cfg_defaults(void);

struct rm_config *cfg_ref(struct rm_config *c);
void cfg_unref(struct rm_config *c);

static inline bool
cfg_present(const struct rm_config *c, enum rm_section s)
{
    return (c->present >> s) & 1u;
}

/*
 * cfg_where - where something of c was written, as "file:line:col" (the
 * form of the config errors), for diagnostics that are found after
 * loading, such as a module's init (a key file that does not exist).
 *   sec, block: the section, and for a repeatable section (dkim domain,
 *     karma dnslist) the index of its block in the array (else 0);
 *   directive: the name as in cfg_directives.h (aliases resolve), or NULL
 *     for the section / block itself.
 * If the directive was not written (it has its default), the position of
 * the section or block opening is returned instead; if that is unknown too
 * (the top level, a section that was not written, cfg_defaults), the main
 * file name (c->path, or "config"). A directive written more than once
 * gives its last statement ('=' or '+='). Never NULL; the string belongs
 * to c and lives as long as it.
 */
const char *cfg_where(const struct rm_config *c, enum rm_section sec,
                      size_t block, const char *directive);

/* cfg_dump - the effective config, defaults included, as a valid config
 * file: dump -> parse -> dump gives the same text */
void cfg_dump(const struct rm_config *c, FILE *f);

/* cfg_reference - the directive reference (Markdown for docs/, or roff for
 * rmilter.conf(5)), from the declarations */
enum rm_ref_format { RM_REF_MARKDOWN, RM_REF_ROFF };
void cfg_reference(FILE *f, enum rm_ref_format fmt);

#endif
