/* segagent trajectories: record training trajectories (simulated annotator + tool) over datasets and write them
 * in the released SegAgent JSON format. Per-item problems are reported and skipped; a summary line ends the
 * run.
 *
 * Items are recorded by a pool of worker threads (each with its own tool session) in batches; a batch is
 * written in item order once it is complete, so the output file is the same for any --jobs (the random-click
 * seed of item i is S + i, independent of the thread that records it).
 *
 * Ctrl-C (SIGINT) or SIGTERM stops after the batch in progress and closes the file properly: a valid JSON file
 * with the samples recorded so far (exit 130). A second Ctrl-C kills at once. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "segagent/dataset.h"
#include "segagent/trajectory.h"

#ifndef SEGAGENT_VERSION
#define SEGAGENT_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: segagent trajectories --dataset NAME=DIR [--dataset ...] [options]\n"
    "\n"
    "Records one trajectory per image: the simulated annotator clicks, the tool recomputes the mask from all\n"
    "clicks, and a click is kept only while IoU strictly rises (SPEC.md section 4). Output: the released\n"
    "SegAgent JSON format ({\"info\", \"data\": [{image_name, height, width, gt_ann, clicks_list}]}).\n"
    "\n"
    "  --dataset NAME=DIR   a dataset folder (GrabCut layout or images/ + masks/ paired by stem); repeatable\n"
    "  --out PATH           output JSON (default traj.json)\n"
    "  --target-iou X       stop once IoU >= X (default 0.98)\n"
    "  --max-clicks N       at most N recorded clicks (default 20)\n"
    "  --start KIND         starting state: empty (default), box, random-clicks\n"
    "  --random-points N    points for --start random-clicks (default 5)\n"
    "  --seed S             seed for the random points (default 0; item i of the run uses S + i)\n"
    "  --caption TEXT       description stored as the caption of every sample (default: none)\n"
    "  --limit N            record at most N items per dataset (default 0 = all)\n"
    "  --jobs N             items recorded in parallel (default 0 = CPU count, at most 8; 1 for --tool sam)\n"
    "  --quiet              no progress on stderr\n" CLI_TOOL_OPTIONS_HELP
    "\n"
    "Image names are stored as the file name inside the dataset's image folder (as the released files do);\n"
    "give that folder (or several) to `segagent export --images`.\n"
    "\n"
    "examples:\n"
    "  segagent trajectories --dataset GrabCut=../shared/data/GrabCut --out grabcut_traj.json\n"
    "  segagent trajectories --dataset data/Berkeley --start random-clicks --seed 7 --limit 20 --out t.json\n"
    "\n"
    "Ctrl-C stops after the items in progress and still writes a valid file with the samples recorded so far.\n"
    "\n"
    "exit status: 0 when the file was written, 1 on failure, 2 on a usage error, 130 when interrupted.\n";

static volatile sig_atomic_t g_stop; /* set by the SIGINT/SIGTERM handler; the only process-wide state here */

static void on_stop_signal(int sig) {
    g_stop = 1;
    signal(sig, SIG_DFL); /* a second one kills */
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

typedef struct item {
    sa_dataset *ds;
    int i;
    long gi; /* index in the whole run */
} item;

typedef struct slot {
    sa_traj_sample smp;
    int rc;
    char msg[SA_ERROR_MSG_LEN];
} slot;

typedef struct pool {
    const item *items;
    slot *slots;
    long lo, hi, next; /* batch [lo, hi), next item to take */
    sa_tool *tool;
    sa_traj_params p;
    uint64_t seed;
    const char *caption;
    pthread_mutex_t mu;
    cli_progress *pr;
} pool;

static void record_item(pool *pl, const item *it, slot *sl) {
    sa_error err = {0};
    sa_image img = {0};
    sa_mask gt = {0}, ign = {0};
    sa_tool_session *sess = NULL;
    sa_traj_params p = pl->p;
    p.seed = pl->seed + (uint64_t)it->gi;
    int r = sa_dataset_load(it->ds, it->i, &img, &gt, &ign, &err);
    if (r == SA_OK) r = sa_tool_session_new(pl->tool, &img, &sess, &err);
    if (r == SA_OK) r = sa_traj_record(pl->tool, sess, &gt, ign.data ? &ign : NULL, p, &sl->smp, &err);
    if (r == SA_OK) {
        const char *caps[1] = {pl->caption};
        r = sa_traj_sample_set_meta(&sl->smp, base_name(sa_dataset_image_path(it->ds, it->i)), "1", caps,
                                    pl->caption ? 1 : 0, &err);
    }
    sl->rc = r;
    if (r != SA_OK) {
        snprintf(sl->msg, sizeof sl->msg, "%s", err.msg);
        sa_traj_sample_free(&sl->smp);
    }
    sa_tool_session_free(sess);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
}

static void *worker(void *arg) {
    pool *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        long k = pl->next < pl->hi ? pl->next++ : -1;
        pthread_mutex_unlock(&pl->mu);
        if (k < 0) break;
        record_item(pl, &pl->items[k], &pl->slots[k - pl->lo]);
        pthread_mutex_lock(&pl->mu);
        cli_progress_step(pl->pr, sa_dataset_item_name(pl->items[k].ds, pl->items[k].i));
        pthread_mutex_unlock(&pl->mu);
    }
    return NULL;
}

/* Records items [lo, hi) with up to jobs threads (the calling thread when jobs == 1 or threads fail). */
static void run_batch(pool *pl, long lo, long hi, int jobs) {
    pl->lo = lo;
    pl->hi = hi;
    pl->next = lo;
    pthread_t th[64];
    int started = 0;
    if (jobs > 64) jobs = 64;
    if (jobs > hi - lo) jobs = (int)(hi - lo);
    for (int t = 0; jobs > 1 && t < jobs; t++) {
        if (pthread_create(&th[started], NULL, worker, pl) != 0) break;
        started++;
    }
    if (started == 0) worker(pl);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
}

int cli_trajectories(int argc, char **argv) {
    cli_multi datasets = {0};
    const char *out = "traj.json", *start = "empty", *caption = NULL, *tool_name = "builtin", *sam_model = NULL;
    double target = 0.98;
    int max_clicks = 20, random_points = 5, seed = 0, limit = 0, quiet = 0, threads = 2, jobs = 0;
    cli_opt opts[] = {
        {"dataset", CLI_MULTI, &datasets},   {"out", CLI_STR, &out},
        {"target-iou", CLI_DOUBLE, &target}, {"max-clicks", CLI_INT, &max_clicks},
        {"start", CLI_STR, &start},          {"random-points", CLI_INT, &random_points},
        {"seed", CLI_INT, &seed},            {"caption", CLI_STR, &caption},
        {"limit", CLI_INT, &limit},          {"quiet", CLI_FLAG, &quiet},
        {"tool", CLI_STR, &tool_name},       {"sam-model", CLI_STR, &sam_model},
        {"threads", CLI_INT, &threads},      {"jobs", CLI_INT, &jobs},
    };
    int prc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage_text);
    if (prc) return prc == 1 ? 0 : 2;
    if (datasets.n == 0) {
        fprintf(stderr, "%s: at least one --dataset NAME=DIR is needed (see --help)\n", argv[0]);
        return 2;
    }
    sa_error err = {0};
    sa_traj_params p = sa_traj_default_params();
    p.target_iou = target;
    p.max_clicks = max_clicks;
    p.random_points = random_points;
    if (sa_traj_start_from_name(start, &p.start, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (!(target > 0.0 && target <= 1.0)) {
        fprintf(stderr, "%s: --target-iou must be in (0, 1] (got %g)\n", argv[0], target);
        return 2;
    }
    {
        cli_tool_opts to = {tool_name, sam_model, threads};
        if (cli_check_int(argv[0], "max-clicks", max_clicks, 1, SA_MAX_CLICKS) ||
            cli_check_int(argv[0], "random-points", random_points, 1, SA_MAX_CLICKS) ||
            cli_check_int(argv[0], "seed", seed, 0, 2147483647L) ||
            cli_check_int(argv[0], "limit", limit, 0, 2147483647L) || cli_check_int(argv[0], "jobs", jobs, 0, 64) ||
            cli_check_tool_opts(argv[0], &to))
            return 2;
    }
    if (jobs == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = !strcmp(tool_name, "sam") ? 1 : (ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu);
    }

    /* open every dataset first: a wrong folder is reported before any work */
    sa_dataset *ds[CLI_MAX_MULTI] = {0};
    int n_ds = 0, rc = 1;
    long total = 0;
    item *items = NULL;
    slot *slots = NULL;
    sa_tool *tool = NULL;
    sa_traj_writer *w = NULL;
    for (int d = 0; d < datasets.n; d++) {
        const char *spec = datasets.v[d];
        const char *eq = strchr(spec, '=');
        char name[256];
        const char *dir = spec;
        if (eq) {
            size_t nl = (size_t)(eq - spec);
            if (nl >= sizeof name) nl = sizeof name - 1;
            memcpy(name, spec, nl);
            name[nl] = '\0';
            dir = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", base_name(spec));
        }
        if (sa_dataset_open(name, dir, sa_dataset_default_params(), &ds[n_ds], &err) != SA_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], err.msg);
            goto cleanup;
        }
        for (int k = 0; k < sa_dataset_n_warnings(ds[n_ds]); k++)
            fprintf(stderr, "warning: %s\n", sa_dataset_warning(ds[n_ds], k));
        int cnt = sa_dataset_count(ds[n_ds]);
        total += (limit > 0 && cnt > limit) ? limit : cnt;
        n_ds++;
    }
    items = calloc((size_t)(total ? total : 1), sizeof *items);
    const long batch = 8L * jobs;
    slots = calloc((size_t)batch, sizeof *slots);
    if (!items || !slots) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        goto cleanup;
    }
    long gi = 0;
    for (int d = 0; d < n_ds; d++) {
        int cnt = sa_dataset_count(ds[d]);
        if (limit > 0 && cnt > limit) cnt = limit;
        for (int i = 0; i < cnt; i++, gi++) {
            items[gi].ds = ds[d];
            items[gi].i = i;
            items[gi].gi = gi;
        }
    }

    cli_tool_opts to = {tool_name, sam_model, threads};
    if (cli_make_tool(&to, &tool, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        goto cleanup;
    }
    char *info = sa_traj_info_json(&p, sa_tool_name(tool), SEGAGENT_VERSION, datasets.v, datasets.n, &err);
    if (!info || sa_traj_writer_open(out, info, &w, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        free(info);
        goto cleanup;
    }
    free(info);

    long n_samples = 0, skipped = 0, clicks = 0, empty = 0;
    double iou_sum = 0.0;
    cli_progress pr;
    cli_progress_start(&pr, "trajectories", total, quiet);
    pool pl;
    memset(&pl, 0, sizeof pl);
    pl.items = items;
    pl.slots = slots;
    pl.tool = tool;
    pl.p = p;
    pl.seed = (uint64_t)seed;
    pl.caption = caption;
    pl.pr = &pr;
    pthread_mutex_init(&pl.mu, NULL);
    int fatal = 0;
    g_stop = 0;
    struct sigaction sa_new, sa_int, sa_term;
    memset(&sa_new, 0, sizeof sa_new);
    sa_new.sa_handler = on_stop_signal;
    sigemptyset(&sa_new.sa_mask);
    sigaction(SIGINT, &sa_new, &sa_int);
    sigaction(SIGTERM, &sa_new, &sa_term);
    long lo = 0;
    for (; lo < total && !fatal && !g_stop; lo += batch) {
        long hi = lo + batch < total ? lo + batch : total;
        run_batch(&pl, lo, hi, jobs);
        for (long k = lo; k < hi; k++) {
            slot *sl = &slots[k - lo];
            if (sl->rc != SA_OK) {
                if (pr.tty && !quiet) fputc('\n', stderr);
                fprintf(stderr, "skipped %s/%s: %s\n", sa_dataset_name(items[k].ds),
                        sa_dataset_item_name(items[k].ds, items[k].i), sl->msg);
                skipped++;
            } else if (!fatal) {
                if (sa_traj_writer_add(w, &sl->smp, &err) != SA_OK) {
                    if (pr.tty && !quiet) fputc('\n', stderr);
                    fprintf(stderr, "%s: %s\n", argv[0], err.msg);
                    fatal = 1;
                } else {
                    n_samples++;
                    clicks += sl->smp.n_steps;
                    if (sl->smp.n_steps == 0) empty++;
                    iou_sum += sa_traj_state_iou(&sl->smp, sl->smp.n_steps);
                }
            }
            sa_traj_sample_free(&sl->smp);
            memset(sl, 0, sizeof *sl);
        }
    }
    pthread_mutex_destroy(&pl.mu);
    sigaction(SIGINT, &sa_int, NULL);
    sigaction(SIGTERM, &sa_term, NULL);
    cli_progress_end(&pr);
    int stopped = g_stop && lo < total;
    if (stopped)
        fprintf(stderr, "%s: interrupted after %ld of %ld items; keeping the %ld samples recorded so far\n", argv[0],
                lo, total, n_samples);
    if (fatal) {
        sa_traj_writer_abort(w);
        w = NULL;
        goto cleanup;
    }
    if (n_samples == 0) { /* no file with an empty "data" list: remove it, say so */
        sa_traj_writer_abort(w);
        w = NULL;
        fprintf(stderr, "%s: no sample could be recorded (%ld skipped); %s not written\n", argv[0], skipped, out);
        goto cleanup;
    }
    int wrc = sa_traj_writer_close(w, &err);
    w = NULL;
    if (wrc != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        goto cleanup;
    }
    fprintf(stderr,
            "trajectories: %ld samples (%ld skipped, %ld with no useful click), %ld clicks (%.2f per sample), "
            "mean final IoU %.4f -> %s\n",
            n_samples, skipped, empty, clicks, n_samples ? (double)clicks / (double)n_samples : 0.0,
            n_samples ? iou_sum / (double)n_samples : 0.0, out);
    rc = stopped ? 130 : 0;
cleanup:
    sa_traj_writer_abort(w);
    sa_tool_free(tool);
    free(items);
    free(slots);
    for (int d = 0; d < n_ds; d++) sa_dataset_free(ds[d]);
    return rc;
}
