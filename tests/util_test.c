/* Shared test helpers: locating ../shared, reading files, temp dirs, the pass/fail exit code. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

int tu_failures = 0;

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *tu_shared_dir(void) {
    static char buf[4096];
    const char *env = getenv("SEGAGENT_SHARED");
    if (env && *env) {
        if (!is_dir(env)) return NULL;
        snprintf(buf, sizeof buf, "%s", env);
        return buf;
    }
    const char *cands[] = {"../shared", "../../shared", "../../../shared"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/SPEC.md", cands[i]);
        if (access(probe, R_OK) == 0) {
            snprintf(buf, sizeof buf, "%s", cands[i]);
            return buf;
        }
    }
    return NULL;
}

const char *tu_require_shared(void) {
    const char *d = tu_shared_dir();
    if (d) return d;
    if (getenv("SEGAGENT_REQUIRE_SHARED")) {
        fprintf(
            stderr,
            "shared folder missing: set SEGAGENT_SHARED or place it at ../shared (required here)\n");
        exit(1);
    }
    fprintf(stderr,
            "SKIP: shared folder not found (set SEGAGENT_SHARED or place it at ../shared)\n");
    exit(77);
}

char *tu_shared_path(const char *rel) {
    const char *d = tu_require_shared();
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", d, rel);
    return p;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

char *tu_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/segagent-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup(d);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int tu_rmtree(const char *dir) {
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}
