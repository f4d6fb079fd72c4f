/* Internal to the segagent command-line program: the sub-command entry points and the helpers they share
 * (option parsing, tool construction, progress reporting). Only the CLI prints. */
#ifndef SEGAGENT_CLI_H
#define SEGAGENT_CLI_H

#include <stdio.h>

#include "segagent/error.h"
#include "segagent/tool.h"

/* Sub-commands: each returns the process exit status (0 ok, 1 failure, 2 usage error). */
int cli_demo(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_annotate(int argc, char **argv);
int cli_trajectories(int argc, char **argv);
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

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    cli_opt_kind kind;
    void *dst;        /* int* for FLAG/INT, const char** for STR, double* for DOUBLE, cli_multi* for MULTI */
} cli_opt;

/* Returns 0 to go on, 1 when help was printed, 2 on a usage error (message already printed). */
int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos, int max_pos, int *n_pos,
              const char *usage);

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
} cli_tool_opts;

/* Option-table entries for the SimpleClick settings (add to a command's table beside --tool): */
#define CLI_TOOL_SC_OPTS(t)                                                                                    \
    {"tool-model", CLI_STR, &(t).model}, {"zoom-in", CLI_STR, &(t).zoom_in}, {"flip", CLI_STR, &(t).flip},     \
        {"prob-thresh", CLI_STR, &(t).prob_thresh}
/* ... and --model PATH, in commands where --model does not already name the LLM */
#define CLI_TOOL_MODEL_OPT(t) {"model", CLI_STR, &(t).model}

#define CLI_TOOL_OPTIONS_HELP                                                                                  \
    "  --tool NAME          interactive tool: builtin (graph cut, no weights; default), sam or simpleclick\n" \
    "  --sam-model PATH     SAM checkpoint: HF directory/model.safetensors or official .pth (--tool sam)\n"   \
    "  --model PATH         SimpleClick checkpoint .pth (--tool simpleclick; --tool-model PATH where --model\n" \
    "                       names the LLM)\n"                                                                 \
    "  --zoom-in on|off     SimpleClick ZoomIn on the object after the first click (default on)\n"          \
    "  --flip on|off        SimpleClick horizontal-flip averaging (default on)\n"                           \
    "  --prob-thresh X      SimpleClick mask threshold on the probability (default 0.49)\n"                 \
    "  --threads N          worker threads for the tool (default 2)\n"

int cli_make_tool(const cli_tool_opts *o, sa_tool **out, sa_error *err);
/* Checks --tool / --sam-model / --threads before any work: prints ONE line "<cmd>: ..." naming the option and
 * returns 2 (usage error), or returns 0. */
int cli_check_tool_opts(const char *cmd, const cli_tool_opts *o);
/* Range checks for option values: print "<cmd>: --<opt> must be ... (got V)" and return 2, or return 0. */
int cli_check_int(const char *cmd, const char *opt, long v, long lo, long hi);
int cli_check_double(const char *cmd, const char *opt, double v, double lo, double hi);
/* Before any work: can an output file be written at PATH (not a folder; its folder exists and is writable)?
 * Prints "<cmd>: --<opt> PATH: ..." and returns 1, or returns 0. */
int cli_check_out_file(const char *cmd, const char *opt, const char *path);

/* Writes text and a newline to path (the small JSON outputs of score and filter). Returns 0, or -1 when the
 * file cannot be opened or written (the caller names it). */

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
/* Removes DIR/step_NN.png left by an earlier run into the same folder (only names the CLI writes), so a
 * shorter run does not leave the old run's later steps beside the new ones. */
void cli_remove_stale_steps(const char *dir);

#endif
