/* CVAT's interactor protocol at POST /cvat/interactor, answered as CVAT's serverless interactors
 * answer:
 * {"image": base64, "pos_points": [[x, y]], "neg_points": [[x, y]], "obj_bbox": [[x0, y0], [x1,
 * y1]]} in,
 * {"mask": rows of 0/255, "points": the largest component's outer contour as [[x, y], ...]} out.
 * CVAT sends the whole image with every click, so the image is registered under a hash of its
 * bytes: the tool state is computed once per image, not once per click. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/env.h"
#include "server/contour.h"
#include "server/request.h"
#include "server/server_internal.h"

/* FNV-1a 64 of the image bytes, as the store key. */
static void image_key(const uint8_t *b, size_t n, char key[40]) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    snprintf(key, 40, "cvat:%016llx:%zu", (unsigned long long)h, n);
}

static enum MHD_Result answer(sa__req *r, const sa_mask *m) {
    int *xy = NULL, n = 0;
    sa_error err = {0};
    if (sa__largest_contour(m, &xy, &n, &err)) return sa__reply_error(r, 503, "%s", err.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON *rows = o ? cJSON_AddArrayToObject(o, "mask") : NULL;
    cJSON *pts = o ? cJSON_AddArrayToObject(o, "points") : NULL;
    int ok = rows && pts;
    for (int y = 0; ok && y < m->height; y++) {
        cJSON *row = cJSON_CreateArray();
        ok = row != NULL;
        for (int x = 0; ok && x < m->width; x++)
            ok = cJSON_AddItemToArray(
                row,
                cJSON_CreateNumber(m->data[(size_t)y * (size_t)m->width + (size_t)x] ? 255 : 0));
        if (row) cJSON_AddItemToArray(rows, row);
    }
    for (int i = 0; ok && i < n; i++) {
        cJSON *p = cJSON_CreateArray();
        ok = p && cJSON_AddItemToArray(p, cJSON_CreateNumber(xy[2 * i])) &&
             cJSON_AddItemToArray(p, cJSON_CreateNumber(xy[2 * i + 1]));
        if (p) cJSON_AddItemToArray(pts, p);
    }
    free(xy);
    if (!ok) {
        cJSON_Delete(o);
        return sa__reply_error(r, 503, "out of memory");
    }
    return sa__reply_json(r, 200, o);
}

enum MHD_Result sa__cvat_interactor(sa__req *r) {
    sa_server *s = r->srv;
    sa_error err = {0};
    sa__cvat_req cr;
    int rc = sa__parse_cvat(r->body, r->len, s->p.max_body_bytes, s->p.max_clicks, &cr, &err);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    char key[40];
    image_key(cr.image, cr.n, key);
    sa__entry *e = sa__store_find_key(s->store, key);
    if (!e) {
        sa_image img = {0};
        char id[SA__ID_LEN];
        rc = sa__decode_upload(s, cr.image, cr.n, &img, &err);
        if (!rc && (rc = sa__store_add(s->store, &img, key, id, &err))) sa_image_free(&img);
        if (!rc && !(e = sa__store_acquire(s->store, id)))
            rc = sa_error_set(&err, SA_ERR_STATE, "image evicted");
        if (rc) {
            sa__cvat_req_free(&cr);
            return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
        }
    }
    const sa_image *img = sa__entry_image(e);
    for (int i = 0; i < cr.n_clicks && !rc; i++)
        if (cr.clicks[i].x < 0 || cr.clicks[i].y < 0 || cr.clicks[i].x >= img->width ||
            cr.clicks[i].y >= img->height)
            rc = sa_error_set(&err, SA_ERR_INVALID, "point (%d, %d) is outside the %dx%d image",
                              cr.clicks[i].x, cr.clicks[i].y, img->width, img->height);
    if (!rc && cr.has_box && !sa_tool_accepts_box(s->tool)) {
        if (cr.n_clicks == 0)
            rc = sa_error_set(&err, SA_ERR_UNSUPPORTED, "tool '%s' does not accept boxes",
                              sa_tool_name(s->tool));
        cr.has_box = 0; /* CVAT may send a box with the points; the graph cut uses the points */
    }
    if (!rc && cr.has_box &&
        (cr.box.x0 < 0 || cr.box.y0 < 0 || cr.box.x1 > img->width || cr.box.y1 > img->height))
        rc = sa_error_set(&err, SA_ERR_INVALID, "obj_bbox is outside the %dx%d image", img->width,
                          img->height);
    sa_env *env = NULL;
    sa_tool_result res = {0};
    if (!rc && !(rc = sa__entry_lock_env(s->store, e, &env, NULL, &err))) {
        rc = sa_env_predict_request(env, cr.clicks, cr.n_clicks, cr.has_box ? &cr.box : NULL, NULL,
                                    &res, &err);
        sa__entry_unlock(s->store, e);
    }
    sa__store_release(s->store, e);
    sa__cvat_req_free(&cr);
    if (rc) return sa__reply_error(r, sa__http_status(rc), "%s", err.msg);
    enum MHD_Result out = answer(r, &res.mask);
    sa_tool_result_free(&res);
    return out;
}
