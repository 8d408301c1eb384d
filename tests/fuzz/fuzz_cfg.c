/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   fuzz_cfg - libFuzzer target for the rmilter.conf parser and loader
 *
 * DESCRIPTION
 *   Each input is loaded as a config file (includes refused, so the fuzzer
 *   never reads files of the machine). When it loads, it is dumped, the
 *   dump is loaded again and dumped again: the second load must succeed
 *   and the two dumps must be byte-identical, else the target aborts.
 *   Memory errors and leaks are the sanitizers' to find.
 *
 *   RM_FUZZ_LIBS: rm_cfg rm_lib
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "cfg/cfg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
dump(const struct rm_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        abort();
    cfg_dump(c, f);
    fclose(f);
    return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rm_config *c = NULL, *c2 = NULL;
    struct rm_diag d = {0}, d2 = {0};
    char *dump1 = NULL, *dump2 = NULL;

    if (size > 65536)
        return 0;
    if (cfg__load_string_flags("fuzz", (const char *)data, size,
                               CFG_LOAD_NO_INCLUDES, &c, &d) < 0)
        goto out;
    dump1 = dump(c);
    if (cfg__load_string_flags("dump", dump1, strlen(dump1),
                               CFG_LOAD_NO_INCLUDES, &c2, &d2) < 0) {
        fprintf(stderr, "fuzz_cfg: the dump does not load:\n");
        diag_print(&d2, stderr);
        fprintf(stderr, "--- dump:\n%s", dump1);
        abort();
    }
    dump2 = dump(c2);
    if (strcmp(dump1, dump2) != 0) {
        fprintf(stderr,
                "fuzz_cfg: dump -> load -> dump differs\n"
                "--- first:\n%s--- second:\n%s",
                dump1, dump2);
        abort();
    }
out:
    free(dump1);
    free(dump2);
    if (c)
        cfg_unref(c);
    if (c2)
        cfg_unref(c2);
    diag_free(&d);
    diag_free(&d2);
    return 0;
}
