/* The policy model over HTTP: any multimodal LLM behind an OpenAI-compatible chat API (vLLM, SGLang,
 * llama.cpp's llama-server, Ollama) plays the annotator (docs/grammar.md, docs/decision-process.md, docs/serving.md).
 *
 *   sa_llm_params p = sa_llm_default_params();
 *   p.base_url = "http://127.0.0.1:8000/v1";
 *   p.model = "segagent-qwen";
 *   p.api_key = getenv("OPENAI_API_KEY");       // optional; the library never reads the environment
 *   sa_policy *pol = NULL;
 *   sa_llm_client *cl = NULL;                   // borrowed view of the policy's client (may pass NULL)
 *   if (sa_llm_policy_new(p, &pol, &cl, &err)) ...
 *   ... sa_policy_act(pol, &obs, k, d, &n, &err) / sa_policy_score(pol, &obs, &piou, &text, &err) ...
 *   sa_policy_free(pol);                        // also frees the client
 *
 * One request: POST {base_url}/chat/completions with an optional system message and a user message whose
 * content is [image_url (data URL of the overlay), text (the rendered prompt)], plus model, temperature,
 * top_p, max_tokens, seed (when >= 0) and n (when > 1). Replies are read from choices[i].message.content (a
 * string, or an array of {"type":"text"} parts). The body is valid UTF-8 whatever the description or prompt
 * holds: invalid bytes are sent as U+FFFD (the replacement character).
 *
 * The image: the overlay of the current mask (docs/grammar.md: colour and alpha from params.overlay),
 * resized to model_size x model_size when model_size > 0 (what Qwen-VL's processor does anyway: 448), else sent
 * at full size and left to the server's processor (the default: the server knows its model's input size);
 * JPEG quality 75 as the original, or PNG (lossless, used by the tests to decode the overlay exactly).
 * Coordinates in the replies are relative, so the resize never changes their meaning.
 *
 * Failures: connect / total timeouts; up to `retries` retries with exponential backoff (backoff_s, 2x,
 * 4x ...) on connection errors, timeouts, HTTP 5xx and 429 -- never on other 4xx. Every error names the URL
 * and, for HTTP errors, the status and the start of the body. Bodies beyond max_response_bytes are refused.
 * K samples: one request with n = K; when the server refuses n > 1 (a 4xx other than 401/403/404/429) or
 * returns fewer choices, the missing samples come from single requests with seeds seed+1, seed+2, ... (seed 0
 * when none is set), sent in parallel (libcurl multi) and retried one by one if any fails; the client
 * remembers not to send n again.
 *
 * Threads: a client (and the policy around it) is used by one thread at a time; use one per thread. libcurl
 * initialises itself on the first client; with libcurl older than 7.84 create the first client before other
 * threads start using libcurl.
 */
#ifndef SEGAGENT_LLM_POLICY_H
#define SEGAGENT_LLM_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/grammar.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_llm_image_format { SA_LLM_JPEG = 0, SA_LLM_PNG = 1 } sa_llm_image_format;

typedef struct sa_llm_params {
    const char *base_url; /* e.g. "http://127.0.0.1:8000/v1" ("/chat/completions" is appended) */
    const char *model;    /* model name the server knows */
    const char *api_key;  /* sent as "Authorization: Bearer ..." when non-NULL and non-empty; a key
                                 holding CR, LF or another control character (tab aside) is refused with
                                 SA_ERR_INVALID, as is such a base_url: no header can be injected */
    const char *prompt;   /* "qwen" (default), "llava", or a prompt file (see prompt.h) */
    const char *ground_prompt; /* prompt for the grounded first box: "ground" (default) or a file */
    sa_grammar grammar;        /* axis order and coordinate style of the replies */
    double temperature;        /* default 0 (greedy); search wants > 0, e.g. 0.7 */
    double top_p;              /* default 1 */
    int max_tokens;            /* default 64 */
    long seed;                 /* default -1: not sent */
    double connect_timeout_s;  /* default 10 */
    double timeout_s;          /* whole request, default 120 */
    int retries;               /* default 2 */
    double backoff_s;          /* first retry delay, default 0.5 */
    size_t max_response_bytes; /* default 8 MiB */
    sa_llm_image_format image_format; /* default JPEG */
    int jpeg_quality;                 /* default 75 */
    int model_size; /* resize the overlay to model_size^2 before sending; 0 (default) = full size */
    sa_overlay_style overlay; /* default green, alpha 0.5 */
} sa_llm_params;

sa_llm_params sa_llm_default_params(void);

/* ---- the HTTP client ---- */
typedef struct sa_llm_client sa_llm_client;

int sa_llm_client_new(sa_llm_params p, sa_llm_client **out, sa_error *err);
void sa_llm_client_free(sa_llm_client *c);

/* The replies to one chat turn. texts[i] is malloc'd or NULL (a choice without content). */
typedef struct sa_llm_reply {
    char **texts;
    int n; /* number of texts (may be < the n asked for when the server gave fewer, even after fallback) */
    double ms;    /* wall time, all requests and retries included */
    int requests; /* HTTP requests made (retries and fallbacks included) */
} sa_llm_reply;
void sa_llm_reply_free(sa_llm_reply *r);

/* One chat turn with an already-encoded image (mime "image/jpeg" or "image/png"). system may be NULL.
 * n >= 1 samples. Returns SA_OK when at least one choice came back; otherwise the error of the last attempt
 * (SA_ERR_NETWORK, SA_ERR_TIMEOUT, SA_ERR_PARSE for a non-JSON or choice-less body, SA_ERR_RANGE for an
 * oversized body). */
int sa_llm_chat(sa_llm_client *c, const uint8_t *image, size_t image_len, const char *mime,
                const char *system, const char *text, int n, sa_llm_reply *out, sa_error *err);

/* Encodes the overlay of mask on img as the client sends it (resize + JPEG/PNG). *out is malloc'd. */
int sa_llm_encode_observation(const sa_llm_client *c, const sa_image *img, const sa_mask *mask,
                              uint8_t **out, size_t *out_len, const char **mime, sa_error *err);

/* Base64 (standard alphabet, padded). Returns a malloc'd NUL-terminated string or NULL (overflow/memory). */
char *sa_base64_encode(const uint8_t *data, size_t n);

/* The text of the last user prompt sent (for trajectories); "" before the first request. */
const char *sa_llm_client_last_prompt(const sa_llm_client *c);
/* The user prompt every act and score request sends for this description (the client's prompt with its slots
 * filled: what sa_llm_client_last_prompt returns after such a request), available before any request is made,
 * e.g. to record it in a trajectory. Returns a malloc'd string (caller frees), or NULL with err set when
 * description is NULL or empty. */
char *sa_llm_client_request_text(const sa_llm_client *c, const char *description, sa_error *err);
/* Total HTTP requests made by this client. */
long sa_llm_client_requests(const sa_llm_client *c);
const char *sa_llm_client_url(const sa_llm_client *c);

/* ---- the policy ----
 * act(k): one chat turn with n = k; each choice parsed with the grammar (status SA_ERR_PARSE / SA_ERR_RANGE
 * for bad replies, pred_iou from "Current IOU" when present). score: one turn (n = 1) on the given mask; the
 * reply's "Current IOU" is the predicted IoU (SA_ERR_PARSE when the reply has none, SA_ERR_RANGE when its
 * value is outside 0..100: see sa_pred_iou_parse); scoring requests are
 * always sent with temperature 0, so the estimate is the model's most likely one even during sampled search. */
int sa_llm_policy_new(sa_llm_params p, sa_policy **out, sa_llm_client **client, sa_error *err);

/* Asks the model for a box around the description (grounding prompt, plain image without overlay) and parses
 * "<box>(x1,y1),(x2,y2)</box>". *reply (may be NULL) receives the raw text (malloc'd), even on a parse error. */
int sa_llm_ground(sa_llm_client *c, const sa_image *img, const char *description, sa_box *box,
                  char **reply, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
