/* Internal to the server layer: the server object, one request in flight, and the reply helpers the
 * handlers (api.c, agent_stream.c, labelstudio.c, static_files.c) share with the HTTP plumbing
 * (server.c). */
#ifndef SEGAGENT_SERVER_INTERNAL_H
#define SEGAGENT_SERVER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "segagent/mask.h"
#include "segagent/server.h"
#include "server/store.h"

#define SA__LAT_BUCKETS 12

/* Latency histogram of one kind of request, in Prometheus' cumulative form when printed. */
typedef struct sa__latency {
    long count;
    double sum_ms;
    long buckets[SA__LAT_BUCKETS]; /* counts <= sa__lat_bounds[i] ms; the last one is +Inf */
} sa__latency;

extern const double sa__lat_bounds[SA__LAT_BUCKETS];

struct sa_server {
    sa_server_params p;
    sa_tool *tool;
    sa__store *store;
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    int stopping;
    int agents_active;
    long agents_total;
    long status_counts[6]; /* 1xx..5xx by first digit, index 0 unused */
    long requests;
    sa__latency lat_predict, lat_predict_cached, lat_predict_uncached, lat_agent;
};

/* One request: the body collected so far and what was answered. */
typedef struct sa__req {
    sa_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char *body;
    size_t len, cap;
    int too_large;
    double t0;
    int status;
} sa__req;

/* Replies. Each queues the response on the connection and records the status; MHD_YES on success.
 */
enum MHD_Result sa__reply(sa__req *r, int status, const char *content_type, void *data, size_t len,
                          const char *extra_headers[][2]);
enum MHD_Result sa__reply_json(sa__req *r, int status, cJSON *obj); /* takes obj */
enum MHD_Result sa__reply_error(sa__req *r, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
enum MHD_Result sa__reply_response(sa__req *r, int status, struct MHD_Response *resp);

/* HTTP status for a library error code met while serving a request. */
int sa__http_status(int code);

/* Request header (case-insensitive), or NULL. */
const char *sa__header(sa__req *r, const char *name);

/* Adds one observation to a histogram (takes the server lock). */
void sa__observe(sa_server *s, sa__latency *l, double ms);

/* ---- handlers (each answers the request) ---- */
enum MHD_Result sa__api_register(sa__req *r);
enum MHD_Result sa__api_image(sa__req *r, const char *id, const char *rest);
enum MHD_Result sa__api_health(sa__req *r);
enum MHD_Result sa__api_metrics(sa__req *r);
enum MHD_Result sa__api_agent(sa__req *r, sa__entry *e);
enum MHD_Result sa__ls_setup(sa__req *r);
enum MHD_Result sa__ls_predict(sa__req *r);
enum MHD_Result sa__ls_webhook(sa__req *r);
enum MHD_Result sa__static_file(sa__req *r);
enum MHD_Result sa__cvat_interactor(sa__req *r);

/* ---- shared by the handlers ---- */
/* Decodes an uploaded image after checking its declared size against max_pixels (before any
 * allocation). */
int sa__decode_upload(sa_server *s, const uint8_t *bytes, size_t n, sa_image *img, sa_error *err);
/* Loads images_root/rel, refusing absolute paths, "..", and anything (symlinks included) that
 * resolves outside images_root. SA_ERR_INVALID for a refused path, SA_ERR_NOT_FOUND / SA_ERR_IO
 * otherwise. */
int sa__load_under_root(sa_server *s, const char *rel, sa_image *img, sa_error *err);
/* {"size": [h, w], "counts": "..."} of a mask (NULL when out of memory). */
cJSON *sa__mask_rle_json(const sa_mask *m);

/* Runs the agent on an entry with a fresh policy (each run has its own client). on_step may be
 * NULL. The caller has counted the run in agents_active. *out is filled even on error (free with
 * sa_agent_result_free). */
struct sa_agent_result;
struct sa_agent_step;
struct sa_env;
typedef int (*sa__step_cb)(void *ctx, const struct sa_env *env, const struct sa_agent_step *step);
int sa__run_agent(sa_server *s, sa__entry *e, const char *description, int steps, int search,
                  sa__step_cb on_step, void *ctx, struct sa_agent_result *out, sa_error *err);
/* Counts one agent run in agents_active when under max_agents: 1 taken, 0 at the limit. */
int sa__agent_slot_take(sa_server *s);
void sa__agent_slot_give(sa_server *s);

#endif
