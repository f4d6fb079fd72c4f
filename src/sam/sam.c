/* SAM public entry points: encoding an image (pre-processing + image encoder + dense PE, once per image) and
 * predicting masks from a prompt (prompt encoder + mask decoder + post-processing, once per click). The model
 * (sam_model.c) is immutable; a sa_sam_image owns its thread pool and decoder scratch, so two images can be
 * used from two threads at once. */
#include <stdlib.h>
#include <string.h>

#include "sam/sam_internal.h"

int sa_sam_encode(const sa_sam_model *m, const sa_image *img, sa_sam_probe_fn probe,
                  void *probe_ctx, sa_sam_image **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_encode: out is NULL");
    *out = NULL;
    if (!m || !img || !img->data || img->width <= 0 || img->height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sam_encode: no model or no image");
    if (img->channels != 3)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sam_encode: image must be RGB");
    sa_sam_image *e = calloc(1, sizeof *e);
    if (!e) return sa_error_set(err, SA_ERR_NOMEM, "sa_sam_encode: out of memory");
    e->m = m;
    e->width = img->width;
    e->height = img->height;
    const size_t n = (size_t)m->grid * m->grid * (size_t)m->arch.out_chans;
    e->embed = malloc(n * sizeof(float));
    e->dense_pe = malloc(n * sizeof(float));
    int rc = (!e->embed || !e->dense_pe)
                 ? sa_error_set(err, SA_ERR_NOMEM, "sa_sam_encode: out of memory")
                 : SA_OK;
    if (rc == SA_OK && sa__pool_new(m->params.threads, &e->pool) != SA_OK)
        rc = sa_error_set(err, SA_ERR_NOMEM, "sa_sam_encode: cannot start %d threads",
                          m->params.threads);
    if (rc == SA_OK)
        rc = sa__sam_encode(m, e->pool, img, probe, probe_ctx, e->embed, &e->new_w, &e->new_h, err);
    if (rc == SA_OK) {
        sa__sam_dense_pe(m, e->dense_pe);
        if (probe) {
            const size_t HW = (size_t)m->grid * m->grid, D = (size_t)m->arch.out_chans;
            float *t = malloc(n * sizeof(float)); /* (D, g, g) for the probe only */
            if (t) {
                for (size_t i = 0; i < HW; i++)
                    for (size_t c = 0; c < D; c++)
                        t[c * HW + i] = e->dense_pe[i * D + c];
                int64_t shape[3] = {(int64_t)D, m->grid, m->grid};
                probe(probe_ctx, "dense_pe", t, shape, 3);
                free(t);
            }
        }
    }
    if (rc != SA_OK) {
        sa_sam_image_free(e);
        return rc;
    }
    *out = e;
    return SA_OK;
}

void sa_sam_image_free(sa_sam_image *e) {
    if (!e) return;
    sa__pool_free(e->pool);
    free(e->embed);
    free(e->dense_pe);
    free(e->scratch);
    free(e->l0);
    free(e);
}

int sa_sam_predict(sa_sam_image *e, const sa_sam_prompt *p, sa_sam_output *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_predict: out is NULL");
    memset(out, 0, sizeof *out);
    if (!e || !p) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_predict: NULL argument");
    int rc = sa__sam_validate_prompt(e, p, err);
    if (rc != SA_OK) return rc;
    const int lr = 4 * e->m->grid, n = p->multimask ? e->m->arch.n_mask_tokens - 1 : 1;
    out->n_masks = n;
    out->low_res = lr;
    out->width = e->width;
    out->height = e->height;
    out->low_res_logits = malloc((size_t)n * lr * lr * sizeof(float));
    out->iou_pred = malloc((size_t)n * sizeof(float));
    out->mask_logits = malloc((size_t)n * e->width * e->height * sizeof(float));
    if (!out->low_res_logits || !out->iou_pred || !out->mask_logits) {
        sa_sam_output_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "sa_sam_predict: out of memory");
    }
    rc = sa__sam_decode(e, p, out->low_res_logits, out->iou_pred, -1, out->mask_logits, err);
    if (rc != SA_OK) sa_sam_output_free(out);
    return rc;
}

void sa_sam_output_free(sa_sam_output *out) {
    if (!out) return;
    free(out->low_res_logits);
    free(out->iou_pred);
    free(out->mask_logits);
    memset(out, 0, sizeof *out);
}

_Static_assert((int)SA_SAM_KERNELS_FAST == (int)SA__KERNELS_FAST &&
                   (int)SA_SAM_KERNELS_BLAS == (int)SA__KERNELS_BLAS &&
                   (int)SA_SAM_KERNELS_REFERENCE == (int)SA__KERNELS_REFERENCE,
               "public kernel-set values are the shared kernels' values");

void sa__linear(const sa_sam_model *m, sa__pool *pool, const sa__lin *l, const float *x, int ldx,
                int n, float *y, int ldy) {
    sa__linear_k(m->k, m->params.threads, pool, l, x, ldx, n, y, ldy);
}
