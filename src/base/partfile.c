/* Part files: append, resume, merge (segagent/partfile.h, docs/parts.md). */
#include "segagent/partfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"
#include "base/text.h"
#include "base/util.h"

struct sa_part {
    int fd;
    char *path;
    off_t size; /* bytes of complete lines */
    int last_i; /* item number of the last record, -1 before the first */
    int total;
    int records; /* records in the file */
};

const char *sa_part_path(const sa_part *p) {
    return p ? p->path : NULL;
}

/* ---- the header ---- */

static cJSON *header_json(const sa_part_header *h) {
    cJSON *doc = cJSON_CreateObject();
    if (!doc) return NULL;
    cJSON *cfg = h->config ? cJSON_Duplicate(h->config, 1) : cJSON_CreateObject();
    if (!cfg || !cJSON_AddItemToObject(doc, "config", cfg)) {
        cJSON_Delete(cfg);
        cJSON_Delete(doc);
        return NULL;
    }
    if (!cJSON_AddNumberToObject(doc, "segagent_part", SA_PART_VERSION) ||
        !cJSON_AddStringToObject(doc, "command", h->command) ||
        !cJSON_AddNumberToObject(doc, "shard", h->shard.index) ||
        !cJSON_AddNumberToObject(doc, "shards", h->shard.count) ||
        !cJSON_AddNumberToObject(doc, "total", h->total)) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* An integer field of a JSON object within [lo, hi]; 0 when absent or not one. */
static int int_field(const cJSON *o, const char *key, double lo, double hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != floor(d)) return 0;
    *out = (int)d;
    return 1;
}

/* Checks that doc is a part header; fills the fields. */
static int parse_header(const cJSON *doc, const char *path, const char **command, sa_shard *sh,
                        int *total, sa_error *err) {
    int version = 0;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(doc, "command");
    if (!cJSON_IsObject(doc) || !int_field(doc, "segagent_part", 1, 1e9, &version))
        return sa_error_set(err, SA_ERR_FORMAT,
                            "%s: not a segagent part file (its first line is no part header)",
                            path);
    if (version != SA_PART_VERSION)
        return sa_error_set(err, SA_ERR_UNSUPPORTED,
                            "%s: part file version %d; this build reads version %d", path, version,
                            SA_PART_VERSION);
    if (!cJSON_IsString(cmd) || !int_field(doc, "shards", 1, SA_SHARD_MAX, &sh->count) ||
        !int_field(doc, "shard", 0, sh->count - 1, &sh->index) ||
        !int_field(doc, "total", 0, 2147483647.0, total) ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "config")))
        return sa_error_set(
            err, SA_ERR_FORMAT,
            "%s: damaged part header (needs command, shard < shards, total, config)", path);
    *command = cmd->valuestring;
    return SA_OK;
}

/* The first config key whose value differs between a and b (for the message), or "config". */
static const char *differing_key(const cJSON *a, const cJSON *b) {
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || !cJSON_Compare(x, y, 1)) return x->string;
    }
    cJSON_ArrayForEach(x, b) {
        if (!cJSON_GetObjectItemCaseSensitive(a, x->string)) return x->string;
    }
    return "config";
}

/* ---- reading lines ---- */

typedef struct line_reader {
    FILE *f;
    char *buf;
    size_t cap;
    ssize_t len;  /* of the last line read, with its newline */
    long lineno;  /* 1-based number of the last line read */
    off_t offset; /* where the last line starts */
    off_t next;   /* where the next one starts */
} line_reader;

/* 1 with a complete line (newline stripped, NUL-terminated), 0 at the end, -1 for a torn last line. */
static int next_line(line_reader *r) {
    r->offset = r->next;
    errno = 0;
    r->len = getline(&r->buf, &r->cap, r->f);
    if (r->len < 0) return 0;
    r->lineno++;
    r->next += r->len;
    if (r->buf[r->len - 1] != '\n') return -1;
    r->buf[--r->len] = '\0';
    return 1;
}

static cJSON *parse_line(const line_reader *r) {
    return cJSON_ParseWithLength(r->buf, (size_t)r->len);
}

static int is_end(const cJSON *rec) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "end"));
}

/* The item number of a record, or -1 when it has none in 0..total-1. */
static int record_item(const cJSON *rec, int total) {
    int i;
    if (!cJSON_IsObject(rec) || !int_field(rec, "i", 0, total - 1.0, &i)) return -1;
    return i;
}

/* ---- writing ---- */

static int write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends text + '\n' in one write, flushed. On failure the file is cut back. */
static int append_line(sa_part *p, const char *text, sa_error *err) {
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (!line) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", p->path);
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    int bad = write_all(p->fd, line, n + 1) || fdatasync(p->fd);
    int e = errno;
    free(line);
    if (bad) {
        if (ftruncate(p->fd, p->size) !=
            0) { /* best effort: a torn line is dropped on resume anyway */
        }
        return sa_error_set(err, SA_ERR_IO, "%s: cannot append a record: %s", p->path, strerror(e));
    }
    p->size += (off_t)(n + 1);
    return SA_OK;
}

/* A new part: the header written under a temporary name and renamed into place. */
static int create_part(const char *path, const sa_part_header *h, sa_error *err) {
    cJSON *doc = header_json(h);
    char *text = doc ? sa__json_print(doc, 0) : NULL;
    cJSON_Delete(doc);
    if (!text) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    sa__out o;
    int rc = sa__out_open(&o, path, err);
    if (rc == SA_OK) {
        fputs(text, o.f);
        fputc('\n', o.f);
        rc = sa__out_commit(&o, err);
    }
    free(text);
    return rc;
}

/* Reads an existing part for resuming: checks its header against h, hands over the records, and finds where
 * appending continues (*good: bytes of complete records; *last_i). */
static int scan_part(FILE *f, const char *path, const sa_part_header *h,
                     sa_part_record_fn on_record, void *user, sa_part_resume_info *info,
                     off_t *good, int *last_i, sa_error *err) {
    line_reader r = {.f = f};
    int rc = SA_OK, got = next_line(&r);
    cJSON *head = got == 1 ? parse_line(&r) : NULL;
    const char *command = NULL;
    sa_shard sh = {0, 0};
    int total = 0;
    if (got != 1 || !head) {
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "%s: no complete part header on its first line (not a part file, or cut "
                          "off while being created); remove it to start the shard again",
                          path);
        goto done;
    }
    if ((rc = parse_header(head, path, &command, &sh, &total, err)) != SA_OK) goto done;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(head, "config");
    cJSON *want = h->config ? NULL : cJSON_CreateObject();
    const cJSON *wcfg = h->config ? h->config : want;
    if (strcmp(command, h->command) || sh.index != h->shard.index || sh.count != h->shard.count ||
        total != h->total || !cJSON_Compare(cfg, wcfg, 1)) {
        const char *what = strcmp(command, h->command)                                ? "command"
                           : sh.index != h->shard.index || sh.count != h->shard.count ? "shard"
                           : total != h->total                                        ? "item count"
                                               : differing_key(cfg, wcfg);
        rc = sa_error_set(err, SA_ERR_STATE,
                          "%s: written by a different run (%s differs: it has %s shard %d/%d of "
                          "%d items); cannot resume it with these options (remove the file or use "
                          "another output)",
                          path, what, command, sh.index, sh.count, total);
        cJSON_Delete(want);
        goto done;
    }
    cJSON_Delete(want);
    *good = r.next;
    *last_i = -1;
    while ((got = next_line(&r)) == 1) {
        cJSON *rec = parse_line(&r);
        int i = rec ? record_item(rec, total) : -1;
        if (rec && is_end(rec) && !info->ended) {
            info->ended = 1;
            cJSON_Delete(rec);
            continue; /* must be the last line: checked below */
        }
        if (!rec || info->ended || i <= *last_i) {
            rc = sa_error_set(err, SA_ERR_FORMAT,
                              "%s line %ld: %s; the file was damaged or edited (remove it to run "
                              "the shard again)",
                              path, r.lineno,
                              !rec          ? "not a JSON record"
                              : info->ended ? "a record after the end record"
                              : i < 0       ? "a record without a valid item number \"i\""
                                            : "item numbers out of order");
            cJSON_Delete(rec);
            goto done;
        }
        rc = on_record ? on_record(user, rec, err) : SA_OK;
        cJSON_Delete(rec);
        if (rc != SA_OK) goto done;
        *last_i = i;
        info->records++;
        *good = r.next;
    }
    if (got < 0) info->torn = 1;
    if (got == 0 && ferror(f))
        rc = sa_error_set(err, SA_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
done:
    cJSON_Delete(head);
    free(r.buf);
    return rc;
}

static int open_append(const char *path, const sa_part_header *h, off_t size, int last_i,
                       int records, sa_part **out, sa_error *err) {
    sa_part *p = calloc(1, sizeof *p);
    if (!p || !(p->path = sa__strdup(path))) {
        free(p);
        return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    p->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (p->fd < 0 || ftruncate(p->fd, size) != 0) {
        int e = errno;
        if (p->fd >= 0) close(p->fd);
        free(p->path);
        free(p);
        return sa_error_set(err, SA_ERR_IO, "%s: cannot open for appending: %s", path, strerror(e));
    }
    p->size = size;
    p->last_i = last_i;
    p->total = h->total;
    p->records = records;
    *out = p;
    return SA_OK;
}

int sa_part_open(const char *path, sa_part_header h, int resume, sa_part_record_fn on_record,
                 void *user, sa_part_resume_info *info, sa_part **out, sa_error *err) {
    sa_part_resume_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "part file: NULL output");
    *out = NULL;
    if (!path || !h.command || h.total < 0 || h.shard.count < 1 || h.shard.index < 0 ||
        h.shard.index >= h.shard.count || (h.config && !cJSON_IsObject(h.config)))
        return sa_error_set(err, SA_ERR_INVALID, "part file: bad arguments");
    FILE *f = resume ? fopen(path, "rb") : NULL;
    if (!f && resume && errno != ENOENT)
        return sa_error_set(err, SA_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (!f) {
        int rc = create_part(path, &h, err);
        if (rc != SA_OK) return rc;
        struct stat st;
        if (stat(path, &st) != 0)
            return sa_error_set(err, SA_ERR_IO, "%s: %s", path, strerror(errno));
        return open_append(path, &h, st.st_size, -1, 0, out, err);
    }
    off_t good = 0;
    int last_i = -1;
    int rc = scan_part(f, path, &h, on_record, user, info, &good, &last_i, err);
    fclose(f);
    if (rc != SA_OK) return rc;
    return open_append(path, &h, good, last_i, info->records, out, err);
}

int sa_part_append(sa_part *p, const cJSON *rec, sa_error *err) {
    if (!p || !rec) return sa_error_set(err, SA_ERR_INVALID, "part file: NULL argument");
    int i = record_item(rec, p->total);
    if (i < 0 || i <= p->last_i || is_end(rec))
        return sa_error_set(err, SA_ERR_INVALID,
                            "%s: record %d is not a valid next record (after item %d of %d)",
                            p->path, i, p->last_i, p->total);
    char *text = sa__json_print(rec, 0);
    if (!text) return sa_error_set(err, SA_ERR_NOMEM, "%s: out of memory", p->path);
    int rc = append_line(p, text, err);
    free(text);
    if (rc == SA_OK) {
        p->last_i = i;
        p->records++;
    }
    return rc;
}

void sa_part_close(sa_part *p) {
    if (!p) return;
    close(p->fd);
    free(p->path);
    free(p);
}

int sa_part_finish(sa_part *p, sa_error *err) {
    if (!p) return sa_error_set(err, SA_ERR_INVALID, "part file: NULL argument");
    char line[96];
    snprintf(line, sizeof line, "{\"end\":true,\"records\":%d}", p->records);
    int rc = append_line(p, line, err);
    if (rc == SA_OK && close(p->fd) != 0)
        rc = sa_error_set(err, SA_ERR_IO, "%s: %s", p->path, strerror(errno));
    else if (rc != SA_OK)
        close(p->fd);
    free(p->path);
    free(p);
    return rc;
}

int sa_part_read_header(const char *path, cJSON **out, sa_error *err) {
    if (!path || !out) return sa_error_set(err, SA_ERR_INVALID, "part file: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    line_reader r = {.f = f};
    int got = next_line(&r);
    cJSON *doc = got == 1 ? parse_line(&r) : NULL;
    free(r.buf);
    fclose(f);
    const char *cmd;
    sa_shard sh;
    int total, rc = doc ? parse_header(doc, path, &cmd, &sh, &total, err)
                        : sa_error_set(err, SA_ERR_FORMAT,
                                       "%s: not a segagent part file (no header line)", path);
    if (rc != SA_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    *out = doc;
    return SA_OK;
}

/* ---- merging ---- */

typedef struct part_in {
    const char *path;
    line_reader r;
    cJSON *head;
    cJSON *cur; /* the record waiting to be merged, NULL when the part is used up */
    int cur_i;
    int records; /* records taken */
    int ended;   /* its end record was reached */
    int end_count;
} part_in;

/* Loads the part's next record into cur (NULL at its end record or end of file). */
static int advance(part_in *p, int total, sa_error *err) {
    cJSON_Delete(p->cur);
    p->cur = NULL;
    if (p->ended) return SA_OK;
    int got = next_line(&p->r);
    if (got == 0 && ferror(p->r.f))
        return sa_error_set(err, SA_ERR_IO, "%s: cannot read: %s", p->path, strerror(errno));
    if (got <= 0)
        return sa_error_set(err, SA_ERR_STATE,
                            "%s: shard is incomplete (%d records, no end record): it is still "
                            "running or was stopped; run it again with --resume, then merge",
                            p->path, p->records);
    cJSON *rec = parse_line(&p->r);
    if (rec && is_end(rec)) {
        int n = -1;
        int_field(rec, "records", 0, 2147483647.0, &n);
        cJSON_Delete(rec);
        p->ended = 1;
        if (n != p->records)
            return sa_error_set(err, SA_ERR_FORMAT,
                                "%s: its end record counts %d records but it holds %d (damaged)",
                                p->path, n, p->records);
        return SA_OK;
    }
    int i = rec ? record_item(rec, total) : -1;
    if (i < 0 || (p->records > 0 && i <= p->cur_i)) {
        cJSON_Delete(rec);
        return sa_error_set(err, SA_ERR_FORMAT, "%s line %ld: %s (damaged or edited)", p->path,
                            p->r.lineno,
                            !rec    ? "not a JSON record"
                            : i < 0 ? "no valid item number \"i\""
                                    : "item numbers out of order");
    }
    p->cur = rec;
    p->cur_i = i;
    p->records++;
    return SA_OK;
}

/* Opens every part and checks the headers fit together; parts[] is ordered by shard index. */
static int open_parts(const char *const *paths, int n, const char *command, part_in *parts,
                      int *total, sa_error *err) {
    part_in *first = NULL;
    for (int k = 0; k < n; k++) {
        part_in p = {.path = paths[k]};
        p.r.f = fopen(paths[k], "rb");
        if (!p.r.f)
            return sa_error_set(err, SA_ERR_IO, "%s: cannot open: %s", paths[k], strerror(errno));
        int got = next_line(&p.r);
        p.head = got == 1 ? parse_line(&p.r) : NULL;
        const char *cmd = NULL;
        sa_shard sh;
        int tot = 0;
        int rc = p.head ? parse_header(p.head, p.path, &cmd, &sh, &tot, err)
                        : sa_error_set(err, SA_ERR_FORMAT,
                                       "%s: not a segagent part file (no header line)", p.path);
        if (rc == SA_OK && command && strcmp(cmd, command))
            rc = sa_error_set(err, SA_ERR_STATE, "%s: a part of '%s', not of '%s'", p.path, cmd,
                              command);
        if (rc == SA_OK && sh.count != n)
            rc = sa_error_set(err, SA_ERR_STATE,
                              "%s is shard %d of %d, but %d part file%s given: all %d are needed",
                              p.path, sh.index, sh.count, n, n == 1 ? " was" : "s were", sh.count);
        if (rc == SA_OK && parts[sh.index].path)
            rc = sa_error_set(err, SA_ERR_STATE, "%s and %s are both shard %d of %d",
                              parts[sh.index].path, p.path, sh.index, sh.count);
        if (rc == SA_OK && first) {
            const char *fcmd =
                cJSON_GetObjectItemCaseSensitive(first->head, "command")->valuestring;
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(first->head, "config");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(p.head, "config");
            if (strcmp(fcmd, cmd) || tot != *total || !cJSON_Compare(a, b, 1))
                rc = sa_error_set(err, SA_ERR_STATE,
                                  "%s and %s are parts of different runs (%s differs)", first->path,
                                  p.path,
                                  strcmp(fcmd, cmd) ? "command"
                                  : tot != *total   ? "item count"
                                                    : differing_key(a, b));
        }
        if (rc != SA_OK) {
            cJSON_Delete(p.head);
            free(p.r.buf);
            fclose(p.r.f);
            return rc;
        }
        parts[sh.index] = p;
        if (!first) {
            first = &parts[sh.index];
            *total = tot;
        }
    }
    return SA_OK;
}

static void close_parts(part_in *parts, int n) {
    for (int k = 0; k < n; k++) {
        cJSON_Delete(parts[k].head);
        cJSON_Delete(parts[k].cur);
        free(parts[k].r.buf);
        if (parts[k].r.f) fclose(parts[k].r.f);
    }
}

int sa_parts_merge(const char *const *paths, int n_paths, const char *command,
                   sa_parts_merge_ops ops, void *user, sa_error *err) {
    if (!paths || n_paths < 1 || n_paths > SA_SHARD_MAX || !ops.on_record)
        return sa_error_set(err, SA_ERR_INVALID, "merge: no part files given");
    part_in *parts = calloc((size_t)n_paths, sizeof *parts);
    if (!parts) return sa_error_set(err, SA_ERR_NOMEM, "merge: out of memory");
    int total = 0;
    int rc = open_parts(paths, n_paths, command, parts, &total, err);
    if (rc == SA_OK && ops.on_header) {
        part_in *any = NULL;
        for (int k = 0; k < n_paths && !any; k++)
            if (parts[k].head) any = &parts[k];
        rc = ops.on_header(user, any->head, err);
    }
    for (int k = 0; k < n_paths && rc == SA_OK; k++)
        rc = advance(&parts[k], total, err);
    const char *prev = "";
    for (int want = 0; rc == SA_OK; want++) {
        part_in *best = NULL;
        for (int k = 0; k < n_paths; k++)
            if (parts[k].cur && (!best || parts[k].cur_i < best->cur_i)) best = &parts[k];
        if (!best) {
            if (want < total)
                rc = sa_error_set(err, SA_ERR_STATE,
                                  "merge: items %d..%d of %d are in no part (the parts are not "
                                  "from one complete run)",
                                  want, total - 1, total);
            break;
        }
        if (best->cur_i != want) {
            rc = best->cur_i > want
                     ? sa_error_set(err, SA_ERR_STATE, "merge: item %d of %d is in no part", want,
                                    total)
                     : sa_error_set(err, SA_ERR_STATE, "merge: item %d is in both %s and %s",
                                    best->cur_i, prev, best->path);
            break;
        }
        prev = best->path;
        rc = ops.on_record(user, best->cur, err);
        if (rc == SA_OK) rc = advance(best, total, err);
    }
    close_parts(parts, n_paths);
    free(parts);
    return rc;
}
