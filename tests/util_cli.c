/* Test helpers for running the built segagent binary on files in a temporary directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

void tu_cli_init(tu_cli *c, const char *argv0) {
    const char *slash = strrchr(argv0, '/');
    if (slash) {
        snprintf(c->bin, sizeof c->bin, "%.*s/../segagent", (int)(slash - argv0), argv0);
    } else {
        const char *b = getenv("BUILD");
        snprintf(c->bin, sizeof c->bin, "%s/segagent", b && *b ? b : "build");
    }
    if (access(c->bin, X_OK) != 0) {
        fprintf(stderr, "segagent binary not found at %s\n", c->bin);
        exit(1);
    }
    c->dir = tu_tmpdir();
}

int tu_cli_run(const tu_cli *c, const char *args, const char *tag) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/%s.out' 2>'%s/%s.err'", c->bin, args, c->dir, tag,
             c->dir, tag);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *tu_cli_slurp(const tu_cli *c, const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", c->dir, rel);
    char *s = tu_read_file(p, NULL);
    return s ? s : calloc(1, 1);
}

void tu_cli_mkdir(const tu_cli *c, const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", c->dir, rel);
    if (mkdir(p, 0777) != 0) {
        perror(p);
        exit(1);
    }
}

void tu_cli_write_text(const tu_cli *c, const char *rel, const char *text) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", c->dir, rel);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}
