/* Image module tests that need no shared data: allocation and copy, the overlay formula, every PNG
 * colour type (written here with libpng), hand-built BMPs of every supported layout, JPEG grey /
 * colour / CMYK, encode -> decode round trips, the bilinear resize on hand-computed cases, and bad
 * input (missing, truncated, garbage, huge or zero sizes, random corruptions): every error is a
 * non-zero status and a message naming the file, never a crash (the ASan build runs this too).
 * Saves are all or nothing: a failed save leaves neither a partial file nor a temporary one. */
#include <dirent.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "segagent/image.h"
#include "testutil.h"

static char *g_tmp;

static char *tmp_path(const char *name) {
    size_t n = strlen(g_tmp) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", g_tmp, name);
    return p;
}

static void write_bytes(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static uint32_t rng_state = 12345u;
static uint32_t rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void fill_random(sa_image *img) {
    size_t n = (size_t)img->width * img->height * img->channels;
    for (size_t i = 0; i < n; i++)
        img->data[i] = (uint8_t)rnd();
}

/* A smooth image (JPEG-friendly). */
static void fill_smooth(sa_image *img) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            for (int c = 0; c < img->channels; c++)
                img->data[((size_t)y * img->width + x) * img->channels + c] =
                    (uint8_t)(x * 2 + y + c * 30);
}

/* ---------------------------------------------------------------- core */

static void test_core(void) {
    sa_image a = {0}, b = {0};
    sa_error err = {0};
    CHECK(sa_image_new(&a, 4, 3, 3, &err) == SA_OK);
    CHECK(a.width == 4 && a.height == 3 && a.channels == 3 && a.data);
    for (int i = 0; i < 36; i++)
        CHECK(a.data[i] == 0);
    fill_random(&a);
    CHECK(sa_image_copy(&a, &b, &err) == SA_OK);
    CHECK(b.data != a.data && memcmp(a.data, b.data, 36) == 0);
    sa_image_free(&a);
    sa_image_free(&b);
    CHECK(a.data == NULL && a.width == 0);
    sa_image_free(&a); /* twice: no-op */
    sa_image_free(NULL);
    CHECK(sa_image_new(&a, 0, 3, 3, &err) != SA_OK);
    CHECK(sa_image_new(&a, 3, 3, 2, &err) == SA_ERR_INVALID);
    CHECK(sa_image_new(&a, SA_IMAGE_MAX_SIDE + 1, 1, 1, &err) == SA_ERR_RANGE);
    CHECK(sa_image_new(&a, SA_IMAGE_MAX_SIDE, SA_IMAGE_MAX_SIDE, 1, &err) == SA_ERR_RANGE);
    CHECK(a.data == NULL);
}

/* ---------------------------------------------------------------- overlay */

static void test_overlay(void) {
    sa_image img = {0}, out = {0};
    sa_error err = {0};
    CHECK(sa_image_new(&img, 3, 2, 3, NULL) == SA_OK);
    const uint8_t px[18] = {0,   0,   0,   255, 255, 255, 1,   2,   3,
                            100, 101, 102, 7,   200, 9,   254, 253, 252};
    memcpy(img.data, px, 18);
    const uint8_t mask[6] = {1, 1, 1, 0, 1, 1};
    CHECK(sa_image_copy(&img, &out, NULL) == SA_OK);
    sa_overlay_style st = sa_overlay_default_style();
    CHECK(st.color[0] == 0 && st.color[1] == 255 && st.color[2] == 0 && st.alpha == 0.5f);
    CHECK(sa_image_overlay(&img, mask, st, &out, &err) == SA_OK);
    /* out = floor(0.5*p + 0.5*c), computed here by hand */
    const uint8_t want[18] = {0,   127, 0,   127, 255, 127, 0,   128, 1,
                              100, 101, 102, 3,   227, 4,   127, 254, 126};
    for (int i = 0; i < 18; i++)
        CHECKF(out.data[i] == want[i], "overlay byte %d: %d != %d", i, out.data[i], want[i]);
    /* in place gives the same */
    CHECK(sa_image_overlay(&img, mask, st, &img, &err) == SA_OK);
    CHECK(memcmp(img.data, want, 18) == 0);
    /* another alpha and colour: floor(0.25*p + 0.75*c) */
    memcpy(img.data, px, 18);
    st.alpha = 0.25f;
    st.color[0] = 255, st.color[1] = 0, st.color[2] = 10;
    CHECK(sa_image_overlay(&img, mask, st, &out, &err) == SA_OK);
    for (int i = 0; i < 18; i++) {
        int p = px[i], c = st.color[i % 3];
        int w = mask[i / 3] ? (p + 3 * c) / 4 : p; /* exact: quarters */
        CHECKF(out.data[i] == w, "alpha 0.25 byte %d: %d != %d", i, out.data[i], w);
    }
    /* bad arguments */
    sa_image small = {0};
    CHECK(sa_image_new(&small, 2, 2, 3, NULL) == SA_OK);
    CHECK(sa_image_overlay(&img, mask, st, &small, &err) == SA_ERR_RANGE);
    CHECK(sa_image_overlay(&img, NULL, st, &out, &err) == SA_ERR_INVALID);
    st.alpha = 1.5f;
    CHECK(sa_image_overlay(&img, mask, st, &out, &err) == SA_ERR_RANGE);
    sa_image_free(&small);
    sa_image_free(&img);
    sa_image_free(&out);
}

/* ---------------------------------------------------------------- PNG colour types */

typedef struct mem_png {
    uint8_t *p;
    size_t n, cap;
} mem_png;

static void mem_png_write(png_structp png, png_bytep d, size_t len) {
    mem_png *m = png_get_io_ptr(png);
    if (m->n + len > m->cap) {
        m->cap = (m->n + len) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p) exit(1);
    }
    memcpy(m->p + m->n, d, len);
    m->n += len;
}
static void mem_png_flush(png_structp png) {
    (void)png;
}

/* Writes a PNG of the given type from packed rows (rowbytes each) into memory. */
static mem_png make_png(int w, int h, int depth, int ctype, int interlace, const uint8_t *rows,
                        size_t rowbytes, const png_color *pal, int npal) {
    mem_png m = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng write failed\n");
        exit(1);
    }
    png_set_write_fn(png, &m, mem_png_write, mem_png_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++)
            png_write_row(png, rows + rowbytes * (size_t)y);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return m;
}

/* Decodes buf both ways and compares with expected RGB and values. */
static void check_decode(const char *what, const uint8_t *buf, size_t n, int w, int h,
                         const uint8_t *rgb, const uint8_t *vals) {
    sa_image img = {0};
    sa_error err = {0};
    int rc = sa_image_decode(buf, n, &img, &err);
    CHECKF(rc == SA_OK, "%s: decode failed: %s", what, err.msg);
    if (rc == SA_OK) {
        CHECKF(img.width == w && img.height == h && img.channels == 3, "%s: got %dx%dx%d", what,
               img.width, img.height, img.channels);
        if (img.width == w && img.height == h) {
            int bad = 0;
            for (int i = 0; i < w * h * 3; i++)
                bad += img.data[i] != rgb[i];
            CHECKF(bad == 0, "%s: %d RGB bytes differ", what, bad);
        }
    }
    sa_image_free(&img);
    if (!vals) return;
    /* values go through the file API */
    char *path = tmp_path("values.bin");
    write_bytes(path, buf, n);
    rc = sa_image_load_values(path, &img, &err);
    CHECKF(rc == SA_OK, "%s: load_values failed: %s", what, err.msg);
    if (rc == SA_OK) {
        CHECKF(img.width == w && img.height == h && img.channels == 1, "%s: values %dx%dx%d", what,
               img.width, img.height, img.channels);
        if (img.width == w && img.height == h) {
            int bad = 0;
            for (int i = 0; i < w * h; i++)
                bad += img.data[i] != vals[i];
            CHECKF(bad == 0, "%s: %d values differ", what, bad);
        }
    }
    sa_image_free(&img);
    free(path);
}

static void test_png_types(void) {
    enum { W = 7, H = 5 };
    uint8_t rows[W * H * 8], rgb[W * H * 3], vals[W * H];
    png_color pal[6] = {{0, 0, 0},   {255, 0, 0},  {0, 255, 0},
                        {0, 0, 255}, {10, 20, 30}, {200, 100, 50}};

    /* 8-bit grey, plain and interlaced */
    for (int il = 0; il < 2; il++) {
        for (int i = 0; i < W * H; i++) {
            uint8_t v = (uint8_t)(i * 37 + 3);
            rows[i] = v, vals[i] = v, rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
        }
        mem_png m = make_png(W, H, 8, PNG_COLOR_TYPE_GRAY,
                             il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, rows, W, NULL, 0);
        check_decode(il ? "png grey8 interlaced" : "png grey8", m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
    /* 1-bit grey: 0/1 -> 0/255 */
    {
        size_t rb = (W + 7) / 8;
        memset(rows, 0, sizeof rows);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int bit = (x + y) & 1, i = y * W + x;
                if (bit) rows[y * rb + x / 8] |= (uint8_t)(0x80 >> (x % 8));
                vals[i] = bit ? 255 : 0;
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = vals[i];
            }
        mem_png m = make_png(W, H, 1, PNG_COLOR_TYPE_GRAY, 0, rows, rb, NULL, 0);
        check_decode("png grey1", m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
    /* 16-bit grey with large values (high byte) and with small values (kept in values mode) */
    for (int small = 0; small < 2; small++) {
        for (int i = 0; i < W * H; i++) {
            unsigned v8 = (unsigned)(i * 29 + 1) & 255u;
            unsigned s = small ? (i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 128) : v8 * 257u;
            rows[2 * i] = (uint8_t)(s >> 8), rows[2 * i + 1] = (uint8_t)s;
            /* png_set_scale_16: round(s * 255 / 65535) */
            uint8_t r = (uint8_t)((s * 255u + 32767u) / 65535u);
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = r;
            vals[i] = small ? (uint8_t)s : (uint8_t)v8;
        }
        mem_png m = make_png(W, H, 16, PNG_COLOR_TYPE_GRAY, 0, rows, 2 * W, NULL, 0);
        check_decode(small ? "png grey16 small" : "png grey16", m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
    /* grey + alpha: alpha dropped */
    {
        for (int i = 0; i < W * H; i++) {
            uint8_t v = (uint8_t)(i * 11);
            rows[2 * i] = v, rows[2 * i + 1] = (uint8_t)(i * 5);
            vals[i] = v, rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
        }
        mem_png m = make_png(W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, rows, 2 * W, NULL, 0);
        check_decode("png grey+alpha", m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
    /* palette 8-bit and 2-bit: values are indices */
    for (int depth = 8; depth >= 2; depth -= 6) {
        int np = depth == 8 ? 6 : 4;
        size_t rb = depth == 8 ? W : (W * 2 + 7) / 8;
        memset(rows, 0, sizeof rows);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int i = y * W + x, idx = (x * 3 + y) % np;
                if (depth == 8)
                    rows[y * rb + x] = (uint8_t)idx;
                else
                    rows[y * rb + x / 4] |= (uint8_t)(idx << (6 - 2 * (x % 4)));
                vals[i] = (uint8_t)idx;
                rgb[3 * i] = pal[idx].red, rgb[3 * i + 1] = pal[idx].green,
                        rgb[3 * i + 2] = pal[idx].blue;
            }
        mem_png m = make_png(W, H, depth, PNG_COLOR_TYPE_PALETTE, 0, rows, rb, pal, np);
        check_decode(depth == 8 ? "png palette8" : "png palette2", m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
    /* RGB and RGBA 8-bit, RGB 16-bit: values = max(R,G,B) */
    for (int kind = 0; kind < 3; kind++) {
        int ch = kind == 1 ? 4 : 3, bytes = kind == 2 ? 2 : 1;
        for (int i = 0; i < W * H; i++) {
            uint8_t c[3] = {(uint8_t)(i * 7), (uint8_t)(255 - i * 3), (uint8_t)(i * 13 + 5)};
            for (int k = 0; k < ch; k++) {
                uint8_t v = k < 3 ? c[k] : (uint8_t)(i * 9);
                if (bytes == 1) {
                    rows[i * ch + k] = v;
                } else {
                    rows[2 * (i * ch + k)] = v, rows[2 * (i * ch + k) + 1] = v; /* v * 257 */
                }
            }
            memcpy(rgb + 3 * i, c, 3);
            vals[i] = c[0] > c[1] ? (c[0] > c[2] ? c[0] : c[2]) : (c[1] > c[2] ? c[1] : c[2]);
        }
        mem_png m =
            make_png(W, H, bytes * 8, ch == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, 0,
                     rows, (size_t)W * ch * bytes, NULL, 0);
        check_decode(kind == 0   ? "png rgb8"
                     : kind == 1 ? "png rgba8"
                                 : "png rgb16",
                     m.p, m.n, W, H, rgb, vals);
        free(m.p);
    }
}

/* ---------------------------------------------------------------- BMP layouts */

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

/* Builds a BMP: header size hs (12, 40, 108, 124), extra bytes after the header (bit masks for hs
 * 40), a palette of npal BGRX entries (BGR for hs 12), then the pixel bytes. Returns the length. */
static size_t make_bmp(uint8_t *out, uint32_t hs, int32_t w, int32_t h, int bpp, uint32_t comp,
                       const uint32_t *masks, const uint8_t *pal_bgr, int npal, const uint8_t *pix,
                       size_t npix) {
    size_t es = hs == 12 ? 3 : 4;
    size_t extra = (hs == 40 && comp == 3) ? 12 : 0;
    size_t off = 14 + hs + extra + es * (size_t)npal;
    memset(out, 0, off);
    out[0] = 'B', out[1] = 'M';
    put32(out + 2, (uint32_t)(off + npix));
    put32(out + 10, (uint32_t)off);
    put32(out + 14, hs);
    if (hs == 12) {
        put16(out + 18, (uint32_t)w), put16(out + 20, (uint32_t)h), put16(out + 22, 1),
            put16(out + 24, (uint32_t)bpp);
    } else {
        put32(out + 18, (uint32_t)w), put32(out + 22, (uint32_t)h), put16(out + 26, 1),
            put16(out + 28, (uint32_t)bpp);
        put32(out + 30, comp);
        put32(out + 34, (uint32_t)npix);
        put32(out + 46, (uint32_t)npal);
        if (comp == 3) {
            uint8_t *m =
                hs == 40 ? out + 54 : out + 54; /* after the 40-byte part, in or after the header */
            put32(m, masks[0]), put32(m + 4, masks[1]), put32(m + 8, masks[2]);
        }
    }
    uint8_t *p = out + 14 + hs + extra;
    for (int i = 0; i < npal; i++) {
        memcpy(p, pal_bgr + 3 * i, 3);
        p += es;
    }
    memcpy(out + off, pix, npix);
    return off + npix;
}

static void test_bmp_layouts(void) {
    enum { W = 3, H = 2 };
    /* target image, top row first: R G B / W K grey */
    const uint8_t want[W * H * 3] = {255, 0,   0,   0, 255, 0, 0,   0,   255,
                                     255, 255, 255, 0, 0,   0, 128, 128, 128};
    const uint8_t wantv[W * H] = {255, 255, 255, 255, 0, 128};
    uint8_t pix[256], buf[1024];
    size_t n;

    /* 24-bit bottom-up: rows of 9 bytes padded to 12, bottom row first, BGR */
    memset(pix, 0, sizeof pix);
    for (int r = 0; r < H; r++)
        for (int x = 0; x < W; x++) {
            const uint8_t *c = want + ((H - 1 - r) * W + x) * 3;
            pix[r * 12 + 3 * x] = c[2], pix[r * 12 + 3 * x + 1] = c[1],
                             pix[r * 12 + 3 * x + 2] = c[0];
        }
    n = make_bmp(buf, 40, W, H, 24, 0, NULL, NULL, 0, pix, 24);
    check_decode("bmp24 bottom-up", buf, n, W, H, want, wantv);
    n = make_bmp(buf, 12, W, H, 24, 0, NULL, NULL, 0, pix, 24);
    check_decode("bmp24 core header", buf, n, W, H, want, wantv);
    n = make_bmp(buf, 124, W, H, 24, 0, NULL, NULL, 0, pix, 24);
    check_decode("bmp24 V5 header", buf, n, W, H, want, wantv);
    /* top-down: the same rows in the other order */
    uint8_t pix2[256];
    memcpy(pix2, pix + 12, 12), memcpy(pix2 + 12, pix, 12);
    n = make_bmp(buf, 40, W, -H, 24, 0, NULL, NULL, 0, pix2, 24);
    check_decode("bmp24 top-down", buf, n, W, H, want, wantv);
    /* truncated by one byte */
    n = make_bmp(buf, 40, W, H, 24, 0, NULL, NULL, 0, pix, 24);
    {
        sa_image img = {0};
        sa_error err = {0};
        /* a missing pad byte of the last row is tolerated; missing pixel bytes are not */
        CHECK(sa_image_decode(buf, n - 3, &img, &err) == SA_OK);
        sa_image_free(&img);
        CHECK(sa_image_decode(buf, n - 4, &img, &err) == SA_ERR_FORMAT && img.data == NULL);
    }

    /* 32-bit BI_RGB (BGRX) and BI_BITFIELDS in a V4 header */
    memset(pix, 0, sizeof pix);
    for (int r = 0; r < H; r++)
        for (int x = 0; x < W; x++) {
            const uint8_t *c = want + ((H - 1 - r) * W + x) * 3;
            uint8_t *p = pix + r * 12 + 4 * x;
            p[0] = c[2], p[1] = c[1], p[2] = c[0], p[3] = 0x5A;
        }
    n = make_bmp(buf, 40, W, H, 32, 0, NULL, NULL, 0, pix, 24);
    check_decode("bmp32", buf, n, W, H, want, wantv);
    const uint32_t m32[3] = {0x00FF0000u, 0x0000FF00u, 0x000000FFu};
    n = make_bmp(buf, 108, W, H, 32, 3, m32, NULL, 0, pix, 24);
    check_decode("bmp32 bitfields V4", buf, n, W, H, want, wantv);
    /* 32-bit bitfields with an unusual layout: R in the low byte, B in the high byte */
    const uint32_t m32b[3] = {0x000000FFu, 0x0000FF00u, 0xFF000000u};
    for (int r = 0; r < H; r++)
        for (int x = 0; x < W; x++) {
            const uint8_t *c = want + ((H - 1 - r) * W + x) * 3;
            uint8_t *p = pix + r * 12 + 4 * x;
            p[0] = c[0], p[1] = c[1], p[2] = 0x77, p[3] = c[2];
        }
    n = make_bmp(buf, 40, W, H, 32, 3, m32b, NULL, 0, pix, 24);
    check_decode("bmp32 bitfields RxxB", buf, n, W, H, want, wantv);

    /* 16-bit 565 bitfields (masks after a 40-byte header) and 555 BI_RGB; grey 128 becomes 132 /
     * 130 */
    for (int kind = 0; kind < 2; kind++) {
        uint8_t w16[W * H * 3], v16[W * H];
        memcpy(w16, want, sizeof w16);
        memcpy(v16, wantv, sizeof v16);
        memset(pix, 0, sizeof pix);
        for (int r = 0; r < H; r++)
            for (int x = 0; x < W; x++) {
                int i = (H - 1 - r) * W + x;
                const uint8_t *c = want + i * 3;
                uint32_t v;
                if (kind == 0) {
                    v = (uint32_t)(c[0] >> 3) << 11 | (uint32_t)(c[1] >> 2) << 5 |
                        (uint32_t)(c[2] >> 3);
                } else {
                    v = (uint32_t)(c[0] >> 3) << 10 | (uint32_t)(c[1] >> 3) << 5 |
                        (uint32_t)(c[2] >> 3);
                }
                put16(pix + r * 8 + 2 * x, v);
                if (c[0] == 128) {
                    /* 5 bits: 16 -> round(16*255/31) = 132; 6 bits: 32 -> round(32*255/63) = 130 */
                    w16[i * 3] = w16[i * 3 + 2] = 132;
                    w16[i * 3 + 1] = kind == 0 ? 130 : 132;
                    v16[i] = 132;
                }
            }
        const uint32_t m565[3] = {0xF800u, 0x07E0u, 0x001Fu};
        n = make_bmp(buf, 40, W, H, 16, kind == 0 ? 3 : 0, m565, NULL, 0, pix, 16);
        check_decode(kind == 0 ? "bmp16 565" : "bmp16 555", buf, n, W, H, w16, v16);
    }

    /* palettes: 8-bit, 4-bit, 1-bit. Palette order differs from index order on purpose. */
    const uint8_t pal_bgr[6 * 3] = {0,   0, 0, 0,   0,   255, 0,   255, 0,
                                    255, 0, 0, 255, 255, 255, 128, 128, 128};
    const uint8_t idx[W * H] = {1, 2, 3, 4, 0, 5}; /* top row first */
    for (int bpp = 8; bpp >= 4; bpp -= 4) {
        memset(pix, 0, sizeof pix);
        for (int r = 0; r < H; r++)
            for (int x = 0; x < W; x++) {
                uint8_t v = idx[(H - 1 - r) * W + x];
                if (bpp == 8)
                    pix[r * 4 + x] = v;
                else
                    pix[r * 4 + x / 2] |= (uint8_t)(x % 2 ? v : v << 4);
            }
        n = make_bmp(buf, 40, W, H, bpp, 0, NULL, pal_bgr, 6, pix, 8);
        check_decode(bpp == 8 ? "bmp8 palette" : "bmp4 palette", buf, n, W, H, want, idx);
    }
    {
        const uint8_t pal2[2 * 3] = {0, 0, 0, 200, 100, 50}; /* BGR: index 1 = RGB (50, 100, 200) */
        const uint8_t bits[W * H] = {1, 0, 1, 0, 1, 1};
        uint8_t w1[W * H * 3];
        for (int i = 0; i < W * H; i++) {
            w1[3 * i] = bits[i] ? 50 : 0, w1[3 * i + 1] = bits[i] ? 100 : 0,
                   w1[3 * i + 2] = bits[i] ? 200 : 0;
        }
        memset(pix, 0, sizeof pix);
        for (int r = 0; r < H; r++)
            for (int x = 0; x < W; x++)
                if (bits[(H - 1 - r) * W + x]) pix[r * 4] |= (uint8_t)(0x80 >> x);
        n = make_bmp(buf, 40, W, H, 1, 0, NULL, pal2, 2, pix, 8);
        check_decode("bmp1 palette", buf, n, W, H, w1, bits);
    }

    /* RLE8: bottom row "5 5 5" as an encoded run, then end of line; top row as an absolute run "1 2
     * 3" (odd length: one pad byte); end of bitmap. RLE4: the same picture. */
    {
        const uint8_t idx_rle[W * H] = {1, 2, 3, 5, 5, 5};
        uint8_t w_rle[W * H * 3];
        for (int i = 0; i < W * H; i++) {
            const uint8_t *p = pal_bgr + 3 * idx_rle[i];
            w_rle[3 * i] = p[2], w_rle[3 * i + 1] = p[1], w_rle[3 * i + 2] = p[0];
        }
        const uint8_t rle8[] = {3, 5, 0, 0, 0, 3, 1, 2, 3, 0, 0, 1};
        n = make_bmp(buf, 40, W, H, 8, 1, NULL, pal_bgr, 6, rle8, sizeof rle8);
        check_decode("bmp RLE8", buf, n, W, H, w_rle, idx_rle);
        const uint8_t rle4[] = {3, 0x55, 0, 0, 0, 3, 0x12, 0x30, 0, 1};
        n = make_bmp(buf, 40, W, H, 4, 2, NULL, pal_bgr, 6, rle4, sizeof rle4);
        check_decode("bmp RLE4", buf, n, W, H, w_rle, idx_rle);
        /* delta: skip to (1, 1) then a run of 2; the rest stays index 0 */
        const uint8_t rle8d[] = {0, 2, 1, 1, 2, 4, 0, 1};
        const uint8_t idx_d[W * H] = {0, 4, 4, 0, 0, 0};
        uint8_t w_d[W * H * 3];
        for (int i = 0; i < W * H; i++) {
            const uint8_t *p = pal_bgr + 3 * idx_d[i];
            w_d[3 * i] = p[2], w_d[3 * i + 1] = p[1], w_d[3 * i + 2] = p[0];
        }
        n = make_bmp(buf, 40, W, H, 8, 1, NULL, pal_bgr, 6, rle8d, sizeof rle8d);
        check_decode("bmp RLE8 delta", buf, n, W, H, w_d, idx_d);
        /* truncated RLE stream */
        n = make_bmp(buf, 40, W, H, 8, 1, NULL, pal_bgr, 6, rle8, 7);
        sa_image img = {0};
        sa_error err = {0};
        CHECK(sa_image_decode(buf, n, &img, &err) == SA_ERR_FORMAT && img.data == NULL);
        /* a run far past the row end is clipped, not written out of bounds */
        const uint8_t rle8long[] = {255, 1, 255, 2, 0, 2, 200, 200, 0, 1};
        n = make_bmp(buf, 40, W, H, 8, 1, NULL, pal_bgr, 6, rle8long, sizeof rle8long);
        CHECK(sa_image_decode(buf, n, &img, &err) == SA_OK);
        sa_image_free(&img);
    }
}

/* ---------------------------------------------------------------- JPEG */

static uint8_t *make_cmyk_jpeg(int w, int h, const uint8_t *cmyk, size_t *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long outn = 0;
    jpeg_mem_dest(&c, &out, &outn);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h, c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(cmyk + (size_t)c.next_scanline * w * 4);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = outn;
    return out;
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

static void test_jpeg(void) {
    sa_image img = {0}, back = {0}, vals = {0};
    sa_error err = {0};
    uint8_t *buf = NULL;
    size_t n = 0;
    /* colour round trip, quality 95 */
    CHECK(sa_image_new(&img, 64, 48, 3, NULL) == SA_OK);
    fill_smooth(&img);
    CHECK(sa_image_encode_jpeg(&img, 95, &buf, &n, &err) == SA_OK && n > 100);
    CHECK(buf && buf[0] == 0xFF && buf[1] == 0xD8);
    CHECK(sa_image_decode(buf, n, &back, &err) == SA_OK);
    CHECK(back.width == 64 && back.height == 48 && back.channels == 3);
    if (back.data) {
        double d = mean_abs_diff(img.data, back.data, 64 * 48 * 3);
        CHECKF(d < 2.0, "JPEG q95 mean abs diff %.3f", d);
    }
    /* lower quality gives a smaller file */
    uint8_t *buf2 = NULL;
    size_t n2 = 0;
    CHECK(sa_image_encode_jpeg(&img, 20, &buf2, &n2, &err) == SA_OK && n2 < n);
    free(buf2);
    /* file variant + values mode: max(R, G, B) of the decoded pixel */
    char *path = tmp_path("rt.jpg");
    CHECK(sa_image_save_jpeg(path, &img, 90, &err) == SA_OK);
    sa_image_free(&back);
    CHECK(sa_image_load(path, &back, &err) == SA_OK);
    CHECK(sa_image_load_values(path, &vals, &err) == SA_OK);
    if (back.data && vals.data) {
        int bad = 0;
        for (int i = 0; i < 64 * 48; i++) {
            const uint8_t *p = back.data + 3 * i;
            uint8_t m = p[0] > p[1] ? p[0] : p[1];
            m = m > p[2] ? m : p[2];
            bad += vals.data[i] != m;
        }
        CHECK(bad == 0);
    }
    sa_image_free(&vals);
    sa_image_free(&back);
    free(buf);
    sa_image_free(&img);
    /* bad quality */
    CHECK(sa_image_new(&img, 8, 8, 3, NULL) == SA_OK);
    CHECK(sa_image_encode_jpeg(&img, 0, &buf, &n, &err) == SA_ERR_RANGE && buf == NULL);
    CHECK(sa_image_save_jpeg(path, &img, 101, &err) == SA_ERR_RANGE);
    CHECKF(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    sa_image_free(&img);
    free(path);

    /* greyscale JPEG: replicated in RGB, grey level in values */
    CHECK(sa_image_new(&img, 40, 30, 1, NULL) == SA_OK);
    fill_smooth(&img);
    CHECK(sa_image_encode_jpeg(&img, 100, &buf, &n, &err) == SA_OK);
    CHECK(sa_image_decode(buf, n, &back, &err) == SA_OK);
    if (back.data) {
        int bad = 0, maxd = 0;
        for (int i = 0; i < 40 * 30; i++) {
            const uint8_t *p = back.data + 3 * i;
            bad += p[0] != p[1] || p[1] != p[2];
            int d = abs((int)p[0] - img.data[i]);
            if (d > maxd) maxd = d;
        }
        CHECK(bad == 0);
        CHECKF(maxd <= 2, "grey JPEG q100 max diff %d", maxd);
    }
    sa_image_free(&back);
    free(buf);
    sa_image_free(&img);

    /* CMYK JPEG (not Adobe-inverted): R = (255-C)(255-K)/255 */
    {
        enum { W = 16, H = 16 };
        uint8_t cmyk[W * H * 4];
        for (int i = 0; i < W * H; i++)
            cmyk[4 * i] = 0, cmyk[4 * i + 1] = 255, cmyk[4 * i + 2] = 0, cmyk[4 * i + 3] = 51;
        uint8_t *cb = make_cmyk_jpeg(W, H, cmyk, &n);
        CHECK(sa_image_decode(cb, n, &back, &err) == SA_OK);
        if (back.data) {
            /* libjpeg writes an Adobe marker for CMYK, so the stored values are taken as inverted:
             * (C,M,Y,K) = (0,255,0,51) read as inverted -> R = 0*51/255 = 0, G = 255*51/255 = 51, B
             * = 0 */
            const uint8_t *p = back.data + 3 * (W * 8 + 8);
            CHECKF(abs(p[0] - 0) <= 2 && abs(p[1] - 51) <= 2 && abs(p[2] - 0) <= 2,
                   "CMYK pixel %d %d %d", p[0], p[1], p[2]);
        }
        sa_image_free(&back);
        free(cb);
    }
}

/* ---------------------------------------------------------------- PNG round trip */

static void test_png_roundtrip(void) {
    for (int ch = 1; ch <= 3; ch += 2) {
        sa_image img = {0}, back = {0};
        sa_error err = {0};
        uint8_t *buf = NULL;
        size_t n = 0;
        CHECK(sa_image_new(&img, 37, 23, ch, NULL) == SA_OK);
        fill_random(&img);
        CHECK(sa_image_encode_png(&img, &buf, &n, &err) == SA_OK);
        if (ch == 3) {
            CHECK(sa_image_decode(buf, n, &back, &err) == SA_OK);
            CHECK(back.channels == 3 && back.width == 37 && back.height == 23);
            CHECK(back.data && memcmp(back.data, img.data, 37 * 23 * 3) == 0);
        } else {
            char *path = tmp_path("rt1.png");
            CHECK(sa_image_save_png(path, &img, &err) == SA_OK);
            CHECK(sa_image_load_values(path, &back, &err) == SA_OK);
            CHECK(back.channels == 1 && back.width == 37 && back.height == 23);
            CHECK(back.data && memcmp(back.data, img.data, 37 * 23) == 0);
            free(path);
        }
        sa_image_free(&back);
        free(buf);
        sa_image_free(&img);
    }
    /* invalid images are refused */
    sa_image bad = {0};
    uint8_t *buf = (uint8_t *)1;
    size_t n = 5;
    sa_error err = {0};
    CHECK(sa_image_encode_png(&bad, &buf, &n, &err) == SA_ERR_INVALID && buf == NULL && n == 0);
    CHECK(sa_image_save_png("/nonexistent-dir/x.png", &bad, &err) == SA_ERR_INVALID);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.png") != NULL);
    sa_image img = {0};
    CHECK(sa_image_new(&img, 2, 2, 3, NULL) == SA_OK);
    CHECK(sa_image_save_png("/nonexistent-dir/x.png", &img, &err) == SA_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.png") != NULL);
    sa_image_free(&img);
}

/* Entries of a directory other than "." and "..". */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_save_all_or_nothing(void) {
    char *dir = tmp_path("saves");
    char *path = tmp_path("saves/a.png"), *sub = tmp_path("saves/sub");
    CHECK(mkdir(dir, 0777) == 0);
    sa_image img = {0}, back = {0};
    sa_error err = {0};
    CHECK(sa_image_new(&img, 5, 4, 3, NULL) == SA_OK);
    fill_random(&img);
    CHECK(sa_image_save_png(path, &img, &err) == SA_OK);
    CHECK(count_entries(dir) == 1);
    /* a failed save over an existing file leaves it as it was */
    CHECK(sa_image_save_jpeg(path, &img, 0, &err) == SA_ERR_RANGE);
    CHECK(sa_image_load(path, &back, &err) == SA_OK && back.data &&
          memcmp(back.data, img.data, 5 * 4 * 3) == 0);
    sa_image_free(&back);
    CHECK(count_entries(dir) == 1);
    /* the final name is a directory: the rename fails and the temporary file is removed */
    CHECK(mkdir(sub, 0777) == 0);
    CHECK(sa_image_save_png(sub, &img, &err) == SA_ERR_IO);
    CHECKF(strstr(err.msg, sub) != NULL, "message does not name the file: %s", err.msg);
    CHECK(sa_image_save_jpeg(sub, &img, 90, &err) == SA_ERR_IO);
    CHECK(count_entries(dir) == 2 && count_entries(sub) == 0);
    sa_image_free(&img);
    free(sub);
    free(path);
    free(dir);
}

/* ---------------------------------------------------------------- resize */

static void test_resize(void) {
    sa_image src = {0}, dst = {0};
    sa_error err = {0};
    /* 2x1 -> 4x1 upsampling by hand: weights (1), (0.75, 0.25), (0.25, 0.75), (1) -> 0, 64, 191,
     * 255 */
    CHECK(sa_image_new(&src, 2, 1, 3, NULL) == SA_OK);
    memset(src.data, 0, 3);
    memset(src.data + 3, 255, 3);
    CHECK(sa_image_resize_bilinear(&src, 4, 1, &dst, &err) == SA_OK);
    const uint8_t want[4] = {0, 64, 191, 255};
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            CHECKF(dst.data && dst.data[3 * i + c] == want[i], "upsample %d", i);
    sa_image_free(&dst);
    /* vertical only: 1x2 -> 1x4 gives the same column */
    sa_image col = {0};
    CHECK(sa_image_new(&col, 1, 2, 3, NULL) == SA_OK);
    memset(col.data + 3, 255, 3);
    CHECK(sa_image_resize_bilinear(&col, 1, 4, &dst, &err) == SA_OK);
    for (int i = 0; i < 4; i++)
        CHECK(dst.data && dst.data[3 * i + 1] == want[i]);
    sa_image_free(&dst);
    sa_image_free(&col);
    sa_image_free(&src);
    /* 4x1 -> 2x1 shrinking (antialiased, support 2): output 0 centre 1.0 reads inputs 0..2 with
     * weights tri(-0.5/2), tri(0.5/2), tri(1.5/2) = 0.75, 0.75, 0.25 (sum 1.75) */
    CHECK(sa_image_new(&src, 4, 1, 3, NULL) == SA_OK);
    const uint8_t in4[4] = {0, 100, 200, 40};
    for (int i = 0; i < 4; i++)
        memset(src.data + 3 * i, in4[i], 3);
    CHECK(sa_image_resize_bilinear(&src, 2, 1, &dst, &err) == SA_OK);
    if (dst.data) {
        /* (0*.75 + 100*.75 + 200*.25)/1.75 = 71.43 -> 71; output 1 centre 3.0: inputs 1..3 weights
         * .25 .75 .75: (25 + 150 + 30)/1.75 = 117.14 -> 117 */
        CHECKF(dst.data[0] == 71 && dst.data[3] == 117, "shrink: %d %d", dst.data[0], dst.data[3]);
    }
    sa_image_free(&dst);
    /* same size: a copy */
    CHECK(sa_image_resize_bilinear(&src, 4, 1, &dst, &err) == SA_OK);
    CHECK(dst.data && dst.data != src.data && memcmp(dst.data, src.data, 12) == 0);
    sa_image_free(&dst);
    /* a constant image stays constant in both directions */
    sa_image big = {0};
    CHECK(sa_image_new(&big, 50, 31, 3, NULL) == SA_OK);
    memset(big.data, 77, 50 * 31 * 3);
    CHECK(sa_image_resize_bilinear(&big, 13, 97, &dst, &err) == SA_OK);
    int bad = 0;
    for (int i = 0; dst.data && i < 13 * 97 * 3; i++)
        bad += dst.data[i] != 77;
    CHECK(bad == 0);
    sa_image_free(&dst);
    sa_image_free(&big);
    /* bad arguments */
    CHECK(sa_image_resize_bilinear(&src, 0, 5, &dst, &err) != SA_OK && dst.data == NULL);
    CHECK(sa_image_resize_bilinear(&src, 5, SA_IMAGE_MAX_SIDE + 1, &dst, &err) == SA_ERR_RANGE);
    sa_image grey = {0};
    CHECK(sa_image_new(&grey, 4, 4, 1, NULL) == SA_OK);
    CHECK(sa_image_resize_bilinear(&grey, 2, 2, &dst, &err) == SA_ERR_INVALID);
    sa_image_free(&grey);
    sa_image_free(&src);
}

/* ---------------------------------------------------------------- bad input */

static void expect_load_error(const char *what, const char *path) {
    sa_image img = {0};
    sa_error err = {0};
    int rc = sa_image_load(path, &img, &err);
    CHECKF(rc != SA_OK, "%s: loaded", what);
    CHECKF(img.data == NULL && img.width == 0, "%s: image not zeroed", what);
    CHECKF(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECKF(strchr(err.msg, '\n') == NULL, "%s: message has a newline", what);
    rc = sa_image_load_values(path, &img, &err);
    CHECKF(rc != SA_OK && img.data == NULL, "%s: values loaded", what);
}

static void expect_decode_error(const char *what, const uint8_t *b, size_t n) {
    sa_image img = {0};
    sa_error err = {0};
    int rc = sa_image_decode(b, n, &img, &err);
    CHECKF(rc != SA_OK, "%s: decoded", what);
    CHECKF(img.data == NULL, "%s: image not zeroed", what);
    CHECKF(err.msg[0] != '\0', "%s: empty message", what);
}

/* Decodes many random corruptions of a valid file; only "no crash, consistent result" is asserted.
 */
static void mutate_many(const char *what, const uint8_t *b, size_t n, int rounds) {
    uint8_t *m = malloc(n);
    if (!m) exit(1);
    int ok = 0;
    for (int r = 0; r < rounds; r++) {
        memcpy(m, b, n);
        int flips = 1 + (int)(rnd() % 8);
        for (int k = 0; k < flips; k++) {
            size_t pos = rnd() % n;
            /* bias towards the header, where the sizes live */
            if (rnd() % 2) pos = rnd() % (n < 64 ? n : 64);
            m[pos] = (uint8_t)rnd();
        }
        size_t len = rnd() % 4 == 0 ? rnd() % n : n;
        sa_image img = {0};
        sa_error err = {0};
        int rc = sa_image_decode(m, len, &img, &err);
        if (rc == SA_OK) {
            ok++;
            CHECKF(img.data && img.width > 0 && img.height > 0 && img.channels == 3,
                   "%s: bad success", what);
        } else {
            CHECKF(img.data == NULL && err.msg[0], "%s: error without message", what);
        }
        sa_image_free(&img);
    }
    free(m);
    printf("%s: %d of %d corrupted files still decoded\n", what, ok, rounds);
}

static void test_bad_input(void) {
    char *missing = tmp_path("does-not-exist.png");
    expect_load_error("missing file", missing);
    free(missing);
    expect_load_error("a directory", g_tmp);

    /* valid files to cut */
    sa_image img = {0};
    CHECK(sa_image_new(&img, 40, 30, 3, NULL) == SA_OK);
    fill_smooth(&img);
    uint8_t *png = NULL, *jpg = NULL;
    size_t npng = 0, njpg = 0;
    CHECK(sa_image_encode_png(&img, &png, &npng, NULL) == SA_OK);
    CHECK(sa_image_encode_jpeg(&img, 80, &jpg, &njpg, NULL) == SA_OK);
    static uint8_t bmp[64 * 1024];
    uint8_t pix[40 * 30 * 3];
    memcpy(pix, img.data, sizeof pix); /* rows of 120 bytes need no padding */
    size_t nbmp = make_bmp(bmp, 40, 40, 30, 24, 0, NULL, NULL, 0, pix, sizeof pix);
    char *p = tmp_path("ok.bmp");
    write_bytes(p, bmp, nbmp);
    sa_image back = {0};
    sa_error err = {0};
    CHECK(sa_image_load(p, &back, &err) == SA_OK);
    sa_image_free(&back);
    free(p);

    const size_t png_cuts[] = {0, 1, 7, 8, 20, 33, 50, npng / 2, npng - 20};
    for (size_t i = 0; i < sizeof png_cuts / sizeof png_cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.png", png_cuts[i]);
        p = tmp_path(name);
        write_bytes(p, png, png_cuts[i]);
        expect_load_error(name, p);
        free(p);
    }
    const size_t jpg_cuts[] = {2, 3, 10, 100, njpg / 2, njpg - 2};
    for (size_t i = 0; i < sizeof jpg_cuts / sizeof jpg_cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.jpg", jpg_cuts[i]);
        p = tmp_path(name);
        write_bytes(p, jpg, jpg_cuts[i]);
        expect_load_error(name, p);
        free(p);
    }
    const size_t bmp_cuts[] = {1, 2, 14, 30, 54, nbmp / 2, nbmp - 1};
    for (size_t i = 0; i < sizeof bmp_cuts / sizeof bmp_cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.bmp", bmp_cuts[i]);
        p = tmp_path(name);
        write_bytes(p, bmp, bmp_cuts[i]);
        expect_load_error(name, p);
        free(p);
    }

    /* garbage, and garbage behind each magic */
    uint8_t junk[600];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rnd();
    junk[0] = 'x';
    p = tmp_path("garbage.png");
    write_bytes(p, junk, sizeof junk);
    expect_load_error("garbage", p);
    free(p);
    memcpy(junk, png, 8);
    expect_decode_error("png magic + garbage", junk, sizeof junk);
    junk[0] = 0xFF, junk[1] = 0xD8, junk[2] = 0xFF;
    expect_decode_error("jpeg magic + garbage", junk, sizeof junk);
    junk[0] = 'B', junk[1] = 'M';
    expect_decode_error("bmp magic + garbage", junk, sizeof junk);
    expect_decode_error("empty buffer", junk, 0);

    /* BMP claiming huge sizes: within the limits but far larger than the file, and beyond the
     * limits */
    const int32_t huge[][2] = {{30000, 30000}, {100000, 10}, {10, -100000},      {-5, 5},
                               {0, 10},        {10, 0},      {INT32_MIN + 1, 2}, {2, INT32_MIN}};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        uint8_t hb[256];
        size_t nh = make_bmp(hb, 40, huge[i][0], huge[i][1], 24, 0, NULL, NULL, 0, pix, 100);
        char name[64];
        snprintf(name, sizeof name, "huge%zu.bmp", i);
        p = tmp_path(name);
        write_bytes(p, hb, nh);
        expect_load_error(name, p);
        free(p);
    }
    /* palette BMP whose palette count and data offset point outside the file */
    {
        uint8_t hb[256];
        size_t nh = make_bmp(hb, 40, 4, 4, 8, 0, NULL, NULL, 0, pix, 16);
        put32(hb + 46, 0xFFFFFFFFu); /* clrUsed */
        put32(hb + 10, 0x7FFFFFF0u); /* data offset */
        expect_decode_error("bmp offset outside", hb, nh);
        nh = make_bmp(hb, 40, 4, 4, 8, 1, NULL, NULL, 0, pix, 16);
        hb[28] = 24; /* RLE8 with 24 bpp */
        expect_decode_error("bmp rle8 24bpp", hb, nh);
        nh = make_bmp(hb, 40, 4, 4, 24, 0, NULL, NULL, 0, pix, 48);
        put32(hb + 14, 77); /* header size */
        expect_decode_error("bmp header size", hb, nh);
        put32(hb + 14, 40);
        put32(hb + 30, 9); /* compression */
        expect_decode_error("bmp compression", hb, nh);
        put32(hb + 30, 0);
        hb[28] = 48; /* bits per pixel */
        expect_decode_error("bmp 48 bpp", hb, nh);
    }
    /* zero-size and oversized PNG / JPEG headers (IHDR with width 0; SOF with height 0) */
    {
        uint8_t pb[64];
        mem_png m = make_png(1, 1, 8, PNG_COLOR_TYPE_GRAY, 0, (const uint8_t *)"\0", 1, NULL, 0);
        memcpy(pb, m.p, 33);
        memset(pb + 16, 0, 4); /* width 0 (CRC now wrong too) */
        expect_decode_error("png width 0", pb, 33);
        memcpy(pb, m.p, 33);
        put32(pb + 16, 0x00800000u); /* width 2^31 / 256 big-endian-ish garbage */
        expect_decode_error("png huge width", pb, 33);
        free(m.p);
        /* a 16000x16000 grey PNG header in a tiny file: within the limits, but our length check
         * refuses */
        uint8_t ih[64];
        mem_png m2 = make_png(1, 1, 8, PNG_COLOR_TYPE_GRAY, 0, (const uint8_t *)"\0", 1, NULL, 0);
        memcpy(ih, m2.p, m2.n < 64 ? m2.n : 64);
        ih[16] = 0, ih[17] = 0, ih[18] = 0x3E, ih[19] = 0x80; /* width 16000 */
        ih[20] = 0, ih[21] = 0, ih[22] = 0x3E, ih[23] = 0x80; /* height 16000 */
        uint32_t crc = (uint32_t)crc32(0, ih + 12, 17);
        ih[29] = (uint8_t)(crc >> 24), ih[30] = (uint8_t)(crc >> 16), ih[31] = (uint8_t)(crc >> 8),
        ih[32] = (uint8_t)crc;
        sa_image hi = {0};
        sa_error he = {0};
        CHECKF(sa_image_decode(ih, m2.n < 64 ? m2.n : 64, &hi, &he) == SA_ERR_FORMAT, "%s", he.msg);
        CHECKF(strstr(he.msg, "16000x16000") != NULL, "huge PNG message: %s", he.msg);
        /* over the side limit: the message names the limit, as BMP and JPEG do */
        ih[16] = 0, ih[17] = 0, ih[18] = 0x9C, ih[19] = 0x40; /* width 40000 */
        ih[20] = 0, ih[21] = 0, ih[22] = 0, ih[23] = 10;      /* height 10 */
        crc = (uint32_t)crc32(0, ih + 12, 17);
        ih[29] = (uint8_t)(crc >> 24), ih[30] = (uint8_t)(crc >> 16), ih[31] = (uint8_t)(crc >> 8),
        ih[32] = (uint8_t)crc;
        CHECKF(sa_image_decode(ih, m2.n < 64 ? m2.n : 64, &hi, &he) == SA_ERR_RANGE, "%s", he.msg);
        CHECKF(strstr(he.msg, "40000x10") && strstr(he.msg, "size limit (side 32768"),
               "PNG over the limit: %s", he.msg);
        free(m2.p);
    }
    {
        /* JPEG: patch the SOF0 height to 0, and to 65500 x 65500 (beyond the side limit) */
        uint8_t *j = malloc(njpg);
        memcpy(j, jpg, njpg);
        size_t sof = 0;
        for (size_t i = 2; i + 9 < njpg; i++)
            if (j[i] == 0xFF && j[i + 1] == 0xC0) {
                sof = i;
                break;
            }
        CHECK(sof != 0);
        if (sof) {
            j[sof + 5] = 0, j[sof + 6] = 0;
            expect_decode_error("jpeg height 0", j, njpg);
            j[sof + 5] = 0xFF, j[sof + 6] = 0xDC, j[sof + 7] = 0xFF, j[sof + 8] = 0xDC;
            expect_decode_error("jpeg 65500x65500", j, njpg);
            j[sof + 5] = 0x3E, j[sof + 6] = 0x80, j[sof + 7] = 0x3E, j[sof + 8] = 0x80;
            expect_decode_error("jpeg 16000x16000 in a small file", j, njpg);
        }
        free(j);
    }

    /* random corruptions: no crash, consistent status */
    mutate_many("png", png, npng, 300);
    mutate_many("jpeg", jpg, njpg, 300);
    mutate_many("bmp", bmp, nbmp, 300);

    /* NULL arguments */
    sa_error e2 = {0};
    sa_image z = {0};
    CHECK(sa_image_load(NULL, &z, &e2) == SA_ERR_INVALID);
    CHECK(sa_image_decode(NULL, 10, &back, &e2) == SA_ERR_INVALID);
    CHECK(sa_image_load("x", NULL, NULL) == SA_ERR_INVALID);

    free(png);
    free(jpg);
    sa_image_free(&img);
}

/* Removes the (flat) temporary directory and its files. */
int main(void) {
    g_tmp = tu_tmpdir();
    test_core();
    test_overlay();
    test_png_types();
    test_bmp_layouts();
    test_jpeg();
    test_png_roundtrip();
    test_save_all_or_nothing();
    test_resize();
    test_bad_input();
    tu_rmtree(g_tmp);
    free(g_tmp);
    return tu_finish("test_image");
}
