/* segagent check-sam DIR: runs the SAM engine on a parity fixture folder (docs/sam.md format) and
 * compares every expected tensor; the logic is sa_sam_check_fixture (shared with the test suite). Checks
 * DIR/model.safetensors, and DIR/sam_official.pth too when present (or only --weights FILE). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "segagent/sam.h"

static const char *USAGE =
    "usage: segagent check-sam DIR [--threads N] [--weights FILE] [--kernels fast|blas|reference]\n"
    "\n"
    "Checks the SAM engine against a parity fixture folder: model.safetensors (+ config.json), image.png,\n"
    "cases.json, expected.safetensors (and sam_official.pth when present). Prints the worst error of every\n"
    "expected tensor with ok/FAIL; exit 0 on parity, 1 otherwise.\n"
    "\n"
    "  --threads N      worker threads (default 2); masks must not depend on it\n"
    "  --weights FILE   check this checkpoint instead of DIR/model.safetensors and DIR/sam_official.pth\n"
    "  --kernels K      fast (default), blas or reference\n"
    "\n"
    "examples:\n"
    "  segagent check-sam ../shared/fixtures/sam/tiny\n"
    "  segagent check-sam ../shared/fixtures/sam/tiny --weights sam_vit_b/model.safetensors --kernels reference\n";

static void print_line(void *ctx, const char *line) {
    (void)ctx;
    cli_printf(stdout, "  %s\n", line);
}

static int check_one(const char *dir, const char *weights, int threads, int kernels) {
    sa_sam_check_params p = sa_sam_check_default_params();
    p.threads = threads;
    p.kernels = kernels;
    p.weights = weights;
    sa_error err = {0};
    int fails = 0;
    cli_printf(stdout, "check-sam %s (weights %s, %d threads)\n", dir,
               weights ? weights : "model.safetensors", threads);
    fflush(stdout); /* before any error on stderr, also when both go to one pipe */
    double t0 = cli_now_s();
    int rc = sa_sam_check_fixture(dir, p, print_line, NULL, &fails, &err);
    if (rc != SA_OK) {
        cli_printf(stderr, "check-sam: %s\n", err.msg);
        return 1;
    }
    cli_printf(stdout, "%s (%.1f s)\n", fails ? "PARITY FAILED" : "parity ok", cli_now_s() - t0);
    return fails ? 1 : 0;
}

int cli_check_sam(int argc, char **argv) {
    cli_check_opts o;
    int r = cli_parse_check_opts("check-sam", argc, argv, USAGE, &o);
    if (r) return r < 0 ? 0 : r;
    const char *dir = o.dir, *weights = o.weights;
    int threads = o.threads, kernels = o.kernels;
    if (weights) return check_one(dir, weights, threads, kernels);
    int status = check_one(dir, NULL, threads, kernels);
    char pth[4096];
    snprintf(pth, sizeof pth, "%s/sam_official.pth", dir);
    if (access(pth, R_OK) == 0) status |= check_one(dir, pth, threads, kernels);
    return status;
}
