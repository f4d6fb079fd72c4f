/* Internal to the segagent command-line program: the sub-command entry points and the helpers they share
 * (option parsing, tool construction, progress reporting). Only the CLI prints. */
#ifndef SEGAGENT_CLI_H
#define SEGAGENT_CLI_H

#include <stdio.h>

#include "cli_term.h"
#include "segagent/error.h"
#include "segagent/tool.h"

/* Sub-commands: each returns the process exit status (0 ok, 1 failure, 2 usage error). */
int cli_demo(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_prm_select(int argc, char **argv);
int cli_annotate(int argc, char **argv);
int cli_trajectories(int argc, char **argv);
int cli_merge(int argc, char **argv);
int cli_starplus(int argc, char **argv);
int cli_perturb(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_segment(int argc, char **argv);
int cli_refine(int argc, char **argv);
int cli_score(int argc, char **argv);
int cli_filter(int argc, char **argv);
int cli_check_sam(int argc, char **argv);
int cli_check_simpleclick(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* ---- option parsing ----
 * Options are "--name value" or "--name=value"; flags take no value. Anything not starting with "--" is a
 * positional argument. "-h"/"--help" prints the usage text and makes cli_parse return 1 (caller exits 0). */
typedef enum cli_opt_kind { CLI_FLAG, CLI_STR, CLI_INT, CLI_DOUBLE, CLI_MULTI } cli_opt_kind;

#define CLI_MAX_MULTI 16
typedef struct cli_multi {
    const char *v[CLI_MAX_MULTI];
    int n;
} cli_multi;

/* Every numeric option states its range here, in the command's option table, and cli_parse enforces it on
 * the value given (defaults and "not given" sentinels are not checked), with one message form for every
 * command: "--steps must be 1..1024 (got 0)", "--timeout must be in (0, 1e+06] (got 1e+300)". */
typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_opt_kind kind;
    void *
        dst; /* int* for FLAG/INT, const char** for STR, double* for DOUBLE, cli_multi* for MULTI */
    double lo, hi; /* INT, DOUBLE: the accepted range, inclusive */
    int lo_open;   /* DOUBLE: lo itself excluded (> lo) */
} cli_opt;

#define CLI_O_FLAG(name, dst)                                                                      \
    { (name), CLI_FLAG, (dst), 0, 0, 0 }
#define CLI_O_STR(name, dst)                                                                       \
    { (name), CLI_STR, (dst), 0, 0, 0 }
#define CLI_O_MULTI(name, dst)                                                                     \
    { (name), CLI_MULTI, (dst), 0, 0, 0 }
#define CLI_O_INT(name, dst, lo, hi)                                                               \
    { (name), CLI_INT, (dst), (lo), (hi), 0 }
#define CLI_O_DOUBLE(name, dst, lo, hi)                                                            \
    { (name), CLI_DOUBLE, (dst), (lo), (hi), 0 }
#define CLI_O_DOUBLE_GT(name, dst, lo, hi)                                                         \
    { (name), CLI_DOUBLE, (dst), (lo), (hi), 1 } /* lo < v <= hi */
#define CLI_INT_MAX 2147483647L
/* The ranges shared by every command that has the option. */
#define CLI_O_THREADS(dst) CLI_O_INT("threads", (dst), 1, 256)
#define CLI_O_JOBS(dst) CLI_O_INT("jobs", (dst), 0, 64) /* 0 = one per CPU, at most 8 */
#define CLI_O_LIMIT(dst) CLI_O_INT("limit", (dst), 0, CLI_INT_MAX)
#define CLI_O_SEED(dst) CLI_O_INT("seed", (dst), 0, CLI_INT_MAX)
#define CLI_O_IGNORE(dst) CLI_O_INT("ignore-value", (dst), -1, 255)
#define CLI_O_JPEG_QUALITY(dst) CLI_O_INT("jpeg-quality", (dst), 1, 100)

/* Returns 0 to go on, 1 when help was printed, 2 on a usage error (message already printed). */
int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos, int max_pos,
              int *n_pos, const char *usage);

/* ---- tools ----
 * --tool builtin|sam|simpleclick, --sam-model PATH, --threads N, and for SimpleClick --model PATH (or
 * --tool-model PATH where --model names the LLM), --zoom-in on|off, --flip on|off, --prob-thresh X: builds the
 * interactive tool. Fields after threads are NULL for their defaults (initialise with
 * designators). */
typedef struct cli_tool_opts {
    const char *tool;      /* "builtin" (default), "sam" or "simpleclick" */
    const char *sam_model; /* path for --tool sam */
    int threads;
    const char *model;       /* path for --tool simpleclick */
    const char *zoom_in;     /* "on" (default) / "off" */
    const char *flip;        /* "on" (default) / "off" */
    const char *prob_thresh; /* number in [0, 1) (default 0.49) */
    const char
        *precision; /* "fp32" (default) / "bf16": SAM's and SimpleClick's ViT linear layers */
    const char
        *embed_cache; /* --embed-cache DIR: SAM image embeddings kept on disk (NULL: memory only) */
    int no_embed_memory; /* set by the program, not an option: keep no SAM embedding in memory beyond the
                            sessions using it (serve: its own store holds sessions under --cache-mb) */
} cli_tool_opts;

/* Option-table entries for the SimpleClick settings and --embed-cache (add to a command's table beside
 * --tool): */
#define CLI_TOOL_SC_OPTS(t)                                                                        \
    CLI_O_STR("tool-model", &(t).model), CLI_O_STR("zoom-in", &(t).zoom_in),                       \
        CLI_O_STR("flip", &(t).flip), CLI_O_STR("prob-thresh", &(t).prob_thresh),                  \
        CLI_O_STR("precision", &(t).precision), CLI_O_STR("embed-cache", &(t).embed_cache)
/* ... and --model PATH, in commands where --model does not already name the LLM */
#define CLI_TOOL_MODEL_OPT(t) CLI_O_STR("model", &(t).model)

#define CLI_TOOL_OPTIONS_HELP                                                                                   \
    "  --tool NAME          interactive tool: builtin (graph cut, no weights; default), sam or simpleclick\n"   \
    "  --sam-model PATH     SAM checkpoint: HF directory/model.safetensors or official .pth (--tool sam)\n"     \
    "  --model PATH         SimpleClick checkpoint .pth (--tool simpleclick; --tool-model PATH where --model\n" \
    "                       names the LLM)\n"                                                                   \
    "  --zoom-in on|off     SimpleClick ZoomIn on the object after the first click (default on)\n"              \
    "  --flip on|off        SimpleClick horizontal-flip averaging (default on)\n"                               \
    "  --prob-thresh X      SimpleClick mask threshold on the probability (default 0.49)\n"                     \
    "  --precision P        fp32 (default) or bf16: SAM's / SimpleClick's ViT linear layers in BF16\n"          \
    "  --embed-cache DIR    keep SAM image embeddings on disk in DIR (keyed by the weights and the image's\n"   \
    "                       pixels), so a later run on the same images encodes nothing (--tool sam)\n"          \
    "  --threads N          worker threads for the tool (default 2)\n"

int cli_make_tool(const cli_tool_opts *o, sa_tool **out, sa_error *err);
/* One line on stderr for a tool with an image-embedding cache (SAM): encoder runs, sessions served from memory
 * and from disk, cache files written / rejected. Nothing for other tools or when quiet. */
void cli_tool_report(const char *cmd, const sa_tool *tool, int quiet);
/* Checks --tool / --sam-model / --threads before any work: prints ONE line "<cmd>: ..." naming the option and
 * returns 2 (usage error), or returns 0. */
int cli_check_tool_opts(const char *cmd, const cli_tool_opts *o);
/* Range checks for option values (cli_parse applies them from the option table): print "<cmd>: --<opt> must be
 * ... (got V)" and return 2, or return 0. lo_open: lo itself is excluded. */
/* The options every parity checker takes (check-sam, check-simpleclick): DIR [--threads N] [--weights FILE]
 * [--kernels fast|blas|reference]. kernels receives 0/1/2 (the SA_SAM_KERNELS_* / SA_SC_KERNELS_* values).
 * Returns 0, -1 after --help, or the exit status of an error (printed, naming cmd). */
typedef struct cli_check_opts {
    const char *dir, *weights, *kernels_name;
    int threads, kernels;
} cli_check_opts;
int cli_parse_check_opts(const char *cmd, int argc, char **argv, const char *usage,
                         cli_check_opts *o);

int cli_check_int(const char *cmd, const char *opt, long long v, long lo, long hi);
int cli_check_double(const char *cmd, const char *opt, double v, double lo, double hi, int lo_open);
/* A list of n integers separated by sep ("64x48", "0,255,0") into v, each in lo..hi, read whole (no sign
 * tricks, no overflow wrapping to a small value). Returns 0, or -1 when s is not exactly that. */
int cli_parse_int_list(const char *s, char sep, int *v, int n, long lo, long hi);
/* --jobs 0: one per CPU, at most 8 (1 for --tool sam, whose model is large). */
int cli_default_jobs(const char *tool);
/* Before any work: can an output file be written at PATH (not a folder; its folder exists and is writable)?
 * Prints "<cmd>: --<opt> PATH: ..." and returns 1, or returns 0. */
int cli_check_out_file(const char *cmd, const char *opt, const char *path);

/* ---- progress on stderr: a bar on a terminal, plain lines (every ~5%) otherwise ---- */
typedef struct cli_progress {
    const char *label;
    long total;
    long done;
    int tty;
    int last_pct;
    double t0;
    int quiet;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, long total, int quiet);
void cli_progress_step(cli_progress *p, const char *item);
void cli_progress_end(cli_progress *p);

double cli_now_s(void); /* monotonic seconds */
/* Creates a directory and its parents (like mkdir -p). Returns 0 or -1 (errno set). */
int cli_mkdirs(const char *path);
/* Removes DIR/step_NN.png (NN = 00..CLI_MAX_STEP_FILES) left by an earlier run into the same folder (only
 * names the CLI writes), so a shorter run does not leave the old run's later steps beside the new ones.
 * cli_io_output_steps (cli_paths.h) checks beforehand that none of them is an input. */
#define CLI_MAX_STEP_FILES 1024
void cli_remove_stale_steps(const char *dir);

#endif
