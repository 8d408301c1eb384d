/*
 * NAME
 *   cfg_value - typed setters: the words of one statement into a value
 *
 * DESCRIPTION
 *   The grammar hands each statement over as its words (struct rm_word:
 *   text with quotes removed and escapes resolved, whether it was quoted,
 *   and its position). cfg_value_set checks them against the directive's
 *   type and bounds and stores the result; it is pure (no I/O, no globals)
 *   so it is unit-tested and fuzzed apart from the grammar.
 *
 *   Lists (IPLIST, SOCKETS, SERVERS, STRLIST, RCPTLIST) take any number of
 *   words; `=` replaces the list, `+=` appends. Every other type takes
 *   exactly one word. A word may itself hold a comma or blank separated list
 *   ("a, b" quoted), which list setters split.
 */
#ifndef RM_CFG_VALUE_H
#define RM_CFG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cfg/cfg.h"

/* One declared directive (a row of cfg_directives.h). */
struct rm_dirinfo {
    enum rm_section sec;
    const char *name;
    enum rm_vtype type;
    size_t offset; /* of the field in struct rm_cfg_<sec> */
    const char *def;
    double min, max;
    const char *aux;
    const char *doc;
};

struct rm_word {
    const char *s;
    bool quoted;
    int line, col;
};

/* cfg_value_set - parse words[0..n) into the field at dst.
 * Returns 0, or -1 with err holding "expected ..., found '...'" and
 * *bad set to the index of the offending word (for its position); when no
 * word is to blame (n == 0, or `+=` on a scalar) *bad is 0 and may equal n.
 * On failure the field is left exactly as it was. dst must be zeroed or
 * hold a valid value (it is replaced, or for `+=` on a list, extended).
 * After a successful set (and after cfg_value_set_default): STR is never
 * NULL ("" = unset), IPLIST is never NULL (an empty list = none), REGEX is
 * NULL exactly when the value was "". */
int cfg_value_set(const struct rm_dirinfo *d, void *dst,
                  const struct rm_word *words, size_t n, bool append, char *err,
                  size_t errlen, size_t *bad);

/* cfg_value_set_default - store d->def (must not fail for valid tables) */
int cfg_value_set_default(const struct rm_dirinfo *d, void *dst, char *err,
                          size_t errlen);

/* cfg_value_free - release what the field owns and zero it */
void cfg_value_free(const struct rm_dirinfo *d, void *dst);

/* cfg_value_format - the value as it must be written in the config so that
 * parsing it back gives the same value (quoted where needed). NOOP has no
 * value to write (it prints ""); dumps leave NOOP directives out. */
void cfg_value_format(const struct rm_dirinfo *d, const void *src, FILE *f);

/* Units, exposed for tests and other parsers. 0 or -1. */
int cfg_parse_time(const char *s, bool bare_is_seconds, uint64_t *ms);
int cfg_parse_size(const char *s, uint64_t *bytes);
int cfg_parse_flag(const char *s, bool *v);
int cfg_parse_socket(const char *s, struct rm_sockspec *out, char *err,
                     size_t errlen);
int cfg_parse_server(const char *s, uint16_t default_port,
                     struct rm_server *out, char *err, size_t errlen);
void cfg_sockspec_free(struct rm_sockspec *s);
void cfg_server_free(struct rm_server *s);

#endif
