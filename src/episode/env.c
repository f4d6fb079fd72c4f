/* The episode engine: holds one episode (image, description, optional ground truth and ignore map, clicks so
 * far, optional box, the last tool result) and turns actions into new masks through the tool.
 *
 * Design: every step is validate -> predict -> adopt. Validation (the action rules) lives in one function and
 * runs once per action; predict builds the only tool request in the library and applies the probability
 * threshold; adopt makes the result the state and measures it against the ground truth once, keeping
 * intersection and union so sa_env_iou and the step info never recount pixels. Preview/commit split the step
 * so search can try several actions from the same state. */
#include "segagent/env.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct sa_env {
    sa_tool *tool;
    sa_env_params params;
    sa_tool_session *session;
    sa_image image;
    char *description;
    sa_mask gt, ignore, init_mask;
    int has_gt, has_ignore, has_init;
    sa_mask current;       /* current mask (init mask or empty before the first step) */
    uint64_t inter, uni;   /* of current with gt (0 without gt) */
    sa_tool_result result; /* last tool result; valid when has_result */
    int has_result;
    sa_click clicks[SA_MAX_CLICKS];
    int n_clicks;
    sa_box box;
    int has_box;
    int steps;
};

sa_env_params sa_env_default_params(void) {
    sa_env_params p;
    memset(&p, 0, sizeof p);
    p.prob_threshold = NAN;
    return p;
}

int sa_env_new(sa_tool *tool, sa_env_params params, sa_env **out, sa_error *err) {
    if (!tool || !out) return sa_error_set(err, SA_ERR_INVALID, "sa_env_new: NULL argument");
    *out = NULL;
    if (!isnan(params.prob_threshold) &&
        !(params.prob_threshold >= 0.0f && params.prob_threshold < 1.0f))
        return sa_error_set(err, SA_ERR_RANGE, "env: probability threshold %g outside [0, 1)",
                            (double)params.prob_threshold);
    sa_env *e = calloc(1, sizeof *e);
    if (!e) return sa_error_set(err, SA_ERR_NOMEM, "sa_env_new: out of memory");
    e->tool = tool;
    e->params = params;
    e->result.score = NAN;
    *out = e;
    return SA_OK;
}

/* Clears what one episode adds on top of the image: clicks, box, result, state. */
static void clear_state(sa_env *e) {
    sa_tool_result_free(&e->result);
    e->result.score = NAN;
    e->has_result = e->has_box = e->has_init = 0;
    sa_mask_free(&e->init_mask);
    e->n_clicks = 0;
    e->steps = 0;
}

static void clear_episode(sa_env *e) {
    clear_state(e);
    sa_tool_session_free(e->session);
    e->session = NULL;
    sa_image_free(&e->image);
    free(e->description);
    e->description = NULL;
    sa_mask_free(&e->gt);
    sa_mask_free(&e->ignore);
    sa_mask_free(&e->current);
    e->has_gt = e->has_ignore = 0;
    e->inter = e->uni = 0;
}

void sa_env_free(sa_env *env) {
    if (!env) return;
    clear_episode(env);
    free(env);
}

static int check_size(const sa_mask *m, const sa_image *img, const char *what, sa_error *err) {
    if (!m->data) return sa_error_set(err, SA_ERR_INVALID, "env: %s has no data", what);
    if (m->width != img->width || m->height != img->height)
        return sa_error_set(err, SA_ERR_RANGE, "env: %s is %dx%d but the image is %dx%d", what,
                            m->width, m->height, img->width, img->height);
    return SA_OK;
}

/* Measures the current mask once. */
static void measure(sa_env *e) {
    e->inter = e->uni = 0;
    if (e->has_gt)
        sa_mask_inter_union(&e->current, &e->gt, e->has_ignore ? &e->ignore : NULL, &e->inter,
                            &e->uni);
}

static double iou_of(uint64_t inter, uint64_t uni) {
    return uni == 0 ? 1.0 : (double)inter / (double)uni;
}

/* Sets the state to init_mask (copied) or empty; the current mask buffer exists already. */
static int set_start(sa_env *e, const sa_mask *init_mask, sa_error *err) {
    size_t n = (size_t)e->image.width * (size_t)e->image.height;
    if (init_mask) {
        int rc = sa_mask_copy(init_mask, &e->init_mask, err);
        if (rc != SA_OK) return rc;
        e->has_init = 1;
        memcpy(e->current.data, init_mask->data, n);
    } else {
        memset(e->current.data, 0, n);
    }
    measure(e);
    return SA_OK;
}

int sa_env_reset(sa_env *env, const sa_image *img, const char *description, const sa_mask *gt,
                 const sa_mask *ignore, const sa_mask *init_mask, sa_error *err) {
    if (!env || !img || !img->data) return sa_error_set(err, SA_ERR_INVALID, "env reset: no image");
    int rc;
    if (gt && (rc = check_size(gt, img, "ground truth", err))) return rc;
    if (ignore && ignore->data && (rc = check_size(ignore, img, "ignore map", err))) return rc;
    if (init_mask && (rc = check_size(init_mask, img, "initial mask", err))) return rc;
    clear_episode(env);
    rc = sa_tool_session_new(env->tool, img, &env->session, err);
    if (rc) goto fail;
    if ((rc = sa_image_copy(img, &env->image, err))) goto fail;
    env->description = sa__strdup(description ? description : "");
    if (!env->description) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "env reset: out of memory");
        goto fail;
    }
    if (gt) {
        if ((rc = sa_mask_copy(gt, &env->gt, err))) goto fail;
        env->has_gt = 1;
    }
    if (ignore && ignore->data) {
        if ((rc = sa_mask_copy(ignore, &env->ignore, err))) goto fail;
        env->has_ignore = 1;
    }
    if ((rc = sa_mask_new(&env->current, img->width, img->height, err))) goto fail;
    if ((rc = set_start(env, init_mask, err))) goto fail;
    return SA_OK;
fail:
    clear_episode(env);
    return rc;
}

int sa_env_restart(sa_env *env, const sa_mask *init_mask, sa_error *err) {
    if (!env) return sa_error_set(err, SA_ERR_INVALID, "env restart: NULL env");
    if (!env->session)
        return sa_error_set(err, SA_ERR_STATE, "env restart: no episode to restart (reset first)");
    int rc;
    if (init_mask && (rc = check_size(init_mask, &env->image, "initial mask", err))) return rc;
    clear_state(env);
    if ((rc = set_start(env, init_mask, err))) {
        clear_state(env);
        set_start(env, NULL, NULL);
    }
    return rc;
}

/* The action rules, in one place: a click inside the image and within the click budget; a box only as the
 * first action and only for tools that take boxes. */
static int validate(const sa_env *env, const sa_action *a, sa_error *err) {
    if (!env->session) return sa_error_set(err, SA_ERR_STATE, "env: step before reset");
    if (a->kind == SA_ACTION_CLICK) {
        if (a->click.x < 0 || a->click.y < 0 || a->click.x >= env->image.width ||
            a->click.y >= env->image.height)
            return sa_error_set(err, SA_ERR_RANGE,
                                "env: click (y=%d, x=%d) is outside the %dx%d image", a->click.y,
                                a->click.x, env->image.width, env->image.height);
        if (env->n_clicks >= SA_MAX_CLICKS)
            return sa_error_set(err, SA_ERR_RANGE, "env: more than %d clicks", SA_MAX_CLICKS);
        return SA_OK;
    }
    if (a->kind == SA_ACTION_BOX) {
        if (env->steps > 0)
            return sa_error_set(err, SA_ERR_STATE,
                                "env: a box is accepted only as the first action");
        if (!sa_tool_accepts_box(env->tool))
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "env: tool '%s' does not accept boxes",
                                sa_tool_name(env->tool));
        return SA_OK;
    }
    return sa_error_set(err, SA_ERR_INVALID, "env: unknown action kind %d", (int)a->kind);
}

/* The tool's mask as the episode sees it: prob > threshold when a threshold is set and the tool has a
 * probability map. The result's own mask is overwritten so that feeding it back as `prev` shows the tool the
 * same state. */
static void settle(const sa_env *env, sa_tool_result *res) {
    float thr = env->params.prob_threshold;
    if (isnan(thr) || !res->prob) return;
    size_t n = (size_t)res->mask.width * (size_t)res->mask.height;
    for (size_t i = 0; i < n; i++)
        res->mask.data[i] = res->prob[i] > thr ? 1 : 0;
}

/* The library's one tool request: the prompts given, a previous result and an initial mask (either may be
 * NULL), thresholded like every step. */
static int call_tool(sa_env *env, const sa_click *clicks, int n_clicks, const sa_box *box,
                     const sa_tool_result *prev, const sa_mask *init_mask, sa_tool_result *out,
                     sa_error *err) {
    sa_tool_request req;
    memset(&req, 0, sizeof req);
    req.clicks = clicks;
    req.n_clicks = n_clicks;
    req.box = box;
    req.prev = prev;
    req.init_mask = init_mask;
    int rc = sa_tool_session_predict(env->session, &req, out, err);
    if (rc == SA_OK) settle(env, out);
    return rc;
}

/* Predicts the result of a validated action from the current state. */
static int predict(sa_env *env, const sa_action *a, sa_tool_result *out, sa_error *err) {
    int n = env->n_clicks;
    const sa_tool_result *prev = env->has_result ? &env->result : NULL;
    const sa_mask *init = (!env->has_result && env->has_init) ? &env->init_mask : NULL;
    if (a->kind == SA_ACTION_CLICK) {
        /* the new click goes after the recorded ones (the array has room: validate checked the budget) */
        env->clicks[n] = a->click;
        return call_tool(env, env->clicks, n + 1, env->has_box ? &env->box : NULL, prev, init, out,
                         err);
    }
    return call_tool(env, env->clicks, n, &a->box, prev, init, out, err);
}

/* Makes a validated action and its result the state. Takes ownership of *res (left zeroed). */
static void adopt(sa_env *env, const sa_action *a, sa_tool_result *res, sa_env_step_info *info) {
    double prev_iou = sa_env_iou(env);
    if (a->kind == SA_ACTION_CLICK) {
        env->clicks[env->n_clicks++] = a->click;
    } else {
        env->box = a->box;
        env->has_box = 1;
    }
    sa_tool_result_free(&env->result);
    env->result = *res;
    memset(res, 0, sizeof *res);
    res->score = NAN;
    env->has_result = 1;
    memcpy(env->current.data, env->result.mask.data,
           (size_t)env->image.width * (size_t)env->image.height);
    env->steps++;
    measure(env);
    if (info) {
        info->prev_iou = prev_iou;
        info->iou = sa_env_iou(env);
        info->inter = env->inter;
        info->uni = env->uni;
        info->step = env->steps;
        info->tool_ms = 0.0;
    }
}

int sa_env_preview(sa_env *env, const sa_action *a, sa_tool_result *out, sa_error *err) {
    if (!env || !a || !out) return sa_error_set(err, SA_ERR_INVALID, "env preview: NULL argument");
    int rc = validate(env, a, err);
    return rc == SA_OK ? predict(env, a, out, err) : rc;
}

int sa_env_predict_prompts(sa_env *env, const sa_click *clicks, int n_clicks, const sa_box *box,
                           sa_mask *out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "env predict: bad arguments");
    sa_tool_result res;
    memset(&res, 0, sizeof res);
    int rc = sa_env_predict_request(env, clicks, n_clicks, box, NULL, &res, err);
    if (rc == SA_OK) {
        *out = res.mask;
        memset(&res.mask, 0, sizeof res.mask);
    }
    sa_tool_result_free(&res);
    return rc;
}

int sa_env_predict_request(sa_env *env, const sa_click *clicks, int n_clicks, const sa_box *box,
                           const sa_mask *init_mask, sa_tool_result *out, sa_error *err) {
    if (!env || !out || n_clicks < 0 || n_clicks > SA_MAX_CLICKS || (n_clicks > 0 && !clicks))
        return sa_error_set(err, SA_ERR_INVALID, "env predict: bad arguments");
    if (!env->session) return sa_error_set(err, SA_ERR_STATE, "env: predict before reset");
    if (box && !sa_tool_accepts_box(env->tool))
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "env: tool '%s' does not accept boxes",
                            sa_tool_name(env->tool));
    int rc;
    if (init_mask && (rc = check_size(init_mask, &env->image, "previous mask", err))) return rc;
    return call_tool(env, clicks, n_clicks, box, NULL, init_mask, out, err);
}

int sa_env_set_description(sa_env *env, const char *description, sa_error *err) {
    if (!env) return sa_error_set(err, SA_ERR_INVALID, "env: NULL env");
    if (!env->session) return sa_error_set(err, SA_ERR_STATE, "env: set description before reset");
    char *d = sa__strdup(description ? description : "");
    if (!d) return sa_error_set(err, SA_ERR_NOMEM, "env: out of memory");
    free(env->description);
    env->description = d;
    return SA_OK;
}

int sa_env_commit(sa_env *env, const sa_action *a, sa_tool_result *res, sa_env_step_info *info,
                  sa_error *err) {
    if (!env || !a || !res || !res->mask.data)
        return sa_error_set(err, SA_ERR_INVALID, "env commit: no result");
    if (res->mask.width != env->image.width || res->mask.height != env->image.height)
        return sa_error_set(err, SA_ERR_RANGE, "env commit: result is not of the image size");
    /* a commit must not record an action the tool could not have been asked about */
    int rc = validate(env, a, err);
    if (rc != SA_OK) return rc;
    adopt(env, a, res, info);
    return SA_OK;
}

int sa_env_step(sa_env *env, const sa_action *a, sa_env_step_info *info, sa_error *err) {
    if (!env || !a) return sa_error_set(err, SA_ERR_INVALID, "env step: NULL argument");
    int rc = validate(env, a, err);
    if (rc != SA_OK) return rc;
    sa_tool_result res;
    memset(&res, 0, sizeof res);
    double t0 = sa__now_ms();
    rc = predict(env, a, &res, err);
    double ms = sa__now_ms() - t0;
    if (rc != SA_OK) return rc;
    adopt(env, a, &res, info);
    if (info) info->tool_ms = ms;
    return SA_OK;
}

const sa_mask *sa_env_mask(const sa_env *env) {
    return env && env->current.data ? &env->current : NULL;
}
const sa_tool_result *sa_env_result(const sa_env *env) {
    return env && env->has_result ? &env->result : NULL;
}
const sa_click *sa_env_clicks(const sa_env *env) {
    return env ? env->clicks : NULL;
}
int sa_env_n_clicks(const sa_env *env) {
    return env ? env->n_clicks : 0;
}
const sa_box *sa_env_box(const sa_env *env) {
    return env && env->has_box ? &env->box : NULL;
}
int sa_env_steps(const sa_env *env) {
    return env ? env->steps : 0;
}
double sa_env_iou(const sa_env *env) {
    if (!env || !env->has_gt || !env->current.data) return NAN;
    return iou_of(env->inter, env->uni);
}
void sa_env_inter_union(const sa_env *env, uint64_t *inter, uint64_t *uni) {
    int ok = env && env->has_gt && env->current.data;
    if (inter) *inter = ok ? env->inter : 0;
    if (uni) *uni = ok ? env->uni : 0;
}
const sa_image *sa_env_image(const sa_env *env) {
    return env && env->image.data ? &env->image : NULL;
}
const char *sa_env_description(const sa_env *env) {
    return env && env->description ? env->description : "";
}
const sa_mask *sa_env_gt(const sa_env *env) {
    return env && env->has_gt ? &env->gt : NULL;
}
const sa_mask *sa_env_ignore(const sa_env *env) {
    return env && env->has_ignore ? &env->ignore : NULL;
}
sa_tool *sa_env_tool(const sa_env *env) {
    return env ? env->tool : NULL;
}

sa_policy_obs sa_policy_obs_from_env(const sa_env *env) {
    sa_policy_obs o;
    memset(&o, 0, sizeof o);
    o.image = sa_env_image(env);
    o.description = sa_env_description(env);
    o.mask = sa_env_mask(env);
    o.gt = sa_env_gt(env);
    o.ignore = sa_env_ignore(env);
    o.clicks = sa_env_clicks(env);
    o.n_clicks = sa_env_n_clicks(env);
    o.step = sa_env_steps(env);
    return o;
}
