/* The interactive tool contract: a thin dispatch layer over sa_tool_ops that owns the model and the per-image
 * session, and validates every request once so each tool can trust its inputs.
 *
 * The gate is a counting semaphore (mutex + condition variable) around the two calls that do real work,
 * session_new and predict; its mutex also guards the call counters. Waiting for the gate happens before the
 * tool's own code runs, so a tool never holds its locks while queued here. */
#include "tools/tool_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sa_tool {
    const sa_tool_ops *ops;
    const sa__tool_cache_ops *cache_ops; /* NULL: no per-image cache */
    void *model;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a gate slot was freed */
    int max_parallel;  /* 0 = no limit */
    int active;        /* calls inside the gate */
    int peak;
    long sessions, predicts, gate_waits;
};

struct sa_tool_session {
    sa_tool *tool;
    sa_image image;
    void *state;
};

int sa_tool_new(const sa_tool_ops *ops, void *model, sa_tool **out, sa_error *err) {
    if (!ops || !out || !ops->session_new || !ops->predict)
        return sa_error_set(err, SA_ERR_INVALID, "sa_tool_new: incomplete tool table");
    *out = NULL;
    sa_tool *t = calloc(1, sizeof *t);
    if (!t) {
        if (ops->model_free) ops->model_free(model);
        return sa_error_set(err, SA_ERR_NOMEM, "sa_tool_new: out of memory");
    }
    t->ops = ops;
    t->model = model;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    *out = t;
    return SA_OK;
}

void sa_tool_free(sa_tool *tool) {
    if (!tool) return;
    if (tool->ops->model_free) tool->ops->model_free(tool->model);
    pthread_mutex_destroy(&tool->mu);
    pthread_cond_destroy(&tool->cv);
    free(tool);
}

int sa_tool_set_max_parallel(sa_tool *tool, int n, sa_error *err) {
    if (!tool || n < 0)
        return sa_error_set(err, SA_ERR_INVALID, "tool: max parallel calls %d (allowed >= 0)", n);
    pthread_mutex_lock(&tool->mu);
    tool->max_parallel = n;
    pthread_cond_broadcast(&tool->cv);
    pthread_mutex_unlock(&tool->mu);
    return SA_OK;
}

sa_tool_cache_params sa_tool_cache_default_params(void) {
    sa_tool_cache_params p;
    memset(&p, 0, sizeof p);
    p.max_bytes = SA_TOOL_CACHE_DEFAULT_BYTES;
    return p;
}

int sa_tool_set_cache(sa_tool *tool, sa_tool_cache_params params, sa_error *err) {
    if (!tool) return sa_error_set(err, SA_ERR_INVALID, "sa_tool_set_cache: no tool");
    if (!tool->cache_ops)
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "tool '%s' keeps no per-image cache",
                            tool->ops->name);
    return tool->cache_ops->set_cache(tool->model, &params, err);
}

void sa__tool_set_cache_ops(sa_tool *tool, const sa__tool_cache_ops *ops) {
    tool->cache_ops = ops;
}

void sa_tool_get_stats(const sa_tool *tool, sa_tool_stats *out) {
    memset(out, 0, sizeof *out);
    if (!tool) return;
    sa_tool *t = (sa_tool *)tool; /* the counters' lock; nothing else changes */
    if (t->cache_ops) t->cache_ops->stats(t->model, out);
    pthread_mutex_lock(&t->mu);
    out->sessions = t->sessions;
    out->predicts = t->predicts;
    out->gate_waits = t->gate_waits;
    out->max_parallel = t->max_parallel;
    out->peak_parallel = t->peak;
    pthread_mutex_unlock(&t->mu);
}

/* Takes a slot, waiting for one. mu held. */
static void take_slot(sa_tool *t) {
    if (t->max_parallel > 0 && t->active >= t->max_parallel) {
        t->gate_waits++;
        while (t->max_parallel > 0 && t->active >= t->max_parallel)
            pthread_cond_wait(&t->cv, &t->mu);
    }
    if (++t->active > t->peak) t->peak = t->active;
}

static void gate_enter(sa_tool *t, long *counter) {
    pthread_mutex_lock(&t->mu);
    ++*counter;
    take_slot(t);
    pthread_mutex_unlock(&t->mu);
}

static void gate_leave(sa_tool *t) {
    pthread_mutex_lock(&t->mu);
    t->active--;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void sa__tool_gate_pause(sa_tool *tool) {
    gate_leave(tool);
}

void sa__tool_gate_resume(sa_tool *tool) {
    pthread_mutex_lock(&tool->mu);
    take_slot(tool);
    pthread_mutex_unlock(&tool->mu);
}

const char *sa_tool_name(const sa_tool *tool) {
    return tool ? tool->ops->name : "";
}

int sa_tool_accepts_box(const sa_tool *tool) {
    return tool ? tool->ops->accepts_box : 0;
}

int sa_tool_session_new(sa_tool *tool, const sa_image *img, sa_tool_session **out, sa_error *err) {
    if (!tool || !img || !out || !img->data || img->width <= 0 || img->height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "tool session: no image");
    if (img->channels != 3)
        return sa_error_set(err, SA_ERR_INVALID, "tool session: image must be RGB (3 channels)");
    *out = NULL;
    sa_tool_session *s = calloc(1, sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "tool session: out of memory");
    s->tool = tool;
    int rc = sa_image_copy(img, &s->image, err);
    if (rc == SA_OK) {
        gate_enter(tool, &tool->sessions);
        rc = tool->ops->session_new(tool->model, &s->image, &s->state, err);
        gate_leave(tool);
    }
    if (rc != SA_OK) {
        sa_image_free(&s->image);
        free(s);
        return rc;
    }
    *out = s;
    return SA_OK;
}

void sa_tool_session_free(sa_tool_session *s) {
    if (!s) return;
    if (s->tool->ops->session_free) s->tool->ops->session_free(s->state);
    sa_image_free(&s->image);
    free(s);
}

static int check_request(const sa_tool_session *s, const sa_tool_request *req, sa_error *err) {
    const int w = s->image.width, h = s->image.height;
    if (req->n_clicks < 0 || req->n_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "tool request: %d clicks (allowed 0..%d)",
                            req->n_clicks, SA_MAX_CLICKS);
    if (req->n_clicks > 0 && !req->clicks)
        return sa_error_set(err, SA_ERR_INVALID, "tool request: clicks missing");
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        if (c->x < 0 || c->y < 0 || c->x >= w || c->y >= h)
            return sa_error_set(err, SA_ERR_RANGE,
                                "tool request: click %d at (y=%d, x=%d) is outside the %dx%d image",
                                i + 1, c->y, c->x, w, h);
    }
    if (req->box) {
        const sa_box *b = req->box;
        if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
            return sa_error_set(err, SA_ERR_RANGE, "tool request: box has a non-finite coordinate");
        if (b->x1 < b->x0 || b->y1 < b->y0)
            return sa_error_set(err, SA_ERR_RANGE,
                                "tool request: box (%g,%g)-(%g,%g) has x1 < x0 or y1 < y0", b->x0,
                                b->y0, b->x1, b->y1);
        if (b->x1 < 0 || b->y1 < 0 || b->x0 > w || b->y0 > h)
            return sa_error_set(err, SA_ERR_RANGE,
                                "tool request: box (%g,%g)-(%g,%g) lies outside the %dx%d image",
                                b->x0, b->y0, b->x1, b->y1, w, h);
    }
    if (req->prev && req->prev->mask.data &&
        (req->prev->mask.width != w || req->prev->mask.height != h))
        return sa_error_set(err, SA_ERR_RANGE,
                            "tool request: previous mask is %dx%d, image is %dx%d",
                            req->prev->mask.width, req->prev->mask.height, w, h);
    if (req->init_mask && req->init_mask->data &&
        (req->init_mask->width != w || req->init_mask->height != h))
        return sa_error_set(err, SA_ERR_RANGE,
                            "tool request: initial mask is %dx%d, image is %dx%d",
                            req->init_mask->width, req->init_mask->height, w, h);
    return SA_OK;
}

int sa_tool_session_predict(sa_tool_session *s, const sa_tool_request *req, sa_tool_result *out,
                            sa_error *err) {
    if (!s || !req || !out) return sa_error_set(err, SA_ERR_INVALID, "tool predict: NULL argument");
    memset(out, 0, sizeof *out);
    out->score = NAN;
    int rc = check_request(s, req, err);
    if (rc != SA_OK) return rc;
    gate_enter(s->tool, &s->tool->predicts);
    rc = s->tool->ops->predict(s->state, req, out, err);
    gate_leave(s->tool);
    if (rc != SA_OK) {
        sa_tool_result_free(out);
        return rc;
    }
    if (!out->mask.data || out->mask.width != s->image.width ||
        out->mask.height != s->image.height) {
        sa_tool_result_free(out);
        return sa_error_set(err, SA_ERR_STATE, "tool '%s' returned no mask of the image size",
                            s->tool->ops->name);
    }
    return SA_OK;
}

void sa_tool_result_free(sa_tool_result *r) {
    if (!r) return;
    sa_mask_free(&r->mask);
    free(r->prob);
    free(r->aux);
    memset(r, 0, sizeof *r);
    r->score = NAN;
}

int sa_tool_result_copy(const sa_tool_result *src, sa_tool_result *dst, sa_error *err) {
    memset(dst, 0, sizeof *dst);
    dst->score = src->score;
    int rc = sa_mask_copy(&src->mask, &dst->mask, err);
    if (rc != SA_OK) return rc;
    size_t n = (size_t)src->mask.width * (size_t)src->mask.height;
    if (src->prob) {
        dst->prob = malloc(n * sizeof(float));
        if (!dst->prob) goto oom;
        memcpy(dst->prob, src->prob, n * sizeof(float));
    }
    if (src->aux && src->n_aux) {
        dst->aux = malloc(src->n_aux * sizeof(float));
        if (!dst->aux) goto oom;
        memcpy(dst->aux, src->aux, src->n_aux * sizeof(float));
        dst->n_aux = src->n_aux;
    }
    return SA_OK;
oom:
    sa_tool_result_free(dst);
    return sa_error_set(err, SA_ERR_NOMEM, "copying tool result: out of memory");
}
