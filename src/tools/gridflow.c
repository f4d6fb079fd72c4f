/* Boykov-Kolmogorov max-flow on an 8-connected grid (see gridflow.h). The algorithm, its warm start and its
 * invariants are those of maxflow.c, line for line; only the storage differs:
 * - the grid is padded with a one-pixel frame of nodes that never carry capacity, so a neighbour is always
 *   i + off[k] and no scan needs a bounds test;
 * - direction k's reverse is 7 - k, so the sister arc of (i, k) is (i + off[k], 7 - k);
 * - a tree parent is a direction (int8), and the node's residual capacities sit in its own cache line.
 */
#include "tools/gridflow.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define P_NONE (-1)
#define P_TERMINAL (-2)
#define P_ORPHAN (-3)
#define D_INF INT_MAX
#define CH_T 1
#define CH_ARCS 2

/* One cache line per node. */
typedef struct gf_node {
    int32_t rc[8];  /* residual capacity of the arc to neighbour k */
    int64_t tr_cap; /* residual terminal capacity: > 0 to the source, < 0 to the sink */
    int64_t ex;     /* flow bookkeeping: tr_cap == cs - ct + ex always (as in maxflow.c) */
    int32_t next;   /* next active node; P_NONE when not active; itself when last */
    int32_t ts;     /* timestamp of dist */
    int32_t dist;   /* distance to the terminal (heuristic) */
    int8_t parent;  /* direction of the arc to the parent, or P_* */
    uint8_t in_sink;
    uint8_t changed; /* CH_* since the last solve */
    uint8_t pad;
} gf_node;

_Static_assert(sizeof(gf_node) == 64, "a node fills one cache line");

struct sa__gf {
    int w, h, pw; /* pw = w + 2: padded row */
    int n;        /* padded node count */
    int off[8];   /* neighbour offsets; off[7 - k] == -off[k] */
    gf_node *nodes;
    int32_t *cap;  /* 8 per node: capacities as set */
    int32_t *tmin; /* per node: min(cs, ct) */
    int *orphan;   /* ring of 2n entries */
    int o_head, o_count;
    int q_first, q_last;
    int time;
    int64_t flow;
    int warm;
    int *chlist;
    int n_changed;
};

/* direction of the forward edge kinds of gridflow.h: right, down, down-right, down-left */
static const int fwd_dir[4] = {0, 2, 3, 1};
/* directions: 0 (+1,0) 1 (-1,+1) 2 (0,+1) 3 (+1,+1) | 4 (-1,-1) 5 (0,-1) 6 (+1,-1) 7 (-1,0) */
static const int dir_dx[8] = {1, -1, 0, 1, -1, 0, 1, -1}, dir_dy[8] = {0, 1, 1, 1, -1, -1, -1, 0};

static int pad_index(const sa__gf *g, int p) {
    return (p / g->w + 1) * g->pw + p % g->w + 1;
}

sa__gf *sa__gf_new(int w, int h) {
    if (w < 1 || h < 1 || (int64_t)(w + 2) * (h + 2) >= (1 << 28)) return NULL;
    sa__gf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->w = w, g->h = h, g->pw = w + 2;
    g->n = (w + 2) * (h + 2);
    for (int k = 0; k < 8; k++)
        g->off[k] = dir_dy[k] * g->pw + dir_dx[k];
    g->nodes = aligned_alloc(64, (size_t)g->n * sizeof *g->nodes);
    g->cap = calloc((size_t)g->n * 8, sizeof *g->cap);
    g->tmin = calloc((size_t)g->n, sizeof *g->tmin);
    g->orphan = malloc(2 * (size_t)g->n * sizeof *g->orphan);
    g->chlist = malloc((size_t)g->n * sizeof *g->chlist);
    if (!g->nodes || !g->cap || !g->tmin || !g->orphan || !g->chlist) {
        sa__gf_free(g);
        return NULL;
    }
    memset(g->nodes, 0, (size_t)g->n * sizeof *g->nodes);
    for (int i = 0; i < g->n; i++) {
        g->nodes[i].parent = P_NONE;
        g->nodes[i].next = P_NONE;
    }
    return g;
}

void sa__gf_free(sa__gf *g) {
    if (!g) return;
    free(g->nodes);
    free(g->cap);
    free(g->tmin);
    free(g->orphan);
    free(g->chlist);
    free(g);
}

int sa__gf_edge(const sa__gf *g, int x, int y, int k) {
    if (k < 0 || k > 3 || x < 0 || y < 0 || x >= g->w || y >= g->h) return -1;
    int d = fwd_dir[k], xx = x + dir_dx[d], yy = y + dir_dy[d];
    if (xx < 0 || xx >= g->w || yy >= g->h) return -1;
    return 4 * (y * g->w + x) + k;
}

static void mark(sa__gf *g, int i, uint8_t what) {
    if (!g->warm) return;
    if (!g->nodes[i].changed) g->chlist[g->n_changed++] = i;
    g->nodes[i].changed |= what;
}

void sa__gf_set_edge(sa__gf *g, int e, int32_t cap, int32_t rev_cap) {
    if (cap < 0) cap = 0;
    if (rev_cap < 0) rev_cap = 0;
    const int i = pad_index(g, e / 4), k = fwd_dir[e % 4], j = i + g->off[k];
    gf_node *a = &g->nodes[i], *b = &g->nodes[j];
    int32_t *ca = &g->cap[8 * (size_t)i + k], *cb = &g->cap[8 * (size_t)j + 7 - k];
    /* flow on i -> j, kept as far as the new capacities allow */
    int64_t f = (int64_t)*ca - a->rc[k];
    int64_t nf = f > cap ? cap : f < -(int64_t)rev_cap ? -(int64_t)rev_cap : f;
    int64_t d = nf - f;
    if (d != 0) {
        b->ex += d, b->tr_cap += d;
        a->ex -= d, a->tr_cap -= d;
    }
    *ca = cap;
    *cb = rev_cap;
    a->rc[k] = (int32_t)(cap - nf);
    b->rc[7 - k] = (int32_t)(rev_cap + nf);
    mark(g, i, CH_ARCS);
    mark(g, j, CH_ARCS);
}

void sa__gf_set_tweights(sa__gf *g, int p, int32_t cs, int32_t ct) {
    if (cs < 0) cs = 0;
    if (ct < 0) ct = 0;
    const int i = pad_index(g, p);
    g->tmin[i] = cs < ct ? cs : ct;
    g->nodes[i].tr_cap = (int64_t)cs - ct + g->nodes[i].ex;
    mark(g, i, CH_T);
}

void sa__gf_set_tdiff(sa__gf *g, const int32_t *diff) {
    const int w = g->w, h = g->h;
    for (int y = 0; y < h; y++) {
        const int32_t *row = diff + (size_t)y * w;
        const int base = (y + 1) * g->pw + 1;
        for (int x = 0; x < w; x++) {
            const int i = base + x;
            gf_node *nd = &g->nodes[i];
            if (nd->tr_cap - nd->ex == row[x] && g->tmin[i] == 0) continue;
            g->tmin[i] = 0;
            nd->tr_cap = (int64_t)row[x] + nd->ex;
            mark(g, i, CH_T);
        }
    }
}

void sa__gf_source_mask(const sa__gf *g, uint8_t *out) {
    const int w = g->w, h = g->h;
    for (int y = 0; y < h; y++) {
        const gf_node *nd = &g->nodes[(y + 1) * g->pw + 1];
        uint8_t *row = out + (size_t)y * w;
        for (int x = 0; x < w; x++)
            row[x] = nd[x].parent != P_NONE && !nd[x].in_sink;
    }
}

void sa__gf_reset(sa__gf *g) {
    for (int i = 0; i < g->n; i++) {
        gf_node *nd = &g->nodes[i];
        memcpy(nd->rc, &g->cap[8 * (size_t)i], sizeof nd->rc);
        nd->tr_cap = 0;
        nd->ex = 0;
        nd->parent = P_NONE;
        nd->changed = 0;
        g->tmin[i] = 0;
    }
    g->n_changed = 0;
    g->warm = 0;
    g->flow = 0;
}

static void set_active(sa__gf *g, int i) {
    gf_node *nd = g->nodes;
    if (nd[i].next != P_NONE) return;
    if (g->q_last != P_NONE)
        nd[g->q_last].next = i;
    else
        g->q_first = i;
    g->q_last = i;
    nd[i].next = i;
}

static int next_active(sa__gf *g) {
    gf_node *nd = g->nodes;
    while (g->q_first != P_NONE) {
        int i = g->q_first;
        int nx = nd[i].next;
        g->q_first = nx == i ? P_NONE : nx;
        if (g->q_first == P_NONE) g->q_last = P_NONE;
        nd[i].next = P_NONE;
        if (nd[i].parent != P_NONE) return i;
    }
    return P_NONE;
}

/* An orphan made by an augmentation goes to the front of the queue (Kolmogorov's order: the orphans of one
 * path are adopted top-down), the others to the back. */
static void push_orphan_front(sa__gf *g, int i) {
    g->nodes[i].parent = P_ORPHAN;
    if (--g->o_head < 0) g->o_head += 2 * g->n;
    g->orphan[g->o_head] = i;
    g->o_count++;
}

static void push_orphan(sa__gf *g, int i) {
    g->nodes[i].parent = P_ORPHAN;
    int at = g->o_head + g->o_count;
    if (at >= 2 * g->n) at -= 2 * g->n;
    g->orphan[at] = i;
    g->o_count++;
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* The arc (s, k) joins a source-tree node s to a sink-tree node. */
static void augment(sa__gf *g, int s, int k) {
    gf_node *nd = g->nodes;
    const int *off = g->off;
    const int t = s + off[k];
    int64_t b = nd[s].rc[k];
    for (int x = s;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            b = min64(b, nd[x].tr_cap);
            break;
        }
        int up = x + off[pa];
        b = min64(b, nd[up].rc[7 - pa]);
        x = up;
    }
    for (int x = t;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            b = min64(b, -nd[x].tr_cap);
            break;
        }
        b = min64(b, nd[x].rc[pa]);
        x += off[pa];
    }
    nd[s].rc[k] -= (int32_t)b;
    nd[t].rc[7 - k] += (int32_t)b;
    for (int x = s;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            nd[x].tr_cap -= b;
            nd[x].ex -= b;
            if (nd[x].tr_cap == 0) push_orphan_front(g, x);
            break;
        }
        int up = x + off[pa];
        nd[x].rc[pa] += (int32_t)b;
        nd[up].rc[7 - pa] -= (int32_t)b;
        if (nd[up].rc[7 - pa] == 0) push_orphan_front(g, x);
        x = up;
    }
    for (int x = t;;) {
        int pa = nd[x].parent;
        if (pa == P_TERMINAL) {
            nd[x].tr_cap += b;
            nd[x].ex += b;
            if (nd[x].tr_cap == 0) push_orphan_front(g, x);
            break;
        }
        int up = x + off[pa];
        nd[up].rc[7 - pa] += (int32_t)b;
        nd[x].rc[pa] -= (int32_t)b;
        if (nd[x].rc[pa] == 0) push_orphan_front(g, x);
        x = up;
    }
    g->flow += b;
}

static void adopt(sa__gf *g, int x) {
    gf_node *nd = g->nodes;
    const int *off = g->off;
    const int sink = nd[x].in_sink;
    int best = P_NONE, dmin = D_INF;
    for (int k = 0; k < 8; k++) {
        int j = x + off[k];
        if (!(sink ? nd[x].rc[k] : nd[j].rc[7 - k])) continue;
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
            y += off[pa];
        }
        if (d == D_INF) continue;
        if (d < dmin) {
            best = k;
            dmin = d;
        }
        for (int y = j; nd[y].ts != g->time; y += off[nd[y].parent]) {
            nd[y].ts = g->time;
            nd[y].dist = d--;
        }
        if (dmin == 1) break; /* a root: no candidate can be nearer (and ties keep the first) */
    }
    if (best != P_NONE) {
        nd[x].parent = (int8_t)best;
        nd[x].ts = g->time;
        nd[x].dist = dmin + 1;
        return;
    }
    for (int k = 0; k < 8; k++) {
        int j = x + off[k];
        int pa = nd[j].parent;
        if (pa == P_NONE || nd[j].in_sink != sink) continue;
        if (sink ? nd[x].rc[k] : nd[j].rc[7 - k]) set_active(g, j);
        if (pa == 7 - k) push_orphan(g, j);
    }
    nd[x].parent = P_NONE;
}

static void process_orphans(sa__gf *g) {
    while (g->o_count > 0) {
        int x = g->orphan[g->o_head];
        if (++g->o_head == 2 * g->n) g->o_head = 0;
        g->o_count--;
        if (g->nodes[x].parent == P_ORPHAN) adopt(g, x);
    }
}

/* Makes node i a root of the tree its terminal residual points to. It must be scanned again (made active) when
 * it was free, changes trees or had its arcs changed; a node that stays in its tree with the same arcs keeps
 * the property every passive tree node has after a solve (its residual arcs lead into its own tree). */
static void make_root(sa__gf *g, int i, int arcs_changed) {
    gf_node *nd = g->nodes;
    const int sink = nd[i].tr_cap < 0;
    int scan = arcs_changed || nd[i].parent == P_NONE;
    if (nd[i].parent != P_NONE && nd[i].in_sink != sink) {
        scan = 1;
        const int old = nd[i].in_sink;
        for (int k = 0; k < 8; k++) {
            int j = i + g->off[k];
            if (nd[j].parent == P_NONE || nd[j].in_sink != old) continue;
            if (old ? nd[i].rc[k] : nd[j].rc[7 - k]) set_active(g, j);
            if (nd[j].parent == 7 - k) push_orphan(g, j);
        }
    }
    nd[i].in_sink = (uint8_t)sink;
    nd[i].parent = P_TERMINAL;
    nd[i].ts = g->time;
    nd[i].dist = 1;
    if (scan) set_active(g, i);
}

/* Greedy pre-flow: a node with source excess next to a node with sink excess sends flow straight across the
 * arc joining them (the path source -> i -> j -> sink). Any flow is a valid start for the exact solve; this
 * one spares the search trees most of the length-one paths, whose augmentations leave roots without terminal
 * capacity that must then be adopted. Warm: only the nodes in the change list send (their neighbours may be
 * any), and both ends are marked as having changed arcs so the tree reuse treats them as set_edge would. */
static void push_short_paths(sa__gf *g, int warm) {
    gf_node *nd = g->nodes;
    const int *off = g->off;
    const int n = warm ? g->n_changed : g->n;
    for (int c = 0; c < n; c++) {
        const int i = warm ? g->chlist[c] : c;
        if (nd[i].tr_cap <= 0) continue;
        for (int k = 0; k < 8 && nd[i].tr_cap > 0; k++) {
            const int j = i + off[k];
            if (nd[j].tr_cap >= 0 || nd[i].rc[k] == 0) continue;
            int64_t b = min64(min64(nd[i].tr_cap, -nd[j].tr_cap), nd[i].rc[k]);
            nd[i].rc[k] -= (int32_t)b;
            nd[j].rc[7 - k] += (int32_t)b;
            nd[i].tr_cap -= b, nd[i].ex -= b;
            nd[j].tr_cap += b, nd[j].ex += b;
            g->flow += b;
            if (warm) {
                mark(g, i, CH_ARCS);
                mark(g, j, CH_ARCS);
            }
        }
    }
}

static void reuse_trees(sa__gf *g) {
    gf_node *nd = g->nodes;
    g->time++;
    for (int c = 0; c < g->n_changed; c++) {
        int i = g->chlist[c];
        int pa = nd[i].parent;
        const int arcs = nd[i].changed & CH_ARCS;
        if (nd[i].tr_cap != 0) {
            if (!arcs && pa == P_TERMINAL && nd[i].in_sink == (nd[i].tr_cap < 0)) continue;
            make_root(g, i, arcs);
            continue;
        }
        if (pa == P_NONE) continue;
        if (!arcs && pa >= 0) continue;
        set_active(g, i);
        if (pa == P_ORPHAN) continue;
        if (pa == P_TERMINAL ||
            !(nd[i].in_sink ? nd[i].rc[pa] > 0 : nd[i + g->off[pa]].rc[7 - pa] > 0))
            push_orphan(g, i);
    }
}

int64_t sa__gf_solve(sa__gf *g) {
    gf_node *nd = g->nodes;
    const int *off = g->off;
    g->q_first = g->q_last = P_NONE;
    g->o_head = g->o_count = 0;
    if (g->warm && g->time < (1 << 30)) {
        push_short_paths(g, 1);
        reuse_trees(g);
    } else {
        g->time = 0;
        g->flow = 0;
        push_short_paths(g, 0);
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
    for (int c = 0; c < g->n_changed; c++)
        nd[g->chlist[c]].changed = 0;
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
        int fs = P_NONE, fk = 0; /* the arc found from the source tree to the sink tree */
        if (!nd[i].in_sink) {
            for (int k = 0; k < 8; k++) {
                if (!nd[i].rc[k]) continue;
                int j = i + off[k];
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 0;
                    nd[j].parent = (int8_t)(7 - k);
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (nd[j].in_sink) {
                    fs = i, fk = k;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = (int8_t)(7 - k);
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                }
            }
        } else {
            for (int k = 0; k < 8; k++) {
                int j = i + off[k];
                if (!nd[j].rc[7 - k]) continue;
                if (nd[j].parent == P_NONE) {
                    nd[j].in_sink = 1;
                    nd[j].parent = (int8_t)(7 - k);
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                    set_active(g, j);
                } else if (!nd[j].in_sink) {
                    fs = j, fk = 7 - k;
                    break;
                } else if (nd[j].ts <= nd[i].ts && nd[j].dist > nd[i].dist) {
                    nd[j].parent = (int8_t)(7 - k);
                    nd[j].ts = nd[i].ts;
                    nd[j].dist = nd[i].dist + 1;
                }
            }
        }
        g->time++;
        if (fs == P_NONE) {
            cur = P_NONE;
            continue;
        }
        nd[i].next = i; /* keep i current: it is not re-queued while its arcs are scanned again */
        cur = i;
        augment(g, fs, fk);
        process_orphans(g);
    }
    return g->flow;
}

int sa__gf_is_source(const sa__gf *g, int p) {
    const gf_node *nd = &g->nodes[pad_index(g, p)];
    return nd->parent != P_NONE && !nd->in_sink;
}
