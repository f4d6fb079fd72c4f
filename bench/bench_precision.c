/* BF16 against FP32: the effect of --precision bf16 on SAM's outputs and encoder time, measured in
 * one run. The same weights are loaded twice (FP32 and BF16 precision), the image is encoded by
 * both, and every prompt case is decoded by both; per case it prints the largest difference of the
 * mask logits (original image size, every mask of the case) and the fraction of mask pixels (logit
 * > 0) that differ.
 *
 *   bench_precision FIXTURE_DIR [--threads N]      a SAM parity fixture: model.safetensors,
 * image.png, cases.json (mask_input_from cases fed by each precision's own earlier output)
 *   bench_precision --random vit_b [--threads N]   random weights of a published shape, a synthetic
 * image and fixed prompt cases Encoder times are CPU time (all threads) beside wall time: the host
 * is shared.
 *   bench_precision (--random ARCH | FIXTURE_DIR) --dataset NAME=DIR [--limit N] [--clicks K]
 *     a built-in benchmark through the SAM tool: per sample, the simulated annotator places K clicks
 *     on the FP32 tool's masks, both precisions predict from the same clicks (each fed its own previous
 *     logits), and it reports the fraction of image pixels whose mask label differs. With random
 *     weights the masks mean nothing, so only this disagreement is reported. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "segagent/clicker.h"
#include "segagent/dataset.h"
#include "segagent/env.h"
#include "segagent/image.h"
#include "segagent/mask.h"
#include "segagent/sam.h"
#include "segagent/tool.h"

#define MAX_CASES 32

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * ru.ru_stime.tv_usec;
}

typedef struct pcase {
    char name[64];
    float points[2 * 16];
    int labels[16], n_points, has_box, multimask,
        from; /* from: index of the case feeding mask_input, or -1 */
    float box[4];
} pcase;

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static int load_cases(const char *path, pcase *cs) {
    char *text = read_text(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *arr = cJSON_GetObjectItem(root, "cases"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, arr) {
        if (n >= MAX_CASES) break;
        pcase *p = &cs[n];
        memset(p, 0, sizeof *p);
        p->from = -1;
        const cJSON *v = cJSON_GetObjectItem(c, "name");
        snprintf(p->name, sizeof p->name, "%s", cJSON_IsString(v) ? v->valuestring : "?");
        const cJSON *pts = cJSON_GetObjectItem(c, "points"),
                    *lab = cJSON_GetObjectItem(c, "labels"), *e;
        cJSON_ArrayForEach(e, pts) {
            if (p->n_points >= 16) break;
            p->points[2 * p->n_points] = (float)cJSON_GetArrayItem(e, 0)->valuedouble;
            p->points[2 * p->n_points + 1] = (float)cJSON_GetArrayItem(e, 1)->valuedouble;
            p->labels[p->n_points] = cJSON_GetArrayItem(lab, p->n_points)->valueint;
            p->n_points++;
        }
        const cJSON *box = cJSON_GetObjectItem(c, "box");
        if (cJSON_GetArraySize(box) == 4) {
            p->has_box = 1;
            for (int i = 0; i < 4; i++)
                p->box[i] = (float)cJSON_GetArrayItem(box, i)->valuedouble;
        }
        p->multimask = cJSON_IsTrue(cJSON_GetObjectItem(c, "multimask"));
        const cJSON *from = cJSON_GetObjectItem(c, "mask_input_from");
        if (cJSON_IsString(from))
            for (int i = 0; i < n; i++)
                if (!strcmp(cs[i].name, from->valuestring)) p->from = i;
        n++;
    }
    cJSON_Delete(root);
    return n;
}

static int random_cases(int w, int h, pcase *cs) {
    const float pts[][2] = {{0.3f, 0.4f}, {0.7f, 0.6f}, {0.5f, 0.2f}, {0.2f, 0.8f}};
    int n = 0;
    for (int k = 1; k <= 4; k++, n++) {
        pcase *p = &cs[n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%d_points%s", k, k == 1 ? "_multimask" : "");
        p->from = k > 1 ? n - 1 : -1;
        for (int i = 0; i < k; i++) {
            p->points[2 * i] = pts[i][0] * (float)w;
            p->points[2 * i + 1] = pts[i][1] * (float)h;
            p->labels[i] = i % 3 != 1;
        }
        p->n_points = k;
        p->multimask = k == 1;
    }
    pcase *b = &cs[n++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "box");
    b->from = -1;
    b->has_box = 1;
    b->box[0] = 0.2f * (float)w, b->box[1] = 0.25f * (float)h, b->box[2] = 0.7f * (float)w,
    b->box[3] = 0.8f * (float)h;
    return n;
}

/* the low-res logits a later case feeds back: the single mask, or the best-scoring one */
static const float *best_low_res(const sa_sam_output *o) {
    int best = 0;
    for (int i = 1; i < o->n_masks; i++)
        if (o->iou_pred[i] > o->iou_pred[best]) best = i;
    return o->low_res_logits + (size_t)best * o->low_res * o->low_res;
}

/* Disagreement of the two precisions' tools over a dataset (see the header): one episode engine per
 * precision, stepped in lockstep with the simulated annotator's click on the FP32 episode's mask. Takes
 * both models. */
static int dataset_disagreement(sa_sam_model *m[2], const char *spec, int limit, int clicks) {
    sa_error err = {0};
    char name[256];
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof name) {
        fprintf(stderr, "--dataset wants NAME=DIR, got '%s'\n", spec);
        return 2;
    }
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    sa_dataset *ds = NULL;
    sa_tool *tool[2] = {NULL, NULL};
    sa_env *env[2] = {NULL, NULL};
    sa_clicker *ck = NULL;
    int rc = sa_dataset_open(name, eq + 1, sa_dataset_default_params(), &ds, &err);
    for (int pr = 0; pr < 2 && rc == SA_OK; pr++) {
        rc = sa_sam_tool_new(m[pr], &tool[pr], &err);
        if (rc == SA_OK) m[pr] = NULL; /* owned by the tool */
        if (rc == SA_OK) rc = sa_env_new(tool[pr], sa_env_default_params(), &env[pr], &err);
    }
    if (rc == SA_OK) rc = sa_clicker_new(&ck, &err);
    int n = rc == SA_OK ? sa_dataset_count(ds) : 0, done = 0, failed = 0;
    if (rc != SA_OK) fprintf(stderr, "%s\n", err.msg);
    if (limit > 0 && limit < n) n = limit;
    double sum = 0, worst = 0, first_sum = 0, last_sum = 0;
    long steps = 0;
    for (int i = 0; i < n; i++) {
        sa_image img = {0};
        sa_mask gt = {0}, ign = {0};
        int ok = sa_dataset_load(ds, i, &img, &gt, &ign, &err) == SA_OK;
        const sa_mask *ignore = ign.data ? &ign : NULL;
        for (int pr = 0; pr < 2 && ok; pr++)
            ok = sa_env_reset(env[pr], &img, NULL, &gt, ignore, NULL, &err) == SA_OK;
        double frac_last = 0;
        for (int k = 0; ok && k < clicks; k++) {
            sa_clicker_click c;
            int crc = sa_clicker_run(ck, &gt, ignore, sa_env_mask(env[0]), sa_env_clicks(env[0]),
                                     sa_env_n_clicks(env[0]), &c, &err);
            if (crc == SA_ERR_DONE) break;
            ok = crc == SA_OK;
            const sa_action a = sa_action_click(c.y, c.x, c.positive);
            for (int pr = 0; pr < 2 && ok; pr++) {
                sa_env_step_info info;
                ok = sa_env_step(env[pr], &a, &info, &err) == SA_OK;
            }
            if (!ok) break;
            const uint8_t *m0 = sa_env_mask(env[0])->data, *m1 = sa_env_mask(env[1])->data;
            size_t np = (size_t)gt.width * gt.height, differ = 0;
            for (size_t q = 0; q < np; q++)
                differ += m0[q] != m1[q];
            double f = (double)differ / (double)np;
            sum += f;
            steps++;
            if (f > worst) worst = f;
            if (k == 0) first_sum += f;
            frac_last = f;
        }
        if (ok) {
            done++;
            last_sum += frac_last;
        } else {
            failed++;
            fprintf(stderr, "%s: %s\n", sa_dataset_item_name(ds, i), err.msg);
        }
        sa_image_free(&img);
        sa_mask_free(&gt);
        sa_mask_free(&ign);
        fprintf(stderr, "\r%s: %d/%d", name, i + 1, n);
    }
    if (rc == SA_OK) {
        fprintf(stderr, "\n");
        printf("%s: %d samples (%d failed), %ld predictions, up to %d clicks: BF16 vs FP32 mask "
               "pixels that differ: mean %.4f%%, worst %.4f%%; first click mean %.4f%%, last click "
               "mean %.4f%%\n",
               name, done, failed, steps, clicks, steps ? 100.0 * sum / (double)steps : 0.0,
               100.0 * worst, done ? 100.0 * first_sum / done : 0.0,
               done ? 100.0 * last_sum / done : 0.0);
    }
    sa_clicker_free(ck);
    for (int pr = 0; pr < 2; pr++) {
        sa_env_free(env[pr]);
        sa_tool_free(tool[pr]);
    }
    sa_dataset_free(ds);
    return rc != SA_OK ? 1 : failed ? 1 : 0;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s FIXTURE_DIR | --random ARCH [--threads N] [--dataset NAME=DIR [--limit N] "
            "[--clicks K]]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *random_arch = NULL, *dataset = NULL;
    int threads = 2, limit = 0, clicks = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
            dataset = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clicks") && i + 1 < argc)
            clicks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--random") && i + 1 < argc)
            random_arch = argv[++i];
        else if (argv[i][0] != '-')
            dir = argv[i];
        else
            return usage(argv[0]);
    }
    if (!dir && !random_arch) return usage(argv[0]);
    sa_error err = {0};
    sa_sam_model *m[2] = {NULL, NULL};
    sa_image img = {0};
    pcase cs[MAX_CASES];
    int n_cases = 0;
    char path[4096];
    for (int pr = 0; pr < 2; pr++) {
        sa_sam_params p = sa_sam_default_params();
        p.threads = threads;
        p.precision = pr ? SA_SAM_PRECISION_BF16 : SA_SAM_PRECISION_FP32;
        int rc;
        if (random_arch) {
            sa_sam_arch a;
            rc = sa_sam_arch_preset(random_arch, &a, &err);
            if (rc == SA_OK) rc = sa_sam_model_random(&a, 42, p, &m[pr], &err);
        } else {
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            rc = sa_sam_model_load(path, p, &m[pr], &err);
        }
        if (rc != SA_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    if (dataset) return dataset_disagreement(m, dataset, limit, clicks);
    if (random_arch) {
        if (sa_image_new(&img, 640, 480, 3, &err) != SA_OK) return 1;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++)
                for (int c = 0; c < 3; c++)
                    img.data[((size_t)y * img.width + x) * 3 + c] =
                        (uint8_t)((x * (c + 1) + y * (3 - c) + (x * y) % 17) & 255);
        n_cases = random_cases(img.width, img.height, cs);
    } else {
        snprintf(path, sizeof path, "%s/image.png", dir);
        if (sa_image_load(path, &img, &err) != SA_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        snprintf(path, sizeof path, "%s/cases.json", dir);
        n_cases = load_cases(path, cs);
        if (n_cases <= 0) {
            fprintf(stderr, "%s: no prompt cases\n", path);
            return 1;
        }
    }
    sa_sam_image *e[2] = {NULL, NULL};
    double wall[2], cpu[2];
    for (int pr = 0; pr < 2; pr++) {
        double w0 = now_s(), c0 = cpu_s();
        if (sa_sam_encode(m[pr], &img, NULL, NULL, &e[pr], &err) != SA_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        wall[pr] = now_s() - w0;
        cpu[pr] = cpu_s() - c0;
    }
    printf("%s (%d threads): encoder FP32 %.2f s (CPU %.2f s), BF16 %.2f s (CPU %.2f s): BF16/FP32 "
           "CPU time %.2f\n",
           random_arch ? random_arch : dir, threads, wall[0], cpu[0], wall[1], cpu[1],
           cpu[1] / cpu[0]);
    printf("%-28s %6s %16s %14s %12s\n", "case", "masks", "max |logit diff|", "max |logit|",
           "pixels diff");
    sa_sam_output out[2][MAX_CASES];
    memset(out, 0, sizeof out);
    double worst_frac = 0.0;
    for (int i = 0; i < n_cases; i++) {
        for (int pr = 0; pr < 2; pr++) {
            const pcase *c = &cs[i];
            sa_sam_prompt q = {.points = c->n_points ? c->points : NULL,
                               .labels = c->labels,
                               .n_points = c->n_points,
                               .box = c->has_box ? c->box : NULL,
                               .multimask = c->multimask};
            if (c->from >= 0) {
                q.mask_input = best_low_res(&out[pr][c->from]);
                q.mask_input_size = out[pr][c->from].low_res;
            }
            if (sa_sam_predict(e[pr], &q, &out[pr][i], &err) != SA_OK) {
                fprintf(stderr, "%s: %s\n", c->name, err.msg);
                return 1;
            }
        }
        const sa_sam_output *a = &out[0][i], *b = &out[1][i];
        size_t n = (size_t)a->n_masks * a->width * a->height, differ = 0;
        double dmax = 0.0, amax = 0.0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)a->mask_logits[k] - b->mask_logits[k]);
            if (d > dmax) dmax = d;
            if (fabs(a->mask_logits[k]) > amax) amax = fabs(a->mask_logits[k]);
            differ += (a->mask_logits[k] > 0.0f) != (b->mask_logits[k] > 0.0f);
        }
        double frac = (double)differ / (double)n;
        if (frac > worst_frac) worst_frac = frac;
        printf("%-28s %6d %16.4g %14.4g %11.4f%%\n", cs[i].name, a->n_masks, dmax, amax,
               100.0 * frac);
    }
    printf("worst fraction of mask pixels that differ: %.4f%%\n", 100.0 * worst_frac);
    for (int i = 0; i < n_cases; i++) {
        sa_sam_output_free(&out[0][i]);
        sa_sam_output_free(&out[1][i]);
    }
    sa_sam_image_free(e[0]);
    sa_sam_image_free(e[1]);
    sa_sam_model_free(m[0]);
    sa_sam_model_free(m[1]);
    sa_image_free(&img);
    return 0;
}
