/* SimpleClick as an interactive tool (segagent/tool.h). The predictor's state between clicks is its
 * previous probability map and ROI; the tool contract carries both in the previous result
 * (prev->prob, and prev->aux = the four ROI values), so a session holds only the image and the
 * thread pool and any request can be replayed. A refinement start mask (init_mask without prev)
 * enters as the previous map, 1 inside and 0 outside, with no ROI. No clicks: an empty mask (the
 * network needs a click). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/simpleclick.h"

static int session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    sa_sc_session *s = NULL;
    int rc = sa_sc_session_new(model, img, &s, err);
    *state = s;
    return rc;
}

static void session_free(void *state) {
    sa_sc_session_free(state);
}

static void model_free(void *model) {
    sa_sc_model_free(model);
}

static int predict(void *state, const sa_tool_request *req, sa_tool_result *out, sa_error *err);

static const sa_tool_ops sc_ops = {
    .name = "simpleclick",
    .accepts_box = 0,
    .session_new = session_new,
    .predict = predict,
    .session_free = session_free,
    .model_free = model_free,
};

static int predict(void *state, const sa_tool_request *req, sa_tool_result *out, sa_error *err) {
    sa_sc_session *s = state;
    int w = 0, h = 0;
    sa_sc_session_size(s, &w, &h);
    const size_t plane = (size_t)w * h;
    int rc = sa_mask_new(&out->mask, w, h, err);
    if (rc != SA_OK) return rc;
    out->score = NAN;
    if (req->n_clicks == 0) return SA_OK;
    sa_sc_click *ck = malloc(sizeof *ck * (size_t)req->n_clicks);
    float *init = NULL;
    out->prob = malloc(plane * sizeof(float));
    out->aux = malloc(4 * sizeof(float));
    if (!ck || !out->prob || !out->aux) {
        free(ck);
        return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick tool: out of memory");
    }
    for (int i = 0; i < req->n_clicks; i++) {
        ck[i].row = req->clicks[i].y;
        ck[i].col = req->clicks[i].x;
        ck[i].positive = req->clicks[i].positive != 0;
    }
    const float *prev = NULL;
    int roi_in[4], have_roi = 0, roi[4];
    if (req->prev && req->prev->prob) {
        if (!req->prev->mask.data) { /* the mask is what tool.c checks against the image size */
            free(ck);
            return sa_error_set(err, SA_ERR_RANGE,
                                "SimpleClick tool: previous probabilities without a mask");
        }
        prev = req->prev->prob;
        if (req->prev->aux && req->prev->n_aux == 4) {
            for (int i = 0; i < 4; i++)
                roi_in[i] = (int)req->prev->aux[i];
            have_roi = roi_in[0] >= 0 && roi_in[0] <= roi_in[1] && roi_in[1] < h &&
                       roi_in[2] >= 0 && roi_in[2] <= roi_in[3] && roi_in[3] < w;
        }
    } else if (req->init_mask && req->init_mask->data) {
        init = malloc(plane * sizeof(float));
        if (!init) {
            free(ck);
            return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick tool: out of memory");
        }
        for (size_t i = 0; i < plane; i++)
            init[i] = req->init_mask->data[i] ? 1.0f : 0.0f;
        prev = init;
    }
    rc = sa_sc_predict(s, ck, req->n_clicks, prev, have_roi ? roi_in : NULL, out->prob, roi, err);
    free(ck);
    free(init);
    if (rc != SA_OK) return rc;
    const float t = sa_sc_session_prob_thresh(s);
    for (size_t i = 0; i < plane; i++)
        out->mask.data[i] = out->prob[i] > t;
    for (int i = 0; i < 4; i++)
        out->aux[i] = (float)roi[i];
    out->n_aux = 4;
    return SA_OK;
}

int sa_sc_tool_new(sa_sc_model *m, sa_tool **out, sa_error *err) {
    if (!out) {
        sa_sc_model_free(m);
        return sa_error_set(err, SA_ERR_INVALID, "sa_sc_tool_new: out is NULL");
    }
    *out = NULL;
    if (!m) return sa_error_set(err, SA_ERR_INVALID, "sa_sc_tool_new: no model");
    return sa_tool_new(&sc_ops, m, out, err);
}
