/*
 * NAME
 *   test_spamd_map - the spam verdict table and the headers a scan adds
 *
 * DESCRIPTION
 *   The whole table of spamd_map.h, verdict by policy flag, as data; then
 *   the X-Spamd-Result value (order, folding, what a hostile symbol name
 *   or option can do), the rewritten subject, rspamd's remove_headers
 *   indexes and the action names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/spamd_map.h"

/* ---------------------------------------------------------------------- */
/* the table                                                              */
/* ---------------------------------------------------------------------- */

/* policy flags, packed for the table */
enum { SF = 1, GL = 2, NR = 4, AH = 8, NE = 16 };

struct row {
    enum rm_spam_verdict v;
    unsigned flags;
    enum rm_spam_do act;
    bool greylist, header, subject;
    enum rm_spam_action spam;
};

static const struct row rows[] = {
    /* no action: nothing, whatever the policy */
    {RM_SV_NO_ACTION, SF | GL, RM_SPAM_DO_NOTHING, 0, 0, 0, RM_SPAM_NONE},
    {RM_SV_NO_ACTION, 0, RM_SPAM_DO_NOTHING, 0, 0, 0, RM_SPAM_NONE},
    /* greylist: only when greylisting applies */
    {RM_SV_GREYLIST, SF | GL, RM_SPAM_DO_NOTHING, 1, 0, 0, RM_SPAM_GREYLIST},
    {RM_SV_GREYLIST, SF, RM_SPAM_DO_NOTHING, 0, 0, 0, RM_SPAM_GREYLIST},
    /* add header: greylisted first (rmilter.md 12.8, kept), header */
    {RM_SV_ADD_HEADER, SF | GL, RM_SPAM_DO_NOTHING, 1, 1, 0,
     RM_SPAM_ADD_HEADER},
    {RM_SV_ADD_HEADER, SF, RM_SPAM_DO_NOTHING, 0, 1, 0, RM_SPAM_ADD_HEADER},
    {RM_SV_ADD_HEADER, SF | NE, RM_SPAM_DO_NOTHING, 0, 0, 0,
     RM_SPAM_ADD_HEADER},
    /* rewrite subject: the subject; the header only with spam_add_header */
    {RM_SV_REWRITE_SUBJECT, SF, RM_SPAM_DO_NOTHING, 0, 0, 1,
     RM_SPAM_REWRITE_SUBJECT},
    {RM_SV_REWRITE_SUBJECT, SF | AH, RM_SPAM_DO_NOTHING, 0, 1, 1,
     RM_SPAM_REWRITE_SUBJECT},
    {RM_SV_REWRITE_SUBJECT, SF | AH | GL, RM_SPAM_DO_NOTHING, 1, 1, 1,
     RM_SPAM_REWRITE_SUBJECT},
    {RM_SV_REWRITE_SUBJECT, SF | AH | NE, RM_SPAM_DO_NOTHING, 0, 0, 0,
     RM_SPAM_REWRITE_SUBJECT},
    /* soft_fail = no: the mild verdicts reject (never_reject: header) */
    {RM_SV_GREYLIST, GL, RM_SPAM_DO_REJECT, 0, 0, 0, RM_SPAM_REJECT},
    {RM_SV_ADD_HEADER, 0, RM_SPAM_DO_REJECT, 0, 0, 0, RM_SPAM_REJECT},
    {RM_SV_REWRITE_SUBJECT, 0, RM_SPAM_DO_REJECT, 0, 0, 0, RM_SPAM_REJECT},
    {RM_SV_ADD_HEADER, NR, RM_SPAM_DO_NOTHING, 0, 1, 0, RM_SPAM_ADD_HEADER},
    /* soft reject: always a tempfail, never a reject, never a header */
    {RM_SV_SOFT_REJECT, SF, RM_SPAM_DO_TEMPFAIL, 0, 0, 0, RM_SPAM_SOFT_REJECT},
    {RM_SV_SOFT_REJECT, 0, RM_SPAM_DO_TEMPFAIL, 0, 0, 0, RM_SPAM_SOFT_REJECT},
    {RM_SV_SOFT_REJECT, SF | NR | GL, RM_SPAM_DO_TEMPFAIL, 0, 0, 0,
     RM_SPAM_SOFT_REJECT},
    /* reject: reject, or the header with never_reject */
    {RM_SV_REJECT, SF | GL, RM_SPAM_DO_REJECT, 0, 0, 0, RM_SPAM_REJECT},
    {RM_SV_REJECT, SF | NR, RM_SPAM_DO_NOTHING, 0, 1, 0, RM_SPAM_ADD_HEADER},
    {RM_SV_REJECT, SF | NR | NE, RM_SPAM_DO_NOTHING, 0, 0, 0,
     RM_SPAM_ADD_HEADER},
    /* discard and quarantine */
    {RM_SV_DISCARD, SF, RM_SPAM_DO_DISCARD, 0, 0, 0, RM_SPAM_REJECT},
    {RM_SV_DISCARD, SF | NR, RM_SPAM_DO_NOTHING, 0, 1, 0, RM_SPAM_ADD_HEADER},
    {RM_SV_QUARANTINE, SF | NR, RM_SPAM_DO_QUARANTINE, 0, 0, 0, RM_SPAM_REJECT},
};

static void
test_plan_table(void **state)
{
    struct rm_spam_policy p;
    struct rm_spam_plan out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];

        memset(&p, 0, sizeof(p));
        p.soft_fail = r->flags & SF;
        p.greylist = r->flags & GL;
        p.never_reject = r->flags & NR;
        p.spam_add_header = r->flags & AH;
        p.no_edit = r->flags & NE;
        spamd_map_plan(r->v, &p, &out);
        if (out.act != r->act || out.greylist != r->greylist ||
            out.add_header != r->header || out.rewrite_subject != r->subject ||
            out.spam_action != r->spam)
            fail_msg("row %zu (%s, flags %#x): act %d greylist %d header %d "
                     "subject %d spam %d",
                     i, spamd_map_verdict_name(r->v), r->flags, (int)out.act,
                     out.greylist, out.add_header, out.rewrite_subject,
                     (int)out.spam_action);
        assert_non_null(out.why);
    }
}

/* A soft reject never turns into a 5xx, whatever the flags. */
static void
test_soft_reject_never_5xx(void **state)
{
    struct rm_spam_policy p;
    struct rm_spam_plan out;
    unsigned f;

    (void)state;
    for (f = 0; f < 32; f++) {
        p.soft_fail = f & SF;
        p.greylist = f & GL;
        p.never_reject = f & NR;
        p.spam_add_header = f & AH;
        p.no_edit = f & NE;
        spamd_map_plan(RM_SV_SOFT_REJECT, &p, &out);
        assert_int_equal(out.act, RM_SPAM_DO_TEMPFAIL);
    }
}

static void
test_verdict_names(void **state)
{
    bool known;
    int v;

    (void)state;
    for (v = RM_SV_NO_ACTION; v <= RM_SV_QUARANTINE; v++) {
        assert_int_equal(
            spamd_map_verdict_parse(
                spamd_map_verdict_name((enum rm_spam_verdict)v), &known),
            v);
        assert_true(known);
    }
    assert_int_equal(spamd_map_verdict_parse("add_header", &known),
                     RM_SV_ADD_HEADER);
    assert_true(known);
    assert_int_equal(spamd_map_verdict_parse("Soft Reject", &known),
                     RM_SV_SOFT_REJECT);
    assert_int_equal(spamd_map_verdict_parse("explode", &known),
                     RM_SV_NO_ACTION);
    assert_false(known);
    assert_int_equal(spamd_map_verdict_parse(NULL, &known), RM_SV_NO_ACTION);
    assert_false(known);
}

/* ---------------------------------------------------------------------- */
/* X-Spamd-Result                                                         */
/* ---------------------------------------------------------------------- */

static void
test_result_header(void **state)
{
    const char *opts[] = {"text/plain"};
    const char *opts2[] = {"a", "b"};
    struct rm_spam_sym syms[] = {
        {"MIME_GOOD", -0.1, true, opts, 1},  {"GTUBE", 16.0, true, NULL, 0},
        {"BAYES_SPAM", 3.5, true, opts2, 2}, {"ZERO", 0, true, NULL, 0},
        {"AAA_ZERO", 0, true, NULL, 0},
    };
    struct rm_spam_report r = {true, 19.4, 15.0, syms, 5};
    char *h = spamd_map_result_header(&r);

    (void)state;
    assert_string_equal(h, "default: True [19.40 / 15.00]\n"
                           " GTUBE(16.00)\n"
                           " BAYES_SPAM(3.50)[a, b]\n"
                           " MIME_GOOD(-0.10)[text/plain]\n"
                           " AAA_ZERO(0.00)\n"
                           " ZERO(0.00)");
    free(h);
}

static void
test_result_header_sa(void **state)
{
    struct rm_spam_sym syms[] = {
        {"GTUBE", 0, false, NULL, 0},
        {"ALL_TRUSTED", 0, false, NULL, 0},
    };
    struct rm_spam_report r = {false, 2.7, 5.0, syms, 2};
    char *h = spamd_map_result_header(&r);

    (void)state;
    assert_string_equal(h, "default: False [2.70 / 5.00]\n"
                           " ALL_TRUSTED\n"
                           " GTUBE");
    free(h);
}

/* No line break from a symbol or an option can start a header line. */
static void
test_result_header_hostile(void **state)
{
    const char *opts[] = {"x\r\nBcc: victim@example.org", "\x01\x7f"};
    struct rm_spam_sym syms[] = {
        {"EVIL\nX-Injected: 1", 1.0, true, opts, 2},
    };
    struct rm_spam_report r = {false, 1.0, 15.0, syms, 1};
    char *h = spamd_map_result_header(&r);
    const char *p;

    (void)state;
    for (p = h; *p; p++) {
        assert_true((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t');
        assert_true(*p != 0x7f);
        if (*p == '\n')
            assert_true(p[1] == ' ' || p[1] == '\t');
    }
    assert_null(strstr(h, "\nX-Injected"));
    assert_null(strstr(h, "\nBcc"));
    free(h);
}

/* Many symbols: capped, and no line over 998 bytes. */
static void
test_result_header_cap(void **state)
{
    struct rm_spam_sym *syms = calloc(2000, sizeof(*syms));
    struct rm_spam_report r = {true, 1, 1, syms, 2000};
    const char *p, *line;
    char *h;
    size_t i;

    (void)state;
    for (i = 0; i < 2000; i++) {
        syms[i].name = "SOME_LONG_SYMBOL_NAME_FOR_THE_CAP";
        syms[i].score = 1;
        syms[i].has_score = true;
    }
    h = spamd_map_result_header(&r);
    assert_true(strlen(h) < RM_SPAM_RESULT_MAX + 4096);
    for (line = p = h; *p; p++) {
        if (*p == '\n') {
            assert_true((size_t)(p - line) <= 998);
            line = p + 1;
        }
    }
    free(h);
    free(syms);
}

/* ---------------------------------------------------------------------- */
/* subject, remove indexes                                                */
/* ---------------------------------------------------------------------- */

static void
test_subject(void **state)
{
    char *s;

    (void)state;
    s = spamd_map_subject("***SPAM*** %s", "Hello", NULL);
    assert_string_equal(s, "***SPAM*** Hello");
    free(s);
    s = spamd_map_subject("[%s] 100%% spam %s", "x", NULL);
    assert_string_equal(s, "[x] 100% spam x");
    free(s);
    s = spamd_map_subject("***SPAM*** %s", NULL, NULL);
    assert_string_equal(s, "***SPAM***");
    free(s);
    s = spamd_map_subject("%d %", "x", NULL);
    assert_string_equal(s, "%d %");
    free(s);
    /* rspamd's own subject wins */
    s = spamd_map_subject("***SPAM*** %s", "Hello", "*** SPAM *** Hello");
    assert_string_equal(s, "*** SPAM *** Hello");
    free(s);
    /* an original subject cannot smuggle a header in */
    s = spamd_map_subject("***SPAM*** %s", "a\r\nBcc: x@example.org", NULL);
    assert_null(strchr(s, '\r'));
    assert_null(strstr(s, "\nBcc"));
    free(s);
    /* a folded original keeps its fold */
    s = spamd_map_subject("S: %s", "one\n two", NULL);
    assert_string_equal(s, "S: one\n two");
    free(s);
}

static void
test_del_indexes(void **state)
{
    unsigned ix[8];

    (void)state;
    assert_int_equal(spamd_map_del_indexes(0, 3, ix, 8), 3);
    assert_int_equal(ix[0], 3);
    assert_int_equal(ix[1], 2);
    assert_int_equal(ix[2], 1);
    assert_int_equal(spamd_map_del_indexes(0, 0, ix, 8), 0);
    assert_int_equal(spamd_map_del_indexes(2, 3, ix, 8), 1);
    assert_int_equal(ix[0], 2);
    assert_int_equal(spamd_map_del_indexes(4, 3, ix, 8), 0);
    assert_int_equal(spamd_map_del_indexes(-1, 3, ix, 8), 1);
    assert_int_equal(ix[0], 3);
    assert_int_equal(spamd_map_del_indexes(-3, 3, ix, 8), 1);
    assert_int_equal(ix[0], 1);
    assert_int_equal(spamd_map_del_indexes(-4, 3, ix, 8), 0);
    assert_int_equal(spamd_map_del_indexes(0, 20, ix, 8), 8);
    assert_int_equal(ix[0], 20);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_soft_reject_never_5xx),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_result_header),
        cmocka_unit_test(test_result_header_sa),
        cmocka_unit_test(test_result_header_hostile),
        cmocka_unit_test(test_result_header_cap),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_del_indexes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
