/* Boykov-Kolmogorov max-flow (PAMI 2004), written from the paper's description.
 *
 * Two search trees grow from the terminals (S from the source, T from the sink) through non-saturated arcs;
 * when they touch, the path is augmented; nodes whose tree arc saturates become orphans and are re-attached
 * ("adopted") to a node of the same tree that still has a path to its terminal, or freed. The trees survive
 * between augmentations, which is what makes the method fast on image grids. The distance/timestamp
 * heuristic of the paper keeps the trees shallow. All capacities are integers: the flow is exact.
 *
 * Arcs are stored in pairs (a, a^1 is its reverse); each node keeps a singly linked list of its outgoing arcs.
 */
#include "maxflow.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define P_NONE (-1)     /* free node (no tree) */
#define P_TERMINAL (-2) /* tree root: connected to its terminal directly */
#define P_ORPHAN (-3)   /* lost its parent, waiting for adoption */
#define D_INF INT_MAX

typedef struct mf_node {
    int first;      /* first outgoing arc, -1 none */
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
    int next; /* next arc of the same tail */
    int32_t r_cap;
} mf_arc;

struct sa__mf {
    int n, n_arcs, max_arcs;
    mf_node *nodes;
    mf_arc *arcs;
    int32_t *cap;  /* capacities as set, for reset */
    int32_t *tmin; /* min(cs, ct) per node: flow that never enters the graph */
    int *orphan;   /* ring buffer of n entries */
    int o_head, o_count;
    int q_first, q_last;
    int time;
    int64_t flow;
};

sa__mf *sa__mf_new(int n_nodes, int max_edges) {
    if (n_nodes <= 0 || max_edges < 0 || max_edges > (INT_MAX - 2) / 2) return NULL;
    sa__mf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->n = n_nodes;
    g->max_arcs = 2 * max_edges;
    g->nodes = calloc((size_t)n_nodes, sizeof *g->nodes);
    g->arcs = malloc((size_t)(g->max_arcs ? g->max_arcs : 1) * sizeof *g->arcs);
    g->cap = malloc((size_t)(g->max_arcs ? g->max_arcs : 1) * sizeof *g->cap);
    g->tmin = calloc((size_t)n_nodes, sizeof *g->tmin);
    g->orphan = malloc((size_t)n_nodes * sizeof *g->orphan);
    if (!g->nodes || !g->arcs || !g->cap || !g->tmin || !g->orphan) {
        sa__mf_free(g);
        return NULL;
    }
    for (int i = 0; i < n_nodes; i++) g->nodes[i].first = -1;
    return g;
}

void sa__mf_free(sa__mf *g) {
    if (!g) return;
    free(g->nodes);
    free(g->arcs);
    free(g->cap);
    free(g->tmin);
    free(g->orphan);
    free(g);
}

int sa__mf_n_nodes(const sa__mf *g) {
    return g->n;
}

int sa__mf_add_edge(sa__mf *g, int i, int j, int32_t cap, int32_t rev_cap) {
    if (g->n_arcs + 2 > g->max_arcs || i < 0 || j < 0 || i >= g->n || j >= g->n || i == j) return -1;
    int a = g->n_arcs;
    g->n_arcs += 2;
    g->arcs[a].head = j;
    g->arcs[a].next = g->nodes[i].first;
    g->nodes[i].first = a;
    g->arcs[a + 1].head = i;
    g->arcs[a + 1].next = g->nodes[j].first;
    g->nodes[j].first = a + 1;
    g->cap[a] = g->arcs[a].r_cap = cap < 0 ? 0 : cap;
    g->cap[a + 1] = g->arcs[a + 1].r_cap = rev_cap < 0 ? 0 : rev_cap;
    return a / 2;
}

void sa__mf_set_edge(sa__mf *g, int e, int32_t cap, int32_t rev_cap) {
    int a = 2 * e;
    if (cap < 0) cap = 0;
    if (rev_cap < 0) rev_cap = 0;
    /* flow on a (tail -> head), kept as far as the new capacities allow */
    int64_t f = (int64_t)g->cap[a] - g->arcs[a].r_cap;
    int64_t nf = f > cap ? cap : f < -(int64_t)rev_cap ? -(int64_t)rev_cap : f;
    int64_t d = nf - f;
    if (d != 0) {
        mf_node *head = &g->nodes[g->arcs[a].head], *tail = &g->nodes[g->arcs[a + 1].head];
        head->ex += d, head->tr_cap += d;
        tail->ex -= d, tail->tr_cap -= d;
    }
    g->cap[a] = cap;
    g->cap[a + 1] = rev_cap;
    g->arcs[a].r_cap = (int32_t)(cap - nf);
    g->arcs[a + 1].r_cap = (int32_t)(rev_cap + nf);
}

void sa__mf_set_tweights(sa__mf *g, int i, int32_t cs, int32_t ct) {
    if (cs < 0) cs = 0;
    if (ct < 0) ct = 0;
    int32_t m = cs < ct ? cs : ct;
    g->tmin[i] = m;
    g->nodes[i].tr_cap = (int64_t)cs - ct + g->nodes[i].ex;
}

void sa__mf_reset(sa__mf *g) {
    for (int a = 0; a < g->n_arcs; a++) g->arcs[a].r_cap = g->cap[a];
    for (int i = 0; i < g->n; i++) {
        g->nodes[i].tr_cap = 0;
        g->nodes[i].ex = 0;
        g->tmin[i] = 0;
        g->nodes[i].parent = P_NONE;
    }
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
    g->orphan[(g->o_head + g->o_count) % g->n] = i;
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
    for (int x = ar[a ^ 1].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            b = min64(b, nd[x].tr_cap);
            break;
        }
        b = min64(b, ar[pa ^ 1].r_cap);
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
    ar[a ^ 1].r_cap += (int32_t)b;
    for (int x = ar[a ^ 1].head;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            nd[x].tr_cap -= b;
            nd[x].ex -= b;
            if (nd[x].tr_cap == 0) push_orphan(g, x);
            break;
        }
        ar[pa].r_cap += (int32_t)b;
        ar[pa ^ 1].r_cap -= (int32_t)b;
        int up = ar[pa].head;
        if (ar[pa ^ 1].r_cap == 0) push_orphan(g, x);
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
        ar[pa ^ 1].r_cap += (int32_t)b;
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
    for (int a0 = nd[x].first; a0 >= 0; a0 = ar[a0].next) {
        if (!(sink ? ar[a0].r_cap : ar[a0 ^ 1].r_cap)) continue;
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
    for (int a0 = nd[x].first; a0 >= 0; a0 = ar[a0].next) {
        int j = ar[a0].head;
        int pa = nd[j].parent;
        if (pa == P_NONE || nd[j].in_sink != sink) continue;
        if (sink ? ar[a0].r_cap : ar[a0 ^ 1].r_cap) set_active(g, j);
        if (pa >= 0 && ar[pa].head == x) push_orphan(g, j);
    }
    nd[x].parent = P_NONE;
}

int64_t sa__mf_solve(sa__mf *g) {
    mf_node *nd = g->nodes;
    mf_arc *ar = g->arcs;
    g->q_first = g->q_last = P_NONE;
    g->o_head = g->o_count = 0;
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
            for (int a = nd[i].first; a >= 0; a = ar[a].next) {
                if (!ar[a].r_cap) continue;
                int j = ar[a].head;
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 0;
                    nd[j].parent = a ^ 1;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (nd[j].in_sink) {
                    found = a;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = a ^ 1;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                }
            }
        } else {
            for (int a = nd[i].first; a >= 0; a = ar[a].next) {
                if (!ar[a ^ 1].r_cap) continue;
                int j = ar[a].head;
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 1;
                    nd[j].parent = a ^ 1;
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (!nd[j].in_sink) {
                    found = a ^ 1;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = a ^ 1;
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
        nd[i].next = i; /* keep i current: it is not re-queued while its arcs are being scanned again */
        cur = i;
        augment(g, found);
        while (g->o_count > 0) {
            int x = g->orphan[g->o_head];
            g->o_head = (g->o_head + 1) % g->n;
            g->o_count--;
            adopt(g, x);
        }
    }
    return g->flow;
}

int sa__mf_is_source(const sa__mf *g, int i) {
    return g->nodes[i].parent != P_NONE && !g->nodes[i].in_sink;
}
