/* The agent endpoint: POST /api/images/ID/agent runs the LLM agent (sa_agent_run) on a registered
 * image and streams each committed step as a server-sent event while the episode goes on.
 *
 * The run happens on its own thread, which holds the image's entry (and its env lock) until the
 * episode ends; the connection's thread only copies the events out. The two share a small buffer;
 * whichever side finishes last frees it. When the client goes away, the next step callback sees it
 * and ends the episode; when the server stops, the reader ends the stream and the run ends at its
 * next step. Events: event: start  {"id", "description", "steps", "search"} event: step   {"index",
 * "action": {"x","y","positive"} or {"box": [..]}, "pred_iou", "rle", "area", "ms"} event: done
 * {"rle", "area", "stop", "best_step", "pred_iou", "n_clicks", "error"?, "ms"}
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "segagent/agent.h"
#include "segagent/llm_policy.h"
#include "server/request.h"
#include "server/server_internal.h"

int sa__run_agent(sa_server *s, sa__entry *e, const char *description, int steps, int search,
                  sa__step_cb on_step, void *ctx, sa_agent_result *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    sa_policy *pol = NULL;
    int rc = sa_llm_policy_new(*s->p.policy, &pol, NULL, err);
    if (rc) {
        out->status = rc;
        snprintf(out->error, sizeof out->error, "%s", err ? err->msg : "policy");
        return rc;
    }
    sa_env *env = NULL;
    double t0 = sa__now_ms();
    rc = sa__entry_lock_env(s->store, e, &env, NULL, err);
    if (!rc) {
        rc = sa_env_set_description(env, description, err);
        if (!rc) rc = sa_env_restart(env, NULL, err);
        if (!rc) {
            sa_agent_params ap = sa_agent_default_params();
            ap.steps = steps;
            ap.search_k = search;
            ap.on_step = on_step;
            ap.on_step_ctx = ctx;
            rc = sa_agent_run(env, pol, ap, out, err);
        } else {
            out->status = rc;
            snprintf(out->error, sizeof out->error, "%s", err ? err->msg : "env");
        }
        sa__entry_unlock(s->store, e);
    } else {
        out->status = rc;
        snprintf(out->error, sizeof out->error, "%s", err ? err->msg : "encode");
    }
    sa__observe(s, &s->lat_agent, sa__now_ms() - t0);
    sa_policy_free(pol);
    return rc;
}

typedef struct stream {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *buf;
    size_t len, cap, off;
    int done;   /* the run has ended and written its last event */
    int closed; /* the client is gone */
    int refs;
    sa_server *srv;
    sa__entry *entry;
    sa__agent_req req;
    double t0;
} stream;

static void stream_unref(stream *st) {
    pthread_mutex_lock(&st->lock);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (!last) return;
    sa__agent_req_free(&st->req);
    free(st->buf);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Appends one event (takes obj). Returns -1 when the client is gone. */
static int push(stream *st, const char *event, cJSON *obj) {
    char *data = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    pthread_mutex_lock(&st->lock);
    int gone = st->closed;
    if (!gone && data) {
        size_t need = strlen(event) + strlen(data) + 32;
        if (st->len + need > st->cap) {
            size_t cap = (st->cap ? st->cap : 4096);
            while (cap < st->len + need)
                cap *= 2;
            char *nb = realloc(st->buf, cap);
            if (nb) {
                st->buf = nb;
                st->cap = cap;
            }
        }
        if (st->len + need <= st->cap)
            st->len += (size_t)snprintf(st->buf + st->len, st->cap - st->len,
                                        "event: %s\ndata: %s\n\n", event, data);
        pthread_cond_broadcast(&st->cond);
    }
    pthread_mutex_unlock(&st->lock);
    free(data);
    return gone ? -1 : 0;
}

static void add_pred(cJSON *o, const char *key, float v) {
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static cJSON *action_json(const sa_agent_step *step) {
    cJSON *a = cJSON_CreateObject();
    if (!a) return NULL;
    if (step->is_box) {
        cJSON *b = cJSON_AddArrayToObject(a, "box");
        if (b) {
            cJSON_AddItemToArray(b, cJSON_CreateNumber(step->box.x0));
            cJSON_AddItemToArray(b, cJSON_CreateNumber(step->box.y0));
            cJSON_AddItemToArray(b, cJSON_CreateNumber(step->box.x1));
            cJSON_AddItemToArray(b, cJSON_CreateNumber(step->box.y1));
        }
    } else {
        cJSON_AddNumberToObject(a, "x", step->action.click.x);
        cJSON_AddNumberToObject(a, "y", step->action.click.y);
        cJSON_AddBoolToObject(a, "positive", step->action.click.positive);
    }
    return a;
}

static int on_step(void *ctx, const sa_env *env, const sa_agent_step *step) {
    stream *st = ctx;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        const sa_mask *m = sa_env_mask(env);
        cJSON_AddNumberToObject(o, "index", step->index);
        cJSON_AddItemToObject(o, "action", action_json(step));
        add_pred(o, "pred_iou", step->pred_iou_after);
        add_pred(o, "pred_iou_before", step->pred_iou_before);
        cJSON_AddItemToObject(o, "rle", sa__mask_rle_json(m));
        cJSON_AddNumberToObject(o, "area", (double)sa_mask_area(m));
        cJSON_AddNumberToObject(o, "ms", step->total_ms);
    }
    if (push(st, "step", o)) return 1;
    pthread_mutex_lock(&st->srv->lock);
    int stopping = st->srv->stopping;
    pthread_mutex_unlock(&st->srv->lock);
    return stopping;
}

static void *agent_main(void *arg) {
    stream *st = arg;
    sa_server *s = st->srv;
    sa_agent_result res;
    sa_error err = {0};
    sa__run_agent(s, st->entry, st->req.description, st->req.steps, st->req.search, on_step, st,
                  &res, &err);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        if (res.mask.data) {
            cJSON_AddItemToObject(o, "rle", sa__mask_rle_json(&res.mask));
            cJSON_AddNumberToObject(o, "area", (double)sa_mask_area(&res.mask));
        }
        cJSON_AddStringToObject(o, "stop", res.stop);
        cJSON_AddNumberToObject(o, "best_step", res.best_step);
        add_pred(o, "pred_iou", res.best_pred_iou);
        cJSON_AddNumberToObject(o, "n_clicks", res.n_clicks);
        if (res.status != SA_OK)
            cJSON_AddStringToObject(o, "error", res.error[0] ? res.error : err.msg);
        cJSON_AddNumberToObject(o, "ms", sa__now_ms() - st->t0);
    }
    push(st, "done", o);
    sa_agent_result_free(&res);
    sa__store_release(s->store, st->entry);
    pthread_mutex_lock(&st->lock);
    st->done = 1;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    stream_unref(st);
    sa__agent_slot_give(s); /* last: sa_server_stop waits for this */
    return NULL;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        if (st->off < st->len) {
            size_t n = st->len - st->off;
            if (n > max) n = max;
            memcpy(buf, st->buf + st->off, n);
            st->off += n;
            if (st->off == st->len) st->off = st->len = 0;
            pthread_mutex_unlock(&st->lock);
            return (ssize_t)n;
        }
        if (st->done) break;
        pthread_mutex_lock(&st->srv->lock);
        int stopping = st->srv->stopping;
        pthread_mutex_unlock(&st->srv->lock);
        if (stopping) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
    }
    int done = st->done;
    pthread_mutex_unlock(&st->lock);
    return done ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void reader_free(void *cls) {
    stream *st = cls;
    pthread_mutex_lock(&st->lock);
    st->closed = 1;
    pthread_mutex_unlock(&st->lock);
    stream_unref(st);
}

enum MHD_Result sa__api_agent(sa__req *r, sa__entry *e) {
    sa_server *s = r->srv;
    if (!s->p.policy)
        return sa__reply_error(r, 503, "no policy configured (start the server with --policy URL)");
    sa_error err = {0};
    sa__agent_req ar;
    int rc = sa__parse_agent(r->body, r->len, s->p.max_agent_steps, s->p.max_search, &ar, &err);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    if (!sa__agent_slot_take(s)) {
        sa__agent_req_free(&ar);
        return sa__reply_error(r, 429, "%d agent runs in progress (the limit); try again later",
                               s->p.max_agents);
    }
    stream *st = calloc(1, sizeof *st);
    if (!st) {
        sa__agent_req_free(&ar);
        sa__agent_slot_give(s);
        return sa__reply_error(r, 503, "out of memory");
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    st->refs = 2;
    st->srv = s;
    st->req = ar;
    st->t0 = sa__now_ms();
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "id", sa__entry_id(e));
        cJSON_AddStringToObject(o, "description", ar.description);
        cJSON_AddNumberToObject(o, "steps", ar.steps);
        cJSON_AddNumberToObject(o, "search", ar.search);
    }
    push(st, "start", o);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, st, reader_free);
    if (!resp) {
        st->refs = 1;
        stream_unref(st);
        sa__agent_slot_give(s);
        return sa__reply_error(r, 503, "out of memory");
    }
    /* the run keeps its own reference to the entry */
    st->entry = sa__store_acquire(s->store, sa__entry_id(e));
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!st->entry || pthread_create(&th, &attr, agent_main, st)) {
        pthread_attr_destroy(&attr);
        sa__store_release(s->store, st->entry);
        MHD_destroy_response(resp); /* calls reader_free: one reference */
        stream_unref(st);
        sa__agent_slot_give(s);
        return sa__reply_error(r, 503, "cannot start the agent run");
    }
    pthread_attr_destroy(&attr);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return sa__reply_response(r, 200, resp);
}
