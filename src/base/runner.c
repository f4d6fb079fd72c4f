/* The dataset runner: workers from the thread pool take item indices in order from a shared counter, run them
 * into a ring of result slots, and whoever finishes the oldest undelivered item delivers every item that is
 * now ready, in order, outside the lock (one deliverer at a time). A worker waits when the ring is full, which
 * bounds memory to `window` slots and keeps delivery in order without ever reordering work. */
#include "segagent/runner.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"

sa_runner_params sa_runner_default_params(void) {
    sa_runner_params p;
    memset(&p, 0, sizeof p);
    p.workers = 1;
    return p;
}

typedef struct {
    int status;
    int done; /* run_item returned */
    char msg[SA_ERROR_MSG_LEN];
} slot_info;

typedef struct {
    const sa_runner_ops *ops;
    void *ctx;
    int n_items, window;
    unsigned char *slots; /* window * slot_size */
    slot_info *info;      /* window */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot was freed, or the run stopped */
    int next;          /* next item to start */
    int delivered;     /* items delivered (the oldest undelivered item) */
    int delivering;    /* a worker is delivering */
    int stop;
    int failed;
    int workers_up, workers_failed;
    int first_rc;
    char first_msg[SA_ERROR_MSG_LEN];
} run_state;

static void *slot_at(run_state *r, int item) {
    return r->slots + (size_t)(item % r->window) * r->ops->slot_size;
}

/* Delivers ready items in order; called with mu held, returns with mu held. */
static void deliver_ready(run_state *r) {
    if (r->delivering) return;
    r->delivering = 1;
    while (r->delivered < r->next && r->info[r->delivered % r->window].done) {
        int item = r->delivered;
        slot_info *si = &r->info[item % r->window];
        pthread_mutex_unlock(&r->mu);
        int stop = 0;
        if (r->ops->deliver)
            stop = r->ops->deliver(r->ctx, item, si->status, si->msg, slot_at(r, item));
        pthread_mutex_lock(&r->mu);
        if (si->status != SA_OK) r->failed++;
        si->done = 0;
        r->delivered++;
        if (stop) r->stop = 1;
        if (r->ops->progress) {
            pthread_mutex_unlock(&r->mu);
            r->ops->progress(r->ctx, item + 1, r->n_items);
            pthread_mutex_lock(&r->mu);
        }
        pthread_cond_broadcast(&r->cv);
    }
    r->delivering = 0;
}

/* Takes the next item, waiting for a free slot; -1 when there is nothing more to start. mu held. */
static int take_item(run_state *r) {
    for (;;) {
        if (r->stop || r->next >= r->n_items) return -1;
        if (r->next < r->delivered + r->window) return r->next++;
        pthread_cond_wait(&r->cv, &r->mu);
    }
}

static void worker_task(void *vctx, int task, int worker) {
    (void)worker;
    run_state *r = vctx;
    void *state = NULL;
    if (r->ops->worker_new) {
        sa_error e = {0};
        int rc = r->ops->worker_new(r->ctx, task, &state, &e);
        if (rc != SA_OK) {
            pthread_mutex_lock(&r->mu);
            if (r->workers_failed++ == 0) {
                r->first_rc = rc;
                memcpy(r->first_msg, e.msg, sizeof r->first_msg);
            }
            pthread_mutex_unlock(&r->mu);
            return;
        }
    }
    pthread_mutex_lock(&r->mu);
    r->workers_up++;
    for (;;) {
        pthread_mutex_unlock(&r->mu);
        int stop = r->ops->should_stop && r->ops->should_stop(r->ctx);
        pthread_mutex_lock(&r->mu);
        if (stop && !r->stop) {
            r->stop = 1;
            pthread_cond_broadcast(&r->cv);
        }
        int item = take_item(r);
        if (item < 0) break;
        pthread_mutex_unlock(&r->mu);
        void *slot = slot_at(r, item);
        if (r->ops->slot_size) memset(slot, 0, r->ops->slot_size);
        slot_info *si = &r->info[item % r->window];
        sa_error e = {0};
        int rc = r->ops->run_item(r->ctx, state, item, slot, &e);
        pthread_mutex_lock(&r->mu);
        si->status = rc;
        if (rc != SA_OK)
            memcpy(si->msg, e.msg[0] ? e.msg : sa_strerror(rc), sizeof si->msg);
        else
            si->msg[0] = '\0';
        si->msg[sizeof si->msg - 1] = '\0';
        si->done = 1;
        deliver_ready(r);
    }
    deliver_ready(r);
    pthread_mutex_unlock(&r->mu);
    if (r->ops->worker_free) r->ops->worker_free(r->ctx, state);
}

int sa_runner_run(const sa_runner_ops *ops, void *ctx, int n_items, sa_runner_params params,
                  sa_runner_stats *stats, sa_error *err) {
    if (stats) memset(stats, 0, sizeof *stats);
    if (!ops || !ops->run_item)
        return sa_error_set(err, SA_ERR_INVALID, "runner: no run_item callback");
    if (n_items < 0) return sa_error_set(err, SA_ERR_RANGE, "runner: %d items", n_items);
    if (params.workers < 1 || params.workers > 256)
        return sa_error_set(err, SA_ERR_RANGE, "runner: workers %d outside 1..256", params.workers);
    if (params.window < 0)
        return sa_error_set(err, SA_ERR_RANGE, "runner: window %d is negative", params.window);
    if (n_items == 0) return SA_OK;
    int workers = params.workers < n_items ? params.workers : n_items;
    run_state r;
    memset(&r, 0, sizeof r);
    r.ops = ops;
    r.ctx = ctx;
    r.n_items = n_items;
    r.window = params.window ? params.window : 4 * workers;
    if (r.window < workers) r.window = workers;
    if (r.window > n_items) r.window = n_items;
    r.info = calloc((size_t)r.window, sizeof *r.info);
    r.slots = ops->slot_size ? calloc((size_t)r.window, ops->slot_size) : NULL;
    sa__pool *pool = NULL;
    if (!r.info || (ops->slot_size && !r.slots) || sa__pool_new(workers, &pool) != SA_OK) {
        free(r.info);
        free(r.slots);
        return sa_error_set(err, SA_ERR_NOMEM, "runner: out of memory");
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    sa__pool_run(pool, sa__pool_threads(pool), worker_task, &r);
    sa__pool_free(pool);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    free(r.info);
    free(r.slots);
    if (stats) {
        stats->delivered = r.delivered;
        stats->failed = r.failed;
        stats->stopped = r.delivered < n_items;
    }
    if (r.workers_up == 0)
        return sa_error_set(err, r.first_rc ? r.first_rc : SA_ERR_STATE, "%s", r.first_msg);
    return SA_OK;
}
