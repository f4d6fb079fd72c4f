/* Per-sample records (segagent/eval_records.h): a sample written as a record and read back is the same sample
 * (IoUs bit for bit, from the stored intersections and unions); damaged records are refused with a message;
 * the book refuses an item twice and a record of another set; the PRM choice (ties to the later state, the
 * start included, no prediction = the last state) and the summaries computed from records; the request
 * latency percentiles (nearest rank). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "segagent/eval_records.h"
#include "testutil.h"

/* A measured sample: n clicks with the given (inter, union) and predictions (NAN = none) for n_asked steps. */
static void make_sample(sa_eval_sample *s, const char *name, int n, const uint64_t *in,
                        const uint64_t *un, int n_asked, const double *pred) {
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->width = 10;
    s->height = 10;
    s->clicks = calloc(8, sizeof *s->clicks);
    s->iou = calloc(8, sizeof *s->iou);
    s->ms = calloc(8, sizeof *s->ms);
    s->inter = calloc(8, sizeof *s->inter);
    s->uni = calloc(8, sizeof *s->uni);
    s->pred_iou = calloc(8, sizeof *s->pred_iou);
    s->req_ms = calloc(8, sizeof *s->req_ms);
    s->replies = calloc(8, sizeof *s->replies);
    s->uni0 = 50;
    s->iou0 = 0;
    s->n = n;
    for (int k = 0; k < n; k++) {
        s->clicks[k] = (sa_click){k, 2 * k, k % 2 == 0};
        s->inter[k] = in[k];
        s->uni[k] = un[k];
        s->iou[k] = (double)in[k] / (double)un[k];
        s->ms[k] = 1.5 + k;
    }
    s->n_asked = n_asked;
    for (int k = 0; k < n_asked; k++) {
        s->pred_iou[k] = pred[k];
        s->req_ms[k] = 10.0 * (k + 1);
        char reply[64];
        snprintf(reply, sizeof reply, "Current IOU: %d\nPositive point: (1, 2)", k);
        s->replies[k] = strdup(reply);
    }
    s->mask_rle = strdup("0d1");
}

static cJSON *config(int items_a, int items_b) {
    sa_eval_set_info sets[2] = {
        {.name = "A",
         .dir = "a",
         .layout = "referring",
         .split = "val",
         .referring = 1,
         .items = items_a},
        {.name = "B", .dir = "b", .layout = "generic", .split = "", .items = items_b}};
    sa_eval_run_info ri = {.tool = "graphcut",
                           .annotator = "m",
                           .annotator_label = "m",
                           .max_clicks = 4,
                           .sets = sets,
                           .n_sets = 2};
    return sa_eval_run_config(&ri);
}

static void round_trip(void) {
    uint64_t in[3] = {10, 30, 40}, un[3] = {60, 50, 45};
    double pred[3] = {0.2, NAN, 0.9};
    sa_eval_sample s, t;
    make_sample(&s, "s1", 3, in, un, 3, pred);
    cJSON *rec = sa_eval_record_json(&s, 5, "A", "val", "the cat");
    CHECK(rec != NULL);
    CHECK(!strcmp(cJSON_GetObjectItem(rec, "key")->valuestring, "A/s1"));
    sa_error err = {0};
    CHECKF(sa_eval_record_parse(rec, 4, 1, &t, &err) == SA_OK, "%s", err.msg);
    CHECK(t.n == 3 && t.n_asked == 3 && t.uni0 == 50 && !strcmp(t.name, "s1"));
    for (int k = 0; k < 3 && t.n == 3; k++) {
        CHECK(t.iou[k] == s.iou[k] && t.inter[k] == in[k] && t.uni[k] == un[k]);
        CHECK(t.clicks[k].y == s.clicks[k].y && t.clicks[k].x == s.clicks[k].x &&
              t.clicks[k].positive == s.clicks[k].positive);
        CHECK(isnan(pred[k]) ? isnan(t.pred_iou[k]) : t.pred_iou[k] == pred[k]);
        CHECK(t.replies[k] && !strcmp(t.replies[k], s.replies[k]));
    }
    CHECK(t.mask_rle && !strcmp(t.mask_rle, "0d1"));
    /* the PRM choice: state 0 (0.2), state 2 (0.9), state 1 unknown; state 3 (the last) has none */
    CHECK(sa_eval_prm_state(&s, 3) == 2 && sa_eval_prm_state(&s, 1) == 0 &&
          sa_eval_prm_state(&s, 0) == 0);
    s.pred_iou[0] = 0.9; /* a tie: the later state */
    CHECK(sa_eval_prm_state(&s, 3) == 2);
    s.pred_iou[0] = s.pred_iou[2] = NAN; /* no prediction at all: the last state */
    CHECK(sa_eval_prm_state(&s, 3) == 3 && sa_eval_prm_state(&s, 2) == 2);
    sa_eval_sample_free(&t);
    sa_eval_sample_free(&s);
    cJSON_Delete(rec);
}

/* Each edit of a good record must be refused. */
static void damaged(void) {
    uint64_t in[2] = {10, 30}, un[2] = {60, 50};
    double pred[3] = {0.2, 0.5, 0.7};
    sa_eval_sample s;
    make_sample(&s, "s1", 2, in, un, 3, pred); /* a third step asked, without a click */
    cJSON *good = sa_eval_record_json(&s, 0, "A", "val", NULL);
    sa_eval_sample_free(&s);
    const char *edits[][2] = {
        {"steps.0.inter", "70"},         /* inter > union */
        {"steps.0.union", "-1"},         /* negative */
        {"steps.0.t", "2"},              /* steps out of order */
        {"steps.0.click", "null"},       /* a click after a step without one */
        {"steps.2.click", "\"x\""},      /* not a click */
        {"steps.1.pred_iou", "\"0.5\""}, /* not a number */
        {"start.union", "1.5"},          /* not an integer */
        {"width", "-3"},                 /* bad size */
        {"end", "\"exploded\""},         /* unknown ending */
        {"id", "7"},                     /* not a string */
        {"steps", "{}"},                 /* not an array */
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        cJSON *rec = cJSON_Duplicate(good, 1);
        char path[64];
        snprintf(path, sizeof path, "%s", edits[e][0]);
        cJSON *o = rec;
        char *tok = strtok(path, ".");
        char *last = tok;
        while ((tok = strtok(NULL, "."))) {
            o = isdigit((unsigned char)last[0]) ? cJSON_GetArrayItem(o, atoi(last))
                                                : cJSON_GetObjectItem(o, last);
            last = tok;
        }
        cJSON *v = cJSON_Parse(edits[e][1]);
        if (isdigit((unsigned char)last[0]))
            cJSON_ReplaceItemInArray(o, atoi(last), v);
        else
            cJSON_ReplaceItemInObject(o, last, v);
        sa_eval_sample t;
        sa_error err = {0};
        int rc = sa_eval_record_parse(rec, 4, 1, &t, &err);
        CHECKF(rc == SA_ERR_FORMAT && strstr(err.msg, "record 0"), "edit %s = %s: rc %d (%s)",
               edits[e][0], edits[e][1], rc, err.msg);
        if (rc == SA_OK) sa_eval_sample_free(&t);
        cJSON_Delete(rec);
    }
    /* more steps than max_clicks */
    sa_eval_sample t;
    sa_error err = {0};
    CHECK(sa_eval_record_parse(good, 2, 0, &t, &err) == SA_ERR_FORMAT);
    CHECK(sa_eval_record_parse(cJSON_GetObjectItem(good, "steps"), 4, 0, &t, &err) ==
          SA_ERR_FORMAT);
    cJSON_Delete(good);
}

static void book(void) {
    cJSON *cfg = config(2, 1);
    sa_eval_book *b = NULL;
    sa_error err = {0};
    CHECKF(sa_eval_book_new(cfg, &b, &err) == SA_OK, "%s", err.msg);
    CHECK(sa_eval_book_total(b) == 3 && sa_eval_book_set_first(b, 1) == 2);
    /* A: sample 0 ends at 40/45, PRM picks state 1 (30/50); sample 1 is skipped. B: one sample. */
    uint64_t in[2] = {30, 40}, un[2] = {50, 45};
    double pred[2] = {0.1, 0.8};
    sa_eval_sample s;
    make_sample(&s, "x", 2, in, un, 2, pred);
    cJSON *r0 = sa_eval_record_json(&s, 0, "A", "val", NULL);
    cJSON *r2 = sa_eval_record_json(&s, 2, "B", "", NULL);
    cJSON *wrong = sa_eval_record_json(&s, 1, "B", "", NULL); /* item 1 is A's */
    sa_eval_sample_free(&s);
    sa_eval_sample skipped = {.name = strdup("y"),
                              .status = SA_ERR_IO,
                              .error = strdup("gone"),
                              .end_kind = SA_EVAL_END_LOAD};
    cJSON *r1 = sa_eval_record_json(&skipped, 1, "A", "val", NULL);
    sa_eval_sample_free(&skipped);
    CHECK(sa_eval_book_add(b, r0, &err) == SA_OK);
    CHECK(sa_eval_book_add(b, r0, &err) == SA_ERR_STATE);
    CHECK(sa_eval_book_add(b, wrong, &err) == SA_ERR_FORMAT && strstr(err.msg, "not of set"));
    CHECK(sa_eval_book_add(b, r1, &err) == SA_OK && sa_eval_book_add(b, r2, &err) == SA_OK);
    CHECK(sa_eval_book_has(b, 1) && sa_eval_book_summarize(b, &err) == SA_OK);
    const sa_eval_refer_summary *rs = sa_eval_book_refer(b, 0);
    CHECK(rs->n_samples == 1 && rs->n_failed == 1 && rs->failures[SA_EVAL_END_LOAD] == 1);
    CHECKF(rs->ciou == 40.0 / 45.0 && rs->prm_ciou == 30.0 / 50.0, "ciou %g prm %g", rs->ciou,
           rs->prm_ciou);
    /* by step (max_clicks 4): plain 30/50, 40/45, 40/45, 40/45; PRM: step 1 = state 1 (0.8 > 0.1) */
    CHECK(rs->prm_ciou_by_step[0] == 30.0 / 50.0 && rs->ciou_by_step[0] == 30.0 / 50.0 &&
          rs->ciou_by_step[1] == 40.0 / 45.0 && rs->prm_ciou_by_step[3] == 30.0 / 50.0);
    /* latency: 10 and 20 ms: nearest rank p50 = 10, p90 = p99 = 20 */
    CHECK(rs->n_requests == 2 && rs->req_ms_p50 == 10 && rs->req_ms_p90 == 20 &&
          rs->req_ms_p99 == 20);
    const sa_eval_result *res = sa_eval_book_result(b, 0);
    CHECK(res->n_samples == 2 && res->n_skipped == 1 && res->summary.n_samples == 1);
    CHECK(sa_eval_book_set_ok(b, 0) && sa_eval_book_set_ok(b, 1));
    sa_eval_report rep = sa_eval_book_report(b);
    CHECK(rep.n_entries == 2 && rep.entries[0].refer && !rep.entries[1].refer);
    sa_eval_book_free(b);
    /* a config that is not one */
    cJSON *bad = cJSON_Parse("{\"tool\":\"x\",\"sets\":[]}");
    CHECK(sa_eval_book_new(bad, &b, &err) == SA_ERR_FORMAT && b == NULL);
    cJSON_Delete(bad);
    cJSON_Delete(r0);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(wrong);
    cJSON_Delete(cfg);
    char *p = sa_eval_side_path("runs/out.v2/x.json", ".ciou.svg");
    CHECK(p && !strcmp(p, "runs/out.v2/x.ciou.svg"));
    free(p);
    p = sa_eval_side_path("runs.d/out", ".svg");
    CHECK(p && !strcmp(p, "runs.d/out.svg"));
    free(p);
}

int main(void) {
    round_trip();
    damaged();
    book();
    return tu_finish("test_eval_records");
}
