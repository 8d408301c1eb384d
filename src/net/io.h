/*
 * NAME
 *   io - deadline-bounded stream sockets for backend clients
 *
 * DESCRIPTION
 *   Connect, write and read over TCP (IPv4, IPv6) and unix stream sockets,
 *   each call bounded by an absolute deadline in monotonic milliseconds
 *   (io_now_ms() + timeout). Sockets made by io_connect are non-blocking
 *   and close-on-exec; every call waits with poll(2) until the deadline, so
 *   a stalled backend costs at most the deadline, never more.
 *
 *   Every function returns 0 or a negative errno-style code. -ETIMEDOUT
 *   means the deadline passed; -IO_ECLOSED means the peer closed the
 *   connection before the data asked for arrived; -IO_ERESOLVE means a host
 *   name did not resolve; -EMSGSIZE means a line was longer than the
 *   buffer. Other codes are the system's (-ECONNREFUSED, -EPIPE, ...).
 *   io_strerror turns any of them into text for logs and upstream_fail.
 *
 *   Writes use send(2) with MSG_NOSIGNAL, so a peer that went away yields
 *   -EPIPE instead of killing the process with SIGPIPE. Reads never take
 *   more than asked: io_read_line peeks and consumes up to the newline
 *   only, so a caller may switch between io_read_line, io_read_exact and
 *   io_read_some on one socket freely. The functions work on any stream
 *   socket; a blocking one also works, but its deadline is only honoured
 *   while waiting in poll.
 *
 *   No mail knowledge, no global state; thread-safe as long as one fd is
 *   used by one thread at a time. The caller owns and closes the fd.
 *
 * SEE ALSO
 *   upstream.h, research/style.md section 11.5
 */
#ifndef RM_NET_IO_H
#define RM_NET_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cfg/cfg_types.h"

/* Codes of our own, outside the errno range; returned negated. */
#define IO_ECLOSED 10001  /* the peer closed before the expected data */
#define IO_ERESOLVE 10002 /* host name lookup failed */

/* io_now_ms - CLOCK_MONOTONIC in milliseconds (the clock of deadlines) */
uint64_t io_now_ms(void);

/* io_deadline - io_now_ms() + timeout_ms */
uint64_t io_deadline(uint64_t timeout_ms);

/*
 * io_connect - connect to srv before deadline_ms
 *
 * srv->path set: a unix stream socket. Otherwise TCP to srv->host (a
 * numeric IPv4 or IPv6 address, brackets allowed, or a name resolved with
 * getaddrinfo, each address tried in turn while time remains) and
 * srv->port, with TCP_NODELAY. On success *fd is a connected non-blocking
 * socket owned by the caller and 0 is returned; on error *fd is -1.
 * Name resolution itself is not bounded by the deadline (getaddrinfo
 * blocks); configure addresses to avoid it.
 */
int io_connect(const struct rm_server *srv, uint64_t deadline_ms, int *fd);

/* io_write_all - send all len bytes of buf before deadline_ms */
int io_write_all(int fd, const void *buf, size_t len, uint64_t deadline_ms);

/* io_writev_all - send all of iov[0..iovcnt-1] before deadline_ms; the
 * caller's iov array is not modified */
int io_writev_all(int fd, const struct iovec *iov, int iovcnt,
                  uint64_t deadline_ms);

/*
 * io_read_some - read between 1 and len bytes into buf
 *
 * Waits until data arrives or deadline_ms. Sets *got to the count; at end
 * of stream returns 0 with *got == 0.
 */
int io_read_some(int fd, void *buf, size_t len, uint64_t deadline_ms,
                 size_t *got);

/* io_read_exact - read exactly len bytes; -IO_ECLOSED on early EOF */
int io_read_exact(int fd, void *buf, size_t len, uint64_t deadline_ms);

/*
 * io_read_line - read one line terminated by "\n"
 *
 * Stores the line without its "\n" (and without a "\r" before it) into
 * buf, NUL-terminated, and its length into *len (may be NULL). A line that
 * does not fit size - 1 bytes (counting a "\r" before the "\n") gives
 * -EMSGSIZE; EOF before the newline gives -IO_ECLOSED. On any error the
 * bytes of the partial line read so far are consumed and lost. Consumes
 * nothing past the newline. Stream sockets only (uses MSG_PEEK).
 */
int io_read_line(int fd, char *buf, size_t size, size_t *len,
                 uint64_t deadline_ms);

/* io_strerror - text for a code from this API (negative or positive);
 * a static string, thread-safe */
const char *io_strerror(int err);

#endif
