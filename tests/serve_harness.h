/* Test harness for `segagent serve`: starts the built binary on a free loopback port (--port 0; the
 * port is read from its "listening on" line), sends requests with libcurl, and stops exactly the
 * process it started (SIGTERM, then waitpid; the exit status must be 0). Header-only, for the
 * test_server* programs. */
#ifndef SEGAGENT_TEST_SERVE_HARNESS_H
#define SEGAGENT_TEST_SERVE_HARNESS_H

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

typedef struct sh_server {
    pid_t pid;
    int port;
    char log[8192]; /* its stderr */
} sh_server;

/* Starts "segagent serve --port 0 ARGS..." (NULL-terminated extra args) with stderr in LOG. 0 or
 * -1. */
static inline int sh_start(sh_server *s, const char *bin, const char *log,
                           const char *const *args) {
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s", log);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "serve";
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int t = 0; t < 600; t++) { /* up to 60 s: a SAM model may take a while to load */
        char *txt = tu_read_file(log, NULL);
        const char *p = txt ? strstr(txt, "listening on http://127.0.0.1:") : NULL;
        if (p) s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(txt);
        if (s->port > 0) return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fprintf(stderr, "segagent serve exited before listening (see %s)\n", log);
            return -1;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "segagent serve did not start listening within 60 s\n");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* SIGTERM, wait; returns the exit status (-1 when killed by a signal). */
static inline int sh_stop(sh_server *s) {
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 while the process is still running. */
static inline int sh_alive(const sh_server *s) {
    return s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0;
}

typedef struct sh_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char headers[4096];
    size_t hlen;
} sh_resp;

static inline size_t sh_write_cb(char *p, size_t sz, size_t nm, void *ud) {
    sh_resp *r = ud;
    size_t n = sz * nm;
    char *nb = realloc(r->body, r->len + n + 1);
    if (!nb) return 0;
    memcpy(nb + r->len, p, n);
    r->body = nb;
    r->len += n;
    r->body[r->len] = 0;
    return n;
}

static inline size_t sh_header_cb(char *p, size_t sz, size_t nm, void *ud) {
    sh_resp *r = ud;
    size_t n = sz * nm;
    if (r->hlen + n < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, n);
        r->hlen += n;
        r->headers[r->hlen] = 0;
    }
    return n;
}

/* One request. body may be NULL (then no body); ctype may be NULL; auth a full header value or
 * NULL. The response body is always NUL-terminated (empty on failure, status 0 when no answer
 * came). */
static inline sh_resp sh_request(const sh_server *s, const char *method, const char *path,
                                 const void *body, size_t len, const char *ctype,
                                 const char *auth) {
    sh_resp r;
    memset(&r, 0, sizeof r);
    r.body = calloc(1, 1);
    CURL *c = curl_easy_init();
    if (!c) return r;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = NULL;
    char line[600];
    if (ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    }
    if (auth) {
        snprintf(line, sizeof line, "Authorization: %s", auth);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sh_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sh_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static inline sh_resp sh_post_json(const sh_server *s, const char *path, const char *json) {
    return sh_request(s, "POST", path, json, strlen(json), "application/json", NULL);
}

static inline void sh_resp_free(sh_resp *r) {
    free(r->body);
    r->body = NULL;
}

#endif
