/* Merging the part files of a sharded trajectory run (segagent/record.h, docs/parts.md) into the trajectory
 * JSON one unsharded run writes.
 *
 * Design: sa_parts_merge does every check on the parts and hands the records over in item order; this file
 * turns them back into the file. The run's info comes from the parts' shared header (stored without its date)
 * with the merge's date put back in its place, so the info reads as the unsharded run's. Each sample goes
 * through the trajectory reader and then the one trajectory writer: the parts are checked like any
 * trajectory file (a record edited by hand is refused, naming its item and key), and the samples are written
 * by the same code, in the same bytes, as an unsharded run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "segagent/partfile.h"
#include "segagent/record.h"
#include "segagent/trajectory.h"
#include "base/text.h"

typedef struct merge_ctx {
    const char *out;
    sa_traj_writer *w;
} merge_ctx;

/* The stored info with "date" (now, UTC) put back after "version", where sa_traj_info_json writes it. */
static char *info_with_date(const cJSON *info) {
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL, placed = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, info) {
        if (!ok) break;
        cJSON *copy = cJSON_Duplicate(x, 1);
        ok = copy && cJSON_AddItemToObject(o, x->string, copy);
        if (!ok) cJSON_Delete(copy);
        if (ok && !placed && !strcmp(x->string, "version"))
            placed = ok = cJSON_AddStringToObject(o, "date", date) != NULL;
    }
    if (ok && !placed) ok = cJSON_AddStringToObject(o, "date", date) != NULL;
    char *txt = ok ? sa__json_print(o, 0) : NULL;
    cJSON_Delete(o);
    return txt;
}

static int on_header(void *user, const cJSON *header, sa_error *err) {
    merge_ctx *m = user;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(header, "config");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(cfg, "info");
    if (!cJSON_IsObject(info))
        return sa_error_set(err, SA_ERR_FORMAT,
                            "merge: the parts' header has no trajectory info (config.info)");
    char *txt = info_with_date(info);
    if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "merge: out of memory");
    int rc = sa_traj_writer_open(m->out, txt, &m->w, err);
    free(txt);
    return rc;
}

/* One item's samples: read back with the trajectory reader's checks, written by the trajectory writer. */
static int on_record(void *user, const cJSON *rec, sa_error *err) {
    merge_ctx *m = user;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(rec, "data");
    int item = (int)cJSON_GetObjectItemCaseSensitive(rec, "i")->valuedouble;
    if (!cJSON_IsArray(data))
        return sa_error_set(err, SA_ERR_FORMAT, "merge: item %d has no \"data\" list", item);
    if (cJSON_GetArraySize(data) == 0) return SA_OK; /* a skipped item: not in the file */
    cJSON *doc = cJSON_CreateObject();
    cJSON *copy = doc ? cJSON_Duplicate(data, 1) : NULL;
    int ok = copy && cJSON_AddItemToObject(doc, "data", copy);
    if (!ok) cJSON_Delete(copy);
    char *txt = ok ? sa__json_print(doc, 0) : NULL;
    cJSON_Delete(doc);
    if (!txt) return sa_error_set(err, SA_ERR_NOMEM, "merge: out of memory");
    char name[64];
    snprintf(name, sizeof name, "merge: item %d", item);
    sa_traj_set *set = NULL;
    int rc = sa_traj_parse(txt, strlen(txt), name, &set, err);
    free(txt);
    for (int k = 0; rc == SA_OK && k < set->n_samples; k++)
        rc = sa_traj_writer_add(m->w, &set->samples[k], err);
    sa_traj_set_free(set);
    return rc;
}

int sa_traj_merge(const char *const *parts, int n_parts, const char *out, sa_error *err) {
    if (!parts || n_parts < 1 || !out)
        return sa_error_set(err, SA_ERR_INVALID, "merge: no part files or no output");
    merge_ctx m = {.out = out};
    sa_parts_merge_ops ops = {.on_header = on_header, .on_record = on_record};
    int rc = sa_parts_merge(parts, n_parts, "trajectories", ops, &m, err);
    if (rc != SA_OK) {
        sa_traj_writer_abort(m.w); /* whatever was at out stays */
        return rc;
    }
    return sa_traj_writer_close(m.w, err);
}
