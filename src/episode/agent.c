/* The agent loop: greedy and PRM-guided search episodes over sa_env with any sa_policy, the record of every
 * step, and the output files (mask PNG, COCO RLE JSON, trajectory JSON, per-step overlays).
 *
 * Design: the loop keeps a list of states (M_0, then the state after each committed step) with their
 * predicted IoUs; predictions arrive either inside the next reply ("Current IOU" of the input mask) or from
 * scoring requests (search candidates; the last state). The returned state is picked from that list at the
 * end, so early stops, parse failures and network errors all end the same way: the best state seen so far.
 * Every step record owns its texts and its mask, so a partial record is always complete up to the failure.
 */
#include "segagent/agent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "segagent/grammar.h"
#include "segagent/rle.h"
#include "base/util.h"

sa_agent_params sa_agent_default_params(void) {
    sa_agent_params p;
    memset(&p, 0, sizeof p);
    p.steps = 7;
    p.search_k = 1;
    p.best_of = 1;
    p.first = SA_FIRST_NONE;
    p.keep_masks = 1;
    return p;
}

static void step_free(sa_agent_step *s) {
    for (int i = 0; i < s->n_candidates; i++) {
        free(s->cands[i].text);
        free(s->cands[i].score_text);
    }
    free(s->cands);
    free(s->ground_reply);
    free(s->error);
    sa_mask_free(&s->mask);
    memset(s, 0, sizeof *s);
}

void sa_agent_result_free(sa_agent_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_steps; i++)
        step_free(&r->steps[i]);
    free(r->steps);
    sa_mask_free(&r->start_mask);
    sa_mask_free(&r->mask);
    free(r->request_text);
    memset(r, 0, sizeof *r);
}

/* Appends a zeroed step; returns it or NULL. */
static sa_agent_step *push_step(sa_agent_result *r, int cap_hint) {
    sa_agent_step *ns = realloc(r->steps, (size_t)(r->n_steps + 1) * sizeof *ns);
    (void)cap_hint;
    if (!ns) return NULL;
    r->steps = ns;
    sa_agent_step *s = &r->steps[r->n_steps++];
    memset(s, 0, sizeof *s);
    s->chosen = -1;
    s->pred_iou_before = s->pred_iou_after = NAN;
    s->iou_before = s->iou_after = NAN;
    return s;
}

static void set_step_error(sa_agent_step *s, int code, const char *msg) {
    s->status = code;
    free(s->error);
    s->error = sa__strdup(msg && *msg ? msg : sa_strerror(code));
}

static void end_episode(sa_agent_result *r, const char *stop, int status, const char *msg) {
    snprintf(r->stop, sizeof r->stop, "%s", stop);
    r->status = status;
    snprintf(r->error, sizeof r->error, "%s", msg ? msg : "");
}

static double true_iou(const sa_env *env, const sa_mask *m) {
    const sa_mask *gt = sa_env_gt(env);
    return gt ? sa_mask_iou(m, gt, sa_env_ignore(env)) : NAN;
}

/* Predicted IoU of the state the step started from: the one stored on the previous state, if any. */
static float *state_pred(sa_agent_result *r, int state) {
    return state < 0 ? &r->start_pred_iou : &r->steps[state].pred_iou_after;
}

/* The committed state before state idx (-1 = the start). */
static int prev_committed(const sa_agent_result *r, int idx) {
    for (int i = idx - 1; i >= 0; i--)
        if (r->steps[i].committed) return i;
    return -1;
}

/* Index of the state we are in: -1 for the start, else the last committed step. */
static int current_state(const sa_agent_result *r) {
    for (int i = r->n_steps - 1; i >= 0; i--)
        if (r->steps[i].committed) return i;
    return -1;
}

/* Keeps the state a committed step produced, when the result will need it. */
static int keep_state(const sa_env *env, int keep, sa_agent_step *s, sa_error *err) {
    if (!keep) return SA_OK;
    return sa_mask_copy(sa_env_mask(env), &s->mask, err);
}

static int do_first_action(sa_env *env, const sa_agent_params *p, sa_agent_result *r,
                           sa_error *err) {
    sa_agent_step *s = push_step(r, 0);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "agent: out of memory");
    s->index = 0;
    s->is_box = 1;
    double t0 = sa__now_ms();
    sa_box box = p->box;
    sa_error e = {0};
    s->iou_before = sa_env_iou(env);
    if (p->first == SA_FIRST_GROUND) {
        if (!p->ground) {
            set_step_error(s, SA_ERR_INVALID,
                           "grounded first box asked for, but the policy cannot ground");
            return SA_OK;
        }
        int rc = p->ground(p->ground_ctx, sa_env_image(env), sa_env_description(env), &box,
                           &s->ground_reply, &e);
        s->policy_ms = sa__now_ms() - t0;
        if (rc) {
            set_step_error(s, rc, e.msg); /* recorded; go on without a box */
            s->total_ms = sa__now_ms() - t0;
            if (rc != SA_ERR_PARSE && rc != SA_ERR_RANGE) {
                sa_error_set(err, rc, "%s", e.msg);
                return rc;
            }
            return SA_OK;
        }
    }
    s->box = box;
    sa_action a = sa_action_box(box.x0, box.y0, box.x1, box.y1);
    s->action = a;
    sa_env_step_info info;
    int rc = sa_env_step(env, &a, &info, &e);
    s->tool_ms = info.tool_ms;
    s->total_ms = sa__now_ms() - t0;
    if (rc) {
        set_step_error(s, rc, e.msg);
        sa_error_set(err, rc, "first box: %s", e.msg);
        return rc;
    }
    s->status = SA_OK;
    s->committed = 1;
    s->iou_after = info.iou;
    s->inter = info.inter;
    s->uni = info.uni;
    if (keep_state(env, p->keep_masks || p->best_of, s, err)) return SA_ERR_NOMEM;
    return SA_OK;
}

static int same_action(const sa_action *a, const sa_action *b) {
    return a->kind == b->kind && a->click.y == b->click.y && a->click.x == b->click.x &&
           a->click.positive == b->click.positive;
}

/* One search step: preview each parsed candidate, score its mask, commit the best. */
static int search_step(sa_env *env, sa_policy *policy, sa_agent_step *s, sa_policy_obs obs,
                       sa_agent_result *r, int keep, sa_error *err) {
    int k = s->n_candidates;
    sa_tool_result *res = calloc((size_t)k, sizeof *res);
    if (!res) return sa_error_set(err, SA_ERR_NOMEM, "agent: out of memory");
    int best = -1;
    int rc = SA_OK;
    char first_err[SA_ERROR_MSG_LEN] = "";
    int first_code = SA_ERR_INVALID;
    for (int i = 0; i < k && rc == SA_OK; i++) {
        sa_agent_candidate *c = &s->cands[i];
        if (c->status != SA_OK) continue;
        int dup = -1;
        for (int j = 0; j < i; j++)
            if (s->cands[j].status == SA_OK && same_action(&s->cands[j].action, &c->action))
                dup = j;
        if (dup >= 0) { /* same action, same mask: reuse the score */
            c->pred_iou_out = s->cands[dup].pred_iou_out;
            c->iou_out = s->cands[dup].iou_out;
            continue;
        }
        sa_error e = {0};
        double t0 = sa__now_ms();
        int trc = sa_env_preview(env, &c->action, &res[i], &e);
        c->tool_ms = sa__now_ms() - t0;
        s->tool_ms += c->tool_ms;
        if (trc) {
            c->status = trc;
            free(c->score_text);
            c->score_text = sa__strdup(e.msg);
            if (!*first_err) {
                snprintf(first_err, sizeof first_err, "%s", e.msg);
                first_code = trc;
            }
            continue;
        }
        c->iou_out = true_iou(env, &res[i].mask);
        sa_policy_obs so = obs;
        so.mask = &res[i].mask;
        t0 = sa__now_ms();
        float piou = NAN;
        int src = sa_policy_score(policy, &so, &piou, &c->score_text, &e);
        c->score_ms = sa__now_ms() - t0;
        s->score_ms += c->score_ms;
        if (src == SA_OK)
            c->pred_iou_out = piou;
        else if (src != SA_ERR_PARSE && src != SA_ERR_RANGE)
            rc = sa_error_set(err, src, "%s", e.msg);
        if (best < 0 ||
            (!isnan(c->pred_iou_out) &&
             (isnan(s->cands[best].pred_iou_out) || c->pred_iou_out > s->cands[best].pred_iou_out)))
            best = i;
    }
    if (rc == SA_OK && best < 0) { /* every preview failed: a tool error */
        set_step_error(s, first_code, first_err);
        rc = sa_error_set(err, first_code, "%s", first_err);
    }
    if (rc == SA_OK && best >= 0) {
        sa_env_step_info info;
        sa_error e = {0};
        rc = sa_env_commit(env, &s->cands[best].action, &res[best], &info, &e);
        if (rc) {
            sa_error_set(err, rc, "%s", e.msg);
        } else {
            s->chosen = best;
            s->action = s->cands[best].action;
            s->status = SA_OK;
            s->committed = 1;
            s->iou_after = info.iou;
            s->inter = info.inter;
            s->uni = info.uni;
            s->pred_iou_after = s->cands[best].pred_iou_out;
            if (s->action.kind == SA_ACTION_CLICK) r->n_clicks++;
            rc = keep_state(env, keep, s, err);
        }
    }
    for (int i = 0; i < k; i++)
        sa_tool_result_free(&res[i]);
    free(res);
    return rc;
}

/* Picks the returned state. */
static int finish(sa_env *env, sa_policy *policy, const sa_agent_params *p, sa_agent_result *r,
                  int score_last, sa_error *err) {
    int last = current_state(r);
    /* the last state's prediction, if the loop did not produce one */
    if (p->best_of && score_last && isnan(*state_pred(r, last)) && sa_policy_can_score(policy)) {
        int any = !isnan(r->start_pred_iou);
        for (int i = 0; i < r->n_steps; i++)
            any |= !isnan(r->steps[i].pred_iou_after) | !isnan(r->steps[i].pred_iou_before);
        if (any) {
            sa_policy_obs obs = sa_policy_obs_from_env(env);
            if (!sa_policy_needs_gt(policy)) obs.gt = NULL;
            float piou = NAN;
            char *text = NULL;
            double t0 = sa__now_ms();
            sa_error e = {0};
            int rc = sa_policy_score(policy, &obs, &piou, &text, &e);
            double ms = sa__now_ms() - t0;
            r->score_ms += ms;
            if (last >= 0) r->steps[last].score_ms += ms;
            if (rc == SA_OK) *state_pred(r, last) = piou;
            free(text);
            if (rc && rc != SA_ERR_PARSE && rc != SA_ERR_RANGE && r->status == SA_OK) {
                end_episode(r, "policy error", rc, e.msg);
                sa_error_set(err, rc, "%s", e.msg);
            }
        }
    }
    int best = last;
    float best_pred = *state_pred(r, last);
    if (p->best_of) {
        for (int st = -1; st < r->n_steps; st++) {
            if (st >= 0 && !r->steps[st].committed) continue;
            float v = *state_pred(r, st);
            if (isnan(v)) continue;
            if (isnan(best_pred) || v >= best_pred) {
                if (!isnan(best_pred) && v == best_pred && st < best) continue;
                best = st;
                best_pred = v;
            }
        }
    }
    r->best_step = best;
    r->best_pred_iou = best_pred;
    /* the last state is the env's own; earlier ones were kept by keep_state (best_of implies keep_masks) */
    const sa_mask *m = best == last ? sa_env_mask(env)
                       : best < 0   ? &r->start_mask
                                    : &r->steps[best].mask;
    sa_mask_free(&r->mask);
    int rc = sa_mask_copy(m, &r->mask, err);
    r->iou = best < 0 ? r->start_iou : r->steps[best].iou_after;
    r->final_iou = sa_env_iou(env);
    return rc;
}

/* The per-step endings that follow a commit: the caller's hook, no gain, target reached. Returns 1 to end. */
static int after_commit(sa_env *env, const sa_agent_params *p, sa_agent_step *s,
                        sa_agent_result *r) {
    if (p->stop_without_gain && !isnan(s->iou_after) && !(s->iou_after > s->iou_before)) {
        end_episode(r, "no gain", SA_OK, "");
        return 1;
    }
    if (p->on_step && p->on_step(p->on_step_ctx, env, s)) {
        end_episode(r, "stopped", SA_OK, "");
        return 1;
    }
    if (p->stop_iou > 0 && !isnan(s->iou_after) && s->iou_after >= p->stop_iou) {
        end_episode(r, "target", SA_OK, "");
        return 1;
    }
    return 0;
}

/* How a step of the loop ended. */
enum { STEP_ON, STEP_END, STEP_END_UNSCORED, STEP_FAIL };

static int check_run(sa_env *env, sa_policy *policy, const sa_agent_params *p, sa_agent_result *out,
                     sa_error *err) {
    if (!env || !policy || !sa_env_image(env)) {
        end_episode(out, "invalid", SA_ERR_INVALID, "agent: env not reset or no policy");
        return sa_error_set(err, SA_ERR_INVALID, "agent: env not reset or no policy");
    }
    if (p->steps < 0 || p->steps > SA_MAX_CLICKS || p->search_k < 1 || p->search_k > 64) {
        end_episode(out, "invalid", SA_ERR_INVALID,
                    "agent: steps must be 0..1024 and search K 1..64");
        return sa_error_set(err, SA_ERR_INVALID,
                            "agent: steps must be 0..%d and search K 1..64 (got %d, %d)",
                            SA_MAX_CLICKS, p->steps, p->search_k);
    }
    if (p->search_k > 1 && !sa_policy_can_score(policy)) {
        end_episode(out, "invalid", SA_ERR_UNSUPPORTED, "search needs a policy that predicts IoU");
        return sa_error_set(
            err, SA_ERR_UNSUPPORTED,
            "agent: search (K = %d) needs a policy that predicts IoU; policy '%s' cannot",
            p->search_k, sa_policy_name(policy));
    }
    return SA_OK;
}

/* Asks the policy for K actions and records them as the step's candidates; the reply's estimate of the state it
 * saw is kept unless that state already has one (from scoring). */
static int ask_policy(sa_env *env, sa_policy *policy, const sa_agent_params *p, sa_agent_step *s,
                      int prev_state, sa_policy_decision *dec, sa_agent_result *out, int *rc,
                      sa_error *err) {
    double t0 = sa__now_ms();
    sa_policy_obs obs = sa_policy_obs_from_env(env);
    if (!sa_policy_needs_gt(policy)) obs.gt = NULL;
    int n = 0;
    sa_error e = {0};
    int arc = sa_policy_act(policy, &obs, p->search_k, dec, &n, &e);
    s->policy_ms = sa__now_ms() - t0;
    out->policy_ms += s->policy_ms;
    if (arc != SA_OK) {
        set_step_error(s, arc, e.msg);
        sa_policy_decisions_free(dec, n);
        if (arc == SA_ERR_DONE) {
            end_episode(out, "done", SA_OK, "");
            return STEP_END;
        }
        end_episode(out, "policy error", arc, e.msg);
        *rc = sa_error_set(err, arc, "step %d: %s", s->index, e.msg);
        return STEP_FAIL;
    }
    s->cands = calloc((size_t)(n > 0 ? n : 1), sizeof *s->cands);
    if (!s->cands) {
        sa_policy_decisions_free(dec, n);
        *rc = sa_error_set(err, SA_ERR_NOMEM, "agent: out of memory");
        end_episode(out, "policy error", *rc, "out of memory");
        return STEP_FAIL;
    }
    s->n_candidates = n;
    for (int i = 0; i < n; i++) {
        sa_agent_candidate *c = &s->cands[i];
        c->status = dec[i].status;
        c->action = dec[i].action;
        c->text = dec[i].text;
        dec[i].text = NULL;
        c->pred_iou_in = dec[i].pred_iou;
        c->pred_iou_out = NAN;
        c->iou_out = NAN;
    }
    sa_policy_decisions_free(dec, n);
    float pin = NAN;
    for (int i = 0; i < n && isnan(pin); i++)
        pin = s->cands[i].pred_iou_in;
    if (isnan(s->pred_iou_before) && !isnan(pin)) {
        s->pred_iou_before = pin;
        *state_pred(out, prev_state) = pin;
    }
    return STEP_ON;
}

/* Greedy early stop, before spending a tool call: the state we are in is predicted no better than the state
 * before it. Then: a reply with no usable action ends the episode with the last good mask. */
static int check_candidates(const sa_agent_params *p, sa_agent_step *s, int prev_state,
                            sa_agent_result *out) {
    if (p->early_stop && p->search_k == 1 && prev_state != -1) {
        float newer = *state_pred(out, prev_state);
        float older = *state_pred(out, prev_committed(out, prev_state));
        if (!isnan(newer) && !isnan(older) && !(newer > older)) {
            char msg[128];
            snprintf(msg, sizeof msg, "early stop: predicted IoU %.2f is not above %.2f", newer,
                     older);
            set_step_error(s, SA_ERR_DONE, msg);
            end_episode(out, "early stop", SA_OK, "");
            return STEP_END_UNSCORED;
        }
    }
    int n = s->n_candidates, any_ok = 0;
    for (int i = 0; i < n; i++)
        any_ok |= s->cands[i].status == SA_OK;
    if (any_ok) return STEP_ON;
    const char *why = n > 0 && s->cands[0].text ? s->cands[0].text : "(no reply)";
    char msg[SA_ERROR_MSG_LEN];
    snprintf(msg, sizeof msg, "step %d: no usable action in the reply: %.300s", s->index, why);
    for (char *q = msg; *q; q++)
        if (*q == '\n' || *q == '\r') *q = ' ';
    set_step_error(s, n > 0 ? s->cands[0].status : SA_ERR_PARSE, msg);
    end_episode(out, "unparseable reply", SA_OK, msg);
    return STEP_END;
}

/* K = 1: applies the first usable candidate with the tool. */
static int greedy_step(sa_env *env, const sa_agent_params *p, sa_agent_step *s,
                       sa_agent_result *out, sa_error *err) {
    int ci = 0;
    while (s->cands[ci].status != SA_OK)
        ci++;
    sa_agent_candidate *c = &s->cands[ci];
    sa_env_step_info info;
    sa_error e = {0};
    int src = sa_env_step(env, &c->action, &info, &e);
    c->tool_ms = info.tool_ms;
    s->tool_ms = src ? 0 : info.tool_ms;
    if (src) {
        c->status = src;
        set_step_error(s, src, e.msg);
        end_episode(out, "tool error", src, e.msg);
        return sa_error_set(err, src, "step %d: %s", s->index, e.msg);
    }
    s->chosen = ci;
    s->action = c->action;
    s->status = SA_OK;
    s->committed = 1;
    s->iou_after = info.iou;
    s->inter = info.inter;
    s->uni = info.uni;
    c->iou_out = info.iou;
    if (c->action.kind == SA_ACTION_CLICK) out->n_clicks++;
    return keep_state(env, p->keep_masks || p->best_of, s, err);
}

/* K > 1: search_step, with its failure turned into the episode's ending. */
static int search(sa_env *env, sa_policy *policy, const sa_agent_params *p, sa_agent_step *s,
                  sa_agent_result *out, sa_error *err) {
    sa_policy_obs obs = sa_policy_obs_from_env(env);
    if (!sa_policy_needs_gt(policy)) obs.gt = NULL;
    sa_error e = {0};
    int rc = search_step(env, policy, s, obs, out, p->keep_masks || p->best_of, &e);
    if (rc) {
        if (!s->error) set_step_error(s, rc, e.msg);
        int policy_side = rc == SA_ERR_NETWORK || rc == SA_ERR_TIMEOUT || rc == SA_ERR_PARSE;
        end_episode(out, policy_side ? "policy error" : "tool error", rc, e.msg);
        sa_error_set(err, rc, "step %d: %s", s->index, e.msg);
    }
    return rc;
}

/* One step t: ask, check, apply (greedy or search), then the endings that follow a commit. */
static int run_step(sa_env *env, sa_policy *policy, const sa_agent_params *p, int t,
                    sa_policy_decision *dec, sa_agent_result *out, int *rc, sa_error *err) {
    int prev_state = current_state(out);
    sa_agent_step *s = push_step(out, p->steps);
    if (!s) {
        *rc = sa_error_set(err, SA_ERR_NOMEM, "agent: out of memory");
        end_episode(out, "policy error", *rc, "out of memory");
        return STEP_FAIL;
    }
    double t0 = sa__now_ms();
    s->index = t + 1;
    s->iou_before = sa_env_iou(env);
    s->pred_iou_before = *state_pred(out, prev_state);
    int how = ask_policy(env, policy, p, s, prev_state, dec, out, rc, err);
    if (how == STEP_ON) how = check_candidates(p, s, prev_state, out);
    if (how != STEP_ON) {
        s->total_ms = sa__now_ms() - t0;
        return how;
    }
    *rc = p->search_k == 1 ? greedy_step(env, p, s, out, err) : search(env, policy, p, s, out, err);
    out->tool_ms += s->tool_ms;
    out->score_ms += s->score_ms;
    s->total_ms = sa__now_ms() - t0;
    if (*rc) return STEP_FAIL;
    if (after_commit(env, p, s, out)) return STEP_END_UNSCORED;
    /* search early stop: the new state is predicted no better than the one it came from */
    if (p->early_stop && p->search_k > 1 && !isnan(s->pred_iou_after) &&
        !isnan(s->pred_iou_before) && !(s->pred_iou_after > s->pred_iou_before)) {
        end_episode(out, "early stop", SA_OK, "");
        return STEP_END_UNSCORED;
    }
    return STEP_ON;
}

int sa_agent_run(sa_env *env, sa_policy *policy, sa_agent_params p, sa_agent_result *out,
                 sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "agent: NULL result");
    memset(out, 0, sizeof *out);
    out->start_pred_iou = NAN;
    out->best_pred_iou = NAN;
    out->start_iou = out->iou = out->final_iou = NAN;
    out->best_step = -1;
    snprintf(out->stop, sizeof out->stop, "steps");
    int rc = check_run(env, policy, &p, out, err);
    if (rc) return rc;
    double t_start = sa__now_ms();
    out->request_text = sa__strdup(p.request_text);
    if ((rc = sa_mask_copy(sa_env_mask(env), &out->start_mask, err))) return rc;
    out->start_iou = sa_env_iou(env);
    sa_policy_reset(policy);
    if (p.first != SA_FIRST_NONE && (rc = do_first_action(env, &p, out, err))) {
        int policy_side = rc == SA_ERR_NETWORK || rc == SA_ERR_TIMEOUT || rc == SA_ERR_PARSE;
        end_episode(out, policy_side ? "policy error" : "tool error", rc, err ? err->msg : "");
        finish(env, policy, &p, out, 0, NULL);
        out->total_ms = sa__now_ms() - t_start;
        return rc;
    }
    sa_policy_decision *dec = calloc((size_t)p.search_k, sizeof *dec);
    if (!dec) return sa_error_set(err, SA_ERR_NOMEM, "agent: out of memory");
    int how = STEP_ON;
    for (int t = 0; t < p.steps && how == STEP_ON; t++)
        how = run_step(env, policy, &p, t, dec, out, &rc, err);
    free(dec);
    /* after a policy error, no more requests: the last state stays unscored */
    int score_last = how != STEP_END_UNSCORED && out->status == SA_OK;
    int frc = finish(env, policy, &p, out, score_last, rc ? NULL : err);
    if (!rc && frc) rc = frc;
    if (!rc && out->status) rc = out->status;
    out->total_ms = sa__now_ms() - t_start;
    return rc;
}
