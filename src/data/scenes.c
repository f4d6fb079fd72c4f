/* Built-in sample scenes (our own procedural images). Each scene = a background texture function, an
 * object inside-test and an object colour function; the renderer supersamples the inside-test 4x4 per pixel
 * to get coverage, blends object over background by coverage (anti-aliased edges, like a photo), adds a little
 * per-pixel grain, and sets the ground truth where coverage >= 1/2. Shapes are chosen to exercise what makes
 * interactive segmentation hard: holes, thin parts, weak colour contrast, and disconnected parts.
 * Randomness is an integer hash of (seed, scene, lattice point), so scenes are reproducible.
 */
#include "segagent/scenes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_F 3.14159265358979f

typedef struct scene_info {
    const char *name;
    const char *description;
} scene_info;

static const scene_info scenes[] = {
    {"ellipse", "the red oval"},
    {"star", "the yellow star"},
    {"ring", "the blue ring"},
    {"stick", "the thin dark stick"},
    {"camouflage", "the brown stone on the brown ground"},
    {"pair", "the two green coins"},
};
#define N_SCENES ((int)(sizeof scenes / sizeof scenes[0]))

int sa_scene_count(void) {
    return N_SCENES;
}
const char *sa_scene_name(int i) {
    return i >= 0 && i < N_SCENES ? scenes[i].name : NULL;
}
const char *sa_scene_description(int i) {
    return i >= 0 && i < N_SCENES ? scenes[i].description : NULL;
}

/* ---- deterministic randomness ---- */

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float hash01(uint64_t seed, int64_t a, int64_t b, int64_t c) {
    uint64_t h = mix64(seed ^ mix64((uint64_t)a ^ mix64((uint64_t)b ^ mix64((uint64_t)c))));
    return (float)(h >> 40) / (float)(1u << 24);
}

/* Smooth value noise in [0,1) at (x, y) with lattice spacing cell. */
static float value_noise(uint64_t seed, int oct, float x, float y, float cell) {
    float fx = x / cell, fy = y / cell;
    float x0f = floorf(fx), y0f = floorf(fy);
    int64_t x0 = (int64_t)x0f, y0 = (int64_t)y0f;
    float tx = fx - x0f, ty = fy - y0f;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    float a = hash01(seed, oct, x0, y0), b = hash01(seed, oct, x0 + 1, y0);
    float c = hash01(seed, oct, x0, y0 + 1), d = hash01(seed, oct, x0 + 1, y0 + 1);
    return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
}

/* Fractal noise in about [0,1): octaves from cell down by halves. */
static float fbm(uint64_t seed, float x, float y, float cell, int octaves) {
    float sum = 0, amp = 0.5f, norm = 0;
    for (int o = 0; o < octaves; o++) {
        sum += amp * value_noise(seed, o, x, y, cell);
        norm += amp;
        amp *= 0.5f;
        cell *= 0.5f;
    }
    return sum / norm;
}

/* ---- shapes (coordinates in pixels) ---- */

typedef struct shape {
    int kind; /* scene index */
    float cx, cy, rx, ry, angle, r2, w;
    float px[10], py[10]; /* star polygon */
    float cx2, cy2;       /* second coin */
    float ph[2];          /* blob phases */
} shape;

static int inside_poly(const float *px, const float *py, int n, float x, float y) {
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((py[i] > y) != (py[j] > y) &&
            x < (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i]) + px[i])
            in = !in;
    return in;
}

static int inside(const shape *s, float x, float y) {
    float dx = x - s->cx, dy = y - s->cy;
    switch (s->kind) {
    case 0: { /* rotated ellipse */
        float c = cosf(s->angle), sn = sinf(s->angle);
        float u = (dx * c + dy * sn) / s->rx, v = (-dx * sn + dy * c) / s->ry;
        return u * u + v * v <= 1.0f;
    }
    case 1:
        return inside_poly(s->px, s->py, 10, x, y);
    case 2: { /* ring: between two ellipses */
        float u = dx / s->rx, v = dy / s->ry;
        float d = sqrtf(u * u + v * v);
        return d <= 1.0f && d >= s->r2;
    }
    case 3: { /* stick: distance to a segment */
        float c = cosf(s->angle), sn = sinf(s->angle);
        float t = dx * c + dy * sn;
        if (t < -s->rx) t = -s->rx;
        if (t > s->rx) t = s->rx;
        float ex = dx - t * c, ey = dy - t * sn;
        return ex * ex + ey * ey <= s->w * s->w;
    }
    case 4: { /* wobbly blob */
        float r = sqrtf(dx * dx + dy * dy), th = atan2f(dy, dx);
        float R =
            s->rx * (1.0f + 0.18f * sinf(3 * th + s->ph[0]) + 0.08f * sinf(5 * th + s->ph[1]));
        return r <= R;
    }
    default: { /* two coins */
        float ex = x - s->cx2, ey = y - s->cy2;
        return dx * dx + dy * dy <= s->rx * s->rx || ex * ex + ey * ey <= s->ry * s->ry;
    }
    }
}

static void make_shape(int i, uint64_t seed, int w, int h, shape *s) {
    memset(s, 0, sizeof *s);
    s->kind = i;
    float m = (float)(w < h ? w : h);
    float jx = (hash01(seed, i, 1, 0) - 0.5f) * 0.12f * (float)w;
    float jy = (hash01(seed, i, 2, 0) - 0.5f) * 0.12f * (float)h;
    float jr = 0.9f + 0.2f * hash01(seed, i, 3, 0);
    s->cx = 0.5f * (float)w + jx;
    s->cy = 0.5f * (float)h + jy;
    switch (i) {
    case 0:
        s->rx = 0.36f * m * jr;
        s->ry = 0.22f * m * jr;
        s->angle = 0.5f * (hash01(seed, i, 4, 0) - 0.5f);
        break;
    case 1: {
        float ro = 0.38f * m * jr, ri = 0.16f * m * jr, a0 = hash01(seed, i, 4, 0) * 2 * PI_F / 5;
        for (int k = 0; k < 10; k++) {
            float a = a0 + (float)k * PI_F / 5 - PI_F / 2, r = (k & 1) ? ri : ro;
            s->px[k] = s->cx + r * cosf(a);
            s->py[k] = s->cy + r * sinf(a);
        }
        break;
    }
    case 2:
        s->rx = 0.36f * m * jr;
        s->ry = 0.33f * m * jr;
        s->r2 = 0.55f;
        break;
    case 3:
        s->rx = 0.42f * (float)w * jr; /* half length */
        s->w = 0.018f * m + 1.5f;      /* half width */
        s->angle = 0.35f + 0.4f * (hash01(seed, i, 4, 0) - 0.5f);
        break;
    case 4:
        s->rx = 0.30f * m * jr;
        s->ph[0] = 2 * PI_F * hash01(seed, i, 4, 0);
        s->ph[1] = 2 * PI_F * hash01(seed, i, 5, 0);
        break;
    default:
        s->rx = 0.17f * m * jr;
        s->ry = 0.14f * m * jr;
        s->cx = 0.30f * (float)w + jx;
        s->cx2 = 0.70f * (float)w + jx;
        s->cy2 = s->cy + 0.1f * m;
        s->cy -= 0.08f * m;
        break;
    }
}

/* ---- colours ---- */

static void background(int i, uint64_t seed, float x, float y, int w, int h, float rgb[3]) {
    float n = fbm(seed ^ 0xb6ULL, x, y, 48.0f, 4);
    float g = y / (float)h, gx = x / (float)w;
    switch (i) {
    case 0: /* sky-to-field gradient with clouds of noise */
        rgb[0] = 90 + 60 * g + 50 * n;
        rgb[1] = 120 + 50 * g + 40 * n;
        rgb[2] = 190 - 90 * g + 30 * n;
        break;
    case 1: { /* grass: high-frequency green noise */
        float f = fbm(seed ^ 0x51ULL, x, y, 12.0f, 3);
        rgb[0] = 40 + 50 * f;
        rgb[1] = 90 + 90 * f + 20 * n;
        rgb[2] = 30 + 30 * f;
        break;
    }
    case 2: { /* wood: warped stripes */
        float s = 0.5f + 0.5f * sinf(0.09f * (x + 40 * n) + 6 * g);
        rgb[0] = 150 + 60 * s;
        rgb[1] = 105 + 45 * s;
        rgb[2] = 60 + 25 * s;
        break;
    }
    case 3: /* pale noisy paper with a diagonal light gradient */
        rgb[0] = rgb[1] = rgb[2] = 175 + 45 * (0.5f * gx + 0.5f * g) + 30 * n;
        rgb[2] -= 10;
        break;
    case 4: /* brown ground */
        rgb[0] = 120 + 55 * n;
        rgb[1] = 90 + 40 * n;
        rgb[2] = 60 + 25 * n;
        break;
    default: { /* checker of two greys, blurred by noise */
        int c = ((int)(x / 40.0f) + (int)(y / 40.0f)) & 1;
        rgb[0] = rgb[1] = rgb[2] = (c ? 150.0f : 110.0f) + 40 * n;
        break;
    }
    }
}

static void object_colour(int i, uint64_t seed, float x, float y, const shape *s, float rgb[3]) {
    float n = fbm(seed ^ 0x0bULL, x, y, 16.0f, 3);
    float shade = 1.0f - 0.25f * ((y - s->cy) / (s->ry > 0 ? 2 * s->ry : 100.0f) +
                                  0.5f); /* light from above */
    if (shade < 0.6f) shade = 0.6f;
    if (shade > 1.15f) shade = 1.15f;
    switch (i) {
    case 0:
        rgb[0] = 205 + 40 * n, rgb[1] = 45 + 30 * n, rgb[2] = 40 + 20 * n;
        break;
    case 1:
        rgb[0] = 235 + 20 * n, rgb[1] = 200 + 40 * n, rgb[2] = 30 + 30 * n;
        break;
    case 2:
        rgb[0] = 40 + 20 * n, rgb[1] = 80 + 30 * n, rgb[2] = 200 + 40 * n;
        break;
    case 3:
        rgb[0] = 55 + 30 * n, rgb[1] = 40 + 25 * n, rgb[2] = 35 + 20 * n;
        break;
    case 4:
        rgb[0] = 140 + 40 * n, rgb[1] = 95 + 30 * n, rgb[2] = 58 + 20 * n;
        break;
    default:
        rgb[0] = 40 + 30 * n, rgb[1] = 170 + 40 * n, rgb[2] = 70 + 30 * n;
        break;
    }
    for (int c = 0; c < 3; c++)
        rgb[c] *= shade;
}

int sa_scene_render(int i, uint64_t seed, int width, int height, sa_image *img, sa_mask *gt,
                    sa_error *err) {
    if (!img || !gt) return sa_error_set(err, SA_ERR_INVALID, "sa_scene_render: NULL output");
    memset(img, 0, sizeof *img);
    memset(gt, 0, sizeof *gt);
    if (i < 0 || i >= N_SCENES)
        return sa_error_set(err, SA_ERR_RANGE, "scene %d out of range (0..%d)", i, N_SCENES - 1);
    if (width < 32 || height < 32 || width > 4096 || height > 4096)
        return sa_error_set(err, SA_ERR_RANGE, "scene size %dx%d out of range (32..4096)", width,
                            height);
    int rc = sa_image_new(img, width, height, 3, err);
    if (rc != SA_OK) return rc;
    rc = sa_mask_new(gt, width, height, err);
    if (rc != SA_OK) {
        sa_image_free(img);
        return rc;
    }
    uint64_t sseed = mix64(seed * 0x100000001b3ULL + (uint64_t)i);
    shape s;
    make_shape(i, sseed, width, height, &s);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int cov = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++)
                    cov += inside(&s, (float)x + 0.125f + 0.25f * (float)sx,
                                  (float)y + 0.125f + 0.25f * (float)sy);
            float fx = (float)x + 0.5f, fy = (float)y + 0.5f;
            float bg[3], ob[3] = {0, 0, 0};
            background(i, sseed, fx, fy, width, height, bg);
            if (cov) object_colour(i, sseed, fx, fy, &s, ob);
            float a = (float)cov / 16.0f;
            float grain = (hash01(sseed ^ 0x6a1ULL, x, y, 7) - 0.5f) * 14.0f;
            uint8_t *p = img->data + ((size_t)y * (size_t)width + (size_t)x) * 3;
            for (int c = 0; c < 3; c++) {
                float v = a * ob[c] + (1 - a) * bg[c] + grain;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5f));
            }
            gt->data[(size_t)y * (size_t)width + (size_t)x] = cov >= 8;
        }
    }
    return SA_OK;
}
