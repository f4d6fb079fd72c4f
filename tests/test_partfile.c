/* Shards (segagent/shard.h) and part files (segagent/partfile.h): the stable assignment rule, the shard of an
 * array task from the environment, appending and resuming with a torn last record, and merging parts back
 * into one run with every refusal (missing, duplicate, incomplete, foreign parts). */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segagent/fileio.h"
#include "segagent/partfile.h"
#include "segagent/shard.h"
#include "testutil.h"

static void clear_env(void) {
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    unsetenv("SLURM_ARRAY_TASK_MAX");
    unsetenv("SLURM_ARRAY_TASK_COUNT");
    unsetenv("JOB_COMPLETION_INDEX");
}

static void test_parse_and_env(void) {
    sa_error err = {0};
    sa_shard s;
    CHECK(sa_shard_parse("3/16", &s, &err) == SA_OK && s.index == 3 && s.count == 16);
    CHECK(sa_shard_parse("0/1", &s, &err) == SA_OK && s.index == 0 && s.count == 1);
    const char *bad[] = {"16/16", "-1/4", "1/0", "a/3", "3", "/3", "1/", "1/3x", "1 /3", ""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        CHECKF(sa_shard_parse(bad[k], &s, &err) == SA_ERR_INVALID && strstr(err.msg, bad[k]),
               "'%s' accepted", bad[k]);

    char from[64];
    clear_env();
    CHECK(sa_shard_resolve(NULL, 0, &s, from, sizeof from, &err) == SA_OK && s.count == 1 &&
          !strcmp(from, "unsharded"));
    CHECK(sa_shard_resolve(NULL, 4, &s, from, sizeof from, &err) == SA_ERR_INVALID);
    setenv("SLURM_ARRAY_TASK_ID", "12", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "10", 1);
    setenv("SLURM_ARRAY_TASK_MAX", "13", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, from, sizeof from, &err) == SA_OK && s.index == 2 &&
          s.count == 4 && !strcmp(from, "Slurm array"));
    CHECK(sa_shard_resolve(NULL, 5, &s, from, sizeof from, &err) == SA_ERR_INVALID &&
          strstr(err.msg, "--shards 5"));
    /* --shard wins over the environment */
    CHECK(sa_shard_resolve("1/2", 0, &s, from, sizeof from, &err) == SA_OK && s.index == 1 &&
          s.count == 2 && !strcmp(from, "--shard"));
    /* stepped array 0-6:2 = tasks 0,2,4,6 */
    setenv("SLURM_ARRAY_TASK_ID", "4", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "0", 1);
    setenv("SLURM_ARRAY_TASK_MAX", "6", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, NULL, 0, &err) == SA_OK && s.index == 2 && s.count == 4);
    /* an uneven list (0,1,5): refused with advice */
    setenv("SLURM_ARRAY_TASK_MAX", "5", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    setenv("SLURM_ARRAY_TASK_ID", "1", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, NULL, 0, &err) == SA_ERR_INVALID &&
          strstr(err.msg, "--shard I/N"));
    unsetenv("SLURM_ARRAY_TASK_COUNT"); /* MIN/MAX alone */
    setenv("SLURM_ARRAY_TASK_MAX", "7", 1);
    setenv("SLURM_ARRAY_TASK_ID", "7", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, NULL, 0, &err) == SA_OK && s.index == 7 && s.count == 8);
    setenv("SLURM_ARRAY_TASK_ID", "x", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, NULL, 0, &err) == SA_ERR_INVALID &&
          strstr(err.msg, "SLURM_ARRAY_TASK_ID"));
    clear_env();
    setenv("JOB_COMPLETION_INDEX", "5", 1);
    CHECK(sa_shard_resolve(NULL, 0, &s, NULL, 0, &err) == SA_ERR_INVALID &&
          strstr(err.msg, "--shards"));
    CHECK(sa_shard_resolve(NULL, 8, &s, from, sizeof from, &err) == SA_OK && s.index == 5 &&
          s.count == 8 && !strcmp(from, "JOB_COMPLETION_INDEX"));
    CHECK(sa_shard_resolve(NULL, 5, &s, NULL, 0, &err) == SA_ERR_INVALID);
    clear_env();
}

static void test_assignment(void) {
    /* FNV-1a 64 of known strings (the published test values of the hash) */
    CHECK(sa_shard_key_hash("") == 0xcbf29ce484222325ull);
    CHECK(sa_shard_key_hash("a") == 0xaf63dc4c8601ec8cull);
    CHECK(sa_shard_key_hash("foobar") == 0x85944171f73967e8ull);
    /* every key in exactly one shard, shards roughly even */
    int counts[7] = {0};
    char key[32];
    for (int k = 0; k < 7000; k++) {
        snprintf(key, sizeof key, "Berkeley/%d", k);
        int owners = 0;
        for (int i = 0; i < 7; i++) {
            sa_shard s = {i, 7};
            if (sa_shard_owns(s, key)) {
                owners++;
                counts[i]++;
            }
        }
        CHECK(owners == 1);
    }
    for (int i = 0; i < 7; i++)
        CHECKF(counts[i] > 850 && counts[i] < 1150, "shard %d: %d", i, counts[i]);
    CHECK(sa_shard_owns(sa_shard_whole(), "anything"));

    sa_shard s = {3, 16};
    char *p = sa_shard_part_path("runs/out.json", s);
    CHECK(p && !strcmp(p, "runs/out.shard-0003-of-0016.jsonl"));
    free(p);
    p = sa_shard_part_path("runs.d/out", s);
    CHECK(p && !strcmp(p, "runs.d/out.shard-0003-of-0016.jsonl"));
    free(p);
    p = sa_shard_part_path("out.json", sa_shard_whole());
    CHECK(p && !strcmp(p, "out.part.jsonl"));
    free(p);
}

static cJSON *rec_of(int i) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "i", i);
    cJSON_AddNumberToObject(r, "value", i * 10);
    cJSON_AddStringToObject(r, "text", "line\nbreak \xff"); /* escaped; invalid UTF-8 repaired */
    return r;
}

typedef struct seen {
    int n;
    int items[64];
    int fail_at; /* callback fails on this item (-1 never) */
} seen;

static int on_rec(void *user, const cJSON *rec, sa_error *err) {
    seen *s = user;
    int i = (int)cJSON_GetObjectItem(rec, "i")->valuedouble;
    if (i == s->fail_at) return sa_error_set(err, SA_ERR_STATE, "stop at %d", i);
    if (s->n < 64) s->items[s->n] = i;
    s->n++;
    return SA_OK;
}

static int append_items(sa_part *p, const int *items, int n) {
    sa_error err = {0};
    int rc = SA_OK;
    for (int k = 0; k < n && rc == SA_OK; k++) {
        cJSON *r = rec_of(items[k]);
        rc = sa_part_append(p, r, &err);
        cJSON_Delete(r);
    }
    return rc;
}

static void test_append_resume(const char *dir) {
    char *path = sa_path_join(dir, "a.jsonl");
    sa_error err = {0};
    cJSON *cfg = cJSON_Parse("{\"max_clicks\":20,\"tool\":\"builtin\"}");
    sa_part_header h = {.command = "eval", .shard = {1, 3}, .total = 10, .config = cfg};
    sa_part *p = NULL;
    sa_part_resume_info info;
    CHECK(sa_part_open(path, h, 0, NULL, NULL, &info, &p, &err) == SA_OK && p);
    int first[] = {1, 4};
    CHECK(append_items(p, first, 2) == SA_OK);
    /* out of order, a duplicate, out of range, no "i": refused, nothing written */
    int bad[] = {4, 2, 10};
    for (int k = 0; k < 3; k++)
        CHECK(append_items(p, &bad[k], 1) == SA_ERR_INVALID);
    cJSON *noi = cJSON_Parse("{\"x\":1}");
    CHECK(sa_part_append(p, noi, &err) == SA_ERR_INVALID);
    cJSON_Delete(noi);
    sa_part_close(p); /* killed: no end record */

    /* a torn record: half a line at the end */
    FILE *f = fopen(path, "ab");
    fputs("{\"i\":7,\"value\":7", f);
    fclose(f);
    seen s = {.fail_at = -1};
    CHECK(sa_part_open(path, h, 1, on_rec, &s, &info, &p, &err) == SA_OK);
    CHECK(s.n == 2 && s.items[0] == 1 && s.items[1] == 4);
    CHECK(info.records == 2 && info.torn == 1 && info.ended == 0);
    int more[] = {7};
    CHECK(append_items(p, more, 1) == SA_OK);
    CHECK(sa_part_finish(p, &err) == SA_OK);
    char *text = tu_read_file(path, NULL);
    CHECK(text && strstr(text, "\"end\":true,\"records\":3}\n") && !strstr(text, "\"value\":7\n"));
    CHECK(text && strstr(text, "line\\nbreak \xef\xbf\xbd"));
    int lines = 0;
    for (char *c = text; c && *c; c++)
        lines += *c == '\n';
    CHECK(lines == 5); /* header, 3 records, end */
    free(text);

    /* resuming a finished part: records seen, the end record is rewritten once */
    memset(&s, 0, sizeof s);
    s.fail_at = -1;
    CHECK(sa_part_open(path, h, 1, on_rec, &s, &info, &p, &err) == SA_OK);
    CHECK(s.n == 3 && info.ended == 1 && info.torn == 0);
    CHECK(sa_part_finish(p, &err) == SA_OK);
    text = tu_read_file(path, NULL);
    CHECK(text && strstr(text, "\"end\":true") &&
          strstr(text, "\"end\":true") == strrchr(text, '{') + 1); /* one end record, the last */
    free(text);

    /* another run's options: refused, naming the key, file untouched */
    cJSON *cfg2 = cJSON_Parse("{\"max_clicks\":10,\"tool\":\"builtin\"}");
    sa_part_header h2 = h;
    h2.config = cfg2;
    CHECK(sa_part_open(path, h2, 1, NULL, NULL, NULL, &p, &err) == SA_ERR_STATE &&
          strstr(err.msg, "max_clicks"));
    h2 = h;
    h2.shard.index = 2;
    CHECK(sa_part_open(path, h2, 1, NULL, NULL, NULL, &p, &err) == SA_ERR_STATE &&
          strstr(err.msg, "shard"));
    h2 = h;
    h2.command = "trajectories";
    CHECK(sa_part_open(path, h2, 1, NULL, NULL, NULL, &p, &err) == SA_ERR_STATE);
    /* a callback error stops the open */
    memset(&s, 0, sizeof s);
    s.fail_at = 4;
    CHECK(sa_part_open(path, h, 1, on_rec, &s, NULL, &p, &err) == SA_ERR_STATE &&
          strstr(err.msg, "stop at 4"));
    cJSON_Delete(cfg2);

    /* damage in the middle is an error naming the line, never silently dropped */
    char *dmg = sa_path_join(dir, "damaged.jsonl");
    text = tu_read_file(path, NULL);
    char *second = strchr(text, '\n') + 1;
    second[2] = '#';
    CHECK(sa_file_write(dmg, text, strlen(text), &err) == SA_OK);
    free(text);
    CHECK(sa_part_open(dmg, h, 1, NULL, NULL, NULL, &p, &err) == SA_ERR_FORMAT &&
          strstr(err.msg, "line 2"));
    /* not a part file at all */
    CHECK(sa_file_write_text(dmg, "hello", &err) == SA_OK);
    CHECK(sa_part_open(dmg, h, 1, NULL, NULL, NULL, &p, &err) == SA_ERR_FORMAT);
    /* resume of a missing file starts fresh; without resume an existing file is replaced */
    unlink(dmg);
    CHECK(sa_part_open(dmg, h, 1, NULL, NULL, &info, &p, &err) == SA_OK && info.records == 0);
    sa_part_close(p);
    CHECK(sa_part_open(path, h, 0, NULL, NULL, NULL, &p, &err) == SA_OK);
    sa_part_close(p);
    memset(&s, 0, sizeof s);
    s.fail_at = -1;
    CHECK(sa_part_open(path, h, 1, on_rec, &s, &info, &p, &err) == SA_OK && s.n == 0);
    sa_part_close(p);
    free(dmg);
    cJSON_Delete(cfg);
    free(path);
}

/* Writes shard k of n over total items (item i in shard i % n), finished unless open_end. */
static char *write_shard(const char *dir, const char *name, int k, int n, int total, int finish) {
    char *path = sa_path_join(dir, name);
    sa_error err = {0};
    sa_part_header h = {.command = "trajectories", .shard = {k, n}, .total = total};
    sa_part *p = NULL;
    CHECK(sa_part_open(path, h, 0, NULL, NULL, NULL, &p, &err) == SA_OK);
    for (int i = k; i < total; i += n) {
        int it = i;
        CHECK(append_items(p, &it, 1) == SA_OK);
    }
    if (finish)
        CHECK(sa_part_finish(p, &err) == SA_OK);
    else
        sa_part_close(p);
    return path;
}

static int on_head(void *user, const cJSON *head, sa_error *err) {
    (void)err;
    seen *s = user;
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(head, "config")));
    s->fail_at = -1;
    return SA_OK;
}

static void test_merge(const char *dir) {
    sa_error err = {0};
    char *a = write_shard(dir, "m0.jsonl", 0, 3, 11, 1);
    char *b = write_shard(dir, "m1.jsonl", 1, 3, 11, 1);
    char *c = write_shard(dir, "m2.jsonl", 2, 3, 11, 1);
    sa_parts_merge_ops ops = {on_head, on_rec};
    seen s = {.fail_at = -1};
    const char *order[] = {c, a, b};
    CHECK(sa_parts_merge(order, 3, "trajectories", ops, &s, &err) == SA_OK);
    CHECK(s.n == 11);
    for (int i = 0; i < 11 && i < s.n; i++)
        CHECK(s.items[i] == i);

    memset(&s, 0, sizeof s);
    const char *missing[] = {a, b};
    CHECK(sa_parts_merge(missing, 2, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "all 3 are needed"));
    const char *dup[] = {a, b, b};
    CHECK(sa_parts_merge(dup, 3, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "both shard 1"));
    CHECK(sa_parts_merge(order, 3, "eval", ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "not of 'eval'"));
    char *open_c = write_shard(dir, "m2-open.jsonl", 2, 3, 11, 0);
    const char *inc[] = {a, b, open_c};
    CHECK(sa_parts_merge(inc, 3, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "incomplete") && strstr(err.msg, "m2-open.jsonl"));
    char *other = write_shard(dir, "m2-other.jsonl", 2, 3, 12, 1);
    const char *mixed[] = {a, b, other};
    CHECK(sa_parts_merge(mixed, 3, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "different runs"));
    /* two shards holding the same item: shard 1 written with shard 0's items */
    char *p = sa_path_join(dir, "m1-dup.jsonl");
    sa_part_header h = {.command = "trajectories", .shard = {1, 3}, .total = 11};
    sa_part *pt = NULL;
    CHECK(sa_part_open(p, h, 0, NULL, NULL, NULL, &pt, &err) == SA_OK);
    int items[] = {0, 1, 4, 7, 10};
    CHECK(append_items(pt, items, 5) == SA_OK);
    CHECK(sa_part_finish(pt, &err) == SA_OK);
    const char *twice[] = {a, p, c};
    CHECK(sa_parts_merge(twice, 3, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "item 0 is in both"));
    /* a gap: shard 1 without item 4 */
    int gap[] = {1, 7, 10};
    CHECK(sa_part_open(p, h, 0, NULL, NULL, NULL, &pt, &err) == SA_OK);
    CHECK(append_items(pt, gap, 3) == SA_OK);
    CHECK(sa_part_finish(pt, &err) == SA_OK);
    const char *gapped[] = {a, p, c};
    CHECK(sa_parts_merge(gapped, 3, NULL, ops, &s, &err) == SA_ERR_STATE &&
          strstr(err.msg, "item 4 of 11 is in no part"));
    cJSON *head = NULL;
    CHECK(sa_part_read_header(a, &head, &err) == SA_OK &&
          !strcmp(cJSON_GetObjectItem(head, "command")->valuestring, "trajectories"));
    cJSON_Delete(head);
    free(a);
    free(b);
    free(c);
    free(open_c);
    free(other);
    free(p);
}

int main(void) {
    char *dir = tu_tmpdir();
    test_parse_and_env();
    test_assignment();
    test_append_resume(dir);
    test_merge(dir);
    tu_rmtree(dir);
    free(dir);
    return tu_finish("test_partfile");
}
