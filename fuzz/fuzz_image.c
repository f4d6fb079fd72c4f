/* libFuzzer target for the image decoders (PNG, JPEG, BMP picked by magic bytes), in both output
 * modes, plus a PNG re-encode round trip of every small image that decodes.
 *
 *   make fuzz && ./build-fuzz/fuzz/fuzz_image -max_total_time=60 fuzz/corpus/image
 *
 * Seeds in fuzz/corpus/image: tiny files of every layout the decoders handle (PNG grey / grey+alpha
 * / palette+tRNS / RGB / RGBA16 / interlaced, JPEG baseline / progressive / grey / CMYK written
 * with libpng and libjpeg, BMP 1/4/8-bit palette, 16/24/32-bit, bit fields, V5 header, RLE8, RLE4
 * written byte by byte). Inputs claiming more pixels than they can hold are refused before
 * allocation, so the default libFuzzer memory limit is not hit by legitimate rejects. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_codecs.h"
#include "segagent/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_image img = {0};
    sa_error err = {0};
    if (sa_image_decode(data, size, &img, &err) == SA_OK) {
        /* touch every byte so a short buffer shows up under ASan */
        size_t n = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
        unsigned s = 0;
        for (size_t i = 0; i < n; i++)
            s += img.data[i];
        if (img.channels != 3 || (s == 0xFFFFFFFFu && n == 0)) __builtin_trap();
        /* the encoders and the overlay must accept whatever the decoders produce (small images
         * only) */
        if (n <= 64 * 64 * 3) {
            uint8_t *out = NULL;
            size_t out_n = 0;
            if (sa_image_encode_png(&img, &out, &out_n, &err) != SA_OK) __builtin_trap();
            sa_image back = {0};
            if (sa_image_decode(out, out_n, &back, &err) != SA_OK) __builtin_trap();
            if (memcmp(back.data, img.data, n) != 0) __builtin_trap();
            sa_image_free(&back);
            free(out);
        }
    } else if (img.data || err.msg[0] == '\0') {
        __builtin_trap();
    }
    sa_image_free(&img);
    /* values mode (masks): each codec checks its own magic, so all three can be tried on every
     * input */
    int (*const dec[3])(const uint8_t *, size_t, int, sa_image *,
                        sa_error *) = {sa__png_decode, sa__jpeg_decode, sa__bmp_decode};
    for (int k = 0; k < 3; k++) {
        sa_image v = {0};
        int rc = dec[k](data, size, SA__DECODE_VALUES, &v, &err);
        if (rc == SA_OK && (v.channels != 1 || !v.data)) __builtin_trap();
        if (rc != SA_OK && v.data) __builtin_trap();
        sa_image_free(&v);
    }
    return 0;
}
