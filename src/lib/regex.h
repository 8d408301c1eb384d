/*
 * NAME
 *   regex - compiled PCRE2 regular expressions written as /re/flags
 *
 * DESCRIPTION
 *   The config writes a regexp as `/pattern/flags` (flags: i caseless,
 *   m multiline, s dotall, x extended, u utf). Matching is thread-safe:
 *   each call uses its own match data. Matching is bounded by PCRE2's match
 *   limit, so a hostile pattern/subject pair cannot spin forever.
 */
#ifndef RM_REGEX_H
#define RM_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct rm_regex;

/* regex_compile - from "/re/flags" (slashes required); NULL with errbuf set
 * ("expected /regexp/flags", or PCRE2's message with its offset) */
struct rm_regex *regex_compile(const char *spec, char *errbuf, size_t errlen);
void regex_free(struct rm_regex *re);
/* regex_match - true if the pattern matches anywhere in s[0..len) */
bool regex_match(const struct rm_regex *re, const char *s, size_t len);
/* regex_source - "/re/flags" as written */
const char *regex_source(const struct rm_regex *re);

#endif
