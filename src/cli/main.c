/* segagent: command-line entry point. Dispatches to one sub-command per file (cli_<command>.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef SEGAGENT_VERSION
#define SEGAGENT_VERSION "0.1.0"
#endif

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"demo", cli_demo, "annotate the built-in sample scenes end to end (no downloads, no weights)"},
    {"eval", cli_eval,
     "benchmark a tool and a policy (simulated annotator or LLM): NoC / NoF / mIoU@k, cIoU / gIoU"},
    {"prm-select", cli_prm_select,
     "offline PRM selection over eval's per-sample records: cIoU / gIoU of the best-predicted masks"},
    {"annotate", cli_annotate,
     "annotate one image with the simulated annotator; overlays per step"},
    {"trajectories", cli_trajectories, "record training trajectories (SegAgent JSON format)"},
    {"merge", cli_merge,
     "join the part files of a sharded run (--shard, Slurm array) into one output"},
    {"starplus", cli_starplus,
     "StaR+: a served policy's trajectories, bad clicks replaced by the annotator's"},
    {"perturb", cli_perturb,
     "masks from random clicks per ground-truth object, with their true IoU (filter test set)"},
    {"export", cli_export,
     "convert trajectories to LLaVA / Qwen-VL / LLaMA-Factory / ms-swift samples"},
    {"segment", cli_segment, "segment an image from a description with an LLM policy over HTTP"},
    {"refine", cli_refine, "refine an existing mask with an LLM policy"},
    {"score", cli_score, "predicted IoU of a mask (process reward)"},
    {"filter", cli_filter,
     "score every annotation of a COCO file; agreement metrics with ground truth"},
    {"check-sam", cli_check_sam, "check the SAM engine against a parity fixture folder"},
    {"check-simpleclick", cli_check_simpleclick,
     "check the SimpleClick engine against a parity fixture folder"},
    {"serve", cli_serve,
     "serve the tools and the agent over HTTP (JSON API, Label Studio, web page)"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f) {
    cli_printf(
        f,
        "segagent %s - click-by-click segmentation the way a human annotator works\n\n"
        "usage: segagent <command> [options]      (segagent <command> --help for details)\n\ncommands:\n",
        SEGAGENT_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        cli_printf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    cli_printf(
        f,
        "\nexamples:\n"
        "  segagent demo --out demo-out\n"
        "  segagent eval --dataset GrabCut=../shared/data/GrabCut --tool builtin --max-clicks 20 --json out.json\n"
        "  segagent annotate --image photo.jpg --gt mask.png --out run/\n"
        "\nexit status: 0 success, 1 failure (a message on stderr names the file and the problem),\n"
        "             2 usage error (unknown option, bad or missing value),\n"
        "             130 stopped by Ctrl-C, SIGTERM or SIGHUP (outputs left consistent)\n");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "help")) { /* "segagent help eval" = "segagent eval --help" */
        for (int i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                char *args[] = {argv[2], "--help", NULL};
                return commands[i].run(2, args);
            }
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        cli_printf(stdout, "segagent %s\n", SEGAGENT_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    cli_printf(stderr, "segagent: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
