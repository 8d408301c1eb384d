/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   replay - run a fuzz target over files, without libFuzzer
 *
 * DESCRIPTION
 *   Linked with one fuzz_<name>.c in builds without -DFUZZ=ON (gcc), so
 *   every corpus in tests/fuzz/corpus/ is a regression test under ctest,
 *   sanitizers included. Arguments are files or directories (each file in
 *   a directory is run, in name order). Exits 0 when every input ran; a
 *   failing input aborts the target, which fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* run_file - the whole file through the target; 0 or -1 */
static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, got;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    do {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char **argv)
{
    size_t runs = 0;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        struct dirent **ents;
        int n;

        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc |= run_file(argv[i]);
            runs++;
            continue;
        }
        n = scandir(argv[i], &ents, NULL, by_name);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];

            if (ents[k]->d_name[0] != '.') {
                snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
                rc |= run_file(path);
                runs++;
            }
            free(ents[k]);
        }
        free(ents);
    }
    printf("replayed %zu inputs\n", runs);
    return rc ? 1 : 0;
}
