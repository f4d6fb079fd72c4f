/* .pth loading: the official-format fixture against the HF safetensors (names after the SAM loader's
 * mapping, bitwise data), the SAM name table and renaming, and handcrafted torch.save zips (zip64, deflate, strided
 * views, nested dicts) including the refusals: forbidden globals, views outside their storage,
 * entries beyond the file, truncation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <zlib.h>

#include "sam/sam_names.h"
#include "segagent/weights.h"
#include "testutil.h"

/* ---- growable byte buffer */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n)
            nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) exit(1);
        b->p = q;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void bb_u8(bb *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    bb_put(b, &c, 1);
}
static void bb_u16(bb *b, unsigned v) {
    bb_u8(b, v & 0xff);
    bb_u8(b, (v >> 8) & 0xff);
}
static void bb_u32(bb *b, uint32_t v) {
    bb_u16(b, v & 0xffff);
    bb_u16(b, v >> 16);
}
static void bb_u64(bb *b, uint64_t v) {
    bb_u32(b, (uint32_t)v);
    bb_u32(b, (uint32_t)(v >> 32));
}

/* ---- pickle writer */

static void pk_str(bb *b, const char *s) {
    bb_u8(b, 'X');
    bb_u32(b, (uint32_t)strlen(s));
    bb_put(b, s, strlen(s));
}
static void pk_int(bb *b, int64_t v) {
    if (v >= 0 && v < 256) {
        bb_u8(b, 'K');
        bb_u8(b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        bb_u8(b, 'J');
        bb_u32(b, (uint32_t)(int32_t)v);
    } else {
        bb_u8(b, 0x8a);
        bb_u8(b, 8);
        bb_u64(b, (uint64_t)v);
    }
}
static void pk_global(bb *b, const char *mod, const char *name) {
    bb_u8(b, 'c');
    bb_put(b, mod, strlen(mod));
    bb_u8(b, '\n');
    bb_put(b, name, strlen(name));
    bb_u8(b, '\n');
}
static void pk_tuple(bb *b, int n, const int64_t *v) {
    bb_u8(b, '(');
    for (int i = 0; i < n; i++)
        pk_int(b, v[i]);
    bb_u8(b, 't');
}

/* Pushes a tensor value: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()),
 * optionally wrapped in _rebuild_parameter. */
static void pk_tensor(bb *b, const char *stype, const char *key, int64_t numel, int64_t offset,
                      int ndim, const int64_t *shape, const int64_t *stride, int as_param) {
    if (as_param) pk_global(b, "torch._utils", "_rebuild_parameter");
    if (as_param) bb_u8(b, '(');
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    bb_u8(b, '(');
    bb_u8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", stype);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    bb_u8(b, 't');
    bb_u8(b, 'Q');
    pk_int(b, offset);
    pk_tuple(b, ndim, shape);
    pk_tuple(b, ndim, stride);
    bb_u8(b, 0x89);
    pk_global(b, "collections", "OrderedDict");
    bb_u8(b, ')');
    bb_u8(b, 'R');
    bb_u8(b, 't');
    bb_u8(b, 'R');
    if (as_param) {
        bb_u8(b, 0x88);
        pk_global(b, "collections", "OrderedDict");
        bb_u8(b, ')');
        bb_u8(b, 'R');
        bb_u8(b, 't');
        bb_u8(b, 'R');
    }
}

/* ---- zip writer: stored or deflated entries, optionally with zip64 records */

typedef struct zfile {
    const char *name;
    const void *data;
    size_t len;
    int deflate;
} zfile;

/* Zero bytes that follow entry i's data in the archives build_zip writes (deflated, streamed): zip
 * bombs for test_bombs, which sets and clears them. */
static size_t zip_zeros[16];

/* Raw deflate of data followed by `zeros` zero bytes, fed in 1 MiB pieces: a bomb of any size costs
 * the test its compressed size only. */
static void deflate_with_zeros(bb *out, const void *data, size_t len, size_t zeros) {
    static uint8_t zbuf[1 << 20];
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    uint8_t chunk[1 << 16];
    size_t fed = 0, total = len + zeros;
    int flush = Z_NO_FLUSH;
    do {
        if (s.avail_in == 0 && fed < total) {
            if (fed < len) {
                s.next_in = (Bytef *)(uintptr_t)data + fed;
                s.avail_in = (uInt)(len - fed);
            } else {
                size_t k = total - fed < sizeof zbuf ? total - fed : sizeof zbuf;
                s.next_in = zbuf;
                s.avail_in = (uInt)k;
            }
            fed += s.avail_in;
        }
        flush = fed == total ? Z_FINISH : Z_NO_FLUSH;
        s.next_out = chunk;
        s.avail_out = sizeof chunk;
        int r = deflate(&s, flush);
        bb_put(out, chunk, sizeof chunk - s.avail_out);
        if (r == Z_STREAM_END) break;
    } while (1);
    deflateEnd(&s);
}

static void build_zip(bb *out, const zfile *f, int nf, int zip64) {
    uint64_t offs[16];
    uint32_t crcs[16];
    bb comp[16];
    memset(comp, 0, sizeof comp);
    for (int i = 0; i < nf; i++) {
        crcs[i] = (uint32_t)crc32(0, f[i].data, (uInt)f[i].len);
        if (zip_zeros[i]) {
            deflate_with_zeros(&comp[i], f[i].data, f[i].len, zip_zeros[i]);
        } else if (f[i].deflate) {
            z_stream s;
            memset(&s, 0, sizeof s);
            deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            uLong bound = deflateBound(&s, (uLong)f[i].len);
            comp[i].p = malloc(bound + 16);
            s.next_in = (Bytef *)(uintptr_t)f[i].data;
            s.avail_in = (uInt)f[i].len;
            s.next_out = comp[i].p;
            s.avail_out = (uInt)bound + 16;
            deflate(&s, Z_FINISH);
            comp[i].n = s.total_out;
            deflateEnd(&s);
        } else {
            bb_put(&comp[i], f[i].data, f[i].len);
        }
        offs[i] = out->n;
        bb_u32(out, 0x04034b50u);
        bb_u16(out, 20);
        bb_u16(out, 0);
        bb_u16(out, f[i].deflate ? 8 : 0);
        bb_u32(out, 0);
        bb_u32(out, crcs[i]);
        bb_u32(out, (uint32_t)comp[i].n);
        bb_u32(out, (uint32_t)(f[i].len + zip_zeros[i]));
        bb_u16(out, (unsigned)strlen(f[i].name));
        /* pad so that payloads start on 64-byte boundaries, as torch does */
        size_t hdr_end = out->n + 2 + strlen(f[i].name) + 4;
        size_t pad = (64 - hdr_end % 64) % 64;
        bb_u16(out, (unsigned)(pad + 4));
        bb_put(out, f[i].name, strlen(f[i].name));
        bb_u16(out, 0x1234);
        bb_u16(out, (unsigned)pad);
        for (size_t k = 0; k < pad; k++)
            bb_u8(out, 'Z');
        bb_put(out, comp[i].p, comp[i].n);
    }
    uint64_t cd = out->n;
    for (int i = 0; i < nf; i++) {
        bb_u32(out, 0x02014b50u);
        bb_u16(out, 45);
        bb_u16(out, 45);
        bb_u16(out, 0);
        bb_u16(out, f[i].deflate ? 8 : 0);
        bb_u32(out, 0);
        bb_u32(out, crcs[i]);
        bb_u32(out, zip64 ? 0xffffffffu : (uint32_t)comp[i].n);
        bb_u32(out, zip64 ? 0xffffffffu : (uint32_t)(f[i].len + zip_zeros[i]));
        bb_u16(out, (unsigned)strlen(f[i].name));
        bb_u16(out, zip64 ? 28 : 0);
        bb_u16(out, 0);
        bb_u16(out, 0);
        bb_u16(out, 0);
        bb_u32(out, 0);
        bb_u32(out, zip64 ? 0xffffffffu : (uint32_t)offs[i]);
        bb_put(out, f[i].name, strlen(f[i].name));
        if (zip64) {
            bb_u16(out, 1);
            bb_u16(out, 24);
            bb_u64(out, f[i].len + zip_zeros[i]);
            bb_u64(out, comp[i].n);
            bb_u64(out, offs[i]);
        }
        free(comp[i].p);
    }
    uint64_t cdsize = out->n - cd;
    if (zip64) {
        uint64_t z64 = out->n;
        bb_u32(out, 0x06064b50u);
        bb_u64(out, 44);
        bb_u16(out, 45);
        bb_u16(out, 45);
        bb_u32(out, 0);
        bb_u32(out, 0);
        bb_u64(out, (uint64_t)nf);
        bb_u64(out, (uint64_t)nf);
        bb_u64(out, cdsize);
        bb_u64(out, cd);
        bb_u32(out, 0x07064b50u);
        bb_u32(out, 0);
        bb_u64(out, z64);
        bb_u32(out, 1);
    }
    bb_u32(out, 0x06054b50u);
    bb_u16(out, 0);
    bb_u16(out, 0);
    bb_u16(out, zip64 ? 0xffff : (unsigned)nf);
    bb_u16(out, zip64 ? 0xffff : (unsigned)nf);
    bb_u32(out, zip64 ? 0xffffffffu : (uint32_t)cdsize);
    bb_u32(out, zip64 ? 0xffffffffu : (uint32_t)cd);
    bb_u16(out, 0);
}

/* ---- fixture */

static void test_fixture(void) {
    char *pth = tu_shared_path("fixtures/sam/tiny/sam_official.pth");
    char *st = tu_shared_path("fixtures/sam/tiny/model.safetensors");
    sa_weights *a = NULL, *b = NULL;
    sa_error err = {0};
    /* As stored: the official names, nothing renamed by the generic loader. */
    int rc = sa_weights_open(pth, &a, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    CHECK(sa_weights_count(a) == 202);
    CHECK(sa_weights_find(a, "image_encoder.blocks.0.norm1.weight") != NULL);
    CHECK(sa_weights_find(a, "mask_decoder.output_hypernetworks_mlps.3.layers.2.weight") != NULL);
    CHECK(sa_weights_find(a, "vision_encoder.pos_embed") == NULL);
    /* config.json beside the .pth is picked up as well */
    CHECK(sa_weights_config_json(a) != NULL);
    /* The SAM loader's renaming gives the HF names. */
    rc = sa__sam_map_weights(a, pth, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    rc = sa_weights_open(st, &b, &err);
    CHECKF(rc == SA_OK, "%s", err.msg);
    /* the HF file is left as it is (already HF names) */
    CHECK(b && sa__sam_map_weights(b, st, &err) == SA_OK && sa_weights_count(b) == 202);
    if (a && b) {
        /* One name differs: the tied Fourier matrix, which the HF file keeps only at the top level
         * (shared_image_embedding.positional_embedding) and the official one under the prompt encoder. */
        CHECKF(sa_weights_count(a) == 202 && sa_weights_count(b) == 202, "counts %d %d",
               sa_weights_count(a), sa_weights_count(b));
        int only_a = 0, same = 0;
        for (int i = 0; i < sa_weights_count(a); i++) {
            const sa_tensor *t = sa_weights_at(a, i), *u = sa_weights_find(b, t->name);
            if (!u) {
                only_a++;
                CHECKF(strcmp(t->name, SA__SAM_PE_PROMPT) == 0, "only in pth: %s", t->name);
                u = sa_weights_find(b, SA__SAM_PE_SHARED);
                if (!u) continue;
            }
            int eq = t->dtype == u->dtype && t->ndim == u->ndim &&
                     memcmp(t->shape, u->shape, sizeof(int64_t) * (size_t)t->ndim) == 0 &&
                     t->nbytes == u->nbytes && memcmp(t->data, u->data, t->nbytes) == 0;
            CHECKF(eq, "tensor %s differs", t->name);
            same += eq;
        }
        CHECK(only_a == 1 && same == 202);
        for (int i = 0; i < sa_weights_count(b); i++) {
            const char *nm = sa_weights_at(b, i)->name;
            CHECKF(sa_weights_find(a, nm) != NULL || strcmp(nm, SA__SAM_PE_SHARED) == 0,
                   "only in safetensors: %s", nm);
        }
        /* stored zip entries are served in place and aligned */
        const sa_tensor *t = sa_weights_find(a, "vision_encoder.pos_embed");
        CHECK(t && ((uintptr_t)t->data % 64) == 0);
    }
    sa_weights_free(a);
    sa_weights_free(b);

    /* From memory, and truncated at several points. */
    size_t n = 0;
    char *buf = tu_read_file(pth, &n);
    CHECK(buf && n == 1936361);
    if (buf) {
        a = NULL;
        rc = sa_weights_from_pth_buffer((const uint8_t *)buf, n, &a, &err);
        CHECKF(rc == SA_OK && sa_weights_count(a) == 202, "%s", err.msg);
        sa_weights_free(a);
        const size_t cuts[] = {0, 4, 30, 1000, 26140, 500000, n - 23, n - 22, n - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            a = NULL;
            rc = sa_weights_from_pth_buffer((const uint8_t *)buf, cuts[i], &a, &err);
            CHECKF(rc != SA_OK && a == NULL, "cut at %zu accepted", cuts[i]);
        }
        /* a directory holding only the .pth is dispatched to it */
        char *tmp = tu_tmpdir();
        size_t tl = strlen(tmp) + 32;
        char *cp = malloc(tl);
        snprintf(cp, tl, "%s/sam_vit_x.pth", tmp);
        FILE *f = fopen(cp, "wb");
        CHECK(f && fwrite(buf, 1, n, f) == n);
        if (f) fclose(f);
        a = NULL;
        rc = sa_weights_open(tmp, &a, &err);
        CHECKF(rc == SA_OK && sa_weights_count(a) == 202 && sa_weights_config_json(a) == NULL, "%s",
               err.msg);
        sa_weights_free(a);
        free(cp);
        free(tmp);
        free(buf);
    }
    free(pth);
    free(st);
}

static void test_name_map(void) {
    static const char *const cases[][2] = {
        {"image_encoder.blocks.3.norm1.weight", "vision_encoder.layers.3.layer_norm1.weight"},
        {"image_encoder.patch_embed.proj.bias", "vision_encoder.patch_embed.projection.bias"},
        {"image_encoder.neck.2.weight", "vision_encoder.neck.conv2.weight"},
        {"image_encoder.blocks.11.attn.rel_pos_h", "vision_encoder.layers.11.attn.rel_pos_h"},
        {"mask_decoder.iou_prediction_head.layers.0.weight",
         "mask_decoder.iou_prediction_head.proj_in.weight"},
        {"mask_decoder.iou_prediction_head.layers.1.bias",
         "mask_decoder.iou_prediction_head.layers.0.bias"},
        {"mask_decoder.iou_prediction_head.layers.2.bias",
         "mask_decoder.iou_prediction_head.proj_out.bias"},
        {"mask_decoder.output_hypernetworks_mlps.12.layers.0.weight",
         "mask_decoder.output_hypernetworks_mlps.12.proj_in.weight"},
        {"mask_decoder.output_hypernetworks_mlps.2.layers.1.weight",
         "mask_decoder.output_hypernetworks_mlps.2.layers.0.weight"},
        {"mask_decoder.output_hypernetworks_mlps.0.layers.2.bias",
         "mask_decoder.output_hypernetworks_mlps.0.proj_out.bias"},
        {"mask_decoder.output_upscaling.1.weight", "mask_decoder.upscale_layer_norm.weight"},
        {"mask_decoder.transformer.norm_final_attn.bias",
         "mask_decoder.transformer.layer_norm_final_attn.bias"},
        {"mask_decoder.transformer.layers.1.norm4.weight",
         "mask_decoder.transformer.layers.1.layer_norm4.weight"},
        {"prompt_encoder.mask_downscaling.6.weight", "prompt_encoder.mask_embed.conv3.weight"},
        {"prompt_encoder.point_embeddings.2.weight", "prompt_encoder.point_embed.2.weight"},
        {"prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
         "prompt_encoder.shared_embedding.positional_embedding"},
        {"prompt_encoder.no_mask_embed.weight", "prompt_encoder.no_mask_embed.weight"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(sa__sam_map_name(cases[i][0], out, sizeof out) == 0);
        CHECKF(strcmp(out, cases[i][1]) == 0, "%s -> %s (want %s)", cases[i][0], out, cases[i][1]);
    }
    CHECK(sa__sam_map_name("image_encoder.blocks.0.norm1.weight", out, 20) == -1);
    CHECK(sa__sam_name_is_official("image_encoder.pos_embed") &&
          !sa__sam_name_is_official("vision_encoder.x"));
}

/* ---- handcrafted archives */

static int load(const bb *z, sa_weights **w, sa_error *err) {
    *w = NULL;
    return sa_weights_from_pth_buffer(z->p, z->n, w, err);
}

static void test_handmade(void) {
    float s0[6] = {1, 2, 3, 4, 5, 6};
    uint16_t s1[4] = {0x3c00, 0xc000, 0x0001, 0x7c00}; /* F16: 1, -2, 2^-24, inf */
    for (int zip64 = 0; zip64 <= 1; zip64++) {
        for (int defl = 0; defl <= 1; defl++) {
            bb pk = {0};
            bb_u8(&pk, 0x80);
            bb_u8(&pk, 2);
            bb_u8(&pk, '}');
            bb_u8(&pk, '(');
            pk_str(&pk, "model");
            bb_u8(&pk, '}');
            bb_u8(&pk, 'q');
            bb_u8(&pk, 1);
            bb_u8(&pk, '(');
            int64_t sh[2] = {2, 3}, sr[2] = {3, 1}, tsh[2] = {3, 2}, tsr[2] = {1, 3}, vsh[1] = {2},
                    vsr[1] = {1};
            pk_str(&pk, "w");
            pk_tensor(&pk, "FloatStorage", "0", 6, 0, 2, sh, sr, 1);
            pk_str(&pk, "wt"); /* transposed view of the same storage */
            pk_tensor(&pk, "FloatStorage", "0", 6, 0, 2, tsh, tsr, 0);
            pk_str(&pk, "tail"); /* offset view */
            pk_tensor(&pk, "FloatStorage", "0", 6, 4, 1, vsh, vsr, 0);
            pk_str(&pk, "h");
            int64_t hs[1] = {4}, hst[1] = {1};
            pk_tensor(&pk, "HalfStorage", "1", 4, 0, 1, hs, hst, 0);
            pk_str(&pk, "epoch");
            pk_int(&pk, 1234567);
            bb_u8(&pk, 'u');
            pk_str(&pk, "other");
            pk_str(&pk, "x");
            bb_u8(&pk, 'u');
            bb_u8(&pk, '.');
            zfile f[4] = {{"ck/data.pkl", pk.p, pk.n, defl},
                          {"ck/data/0", s0, sizeof s0, defl},
                          {"ck/data/1", s1, sizeof s1, 0},
                          {"ck/version", "3\n", 2, 0}};
            bb z = {0};
            build_zip(&z, f, 4, zip64);
            sa_weights *w;
            sa_error err = {0};
            int rc = load(&z, &w, &err);
            CHECKF(rc == SA_OK, "zip64 %d deflate %d: %s", zip64, defl, err.msg);
            if (rc == SA_OK) {
                CHECK(sa_weights_count(w) == 4);
                const sa_tensor *t = sa_weights_find(w, "w");
                CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
                      memcmp(t->data, s0, sizeof s0) == 0);
                t = sa_weights_find(w, "wt");
                float e_t[6] = {1, 4, 2, 5, 3, 6}, got[6];
                CHECK(t && t->shape[0] == 3 && sa_tensor_to_f32(t, got, 6, &err) == SA_OK &&
                      memcmp(got, e_t, sizeof got) == 0);
                t = sa_weights_find(w, "tail");
                CHECK(t && sa_tensor_to_f32(t, got, 2, &err) == SA_OK && got[0] == 5 &&
                      got[1] == 6);
                t = sa_weights_find(w, "h");
                CHECK(t && t->dtype == SA_DTYPE_F16 && sa_tensor_to_f32(t, got, 4, &err) == SA_OK &&
                      got[0] == 1 && got[1] == -2 && got[2] == 5.9604644775390625e-8f &&
                      got[3] > 1e38f);
            }
            sa_weights_free(w);
            /* every truncation fails cleanly */
            for (size_t cut = 0; cut < z.n; cut += (z.n / 97) + 1) {
                sa_weights *w2 = NULL;
                rc = sa_weights_from_pth_buffer(z.p, cut, &w2, &err);
                CHECKF(rc != SA_OK && !w2, "cut %zu accepted", cut);
                sa_weights_free(w2);
            }
            free(z.p);
            free(pk.p);
        }
    }
}

/* One tensor "t" of 4 floats, with the pickle given as a whole; expects failure `code` mentioning
 * `needle`. */
static void expect_pickle_fail(const bb *pk, int code, const char *needle, const char *label) {
    float s0[4] = {1, 2, 3, 4};
    zfile f[2] = {{"a/data.pkl", pk->p, pk->n, 0}, {"a/data/0", s0, sizeof s0, 0}};
    bb z = {0};
    build_zip(&z, f, 2, 0);
    sa_weights *w;
    sa_error err = {0};
    int rc = load(&z, &w, &err);
    CHECKF(rc == code && w == NULL, "%s: rc %d (%s), want %d", label, rc, err.msg, code);
    if (needle)
        CHECKF(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", label, err.msg,
               needle);
    sa_weights_free(w);
    free(z.p);
}

static void one_tensor(bb *pk, int64_t numel, int64_t off, int64_t dim, int64_t stride) {
    bb_u8(pk, 0x80);
    bb_u8(pk, 2);
    bb_u8(pk, '}');
    pk_str(pk, "t");
    pk_tensor(pk, "FloatStorage", "0", numel, off, 1, &dim, &stride, 0);
    bb_u8(pk, 's');
    bb_u8(pk, '.');
}

/* The SAM renaming of a loaded archive: official names are mapped, other namings left alone, and a name
 * too long to map refuses the whole renaming. */
static void test_sam_map_weights(void) {
    const char *names[3] = {"image_encoder.blocks.0.norm1.weight", "other.norm", NULL};
    char longname[400] = "image_encoder";
    for (int i = 0; i < 20; i++)
        strcat(longname, ".norm");
    for (int k = 0; k < 3; k++) {
        float s0[4] = {1, 2, 3, 4};
        bb pk = {0};
        bb_u8(&pk, 0x80);
        bb_u8(&pk, 2);
        bb_u8(&pk, '}');
        bb_u8(&pk, '(');
        const char *nm[2] = {k == 1 ? "vision_encoder.x.norm" : names[0],
                             k == 2 ? longname : names[1]};
        for (int j = 0; j < 2; j++) {
            int64_t d = 2, st = 1;
            pk_str(&pk, nm[j]);
            pk_tensor(&pk, "FloatStorage", "0", 4, 2 * j, 1, &d, &st, 0);
        }
        bb_u8(&pk, 'u');
        bb_u8(&pk, '.');
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 0}, {"a/data/0", s0, sizeof s0, 0}};
        bb z = {0};
        build_zip(&z, f, 2, 0);
        sa_weights *w;
        sa_error err = {0};
        CHECKF(load(&z, &w, &err) == SA_OK && sa_weights_count(w) == 2, "%s", err.msg);
        int rc = sa__sam_map_weights(w, "x.pth", &err);
        if (k == 0) {
            CHECKF(rc == SA_OK, "%s", err.msg);
            CHECK(sa_weights_find(w, "vision_encoder.layers.0.layer_norm1.weight") &&
                  sa_weights_find(w, "other.layer_norm") && !sa_weights_find(w, names[0]));
        } else if (k == 1) { /* no official name: nothing renamed */
            CHECK(rc == SA_OK && sa_weights_find(w, "vision_encoder.x.norm") &&
                  sa_weights_find(w, "other.norm"));
        } else {
            CHECKF(rc == SA_ERR_RANGE && strstr(err.msg, "x.pth") && strstr(err.msg, "too long"),
                   "rc %d: %s", rc, err.msg);
            CHECK(sa_weights_find(w, names[0]) && sa_weights_find(w, longname));
        }
        sa_weights_free(w);
        free(z.p);
        free(pk.p);
    }
}

static void test_refusals(void) {
    bb pk = {0};
    /* os.system: refused by name, nothing run */
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    pk_global(&pk, "os", "system");
    pk_str(&pk, "touch /tmp/segagent-pwned");
    bb_u8(&pk, 0x85);
    bb_u8(&pk, 'R');
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_UNSUPPORTED, "forbidden global 'os.system'", "os.system");
    pk.n = 0;
    /* the same through STACK_GLOBAL (protocol 4) */
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 4);
    bb_u8(&pk, 0x8c);
    bb_u8(&pk, 8);
    bb_put(&pk, "builtins", 8);
    bb_u8(&pk, 0x94);
    bb_u8(&pk, 0x8c);
    bb_u8(&pk, 4);
    bb_put(&pk, "eval", 4);
    bb_u8(&pk, 0x94);
    bb_u8(&pk, 0x93);
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_UNSUPPORTED, "builtins.eval", "stack global");
    pk.n = 0;
    /* a storage type is not callable */
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    pk_global(&pk, "torch", "FloatStorage");
    bb_u8(&pk, ')');
    bb_u8(&pk, 'R');
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "REDUCE", "storage call");
    pk.n = 0;
    /* a storage key with a NUL inside (was copied with strdup, then read for its full length) */
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    bb_u8(&pk, '}');
    pk_str(&pk, "t");
    {
        const int64_t dim = 4, stride = 1;
        pk_tensor(&pk, "FloatStorage", "0.nul.padding.to.read.past", 4, 0, 1, &dim, &stride, 0);
        for (size_t i = 0; i + 6 <= pk.n; i++)
            if (!memcmp(pk.p + i, "0.nul.", 6)) pk.p[i + 1] = 0;
    }
    bb_u8(&pk, 's');
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "NUL", "storage key with NUL");
    pk.n = 0;
    /* a good single tensor first, to show the harness accepts valid input */
    one_tensor(&pk, 4, 0, 4, 1);
    {
        float s0[4] = {1, 2, 3, 4};
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 0}, {"a/data/0", s0, sizeof s0, 0}};
        bb z = {0};
        build_zip(&z, f, 2, 0);
        sa_weights *w;
        sa_error err = {0};
        CHECKF(load(&z, &w, &err) == SA_OK && sa_weights_count(w) == 1, "%s", err.msg);
        sa_weights_free(w);
        /* entry data beyond the file: point the central directory's local-header offset past the
         * end */
        size_t cd = z.n - 22;
        uint32_t cdoff = (uint32_t)z.p[cd + 16] | (uint32_t)z.p[cd + 17] << 8 |
                         (uint32_t)z.p[cd + 18] << 16 | (uint32_t)z.p[cd + 19] << 24;
        /* second central entry (data/0) follows the first; find it by signature */
        size_t e2 = cdoff + 46 + strlen("a/data.pkl");
        CHECK(z.p[e2] == 'P' && z.p[e2 + 1] == 'K');
        uint8_t save[4];
        memcpy(save, z.p + e2 + 42, 4);
        z.p[e2 + 42] = 0xf0;
        z.p[e2 + 43] = 0xff;
        z.p[e2 + 44] = 0x0f;
        z.p[e2 + 45] = 0;
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "beyond the file"));
        memcpy(z.p + e2 + 42, save, 4);
        /* compressed size claiming more than the file holds */
        z.p[e2 + 20] = 0xff;
        z.p[e2 + 21] = 0xff;
        z.p[e2 + 22] = 0xff;
        z.p[e2 + 24] = 0xff;
        z.p[e2 + 25] = 0xff;
        z.p[e2 + 26] = 0xff;
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "beyond the file"));
        /* central directory pointing beyond the file */
        z.p[cd + 19] = 0x7f;
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "central directory"));
        free(z.p);
    }
    pk.n = 0;
    one_tensor(&pk, 4, 2, 4, 1); /* view runs past the storage */
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "view reaches", "view past storage");
    pk.n = 0;
    one_tensor(&pk, 8, 0, 8, 1); /* storage larger than its entry */
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "larger than its", "storage past entry");
    pk.n = 0;
    one_tensor(&pk, 4, 0, (int64_t)1 << 40, 0); /* broadcast view: more elements than storage */
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "more elements", "stride 0");
    pk.n = 0;
    one_tensor(&pk, 4, 0, -1, 1);
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "negative", "negative size");
    pk.n = 0;
    bb_u8(&pk, 0x80); /* a storage key with no entry */
    bb_u8(&pk, 2);
    bb_u8(&pk, '}');
    pk_str(&pk, "t");
    {
        int64_t d = 4, s = 1;
        pk_tensor(&pk, "FloatStorage", "7", 4, 0, 1, &d, &s, 0);
    }
    bb_u8(&pk, 's');
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_NOT_FOUND, "storage '7'", "missing storage");
    pk.n = 0;
    one_tensor(&pk, 4, 0, 4, 1);
    pk.n--; /* no STOP */
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "without STOP", "no stop");
    pk.n = 0;
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    bb_u8(&pk, 'S'); /* STRING (text protocol 0) is not supported */
    expect_pickle_fail(&pk, SA_ERR_UNSUPPORTED, "opcode 0x53", "unknown opcode");
    pk.n = 0;
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    bb_u8(&pk, 'h');
    bb_u8(&pk, 9); /* memo never stored */
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "never stored", "bad memo");
    pk.n = 0;
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    bb_u8(&pk, 's'); /* SETITEM on an empty stack */
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "underflow", "underflow");
    pk.n = 0;
    bb_u8(&pk, 0x80);
    bb_u8(&pk, 2);
    bb_u8(&pk, ']'); /* a list is not a state_dict */
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "dict of tensors", "list root");
    pk.n = 0;
    bb_u8(&pk, 0x80); /* two tensors of the same name */
    bb_u8(&pk, 2);
    bb_u8(&pk, '}');
    for (int k = 0; k < 2; k++) {
        int64_t d = 4, s = 1;
        pk_str(&pk, "t");
        pk_tensor(&pk, "FloatStorage", "0", 4, 0, 1, &d, &s, 0);
        bb_u8(&pk, 's');
    }
    bb_u8(&pk, '.');
    expect_pickle_fail(&pk, SA_ERR_FORMAT, "duplicate", "duplicate");
    free(pk.p);

    /* A zip without data.pkl; a big-endian archive; a PNG. */
    {
        zfile f[1] = {{"x/version", "3\n", 2, 0}};
        bb z = {0};
        build_zip(&z, f, 1, 0);
        sa_weights *w;
        sa_error err = {0};
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "data.pkl"));
        free(z.p);
        bb p2 = {0};
        one_tensor(&p2, 4, 0, 4, 1);
        float s0[4] = {0};
        zfile g[3] = {{"a/data.pkl", p2.p, p2.n, 0},
                      {"a/data/0", s0, sizeof s0, 0},
                      {"a/byteorder", "big", 3, 0}};
        bb z2 = {0};
        build_zip(&z2, g, 3, 0);
        CHECK(load(&z2, &w, &err) == SA_ERR_UNSUPPORTED && !w && strstr(err.msg, "big-endian"));
        g[2].data = "little";
        g[2].len = 6;
        z2.n = 0;
        build_zip(&z2, g, 3, 0);
        CHECKF(load(&z2, &w, &err) == SA_OK && sa_weights_count(w) == 1, "%s", err.msg);
        sa_weights_free(w);
        free(z2.p);
        free(p2.p);
        /* the start of a PNG: no zip directory anywhere */
        uint8_t png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                           0,    0,   0,   13,  'I',  'H',  'D',  'R'};
        CHECK(sa_weights_from_pth_buffer(png, sizeof png, &w, &err) == SA_ERR_FORMAT && !w &&
              strstr(err.msg, "end-of-central-directory"));
    }
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Zip bombs: a small archive whose data.pkl or storage entry inflates to far more than the pickle can
 * use is refused from its declared sizes, before anything is allocated or inflated (the peak memory
 * does not grow by the bomb's size); local headers that disagree with the directory are refused. */
static void test_bombs(void) {
    bb pk = {0};
    one_tensor(&pk, 4, 0, 4, 1);
    float s0[4] = {1, 2, 3, 4};
    int sanitized = getenv("SEGAGENT_SANITIZED") != NULL; /* ASan's shadow memory blurs the RSS */
    sa_weights *w = NULL;
    sa_error err = {0};
    { /* data.pkl: the pickle, then 160 MiB of zeros (about 160 KB deflated) */
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 1}, {"a/data/0", s0, 16, 0}};
        bb z = {0};
        zip_zeros[0] = (size_t)160 << 20;
        build_zip(&z, f, 2, 0);
        zip_zeros[0] = 0;
        CHECKF(z.n < (1 << 20), "bomb of %zu bytes", z.n);
        long rss0 = max_rss_kb();
        int rc = load(&z, &w, &err);
        CHECKF(rc == SA_ERR_RANGE && !w && strstr(err.msg, "data.pkl") &&
                   strstr(err.msg, "declares 167772") && strstr(err.msg, "limit"),
               "data.pkl bomb: rc %d %s", rc, err.msg);
        if (!sanitized)
            CHECKF(max_rss_kb() - rss0 < 64 * 1024, "data.pkl bomb raised the peak by %ld KiB",
                   max_rss_kb() - rss0);
        free(z.p);
    }
    { /* a storage of 4 floats whose entry inflates to 96 MiB */
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 0}, {"a/data/0", s0, 16, 1}};
        bb z = {0};
        zip_zeros[1] = (size_t)96 << 20;
        build_zip(&z, f, 2, 0);
        long rss0 = max_rss_kb();
        int rc = load(&z, &w, &err);
        CHECKF(rc == SA_ERR_FORMAT && !w && strstr(err.msg, "holds 100663312 bytes") &&
                   strstr(err.msg, "4 elements take 16"),
               "storage bomb: rc %d %s", rc, err.msg);
        if (!sanitized)
            CHECKF(max_rss_kb() - rss0 < 48 * 1024, "storage bomb raised the peak by %ld KiB",
                   max_rss_kb() - rss0);
        free(z.p);
    }
    { /* the same bomb in zip64 form */
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 0}, {"a/data/0", s0, 16, 1}};
        bb z = {0};
        build_zip(&z, f, 2, 1);
        zip_zeros[1] = 0;
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "holds 100663312"));
        free(z.p);
    }
    { /* a local header whose size disagrees with the central directory */
        zfile f[2] = {{"a/data.pkl", pk.p, pk.n, 0}, {"a/data/0", s0, 16, 0}};
        bb z = {0};
        build_zip(&z, f, 2, 0);
        CHECKF(load(&z, &w, &err) == SA_OK, "%s", err.msg);
        sa_weights_free(w);
        w = NULL;
        z.p[22] = 0x7f; /* data.pkl's local uncompressed size (first entry, offset 0) */
        CHECK(load(&z, &w, &err) == SA_ERR_FORMAT && !w && strstr(err.msg, "local header sizes"));
        free(z.p);
    }
    free(pk.p);
}

/* Archives whose pickles were written by Python's own pickler (fuzz/make_seeds.py): protocol 2 with
 * the state_dict's _metadata BUILD, and protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) nested under
 * "model", deflated. */
static void test_python_pickles(void) {
    static const char *const files[] = {"fuzz/corpus/pth/p2.pth", "fuzz/corpus/pth/p4_deflate.pth"};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        char *buf = tu_read_file(files[k], &n);
        CHECKF(buf != NULL, "%s missing (run from the repository root)", files[k]);
        if (!buf) continue;
        sa_weights *w = NULL;
        sa_error err = {0};
        int rc = sa_weights_from_pth_buffer((const uint8_t *)buf, n, &w, &err);
        CHECKF(rc == SA_OK, "%s: %s", files[k], err.msg);
        if (rc == SA_OK) rc = sa__sam_map_weights(w, files[k], &err);
        CHECKF(rc == SA_OK, "%s: %s", files[k], err.msg);
        if (rc == SA_OK) {
            float got[6];
            const float e0[6] = {1, 2, 3, 4, 5, 6}, e1[6] = {1, 4, 2, 5, 3, 6};
            CHECK(sa_weights_count(w) == 4);
            const sa_tensor *t = sa_weights_find(w, "vision_encoder.layers.0.layer_norm1.weight");
            CHECK(t && t->ndim == 2 && t->shape[0] == 2 &&
                  sa_tensor_to_f32(t, got, 6, &err) == SA_OK && memcmp(got, e0, sizeof got) == 0);
            t = sa_weights_find(w, "vision_encoder.neck.conv1.weight");
            CHECK(t && t->shape[0] == 3 && sa_tensor_to_f32(t, got, 6, &err) == SA_OK &&
                  memcmp(got, e1, sizeof got) == 0);
            t = sa_weights_find(w, "mask_decoder.iou_prediction_head.layers.0.bias");
            CHECK(t && sa_tensor_to_f32(t, got, 2, &err) == SA_OK && got[0] == 5 && got[1] == 6);
            t = sa_weights_find(w, SA__SAM_PE_PROMPT);
            CHECK(t && t->dtype == SA_DTYPE_F16 && sa_tensor_to_f32(t, got, 4, &err) == SA_OK &&
                  got[1] == -2);
        }
        sa_weights_free(w);
        free(buf);
    }
}

int main(void) {
    /* handcrafted archives first: they need no fixtures */
    test_name_map();
    test_handmade();
    test_refusals();
    test_sam_map_weights();
    test_python_pickles();
    test_bombs();
    if (tu_failures) return tu_finish("test_weights_pth");
    tu_require_shared();
    test_fixture();
    return tu_finish("test_weights_pth");
}
