/* segagent check-simpleclick DIR: runs the SimpleClick engine on a parity fixture folder
 * (fixtures/simpleclick/README.md format) case by case and compares every expected tensor; the
 * logic is sa_sc_check_fixture (shared with the test suite). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "segagent/simpleclick.h"

static const char *USAGE =
    "usage: segagent check-simpleclick DIR [--threads N] [--weights FILE] [--kernels "
    "fast|blas|reference]\n"
    "\n"
    "Checks the SimpleClick engine against a parity fixture folder: model.pth, image.png, "
    "cases.json,\n"
    "expected.safetensors. Runs every case click by click (and once free-running), prints the "
    "worst error of\n"
    "every expected tensor with ok/FAIL; exit 0 on parity, 1 otherwise.\n"
    "\n"
    "  --threads N      worker threads (default 2); masks must not depend on it\n"
    "  --weights FILE   check this checkpoint instead of DIR/model.pth\n"
    "  --kernels K      fast (default), blas or reference\n"
    "\n"
    "examples:\n"
    "  segagent check-simpleclick ../shared/fixtures/simpleclick/tiny\n"
    "  segagent check-simpleclick ../shared/fixtures/simpleclick/tiny --threads 1 --kernels "
    "reference\n";

static void print_line(void *ctx, const char *line) {
    (void)ctx;
    printf("  %s\n", line);
}

int cli_check_simpleclick(int argc, char **argv) {
    int threads = 2;
    const char *weights = NULL, *kern = "fast";
    cli_opt opts[] = {
        CLI_O_THREADS(&threads),
        CLI_O_STR("weights", &weights),
        CLI_O_STR("kernels", &kern),
    };
    const char *pos[1];
    int n_pos = 0;
    int r = cli_parse(argc, argv, opts, 3, pos, 1, &n_pos, USAGE);
    if (r == 1) return 0;
    if (r) return 2;
    if (n_pos != 1) {
        fprintf(stderr, "check-simpleclick: need the fixture folder DIR (see --help)\n");
        return 2;
    }
    if (cli_check_int("check-simpleclick", "threads", threads, 1, 256)) return 2;
    int kernels;
    if (!strcmp(kern, "fast"))
        kernels = SA_SC_KERNELS_FAST;
    else if (!strcmp(kern, "blas"))
        kernels = SA_SC_KERNELS_BLAS;
    else if (!strcmp(kern, "reference"))
        kernels = SA_SC_KERNELS_REFERENCE;
    else {
        fprintf(stderr, "check-simpleclick: unknown --kernels '%s' (fast, blas, reference)\n",
                kern);
        return 2;
    }
    struct stat st;
    if (stat(pos[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "check-simpleclick: %s: not a folder (expected a parity fixture folder)\n",
                pos[0]);
        return 1;
    }
    sa_sc_check_params p = sa_sc_check_default_params();
    p.threads = threads;
    p.kernels = kernels;
    p.weights = weights;
    printf("check-simpleclick %s (weights %s, %d threads, %s kernels)\n", pos[0],
           weights ? weights : "model.pth", threads, kern);
    fflush(stdout); /* before any error on stderr, also when both go to one pipe */
    sa_error err = {0};
    int fails = 0;
    double t0 = cli_now_s();
    int rc = sa_sc_check_fixture(pos[0], p, print_line, NULL, &fails, &err);
    if (rc != SA_OK) {
        fprintf(stderr, "check-simpleclick: %s\n", err.msg);
        return 1;
    }
    printf("%s (%.1f s)\n", fails ? "PARITY FAILED" : "parity ok", cli_now_s() - t0);
    return fails ? 1 : 0;
}
