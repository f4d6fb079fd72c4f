/* Ctrl-C for long commands: SIGINT, SIGTERM and SIGHUP all ask the run to stop after the items in flight (the
 * library's runner polls cli_stop_requested through its should_stop hook); a second signal kills at once.
 * Every long command (demo, eval, annotate, trajectories, export, segment, refine, filter) uses this one
 * mechanism: it stops at its next item or step, says so in one line on stderr, leaves its outputs consistent
 * (as its --help says) and exits with CLI_EXIT_INTERRUPTED. */
#ifndef SEGAGENT_CLI_STOP_H
#define SEGAGENT_CLI_STOP_H

#define CLI_EXIT_INTERRUPTED 130 /* 128 + SIGINT, as shells report it */

/* Installs the handlers (remembering the previous ones) and clears the request. */
void cli_stop_install(void);
/* Restores the previous handlers. */
void cli_stop_restore(void);
/* 1 once a stop signal arrived since cli_stop_install. */
int cli_stop_requested(void);
/* The same with the runner's hook signature (user is ignored). */
int cli_stop_hook(void *user);

#endif
