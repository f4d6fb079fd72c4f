/* Internal: the native JSON API's request bodies, parsed into plain structs before anything is done
 * with them. Every field is type- and range-checked here; the handlers only check what needs the
 * image (clicks inside it, the previous mask's size). Errors: SA_ERR_PARSE (not JSON),
 * SA_ERR_INVALID (a field of the wrong type or value; the message names the field), SA_ERR_RANGE
 * (over a limit: the handler answers 413). */
#ifndef SEGAGENT_SERVER_REQUEST_H
#define SEGAGENT_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "segagent/action.h"
#include "segagent/error.h"

/* POST /api/images/{id}/predict */
typedef struct sa__predict_req {
    sa_click *clicks; /* malloc'd, n_clicks of them; (y, x) in pixels */
    int n_clicks;
    int has_box;
    sa_box box;
    char *mask_counts; /* previous mask as a COCO RLE string (malloc'd) or NULL */
    int mask_h, mask_w;
    int want_png; /* "format": "png" */
} sa__predict_req;

int sa__parse_predict(const char *body, size_t len, int max_clicks, sa__predict_req *out,
                      sa_error *err);
void sa__predict_req_free(sa__predict_req *r);

/* POST /api/images/{id}/agent */
typedef struct sa__agent_req {
    char *description; /* malloc'd, non-empty */
    int steps;         /* 1..max_steps, default 7 */
    int search;        /* 1..max_search, default 1 */
} sa__agent_req;

int sa__parse_agent(const char *body, size_t len, int max_steps, int max_search, sa__agent_req *out,
                    sa_error *err);
void sa__agent_req_free(sa__agent_req *r);

/* POST /api/images with a JSON body: {"image": base64 or data URL} or {"path":
 * "relative/to/images-root"} */
typedef struct sa__register_req {
    uint8_t *bytes; /* decoded image file (malloc'd) or NULL */
    size_t n;
    char *path; /* malloc'd or NULL; exactly one of bytes and path is set */
} sa__register_req;

int sa__parse_register(const char *body, size_t len, size_t max_bytes, sa__register_req *out,
                       sa_error *err);
void sa__register_req_free(sa__register_req *r);

/* POST /cvat/interactor, as CVAT's serverless interactors receive it: {"image": base64,
 * "pos_points": [[x, y]], "neg_points": [[x, y]], "obj_bbox": [[x0, y0], [x1, y1]] (optional)}.
 * Clicks are the positive points then the negative ones. */
typedef struct sa__cvat_req {
    uint8_t *image; /* decoded image file (malloc'd) */
    size_t n;
    sa_click *clicks; /* malloc'd */
    int n_clicks;
    int has_box;
    sa_box box;
} sa__cvat_req;

int sa__parse_cvat(const char *body, size_t len, size_t max_bytes, int max_clicks,
                   sa__cvat_req *out, sa_error *err);
void sa__cvat_req_free(sa__cvat_req *r);

/* Standard base64 (padding optional, whitespace skipped) into *out (malloc'd). SA_ERR_FORMAT on a
 * bad character, SA_ERR_RANGE when the result would exceed max_bytes. */
int sa__base64_decode(const char *s, size_t n, size_t max_bytes, uint8_t **out, size_t *out_n,
                      sa_error *err);

#endif
