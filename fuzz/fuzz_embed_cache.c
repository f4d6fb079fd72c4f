/* libFuzzer target for the embedding-cache file reader (src/tools/embed_cache.h). Byte 0 of the input is a
 * control byte, the rest the file: bit 0 recomputes both checksums before parsing (so the fuzzer gets past them to
 * the field checks), bit 1 takes the expected keys and shape from the file's own header (shape capped at 64K
 * floats) instead of a fixed 40x30 image as 4x4x8. A file that is accepted must encode back to the same bytes.
 * Seeds: fuzz/corpus/embed_cache (written by tests/test_embed_cache.c's format: make one with
 * sa__embed_file_encode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/embed_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int32_t rd32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int ctl = data[0];
    size_t len = size - 1;
    unsigned char *f = malloc(len ? len : 1);
    if (!f) return 0;
    memcpy(f, data + 1, len);
    if ((ctl & 1) && len >= SA__EMBED_HEADER_BYTES) {
        uint64_t ps = sa__hash64(f + SA__EMBED_HEADER_BYTES, len - SA__EMBED_HEADER_BYTES);
        memcpy(f + 88, &ps, 8);
        uint64_t hs = sa__hash64(f, 96);
        memcpy(f + 96, &hs, 8);
    }
    sa__embed_key key = {{1, 2}, {3, 4}};
    sa__embed_info want = {.width = 40, .height = 30, .grid_h = 4, .grid_w = 4, .chans = 8};
    if ((ctl & 2) && len >= SA__EMBED_HEADER_BYTES) {
        key.model[0] = rd64(f + 16), key.model[1] = rd64(f + 24);
        key.image[0] = rd64(f + 32), key.image[1] = rd64(f + 40);
        want = (sa__embed_info){.width = rd32(f + 48),
                                .height = rd32(f + 52),
                                .grid_h = rd32(f + 64),
                                .grid_w = rd32(f + 68),
                                .chans = rd32(f + 72)};
        if (want.grid_h <= 0 || want.grid_w <= 0 || want.chans <= 0 || want.grid_h > 256 ||
            want.grid_w > 256 || want.chans > 256 ||
            (int64_t)want.grid_h * want.grid_w * want.chans > 65536) {
            want.grid_h = want.grid_w = 4;
            want.chans = 8;
        }
    }
    sa__embed e;
    sa_error err = {0};
    if (sa__embed_file_parse(f, len, &key, &want, "<fuzz>", &e, &err) == SA_OK) {
        if (!e.data) abort();
        size_t n2 = 0;
        unsigned char *back = sa__embed_file_encode(&e, &n2);
        if (!back || n2 != len || memcmp(back, f, len) != 0) abort();
        free(back);
        free(e.data);
    } else if (e.data || !err.msg[0]) {
        abort();
    }
    free(f);
    return 0;
}
