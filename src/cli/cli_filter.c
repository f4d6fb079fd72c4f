/* segagent filter: annotation filtering with the process reward (SPEC.md sections 6-7). Every annotation of a
 * COCO-style file is painted on its image and scored by the policy ("Current IOU"); with ground truth the
 * agreement between predicted and true IoU is reported as MAE, MSE, Pearson and Spearman on a 0..100 scale. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_llm.h"
#include "cli_report.h"
#include "segagent/filter_stats.h"
#include "segagent/rle.h"

#define FILTER_MAX_JSON (1024L * 1024L * 1024L)

static const char usage_head[] =
    "usage: segagent filter --annotations COCO.json --images DIR [options]\n"
    "\n"
    "Scores every annotation with the policy model's predicted IoU (the model sees the annotation's mask on\n"
    "its image and answers \"Current IOU: v\"), to find the bad ones. The annotation file is COCO style:\n"
    "images [{id, file_name, height, width}], annotations [{id, image_id, segmentation (RLE or polygons),\n"
    "description}], categories [{id, name}]. The description is the annotation's \"caption\" (a string or\n"
    "the first of a list), \"sentences\"[0].sent (RefCOCO), \"description\", or else the category name.\n"
    "\n"
    "With ground truth the agreement is measured as in SegAgent (predicted vs true IoU, 0..100 scale): MAE,\n"
    "MSE, Pearson and Spearman (ties share average ranks). The paper's SegAgent-Qwen: 6.88 / 193.98 / 0.90 /\n"
    "0.87 on RefCOCO val masks made from random clicks inside the gt box.\n"
    "\n"
    "options:\n"
    "  --annotations PATH   the annotations to score\n"
    "  --images DIR         folder holding the images' file_name\n"
    "  --gt PATH            ground-truth COCO file: annotations matched by id give the true IoU\n"
    "  --true-iou-field K   or: each annotation's field K holds its true IoU (0..1)\n"
    "  --out PATH           scores and metrics as JSON (default: filter_scores.json)\n"
    "  --limit N            score the first N annotations only\n"
    "  --quiet              no progress\n"
    "\n";
static const char usage_llm[] = CLI_LLM_OPTIONS_HELP;
static const char usage_tail[] =
    "\n"
    "examples:\n"
    "  segagent filter --annotations perturbed.json --images val2014/ --gt refcoco_val_gt.json \\\n"
    "      --policy http://127.0.0.1:8000/v1 --model segagent-qwen --out scores.json\n"
    "  segagent filter --annotations ours.json --images imgs/ --out scores.json   # scores only\n";

static cJSON *read_json(const char *path, sa_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sa_error_set(err, SA_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, nc);
            if (!nb) break;
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0 || len > (size_t)FILTER_MAX_JSON) break;
    }
    int ferr = ferror(f);
    fclose(f);
    if (!buf || ferr || len > (size_t)FILTER_MAX_JSON) {
        free(buf);
        sa_error_set(err, SA_ERR_IO, "%s: read error or larger than 1 GiB", path);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!root) sa_error_set(err, SA_ERR_PARSE, "%s: not valid JSON", path);
    return root;
}

static const cJSON *find_by_id(const cJSON *arr, double id) {
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(i) && i->valuedouble == id) return it;
    }
    return NULL;
}

static const char *ann_description(const cJSON *ann, const cJSON *cats) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(ann, "caption");
    if (cJSON_IsString(c)) return c->valuestring;
    if (cJSON_IsArray(c) && cJSON_IsString(cJSON_GetArrayItem(c, 0))) return cJSON_GetArrayItem(c, 0)->valuestring;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ann, "sentences");
    const cJSON *s0 = cJSON_IsArray(s) ? cJSON_GetArrayItem(s, 0) : NULL;
    const cJSON *sent = s0 ? cJSON_GetObjectItemCaseSensitive(s0, "sent") : NULL;
    if (cJSON_IsString(sent)) return sent->valuestring;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ann, "description");
    if (cJSON_IsString(d)) return d->valuestring;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(ann, "category_id");
    if (cJSON_IsNumber(cid) && cats) {
        const cJSON *cat = find_by_id(cats, cid->valuedouble);
        const cJSON *nm = cat ? cJSON_GetObjectItemCaseSensitive(cat, "name") : NULL;
        if (cJSON_IsString(nm)) return nm->valuestring;
    }
    return NULL;
}

/* COCO segmentation (RLE object or polygon list) -> mask of h x w. */
static int ann_mask(const cJSON *ann, int h, int w, sa_mask *out, sa_error *err) {
    const cJSON *seg = cJSON_GetObjectItemCaseSensitive(ann, "segmentation");
    sa_rle rle = {0};
    int rc;
    if (cJSON_IsObject(seg)) {
        rc = sa_rle_from_json(seg, &rle, err);
        if (!rc && (rle.h != h || rle.w != w))
            rc = sa_error_set(err, SA_ERR_FORMAT, "RLE size %dx%d differs from the image %dx%d", rle.w, rle.h, w, h);
    } else if (cJSON_IsArray(seg) && cJSON_GetArraySize(seg) > 0) {
        int np = cJSON_GetArraySize(seg);
        double **xy = calloc((size_t)np, sizeof *xy);
        size_t *npts = calloc((size_t)np, sizeof *npts);
        rc = xy && npts ? SA_OK : sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        for (int i = 0; i < np && !rc; i++) {
            const cJSON *poly = cJSON_GetArrayItem(seg, i);
            int m = cJSON_IsArray(poly) ? cJSON_GetArraySize(poly) : 0;
            if (m < 6 || m % 2) {
                rc = sa_error_set(err, SA_ERR_FORMAT, "polygon %d has %d numbers (need an even count >= 6)", i, m);
                break;
            }
            xy[i] = malloc((size_t)m * sizeof **xy);
            if (!xy[i]) {
                rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
                break;
            }
            for (int j = 0; j < m; j++) {
                const cJSON *v = cJSON_GetArrayItem(poly, j);
                if (!cJSON_IsNumber(v)) {
                    rc = sa_error_set(err, SA_ERR_FORMAT, "polygon %d: non-number", i);
                    break;
                }
                xy[i][j] = v->valuedouble;
            }
            npts[i] = (size_t)m / 2;
        }
        if (!rc) rc = sa_rle_from_polygons((const double *const *)xy, npts, (size_t)np, h, w, &rle, err);
        for (int i = 0; xy && i < np; i++) free(xy[i]);
        free(xy);
        free(npts);
    } else {
        rc = sa_error_set(err, SA_ERR_FORMAT, "no segmentation");
    }
    if (!rc) rc = sa_rle_decode(&rle, out, err);
    sa_rle_free(&rle);
    return rc;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(round(v * 1e6) / 1e6) : cJSON_CreateNull(); }

int cli_filter(int argc, char **argv) {
    cli_llm_opts lo;
    cli_llm_opts_default(&lo);
    const char *ann_path = NULL, *img_dir = NULL, *gt_path = NULL, *iou_field = NULL, *out_path = "filter_scores.json";
    int limit = INT_MIN, quiet = 0; /* INT_MIN: --limit not given */
    cli_opt opts[CLI_LLM_N_OPTS + 7];
    cli_llm_opts_table(&lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt){"annotations", CLI_STR, &ann_path};
    opts[n++] = (cli_opt){"images", CLI_STR, &img_dir};
    opts[n++] = (cli_opt){"gt", CLI_STR, &gt_path};
    opts[n++] = (cli_opt){"true-iou-field", CLI_STR, &iou_field};
    opts[n++] = (cli_opt){"out", CLI_STR, &out_path};
    opts[n++] = (cli_opt){"limit", CLI_INT, &limit};
    opts[n++] = (cli_opt){"quiet", CLI_FLAG, &quiet};
    char usage[8192];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, usage_llm, usage_tail);
    int pr = cli_parse(argc, argv, opts, n, NULL, 0, NULL, usage);
    if (pr == 1) return 0;
    if (pr) return 2;
    if (!ann_path || !img_dir) {
        fprintf(stderr, "%s: need --annotations and --images (see --help)\n", argv[0]);
        return 2;
    }
    if (limit != INT_MIN && cli_check_int(argv[0], "limit", limit, 0, 2147483647L)) return 2;
    sa_error err = {0};
    sa_llm_params lp;
    if (cli_llm_params(&lo, &lp, &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    struct stat sb; /* wrong paths are reported before any request */
    if (stat(img_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "%s: --images %s: not a folder\n", argv[0], img_dir);
        return 1;
    }
    if (cli_check_out_file(argv[0], "out", out_path)) return 1;
    int status = 1;
    cJSON *root = NULL, *gtroot = NULL, *out = NULL;
    sa_policy *pol = NULL;
    sa_image img = {0};
    double img_id = NAN;
    double *preds = NULL, *truths = NULL;
    int n_scored = 0, n_failed = 0, fatal = 0;
    root = read_json(ann_path, &err);
    if (!root) goto fail;
    if (gt_path && !(gtroot = read_json(gt_path, &err))) goto fail;
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(root, "annotations");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
    const cJSON *gt_anns = gtroot ? cJSON_GetObjectItemCaseSensitive(gtroot, "annotations") : NULL;
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns)) {
        sa_error_set(&err, SA_ERR_FORMAT, "%s: needs \"images\" and \"annotations\" arrays", ann_path);
        goto fail;
    }
    if (gtroot && !cJSON_IsArray(gt_anns)) {
        sa_error_set(&err, SA_ERR_FORMAT, "%s: needs an \"annotations\" array", gt_path);
        goto fail;
    }
    int total = cJSON_GetArraySize(anns);
    if (limit != INT_MIN && limit < total) total = limit;
    preds = malloc(((size_t)total + 1) * sizeof *preds);
    truths = malloc(((size_t)total + 1) * sizeof *truths);
    if (!preds || !truths) {
        sa_error_set(&err, SA_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (sa_llm_policy_new(&lp, &pol, NULL, &err)) goto fail;
    out = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(out, "annotations");
    cli_progress prog;
    cli_progress_start(&prog, "scoring", total, quiet);
    for (int i = 0; i < total && !fatal; i++) {
        const cJSON *ann = cJSON_GetArrayItem(anns, i);
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddItemToArray(list, rec);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ann, "id");
        const cJSON *iid = cJSON_GetObjectItemCaseSensitive(ann, "image_id");
        cJSON_AddItemToObject(rec, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(rec, "image_id", iid ? cJSON_Duplicate(iid, 1) : cJSON_CreateNull());
        sa_error e = {0};
        const char *desc = ann_description(ann, cats);
        const cJSON *im = cJSON_IsNumber(iid) ? find_by_id(images, iid->valuedouble) : NULL;
        const cJSON *fn = im ? cJSON_GetObjectItemCaseSensitive(im, "file_name") : NULL;
        double truth = NAN, pred = NAN;
        sa_mask m = {0}, g = {0};
        char *reply = NULL;
        int rc = SA_OK;
        if (!desc) rc = sa_error_set(&e, SA_ERR_FORMAT, "no description (caption, sentences, description, category)");
        else if (!cJSON_IsString(fn)) rc = sa_error_set(&e, SA_ERR_FORMAT, "image_id not found in images");
        if (!rc && img_id != iid->valuedouble) {
            sa_image_free(&img);
            img_id = NAN;
            char *path = cli_path_join(img_dir, fn->valuestring);
            rc = path ? sa_image_load(path, &img, &e) : sa_error_set(&e, SA_ERR_NOMEM, "out of memory");
            free(path);
            if (!rc) img_id = iid->valuedouble;
        }
        if (!rc) rc = ann_mask(ann, img.height, img.width, &m, &e);
        if (!rc && gt_anns && cJSON_IsNumber(id)) {
            const cJSON *ga = find_by_id(gt_anns, id->valuedouble);
            if (ga && ann_mask(ga, img.height, img.width, &g, NULL) == SA_OK) truth = sa_mask_iou(&m, &g, NULL);
        }
        if (!rc && iou_field) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(ann, iou_field);
            if (cJSON_IsNumber(t)) truth = t->valuedouble;
        }
        if (!rc) {
            sa_policy_obs obs;
            memset(&obs, 0, sizeof obs);
            obs.image = &img;
            obs.mask = &m;
            obs.description = desc;
            float p = NAN;
            rc = sa_policy_score(pol, &obs, &p, &reply, &e);
            if (!rc) pred = p;
            if (rc == SA_ERR_NETWORK || rc == SA_ERR_TIMEOUT) fatal = 1; /* the server is gone: stop, keep what we have */
        }
        if (desc) cJSON_AddStringToObject(rec, "description", desc);
        cJSON_AddItemToObject(rec, "pred_iou", num_or_null(pred));
        cJSON_AddItemToObject(rec, "true_iou", num_or_null(truth));
        if (reply) cJSON_AddStringToObject(rec, "reply", reply);
        if (rc) {
            cJSON_AddStringToObject(rec, "error", e.msg);
            n_failed++;
            if (!quiet) fprintf(stderr, "%sannotation %d: %s\n", prog.tty ? "\n" : "", i, e.msg);
            if (fatal) sa_error_set(&err, rc, "%s", e.msg);
        } else {
            preds[n_scored] = pred * 100.0;
            truths[n_scored] = truth * 100.0;
            n_scored++;
        }
        free(reply);
        sa_mask_free(&m);
        sa_mask_free(&g);
        cli_progress_step(&prog, desc ? desc : "");
    }
    cli_progress_end(&prog);
    sa_filter_stats st;
    sa_filter_stats_compute(preds, truths, (size_t)n_scored, &st, NULL);
    cJSON *met = cJSON_AddObjectToObject(out, "metrics");
    cJSON_AddStringToObject(met, "scale", "0-100");
    cJSON_AddNumberToObject(met, "scored", n_scored);
    cJSON_AddNumberToObject(met, "failed", n_failed);
    cJSON_AddNumberToObject(met, "with_truth", (double)st.n);
    cJSON_AddItemToObject(met, "mae", num_or_null(st.mae));
    cJSON_AddItemToObject(met, "mse", num_or_null(st.mse));
    cJSON_AddItemToObject(met, "pearson", num_or_null(st.pearson));
    cJSON_AddItemToObject(met, "spearman", num_or_null(st.spearman));
    {
        sa_error we = {0};
        char *txt = cJSON_Print(out);
        FILE *f = txt ? fopen(out_path, "wb") : NULL;
        int bad = !f;
        if (f) {
            bad |= fprintf(f, "%s\n", txt) < 0;
            bad |= fclose(f) != 0;
        }
        free(txt);
        if (bad) {
            sa_error_set(&we, SA_ERR_IO, "%s: cannot write", out_path);
            if (err.code) fprintf(stderr, "%s: %s\n", argv[0], we.msg); /* err is printed below */
            else err = we;
            fatal = 1;
        }
    }
    printf("%d annotation%s scored, %d failed -> %s\n", n_scored, n_scored == 1 ? "" : "s", n_failed, out_path);
    if (st.n > 0)
        printf("predicted vs true IoU (0-100, n=%zu): MAE %.2f  MSE %.2f  Pearson %.3f  Spearman %.3f\n", st.n, st.mae,
               st.mse, st.pearson, st.spearman);
    if (!fatal && n_scored == 0 && n_failed > 0) {
        fatal = 1;
        sa_error_set(&err, SA_ERR_INVALID, "none of the %d annotations could be scored (see the messages above)",
                     n_failed);
    }
    status = fatal ? 1 : 0;
    if (fatal) goto fail;
    goto done;
fail:
    fprintf(stderr, "%s: %s\n", argv[0], err.msg);
done:
    free(preds);
    free(truths);
    cJSON_Delete(out);
    cJSON_Delete(root);
    cJSON_Delete(gtroot);
    sa_policy_free(pol);
    sa_image_free(&img);
    return status;
}
