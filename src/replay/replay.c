/*
 * NAME
 *   replay - `rmilter replay`: options and the order of work (see replay.h)
 *
 * DESCRIPTION
 *   1. Read every mailbox (all before anything runs, so a bad path fails
 *      fast) and the --envelope sidecar.
 *   2. For each message: split it, work out its envelope and its time.
 *      The simulated clock is the message's time, but it never goes
 *      backwards: a message dated before the previous one is replayed at
 *      the previous one's time, and one without any date one second after
 *      the previous (the first at --start, else the real time now).
 *   3. For each config (one, or two to compare): load and check it, and
 *      initialise its modules with every store role in the embedded
 *      store (modstore_embedded_only: redis { } servers are not used), so
 *      greylisting, rate limits and reply ids start from empty state; run every message in order on the simulated clock;
 *      release the generation (and with it the store) before the next
 *      config, which starts from empty state too.
 *   4. Print the report.
 *
 *   --offline leaves out the checks that need a network server (clamav,
 *   spamd, karma, spf, beanstalk); without it they run as configured and,
 *   if their servers are not there, their on_failure policy shows in the
 *   report.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   Single-threaded. Everything read is owned by replay_main's locals and
 *   freed before it returns.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "core/hooks.h"
#include "core/pipeline.h"
#include "lib/log.h"
#include "lib/now.h"
#include "lib/xmalloc.h"
#include "modules/modstore.h"
#include "replay/replay.h"
#include "replay/replay_int.h"

/* The checks --offline leaves out: each needs a server on the network. */
static const char *const offline_mods[] = {"clamav", "spamd", "karma", "spf",
                                           "beanstalk"};

static _Atomic uint64_t sim_ms;

static uint64_t
sim_now(void *arg)
{
    (void)arg;
    return atomic_load(&sim_ms);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: rmilter replay -c FILE [-c FILE2] [--json] "
               "[--envelope SIDECAR]\n"
               "                      [--offline] [--start TIME] [-v] "
               "MAILBOX...\n"
               "\n"
               "  MAILBOX             an mbox file, a Maildir, a directory of "
               "messages,\n"
               "                      or one message file (.eml)\n"
               "  -c, --config FILE   the configuration; a second -c compares "
               "two\n"
               "      --json          one JSON object per message and line\n"
               "      --envelope F    envelope sidecar for every message (see "
               "rmilter(8))\n"
               "      --offline       skip the checks that need a network "
               "server\n"
               "                      (clamav, spamd, karma, spf, beanstalk)\n"
               "      --start TIME    the clock for messages without a date\n"
               "  -v, --verbose       log the pipeline (info; twice: debug) to "
               "stderr\n"
               "\n"
               "Exit status: 0 done (two configs: they decide alike), 1 two "
               "configs\n"
               "decide differently, 2 an error.\n");
}

/* load - one config with its modules initialised (modstore keeps their
 * state in the embedded store: see replay_main) */
static struct rm_config *
load(const char *path, bool *had_redis)
{
    struct rm_config *cfg = NULL;
    struct rm_diag diag = {0};
    int rc;

    rc = cfg_load(path, &cfg, &diag);
    if (rc == 0) {
        if (cfg_present(cfg, RM_SEC_redis))
            *had_redis = true;
        rc = pipeline_generation_init(cfg, &diag);
    }
    diag_print(&diag, stderr);
    diag_free(&diag);
    if (rc < 0) {
        fprintf(stderr, "rmilter replay: %s: configuration has errors\n", path);
        if (cfg != NULL)
            cfg_unref(cfg);
        return NULL;
    }
    return cfg;
}

/* clock_for - the simulated time of a message (see DESCRIPTION) */
static void
clock_for(struct rp_env *e, uint64_t *clock, bool *started)
{
    if (e->have_time && (!*started || e->time_ms >= *clock)) {
        *clock = e->time_ms;
    } else if (*started) {
        if (!e->have_time) {
            *clock += 1000;
            e->time_from = "previous";
        }
    } else {
        *clock = now_wall_ms();
        e->time_from = "now";
    }
    *started = true;
    e->time_ms = *clock;
}

int
replay_main(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_ENVELOPE, OPT_OFFLINE, OPT_START };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, OPT_JSON},
        {"envelope", required_argument, NULL, OPT_ENVELOPE},
        {"offline", no_argument, NULL, OPT_OFFLINE},
        {"start", required_argument, NULL, OPT_START},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *configs[2] = {NULL, NULL}, *envelope = NULL;
    struct rp_out_opts oo = {0};
    struct rp_err err = {{0}};
    struct rp_sidecar *sc = NULL;
    struct rp_msgs msgs = {0};
    struct rp_parsed *parsed = NULL;
    struct rp_env *envs = NULL;
    struct rp_row *rows = NULL;
    struct rm_config *cfg;
    size_t ncfg = 0, i, k, ndiff;
    uint64_t clock = 0;
    bool started = false, had_redis = false, offline = false;
    int c, verbose = 0, status = 2;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (ncfg == 2) {
                fprintf(stderr, "rmilter replay: at most two -c\n");
                return 2;
            }
            configs[ncfg++] = optarg;
            break;
        case OPT_JSON:
            oo.json = true;
            break;
        case OPT_ENVELOPE:
            envelope = optarg;
            break;
        case OPT_OFFLINE:
            offline = true;
            break;
        case OPT_START:
            if (rp_parse_time(optarg, &clock) < 0) {
                fprintf(stderr, "rmilter replay: --start %s: not a date\n",
                        optarg);
                return 2;
            }
            started = true;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (ncfg == 0 || optind >= argc) {
        fprintf(stderr, "rmilter replay: %s\n",
                ncfg == 0 ? "-c FILE is required" : "no MAILBOX given");
        usage(stderr);
        return 2;
    }

    log_open(RM_LOG_STDERR, "rmilter replay", "mail");
    log_set_level(verbose >= 2   ? RM_LOG_DEBUG
                  : verbose == 1 ? RM_LOG_INFO
                                 : RM_LOG_WARN);

    for (i = (size_t)optind; i < (size_t)argc; i++)
        if (rp_mailbox_read(argv[i], &msgs) < 0)
            goto out;
    if (envelope != NULL && rp_sidecar_load(envelope, true, &sc, &err) < 0) {
        fprintf(stderr, "rmilter replay: %s\n", err.msg);
        goto out;
    }

    parsed = xcalloc(msgs.n ? msgs.n : 1, sizeof(*parsed));
    envs = xcalloc(msgs.n ? msgs.n : 1, sizeof(*envs));
    rows = xcalloc(msgs.n ? msgs.n : 1, sizeof(*rows));
    for (i = 0; i < msgs.n; i++) {
        rp_parse(msgs.v[i].data, msgs.v[i].len, &parsed[i]);
        if (rp_envelope(&msgs.v[i], i + 1, &parsed[i], sc, &envs[i], &err) <
            0) {
            fprintf(stderr, "rmilter replay: %s\n", err.msg);
            goto out;
        }
        clock_for(&envs[i], &clock, &started);
        rows[i].msg = &msgs.v[i];
        rows[i].env = &envs[i];
        rows[i].message_id = rp_header(&parsed[i], "Message-ID");
    }

    if (offline) {
        pipeline_modules_exclude(offline_mods,
                                 sizeof(offline_mods) / sizeof(*offline_mods));
        oo.offline_note = "offline: checks that need a network server are "
                          "not run (clamav, spamd, karma, spf, beanstalk)";
    }
    now_simulate(sim_now, NULL);
    modstore_embedded_only(true);
    for (k = 0; k < ncfg; k++) {
        cfg = load(configs[k], &had_redis);
        if (cfg == NULL)
            goto out;
        for (i = 0; i < msgs.n; i++) {
            atomic_store(&sim_ms, envs[i].time_ms);
            rp_run(cfg, (unsigned long)(i + 1), &envs[i], &parsed[i],
                   &rows[i].res[k]);
        }
        /* the generation, its modules and their store go here, so the
         * next config starts from empty state too */
        cfg_unref(cfg);
    }

    oo.n_configs = ncfg;
    oo.config[0] = configs[0];
    oo.config[1] = configs[1];
    oo.store_note = had_redis ? " (redis { } ignored)" : NULL;
    ndiff = rp_output(stdout, rows, msgs.n, &oo);
    fflush(stdout);
    status = ncfg == 2 && ndiff > 0 ? 1 : 0;

out:
    now_simulate(NULL, NULL);
    modstore_embedded_only(false);
    if (offline)
        pipeline_modules_exclude(NULL, 0);
    for (i = 0; rows != NULL && i < msgs.n; i++) {
        rp_result_free(&rows[i].res[0]);
        rp_result_free(&rows[i].res[1]);
        rp_parsed_free(&parsed[i]);
        rp_env_free(&envs[i]);
    }
    free(rows);
    free(parsed);
    free(envs);
    rp_sidecar_free(sc);
    rp_msgs_free(&msgs);
    return status;
}
