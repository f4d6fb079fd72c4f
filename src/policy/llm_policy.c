/* The LLM policy: a sa_policy whose act/score are chat turns with the policy client (llm_client.c).
 *
 * Design: the observation becomes one image (the overlay of the current mask) plus the rendered prompt; act
 * asks for k samples in one turn and parses each reply with the action grammar, so one unparseable sample
 * costs only that candidate. score asks for one reply on the mask to be judged and reads its "Current IOU"
 * (the process reward of docs/decision-process.md). The policy owns its client; sa_llm_policy_new can also hand out
 * a borrowed pointer to it for grounding and for trajectory records.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy/llm_internal.h"
#include "segagent/grammar.h"
#include "segagent/llm_policy.h"

/* Renders the prompt and encodes the overlay; both malloc'd. */
static int prepare(sa_llm_client *c, const sa_prompt *prompt, const sa_policy_obs *obs, int overlay,
                   char **text, uint8_t **img, size_t *img_len, const char **mime, sa_error *err) {
    *text = NULL;
    *img = NULL;
    if (!obs->image || !obs->image->data)
        return sa_error_set(err, SA_ERR_INVALID, "policy: no image");
    *text = sa_prompt_render(prompt, obs->description, err);
    if (!*text) return err ? err->code : SA_ERR_INVALID;
    int rc = sa_llm_encode_observation(c, obs->image, overlay ? obs->mask : NULL, img, img_len,
                                       mime, err);
    if (rc) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

static int llm_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out, int *n_out,
                   sa_error *err) {
    sa_llm_client *c = self;
    char *text;
    uint8_t *img;
    size_t img_len;
    const char *mime;
    int rc = prepare(c, c->prompt, obs, 1, &text, &img, &img_len, &mime, err);
    if (rc) return rc;
    sa_llm_reply r;
    rc = sa_llm_chat(c, img, img_len, mime, sa_prompt_system(c->prompt), text, k, &r, err);
    free(text);
    free(img);
    if (rc) return rc;
    int w = obs->image->width, h = obs->image->height;
    for (int i = 0; i < r.n && i < k; i++) {
        sa_policy_decision *d = &out[i];
        d->text = r.texts[i];
        r.texts[i] = NULL;
        d->ms = r.ms / r.n;
        d->pred_iou = NAN;
        if (!d->text) {
            d->status = SA_ERR_PARSE;
            continue;
        }
        float piou = NAN;
        d->status = sa_action_parse(d->text, &c->params.grammar, w, h, &d->action, &piou, NULL);
        d->pred_iou = piou;
    }
    *n_out = r.n < k ? r.n : k;
    sa_llm_reply_free(&r);
    return SA_OK;
}

static int llm_score(void *self, const sa_policy_obs *obs, float *pred_iou, char **text_out,
                     sa_error *err) {
    sa_llm_client *c = self;
    char *text;
    uint8_t *img;
    size_t img_len;
    const char *mime;
    *pred_iou = NAN;
    int rc = prepare(c, c->prompt, obs, 1, &text, &img, &img_len, &mime, err);
    if (rc) return rc;
    sa_llm_reply r;
    /* the estimate should not be sampled: score greedily whatever temperature the actions use */
    double temp = c->params.temperature;
    c->params.temperature = 0.0;
    rc = sa_llm_chat(c, img, img_len, mime, sa_prompt_system(c->prompt), text, 1, &r, err);
    c->params.temperature = temp;
    free(text);
    free(img);
    if (rc) return rc;
    const char *reply = r.n > 0 && r.texts[0] ? r.texts[0] : "";
    rc = sa_pred_iou_parse(reply, pred_iou, err);
    if (rc) sa_error_prefix(err, "%s: ", c->url);
    if (text_out) {
        *text_out = r.n > 0 ? r.texts[0] : NULL;
        if (r.n > 0) r.texts[0] = NULL;
    }
    sa_llm_reply_free(&r);
    return rc;
}

static void llm_free(void *self) {
    sa_llm_client_free(self);
}

static const sa_policy_ops llm_ops = {
    .name = "llm",
    .act = llm_act,
    .score = llm_score,
    .reset = NULL,
    .free = llm_free,
};

int sa_llm_policy_new(sa_llm_params p, sa_policy **out, sa_llm_client **client, sa_error *err) {
    if (client) *client = NULL;
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_llm_policy_new: NULL out");
    *out = NULL;
    sa_llm_client *c = NULL;
    int rc = sa_llm_client_new(p, &c, err);
    if (rc) return rc;
    rc = sa_policy_new(&llm_ops, c, out, err); /* frees c on failure */
    if (rc) return rc;
    if (client) *client = c;
    return SA_OK;
}

int sa_llm_ground(sa_llm_client *c, const sa_image *img, const char *description, sa_box *box,
                  char **reply, sa_error *err) {
    if (reply) *reply = NULL;
    if (!c || !img || !box)
        return sa_error_set(err, SA_ERR_INVALID, "sa_llm_ground: invalid arguments");
    sa_policy_obs obs;
    memset(&obs, 0, sizeof obs);
    obs.image = img;
    obs.description = description;
    char *text;
    uint8_t *bytes;
    size_t len;
    const char *mime;
    int rc = prepare(c, c->ground_prompt, &obs, 0, &text, &bytes, &len, &mime, err);
    if (rc) return rc;
    sa_llm_reply r;
    rc = sa_llm_chat(c, bytes, len, mime, sa_prompt_system(c->ground_prompt), text, 1, &r, err);
    free(text);
    free(bytes);
    if (rc) return rc;
    const char *t = r.n > 0 && r.texts[0] ? r.texts[0] : "";
    rc = sa_box_parse(t, img->width, img->height, box, err);
    if (rc) sa_error_prefix(err, "grounding reply from %s: ", c->url);
    if (reply && r.n > 0) {
        *reply = r.texts[0];
        r.texts[0] = NULL;
    }
    sa_llm_reply_free(&r);
    return rc;
}
