/*
 * NAME
 *   spool - one message as the content scanners read it
 *
 * DESCRIPTION
 *   A spool is a byte stream written front to back: the pipeline writes a
 *   short synthetic trace prologue (Return-Path and Received, as the
 *   message will carry them once delivered, so spamd sees the relay and the
 *   envelope sender), then every header as "Name: value" with CRLF line
 *   ends, the empty line, and the body chunks as received (CRLF). It stays
 *   in memory up to memory_max bytes; the write that would pass that moves
 *   it to a file mkstemp'd in tempdir ("" = $TMPDIR, else /tmp) and
 *   fchmod'ed to mode. spool_close always closes and unlinks the file.
 *
 *   Marks remember where the message (after the prologue) and its body
 *   start, so readers can take the whole spool, the message only, or the
 *   body only.
 *
 * OWNERSHIP AND THREAD SAFETY
 *   A spool belongs to one message of one session; it is not shared.
 *   Pointers from spool_map stay valid until the next write or close.
 */
#ifndef RM_SPOOL_H
#define RM_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rm_spool;

enum rm_spool_mark {
    RM_SPOOL_MESSAGE, /* first byte after the prologue */
    RM_SPOOL_BODY,    /* first byte of the body */
    RM_SPOOL_NMARKS
};

/* spool_open - an empty, in-memory spool; never fails (no I/O yet) */
struct rm_spool *spool_open(const char *tempdir, unsigned mode,
                            uint64_t memory_max);
/* spool_write - append; 0, or -1 with errno set (the spool is then unusable
 * and every later write fails too) */
int spool_write(struct rm_spool *sp, const void *data, size_t len);
/* spool_mark - remember the current size as the offset of mark */
void spool_mark(struct rm_spool *sp, enum rm_spool_mark mark);
/* spool_offset - the offset of mark (the size if never marked) */
uint64_t spool_offset(const struct rm_spool *sp, enum rm_spool_mark mark);
uint64_t spool_size(const struct rm_spool *sp);
/* spool_path / spool_fd - the file, or NULL / -1 while in memory */
const char *spool_path(const struct rm_spool *sp);
int spool_fd(const struct rm_spool *sp);
/* spool_read - up to len bytes at off into buf; bytes read (0 at the end)
 * or -1 with errno set */
ssize_t spool_read(struct rm_spool *sp, uint64_t off, void *buf, size_t len);
/* spool_map - the whole spool as one read-only buffer (mmap for files);
 * 0, or -1 with errno set */
int spool_map(struct rm_spool *sp, const char **data, size_t *len);
/* spool_close - free, close and unlink; NULL is a no-op */
void spool_close(struct rm_spool *sp);

#endif
