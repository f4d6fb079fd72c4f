/* BMP decoder, written from the format description (Windows bitmap file header + info header).
 *
 * Handles BITMAPCOREHEADER (12 bytes), BITMAPINFOHEADER (40) and its extensions V2/V3/V4/V5
 * (52/56/108/124), OS/2 2.x (64, uncompressed and RLE only); 1/2/4/8-bit palette, 16/24/32-bit
 * direct colour; bottom-up and top-down rows; BI_RGB, BI_BITFIELDS / BI_ALPHABITFIELDS, RLE8 and
 * RLE4 (bottom-up only, as the format requires). Every offset and size from the header is checked
 * against the buffer length before it is used; for uncompressed data the whole pixel array must be
 * present before anything is allocated. RLE streams can legitimately describe large images in few
 * bytes (end-of-bitmap leaves the rest at index 0), so a generous plausibility cap (65536 pixels
 * per byte) keeps tiny hostile files from forcing huge allocations. Palette indices outside the
 * palette decode to black (RGB) or to the index itself (values mode).
 */
#include "image/image_codecs.h"

#include <stdlib.h>
#include <string.h>

enum {
    BI_RGB = 0,
    BI_RLE8 = 1,
    BI_RLE4 = 2,
    BI_BITFIELDS = 3,
    BI_JPEG = 4,
    BI_PNG = 5,
    BI_ALPHABITFIELDS = 6
};

#define BMP_RLE_MAX_PIXELS_PER_BYTE 65536u

static uint32_t rd16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct bmp_field {
    uint32_t mask;
    int shift;
    uint32_t max; /* mask >> shift */
} bmp_field;

static bmp_field bmp_make_field(uint32_t mask) {
    bmp_field f = {mask, 0, 0};
    if (!mask) return f;
    while (!(mask & 1u)) {
        mask >>= 1;
        f.shift++;
    }
    f.max = mask;
    return f;
}

static uint8_t bmp_field_get(const bmp_field *f, uint32_t v) {
    if (!f->max) return 0;
    uint64_t x = (v & f->mask) >> f->shift;
    return (uint8_t)((x * 255u + f->max / 2) / f->max);
}

typedef struct bmp_out {
    sa_image *img;
    int mode;
    const uint8_t *pal; /* palette entries, B G R [X] */
    int pal_n, pal_es;
} bmp_out;

static void bmp_put_index(const bmp_out *o, size_t i, unsigned idx) {
    if (o->mode == SA__DECODE_VALUES) {
        o->img->data[i] = (uint8_t)idx;
        return;
    }
    uint8_t *d = o->img->data + 3 * i;
    if ((int)idx < o->pal_n) {
        const uint8_t *p = o->pal + (size_t)idx * (size_t)o->pal_es;
        d[0] = p[2], d[1] = p[1], d[2] = p[0];
    } else {
        d[0] = d[1] = d[2] = 0;
    }
}

static void bmp_put_rgb(const bmp_out *o, size_t i, uint8_t r, uint8_t g, uint8_t b) {
    if (o->mode == SA__DECODE_VALUES) {
        o->img->data[i] = sa__max3(r, g, b);
    } else {
        uint8_t *d = o->img->data + 3 * i;
        d[0] = r, d[1] = g, d[2] = b;
    }
}

/* RLE8 / RLE4 into an index buffer (rows bottom-up in the stream). */
static int bmp_rle(const uint8_t *s, size_t n, int rle4, int w, int h, uint8_t *idx,
                   sa_error *err) {
    size_t pos = 0;
    long x = 0, y = 0;
    for (;;) {
        if (y >= h) return SA_OK;
        if (n - pos < 2) return sa_error_set(err, SA_ERR_FORMAT, "BMP: RLE data truncated");
        unsigned count = s[pos], val = s[pos + 1];
        pos += 2;
        if (count) {
            for (unsigned i = 0; i < count; i++, x++) {
                unsigned v = rle4 ? ((i & 1) ? (val & 15u) : (val >> 4)) : val;
                if (x < w) idx[(size_t)(h - 1 - y) * (size_t)w + (size_t)x] = (uint8_t)v;
            }
            continue;
        }
        if (val == 0) { /* end of line */
            x = 0;
            y++;
        } else if (val == 1) { /* end of bitmap */
            return SA_OK;
        } else if (val == 2) { /* delta */
            if (n - pos < 2) return sa_error_set(err, SA_ERR_FORMAT, "BMP: RLE data truncated");
            x += s[pos];
            y += s[pos + 1];
            pos += 2;
        } else { /* absolute run of val pixels, padded to 16 bits */
            size_t nbytes = rle4 ? (val + 1) / 2 : val;
            size_t padded = nbytes + (nbytes & 1);
            if (n - pos < nbytes)
                return sa_error_set(err, SA_ERR_FORMAT, "BMP: RLE data truncated");
            for (unsigned i = 0; i < val; i++, x++) {
                unsigned v =
                    rle4 ? ((i & 1) ? (s[pos + i / 2] & 15u) : (s[pos + i / 2] >> 4)) : s[pos + i];
                if (x < w && y < h) idx[(size_t)(h - 1 - y) * (size_t)w + (size_t)x] = (uint8_t)v;
            }
            pos += padded <= n - pos ? padded : nbytes;
        }
    }
}

int sa__bmp_decode(const uint8_t *b, size_t n, int mode, sa_image *img, sa_error *err) {
    memset(img, 0, sizeof *img);
    if (!b || n < 2 || b[0] != 'B' || b[1] != 'M')
        return sa_error_set(err, SA_ERR_FORMAT, "not a BMP file");
    if (n < 18) return sa_error_set(err, SA_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);
    uint32_t off = rd32(b + 10), hs = rd32(b + 14);
    if (hs != 12 && hs != 40 && hs != 52 && hs != 56 && hs != 64 && hs != 108 && hs != 124)
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: unsupported info header size %u",
                            (unsigned)hs);
    if (n < 14 + (size_t)hs)
        return sa_error_set(err, SA_ERR_FORMAT, "BMP: truncated header (%zu bytes)", n);

    long long w, h;
    unsigned bpp, comp = BI_RGB;
    uint32_t clr_used = 0;
    int pal_es = 4;
    if (hs == 12) {
        w = rd16(b + 18);
        h = rd16(b + 20);
        bpp = rd16(b + 24);
        pal_es = 3;
    } else {
        w = (int32_t)rd32(b + 18);
        h = (int32_t)rd32(b + 22);
        bpp = rd16(b + 28);
        comp = rd32(b + 30);
        clr_used = rd32(b + 46);
    }
    int top_down = h < 0;
    if (top_down) h = -h;
    if (w <= 0 || h <= 0)
        return sa_error_set(err, SA_ERR_FORMAT, "BMP: bad image size %lldx%lld", w,
                            top_down ? -h : h);
    int rc = sa__image_check_dims("BMP", w, h, err);
    if (rc) return rc;

    /* Pixel layout */
    size_t pal_start = 14 + (size_t)hs;
    bmp_field fr = {0, 0, 0}, fg = {0, 0, 0}, fb = {0, 0, 0};
    int rle = comp == BI_RLE8 || comp == BI_RLE4;
    if (comp == BI_JPEG || comp == BI_PNG) {
        if (hs == 64)
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: OS/2 compression %u", comp);
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: embedded %s data",
                            comp == BI_JPEG ? "JPEG" : "PNG");
    }
    if (comp == BI_BITFIELDS || comp == BI_ALPHABITFIELDS) {
        if (hs == 64)
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: OS/2 compression %u", comp);
        if (bpp != 16 && bpp != 32)
            return sa_error_set(err, SA_ERR_FORMAT, "BMP: bit fields with %u bits per pixel", bpp);
        const uint8_t *m;
        if (hs == 40) {
            size_t nm = comp == BI_ALPHABITFIELDS ? 16 : 12;
            if (n < pal_start + nm)
                return sa_error_set(err, SA_ERR_FORMAT, "BMP: truncated colour masks");
            m = b + pal_start;
            pal_start += nm;
        } else {
            m = b + 14 + 40;
        }
        fr = bmp_make_field(rd32(m));
        fg = bmp_make_field(rd32(m + 4));
        fb = bmp_make_field(rd32(m + 8));
    } else if (comp == BI_RGB) {
        if (bpp == 16) {
            fr = bmp_make_field(0x7C00u), fg = bmp_make_field(0x03E0u),
            fb = bmp_make_field(0x001Fu);
        } else if (bpp == 32) {
            fr = bmp_make_field(0xFF0000u), fg = bmp_make_field(0xFF00u),
            fb = bmp_make_field(0xFFu);
        } else if (bpp != 1 && bpp != 2 && bpp != 4 && bpp != 8 && bpp != 24) {
            return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: %u bits per pixel", bpp);
        }
    } else if (rle) {
        if (bpp != (comp == BI_RLE8 ? 8u : 4u))
            return sa_error_set(err, SA_ERR_FORMAT, "BMP: RLE%u with %u bits per pixel",
                                comp == BI_RLE8 ? 8 : 4, bpp);
        if (top_down) return sa_error_set(err, SA_ERR_FORMAT, "BMP: top-down RLE bitmap");
    } else {
        return sa_error_set(err, SA_ERR_UNSUPPORTED, "BMP: compression type %u", comp);
    }

    /* Palette */
    bmp_out o = {img, mode, NULL, 0, pal_es};
    if (bpp <= 8) {
        uint64_t want = clr_used ? clr_used : (1u << bpp);
        if (want > (1u << bpp)) want = 1u << bpp;
        size_t end = off > pal_start && off <= n ? off : n;
        uint64_t avail = end > pal_start ? (end - pal_start) / (size_t)pal_es : 0;
        if (want > avail) want = avail;
        if (want == 0 && mode == SA__DECODE_RGB)
            return sa_error_set(err, SA_ERR_FORMAT, "BMP: missing palette");
        o.pal = b + pal_start;
        o.pal_n = (int)want;
    }

    if (off < 14 + (size_t)hs || off > n)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "BMP: pixel data offset %u outside the file (%zu bytes)", (unsigned)off,
                            n);
    const uint8_t *px = b + off;
    size_t avail = n - off;
    size_t W = (size_t)w, H = (size_t)h;

    if (rle) {
        if ((uint64_t)W * H > ((uint64_t)avail + 1) * BMP_RLE_MAX_PIXELS_PER_BYTE)
            return sa_error_set(err, SA_ERR_FORMAT,
                                "BMP: %lldx%lld RLE image implausible for %zu bytes of data", w, h,
                                avail);
        uint8_t *idx = calloc(W * H, 1);
        if (!idx)
            return sa_error_set(err, SA_ERR_NOMEM, "BMP: out of memory for %lldx%lld image", w, h);
        rc = bmp_rle(px, avail, comp == BI_RLE4, (int)w, (int)h, idx, err);
        if (!rc) rc = sa_image_new(img, (int)w, (int)h, mode == SA__DECODE_RGB ? 3 : 1, err);
        if (!rc)
            for (size_t i = 0; i < W * H; i++)
                bmp_put_index(&o, i, idx[i]);
        free(idx);
        if (rc) sa_image_free(img);
        return rc;
    }

    uint64_t stride = ((uint64_t)W * bpp + 31) / 32 * 4;
    uint64_t last_row = ((uint64_t)W * bpp + 7) / 8;
    uint64_t need = stride * (H - 1) + last_row;
    if (need > avail)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "BMP: pixel data truncated (%llu bytes needed, %zu present)",
                            (unsigned long long)need, avail);
    if ((rc = sa_image_new(img, (int)w, (int)h, mode == SA__DECODE_RGB ? 3 : 1, err))) return rc;
    for (size_t r = 0; r < H; r++) {
        size_t y = top_down ? r : H - 1 - r;
        const uint8_t *row = px + stride * r;
        size_t base = y * W;
        switch (bpp) {
        case 1:
        case 2:
        case 4:
        case 8: {
            unsigned per = 8 / bpp, mask = (1u << bpp) - 1;
            for (size_t x = 0; x < W; x++) {
                unsigned byte = row[x / per];
                unsigned shift = (unsigned)(8 - bpp - (x % per) * bpp);
                bmp_put_index(&o, base + x, (byte >> shift) & mask);
            }
            break;
        }
        case 24:
            for (size_t x = 0; x < W; x++)
                bmp_put_rgb(&o, base + x, row[3 * x + 2], row[3 * x + 1], row[3 * x]);
            break;
        case 16:
            for (size_t x = 0; x < W; x++) {
                uint32_t v = rd16(row + 2 * x);
                bmp_put_rgb(&o, base + x, bmp_field_get(&fr, v), bmp_field_get(&fg, v),
                            bmp_field_get(&fb, v));
            }
            break;
        default: /* 32 */
            for (size_t x = 0; x < W; x++) {
                uint32_t v = rd32(row + 4 * x);
                bmp_put_rgb(&o, base + x, bmp_field_get(&fr, v), bmp_field_get(&fg, v),
                            bmp_field_get(&fb, v));
            }
            break;
        }
    }
    return SA_OK;
}
