/* SimpleClick model loading: the .pth through the restricted unpickler (SimpleClick profile: its
 * six globals, the config dict as JSON), the architecture from tensor shapes (heads from config
 * backbone_params.num_heads, the one thing no shape holds), then one walk over every tensor the
 * engine uses, checking presence, dtype and shape and naming the tensor in every error. The same
 * walk builds random models (benchmarks): in COUNT mode it sizes the arena, in RANDOM mode it fills
 * it. Tensors of the checkpoint the walk never takes are listed as unused (SimpleClick's classifier
 * head, cls token, fc_norm and up_conv*). Reference: isegm/model/is_plainvit_model.py
 * (PlainVitModel, SimpleFPN), modeling/models_vit.py, modeling/swin_transformer.py
 * (SwinTransfomerSegHead). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "simpleclick/sc_internal.h"

#define MODEL_CLASS "isegm.model.is_plainvit_model.PlainVitModel"

sa_sc_params sa_sc_default_params(void) {
    sa_sc_params p;
    memset(&p, 0, sizeof p);
    p.threads = 2;
    p.kernels = SA_SC_KERNELS_FAST;
    p.zoom_in = 1;
    p.flip = 1;
    p.prob_thresh = 0.49f;
    p.zoom_target = 448;
    p.zoom_expansion = 1.4;
    p.zoom_min_crop = 200;
    p.zoom_recompute_iou = 0.5;
    p.zoom_prob_thresh = 0.5f;
    return p;
}

/* The kernel table for params (kernels, precision); BF16 packs the blocks' linear weights once (a model
 * switched back to FP32 keeps them; the FP32 tables ignore them). */
static int select_kernels(sa_sc_model *m, sa_error *err) {
    if (m->params.precision == SA_SC_PRECISION_BF16 && !m->bf16) {
        size_t total = 0;
        for (int d = 0; d < m->arch.depth; d++) {
            sc_block *b = &m->blocks[d];
            sa__lin *ls[4] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
            for (int j = 0; j < 4; j++)
                total += sa__bf16_packed_size(ls[j]->out, ls[j]->in);
        }
        m->bf16 = malloc((total ? total : 1) * sizeof(uint16_t));
        if (!m->bf16)
            return sa_error_set(err, SA_ERR_NOMEM,
                                "SimpleClick: out of memory for %zu BF16 weights", total);
        size_t off = 0;
        for (int d = 0; d < m->arch.depth; d++) {
            sc_block *b = &m->blocks[d];
            sa__lin *ls[4] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
            for (int j = 0; j < 4; j++) {
                sa__bf16_pack_w(ls[j]->w, ls[j]->out, ls[j]->in, m->bf16 + off);
                ls[j]->wb = m->bf16 + off;
                off += sa__bf16_packed_size(ls[j]->out, ls[j]->in);
            }
        }
    }
    m->k = sa__kernels_select_precision(m->params.kernels, m->params.precision);
    return SA_OK;
}

static int check_params(const sa_sc_params *p, sa_error *err) {
    if (p->threads < 1 || p->threads > 256)
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: threads must be 1..256 (got %d)",
                            p->threads);
    if (p->kernels < SA_SC_KERNELS_FAST || p->kernels > SA_SC_KERNELS_REFERENCE)
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: unknown kernel set %d", p->kernels);
    if (p->precision != SA_SC_PRECISION_FP32 && p->precision != SA_SC_PRECISION_BF16)
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: unknown precision %d", p->precision);
    if (!(p->prob_thresh >= 0.0f && p->prob_thresh < 1.0f))
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: prob_thresh must be in [0, 1)");
    if (p->zoom_target < 16 || p->zoom_target > 4096)
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: zoom target %d outside 16..4096",
                            p->zoom_target);
    if (!(p->zoom_expansion >= 1.0 && p->zoom_expansion <= 100.0) || p->zoom_min_crop < 1 ||
        !(p->zoom_recompute_iou >= 0.0 && p->zoom_recompute_iou <= 1.0) ||
        !(p->zoom_prob_thresh >= 0.0f && p->zoom_prob_thresh < 1.0f))
        return sa_error_set(err, SA_ERR_INVALID, "SimpleClick: ZoomIn settings out of range");
    return SA_OK;
}

/* ---- the tensor walk ---- */
enum { WALK_COUNT, WALK_RANDOM, WALK_LOAD };

typedef struct walk {
    sa_sc_model *m;
    int mode;
    unsigned char *used; /* per checkpoint tensor (LOAD) */
    size_t off;          /* floats taken so far (COUNT, RANDOM) */
    uint64_t rng;
    int64_t params;
    sa_error *err;
    int rc;
} walk;

static void shape_str(char *buf, size_t n, int ndim, const int64_t *d) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* The tensor `name` with exactly the dims given (ndim of them); NULL after the first error. */
static const float *take(walk *wk, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                         int64_t d3) {
    if (wk->rc != SA_OK) return NULL;
    const int64_t want[4] = {d0, d1, d2, d3};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= want[i];
    if (wk->mode == WALK_LOAD) {
        const sa_tensor *t = sa_weights_find(wk->m->weights, name);
        if (!t) {
            wk->rc = sa_error_set(wk->err, SA_ERR_FORMAT,
                                  "SimpleClick checkpoint: tensor '%s' missing", name);
            return NULL;
        }
        int same = t->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = t->shape[i] == want[i];
        if (!same) {
            char a[96], b[96];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, ndim, want);
            wk->rc = sa_error_set(wk->err, SA_ERR_FORMAT,
                                  "SimpleClick checkpoint: tensor '%s' has shape %s, expected %s",
                                  name, a, b);
            return NULL;
        }
        if (t->dtype != SA_DTYPE_F32) {
            wk->rc = sa_error_set(wk->err, SA_ERR_UNSUPPORTED,
                                  "SimpleClick checkpoint: tensor '%s' is %s, not F32", name,
                                  sa_dtype_name(t->dtype));
            return NULL;
        }
        for (int i = 0; i < sa_weights_count(wk->m->weights); i++)
            if (sa_weights_at(wk->m->weights, i) == t) wk->used[i] = 1;
        wk->params += n;
        return t->data;
    }
    float *p = NULL;
    if (wk->mode == WALK_RANDOM) {
        p = wk->m->arena + wk->off;
        /* weights uniform in +-1/sqrt(fan_in); 1-D tensors: norm weights near 1 (name ends in
         * "weight"), biases small */
        int is_w = ndim >= 2;
        size_t ln = strlen(name);
        int norm_w = !is_w && ln >= 6 && strcmp(name + ln - 6, "weight") == 0;
        double a = is_w ? 1.0 / sqrt((double)(n / want[0])) : 0.02;
        if (strstr(name, "pos_embed")) a = 0.02;
        for (int64_t i = 0; i < n; i++) {
            double u = sa__rng_uniform_pm1(&wk->rng);
            p[i] = (float)((norm_w ? 1.0 : 0.0) + a * u);
        }
    }
    wk->off += (size_t)n;
    wk->params += n;
    return p ? p : (const float *)(uintptr_t)16; /* COUNT: any non-NULL marker */
}

static void lin(walk *wk, sa__lin *l, const char *prefix, int out, int in, int conv1x1) {
    char n[160];
    snprintf(n, sizeof n, "%.140s.weight", prefix);
    l->w = conv1x1 ? take(wk, n, 4, out, in, 1, 1) : take(wk, n, 2, out, in, 0, 0);
    snprintf(n, sizeof n, "%.140s.bias", prefix);
    l->b = take(wk, n, 1, out, 0, 0, 0);
    l->out = out;
    l->in = in;
}

static void norm(walk *wk, const float **w, const float **b, const char *prefix, int c) {
    char n[160];
    snprintf(n, sizeof n, "%.140s.weight", prefix);
    *w = take(wk, n, 1, c, 0, 0, 0);
    snprintf(n, sizeof n, "%.140s.bias", prefix);
    *b = take(wk, n, 1, c, 0, 0, 0);
}

static void gn(walk *wk, sc_gn *g, const char *prefix, int c) {
    norm(wk, &g->w, &g->b, prefix, c);
    g->n = c;
}

/* Raw (in, out, 2, 2) weight and bias; re-ordered after the walk (sc_convt). */
typedef struct convt_raw {
    const float *w, *b;
    int in, out;
} convt_raw;

static void convt(walk *wk, convt_raw *r, const char *prefix, int in, int out) {
    char n[160];
    snprintf(n, sizeof n, "%.140s.weight", prefix);
    r->w = take(wk, n, 4, in, out, 2, 2);
    snprintf(n, sizeof n, "%.140s.bias", prefix);
    r->b = take(wk, n, 1, out, 0, 0, 0);
    r->in = in;
    r->out = out;
}

static void walk_model(walk *wk, convt_raw raw[3]) {
    sa_sc_model *m = wk->m;
    const sa_sc_arch *a = &m->arch;
    const int C = a->width, p = a->patch;
    char n[160];
    m->patch_coords.w =
        take(wk, "patch_embed_coords.proj.weight", 4, C, a->prev_mask ? 3 : 2, p, p);
    m->patch_coords.b = take(wk, "patch_embed_coords.proj.bias", 1, C, 0, 0, 0);
    m->patch_coords.out = C;
    m->patch_coords.in = (a->prev_mask ? 3 : 2) * p * p;
    m->patch.w = take(wk, "backbone.patch_embed.proj.weight", 4, C, 3, p, p);
    m->patch.b = take(wk, "backbone.patch_embed.proj.bias", 1, C, 0, 0, 0);
    m->patch.out = C;
    m->patch.in = 3 * p * p;
    const float *pos =
        take(wk, "backbone.pos_embed", 3, 1, 1 + (int64_t)a->crop_h * a->crop_w, C, 0);
    m->pos = pos && wk->mode != WALK_COUNT ? pos + C : NULL;
    const int g = a->depth == 12 ? 6 : a->depth / 4;
    for (int i = 0; i < a->depth; i++) {
        sc_block *b = &m->blocks[i];
        snprintf(n, sizeof n, "backbone.blocks.%d.norm1", i);
        norm(wk, &b->ln1.w, &b->ln1.b, n, C);
        snprintf(n, sizeof n, "backbone.blocks.%d.norm2", i);
        norm(wk, &b->ln2.w, &b->ln2.b, n, C);
        b->ln1.n = b->ln2.n = C;
        snprintf(n, sizeof n, "backbone.blocks.%d.attn.qkv", i);
        lin(wk, &b->qkv, n, 3 * C, C, 0);
        snprintf(n, sizeof n, "backbone.blocks.%d.attn.proj", i);
        lin(wk, &b->proj, n, C, C, 0);
        snprintf(n, sizeof n, "backbone.blocks.%d.mlp.fc1", i);
        lin(wk, &b->fc1, n, a->mlp, C, 0);
        snprintf(n, sizeof n, "backbone.blocks.%d.mlp.fc2", i);
        lin(wk, &b->fc2, n, C, a->mlp, 0);
        b->global =
            (i + 1) % g == 0; /* models_vit.py forward_backbone: unpatchify every g-th block */
    }
    const int d4 = a->neck_d4, d8 = a->neck_d8, d32 = a->neck_d32;
    convt(wk, &raw[0], "neck.down_4.0", C, d4);
    gn(wk, &m->d4_gn1, "neck.down_4.1", d4);
    convt(wk, &raw[1], "neck.down_4.3", d4, d4 / 2);
    gn(wk, &m->d4_gn2, "neck.down_4.4", d4 / 2);
    lin(wk, &m->d4_conv, "neck.down_4.5", a->neck_out[0], d4 / 2, 1);
    gn(wk, &m->d4_gn3, "neck.down_4.6", a->neck_out[0]);
    convt(wk, &raw[2], "neck.down_8.0", C, d8);
    gn(wk, &m->d8_gn1, "neck.down_8.1", d8);
    lin(wk, &m->d8_conv, "neck.down_8.2", a->neck_out[1], d8, 1);
    gn(wk, &m->d8_gn2, "neck.down_8.3", a->neck_out[1]);
    lin(wk, &m->d16_conv, "neck.down_16.0", a->neck_out[2], C, 1);
    gn(wk, &m->d16_gn, "neck.down_16.1", a->neck_out[2]);
    m->d32_down.w = take(wk, "neck.down_32.0.weight", 4, d32, C, 2, 2);
    m->d32_down.b = take(wk, "neck.down_32.0.bias", 1, d32, 0, 0, 0);
    m->d32_down.out = d32;
    m->d32_down.in = C * 4;
    gn(wk, &m->d32_gn1, "neck.down_32.1", d32);
    lin(wk, &m->d32_conv, "neck.down_32.2", a->neck_out[3], d32, 1);
    gn(wk, &m->d32_gn2, "neck.down_32.3", a->neck_out[3]);
    for (int l = 0; l < 4; l++) {
        snprintf(n, sizeof n, "head.convs.%d.conv", l);
        lin(wk, &m->head_convs[l], n, a->head, a->neck_out[l], 1);
    }
    lin(wk, &m->fusion, "head.fusion_conv.conv", a->head, 4 * a->head, 1);
    lin(wk, &m->seg, "head.conv_seg", 1, a->head, 1);
}

/* Re-orders the three transposed convolutions into conv_arena (see sc_convt). */
static int build_convt(sa_sc_model *m, const convt_raw raw[3], sa_error *err) {
    sc_convt *dst[3] = {&m->d4_up1, &m->d4_up2, &m->d8_up};
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += (size_t)4 * raw[i].out * ((size_t)raw[i].in + 1);
    const size_t D = (size_t)m->arch.head;
    total += 4 * D * D;
    m->conv_arena = malloc(total * sizeof(float));
    if (!m->conv_arena) return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    float *p = m->conv_arena;
    for (int i = 0; i < 3; i++) {
        const int in = raw[i].in, out = raw[i].out;
        float *w = p, *b = p + (size_t)4 * out * in;
        for (int t = 0; t < 4; t++) /* t = ky * 2 + kx */
            for (int o = 0; o < out; o++) {
                for (int c = 0; c < in; c++)
                    w[((size_t)t * out + o) * in + c] = raw[i].w[((size_t)c * out + o) * 4 + t];
                b[(size_t)t * out + o] = raw[i].b[o];
            }
        dst[i]->lin = (sa__lin){.w = w, .b = b, .out = 4 * out, .in = in};
        dst[i]->channels = out;
        p = b + (size_t)4 * out;
    }
    for (int l = 0; l < 4; l++) { /* fusion (D, 4D) -> four (D, D) column blocks */
        float *w = p + (size_t)l * D * D;
        for (size_t o = 0; o < D; o++)
            memcpy(w + o * D, m->fusion.w + o * 4 * D + (size_t)l * D, D * sizeof(float));
        m->fusion_part[l] = (sa__lin){.w = w, .b = NULL, .out = (int)D, .in = (int)D};
    }
    return SA_OK;
}

/* ---- architecture ---- */
static const sa_tensor *need(const sa_weights *w, const char *name, int ndim, sa_error *err,
                             int *rc) {
    if (*rc != SA_OK) return NULL;
    const sa_tensor *t = sa_weights_find(w, name);
    if (!t) {
        *rc = sa_error_set(err, SA_ERR_FORMAT, "SimpleClick checkpoint: tensor '%s' missing", name);
        return NULL;
    }
    if (t->ndim != ndim) {
        *rc = sa_error_set(err, SA_ERR_FORMAT,
                           "SimpleClick checkpoint: tensor '%s' has %d dims, expected %d", name,
                           t->ndim, ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] < 1 || t->shape[i] > (1 << 20)) {
            *rc = sa_error_set(err, SA_ERR_FORMAT,
                               "SimpleClick checkpoint: tensor '%s' has a dimension of %lld", name,
                               (long long)t->shape[i]);
            return NULL;
        }
    return t;
}

static const cJSON *param_value(const cJSON *params, const char *name) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, name);
    return p ? cJSON_GetObjectItemCaseSensitive(p, "value") : NULL;
}

static int arch_from_checkpoint(const sa_weights *w, sa_sc_arch *a, sa_error *err) {
    memset(a, 0, sizeof *a);
    const char *cfg_text = sa_weights_config_json(w);
    cJSON *cfg = cfg_text ? cJSON_Parse(cfg_text) : NULL;
    if (!cfg)
        return sa_error_set(err, SA_ERR_FORMAT, "SimpleClick checkpoint: no readable 'config'");
    int rc = SA_OK;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "class");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(cfg, "params");
    if (!cJSON_IsString(cls) || strcmp(cls->valuestring, MODEL_CLASS) != 0) {
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "SimpleClick checkpoint: model class '%.200s' is not " MODEL_CLASS,
                          cJSON_IsString(cls) ? cls->valuestring : "(none)");
        goto out;
    }
    const cJSON *bb = param_value(params, "backbone_params");
    const cJSON *heads = bb ? cJSON_GetObjectItemCaseSensitive(bb, "num_heads") : NULL;
    if (!cJSON_IsNumber(heads) || heads->valuedouble < 1 || heads->valuedouble > 4096) {
        rc =
            sa_error_set(err, SA_ERR_FORMAT,
                         "SimpleClick checkpoint: config backbone_params.num_heads missing or bad");
        goto out;
    }
    a->heads = heads->valueint;
    const cJSON *v = param_value(params, "use_disks");
    if (v && !cJSON_IsTrue(v)) {
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "SimpleClick checkpoint: use_disks false (distance maps) not supported");
        goto out;
    }
    v = param_value(params, "use_rgb_conv");
    if (v && cJSON_IsTrue(v)) {
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "SimpleClick checkpoint: use_rgb_conv (RITM models) not supported");
        goto out;
    }
    v = param_value(params, "norm_radius");
    a->norm_radius = cJSON_IsNumber(v) ? (float)v->valuedouble : 5.0f;
    if (!(a->norm_radius > 0 && a->norm_radius < 1000)) {
        rc = sa_error_set(err, SA_ERR_FORMAT, "SimpleClick checkpoint: bad norm_radius");
        goto out;
    }
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    memcpy(a->mean, mean, sizeof mean);
    memcpy(a->std, stdv, sizeof stdv);
    v = param_value(params, "norm_mean_std");
    if (v) {
        const cJSON *mu = cJSON_GetArrayItem(v, 0), *sd = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || cJSON_GetArraySize(mu) != 3 ||
            cJSON_GetArraySize(sd) != 3) {
            rc = sa_error_set(err, SA_ERR_FORMAT, "SimpleClick checkpoint: bad norm_mean_std");
            goto out;
        }
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetArrayItem(mu, i), *y = cJSON_GetArrayItem(sd, i);
            if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y) || !(y->valuedouble > 0)) {
                rc = sa_error_set(err, SA_ERR_FORMAT, "SimpleClick checkpoint: bad norm_mean_std");
                goto out;
            }
            a->mean[i] = (float)x->valuedouble;
            a->std[i] = (float)y->valuedouble;
        }
    }
    const cJSON *hp = param_value(params, "head_params");
    v = hp ? cJSON_GetObjectItemCaseSensitive(hp, "upsample") : NULL;
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "x1") != 0)) {
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "SimpleClick checkpoint: head upsample other than 'x1' not supported");
        goto out;
    }
    v = hp ? cJSON_GetObjectItemCaseSensitive(hp, "align_corners") : NULL;
    a->head_align_corners = v && cJSON_IsTrue(v);

    /* shapes */
    const sa_tensor *pe = need(w, "backbone.patch_embed.proj.weight", 4, err, &rc);
    const sa_tensor *pc = need(w, "patch_embed_coords.proj.weight", 4, err, &rc);
    const sa_tensor *pos = need(w, "backbone.pos_embed", 3, err, &rc);
    const sa_tensor *fc1 = need(w, "backbone.blocks.0.mlp.fc1.weight", 2, err, &rc);
    const sa_tensor *n4a = need(w, "neck.down_4.0.weight", 4, err, &rc);
    const sa_tensor *n4c = need(w, "neck.down_4.5.weight", 4, err, &rc);
    const sa_tensor *n8a = need(w, "neck.down_8.0.weight", 4, err, &rc);
    const sa_tensor *n8c = need(w, "neck.down_8.2.weight", 4, err, &rc);
    const sa_tensor *n16 = need(w, "neck.down_16.0.weight", 4, err, &rc);
    const sa_tensor *n32a = need(w, "neck.down_32.0.weight", 4, err, &rc);
    const sa_tensor *n32c = need(w, "neck.down_32.2.weight", 4, err, &rc);
    const sa_tensor *hc = need(w, "head.convs.0.conv.weight", 4, err, &rc);
    if (rc != SA_OK) goto out;
    a->width = (int)pe->shape[0];
    a->patch = (int)pe->shape[2];
    a->prev_mask = pc->shape[1] == 3;
    a->mlp = (int)fc1->shape[0];
    int64_t rows = pos->shape[1] - 1, side = (int64_t)llround(sqrt((double)rows));
    a->crop_h = a->crop_w = (int)side;
    const cJSON *isz = bb ? cJSON_GetObjectItemCaseSensitive(bb, "img_size") : NULL;
    if (cJSON_GetArraySize(isz) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(isz, 0)) &&
        cJSON_IsNumber(cJSON_GetArrayItem(isz, 1)) && a->patch > 0) {
        a->crop_h = cJSON_GetArrayItem(isz, 0)->valueint / a->patch;
        a->crop_w = cJSON_GetArrayItem(isz, 1)->valueint / a->patch;
    }
    if ((int64_t)a->crop_h * a->crop_w != rows || a->crop_h < 1 || a->crop_w < 1) {
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "SimpleClick checkpoint: backbone.pos_embed has %lld position rows, not "
                          "a %dx%d grid (+1)",
                          (long long)pos->shape[1], a->crop_h, a->crop_w);
        goto out;
    }
    int depth = 0;
    while (depth <= SC_MAX_DEPTH) {
        char n[96];
        snprintf(n, sizeof n, "backbone.blocks.%d.norm1.weight", depth);
        if (!sa_weights_find(w, n)) break;
        depth++;
    }
    if (depth < 4 || depth > SC_MAX_DEPTH || depth % 4) {
        rc = sa_error_set(err, SA_ERR_UNSUPPORTED,
                          "SimpleClick checkpoint: %d blocks (the model needs a multiple of 4, "
                          "at most %d)",
                          depth, SC_MAX_DEPTH);
        goto out;
    }
    a->depth = depth;
    if (a->width % a->heads) {
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "SimpleClick checkpoint: width %d not divisible by %d heads", a->width,
                          a->heads);
        goto out;
    }
    if (a->patch > SC_WINDOW_PIXELS || pe->shape[3] != a->patch) {
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "SimpleClick checkpoint: patch embedding of shape %lldx%lld",
                          (long long)pe->shape[2], (long long)pe->shape[3]);
        goto out;
    }
    a->neck_d4 = (int)n4a->shape[1];
    a->neck_out[0] = (int)n4c->shape[0];
    a->neck_d8 = (int)n8a->shape[1];
    a->neck_out[1] = (int)n8c->shape[0];
    a->neck_out[2] = (int)n16->shape[0];
    a->neck_d32 = (int)n32a->shape[0];
    a->neck_out[3] = (int)n32c->shape[0];
    a->head = (int)hc->shape[0];
    if (a->neck_d4 < 2 || a->neck_d4 % 2) {
        rc = sa_error_set(err, SA_ERR_FORMAT,
                          "SimpleClick checkpoint: neck.down_4.0.weight: odd width %d", a->neck_d4);
        goto out;
    }
out:
    cJSON_Delete(cfg);
    return rc;
}

static int finish(sa_sc_model *m, int mode, uint64_t seed, sa_error *err) {
    walk wk = {.m = m, .mode = mode, .err = err, .rc = SA_OK, .rng = seed};
    convt_raw raw[3];
    if (mode == WALK_LOAD) {
        wk.used = calloc((size_t)sa_weights_count(m->weights) + 1, 1);
        if (!wk.used) return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    } else {
        walk cnt = {.m = m, .mode = WALK_COUNT, .err = err, .rc = SA_OK};
        walk_model(&cnt, raw);
        m->arena = malloc((cnt.off ? cnt.off : 1) * sizeof(float));
        if (!m->arena)
            return sa_error_set(err, SA_ERR_NOMEM,
                                "SimpleClick: out of memory for %zu MiB of weights",
                                cnt.off * sizeof(float) >> 20);
    }
    walk_model(&wk, raw);
    int rc = wk.rc;
    m->n_params = wk.params;
    if (rc == SA_OK) rc = build_convt(m, raw, err);
    if (rc == SA_OK && mode == WALK_LOAD) {
        int n = sa_weights_count(m->weights);
        for (int i = 0; i < n; i++)
            if (!wk.used[i]) m->n_unused++;
        m->unused = calloc((size_t)m->n_unused + 1, sizeof *m->unused);
        if (!m->unused) rc = sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
        for (int i = 0, j = 0; rc == SA_OK && i < n; i++)
            if (!wk.used[i]) m->unused[j++] = (char *)sa_weights_at(m->weights, i)->name;
    }
    free(wk.used);
    if (rc == SA_OK) rc = select_kernels(m, err);
    return rc;
}

static int load_weights(sa_weights *w, sa_sc_params params, sa_sc_model **out, sa_error *err) {
    sa_sc_model *m = calloc(1, sizeof *m);
    if (!m) {
        sa_weights_free(w);
        return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    }
    m->weights = w;
    m->params = params;
    int rc = arch_from_checkpoint(w, &m->arch, err);
    if (rc == SA_OK) rc = finish(m, WALK_LOAD, 0, err);
    if (rc != SA_OK) {
        sa_sc_model_free(m);
        return rc;
    }
    *out = m;
    return SA_OK;
}

int sa_sc_model_load(const char *path, sa_sc_params params, sa_sc_model **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_load: out is NULL");
    *out = NULL;
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    sa_weights *w = NULL;
    rc = sa_weights_open_pth(path, SA_PTH_SIMPLECLICK, &w, err);
    if (rc != SA_OK) return rc;
    rc = load_weights(w, params, out, err);
    if (rc != SA_OK) sa_error_prefix(err, "%s: ", path);
    return rc;
}

int sa_sc_model_load_buffer(const uint8_t *buf, size_t n, sa_sc_params params, sa_sc_model **out,
                            sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_load_buffer: out is NULL");
    *out = NULL;
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    sa_weights *w = NULL;
    rc = sa_weights_from_pth_buffer_profile(buf, n, SA_PTH_SIMPLECLICK, &w, err);
    if (rc != SA_OK) return rc;
    return load_weights(w, params, out, err);
}

int sa_sc_arch_preset(const char *name, sa_sc_arch *out, sa_error *err) {
    static const struct {
        const char *name;
        int patch, width, depth, heads, mlp, crop, o[4], d4, d8, d32, head;
    } k[] = {
        {"vit_b", 16, 768, 12, 12, 3072, 28, {128, 256, 512, 1024}, 384, 384, 1536, 256},
        {"vit_l", 16, 1024, 24, 16, 4096, 28, {192, 384, 768, 1536}, 512, 512, 2048, 256},
        {"vit_h", 14, 1280, 32, 16, 5120, 32, {240, 480, 960, 1920}, 640, 640, 2560, 256},
        {"xtiny", 16, 160, 8, 4, 640, 28, {96, 192, 288, 384}, 192, 192, 384, 128},
    };
    for (size_t i = 0; name && i < sizeof k / sizeof k[0]; i++)
        if (strcmp(name, k[i].name) == 0) {
            sa_sc_arch a;
            memset(&a, 0, sizeof a);
            a.patch = k[i].patch, a.width = k[i].width, a.depth = k[i].depth, a.heads = k[i].heads;
            a.mlp = k[i].mlp, a.crop_h = a.crop_w = k[i].crop, a.prev_mask = 1;
            memcpy(a.neck_out, k[i].o, sizeof a.neck_out);
            a.neck_d4 = k[i].d4, a.neck_d8 = k[i].d8, a.neck_d32 = k[i].d32, a.head = k[i].head;
            a.norm_radius = 5.0f;
            const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
            memcpy(a.mean, mean, sizeof mean);
            memcpy(a.std, stdv, sizeof stdv);
            *out = a;
            return SA_OK;
        }
    return sa_error_set(err, SA_ERR_NOT_FOUND,
                        "SimpleClick: no preset '%s' (vit_b, vit_l, vit_h, xtiny)",
                        name ? name : "");
}

int sa_sc_model_random(const sa_sc_arch *arch, uint64_t seed, sa_sc_params params,
                       sa_sc_model **out, sa_error *err) {
    if (!out || !arch)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_random: NULL argument");
    *out = NULL;
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    const sa_sc_arch *a = arch;
    if (a->patch < 1 || a->patch > SC_WINDOW_PIXELS || a->width < 1 || a->width > 16384 ||
        a->heads < 1 || a->width % a->heads || a->depth < 4 || a->depth % 4 ||
        a->depth > SC_MAX_DEPTH || a->mlp < 1 || a->mlp > 65536 || a->crop_h < 1 || a->crop_w < 1 ||
        a->crop_h > 1024 || a->crop_w > 1024 || a->head < 1 || a->neck_d4 < 2 || a->neck_d4 % 2 ||
        a->neck_d8 < 1 || a->neck_d32 < 1)
        return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_random: bad architecture");
    for (int i = 0; i < 4; i++)
        if (a->neck_out[i] < 1)
            return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_random: bad architecture");
    sa_sc_model *m = calloc(1, sizeof *m);
    if (!m) return sa_error_set(err, SA_ERR_NOMEM, "SimpleClick: out of memory");
    m->arch = *a;
    m->params = params;
    rc = finish(m, WALK_RANDOM, seed, err);
    if (rc != SA_OK) {
        sa_sc_model_free(m);
        return rc;
    }
    *out = m;
    return SA_OK;
}

void sa_sc_model_free(sa_sc_model *m) {
    if (!m) return;
    sa_weights_free(m->weights);
    free(m->arena);
    free(m->conv_arena);
    free(m->bf16);
    free(m->unused);
    free(m);
}

const sa_sc_arch *sa_sc_model_arch(const sa_sc_model *m) {
    return m ? &m->arch : NULL;
}

const sa_sc_params *sa_sc_model_params(const sa_sc_model *m) {
    return m ? &m->params : NULL;
}

int64_t sa_sc_model_param_count(const sa_sc_model *m) {
    return m ? m->n_params : 0;
}

int sa_sc_model_unused_count(const sa_sc_model *m) {
    return m ? m->n_unused : 0;
}

const char *sa_sc_model_unused_name(const sa_sc_model *m, int i) {
    return m && i >= 0 && i < m->n_unused ? m->unused[i] : NULL;
}

int sa_sc_model_set_params(sa_sc_model *m, sa_sc_params params, sa_error *err) {
    if (!m) return sa_error_set(err, SA_ERR_INVALID, "sa_sc_model_set_params: no model");
    int rc = check_params(&params, err);
    if (rc != SA_OK) return rc;
    m->params = params;
    return select_kernels(m, err);
}

double sa_sc_macs(const sa_sc_arch *a, int height, int width) {
    const double p = a->patch, C = a->width, gh = height / a->patch, gw = width / a->patch,
                 N = gh * gw;
    double macs = N * C * p * p * (3 + (a->prev_mask ? 3 : 2)); /* the two patch embeddings */
    const int g = a->depth == 12 ? 6 : a->depth / 4;
    const double wins = (double)((int)gh / (SC_WINDOW_PIXELS / a->patch)) *
                        ((int)gw / (SC_WINDOW_PIXELS / a->patch));
    for (int i = 0; i < a->depth; i++) {
        double T = (i + 1) % g == 0 || wins < 1 ? N : N / wins;
        macs += N * C * (4 * C + 2 * a->mlp) + 2 * N * T * C;
    }
    const double d4 = a->neck_d4, d8 = a->neck_d8, d32 = a->neck_d32;
    macs += N * C * d4 * 4 + 4 * N * d4 * d4 / 2 * 4 + 16 * N * d4 / 2 * a->neck_out[0];
    macs += N * C * d8 * 4 + 4 * N * d8 * a->neck_out[1];
    macs += N * C * a->neck_out[2];
    macs += N / 4 * C * 4 * d32 + N / 4 * d32 * a->neck_out[3];
    const double hs[4] = {16 * N, 4 * N, N, N / 4};
    for (int l = 0; l < 4; l++) /* level conv, then its fusion columns at the level's resolution */
        macs += hs[l] * ((double)a->neck_out[l] * a->head + (double)a->head * a->head);
    macs += 16 * N * a->head; /* conv_seg */
    return macs;
}
