/* Internal: the outer contour of a mask's largest connected component (8-connected), as CVAT's
 * interactors answer it. */
#ifndef SEGAGENT_SERVER_CONTOUR_H
#define SEGAGENT_SERVER_CONTOUR_H

#include "segagent/error.h"
#include "segagent/mask.h"

/* *xy (malloc'd) receives *n (x, y) pixel pairs walking the boundary clockwise from the component's
 * first pixel in row-major order, each boundary pixel once per visit; an empty mask gives *n = 0
 * and *xy = NULL. */
int sa__largest_contour(const sa_mask *m, int **xy, int *n, sa_error *err);

#endif
