/* libFuzzer target for the untrusted RLE inputs: the compressed string decoder and the JSON form.
 * Input: byte 0 and 1 give h and w (0..255), the rest is the string (or, starting with '{', a JSON
 * object, or, starting with 'P', raw doubles read as polygon points for the rasteriser, NaN and
 * huge values included). Whatever is accepted must survive decode / encode / string round trips
 * with the same counts and area. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segagent/rle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const sa_rle *r) {
    sa_error err = {0};
    double box[4];
    sa_rle_bbox(r, box);
    char *s = NULL;
    if (sa_rle_to_string(r, &s, &err) != SA_OK) abort();
    sa_rle back = {0};
    if (sa_rle_from_string(s, strlen(s), r->h, r->w, &back, &err) != SA_OK) abort();
    if (back.m != r->m || (r->m && memcmp(back.counts, r->counts, r->m * sizeof *r->counts) != 0))
        abort();
    sa_mask m = {0};
    if (r->h > 0 && r->w > 0) {
        if (sa_rle_decode(r, &m, &err) != SA_OK) abort();
        sa_rle enc = {0};
        if (sa_rle_encode(&m, &enc, &err) != SA_OK) abort();
        if (sa_rle_area(&enc) != sa_rle_area(r) || sa_rle_area(r) != sa_mask_area(&m)) abort();
        sa_rle u = {0};
        double iou = 0;
        if (sa_rle_merge(r, &enc, 0, &u, &err) != SA_OK || sa_rle_area(&u) != sa_rle_area(r))
            abort();
        if (sa_rle_iou(r, &enc, 0, &iou, &err) != SA_OK || (sa_rle_area(r) && iou != 1.0)) abort();
        sa_rle_free(&u);
        sa_rle_free(&enc);
        sa_mask_free(&m);
    }
    sa_rle_free(&back);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int h = data[0], w = data[1];
    const char *s = (const char *)data + 2;
    size_t len = size - 2;
    sa_rle r = {0};
    sa_error err = {0};
    if (len > 0 && s[0] == 'P') {
        size_t n = (len - 1) / (2 * sizeof(double));
        double *xy = malloc((n ? n : 1) * 2 * sizeof *xy);
        if (!xy) return 0;
        if (n) memcpy(xy, s + 1, n * 2 * sizeof *xy);
        if (sa_rle_from_polygon(xy, n, h + 1, w + 1, &r, &err) == SA_OK) exercise(&r);
        free(xy);
    } else if (len > 0 && s[0] == '{') {
        char *txt = malloc(len + 1);
        if (!txt) return 0;
        memcpy(txt, s, len);
        txt[len] = '\0';
        cJSON *j = cJSON_Parse(txt);
        if (j && sa_rle_from_json(j, &r, &err) == SA_OK) exercise(&r);
        cJSON_Delete(j);
        free(txt);
    } else if (sa_rle_from_string(s, len, h, w, &r, &err) == SA_OK) {
        exercise(&r);
    }
    sa_rle_free(&r);
    return 0;
}
