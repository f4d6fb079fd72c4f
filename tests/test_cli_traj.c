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
