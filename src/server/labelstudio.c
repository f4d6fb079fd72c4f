/* Label Studio's ML backend protocol, at the server's root as Label Studio calls it:
 *   POST /setup    -> {"model_version"}            (Label Studio connects the backend)
 *   POST /predict  -> {"results": [{"result": [...], "score", "model_version"}]}, one per task
 *   POST /webhook  -> {}                            (training events: accepted and ignored)
 * Interactive mode (params.context holds the keypoints and rectangles just placed) predicts with
 * the tool on the task's image; without context, a description in the task data (--text-field) runs
 * the agent for a pre-annotation. Either answer is a brushlabels region in Label Studio's brush
 * RLE, labelled with the label the annotator picked (else the config's first BrushLabels label).
 *
 * Images: "/data/local-files/?d=REL" is read from images_root/REL; "/data/upload/..." and URLs
 * under LABEL_STUDIO_URL are fetched from Label Studio with its API key; other URLs are refused
 * (the server does not fetch arbitrary addresses for its callers). Each image is registered in the
 * store under its URL, so the tool state is computed once per task image however many clicks
 * follow. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/util.h"
#include "segagent/agent.h"
#include "segagent/env.h"
#include "server/brush.h"
#include "server/lsproto.h"
#include "server/server_internal.h"

enum MHD_Result sa__ls_setup(sa__req *r) {
    char ver[96];
    snprintf(ver, sizeof ver, "segagent-%s", sa_tool_name(r->srv->tool));
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "model_version", ver);
    return sa__reply_json(r, 200, o);
}

enum MHD_Result sa__ls_webhook(sa__req *r) {
    return sa__reply_json(r, 200, cJSON_CreateObject());
}

typedef struct fetch_buf {
    char *p;
    size_t len, max;
    int over;
} fetch_buf;

static size_t fetch_cb(char *p, size_t sz, size_t nm, void *ud) {
    fetch_buf *b = ud;
    size_t n = sz * nm;
    if (n > b->max - b->len) {
        b->over = 1;
        return 0;
    }
    char *np = realloc(b->p, b->len + n + 1);
    if (!np) return 0;
    memcpy(np + b->len, p, n);
    b->p = np;
    b->len += n;
    return n;
}

/* GET url from Label Studio with its token. */
static int fetch(sa_server *s, const char *url, fetch_buf *b, sa_error *err) {
    CURL *c = curl_easy_init();
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "cannot start a download");
    struct curl_slist *h = NULL;
    char auth[600];
    if (s->p.ls_token) {
        snprintf(auth, sizeof auth, "Authorization: Token %s", s->p.ls_token);
        h = curl_slist_append(h, auth);
    }
    b->max = s->p.max_body_bytes;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (b->over)
        return sa_error_set(err, SA_ERR_RANGE, "image at %s is larger than the body limit", url);
    if (cc != CURLE_OK)
        return sa_error_set(err, SA_ERR_NETWORK, "cannot fetch %s: %s", url,
                            curl_easy_strerror(cc));
    if (status != 200)
        return sa_error_set(err, SA_ERR_NETWORK, "fetching %s: HTTP %ld", url, status);
    return SA_OK;
}

/* The store entry of a task image, loading and registering it on first sight. */
static int task_entry(sa_server *s, const char *url, sa__entry **out, sa_error *err) {
    *out = sa__store_find_key(s->store, url);
    if (*out) return SA_OK;
    sa_image img = {0};
    int rc;
    char *local = sa__ls_local_file(url);
    if (local) {
        rc = sa__load_under_root(s, local, &img, err);
        free(local);
    } else if (!strncmp(url, "/data/", 6) || !strncmp(url, "http://", 7) ||
               !strncmp(url, "https://", 8)) {
        const char *base = s->p.ls_url;
        if (!base)
            return sa_error_set(err, SA_ERR_INVALID,
                                "image %s needs LABEL_STUDIO_URL to be fetched", url);
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        char *full = NULL;
        if (url[0] == '/') {
            full = malloc(bl + strlen(url) + 1);
            if (full) sprintf(full, "%.*s%s", (int)bl, base, url);
        } else if (!strncmp(url, base, bl) && (url[bl] == '/' || !url[bl])) {
            full = sa__strdup(url);
        } else {
            return sa_error_set(err, SA_ERR_INVALID,
                                "image URL %s is not under LABEL_STUDIO_URL (refused)", url);
        }
        if (!full) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        fetch_buf b = {0};
        rc = fetch(s, full, &b, err);
        free(full);
        if (!rc) rc = sa__decode_upload(s, (const uint8_t *)b.p, b.len, &img, err);
        free(b.p);
    } else {
        rc = sa__load_under_root(s, url, &img, err); /* a plain relative path */
    }
    if (rc) return rc;
    char id[SA__ID_LEN];
    if ((rc = sa__store_add(s->store, &img, url, id, err))) {
        sa_image_free(&img);
        return rc;
    }
    *out = sa__store_acquire(s->store, id);
    return *out ? SA_OK : sa_error_set(err, SA_ERR_STATE, "image evicted right after registration");
}

static int clampi(double v, int hi) {
    int i = (int)floor(v);
    return i < 0 ? 0 : i > hi ? hi : i;
}

/* Interactive prediction from the context regions. */
static int predict_context(sa_server *s, sa__entry *e, const sa__ls_request *lr, sa_mask *out,
                           float *score, sa_error *err) {
    const sa_image *img = sa__entry_image(e);
    sa_click *clicks = lr->n_points ? calloc((size_t)lr->n_points, sizeof *clicks) : NULL;
    if (lr->n_points && !clicks) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < lr->n_points; i++) {
        clicks[i].x = clampi(lr->points[i].x * img->width / 100.0, img->width - 1);
        clicks[i].y = clampi(lr->points[i].y * img->height / 100.0, img->height - 1);
        clicks[i].positive = lr->points[i].positive;
    }
    sa_box box = {0};
    if (lr->has_box) {
        box.x0 = (float)(lr->box[0] * img->width / 100.0);
        box.y0 = (float)(lr->box[1] * img->height / 100.0);
        box.x1 = (float)fmin((lr->box[0] + lr->box[2]) * img->width / 100.0, img->width);
        box.y1 = (float)fmin((lr->box[1] + lr->box[3]) * img->height / 100.0, img->height);
    }
    int rc = SA_OK;
    if (lr->has_box && !sa_tool_accepts_box(s->tool))
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "tool '%s' does not accept rectangles; use keypoints",
                          sa_tool_name(s->tool));
    sa_env *env = NULL;
    sa_tool_result res = {0};
    if (!rc && !(rc = sa__entry_lock_env(s->store, e, &env, NULL, err))) {
        double t0 = sa__now_ms();
        rc = sa_env_predict_request(env, clicks, lr->n_points, lr->has_box ? &box : NULL, NULL,
                                    &res, err);
        sa__entry_unlock(s->store, e);
        if (!rc) sa__observe(s, &s->lat_predict, sa__now_ms() - t0);
    }
    free(clicks);
    if (rc) return rc;
    *out = res.mask;
    memset(&res.mask, 0, sizeof res.mask);
    *score = res.score;
    sa_tool_result_free(&res);
    return SA_OK;
}

static cJSON *brush_result(const sa_mask *m, const char *label, const char *from, const char *to) {
    uint8_t *rle = NULL;
    size_t n = 0;
    if (sa__brush_encode(m, &rle, &n, NULL)) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *v = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!o || !v || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(v);
        cJSON_Delete(arr);
        free(rle);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(rle[i]));
    free(rle);
    char id[16];
    static const char hex[] = "0123456789abcdef";
    uint64_t x = (uint64_t)(sa__now_ms() * 1000.0) ^ (uint64_t)(uintptr_t)m;
    for (int i = 0; i < 10; i++)
        id[i] = hex[(sa__rng_next(&x) >> 60) & 15];
    id[10] = 0;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "from_name", from);
    cJSON_AddStringToObject(o, "to_name", to);
    cJSON_AddStringToObject(o, "type", "brushlabels");
    cJSON_AddNumberToObject(o, "original_width", m->width);
    cJSON_AddNumberToObject(o, "original_height", m->height);
    cJSON_AddNumberToObject(o, "image_rotation", 0);
    cJSON_AddStringToObject(v, "format", "rle");
    cJSON_AddItemToObject(v, "rle", arr);
    cJSON *labels = cJSON_AddArrayToObject(v, "brushlabels");
    if (labels) cJSON_AddItemToArray(labels, cJSON_CreateString(label));
    cJSON_AddItemToObject(o, "value", v);
    return o;
}

enum MHD_Result sa__ls_predict(sa__req *r) {
    sa_server *s = r->srv;
    sa_error err = {0};
    sa__ls_request lr;
    int rc = sa__ls_parse_predict(r->body, r->len, s->p.text_field, s->p.max_clicks, &lr, &err);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    const char *from = lr.from_name ? lr.from_name : "tag";
    const char *to = lr.to_name ? lr.to_name : "image";
    const char *label = lr.label ? lr.label : lr.config_label ? lr.config_label : "object";
    char ver[96];
    snprintf(ver, sizeof ver, "segagent-%s", sa_tool_name(s->tool));
    cJSON *o = cJSON_CreateObject();
    cJSON *results = o ? cJSON_AddArrayToObject(o, "results") : NULL;
    int status = 200;
    for (int t = 0; t < lr.n_tasks && results; t++) {
        const sa__ls_task *task = &lr.tasks[t];
        int interactive = t == 0 && lr.has_context;
        if (!interactive && (!task->text || !s->p.policy)) {
            cJSON *empty = cJSON_CreateObject(); /* nothing to predict for this task */
            if (empty) {
                cJSON_AddArrayToObject(empty, "result");
                cJSON_AddStringToObject(empty, "model_version", ver);
            }
            cJSON_AddItemToArray(results, empty);
            continue;
        }
        sa__entry *e = NULL;
        if ((rc = task_entry(s, task->image, &e, &err))) {
            status = rc == SA_ERR_NOT_FOUND ? 404 : sa__http_status(rc);
            break;
        }
        sa_mask m = {0};
        float score = NAN;
        if (interactive) {
            rc = predict_context(s, e, &lr, &m, &score, &err);
        } else if (!sa__agent_slot_take(s)) {
            rc = sa_error_set(&err, SA_ERR_STATE, "%d agent runs in progress (the limit)",
                              s->p.max_agents);
            status = 429;
        } else {
            sa_agent_result ar;
            rc =
                sa__run_agent(s, e, task->text, 7 < s->p.max_agent_steps ? 7 : s->p.max_agent_steps,
                              1, NULL, NULL, &ar, &err);
            sa__agent_slot_give(s);
            if (ar.mask.data) { /* a policy error still leaves the best mask so far */
                m = ar.mask;
                memset(&ar.mask, 0, sizeof ar.mask);
                score = ar.best_pred_iou;
                rc = SA_OK;
            }
            sa_agent_result_free(&ar);
        }
        sa__store_release(s->store, e);
        if (rc) {
            if (status == 200) status = sa__http_status(rc);
            break;
        }
        cJSON *pred = cJSON_CreateObject();
        cJSON *list = pred ? cJSON_AddArrayToObject(pred, "result") : NULL;
        cJSON *item = brush_result(&m, label, from, to);
        sa_mask_free(&m);
        if (!list || !item) {
            cJSON_Delete(pred);
            cJSON_Delete(item);
            status = 503;
            snprintf(err.msg, sizeof err.msg, "out of memory");
            break;
        }
        cJSON_AddItemToArray(list, item);
        if (isnan(score))
            cJSON_AddNullToObject(pred, "score");
        else
            cJSON_AddNumberToObject(pred, "score", score);
        cJSON_AddStringToObject(pred, "model_version", ver);
        cJSON_AddItemToArray(results, pred);
    }
    sa__ls_request_free(&lr);
    if (status != 200) {
        cJSON_Delete(o);
        return sa__reply_error(r, status, "%s", err.msg);
    }
    return sa__reply_json(r, 200, o);
}
