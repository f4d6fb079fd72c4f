/* A deterministic test tool for the agent tests: every click paints (positive) or erases (negative) a disc of
 * radius 4 in click order, on top of the initial mask or the box; the clicked pixel always ends up right, so
 * the "already clicked" rule of the simulated annotator never matters and a stateless scripted server agrees
 * with the in-process annotator. Header-only. */
#ifndef SEGAGENT_TEST_AGENT_TOOLS_H
#define SEGAGENT_TEST_AGENT_TOOLS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/tool.h"

typedef struct disc_state {
    int w, h;
} disc_state;

static inline int disc_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    (void)model;
    disc_state *s = malloc(sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "disc tool: out of memory");
    s->w = img->width;
    s->h = img->height;
    *state = s;
    return SA_OK;
}

static inline int disc_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                               sa_error *err) {
    disc_state *s = state;
    int rc = sa_mask_new(&out->mask, s->w, s->h, err);
    if (rc) return rc;
    out->score = NAN;
    if (req->init_mask) memcpy(out->mask.data, req->init_mask->data, (size_t)s->w * (size_t)s->h);
    if (req->box)
        for (int y = (int)req->box->y0; y <= (int)req->box->y1; y++)
            for (int x = (int)req->box->x0; x <= (int)req->box->x1; x++)
                if (y >= 0 && y < s->h && x >= 0 && x < s->w) out->mask.data[y * s->w + x] = 1;
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        for (int y = c->y - 4; y <= c->y + 4; y++)
            for (int x = c->x - 4; x <= c->x + 4; x++)
                if (y >= 0 && y < s->h && x >= 0 && x < s->w &&
                    (y - c->y) * (y - c->y) + (x - c->x) * (x - c->x) <= 16)
                    out->mask.data[y * s->w + x] = (uint8_t)(c->positive ? 1 : 0);
    }
    return SA_OK;
}

static inline void disc_session_free(void *state) {
    free(state);
}

static const sa_tool_ops disc_tool_ops = {
    .name = "disc",
    .accepts_box = 1,
    .session_new = disc_session_new,
    .predict = disc_predict,
    .session_free = disc_session_free,
    .model_free = NULL,
};

static inline sa_tool *disc_tool_new(void) {
    sa_tool *t = NULL;
    sa_tool_new(&disc_tool_ops, NULL, &t, NULL);
    return t;
}

#endif
