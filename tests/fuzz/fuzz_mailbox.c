/*
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * NAME
 *   fuzz_mailbox - libFuzzer target for what `rmilter replay` reads
 *
 * DESCRIPTION
 *   Each input is read as a mailbox (an mbox when it starts with "From ",
 *   else one message file) through an in-memory file, and every message is
 *   split into headers and body and given an envelope from its headers
 *   (Received:, Return-Path:, recipients, dates). The same bytes are then
 *   parsed as an envelope sidecar. Nothing is checked beyond the
 *   absence of crashes, undefined behaviour and leaks, which the sanitizers
 *   report.
 *
 *   RM_FUZZ_LIBS: rm_replay rm_milter rm_modules rm_core rm_store rm_cfg rm_net rm_proto rm_lib
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "replay/replay_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_msgs msgs = {0};
    struct rp_sidecar *sc = NULL;
    struct rp_parsed p;
    struct rp_env env;
    struct rp_err err;
    char path[64], t[32];
    size_t i;
    int fd;

    if (size > 1 << 20)
        return 0;
    fd = memfd_create("fuzz-mailbox", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (rp_mailbox_read(path, &msgs) == 0) {
        for (i = 0; i < msgs.n; i++) {
            rp_parse(msgs.v[i].data, msgs.v[i].len, &p);
            if (rp_envelope(&msgs.v[i], i + 1, &p, NULL, &env, &err) == 0)
                rp_format_time(env.time_ms, t, sizeof(t));
            rp_env_free(&env);
            rp_parsed_free(&p);
        }
    }
    rp_msgs_free(&msgs);
    if (rp_sidecar_load(path, true, &sc, &err) == 0)
        rp_sidecar_free(sc);
    close(fd);
    return 0;
}
