/* SAM parity checker (docs/sam.md format), shared by `segagent check-sam` and the test suite.
 *
 * Runs the engine on DIR/image.png with the weights, records every intermediate the fixture holds (through the
 * encoder probe) and the outputs of every case in cases.json, then walks expected.safetensors: each expected
 * tensor must have been produced with the same shape and lie within tolerance (float: 1e-4 * (1 + max|expected|)
 * absolute; resized_image: 1 grey level; masks: equal except where |expected logit| < 1e-3). Nothing here is
 * specific to one fixture: the dimensions come from the files. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/fileio.h"
#include "sam/sam_internal.h"
#include "segagent/weights.h"
#include "weights/parity.h"

#define MAX_CASES 256
#define MAX_GOT 4096
#define NAME_WIDTH 44 /* report column of tensor names */

static void probe_cb(void *ctx, const char *name, const float *data, const int64_t *shape,
                     int ndim) {
    sa__probes_put(ctx, name, data, NULL, shape, ndim);
}

sa_sam_check_params sa_sam_check_default_params(void) {
    sa_sam_check_params p = {.threads = 2, .kernels = SA_SAM_KERNELS_FAST, .weights = NULL};
    return p;
}

/* Reads a JSON array of numbers into dst (at most max values); returns the count or -1. */
static int json_floats(const cJSON *arr, float *dst, int max) {
    if (!cJSON_IsArray(arr)) return -1;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsArray(e)) {
            const cJSON *v;
            cJSON_ArrayForEach(v, e) {
                if (!cJSON_IsNumber(v) || n >= max || !(fabs(v->valuedouble) <= FLT_MAX)) return -1;
                dst[n++] = (float)v->valuedouble;
            }
        } else {
            if (!cJSON_IsNumber(e) || n >= max || !(fabs(e->valuedouble) <= FLT_MAX)) return -1;
            dst[n++] = (float)e->valuedouble;
        }
    }
    return n;
}

/* Runs one case; records its outputs. prev_low: low-res logits per case (for mask_input_from). */
static int run_case(sa_sam_image *e, const cJSON *cs, const cJSON *cases, float **case_low, int ci,
                    sa__probes *c, sa_error *err) {
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(cs, "name");
    if (!cJSON_IsString(jn))
        return sa_error_set(err, SA_ERR_FORMAT, "cases.json: case %d has no name", ci);
    const char *name = jn->valuestring;
    static const int max_pts = SA_MAX_CLICKS;
    float *pts = malloc((size_t)max_pts * 2 * sizeof(float));
    float *labf = malloc((size_t)max_pts * sizeof(float));
    int *labels = malloc((size_t)max_pts * sizeof(int));
    int rc = SA_OK;
    sa_sam_output out = {0};
    if (!pts || !labf || !labels) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        goto done;
    }
    sa_sam_prompt p;
    memset(&p, 0, sizeof p);
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(cs, "points");
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(cs, "labels");
    if (jp) {
        int np = json_floats(jp, pts, 2 * max_pts), nl = json_floats(jl, labf, max_pts);
        if (np < 0 || np % 2 || nl != np / 2) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "cases.json: case '%s': bad points/labels", name);
            goto done;
        }
        p.n_points = nl;
        for (int i = 0; i < nl; i++) {
            if (labf[i] != -1.0f && labf[i] != 0.0f &&
                labf[i] != 1.0f) { /* (int) of a huge float is undefined */
                rc = sa_error_set(err, SA_ERR_FORMAT,
                                  "cases.json: case '%s': label %g is not -1, 0 or 1", name,
                                  (double)labf[i]);
                goto done;
            }
            labels[i] = (int)labf[i];
        }
        p.points = pts;
        p.labels = labels;
    }
    float box[4];
    const cJSON *jb = cJSON_GetObjectItemCaseSensitive(cs, "box");
    if (jb && !cJSON_IsNull(jb)) {
        if (json_floats(jb, box, 4) != 4) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "cases.json: case '%s': bad box", name);
            goto done;
        }
        p.box = box;
    }
    p.multimask = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "multimask"));
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(cs, "mask_input_from");
    if (cJSON_IsString(jm)) {
        int src = -1, k = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, cases) {
            const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
            if (k < ci && cJSON_IsString(on) && !strcmp(on->valuestring, jm->valuestring)) src = k;
            k++;
        }
        if (src < 0 || !case_low[src]) {
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "cases.json: case '%s': mask_input_from '%s' is not an earlier case",
                              name, jm->valuestring);
            goto done;
        }
        p.mask_input = case_low[src];
        p.mask_input_size = sa_sam_low_res_size(e->m);
    }
    rc = sa_sam_predict(e, &p, &out, err);
    if (rc != SA_OK) {
        sa_error_prefix(err, "case '%s': ", name);
        goto done;
    }
    const int lr = out.low_res, n = out.n_masks;
    char tn[200];
    int64_t s3[3] = {n, lr, lr};
    snprintf(tn, sizeof tn, "%s.low_res_logits", name);
    sa__probes_put(c, tn, out.low_res_logits, NULL, s3, 3);
    int64_t s1[1] = {n};
    snprintf(tn, sizeof tn, "%s.iou_pred", name);
    sa__probes_put(c, tn, out.iou_pred, NULL, s1, 1);
    int64_t sm[3] = {n, out.height, out.width};
    snprintf(tn, sizeof tn, "%s.mask_logits", name);
    sa__probes_put(c, tn, out.mask_logits, NULL, sm, 3);
    size_t plane = (size_t)n * out.height * out.width;
    for (size_t i = 0; i < plane; i++)
        out.mask_logits[i] = out.mask_logits[i] > 0.0f ? 1.0f : 0.0f;
    snprintf(tn, sizeof tn, "%s.masks", name);
    sa__probes_put(c, tn, out.mask_logits, NULL, sm, 3);
    /* the mask prompt of a later case: the only mask, or the one with the highest predicted IoU */
    int best = 0;
    for (int k = 1; k < n; k++)
        if (out.iou_pred[k] > out.iou_pred[best]) best = k;
    case_low[ci] = malloc((size_t)lr * lr * sizeof(float));
    if (!case_low[ci]) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(case_low[ci], out.low_res_logits + (size_t)best * lr * lr,
           (size_t)lr * lr * sizeof(float));
done:
    sa_sam_output_free(&out);
    free(pts);
    free(labf);
    free(labels);
    return rc;
}

/* Compares one expected tensor; returns 1 when within tolerance. */
static int compare(const sa_tensor *t, const sa__probe_tensor *g, const sa_weights *expw,
                   sa_sam_report_fn report, void *rctx) {
    int64_t numel = sa_tensor_numel(t);
    float *exp = sa__parity_expected(t, g, expw, NAME_WIDTH, report, rctx);
    if (!exp) return 0;
    size_t nl = strlen(t->name);
    int ok;
    if (!strcmp(t->name, "resized_image")) {
        float worst = 0;
        for (int64_t i = 0; i < numel; i++)
            worst = fmaxf(worst, fabsf(exp[i] - g->data[i]));
        ok = worst <= 1.0f;
        sa__reportf(report, rctx, "%s %-*s max |diff| %.0f grey levels (tol 1)",
                    ok ? "ok  " : "FAIL", NAME_WIDTH, t->name, worst);
    } else if (nl > 6 && !strcmp(t->name + nl - 6, ".masks")) {
        /* masks: equal except where |expected logit| < 1e-3 */
        char ln[200];
        snprintf(ln, sizeof ln, "%.*s.mask_logits", (int)(nl - 6), t->name);
        float *el = sa__expected_f32(expw, ln, numel);
        long near = 0, bad = sa__parity_mask_diff(exp, g->data, numel, el, 0.0f, 1e-3f, &near);
        ok = bad == 0;
        sa__reportf(report, rctx,
                    "%s %-*s %ld differing pixels (+%ld with |logit| < 1e-3, allowed)%s",
                    ok ? "ok  " : "FAIL", NAME_WIDTH, t->name, bad, near,
                    el ? "" : " [no expected logits]");
        free(el);
    } else {
        ok = sa__parity_close(t->name, exp, g->data, numel, 0.0f, 1e-4f, NAME_WIDTH, report, rctx);
    }
    free(exp);
    return ok;
}

/* "image_hw": [h, w] in cases.json is the size the expected outputs were made for: another image would
 * be checked against outputs of a different input, so a mismatch (or a malformed entry) is an error. */
static int check_image_hw(const cJSON *cj, const char *cpath, const char *ipath,
                          const sa_image *img, sa_error *err) {
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(cj, "image_hw");
    if (!hw) return SA_OK;
    const cJSON *h = cJSON_GetArrayItem(hw, 0), *w = cJSON_GetArrayItem(hw, 1);
    if (!cJSON_IsArray(hw) || cJSON_GetArraySize(hw) != 2 || !cJSON_IsNumber(h) ||
        !cJSON_IsNumber(w))
        return sa_error_set(err, SA_ERR_FORMAT, "%s: \"image_hw\" must be [height, width]", cpath);
    if (h->valuedouble != img->height || w->valuedouble != img->width)
        return sa_error_set(
            err, SA_ERR_FORMAT,
            "%s: \"image_hw\" is [%g, %g] (height, width) but %s is %dx%d (width x height)", cpath,
            h->valuedouble, w->valuedouble, ipath, img->width, img->height);
    return SA_OK;
}

int sa_sam_check_fixture(const char *dir, sa_sam_check_params params, sa_sam_report_fn report,
                         void *rctx, int *n_fail, sa_error *err) {
    if (n_fail) *n_fail = 0;
    if (!dir) return sa_error_set(err, SA_ERR_INVALID, "check-sam: no fixture folder");
    int rc = SA_OK;
    char *wpath = params.weights ? NULL : sa_path_join(dir, "model.safetensors");
    char *ipath = sa_path_join(dir, "image.png"), *cpath = sa_path_join(dir, "cases.json");
    char *epath = sa_path_join(dir, "expected.safetensors");
    cJSON *cj = NULL;
    sa_sam_model *m = NULL;
    sa_weights *expw = NULL;
    sa_image img = {0};
    sa_sam_image *e = NULL;
    float *case_low[MAX_CASES] = {0};
    sa__probes *c = NULL;
    if (!ipath || !cpath || !epath || (!params.weights && !wpath) ||
        sa__probes_new(MAX_GOT, &c) != SA_OK) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "check-sam: out of memory");
        goto done;
    }
    const char *weights = params.weights ? params.weights : wpath;
    sa_sam_params mp = sa_sam_default_params();
    mp.threads = params.threads > 0 ? params.threads : 1;
    mp.kernels = params.kernels;
    if ((rc = sa_sam_model_load(weights, mp, &m, err)) != SA_OK) goto done;
    const sa_sam_arch *a = sa_sam_model_arch(m);
    int n_global = 0;
    for (int i = 0; i < a->depth; i++)
        n_global += a->global[i];
    sa__reportf(
        report, rctx,
        "model %s: S=%d width=%d depth=%d heads=%d mlp=%d window=%d global=%d decoder D=%d mlp=%d, %lld params",
        weights, a->image_size, a->width, a->depth, a->heads, a->mlp_dim, a->window, n_global,
        a->out_chans, a->dec_mlp_dim, (long long)sa_sam_model_param_count(m));
    if ((rc = sa_image_load(ipath, &img, err)) != SA_OK) goto done;
    const cJSON *cases = NULL;
    if ((rc = sa__parity_cases(cpath, &cj, &cases, err)) != SA_OK) goto done;
    if ((rc = check_image_hw(cj, cpath, ipath, &img, err)) != SA_OK) goto done;
    if ((rc = sa_weights_open(epath, &expw, err)) != SA_OK) goto done;
    if ((rc = sa_sam_encode(m, &img, probe_cb, c, &e, err)) != SA_OK) goto done;
    int ci = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        if (ci >= MAX_CASES) {
            rc = sa_error_set(err, SA_ERR_RANGE, "%s: more than %d cases", cpath, MAX_CASES);
            goto done;
        }
        if ((rc = run_case(e, cs, cases, case_low, ci, c, err)) != SA_OK) {
            if (!strncmp(err ? err->msg : "", "cases.json:", 11)) sa_error_prefix(err, "%s/", dir);
            goto done;
        }
        ci++;
    }
    if (sa__probes_oom(c)) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "check-sam: out of memory recording outputs");
        goto done;
    }
    int fails = 0, n = sa_weights_count(expw);
    for (int i = 0; i < n; i++) {
        const sa_tensor *t = sa_weights_at(expw, i);
        if (!compare(t, sa__probes_find(c, t->name), expw, report, rctx)) fails++;
    }
    if (n == 0) {
        sa__reportf(report, rctx, "FAIL expected.safetensors holds no tensor");
        fails++;
    }
    sa__reportf(report, rctx, "%s: %d tensors compared, %d out of tolerance", dir, n, fails);
    if (n_fail) *n_fail = fails;
done:
    for (int i = 0; i < MAX_CASES; i++)
        free(case_low[i]);
    sa__probes_free(c);
    sa_sam_image_free(e);
    sa_image_free(&img);
    sa_weights_free(expw);
    sa_sam_model_free(m);
    cJSON_Delete(cj);
    free(wpath);
    free(ipath);
    free(cpath);
    free(epath);
    return rc;
}
