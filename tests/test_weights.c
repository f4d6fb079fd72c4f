/* Weights: safetensors loading (fixtures, in-memory files, sharded index, directory dispatch),
 * dtype conversion, renaming, and the bad-input cases (wrong type, truncation, lying header, bad offsets,
 * unknown dtype, invalid JSON). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "segagent/weights.h"
#include "testutil.h"

/* ---- helpers */

/* Builds "u64 len | header | data" into a malloc'd buffer. */
static uint8_t *make_st(const char *header, const void *data, size_t dlen, size_t *n) {
    size_t hn = strlen(header);
    *n = 8 + hn + dlen;
    uint8_t *b = malloc(*n ? *n : 1);
    if (!b) exit(1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, header, hn);
    if (dlen) memcpy(b + 8 + hn, data, dlen);
    return b;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    if (n && fwrite(p, 1, n, f) != n) exit(1);
    fclose(f);
}

static char *pjoin(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Expects buffer parsing to fail with `code`; message must mention `needle` when given. */
static void expect_st_fail(const char *header, const void *data, size_t dlen, int code,
                           const char *needle) {
    size_t n;
    uint8_t *b = make_st(header, data, dlen, &n);
    sa_weights *w = NULL;
    sa_error err = {0};
    int rc = sa_weights_from_safetensors_buffer(b, n, &w, &err);
    CHECKF(rc == code, "header %s: rc %d (%s), expected %d", header, rc, err.msg, code);
    CHECK(w == NULL);
    if (needle) CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    sa_weights_free(w);
    free(b);
}

/* ---- fixtures */

static void test_fixture_tiny(void) {
    char *dir = tu_shared_path("fixtures/sam/tiny");
    sa_weights *w = NULL;
    sa_error err = {0};
    int rc = sa_weights_open(dir, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc == SA_OK) {
        CHECKF(sa_weights_count(w) == 202, "count %d", sa_weights_count(w));
        const sa_tensor *t = sa_weights_find(w, "vision_encoder.pos_embed");
        CHECK(t != NULL);
        if (t) {
            CHECK(t->dtype == SA_DTYPE_F32 && t->ndim == 4 && t->shape[0] == 1 &&
                  t->shape[1] == 16 && t->shape[2] == 16 && t->shape[3] == 64);
            CHECK(sa_tensor_numel(t) == 16384 && t->nbytes == 65536);
            CHECK(((uintptr_t)t->data % 4) == 0);
            float *f = malloc(16384 * sizeof *f);
            CHECK(sa_tensor_to_f32(t, f, 16384, &err) == SA_OK);
            double s = 0;
            for (int i = 0; i < 16384; i++)
                s += f[i];
            CHECKF(fabs(s - -0.6569933294449584) < 1e-4, "sum %g", s);
            CHECK(f[0] == -0.01117185689508915f && f[16383] == 0.15798631310462952f);
            CHECK(sa_tensor_to_f32(t, f, 100, &err) == SA_ERR_RANGE);
            free(f);
        }
        t = sa_weights_find(w, "vision_encoder.layers.1.attn.rel_pos_h");
        CHECK(t && t->ndim == 2 && t->shape[0] == 31 && t->shape[1] == 16);
        CHECK(sa_weights_find(w, "shared_image_embedding.positional_embedding") != NULL);
        CHECK(sa_weights_find(w, "vision_encoder.no_such_tensor") == NULL);
        CHECK(sa_weights_find(w, "") == NULL);
        const char *cfg = sa_weights_config_json(w);
        CHECK(cfg && strstr(cfg, "\"SamModel\"") && strstr(cfg, "global_attn_indexes"));
        for (int i = 0; i < sa_weights_count(w); i++) {
            const sa_tensor *a = sa_weights_at(w, i);
            CHECK(a && sa_weights_find(w, a->name) == a);
        }
        CHECK(sa_weights_at(w, -1) == NULL && sa_weights_at(w, 202) == NULL);
    }
    sa_weights_free(w);
    /* The same file named directly; config.json still found beside it. */
    char *file = pjoin(dir, "model.safetensors");
    w = NULL;
    rc = sa_weights_open(file, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(sa_weights_count(w) == 202 && sa_weights_config_json(w) != NULL);
    sa_weights_free(w);
    /* Expected outputs: U8 and F32 tensors. */
    char *exp = pjoin(dir, "expected.safetensors");
    w = NULL;
    rc = sa_weights_open(exp, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc == SA_OK) {
        CHECK(sa_weights_count(w) == 32);
        const sa_tensor *t = sa_weights_find(w, "resized_image");
        CHECK(t && t->dtype == SA_DTYPE_U8 && t->ndim == 3 && t->shape[0] == 171 &&
              t->shape[1] == 256 && t->shape[2] == 3);
        if (t) {
            int64_t n = sa_tensor_numel(t);
            float *f = malloc((size_t)n * sizeof *f);
            CHECK(sa_tensor_to_f32(t, f, n, &err) == SA_OK);
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                s += f[i];
            CHECKF(s == 14659864.0 && f[0] == 27.0f && f[n - 1] == 178.0f, "sum %g", s);
            free(f);
        }
    }
    sa_weights_free(w);
    free(exp);
    free(file);
    free(dir);

    char *b = tu_shared_path("fixtures/sam/b1024");
    w = NULL;
    rc = sa_weights_open(b, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(sa_weights_count(w) == 174);
    const sa_tensor *t = sa_weights_find(w, "vision_encoder.pos_embed");
    CHECK(t && t->shape[1] == 64 && t->shape[2] == 64 && t->shape[3] == 32);
    sa_weights_free(w);
    free(b);
}

/* ---- in-memory files */

static void test_dtypes(void) {
    /* F16 bit patterns and their exact float values. */
    static const uint16_t h[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x8001,
                                 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555};
    const float hv[] = {0.0f,
                        -0.0f,
                        1.0f,
                        -2.0f,
                        65504.0f,
                        5.9604644775390625e-8f,
                        -5.9604644775390625e-8f,
                        6.0975551605224609375e-5f,
                        6.103515625e-5f,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        0.333251953125f};
    static const uint16_t bf[] = {0x3f80, 0xc040, 0x0001, 0x7f80};
    const float bfv[] = {1.0f, -3.0f, 9.18354961579912e-41f, INFINITY};
    const double dv[] = {1.5, -1e300, 3.25};
    const int8_t i8[] = {-128, 127, 0};
    const int32_t i32[] = {-2147483647 - 1, 7};
    const int64_t i64[] = {-5, 1099511627776LL};
    const uint8_t u8[] = {0, 255, 3};
    uint8_t data[256];
    size_t off = 0;
#define PUT(x)                                                                                     \
    do {                                                                                           \
        memcpy(data + off, x, sizeof x);                                                           \
        off += sizeof x;                                                                           \
    } while (0)
    PUT(h); /* 0..26 */
    off = 32;
    PUT(bf); /* 32..40 */
    PUT(dv); /* 40..64 */
    PUT(i8); /* 64..67 */
    off = 68;
    PUT(i32);       /* 68..76 */
    PUT(i64);       /* 76..92 */
    PUT(u8);        /* 92..95 */
    data[95] = 255; /* 95..96: the bool (tensors may not share bytes) */
#undef PUT
    char header[1024];
    snprintf(header, sizeof header,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[13],\"data_offsets\":[0,26]},"
             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
             "\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[40,64]},"
             "\"i8\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[64,67]},"
             "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[68,76]},"
             "\"i64\":{\"dtype\":\"I64\",\"shape\":[2,1],\"data_offsets\":[76,92]},"
             "\"u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[92,95]},"
             "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[95,96]},"
             "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[28,32]},"
             "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[96,96]}}");
    size_t n;
    uint8_t *buf = make_st(header, data, 96, &n);
    sa_weights *w = NULL;
    sa_error err = {0};
    int rc = sa_weights_from_safetensors_buffer(buf, n, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    if (rc == SA_OK) {
        CHECK(sa_weights_count(w) == 10);
        float f[16];
        const sa_tensor *t = sa_weights_find(w, "h");
        CHECK(t && sa_tensor_to_f32(t, f, 13, &err) == SA_OK);
        for (int i = 0; t && i < 13; i++) {
            if (isnan(hv[i]))
                CHECKF(isnan(f[i]), "f16 %04x -> %g", h[i], f[i]);
            else
                CHECKF(f[i] == hv[i] && signbit(f[i]) == signbit(hv[i]),
                       "f16 %04x -> %.9g, want %.9g", h[i], f[i], hv[i]);
        }
        t = sa_weights_find(w, "bf");
        CHECK(t && sa_tensor_to_f32(t, f, 4, &err) == SA_OK);
        for (int i = 0; t && i < 4; i++)
            CHECKF(f[i] == bfv[i], "bf16 %d -> %g", i, f[i]);
        t = sa_weights_find(w, "d");
        CHECK(t && sa_tensor_to_f32(t, f, 3, &err) == SA_OK && f[0] == 1.5f && isinf(f[1]) &&
              f[1] < 0 && f[2] == 3.25f);
        t = sa_weights_find(w, "i8");
        CHECK(t && sa_tensor_to_f32(t, f, 3, &err) == SA_OK && f[0] == -128.0f && f[1] == 127.0f &&
              f[2] == 0.0f);
        t = sa_weights_find(w, "i32");
        CHECK(t && sa_tensor_to_f32(t, f, 2, &err) == SA_OK && f[0] == -2147483648.0f &&
              f[1] == 7.0f);
        t = sa_weights_find(w, "i64");
        CHECK(t && sa_tensor_to_f32(t, f, 2, &err) == SA_OK && f[0] == -5.0f &&
              f[1] == 1099511627776.0f);
        t = sa_weights_find(w, "u8");
        CHECK(t && sa_tensor_to_f32(t, f, 3, &err) == SA_OK && f[0] == 0.0f && f[1] == 255.0f &&
              f[2] == 3.0f);
        t = sa_weights_find(w, "b");
        CHECK(t && t->dtype == SA_DTYPE_BOOL && sa_tensor_to_f32(t, f, 1, &err) == SA_OK &&
              f[0] == 255.0f);
        t = sa_weights_find(w, "scalar");
        CHECK(t && t->ndim == 0 && sa_tensor_numel(t) == 1);
        t = sa_weights_find(w, "empty");
        CHECK(t && sa_tensor_numel(t) == 0 && t->nbytes == 0 &&
              sa_tensor_to_f32(t, NULL, 0, &err) == SA_OK);
        CHECK(strcmp(sa_dtype_name(SA_DTYPE_BF16), "BF16") == 0 &&
              sa_dtype_size(SA_DTYPE_I64) == 8);
    }
    sa_weights_free(w);
    free(buf);
}

/* Data offsets that leave an F32 tensor unaligned are copied into an aligned block. */
static void test_unaligned(void) {
    uint8_t data[16] = {0};
    float v[2] = {1.25f, -7.5f};
    memcpy(data + 1, v, 8);
    const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}";
    size_t n;
    uint8_t *buf = make_st(hdr, data, 16, &n);
    sa_weights *w = NULL;
    sa_error err = {0};
    CHECKF(sa_weights_from_safetensors_buffer(buf, n, &w, &err) == SA_OK, "%s", err.msg);
    const sa_tensor *t = sa_weights_find(w, "x");
    CHECK(t && ((uintptr_t)t->data % 4) == 0);
    if (t) CHECK(((const float *)t->data)[0] == 1.25f && ((const float *)t->data)[1] == -7.5f);
    sa_weights_free(w);
    free(buf);
}

static void test_bad_headers(void) {
    uint8_t data[64] = {0};
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,80]}}", data, 64,
                   SA_ERR_FORMAT, "outside");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", data, 64,
                   SA_ERR_FORMAT, "outside");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 64,
                   SA_ERR_RANGE, "need");
    expect_st_fail(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}",
        data, 64, SA_ERR_FORMAT, "shape");
    expect_st_fail(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
        data, 64, SA_ERR_RANGE, "overflow");
    expect_st_fail("{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", data, 64,
                   SA_ERR_UNSUPPORTED, "unknown dtype");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", data, 64,
                   SA_ERR_PARSE, "JSON");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data, 64,
                   SA_ERR_FORMAT, "shape");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", data, 64,
                   SA_ERR_FORMAT, "shape");
    expect_st_fail(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data,
        64, SA_ERR_UNSUPPORTED, "dimensions");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", data, 64, SA_ERR_FORMAT,
                   "data_offsets");
    expect_st_fail("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data, 64, SA_ERR_FORMAT,
                   "dtype");
    expect_st_fail("{\"x\":[1,2]}", data, 64, SA_ERR_FORMAT, "'x'");
    /* a dtype that is there but not a string is not "missing" */
    expect_st_fail("{\"x\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", data, 64,
                   SA_ERR_FORMAT,
                   "tensor 'x': dtype must be a string such as \"F32\" (got a number)");
    /* two tensors over one byte range (or part of one) are refused, naming both */
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                   data, 64, SA_ERR_FORMAT, "share bytes");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                   "\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[40,41]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                   data, 64, SA_ERR_FORMAT, "tensors 'x' [0, 16) and 'y' [12, 20) share bytes");
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                   data, 64, SA_ERR_FORMAT, "share bytes"); /* one inside another */
    { /* adjacent ranges and empty tensors are fine */
        size_t n;
        uint8_t *b = make_st("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                             "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                             data, 64, &n);
        sa_weights *w = NULL;
        sa_error err = {0};
        CHECKF(sa_weights_from_safetensors_buffer(b, n, &w, &err) == SA_OK, "%s", err.msg);
        sa_weights_free(w);
        free(b);
    }
    expect_st_fail("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                   data, 64, SA_ERR_FORMAT, "duplicate");
    expect_st_fail("[1,2,3]", data, 64, SA_ERR_FORMAT, NULL);

    /* Header length larger than the file / than the limit; too short for a length at all. */
    sa_weights *w = NULL;
    sa_error err = {0};
    size_t n;
    uint8_t *b = make_st("{}", NULL, 0, &n);
    b[0] = 200;
    CHECK(sa_weights_from_safetensors_buffer(b, n, &w, &err) == SA_ERR_FORMAT &&
          strstr(err.msg, "larger"));
    b[0] = 2;
    b[7] = 0x80;
    CHECK(sa_weights_from_safetensors_buffer(b, n, &w, &err) == SA_ERR_FORMAT &&
          strstr(err.msg, "larger"));
    b[7] = 0;
    CHECK(sa_weights_from_safetensors_buffer(b, 5, &w, &err) == SA_ERR_FORMAT &&
          strstr(err.msg, "truncated"));
    CHECK(sa_weights_from_safetensors_buffer(b, n, &w, &err) == SA_OK && sa_weights_count(w) == 0);
    sa_weights_free(w);
    w = NULL;
    CHECK(sa_weights_from_safetensors_buffer(NULL, 0, &w, &err) == SA_ERR_FORMAT && w == NULL);
    CHECK(sa_weights_from_safetensors_buffer(b, n, NULL, &err) == SA_ERR_INVALID);
    free(b);
}

/* sa_weights_rename callbacks: a prefix on every name; one name for all (a clash); a refusal of the
 * second name; keep every name. */
static int add_prefix(void *ctx, const char *name, char **out, sa_error *err) {
    (void)err;
    size_t n = strlen(name) + strlen(ctx) + 1;
    *out = malloc(n);
    if (!*out) exit(1);
    snprintf(*out, n, "%s%s", (const char *)ctx, name);
    return SA_OK;
}
static int same_name(void *ctx, const char *name, char **out, sa_error *err) {
    (void)ctx, (void)name, (void)err;
    *out = malloc(2);
    if (!*out) exit(1);
    strcpy(*out, "z");
    return SA_OK;
}
static int refuse_second(void *ctx, const char *name, char **out, sa_error *err) {
    int *calls = ctx;
    if (++*calls == 2) return sa_error_set(err, SA_ERR_RANGE, "refused '%s'", name);
    return add_prefix("r.", name, out, err);
}
static int keep_name(void *ctx, const char *name, char **out, sa_error *err) {
    (void)ctx, (void)name, (void)err;
    *out = NULL;
    return SA_OK;
}

static void test_rename(void) {
    float data[4] = {1, 2, 3, 4};
    size_t n;
    uint8_t *b = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                         data, sizeof data, &n);
    sa_weights *w = NULL;
    sa_error err = {0};
    CHECK(sa_weights_from_safetensors_buffer(b, n, &w, &err) == SA_OK && sa_weights_count(w) == 2);
    if (w) {
        const void *da = sa_weights_find(w, "a")->data;
        CHECKF(sa_weights_rename(w, add_prefix, "p.", &err) == SA_OK, "%s", err.msg);
        CHECK(!sa_weights_find(w, "a") && sa_weights_find(w, "p.a") &&
              sa_weights_find(w, "p.a")->data == da && sa_weights_find(w, "p.b"));
        /* all or nothing: a clash or a refusal leaves every name (and the lookup) as it was */
        CHECK(sa_weights_rename(w, same_name, NULL, &err) == SA_ERR_FORMAT &&
              strstr(err.msg, "duplicate"));
        CHECK(sa_weights_find(w, "p.a") && sa_weights_find(w, "p.b") && !sa_weights_find(w, "z"));
        int calls = 0;
        CHECK(sa_weights_rename(w, refuse_second, &calls, &err) == SA_ERR_RANGE &&
              strstr(err.msg, "refused 'p.b'"));
        CHECK(sa_weights_find(w, "p.a") && !sa_weights_find(w, "r.p.a"));
        CHECK(sa_weights_rename(w, keep_name, NULL, &err) == SA_OK &&
              strcmp(sa_weights_at(w, 0)->name, "p.a") == 0 && sa_weights_find(w, "p.b"));
        CHECK(sa_weights_rename(w, NULL, NULL, &err) == SA_ERR_INVALID);
    }
    sa_weights_free(w);
    free(b);
}

/* Files: wrong type, truncations of a real model at several points, directory dispatch, sharded
 * index. */
static void test_files(void) {
    char *tmp = tu_tmpdir();
    sa_weights *w = NULL;
    sa_error err = {0};
    int rc;

    char *png = tu_shared_path("fixtures/sam/tiny/image.png");
    rc = sa_weights_open(png, &w, &err);
    CHECKF(rc == SA_ERR_FORMAT && w == NULL && strstr(err.msg, "image.png"), "png: %d %s", rc,
           err.msg);
    free(png);

    CHECK(sa_weights_open("/nonexistent/dir/model.safetensors", &w, &err) == SA_ERR_IO &&
          w == NULL);
    {
        char *legacy = pjoin(tmp, "legacy.pth");
        write_file(legacy, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
        CHECK(sa_weights_open(legacy, &w, &err) == SA_ERR_UNSUPPORTED && !w &&
              strstr(err.msg, "legacy"));
        free(legacy);
    }

    char *model = tu_shared_path("fixtures/sam/tiny/model.safetensors");
    size_t mlen = 0;
    char *m = tu_read_file(model, &mlen);
    CHECK(m != NULL && mlen == 1893896);
    if (m) {
        const size_t cuts[] = {0,          3, 8, 9, 100, 23136 + 8 - 1, 23136 + 8, 23136 + 8 + 1000,
                               1893896 - 1};
        char *p = pjoin(tmp, "trunc.safetensors");
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            write_file(p, m, cuts[i]);
            w = NULL;
            rc = sa_weights_open(p, &w, &err);
            CHECKF(rc != SA_OK && w == NULL && strstr(err.msg, "trunc.safetensors"),
                   "cut at %zu: rc %d %s", cuts[i], rc, err.msg);
            if (cuts[i] > 9 && cuts[i] < 23136 + 8)
                CHECKF(strstr(err.msg, "larger than the file") != NULL, "cut at %zu: %s", cuts[i],
                       err.msg);
            sa_weights_free(w);
            /* and the same from memory */
            w = NULL;
            rc = sa_weights_from_safetensors_buffer((const uint8_t *)m, cuts[i], &w, &err);
            CHECKF(rc != SA_OK && w == NULL, "buffer cut at %zu", cuts[i]);
        }
        free(p);

        /* directory with one oddly named safetensors and a config */
        char *d1 = pjoin(tmp, "one");
        mkdir(d1, 0700);
        char *f1 = pjoin(d1, "weights-v2.safetensors");
        write_file(f1, m, mlen);
        char *c1 = pjoin(d1, "config.json");
        write_file(c1, "{\"a\":1}", 7);
        w = NULL;
        rc = sa_weights_open(d1, &w, &err);
        CHECKF(rc == SA_OK, "%s", err.msg);
        CHECK(sa_weights_count(w) == 202 && sa_weights_config_json(w) &&
              strcmp(sa_weights_config_json(w), "{\"a\":1}") == 0);
        sa_weights_free(w);
        /* a config.json that is not a JSON object is an error naming it, not a file to ignore */
        const char *bad_cfg[] = {"{\"vision_config\": {\"hidden_size\": 768,", "[1, 2]", ""};
        const int bad_code[] = {SA_ERR_PARSE, SA_ERR_FORMAT, SA_ERR_PARSE};
        for (int i = 0; i < 3; i++) {
            write_file(c1, bad_cfg[i], strlen(bad_cfg[i]));
            w = NULL;
            rc = sa_weights_open(d1, &w, &err);
            CHECKF(rc == bad_code[i] && !w && strstr(err.msg, "config.json"), "config %d: %d %s", i,
                   rc, err.msg);
        }
        write_file(c1, "{\"a\":1}", 7);
        /* a second candidate makes the choice ambiguous */
        char *f2 = pjoin(d1, "other.safetensors");
        write_file(f2, m, mlen);
        w = NULL;
        CHECK(sa_weights_open(d1, &w, &err) == SA_ERR_INVALID && w == NULL &&
              strstr(err.msg, "2 .safetensors"));
        free(f1);
        free(f2);
        free(c1);
        free(d1);
        char *d2 = pjoin(tmp, "empty");
        mkdir(d2, 0700);
        CHECK(sa_weights_open(d2, &w, &err) == SA_ERR_NOT_FOUND && w == NULL);
        free(d2);
        free(m);
    }
    free(model);

    /* Sharded: two shards and an index. */
    char *d3 = pjoin(tmp, "sharded");
    mkdir(d3, 0700);
    float a[3] = {1, 2, 3}, bq[3] = {4, 5, 5};
    size_t na, nb;
    uint8_t *sa =
        make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", a, 12, &na);
    uint8_t *sb = make_st("{\"b\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                          "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                          bq, 12, &nb);
    char *pa = pjoin(d3, "model-00001-of-00002.safetensors"),
         *pb = pjoin(d3, "model-00002-of-00002.safetensors");
    write_file(pa, sa, na);
    write_file(pb, sb, nb);
    char *pi = pjoin(d3, "model.safetensors.index.json");
    const char *idx =
        "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"a\":\"model-00001-of-00002."
        "safetensors\","
        "\"b\":\"model-00002-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}}";
    write_file(pi, idx, strlen(idx));
    w = NULL;
    rc = sa_weights_open(d3, &w, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(sa_weights_count(w) == 3);
    const sa_tensor *t = sa_weights_find(w, "c");
    CHECK(t && ((const float *)t->data)[0] == 5.0f);
    t = sa_weights_find(w, "a");
    CHECK(t && ((const float *)t->data)[2] == 3.0f);
    sa_weights_free(w);
    w = NULL;
    rc = sa_weights_open(pi, &w, &err); /* the index named directly */
    CHECKF(rc == SA_OK && sa_weights_count(w) == 3, "%s", err.msg);
    sa_weights_free(w);
    const char *idx2 = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"zz\":"
                       "\"model-00001-of-00002.safetensors\"}}";
    write_file(pi, idx2, strlen(idx2));
    w = NULL;
    CHECK(sa_weights_open(d3, &w, &err) == SA_ERR_NOT_FOUND && w == NULL &&
          strstr(err.msg, "'zz'"));
    const char *idx3 = "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}";
    write_file(pi, idx3, strlen(idx3));
    CHECK(sa_weights_open(d3, &w, &err) == SA_ERR_FORMAT && w == NULL);
    const char *idx4 = "{\"weight_map\":{\"a\":\"missing.safetensors\"}}";
    write_file(pi, idx4, strlen(idx4));
    CHECK(sa_weights_open(d3, &w, &err) == SA_ERR_IO && w == NULL &&
          strstr(err.msg, "missing.safetensors"));
    write_file(pi, "{\"weight_map\":", 14);
    CHECK(sa_weights_open(d3, &w, &err) == SA_ERR_PARSE && w == NULL);
    /* the same tensor in two shards */
    const char *idx5 =
        "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"a2\":\"dup.safetensors\"}}";
    char *pd = pjoin(d3, "dup.safetensors");
    write_file(pd, sa, na);
    write_file(pi, idx5, strlen(idx5));
    CHECK(sa_weights_open(d3, &w, &err) != SA_OK && w == NULL);
    free(pd);
    free(sa);
    free(sb);
    free(pa);
    free(pb);
    free(pi);
    free(d3);
    free(tmp);
}

int main(void) {
    /* in-memory cases first: they need no fixtures */
    test_dtypes();
    test_unaligned();
    test_bad_headers();
    test_rename();
    if (tu_failures) return tu_finish("test_weights");
    tu_require_shared();
    test_fixture_tiny();
    test_files();
    return tu_finish("test_weights");
}
