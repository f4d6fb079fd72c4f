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
    cli_check_opts o;
    int r = cli_parse_check_opts("check-simpleclick", argc, argv, USAGE, &o);
    if (r) return r < 0 ? 0 : r;
    sa_sc_check_params p = sa_sc_check_default_params();
    p.threads = o.threads;
    p.kernels = o.kernels;
    p.weights = o.weights;
    cli_printf(stdout, "check-simpleclick %s (weights %s, %d threads, %s kernels)\n", o.dir,
               o.weights ? o.weights : "model.pth", o.threads, o.kernels_name);
    fflush(stdout); /* before any error on stderr, also when both go to one pipe */
    sa_error err = {0};
    int fails = 0;
    double t0 = cli_now_s();
    int rc = sa_sc_check_fixture(o.dir, p, print_line, NULL, &fails, &err);
    if (rc != SA_OK) {
        cli_printf(stderr, "check-simpleclick: %s\n", err.msg);
        return 1;
    }
    printf("%s (%.1f s)\n", fails ? "PARITY FAILED" : "parity ok", cli_now_s() - t0);
    return fails ? 1 : 0;
}
