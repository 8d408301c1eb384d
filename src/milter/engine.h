/*
 * NAME
 *   engine - internals shared by the milter engine's files (src/milter/)
 *
 * DESCRIPTION
 *   struct rm_conn is one accepted MTA connection. The accept thread
 *   creates it (with a reference to the config generation current at
 *   accept time), registers it in the engine and hands it to an idle
 *   session thread if one waits, else starts a new one; the thread runs
 *   session_main on it, then unregisters, closes and frees it, and waits
 *   (at most RM_WORKER_IDLE_MS, and only while fewer than RM_WORKER_IDLE_MAX
 *   others wait) for the next one before exiting.
 *
 *   struct rm_engine is the daemon-wide state the sessions see: the
 *   registry of live connections (so a hard stop can shut their sockets),
 *   the stop flag, and an eventfd that becomes readable when a graceful
 *   stop begins (sessions poll it next to their socket so that idle ones
 *   close at once).
 *
 *   struct rm_listener is one listening socket (listen.c).
 */
#ifndef RM_MILTER_ENGINE_H
#define RM_MILTER_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cfg/cfg.h"

struct rm_engine {
    pthread_mutex_t lock;
    pthread_cond_t idle;   /* signalled when a connection goes away */
    struct rm_conn *conns; /* registry, under lock */
    unsigned long n_conns; /* under lock */
    atomic_bool stopping;
    int stop_fd; /* eventfd: readable once stopping */
    /* the session thread cache, under lock */
    pthread_cond_t work;   /* signalled when a connection is queued */
    struct rm_conn *queue; /* handed to idle threads, not yet taken */
    struct rm_conn *queue_tail;
    unsigned long n_idle;    /* idle threads not yet promised a connection */
    unsigned long n_threads; /* session threads alive (busy or idle) */
};

/* idle session threads: how many may wait, and for how long */
#define RM_WORKER_IDLE_MAX 16u
#define RM_WORKER_IDLE_MS 30000u

struct rm_conn {
    int fd;
    bool tcp;
    unsigned long id;
    char peer[160];        /* for the log: "127.0.0.1:40022", "unix:/path" */
    char via[160];         /* the listener's name */
    struct rm_config *cfg; /* one reference, dropped at close */
    atomic_bool killed;    /* socket shut down by a hard stop */
    struct rm_engine *eng;
    struct rm_conn *prev, *next; /* registry links, under eng->lock */
    struct rm_conn *qnext;       /* engine queue link, under eng->lock */
};

/* session_main - serve one connection until QUIT, EOF, an error, a
 * timeout or a stop; logs its open and close lines. Does not close c->fd
 * and does not free c. */
void session_main(struct rm_conn *c);

struct rm_listener {
    int fd;
    int family; /* AF_UNIX, AF_INET, AF_INET6 */
    char *name; /* for logs: "unix:/run/rmilter.sock", "inet:11332@..." */
    char *path; /* unix socket we created and must remove, or NULL */
    dev_t dev;  /* identity of that socket file, so we remove only ours */
    ino_t ino;
};

struct rm_listeners {
    size_t n;
    struct rm_listener *v;
};

/*
 * listen_open - open every entry of g->bind_socket (see listen.c for the
 * rules per kind); unix sockets get socket_mode and, when set,
 * socket_owner/socket_group (falling back to user/group). On error logs
 * what failed, closes what was opened and returns -1.
 */
int listen_open(const struct rm_cfg_global *g, struct rm_listeners *out);
/* listen_close - close all; remove the unix socket files we created */
void listen_close(struct rm_listeners *l);

#endif
