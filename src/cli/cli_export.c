/* segagent export: turn a trajectory JSON into fine-tuning records (LLaVA, Qwen-VL, LLaMA-Factory, ms-swift),
 * one record per step with the overlaid image written as a JPEG. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "segagent/export.h"

static const char usage_text[] =
    "usage: segagent export --trajectories traj.json --images DIR --format FMT --out DIR [options]\n"
    "\n"
    "One supervised record per trajectory step: input = the image with the current mask painted green (JPEG) +\n"
    "the prompt, target = the annotator's click as text (\"Positive point: (a, b)\").\n"
    "\n"
    "  --trajectories PATH  trajectory JSON (released SegAgent format, e.g. from `segagent trajectories`)\n"
    "  --images DIR         folder holding the images named in the file; repeatable (searched in order)\n"
    "  --format FMT         llava | qwen-vl | llamafactory | swift\n"
    "  --out DIR            output folder (records file + images/)\n"
    "  --size N             exported images are N x N (default 448; llava 512); 0 keeps the original size\n"
    "  --with-iou           prefix each target with \"Current IOU: v\" (IoU of the input mask, 0..100)\n"
    "  --prompt P           qwen | llava | FILE with a {description} slot (default: llava for llava, else qwen)\n"
    "  --coords C           int1000 (integers in [0,1000)) | float1 (decimals in [0,1)) (default: llava float1,\n"
    "                       others int1000)\n"
    "  --axis A             yx (default, the released model's order) | xy\n"
    "  --color NAME         mask colour: green (default) | red | blue\n"
    "  --jpeg-quality Q     1..100 (default 75, as the original)\n"
    "  --caption TEXT       description for samples without a caption (default \"the object\")\n"
    "  --paths P            image paths in records: relative (to --out) | absolute (default: absolute for\n"
    "                       qwen-vl and swift, relative for llava and llamafactory)\n"
    "  --quiet              no progress on stderr\n"
    "\n"
    "Files: llava.json (train with --image_folder OUT) | qwen_vl.json | segagent_sharegpt.json +\n"
    "dataset_info.json (LLaMA-Factory: dataset_dir=OUT, dataset=segagent) | segagent_swift.jsonl (ms-swift).\n"
    "\n"
    "examples:\n"
    "  segagent export --trajectories traj.json --images ../shared/data/GrabCut/data_GT --format llava --out sft/\n"
    "  segagent export --trajectories traj.json --images imgs/ --format qwen-vl --with-iou --out sft_qwen/\n"
    "\n"
    "exit status: 0 when records were written, 1 on failure (nothing exported), 2 on a usage error.\n";

typedef struct report_ctx {
    cli_progress *pr;
    int quiet;
} report_ctx;

static void on_report(void *user, int index, int n, const char *problem) {
    report_ctx *rc = user;
    (void)index;
    (void)n;
    if (problem) {
        if (rc->pr->tty && !rc->quiet) fputc('\n', stderr);
        fprintf(stderr, "skipped %s\n", problem);
    }
    cli_progress_step(rc->pr, NULL);
}

int cli_export(int argc, char **argv) {
    const char *traj = NULL, *format = NULL, *out = NULL, *prompt = NULL, *coords = NULL, *axis = "yx",
               *color = "green", *caption = NULL, *paths = NULL;
    cli_multi images = {0};
    int size = INT_MIN, with_iou = 0, quality = 75, quiet = 0; /* INT_MIN: --size not given */
    cli_opt opts[] = {
        {"trajectories", CLI_STR, &traj}, {"images", CLI_MULTI, &images},   {"format", CLI_STR, &format},
        {"out", CLI_STR, &out},           {"size", CLI_INT, &size},         {"with-iou", CLI_FLAG, &with_iou},
        {"prompt", CLI_STR, &prompt},     {"coords", CLI_STR, &coords},     {"axis", CLI_STR, &axis},
        {"color", CLI_STR, &color},       {"jpeg-quality", CLI_INT, &quality}, {"caption", CLI_STR, &caption},
        {"paths", CLI_STR, &paths},       {"quiet", CLI_FLAG, &quiet},
    };
    int prc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage_text);
    if (prc) return prc == 1 ? 0 : 2;
    if (!traj || images.n == 0 || !format || !out) {
        fprintf(stderr, "%s: --trajectories, --images, --format and --out are required (see --help)\n", argv[0]);
        return 2;
    }
    sa_error err = {0};
    sa_export_format f;
    if (sa_export_format_from_name(format, &f, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    sa_export_params p = sa_export_default_params(f);
    if (size != INT_MIN) p.size = size;
    p.with_iou = with_iou;
    if (prompt) p.prompt = prompt;
    p.jpeg_quality = quality;
    p.default_caption = caption;
    if ((coords && sa_coord_style_from_name(coords, &p.grammar.coords, &err) != SA_OK) ||
        sa_axis_order_from_name(axis, &p.grammar.axis, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (!strcmp(color, "green")) {
        p.style.color[0] = 0, p.style.color[1] = 255, p.style.color[2] = 0;
    } else if (!strcmp(color, "red")) {
        p.style.color[0] = 255, p.style.color[1] = 0, p.style.color[2] = 0;
    } else if (!strcmp(color, "blue")) {
        p.style.color[0] = 0, p.style.color[1] = 0, p.style.color[2] = 255;
    } else {
        fprintf(stderr, "%s: --color '%s': expected green, red or blue\n", argv[0], color);
        return 2;
    }
    if (paths && strcmp(paths, "relative") && strcmp(paths, "absolute")) {
        fprintf(stderr, "%s: --paths '%s': expected relative or absolute\n", argv[0], paths);
        return 2;
    }
    if (paths) p.absolute_paths = !strcmp(paths, "absolute");
    if (cli_check_int(argv[0], "jpeg-quality", quality, 1, 100) ||
        (size != INT_MIN && cli_check_int(argv[0], "size", size, 0, 8192)))
        return 2;
    for (int i = 0; i < images.n; i++) { /* a wrong folder is reported before any work (and before any output) */
        struct stat sb;
        if (stat(images.v[i], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "%s: --images %s: not a folder\n", argv[0], images.v[i]);
            return 1;
        }
    }

    sa_traj_set *set = NULL;
    if (sa_traj_read(traj, &set, &err) != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    cli_progress pr;
    cli_progress_start(&pr, "export", set->n_samples, quiet);
    report_ctx rctx = {&pr, quiet};
    sa_export_stats st;
    int rc = sa_export_run(set, images.v, images.n, out, &p, on_report, &rctx, &st, &err);
    cli_progress_end(&pr);
    if (rc != SA_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        sa_traj_set_free(set);
        return 1;
    }
    sa_traj_set_free(set);
    if (st.records > 0 || st.samples == st.samples_empty) {
        fprintf(stderr,
                "export: %ld records (%s, %s) from %ld samples (%ld skipped, %ld without clicks) -> %s/%s\n",
                st.records, sa_export_format_name(f), p.grammar.coords == SA_COORDS_INT1000 ? "int1000" : "float1",
                st.samples, st.samples_skipped, st.samples_empty, out, sa_export_file_name(f));
        return 0;
    }
    /* nothing exported: leave no empty records file (and no empty folders) behind */
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", out, sa_export_file_name(f));
    remove(path);
    if (f == SA_EXPORT_LLAMAFACTORY) {
        snprintf(path, sizeof path, "%s/dataset_info.json", out);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/images", out);
    rmdir(path); /* only when empty */
    rmdir(out);
    fprintf(stderr, "%s: nothing exported: all %ld samples were skipped (see above); no records file written\n",
            argv[0], st.samples_skipped);
    return 1;
}
