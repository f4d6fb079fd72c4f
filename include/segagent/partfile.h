/* Part files: the append-only, crash-safe record of a long run, one per shard (docs/parts.md).
 *
 * A part file is JSON Lines. The first line is a header naming the command, the shard, the number of items in
 * the whole run and the options that decide the results; every following line is one finished item (a JSON
 * object with its item number "i", strictly increasing through the file); the last line, written when the
 * shard has finished, is an end record {"end": true, "records": K}. Each record is appended with one write and
 * flushed to disk, so a killed run leaves complete lines plus at most one torn last line.
 *
 *   sa_part_header h = {.command = "eval", .shard = sh, .total = n, .config = cfg};
 *   sa_part *p;
 *   if (sa_part_open("out.shard-0003-of-0016.jsonl", h, resume, on_done_record, ctx, &info, &p, &err)) ...;
 *   // on_done_record saw every record already there (resume); run the other items, then for each, in order:
 *   if (sa_part_append(p, rec, &err)) ...;           // rec has "i"
 *   if (sa_part_finish(p, &err)) ...;                // end record; the shard is complete
 *
 * Resuming (resume != 0) reads what is there: the header must match h exactly (else SA_ERR_STATE: the file is
 * another run's), complete records are handed to on_record, a torn last line is dropped (info->torn = 1), an
 * end record is removed (it is written again by sa_part_finish), and appending continues after the last
 * complete record. A missing file starts a new part. Without resume an existing file is replaced.
 *
 * sa_parts_merge reads the parts of all shards of one run, checks that they belong together and are complete,
 * and hands every record of the whole run to the caller in item order: what one unsharded run would have.
 */
#ifndef SEGAGENT_PARTFILE_H
#define SEGAGENT_PARTFILE_H

#include <cjson/cJSON.h>

#include "segagent/error.h"
#include "segagent/shard.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_PART_VERSION 1

typedef struct sa_part sa_part;

typedef struct sa_part_header {
    const char *command; /* "eval", "trajectories", ...: parts of different commands never mix */
    sa_shard shard;      /* which shard this file holds */
    int total;           /* items in the whole run, all shards together (>= 0) */
    const cJSON *config; /* options that decide the results (may be NULL = {}): compared exactly */
} sa_part_header;

/* Called for each complete record found when resuming, in file order. Non-zero stops the open with that code
 * (err set by the callback). */
typedef int (*sa_part_record_fn)(void *user, const cJSON *rec, sa_error *err);

typedef struct sa_part_resume_info {
    int records; /* complete records found */
    int torn;    /* 1 when a torn last line was dropped */
    int ended;   /* 1 when the file had its end record (the shard had finished) */
} sa_part_resume_info;

/* Opens (creates, replaces or resumes) the part file at path. on_record and info may be NULL. Errors:
 * SA_ERR_IO (cannot read, write or sync; names the file), SA_ERR_STATE (the file belongs to another run or
 * shard: the message says which field differs), SA_ERR_FORMAT (a complete line that is not a record: the
 * file was damaged; names the line), SA_ERR_INVALID, SA_ERR_NOMEM. */
int sa_part_open(const char *path, sa_part_header h, int resume, sa_part_record_fn on_record,
                 void *user, sa_part_resume_info *info, sa_part **out, sa_error *err);

/* Appends one record: a JSON object whose number "i" is in 0..total-1 and larger than every earlier record's.
 * Written as one line with one write and flushed (fdatasync) before returning. SA_ERR_INVALID for a bad
 * record, SA_ERR_IO when it could not be written (the file is cut back to the previous record). */
int sa_part_append(sa_part *p, const cJSON *rec, sa_error *err);

/* Writes the end record, flushes and closes; p is freed either way. */
int sa_part_finish(sa_part *p, sa_error *err);

/* Closes without an end record (an interrupted run: resume it later). NULL is allowed. */
void sa_part_close(sa_part *p);

/* The path this part is written to. */
const char *sa_part_path(const sa_part *p);

typedef struct sa_parts_merge_ops {
    /* Called once, before any record, with the header shared by the parts (its "config" is the run's). */
    int (*on_header)(void *user, const cJSON *header, sa_error *err);
    /* Called for every record of the run in item order 0..total-1, each exactly once. */
    int (*on_record)(void *user, const cJSON *rec, sa_error *err);
} sa_parts_merge_ops;

/* Merges the part files of one run (any order of paths). command, when non-NULL, is the command the parts
 * must come from. Refuses, with a message naming the shard and its file: parts of different commands, runs
 * or configs; two files of the same shard; a missing shard; a shard without its end record (still running or
 * stopped: resume it); an item present twice or missing. Returns SA_OK or the first error (SA_ERR_STATE for
 * parts that do not fit together, SA_ERR_FORMAT for a damaged file, SA_ERR_IO, SA_ERR_NOMEM, or a callback's
 * code). The callbacks may already have seen records when a later check fails: write the merged output
 * under a temporary name and rename it only on SA_OK. */
int sa_parts_merge(const char *const *paths, int n_paths, const char *command,
                   sa_parts_merge_ops ops, void *user, sa_error *err);

/* Reads the header line of a part file (for a merge command that dispatches on "command"). *out is the parsed
 * header (cJSON_Delete it). SA_ERR_IO, SA_ERR_FORMAT (not a part file), SA_ERR_NOMEM. */
int sa_part_read_header(const char *path, cJSON **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
