/* libFuzzer target for the native API's request bodies (src/server/request.c): byte 0 picks the
 * parser (predict, agent, register, base64), the rest is the body. Whatever is accepted must hold
 * what the parser promises: clicks within the limit, a box ordered, steps and search within their
 * limits, a register request with exactly one of bytes and path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    sa_error err = {0};
    switch (data[0] % 5) {
    case 0: {
        sa__predict_req r;
        if (sa__parse_predict(body, n, 16, &r, &err) == SA_OK) {
            if (r.n_clicks < 0 || r.n_clicks > 16 || (!r.n_clicks && !r.has_box)) abort();
            if (r.has_box && (r.box.x1 < r.box.x0 || r.box.y1 < r.box.y0)) abort();
            if (r.mask_counts && (r.mask_h < 1 || r.mask_w < 1)) abort();
            sa__predict_req_free(&r);
        }
        break;
    }
    case 1: {
        sa__agent_req r;
        if (sa__parse_agent(body, n, 20, 8, &r, &err) == SA_OK) {
            if (!r.description || !r.description[0] || r.steps < 1 || r.steps > 20 ||
                r.search < 1 || r.search > 8)
                abort();
            sa__agent_req_free(&r);
        }
        break;
    }
    case 2: {
        sa__register_req r;
        if (sa__parse_register(body, n, 1 << 16, &r, &err) == SA_OK) {
            if ((r.bytes != NULL) == (r.path != NULL) || r.n > (1 << 16)) abort();
            sa__register_req_free(&r);
        }
        break;
    }
    case 4: {
        sa__cvat_req r;
        if (sa__parse_cvat(body, n, 1 << 16, 16, &r, &err) == SA_OK) {
            if (!r.image || r.n_clicks > 16 || (!r.n_clicks && !r.has_box)) abort();
            if (r.has_box && (r.box.x1 < r.box.x0 || r.box.y1 < r.box.y0)) abort();
            sa__cvat_req_free(&r);
        }
        break;
    }
    default: {
        uint8_t *out = NULL;
        size_t on = 0;
        if (sa__base64_decode(body, n, 1 << 16, &out, &on, &err) == SA_OK) {
            if (on > (1 << 16) || on > n) abort();
            free(out);
        }
        break;
    }
    }
    return 0;
}
