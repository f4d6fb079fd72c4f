/* SAM as an interactive tool (segagent/tool.h): the image is encoded once per image; each prediction feeds
 * all clicks so far as points (positive -> label 1, negative -> label 0), the box if any, and the previous
 * result's low-res logits (prev->aux) as the mask prompt.
 *
 * Output choice (documented in sam.h): with params.multimask (default) a prompt that is one click and nothing
 * else (no box, no previous logits) asks for the three multimask outputs and keeps the one with the highest
 * predicted IoU, as SAM's interactive demo and the RITM-style SAM evaluations do for an ambiguous single click;
 * every later prompt uses the single-mask output. out->aux holds the chosen low-res logits, out->prob the sigmoid
 * of the full-size logits, out->score the predicted IoU.
 *
 * A refinement start mask (req->init_mask without prev) has no logits: it is turned into a low-res mask prompt of
 * +/-SAM_INIT_LOGIT (cell centres sampled nearest in the resized, padded frame; padding counts as outside).
 *
 * Embeddings once per image: sessions get the image embedding through the tool's embedding cache
 * (embed_cache.h), keyed by the image's pixels and the model's identity, so the ~7 expressions of one RefCOCO
 * image, or two workers on the same image, encode it once. A session owns a copy of the embedding (4 MiB for
 * the published models), so the cache can evict freely. Model identity: the architecture, the precision and
 * the kernel set as resolved on this CPU always; with a disk folder also a hash of every weight the image
 * encoder reads (computed once, when the folder is set), so a file is never used for another checkpoint
 * whatever its path, and a re-saved copy of the same weights still hits. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam_internal.h"
#include "tools/embed_cache.h"
#include "tools/tool_internal.h"

#define SAM_INIT_LOGIT 10.0f
/* Bumped when the encoder's output changes for the same weights (so old cache files stop matching). */
#define SAM_EMBED_REVISION 1u

typedef struct sam_tool {
    sa_sam_model *m;
    float *dense_pe; /* (g*g, D): the same for every image, computed once */
    sa__embed_cache *cache;
    sa_tool *
        owner; /* the sa_tool wrapping this: its gate is given back while waiting on another encode */
    int has_dir;
    uint64_t weights_id[2]; /* hash of the encoder's weights (has_dir only; else 0) */
} sam_tool;

static void hash_f32(sa__hasher *h, const float *p, size_t n) {
    uint64_t tag = p ? n : ~(uint64_t)0;
    sa__hasher_update(h, &tag, sizeof tag);
    if (p) sa__hasher_update(h, p, n * sizeof(float));
}

static void hash_ln(sa__hasher *h, const sa__ln *ln) {
    hash_f32(h, ln->w, (size_t)ln->n);
    hash_f32(h, ln->b, (size_t)ln->n);
}

static void hash_lin(sa__hasher *h, const sa__lin *l) {
    hash_f32(h, l->w, (size_t)l->out * (size_t)l->in);
    hash_f32(h, l->b, (size_t)l->out);
}

/* Every tensor sa__sam_encode reads, in a fixed order, as the model holds them after loading. */
static void hash_encoder_weights(const sa_sam_model *m, uint64_t out[2]) {
    const sa_sam_arch *a = &m->arch;
    const size_t C = (size_t)a->width, P = (size_t)a->patch_size, g = (size_t)m->grid,
                 D = (size_t)a->out_chans, hd = (size_t)m->head_dim;
    sa__hasher h;
    sa__hasher_init(&h, 0x5a4d5745ull);
    hash_f32(&h, m->patch_w, C * 3 * P * P);
    hash_f32(&h, m->patch_b, C);
    hash_f32(&h, m->pos, g * g * C);
    for (int i = 0; i < a->depth; i++) {
        const sa__vit_block *b = &m->blocks[i];
        hash_ln(&h, &b->ln1);
        hash_ln(&h, &b->ln2);
        hash_lin(&h, &b->qkv);
        hash_lin(&h, &b->proj);
        hash_lin(&h, &b->lin1);
        hash_lin(&h, &b->lin2);
        hash_f32(&h, b->rel_h, (2 * (size_t)b->side - 1) * hd);
        hash_f32(&h, b->rel_w, (2 * (size_t)b->side - 1) * hd);
    }
    hash_f32(&h, m->neck1_w, D * C);
    hash_ln(&h, &m->neck_ln1);
    hash_f32(&h, m->neck2_w, D * D * 9);
    hash_ln(&h, &m->neck_ln2);
    sa__hasher_final(&h, out);
}

static void hash_str(sa__hasher *h, const char *s) {
    sa__hasher_update(h, s ? s : "-", strlen(s ? s : "-") + 1);
}

/* The model part of a cache key: what decides the embedding's bits besides the image. */
static void model_key(const sam_tool *t, uint64_t out[2]) {
    const sa_sam_model *m = t->m;
    sa__hasher h;
    sa__hasher_init(&h, SAM_EMBED_REVISION);
    sa__hasher_update(&h, &m->arch, sizeof m->arch); /* ints only: no padding */
    const int32_t v[3] = {m->params.precision, m->k->set, m->k->blas_layers};
    sa__hasher_update(&h, v, sizeof v);
    hash_str(&h, m->k->isa);
    hash_str(&h, m->k->bf16_isa);
    sa__hasher_update(&h, t->weights_id, sizeof t->weights_id);
    sa__hasher_final(&h, out);
}

static void image_key(const sa_image *img, uint64_t out[2]) {
    sa__hasher h;
    sa__hasher_init(&h, 0x494d47ull);
    const int32_t dims[3] = {img->width, img->height, img->channels};
    sa__hasher_update(&h, dims, sizeof dims);
    sa__hasher_update(&h, img->data, (size_t)img->width * img->height * img->channels);
    sa__hasher_final(&h, out);
}

typedef struct encode_ctx {
    const sa_sam_model *m;
    const sa_image *img;
    sa_sam_image *encoded; /* the session, when this thread encoded */
} encode_ctx;

static int encode_fn(void *vctx, sa__embed *out, sa_error *err) {
    encode_ctx *c = vctx;
    int rc = sa_sam_encode(c->m, c->img, NULL, NULL, &c->encoded, err);
    if (rc != SA_OK) return rc;
    const size_t n = (size_t)c->m->grid * c->m->grid * (size_t)c->m->arch.out_chans;
    out->data = malloc(n * sizeof(float));
    if (!out->data) {
        sa_sam_image_free(c->encoded);
        c->encoded = NULL;
        return sa_error_set(err, SA_ERR_NOMEM, "SAM tool: out of memory");
    }
    memcpy(out->data, c->encoded->embed, n * sizeof(float));
    out->info.new_w = c->encoded->new_w;
    out->info.new_h = c->encoded->new_h;
    return SA_OK;
}

/* A session from a kept embedding: what sa_sam_encode leaves, without running the encoder. */
static int image_from_embed(const sa_sam_model *m, const float *dense_pe, const sa__embed *x,
                            sa_sam_image **out, sa_error *err) {
    const size_t n = (size_t)m->grid * m->grid * (size_t)m->arch.out_chans;
    sa_sam_image *e = calloc(1, sizeof *e);
    if (!e) return sa_error_set(err, SA_ERR_NOMEM, "SAM tool: out of memory");
    e->m = m;
    e->width = x->info.width;
    e->height = x->info.height;
    e->new_w = x->info.new_w;
    e->new_h = x->info.new_h;
    e->embed = malloc(n * sizeof(float));
    e->dense_pe = malloc(n * sizeof(float));
    if (!e->embed || !e->dense_pe) {
        sa_sam_image_free(e);
        return sa_error_set(err, SA_ERR_NOMEM, "SAM tool: out of memory");
    }
    memcpy(e->embed, x->data, n * sizeof(float));
    memcpy(e->dense_pe, dense_pe, n * sizeof(float));
    if (sa__pool_new(m->params.threads, &e->pool) != SA_OK) {
        sa_sam_image_free(e);
        return sa_error_set(err, SA_ERR_NOMEM, "SAM tool: cannot start %d threads",
                            m->params.threads);
    }
    *out = e;
    return SA_OK;
}

/* The resize sa__sam_encode will use (its pre-processing rule), so a cache file must agree with it. */
static void resized_size(const sa_sam_model *m, const sa_image *img, int *nw, int *nh) {
    const int S = m->arch.image_size;
    double scale = (double)S / (double)(img->width > img->height ? img->width : img->height);
    *nh = (int)((double)img->height * scale + 0.5);
    *nw = (int)((double)img->width * scale + 0.5);
    if (*nh < 1) *nh = 1;
    if (*nw < 1) *nw = 1;
}

static int tool_session_new(void *model, const sa_image *img, void **state, sa_error *err) {
    sam_tool *t = model;
    *state = NULL;
    sa__embed_key key;
    model_key(t, key.model);
    image_key(img, key.image);
    sa__embed_info want = {.width = img->width,
                           .height = img->height,
                           .grid_h = t->m->grid,
                           .grid_w = t->m->grid,
                           .chans = t->m->arch.out_chans};
    resized_size(t->m, img, &want.new_w, &want.new_h);
    encode_ctx ctx = {.m = t->m, .img = img};
    const sa__embed *x = NULL;
    int rc = sa__embed_cache_get(t->cache, &key, &want, encode_fn, &ctx, &x, err);
    if (rc != SA_OK) return rc;
    if (ctx.encoded) { /* this thread ran the encoder: its result is the session */
        *state = ctx.encoded;
    } else {
        sa_sam_image *e = NULL;
        rc = image_from_embed(t->m, t->dense_pe, x, &e, err);
        *state = e;
    }
    sa__embed_cache_release(t->cache, x);
    return rc;
}

static void tool_session_free(void *state) {
    sa_sam_image_free(state);
}

static void tool_model_free(void *model) {
    sam_tool *t = model;
    if (!t) return;
    sa__embed_cache_free(t->cache);
    sa_sam_model_free(t->m);
    free(t->dense_pe);
    free(t);
}

/* Waiting for another worker's encode of the same image uses no core: the gate slot goes back meanwhile. */
static void wait_hook(void *user, int begin) {
    sam_tool *t = user;
    if (begin)
        sa__tool_gate_pause(t->owner);
    else
        sa__tool_gate_resume(t->owner);
}

static int tool_set_cache(void *model, const sa_tool_cache_params *p, sa_error *err) {
    sam_tool *t = model;
    sa__embed_cache *c = NULL;
    int rc = sa__embed_cache_new(p->max_bytes, p->dir, p->warn, p->warn_user, &c, err);
    if (rc != SA_OK) return rc;
    sa__embed_cache_free(t->cache);
    t->cache = c;
    sa__embed_cache_set_wait_hook(c, wait_hook, t);
    t->has_dir = p->dir != NULL;
    if (t->has_dir)
        hash_encoder_weights(t->m, t->weights_id);
    else
        t->weights_id[0] = t->weights_id[1] = 0;
    return SA_OK;
}

static void tool_cache_stats(void *model, sa_tool_stats *out) {
    sam_tool *t = model;
    sa__embed_cache_stats cs;
    sa__embed_cache_get_stats(t->cache, &cs);
    out->image_work = cs.computed;
    out->mem_hits = cs.mem_hits;
    out->inflight_waits = cs.waits;
    out->disk_hits = cs.disk_hits;
    out->disk_writes = cs.disk_writes;
    out->disk_rejected = cs.disk_rejected;
    out->disk_errors = cs.disk_errors;
    out->cache_bytes = cs.bytes;
    out->cache_entries = cs.entries;
}

static void mask_to_logits(const sa_sam_image *e, const sa_mask *mk, float *low) {
    const int lr = 4 * e->m->grid, S = e->m->arch.image_size;
    for (int y = 0; y < lr; y++)
        for (int x = 0; x < lr; x++) {
            /* cell centre in the padded S x S frame, then back to original pixels */
            double py = ((double)y + 0.5) * S / lr, px = ((double)x + 0.5) * S / lr;
            float v = -SAM_INIT_LOGIT;
            if (py < e->new_h && px < e->new_w) {
                int oy = (int)(py * e->height / e->new_h), ox = (int)(px * e->width / e->new_w);
                if (oy >= e->height) oy = e->height - 1;
                if (ox >= e->width) ox = e->width - 1;
                if (mk->data[(size_t)oy * mk->width + ox]) v = SAM_INIT_LOGIT;
            }
            low[(size_t)y * lr + x] = v;
        }
}

typedef struct prob_ctx {
    const float *logits;
    uint8_t *mask;
    float *prob;
} prob_ctx;

static void prob_range(void *vctx, size_t a, size_t b) {
    const prob_ctx *c = vctx;
    for (size_t i = a; i < b; i++) {
        c->mask[i] = c->logits[i] > 0.0f;
        c->prob[i] = 1.0f / (1.0f + expf(-c->logits[i]));
    }
}

static int tool_predict(void *state, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    sa_sam_image *e = state;
    const sa_sam_model *m = e->m;
    const int lr = 4 * m->grid, w = e->width, h = e->height;
    const size_t plane = (size_t)w * h, lplane = (size_t)lr * lr;
    int rc = sa_mask_new(&out->mask, w, h, err);
    if (rc != SA_OK) return rc;
    float *pts = NULL, *low = NULL, *logits = NULL, *tmp = NULL, *init = NULL;
    int *labels = NULL;
    sa_sam_prompt p;
    memset(&p, 0, sizeof p);
    if (req->prev && req->prev->aux) {
        if (req->prev->n_aux != lplane) {
            rc = sa_error_set(err, SA_ERR_RANGE,
                              "SAM tool: previous logits hold %zu values, the model needs %dx%d",
                              req->prev->n_aux, lr, lr);
            goto done;
        }
        p.mask_input = req->prev->aux;
        p.mask_input_size = lr;
    } else if (req->init_mask && req->init_mask->data) {
        init = malloc(lplane * sizeof(float));
        if (!init) goto oom;
        mask_to_logits(e, req->init_mask, init);
        p.mask_input = init;
        p.mask_input_size = lr;
    }
    if (req->n_clicks == 0 && !req->box && !p.mask_input) { /* nothing to go on: empty mask */
        rc = SA_OK;
        goto done;
    }
    if (req->n_clicks > 0) {
        pts = malloc((size_t)req->n_clicks * 2 * sizeof(float));
        labels = malloc((size_t)req->n_clicks * sizeof(int));
        if (!pts || !labels) goto oom;
        for (int i = 0; i < req->n_clicks; i++) {
            pts[2 * i] = (float)req->clicks[i].x;
            pts[2 * i + 1] = (float)req->clicks[i].y;
            labels[i] = req->clicks[i].positive ? 1 : 0;
        }
    }
    float box[4];
    if (req->box) {
        box[0] = req->box->x0, box[1] = req->box->y0, box[2] = req->box->x1, box[3] = req->box->y1;
        p.box = box;
    }
    p.points = pts;
    p.labels = labels;
    p.n_points = req->n_clicks;
    p.multimask = m->params.multimask && req->n_clicks == 1 && !req->box && !p.mask_input;
    if ((rc = sa__sam_validate_prompt(e, &p, err)) != SA_OK) goto done;
    const int n = p.multimask ? m->arch.n_mask_tokens - 1 : 1;
    float iou[SA__MAX_MASK_TOKENS];
    low = malloc((size_t)n * lplane * sizeof(float));
    logits = malloc(plane * sizeof(float));
    tmp = malloc((size_t)e->new_w * e->new_h * sizeof(float));
    out->prob = malloc(plane * sizeof(float));
    out->aux = malloc(lplane * sizeof(float));
    if (!low || !logits || !tmp || !out->prob || !out->aux) goto oom;
    if ((rc = sa__sam_decode(e, &p, low, iou, -1, NULL, err)) != SA_OK) goto done;
    int best = 0;
    for (int k = 1; k < n; k++)
        if (iou[k] > iou[best]) best = k;
    memcpy(out->aux, low + (size_t)best * lplane, lplane * sizeof(float));
    out->n_aux = lplane;
    out->score = iou[best];
    sa__sam_postprocess(e, out->aux, logits, tmp);
    prob_ctx pc = {.logits = logits, .mask = out->mask.data, .prob = out->prob};
    sa__pool_for(e->pool, plane, 16384, prob_range, &pc);
    rc = SA_OK;
    goto done;
oom:
    rc = sa_error_set(err, SA_ERR_NOMEM, "SAM tool: out of memory");
done:
    free(pts);
    free(labels);
    free(low);
    free(logits);
    free(tmp);
    free(init);
    return rc;
}

static const sa_tool_ops sam_ops = {
    .name = "sam",
    .accepts_box = 1,
    .session_new = tool_session_new,
    .predict = tool_predict,
    .session_free = tool_session_free,
    .model_free = tool_model_free,
};

static const sa__tool_cache_ops sam_cache_ops = {.set_cache = tool_set_cache,
                                                 .stats = tool_cache_stats};

int sa_sam_tool_new(sa_sam_model *m, sa_tool **out, sa_error *err) {
    if (!out) {
        sa_sam_model_free(m);
        return sa_error_set(err, SA_ERR_INVALID, "sa_sam_tool_new: out is NULL");
    }
    *out = NULL;
    if (!m) return sa_error_set(err, SA_ERR_INVALID, "sa_sam_tool_new: no model");
    sam_tool *t = calloc(1, sizeof *t);
    if (!t) {
        sa_sam_model_free(m);
        return sa_error_set(err, SA_ERR_NOMEM, "sa_sam_tool_new: out of memory");
    }
    t->m = m;
    t->dense_pe = malloc((size_t)m->grid * m->grid * (size_t)m->arch.out_chans * sizeof(float));
    if (!t->dense_pe) {
        tool_model_free(t);
        return sa_error_set(err, SA_ERR_NOMEM, "sa_sam_tool_new: out of memory");
    }
    sa__sam_dense_pe(m, t->dense_pe);
    int rc = sa__embed_cache_new(SA_TOOL_CACHE_DEFAULT_BYTES, NULL, NULL, NULL, &t->cache, err);
    if (rc != SA_OK) {
        tool_model_free(t);
        return rc;
    }
    rc = sa_tool_new(&sam_ops, t, out, err);
    if (rc == SA_OK) {
        t->owner = *out;
        sa__embed_cache_set_wait_hook(t->cache, wait_hook, t);
        sa__tool_set_cache_ops(*out, &sam_cache_ops);
    }
    return rc;
}
