/* segagent merge: joins the part files of a sharded run (docs/parts.md, docs/cluster.md) into the file one
 * unsharded run writes. Collects the parts (files, folders, quoted globs), reads the first part's header and
 * hands the whole list to the merger of the command that wrote it (the table below); the merger checks that
 * every shard is there exactly once and complete, and writes the output under a temporary name. */
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_paths.h"
#include "segagent/eval_report.h"
#include "segagent/partfile.h"
#include "segagent/record.h"
#include "segagent/starplus.h"

/* One merger per command that writes part files; each has the signature of sa_traj_merge. */
typedef int (*merge_fn)(const char *const *parts, int n_parts, const char *out, sa_error *err);

typedef struct merger {
    const char *command; /* the "command" of the parts' header */
    merge_fn merge;
    const char *writes; /* for --help */
} merger;

static const merger mergers[] = {
    {"trajectories", sa_traj_merge, "the trajectory JSON (segagent trajectories --out)"},
    {"eval", sa_eval_merge,
     "the evaluation JSON, its charts and the merged per-sample records (segagent eval --json)"},
    {"starplus", sa_starplus_merge,
     "the refined trajectory JSON and its .stats.json (segagent starplus --out)"},
};
#define N_MERGERS ((int)(sizeof mergers / sizeof mergers[0]))

static const char usage_text[] =
    "usage: segagent merge PARTS... --out FILE\n"
    "\n"
    "Joins the part files of a run split into N shards (--shard I/N, a Slurm array, a Kubernetes Indexed Job)\n"
    "into exactly what one unsharded run of the same command writes: the same items in the same order\n"
    "(only the date differs). Each shard wrote OUT.shard-IIII-of-NNNN.jsonl; give all N of them, in any order:\n"
    "\n"
    "  PARTS                part files, quoted globs, or folders: the parts of FILE in them (for --out\n"
    "                       runs/g.json, every g.shard-IIII-of-NNNN.jsonl of the folder)\n"
    "  --out FILE           the merged output (written under a temporary name, renamed when all is well)\n"
    "  --quiet              no summary line\n"
    "\n"
    "The merge refuses, naming the shard and its file: a missing shard, the same shard twice, a shard that\n"
    "has not finished (no end record: it is still running, or was stopped; run it again with --resume),\n"
    "parts of different commands or runs (other options), and an item that is in two parts or in none.\n"
    "\n"
    "The first part's header says which command wrote it; this build merges:\n"
    "%s"
    "\n"
    "examples:\n"
    "  segagent merge runs/g.shard-*-of-0004.jsonl --out runs/g.json\n"
    "  segagent merge runs/ --out runs/g.json\n"
    "  segagent merge 'runs/g.shard-*.jsonl' --out runs/g.json     # the glob expanded here\n"
    "\n"
    "exit status: 0 when FILE was written, 1 when the parts do not merge (FILE untouched), 2 on a usage error.\n";

/* The usage text with the table of mergers filled in. */
static void make_usage(char *buf, size_t size) {
    char list[1024] = "";
    size_t used = 0;
    for (int k = 0; k < N_MERGERS && used < sizeof list; k++) {
        int n = snprintf(list + used, sizeof list - used, "  %-20s %s\n", mergers[k].command,
                         mergers[k].writes);
        if (n > 0) used += (size_t)n;
    }
    snprintf(buf, size, usage_text, list);
}

typedef struct path_list {
    char **v;
    int n, cap;
} path_list;

static int list_add(path_list *l, const char *p) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    size_t n = strlen(p) + 1;
    if (!(l->v[l->n] = malloc(n))) return -1;
    memcpy(l->v[l->n++], p, n);
    return 0;
}

static void list_free(path_list *l) {
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Length of the stem of a part file name: "g.shard-0001-of-0004.jsonl" -> 1 ("g"), "g.part.jsonl" -> 1;
 * 0 when name is not named like a part. */
static size_t part_stem(const char *name) {
    const char *s = strstr(name, ".shard-");
    size_t len = strlen(name);
    if (s) {
        unsigned i, n;
        char tail[16];
        if (sscanf(s, ".shard-%u-of-%u%15s", &i, &n, tail) == 3 && !strcmp(tail, ".jsonl"))
            return (size_t)(s - name);
        return 0;
    }
    if (len > 11 && !strcmp(name + len - 11, ".part.jsonl")) return len - 11;
    return 0;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The part files of out in folder dir: those named like out ("g.json": g.shard-IIII-of-NNNN.jsonl or
 * g.part.jsonl), sorted. 0, or 1 after a message. */
static int add_folder(const char *cmd, const char *dir, const char *out, path_list *l) {
    DIR *d = opendir(dir);
    if (!d) {
        cli_printf(stderr, "%s: cannot read folder %s\n", cmd, dir);
        return 1;
    }
    const char *ob = base_name(out), *dot = strrchr(ob, '.');
    size_t ol = dot && dot != ob ? (size_t)(dot - ob) : strlen(ob);
    int first = l->n, bad = 0;
    struct dirent *e;
    while (!bad && (e = readdir(d)) != NULL) {
        if (part_stem(e->d_name) != ol || strncmp(e->d_name, ob, ol)) continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (p) snprintf(p, n, "%s/%s", dir, e->d_name);
        bad = !p || list_add(l, p);
        free(p);
    }
    closedir(d);
    if (bad) {
        cli_printf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    if (l->n == first) {
        cli_printf(stderr, "%s: no part file of --out %s in %s (%.*s.shard-IIII-of-NNNN.jsonl)\n",
                   cmd, out, dir, (int)ol, ob);
        return 1;
    }
    qsort(l->v + first, (size_t)(l->n - first), sizeof *l->v, by_name);
    return 0;
}

/* One PARTS argument: a folder, a glob the shell left unexpanded, or a file. 0, or 1 after a message. */
static int add_arg(const char *cmd, const char *arg, const char *out, path_list *l) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) return add_folder(cmd, arg, out, l);
    if (stat(arg, &st) != 0 && strpbrk(arg, "*?[")) {
        glob_t g;
        int rc = glob(arg, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            cli_printf(stderr, "%s: no file matches %s\n", cmd, arg);
            return 1;
        }
        int bad = rc != 0;
        for (size_t i = 0; !bad && i < g.gl_pathc; i++)
            bad = list_add(l, g.gl_pathv[i]);
        globfree(&g);
        if (bad) cli_printf(stderr, "%s: cannot expand %s\n", cmd, arg);
        return bad;
    }
    if (list_add(l, arg)) {
        cli_printf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    return 0;
}

/* The merger of the command that wrote the first part; NULL after a message. */
static const merger *find_merger(const char *cmd, const char *first) {
    cJSON *head = NULL;
    sa_error err = {0};
    if (sa_part_read_header(first, &head, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return NULL;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(head, "command");
    const merger *m = NULL;
    for (int k = 0; k < N_MERGERS && !m; k++)
        if (!strcmp(c->valuestring, mergers[k].command)) m = &mergers[k];
    if (!m)
        cli_printf(stderr, "%s: %s holds parts of '%s', which this build cannot merge\n", cmd,
                   first, c->valuestring);
    cJSON_Delete(head);
    return m;
}

/* The output must not be one of the parts. 0, or 1 after a message. */
static int check_paths(const char *cmd, const path_list *l, const char *out) {
    cli_io io;
    cli_io_init(&io, cmd);
    for (int i = 0; i < l->n; i++)
        cli_io_input(&io, "a part file", l->v[i]);
    int bad = cli_io_output(&io, "--out", out);
    cli_io_free(&io);
    return bad;
}

int cli_merge(int argc, char **argv) {
    const char *out = NULL;
    int quiet = 0, n_pos = 0;
    cli_opt opts[] = {CLI_O_STR("out", &out), CLI_O_FLAG("quiet", &quiet)};
    char usage[4096];
    make_usage(usage, sizeof usage);
    const char **pos = malloc((size_t)argc * sizeof *pos); /* a shell glob may give thousands */
    if (!pos) return 1;
    int prc = cli_parse(argc, argv, opts, 2, pos, argc, &n_pos, usage);
    if (prc == 0 && (!out || n_pos == 0)) {
        cli_printf(stderr, "%s: needs the part files and --out FILE (see --help)\n", argv[0]);
        prc = 2;
    }
    if (prc == 0 && cli_check_out_file(argv[0], "out", out)) prc = 3;
    if (prc) {
        free(pos);
        return prc == 1 ? 0 : prc == 3 ? 1 : 2;
    }
    path_list l = {0};
    int rc = 0;
    for (int i = 0; i < n_pos && rc == 0; i++)
        rc = add_arg(argv[0], pos[i], out, &l);
    free(pos);
    const merger *m = rc == 0 ? find_merger(argv[0], l.v[0]) : NULL;
    if (rc == 0 && !m) rc = 1;
    if (rc == 0) rc = check_paths(argv[0], &l, out);
    sa_error err = {0};
    if (rc == 0 && m->merge((const char *const *)l.v, l.n, out, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        rc = 1;
    }
    if (rc == 0 && !quiet)
        cli_printf(stderr, "merge: %d part%s of '%s' -> %s\n", l.n, l.n == 1 ? "" : "s", m->command,
                   out);
    list_free(&l);
    return rc;
}
