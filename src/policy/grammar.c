/* The SegAgent action grammar: parse and format clicks, the "Current IOU" prefix, and grounded boxes.
 *
 * Design: the parser follows docs/grammar.md (sign from the phrase; the numbers from the first parenthesis
 * after the last "point:"), tolerant of case and spacing, strict about ranges. Numbers are scanned by hand
 * (digits, one optional point, optional sign) so "nan", "inf" or hex never get through strtod. Integer-scale
 * values convert with floor((v*size + 500) / 1000): exact for integer v, so the Python test server and this
 * file agree on every pixel. The formatter searches for the value nearest pixel/size that parses back to the
 * pixel, using the parser itself as the judge, which makes the round trip hold by construction.
 */
#include "segagent/grammar.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sa_grammar sa_grammar_default(void) {
    sa_grammar g;
    g.axis = SA_AXIS_YX;
    g.coords = SA_COORDS_INT1000;
    g.iou_sep = "\n";
    return g;
}

int sa_axis_order_from_name(const char *name, sa_axis_order *out, sa_error *err) {
    if (name && (!strcmp(name, "yx") || !strcmp(name, "y,x"))) {
        *out = SA_AXIS_YX;
        return SA_OK;
    }
    if (name && (!strcmp(name, "xy") || !strcmp(name, "x,y"))) {
        *out = SA_AXIS_XY;
        return SA_OK;
    }
    return sa_error_set(err, SA_ERR_INVALID, "axis order '%s': expected yx or xy",
                        name ? name : "(null)");
}

int sa_coord_style_from_name(const char *name, sa_coord_style *out, sa_error *err) {
    if (name && (!strcmp(name, "int1000") || !strcmp(name, "int"))) {
        *out = SA_COORDS_INT1000;
        return SA_OK;
    }
    if (name && (!strcmp(name, "float1") || !strcmp(name, "float"))) {
        *out = SA_COORDS_FLOAT1;
        return SA_OK;
    }
    return sa_error_set(err, SA_ERR_INVALID, "coordinate style '%s': expected int1000 or float1",
                        name ? name : "(null)");
}

int sa_grammar_value_to_pixel(double value, sa_coord_style coords, int size) {
    if (size < 1) return 0;
    double p = coords == SA_COORDS_INT1000 ? floor((value * (double)size + 500.0) / 1000.0)
                                           : floor(value * (double)size + 0.5);
    if (!(p >= 0.0)) return 0; /* also catches NAN */
    if (p > (double)(size - 1)) return size - 1;
    return (int)p;
}

/* Value text -> double, through the same path the parser uses. */
static double reparse(const char *s) {
    return strtod(s, NULL);
}

double sa_grammar_pixel_to_value(int p, sa_coord_style coords, int size, int *decimals) {
    if (size < 1) size = 1;
    if (p < 0) p = 0;
    if (p > size - 1) p = size - 1;
    double ideal = (double)p / (double)size;
    if (coords == SA_COORDS_INT1000) {
        if (decimals) *decimals = 0;
        long v0 = lround(ideal * 1000.0);
        if (v0 > 999) v0 = 999;
        /* nearest value (to the ideal) that maps back to p; v0 itself when none does */
        for (long d = 0; d <= 1000; d++) {
            long cands[2] = {v0 - d, v0 + d};
            long best = -1;
            double best_dist = 0;
            for (int k = 0; k < 2; k++) {
                long v = cands[k];
                if (v < 0 || v > 999 || (k == 1 && d == 0)) continue;
                if (sa_grammar_value_to_pixel((double)v, coords, size) != p) continue;
                double dist = fabs((double)v - ideal * 1000.0);
                if (best < 0 || dist < best_dist) {
                    best = v;
                    best_dist = dist;
                }
            }
            if (best >= 0) return (double)best;
            if (d > 2 && (size > 1000)) break; /* more pixels than values: no exact inverse */
        }
        return (double)v0;
    }
    char buf[64];
    for (int dec = 3; dec <= 9; dec++) {
        snprintf(buf, sizeof buf, "%.*f", dec, ideal);
        if (sa_grammar_value_to_pixel(reparse(buf), coords, size) == p) {
            if (decimals) *decimals = dec;
            return reparse(buf);
        }
    }
    if (decimals) *decimals = 9;
    return ideal;
}

/* ---- scanning helpers ---- */

static const char *ci_find(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return p;
    }
    return NULL;
}

static const char *ci_find_last(const char *hay, const char *needle) {
    const char *last = NULL, *p = hay;
    while ((p = ci_find(p, needle)) != NULL) {
        last = p;
        p++;
    }
    return last;
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Scans [+-]digits[.digits][e[+-]digits] (or .digits...): the whole number as written, so "1e309" is not
 * read as 1. Returns the end, or NULL when no number starts at p. *out may be +-HUGE_VAL for a number past
 * the double range; callers check their range. */
static const char *scan_number(const char *p, double *out) {
    char buf[64];
    size_t n = 0;
    int too_long = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        char ch_ = (ch); /* evaluated once, always: the scan advances even past the buffer */      \
        if (n < sizeof buf - 1)                                                                    \
            buf[n++] = ch_;                                                                        \
        else                                                                                       \
            too_long = 1;                                                                          \
    } while (0)
    if (*p == '+' || *p == '-') PUT(*p++);
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        PUT(*p++);
        digits++;
    }
    if (*p == '.') {
        PUT(*p++);
        while (isdigit((unsigned char)*p)) {
            PUT(*p++);
            digits++;
        }
    }
    if (!digits) return NULL;
    const char *e = p;
    if (*e == 'e' || *e == 'E') { /* an exponent only when digits follow */
        e++;
        if (*e == '+' || *e == '-') e++;
        if (isdigit((unsigned char)*e)) {
            while (p < e)
                PUT(*p++);
            while (isdigit((unsigned char)*p))
                PUT(*p++);
        }
    }
#undef PUT
    if (too_long) return NULL; /* absurdly long number */
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return p;
}

/* Parses "(a, b)" or "[a, b]" starting at the first bracket at or after p. */
static int scan_pair(const char *p, double *a, double *b, const char **end) {
    while (*p && *p != '(' && *p != '[')
        p++;
    if (!*p) return -1;
    char close = *p == '(' ? ')' : ']';
    p = skip_ws(p + 1);
    p = scan_number(p, a);
    if (!p) return -1;
    p = skip_ws(p);
    if (*p != ',') return -1;
    p = skip_ws(p + 1);
    p = scan_number(p, b);
    if (!p) return -1;
    p = skip_ws(p);
    if (*p != close) return -1;
    if (end) *end = p + 1;
    return 0;
}

static void snippet(const char *text, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = text; *p && n + 4 < cap; p++)
        out[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    if (text[n] && n + 4 >= cap) {
        out[n++] = '.';
        out[n++] = '.';
        out[n++] = '.';
    }
    out[n] = 0;
}

int sa_pred_iou_parse(const char *text, float *pred_iou, sa_error *err) {
    if (pred_iou) *pred_iou = NAN;
    if (!text) return sa_error_set(err, SA_ERR_INVALID, "sa_pred_iou_parse: NULL text");
    const char *p = ci_find(text, "current iou");
    if (!p) return sa_error_set(err, SA_ERR_PARSE, "no \"Current IOU\" in the reply");
    p = skip_ws(p + strlen("current iou"));
    if (*p == ':' || *p == '=') p = skip_ws(p + 1);
    double v;
    const char *end = scan_number(p, &v);
    if (!end) return sa_error_set(err, SA_ERR_PARSE, "\"Current IOU\" without a number");
    if (!(v >= 0 && v <= 100)) /* reported, never clamped: 1e309 or 250 is not a confident 100 */
        return sa_error_set(err, SA_ERR_RANGE, "\"Current IOU\" %.*s is outside 0..100",
                            (int)(end - p < 40 ? end - p : 40), p);
    if (pred_iou) *pred_iou = (float)(v / 100.0);
    return SA_OK;
}

int sa_action_parse(const char *text, const sa_grammar *g, int width, int height, sa_action *out,
                    float *pred_iou, sa_error *err) {
    sa_grammar def = sa_grammar_default();
    if (!g) g = &def;
    if (pred_iou) *pred_iou = NAN;
    if (!text || !out || width < 1 || height < 1)
        return sa_error_set(err, SA_ERR_INVALID, "sa_action_parse: invalid argument");
    char snip[80];
    snippet(text, snip, sizeof snip);
    float piou;
    if (pred_iou && sa_pred_iou_parse(text, &piou, NULL) == SA_OK) *pred_iou = piou;

    /* the last "point" followed by ':' */
    const char *pt = NULL;
    for (const char *q = text; (q = ci_find(q, "point")) != NULL; q++) {
        const char *r = skip_ws(q + 5);
        if (*r == ':') pt = q;
    }
    if (!pt)
        return sa_error_set(err, SA_ERR_PARSE,
                            "no \"Positive/Negative point:\" in the reply \"%s\"", snip);
    int positive = -1;
    /* word right before "point" */
    const char *w = pt;
    while (w > text && (w[-1] == ' ' || w[-1] == '\t'))
        w--;
    if (w - text >= 8 && !strncasecmp(w - 8, "positive", 8))
        positive = 1;
    else if (w - text >= 8 && !strncasecmp(w - 8, "negative", 8))
        positive = 0;
    else {
        int has_pos = ci_find_last(text, "positive") != NULL,
            has_neg = ci_find_last(text, "negative") != NULL;
        if (has_pos != has_neg) positive = has_pos;
    }
    if (positive < 0)
        return sa_error_set(err, SA_ERR_PARSE, "reply names no sign (positive/negative): \"%s\"",
                            snip);
    double a, b;
    if (scan_pair(skip_ws(pt + 5) + 1, &a, &b, NULL))
        return sa_error_set(err, SA_ERR_PARSE,
                            "reply has no \"(a, b)\" coordinate pair after \"point:\": \"%s\"",
                            snip);
    double top = g->coords == SA_COORDS_INT1000 ? 1000.0 : 1.0;
    if (a < 0 || b < 0 || a > top || b > top)
        return sa_error_set(err, SA_ERR_RANGE,
                            "coordinates (%g, %g) outside [0, %g] in the reply \"%s\"", a, b, top,
                            snip);
    double yv = g->axis == SA_AXIS_YX ? a : b;
    double xv = g->axis == SA_AXIS_YX ? b : a;
    *out = sa_action_click(sa_grammar_value_to_pixel(yv, g->coords, height),
                           sa_grammar_value_to_pixel(xv, g->coords, width), positive);
    return SA_OK;
}

static int fmt_value(char *buf, size_t cap, int p, sa_coord_style coords, int size) {
    int dec = 0;
    double v = sa_grammar_pixel_to_value(p, coords, size, &dec);
    if (coords == SA_COORDS_INT1000) return snprintf(buf, cap, "%ld", lround(v));
    return snprintf(buf, cap, "%.*f", dec, v);
}

int sa_action_format(const sa_click *c, const sa_grammar *g, int width, int height, float pred_iou,
                     char *buf, size_t cap, sa_error *err) {
    sa_grammar def = sa_grammar_default();
    if (!g) g = &def;
    if (!c || !buf || cap == 0 || width < 1 || height < 1)
        return sa_error_set(err, SA_ERR_INVALID, "sa_action_format: invalid argument");
    buf[0] = 0;
    if (c->y < 0 || c->y >= height || c->x < 0 || c->x >= width)
        return sa_error_set(err, SA_ERR_RANGE,
                            "sa_action_format: click (%d, %d) outside the %dx%d image", c->y, c->x,
                            width, height);
    char ys[32], xs[32], pre[64] = "";
    fmt_value(ys, sizeof ys, c->y, g->coords, height);
    fmt_value(xs, sizeof xs, c->x, g->coords, width);
    if (!isnan(pred_iou)) {
        double v = pred_iou * 100.0;
        if (v < 0) v = 0;
        if (v > 100) v = 100;
        snprintf(pre, sizeof pre, "Current IOU: %ld%s", lround(v), g->iou_sep ? g->iou_sep : "\n");
    }
    int n = snprintf(buf, cap, "%s%s point: (%s, %s)", pre, c->positive ? "Positive" : "Negative",
                     g->axis == SA_AXIS_YX ? ys : xs, g->axis == SA_AXIS_YX ? xs : ys);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0;
        return sa_error_set(err, SA_ERR_RANGE, "sa_action_format: buffer of %zu bytes too small",
                            cap);
    }
    return SA_OK;
}

int sa_box_parse(const char *text, int width, int height, sa_box *out, sa_error *err) {
    if (!text || !out || width < 1 || height < 1)
        return sa_error_set(err, SA_ERR_INVALID, "sa_box_parse: invalid argument");
    char snip[80];
    snippet(text, snip, sizeof snip);
    const char *p = ci_find(text, "<box>");
    p = p ? p + 5 : text;
    double x1, y1, x2, y2;
    const char *e;
    if (scan_pair(p, &x1, &y1, &e))
        return sa_error_set(err, SA_ERR_PARSE, "no box \"(x1,y1),(x2,y2)\" in \"%s\"", snip);
    e = skip_ws(e);
    if (*e == ',') e++;
    e = skip_ws(e);
    if ((*e != '(' && *e != '[') || scan_pair(e, &x2, &y2, NULL))
        return sa_error_set(err, SA_ERR_PARSE, "box needs two corners \"(x1,y1),(x2,y2)\": \"%s\"",
                            snip);
    double v[4] = {x1, y1, x2, y2};
    for (int i = 0; i < 4; i++)
        if (v[i] < 0 || v[i] > 1000)
            return sa_error_set(err, SA_ERR_RANGE, "box coordinate %g outside [0, 1000] in \"%s\"",
                                v[i], snip);
    int ax = sa_grammar_value_to_pixel(x1, SA_COORDS_INT1000, width);
    int bx = sa_grammar_value_to_pixel(x2, SA_COORDS_INT1000, width);
    int ay = sa_grammar_value_to_pixel(y1, SA_COORDS_INT1000, height);
    int by = sa_grammar_value_to_pixel(y2, SA_COORDS_INT1000, height);
    out->x0 = (float)(ax < bx ? ax : bx);
    out->x1 = (float)(ax < bx ? bx : ax);
    out->y0 = (float)(ay < by ? ay : by);
    out->y1 = (float)(ay < by ? by : ay);
    return SA_OK;
}
