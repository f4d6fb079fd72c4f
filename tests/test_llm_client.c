/* The policy client and the LLM policy against the loopback scripted server (tests/policy_server.py): the
 * request shape (the server checks the prompt and system message and decodes the PNG overlay), every grammar
 * variant, K samples with n, refused n and ignored n, and each misbehaviour -- HTTP 500 with retries, a flaky
 * server, a slow server beyond the timeout, dropped connections, non-JSON, no choices, oversized bodies, an
 * unknown model (404, no retry), an unreachable server, malformed and out-of-range replies. The reply parser is
 * also checked on its own with the bodies real servers send (vLLM, llama.cpp, Ollama, error objects). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/llm_internal.h"
#include "policy_server.h"
#include "segagent/clicker.h"
#include "segagent/llm_policy.h"
#include "testutil.h"

#define W 40
#define H 30

static sa_image img;
static sa_mask gt, empty, half;
static test_server srv;

static void make_scene(void) {
    sa_image_new(&img, W, H, 3, NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = img.data + 3 * (y * W + x);
            p[0] = (uint8_t)(x * 6);
            p[1] =
                (uint8_t)((x + 2 * y) % 100); /* green stays below 127: the overlay is decodable */
            p[2] = (uint8_t)(y * 8);
        }
    sa_mask_new(&gt, W, H, NULL);
    sa_mask_new(&empty, W, H, NULL);
    sa_mask_new(&half, W, H, NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = (y - 14.0) / 9.0, dx = (x - 22.0) / 13.0;
            gt.data[y * W + x] = dx * dx + dy * dy <= 1.0;
            half.data[y * W + x] = x < 22 && y > 5 && y < 25;
        }
}

static sa_llm_params params_for(const char *model) {
    sa_llm_params p = sa_llm_default_params();
    p.base_url = srv.base_url;
    p.model = model;
    p.image_format = SA_LLM_PNG;
    p.backoff_s = 0.01;
    p.timeout_s = 20;
    return p;
}

static sa_policy_obs obs_for(const sa_mask *m, const char *desc) {
    sa_policy_obs o;
    memset(&o, 0, sizeof o);
    o.image = &img;
    o.description = desc;
    o.mask = m;
    return o;
}

/* act on one model; returns rc, fills d / n; *requests gets the client's request count */
static int act(const char *model, sa_llm_params *pp, const sa_mask *m, int k, sa_policy_decision *d,
               int *n, long *requests, sa_error *err) {
    sa_llm_params p = pp ? *pp : params_for(model);
    sa_policy *pol = NULL;
    sa_llm_client *cl = NULL;
    int rc = sa_llm_policy_new(p, &pol, &cl, err);
    if (rc) return rc;
    sa_policy_obs o = obs_for(m, "the ellipse");
    rc = sa_policy_act(pol, &o, k, d, n, err);
    if (requests) *requests = sa_llm_client_requests(cl);
    sa_policy_free(pol);
    return rc;
}

static sa_clicker_click expected_click(const sa_mask *m) {
    sa_clicker_click c = {0};
    CHECK(sa_clicker_next(&gt, NULL, m, NULL, 0, &c, NULL) == SA_OK);
    return c;
}

static void test_base64(void) {
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *s = sa_base64_encode((const uint8_t *)in[i], strlen(in[i]));
        CHECKF(s && !strcmp(s, out[i]), "base64(%s) = %s", in[i], s ? s : "(null)");
        free(s);
    }
}

static void test_grammar_variants(void) {
    const char *models[] = {"annotator", "annotator-iou", "annotator-iou-comma",
                            "annotator-xy-float"};
    const sa_mask *masks[] = {&empty, &half};
    for (int mi = 0; mi < 4; mi++)
        for (int k = 0; k < 2; k++) {
            sa_llm_params p = params_for(models[mi]);
            if (strstr(models[mi], "-xy")) p.grammar.axis = SA_AXIS_XY;
            if (strstr(models[mi], "-float")) p.grammar.coords = SA_COORDS_FLOAT1;
            sa_policy_decision d[1];
            int n = 0;
            long req = 0;
            sa_error err = {0};
            int rc = act(models[mi], &p, masks[k], 1, d, &n, &req, &err);
            CHECKF(rc == SA_OK && n == 1, "%s: %s", models[mi], err.msg);
            if (rc || n != 1) continue;
            sa_clicker_click c = expected_click(masks[k]);
            CHECKF(d[0].status == SA_OK && d[0].action.click.y == c.y &&
                       d[0].action.click.x == c.x && d[0].action.click.positive == c.positive,
                   "%s: reply \"%s\" -> (%d,%d,%d), annotator (%d,%d,%d)", models[mi], d[0].text,
                   d[0].action.click.y, d[0].action.click.x, d[0].action.click.positive, c.y, c.x,
                   c.positive);
            if (strstr(models[mi], "-iou")) {
                double t = sa_mask_iou(masks[k], &gt, NULL);
                CHECKF(fabs(d[0].pred_iou - floor(t * 100 + 0.5) / 100) < 1e-6, "pred %f true %f",
                       d[0].pred_iou, t);
            } else {
                CHECK(isnan(d[0].pred_iou));
            }
            CHECK(req == 1);
            CHECK(d[0].ms > 0);
            sa_policy_decisions_free(d, n);
        }
}

static void test_samples(void) {
    /* n honoured: 3 choices in one request, the annotator's click last */
    const char *models[] = {"annotator-iou", "no-n", "ignore-n"};
    long want_req[] = {1, 4, 3};
    for (int mi = 0; mi < 3; mi++) {
        sa_llm_params p = params_for(models[mi]);
        p.seed = 0;
        sa_policy *pol = NULL;
        sa_llm_client *cl = NULL;
        sa_error err = {0};
        CHECK(sa_llm_policy_new(p, &pol, &cl, &err) == SA_OK);
        sa_policy_obs o = obs_for(&half, "the ellipse");
        for (int round = 0; round < 2; round++) {
            sa_policy_decision d[3];
            int n = 0;
            long r0 = sa_llm_client_requests(cl);
            int rc = sa_policy_act(pol, &o, 3, d, &n, &err);
            CHECKF(rc == SA_OK && n == 3, "%s: rc %d n %d %s", models[mi], rc, n, err.msg);
            long reqs = sa_llm_client_requests(cl) - r0;
            /* after the server showed it does not honour n, the client asks one sample per request */
            long want = round == 0 ? want_req[mi] : (mi == 0 ? 1 : 3);
            CHECKF(reqs == want, "%s round %d: %ld requests, want %ld", models[mi], round, reqs,
                   want);
            sa_clicker_click c = expected_click(&half);
            int found = 0, distinct = 0;
            for (int i = 0; i < n; i++) {
                CHECK(d[i].status == SA_OK);
                if (d[i].action.click.y == c.y && d[i].action.click.x == c.x) found++;
                for (int j = 0; j < i; j++)
                    if (d[i].action.click.y != d[j].action.click.y ||
                        d[i].action.click.x != d[j].action.click.x)
                        distinct++;
            }
            CHECKF(found == 1 && distinct > 0,
                   "%s: the annotator's click must be among distinct samples", models[mi]);
            if (mi == 0) CHECK(d[2].action.click.y == c.y && d[2].action.click.x == c.x);
            sa_policy_decisions_free(d, n);
        }
        sa_policy_free(pol);
    }
}

static void expect_error(const char *model, sa_llm_params *p, int code, const char *needle,
                         long want_req) {
    sa_policy_decision d[2];
    int n = -1;
    long req = 0;
    sa_error err = {0};
    int rc = act(model, p, &half, 2, d, &n, &req, &err);
    CHECKF(rc == code, "%s: rc %d (%s), want %d", model, rc, err.msg, code);
    CHECKF(n == 0, "%s: %d decisions on error", model, n);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", model, err.msg,
           needle);
    CHECKF(strchr(err.msg, '\n') == NULL, "%s: multi-line message", model);
    if (want_req >= 0) CHECKF(req == want_req, "%s: %ld requests, want %ld", model, req, want_req);
}

static void test_misbehaviour(void) {
    char url[128];
    snprintf(url, sizeof url, "%s/chat/completions", srv.base_url);
    sa_llm_params p = params_for("http500");
    p.retries = 2;
    expect_error("http500", &p, SA_ERR_NETWORK, "HTTP 500", 3);
    expect_error("http500", &p, SA_ERR_NETWORK, url, 3);
    expect_error("http500", &p, SA_ERR_NETWORK, "internal error", 3);
    p = params_for("nonesuch-model");
    expect_error("nonesuch-model", &p, SA_ERR_NETWORK, "HTTP 404", 1); /* no retry on 4xx */
    expect_error("nonesuch-model", &p, SA_ERR_NETWORK, "does not exist", 1);
    p = params_for("drop");
    p.retries = 1;
    expect_error("drop", &p, SA_ERR_NETWORK, url, 2);
    p = params_for("nonjson");
    expect_error("nonjson", &p, SA_ERR_PARSE, "not JSON", 1);
    p = params_for("nochoices");
    expect_error("nochoices", &p, SA_ERR_PARSE, "no choices", 1);
    p = params_for("huge");
    p.max_response_bytes = 64 * 1024;
    expect_error("huge", &p, SA_ERR_RANGE, "larger than", 1);
    p = params_for("slow");
    p.timeout_s = 0.5;
    p.retries = 1;
    expect_error("slow", &p, SA_ERR_TIMEOUT, url, 2);
    /* unreachable: a port nobody listens on */
    p = params_for("annotator");
    p.base_url = "http://127.0.0.1:9/v1";
    p.retries = 0;
    expect_error("annotator", &p, SA_ERR_NETWORK, "127.0.0.1:9", 1);

    /* a flaky server: the retry succeeds */
    {
        sa_policy_decision d[1];
        int n = 0;
        long req = 0;
        sa_error err = {0};
        p = params_for("flaky");
        p.retries = 3;
        CHECKF(act("flaky", &p, &half, 1, d, &n, &req, &err) == SA_OK && n == 1, "flaky: %s",
               err.msg);
        CHECK(req == 2);
        if (n == 1) CHECK(d[0].status == SA_OK);
        sa_policy_decisions_free(d, n);
    }
    /* the API key goes out as a bearer token; without it the server's 401 is not retried */
    {
        sa_policy_decision d[1];
        int n = 0;
        sa_error err = {0};
        p = params_for("auth");
        p.api_key = "sekrit";
        CHECKF(act("auth", &p, &half, 1, d, &n, NULL, &err) == SA_OK && n == 1 &&
                   d[0].status == SA_OK,
               "auth: %s", err.msg);
        sa_policy_decisions_free(d, n);
        p = params_for("auth");
        expect_error("auth", &p, SA_ERR_NETWORK, "HTTP 401", 1);
    }
    /* content as an array of text parts is joined */
    {
        sa_policy_decision d[2];
        int n = 0;
        sa_error err = {0};
        CHECKF(act("parts", NULL, &half, 2, d, &n, NULL, &err) == SA_OK && n == 2, "parts: %s",
               err.msg);
        for (int j = 0; j < n; j++)
            CHECKF(d[j].status == SA_OK && d[j].text &&
                       !strcmp(d[j].text, "Positive point: (500, 500)") &&
                       d[j].action.click.y == H / 2 && d[j].action.click.x == W / 2,
                   "parts: \"%s\"", d[j].text ? d[j].text : "(null)");
        sa_policy_decisions_free(d, n);
    }
    /* replies that do not parse: the request succeeds, each decision carries the error and the text */
    {
        const char *models[] = {"malformed", "range"};
        int codes[] = {SA_ERR_PARSE, SA_ERR_RANGE};
        for (int i = 0; i < 2; i++) {
            sa_policy_decision d[2];
            int n = 0;
            sa_error err = {0};
            CHECK(act(models[i], NULL, &half, 2, d, &n, NULL, &err) == SA_OK && n == 2);
            for (int j = 0; j < n; j++)
                CHECK(d[j].status == codes[i] && d[j].text && strlen(d[j].text) > 0);
            sa_policy_decisions_free(d, n);
        }
    }
    /* bad parameters and bad observations */
    {
        sa_policy *pol = NULL;
        sa_error err = {0};
        p = params_for("annotator");
        p.base_url = "ftp://x";
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_ERR_INVALID && pol == NULL);
        p = params_for("");
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_ERR_INVALID);
        p = params_for("annotator");
        p.prompt = "/nonexistent/prompt.txt";
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_ERR_IO);
        p = params_for("annotator");
        CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
        sa_policy_obs o = obs_for(&half, "");
        sa_policy_decision d[1];
        int n = 0;
        CHECK(sa_policy_act(pol, &o, 1, d, &n, &err) == SA_ERR_INVALID &&
              strstr(err.msg, "description"));
        sa_mask small = {0};
        sa_mask_new(&small, 5, 5, NULL);
        o = obs_for(&small, "x");
        CHECK(sa_policy_act(pol, &o, 1, d, &n, &err) == SA_ERR_INVALID);
        sa_mask_free(&small);
        sa_policy_free(pol);
    }
}

static void test_score_and_ground(void) {
    sa_llm_params p = params_for("annotator-iou");
    sa_policy *pol = NULL;
    sa_llm_client *cl = NULL;
    sa_error err = {0};
    CHECK(sa_llm_policy_new(p, &pol, &cl, &err) == SA_OK);
    CHECK(sa_policy_can_score(pol));
    const sa_mask *ms[] = {&empty, &half, &gt};
    for (int i = 0; i < 3; i++) {
        sa_policy_obs o = obs_for(ms[i], "the ellipse");
        float piou = -1;
        char *text = NULL;
        CHECKF(sa_policy_score(pol, &o, &piou, &text, &err) == SA_OK, "score: %s", err.msg);
        double t = sa_mask_iou(ms[i], &gt, NULL);
        /* for gt itself the reply has the IoU but no action (nothing to fix): scoring needs only the IoU */
        CHECKF(fabs(piou - floor(t * 100 + 0.5) / 100) < 1e-6, "score %f true %f", piou, t);
        CHECK(text && strstr(text, "Current IOU"));
        free(text);
    }
    sa_box b;
    char *reply = NULL;
    CHECKF(sa_llm_ground(cl, &img, "the ellipse", &b, &reply, &err) == SA_OK, "ground: %s",
           err.msg);
    int bb[4];
    sa_mask_bbox(&gt, bb);
    CHECKF(b.x0 == bb[0] && b.y0 == bb[1] && b.x1 == bb[0] + bb[2] - 1 && b.y1 == bb[1] + bb[3] - 1,
           "box %g %g %g %g vs bbox %d %d %d %d (%s)", b.x0, b.y0, b.x1, b.y1, bb[0], bb[1], bb[2],
           bb[3], reply ? reply : "");
    free(reply);
    sa_policy_free(pol);
    /* a policy without IoU in its replies cannot score */
    p = params_for("annotator");
    CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
    sa_policy_obs o = obs_for(&half, "the ellipse");
    float piou;
    char *text = NULL;
    CHECK(sa_policy_score(pol, &o, &piou, &text, &err) == SA_ERR_PARSE && isnan(piou) && text);
    free(text);
    sa_policy_free(pol);
}

/* Parses body with room for want texts, have of them already taken. */
static int parse_body(const char *body, size_t len, int want, int have, sa_llm_reply *r,
                      sa_error *err) {
    memset(r, 0, sizeof *r);
    r->texts = calloc((size_t)want, sizeof *r->texts);
    r->n = have;
    return sa__llm_parse_reply("http://h/v1/chat/completions", body, len, want, r, err);
}

static void test_parse_reply_nested(void) {
    static char deep[5000];
    int n = snprintf(deep, sizeof deep, "{\"choices\": ");
    for (int i = 0; i < 2000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 2000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    sa_llm_reply r;
    sa_error err = {0};
    CHECK(parse_body(deep, (size_t)n, 1, 0, &r, &err) == SA_ERR_PARSE);
    CHECKF(strstr(err.msg, "nested deeper than 1000 levels") != NULL, "%s", err.msg);
    sa_llm_reply_free(&r);
}

static void test_parse_reply(void) {
    static const char vllm[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"segagent-qwen\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Current IOU: 45.3\\nPositive point: (512, 377)\","
        "\"tool_calls\":[]},\"logprobs\":{\"content\":[{\"token\":\"Current\",\"logprob\":-0.01}]},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":512,\"completion_tokens\":18}}";
    sa_llm_reply r;
    sa_error err = {0};
    CHECK(parse_body(vllm, strlen(vllm), 1, 0, &r, &err) == SA_OK && r.n == 1);
    CHECK(r.texts[0] && !strcmp(r.texts[0], "Current IOU: 45.3\nPositive point: (512, 377)"));
    sa_llm_reply_free(&r);
    /* three choices (llama.cpp-style keys around them): at most want texts, after those already there */
    static const char three[] =
        "{\"choices\":[{\"message\":{\"content\":\"a\"}},{\"message\":{\"content\":\"b\"}},"
        "{\"message\":{\"content\":\"c\"}}],\"timings\":{\"prompt_n\":3},\"system_fingerprint\":\"b1\"}";
    CHECK(parse_body(three, strlen(three), 2, 0, &r, &err) == SA_OK && r.n == 2 &&
          !strcmp(r.texts[1], "b"));
    sa_llm_reply_free(&r);
    CHECK(parse_body(three, strlen(three), 3, 2, &r, &err) == SA_OK && r.n == 3 &&
          !strcmp(r.texts[2], "a"));
    CHECK(!r.texts[0] && !r.texts[1]);
    sa_llm_reply_free(&r);
    /* content as parts, completions-style text, no content: NULL texts, still a reply */
    static const char parts[] =
        "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"Positive "
        "point: \"},{\"type\":\"image_url\"},{\"type\":\"text\",\"text\":\"(5, 7)\"}]}},"
        "{\"text\":\"Negative point: (1, 2)\"},{\"message\":{\"content\":null}}]}";
    CHECK(parse_body(parts, strlen(parts), 3, 0, &r, &err) == SA_OK && r.n == 3);
    CHECK(r.texts[0] && !strcmp(r.texts[0], "Positive point: (5, 7)"));
    CHECK(r.texts[1] && !strcmp(r.texts[1], "Negative point: (1, 2)") && r.texts[2] == NULL);
    sa_llm_reply_free(&r);
    /* the body need not end with a NUL: only len bytes are read */
    static const char tail[] = "{\"choices\":[{\"text\":\"x\"}]}GARBAGE";
    CHECK(parse_body(tail, strlen(tail) - 7, 1, 0, &r, &err) == SA_OK && r.n == 1 &&
          !strcmp(r.texts[0], "x"));
    sa_llm_reply_free(&r);
    /* refusals: one line naming the URL and quoting the body */
    static const char oai_err[] =
        "{\"error\":{\"message\":\"The model `nope` does not exist\",\"code\":404}}";
    CHECK(parse_body(oai_err, strlen(oai_err), 1, 0, &r, &err) == SA_ERR_PARSE && r.n == 0);
    CHECKF(
        strstr(
            err.msg,
            "POST http://h/v1/chat/completions: reply has no choices (server error): {\"error\"") ==
            err.msg,
        "%s", err.msg);
    sa_llm_reply_free(&r);
    static const char vllm_err[] =
        "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"NotFoundError\",\"code\":404}";
    CHECK(parse_body(vllm_err, strlen(vllm_err), 1, 0, &r, &err) == SA_ERR_PARSE);
    CHECK(strstr(err.msg, "reply has no choices: {\"object\":\"error\"") != NULL);
    sa_llm_reply_free(&r);
    static const char html[] =
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>\r\n";
    CHECK(parse_body(html, strlen(html), 1, 0, &r, &err) == SA_ERR_PARSE && !strchr(err.msg, '\n'));
    CHECKF(strstr(err.msg, "reply is not JSON: <html>  <head><title>502") != NULL, "%s", err.msg);
    sa_llm_reply_free(&r);
    CHECK(parse_body(vllm, 60, 1, 0, &r, &err) == SA_ERR_PARSE &&
          strstr(err.msg, "not JSON")); /* truncated */
    sa_llm_reply_free(&r);
    CHECK(parse_body(NULL, 0, 1, 0, &r, &err) == SA_ERR_PARSE && r.n == 0);
    sa_llm_reply_free(&r);
    char big[400];
    memset(big, 'x', sizeof big);
    CHECK(parse_body(big, sizeof big, 1, 0, &r, &err) == SA_ERR_PARSE &&
          strstr(err.msg, "xxx...") &&
          strlen(err.msg) < 250); /* a long body is cut in the message */
    sa_llm_reply_free(&r);
}

/* The prompt is known before any request, and it is the one the requests send. */
static void test_request_text(void) {
    sa_llm_params p = params_for("fixed");
    sa_policy *pol = NULL;
    sa_llm_client *cl = NULL;
    sa_error err = {0};
    CHECK(sa_llm_policy_new(p, &pol, &cl, &err) == SA_OK && cl);
    char *text = sa_llm_client_request_text(cl, "the cat", &err);
    CHECK(text && strstr(text, "<ref>the cat</ref>") && !strcmp(sa_llm_client_last_prompt(cl), ""));
    CHECK(sa_llm_client_request_text(cl, "", &err) == NULL && err.code == SA_ERR_INVALID);
    CHECK(sa_llm_client_request_text(NULL, "x", &err) == NULL);
    sa_policy_obs o = obs_for(&empty, "the cat");
    sa_policy_decision d[1];
    int n = 0;
    CHECKF(sa_policy_act(pol, &o, 1, d, &n, &err) == SA_OK && n == 1, "%s", err.msg);
    CHECK(text && !strcmp(sa_llm_client_last_prompt(cl), text));
    sa_policy_decisions_free(d, n);
    free(text);
    sa_policy_free(pol);
}

/* What goes out is well-formed: a description with bytes that are not UTF-8 still makes a JSON body the
 * server accepts (Python's json.loads refuses invalid UTF-8 with 400); a key or URL with CR/LF is refused
 * before any request (no header injection); an out-of-range "Current IOU" is reported, not clamped. */
static void test_well_formed(void) {
    sa_llm_params p = params_for("fixed");
    sa_policy *pol = NULL;
    sa_error err = {0};
    CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
    sa_policy_obs o = obs_for(&half, "the \xff\xfe ellipse \xc3");
    sa_policy_decision d[1];
    int n = 0;
    CHECKF(sa_policy_act(pol, &o, 1, d, &n, &err) == SA_OK && n == 1 && d[0].status == SA_OK,
           "invalid UTF-8 description: %s", err.msg);
    sa_policy_decisions_free(d, n);
    sa_policy_free(pol);

    const char *keys[] = {"sekrit\r\nX-Injected: 1", "sekrit\n", "sek\x01rit", "sek\x7frit"};
    for (int i = 0; i < 4; i++) {
        p = params_for("auth");
        p.api_key = keys[i];
        sa_llm_client *cl = NULL;
        err = (sa_error){0};
        CHECKF(sa_llm_client_new(p, &cl, &err) == SA_ERR_INVALID && !cl, "key %d accepted", i);
        CHECKF(strstr(err.msg, "API key") && strstr(err.msg, "control character"), "key %d: %s", i,
               err.msg);
        sa_llm_client_free(cl);
    }
    p = params_for("auth");
    p.base_url = "http://127.0.0.1:9/v1\r\nX-Injected: 1";
    sa_llm_client *cl = NULL;
    CHECK(sa_llm_client_new(p, &cl, &err) == SA_ERR_INVALID && !cl);

    /* "Current IOU: 1e309" / "250": the action stands, the prediction counts as absent */
    p = params_for("iou-huge");
    CHECK(sa_llm_policy_new(p, &pol, NULL, &err) == SA_OK);
    sa_policy_decision d2[2];
    n = 0;
    CHECKF(sa_policy_act(pol, &o, 2, d2, &n, &err) == SA_OK && n == 2, "iou-huge: %s", err.msg);
    for (int i = 0; i < n; i++) {
        CHECKF(d2[i].status == SA_OK, "iou-huge %d: status %d", i, d2[i].status);
        CHECKF(isnan(d2[i].pred_iou), "iou-huge %d: pred_iou %g, want NAN (out of range)", i,
               d2[i].pred_iou);
    }
    sa_policy_decisions_free(d2, n);
    float piou = 0;
    char *text = NULL;
    CHECK(sa_policy_score(pol, &o, &piou, &text, &err) == SA_ERR_RANGE && isnan(piou));
    CHECKF(strstr(err.msg, "1e309") != NULL, "score message: %s", err.msg);
    free(text);
    sa_policy_free(pol);
}

int main(void) {
    test_parse_reply();
    test_parse_reply_nested();
    make_scene();
    char *dir = tu_tmpdir();
    char gt_path[1024];
    snprintf(gt_path, sizeof gt_path, "%s/gt.png", dir);
    sa_error err = {0};
    if (sa_mask_save_png(gt_path, &gt, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ts_start(&srv, gt_path)) return 1;
    test_base64();
    test_grammar_variants();
    test_samples();
    test_misbehaviour();
    test_score_and_ground();
    test_request_text();
    test_well_formed();
    ts_stop(&srv);
    sa_image_free(&img);
    sa_mask_free(&gt);
    sa_mask_free(&empty);
    sa_mask_free(&half);
    remove(gt_path);
    rmdir(dir);
    free(dir);
    return tu_finish("test_llm_client");
}
