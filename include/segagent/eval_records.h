/* Per-sample records of the agent benchmark (docs/eval-records.md): every evaluated sample becomes one JSON
 * record in a part file (segagent/partfile.h), and every summary -- NoC/NoF/mIoU@k, cIoU/gIoU by step, the
 * PRM columns, the failures, the request latency -- is computed from those records, never from the state of
 * the run that produced them. So a resumed run, a run split into shards and merged, and one uninterrupted run
 * give the same numbers.
 *
 *   sa_eval_run_info ri = {.tool = "builtin", .annotator = ..., .max_clicks = 20, .sets = sets, .n_sets = 2};
 *   cJSON *cfg = sa_eval_run_config(&ri);                       // the part header's "config"
 *   sa_eval_book *b;
 *   sa_eval_book_new(cfg, &b, &err);
 *   // as samples finish (sa_eval_params.on_sample), in item order:
 *   cJSON *rec = sa_eval_record_json(s, sa_eval_book_set_first(b, set) + s->item, set_name, split, caption);
 *   sa_part_append(part, rec, &err);  sa_eval_book_add(b, rec, &err);  cJSON_Delete(rec);
 *   sa_eval_book_write(b, "out.json", "out.svg", "out.ciou.svg", &err);   // summaries from the records
 *   sa_eval_book_free(b);
 *
 * The run's item numbers: the sets of the config one after another, set k's items (after --limit) numbered
 * from sa_eval_book_set_first(b, k). A record's key is the set's name, "/", and the sample's id (its name in
 * the set): the key the shard rule hashes (segagent/shard.h).
 */
#ifndef SEGAGENT_EVAL_RECORDS_H
#define SEGAGENT_EVAL_RECORDS_H

#include <cjson/cJSON.h>

#include "segagent/error.h"
#include "segagent/eval_report.h"
#include "segagent/evaluate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One evaluated set of a run, as the config records it. */
typedef struct sa_eval_set_info {
    const char *name;   /* unique within the run (the JSON key, the record keys' prefix) */
    const char *dir;    /* where it was read from */
    const char *layout; /* sa_dataset_layout(), or "referring" */
    const char *split;  /* a referring set's split ("val", "all"), "" for an interactive set */
    int referring;      /* 1: the referring metrics (cIoU, gIoU, by step, PRM) are reported too */
    int items;          /* items evaluated in the whole run (after --limit), >= 0 */
    const char *const *warnings; /* the set's warnings (may be NULL with n_warnings 0) */
    int n_warnings;
} sa_eval_set_info;

typedef struct sa_eval_run_info {
    const char *tool;            /* the tool's name */
    const char *annotator;       /* who clicked (the JSON's "annotator") */
    const char *annotator_label; /* the same for the charts' subtitle */
    int max_clicks;              /* 1..SA_METRICS_MAX_CLICKS */
    const cJSON
        *options; /* other options that decide the results (tool model, policy, ...); may be NULL */
    const sa_eval_set_info *sets;
    int n_sets;
} sa_eval_run_info;

/* The run's description as a part header's config object (cJSON_Delete it); NULL when out of memory or for
 * bad arguments. */
cJSON *sa_eval_run_config(const sa_eval_run_info *info);

/* The record of sample s (docs/eval-records.md) as item i of the run: key set + "/" + s->name. caption may be
 * NULL. NULL when out of memory. */
cJSON *sa_eval_record_json(const sa_eval_sample *s, int i, const char *set, const char *split,
                           const char *caption);

/* Reads a record back (untrusted: every field checked, SA_ERR_FORMAT naming it). *out receives the sample
 * (free with sa_eval_sample_free); the IoUs are recomputed from the stored intersections and unions, so they
 * are bit for bit those of the run. Replies are kept only with keep_replies. max_clicks bounds the steps. */
int sa_eval_record_parse(const cJSON *rec, int max_clicks, int keep_replies, sa_eval_sample *out,
                         sa_error *err);

/* The records of one run, collected in item order, and the summaries made from them. */
typedef struct sa_eval_book sa_eval_book;

/* A book for the run config describes (sa_eval_run_config, or a part header's "config"; checked). */
int sa_eval_book_new(const cJSON *config, sa_eval_book **out, sa_error *err);
void sa_eval_book_free(sa_eval_book *b);

int sa_eval_book_total(const sa_eval_book *b);  /* items in the whole run */
int sa_eval_book_n_sets(const sa_eval_book *b); /* sets in the config */
int sa_eval_book_set_first(const sa_eval_book *b,
                           int set); /* item number of the set's first item */
const char *sa_eval_book_set_name(const sa_eval_book *b, int set);
int sa_eval_book_max_clicks(const sa_eval_book *b);
/* The run's config the book was made from (the part header's "config"); owned by the book. */
const cJSON *sa_eval_book_config(const sa_eval_book *b);

/* Adds a record (its "i" places it; its key must start with its set's name and "/"). SA_ERR_FORMAT for a bad
 * record, SA_ERR_STATE when item i is already there, SA_ERR_NOMEM. */
int sa_eval_book_add(sa_eval_book *b, const cJSON *rec, sa_error *err);
/* Non-zero when item i has a record. */
int sa_eval_book_has(const sa_eval_book *b, int i);

/* Summarises every set from its records (call after the last add; again after more adds). SA_OK,
 * SA_ERR_NOMEM. The accessors below then describe set k: its result (samples of the records present, in item
 * order, with summary), its referring metrics (computed for every set; reported for referring ones) and
 * whether it has at least one measured sample (only those sets are reported). */
int sa_eval_book_summarize(sa_eval_book *b, sa_error *err);
const sa_eval_result *sa_eval_book_result(const sa_eval_book *b, int set);
const sa_eval_refer_summary *sa_eval_book_refer(const sa_eval_book *b, int set);
int sa_eval_book_set_referring(const sa_eval_book *b, int set);
int sa_eval_book_set_ok(const sa_eval_book *b, int set);

/* The report of the sets with a measured sample (after sa_eval_book_summarize); it points into the book. */
sa_eval_report sa_eval_book_report(const sa_eval_book *b);

/* Summarises and writes the summary JSON and the two charts (each may be NULL = not written). SA_OK, or the
 * first error (SA_ERR_NOT_FOUND when no set has a measured sample: nothing is written then). */
int sa_eval_book_write(sa_eval_book *b, const char *json, const char *chart, const char *ciou_chart,
                       sa_error *err);

/* The chart paths beside a JSON path: "out.json" -> "out.svg" (suffix ".svg") or "out.ciou.svg" (suffix
 * ".ciou.svg"); the extension of the last path component is replaced. malloc'd; NULL when out of memory. */
char *sa_eval_side_path(const char *json, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
