/*
 * NAME
 *   cfg_internal - shared internals of the config layer (not for modules)
 *
 * DESCRIPTION
 *   The config layer works in two passes. cfg_parse.y / cfg_lex.l turn the
 *   bytes of one file into a syntax tree of struct cfg_node (statements with
 *   their words and positions) and report syntax errors. cfg.c then walks
 *   the tree ("apply"): it resolves .include, looks each statement up in the
 *   directive table generated from cfg_directives.h, calls the typed setters
 *   of cfg_value.c, builds rules (cfg_rule.c) and runs the semantic checks.
 *   cfg_dump.c writes --dump-config and the directive reference.
 *
 *   Everything here is per load: no globals, so loads can run concurrently
 *   (a reload while the fuzzer runs, tests in parallel).
 *
 *   Ownership: a cfg_node owns its name, its words' strings and its
 *   children. File names (cfg_node.file) are interned in the struct
 *   cfg_load and outlive every tree of that load.
 */
#ifndef RM_CFG_INTERNAL_H
#define RM_CFG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfg/cfg.h"
#include "cfg/cfg_value.h"

#define CFG_MAX_ERRORS 50
#define CFG_MAX_INCLUDE_DEPTH 32

enum cfg_node_kind {
    CFG_N_ASSIGN,      /* name = words; */
    CFG_N_APPEND,      /* name += words; */
    CFG_N_BLOCK,       /* name { children } */
    CFG_N_WORDS,       /* name words...; (the rule statement form) */
    CFG_N_INCLUDE,     /* .include words[0] */
    CFG_N_TRY_INCLUDE, /* .try_include words[0] */
};

struct cfg_node {
    enum cfg_node_kind kind;
    char *name; /* NULL for includes */
    const char *file;
    int line, col;         /* of the name (or of .include) */
    int end_line, end_col; /* of the terminating ';' or '}' (0 if none) */
    struct rm_word *words; /* values or arguments; s is owned */
    size_t n_words, cap_words;
    int group_line, group_col; /* first {a, b} group in a value list */
    struct cfg_node *children; /* CFG_N_BLOCK */
    struct cfg_node *next;
};

/* One load: the generation being built, diagnostics and include state. */
struct cfg_load {
    struct rm_config *cfg;
    struct rm_diag *diag;
    unsigned flags; /* CFG_LOAD_* */
    char **files;   /* interned file names */
    size_t n_files;
    char *stack[CFG_MAX_INCLUDE_DEPTH + 1]; /* realpaths being read */
    int depth;
    size_t n_errors; /* errors of this load */
    bool stopped;    /* error cap reached */
    void *apply;     /* cfg.c's per-load apply state */
};

enum {
    CFG_LOAD_NO_INCLUDES = 1u << 0, /* .include is an error (fuzzing) */
};

/* One parse of one buffer, shared by the lexer and the grammar. */
struct cfg_parse {
    struct cfg_load *load;
    const char *file;
    struct cfg_node *root; /* the statements of the file */
    /* lexer position: the next character's line and column (1-based) */
    int line, col;
    /* the last two tokens, for friendly syntax errors */
    int tok, prev_tok, prev2_tok;
    char tok_text[64], prev_text[64];
    char stmt_name[64]; /* name of the statement being parsed */
    bool at_stmt_start;
    /* open braces: name and position, for "expected '}'" messages */
    struct {
        char name[32];
        int line, col;
    } open[16];
    int n_open;
    int lex_errors; /* the lexer already reported the current error */
    int n_errors;   /* syntax and lexical errors in this buffer */
};

/* diagnostics (cfg.c) */
void cfg__error(struct cfg_load *l, const char *file, int line, int col,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void cfg__warn(struct cfg_load *l, const char *file, int line, int col,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
const char *cfg__intern_file(struct cfg_load *l, const char *name);

/* syntax tree (cfg_parse.y) */
int cfg__parse_buffer(struct cfg_load *l, const char *file, const char *text,
                      size_t len, struct cfg_node **out);
void cfg__node_free(struct cfg_node *n);

/* directive table (cfg.c) */
struct cfg_secinfo {
    enum rm_section id;
    const char *name;
    int parent; /* enum rm_section, or -1 */
    enum { CFG_SINGLE, CFG_MULTI, CFG_IGNORED, CFG_RULE } kind;
    const char *doc;
    size_t off;   /* SINGLE: the struct in rm_config; MULTI: the array */
    size_t n_off; /* MULTI: the count in rm_config */
    size_t size;  /* sizeof(struct rm_cfg_<id>) */
};
extern const struct cfg_secinfo cfg__sections[RM_SEC_COUNT];
extern const struct rm_dirinfo cfg__dirs[];
extern const size_t cfg__n_dirs;
struct cfg_alias {
    enum rm_section sec;
    const char *alias, *name;
};
extern const struct cfg_alias cfg__aliases[];
extern const size_t cfg__n_aliases;

const struct rm_dirinfo *cfg__find_dir(enum rm_section sec, const char *name);
size_t cfg__edit_distance(const char *a, const char *b);
bool cfg__is_list_type(enum rm_vtype t);

/* rules (cfg_rule.c) */
struct cfg_rule_builder {
    struct rm_rule rule;
    bool has_action;
    int action_line;
    size_t cap_conds;
    bool failed;
};
void cfg__rule_stmt(struct cfg_load *l, struct cfg_rule_builder *b,
                    const struct cfg_node *n);
void cfg__rule_finish(struct cfg_load *l, struct cfg_rule_builder *b,
                      const struct cfg_node *blk);
void cfg__rule_free(struct rm_rule *r);
void cfg__rule_dump(const struct rm_rule *r, FILE *f);

/* quoting for dumps (cfg_dump.c) */
void cfg__write_quoted(FILE *f, const char *s);

/* internal load entry point, with CFG_LOAD_* flags */
int cfg__load_string_flags(const char *name, const char *text, size_t len,
                           unsigned flags, struct rm_config **out,
                           struct rm_diag *diag);

#endif
