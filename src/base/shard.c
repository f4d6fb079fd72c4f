/* Shard assignment and the shard of this process (segagent/shard.h, docs/parts.md). */
#include "segagent/shard.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sa_shard sa_shard_whole(void) {
    sa_shard s = {0, 1};
    return s;
}

/* A whole decimal number in [lo, hi]; 0 when text is not one. */
static int parse_int(const char *text, long lo, long hi, long *out) {
    if (!text || !*text) return 0;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    errno = 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int sa_shard_parse(const char *spec, sa_shard *out, sa_error *err) {
    if (!spec || !out) return sa_error_set(err, SA_ERR_INVALID, "shard: NULL argument");
    const char *slash = strchr(spec, '/');
    char head[32];
    size_t hl = slash ? (size_t)(slash - spec) : 0;
    long i = 0, n = 0;
    if (!slash || hl == 0 || hl >= sizeof head)
        return sa_error_set(err, SA_ERR_INVALID,
                            "shard '%s': expected I/N, e.g. 3/16 (shard 3 of 16, counting from 0)",
                            spec);
    memcpy(head, spec, hl);
    head[hl] = '\0';
    if (!parse_int(slash + 1, 1, SA_SHARD_MAX, &n))
        return sa_error_set(err, SA_ERR_INVALID, "shard '%s': N must be a whole number in 1..%d",
                            spec, SA_SHARD_MAX);
    if (!parse_int(head, 0, n - 1, &i))
        return sa_error_set(err, SA_ERR_INVALID, "shard '%s': I must be a whole number in 0..%ld",
                            spec, n - 1);
    out->index = (int)i;
    out->count = (int)n;
    return SA_OK;
}

static void say_from(char *from, size_t size, const char *what) {
    if (from && size) snprintf(from, size, "%s", what);
}

/* A Slurm array task: its index among the array's tasks and the array's size. */
static int from_slurm(const char *id_text, int shards, sa_shard *out, sa_error *err) {
    const char *min_text = getenv("SLURM_ARRAY_TASK_MIN");
    const char *max_text = getenv("SLURM_ARRAY_TASK_MAX");
    const char *count_text = getenv("SLURM_ARRAY_TASK_COUNT");
    long id, lo, hi, count;
    if (!parse_int(id_text, 0, INT_MAX, &id))
        return sa_error_set(err, SA_ERR_INVALID, "SLURM_ARRAY_TASK_ID='%s' is not a task number",
                            id_text);
    if (!parse_int(min_text, 0, INT_MAX, &lo))
        return sa_error_set(err, SA_ERR_INVALID,
                            "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN is %s%s%s; pass "
                            "--shard I/N",
                            min_text ? "'" : "missing", min_text ? min_text : "",
                            min_text ? "'" : "");
    int have_hi = parse_int(max_text, lo, INT_MAX, &hi);
    int have_count = parse_int(count_text, 1, SA_SHARD_MAX, &count);
    if (!have_count && !have_hi)
        return sa_error_set(err, SA_ERR_INVALID,
                            "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                            "SLURM_ARRAY_TASK_MAX is usable; pass --shard I/N");
    if (!have_count) count = hi - lo + 1;
    if (!have_hi) hi = lo + count - 1;
    if (count < 1 || count > SA_SHARD_MAX || id < lo || id > hi)
        return sa_error_set(err, SA_ERR_INVALID,
                            "Slurm array task %ld is outside its array %ld-%ld (%ld tasks)", id, lo,
                            hi, count);
    long step = count > 1 ? (hi - lo) / (count - 1) : 1;
    if (step < 1 || (count > 1 && lo + step * (count - 1) != hi) || (id - lo) % step)
        return sa_error_set(err, SA_ERR_INVALID,
                            "Slurm array %ld-%ld with %ld tasks is not evenly stepped (task %ld); "
                            "submit --array=0-%ld or pass --shard I/N",
                            lo, hi, count, id, count - 1);
    if (shards > 0 && shards != count)
        return sa_error_set(err, SA_ERR_INVALID,
                            "--shards %d disagrees with the Slurm array's %ld tasks", shards,
                            count);
    out->index = (int)((id - lo) / step);
    out->count = (int)count;
    return SA_OK;
}

int sa_shard_resolve(const char *spec, int shards, sa_shard *out, char *from, size_t from_size,
                     sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "shard: NULL argument");
    *out = sa_shard_whole();
    if (shards < 0 || shards > SA_SHARD_MAX)
        return sa_error_set(err, SA_ERR_INVALID, "--shards %d: expected 1..%d", shards,
                            SA_SHARD_MAX);
    if (spec) {
        int rc = sa_shard_parse(spec, out, err);
        if (rc == SA_OK && shards > 0 && shards != out->count)
            rc = sa_error_set(err, SA_ERR_INVALID, "--shard %s disagrees with --shards %d", spec,
                              shards);
        say_from(from, from_size, "--shard");
        return rc;
    }
    const char *slurm = getenv("SLURM_ARRAY_TASK_ID");
    if (slurm && *slurm) {
        say_from(from, from_size, "Slurm array");
        return from_slurm(slurm, shards, out, err);
    }
    const char *k8s = getenv("JOB_COMPLETION_INDEX");
    if (k8s && *k8s) {
        long i;
        say_from(from, from_size, "JOB_COMPLETION_INDEX");
        if (shards <= 0)
            return sa_error_set(err, SA_ERR_INVALID,
                                "JOB_COMPLETION_INDEX=%s is set: pass --shards N (the Job's "
                                "completions) so the shard count is known",
                                k8s);
        if (!parse_int(k8s, 0, shards - 1, &i))
            return sa_error_set(err, SA_ERR_INVALID,
                                "JOB_COMPLETION_INDEX='%s' is not an index in 0..%d", k8s,
                                shards - 1);
        out->index = (int)i;
        out->count = shards;
        return SA_OK;
    }
    say_from(from, from_size, "unsharded");
    if (shards > 1)
        return sa_error_set(err, SA_ERR_INVALID,
                            "--shards %d without a shard index: pass --shard I/%d, or run as a "
                            "Slurm array or Kubernetes Indexed Job",
                            shards, shards);
    return SA_OK;
}

uint64_t sa_shard_key_hash(const char *key) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a offset basis */
    for (const unsigned char *p = (const unsigned char *)key; p && *p; p++) {
        h ^= *p;
        h *= 1099511628211ull; /* FNV prime */
    }
    return h;
}

int sa_shard_owns(sa_shard s, const char *key) {
    if (s.count <= 1) return 1;
    return (int)(sa_shard_key_hash(key) % (uint64_t)s.count) == s.index;
}

char *sa_shard_part_path(const char *out, sa_shard s) {
    if (!out) return NULL;
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - out) : strlen(out);
    char tail[64];
    if (s.count <= 1)
        snprintf(tail, sizeof tail, ".part.jsonl");
    else
        snprintf(tail, sizeof tail, ".shard-%04d-of-%04d.jsonl", s.index, s.count);
    size_t n = stem + strlen(tail) + 1;
    char *p = malloc(n);
    if (!p) return NULL;
    memcpy(p, out, stem);
    memcpy(p + stem, tail, strlen(tail) + 1);
    return p;
}
