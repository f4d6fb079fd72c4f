/* Label Studio brush RLE (src/server/brush.c): the encoder against a reference written the way
 * label-studio-converter's encode_rle is (a string of '0'/'1' characters, every group written as a
 * run, padded with 8 - len % 8 zeros), round trips on random and structured masks (runs longer than
 * 65536 values included), a hand-checked 1x1 stream, and decoding of bad streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/brush.h"
#include "testutil.h"

static void put(char *s, size_t *n, unsigned v, int bits) {
    for (int i = bits - 1; i >= 0; i--)
        s[(*n)++] = (char)('0' + ((v >> i) & 1u));
}

/* The reference: groups over the RGBA value array, each written as in encode_rle. */
static unsigned char *reference(const sa_mask *m, size_t *out_n) {
    size_t vals = (size_t)m->width * (size_t)m->height * 4;
    char *s = malloc(vals * 30 + 128);
    size_t n = 0;
    put(s, &n, (unsigned)vals, 32);
    put(s, &n, 7, 5);
    put(s, &n, 2, 4);
    put(s, &n, 3, 4);
    put(s, &n, 7, 4);
    put(s, &n, 15, 4);
    size_t i = 0;
    while (i < vals) {
        unsigned v = m->data[i / 4] ? 255 : 0;
        size_t j = i + 1;
        while (j < vals && (m->data[j / 4] ? 255u : 0u) == v)
            j++;
        size_t len = j - i;
        if (len == 1) {
            put(s, &n, 0, 1), put(s, &n, 0, 2), put(s, &n, 0, 3);
        } else if (len <= 8) {
            put(s, &n, 1, 1), put(s, &n, 0, 2), put(s, &n, (unsigned)(len - 1), 3);
        } else if (len <= 16) {
            put(s, &n, 1, 1), put(s, &n, 1, 2), put(s, &n, (unsigned)(len - 1), 4);
        } else if (len <= 256) {
            put(s, &n, 1, 1), put(s, &n, 2, 2), put(s, &n, (unsigned)(len - 1), 8);
        } else {
            while (len > 65536) {
                put(s, &n, 1, 1), put(s, &n, 3, 2), put(s, &n, 65535, 16), put(s, &n, v, 8);
                len -= 65536;
            }
            put(s, &n, 1, 1), put(s, &n, 3, 2), put(s, &n, (unsigned)(len - 1), 16);
        }
        put(s, &n, v, 8);
        i = j;
    }
    size_t pad = 8 - n % 8;
    for (size_t k = 0; k < pad; k++)
        s[n++] = '0';
    unsigned char *b = calloc(n / 8, 1);
    for (size_t k = 0; k < n; k++)
        if (s[k] == '1') b[k / 8] |= (unsigned char)(0x80u >> (k % 8));
    free(s);
    *out_n = n / 8;
    return b;
}

static void check_mask(const sa_mask *m, const char *what) {
    sa_error err = {0};
    uint8_t *enc = NULL;
    size_t n = 0;
    CHECKF(sa__brush_encode(m, &enc, &n, &err) == SA_OK, "%s: %s", what, err.msg);
    size_t rn = 0;
    unsigned char *ref = reference(m, &rn);
    CHECKF(n == rn && enc && memcmp(enc, ref, n) == 0,
           "%s: encoder differs from the reference (%zu vs %zu bytes)", what, n, rn);
    sa_mask d = {0};
    CHECKF(sa__brush_decode(enc, n, m->width, m->height, &d, &err) == SA_OK, "%s: %s", what,
           err.msg);
    int same = d.data != NULL;
    for (size_t i = 0; same && i < (size_t)m->width * (size_t)m->height; i++)
        same = (d.data[i] != 0) == (m->data[i] != 0);
    CHECKF(same, "%s: round trip differs", what);
    /* truncations are refused, never read past the end */
    for (size_t cut = 0; cut < n; cut += 1 + n / 7) {
        sa_mask t = {0};
        int rc = sa__brush_decode(enc, cut, m->width, m->height, &t, &err);
        /* only the padding may go: at most the last byte */
        CHECKF(rc == SA_ERR_FORMAT ? !t.data : (rc == SA_OK && cut == n - 1),
               "%s: cut at %zu of %zu: %d", what, cut, n, rc);
        sa_mask_free(&t);
    }
    sa_mask_free(&d);
    free(enc);
    free(ref);
}

int main(void) {
    sa_error err = {0};
    sa_mask m = {0};
    /* 1x1 set: count 4, word 7, sizes 3/4/8/16, then a run of 4 of 255: 67 bits, padded to 72 */
    CHECK(sa_mask_new(&m, 1, 1, &err) == SA_OK);
    m.data[0] = 1;
    uint8_t *enc = NULL;
    size_t n = 0;
    CHECK(sa__brush_encode(&m, &enc, &n, &err) == SA_OK);
    static const uint8_t want[9] = {0x00, 0x00, 0x00, 0x04, 0x39, 0x1B, 0xFC, 0x7F, 0xE0};
    CHECKF(n == 9 && enc && memcmp(enc, want, 9) == 0,
           "1x1 stream: %zu bytes %02x %02x %02x %02x %02x", n, enc ? enc[4] : 0, enc ? enc[5] : 0,
           enc ? enc[6] : 0, enc ? enc[7] : 0, enc ? enc[8] : 0);
    free(enc);
    check_mask(&m, "1x1");
    sa_mask_free(&m);

    uint64_t rng = 12345;
    const int sizes[][2] = {{7, 5}, {64, 48}, {33, 17}, {200, 200}, {301, 250}};
    for (int s = 0; s < 5; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        CHECK(sa_mask_new(&m, w, h, &err) == SA_OK);
        char what[64];
        /* structured: a disc (long runs, > 65536 values at 200x200 outside it) */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                m.data[y * w + x] =
                    (uint8_t)((x - w / 2) * (x - w / 2) + (y - h / 3) * (y - h / 3) < w * h / 16);
        snprintf(what, sizeof what, "disc %dx%d", w, h);
        check_mask(&m, what);
        /* random: many single pixels and short runs */
        for (int i = 0; i < w * h; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            m.data[i] = (uint8_t)((rng >> 40) % 3 == 0);
        }
        snprintf(what, sizeof what, "random %dx%d", w, h);
        check_mask(&m, what);
        memset(m.data, 0, (size_t)w * (size_t)h);
        snprintf(what, sizeof what, "empty %dx%d", w, h);
        check_mask(&m, what);
        memset(m.data, 1, (size_t)w * (size_t)h);
        snprintf(what, sizeof what, "full %dx%d", w, h);
        check_mask(&m, what);
        sa_mask_free(&m);
    }

    /* bad streams */
    CHECK(sa_mask_new(&m, 4, 4, &err) == SA_OK);
    CHECK(sa__brush_encode(&m, &enc, &n, &err) == SA_OK);
    sa_mask d = {0};
    CHECK(sa__brush_decode(enc, n, 5, 4, &d, &err) == SA_ERR_FORMAT &&
          !d.data);                                                   /* count of another size */
    CHECK(sa__brush_decode(enc, 3, 4, 4, &d, &err) == SA_ERR_FORMAT); /* truncated header */
    uint8_t bad[16] = {0x00, 0x00, 0x00, 0x40, 0x39, 0x1B, 0xFF, 0xFF,
                       0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK(sa__brush_decode(bad, sizeof bad, 4, 4, &d, &err) == SA_ERR_FORMAT &&
          !d.data);                                                     /* run past the end */
    uint8_t wide[8] = {0x00, 0x00, 0x00, 0x40, 0xF9, 0x1B, 0xFF, 0xFF}; /* word size 32 */
    CHECK(sa__brush_decode(wide, sizeof wide, 4, 4, &d, &err) == SA_ERR_FORMAT);
    CHECK(sa__brush_decode(enc, n, 0, 4, &d, &err) == SA_ERR_INVALID);
    free(enc);
    sa_mask_free(&m);
    return tu_finish("test_brush");
}
