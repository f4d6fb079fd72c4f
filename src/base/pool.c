/* A fixed pool of worker threads for compute loops and for running items in parallel. sa__pool_run hands n
 * tasks to the workers and the calling thread (which works too) and returns when all are done; tasks are taken
 * in index order from a shared counter, so which worker runs a task never changes what it computes.
 *
 * Workers get 4 MiB stacks: the SAM GEMM packs a block of B on the stack (up to 1 MiB). */
#include "base/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "segagent/error.h"

struct sa__pool {
    int threads;
    pthread_t *tid;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    unsigned long gen; /* incremented per run */
    int stop;
    sa__task_fn fn;
    void *ctx;
    int n_tasks;
    int next; /* next task index (under mu) */
    int busy; /* workers still inside the current run */
};

typedef struct {
    sa__pool *p;
    int id;
} worker_arg;

static void pool_work(sa__pool *p, int id) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int t = p->next < p->n_tasks ? p->next++ : -1;
        pthread_mutex_unlock(&p->mu);
        if (t < 0) break;
        p->fn(p->ctx, t, id);
    }
}

static void *pool_main(void *arg) {
    worker_arg *wa = arg;
    sa__pool *p = wa->p;
    int id = wa->id;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

int sa__pool_new(int threads, sa__pool **out) {
    *out = NULL;
    if (threads < 1) threads = 1;
    sa__pool *p = calloc(1, sizeof *p);
    if (!p) return SA_ERR_NOMEM;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (threads > 1) {
        p->tid = calloc((size_t)threads, sizeof *p->tid);
        if (!p->tid) {
            sa__pool_free(p);
            return SA_ERR_NOMEM;
        }
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr,
                                  (size_t)4 << 20); /* the GEMM packs B on the stack (<= 1 MiB) */
        for (int i = 1; i < threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->id = i;
            }
            if (!wa || pthread_create(&p->tid[i], &attr, pool_main, wa) != 0) {
                free(wa);
                pthread_attr_destroy(&attr);
                p->threads = p->started + 1;
                sa__pool_free(p);
                return SA_ERR_NOMEM;
            }
            p->started++;
        }
        pthread_attr_destroy(&attr);
    }
    *out = p;
    return SA_OK;
}

void sa__pool_free(sa__pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->tid);
    free(p);
}

int sa__pool_threads(const sa__pool *p) {
    return p ? p->threads : 1;
}

void sa__pool_run(sa__pool *p, int n_tasks, sa__task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->started == 0 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->next = 0;
    p->busy = p->started;
    p->gen++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    pool_work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

typedef struct {
    sa__range_fn fn;
    void *ctx;
    size_t n, per;
} for_ctx;

static void for_task(void *vctx, int t, int worker) {
    (void)worker;
    for_ctx *c = vctx;
    size_t a = (size_t)t * c->per, b = a + c->per < c->n ? a + c->per : c->n;
    c->fn(c->ctx, a, b);
}

void sa__pool_for(sa__pool *p, size_t n, size_t min_chunk, sa__range_fn fn, void *ctx) {
    int threads = sa__pool_threads(p);
    if (n == 0) return;
    if (threads == 1 || n <= min_chunk) {
        fn(ctx, 0, n);
        return;
    }
    size_t per = (n + 2 * (size_t)threads - 1) / (2 * (size_t)threads);
    if (per < min_chunk) per = min_chunk;
    for_ctx c = {.fn = fn, .ctx = ctx, .n = n, .per = per};
    sa__pool_run(p, (int)((n + per - 1) / per), for_task, &c);
}
