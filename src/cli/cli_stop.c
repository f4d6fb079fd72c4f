/* Stop signals for long commands. The flag is the CLI's only process-wide state: a signal handler cannot reach
 * anything else, and the library never sees it (it only polls a hook). */
#include "cli_stop.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;
static struct sigaction saved[3];
static const int stop_signals[3] = {SIGINT, SIGTERM, SIGHUP};

static void on_stop_signal(int sig) {
    stop_flag = 1;
    signal(sig, SIG_DFL); /* a second one kills */
}

void cli_stop_install(void) {
    stop_flag = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++)
        sigaction(stop_signals[i], &sa, &saved[i]);
}

void cli_stop_restore(void) {
    for (int i = 0; i < 3; i++)
        sigaction(stop_signals[i], &saved[i], NULL);
}

int cli_stop_requested(void) {
    return stop_flag != 0;
}

int cli_stop_hook(void *user) {
    (void)user;
    return stop_flag != 0;
}
