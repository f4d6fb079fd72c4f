/* segagent trajectories: record training trajectories (simulated annotator + tool) over datasets and write them
 * in the released SegAgent JSON format. Per-item problems are reported and skipped; a summary line ends the
 * run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "  --seed S             seed for the random points (default 0; sample i uses S + i)\n"
    "  --caption TEXT       description stored as the caption of every sample (default: none)\n"
    "  --limit N            record at most N items per dataset\n"
    "  --quiet              no progress on stderr\n" CLI_TOOL_OPTIONS_HELP
    "\n"
    "Image names are stored as the file name inside the dataset's image folder (as the released files do);\n"
    "give that folder to `segagent export --images`.\n";

typedef struct summary {
    long samples, skipped, clicks, empty;
    double iou_sum;
} summary;

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int cli_trajectories(int argc, char **argv) {
    cli_multi datasets = {0};
    const char *out = "traj.json", *start = "empty", *caption = NULL, *tool_name = "builtin", *sam_model = NULL;
    double target = 0.98;
    int max_clicks = 20, random_points = 5, seed = 0, limit = 0, quiet = 0, threads = 2;
    cli_opt opts[] = {
        {"dataset", CLI_MULTI, &datasets},   {"out", CLI_STR, &out},
        {"target-iou", CLI_DOUBLE, &target}, {"max-clicks", CLI_INT, &max_clicks},
        {"start", CLI_STR, &start},          {"random-points", CLI_INT, &random_points},
        {"seed", CLI_INT, &seed},            {"caption", CLI_STR, &caption},
        {"limit", CLI_INT, &limit},          {"quiet", CLI_FLAG, &quiet},
        {"tool", CLI_STR, &tool_name},       {"sam-model", CLI_STR, &sam_model},
        {"threads", CLI_INT, &threads},
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
    if (!(target > 0.0 && target <= 1.0) || max_clicks < 1 || max_clicks > SA_MAX_CLICKS || random_points < 1 ||
        random_points > SA_MAX_CLICKS || seed < 0 || limit < 0) {
        fprintf(stderr, "%s: --target-iou must be in (0, 1], --max-clicks and --random-points in 1..%d, --seed and "
                        "--limit >= 0\n",
                argv[0], SA_MAX_CLICKS);
        return 2;
    }

    /* open every dataset first: a wrong folder is reported before any work */
    sa_dataset *ds[CLI_MAX_MULTI] = {0};
    int n_ds = 0, rc = 1;
    long total = 0;
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
        for (int w = 0; w < sa_dataset_n_warnings(ds[n_ds]); w++)
            fprintf(stderr, "warning: %s\n", sa_dataset_warning(ds[n_ds], w));
        int cnt = sa_dataset_count(ds[n_ds]);
        total += (limit > 0 && cnt > limit) ? limit : cnt;
        n_ds++;
    }

    cli_tool_opts to = {tool_name, sam_model, threads};
    sa_tool *tool = NULL;
    if (cli_make_tool(&to, &tool, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        goto cleanup;
    }
    char *info = sa_traj_info_json(&p, sa_tool_name(tool), SEGAGENT_VERSION, datasets.v, datasets.n, &err);
    sa_traj_writer *w = NULL;
    if (!info || sa_traj_writer_open(out, info, &w, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        free(info);
        sa_tool_free(tool);
        goto cleanup;
    }
    free(info);

    summary sm = {0};
    cli_progress pr;
    cli_progress_start(&pr, "trajectories", total, quiet);
    long gi = 0;
    int fatal = 0;
    for (int d = 0; d < n_ds && !fatal; d++) {
        int cnt = sa_dataset_count(ds[d]);
        if (limit > 0 && cnt > limit) cnt = limit;
        for (int i = 0; i < cnt && !fatal; i++, gi++) {
            const char *item = sa_dataset_item_name(ds[d], i);
            sa_image img = {0};
            sa_mask gt = {0}, ign = {0};
            sa_tool_session *sess = NULL;
            sa_traj_sample smp = {0};
            sa_traj_params pi = p;
            pi.seed = (uint64_t)seed + (uint64_t)gi;
            int r = sa_dataset_load(ds[d], i, &img, &gt, &ign, &err);
            if (r == SA_OK) r = sa_tool_session_new(tool, &img, &sess, &err);
            if (r == SA_OK) r = sa_traj_record(tool, sess, &gt, ign.data ? &ign : NULL, pi, &smp, &err);
            if (r == SA_OK) {
                const char *caps[1] = {caption};
                r = sa_traj_sample_set_meta(&smp, base_name(sa_dataset_image_path(ds[d], i)), "1", caps,
                                            caption ? 1 : 0, &err);
            }
            if (r == SA_OK) {
                if (sa_traj_writer_add(w, &smp, &err) != SA_OK) {
                    if (pr.tty && !quiet) fputc('\n', stderr);
                    fprintf(stderr, "%s: %s\n", argv[0], err.msg);
                    fatal = 1;
                } else {
                    sm.samples++;
                    sm.clicks += smp.n_steps;
                    if (smp.n_steps == 0) sm.empty++;
                    sm.iou_sum += sa_traj_state_iou(&smp, smp.n_steps);
                }
            } else {
                if (pr.tty && !quiet) fputc('\n', stderr);
                fprintf(stderr, "skipped %s/%s: %s\n", sa_dataset_name(ds[d]), item, err.msg);
                sm.skipped++;
            }
            sa_traj_sample_free(&smp);
            sa_tool_session_free(sess);
            sa_image_free(&img);
            sa_mask_free(&gt);
            sa_mask_free(&ign);
            cli_progress_step(&pr, item);
        }
    }
    cli_progress_end(&pr);
    sa_tool_free(tool);
    if (fatal) {
        sa_traj_writer_abort(w);
        goto cleanup;
    }
    if (sa_traj_writer_close(w, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        goto cleanup;
    }
    fprintf(stderr,
            "trajectories: %ld samples (%ld skipped, %ld with no useful click), %ld clicks (%.2f per sample), "
            "mean final IoU %.4f -> %s\n",
            sm.samples, sm.skipped, sm.empty, sm.clicks, sm.samples ? (double)sm.clicks / (double)sm.samples : 0.0,
            sm.samples ? sm.iou_sum / (double)sm.samples : 0.0, out);
    rc = sm.samples > 0 ? 0 : 1;
    if (sm.samples == 0) fprintf(stderr, "%s: no sample could be recorded\n", argv[0]);
cleanup:
    for (int d = 0; d < n_ds; d++) sa_dataset_free(ds[d]);
    return rc;
}
