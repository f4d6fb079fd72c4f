/* Label Studio brush RLE codec (see brush.h for the format). The encoder walks the mask once,
 * grouping equal values; a pixel is four equal values, so a run over pixels is four times as long
 * over values. The decoder checks every read against the end of the input and every run against the
 * declared count. */
#include "server/brush.h"

#include <stdlib.h>
#include <string.h>

typedef struct bitw {
    uint8_t *buf;
    size_t cap, nbits;
} bitw;

static int put_bits(bitw *w, uint32_t v, int bits) {
    if (w->nbits + (size_t)bits > w->cap * 8) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) return -1;
        memset(nb + w->cap, 0, cap - w->cap);
        w->buf = nb;
        w->cap = cap;
    }
    for (int i = bits - 1; i >= 0; i--) {
        if ((v >> i) & 1u) w->buf[w->nbits >> 3] |= (uint8_t)(0x80u >> (w->nbits & 7));
        w->nbits++;
    }
    return 0;
}

/* One group of `len` equal values, as encode_rle writes it. */
static int put_group(bitw *w, uint64_t len, uint8_t value) {
    int rc = 0;
    if (len == 1) {
        rc |= put_bits(w, 0, 1) | put_bits(w, 0, 2) | put_bits(w, 0, 3);
    } else if (len <= 8) {
        rc |= put_bits(w, 1, 1) | put_bits(w, 0, 2) | put_bits(w, (uint32_t)(len - 1), 3);
    } else if (len <= 16) {
        rc |= put_bits(w, 1, 1) | put_bits(w, 1, 2) | put_bits(w, (uint32_t)(len - 1), 4);
    } else if (len <= 256) {
        rc |= put_bits(w, 1, 1) | put_bits(w, 2, 2) | put_bits(w, (uint32_t)(len - 1), 8);
    } else {
        while (len > 65536) {
            rc |= put_bits(w, 1, 1) | put_bits(w, 3, 2) | put_bits(w, 65535, 16) |
                  put_bits(w, value, 8);
            len -= 65536;
        }
        rc |= put_bits(w, 1, 1) | put_bits(w, 3, 2) | put_bits(w, (uint32_t)(len - 1), 16);
    }
    rc |= put_bits(w, value, 8);
    return rc;
}

int sa__brush_encode(const sa_mask *m, uint8_t **out, size_t *n, sa_error *err) {
    if (!m || !m->data || !out || !n)
        return sa_error_set(err, SA_ERR_INVALID, "brush encode: no mask");
    *out = NULL;
    *n = 0;
    uint64_t pixels = (uint64_t)m->width * (uint64_t)m->height;
    if (pixels == 0 || pixels * 4 > UINT32_MAX)
        return sa_error_set(err, SA_ERR_RANGE, "brush encode: %dx%d mask too large for the format",
                            m->width, m->height);
    bitw w = {0};
    int rc = put_bits(&w, (uint32_t)(pixels * 4), 32) | put_bits(&w, 7, 5);
    static const int sizes[4] = {3, 4, 8, 16};
    for (int i = 0; i < 4; i++)
        rc |= put_bits(&w, (uint32_t)(sizes[i] - 1), 4);
    uint64_t i = 0;
    while (i < pixels && !rc) {
        uint8_t v = m->data[i] ? 1 : 0;
        uint64_t j = i + 1;
        while (j < pixels && (m->data[j] ? 1 : 0) == v)
            j++;
        rc |= put_group(&w, (j - i) * 4, v ? 255 : 0);
        i = j;
    }
    /* encode_rle pads to a multiple of 8 with 8 - len % 8 zeros: a whole zero byte when already
     * aligned */
    size_t pad = 8 - (w.nbits % 8);
    if (!rc) rc = put_bits(&w, 0, (int)pad);
    if (rc) {
        free(w.buf);
        return sa_error_set(err, SA_ERR_NOMEM, "brush encode: out of memory");
    }
    *out = w.buf;
    *n = w.nbits / 8;
    return SA_OK;
}

typedef struct bitr {
    const uint8_t *p;
    size_t nbits, pos;
} bitr;

/* Reads `bits` bits (<= 32); -1 past the end. */
static int get_bits(bitr *r, int bits, uint32_t *v) {
    if (r->pos + (size_t)bits > r->nbits) return -1;
    uint32_t x = 0;
    for (int i = 0; i < bits; i++, r->pos++)
        x = (x << 1) | ((r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
    *v = x;
    return 0;
}

int sa__brush_decode(const uint8_t *bytes, size_t n, int width, int height, sa_mask *m,
                     sa_error *err) {
    if (!m || (!bytes && n) || width <= 0 || height <= 0)
        return sa_error_set(err, SA_ERR_INVALID, "brush decode: bad arguments");
    memset(m, 0, sizeof *m);
    uint64_t want = (uint64_t)width * (uint64_t)height * 4;
    if (n > SIZE_MAX / 8 || want > UINT32_MAX)
        return sa_error_set(err, SA_ERR_RANGE, "brush decode: %dx%d too large", width, height);
    bitr r = {bytes, n * 8, 0};
    uint32_t num, wsz, sz[4];
    if (get_bits(&r, 32, &num) || get_bits(&r, 5, &wsz))
        return sa_error_set(err, SA_ERR_FORMAT, "brush RLE: truncated header");
    for (int i = 0; i < 4; i++)
        if (get_bits(&r, 4, &sz[i]))
            return sa_error_set(err, SA_ERR_FORMAT, "brush RLE: truncated header");
    if (num != want)
        return sa_error_set(err, SA_ERR_FORMAT,
                            "brush RLE: %u values for a %dx%d image (want %llu)", num, width,
                            height, (unsigned long long)want);
    int word = (int)wsz + 1;
    if (word > 8)
        return sa_error_set(err, SA_ERR_FORMAT, "brush RLE: word size %d bits unsupported", word);
    int rc = sa_mask_new(m, width, height, err);
    if (rc) return rc;
    uint64_t i = 0;
    while (i < num) {
        uint32_t is_run, which, cnt, val;
        if (get_bits(&r, 1, &is_run) || get_bits(&r, 2, &which) ||
            get_bits(&r, (int)sz[which] + 1, &cnt))
            goto truncated;
        uint64_t j = i + 1 + (uint64_t)cnt;
        if (j > num) {
            sa_mask_free(m);
            return sa_error_set(err, SA_ERR_FORMAT, "brush RLE: run past the %u values", num);
        }
        if (is_run) {
            if (get_bits(&r, word, &val)) goto truncated;
            if (val)
                for (uint64_t k = i; k < j; k++)
                    if ((k & 3) == 3) m->data[k >> 2] = 1;
        } else {
            for (uint64_t k = i; k < j; k++) {
                if (get_bits(&r, word, &val)) goto truncated;
                if ((k & 3) == 3 && val) m->data[k >> 2] = 1;
            }
        }
        i = j;
    }
    return SA_OK;
truncated:
    sa_mask_free(m);
    return sa_error_set(err, SA_ERR_FORMAT, "brush RLE: truncated after %llu of %u values",
                        (unsigned long long)i, num);
}
