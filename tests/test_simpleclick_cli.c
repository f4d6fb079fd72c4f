/* --tool simpleclick through the segagent binary, as a user runs it: check-simpleclick on the
 * shared fixture (exit 0) and on a folder that is not one (exit 1); annotate, eval and trajectories
 * with the fixture's model on the fixture image (the pipeline runs end to end; the masks mean
 * little with random weights); and the one-line usage errors (no --model, bad --zoom-in / --flip /
 * --prob-thresh, a file that is not a checkpoint). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static tu_cli T;

static int run(const char *args, const char *tag) {
    return tu_cli_run(&T, args, tag);
}

static void expect(const char *args, const char *tag, int status, const char *needle) {
    int rc = run(args, tag);
    char rel[64];
    snprintf(rel, sizeof rel, "%s.err", tag);
    char *err = tu_cli_slurp(&T, rel);
    snprintf(rel, sizeof rel, "%s.out", tag);
    char *out = tu_cli_slurp(&T, rel);
    CHECKF(rc == status, "segagent %s: exit %d, expected %d; stderr: %s", args, rc, status, err);
    if (needle)
        CHECKF(strstr(err, needle) || strstr(out, needle), "segagent %s: no '%s' in: %s", args,
               needle, err);
    free(err);
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_require_shared();
    tu_cli_init(&T, argv[0]);
    char *dir = tu_shared_path("fixtures/simpleclick/tiny");
    char *pth = tu_shared_path("fixtures/simpleclick/tiny/model.pth");
    char *img = tu_shared_path("fixtures/simpleclick/tiny/image.png");
    char *gt = tu_shared_path("fixtures/simpleclick/tiny/gt.png");
    char a[16384];

    snprintf(a, sizeof a, "check-simpleclick %s --threads 1", dir);
    expect(a, "check", 0, "parity ok");
    snprintf(a, sizeof a, "check-simpleclick %s/..", dir);
    expect(a, "check_wrong", 1, "check-simpleclick");

    tu_cli_mkdir(&T, "data");
    tu_cli_mkdir(&T, "data/images");
    tu_cli_mkdir(&T, "data/masks");
    snprintf(a, sizeof a, "cp %s %s/data/images/a.png && cp %s %s/data/masks/a.png", img, T.dir, gt,
             T.dir);
    CHECK(system(a) == 0);
    snprintf(
        a, sizeof a,
        "annotate --image %s --gt %s --tool simpleclick --model %s --max-clicks 3 --out %s/ann",
        img, gt, pth, T.dir);
    expect(a, "annotate", 0, NULL);
    snprintf(a, sizeof a,
             "eval --dataset D=%s/data --tool simpleclick --model %s --max-clicks 3 --flip off "
             "--prob-thresh 0.5 "
             "--json %s/ev.json --quiet",
             T.dir, pth, T.dir);
    expect(a, "eval", 0, NULL);
    char *json = tu_cli_slurp(&T, "ev.json");
    CHECKF(strstr(json, "simpleclick"), "eval JSON does not name the tool: %.200s", json);
    free(json);
    snprintf(a, sizeof a,
             "trajectories --dataset D=%s/data --tool simpleclick --model %s --zoom-in off "
             "--max-clicks 2 --out %s/tr.json "
             "--quiet",
             T.dir, pth, T.dir);
    expect(a, "traj", 0, NULL);

    snprintf(a, sizeof a, "annotate --image %s --gt %s --tool simpleclick --out %s/x", img, gt,
             T.dir);
    expect(a, "nomodel", 2, "--model");
    snprintf(a, sizeof a,
             "annotate --image %s --gt %s --tool simpleclick --model %s --zoom-in maybe --out %s/x",
             img, gt, pth, T.dir);
    expect(a, "badzoom", 2, "--zoom-in");
    snprintf(a, sizeof a, "eval --dataset D=%s/data --tool simpleclick --model %s --flip 1", T.dir,
             pth);
    expect(a, "badflip", 2, "--flip");
    snprintf(a, sizeof a,
             "eval --dataset D=%s/data --tool simpleclick --model %s --prob-thresh 1.5", T.dir,
             pth);
    expect(a, "badthresh", 2, "--prob-thresh");
    snprintf(a, sizeof a, "annotate --image %s --gt %s --tool simpleclick --model %s --out %s/x",
             img, gt, img, T.dir);
    expect(a, "notpth", 1, "not a .pth");

    if (tu_rmtree(T.dir) != 0) fprintf(stderr, "could not remove %s\n", T.dir);
    free(dir);
    free(pth);
    free(img);
    free(gt);
    return tu_finish("test_simpleclick_cli");
}
