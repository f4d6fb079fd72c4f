/* Boykov-Kolmogorov max-flow (PAMI 2004), written from the paper's description.
 *
 * Two search trees grow from the terminals (S from the source, T from the sink) through non-saturated arcs;
 * when they touch, the path is augmented; nodes whose tree arc saturates become orphans and are re-attached
 * ("adopted") to a node of the same tree that still has a path to its terminal, or freed. The trees survive
 * between augmentations, which is what makes the method fast on image grids. The distance/timestamp
 * heuristic of the paper keeps the trees shallow. All capacities are integers: the flow is exact.
 *
 * Edges are collected first; the first solve lays the arcs out node by node (compressed rows: the arcs leaving
 * node i are start[i] .. start[i+1]-1, each knowing its reverse arc), which keeps the scans of a node's arcs in
 * one or two cache lines -- on pixel grids this is most of the speed.
 */
#include "tools/maxflow.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define P_NONE (-1)     /* free node (no tree) */
#define P_TERMINAL (-2) /* tree root: connected to its terminal directly */
#define P_ORPHAN (-3)   /* lost its parent, waiting for adoption */
#define D_INF INT_MAX

typedef struct mf_node {
    int parent;     /* arc from this node to its parent, or P_* */
    int next;       /* next active node; P_NONE when not active; itself when last */
    int ts;         /* timestamp of dist */
    int dist;       /* distance to the terminal (heuristic) */
    int in_sink;    /* tree membership when parent != P_NONE */
    int64_t tr_cap; /* residual terminal capacity: > 0 to the source, < 0 to the sink */
    int64_t ex;     /* net flow into the node over grid arcs; tr_cap == cs - ct + ex always */
} mf_node;

typedef struct mf_arc {
    int head;
    int sister; /* the reverse arc */
    int32_t r_cap;
} mf_arc;

struct sa__mf {
    int n, n_arcs, max_arcs;
    int frozen; /* arcs laid out (first solve done); no more edges */
    mf_node *nodes;
    int *eu, *ev;  /* edge endpoints, as added */
    int *start;    /* n+1 (after freezing) */
    int *e2a;      /* edge -> its forward arc (after freezing) */
    mf_arc *arcs;  /* after freezing */
    int32_t *cap;  /* capacities as set: per edge pair (2e, 2e+1) before freezing, per arc after */
    int32_t *tmin; /* min(cs, ct) per node: flow that never enters the graph */
    int *
        orphan; /* ring buffer of 2n entries (a node re-rooted by a warm start may leave a stale entry) */
    int o_head, o_count;
    int q_first, q_last;
    int time;
    int64_t flow;
    int warm; /* trees of the last solve are valid and may be reused */
    uint8_t *
        changed; /* n: what changed since the last solve: CH_T terminal weights, CH_ARCS its arcs */
    int *chlist; /* n: the changed nodes */
    int n_changed;
};

sa__mf *sa__mf_new(int n_nodes, int max_edges) {
    if (n_nodes <= 0 || max_edges < 0 || max_edges > (INT_MAX - 2) / 2) return NULL;
    sa__mf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->n = n_nodes;
    g->max_arcs = 2 * max_edges;
    g->nodes = calloc((size_t)n_nodes, sizeof *g->nodes);
    size_t ma = (size_t)(g->max_arcs ? g->max_arcs : 2);
    g->arcs = malloc(ma * sizeof *g->arcs);
    g->cap = malloc(ma * sizeof *g->cap);
    g->eu = malloc(ma / 2 * sizeof *g->eu);
    g->ev = malloc(ma / 2 * sizeof *g->ev);
    g->e2a = malloc(ma / 2 * sizeof *g->e2a);
    g->start = calloc((size_t)n_nodes + 1, sizeof *g->start);
    g->changed = calloc((size_t)n_nodes, 1);
    g->chlist = malloc((size_t)n_nodes * sizeof *g->chlist);
    g->tmin = calloc((size_t)n_nodes, sizeof *g->tmin);
    g->orphan = malloc(2 * (size_t)n_nodes * sizeof *g->orphan);
    if (!g->nodes || !g->arcs || !g->cap || !g->tmin || !g->orphan || !g->eu || !g->ev || !g->e2a ||
        !g->start || !g->changed || !g->chlist) {
        sa__mf_free(g);
        return NULL;
    }
    return g;
}

void sa__mf_free(sa__mf *g) {
    if (!g) return;
    free(g->nodes);
    free(g->arcs);
    free(g->cap);
    free(g->eu);
    free(g->ev);
    free(g->e2a);
    free(g->start);
    free(g->changed);
    free(g->chlist);
    free(g->tmin);
    free(g->orphan);
    free(g);
}

int sa__mf_n_nodes(const sa__mf *g) {
    return g->n;
}

int sa__mf_add_edge(sa__mf *g, int i, int j, int32_t cap, int32_t rev_cap) {
    if (g->frozen || g->n_arcs + 2 > g->max_arcs || i < 0 || j < 0 || i >= g->n || j >= g->n ||
        i == j)
        return -1;
    int a = g->n_arcs, e = a / 2;
    g->n_arcs += 2;
    g->eu[e] = i;
    g->ev[e] = j;
    g->cap[a] = cap < 0 ? 0 : cap;
    g->cap[a + 1] = rev_cap < 0 ? 0 : rev_cap;
    g->start[i + 1]++;
    g->start[j + 1]++;
    return e;
}

static void freeze(sa__mf *g) {
    int n = g->n;
    for (int i = 0; i < n; i++)
        g->start[i + 1] += g->start[i];
    int *fill = g->orphan; /* free until the first solve */
    for (int i = 0; i < n; i++)
        fill[i] = g->start[i];
    for (int e = 0; e < g->n_arcs / 2; e++) {
        int a = fill[g->eu[e]]++, b = fill[g->ev[e]]++;
        g->arcs[a] = (mf_arc){.head = g->ev[e], .sister = b, .r_cap = g->cap[2 * e]};
        g->arcs[b] = (mf_arc){.head = g->eu[e], .sister = a, .r_cap = g->cap[2 * e + 1]};
        g->e2a[e] = a;
    }
    /* cap switches from edge order to arc order (all reads above are done) */
    for (int a = 0; a < g->n_arcs; a++)
        g->cap[a] = g->arcs[a].r_cap;
    g->frozen = 1;
}

#define CH_T 1
#define CH_ARCS 2

static void mark(sa__mf *g, int i, uint8_t what) {
    if (!g->warm) return;
    if (!g->changed[i]) g->chlist[g->n_changed++] = i;
    g->changed[i] |= what;
}

void sa__mf_set_edge(sa__mf *g, int e, int32_t cap, int32_t rev_cap) {
    if (cap < 0) cap = 0;
    if (rev_cap < 0) rev_cap = 0;
    if (!g->frozen) {
        g->cap[2 * e] = cap;
        g->cap[2 * e + 1] = rev_cap;
        return;
    }
    int a = g->e2a[e], r = g->arcs[a].sister;
    /* flow on a (tail -> head), kept as far as the new capacities allow */
    int64_t f = (int64_t)g->cap[a] - g->arcs[a].r_cap;
    int64_t nf = f > cap ? cap : f < -(int64_t)rev_cap ? -(int64_t)rev_cap : f;
    int64_t d = nf - f;
    if (d != 0) {
        mf_node *head = &g->nodes[g->arcs[a].head], *tail = &g->nodes[g->arcs[r].head];
        head->ex += d, head->tr_cap += d;
        tail->ex -= d, tail->tr_cap -= d;
    }
    g->cap[a] = cap;
    g->cap[r] = rev_cap;
    g->arcs[a].r_cap = (int32_t)(cap - nf);
    g->arcs[r].r_cap = (int32_t)(rev_cap + nf);
    mark(g, g->arcs[a].head, CH_ARCS);
    mark(g, g->arcs[r].head, CH_ARCS);
}

void sa__mf_set_tweights(sa__mf *g, int i, int32_t cs, int32_t ct) {
    if (cs < 0) cs = 0;
    if (ct < 0) ct = 0;
    int32_t m = cs < ct ? cs : ct;
    g->tmin[i] = m;
    g->nodes[i].tr_cap = (int64_t)cs - ct + g->nodes[i].ex;
    mark(g, i, CH_T);
}

void sa__mf_reset(sa__mf *g) {
    if (g->frozen)
        for (int a = 0; a < g->n_arcs; a++)
            g->arcs[a].r_cap = g->cap[a];
    for (int i = 0; i < g->n; i++) {
        g->nodes[i].tr_cap = 0;
        g->nodes[i].ex = 0;
        g->tmin[i] = 0;
        g->nodes[i].parent = P_NONE;
        g->changed[i] = 0;
    }
    g->n_changed = 0;
    g->warm = 0;
    g->flow = 0;
}

static void set_active(sa__mf *g, int i) {
    if (g->nodes[i].next != P_NONE) return;
    if (g->q_last != P_NONE)
        g->nodes[g->q_last].next = i;
    else
        g->q_first = i;
    g->q_last = i;
    g->nodes[i].next = i;
}

static int next_active(sa__mf *g) {
    while (g->q_first != P_NONE) {
        int i = g->q_first;
        int nx = g->nodes[i].next;
        g->q_first = nx == i ? P_NONE : nx;
        if (g->q_first == P_NONE) g->q_last = P_NONE;
        g->nodes[i].next = P_NONE;
        if (g->nodes[i].parent != P_NONE) return i;
    }
    return P_NONE;
}

static void push_orphan(sa__mf *g, int i) {
    g->nodes[i].parent = P_ORPHAN;
    g->orphan[(g->o_head + g->o_count) % (2 * g->n)] = i;
    g->o_count++;
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* a: arc from an S-tree node to a T-tree node. */
static void augment(sa__mf *g, int a) {
    mf_node *nd = g->nodes;
    mf_arc *ar = g->arcs;
    int64_t b = ar[a].r_cap;
    for (int x = ar[ar[a].sister].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            b = min64(b, nd[x].tr_cap);
            break;
        }
        b = min64(b, ar[ar[pa].sister].r_cap);
        x = ar[pa].head;
    }
    for (int x = ar[a].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            b = min64(b, -nd[x].tr_cap);
            break;
        }
        b = min64(b, ar[pa].r_cap);
        x = ar[pa].head;
    }
    ar[a].r_cap -= (int32_t)b;
    ar[ar[a].sister].r_cap += (int32_t)b;
    for (int x = ar[ar[a].sister].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            nd[x].tr_cap -= b;
            nd[x].ex -= b;
            if (nd[x].tr_cap == 0) push_orphan(g, x);
            break;
        }
        int ps = ar[pa].sister;
        ar[pa].r_cap += (int32_t)b;
        ar[ps].r_cap -= (int32_t)b;
        int up = ar[pa].head;
        if (ar[ps].r_cap == 0) push_orphan(g, x);
        x = up;
    }
    for (int x = ar[a].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            nd[x].tr_cap += b;
            nd[x].ex += b;
            if (nd[x].tr_cap == 0) push_orphan(g, x);
            break;
        }
        ar[ar[pa].sister].r_cap += (int32_t)b;
        ar[pa].r_cap -= (int32_t)b;
        int up = ar[pa].head;
        if (ar[pa].r_cap == 0) push_orphan(g, x);
        x = up;
    }
    g->flow += b;
}

static void adopt(sa__mf *g, int x) {
    mf_node *nd = g->nodes;
    mf_arc *ar = g->arcs;
    const int sink = nd[x].in_sink;
    int best = P_NONE, dmin = D_INF;
    const int a_end = g->start[x + 1];
    for (int a0 = g->start[x]; a0 < a_end; a0++) {
        if (!(sink ? ar[a0].r_cap : ar[ar[a0].sister].r_cap)) continue;
        int j = ar[a0].head;
        if (nd[j].parent == P_NONE || nd[j].in_sink != sink) continue;
        int d = 0;
        for (int y = j;;) {
            if (nd[y].ts == g->time) {
                d += nd[y].dist;
                break;
            }
            int pa = nd[y].parent;
            d++;
            if (pa == P_TERMINAL) {
                nd[y].ts = g->time;
                nd[y].dist = 1;
                break;
            }
            if (pa == P_ORPHAN || pa == P_NONE) {
                d = D_INF;
                break;
            }
            y = ar[pa].head;
        }
        if (d == D_INF) continue;
        if (d < dmin) {
            best = a0;
            dmin = d;
        }
        for (int y = j; nd[y].ts != g->time; y = ar[nd[y].parent].head) {
            nd[y].ts = g->time;
            nd[y].dist = d--;
        }
    }
    if (best != P_NONE) {
        nd[x].parent = best;
        nd[x].ts = g->time;
        nd[x].dist = dmin + 1;
        return;
    }
    for (int a0 = g->start[x]; a0 < a_end; a0++) {
        int j = ar[a0].head;
        int pa = nd[j].parent;
        if (pa == P_NONE || nd[j].in_sink != sink) continue;
        if (sink ? ar[a0].r_cap : ar[ar[a0].sister].r_cap) set_active(g, j);
        if (pa >= 0 && ar[pa].head == x) push_orphan(g, j);
    }
    nd[x].parent = P_NONE;
}

static void process_orphans(sa__mf *g) {
    while (g->o_count > 0) {
        int x = g->orphan[g->o_head];
        g->o_head = (g->o_head + 1) % (2 * g->n);
        g->o_count--;
        if (g->nodes[x].parent == P_ORPHAN) adopt(g, x); /* it may have become a root meanwhile */
    }
}

/* Makes node i a root of the tree its terminal residual points to. */
static void make_root(sa__mf *g, int i) {
    mf_node *nd = g->nodes;
    const int sink = nd[i].tr_cap < 0;
    if (nd[i].parent != P_NONE && nd[i].in_sink != sink) {
        /* i leaves its tree: as when a node is freed, its children become orphans and the tree's nodes that
         * reach it through residual arcs must look at it again */
        const int old = nd[i].in_sink;
        for (int a = g->start[i], a_end = g->start[i + 1]; a < a_end; a++) {
            int j = g->arcs[a].head, sa = g->arcs[a].sister;
            if (nd[j].parent == P_NONE || nd[j].in_sink != old) continue;
            if (old ? g->arcs[a].r_cap : g->arcs[sa].r_cap) set_active(g, j);
            if (nd[j].parent == sa) push_orphan(g, j);
        }
    }
    nd[i].in_sink = sink;
    nd[i].parent = P_TERMINAL;
    nd[i].ts = g->time;
    nd[i].dist = 1;
    set_active(g, i);
}

/* Warm start with the trees of the last solve (Kohli-Torr style): only nodes whose capacities changed are
 * revisited. Invariant kept: a node with tr_cap > 0 is a source-tree root, tr_cap < 0 a sink-tree root, and
 * every tree arc has residual capacity towards its node. */
static void reuse_trees(sa__mf *g) {
    mf_node *nd = g->nodes;
    mf_arc *ar = g->arcs;
    g->time++; /* distances verified in the last solve may be stale now */
    for (int k = 0; k < g->n_changed; k++) {
        int i = g->chlist[k];
        int pa = nd[i].parent;
        const int arcs = g->changed[i] & CH_ARCS;
        if (nd[i].tr_cap != 0) {
            /* only its terminal weight changed and it is still a root of the same tree: the trees and every
             * residual arc are as the last solve left them (no contact between the trees), nothing to rescan */
            if (!arcs && pa == P_TERMINAL && nd[i].in_sink == (nd[i].tr_cap < 0)) continue;
            make_root(g,
                      i); /* an orphan leaves its queue this way: it is skipped there once rooted */
            continue;
        }
        if (pa == P_NONE) continue;
        /* a node below a tree arc had tr_cap 0 before (only roots carry terminal residuals) and still has: with
         * its arcs unchanged, nothing changed for it */
        if (!arcs && pa >= 0) continue;
        /* its arcs changed: scan them again (an orphan is skipped by the queue unless it is adopted) */
        set_active(g, i);
        if (pa == P_ORPHAN) continue;
        if (pa == P_TERMINAL || !(nd[i].in_sink ? ar[pa].r_cap > 0 : ar[ar[pa].sister].r_cap > 0))
            push_orphan(g, i);
    }
}

int64_t sa__mf_solve(sa__mf *g) {
    if (!g->frozen) freeze(g);
    mf_node *nd = g->nodes;
    mf_arc *ar = g->arcs;
    g->q_first = g->q_last = P_NONE;
    g->o_head = g->o_count = 0;
    if (g->warm && g->time < (1 << 30)) {
        reuse_trees(g);
    } else {
        g->time = 0;
        g->flow = 0;
        for (int i = 0; i < g->n; i++) {
            g->flow += g->tmin[i];
            nd[i].next = P_NONE;
            nd[i].ts = 0;
            nd[i].dist = 0;
            if (nd[i].tr_cap != 0) {
                nd[i].in_sink = nd[i].tr_cap < 0;
                nd[i].parent = P_TERMINAL;
                nd[i].dist = 1;
                set_active(g, i);
            } else {
                nd[i].parent = P_NONE;
            }
        }
    }
    for (int k = 0; k < g->n_changed; k++)
        g->changed[g->chlist[k]] = 0;
    g->n_changed = 0;
    g->warm = 1;
    process_orphans(g);
    int cur = P_NONE;
    for (;;) {
        int i = cur;
        if (i != P_NONE) {
            nd[i].next = P_NONE;
            if (nd[i].parent == P_NONE) i = P_NONE;
        }
        if (i == P_NONE) {
            i = next_active(g);
            if (i == P_NONE) break;
        }
        int found = P_NONE;
        if (!nd[i].in_sink) {
            for (int a = g->start[i], a_end = g->start[i + 1]; a < a_end; a++) {
                if (!ar[a].r_cap) continue;
                int j = ar[a].head;
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 0;
                    nd[j].parent = ar[a].sister;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (nd[j].in_sink) {
                    found = a;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = ar[a].sister;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                }
            }
        } else {
            for (int a = g->start[i], a_end = g->start[i + 1]; a < a_end; a++) {
                int sa = ar[a].sister;
                if (!ar[sa].r_cap) continue;
                int j = ar[a].head;
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 1;
                    nd[j].parent = sa;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (!nd[j].in_sink) {
                    found = sa;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = sa;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                }
            }
        }
        g->time++;
        if (found == P_NONE) {
            cur = P_NONE;
            continue;
        }
        nd[i].next =
            i; /* keep i current: it is not re-queued while its arcs are being scanned again */
        cur = i;
        augment(g, found);
        process_orphans(g);
    }
    return g->flow;
}

int sa__mf_is_source(const sa__mf *g, int i) {
    return g->nodes[i].parent != P_NONE && !g->nodes[i].in_sink;
}
