/* What the user gave is never destroyed, and no file is ever left half-written (issue 13, CLI
 * half):
 *  - an output that is (or would overwrite, or delete as a stale step overlay) an input of the same
 * run is refused before any work with one line naming both, and the input is left byte for byte as
 * it was; two outputs of one run never share a path;
 *  - a run that fails leaves the previous output file (no empty or partial file, no temporary
 * file);
 *  - SIGINT / SIGTERM / SIGHUP stop long commands the same way (exit 130, outputs consistent);
 *  - text from outside (file names, model replies) reaches the terminal with control characters
 * escaped;
 *  - numeric options state their real range, and --quiet still says why everything failed.
 * Runs the built binary on files it makes itself (the demo's scenes), no shared data needed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy_server.h"
#include "testutil.h"

static tu_cli T;

static char *slurp_rel(const char *rel, size_t *len) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", T.dir, rel);
    return tu_read_file(p, len);
}

static void copy_rel(const char *from, const char *to) {
    size_t n = 0;
    char *d = slurp_rel(from, &n);
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", T.dir, to);
    FILE *f = fopen(p, "wb");
    if (!d || !f || fwrite(d, 1, n, f) != n) {
        fprintf(stderr, "cannot copy %s to %s\n", from, to);
        exit(1);
    }
    fclose(f);
    free(d);
}

static int path_exists(const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", T.dir, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

/* 1 when DIR/REL holds exactly the bytes of DIR/REF. */
static int same_bytes(const char *rel, const char *ref) {
    size_t a = 0, b = 0;
    char *x = slurp_rel(rel, &a), *y = slurp_rel(ref, &b);
    int same = x && y && a == b && memcmp(x, y, a) == 0;
    free(x);
    free(y);
    return same;
}

static char *err_text(const char *tag) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.err", tag);
    return tu_cli_slurp(&T, rel);
}

static int err_lines(const char *tag) {
    char *s = err_text(tag);
    int n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static int err_has(const char *tag, const char *needle) {
    char *s = err_text(tag);
    int ok = strstr(s, needle) != NULL;
    if (!ok) fprintf(stderr, "  %s.err lacks '%s': %s\n", tag, needle, s);
    free(s);
    return ok;
}

/* Runs ARGS ("%s" = the temp dir, up to 6 times); returns the exit status. */
static int run(const char *tag, const char *fmt) {
    char args[8192];
    snprintf(args, sizeof args, fmt, T.dir, T.dir, T.dir, T.dir, T.dir, T.dir);
    return tu_cli_run(&T, args, tag);
}

/* A refusal: exit 1, one stderr line naming both NEEDLE1 and NEEDLE2. */
static void expect_refused(const char *tag, const char *needle1, const char *needle2,
                           const char *fmt) {
    int rc = run(tag, fmt);
    CHECKF(rc == 1, "%s: exit %d, want 1", tag, rc);
    CHECKF(err_lines(tag) == 1, "%s: %d stderr lines, want 1", tag, err_lines(tag));
    CHECK(err_has(tag, needle1));
    CHECK(err_has(tag, needle2));
}

/* No "*.part-*" temporary file left in DIR/REL. */
static int no_temp_files(const char *rel) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ls -a '%s/%s' | grep -q '\\.part-'", T.dir, rel);
    return system(cmd) != 0;
}

static void outputs_never_destroy_inputs(void) {
    /* annotate --out on the folder holding its inputs, under names it writes or deletes */
    tu_cli_mkdir(&T, "a");
    copy_rel("src/image.png", "a/photo.png");
    copy_rel("src/gt_mask.png", "a/gt.png");
    expect_refused("annotate_gt", "a/gt.png", "--gt",
                   "annotate --image %s/a/photo.png --gt %s/a/gt.png --out %s/a");
    CHECK(same_bytes("a/gt.png", "src/gt_mask.png"));
    copy_rel("src/image.png", "a/step_03.png");
    copy_rel("src/gt_mask.png", "a/truth.png");
    expect_refused(
        "annotate_step", "a/step_03.png", "--image",
        "annotate --image %s/a/step_03.png --gt %s/a/truth.png --out %s/a --no-overlays");
    CHECK(same_bytes("a/step_03.png", "src/image.png"));
    copy_rel("src/gt_mask.png", "a/mask.png");
    expect_refused("annotate_mask", "a/mask.png", "--gt",
                   "annotate --image %s/a/photo.png --gt %s/a/mask.png --out %s/a");
    CHECK(same_bytes("a/mask.png", "src/gt_mask.png"));
    /* the same through a symbolic link */
    {
        char target[8192], link[8192];
        snprintf(target, sizeof target, "%s/a/truth.png", T.dir);
        snprintf(link, sizeof link, "%s/a/summary.json", T.dir);
        CHECK(symlink(target, link) == 0);
    }
    expect_refused("annotate_link", "a/summary.json", "a/truth.png",
                   "annotate --image %s/a/photo.png --gt %s/a/truth.png --out %s/a --no-overlays");
    CHECK(same_bytes("a/truth.png", "src/gt_mask.png"));

    /* a dataset of one pair */
    tu_cli_mkdir(&T, "ds");
    tu_cli_mkdir(&T, "ds/images");
    tu_cli_mkdir(&T, "ds/masks");
    copy_rel("src/image.png", "ds/images/a.png");
    copy_rel("src/gt_mask.png", "ds/masks/a.png");
    expect_refused("traj_image", "ds/images/a.png", "an image of dataset",
                   "trajectories --dataset %s/ds --out %s/ds/images/a.png --quiet");
    CHECK(same_bytes("ds/images/a.png", "src/image.png"));
    expect_refused("eval_mask", "ds/masks/a.png", "a mask of dataset",
                   "eval --dataset %s/ds --json %s/ds/masks/a.png");
    CHECK(same_bytes("ds/masks/a.png", "src/gt_mask.png"));
    /* two outputs of one run never share a path: given twice, or the chart's default beside --json
     */
    expect_refused("eval_twice", "--json", "same file",
                   "eval --dataset %s/ds --json %s/x.json --chart %s/x.json");
    expect_refused("eval_svg", "--chart", "same file", "eval --dataset %s/ds --json %s/x.svg");
    CHECK(!path_exists("x.json") && !path_exists("x.svg"));

    /* score --json on its own mask; filter --out on its annotations or on one of their images */
    expect_refused("score_mask", "MASK", "src/gt_mask.png",
                   "score %s/src/image.png %s/src/gt_mask.png cat --json %s/src/gt_mask.png "
                   "--policy http://127.0.0.1:1/v1 --retries 0");
    CHECK(same_bytes("src/gt_mask.png", "a/truth.png"));
    const char *coco =
        "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"height\": 48, \"width\": 64}], "
        "\"annotations\": [{\"id\": 1, \"image_id\": 1, \"bbox\": [1, 1, 10, 10]}]}\n";
    tu_cli_write_text(&T, "coco.json", coco);
    expect_refused("filter_ann", "--annotations", "coco.json",
                   "filter --annotations %s/coco.json --images %s/ds/images --out %s/coco.json "
                   "--policy http://127.0.0.1:1/v1 --retries 0");
    char *c = slurp_rel("coco.json", NULL);
    CHECK(c && !strcmp(c, coco));
    free(c);
    expect_refused(
        "filter_img", "ds/images/a.png", "--images",
        "filter --annotations %s/coco.json --images %s/ds/images --out %s/ds/images/a.png "
        "--policy http://127.0.0.1:1/v1 --retries 0");
    CHECK(same_bytes("ds/images/a.png", "src/image.png"));

    /* export --out on the folder holding --trajectories under the records file's name; OUT/images =
     * --images */
    CHECK(run("traj_ok", "trajectories --dataset %s/ds --out %s/t.json --quiet --max-clicks 2") ==
          0);
    tu_cli_mkdir(&T, "e");
    copy_rel("t.json", "e/llava.json");
    expect_refused("export_traj", "e/llava.json", "--trajectories",
                   "export --trajectories %s/e/llava.json --images %s/ds/images --format llava "
                   "--out %s/e --quiet");
    CHECK(same_bytes("e/llava.json", "t.json"));
    expect_refused(
        "export_images", "--images", "ds/images",
        "export --trajectories %s/t.json --images %s/ds/images --format llava --out %s/ds --quiet");

    /* export reading its images from inside OUT: a JPEG it would write is one it reads */
    CHECK(run("export_first",
              "export --trajectories %s/t.json --images %s/ds/images --format llava --out %s/ex2 "
              "--size 0 --quiet") == 0);
    copy_rel("ex2/images/000000_a_t00.jpg", "jpg_before");
    {
        /* sample 0 (a.png) writes images/000000_a_t00.jpg, which sample 1 names as its image */
        char *t = slurp_rel("t.json", NULL);
        char *open = t ? strchr(strstr(t, "\"data\""), '[') : NULL,
             *close = open ? strrchr(t, ']') : NULL;
        char *at = open ? strstr(open, "\"a.png\"") : NULL;
        CHECK(at != NULL && close > at);
        char p[8192];
        snprintf(p, sizeof p, "%s/t2.json", T.dir);
        FILE *f = at ? fopen(p, "wb") : NULL;
        if (f) {
            fprintf(f, "%.*s,%.*s\"images/000000_a_t00.jpg\"%s", (int)(close - t), t,
                    (int)(at - open - 1), open + 1, at + 7);
            fclose(f);
        }
        free(t);
    }
    expect_refused("export_own_jpeg", "ex2/images/000000_a_t00.jpg", "would overwrite",
                   "export --trajectories %s/t2.json --images %s/ex2 --format llava --out %s/ex2 "
                   "--size 0 --quiet");
    CHECK(same_bytes("ex2/images/000000_a_t00.jpg", "jpg_before"));

    /* segment / refine --out on the folder of their photo or start mask */
    tu_cli_mkdir(&T, "s");
    copy_rel("src/image.png", "s/mask.png");
    copy_rel("src/gt_mask.png", "s/step_02.png");
    expect_refused(
        "segment_photo", "s/mask.png", "PHOTO",
        "segment %s/s/mask.png cat --out %s/s --policy http://127.0.0.1:1/v1 --retries 0");
    expect_refused(
        "refine_mask", "s/step_02.png", "MASK",
        "refine %s/src/image.png %s/s/step_02.png cat --out %s/s --policy http://127.0.0.1:1/v1 "
        "--retries 0");
    CHECK(same_bytes("s/mask.png", "src/image.png") &&
          same_bytes("s/step_02.png", "src/gt_mask.png"));

    /* demo: the checkpoint given is one of the files it writes */
    tu_cli_mkdir(&T, "d");
    tu_cli_write_text(&T, "d/summary.json", "{}\n");
    expect_refused("demo_model", "d/summary.json", "--sam-model",
                   "demo --out %s/d --tool sam --sam-model %s/d/summary.json");
    c = slurp_rel("d/summary.json", NULL);
    CHECK(c && !strcmp(c, "{}\n"));
    free(c);
}

/* A run that fails (or writes nothing) keeps the previous file of the same name, and no temporary
 * file. */
static void failed_runs_keep_previous_files(void) {
    tu_cli_mkdir(&T, "bad");
    tu_cli_mkdir(&T, "bad/images");
    tu_cli_mkdir(&T, "bad/masks");
    tu_cli_write_text(&T, "bad/images/a.png", "not an image\n");
    tu_cli_write_text(&T, "bad/masks/a.png", "not a mask\n");
    tu_cli_mkdir(&T, "prev");
    tu_cli_write_text(&T, "prev/t.json", "previous\n");
    int rc = run("traj_fail", "trajectories --dataset %s/bad --out %s/prev/t.json --quiet");
    CHECKF(rc == 1, "trajectories on corrupt images: exit %d", rc);
    char *c = slurp_rel("prev/t.json", NULL);
    CHECKF(c && !strcmp(c, "previous\n"), "the previous trajectories file was replaced: '%s'",
           c ? c : "(gone)");
    free(c);

    /* export that finds no image: the previous records file stays */
    tu_cli_write_text(&T, "prev/llava.json", "previous\n");
    tu_cli_mkdir(&T, "noimg");
    rc = run(
        "export_fail",
        "export --trajectories %s/t.json --images %s/noimg --format llava --out %s/prev --quiet");
    CHECKF(rc == 1, "export with no image found: exit %d", rc);
    c = slurp_rel("prev/llava.json", NULL);
    CHECKF(c && !strcmp(c, "previous\n"), "the previous records file was replaced: '%s'",
           c ? c : "(gone)");
    free(c);
    CHECK(no_temp_files("prev"));
}

/* Starts "segagent ARGS" (stdout/stderr in DIR/TAG.out/.err), waits until DIR/TAG.<stream> holds
 * WAIT_FOR (a line the command prints once its stop handlers are installed), sends SIG, and returns
 * the exit status (-1 when killed by a signal, -2 when WAIT_FOR never appeared within a minute and
 * the run ended or was killed). */
static int run_and_signal(const char *tag, const char *args, const char *stream,
                          const char *wait_for, int sig) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "exec '%s' %s >'%s/%s.out' 2>'%s/%s.err'", T.bin, args, T.dir, tag,
             T.dir, tag);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int seen = 0, st = 0;
    char rel[256];
    snprintf(rel, sizeof rel, "%s.%s", tag, stream);
    for (int i = 0; i < 1200 && !seen; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char *t = tu_cli_slurp(&T, rel);
        seen = strstr(t, wait_for) != NULL;
        free(t);
        if (waitpid(pid, &st, WNOHANG) == pid) return -2;
    }
    if (!seen) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -2;
    }
    kill(pid, sig);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The trajectory file t.json (one sample) with its sample repeated n times. */
static void repeat_samples(const char *from, const char *to, int n) {
    char *t = slurp_rel(from, NULL);
    char *data = t ? strstr(t, "\"data\"") : NULL;
    char *open = data ? strchr(data, '[') : NULL;
    char *close = open ? strrchr(t, ']') : NULL;
    if (!close || close < open) {
        fprintf(stderr, "unexpected trajectory file %s\n", from);
        exit(1);
    }
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", T.dir, to);
    FILE *f = fopen(p, "wb");
    if (!f) exit(1);
    fwrite(t, 1, (size_t)(open + 1 - t), f);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', f);
        fwrite(open + 1, 1, (size_t)(close - open - 1), f);
    }
    fputs(close, f);
    fclose(f);
    free(t);
}

/* SIGINT, SIGTERM and SIGHUP stop every long command the same way: exit 130, consistent outputs. */
static void stop_signals(void) {
    char args[8192];
    /* export: the records file is discarded, the previous one stays */
    repeat_samples("t.json", "many.json", 4000);
    tu_cli_mkdir(&T, "ex");
    tu_cli_write_text(&T, "ex/llava.json", "previous\n");
    snprintf(args, sizeof args,
             "export --trajectories %s/many.json --images %s/ds/images --format llava --out %s/ex",
             T.dir, T.dir, T.dir);
    int rc = run_and_signal("export_int", args, "err", "export: ", SIGINT);
    CHECKF(rc == 130, "export after SIGINT: exit %d, want 130", rc);
    CHECK(err_has("export_int", "interrupted"));
    char *c = slurp_rel("ex/llava.json", NULL);
    CHECKF(c && !strcmp(c, "previous\n"), "export after SIGINT replaced the records file");
    free(c);
    CHECK(no_temp_files("ex"));

    /* trajectories on SIGHUP: a complete JSON file with the samples so far */
    tu_cli_mkdir(&T, "big");
    tu_cli_mkdir(&T, "big/images");
    tu_cli_mkdir(&T, "big/masks");
    for (int i = 0; i < 400; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "big/images/i%03d.png", i);
        snprintf(b, sizeof b, "big/masks/i%03d.png", i);
        copy_rel("src/image.png", a);
        copy_rel("src/gt_mask.png", b);
    }
    snprintf(args, sizeof args, "trajectories --dataset %s/big --out %s/hup.json --jobs 1", T.dir,
             T.dir);
    rc = run_and_signal("traj_hup", args, "err", "trajectories: ", SIGHUP);
    CHECKF(rc == 130, "trajectories after SIGHUP: exit %d, want 130", rc);
    c = slurp_rel("hup.json", NULL);
    size_t n = c ? strlen(c) : 0;
    CHECKF(n > 2 && c[0] == '{' && !strcmp(c + n - 2, "}\n") && strstr(c, "\"data\""),
           "trajectories after SIGHUP: not a complete file");
    free(c);

    /* SIGKILL cannot be handled: the previous file stays under the final name, never a partial one
     */
    tu_cli_write_text(&T, "kill.json", "previous\n");
    snprintf(args, sizeof args, "trajectories --dataset %s/big --out %s/kill.json --jobs 1", T.dir,
             T.dir);
    rc = run_and_signal("traj_kill", args, "err", "trajectories: ", SIGKILL);
    CHECKF(rc == -1, "trajectories after SIGKILL: status %d, want killed", rc);
    c = slurp_rel("kill.json", NULL);
    CHECKF(c && !strcmp(c, "previous\n"),
           "trajectories after SIGKILL: the previous file was replaced");
    free(c);

    /* demo on SIGTERM: stops after the current click, the summary covers what was done */
    snprintf(args, sizeof args, "demo --out %s/dt --no-overlays", T.dir);
    rc = run_and_signal("demo_term", args, "out", " 0.", SIGTERM);
    CHECKF(rc == 130, "demo after SIGTERM: exit %d, want 130", rc);
    CHECK(err_has("demo_term", "interrupted"));
    CHECK(path_exists("dt/summary.json") && path_exists("dt/chart.svg"));

    /* serve: SIGHUP stops the server like SIGINT and SIGTERM (a clean stop, exit 0) */
    rc = run_and_signal("serve_hup", "serve --port 0 --quiet", "err", "serve: listening", SIGHUP);
    CHECKF(rc == 0, "serve after SIGHUP: exit %d, want 0", rc);
    CHECK(err_has("serve_hup", "SIGHUP, stopping"));

    if (!ts_have_python()) {
        printf("note: python3 missing, segment/filter stop cases not run\n");
        return;
    }
    test_server srv;
    char gt[8192];
    snprintf(gt, sizeof gt, "%s/src/gt_mask.png", T.dir);
    if (ts_start(&srv, gt) != 0) {
        CHECK(!"policy server did not start");
        return;
    }
    /* segment: the request in flight is answered, then the episode ends with its outputs written */
    snprintf(args, sizeof args,
             "segment %s/src/image.png cat --out %s/sg --steps 5 --policy %s --model slow", T.dir,
             T.dir, srv.base_url);
    rc = run_and_signal("segment_int", args, "err", "step 1/5: asking the model", SIGINT);
    CHECKF(rc == 130, "segment after SIGINT: exit %d, want 130", rc);
    c = slurp_rel("sg/trajectory.json", NULL);
    CHECKF(c && strstr(c, "stopped"), "segment after SIGINT: trajectory.json does not say stopped");
    free(c);
    CHECK(path_exists("sg/mask.png") || path_exists("sg/step_01.png"));
    /* filter: the scores so far are written */
    tu_cli_write_text(
        &T, "coco3.json",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"height\": 48, \"width\": 64}], "
        "\"annotations\": [{\"id\": 1, \"image_id\": 1, \"caption\": \"cat\", \"segmentation\": "
        "[[1, 1, 30, 1, 30, 30, 1, 30]]}, {\"id\": 2, \"image_id\": 1, \"caption\": \"cat\", "
        "\"segmentation\": [[1, 1, 30, 1, 30, 30]]}, {\"id\": 3, \"image_id\": 1, \"caption\": "
        "\"cat\", \"segmentation\": [[2, 2, 20, 2, 20, 20]]}]}\n");
    snprintf(args, sizeof args,
             "filter --annotations %s/coco3.json --images %s/ds/images --out %s/fs.json --policy "
             "%s --model slow",
             T.dir, T.dir, T.dir, srv.base_url);
    rc = run_and_signal("filter_int", args, "err", "filter: scoring 3 annotations", SIGINT);
    CHECKF(rc == 130, "filter after SIGINT: exit %d, want 130", rc);
    CHECK(path_exists("fs.json"));
    ts_stop(&srv);
}

/* No raw control character (other than newline) in DIR/TAG.<stream>, and the escape "\x1b" shown
 * instead. */
static void expect_escaped(const char *tag, const char *stream) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.%s", tag, stream);
    char *s = tu_cli_slurp(&T, rel);
    int raw = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f ||
            (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            raw = 1;
    CHECKF(!raw, "%s: a raw control character reached the terminal: %s", rel, s);
    CHECKF(strstr(s, "\\x1b") != NULL, "%s: no visible escape: %s", rel, s);
    free(s);
}

/* Text from outside (file names, model replies) has its control characters escaped on the terminal.
 */
static void terminal_safety(void) {
    /* a file name with an OSC title sequence and a clear-screen sequence */
    int rc = run("esc_name",
                 "annotate --image '%s/a\033]0;pwned\007\033[2Jb.png' --gt %s/src/gt_mask.png "
                 "--out %s/escout");
    CHECKF(rc == 1, "annotate with a missing, strangely named image: exit %d", rc);
    expect_escaped("esc_name", "err");
    rc = run("esc_ds", "eval --dataset '%s/no\033[2Jwhere'");
    CHECKF(rc == 1, "eval with a missing, strangely named dataset: exit %d", rc);
    expect_escaped("esc_ds", "err");
    if (!ts_have_python()) return;
    test_server srv;
    char gt[8192], args[8192];
    snprintf(gt, sizeof gt, "%s/src/gt_mask.png", T.dir);
    if (ts_start(&srv, gt) != 0) {
        CHECK(!"policy server did not start");
        return;
    }
    /* a model reply with escape sequences: score quotes it, segment prints it per step and as the
     * reason */
    snprintf(args, sizeof args,
             "score %s/src/image.png %s/src/gt_mask.png cat --policy %s --model escape", T.dir,
             T.dir, srv.base_url);
    rc = tu_cli_run(&T, args, "esc_score");
    CHECKF(rc == 1, "score with an escape-laden reply: exit %d", rc);
    expect_escaped("esc_score", "err");
    snprintf(args, sizeof args,
             "segment %s/src/image.png cat --out %s/escseg --steps 2 --policy %s --model escape",
             T.dir, T.dir, srv.base_url);
    rc = tu_cli_run(&T, args, "esc_segment");
    expect_escaped("esc_segment", "out");
    char *e = tu_cli_slurp(&T, "esc_segment.err");
    CHECKF(!strchr(e, '\033') || strstr(e, "\033[K"), "segment stderr: raw escape: %s", e);
    free(e);
    ts_stop(&srv);
}

/* A usage error: exit 2, one stderr line holding NEEDLE. */
static void expect_usage(const char *tag, const char *needle, const char *fmt) {
    int rc = run(tag, fmt);
    CHECKF(rc == 2, "%s: exit %d, want 2", tag, rc);
    CHECKF(err_lines(tag) == 1, "%s: %d stderr lines, want 1", tag, err_lines(tag));
    CHECK(err_has(tag, needle));
}

/* One rule per kind of option, stated with its real bounds; --quiet still says why everything
 * failed. */
static void option_ranges(void) {
    expect_usage("steps0", "--steps must be 1..1024 (got 0)",
                 "segment %s/src/image.png cat --out %s/r0 --steps 0");
    expect_usage("steps_big", "--steps must be 1..1024 (got 5000)",
                 "segment %s/src/image.png cat --out %s/r0 --steps 5000");
    expect_usage("timeout_huge", "--timeout must be in (0, 1e+06] (got 1e+300)",
                 "segment %s/src/image.png cat --out %s/r0 --timeout 1e300");
    expect_usage("timeout_inf", "--timeout must be in (0, 1e+06] (got inf)",
                 "score %s/src/image.png %s/src/gt_mask.png cat --timeout 1e309");
    expect_usage("topp_nan", "--top-p must be in (0, 1] (got nan)",
                 "score %s/src/image.png %s/src/gt_mask.png cat --top-p nan");
    expect_usage("clicks_huge", "--max-clicks must be 1..100 (got 99999999999)",
                 "annotate --image %s/src/image.png --gt %s/src/gt_mask.png --out %s/r0 "
                 "--max-clicks 99999999999");
    expect_usage(
        "clicks_way_huge", "--max-clicks must be 1..1024 (got a number that large)",
        "trajectories --dataset %s/ds --out %s/r0.json --max-clicks 99999999999999999999999");
    expect_usage("jobs_neg", "--jobs must be 0..64 (got -1)",
                 "trajectories --dataset %s/ds --out %s/r0.json --jobs -1");
    expect_usage("tokens0", "--max-tokens must be 1..65536 (got 0)",
                 "segment %s/src/image.png cat --out %s/r0 --max-tokens 0");
    expect_usage("box_inf", "--box 'inf,0,inf,5'",
                 "segment %s/src/image.png cat --out %s/r0 --box inf,0,inf,5");
    expect_usage("box_neg", "0 <= X0 <= X1",
                 "segment %s/src/image.png cat --out %s/r0 --box -5,0,3,5");
    expect_usage("color_wrap", "--overlay-color '4294967296,0,0'",
                 "segment %s/src/image.png cat --out %s/r0 --overlay-color 4294967296,0,0");
    expect_usage("size_wrap", "--size must be WxH with sides 32..4096",
                 "demo --out %s/r0 --size 4294967360x64");
    expect_usage("serve_port", "--port must be 0..65535 (got 70000)", "serve --port 70000");
    expect_usage("serve_pixels", "--max-pixels must be in [1, ", "serve --max-pixels 1e300");
    expect_usage("notnum", "bad value 'x' for --limit (not a number)",
                 "eval --dataset %s/ds --limit x");
    CHECK(!path_exists("r0") && !path_exists("r0.json"));
    /* the same range, whatever the command */
    expect_usage("q_export", "--jpeg-quality must be 1..100 (got 0)",
                 "export --trajectories %s/t.json --images %s/ds/images --format llava --out %s/r0 "
                 "--jpeg-quality 0");
    expect_usage("q_segment", "--jpeg-quality must be 1..100 (got 0)",
                 "segment %s/src/image.png cat --out %s/r0 --jpeg-quality 0");

    /* --quiet with every annotation failing: one line that says why */
    int rc = run("filter_quiet",
                 "filter --annotations %s/coco.json --images %s/ds/images --out %s/fq.json --quiet "
                 "--policy http://127.0.0.1:1/v1 --retries 0");
    CHECKF(rc == 1, "filter --quiet, all failing: exit %d", rc);
    CHECKF(err_lines("filter_quiet") == 1, "filter --quiet: %d stderr lines",
           err_lines("filter_quiet"));
    CHECK(err_has("filter_quiet", "none of the 1 annotations could be scored"));
    CHECK(err_has("filter_quiet", "no description"));
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli_init(&T, argv[0]);
    /* a scene and its ground truth to work on */
    CHECK(run("demo_src", "demo --out %s/demo --max-clicks 1 --no-overlays --size 64x48") == 0);
    tu_cli_mkdir(&T, "src");
    copy_rel("demo/ellipse/image.png", "src/image.png");
    copy_rel("demo/ellipse/gt_mask.png", "src/gt_mask.png");

    outputs_never_destroy_inputs();
    failed_runs_keep_previous_files();
    stop_signals();
    terminal_safety();
    option_ranges();
    int rc = tu_finish("test_cli_inputs");
    if (rc == 0) tu_rmtree(T.dir);
    return rc;
}
