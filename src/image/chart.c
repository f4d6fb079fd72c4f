/* mIoU-vs-clicks chart as SVG text. SVG needs no library, opens in any browser, and stays sharp at any zoom;
 * the document is built in a growing buffer so the same code serves files and tests, and a file is written
 * all or nothing (through a temporary name). The y axis is zoomed to the data (in steps of 0.1, at most
 * [0, 1]) because the interesting part of these curves is usually above 0.7; the 0.85 / 0.90 dashed lines are
 * the NoC thresholds, so a reader sees where each curve crosses them.
 */
#include "segagent/chart.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + (size_t)k + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

/* Text with the XML special characters escaped. */
static void sb_text(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            sb_printf(b, "&lt;");
            break;
        case '>':
            sb_printf(b, "&gt;");
            break;
        case '&':
            sb_printf(b, "&amp;");
            break;
        case '"':
            sb_printf(b, "&quot;");
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t') sb_printf(b, "%c", *s);
        }
    }
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define N_PALETTE ((int)(sizeof palette / sizeof palette[0]))

char *sa_chart_svg_render(const char *title, const char *subtitle, const sa_chart_series *s,
                          int n_series, sa_error *err) {
    if (n_series < 0 || (n_series > 0 && !s)) {
        sa_error_set(err, SA_ERR_INVALID, "chart: bad series");
        return NULL;
    }
    int max_n = 1;
    double ymin = 1.0;
    for (int i = 0; i < n_series; i++) {
        if (s[i].n > max_n) max_n = s[i].n;
        for (int k = 0; k < s[i].n; k++)
            if (!isnan(s[i].y[k]) && s[i].y[k] < ymin) ymin = s[i].y[k];
    }
    if (ymin < 0) ymin = 0;
    double y0 = floor(ymin * 10.0 - 1e-9) / 10.0; /* one step of headroom below the lowest point */
    if (y0 > 0.8) y0 = 0.8;
    if (y0 < 0) y0 = 0;
    const double y1 = 1.0;
    const int W = 840, H = 460, L = 70, R = 300, T = 62, B = 58;
    const int pw = W - L - R, ph = H - T - B;
#define PX(x) (L + (max_n > 1 ? ((double)(x)-1.0) / (double)(max_n - 1) : 0.5) * pw)
#define PY(v) (T + (1.0 - ((v)-y0) / (y1 - y0)) * ph)
    sbuf b = {0};
    sb_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 "
              "%d %d\" "
              "font-family=\"Helvetica, Arial, sans-serif\">\n"
              "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
              W, H, W, H);
    sb_printf(&b, "<text x=\"%d\" y=\"26\" font-size=\"18\" font-weight=\"bold\">", L);
    sb_text(&b, title ? title : "mIoU vs number of clicks");
    sb_printf(&b, "</text>\n");
    if (subtitle) {
        sb_printf(&b, "<text x=\"%d\" y=\"46\" font-size=\"12\" fill=\"#555\">", L);
        sb_text(&b, subtitle);
        sb_printf(&b, "</text>\n");
    }
    /* grid and y ticks */
    double ystep = (y1 - y0) > 0.45 ? 0.1 : 0.05;
    for (int t = 0;; t++) {
        double v = y0 + ystep * t;
        if (v > y1 + 1e-9) break;
        double py = PY(v);
        sb_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", L,
                  py, L + pw, py);
        sb_printf(&b,
                  "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.2f</text>\n",
                  L - 8, py + 4, v);
    }
    /* x ticks: every click up to 20, then a readable step */
    int xstep = max_n <= 20 ? 1 : max_n <= 50 ? 5 : 10;
    for (int x = 1; x <= max_n; x++) {
        if (x != 1 && x % xstep != 0 && x != max_n) continue;
        double px = PX(x);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f0f0f0\"/>\n",
                  px, T, px, T + ph);
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", px,
                  T + ph, px, T + ph + 5);
        sb_printf(&b,
                  "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%d</text>\n",
                  px, T + ph + 19, x);
    }
    /* NoC thresholds */
    static const double refs[] = {0.85, 0.90};
    for (int r = 0; r < 2; r++) {
        if (refs[r] < y0) continue;
        double py = PY(refs[r]);
        sb_printf(&b,
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" "
                  "stroke-dasharray=\"5,4\"/>\n"
                  "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"#777\">IoU 0.%d</text>\n",
                  L, py, L + pw, py, L + pw + 4, py + 4, (int)lround(refs[r] * 100));
    }
    /* axes */
    sb_printf(&b,
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n"
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
              L, T, L, T + ph, L, T + ph, L + pw, T + ph);
    sb_printf(
        &b,
        "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">number of clicks</text>\n",
        L + pw / 2, H - 16);
    sb_printf(&b,
              "<text x=\"18\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" "
              "transform=\"rotate(-90 18 %d)\">"
              "mean IoU after k clicks (mIoU@k)</text>\n",
              T + ph / 2, T + ph / 2);
    /* series */
    for (int i = 0; i < n_series; i++) {
        const char *col = s[i].bold ? "#111111" : palette[i % N_PALETTE];
        sb_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", col,
                  s[i].bold ? "3.5" : "2.2");
        for (int k = 0; k < s[i].n; k++)
            if (!isnan(s[i].y[k]))
                sb_printf(&b, "%.1f,%.1f ", PX(k + 1), PY(s[i].y[k] < y0 ? y0 : s[i].y[k]));
        sb_printf(&b, "\"/>\n");
        for (int k = 0; k < s[i].n; k++) {
            if (isnan(s[i].y[k])) continue;
            sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", PX(k + 1),
                      PY(s[i].y[k] < y0 ? y0 : s[i].y[k]), col);
            sb_text(&b, s[i].name);
            sb_printf(&b, ": mIoU@%d = %.4f</title></circle>\n", k + 1, s[i].y[k]);
        }
        /* legend */
        int ly = T + 10 + i * 40;
        sb_printf(
            &b,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n",
            L + pw + 50, ly, L + pw + 72, ly, col);
        sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"13\">", L + pw + 78, ly + 4);
        sb_text(&b, s[i].name);
        sb_printf(&b, "</text>\n");
        if (s[i].note) {
            sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#555\">", L + pw + 78,
                      ly + 19);
            sb_text(&b, s[i].note);
            sb_printf(&b, "</text>\n");
        }
    }
    sb_printf(&b, "</svg>\n");
#undef PX
#undef PY
    if (b.oom) {
        free(b.p);
        sa_error_set(err, SA_ERR_NOMEM, "chart: out of memory");
        return NULL;
    }
    return b.p;
}

int sa_chart_svg_write(const char *path, const char *title, const char *subtitle,
                       const sa_chart_series *s, int n_series, sa_error *err) {
    char *doc = sa_chart_svg_render(title, subtitle, s, n_series, err);
    if (!doc) return err ? err->code : SA_ERR_NOMEM;
    int rc = sa_file_write(path, doc, strlen(doc), err);
    free(doc);
    return rc;
}
