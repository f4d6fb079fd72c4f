/* segagent serve: the tools and the agent over HTTP (docs/server.md): a native JSON API, Label
 * Studio's ML backend protocol and a web page. This file only parses options, builds the tool and
 * the policy parameters, prints one line per request, and waits for SIGINT/SIGTERM with sigwait
 * (signals are blocked before the server starts its threads, so no handler and no global are
 * needed). */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_llm.h"
#include "segagent/server.h"

static const char usage_head[] =
    "usage: segagent serve [options]\n"
    "\n"
    "Serves the interactive tool (and, with --policy, the LLM agent) over HTTP for labelling tools "
    "and for its\n"
    "own web page at http://HOST:PORT/. One line per request goes to stderr: method, path, status, "
    "ms.\n"
    "Stop with Ctrl-C (SIGINT), SIGTERM or SIGHUP (exit 0). Full reference: docs/server.md.\n"
    "\n"
    "endpoints:\n"
    "  GET  /health                    {\"status\":\"UP\", ...} (never needs the token)\n"
    "  GET  /metrics                   Prometheus text: requests, predict latency, cache, agent "
    "runs\n"
    "  POST /api/images                register an image: raw bytes (Content-Type image/*), or "
    "JSON\n"
    "                                  {\"image\": base64} or {\"path\": \"REL\"} under "
    "--images-root -> {\"id\", ...}\n"
    "  GET  /api/images/ID             size and whether the tool state is cached; DELETE forgets "
    "it\n"
    "  POST /api/images/ID/predict     {\"clicks\": [{\"x\",\"y\",\"positive\"}], \"box\": "
    "[x0,y0,x1,y1],\n"
    "                                  \"mask\": COCO RLE of the previous result, \"format\": "
    "\"rle\"|\"png\"}\n"
    "                                  -> {\"rle\": {\"size\",\"counts\"}, \"score\", \"area\", "
    "...} or a PNG\n"
    "  POST /api/images/ID/agent       {\"description\", \"steps\", \"search\"} -> server-sent "
    "events:\n"
    "                                  start, one step per committed action (click, mask RLE, "
    "predicted IoU), done\n"
    "  POST /setup, /predict, /webhook Label Studio ML backend (interactive keypoints/rectangles "
    "-> brushlabels)\n"
    "  POST /cvat/interactor           CVAT interactor: {image: base64, pos_points, neg_points, "
    "obj_bbox}\n"
    "                                  -> {mask: rows of 0/255, points: outer contour}\n"
    "  GET  /                          the web page (files of --web-dir)\n"
    "\n"
    "options:\n"
    "  --host ADDR          IPv4 address to bind (default 127.0.0.1: this machine only)\n"
    "  --port N             TCP port (default 8090; 0 = any free port, printed at start)\n"
    "  --images-root DIR    images may be registered by path under DIR (Label Studio local files "
    "too)\n"
    "  --token-env NAME     environment variable holding a token every endpoint but /health "
    "requires\n"
    "                       (Authorization: Bearer TOKEN, Token TOKEN, or Basic with TOKEN as "
    "password)\n"
    "  --cache-mb N         memory for images and per-image tool state, LRU-evicted (default "
    "2048)\n"
    "  --max-body-mb N      largest request body (default 64)\n"
    "  --max-pixels N       largest image (default 50000000)\n"
    "  --max-clicks N       clicks per request (default 256)\n"
    "  --max-agents N       concurrent agent runs, more get 429 (default 2)\n"
    "  --text-field NAME    Label Studio task field with the description for pre-annotation "
    "(default text)\n"
    "  --web-dir DIR        the web page's files (default: web/ beside the build folder)\n"
    "  --no-background-encode  encode an image on its first predict instead of right after "
    "registration\n"
    "  --quiet              no request log\n" CLI_TOOL_OPTIONS_HELP;
static const char usage_llm[] = CLI_LLM_OPTIONS_HELP;
static const char usage_tail[] =
    "  (without --policy or $SEGAGENT_POLICY the agent endpoints answer 503)\n"
    "\n"
    "environment: LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to fetch Label Studio uploads\n"
    "\n"
    "examples:\n"
    "  segagent serve --tool builtin --port 8090\n"
    "  segagent serve --tool sam --sam-model sam-vit-base/ --images-root ~/photos --cache-mb 4096\n"
    "  curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' "
    "http://127.0.0.1:8090/api/images\n"
    "  curl -s -d '{\"clicks\":[{\"x\":120,\"y\":80,\"positive\":true}]}' \\\n"
    "       http://127.0.0.1:8090/api/images/ID/predict\n"
    "  curl -s -d '{\"clicks\":[[120,80,1]],\"format\":\"png\"}' -o mask.png "
    "http://127.0.0.1:8090/api/images/ID/predict\n"
    "  curl -N -d '{\"description\":\"the cat\",\"steps\":7}' "
    "http://127.0.0.1:8090/api/images/ID/agent\n"
    "  curl -s http://127.0.0.1:8090/metrics\n";

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    cli_printf(stderr, "%s\n", line);
}

/* web/ beside the folder of the executable (build/segagent -> web/), when it holds index.html. */
static char *default_web_dir(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    char *dir = malloc(strlen(exe) + 16);
    if (!dir) return NULL;
    sprintf(dir, "%s/../web", exe);
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/index.html", dir);
    if (access(probe, R_OK) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

typedef struct serve_opts {
    cli_tool_opts topt;
    cli_llm_opts lo;
    sa_server_params sp;
    const char *token_env, *web_dir;
    int port, cache_mb, body_mb, max_clicks, max_agents, no_bg, quiet;
    double max_pixels;
} serve_opts;

/* Parses the options into o; 0, -1 after --help, or 2 on a usage error. */
static int parse_serve_options(int argc, char **argv, serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->topt = (cli_tool_opts){.tool = "builtin", .threads = 2};
    cli_llm_opts_default(&o->lo);
    const char *env_url = getenv("SEGAGENT_POLICY");
    o->lo.policy = env_url && *env_url ? env_url : NULL; /* the agent only when asked for */
    o->sp = sa_server_default_params();
    o->port = o->sp.port, o->cache_mb = 2048, o->body_mb = 64, o->max_clicks = o->sp.max_clicks;
    o->max_agents = o->sp.max_agents;
    o->max_pixels = (double)o->sp.max_pixels;
    cli_opt opts[CLI_LLM_N_OPTS + 25];
    cli_llm_opts_table(&o->lo, opts);
    int n = CLI_LLM_N_OPTS;
    opts[n++] = (cli_opt)CLI_O_STR("tool", &o->topt.tool);
    opts[n++] = (cli_opt)CLI_O_STR("sam-model", &o->topt.sam_model);
    opts[n++] = (cli_opt)CLI_O_THREADS(&o->topt.threads);
    const cli_opt sc_opts[] = {
        CLI_TOOL_SC_OPTS(o->topt)}; /* --model names the LLM here: --tool-model */
    for (size_t i = 0; i < sizeof sc_opts / sizeof sc_opts[0]; i++)
        opts[n++] = sc_opts[i];
    opts[n++] = (cli_opt)CLI_O_STR("host", &o->sp.host);
    opts[n++] = (cli_opt)CLI_O_INT("port", &o->port, 0, 65535);
    opts[n++] = (cli_opt)CLI_O_STR("images-root", &o->sp.images_root);
    opts[n++] = (cli_opt)CLI_O_STR("token-env", &o->token_env);
    opts[n++] = (cli_opt)CLI_O_INT("cache-mb", &o->cache_mb, 1, 1 << 20);
    opts[n++] = (cli_opt)CLI_O_INT("max-body-mb", &o->body_mb, 1, 4096);
    opts[n++] = (cli_opt)CLI_O_DOUBLE("max-pixels", &o->max_pixels, 1, (double)SA_IMAGE_MAX_PIXELS);
    opts[n++] = (cli_opt)CLI_O_INT("max-clicks", &o->max_clicks, 1, SA_MAX_CLICKS);
    opts[n++] = (cli_opt)CLI_O_INT("max-agents", &o->max_agents, 0, 64);
    opts[n++] = (cli_opt)CLI_O_STR("text-field", &o->sp.text_field);
    opts[n++] = (cli_opt)CLI_O_STR("web-dir", &o->web_dir);
    opts[n++] = (cli_opt)CLI_O_FLAG("no-background-encode", &o->no_bg);
    opts[n++] = (cli_opt)CLI_O_FLAG("quiet", &o->quiet);
    char usage[sizeof usage_head + sizeof usage_llm + sizeof usage_tail];
    snprintf(usage, sizeof usage, "%s%s%s", usage_head, usage_llm, usage_tail);
    int n_pos = 0;
    int rc = cli_parse(argc, argv, opts, n, NULL, 0, &n_pos, usage);
    if (rc) return rc == 1 ? -1 : 2;
    return cli_check_tool_opts("serve", &o->topt) ? 2 : 0; /* numeric ranges: the option table */
}

/* Checks the folders and variables named and fills the server parameters; 0 or 2. llm receives the policy's
 * parameters when --policy is given. */
static int server_params(serve_opts *o, sa_llm_params *llm) {
    sa_server_params *sp = &o->sp;
    struct stat st;
    if (sp->images_root && (stat(sp->images_root, &st) || !S_ISDIR(st.st_mode))) {
        cli_printf(stderr, "serve: --images-root %s: not a folder\n", sp->images_root);
        return 2;
    }
    if (o->token_env) {
        sp->token = getenv(o->token_env);
        if (!sp->token || !sp->token[0]) {
            cli_printf(stderr, "serve: --token-env %s: the variable is unset or empty\n",
                       o->token_env);
            return 2;
        }
    }
    sa_error err = {0};
    if (o->lo.policy) {
        if (cli_llm_params(&o->lo, llm, &err)) {
            cli_printf(stderr, "serve: %s\n", err.msg);
            return 2;
        }
        sp->policy = llm;
    }
    sp->port = o->port;
    sp->cache_bytes = (size_t)o->cache_mb << 20;
    sp->max_body_bytes = (size_t)o->body_mb << 20;
    sp->max_pixels = (long)o->max_pixels;
    sp->max_clicks = o->max_clicks;
    sp->max_agents = o->max_agents;
    sp->background_encode = !o->no_bg;
    const char *ls_url = getenv("LABEL_STUDIO_URL"), *ls_key = getenv("LABEL_STUDIO_API_KEY");
    sp->ls_url = ls_url && *ls_url ? ls_url : NULL;
    sp->ls_token = ls_key && *ls_key ? ls_key : NULL;
    if (!o->quiet) sp->log = log_line;
    return 0;
}

/* Starts the server and waits for a stop signal; returns the exit status. */
static int run_server(const serve_opts *o, sa_tool *tool) {
    /* block the stop signals in every thread the server starts; this thread takes them with sigwait */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* the stop signals of every long command (cli_stop.h) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa_server *srv = NULL;
    sa_error err = {0};
    if (sa_server_start(tool, &o->sp, &srv, &err) != SA_OK) {
        cli_printf(stderr, "serve: %s\n", err.msg);
        return 1;
    }
    cli_printf(stderr, "serve: listening on http://%s:%d/ (tool %s%s%s)\n", o->sp.host,
               sa_server_port(srv), sa_tool_name(tool), o->sp.policy ? ", agent " : "",
               o->sp.policy ? o->lo.policy : "");
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    cli_printf(stderr, "serve: %s, stopping\n",
               sig == SIGINT   ? "SIGINT"
               : sig == SIGHUP ? "SIGHUP"
                               : "SIGTERM");
    sa_server_stop(srv);
    return 0;
}

int cli_serve(int argc, char **argv) {
    serve_opts o;
    int rc = parse_serve_options(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    sa_llm_params llm;
    if ((rc = server_params(&o, &llm))) return rc;
    char *auto_web = o.web_dir ? NULL : default_web_dir();
    o.sp.web_dir = o.web_dir ? o.web_dir : auto_web;
    sa_tool *tool = NULL;
    sa_error err = {0};
    o.topt.no_embed_memory =
        1; /* the image store keeps sessions (embeddings included) under --cache-mb */
    if (cli_make_tool(&o.topt, &tool, &err) != SA_OK) {
        cli_printf(stderr, "serve: %s\n", err.msg);
        free(auto_web);
        return 1;
    }
    rc = run_server(&o, tool);
    sa_tool_free(tool);
    free(auto_web);
    return rc;
}
