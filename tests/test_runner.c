/* The dataset runner: every item runs once and is delivered once, in item order, for any worker count and
 * window; a failing item is reported and the run goes on; a stop request or a refusing deliver leaves a
 * delivered prefix; worker state is per worker; bad arguments are errors. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "segagent/runner.h"
#include "testutil.h"

#define N_ITEMS 200

typedef struct ctx {
    int ran[N_ITEMS]; /* run_item calls per item */
    int delivered[N_ITEMS];
    int order[N_ITEMS]; /* delivery order */
    int n_delivered;
    int in_deliver; /* >0 while a deliver runs: must never overlap */
    int overlap;
    int bad_slot;
    int fail_every; /* items i with i % fail_every == 3 fail */
    int stop_after; /* should_stop once this many items were delivered (0 = never) */
    int refuse_at;  /* deliver returns 1 at this item (-1 = never) */
    int workers_made, workers_freed, bad_state;
    int fail_worker_new; /* worker_new fails for every worker */
    pthread_mutex_t mu;
} ctx;

typedef struct slot {
    int item;
    int square;
} slot;

static int worker_new(void *vctx, int worker, void **state, sa_error *err) {
    ctx *c = vctx;
    if (c->fail_worker_new) return sa_error_set(err, SA_ERR_IO, "worker %d cannot start", worker);
    int *s = malloc(sizeof *s);
    if (!s) return SA_ERR_NOMEM;
    *s = 1000 + worker;
    pthread_mutex_lock(&c->mu);
    c->workers_made++;
    pthread_mutex_unlock(&c->mu);
    *state = s;
    return SA_OK;
}

static void worker_free(void *vctx, void *state) {
    ctx *c = vctx;
    pthread_mutex_lock(&c->mu);
    c->workers_freed++;
    pthread_mutex_unlock(&c->mu);
    free(state);
}

static int run_item(void *vctx, void *state, int item, void *vslot, sa_error *err) {
    ctx *c = vctx;
    slot *s = vslot;
    if (!state || *(int *)state < 1000) c->bad_state = 1;
    if (s->item != 0 || s->square != 0) c->bad_slot = 1; /* slots arrive zeroed */
    pthread_mutex_lock(&c->mu);
    c->ran[item]++;
    pthread_mutex_unlock(&c->mu);
    if ((item * 7919) % 5 == 0) { /* uneven items: some take a while, so later ones finish first */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    s->item = item;
    s->square = item * item;
    if (c->fail_every && item % c->fail_every == 3)
        return sa_error_set(err, SA_ERR_FORMAT, "item %d is bad", item);
    return SA_OK;
}

static int deliver(void *vctx, int item, int status, const char *error, void *vslot) {
    ctx *c = vctx;
    slot *s = vslot;
    if (__atomic_fetch_add(&c->in_deliver, 1, __ATOMIC_SEQ_CST) != 0) c->overlap = 1;
    if (s->item != item || s->square != item * item) c->bad_slot = 1;
    int expect_fail = c->fail_every && item % c->fail_every == 3;
    CHECKF(expect_fail ? status == SA_ERR_FORMAT && strstr(error, "is bad")
                       : status == SA_OK && !error[0],
           "item %d: status %d '%s'", item, status, error);
    c->delivered[item]++;
    c->order[c->n_delivered++] = item;
    __atomic_fetch_sub(&c->in_deliver, 1, __ATOMIC_SEQ_CST);
    return item == c->refuse_at;
}

static int should_stop(void *vctx) {
    ctx *c = vctx;
    return c->stop_after && __atomic_load_n(&c->n_delivered, __ATOMIC_SEQ_CST) >= c->stop_after;
}

static const sa_runner_ops ops = {
    .slot_size = sizeof(slot),
    .worker_new = worker_new,
    .worker_free = worker_free,
    .run_item = run_item,
    .deliver = deliver,
    .should_stop = should_stop,
};

static void ctx_init(ctx *c) {
    memset(c, 0, sizeof *c);
    c->refuse_at = -1;
    pthread_mutex_init(&c->mu, NULL);
}

static void test_order_and_errors(void) {
    const int workers[] = {1, 2, 3, 8};
    const int windows[] = {0, 1, 5};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++) {
            ctx c;
            ctx_init(&c);
            c.fail_every = 10;
            sa_runner_params p = sa_runner_default_params();
            p.workers = workers[a];
            p.window = windows[b];
            sa_runner_stats st;
            sa_error err = {0};
            CHECKF(sa_runner_run(&ops, &c, N_ITEMS, p, &st, &err) == SA_OK, "%s", err.msg);
            int ok = st.delivered == N_ITEMS && st.failed == N_ITEMS / 10 && !st.stopped;
            for (int i = 0; i < N_ITEMS; i++)
                ok &= c.ran[i] == 1 && c.delivered[i] == 1 && c.order[i] == i;
            CHECKF(ok, "workers %d window %d: delivered %d failed %d", workers[a], windows[b],
                   st.delivered, st.failed);
            CHECK(!c.overlap && !c.bad_slot && !c.bad_state);
            CHECK(c.workers_made >= 1 && c.workers_made <= workers[a] &&
                  c.workers_freed == c.workers_made);
            pthread_mutex_destroy(&c.mu);
        }
}

static void test_stop_leaves_prefix(void) {
    for (int w = 1; w <= 3; w++) {
        ctx c;
        ctx_init(&c);
        c.stop_after = 17;
        sa_runner_params p = sa_runner_default_params();
        p.workers = w;
        sa_runner_stats st;
        CHECK(sa_runner_run(&ops, &c, N_ITEMS, p, &st, NULL) == SA_OK);
        CHECKF(st.stopped && st.delivered >= 17 && st.delivered < N_ITEMS,
               "workers %d: delivered %d", w, st.delivered);
        int ok = 1;
        for (int i = 0; i < N_ITEMS; i++)
            ok &= c.delivered[i] == (i < st.delivered) && c.ran[i] == c.delivered[i];
        CHECK(ok); /* a prefix, nothing run twice, nothing run and dropped */
        pthread_mutex_destroy(&c.mu);

        /* a deliver that refuses (say, the disk is full) stops the run the same way */
        ctx_init(&c);
        c.refuse_at = 40;
        CHECK(sa_runner_run(&ops, &c, N_ITEMS, p, &st, NULL) == SA_OK);
        CHECKF(st.stopped && st.delivered >= 41 && st.delivered < N_ITEMS, "refuse: delivered %d",
               st.delivered);
        pthread_mutex_destroy(&c.mu);
    }
}

static void test_bad_arguments(void) {
    ctx c;
    ctx_init(&c);
    sa_runner_params p = sa_runner_default_params();
    sa_error err = {0};
    CHECK(sa_runner_run(NULL, &c, 5, p, NULL, &err) == SA_ERR_INVALID);
    CHECK(sa_runner_run(&ops, &c, -1, p, NULL, &err) == SA_ERR_RANGE);
    p.workers = 0;
    CHECK(sa_runner_run(&ops, &c, 5, p, NULL, &err) == SA_ERR_RANGE);
    p.workers = 2;
    p.window = -3;
    CHECK(sa_runner_run(&ops, &c, 5, p, NULL, &err) == SA_ERR_RANGE);
    p.window = 0;
    sa_runner_stats st;
    CHECK(sa_runner_run(&ops, &c, 0, p, &st, &err) == SA_OK && st.delivered == 0);
    /* no worker can start: the run fails with that worker's error, nothing delivered */
    c.fail_worker_new = 1;
    CHECK(sa_runner_run(&ops, &c, 5, p, &st, &err) == SA_ERR_IO && strstr(err.msg, "cannot start"));
    CHECK(st.delivered == 0 && c.n_delivered == 0);
    pthread_mutex_destroy(&c.mu);
}

int main(void) {
    test_order_and_errors();
    test_stop_leaves_prefix();
    test_bad_arguments();
    return tu_finish("test_runner");
}
