/*
 * NAME
 *   cfg_parse - the rmilter.conf grammar (reentrant bison parser)
 *
 * DESCRIPTION
 *   A generic grammar: it knows statements, not directives. The file is a
 *   list of statements:
 *
 *     name = value, value, ...;      assign (an empty list is allowed)
 *     name += value, ...;            append to a list
 *     name { statements }            section; a ';' after '}' is allowed
 *     name word word ...;            rule statement: reject "text";
 *                                    not header /a/ /b/;
 *     .include glob                  include (cfg.c resolves it)
 *     .try_include glob              include, missing files are fine
 *     ;                              empty statement
 *
 *   At the top level the ';' after an assignment may be left out (rmilter
 *   master); inside sections it is required, as in every version of the
 *   original. A value may be a brace group {a, b} (the memcached mirror
 *   pairs of rmilter 1.6): its words are flattened into the list and the
 *   group's position is kept so that cfg.c can warn.
 *
 *   Actions build struct cfg_node trees (cfg_internal.h); nothing is
 *   looked up here. Syntax errors are rewritten into "expected X, found Y"
 *   with the help of the token history kept by the lexer; after an error
 *   the parser skips to the next ';' and goes on, so one run reports
 *   several errors. %destructor frees whatever error recovery throws away.
 *
 *   Pure parser, no globals: the state is the scanner and struct cfg_parse.
 */
%define api.pure full
%define api.prefix {cfg_yy}
%define api.token.prefix {CFG_TOK_}
%define parse.error custom
%locations
%param {yyscan_t scanner}
%parse-param {struct cfg_parse *st}

%code requires {
#include "cfg/cfg_internal.h"
#ifndef RM_YYSCAN_T
#define RM_YYSCAN_T
typedef void *yyscan_t;
#endif
struct cfg_nlist {
    struct cfg_node *head, *tail;
};
}

%code provides {
int cfg_yylex(CFG_YYSTYPE *lval, CFG_YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

static void cfg_yyerror(CFG_YYLTYPE *loc, yyscan_t scanner,
                        struct cfg_parse *st, const char *msg);
static struct cfg_node *node_new(struct cfg_parse *st,
                                 enum cfg_node_kind kind,
                                 const CFG_YYLTYPE *loc);
static void node_word(struct cfg_node *n, char *s, bool quoted,
                      const CFG_YYLTYPE *loc);
static void node_merge(struct cfg_node *dst, struct cfg_node *src);
static struct cfg_node *stmt(struct cfg_parse *st, enum cfg_node_kind kind,
                             char *name, const CFG_YYLTYPE *nameloc,
                             struct cfg_node *words,
                             const CFG_YYLTYPE *endloc);
static struct cfg_nlist list_add(struct cfg_nlist l, struct cfg_node *n);
}

%union {
    char *str;
    struct cfg_node *node;
    struct cfg_nlist list;
}

%token <str> WORD "name or value"
%token <str> STRING "quoted string"
%token PLUSEQ "'+='"
%token INCLUDE "'.include'"
%token TRY_INCLUDE "'.try_include'"
%token LEXERR "lexical error"
%token EQ "'='"
%token SEMI "';'"
%token LBRACE "'{'"
%token RBRACE "'}'"
%token COMMA "','"
%token END 0 "end of file"

%type <list> top_list sect_list
%type <node> top_stmt sect_stmt words_stmt block include vlist group glist
%type <node> args

%destructor { free($$); } <str>
%destructor { cfg__node_free($$); } <node>
%destructor { cfg__node_free($$.head); } <list>

%%

file:
    top_list                { st->root = $1.head; }
    ;

top_list:
    %empty                  { $$.head = $$.tail = NULL; }
    | top_list top_stmt     { $$ = list_add($1, $2); }
    ;

top_stmt:
    WORD EQ vlist          { $$ = stmt(st, CFG_N_ASSIGN, $1, &@1, $3, NULL); }
    | WORD PLUSEQ vlist     { $$ = stmt(st, CFG_N_APPEND, $1, &@1, $3, NULL); }
    | WORD EQ SEMI          { $$ = stmt(st, CFG_N_ASSIGN, $1, &@1, NULL, &@3); }
    | WORD PLUSEQ SEMI       { $$ = stmt(st, CFG_N_APPEND, $1, &@1, NULL, &@3); }
    | words_stmt
    | block
    | include
    | SEMI                   { $$ = NULL; }
    | error SEMI             { $$ = NULL; if (st->load->stopped) YYABORT; }
    ;

sect_list:
    %empty                  { $$.head = $$.tail = NULL; }
    | sect_list sect_stmt   { $$ = list_add($1, $2); }
    ;

sect_stmt:
    WORD EQ vlist SEMI      { $$ = stmt(st, CFG_N_ASSIGN, $1, &@1, $3, &@4); }
    | WORD PLUSEQ vlist SEMI { $$ = stmt(st, CFG_N_APPEND, $1, &@1, $3, &@4); }
    | WORD EQ SEMI          { $$ = stmt(st, CFG_N_ASSIGN, $1, &@1, NULL, &@3); }
    | WORD PLUSEQ SEMI       { $$ = stmt(st, CFG_N_APPEND, $1, &@1, NULL, &@3); }
    | words_stmt
    | block
    | include
    | SEMI                   { $$ = NULL; }
    | error SEMI             { $$ = NULL; if (st->load->stopped) YYABORT; }
    ;

words_stmt:
    WORD args SEMI           { $$ = stmt(st, CFG_N_WORDS, $1, &@1, $2, &@3); }
    | WORD SEMI              { $$ = stmt(st, CFG_N_WORDS, $1, &@1, NULL, &@2); }
    ;

args:
    WORD                    { $$ = node_new(st, CFG_N_WORDS, &@1);
                              node_word($$, $1, false, &@1); }
    | STRING                { $$ = node_new(st, CFG_N_WORDS, &@1);
                              node_word($$, $1, true, &@1); }
    | args WORD             { $$ = $1; node_word($$, $2, false, &@2); }
    | args STRING           { $$ = $1; node_word($$, $2, true, &@2); }
    ;

block:
    WORD LBRACE sect_list RBRACE  {
                                $$ = stmt(st, CFG_N_BLOCK, $1, &@1, NULL, &@4);
                                $$->children = $3.head;
                            }
    | WORD LBRACE sect_list error RBRACE {
                                /* resynchronize at the section's '}' */
                                $$ = stmt(st, CFG_N_BLOCK, $1, &@1, NULL, &@5);
                                $$->children = $3.head;
                                if (st->load->stopped) {
                                    /* $$ is not on the stack yet */
                                    cfg__node_free($$);
                                    YYABORT;
                                }
                            }
    ;

include:
    INCLUDE WORD            { $$ = node_new(st, CFG_N_INCLUDE, &@1);
                              node_word($$, $2, false, &@2); }
    | INCLUDE STRING        { $$ = node_new(st, CFG_N_INCLUDE, &@1);
                              node_word($$, $2, true, &@2); }
    | TRY_INCLUDE WORD      { $$ = node_new(st, CFG_N_TRY_INCLUDE, &@1);
                              node_word($$, $2, false, &@2); }
    | TRY_INCLUDE STRING    { $$ = node_new(st, CFG_N_TRY_INCLUDE, &@1);
                              node_word($$, $2, true, &@2); }
    ;

vlist:
    WORD                    { $$ = node_new(st, CFG_N_ASSIGN, &@1);
                              node_word($$, $1, false, &@1); }
    | STRING                { $$ = node_new(st, CFG_N_ASSIGN, &@1);
                              node_word($$, $1, true, &@1); }
    | group                 { $$ = $1; }
    | vlist COMMA WORD        { $$ = $1; node_word($$, $3, false, &@3); }
    | vlist COMMA STRING      { $$ = $1; node_word($$, $3, true, &@3); }
    | vlist COMMA group       { $$ = $1; node_merge($$, $3); }
    ;

group:
    LBRACE glist RBRACE           {
                                $$ = $2;
                                $$->group_line = @1.first_line;
                                $$->group_col = @1.first_column;
                            }
    | LBRACE RBRACE               {
                                $$ = node_new(st, CFG_N_ASSIGN, &@1);
                                $$->group_line = @1.first_line;
                                $$->group_col = @1.first_column;
                            }
    ;

glist:
    WORD                    { $$ = node_new(st, CFG_N_ASSIGN, &@1);
                              node_word($$, $1, false, &@1); }
    | STRING                { $$ = node_new(st, CFG_N_ASSIGN, &@1);
                              node_word($$, $1, true, &@1); }
    | glist COMMA WORD        { $$ = $1; node_word($$, $3, false, &@3); }
    | glist COMMA STRING      { $$ = $1; node_word($$, $3, true, &@3); }
    ;

%%

static struct cfg_node *
node_new(struct cfg_parse *st, enum cfg_node_kind kind,
         const CFG_YYLTYPE *loc)
{
    struct cfg_node *n = xcalloc(1, sizeof(*n));

    n->kind = kind;
    n->file = st->file;
    n->line = loc->first_line;
    n->col = loc->first_column;
    return n;
}

/* node_word - append a word; the node takes s */
static void
node_word(struct cfg_node *n, char *s, bool quoted, const CFG_YYLTYPE *loc)
{
    if (n->n_words == n->cap_words) {
        n->cap_words = n->cap_words ? n->cap_words * 2 : 4;
        n->words = xrealloc(n->words, n->cap_words * sizeof(*n->words));
    }
    n->words[n->n_words].s = s;
    n->words[n->n_words].quoted = quoted;
    n->words[n->n_words].line = loc->first_line;
    n->words[n->n_words].col = loc->first_column;
    n->n_words++;
}

/* node_merge - move src's words (a brace group) to the end of dst */
static void
node_merge(struct cfg_node *dst, struct cfg_node *src)
{
    for (size_t i = 0; i < src->n_words; i++) {
        CFG_YYLTYPE loc = {src->words[i].line, src->words[i].col, 0, 0};
        node_word(dst, (char *)src->words[i].s, src->words[i].quoted, &loc);
    }
    if (dst->group_line == 0) {
        dst->group_line = src->group_line;
        dst->group_col = src->group_col;
    }
    src->n_words = 0;
    cfg__node_free(src);
}

/* stmt - finish a statement: words (may be NULL) become its words */
static struct cfg_node *
stmt(struct cfg_parse *st, enum cfg_node_kind kind, char *name,
     const CFG_YYLTYPE *nameloc, struct cfg_node *words,
     const CFG_YYLTYPE *endloc)
{
    struct cfg_node *n = words ? words : node_new(st, kind, nameloc);

    n->kind = kind;
    n->name = name;
    n->line = nameloc->first_line;
    n->col = nameloc->first_column;
    if (endloc) {
        n->end_line = endloc->first_line;
        n->end_col = endloc->first_column;
    }
    return n;
}

static struct cfg_nlist
list_add(struct cfg_nlist l, struct cfg_node *n)
{
    if (n == NULL)
        return l;
    if (l.tail)
        l.tail->next = n;
    else
        l.head = n;
    l.tail = n;
    return l;
}

void
cfg__node_free(struct cfg_node *n)
{
    while (n) {
        struct cfg_node *next = n->next;

        for (size_t i = 0; i < n->n_words; i++)
            free((char *)n->words[i].s);
        free(n->words);
        free(n->name);
        cfg__node_free(n->children);
        free(n);
        n = next;
    }
}

/* --- syntax error messages ----------------------------------------------- */

static void
cfg_yyerror(CFG_YYLTYPE *loc, yyscan_t scanner, struct cfg_parse *st,
            const char *msg)
{
    (void)scanner;
    st->n_errors++;
    cfg__error(st->load, st->file, loc->first_line, loc->first_column, "%s",
               msg);
}

/* found - how the lookahead token is named in a message */
static void
found(char *buf, size_t len, int kind, const char *text)
{
    switch (kind) {
    case YYSYMBOL_YYEOF:
        snprintf(buf, len, "end of file");
        break;
    case YYSYMBOL_STRING:
        snprintf(buf, len, "\"%s\"", text);
        break;
    default:
        snprintf(buf, len, "'%s'", text);
        break;
    }
}

static const char *
tok_name(int kind)
{
    switch (kind) {
    case YYSYMBOL_YYEOF:
        return "end of file";
    case YYSYMBOL_WORD:
        return "a name or value";
    case YYSYMBOL_STRING:
        return "a quoted string";
    case YYSYMBOL_PLUSEQ:
        return "'+='";
    case YYSYMBOL_INCLUDE:
        return "'.include'";
    case YYSYMBOL_TRY_INCLUDE:
        return "'.try_include'";
    case YYSYMBOL_EQ:
        return "'='";
    case YYSYMBOL_SEMI:
        return "';'";
    case YYSYMBOL_LBRACE:
        return "'{'";
    case YYSYMBOL_RBRACE:
        return "'}'";
    case YYSYMBOL_COMMA:
        return "','";
    default:
        return "something else";
    }
}

static int
yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner,
                      struct cfg_parse *st)
{
    yysymbol_kind_t exp[YYNTOKENS], la = yypcontext_token(ctx);
    const CFG_YYLTYPE *loc = yypcontext_location(ctx);
    bool has[YYNTOKENS] = {false};
    char what[96], msg[320];
    int n, prev = st->prev_tok;
    const char *name = st->stmt_name;

    (void)scanner;
    if (la == YYSYMBOL_LEXERR)
        return 0; /* the lexer has said what is wrong */
    n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    for (int i = 0; i < n; i++)
        if (exp[i] >= 0 && exp[i] < YYNTOKENS)
            has[exp[i]] = true;
    found(what, sizeof(what), la, st->tok_text);

    if (has[YYSYMBOL_EQ]) {
        /* after the name at the start of a statement */
        snprintf(msg, sizeof(msg), "expected '=' after '%s', found %s",
                 st->prev_text, what);
    } else if (has[YYSYMBOL_COMMA] && has[YYSYMBOL_RBRACE]) {
        snprintf(msg, sizeof(msg),
                 "expected ',' or '}' in the {...} group of '%s', found %s",
                 name, what);
    } else if (has[YYSYMBOL_COMMA]) {
        snprintf(msg, sizeof(msg),
                 "expected ';' after the value of '%s', found %s", name,
                 what);
    } else if (prev == CFG_TOK_INCLUDE || prev == CFG_TOK_TRY_INCLUDE) {
        snprintf(msg, sizeof(msg), "expected a file name after '%s', found %s",
                 prev == CFG_TOK_INCLUDE ? ".include" : ".try_include", what);
    } else if (prev == CFG_TOK_EQ || prev == CFG_TOK_PLUSEQ) {
        snprintf(msg, sizeof(msg),
                 "expected a value or ';' after '%s %s', found %s", name,
                 prev == CFG_TOK_EQ ? "=" : "+=", what);
    } else if (prev == CFG_TOK_COMMA) {
        snprintf(msg, sizeof(msg),
                 "expected a value after ',' in '%s', found %s", name, what);
    } else if (has[YYSYMBOL_INCLUDE]) {
        /* at the start of a statement */
        if ((la == YYSYMBOL_EQ || la == YYSYMBOL_PLUSEQ) &&
            prev == CFG_TOK_WORD &&
            (st->prev2_tok == CFG_TOK_EQ || st->prev2_tok == CFG_TOK_PLUSEQ ||
             st->prev2_tok == CFG_TOK_COMMA)) {
            /* top level: a = b = c */
            snprintf(msg, sizeof(msg),
                     "expected ';' after the value of '%s', found %s", name,
                     what);
        } else if (la == YYSYMBOL_RBRACE && !has[YYSYMBOL_RBRACE]) {
            snprintf(msg, sizeof(msg),
                     "found '}' but no section is open");
        } else if (la == YYSYMBOL_YYEOF && st->n_open > 0) {
            int i = st->n_open - 1;

            if (i >= (int)(sizeof(st->open) / sizeof(st->open[0])))
                i = (int)(sizeof(st->open) / sizeof(st->open[0])) - 1;
            snprintf(msg, sizeof(msg),
                     "expected '}' to close '%s' (opened at line %d), "
                     "found end of file",
                     st->open[i].name, st->open[i].line);
        } else if (has[YYSYMBOL_RBRACE]) {
            snprintf(msg, sizeof(msg),
                     "expected a directive name or '}', found %s", what);
        } else {
            snprintf(msg, sizeof(msg),
                     "expected a directive or section name, found %s", what);
        }
    } else if (prev == CFG_TOK_LBRACE && has[YYSYMBOL_RBRACE]) {
        snprintf(msg, sizeof(msg), "expected a value or '}' in the {...} "
                                   "group of '%s', found %s",
                 name, what);
    } else if (has[YYSYMBOL_SEMI] && has[YYSYMBOL_WORD]) {
        snprintf(msg, sizeof(msg), "expected ';' after '%s ...', found %s",
                 name, what);
    } else {
        size_t off = (size_t)snprintf(msg, sizeof(msg), "expected ");

        for (int i = 0; i < n && off < sizeof(msg); i++)
            off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s",
                                    i == 0 ? "" : i + 1 == n ? " or " : ", ",
                                    tok_name(exp[i]));
        if (off < sizeof(msg))
            snprintf(msg + off, sizeof(msg) - off, ", found %s", what);
    }
    st->n_errors++;
    cfg__error(st->load, st->file, loc->first_line, loc->first_column, "%s",
               msg);
    return 0;
}
