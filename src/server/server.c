/* HTTP plumbing of the server: libmicrohttpd with one thread per connection (so a streamed agent
 * run may block its own connection while it waits for the next step), the body collected under a
 * size limit, the token check, routing to the handlers, and one log line per finished request.
 * Handlers answer through the sa__reply* helpers, which also count statuses for /metrics.
 *
 * Routes:
 *   GET  /health, GET /metrics                      (api.c)
 *   POST /api/images, GET|DELETE /api/images/ID      (api.c)
 *   POST /api/images/ID/predict, POST /api/images/ID/agent (api.c, agent_stream.c)
 *   POST /setup, /predict, /webhook                  (labelstudio.c: Label Studio's ML backend
 * protocol) GET  /, /FILE                                    (static_files.c: the web page) */
#include "server/server_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "base/files.h"
#include "base/util.h"
#include "segagent/fileio.h"
#include "segagent/rle.h"
#include "server/request.h"

const double sa__lat_bounds[SA__LAT_BUCKETS] = {5,   10,   25,   50,   100,   250,
                                                500, 1000, 2500, 5000, 10000, 1e300};

sa_server_params sa_server_default_params(void) {
    sa_server_params p;
    memset(&p, 0, sizeof p);
    p.host = "127.0.0.1";
    p.port = 8090;
    p.cache_bytes = (size_t)2 << 30;
    p.max_body_bytes = (size_t)64 << 20;
    p.max_pixels = 50000000;
    p.max_clicks = 256;
    p.max_images = 1024;
    p.max_agents = 2;
    p.max_agent_steps = 20;
    p.max_search = 8;
    p.background_encode = 1;
    p.threads = 256;
    p.text_field = "text";
    return p;
}

void sa__observe(sa_server *s, sa__latency *l, double ms) {
    pthread_mutex_lock(&s->lock);
    l->count++;
    l->sum_ms += ms;
    for (int i = 0; i < SA__LAT_BUCKETS; i++)
        if (ms <= sa__lat_bounds[i]) {
            l->buckets[i]++;
            break;
        }
    pthread_mutex_unlock(&s->lock);
}

int sa__http_status(int code) {
    switch (code) {
    case SA_OK:
        return 200;
    case SA_ERR_INVALID:
    case SA_ERR_FORMAT:
    case SA_ERR_PARSE:
    case SA_ERR_UNSUPPORTED:
        return 400;
    case SA_ERR_RANGE:
        return 413;
    case SA_ERR_NOT_FOUND:
        return 404;
    case SA_ERR_STATE:
        return 409;
    case SA_ERR_NETWORK:
        return 502;
    case SA_ERR_TIMEOUT:
        return 504;
    case SA_ERR_NOMEM:
        return 503;
    default:
        return 500;
    }
}

const char *sa__header(sa__req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

enum MHD_Result sa__reply_response(sa__req *r, int status, struct MHD_Response *resp) {
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "X-Score, X-Area, X-Cached, X-Tool-Ms");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return rc;
}

enum MHD_Result sa__reply(sa__req *r, int status, const char *content_type, void *data, size_t len,
                          const char *extra_headers[][2]) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    if (content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    for (int i = 0; extra_headers && extra_headers[i][0]; i++)
        MHD_add_response_header(resp, extra_headers[i][0], extra_headers[i][1]);
    return sa__reply_response(r, status, resp);
}

enum MHD_Result sa__reply_json(sa__req *r, int status, cJSON *obj) {
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\",\"status\":503}";
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
        return sa__reply_response(r, 503, resp);
    }
    return sa__reply(r, status, "application/json", s, strlen(s), NULL);
}

enum MHD_Result sa__reply_error(sa__req *r, int status, const char *fmt, ...) {
    char msg[SA_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddNumberToObject(o, "status", status);
    }
    return sa__reply_json(r, status, o);
}

cJSON *sa__mask_rle_json(const sa_mask *m) {
    sa_rle rle = {0};
    char *counts = NULL;
    cJSON *o = NULL;
    if (sa_rle_encode(m, &rle, NULL) == SA_OK && sa_rle_to_string(&rle, &counts, NULL) == SA_OK &&
        (o = cJSON_CreateObject())) {
        cJSON *size = cJSON_AddArrayToObject(o, "size");
        if (size) {
            cJSON_AddItemToArray(size, cJSON_CreateNumber(m->height));
            cJSON_AddItemToArray(size, cJSON_CreateNumber(m->width));
        }
        cJSON_AddStringToObject(o, "counts", counts);
    }
    free(counts);
    sa_rle_free(&rle);
    return o;
}

/* Width and height from a PNG's IHDR or a JPEG's first SOF marker, so an image bomb is refused
 * before the decoder allocates; 0 when the format is not recognised (the decoder's own limits still
 * apply). */
static int peek_size(const uint8_t *b, size_t n, long *w, long *h) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 24 && !memcmp(b, png_sig, 8)) {
        *w = (long)(((uint32_t)b[16] << 24) | ((uint32_t)b[17] << 16) | ((uint32_t)b[18] << 8) |
                    b[19]);
        *h = (long)(((uint32_t)b[20] << 24) | ((uint32_t)b[21] << 16) | ((uint32_t)b[22] << 8) |
                    b[23]);
        return 1;
    }
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) {
        size_t i = 2;
        while (i + 9 < n) {
            if (b[i] != 0xFF) return 0;
            uint8_t m = b[i + 1];
            size_t seg = ((size_t)b[i + 2] << 8) | b[i + 3];
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                *h = ((long)b[i + 5] << 8) | b[i + 6];
                *w = ((long)b[i + 7] << 8) | b[i + 8];
                return 1;
            }
            i += 2 + seg;
        }
    }
    return 0;
}

int sa__decode_upload(sa_server *s, const uint8_t *bytes, size_t n, sa_image *img, sa_error *err) {
    long w = 0, h = 0;
    if (n == 0) return sa_error_set(err, SA_ERR_INVALID, "empty image");
    if (peek_size(bytes, n, &w, &h) && (w <= 0 || h <= 0 || w * h > s->p.max_pixels))
        return sa_error_set(err, SA_ERR_RANGE, "image of %ldx%ld pixels (the limit is %ld pixels)",
                            w, h, s->p.max_pixels);
    int rc = sa_image_decode(bytes, n, img, err);
    if (rc &&
        rc != SA_ERR_RANGE) { /* a limit keeps its code (413); anything else is a bad image (400) */
        sa_error_prefix(err, "invalid image: ");
        if (err) err->code = SA_ERR_FORMAT;
        return SA_ERR_FORMAT;
    }
    if (rc) return rc;
    if ((long)img->width * (long)img->height > s->p.max_pixels) {
        sa_image_free(img);
        return sa_error_set(err, SA_ERR_RANGE, "image of %dx%d pixels (the limit is %ld pixels)",
                            img->width, img->height, s->p.max_pixels);
    }
    return SA_OK;
}

int sa__load_under_root(sa_server *s, const char *rel, sa_image *img, sa_error *err) {
    if (!s->p.images_root)
        return sa_error_set(err, SA_ERR_INVALID, "no --images-root: paths are refused");
    if (!rel[0] || rel[0] == '/')
        return sa_error_set(err, SA_ERR_INVALID, "path must be relative to the images root");
    for (const char *p = rel; *p;) { /* no ".." component */
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return sa_error_set(err, SA_ERR_INVALID, "path may not contain '..'");
        p += len + (e ? 1 : 0);
    }
    char root[PATH_MAX], full[PATH_MAX];
    if (!realpath(s->p.images_root, root))
        return sa_error_set(err, SA_ERR_IO, "the images root is not readable");
    char *joined = sa_path_join(root, rel);
    if (!joined) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    char *ok = realpath(joined, full);
    free(joined);
    if (!ok)
        return sa_error_set(err, SA_ERR_NOT_FOUND, "no such image under the images root: %s", rel);
    size_t rl = strlen(root);
    if (strncmp(full, root, rl) != 0 || (full[rl] != '/' && !(rl == 1 && root[0] == '/')))
        return sa_error_set(err, SA_ERR_INVALID, "path resolves outside the images root: %s", rel);
    struct stat stt;
    if (stat(full, &stt) || !S_ISREG(stt.st_mode))
        return sa_error_set(err, SA_ERR_NOT_FOUND, "not a regular file under the images root: %s",
                            rel);
    char *data = NULL;
    size_t n = 0;
    int rc = sa__read_file(full, s->p.max_body_bytes, &data, &n, err);
    if (rc)
        return sa_error_set(err, rc == SA_ERR_RANGE ? SA_ERR_RANGE : SA_ERR_IO, "cannot read %s",
                            rel);
    rc = sa__decode_upload(s, (const uint8_t *)data, n, img, err);
    free(data);
    return rc;
}

/* ---- authentication ---- */

static int same_secret(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* Bearer TOKEN, Token TOKEN (Label Studio's style) or Basic base64(user:TOKEN). */
static int authorized(sa__req *r) {
    const char *tok = r->srv->p.token;
    if (!tok || !tok[0]) return 1;
    const char *h = sa__header(r, "Authorization");
    if (!h) return 0;
    if (!strncasecmp(h, "Bearer ", 7)) return same_secret(h + 7, tok);
    if (!strncasecmp(h, "Token ", 6)) return same_secret(h + 6, tok);
    if (!strncasecmp(h, "Basic ", 6)) {
        uint8_t *dec = NULL;
        size_t n = 0;
        if (sa__base64_decode(h + 6, strlen(h + 6), 4096, &dec, &n, NULL)) return 0;
        char *txt = malloc(n + 1);
        int ok = 0;
        if (txt) {
            memcpy(txt, dec, n);
            txt[n] = 0;
            char *colon = strchr(txt, ':');
            ok = colon && same_secret(colon + 1, tok);
            free(txt);
        }
        free(dec);
        return ok;
    }
    return 0;
}

/* ---- routing ---- */

static int is_id(const char *s, size_t n) {
    if (n == 0 || n >= SA__ID_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static enum MHD_Result dispatch(sa__req *r) {
    const char *m = r->method, *u = r->path;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    if (!strcmp(m, "OPTIONS")) return sa__reply(r, 204, NULL, NULL, 0, NULL);
    if (!strcmp(u, "/health"))
        return get ? sa__api_health(r) : sa__reply_error(r, 405, "use GET /health");
    if (!authorized(r)) {
        const char *hdr[][2] = {{"WWW-Authenticate", "Basic realm=\"segagent\", charset=\"UTF-8\""},
                                {NULL, NULL}};
        char *s = sa__strdup("{\"error\":\"missing or wrong token\",\"status\":401}");
        if (!s) return MHD_NO;
        return sa__reply(r, 401, "application/json", s, strlen(s), hdr);
    }
    if (r->too_large)
        return sa__reply_error(r, 413, "request body larger than %zu bytes",
                               r->srv->p.max_body_bytes);
    if (!strcmp(u, "/metrics"))
        return get ? sa__api_metrics(r) : sa__reply_error(r, 405, "use GET /metrics");
    if (!strcmp(u, "/setup"))
        return post ? sa__ls_setup(r) : sa__reply_error(r, 405, "use POST /setup");
    if (!strcmp(u, "/predict"))
        return post ? sa__ls_predict(r) : sa__reply_error(r, 405, "use POST /predict");
    if (!strcmp(u, "/webhook"))
        return post ? sa__ls_webhook(r) : sa__reply_error(r, 405, "use POST /webhook");
    if (!strcmp(u, "/cvat/interactor"))
        return post ? sa__cvat_interactor(r) : sa__reply_error(r, 405, "use POST /cvat/interactor");
    if (!strcmp(u, "/api/images") || !strcmp(u, "/api/images/"))
        return post ? sa__api_register(r)
                    : sa__reply_error(r, 405, "use POST /api/images to register an image");
    if (!strncmp(u, "/api/images/", 12)) {
        const char *id = u + 12, *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        char buf[SA__ID_LEN];
        if (!is_id(id, n)) return sa__reply_error(r, 404, "unknown image id");
        memcpy(buf, id, n);
        buf[n] = 0;
        return sa__api_image(r, buf, slash ? slash : "");
    }
    if (!strncmp(u, "/api/", 5)) return sa__reply_error(r, 404, "no such endpoint: %s", u);
    if (get) return sa__static_file(r);
    return sa__reply_error(r, 404, "no such endpoint: %s %s", m, u);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    sa_server *s = cls;
    sa__req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->t0 = sa__now_ms();
        snprintf(r->method, sizeof r->method, "%s", method);
        r->path = sa__strdup(url);
        *con_cls = r;
        if (!r->path) return MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || end == cl || v > s->p.max_body_bytes) r->too_large = 1;
        }
        /* a declared body over the limit is refused before it is read (libmicrohttpd then closes
           the connection instead of reading the rest); a chunked one is drained and refused at its
           end */
        if (r->too_large && strcmp(method, "OPTIONS") != 0)
            return sa__reply_error(r, 413, "request body larger than %zu bytes",
                                   s->p.max_body_bytes);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large) return MHD_YES; /* drained, answered at the end */
        if (n > s->p.max_body_bytes - r->len) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    sa_server *s = cls;
    sa__req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double ms = sa__now_ms() - r->t0;
    int st = r->status;
    pthread_mutex_lock(&s->lock);
    s->requests++;
    if (st >= 100 && st < 600) s->status_counts[st / 100]++;
    pthread_mutex_unlock(&s->lock);
    if (s->p.log) {
        char line[512];
        const char *q = strchr(r->path ? r->path : "", '?');
        int plen = r->path ? (int)(q ? (size_t)(q - r->path) : strlen(r->path)) : 0;
        snprintf(line, sizeof line, "%s %.*s %d %.1f ms%s", r->method, plen > 200 ? 200 : plen,
                 r->path ? r->path : "", st, ms,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
        s->p.log(s->p.log_ctx, line);
    }
    free(r->path);
    free(r->body);
    free(r);
}

/* ---- agent slots ---- */

int sa__agent_slot_take(sa_server *s) {
    pthread_mutex_lock(&s->lock);
    int ok = !s->stopping && s->agents_active < s->p.max_agents;
    if (ok) {
        s->agents_active++;
        s->agents_total++;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void sa__agent_slot_give(sa_server *s) {
    pthread_mutex_lock(&s->lock);
    s->agents_active--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- lifetime ---- */

static int check_params(const sa_server_params *p, sa_error *err) {
    if (p->port < 0 || p->port > 65535)
        return sa_error_set(err, SA_ERR_RANGE, "port %d outside 0..65535", p->port);
    if (p->max_body_bytes < 1024) return sa_error_set(err, SA_ERR_RANGE, "body limit below 1 KiB");
    if (p->max_pixels < 1 || p->max_pixels > (long)SA_IMAGE_MAX_PIXELS)
        return sa_error_set(err, SA_ERR_RANGE, "pixel limit outside 1..%u", SA_IMAGE_MAX_PIXELS);
    if (p->max_clicks < 1 || p->max_clicks > SA_MAX_CLICKS)
        return sa_error_set(err, SA_ERR_RANGE, "click limit outside 1..%d", SA_MAX_CLICKS);
    if (p->max_images < 1 || p->max_images > 1000000)
        return sa_error_set(err, SA_ERR_RANGE, "image limit outside 1..1e6");
    if (p->max_agents < 0 || p->max_agent_steps < 1 || p->max_agent_steps > 100 ||
        p->max_search < 1 || p->max_search > 32)
        return sa_error_set(err, SA_ERR_RANGE, "agent limits out of range");
    if (p->threads < 1 || p->threads > 4096)
        return sa_error_set(err, SA_ERR_RANGE, "thread limit outside 1..4096");
    return SA_OK;
}

int sa_server_start(sa_tool *tool, const sa_server_params *p, sa_server **out, sa_error *err) {
    if (!tool || !p || !out)
        return sa_error_set(err, SA_ERR_INVALID, "sa_server_start: NULL argument");
    *out = NULL;
    int rc = check_params(p, err);
    if (rc) return rc;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)p->port);
    const char *host = p->host ? p->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return sa_error_set(err, SA_ERR_INVALID, "host '%s' is not an IPv4 address", host);
    sa_server *s = calloc(1, sizeof *s);
    if (!s) return sa_error_set(err, SA_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->tool = tool;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    rc = sa__store_new(tool, p->cache_bytes, p->max_images, p->background_encode, &s->store, err);
    if (rc) {
        sa_server_stop(s);
        return rc;
    }
    s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                                 (uint16_t)p->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->threads,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!s->daemon) {
        int e = errno;
        sa_server_stop(s);
        return sa_error_set(err, SA_ERR_NETWORK, "cannot listen on %s:%d: %s", host, p->port,
                            e ? strerror(e) : "libmicrohttpd refused to start");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : p->port;
    *out = s;
    return SA_OK;
}

int sa_server_port(const sa_server *s) {
    return s ? s->port : 0;
}

void sa_server_stop(sa_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->daemon) MHD_stop_daemon(s->daemon); /* joins every connection thread */
    pthread_mutex_lock(&s->lock);
    while (s->agents_active > 0)
        pthread_cond_wait(&s->cond, &s->lock); /* detached agent threads */
    pthread_mutex_unlock(&s->lock);
    sa__store_free(s->store);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
