/* segagent score: the policy's predicted IoU of a given mask (SegAgent's process reward, used to
 * filter annotations): one request with the mask painted on the photo, the reply's "Current IOU".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_llm.h"
#include "cli_paths.h"
#include "segagent/fileio.h"

/* the help text is laid out as the user sees it */
/* clang-format off */
static const char usage_head[] =
    "usage: segagent score PHOTO MASK DESCRIPTION [options]\n"
    "\n"
    "Asks the policy model how good MASK is for the object DESCRIPTION names: the model sees the mask painted\n"
    "on the photo and, if it was trained with the process reward, begins its answer with \"Current IOU: v\"\n"
    "(0..100). Prints the predicted IoU on a 0..1 scale. Models without that training cannot score.\n"
    "\n"
    "options:\n"
    "  --gt MASK            also print the true IoU against this ground truth\n"
    "  --ignore-value V     value in --gt marking ignored pixels\n"
    "  --json PATH          write {pred_iou, true_iou, reply} to PATH\n"
    "\n";
static const char usage_llm[] = CLI_LLM_OPTIONS_HELP;
static const char usage_tail[] =
    "\n"
    "examples:\n"
    "  segagent score photo.jpg mask.png \"the cat\" --policy http://127.0.0.1:8000/v1 --model segagent-qwen\n"
    "  segagent score photo.jpg mask.png \"the cat\" --gt gt.png --json score.json\n";
/* clang-format on */

typedef struct score_opts {
    cli_llm_opts lo;
    sa_llm_params lp; /* its strings point into lo */
    const char *photo, *mask_path, *desc, *gt_path, *json_path;
    int ignore_value;
} score_opts;

/* Parses and checks the command line. Returns -1 to go on, else the exit status. */
static int parse_score_options(int argc, char **argv, score_opts *o) {
    memset(o, 0, sizeof *o);
    cli_llm_opts_default(&o->lo);
    o->ignore_value = -1;
    cli_opt opts[CLI_LLM_N_OPTS + 3];
    cli_llm_opts_table(&o->lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt)CLI_O_STR("gt", &o->gt_path);
    opts[n++] = (cli_opt)CLI_O_IGNORE(&o->ignore_value);
    opts[n++] = (cli_opt)CLI_O_STR("json", &o->json_path);
    char usage[8192];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, usage_llm, usage_tail);
    const char *pos[3];
    int n_pos = 0;
    int pr = cli_parse(argc, argv, opts, n, pos, 3, &n_pos, usage);
    if (pr) return pr == 1 ? 0 : 2;
    if (n_pos != 3) {
        cli_printf(stderr, "%s: need PHOTO MASK DESCRIPTION (see --help)\n", argv[0]);
        return 2;
    }
    o->photo = pos[0];
    o->mask_path = pos[1];
    o->desc = pos[2];
    if (o->desc[strspn(o->desc, " \t\r\n")] == '\0') {
        cli_printf(stderr,
                   "%s: DESCRIPTION is empty: say which object the mask shows, e.g. \"the cat\"\n",
                   argv[0]);
        return 2;
    }
    sa_error err = {0};
    if (cli_llm_params(&o->lo, &o->lp, &err)) {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (o->json_path && cli_check_out_file(argv[0], "json", o->json_path)) return 1;
    cli_io io;
    cli_io_init(&io, argv[0]);
    cli_io_input(&io, "PHOTO", o->photo);
    cli_io_input(&io, "MASK", o->mask_path);
    cli_io_input(&io, "--gt", o->gt_path);
    cli_io_input(&io, "--prompt", o->lo.prompt);
    int bad = cli_io_output(&io, "--json", o->json_path);
    cli_io_free(&io);
    return bad ? 1 : -1;
}

typedef struct score_run {
    sa_image img;
    sa_mask mask, gt, ign;
    double true_iou; /* NAN without --gt */
} score_run;

/* The photo, the mask and the ground truth, checked against each other. */
static int load_inputs(const score_opts *o, score_run *s, sa_error *err) {
    if (sa_image_load(o->photo, &s->img, err) ||
        sa_mask_load(o->mask_path, -1, &s->mask, NULL, err))
        return -1;
    if (s->mask.width != s->img.width || s->mask.height != s->img.height) {
        sa_error_set(err, SA_ERR_INVALID, "%s: mask is %dx%d but the photo is %dx%d", o->mask_path,
                     s->mask.width, s->mask.height, s->img.width, s->img.height);
        return -1;
    }
    if (!o->gt_path) return 0;
    if (sa_mask_load(o->gt_path, o->ignore_value, &s->gt, &s->ign, err)) return -1;
    if (!sa_mask_same_size(&s->gt, &s->mask)) {
        sa_error_set(err, SA_ERR_INVALID, "%s: ground truth size differs from the mask",
                     o->gt_path);
        return -1;
    }
    s->true_iou = sa_mask_iou(&s->mask, &s->gt, s->ign.data ? &s->ign : NULL);
    return 0;
}

/* One line: the error and the reply, its line breaks (and any other control character) escaped. */
static void print_refusal(const char *cmd, const sa_error *err, const char *reply) {
    char *buf =
        malloc(6 * strlen(reply) + 1); /* at most 6 bytes per escaped byte ("\u009b" for 2) */
    if (buf) cli_escape(reply, 1, buf, 6 * strlen(reply) + 1);
    cli_printf(stderr, "%s: %s; the reply was: \"%s\"\n", cmd, err->msg,
               buf ? buf : "(out of memory)");
    free(buf);
}

/* {pred_iou, true_iou, reply} into --json. */
static int write_json(const char *path, float piou, double true_iou, const char *reply,
                      sa_error *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pred_iou", round(piou * 1e6) / 1e6);
    if (isnan(true_iou))
        cJSON_AddNullToObject(o, "true_iou");
    else
        cJSON_AddNumberToObject(o, "true_iou", round(true_iou * 1e6) / 1e6);
    cJSON_AddStringToObject(o, "reply", reply ? reply : "");
    int rc = sa_file_write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

/* Asks the policy and reports. Returns the exit status; errors are printed here. */
static int score(const score_opts *o, const char *cmd, score_run *s) {
    sa_error err = {0};
    sa_policy *pol = NULL;
    char *reply = NULL;
    float piou = NAN;
    int status = 1, rc = sa_llm_policy_new(o->lp, &pol, NULL, &err);
    if (rc == SA_OK) {
        sa_policy_obs obs;
        memset(&obs, 0, sizeof obs);
        obs.image = &s->img;
        obs.mask = &s->mask;
        obs.description = o->desc;
        rc = sa_policy_score(pol, &obs, &piou, &reply, &err);
    }
    if (rc && reply)
        print_refusal(cmd, &err, reply);
    else if (rc)
        cli_printf(stderr, "%s: %s\n", cmd, err.msg);
    if (rc == SA_OK) {
        cli_printf(stdout, "predicted IoU %.4f", piou);
        if (!isnan(s->true_iou)) cli_printf(stdout, "  true IoU %.4f", s->true_iou);
        cli_printf(stdout, "\n");
        status = o->json_path && write_json(o->json_path, piou, s->true_iou, reply, &err) ? 1 : 0;
        if (status) cli_printf(stderr, "%s: %s\n", cmd, err.msg);
    }
    free(reply);
    sa_policy_free(pol);
    return status;
}

int cli_score(int argc, char **argv) {
    score_opts o;
    int status = parse_score_options(argc, argv, &o);
    if (status >= 0) return status;
    score_run s;
    memset(&s, 0, sizeof s);
    s.true_iou = NAN;
    sa_error err = {0};
    if (load_inputs(&o, &s, &err) == 0) {
        status = score(&o, argv[0], &s);
    } else {
        cli_printf(stderr, "%s: %s\n", argv[0], err.msg);
        status = 1;
    }
    sa_image_free(&s.img);
    sa_mask_free(&s.mask);
    sa_mask_free(&s.gt);
    sa_mask_free(&s.ign);
    return status;
}
