/*
 * NAME
 *   mailbox - read the messages of an mbox, a Maildir or message files
 *
 * DESCRIPTION
 *   A path is, in this order of tests:
 *   - a directory with cur/ or new/: a Maildir; the files of new/, then of
 *     cur/, each sorted by name (Maildir names start with the delivery
 *     time, so this is delivery order);
 *   - another directory: every regular file in it, sorted by name, except
 *     envelope sidecars (*.env) and dot files;
 *   - a file starting with "From ": an mbox. A message starts at a line
 *     "From " that is the first line or follows an empty line (the empty
 *     line belongs to the mbox format, not to the message); ">From " lines
 *     lose one ">" (mboxrd);
 *   - any other file: one message (.eml).
 *   Messages keep their bytes as stored; message.c deals with line ends.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   struct rp_msgs owns every message; rp_msgs_free releases them. No
 *   shared state: callers may read different mailboxes in parallel.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/xmalloc.h"
#include "replay/replay_int.h"

/* slurp - the whole file; 0 or -1 with errno */
static int
slurp(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 65536, n = 0, r;
    char *buf;

    if (f == NULL)
        return -1;
    buf = xmalloc(cap + 1);
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return -1;
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static struct rp_msg *
push(struct rp_msgs *out)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 16;
        out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
    }
    memset(&out->v[out->n], 0, sizeof(out->v[0]));
    return &out->v[out->n++];
}

/* add_file - one message file */
static int
add_file(const char *path, const char *box, size_t idx, struct rp_msgs *out)
{
    struct rp_msg *m;
    char *data;
    size_t len;

    if (slurp(path, &data, &len) < 0) {
        fprintf(stderr, "rmilter replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    m = push(out);
    m->source = xstrdup(path);
    m->path = xstrdup(path);
    m->box = xstrdup(box);
    m->box_index = idx;
    m->data = data;
    m->len = len;
    return 0;
}

/* unescape_from - mboxrd: ">From ", ">>From ", ... lose one '>' */
static char *
unescape_from(const char *p, size_t len, size_t *outlen)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, o = 0, j;
    bool bol = true;

    while (i < len) {
        if (bol && p[i] == '>') {
            for (j = i; j < len && p[j] == '>'; j++)
                ;
            if (len - j >= 5 && memcmp(p + j, "From ", 5) == 0)
                i++; /* drop one '>' */
        }
        bol = p[i] == '\n';
        out[o++] = p[i++];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* emit - the message data[from..to) of an mbox */
static void
emit(const char *path, const char *data, size_t from, size_t to, size_t idx,
     struct rp_msgs *out)
{
    struct rp_msg *m = push(out);

    m->source = xasprintf("%s:%zu", path, idx);
    m->box = xstrdup(path);
    m->box_index = idx;
    m->data = unescape_from(data + from, to - from, &m->len);
}

/* add_mbox - every message of an mbox held in data (see DESCRIPTION) */
static void
add_mbox(const char *path, const char *data, size_t len, struct rp_msgs *out)
{
    size_t pos = 0, ls, le, start = 0, prev_start = 0, idx = 0;
    bool in_msg = false, prev_empty = true, empty;
    const char *nl;

    while (pos < len) {
        ls = pos;
        nl = memchr(data + ls, '\n', len - ls);
        le = nl ? (size_t)(nl - data) + 1 : len;
        if (prev_empty && le - ls >= 5 && memcmp(data + ls, "From ", 5) == 0) {
            /* the empty line before a separator is the mbox's */
            if (in_msg)
                emit(path, data, start, ls == 0 ? 0 : prev_start, ++idx, out);
            in_msg = true;
            start = le;
        }
        empty = (le - ls == 1 && data[ls] == '\n') ||
                (le - ls == 2 && data[ls] == '\r' && data[ls + 1] == '\n');
        prev_start = ls;
        prev_empty = empty;
        pos = le;
    }
    if (in_msg)
        emit(path, data, start,
             prev_empty && prev_start >= start ? prev_start : len, ++idx, out);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* add_dir - the regular files of dir, sorted; Maildir-style when sub */
static int
add_dir(const char *dir, const char *box, size_t *idx, struct rp_msgs *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    char **names = NULL, *p;
    size_t n = 0, cap = 0, i, l;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "rmilter replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        l = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            (l > 4 && strcmp(e->d_name + l - 4, ".env") == 0))
            continue;
        p = xasprintf("%s/%s", dir, e->d_name);
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = p;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n; i++) {
        if (rc == 0 && add_file(names[i], box, ++*idx, out) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int
rp_mailbox_read(const char *path, struct rp_msgs *out)
{
    struct stat st;
    char *sub, *data;
    size_t len, idx = 0;
    bool maildir = false;
    int rc = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "rmilter replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        const char *subs[] = {"new", "cur"};
        size_t i;

        for (i = 0; i < 2; i++) {
            sub = xasprintf("%s/%s", path, subs[i]);
            if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
                maildir = true;
                if (add_dir(sub, path, &idx, out) < 0)
                    rc = -1;
            }
            free(sub);
        }
        if (!maildir)
            rc = add_dir(path, path, &idx, out);
        return rc;
    }
    if (slurp(path, &data, &len) < 0) {
        fprintf(stderr, "rmilter replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (len >= 5 && memcmp(data, "From ", 5) == 0) {
        add_mbox(path, data, len, out);
        free(data);
        return 0;
    }
    free(data);
    return add_file(path, path, 1, out);
}

void
rp_msgs_free(struct rp_msgs *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        free(m->v[i].source);
        free(m->v[i].path);
        free(m->v[i].box);
        free(m->v[i].data);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}
