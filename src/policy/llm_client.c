/* HTTP client for OpenAI-compatible chat servers (libcurl + cJSON).
 *
 * Design: one curl easy handle per client, reused so that keep-alive connections survive between steps.
 * A chat turn = build the JSON body once, POST it with retries (exponential backoff on connection errors,
 * timeouts, 5xx and 429), then read choices[].message.content. Samples missing from an n > 1 reply (server
 * refused n, or ignored it) are filled by single requests with distinct seeds; once a server has shown it
 * does not honour n the client stops sending it. Response bodies are capped while they arrive, never after.
 * Errors carry the URL, the HTTP status and the first bytes of the body, on one line.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "policy/llm_internal.h"
#include "segagent/llm_policy.h"
#include "base/text.h"
#include "base/util.h"

sa_llm_params sa_llm_default_params(void) {
    sa_llm_params p;
    memset(&p, 0, sizeof p);
    p.base_url = "http://127.0.0.1:8000/v1";
    p.model = "segagent-qwen";
    p.prompt = "qwen";
    p.ground_prompt = "ground";
    p.grammar = sa_grammar_default();
    p.temperature = 0.0;
    p.top_p = 1.0;
    p.max_tokens = 64;
    p.seed = -1;
    p.connect_timeout_s = 10.0;
    p.timeout_s = 120.0;
    p.retries = 2;
    p.backoff_s = 0.5;
    p.max_response_bytes = 8u << 20;
    p.image_format = SA_LLM_JPEG;
    p.jpeg_quality = 75;
    p.model_size = 0;
    p.overlay = sa_overlay_default_style();
    return p;
}

static void sleep_s(double s) {
    if (!(s > 0)) return;
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

void sa_llm_client_free(sa_llm_client *c) {
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    free(c->base_url);
    free(c->url);
    free(c->model);
    free(c->api_key);
    free(c->auth_header);
    free(c->last_prompt);
    sa_prompt_free(c->prompt);
    sa_prompt_free(c->ground_prompt);
    free(c);
}

/* 1 when s holds a byte an HTTP header value cannot carry (controls other than tab, DEL); *at is its index. */
static int bad_header_byte(const char *s, size_t *at) {
    for (size_t i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            *at = i;
            return 1;
        }
    }
    return 0;
}

int sa_llm_client_new(sa_llm_params params, sa_llm_client **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_llm_client_new: NULL out");
    *out = NULL;
    const sa_llm_params *p = &params;
    size_t bad = 0;
    if (!p->base_url || !*p->base_url)
        return sa_error_set(err, SA_ERR_INVALID, "policy server URL is empty");
    if (strncmp(p->base_url, "http://", 7) && strncmp(p->base_url, "https://", 8))
        return sa_error_set(err, SA_ERR_INVALID,
                            "policy server URL '%s' must start with http:// or https://",
                            p->base_url);
    if (!p->model || !*p->model)
        return sa_error_set(err, SA_ERR_INVALID, "no model name for %s", p->base_url);
    /* header values and the URL go to the server as they are: a CR or LF would start another header */
    if (bad_header_byte(p->base_url, &bad))
        return sa_error_set(
            err, SA_ERR_INVALID,
            "policy server URL holds a control character (byte 0x%02x at position %zu)",
            (unsigned)(unsigned char)p->base_url[bad], bad);
    if (p->api_key && bad_header_byte(p->api_key, &bad))
        return sa_error_set(
            err, SA_ERR_INVALID,
            "API key holds a control character (byte 0x%02x at position %zu): an HTTP header "
            "value cannot contain CR, LF or other control characters",
            (unsigned)(unsigned char)p->api_key[bad], bad);
    if (p->max_tokens < 1 || p->retries < 0 || p->retries > 20 || !(p->timeout_s > 0) ||
        !(p->connect_timeout_s > 0) || p->jpeg_quality < 1 || p->jpeg_quality > 100 ||
        p->model_size < 0 || p->model_size > 8192 || !(p->temperature >= 0) ||
        !(p->top_p > 0 && p->top_p <= 1) || p->max_response_bytes < 64)
        return sa_error_set(
            err, SA_ERR_INVALID,
            "policy parameters out of range (max_tokens >= 1, retries 0..20, timeouts > 0, "
            "jpeg quality 1..100, model size 0..8192, temperature >= 0, top_p in (0, 1])");
    sa_llm_client *c = calloc(1, sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "policy client: out of memory");
    c->params = *p;
    size_t bl = strlen(p->base_url);
    while (bl > 0 && p->base_url[bl - 1] == '/')
        bl--;
    c->base_url = malloc(bl + 1);
    c->url = malloc(bl + sizeof "/chat/completions");
    c->model = sa__strdup(p->model);
    c->last_prompt = sa__strdup("");
    if (p->api_key && *p->api_key) {
        c->api_key = sa__strdup(p->api_key);
        size_t hl = strlen(p->api_key) + 32;
        c->auth_header = malloc(hl);
        if (c->auth_header) snprintf(c->auth_header, hl, "Authorization: Bearer %s", p->api_key);
    }
    if (!c->base_url || !c->url || !c->model || !c->last_prompt ||
        (p->api_key && *p->api_key && !c->auth_header)) {
        sa_llm_client_free(c);
        return sa_error_set(err, SA_ERR_NOMEM, "policy client: out of memory");
    }
    memcpy(c->base_url, p->base_url, bl);
    c->base_url[bl] = 0;
    snprintf(c->url, bl + sizeof "/chat/completions", "%s/chat/completions", c->base_url);
    /* the params keep pointers only to our own copies */
    c->params.base_url = c->base_url;
    c->params.model = c->model;
    c->params.api_key = c->api_key;
    c->params.prompt = NULL;
    c->params.ground_prompt = NULL;
    int rc = sa_prompt_load(p->prompt ? p->prompt : "qwen", &c->prompt, err);
    if (!rc)
        rc = sa_prompt_load(p->ground_prompt ? p->ground_prompt : "ground", &c->ground_prompt, err);
    if (rc) {
        sa_llm_client_free(c);
        return rc;
    }
    c->curl = curl_easy_init();
    if (!c->curl) {
        sa_llm_client_free(c);
        return sa_error_set(err, SA_ERR_NOMEM, "policy client: curl_easy_init failed");
    }
    *out = c;
    return SA_OK;
}

const char *sa_llm_client_last_prompt(const sa_llm_client *c) {
    return c && c->last_prompt ? c->last_prompt : "";
}
long sa_llm_client_requests(const sa_llm_client *c) {
    return c ? c->requests : 0;
}

char *sa_llm_client_request_text(const sa_llm_client *c, const char *description, sa_error *err) {
    if (!c) {
        sa_error_set(err, SA_ERR_INVALID, "sa_llm_client_request_text: NULL client");
        return NULL;
    }
    return sa_prompt_render(c->prompt, description, err); /* as llm_policy.c's act and score */
}
const char *sa_llm_client_url(const sa_llm_client *c) {
    return c ? c->url : "";
}

void sa_llm_reply_free(sa_llm_reply *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++)
        free(r->texts[i]);
    free(r->texts);
    memset(r, 0, sizeof *r);
}

/* ---- base64 ---- */

char *sa_base64_encode(const uint8_t *data, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > ((size_t)-1 / 4) * 3 - 3) return NULL;
    size_t out_len = (n + 2) / 3 * 4;
    char *o = malloc(out_len + 1);
    if (!o) return NULL;
    size_t j = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        o[j++] = tbl[v >> 18 & 63];
        o[j++] = tbl[v >> 12 & 63];
        o[j++] = tbl[v >> 6 & 63];
        o[j++] = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        o[j++] = tbl[v >> 18 & 63];
        o[j++] = tbl[v >> 12 & 63];
        o[j++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        o[j++] = '=';
    }
    o[j] = 0;
    return o;
}

/* ---- observation encoding ---- */

int sa__llm_encode_image(const sa_llm_client *c, const sa_image *src, uint8_t **out,
                         size_t *out_len, const char **mime, sa_error *err) {
    const sa_llm_params *p = &c->params;
    sa_image resized = {0};
    const sa_image *img = src;
    int rc;
    if (p->model_size > 0 && (src->width != p->model_size || src->height != p->model_size)) {
        rc = sa_image_resize_bilinear(src, p->model_size, p->model_size, &resized, err);
        if (rc) return rc;
        img = &resized;
    }
    if (p->image_format == SA_LLM_PNG) {
        rc = sa_image_encode_png(img, out, out_len, err);
        if (mime) *mime = "image/png";
    } else {
        rc = sa_image_encode_jpeg(img, p->jpeg_quality, out, out_len, err);
        if (mime) *mime = "image/jpeg";
    }
    sa_image_free(&resized);
    return rc;
}

int sa_llm_encode_observation(const sa_llm_client *c, const sa_image *img, const sa_mask *mask,
                              uint8_t **out, size_t *out_len, const char **mime, sa_error *err) {
    if (!c || !img || !img->data || img->channels != 3 || !out || !out_len)
        return sa_error_set(err, SA_ERR_INVALID, "encode observation: need an RGB image");
    *out = NULL;
    *out_len = 0;
    if (mask && (mask->width != img->width || mask->height != img->height || !mask->data))
        return sa_error_set(err, SA_ERR_INVALID,
                            "encode observation: mask %dx%d does not match image %dx%d",
                            mask->width, mask->height, img->width, img->height);
    sa_image ov = {0};
    int rc = sa_image_copy(img, &ov, err);
    if (rc) return rc;
    if (mask) rc = sa_image_overlay(img, mask->data, c->params.overlay, &ov, err);
    if (!rc) rc = sa__llm_encode_image(c, &ov, out, out_len, mime, err);
    sa_image_free(&ov);
    return rc;
}

/* ---- HTTP ---- */

typedef struct body_buf {
    char *data;
    size_t len, cap, limit;
    int overflow;
} body_buf;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    body_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > b->limit) {
        b->overflow = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *d = realloc(b->data, nc);
        if (!d) return 0;
        b->data = d;
        b->cap = nc;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

/* One-line snippet of a body for error messages. */
static void body_snippet(const char *s, size_t n, char *out, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[j++] = (ch < 32 || ch == 127) ? ' ' : (char)ch;
    }
    if (n > 0 && j + 4 >= cap) {
        out[j++] = '.';
        out[j++] = '.';
        out[j++] = '.';
    }
    out[j] = 0;
}

enum { TRY_OK = 0, TRY_RETRY = 1, TRY_FAIL = 2 };

static struct curl_slist *make_headers(const sa_llm_client *c) {
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    if (c->auth_header) hdr = curl_slist_append(hdr, c->auth_header);
    return hdr;
}

static void setup_easy(sa_llm_client *c, CURL *h, const char *json, struct curl_slist *hdr,
                       body_buf *b) {
    memset(b, 0, sizeof *b);
    b->limit = c->params.max_response_bytes;
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->params.connect_timeout_s * 1000.0));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->params.timeout_s * 1000.0));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "segagent");
    c->requests++;
}

/* Classifies a finished transfer. On TRY_OK, *body holds the 2xx response (caller frees); on an HTTP error the
 * body is kept in *body too (for the n-refusal check); b's buffer is consumed either way. */
static int finish_post(const sa_llm_client *c, CURL *h, CURLcode cc, body_buf *b, long *status,
                       char **body, size_t *body_len, sa_error *err) {
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
    *body = NULL;
    if (b->overflow) {
        free(b->data);
        sa_error_set(err, SA_ERR_RANGE, "POST %s: response larger than %zu bytes", c->url,
                     c->params.max_response_bytes);
        return TRY_FAIL;
    }
    if (cc != CURLE_OK) {
        free(b->data);
        int timeout = cc == CURLE_OPERATION_TIMEDOUT;
        sa_error_set(err, timeout ? SA_ERR_TIMEOUT : SA_ERR_NETWORK, "POST %s: %s%s", c->url,
                     curl_easy_strerror(cc),
                     timeout ? " (raise --timeout if the model is slow)" : "");
        return TRY_RETRY;
    }
    if (code < 200 || code >= 300) {
        char snip[200];
        body_snippet(b->data ? b->data : "", b->len, snip, sizeof snip);
        sa_error_set(err, SA_ERR_NETWORK, "POST %s: HTTP %ld: %s", c->url, code,
                     *snip ? snip : "(empty body)");
        *body = b->data;
        *body_len = b->len;
        return (code >= 500 || code == 429) ? TRY_RETRY : TRY_FAIL;
    }
    *body = b->data ? b->data : sa__strdup("");
    *body_len = b->len;
    return TRY_OK;
}

/* One POST on the client's own handle (keep-alive between steps). */
static int http_post(sa_llm_client *c, const char *json, long *status, char **body,
                     size_t *body_len, sa_error *err) {
    CURL *h = c->curl;
    body_buf b;
    curl_easy_reset(h);
    struct curl_slist *hdr = make_headers(c);
    setup_easy(c, h, json, hdr, &b);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    return finish_post(c, h, cc, &b, status, body, body_len, err);
}

/* m POSTs at once (the samples a server would not give with n). ok[i] = 1 with bodies[i] for each 2xx;
 * the others are left for the caller to retry one by one. */
static void post_parallel(sa_llm_client *c, char **jsons, int m, char **bodies, size_t *lens,
                          int *ok) {
    CURLM *multi = curl_multi_init();
    CURL **hs = calloc((size_t)m, sizeof *hs);
    body_buf *bufs = calloc((size_t)m, sizeof *bufs);
    struct curl_slist *hdr = make_headers(c);
    for (int i = 0; i < m; i++)
        ok[i] = 0, bodies[i] = NULL;
    if (!multi || !hs || !bufs || !hdr) goto out;
    for (int i = 0; i < m; i++) {
        hs[i] = curl_easy_init();
        if (!hs[i]) continue;
        setup_easy(c, hs[i], jsons[i], hdr, &bufs[i]);
        curl_multi_add_handle(multi, hs[i]);
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK) break;
        if (running && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) break;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        int i = -1;
        for (int k = 0; k < m; k++)
            if (hs[k] == msg->easy_handle) i = k;
        if (i < 0) continue;
        long status;
        int r =
            finish_post(c, hs[i], msg->data.result, &bufs[i], &status, &bodies[i], &lens[i], NULL);
        bufs[i].data = NULL;
        if (r == TRY_OK)
            ok[i] = 1;
        else {
            free(bodies[i]);
            bodies[i] = NULL;
        }
    }
out:
    for (int i = 0; hs && i < m; i++) {
        if (!hs[i]) continue;
        curl_multi_remove_handle(multi, hs[i]);
        curl_easy_cleanup(hs[i]);
        free(bufs[i].data); /* transfers that never finished */
    }
    curl_slist_free_all(hdr);
    free(hs);
    free(bufs);
    if (multi) curl_multi_cleanup(multi);
}

/* POST with retries. Returns SA_OK with the 2xx body, or the error; *status is the last HTTP status. */
static int post_retry(sa_llm_client *c, const char *json, long *status, char **body, size_t *len,
                      sa_error *err) {
    double delay = c->params.backoff_s;
    for (int attempt = 0;; attempt++) {
        int r = http_post(c, json, status, body, len, err);
        if (r == TRY_OK) return SA_OK;
        if (r == TRY_FAIL || attempt >= c->params.retries) {
            if (attempt > 0) sa_error_prefix(err, "after %d attempts: ", attempt + 1);
            return err ? err->code : SA_ERR_NETWORK;
        }
        free(*body);
        *body = NULL;
        sleep_s(delay);
        delay *= 2;
    }
}

static char *content_text(const cJSON *content) {
    if (cJSON_IsString(content)) return sa__strdup(content->valuestring);
    if (!cJSON_IsArray(content)) return NULL;
    size_t total = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(t)) total += strlen(t->valuestring);
    }
    char *o = malloc(total + 1);
    if (!o) return NULL;
    size_t j = 0;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(t)) {
            size_t l = strlen(t->valuestring);
            memcpy(o + j, t->valuestring, l);
            j += l;
        }
    }
    o[j] = 0;
    return o;
}

int sa__llm_parse_reply(const char *url, const char *body, size_t len, int want, sa_llm_reply *out,
                        sa_error *err) {
    if (!body) {
        body = "";
        len = 0;
    }
    char snip[160];
    body_snippet(body, len, snip, sizeof snip);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root && sa__json_too_deep(body, len))
        return sa_error_set(err, SA_ERR_PARSE,
                            "POST %s: reply JSON nested deeper than %d levels (the reader's limit)",
                            url, CJSON_NESTING_LIMIT);
    if (!root) return sa_error_set(err, SA_ERR_PARSE, "POST %s: reply is not JSON: %s", url, snip);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    int n = cJSON_IsArray(choices) ? cJSON_GetArraySize(choices) : 0;
    if (n == 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        cJSON_Delete(root);
        return sa_error_set(err, SA_ERR_PARSE, "POST %s: reply has no choices%s: %s", url,
                            e ? " (server error)" : "", snip);
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, choices) {
        if (out->n >= want) break;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
        const cJSON *content = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
        if (!content)
            content = cJSON_GetObjectItemCaseSensitive(ch, "text"); /* completions-style servers */
        out->texts[out->n++] = content_text(content);
    }
    cJSON_Delete(root);
    return SA_OK;
}

static char *build_body(sa_llm_client *c, const char *data_url, const char *system,
                        const char *text, int n, long seed) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "model", c->model);
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    if (system && *system) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", system);
        cJSON_AddItemToArray(msgs, m);
    }
    cJSON *um = cJSON_CreateObject();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON *content = cJSON_AddArrayToObject(um, "content");
    if (data_url) {
        cJSON *img = cJSON_CreateObject();
        cJSON_AddStringToObject(img, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(img, "image_url");
        cJSON_AddStringToObject(iu, "url", data_url);
        cJSON_AddItemToArray(content, img);
    }
    cJSON *tp = cJSON_CreateObject();
    cJSON_AddStringToObject(tp, "type", "text");
    cJSON_AddStringToObject(tp, "text", text);
    cJSON_AddItemToArray(content, tp);
    cJSON_AddItemToArray(msgs, um);
    cJSON_AddNumberToObject(root, "temperature", c->params.temperature);
    cJSON_AddNumberToObject(root, "top_p", c->params.top_p);
    cJSON_AddNumberToObject(root, "max_tokens", c->params.max_tokens);
    if (seed >= 0) cJSON_AddNumberToObject(root, "seed", (double)seed);
    if (n > 1) cJSON_AddNumberToObject(root, "n", n);
    char *s = sa__json_print(root, 0);
    cJSON_Delete(root);
    return s;
}

/* Does a 4xx body look like a refusal of n > 1? Any 4xx other than auth / not-found / rate-limit counts. */
static int refuses_n(long status) {
    return status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 &&
           status != 429;
}

int sa_llm_chat(sa_llm_client *c, const uint8_t *image, size_t image_len, const char *mime,
                const char *system, const char *text, int n, sa_llm_reply *out, sa_error *err) {
    if (!c || !text || !out || n < 1 || n > 64 || (image && !mime))
        return sa_error_set(err, SA_ERR_INVALID, "sa_llm_chat: invalid arguments (n in 1..64)");
    memset(out, 0, sizeof *out);
    double t0 = sa__now_ms();
    long req0 = c->requests;
    free(c->last_prompt);
    c->last_prompt = sa__strdup(text);
    out->texts = calloc((size_t)n, sizeof *out->texts);
    if (!out->texts) return sa_error_set(err, SA_ERR_NOMEM, "chat: out of memory");
    char *data_url = NULL;
    if (image) {
        char *b64 = sa_base64_encode(image, image_len);
        size_t ml = strlen(mime);
        data_url = b64 ? malloc(strlen(b64) + ml + 16) : NULL;
        if (data_url) sprintf(data_url, "data:%s;base64,%s", mime, b64);
        free(b64);
        if (!data_url) {
            free(out->texts);
            out->texts = NULL;
            return sa_error_set(err, SA_ERR_NOMEM, "chat: out of memory for the image (%zu bytes)",
                                image_len);
        }
    }
    int rc = SA_OK;
    long base_seed = c->params.seed;
    /* first request: all n at once unless the server is known to ignore n */
    int first_n = c->n_unsupported ? 1 : n;
    char *json = build_body(c, data_url, system, text, first_n, base_seed);
    if (!json) rc = sa_error_set(err, SA_ERR_NOMEM, "chat: cannot build the request");
    if (!rc) {
        long status = 0;
        char *body = NULL;
        size_t blen = 0;
        rc = post_retry(c, json, &status, &body, &blen, err);
        if (rc && first_n > 1 && refuses_n(status)) {
            c->n_unsupported = 1; /* try again one sample at a time */
            free(body);
            body = NULL;
            free(json);
            json = build_body(c, data_url, system, text, 1, base_seed);
            rc = json ? post_retry(c, json, &status, &body, &blen, err) : SA_ERR_NOMEM;
        }
        if (!rc) rc = sa__llm_parse_reply(c->url, body, blen, n, out, err);
        free(body);
    }
    free(json);
    /* fill missing samples with distinct seeds: all at once, then one by one (with retries) for any that failed */
    if (!rc && out->n < n) {
        if (first_n > 1) c->n_unsupported = 1;
        long s0 = base_seed >= 0 ? base_seed : 0;
        int m = n - out->n, base = out->n;
        char **jsons = calloc((size_t)m, sizeof *jsons);
        char **bodies = calloc((size_t)m, sizeof *bodies);
        size_t *lens = calloc((size_t)m, sizeof *lens);
        int *ok = calloc((size_t)m, sizeof *ok);
        if (jsons && bodies && lens && ok) {
            int built = 1;
            for (int i = 0; i < m; i++)
                built &=
                    (jsons[i] = build_body(c, data_url, system, text, 1, s0 + base + i)) != NULL;
            if (built) post_parallel(c, jsons, m, bodies, lens, ok);
            for (int i = 0; i < m && built; i++) {
                sa_error e2 = {0};
                int r = SA_OK;
                if (!ok[i]) {
                    long status = 0;
                    r = post_retry(c, jsons[i], &status, &bodies[i], &lens[i], &e2);
                }
                if (!r) r = sa__llm_parse_reply(c->url, bodies[i], lens[i], out->n + 1, out, &e2);
                if (r) break; /* keep the samples we have */
            }
            for (int i = 0; i < m; i++) {
                free(jsons[i]);
                free(bodies[i]);
            }
        }
        free(jsons);
        free(bodies);
        free(lens);
        free(ok);
    }
    free(data_url);
    out->ms = sa__now_ms() - t0;
    out->requests = (int)(c->requests - req0);
    if (rc) {
        sa_llm_reply tmp = *out;
        sa_llm_reply_free(&tmp);
        double ms = out->ms;
        int reqs = out->requests;
        memset(out, 0, sizeof *out);
        out->ms = ms;
        out->requests = reqs;
    }
    return rc;
}
