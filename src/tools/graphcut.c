/* Graph-cut interactive segmentation (the built-in tool; see graphcut.h).
 *
 * Energy over binary labels L (1 = object) on the 8-connected pixel grid, minimised exactly by max-flow:
 *   E(L) = sum_p D_p(L_p) + sum_p K_p [L_p != M_p] + lambda * sum_pq w_pq [L_p != L_q]
 * - D: colour term, -log of two Gaussian mixtures in RGB (object / background). Fitted on a 32^3 colour
 *   histogram (bin mean colour, pixel count) so fitting and evaluation cost little; alternated with the cut
 *   `iterations` times, GrabCut style. Training sets: object = current mask, background = the rest, each
 *   with half of its model's weight; the other half is shared equally by the "evidence discs" around the
 *   clicks of that label (radius 3% of sqrt(pixels), at most half the distance to an opposite click; for the
 *   newest click at most half its reach, see K), so a click's colour counts even when it is rare in the mask.
 *   On the first click with no mask the object set is a disc around the click and the background model is
 *   the whole image (the object is usually a minority of the picture).
 * - w_pq = exp(-beta |c_p - c_q|^2) / |p - q| with beta = 1 / (2 mean |c_p - c_q|^2) over all neighbour pairs
 *   (Boykov-Jolly / GrabCut contrast-sensitive smoothness).
 * - K: previous-mask consistency. M is the previous mask; the price of changing a pixel's label is 0 within
 *   the newest click's "reach" r (its distance to the nearest pixel already carrying the click's label), grows
 *   linearly to `keep` nats at 2r and stays there. A click thus fixes the region it was placed in freely while
 *   the rest of the mask changes only where the refitted colour models disagree with it clearly.
 * - local change (after the cut): a positive click cannot remove object far from it; previous object pixels
 *   turned background in regions of change not connected to the click's K-ramp zone are restored.
 * - hard seeds: discs of click_radius around every click (a later click overrides an earlier one).
 * - star convexity (Veksler 2008; multi-star as in Gulshan et al. 2010): each pixel p links to the neighbour
 *   on the digital ray towards its nearest positive click with an infinite arc, so p can be object only when
 *   that neighbour is. Implemented by raising the capacity of the existing grid arc, so the graph does not grow.
 * Capacities are integers (energies times SCALE), so the minimum cut is exact for the quantised energy.
 *
 * Speed: the graph is built once per image and solved warm (flows and search trees of the previous solve are
 * kept) by the grid max-flow of gridflow.h, whose implicit 8-neighbour arcs keep a node in one cache line. The intermediate colour-model iterations only provide training labels, so they cut a
 * 2x2-block grid whose energy is the pixel energy restricted to block-constant labelings (block unary = sum of
 * its pixels' unaries, block edge = sum of the pixel edges joining the two blocks); the final cut of every
 * click is exact on the full pixel grid.
 */
#include "segagent/graphcut.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/gmm.h"
#include "tools/gridflow.h"

#define SCALE 10.0f     /* integer capacity units per nat */
#define HARD (1 << 30)  /* "infinite" capacity; arcs hold at most HARD plus a finite part */
#define DATA_CLIP 30.0f /* |colour term| is clipped (nats) so no finite cut can reach HARD */
#define NBINS (1 << 15) /* 5 bits per channel */
#define VAR_FLOOR 8.0f  /* within-bin variance (bin width 8) plus a little */

typedef struct gc_model {
    sa_graphcut_params p;
} gc_model;

/* One pixel grid with its max-flow graph. Neighbour k of node p: 0 right, 1 down, 2 down-right, 3 down-left;
 * edge (p, p + off[k]) is stored at p. */
typedef struct gc_level {
    int w, h, n;
    float *nw;        /* 4n: contrast weights (0 where the neighbour is outside) */
    int *eid;         /* 4n: max-flow edge index or -1 */
    int *star;        /* n: star parent whose arc is currently infinite, -1 none */
    int32_t *tdiff;   /* n: terminal capacity difference (source - sink) for the graph */
    int *parent;      /* n: star parents wanted for this request */
    float *d;         /* n: terminal difference in nats being summed (coarse level) */
    int8_t *seed;     /* n: seeds (coarse level) */
    int64_t *near_d2; /* n: squared distance to the nearest positive click of pos[] */
    int *near_i;      /* n: its index in pos[] */
    int *pos;         /* 2 * SA_MAX_CLICKS: the positive clicks (x, y) the parents were made for */
    int n_pos;        /* -1: none made yet */
    sa__gf *g;
} gc_level;

typedef struct gc_state {
    const gc_model *m;
    const sa_image *img;
    int w, h, n;
    uint16_t *slot; /* n: compact colour-bin index of each pixel */
    int nslots;
    float *slot_col; /* nslots x 3: mean colour of the pixels in the bin */
    float *wf, *wb;  /* nslots: training weights */
    float *uf, *ub;  /* nslots: -log p(colour | object / background) */
    int *scratch;    /* nslots */
    float *
        sd3; /* 3 x nslots: colour term of a bin, alone, plus and minus the flat consistency price */
    int32_t *st3; /* 3 x nslots: the same quantised as terminal differences */
    gc_level f;   /* the pixel grid */
    gc_level c; /* 2x2 blocks (c.n == 0 when the image is too small): the intermediate colour-model
                        iterations cut here, on the fine energy restricted to block-constant labelings */
    int8_t *seed;   /* n: -1 free, 0 background seed, 1 object seed */
    uint8_t *cur;   /* n: current labels */
    uint8_t *tmp;   /* n: scratch */
    int *stack;     /* n: scratch for flood fills */
    sa_image small; /* the working image when the input was larger than max_side */
    int resized;    /* 1 when working on `small` */
    int ow, oh;     /* input image size */
} gc_state;

sa_graphcut_params sa_graphcut_default_params(void) {
    sa_graphcut_params p;
    memset(&p, 0, sizeof p);
    p.lambda = 10.0f;
    p.click_radius = 3.0f;
    p.max_side = 1024;
    p.components = 5;
    p.iterations = 2;
    p.star_convexity = 1;
    p.keep = 1.0f;
    p.data_weight = 1.0f;
    return p;
}

static int32_t quant(float nats) { /* nats >= 0 */
    return (int32_t)(nats * SCALE + 0.5f);
}

static void *xcalloc(size_t n, size_t sz) {
    if (n == 0) n = 1;
    return calloc(n, sz);
}

static void level_free(gc_level *L) {
    free(L->nw);
    free(L->eid);
    free(L->star);
    free(L->tdiff);
    free(L->parent);
    free(L->d);
    free(L->seed);
    free(L->near_d2);
    free(L->near_i);
    free(L->pos);
    sa__gf_free(L->g);
}

/* Allocates the per-node arrays of a level whose nw is filled, and its graph with capacities lambda * nw. */
static int level_build(gc_level *L, float lambda) {
    const int w = L->w, h = L->h, n = L->n;
    L->eid = malloc((size_t)n * 4 * sizeof *L->eid);
    L->star = malloc((size_t)n * sizeof *L->star);
    L->tdiff = calloc((size_t)n, sizeof *L->tdiff);
    L->parent = malloc((size_t)n * sizeof *L->parent);
    L->d = malloc((size_t)n * sizeof *L->d);
    L->seed = malloc((size_t)n);
    L->near_d2 = malloc((size_t)n * sizeof *L->near_d2);
    L->near_i = malloc((size_t)n * sizeof *L->near_i);
    L->pos = malloc(2 * SA_MAX_CLICKS * sizeof *L->pos);
    L->n_pos = -1;
    if (!L->eid || !L->star || !L->tdiff || !L->parent || !L->d || !L->seed || !L->near_d2 ||
        !L->near_i || !L->pos)
        return -1;
    L->g = sa__gf_new(w, h);
    if (!L->g) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++) {
                size_t i = 4 * ((size_t)y * w + x) + (size_t)k;
                L->eid[i] = sa__gf_edge(L->g, x, y, k);
                if (L->eid[i] < 0) continue;
                int32_t c = quant(lambda * L->nw[i]);
                sa__gf_set_edge(L->g, L->eid[i], c, c);
            }
    for (int p = 0; p < n; p++)
        L->star[p] = -1;
    return 0;
}

static void state_free(void *sp) {
    gc_state *s = sp;
    if (!s) return;
    free(s->slot);
    free(s->slot_col);
    free(s->wf);
    free(s->wb);
    free(s->uf);
    free(s->ub);
    free(s->scratch);
    free(s->sd3);
    free(s->st3);
    level_free(&s->f);
    level_free(&s->c);
    free(s->seed);
    free(s->cur);
    free(s->tmp);
    free(s->stack);
    sa_image_free(&s->small);
    free(s);
}

static const int nb_dx[4] = {1, 0, 1, -1}, nb_dy[4] = {0, 1, 1, 1}; /* the 4 forward neighbours */

/* Colour bins (5 bits per channel): each pixel's slot and each slot's mean colour; the per-slot weight and
 * cost arrays. Returns 0 or -1 (out of memory). */
static int colour_bins(gc_state *s, const uint8_t *px) {
    const int n = s->n;
    int *binslot = malloc(NBINS * sizeof *binslot);
    if (!binslot) return -1;
    for (int b = 0; b < NBINS; b++)
        binslot[b] = -1;
    int ns = 0;
    for (int p = 0; p < n; p++) {
        const uint8_t *c = px + 3 * (size_t)p;
        int b = (c[0] >> 3) << 10 | (c[1] >> 3) << 5 | (c[2] >> 3);
        if (binslot[b] < 0) binslot[b] = ns++;
        s->slot[p] = (uint16_t)binslot[b];
    }
    free(binslot);
    s->nslots = ns;
    s->slot_col = xcalloc((size_t)ns * 3, sizeof *s->slot_col);
    s->wf = xcalloc((size_t)ns, sizeof *s->wf);
    s->wb = xcalloc((size_t)ns, sizeof *s->wb);
    s->uf = xcalloc((size_t)ns, sizeof *s->uf);
    s->ub = xcalloc((size_t)ns, sizeof *s->ub);
    s->scratch = xcalloc((size_t)ns, sizeof *s->scratch);
    s->sd3 = xcalloc((size_t)ns * 3, sizeof *s->sd3);
    s->st3 = xcalloc((size_t)ns * 3, sizeof *s->st3);
    double *acc = xcalloc((size_t)ns * 4, sizeof *acc);
    if (!s->slot_col || !s->wf || !s->wb || !s->uf || !s->ub || !s->scratch || !s->sd3 || !s->st3 ||
        !acc) {
        free(acc);
        return -1;
    }
    for (int p = 0; p < n; p++) {
        const uint8_t *c = px + 3 * (size_t)p;
        double *a = acc + 4 * (size_t)s->slot[p];
        a[0] += c[0], a[1] += c[1], a[2] += c[2], a[3] += 1;
    }
    for (int i = 0; i < ns; i++)
        for (int c = 0; c < 3; c++)
            s->slot_col[3 * i + c] = (float)(acc[4 * i + c] / acc[4 * i + 3]);
    free(acc);
    return 0;
}

/* Pixel-level contrast weights exp(-beta |I_p - I_q|^2) / dist, beta from the mean squared difference. */
static void contrast_weights(gc_state *s, const uint8_t *px) {
    const int w = s->w, h = s->h;
    double sum = 0;
    long cnt = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++) {
                int xx = x + nb_dx[k], yy = y + nb_dy[k];
                if (xx < 0 || xx >= w || yy >= h) continue;
                const uint8_t *a = px + 3 * ((size_t)y * w + x),
                              *b = px + 3 * ((size_t)yy * w + xx);
                double d = 0;
                for (int c = 0; c < 3; c++)
                    d += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
                s->f.nw[4 * ((size_t)y * w + x) + k] = (float)d; /* squared difference for now */
                sum += d;
                cnt++;
            }
    double beta = (cnt > 0 && sum > 0) ? 1.0 / (2.0 * sum / cnt) : 0.0;
    /* squared differences are integers and mostly small: their exponentials are tabulated (same values) */
    enum { NTAB = 2048 };
    double etab[NTAB];
    for (int d = 0; d < NTAB; d++)
        etab[d] = exp(-beta * d);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++) {
                int xx = x + nb_dx[k], yy = y + nb_dy[k];
                size_t i = 4 * ((size_t)y * w + x) + (size_t)k;
                if (xx < 0 || xx >= w || yy >= h) {
                    s->f.nw[i] = 0;
                    continue;
                }
                const float d2 = s->f.nw[i];
                const double e = d2 < NTAB ? etab[(int)d2] : exp(-beta * d2);
                s->f.nw[i] = (float)(e / (k >= 2 ? M_SQRT2 : 1.0));
            }
}

/* The block level (2x2 blocks): the weight between two blocks is the sum of the pixel edges joining them.
 * Returns 0 or -1 (out of memory). */
static int block_level(gc_state *s) {
    const int w = s->w, h = s->h;
    gc_level *c = &s->c;
    c->w = (w + 1) / 2, c->h = (h + 1) / 2, c->n = c->w * c->h;
    c->nw = xcalloc((size_t)c->n * 4, sizeof *c->nw);
    if (!c->nw) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 4; k++) {
                int xx = x + nb_dx[k], yy = y + nb_dy[k];
                if (xx < 0 || xx >= w || yy >= h) continue;
                int ax = x / 2, ay = y / 2, bx = xx / 2, by = yy / 2;
                if (ax == bx && ay == by) continue;
                if (by < ay || (by == ay && bx < ax)) {
                    int t = ax;
                    ax = bx, bx = t;
                    t = ay;
                    ay = by, by = t;
                }
                int ddx = bx - ax, ddy = by - ay;
                int k2 = ddy == 0 ? 0 : ddx == 0 ? 1 : ddx == 1 ? 2 : 3;
                c->nw[4 * ((size_t)ay * c->w + ax) + (size_t)k2] +=
                    s->f.nw[4 * ((size_t)y * w + x) + k];
            }
    return level_build(c, s->m->p.lambda);
}

static int session_new(void *model, const sa_image *img_in, void **out, sa_error *err) {
    const gc_model *m = model;
    *out = NULL;
    sa_image small = {0};
    const sa_image *img = img_in;
    const int side = img_in->width > img_in->height ? img_in->width : img_in->height;
    if (m->p.max_side > 0 && side > m->p.max_side) {
        int sw = (int)((double)img_in->width * m->p.max_side / side + 0.5);
        int sh = (int)((double)img_in->height * m->p.max_side / side + 0.5);
        int rc = sa_image_resize_bilinear(img_in, sw < 1 ? 1 : sw, sh < 1 ? 1 : sh, &small, err);
        if (rc != SA_OK) return rc;
        img = &small;
    }
    const int w = img->width, h = img->height;
    if ((size_t)w * (size_t)h > (size_t)(INT32_MAX / 8)) {
        sa_image_free(&small);
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: image %dx%d is too large", w, h);
    }
    const int n = w * h;
    gc_state *s = calloc(1, sizeof *s);
    if (!s) {
        sa_image_free(&small);
        return sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory");
    }
    s->m = m;
    s->small = small;
    s->resized = img != img_in;
    s->img = s->resized ? &s->small : img_in;
    img = s->img;
    s->ow = img_in->width, s->oh = img_in->height;
    s->w = w, s->h = h, s->n = n;
    s->slot = malloc((size_t)n * sizeof *s->slot);
    s->f.w = w, s->f.h = h, s->f.n = n;
    s->f.nw = xcalloc((size_t)n * 4, sizeof *s->f.nw);
    s->seed = malloc((size_t)n);
    s->cur = malloc((size_t)n);
    s->tmp = malloc((size_t)n);
    s->stack = malloc((size_t)n * sizeof *s->stack);
    int ok = s->slot && s->f.nw && s->seed && s->cur && s->tmp && s->stack &&
             colour_bins(s, img->data) == 0;
    if (ok) {
        contrast_weights(s, img->data);
        ok = level_build(&s->f, m->p.lambda) == 0 && (w < 8 || h < 8 || block_level(s) == 0);
    }
    if (!ok) {
        state_free(s);
        return sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory for a %dx%d image", w, h);
    }
    *out = s;
    return SA_OK;
}

/* Fits both colour models from the weights in s->wf / s->wb and fills s->uf / s->ub. */
static void fit_models(gc_state *s) {
    const sa_graphcut_params *p = &s->m->p;
    sa__gmm gf, gb;
    sa__gmm_fit(&gf, p->components, s->slot_col, s->wf, s->nslots, VAR_FLOOR, s->scratch);
    sa__gmm_fit(&gb, p->components, s->slot_col, s->wb, s->nslots, VAR_FLOOR, s->scratch);
    for (int i = 0; i < s->nslots; i++) {
        s->uf[i] = (float)-sa__gmm_logpdf(&gf, s->slot_col + 3 * i);
        s->ub[i] = (float)-sa__gmm_logpdf(&gb, s->slot_col + 3 * i);
    }
}

/* Edge between p and its 8-neighbour q: its index, whether p is the edge's first node, its base capacity. */
static int edge_of(const gc_level *L, float lambda, int p, int q, int *p_first, int32_t *base) {
    const int w = L->w;
    int dx = q % w - p % w,
        dy = q / w - p / w; /* by coordinates: on thin grids p + 1 may be p + w */
    int a = p;
    if (dy < 0 || (dy == 0 && dx < 0)) dx = -dx, dy = -dy, a = q;
    int k = dy == 0 ? 0 : dx == 0 ? 1 : dx == 1 ? 2 : 3;
    *p_first = a == p;
    *base = quant(lambda * L->nw[4 * (size_t)a + (size_t)k]);
    return L->eid[4 * (size_t)a + (size_t)k];
}

/* Makes the star arcs those of parent[] (NULL: none). Changed arcs are first all restored, then all set, so
 * two pixels that swap roles never undo each other (a pixel and its parent never point at each other). */
static void update_star(gc_level *L, float lambda, const int *parent) {
    for (int p = 0; p < L->n; p++) {
        int np = parent ? parent[p] : -1;
        if (L->star[p] == np || L->star[p] < 0) continue;
        int pf;
        int32_t base;
        int e = edge_of(L, lambda, p, L->star[p], &pf, &base);
        if (e >= 0) sa__gf_set_edge(L->g, e, base, base);
    }
    for (int p = 0; p < L->n; p++) {
        int np = parent ? parent[p] : -1;
        if (L->star[p] == np) continue;
        L->star[p] = np;
        if (np < 0) continue;
        int pf;
        int32_t base;
        int e = edge_of(L, lambda, p, np, &pf, &base);
        if (e < 0) continue;
        if (pf)
            sa__gf_set_edge(L->g, e, HARD, base);
        else
            sa__gf_set_edge(L->g, e, base, HARD);
    }
}

/* Star parent of pixel (x, y) towards click (cx, cy): the 8-neighbour step that stays closest to the ray. */
static int star_step(int x, int y, int cx, int cy, int w) {
    int dx = cx - x, dy = cy - y;
    int sx = (dx > 0) - (dx < 0), sy = (dy > 0) - (dy < 0);
    int cand[3][2] = {{sx, sy}, {sx, 0}, {0, sy}};
    int best = -1;
    long best_c = 0;
    for (int i = 0; i < 3; i++) {
        int mx = cand[i][0], my = cand[i][1];
        if (mx == 0 && my == 0) continue;
        /* distance from the new point to the line through (x, y) and the click, times |d| */
        long c = labs((long)(x + mx - cx) * dy - (long)(y + my - cy) * dx);
        if (best < 0 || c < best_c) best = i, best_c = c;
    }
    return (y + cand[best][1]) * w + (x + cand[best][0]);
}

/* Star parents on a level: towards the nearest positive click (the first in order on ties), click coordinates
 * divided by div. When the positive clicks extend those of the last request, only the new clicks are measured
 * (the result is the same as computing from scratch). */
static void star_parents(gc_level *L, const sa_tool_request *req, int div) {
    int np = 0, prefix = L->n_pos >= 0;
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        if (!c->positive) continue;
        int cx = c->x / div, cy = c->y / div;
        if (np >= L->n_pos || L->pos[2 * np] != cx || L->pos[2 * np + 1] != cy)
            prefix = prefix && np >= L->n_pos;
        L->pos[2 * np] = cx, L->pos[2 * np + 1] = cy;
        np++;
    }
    if (np < L->n_pos) prefix = 0;
    int from = prefix ? L->n_pos : 0;
    if (from == 0)
        for (int p = 0; p < L->n; p++)
            L->near_d2[p] = INT64_MAX, L->near_i[p] = -1;
    for (int j = from; j < np; j++) {
        const int cx = L->pos[2 * j], cy = L->pos[2 * j + 1];
        for (int y = 0; y < L->h; y++) {
            int64_t dy2 = (int64_t)(cy - y) * (cy - y);
            for (int x = 0; x < L->w; x++) {
                int p = y * L->w + x;
                int64_t d = dy2 + (int64_t)(cx - x) * (cx - x);
                if (d < L->near_d2[p]) {
                    L->near_d2[p] = d;
                    L->near_i[p] = j;
                    L->parent[p] = d == 0 ? -1 : star_step(x, y, cx, cy, L->w);
                }
            }
        }
    }
    L->n_pos = np;
}

static void paint_disc(int8_t *seed, int w, int h, int cx, int cy, float r, int8_t v) {
    int ri = (int)ceilf(r);
    for (int y = cy - ri; y <= cy + ri; y++) {
        if (y < 0 || y >= h) continue;
        for (int x = cx - ri; x <= cx + ri; x++) {
            if (x < 0 || x >= w) continue;
            if ((float)((x - cx) * (x - cx) + (y - cy) * (y - cy)) <= r * r) seed[y * w + x] = v;
        }
    }
}

static void paint_bits(uint8_t *m, int w, int h, int cx, int cy, float r, uint8_t bits) {
    int ri = (int)ceilf(r);
    for (int y = cy - ri; y <= cy + ri; y++) {
        if (y < 0 || y >= h) continue;
        for (int x = cx - ri; x <= cx + ri; x++) {
            if (x < 0 || x >= w) continue;
            if ((float)((x - cx) * (x - cx) + (y - cy) * (y - cy)) <= r * r) m[y * w + x] |= bits;
        }
    }
}

/* Adds weight wpx to the colour bins of the pixels in a disc. */
static void add_disc(gc_state *s, float *wts, int cx, int cy, float r, float wpx) {
    int ri = (int)ceilf(r);
    for (int y = cy - ri; y <= cy + ri; y++) {
        if (y < 0 || y >= s->h) continue;
        for (int x = cx - ri; x <= cx + ri; x++) {
            if (x < 0 || x >= s->w) continue;
            if ((float)((x - cx) * (x - cx) + (y - cy) * (y - cy)) <= r * r)
                wts[s->slot[y * s->w + x]] += wpx;
        }
    }
}

/* Flood-fill stacks hold (x, y) packed in one int (sides are at most 32768), so a pop needs no division. */
static int xy_pack(int x, int y) {
    return y << 16 | x;
}

/* Keeps only object components (8-connected) that hold an object seed; when there is no object seed, keeps
 * everything. */
static void keep_seeded_components(gc_state *s) {
    const int w = s->w, h = s->h, n = s->n;
    int any = 0;
    for (int p = 0; p < n; p++)
        if (s->seed[p] == 1) {
            any = 1;
            break;
        }
    if (!any) return;
    memset(s->tmp, 0, (size_t)n);
    for (int p0 = 0; p0 < n; p0++) {
        if (s->seed[p0] != 1 || !s->cur[p0] || s->tmp[p0]) continue;
        int top = 0;
        s->stack[top++] = xy_pack(p0 % w, p0 / w);
        s->tmp[p0] = 1;
        while (top > 0) {
            const int xy = s->stack[--top], x = xy & 0xffff, y = xy >> 16;
            for (int yy = y - 1; yy <= y + 1; yy++)
                for (int xx = x - 1; xx <= x + 1; xx++) {
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    int q = yy * w + xx;
                    if (s->cur[q] && !s->tmp[q]) {
                        s->tmp[q] = 1;
                        s->stack[top++] = xy_pack(xx, yy);
                    }
                }
        }
    }
    memcpy(s->cur, s->tmp, (size_t)n);
}

/* Local change for a positive click: object pixels of the previous mask that the new cut made background are
 * restored unless their 8-connected region of changed pixels reaches the click's free zone (where K is below
 * its maximum). A positive click is evidence for the object near it, not against object far away, so only the
 * refitted colour models' additions may reach beyond its neighbourhood. */
static void keep_local_change(gc_state *s, const uint8_t *prev, const float *keep, float kmax) {
    const int w = s->w, h = s->h, n = s->n;
    memset(s->tmp, 0, (size_t)n);
    int top = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int p = y * w + x;
            if (keep[p] < kmax && (s->cur[p] != 0) != (prev[p] != 0)) {
                s->tmp[p] = 1;
                s->stack[top++] = xy_pack(x, y);
            }
        }
    while (top > 0) {
        const int xy = s->stack[--top], x = xy & 0xffff, y = xy >> 16;
        for (int yy = y - 1; yy <= y + 1; yy++)
            for (int xx = x - 1; xx <= x + 1; xx++) {
                if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                int q = yy * w + xx;
                if (!s->tmp[q] && (s->cur[q] != 0) != (prev[q] != 0)) {
                    s->tmp[q] = 1;
                    s->stack[top++] = xy_pack(xx, yy);
                }
            }
    }
    for (int p = 0; p < n; p++)
        if (!s->tmp[p] && !s->cur[p] && prev[p]) s->cur[p] = 1;
}

/* Previous-mask consistency weights K_p around the newest click (NULL when there is no previous mask);
 * *reach receives the click's reach (its distance to the nearest pixel already carrying its label), 0 when
 * there are no weights. */
static int consistency_weights(const gc_state *s, const sa_tool_request *req, const uint8_t *prev,
                               size_t prev_area, float **keep_out, float *reach_out,
                               sa_error *err) {
    const sa_graphcut_params *prm = &s->m->p;
    const int w = s->w, h = s->h, n = s->n;
    *keep_out = NULL;
    *reach_out = 0;
    if (!(prev && prev_area > 0 && req->n_clicks > 0 && prm->keep > 0)) return SA_OK;
    float *keep = malloc((size_t)n * sizeof *keep);
    if (!keep) return sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory");
    const sa_click *c = &req->clicks[req->n_clicks - 1];
    const uint8_t want = c->positive != 0;
    long reach2 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if ((prev[y * w + x] != 0) != want) continue;
            long d = (long)(c->x - x) * (c->x - x) + (long)(c->y - y) * (c->y - y);
            if (reach2 < 0 || d < reach2) reach2 = d;
        }
    double reach = reach2 < 0 ? (double)(w > h ? w : h) : sqrt((double)reach2);
    if (reach < 2) reach = 2;
    /* beyond twice the reach (with a margin far above rounding) the price is flat: no square root needed */
    const double far2 = 4.0 * reach * reach * (1.0 + 1e-9);
    const double kfar = prm->keep;
    const float keep_far = (float)(kfar < DATA_CLIP ? kfar : DATA_CLIP);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double d2 = (double)(c->x - x) * (c->x - x) + (double)(c->y - y) * (c->y - y);
            if (d2 > far2) {
                keep[y * w + x] = keep_far;
                continue;
            }
            double d = sqrt(d2) / reach;
            double k = prm->keep * (d > 2 ? 1 : d > 1 ? d - 1 : 0);
            keep[y * w + x] = (float)(k < DATA_CLIP ? k : DATA_CLIP);
        }
    *keep_out = keep;
    *reach_out = (float)reach;
    return SA_OK;
}

/* Initial training labels: the previous mask, or discs around the positive clicks. */
static void initial_labels(gc_state *s, const sa_tool_request *req, const uint8_t *prev,
                           size_t prev_area) {
    const int w = s->w, h = s->h, n = s->n;
    if (prev_area > 0) {
        for (int p = 0; p < n; p++)
            s->cur[p] = prev[p] != 0;
        return;
    }
    memset(s->cur, 0, (size_t)n);
    float r0 = 0.05f * sqrtf((float)n);
    if (r0 < s->m->p.click_radius) r0 = s->m->p.click_radius;
    int8_t *tmp8 = (int8_t *)s->tmp;
    memset(tmp8, 0, (size_t)n);
    for (int i = 0; i < req->n_clicks; i++)
        if (req->clicks[i].positive)
            paint_disc(tmp8, w, h, req->clicks[i].x, req->clicks[i].y, r0, 1);
    for (int p = 0; p < n; p++)
        s->cur[p] = tmp8[p] == 1;
}

/* Radius of each click's evidence disc: the neighbourhood of a click is a sample of its label's appearance,
 * up to half the distance to an opposite click (and, for the newest, half its reach). */
static void evidence_radii(const gc_state *s, const sa_tool_request *req, float newest_reach,
                           float *rho) {
    const sa_graphcut_params *prm = &s->m->p;
    float r_train = 0.03f * sqrtf((float)s->n);
    if (r_train < prm->click_radius) r_train = prm->click_radius;
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        float r = r_train;
        for (int j = 0; j < req->n_clicks; j++) {
            const sa_click *o = &req->clicks[j];
            if ((o->positive != 0) == (c->positive != 0)) continue;
            float d = 0.5f *
                      sqrtf((float)((o->x - c->x) * (o->x - c->x) + (o->y - c->y) * (o->y - c->y)));
            if (d < r) r = d;
        }
        if (i == req->n_clicks - 1 && newest_reach > 0 && 0.5f * newest_reach < r)
            r = 0.5f * newest_reach;
        if (r < prm->click_radius) r = prm->click_radius;
        rho[i] = r;
    }
}

/* Colour-model training weights of one iteration: the current labels (outside the other label's discs) share
 * half the mass with the click discs. */
static void training_weights(gc_state *s, const sa_tool_request *req, const float *rho, int n_pos,
                             int it, size_t prev_area) {
    const int w = s->w, h = s->h, n = s->n;
    const int n_neg = req->n_clicks - n_pos;
    uint8_t *disc = s->tmp; /* bit 0: in a positive disc, bit 1: in a negative disc */
    memset(s->wf, 0, (size_t)s->nslots * sizeof *s->wf);
    memset(s->wb, 0, (size_t)s->nslots * sizeof *s->wb);
    memset(disc, 0, (size_t)n);
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        paint_bits(disc, w, h, c->x, c->y, rho[i], c->positive ? 1 : 2);
    }
    const int whole_image_bg = it == 0 && prev_area == 0;
    long nf = 0, nb = 0;
    for (int p = 0; p < n; p++) {
        if (s->cur[p] && !(disc[p] & 2)) nf++;
        if ((!s->cur[p] || whole_image_bg) && !(disc[p] & 1)) nb++;
    }
    double click_share_f = n_pos > 0 ? (nf > 0 ? 0.5 : 1.0) : 0.0;
    double click_share_b = n_neg > 0 ? (nb > 0 ? 0.5 : 1.0) : 0.0;
    float mf = nf > 0 ? (float)((1.0 - click_share_f) / (double)nf) : 0.0f;
    float mb = nb > 0 ? (float)((1.0 - click_share_b) / (double)nb) : 0.0f;
    for (int p = 0; p < n; p++) {
        if (s->cur[p] && !(disc[p] & 2)) s->wf[s->slot[p]] += mf;
        if ((!s->cur[p] || whole_image_bg) && !(disc[p] & 1)) s->wb[s->slot[p]] += mb;
    }
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        float r = rho[i];
        double share = c->positive ? click_share_f / n_pos : click_share_b / n_neg;
        float wpx = (float)(share / (M_PI * r * r + 1.0));
        add_disc(s, c->positive ? s->wf : s->wb, c->x, c->y, r, wpx);
    }
}

/* t-links from the fitted colour models, the seeds and the consistency weights, then the cut: at the block
 * level for the intermediate iterations (they only train the colour models), at full resolution for the last. */
static int32_t tdiff_of(float d) {
    return quant(d > 0 ? d : 0) - quant(d < 0 ? -d : 0);
}

/* The colour term of a free pixel, clipped; with its consistency price added when keep is set. */
static float free_term(const gc_state *s, int slot, const float *keep, float keep_p,
                       int was_object) {
    float d = s->m->p.data_weight * (s->ub[slot] - s->uf[slot]); /* > 0: object colour */
    if (d > DATA_CLIP) d = DATA_CLIP;
    if (d < -DATA_CLIP) d = -DATA_CLIP;
    if (keep) d += was_object ? keep_p : -keep_p; /* cost of leaving the previous label */
    return d;
}

static void cut(gc_state *s, const uint8_t *prev, const float *keep, int coarse) {
    const sa_graphcut_params *prm = &s->m->p;
    const int w = s->w, h = s->h, ns = s->nslots;
    gc_level *c = &s->c, *L = coarse ? &s->c : &s->f;
    if (coarse) {
        memset(c->d, 0, (size_t)c->n * sizeof *c->d);
        memset(c->seed, -1, (size_t)c->n);
    }
    /* Most pixels lie beyond twice the newest click's reach, where the consistency price is flat: their terms
     * are tabulated per colour bin (the same float operations, so the same values). */
    const double kfar_d = prm->keep;
    const float kfar = (float)(kfar_d < DATA_CLIP ? kfar_d : DATA_CLIP);
    float *sd0 = s->sd3, *sdp = s->sd3 + ns, *sdm = s->sd3 + 2 * (size_t)ns;
    int32_t *st0 = s->st3, *stp = s->st3 + ns, *stm = s->st3 + 2 * (size_t)ns;
    for (int i = 0; i < ns; i++) {
        sd0[i] = free_term(s, i, NULL, 0, 0);
        sdp[i] = free_term(s, i, keep, kfar, 1);
        sdm[i] = free_term(s, i, keep, kfar, 0);
        st0[i] = tdiff_of(sd0[i]), stp[i] = tdiff_of(sdp[i]), stm[i] = tdiff_of(sdm[i]);
    }
    for (int y = 0; y < h; y++) {
        const size_t row = (size_t)y * w, brow = (size_t)(y / 2) * c->w;
        for (int x = 0; x < w; x++) {
            const size_t p = row + (size_t)x;
            const int8_t sd = s->seed[p];
            const int slot = s->slot[p];
            /* which table holds the pixel's term: 0 none (computed here), 1 alone, 2 plus, 3 minus */
            const int tab = !keep ? 1 : keep[p] != kfar ? 0 : prev[p] ? 2 : 3;
            if (coarse) {
                float d = 0;
                if (sd < 0)
                    d = tab == 1   ? sd0[slot]
                        : tab == 2 ? sdp[slot]
                        : tab == 3 ? sdm[slot]
                                   : free_term(s, slot, keep, keep[p], prev[p] != 0);
                const size_t b = brow + (size_t)(x / 2);
                if (sd == 1 || (sd == 0 && c->seed[b] < 0)) c->seed[b] = sd;
                c->d[b] += d;
            } else {
                L->tdiff[p] = sd == 1    ? HARD
                              : sd == 0  ? -HARD
                              : tab == 1 ? st0[slot]
                              : tab == 2 ? stp[slot]
                              : tab == 3
                                  ? stm[slot]
                                  : tdiff_of(free_term(s, slot, keep, keep[p], prev[p] != 0));
            }
        }
    }
    if (coarse)
        for (int b = 0; b < c->n; b++)
            c->tdiff[b] = c->seed[b] == 1 ? HARD : c->seed[b] == 0 ? -HARD : tdiff_of(c->d[b]);
    sa__gf_set_tdiff(L->g, L->tdiff);
    sa__gf_solve(L->g);
    if (!coarse) {
        sa__gf_source_mask(L->g, s->cur);
        return;
    }
    uint8_t *lab =
        (uint8_t *)c->seed; /* the block labels; the block seeds are not needed any more */
    sa__gf_source_mask(c->g, lab);
    for (int y = 0; y < h; y++) {
        const uint8_t *brow = lab + (size_t)(y / 2) * c->w;
        uint8_t *row = s->cur + (size_t)y * w;
        for (int x = 0; x < w; x++)
            row[x] = brow[x / 2];
    }
}

static int predict_full(gc_state *s, const sa_tool_request *req, sa_tool_result *out,
                        sa_error *err) {
    const sa_graphcut_params *prm = &s->m->p;
    const int w = s->w, h = s->h, n = s->n;
    const uint8_t *prev = NULL;
    if (req->prev && req->prev->mask.data)
        prev = req->prev->mask.data;
    else if (req->init_mask && req->init_mask->data)
        prev = req->init_mask->data;
    int rc = sa_mask_new(&out->mask, w, h, err);
    if (rc != SA_OK) return rc;

    int n_pos = 0;
    for (int i = 0; i < req->n_clicks; i++)
        n_pos += req->clicks[i].positive != 0;
    size_t prev_area = 0;
    if (prev)
        for (int p = 0; p < n; p++)
            prev_area += prev[p] != 0;
    if (n_pos == 0 && prev_area == 0) return SA_OK; /* nothing marks the object */

    memset(s->seed, -1, (size_t)n);
    for (int i = 0; i < req->n_clicks; i++) {
        const sa_click *c = &req->clicks[i];
        paint_disc(s->seed, w, h, c->x, c->y, prm->click_radius, (int8_t)(c->positive != 0));
    }
    const int use_star = prm->star_convexity && n_pos > 0;
    if (use_star) {
        star_parents(&s->f, req, 1);
        if (s->c.n) star_parents(&s->c, req, 2);
    }
    update_star(&s->f, prm->lambda, use_star ? s->f.parent : NULL);
    if (s->c.n) update_star(&s->c, prm->lambda, use_star ? s->c.parent : NULL);

    float *keep = NULL, newest_reach = 0;
    if ((rc = consistency_weights(s, req, prev, prev_area, &keep, &newest_reach, err)) != SA_OK)
        return rc;
    initial_labels(s, req, prev, prev_area);
    float *rho = malloc((size_t)(req->n_clicks ? req->n_clicks : 1) * sizeof *rho);
    if (!rho) {
        free(keep);
        return sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory");
    }
    evidence_radii(s, req, newest_reach, rho);
    const int n_iter = prm->iterations;
    for (int it = 0; it < n_iter; it++) {
        training_weights(s, req, rho, n_pos, it, prev_area);
        fit_models(s);
        cut(s, prev, keep, it < n_iter - 1 && s->c.n > 0);
    }
    if (keep && req->clicks[req->n_clicks - 1].positive)
        keep_local_change(s, prev, keep, fminf(prm->keep, DATA_CLIP));
    free(keep);
    free(rho);
    keep_seeded_components(s);
    memcpy(out->mask.data, s->cur, (size_t)n);
    return SA_OK;
}

/* Images larger than max_side: the request is mapped to the working image (clicks by floor scaling, masks by
 * nearest neighbour) and the result mapped back the same way, so a clicked pixel keeps its label. */
static int predict(void *sp, const sa_tool_request *req, sa_tool_result *out, sa_error *err) {
    gc_state *s = sp;
    if (!s->resized) return predict_full(s, req, out, err);
    const int w = s->w, h = s->h, ow = s->ow, oh = s->oh;
    const sa_mask *src = NULL;
    if (req->prev && req->prev->mask.data)
        src = &req->prev->mask;
    else if (req->init_mask && req->init_mask->data)
        src = req->init_mask;
    sa_click *cl = malloc((size_t)(req->n_clicks > 0 ? req->n_clicks : 1) * sizeof *cl);
    sa_tool_result pr = {0}, small = {0};
    int rc = cl ? SA_OK : sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory");
    for (int i = 0; rc == SA_OK && i < req->n_clicks; i++) {
        cl[i] = req->clicks[i];
        cl[i].x = (int)((int64_t)cl[i].x * w / ow);
        cl[i].y = (int)((int64_t)cl[i].y * h / oh);
    }
    if (rc == SA_OK && src) {
        rc = sa_mask_new(&pr.mask, w, h, err);
        for (int y = 0; rc == SA_OK && y < h; y++) {
            int sy = (int)(((int64_t)2 * y + 1) * oh / (2 * h));
            for (int x = 0; x < w; x++)
                pr.mask.data[y * w + x] =
                    src->data[(size_t)sy * ow + (size_t)(((int64_t)2 * x + 1) * ow / (2 * w))];
        }
    }
    if (rc == SA_OK) {
        sa_tool_request r2 = {.clicks = cl, .n_clicks = req->n_clicks, .prev = src ? &pr : NULL};
        rc = predict_full(s, &r2, &small, err);
    }
    if (rc == SA_OK) rc = sa_mask_new(&out->mask, ow, oh, err);
    if (rc == SA_OK)
        for (int y = 0; y < oh; y++) {
            const uint8_t *row = small.mask.data + (size_t)((int64_t)y * h / oh) * w;
            for (int x = 0; x < ow; x++)
                out->mask.data[(size_t)y * ow + x] = row[(int64_t)x * w / ow];
        }
    free(cl);
    sa_tool_result_free(&pr);
    sa_tool_result_free(&small);
    return rc;
}

static void model_free(void *m) {
    free(m);
}

static const sa_tool_ops graphcut_ops = {
    .name = "graphcut",
    .accepts_box = 0,
    .session_new = session_new,
    .predict = predict,
    .session_free = state_free,
    .model_free = model_free,
};

int sa_graphcut_tool_new(sa_graphcut_params p, sa_tool **out, sa_error *err) {
    if (!out) return sa_error_set(err, SA_ERR_INVALID, "graph cut: NULL output");
    *out = NULL;
    if (!(p.lambda >= 0 && p.lambda <= 1e4f))
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: lambda %g outside [0, 10000]",
                            (double)p.lambda);
    if (!(p.click_radius >= 0 && p.click_radius <= 1000))
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: click_radius %g outside [0, 1000]",
                            (double)p.click_radius);
    if (p.max_side != 0 && (p.max_side < 16 || p.max_side > SA_IMAGE_MAX_SIDE))
        return sa_error_set(err, SA_ERR_RANGE,
                            "graph cut: max_side %d outside 16..%d (or 0 for never)", p.max_side,
                            SA_IMAGE_MAX_SIDE);
    if (p.components < 1 || p.components > SA__GMM_MAX_K)
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: components %d outside [1, %d]",
                            p.components, SA__GMM_MAX_K);
    if (p.iterations < 1 || p.iterations > 20)
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: iterations %d outside [1, 20]",
                            p.iterations);
    if (!(p.keep >= 0 && p.keep <= 1e3f))
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: keep %g outside [0, 1000]",
                            (double)p.keep);
    if (!(p.data_weight >= 0 && p.data_weight <= 1e3f))
        return sa_error_set(err, SA_ERR_RANGE, "graph cut: data_weight %g outside [0, 1000]",
                            (double)p.data_weight);
    gc_model *m = malloc(sizeof *m);
    if (!m) return sa_error_set(err, SA_ERR_NOMEM, "graph cut: out of memory");
    m->p = p;
    m->p.star_convexity = p.star_convexity != 0;
    return sa_tool_new(&graphcut_ops, m, out, err);
}
