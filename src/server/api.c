/* The native JSON API: register an image, ask about or forget it, predict a mask from clicks and a
 * box (COCO RLE or PNG), plus /health and /metrics. Predictions go through the episode engine
 * (sa_env_predict_request) on the image's cached env, one request at a time per image. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "segagent/env.h"
#include "segagent/rle.h"
#include "server/request.h"
#include "server/server_internal.h"

static int is_json(sa__req *r) {
    const char *ct = sa__header(r, "Content-Type");
    return ct && strstr(ct, "json") != NULL;
}

enum MHD_Result sa__api_register(sa__req *r) {
    sa_server *s = r->srv;
    sa_error err = {0};
    sa_image img = {0};
    int rc;
    if (is_json(r)) {
        sa__register_req rr;
        rc = sa__parse_register(r->body, r->len, s->p.max_body_bytes, &rr, &err);
        if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
        if (rr.path)
            rc = sa__load_under_root(s, rr.path, &img, &err);
        else
            rc = sa__decode_upload(s, rr.bytes, rr.n, &img, &err);
        sa__register_req_free(&rr);
    } else {
        rc = sa__decode_upload(s, (const uint8_t *)r->body, r->len, &img, &err);
    }
    if (rc)
        return sa__reply_error(r, rc == SA_ERR_NOT_FOUND ? 404 : sa__http_status(rc), "%s",
                               err.msg);
    int w = img.width, h = img.height;
    char id[SA__ID_LEN];
    rc = sa__store_add(s->store, &img, NULL, id, &err);
    if (rc) {
        sa_image_free(&img);
        return sa__reply_error(r, 503, "%s", err.msg);
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddNumberToObject(o, "width", w);
        cJSON_AddNumberToObject(o, "height", h);
        cJSON_AddStringToObject(o, "tool", sa_tool_name(s->tool));
        cJSON_AddBoolToObject(o, "background_encode", s->p.background_encode != 0);
    }
    return sa__reply_json(r, 201, o);
}

/* Previous mask from the request: a COCO RLE of the image's size. */
static int prev_mask(const sa__predict_req *pr, const sa_image *img, sa_mask *m, sa_error *err) {
    if (pr->mask_h != img->height || pr->mask_w != img->width)
        return sa_error_set(err, SA_ERR_INVALID, "mask.size [%d, %d] is not the image's [%d, %d]",
                            pr->mask_h, pr->mask_w, img->height, img->width);
    sa_rle rle = {0};
    int rc = sa_rle_from_string(pr->mask_counts, strlen(pr->mask_counts), img->height, img->width,
                                &rle, err);
    if (!rc) rc = sa_rle_decode(&rle, m, err);
    sa_rle_free(&rle);
    if (rc) {
        sa_error_prefix(err, "mask.counts: ");
        if (err) err->code = SA_ERR_INVALID;
        return SA_ERR_INVALID;
    }
    return SA_OK;
}

static enum MHD_Result predict(sa__req *r, sa__entry *e) {
    sa_server *s = r->srv;
    sa_error err = {0};
    sa__predict_req pr;
    int rc = sa__parse_predict(r->body, r->len, s->p.max_clicks, &pr, &err);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    const sa_image *img = sa__entry_image(e);
    for (int i = 0; i < pr.n_clicks; i++)
        if (pr.clicks[i].x < 0 || pr.clicks[i].y < 0 || pr.clicks[i].x >= img->width ||
            pr.clicks[i].y >= img->height) {
            enum MHD_Result m =
                sa__reply_error(r, 400, "click %d at (x=%d, y=%d) is outside the %dx%d image", i,
                                pr.clicks[i].x, pr.clicks[i].y, img->width, img->height);
            sa__predict_req_free(&pr);
            return m;
        }
    if (pr.has_box &&
        (pr.box.x0 < 0 || pr.box.y0 < 0 || pr.box.x1 > img->width || pr.box.y1 > img->height)) {
        sa__predict_req_free(&pr);
        return sa__reply_error(r, 400, "box is outside the %dx%d image", img->width, img->height);
    }
    if (pr.has_box && !sa_tool_accepts_box(s->tool)) {
        sa__predict_req_free(&pr);
        return sa__reply_error(r, 400, "tool '%s' does not accept boxes", sa_tool_name(s->tool));
    }
    sa_mask prev = {0};
    if (pr.mask_counts && (rc = prev_mask(&pr, img, &prev, &err))) {
        sa__predict_req_free(&pr);
        return sa__reply_error(r, 400, "%s", err.msg);
    }
    double t0 = sa__now_ms();
    sa_env *env = NULL;
    int cached = 0;
    sa_tool_result res = {0};
    rc = sa__entry_lock_env(s->store, e, &env, &cached, &err);
    double t1 = sa__now_ms();
    if (!rc) {
        rc = sa_env_predict_request(env, pr.clicks, pr.n_clicks, pr.has_box ? &pr.box : NULL,
                                    prev.data ? &prev : NULL, &res, &err);
        sa__entry_unlock(s->store, e);
    }
    double t2 = sa__now_ms();
    int want_png = pr.want_png;
    sa__predict_req_free(&pr);
    sa_mask_free(&prev);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    sa__observe(s, &s->lat_predict, t2 - t0);
    sa__observe(s, cached ? &s->lat_predict_cached : &s->lat_predict_uncached, t2 - t0);
    size_t area = sa_mask_area(&res.mask);
    enum MHD_Result out;
    if (want_png) {
        sa_image g = {0};
        uint8_t *png = NULL;
        size_t n = 0;
        rc = sa_image_new(&g, res.mask.width, res.mask.height, 1, &err);
        if (!rc) {
            size_t px = (size_t)g.width * (size_t)g.height;
            for (size_t i = 0; i < px; i++)
                g.data[i] = res.mask.data[i] ? 255 : 0;
            rc = sa_image_encode_png(&g, &png, &n, &err);
        }
        sa_image_free(&g);
        if (rc) {
            out = sa__reply_error(r, 500, "%s", err.msg);
        } else {
            char score[32], ar[32], ms[32];
            if (isnan(res.score))
                snprintf(score, sizeof score, "null");
            else
                snprintf(score, sizeof score, "%.6g", (double)res.score);
            snprintf(ar, sizeof ar, "%zu", area);
            snprintf(ms, sizeof ms, "%.2f", t2 - t1);
            const char *hdr[][2] = {{"X-Score", score},
                                    {"X-Area", ar},
                                    {"X-Cached", cached ? "1" : "0"},
                                    {"X-Tool-Ms", ms},
                                    {NULL, NULL}};
            out = sa__reply(r, 200, "image/png", png, n, hdr);
        }
    } else {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddItemToObject(o, "rle", sa__mask_rle_json(&res.mask));
            if (isnan(res.score))
                cJSON_AddNullToObject(o, "score");
            else
                cJSON_AddNumberToObject(o, "score", res.score);
            cJSON_AddNumberToObject(o, "area", (double)area);
            cJSON_AddBoolToObject(o, "cached", cached);
            cJSON_AddNumberToObject(o, "encode_ms", t1 - t0);
            cJSON_AddNumberToObject(o, "tool_ms", t2 - t1);
        }
        out = sa__reply_json(r, 200, o);
    }
    sa_tool_result_free(&res);
    return out;
}

enum MHD_Result sa__api_image(sa__req *r, const char *id, const char *rest) {
    sa_server *s = r->srv;
    if (!strcmp(r->method, "DELETE") && !rest[0]) {
        if (sa__store_remove(s->store, id))
            return sa__reply_error(r, 404, "unknown image id %s", id);
        cJSON *o = cJSON_CreateObject();
        if (o) cJSON_AddStringToObject(o, "deleted", id);
        return sa__reply_json(r, 200, o);
    }
    sa__entry *e = sa__store_acquire(s->store, id);
    if (!e)
        return sa__reply_error(r, 404, "unknown image id %s (never registered, deleted or evicted)",
                               id);
    enum MHD_Result out;
    if (!strcmp(r->method, "GET") && !rest[0]) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddNumberToObject(o, "width", sa__entry_image(e)->width);
            cJSON_AddNumberToObject(o, "height", sa__entry_image(e)->height);
            cJSON_AddBoolToObject(o, "encoded", sa__entry_encoded(s->store, e));
        }
        out = sa__reply_json(r, 200, o);
    } else if (!strcmp(rest, "/predict")) {
        out = strcmp(r->method, "POST") ? sa__reply_error(r, 405, "use POST") : predict(r, e);
    } else if (!strcmp(rest, "/agent")) {
        out = strcmp(r->method, "POST") ? sa__reply_error(r, 405, "use POST") : sa__api_agent(r, e);
    } else {
        out = sa__reply_error(r, 404, "no such endpoint: %s %s", r->method, r->path);
    }
    sa__store_release(s->store, e);
    return out;
}

enum MHD_Result sa__api_health(sa__req *r) {
    sa_server *s = r->srv;
    sa__store_stats st;
    sa__store_get_stats(s->store, &st);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", "UP"); /* what Label Studio checks */
        cJSON_AddStringToObject(o, "model_class", "segagent");
        cJSON_AddStringToObject(o, "tool", sa_tool_name(s->tool));
        cJSON_AddBoolToObject(o, "agent", s->p.policy != NULL);
        cJSON_AddNumberToObject(o, "images", (double)st.images);
        cJSON_AddNumberToObject(o, "encoded", (double)st.encoded);
    }
    return sa__reply_json(r, 200, o);
}

/* Appends printf output to a growing buffer; *ok cleared on failure. */
typedef struct textbuf {
    char *p;
    size_t len, cap;
    int ok;
} textbuf;

static void tb_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *b, const char *fmt, ...) {
    if (!b->ok) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->ok = 0;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->ok = 0;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void tb_histogram(textbuf *b, const char *name, const char *help, const sa__latency *l) {
    tb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long cum = 0;
    for (int i = 0; i < SA__LAT_BUCKETS; i++) {
        cum += l->buckets[i];
        if (i == SA__LAT_BUCKETS - 1)
            tb_printf(b, "%s_bucket{le=\"+Inf\"} %ld\n", name, cum);
        else
            tb_printf(b, "%s_bucket{le=\"%g\"} %ld\n", name, sa__lat_bounds[i] / 1000.0, cum);
    }
    tb_printf(b, "%s_sum %.6f\n%s_count %ld\n", name, l->sum_ms / 1000.0, name, l->count);
}

enum MHD_Result sa__api_metrics(sa__req *r) {
    sa_server *s = r->srv;
    sa__store_stats st;
    sa__store_get_stats(s->store, &st);
    pthread_mutex_lock(&s->lock);
    long status[6], requests = s->requests, agents = s->agents_active,
                    agents_total = s->agents_total;
    memcpy(status, s->status_counts, sizeof status);
    sa__latency lp = s->lat_predict, lc = s->lat_predict_cached, lu = s->lat_predict_uncached,
                la = s->lat_agent;
    pthread_mutex_unlock(&s->lock);
    textbuf b = {malloc(8192), 0, 8192, 1};
    if (!b.p) return sa__reply_error(r, 503, "out of memory");
    tb_printf(&b, "# HELP segagent_requests_total Finished HTTP requests by status class.\n"
                  "# TYPE segagent_requests_total counter\n");
    for (int i = 1; i < 6; i++)
        tb_printf(&b, "segagent_requests_total{code=\"%dxx\"} %ld\n", i, status[i]);
    tb_printf(&b,
              "# HELP segagent_requests_finished Finished HTTP requests.\n# TYPE "
              "segagent_requests_finished counter\n"
              "segagent_requests_finished %ld\n",
              requests);
    tb_histogram(&b, "segagent_predict_seconds",
                 "Predict latency (state lookup or encode, and the tool).", &lp);
    tb_histogram(&b, "segagent_predict_cached_seconds",
                 "Predict latency when the tool state was cached.", &lc);
    tb_histogram(&b, "segagent_predict_uncached_seconds",
                 "Predict latency when the image had to be encoded.", &lu);
    tb_histogram(&b, "segagent_agent_seconds", "Agent run duration.", &la);
    tb_printf(&b,
              "# TYPE segagent_images gauge\nsegagent_images %ld\n"
              "# TYPE segagent_images_encoded gauge\nsegagent_images_encoded %ld\n"
              "# TYPE segagent_cache_bytes gauge\nsegagent_cache_bytes %zu\n"
              "# TYPE segagent_cache_budget_bytes gauge\nsegagent_cache_budget_bytes %zu\n"
              "# TYPE segagent_cache_hits_total counter\nsegagent_cache_hits_total %ld\n"
              "# TYPE segagent_cache_misses_total counter\nsegagent_cache_misses_total %ld\n"
              "# TYPE segagent_cache_evictions_total "
              "counter\nsegagent_cache_evictions_total{what=\"state\"} %ld\n"
              "segagent_cache_evictions_total{what=\"image\"} %ld\n"
              "# TYPE segagent_encodes_total counter\nsegagent_encodes_total %ld\n"
              "# TYPE segagent_encode_seconds_total counter\nsegagent_encode_seconds_total %.6f\n"
              "# TYPE segagent_agents_active gauge\nsegagent_agents_active %ld\n"
              "# TYPE segagent_agent_runs_total counter\nsegagent_agent_runs_total %ld\n",
              st.images, st.encoded, st.bytes, st.budget, st.hits, st.misses, st.evicted_states,
              st.evicted_images, st.encodes, st.encode_ms / 1000.0, agents, agents_total);
    if (!b.ok) {
        free(b.p);
        return sa__reply_error(r, 503, "out of memory");
    }
    return sa__reply(r, 200, "text/plain; version=0.0.4", b.p, b.len, NULL);
}
