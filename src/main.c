/*
 * NAME
 *   rmilter - a multi-check milter for Postfix and Sendmail
 *
 * SYNOPSIS
 *   rmilter [-n] [-c FILE]          serve (daemon, or foreground with -n)
 *   rmilter -c FILE -t              check the config and exit 0 or 1
 *   rmilter -c FILE --dump-config   print the effective config
 *   rmilter --reference [md|roff]   print the directive reference
 *   rmilter replay -c FILE [-c FILE2] MAILBOX...  stored mail through
 *                                   the checks (src/replay/replay.h)
 *   rmilter karma-query [OPTIONS] IDENTITY...   ask a karma server
 *   rmilter -h | -v
 *
 * DESCRIPTION
 *   This file only turns the command line into calls: the config layer
 *   (src/cfg/) loads and checks, the pipeline (src/core/) prepares the
 *   modules of a generation, and the engine (src/milter/daemon.c) serves.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "milter/daemon.h"
#include "modules/karma_client.h"
#include "replay/replay.h"

#define RM_DEFAULT_CONFIG "/etc/rmilter/rmilter.conf"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: rmilter [-n] [-c FILE]            serve mail\n"
            "       rmilter -c FILE -t                check FILE and exit\n"
            "       rmilter -c FILE --dump-config     print the effective "
            "config\n"
            "       rmilter --reference [md|roff]     print the directive "
            "reference\n"
            "       rmilter replay -c FILE [-c FILE2] MAILBOX...  run "
            "stored mail\n"
            "                                         through the checks "
            "(replay -h)\n"
            "       rmilter karma-query [OPTIONS] IDENTITY...  ask a karma "
            "server\n"
            "       rmilter -h | -v\n"
            "\n"
            "  -c, --config FILE   configuration file (default %s)\n"
            "  -n, --foreground    stay in the foreground, log to stderr\n"
            "  -t, --test          check the configuration and exit\n"
            "      --dump-config   print the configuration with defaults\n"
            "  -h, --help          this text\n"
            "  -v, --version       print the version\n",
            RM_DEFAULT_CONFIG);
}

/* load - parse and prepare a generation; diagnostics go to stderr */
static struct rm_config *
load(const char *path, bool init_modules)
{
    struct rm_config *cfg = NULL;
    struct rm_diag diag = {0};
    int rc;

    rc = cfg_load(path, &cfg, &diag);
    if (rc == 0 && init_modules)
        rc = pipeline_generation_init(cfg, &diag);
    diag_print(&diag, stderr);
    diag_free(&diag);
    if (rc < 0) {
        if (cfg)
            cfg_unref(cfg);
        return NULL;
    }
    return cfg;
}

int
main(int argc, char **argv)
{
    enum { OPT_DUMP = 256, OPT_REFERENCE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'n'},
        {"test", no_argument, NULL, 't'},
        {"dump-config", no_argument, NULL, OPT_DUMP},
        {"reference", optional_argument, NULL, OPT_REFERENCE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *path = RM_DEFAULT_CONFIG;
    bool foreground = false, test = false, dump = false;
    struct rm_config *cfg;
    int c;

    if (argc > 1 && strcmp(argv[1], "replay") == 0)
        return replay_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "karma-query") == 0)
        return karma_query_main(argc - 1, argv + 1);
    while ((c = getopt_long(argc, argv, "c:ntdhv", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            foreground = true;
            break;
        case 't':
            test = true;
            break;
        case OPT_DUMP:
            dump = true;
            break;
        case OPT_REFERENCE:
            /* "--reference roff" as well as "--reference=roff" */
            if (optarg == NULL && optind < argc &&
                (strcmp(argv[optind], "roff") == 0 ||
                 strcmp(argv[optind], "md") == 0))
                optarg = argv[optind++];
            cfg_reference(stdout, optarg && strcmp(optarg, "roff") == 0
                                      ? RM_REF_ROFF
                                      : RM_REF_MARKDOWN);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("rmilter %s\n", RM_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rmilter: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    log_open(RM_LOG_STDERR, "rmilter", "mail");
    cfg = load(path, test || !dump);
    if (cfg == NULL) {
        fprintf(stderr, "rmilter: %s: configuration has errors\n", path);
        return 1;
    }
    if (dump) {
        cfg_dump(cfg, stdout);
        cfg_unref(cfg);
        return 0;
    }
    if (test) {
        fprintf(stderr, "rmilter: %s: configuration OK\n", path);
        cfg_unref(cfg);
        return 0;
    }
    return daemon_run(cfg, path, foreground);
}
