/* Internal: what the SAM and SimpleClick fixture checkers (sam/sam_check.c, simpleclick/sc_check.c) share --
 * the tensors a run records, the expected tensors read from expected.safetensors, the comparison rules and the
 * report lines. A checker records every tensor the engine produces under the fixture's name for it, then walks
 * the expected file and compares each one by the rule its name calls for.
 *
 *   sa__probes *got;
 *   if (sa__probes_new(4096, &got)) ...;
 *   sa__probes_put(got, "case0.iou_pred", data, NULL, shape, 1);          // a copy is kept
 *   const sa__probe_tensor *g = sa__probes_find(got, t->name);           // the last one of that name
 *   if (sa__parity_shape(t, g, 44, report, ctx)) ok = sa__parity_close(t->name, exp, g->data, n, 0, 1e-4f, 44, report, ctx);
 */
#ifndef SEGAGENT_WEIGHTS_PARITY_H
#define SEGAGENT_WEIGHTS_PARITY_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "segagent/error.h"
#include "segagent/weights.h"

/* Receives one report line (no newline); the same shape as sa_sam_report_fn and sa_sc_report_fn. */
typedef void (*sa__report_fn)(void *ctx, const char *line);

/* printf into one line and hand it to report (nothing when report is NULL). */
void sa__reportf(sa__report_fn report, void *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct sa__probe_tensor {
    char name[160];
    int ndim;
    int64_t shape[4];
    float *data;   /* NULL when recorded as doubles only */
    double *ddata; /* NULL when recorded as floats only */
    size_t n;
} sa__probe_tensor;

typedef struct sa__probes sa__probes;

/* A store for at most max tensors. SA_ERR_NOMEM. */
int sa__probes_new(int max, sa__probes **out);
void sa__probes_free(sa__probes *p);
/* Keeps copies of data and/or ddata (either may be NULL) of the given shape (ndim <= 4). When the store is full,
 * ndim > 4, or memory runs out, nothing is kept and sa__probes_oom says so (full stores and deep shapes are
 * ignored silently: the comparison then reports the tensor as not produced). */
void sa__probes_put(sa__probes *p, const char *name, const float *data, const double *ddata,
                    const int64_t *shape, int ndim);
/* The last tensor recorded under name, or NULL. */
const sa__probe_tensor *sa__probes_find(const sa__probes *p, const char *name);
int sa__probes_oom(const sa__probes *p);

/* The named expected tensor as n_want floats (malloc'd), or NULL when absent, of another size or unreadable. */
float *sa__expected_f32(const sa_weights *w, const char *name, int64_t n_want);

/* 1 when g was produced with t's shape; else reports "FAIL <name> not produced by the engine" or "... shape
 * differs" (name padded to width) and returns 0. */
int sa__parity_shape(const sa_tensor *t, const sa__probe_tensor *g, int width, sa__report_fn report,
                     void *ctx);

/* The expected values of t as floats (malloc'd) when g was produced with t's shape and t can be read; else
 * reports why (as sa__parity_shape, or "cannot read the expected values") and returns NULL. */
float *sa__parity_expected(const sa_tensor *t, const sa__probe_tensor *g, const sa_weights *w,
                           int width, sa__report_fn report, void *ctx);

/* Largest |expected - got| against the tolerance abs_tol + rel_tol * (1 + max|expected|); a NaN anywhere fails.
 * Reports "ok"/"FAIL" with the error, the tolerance and where the worst one is; returns 1 when within. */
int sa__parity_close(const char *name, const float *expected, const float *got, int64_t n,
                     float abs_tol, float rel_tol, int width, sa__report_fn report, void *ctx);

/* Pixels where the 0/1 masks expected and got differ, except where ref is given and |ref[i] - center| < band
 * (a value at the threshold may round either way): those are counted in *near. */
long sa__parity_mask_diff(const float *expected, const float *got, int64_t n, const float *ref,
                          float center, float band, long *near);

/* Reads cases.json at path (bounded): *doc is the document (cJSON_Delete it), *cases its "cases" array.
 * SA_ERR_IO, SA_ERR_PARSE (not JSON: says where; no "cases" array), SA_ERR_NOMEM. */
int sa__parity_cases(const char *path, cJSON **doc, const cJSON **cases, sa_error *err);

#endif
