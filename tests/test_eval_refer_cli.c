/* segagent eval --policy URL over a referring set, against the loopback policy server: the CLI's
 * JSON keys (n_samples, n_failed, ciou, giou, miou_by_step, ciou_by_step) checked against an
 * independent computation: gIoU as the mean of the JSON's per-sample final IoUs, and cIoU / gIoU
 * from the same episodes run here in-process (sa_eval_run_refer with the LLM policy on the same
 * server), summed in this test. HTTP errors are failures by sample, not a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/evaluate.h"
#include "segagent/graphcut.h"
#include "segagent/llm_policy.h"
#include "segagent/refer.h"
#include "testutil.h"

static int make_llm(void *ctx, sa_policy **out, sa_error *err) {
    return sa_llm_policy_new(*(const sa_llm_params *)ctx, out, NULL, err);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli c;
    tu_cli_init(&c, argv[0]);
    test_server srv;
    if (ts_start(&srv, NULL) != 0) return 1;
    char args[1024];
    snprintf(args, sizeof args,
             "eval --dataset scenes --policy %s --model fixed --max-clicks 2 --jobs 2 --quiet "
             "--json %s/out.json",
             srv.base_url, c.dir);
    int st = tu_cli_run(&c, args, "eval");
    char *out = tu_cli_slurp(&c, "eval.out");
    CHECKF(st == 0, "exit %d: %s", st, out);
    CHECK(strstr(out, "cIoU") && strstr(out, "gIoU") && strstr(out, "fixed"));
    char *js = tu_cli_slurp(&c, "out.json");
    cJSON *doc = cJSON_Parse(js);
    const cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "datasets"), "scenes");
    CHECK(d != NULL);
    double ciou = NAN, giou = NAN;
    if (d) {
        CHECK(cJSON_GetObjectItem(d, "n_samples")->valueint == 6 &&
              cJSON_GetObjectItem(d, "n_failed")->valueint == 0);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "miou_by_step")) == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "ciou_by_step")) == 2);
        ciou = cJSON_GetObjectItem(d, "ciou")->valuedouble;
        giou = cJSON_GetObjectItem(d, "giou")->valuedouble;
        double g = 0;
        int n = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(d, "samples")) {
            const cJSON *ious = cJSON_GetObjectItem(s, "ious");
            g += cJSON_GetArrayItem(ious, cJSON_GetArraySize(ious) - 1)->valuedouble;
            n++;
        }
        CHECKF(n == 6 && fabs(g / n - giou) < 1e-5, "gIoU %.6f vs mean of samples %.6f", giou,
               g / n);
    }
    /* the same episodes in-process, the sums done here */
    sa_error err = {0};
    sa_tool *tool = NULL;
    sa_refer *ds = NULL;
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) == SA_OK);
    CHECK(sa_refer_open_scenes(&ds, &err) == SA_OK);
    sa_llm_params lp = sa_llm_default_params();
    lp.base_url = srv.base_url;
    lp.model = "fixed";
    sa_eval_params p = sa_eval_default_params();
    p.max_clicks = 2;
    p.policy_new = make_llm;
    p.policy_ctx = &lp;
    sa_eval_result res;
    CHECKF(sa_eval_run_refer(tool, ds, p, NULL, NULL, &res, &err) == SA_OK, "%s", err.msg);
    double si = 0, su = 0, g = 0;
    for (int i = 0; i < res.n_samples; i++) {
        const sa_eval_sample *s = &res.samples[i];
        CHECK(s->iou && s->n >= 1);
        if (!s->iou || s->n < 1) continue;
        si += (double)s->inter[s->n - 1];
        su += (double)s->uni[s->n - 1];
        g += s->uni[s->n - 1] ? (double)s->inter[s->n - 1] / (double)s->uni[s->n - 1] : 1.0;
    }
    CHECKF(fabs(si / su - ciou) < 1e-5, "cIoU %.6f vs %.6f", ciou, si / su);
    CHECKF(fabs(g / res.n_samples - giou) < 1e-5, "gIoU %.6f vs %.6f", giou, g / res.n_samples);
    sa_eval_result_free(&res);
    /* 8 episodes in flight: the same numbers */
    snprintf(args, sizeof args,
             "eval --dataset scenes --policy %s --model fixed --max-clicks 2 --concurrency 8 "
             "--quiet --json %s/c8.json",
             srv.base_url, c.dir);
    st = tu_cli_run(&c, args, "c8");
    char *cj = tu_cli_slurp(&c, "c8.json");
    cJSON *cd = cJSON_Parse(cj);
    const cJSON *cs = cJSON_GetObjectItem(cJSON_GetObjectItem(cd, "datasets"), "scenes");
    CHECKF(st == 0 && cs && cJSON_GetObjectItem(cs, "ciou")->valuedouble == ciou &&
               cJSON_GetObjectItem(cs, "giou")->valuedouble == giou,
           "--concurrency 8: exit %d", st);
    cJSON_Delete(cd);
    free(cj);
    /* failures by kind: unparseable replies (the last mask stands) and HTTP errors */
    snprintf(args, sizeof args,
             "eval --dataset scenes --policy %s --model malformed --max-clicks 2 --quiet --json "
             "%s/bad.json",
             srv.base_url, c.dir);
    st = tu_cli_run(&c, args, "malformed");
    char *bj = tu_cli_slurp(&c, "bad.json");
    cJSON *bd = cJSON_Parse(bj);
    const cJSON *f = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(bd, "datasets"), "scenes"),
                            "failures"),
        "unparseable_reply");
    CHECKF(st == 0 && f && f->valueint == 6, "exit %d, unparseable %d", st, f ? f->valueint : -1);
    cJSON_Delete(bd);
    free(bj);
    /* a server that always fails: every sample skipped, exit 1, one line each */
    snprintf(args, sizeof args,
             "eval --dataset scenes --policy %s --model http500 --retries 0 --max-clicks 2 --quiet",
             srv.base_url);
    st = tu_cli_run(&c, args, "fail");
    char *err_text = tu_cli_slurp(&c, "fail.err");
    CHECKF(st == 1 && strstr(err_text, "HTTP 500"), "exit %d: %s", st, err_text);
    free(err_text);
    ts_stop(&srv);
    sa_refer_free(ds);
    sa_tool_free(tool);
    cJSON_Delete(doc);
    free(js);
    free(out);
    tu_rmtree(c.dir);
    free(c.dir);
    return tu_finish("test_eval_refer_cli");
}
