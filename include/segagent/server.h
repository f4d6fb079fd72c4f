/* segagent's HTTP server: the interactive tools and the agent for labelling tools and for its own
 * web page (docs/server.md lists every endpoint with its request and answer).
 *
 *   sa_server_params p = sa_server_default_params();
 *   p.port = 8090;                       // 0: any free port (sa_server_port tells which)
 *   p.images_root = "/data/images";      // optional: images registered by path, Label Studio local
 * files p.policy = &llm;                     // optional sa_llm_params: the agent endpoints answer
 * 503 without sa_server *srv = NULL; if (sa_server_start(tool, &p, &srv, &err)) ...;   // listening
 * when it returns, on its own threads
 *   ... wait for a signal ...
 *   sa_server_stop(srv);                 // closes the socket, waits for requests in flight, frees
 * all
 *
 * Endpoints: a native JSON API under /api/ (register an image, predict from clicks and a box with
 * the mask as COCO RLE or PNG, run the agent with each step streamed as server-sent events),
 * /health and /metrics, Label Studio's ML backend protocol at the root (/setup, /predict, /webhook)
 * and the web page at / (files of p.web_dir).
 *
 * Per-image tool state (the SAM embedding, the graph cut's colour models) is computed once per
 * image -- right after registration on a background thread when p.background_encode is set -- and
 * kept in an LRU bounded by p.cache_bytes. Everything a client controls is bounded: body size,
 * image pixels, clicks per request, agent steps, concurrent agent runs; a request over a limit gets
 * 413, 429 or 503 with a JSON error.
 *
 * The tool and every string in the params are borrowed and must outlive the server. The server
 * prints nothing: each finished request is reported through p.log as one line "METHOD PATH STATUS
 * MS". There is no global state; several servers may run in one process.
 */
#ifndef SEGAGENT_SERVER_H
#define SEGAGENT_SERVER_H

#include <stddef.h>

#include "segagent/error.h"
#include "segagent/llm_policy.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*sa_server_log_fn)(void *ctx, const char *line);

typedef struct sa_server_params {
    const char *host;        /* address to bind, default "127.0.0.1" (IPv4 literal) */
    int port;                /* default 8090; 0 = any free port */
    const char *images_root; /* folder for path registrations and Label Studio local files; NULL =
                                refused */
    const char *token;  /* when non-empty, every endpoint but /health requires it (Bearer, Token or
                           Basic password) */
    size_t cache_bytes; /* byte budget of images + tool state, default 2 GiB */
    size_t max_body_bytes; /* default 64 MiB */
    long max_pixels;       /* largest image accepted, default 50 000 000 */
    int max_clicks;        /* clicks per request, default 256 (at most SA_MAX_CLICKS) */
    int max_images;        /* registered images kept, default 1024 */
    int max_agents;        /* concurrent agent runs, default 2 (then 429) */
    int max_agent_steps;   /* default 20 */
    int max_search;        /* candidates per agent step, default 8 */
    int background_encode; /* encode right after registration, default 1 */
    int threads;           /* connection threads limit, default 256 (one thread per connection) */
    const sa_llm_params *policy; /* the agent's policy; NULL = agent endpoints answer 503 */
    const char *text_field; /* Label Studio task field holding the description, default "text" */
    const char *web_dir;    /* folder with index.html, app.js, style.css; NULL = no page */
    const char
        *ls_url; /* Label Studio base URL for /data/upload/ images (LABEL_STUDIO_URL), or NULL */
    const char *ls_token; /* its API key (LABEL_STUDIO_API_KEY), or NULL */
    sa_server_log_fn log; /* optional, called from the server's threads */
    void *log_ctx;
} sa_server_params;

sa_server_params sa_server_default_params(void);

typedef struct sa_server sa_server;

/* Validates the params, binds host:port and starts serving. Errors: SA_ERR_RANGE (a limit out of
 * range), SA_ERR_INVALID (bad host), SA_ERR_NETWORK (cannot bind: the message names the address).
 */
int sa_server_start(sa_tool *tool, const sa_server_params *p, sa_server **out, sa_error *err);
/* The port actually bound. */
int sa_server_port(const sa_server *s);
/* Stops accepting, ends agent streams at their next step, waits for requests in flight and frees
 * everything. s may be NULL. */
void sa_server_stop(sa_server *s);

#ifdef __cplusplus
}
#endif
#endif
