/* Per-sample records of the benchmark and the summaries made from them (segagent/eval_records.h).
 *
 * Design: the record is the unit of truth. Whatever a run did in memory, its numbers are recomputed from
 * records read back through sa_eval_record_parse, so a sample that was run an hour ago by a killed process
 * (resume) or on another node (merge) counts exactly as one run now. What the metrics need is stored exactly:
 * intersections and unions as integers (the IoUs are recomputed from them, bit for bit those of the run),
 * predicted IoUs and timings as printed numbers (timings only feed the latency columns).
 */
#include "segagent/eval_records.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/rle.h"
#include "base/util.h"

/* ---- the run's config ---- */

static cJSON *str_or_empty(const char *s) {
    return cJSON_CreateString(s ? s : "");
}

cJSON *sa_eval_run_config(const sa_eval_run_info *ri) {
    if (!ri || ri->n_sets < 0 || (ri->n_sets > 0 && !ri->sets) || ri->max_clicks < 1 ||
        ri->max_clicks > SA_METRICS_MAX_CLICKS)
        return NULL;
    cJSON *c = cJSON_CreateObject();
    int ok = c && cJSON_AddItemToObject(c, "tool", str_or_empty(ri->tool)) &&
             cJSON_AddItemToObject(c, "annotator", str_or_empty(ri->annotator)) &&
             cJSON_AddItemToObject(c, "annotator_label", str_or_empty(ri->annotator_label)) &&
             cJSON_AddNumberToObject(c, "max_clicks", ri->max_clicks);
    cJSON *opts = ri->options ? cJSON_Duplicate(ri->options, 1) : cJSON_CreateObject();
    ok = ok && opts && cJSON_AddItemToObject(c, "options", opts);
    if (!ok) cJSON_Delete(opts);
    cJSON *sets = ok ? cJSON_AddArrayToObject(c, "sets") : NULL;
    ok = ok && sets;
    for (int k = 0; ok && k < ri->n_sets; k++) {
        const sa_eval_set_info *si = &ri->sets[k];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(sets, o) &&
             cJSON_AddItemToObject(o, "name", str_or_empty(si->name)) &&
             cJSON_AddItemToObject(o, "dir", str_or_empty(si->dir)) &&
             cJSON_AddItemToObject(o, "layout", str_or_empty(si->layout)) &&
             cJSON_AddItemToObject(o, "split", str_or_empty(si->split)) &&
             cJSON_AddBoolToObject(o, "referring", si->referring) &&
             cJSON_AddNumberToObject(o, "items", si->items);
        cJSON *w = ok ? cJSON_AddArrayToObject(o, "warnings") : NULL;
        ok = ok && w && si->items >= 0 && si->name && si->name[0];
        for (int j = 0; ok && j < si->n_warnings; j++)
            ok = cJSON_AddItemToArray(w, str_or_empty(si->warnings[j]));
    }
    if (!ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* ---- one record ---- */

static const char *const end_names[5] = {"normal", "unparseable_reply", "policy_error",
                                         "tool_error", "load_error"};

static cJSON *num_or_null(double v, double scale) {
    if (!isfinite(v)) return cJSON_CreateNull();
    return cJSON_CreateNumber(round(v * scale) / scale);
}

static cJSON *step_json(const sa_eval_sample *s, int k) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddNumberToObject(o, "t", k + 1) != NULL;
    if (k < s->n) {
        int c[3] = {s->clicks[k].y, s->clicks[k].x, s->clicks[k].positive};
        ok = ok && cJSON_AddItemToObject(o, "click", cJSON_CreateIntArray(c, 3)) &&
             cJSON_AddNumberToObject(o, "iou", round(s->iou[k] * 1e6) / 1e6) &&
             cJSON_AddNumberToObject(o, "inter", (double)s->inter[k]) &&
             cJSON_AddNumberToObject(o, "union", (double)s->uni[k]) &&
             cJSON_AddItemToObject(o, "tool_ms", num_or_null(s->ms[k], 1e3));
    } else {
        ok = ok && cJSON_AddNullToObject(o, "click");
    }
    int asked = k < s->n_asked;
    ok = ok &&
         cJSON_AddItemToObject(o, "reply",
                               asked && s->replies[k] ? cJSON_CreateString(s->replies[k])
                                                      : cJSON_CreateNull()) &&
         cJSON_AddItemToObject(o, "pred_iou", num_or_null(asked ? s->pred_iou[k] : NAN, 1e6)) &&
         cJSON_AddItemToObject(o, "request_ms", num_or_null(asked ? s->req_ms[k] : NAN, 1e3));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_mask(cJSON *o, const sa_eval_sample *s) {
    if (!s->mask_rle) return cJSON_AddNullToObject(o, "mask") != NULL;
    cJSON *m = cJSON_AddObjectToObject(o, "mask");
    int size[2] = {s->height, s->width};
    return m && cJSON_AddItemToObject(m, "size", cJSON_CreateIntArray(size, 2)) &&
           cJSON_AddStringToObject(m, "counts", s->mask_rle);
}

cJSON *sa_eval_record_json(const sa_eval_sample *s, int i, const char *set, const char *split,
                           const char *caption) {
    if (!s || !set || i < 0) return NULL;
    const char *id = s->name ? s->name : "";
    size_t kn = strlen(set) + strlen(id) + 2;
    char *key = malloc(kn);
    cJSON *o = key ? cJSON_CreateObject() : NULL;
    if (!o) {
        free(key);
        return NULL;
    }
    snprintf(key, kn, "%s/%s", set, id);
    int kind = s->end_kind >= 0 && s->end_kind < 5 ? s->end_kind : 0;
    int ok = cJSON_AddNumberToObject(o, "i", i) && cJSON_AddStringToObject(o, "key", key) &&
             cJSON_AddStringToObject(o, "dataset", set) &&
             cJSON_AddStringToObject(o, "split", split ? split : "") &&
             cJSON_AddStringToObject(o, "id", id) &&
             cJSON_AddItemToObject(o, "caption",
                                   caption ? cJSON_CreateString(caption) : cJSON_CreateNull()) &&
             cJSON_AddNumberToObject(o, "width", s->width) &&
             cJSON_AddNumberToObject(o, "height", s->height) &&
             cJSON_AddNumberToObject(o, "status", s->status) &&
             cJSON_AddStringToObject(o, "end", end_names[kind]) &&
             cJSON_AddItemToObject(o, "error",
                                   s->error ? cJSON_CreateString(s->error) : cJSON_CreateNull()) &&
             cJSON_AddBoolToObject(o, "done_early", s->done_early);
    free(key);
    if (ok && s->iou) {
        cJSON *st = cJSON_AddObjectToObject(o, "start");
        ok = st && cJSON_AddNumberToObject(st, "inter", (double)s->inter0) &&
             cJSON_AddNumberToObject(st, "union", (double)s->uni0);
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "start") != NULL;
    }
    cJSON *steps = ok ? cJSON_AddArrayToObject(o, "steps") : NULL;
    ok = ok && steps;
    int n = s->iou ? (s->n_asked > s->n ? s->n_asked : s->n) : 0;
    for (int k = 0; ok && k < n; k++) {
        cJSON *so = step_json(s, k);
        ok = so && cJSON_AddItemToArray(steps, so);
        if (!ok) cJSON_Delete(so);
    }
    ok = ok && add_mask(o, s);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- reading a record back ---- */

static int get_int(const cJSON *o, const char *key, double lo, double hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (int)v->valuedouble;
    return 1;
}

static int get_u64(const cJSON *o, const char *key, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

/* A number or null (NAN); 0 for anything else. */
static int get_opt_num(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(v) || !v) {
        *out = NAN;
        return 1;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
    *out = v->valuedouble;
    return 1;
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double iou_of(uint64_t inter, uint64_t uni) {
    return uni ? (double)inter / (double)uni : 1.0;
}

/* Step k of a measured sample. clicks_done: 1 once a step without a click was seen. */
static int parse_step(const cJSON *st, int k, int keep_replies, sa_eval_sample *s,
                      int *clicks_done) {
    int t = 0;
    if (!cJSON_IsObject(st) || !get_int(st, "t", k + 1, k + 1, &t)) return 0;
    const cJSON *click = cJSON_GetObjectItemCaseSensitive(st, "click");
    if (cJSON_IsArray(click)) {
        if (*clicks_done || cJSON_GetArraySize(click) != 3) return 0;
        int c[3];
        for (int j = 0; j < 3; j++) {
            const cJSON *v = cJSON_GetArrayItem(click, j);
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                !(fabs(v->valuedouble) < 1e9))
                return 0;
            c[j] = (int)v->valuedouble;
        }
        int n = s->n;
        s->clicks[n].y = c[0];
        s->clicks[n].x = c[1];
        s->clicks[n].positive = c[2] != 0;
        if (!get_u64(st, "inter", &s->inter[n]) || !get_u64(st, "union", &s->uni[n]) ||
            s->inter[n] > s->uni[n] || !get_opt_num(st, "tool_ms", &s->ms[n]))
            return 0;
        s->iou[n] = iou_of(s->inter[n], s->uni[n]);
        s->n++;
    } else if (cJSON_IsNull(click)) {
        if (*clicks_done) return 0; /* one step without a click at most, and last */
        *clicks_done = 1;
    } else {
        return 0;
    }
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(st, "reply");
    if (reply && !cJSON_IsNull(reply) && !cJSON_IsString(reply)) return 0;
    int a = s->n_asked++;
    if (!get_opt_num(st, "pred_iou", &s->pred_iou[a]) ||
        !get_opt_num(st, "request_ms", &s->req_ms[a]))
        return 0;
    if (keep_replies && cJSON_IsString(reply) && !(s->replies[a] = sa__strdup(reply->valuestring)))
        return -1;
    return 1;
}

static int alloc_arrays(sa_eval_sample *s, int n_max) {
    size_t n = (size_t)(n_max > 0 ? n_max : 1);
    s->clicks = calloc(n, sizeof *s->clicks);
    s->iou = calloc(n, sizeof *s->iou);
    s->ms = calloc(n, sizeof *s->ms);
    s->inter = calloc(n, sizeof *s->inter);
    s->uni = calloc(n, sizeof *s->uni);
    s->pred_iou = calloc(n, sizeof *s->pred_iou);
    s->req_ms = calloc(n, sizeof *s->req_ms);
    s->replies = calloc(n, sizeof *s->replies);
    return s->clicks && s->iou && s->ms && s->inter && s->uni && s->pred_iou && s->req_ms &&
           s->replies;
}

static int bad(sa_eval_sample *s, sa_error *err, int i, const char *what) {
    sa_eval_sample_free(s);
    return sa_error_set(err, SA_ERR_FORMAT, "eval record %d: %s", i, what);
}

/* The measured part: the start state and the steps. */
static int parse_measured(const cJSON *rec, const cJSON *start, int max_clicks, int keep_replies,
                          sa_eval_sample *out, int i, sa_error *err) {
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(rec, "steps");
    if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) > max_clicks)
        return bad(out, err, i, "\"steps\" is not an array of at most max_clicks steps");
    if (!get_u64(start, "inter", &out->inter0) || !get_u64(start, "union", &out->uni0) ||
        out->inter0 > out->uni0)
        return bad(out, err, i, "bad \"start\" (inter <= union, integers)");
    out->iou0 = iou_of(out->inter0, out->uni0);
    if (!alloc_arrays(out, max_clicks)) {
        sa_eval_sample_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "eval record %d: out of memory", i);
    }
    int k = 0, clicks_done = 0;
    const cJSON *st;
    cJSON_ArrayForEach(st, steps) {
        int r = parse_step(st, k++, keep_replies, out, &clicks_done);
        if (r < 0) {
            sa_eval_sample_free(out);
            return sa_error_set(err, SA_ERR_NOMEM, "eval record %d: out of memory", i);
        }
        if (r == 0) {
            char what[64];
            snprintf(what, sizeof what, "bad step %d", k);
            return bad(out, err, i, what);
        }
    }
    const cJSON *mask = cJSON_GetObjectItemCaseSensitive(rec, "mask");
    const char *counts = cJSON_IsObject(mask) ? get_str(mask, "counts") : NULL;
    if (counts && !(out->mask_rle = sa__strdup(counts))) {
        sa_eval_sample_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "eval record %d: out of memory", i);
    }
    return SA_OK;
}

int sa_eval_record_parse(const cJSON *rec, int max_clicks, int keep_replies, sa_eval_sample *out,
                         sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "eval record: NULL output");
    memset(out, 0, sizeof *out);
    int i = -1;
    if (!cJSON_IsObject(rec) || !get_int(rec, "i", 0, 2147483647.0, &i))
        return sa_error_set(err, SA_ERR_FORMAT, "eval record: not an object with an item number");
    if (max_clicks < 1 || max_clicks > SA_METRICS_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_INVALID, "eval record %d: max clicks %d", i, max_clicks);
    const char *id = get_str(rec, "id"), *end = get_str(rec, "end");
    if (!id || !end || !get_int(rec, "width", 0, 1e6, &out->width) ||
        !get_int(rec, "height", 0, 1e6, &out->height) ||
        !get_int(rec, "status", -1e6, 1e6, &out->status))
        return bad(out, err, i, "needs \"id\", \"end\", \"width\", \"height\", \"status\"");
    out->end_kind = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(end, end_names[k])) out->end_kind = k;
    if (out->end_kind < 0) return bad(out, err, i, "unknown \"end\"");
    out->item = -1;
    out->done_early = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "done_early"));
    const char *msg = get_str(rec, "error");
    out->name = sa__strdup(id);
    if (!out->name || (msg && !(out->error = sa__strdup(msg)))) {
        sa_eval_sample_free(out);
        return sa_error_set(err, SA_ERR_NOMEM, "eval record %d: out of memory", i);
    }
    const cJSON *start = cJSON_GetObjectItemCaseSensitive(rec, "start");
    if (cJSON_IsNull(start)) return SA_OK; /* skipped: nothing measured */
    if (!cJSON_IsObject(start)) return bad(out, err, i, "\"start\" is neither an object nor null");
    return parse_measured(rec, start, max_clicks, keep_replies, out, i, err);
}

/* ---- the book ---- */

typedef struct book_set {
    const char *name, *dir, *layout, *split; /* into the config */
    int referring, first, items;
    const char **warnings;
    int n_warnings;
    sa_eval_result res; /* samples: shallow copies of the book's (not owned) */
    sa_eval_refer_summary refer;
    int ok;
} book_set;

struct sa_eval_book {
    cJSON *config; /* owned copy */
    const char *tool, *annotator, *annotator_label;
    int max_clicks, total, n_sets;
    book_set *sets;
    sa_eval_sample *samples; /* [total] */
    unsigned char *have;     /* [total] */
    sa_eval_report_entry *entries;
    int n_entries;
};

void sa_eval_book_free(sa_eval_book *b) {
    if (!b) return;
    for (int i = 0; b->samples && i < b->total; i++)
        sa_eval_sample_free(&b->samples[i]);
    for (int k = 0; b->sets && k < b->n_sets; k++) {
        free(b->sets[k].warnings);
        free(b->sets[k].res.samples);
    }
    free(b->sets);
    free(b->samples);
    free(b->have);
    free(b->entries);
    cJSON_Delete(b->config);
    free(b);
}

static int parse_set(const cJSON *o, book_set *s, int first) {
    int items = 0;
    s->name = get_str(o, "name");
    s->dir = get_str(o, "dir");
    s->layout = get_str(o, "layout");
    s->split = get_str(o, "split");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "warnings");
    if (!cJSON_IsObject(o) || !s->name || !s->name[0] || !s->dir || !s->layout || !s->split ||
        !get_int(o, "items", 0, 2147483647.0 - first, &items) || !cJSON_IsArray(w))
        return 0;
    s->referring = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "referring"));
    s->first = first;
    s->items = items;
    int n = cJSON_GetArraySize(w);
    s->warnings = calloc((size_t)(n > 0 ? n : 1), sizeof *s->warnings);
    if (!s->warnings) return -1;
    const cJSON *x;
    cJSON_ArrayForEach(x, w) {
        if (!cJSON_IsString(x)) return 0;
        s->warnings[s->n_warnings++] = x->valuestring;
    }
    return 1;
}

int sa_eval_book_new(const cJSON *config, sa_eval_book **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "eval records: NULL output");
    *out = NULL;
    sa_eval_book *b = calloc(1, sizeof *b);
    if (!b || !(b->config = cJSON_Duplicate(config, 1))) {
        free(b);
        return sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
    }
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(b->config, "sets");
    b->tool = get_str(b->config, "tool");
    b->annotator = get_str(b->config, "annotator");
    b->annotator_label = get_str(b->config, "annotator_label");
    int rc = SA_OK;
    if (!cJSON_IsObject(b->config) || !b->tool || !b->annotator || !b->annotator_label ||
        !get_int(b->config, "max_clicks", 1, SA_METRICS_MAX_CLICKS, &b->max_clicks) ||
        !cJSON_IsArray(sets) || cJSON_GetArraySize(sets) > 4096)
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "eval run config: needs tool, annotator, annotator_label, max_clicks, "
                          "sets");
    b->n_sets = rc == SA_OK ? cJSON_GetArraySize(sets) : 0;
    b->sets = calloc((size_t)(b->n_sets > 0 ? b->n_sets : 1), sizeof *b->sets);
    b->entries = calloc((size_t)(b->n_sets > 0 ? b->n_sets : 1), sizeof *b->entries);
    if (rc == SA_OK && (!b->sets || !b->entries))
        rc = sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
    for (int k = 0; rc == SA_OK && k < b->n_sets; k++) {
        int r = parse_set(cJSON_GetArrayItem(sets, k), &b->sets[k], b->total);
        if (r < 0) rc = sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
        if (r == 0)
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "eval run config: set %d needs name, dir, layout, split, items, "
                              "warnings",
                              k);
        for (int j = 0; rc == SA_OK && j < k; j++)
            if (!strcmp(b->sets[j].name, b->sets[k].name))
                rc = sa_error_set(err, SA_ERR_FORMAT, "eval run config: two sets named '%s'",
                                  b->sets[k].name);
        if (rc == SA_OK) b->total += b->sets[k].items;
    }
    if (rc == SA_OK) {
        b->samples = calloc((size_t)(b->total > 0 ? b->total : 1), sizeof *b->samples);
        b->have = calloc((size_t)(b->total > 0 ? b->total : 1), 1);
        if (!b->samples || !b->have)
            rc = sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
    }
    if (rc != SA_OK) {
        sa_eval_book_free(b);
        return rc;
    }
    *out = b;
    return SA_OK;
}

int sa_eval_book_total(const sa_eval_book *b) {
    return b ? b->total : 0;
}
int sa_eval_book_n_sets(const sa_eval_book *b) {
    return b ? b->n_sets : 0;
}
const cJSON *sa_eval_book_config(const sa_eval_book *b) {
    return b ? b->config : NULL;
}
int sa_eval_book_max_clicks(const sa_eval_book *b) {
    return b ? b->max_clicks : 0;
}
int sa_eval_book_set_first(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets ? b->sets[set].first : -1;
}
const char *sa_eval_book_set_name(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets ? b->sets[set].name : NULL;
}
int sa_eval_book_has(const sa_eval_book *b, int i) {
    return b && i >= 0 && i < b->total && b->have[i];
}
int sa_eval_book_set_referring(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets && b->sets[set].referring;
}
int sa_eval_book_set_ok(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets && b->sets[set].ok;
}
const sa_eval_result *sa_eval_book_result(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets ? &b->sets[set].res : NULL;
}
const sa_eval_refer_summary *sa_eval_book_refer(const sa_eval_book *b, int set) {
    return b && set >= 0 && set < b->n_sets ? &b->sets[set].refer : NULL;
}

/* The set holding item i. */
static int set_of(const sa_eval_book *b, int i) {
    for (int k = 0; k < b->n_sets; k++)
        if (i >= b->sets[k].first && i < b->sets[k].first + b->sets[k].items) return k;
    return -1;
}

int sa_eval_book_add(sa_eval_book *b, const cJSON *rec, sa_error *err) {
    if (!b || !rec) return sa_error_set(err, SA_ERR_INVALID, "eval records: NULL argument");
    int i = -1;
    if (!get_int(rec, "i", 0, b->total - 1.0, &i))
        return sa_error_set(err, SA_ERR_FORMAT, "eval record: no item number in 0..%d",
                            b->total - 1);
    int k = set_of(b, i);
    const char *key = get_str(rec, "key");
    size_t nl = strlen(b->sets[k].name);
    if (!key || strncmp(key, b->sets[k].name, nl) || key[nl] != '/')
        return sa_error_set(err, SA_ERR_FORMAT,
                            "eval record %d: key '%s' is not of set '%s' (item %d belongs to it)",
                            i, key ? key : "(none)", b->sets[k].name, i);
    if (b->have[i]) return sa_error_set(err, SA_ERR_STATE, "eval record %d: item seen twice", i);
    int rc = sa_eval_record_parse(rec, b->max_clicks, 0, &b->samples[i], err);
    if (rc != SA_OK) return rc;
    b->samples[i].item = i - b->sets[k].first;
    b->have[i] = 1;
    return SA_OK;
}

static int summarize_set(sa_eval_book *b, book_set *s, sa_error *err) {
    free(s->res.samples);
    memset(&s->res, 0, sizeof s->res);
    s->ok = 0;
    int n = 0;
    for (int j = 0; j < s->items; j++)
        n += b->have[s->first + j];
    s->res.samples = calloc((size_t)(n > 0 ? n : 1), sizeof *s->res.samples);
    if (!s->res.samples) return sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
    for (int j = 0; j < s->items; j++)
        if (b->have[s->first + j]) s->res.samples[s->res.n_samples++] = b->samples[s->first + j];
    int rc = sa_eval_result_summarize(&s->res, b->max_clicks, err);
    if (rc == SA_OK && sa_eval_refer_summarize(&s->res, b->max_clicks, &s->refer) != SA_OK)
        rc = sa_error_set(err, SA_ERR_NOMEM, "eval records: out of memory");
    s->ok = rc == SA_OK && s->res.n_samples > s->res.n_skipped;
    return rc;
}

int sa_eval_book_summarize(sa_eval_book *b, sa_error *err) {
    if (!b) return sa_error_set(err, SA_ERR_INVALID, "eval records: NULL book");
    b->n_entries = 0;
    for (int k = 0; k < b->n_sets; k++) {
        book_set *s = &b->sets[k];
        int rc = summarize_set(b, s, err);
        if (rc != SA_OK) return rc;
        if (!s->ok) continue;
        b->entries[b->n_entries++] =
            (sa_eval_report_entry){.name = s->name,
                                   .dir = s->dir,
                                   .layout = s->layout,
                                   .result = &s->res,
                                   .warnings = s->warnings,
                                   .n_warnings = s->n_warnings,
                                   .refer = s->referring ? &s->refer : NULL};
    }
    return SA_OK;
}

sa_eval_report sa_eval_book_report(const sa_eval_book *b) {
    sa_eval_report r;
    memset(&r, 0, sizeof r);
    if (!b) return r;
    r.tool = b->tool;
    r.annotator = b->annotator;
    r.annotator_label = b->annotator_label;
    r.max_clicks = b->max_clicks;
    r.entries = b->entries;
    r.n_entries = b->n_entries;
    return r;
}

int sa_eval_book_write(sa_eval_book *b, const char *json, const char *chart, const char *ciou_chart,
                       sa_error *err) {
    int rc = sa_eval_book_summarize(b, err);
    if (rc != SA_OK) return rc;
    if (b->n_entries == 0)
        return sa_error_set(err, SA_ERR_NOT_FOUND, "eval: no set has an evaluated sample");
    sa_eval_report rep = sa_eval_book_report(b);
    if (json && (rc = sa_eval_report_write_json(json, &rep, err)) != SA_OK) return rc;
    if (chart && (rc = sa_eval_report_write_chart(chart, &rep, err)) != SA_OK) return rc;
    if (ciou_chart && (rc = sa_eval_report_write_ciou_chart(ciou_chart, &rep, err)) != SA_OK)
        return rc;
    return SA_OK;
}

char *sa_eval_side_path(const char *json, const char *suffix) {
    if (!json || !suffix) return NULL;
    size_t n = strlen(json);
    const char *slash = strrchr(json, '/');
    const char *dot = strrchr(json, '.');
    const char *base = slash ? slash + 1 : json;
    if (dot && dot > base) n = (size_t)(dot - json);
    size_t sl = strlen(suffix);
    char *p = malloc(n + sl + 1);
    if (!p) return NULL;
    memcpy(p, json, n);
    memcpy(p + n, suffix, sl + 1);
    return p;
}
