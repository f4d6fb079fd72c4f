/* Exact Euclidean distance transform in linear time.
 *
 * Pass 1 (columns, done row by row so memory is walked in order): g = distance along the column to the nearest
 * unset pixel, by a downward and an upward sweep. Pass 2 (rows): the squared distance is the lower envelope of
 * parabolas (x - x')^2 + g(x')^2 (Felzenszwalb & Huttenlocher 2012), evaluated at every integer x. Envelope
 * breakpoints are computed in double; that cannot change a result: at integer positions the competing parabolas
 * take integer values, so a parabola that is strictly lowest there is lowest by at least 1, far beyond the
 * rounding error. "Outside is unset" adds the image border as zeros: the sweeps start from distance 1 and each
 * row is clipped by (x + 1)^2 and (width - x)^2.
 */
#include "segagent/edt.h"

#include <math.h>
#include <stdlib.h>

#define EDT_MAX_SIDE 40000 /* keeps 2 * side^2 inside uint32 */
#define G_INF 0xFFFFu /* "no unset pixel in this column" */

size_t sa_edt_scratch_size(int width) {
    if (width <= 0 || width > EDT_MAX_SIDE) return 0;
    size_t n = (size_t)width;
    return (n + 1) * sizeof(double) + n * sizeof(int32_t) + 2 * n * sizeof(uint32_t);
}

static int check_args(const uint8_t *mask, int width, int height, size_t stride, const void *out, sa_error *err) {
    if (!mask || !out) return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL buffer");
    if (width <= 0 || height <= 0 || width > EDT_MAX_SIDE || height > EDT_MAX_SIDE || stride < (size_t)width)
        return sa_error_set(err, SA_ERR_RANGE, "distance transform: size %dx%d (stride %zu) out of range", width,
                            height, stride);
    return SA_OK;
}

/* One row: f holds squared column distances (SA_EDT_INF = none); writes the envelope into d. */
static void envelope_row(const uint32_t *f, int n, int outside_zero, uint32_t *d, double *z, int32_t *v) {
    int k = -1;
    for (int q = 0; q < n; q++) {
        if (f[q] == SA_EDT_INF) continue;
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -HUGE_VAL;
            z[1] = HUGE_VAL;
            continue;
        }
        double fq = (double)f[q] + (double)q * q, s;
        for (;;) {
            int p = v[k];
            s = (fq - ((double)f[p] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k]) break;
            k--; /* z[0] = -inf stops this at k = 0 */
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = HUGE_VAL;
    }
    if (k < 0) {
        for (int q = 0; q < n; q++) d[q] = outside_zero ? 0 : SA_EDT_INF; /* unreachable when outside_zero */
        return;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        int64_t dx = q - v[k];
        uint32_t val = (uint32_t)(dx * dx) + f[v[k]];
        if (outside_zero) {
            uint32_t l = (uint32_t)(q + 1) * (uint32_t)(q + 1), r = (uint32_t)(n - q) * (uint32_t)(n - q);
            if (l < val) val = l;
            if (r < val) val = r;
        }
        d[q] = val;
    }
}

int sa_edt_sq_ex(const uint8_t *mask, int width, int height, size_t stride, int outside_zero, uint32_t *dist_sq,
                 void *scratch, sa_error *err) {
    int rc = check_args(mask, width, height, stride, dist_sq, err);
    if (rc != SA_OK) return rc;
    if (!scratch) return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL scratch");
    size_t w = (size_t)width;
    double *z = scratch;                   /* (w+1) envelope breakpoints */
    int32_t *v = (int32_t *)(z + w + 1);   /* (w) envelope parabola positions */
    uint32_t *f = (uint32_t *)(v + w);     /* (w) squared column distances of the current row */
    uint32_t *carry = f + w;               /* (w) column distances of the row below */
    const uint32_t edge = outside_zero ? 1 : G_INF; /* distance of the first row inside from the border */
    /* Column distances, downward sweep: g = distance to the nearest unset pixel at or above. */
    for (int y = 0; y < height; y++) {
        const uint8_t *m = mask + (size_t)y * stride;
        uint32_t *g = dist_sq + (size_t)y * w;
        const uint32_t *up = g - w;
        for (size_t x = 0; x < w; x++) {
            uint32_t above = y ? (up[x] >= G_INF ? G_INF : up[x] + 1) : edge;
            g[x] = m[x] ? above : 0;
        }
    }
    /* Upward sweep finishes a row's column distances; its envelope is then computed right away. */
    for (int y = height - 1; y >= 0; y--) {
        uint32_t *g = dist_sq + (size_t)y * w;
        int any = 0;
        for (size_t x = 0; x < w; x++) {
            uint32_t below = y < height - 1 ? (carry[x] >= G_INF ? G_INF : carry[x] + 1) : edge;
            uint32_t gx = g[x] < below ? g[x] : below;
            carry[x] = gx;
            f[x] = gx >= G_INF ? SA_EDT_INF : gx * gx;
            any |= gx != 0;
        }
        if (any) envelope_row(f, width, outside_zero, g, z, v);
        else
            for (size_t x = 0; x < w; x++) g[x] = 0;
    }
    return SA_OK;
}

int sa_edt_sq(const uint8_t *mask, int width, int height, size_t stride, int outside_zero, uint32_t *dist_sq,
              sa_error *err) {
    int rc = check_args(mask, width, height, stride, dist_sq, err);
    if (rc != SA_OK) return rc;
    void *scratch = malloc(sa_edt_scratch_size(width));
    if (!scratch) return sa_error_set(err, SA_ERR_NOMEM, "distance transform %dx%d: out of memory", width, height);
    rc = sa_edt_sq_ex(mask, width, height, stride, outside_zero, dist_sq, scratch, err);
    free(scratch);
    return rc;
}

int sa_edt(const sa_mask *m, int outside_zero, float *dist, sa_error *err) {
    if (!m || !m->data || !dist) return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL mask or output");
    size_t n = (size_t)m->width * (size_t)m->height;
    if (m->width <= 0 || m->height <= 0)
        return sa_error_set(err, SA_ERR_RANGE, "distance transform: size %dx%d out of range", m->width, m->height);
    
    uint32_t *d2 = malloc(n * sizeof *d2);
    if (!d2) return sa_error_set(err, SA_ERR_NOMEM, "distance transform: out of memory");
    int rc = sa_edt_sq(m->data, m->width, m->height, (size_t)m->width, outside_zero, d2, err);
    if (rc == SA_OK)
        for (size_t i = 0; i < n; i++) dist[i] = d2[i] == SA_EDT_INF ? INFINITY : sqrtf((float)d2[i]);
    free(d2);
    return rc;
}
