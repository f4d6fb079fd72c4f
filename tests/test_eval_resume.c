/* The agent benchmark's per-sample records, end to end through the CLI, against the loopback policy server
 * ("hash" model: a deterministic walk with predicted IoUs, 40 ms per reply) on the built-in scenes and the
 * refcoco val sample:
 *   - kill and resume: `segagent eval` is SIGKILLed once some records are on disk (a torn line is added to
 *     the file as a killed write would leave it), resumed with --resume, and gives the same summary as an
 *     uninterrupted run, with every item number exactly once and the same records;
 *   - shards and merge: --shard 0/3, 1/3, 2/3, merged with sa_eval_merge, give the unsharded summary and
 *     records (and a missing or doubled shard is refused, naming it); the same for the simulated annotator's
 *     NoC table on GrabCut;
 *   - prm-select: cIoU / gIoU of the best-predicted masks, checked against a computation done here from the
 *     records, and equal to eval's prm_ciou / prm_giou.
 * Summaries are compared whole, with only the timing fields removed. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "policy_server.h"
#include "segagent/eval_report.h"
#include "testutil.h"

static const char *const timing_keys[] = {
    "ms", "ms_per_click_mean", "ms_per_click_median", "ms_per_click_p95", "request_ms", "tool_ms"};

/* Removes the wall-clock fields, everywhere below o. */
static void strip_timings(cJSON *o) {
    if (!o) return;
    for (size_t k = 0; k < sizeof timing_keys / sizeof timing_keys[0]; k++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, timing_keys[k]);
    cJSON *c;
    cJSON_ArrayForEach(c, o) strip_timings(c);
}

static cJSON *load_json(const tu_cli *c, const char *rel) {
    char *text = tu_cli_slurp(c, rel);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    strip_timings(doc);
    return doc;
}

/* The records of a part file (complete lines after the header, end record excluded), timings stripped, as a
 * JSON array; *ended: the end record was there. */
static cJSON *load_records(const tu_cli *c, const char *rel, int *ended) {
    char *text = tu_cli_slurp(c, rel);
    cJSON *arr = cJSON_CreateArray();
    *ended = 0;
    char *line = text, *nl;
    int first = 1;
    while ((nl = strchr(line, '\n'))) {
        *nl = 0;
        if (!first) {
            cJSON *rec = cJSON_Parse(line);
            if (rec && cJSON_IsTrue(cJSON_GetObjectItem(rec, "end"))) {
                *ended = 1;
                cJSON_Delete(rec);
            } else {
                strip_timings(rec);
                cJSON_AddItemToArray(arr, rec ? rec : cJSON_CreateNull());
            }
        }
        first = 0;
        line = nl + 1;
    }
    free(text);
    return arr;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* Starts "segagent ARGS" in the background (exec'd directly, so the pid is segagent's). */
static pid_t spawn(const tu_cli *c, const char *args, const char *tag) {
    size_t n = strlen(c->bin) + strlen(args) + 2 * (strlen(c->dir) + strlen(tag)) + 64;
    char *cmd = malloc(n);
    if (!cmd) return -1;
    snprintf(cmd, n, "exec '%s' %s >'%s/%s.out' 2>'%s/%s.err'", c->bin, args, c->dir, tag, c->dir,
             tag);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    return pid;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The records' item numbers are 0..n-1, each once, in order. */
static int items_in_order(const cJSON *recs) {
    int want = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        const cJSON *i = cJSON_GetObjectItem(r, "i");
        if (!cJSON_IsNumber(i) || i->valueint != want) return 0;
        want++;
    }
    return 1;
}

static double num_or_nan(const cJSON *v) {
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Offline PRM selection computed here, straight from the records of one set: per sample, the state (0 = the
 * start, k = after click k) with the highest pred_iou (step k+1's reply scores state k), ties to the later,
 * none = the last; cIoU and gIoU of those states and of the last ones. Returns samples measured. */
static int prm_by_hand(const cJSON *recs, const char *set, double *ciou, double *giou,
                       double *prm_ciou, double *prm_giou, int *earlier) {
    double si = 0, su = 0, g = 0, psi = 0, psu = 0, pg = 0;
    int n = 0;
    *earlier = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) {
        const cJSON *start = cJSON_GetObjectItem(r, "start");
        if (strcmp(cJSON_GetObjectItem(r, "dataset")->valuestring, set) || !cJSON_IsObject(start))
            continue;
        double in[64], un[64], pred[64];
        int ns = 0, np = 0;
        in[0] = num_or_nan(cJSON_GetObjectItem(start, "inter"));
        un[0] = num_or_nan(cJSON_GetObjectItem(start, "union"));
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItem(r, "steps")) {
            pred[np++] = num_or_nan(cJSON_GetObjectItem(st, "pred_iou"));
            if (cJSON_IsArray(cJSON_GetObjectItem(st, "click"))) {
                ns++;
                in[ns] = num_or_nan(cJSON_GetObjectItem(st, "inter"));
                un[ns] = num_or_nan(cJSON_GetObjectItem(st, "union"));
            }
        }
        int best = ns;
        double bp = NAN;
        for (int k = 0; k <= ns && k < np; k++)
            if (!isnan(pred[k]) && (isnan(bp) || pred[k] >= bp)) {
                best = k;
                bp = pred[k];
            }
        *earlier += best != ns;
        si += in[ns];
        su += un[ns];
        g += un[ns] > 0 ? in[ns] / un[ns] : 1.0;
        psi += in[best];
        psu += un[best];
        pg += un[best] > 0 ? in[best] / un[best] : 1.0;
        n++;
    }
    *ciou = su > 0 ? si / su : 1.0;
    *giou = n ? g / n : NAN;
    *prm_ciou = psu > 0 ? psi / psu : 1.0;
    *prm_giou = n ? pg / n : NAN;
    return n;
}

static double dnum(const cJSON *doc, const char *set, const char *key) {
    const cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "datasets"), set);
    return num_or_nan(cJSON_GetObjectItem(d, key));
}

/* Kill part-way, add a torn line, resume: the same summary and records as the uninterrupted run. */
static void kill_and_resume(const tu_cli *c, const char *common, const cJSON *full,
                            const cJSON *full_recs) {
    char args[16384], part[4096];
    snprintf(args, sizeof args, "%s --jobs 1 --json %s/k.json", common, c->dir);
    snprintf(part, sizeof part, "%s/k.part.jsonl", c->dir);
    pid_t pid = spawn(c, args, "kill");
    int lines = 0;
    for (int w = 0; w < 3000 && (lines = count_lines(part)) < 1 + 4; w++)
        sleep_ms(10);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    int done = 0;
    cJSON *before = load_records(c, "k.part.jsonl", &done);
    int n_before = cJSON_GetArraySize(before);
    CHECKF(WIFSIGNALED(st) && !done && n_before >= 4 && n_before < cJSON_GetArraySize(full_recs),
           "killed with %d of %d records (ended %d): the kill must land part-way", n_before,
           cJSON_GetArraySize(full_recs), done);
    cJSON_Delete(before);
    FILE *f = fopen(part, "ab"); /* what a write cut by the kill leaves */
    if (f) {
        fputs("{\"i\":999,\"key\":\"scenes/tor", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "%s --jobs 2 --json %s/k.json --resume", common, c->dir);
    st = tu_cli_run(c, args, "resume");
    char *err = tu_cli_slurp(c, "resume.err");
    CHECKF(st == 0 && strstr(err, "torn"), "resume: exit %d: %s", st, err);
    free(err);
    cJSON *k = load_json(c, "k.json");
    CHECK(k && cJSON_Compare(cJSON_GetObjectItem(k, "datasets"),
                             cJSON_GetObjectItem(full, "datasets"), 1));
    cJSON *recs = load_records(c, "k.part.jsonl", &done);
    CHECKF(done && items_in_order(recs) && cJSON_Compare(recs, full_recs, 1),
           "resumed records: ended %d, %d of %d, in order %d", done, cJSON_GetArraySize(recs),
           cJSON_GetArraySize(full_recs), items_in_order(recs));
    cJSON_Delete(recs);
    cJSON_Delete(k);
    /* Ctrl-C (SIGINT): the samples in flight finish, exit 130, the part is left without its end record;
     * --resume completes it */
    snprintf(args, sizeof args, "%s --jobs 1 --json %s/int.json", common, c->dir);
    snprintf(part, sizeof part, "%s/int.part.jsonl", c->dir);
    pid = spawn(c, args, "int");
    for (int w = 0; w < 3000 && count_lines(part) < 1 + 3; w++)
        sleep_ms(10);
    kill(pid, SIGINT);
    waitpid(pid, &st, 0);
    cJSON *part_recs = load_records(c, "int.part.jsonl", &done);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 130 && !done &&
               cJSON_GetArraySize(part_recs) < cJSON_GetArraySize(full_recs) &&
               items_in_order(part_recs),
           "SIGINT: status %d, %d records, ended %d", st, cJSON_GetArraySize(part_recs), done);
    cJSON_Delete(part_recs);
    snprintf(args, sizeof args, "%s --jobs 2 --json %s/int.json --resume", common, c->dir);
    st = tu_cli_run(c, args, "int2");
    cJSON *ij = load_json(c, "int.json");
    recs = load_records(c, "int.part.jsonl", &done);
    CHECKF(st == 0 && done && ij && cJSON_Compare(recs, full_recs, 1) &&
               cJSON_Compare(cJSON_GetObjectItem(ij, "datasets"),
                             cJSON_GetObjectItem(full, "datasets"), 1),
           "resumed after SIGINT: exit %d, ended %d", st, done);
    cJSON_Delete(recs);
    cJSON_Delete(ij);
    /* the same part with other options is another run: refused, nothing appended */
    snprintf(
        args, sizeof args,
        "eval --dataset scenes --policy http://127.0.0.1:9/v1 --model hash --max-clicks 2 --quiet --json %s/k.json "
        "--resume",
        c->dir);
    st = tu_cli_run(c, args, "other");
    err = tu_cli_slurp(c, "other.err");
    CHECKF(st == 1 && strstr(err, "different run"), "other options: exit %d: %s", st, err);
    free(err);
}

/* Shards 0..n-1 of `common`, their parts merged by sa_eval_merge into OUT.json; checks against full. */
static void shards_and_merge(const tu_cli *c, const char *common, int n, const char *out,
                             const cJSON *full, const cJSON *full_recs) {
    char args[16384], *parts[8];
    int total = 0;
    for (int i = 0; i < n; i++) {
        snprintf(args, sizeof args, "%s --json %s/%s.json --shard %d/%d", common, c->dir, out, i,
                 n);
        char tag[32];
        snprintf(tag, sizeof tag, "%s%d", out, i);
        int st = tu_cli_run(c, args, tag);
        CHECKF(st == 0, "shard %d/%d: exit %d", i, n, st);
        parts[i] = malloc(4200);
        snprintf(parts[i], 4200, "%s/%s.shard-%04d-of-%04d.jsonl", c->dir, out, i, n);
        int ended = 0;
        char rel[64];
        snprintf(rel, sizeof rel, "%s.shard-%04d-of-%04d.jsonl", out, i, n);
        cJSON *r = load_records(c, rel, &ended);
        CHECKF(ended && cJSON_GetArraySize(r) > 0, "shard %d: %d records, ended %d", i,
               cJSON_GetArraySize(r), ended);
        total += cJSON_GetArraySize(r);
        cJSON_Delete(r);
    }
    CHECKF(total == cJSON_GetArraySize(full_recs), "shards hold %d records, the run %d", total,
           cJSON_GetArraySize(full_recs));
    char merged[4200];
    snprintf(merged, sizeof merged, "%s/%s-merged.json", c->dir, out);
    sa_error err = {0};
    int rc = sa_eval_merge((const char *const *)parts, n, merged, &err);
    CHECKF(rc == SA_OK, "merge: %s", err.msg);
    char rel[64];
    snprintf(rel, sizeof rel, "%s-merged.json", out);
    cJSON *m = load_json(c, rel);
    CHECK(m && cJSON_Compare(m, full, 1));
    snprintf(rel, sizeof rel, "%s-merged.part.jsonl", out);
    int ended = 0;
    cJSON *recs = load_records(c, rel, &ended);
    CHECK(ended && items_in_order(recs) && cJSON_Compare(recs, full_recs, 1));
    cJSON_Delete(recs);
    cJSON_Delete(m);
    snprintf(rel, sizeof rel, "%s-merged.ciou.svg", out);
    char *svg = tu_cli_slurp(c, rel);
    CHECK(strstr(svg, "<svg") && strstr(svg, "cIoU"));
    free(svg);
    /* refused: a shard missing, a shard twice */
    rc = sa_eval_merge((const char *const *)parts, n - 1, merged, &err);
    CHECKF(rc != SA_OK && strstr(err.msg, "shard"), "a missing shard: %s", err.msg);
    const char *twice[3] = {parts[0], parts[0], parts[1]};
    rc = sa_eval_merge(twice, n, merged, &err);
    CHECKF(rc != SA_OK && strstr(err.msg, "both shard 0"), "a shard twice: %s", err.msg);
    for (int i = 0; i < n; i++)
        free(parts[i]);
}

static void prm_select(const tu_cli *c, const cJSON *full, const cJSON *full_recs) {
    char args[16384];
    snprintf(args, sizeof args, "prm-select %s/full.part.jsonl --json %s/prm.json", c->dir, c->dir);
    int st = tu_cli_run(c, args, "prm");
    CHECKF(st == 0, "prm-select: exit %d", st);
    cJSON *p = load_json(c, "prm.json");
    const char *sets[] = {"scenes", "refcoco:val"};
    int earlier_all = 0;
    for (int k = 0; k < 2; k++) {
        double ci, gi, pci, pgi;
        int earlier;
        int n = prm_by_hand(full_recs, sets[k], &ci, &gi, &pci, &pgi, &earlier);
        earlier_all += earlier;
        CHECKF(n > 0 && dnum(p, sets[k], "n_samples") == n, "%s: %d samples", sets[k], n);
        CHECKF(fabs(dnum(p, sets[k], "prm_ciou") - pci) < 1e-6 &&
                   fabs(dnum(p, sets[k], "prm_giou") - pgi) < 1e-6,
               "%s: prm-select %.6f %.6f, by hand %.6f %.6f", sets[k], dnum(p, sets[k], "prm_ciou"),
               dnum(p, sets[k], "prm_giou"), pci, pgi);
        CHECKF(fabs(dnum(p, sets[k], "ciou") - ci) < 1e-6 &&
                   fabs(dnum(p, sets[k], "giou") - gi) < 1e-6 &&
                   fabs(dnum(full, sets[k], "ciou") - ci) < 1e-6,
               "%s: last-step cIoU %.6f / %.6f by hand", sets[k], dnum(p, sets[k], "ciou"), ci);
        CHECKF(dnum(full, sets[k], "prm_ciou") == dnum(p, sets[k], "prm_ciou") &&
                   dnum(full, sets[k], "prm_giou") == dnum(p, sets[k], "prm_giou"),
               "%s: eval's prm columns differ from prm-select's", sets[k]);
        CHECK(dnum(p, sets[k], "prm_earlier") == earlier);
    }
    CHECKF(earlier_all > 0,
           "the PRM choice never differed from the last mask: the test is vacuous");
    cJSON_Delete(p);
}

int main(int argc, char **argv) {
    (void)argc;
    const char *shared = tu_require_shared();
    tu_cli c;
    tu_cli_init(&c, argv[0]);
    test_server srv;
    if (ts_start(&srv, NULL) != 0) return 1;
    char common[4096], args[12288];
    snprintf(common, sizeof common,
             "eval --dataset scenes --dataset refcoco:val=%s/data/refer_sample/refer/refcoco "
             "--images %s/data/refer_sample/images/train2014 --policy %s --model hash "
             "--max-clicks 3 --quiet",
             shared, shared, srv.base_url);
    snprintf(args, sizeof args, "%s --jobs 2 --json %s/full.json", common, c.dir);
    int st = tu_cli_run(&c, args, "full");
    CHECKF(st == 0, "uninterrupted run: exit %d", st);
    int ended = 0;
    cJSON *full = load_json(&c, "full.json");
    cJSON *full_recs = load_records(&c, "full.part.jsonl", &ended);
    CHECKF(full && ended && cJSON_GetArraySize(full_recs) == 17 && items_in_order(full_recs),
           "full run: %d records, ended %d", cJSON_GetArraySize(full_recs), ended);
    CHECK(dnum(full, "scenes", "n_samples") == 6 && dnum(full, "refcoco:val", "n_samples") == 11);
    kill_and_resume(&c, common, full, full_recs);
    snprintf(args, sizeof args, "%s --jobs 2", common);
    shards_and_merge(&c, args, 3, "s", full, full_recs);
    prm_select(&c, full, full_recs);
    cJSON_Delete(full);
    cJSON_Delete(full_recs);
    ts_stop(&srv);

    /* the simulated annotator's NoC table: 2 shards merged = one run */
    snprintf(common, sizeof common,
             "eval --dataset GrabCut=%s/data/GrabCut --limit 6 --max-clicks 4 --jobs 2 --quiet",
             shared);
    snprintf(args, sizeof args, "%s --json %s/g.json", common, c.dir);
    st = tu_cli_run(&c, args, "g");
    CHECKF(st == 0, "GrabCut: exit %d", st);
    cJSON *g = load_json(&c, "g.json");
    cJSON *g_recs = load_records(&c, "g.part.jsonl", &ended);
    CHECK(g && cJSON_GetArraySize(g_recs) == 6);
    shards_and_merge(&c, common, 2, "gs", g, g_recs);
    /* the shard from a Slurm array task's environment, or a Kubernetes Indexed Job's: the same part as
     * --shard I/2 gives */
    const char *envs[2][4] = {{"SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "2"},
                              {"JOB_COMPLETION_INDEX", "1", NULL, NULL}};
    for (int e = 0; e < 2; e++) {
        setenv(envs[e][0], envs[e][1], 1);
        if (envs[e][2]) setenv(envs[e][2], envs[e][3], 1);
        if (e == 0) setenv("SLURM_ARRAY_TASK_MIN", "0", 1);
        snprintf(args, sizeof args, "%s --json %s/env%d.json%s", common, c.dir, e,
                 e == 1 ? " --shards 2" : "");
        st = tu_cli_run(&c, args, "env");
        unsetenv(envs[e][0]);
        if (envs[e][2]) unsetenv(envs[e][2]);
        unsetenv("SLURM_ARRAY_TASK_MIN");
        char rel[64];
        snprintf(rel, sizeof rel, "env%d.shard-0001-of-0002.jsonl", e);
        int ended2 = 0;
        cJSON *a = load_records(&c, rel, &ended);
        cJSON *b = load_records(&c, "gs.shard-0001-of-0002.jsonl", &ended2);
        CHECKF(st == 0 && ended && ended2 && cJSON_GetArraySize(a) > 0 && cJSON_Compare(a, b, 1),
               "shard from %s: exit %d, %d records", envs[e][0], st, cJSON_GetArraySize(a));
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    /* usage errors: a shard or --resume with nowhere to keep the records, a shard past the count */
    const char *bad[] = {"--shard 1/2", "--resume", "--shard 2/2 --json x.json"};
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "%s %s", common, bad[k]);
        st = tu_cli_run(&c, args, "usage");
        CHECKF(st == 2, "eval %s: exit %d", bad[k], st);
    }
    /* resuming a finished part runs nothing and writes the same summary */
    snprintf(args, sizeof args, "%s --json %s/g.json --resume", common, c.dir);
    st = tu_cli_run(&c, args, "g2");
    cJSON *g2 = load_json(&c, "g.json");
    CHECKF(st == 0 && g2 && cJSON_Compare(g, g2, 1), "resumed finished part: exit %d", st);
    cJSON_Delete(g2);
    cJSON_Delete(g);
    cJSON_Delete(g_recs);
    tu_rmtree(c.dir);
    free(c.dir);
    return tu_finish("test_eval_resume");
}
