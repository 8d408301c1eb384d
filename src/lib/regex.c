/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   regex - /re/flags compiled with PCRE2 (regex.h)
 *
 * DESCRIPTION
 *   A spec is '/', the pattern, the LAST '/' of the spec, then flags from
 *   "imsxu". Taking the last slash lets a pattern hold escaped slashes
 *   (/a\/b/ is the pattern a\/b, which PCRE2 reads as a/b). The pattern is
 *   JIT-compiled when the JIT is available; matching falls back to the
 *   interpreter when the JIT stack runs out, so a long body never turns a
 *   match into a silent miss.
 *
 *   Limits: each pattern carries a match context with a match limit (and
 *   PCRE2's default heap limit). When a match hits one it is logged and
 *   counted as no match: a pathological pattern costs bounded time per
 *   message instead of a thread.
 *
 * OWNERSHIP
 *   struct rm_regex owns the compiled code, its match context and a copy
 *   of the spec. regex_free accepts NULL.
 *
 * THREAD SAFETY
 *   A compiled pattern and its match context are only read after
 *   regex_compile; every regex_match allocates its own match data, so
 *   threads share patterns freely.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/regex.h"
#include "lib/xmalloc.h"

/* Backtracking steps allowed for one match: the base, raised to
 * RM_REGEX_STEPS_PER_BYTE per subject byte for long subjects (a linear
 * pattern over a 1 MB body takes a step or two per byte), up to a cap.
 * Memory is bounded by PCRE2's
 * default heap limit (20 MB); no depth limit, because since PCRE2 10.30
 * backtracking lives on the heap and a long subject legitimately nests
 * deep (a 1 MB body against /(?:a|b)*c/). */
#define RM_REGEX_MATCH_LIMIT 1000000u
#define RM_REGEX_STEPS_PER_BYTE 10u
#define RM_REGEX_MATCH_LIMIT_MAX 200000000u

struct rm_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
    char *src;
};

/* parse_flags - PCRE2 options from the flags after the closing slash */
static int
parse_flags(const char *flags, uint32_t *opts, char *bad)
{
    *opts = 0;
    for (const char *p = flags; *p; p++) {
        switch (*p) {
        case 'i':
            *opts |= PCRE2_CASELESS;
            break;
        case 'm':
            *opts |= PCRE2_MULTILINE;
            break;
        case 's':
            *opts |= PCRE2_DOTALL;
            break;
        case 'x':
            *opts |= PCRE2_EXTENDED;
            break;
        case 'u':
            *opts |= PCRE2_UTF | PCRE2_UCP;
#ifdef PCRE2_MATCH_INVALID_UTF
            /* A subject that is not UTF-8 then simply does not match
             * where it is invalid, instead of failing the whole match. */
            *opts |= PCRE2_MATCH_INVALID_UTF;
#endif
            break;
        default:
            *bad = *p;
            return -1;
        }
    }
    return 0;
}

struct rm_regex *
regex_compile(const char *spec, char *errbuf, size_t errlen)
{
    struct rm_regex *re = NULL;
    const char *last;
    uint32_t opts;
    char badflag = 0;
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    PCRE2_UCHAR msg[256];

    if (spec == NULL || spec[0] != '/' || (last = strrchr(spec, '/')) == spec) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "expected /regexp/flags, found '%s'",
                     spec ? spec : "");
        return NULL;
    }
    if (parse_flags(last + 1, &opts, &badflag) < 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen,
                     "expected regexp flags among i, m, s, x, u, found '%c' "
                     "in '%s'",
                     badflag, spec);
        return NULL;
    }

    re = xcalloc(1, sizeof(*re));
    re->code =
        pcre2_compile((PCRE2_SPTR)(spec + 1), (PCRE2_SIZE)(last - spec - 1),
                      opts, &errcode, &erroff, NULL);
    if (re->code == NULL) {
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "invalid regexp '%s': %s at offset %zu",
                     spec, (const char *)msg, (size_t)erroff);
        goto fail;
    }
    /* Without JIT support the interpreter serves; nothing to report.
     * RMILTER_NO_JIT=1 turns JIT off (valgrind cannot follow JIT code). */
    if (getenv("RMILTER_NO_JIT") == NULL)
        (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);

    re->mctx = pcre2_match_context_create(NULL);
    if (re->mctx == NULL) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory compiling '%s'", spec);
        goto fail;
    }
    pcre2_set_match_limit(re->mctx, RM_REGEX_MATCH_LIMIT);
    re->src = xstrdup(spec);
    return re;

fail:
    regex_free(re);
    return NULL;
}

void
regex_free(struct rm_regex *re)
{
    if (re == NULL)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_code_free(re->code);
    free(re->src);
    free(re);
}

bool
regex_match(const struct rm_regex *re, const char *s, size_t len)
{
    pcre2_match_data *md;
    pcre2_match_context *own = NULL, *mctx = re ? re->mctx : NULL;
    int rc;

    if (re == NULL || s == NULL)
        return false;
    md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (md == NULL) {
        msg_err("regexp %s: cannot allocate match data", re->src);
        return false;
    }
    if (len > RM_REGEX_MATCH_LIMIT / RM_REGEX_STEPS_PER_BYTE) {
        /* A long subject gets its own context with a larger limit; the
         * shared one is never written after compilation. */
        uint64_t limit = (uint64_t)len * RM_REGEX_STEPS_PER_BYTE;

        own = pcre2_match_context_copy(re->mctx);
        if (own) {
            pcre2_set_match_limit(own, limit > RM_REGEX_MATCH_LIMIT_MAX
                                           ? RM_REGEX_MATCH_LIMIT_MAX
                                           : (uint32_t)limit);
            mctx = own;
        }
    }
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, (PCRE2_SIZE)len, 0, 0, md, mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, (PCRE2_SIZE)len, 0,
                         PCRE2_NO_JIT, md, mctx);
    pcre2_match_context_free(own);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return true;
    if (rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[128];

        if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", rc);
        msg_warn("regexp %s: %s; counted as no match", re->src,
                 (const char *)msg);
    }
    return false;
}

const char *
regex_source(const struct rm_regex *re)
{
    return re ? re->src : NULL;
}
