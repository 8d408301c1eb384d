/* nullmilter: the cheapest possible real libmilter milter, for measuring the
 * MTA-side cost of "a milter is configured" in throughput benchmarks.
 * It sees every stage (connect .. eom) and adds one header at eom, so the
 * MTA has to do a full round trip per stage plus a header insert.
 *
 * A copy of the team's research harness (shared/research/harness/
 * nullmilter.c), kept unchanged apart from formatting so that the figures
 * in docs/benchmarks.md compare with research/anchors.md. bench/run.sh and
 * the CMake target "nullmilter" (built when libmilter is installed) use it
 * as the peer baseline.
 *
 *   cc -O2 -o nullmilter nullmilter.c -lmilter -pthread   (libmilter-dev)
 *   ./nullmilter unix:/tmp/nullmilter/milter.sock   or   inet:8893@127.0.0.1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libmilter/mfapi.h>

static sfsistat
nm_eom(SMFICTX *ctx)
{
    smfi_addheader(ctx, "X-Null-Milter", "yes");
    return SMFIS_ACCEPT;
}

static sfsistat
nm_cont(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}
static sfsistat
nm_connect(SMFICTX *ctx, char *h, _SOCK_ADDR *a)
{
    (void)h;
    (void)a;
    return nm_cont(ctx);
}
static sfsistat
nm_helo(SMFICTX *ctx, char *h)
{
    (void)h;
    return nm_cont(ctx);
}
static sfsistat
nm_argv(SMFICTX *ctx, char **argv)
{
    (void)argv;
    return nm_cont(ctx);
}
static sfsistat
nm_header(SMFICTX *ctx, char *f, char *v)
{
    (void)f;
    (void)v;
    return nm_cont(ctx);
}
static sfsistat
nm_body(SMFICTX *ctx, unsigned char *b, size_t l)
{
    (void)b;
    (void)l;
    return nm_cont(ctx);
}

static struct smfiDesc desc = {
    "nullmilter",   SMFI_VERSION, SMFIF_ADDHDRS, nm_connect,
    nm_helo,        nm_argv,      nm_argv,       nm_header,
    nm_cont,        nm_body,      nm_eom,        NULL /*abort*/,
    NULL /*close*/, NULL,         NULL,          NULL,
};

int
main(int argc, char **argv)
{
    const char *sock = argc > 1 ? argv[1] : "unix:/tmp/nullmilter/milter.sock";
    umask(0); /* the MTA (user postfix) must be able to connect */
    if (smfi_setconn((char *)sock) == MI_FAILURE) {
        fprintf(stderr, "setconn\n");
        return 1;
    }
    if (smfi_setbacklog(1024) == MI_FAILURE)
        return 1;
    if (smfi_register(desc) == MI_FAILURE) {
        fprintf(stderr, "register\n");
        return 1;
    }
    if (strncmp(sock, "unix:", 5) == 0)
        unlink(sock + 5);
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
