/* Image formats and files: the codec dispatch for decoding (from memory or a path) and encoding (to
 * memory or a path).
 *
 * Design: the codecs (image_png.c, image_jpeg.c, image_bmp.c, behind image_codecs.h) work on memory
 * buffers only. This file picks the decoder from the leading bytes (never the file name), reads
 * files with the library's bounded reader (at most SA__MAX_IMAGE_BYTES: a 32768^2 BMP is 3 GiB, and
 * such files are refused by the pixel limit anyway) and writes them through a temporary file
 * renamed into place, so a failed save leaves no partial file. Codec messages get the file name in
 * front.
 */
#include "segagent/image.h"

#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "image/image_codecs.h"

static int decode_any(const uint8_t *b, size_t n, int mode, sa_image *img, sa_error *err) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (!img) return sa_error_set(err, SA_ERR_INVALID, "image decode: NULL output");
    memset(img, 0, sizeof *img);
    if (!b && n) return sa_error_set(err, SA_ERR_INVALID, "image decode: NULL input");
    if (n == 0) return sa_error_set(err, SA_ERR_FORMAT, "empty file");
    if (n >= 8 && !memcmp(b, png_sig, 8)) return sa__png_decode(b, n, mode, img, err);
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return sa__jpeg_decode(b, n, mode, img, err);
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return sa__bmp_decode(b, n, mode, img, err);
    return sa_error_set(err, SA_ERR_FORMAT, "unknown image format (not PNG, JPEG or BMP)");
}

int sa_image_decode(const uint8_t *bytes, size_t n, sa_image *img, sa_error *err) {
    return decode_any(bytes, n, SA__DECODE_RGB, img, err);
}

static int load_any(const char *path, int mode, sa_image *img, sa_error *err) {
    if (img) memset(img, 0, sizeof *img);
    if (!path || !img) return sa_error_set(err, SA_ERR_INVALID, "image load: NULL argument");
    char *buf;
    size_t n;
    int rc = sa__read_file(path, SA__MAX_IMAGE_BYTES, &buf, &n, err);
    if (rc) return rc;
    sa_error e = {0};
    rc = decode_any((const uint8_t *)buf, n, mode, img, &e);
    free(buf);
    if (rc) return sa_error_set(err, rc, "%s: %s", path, e.msg);
    return SA_OK;
}

int sa_image_load(const char *path, sa_image *img, sa_error *err) {
    return load_any(path, SA__DECODE_RGB, img, err);
}

int sa_image_load_values(const char *path, sa_image *img, sa_error *err) {
    return load_any(path, SA__DECODE_VALUES, img, err);
}

int sa_image_encode_png(const sa_image *img, uint8_t **out, size_t *out_len, sa_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!sa__image_valid(img) || !out || !out_len)
        return sa_error_set(err, SA_ERR_INVALID, "PNG encode: invalid argument");
    return sa__png_encode(img, out, out_len, err);
}

int sa_image_encode_jpeg(const sa_image *img, int quality, uint8_t **out, size_t *out_len,
                         sa_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!sa__image_valid(img) || !out || !out_len)
        return sa_error_set(err, SA_ERR_INVALID, "JPEG encode: invalid argument");
    if (quality < 1 || quality > 100)
        return sa_error_set(err, SA_ERR_RANGE, "JPEG encode: quality %d outside 1..100", quality);
    return sa__jpeg_encode(img, quality, out, out_len, err);
}

/* Encodes (PNG, or JPEG of the given quality) and writes all or nothing to path. */
static int save_any(const char *path, const sa_image *img, int jpeg, int quality, sa_error *err) {
    uint8_t *buf;
    size_t n;
    sa_error e = {0};
    int rc = jpeg ? sa_image_encode_jpeg(img, quality, &buf, &n, &e)
                  : sa_image_encode_png(img, &buf, &n, &e);
    if (rc) return sa_error_set(err, rc, "%s: %s", path, e.msg);
    rc = sa_file_write(path, buf, n, err);
    free(buf);
    return rc;
}

int sa_image_save_png(const char *path, const sa_image *img, sa_error *err) {
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "PNG save: NULL path");
    return save_any(path, img, 0, 0, err);
}

int sa_image_save_jpeg(const char *path, const sa_image *img, int quality, sa_error *err) {
    if (!path) return sa_error_set(err, SA_ERR_INVALID, "JPEG save: NULL path");
    return save_any(path, img, 1, quality, err);
}
