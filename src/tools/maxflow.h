/* Exact s-t max-flow / min-cut on sparse graphs (Boykov-Kolmogorov augmenting paths with search-tree reuse).
 * Internal to the graph-cut tool.
 *
 *   sa__mf *g = sa__mf_new(n_nodes, n_edges);
 *   sa__mf_add_edge(g, i, j, cap_ij, cap_ji);      // edges are added once; capacities may change later
 *   sa__mf_set_tweights(g, i, cap_source, cap_sink);
 *   int64_t flow = sa__mf_solve(g);
 *   if (sa__mf_is_source(g, i)) ...               // i on the source side of the minimum cut
 *   sa__mf_reset(g);  // flows back to zero, terminal weights zero, edges keep their capacities
 *
 * Warm start: after a solve, capacities may be changed (sa__mf_set_edge, sa__mf_set_tweights) and the graph
 * solved again without a reset. The flow found so far is kept on every arc as far as the new capacities allow
 * and the imbalance is moved onto the terminal arcs (a reparametrisation: the minimum cut of the changed graph
 * is unchanged by it), so a small change costs a small amount of work. The cut is then exact for the changed
 * graph; the value returned by that solve is not the max-flow value (only a solve from zero flow returns it).
 *
 * Capacities are non-negative 32-bit integers, so the result is exact (no rounding); the caller must keep the
 * sum of capacities entering or leaving any node below 2^31 and the total flow fits 64 bits. After solve the
 * source side is the set of nodes reachable from the source in the residual graph (the smallest minimum cut).
 */
#ifndef SEGAGENT_MAXFLOW_H
#define SEGAGENT_MAXFLOW_H

#include <stdint.h>

typedef struct sa__mf sa__mf;

/* NULL on out of memory or bad sizes. max_edges counts undirected edge pairs. */
sa__mf *sa__mf_new(int n_nodes, int max_edges);
void sa__mf_free(sa__mf *g);
int sa__mf_n_nodes(const sa__mf *g);

/* Adds the pair of arcs i->j (cap) and j->i (rev_cap). Returns the edge index (0, 1, ...) or -1 when full,
 * when i/j are out of range or equal, or after the first solve (the graph's shape is fixed then). */
int sa__mf_add_edge(sa__mf *g, int i, int j, int32_t cap, int32_t rev_cap);
/* Changes the capacities of edge e, keeping its flow where possible (see warm start). */
void sa__mf_set_edge(sa__mf *g, int e, int32_t cap, int32_t rev_cap);
/* Terminal capacities of node i (replacing earlier values). Only the difference matters for the cut; the
 * common part min(cs, ct) is added to the flow value. Between warm-started solves, nodes not set again keep
 * their capacities. */
void sa__mf_set_tweights(sa__mf *g, int i, int32_t cap_source, int32_t cap_sink);

int64_t sa__mf_solve(sa__mf *g);
int sa__mf_is_source(const sa__mf *g, int i);

/* Restores the edge capacities set by add/set_edge, zeroes terminal weights and the flow. */
void sa__mf_reset(sa__mf *g);

#endif
