/* Sharded trajectory runs on a real Slurm cluster: runs tests/slurm/test_slurm.sh (an sbatch array and a
 * dependent merge job give the single-process file; a task cancelled part-way and requeued resumes and the
 * merge is still identical). The script starts its own one-node cluster (tests/slurm/cluster.sh) and stops
 * exactly its daemons at the end.
 *
 * Runs when SEGAGENT_SLURM is set (1: its own cluster; a path: that cluster's slurm.conf); skipped otherwise,
 * unless SEGAGENT_REQUIRE_SLURM is set (CI, .ci/run), where a missing Slurm is a failure. The sanitizer build
 * skips it: the same commands already ran on the normal build, and the cluster's jobs run the binary, not the
 * test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static int skip_or_fail(const char *why) {
    if (getenv("SEGAGENT_REQUIRE_SLURM")) {
        fprintf(stderr, "test_slurm: FAIL: %s (SEGAGENT_REQUIRE_SLURM is set)\n", why);
        return 1;
    }
    fprintf(stderr, "SKIP: %s\n", why);
    return 77;
}

int main(int argc, char **argv) {
    (void)argc;
    if (getenv("SEGAGENT_SANITIZED")) {
        fprintf(
            stderr,
            "SKIP: the Slurm tests run on the normal build (make test), not the sanitizer one\n");
        return 77;
    }
    const char *mode = getenv("SEGAGENT_SLURM");
    if (!mode || !*mode || !strcmp(mode, "0"))
        return skip_or_fail(
            "no Slurm: set SEGAGENT_SLURM=1 to start a one-node cluster "
            "(tests/slurm/cluster.sh; needs slurm-wlm and munge: scripts/install-deps.sh "
            "--slurm)");
    if (system("command -v sbatch >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 && "
               "command -v munged >/dev/null 2>&1") != 0)
        return skip_or_fail(
            "SEGAGENT_SLURM is set but sbatch, slurmctld or munged is not installed "
            "(scripts/install-deps.sh --slurm)");
    const char *shared = tu_require_shared();
    /* argv[0] = <build>/tests/test_slurm: the binary is <build>/segagent, the script under the repository */
    char dir[4096], cmd[16384];
    const char *slash = strrchr(argv[0], '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - argv[0]) : 1, slash ? argv[0] : ".");
    snprintf(cmd, sizeof cmd,
             "bash '%s/../../tests/slurm/test_slurm.sh' '%s/../segagent' '%s/data'", dir, dir,
             shared);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    if (rc == 77) return skip_or_fail("tests/slurm/test_slurm.sh skipped");
    CHECKF(rc == 0, "tests/slurm/test_slurm.sh exited %d", rc);
    return tu_finish("test_slurm");
}
