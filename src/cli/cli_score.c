/* segagent score: the policy's predicted IoU of a given mask (SegAgent's process reward, used to filter
 * annotations): one request with the mask painted on the photo, the reply's "Current IOU". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_llm.h"

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

int cli_score(int argc, char **argv) {
    cli_llm_opts lo;
    cli_llm_opts_default(&lo);
    const char *gt_path = NULL, *json_path = NULL;
    int ignore_value = -1;
    cli_opt opts[CLI_LLM_N_OPTS + 3];
    cli_llm_opts_table(&lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt){"gt", CLI_STR, &gt_path};
    opts[n++] = (cli_opt){"ignore-value", CLI_INT, &ignore_value};
    opts[n++] = (cli_opt){"json", CLI_STR, &json_path};
    char usage[8192];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, usage_llm, usage_tail);
    const char *pos[3];
    int n_pos = 0;
    int pr = cli_parse(argc, argv, opts, n, pos, 3, &n_pos, usage);
    if (pr == 1) return 0;
    if (pr) return 2;
    if (n_pos != 3) {
        fprintf(stderr, "%s: need PHOTO MASK DESCRIPTION (see --help)\n", argv[0]);
        return 2;
    }
    if (pos[2][strspn(pos[2], " \t\r\n")] == '\0') {
        fprintf(stderr, "%s: DESCRIPTION is empty: say which object the mask shows, e.g. \"the cat\"\n", argv[0]);
        return 2;
    }
    if (cli_check_int(argv[0], "ignore-value", ignore_value, -1, 255)) return 2;
    sa_error err = {0};
    sa_llm_params lp;
    if (cli_llm_params(&lo, &lp, &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (json_path && cli_check_out_file(argv[0], "json", json_path)) return 1;
    int status = 1;
    sa_image img = {0};
    sa_mask mask = {0}, gt = {0}, ign = {0};
    sa_policy *pol = NULL;
    char *reply = NULL;
    double true_iou = NAN;
    float piou = NAN;
    if (sa_image_load(pos[0], &img, &err) || sa_mask_load(pos[1], -1, &mask, NULL, &err)) goto out;
    if (mask.width != img.width || mask.height != img.height) {
        sa_error_set(&err, SA_ERR_INVALID, "%s: mask is %dx%d but the photo is %dx%d", pos[1], mask.width,
                     mask.height, img.width, img.height);
        goto out;
    }
    if (gt_path) {
        if (sa_mask_load(gt_path, ignore_value, &gt, &ign, &err)) goto out;
        if (!sa_mask_same_size(&gt, &mask)) {
            sa_error_set(&err, SA_ERR_INVALID, "%s: ground truth size differs from the mask", gt_path);
            goto out;
        }
        true_iou = sa_mask_iou(&mask, &gt, ign.data ? &ign : NULL);
    }
    if (sa_llm_policy_new(&lp, &pol, NULL, &err)) goto out;
    sa_policy_obs obs;
    memset(&obs, 0, sizeof obs);
    obs.image = &img;
    obs.mask = &mask;
    obs.description = pos[2];
    int rc = sa_policy_score(pol, &obs, &piou, &reply, &err);
    if (rc) {
        if (reply) { /* one line: the error and the reply, its line breaks shown as \n */
            fprintf(stderr, "%s: %s; the reply was: \"", argv[0], err.msg);
            for (const char *c = reply; *c; c++) {
                if (*c == '\n') fputs("\\n", stderr);
                else if (*c != '\r') fputc(*c, stderr);
            }
            fputs("\"\n", stderr);
            status = 2; /* already reported */
        }
        goto out;
    }
    printf("predicted IoU %.4f", piou);
    if (!isnan(true_iou)) printf("  true IoU %.4f", true_iou);
    printf("\n");
    status = 0;
    if (json_path) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "pred_iou", round(piou * 1e6) / 1e6);
        if (isnan(true_iou)) cJSON_AddNullToObject(o, "true_iou");
        else cJSON_AddNumberToObject(o, "true_iou", round(true_iou * 1e6) / 1e6);
        cJSON_AddStringToObject(o, "reply", reply ? reply : "");
        char *txt = cJSON_Print(o);
        cJSON_Delete(o);
        FILE *f = txt ? fopen(json_path, "wb") : NULL;
        int bad = !f;
        if (f) {
            bad |= fprintf(f, "%s\n", txt) < 0;
            bad |= fclose(f) != 0;
        }
        if (bad) {
            sa_error_set(&err, SA_ERR_IO, "%s: cannot write", json_path);
            status = 1;
        }
        free(txt);
    }
out:
    if (status == 2) status = 1;
    else if (status) fprintf(stderr, "%s: %s\n", argv[0], err.msg);
    free(reply);
    sa_policy_free(pol);
    sa_image_free(&img);
    sa_mask_free(&mask);
    sa_mask_free(&gt);
    sa_mask_free(&ign);
    return status;
}
