/*
 * test_log - log lines stay single lines whatever the values logged hold
 *
 * A HELO, sender or backend reply with CR/LF must not be able to forge a
 * log line: the capture hook and stderr both see '?' for control bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"

static char captured[1024];

static void
hook(int level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    snprintf(captured, sizeof(captured), "%s", line);
}

static void
test_control_bytes_replaced(void **state)
{
    char path[] = "/tmp/rmilter-test-log.XXXXXX";
    char buf[2048];
    int fd, saved;
    ssize_t n;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);

    log_open(RM_LOG_STDERR, "t", "mail");
    log_set_hook(hook, NULL);
    msg_info("helo=%s end", "evil\r\nfake: msg done\x01\tx\x7f");
    log_set_hook(NULL, NULL);

    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_string_equal(captured, "helo=evil??fake: msg done?\tx? end");

    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    /* exactly one line, ending in the sanitized message */
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
    assert_non_null(
        strstr(buf, ": info: helo=evil??fake: msg done?\tx? end\n"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_bytes_replaced),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
