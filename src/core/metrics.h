/*
 * NAME
 *   metrics - Prometheus counters and histograms, and their HTTP listener
 *
 * SYNOPSIS
 *   metrics_start(cfg);                       the daemon, once serving
 *   metrics_backend("clamav", "/run/clamav/clamd.ctl", usec, ok);
 *   curl http://127.0.0.1:9142/metrics
 *
 * DESCRIPTION
 *   What is counted, and who feeds it:
 *
 *     rmilter_messages_total{action}                  pipeline (hooks.c)
 *     rmilter_check_results_total{check,result}       pipeline
 *     rmilter_check_duration_seconds{check}           pipeline (histogram)
 *     rmilter_message_duration_seconds                pipeline (histogram)
 *     rmilter_sessions_open, rmilter_sessions_total   pipeline sessions
 *     rmilter_backend_requests_total{backend,server,result}
 *     rmilter_backend_duration_seconds{backend,server}  modules, per request
 *     rmilter_upstream_alive{pool,server}             upstream pools, read
 *     rmilter_upstream_errors{pool,server}              at scrape time
 *     rmilter_upstream_requests_total{pool,server,result}
 *     rmilter_upstream_deaths_total{pool,server}
 *     rmilter_config_generation                       daemon (start, reload)
 *     rmilter_config_reloads_total{result}            daemon (reload)
 *     rmilter_build_info{version}
 *
 *   "action" is the first word of the summary line's action (accept,
 *   reject, tempfail, discard, quarantine, aborted); "result" of a check
 *   is the first word of its summary outcome (pass, nomatch, reject,
 *   skipped, ...; "error" whenever the on_failure policy was applied).
 *
 *   The listener (metrics_socket = inet:PORT@HOST, inet6:PORT@HOST or
 *   unix:/path) is one thread that serves GET /metrics (text format
 *   0.0.4), one request per connection, each bounded by a 2 s deadline, so
 *   a slow scraper never holds it up for long and never touches mail.
 *
 * RETURN VALUES
 *   metrics_start: 0 when serving or when metrics_socket is empty; -1 (and
 *   a log line) when the socket cannot be opened: the daemon serves mail
 *   anyway.
 *
 * THREAD SAFETY
 *   Every update is lock-free (C11 atomics); series are created on first
 *   use with a compare-and-swap push and never freed. Any thread may
 *   update; metrics_start/metrics_stop are for the daemon's main thread.
 */
#ifndef RM_CORE_METRICS_H
#define RM_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cfg/cfg.h"

struct rm_msg_report;

/* metrics_message - one transaction ended (called by the pipeline) */
void metrics_message(const struct rm_msg_report *r);
/* metrics_session_open / _close - a pipeline session began / ended */
void metrics_session_open(void);
void metrics_session_close(void);
/* metrics_backend - one request to a backend server: its pool name
 * ("clamav", "redis_grey"), the server as written, the time it took and
 * whether it succeeded */
void metrics_backend(const char *backend, const char *server, uint64_t usec,
                     bool ok);
/* metrics_config - a reload made cfg the current generation (counted as
 * a successful reload; warns if metrics_socket changed, which needs a
 * restart) */
void metrics_config(const struct rm_config *cfg);
/* metrics_reload_failed - a reload was refused (the old config serves) */
void metrics_reload_failed(void);

/* metrics_render - the whole exposition text into f */
void metrics_render(FILE *f);

/* metrics_start - record cfg's generation, open its metrics_socket and
 * serve it (see above); called once, after the daemon dropped privileges */
int metrics_start(const struct rm_config *cfg);
/* metrics_stop - stop serving and close the socket (no-op if not
 * started) */
void metrics_stop(void);

#endif
