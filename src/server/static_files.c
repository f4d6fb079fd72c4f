/* The web page: GET / serves web_dir/index.html, GET /NAME serves web_dir/NAME for plain file names
 * (letters, digits, '-', '_', one '.'; no folders) with a known type. Files are read on every
 * request (small, and edits show without a restart). */
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "segagent/fileio.h"
#include "server/server_internal.h"

static const char *mime_of(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return NULL;
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    return NULL;
}

enum MHD_Result sa__static_file(sa__req *r) {
    sa_server *s = r->srv;
    const char *name = r->path + 1;
    if (!name[0]) name = "index.html";
    if (!s->p.web_dir)
        return sa__reply_error(r, 404, "no web page (the server was started without one)");
    int dots = 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (c == '.')
            dots++;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_'))
            return sa__reply_error(r, 404, "no such file: %s", r->path);
    }
    const char *mime = mime_of(name);
    if (dots != 1 || !mime || name[0] == '.')
        return sa__reply_error(r, 404, "no such file: %s", r->path);
    char *path = sa_path_join(s->p.web_dir, name);
    if (!path) return sa__reply_error(r, 503, "out of memory");
    char *data = NULL;
    size_t n = 0;
    int rc = sa__read_file(path, (size_t)8 << 20, &data, &n, NULL);
    free(path);
    if (rc) return sa__reply_error(r, 404, "no such file: %s", r->path);
    const char *hdr[][2] = {{"Cache-Control", "no-cache"}, {NULL, NULL}};
    return sa__reply(r, 200, mime, data, n, hdr);
}
