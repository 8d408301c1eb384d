/*
 * NAME
 *   log - leveled logging to syslog or stderr (see log.h)
 *
 * DESCRIPTION
 *   Lines to stderr carry a timestamp with milliseconds, the ident, the pid
 *   and the level, and are written with one write(2) so that lines from
 *   concurrent sessions never interleave.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

static enum rm_log_target log_target = RM_LOG_STDERR;
static enum rm_log_level log_level = RM_LOG_INFO;
static char log_ident[64] = "rmilter";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static rm_log_hook_fn log_hook;
static void *log_hook_ud;

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7}, {"user", LOG_USER},
};

void
log_open(enum rm_log_target target, const char *ident, const char *facility)
{
    int fac = LOG_MAIL;
    size_t i;

    pthread_mutex_lock(&log_lock);
    snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "rmilter");
    for (i = 0; facility && i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcasecmp(facility, facilities[i].name) == 0)
            fac = facilities[i].value;
    if (log_target == RM_LOG_SYSLOG)
        closelog();
    log_target = target;
    if (target == RM_LOG_SYSLOG)
        openlog(log_ident, LOG_PID | LOG_NDELAY, fac);
    pthread_mutex_unlock(&log_lock);
}

void
log_set_level(enum rm_log_level level)
{
    log_level = level;
}

bool
log_enabled(enum rm_log_level level)
{
    return level <= log_level;
}

static const char *
level_name(enum rm_log_level level)
{
    switch (level) {
    case RM_LOG_ERR:
        return "error";
    case RM_LOG_WARN:
        return "warning";
    case RM_LOG_NOTICE:
        return "notice";
    case RM_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

static void log_vmsg(enum rm_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* one_line - control bytes in a formatted message become '?', so that no
 * value a client or backend sent (a HELO with CR/LF, ...) can forge a log
 * line; tabs stay */
static void
one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            *s = '?';
        else if ((unsigned char)*s == 0x7f)
            *s = '?';
}

static void
log_vmsg(enum rm_log_level level, const char *fmt, va_list ap)
{
    char line[8192], *msg;
    struct timespec ts;
    struct tm tm;
    int n = 0;

    if (log_target != RM_LOG_SYSLOG) {
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s[%d]: %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
                     (int)getpid(), level_name(level));
        if (n < 0 || (size_t)n >= sizeof(line))
            n = 0;
    }
    msg = line + n;
    vsnprintf(msg, sizeof(line) - n - 1, fmt, ap);
    one_line(msg);
    if (log_target == RM_LOG_SYSLOG) {
        syslog((int)level, "%s", msg);
        return;
    }
    n += strlen(msg);
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}

void
log_set_hook(rm_log_hook_fn fn, void *ud)
{
    pthread_mutex_lock(&log_lock);
    log_hook = fn;
    log_hook_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

/* call_hook - format the message once more for the capture hook */
static void call_hook(enum rm_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
call_hook(enum rm_log_level level, const char *fmt, va_list ap)
{
    char line[8192];

    vsnprintf(line, sizeof(line), fmt, ap);
    one_line(line);
    log_hook((int)level, line, log_hook_ud);
}

void
log_msg(enum rm_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    if (log_hook != NULL) {
        va_start(ap, fmt);
        call_hook(level, fmt, ap);
        va_end(ap);
    }
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void
msg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(RM_LOG_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}
