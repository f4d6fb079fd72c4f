/* CLI: shared LLM-policy options and their translation to sa_llm_params. */
#include "cli_llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_llm_opts_default(cli_llm_opts *o) {
    memset(o, 0, sizeof *o);
    const char *env_url = getenv("SEGAGENT_POLICY");
    o->policy = env_url && *env_url ? env_url : "http://127.0.0.1:8000/v1";
    o->model = "segagent-qwen";
    o->api_key_env = "OPENAI_API_KEY";
    o->prompt = "qwen";
    o->ground_prompt = "ground";
    o->axis = "yx";
    o->coords = "int1000";
    o->image_format = "jpeg";
    o->overlay_color = "0,255,0";
    o->temperature = 0.0;
    o->top_p = 1.0;
    o->timeout = 120.0;
    o->connect_timeout = 10.0;
    o->overlay_alpha = 0.5;
    o->max_tokens = 64;
    o->seed = -1;
    o->retries = 2;
    o->model_size = 0;
    o->jpeg_quality = 75;
}

void cli_llm_opts_table(cli_llm_opts *o, cli_opt *t) {
    const cli_opt tbl[CLI_LLM_N_OPTS] = {
        CLI_O_STR("policy", &o->policy),
        CLI_O_STR("model", &o->model),
        CLI_O_STR("api-key-env", &o->api_key_env),
        CLI_O_STR("prompt", &o->prompt),
        CLI_O_STR("ground-prompt", &o->ground_prompt),
        CLI_O_STR("axis", &o->axis),
        CLI_O_STR("coords", &o->coords),
        CLI_O_STR("image-format", &o->image_format),
        CLI_O_STR("overlay-color", &o->overlay_color),
        CLI_O_DOUBLE("temperature", &o->temperature, 0, 100),
        CLI_O_DOUBLE_GT("top-p", &o->top_p, 0, 1),
        CLI_O_DOUBLE_GT("timeout", &o->timeout, 0, 1e6),
        CLI_O_DOUBLE_GT("connect-timeout", &o->connect_timeout, 0, 1e6),
        CLI_O_DOUBLE("overlay-alpha", &o->overlay_alpha, 0, 1),
        CLI_O_INT("max-tokens", &o->max_tokens, 1, 65536),
        CLI_O_SEED(&o->seed),
        CLI_O_INT("retries", &o->retries, 0, 20),
        CLI_O_INT("model-size", &o->model_size, 0, 8192),
        CLI_O_JPEG_QUALITY(&o->jpeg_quality),
    };
    memcpy(t, tbl, sizeof tbl);
}

/* --image-format, --overlay-color and --overlay-alpha into p. */
static int image_params(const cli_llm_opts *o, sa_llm_params *p, sa_error *err) {
    if (!strcmp(o->image_format, "jpeg") || !strcmp(o->image_format, "jpg"))
        p->image_format = SA_LLM_JPEG;
    else if (!strcmp(o->image_format, "png"))
        p->image_format = SA_LLM_PNG;
    else
        return sa_error_set(err, SA_ERR_INVALID, "--image-format '%s': expected jpeg or png",
                            o->image_format);
    int rgb[3];
    if (cli_parse_int_list(o->overlay_color, ',', rgb, 3, 0, 255))
        return sa_error_set(err, SA_ERR_INVALID, "--overlay-color '%s': expected R,G,B in 0..255",
                            o->overlay_color);
    int r = rgb[0], g = rgb[1], b = rgb[2];
    p->overlay.color[0] = (uint8_t)r;
    p->overlay.color[1] = (uint8_t)g;
    p->overlay.color[2] = (uint8_t)b;
    p->overlay.alpha = (float)o->overlay_alpha;
    return SA_OK;
}

/* The ranges the client accepts, checked here so the message names the option. */
static int check_ranges(const cli_llm_opts *o, sa_error *err) {
    if (strncmp(o->policy, "http://", 7) && strncmp(o->policy, "https://", 8))
        return sa_error_set(err, SA_ERR_INVALID,
                            "--policy '%s': expected a URL starting with http:// or https://",
                            o->policy);
    if (!o->model || !*o->model)
        return sa_error_set(err, SA_ERR_INVALID, "--model must not be empty");
    return SA_OK; /* the numeric options: their ranges are in the option table (cli_llm_opts_table) */
}

int cli_llm_params(const cli_llm_opts *o, sa_llm_params *p, sa_error *err) {
    *p = sa_llm_default_params();
    p->base_url = o->policy;
    p->model = o->model;
    p->prompt = o->prompt;
    p->ground_prompt = o->ground_prompt;
    int rc = sa_axis_order_from_name(o->axis, &p->grammar.axis, err);
    if (!rc) rc = sa_coord_style_from_name(o->coords, &p->grammar.coords, err);
    if (!rc) rc = image_params(o, p, err);
    if (!rc) rc = check_ranges(o, err);
    if (rc) return rc;
    p->temperature = o->temperature;
    p->top_p = o->top_p;
    p->timeout_s = o->timeout;
    p->connect_timeout_s = o->connect_timeout;
    p->max_tokens = o->max_tokens;
    p->seed = o->seed;
    p->retries = o->retries;
    p->model_size = o->model_size;
    p->jpeg_quality = o->jpeg_quality;
    const char *key = o->api_key_env && *o->api_key_env ? getenv(o->api_key_env) : NULL;
    p->api_key = key && *key ? key : NULL;
    return SA_OK;
}

int cli_policy_opts_table(int argc, char **argv, const cli_opt *base, int n_base,
                          const cli_opt *model_opt, cli_llm_opts *lo, int *use_llm, cli_opt *opts) {
    *use_llm = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--policy") == 0 || strncmp(argv[i], "--policy=", 9) == 0) *use_llm = 1;
    cli_llm_opts_default(lo);
    int n = 0;
    for (int i = 0; i < n_base; i++)
        opts[n++] = base[i];
    if (*use_llm) {
        cli_llm_opts_table(lo, opts + n);
        n += CLI_LLM_N_OPTS;
    } else {
        opts[n++] = *model_opt;
    }
    return n;
}
