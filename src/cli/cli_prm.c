/* segagent prm-select: offline PRM selection over a saved per-sample file of `segagent eval` (a part file,
 * docs/eval-records.md). Per sample, the state whose predicted IoU ("Current IOU" of the mask entering a step)
 * is highest is chosen, and the cIoU / gIoU of those choices are reported beside the last step's. The file is
 * only read: a torn last line (a run still going, or killed) is left out, an unfinished part is fine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "segagent/eval_records.h"
#include "segagent/eval_report.h"
#include "segagent/fileio.h"
#include "segagent/partfile.h"

static const char usage[] =
    "usage: segagent prm-select SAMPLES.jsonl [--json PATH]\n"
    "\n"
    "Offline PRM selection: reads the per-sample records of `segagent eval` (the\n"
    "file beside --json, e.g. out.part.jsonl, a shard's part file, or the merged\n"
    "file) and, per sample, chooses the mask with the highest predicted IoU: the\n"
    "model's \"Current IOU\" is its estimate of the mask entering a step, so step\n"
    "k's reply scores the mask after k-1 clicks (the empty start for k = 1); ties go\n"
    "to the later mask; a sample without any prediction keeps its last mask.\n"
    "Reports per set: samples, cIoU and gIoU of the last mask, of the PRM choice,\n"
    "and how many samples the PRM choice moved to an earlier mask.\n"
    "\n"
    "options:\n"
    "  --json PATH   also write the numbers as JSON\n"
    "\n"
    "exit status: 0 done, 1 unreadable or damaged file, 2 usage error.\n";

/* Reads every complete record of the part file into the book (the header's config describes the run). */
static int read_records(const char *path, sa_eval_book **out, int *n_records, sa_error *err) {
    cJSON *head = NULL;
    int rc = sa_part_read_header(path, &head, err);
    if (rc != SA_OK) return rc;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(head, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "eval")) {
        cJSON_Delete(head);
        return sa_error_set(err, SA_ERR_FORMAT, "%s: not the records of `segagent eval`", path);
    }
    rc = sa_eval_book_new(cJSON_GetObjectItemCaseSensitive(head, "config"), out, err);
    cJSON_Delete(head);
    if (rc != SA_OK) return sa_error_prefix(err, "%s: ", path);
    FILE *f = fopen(path, "rb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    *n_records = 0;
    while (rc == SA_OK && (len = getline(&line, &cap, f)) >= 0) {
        if (++lineno == 1 || len == 0 || line[len - 1] != '\n')
            continue; /* header; a torn last line */
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)len);
        if (!rec)
            rc = sa_error_set(err, SA_ERR_FORMAT, "%s line %ld: not JSON", path, lineno);
        else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "end"))) {
            rc = sa_eval_book_add(*out, rec, err);
            if (rc != SA_OK) sa_error_prefix(err, "%s line %ld: ", path, lineno);
            (*n_records)++;
        }
        cJSON_Delete(rec);
    }
    free(line);
    fclose(f);
    if (rc == SA_OK) rc = sa_eval_book_summarize(*out, err);
    return rc;
}

/* Samples whose PRM choice at the last step is not their last mask. */
static int moved_earlier(const sa_eval_result *r, int max_clicks) {
    int n = 0;
    for (int i = 0; i < r->n_samples; i++) {
        const sa_eval_sample *s = &r->samples[i];
        if (s->iou && sa_eval_prm_state(s, max_clicks) != s->n) n++;
    }
    return n;
}

static cJSON *set_json(const sa_eval_refer_summary *rs, int moved) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "n_samples", rs->n_samples);
    cJSON_AddNumberToObject(o, "n_failed", rs->n_failed);
    cJSON_AddItemToObject(o, "ciou", sa_eval_json_number(rs->ciou));
    cJSON_AddItemToObject(o, "giou", sa_eval_json_number(rs->giou));
    cJSON_AddItemToObject(o, "prm_ciou", sa_eval_json_number(rs->prm_ciou));
    cJSON_AddItemToObject(o, "prm_giou", sa_eval_json_number(rs->prm_giou));
    cJSON_AddNumberToObject(o, "prm_earlier", moved);
    return o;
}

static int report(const char *path, const char *json, const sa_eval_book *b) {
    cJSON *doc = cJSON_CreateObject();
    cJSON *all = doc ? cJSON_AddObjectToObject(doc, "datasets") : NULL;
    if (doc) cJSON_AddStringToObject(doc, "file", path);
    cli_printf(stdout, "%-24s %7s %6s %7s %7s %8s %8s %7s\n", "set", "samples", "failed", "cIoU",
               "gIoU", "PRM cIoU", "PRM gIoU", "earlier");
    for (int k = 0; k < sa_eval_book_n_sets(b); k++) {
        const sa_eval_refer_summary *rs = sa_eval_book_refer(b, k);
        if (rs->n_samples == 0) continue;
        int moved = moved_earlier(sa_eval_book_result(b, k), sa_eval_book_max_clicks(b));
        cli_printf(stdout, "%-24.24s %7d %6d %7.4f %7.4f %8.4f %8.4f %7d\n",
                   sa_eval_book_set_name(b, k), rs->n_samples, rs->n_failed, rs->ciou, rs->giou,
                   rs->prm_ciou, rs->prm_giou, moved);
        if (all) cJSON_AddItemToObject(all, sa_eval_book_set_name(b, k), set_json(rs, moved));
    }
    int status = 0;
    if (json) {
        char *text = doc ? cJSON_Print(doc) : NULL;
        sa_error err = {0};
        if (!text || sa_file_write_text(json, text, &err) != SA_OK) {
            cli_printf(stderr, "prm-select: %s\n", text ? err.msg : "out of memory");
            status = 1;
        } else {
            cli_printf(stdout, "wrote %s\n", json);
        }
        free(text);
    }
    cJSON_Delete(doc);
    return status;
}

int cli_prm_select(int argc, char **argv) {
    const char *json = NULL, *pos[1] = {NULL};
    const cli_opt opts[] = {CLI_O_STR("json", &json)};
    int pr = cli_parse(argc, argv, opts, 1, pos, 1, NULL, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (!pos[0]) {
        cli_printf(stderr, "prm-select: give the per-sample file (see --help)\n");
        return 2;
    }
    if (json && cli_check_out_file("prm-select", "json", json)) return 1;
    sa_eval_book *b = NULL;
    sa_error err = {0};
    int n = 0, status = 1;
    if (read_records(pos[0], &b, &n, &err) != SA_OK)
        cli_printf(stderr, "prm-select: %s\n", err.msg);
    else if (n == 0)
        cli_printf(stderr, "prm-select: %s holds no sample records\n", pos[0]);
    else
        status = report(pos[0], json, b);
    sa_eval_book_free(b);
    return status;
}
