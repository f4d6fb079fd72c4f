/* Helpers shared by the sub-commands: option parsing, tool construction, progress on stderr, mkdir -p. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "segagent/fileio.h"
#include "segagent/graphcut.h"
#include "segagent/sam.h"
#include "segagent/simpleclick.h"

static const cli_opt *find_opt(const cli_opt *opts, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) return &opts[i];
    return NULL;
}

/* The value v of option o into its destination. Returns 0, -1 for a value that is not a number (the caller
 * says so), or 2 when it is outside the option's range (message printed). */
static int set_value(const char *cmd, const cli_opt *o, const char *v) {
    char *end = NULL;
    switch (o->kind) {
    case CLI_STR:
        *(const char **)o->dst = v;
        return 0;
    case CLI_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end) return -1;
        if (errno == ERANGE) x = v[0] == '-' ? LLONG_MIN : LLONG_MAX;
        if (cli_check_int(cmd, o->name, x, (long)o->lo, (long)o->hi)) return 2;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case CLI_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end) return -1;
        /* overflow (1e309) is out of range; underflow (1e-400) is read as the tiny number it is */
        if (cli_check_double(cmd, o->name, x, o->lo, o->hi, o->lo_open)) return 2;
        *(double *)o->dst = x;
        return 0;
    }
    case CLI_MULTI: {
        cli_multi *m = o->dst;
        if (m->n >= CLI_MAX_MULTI) return -1;
        m->v[m->n++] = v;
        return 0;
    }
    default:
        return -1;
    }
}

/* Edit distance of a[0..la) and b, capped at 3 (enough to spot a typo). */
static int near_miss(const char *a, size_t la, const char *b) {
    size_t lb = strlen(b);
    if (la > 40 || lb > 40) return 3;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb] < 3 ? d[la][lb] : 3;
}

static void unknown_option(const char *cmd, const char *arg, const cli_opt *opts, int n_opts) {
    const char *name = arg;
    while (*name == '-')
        name++;
    size_t len = strcspn(name, "=");
    const cli_opt *best = NULL;
    int best_d = 3;
    for (int i = 0; i < n_opts; i++) {
        size_t ol = strlen(opts[i].name);
        int d = near_miss(name, len, opts[i].name);
        if (len >= 3 && ol > len && !strncmp(opts[i].name, name, len))
            d = 1;                      /* a prefix: --max -> --max-clicks */
        if (d > 1 && len < 6) continue; /* short names: one typo at most (--foo is not --tool) */
        if (d < best_d) best_d = d, best = &opts[i];
    }
    if (best && len > 1)
        cli_printf(stderr, "%s: unknown option '%s' (did you mean --%s? see --help)\n", cmd, arg,
                   best->name);
    else
        cli_printf(stderr, "%s: unknown option '%s' (see --help)\n", cmd, arg);
}

/* "-x", "-foo": a single-dash word that is not a number ("-1") and not "-" alone. */
static int looks_like_short_option(const char *a) {
    return a[0] == '-' && a[1] != '\0' && a[1] != '-' && !(a[1] >= '0' && a[1] <= '9') &&
           a[1] != '.' && !strchr(a, ' ');
}

/* The value of option o -- after its '=' (eq), else the next argument, which *i then skips -- into its
 * destination. Returns 0, or 2 with the message printed. */
static int take_value(int argc, char **argv, int *i, const cli_opt *opts, int n_opts,
                      const cli_opt *o, const char *eq) {
    const char *v = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!v) {
        cli_printf(stderr, "%s: option --%s needs a value\n", argv[0], o->name);
        return 2;
    }
    if (!eq && v[0] == '-' && v[1] == '-' && v[2] != '\0' &&
        find_opt(opts, n_opts, v + 2, strcspn(v + 2, "="))) {
        cli_printf(stderr, "%s: option --%s needs a value (got the option '%s')\n", argv[0],
                   o->name, v);
        return 2;
    }
    int rc = set_value(argv[0], o, v);
    if (rc == -1) {
        if (o->kind == CLI_MULTI)
            cli_printf(stderr, "%s: --%s given more than %d times\n", argv[0], o->name,
                       CLI_MAX_MULTI);
        else
            cli_printf(stderr, "%s: bad value '%s' for --%s (not a number)\n", argv[0], v, o->name);
    }
    return rc ? 2 : 0;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos, int max_pos,
              int *n_pos, const char *usage) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 1;
        }
        if (looks_like_short_option(a)) {
            unknown_option(argv[0], a, opts, n_opts);
            return 2;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (np >= max_pos) {
                cli_printf(stderr, "%s: unexpected argument '%s' (see --help)\n", argv[0], a);
                return 2;
            }
            pos[np++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = find_opt(opts, n_opts, name, len);
        if (!o) {
            unknown_option(argv[0], a, opts, n_opts);
            return 2;
        }
        if (o->kind == CLI_FLAG) {
            if (eq) {
                cli_printf(stderr, "%s: option --%s takes no value\n", argv[0], o->name);
                return 2;
            }
            *(int *)o->dst = 1;
            continue;
        }
        if (take_value(argc, argv, &i, opts, n_opts, o, eq)) return 2;
    }
    if (n_pos) *n_pos = np;
    return 0;
}

/* The embedding cache's problems (a rejected file, the first failed write): one line each, from any thread. */
static void cache_warning(void *user, const char *msg) {
    (void)user;
    cli_printf(stderr, "warning: %s\n", msg);
}

void cli_tool_report(const char *cmd, const sa_tool *tool, int quiet) {
    sa_tool_stats st;
    sa_tool_get_stats(tool, &st);
    if (quiet || !tool || strcmp(sa_tool_name(tool), "sam") != 0) return;
    cli_printf(stderr,
               "%s: %ld image encoding(s) for %ld session(s): %ld from memory (%ld waited for "
               "another worker), %ld from disk; cache files: %ld written, %ld rejected\n",
               cmd, st.image_work, st.sessions, st.mem_hits, st.inflight_waits, st.disk_hits,
               st.disk_writes, st.disk_rejected);
}

int cli_make_tool(const cli_tool_opts *o, sa_tool **out, sa_error *err) {
    const char *name = o->tool ? o->tool : "builtin";
    if (!strcmp(name, "builtin") || !strcmp(name, "graphcut"))
        return sa_graphcut_tool_new(sa_graphcut_default_params(), out, err);
    if (!strcmp(name, "sam")) {
        if (!o->sam_model)
            return sa_error_set(err, SA_ERR_INVALID, "--tool sam needs --sam-model PATH");
        sa_sam_params p = sa_sam_default_params();
        if (o->threads > 0) p.threads = o->threads;
        if (o->precision && !strcmp(o->precision, "bf16")) p.precision = SA_SAM_PRECISION_BF16;
        sa_sam_model *m = NULL;
        int rc = sa_sam_model_load(o->sam_model, p, &m, err);
        if (rc == SA_OK) rc = sa_sam_tool_new(m, out, err);
        if (rc == SA_OK && (o->embed_cache || o->no_embed_memory)) {
            sa_tool_cache_params cp = sa_tool_cache_default_params();
            cp.dir = o->embed_cache;
            if (o->no_embed_memory) cp.max_bytes = 0;
            cp.warn = cache_warning;
            rc = sa_tool_set_cache(*out, cp, err);
            if (rc != SA_OK) {
                sa_tool_free(*out);
                *out = NULL;
            }
        }
        return rc;
    }
    if (!strcmp(name, "simpleclick")) {
        if (!o->model)
            return sa_error_set(err, SA_ERR_INVALID,
                                "--tool simpleclick needs --model PATH (or --tool-model PATH)");
        sa_sc_params p = sa_sc_default_params();
        if (o->threads > 0) p.threads = o->threads;
        if (o->zoom_in) p.zoom_in = !strcmp(o->zoom_in, "on");
        if (o->flip) p.flip = !strcmp(o->flip, "on");
        if (o->precision && !strcmp(o->precision, "bf16")) p.precision = SA_SC_PRECISION_BF16;
        if (o->prob_thresh) p.prob_thresh = (float)strtod(o->prob_thresh, NULL);
        sa_sc_model *m = NULL;
        int rc = sa_sc_model_load(o->model, p, &m, err);
        if (rc != SA_OK) return rc;
        return sa_sc_tool_new(m, out, err);
    }
    return sa_error_set(err, SA_ERR_INVALID,
                        "unknown tool '%s' (expected builtin, sam or simpleclick)", name);
}

static int check_on_off(const char *cmd, const char *opt, const char *v) {
    if (!v || !strcmp(v, "on") || !strcmp(v, "off")) return 0;
    fprintf(stderr, "%s: --%s must be on or off (got '%s')\n", cmd, opt, v);
    return 2;
}

int cli_check_tool_opts(const char *cmd, const cli_tool_opts *o) {
    const char *name = o->tool ? o->tool : "builtin";
    if (strcmp(name, "builtin") && strcmp(name, "graphcut") && strcmp(name, "sam") &&
        strcmp(name, "simpleclick")) {
        cli_printf(stderr, "%s: --tool '%s': expected builtin, sam or simpleclick\n", cmd, name);
        return 2;
    }
    if (!strcmp(name, "simpleclick") && (!o->model || !*o->model)) {
        fprintf(stderr,
                "%s: --tool simpleclick needs --model PATH (a SimpleClick checkpoint .pth; "
                "--tool-model PATH in segment and refine)\n",
                cmd);
        return 2;
    }
    if (check_on_off(cmd, "zoom-in", o->zoom_in) || check_on_off(cmd, "flip", o->flip)) return 2;
    if (o->precision && strcmp(o->precision, "fp32") && strcmp(o->precision, "bf16")) {
        cli_printf(stderr, "%s: --precision must be fp32 or bf16 (got '%s')\n", cmd, o->precision);
        return 2;
    }
    if (o->prob_thresh) {
        char *end = NULL;
        double t = strtod(o->prob_thresh, &end);
        if (end == o->prob_thresh || *end || !(t >= 0.0 && t < 1.0)) {
            fprintf(stderr, "%s: --prob-thresh must be a number in [0, 1) (got '%s')\n", cmd,
                    o->prob_thresh);
            return 2;
        }
    }
    if (o->embed_cache && (strcmp(name, "sam") || !*o->embed_cache)) {
        cli_printf(stderr, "%s: --embed-cache DIR is for --tool sam (it keeps SAM's embeddings)\n",
                   cmd);
        return 2;
    }
    if (!strcmp(name, "sam") && (!o->sam_model || !*o->sam_model)) {
        cli_printf(stderr,
                   "%s: --tool sam needs --sam-model PATH (a SAM checkpoint folder or file)\n",
                   cmd);
        return 2;
    }
    return 0; /* --threads: its range is in the option table */
}

int cli_check_int(const char *cmd, const char *opt, long long v, long lo, long hi) {
    if (v >= lo && v <= hi) return 0;
    char got[32];
    if (v == LLONG_MAX || v == LLONG_MIN)
        snprintf(got, sizeof got, "a number that large");
    else
        snprintf(got, sizeof got, "%lld", v);
    if (hi == CLI_INT_MAX)
        cli_printf(stderr, "%s: --%s must be >= %ld (got %s)\n", cmd, opt, lo, got);
    else
        cli_printf(stderr, "%s: --%s must be %ld..%ld (got %s)\n", cmd, opt, lo, hi, got);
    return 2;
}

int cli_check_double(const char *cmd, const char *opt, double v, double lo, double hi,
                     int lo_open) {
    if ((lo_open ? v > lo : v >= lo) && v <= hi) return 0; /* NaN fails */
    cli_printf(stderr, "%s: --%s must be in %c%g, %g] (got %g)\n", cmd, opt, lo_open ? '(' : '[',
               lo, hi, v);
    return 2;
}

int cli_parse_int_list(const char *s, char sep, int *v, int n, long lo, long hi) {
    for (int i = 0; i < n; i++) {
        if (!(*s >= '0' && *s <= '9') && !(*s == '-' && s[1] >= '0' && s[1] <= '9')) return -1;
        char *end = NULL;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (errno || x < lo || x > hi || *end != (i + 1 < n ? sep : '\0')) return -1;
        v[i] = (int)x;
        s = end + (i + 1 < n);
    }
    return 0;
}

int cli_default_jobs(const char *tool) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (tool && !strcmp(tool, "sam")) return 1;
    return ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
}

int cli_check_out_file(const char *cmd, const char *opt, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_printf(stderr, "%s: --%s %s: is a folder (a file name is needed)\n", cmd, opt, path);
        return 1;
    }
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_printf(stderr, "%s: --%s %s: the folder %s does not exist\n", cmd, opt, path, dir);
        return 1;
    }
    if (access(dir, W_OK) != 0) {
        cli_printf(stderr, "%s: --%s %s: the folder %s is not writable\n", cmd, opt, path, dir);
        return 1;
    }
    return 0;
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_start(cli_progress *p, const char *label, long total, int quiet) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->tty = isatty(STDERR_FILENO);
    p->last_pct = -1;
    p->t0 = cli_now_s();
    p->quiet = quiet;
}

void cli_progress_step(cli_progress *p, const char *item) {
    p->done++;
    if (p->quiet || p->total <= 0) return;
    int pct = (int)(100 * p->done / p->total);
    double el = cli_now_s() - p->t0;
    double eta = p->done ? el / (double)p->done * (double)(p->total - p->done) : 0.0;
    char name[96]; /* an item name from a file or folder: escaped (cli_term.h) */
    cli_escape(item ? item : "", 1, name, sizeof name);
    if (p->tty) {
        int width = 30, fill = (int)((long)width * p->done / p->total);
        char bar[64], label[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        /* the bar's own "\r" is written directly, so it cannot go through cli_printf */
        fprintf(stderr, "\r%s [%s] %ld/%ld %3d%% %.0fs eta %.0fs %-24.24s",
                cli_escape(p->label, 1, label, sizeof label), bar, p->done, p->total, pct, el, eta,
                name);
        fflush(stderr);
    } else if (pct / 5 != p->last_pct / 5 || p->done == p->total) {
        cli_printf(stderr, "%s: %ld/%ld (%d%%) %.1fs elapsed, eta %.0fs%s%s\n", p->label, p->done,
                   p->total, pct, el, eta, item ? ", last " : "", name);
    }
    p->last_pct = pct;
}

void cli_progress_end(cli_progress *p) {
    if (p->quiet) return;
    if (p->tty) cli_printf(stderr, "\n");
}

void cli_remove_stale_steps(const char *dir) {
    char p[4200];
    for (int i = 0; i <= CLI_MAX_STEP_FILES; i++) {
        if (snprintf(p, sizeof p, "%s/step_%02d.png", dir, i) >= (int)sizeof p) return;
        remove(p); /* most do not exist: fine */
    }
}

int cli_mkdirs(const char *path) {
    return sa_make_dirs(path, NULL) == SA_OK ? 0 : -1; /* errno says why */
}

int cli_parse_check_opts(const char *cmd, int argc, char **argv, const char *usage,
                         cli_check_opts *o) {
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->kernels_name = "fast";
    cli_opt opts[] = {
        CLI_O_THREADS(&o->threads),
        CLI_O_STR("weights", &o->weights),
        CLI_O_STR("kernels", &o->kernels_name),
    };
    const char *pos[1];
    int n_pos = 0;
    int r = cli_parse(argc, argv, opts, 3, pos, 1, &n_pos, usage);
    if (r) return r == 1 ? -1 : 2;
    if (n_pos != 1) {
        cli_printf(stderr, "%s: need the fixture folder DIR (see --help)\n", cmd);
        return 2;
    }
    static const char *const names[3] = {"fast", "blas", "reference"};
    o->kernels = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(o->kernels_name, names[i])) o->kernels = i;
    if (o->kernels < 0) {
        cli_printf(stderr, "%s: unknown --kernels '%s' (fast, blas, reference)\n", cmd,
                   o->kernels_name);
        return 2;
    }
    struct stat st;
    if (stat(pos[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_printf(stderr, "%s: %s: not a folder (expected a parity fixture folder)\n", cmd,
                   pos[0]);
        return 1;
    }
    o->dir = pos[0];
    return 0;
}
