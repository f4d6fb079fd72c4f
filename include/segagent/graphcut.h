/* The built-in interactive tool that needs no weights: graph cut on the pixel grid seeded by the clicks.
 *
 *   sa_tool *tool = NULL;
 *   sa_graphcut_tool_new(sa_graphcut_default_params(), &tool, &err);
 *   ... use through the sa_tool contract (tool.h) ...
 *
 * Per image (once, in the session): colour quantisation, the 8-connected contrast-sensitive edge weights and
 * the max-flow graphs (pixels, and 2x2 blocks for the intermediate iterations).
 * Per click: colour models (Gaussian mixtures) learned from the clicks and the current mask, an exact
 * max-flow / min-cut with hard seeds at the clicks, a star-convexity shape constraint around the positive
 * clicks, and a term that keeps the previous mask away from the newest click (see graphcut.c). The previous
 * mask is req->prev->mask, else req->init_mask; without either and without a positive click the result is
 * empty. The output depends only on the request (a session caches work, never results).
 * The tool ignores boxes (accepts_box = 0) and returns no probability map (result.prob = NULL).
 */
#ifndef SEGAGENT_GRAPHCUT_H
#define SEGAGENT_GRAPHCUT_H

#include "segagent/error.h"
#include "segagent/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_graphcut_params {
    float lambda; /* weight of the smoothness term, in nats per unit edge weight (default 10) */
    float click_radius; /* radius in pixels of the hard seed disc around each click (default 3) */
    int max_side; /* images whose longer side exceeds this are segmented at that size and the mask is
                            scaled back (nearest neighbour); 0 = always full resolution. Memory is about
                            230 bytes per working pixel. Default 1024; 16..32768 or 0 */
    int components;     /* Gaussians per colour model, 1..8 (default 5) */
    int iterations;     /* colour-model / cut alternations per click, >= 1 (default 2) */
    int star_convexity; /* non-zero: every object pixel sees its nearest positive click along a straight
                            digital ray of object pixels (Veksler's star prior); 0: off (default 1) */
    float
        keep; /* price (nats) of changing a previous label far from the newest click (default 1) */
    float data_weight; /* weight of the colour term (default 1) */
    int reserved[4];   /* zero */
} sa_graphcut_params;

sa_graphcut_params sa_graphcut_default_params(void);
/* Checks the parameters (SA_ERR_RANGE naming the bad field) and makes the tool. */
int sa_graphcut_tool_new(sa_graphcut_params params, sa_tool **out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
