/* The --dataset specs of a command that records or rolls out over samples (trajectories, starplus): each one
 * an interactive folder (NAME=DIR or DIR) or a referring set (refcoco:val=DIR, coco=FILE, segagent=FILE,
 * hres=DIR, scenes; see segagent/refer.h), opened into segagent/sample_set.h's sets. Warnings of the readers
 * are printed one line each; an error names the spec. */
#ifndef SEGAGENT_CLI_SETS_H
#define SEGAGENT_CLI_SETS_H

#include "cli.h"
#include "cli_paths.h"
#include "segagent/sample_set.h"

typedef struct cli_sets_opts {
    const char *images;   /* --images DIR: the image folder of a referring set (may be NULL) */
    const char *split_by; /* --split-by unc|umd|google (NULL: by the dataset's name) */
    const char *captions; /* --captions FILE for hres= sets (NULL: none) */
    int per_ref;          /* --per-ref: one sample per ref instead of per sentence */
} cli_sets_opts;

typedef struct cli_sets {
    sa_sample_set set[CLI_MAX_MULTI];
    sa_dataset *ds[CLI_MAX_MULTI];
    sa_refer *rf[CLI_MAX_MULTI];
    char label[CLI_MAX_MULTI][128];
    int n;
} cli_sets;

/* Opens every spec into s (zeroed first). Returns 0, or 1 with the message printed as "CMD: ..." (s then
 * holds what was opened: free it). */
int cli_sets_open(const char *cmd, const cli_sets_opts *o, const cli_multi *specs, cli_sets *s);
void cli_sets_free(cli_sets *s);
/* Declares the sets' files and folders as inputs of io (for the output-collision checks of cli_paths.h). */
void cli_sets_inputs(cli_io *io, const cli_sets *s, const cli_multi *specs);

/* The options' help lines, for a command's usage text. */
#define CLI_SETS_HELP                                                                                     \
    "  --images DIR         image folder of a referring set (RefCOCO family: COCO train2014)\n"           \
    "  --split-by S         refs pickle: unc, umd or google (default: umd for refcocog, unc otherwise)\n" \
    "  --per-ref            one sample per ref instead of one per sentence\n"                             \
    "  --captions FILE      captions of an hres= set: NAME<TAB>caption lines or a JSON object\n"          \
    "                       (docs/metrics.md#datasets)\n"

#endif
