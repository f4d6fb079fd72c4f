/* The interactive segmentation tool contract: image + all clicks so far (+ optional box, + optional previous
 * result) -> new mask (+ per-pixel probability where the tool has one).
 *
 *   sa_tool *tool = NULL;
 *   sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err);   // or sa_sam_tool_new(...)
 *   sa_tool_session *s = NULL;
 *   sa_tool_session_new(tool, &img, &s, &err);     // per-image work (colour models, embeddings) happens here, once
 *   sa_click clicks[1] = {{.y = 120, .x = 200, .positive = 1}};
 *   sa_tool_request req = {.clicks = clicks, .n_clicks = 1};
 *   sa_tool_result res = {0};
 *   sa_tool_session_predict(s, &req, &res, &err);  // res.mask is the new mask
 *   ... next click: req.prev = &res (the tool may use the previous mask / logits) ...
 *   sa_tool_result_free(&res);
 *   sa_tool_session_free(s);
 *   sa_tool_free(tool);
 *
 * A sa_tool may be shared by threads; each thread uses its own sessions. Its settings (sa_tool_set_max_parallel,
 * sa_tool_set_cache) are made before it is shared; after that only its internal counters and caches change, under
 * their own locks. Tools are implemented by filling a sa_tool_ops table (see sa_tool_new); users never see the
 * table.
 *
 * Two things are shared by all threads of one tool:
 *   - a gate: at most max_parallel session starts and predictions run at once (the others wait their turn), so
 *     many episodes in flight (each waiting on a model server most of the time) do not run many tool calls on
 *     few cores;
 *   - for tools with per-image work worth keeping (SAM: the image embedding), a cache of it: in memory (an LRU
 *     bounded by bytes, on by default), optionally on disk, with work in flight de-duplicated (two threads
 *     starting sessions on the same image at once: one computes, the other waits and reuses the result).
 *     Results are bit-identical to computing anew.
 */
#ifndef SEGAGENT_TOOL_H
#define SEGAGENT_TOOL_H

#include <stddef.h>

#include "segagent/action.h"
#include "segagent/error.h"
#include "segagent/image.h"
#include "segagent/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The output of one prediction. Owned by the caller; release with sa_tool_result_free. */
typedef struct sa_tool_result {
    sa_mask mask; /* binary mask at the image size */
    float *
        prob; /* width*height per-pixel object probability in [0,1], or NULL if the tool has none */
    float *
        aux; /* tool-private state to feed back through sa_tool_request.prev (SAM: low-res logits) */
    size_t n_aux;
    float score; /* tool's own quality estimate (SAM: predicted IoU), NAN when none */
} sa_tool_result;

typedef struct sa_tool_request {
    const sa_click *clicks; /* all clicks so far, in order */
    int n_clicks;
    const sa_box *box; /* optional, NULL when none */
    const sa_tool_result
        *prev; /* optional previous result (mask / prob / aux), NULL on the first step */
    const sa_mask
        *init_mask; /* optional starting mask when no prev exists (refinement), else NULL */
} sa_tool_request;

typedef struct sa_tool sa_tool;
typedef struct sa_tool_session sa_tool_session;

/* Implementation table. model is the tool's immutable data; state is one session. */
typedef struct sa_tool_ops {
    const char *name;
    int accepts_box; /* 1 if box prompts are meaningful for this tool */
    int (*session_new)(void *model, const sa_image *img, void **state, sa_error *err);
    int (*predict)(void *state, const sa_tool_request *req, sa_tool_result *out, sa_error *err);
    void (*session_free)(void *state);
    void (*model_free)(void *model);
} sa_tool_ops;

/* Wraps an implementation. ops must outlive the tool (use a static table); model is owned by the tool and
 * released with ops->model_free by sa_tool_free. */
int sa_tool_new(const sa_tool_ops *ops, void *model, sa_tool **out, sa_error *err);
void sa_tool_free(sa_tool *tool);
const char *sa_tool_name(const sa_tool *tool);
int sa_tool_accepts_box(const sa_tool *tool);

/* At most n session starts and predictions of this tool at once, over all threads (n >= 1), or no limit (n = 0,
 * the default). Set it before the tool is shared. SA_ERR_INVALID for n < 0. */
int sa_tool_set_max_parallel(sa_tool *tool, int n, sa_error *err);

/* The per-image cache (for the tools that have one: SAM). */
#define SA_TOOL_CACHE_DEFAULT_BYTES ((size_t)256 << 20)
typedef struct sa_tool_cache_params {
    size_t
        max_bytes; /* memory budget of the LRU (default SA_TOOL_CACHE_DEFAULT_BYTES); 0 keeps nothing once
                         the sessions using it end (work in flight is still shared) */
    const char *
        dir; /* on-disk cache folder, created when missing (NULL: none, the default). Files are keyed
                         by the model's content (weights, architecture, kernels, precision: not its path) and the
                         image's pixels; a corrupt, truncated or mismatched file is reported through warn,
                         counted and recomputed, never used (docs/sam.md) */
    void (*warn)(void *user,
                 const char *msg); /* one line per problem met (may be NULL); called from the
                                                  thread that met it, so it must be thread-safe */
    void *warn_user;
} sa_tool_cache_params;
sa_tool_cache_params sa_tool_cache_default_params(void);
/* Replaces the tool's cache (what it held is dropped). Call before the tool is shared and with no session
 * open. SA_ERR_UNSUPPORTED for a tool without per-image work to keep (the built-in graph cut, SimpleClick);
 * SA_ERR_IO when dir cannot be created; SA_ERR_NOMEM. On error the old cache stays. */
int sa_tool_set_cache(sa_tool *tool, sa_tool_cache_params params, sa_error *err);

/* Counters since the tool was made. The cache fields are 0 for a tool without a cache. */
typedef struct sa_tool_stats {
    long sessions;     /* sessions started */
    long predicts;     /* predictions made */
    long gate_waits;   /* calls that had to wait at the max_parallel gate */
    int max_parallel;  /* the gate (0 = none) */
    int peak_parallel; /* most calls seen running at once */
    long image_work;   /* per-image work actually done (SAM: image encoder runs) */
    long mem_hits; /* sessions served from memory (including those that waited on another thread) */
    long
        inflight_waits; /* of those, sessions that waited for another thread's work on the same image */
    long disk_hits;     /* sessions served from a valid cache file */
    long disk_writes;   /* cache files written */
    long disk_rejected; /* cache files found but not used (reported through warn) */
    long disk_errors;   /* cache files that could not be written */
    size_t cache_bytes; /* bytes held in memory now */
    long cache_entries; /* images held in memory now */
} sa_tool_stats;
void sa_tool_get_stats(const sa_tool *tool, sa_tool_stats *out);

/* Starts a session on one image. The image is copied; the caller may free it afterwards. */
int sa_tool_session_new(sa_tool *tool, const sa_image *img, sa_tool_session **out, sa_error *err);
void sa_tool_session_free(sa_tool_session *s);

/* Validates the request (clicks inside the image, box ordered and inside or touching the image, n_clicks in
 * [0, SA_MAX_CLICKS], prev/init_mask of the image size), then predicts. out must be zeroed or freed before; on
 * error it stays zeroed. */
int sa_tool_session_predict(sa_tool_session *s, const sa_tool_request *req, sa_tool_result *out,
                            sa_error *err);

void sa_tool_result_free(sa_tool_result *r);
/* Deep copy (dst zeroed or freed before). */
int sa_tool_result_copy(const sa_tool_result *src, sa_tool_result *dst, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
