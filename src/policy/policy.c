/* Policies: dispatch over sa_policy_ops, and the first policy -- the simulated annotator (docs/annotator.md),
 * which reads the ground truth from the observation. */
#include "segagent/policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/clicker.h"

struct sa_policy {
    const sa_policy_ops *ops;
    void *self;
};

int sa_policy_new(const sa_policy_ops *ops, void *self, sa_policy **out, sa_error *err) {
    if (!ops || !ops->act || !out)
        return sa_error_set(err, SA_ERR_INVALID, "sa_policy_new: incomplete policy table");
    *out = NULL;
    sa_policy *p = calloc(1, sizeof *p);
    if (!p) {
        if (ops->free) ops->free(self);
        return sa_error_set(err, SA_ERR_NOMEM, "sa_policy_new: out of memory");
    }
    p->ops = ops;
    p->self = self;
    *out = p;
    return SA_OK;
}

void sa_policy_free(sa_policy *p) {
    if (!p) return;
    if (p->ops->free) p->ops->free(p->self);
    free(p);
}

const char *sa_policy_name(const sa_policy *p) {
    return p ? p->ops->name : "";
}

int sa_policy_can_score(const sa_policy *p) {
    return p && p->ops->score != NULL;
}

int sa_policy_needs_gt(const sa_policy *p) {
    return p && p->ops->needs_gt;
}

void sa_policy_reset(sa_policy *p) {
    if (p && p->ops->reset) p->ops->reset(p->self);
}

int sa_policy_act(sa_policy *p, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                  int *n_out, sa_error *err) {
    if (!p || !obs || !out || !n_out || k < 1)
        return sa_error_set(err, SA_ERR_INVALID, "policy act: bad arguments");
    *n_out = 0;
    for (int i = 0; i < k; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].pred_iou = NAN;
    }
    int rc = p->ops->act(p->self, obs, k, out, n_out, err);
    if (*n_out > k) *n_out = k;
    return rc;
}

int sa_policy_score(sa_policy *p, const sa_policy_obs *obs, float *pred_iou, char **text,
                    sa_error *err) {
    if (text) *text = NULL;
    if (!p || !obs || !pred_iou)
        return sa_error_set(err, SA_ERR_INVALID, "policy score: bad arguments");
    if (!p->ops->score)
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "policy '%s' cannot predict IoU",
                            p->ops->name);
    return p->ops->score(p->self, obs, pred_iou, text, err);
}

void sa_policy_decisions_free(sa_policy_decision *d, int n) {
    if (!d) return;
    for (int i = 0; i < n; i++) {
        free(d[i].text);
        d[i].text = NULL;
    }
}

/* ---- the simulated annotator as a policy ---- */

static int clicker_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out,
                       int *n_out, sa_error *err) {
    (void)k;
    if (!obs->gt)
        return sa_error_set(err, SA_ERR_INVALID, "simulated annotator: needs ground truth");
    sa_clicker_click c;
    int rc =
        sa_clicker_run(self, obs->gt, obs->ignore, obs->mask, obs->clicks, obs->n_clicks, &c, err);
    if (rc != SA_OK) return rc;
    out[0].status = SA_OK;
    out[0].action = sa_action_click(c.y, c.x, c.positive);
    out[0].pred_iou = NAN;
    *n_out = 1;
    return SA_OK;
}

static void clicker_free(void *self) {
    sa_clicker_free(self);
}

static const sa_policy_ops clicker_ops = {
    .name = "simulated-annotator",
    .needs_gt = 1,
    .act = clicker_act,
    .free = clicker_free,
};

int sa_clicker_policy_new(sa_policy **out, sa_error *err) {
    if (out) *out = NULL;
    sa_clicker *ck = NULL;
    int rc = sa_clicker_new(&ck, err);
    if (rc != SA_OK) return rc;
    return sa_policy_new(&clicker_ops, ck, out, err);
}
