/* Export of trajectories to fine-tuning records: counts (one record per step), exact key names per format, the
 * verbatim SegAgent-Qwen prompt, target texts that parse back to the recorded clicks, the overlay actually on
 * the exported JPEG, image sizes and paths, skipped samples, prompt files. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segagent/grammar.h"
#include "segagent/export.h"
#include "segagent/rle.h"
#include "testutil.h"

#define W 40
#define H 30

/* Typed out here on purpose (not the library's constant): the test fails if the library text drifts. */
static const char QWEN_PROMPT_FMT[] =
    "Please optimize the semi-transparent green mask in a point-wise manner based on the image and description "
    "content, so that it covers the target object as accurately as possible. The object description is as "
    "follows:<ref>%s</ref>";

static char *rle_of(const sa_mask *m) {
    sa_rle r = {0};
    char *s = NULL;
    sa_error err = {0};
    CHECK(sa_rle_encode(m, &r, &err) == SA_OK && sa_rle_to_string(&r, &s, &err) == SA_OK);
    sa_rle_free(&r);
    return s;
}

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

/* Mask with columns [x0, x1) set on all rows. */
static char *cols_rle(int x0, int x1) {
    sa_mask m = {0};
    sa_error err = {0};
    CHECK(sa_mask_new(&m, W, H, &err) == SA_OK);
    for (int y = 0; y < H; y++)
        for (int x = x0; x < x1; x++)
            m.data[y * W + x] = 1;
    char *s = rle_of(&m);
    sa_mask_free(&m);
    return s;
}

static void make_sample(sa_traj_sample *s, const char *image, const char *caption, int n_steps,
                        int init_cols) {
    memset(s, 0, sizeof *s);
    s->image_name = dupstr(image);
    s->object_id = dupstr("1");
    s->height = H;
    s->width = W;
    if (caption) {
        s->captions = calloc(1, sizeof *s->captions);
        s->captions[0] = dupstr(caption);
        s->n_captions = 1;
    }
    s->gt = cols_rle(0, 20);
    s->gt_area = 20 * H;
    if (init_cols) {
        s->init_mask = cols_rle(0, init_cols);
        s->init_iou = init_cols / 20.0;
        s->init_kind = dupstr("box");
    }
    s->steps = calloc((size_t)(n_steps ? n_steps : 1), sizeof *s->steps);
    s->n_steps = n_steps;
    for (int t = 0; t < n_steps; t++) {
        int cols = init_cols + 4 * (t + 1);
        s->steps[t].idx = t;
        s->steps[t].click.y = 15 + t;
        s->steps[t].click.x = 3 * t + 10;
        s->steps[t].click.positive = t != 1;
        s->steps[t].mask = cols_rle(0, cols);
        s->steps[t].area = (uint64_t)(cols * H);
        s->steps[t].iou = cols / 20.0;
    }
}

static sa_traj_set *make_set(void) {
    sa_traj_set *set = calloc(1, sizeof *set);
    set->info_json = dupstr("{}");
    set->n_samples = 4;
    set->samples = calloc(4, sizeof *set->samples);
    make_sample(&set->samples[0], "grey.png", "the left half", 3, 0);
    make_sample(&set->samples[1], "missing.png", "x", 2, 0); /* image absent: reported, skipped */
    make_sample(&set->samples[2], "grey", NULL, 0, 0);       /* no clicks: counted as empty */
    make_sample(&set->samples[3], "grey", NULL, 2, 4); /* init mask, no caption, name without ext */
    return set;
}

typedef struct rep {
    int calls, problems;
    char last[600];
} rep;

static void on_report(void *user, int index, int n, const char *problem) {
    rep *r = user;
    (void)index;
    (void)n;
    r->calls++;
    if (problem) {
        r->problems++;
        snprintf(r->last, sizeof r->last, "%s", problem);
    }
}

static cJSON *load_json(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *txt = tu_read_file(path, NULL);
    CHECKF(txt != NULL, "%s missing", path);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    CHECKF(j != NULL, "%s does not parse", path);
    free(txt);
    return j;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The expected (sample, step) of record r: sample 0 steps 0..2, then sample 3 steps 0..1. */
static const sa_traj_step *expected_step(const sa_traj_set *set, int r, int *sample) {
    *sample = r < 3 ? 0 : 3;
    return &set->samples[*sample].steps[r < 3 ? r : r - 3];
}

static void check_target(const sa_traj_set *set, int r, const char *target, const sa_grammar *g,
                         int with_iou) {
    int si;
    const sa_traj_step *st = expected_step(set, r, &si);
    sa_action a;
    float piou = NAN;
    sa_error err = {0};
    CHECKF(sa_action_parse(target, g, W, H, &a, &piou, &err) == SA_OK, "record %d: '%s': %s", r,
           target, err.msg);
    CHECKF(a.click.y == st->click.y && a.click.x == st->click.x &&
               a.click.positive == st->click.positive,
           "record %d: '%s' parses to (%d, %d, %d), recorded (%d, %d, %d)", r, target, a.click.y,
           a.click.x, a.click.positive, st->click.y, st->click.x, st->click.positive);
    int t = si == 0 ? r : r - 3;
    double iou_in = sa_traj_state_iou(&set->samples[si], t);
    if (with_iou) {
        char pre[64];
        snprintf(pre, sizeof pre, "Current IOU: %ld\n", lround(iou_in * 100));
        CHECKF(!strncmp(target, pre, strlen(pre)), "record %d: '%s' lacks '%s'", r, target, pre);
    } else {
        CHECKF(strstr(target, "Current IOU") == NULL && isnan(piou), "record %d: '%s'", r, target);
    }
}

static void check_image(const char *path, int side, int t_has_mask) {
    sa_image img = {0};
    sa_error err = {0};
    CHECKF(sa_image_load(path, &img, &err) == SA_OK, "%s: %s", path, err.msg);
    if (!img.data) return;
    CHECKF(img.width == side && img.height == side, "%s is %dx%d, expected %d", path, img.width,
           img.height, side);
    /* grey 100 everywhere; painted pixels become (50, 177, 50). Probe the far left (inside every mask with
     * columns) and the far right (never painted). JPEG is lossy: compare with margins. */
    const uint8_t *l = img.data + 3 * (size_t)(img.width * (img.height / 2) + 1);
    const uint8_t *rr = img.data + 3 * (size_t)(img.width * (img.height / 2) + img.width - 2);
    if (t_has_mask)
        CHECKF(l[1] > 150 && l[0] < 80 && l[2] < 80, "%s: left pixel (%d,%d,%d) not painted", path,
               l[0], l[1], l[2]);
    else
        CHECKF(abs(l[0] - 100) < 12 && abs(l[1] - 100) < 12, "%s: left pixel (%d,%d,%d) painted",
               path, l[0], l[1], l[2]);
    CHECKF(abs(rr[0] - 100) < 12 && abs(rr[1] - 100) < 12 && abs(rr[2] - 100) < 12,
           "%s: right pixel (%d,%d,%d)", path, rr[0], rr[1], rr[2]);
    sa_image_free(&img);
}

static int run_export(const sa_traj_set *set, const char *imgdir, const char *out,
                      sa_export_params *p, sa_export_stats *st, rep *r) {
    sa_error err = {0};
    memset(r, 0, sizeof *r);
    const char *dirs[2] = {"/nonexistent-first", imgdir};
    int rc = sa_export_run(set, dirs, 2, out, *p, on_report, r, st, &err);
    CHECKF(rc == SA_OK, "export %s: %s", sa_export_format_name(p->format), err.msg);
    CHECK(st->samples == 4 && st->samples_skipped == 1 && st->samples_empty == 1 &&
          st->records == 5);
    CHECK(r->calls == 4 && r->problems == 1 && strstr(r->last, "missing.png") &&
          strstr(r->last, "not found"));
    return rc;
}

int main(void) {
    sa_error err = {0};
    char *dir = tu_tmpdir();
    char imgdir[1024], path[2400], out[1100];
    snprintf(imgdir, sizeof imgdir, "%s/img", dir);
    CHECK(mkdir(imgdir, 0777) == 0);
    sa_image grey = {0};
    CHECK(sa_image_new(&grey, W, H, 3, &err) == SA_OK);
    memset(grey.data, 100, (size_t)W * H * 3);
    snprintf(path, sizeof path, "%s/grey.png", imgdir);
    CHECK(sa_image_save_png(path, &grey, &err) == SA_OK);
    sa_image_free(&grey);
    sa_traj_set *set = make_set();
    sa_export_stats st;
    rep r;

    /* ---- Qwen-VL: verbatim prompt, Picture framing, absolute paths, 448 images, IoU prefix ---- */
    snprintf(out, sizeof out, "%s/qwen", dir);
    sa_export_params p = sa_export_default_params(SA_EXPORT_QWENVL);
    p.with_iou = 1;
    run_export(set, imgdir, out, &p, &st, &r);
    cJSON *j = load_json(out, "qwen_vl.json");
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 5);
    for (int i = 0; j && i < cJSON_GetArraySize(j); i++) {
        const cJSON *rec = cJSON_GetArrayItem(j, i);
        CHECK(*str(rec, "id"));
        const cJSON *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
        CHECK(cJSON_GetArraySize(conv) == 2);
        const cJSON *u = cJSON_GetArrayItem(conv, 0), *a = cJSON_GetArrayItem(conv, 1);
        CHECK(!strcmp(str(u, "from"), "user") && !strcmp(str(a, "from"), "assistant"));
        const char *v = str(u, "value");
        CHECKF(!strncmp(v, "Picture 1: <img>/", 17), "record %d user turn '%.40s'", i, v);
        const char *close = strstr(v, "</img>\n");
        CHECK(close != NULL);
        if (!close) continue;
        char img_path[1024];
        size_t n = (size_t)(close - (v + 16));
        snprintf(img_path, sizeof img_path, "%.*s", (int)n, v + 16);
        CHECKF(access(img_path, R_OK) == 0, "record %d image %s missing", i, img_path);
        char expect[1024];
        snprintf(expect, sizeof expect, QWEN_PROMPT_FMT, i < 3 ? "the left half" : "the object");
        CHECKF(!strcmp(close + 7, expect), "record %d prompt:\n%s\nexpected:\n%s", i, close + 7,
               expect);
        sa_grammar g = sa_grammar_default();
        check_target(set, i, str(a, "value"), &g, 1);
        check_image(img_path, 448, !(i == 0));
    }
    /* the exact text of the first target: (15, 10) on 30x40 -> (500, 250), IoU of the empty start 0 */
    if (j && cJSON_GetArraySize(j) == 5) {
        const cJSON *a = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "conversations"), 1);
        CHECKF(!strcmp(str(a, "value"), "Current IOU: 0\nPositive point: (500, 250)"), "'%s'",
               str(a, "value"));
        a = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 1), "conversations"), 1);
        CHECKF(!strcmp(str(a, "value"), "Current IOU: 20\nNegative point: (533, 325)"), "'%s'",
               str(a, "value"));
        /* the sample with an init mask: its first record shows M_0 (4 columns, IoU .2) */
        a = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 3), "conversations"), 1);
        CHECKF(!strncmp(str(a, "value"), "Current IOU: 20\n", 16), "'%s'", str(a, "value"));
    }
    cJSON_Delete(j);

    /* ---- LLaVA: human/gpt, <image>\n, relative image paths, 512 images, float coordinates, long prompt ---- */
    snprintf(out, sizeof out, "%s/llava", dir);
    p = sa_export_default_params(SA_EXPORT_LLAVA);
    run_export(set, imgdir, out, &p, &st, &r);
    j = load_json(out, "llava.json");
    CHECK(cJSON_GetArraySize(j) == 5);
    for (int i = 0; j && i < cJSON_GetArraySize(j); i++) {
        const cJSON *rec = cJSON_GetArrayItem(j, i);
        const char *im = str(rec, "image");
        CHECKF(!strncmp(im, "images/", 7), "image '%s' not relative", im);
        snprintf(path, sizeof path, "%s/%s", out, im);
        check_image(path, 512, i != 0);
        const cJSON *conv = cJSON_GetObjectItemCaseSensitive(rec, "conversations");
        const cJSON *u = cJSON_GetArrayItem(conv, 0), *a = cJSON_GetArrayItem(conv, 1);
        CHECK(!strcmp(str(u, "from"), "human") && !strcmp(str(a, "from"), "gpt"));
        const char *v = str(u, "value");
        CHECK(!strncmp(v, "<image>\n", 8));
        CHECK(strstr(v, "Positive Point (x, y)") && strstr(v, "Negative Point (x, y)"));
        CHECK(strstr(v, i < 3 ? "the left half" : "the object") != NULL);
        CHECK(strstr(v, "{description}") == NULL && strstr(v, "{caption}") == NULL);
        sa_grammar g = sa_grammar_default();
        g.coords = SA_COORDS_FLOAT1;
        check_target(set, i, str(a, "value"), &g, 0);
        CHECKF(strstr(str(a, "value"), "0.") != NULL, "'%s' not decimal", str(a, "value"));
    }
    cJSON_Delete(j);

    /* ---- LLaMA-Factory: messages + images, dataset_info.json; (x, y) order, original size ---- */
    snprintf(out, sizeof out, "%s/lf", dir);
    p = sa_export_default_params(SA_EXPORT_LLAMAFACTORY);
    p.grammar.axis = SA_AXIS_XY;
    p.size = 0;
    run_export(set, imgdir, out, &p, &st, &r);
    j = load_json(out, "segagent_sharegpt.json");
    CHECK(cJSON_GetArraySize(j) == 5);
    for (int i = 0; j && i < cJSON_GetArraySize(j); i++) {
        const cJSON *rec = cJSON_GetArrayItem(j, i);
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(rec, "messages");
        const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(rec, "images");
        CHECK(cJSON_GetArraySize(msgs) == 2 && cJSON_GetArraySize(imgs) == 1);
        const cJSON *u = cJSON_GetArrayItem(msgs, 0), *a = cJSON_GetArrayItem(msgs, 1);
        CHECK(!strcmp(str(u, "role"), "user") && !strcmp(str(a, "role"), "assistant"));
        CHECK(!strncmp(str(u, "content"), "<image>Please optimize", 22));
        const char *im = cJSON_GetArrayItem(imgs, 0)->valuestring;
        CHECK(im && !strncmp(im, "images/", 7));
        snprintf(path, sizeof path, "%s/%s", out, im ? im : "");
        sa_image chk = {0};
        CHECK(sa_image_load(path, &chk, &err) == SA_OK && chk.width == W && chk.height == H);
        sa_image_free(&chk);
        sa_grammar g = sa_grammar_default();
        g.axis = SA_AXIS_XY;
        check_target(set, i, str(a, "content"), &g, 0);
    }
    if (j && cJSON_GetArraySize(j) == 5) {
        const cJSON *a = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "messages"), 1);
        CHECKF(!strcmp(str(a, "content"), "Positive point: (250, 500)"), "'%s'", str(a, "content"));
    }
    cJSON_Delete(j);
    j = load_json(out, "dataset_info.json");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(j, "segagent");
    CHECK(!strcmp(str(ds, "file_name"), "segagent_sharegpt.json") &&
          !strcmp(str(ds, "formatting"), "sharegpt"));
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(ds, "columns");
    CHECK(!strcmp(str(cols, "messages"), "messages") && !strcmp(str(cols, "images"), "images"));
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(ds, "tags");
    CHECK(!strcmp(str(tags, "role_tag"), "role") && !strcmp(str(tags, "content_tag"), "content") &&
          !strcmp(str(tags, "user_tag"), "user") &&
          !strcmp(str(tags, "assistant_tag"), "assistant"));
    cJSON_Delete(j);

    /* ---- ms-swift: JSONL, one record per line, absolute image paths ---- */
    snprintf(out, sizeof out, "%s/swift", dir);
    p = sa_export_default_params(SA_EXPORT_SWIFT);
    run_export(set, imgdir, out, &p, &st, &r);
    snprintf(path, sizeof path, "%s/segagent_swift.jsonl", out);
    char *txt = tu_read_file(path, NULL);
    CHECK(txt != NULL);
    int lines = 0;
    for (char *line = txt, *nl; line && *line; line = nl ? nl + 1 : NULL, lines++) {
        nl = strchr(line, '\n');
        CHECK(nl != NULL);
        if (nl) *nl = '\0';
        cJSON *rec = cJSON_Parse(line);
        CHECKF(rec != NULL, "line %d does not parse", lines + 1);
        const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(rec, "images");
        const char *im =
            cJSON_GetArrayItem(imgs, 0) ? cJSON_GetArrayItem(imgs, 0)->valuestring : NULL;
        CHECK(im && im[0] == '/' && access(im, R_OK) == 0);
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(rec, "messages");
        char expect[1024];
        snprintf(expect, sizeof expect, QWEN_PROMPT_FMT,
                 lines < 3 ? "the left half" : "the object");
        const char *u = str(cJSON_GetArrayItem(msgs, 0), "content");
        CHECKF(!strncmp(u, "<image>", 7) && !strcmp(u + 7, expect), "line %d: '%s'", lines + 1, u);
        sa_grammar g = sa_grammar_default();
        if (lines < 5) check_target(set, lines, str(cJSON_GetArrayItem(msgs, 1), "content"), &g, 0);
        cJSON_Delete(rec);
    }
    CHECK(lines == 5);
    free(txt);

    /* ---- prompt files: a {description} slot is used; a file without one is refused ---- */
    snprintf(path, sizeof path, "%s/prompt.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("Mask check for [{description}] now.\n", f);
    fclose(f);
    snprintf(out, sizeof out, "%s/custom", dir);
    p = sa_export_default_params(SA_EXPORT_LLAVA);
    p.prompt = path;
    p.default_caption = "thing";
    run_export(set, imgdir, out, &p, &st, &r);
    j = load_json(out, "llava.json");
    if (j && cJSON_GetArraySize(j) == 5) {
        const cJSON *u = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 4), "conversations"), 0);
        CHECKF(!strcmp(str(u, "value"), "<image>\nMask check for [thing] now."), "'%s'",
               str(u, "value"));
    }
    cJSON_Delete(j);
    f = fopen(path, "w");
    fputs("No slot here.\n", f);
    fclose(f);
    const char *dirs[1] = {imgdir};
    CHECK(sa_export_run(set, dirs, 1, out, p, NULL, NULL, &st, &err) == SA_ERR_FORMAT &&
          strstr(err.msg, "slot"));

    /* ---- bad parameters and a size mismatch ---- */
    p = sa_export_default_params(SA_EXPORT_SWIFT);
    p.jpeg_quality = 0;
    CHECK(sa_export_run(set, dirs, 1, out, p, NULL, NULL, &st, &err) == SA_ERR_INVALID);
    p = sa_export_default_params(SA_EXPORT_SWIFT);
    set->samples[0].height = 31; /* the file says 31 rows, the image has 30 */
    memset(&r, 0, sizeof r);
    CHECK(sa_export_run(set, dirs, 1, out, p, on_report, &r, &st, &err) == SA_OK);
    CHECK(st.samples_skipped == 2 && st.records == 2 && r.problems == 2);
    set->samples[0].height = H;
    sa_export_format fm;
    CHECK(sa_export_format_from_name("llama-factory", &fm, &err) == SA_OK &&
          fm == SA_EXPORT_LLAMAFACTORY);
    CHECK(sa_export_format_from_name("alpaca", &fm, &err) == SA_ERR_INVALID);

    /* ---- a caption that is not UTF-8: the records are valid UTF-8 (U+FFFD in its place) ---- */
    free(set->samples[0].captions[0]);
    set->samples[0].captions[0] = dupstr("the caf\xC3\xA9 \xFF\xFE half");
    snprintf(out, sizeof out, "%s/utf8", dir);
    p = sa_export_default_params(SA_EXPORT_LLAMAFACTORY);
    run_export(set, imgdir, out, &p, &st, &r);
    snprintf(path, sizeof path, "%s/segagent_sharegpt.json", out);
    size_t tn = 0;
    char *t8 = tu_read_file(path, &tn);
    CHECK(t8 != NULL);
    for (size_t i = 0; t8 && i < tn; i++)
        CHECKF((unsigned char)t8[i] != 0xFF && (unsigned char)t8[i] != 0xFE, "raw byte at %zu", i);
    CHECK(t8 && strstr(t8, "the caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD half"));
    free(t8);

    sa_traj_set_free(set);
    tu_rmtree(dir);
    free(dir);
    return tu_finish("test_export");
}
