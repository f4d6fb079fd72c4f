/* The CVAT answer's polygon (src/server/contour.c): the outer contour of the largest 8-connected
 * component. A rectangle gives each border pixel once, clockwise from the top-left; a single pixel
 * gives itself; the largest of two components is chosen; a shape joined by a one-pixel neck is
 * walked around completely; every contour point is a mask pixel with a background 4-neighbour. */
#include <stdlib.h>
#include <string.h>

#include "server/contour.h"
#include "testutil.h"

static void set_rect(sa_mask *m, int x0, int y0, int x1, int y1) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            m->data[y * m->width + x] = 1;
}

static int on_border(const sa_mask *m, int x, int y) {
    if (!m->data[y * m->width + x]) return 0;
    static const int d[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    for (int k = 0; k < 4; k++) {
        int nx = x + d[k][0], ny = y + d[k][1];
        if (nx < 0 || ny < 0 || nx >= m->width || ny >= m->height || !m->data[ny * m->width + nx])
            return 1;
    }
    return 0;
}

int main(void) {
    sa_error err = {0};
    sa_mask m = {0};
    int *xy = NULL, n = 0;
    CHECK(sa_mask_new(&m, 20, 15, &err) == SA_OK);
    CHECK(sa__largest_contour(&m, &xy, &n, &err) == SA_OK && n == 0 && !xy);

    m.data[1 * 20 + 1] = 1;
    CHECK(sa__largest_contour(&m, &xy, &n, &err) == SA_OK && n == 1 && xy[0] == 1 && xy[1] == 1);
    free(xy);

    set_rect(&m, 5, 4, 14,
             10); /* 10 x 7: 30 border pixels; the lone pixel is the smaller component */
    CHECK(sa__largest_contour(&m, &xy, &n, &err) == SA_OK);
    CHECKF(n == 2 * (10 + 7) - 4, "rectangle contour has %d points", n);
    CHECK(n > 2 && xy[0] == 5 && xy[1] == 4 && xy[2] == 6 &&
          xy[3] == 4); /* clockwise: along the top first */
    for (int i = 0; i < n; i++)
        CHECK(on_border(&m, xy[2 * i], xy[2 * i + 1]));
    free(xy);

    memset(m.data, 0, 20 * 15);
    set_rect(&m, 1, 1, 5, 5); /* two squares joined by a one-pixel neck */
    set_rect(&m, 6, 3, 8, 3);
    set_rect(&m, 9, 1, 13, 5);
    CHECK(sa__largest_contour(&m, &xy, &n, &err) == SA_OK);
    int far_right = 0, far_left = 0;
    for (int i = 0; i < n; i++) {
        CHECK(on_border(&m, xy[2 * i], xy[2 * i + 1]));
        if (xy[2 * i] == 13) far_right = 1;
        if (xy[2 * i] == 1) far_left = 1;
    }
    /* 8-connected moves cut the inner corners at the neck, so fewer than 16 + 16 + 6 */
    CHECKF(far_right && far_left && n >= 30 && n <= 38, "neck shape: %d points", n);
    free(xy);
    sa_mask_free(&m);
    return tu_finish("test_contour");
}
