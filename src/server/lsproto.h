/* Internal: Label Studio's ML backend payloads. POST /predict carries the tasks (their data: an
 * image URL and maybe a description), the labelling config (XML) and, in interactive mode,
 * params.context.result: the keypoints and rectangles the annotator just placed, in percent of the
 * image, with is_positive on keypoints. This parses one payload into a plain struct; nothing here
 * touches the network or the disk. */
#ifndef SEGAGENT_SERVER_LSPROTO_H
#define SEGAGENT_SERVER_LSPROTO_H

#include <stddef.h>

#include "segagent/error.h"

typedef struct sa__ls_point {
    double x, y; /* percent of the image width / height, in [0, 100] */
    int positive;
} sa__ls_point;

typedef struct sa__ls_task {
    long long id;
    char *image; /* the image URL from data[image key] (malloc'd) */
    char *text;  /* data[text_field] when a string (malloc'd) or NULL */
} sa__ls_task;

typedef struct sa__ls_request {
    sa__ls_task *tasks;
    int n_tasks;
    int has_context;      /* params.context.result held at least one keypoint or rectangle */
    sa__ls_point *points; /* keypoints in order */
    int n_points;
    int has_box;
    double box[4];      /* rectangle x, y, width, height in percent */
    char *label;        /* the label the annotator picked on the context regions, or NULL */
    char *from_name;    /* <BrushLabels name=...> of the config, or NULL */
    char *to_name;      /* its toName, or NULL */
    char *config_label; /* first <Label value=...> inside <BrushLabels>, or NULL */
} sa__ls_request;

/* text_field names the task field holding a description. Limits: 100 tasks, max_points keypoints.
 * SA_ERR_PARSE (not JSON), SA_ERR_INVALID (a field of the wrong type), SA_ERR_RANGE (over a limit).
 */
int sa__ls_parse_predict(const char *body, size_t len, const char *text_field, int max_points,
                         sa__ls_request *out, sa_error *err);
void sa__ls_request_free(sa__ls_request *r);

/* "/data/local-files/?d=REL" -> REL percent-decoded (malloc'd), else NULL. */
char *sa__ls_local_file(const char *url);

#endif
