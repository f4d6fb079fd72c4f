/* segagent segment / refine: an LLM policy over HTTP clicks, the interactive tool recomputes the
 * mask, for T steps (greedy) or with PRM-guided search; writes the mask, its COCO RLE, the
 * trajectory and overlays. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "cli_stop.h"
#include "segagent/agent.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage_segment[] =
    "usage: segagent segment PHOTO DESCRIPTION --out DIR [options]\n"
    "\n"
    "Segments the object DESCRIPTION names, the way SegAgent does: a multimodal LLM served over an\n"
    "OpenAI-compatible API looks at the photo with the current mask painted green, answers one click\n"
    "(\"Positive point: (y, x)\" adds object, \"Negative point: (y, x)\" removes background), and the\n"
    "interactive tool recomputes the mask from all clicks so far. Repeats for --steps clicks.\n";

static const char usage_refine[] =
    "usage: segagent refine PHOTO MASK DESCRIPTION --out DIR [options]\n"
    "\n"
    "Like segment, but starts from an existing mask (any PNG/BMP/JPEG; 0 = background) instead of the empty\n"
    "one: the model sees that mask painted on the photo and clicks to fix it. With a model that predicts IoU\n"
    "the result is never worse than the start by its own estimate (the start is one of the candidates).\n";

static const char usage_common[] =
    "\n"
    "writes into DIR:\n"
    "  mask.png             the returned mask (0/255): the state with the best predicted IoU over all steps\n"
    "                       including the start (--no-best: the last state)\n"
    "  mask.json            the same mask as COCO RLE, with bbox, area, predicted (and true) IoU\n"
    "  trajectory.json      every request's prompt, every reply, parsed action, predicted IoU, true IoU\n"
    "                       (with --gt), timings; the reason the episode ended; kept on errors too\n"
    "  step_00.png ...      the overlay the model saw at the start and after each step\n"
    "Ctrl-C (or SIGTERM, SIGHUP) stops after the current step (its request is answered first); the files\n"
    "above are written for the steps done (trajectory.json says \"stopped\"; exit 130).\n"
    "\n"
    "agent options:\n"
    "  --out DIR            output folder (created)\n"
    "  --steps T            clicks, 1..1024 (default 7; SegAgent uses 7 on RefCOCO, 11 with --search 3 on HQ data)\n"
    "  --search K           PRM-guided search: sample K actions per step, apply each, let the model predict\n"
    "                       the IoU of each result, keep the best (needs a model trained to write\n"
    "                       \"Current IOU\"; default 1 = greedy)\n"
    "  --early-stop         stop once the predicted IoU stops rising\n"
    "  --no-best            return the last state, not the best predicted one\n"
    "  --box X0,Y0,X1,Y1    first action: this box in pixels (tool must accept boxes: sam)\n"
    "  --ground-box         first action: a box the model grounds (<box>(x1,y1),(x2,y2)</box>, Qwen-VL)\n"
    "  --gt MASK            ground truth, only to record true IoUs in the trajectory\n"
    "  --ignore-value V     value in --gt marking ignored pixels (GrabCut: 128)\n"
    "  --quiet              no progress or per-step lines\n"
    "\n"
    "tool:\n" CLI_TOOL_OPTIONS_HELP;

static const char usage_llm[] = "\n" CLI_LLM_OPTIONS_HELP;

static const char usage_examples[] =
    "\n"
    "examples (start the server first; see docs/serving.md):\n"
    "  # vLLM:        vllm serve ./SegAgent-Qwen --served-model-name segagent-qwen --trust-remote-code --port 8000\n"
    "  segagent segment photo.jpg \"the man in the red jacket\" --policy http://127.0.0.1:8000/v1 \\\n"
    "      --model segagent-qwen --tool sam --sam-model sam_vit_h/ --steps 7 --out run/\n"
    "  # SGLang:      python -m sglang.launch_server --model-path ./SegAgent-Qwen --port 30000\n"
    "  segagent segment photo.jpg \"the cat\" --policy http://127.0.0.1:30000/v1 --model default \\\n"
    "      --search 3 --steps 11 --temperature 0.7 --out run/\n"
    "  # llama-server: llama-server -m segagent.gguf --mmproj mmproj.gguf --port 8080\n"
    "  segagent segment photo.jpg \"the cat\" --policy http://127.0.0.1:8080/v1 --model segagent --out run/\n"
    "  # Ollama:      ollama serve   (model created with 'ollama create segagent -f Modelfile')\n"
    "  segagent segment photo.jpg \"the cat\" --policy http://127.0.0.1:11434/v1 --model segagent --out run/\n"
    "  segagent refine photo.jpg rough.png \"the cat\" --policy http://127.0.0.1:8000/v1 --steps 3 --out run/\n";
/* clang-format on */

static int ground_hook(void *ctx, const sa_image *img, const char *desc, sa_box *box, char **reply,
                       sa_error *err) {
    return sa_llm_ground((sa_llm_client *)ctx, img, desc, box, reply, err);
}

/* Progress while the model thinks (a real one takes seconds to minutes per step): a policy that
 * wraps the LLM policy and says on stderr which step is waiting -- one status line rewritten in
 * place on a terminal, a plain line per request otherwise. Everything else is passed through
 * unchanged. */
typedef struct progress_policy {
    sa_policy *inner;
    sa_policy_ops ops; /* name copied from the inner policy; score only when the inner one scores */
    const char *cmd;
    int steps, tty;
    double t0;
} progress_policy;

/* "step 3/7: asking the model" (a scoring request of the last step's result counts as that step).
 */
static void pp_begin(progress_policy *pp, const sa_policy_obs *obs, const char *what) {
    int step = obs ? obs->step + 1 : 0;
    if (step > pp->steps) step = pp->steps;
    char where[64];
    snprintf(where, sizeof where, "step %d/%d", step, pp->steps);
    if (pp->tty) /* the status line's own "\r" and "\033[K" are written directly; the text is the program's */
        fprintf(stderr, "\r%s: %s: %s ... (%.0f s so far)\033[K", pp->cmd, where, what,
                cli_now_s() - pp->t0);
    else
        cli_printf(stderr, "%s: %s: %s (%.1f s so far)\n", pp->cmd, where, what,
                   cli_now_s() - pp->t0);
    fflush(stderr);
}

static void pp_end(const progress_policy *pp) {
    if (pp->tty) fputs("\r\033[K", stderr);
}

static int pp_act(void *self, const sa_policy_obs *obs, int k, sa_policy_decision *out, int *n_out,
                  sa_error *err) {
    progress_policy *pp = self;
    pp_begin(pp, obs, k > 1 ? "asking the model for candidates" : "asking the model");
    int rc = sa_policy_act(pp->inner, obs, k, out, n_out, err);
    pp_end(pp);
    return rc;
}

static int pp_score(void *self, const sa_policy_obs *obs, float *pred_iou, char **text,
                    sa_error *err) {
    progress_policy *pp = self;
    pp_begin(pp, obs, "asking the model to score a mask");
    int rc = sa_policy_score(pp->inner, obs, pred_iou, text, err);
    pp_end(pp);
    return rc;
}

static void pp_reset(void *self) {
    sa_policy_reset(((progress_policy *)self)->inner);
}

static void pp_free(void *self) {
    progress_policy *pp = self;
    sa_policy_free(pp->inner);
    free(pp);
}

/* Wraps *pol; on failure *pol is left as it was. */
static void wrap_with_progress(sa_policy **pol, const char *cmd, int steps) {
    progress_policy *pp = calloc(1, sizeof *pp);
    if (!pp) return;
    pp->inner = *pol;
    pp->ops.name = sa_policy_name(*pol);
    pp->ops.act = pp_act;
    pp->ops.score = sa_policy_can_score(*pol) ? pp_score : NULL;
    pp->ops.reset = pp_reset;
    pp->ops.free = pp_free;
    pp->cmd = cmd;
    pp->steps = steps;
    pp->tty = isatty(STDERR_FILENO);
    pp->t0 = cli_now_s();
    sa_policy *outer = NULL;
    pp->ops.free = NULL; /* if sa_policy_new fails it must not free the inner policy */
    if (sa_policy_new(&pp->ops, pp, &outer, NULL) != SA_OK) {
        free(pp);
        return;
    }
    pp->ops.free = pp_free;
    *pol = outer;
}

static void print_steps(const sa_agent_result *r) {
    for (int i = 0; i < r->n_steps; i++) {
        const sa_agent_step *s = &r->steps[i];
        if (s->is_box) {
            if (s->committed)
                cli_printf(stdout, "box      (%g, %g)-(%g, %g)%s  IoU %s\n", s->box.x0, s->box.y0,
                           s->box.x1, s->box.y1, s->ground_reply ? " grounded by the model" : "",
                           isnan(s->iou_after) ? "-" : "");
            else
                cli_printf(stdout, "box      failed: %s\n", s->error ? s->error : "");
            continue;
        }
        cli_printf(stdout, "step %2d  ", s->index);
        if (s->committed && s->action.kind == SA_ACTION_CLICK)
            cli_printf(stdout, "%s (y %d, x %d)",
                       s->action.click.positive ? "positive" : "negative", s->action.click.y,
                       s->action.click.x);
        else
            cli_printf(stdout, "no action");
        if (s->n_candidates > 1)
            cli_printf(stdout, " [candidate %d of %d]", s->chosen + 1, s->n_candidates);
        if (!isnan(s->pred_iou_before))
            cli_printf(stdout, "  pred IoU in %.2f", s->pred_iou_before);
        if (!isnan(s->pred_iou_after)) cli_printf(stdout, "  out %.2f", s->pred_iou_after);
        if (!isnan(s->iou_after)) cli_printf(stdout, "  IoU %.4f", s->iou_after);
        cli_printf(stdout, "  policy %.0f ms  tool %.0f ms", s->policy_ms, s->tool_ms);
        if (s->score_ms > 0) cli_printf(stdout, "  scoring %.0f ms", s->score_ms);
        if (s->error) cli_printf(stdout, "\n         %s", s->error);
        cli_printf(stdout, "\n");
    }
}

static int parse_box(const char *s, sa_box *b) {
    char tail;
    /* pixels: finite, >= 0 (nan, inf and 1e39 are not coordinates); the photo's size is checked later */
    return sscanf(s, "%f,%f,%f,%f%c", &b->x0, &b->y0, &b->x1, &b->y1, &tail) == 4 &&
           isfinite(b->x0) && isfinite(b->y0) && isfinite(b->x1) && isfinite(b->y1) && b->x0 >= 0 &&
           b->y0 >= 0 && b->x0 <= b->x1 && b->y0 <= b->y1;
}

typedef struct agent_opts {
    int refine;
    cli_llm_opts lo;
    sa_llm_params lp; /* its strings point into lo */
    cli_tool_opts topt;
    const char *photo, *mask_path, *desc; /* mask_path: refine only */
    const char *out_dir, *box_s, *gt_path;
    int steps, search, early, no_best, ground, quiet, ignore_value;
    sa_box box; /* --box, parsed */
} agent_opts;

/* Fills opts[] for o; returns the number of entries (at most CLI_LLM_N_OPTS + 19). */
static int agent_option_table(agent_opts *o, cli_opt *opts) {
    cli_llm_opts_table(&o->lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt)CLI_O_STR("out", &o->out_dir);
    opts[n++] = (cli_opt)CLI_O_INT("steps", &o->steps, 1, SA_MAX_CLICKS);
    opts[n++] = (cli_opt)CLI_O_INT("search", &o->search, 1, 64);
    opts[n++] = (cli_opt)CLI_O_FLAG("early-stop", &o->early);
    opts[n++] = (cli_opt)CLI_O_FLAG("no-best", &o->no_best);
    opts[n++] = (cli_opt)CLI_O_STR("box", &o->box_s);
    opts[n++] = (cli_opt)CLI_O_FLAG("ground-box", &o->ground);
    opts[n++] = (cli_opt)CLI_O_STR("gt", &o->gt_path);
    opts[n++] = (cli_opt)CLI_O_IGNORE(&o->ignore_value);
    opts[n++] = (cli_opt)CLI_O_FLAG("quiet", &o->quiet);
    opts[n++] = (cli_opt)CLI_O_STR("tool", &o->topt.tool);
    opts[n++] = (cli_opt)CLI_O_STR("sam-model", &o->topt.sam_model);
    opts[n++] = (cli_opt)CLI_O_THREADS(&o->topt.threads);
    const cli_opt sc_opts[] = {
        CLI_TOOL_SC_OPTS(o->topt)}; /* --model names the LLM here: --tool-model */
    for (size_t i = 0; i < sizeof sc_opts / sizeof sc_opts[0]; i++)
        opts[n++] = sc_opts[i];
    return n;
}

/* The checks that need no file: box, ranges, tool and server options. Returns -1 to go on, else 2.
 */
static int check_agent_options(const char *cmd, agent_opts *o) {
    if (o->box_s && !parse_box(o->box_s, &o->box)) {
        cli_printf(stderr,
                   "%s: --box '%s': expected X0,Y0,X1,Y1 in pixels, 0 <= X0 <= X1, 0 <= Y0 <= Y1\n",
                   cmd, o->box_s);
        return 2;
    }
    if (o->box_s && o->ground) {
        cli_printf(stderr, "%s: --box and --ground-box exclude each other\n", cmd);
        return 2;
    }
    if (cli_check_tool_opts(cmd, &o->topt)) return 2; /* numeric ranges: the option table */
    sa_error err = {0};
    if (cli_llm_params(&o->lo, &o->lp, &err)) {
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
        return 2;
    }
    return -1;
}

/* None of the files written into DIR (or stale step overlays deleted there) may be an input. Returns
 * 0, or 1 with the message printed. */
static int check_paths(const char *cmd, const agent_opts *o) {
    static const char *const names[] = {"mask.png", "mask.json", "trajectory.json",
                                        "step_00_box.png", NULL};
    cli_io io;
    cli_io_init(&io, cmd);
    cli_io_input(&io, "PHOTO", o->photo);
    cli_io_input(&io, "MASK", o->mask_path);
    cli_io_input(&io, "--gt", o->gt_path);
    cli_io_input(&io, "--prompt", o->lo.prompt);
    cli_io_input(&io, "--ground-prompt", o->lo.ground_prompt);
    cli_io_input(&io, "--sam-model", o->topt.sam_model);
    int bad = cli_io_outputs_in(&io, "--out", o->out_dir, names) ||
              cli_io_output_steps(&io, "--out", o->out_dir);
    cli_io_free(&io);
    return bad;
}

/* Parses and checks the command line into *o. Returns -1 to go on, else the exit status. */
static int parse_agent_options(int argc, char **argv, int refine, agent_opts *o) {
    memset(o, 0, sizeof *o);
    o->refine = refine;
    cli_llm_opts_default(&o->lo);
    o->topt = (cli_tool_opts){.tool = "builtin", .threads = 2};
    o->steps = 7;
    o->search = 1;
    o->ignore_value = -1;
    cli_opt opts[CLI_LLM_N_OPTS + 20];
    int n = agent_option_table(o, opts);
    const char *pos[3];
    int n_pos = 0;
    char usage_buf[16384];
    snprintf(usage_buf, sizeof usage_buf, "%s%s%s%s", refine ? usage_refine : usage_segment,
             usage_common, usage_llm, usage_examples);
    int pr = cli_parse(argc, argv, opts, n, pos, 3, &n_pos, usage_buf);
    if (pr) return pr == 1 ? 0 : 2;
    int want_pos = refine ? 3 : 2;
    if (n_pos != want_pos || !o->out_dir) {
        cli_printf(stderr, "%s: need %s and --out DIR (see --help)\n", argv[0],
                   refine ? "PHOTO MASK DESCRIPTION" : "PHOTO DESCRIPTION");
        return 2;
    }
    o->photo = pos[0];
    o->mask_path = refine ? pos[1] : NULL;
    o->desc = pos[want_pos - 1];
    int st = check_agent_options(argv[0], o);
    if (st >= 0) return st;
    return check_paths(argv[0], o) ? 1 : -1;
}

typedef struct agent_run {
    sa_image img;
    sa_mask init, gt, ign;
    sa_tool *tool;
    sa_policy *pol;
    sa_llm_client *cl; /* borrowed from pol */
    sa_env *env;
    char *request; /* the prompt, recorded in the trajectory */
    sa_agent_result r;
    int have_result;
    sa_error err;
} agent_run;

/* The photo, the start mask (refine) and the ground truth, each checked against the photo's size.
 */
static int load_inputs(const agent_opts *o, agent_run *run) {
    sa_error *err = &run->err;
    if (sa_image_load(o->photo, &run->img, err)) return -1;
    if (o->mask_path) {
        if (sa_mask_load(o->mask_path, -1, &run->init, NULL, err)) return -1;
        if (run->init.width != run->img.width || run->init.height != run->img.height) {
            sa_error_set(err, SA_ERR_INVALID, "%s: mask is %dx%d but the photo is %dx%d",
                         o->mask_path, run->init.width, run->init.height, run->img.width,
                         run->img.height);
            return -1;
        }
    }
    if (o->gt_path) {
        if (sa_mask_load(o->gt_path, o->ignore_value, &run->gt, &run->ign, err)) return -1;
        if (run->gt.width != run->img.width || run->gt.height != run->img.height) {
            sa_error_set(err, SA_ERR_INVALID, "%s: ground truth is %dx%d but the photo is %dx%d",
                         o->gt_path, run->gt.width, run->gt.height, run->img.width,
                         run->img.height);
            return -1;
        }
    }
    return 0;
}

/* Tool, policy and env; the output folder only once all of them are ready (a setup error leaves no
 * empty folder behind). Returns 0, or -1 with run->err set. */
static int setup(const agent_opts *o, const char *cmd, agent_run *run) {
    sa_error *err = &run->err;
    if (cli_make_tool(&o->topt, &run->tool, err)) return -1;
    if ((o->box_s || o->ground) && !sa_tool_accepts_box(run->tool)) {
        sa_error_set(err, SA_ERR_UNSUPPORTED,
                     "%s needs a tool that accepts boxes (--tool sam); '%s' does not",
                     o->box_s ? "--box" : "--ground-box", sa_tool_name(run->tool));
        return -1;
    }
    if (sa_llm_policy_new(o->lp, &run->pol, &run->cl, err)) return -1;
    if (!o->quiet) wrap_with_progress(&run->pol, cmd, o->steps);
    if (sa_env_new(run->tool, sa_env_default_params(), &run->env, err)) return -1;
    if (sa_env_reset(run->env, &run->img, o->desc, o->gt_path ? &run->gt : NULL,
                     o->gt_path && run->ign.data ? &run->ign : NULL,
                     o->mask_path ? &run->init : NULL, err))
        return -1;
    if (cli_mkdirs(o->out_dir)) {
        sa_error_set(err, SA_ERR_IO, "%s: cannot create the output folder (%s)", o->out_dir,
                     strerror(errno));
        return -1;
    }
    cli_remove_stale_steps(o->out_dir);
    run->request =
        sa_llm_client_request_text(run->cl, o->desc, NULL); /* NULL for an empty description */
    return 0;
}

/* Ends the episode after the step just committed once a stop signal arrived. */
static int stop_hook(void *ctx, const sa_env *env, const sa_agent_step *step) {
    (void)ctx;
    (void)env;
    (void)step;
    return cli_stop_requested();
}

static sa_agent_params agent_params(const agent_opts *o, const agent_run *run) {
    sa_agent_params ap = sa_agent_default_params();
    ap.on_step = stop_hook;
    ap.steps = o->steps;
    ap.search_k = o->search;
    ap.early_stop = o->early;
    ap.best_of = !o->no_best;
    ap.request_text = run->request;
    if (o->box_s) {
        ap.first = SA_FIRST_BOX;
        ap.box = o->box;
    } else if (o->ground) {
        ap.first = SA_FIRST_GROUND;
        ap.ground = ground_hook;
        ap.ground_ctx = run->cl;
    }
    return ap;
}

/* "DIR/mask.png: the state after step 3, predicted IoU 0.91; 3 clicks, ended by steps; 4.2 s" */
static void print_result(const char *out_dir, const sa_agent_result *r) {
    cli_printf(stdout, "%s/mask.png: ", out_dir);
    if (r->best_step < 0)
        cli_printf(stdout, "the start mask");
    else
        cli_printf(stdout, "the state after step %d", r->steps[r->best_step].index);
    if (!isnan(r->best_pred_iou)) cli_printf(stdout, ", predicted IoU %.2f", r->best_pred_iou);
    if (!isnan(r->iou)) cli_printf(stdout, ", true IoU %.4f", r->iou);
    /* a runaway reply quoted in the reason is cut to keep this one readable line (trajectory.json
     * has it all) */
    char error[200]; /* the reason on one line */
    cli_escape(r->error, 1, error, sizeof error);
    int elen = (int)strlen(error);
    cli_printf(stdout, "; %d click%s, ended by %s%s%.*s%s; %.1f s\n", r->n_clicks,
               r->n_clicks == 1 ? "" : "s", r->stop, *error ? ": " : "", elen > 160 ? 160 : elen,
               error, elen > 160 ? "..." : "", r->total_ms / 1000.0);
}

/* Runs the episode and writes the outputs (also after an error: the partial trajectory). Returns
 * the exit status; errors are printed here. */
static int run_episode(const agent_opts *o, const char *cmd, agent_run *run) {
    sa_agent_params ap = agent_params(o, run);
    if (!o->quiet)
        cli_printf(stderr, "%s: %s with %s at %s, tool %s, %d step%s, %s\n", cmd,
                   o->refine ? "refining" : "segmenting", o->lp.model, sa_llm_client_url(run->cl),
                   sa_tool_name(run->tool), o->steps, o->steps == 1 ? "" : "s",
                   o->search > 1 ? "PRM-guided search" : "greedy");
    cli_stop_install();
    int rc = sa_agent_run(run->env, run->pol, ap, &run->r, &run->err);
    cli_stop_restore();
    run->have_result = 1;
    if (!o->quiet) print_steps(&run->r);
    sa_error werr = {0};
    int wrc =
        sa_agent_write_outputs(&run->r, run->env, o->out_dir, &o->lp.grammar, o->lp.overlay, &werr);
    if (wrc) cli_printf(stderr, "%s: writing outputs: %s\n", cmd, werr.msg);
    if (rc) {
        cli_printf(stderr, "%s: %s\n", cmd, run->err.msg);
        cli_printf(stderr, "%s: partial trajectory in %s/trajectory.json\n", cmd, o->out_dir);
        return 1;
    }
    print_result(o->out_dir, &run->r);
    if (wrc) return 1;
    if (!cli_stop_requested()) return 0;
    cli_printf(stderr, "%s: interrupted after %d step(s); the outputs in %s cover them\n", cmd,
               run->r.n_clicks, o->out_dir);
    return CLI_EXIT_INTERRUPTED;
}

static void free_run(agent_run *run) {
    if (run->have_result) sa_agent_result_free(&run->r);
    free(run->request);
    sa_env_free(run->env);
    sa_policy_free(run->pol);
    sa_tool_free(run->tool);
    sa_image_free(&run->img);
    sa_mask_free(&run->init);
    sa_mask_free(&run->gt);
    sa_mask_free(&run->ign);
}

int cli_agent_command(int argc, char **argv, int refine) {
    agent_opts o;
    int status = parse_agent_options(argc, argv, refine, &o);
    if (status >= 0) return status;
    agent_run run;
    memset(&run, 0, sizeof run);
    if (load_inputs(&o, &run) == 0 && setup(&o, argv[0], &run) == 0) {
        status = run_episode(&o, argv[0], &run);
    } else {
        cli_printf(stderr, "%s: %s\n", argv[0], run.err.msg);
        status = 1;
    }
    free_run(&run);
    return status;
}

int cli_segment(int argc, char **argv) {
    return cli_agent_command(argc, argv, 0);
}
