/*
 * NAME
 *   daemon - run the milter service until told to stop
 *
 * DESCRIPTION
 *   daemon_run takes ownership of one reference to cfg (already loaded and
 *   initialised with pipeline_generation_init), binds every listener, writes
 *   the pidfile, drops privileges, detaches unless foreground, and serves
 *   sessions until SIGTERM/SIGINT. SIGHUP reloads config_path: the new file
 *   is parsed and initialised first; on any error the old generation keeps
 *   serving. Returns the process exit status.
 */
#ifndef RM_DAEMON_H
#define RM_DAEMON_H

#include <stdbool.h>

#include "cfg/cfg.h"

int daemon_run(struct rm_config *cfg, const char *config_path, bool foreground);

#endif
