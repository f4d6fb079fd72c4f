/* Test harness for the scripted policy server (tests/policy_server.py): starts it with fork/exec of python3
 * on a free port of 127.0.0.1, reads the port it prints, and kills it at the end. Header-only, for the
 * test_llm_* and test_agent* programs. A missing python3 makes the calling test skip (exit 77). */
#ifndef SEGAGENT_TEST_POLICY_SERVER_H
#define SEGAGENT_TEST_POLICY_SERVER_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct test_server {
    pid_t pid;
    int port;
    char base_url[64];
} test_server;

static inline int ts_have_python(void) {
    return system("python3 -c 'import http.server, json, zlib' >/dev/null 2>&1") == 0;
}

static inline const char *ts_script(void) {
    static const char *const cands[] = {"tests/policy_server.py", "../tests/policy_server.py",
                                        "../../tests/policy_server.py"};
    for (int i = 0; i < 3; i++)
        if (access(cands[i], R_OK) == 0) return cands[i];
    return NULL;
}

/* Starts the server (gt_png may be NULL). Exits 77 when python3 is missing, returns -1 on other failures. */
static inline int ts_start(test_server *s, const char *gt_png) {
    memset(s, 0, sizeof *s);
    if (!ts_have_python()) {
        printf("skip: python3 is not installed (needed for the loopback policy server)\n");
        exit(77);
    }
    const char *script = ts_script();
    if (!script) {
        fprintf(stderr, "cannot find tests/policy_server.py (run from the repository root)\n");
        return -1;
    }
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (gt_png)
            execlp("python3", "python3", script, "--gt", gt_png, (char *)NULL);
        else
            execlp("python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[128];
    size_t n = 0;
    for (;;) {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd[0], &rs);
        struct timeval tv = {20, 0};
        if (select(fd[0] + 1, &rs, NULL, NULL, &tv) <= 0) break;
        char ch;
        if (read(fd[0], &ch, 1) != 1) break;
        if (ch == '\n' || n + 1 >= sizeof line) break;
        line[n++] = ch;
    }
    line[n] = 0;
    close(fd[0]);
    if (sscanf(line, "PORT %d", &s->port) != 1 || s->port <= 0) {
        fprintf(stderr, "policy server did not start (got \"%s\")\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    s->pid = pid;
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d/v1", s->port);
    return 0;
}

static inline void ts_stop(test_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

#endif
