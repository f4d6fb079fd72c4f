/* Sharded trajectory runs (segagent/record.h, docs/parts.md): on a generated dataset of 12 scenes (and one
 * broken pair, a skipped item), the built-in graph cut with random-click starts (a seed per item):
 *   - 3 shards recorded apart and merged give the bytes of the unsharded file, info.date aside; so does one
 *     "whole" part (shard 0/1); every sample sits in the shard the FNV-1a rule on "Tiny/<stem>" names; the
 *     part does not depend on the worker count;
 *   - a shard stopped part-way, with a torn line appended, resumes: it keeps its records, redoes the rest,
 *     and the merge is still identical;
 *   - refusals: a missing, duplicate or unfinished shard; resuming with another seed; a part holding another
 *     shard's items; a hand-edited sample (and the output is left untouched). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segagent/dataset.h"
#include "segagent/graphcut.h"
#include "segagent/image.h"
#include "segagent/record.h"
#include "segagent/scenes.h"
#include "segagent/shard.h"
#include "testutil.h"

#define N_ITEMS 12
#define N_SHARDS 3

static char *dir;

static char *path(const char *rel) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, rel);
    return buf[k];
}

static void write_text(const char *rel, const char *text, const char *mode) {
    FILE *f = fopen(path(rel), mode);
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(rel);
        exit(1);
    }
}

static void make_dataset(void) {
    char rel[256];
    const char *sub[] = {"ds", "ds/images", "ds/masks"};
    for (int k = 0; k < 3; k++)
        if (mkdir(path(sub[k]), 0777) != 0) {
            perror(sub[k]);
            exit(1);
        }
    for (int s = 0; s < N_ITEMS; s++) {
        sa_image img = {0}, m = {0};
        sa_mask gt = {0};
        sa_error err = {0};
        if (sa_scene_render(s % sa_scene_count(), (uint64_t)(s + 1), 80, 60, &img, &gt, &err) ||
            sa_image_new(&m, 80, 60, 1, &err))
            exit(1);
        for (int i = 0; i < 80 * 60; i++)
            m.data[i] = gt.data[i] ? 255 : 0;
        snprintf(rel, sizeof rel, "ds/images/item%02d.png", s);
        if (sa_image_save_png(path(rel), &img, &err)) exit(1);
        snprintf(rel, sizeof rel, "ds/masks/item%02d.png", s);
        if (sa_image_save_png(path(rel), &m, &err)) exit(1);
        sa_image_free(&img);
        sa_image_free(&m);
        sa_mask_free(&gt);
    }
    write_text("ds/images/broken.png", "\x89PNG\r\n\x1a\n not a png", "wb");
    write_text("ds/masks/broken.png", "\x89PNG\r\n\x1a\n", "wb");
}

/* The file with its "date" value blanked: the one field two runs of the same command differ in. */
static char *normalised(const char *p) {
    char *s = tu_read_file(p, NULL);
    if (!s) return calloc(1, 1);
    char *d = strstr(s, "\"date\":\"");
    if (d) {
        char *v = d + 8, *e = strchr(v, '"');
        if (e) memmove(v, e, strlen(e) + 1);
    }
    return s;
}

static int same_file(const char *a, const char *b) {
    char *x = normalised(a), *y = normalised(b);
    int same = *x && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

typedef struct stopper {
    int after; /* stop once this many items were delivered (0 = never) */
    int seen;
} stopper;

static void on_item(void *user, const sa_sample_set *set, int item, int status,
                    const char *message) {
    (void)set, (void)item, (void)status, (void)message;
    ((stopper *)user)->seen++;
}

static int should_stop(void *user) {
    const stopper *s = user;
    return s->after > 0 && s->seen >= s->after;
}

static sa_tool *tool;
static sa_dataset *ds;
static sa_sample_set set; /* ds as the run's one set (its dataset name as the label) */
static char *info;

static sa_traj_run_params params(int workers) {
    sa_traj_run_params p = sa_traj_run_default_params();
    p.rec.max_clicks = 5;
    p.rec.start = SA_TRAJ_START_RANDOM_CLICKS;
    p.rec.random_points = 3;
    p.rec.seed = 11;
    p.workers = workers;
    p.caption = "the object";
    return p;
}

/* Records shard i of n into rel; returns the status, fills st and err. */
static int shard(int i, int n, const char *rel, sa_traj_run_params p, int resume, stopper *stop,
                 sa_traj_run_stats *st, sa_error *err) {
    stopper none = {0};
    sa_traj_run_hooks hooks = {
        .user = stop ? stop : &none, .on_item = on_item, .should_stop = should_stop};
    sa_traj_shard_params sp = {
        .shard = {i, n}, .part = path(rel), .resume = resume, .info_json = info};
    return sa_traj_record_shard(tool, &set, 1, p, sp, &hooks, st, err);
}

static int merge(const char *const *rels, int n, const char *out, sa_error *err) {
    const char *paths[8];
    char buf[8][4096];
    for (int k = 0; k < n; k++) {
        snprintf(buf[k], sizeof buf[k], "%s", path(rels[k]));
        paths[k] = buf[k];
    }
    return sa_traj_merge(paths, n, path(out), err);
}

static const char *part_rel[N_SHARDS] = {"p.shard-0000-of-0003.jsonl", "p.shard-0001-of-0003.jsonl",
                                         "p.shard-0002-of-0003.jsonl"};

/* Every sample of shard k's part belongs to shard k by the documented rule. */
static void check_rule(int k) {
    char *txt = tu_read_file(path(part_rel[k]), NULL);
    CHECK(txt != NULL);
    for (char *p = txt; p && (p = strstr(p, "\"image_name\":\"")); p++) {
        char stem[64], key[96];
        const char *v = p + 14, *dot = strchr(v, '.');
        snprintf(stem, sizeof stem, "%.*s", dot ? (int)(dot - v) : 0, v);
        snprintf(key, sizeof key, "Tiny/%s", stem);
        CHECKF((int)(sa_shard_key_hash(key) % N_SHARDS) == k, "%s in shard %d", key, k);
    }
    free(txt);
}

int main(void) {
    dir = tu_tmpdir();
    make_dataset();
    sa_error err = {0};
    if (sa_dataset_open("Tiny", path("ds"), sa_dataset_default_params(), &ds, &err) != SA_OK ||
        sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) != SA_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    set = (sa_sample_set){.label = NULL, .dataset = ds}; /* no label: keyed by the dataset's name */
    sa_traj_run_params p = params(2);
    const char *labels[1] = {"Tiny=ds"};
    info = sa_traj_info_json(p.rec, p.prob_threshold, sa_tool_name(tool), "test", labels, 1, &err);
    CHECK(info != NULL);

    /* the unsharded reference */
    sa_traj_writer *w = NULL;
    sa_traj_run_stats st;
    CHECK(sa_traj_writer_open(path("whole.json"), info, &w, &err) == SA_OK);
    CHECK(sa_traj_record_datasets(tool, &set, 1, p, w, NULL, &st, &err) == SA_OK);
    CHECK(sa_traj_writer_close(w, &err) == SA_OK);
    CHECKF(st.samples == N_ITEMS && st.skipped == 1, "%ld samples, %ld skipped", st.samples,
           st.skipped);

    /* three shards, merged */
    long items = 0, samples = 0, biggest = 0;
    int big = 0;
    for (int k = 0; k < N_SHARDS; k++) {
        CHECKF(shard(k, N_SHARDS, part_rel[k], p, 0, NULL, &st, &err) == SA_OK, "%s", err.msg);
        CHECK(!st.stopped && st.resumed == 0 && st.done == st.total);
        items += st.total;
        samples += st.samples;
        if (st.total > biggest) biggest = st.total, big = k;
        check_rule(k);
    }
    CHECKF(items == N_ITEMS + 1 && samples == N_ITEMS, "%ld items, %ld samples", items, samples);
    CHECKF(biggest >= 3, "largest shard has %ld items", biggest);
    CHECKF(merge(part_rel, N_SHARDS, "merged.json", &err) == SA_OK, "%s", err.msg);
    CHECK(same_file(path("whole.json"), path("merged.json")));
    const char *rev[N_SHARDS] = {part_rel[2], part_rel[0], part_rel[1]}; /* any order */
    CHECKF(merge(rev, N_SHARDS, "merged2.json", &err) == SA_OK, "%s", err.msg);
    CHECK(same_file(path("whole.json"), path("merged2.json")));

    /* the worker count does not change a part */
    CHECK(shard(big, N_SHARDS, "w1.jsonl", params(1), 0, NULL, &st, &err) == SA_OK);
    char *a = tu_read_file(path(part_rel[big]), NULL), *b = tu_read_file(path("w1.jsonl"), NULL);
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);

    /* the whole run as one part */
    CHECK(shard(0, 1, "one.part.jsonl", p, 0, NULL, &st, &err) == SA_OK);
    const char *one[1] = {"one.part.jsonl"};
    CHECKF(merge(one, 1, "one.json", &err) == SA_OK, "%s", err.msg);
    CHECK(same_file(path("whole.json"), path("one.json")));

    /* a shard stopped part-way, a torn line on its end, resumed */
    const char *cut = "cut.shard.jsonl";
    stopper stop = {.after = 2};
    CHECK(shard(big, N_SHARDS, cut, params(1), 1, &stop, &st, &err) == SA_OK);
    CHECKF(st.stopped && st.done < st.total, "stopped %d, %ld of %ld", st.stopped, st.done,
           st.total);
    long kept = st.done;
    const char *with_cut[N_SHARDS];
    for (int k = 0; k < N_SHARDS; k++)
        with_cut[k] = k == big ? cut : part_rel[k];
    CHECK(merge(with_cut, N_SHARDS, "never.json", &err) == SA_ERR_STATE);
    CHECKF(strstr(err.msg, "incomplete") && strstr(err.msg, cut), "%s", err.msg);
    CHECK(access(path("never.json"), F_OK) != 0);
    write_text(cut, "{\"i\":7,\"data\":[{\"image_na", "ab");
    stopper count = {0};
    CHECKF(shard(big, N_SHARDS, cut, params(2), 1, &count, &st, &err) == SA_OK, "%s", err.msg);
    CHECKF(st.resumed == kept && !st.stopped && st.done == st.total, "resumed %ld of %ld kept",
           st.resumed, kept);
    CHECKF(count.seen == st.total - kept, "%d items run again, %ld expected", count.seen,
           st.total - kept);
    CHECKF(merge(with_cut, N_SHARDS, "resumed.json", &err) == SA_OK, "%s", err.msg);
    CHECK(same_file(path("whole.json"), path("resumed.json")));
    count.seen = 0; /* a finished part resumes to nothing left */
    CHECK(shard(big, N_SHARDS, cut, params(2), 1, &count, &st, &err) == SA_OK);
    CHECK(count.seen == 0 && st.resumed == st.total);

    /* refusals */
    const char *missing[2] = {part_rel[0], part_rel[1]};
    CHECK(merge(missing, 2, "x.json", &err) == SA_ERR_STATE);
    CHECKF(strstr(err.msg, "all 3"), "%s", err.msg);
    const char *twice[N_SHARDS] = {part_rel[0], part_rel[1], part_rel[1]};
    CHECK(merge(twice, N_SHARDS, "x.json", &err) == SA_ERR_STATE);
    CHECKF(strstr(err.msg, "both shard 1"), "%s", err.msg);
    CHECK(access(path("x.json"), F_OK) != 0);
    sa_traj_run_params other = params(1);
    other.rec.seed = 12;
    CHECK(shard(big, N_SHARDS, part_rel[big], other, 1, NULL, &st, &err) == SA_ERR_STATE);
    CHECKF(strstr(err.msg, "different run"), "%s", err.msg);

    /* shard 0's records presented as shard 1's part */
    char *t0 = tu_read_file(path(part_rel[0]), NULL);
    char *h = t0 ? strstr(t0, "\"shard\":0") : NULL, *end = t0 ? strstr(t0, "{\"end\"") : NULL;
    CHECK(h && end);
    if (h && end) {
        h[8] = '1';
        *end = '\0';
        write_text("fake.jsonl", t0, "wb");
        CHECK(shard(1, N_SHARDS, "fake.jsonl", p, 1, NULL, &st, &err) == SA_ERR_STATE);
        CHECKF(strstr(err.msg, "next item"), "%s", err.msg);
    }
    free(t0);

    /* a hand-edited sample: refused by the reader's checks; the output keeps what it held */
    write_text("edited.json", "old", "wb");
    char *t1 = tu_read_file(path(part_rel[big]), NULL);
    char *sz = t1 ? strstr(t1, "\"size\":[60,80]") : NULL;
    CHECK(sz != NULL);
    if (sz) {
        memcpy(sz, "\"size\":[61,80]", 14);
        write_text("edited.shard.jsonl", t1, "wb");
        const char *ed[N_SHARDS];
        for (int k = 0; k < N_SHARDS; k++)
            ed[k] = k == big ? "edited.shard.jsonl" : part_rel[k];
        CHECK(merge(ed, N_SHARDS, "edited.json", &err) == SA_ERR_FORMAT);
        CHECKF(strstr(err.msg, "merge: item") && strstr(err.msg, "61x80"), "%s", err.msg);
        char *kept_txt = tu_read_file(path("edited.json"), NULL);
        CHECK(kept_txt && !strcmp(kept_txt, "old"));
        free(kept_txt);
    }
    free(t1);

    free(info);
    sa_tool_free(tool);
    sa_dataset_free(ds);
    if (tu_failures == 0)
        tu_rmtree(dir);
    else
        fprintf(stderr, "files kept in %s\n", dir);
    free(dir);
    return tu_finish("test_traj_shards");
}
