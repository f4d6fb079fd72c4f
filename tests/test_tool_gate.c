/* The tool gate (sa_tool_set_max_parallel): at most N session starts and predictions at once over all threads,
 * counted in sa_tool_get_stats; and the referring benchmark over the built-in scenes with 8 episode workers
 * behind a gate of 1 gives the same numbers as one worker. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segagent/evaluate.h"
#include "segagent/graphcut.h"
#include "segagent/refer.h"
#include "testutil.h"
#include "tools/tool_internal.h"

/* A tool whose calls take 5 ms and record how many run at once. */
typedef struct slow_model {
    pthread_mutex_t mu;
    int now, most;
} slow_model;

static void slow_enter(slow_model *m) {
    pthread_mutex_lock(&m->mu);
    if (++m->now > m->most) m->most = m->now;
    pthread_mutex_unlock(&m->mu);
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&m->mu);
    m->now--;
    pthread_mutex_unlock(&m->mu);
}

typedef struct slow_state {
    slow_model *m;
    int w, h;
} slow_state;

static int slow_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    slow_state *s = malloc(sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    s->m = model;
    s->w = img->width;
    s->h = img->height;
    slow_enter(s->m);
    *state = s;
    return SA_OK;
}

static int slow_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    (void)req;
    slow_state *s = state;
    slow_enter(s->m);
    return sa_mask_new(&out->mask, s->w, s->h, err);
}

static void slow_session_free(void *state) {
    free(state);
}

static const sa_tool_ops slow_ops = {.name = "slow",
                                     .session_new = slow_session_new,
                                     .predict = slow_predict,
                                     .session_free = slow_session_free};

typedef struct worker {
    sa_tool *tool;
    int rc;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    sa_image img = {0};
    sa_error err = {0};
    w->rc = sa_image_new(&img, 16, 16, 3, &err);
    sa_tool_session *s = NULL;
    if (!w->rc) w->rc = sa_tool_session_new(w->tool, &img, &s, &err);
    sa_click c = {.y = 3, .x = 3, .positive = 1};
    sa_tool_request req = {.clicks = &c, .n_clicks = 1};
    for (int i = 0; i < 5 && !w->rc; i++) {
        sa_tool_result r = {0};
        w->rc = sa_tool_session_predict(s, &req, &r, &err);
        sa_tool_result_free(&r);
    }
    sa_tool_session_free(s);
    sa_image_free(&img);
    return NULL;
}

/* 8 threads, 6 calls each, through a gate of n (0 = none); returns the most calls seen at once. */
static int run_threads(int n, sa_tool_stats *st) {
    slow_model m = {.now = 0};
    pthread_mutex_init(&m.mu, NULL);
    sa_tool *tool = NULL;
    sa_error err = {0};
    CHECK(sa_tool_new(&slow_ops, &m, &tool, &err) == SA_OK);
    CHECK(sa_tool_set_max_parallel(tool, n, &err) == SA_OK);
    enum { T = 8 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){.tool = tool};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].rc == SA_OK);
    }
    sa_tool_get_stats(tool, st);
    sa_tool_free(tool);
    pthread_mutex_destroy(&m.mu);
    return m.most;
}

/* A tool whose session start waits 30 ms on "another thread" with its gate slot given back. */
typedef struct pausing_model {
    sa_tool *owner;
    pthread_mutex_t mu;
    int inside, most;
} pausing_model;

static int pausing_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    (void)img;
    (void)err;
    pausing_model *m = model;
    pthread_mutex_lock(&m->mu);
    if (++m->inside > m->most) m->most = m->inside;
    pthread_mutex_unlock(&m->mu);
    sa__tool_gate_pause(m->owner);
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    sa__tool_gate_resume(m->owner);
    pthread_mutex_lock(&m->mu);
    m->inside--;
    pthread_mutex_unlock(&m->mu);
    *state = NULL;
    return SA_OK;
}

static int pausing_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                           sa_error *err) {
    (void)state;
    (void)req;
    return sa_mask_new(&out->mask, 16, 16, err);
}

static const sa_tool_ops pausing_ops = {
    .name = "pausing", .session_new = pausing_session_new, .predict = pausing_predict};

static void test_pause(void) {
    pausing_model m = {.owner = NULL};
    pthread_mutex_init(&m.mu, NULL);
    sa_tool *tool = NULL;
    sa_error err = {0};
    CHECK(sa_tool_new(&pausing_ops, &m, &tool, &err) == SA_OK);
    m.owner = tool;
    CHECK(sa_tool_set_max_parallel(tool, 1, &err) == SA_OK);
    enum { T = 4 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){.tool = tool};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].rc == SA_OK);
    }
    sa_tool_stats st;
    sa_tool_get_stats(tool, &st);
    CHECKF(st.peak_parallel == 1, "peak %d behind a gate of 1", st.peak_parallel);
    /* the waits overlapped: a paused call does not hold the only slot (4 x 30 ms apart would be 1) */
    CHECKF(m.most >= 2, "%d session starts waited at once", m.most);
    sa_tool_free(tool);
    pthread_mutex_destroy(&m.mu);
}

static void test_gate(void) {
    sa_tool_stats st;
    for (int n = 1; n <= 3; n++) {
        int most = run_threads(n, &st);
        CHECKF(most <= n && st.peak_parallel <= n, "gate %d: %d at once (peak %d)", n, most,
               st.peak_parallel);
        CHECK(most == st.peak_parallel);
        CHECK(st.sessions == 8 && st.predicts == 40 && st.max_parallel == n);
        CHECK(st.gate_waits > 0); /* 8 threads on n < 8 slots: someone waited */
        CHECK(st.image_work == 0 && st.mem_hits == 0); /* no cache in this tool */
    }
    run_threads(0, &st);
    CHECK(st.gate_waits == 0 && st.max_parallel == 0);
    sa_error err = {0};
    CHECK(sa_tool_set_max_parallel(NULL, 1, &err) == SA_ERR_INVALID);
}

/* The referring benchmark (scenes, simulated annotator, graph cut) at 1 worker and at 8 behind a gate of 1. */
static void test_eval_gated(void) {
    sa_refer *ds = NULL;
    sa_error err = {0};
    CHECK(sa_refer_open_scenes(&ds, &err) == SA_OK);
    if (!ds) return;
    sa_eval_refer_summary sum[2];
    for (int k = 0; k < 2; k++) {
        sa_tool *tool = NULL;
        CHECK(sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err) == SA_OK);
        CHECK(sa_tool_set_max_parallel(tool, k ? 1 : 0, &err) == SA_OK);
        sa_eval_params p = sa_eval_default_params();
        p.max_clicks = 3;
        p.threads = k ? 8 : 1;
        sa_eval_result r;
        CHECK(sa_eval_run_refer(tool, ds, p, NULL, NULL, &r, &err) == SA_OK);
        CHECK(sa_eval_refer_summarize(&r, 3, &sum[k]) == SA_OK);
        sa_tool_stats st;
        sa_tool_get_stats(tool, &st);
        CHECK(st.sessions == sa_refer_count(ds));
        if (k) CHECKF(st.peak_parallel == 1, "peak %d behind a gate of 1", st.peak_parallel);
        sa_eval_result_free(&r);
        sa_tool_free(tool);
    }
    CHECK(sum[0].n_samples == sum[1].n_samples && sum[0].n_samples > 0);
    CHECK(sum[0].ciou == sum[1].ciou && sum[0].giou == sum[1].giou);
    for (int t = 0; t < 3; t++)
        CHECK(sum[0].miou_by_step[t] == sum[1].miou_by_step[t]);
    sa_refer_free(ds);
}

int main(void) {
    test_gate();
    test_pause();
    test_eval_gated();
    return tu_finish("test_tool_gate");
}
