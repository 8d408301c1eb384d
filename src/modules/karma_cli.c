/*
 * NAME
 *   karma_cli - `rmilter karma-query`: ask a Karmasphere server about
 *   identities and print its answer, as the original karmaclient did
 *
 * SYNOPSIS
 *   rmilter karma-query [-h HOST] [-p PORT] [-t] [-f FEEDSET] [-F FEED]...
 *                       [-C COMBINER] [-l LOGIN] [-c CREDENTIAL] [-n]
 *                       [-T TIMEOUT_MS] [-r RETRIES] [-i ID] [-v]
 *                       IDENTITY...
 *
 * DESCRIPTION
 *   IDENTITY is DATA (the type guessed as the Perl client did: an IP
 *   address is ip4/ip6, http(s):// a url, with '@' an email, else a
 *   domain) or DATA,TYPE[,TAG...] (TYPE ip4, ip6, domain, email, url, or
 *   the legacy 0..4). The query goes over UDP (TCP with -t, or when it is
 *   longer than 1024 bytes) with the same client code the milter uses
 *   (modules/karma_client.h): retransmissions within the timeout, replies
 *   matched by id. Facts are asked for (FL_FACTS) unless -n.
 *
 *   Output, one item per line:
 *     Query 'ID' to HOST:PORT over udp: N bytes, M identities
 *     Combiner 'NAME': verdict V (DATA)
 *     Fact 'FEED' about 'IDENTITY': V (DATA)
 *     Time: Nms
 *     Warning: TEXT          (a message without error, e.g. Truncated)
 *   -v also prints the raw query.
 *
 *   Exit status: 0 answered, 1 the server answered with an error, 2 usage,
 *   3 no usable answer (timeout, refused, garbage).
 *
 * OWNERSHIP AND THREAD SAFETY
 *   A one-shot command: single thread; everything is freed before it
 *   returns.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "modules/karma_client.h"
#include "proto/bencode.h"
#include "proto/hdr.h"

static void
cli_usage(FILE *f)
{
    fprintf(
        f,
        "usage: rmilter karma-query [-h HOST] [-p PORT] [-t] [-f FEEDSET]\n"
        "                           [-F FEED]... [-C COMBINER] [-l LOGIN]\n"
        "                           [-c CREDENTIAL] [-n] [-T TIMEOUT_MS]\n"
        "                           [-r RETRIES] [-i ID] [-v] IDENTITY...\n"
        "\n"
        "  -h HOST        server (default 127.0.0.1)\n"
        "  -p PORT        port (default %d)\n"
        "  -t             use TCP (default UDP)\n"
        "  -f FEEDSET     feedset (default karmasphere.email-sender)\n"
        "  -F FEED        an extra feed (repeatable)\n"
        "  -C COMBINER    an extra combiner\n"
        "  -l LOGIN, -c CREDENTIAL   query credentials\n"
        "  -n             do not ask for facts\n"
        "  -T MS          timeout (default 5000), -r N retries (default 2)\n"
        "  -i ID          query id (default karmaquery-<pid>-<time>)\n"
        "  -v             print the query and debug logs\n"
        "  IDENTITY       DATA or DATA,TYPE[,TAG...]\n",
        RM_KARMA_PORT);
}

/* add_identity - "data[,type[,tag...]]" into q; -1 on a bad type */
static int
add_identity(struct rm_karma_query *q, const char *arg)
{
    char *copy = xstrdup(arg), *data, *type, *tag, *save = NULL;
    enum rm_karma_idtype t;
    int rc = -1;

    data = strtok_r(copy, ",", &save);
    if (data == NULL || *data == '\0')
        goto out;
    type = strtok_r(NULL, ",", &save);
    if (type == NULL)
        t = karma_idtype_guess(data);
    else if (karma_idtype_parse(type, &t) < 0) {
        fprintf(stderr, "karma-query: unknown identity type '%s'\n", type);
        goto out;
    }
    tag = strtok_r(NULL, ",", &save);
    karma_query_add_identity(q, data, t, tag);
    while (tag != NULL && (tag = strtok_r(NULL, ",", &save)) != NULL)
        karma_query_add_identity(q, data, t, tag);
    rc = 0;
out:
    free(copy);
    return rc;
}

static void
print_text(const char *label, const char *s)
{
    char buf[512];

    hdr_text_oneline(s ? s : "", s ? strlen(s) : 0, buf, sizeof(buf),
                     RM_HDR_TEXT_UTF8);
    printf("%s%s", label, buf);
}

static void
print_reply(const struct rm_karma_reply *r)
{
    size_t i;

    if (r->has_verdict) {
        print_text("Combiner '", r->combiner);
        printf("': verdict %lld (", (long long)r->value);
        print_text("", r->data);
        printf(")\n");
    } else if (!r->error) {
        printf("No verdict\n");
    }
    for (i = 0; i < r->n_facts; i++) {
        print_text("Fact '", r->facts[i].feed);
        print_text("' about '", r->facts[i].identity);
        printf("': %lld (", (long long)r->facts[i].value);
        print_text("", r->facts[i].data);
        printf(")\n");
    }
    if (r->has_time)
        printf("Time: %lldms\n", (long long)r->time_ms);
    if (r->message != NULL && !r->error) {
        print_text("Warning: ", r->message);
        printf("\n");
    }
}

int
karma_query_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct rm_server srv = {0};
    struct rm_servers servers = {.n = 1, .v = &srv};
    struct rm_upstream_pool *pool = NULL;
    struct rm_karma_query q;
    struct rm_karma_x_opts xo = {0};
    struct rm_karma_x x;
    struct rm_karma_reply r;
    struct pbuf pb = {0};
    const char *host = "127.0.0.1", *feedset = "karmasphere.email-sender";
    const char *combiner = NULL, *login = NULL, *credential = NULL, *id = NULL;
    char idbuf[64], why[256], text[80];
    char **feeds = NULL;
    size_t n_feeds = 0, i;
    long port = RM_KARMA_PORT, timeout = 5000, retries = 2;
    bool tcp = false, facts = true, verbose = false;
    int c, rc, status = 2;

    log_open(RM_LOG_STDERR, "rmilter karma-query", "mail");
    log_set_level(RM_LOG_WARN);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h:p:tf:F:C:l:c:nT:r:i:v", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 't':
            tcp = true;
            break;
        case 'f':
            feedset = optarg;
            break;
        case 'F':
            feeds = xrealloc(feeds, (n_feeds + 1) * sizeof(*feeds));
            feeds[n_feeds++] = optarg;
            break;
        case 'C':
            combiner = optarg;
            break;
        case 'l':
            login = optarg;
            break;
        case 'c':
            credential = optarg;
            break;
        case 'n':
            facts = false;
            break;
        case 'T':
            timeout = strtol(optarg, NULL, 10);
            break;
        case 'r':
            retries = strtol(optarg, NULL, 10);
            break;
        case 'i':
            id = optarg;
            break;
        case 'v':
            verbose = true;
            log_set_level(RM_LOG_DEBUG);
            break;
        case 'H':
            cli_usage(stdout);
            free(feeds);
            return 0;
        default:
            cli_usage(stderr);
            free(feeds);
            return 2;
        }
    }
    if (optind >= argc || port < 1 || port > 65535 || timeout < 1 ||
        timeout > 600000 || retries < 0 || retries > 10) {
        cli_usage(stderr);
        free(feeds);
        return 2;
    }
    if (id == NULL) {
        snprintf(idbuf, sizeof(idbuf), "karmaquery-%ld-%lld", (long)getpid(),
                 (long long)time(NULL));
        id = idbuf;
    }
    karma_query_init(&q, id);
    for (i = (size_t)optind; i < (size_t)argc; i++) {
        if (add_identity(&q, argv[i]) < 0)
            goto out;
    }
    if (feedset[0] != '\0')
        karma_query_add_feedset(&q, feedset);
    for (i = 0; i < n_feeds; i++)
        karma_query_add_feed(&q, feeds[i]);
    if (combiner != NULL)
        karma_query_add_combiner(&q, combiner);
    if (login != NULL)
        karma_query_set_auth(&q, login, credential);
    if (facts)
        q.flags |= RM_KARMA_FL_FACTS;
    karma_query_encode(&q, &pb);

    srv.host = (char *)host;
    srv.port = (uint16_t)port;
    srv.weight = 1;
    snprintf(text, sizeof(text), "%s:%ld", host, port);
    srv.text = text;
    /* maxerrors 0: a one-shot query never marks its server dead */
    pool =
        upstream_pool_new("karma-query", &servers, RM_UPSTREAM_RANDOM, 0, 0, 0);
    xo.pool = pool;
    xo.tcp = tcp;
    xo.timeout_ms = (uint64_t)timeout;
    xo.retries = (unsigned)retries;
    xo.feedset = feedset;
    xo.tag = "karma-query";
    karma_x_init(&x, &xo);
    printf("Query '%s' to %s over %s: %zu bytes, %zu identities\n", id, text,
           tcp || pb.pb_len > RM_KARMA_UDP_MAX ? "tcp" : "udp", pb.pb_len,
           q.n_ids);
    if (verbose) {
        print_text("Packet: ", pb.pb_data);
        printf("\n");
    }
    fflush(stdout);
    karma_x_start(&x, id, pb.pb_data, pb.pb_len);
    rc = karma_x_finish(&x, &r, why, sizeof(why));
    if (rc == 0 || rc == -RM_KARMA_X_ERRREPLY) {
        print_reply(&r);
        if (rc < 0)
            printf("Error: %s\n", why);
        status = rc == 0 ? 0 : 1;
        karma_reply_free(&r);
    } else {
        printf("No answer: %s\n", why);
        status = 3;
    }
    karma_x_free(&x);
out:
    upstream_pool_free(pool);
    pbuf_free(&pb);
    karma_query_free(&q);
    free(feeds);
    return status;
}
