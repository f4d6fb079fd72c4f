/* Binary masks: allocation and the measures on them (area, bbox, intersection/union, IoU with an ignore map).
 * Loading and saving live in mask_io.c. */
#include "segagent/mask.h"

#include <stdlib.h>
#include <string.h>

int sa_mask_new(sa_mask *m, int width, int height, sa_error *err) {
    if (!m) return sa_error_set(err, SA_ERR_INVALID, "sa_mask_new: NULL mask");
    memset(m, 0, sizeof *m);
    if (width <= 0 || height <= 0 || width > 32768 || height > 32768 ||
        (size_t)width * (size_t)height > 256u * 1024u * 1024u)
        return sa_error_set(err, SA_ERR_RANGE, "mask size %dx%d out of range", width, height);
    m->data = calloc((size_t)width * (size_t)height, 1);
    if (!m->data)
        return sa_error_set(err, SA_ERR_NOMEM, "mask %dx%d: out of memory", width, height);
    m->width = width;
    m->height = height;
    return SA_OK;
}

void sa_mask_free(sa_mask *m) {
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

int sa_mask_copy(const sa_mask *src, sa_mask *dst, sa_error *err) {
    if (!src || !dst || !src->data)
        return sa_error_set(err, SA_ERR_INVALID, "sa_mask_copy: empty source");
    int rc = sa_mask_new(dst, src->width, src->height, err);
    if (rc != SA_OK) return rc;
    memcpy(dst->data, src->data, (size_t)src->width * (size_t)src->height);
    return SA_OK;
}

int sa_mask_same_size(const sa_mask *a, const sa_mask *b) {
    return a && b && a->width == b->width && a->height == b->height;
}

size_t sa_mask_area(const sa_mask *m) {
    if (!m || !m->data) return 0;
    size_t n = (size_t)m->width * (size_t)m->height, a = 0;
    for (size_t i = 0; i < n; i++)
        a += m->data[i] != 0;
    return a;
}

void sa_mask_bbox(const sa_mask *m, int bbox[4]) {
    bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0;
    if (!m || !m->data) return;
    int x0 = m->width, y0 = m->height, x1 = -1, y1 = -1;
    for (int y = 0; y < m->height; y++) {
        const uint8_t *row = m->data + (size_t)y * (size_t)m->width;
        for (int x = 0; x < m->width; x++) {
            if (!row[x]) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            y1 = y;
        }
    }
    if (x1 < 0) return;
    bbox[0] = x0;
    bbox[1] = y0;
    bbox[2] = x1 - x0 + 1;
    bbox[3] = y1 - y0 + 1;
}

void sa_mask_inter_union(const sa_mask *a, const sa_mask *b, const sa_mask *ignore, uint64_t *inter,
                         uint64_t *uni) {
    uint64_t in = 0, un = 0;
    if (sa_mask_same_size(a, b) && a->data && b->data) {
        size_t n = (size_t)a->width * (size_t)a->height;
        const uint8_t *ig =
            (ignore && ignore->data && sa_mask_same_size(a, ignore)) ? ignore->data : NULL;
        for (size_t i = 0; i < n; i++) {
            if (ig && ig[i]) continue;
            int x = a->data[i] != 0, y = b->data[i] != 0;
            in += (uint64_t)(x & y);
            un += (uint64_t)(x | y);
        }
    }
    if (inter) *inter = in;
    if (uni) *uni = un;
}

double sa_mask_iou(const sa_mask *a, const sa_mask *b, const sa_mask *ignore) {
    uint64_t in, un;
    sa_mask_inter_union(a, b, ignore, &in, &un);
    return un == 0 ? 1.0 : (double)in / (double)un;
}
