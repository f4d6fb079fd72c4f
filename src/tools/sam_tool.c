/* SAM as an interactive tool (segagent/tool.h): the image is encoded once per session; each prediction feeds
 * all clicks so far as points (positive -> label 1, negative -> label 0), the box if any, and the previous
 * result's low-res logits (prev->aux) as the mask prompt.
 *
 * Output choice (documented in sam.h): with params.multimask (default) a prompt that is one click and nothing
 * else (no box, no previous logits) asks for the three multimask outputs and keeps the one with the highest
 * predicted IoU, as SAM's interactive demo and the RITM-style SAM evaluations do for an ambiguous single click;
 * every later prompt uses the single-mask output. out->aux holds the chosen low-res logits, out->prob the sigmoid
 * of the full-size logits, out->score the predicted IoU.
 *
 * A refinement start mask (req->init_mask without prev) has no logits: it is turned into a low-res mask prompt of
 * +/-SAM_INIT_LOGIT (cell centres sampled nearest in the resized, padded frame; padding counts as outside). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam_internal.h"

#define SAM_INIT_LOGIT 10.0f

static int tool_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    sa_sam_image *e = NULL;
    int rc = sa_sam_encode(model, img, NULL, NULL, &e, err);
    *state = e;
    return rc;
}

static void tool_session_free(void *state) {
    sa_sam_image_free(state);
}

static void tool_model_free(void *model) {
    sa_sam_model_free(model);
}

static void mask_to_logits(const sa_sam_image *e, const sa_mask *mk, float *low) {
    const int lr = 4 * e->m->grid, S = e->m->arch.image_size;
    for (int y = 0; y < lr; y++)
        for (int x = 0; x < lr; x++) {
            /* cell centre in the padded S x S frame, then back to original pixels */
            double py = ((double)y + 0.5) * S / lr, px = ((double)x + 0.5) * S / lr;
            float v = -SAM_INIT_LOGIT;
            if (py < e->new_h && px < e->new_w) {
                int oy = (int)(py * e->height / e->new_h), ox = (int)(px * e->width / e->new_w);
                if (oy >= e->height) oy = e->height - 1;
                if (ox >= e->width) ox = e->width - 1;
                if (mk->data[(size_t)oy * mk->width + ox]) v = SAM_INIT_LOGIT;
            }
            low[(size_t)y * lr + x] = v;
        }
}

typedef struct prob_ctx {
    const float *logits;
    uint8_t *mask;
    float *prob;
} prob_ctx;

static void prob_range(void *vctx, size_t a, size_t b) {
    const prob_ctx *c = vctx;
    for (size_t i = a; i < b; i++) {
        c->mask[i] = c->logits[i] > 0.0f;
        c->prob[i] = 1.0f / (1.0f + expf(-c->logits[i]));
    }
}

static int tool_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    sa_sam_image *e = state;
    const sa_sam_model *m = e->m;
    const int lr = 4 * m->grid, w = e->width, h = e->height;
    const size_t plane = (size_t)w * h, lplane = (size_t)lr * lr;
    int rc = sa_mask_new(&out->mask, w, h, err);
    if (rc != SA_OK) return rc;
    float *pts = NULL, *low = NULL, *logits = NULL, *tmp = NULL, *init = NULL;
    int *labels = NULL;
    sa_sam_prompt p;
    memset(&p, 0, sizeof p);
    if (req->prev && req->prev->aux) {
        if (req->prev->n_aux != lplane) {
            rc = sa_error_set(err, SA_ERR_RANGE,
                              "SAM tool: previous logits hold %zu values, the model needs %dx%d",
                              req->prev->n_aux, lr, lr);
            goto done;
        }
        p.mask_input = req->prev->aux;
        p.mask_input_size = lr;
    } else if (req->init_mask && req->init_mask->data) {
        init = malloc(lplane * sizeof(float));
        if (!init) goto oom;
        mask_to_logits(e, req->init_mask, init);
        p.mask_input = init;
        p.mask_input_size = lr;
    }
    if (req->n_clicks == 0 && !req->box && !p.mask_input) { /* nothing to go on: empty mask */
        rc = SA_OK;
        goto done;
    }
    if (req->n_clicks > 0) {
        pts = malloc((size_t)req->n_clicks * 2 * sizeof(float));
        labels = malloc((size_t)req->n_clicks * sizeof(int));
        if (!pts || !labels) goto oom;
        for (int i = 0; i < req->n_clicks; i++) {
            pts[2 * i] = (float)req->clicks[i].x;
            pts[2 * i + 1] = (float)req->clicks[i].y;
            labels[i] = req->clicks[i].positive ? 1 : 0;
        }
    }
    float box[4];
    if (req->box) {
        box[0] = req->box->x0, box[1] = req->box->y0, box[2] = req->box->x1, box[3] = req->box->y1;
        p.box = box;
    }
    p.points = pts;
    p.labels = labels;
    p.n_points = req->n_clicks;
    p.multimask = m->params.multimask && req->n_clicks == 1 && !req->box && !p.mask_input;
    if ((rc = sa__sam_validate_prompt(e, &p, err)) != SA_OK) goto done;
    const int n = p.multimask ? m->arch.n_mask_tokens - 1 : 1;
    float iou[SA__MAX_MASK_TOKENS];
    low = malloc((size_t)n * lplane * sizeof(float));
    logits = malloc(plane * sizeof(float));
    tmp = malloc((size_t)e->new_w * e->new_h * sizeof(float));
    out->prob = malloc(plane * sizeof(float));
    out->aux = malloc(lplane * sizeof(float));
    if (!low || !logits || !tmp || !out->prob || !out->aux) goto oom;
    if ((rc = sa__sam_decode(e, &p, low, iou, -1, NULL, err)) != SA_OK) goto done;
    int best = 0;
    for (int k = 1; k < n; k++)
        if (iou[k] > iou[best]) best = k;
    memcpy(out->aux, low + (size_t)best * lplane, lplane * sizeof(float));
    out->n_aux = lplane;
    out->score = iou[best];
    sa__sam_postprocess(e, out->aux, logits, tmp);
    prob_ctx pc = {.logits = logits, .mask = out->mask.data, .prob = out->prob};
    sa__pool_for(e->pool, plane, 16384, prob_range, &pc);
    rc = SA_OK;
    goto done;
oom:
    rc = sa_error_set(err, SA_ERR_NOMEM, "SAM tool: out of memory");
done:
    free(pts);
    free(labels);
    free(low);
    free(logits);
    free(tmp);
    free(init);
    return rc;
}

static const sa_tool_ops sam_ops = {
    .name = "sam",
    .accepts_box = 1,
    .session_new = tool_session_new,
    .predict = tool_predict,
    .session_free = tool_session_free,
    .model_free = tool_model_free,
};

int sa_sam_tool_new(sa_sam_model *m, sa_tool **out, sa_error *err) {
    if (!out) {
        sa_sam_model_free(m);
        return sa_error_set(err, SA_ERR_INVALID, "sa_sam_tool_new: out is NULL");
    }
    *out = NULL;
    if (!m) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_tool_new: no model");
    return sa_tool_new(&sam_ops, m, out, err);
}
