/* Parser of Label Studio's /predict payload (see lsproto.h). The labelling config is XML, but only
 * three attributes of two tags matter here (BrushLabels name/toName with its first Label value, and
 * the Image tag's value="$key"), so a small scanner finds them instead of a full XML parser: it
 * looks for the tag, bounds the scan at the tag's '>', and reads the quoted attribute value. */
#include "server/lsproto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"

#define LS_MAX_TASKS 100

/* Value of attr="..." inside the tag starting at tag (up to its '>'), malloc'd, or NULL. */
static char *xml_attr(const char *tag, const char *attr) {
    const char *end = strchr(tag, '>');
    if (!end) return NULL;
    size_t al = strlen(attr);
    for (const char *p = tag; p + al + 2 < end; p++) {
        if ((p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\r') &&
            !strncmp(p, attr, al) && p[al] == '=' && (p[al + 1] == '"' || p[al + 1] == '\'')) {
            char q = p[al + 1];
            const char *v = p + al + 2, *ve = v;
            while (ve < end && *ve != q)
                ve++;
            if (ve >= end) return NULL;
            char *s = malloc((size_t)(ve - v) + 1);
            if (!s) return NULL;
            memcpy(s, v, (size_t)(ve - v));
            s[ve - v] = 0;
            return s;
        }
    }
    return NULL;
}

/* The first <NAME followed by a space, or NULL. */
static const char *find_tag(const char *xml, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = xml; (p = strchr(p, '<')); p++)
        if (!strncmp(p + 1, name, nl) &&
            (p[1 + nl] == ' ' || p[1 + nl] == '\t' || p[1 + nl] == '\n'))
            return p + 1;
    return NULL;
}

void sa__ls_request_free(sa__ls_request *r) {
    if (!r) return;
    for (int i = 0; i < r->n_tasks; i++) {
        free(r->tasks[i].image);
        free(r->tasks[i].text);
    }
    free(r->tasks);
    free(r->points);
    free(r->label);
    free(r->from_name);
    free(r->to_name);
    free(r->config_label);
    memset(r, 0, sizeof *r);
}

static int pct(const cJSON *obj, const char *key, double *out, sa_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < -1e-6 ||
        v->valuedouble > 100.000001)
        return sa_error_set(err, SA_ERR_INVALID,
                            "context value.%s must be a percentage in [0, 100]", key);
    *out = v->valuedouble;
    return SA_OK;
}

/* One context region: a keypoint or a rectangle; other kinds are ignored. */
static int parse_region(const cJSON *reg, sa__ls_request *out, int max_points, sa_error *err) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(reg, "type");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(reg, "value");
    if (!cJSON_IsString(type) || !cJSON_IsObject(value))
        return sa_error_set(err, SA_ERR_INVALID,
                            "context result entries need a type and a value object");
    int is_kp =
        !strcmp(type->valuestring, "keypointlabels") || !strcmp(type->valuestring, "keypoint");
    int is_rect =
        !strcmp(type->valuestring, "rectanglelabels") || !strcmp(type->valuestring, "rectangle");
    if (!is_kp && !is_rect) return SA_OK;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(value, type->valuestring);
    if (!out->label && cJSON_IsArray(labels) && cJSON_IsString(cJSON_GetArrayItem(labels, 0))) {
        out->label = sa__strdup(cJSON_GetArrayItem(labels, 0)->valuestring);
        if (!out->label) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    }
    int rc;
    if (is_kp) {
        if (out->n_points >= max_points)
            return sa_error_set(err, SA_ERR_RANGE, "more than %d keypoints in the context",
                                max_points);
        sa__ls_point pt;
        if ((rc = pct(value, "x", &pt.x, err)) || (rc = pct(value, "y", &pt.y, err))) return rc;
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(reg, "is_positive");
        pt.positive = pos ? cJSON_IsTrue(pos) || (cJSON_IsNumber(pos) && pos->valuedouble != 0) : 1;
        out->points[out->n_points++] = pt;
    } else {
        double b[4];
        if ((rc = pct(value, "x", &b[0], err)) || (rc = pct(value, "y", &b[1], err)) ||
            (rc = pct(value, "width", &b[2], err)) || (rc = pct(value, "height", &b[3], err)))
            return rc;
        out->has_box = 1; /* the latest rectangle wins */
        memcpy(out->box, b, sizeof b);
    }
    out->has_context = 1;
    return SA_OK;
}

static int parse_config(const char *xml, char **image_key, sa__ls_request *out, sa_error *err) {
    const char *brush = find_tag(xml, "BrushLabels");
    if (brush) {
        out->from_name = xml_attr(brush, "name");
        out->to_name = xml_attr(brush, "toName");
        const char *close = strstr(brush, "</BrushLabels");
        const char *lab = find_tag(brush, "Label");
        if (lab && (!close || lab < close)) out->config_label = xml_attr(lab, "value");
    }
    const char *img = find_tag(xml, "Image");
    if (img) {
        char *v = xml_attr(img, "value");
        if (v && v[0] == '$' && v[1]) {
            *image_key = sa__strdup(v + 1);
            if (!*image_key) {
                free(v);
                return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
            }
        }
        free(v);
    }
    return SA_OK;
}

int sa__ls_parse_predict(const char *body, size_t len, const char *text_field, int max_points,
                         sa__ls_request *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (!body || !len)
        return sa_error_set(err, SA_ERR_PARSE, "empty body (expected Label Studio's JSON)");
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) return sa_error_set(err, SA_ERR_PARSE, "body is not valid JSON");
    int rc = SA_OK;
    char *image_key = NULL;
    if (!cJSON_IsObject(j)) {
        rc = sa_error_set(err, SA_ERR_PARSE, "body must be a JSON object");
        goto done;
    }
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "label_config");
    if (cJSON_IsString(cfg) && (rc = parse_config(cfg->valuestring, &image_key, out, err)))
        goto done;
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(j, "tasks");
    if (!cJSON_IsArray(tasks)) {
        rc = sa_error_set(err, SA_ERR_INVALID, "tasks must be an array");
        goto done;
    }
    int nt = cJSON_GetArraySize(tasks);
    if (nt > LS_MAX_TASKS) {
        rc = sa_error_set(err, SA_ERR_RANGE, "%d tasks in one request (the limit is %d)", nt,
                          LS_MAX_TASKS);
        goto done;
    }
    if (nt > 0 && !(out->tasks = calloc((size_t)nt, sizeof *out->tasks))) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks) {
        sa__ls_task *task = &out->tasks[out->n_tasks];
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data");
        if (!cJSON_IsObject(t) || !cJSON_IsObject(data)) {
            rc = sa_error_set(err, SA_ERR_INVALID, "tasks[%d] needs a data object", out->n_tasks);
            goto done;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        task->id =
            cJSON_IsNumber(id) && fabs(id->valuedouble) < 9e15 ? (long long)id->valuedouble : 0;
        const cJSON *img = image_key ? cJSON_GetObjectItemCaseSensitive(data, image_key) : NULL;
        if (!img) img = cJSON_GetObjectItemCaseSensitive(data, "image");
        if (!cJSON_IsString(img)) { /* the first string that looks like an image URL */
            const cJSON *f;
            img = NULL;
            cJSON_ArrayForEach(f, data) {
                if (cJSON_IsString(f) &&
                    (strstr(f->valuestring, "/data/") || !strncmp(f->valuestring, "http", 4))) {
                    img = f;
                    break;
                }
            }
        }
        if (!img) {
            rc = sa_error_set(err, SA_ERR_INVALID, "tasks[%d].data has no image URL", out->n_tasks);
            goto done;
        }
        const cJSON *txt = text_field ? cJSON_GetObjectItemCaseSensitive(data, text_field) : NULL;
        task->image = sa__strdup(img->valuestring);
        task->text =
            cJSON_IsString(txt) && txt->valuestring[0] ? sa__strdup(txt->valuestring) : NULL;
        out->n_tasks++;
        if (!task->image || (cJSON_IsString(txt) && txt->valuestring[0] && !task->text)) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    const cJSON *ctx =
        cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "context") : NULL;
    const cJSON *res = cJSON_IsObject(ctx) ? cJSON_GetObjectItemCaseSensitive(ctx, "result") : NULL;
    if (res && !cJSON_IsNull(res)) {
        if (!cJSON_IsArray(res)) {
            rc = sa_error_set(err, SA_ERR_INVALID, "params.context.result must be an array");
            goto done;
        }
        if (max_points > 0 && !(out->points = calloc((size_t)max_points, sizeof *out->points))) {
            rc = sa_error_set(err, SA_ERR_NOMEM, "out of memory");
            goto done;
        }
        const cJSON *reg;
        cJSON_ArrayForEach(reg, res) {
            if ((rc = parse_region(reg, out, max_points, err))) goto done;
        }
    }
done:
    free(image_key);
    cJSON_Delete(j);
    if (rc) sa__ls_request_free(out);
    return rc;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *sa__ls_local_file(const char *url) {
    const char *p = strstr(url, "/data/local-files/?");
    if (!p) return NULL;
    p += strlen("/data/local-files/?");
    const char *d = NULL;
    for (const char *q = p; q && *q;) { /* find the d= parameter */
        if (q[0] == 'd' && q[1] == '=') {
            d = q + 2;
            break;
        }
        q = strchr(q, '&');
        if (q) q++;
    }
    if (!d) return NULL;
    size_t n = strcspn(d, "&#");
    char *s = malloc(n + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int h1, h2;
        if (d[i] == '%' && i + 2 < n && (h1 = hexval(d[i + 1])) >= 0 &&
            (h2 = hexval(d[i + 2])) >= 0) {
            s[k++] = (char)(h1 * 16 + h2);
            i += 2;
        } else {
            s[k++] = d[i] == '+' ? ' ' : d[i];
        }
    }
    s[k] = 0;
    if (strlen(s) != k) { /* an encoded NUL */
        free(s);
        return NULL;
    }
    return s;
}
