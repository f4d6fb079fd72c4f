/* Internal to the policy client (llm_client.c) and the policy built on it (llm_policy.c). */
#ifndef SEGAGENT_LLM_INTERNAL_H
#define SEGAGENT_LLM_INTERNAL_H

#include <curl/curl.h>

#include "segagent/llm_policy.h"
#include "segagent/prompt.h"

struct sa_llm_client {
    sa_llm_params params; /* string fields point at the copies below */
    char *base_url, *url, *model, *api_key, *auth_header;
    sa_prompt *prompt, *ground_prompt;
    CURL *curl;
    int n_unsupported; /* the server refused or ignored n > 1 once: ask one sample per request */
    long requests;
    char *last_prompt;
};

/* Resizes (model_size) and encodes an RGB image as the client sends it. */
int sa__llm_encode_image(const sa_llm_client *c, const sa_image *src, uint8_t **out, size_t *out_len,
                         const char **mime, sa_error *err);

#endif
