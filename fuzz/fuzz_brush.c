/* libFuzzer target for Label Studio's brush RLE decoder (src/server/brush.c): bytes 0 and 1 give
 * the width and height (1..64), the rest is the stream. A stream that decodes must re-encode to one
 * that decodes to the same mask. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/brush.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int w = 1 + data[0] % 64, h = 1 + data[1] % 64;
    sa_error err = {0};
    sa_mask m = {0};
    if (sa__brush_decode(data + 2, size - 2, w, h, &m, &err) != SA_OK) {
        if (m.data) abort();
        return 0;
    }
    uint8_t *enc = NULL;
    size_t n = 0;
    if (sa__brush_encode(&m, &enc, &n, &err) != SA_OK) abort();
    sa_mask back = {0};
    if (sa__brush_decode(enc, n, w, h, &back, &err) != SA_OK) abort();
    if (memcmp(back.data, m.data, (size_t)w * (size_t)h) != 0) abort();
    sa_mask_free(&back);
    sa_mask_free(&m);
    free(enc);
    return 0;
}
