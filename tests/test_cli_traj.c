/* The trajectories and export commands, run as a user would: the built segagent binary (<build>/segagent) on a
 * tiny generated dataset (two built-in scenes and a corrupt image). Checks exit codes, the summary and skip
 * lines, that --jobs does not change the file, that every export format writes one record per recorded click,
 * and the one-line errors for bad input. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "segagent/image.h"
#include "segagent/refer.h"
#include "segagent/scenes.h"
#include "segagent/trajectory.h"
#include "testutil.h"

static tu_cli T;
static char *tmp; /* T.dir */

static int run(const char *args, const char *tag) {
    return tu_cli_run(&T, args, tag);
}
static char *slurp(const char *rel) {
    return tu_cli_slurp(&T, rel);
}
static void mk(const char *rel) {
    tu_cli_mkdir(&T, rel);
}
static void write_text(const char *rel, const char *text) {
    tu_cli_write_text(&T, rel, text);
}

static void make_dataset(void) {
    mk("ds");
    mk("ds/images");
    mk("ds/masks");
    for (int s = 0; s < 2; s++) {
        sa_image img = {0}, m = {0};
        sa_mask gt = {0};
        sa_error err = {0};
        char p[8192];
        if (sa_scene_render(s, 5, 96, 72, &img, &gt, &err) || sa_image_new(&m, 96, 72, 1, &err))
            exit(1);
        for (int i = 0; i < 96 * 72; i++)
            m.data[i] = gt.data[i] ? 255 : 0;
        snprintf(p, sizeof p, "%s/ds/images/s%d.png", tmp, s);
        if (sa_image_save_png(p, &img, &err)) exit(1);
        snprintf(p, sizeof p, "%s/ds/masks/s%d.png", tmp, s);
        if (sa_image_save_png(p, &m, &err)) exit(1);
        sa_image_free(&img);
        sa_image_free(&m);
        sa_mask_free(&gt);
    }
    write_text("ds/images/broken.jpg", "\xff\xd8\xff\xe0 not really a jpeg");
    write_text("ds/masks/broken.png", "\x89PNG\r\n\x1a\n");
}

/* Number of records in an export file: array length, or lines for JSONL. */
static int count_records(const char *rel, int jsonl) {
    char *txt = slurp(rel);
    int n = 0;
    if (jsonl) {
        for (char *p = txt; *p; p++)
            n += *p == '\n';
    } else {
        cJSON *j = cJSON_Parse(txt);
        n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
        cJSON_Delete(j);
    }
    free(txt);
    return n;
}

/* The file without its info.date, the one field two runs of the same command differ in. */
static char *normalised(const char *rel) {
    char *s = slurp(rel);
    char *d = strstr(s, "\"date\":\"");
    if (d) {
        char *v = d + 8, *e = strchr(v, '"');
        if (e) memmove(v, e, strlen(e) + 1);
    }
    return s;
}

static int same_traj(const char *a, const char *b) {
    char *x = normalised(a), *y = normalised(b);
    int same = *x && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static int has(const char *rel, const char *text) {
    char *s = slurp(rel);
    int yes = strstr(s, text) != NULL;
    if (!yes) fprintf(stderr, "%s lacks '%s':\n%s\n", rel, text, s);
    free(s);
    return yes;
}

/* --shard I/N, the Slurm and Kubernetes variables, --resume and segagent merge, as a user runs them. */
static void check_shards(void) {
    char args[8192];
    const char *opts = "--max-clicks 6 --start random-clicks --seed 9 --jobs 2 --quiet";
    snprintf(args, sizeof args, "trajectories --dataset Tiny=%s/ds --out %s/ref.json %s", tmp, tmp,
             opts);
    CHECK(run(args, "ref") == 0);
    mk("sh");
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args,
                 "trajectories --dataset Tiny=%s/ds --out %s/sh/t.json --shard %d/3 %s", tmp, tmp,
                 i, opts);
        CHECKF(run(args, "shard") == 0, "shard %d", i);
        CHECK(has("shard.err", "from --shard"));
    }
    char p[8192];
    snprintf(p, sizeof p, "%s/sh/t.json", tmp);
    CHECK(access(p, F_OK) != 0); /* a shard writes only its part */
    snprintf(args, sizeof args, "merge %s/sh/t.shard-0000-of-0003.jsonl --out %s/m1.json", tmp,
             tmp);
    CHECK(run(args, "m1") == 1); /* two shards missing */
    CHECK(has("m1.err", "all 3 are needed"));
    snprintf(args, sizeof args, "merge %s/sh/t.shard-000*-of-0003.jsonl --out %s/m2.json", tmp,
             tmp);
    CHECK(run(args, "m2") == 0); /* the shell's glob */
    CHECK(has("m2.err", "merge: 3 parts of 'trajectories'"));
    CHECK(same_traj("ref.json", "m2.json"));
    snprintf(args, sizeof args, "merge '%s/sh/t.shard-*.jsonl' --out %s/m3.json --quiet", tmp, tmp);
    CHECK(run(args, "m3") == 0); /* a quoted glob, expanded by merge */
    CHECK(same_traj("ref.json", "m3.json"));
    snprintf(args, sizeof args, "merge %s/sh --out %s/sh/t.json", tmp, tmp);
    CHECK(run(args, "m4") == 0); /* a folder: the parts named like --out */
    CHECK(same_traj("ref.json", "sh/t.json"));
    snprintf(args, sizeof args, "merge %s/sh --out %s/other.json", tmp, tmp);
    CHECK(run(args, "m5") == 1);
    CHECK(has("m5.err", "no part file of --out"));
    snprintf(args, sizeof args, "merge %s/ref.json --out %s/m6.json", tmp, tmp);
    CHECK(run(args, "m6") == 1);
    CHECK(has("m6.err", "not a segagent part file"));
    CHECK(run("merge --out x.json", "m7") == 2);
    CHECK(run("merge --help", "m8") == 0);
    CHECK(has("m8.out", "trajectories") && has("m8.out", "--out FILE"));

    /* a Slurm array task takes its shard from the environment; so does an Indexed Job with --shards */
    mk("env");
    /* the children inherit this process's environment; ids 4..6 are shards 0..2 of --array=4-6 */
    setenv("SLURM_ARRAY_TASK_MIN", "4", 1);
    setenv("SLURM_ARRAY_TASK_MAX", "6", 1);
    for (int i = 0; i < 2; i++) {
        char id[8];
        snprintf(id, sizeof id, "%d", i + 4);
        setenv("SLURM_ARRAY_TASK_ID", id, 1);
        snprintf(args, sizeof args, "trajectories --dataset Tiny=%s/ds --out %s/env/t.json %s", tmp,
                 tmp, opts);
        CHECKF(run(args, "env") == 0, "Slurm task %d", i + 4);
        CHECK(has("env.err", "from Slurm array"));
    }
    snprintf(args, sizeof args,
             "trajectories --dataset Tiny=%s/ds --out %s/env/t.json --shards 4 %s", tmp, tmp, opts);
    CHECK(run(args, "env") == 2); /* --shards disagrees with the array */
    CHECK(has("env.err", "disagrees"));
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    unsetenv("SLURM_ARRAY_TASK_MAX");
    setenv("JOB_COMPLETION_INDEX", "2", 1);
    snprintf(args, sizeof args, "trajectories --dataset Tiny=%s/ds --out %s/env/t.json %s", tmp,
             tmp, opts);
    CHECK(run(args, "k8s") == 2); /* the index alone does not say how many */
    CHECK(has("k8s.err", "--shards N"));
    snprintf(args, sizeof args,
             "trajectories --dataset Tiny=%s/ds --out %s/env/t.json --shards 3 %s", tmp, tmp, opts);
    CHECK(run(args, "k8s") == 0);
    CHECK(has("k8s.err", "from JOB_COMPLETION_INDEX"));
    unsetenv("JOB_COMPLETION_INDEX");
    snprintf(args, sizeof args, "merge %s/env --out %s/env/t.json", tmp, tmp);
    CHECK(run(args, "menv") == 0);
    CHECK(same_traj("ref.json", "env/t.json"));

    /* --resume: an unfinished part (cut after its first record, a torn line after it) is finished */
    char *part = slurp("sh/t.shard-0001-of-0003.jsonl");
    char *nl = strchr(part, '\n');
    nl = nl ? strchr(nl + 1, '\n') : NULL; /* end of the first record */
    CHECK(nl != NULL);
    if (nl) {
        memcpy(nl + 1, "{\"i\":", 5);
        nl[6] = '\0';
        write_text("sh/t.shard-0001-of-0003.jsonl", part);
    }
    free(part);
    snprintf(args, sizeof args, "merge %s/sh/t.shard-*.jsonl --out %s/m9.json", tmp, tmp);
    CHECK(run(args, "m9") == 1);
    CHECK(has("m9.err", "incomplete") && has("m9.err", "--resume"));
    snprintf(args, sizeof args,
             "trajectories --dataset Tiny=%s/ds --out %s/sh/t.json --shard 1/3 --resume %s", tmp,
             tmp, opts);
    CHECK(run(args, "resume") == 0);
    CHECK(has("resume.err", "1 resumed"));
    snprintf(args, sizeof args, "merge %s/sh/t.shard-*.jsonl --out %s/m10.json", tmp, tmp);
    CHECK(run(args, "m10") == 0);
    CHECK(same_traj("ref.json", "m10.json"));
    snprintf(args, sizeof args,
             "trajectories --dataset Tiny=%s/ds --out %s/sh/t.json --shard 1/3 --resume --seed 3 "
             "--quiet",
             tmp, tmp);
    CHECK(run(args, "resume2") == 1); /* another run's part */
    CHECK(has("resume2.err", "different run"));

    /* unsharded --resume: through t.part.jsonl, which becomes the file */
    snprintf(args, sizeof args, "trajectories --dataset Tiny=%s/ds --out %s/whole.json --resume %s",
             tmp, tmp, opts);
    CHECK(run(args, "whole") == 0);
    CHECK(same_traj("ref.json", "whole.json"));
    snprintf(p, sizeof p, "%s/whole.part.jsonl", tmp);
    CHECK(access(p, F_OK) != 0); /* turned into whole.json */
    snprintf(args, sizeof args, "trajectories --dataset Tiny=%s/ds --shard 3/3", tmp);
    CHECK(run(args, "bad") == 2);
    CHECK(has("bad.err", "0..2"));
}

/* Referring sets: the refer sample (one sample per sentence, the sentence as its caption, the annotation id as
 * the object id, the COCO file name as the image name) and the built-in scenes; two shards merge to it. */
static void check_referring(void) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        printf("referring sets: skipped (no shared folder)\n");
        return;
    }
    char args[8192];
    snprintf(
        args, sizeof args,
        "trajectories --dataset refcoco:val=%s/data/refer_sample/refer/refcoco --images "
        "%s/data/refer_sample/images/train2014 --dataset scenes --max-clicks 4 --quiet --out %s/r.json",
        shared, shared, tmp);
    CHECK(run(args, "refer") == 0);
    sa_refer *rf = NULL;
    sa_error err = {0};
    char spec[4096], imgs[4096];
    snprintf(spec, sizeof spec, "refcoco:val=%s/data/refer_sample/refer/refcoco", shared);
    snprintf(imgs, sizeof imgs, "%s/data/refer_sample/images/train2014", shared);
    CHECK(sa_refer_open_spec(spec, imgs, sa_refer_default_params(), &rf, &err) == SA_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/r.json", tmp);
    sa_traj_set *ts = NULL;
    CHECKF(sa_traj_read(path, &ts, &err) == SA_OK, "%s", err.msg);
    int n_ref = rf ? sa_refer_count(rf) : 0;
    CHECKF(ts && ts->n_samples == n_ref + sa_scene_count(), "%d samples", ts ? ts->n_samples : -1);
    for (int i = 0; ts && rf && i < n_ref && i < ts->n_samples; i++) {
        const sa_traj_sample *t = &ts->samples[i];
        const sa_refer_sample *r = sa_refer_get(rf, i);
        const char *base = strrchr(r->image_path, '/');
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)r->ann_id);
        CHECKF(t->n_captions == 1 && !strcmp(t->captions[0], r->caption), "sample %d caption", i);
        CHECKF(!strcmp(t->image_name, base ? base + 1 : r->image_path), "sample %d image %s", i,
               t->image_name);
        CHECKF(!strcmp(t->object_id, id), "sample %d object %s, want %s", i, t->object_id, id);
    }
    sa_traj_set_free(ts);
    sa_refer_free(rf);
    for (int k = 0; k < 2; k++) {
        char a2[8300];
        snprintf(a2, sizeof a2, "%s --shard %d/2", args, k);
        CHECK(run(a2, "refer_shard") == 0);
    }
    snprintf(args, sizeof args,
             "merge %s/r.shard-0000-of-0002.jsonl %s/r.shard-0001-of-0002.jsonl --out %s/rm.json",
             tmp, tmp, tmp);
    CHECK(run(args, "refer_merge") == 0);
    CHECK(same_traj("r.json", "rm.json"));
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli_init(&T, argv[0]);
    tmp = T.dir;
    make_dataset();
    char args[8192];

    /* record: two samples, the corrupt pair reported and skipped; same file for 1 and 2 jobs */
    snprintf(
        args, sizeof args,
        "trajectories --dataset Tiny=%s/ds --out %s/t1.json --max-clicks 6 --start random-clicks --seed 9 "
        "--caption 'the object' --jobs 1 --quiet",
        tmp, tmp);
    CHECK(run(args, "traj1") == 0);
    char *e = slurp("traj1.err");
    CHECKF(strstr(e, "trajectories: 2 samples (1 skipped") != NULL, "summary: %s", e);
    CHECKF(strstr(e, "broken") && strstr(e, "skipped"), "skip line: %s", e);
    CHECK(strstr(e, "mean final IoU") != NULL);
    free(e);
    snprintf(
        args, sizeof args,
        "trajectories --dataset Tiny=%s/ds --out %s/t2.json --max-clicks 6 --start random-clicks --seed 9 "
        "--caption 'the object' --jobs 2 --quiet",
        tmp, tmp);
    CHECK(run(args, "traj2") == 0);
    char *a = slurp("t1.json"), *b = slurp("t2.json");
    const char *da = strstr(a, "\"data\""), *db = strstr(b, "\"data\"");
    CHECK(da && db && !strcmp(da, db));
    free(a);
    free(b);

    sa_traj_set *set = NULL;
    sa_error err = {0};
    char p[8192];
    snprintf(p, sizeof p, "%s/t1.json", tmp);
    CHECKF(sa_traj_read(p, &set, &err) == SA_OK, "%s", err.msg);
    int clicks = 0;
    if (set) {
        CHECK(set->n_samples == 2);
        for (int i = 0; i < set->n_samples; i++) {
            const sa_traj_sample *s = &set->samples[i];
            clicks += s->n_steps;
            CHECK(s->n_steps <= 6 && s->init_mask && !strcmp(s->init_kind, "random-clicks"));
            CHECK(s->n_captions == 1 && !strcmp(s->captions[0], "the object"));
            for (int t = 1; t < s->n_steps; t++)
                CHECK(s->steps[t].iou > s->steps[t - 1].iou);
            if (s->n_steps) CHECK(s->steps[0].iou > s->init_iou);
        }
        CHECK(!strcmp(set->samples[0].image_name, "s0.png"));
        sa_traj_set_free(set);
    }
    CHECK(clicks > 0);

    /* export in every format: one record per recorded click */
    static const struct {
        const char *fmt, *file;
        int jsonl;
    } fm[] = {{"llava", "llava.json", 0},
              {"qwen-vl", "qwen_vl.json", 0},
              {"llamafactory", "segagent_sharegpt.json", 0},
              {"swift", "segagent_swift.jsonl", 1}};
    for (int k = 0; k < 4; k++) {
        snprintf(args, sizeof args,
                 "export --trajectories %s/t1.json --images %s/ds/images --format %s --out %s/x%d "
                 "--with-iou --size 64 --quiet",
                 tmp, tmp, fm[k].fmt, tmp, k);
        CHECKF(run(args, "export") == 0, "export %s", fm[k].fmt);
        char rel[64];
        snprintf(rel, sizeof rel, "x%d/%s", k, fm[k].file);
        int n = count_records(rel, fm[k].jsonl);
        CHECKF(n == clicks, "%s: %d records, %d clicks", fm[k].fmt, n, clicks);
        e = slurp("export.err");
        CHECKF(strstr(e, "records") != NULL, "%s", e);
        free(e);
    }
    snprintf(p, sizeof p, "%s/x2/dataset_info.json", tmp);
    CHECK(access(p, R_OK) == 0);

    check_shards();
    check_referring();

    /* bad input: one clear line and a non-zero exit */
    CHECK(run("trajectories --out x.json", "u1") == 2);
    snprintf(args, sizeof args, "trajectories --dataset X=%s/nowhere --out %s/x.json", tmp, tmp);
    CHECK(run(args, "u2") == 1);
    e = slurp("u2.err");
    CHECKF(strstr(e, "nowhere") != NULL, "%s", e);
    free(e);
    snprintf(args, sizeof args, "trajectories --dataset X=%s/ds --start sideways", tmp);
    CHECK(run(args, "u3") == 2);
    write_text("trunc.json", "{\"info\":{},\"data\":[{\"image_name\":\"s0.png\",\"height\":72");
    snprintf(args, sizeof args,
             "export --trajectories %s/trunc.json --images %s/ds/images --format swift --out %s/y",
             tmp, tmp, tmp);
    CHECK(run(args, "u4") == 1);
    e = slurp("u4.err");
    CHECKF(strstr(e, "trunc.json") && strstr(e, "truncated"), "%s", e);
    free(e);
    snprintf(args, sizeof args,
             "export --trajectories %s/t1.json --images %s/ds --format swift --out %s/y --quiet",
             tmp, tmp, tmp);
    CHECK(run(args, "u5") == 1); /* no image found: every sample skipped, nothing written */
    e = slurp("u5.err");
    CHECKF(strstr(e, "s0.png") && strstr(e, "not found"), "%s", e);
    free(e);
    snprintf(args, sizeof args,
             "export --trajectories %s/t1.json --images %s/ds/images --format alpaca --out %s/y",
             tmp, tmp, tmp);
    CHECK(run(args, "u6") == 2);

    if (tu_failures == 0) {
        if (tu_rmtree(tmp) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    } else {
        fprintf(stderr, "files kept in %s\n", tmp);
    }
    free(tmp);
    return tu_finish("test_cli_traj");
}
