/* Splitting one long run into N independent shards (docs/parts.md): an array job on a cluster runs the same
 * command N times, each instance doing the items of its own shard and writing its own part file; `segagent
 * merge` joins the parts into what one unsharded run writes.
 *
 *   sa_shard sh;
 *   char from[64];
 *   if (sa_shard_resolve(opt_shard, opt_shards, &sh, from, sizeof from, &err)) ...;   // --shard, else env
 *   for (int i = 0; i < n; i++)
 *       if (sa_shard_owns(sh, item_key(i))) ...;                                   // this shard's items
 *   char *part = sa_shard_part_path("out.json", sh);   // "out.shard-0003-of-0016.jsonl"
 *
 * The rule is stable: an item belongs to shard (FNV-1a 64-bit hash of its key) mod N, so the same item is in
 * the same shard whatever the machine, the thread count or the order in which files were listed. The key is
 * the item's identity within the run (for example "Berkeley/12003" or "refcoco:val/sent 4321").
 */
#ifndef SEGAGENT_SHARD_H
#define SEGAGENT_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_SHARD_MAX 100000 /* most shards in one run */

typedef struct sa_shard {
    int index; /* 0 .. count-1 */
    int count; /* 1 = the whole run, unsharded */
} sa_shard;

/* The whole run as one shard (index 0 of 1). */
sa_shard sa_shard_whole(void);

/* Parses "I/N" (0 <= I < N <= SA_SHARD_MAX). SA_ERR_INVALID with a message quoting spec otherwise. */
int sa_shard_parse(const char *spec, sa_shard *out, sa_error *err);

/* The shard of this process: spec ("I/N", from --shard) when non-NULL; else a Slurm array task
 * (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT, or _MIN/_MAX; the task ids must be
 * consecutive or evenly stepped); else a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with shards > 0 giving N,
 * from --shards); else the whole run. shards > 0 with a Slurm array must agree with the array's size. from
 * (may be NULL) receives where the shard came from: "--shard", "Slurm array", "JOB_COMPLETION_INDEX" or
 * "unsharded". Errors (SA_ERR_INVALID) name the variable and its value. */
int sa_shard_resolve(const char *spec, int shards, sa_shard *out, char *from, size_t from_size,
                     sa_error *err);

/* The stable hash of an item key (FNV-1a, 64 bits, over the bytes of key). */
uint64_t sa_shard_key_hash(const char *key);

/* Non-zero when the item with this key belongs to shard s (always, for the whole run). */
int sa_shard_owns(sa_shard s, const char *key);

/* The part file of shard s for output path out: the extension of the last path component (if any) is replaced
 * by ".shard-IIII-of-NNNN.jsonl" (at least four digits each): "runs/out.json" -> "runs/out.shard-0003-of-0016.jsonl".
 * The whole run gives out + ".part.jsonl" without the extension: "out.part.jsonl". malloc'd; NULL when out of
 * memory. */
char *sa_shard_part_path(const char *out, sa_shard s);

#ifdef __cplusplus
}
#endif
#endif
