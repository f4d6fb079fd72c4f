/* PNG codec on top of libpng, memory in and memory out.
 *
 * libpng reports errors by longjmp. Each entry point keeps its state in a context struct owned by
 * the caller frame and does all libpng work inside a helper that calls setjmp, so no local of the
 * setjmp frame is read after a longjmp; the caller then frees whatever the context holds. Reads
 * past the end of the buffer raise a libpng error ("truncated"). Before allocating, the decoded
 * size is checked against the image limits and against the input length (deflate cannot expand data
 * more than 1032:1), so a tiny file cannot claim a huge image.
 *
 * Conversions (SA__DECODE_RGB): palette -> RGB, grey (any depth) -> grey replicated, 16-bit ->
 * 8-bit with rounding (png_set_scale_16), alpha dropped, gamma ignored (as Pillow does).
 * SA__DECODE_VALUES: palette index, grey level (low bit depths scaled to 8 bits), max(R, G, B) for
 * colour. 16-bit values are kept as they are when every value is <= 255 (masks saved as 16-bit 0/1
 * or 0/255), otherwise the high byte is used, with non-zero values kept non-zero.
 */
#include "image/image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deflate's maximum expansion ratio is 1032:1; slack covers headers. */
#define PNG_MAX_RATIO 1032u

typedef struct png_mem_in {
    const uint8_t *data;
    size_t n, pos;
} png_mem_in;

typedef struct png_mem_out {
    uint8_t *data;
    size_t n, cap;
} png_mem_out;

typedef struct png_ctx {
    png_structp png;
    png_infop info;
    png_mem_in in;
    png_mem_out out;
    uint8_t *raw;    /* decoded rows */
    png_bytep *rows; /* row pointers into raw (or into the image being encoded) */
    sa_image img;    /* result */
    int mode;
    sa_error *err;
    int rc;        /* status set by the helper for errors that are not libpng's */
    char msg[256]; /* libpng's message */
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->in.n - c->in.pos) png_error(png, "truncated file");
    memcpy(out, c->in.data + c->in.pos, len);
    c->in.pos += len;
}

static void png_write_mem(png_structp png, png_bytep data, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    png_mem_out *o = &c->out;
    if (len > SIZE_MAX / 2 - o->n) png_error(png, "output too large");
    if (o->n + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + len)
            cap *= 2;
        uint8_t *p = realloc(o->data, cap);
        if (!p) png_error(png, "out of memory");
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->n, data, len);
    o->n += len;
}

static void png_flush_mem(png_structp png) {
    (void)png;
}

static int png_raw_channels(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_PALETTE:
        return 1;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return 4;
    default:
        return 0;
    }
}

/* Stored value of pixel x of a decoded row (values mode). */
static unsigned png_value_at(const uint8_t *row, int x, int ch, int depth16) {
    if (!depth16) {
        const uint8_t *p = row + (size_t)x * (size_t)ch;
        return ch >= 3 ? sa__max3(p[0], p[1], p[2]) : p[0];
    }
    const uint8_t *p = row + (size_t)x * (size_t)ch * 2;
    unsigned v0 = (unsigned)p[0] << 8 | p[1];
    if (ch < 3) return v0;
    unsigned v1 = (unsigned)p[2] << 8 | p[3], v2 = (unsigned)p[4] << 8 | p[5];
    unsigned m = v0 > v1 ? v0 : v1;
    return m > v2 ? m : v2;
}

static int png_decode_inner(png_ctx *c) {
    png_structp png = c->png;
    png_infop info = c->info;
    if (setjmp(png_jmpbuf(png))) return SA_ERR_FORMAT;

    png_set_read_fn(png, c, png_read_mem);
    /* libpng's own limit would stop at the header with its words; ours is checked right after it,
     * naming the limit (sa__image_check_dims) */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_chunk_malloc_max(png, 16u << 20);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if ((c->rc = sa__image_check_dims("PNG", w, h, c->err))) return c->rc;
    int raw_ch = png_raw_channels(ctype);
    if (!raw_ch) {
        c->rc = sa_error_set(c->err, SA_ERR_FORMAT, "PNG: bad colour type %d", ctype);
        return c->rc;
    }
    uint64_t raw_row = ((uint64_t)w * (uint64_t)raw_ch * (uint64_t)depth + 7) / 8 + 1;
    if (raw_row * h > (uint64_t)c->in.n * PNG_MAX_RATIO + 4096) {
        c->rc = sa_error_set(c->err, SA_ERR_FORMAT,
                             "PNG: %ux%u image cannot be stored in %zu bytes (truncated?)",
                             (unsigned)w, (unsigned)h, c->in.n);
        return c->rc;
    }

    if (c->mode == SA__DECODE_RGB) {
        if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (depth == 16) png_set_scale_16(png);
    } else if (ctype == PNG_COLOR_TYPE_PALETTE && depth < 8) {
        png_set_packing(png);
    }
    if (!(ctype & PNG_COLOR_MASK_COLOR) && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    int depth2 = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int depth16 = depth2 == 16;
    if (ch < 1 || ch > 4 || (depth2 != 8 && depth2 != 16) ||
        rowbytes < (size_t)w * (size_t)ch * (depth16 ? 2u : 1u)) {
        c->rc = sa_error_set(c->err, SA_ERR_UNSUPPORTED,
                             "PNG: unexpected decoded layout (%d channels, %d bits)", ch, depth2);
        return c->rc;
    }
    c->raw = malloc(rowbytes * h);
    c->rows = malloc(sizeof *c->rows * h);
    if (!c->raw || !c->rows) {
        c->rc = sa_error_set(c->err, SA_ERR_NOMEM, "PNG: cannot allocate %ux%u image", (unsigned)w,
                             (unsigned)h);
        return c->rc;
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = c->raw + rowbytes * y;
    png_read_image(png, c->rows);

    int out_ch = c->mode == SA__DECODE_RGB ? 3 : 1;
    if ((c->rc = sa_image_new(&c->img, (int)w, (int)h, out_ch, c->err))) return c->rc;
    uint8_t *d = c->img.data;
    if (c->mode == SA__DECODE_RGB) {
        for (png_uint_32 y = 0; y < h; y++) {
            const uint8_t *s = c->rows[y];
            for (png_uint_32 x = 0; x < w; x++, d += 3) {
                const uint8_t *p = s + (size_t)x * (size_t)ch;
                if (ch >= 3) {
                    d[0] = p[0], d[1] = p[1], d[2] = p[2];
                } else {
                    d[0] = d[1] = d[2] = p[0];
                }
            }
        }
    } else {
        unsigned vmax = 0;
        if (depth16) {
            for (png_uint_32 y = 0; y < h && vmax <= 255; y++)
                for (png_uint_32 x = 0; x < w; x++) {
                    unsigned v = png_value_at(c->rows[y], (int)x, ch, 1);
                    if (v > vmax) vmax = v;
                }
        }
        int shift = vmax > 255 ? 8 : 0;
        for (png_uint_32 y = 0; y < h; y++)
            for (png_uint_32 x = 0; x < w; x++) {
                unsigned v = png_value_at(c->rows[y], (int)x, ch, depth16);
                unsigned s = v >> shift;
                *d++ = (uint8_t)(s == 0 && v != 0 ? 1 : s);
            }
    }
    return SA_OK;
}

int sa__png_decode(const uint8_t *bytes, size_t n, int mode, sa_image *img, sa_error *err) {
    memset(img, 0, sizeof *img);
    if (!bytes || n < 8 || png_sig_cmp(bytes, 0, 8))
        return sa_error_set(err, SA_ERR_FORMAT, "not a PNG file");
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.in.data = bytes;
    c.in.n = n;
    c.mode = mode;
    c.err = err;
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning);
    if (c.png) c.info = png_create_info_struct(c.png);
    int rc;
    if (!c.png || !c.info) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "PNG: cannot create decoder");
    } else {
        rc = png_decode_inner(&c);
        if (rc && !c.rc) rc = sa_error_set(err, SA_ERR_FORMAT, "PNG: %s", c.msg);
    }
    png_destroy_read_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL, NULL);
    free(c.rows);
    free(c.raw);
    if (rc) {
        sa_image_free(&c.img);
        return rc;
    }
    *img = c.img;
    return SA_OK;
}

static int png_encode_inner(png_ctx *c, const sa_image *img) {
    png_structp png = c->png;
    png_infop info = c->info;
    if (setjmp(png_jmpbuf(png))) return SA_ERR_FORMAT;
    png_set_write_fn(png, c, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->data + stride * (size_t)y);
    png_write_end(png, NULL);
    return SA_OK;
}

int sa__png_encode(const sa_image *img, uint8_t **out, size_t *out_len, sa_error *err) {
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning);
    if (c.png) c.info = png_create_info_struct(c.png);
    int rc;
    if (!c.png || !c.info) {
        rc = sa_error_set(err, SA_ERR_NOMEM, "PNG: cannot create encoder");
    } else {
        rc = png_encode_inner(&c, img);
        if (rc && !c.rc) rc = sa_error_set(err, SA_ERR_NOMEM, "PNG encoder: %s", c.msg);
    }
    png_destroy_write_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL);
    if (rc) {
        free(c.out.data);
        return rc;
    }
    *out = c.out.data;
    *out_len = c.out.n;
    return SA_OK;
}
