/* The agent's records and files: the episode as trajectory JSON (every step, candidate, reply, predicted and
 * true IoU, timing) and the output folder (mask PNG, COCO RLE JSON, trajectory, per-step overlays).
 *
 * Design: serialising is kept apart from the loop in agent.c so the loop stays a readable list of decisions
 * and new outputs (a server's event stream, a dataset run's records) reuse these builders. Every file goes
 * through base/files.h, so a failed write never leaves a partial file under the final name. */
#include "segagent/agent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/grammar.h"
#include "segagent/rle.h"
#include "base/files.h"
#include "base/text.h"

/* Numbers rounded to 6 decimals (float IoUs would otherwise print as 0.34000000357627869); NAN -> null. */
static void add_num(cJSON *o, const char *k, double v) {
    if (!isfinite(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, round(v * 1e6) / 1e6);
}

static cJSON *action_json(const sa_action *a, const sa_env *env, const sa_grammar *g) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const sa_image *img = sa_env_image(env);
    if (a->kind == SA_ACTION_BOX) {
        cJSON_AddStringToObject(o, "kind", "box");
        double v[4] = {a->box.x0, a->box.y0, a->box.x1, a->box.y1};
        cJSON_AddItemToObject(o, "box_xyxy", cJSON_CreateDoubleArray(v, 4));
        return o;
    }
    cJSON_AddStringToObject(o, "kind", "click");
    cJSON_AddBoolToObject(o, "positive", a->click.positive != 0);
    int yx[2] = {a->click.y, a->click.x};
    cJSON_AddItemToObject(o, "coor",
                          cJSON_CreateIntArray(yx, 2)); /* (y, x) pixels, as the released data */
    if (g && img) {
        char buf[SA_ACTION_TEXT_MAX];
        if (sa_action_format(&a->click, g, img->width, img->height, NAN, buf, sizeof buf, NULL) ==
            SA_OK)
            cJSON_AddStringToObject(o, "text", buf);
    }
    return o;
}

static const char *status_name(int st) {
    return st == SA_OK ? "ok" : sa_strerror(st);
}

static cJSON *trajectory(const sa_agent_result *r, const sa_env *env, const sa_grammar *g) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    const sa_image *img = sa_env_image(env);
    cJSON_AddStringToObject(root, "format", "segagent-agent-trajectory-1");
    cJSON_AddStringToObject(root, "description",
                            sa_env_description(env) ? sa_env_description(env) : "");
    cJSON_AddNumberToObject(root, "width", img ? img->width : 0);
    cJSON_AddNumberToObject(root, "height", img ? img->height : 0);
    if (r->request_text)
        cJSON_AddStringToObject(root, "request", r->request_text);
    else
        cJSON_AddNullToObject(root, "request");
    cJSON *st = cJSON_AddObjectToObject(root, "start");
    add_num(st, "pred_iou", r->start_pred_iou);
    add_num(st, "iou", r->start_iou);
    cJSON_AddNumberToObject(st, "area", (double)sa_mask_area(&r->start_mask));
    cJSON *steps = cJSON_AddArrayToObject(root, "steps");
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(steps, o);
        cJSON_AddNumberToObject(o, "step", s->index);
        cJSON_AddStringToObject(o, "kind", s->is_box ? "box" : "click");
        cJSON_AddStringToObject(o, "status", status_name(s->status));
        if (s->error) cJSON_AddStringToObject(o, "error", s->error);
        if (!s->is_box && r->request_text) cJSON_AddStringToObject(o, "request", r->request_text);
        if (s->ground_reply) cJSON_AddStringToObject(o, "ground_reply", s->ground_reply);
        cJSON *cands = cJSON_AddArrayToObject(o, "candidates");
        for (int j = 0; j < s->n_candidates; j++) {
            const sa_agent_candidate *c = &s->cands[j];
            cJSON *co = cJSON_CreateObject();
            cJSON_AddItemToArray(cands, co);
            if (c->text)
                cJSON_AddStringToObject(co, "reply", c->text);
            else
                cJSON_AddNullToObject(co, "reply");
            cJSON_AddStringToObject(co, "status", status_name(c->status));
            if (c->status == SA_OK)
                cJSON_AddItemToObject(co, "action", action_json(&c->action, env, g));
            add_num(co, "pred_iou_in", c->pred_iou_in);
            add_num(co, "pred_iou_out", c->pred_iou_out);
            if (c->score_text) cJSON_AddStringToObject(co, "score_reply", c->score_text);
            add_num(co, "iou_out", c->iou_out);
            add_num(co, "tool_ms", c->tool_ms);
            add_num(co, "score_ms", c->score_ms);
        }
        cJSON_AddNumberToObject(o, "chosen", s->chosen);
        if (s->committed) cJSON_AddItemToObject(o, "action", action_json(&s->action, env, g));
        add_num(o, "pred_iou_before", s->pred_iou_before);
        add_num(o, "pred_iou_after", s->pred_iou_after);
        add_num(o, "iou_before", s->iou_before);
        add_num(o, "iou_after", s->iou_after);
        if (s->committed) cJSON_AddNumberToObject(o, "area", (double)sa_mask_area(&s->mask));
        add_num(o, "policy_ms", s->policy_ms);
        add_num(o, "tool_ms", s->tool_ms);
        add_num(o, "score_ms", s->score_ms);
        add_num(o, "total_ms", s->total_ms);
    }
    cJSON *res = cJSON_AddObjectToObject(root, "result");
    if (r->best_step < 0)
        cJSON_AddStringToObject(res, "state", "start");
    else
        cJSON_AddNumberToObject(res, "state", r->steps[r->best_step].index);
    add_num(res, "pred_iou", r->best_pred_iou);
    add_num(res, "iou", r->iou);
    add_num(res, "final_iou", r->final_iou);
    cJSON_AddNumberToObject(res, "area", (double)sa_mask_area(&r->mask));
    cJSON_AddNumberToObject(res, "clicks", r->n_clicks);
    cJSON_AddStringToObject(res, "stop", r->stop);
    cJSON_AddStringToObject(res, "status", status_name(r->status));
    cJSON_AddStringToObject(res, "error", r->error);
    add_num(res, "total_ms", r->total_ms);
    add_num(res, "policy_ms", r->policy_ms);
    add_num(res, "tool_ms", r->tool_ms);
    add_num(res, "score_ms", r->score_ms);
    return root;
}

char *sa_agent_trajectory_json(const sa_agent_result *r, const sa_env *env,
                               const struct sa_grammar *grammar, sa_error *err) {
    if (!r || !env) {
        sa_error_set(err, SA_ERR_INVALID, "trajectory: NULL argument");
        return NULL;
    }
    cJSON *root = trajectory(r, env, grammar);
    char *s = root ? sa__json_print(root, 1) : NULL;
    cJSON_Delete(root);
    if (!s) sa_error_set(err, SA_ERR_NOMEM, "trajectory: out of memory");
    return s;
}

static int write_overlay(const char *path, const sa_env *env, const sa_mask *m,
                         sa_overlay_style style, sa_error *err) {
    sa_image ov = {0};
    const sa_image *img = sa_env_image(env);
    int rc = sa_image_copy(img, &ov, err);
    if (!rc) rc = sa_image_overlay(img, m->data, style, &ov, err);
    if (!rc) rc = sa_image_save_png(path, &ov, err);
    sa_image_free(&ov);
    return rc;
}

int sa_agent_write_outputs(const sa_agent_result *r, const sa_env *env, const char *dir,
                           const struct sa_grammar *grammar, sa_overlay_style style,
                           sa_error *err) {
    if (!r || !env || !dir || !sa_env_image(env))
        return sa_error_set(err, SA_ERR_INVALID, "agent outputs: NULL argument");
    char path[4096];
    if (strlen(dir) > sizeof path - 32)
        return sa_error_set(err, SA_ERR_RANGE, "agent outputs: folder name too long (%zu bytes)",
                            strlen(dir));
    int rc = SA_OK;
    if (r->mask.data) {
        snprintf(path, sizeof path, "%s/mask.png", dir);
        if ((rc = sa_mask_save_png(path, &r->mask, err))) return rc;
        sa_rle rle = {0};
        if ((rc = sa_rle_encode(&r->mask, &rle, err))) return rc;
        cJSON *seg = sa_rle_to_json(&rle, err);
        double bb[4];
        sa_rle_bbox(&rle, bb);
        uint64_t area = sa_rle_area(&rle);
        sa_rle_free(&rle);
        if (!seg) return err ? err->code : SA_ERR_NOMEM;
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cJSON_Delete(seg);
            return sa_error_set(err, SA_ERR_NOMEM, "mask.json: out of memory");
        }
        cJSON_AddStringToObject(o, "description",
                                sa_env_description(env) ? sa_env_description(env) : "");
        cJSON_AddItemToObject(o, "segmentation", seg);
        cJSON_AddItemToObject(o, "bbox", cJSON_CreateDoubleArray(bb, 4));
        cJSON_AddNumberToObject(o, "area", (double)area);
        add_num(o, "pred_iou", r->best_pred_iou);
        add_num(o, "iou", r->iou);
        char *txt = sa__json_print(o, 1);
        cJSON_Delete(o);
        if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "mask.json: out of memory");
        snprintf(path, sizeof path, "%s/mask.json", dir);
        rc = sa_file_write_text(path, txt, err);
        free(txt);
        if (rc) return rc;
    }
    char *tj = sa_agent_trajectory_json(r, env, grammar, err);
    if (!tj) return err ? err->code : SA_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/trajectory.json", dir);
    rc = sa_file_write_text(path, tj, err);
    free(tj);
    if (rc) return rc;
    if (r->start_mask.data) {
        snprintf(path, sizeof path, "%s/step_00.png", dir);
        if ((rc = write_overlay(path, env, &r->start_mask, style, err))) return rc;
    }
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (!s->committed) continue;
        if (s->is_box)
            snprintf(path, sizeof path, "%s/step_00_box.png", dir);
        else
            snprintf(path, sizeof path, "%s/step_%02d.png", dir, s->index);
        if ((rc = write_overlay(path, env, &s->mask, style, err))) return rc;
    }
    return SA_OK;
}
