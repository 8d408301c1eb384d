/*
 * NAME
 *   log - leveled logging to syslog (facility mail) or stderr
 *
 * DESCRIPTION
 *   msg_debug .. msg_err log at their level; the level is tested before the
 *   message is formatted. msg_fatal is for start-up and configuration only:
 *   once the daemon serves mail, nothing per-message may exit the process.
 *   The logging state is process-global and thread-safe (syslog(3) and
 *   stdio are); log_open may be called again on reload. The ident string is
 *   copied, so the caller's buffer may be freed (the original rmilter freed
 *   it under openlog after a reload).
 */
#ifndef RM_LOG_H
#define RM_LOG_H

#include <stdbool.h>

enum rm_log_level {
    RM_LOG_ERR = 3,
    RM_LOG_WARN = 4,
    RM_LOG_NOTICE = 5,
    RM_LOG_INFO = 6,
    RM_LOG_DEBUG = 7,
};

enum rm_log_target { RM_LOG_STDERR, RM_LOG_SYSLOG };

/* log_open - choose the target, the ident and the facility ("mail", ...) */
void log_open(enum rm_log_target target, const char *ident,
              const char *facility);
void log_set_level(enum rm_log_level level);
bool log_enabled(enum rm_log_level level);

void log_msg(enum rm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * log_set_hook - also pass every emitted line to fn (tests capture logs)
 *
 * fn receives the level and the formatted message (no timestamp, ident or
 * level prefix), after the level filter and in addition to the normal
 * target. fn == NULL removes the hook. Set it before threads start; fn must
 * not log itself.
 */
typedef void (*rm_log_hook_fn)(int level, const char *line, void *ud);
void log_set_hook(rm_log_hook_fn fn, void *ud);

#define msg_err(...) log_msg(RM_LOG_ERR, __VA_ARGS__)
#define msg_warn(...) log_msg(RM_LOG_WARN, __VA_ARGS__)
#define msg_notice(...) log_msg(RM_LOG_NOTICE, __VA_ARGS__)
#define msg_info(...) log_msg(RM_LOG_INFO, __VA_ARGS__)
#define msg_debug(...)                                                         \
    do {                                                                       \
        if (log_enabled(RM_LOG_DEBUG))                                         \
            log_msg(RM_LOG_DEBUG, __VA_ARGS__);                                \
    } while (0)

/* msg_fatal - log and exit(1); start-up and config time only */
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

#endif
