/* Exact s-t max-flow / min-cut on an 8-connected pixel grid (Boykov-Kolmogorov, as maxflow.h, with the arcs
 * implicit in the grid). Internal to the graph-cut tool; maxflow.h is the general-graph reference it is tested
 * against.
 *
 *   sa__gf *g = sa__gf_new(w, h);
 *   int e = sa__gf_edge(g, x, y, k);          // k: 0 right, 1 down, 2 down-right, 3 down-left; -1 outside
 *   sa__gf_set_edge(g, e, cap, rev_cap);      // arc (x,y) -> neighbour gets cap, the reverse rev_cap
 *   sa__gf_set_tweights(g, y * w + x, cap_source, cap_sink);
 *   sa__gf_solve(g);
 *   if (sa__gf_is_source(g, y * w + x)) ...
 *
 * Same contract as maxflow.h: integer capacities (the sum entering or leaving a node below 2^31), warm start
 * after a solve (changed capacities keep the flow they can and the trees of the last solve are reused; the cut
 * is exact for the changed graph, the returned value is the max-flow value only for a solve from zero flow),
 * and the source side after a solve is the set of nodes reachable from the source in the residual graph, so
 * the result is the same partition as maxflow.h gives for the same graph.
 *
 * Why a second solver: a node and its eight residual capacities fill one 64-byte cache line and a neighbour
 * is an offset, not a stored index, so a scan of a node's arcs touches its own line and its neighbours' lines
 * only. On 0.25-MP images this is about twice as fast as the general layout.
 */
#ifndef SEGAGENT_GRIDFLOW_H
#define SEGAGENT_GRIDFLOW_H

#include <stdint.h>

typedef struct sa__gf sa__gf;

/* NULL on out of memory or bad sizes (w, h >= 1, (w + 2) * (h + 2) below 2^28). */
sa__gf *sa__gf_new(int w, int h);
void sa__gf_free(sa__gf *g);

/* The edge between pixel (x, y) and its forward neighbour k (0: (x+1, y), 1: (x, y+1), 2: (x+1, y+1),
 * 3: (x-1, y+1)); -1 when the neighbour or the pixel is outside the grid. Edge ids are 4 * (y * w + x) + k. */
int sa__gf_edge(const sa__gf *g, int x, int y, int k);
/* Capacities of edge e (a valid id from sa__gf_edge): pixel -> neighbour cap, neighbour -> pixel rev_cap
 * (negative values count as 0). After a solve the flow on the edge is kept as far as the new capacities allow. */
void sa__gf_set_edge(sa__gf *g, int e, int32_t cap, int32_t rev_cap);
/* Terminal capacities of pixel p = y * w + x, replacing earlier values (see maxflow.h). */
void sa__gf_set_tweights(sa__gf *g, int p, int32_t cap_source, int32_t cap_sink);
/* All terminal capacities at once: pixel p gets cap_source max(diff[p], 0) and cap_sink max(-diff[p], 0)
 * (diff: w * h values, |diff| < 2^31). Pixels whose capacities do not change are not touched, so a warm start
 * revisits only the others. */
void sa__gf_set_tdiff(sa__gf *g, const int32_t *diff);

int64_t sa__gf_solve(sa__gf *g);
int sa__gf_is_source(const sa__gf *g, int p);
/* out[p] = sa__gf_is_source(g, p) for all w * h pixels. */
void sa__gf_source_mask(const sa__gf *g, uint8_t *out);

/* Flows back to zero, terminal weights zero, edges keep their capacities. */
void sa__gf_reset(sa__gf *g);

#endif
