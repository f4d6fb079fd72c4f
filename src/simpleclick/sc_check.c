/* SimpleClick parity checker (fixtures/simpleclick/README.md format), shared by `segagent
 * check-simpleclick` and the test suite.
 *
 * For every case of cases.json: the predictor settings of the case (ZoomIn or not, flip, the
 * points' dtype), then click by click with the expected probabilities and ROI of click k-1 as the
 * state before click k (so one click's error does not carry into the next), recording prob, mask,
 * ROI and the DistMaps points, and the network intermediates of batch element 0 the fixture expects
 * for that click. A second, free-running pass (each click from the engine's own previous output)
 * must reproduce every ROI and mask. Then every tensor of expected.safetensors is compared:
 * probabilities within 1e-4 absolute; other floats within 1e-4 * (1 + max|expected|); coord
 * features, ROIs and points exact; masks equal except where |expected prob - threshold| < 1e-4.
 * Dimensions all come from the files. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/fileio.h"

#include "simpleclick/sc_internal.h"
#include "weights/parity.h"

#define MAX_GOT 4096
#define MAX_CLICKS_CASE 256

#define NAME_WIDTH 40 /* report column of tensor names */

typedef struct ctx {
    sa__probes *got;
    char prefix[128];      /* "<case>.<k>.net." while probing */
    const sa_weights *exp; /* only intermediates the fixture expects are kept */
} ctx;

static void probe_cb(void *vc, const char *name, const float *data, const double *ddata,
                     const int64_t *shape, int ndim) {
    ctx *c = vc;
    char full[200];
    snprintf(full, sizeof full, "%s%s", c->prefix, name);
    if (strcmp(name, "net_points") && !sa_weights_find(c->exp, full)) return;
    sa__probes_put(c->got, full, data, ddata, shape, ndim);
}

static double num(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Predictor settings of a case. */
static int case_params(const cJSON *cs, const sa_sc_params *base, float thresh, sa_sc_params *p,
                       const char *cname, sa_error *err) {
    *p = *base;
    p->prob_thresh = thresh;
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(cs, "zoom_in");
    p->zoom_in = cJSON_IsObject(z);
    if (p->zoom_in) {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(z, "target_size");
        const cJSON *t0 = cJSON_GetArrayItem(ts, 0), *t1 = cJSON_GetArrayItem(ts, 1);
        if (!cJSON_IsNumber(t0) || !cJSON_IsNumber(t1) || t0->valueint != t1->valueint)
            return sa_error_set(err, SA_ERR_UNSUPPORTED,
                                "cases.json: case %s: ZoomIn target must be square", cname);
        p->zoom_target = t0->valueint;
        p->zoom_expansion = num(z, "expansion_ratio", 1.4);
        p->zoom_min_crop = (int)num(z, "min_crop_size", 200);
        p->zoom_recompute_iou = num(z, "recompute_thresh_iou", 0.5);
        p->zoom_prob_thresh = (float)num(z, "prob_thresh", 0.5);
        if (num(z, "skip_clicks", -1) != -1)
            return sa_error_set(err, SA_ERR_UNSUPPORTED,
                                "cases.json: case %s: only skip_clicks -1 is implemented", cname);
    }
    p->flip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "with_flip"));
    const cJSON *clicks = cJSON_GetObjectItemCaseSensitive(cs, "clicks");
    const cJSON *dt =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(clicks, 0), "net_points_dtype");
    p->points_f64 = cJSON_IsString(dt) && !strcmp(dt->valuestring, "float64");
    return SA_OK;
}

/* Net points of click 0 against cases.json, exact in their dtype. */
static int check_points(const cJSON *click, const sa__probe_tensor *g, const char *name,
                        sa_sc_report_fn report, void *rctx) {
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(click, "net_points");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(click, "net_points_dtype");
    const char *dts = cJSON_IsString(dt) ? dt->valuestring : "float32";
    int rows = cJSON_GetArraySize(np);
    if (!g || !g->ddata || (size_t)rows * 3 != g->n) {
        sa__reportf(report, rctx, "FAIL %-40s %d rows expected, %zu produced", name, rows,
                    g ? g->n / 3 : 0);
        return 0;
    }
    int bad = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(np, r), k);
            double e = cJSON_IsNumber(v) ? v->valuedouble : NAN, o = g->ddata[r * 3 + k];
            int same = !strcmp(dts, "float64") ? e == o : (float)e == (float)o;
            bad += !same;
        }
    sa__reportf(report, rctx, "%s %-40s %d rows (%s), %d values differ (exact)",
                bad ? "FAIL" : "ok  ", name, rows, dts, bad);
    return bad == 0;
}

static int compare(const sa_tensor *t, const sa__probe_tensor *g, const sa_weights *expw,
                   float thresh, sa_sc_report_fn report, void *rctx) {
    int64_t numel = sa_tensor_numel(t);
    float *e = sa__parity_expected(t, g, expw, NAME_WIDTH, report, rctx);
    if (!e) return 0;
    size_t nl = strlen(t->name);
    int ok;
#define ENDS(s) (nl > strlen(s) && !strcmp(t->name + nl - strlen(s), s))
    if (ENDS(".mask")) {
        char pn[200];
        snprintf(pn, sizeof pn, "%.*s.prob", (int)(nl - 5), t->name);
        float *ep = sa__expected_f32(expw, pn, numel);
        long near = 0, bad = sa__parity_mask_diff(e, g->data, numel, ep, thresh, 1e-4f, &near);
        ok = bad == 0;
        sa__reportf(report, rctx,
                    "%s %-*s %ld pixels differ (+%ld within 1e-4 of the threshold, allowed)",
                    ok ? "ok  " : "FAIL", NAME_WIDTH, t->name, bad, near);
        free(ep);
    } else if (ENDS(".roi") || ENDS(".coord_features")) {
        long bad = 0;
        for (int64_t i = 0; i < numel; i++)
            bad += e[i] != g->data[i];
        ok = bad == 0;
        if (ENDS(".roi"))
            sa__reportf(report, rctx, "%s %-*s (%g, %g, %g, %g) vs expected (%g, %g, %g, %g)",
                        ok ? "ok  " : "FAIL", NAME_WIDTH, t->name, g->data[0], g->data[1],
                        g->data[2], g->data[3], e[0], e[1], e[2], e[3]);
        else
            sa__reportf(report, rctx, "%s %-*s %ld values differ (exact)", ok ? "ok  " : "FAIL",
                        NAME_WIDTH, t->name, bad);
    } else if (ENDS(".prob")) { /* probabilities: absolute */
        ok = sa__parity_close(t->name, e, g->data, numel, 1e-4f, 0.0f, NAME_WIDTH, report, rctx);
    } else {
        ok = sa__parity_close(t->name, e, g->data, numel, 0.0f, 1e-4f, NAME_WIDTH, report, rctx);
    }
#undef ENDS
    free(e);
    return ok;
}

/* One case: per-click (expected state) and free-running passes. Returns SA_OK or an error; fails
 * counts the free-running mismatches. */
static int run_case(sa_sc_session *s, const cJSON *cs, const char *cname, const sa_weights *expw,
                    ctx *c, float thresh, int *fails, sa_sc_report_fn report, void *rctx,
                    sa_error *err) {
    const cJSON *clicks = cJSON_GetObjectItemCaseSensitive(cs, "clicks");
    int nc = cJSON_GetArraySize(clicks);
    if (nc < 1 || nc > MAX_CLICKS_CASE)
        return sa_error_set(err, SA_ERR_PARSE, "cases.json: case %s has %d clicks", cname, nc);
    const int H = s->height, W = s->width;
    const size_t HW = (size_t)H * W;
    sa_sc_click ck[MAX_CLICKS_CASE];
    for (int k = 0; k < nc; k++) {
        const cJSON *cl = cJSON_GetArrayItem(clicks, k);
        ck[k].row = (int)num(cl, "row", -1);
        ck[k].col = (int)num(cl, "col", -1);
        ck[k].positive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cl, "is_positive"));
    }
    float *prob = malloc(HW * sizeof(float)), *mask = malloc(HW * sizeof(float)),
          *free_prob = malloc(HW * sizeof(float));
    float *prev = NULL;
    int rc = SA_OK;
    if (!prob || !mask || !free_prob) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "check-simpleclick: out of memory");
        goto out;
    }
    int roi[4], prev_roi[4], have_roi = 0;
    char name[200];
    for (int k = 0; k < nc; k++) {
        /* state before click k: the expected output of click k-1 */
        if (k > 0) {
            snprintf(name, sizeof name, "%s.%d.prob", cname, k - 1);
            free(prev);
            prev = sa__expected_f32(expw, name, (int64_t)HW);
            if (!prev) {
                rc = sa_error_set(err, SA_ERR_FORMAT,
                                  "expected.safetensors: %s missing or of the wrong size", name);
                goto out;
            }
            snprintf(name, sizeof name, "%s.%d.roi", cname, k - 1);
            float *er = sa__expected_f32(expw, name, 4);
            have_roi = er != NULL;
            for (int i = 0; er && i < 4; i++)
                prev_roi[i] = (int)er[i];
            free(er);
        }
        snprintf(c->prefix, sizeof c->prefix, "%s.%d.net.", cname, k);
        sa_sc_session_arm_probe(s, 1);
        rc = sa_sc_predict(s, ck, k + 1, prev, have_roi ? prev_roi : NULL, prob, roi, err);
        if (rc != SA_OK) goto out;
        for (size_t i = 0; i < HW; i++)
            mask[i] = prob[i] > thresh ? 1.0f : 0.0f;
        int64_t shp[2] = {H, W};
        snprintf(name, sizeof name, "%s.%d.prob", cname, k);
        sa__probes_put(c->got, name, prob, NULL, shp, 2);
        snprintf(name, sizeof name, "%s.%d.mask", cname, k);
        sa__probes_put(c->got, name, mask, NULL, shp, 2);
        float rf[4] = {(float)roi[0], (float)roi[1], (float)roi[2], (float)roi[3]};
        int64_t r4 = 4;
        snprintf(name, sizeof name, "%s.%d.roi", cname, k);
        sa__probes_put(c->got, name, rf, NULL, &r4, 1);
        snprintf(name, sizeof name, "%s.%d.net.net_points", cname, k);
        if (!check_points(cJSON_GetArrayItem(clicks, k), sa__probes_find(c->got, name), name,
                          report, rctx))
            (*fails)++;
    }
    /* free-running: ROIs and masks must come out as expected */
    int bad_roi = 0;
    long bad_mask = 0;
    for (int k = 0; k < nc; k++) {
        rc = sa_sc_predict(s, ck, k + 1, k ? free_prob : NULL, k ? roi : NULL, free_prob, roi, err);
        if (rc != SA_OK) goto out;
        snprintf(name, sizeof name, "%s.%d.roi", cname, k);
        float *er = sa__expected_f32(expw, name, 4);
        for (int i = 0; er && i < 4; i++)
            bad_roi += (int)er[i] != roi[i];
        free(er);
        snprintf(name, sizeof name, "%s.%d.prob", cname, k);
        float *ep = sa__expected_f32(expw, name, (int64_t)HW);
        for (size_t i = 0; ep && i < HW; i++)
            if ((ep[i] > thresh) != (free_prob[i] > thresh) && fabsf(ep[i] - thresh) >= 1e-4f)
                bad_mask++;
        free(ep);
    }
    int ok = bad_roi == 0 && bad_mask == 0;
    sa__reportf(report, rctx, "%s %-40s %d clicks: %d ROI values and %ld mask pixels differ",
                ok ? "ok  " : "FAIL", cname, nc, bad_roi, bad_mask);
    if (!ok) (*fails)++;
out:
    c->prefix[0] = '\0';
    free(prob);
    free(mask);
    free(free_prob);
    free(prev);
    return rc;
}

sa_sc_check_params sa_sc_check_default_params(void) {
    sa_sc_check_params p = {
        .threads = 2, .kernels = SA_SC_KERNELS_FAST, .weights = NULL, .model = NULL};
    return p;
}

int sa_sc_check_fixture(const char *dir, sa_sc_check_params params, sa_sc_report_fn report,
                        void *rctx, int *n_fail, sa_error *err) {
    if (n_fail) *n_fail = 0;
    if (!dir) return sa_error_set(err, SA_ERR_INVALID, "check-simpleclick: no fixture folder");
    int rc = SA_OK;
    char *wpath = sa_path_join(dir, "model.pth"), *ipath = sa_path_join(dir, "image.png");
    char *cpath = sa_path_join(dir, "cases.json"),
         *epath = sa_path_join(dir, "expected.safetensors");
    cJSON *cj = NULL;
    sa_sc_model *own = NULL;
    sa_sc_model *m = (sa_sc_model *)(uintptr_t)params.model;
    sa_sc_params saved = {0};
    sa_weights *expw = NULL;
    sa_image img = {0};
    sa_sc_session *s = NULL;
    ctx c = {0};
    if (!wpath || !ipath || !cpath || !epath || sa__probes_new(MAX_GOT, &c.got) != SA_OK) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "check-simpleclick: out of memory");
        goto done;
    }
    sa_sc_params base = sa_sc_default_params();
    base.threads = params.threads > 0 ? params.threads : 1;
    base.kernels = params.kernels;
    const char *weights = params.weights ? params.weights : wpath;
    if (!m) {
        if ((rc = sa_sc_model_load(weights, base, &own, err)) != SA_OK) goto done;
        m = own;
    } else {
        saved = m->params;
        if ((rc = sa_sc_model_set_params(m, base, err)) != SA_OK) goto done;
    }
    const sa_sc_arch *a = &m->arch;
    sa__reportf(report, rctx,
                "model %s: patch %d, width %d, depth %d, heads %d, mlp %d, crop grid %dx%d, neck "
                "%d/%d/%d/%d, head %d, "
                "%lld params, %d checkpoint tensors unused",
                params.model ? "(given)" : weights, a->patch, a->width, a->depth, a->heads, a->mlp,
                a->crop_h, a->crop_w, a->neck_out[0], a->neck_out[1], a->neck_out[2],
                a->neck_out[3], a->head, (long long)sa_sc_model_param_count(m),
                sa_sc_model_unused_count(m));
    if (sa_sc_model_unused_count(m) >
        0) { /* the checkpoint tensors the engine does not use, by name */
        char names[480];
        size_t k = 0;
        names[0] = '\0';
        for (int i = 0; i < sa_sc_model_unused_count(m) && k + 4 < sizeof names; i++) {
            int w = snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "",
                             sa_sc_model_unused_name(m, i));
            k = w < 0 || (size_t)w >= sizeof names - k ? sizeof names : k + (size_t)w;
        }
        sa__reportf(report, rctx, "unused checkpoint tensors: %s%s", names,
                    k >= sizeof names ? "..." : "");
    }
    if ((rc = sa_image_load(ipath, &img, err)) != SA_OK) goto done;
    const cJSON *cases = NULL;
    if ((rc = sa__parity_cases(cpath, &cj, &cases, err)) != SA_OK) goto done;
    const float thresh = (float)num(cj, "prob_thresh", 0.49);
    if ((rc = sa_weights_open(epath, &expw, err)) != SA_OK) goto done;
    c.exp = expw;
    int fails = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cs, "name");
        if (!cJSON_IsString(nm) || strlen(nm->valuestring) > 100) {
            rc = sa_error_set(err, SA_ERR_PARSE, "%s: a case without a name", cpath);
            goto done;
        }
        sa_sc_params cp;
        if ((rc = case_params(cs, &base, thresh, &cp, nm->valuestring, err)) != SA_OK) goto done;
        if ((rc = sa_sc_model_set_params(m, cp, err)) != SA_OK) goto done;
        sa_sc_session_free(s);
        s = NULL;
        if ((rc = sa_sc_session_new(m, &img, &s, err)) != SA_OK) goto done;
        sa_sc_session_set_probe(s, probe_cb, &c);
        rc = run_case(s, cs, nm->valuestring, expw, &c, thresh, &fails, report, rctx, err);
        if (rc != SA_OK) {
            sa_error_prefix(err, "case %s: ", nm->valuestring);
            goto done;
        }
    }
    if (sa__probes_oom(c.got)) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "check-simpleclick: out of memory recording outputs");
        goto done;
    }
    int n = sa_weights_count(expw);
    for (int i = 0; i < n; i++) {
        const sa_tensor *t = sa_weights_at(expw, i);
        if (!compare(t, sa__probes_find(c.got, t->name), expw, thresh, report, rctx)) fails++;
    }
    if (n == 0) {
        sa__reportf(report, rctx, "FAIL expected.safetensors holds no tensor");
        fails++;
    }
    sa__reportf(report, rctx, "%s: %d tensors compared, %d checks out of tolerance", dir, n, fails);
    if (n_fail) *n_fail = fails;
done:
    if (params.model && m && saved.threads) sa_sc_model_set_params(m, saved, NULL);
    sa__probes_free(c.got);
    sa_sc_session_free(s);
    sa_image_free(&img);
    sa_weights_free(expw);
    sa_sc_model_free(own);
    cJSON_Delete(cj);
    free(wpath);
    free(ipath);
    free(cpath);
    free(epath);
    return rc;
}
