/* Largest component and its outer contour. Components are labelled with an explicit stack (no
 * recursion: a component may have millions of pixels); the contour is Moore-neighbour tracing with
 * a stopping rule in the spirit of Jacob's (stop when the start pixel is left again by the same
 * move as at first), so shapes with one-pixel necks are walked completely. */
#include "server/contour.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* clockwise from west: W, NW, N, NE, E, SE, S, SW */
static const int DX[8] = {-1, -1, 0, 1, 1, 1, 0, -1};
static const int DY[8] = {0, -1, -1, -1, 0, 1, 1, 1};

int sa__largest_contour(const sa_mask *m, int **xy, int *n, sa_error *err) {
    *xy = NULL;
    *n = 0;
    int w = m->width, h = m->height;
    size_t px = (size_t)w * (size_t)h;
    uint32_t *label = calloc(px, sizeof *label);
    uint32_t *stack = malloc(px * sizeof *stack);
    if (!label || !stack) {
        free(label);
        free(stack);
        return sa_error_set(err, SA_ERR_NOMEM, "contour: out of memory");
    }
    uint32_t next = 0, best = 0;
    size_t best_size = 0, best_first = 0;
    for (size_t i = 0; i < px; i++) {
        if (!m->data[i] || label[i]) continue;
        uint32_t l = ++next;
        size_t top = 0, size = 0;
        label[i] = l;
        stack[top++] = (uint32_t)i;
        while (top) {
            size_t p = stack[--top];
            size++;
            int x = (int)(p % (size_t)w), y = (int)(p / (size_t)w);
            for (int d = 0; d < 8; d++) {
                int nx = x + DX[d], ny = y + DY[d];
                if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                size_t q = (size_t)ny * (size_t)w + (size_t)nx;
                if (m->data[q] && !label[q]) {
                    label[q] = l;
                    stack[top++] = (uint32_t)q;
                }
            }
        }
        if (size > best_size) {
            best_size = size;
            best = l;
            best_first = i; /* the first pixel in row-major order: its west and north are outside */
        }
    }
    free(stack);
    if (!best) {
        free(label);
        return SA_OK;
    }
    size_t cap = 64, cnt = 0;
    int *out = malloc(cap * 2 * sizeof *out);
    if (!out) {
        free(label);
        return sa_error_set(err, SA_ERR_NOMEM, "contour: out of memory");
    }
#define INSIDE(X, Y)                                                                               \
    ((X) >= 0 && (Y) >= 0 && (X) < w && (Y) < h &&                                                 \
     label[(size_t)(Y) * (size_t)w + (size_t)(X)] == best)
    int sx = (int)(best_first % (size_t)w), sy = (int)(best_first / (size_t)w);
    int cx = sx, cy = sy, back = 0; /* backtrack: the west neighbour, outside */
    int first_move = -1;
    for (size_t guard = 4 * px + 16; guard; guard--) {
        int found = -1;
        for (int k = 1; k <= 8; k++) {
            int d = (back + k) % 8;
            if (INSIDE(cx + DX[d], cy + DY[d])) {
                found = d;
                break;
            }
        }
        /* done when the start is left again the way it was left first */
        if (cnt > 0 && cx == sx && cy == sy && found == first_move) break;
        if (cnt == cap) {
            cap *= 2;
            int *no = realloc(out, cap * 2 * sizeof *out);
            if (!no) {
                free(out);
                free(label);
                return sa_error_set(err, SA_ERR_NOMEM, "contour: out of memory");
            }
            out = no;
        }
        out[2 * cnt] = cx;
        out[2 * cnt + 1] = cy;
        cnt++;
        if (found < 0) break; /* a single pixel */
        if (first_move < 0) first_move = found;
        /* the new backtrack: the last outside neighbour examined, seen from the new pixel */
        int pd = (found + 7) % 8;
        int bx = DX[pd] - DX[found], by = DY[pd] - DY[found];
        cx += DX[found];
        cy += DY[found];
        for (int e = 0; e < 8; e++)
            if (DX[e] == bx && DY[e] == by) back = e;
    }
#undef INSIDE
    free(label);
    *xy = out;
    *n = (int)cnt;
    return SA_OK;
}
