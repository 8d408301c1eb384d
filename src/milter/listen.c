/*
 * NAME
 *   listen - open the listening sockets named by bind_socket
 *
 * DESCRIPTION
 *   Every entry of bind_socket becomes one or more listeners:
 *
 *   unix:/path, local:/path
 *     A stale socket file is removed first, but only if it is a socket and
 *     nothing answers on it (a connect probe); anything else at that path is
 *     an error, so a second instance never steals a live socket. The socket
 *     is bound under umask 0177, then chmod'ed to socket_mode and chown'ed
 *     to socket_owner/socket_group (default: user/group) while we are still
 *     root. listen_close removes it, but only if the file is still the one
 *     we created (device and inode), never a newer instance's.
 *   inet:port@host, inet6:port@host
 *     An empty host (or "*") is the wildcard address; a literal is used as
 *     is (getaddrinfo with AI_NUMERICHOST, so scoped IPv6 works); anything
 *     else is resolved with getaddrinfo and the first address is used.
 *     SO_REUSEADDR always; IPV6_V6ONLY on inet6, so inet and inet6 on the
 *     same port can coexist.
 *   fd:N
 *     An inherited descriptor; it must be a listening stream socket.
 *   systemd
 *     Socket activation: every descriptor in LISTEN_FDS when LISTEN_PID is
 *     ours (sd_listen_fds), any mix of unix, IPv4 and IPv6 stream sockets;
 *     none passed is an error. LISTEN_FDS is adopted only when bind_socket
 *     names "systemd": without it, passed sockets are left alone (and a
 *     notice says so), so that an explicit configuration is never
 *     silently overridden by the environment.
 *
 *   Listeners are non-blocking (the accept thread polls them all) and
 *   close-on-exec. Paths are made absolute, because daemonizing changes the
 *   directory to "/" before listen_close runs.
 *
 * THREAD SAFETY
 *   Start-up and shut-down only, on the main thread (umask is process-wide).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "milter/engine.h"

static void
push(struct rm_listeners *ls, const struct rm_listener *l)
{
    ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
    ls->v[ls->n++] = *l;
}

/* set_flags - non-blocking and close-on-exec */
static int
set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* lookup_uid - a user name or number; 0, or -1 if unknown */
static int
lookup_uid(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096], *end;
    unsigned long v;

    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res) {
        *uid = res->pw_uid;
        *gid = res->pw_gid;
        return 0;
    }
    v = strtoul(name, &end, 10);
    if (*name && *end == '\0') {
        *uid = (uid_t)v;
        *gid = (gid_t)-1;
        return 0;
    }
    return -1;
}

/* lookup_gid - a group name or number; 0, or -1 if unknown */
static int
lookup_gid(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char buf[4096], *end;
    unsigned long v;

    if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
        *gid = res->gr_gid;
        return 0;
    }
    v = strtoul(name, &end, 10);
    if (*name && *end == '\0') {
        *gid = (gid_t)v;
        return 0;
    }
    return -1;
}

/* unix_owner - who the socket file should belong to ((uid_t)-1: keep) */
static int
unix_owner(const struct rm_cfg_global *g, uid_t *uid, gid_t *gid)
{
    const char *owner = g->socket_owner && *g->socket_owner ? g->socket_owner
                        : g->user && *g->user               ? g->user
                                                            : NULL;
    const char *group = g->socket_group && *g->socket_group ? g->socket_group
                        : g->group && *g->group             ? g->group
                                                            : NULL;
    gid_t pgid = (gid_t)-1;

    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (owner && lookup_uid(owner, uid, &pgid) < 0) {
        msg_err("listen: unknown user \"%s\" for unix sockets", owner);
        return -1;
    }
    if (group) {
        if (lookup_gid(group, gid) < 0) {
            msg_err("listen: unknown group \"%s\" for unix sockets", group);
            return -1;
        }
    } else {
        *gid = pgid;
    }
    return 0;
}

/* absolute - path made absolute against the current directory */
static char *
absolute(const char *path)
{
    char cwd[4096];

    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return xstrdup(path);
    return xasprintf("%s/%s", cwd, path);
}

/* remove_stale - make room for our socket at sun->sun_path */
static int
remove_stale(const struct sockaddr_un *sun, const char *path)
{
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        msg_err("listen: unix:%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        msg_err("listen: unix:%s exists and is not a socket; not removing "
                "it",
                path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        msg_err("listen: socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    close(fd);
    if (rc == 0) {
        msg_err("listen: unix:%s: another process is listening on it "
                "(is rmilter already running?)",
                path);
        return -1;
    }
    if (errno != ECONNREFUSED && errno != ENOENT) {
        msg_err("listen: unix:%s: cannot tell whether it is in use: %s", path,
                strerror(errno));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        msg_err("listen: unix:%s: cannot remove the stale socket: %s", path,
                strerror(errno));
        return -1;
    }
    msg_info("listen: removed stale socket %s", path);
    return 0;
}

static int
open_unix(const struct rm_cfg_global *g, const struct rm_sockspec *sp,
          struct rm_listeners *ls)
{
    struct rm_listener l = {.fd = -1, .family = AF_UNIX};
    struct sockaddr_un sun;
    struct stat st;
    mode_t old;
    uid_t uid;
    gid_t gid;
    char *path = NULL;
    int rc = -1;

    if (sp->path == NULL || sp->path[0] == '\0') {
        msg_err("listen: %s: empty path", sp->text);
        return -1;
    }
    path = absolute(sp->path);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        msg_err("listen: unix:%s: path longer than %zu bytes", path,
                sizeof(sun.sun_path) - 1);
        goto out;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (unix_owner(g, &uid, &gid) < 0 || remove_stale(&sun, path) < 0)
        goto out;

    l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l.fd < 0) {
        msg_err("listen: socket: %s", strerror(errno));
        goto out;
    }
    /* nobody but us can connect before the chmod below */
    old = umask(0177);
    rc = bind(l.fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc < 0) {
        msg_err("listen: bind unix:%s: %s", path, strerror(errno));
        rc = -1;
        goto out;
    }
    rc = -1;
    l.path = path;
    path = NULL;
    if (lstat(l.path, &st) == 0) {
        l.dev = st.st_dev;
        l.ino = st.st_ino;
    }
    if (chmod(l.path, (mode_t)g->socket_mode) < 0) {
        msg_err("listen: chmod %04o unix:%s: %s", g->socket_mode, l.path,
                strerror(errno));
        goto out;
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(l.path, uid, gid) < 0) {
        msg_err("listen: chown unix:%s: %s", l.path, strerror(errno));
        goto out;
    }
    if (listen(l.fd, SOMAXCONN) < 0) {
        msg_err("listen: listen unix:%s: %s", l.path, strerror(errno));
        goto out;
    }
    l.name = xasprintf("unix:%s", l.path);
    push(ls, &l);
    return 0;
out:
    if (l.path)
        (void)unlink(l.path);
    if (l.fd >= 0)
        close(l.fd);
    free(l.path);
    free(path);
    return rc;
}

/* resolve - host (may be empty) into ss for family */
static int
resolve(int family, const char *host, uint16_t port,
        struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    char h[256];
    size_t n;
    int rc;

    memset(ss, 0, sizeof(*ss));
    if (host == NULL || host[0] == '\0' || strcmp(host, "*") == 0) {
        if (family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ss;

            sin->sin_family = AF_INET;
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
            sin->sin_port = htons(port);
            *len = sizeof(*sin);
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

            sin6->sin6_family = AF_INET6;
            sin6->sin6_addr = in6addr_any;
            sin6->sin6_port = htons(port);
            *len = sizeof(*sin6);
        }
        return 0;
    }
    n = strlen(host);
    if (n >= sizeof(h))
        return EAI_NONAME;
    memcpy(h, host, n + 1);
    if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
        memmove(h, h + 1, n - 2);
        h[n - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    rc = getaddrinfo(h, NULL, &hints, &res);
    if (rc != 0) {
        hints.ai_flags = 0;
        rc = getaddrinfo(h, NULL, &hints, &res);
    }
    if (rc != 0)
        return rc;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    return 0;
}

static int
open_inet(int family, const struct rm_sockspec *sp, struct rm_listeners *ls)
{
    struct rm_listener l = {.fd = -1, .family = family};
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1, rc;

    rc = resolve(family, sp->host, sp->port, &ss, &len);
    if (rc != 0) {
        msg_err("listen: %s: cannot resolve \"%s\": %s", sp->text,
                sp->host ? sp->host : "", gai_strerror(rc));
        return -1;
    }
    l.fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l.fd < 0) {
        msg_err("listen: %s: socket: %s", sp->text, strerror(errno));
        return -1;
    }
    (void)setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6 &&
        setsockopt(l.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
        msg_err("listen: %s: IPV6_V6ONLY: %s", sp->text, strerror(errno));
        goto fail;
    }
    if (bind(l.fd, (struct sockaddr *)&ss, len) < 0) {
        msg_err("listen: bind %s: %s", sp->text, strerror(errno));
        goto fail;
    }
    if (listen(l.fd, SOMAXCONN) < 0) {
        msg_err("listen: listen %s: %s", sp->text, strerror(errno));
        goto fail;
    }
    l.name = xstrdup(sp->text);
    push(ls, &l);
    return 0;
fail:
    close(l.fd);
    return -1;
}

/* sock_desc - "inet 127.0.0.1:11332", "unix /run/x.sock" for a socket */
static void
sock_desc(int fd, int *family, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char a[INET6_ADDRSTRLEN];

    *family = AF_UNSPEC;
    snprintf(buf, size, "?");
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    *family = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
        snprintf(buf, size, "inet %s:%u", a, ntohs(s->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
        snprintf(buf, size, "inet6 [%s]:%u", a, ntohs(s->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *s = (const struct sockaddr_un *)&ss;

        if (len > offsetof(struct sockaddr_un, sun_path) && s->sun_path[0])
            snprintf(buf, size, "unix %.*s",
                     (int)(len - offsetof(struct sockaddr_un, sun_path)),
                     s->sun_path);
        else
            snprintf(buf, size, "unix (unnamed)");
    }
}

/* adopt - an inherited listening socket (fd:N or systemd) */
static int
adopt(int fd, const char *what, struct rm_listeners *ls)
{
    struct rm_listener l = {.fd = fd};
    char desc[200];
    int r;

    r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1);
    if (r <= 0) {
        msg_err("listen: %s: descriptor %d is not a listening stream "
                "socket%s%s",
                what, fd, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        return -1;
    }
    sock_desc(fd, &l.family, desc, sizeof(desc));
    if (l.family != AF_UNIX && l.family != AF_INET && l.family != AF_INET6) {
        msg_err("listen: %s: descriptor %d has an unsupported address "
                "family",
                what, fd);
        return -1;
    }
    if (set_flags(fd) < 0) {
        msg_err("listen: %s: fcntl: %s", what, strerror(errno));
        return -1;
    }
    l.name = xasprintf("%s (fd %d, %s)", what, fd, desc);
    push(ls, &l);
    return 0;
}

static int
open_systemd(struct rm_listeners *ls)
{
    int n, i;

    n = sd_listen_fds(1);
    if (n < 0) {
        msg_err("listen: systemd: %s", strerror(-n));
        return -1;
    }
    if (n == 0) {
        msg_err("listen: systemd: no sockets passed (LISTEN_FDS unset, or "
                "LISTEN_PID is not this process)");
        return -1;
    }
    for (i = 0; i < n; i++)
        if (adopt(SD_LISTEN_FDS_START + i, "systemd", ls) < 0)
            return -1;
    return 0;
}

/* passed_to_us - LISTEN_FDS is set for this process */
static bool
passed_to_us(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

    return pid && fds && strtol(pid, NULL, 10) == (long)getpid() &&
           strtol(fds, NULL, 10) > 0;
}

int
listen_open(const struct rm_cfg_global *g, struct rm_listeners *out)
{
    const struct rm_socklist *sl = &g->bind_socket;
    bool systemd = false;
    size_t i;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (sl->n == 0) {
        msg_err("listen: bind_socket is empty");
        return -1;
    }
    for (i = 0; i < sl->n && rc == 0; i++) {
        const struct rm_sockspec *sp = &sl->v[i];

        switch (sp->kind) {
        case RM_SOCK_UNIX:
            rc = open_unix(g, sp, out);
            break;
        case RM_SOCK_INET:
            rc = open_inet(AF_INET, sp, out);
            break;
        case RM_SOCK_INET6:
            rc = open_inet(AF_INET6, sp, out);
            break;
        case RM_SOCK_FD:
            rc = adopt(sp->fd, sp->text ? sp->text : "fd", out);
            break;
        case RM_SOCK_SYSTEMD:
            if (systemd) {
                msg_warn("listen: \"systemd\" given twice in bind_socket");
                break;
            }
            systemd = true;
            rc = open_systemd(out);
            break;
        default:
            msg_err("listen: bind_socket entry %zu: unknown kind", i + 1);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && !systemd && passed_to_us())
        msg_notice("listen: LISTEN_FDS ignored: bind_socket does not name "
                   "\"systemd\"");
    if (rc < 0) {
        listen_close(out);
        return -1;
    }
    for (i = 0; i < out->n; i++)
        msg_info("listening on %s", out->v[i].name);
    return 0;
}

void
listen_close(struct rm_listeners *l)
{
    struct stat st;
    size_t i;

    for (i = 0; i < l->n; i++) {
        struct rm_listener *x = &l->v[i];

        if (x->fd >= 0)
            close(x->fd);
        if (x->path) {
            if (lstat(x->path, &st) == 0 && st.st_dev == x->dev &&
                st.st_ino == x->ino) {
                if (unlink(x->path) < 0)
                    msg_warn("cannot remove %s: %s", x->path, strerror(errno));
            }
            free(x->path);
        }
        free(x->name);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
