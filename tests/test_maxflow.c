/* Max-flow exactness: the Boykov-Kolmogorov solver against a plain Dinic reference on random graphs (sparse,
 * dense, grids, with terminal weights on both sides), and the returned partition is checked to be a cut whose
 * capacity equals the flow (so it is a minimum cut). Also covers reset/reuse and changed edge capacities, and
 * the grid solver (gridflow.h) against this one: same flow, same partition, cold and warm-started. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/gridflow.h"
#include "tools/maxflow.h"
#include "testutil.h"

/* ---- reference: Dinic on an explicit graph with node 0 = source, 1 = sink ---- */
typedef struct {
    int n, m, cap_m;
    int *to, *next, *head;
    int64_t *cap;
    int *level, *it, *queue;
} dinic;

static void dn_init(dinic *d, int n, int max_edges) {
    d->n = n;
    d->m = 0;
    d->cap_m = 2 * max_edges;
    d->to = malloc(sizeof(int) * (size_t)d->cap_m);
    d->next = malloc(sizeof(int) * (size_t)d->cap_m);
    d->cap = malloc(sizeof(int64_t) * (size_t)d->cap_m);
    d->head = malloc(sizeof(int) * (size_t)n);
    d->level = malloc(sizeof(int) * (size_t)n);
    d->it = malloc(sizeof(int) * (size_t)n);
    d->queue = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        d->head[i] = -1;
}

static void dn_free(dinic *d) {
    free(d->to);
    free(d->next);
    free(d->cap);
    free(d->head);
    free(d->level);
    free(d->it);
    free(d->queue);
}

static void dn_edge(dinic *d, int u, int v, int64_t c, int64_t rc) {
    d->to[d->m] = v, d->cap[d->m] = c, d->next[d->m] = d->head[u], d->head[u] = d->m++;
    d->to[d->m] = u, d->cap[d->m] = rc, d->next[d->m] = d->head[v], d->head[v] = d->m++;
}

static int dn_bfs(dinic *d) {
    for (int i = 0; i < d->n; i++)
        d->level[i] = -1;
    int qh = 0, qt = 0;
    d->queue[qt++] = 0;
    d->level[0] = 0;
    while (qh < qt) {
        int u = d->queue[qh++];
        for (int e = d->head[u]; e >= 0; e = d->next[e])
            if (d->cap[e] > 0 && d->level[d->to[e]] < 0) {
                d->level[d->to[e]] = d->level[u] + 1;
                d->queue[qt++] = d->to[e];
            }
    }
    return d->level[1] >= 0;
}

static int64_t dn_dfs(dinic *d, int u, int64_t f) {
    if (u == 1) return f;
    for (; d->it[u] >= 0; d->it[u] = d->next[d->it[u]]) {
        int e = d->it[u], v = d->to[e];
        if (d->cap[e] > 0 && d->level[v] == d->level[u] + 1) {
            int64_t got = dn_dfs(d, v, f < d->cap[e] ? f : d->cap[e]);
            if (got > 0) {
                d->cap[e] -= got;
                d->cap[e ^ 1] += got;
                return got;
            }
        }
    }
    return 0;
}

static int64_t dn_maxflow(dinic *d) {
    int64_t flow = 0;
    while (dn_bfs(d)) {
        for (int i = 0; i < d->n; i++)
            d->it[i] = d->head[i];
        int64_t f;
        while ((f = dn_dfs(d, 0, INT64_MAX)) > 0)
            flow += f;
    }
    return flow;
}

/* ---- random problem ---- */
typedef struct {
    int n, m;
    int *eu, *ev;
    int32_t *ec, *erc;
    int32_t *cs, *ct;
} problem;

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void make_problem(problem *p, int n, int m, int maxcap, int grid_w) {
    p->n = n;
    p->eu = malloc(sizeof(int) * (size_t)(m + 4 * n));
    p->ev = malloc(sizeof(int) * (size_t)(m + 4 * n));
    p->ec = malloc(sizeof(int32_t) * (size_t)(m + 4 * n));
    p->erc = malloc(sizeof(int32_t) * (size_t)(m + 4 * n));
    p->cs = malloc(sizeof(int32_t) * (size_t)n);
    p->ct = malloc(sizeof(int32_t) * (size_t)n);
    p->m = 0;
    if (grid_w > 0) {
        for (int i = 0; i < n; i++) {
            int x = i % grid_w;
            int nb[4] = {x + 1 < grid_w ? i + 1 : -1, i + grid_w,
                         x + 1 < grid_w ? i + grid_w + 1 : -1, x > 0 ? i + grid_w - 1 : -1};
            for (int k = 0; k < 4; k++) {
                if (nb[k] < 0 || nb[k] >= n) continue;
                p->eu[p->m] = i, p->ev[p->m] = nb[k];
                p->ec[p->m] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
                p->erc[p->m] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
                p->m++;
            }
        }
    } else {
        for (int k = 0; k < m; k++) {
            int u = (int)(rnd() % (uint32_t)n), v = (int)(rnd() % (uint32_t)n);
            if (u == v) continue;
            p->eu[p->m] = u, p->ev[p->m] = v;
            p->ec[p->m] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
            p->erc[p->m] = (rnd() & 1) ? (int32_t)(rnd() % (uint32_t)(maxcap + 1)) : 0;
            p->m++;
        }
    }
    for (int i = 0; i < n; i++) {
        uint32_t r = rnd() % 4;
        p->cs[i] = r == 0 || r == 3 ? (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1)) : 0;
        p->ct[i] = r == 1 || r == 3 ? (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1)) : 0;
    }
}

static void free_problem(problem *p) {
    free(p->eu);
    free(p->ev);
    free(p->ec);
    free(p->erc);
    free(p->cs);
    free(p->ct);
}

static int64_t reference_flow(const problem *p) {
    dinic d;
    dn_init(&d, p->n + 2, p->m + 2 * p->n);
    for (int k = 0; k < p->m; k++)
        dn_edge(&d, p->eu[k] + 2, p->ev[k] + 2, p->ec[k], p->erc[k]);
    for (int i = 0; i < p->n; i++) {
        if (p->cs[i]) dn_edge(&d, 0, i + 2, p->cs[i], 0);
        if (p->ct[i]) dn_edge(&d, i + 2, 1, p->ct[i], 0);
    }
    int64_t f = dn_maxflow(&d);
    dn_free(&d);
    return f;
}

/* Capacity of the cut (S = nodes with is_source) in the original graph. */
static int64_t cut_value(const problem *p, const sa__mf *g) {
    int64_t c = 0;
    for (int i = 0; i < p->n; i++) {
        if (sa__mf_is_source(g, i))
            c += p->ct[i];
        else
            c += p->cs[i];
    }
    for (int k = 0; k < p->m; k++) {
        int su = sa__mf_is_source(g, p->eu[k]), sv = sa__mf_is_source(g, p->ev[k]);
        if (su && !sv) c += p->ec[k];
        if (sv && !su) c += p->erc[k];
    }
    return c;
}

static void load(sa__mf *g, const problem *p) {
    for (int i = 0; i < p->n; i++)
        sa__mf_set_tweights(g, i, p->cs[i], p->ct[i]);
}

static void run_case(int n, int m, int maxcap, int grid_w, int *cases) {
    problem p;
    make_problem(&p, n, m, maxcap, grid_w);
    sa__mf *g = sa__mf_new(n, p.m);
    CHECK(g != NULL);
    if (!g) {
        free_problem(&p);
        return;
    }
    for (int k = 0; k < p.m; k++)
        CHECK(sa__mf_add_edge(g, p.eu[k], p.ev[k], p.ec[k], p.erc[k]) == k);
    load(g, &p);
    int64_t ref = reference_flow(&p);
    int64_t got = sa__mf_solve(g);
    int64_t cut = cut_value(&p, g);
    CHECKF(got == ref, "n=%d m=%d grid=%d: flow %lld, reference %lld", n, p.m, grid_w,
           (long long)got, (long long)ref);
    CHECKF(cut == ref, "n=%d m=%d grid=%d: cut %lld, reference flow %lld", n, p.m, grid_w,
           (long long)cut, (long long)ref);
    /* reuse: reset, change some capacities, solve again */
    sa__mf_reset(g);
    for (int k = 0; k < p.m; k += 3) {
        p.ec[k] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
        sa__mf_set_edge(g, k, p.ec[k], p.erc[k]);
    }
    for (int i = 0; i < n; i += 2)
        p.cs[i] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
    load(g, &p);
    ref = reference_flow(&p);
    got = sa__mf_solve(g);
    cut = cut_value(&p, g);
    CHECKF(got == ref && cut == ref, "reuse n=%d: flow %lld cut %lld reference %lld", n,
           (long long)got, (long long)cut, (long long)ref);
    /* warm start: solve, then change some edges and terminal weights without a reset, solve again */
    for (int round = 0; round < 3; round++) {
        for (int k = (int)(rnd() % 3); k < p.m; k += 1 + (int)(rnd() % 4)) {
            p.ec[k] = (rnd() % 5 == 0) ? (1 << 30) : (int32_t)(rnd() % (uint32_t)(maxcap + 1));
            p.erc[k] = (int32_t)(rnd() % (uint32_t)(maxcap + 1));
            sa__mf_set_edge(g, k, p.ec[k], p.erc[k]);
        }
        for (int i = (int)(rnd() % 2); i < n; i += 1 + (int)(rnd() % 3)) {
            p.cs[i] = (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1));
            p.ct[i] = (rnd() & 1) ? (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1)) : 0;
            sa__mf_set_tweights(g, i, p.cs[i], p.ct[i]);
        }
        sa__mf_solve(g);
        ref = reference_flow(&p);
        cut = cut_value(&p, g);
        CHECKF(cut == ref, "warm start round %d n=%d grid=%d: cut %lld reference %lld", round, n,
               grid_w, (long long)cut, (long long)ref);
    }
    sa__mf_free(g);
    free_problem(&p);
    (*cases)++;
}

/* Tiny graphs, exhaustive minimum cut, many warm-started rounds with few changes each (the case where the
 * search trees of the last solve are reused and must be repaired exactly). */
static void brute_force_warm(int *cases) {
    enum { NMAX = 6, MMAX = 12 };
    for (int t = 0; t < 20000; t++) {
        int n = 2 + (int)(rnd() % (NMAX - 1)), m = 1 + (int)(rnd() % MMAX);
        int eu[MMAX], ev[MMAX];
        int32_t c[MMAX], rc[MMAX], cs[NMAX], ct[NMAX];
        sa__mf *g = sa__mf_new(n, m);
        CHECK(g != NULL);
        if (!g) return;
        for (int k = 0; k < m; k++) {
            eu[k] = (int)(rnd() % (uint32_t)n);
            do
                ev[k] = (int)(rnd() % (uint32_t)n);
            while (ev[k] == eu[k]);
            c[k] = (int32_t)(rnd() % 5), rc[k] = (int32_t)(rnd() % 5);
            sa__mf_add_edge(g, eu[k], ev[k], c[k], rc[k]);
        }
        for (int i = 0; i < n; i++) {
            cs[i] = (int32_t)(rnd() % 6), ct[i] = (int32_t)(rnd() % 6);
            sa__mf_set_tweights(g, i, cs[i], ct[i]);
        }
        for (int round = 0; round < 5; round++) {
            if (round > 0) {
                for (int z = (int)(rnd() % 3); z > 0; z--) {
                    int k = (int)(rnd() % (uint32_t)m);
                    c[k] = (int32_t)(rnd() % 5), rc[k] = (int32_t)(rnd() % 5);
                    sa__mf_set_edge(g, k, c[k], rc[k]);
                }
                for (int z = (int)(rnd() % 3); z > 0; z--) {
                    int i = (int)(rnd() % (uint32_t)n);
                    cs[i] = (int32_t)(rnd() % 6), ct[i] = (int32_t)(rnd() % 6);
                    sa__mf_set_tweights(g, i, cs[i], ct[i]);
                }
            }
            sa__mf_solve(g);
            long best = -1, got = -1;
            for (int s = 0; s <= (1 << n); s++) {
                int set = s;
                if (s == (1 << n)) { /* the solver's cut */
                    set = 0;
                    for (int q = 0; q < n; q++)
                        set |= sa__mf_is_source(g, q) << q;
                }
                long v = 0;
                for (int q = 0; q < n; q++)
                    v += ((set >> q) & 1) ? ct[q] : cs[q];
                for (int e = 0; e < m; e++) {
                    int su = (set >> eu[e]) & 1, sv = (set >> ev[e]) & 1;
                    if (su && !sv) v += c[e];
                    if (sv && !su) v += rc[e];
                }
                if (s == (1 << n))
                    got = v;
                else if (best < 0 || v < best)
                    best = v;
            }
            CHECKF(got == best, "tiny graph %d round %d: cut %ld, minimum %ld", t, round, got,
                   best);
        }
        sa__mf_free(g);
        (*cases)++;
    }
}

/* ---- the grid solver (gridflow.h) against the general one on the same 8-connected grids ---- */
/* "Infinite" capacities as the graph cut uses them, small enough that the sum entering any node stays
 * below 2^31 (the solvers' contract) with all eight arcs and the terminal arc infinite. */
#define GRID_HARD (1 << 26)

static int32_t grid_cap(int maxcap) {
    return (rnd() % 6 == 0) ? GRID_HARD : (int32_t)(rnd() % (uint32_t)(maxcap + 1));
}

/* Both solvers report the source side reachable in the residual graph, which does not depend on the maximum
 * flow found: the partitions must be identical, on cold and on warm-started solves. */
static int same_partition(const sa__gf *gf, const sa__mf *mf, int n, uint8_t *mask) {
    sa__gf_source_mask(gf, mask);
    for (int p = 0; p < n; p++)
        if (mask[p] != sa__mf_is_source(mf, p) || mask[p] != sa__gf_is_source(gf, p)) return 0;
    return 1;
}

static void grid_case(int w, int h, int maxcap, int rounds, int *cases) {
    static const int gdx[4] = {1, 0, 1, -1}, gdy[4] = {0, 1, 1, 1};
    const int n = w * h;
    sa__gf *gf = sa__gf_new(w, h);
    sa__mf *mf = sa__mf_new(n, 4 * n);
    int *mid = malloc(sizeof(int) * 4 * (size_t)n);
    int32_t *cap =
        malloc(sizeof(int32_t) * 8 * (size_t)n); /* current capacities, for fresh solves */
    uint8_t *fresh = malloc((size_t)n);
    int32_t *diff = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *mask = malloc((size_t)n);
    CHECK(gf && mf && mid && diff && mask && cap && fresh);
    if (gf && mf && mid && diff && mask && cap && fresh) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 4; k++) {
                    int i = 4 * (y * w + x) + k, xx = x + gdx[k], yy = y + gdy[k];
                    int e = sa__gf_edge(gf, x, y, k), inside = xx >= 0 && xx < w && yy < h;
                    CHECKF(e == (inside ? i : -1), "edge (%d,%d,%d) of %dx%d: %d", x, y, k, w, h,
                           e);
                    mid[i] = -1;
                    if (!inside) continue;
                    int32_t c = grid_cap(maxcap), rc = grid_cap(maxcap);
                    sa__gf_set_edge(gf, i, c, rc);
                    mid[i] = sa__mf_add_edge(mf, y * w + x, yy * w + xx, c, rc);
                    cap[2 * i] = c, cap[2 * i + 1] = rc;
                }
        for (int p = 0; p < n; p++) {
            diff[p] = (int32_t)(rnd() % (uint32_t)(6 * maxcap + 1)) - 3 * maxcap;
            if (rnd() % 8 == 0) diff[p] = (rnd() & 1) ? GRID_HARD : -GRID_HARD;
            sa__mf_set_tweights(mf, p, diff[p] > 0 ? diff[p] : 0, diff[p] < 0 ? -diff[p] : 0);
        }
        sa__gf_set_tdiff(gf, diff);
        int64_t fg = sa__gf_solve(gf), fm = sa__mf_solve(mf);
        CHECKF(fg == fm, "grid %dx%d: flow %lld, general solver %lld", w, h, (long long)fg,
               (long long)fm);
        CHECKF(same_partition(gf, mf, n, mask), "grid %dx%d: partitions differ", w, h);
        for (int r = 0; r < rounds; r++) {
            for (int i = (int)(rnd() % 5); i < 4 * n; i += 1 + (int)(rnd() % 9)) {
                if (mid[i] < 0) continue;
                int32_t c = grid_cap(maxcap), rc = grid_cap(maxcap);
                sa__gf_set_edge(gf, i, c, rc);
                sa__mf_set_edge(mf, mid[i], c, rc);
                cap[2 * i] = c, cap[2 * i + 1] = rc;
            }
            if (r % 2) { /* a few pixels one by one, with both terminal capacities positive */
                for (int p = (int)(rnd() % 3); p < n; p += 1 + (int)(rnd() % 5)) {
                    int32_t cs = (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1)),
                            ct = (int32_t)(rnd() % (uint32_t)(3 * maxcap + 1));
                    sa__gf_set_tweights(gf, p, cs, ct);
                    sa__mf_set_tweights(mf, p, cs, ct);
                    diff[p] = cs - ct;
                }
            } else { /* everything at once, most pixels unchanged */
                for (int p = (int)(rnd() % 4); p < n; p += 1 + (int)(rnd() % 7))
                    diff[p] = (int32_t)(rnd() % (uint32_t)(6 * maxcap + 1)) - 3 * maxcap;
                sa__gf_set_tdiff(gf, diff);
                for (int p = 0; p < n; p++)
                    sa__mf_set_tweights(mf, p, diff[p] > 0 ? diff[p] : 0,
                                        diff[p] < 0 ? -diff[p] : 0);
            }
            sa__gf_solve(gf);
            sa__mf_solve(mf);
            CHECKF(same_partition(gf, mf, n, mask), "grid %dx%d warm round %d: partitions differ",
                   w, h, r);
            /* the warm-started cut equals a fresh solve of the changed graph */
            sa__gf *g2 = sa__gf_new(w, h);
            CHECK(g2 != NULL);
            if (g2) {
                for (int i = 0; i < 4 * n; i++)
                    if (mid[i] >= 0) sa__gf_set_edge(g2, i, cap[2 * i], cap[2 * i + 1]);
                sa__gf_set_tdiff(g2, diff);
                sa__gf_solve(g2);
                sa__gf_source_mask(g2, fresh);
                CHECKF(memcmp(fresh, mask, (size_t)n) == 0,
                       "grid %dx%d warm round %d: warm cut differs from a fresh solve", w, h, r);
                sa__gf_free(g2);
            }
        }
        /* reset: edges keep their capacities, flows and terminal weights go */
        sa__gf_reset(gf);
        sa__mf_reset(mf);
        for (int p = 0; p < n; p++) {
            diff[p] = (int32_t)(rnd() % (uint32_t)(6 * maxcap + 1)) - 3 * maxcap;
            sa__mf_set_tweights(mf, p, diff[p] > 0 ? diff[p] : 0, diff[p] < 0 ? -diff[p] : 0);
        }
        sa__gf_set_tdiff(gf, diff);
        fg = sa__gf_solve(gf), fm = sa__mf_solve(mf);
        CHECKF(fg == fm, "grid %dx%d after reset: flow %lld, general solver %lld", w, h,
               (long long)fg, (long long)fm);
        CHECKF(same_partition(gf, mf, n, mask), "grid %dx%d after reset: partitions differ", w, h);
        (*cases)++;
    }
    free(mid);
    free(cap);
    free(fresh);
    free(diff);
    free(mask);
    sa__gf_free(gf);
    sa__mf_free(mf);
}

static void grid_cases(int *cases) {
    for (int t = 0; t < 300; t++) {
        int w = 1 + (int)(rnd() % 24), h = 1 + (int)(rnd() % 24);
        grid_case(w, h, 1 + (int)(rnd() % 100), 6, cases);
    }
    grid_case(1, 1, 10, 3, cases);
    grid_case(160, 120, 100, 8, cases);
    /* a hand-made 2x1 grid: s->a 3, s->b 2, a->b 1, a->t 2, b->t 3: flow 5 */
    sa__gf *g = sa__gf_new(2, 1);
    CHECK(g != NULL);
    if (g) {
        CHECK(sa__gf_edge(g, 0, 0, 0) == 0 && sa__gf_edge(g, 0, 0, 1) == -1 &&
              sa__gf_edge(g, 1, 0, 0) == -1 && sa__gf_edge(g, 2, 0, 0) == -1);
        sa__gf_set_edge(g, 0, 1, 0);
        sa__gf_set_tweights(g, 0, 3, 2);
        sa__gf_set_tweights(g, 1, 2, 3);
        CHECK(sa__gf_solve(g) == 5);
        sa__gf_free(g);
    }
    CHECK(sa__gf_new(0, 5) == NULL && sa__gf_new(5, 0) == NULL &&
          sa__gf_new(1 << 15, 1 << 14) == NULL);
    sa__gf_free(NULL);
}

int main(void) {
    int cases = 0;
    for (int t = 0; t < 400; t++) {
        int n = 2 + (int)(rnd() % 40);
        run_case(n, (int)(rnd() % (uint32_t)(4 * n + 1)), 1 + (int)(rnd() % 20), 0, &cases);
    }
    for (int t = 0; t < 100; t++) {
        int n = 2 + (int)(rnd() % 12);
        run_case(n, n * n, 1 + (int)(rnd() % 1000), 0, &cases);
    }
    for (int t = 0; t < 60; t++) {
        int w = 2 + (int)(rnd() % 30), h = 2 + (int)(rnd() % 30);
        run_case(w * h, 0, 1 + (int)(rnd() % 100), w, &cases);
    }
    run_case(200 * 150, 0, 1000, 200, &cases);
    brute_force_warm(&cases);
    grid_cases(&cases);

    /* a hand-made case: s->a 3, s->b 2, a->b 1, a->t 2, b->t 3: flow 5 */
    sa__mf *g = sa__mf_new(2, 1);
    CHECK(g != NULL);
    if (g) {
        CHECK(sa__mf_add_edge(g, 0, 1, 1, 0) == 0);
        CHECK(sa__mf_add_edge(g, 0, 1, 1, 0) == -1); /* full */
        sa__mf_set_tweights(g, 0, 3, 2);
        sa__mf_set_tweights(g, 1, 2, 3);
        CHECK(sa__mf_solve(g) == 5);
        sa__mf_free(g);
    }
    CHECK(sa__mf_new(0, 1) == NULL);
    sa__mf_free(NULL);
    printf("%d random cases\n", cases);
    return tu_finish("test_maxflow");
}
