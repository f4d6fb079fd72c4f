/* What a first-time user of the segagent CLI runs into: wrong option values, a missing or wrong kind of path,
 * missing arguments. Each must give exit status 2 (usage error) or 1 (failure) with ONE line on stderr naming
 * the option or file, and must leave no output behind (no empty folder, no half-written file). Also checks that
 * every command's --help exits 0 and that the help texts carry examples. Runs the built binary
 * (<build>/segagent); the dataset cases use ../shared/data when present and are skipped otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static tu_cli T;

/* Number of lines in DIR/TAG.err. */
static int err_lines(const char *tag) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.err", tag);
    char *s = tu_cli_slurp(&T, rel);
    int n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static int err_has(const char *tag, const char *needle) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.err", tag);
    char *s = tu_cli_slurp(&T, rel);
    int ok = strstr(s, needle) != NULL;
    if (!ok) fprintf(stderr, "  %s.err lacks '%s': %s\n", tag, needle, s);
    free(s);
    return ok;
}

static int out_has(const char *tag, const char *needle) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s.out", tag);
    char *s = tu_cli_slurp(&T, rel);
    int ok = strstr(s, needle) != NULL;
    free(s);
    return ok;
}

static int path_exists(const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", T.dir, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

/* Runs ARGS (with "%s" = the temp dir, used at most 4 times) and checks: exit status, one stderr line holding
 * NEEDLE. */
static void expect(int want_rc, const char *needle, const char *tag, const char *fmt) {
    char args[8192];
    snprintf(args, sizeof args, fmt, T.dir, T.dir, T.dir, T.dir);
    int rc = tu_cli_run(&T, args, tag);
    CHECKF(rc == want_rc, "%s: exit %d, want %d (segagent %s)", tag, rc, want_rc, args);
    CHECKF(err_lines(tag) == 1, "%s: %d stderr lines, want 1", tag, err_lines(tag));
    CHECKF(err_has(tag, needle), "%s: stderr does not name '%s'", tag, needle);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli_init(&T, argv[0]);
    tu_cli_write_text(&T, "afile", "not a folder\n");
    tu_cli_write_text(&T, "tr.json", "{\"info\": {}, \"data\": []}\n");

    /* --help: exit 0, usage on stdout, examples shown */
    const char *cmds[] = {"demo",    "eval",   "annotate", "trajectories", "export",
                          "segment", "refine", "score",    "filter",       "check-sam"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[128], tag[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        snprintf(tag, sizeof tag, "help_%s", cmds[i]);
        int rc = tu_cli_run(&T, args, tag);
        CHECKF(rc == 0, "%s --help: exit %d", cmds[i], rc);
        CHECKF(out_has(tag, "usage: segagent"), "%s --help: no usage line on stdout", cmds[i]);
        CHECKF(out_has(tag, "examples"), "%s --help: no examples", cmds[i]);
    }
    CHECK(tu_cli_run(&T, "--help", "help_main") == 0);
    CHECK(out_has("help_main", "exit status"));

    /* tool options: a wrong value is a usage error naming the option, caught before any work */
    expect(2, "--threads", "demo_threads0", "demo --out %s/d1 --threads 0");
    CHECK(!path_exists("d1"));
    expect(2, "--tool", "demo_badtool", "demo --out %s/d1 --tool foo");
    expect(2, "--sam-model", "demo_sam_nomodel", "demo --out %s/d1 --tool sam");
    expect(2, "--threads", "annotate_threads",
           "annotate --image x.png --gt y.png --out %s/a1 --threads -1");
    expect(2, "--tool", "eval_badtool", "eval --dataset %s --tool foo");
    expect(2, "--tool", "traj_badtool", "trajectories --dataset %s --tool foo --out %s/t.json");
    CHECK(!path_exists("t.json"));
    expect(2, "--threads", "segment_threads", "segment p.png cat --out %s/s1 --threads 0");

    /* one option named per message, with the value given */
    expect(2, "--max-clicks must be 1..100 (got -3)", "demo_clicks",
           "demo --out %s/d1 --max-clicks -3");
    expect(2, "--jobs must be 0..64 (got -1)", "eval_jobs0", "eval --dataset %s --jobs -1");
    expect(2, "--limit", "eval_limit", "eval --dataset %s --limit -1");
    expect(2, "--target-iou", "annotate_target",
           "annotate --image x --gt y --out %s/a1 --target-iou 2");
    expect(2, "--max-clicks", "traj_clicks",
           "trajectories --dataset %s --max-clicks -2 --out %s/t.json");
    expect(2, "--size", "export_size",
           "export --trajectories %s/tr.json --images %s --format llava --out %s/e1 "
           "--size -1");
    expect(2, "--steps", "segment_steps", "segment p.png cat --out %s/s1 --steps -1");
    CHECK(!path_exists("d1") && !path_exists("a1") && !path_exists("e1") && !path_exists("s1"));

    /* LLM options: each range error names its option (usage error, before any request) */
    expect(2, "--temperature", "llm_temp", "score %s/afile %s/afile cat --temperature -1");
    expect(2, "--top-p", "llm_topp", "score %s/afile %s/afile cat --top-p 2");
    expect(2, "--timeout", "llm_timeout", "segment p.png cat --out %s/s1 --timeout 0");
    expect(2, "--retries", "llm_retries",
           "filter --annotations %s/tr.json --images %s --retries -1");
    expect(2, "--jpeg-quality", "llm_q", "refine p.png m.png cat --out %s/s1 --jpeg-quality 0");
    expect(2, "--policy", "llm_url", "segment p.png cat --out %s/s1 --policy notaurl");
    CHECK(!path_exists("s1"));

    /* option typos: a suggestion; a short option; an option where a value belongs */
    expect(2, "did you mean --max-clicks?", "typo_clicks", "eval --dataset %s --max-click 3");
    expect(2, "did you mean --json?", "typo_json", "eval --dataset %s --jsn x.json");
    expect(2, "unknown option '-o'", "short_opt", "demo -o %s/d1");
    expect(2, "--out needs a value", "opt_as_value", "demo --out --max-clicks 3");
    CHECK(!path_exists("d1"));

    /* an empty description */
    expect(2, "DESCRIPTION is empty", "score_nodesc", "score p.png m.png '  '");
    CHECK(!path_exists("s1"));

    /* missing positional arguments: one line, not the whole help on stderr */
    expect(2, "see --help", "segment_noargs", "segment");
    expect(2, "see --help", "refine_noargs", "refine p.png \"the cat\" --out %s/r1");

    /* an existing file where a folder is wanted */
    expect(1, "Not a directory", "demo_out_file",
           "demo --out %s/afile --max-clicks 1 --no-overlays");
    CHECK(!path_exists("afile/summary.json"));
    expect(1, "--images", "export_images_missing",
           "export --trajectories %s/tr.json --images %s/nowhere --format llava --out %s/e2");
    CHECK(!path_exists("e2"));
    expect(1, "--images", "export_images_file",
           "export --trajectories %s/tr.json --images %s/afile --format llava --out %s/e2");
    CHECK(!path_exists("e2"));

    expect(1, "not a folder", "checksam_missing", "check-sam %s/nowhere");
    expect(1, "not a folder", "checksam_file", "check-sam %s/afile");
    expect(2, "see --help", "checksam_noargs", "check-sam");

    /* output files that cannot be written are reported before any work */
    expect(1, "--json", "eval_json_nodir", "eval --dataset %s --json %s/nowhere/out.json");
    expect(1, "--chart", "eval_chart_dir", "eval --dataset %s --json %s/ok.json --chart %s");
    expect(
        1, "--out", "filter_out_nodir",
        "filter --annotations %s/tr.json --images %s --out %s/nowhere/s.json --policy http://127.0.0.1:1/v1");
    expect(1, "--images", "filter_images",
           "filter --annotations %s/tr.json --images %s/afile --policy http://127.0.0.1:1/v1");
    expect(2, "--limit", "filter_limit", "filter --annotations %s/tr.json --images %s --limit -1");
    /* a malformed annotation file: one line naming the file, the record and the key, before any request */
    tu_cli_write_text(&T, "badshape.json",
                      "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": "
                      "[{\"id\": 1, \"image_id\": 1}, {\"id\": 2, \"image_id\": \"1\"}]}\n");
    tu_cli_write_text(&T, "cut.json", "{\"images\": [], \"annotations\": [{\"id\": 1,");
    expect(1, "badshape.json: annotations[1].image_id: expected an integer (got a string)",
           "filter_badshape",
           "filter --annotations %s/badshape.json --images %s --policy http://127.0.0.1:1/v1");
    expect(1, "cut.json: not valid JSON (ends early", "filter_cut",
           "filter --annotations %s/cut.json --images %s --policy http://127.0.0.1:1/v1");
    expect(1, "tr.json: needs an \"annotations\" array", "filter_notcoco",
           "filter --annotations %s/tr.json --images %s --policy http://127.0.0.1:1/v1");
    CHECK(!path_exists("filter_scores.json"));
    expect(1, "--json", "score_json_dir",
           "score %s/afile %s/afile cat --json %s --policy http://127.0.0.1:1/v1");
    CHECK(!path_exists("ok.json"));

    /* a setup failure leaves no empty output folder */
    expect(1, "nowhere", "demo_sam_missing", "demo --out %s/d2 --tool sam --sam-model %s/nowhere");
    CHECK(!path_exists("d2"));

    /* trajectories with nothing recordable: exit 1 and no file with an empty data list */
    tu_cli_mkdir(&T, "bad");
    tu_cli_mkdir(&T, "bad/images");
    tu_cli_mkdir(&T, "bad/masks");
    tu_cli_write_text(&T, "bad/images/a.png", "not an image\n");
    tu_cli_write_text(&T, "bad/masks/a.png", "not a mask\n");
    {
        char args[8192];
        snprintf(args, sizeof args, "trajectories --dataset %s/bad --out %s/bad.json --quiet",
                 T.dir, T.dir);
        int rc = tu_cli_run(&T, args, "traj_nothing");
        CHECKF(rc == 1, "trajectories with only corrupt images: exit %d", rc);
        CHECK(!path_exists("bad.json"));
        CHECK(err_has("traj_nothing", "not written"));
    }

    /* export where no image is found: exit 1, no records file, no empty folders */
    tu_cli_write_text(
        &T, "one.json",
        "{\"info\": {}, \"data\": [{\"image_name\": \"missing.png\", \"height\": 8, \"width\": 8, "
        "\"gt_ann\": {\"segmentation\": {\"size\": [8, 8], \"counts\": \"P2\"}}, "
        "\"clicks_list\": [{\"idx\": 0, "
        "\"coor\": [2, 2], \"is_positive\": true, \"iou\": 0.5, \"mask\": {\"size\": [8, 8], "
        "\"counts\": \"P2\"}}]}]}\n");
    tu_cli_mkdir(&T, "noimg");
    {
        char args[8192];
        snprintf(args, sizeof args,
                 "export --trajectories %s/one.json --images %s/noimg --format llamafactory --out "
                 "%s/e3 --quiet",
                 T.dir, T.dir, T.dir);
        int rc = tu_cli_run(&T, args, "export_nothing");
        CHECKF(rc == 1, "export with no image found: exit %d", rc);
        CHECK(!path_exists("e3/segagent_sharegpt.json") && !path_exists("e3"));
        CHECK(err_has("export_nothing", "nothing exported"));
    }
    CHECK(tu_cli_run(&T, "help eval", "help_eval") == 0 &&
          out_has("help_eval", "usage: segagent eval"));

    /* the demo's ground truth can be fed straight back to the other commands */
    {
        char args[8192];
        snprintf(args, sizeof args, "demo --out %s/d4 --max-clicks 1 --no-overlays --size 64x48",
                 T.dir);
        CHECK(tu_cli_run(&T, args, "demo_small") == 0);
        CHECK(path_exists("d4/ellipse/gt_mask.png"));
        snprintf(
            args, sizeof args,
            "annotate --image %s/d4/ellipse/image.png --gt %s/d4/ellipse/gt_mask.png --out %s/a4 --max-clicks 2",
            T.dir, T.dir, T.dir);
        int rc = tu_cli_run(&T, args, "annotate_demo");
        CHECKF(rc == 0, "annotate on the demo's gt_mask.png: exit %d", rc);
        CHECK(path_exists("a4/summary.json"));
        CHECK(path_exists("a4/step_02.png"));
        /* a shorter second run into the same folder leaves no stale step overlays of the first */
        snprintf(
            args, sizeof args,
            "annotate --image %s/d4/ellipse/image.png --gt %s/d4/ellipse/gt_mask.png --out %s/a4 --max-clicks 1",
            T.dir, T.dir, T.dir);
        rc = tu_cli_run(&T, args, "annotate_demo2");
        CHECKF(rc == 0, "second annotate: exit %d", rc);
        CHECK(path_exists("a4/step_01.png") && !path_exists("a4/step_02.png"));
    }

    const char *shared = tu_shared_dir();
    if (shared) {
        char args[8192];
        snprintf(
            args, sizeof args,
            "annotate --image %s/data/GrabCut/data_GT/banana1.bmp --gt %s/data/GrabCut/boundary_GT/banana1.bmp "
            "--out %s/a3 --tool sam --sam-model %s/nowhere",
            shared, shared, T.dir, T.dir);
        int rc = tu_cli_run(&T, args, "annotate_sam_missing");
        CHECKF(rc == 1, "annotate with a missing SAM model: exit %d", rc);
        CHECK(err_lines("annotate_sam_missing") == 1);
        CHECK(!path_exists("a3"));
        snprintf(args, sizeof args,
                 "segment %s/data/GrabCut/data_GT/banana1.bmp cat --out %s/s3 --policy notaurl",
                 shared, T.dir);
        rc = tu_cli_run(&T, args, "segment_badurl2");
        CHECKF(rc == 2, "segment with a bad URL: exit %d", rc);
        CHECK(err_has("segment_badurl2", "notaurl"));
        CHECK(!path_exists("s3"));
        /* progress while waiting for the model: a plain line per request off a terminal (none with --quiet) */
        snprintf(
            args, sizeof args,
            "segment %s/data/GrabCut/data_GT/banana1.bmp cat --out %s/s4 --steps 3 --retries 0 "
            "--policy http://127.0.0.1:1/v1",
            shared, T.dir);
        rc = tu_cli_run(&T, args, "segment_unreachable");
        CHECKF(rc == 1, "segment with an unreachable server: exit %d", rc);
        CHECK(err_has("segment_unreachable", "step 1/3: asking the model"));
        CHECK(err_has("segment_unreachable", "127.0.0.1:1"));
        snprintf(
            args, sizeof args,
            "segment %s/data/GrabCut/data_GT/banana1.bmp cat --out %s/s5 --steps 3 --retries 0 --quiet "
            "--policy http://127.0.0.1:1/v1",
            shared, T.dir);
        rc = tu_cli_run(&T, args, "segment_unreachable_q");
        CHECKF(rc == 1, "segment --quiet with an unreachable server: exit %d", rc);
        char *e = tu_cli_slurp(&T, "segment_unreachable_q.err");
        CHECKF(!strstr(e, "asking the model"), "--quiet still shows progress: %s", e);
        free(e);
    }
    return tu_finish("test_cli_ux");
}
