/*
 * NAME
 *   spool - one message in memory, then in a temp file (see spool.h)
 *
 * DESCRIPTION
 *   Invariants: exactly one of (buf, fd >= 0) holds the bytes; size is the
 *   number of bytes written; once a write fails, failed is set and the
 *   spool refuses further writes so that a scanner never sees a message
 *   with a hole in it. The file is created with mkstemp (mode 0600 from the
 *   start) and then fchmod'ed to the configured mode; it is unlinked by
 *   spool_close, which every end of a transaction calls, and on every
 *   error path of the switch to a file.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   One spool per message; not shared between threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spool.h"
#include "lib/xmalloc.h"

struct rm_spool {
    char *dir;
    unsigned mode;
    uint64_t memory_max;

    char *buf; /* in memory while fd < 0 */
    size_t cap;
    uint64_t size;

    int fd;
    char *path;

    void *map; /* mmap of the file (spool_map) */
    size_t map_len;

    uint64_t marks[RM_SPOOL_NMARKS];
    bool marked[RM_SPOOL_NMARKS];
    bool failed;
};

struct rm_spool *
spool_open(const char *tempdir, unsigned mode, uint64_t memory_max)
{
    struct rm_spool *sp = xcalloc(1, sizeof(*sp));
    const char *dir = tempdir;

    if (dir == NULL || *dir == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    sp->dir = xstrdup(dir);
    sp->mode = mode ? mode : 0600;
    sp->memory_max = memory_max;
    sp->fd = -1;
    return sp;
}

/* write_all - the whole buffer to fd, retrying short writes */
static int
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void
unmap(struct rm_spool *sp)
{
    if (sp->map != NULL) {
        munmap(sp->map, sp->map_len);
        sp->map = NULL;
        sp->map_len = 0;
    }
}

/* to_file - move the in-memory bytes to a new temp file */
static int
to_file(struct rm_spool *sp)
{
    int fd = -1, saved;
    char *path = xasprintf("%s/rmilter.XXXXXX", sp->dir);

    fd = mkstemp(path);
    if (fd < 0)
        goto fail;
    if (fchmod(fd, sp->mode) < 0)
        goto fail;
    if (write_all(fd, sp->buf, sp->size) < 0)
        goto fail;
    sp->fd = fd;
    sp->path = path;
    free(sp->buf);
    sp->buf = NULL;
    sp->cap = 0;
    return 0;

fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(path);
    errno = saved;
    return -1;
}

int
spool_write(struct rm_spool *sp, const void *data, size_t len)
{
    if (sp->failed) {
        errno = EIO;
        return -1;
    }
    if (len == 0)
        return 0;
    unmap(sp);
    if (sp->fd < 0 && sp->size + len > sp->memory_max) {
        if (to_file(sp) < 0)
            goto fail;
    }
    if (sp->fd >= 0) {
        if (write_all(sp->fd, data, len) < 0)
            goto fail;
    } else {
        if (sp->size + len > sp->cap) {
            size_t cap = sp->cap ? sp->cap : 4096;

            while (cap < sp->size + len)
                cap *= 2;
            sp->buf = xrealloc(sp->buf, cap);
            sp->cap = cap;
        }
        memcpy(sp->buf + sp->size, data, len);
    }
    sp->size += len;
    return 0;

fail:
    sp->failed = true;
    return -1;
}

void
spool_mark(struct rm_spool *sp, enum rm_spool_mark mark)
{
    sp->marks[mark] = sp->size;
    sp->marked[mark] = true;
}

uint64_t
spool_offset(const struct rm_spool *sp, enum rm_spool_mark mark)
{
    return sp->marked[mark] ? sp->marks[mark] : sp->size;
}

uint64_t
spool_size(const struct rm_spool *sp)
{
    return sp->size;
}

const char *
spool_path(const struct rm_spool *sp)
{
    return sp->path;
}

int
spool_fd(const struct rm_spool *sp)
{
    return sp->fd;
}

ssize_t
spool_read(struct rm_spool *sp, uint64_t off, void *buf, size_t len)
{
    ssize_t n;

    if (off >= sp->size)
        return 0;
    if (len > sp->size - off)
        len = (size_t)(sp->size - off);
    if (sp->fd < 0) {
        memcpy(buf, sp->buf + off, len);
        return (ssize_t)len;
    }
    do
        n = pread(sp->fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n;
}

int
spool_map(struct rm_spool *sp, const char **data, size_t *len)
{
    void *p;

    if (sp->fd < 0 || sp->size == 0) {
        *data = sp->buf ? sp->buf : "";
        *len = (size_t)sp->size;
        return 0;
    }
    if (sp->map == NULL) {
        p = mmap(NULL, (size_t)sp->size, PROT_READ, MAP_SHARED, sp->fd, 0);
        if (p == MAP_FAILED)
            return -1;
        sp->map = p;
        sp->map_len = (size_t)sp->size;
    }
    *data = sp->map;
    *len = sp->map_len;
    return 0;
}

void
spool_close(struct rm_spool *sp)
{
    if (sp == NULL)
        return;
    unmap(sp);
    if (sp->fd >= 0) {
        close(sp->fd);
        unlink(sp->path);
    }
    free(sp->path);
    free(sp->buf);
    free(sp->dir);
    free(sp);
}
