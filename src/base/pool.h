/* Internal: a fixed set of worker threads (the one thread-pool implementation of the library). Used by the SAM
 * kernels to split a layer over threads and by the dataset runner to run items in parallel; never both at once
 * (one level of parallelism at a time).
 *
 *   sa__pool *p = NULL;
 *   if (sa__pool_new(2, &p) != SA_OK) ...;      // 1 = no threads started, everything runs on the caller
 *   sa__pool_run(p, n_tasks, fn, ctx);           // fn(ctx, task, worker) for task 0..n_tasks-1, then returns
 *   sa__pool_for(p, n, 4096, range_fn, &ctx);    // [0, n) split into chunks of at least 4096
 *   sa__pool_free(p);
 */
#ifndef SEGAGENT_BASE_POOL_H
#define SEGAGENT_BASE_POOL_H

#include <stddef.h>

typedef struct sa__pool sa__pool;
/* One task: worker is 0 for the calling thread, 1..threads-1 for the pool's own threads. */
typedef void (*sa__task_fn)(void *ctx, int task, int worker);
/* Starts threads-1 workers (threads < 1 counts as 1). Returns SA_OK or SA_ERR_NOMEM (nothing left running). */
int sa__pool_new(int threads, sa__pool **out);
/* Stops and joins the workers. p may be NULL. */
void sa__pool_free(sa__pool *p);
/* Threads that share the work, the caller included (1 for a NULL pool). */
int sa__pool_threads(const sa__pool *p);
/* Runs fn for every task and returns when all have finished. p may be NULL (everything runs on the caller).
 * Not reentrant: a task must not call sa__pool_run on the same pool. */
void sa__pool_run(sa__pool *p, int n_tasks, sa__task_fn fn, void *ctx);
/* Splits [0, n) into chunks of at least min_chunk and runs fn(ctx, i0, i1) on each (pool may be NULL). */
typedef void (*sa__range_fn)(void *ctx, size_t i0, size_t i1);
void sa__pool_for(sa__pool *p, size_t n, size_t min_chunk, sa__range_fn fn, void *ctx);

#endif
