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
int sa__llm_encode_image(const sa_llm_client *c, const sa_image *src, uint8_t **out,
                         size_t *out_len, const char **mime, sa_error *err);

/* Reads a chat-completions reply body (len bytes, need not be NUL-terminated; untrusted): appends the text of
 * each of choices[] -- message.content as a string or the concatenated "text" of its parts, else the
 * completions-style "text"; NULL when there is none -- to out, stopping at want entries in all. out->texts must
 * have room for want entries; out->n counts those already there. Other keys (usage, logprobs, timings, ...) are
 * ignored. SA_ERR_PARSE when the body is not JSON or has no choices (the message says "(server error)" when it
 * has an "error" object); every message is one line naming url and quoting the start of the body. */
int sa__llm_parse_reply(const char *url, const char *body, size_t len, int want, sa_llm_reply *out,
                        sa_error *err);

#endif
