/*
 * config_support.h - load a test config generation and drop it again
 *
 * Header-only, for the unit tests that drive sessions through the
 * pipeline: load() parses a printf-formatted config and initialises its
 * modules (any diagnostic is printed, then the test fails); unload()
 * releases the module state itself before cfg_unref, so a test does not
 * depend on cfg_unref calling modules_state_free (it must; the hook is
 * cleared first so it can't run twice).
 */
#ifndef RM_TEST_CONFIG_SUPPORT_H
#define RM_TEST_CONFIG_SUPPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cfg/cfg.h"
#include "core/pipeline.h"

static struct rm_config *
load(const char *fmt, ...)
{
    struct rm_config *c = NULL;
    struct rm_diag d = {0};
    char text[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    rc = cfg_load_string("t.conf", text, strlen(text), &c, &d);
    if (rc != 0)
        diag_print(&d, stderr);
    assert_int_equal(rc, 0);
    rc = pipeline_generation_init(c, &d);
    if (rc != 0)
        diag_print(&d, stderr);
    assert_int_equal(rc, 0);
    diag_free(&d);
    return c;
}

static void
unload(struct rm_config *c)
{
    if (c->modules_state_free != NULL) {
        c->modules_state_free(c->modules_state);
        c->modules_state = NULL;
        c->modules_state_free = NULL;
    }
    cfg_unref(c);
}

#endif
