/* The benchmark's outputs: the eval JSON document (summary, per-sample curves, skipped items, dataset
 * warnings) and the mIoU-vs-clicks chart. Kept in the library so `segagent eval`, `annotate`, `demo` and later
 * dataset-scale runs (an LLM policy, cluster shards merged back) write exactly the same keys. */
#include "segagent/eval_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/fileio.h"
#include "segagent/chart.h"
#include "segagent/eval_records.h"
#include "segagent/partfile.h"
#include "base/text.h"

cJSON *sa_eval_json_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    return cJSON_CreateNumber(round(v * 1e6) / 1e6);
}

static void add_num(cJSON *o, const char *key, double v) {
    cJSON_AddItemToObject(o, key, sa_eval_json_number(v));
}

static int listed_k(int k) {
    for (int i = 0; i < SA_METRICS_N_K; i++)
        if (sa_metrics_ks[i] == k) return 1;
    return 0;
}

cJSON *sa_eval_summary_json(const sa_metrics_summary *s, int n_skipped) {
    cJSON *o = s ? cJSON_CreateObject() : NULL;
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "n_samples", s->n_samples);
    cJSON_AddNumberToObject(o, "n_skipped", n_skipped);
    cJSON_AddNumberToObject(o, "max_clicks", s->max_clicks);
    char key[32];
    for (int t = 0; t < SA_N_TAU; t++) {
        snprintf(key, sizeof key, "noc@%d", (int)lround(sa_metrics_taus[t] * 100));
        add_num(o, key, s->noc[t]);
    }
    for (int t = 0; t < SA_N_TAU; t++) {
        snprintf(key, sizeof key, "nof@%d", (int)lround(sa_metrics_taus[t] * 100));
        cJSON_AddNumberToObject(o, key, s->nof[t]);
    }
    /* every k up to the click limit, and the usual ones (null) beyond it */
    int kmax = s->max_clicks > 20 ? s->max_clicks : 20;
    for (int k = 1; k <= kmax; k++) {
        if (k > s->max_clicks && !listed_k(k)) continue;
        snprintf(key, sizeof key, "miou@%d", k);
        add_num(o, key, sa_metrics_miou_at(s, k));
    }
    for (int i = 0; i < SA_METRICS_N_K; i++) {
        snprintf(key, sizeof key, "ciou@%d", sa_metrics_ks[i]);
        add_num(o, key, sa_metrics_ciou_at(s, sa_metrics_ks[i]));
    }
    cJSON *curve = cJSON_AddArrayToObject(o, "miou_curve");
    for (int k = 1; curve && k <= s->max_clicks; k++)
        cJSON_AddItemToArray(curve, sa_eval_json_number(s->miou[k]));
    add_num(o, "ms_per_click_mean", s->ms_mean);
    add_num(o, "ms_per_click_median", s->ms_median);
    add_num(o, "ms_per_click_p95", s->ms_p95);
    cJSON_AddNumberToObject(o, "clicks_total", (double)s->n_clicks);
    return o;
}

cJSON *sa_eval_sample_json(const sa_eval_sample *s, int max_clicks) {
    cJSON *o = s ? cJSON_CreateObject() : NULL;
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", s->name ? s->name : "");
    cJSON_AddNumberToObject(o, "width", s->width);
    cJSON_AddNumberToObject(o, "height", s->height);
    cJSON *ious = cJSON_AddArrayToObject(o, "ious");
    cJSON *ms = cJSON_AddArrayToObject(o, "ms");
    cJSON *clicks = cJSON_AddArrayToObject(o, "clicks");
    for (int i = 0; i < s->n; i++) {
        if (ious) cJSON_AddItemToArray(ious, sa_eval_json_number(s->iou[i]));
        if (ms) cJSON_AddItemToArray(ms, cJSON_CreateNumber(round(s->ms[i] * 1e3) / 1e3));
        int c[3] = {s->clicks[i].y, s->clicks[i].x, s->clicks[i].positive};
        if (clicks) cJSON_AddItemToArray(clicks, cJSON_CreateIntArray(c, 3));
    }
    cJSON_AddNumberToObject(o, "noc@85", sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.85));
    cJSON_AddNumberToObject(o, "noc@90", sa_metrics_noc(s->iou, s->n, s->iou0, max_clicks, 0.90));
    cJSON_AddBoolToObject(o, "done_early", s->done_early);
    if (s->error) cJSON_AddStringToObject(o, "error", s->error);
    return o;
}

/* One dataset's object: where it came from, the summary, the samples, what was skipped and why. */
static cJSON *entry_json(const sa_eval_report_entry *e, int max_clicks) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const sa_eval_result *res = e->result;
    cJSON_AddStringToObject(o, "dir", e->dir ? e->dir : "");
    cJSON_AddStringToObject(o, "layout", e->layout ? e->layout : "");
    cJSON_AddItemToObject(o, "summary", sa_eval_summary_json(&res->summary, res->n_skipped));
    cJSON *samples = cJSON_AddArrayToObject(o, "samples");
    cJSON *skipped = cJSON_AddArrayToObject(o, "skipped");
    cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
    for (int i = 0; i < res->n_samples; i++) {
        const sa_eval_sample *s = &res->samples[i];
        if (s->iou) {
            cJSON_AddItemToArray(samples, sa_eval_sample_json(s, max_clicks));
            continue;
        }
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "name", s->name ? s->name : "");
        cJSON_AddStringToObject(k, "error", s->error ? s->error : "");
        cJSON_AddItemToArray(skipped, k);
    }
    for (int w = 0; w < e->n_warnings; w++)
        cJSON_AddItemToArray(warnings, cJSON_CreateString(e->warnings[w]));
    if (e->refer) sa_eval_refer_summary_add_json(o, e->refer);
    return o;
}

int sa_eval_refer_summary_add_json(cJSON *o, const sa_eval_refer_summary *s) {
    if (!o || !s || s->max_clicks < 1 || s->max_clicks > SA_METRICS_MAX_CLICKS)
        return SA_ERR_INVALID;
    int ok = cJSON_AddNumberToObject(o, "n_samples", s->n_samples) &&
             cJSON_AddNumberToObject(o, "n_failed", s->n_failed);
    ok = ok && cJSON_AddItemToObject(o, "ciou", sa_eval_json_number(s->ciou));
    ok = ok && cJSON_AddItemToObject(o, "giou", sa_eval_json_number(s->giou));
    cJSON *m = cJSON_AddArrayToObject(o, "miou_by_step"),
          *c = cJSON_AddArrayToObject(o, "ciou_by_step");
    ok = ok && m && c;
    for (int t = 0; ok && t < s->max_clicks; t++)
        ok = cJSON_AddItemToArray(m, sa_eval_json_number(s->miou_by_step[t])) &&
             cJSON_AddItemToArray(c, sa_eval_json_number(s->ciou_by_step[t]));
    cJSON *pm = cJSON_AddArrayToObject(o, "prm_miou_by_step"),
          *pc = cJSON_AddArrayToObject(o, "prm_ciou_by_step");
    ok = ok && pm && pc && cJSON_AddItemToObject(o, "prm_ciou", sa_eval_json_number(s->prm_ciou)) &&
         cJSON_AddItemToObject(o, "prm_giou", sa_eval_json_number(s->prm_giou));
    for (int t = 0; ok && t < s->max_clicks; t++)
        ok = cJSON_AddItemToArray(pm, sa_eval_json_number(s->prm_miou_by_step[t])) &&
             cJSON_AddItemToArray(pc, sa_eval_json_number(s->prm_ciou_by_step[t]));
    cJSON *lat = cJSON_AddObjectToObject(o, "request_ms");
    ok = ok && lat && cJSON_AddNumberToObject(lat, "n", (double)s->n_requests) &&
         cJSON_AddItemToObject(lat, "p50", sa_eval_json_number(s->req_ms_p50)) &&
         cJSON_AddItemToObject(lat, "p90", sa_eval_json_number(s->req_ms_p90)) &&
         cJSON_AddItemToObject(lat, "p99", sa_eval_json_number(s->req_ms_p99));
    cJSON *f = cJSON_AddObjectToObject(o, "failures");
    ok = ok && f &&
         cJSON_AddNumberToObject(f, "unparseable_reply", s->failures[SA_EVAL_END_UNPARSEABLE]) &&
         cJSON_AddNumberToObject(f, "policy_error", s->failures[SA_EVAL_END_POLICY]) &&
         cJSON_AddNumberToObject(f, "tool_error", s->failures[SA_EVAL_END_TOOL]) &&
         cJSON_AddNumberToObject(f, "load_error", s->failures[SA_EVAL_END_LOAD]);
    return ok ? SA_OK : SA_ERR_NOMEM;
}

static cJSON *report_doc(const sa_eval_report *r) {
    cJSON *doc = cJSON_CreateObject();
    if (!doc) return NULL;
    cJSON_AddStringToObject(doc, "tool", r->tool ? r->tool : "");
    cJSON_AddStringToObject(doc, "annotator", r->annotator ? r->annotator : "");
    cJSON_AddNumberToObject(doc, "max_clicks", r->max_clicks);
    cJSON *all = cJSON_AddObjectToObject(doc, "datasets");
    for (int d = 0; all && d < r->n_entries; d++)
        cJSON_AddItemToObject(all, r->entries[d].name, entry_json(&r->entries[d], r->max_clicks));
    return doc;
}

char *sa_eval_report_json(const sa_eval_report *r, sa_error *err) {
    if (!r || (r->n_entries > 0 && !r->entries)) {
        sa_error_set(err, SA_ERR_INVALID, "eval report: NULL argument");
        return NULL;
    }
    cJSON *doc = report_doc(r);
    char *text = doc ? sa__json_print(doc, 1) : NULL;
    cJSON_Delete(doc);
    if (!text) sa_error_set(err, SA_ERR_NOMEM, "eval report: out of memory formatting JSON");
    return text;
}

int sa_eval_report_write_json(const char *path, const sa_eval_report *r, sa_error *err) {
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "eval report: NULL path");
    char *text = sa_eval_report_json(r, err);
    if (!text) return err ? err->code : SA_ERR_NOMEM;
    int rc = sa_file_write_text(path, text, err);
    free(text);
    return rc;
}

/* One line per entry: mIoU after each click (ciou 0) or cIoU by step (ciou 1). */
static int write_chart(const char *path, const sa_eval_report *r, int ciou, sa_error *err) {
    if (!path || !r || r->n_entries < 0 || (r->n_entries > 0 && !r->entries))
        return sa_error_set(err, SA_ERR_INVALID, "eval chart: NULL argument");
    sa_chart_series *series = calloc((size_t)(r->n_entries ? r->n_entries : 1), sizeof *series);
    char(*notes)[64] = calloc((size_t)(r->n_entries ? r->n_entries : 1), sizeof *notes);
    if (!series || !notes) {
        free(series);
        free(notes);
        return sa_error_set(err, SA_ERR_NOMEM, "eval chart: out of memory");
    }
    for (int d = 0; d < r->n_entries; d++) {
        const sa_metrics_summary *s = &r->entries[d].result->summary;
        const sa_eval_refer_summary *rf = r->entries[d].refer;
        if (ciou && rf)
            snprintf(notes[d], sizeof notes[d], "cIoU %.4f, PRM %.4f", rf->ciou, rf->prm_ciou);
        else
            snprintf(notes[d], sizeof notes[d], "NoC@85 %.2f, NoC@90 %.2f", s->noc[SA_TAU_85],
                     s->noc[SA_TAU_90]);
        series[d].name = r->entries[d].name;
        series[d].y = !ciou ? s->miou + 1 : rf ? rf->ciou_by_step : s->ciou + 1;
        series[d].n = s->max_clicks;
        series[d].note = notes[d];
    }
    char sub[160];
    snprintf(sub, sizeof sub, "tool: %s; %s; %d clicks per image", r->tool ? r->tool : "?",
             r->annotator_label ? r->annotator_label
             : r->annotator     ? r->annotator
                                : "?",
             r->max_clicks);
    int rc =
        sa_chart_svg_write(path, ciou ? "cIoU vs number of clicks" : "mIoU vs number of clicks",
                           sub, series, r->n_entries, err);
    free(series);
    free(notes);
    return rc;
}

int sa_eval_report_write_chart(const char *path, const sa_eval_report *r, sa_error *err) {
    return write_chart(path, r, 0, err);
}

int sa_eval_report_write_ciou_chart(const char *path, const sa_eval_report *r, sa_error *err) {
    return write_chart(path, r, 1, err);
}

/* ---- merging the part files of a sharded run ---- */

typedef struct merge_ctx {
    sa_eval_book *book;
    sa_part *part; /* the merged per-sample file, under its temporary name */
    char *tmp;
} merge_ctx;

static int merge_header(void *user, const cJSON *header, sa_error *err) {
    merge_ctx *m = user;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(header, "config");
    int rc = sa_eval_book_new(cfg, &m->book, err);
    if (rc != SA_OK) return rc;
    sa_part_header h = {.command = "eval",
                        .shard = sa_shard_whole(),
                        .total = sa_eval_book_total(m->book),
                        .config = cfg};
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(header, "total");
    if (!cJSON_IsNumber(total) || total->valueint != h.total)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "merge: the parts count %d items, their config's sets %d",
                            cJSON_IsNumber(total) ? total->valueint : -1, h.total);
    return sa_part_open(m->tmp, h, 0, NULL, NULL, NULL, &m->part, err);
}

static int merge_record(void *user, const cJSON *rec, sa_error *err) {
    merge_ctx *m = user;
    int rc = sa_eval_book_add(m->book, rec, err);
    if (rc == SA_OK) rc = sa_part_append(m->part, rec, err);
    return rc;
}

int sa_eval_merge(const char *const *parts, int n_parts, const char *out, sa_error *err) {
    if (!parts || n_parts < 1 || !out)
        return sa_error_set(err, SA_ERR_INVALID, "eval merge: no parts or no output");
    merge_ctx m = {0};
    char *part_path = sa_shard_part_path(out, sa_shard_whole());
    char *chart = sa_eval_side_path(out, ".svg"), *ciou = sa_eval_side_path(out, ".ciou.svg");
    size_t n = part_path ? strlen(part_path) : 0;
    m.tmp = part_path ? malloc(n + 5) : NULL;
    if (!m.tmp || !chart || !ciou) {
        free(part_path);
        free(chart);
        free(ciou);
        free(m.tmp);
        return sa_error_set(err, SA_ERR_NOMEM, "eval merge: out of memory");
    }
    snprintf(m.tmp, n + 5, "%s.tmp", part_path);
    sa_parts_merge_ops ops = {.on_header = merge_header, .on_record = merge_record};
    int rc = sa_parts_merge(parts, n_parts, "eval", ops, &m, err);
    if (rc == SA_OK) {
        sa_part *p = m.part;
        m.part = NULL;
        rc = sa_part_finish(p, err);
    }
    if (rc == SA_OK) rc = sa_eval_book_write(m.book, out, chart, ciou, err);
    if (rc == SA_OK && rename(m.tmp, part_path) != 0)
        rc = sa_error_set(err, SA_ERR_IO, "%s: cannot rename into place", part_path);
    sa_part_close(m.part);
    if (rc != SA_OK) remove(m.tmp);
    sa_eval_book_free(m.book);
    free(part_path);
    free(chart);
    free(ciou);
    free(m.tmp);
    return rc;
}
