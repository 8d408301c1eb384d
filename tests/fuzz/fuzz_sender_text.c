/*
 * NAME
 *   fuzz_sender_text - libFuzzer target for the sender texts the DKIM and
 *   SPF modules parse or quote
 *
 * DESCRIPTION
 *   The input is split at NUL bytes into up to three strings, all of them
 *   what a client controls: a From: header value, an envelope sender and a
 *   HELO name. The first goes through dkim_from_domain (whose result must
 *   be a non-empty lowercase host name), all three into a Received-SPF
 *   header (spf_header_value: no CR, every LF followed by a blank) and an
 *   SPF reject text (spf_action: printable ASCII only). The sanitizers
 *   report the rest.
 *
 *   RM_FUZZ_LIBS: rm_modules rm_core rm_store rm_cfg rm_net rm_proto rm_lib
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/dkim_keys.h"
#include "modules/spf_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_header(const char *h)
{
    size_t i;

    for (i = 0; h[i]; i++) {
        if (h[i] == '\r')
            abort();
        if (h[i] == '\n' && h[i + 1] != ' ' && h[i + 1] != '\t')
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3), *part[3], *p, dom[256], *h;
    struct rm_spf_facts f;
    struct rm_spf_action a;
    size_t i, n = 0;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    for (p = buf; n < 3; p += strlen(p) + 1)
        part[n++] = p;

    if (dkim_from_domain(part[0], dom, sizeof(dom)) == 0) {
        if (dom[0] == '\0')
            abort();
        for (i = 0; dom[i]; i++)
            if (dom[i] >= 'A' && dom[i] <= 'Z')
                abort();
    }

    memset(&f, 0, sizeof(f));
    f.result = (enum rm_spf_result)(size % 7);
    f.receiver = part[2];
    f.host = part[0];
    f.ip = "192.0.2.1";
    f.sender = part[1];
    f.helo = part[2];
    f.helo_identity = size & 1;
    f.problem = part[0];
    h = spf_header_value(&f);
    check_header(h);
    free(h);

    f.result = RM_SPF_FAIL;
    spf_action(&f, RM_SPF_POLICY_HEADER, RM_SPF_POLICY_TEMPFAIL,
               RM_SPF_POLICY_HEADER, &a);
    for (i = 0; a.text && a.text[i]; i++)
        if ((unsigned char)a.text[i] < 0x20 || (unsigned char)a.text[i] > 0x7e)
            abort();
    free(a.text);
    free(buf);
    return 0;
}
