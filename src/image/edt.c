/* Exact Euclidean distance transform in linear time.
 *
 * Pass 1 (columns, done row by row so memory is walked in order): g = distance along the column to
 * the nearest unset pixel, by a downward and an upward sweep. Pass 2 (rows): the squared distance
 * is the lower envelope of parabolas (x - x')^2 + g(x')^2 (Felzenszwalb & Huttenlocher 2012),
 * evaluated at every integer x. Envelope breakpoints are computed in double; that cannot change a
 * result: at integer positions the competing parabolas take integer values, so a parabola that is
 * strictly lowest there is lowest by at least 1, far beyond the rounding error. "Outside is unset"
 * adds the image border as zeros: the sweeps start from distance 1 and each row is clipped by (x +
 * 1)^2 and (width - x)^2.
 */
#include "segagent/edt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EDT_MAX_SIDE 40000 /* keeps 2 * side^2 inside uint32 */
#define G_INF 0x10000u     /* column distance meaning "no unset pixel in this column" */

size_t sa_edt_scratch_size(int width) {
    if (width <= 0 || width > EDT_MAX_SIDE) return 0;
    size_t n = (size_t)width;
    return (n + 1) * sizeof(double) + n * sizeof(int32_t) + 2 * n * sizeof(uint32_t);
}

static int check_args(const uint8_t *mask, int width, int height, size_t stride, const void *out,
                      sa_error *err) {
    if (!mask || !out) return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL buffer");
    if (width <= 0 || height <= 0 || width > EDT_MAX_SIDE || height > EDT_MAX_SIDE ||
        stride < (size_t)width)
        return sa_error_set(err, SA_ERR_RANGE,
                            "distance transform: size %dx%d (stride %zu) out of range", width,
                            height, stride);
    return SA_OK;
}

/* Envelope of the parabolas at positions lo..hi, evaluated at a..b (lo <= a <= b <= hi). f: squared
 * column distances of the row, SA_EDT_INF = none; n: row length (for the image border). */
static void envelope_span(const uint32_t *f, int lo, int hi, int a, int b, int n, int outside_zero,
                          uint32_t *d, double *z, int32_t *v) {
    int k = -1;
    for (int q = lo; q <= hi; q++) {
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
    k = k < 0 ? -1 : 0;
    for (int q = a; q <= b; q++) {
        uint32_t val = SA_EDT_INF;
        if (k >= 0) {
            while (z[k + 1] < q)
                k++;
            int64_t dx = q - v[k];
            val = (uint32_t)(dx * dx) + f[v[k]];
        }
        if (outside_zero) {
            uint32_t l = (uint32_t)(q + 1) * (uint32_t)(q + 1),
                     r = (uint32_t)(n - q) * (uint32_t)(n - q);
            if (l < val) val = l;
            if (r < val) val = r;
        }
        d[q] = val;
    }
}

/* One row: f holds squared column distances (0 exactly at unset pixels); writes squared distances
 * into d. A run of set pixels a..b only needs the parabolas a-1..b+1: a position beyond an unset
 * neighbour is farther than that neighbour and no lower (0), so the work is proportional to the set
 * pixels, not the row. */
static void envelope_row(const uint32_t *f, int n, int outside_zero, uint32_t *d, double *z,
                         int32_t *v) {
    int x = 0;
    while (x < n) {
        if (f[x] == 0) {
            d[x++] = 0;
            continue;
        }
        int a = x;
        while (x < n && f[x] != 0)
            x++;
        int b = x - 1;
        envelope_span(f, a > 0 ? a - 1 : a, b < n - 1 ? b + 1 : b, a, b, n, outside_zero, d, z, v);
    }
}

int sa_edt_sq_ex(const uint8_t *mask, int width, int height, size_t stride, int outside_zero,
                 uint32_t *dist_sq, void *scratch, sa_error *err) {
    int rc = check_args(mask, width, height, stride, dist_sq, err);
    if (rc != SA_OK) return rc;
    if (!scratch) return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL scratch");
    size_t w = (size_t)width;
    double *z = scratch;                 /* (w+1) envelope breakpoints */
    int32_t *v = (int32_t *)(z + w + 1); /* (w) envelope parabola positions */
    uint32_t *f = (uint32_t *)(v + w);   /* (w) squared column distances of the current row */
    uint32_t *carry = f + w;             /* (w) column distances of the row below */
    /* Column distances >= G_INF mean "no unset pixel in reach"; they may grow past G_INF (by at
     * most the height), which keeps the sweeps free of saturation tests so that they vectorise. */
    const uint32_t edge =
        outside_zero ? 1 : G_INF; /* distance of the first row inside from the border */
    /* Downward sweep: g = distance to the nearest unset pixel at or above. */
    for (int y = 0; y < height; y++) {
        const uint8_t *m = mask + (size_t)y * stride;
        uint32_t *g = dist_sq + (size_t)y * w;
        if (y == 0)
            for (size_t x = 0; x < w; x++)
                g[x] = m[x] ? edge : 0;
        else {
            const uint32_t *up = g - w;
            for (size_t x = 0; x < w; x++)
                g[x] = m[x] ? up[x] + 1 : 0;
        }
    }
    /* Upward sweep finishes a row's column distances; its envelope is then computed right away. */
    for (size_t x = 0; x < w; x++)
        carry[x] = edge - 1;
    for (int y = height - 1; y >= 0; y--) {
        uint32_t *g = dist_sq + (size_t)y * w;
        uint32_t any = 0;
        for (size_t x = 0; x < w; x++) {
            uint32_t below = carry[x] + 1;
            uint32_t gx = g[x] < below ? g[x] : below;
            carry[x] = gx;
            f[x] = gx >= G_INF ? SA_EDT_INF : gx * gx;
            any |= gx;
        }
        if (any)
            envelope_row(f, width, outside_zero, g, z, v);
        else
            memset(g, 0, w * sizeof *g);
    }
    return SA_OK;
}

int sa_edt_sq(const uint8_t *mask, int width, int height, size_t stride, int outside_zero,
              uint32_t *dist_sq, sa_error *err) {
    int rc = check_args(mask, width, height, stride, dist_sq, err);
    if (rc != SA_OK) return rc;
    void *scratch = malloc(sa_edt_scratch_size(width));
    if (!scratch)
        return sa_error_set(err, SA_ERR_NOMEM, "distance transform %dx%d: out of memory", width,
                            height);
    rc = sa_edt_sq_ex(mask, width, height, stride, outside_zero, dist_sq, scratch, err);
    free(scratch);
    return rc;
}

int sa_edt(const sa_mask *m, int outside_zero, float *dist, sa_error *err) {
    if (!m || !m->data || !dist)
        return sa_error_set(err, SA_ERR_INVALID, "distance transform: NULL mask or output");
    size_t n = (size_t)m->width * (size_t)m->height;
    if (m->width <= 0 || m->height <= 0)
        return sa_error_set(err, SA_ERR_RANGE, "distance transform: size %dx%d out of range",
                            m->width, m->height);

    uint32_t *d2 = malloc(n * sizeof *d2);
    if (!d2) return sa_error_set(err, SA_ERR_NOMEM, "distance transform: out of memory");
    int rc = sa_edt_sq(m->data, m->width, m->height, (size_t)m->width, outside_zero, d2, err);
    if (rc == SA_OK)
        for (size_t i = 0; i < n; i++)
            dist[i] = d2[i] == SA_EDT_INF ? INFINITY : sqrtf((float)d2[i]);
    free(d2);
    return rc;
}
