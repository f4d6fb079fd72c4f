/* The annotation environment: holds one episode (image, description, optional ground truth and ignore map,
 * clicks so far, optional box, the last tool result) and turns actions into new masks through the tool.
 * Preview/commit split the step so search can try several actions from the same state. */
#include "segagent/env.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/util.h"

struct sa_env {
    sa_tool *tool;
    sa_tool_session *session;
    sa_image image;
    char *description;
    sa_mask gt, ignore, init_mask;
    int has_gt, has_ignore, has_init;
    sa_mask current;        /* current mask (init mask or empty before the first step) */
    sa_tool_result result;  /* last tool result; valid when has_result */
    int has_result;
    sa_click clicks[SA_MAX_CLICKS];
    int n_clicks;
    sa_box box;
    int has_box;
    int steps;
};

int sa_env_new(sa_tool *tool, sa_env **out, sa_error *err) {
    if (!tool || !out) return sa_error_set(err, SA_ERR_INVALID, "sa_env_new: NULL argument");
    *out = NULL;
    sa_env *e = calloc(1, sizeof *e);
    if (!e) return sa_error_set(err, SA_ERR_NOMEM, "sa_env_new: out of memory");
    e->tool = tool;
    e->result.score = NAN;
    *out = e;
    return SA_OK;
}

static void clear_episode(sa_env *e) {
    sa_tool_session_free(e->session);
    e->session = NULL;
    sa_image_free(&e->image);
    free(e->description);
    e->description = NULL;
    sa_mask_free(&e->gt);
    sa_mask_free(&e->ignore);
    sa_mask_free(&e->init_mask);
    sa_mask_free(&e->current);
    sa_tool_result_free(&e->result);
    e->has_gt = e->has_ignore = e->has_init = e->has_result = e->has_box = 0;
    e->n_clicks = 0;
    e->steps = 0;
}

void sa_env_free(sa_env *env) {
    if (!env) return;
    clear_episode(env);
    free(env);
}

static int check_size(const sa_mask *m, const sa_image *img, const char *what, sa_error *err) {
    if (!m->data) return sa_error_set(err, SA_ERR_INVALID, "env reset: %s has no data", what);
    if (m->width != img->width || m->height != img->height)
        return sa_error_set(err, SA_ERR_RANGE, "env reset: %s is %dx%d but the image is %dx%d", what, m->width,
                            m->height, img->width, img->height);
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
    env->description = strdup(description ? description : "");
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
    if (init_mask) {
        if ((rc = sa_mask_copy(init_mask, &env->init_mask, err))) goto fail;
        env->has_init = 1;
        rc = sa_mask_copy(init_mask, &env->current, err);
    } else {
        rc = sa_mask_new(&env->current, img->width, img->height, err);
    }
    if (rc) goto fail;
    return SA_OK;
fail:
    clear_episode(env);
    return rc;
}

static int build_request(const sa_env *env, const sa_action *a, sa_tool_request *req, sa_click *clicks,
                         sa_box *box, sa_error *err) {
    memset(req, 0, sizeof *req);
    if (!env->session) return sa_error_set(err, SA_ERR_STATE, "env: step before reset");
    int n = env->n_clicks;
    memcpy(clicks, env->clicks, (size_t)n * sizeof *clicks);
    *box = env->box;
    int has_box = env->has_box;
    if (a->kind == SA_ACTION_CLICK) {
        if (n >= SA_MAX_CLICKS) return sa_error_set(err, SA_ERR_RANGE, "env: more than %d clicks", SA_MAX_CLICKS);
        clicks[n++] = a->click;
    } else if (a->kind == SA_ACTION_BOX) {
        if (env->steps > 0) return sa_error_set(err, SA_ERR_STATE, "env: a box is accepted only as the first action");
        if (!sa_tool_accepts_box(env->tool))
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "env: tool '%s' does not accept boxes",
                                sa_tool_name(env->tool));
        *box = a->box;
        has_box = 1;
    } else {
        return sa_error_set(err, SA_ERR_INVALID, "env: unknown action kind %d", (int)a->kind);
    }
    req->clicks = clicks;
    req->n_clicks = n;
    req->box = has_box ? box : NULL;
    req->prev = env->has_result ? &env->result : NULL;
    req->init_mask = (!env->has_result && env->has_init) ? &env->init_mask : NULL;
    return SA_OK;
}

int sa_env_preview(sa_env *env, const sa_action *a, sa_tool_result *out, sa_error *err) {
    if (!env || !a || !out) return sa_error_set(err, SA_ERR_INVALID, "env preview: NULL argument");
    sa_tool_request req;
    sa_box box;
    sa_click *clicks = malloc(SA_MAX_CLICKS * sizeof *clicks);
    if (!clicks) return sa_error_set(err, SA_ERR_NOMEM, "env preview: out of memory");
    int rc = build_request(env, a, &req, clicks, &box, err);
    if (rc == SA_OK) rc = sa_tool_session_predict(env->session, &req, out, err);
    free(clicks);
    return rc;
}

int sa_env_commit(sa_env *env, const sa_action *a, sa_tool_result *res, sa_env_step_info *info, sa_error *err) {
    if (!env || !a || !res || !res->mask.data) return sa_error_set(err, SA_ERR_INVALID, "env commit: no result");
    if (res->mask.width != env->image.width || res->mask.height != env->image.height)
        return sa_error_set(err, SA_ERR_RANGE, "env commit: result is not of the image size");
    /* the same rules preview applies: a commit must not record an action the tool was never asked about */
    if (a->kind == SA_ACTION_CLICK) {
        if (a->click.x < 0 || a->click.y < 0 || a->click.x >= env->image.width || a->click.y >= env->image.height)
            return sa_error_set(err, SA_ERR_RANGE, "env commit: click (y=%d, x=%d) is outside the %dx%d image",
                                a->click.y, a->click.x, env->image.width, env->image.height);
    } else if (a->kind == SA_ACTION_BOX) {
        if (env->steps > 0) return sa_error_set(err, SA_ERR_STATE, "env: a box is accepted only as the first action");
        if (!sa_tool_accepts_box(env->tool))
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "env: tool '%s' does not accept boxes",
                                sa_tool_name(env->tool));
    } else {
        return sa_error_set(err, SA_ERR_INVALID, "env commit: unknown action kind %d", (int)a->kind);
    }
    double prev_iou = sa_env_iou(env);
    if (a->kind == SA_ACTION_CLICK) {
        if (env->n_clicks >= SA_MAX_CLICKS) return sa_error_set(err, SA_ERR_RANGE, "env: too many clicks");
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
    memcpy(env->current.data, env->result.mask.data, (size_t)env->image.width * (size_t)env->image.height);
    env->steps++;
    if (info) {
        info->prev_iou = prev_iou;
        info->iou = sa_env_iou(env);
        info->step = env->steps;
        info->tool_ms = 0.0;
    }
    return SA_OK;
}

int sa_env_step(sa_env *env, const sa_action *a, sa_env_step_info *info, sa_error *err) {
    sa_tool_result res;
    memset(&res, 0, sizeof res);
    double t0 = sa__now_ms();
    int rc = sa_env_preview(env, a, &res, err);
    double ms = sa__now_ms() - t0;
    if (rc != SA_OK) return rc;
    rc = sa_env_commit(env, a, &res, info, err);
    sa_tool_result_free(&res);
    if (rc == SA_OK && info) info->tool_ms = ms;
    return rc;
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
    return sa_mask_iou(&env->current, &env->gt, env->has_ignore ? &env->ignore : NULL);
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
