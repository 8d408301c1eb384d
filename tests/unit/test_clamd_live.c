/*
 * NAME
 *   test_clamd_live - INSTREAM through net/batch against a real clamd
 *
 * DESCRIPTION
 *   If clamd(8) is installed, starts one in the foreground on a unix
 *   socket in a mkdtemp directory, with a one-line signature database
 *   written here (the EICAR test string as an .ndb body pattern, so it is
 *   found inside a mail), and scans with the pieces the clamav module will
 *   assemble: proto/clamd's encoder as the batch body source (streaming
 *   from memory in small chunks) and its reader as the reply sink. Checks
 *   a virus, a clean message, and the two scans run in one batch. Skipped
 *   when clamd is missing. The clamd child is stopped by its PID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "net/batch.h"
#include "net/io.h"
#include "proto/clamd.h"

#define EICAR                                                                  \
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

static char dir[64];
static char sock[128];
static pid_t clamd_pid = -1;

static const char *
clamd_path(void)
{
    static const char *const paths[] = {"/usr/sbin/clamd", "/usr/bin/clamd",
                                        "/usr/local/sbin/clamd"};
    size_t i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* setup - write the database and config, start clamd, wait for its
 * socket; leaves clamd_pid -1 (tests skip) if clamd is not installed */
static int
setup(void **state)
{
    char path[256], conf[1024], hex[128];
    const char *bin = clamd_path(), *sig = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE";
    struct stat st;
    size_t i;
    int n;

    (void)state;
    if (bin == NULL)
        return 0;
    snprintf(dir, sizeof(dir), "/tmp/test_clamd_live.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    chmod(dir, 0755);
    snprintf(path, sizeof(path), "%s/db", dir);
    mkdir(path, 0755);
    for (i = 0; sig[i] != '\0'; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)sig[i]);
    snprintf(conf, sizeof(conf), "Test.EICAR.NDB:0:*:%s\n", hex);
    snprintf(path, sizeof(path), "%s/db/test.ndb", dir);
    if (write_file(path, conf) < 0)
        return -1;
    snprintf(sock, sizeof(sock), "%s/clamd.sock", dir);
    n = snprintf(conf, sizeof(conf),
                 "Foreground yes\nLocalSocket %s\nDatabaseDirectory %s/db\n"
                 "LogFile %s/clamd.log\nPidFile %s/clamd.pid\n"
                 "MaxThreads 4\nStreamMaxLength 1M\nBytecode no\n"
                 "ScanMail yes\nSelfCheck 3600\n",
                 sock, dir, dir, dir);
    if (n < 0 || (size_t)n >= sizeof(conf))
        return -1;
    snprintf(path, sizeof(path), "%s/clamd.conf", dir);
    if (write_file(path, conf) < 0)
        return -1;
    clamd_pid = fork();
    if (clamd_pid < 0)
        return -1;
    if (clamd_pid == 0) {
        char arg[300], err[128];

        snprintf(arg, sizeof(arg), "--config-file=%s", path);
        snprintf(err, sizeof(err), "%s/clamd.err", dir);
        if (freopen("/dev/null", "w", stdout) == NULL ||
            freopen(err, "w", stderr) == NULL)
            _exit(126);
        execl(bin, "clamd", arg, (char *)NULL);
        _exit(127);
    }
    /* clamd loads the database, then creates the socket. */
    for (i = 0; i < 600; i++) {
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        if (waitpid(clamd_pid, NULL, WNOHANG) == clamd_pid) {
            clamd_pid = -1;
            return -1;
        }
        usleep(50 * 1000);
    }
    return -1;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void)state;
    if (clamd_pid > 0) {
        kill(clamd_pid, SIGTERM);
        waitpid(clamd_pid, NULL, 0);
    }
    if (dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* One scan: the message, the encoder around its source, the reader. */
struct scan {
    struct rm_batch_mem src;
    struct rm_clamd_enc enc;
    struct rm_clamd_reader rd;
};

/* scan_fill - the batch body source: INSTREAM framing of the message, in
 * chunks of at most 64 bytes to exercise the framing */
static int
scan_fill(void *ud, void *buf, size_t size, size_t *len)
{
    struct scan *s = ud;

    return clamd_enc_fill(&s->enc, batch_fill_mem, &s->src, buf,
                          size < 68 ? size : 68, len);
}

/* scan_feed - the batch reply sink; an ERROR reply counts against the
 * server unless the message was too large */
static int
scan_feed(void *ud, const void *data, size_t len, bool eof)
{
    struct scan *s = ud;
    int rc = clamd_reader_feed(&s->rd, data, len, eof);

    if (rc <= 0)
        return rc;
    switch (s->rd.cd_reply.cr_status) {
    case RM_CLAMD_CLEAN:
    case RM_CLAMD_VIRUS:
        return RM_BATCH_DONE;
    case RM_CLAMD_ERROR:
        return s->rd.cd_reply.cr_size_limit ? RM_BATCH_DONE
                                            : RM_BATCH_DONE_FAIL;
    default:
        return -EPROTO;
    }
}

static void
scan_init(struct rm_batch_ex *ex, struct scan *s, const struct rm_server *srv,
          const char *msg)
{
    memset(ex, 0, sizeof(*ex));
    s->src.bm_data = msg;
    s->src.bm_len = strlen(msg);
    s->src.bm_off = 0;
    clamd_enc_init(&s->enc);
    clamd_reader_init(&s->rd);
    ex->ex_name = "clamav";
    ex->ex_server = srv;
    ex->ex_fill = scan_fill;
    ex->ex_fill_ud = s;
    ex->ex_feed = scan_feed;
    ex->ex_feed_ud = s;
}

static void
test_virus_and_clean_in_one_batch(void **state)
{
    static const char virus[] =
        "From: a@example.org\r\nTo: b@example.test\r\nSubject: eicar\r\n"
        "MIME-Version: 1.0\r\n\r\nsee below\r\n\r\n" EICAR "\r\n";
    static const char clean[] =
        "From: a@example.org\r\nTo: b@example.test\r\nSubject: hello\r\n"
        "\r\nhello there, nothing to see here\r\n";
    struct rm_server srv;
    struct rm_batch_ex ex[2];
    struct scan s[2];

    (void)state;
    if (clamd_pid < 0)
        skip();
    memset(&srv, 0, sizeof(srv));
    srv.path = sock;
    srv.text = sock;
    scan_init(&ex[0], &s[0], &srv, virus);
    scan_init(&ex[1], &s[1], &srv, clean);
    assert_int_equal(batch_run(ex, 2, io_deadline(30000), NULL, NULL), 0);
    assert_int_equal(ex[0].ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(s[0].rd.cd_reply.cr_status, RM_CLAMD_VIRUS);
    assert_string_equal(s[0].rd.cd_reply.cr_text, "Test.EICAR.NDB.UNOFFICIAL");
    assert_true(clamd_enc_done(&s[0].enc));
    /* Command, chunks of at most 64 bytes with headers, terminator. */
    assert_int_equal(ex[0].ex_res.br_bytes_out,
                     RM_CLAMD_INSTREAM_LEN + (sizeof(virus) - 1) +
                         4 * ((sizeof(virus) - 1 + 63) / 64) + 4);
    assert_int_equal(ex[1].ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(s[1].rd.cd_reply.cr_status, RM_CLAMD_CLEAN);
}

static void
test_size_limit(void **state)
{
    struct rm_server srv;
    struct rm_batch_ex ex;
    struct scan s;
    char *big;

    (void)state;
    if (clamd_pid < 0)
        skip();
    /* StreamMaxLength is 1M here. */
    big = malloc(2 * 1024 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'a', 2 * 1024 * 1024);
    big[2 * 1024 * 1024] = '\0';
    memset(&srv, 0, sizeof(srv));
    srv.path = sock;
    srv.text = sock;
    scan_init(&ex, &s, &srv, big);
    assert_int_equal(batch_run(&ex, 1, io_deadline(30000), NULL, NULL), 0);
    assert_int_equal(ex.ex_res.br_status, RM_BATCH_OK);
    assert_int_equal(s.rd.cd_reply.cr_status, RM_CLAMD_ERROR);
    assert_true(s.rd.cd_reply.cr_size_limit);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virus_and_clean_in_one_batch),
        cmocka_unit_test(test_size_limit),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
