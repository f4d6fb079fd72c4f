/* segagent export: turn a trajectory JSON into fine-tuning records (LLaVA, Qwen-VL, LLaMA-Factory,
 * ms-swift), one record per step with the overlaid image written as a JPEG. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_paths.h"
#include "cli_stop.h"
#include "segagent/export.h"
#include "segagent/fileio.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
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
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the current sample and writes no records file: OUT keeps the one it\n"
    "held (a partial training set is never left to be mistaken for a whole one); run again to export everything.\n"
    "\n"
    "exit status: 0 when records were written, 1 on failure (nothing exported), 2 on a usage error, 130 when\n"
    "interrupted.\n";
/* clang-format on */

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
        cli_printf(stderr, "skipped %s\n", problem);
    }
    cli_progress_step(rc->pr, NULL);
}

typedef struct export_opts {
    const char *traj, *format, *out, *prompt, *coords, *axis, *color, *caption, *paths;
    cli_multi images;
    int size; /* INT_MIN: --size not given */
    int with_iou, quality, quiet;
    sa_export_format f;
    sa_export_params p; /* from the options above */
} export_opts;

/* --color NAME as the overlay colour. Returns 0, or -1 for an unknown name. */
static int parse_color(const char *name, sa_overlay_style *st) {
    static const struct {
        const char *name;
        uint8_t rgb[3];
    } colors[] = {{"green", {0, 255, 0}}, {"red", {255, 0, 0}}, {"blue", {0, 0, 255}}};
    for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
        if (!strcmp(name, colors[i].name)) {
            memcpy(st->color, colors[i].rgb, 3);
            return 0;
        }
    return -1;
}

/* The export parameters from the options. Returns -1 to go on, else 2 (message printed). */
static int export_params(const char *cmd, export_opts *o) {
    sa_error err = {0};
    if (sa_export_format_from_name(o->format, &o->f, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 2;
    }
    sa_export_params *p = &o->p;
    *p = sa_export_default_params(o->f);
    if (o->size != INT_MIN) p->size = o->size;
    p->with_iou = o->with_iou;
    if (o->prompt) p->prompt = o->prompt;
    p->jpeg_quality = o->quality;
    p->default_caption = o->caption;
    if ((o->coords && sa_coord_style_from_name(o->coords, &p->grammar.coords, &err) != SA_OK) ||
        sa_axis_order_from_name(o->axis, &p->grammar.axis, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 2;
    }
    if (parse_color(o->color, &p->style)) {
        cli_printf(stderr, "%s: --color '%s': expected green, red or blue\n", cmd, o->color);
        return 2;
    }
    if (o->paths && strcmp(o->paths, "relative") && strcmp(o->paths, "absolute")) {
        cli_printf(stderr, "%s: --paths '%s': expected relative or absolute\n", cmd, o->paths);
        return 2;
    }
    if (o->paths) p->absolute_paths = !strcmp(o->paths, "absolute");
    return -1; /* numeric ranges: the option table */
}

/* The records file (and LLaMA-Factory's dataset_info.json) must not be the --trajectories or --prompt
 * file, and OUT/images (where the JPEGs go) must not be an --images folder. Returns 0, or 1 with the
 * message printed. */
static int check_paths(const export_opts *o) {
    cli_io io;
    cli_io_init(&io, "export");
    cli_io_input(&io, "--trajectories", o->traj);
    cli_io_input(&io, "--prompt", o->prompt);
    for (int i = 0; i < o->images.n; i++)
        cli_io_input(&io, "--images", o->images.v[i]);
    const char *names[] = {sa_export_file_name(o->f),
                           o->f == SA_EXPORT_LLAMAFACTORY ? "dataset_info.json" : NULL, NULL};
    char *imgdir = sa_path_join(o->out, "images");
    int bad = cli_io_outputs_in(&io, "--out", o->out, names) ||
              (imgdir && cli_io_output_dir(&io, "the image folder of --out", imgdir));
    free(imgdir);
    cli_io_free(&io);
    return bad;
}

/* Parses and checks the command line; a wrong --images folder is reported before any work (and
 * before any output). Returns -1 to go on, else the exit status. */
static int parse_export_options(int argc, char **argv, export_opts *o) {
    memset(o, 0, sizeof *o);
    o->axis = "yx";
    o->color = "green";
    o->size = INT_MIN;
    o->quality = 75;
    cli_opt opts[] = {
        CLI_O_STR("trajectories", &o->traj),  CLI_O_MULTI("images", &o->images),
        CLI_O_STR("format", &o->format),      CLI_O_STR("out", &o->out),
        CLI_O_INT("size", &o->size, 0, 8192), CLI_O_FLAG("with-iou", &o->with_iou),
        CLI_O_STR("prompt", &o->prompt),      CLI_O_STR("coords", &o->coords),
        CLI_O_STR("axis", &o->axis),          CLI_O_STR("color", &o->color),
        CLI_O_JPEG_QUALITY(&o->quality),      CLI_O_STR("caption", &o->caption),
        CLI_O_STR("paths", &o->paths),        CLI_O_FLAG("quiet", &o->quiet),
    };
    int prc =
        cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0, NULL, usage_text);
    if (prc) return prc == 1 ? 0 : 2;
    if (!o->traj || o->images.n == 0 || !o->format || !o->out) {
        cli_printf(stderr,
                   "%s: --trajectories, --images, --format and --out are required (see --help)\n",
                   argv[0]);
        return 2;
    }
    int st = export_params(argv[0], o);
    if (st >= 0) return st;
    for (int i = 0; i < o->images.n; i++) {
        struct stat sb;
        if (stat(o->images.v[i], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            cli_printf(stderr, "%s: --images %s: not a folder\n", argv[0], o->images.v[i]);
            return 1;
        }
    }
    return check_paths(o) ? 1 : -1;
}

/* Nothing exported (the library wrote no records file): leave no empty folders behind. */
static void remove_empty_folders(const char *out) {
    char path[8192];
    snprintf(path, sizeof path, "%s/images", out);
    rmdir(path); /* only when empty */
    rmdir(out);
}

int cli_export(int argc, char **argv) {
    export_opts o;
    int status = parse_export_options(argc, argv, &o);
    if (status >= 0) return status;
    sa_error err = {0};
    sa_traj_set *set = NULL;
    if (sa_traj_read(o.traj, &set, &err) != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    cli_progress pr;
    cli_progress_start(&pr, "export", set->n_samples, o.quiet);
    report_ctx rctx = {&pr, o.quiet};
    sa_export_stats st;
    o.p.should_stop = cli_stop_hook;
    cli_stop_install();
    int rc = sa_export_run(set, o.images.v, o.images.n, o.out, o.p, on_report, &rctx, &st, &err);
    cli_stop_restore();
    cli_progress_end(&pr);
    sa_traj_set_free(set);
    if (rc != SA_OK) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    if (st.stopped) {
        cli_printf(
            stderr,
            "%s: interrupted; no records file written (%s/%s keeps what it held), %ld images written "
            "so far stay in %s/images\n",
            argv[0], o.out, sa_export_file_name(o.f), st.records, o.out);
        return CLI_EXIT_INTERRUPTED;
    }
    if (st.records > 0 || st.samples == st.samples_empty) {
        cli_printf(
            stderr,
            "export: %ld records (%s, %s) from %ld samples (%ld skipped, %ld without clicks) "
            "-> %s/%s\n",
            st.records, sa_export_format_name(o.f),
            o.p.grammar.coords == SA_COORDS_INT1000 ? "int1000" : "float1", st.samples,
            st.samples_skipped, st.samples_empty, o.out, sa_export_file_name(o.f));
        return 0;
    }
    remove_empty_folders(o.out);
    cli_printf(
        stderr,
        "%s: nothing exported: all %ld samples were skipped (see above); no records file written\n",
        argv[0], st.samples_skipped);
    return 1;
}
