/*
 * NAME
 *   karma_client - one BQuery exchange with a pool of Karmasphere servers
 *
 * SYNOPSIS
 *   struct rm_karma_x x;
 *   karma_x_init(&x, &opts);
 *   karma_x_start(&x, id, query, len);      sends; returns at once
 *   ... other work (the message body arrives) ...
 *   rc = karma_x_finish(&x, &reply, why, sizeof(why));
 *   karma_x_free(&x);
 *
 * DESCRIPTION
 *   A query is one bencoded packet (proto/karma.h) with an id. It goes
 *   over UDP unless the options say TCP or the packet is longer than
 *   RM_KARMA_UDP_MAX, in which case it goes over TCP (4-byte big-endian
 *   length, then the packet; replies framed the same way).
 *
 *   UDP: karma_x_start picks a member (upstream_get), opens a connected
 *   socket to it and sends the datagram; karma_x_finish waits for the
 *   reply. The timeout is split into retries + 1 windows, each twice the
 *   one before (timeout 2 s, retries 2: 286, 571, 1143 ms); when a window
 *   passes without a reply the query is sent again, to the next member
 *   not yet tried if there is one (upstream_get_next), else again to the
 *   members already tried, round robin. Every socket stays open until
 *   the end, so a late reply to an earlier send still counts. A datagram
 *   is only taken as the reply if it parses and carries our id: other
 *   datagrams (late replies to other queries, replies to a retransmission
 *   we no longer wait for) are ignored. A datagram that is not a valid
 *   reply ("garbage"), or an ICMP "port unreachable" (ECONNREFUSED on the
 *   connected socket), fails that member at once.
 *
 *   The deadline: karma_x_start fixes start + timeout. If karma_x_finish
 *   is called so late that less than the time of the windows still to
 *   come is left (the message body took long while nobody listened), the
 *   deadline moves to now + those windows, so the retransmissions still
 *   get their time: the wait inside karma_x_finish is never more than
 *   timeout, however late it is called.
 *
 *   TCP: everything happens in karma_x_finish, within timeout from its
 *   call: connect, send, read frames until one carries our id (frames of
 *   64 KiB or more are refused), one member after the other (at most
 *   retries + 1); each member gets the time left divided by the attempts
 *   left (or by the members left, when fewer).
 *
 *   Upstream health: every member used is reported exactly once when the
 *   exchange ends (karma_x_finish): upstream_ok for the member that
 *   answered, upstream_fail with the reason ("timeout", "connection
 *   refused", "bad reply: ...") for each member that was sent the query
 *   and did not answer. A reply with error set (bad credentials) is a
 *   failed query but a working server (upstream_ok). An exchange freed
 *   without karma_x_finish (the message was aborted) reports nothing.
 *   When every member of the pool is dead the query is not sent at all
 *   (-RM_KARMA_X_DEAD at once): an outage costs no time per message, and
 *   the pool offers each member again when its dead_time has passed.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   The caller owns the struct; the exchange owns its sockets and a copy
 *   of the packet until karma_x_free. The pool is borrowed (thread-safe).
 *   One exchange belongs to one thread at a time.
 */
#ifndef RM_MODULES_KARMA_CLIENT_H
#define RM_MODULES_KARMA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/upstream.h"
#include "proto/karma.h"

/* Most members one exchange talks to. */
#define RM_KARMA_X_MAX_SERVERS 8

/* Results of karma_x_finish (negated). */
enum rm_karma_x_err {
    RM_KARMA_X_TIMEOUT = 1,  /* no reply within the deadline */
    RM_KARMA_X_REFUSED = 2,  /* every member refused (or could not be used) */
    RM_KARMA_X_BADREPLY = 3, /* every member that answered sent garbage */
    RM_KARMA_X_ERRREPLY = 4, /* the server answered with error set */
    RM_KARMA_X_NOSERVER = 5, /* empty pool */
    RM_KARMA_X_DEAD = 6,     /* every member is dead: not even tried */
};

struct rm_karma_x_opts {
    struct rm_upstream_pool *pool;
    bool tcp;            /* always TCP */
    uint64_t timeout_ms; /* the whole exchange */
    unsigned retries;    /* retransmissions (UDP) / more members (TCP) */
    const char *feedset; /* for karma_reply_parse */
    const char *tag;     /* log prefix ("3f9c0a17be"); may be NULL */
};

struct rm_karma_x_srv {
    struct rm_upstream *up;
    int fd;        /* UDP socket; -1 once closed */
    bool reported; /* upstream_ok/fail done */
    bool answered;
};

struct rm_karma_x {
    struct rm_karma_x_opts o;
    char tag[32];
    char *id;
    char *pkt;
    size_t len;
    bool tcp;
    bool started;
    bool all_dead;
    uint64_t t_start, deadline, next_send;
    unsigned sent; /* datagrams sent */
    struct rm_karma_x_srv srv[RM_KARMA_X_MAX_SERVERS];
    size_t n_srv;
    char server[128]; /* the member that answered, for logs */
};

void karma_x_init(struct rm_karma_x *x, const struct rm_karma_x_opts *o);

/*
 * karma_x_start - remember the packet (copied) and its id (copied); for
 * UDP send the first datagram. Returns 0 (even if no member could be
 * used: karma_x_finish reports that).
 */
int karma_x_start(struct rm_karma_x *x, const char *id, const void *pkt,
                  size_t len);

/*
 * karma_x_finish - wait for the reply (see DESCRIPTION)
 *
 * 0 with *r filled (karma_reply_free it) when a member answered without
 * error; otherwise -RM_KARMA_X_* with why (why may be NULL) holding a
 * short text for logs and headers ("timeout", "bad reply: offset 0:
 * unexpected byte 0x67", "server error: Incorrect user and/or
 * password."). With -RM_KARMA_X_ERRREPLY *r is filled too (r->message).
 * -RM_KARMA_X_NOSERVER if karma_x_start was not called.
 */
int karma_x_finish(struct rm_karma_x *x, struct rm_karma_reply *r, char *why,
                   size_t whylen);

/* karma_x_server - the member that answered ("" if none) */
const char *karma_x_server(const struct rm_karma_x *x);

/* karma_x_free - close the sockets, free the copies; no upstream reports
 * unless karma_x_finish ran */
void karma_x_free(struct rm_karma_x *x);

/* karma_x_window_ms - the length of window k (0-based) for timeout and
 * retries (see DESCRIPTION); for tests */
uint64_t karma_x_window_ms(uint64_t timeout_ms, unsigned retries, unsigned k);

/* karma_query_main - `rmilter karma-query ARGS` (modules/karma_cli.c);
 * argv[0] is "karma-query". Returns the exit status. */
int karma_query_main(int argc, char **argv);

#endif
