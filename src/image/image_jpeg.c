/* JPEG codec on top of libjpeg(-turbo), memory in and memory out.
 *
 * libjpeg reports fatal errors through error_exit, which we replace by a longjmp back into the
 * helper that called setjmp; all state that must survive the jump lives in a context struct in the
 * caller's frame. A "premature end of JPEG file" warning is treated as fatal (libjpeg would
 * otherwise pad a truncated file with grey), other corrupt-data warnings are tolerated as most
 * viewers do. Progressive files are limited to 1000 scans (a cheap guard against pathological
 * inputs), and the claimed size must be plausible for the input length (no real encoder stores more
 * than 4096 pixels per byte) before anything is allocated.
 *
 * Colour: greyscale stays one channel (replicated in RGB mode); YCbCr / RGB come out as RGB; CMYK /
 * YCCK are converted with R = (255-C)(255-K)/255 (Adobe files store inverted CMYK; libjpeg hands
 * that through).
 */
#include "image/image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#define JPEG_MAX_PIXELS_PER_BYTE 4096u
#define JPEG_MAX_SCANS 1000

typedef struct jpeg_ctx {
    struct jpeg_error_mgr jerr; /* first member: cinfo->err points here */
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    struct jpeg_decompress_struct d;
    struct jpeg_compress_struct e;
    int d_created, e_created;
    const uint8_t *in;
    size_t in_n;
    int mode;
    uint8_t *row;       /* one decoded scanline */
    sa_image img;       /* result */
    unsigned char *out; /* encoder output, owned by libjpeg's memory destination until finished */
    unsigned long out_n;
    sa_error *err;
    int rc;
    char msg[JMSG_LENGTH_MAX + 32];
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    buf[0] = '\0';
    (*cinfo->err->format_message)(cinfo, buf);
    snprintf(c->msg, sizeof c->msg, "%s", buf);
    longjmp(c->jb, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

static void jpeg_on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
        snprintf(c->msg, sizeof c->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(c->jb, 1);
    }
}

static int jpeg_decode_inner(jpeg_ctx *c) {
    if (setjmp(c->jb)) return SA_ERR_FORMAT;
    struct jpeg_decompress_struct *d = &c->d;
    d->err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_on_error;
    c->jerr.emit_message = jpeg_on_message;
    jpeg_create_decompress(d);
    c->d_created = 1;
    c->progress.progress_monitor = jpeg_on_progress;
    d->progress = &c->progress;
    jpeg_mem_src(d, c->in, (unsigned long)c->in_n);
    jpeg_read_header(d, TRUE);

    if ((c->rc = sa__image_check_dims("JPEG", d->image_width, d->image_height, c->err)))
        return c->rc;
    if ((uint64_t)d->image_width * d->image_height > (uint64_t)c->in_n * JPEG_MAX_PIXELS_PER_BYTE) {
        c->rc = sa_error_set(c->err, SA_ERR_FORMAT,
                             "JPEG: %ux%u image cannot be stored in %zu bytes (truncated?)",
                             (unsigned)d->image_width, (unsigned)d->image_height, c->in_n);
        return c->rc;
    }
    int cmyk = 0;
    switch (d->jpeg_color_space) {
    case JCS_GRAYSCALE:
        d->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        d->out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    case JCS_UNKNOWN:
        c->rc = sa_error_set(c->err, SA_ERR_UNSUPPORTED,
                             "JPEG: unknown colour space with %d components", d->num_components);
        return c->rc;
    default:
        d->out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(d);
    int w = (int)d->output_width, h = (int)d->output_height, comps = d->output_components;
    if ((c->rc = sa__image_check_dims("JPEG", d->output_width, d->output_height, c->err)))
        return c->rc;
    if (comps != (cmyk ? 4 : d->out_color_space == JCS_GRAYSCALE ? 1 : 3)) {
        c->rc = sa_error_set(c->err, SA_ERR_UNSUPPORTED, "JPEG: unexpected %d output components",
                             comps);
        return c->rc;
    }
    int out_ch = c->mode == SA__DECODE_RGB ? 3 : 1;
    if ((c->rc = sa_image_new(&c->img, w, h, out_ch, c->err))) return c->rc;
    c->row = malloc((size_t)w * (size_t)comps);
    if (!c->row) {
        c->rc = sa_error_set(c->err, SA_ERR_NOMEM, "JPEG: out of memory");
        return c->rc;
    }
    int inverted = cmyk && d->saw_Adobe_marker;
    while (d->output_scanline < d->output_height) {
        uint8_t *d0 = c->img.data + (size_t)d->output_scanline * (size_t)w * (size_t)out_ch;
        JSAMPROW rowp = c->row;
        if (jpeg_read_scanlines(d, &rowp, 1) != 1) {
            c->rc = sa_error_set(c->err, SA_ERR_FORMAT, "JPEG: decoder returned no scanline");
            return c->rc;
        }
        const uint8_t *s = c->row;
        for (int x = 0; x < w; x++, s += comps) {
            uint8_t rgb[3];
            if (comps == 1) {
                rgb[0] = rgb[1] = rgb[2] = s[0];
            } else if (comps == 3) {
                rgb[0] = s[0], rgb[1] = s[1], rgb[2] = s[2];
            } else {
                unsigned k = inverted ? s[3] : 255u - s[3];
                for (int i = 0; i < 3; i++) {
                    unsigned v = inverted ? s[i] : 255u - s[i];
                    rgb[i] = (uint8_t)((v * k + 127) / 255);
                }
            }
            if (out_ch == 3) {
                d0[3 * x] = rgb[0], d0[3 * x + 1] = rgb[1], d0[3 * x + 2] = rgb[2];
            } else {
                d0[x] = comps == 1 ? s[0] : sa__max3(rgb[0], rgb[1], rgb[2]);
            }
        }
    }
    jpeg_finish_decompress(d);
    return SA_OK;
}

int sa__jpeg_decode(const uint8_t *bytes, size_t n, int mode, sa_image *img, sa_error *err) {
    memset(img, 0, sizeof *img);
    if (!bytes || n < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8 || bytes[2] != 0xFF)
        return sa_error_set(err, SA_ERR_FORMAT, "not a JPEG file");
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "JPEG: out of memory");
    c->in = bytes;
    c->in_n = n;
    c->mode = mode;
    c->err = err;
    int rc = jpeg_decode_inner(c);
    if (rc && !c->rc) rc = sa_error_set(err, SA_ERR_FORMAT, "JPEG: %s", c->msg);
    if (c->d_created) jpeg_destroy_decompress(&c->d);
    free(c->row);
    if (rc) {
        sa_image_free(&c->img);
    } else {
        *img = c->img;
    }
    free(c);
    return rc;
}

static int jpeg_encode_inner(jpeg_ctx *c, const sa_image *img, int quality) {
    if (setjmp(c->jb)) return SA_ERR_FORMAT;
    struct jpeg_compress_struct *e = &c->e;
    e->err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_on_error;
    c->jerr.emit_message = jpeg_on_message;
    jpeg_create_compress(e);
    c->e_created = 1;
    jpeg_mem_dest(e, &c->out, &c->out_n);
    e->image_width = (JDIMENSION)img->width;
    e->image_height = (JDIMENSION)img->height;
    e->input_components = img->channels;
    e->in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(e);
    jpeg_set_quality(e, quality, TRUE);
    jpeg_start_compress(e, TRUE);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (e->next_scanline < e->image_height) {
        JSAMPROW rowp = img->data + stride * e->next_scanline;
        jpeg_write_scanlines(e, &rowp, 1);
    }
    jpeg_finish_compress(e);
    return SA_OK;
}

int sa__jpeg_encode(const sa_image *img, int quality, uint8_t **out, size_t *out_len,
                    sa_error *err) {
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) return sa_error_set(err, SA_ERR_NOMEM, "JPEG encoder: out of memory");
    c->err = err;
    int rc = jpeg_encode_inner(c, img, quality);
    if (rc && !c->rc) rc = sa_error_set(err, SA_ERR_NOMEM, "JPEG encoder: %s", c->msg);
    if (c->e_created) jpeg_destroy_compress(&c->e);
    if (rc) {
        free(c->out);
    } else {
        *out = c->out;
        *out_len = c->out_n;
    }
    free(c);
    return rc;
}
