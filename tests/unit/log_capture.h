/*
 * log_capture.h - capture the daemon's log lines in a unit test
 *
 * Header-only, for the tests that assert on log lines: install with
 * log_set_hook(capture, NULL); logs_reset() frees what was captured.
 * Thread-safe capture (sessions may log from several threads); the
 * lookups are for the test's own thread once the work is done.
 */
#ifndef RM_TEST_LOG_CAPTURE_H
#define RM_TEST_LOG_CAPTURE_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 1024
static char *lines[MAX_LINES];
static size_t n_lines;
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;

static void
capture(int level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    pthread_mutex_lock(&lines_lock);
    if (n_lines < MAX_LINES)
        lines[n_lines++] = strdup(line);
    pthread_mutex_unlock(&lines_lock);
}

static void
logs_reset(void)
{
    while (n_lines > 0)
        free(lines[--n_lines]);
}

/* find_log - the last captured line containing needle (and needle2) */
static const char *
find_log(const char *needle, const char *needle2)
{
    size_t i = n_lines;

    while (i-- > 0)
        if (strstr(lines[i], needle) &&
            (needle2 == NULL || strstr(lines[i], needle2)))
            return lines[i];
    return NULL;
}

/* count_logs - how many captured lines contain needle */
static size_t
count_logs(const char *needle)
{
    size_t i, n = 0;

    for (i = 0; i < n_lines; i++)
        if (strstr(lines[i], needle))
            n++;
    return n;
}

#endif
