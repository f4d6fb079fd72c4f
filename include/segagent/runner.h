/* The dataset runner: runs items (samples of a dataset, images of a batch) on N worker threads and hands each
 * result back in item order, so outputs are identical whatever the thread count. Evaluation and trajectory
 * recording use it; so should every new way of running episodes over many items.
 *
 *   typedef struct { sa_eval_sample s; } my_slot;
 *   sa_runner_ops ops = {
 *       .slot_size = sizeof(my_slot),
 *       .worker_new = make_env_and_policy,   // optional per-worker state, made on the worker's thread
 *       .worker_free = free_env_and_policy,
 *       .run_item = run_one,                 // fills the zeroed slot of item i; an error is that item's only
 *       .deliver = write_one,                // in item order, one at a time: take the slot's contents
 *       .should_stop = interrupted,          // e.g. Ctrl-C seen: finish the items in flight, start no more
 *   };
 *   sa_runner_params rp = sa_runner_default_params();
 *   rp.workers = 2;
 *   sa_runner_stats st;
 *   rc = sa_runner_run(&ops, &ctx, n_items, rp, &st, &err);
 *
 * Guarantees:
 *   - items are started in index order; deliver sees 0, 1, 2, ... with no gaps, never two calls at once;
 *   - at most params.window items are started ahead of the oldest one not yet delivered, so slot memory is
 *     bounded (window slots) however uneven the items are;
 *   - a failing item never stops the run: deliver gets its status and one-line message;
 *   - stopping (should_stop returns non-zero, or deliver does) lets the items already started finish and be
 *     delivered, so what was delivered is always a prefix 0..k-1 of the items: a valid, resumable output;
 *   - the callbacks run on worker threads (the calling thread is one of them); run_item calls run in
 *     parallel, each with its own worker state; deliver, progress and should_stop never run concurrently
 *     with another deliver.
 * The workers come from the library's one thread pool (base/pool.c).
 */
#ifndef SEGAGENT_RUNNER_H
#define SEGAGENT_RUNNER_H

#include <stddef.h>

#include "segagent/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_runner_params {
    int workers; /* threads running items, 1..256 (default 1) */
    int window; /* most items started beyond the oldest undelivered one; 0 (default) = 4 * workers */
    int reserved[4];
} sa_runner_params;

sa_runner_params sa_runner_default_params(void);

typedef struct sa_runner_ops {
    size_t
        slot_size; /* bytes of one item's result; the slot is zeroed before run_item (may be 0) */
    /* Optional per-worker state, made on the worker's own thread before its first item. A failure keeps that
     * worker out of the run; the run fails only when no worker could start. */
    int (*worker_new)(void *ctx, int worker, void **state, sa_error *err);
    void (*worker_free)(void *ctx, void *state);
    /* Runs item into slot. A non-OK return (with the message in err) is that item's error. Required. */
    int (*run_item)(void *ctx, void *state, int item, void *slot, sa_error *err);
    /* Optional: receives item's status, message ("" when OK) and slot, in item order. The slot is reused
     * afterwards: take ownership of what it holds or free it here. Return non-zero to stop the run. */
    int (*deliver)(void *ctx, int item, int status, const char *error, void *slot);
    /* Optional: after each deliver; done counts delivered items. */
    void (*progress)(void *ctx, int done, int total);
    /* Optional: polled before each item is started; non-zero stops the run. */
    int (*should_stop)(void *ctx);
} sa_runner_ops;

typedef struct sa_runner_stats {
    int delivered; /* items run and delivered (a prefix of 0..n_items-1) */
    int failed;    /* of those, items whose run_item returned an error */
    int stopped;   /* 1 when should_stop or deliver ended the run before every item was started */
} sa_runner_stats;

/* Runs items 0..n_items-1 (n_items >= 0). Returns SA_OK when the run completed or was stopped (stats say
 * which), SA_ERR_INVALID / SA_ERR_RANGE for bad arguments, SA_ERR_NOMEM, or the error of worker_new when no
 * worker could start. stats may be NULL. */
int sa_runner_run(const sa_runner_ops *ops, void *ctx, int n_items, sa_runner_params params,
                  sa_runner_stats *stats, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
