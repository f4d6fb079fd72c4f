/* Shared parts of the fixture checkers (weights/parity.h). */
#include "weights/parity.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/text.h"

struct sa__probes {
    sa__probe_tensor *t;
    int n, max;
    int oom;
};

void sa__reportf(sa__report_fn report, void *ctx, const char *fmt, ...) {
    if (!report) return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    report(ctx, line);
}

int sa__probes_new(int max, sa__probes **out) {
    *out = NULL;
    sa__probes *p = calloc(1, sizeof *p);
    if (!p || max < 1 || !(p->t = calloc((size_t)max, sizeof *p->t))) {
        free(p);
        return SA_ERR_NOMEM;
    }
    p->max = max;
    *out = p;
    return SA_OK;
}

void sa__probes_free(sa__probes *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->t[i].data);
        free(p->t[i].ddata);
    }
    free(p->t);
    free(p);
}

int sa__probes_oom(const sa__probes *p) {
    return p ? p->oom : 1;
}

void sa__probes_put(sa__probes *p, const char *name, const float *data, const double *ddata,
                    const int64_t *shape, int ndim) {
    if (!p || p->n >= p->max || ndim > 4 || ndim < 0) return;
    sa__probe_tensor *t = &p->t[p->n];
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    t->data = data ? malloc((n ? n : 1) * sizeof(float)) : NULL;
    t->ddata = ddata ? malloc((n ? n : 1) * sizeof(double)) : NULL;
    if ((data && !t->data) || (ddata && !t->ddata)) {
        free(t->data);
        free(t->ddata);
        t->data = NULL;
        t->ddata = NULL;
        p->oom = 1;
        return;
    }
    if (data) memcpy(t->data, data, n * sizeof(float));
    if (ddata) memcpy(t->ddata, ddata, n * sizeof(double));
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->n = n;
    p->n++;
}

const sa__probe_tensor *sa__probes_find(const sa__probes *p, const char *name) {
    for (int i = p ? p->n - 1 : -1; i >= 0; i--)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

float *sa__expected_f32(const sa_weights *w, const char *name, int64_t n_want) {
    const sa_tensor *t = sa_weights_find(w, name);
    if (!t || sa_tensor_numel(t) != n_want) return NULL;
    float *v = malloc((size_t)(n_want ? n_want : 1) * sizeof(float));
    if (v && sa_tensor_to_f32(t, v, n_want, NULL) != SA_OK) {
        free(v);
        return NULL;
    }
    return v;
}

int sa__parity_shape(const sa_tensor *t, const sa__probe_tensor *g, int width, sa__report_fn report,
                     void *ctx) {
    int64_t numel = sa_tensor_numel(t);
    if (!g || !g->data) {
        sa__reportf(report, ctx, "FAIL %-*s not produced by the engine", width, t->name);
        return 0;
    }
    int same = g->ndim == t->ndim && (size_t)numel == g->n;
    for (int i = 0; same && i < t->ndim; i++)
        same = g->shape[i] == t->shape[i];
    if (!same)
        sa__reportf(report, ctx, "FAIL %-*s shape differs (%zu values produced, %lld expected)",
                    width, t->name, g->n, (long long)numel);
    return same;
}

float *sa__parity_expected(const sa_tensor *t, const sa__probe_tensor *g, const sa_weights *w,
                           int width, sa__report_fn report, void *ctx) {
    if (!sa__parity_shape(t, g, width, report, ctx)) return NULL;
    float *v = sa__expected_f32(w, t->name, sa_tensor_numel(t));
    if (!v) sa__reportf(report, ctx, "FAIL %-*s cannot read the expected values", width, t->name);
    return v;
}

int sa__parity_close(const char *name, const float *expected, const float *got, int64_t n,
                     float abs_tol, float rel_tol, int width, sa__report_fn report, void *ctx) {
    float worst = 0, mx = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(expected[i] - got[i]);
        if (!(d <= worst)) { /* also catches NaN */
            worst = isnan(d) ? INFINITY : d;
            at = i;
        }
        mx = fmaxf(mx, fabsf(expected[i]));
    }
    float tol = abs_tol + rel_tol * (1.0f + mx);
    int ok = worst <= tol;
    sa__reportf(report, ctx, "%s %-*s max |err| %.3g (tol %.3g, rel %.3g) at %lld",
                ok ? "ok  " : "FAIL", width, name, worst, tol, worst / (1.0f + mx), (long long)at);
    return ok;
}

long sa__parity_mask_diff(const float *expected, const float *got, int64_t n, const float *ref,
                          float center, float band, long *near) {
    long bad = 0, close = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((expected[i] != 0.0f) == (got[i] != 0.0f)) continue;
        if (ref && fabsf(ref[i] - center) < band)
            close++;
        else
            bad++;
    }
    if (near) *near = close;
    return bad;
}

int sa__parity_cases(const char *path, cJSON **doc, const cJSON **cases, sa_error *err) {
    *doc = NULL;
    *cases = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = sa__read_file(path, SA__MAX_JSON_BYTES, &text, &len, err);
    if (rc != SA_OK) return rc;
    const char *end = NULL;
    cJSON *d = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!d) { /* truncated or broken: say so, not that the array is missing */
        rc = sa__json_error(err, path, text, len, end);
        free(text);
        return rc;
    }
    free(text);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "cases");
    if (!cJSON_IsArray(c)) {
        cJSON_Delete(d);
        return sa_error_set(err, SA_ERR_PARSE, "%s: no \"cases\" array", path);
    }
    *doc = d;
    *cases = c;
    return SA_OK;
}
