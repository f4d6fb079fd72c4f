/* segagent demo ends with the agent benchmark (the referring benchmark over the built-in scenes): its table is
 * printed after the demo's own table, its numbers are in summary.json under "agent_benchmark" and agree with an
 * independent computation here (the same episodes run in-process, cIoU and gIoU summed from the per-sample
 * intersections and unions); the demo's existing keys stay; --agent-steps 0 skips it; with --policy URL the
 * loopback server's model plays the policy. Also the CLI side of --embed-cache: a second eval over the refer
 * sample with the tiny SAM fixture encodes nothing, and a corrupt cache file is reported once. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_server.h"
#include "segagent/evaluate.h"
#include "segagent/graphcut.h"
#include "segagent/refer.h"
#include "testutil.h"

static tu_cli T;

static cJSON *load_json(const char *rel) {
    char *text = tu_cli_slurp(&T, rel);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The referring benchmark as the demo runs it, summed here from the samples. */
static void independent(int steps, double *ciou, double *giou, double *miou_last, int *n) {
    sa_refer *ds = NULL;
    sa_tool *tool = NULL;
    sa_error err = {0};
    CHECK(sa_refer_open_scenes(&ds, &err) == SA_OK);
    CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) == SA_OK);
    sa_eval_params p = sa_eval_default_params();
    p.max_clicks = steps;
    sa_eval_result r;
    CHECK(sa_eval_run_refer(tool, ds, p, NULL, NULL, &r, &err) == SA_OK);
    double si = 0, su = 0, g = 0;
    *n = 0;
    for (int i = 0; i < r.n_samples; i++) {
        const sa_eval_sample *s = &r.samples[i];
        if (!s->iou) continue;
        uint64_t in = s->n ? s->inter[s->n - 1] : s->inter0, un = s->n ? s->uni[s->n - 1] : s->uni0;
        si += (double)in;
        su += (double)un;
        g += un ? (double)in / (double)un : 1.0;
        (*n)++;
    }
    *ciou = si / su;
    *giou = g / *n;
    *miou_last = *giou; /* the last step's mean IoU is the final per-sample mean */
    sa_eval_result_free(&r);
    sa_tool_free(tool);
    sa_refer_free(ds);
}

static void test_demo(void) {
    char args[4600];
    snprintf(args, sizeof args,
             "demo --out %s/d1 --no-overlays --max-clicks 3 --agent-steps 4 --size 64x48", T.dir);
    int rc = tu_cli_run(&T, args, "demo1");
    CHECK(rc == 0);
    char *out = tu_cli_slurp(&T, "demo1.out");
    const char *own = strstr(out, "demo scenes"), *agent = strstr(out, "agent benchmark");
    CHECK(own && agent && own < agent); /* after the demo's own table */
    CHECK(strstr(out, "policy: simulated annotator, 4 steps") != NULL);
    CHECK(strstr(out, "  mIoU  ") && strstr(out, "  cIoU  "));
    const char *wrote = strstr(out, "wrote ");
    CHECK(wrote && agent < wrote); /* the last line stays the last */
    free(out);
    cJSON *j = load_json("d1/summary.json");
    CHECK(j != NULL);
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(j, "agent_benchmark");
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "datasets") != NULL); /* the demo's own keys */
    CHECK(cJSON_GetObjectItemCaseSensitive(j, "tool") != NULL);
    CHECK(ab != NULL);
    if (ab) {
        double ciou, giou, mlast;
        int n;
        independent(4, &ciou, &giou, &mlast, &n);
        CHECK(num(ab, "n_samples") == n && n == 6 && num(ab, "n_failed") == 0);
        CHECK(num(ab, "steps") == 4);
        CHECKF(fabs(num(ab, "ciou") - ciou) < 2e-6, "cIoU %g vs %g", num(ab, "ciou"), ciou);
        CHECKF(fabs(num(ab, "giou") - giou) < 2e-6, "gIoU %g vs %g", num(ab, "giou"), giou);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ab, "miou_by_step");
        CHECK(cJSON_GetArraySize(m) == 4);
        const cJSON *last = cJSON_GetArrayItem(m, 3);
        CHECK(last && fabs(last->valuedouble - mlast) < 2e-6);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ab, "ciou_by_step")) == 4);
        CHECK(ciou > 0.5); /* the scenes are segmented, not just counted */
    }
    cJSON_Delete(j);

    snprintf(args, sizeof args,
             "demo --out %s/d2 --no-overlays --max-clicks 2 --agent-steps 0 --size 64x48", T.dir);
    rc = tu_cli_run(&T, args, "demo2");
    CHECK(rc == 0);
    out = tu_cli_slurp(&T, "demo2.out");
    CHECK(strstr(out, "agent benchmark") == NULL);
    free(out);
    j = load_json("d2/summary.json");
    CHECK(j && !cJSON_GetObjectItemCaseSensitive(j, "agent_benchmark"));
    cJSON_Delete(j);
    snprintf(args, sizeof args, "demo --out %s/d3 --agent-steps 21", T.dir);
    CHECK(tu_cli_run(&T, args, "demo3") == 2);
}

static void test_demo_policy(void) {
    test_server srv;
    if (ts_start(&srv, NULL) != 0) {
        CHECK(!"policy server started");
        return;
    }
    char args[4600];
    snprintf(
        args, sizeof args,
        "demo --out %s/d4 --no-overlays --max-clicks 2 --agent-steps 2 --size 64x48 --policy %s "
        "--model fixed",
        T.dir, srv.base_url);
    CHECK(tu_cli_run(&T, args, "demo4") == 0);
    char *out = tu_cli_slurp(&T, "demo4.out");
    CHECK(strstr(out, "policy: fixed, 2 steps") != NULL);
    free(out);
    cJSON *j = load_json("d4/summary.json");
    const cJSON *ab = j ? cJSON_GetObjectItemCaseSensitive(j, "agent_benchmark") : NULL;
    CHECK(ab && num(ab, "n_samples") == 6);
    const cJSON *pol = ab ? cJSON_GetObjectItemCaseSensitive(ab, "policy") : NULL;
    CHECK(cJSON_IsString(pol) && !strcmp(pol->valuestring, "fixed"));
    cJSON_Delete(j);
    ts_stop(&srv);
}

/* The numbers of eval's cache line in a run's stderr; 0 when it is missing. */
typedef struct cache_line {
    int enc, ses, mem, waited, disk, written, rejected;
} cache_line;

static int read_cache_line(const char *err, cache_line *c) {
    for (const char *l = strstr(err, "eval: "); l; l = strstr(l + 1, "eval: "))
        if (sscanf(l,
                   "eval: %d image encoding(s) for %d session(s): %d from memory (%d waited for "
                   "another worker), %d from disk; cache files: %d written, %d rejected",
                   &c->enc, &c->ses, &c->mem, &c->waited, &c->disk, &c->written, &c->rejected) == 7)
            return 1;
    return 0;
}

static void test_embed_cache_cli(void) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "--embed-cache part skipped: no shared folder\n");
        return;
    }
    char args[16384];
    snprintf(args, sizeof args,
             "eval --dataset refcoco:val=%s/data/refer_sample/refer/refcoco --images "
             "%s/data/refer_sample/images/train2014 --tool sam --sam-model %s/fixtures/sam/tiny "
             "--max-clicks 2 --embed-cache %s/emb",
             shared, shared, shared, T.dir);
    CHECK(tu_cli_run(&T, args, "emb1") == 0);
    char *err = tu_cli_slurp(&T, "emb1.err");
    cache_line a = {0}, b = {0}, c = {0};
    CHECK(read_cache_line(err, &a));
    CHECKF(a.enc > 0 && a.ses > a.enc && a.mem == a.ses - a.enc && a.written == a.enc &&
               a.disk == 0,
           "first run: %d encodings, %d sessions, %d written", a.enc, a.ses, a.written);
    free(err);
    CHECK(tu_cli_run(&T, args, "emb2") == 0);
    err = tu_cli_slurp(&T, "emb2.err");
    CHECK(read_cache_line(err, &b));
    CHECKF(b.enc == 0 && b.disk == a.enc && b.written == 0 && b.ses == a.ses,
           "second run: %d encodings, %d from disk", b.enc, b.disk);
    CHECK(strstr(err, "warning") == NULL);
    free(err);
    /* corrupt one file: one warning naming it, one encoding, the results unchanged */
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "f=$(find '%s/emb' -name '*.emb' | head -n 1) && printf 'XXXX' | dd of=\"$f\" bs=1 "
             "seek=200 conv=notrunc 2>/dev/null",
             T.dir);
    CHECK(system(cmd) == 0);
    CHECK(tu_cli_run(&T, args, "emb3") == 0);
    err = tu_cli_slurp(&T, "emb3.err");
    const char *wn = strstr(err, "warning: embedding cache: ");
    CHECK(wn && strstr(wn, ".emb: payload checksum mismatch; recomputing"));
    CHECK(wn && !strstr(wn + 1, "warning: "));
    CHECK(read_cache_line(err, &c));
    CHECK(c.enc == 1 && c.rejected == 1 && c.written == 1 && c.disk == a.enc - 1);
    free(err);
    char *o1 = tu_cli_slurp(&T, "emb1.out"), *o3 = tu_cli_slurp(&T, "emb3.out");
    const char *t1 = strstr(o1, "referring set"), *t3 = strstr(o3, "referring set");
    CHECK(t1 && t3);
    if (t1 && t3) { /* the referring table (header and row) is the same */
        size_t n = strcspn(t1, "\n") + 1;
        n += strcspn(t1 + n, "\n");
        CHECK(!strncmp(t1, t3, n));
    }
    free(o1);
    free(o3);
    /* --embed-cache with another tool is a usage error */
    snprintf(args, sizeof args, "eval --dataset scenes --embed-cache %s/emb", T.dir);
    CHECK(tu_cli_run(&T, args, "emb4") == 2);
    err = tu_cli_slurp(&T, "emb4.err");
    CHECK(strstr(err, "--embed-cache DIR is for --tool sam") != NULL);
    free(err);
}

int main(int argc, char **argv) {
    (void)argc;
    tu_cli_init(&T, argv[0]);
    test_demo();
    test_demo_policy();
    test_embed_cache_cli();
    tu_rmtree(T.dir);
    return tu_finish("test_demo_agent");
}
