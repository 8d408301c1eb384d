/*
 * NAME
 *   replay - `rmilter replay`: run stored mail through the real pipeline
 *
 * SYNOPSIS
 *   rmilter replay -c FILE [-c FILE2] [--json] [--envelope SIDECAR]
 *                  [--offline] [--start TIME] [-v] MAILBOX...
 *
 * DESCRIPTION
 *   Every message of every MAILBOX (an mbox file, a Maildir, a directory of
 *   message files, or one message file) is fed through the pipeline of
 *   the configuration, stage by stage as an MTA would (connect, helo,
 *   mail, rcpt, data, headers, body, end of message), on a simulated clock
 *   and with the state in an embedded store that starts empty. The report
 *   is a table (or JSON lines) of each message's checks, action, SMTP
 *   reply and message changes; with two configurations, where they
 *   disagree. docs/guide.md ("Replaying mail") documents the envelope
 *   sidecar format and the exit statuses.
 *
 *   main.c calls replay_main with argv[0] == "replay".
 */
#ifndef RM_REPLAY_H
#define RM_REPLAY_H

/* replay_main - the subcommand; returns the process exit status: 0 done
 * (two configs: they agree), 1 two configs disagree, 2 an error */
int replay_main(int argc, char **argv);

#endif
