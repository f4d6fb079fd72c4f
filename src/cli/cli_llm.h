/* Internal to the CLI: the options every LLM-policy command shares (server, model, prompt, grammar,
 * sampling, timeouts, image) and the segment/refine runner. */
#ifndef SEGAGENT_CLI_LLM_H
#define SEGAGENT_CLI_LLM_H

#include "cli.h"
#include "segagent/llm_policy.h"

typedef struct cli_llm_opts {
    const char *policy, *model, *api_key_env, *prompt, *ground_prompt, *axis, *coords,
        *image_format;
    const char *overlay_color;
    double temperature, top_p, timeout, connect_timeout, overlay_alpha;
    int max_tokens, seed, retries, model_size, jpeg_quality;
} cli_llm_opts;

#define CLI_LLM_N_OPTS 19

void cli_llm_opts_default(cli_llm_opts *o);
/* Writes the option table entries (CLI_LLM_N_OPTS) at tbl. */
void cli_llm_opts_table(cli_llm_opts *o, cli_opt *tbl);

/* For a command where --policy URL switches to an LLM policy: *use_llm = whether argv has --policy; lo gets its
 * defaults; opts (room for n_base + CLI_LLM_N_OPTS + 1) receives base, then the LLM options (with --policy,
 * --model names the LLM) or model_opt (without, --model is the tool's checkpoint). Returns the entry count. */
int cli_policy_opts_table(int argc, char **argv, const cli_opt *base, int n_base,
                          const cli_opt *model_opt, cli_llm_opts *lo, int *use_llm, cli_opt *opts);
/* Turns the options into client parameters; reads the API key from the environment variable named by
 * --api-key-env. String fields of *p point into o or the environment. */
int cli_llm_params(const cli_llm_opts *o, sa_llm_params *p, sa_error *err);

#define CLI_LLM_OPTIONS_HELP                                                                                     \
    "policy server (any OpenAI-compatible chat API: vLLM, SGLang, llama-server, Ollama; see docs/serving.md):\n" \
    "  --policy URL         base URL up to /v1 (default $SEGAGENT_POLICY or http://127.0.0.1:8000/v1)\n"         \
    "  --model NAME         model name as the server knows it (default segagent-qwen)\n"                         \
    "  --api-key-env NAME   environment variable holding the API key (default OPENAI_API_KEY; unset = none)\n"   \
    "  --prompt P           qwen (the released SegAgent-Qwen prompt, default), llava (long annotator prompt),\n" \
    "                       or a text file with a {description} slot (first line 'system: ...' optional)\n"      \
    "  --ground-prompt FILE prompt for --ground-box (default: a Qwen-VL grounding request)\n"                    \
    "  --axis yx|xy         order of the two numbers in the replies (default yx, as the released model)\n"       \
    "  --coords int1000|float1  integers in [0,1000) (Qwen, default) or decimals in [0,1) (LLaVA variant)\n"     \
    "  --temperature T      sampling temperature, 0..100 (default 0; ~0.7 with --search)\n"                      \
    "  --top-p P            nucleus sampling (default 1)\n"                                                      \
    "  --max-tokens N       reply length limit, 1..65536 (default 64)\n"                                         \
    "  --seed N             sampling seed (default: not sent)\n"                                                 \
    "  --timeout S          seconds per request, all included, > 0 and <= 1e6 (default 120)\n"                   \
    "  --connect-timeout S  seconds to connect, > 0 and <= 1e6 (default 10)\n"                                   \
    "  --retries N          retries on connection errors, timeouts, 5xx and 429 (default 2)\n"                   \
    "  --image-format F     jpeg (quality 75, as the original; default) or png\n"                                \
    "  --jpeg-quality Q     1..100 (default 75)\n"                                                               \
    "  --model-size N       resize the overlay to NxN before sending (Qwen-VL: 448, LLaVA: 512); default 0 =\n"  \
    "                       send full size and let the server's processor resize\n"                              \
    "  --overlay-color R,G,B  mask colour in the overlay (default 0,255,0)\n"                                    \
    "  --overlay-alpha A    weight of the photo under the mask (default 0.5)\n"

/* segment (refine = 0: photo desc) / refine (refine = 1: photo mask desc). */
int cli_agent_command(int argc, char **argv, int refine);

#endif
